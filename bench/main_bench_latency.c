/* bench_latency — push-to-talk latency as the user feels it: key release -> final text, for
 * dictations of various lengths, with chunked decoding (--chunk-seconds S) and without (0).
 * Each WAV is played into bin/key_listener in real time (--audio file, --trigger none: the
 * control socket is the key), the key is released (control "stop") just after its end, and
 * the time from that release to the listener's "final" event (events on the control socket,
 * docs/key_listener.md) is measured. The real session_daemon decodes with --model.
 *   bench_latency --model DIR [--chunks "0 6"] [--runs N] [--threads N] FILE.wav...
 * Prints one line per file and chunk setting: the median of --runs (1) runs, the listener's
 * own release_ms, and how many chunks went off while the key was held. A warm-up dictation
 * (the first file, not counted) loads the model first. Binaries: $BIN (default bin). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session/ss_clock.h"

static char root[64], sock[100], bindir[PATH_MAX], model[PATH_MAX], threads[16] = "2";

static pid_t spawn(char *const *argv, const char *out)
{
    pid_t p = fork();
    if (p == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        execv(argv[0], argv);
        _exit(127);
    }
    return p;
}

static int connect_ctl(void)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(sock) >= sizeof a.sun_path) return -1;
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

/* Sends one control command; 0 when the listener answered "ok...". */
static int ctl(const char *cmd)
{
    int fd = connect_ctl();
    if (fd < 0) return -1;
    char buf[256];
    int l = snprintf(buf, sizeof buf, "%s\n", cmd);
    ssize_t k = write(fd, buf, (size_t)l) == l ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    return k >= 2 && !strncmp(buf, "ok", 2) ? 0 : -1;
}

/* Reads event lines until "final" (or timeout s); its time, or < 0. */
static double wait_final(int efd, double timeout, long *release_ms, int *partials)
{
    static char buf[1 << 16];
    size_t have = 0;
    double end = ss_mono_now() + timeout;
    while (ss_mono_now() < end) {
        struct pollfd p = { efd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t k = read(efd, buf + have, sizeof buf - 1 - have);
        if (k <= 0) return -1;
        have += (size_t)k;
        buf[have] = 0;
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            if (strstr(buf, "\"event\":\"partial\"")) (*partials)++;
            char *f = strstr(buf, "\"event\":\"final\"");
            if (f) {
                char *r = strstr(buf, "\"release_ms\":");
                *release_ms = r ? strtol(r + 13, NULL, 10) : -1;
                return ss_mono_now();
            }
            size_t rest = have - (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, rest + 1);
            have = rest;
        }
    }
    return -1;
}

static double wav_seconds(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)(st.st_size - 44) / 32000.0 : -1;
}

/* One dictation of file with chunk setting cs; release -> final in ms, or < 0. */
static double one_run(const char *file, const char *cs, long *own_ms, int *chunks)
{
    char kl[PATH_MAX + 16], log[300];
    snprintf(kl, sizeof kl, "%s/key_listener", bindir);
    snprintf(log, sizeof log, "%s/kl.log", root);
    char *argv[] = { kl, "--no-config", "--trigger", "none", "--audio", "file", "--source", (char *)file,
                     "--preroll", "0", "--no-start", "--timeout", "300", "--output", "print",
                     "--history", "0", "--chunk-seconds", (char *)cs, "--socket", sock, "--log", log, NULL };
    char out[300];
    snprintf(out, sizeof out, "%s/kl.out", root);
    pid_t p = spawn(argv, out);
    int efd = -1;
    double t = -1;
    for (int i = 0; i < 200 && (efd = connect_ctl()) < 0; i++) usleep(50000);
    if (efd < 0 || write(efd, "events\n", 7) != 7) goto done;
    usleep(200000);
    if (ctl("start") != 0) goto done;
    usleep((useconds_t)((wav_seconds(file) + 0.1) * 1e6));   /* the file ends: the key goes up */
    double t0 = ss_mono_now();
    if (ctl("stop") != 0) goto done;
    *chunks = 0;
    double t1 = wait_final(efd, 300, own_ms, chunks);
    if (t1 > 0) t = (t1 - t0) * 1000;
done:
    if (efd >= 0) close(efd);
    ctl("quit");
    int st;
    for (int i = 0; i < 100 && waitpid(p, &st, WNOHANG) == 0; i++) usleep(50000);
    kill(p, SIGKILL);
    waitpid(p, &st, 0);
    return t;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *chunks = "0 6", *bin = getenv("BIN");
    int runs = 1, i;
    for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "--model")) snprintf(model, sizeof model, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--chunks")) chunks = argv[i + 1];
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) snprintf(threads, sizeof threads, "%s", argv[i + 1]);
        else break;
    }
    if (!model[0] || i >= argc || runs < 1 || runs > 20) {
        fprintf(stderr, "usage: bench_latency --model DIR [--chunks \"0 6\"] [--runs N] [--threads N] FILE.wav...\n");
        return 100;
    }
    if (!realpath(bin ? bin : "bin", bindir)) { perror("BIN"); return 111; }
    snprintf(root, sizeof root, "/tmp/bench_latency.XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 111; }
    setenv("SPEECH_SESSION_ROOT", root, 1);
    snprintf(sock, sizeof sock, "%s/kl.sock", root);
    char daemon[PATH_MAX + 32], dlog[300];
    snprintf(daemon, sizeof daemon, "%s/session_daemon", bindir);
    snprintf(dlog, sizeof dlog, "%s/daemon.out", root);
    char *dargv[] = { daemon, "--model", model, "--threads", threads, NULL };
    pid_t dp = spawn(dargv, dlog);
    long own;
    int nch;
    one_run(argv[i], "0", &own, &nch);    /* warm-up: the model loads */
    printf("%-40s %7s %6s %10s %10s %7s\n", "file", "seconds", "chunk", "release_ms", "own_ms", "chunks");
    for (int f = i; f < argc; f++) {
        char list[128];
        snprintf(list, sizeof list, "%s", chunks);
        for (char *sv, *cs = strtok_r(list, " ", &sv); cs; cs = strtok_r(NULL, " ", &sv)) {
            double v[20], o[20];
            for (int r = 0; r < runs; r++) {
                v[r] = one_run(argv[f], cs, &own, &nch);
                o[r] = (double)own;
            }
            qsort(v, (size_t)runs, sizeof *v, cmp_d);
            qsort(o, (size_t)runs, sizeof *o, cmp_d);   /* medians of each; chunks: the last run's */
            printf("%-40s %7.1f %6s %10.0f %10.0f %7d\n", argv[f], wav_seconds(argv[f]), cs, v[runs / 2], o[runs / 2], nch);
            fflush(stdout);
        }
    }
    kill(dp, SIGTERM);
    waitpid(dp, NULL, 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "bench_latency: could not remove %s\n", root);
    return 0;
}
