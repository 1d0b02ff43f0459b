/* session_daemon — keeps a Whisper model loaded for a session and answers the spool
 * requests of ../shared/spec/session-api.md; exits after TIMEOUT_SECONDS of inactivity.
 * See docs/daemon.md (options, files, exit codes, robustness). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/ss_daemon.h"
#include "session/ss_opt.h"
#include "speech_audio.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: session_daemon [options] [TIMEOUT_SECONDS]\n"
"  TIMEOUT_SECONDS         idle time before exit (default 600; decimals allowed; 0 = never)\n"
"  -m, --model PATH        model file (default $SPEECH_SESSION_MODEL, else\n"
"                          <bindir>/../models/default.bin)\n"
"  -t, --threads N         compute threads (default: one per physical core it may use)\n"
"      --device D          auto | cpu | cuda (or gpu) | cuda:N (default $SPEECH_SESSION_DEVICE, else\n"
"                          auto: the GPU when usable, else the CPU with the reason logged)\n"
"      --compute C         the CPU's products: auto | int8 | exact (default\n"
"                          $SPEECH_SESSION_COMPUTE, else auto: a quantized model's weights x\n"
"                          int8 activations on AVX2 CPUs; int8: f16/f32 weights too, as q8_0)\n"
"  -f, --foreground        stay in the foreground (default)\n"
"  -d, --fork              fork; the parent exits once the daemon is ready (systemd\n"
"                          Type=forking with PIDFile=<root>/session_daemon.pid)\n"
"      --request-ttl S     answer requests older than S seconds \"expired\" (default 120)\n"
"      --max-pending N     answer \"busy\" beyond N queued requests (default 16384)\n"
"      --max-audio-seconds S  decoded audio cap (default 3600)\n"
"      --fsync             fsync each response before publishing it\n"
"      --beam-size N       decoding beam size (default: the engine's, 5)\n"
"      --language L        spoken language (default: detect)\n"
"      --temperature-fallback  retry at temperatures 0.2 … 1.0 when a window looks wrong\n"
"                          (default: temperature 0 only, as the original daemon)\n"
"      --vad               drop non-speech before decoding (energy detector)\n"
"      --vad-model PATH    Silero VAD: ggml file, faster-whisper's silero_vad_v6.onnx or\n"
"                          silero-vad's silero_vad.onnx\n"
"                          (implies --vad; also $SPEECH_SESSION_VAD_MODEL)\n"
"      --initial-prompt T  prompt for every request without its own (names, jargon)\n"
"      --hotwords T        words to favour in every request without its own \"hotwords\"\n"
"      --languages en,de   detect the language only among these (requests without their\n"
"                          own \"languages\"; with --language, or a request's, unused)\n"
"      --audio-ctx N|auto  encoder positions per window (default: full 1500 = 30 s); auto =\n"
"                          the audio + a margin: faster for short clips; per request: \"audio_ctx\"\n"
"      --no-decoder-isolation  decode audio in the daemon process (default: in a child\n"
"                          with resource limits, so a decoder crash fails one request)\n"
"      --decoder-cpu-limit S   CPU seconds of a decoder child (default 60)\n"
"      --decoder-timeout S     wall-clock seconds of a decoder child (default 120)\n"
"      --quarantine-max-age S  remove rejected requests from quarantine after S seconds\n"
"                          (default 604800, 7 days; checked on a timer; at most 1000\n"
"                          files / 64 MiB are kept, the oldest go first)\n"
"  -v, --verbose           also log to stderr\n"
"Environment: SPEECH_SESSION_ROOT=DIR moves every file from /tmp to DIR.\n"
"Exit codes: 0 clean stop, 100 usage, 110 already running, 111 system failure,\n"
"            112 model load failure, 113 model file changed while loaded\n"
"            (a restart loads the new one), 101 internal error.\n");
}

static char *default_model(void)
{
    const char *env = getenv("SPEECH_SESSION_MODEL");
    if (env && *env) return strdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/../models/default.bin", exe);
    return strdup(path);
}

enum { OPT_COMPUTE = 250, OPT_DEVICE = 256, OPT_TTL, OPT_MAXP, OPT_MAXA, OPT_FSYNC, OPT_BEAM, OPT_LANG, OPT_TFB, OPT_VAD,
       OPT_VADM, OPT_IPROMPT, OPT_HOTW, OPT_ACTX, OPT_LANGS, OPT_NOISO, OPT_DECCPU, OPT_DECTO, OPT_QAGE };
static const struct option long_opts[] = {
    { "model", required_argument, 0, 'm' },
    { "threads", required_argument, 0, 't' },
    { "device", required_argument, 0, OPT_DEVICE },
    { "compute", required_argument, 0, OPT_COMPUTE },
    { "foreground", no_argument, 0, 'f' },
    { "fork", no_argument, 0, 'd' },
    { "request-ttl", required_argument, 0, OPT_TTL },
    { "max-pending", required_argument, 0, OPT_MAXP },
    { "max-audio-seconds", required_argument, 0, OPT_MAXA },
    { "fsync", no_argument, 0, OPT_FSYNC },
    { "beam-size", required_argument, 0, OPT_BEAM },
    { "language", required_argument, 0, OPT_LANG },
    { "temperature-fallback", no_argument, 0, OPT_TFB },
    { "vad", no_argument, 0, OPT_VAD },
    { "vad-model", required_argument, 0, OPT_VADM },
    { "initial-prompt", required_argument, 0, OPT_IPROMPT },
    { "hotwords", required_argument, 0, OPT_HOTW },
    { "audio-ctx", required_argument, 0, OPT_ACTX },
    { "languages", required_argument, 0, OPT_LANGS },
    { "no-decoder-isolation", no_argument, 0, OPT_NOISO },
    { "decoder-cpu-limit", required_argument, 0, OPT_DECCPU },
    { "decoder-timeout", required_argument, 0, OPT_DECTO },
    { "quarantine-max-age", required_argument, 0, OPT_QAGE },
    { "verbose", no_argument, 0, 'v' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
};

/* an integer option's value in [lo, hi] into *out; 0, or -1 when it is not one */
static int int_opt(const char *arg, double lo, double hi, int *out)
{
    double v;
    if (ss_opt_num(arg, lo, hi, &v) || v != floor(v)) return -1;
    *out = (int)v;
    return 0;
}

