/* ss_json.c — see ss_json.h. */
#include "session/ss_json.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "speech.h"   /* sp_language_index: the engine's language table */

#define SS_MAX_NESTING 32
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(16))

/* Deepest bracket nesting outside strings; stops counting past limit. */
static int max_depth(const char *s, size_t len, int limit)
{
    int depth = 0, maxd = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > maxd) maxd = depth;
            if (maxd > limit) return maxd;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return maxd;
}

static ss_parse_result invalid(const char **code, const char *c, char *msg, size_t n,
                               const char *what)
{
    *code = c;
    if (msg && n) snprintf(msg, n, "%s", what);
    return SS_PARSE_INVALID;
}

void ss_request_clear(ss_request *r)
{
    if (!r) return;
    free(r->audio_file);
    free(r->prompt);
    free(r->hotwords);
    memset(r, 0, sizeof *r);
}

/* The optional decoding options of a transcribe request: absent = the daemon's default;
 * present with a wrong type or value = bad_request (never silently ignored). */

/* An optional free-text field ("prompt", "hotwords"): a string of valid UTF-8 (jansson
 * checks), no NUL, at most SS_PROMPT_MAX bytes; "" counts as absent. */
static ss_parse_result text_field(json_t *root, const char *key, char **out, const char **code, char *msg, size_t n)
{
    json_t *v = json_object_get(root, key);
    char m[96];
    if (!v) return SS_PARSE_OK;
    if (!json_is_string(v)) {
        snprintf(m, sizeof m, "\"%s\" is not a string", key);
        return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
    }
    const char *p = json_string_value(v);
    size_t len = json_string_length(v);
    if (len != strlen(p) || len > SS_PROMPT_MAX) {
        snprintf(m, sizeof m, "\"%s\" %s", key, len != strlen(p) ? "contains NUL" : "longer than 4096 bytes");
        return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
    }
    if (len && !(*out = strdup(p))) return invalid(code, SS_E_INTERNAL, msg, n, "out of memory");
    return SS_PARSE_OK;
}

/* An optional boolean field: true or false only (0/1/"true" are refused, never guessed). */
static ss_parse_result bool_field(json_t *root, const char *key, int *out, const char **code,
                                  char *msg, size_t n)
{
    json_t *v = json_object_get(root, key);
    if (!v) return SS_PARSE_OK;
    if (!json_is_boolean(v)) {
        char m[96];
        snprintf(m, sizeof m, "\"%s\" must be true or false", key);
        return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
    }
    *out = json_is_true(v);
    return SS_PARSE_OK;
}

/* The live-dictation fields (docs/daemon.md "Live requests"). */
static ss_parse_result live_options(json_t *root, ss_request *out, const char **code,
                                    char *msg, size_t n)
{
    json_t *v = json_object_get(root, "priority");
    if (v) {
        const char *t = json_is_string(v) ? json_string_value(v) : NULL;
        int exact = t && json_string_length(v) == strlen(t);
        if (exact && !strcmp(t, "interactive"))
            out->priority = SS_PRIO_INTERACTIVE;
        else if (exact && !strcmp(t, "batch"))
            out->priority = SS_PRIO_BATCH;
        else
            return invalid(code, SS_E_BAD_REQUEST, msg, n,
                           "\"priority\" must be \"interactive\" or \"batch\"");
    }
    ss_parse_result pr;
    if ((pr = bool_field(root, "stream", &out->stream, code, msg, n)) != SS_PARSE_OK) return pr;
    return bool_field(root, "word_timestamps", &out->word_timestamps, code, msg, n);
}

/* A cancel request: "target" is required and must be a valid request id. */
static ss_parse_result parse_cancel(json_t *root, ss_request *out, const char **code,
                                    char *msg, size_t n)
{
    json_t *v = json_object_get(root, "target");
    const char *t = json_is_string(v) ? json_string_value(v) : NULL;
    if (!t || json_string_length(v) != strlen(t) || !ss_id_valid(t))
        return invalid(code, SS_E_BAD_REQUEST, msg, n,
                       "\"target\" missing or not a valid request id");
    snprintf(out->target, sizeof out->target, "%s", t);
    out->type = SS_REQ_CANCEL;
    return SS_PARSE_OK;
}

