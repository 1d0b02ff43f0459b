/* session_client — talks to session_daemon through the spool (docs/daemon.md).
 *   session_client transcribe FILE... [--timeout S] [--json] [--no-start]
 *                  [--language L] [--task transcribe|translate] [--prompt TEXT] [--temperature T]
 *                  [--priority interactive|batch] [--word-timestamps] [--stream]
 *   session_client status | start [TIMEOUT] | stop | ping | cancel ID
 * Exit codes: 0 ok, 1 an error response, 2 timeout, 3 no daemon (status/ping),
 * 100 usage, 111 system failure. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients/session_client.h"
#include "common/utf8.h"
#include "session/ss_json.h"   /* SS_PROMPT_MAX */
#include "session/ss_opt.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: session_client transcribe FILE... [--timeout S] [--json] [--no-start]\n"
"                 [--language L] [--task transcribe|translate] [--prompt TEXT] [--temperature T]\n"
"       session_client status\n"
"       session_client start [TIMEOUT_SECONDS]\n"
"       session_client stop\n"
"       session_client ping [--timeout S]\n"
"       session_client cancel ID      (withdraw request ID, pending or running)\n"
"options: --timeout S (response wait, default 30; ping, cancel: 5), --json (print the\n"
"         response objects), --no-start (never start a daemon), --model PATH and\n"
"         --daemon-timeout S (for a daemon this client starts), --start-timeout S (wait\n"
"         for a daemon to start, default 120).\n"
"decoding (per request; default: the daemon's): --language L (\"en\", \"de\", ..., \"auto\"),\n"
"         --languages en,de (detect only among these),\n"
"         --task transcribe|translate, --prompt TEXT (initial prompt, <= 4096 bytes),\n"
"         --temperature T (0..1; > 0 samples best-of candidates), --hotwords TEXT (words to\n"
"         favour), --audio-ctx N|auto (shorter encoder window: faster for short clips).\n"
"live: --priority interactive|batch (batch requests yield to interactive ones),\n"
"         --word-timestamps (\"words\" in each segment; with --json), --stream (print each\n"
"         segment as soon as it is decoded, one per line; JSON lines with --json).\n"
"Environment: SPEECH_SESSION_ROOT (default /tmp), SPEECH_SESSION_DAEMON (daemon binary).\n"
"Exit codes: 0 ok, 1 error response (cancel: nothing cancelled), 2 timeout, 3 no daemon,\n"
"         100 usage, 111 system (also: the output could not be written), 130 interrupted.\n");
}

/* A duration or count: any non-negative number. */
static int num(const char *s, double *v) { return ss_opt_num(s, 0, INFINITY, v); }

static int task_opt(const char *s, int *translate)
{
    if (!strcmp(s, "transcribe")) *translate = 0;
    else if (!strcmp(s, "translate")) *translate = 1;
    else return -1;
    return 0;
}

/* Everything the command line sets. */
typedef struct {
    ssc_opts o;
    double timeout;
    int timeout_set;   /* --timeout given: ping and cancel wait that long, not their 5 s */
    int json_out, stream;
    ssc_req_opts ro;
} cli;

enum { OPT_TIMEOUT = 256, OPT_JSON, OPT_NOSTART, OPT_MODEL, OPT_DTIMEOUT, OPT_STIMEOUT,
       OPT_LANG, OPT_TASK, OPT_PROMPT, OPT_TEMP, OPT_HOTW, OPT_ACTX, OPT_LANGS, OPT_PRIO, OPT_WORDS,
       OPT_STREAM };
