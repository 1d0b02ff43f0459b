/* session_http — HTTP front end of the session daemon (docs/http.md, issue 5).
 *
 *   POST /transcribe                 the spec's Flask wrapper: multipart field "audio";
 *                                    200 {"results": [...]}, 400 {"error": "No audio file"}
 *   POST /v1/audio/transcriptions    OpenAI's API (file, model, language, prompt,
 *   POST /v1/audio/translations      response_format, temperature, timestamp_granularities[],
 *                                    languages[], keywords[] (as hotwords), stream
 *                                    (transcriptions: server-sent events), priority)
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
 * a handler (or a stream's content reader) blocks while the daemon works, watching the
 * client's socket: a client that leaves gets its daemon request cancelled in the
 * request-completed callback. Each thread borrows a session client (one ssc per thread, as
 * its header asks) from a small pool. Signals are taken by sigwait in main.
 * Exit codes: 0 clean stop, 100 usage, 111 system failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clients/session_client.h"
#include "session/ss_fs.h"
#include "session/ss_json.h"   /* SS_LANGUAGE_MAX, SS_PROMPT_MAX */
#include "session/ss_opt.h"
#include "http/sh_format.h"
#include "http/sh_guard.h"
#include "http/sh_multipart.h"
#include "http/sh_stream.h"
#include "http/sh_upload.h"
#include "speech_audio.h"

#define UPLOAD_DIR "speech_session_http"
#define FIELD_MAX 8192            /* a non-file form field (model, language, ...) */
#define PROMPT_FIELD_MAX (256u << 10)   /* prompt: a chunking client's last transcript (its tail is kept) */
#define FORM_SLACK (64u << 10)    /* multipart overhead allowed beyond the file limit */
#define LATE_GRACE 2.0            /* s past --upload-timeout a late body may take to end, its
                                     bytes dropped, to be answered 408 rather than closed */
#define DISCARD_MAX (8ull << 20)  /* an unwanted body up to this size is read and dropped so
                                     the answer arrives (closing on unread data sends a RST
                                     that can destroy it); larger ones get the answer at once */
#define SLOW_BODY_AGE 2.0         /* s: with every upload slot taken, the slowest body at */
#define SLOW_BODY_RATE 16384.0    /* under this many bytes/s after this long gives way */
#define POOL_MAX 64
#define CANCEL_WAIT 10.0          /* s: a cancelled request's answers are awaited and deleted */
#define KEEPALIVE_MAX 15.0        /* s: an SSE comment at least this often while a stream waits */

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
"      --header-timeout S      a request's headers must arrive within S seconds (default 10)\n"
"      --upload-timeout S      whole request body deadline (default 120)\n"
"      --max-connections-per-ip N  open connections from one address (default: half of\n"
"                              --max-connections)\n"
"      --transcribe-timeout S  wait for the daemon's answer (default 300; then 504)\n"
"  -m, --model PATH            model for a daemon this server starts (default: the daemon's)\n"
"      --daemon PATH           session_daemon to start (default $SPEECH_SESSION_DAEMON, else\n"
"                              next to this program, else from PATH)\n"
"      --daemon-timeout S      idle timeout of a daemon this server starts (default: its own)\n"
"      --max-audio-seconds S   longest audio a daemon this server starts takes (default: its\n"
"                              own, 3600; beyond: 413 audio_too_long; the engine stops at 4 h)\n"
"      --device D              device of a daemon this server starts: auto, cpu, cuda (or gpu), cuda:N\n"
"                              (default $SPEECH_SESSION_DEVICE, else auto)\n"
"      --compute C             CPU products of a daemon this server starts: auto, int8, exact\n"
"                              (default $SPEECH_SESSION_COMPUTE, else auto)\n"
"      --vad                   a daemon this server starts drops non-speech before decoding\n"
"                              (its energy detector, or $SPEECH_SESSION_VAD_MODEL's Silero)\n"
"      --vad-model PATH        ... with this Silero VAD file, ggml or ONNX (implies --vad)\n"
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
    int max_uploads, max_conns, max_conns_ip;
    unsigned idle_timeout;
    double header_timeout, upload_timeout, transcribe_timeout;
    const char *model_name;
    int quiet;
    ssc_opts copts;
    char vad_model[PATH_MAX];   /* --vad-model made absolute (copts.vad_model points here) */
    char updir_path[4300];
    int updir;
} cfg;

static atomic_int in_flight;
static atomic_int stopping;   /* SIGTERM: a kept-alive connection's next upload gets a 503 */
static sh_guard *guard;   /* deadlines of slow connections (sh_guard.h) */

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

/* ------------------------------------------------------------------ slow clients */

/* Each connection is listed with the guard from accept to close, by its socket. */
static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? sh_guard_add(guard, ci->connect_fd) : NULL;
    } else {   /* CLOSED: called before libmicrohttpd closes the socket */
        sh_guard_remove(guard, *socket_context);
        *socket_context = NULL;
    }
}

