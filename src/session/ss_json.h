/* ss_json.h — the wire formats of the spool (../shared/spec/session-api.md): strict request
 * parsing (T9, T10) and the response, pong, status and marker documents. All documents are
 * built with jansson and returned as malloc'd NUL-terminated strings (free()). */
#ifndef SS_JSON_H
#define SS_JSON_H

#include "speech.h"   /* SP_AUDIO_CTX_AUTO */
#include <stddef.h>
#include "session/ss_fs.h"

typedef enum { SS_REQ_TRANSCRIBE = 0, SS_REQ_PING = 1, SS_REQ_CANCEL = 2 } ss_req_type;

/* Queue class (docs/daemon.md "Live requests"): every pending interactive request runs
 * before any batch one, and a running batch request yields to them at a window boundary. */
typedef enum { SS_PRIO_INTERACTIVE = 0, SS_PRIO_BATCH = 1 } ss_priority;

#define SS_LANGUAGES_MAX 400   /* bytes of "languages" joined ("en,de"): 100 codes */

typedef struct {
    char id[SS_ID_MAX + 1];
    ss_req_type type;
    char *audio_file;      /* malloc'd absolute path (transcribe), NULL for ping */
    double timestamp;      /* client's claim: logged, never trusted for order or age (T11) */
    /* per-request decoding options (our extension; all optional, transcribe only) */
    char language[16];     /* "" = the daemon's default; "auto" = detect; else a Whisper code */
    int translate;         /* "task": "translate" */
    char *prompt;          /* malloc'd initial prompt (valid UTF-8, <= SS_PROMPT_MAX), or NULL */
    int has_temperature;   /* "temperature" given: a single temperature, no fallback */
    double temperature;    /* 0 .. 1 */
    char *hotwords;        /* malloc'd words to favour (as "prompt"), or NULL */
    int audio_ctx;         /* "audio_ctx": 0 = the daemon's default, N, or SP_AUDIO_CTX_AUTO */
    char languages[SS_LANGUAGES_MAX + 1];   /* "languages": detection among these codes, as
                                             * "en,de"; "" = the daemon's default */
    /* live requests (issue 12; all optional) */
    ss_priority priority;  /* "priority": absent = interactive (the spec's clients: FIFO) */
    int stream;            /* "stream": true = segments published in responses/.{id}.partial */
    int word_timestamps;   /* "word_timestamps": true = "words" in each response segment */
    char target[SS_ID_MAX + 1];   /* cancel: the id of the request to withdraw */
} ss_request;

#define SS_LANGUAGE_MAX 15     /* bytes of "language" */
#define SS_PROMPT_MAX   4096   /* bytes of "prompt" */

typedef enum {
    SS_PARSE_OK = 0,
    SS_PARSE_INCOMPLETE = 1,  /* syntax error that more bytes might fix: "not yet" (T6) */
    SS_PARSE_INVALID = 2,     /* final: *code and msg say why */
} ss_parse_result;

/* Stable error codes of error responses (append-only; documented in docs/daemon.md). */
#define SS_E_BAD_REQUEST      "bad_request"       /* not JSON / schema violation */
#define SS_E_BAD_ID           "bad_id"            /* JSON id missing, not a string, != stem */
#define SS_E_TOO_LARGE        "request_too_large" /* request file over 64 KiB */
#define SS_E_NOT_REGULAR      "bad_request_file"  /* request is a symlink/FIFO/dir/foreign */
#define SS_E_AUDIO_NOT_FOUND  "audio_not_found"
#define SS_E_AUDIO_REFUSED    "audio_refused"     /* symlink, FIFO, device, not ours, relative */
#define SS_E_AUDIO_FORMAT     "audio_format"
#define SS_E_AUDIO_TOO_LONG   "audio_too_long"
#define SS_E_AUDIO_IO         "audio_io"
#define SS_E_DECODER_CRASHED  "audio_decoder_crashed" /* the decoder child died by a signal */
#define SS_E_DECODER_TIMEOUT  "audio_decoder_timeout" /* the decoder child ran too long */
#define SS_E_TRANSCRIBE       "transcription_failed"
#define SS_E_EXPIRED          "expired"           /* older than the request TTL: no model work */
#define SS_E_BUSY             "busy"              /* too many pending requests */
#define SS_E_POISON           "poison"            /* the daemon crashed twice on this request */
#define SS_E_SHUTDOWN         "shutting_down"
#define SS_E_INTERNAL         "internal"
#define SS_E_DEVICE           "device_error"      /* the GPU failed and the CPU could not take over */
#define SS_E_DUPLICATE        "duplicate_id"      /* another request with this id was in flight */
#define SS_E_CANCELLED        "cancelled"         /* withdrawn by a cancel request */