/* One option c (getopt_long's return) with its argument into o. Returns 0, 1 for --help, or
 * -1 when the value is refused. */
static int apply_option(int c, char *arg, ss_daemon_opts *o, int *fork_mode, char **model)
{
    double v;
    switch (c) {
    case 'm': free(*model); *model = strdup(arg); return 0;
    case 't': return int_opt(arg, 0, 1024, &o->threads);
    case OPT_DEVICE: o->device = arg; return sp_device_valid(arg) ? 0 : -1;
    case OPT_COMPUTE: o->compute = arg; return sp_compute_valid(arg) ? 0 : -1;
    case 'f': *fork_mode = 0; return 0;
    case 'd': *fork_mode = 1; return 0;
    case OPT_TTL: return ss_opt_num(arg, 0, INFINITY, &o->request_ttl) ? -1 : 0;
    case OPT_MAXP:
        if (ss_opt_num(arg, 1, 1e7, &v)) return -1;
        o->max_pending = (long)v;
        return 0;
    case OPT_MAXA: return ss_opt_num(arg, 0, INFINITY, &o->max_audio_seconds) ? -1 : 0;
    case OPT_FSYNC: o->fsync_responses = 1; return 0;
    case OPT_BEAM: return int_opt(arg, 1, 64, &o->beam_size);
    case OPT_LANG:   /* as a request's "language" is checked: a typo had passed with an
                      * English-only model, and with another been "no token for" it */
        if (!sp_language_auto(arg) && sp_language_index(arg) < 0) return -1;
        o->language = sp_language_auto(arg) ? "auto" : arg;
        return 0;
    case OPT_TFB: o->temperature_fallback = 1; return 0;
    case OPT_VAD: o->vad = 1; return 0;
    case OPT_VADM: o->vad_model = arg; return 0;
    case OPT_IPROMPT: o->initial_prompt = arg; return strlen(arg) > 4096 ? -1 : 0;
    case OPT_HOTW: o->hotwords = arg; return strlen(arg) > 4096 ? -1 : 0;
    case OPT_ACTX: return ss_opt_audio_ctx(arg, &o->audio_ctx) ? -1 : 0;
    case OPT_LANGS: o->languages = arg; return sp_language_list(arg, NULL, 128, NULL) <= 0 ? -1 : 0;
    case OPT_NOISO: o->no_decoder_isolation = 1; return 0;
    case OPT_DECCPU: return ss_opt_num(arg, 1, 1e6, &o->decoder_cpu_limit) ? -1 : 0;
    case OPT_DECTO: return ss_opt_num(arg, 0, 1e6, &o->decoder_timeout) || o->decoder_timeout <= 0 ? -1 : 0;
    case OPT_QAGE: return ss_opt_num(arg, 1, INFINITY, &o->quarantine_max_age) ? -1 : 0;
    case 'v': o->verbose = 1; return 0;
    case 'h': return 1;
    default: return -1;
    }
}

/* Parses argv into o (model: malloc'd into *model). Returns 0, or SS_EXIT_USAGE after
 * printing the usage, or -1 for --help (printed). */
static int parse_options(int argc, char **argv, ss_daemon_opts *o, int *fork_mode, char **model)
{
    int c;
    while ((c = getopt_long(argc, argv, "m:t:fdvh", long_opts, NULL)) != -1) {
        const int r = apply_option(c, optarg, o, fork_mode, model);
        if (r == 1) {
            usage(stdout);
            return -1;
        }
        if (r != 0) {
            if (c != '?') ss_opt_refused("session_daemon", long_opts, c, optarg, NULL);
            goto usage;
        }
    }
    if (optind < argc) {   /* the spec's one positional argument */
        if (ss_opt_num(argv[optind], 0, 1e9, &o->timeout)) {
            ss_opt_say("session_daemon", "bad TIMEOUT_SECONDS: ", argv[optind], NULL);
            goto usage;
        }
        optind++;
    }
    if (optind < argc) {
        ss_opt_say("session_daemon", "one TIMEOUT_SECONDS only; also ", argv[optind], NULL);
        goto usage;
    }
    return 0;
usage:
    usage(stderr);
    return SS_EXIT_USAGE;
}