/* "languages": an array of Whisper codes (not "auto"), at least one, kept as "en,de" */
static ss_parse_result languages_field(json_t *root, ss_request *out, const char **code, char *msg, size_t n)
{
    json_t *v = json_object_get(root, "languages"), *x;
    if (!v) return SS_PARSE_OK;
    size_t i, len = 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 100)
        return invalid(code, SS_E_BAD_REQUEST, msg, n,
                       "\"languages\" must be an array of 1 to 100 language codes such as [\"en\", \"de\"]");
    json_array_foreach(v, i, x) {
        const char *l = json_is_string(x) ? json_string_value(x) : NULL;
        const int li = l && json_string_length(x) == strlen(l) ? sp_language_index(l) : -1;
        if (li < 0) {
            char m[128];
            snprintf(m, sizeof m, "\"languages\" entry %zu is not a Whisper language code (\"en\", \"de\", ...)", i);
            return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
        }
        /* kept as codes: a name ("german") is taken as its code, which also fits the buffer */
        len += (size_t)snprintf(out->languages + len, sizeof out->languages - len, "%s%s", i ? "," : "",
                                sp_language_code(li));
    }
    return SS_PARSE_OK;
}

static ss_parse_result parse_options(json_t *root, ss_request *out, const char **code,
                                     char *msg, size_t n)
{
    ss_parse_result pr0;
    json_t *v = json_object_get(root, "language");
    if (v) {
        if (!json_is_string(v))
            return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"language\" is not a string");
        const char *l = json_string_value(v);
        size_t len = json_string_length(v);
        if (len == 0 || len > SS_LANGUAGE_MAX || len != strlen(l))
            return invalid(code, SS_E_BAD_REQUEST, msg, n,
                           "\"language\" must be a language code such as \"en\" or \"auto\"");
        const int is_auto = sp_language_auto(l), li = is_auto ? -1 : sp_language_index(l);
        if (!is_auto && li < 0) {
            char m[160];
            snprintf(m, sizeof m, "unknown \"language\" \"%s\" (a Whisper code such as \"de\", an "
                     "English name such as \"German\", or \"auto\")", l);
            return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
        }
        /* a name or another case ("German", "DE") is kept as its code, as the engine reports it */
        if (li >= 0) snprintf(out->language, sizeof out->language, "%s", sp_language_code(li));
        else snprintf(out->language, sizeof out->language, "auto");
    }
    if ((pr0 = languages_field(root, out, code, msg, n)) != SS_PARSE_OK) return pr0;
    v = json_object_get(root, "task");
    if (v) {
        const char *t = json_is_string(v) ? json_string_value(v) : NULL;
        if (t && json_string_length(v) == strlen(t) && strcmp(t, "transcribe") == 0)
            out->translate = 0;
        else if (t && json_string_length(v) == strlen(t) && strcmp(t, "translate") == 0)
            out->translate = 1;
        else
            return invalid(code, SS_E_BAD_REQUEST, msg, n,
                           "\"task\" must be \"transcribe\" or \"translate\"");
    }
    ss_parse_result pr;
    if ((pr = text_field(root, "prompt", &out->prompt, code, msg, n)) != SS_PARSE_OK ||
        (pr = text_field(root, "hotwords", &out->hotwords, code, msg, n)) != SS_PARSE_OK)
        return pr;
    v = json_object_get(root, "audio_ctx");   /* encoder positions: N (1..1500) or "auto" */
    if (v) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        json_int_t k = json_is_integer(v) ? json_integer_value(v) : -1;
        if (s && !strcmp(s, "auto"))
            out->audio_ctx = SP_AUDIO_CTX_AUTO;
        else if (k >= 1 && k <= 1500)
            out->audio_ctx = (int)k;
        else
            return invalid(code, SS_E_BAD_REQUEST, msg, n,
                           "\"audio_ctx\" must be \"auto\" or an integer from 1 to 1500");
    }
    if ((pr = live_options(root, out, code, msg, n)) != SS_PARSE_OK) return pr;
    v = json_object_get(root, "temperature");
    if (v) {
        double t = json_is_number(v) ? json_number_value(v) : NAN;
        if (!(t >= 0.0 && t <= 1.0))
            return invalid(code, SS_E_BAD_REQUEST, msg, n,
                           "\"temperature\" must be a number from 0 to 1");
        out->has_temperature = 1;
        out->temperature = t;
    }
    return SS_PARSE_OK;
}

