/* session_client — talks to session_daemon through the spool (docs/daemon.md).
 *   session_client transcribe FILE... [--timeout S] [--json] [--no-start]
 *                  [--language L] [--task transcribe|translate] [--prompt TEXT] [--temperature T]
 *   session_client status | start [TIMEOUT] | stop | ping
 * Exit codes: 0 ok, 1 an error response, 2 timeout, 3 no daemon (status/ping),
 * 100 usage, 111 system failure. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients/session_client.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: session_client transcribe FILE... [--timeout S] [--json] [--no-start]\n"
"                 [--language L] [--task transcribe|translate] [--prompt TEXT] [--temperature T]\n"
"       session_client status\n"
"       session_client start [TIMEOUT_SECONDS]\n"
"       session_client stop\n"
"       session_client ping [--timeout S]\n"
"options: --timeout S (response wait, default 30), --json (print the response objects),\n"
"         --no-start (never start a daemon), --model PATH and --daemon-timeout S (for a\n"
"         daemon this client starts), --start-timeout S (default 120).\n"
"decoding (per request; default: the daemon's): --language L (\"en\", \"de\", ..., \"auto\"),\n"
"         --task transcribe|translate, --prompt TEXT (initial prompt, <= 4096 bytes),\n"
"         --temperature T (0..1; > 0 samples best-of candidates), --hotwords TEXT (words to\n"
"         favour), --audio-ctx N|auto (shorter encoder window: faster for short clips).\n"
"Environment: SPEECH_SESSION_ROOT (default /tmp), SPEECH_SESSION_DAEMON (daemon binary).\n"
"Exit codes: 0 ok, 1 error response, 2 timeout, 3 no daemon, 100 usage, 111 system.\n");
}

static int num(const char *s, double *v)
{
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    return errno || e == s || *e || !isfinite(*v) || *v < 0 ? -1 : 0;
}

/* --audio-ctx auto | N (1..1500) */
static int actx_opt(const char *v, int *out)
{
    if (!strcmp(v, "auto")) { *out = SP_AUDIO_CTX_AUTO; return 0; }
    double d;
    if (num(v, &d) || d < 1 || d > 1500 || d != (int)d) return -1;
    *out = (int)d;
    return 0;
}

static int task_opt(const char *s, int *translate)
{
    if (!strcmp(s, "transcribe")) *translate = 0;
    else if (!strcmp(s, "translate")) *translate = 1;
    else return -1;
    return 0;
}

