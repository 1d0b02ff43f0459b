/* fuzz_request.c — libFuzzer target for the daemon's untrusted input: the spool request
 * parser ss_request_parse (src/session/ss_json.c). Any local user can drop bytes into the
 * request directory, and a writer may still be at work when the daemon reads them (T6), so
 * beyond "no crash, no leak, no read past the buffer" the target checks what the daemon
 * (src/daemon/ss_spool.c) relies on:
 *   - the result is one of OK, INCOMPLETE, INVALID, and a second parse with a small message
 *     buffer gives the same result, code and id, its message the first one's cut to fit;
 *   - INVALID: *code is one of the SS_E_* strings, msg is non-empty valid UTF-8 ending
 *     inside its buffer, the id kept is "" or the stem, and the error response written
 *     under the stem (ss_response_json) reads back as JSON with that id, code and message;
 *   - OK: the id is the stem, a transcribe request's audio_file is an absolute path shorter
 *     than PATH_MAX (a ping's and a cancel's none), a cancel's target a valid id, language
 *     "" / "auto" / a Whisper code, languages a list of 1 … 100 codes, prompt and hotwords
 *     NULL or non-empty valid UTF-8 of at most SS_PROMPT_MAX bytes, temperature 0 … 1,
 *     audio_ctx 0 / SP_AUDIO_CTX_AUTO / 1 … 1500, the flags 0 or 1 — the ranges
 *     docs/daemon.md "Request fields" gives; the documents built for it (ss_response_json_doc
 *     with the request's texts as results, language and segments; pong; cancel) read back
 *     as JSON with the same id and texts;
 *   - the same bytes under another stem (one character changed, one added, one removed)
 *     are refused bad_id: the file name is authoritative (T9);
 *   - a prefix of a valid request (a writer cut off mid-write, T6: "a parse failure of a
 *     young file is not yet") is INCOMPLETE, never refused at once — or, when only white
 *     space was cut, OK with the same content.
 * Every parse gets an exact-size heap copy, NUL-terminated as the header asks, so ASan
 * sees any read past it.
 * Input: the stem (the request file's name without ".json") on the first line, then the
 * request file's bytes. Corpus: fuzz/corpus/request/ (replayed by make test). */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "session/ss_fs.h"
#include "session/ss_json.h"
#include "speech.h"

#define MSG_N 300   /* the daemon's message buffer (ss_spool.c) */

static const char *const CODES[] = {
    SS_E_BAD_REQUEST, SS_E_BAD_ID, SS_E_TOO_LARGE, SS_E_NOT_REGULAR, SS_E_AUDIO_NOT_FOUND,
    SS_E_AUDIO_REFUSED, SS_E_AUDIO_FORMAT, SS_E_AUDIO_TOO_LONG, SS_E_AUDIO_IO,
    SS_E_DECODER_CRASHED, SS_E_DECODER_TIMEOUT, SS_E_TRANSCRIBE, SS_E_EXPIRED, SS_E_BUSY,
    SS_E_POISON, SS_E_SHUTDOWN, SS_E_INTERNAL, SS_E_DEVICE, SS_E_DUPLICATE, SS_E_CANCELLED,
};

static int known_code(const char *c)
{
    for (size_t i = 0; c && i < sizeof CODES / sizeof *CODES; i++)
        if (!strcmp(c, CODES[i])) return 1;
    return 0;
}

/* a NUL inside the n bytes of m */
static int terminated(const char *m, size_t n) { return memchr(m, 0, n) != NULL; }

/* the parse of buf[0..len), from an exact-size NUL-terminated heap copy; the message into
 * a heap buffer of exactly n bytes (freed by the caller) */