static sh_guard_conn *conn_guard(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_phase(struct MHD_Connection *con, sh_phase p)
{
    sh_guard_phase(guard, conn_guard(con), p);
}

/* ------------------------------------------------------------------ per-request state */

enum route { R_NONE, R_HEALTH, R_MODELS, R_MODEL_ONE, R_TRANSCRIBE, R_OAI_TRANSCRIBE,
             R_OAI_TRANSLATE };

typedef struct {
    enum route route;
    int oai;                    /* OpenAI error shape */
    double t0;
    int slot;                   /* holds one of --max-uploads */
    int deferred;               /* GET/HEAD: routed once the request is whole (keep-alive) */
    sh_mp *mp;                  /* the form parser, once the body is wanted */
    unsigned long long body_bytes;
    /* the file part */
    const char *file_field;     /* "audio" or "file" */
    int file_seen, fd;
    char name[SH_UPLOAD_NAME_MAX];
    unsigned long long file_bytes;
    /* other fields */
    char *model, *language, *prompt, *format, *temperature, *stream, *hotwords, *audio_ctx,
         *priority;
    char *languages;            /* every "languages" and "languages[]" part (the SDKs' arrays),
                                 * joined with commas */
    char *keywords;             /* every "keywords" and "keywords[]" part, joined with ", " */
    int gran_word, gran_segment, gran_bad;
    /* the part being read */
    enum { P_IGNORE, P_FILE, P_FIELD, P_GRAN } part;
    size_t part_len;
    char **field;               /* P_FIELD: where its value goes */
    const char *field_name;
    char gran[8];
    /* a failure found while the body streamed in */
    int fail_status;
    char fail_msg[256];
    const char *fail_type, *fail_param, *fail_code;
    const char *const *fail_headers;
    int responded;
    int answered_raw;           /* answered mid-body on the socket (send_fail_now) */
    /* the daemon's side, once the upload is handed over */
    int sock;                   /* the client's socket: a hang-up cancels (ssc_wait_step) */
    sh_fmt fmt;
    int lang_given;             /* a daemon bad_request then names "language" */
    int langs_given;            /* ... or "languages" (a code the daemon's model lacks) */
    char path[4400];            /* the upload's path, kept out of error messages */
    ssc *c;                     /* borrowed from the pool until the answer is read */
    char id[SS_ID_MAX + 1];     /* the daemon request not yet answered: cancelled if the
                                   client goes (on_completed); "" once its answer is read */
    double deadline;            /* of the daemon's answer (--transcribe-timeout) */
    sh_stream *st;              /* stream=true: the events */
    char warn[300];             /* the daemon's "warning" (resp_warning), "" none */
    double last_out;            /* when the stream last sent bytes (keep-alive comments) */
} req;

/* cfg.updir: replaced by updir_recheck while other connections' threads create and remove
 * uploads in it, so each of those calls holds this (an fd closed under a thread's openat
 * could be another file's by then) */
static pthread_mutex_t updir_mu = PTHREAD_MUTEX_INITIALIZER;
static int updir_open(char *err, size_t n, char *path, size_t path_size);

/* The upload directory again if it was removed or replaced (a /tmp cleaner, T5): every upload
 * had failed ("upload_storage", 500) until the server was restarted. updir_mu held. */
static void updir_recheck(void)
{
    struct stat named, opened;
    if (lstat(cfg.updir_path, &named) == 0 && fstat(cfg.updir, &opened) == 0 && named.st_ino == opened.st_ino &&
        named.st_dev == opened.st_dev)
        return;
    char err[512];
    const int fd = updir_open(err, sizeof err, NULL, 0);   /* the path is the same: not rewritten
                                                                 * under readers that do not lock */
    if (fd < 0) {
        logf_("ERROR", "the upload directory %s is gone and cannot be made again: %s", cfg.updir_path, err);
        return;
    }
    logf_("WARN", "the upload directory %s was removed or replaced: made again", cfg.updir_path);
    close(cfg.updir);
    cfg.updir = fd;
}

static void req_free(req *r)
{
    if (!r) return;
    free(r->mp);
    if (r->fd >= 0) close(r->fd);
    pthread_mutex_lock(&updir_mu);
    if (r->name[0] && unlinkat(cfg.updir, r->name, 0) != 0 && errno != ENOENT)
        logf_("WARN", "cannot remove upload %s/%s: %s", cfg.updir_path, r->name, strerror(errno));
    pthread_mutex_unlock(&updir_mu);
    if (r->slot) atomic_fetch_sub(&in_flight, 1);
    free(r->model); free(r->language); free(r->prompt); free(r->hotwords); free(r->audio_ctx); free(r->format); free(r->temperature);
    free(r->languages);
    free(r->keywords);
    free(r->stream); free(r->priority);
    sh_stream_free(r->st);
    client_put(r->c);
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

/* A failure answered in the middle of a body, at once. libmicrohttpd cannot queue a response
 * while it delivers upload data (MHD_queue_response refuses it there: microhttpd.h, "The
 * response cannot be queued when this callback is called to process the client upload
 * data"), and returning MHD_NO closes the connection without a word, so the answer is
 * written on the socket here, by the connection's own thread (thread per connection: nothing
 * else writes to it, and no response will be queued after this), in the form
 * libmicrohttpd gives the others, with "Connection: close"; then the write side is shut, so
 * a client reading while it sends sees the whole answer and stops. The rest of the body is
 * read and dropped up to DISCARD_MAX, as a rejected one, so that the close does not reset
 * the connection under a client that reads only after sending; then the connection is
 * closed. 0, or -1 when nothing could be written. */
static int send_fail_now(req *r)
{
    static const char *const retry[] = { "Retry-After", "1", NULL };
    const char *const *hdr = r->fail_headers ? r->fail_headers
                             : r->fail_status == 503 ? retry : NULL;
    char *body = r->oai ? sh_openai_error(r->fail_msg, r->fail_type, r->fail_param, r->fail_code)
                        : sh_simple_error(r->fail_msg, r->fail_code);
    if (!body || r->sock < 0) { free(body); return -1; }
    char date[64], extra[512] = "";
    time_t t = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&t, &tm));
    for (size_t i = 0, k = 0; hdr && hdr[i] && k < sizeof extra; i += 2)
        k += (size_t)snprintf(extra + k, sizeof extra - k, "%s: %s\r\n", hdr[i], hdr[i + 1]);
    const char *phrase = MHD_get_reason_phrase_for((unsigned)r->fail_status);
    char *msg = NULL;
    const int n = asprintf(&msg, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                           "Cache-Control: no-store\r\n%sContent-Length: %zu\r\n\r\n%s",
                           r->fail_status, phrase ? phrase : "Error", date, extra, strlen(body), body);
    int rc = n > 0 ? 0 : -1;
    for (size_t off = 0; rc == 0 && off < (size_t)n;) {
        ssize_t w = send(r->sock, msg + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        struct pollfd pf = { .fd = r->sock, .events = POLLOUT };   /* a non-blocking socket: wait */
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && poll(&pf, 1, 5000) > 0) continue;
        rc = -1;
    }
    if (n > 0) free(msg);
    free(body);
    if (rc == 0) {
        shutdown(r->sock, SHUT_WR);
        r->responded = r->fail_status;
        r->answered_raw = 1;
    }
    return rc;
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

/* The form arrives through sh_multipart's callbacks, one part at a time: part_begin says
 * what the part is for, part_data stores it, part_end checks it. Unknown fields are
 * ignored, as OpenAI does; a field sent twice keeps its last value. */

static int file_begin(req *r)
{
    if (r->file_seen) {   /* a second file part */
        req_fail(r, 400, "invalid_request_error", r->file_field, "duplicate_file",
                 "more than one '%s' file in the form", r->file_field);
        return -1;
    }
    r->file_seen = 1;
    pthread_mutex_lock(&updir_mu);
    updir_recheck();
    r->fd = sh_upload_create(cfg.updir, r->name);
    pthread_mutex_unlock(&updir_mu);
    if (r->fd < 0) {
        r->name[0] = 0;
        logf_("ERROR", "cannot create an upload file in %s: %s", cfg.updir_path, strerror(errno));
        req_fail(r, 500, "server_error", NULL, "upload_storage", "cannot store the upload");
        return -1;
    }
    return 0;
}

static int part_data(void *ud, const char *data, size_t size);

/* A part of a list field (the SDKs send a list as "name[]" parts, a user may send one
 * "name"): appended to *dst after sep, so that none is dropped for another. */
static int list_begin(req *r, char **dst, const char *name, const char *sep)
{
    r->part = P_FIELD;
    r->field = dst;
    r->field_name = name;
    if (!*dst) return 0;
    r->part_len = strlen(*dst);
    return part_data(r, sep, strlen(sep));
}

static int part_begin(void *ud, const sh_mp_part *p)
{
    /* names as literals: p is the parser's, for this call only */
    static const char *const names[] = { "model", "language", "prompt", "response_format",
                                         "temperature", "stream", "hotwords", "audio_ctx",
                                         "priority" };
    req *r = ud;
    char **const dsts[] = { &r->model, &r->language, &r->prompt, &r->format, &r->temperature,
                            &r->stream, &r->hotwords, &r->audio_ctx, &r->priority };
    r->part = P_IGNORE;
    r->part_len = 0;
    if (strcmp(p->name, r->file_field) == 0) {
        /* a plain field named like the file is no file (Flask's request.files) */
        if (!p->has_filename) return 0;
        r->part = P_FILE;
        return file_begin(r);
    }
    if (strcmp(p->name, "timestamp_granularities[]") == 0 ||
        strcmp(p->name, "timestamp_granularities") == 0) {
        r->part = P_GRAN;
        return 0;
    }
    if (strcmp(p->name, "languages[]") == 0 || strcmp(p->name, "languages") == 0)
        return list_begin(r, &r->languages, "languages", ",");
    if (strcmp(p->name, "keywords[]") == 0 || strcmp(p->name, "keywords") == 0)
        return list_begin(r, &r->keywords, "keywords", ", ");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(p->name, names[i]) != 0) continue;
        free(*dsts[i]);
        *dsts[i] = NULL;
        r->part = P_FIELD;
        r->field = dsts[i];
        r->field_name = names[i];
        break;
    }
    return 0;
}