int main(int argc, char **argv)
{
    ssc_opts o = ssc_default_opts();
    double timeout = 30;
    int json_out = 0;
    ssc_req_opts ro = { 0 };
    enum { OPT_TIMEOUT = 256, OPT_JSON, OPT_NOSTART, OPT_MODEL, OPT_DTIMEOUT, OPT_STIMEOUT,
           OPT_LANG, OPT_TASK, OPT_PROMPT, OPT_TEMP, OPT_HOTW, OPT_ACTX };
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
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
        switch (ch) {
        case OPT_TIMEOUT: if (num(optarg, &timeout)) goto bad; break;
        case OPT_JSON: json_out = 1; break;
        case OPT_NOSTART: o.autostart = 0; break;
        case OPT_MODEL: o.model = optarg; break;
        case OPT_DTIMEOUT: if (num(optarg, &o.daemon_timeout)) goto bad; break;
        case OPT_STIMEOUT: if (num(optarg, &o.start_timeout)) goto bad; break;
        case OPT_LANG: ro.language = optarg; break;
        case OPT_TASK: if (task_opt(optarg, &ro.task_translate)) goto bad; break;
        case OPT_PROMPT: ro.prompt = optarg; break;
        case OPT_HOTW: ro.hotwords = optarg; break;
        case OPT_ACTX: if (actx_opt(optarg, &ro.audio_ctx)) goto bad; break;
        case OPT_TEMP:
            if (num(optarg, &ro.temperature) || ro.temperature > 1) goto bad;
            ro.has_temperature = 1;
            break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
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
        switch (c2) {
        case OPT_TIMEOUT: if (num(optarg, &timeout)) goto badf; break;
        case OPT_JSON: json_out = 1; break;
        case OPT_NOSTART: o.autostart = 0; break;
        case OPT_MODEL: o.model = optarg; break;
        case OPT_DTIMEOUT: if (num(optarg, &o.daemon_timeout)) goto badf; break;
        case OPT_STIMEOUT: if (num(optarg, &o.start_timeout)) goto badf; break;
        case OPT_LANG: ro.language = optarg; break;
        case OPT_TASK: if (task_opt(optarg, &ro.task_translate)) goto badf; break;
        case OPT_PROMPT: ro.prompt = optarg; break;
        case OPT_HOTW: ro.hotwords = optarg; break;
        case OPT_ACTX: if (actx_opt(optarg, &ro.audio_ctx)) goto badf; break;
        case OPT_TEMP:
            if (num(optarg, &ro.temperature) || ro.temperature > 1) goto badf;
            ro.has_temperature = 1;
            break;
        default: goto badf;
        }
    }

    char err[1024];
    ssc *c = NULL;
    int rc = 0;
    if (!strcmp(cmd, "start") || !strcmp(cmd, "stop") || !strcmp(cmd, "status") ||
        !strcmp(cmd, "ping") || !strcmp(cmd, "transcribe")) {
        if (!strcmp(cmd, "start") && nfiles == 1) {
            if (num(files[0], &o.daemon_timeout)) goto badf;
            nfiles = 0;
        }
        if (strcmp(cmd, "transcribe") ? nfiles != 0 : nfiles == 0) goto badf;
        if (ssc_open(&c, &o, err, sizeof err) != 0) {
            fprintf(stderr, "session_client: %s\n", err);
            free(files);
            return 111;
        }
    } else {
        goto badf;
    }

    if (!strcmp(cmd, "status")) {
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
        rc = pid > 0 ? 0 : 3;
    } else if (!strcmp(cmd, "start")) {
        pid_t before = ssc_daemon_pid(c);
        int r = ssc_ensure_daemon(c, err, sizeof err);
        if (r != 0) { fprintf(stderr, "session_client: %s\n", err); rc = r == SSC_TIMEOUT ? 2 : 111; }
        else if (before > 0) printf("session_daemon already running (pid %ld)\n", (long)before);
        else printf("session_daemon started (pid %ld)\n", (long)ssc_daemon_pid(c));
    } else if (!strcmp(cmd, "stop")) {
        pid_t pid = ssc_daemon_pid(c);
        int r = ssc_stop(c, 60, err, sizeof err);
        if (r != 0) { fprintf(stderr, "session_client: %s\n", err); rc = r == SSC_TIMEOUT ? 2 : 111; }
        else if (pid > 0) printf("session_daemon (pid %ld) stopped\n", (long)pid);
        else printf("no session_daemon running\n");
    } else if (!strcmp(cmd, "ping")) {
        pid_t pid = ssc_daemon_pid(c);
        char id[SS_ID_MAX + 1];
        json_t *resp = NULL;
        double t0 = ss_mono_now();
        if (pid <= 0) {
            fprintf(stderr, "session_client: no session_daemon running\n");
            rc = 3;
        } else if (ssc_submit_ping(c, id, err, sizeof err) != 0) {
            fprintf(stderr, "session_client: %s\n", err);
            rc = 111;
        } else {
            ssc_opts o2 = o;
            (void)o2;
            int r = ssc_wait(c, id, timeout < 30 ? timeout : 5, &resp, err, sizeof err);
            if (r != 0) { fprintf(stderr, "session_client: %s\n", err); rc = r == SSC_TIMEOUT ? 2 : 111; }
            else if (json_out) { char *s = json_dumps(resp, JSON_COMPACT); puts(s ? s : "{}"); free(s); }
            else printf("pong from pid %ld in %.1f ms\n", (long)pid, (ss_mono_now() - t0) * 1000);
            json_decref(resp);
        }
    } else {   /* transcribe: submit all, then collect in order */
        char (*ids)[SS_ID_MAX + 1] = calloc((size_t)nfiles, sizeof *ids);
        int *sent = calloc((size_t)nfiles, sizeof *sent);
        if (!ids || !sent) { rc = 111; goto tdone; }
        if (o.autostart) {
            int r = ssc_ensure_daemon(c, err, sizeof err);
            if (r != 0) { fprintf(stderr, "session_client: %s\n", err); rc = r == SSC_TIMEOUT ? 2 : 111; goto tdone; }
        }
        for (int i = 0; i < nfiles; i++) {
            char abs[PATH_MAX];
            if (!realpath(files[i], abs)) {
                fprintf(stderr, "session_client: %s: %s\n", files[i], strerror(errno));
                rc = 1;
                continue;
            }
            if (ssc_submit_ex(c, abs, &ro, ids[i], err, sizeof err) != 0) {
                fprintf(stderr, "session_client: %s\n", err);
                rc = 111;
                continue;
            }
            sent[i] = 1;
        }
        for (int i = 0; i < nfiles; i++) {
            if (!sent[i]) continue;
            json_t *resp = NULL;
            int r = ssc_wait(c, ids[i], timeout, &resp, err, sizeof err);
            if (r != 0) {
                fprintf(stderr, "session_client: %s: %s\n", files[i], err);
                if (rc == 0) rc = r == SSC_TIMEOUT ? 2 : 111;
                continue;
            }
            const json_t *e = json_object_get(resp, "error");
            if (json_out) {
                char *s = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(16));
                puts(s ? s : "{}");
                free(s);
            } else if (e) {
                const json_t *code = json_object_get(resp, "error_code");
                fprintf(stderr, "session_client: %s: %s (%s)\n", files[i],
                        json_is_string(e) ? json_string_value(e) : "error",
                        json_is_string(code) ? json_string_value(code) : "?");
            } else {
                char *t = ssc_results_text(resp);
                puts(t ? t : "");
                free(t);
            }
            if (e && rc == 0) rc = 1;
            json_decref(resp);
        }
    tdone:
        free(ids);
        free(sent);
    }
    fflush(stdout);
    ssc_free(c);
    free(files);
    return rc;
badf:
    free(files);
bad:
    usage(stderr);
    return 100;
}