/* 1 when the number jansson found too big (at byte pos) is an integer running to the end of
 * the bytes: a writer may not have finished it, and "12345678901234567890" (past int64) is
 * the start of the real "12345678901234567890.5" (well within a double's range) */
static int integer_at_end(const char *buf, size_t len, int pos)
{
    if (pos < 0 || (size_t)pos != len) return 0;
    size_t i = len;
    while (i && buf[i - 1] >= '0' && buf[i - 1] <= '9') i--;
    if (i == len) return 0;
    if (i && buf[i - 1] == '-') i--;
    const char c = i ? buf[i - 1] : ' ';   /* an exponent's or a fraction's digits: a real */
    return !(c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' || (c >= '0' && c <= '9'));
}

/* The bytes as JSON into *root, or why not: SS_PARSE_INCOMPLETE while more bytes could still
 * make them valid (the writer may not have finished: never an error at once), otherwise
 * SS_PARSE_INVALID. */
static ss_parse_result load_json(const char *buf, size_t len, json_t **root, const char **code,
                                 char *msg, size_t n)
{
    *root = NULL;
    if (len > SS_REQUEST_MAX)
        return invalid(code, SS_E_TOO_LARGE, msg, n, "request larger than 64 KiB");
    if (max_depth(buf, len, SS_MAX_NESTING) > SS_MAX_NESTING)
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "JSON nested too deeply");
    json_error_t je;
    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (*root) return SS_PARSE_OK;
    enum json_error_code ec = json_error_code(&je);
    /* an integer cut off by the end of the bytes is not final: more bytes can make it a
     * real (a request written with such a timestamp had been refused mid-write, T6) */
    if (ec == json_error_numeric_overflow && integer_at_end(buf, len, je.position))
        ec = json_error_premature_end_of_input;
    switch (ec) {
    case json_error_duplicate_key:
    case json_error_null_character:
    case json_error_numeric_overflow:
    case json_error_end_of_input_expected:
    case json_error_null_byte_in_key:
    case json_error_item_not_found:
    case json_error_out_of_memory:
        break;   /* more bytes cannot fix these: final */
    default:
        if (msg && n) snprintf(msg, n, "invalid JSON: %s", je.text);
        return SS_PARSE_INCOMPLETE;
    }
    char m[256];
    snprintf(m, sizeof m, "invalid JSON: %s", je.text);
    return invalid(code, SS_E_BAD_REQUEST, msg, n, m);
}

/* What every request type shares: an object whose "id" is the file's stem (then copied to
 * out->id, so that even a refusal can be answered under it), an optional "type" (*type,
 * default "transcribe") and an optional finite "timestamp" (*has_ts: it was there). */
static ss_parse_result parse_common(json_t *root, const char *stem, ss_request *out,
                                    const char **type, int *has_ts, const char **code,
                                    char *msg, size_t n)
{
    if (!json_is_object(root))
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "request is not a JSON object");
    json_t *id = json_object_get(root, "id");
    if (!json_is_string(id))
        return invalid(code, SS_E_BAD_ID, msg, n, "\"id\" missing or not a string");
    if (strcmp(json_string_value(id), stem) != 0 || json_string_length(id) != strlen(stem))
        return invalid(code, SS_E_BAD_ID, msg, n, "\"id\" does not match the request file name");
    snprintf(out->id, sizeof out->id, "%s", stem);
    json_t *t = json_object_get(root, "type");
    if (t && !json_is_string(t))
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"type\" is not a string");
    *type = t ? json_string_value(t) : "transcribe";
    json_t *tsv = json_object_get(root, "timestamp");
    if (tsv && !json_is_number(tsv))
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"timestamp\" is not a number");
    out->timestamp = tsv ? json_number_value(tsv) : 0.0;
    if (!isfinite(out->timestamp))
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"timestamp\" is not finite");
    *has_ts = tsv != NULL;
    return SS_PARSE_OK;
}

/* A transcribe request: "timestamp" required (a ping's and a cancel's are optional),
 * "audio_file" an absolute path without NUL and shorter than PATH_MAX, then the decoding
 * options. */
