/* bench_daemon — the overhead of session_daemon itself (docs/daemon.md, "Performance"):
 *   1. start-up to ready: wall time of `session_daemon --fork` (the parent exits when the
 *      daemon is ready: model loaded, watch, scan, pid file), median of --starts runs;
 *   2. latency: request file close() -> response rename (IN_MOVED_TO seen by inotify) for
 *      empty-audio requests, one at a time; median and p95 of --n requests;
 *   3. burst: --burst empty-audio requests written back to back; requests per second from
 *      the first write to the last response;
 *   4. RSS of the idle daemon (VmRSS), after the runs.
 * usage: bench_daemon [--model PATH] [--daemon PATH] [--n N] [--burst N] [--starts N]
 *                     [--in DIR]
 *        bench_daemon --live BATCH.wav SHORT.wav [--probes N] [--beam N] [--model ...]
 *   live mode (docs/daemon.md "Live requests"): how long an interactive request waits while
 *   a long batch request is being transcribed. SHORT alone (median of 3), then BATCH as a
 *   batch request with N interactive SHORT requests written one after another while it
 *   runs (close -> response rename each); the batch request's time per 30 s window comes
 *   from the daemon's log. The extra wait of an interactive request is at most one window.
 * The daemon runs under a private SPEECH_SESSION_ROOT (mkdtemp in DIR, default /tmp; e.g.
 * --in /dev/shm to compare tmpfs with a disk-backed /tmp) and is stopped at the end.
 * Exit codes: 0 (--help: the usage on stdout); 100 usage (said on stderr: an unknown option, a number that is not a whole
 * one from 1 (--n, --burst, --starts, --probes, --beam), a --live file or --in directory
 * that cannot be used); 111 the model is missing, or the daemon or the spool failed (said
 * on stderr). The daemon is stopped and the temp root removed on every exit, SIGINT,
 * SIGTERM and SIGHUP included. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_tmp.h"
#include "session/ss_fs.h"
#include "session/ss_opt.h"

static char root[256], daemon_bin[PATH_MAX + 32], model[PATH_MAX], wav[PATH_MAX];
static volatile sig_atomic_t have_root;   /* root was made: cleanup() removes it */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_daemon(const char *const *args)
{
    pid_t p = fork();
    if (p == 0) {
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static pid_t daemon_pid(void)
{
    char w[PATH_MAX + 64];
    snprintf(w, sizeof w, "%s/%s", root, SS_WORK_DIR);
    int fd = open(w, O_RDONLY | O_DIRECTORY);
    pid_t p = fd >= 0 ? ss_lock_probe(fd) : 0;
    if (fd >= 0) close(fd);
    return p;
}

static void stop_daemon(void)
{
    pid_t p = daemon_pid();
    if (p > 0) kill(p, SIGTERM);
    for (int i = 0; i < 500 && daemon_pid() > 0; i++) usleep(10000);
}

/* Stops the daemon under root and removes root (rm -rf by fork + execve): at exit, and
 * from the signal handler (what it calls is async-signal-safe but daemon_pid's snprintf,
 * which touches no shared state) */
static void cleanup(void)
{
    if (!have_root) return;
    have_root = 0;
    stop_daemon();
    bench_rm_rf(root);
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* a whole number from 1 to hi; -1 (said) otherwise */
static int count_arg(const char *opt, const char *s, int hi, int *out)
{
    double v;
    if (ss_opt_num(s, 1, hi, &v) != 0 || v != (double)(int)v) {
        fprintf(stderr, "bench_daemon: %s %s: not a whole number from 1 to %d\n", opt, s, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void write_silence(const char *path)
{
    /* 0.5 s of 16 kHz mono 16-bit zeros: the empty-audio pre-filter answers it */
    unsigned n = 8000, bytes = n * 2;
    unsigned char h[44] = "RIFF....WAVEfmt ";
    unsigned v[] = { 36 + bytes };
    memcpy(h + 4, v, 4);
    unsigned fmt[] = { 16, 1 | (1 << 16), 16000, 32000, 2 | (16 << 16) };
    memcpy(h + 16, fmt, sizeof fmt);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &bytes, 4);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(h, 1, 44, f);
    char *z = calloc(1, bytes);
    fwrite(z, 1, bytes, f);
    free(z);
    fclose(f);
}

/* *t_close: monotonic time just before close(), the moment the request is complete (taken
 * before the call: the woken daemon may preempt us inside close()). */
static int write_request_ex(int reqfd, const char *id, const char *audio, const char *extra,
                            double *t_close)
{
    char name[160], js[2 * PATH_MAX + 200];
    snprintf(name, sizeof name, "%s.json", id);
    int n = snprintf(js, sizeof js, "{\"id\": \"%s\", \"audio_file\": \"%s\", \"timestamp\": %.6f%s}",
                     id, audio, ss_wall_now(), extra);
    int fd = openat(reqfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    int r = write(fd, js, (size_t)n) == n ? 0 : -1;
    if (t_close) *t_close = ss_mono_now();
    close(fd);
    return r;
}

static int write_request(int reqfd, const char *id, double *t_close)
{
    return write_request_ex(reqfd, id, wav, "", t_close);
}

/* Waits for IN_MOVED_TO events in the response dir; returns the number of names seen. */
static int drain_events(int ifd, int timeout_ms, char *want, double *t_seen)
{
    char buf[65536] __attribute__((aligned(8)));
    struct pollfd pf = { .fd = ifd, .events = POLLIN };
    int seen = 0;
    if (poll(&pf, 1, timeout_ms) <= 0) return 0;
    double t = ss_mono_now();
    ssize_t r = read(ifd, buf, sizeof buf);
    for (char *p = buf; r > 0 && p < buf + r;) {
        struct inotify_event *ev = (struct inotify_event *)p;
        p += sizeof *ev + ev->len;
        if (ev->len && (ev->mask & IN_MOVED_TO)) {
            seen++;
            if (want && !strcmp(ev->name, want) && t_seen) *t_seen = t;
        }
    }
    return seen;
}


/* ------------------------------------------------------------------ --live */

/* Writes a request and waits for its response (close -> rename, ms); -1 on timeout. */
static double round_trip(int reqfd, int respfd, int ifd, const char *id, const char *audio,
                         const char *extra, int timeout_ms)
{
    char name[160];
    snprintf(name, sizeof name, "%s.json", id);
    double t0 = 0, t1 = 0, end = ss_mono_now() + timeout_ms / 1000.0;
    if (write_request_ex(reqfd, id, audio, extra, &t0) != 0) return -1;
    while (t1 == 0 && ss_mono_now() < end) drain_events(ifd, 1000, name, &t1);
    unlinkat(respfd, name, 0);
    return t1 > 0 ? (t1 - t0) * 1000 : -1;
}

/* processing_ms and audio_seconds of id's transcription line in the daemon's log */
static int log_figures(const char *id, double *proc_ms, double *audio_s, int *yields)
{
    char path[PATH_MAX], line[2048], key[160];
    snprintf(path, sizeof path, "%s/session_daemon.log", root);
    snprintf(key, sizeof key, "SESSION transcription id=%s ", id);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *p = strstr(line, key), *a, *q, *y;
        if (!p || !(a = strstr(p, "audio_seconds=")) || !(q = strstr(p, "processing_ms=")) ||
            !(y = strstr(p, "yields=")))
            continue;
        *audio_s = atof(a + 14);
        *proc_ms = atof(q + 14);
        *yields = atoi(y + 7);
        found = 1;
    }
    if (f) fclose(f);
    return found ? 0 : -1;
}

static int live_bench(const char *absmodel, const char *batch, const char *probe, int probes,
                      int beam)
{
    char beams[16];
    snprintf(beams, sizeof beams, "%d", beam);
    const char *args[] = { daemon_bin, "--fork", "--model", absmodel, "--beam-size", beams,
                           "600", NULL };
    if (run_daemon(args) != 0) { fprintf(stderr, "bench_daemon: daemon did not start\n"); return 111; }
    char rq[PATH_MAX + 64], rs[PATH_MAX + 64], pn[PATH_MAX + 96];
    snprintf(rq, sizeof rq, "%s/speech_session_requests", root);
    snprintf(rs, sizeof rs, "%s/speech_session_responses", root);
    snprintf(pn, sizeof pn, "%s/%s/processing/batch.1", root, SS_WORK_DIR);
    int reqfd = open(rq, O_RDONLY | O_DIRECTORY), respfd = open(rs, O_RDONLY | O_DIRECTORY);
    int ifd = inotify_init1(IN_CLOEXEC);
    if (reqfd < 0 || respfd < 0 || ifd < 0 || inotify_add_watch(ifd, rs, IN_MOVED_TO) < 0) {
        fprintf(stderr, "bench_daemon: cannot watch the spool under %s: %s\n", root, strerror(errno));
        return 111;
    }
    double alone[3];
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "alone%d", i);
        if ((alone[i] = round_trip(reqfd, respfd, ifd, id, probe, "", 600000)) < 0) {
            fprintf(stderr, "bench_daemon: request %s: no answer\n", id);
            return 111;
        }
    }
    qsort(alone, 3, sizeof *alone, cmp_d);
    printf("interactive request alone (%s): median %.0f ms\n", probe, alone[1]);
    double t0 = 0;
    if (write_request_ex(reqfd, "batch", batch, ", \"priority\": \"batch\"", &t0) != 0) {
        fprintf(stderr, "bench_daemon: cannot write a request: %s\n", strerror(errno));
        return 111;
    }
    while (access(pn, F_OK) != 0 && ss_mono_now() - t0 < 60) usleep(10000);
    double *w = calloc((size_t)probes, sizeof *w);
    int got = 0;
    for (int i = 0; i < probes && w; i++) {
        char id[32], bname[] = "batch.json";
        snprintf(id, sizeof id, "probe%d", i);
        usleep(500000 + 397000 * (unsigned)(i % 5));   /* land at different points of a window */
        if (faccessat(respfd, bname, F_OK, 0) == 0) break;   /* the batch request is done */
        if ((w[got] = round_trip(reqfd, respfd, ifd, id, probe, "", 600000)) < 0) {
            fprintf(stderr, "bench_daemon: request %s: no answer\n", id);
            free(w);
            return 111;
        }
        got++;
    }
    char bname[] = "batch.json";
    while (faccessat(respfd, bname, F_OK, 0) != 0) drain_events(ifd, 1000, NULL, NULL);
    double bproc = 0, baudio = 0;
    int yields = 0;
    usleep(100000);
    if (log_figures("batch", &bproc, &baudio, &yields) == 0) {
        int windows = (int)((baudio + 29.999) / 30);
        printf("batch request (%s): %.1f s of audio, %d windows, %.1f s of its own processing: "
               "%.0f ms per window; yielded %d times\n", batch, baudio, windows, bproc / 1000,
               windows ? bproc / windows : 0, yields);
    }
    if (got > 0) {
        qsort(w, (size_t)got, sizeof *w, cmp_d);
        printf("interactive request during the batch one: median %.0f ms, max %.0f ms (%d probes); "
               "extra wait over alone: median %.0f ms, max %.0f ms\n", w[got / 2], w[got - 1], got,
               w[got / 2] - alone[1], w[got - 1] - alone[1]);
    }
    free(w);
    stop_daemon();
    close(reqfd);
    close(respfd);
    close(ifd);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: bench_daemon [--model PATH] [--daemon PATH] [--n N] [--burst N] [--starts N] [--in DIR]\n"
          "       bench_daemon --live BATCH.wav SHORT.wav [--probes N] [--beam N] [--model PATH] ...\n"
          "session_daemon's own overhead: start-up to ready (median of --starts, default 5), request\n"
          "close -> response rename for --n empty-audio requests (default 500; median, p95),\n"
          "requests per second for a --burst (default 5000), and the idle RSS. --live: how long an\n"
          "interactive SHORT request waits while BATCH is transcribed (--probes, default 10;\n"
          "--beam, default 5, at most 16).\n"
          "  --model PATH   default $SPEECH_SESSION_MODEL, else tests/data/models/micro-f16.bin\n"
          "  --daemon PATH  default session_daemon next to this program\n"
          "  --in DIR       where the private root is made (default /tmp)\n"
          "Counts are whole numbers from 1. Exit codes: 0, 100 usage, 111 the model is missing or\n"
          "the daemon or the spool failed.\n", f);
}

/* the options; 0 go on, else the exit code (0 for --help: *help set) */
typedef struct {
    int n, burst, starts, probes, beam;
    const char *live_batch, *live_probe, *in;
} bd_opts;

static int parse_args(int argc, char **argv, bd_opts *o, int *help)
{
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); *help = 1; return 0; }
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) snprintf(model, sizeof model, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--daemon") && i + 1 < argc) snprintf(daemon_bin, sizeof daemon_bin, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) { bad = count_arg(argv[i], argv[i + 1], 1000000, &o->n); i++; }
        else if (!strcmp(argv[i], "--burst") && i + 1 < argc) { bad = count_arg(argv[i], argv[i + 1], 1000000, &o->burst); i++; }
        else if (!strcmp(argv[i], "--starts") && i + 1 < argc) { bad = count_arg(argv[i], argv[i + 1], 1000, &o->starts); i++; }
        else if (!strcmp(argv[i], "--in") && i + 1 < argc) o->in = argv[++i];
        else if (!strcmp(argv[i], "--live") && i + 2 < argc) { o->live_batch = argv[++i]; o->live_probe = argv[++i]; }
        else if (!strcmp(argv[i], "--probes") && i + 1 < argc) { bad = count_arg(argv[i], argv[i + 1], 10000, &o->probes); i++; }
        else if (!strcmp(argv[i], "--beam") && i + 1 < argc) { bad = count_arg(argv[i], argv[i + 1], 16, &o->beam); i++; }
        else {
            fprintf(stderr, "bench_daemon: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 100;
        }
        if (bad) return 100;
    }
    return 0;
}

