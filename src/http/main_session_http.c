/* session_http — HTTP front end of the session daemon (docs/http.md, issue 5).
 *
 *   POST /transcribe                 the spec's Flask wrapper: multipart field "audio";
 *                                    200 {"results": [...]}, 400 {"error": "No audio file"}
 *   POST /v1/audio/transcriptions    OpenAI's API (file, model, language, prompt,
 *   POST /v1/audio/translations      response_format, temperature, timestamp_granularities[])
 *   GET  /v1/models, /v1/models/ID   the one model the session serves
 *   GET  /health                     liveness of this server and of the daemon (no token)
 *
 * Each upload is streamed to a private file (0600, unique name, in a 0700 directory under
 * the spool root), sniffed (whitelisted containers only), handed to the session daemon as a
 * spool request through the session client library (which starts the daemon on demand), and
 * removed in the request-completed callback whatever happened. One model in memory — the
 * daemon's — serves every client.
 *
 * Threading: libmicrohttpd runs one thread per connection (bounded by --max-connections);
 * a handler blocks while the daemon works. Each thread borrows a session client (one ssc
 * per thread, as its header asks) from a small pool. Signals are taken by sigwait in main.
 * Exit codes: 0 clean stop, 100 usage, 111 system failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clients/session_client.h"
#include "session/ss_fs.h"
#include "session/ss_json.h"   /* SS_LANGUAGE_MAX, SS_PROMPT_MAX */
#include "http/sh_format.h"
#include "http/sh_upload.h"
#include "speech_audio.h"

#define UPLOAD_DIR "speech_session_http"
#define FIELD_MAX 8192            /* a non-file form field (prompt, model, ...) */
#define FORM_SLACK (64u << 10)    /* multipart overhead allowed beyond the file limit */
#define DISCARD_MAX (8ull << 20)  /* an unwanted body up to this size is read and dropped so
                                     the answer arrives (closing on unread data sends a RST
                                     that can destroy it); larger ones get the answer at once */
#define SNIFF_BYTES 64
#define POOL_MAX 64

static const char USAGE[] =
"usage: session_http [options]\n"
"  -l, --listen ADDR:PORT      address to serve (default 127.0.0.1:8080; numeric; PORT alone\n"
"                              means loopback; port 0 picks a free one, printed at start)\n"
"      --token TOKEN           require \"Authorization: Bearer TOKEN\" (default\n"
"                              $SPEECH_SESSION_HTTP_TOKEN; prefer the variable: argv is public)\n"
"      --max-upload SIZE       largest audio upload, bytes or with K/M/G (default 25M)\n"
"      --max-uploads N         uploads/transcriptions in flight at once; beyond: 503 (default 16)\n"
"      --max-connections N     open connections (default 64)\n"
"      --idle-timeout S        close a connection silent for S seconds (default 30)\n"
"      --upload-timeout S      whole request body deadline (default 120)\n"
"      --transcribe-timeout S  wait for the daemon's answer (default 300; then 504)\n"
"  -m, --model PATH            model for a daemon this server starts (default: the daemon's)\n"
"      --daemon PATH           session_daemon to start (default $SPEECH_SESSION_DAEMON, else\n"
"                              next to this program, else from PATH)\n"
"      --daemon-timeout S      idle timeout of a daemon this server starts (default: its own)\n"
"      --no-autostart          never start a daemon (503 while none runs)\n"
"      --model-name NAME       model id announced by /v1/models (default whisper-1)\n"
"  -q, --quiet                 no per-request log lines on stderr\n"
"Environment: SPEECH_SESSION_ROOT (spool root, default /tmp; uploads go to\n"
"ROOT/" UPLOAD_DIR "/), SPEECH_SESSION_HTTP_TOKEN, SPEECH_SESSION_MODEL (the daemon's).\n"
"Exit codes: 0 clean stop, 100 usage, 111 system failure.\n";

/* ------------------------------------------------------------------ configuration */

static struct {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *token;
    unsigned long long max_upload;
    int max_uploads, max_conns;
    unsigned idle_timeout;
    double upload_timeout, transcribe_timeout;
    const char *model_name;
    int quiet;
    ssc_opts copts;
    char updir_path[4300];
    int updir;
} cfg;

static atomic_int in_flight;

static void logf_(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
{
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)            /* one event per line */
        if ((unsigned char)*p < 0x20) *p = '?';
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %ld %s %s\n", ts, now.tv_nsec / 1000000, (long)getpid(), level, msg);
}

/* ------------------------------------------------------------------ session clients */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static ssc *pool[POOL_MAX];
static int pool_n;