/* Refusals that need no spool: a VAD model that does not load (it would fail every
 * request). Returns 0 or SS_EXIT_USAGE (printed). */
static int check_options(const ss_daemon_opts *o)
{
    if (o->vad_model) {
        sp_vad *vad = NULL;
        char verr[256];
        if (sp_vad_open(o->vad_model, &vad, verr, sizeof verr) != SP_OK) {
            fprintf(stderr, "session_daemon: --vad-model: %s\n", verr);
            return SS_EXIT_USAGE;
        }
        sp_vad_free(vad);
    }
    return 0;
}

/* Fork mode: the parent returns the daemon's verdict (0 once it is ready, T25), the child
 * returns -1 and goes on with *ready_fd set. */
static volatile sig_atomic_t g_parent_sig;
static void parent_on_signal(int sig) { g_parent_sig = sig; }

/* The --fork parent asked to end while the daemon starts (session_client's --start-timeout,
 * Ctrl-C): the daemon is the child, in its own session, perhaps hung loading a model from a
 * stalled mount; ending only the parent left it to come up later, or never, holding the
 * lock. So it gets the signal too, and SIGKILL if it is not gone within half a second. */
static int stop_starting_child(pid_t pid, int sig)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(pid, NULL, WNOHANG) != 0) return 128 + sig;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    return 128 + sig;
}

/* The parent's wait for its child's one-byte verdict: 'R' ready (exit 0), else an exit code;
 * a signal meanwhile stops the starting child (stop_starting_child) */
static int parent_wait(pid_t pid, int fd)
{
    /* the signals blocked but while ppoll waits: one that comes before the wait is seen
     * by it, not lost between a check and a blocking read */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = parent_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    unsigned char b;
    ssize_t r = -1;
    for (;;) {
        if (g_parent_sig) return stop_starting_child(pid, g_parent_sig);
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int k = ppoll(&pf, 1, NULL, &waitmask);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) break;
        do r = read(fd, &b, 1); while (r < 0 && errno == EINTR);
        break;
    }
    if (r == 1 && b == 'R') return 0;
    if (r == 1) { waitpid(pid, NULL, 0); return b; }
    int st = 0;
    if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st))
        return WEXITSTATUS(st);
    return SS_EXIT_INTERNAL;   /* died without saying why */
}

static int fork_and_wait(int *ready_fd)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) { perror("session_daemon: pipe"); return SS_EXIT_SYSTEM; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { perror("session_daemon: fork"); return SS_EXIT_SYSTEM; }
    if (pid > 0) {   /* parent: exit only when the daemon is ready */
        close(pfd[1]);
        return parent_wait(pid, pfd[0]);
    }
    close(pfd[0]);
    setsid();
    if (chdir("/") != 0) { /* cannot fail for / */ }
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); close(nul); }   /* stderr: until ready */
    *ready_fd = pfd[1];
    return -1;
}

/* a malloc'd absolute copy of a relative path that exists; NULL otherwise (absolute already,
 * missing, out of memory) */
static char *abs_dup(const char *path)
{
    char abs[PATH_MAX];
    return path[0] != '/' && realpath(path, abs) ? strdup(abs) : NULL;
}

int main(int argc, char **argv)
{
    ss_daemon_opts o;
    ss_daemon_default_opts(&o);
    int fork_mode = 0;
    char *model = NULL, *vad_abs = NULL;
    int rc = parse_options(argc, argv, &o, &fork_mode, &model);
    if (rc != 0) goto cleanup;
    if (!model) model = default_model();
    if (!model) {
        fprintf(stderr, "session_daemon: no model: use --model PATH or SPEECH_SESSION_MODEL\n");
        rc = SS_EXIT_USAGE;
        goto cleanup;
    }
    /* relative paths that exist, made absolute now: --fork's chdir("/") came before the
     * load, so "./tiny.en" (or SPEECH_SESSION_MODEL=models/x.bin) could never be opened; and
     * each request opens the VAD model after it, so a relative --vad-model (or
     * $SPEECH_SESSION_VAD_MODEL) passed check_options and then failed every request ("cannot
     * open VAD model ./silero.bin"). Anything else stays as given: a model name is resolved
     * by the engine. */
    char *a = abs_dup(model);
    if (a) { free(model); model = a; }
    o.model = model;
    if (o.vad_model && (vad_abs = abs_dup(o.vad_model))) o.vad_model = vad_abs;
    rc = check_options(&o);
    if (rc != 0) goto cleanup;
    if (fork_mode && (rc = fork_and_wait(&o.ready_fd)) >= 0) goto cleanup;
    rc = ss_daemon_run(&o);
cleanup:
    free(model);
    free(vad_abs);
    return rc < 0 ? 0 : rc;
}