static ss_parse_result parse(const uint8_t *buf, size_t len, const char *stem, ss_request *r,
                             const char **code, char **msg, size_t n)
{
    char *b = malloc(len + 1);
    if (!b) abort();
    memcpy(b, buf, len);
    b[len] = 0;
    *msg = malloc(n);
    if (!*msg) abort();
    memset(*msg, 'x', n);
    *code = NULL;
    const ss_parse_result pr = ss_request_parse(b, len, stem, r, code, *msg, n);
    free(b);
    if (pr != SS_PARSE_OK && pr != SS_PARSE_INCOMPLETE && pr != SS_PARSE_INVALID) abort();
    if (!terminated(*msg, n)) abort();
    return pr;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int same_request(const ss_request *a, const ss_request *b)
{
    return !strcmp(a->id, b->id) && a->type == b->type && same_str(a->audio_file, b->audio_file) &&
           a->timestamp == b->timestamp && !strcmp(a->language, b->language) &&
           a->translate == b->translate && same_str(a->prompt, b->prompt) &&
           a->has_temperature == b->has_temperature && a->temperature == b->temperature &&
           same_str(a->hotwords, b->hotwords) && a->audio_ctx == b->audio_ctx &&
           !strcmp(a->languages, b->languages) && a->priority == b->priority &&
           a->stream == b->stream && a->word_timestamps == b->word_timestamps &&
           !strcmp(a->target, b->target);
}

/* a document's "id" is id, and it is a JSON object; returns it (json_decref) */
static json_t *doc_with_id(char *s, const char *id)
{
    if (!s) abort();
    if (!sp_utf8_valid(s, strlen(s))) abort();
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    free(s);
    if (!json_is_object(o)) abort();
    const char *v = json_string_value(json_object_get(o, "id"));
    if (!v || strcmp(v, id)) abort();
    return o;
}

static void check_text(const char *s)
{
    if (!s) return;
    const size_t l = strlen(s);
    if (!l || l > SS_PROMPT_MAX || !sp_utf8_valid(s, l)) abort();
}

static void check_ok(const ss_request *r, const char *stem)
{
    if (strcmp(r->id, stem)) abort();
    if (r->type == SS_REQ_TRANSCRIBE) {
        if (!r->audio_file || r->audio_file[0] != '/' || strlen(r->audio_file) >= PATH_MAX) abort();
    } else if (r->type == SS_REQ_PING || r->type == SS_REQ_CANCEL) {
        if (r->audio_file || r->prompt || r->hotwords) abort();
        if (r->type == SS_REQ_CANCEL && !ss_id_valid(r->target)) abort();
    } else {
        abort();
    }
    if (!isfinite(r->timestamp)) abort();
    const size_t ll = strlen(r->language);
    if (ll > SS_LANGUAGE_MAX) abort();
    if (ll && strcmp(r->language, "auto") && sp_language_index(r->language) < 0) abort();
    if (r->languages[0]) {   /* "en,de": each a code, 1 … 100 of them */
        if (strlen(r->languages) > SS_LANGUAGES_MAX) abort();
        int k = 0;
        char tmp[SS_LANGUAGES_MAX + 1], *save = NULL;
        memcpy(tmp, r->languages, sizeof tmp);
        for (char *c = strtok_r(tmp, ",", &save); c; c = strtok_r(NULL, ",", &save), k++)
            if (sp_language_index(c) < 0 || strcmp(sp_language_code(sp_language_index(c)), c)) abort();
        if (k < 1 || k > 100) abort();
        if (sp_language_list(r->languages, NULL, 100, NULL) < 1) abort();
    }
    check_text(r->prompt);
    check_text(r->hotwords);
    if (r->has_temperature ? !(r->temperature >= 0 && r->temperature <= 1) : r->temperature != 0) abort();
    if (r->audio_ctx < SP_AUDIO_CTX_AUTO || r->audio_ctx > 1500) abort();
    if ((r->translate | r->stream | r->word_timestamps) & ~1) abort();
    if (r->priority != SS_PRIO_INTERACTIVE && r->priority != SS_PRIO_BATCH) abort();
}

/* the answers the daemon writes for an accepted request read back with its id and texts */
static void check_documents(const ss_request *r)
{
    json_t *o;
    if (r->type == SS_REQ_PING) {
        o = doc_with_id(ss_pong_json(r->id, "cpu", 1, r->timestamp), r->id);
        json_decref(o);
        return;
    }
    if (r->type == SS_REQ_CANCEL) {
        o = doc_with_id(ss_cancel_json(r->id, r->target, 1, "pending", "cpu", 1, r->timestamp), r->id);
        const char *t = json_string_value(json_object_get(o, "target"));
        if (!t || strcmp(t, r->target)) abort();
        json_decref(o);
        return;
    }
    const char *res[3] = { r->prompt ? r->prompt : "", r->hotwords ? r->hotwords : "", r->audio_file };
    const double starts[3] = { 0, r->temperature, 1.5 }, ends[3] = { 0.5, 1, 2 };
    sp_word w = { .text = (char *)res[0], .start = 0, .end = 0.25, .probability = 0.5f };
    const sp_word *words[3] = { &w, NULL, NULL };
    const int n_words[3] = { 1, 0, 0 };
    ss_result_doc d = { .results = res, .n_results = 3, .starts = starts, .ends = ends,
                        .words = words, .n_words = n_words, .language = r->language,
                        .duration = r->temperature, .warning = SS_WARN_TRUNCATED };
    o = doc_with_id(ss_response_json_doc(r->id, &d, "cpu", 1, NULL, NULL, r->timestamp), r->id);
    const json_t *a = json_object_get(o, "results"), *g = json_object_get(o, "segments");
    if (json_array_size(a) != 3 || json_array_size(g) != 3) abort();
    for (int i = 0; i < 3; i++) {
        const char *t = json_string_value(json_array_get(a, (size_t)i));
        if (!t || strcmp(t, res[i])) abort();
        t = json_string_value(json_object_get(json_array_get(g, (size_t)i), "text"));
        if (!t || strcmp(t, res[i])) abort();
    }
    if (r->language[0] && !json_is_string(json_object_get(o, "language"))) abort();
    json_decref(o);
}

/* the error response the daemon writes under the stem for a refused request */
static void check_error_response(const char *stem, const char *msg, const char *code)
{
    json_t *o = doc_with_id(ss_response_json(stem, NULL, 0, "cpu", 1, msg, code, 1.0), stem);
    const char *e = json_string_value(json_object_get(o, "error"));
    const char *c = json_string_value(json_object_get(o, "error_code"));
    if (!e || strcmp(e, msg) || !c || strcmp(c, code)) abort();
    if (!json_is_array(json_object_get(o, "results")) || json_array_size(json_object_get(o, "results"))) abort();
    json_decref(o);
}

/* the bytes under a stem that is not theirs: bad_id, whatever else they are */
static void check_other_stem(const uint8_t *body, size_t len, const char *other)
{
    if (!ss_id_valid(other)) abort();
    ss_request r;
    const char *code;
    char *m;
    if (parse(body, len, other, &r, &code, &m, MSG_N) != SS_PARSE_INVALID ||
        !code || strcmp(code, SS_E_BAD_ID))
        abort();
    ss_request_clear(&r);
    free(m);
}

static int json_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* a writer cut off after k bytes (T6) */
static void check_prefix(const uint8_t *body, size_t len, size_t k, const char *stem,
                         const ss_request *full)
{
    ss_request r;
    const char *code;
    char *m;
    const ss_parse_result pr = parse(body, k, stem, &r, &code, &m, MSG_N);
    if (pr == SS_PARSE_INVALID) {
        fprintf(stderr, "prefix of %zu of %zu bytes refused at once: %s: %s\n", k, len, code, m);
        abort();
    }
    if (pr == SS_PARSE_OK) {
        for (size_t i = k; i < len; i++) if (!json_space(body[i])) abort();
        if (!same_request(&r, full)) abort();
    }
    ss_request_clear(&r);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < SS_ID_MAX + 1 ? size : SS_ID_MAX + 1);
    if (!nl) return 0;
    char stem[SS_ID_MAX + 2];
    const size_t sl = (size_t)(nl - data);
    memcpy(stem, data, sl);
    stem[sl] = 0;
    if (strlen(stem) != sl || !ss_id_valid(stem)) return 0;   /* the daemon parses only files
                                                             * with a valid name */
    const uint8_t *body = nl + 1;
    const size_t len = size - sl - 1;

    ss_request r, r2;
    const char *code, *code2;
    char *m, *m2;
    const ss_parse_result pr = parse(body, len, stem, &r, &code, &m, MSG_N);

    /* the same with a message buffer of 1 … 40 bytes: same answer, the message cut */
    const size_t small = 1 + len % 40;
    const ss_parse_result pr2 = parse(body, len, stem, &r2, &code2, &m2, small);
    if (pr2 != pr || !same_str(code, code2) || strncmp(m, m2, small - 1) ||
        strlen(m2) != (strlen(m) < small - 1 ? strlen(m) : small - 1))
        abort();
    if (pr == SS_PARSE_OK ? !same_request(&r, &r2) : strcmp(r.id, r2.id)) abort();
    ss_request_clear(&r2);
    free(m2);

    if (pr == SS_PARSE_INVALID) {
        if (!known_code(code)) abort();
        if (!m[0] || !sp_utf8_valid(m, strlen(m))) abort();
        if (r.id[0] && strcmp(r.id, stem)) abort();   /* kept only when it was the stem */
        if (r.audio_file || r.prompt || r.hotwords) abort();
        check_error_response(stem, m, code);
    } else if (pr == SS_PARSE_INCOMPLETE) {
        if (r.audio_file || r.prompt || r.hotwords || r.id[0]) abort();
    } else {
        check_ok(&r, stem);
        check_documents(&r);
        /* another stem: one character changed, one added, one removed */
        char other[SS_ID_MAX + 2];
        memcpy(other, stem, sl + 1);
        other[sl - 1] = other[sl - 1] == 'x' ? 'y' : 'x';
        check_other_stem(body, len, other);
        if (sl < SS_ID_MAX) {
            memcpy(other, stem, sl);
            memcpy(other + sl, "0", 2);
            check_other_stem(body, len, other);
        }
        if (sl > 1) {
            memcpy(other, stem, sl - 1);
            other[sl - 1] = 0;
            check_other_stem(body, len, other);
        }
        /* prefixes: every one of a short request; of a longer one, the cuts before a digit
         * (inside a number), inside a string's escape or a multibyte character, and every
         * 61st byte */
        for (size_t k = 0; k < len; k++) {
            const uint8_t c = body[k];
            if (len <= 512 || (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
                c == '\\' || (k && body[k - 1] == '\\') || (c & 0xC0) == 0x80 || k % 61 == 0)
                check_prefix(body, len, k, stem, &r);
        }
    }
    ss_request_clear(&r);
    free(m);
    return 0;
}