static ssc *client_get(char *err, size_t n)
{
    pthread_mutex_lock(&pool_mu);
    ssc *c = pool_n ? pool[--pool_n] : NULL;
    pthread_mutex_unlock(&pool_mu);
    if (!c && ssc_open(&c, &cfg.copts, err, n) != 0) return NULL;
    return c;
}

static void client_put(ssc *c)
{
    if (!c) return;
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_MAX) { pool[pool_n++] = c; c = NULL; }
    pthread_mutex_unlock(&pool_mu);
    ssc_free(c);
}

static void pool_free(void)
{
    pthread_mutex_lock(&pool_mu);
    while (pool_n) ssc_free(pool[--pool_n]);
    pthread_mutex_unlock(&pool_mu);
}

/* ------------------------------------------------------------------ per-request state */

enum route { R_NONE, R_HEALTH, R_MODELS, R_MODEL_ONE, R_TRANSCRIBE, R_OAI_TRANSCRIBE,
             R_OAI_TRANSLATE };

typedef struct {
    enum route route;
    int oai;                    /* OpenAI error shape */
    double t0;
    int slot;                   /* holds one of --max-uploads */
    struct MHD_PostProcessor *pp;
    unsigned long long body_bytes;
    /* the file part */
    const char *file_field;     /* "audio" or "file" */
    int file_seen, fd;
    char name[SH_UPLOAD_NAME_MAX];
    unsigned long long file_bytes;
    unsigned char head[SNIFF_BYTES];
    size_t head_len;
    /* other fields */
    char *model, *language, *prompt, *format, *temperature;
    int gran_word, gran_segment, gran_bad;
    /* a failure found while the body streamed in */
    int fail_status;
    char fail_msg[256];
    const char *fail_type, *fail_param, *fail_code;
    const char *const *fail_headers;
    int responded;
} req;

static void req_free(req *r)
{
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    if (r->fd >= 0) close(r->fd);
    if (r->name[0] && unlinkat(cfg.updir, r->name, 0) != 0 && errno != ENOENT)
        logf_("WARN", "cannot remove upload %s/%s: %s", cfg.updir_path, r->name, strerror(errno));
    if (r->slot) atomic_fetch_sub(&in_flight, 1);
    free(r->model); free(r->language); free(r->prompt); free(r->format); free(r->temperature);
    free(r);
}