static ss_parse_result parse_transcribe(json_t *root, int has_ts, ss_request *out,
                                        const char **code, char *msg, size_t n)
{
    out->type = SS_REQ_TRANSCRIBE;
    if (!has_ts)
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"timestamp\" missing");
    json_t *af = json_object_get(root, "audio_file");
    if (!json_is_string(af))
        return invalid(code, SS_E_BAD_REQUEST, msg, n, "\"audio_file\" missing or not a string");
    const char *path = json_string_value(af);
    size_t plen = json_string_length(af);
    if (plen == 0 || plen != strlen(path))
        return invalid(code, SS_E_AUDIO_REFUSED, msg, n, "\"audio_file\" is empty or contains NUL");
    if (plen >= PATH_MAX)
        return invalid(code, SS_E_AUDIO_REFUSED, msg, n, "\"audio_file\" longer than PATH_MAX");
    if (path[0] != '/')
        return invalid(code, SS_E_AUDIO_REFUSED, msg, n, "\"audio_file\" is not an absolute path");
    out->audio_file = strdup(path);
    if (!out->audio_file)
        return invalid(code, SS_E_INTERNAL, msg, n, "out of memory");
    return parse_options(root, out, code, msg, n) == SS_PARSE_OK ? SS_PARSE_OK : SS_PARSE_INVALID;
}

ss_parse_result ss_request_parse(const char *buf, size_t len, const char *stem,
                                 ss_request *out, const char **code, char *msg, size_t n)
{
    memset(out, 0, sizeof *out);
    *code = NULL;
    if (msg && n) msg[0] = 0;
    json_t *root;
    ss_parse_result r = load_json(buf, len, &root, code, msg, n);
    if (r != SS_PARSE_OK) return r;
    const char *type = NULL;
    int has_ts = 0;
    r = parse_common(root, stem, out, &type, &has_ts, code, msg, n);
    if (r != SS_PARSE_OK) goto done;
    if (strcmp(type, "ping") == 0)
        out->type = SS_REQ_PING;
    else if (strcmp(type, "cancel") == 0)
        r = parse_cancel(root, out, code, msg, n);
    else if (strcmp(type, "transcribe") != 0)
        r = invalid(code, SS_E_BAD_REQUEST, msg, n, "unknown request \"type\"");
    else
        r = parse_transcribe(root, has_ts, out, code, msg, n);
done:
    json_decref(root);
    if (r != SS_PARSE_OK) {
        char keep[SS_ID_MAX + 1];
        memcpy(keep, out->id, sizeof keep);
        ss_request_clear(out);
        memcpy(out->id, keep, sizeof keep);  /* id stays known when it was valid */
    }
    return r;
}

static char *dump(json_t *o)
{
    if (!o) return NULL;
    char *s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    return s;
}

char *ss_response_json(const char *id, const char *const *results, int n_results,
                       const char *device, int session_active, const char *error,
                       const char *error_code, double timestamp)
{
    return ss_response_json_ex(id, results, n_results, NULL, NULL, NULL, -1, device, session_active,
                               error, error_code, timestamp);
}

char *ss_response_json_ex(const char *id, const char *const *results, int n_results,
                          const double *starts, const double *ends, const char *language,
                          double duration, const char *device, int session_active,
                          const char *error, const char *error_code, double timestamp)
{
    ss_result_doc r = { .results = results, .n_results = n_results, .starts = starts,
                        .ends = ends, .language = language, .duration = duration };
    return ss_response_json_doc(id, &r, device, session_active, error, error_code, timestamp);
}

static json_t *seconds(double v) { return json_real(floor(v * 1000.0 + 0.5) / 1000.0); }

/* [{"start","end","word","probability"}] as openai/faster-whisper name them */
static json_t *words_json(const sp_word *w, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        json_t *o = json_object(), *t = json_string(w[i].text ? w[i].text : "");
        if (!o || !t) { json_decref(o); json_decref(t); continue; }
        json_object_set_new(o, "start", seconds(w[i].start));
        json_object_set_new(o, "end", seconds(w[i].end));
        json_object_set_new(o, "word", t);
        json_object_set_new(o, "probability", json_real(floor(w[i].probability * 10000.0 + 0.5) / 10000.0));
        json_array_append_new(a, o);
    }
    return a;
}

/* 6 decimals: no_speech_prob is often ~1e-3 and is compared with thresholds like 0.6. A
 * figure that is not finite (a token of probability 0 makes avg_logprob −inf) is left out,
 * as the HTTP front end then leaves out the segment's figures: 0.0 would have read as a
 * perfect avg_logprob. */