static const struct option lo[] = {
    { "timeout", required_argument, 0, OPT_TIMEOUT },
    { "json", no_argument, 0, OPT_JSON },
    { "no-start", no_argument, 0, OPT_NOSTART },
    { "model", required_argument, 0, OPT_MODEL },
    { "daemon-timeout", required_argument, 0, OPT_DTIMEOUT },
    { "start-timeout", required_argument, 0, OPT_STIMEOUT },
    { "language", required_argument, 0, OPT_LANG },
    { "task", required_argument, 0, OPT_TASK },
    { "prompt", required_argument, 0, OPT_PROMPT },
    { "temperature", required_argument, 0, OPT_TEMP },
    { "hotwords", required_argument, 0, OPT_HOTW },
    { "audio-ctx", required_argument, 0, OPT_ACTX },
    { "languages", required_argument, 0, OPT_LANGS },
    { "priority", required_argument, 0, OPT_PRIO },
    { "word-timestamps", no_argument, 0, OPT_WORDS },
    { "stream", no_argument, 0, OPT_STREAM },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
};

/* One option; -1 when its value is bad. */
static int apply_opt(cli *a, int ch, const char *arg);

/* apply_opt, naming the option and its value when it refuses them (the usage that follows
 * had not said which of the options was wrong) */
static int take_opt(cli *a, int ch, const char *arg)
{
    if (ch == '?' || ch == 'h') return -1;   /* getopt has said why; --help out of place */
    if (apply_opt(a, ch, arg) == 0) return 0;
    char why[64];
    snprintf(why, sizeof why, " (over %d bytes or not UTF-8)", SS_PROMPT_MAX);
    ss_opt_refused("session_client", lo, ch, arg, ch == OPT_PROMPT || ch == OPT_HOTW ? why : NULL);
    return -1;
}

/* --prompt/--hotwords: what a request may carry (valid UTF-8, <= SS_PROMPT_MAX bytes), so
 * a text the daemon would refuse is a usage error (100) here, not a failed request (111). */
static int text_opt(const char *arg, const char **dst)
{
    json_t *t = strlen(arg) <= SS_PROMPT_MAX ? json_string(arg) : NULL;
    if (!t) return -1;
    json_decref(t);
    *dst = arg;
    return 0;
}

static int apply_opt(cli *a, int ch, const char *arg)
{
    switch (ch) {
    case OPT_TIMEOUT: a->timeout_set = 1; return num(arg, &a->timeout);
    case OPT_JSON: a->json_out = 1; return 0;
    case OPT_NOSTART: a->o.autostart = 0; return 0;
    case OPT_MODEL: a->o.model = arg; return 0;
    case OPT_DTIMEOUT: return num(arg, &a->o.daemon_timeout);
    case OPT_STIMEOUT: return num(arg, &a->o.start_timeout);
    case OPT_LANG: a->ro.language = arg; return 0;
    case OPT_TASK: return task_opt(arg, &a->ro.task_translate);
    case OPT_PROMPT: return text_opt(arg, &a->ro.prompt);
    case OPT_HOTW: return text_opt(arg, &a->ro.hotwords);
    case OPT_ACTX: return ss_opt_audio_ctx(arg, &a->ro.audio_ctx);
    case OPT_LANGS:
        if (sp_language_list(arg, NULL, 100, NULL) <= 0) return -1;
        a->ro.languages = arg;
        return 0;
    case OPT_TEMP:
        if (ss_opt_num(arg, 0, 1, &a->ro.temperature)) return -1;
        a->ro.has_temperature = 1;
        return 0;
    case OPT_PRIO:
        if (strcmp(arg, "interactive") && strcmp(arg, "batch")) return -1;
        a->ro.priority = arg;
        return 0;
    case OPT_WORDS: a->ro.word_timestamps = 1; return 0;
    case OPT_STREAM: a->stream = a->ro.stream = 1; return 0;
    default: return -1;
    }
}

static int fail(const char *err, int r)
{
    fprintf(stderr, "session_client: %s\n", err);
    return r == SSC_TIMEOUT ? 2 : r == SSC_ABORTED ? 130 : 111;
}