static void req_fail(req *r, int status, const char *type, const char *param, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void req_fail(req *r, int status, const char *type, const char *param, const char *code,
                     const char *fmt, ...)
{
    if (r->fail_status) return;   /* the first failure is the one reported */
    r->fail_status = status;
    r->fail_type = type;
    r->fail_param = param;
    r->fail_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ responses */

static enum MHD_Result send_buf(struct MHD_Connection *con, req *r, int status,
                                const char *ctype, char *body, size_t len,
                                const char *const *headers)
{
    if (!body) {   /* out of memory building it */
        static const char oom[] = "{\"error\":\"out of memory\"}";
        body = strdup(oom);
        len = body ? strlen(body) : 0;
        status = 500;
        ctype = "application/json";
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE
                                                                          : MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(body); return MHD_NO; }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (int i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    enum MHD_Result ok = MHD_queue_response(con, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES && r) r->responded = status;
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *con, req *r, int status, char *body,
                                 const char *const *headers)
{
    return send_buf(con, r, status, "application/json", body, body ? strlen(body) : 0, headers);
}

/* An error in the shape of the route: OpenAI's {"error": {...}} under /v1/, the spec's
 * {"error": msg} elsewhere. */
static enum MHD_Result send_error(struct MHD_Connection *con, req *r, int status,
                                  const char *type, const char *param, const char *code,
                                  const char *msg, const char *const *headers)
{
    char *body = r && r->oai ? sh_openai_error(msg, type, param, code)
                             : sh_simple_error(msg, code);
    return send_json(con, r, status, body, headers);
}

static enum MHD_Result send_fail(struct MHD_Connection *con, req *r)
{
    static const char *const retry[] = { "Retry-After", "1", NULL };
    return send_error(con, r, r->fail_status, r->fail_type, r->fail_param, r->fail_code,
                      r->fail_msg, r->fail_headers ? r->fail_headers
                                   : r->fail_status == 503 ? retry : NULL);
}

/* Rejects an upload request on its first call: at once when it has no body or a large
 * declared one, else after reading and dropping the body (see DISCARD_MAX). */
static enum MHD_Result reject_upload(struct MHD_Connection *con, req *r)
{
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
    if ((cl && n == 0) || (!cl && !te) || n > DISCARD_MAX) return send_fail(con, r);
    /* a client waiting for "100 Continue" has sent no body yet: answer instead */
    if (expect && strcasecmp(expect, "100-continue") == 0) return send_fail(con, r);

    return MHD_YES;
}

/* ------------------------------------------------------------------ the form */

static int field_set(char **dst, const char *data, uint64_t off, size_t size)
{
    size_t have = *dst ? strlen(*dst) : 0;
    if (off != have || have + size > FIELD_MAX) return -1;
    char *s = realloc(*dst, have + size + 1);
    if (!s) return -1;
    memcpy(s + have, data, size);
    s[have + size] = 0;
    if (strlen(s) != have + size) { free(s); *dst = NULL; return -1; }   /* a NUL inside */
    *dst = s;
    return 0;
}

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    req *r = cls;
    if (r->fail_status) return MHD_NO;
    if (!key) return MHD_YES;
    if (strcmp(key, r->file_field) == 0 && filename) {
        if (r->file_seen && off == 0 && r->file_bytes > 0) {   /* a second file part */
            req_fail(r, 400, "invalid_request_error", r->file_field, "duplicate_file",
                     "more than one '%s' file in the form", r->file_field);
            return MHD_NO;
        }
        if (!r->file_seen) {
            r->file_seen = 1;
            r->fd = sh_upload_create(cfg.updir, r->name);
            if (r->fd < 0) {
                r->name[0] = 0;
                logf_("ERROR", "cannot create an upload file in %s: %s", cfg.updir_path,
                      strerror(errno));
                req_fail(r, 500, "server_error", NULL, "upload_storage",
                         "cannot store the upload");
                return MHD_NO;
            }
        }
        if (r->file_bytes + size > cfg.max_upload) {
            req_fail(r, 413, "invalid_request_error", r->file_field, "file_too_large",
                     "audio file larger than the limit of %llu bytes", cfg.max_upload);
            return MHD_NO;
        }
        if (r->head_len < SNIFF_BYTES) {
            size_t k = SNIFF_BYTES - r->head_len < size ? SNIFF_BYTES - r->head_len : size;
            memcpy(r->head + r->head_len, data, k);
            r->head_len += k;
        }
        if (size && sh_write_all(r->fd, data, size) != 0) {
            logf_("ERROR", "cannot write upload %s: %s", r->name, strerror(errno));
            req_fail(r, 500, "server_error", NULL, "upload_storage", "cannot store the upload");
            return MHD_NO;
        }
        r->file_bytes += size;
        return MHD_YES;
    }
    if (strcmp(key, "timestamp_granularities[]") == 0 ||
        strcmp(key, "timestamp_granularities") == 0) {
        /* repeated field: each value arrives whole (they are short) */
        if (off != 0 || size > 16) { r->gran_bad = 1; return MHD_YES; }
        if (size == 4 && memcmp(data, "word", 4) == 0) r->gran_word = 1;
        else if (size == 7 && memcmp(data, "segment", 7) == 0) r->gran_segment = 1;
        else if (size) r->gran_bad = 1;
        return MHD_YES;
    }
    /* the other known fields; names as literals (key is the library's, for this call only) */
    static const char *const names[] = { "model", "language", "prompt", "response_format",
                                         "temperature" };
    char **const dsts[] = { &r->model, &r->language, &r->prompt, &r->format, &r->temperature };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(key, names[i]) != 0) continue;
        if (field_set(dsts[i], data, off, size) != 0) {
            req_fail(r, 400, "invalid_request_error", names[i], "invalid_value",
                     "form field '%s' is malformed or longer than %d bytes", names[i],
                     FIELD_MAX);
            return MHD_NO;
        }
        break;
    }
    return MHD_YES;   /* unknown fields are ignored, as OpenAI does */
}

/* ------------------------------------------------------------------ routes */

static enum MHD_Result do_health(struct MHD_Connection *con, req *r)
{
    char err[256];
    ssc *c = client_get(err, sizeof err);
    pid_t pid = c ? ssc_daemon_pid(c) : -1;
    client_put(c);
    json_t *o = json_object(), *d = json_object();
    if (!o || !d) { json_decref(o); json_decref(d); return send_json(con, r, 500, NULL, NULL); }
    json_object_set_new(o, "status", json_string(c ? "ok" : "degraded"));
    json_object_set_new(d, "running", json_boolean(pid > 0));
    json_object_set_new(d, "pid", pid > 0 ? json_integer(pid) : json_null());
    json_object_set_new(d, "autostart", json_boolean(cfg.copts.autostart));
    json_object_set_new(o, "daemon", d);
    json_object_set_new(o, "uploads_in_flight", json_integer(atomic_load(&in_flight)));
    json_object_set_new(o, "max_uploads", json_integer(cfg.max_uploads));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return send_json(con, r, c ? 200 : 503, s, NULL);
}