static void figure(json_t *g, const char *key, float v)
{
    if (isfinite(v)) json_object_set_new(g, key, json_real(floor((double)v * 1e6 + 0.5) / 1e6));
}

/* the temperature as asked, to 6 significant digits: at 6 decimals a request's 1e-9 (which
 * samples, if all but greedily) had been reported as 0, greedy decoding */
static void figure_sig(json_t *g, const char *key, float v)
{
    char b[32];
    if (!isfinite(v)) return;
    snprintf(b, sizeof b, "%.6g", (double)v);
    json_object_set_new(g, key, json_real(strtod(b, NULL)));
}

static void add_decode(json_t *g, const ss_seg_decode *d)
{
    json_t *toks = json_array();
    for (int i = 0; toks && i < d->n_tokens; i++) json_array_append_new(toks, json_integer(d->tokens[i]));
    json_object_set_new(g, "seek", json_integer(d->seek));
    if (toks) json_object_set_new(g, "tokens", toks);
    figure_sig(g, "temperature", d->temperature);
    figure(g, "avg_logprob", d->avg_logprob);
    figure(g, "compression_ratio", d->compression_ratio);
    figure(g, "no_speech_prob", d->no_speech_prob);
    /* always, "" when Whisper's text began with no space (Chinese, Japanese, Thai): a client
     * tells that from a daemon that does not say (an older one) and joins those segments
     * without a space */
    json_object_set_new(g, "text_lead", json_string(d->lead));
}

static json_t *segment_json(double start, double end, json_t *text, const sp_word *w, int n_words,
                            int with_words, const ss_seg_decode *dec)
{
    json_t *g = json_object();
    if (!g) return NULL;
    json_object_set_new(g, "start", seconds(start));
    json_object_set_new(g, "end", seconds(end));
    json_object_set(g, "text", text);
    if (with_words) json_object_set_new(g, "words", words_json(w, n_words));
    if (dec) add_decode(g, dec);
    return g;
}

/* s as a JSON string with its invalid UTF-8 replaced (U+FFFD), or NULL out of memory */
static json_t *repaired_string(const char *s)
{
    size_t n = strlen(s);
    char *r = malloc(3 * n + 1);
    if (!r) return NULL;
    sp_utf8_repair(s, n, r);
    json_t *j = json_string(r);
    free(r);
    return j;
}

char *ss_response_json_doc(const char *id, const ss_result_doc *r, const char *device,
                           int session_active, const char *error, const char *error_code,
                           double timestamp)
{
    json_t *o = json_object(), *arr = json_array();
    json_t *segs = r->starts && r->ends ? json_array() : NULL;
    if (!o || !arr) { json_decref(o); json_decref(arr); json_decref(segs); return NULL; }
    for (int i = 0; i < r->n_results; i++) {
        json_t *s = json_string(r->results[i] ? r->results[i] : "");
        if (!s) s = json_string("");   /* invalid UTF-8 from the engine: never expected */
        if (segs)
            json_array_append_new(segs, segment_json(r->starts[i], r->ends[i], s,
                                  r->words ? r->words[i] : NULL, r->words ? r->n_words[i] : 0,
                                  r->words != NULL, r->decode ? &r->decode[i] : NULL));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "results", arr);
    if (segs) json_object_set_new(o, "segments", segs);
    if (r->language && *r->language) json_object_set_new(o, "language", json_string(r->language));
    if (r->duration >= 0) json_object_set_new(o, "duration", seconds(r->duration));
    if (r->warning) json_object_set_new(o, "warning", json_string(r->warning));
    json_object_set_new(o, "timestamp", json_real(timestamp));
    json_object_set_new(o, "device", json_string(device ? device : "cpu"));
    json_object_set_new(o, "session_active", json_boolean(session_active));
    if (error) {
        json_t *e = json_string(error);
        if (!e) e = repaired_string(error);   /* kept, its invalid bytes as U+FFFD */
        if (!e) e = json_string("error (message was not valid UTF-8)");
        json_object_set_new(o, "error", e);
        json_object_set_new(o, "error_code", json_string(error_code ? error_code : SS_E_INTERNAL));
    }
    return dump(o);
}

