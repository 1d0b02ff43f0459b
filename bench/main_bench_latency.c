/* bench_latency — push-to-talk latency as the user feels it: key release -> final text, for
 * dictations of various lengths, with chunked decoding (--chunk-seconds S) and without (0).
 * Each WAV is played into bin/key_listener in real time (--audio file, --trigger none: the
 * control socket is the key), the key is released (control "stop") just after its end, and
 * the time from that release to the listener's "final" event (events on the control socket,
 * docs/key_listener.md) is measured. The real session_daemon decodes with --model.
 *   bench_latency --model PATH [--chunks "0 6"] [--runs N] [--threads N] [--audio-ctx auto|N]
 *                 FILE.wav...
 * Prints one line per file and chunk setting: the median of --runs (1) runs, the listener's
 * own release_ms, and how many chunks went off while the key was held. A warm-up dictation
 * (the first file, not counted) loads the model first. Binaries: $BIN (default bin).
 * Exit codes: 0; 100 usage (said: an unknown option, --runs not a whole number 1..20,
 * --threads not a whole number 1..1024, an --audio-ctx the daemon would refuse, a --chunks
 * value key_listener would refuse, a FILE that cannot be read); 111 no temp directory, or
 * the daemon did not come up (or died) or the warm-up dictation failed (said, with the end of
 * its log). The temp root (/tmp/bench_latency.*) is removed and the daemon and listener are
 * stopped on every exit, SIGINT, SIGTERM and SIGHUP included. */
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

#include "bench_tmp.h"
#include "session/ss_clock.h"
#include "session/ss_fs.h"
#include "session/ss_opt.h"

static char root[64], sock[100], bindir[PATH_MAX], model[PATH_MAX], threads[16] = "2";
static const char *audio_ctx;   /* the daemon's --audio-ctx, or NULL: its default (the full window) */
/* what cleanup() undoes; the signal handler reads them (only the process that set them up:
 * a child between fork and exec runs the handler too) */
static volatile sig_atomic_t have_root;
static volatile pid_t daemon_pid = -1, listener_pid = -1, owner_pid;