static json_t *model_obj(void)
{
    json_t *m = json_object();
    if (!m) return NULL;
    json_object_set_new(m, "id", json_string(cfg.model_name));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(0));
    json_object_set_new(m, "owned_by", json_string("speech-session"));
    return m;
}

static enum MHD_Result do_models(struct MHD_Connection *con, req *r, const char *id)
{
    json_t *o;
    if (id) {
        if (strcmp(id, cfg.model_name) != 0) {
            char msg[320];
            snprintf(msg, sizeof msg, "The model '%.200s' does not exist", id);
            return send_error(con, r, 404, "invalid_request_error", "model", "model_not_found",
                              msg, NULL);
        }
        o = model_obj();
    } else {
        o = json_object();
        json_t *arr = json_array();
        if (o && arr) {
            json_array_append_new(arr, model_obj());
            json_object_set_new(o, "object", json_string("list"));
            json_object_set_new(o, "data", arr);
        } else {
            json_decref(arr);
        }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return send_json(con, r, 200, s, NULL);
}

static double now_mono(void) { return ss_mono_now(); }

/* src with every occurrence of secret replaced by "the upload" */
static void redact(char *dst, size_t n, const char *src, const char *secret)
{
    size_t sl = strlen(secret), k = 0;
    while (*src && k + 1 < n) {
        if (sl && strncmp(src, secret, sl) == 0) {
            k += (size_t)snprintf(dst + k, n - k, "the upload");
            if (k >= n) k = n - 1;
            src += sl;
        } else {
            dst[k++] = *src++;
        }
    }
    dst[k] = 0;
}

static int utf8_ok(const char *s)
{
    json_t *j = json_string(s);   /* jansson validates UTF-8 */
    json_decref(j);
    return j != NULL;
}

/* Hands the finished upload to the daemon and answers. */
static enum MHD_Result do_transcribe(struct MHD_Connection *con, req *r)
{
    char msg[640];
    if (!r->file_seen) {
        if (!r->oai) return send_error(con, r, 400, NULL, NULL, NULL, "No audio file", NULL);
        return send_error(con, r, 400, "invalid_request_error", "file", "missing_file",
                          "you must provide a 'file' (multipart/form-data file part)", NULL);
    }
    sh_fmt fmt = SH_FMT_JSON;
    ssc_req_opts ro = { 0 };   /* /transcribe (the spec's wrapper) sends a plain request */
    if (r->oai) {
        if (!r->model || !r->model[0])
            return send_error(con, r, 400, "invalid_request_error", "model", "missing_model",
                              "you must provide a model parameter", NULL);
        if (sh_fmt_parse(r->format, &fmt) != 0) {
            snprintf(msg, sizeof msg, "'%.100s' is not one of ['json', 'text', 'srt', "
                     "'verbose_json', 'vtt'] - 'response_format'", r->format);
            return send_error(con, r, 400, "invalid_request_error", "response_format",
                              "invalid_value", msg, NULL);
        }
        if (r->temperature && r->temperature[0]) {
            char *end;
            double t = strtod(r->temperature, &end);
            if (*end || !(t >= 0 && t <= 1))
                return send_error(con, r, 400, "invalid_request_error", "temperature",
                                  "invalid_value", "temperature must be a number in [0, 1]", NULL);
            ro.has_temperature = 1;
            ro.temperature = t;
        }
        /* the daemon's limits, said in OpenAI's shape with the right param */
        if (r->language && r->language[0]) {
            if (strlen(r->language) > SS_LANGUAGE_MAX || !utf8_ok(r->language))
                return send_error(con, r, 400, "invalid_request_error", "language",
                                  "invalid_value", "language must be an ISO-639-1 code such "
                                  "as 'en'", NULL);
            ro.language = r->language;
        }
        if (r->prompt && r->prompt[0]) {
            if (strlen(r->prompt) > SS_PROMPT_MAX || !utf8_ok(r->prompt))
                return send_error(con, r, 400, "invalid_request_error", "prompt",
                                  "invalid_value", "prompt must be valid UTF-8 of at most "
                                  "4096 bytes", NULL);
            ro.prompt = r->prompt;
        }
        ro.task_translate = r->route == R_OAI_TRANSLATE;
        if (r->gran_bad)
            return send_error(con, r, 400, "invalid_request_error", "timestamp_granularities",
                              "invalid_value",
                              "timestamp_granularities[] values must be 'segment' or 'word'", NULL);
        if ((r->gran_word || r->gran_segment) && fmt != SH_FMT_VERBOSE)
            return send_error(con, r, 400, "invalid_request_error", "timestamp_granularities",
                              "invalid_value",
                              "timestamp_granularities requires response_format=verbose_json",
                              NULL);
        if (r->gran_word)
            return send_error(con, r, 400, "invalid_request_error", "timestamp_granularities",
                              "unsupported_value",
                              "word timestamps are not available from the session daemon; "
                              "ask for 'segment'", NULL);
    }
    if (r->file_bytes == 0)
        return send_error(con, r, 400, "invalid_request_error", r->oai ? "file" : NULL,
                          r->oai ? "empty_file" : "empty_file", "the audio file is empty", NULL);
    if (!sp_audio_sniff(r->head, r->head_len))
        return send_error(con, r, 400, "invalid_request_error", r->oai ? "file" : NULL,
                          "invalid_file_format",
                          "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', "
                          "'mp4', 'ogg', 'wav', 'webm']", NULL);
    if (close(r->fd) != 0) {
        r->fd = -1;
        return send_error(con, r, 500, "server_error", NULL, "upload_storage",
                          "cannot store the upload", NULL);
    }
    r->fd = -1;