static int file_data(req *r, const char *data, size_t size)
{
    if (r->file_bytes + size > cfg.max_upload) {
        req_fail(r, 413, "invalid_request_error", r->file_field, "file_too_large",
                 "audio file larger than the limit of %llu bytes", cfg.max_upload);
        return -1;
    }
    if (sh_write_all(r->fd, data, size) != 0) {
        logf_("ERROR", "cannot write upload %s: %s", r->name, strerror(errno));
        req_fail(r, 500, "server_error", NULL, "upload_storage", "cannot store the upload");
        return -1;
    }
    r->file_bytes += size;
    return 0;
}

static int part_data(void *ud, const char *data, size_t size)
{
    req *r = ud;
    switch (r->part) {
    case P_FILE: return file_data(r, data, size);
    case P_GRAN:   /* "segment" or "word": longer is bad, keep only the length */
        if (r->part_len + size <= sizeof r->gran) memcpy(r->gran + r->part_len, data, size);
        r->part_len += size;
        return 0;
    case P_FIELD: {
        const size_t max = r->field == &r->prompt ? PROMPT_FIELD_MAX : FIELD_MAX;
        if (r->part_len + size > max || memchr(data, 0, size)) {
            if (r->mp && r->mp->bare_lf)   /* the parts after it ran into this field */
                req_fail(r, 400, "invalid_request_error", NULL, "invalid_multipart",
                         "malformed multipart/form-data body: %s", sh_mp_strerror(SH_MP_BARE_LF));
            else
                req_fail(r, 400, "invalid_request_error", r->field_name, "invalid_value",
                         "form field '%s' is malformed or longer than %zu bytes", r->field_name, max);
            return -1;
        }
        char *v = realloc(*r->field, r->part_len + size + 1);
        if (!v) {
            req_fail(r, 500, "server_error", NULL, "out_of_memory", "out of memory");
            return -1;
        }
        memcpy(v + r->part_len, data, size);
        r->part_len += size;
        v[r->part_len] = 0;
        *r->field = v;
        return 0;
    }
    default: return 0;
    }
}

static int part_end(void *ud)
{
    req *r = ud;
    if (r->part == P_FIELD && !*r->field) *r->field = strdup("");   /* sent, but empty */
    if (r->part != P_GRAN) return 0;
    size_t n = r->part_len;
    if (n == 4 && memcmp(r->gran, "word", 4) == 0) r->gran_word = 1;
    else if (n == 7 && memcmp(r->gran, "segment", 7) == 0) r->gran_segment = 1;
    else if (n) r->gran_bad = 1;
    return 0;
}

static const sh_mp_callbacks form_callbacks = { part_begin, part_data, part_end };

