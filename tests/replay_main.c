/* Replays a fuzz corpus through a libFuzzer target without libFuzzer, so the regression
 * corpus runs in `make test` under ASan/UBSan with any compiler.
 * usage: replay_<name> DIR|FILE...   prints "ok - replay <file>" per input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { printf("not ok - replay %s (cannot open)\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        printf("not ok - replay %s (read)\n", path);
        fclose(f); free(buf); return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);   /* a crash aborts the whole run: that is the failure */
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int fails = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) { fails += replay_file(argv[i]); count++; continue; }
        DIR *d = opendir(argv[i]);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            fails += replay_file(p);
            count++;
        }
        closedir(d);
    }
    if (fails == 0) printf("ok - replayed %d inputs of %s\n", count, argc > 1 ? argv[1] : "(none)");
    return fails ? 1 : 0;
}