/* A success's optional "warning" (additive: the spec's readers ignore it): the audio file
 * ended before its header said it would (a cut download, a recording that stopped, a
 * damaged file), and what could be decoded was transcribed — as transcribe warns. */
#define SS_WARN_TRUNCATED "the audio file ends early (truncated or damaged): transcribed what could be decoded"

/* Parses buf (NUL-terminated, len bytes) as a request whose filename stem is stem.
 * On SS_PARSE_OK fills *out (free with ss_request_clear). On SS_PARSE_INVALID sets *code to
 * one of the SS_E_* strings and writes a message. */
ss_parse_result ss_request_parse(const char *buf, size_t len, const char *stem,
                                 ss_request *out, const char **code, char *msg, size_t n);
void ss_request_clear(ss_request *r);

/* {"id","results","timestamp","device","session_active"[,"error","error_code"]} */
char *ss_response_json(const char *id, const char *const *results, int n_results,
                       const char *device, int session_active, const char *error,
                       const char *error_code, double timestamp);
/* The same with the details the spec's fields cannot carry (all optional, additive):
 * "segments": [{"start","end","text"}] parallel to "results" (starts/ends may be NULL),
 * "language" (may be NULL) and "duration" (audio seconds; < 0 = omit). */
char *ss_response_json_ex(const char *id, const char *const *results, int n_results,
                          const double *starts, const double *ends, const char *language,
                          double duration, const char *device, int session_active,
                          const char *error, const char *error_code, double timestamp);
/* How a segment was decoded, as openai's and faster-whisper's segments say it: the window's
 * first mel frame ("seek"), the token ids (timestamps included), the temperature of the
 * decode kept and its quality figures. The HTTP front end's verbose_json passes them on. */
typedef struct {
    int seek;
    int *tokens;
    int n_tokens;
    float temperature, avg_logprob, compression_ratio, no_speech_prob;
    char lead[8];   /* the white space stripped from the front of Whisper's text (usually one
                     * space; "" none): OpenAI's segment text is lead + text ("text_lead") */
} ss_seg_decode;

/* The most general response: what a finished transcription carries. */
typedef struct {
    const char *const *results;    /* segment texts */
    int n_results;
    const double *starts, *ends;   /* NULL: no "segments" */
    const sp_word *const *words;   /* NULL: no "words"; else words[i] (n_words[i]) per segment */
    const int *n_words;
    const ss_seg_decode *decode;   /* NULL: omitted; else decode[i] per segment */
    const char *language;          /* NULL: omitted */
    double duration;               /* < 0: omitted */
    const char *warning;           /* NULL: omitted; else "warning" (SS_WARN_TRUNCATED) */
} ss_result_doc;
char *ss_response_json_doc(const char *id, const ss_result_doc *r, const char *device,
                           int session_active, const char *error, const char *error_code,
                           double timestamp);
/* One line of a partial file (no newline): {"i","start","end","text"[,"words"]} and, when
 * dec is not NULL, its "seek", "tokens", "temperature", "avg_logprob", "compression_ratio",
 * "no_speech_prob" (as the final response's segment). */
char *ss_segment_line_json(int index, double start, double end, const char *text,
                           const sp_word *words, int n_words, const ss_seg_decode *dec);
/* The answer to a cancel request: {"id","type":"cancel","target","cancelled","state",
 * "timestamp","device","session_active"}; state is "pending", "running" or "unknown". */
char *ss_cancel_json(const char *id, const char *target, int cancelled, const char *state,
                     const char *device, int session_active, double timestamp);
/* {"id","type":"pong","timestamp","device","session_active"} */
char *ss_pong_json(const char *id, const char *device, int session_active, double timestamp);

typedef struct {
    int active, model_loaded, processing;
    const char *device, *model_size, *state;
    double last_activity, session_timeout, timestamp, started;
    long pid;
    long pending, processed, failed;
    const char *degraded;   /* NULL or a reason */
    const char *device_name;       /* NULL or "NVIDIA H200", "CPU (avx2+fma, 8 threads)" */
    const char *device_fallback;   /* NULL or why the GPU is not used */
    double gpu_memory_used, gpu_memory_total;   /* bytes; total <= 0: not on a GPU */
} ss_status;
char *ss_status_json(const ss_status *s);
char *ss_marker_json(double started, long pid);

/* Copies s into dst (n bytes) with control characters, quotes and backslashes escaped and
 * the result truncated to fit (log injection, T26). Returns dst. */
char *ss_escape(char *dst, size_t n, const char *s);

#endif