/* A failure of the multipart parser as the request's 400 (a callback's own is kept). */
static void form_failed(req *r, sh_mp_status st)
{
    if (st == SH_MP_OK || r->fail_status) return;
    req_fail(r, 400, "invalid_request_error", NULL,
             st == SH_MP_TRUNCATED ? "truncated_body" : "invalid_multipart",
             "malformed multipart/form-data body: %s", sh_mp_strerror(st));
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

/* src with every occurrence of secret replaced by "the upload" ("Audio file SECRET" at its
 * start by "Uploaded file") */
static void redact(char *dst, size_t n, const char *src, const char *secret)
{
    size_t sl = strlen(secret), k = 0;
    static const char lead[] = "Audio file ";   /* the daemon's "Audio file PATH: why" */
    if (sl && n > 0 && !strncmp(src, lead, sizeof lead - 1) &&
        !strncmp(src + sizeof lead - 1, secret, sl)) {
        k = (size_t)snprintf(dst, n, "Uploaded file");
        if (k >= n) k = n - 1;
        src += sizeof lead - 1 + sl;
    }
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

/* The stream field as the SDKs send a boolean: 1 true, 0 false or absent, -1 neither. */
static int stream_value(const char *v)
{
    if (!v || !*v || !strcasecmp(v, "false") || !strcmp(v, "0")) return 0;
    if (!strcasecmp(v, "true") || !strcmp(v, "1")) return 1;
    return -1;
}

/* A 400 for a bad form field, recorded for send_fail; always -1. */
static int bad(req *r, const char *param, const char *code, const char *msg)
{
    req_fail(r, 400, "invalid_request_error", param, code, "%s", msg);
    return -1;
}

/* stream, priority and timestamp_granularities[] (live dictation, issue 12; *fmt parsed):
 * 0, or -1 with the 400 recorded in r. */
static int live_fields(req *r, sh_fmt fmt, ssc_req_opts *ro)
{
    static const char gran[] = "timestamp_granularities";
    int stream = stream_value(r->stream);
    if (stream < 0) return bad(r, "stream", "invalid_value", "stream must be true or false");
    /* OpenAI's translations endpoint has no stream parameter: refused, never ignored */
    if (stream && r->route == R_OAI_TRANSLATE)
        return bad(r, "stream", "unsupported_value", "stream=true is not supported for "
                   "translations; ask without stream for the whole translation");
    /* as OpenAI: events carry text only, so the timed formats cannot stream */
    if (stream && fmt != SH_FMT_JSON && fmt != SH_FMT_TEXT)
        return bad(r, "response_format", "unsupported_value",
                   "stream=true needs response_format 'json' or 'text'");
    ro->stream = stream;
    /* OpenAI's clients are usually files handed over whole: batch unless told otherwise
     * (the key listener, a person waiting, sends its own requests as interactive) */
    ro->priority = "batch";
    if (r->priority && r->priority[0]) {
        if (strcmp(r->priority, "interactive") != 0 && strcmp(r->priority, "batch") != 0)
            return bad(r, "priority", "invalid_value",
                       "priority must be 'interactive' or 'batch'");
        ro->priority = r->priority;
    }
    if (r->gran_bad)
        return bad(r, gran, "invalid_value",
                   "timestamp_granularities[] values must be 'segment' or 'word'");
    /* as OpenAI (fedirz/faster-whisper-server's tests against its API): word timestamps
     * need verbose_json, "segment" alone is accepted in any format and changes nothing but
     * verbose_json (where segments are answered anyway) */
    if (r->gran_word && fmt != SH_FMT_VERBOSE)
        return bad(r, gran, "invalid_value",
                   "timestamp_granularities 'word' requires response_format=verbose_json");
    ro->word_timestamps = r->gran_word;
    return 0;
}

/* The OpenAI form fields into r->fmt and *ro: 0, or -1 with the 400 recorded in r. */
static int oai_fields(req *r, ssc_req_opts *ro)
{
    if (!r->model || !r->model[0])
        return bad(r, "model", "missing_model", "you must provide a model parameter");
    if (sh_fmt_parse(r->format, &r->fmt) != 0) {
        req_fail(r, 400, "invalid_request_error", "response_format", "invalid_value",
                 "'%.100s' is not one of ['json', 'text', 'srt', 'verbose_json', 'vtt'] - "
                 "'response_format'", r->format);
        return -1;
    }
    if (r->temperature && r->temperature[0]) {
        char *end;
        double t = strtod(r->temperature, &end);
        if (*end || !(t >= 0 && t <= 1))
            return bad(r, "temperature", "invalid_value", "temperature must be a number in [0, 1]");
        /* OpenAI: "If set to 0, the model will use log probability to automatically increase
         * the temperature until certain thresholds are hit" - 0 is its default, not a request
         * to turn the fallback off (clients such as Vercel's AI SDK send it whenever they send
         * anything), so 0 leaves the daemon's own setting (--temperature-fallback) */
        if (t > 0) {
            ro->has_temperature = 1;
            ro->temperature = t;
        }
    }
    /* the daemon's limits, said in OpenAI's shape with the right param */
    if (r->language && r->language[0]) {
        if (strlen(r->language) > SS_LANGUAGE_MAX || !utf8_ok(r->language))
            return bad(r, "language", "invalid_value",
                       "language must be an ISO-639-1 code such as 'en'");
        ro->language = r->language;
        r->lang_given = 1;
    }
    if (r->prompt && r->prompt[0]) {
        if (!utf8_ok(r->prompt)) return bad(r, "prompt", "invalid_value", "prompt must be valid UTF-8");
        /* OpenAI takes any length and the model "will only consider the final 224 tokens":
         * chunking clients send the last chunk's whole transcript. Its end is what counts,
         * so keep the last SS_PROMPT_MAX bytes, cut at a character's start */
        const size_t pl = strlen(r->prompt);
        size_t from = pl > SS_PROMPT_MAX ? pl - SS_PROMPT_MAX : 0;
        while (from < pl && ((unsigned char)r->prompt[from] & 0xC0) == 0x80) from++;
        ro->prompt = r->prompt + from;
    }
    /* words to favour: our hotwords (faster-whisper's), else OpenAI's keywords ("words or
     * phrases to guide transcription", a list), which are the same idea */
    const int hot = r->hotwords && r->hotwords[0];
    const char *words = hot ? r->hotwords : r->keywords, *wname = hot ? "hotwords" : "keywords";
    if (words && words[0]) {
        if (strlen(words) > SS_PROMPT_MAX || !utf8_ok(words))
            return bad(r, wname, "invalid_value",
                       hot ? "hotwords must be valid UTF-8 of at most 4096 bytes"
                           : "keywords must be valid UTF-8 of at most 4096 bytes in all");
        ro->hotwords = words;
    }
    if (r->audio_ctx && r->audio_ctx[0]) {   /* our extension: shorter encoder windows */
        char *end;
        long v = strtol(r->audio_ctx, &end, 10);
        if (!strcmp(r->audio_ctx, "auto")) ro->audio_ctx = SP_AUDIO_CTX_AUTO;
        else if (end != r->audio_ctx && !*end && v >= 1 && v <= 1500) ro->audio_ctx = (int)v;
        else return bad(r, "audio_ctx", "invalid_value", "audio_ctx must be 'auto' or an integer from 1 to 1500");
    }
    /* our extension: detection among these ("languages=en,de", or "languages[]" parts) */
    const char *langs = r->languages;
    if (langs && langs[0]) {
        if (sp_language_list(langs, NULL, 100, NULL) <= 0)
            return bad(r, "languages", "invalid_value", "languages must be Whisper language codes or English names such as 'en,de' or 'English,German'");
        ro->languages = langs;
        r->langs_given = 1;
    }
    ro->task_translate = r->route == R_OAI_TRANSLATE;
    return live_fields(r, r->fmt, ro);
}

/* Whether the stored upload starts like a container we decode, from its first
 * SP_AUDIO_SNIFF_BYTES read back from the file (an MP3 may start with other bytes: a piece
 * split off a file for the upload limit; the first 64 bytes alone had refused it). A read
 * error counts as known: the daemon's decode then says what is wrong. */
static int upload_sniffs(req *r)
{
    unsigned char *head = malloc(SP_AUDIO_SNIFF_BYTES);
    if (!head) return 1;
    ssize_t got = pread(r->fd, head, SP_AUDIO_SNIFF_BYTES, 0);
    int known = got < 0 || sp_audio_sniff(head, (size_t)got) != NULL;
    free(head);
    return known;
}

/* The upload checked (present, not empty, a known container) and closed: 0, or -1 with
 * the error in r (send_fail). */
static int upload_ready(req *r)
{
    if (!r->file_seen) {
        if (!r->oai) req_fail(r, 400, NULL, NULL, NULL, "No audio file");
        else req_fail(r, 400, "invalid_request_error", "file", "missing_file",
                      "you must provide a 'file' (multipart/form-data file part)");
        return -1;
    }
    if (r->file_bytes == 0)
        return bad(r, r->oai ? "file" : NULL, "empty_file", "the audio file is empty");
    if (!upload_sniffs(r))
        return bad(r, r->oai ? "file" : NULL, "invalid_file_format",
                   "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
                   "'ogg', 'wav', 'webm']");
    int rc = close(r->fd);
    r->fd = -1;
    if (rc != 0) {
        req_fail(r, 500, "server_error", NULL, "upload_storage", "cannot store the upload");
        return -1;
    }
    snprintf(r->path, sizeof r->path, "%s/%s", cfg.updir_path, r->name);
    return 0;
}

/* A session client with a live daemon, then the spool request: 0 with r->c and r->id, or
 * -1 with the error (503 no daemon, 502 the request could not be written) in r. */
static int submit(req *r, const ssc_req_opts *ro)
{
    char err[512] = "";
    r->c = client_get(err, sizeof err);
    int rc = r->c ? 0 : -1;
    if (rc == 0 && cfg.copts.autostart) rc = ssc_ensure_daemon(r->c, err, sizeof err);
    if (rc == 0 && !cfg.copts.autostart && ssc_daemon_pid(r->c) <= 0) {
        snprintf(err, sizeof err, "no session daemon is running (autostart is off)");
        rc = -1;
    }
    if (rc != 0) {
        logf_("ERROR", "daemon: %s", err);
        req_fail(r, 503, "server_error", NULL, "daemon_unavailable",
                 "the transcription daemon is unavailable");
        return -1;
    }
    if (ssc_submit_ex(r->c, r->path, ro, r->id, err, sizeof err) != 0) {
        r->id[0] = 0;   /* never written: nothing to cancel */
        rc = -1;
    } else if (ro && ro->stream && !(r->st = sh_stream_new(ssc_paths(r->c)->resp_dir, r->id))) {
        snprintf(err, sizeof err, "cannot follow the responses directory: %s", strerror(errno));
        rc = -1;   /* the request stays in r->id: on_completed cancels it */
    }
    if (rc != 0) {
        logf_("ERROR", "daemon: %s", err);
        req_fail(r, 502, "server_error", NULL, "daemon_error", "the transcription daemon failed");
        return -1;
    }
    r->deadline = now_mono() + cfg.transcribe_timeout;
    return 0;
}

/* Waits for the daemon's answer, watching the client's socket; with a stream, returns
 * SSC_PENDING as soon as the partial file gave a delta. Else as ssc_wait_step; the answer
 * read (or unreadable) clears r->id: nothing is left to cancel. */
static int await_answer(req *r, json_t **resp, char *err, size_t n)
{
    for (;;) {
        int rc = ssc_wait_step(r->c, r->id, r->deadline, 1.0, r->sock, resp, err, n);
        if (rc == 0 || rc == -1) r->id[0] = 0;
        if (rc != SSC_PENDING) return rc;
        if (r->st && sh_stream_tail(r->st) != 0) return SSC_PENDING;   /* a delta, or OOM */
    }
}

/* A daemon's error response, logged: its HTTP status, OpenAI type and code, and its
 * message with our private upload path replaced by "the upload" (into msg). */
static int daemon_error(const req *r, const json_t *resp, char msg[640], const char **type,
                        const char **code)
{
    *code = json_string_value(json_object_get(resp, "error_code"));
    int status = sh_daemon_error_status(*code, type);
    const char *m = json_string_value(json_object_get(resp, "error"));
    redact(msg, 640, m ? m : "transcription failed", r->path);
    logf_("WARN", "daemon answered %s: %s", *code ? *code : "?", m ? m : "");
    return status;
}

/* The daemon's error response in the route's error shape. */
static enum MHD_Result send_daemon_error(struct MHD_Connection *con, req *r, const json_t *resp)
{
    char msg[640];
    const char *type, *code;
    int status = daemon_error(r, resp, msg, &type, &code);
    /* bad_request here can only be an option the daemon refused (a language code its model
     * has no token for: the rest is checked above); its message says which field */
    const int br = code && !strcmp(code, "bad_request");
    const char *param = br && r->langs_given && strstr(msg, "languages") ? "languages"
                        : br && r->lang_given ? "language" : NULL;
    return send_error(con, r, status, type, param, code, msg, NULL);
}

/* The daemon's "warning" (a truncated file; an English-only model that did not do the
 * language or translation asked) into r->warn, visible ASCII only, and the log: OpenAI's
 * formats have no field for it, so a header says it (and a stream's done event). */
static void resp_warning(req *r, const json_t *resp)
{
    const json_t *wj = json_object_get(resp, "warning");
    r->warn[0] = 0;
    if (!json_is_string(wj)) return;
    const char *s = json_string_value(wj);
    size_t k = 0;
    for (; s[k] && k + 1 < sizeof r->warn; k++) r->warn[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
    r->warn[k] = 0;
    logf_("WARN", "%s", r->warn);
}

/* The daemon's successful response in the requested OpenAI format (consumes resp). */
static enum MHD_Result send_formatted(struct MHD_Connection *con, req *r, json_t *resp)
{
    char err[512];
    /* srt/vtt/verbose_json need times: from the daemon when it gives segments, else
     * estimated over the audio's duration (decoded here) */
    double duration = 0;
    int need_times = r->fmt == SH_FMT_SRT || r->fmt == SH_FMT_VTT || r->fmt == SH_FMT_VERBOSE;
    if (need_times && !json_is_array(json_object_get(resp, "segments")) &&
        !json_is_number(json_object_get(resp, "duration"))) {
        float *pcm = NULL;
        size_t n = 0;
        if (sp_audio_load(r->path, SP_AUDIO_NOFOLLOW | SP_AUDIO_OWNER_ONLY | SP_AUDIO_ABSOLUTE,
                          0, &pcm, &n, NULL, err, sizeof err) == SP_OK)
            duration = (double)n / SP_AUDIO_RATE;
        free(pcm);
    }
    resp_warning(r, resp);
    const char *warn = r->warn;
    sh_transcript t;
    int failed = sh_transcript_from_response(resp, duration, &t);
    json_decref(resp);
    if (failed) return send_json(con, r, 500, NULL, NULL);
    if (r->gran_word && t.words_missing) {   /* never answered without the words asked for */
        sh_transcript_deinit(&t);
        logf_("ERROR", "word timestamps asked for, the daemon's answer has none");
        return send_error(con, r, 502, "server_error", NULL, "daemon_error",
                          "the transcription daemon gave no word timestamps (it predates "
                          "them: update session_daemon)", NULL);
    }
    size_t len = 0;
    int gran = (r->gran_segment ? SH_GRAN_SEGMENTS : 0) | (r->gran_word ? SH_GRAN_WORDS : 0);
    char *body = sh_render_ex(r->fmt, &t, r->route == R_OAI_TRANSLATE ? "translate" : "transcribe",
                              gran, &len);
    const char *hdr[5] = { NULL };
    int nh = 0;
    if (need_times) {
        hdr[nh++] = "X-Speech-Session-Timing";
        hdr[nh++] = t.estimated ? "estimated" : "exact";
    }
    if (warn[0]) {
        hdr[nh++] = "X-Speech-Session-Warning";
        hdr[nh++] = warn;
    }
    sh_transcript_deinit(&t);
    return send_buf(con, r, 200, sh_fmt_content_type(r->fmt), body, len, hdr);
}

static enum MHD_Result start_stream(struct MHD_Connection *con, req *r);

/* Hands the finished upload to the daemon and answers. */
static enum MHD_Result do_transcribe(struct MHD_Connection *con, req *r)
{
    char err[512] = "";
    ssc_req_opts ro = { 0 };   /* /transcribe (the spec's wrapper) sends a plain request */
    r->fmt = SH_FMT_JSON;
    if ((r->oai && oai_fields(r, &ro) != 0) || upload_ready(r) != 0 ||
        submit(r, r->oai ? &ro : NULL) != 0)
        return send_fail(con, r);
    json_t *resp = NULL;
    int rc = await_answer(r, &resp, err, sizeof err);
    if (rc == SSC_ABORTED) {   /* closed here; on_completed cancels the daemon's work */
        logf_("INFO", "request %s: the client went away while the daemon worked", r->id);
        return MHD_NO;
    }
    if (rc == SSC_PENDING) return start_stream(con, r);   /* the first delta is in */
    client_put(r->c);   /* the answer is in (or never comes): the client goes back */
    r->c = NULL;
    if (rc == SSC_TIMEOUT) {   /* r->id stays: on_completed cancels it */
        logf_("ERROR", "daemon: no answer to %s within %g s", r->id, cfg.transcribe_timeout);
        return send_error(con, r, 504, "server_error", NULL, "timeout",
                          "the transcription daemon did not answer in time", NULL);
    }
    if (rc != 0) {
        logf_("ERROR", "daemon: %s", err);
        return send_error(con, r, 502, "server_error", NULL, "daemon_error",
                          "the transcription daemon failed", NULL);
    }
    enum MHD_Result ok;
    if (json_object_get(resp, "error")) {   /* before any event: the status says it */
        ok = send_daemon_error(con, r, resp);
        json_decref(resp);
    } else if (r->st) {   /* done before its first delta (short audio): events all at once,
                             * the warning in a header too (none has been sent yet) */
        resp_warning(r, resp);
        ok = sh_stream_finish(r->st, resp) == 0 ? start_stream(con, r)
                                                : send_json(con, r, 500, NULL, NULL);
        json_decref(resp);
    } else if (!r->oai) {   /* the spec's Flask wrapper: jsonify({'results': results}) */
        json_t *o = json_object();
        json_t *res = json_object_get(resp, "results");
        if (o) json_object_set_new(o, "results", json_is_array(res) ? json_incref(res) : json_array());
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        json_decref(resp);
        ok = send_json(con, r, 200, js, NULL);
    } else {
        ok = send_formatted(con, r, resp);
    }
    return ok;
}

/* ------------------------------------------------------------------ streaming (SSE) */

/* One more step of a stream: events queued from the partial file or the final answer, a
 * keep-alive, or an error event. 0, or -1: end the connection now (client gone, OOM). */
static int stream_step(req *r)
{
    char err[512] = "";
    json_t *resp = NULL;
    double keep = cfg.idle_timeout / 2.0 < KEEPALIVE_MAX ? cfg.idle_timeout / 2.0 : KEEPALIVE_MAX;
    double slice = r->last_out + keep - now_mono();
    int rc = ssc_wait_step(r->c, r->id, r->deadline, slice > 0.05 ? slice : 0.05, r->sock,
                           &resp, err, sizeof err);
    if (rc == 0 || rc == -1) r->id[0] = 0;
    switch (rc) {
    case SSC_PENDING:
        if (sh_stream_tail(r->st) < 0) return -1;
        if (!sh_stream_queued(r->st) && now_mono() - r->last_out >= keep)
            return sh_stream_keepalive(r->st);
        return 0;
    case SSC_ABORTED:
        logf_("INFO", "request %s: the client left the stream", r->id);
        return -1;
    case SSC_TIMEOUT:   /* r->id stays: on_completed cancels it */
        logf_("ERROR", "daemon: no answer to %s within %g s", r->id, cfg.transcribe_timeout);
        return sh_stream_error(r->st, "the transcription daemon did not answer in time",
                               "server_error", "timeout");
    case 0:
        break;
    default:
        logf_("ERROR", "daemon: %s", err);
        return sh_stream_error(r->st, "the transcription daemon failed", "server_error",
                               "daemon_error");
    }
    int rc2;
    if (json_object_get(resp, "error")) {   /* after the first event: an error event */
        char msg[640];
        const char *type, *code;
        daemon_error(r, resp, msg, &type, &code);
        rc2 = sh_stream_error(r->st, msg, type, code);
    } else {   /* the headers are out: the done event alone carries a warning */
        resp_warning(r, resp);
        rc2 = sh_stream_finish(r->st, resp);
    }
    json_decref(resp);
    return rc2;
}

/* libmicrohttpd's content reader for text/event-stream. It runs in the connection's own
 * thread (one per connection), so it blocks here — bounded by keep-alives and the client's
 * hang-up — rather than returning 0, which in this threading mode would spin. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    req *r = cls;
    for (;;) {
        size_t n = sh_stream_take(r->st, buf, max);
        if (n) {
            r->last_out = now_mono();
            return (ssize_t)n;
        }
        if (sh_stream_ended(r->st)) return MHD_CONTENT_READER_END_OF_STREAM;
        if (stream_step(r) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

/* 200 text/event-stream; the events follow as the daemon finishes segments. */
static enum MHD_Result start_stream(struct MHD_Connection *con, req *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, r, NULL);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");   /* nginx: pass events on at once */
    if (r->warn[0]) MHD_add_response_header(resp, "X-Speech-Session-Warning", r->warn);
    enum MHD_Result ok = MHD_queue_response(con, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) r->responded = 200;
    r->last_out = now_mono();
    return ok;
}

/* ------------------------------------------------------------------ dispatch */

/* The form's boundary from Content-Type; -1 when it is not multipart/form-data with one. */
static int form_boundary(struct MHD_Connection *con, char b[SH_MP_BOUNDARY_MAX + 1])
{
    return sh_mp_boundary(MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_TYPE), b);
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
    /* the absolute form a client may send (RFC 9112 3.2.2: a server must accept it):
     * "http://host:port/v1/..." is the path after the authority; and "//v1/..." is "/v1/..." */
    if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)) {
        const char *path = strchr(strstr(url, "//") + 2, '/');
        url = path ? path : "/";
    }
    while (url[0] == '/' && url[1] == '/') url++;
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
    char boundary[SH_MP_BOUNDARY_MAX + 1];
    if (form_boundary(con, boundary) != 0) {
        if (!r->oai) return reject(con, r, 400, NULL, NULL, NULL, "No audio file", NULL);
        return reject(con, r, 400, "invalid_request_error", NULL, "invalid_content_type",
                      "Content-Type must be multipart/form-data with a boundary of 1 to 70 "
                      "characters", NULL);
    }
    /* the slot first, then the flag (stop_http: the flag, then the slots; seq_cst), so a
     * request either sees the stop or is waited for */
    int busy = atomic_fetch_add(&in_flight, 1) >= cfg.max_uploads;
    if (busy || atomic_load(&stopping)) {
        atomic_fetch_sub(&in_flight, 1);
        /* every slot taken: the slowest body (under 16 KB/s after 2 s, if any) is closed so
         * that this client's retry (Retry-After: 1) finds its slot free — one client
         * trickling bodies had held every upload until --upload-timeout */
        if (busy && sh_guard_evict_slow_body(guard, sh_guard_now(), SLOW_BODY_AGE, SLOW_BODY_RATE))
            logf_("INFO", "every upload slot taken: the slowest upload (under %.0f KB/s) closed",
                  SLOW_BODY_RATE / 1024);
        return busy ? reject(con, r, 503, "server_error", NULL, "busy",
                             "too many uploads in progress; retry shortly", NULL)
                    : reject(con, r, 503, "server_error", NULL, "shutting_down",
                             "the server is stopping; retry shortly", NULL);
    }
    r->slot = 1;
    r->file_field = r->oai ? "file" : "audio";
    r->mp = malloc(sizeof *r->mp);
    if (!r->mp)
        return reject(con, r, 500, "server_error", NULL, "out_of_memory", "out of memory", NULL);
    sh_mp_init(r->mp, boundary, &form_callbacks, r);
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
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->sock = ci ? ci->connect_fd : -1;
        *con_cls = r;
        conn_phase(con, SH_PHASE_BODY);   /* the headers are in */
        /* libmicrohttpd closes a connection whose answer was queued before the request was
         * whole (it cannot know no body follows): GET and HEAD are answered on the next
         * call, so health polls and models.list() keep their connection */
        r->deferred = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        return r->deferred ? MHD_YES : first_call(con, r, url, method);
    }
    if (r->deferred) {
        if (*upload_data_size) {   /* a body on a GET: dropped, bounded as a rejected one */
            r->body_bytes += *upload_data_size;
            *upload_data_size = 0;
            return r->body_bytes > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        r->deferred = 0;
        enum MHD_Result rc = first_call(con, r, url, method);
        return rc == MHD_YES && !r->responded && r->fail_status ? send_fail(con, r) : rc;
    }
    if (r->answered_raw) {   /* answered mid-body (send_fail_now): dropped, then closed */
        const size_t size = *upload_data_size;
        *upload_data_size = 0;
        r->body_bytes += size;
        return size && r->body_bytes <= cfg.max_upload + FORM_SLACK + DISCARD_MAX &&
               now_mono() - r->t0 <= cfg.upload_timeout + LATE_GRACE ? MHD_YES : MHD_NO;
    }
    if (r->responded) {   /* answered on the first call; the body is not wanted */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        r->body_bytes += size;
        if (r->slot) sh_guard_body_bytes(guard, conn_guard(con), r->body_bytes);
        if (r->fail_status) {   /* rejected: drop the body, answer at its end (or close) */
            if (r->fd >= 0) { close(r->fd); r->fd = -1; }
            if (r->body_bytes > cfg.max_upload + FORM_SLACK + DISCARD_MAX ||
                now_mono() - r->t0 > cfg.upload_timeout + LATE_GRACE) {
                send_fail_now(r);   /* too much, or too late: answered, then closed */
                return MHD_NO;
            }
            return MHD_YES;
        }
        if (!r->fail_status && now_mono() - r->t0 > cfg.upload_timeout)
            req_fail(r, 408, "invalid_request_error", NULL, "timeout",
                     "the upload took longer than %g s", cfg.upload_timeout);
        if (!r->fail_status && r->body_bytes > cfg.max_upload + FORM_SLACK)
            req_fail(r, 413, "invalid_request_error", NULL, "file_too_large",
                     "request larger than the upload limit of %llu bytes", cfg.max_upload);
        if (!r->fail_status) form_failed(r, sh_mp_feed(r->mp, upload_data, size));
        if (r->fail_status && r->fd >= 0) { close(r->fd); r->fd = -1; }   /* stop storing */
        /* over the limit: the answer now, not after the body (however long that is) */
        if (r->fail_status == 413) return send_fail_now(r) == 0 ? MHD_YES : MHD_NO;
        return MHD_YES;
    }
    /* the whole body is in */
    /* strict: a body without its closing delimiter was cut short, whatever its length said */
    if (!r->fail_status && r->mp) form_failed(r, sh_mp_finish(r->mp));
    if (r->fail_status) return send_fail(con, r);
    conn_phase(con, SH_PHASE_WORK);   /* the daemon's time is not the client's fault */
    return do_transcribe(con, r);
}

