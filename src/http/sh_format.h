/* sh_format.h — the HTTP front end's pure helpers (no libmicrohttpd, no I/O): response
 * formats of OpenAI's transcription API (json, text, srt, vtt, verbose_json) built from a
 * session daemon response, OpenAI-shaped error bodies, the --listen address parser and the
 * bearer-token check. Unit-tested by tests/unit/test_http.c.
 *
 * Contracts: functions returning int give 0 on success and -1 on failure (message in err
 * where one is given); returned strings are malloc'd (free) and NUL-terminated; every
 * *_free accepts NULL. */
#ifndef SH_FORMAT_H
#define SH_FORMAT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum { SH_FMT_JSON, SH_FMT_TEXT, SH_FMT_SRT, SH_FMT_VTT, SH_FMT_VERBOSE } sh_fmt;

/* "json", "text", "srt", "vtt", "verbose_json" (exact, as OpenAI); NULL or "" = json. */
int sh_fmt_parse(const char *s, sh_fmt *out);
const char *sh_fmt_content_type(sh_fmt f);

typedef struct {
    double start, end;   /* seconds */
    char *text;          /* as the daemon gave it (stripped) */
    json_t *decode;      /* the daemon's "seek", "tokens", "temperature", "avg_logprob",
                          * "compression_ratio", "no_speech_prob" (all checked), or NULL
                          * when it gave not all of them (an older daemon) */
    char lead[8];        /* the daemon's "text_lead" (white space stripped from the front of
                          * Whisper's text, put back as OpenAI's segments have it), or "" —
                          * apart from decode: a segment missing a figure keeps its space */
    int lead_known;      /* the daemon said its text_lead ("" = Whisper's text had no space
                          * before it: Chinese, Japanese, Thai; the segment joins without one) */
} sh_seg;

typedef struct {
    double start, end;   /* seconds */
    char *word;          /* bare, as OpenAI answers: no white space or punctuation at its
                          * ends ("country." → "country"; "What's", "3.5" as they are) */
} sh_word;

typedef struct {
    sh_seg *segs;
    int n;
    sh_word *words;      /* every segment's "words", in order (word_timestamps requests) */
    int n_words;
    int words_missing;   /* 1: a segment had no "words" array (a daemon without them) */
    int estimated;       /* 1: times spread over the duration (the daemon gave none) */
    double duration;     /* seconds of audio, 0 when unknown */
    char *language;      /* from the daemon's response when it names one, else NULL */
} sh_transcript;

/* Fills t from a daemon response: its optional "segments" [{start, end, text}] when present
 * and well-formed (times then exact), else its "results" texts with times estimated by
 * spreading duration over them in proportion to their length. Optional "duration" and
 * "language" of the response are used when present (duration overrides the argument). */
int sh_transcript_from_response(const json_t *resp, double duration, sh_transcript *t);
void sh_transcript_deinit(sh_transcript *t);

/* What goes between a segment and the one before it in the whole text: its lead (Whisper's
 * own white space, "" for Chinese, Japanese, Thai) when the daemon said (lead_known), else
 * one space. */
const char *sh_seg_joiner(const char *lead, int lead_known);
/* The whole text: segment texts trimmed of surrounding blanks, the empty ones skipped, each
 * after the first led by sh_seg_joiner — "".join(s.text for s in segments).strip() of
 * verbose_json, as OpenAI's text is. */
char *sh_transcript_text(const sh_transcript *t);

/* Renders t in format f. task is "transcribe" or "translate" (verbose_json only).
 * *len gets the length. NULL on out of memory. */
char *sh_render(sh_fmt f, const sh_transcript *t, const char *task, size_t *len);
/* verbose_json as OpenAI's timestamp_granularities[] ask: SH_GRAN_WORDS adds the top-level
 * "words": [{"word", "start", "end"}]; "segments" is there with SH_GRAN_SEGMENTS or when
 * no granularity was asked (flags 0: exactly sh_render). */
#define SH_GRAN_SEGMENTS 1
#define SH_GRAN_WORDS 2
char *sh_render_ex(sh_fmt f, const sh_transcript *t, const char *task, int gran, size_t *len);

/* "HH:MM:SS,mmm" (srt, sep ',') or "HH:MM:SS.mmm" (vtt, sep '.'); negative → 0. */
void sh_timestamp(double seconds, char sep, char out[32]);

/* {"error": {"message", "type", "param", "code"}} — param and code may be NULL (JSON null). */
char *sh_openai_error(const char *message, const char *type, const char *param,
                      const char *code);
/* {"error": message} plus "error_code" when code is non-NULL (the spec's /transcribe). */
char *sh_simple_error(const char *message, const char *code);

/* Parses "ADDR:PORT", "[V6ADDR]:PORT", ":PORT" (loopback) or "PORT" (loopback) with a
 * numeric address (no name lookups). Port 0 asks the system for a free one. */
int sh_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                    size_t n);

/* 1 when the Authorization header value is "Bearer <token>" (scheme case-insensitive) with
 * exactly token; compared in time independent of where they differ. 0 otherwise. */
int sh_bearer_ok(const char *header, const char *token);

/* The daemon's error_code mapped to an HTTP status and an OpenAI error type. */
int sh_daemon_error_status(const char *error_code, const char **type);

#endif