static pid_t spawn(char *const *argv, const char *out)
{
    pid_t p = fork();
    if (p == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
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

/* Stops child p (SIGTERM, then SIGKILL after about grace_ms) and reaps it; async-signal-safe. */
static void stop_child(pid_t p, int grace_ms)
{
    if (p <= 0) return;
    kill(p, SIGTERM);
    const struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < grace_ms / 10; i++) {
        if (waitpid(p, NULL, WNOHANG) != 0) return;   /* reaped, or not ours any more */
        nanosleep(&tick, NULL);
    }
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
}

/* The listener and the daemon stopped, the temp root removed: at exit and from the signal
 * handler (a killed run had left an orphaned key_listener and /tmp/bench_latency.*). The
 * daemon gets its 10 s to stop its decoder child. */
static void cleanup(void)
{
    if (getpid() != owner_pid) return;
    pid_t l = listener_pid, d = daemon_pid;
    listener_pid = daemon_pid = -1;
    stop_child(l, 2000);
    stop_child(d, 10000);
    if (have_root) {
        have_root = 0;
        bench_rm_rf(root);
    }
}

static void on_signal(int sig)
{
    if (getpid() == owner_pid) cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* 1 while the daemon runs; once it has exited, 0 and *status its wait status */
static int daemon_running(int *status)
{
    if (daemon_pid <= 0) return 0;
    int st = 0;
    if (waitpid(daemon_pid, &st, WNOHANG) == 0) return 1;
    daemon_pid = -1;
    if (status) *status = st;
    return 0;
}

/* The last lines of root/name on stderr, so a failure is said before the root goes. */
static void tail_log(const char *name)
{
    char path[128], buf[2048];
    snprintf(path, sizeof path, "%s/%s", root, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t k = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (k <= 0) return;
    buf[k] = 0;
    char *b = buf;
    if (from > 0 && (b = strchr(buf, '\n'))) b++;   /* from a whole line */
    if (!b) return;
    fprintf(stderr, "bench_latency: the end of %s:\n%s", name, b);
    if (b[0] && buf[k - 1] != '\n') fputc('\n', stderr);
}

/* Waits until the daemon is ready (its pid file: written once the model is loaded and the
 * spool scanned; the root is new, so none is stale), exits or
 * limit s pass. 0 when ready; otherwise said on stderr. Without it, a daemon that refused its
 * arguments or model left key_listener waiting its whole --timeout (300 s). */
static int wait_daemon_ready(double limit)
{
    char pidf[128];
    snprintf(pidf, sizeof pidf, "%s/%s", root, SS_PID_FILE);
    const double end = ss_mono_now() + limit;
    int st = 0;
    while (ss_mono_now() < end) {
        if (!daemon_running(&st)) {
            if (WIFEXITED(st))
                fprintf(stderr, "bench_latency: session_daemon exited with status %d before it was ready\n",
                        WEXITSTATUS(st));
            else
                fprintf(stderr, "bench_latency: session_daemon died (signal %d) before it was ready\n",
                        WIFSIGNALED(st) ? WTERMSIG(st) : 0);
            tail_log("daemon.out");
            tail_log(SS_LOG_FILE);
            return -1;
        }
        if (access(pidf, F_OK) == 0) return 0;
        usleep(20000);
    }
    fprintf(stderr, "bench_latency: session_daemon was not ready within %g s\n", limit);
    tail_log(SS_LOG_FILE);
    return -1;
}

/* Reads event lines until "final" (or timeout s); its time, or < 0. */
static double wait_final(int efd, double timeout, long *release_ms, int *partials)
{
    static char buf[1 << 16];
    size_t have = 0;
    double end = ss_mono_now() + timeout;
    while (ss_mono_now() < end) {
        if (!daemon_running(NULL)) {
            fprintf(stderr, "bench_latency: session_daemon exited during a dictation\n");
            return -1;
        }
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
    listener_pid = p;
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
    listener_pid = -1;   /* after the wait: a signal before it still stops the listener */
    return t;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fputs("usage: bench_latency --model PATH [--chunks \"0 6\"] [--runs N] [--threads N] [--audio-ctx auto|N]\n"
          "                     FILE.wav...\n"
          "Push-to-talk latency, key release -> final text, through bin/key_listener and a\n"
          "session_daemon on --model (binaries from $BIN, default bin). Each FILE.wav (16 kHz\n"
          "mono) is played in real time; the first one is also a warm-up that is not counted.\n"
          "  --chunks \"S ...\"  key_listener --chunk-seconds settings to compare (default \"0 6\";\n"
          "                   each 0 = off, or 1..120 s)\n"
          "  --runs N         runs per file and setting, median printed (1..20, default 1)\n"
          "  --threads N      the daemon's compute threads (1..1024, default 2)\n"
          "  --audio-ctx V    the daemon's encoder window: auto (the dictation's length + a\n"
          "                   margin) or 1..1500 positions (default: the full 30 s window)\n"
          "Exit codes: 0, 100 usage, 111 no temp directory, the daemon did not come up or the\n"
          "warm-up dictation failed.\n", f);
}

/* a whole number from lo to hi, else -1 (said) */
static int int_arg(const char *opt, const char *s, int lo, int hi, int *out)
{
    double v;
    if (ss_opt_num(s, lo, hi, &v) != 0 || v != (double)(int)v) {
        fprintf(stderr, "bench_latency: %s %s: not a whole number from %d to %d\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* --chunks: each value as key_listener's --chunk-seconds takes it (0, or 1..120), at most 8,
 * so a typo is said here and not by each listener run */
static int chunks_arg(const char *s)
{
    char list[128], *sv;
    int n = 0;
    if (strlen(s) >= sizeof list) goto bad;
    snprintf(list, sizeof list, "%s", s);
    for (char *cs = strtok_r(list, " ", &sv); cs; cs = strtok_r(NULL, " ", &sv)) {
        double v;
        if (++n > 8 || ss_opt_num(cs, 0, 120, &v) != 0 || (v > 0 && v < 1)) goto bad;
    }
    if (n > 0) return 0;
bad:
    fprintf(stderr, "bench_latency: --chunks \"%s\": up to 8 values separated by spaces, each 0 or 1..120\n", s);
    return -1;
}

int main(int argc, char **argv)
{
    const char *chunks = "0 6", *bin = getenv("BIN");
    int runs = 1, nthreads = 2, i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--model") && v) snprintf(model, sizeof model, "%s", v);
        else if (!strcmp(argv[i], "--chunks") && v) { chunks = v; bad = chunks_arg(v); }
        else if (!strcmp(argv[i], "--runs") && v) bad = int_arg(argv[i], v, 1, 20, &runs);
        else if (!strcmp(argv[i], "--threads") && v) bad = int_arg(argv[i], v, 1, 1024, &nthreads);
        else if (!strcmp(argv[i], "--audio-ctx") && v) {
            int actx;
            audio_ctx = v;
            if ((bad = ss_opt_audio_ctx(v, &actx)) != 0)
                fprintf(stderr, "bench_latency: --audio-ctx %s: not auto or a whole number from 1 to 1500\n", v);
        }
        else {   /* an unknown option had been taken for the first file */
            fprintf(stderr, "bench_latency: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 100;
        }
        if (bad) return 100;
        i++;
    }
    if (!model[0] || i >= argc) {
        fprintf(stderr, "bench_latency: %s\n", !model[0] ? "--model is required" : "no FILE.wav given");
        usage(stderr);
        return 100;
    }
    for (int f = i; f < argc; f++)
        if (access(argv[f], R_OK) != 0) {
            fprintf(stderr, "bench_latency: %s: %s\n", argv[f], strerror(errno));
            return 100;
        }
    snprintf(threads, sizeof threads, "%d", nthreads);
    if (!realpath(bin ? bin : "bin", bindir)) { perror("BIN"); return 111; }
    snprintf(root, sizeof root, "/tmp/bench_latency.XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 111; }
    owner_pid = getpid();
    have_root = 1;
    bench_root_guard(root, cleanup, on_signal);
    snprintf(sock, sizeof sock, "%s/kl.sock", root);
    char daemon[PATH_MAX + 32], dlog[300];
    snprintf(daemon, sizeof daemon, "%s/session_daemon", bindir);
    snprintf(dlog, sizeof dlog, "%s/daemon.out", root);
    char *dargv[] = { daemon, "--model", model, "--threads", threads, NULL, NULL, NULL };
    if (audio_ctx) dargv[5] = "--audio-ctx", dargv[6] = (char *)audio_ctx;
    daemon_pid = spawn(dargv, dlog);
    if (daemon_pid < 0) { perror("fork"); return 111; }
    if (wait_daemon_ready(120) != 0) return 111;
    long own;
    int nch;
    if (one_run(argv[i], "0", &own, &nch) < 0) {   /* warm-up: the model loads */
        fprintf(stderr, "bench_latency: the warm-up dictation of %s got no final text\n", argv[i]);
        tail_log("kl.log");
        return 111;
    }
    printf("%-40s %7s %6s %10s %10s %7s\n", "file", "seconds", "chunk", "release_ms", "own_ms", "chunks");
    for (int f = i; f < argc; f++) {
        char list[128];
        snprintf(list, sizeof list, "%s", chunks);
        for (char *sv, *cs = strtok_r(list, " ", &sv); cs; cs = strtok_r(NULL, " ", &sv)) {
            double v[20], o[20];
            for (int r = 0; r < runs; r++) {
                v[r] = one_run(argv[f], cs, &own, &nch);
                o[r] = (double)own;
                if (v[r] < 0 && !daemon_running(NULL)) {   /* every later run would fail too */
                    fprintf(stderr, "bench_latency: session_daemon is gone\n");
                    tail_log(SS_LOG_FILE);
                    return 111;
                }
            }
            qsort(v, (size_t)runs, sizeof *v, cmp_d);
            qsort(o, (size_t)runs, sizeof *o, cmp_d);   /* medians of each; chunks: the last run's */
            printf("%-40s %7.1f %6s %10.0f %10.0f %7d\n", argv[f], wav_seconds(argv[f]), cs, v[runs / 2], o[runs / 2], nch);
            fflush(stdout);
        }
    }
    return 0;   /* cleanup(): at exit */
}