static int cmd_status(ssc *c)
{
    pid_t pid = ssc_daemon_pid(c);
    FILE *f = fopen(ssc_paths(c)->status, "r");
    if (f) {
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, stdout);
        fclose(f);
        putchar('\n');
    }
    if (pid > 0) fprintf(stderr, "session_daemon running, pid %ld\n", (long)pid);
    else fprintf(stderr, "no session_daemon running under %s\n", ssc_paths(c)->root);
    return pid > 0 ? 0 : 3;
}

static int cmd_start(ssc *c)
{
    char err[1024];
    pid_t before = ssc_daemon_pid(c);
    int r = ssc_ensure_daemon(c, err, sizeof err);
    if (r != 0) return fail(err, r);
    if (before > 0) printf("session_daemon already running (pid %ld)\n", (long)before);
    else printf("session_daemon started (pid %ld)\n", (long)ssc_daemon_pid(c));
    return 0;
}

static int cmd_stop(ssc *c)
{
    char err[1024];
    pid_t pid = ssc_daemon_pid(c);
    int r = ssc_stop(c, 60, err, sizeof err);
    if (r != 0) return fail(err, r);
    if (pid > 0) printf("session_daemon (pid %ld) stopped\n", (long)pid);
    else printf("no session_daemon running\n");
    return 0;
}

static void print_json(const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(16));
    puts(s ? s : "{}");
    free(s);
}

/* ping, and cancel ID: one request answered at once by a running daemon. */
static int cmd_quick(ssc *c, const cli *a, const char *target)
{
    char err[1024], id[SS_ID_MAX + 1];
    pid_t pid = ssc_daemon_pid(c);
    json_t *resp = NULL;
    double t0 = ss_mono_now();
    if (pid <= 0) {
        fprintf(stderr, "session_client: no session_daemon running\n");
        return 3;
    }
    int r = target ? ssc_submit_cancel(c, target, id, err, sizeof err)
                   : ssc_submit_ping(c, id, err, sizeof err);
    if (r != 0) return fail(err, r);
    r = ssc_wait(c, id, a->timeout_set ? a->timeout : 5, &resp, err, sizeof err);
    if (r != 0) return fail(err, r);
    int rc = 0;
    if (a->json_out) {
        print_json(resp);
    } else if (!target) {
        printf("pong from pid %ld in %.1f ms\n", (long)pid, (ss_mono_now() - t0) * 1000);
    } else {
        const json_t *st = json_object_get(resp, "state");
        printf("%s: %s (%s)\n", target,
               json_is_true(json_object_get(resp, "cancelled")) ? "cancelled" : "not cancelled",
               json_is_string(st) ? json_string_value(st) : "?");
    }
    if (target && !json_is_true(json_object_get(resp, "cancelled"))) rc = 1;
    json_decref(resp);
    return rc;
}

static volatile sig_atomic_t g_interrupted;
static void on_interrupt(int sig) { (void)sig; g_interrupted = 1; }

/* The first failed write's errno (a closed pipe, a full disk): nobody gets the text any more,
 * so the waits end as at an interrupt and what is outstanding is cancelled (exit 111). */
static int g_out_errno;
static int output_lost(void)
{
    if (!g_out_errno && (fflush(stdout) != 0 || ferror(stdout))) {
        g_out_errno = errno ? errno : EIO;
        g_interrupted = 1;
    }
    return g_out_errno != 0;
}

/* --stream: each segment as it comes */
static void print_segment(const json_t *seg, int index, void *user)
{
    const cli *a = user;
    (void)index;
    if (g_out_errno) return;
    if (a->json_out) {
        print_json(seg);
    } else {
        const json_t *t = json_object_get(seg, "text");
        puts(json_is_string(t) ? json_string_value(t) : "");
    }
    output_lost();
}