/* The daemon's work for a request nobody waits for any more (the client went away, the
 * answer came too late): withdrawn or cancelled, its answers deleted (ssc_cancel). Runs in
 * the connection's thread after its client left, bounded by CANCEL_WAIT. */
static void cancel_request(req *r)
{
    char err[512] = "";
    const char *state = NULL;
    ssc *c = r->c ? r->c : client_get(err, sizeof err);
    r->c = NULL;
    if (!c || ssc_cancel(c, r->id, CANCEL_WAIT, &state, err, sizeof err) != 0)
        logf_("ERROR", "request %s: cannot cancel it: %s", r->id, err);
    else
        logf_("INFO", "request %s: cancelled (%s)", r->id,
              state ? state : "no answer from the daemon in time");
    client_put(c);
    r->id[0] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    *con_cls = NULL;
    conn_phase(con, SH_PHASE_HEADERS);   /* kept alive: the next request's clock */
    if (!r) return;
    if (r->id[0]) cancel_request(r);
    if (!cfg.quiet || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        const char *what = r->answered_raw ? "answered before the body ended, closed"
                           : toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "done"
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

/* a count: a whole number (ss_opt_num's syntax; "2.5" connections had been taken as 2) */
static int parse_count(const char *s, double lo, double hi, double *out)
{
    double v;
    if (ss_opt_num(s, lo, hi, &v) || v != floor(v)) return -1;
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

/* Options into cfg and *listen. Returns -1 to exit 0 (--help), 0 to go on, else the exit
 * code (100: usage). */
static int parse_options(int argc, char **argv, const char **listen)
{
    enum { O_TOKEN = 256, O_MAXUP, O_MAXUPS, O_MAXCONN, O_IDLE, O_UPTO, O_TRTO, O_DAEMON,
           O_DTO, O_NOAUTO, O_MNAME, O_HDRTO, O_MAXCONNIP, O_DEVICE, O_COMPUTE, O_MAXAUDIO,
           O_VAD, O_VADM };
    static const struct option lo[] = {
        { "listen", required_argument, 0, 'l' }, { "token", required_argument, 0, O_TOKEN },
        { "max-upload", required_argument, 0, O_MAXUP },
        { "max-uploads", required_argument, 0, O_MAXUPS },
        { "max-connections", required_argument, 0, O_MAXCONN },
        { "idle-timeout", required_argument, 0, O_IDLE },
        { "header-timeout", required_argument, 0, O_HDRTO },
        { "max-connections-per-ip", required_argument, 0, O_MAXCONNIP },
        { "upload-timeout", required_argument, 0, O_UPTO },
        { "transcribe-timeout", required_argument, 0, O_TRTO },
        { "model", required_argument, 0, 'm' }, { "daemon", required_argument, 0, O_DAEMON },
        { "daemon-timeout", required_argument, 0, O_DTO },
        { "max-audio-seconds", required_argument, 0, O_MAXAUDIO },
        { "device", required_argument, 0, O_DEVICE },
        { "compute", required_argument, 0, O_COMPUTE },
        { "vad", no_argument, 0, O_VAD }, { "vad-model", required_argument, 0, O_VADM },
        { "no-autostart", no_argument, 0, O_NOAUTO },
        { "model-name", required_argument, 0, O_MNAME },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    double v;
    int opt;
    while ((opt = getopt_long(argc, argv, "l:m:qh", lo, NULL)) != -1) {
        switch (opt) {
        case 'l': *listen = optarg; break;
        case O_TOKEN: cfg.token = optarg; break;
        case O_MAXUP:
            if (parse_size(optarg, &cfg.max_upload) || !cfg.max_upload) goto usage;
            break;
        case O_MAXUPS: if (parse_count(optarg, 1, 4096, &v)) goto usage; cfg.max_uploads = (int)v; break;
        case O_MAXCONN: if (parse_count(optarg, 1, 4096, &v)) goto usage; cfg.max_conns = (int)v; break;
        case O_IDLE: if (parse_count(optarg, 1, 86400, &v)) goto usage; cfg.idle_timeout = (unsigned)v; break;
        case O_HDRTO: if (ss_opt_num(optarg, 0.1, 86400, &cfg.header_timeout)) goto usage; break;
        case O_MAXCONNIP: if (parse_count(optarg, 1, 4096, &v)) goto usage; cfg.max_conns_ip = (int)v; break;
        case O_UPTO: if (ss_opt_num(optarg, 0.1, 86400, &cfg.upload_timeout)) goto usage; break;
        case O_TRTO: if (ss_opt_num(optarg, 0.1, 86400, &cfg.transcribe_timeout)) goto usage; break;
        case 'm': cfg.copts.model = optarg; break;
        case O_DAEMON: cfg.copts.daemon_path = optarg; break;
        case O_DTO: if (ss_opt_num(optarg, 0, 1e9, &cfg.copts.daemon_timeout)) goto usage; break;
        case O_MAXAUDIO:   /* the daemon's own range, passed on as given */
            if (ss_opt_num(optarg, 0, INFINITY, &cfg.copts.max_audio_seconds)) goto usage;
            break;
        case O_VAD: cfg.copts.vad = 1; break;
        case O_VADM: if (!*optarg) goto usage; cfg.copts.vad_model = optarg; break;
        case O_NOAUTO: cfg.copts.autostart = 0; break;
        case O_DEVICE:   /* the daemon this server starts inherits the environment */
            if (!sp_device_valid(optarg) || setenv("SPEECH_SESSION_DEVICE", optarg, 1) != 0) goto usage;
            break;
        case O_COMPUTE:
            if (!sp_compute_valid(optarg) || setenv("SPEECH_SESSION_COMPUTE", optarg, 1) != 0) goto usage;
            break;
        case O_MNAME: if (!*optarg) goto usage; cfg.model_name = optarg; break;
        case 'q': cfg.quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return -1;
        default: goto usage;
        }
    }
    if (optind != argc) {
        ss_opt_say("session_http", "no arguments besides options; also ", argv[optind], NULL);
        goto help;
    }
    return 0;
usage:
    if (opt != '?') ss_opt_refused("session_http", lo, opt, optarg, NULL);
help:
    fputs(USAGE, stderr);
    return 100;
}

/* The option values that depend on each other, and the listen address. 0 or 100. */
static int check_options(const char *listen)
{
    char err[512];
    if (cfg.token && !*cfg.token) {
        fprintf(stderr, "session_http: the token is empty (--token or SPEECH_SESSION_HTTP_TOKEN): "
                "give a real one, or unset it to serve without authentication\n");
        return 100;
    }
    if (sh_parse_listen(listen, &cfg.addr, &cfg.addr_len, err, sizeof err) != 0) {
        fprintf(stderr, "session_http: %s\n", err);
        return 100;
    }
    /* a VAD model that does not load would fail every request of the daemon started with
     * it: refused here, as the daemon refuses it; absolute, since the daemon may be started
     * from elsewhere than where the path was given */
    if (cfg.copts.vad_model) {
        sp_vad *vad = NULL;
        if (sp_vad_open(cfg.copts.vad_model, &vad, err, sizeof err) != SP_OK) {
            fprintf(stderr, "session_http: --vad-model: %s\n", err);
            return 100;
        }
        sp_vad_free(vad);
        if (realpath(cfg.copts.vad_model, cfg.vad_model)) cfg.copts.vad_model = cfg.vad_model;
    }
    if (cfg.max_uploads > cfg.max_conns) cfg.max_uploads = cfg.max_conns;
    if (!cfg.max_conns_ip) cfg.max_conns_ip = cfg.max_conns > 1 ? cfg.max_conns / 2 : 1;
    if (cfg.max_conns_ip > cfg.max_conns) cfg.max_conns_ip = cfg.max_conns;
    return 0;
}

/* The upload directory (root and directory created when missing, checked as the spool's
 * are); its fd, or -1 with err. Its path into path (when not NULL). */
static int updir_open(char *err, size_t n, char *path, size_t path_size)
{
    ss_paths paths;
    if (ss_paths_init(&paths, err, n) != 0) return -1;
    int rootfd = ss_root_open(&paths, err, n);
    if (rootfd < 0) return -1;
    const int fd = ss_dir_open(rootfd, UPLOAD_DIR, err, n);
    close(rootfd);
    if (path)
        snprintf(path, path_size, "%s%s%s", paths.root, paths.root[strlen(paths.root) - 1] == '/' ? "" : "/",
                 UPLOAD_DIR);
    return fd;
}

/* The private upload directory, next to the spool; uploads of dead servers swept. */
static int open_upload_dir(void)
{
    char err[512];
    umask(077);
    cfg.updir = updir_open(err, sizeof err, cfg.updir_path, sizeof cfg.updir_path);
    if (cfg.updir < 0) {
        fprintf(stderr, "session_http: %s\n", err);
        return -1;
    }
    int swept = sh_upload_sweep(cfg.updir);
    if (swept > 0) logf_("INFO", "removed %d uploads left by stopped servers", swept);
    return 0;
}

/* The slow-client guard, then libmicrohttpd listening. NULL (said on stderr) on failure. */
static struct MHD_Daemon *start_http(const char *listen)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (cfg.addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* reserve: an eighth of the connections is kept free for new clients */
    sh_guard_opts go = { .header_timeout = cfg.header_timeout,
                         .body_timeout = cfg.upload_timeout + LATE_GRACE + 1, /* after its 408 */
                         .idle_timeout = cfg.idle_timeout, .min_age = 1,
                         .max_conns = cfg.max_conns,
                         .reserve = cfg.max_conns >= 8 ? cfg.max_conns / 8 : 1 };
    guard = sh_guard_start(&go);
    if (!guard) {
        fprintf(stderr, "session_http: cannot start the connection guard\n");
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&cfg.addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_conns,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg.idle_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg.max_conns_ip,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        /* no MHD_OPTION_LISTENING_ADDRESS_REUSE: set, it is SO_REUSEPORT, and a second
         * server started on the same port shared it (the kernel dealt connections to both,
         * whatever their tokens or spool roots); without it libmicrohttpd sets SO_REUSEADDR
         * only, so a restart still binds past TIME_WAIT and a taken port is exit 111 */
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "session_http: cannot listen on %s: %s\n", listen,
                errno ? strerror(errno) : "libmicrohttpd refused to start");
        sh_guard_stop(guard);
        guard = NULL;
    }
    return d;
}

/* The stdout line scripts read the port from, and the start-up log. */
static void announce(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = bi ? (unsigned)bi->port : 0u;
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
    printf("session_http listening on http://%s:%u\n", host, port);
    fflush(stdout);
    logf_("INFO", "listening on http://%s:%u (token %s, max upload %llu bytes, %d uploads, "
          "%d connections, %d per address, headers within %g s)", host, port,
          cfg.token ? "required" : "off", cfg.max_upload, cfg.max_uploads, cfg.max_conns,
          cfg.max_conns_ip, cfg.header_timeout);
}

/* SIGTERM/SIGINT: no new connections, the requests in flight are answered, then out. */
static void stop_http(struct MHD_Daemon *d, int sig, sigset_t *set)
{
    logf_("INFO", "signal %d: stopping once the requests in flight are answered", sig);
    pthread_t second;   /* a second signal exits at once (uploads are swept at next start) */
    if (pthread_create(&second, NULL, second_signal, set) == 0) pthread_detach(second);
    MHD_socket ls = MHD_quiesce_daemon(d);   /* no new connections; in-flight ones finish */
    /* MHD_stop_daemon closes every connection, a request being transcribed too (its client
     * then looks gone and the daemon's work is cancelled): first wait until each upload slot
     * is given back, which every request does however it ends — answered, or bounded by
     * --upload-timeout and --transcribe-timeout. Kept-alive idle connections are closed. */
    atomic_store(&stopping, 1);
    int waiting = atomic_load(&in_flight);
    if (waiting > 0) logf_("INFO", "waiting for %d request%s in flight", waiting, waiting == 1 ? "" : "s");
    while (atomic_load(&in_flight) > 0) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    long lh, lb, ev, sb;
    sh_guard_counts(guard, &lh, &lb, &ev, &sb);
    sh_guard_stop(guard);   /* after the daemon: every connection has left the guard */
    if (lh || lb || ev || sb)
        logf_("INFO", "slow clients closed: %ld late headers, %ld late bodies, %ld to keep "
              "capacity free, %ld slow uploads to free a slot", lh, lb, ev, sb);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080";
    cfg.max_upload = 25ull << 20;
    cfg.max_uploads = 16;
    cfg.max_conns = 64;
    cfg.idle_timeout = 30;
    cfg.header_timeout = 10;
    cfg.upload_timeout = 120;
    cfg.transcribe_timeout = 300;
    cfg.model_name = "whisper-1";
    cfg.copts = ssc_default_opts();
    cfg.updir = -1;
    /* a token set but empty is a mistake (an unset secret in a unit file, a typo), not a
     * wish for no authentication: check_options refuses it, as it does --token "" */
    cfg.token = getenv("SPEECH_SESSION_HTTP_TOKEN");
    int rc = parse_options(argc, argv, &listen);
    if (rc == 0) rc = check_options(listen);
    if (rc) return rc < 0 ? 0 : rc;
    if (open_upload_dir() != 0) return 111;

    /* signals: blocked here (so every thread inherits the mask), taken by sigwait below */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = start_http(listen);
    if (!d) {
        close(cfg.updir);
        return 111;
    }
    announce(d);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    stop_http(d, sig, &set);
    pool_free();
    close(cfg.updir);
    return 0;
}