char *ss_segment_line_json(int index, double start, double end, const char *text,
                           const sp_word *words, int n_words, const ss_seg_decode *dec)
{
    json_t *t = json_string(text ? text : "");
    if (!t) t = json_string("");
    json_t *g = segment_json(start, end, t, words, n_words, words != NULL, dec);
    json_decref(t);
    if (!g) return NULL;
    json_t *o = json_object();   /* "i" first: readers see the index before the text */
    if (!o) { json_decref(g); return NULL; }
    json_object_set_new(o, "i", json_integer(index));
    json_object_update(o, g);
    json_decref(g);
    return dump(o);
}

char *ss_cancel_json(const char *id, const char *target, int cancelled, const char *state,
                     const char *device, int session_active, double timestamp)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "type", json_string("cancel"));
    json_object_set_new(o, "target", json_string(target));
    json_object_set_new(o, "cancelled", json_boolean(cancelled));
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "timestamp", json_real(timestamp));
    json_object_set_new(o, "device", json_string(device ? device : "cpu"));
    json_object_set_new(o, "session_active", json_boolean(session_active));
    return dump(o);
}

char *ss_pong_json(const char *id, const char *device, int session_active, double timestamp)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "type", json_string("pong"));
    json_object_set_new(o, "timestamp", json_real(timestamp));
    json_object_set_new(o, "device", json_string(device ? device : "cpu"));
    json_object_set_new(o, "session_active", json_boolean(session_active));
    return dump(o);
}

static json_t *num(double v)
{
    return v == floor(v) && fabs(v) < 1e15 ? json_integer((json_int_t)v) : json_real(v);
}

char *ss_status_json(const ss_status *s)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "active", json_boolean(s->active));
    json_object_set_new(o, "model_loaded", json_boolean(s->model_loaded));
    json_object_set_new(o, "device", json_string(s->device ? s->device : "cpu"));
    json_object_set_new(o, "model_size", s->model_size ? json_string(s->model_size) : json_null());
    json_object_set_new(o, "processing", json_boolean(s->processing));
    json_object_set_new(o, "last_activity", json_real(s->last_activity));
    json_object_set_new(o, "session_timeout", num(s->session_timeout));
    json_object_set_new(o, "timestamp", json_real(s->timestamp));
    json_object_set_new(o, "pid", json_integer(s->pid));
    /* extensions (not in the spec; clients ignore unknown fields) */
    json_object_set_new(o, "state", json_string(s->state ? s->state : "unknown"));
    json_object_set_new(o, "started", json_real(s->started));
    json_object_set_new(o, "pending", json_integer(s->pending));
    json_object_set_new(o, "processed", json_integer(s->processed));
    json_object_set_new(o, "failed", json_integer(s->failed));
    json_object_set_new(o, "degraded", s->degraded ? json_string(s->degraded) : json_false());
    /* device details (docs/daemon.md): the GPU's name and memory, or why there is none */
    json_object_set_new(o, "device_name", s->device_name ? json_string(s->device_name) : json_null());
    json_object_set_new(o, "device_fallback", s->device_fallback ? json_string(s->device_fallback) : json_null());
    if (s->gpu_memory_total > 0) {
        json_object_set_new(o, "gpu_memory_used_mb", json_integer((json_int_t)(s->gpu_memory_used / 1048576.0)));
        json_object_set_new(o, "gpu_memory_total_mb", json_integer((json_int_t)(s->gpu_memory_total / 1048576.0)));
    }
    return dump(o);
}

char *ss_marker_json(double started, long pid)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "started", json_real(started));
    json_object_set_new(o, "pid", json_integer(pid));
    return dump(o);
}

char *ss_escape(char *dst, size_t n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!n) return dst;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[5];
        size_t k = 0;
        if (c < 0x20 || c == 0x7f) {
            tmp[k++] = '\\'; tmp[k++] = 'x'; tmp[k++] = hex[c >> 4]; tmp[k++] = hex[c & 15];
        } else if (c == '"' || c == '\\') {
            tmp[k++] = '\\'; tmp[k++] = (char)c;
        } else {
            tmp[k++] = (char)c;
        }
        if (o + k + 4 >= n) {   /* leave room for "..." */
            if (n >= 4) {   /* never half a character before it (UTF-8 paths, messages) */
                size_t at = sp_utf8_cut(dst, o < n - 4 ? o : n - 4);
                memcpy(dst + at, "...", 3);
                o = at + 3;
            }
            break;
        }
        memcpy(dst + o, tmp, k);
        o += k;
    }
    dst[o < n ? o : n - 1] = 0;
    return dst;
}