/* The response to one file: printed (or its error), 0 or 1. */
static int show_response(const cli *a, const char *file, json_t *resp)
{
    const json_t *e = json_object_get(resp, "error");
    if (a->json_out && !a->stream) {
        print_json(resp);
    } else if (e) {
        const json_t *code = json_object_get(resp, "error_code");
        fprintf(stderr, "session_client: %s: %s (%s)\n", file,
                json_is_string(e) ? json_string_value(e) : "error",
                json_is_string(code) ? json_string_value(code) : "?");
    } else if (!a->stream) {   /* streamed: its segments are printed already */
        char *t = ssc_results_text(resp);
        puts(t ? t : "");
        free(t);
    }
    /* a partial transcript (the file ends early): said, as transcribe says it; the exit
     * status stays that of a success */
    const json_t *w = json_object_get(resp, "warning");
    if (!e && json_is_string(w)) fprintf(stderr, "session_client: %s: warning: %s\n", file, json_string_value(w));
    return e ? 1 : 0;
}

/* A request this client no longer waits for (timed out, interrupted): withdrawn, or cancelled
 * where the daemon has it, its answers deleted (ssc_cancel) — the daemon had transcribed on
 * for nobody and left the response in the spool for an hour. */
static void give_up(ssc *c, const char *id)
{
    char err[512];
    const char *state = NULL;
    /* with no daemon alive nothing works on it (an unclaimed request is withdrawn already by
     * the wait's timeout, a claimed one is a dead daemon's to recover): a cancel request
     * would only wait its 10 s for an answer nobody gives */
    if (ssc_daemon_pid(c) <= 0) return;
    if (ssc_cancel(c, id, 10, &state, err, sizeof err) != 0)
        fprintf(stderr, "session_client: cannot cancel request %s: %s\n", id, err);
}

/* transcribe: submit all, then collect in order */
static int cmd_transcribe(ssc *c, cli *a, char **files, int nfiles)
{
    char err[1024];
    int rc = 0;
    char (*ids)[SS_ID_MAX + 1] = calloc((size_t)nfiles, sizeof *ids);
    int *sent = calloc((size_t)nfiles, sizeof *sent);
    if (!ids || !sent) { rc = 111; goto done; }
    if (a->o.autostart) {
        int r = ssc_ensure_daemon(c, err, sizeof err);
        if (r != 0) { rc = fail(err, r); goto done; }
    }
    for (int i = 0; i < nfiles; i++) {
        char abs[PATH_MAX];
        if (!realpath(files[i], abs)) {
            fprintf(stderr, "session_client: %s: %s\n", files[i], strerror(errno));
            rc = 1;
            continue;
        }
        if (!sp_utf8_valid(abs, strlen(abs))) {   /* the spool's JSON cannot carry it: this file's problem */
            fprintf(stderr, "session_client: %s: the path is not valid UTF-8 (the daemon's requests are JSON)\n",
                    files[i]);
            rc = 1;
            continue;
        }
        if (ssc_submit_ex(c, abs, &a->ro, ids[i], err, sizeof err) != 0) {
            fprintf(stderr, "session_client: %s\n", err);
            rc = 111;
            continue;
        }
        sent[i] = 1;
    }
    for (int i = 0; i < nfiles; i++) {
        if (!sent[i]) continue;
        json_t *resp = NULL;
        int r = ssc_wait_stream(c, ids[i], a->timeout, a->stream ? print_segment : NULL, a,
                                &resp, err, sizeof err);
        if (r == SSC_ABORTED) {   /* Ctrl-C, or the output gone: this request and those not yet answered */
            if (g_out_errno)
                fprintf(stderr, "session_client: cannot write the output: %s; cancelling\n", strerror(g_out_errno));
            else
                fprintf(stderr, "session_client: interrupted: cancelling\n");
            /* the cancel's own waits end at an interrupt too: with the flag still set a
             * claimed request's cancel gave up at once ("interrupted"), and the daemon
             * transcribed on for nobody. Cleared, a second Ctrl-C still ends the clean-up */
            g_interrupted = 0;
            for (int k = i; k < nfiles && !g_interrupted; k++)
                if (sent[k]) give_up(c, ids[k]);
            rc = g_out_errno ? 111 : 130;
            break;
        }
        if (r != 0) {
            fprintf(stderr, "session_client: %s: %s\n", files[i], err);
            if (r == SSC_TIMEOUT) give_up(c, ids[i]);
            if (rc == 0) rc = r == SSC_TIMEOUT ? 2 : 111;
            continue;
        }
        if (show_response(a, files[i], resp) && rc == 0) rc = 1;
        json_decref(resp);
        if (output_lost()) {   /* the rest would be transcribed for nobody */
            fprintf(stderr, "session_client: cannot write the output: %s; cancelling\n", strerror(g_out_errno));
            g_interrupted = 0;
            for (int k = i + 1; k < nfiles && !g_interrupted; k++)
                if (sent[k]) give_up(c, ids[k]);
            rc = 111;
            break;
        }
    }
done:
    free(ids);
    free(sent);
    return rc;
}