    char path[4400], err[512] = "", id[SS_ID_MAX + 1];
    snprintf(path, sizeof path, "%s/%s", cfg.updir_path, r->name);
    ssc *c = client_get(err, sizeof err);
    if (!c) {
        logf_("ERROR", "session client: %s", err);
        return send_error(con, r, 503, "server_error", NULL, "daemon_unavailable",
                          "the transcription daemon is unavailable", NULL);
    }
    int rc = cfg.copts.autostart ? ssc_ensure_daemon(c, err, sizeof err) : 0;
    if (rc == 0 && !cfg.copts.autostart && ssc_daemon_pid(c) <= 0) {
        snprintf(err, sizeof err, "no session daemon is running (autostart is off)");
        rc = -1;
    }
    if (rc != 0) {
        client_put(c);
        logf_("ERROR", "daemon: %s", err);
        return send_error(con, r, 503, "server_error", NULL, "daemon_unavailable",
                          "the transcription daemon is unavailable", NULL);
    }
    json_t *resp = NULL;
    rc = ssc_submit_ex(c, path, r->oai ? &ro : NULL, id, err, sizeof err);
    if (rc == 0) rc = ssc_wait(c, id, cfg.transcribe_timeout, &resp, err, sizeof err);
    client_put(c);
    if (rc == SSC_TIMEOUT) {
        logf_("ERROR", "daemon: %s", err);
        return send_error(con, r, 504, "server_error", NULL, "timeout",
                          "the transcription daemon did not answer in time", NULL);
    }
    if (rc != 0) {
        logf_("ERROR", "daemon: %s", err);
        return send_error(con, r, 502, "server_error", NULL, "daemon_error",
                          "the transcription daemon failed", NULL);
    }
    const json_t *e = json_object_get(resp, "error");
    if (e) {
        const char *code = json_string_value(json_object_get(resp, "error_code"));
        const char *type;
        int status = sh_daemon_error_status(code, &type);
        /* the daemon's message names our private path: keep that out of the answer */
        const char *m = json_string_value(e);
        redact(msg, sizeof msg, m ? m : "transcription failed", path);
        logf_("WARN", "daemon answered %s: %s", code ? code : "?", m ? m : "");
        /* bad_request here can only be an option the daemon refused (an unknown language
         * code: the rest is checked above) */
        const char *param = code && !strcmp(code, "bad_request") && ro.language ? "language"
                                                                                 : NULL;
        enum MHD_Result ok = send_error(con, r, status, type, param, code, msg, NULL);
        json_decref(resp);
        return ok;
    }
    if (!r->oai) {   /* the spec's Flask wrapper: jsonify({'results': results}) */
        json_t *o = json_object();
        json_t *res = json_object_get(resp, "results");
        if (o) json_object_set_new(o, "results", json_is_array(res) ? json_incref(res) : json_array());
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        json_decref(resp);
        return send_json(con, r, 200, s, NULL);
    }
    /* OpenAI formats; srt/vtt/verbose_json need times: from the daemon when it gives
     * segments, else estimated over the audio's duration (decoded here) */
    double duration = 0;
    int need_times = fmt == SH_FMT_SRT || fmt == SH_FMT_VTT || fmt == SH_FMT_VERBOSE;
    if (need_times && !json_is_array(json_object_get(resp, "segments")) &&
        !json_is_number(json_object_get(resp, "duration"))) {
        float *pcm = NULL;
        size_t n = 0;
        if (sp_audio_load(path, SP_AUDIO_NOFOLLOW | SP_AUDIO_OWNER_ONLY | SP_AUDIO_ABSOLUTE,
                          0, &pcm, &n, NULL, err, sizeof err) == SP_OK)
            duration = (double)n / SP_AUDIO_RATE;
        free(pcm);
    }
    sh_transcript t;
    int bad = sh_transcript_from_response(resp, duration, &t);
    json_decref(resp);
    if (bad) return send_json(con, r, 500, NULL, NULL);
    size_t len = 0;
    char *body = sh_render(fmt, &t, r->route == R_OAI_TRANSLATE ? "translate" : "transcribe", &len);
    /* language, prompt and temperature are honoured (passed to the daemon per request), so
     * no X-Speech-Session-Ignored header is sent any more (docs/http.md) */
    const char *hdr[8];
    int k = 0;
    if (need_times) {
        hdr[k++] = "X-Speech-Session-Timing";
        hdr[k++] = t.estimated ? "estimated" : "exact";
    }
    hdr[k] = NULL;
    sh_transcript_deinit(&t);
    return send_buf(con, r, 200, sh_fmt_content_type(fmt), body, len, hdr);
}

/* ------------------------------------------------------------------ dispatch */

static int is_multipart(struct MHD_Connection *con)
{
    const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    return ct && strncasecmp(ct, "multipart/form-data", 19) == 0 && strstr(ct, "boundary=");
}

/* A rejection decided on the first call (see reject_upload). */
static enum MHD_Result reject(struct MHD_Connection *con, req *r, int status, const char *type,
                              const char *param, const char *code, const char *msg,
                              const char *const *headers)
{
    req_fail(r, status, type, param, code, "%s", msg);
    r->fail_headers = headers;
    return reject_upload(con, r);
}

static enum MHD_Result first_call(struct MHD_Connection *con, req *r, const char *url,
                                  const char *method)
{
    static const char *const allow_post[] = { "Allow", "POST", NULL };
    static const char *const allow_get[] = { "Allow", "GET, HEAD", NULL };
    static const char *const www_auth[] = { "WWW-Authenticate", "Bearer", NULL };
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_post = !strcmp(method, "POST");
    const char *model_id = NULL;
    r->oai = strncmp(url, "/v1/", 4) == 0;
    if (!strcmp(url, "/health")) r->route = R_HEALTH;
    else if (!strcmp(url, "/v1/models")) r->route = R_MODELS;
    else if (!strncmp(url, "/v1/models/", 11) && url[11]) { r->route = R_MODEL_ONE; model_id = url + 11; }
    else if (!strcmp(url, "/transcribe")) r->route = R_TRANSCRIBE;
    else if (!strcmp(url, "/v1/audio/transcriptions")) r->route = R_OAI_TRANSCRIBE;
    else if (!strcmp(url, "/v1/audio/translations")) r->route = R_OAI_TRANSLATE;
    if (r->route == R_NONE)
        return reject(con, r, 404, "invalid_request_error", NULL, "not_found",
                      "no such endpoint", NULL);
    int upload = r->route >= R_TRANSCRIBE;
    if (upload ? !is_post : !is_get)
        return reject(con, r, 405, "invalid_request_error", NULL, "method_not_allowed",
                      "method not allowed", upload ? allow_post : allow_get);
    if (r->route == R_HEALTH) return do_health(con, r);
    if (cfg.token) {
        const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        if (!sh_bearer_ok(auth, cfg.token))
            return reject(con, r, 401, "invalid_request_error", NULL, "invalid_api_key",
                          auth ? "Incorrect API key provided"
                               : "You didn't provide an API key (Authorization: Bearer)",
                          www_auth);
    }
    if (r->route == R_MODELS || r->route == R_MODEL_ONE) return do_models(con, r, model_id);
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > cfg.max_upload + FORM_SLACK) {
        char msg[128];
        snprintf(msg, sizeof msg, "request larger than the upload limit of %llu bytes",
                 cfg.max_upload);
        return reject(con, r, 413, "invalid_request_error", r->oai ? "file" : NULL,
                      "file_too_large", msg, NULL);
    }
    if (!is_multipart(con)) {
        if (!r->oai) return reject(con, r, 400, NULL, NULL, NULL, "No audio file", NULL);
        return reject(con, r, 400, "invalid_request_error", NULL, "invalid_content_type",
                      "Content-Type must be multipart/form-data", NULL);
    }
    if (atomic_fetch_add(&in_flight, 1) >= cfg.max_uploads) {
        atomic_fetch_sub(&in_flight, 1);
        return reject(con, r, 503, "server_error", NULL, "busy",
                      "too many uploads in progress; retry shortly", NULL);
    }
    r->slot = 1;
    r->file_field = r->oai ? "file" : "audio";
    r->pp = MHD_create_post_processor(con, 64 * 1024, form_iter, r);
    if (!r->pp)
        return reject(con, r, 400, "invalid_request_error", NULL, "invalid_content_type",
                      "malformed multipart/form-data request", NULL);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->fd = -1;
        r->t0 = now_mono();
        *con_cls = r;
        return first_call(con, r, url, method);
    }
    if (r->responded) {   /* answered on the first call; the body is not wanted */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        r->body_bytes += size;
        if (r->fail_status) {   /* rejected: drop the body, answer at its end (or close) */
            if (r->fd >= 0) { close(r->fd); r->fd = -1; }
            if (r->body_bytes > cfg.max_upload + FORM_SLACK + DISCARD_MAX ||
                now_mono() - r->t0 > cfg.upload_timeout)
                return MHD_NO;
            return MHD_YES;
        }
        if (!r->fail_status && now_mono() - r->t0 > cfg.upload_timeout)
            req_fail(r, 408, "invalid_request_error", NULL, "timeout",
                     "the upload took longer than %g s", cfg.upload_timeout);
        if (!r->fail_status && r->body_bytes > cfg.max_upload + FORM_SLACK)
            req_fail(r, 413, "invalid_request_error", NULL, "file_too_large",
                     "request larger than the upload limit of %llu bytes", cfg.max_upload);
        if (!r->fail_status && MHD_post_process(r->pp, upload_data, size) != MHD_YES &&
            !r->fail_status)
            req_fail(r, 400, "invalid_request_error", NULL, "invalid_multipart",
                     "malformed multipart/form-data body");
        if (r->fail_status && r->fd >= 0) { close(r->fd); r->fd = -1; }   /* stop storing */
        return MHD_YES;
    }
    /* the whole body is in */
    if (!r->fail_status && r->pp && MHD_post_process(r->pp, NULL, 0) != MHD_YES && !r->fail_status)
        req_fail(r, 400, "invalid_request_error", NULL, "invalid_multipart",
                 "malformed multipart/form-data body");
    if (r->fail_status) return send_fail(con, r);
    return do_transcribe(con, r);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    if (!cfg.quiet || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        const char *what = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "done"
                           : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timed out"
                           : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client went away"
                           : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                           : "aborted";
        static const char *const names[] = { "-", "/health", "/v1/models", "/v1/models/ID",
            "/transcribe", "/v1/audio/transcriptions", "/v1/audio/translations" };
        logf_("INFO", "request %s status=%d upload_bytes=%llu ms=%.1f %s", names[r->route],
              r->responded, r->file_bytes, (now_mono() - r->t0) * 1000.0, what);
    }
    req_free(r);
}