/* 1. start-up to ready, `starts` times (the last daemon is left running); 0 or 111 */
static int bench_startups(const char *absmodel, int starts)
{
    const char *args[] = { daemon_bin, "--fork", "--model", absmodel, "600", NULL };
    double *st = calloc((size_t)starts, sizeof *st);
    for (int i = 0; i < starts; i++) {
        double t0 = ss_mono_now();
        int rc = run_daemon(args);
        st[i] = (ss_mono_now() - t0) * 1000;
        if (rc != 0) { fprintf(stderr, "bench_daemon: daemon exited %d\n", rc); free(st); return 111; }
        if (i + 1 < starts) stop_daemon();
    }
    qsort(st, (size_t)starts, sizeof *st, cmp_d);
    printf("start-up to ready: median %.1f ms (min %.1f, max %.1f, %d starts)\n",
           st[starts / 2], st[0], st[starts - 1], starts);
    free(st);
    return 0;
}

/* 2. latency, one request at a time (after 20 warm-up requests); 0 or 111 */
static int bench_one_at_a_time(int reqfd, int respfd, int ifd, int n)
{
    double *lat = calloc((size_t)n, sizeof *lat);
    for (int i = -20; i < n; i++) {
        char id[64], name[80];
        snprintf(id, sizeof id, "lat%d", i + 20);
        snprintf(name, sizeof name, "%s.json", id);
        double t1 = 0;
        double t0 = 0;
        if (write_request(reqfd, id, &t0) != 0) {
            fprintf(stderr, "bench_daemon: cannot write a request: %s\n", strerror(errno));
            free(lat);
            return 111;
        }
        while (t1 == 0) if (!drain_events(ifd, 5000, name, &t1)) {
            fprintf(stderr, "bench_daemon: request %s: no answer within 5 s\n", id);
            free(lat);
            return 111;
        }
        if (i >= 0) lat[i] = (t1 - t0) * 1000;
        unlinkat(respfd, name, 0);
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    printf("latency close->rename (empty audio): median %.3f ms, p95 %.3f ms, max %.3f ms (%d requests)\n",
           lat[n / 2], lat[(int)(n * 0.95)], lat[n - 1], n);
    free(lat);
    return 0;
}

/* 3. burst: `burst` requests written at once, until all are answered; 0 or 111 */
static int bench_burst(int reqfd, const char *rs, int ifd, int burst)
{
    double t0 = ss_mono_now();
    for (int i = 0; i < burst; i++) {
        char id[64];
        snprintf(id, sizeof id, "b%d", i);
        if (write_request(reqfd, id, NULL) != 0) {
            fprintf(stderr, "bench_daemon: cannot write a request: %s\n", strerror(errno));
            return 111;
        }
    }
    double tw = ss_mono_now() - t0;
    int got = 0;
    while (got < burst) {
        int s = drain_events(ifd, 20000, NULL, NULL);
        if (!s) {
            /* an inotify overflow on our side: count the directory instead */
            char cmd[PATH_MAX + 100];
            snprintf(cmd, sizeof cmd, "ls %s | wc -l", rs);
            FILE *f = popen(cmd, "r");
            if (f && fscanf(f, "%d", &got) != 1) got = 0;
            if (f) pclose(f);
            if (got < burst) { fprintf(stderr, "burst: only %d responses\n", got); break; }
        }
        got += s;
    }
    double tb = ss_mono_now() - t0;
    printf("burst: %d requests written in %.2f s, answered in %.2f s: %.0f req/s\n", burst, tw,
           tb, burst / tb);
    return 0;
}

/* 4. idle RSS */
static void print_idle_rss(void)
{
    usleep(300000);
    pid_t p = daemon_pid();
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)p);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) printf("idle RSS: %s", line + 6);
    if (f) fclose(f);
}