int main(int argc, char **argv)
{
    cli a = { .o = ssc_default_opts(), .timeout = 30 };
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
        if (ch == 'h') { usage(stdout); return 0; }
        if (take_opt(&a, ch, optarg)) goto bad;
    }
    if (optind >= argc) goto bad;
    const char *cmd = argv[optind++];
    /* options may also follow the command and the files */
    char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0;
    if (!files) return 111;
    while (optind < argc) {
        int c2 = getopt_long(argc, argv, "+h", lo, NULL);
        if (c2 == -1) { files[nfiles++] = argv[optind++]; continue; }
        if (take_opt(&a, c2, optarg)) goto badf;
    }
    if (!strcmp(cmd, "start") && nfiles == 1) {
        if (num(files[0], &a.o.daemon_timeout)) goto badf;
        nfiles = 0;
    }
    int want = !strcmp(cmd, "transcribe") ? -1 : !strcmp(cmd, "cancel") ? 1 : 0;
    if (strcmp(cmd, "start") && strcmp(cmd, "stop") && strcmp(cmd, "status") &&
        strcmp(cmd, "ping") && strcmp(cmd, "transcribe") && strcmp(cmd, "cancel"))
        goto badf;
    if (want < 0 ? nfiles == 0 : nfiles != want) goto badf;
    char err[1024];
    ssc *c = NULL;
    /* Ctrl-C / SIGTERM: the waits end (poll is never restarted), the requests are cancelled */
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    signal(SIGHUP, on_interrupt);   /* the terminal closed: as Ctrl-C */
    signal(SIGPIPE, SIG_IGN);       /* a closed pipe is a write error (output_lost), not death */
    a.o.interrupt = &g_interrupted;
    if (ssc_open(&c, &a.o, err, sizeof err) != 0) {
        fprintf(stderr, "session_client: %s\n", err);
        free(files);
        return 111;
    }
    int rc = !strcmp(cmd, "status") ? cmd_status(c)
           : !strcmp(cmd, "start") ? cmd_start(c)
           : !strcmp(cmd, "stop") ? cmd_stop(c)
           : !strcmp(cmd, "ping") ? cmd_quick(c, &a, NULL)
           : !strcmp(cmd, "cancel") ? cmd_quick(c, &a, files[0])
           : cmd_transcribe(c, &a, files, nfiles);
    /* the text written where asked, or a failure (a full disk, a closed pipe: exit 0 had said
     * all was well) */
    const int said = g_out_errno != 0;   /* the transcribe loop has said it */
    if (output_lost()) {
        if (!said) fprintf(stderr, "session_client: cannot write the output: %s\n", strerror(g_out_errno));
        if (rc == 0) rc = 111;
    }
    ssc_free(c);
    free(files);
    return rc;
badf:
    free(files);
bad:
    usage(stderr);
    return 100;
}
