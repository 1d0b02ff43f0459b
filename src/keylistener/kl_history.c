/* kl_history.c — see kl_history.h. */
#include "keylistener/kl_history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void kl_history_default_path(char *buf, size_t n)
{
    const char *x = getenv("XDG_STATE_HOME"), *h = getenv("HOME");
    if (x && *x == '/') snprintf(buf, n, "%s/speech-session/key_listener.history", x);
    else if (h && *h) snprintf(buf, n, "%s/.local/state/speech-session/key_listener.history", h);
    else if (n) buf[0] = 0;
}

/* mkdir -p for path's directory; the last level 0700. */
static int make_dir(const char *path)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return 0;
    *slash = 0;
    for (char *p = d + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(d, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(d, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* The file's lines (malloc'd array of malloc'd strings, without the newline). */
static char **read_lines(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t k;
    while ((k = getline(&line, &cap, f)) > 0) {
        if (line[k - 1] == '\n') line[--k] = 0;
        if (!k) continue;
        char **nv = realloc(v, (*n + 1) * sizeof *nv);
        if (!nv) break;
        v = nv;
        if (!(v[*n] = strdup(line))) break;
        (*n)++;
    }
    free(line);
    fclose(f);
    return v;
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static char *escape(const char *t)
{
    char *o = malloc(strlen(t) * 2 + 1), *p = o;
    if (!o) return NULL;
    for (; *t; t++) {
        if (*t == '\\') { *p++ = '\\'; *p++ = '\\'; }
        else if (*t == '\n') { *p++ = '\\'; *p++ = 'n'; }
        else *p++ = *t;
    }
    *p = 0;
    return o;
}

int kl_history_add(const char *path, int cap, const char *text, char *err, size_t n)
{
    size_t nl = 0;
    char **lines = NULL, *esc = NULL, tmp[4200];
    int fd = -1, r = -1;
    FILE *f = NULL;
    if (cap <= 0 || !path[0]) return 0;
    if (make_dir(path) != 0) { snprintf(err, n, "cannot create the directory of %s: %s", path, strerror(errno)); return -1; }
    lines = read_lines(path, &nl);
    if (!(esc = escape(text))) { snprintf(err, n, "out of memory"); goto cleanup; }
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) { snprintf(err, n, "cannot write %s: %s", tmp, strerror(errno)); goto cleanup; }
    fd = -1;
    size_t keep = (size_t)cap - 1, from = nl > keep ? nl - keep : 0;
    for (size_t i = from; i < nl; i++) fprintf(f, "%s\n", lines[i]);
    fprintf(f, "%lld\t%s\n", (long long)time(NULL), esc);
    if (fclose(f) != 0) { f = NULL; snprintf(err, n, "cannot write %s: %s", tmp, strerror(errno)); unlink(tmp); goto cleanup; }
    f = NULL;
    if (rename(tmp, path) != 0) { snprintf(err, n, "cannot rename to %s: %s", path, strerror(errno)); unlink(tmp); goto cleanup; }
    r = 0;
cleanup:
    if (f) { fclose(f); unlink(tmp); }
    if (fd >= 0) { close(fd); unlink(tmp); }
    free(esc);
    free_lines(lines, nl);
    return r;
}

char *kl_history_get(const char *path, int back)
{
    size_t nl = 0;
    char **lines = read_lines(path, &nl), *out = NULL;
    if (back < 0 || (size_t)back >= nl) goto cleanup;
    const char *t = strchr(lines[nl - 1 - (size_t)back], '\t');
    t = t ? t + 1 : lines[nl - 1 - (size_t)back];
    if (!(out = malloc(strlen(t) + 1))) goto cleanup;
    char *p = out;
    for (; *t; t++) {
        if (t[0] == '\\' && t[1] == 'n') { *p++ = '\n'; t++; }
        else if (t[0] == '\\' && t[1] == '\\') { *p++ = '\\'; t++; }
        else *p++ = *t;
    }
    *p = 0;
cleanup:
    free_lines(lines, nl);
    return out;
}