/* ------------------------------------------------------------------ main */

static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
    if (*end || v > (1ull << 40) / mul) return -1;
    *out = v * mul;
    return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static void *second_signal(void *arg)
{
    int sig;
    while (sigwait(arg, &sig) != 0) {}
    logf_("WARN", "second signal %d: exiting now", sig);
    _exit(0);
}

int main(int argc, char **argv)
{
    enum { O_TOKEN = 256, O_MAXUP, O_MAXUPS, O_MAXCONN, O_IDLE, O_UPTO, O_TRTO, O_DAEMON,
           O_DTO, O_NOAUTO, O_MNAME };
    static const struct option lo[] = {
        { "listen", required_argument, 0, 'l' }, { "token", required_argument, 0, O_TOKEN },
        { "max-upload", required_argument, 0, O_MAXUP },
        { "max-uploads", required_argument, 0, O_MAXUPS },
        { "max-connections", required_argument, 0, O_MAXCONN },
        { "idle-timeout", required_argument, 0, O_IDLE },
        { "upload-timeout", required_argument, 0, O_UPTO },
        { "transcribe-timeout", required_argument, 0, O_TRTO },
        { "model", required_argument, 0, 'm' }, { "daemon", required_argument, 0, O_DAEMON },
        { "daemon-timeout", required_argument, 0, O_DTO },
        { "no-autostart", no_argument, 0, O_NOAUTO },
        { "model-name", required_argument, 0, O_MNAME },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    char err[512];
    const char *listen = "127.0.0.1:8080";
    double v;
    cfg.max_upload = 25ull << 20;
    cfg.max_uploads = 16;
    cfg.max_conns = 64;
    cfg.idle_timeout = 30;
    cfg.upload_timeout = 120;
    cfg.transcribe_timeout = 300;
    cfg.model_name = "whisper-1";
    cfg.copts = ssc_default_opts();
    cfg.updir = -1;
    const char *tok = getenv("SPEECH_SESSION_HTTP_TOKEN");
    cfg.token = tok && *tok ? tok : NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "l:m:qh", lo, NULL)) != -1) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case O_TOKEN: cfg.token = *optarg ? optarg : NULL; break;
        case O_MAXUP:
            if (parse_size(optarg, &cfg.max_upload) || !cfg.max_upload) goto usage;
            break;
        case O_MAXUPS: if (parse_num(optarg, 1, 4096, &v)) goto usage; cfg.max_uploads = (int)v; break;
        case O_MAXCONN: if (parse_num(optarg, 1, 4096, &v)) goto usage; cfg.max_conns = (int)v; break;
        case O_IDLE: if (parse_num(optarg, 1, 86400, &v)) goto usage; cfg.idle_timeout = (unsigned)v; break;
        case O_UPTO: if (parse_num(optarg, 0.1, 86400, &cfg.upload_timeout)) goto usage; break;
        case O_TRTO: if (parse_num(optarg, 0.1, 86400, &cfg.transcribe_timeout)) goto usage; break;
        case 'm': cfg.copts.model = optarg; break;
        case O_DAEMON: cfg.copts.daemon_path = optarg; break;
        case O_DTO: if (parse_num(optarg, 0, 1e9, &cfg.copts.daemon_timeout)) goto usage; break;
        case O_NOAUTO: cfg.copts.autostart = 0; break;
        case O_MNAME: if (!*optarg) goto usage; cfg.model_name = optarg; break;
        case 'q': cfg.quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: goto usage;
        }
    }
    if (optind != argc) goto usage;
    if (sh_parse_listen(listen, &cfg.addr, &cfg.addr_len, err, sizeof err) != 0) {
        fprintf(stderr, "session_http: %s\n", err);
        return 100;
    }
    if (cfg.max_uploads > cfg.max_conns) cfg.max_uploads = cfg.max_conns;

    /* the private upload directory, next to the spool */
    umask(077);
    ss_paths paths;
    if (ss_paths_init(&paths, err, sizeof err) != 0) {
        fprintf(stderr, "session_http: %s\n", err);
        return 111;
    }
    int rootfd = open(paths.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        fprintf(stderr, "session_http: cannot open %s: %s\n", paths.root, strerror(errno));
        return 111;
    }
    cfg.updir = ss_dir_open(rootfd, UPLOAD_DIR, err, sizeof err);
    close(rootfd);
    if (cfg.updir < 0) {
        fprintf(stderr, "session_http: %s\n", err);
        return 111;
    }
    snprintf(cfg.updir_path, sizeof cfg.updir_path, "%s%s%s", paths.root,
             paths.root[strlen(paths.root) - 1] == '/' ? "" : "/", UPLOAD_DIR);
    int swept = sh_upload_sweep(cfg.updir);
    if (swept > 0) logf_("INFO", "removed %d uploads left by stopped servers", swept);

    /* signals: blocked here (so every thread inherits the mask), taken by sigwait below */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (cfg.addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&cfg.addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_conns,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg.idle_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "session_http: cannot listen on %s: %s\n", listen,
                errno ? strerror(errno) : "libmicrohttpd refused to start");
        close(cfg.updir);
        return 111;
    }
    const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[64] = "127.0.0.1";
    if (cfg.addr.ss_family == AF_INET6) {
        host[0] = '[';
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&cfg.addr)->sin6_addr, host + 1, 46);
        strcat(host, "]");
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&cfg.addr)->sin_addr, host, sizeof host);
    }
    int loopback = cfg.addr.ss_family == AF_INET
        ? (ntohl(((struct sockaddr_in *)&cfg.addr)->sin_addr.s_addr) >> 24) == 127
        : IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&cfg.addr)->sin6_addr);
    if (!loopback && !cfg.token)
        logf_("WARN", "listening beyond loopback without a token: anyone who can reach %s "
              "can use the model (set SPEECH_SESSION_HTTP_TOKEN)", host);
    /* the one stdout line: scripts started with port 0 read the port from it */
    printf("session_http listening on http://%s:%u\n", host, bi ? (unsigned)bi->port : 0u);
    fflush(stdout);
    logf_("INFO", "listening on http://%s:%u (token %s, max upload %llu bytes, %d uploads, "
          "%d connections)", host, bi ? (unsigned)bi->port : 0u, cfg.token ? "required" : "off",
          cfg.max_upload, cfg.max_uploads, cfg.max_conns);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    logf_("INFO", "signal %d: stopping once the requests in flight are answered", sig);
    pthread_t second;   /* a second signal exits at once (uploads are swept at next start) */
    if (pthread_create(&second, NULL, second_signal, &set) == 0) pthread_detach(second);
    MHD_socket ls = MHD_quiesce_daemon(d);   /* no new connections; in-flight ones finish */
    MHD_stop_daemon(d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    pool_free();
    close(cfg.updir);
    return 0;
usage:
    fputs(USAGE, stderr);
    return 100;
}