/* the spool's two directories opened, its responses watched; 0 or 111 */
static int open_spool(int *reqfd, int *respfd, int *ifd, char *rs, size_t rsn)
{
    char rq[PATH_MAX + 64];
    snprintf(rq, sizeof rq, "%s/speech_session_requests", root);
    snprintf(rs, rsn, "%s/speech_session_responses", root);
    *reqfd = open(rq, O_RDONLY | O_DIRECTORY);
    *respfd = open(rs, O_RDONLY | O_DIRECTORY);
    *ifd = inotify_init1(IN_CLOEXEC);
    if (*reqfd < 0 || *respfd < 0 || *ifd < 0 || inotify_add_watch(*ifd, rs, IN_MOVED_TO) < 0) {
        fprintf(stderr, "bench_daemon: cannot watch the spool under %s: %s\n", root, strerror(errno));
        return 111;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bd_opts o = { 500, 5000, 5, 10, 5, NULL, NULL, "/tmp" };
    const char *m = getenv("SPEECH_SESSION_MODEL");
    snprintf(model, sizeof model, "%s", m ? m : "tests/data/models/micro-f16.bin");
    if (access(model, R_OK) != 0 && !m)
        snprintf(model, sizeof model, "%s", "../shared/ref/models/micro-f16.bin");
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    char *sl = strrchr(exe, '/');
    if (sl) *sl = 0;
    snprintf(daemon_bin, sizeof daemon_bin, "%s/session_daemon", exe);
    int help = 0, rc = parse_args(argc, argv, &o, &help);
    if (rc || help) return rc;
    /* everything checked before the temp root exists (a --live file missing had left it) */
    char absmodel[PATH_MAX];
    if (!realpath(model, absmodel)) { fprintf(stderr, "bench_daemon: model %s: %s\n", model, strerror(errno)); return 111; }
    char b[PATH_MAX], pr[PATH_MAX];
    if (o.live_batch) {
        const char *bad = !realpath(o.live_batch, b) ? o.live_batch : !realpath(o.live_probe, pr) ? o.live_probe : NULL;
        if (bad) { fprintf(stderr, "bench_daemon: --live: %s: %s\n", bad, strerror(errno)); return 100; }
    }
    struct stat ist;
    const char *why = strlen(o.in) > 200 ? "longer than 200 bytes" : stat(o.in, &ist) != 0 ? strerror(errno)
                      : !S_ISDIR(ist.st_mode) ? "not a directory" : NULL;
    if (why) { fprintf(stderr, "bench_daemon: --in %s: %s\n", o.in, why); return 100; }
    snprintf(root, sizeof root, "%s/ss-bench.XXXXXX", o.in);
    if (!mkdtemp(root)) { fprintf(stderr, "bench_daemon: cannot make a directory in %s: %s\n", o.in, strerror(errno)); return 111; }
    have_root = 1;
    bench_root_guard(root, cleanup, on_signal);
    snprintf(wav, sizeof wav, "%s/silence.wav", root);
    write_silence(wav);
    printf("bench_daemon: daemon %s\n  model %s\n  root %s\n", daemon_bin, absmodel, root);
    fflush(stdout);
    if (o.live_batch) return live_bench(absmodel, b, pr, o.probes, o.beam);   /* cleanup(): at exit */

    if ((rc = bench_startups(absmodel, o.starts)) != 0) return rc;
    int reqfd, respfd, ifd;
    char rs[PATH_MAX + 64];
    if ((rc = open_spool(&reqfd, &respfd, &ifd, rs, sizeof rs)) != 0) return rc;
    if ((rc = bench_one_at_a_time(reqfd, respfd, ifd, o.n)) != 0) return rc;
    if ((rc = bench_burst(reqfd, rs, ifd, o.burst)) != 0) return rc;
    print_idle_rss();
    stop_daemon();
    close(reqfd);
    close(respfd);
    close(ifd);
    return 0;   /* the root: cleanup(), at exit */
}
