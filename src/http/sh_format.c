/* sh_format.c — see sh_format.h. */
#include "http/sh_format.h"
#include "clients/session_client.h"   /* ssc_segment_lead */
#include "common/utf8.h"
#include "speech.h"   /* sp_language_name */

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sh_fmt_parse(const char *s, sh_fmt *out)
{
    static const struct { const char *name; sh_fmt f; } tab[] = {
        { "json", SH_FMT_JSON }, { "text", SH_FMT_TEXT }, { "srt", SH_FMT_SRT },
        { "vtt", SH_FMT_VTT }, { "verbose_json", SH_FMT_VERBOSE },
    };
    if (!s || !*s) { *out = SH_FMT_JSON; return 0; }
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0) { *out = tab[i].f; return 0; }
    return -1;
}

const char *sh_fmt_content_type(sh_fmt f)
{
    switch (f) {
    case SH_FMT_TEXT: case SH_FMT_SRT: return "text/plain; charset=utf-8";
    case SH_FMT_VTT: return "text/vtt; charset=utf-8";
    default: return "application/json";
    }
}

void sh_transcript_deinit(sh_transcript *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        free(t->segs[i].text);
        json_decref(t->segs[i].decode);
    }
    free(t->segs);
    for (int i = 0; i < t->n_words; i++) free(t->words[i].word);
    free(t->words);
    free(t->language);
    memset(t, 0, sizeof *t);
}

static size_t trimmed_len(const char *s);

/* 1 when the character at s[0..n) is white space or punctuation (*len gets its length);
 * 0 for anything else, invalid UTF-8 included (kept: it is not ours to judge). */
static int bare_edge(const char *s, size_t n, int *len)
{
    int bad;
    *len = sp_utf8_seq((const unsigned char *)s, n, &bad);
    if (!*len) return 0;
    uint32_t cp = sp_utf8_cp((const unsigned char *)s, *len);
    /* punctuation by category that is part of what was said: "50%", "#1", "AT&T", "@name",
     * "6′2″", "§ 4", "and/or" at a word's end — kept ("50%" had become "50") */
    static const uint32_t says[] = { '%', 0x2030, 0x2031, '#', '&', '@', '*', '/', '\\', 0xA7, 0xB6,
                                     0x2020, 0x2021, 0x2032, 0x2033, 0x2034 };
    for (size_t i = 0; i < sizeof says / sizeof *says; i++)
        if (cp == says[i]) return 0;
    return sp_uc_py_space(cp) || sp_uc_is_punct(cp);
}

/* A word as OpenAI's whisper-1 answers it: without the white space and punctuation at its
 * ends (Whisper attaches "," "." "?" and quotes to the word before or after; OpenAI's words
 * are bare — "What's up, everybody?" gives "What's", "up", "everybody" — and clients such
 * as Remotion put the punctuation back from the text). Inside a word it stays: "What's",
 * "well-known", "3.5". Sets *n to the bare word's length; returns where it starts. */
static const char *bare_word(const char *w, size_t *n)
{
    size_t l = strlen(w);
    int k;
    while (l && bare_edge(w, l, &k)) { w += k; l -= (size_t)k; }
    while (l) {   /* the last character: back to its first byte */
        size_t at = l - 1;
        while (at && ((unsigned char)w[at] & 0xC0) == 0x80 && l - at < 4) at--;
        if (!bare_edge(w + at, l - at, &k) || (size_t)k != l - at) break;
        l = at;
    }
    *n = l;
    return w;
}

/* A segment's "words" [{start, end, word, ...}] appended to t->words, bare (bare_word); a
 * word that was only punctuation is left out, its time with it. A segment without them
 * marks t->words_missing; malformed entries are skipped (times must be sane). */
static int add_words(const json_t *seg, sh_transcript *t)
{
    const json_t *ws = json_object_get(seg, "words"), *w;
    if (!json_is_array(ws)) { t->words_missing = 1; return 0; }
    size_t i, n = json_array_size(ws);
    if (!n) return 0;
    sh_word *grown = realloc(t->words, ((size_t)t->n_words + n) * sizeof *grown);
    if (!grown) return -1;
    t->words = grown;
    json_array_foreach(ws, i, w) {
        const json_t *s = json_object_get(w, "start"), *e = json_object_get(w, "end");
        const char *text = json_string_value(json_object_get(w, "word"));
        if (!json_is_number(s) || !json_is_number(e) || !text) continue;
        double a = json_number_value(s), b = json_number_value(e);
        if (!isfinite(a) || !isfinite(b) || a < 0 || b < a) continue;
        size_t l;
        text = bare_word(text, &l);
        if (!l) continue;
        sh_word *x = &t->words[t->n_words];
        x->start = a;
        x->end = b;
        x->word = strndup(text, l);
        if (!x->word) return -1;
        t->n_words++;
    }
    return 0;
}

static const char *const DECODE_FIGURES[] = { "temperature", "avg_logprob", "compression_ratio",
                                              "no_speech_prob" };

/* A segment's decode fields as OpenAI's verbose_json names them, when the daemon gave every
 * one of them well-formed (a non-negative integer seek, integer token ids, finite figures);
 * NULL otherwise — then the segment is answered without them, as from an older daemon. */
static json_t *decode_of(const json_t *v)
{
    json_t *seek = json_object_get(v, "seek"), *toks = json_object_get(v, "tokens"), *x;
    size_t i;
    if (!json_is_integer(seek) || json_integer_value(seek) < 0 || !json_is_array(toks)) return NULL;
    json_array_foreach(toks, i, x) if (!json_is_integer(x)) return NULL;
    for (i = 0; i < sizeof DECODE_FIGURES / sizeof *DECODE_FIGURES; i++) {
        x = json_object_get(v, DECODE_FIGURES[i]);
        if (!json_is_number(x) || !isfinite(json_number_value(x))) return NULL;
    }
    json_t *d = json_object();
    if (!d) return NULL;
    json_object_set(d, "seek", seek);
    json_object_set_new(d, "tokens", json_deep_copy(toks));
    for (i = 0; i < sizeof DECODE_FIGURES / sizeof *DECODE_FIGURES; i++)
        json_object_set(d, DECODE_FIGURES[i], json_object_get(v, DECODE_FIGURES[i]));
    return d;
}

static int from_segments(const json_t *arr, sh_transcript *t)
{
    size_t n = json_array_size(arr), i;
    const json_t *v;
    json_array_foreach(arr, i, v) {   /* all or nothing: any malformed entry → estimate */
        const json_t *s = json_object_get(v, "start"), *e = json_object_get(v, "end");
        if (!json_is_number(s) || !json_is_number(e) || !json_is_string(json_object_get(v, "text")))
            return 1;
        double a = json_number_value(s), b = json_number_value(e);
        if (!isfinite(a) || !isfinite(b) || a < 0 || b < a) return 1;
    }
    t->segs = calloc(n ? n : 1, sizeof *t->segs);
    if (!t->segs) return -1;
    json_array_foreach(arr, i, v) {
        sh_seg *g = &t->segs[t->n];
        g->start = json_number_value(json_object_get(v, "start"));
        g->end = json_number_value(json_object_get(v, "end"));
        g->text = strdup(json_string_value(json_object_get(v, "text")));
        if (!g->text) return -1;
        g->decode = decode_of(v);
        g->lead_known = ssc_segment_lead(v, g->lead);
        t->n++;
        if (add_words(v, t) != 0) return -1;
    }
    return 0;
}

static size_t trimmed_len(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1])) l--;
    return l;
}

int sh_transcript_from_response(const json_t *resp, double duration, sh_transcript *t)
{
    memset(t, 0, sizeof *t);
    const json_t *d = json_object_get(resp, "duration");
    if (json_is_number(d) && isfinite(json_number_value(d)) && json_number_value(d) >= 0)
        duration = json_number_value(d);
    t->duration = duration > 0 && isfinite(duration) ? duration : 0;
    const json_t *lang = json_object_get(resp, "language");
    if (json_is_string(lang) && json_string_length(lang) > 0) {
        t->language = strdup(json_string_value(lang));
        if (!t->language) return -1;
    }
    const json_t *segs = json_object_get(resp, "segments");
    if (json_is_array(segs)) {
        int r = from_segments(segs, t);
        if (r < 0) { sh_transcript_deinit(t); return -1; }
        if (r == 0) return 0;
    }
    /* estimate: results spread over the duration in proportion to their trimmed length */
    const json_t *res = json_object_get(resp, "results");
    size_t n = json_array_size(res), i, total = 0;
    const json_t *v;
    json_array_foreach(res, i, v)
        if (json_is_string(v)) total += trimmed_len(json_string_value(v));
    t->segs = calloc(n ? n : 1, sizeof *t->segs);
    if (!t->segs) { sh_transcript_deinit(t); return -1; }
    t->estimated = n > 0;   /* nothing to time is exact */
    t->words_missing = n > 0;
    double at = 0;
    size_t done = 0;
    json_array_foreach(res, i, v) {
        if (!json_is_string(v)) continue;
        sh_seg *g = &t->segs[t->n];
        size_t l = trimmed_len(json_string_value(v));
        g->start = at;
        done += l;
        g->end = total ? t->duration * (double)done / (double)total
                       : t->duration * (double)(t->n + 1) / (double)n;
        g->end = round(g->end * 1000.0) / 1000.0;
        at = g->end;
        g->text = strdup(json_string_value(v));
        if (!g->text) { sh_transcript_deinit(t); return -1; }
        t->n++;
    }
    return 0;
}

const char *sh_seg_joiner(const char *lead, int lead_known)
{
    return lead_known ? lead : " ";
}

char *sh_transcript_text(const sh_transcript *t)
{
    size_t total = 1;
    for (int i = 0; i < t->n; i++) total += strlen(t->segs[i].text) + sizeof t->segs[i].lead;
    char *s = malloc(total), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < t->n; i++) {
        const char *a = t->segs[i].text;
        while (*a && isspace((unsigned char)*a)) a++;
        size_t l = trimmed_len(a);
        if (!l) continue;
        if (p != s) {
            const char *j = sh_seg_joiner(t->segs[i].lead, t->segs[i].lead_known);
            memcpy(p, j, strlen(j));
            p += strlen(j);
        }
        memcpy(p, a, l);
        p += l;
    }
    *p = 0;
    return s;
}

void sh_timestamp(double seconds, char sep, char out[32])
{
    if (!(seconds > 0) || !isfinite(seconds)) seconds = 0;
    /* past what a long long of milliseconds holds (9.2e15 s, 2.9e8 years: only a response
     * file the daemon did not write says so) llround gives LLONG_MIN, and the cue's line
     * read "-2562047788015:-12:-55,-808": 9e15 s instead, which it still holds */
    if (seconds > 9e15) seconds = 9e15;
    long long ms = llround(seconds * 1000.0);
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
    snprintf(out, 32, "%02lld:%02lld:%02lld%c%03lld", h, m, s, sep, ms % 1000);
}

/* a growable string with a hard maximum (curl's dynbuf) */
typedef struct { char *p; size_t len, cap; int bad; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t l)
{
    if (b->bad) return;
    if (b->len + l + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + l + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->bad = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, l);
    b->len += l;
    b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* one cue's text: trimmed, newlines and tabs as spaces (a blank line would end the cue),
 * and "-->" defused (it would read as a timing line in WebVTT): a '>' after two or more
 * '-' keeps one of them. (Replacing "-->" by "->" where it began had left "--->" as "-->":
 * the '-' before it was already written.) */
static void sb_cue_text(sbuf *b, const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t l = trimmed_len(s);
    const size_t start = b->len;   /* the cue's own bytes only: never into its timing line */
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        if (c == '>' && !b->bad)
            while (b->len >= start + 2 && b->p[b->len - 1] == '-' && b->p[b->len - 2] == '-')
                b->len--;
        sb_add(b, &c, 1);
    }
}

static char *render_cues(const sh_transcript *t, int vtt, size_t *len)
{
    sbuf b = { 0 };
    if (vtt) sb_str(&b, "WEBVTT\n\n");
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        if (!trimmed_len(t->segs[i].text)) continue;
        char a[32], z[32], num[32];
        sh_timestamp(t->segs[i].start, vtt ? '.' : ',', a);
        sh_timestamp(t->segs[i].end, vtt ? '.' : ',', z);
        if (!vtt) {
            snprintf(num, sizeof num, "%d\n", ++k);
            sb_str(&b, num);
        }
        sb_str(&b, a);
        sb_str(&b, " --> ");
        sb_str(&b, z);
        sb_str(&b, "\n");
        sb_cue_text(&b, t->segs[i].text);
        sb_str(&b, "\n\n");
    }
    if (!b.p && !b.bad) sb_add(&b, "", 0);
    if (b.bad) { free(b.p); return NULL; }
    *len = b.len;
    return b.p;
}

static json_t *ms_real(double v) { return json_real(round(v * 1000.0) / 1000.0); }

static char *dump(json_t *o, size_t *len)
{
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (s && len) *len = strlen(s);
    return s;
}

static json_t *segments_json(const sh_transcript *t)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < t->n; i++) {
        json_t *g = json_object();
        if (!g) break;
        const json_t *dec = t->segs[i].decode;
        json_t *gt = json_sprintf("%s%s", t->segs[i].lead, t->segs[i].text);
        json_object_set_new(g, "id", json_integer(i));
        /* without the daemon's: the 10 ms frame of the start, and no token ids */
        json_object_set_new(g, "seek", dec ? json_incref(json_object_get(dec, "seek"))
                                           : json_integer((json_int_t)llround(t->segs[i].start * 100.0)));
        json_object_set_new(g, "start", ms_real(t->segs[i].start));
        json_object_set_new(g, "end", ms_real(t->segs[i].end));
        json_object_set_new(g, "text", gt ? gt : json_string(""));
        json_object_set_new(g, "tokens", dec ? json_incref(json_object_get(dec, "tokens")) : json_array());
        for (size_t k = 0; dec && k < sizeof DECODE_FIGURES / sizeof *DECODE_FIGURES; k++)
            json_object_set(g, DECODE_FIGURES[k], json_object_get(dec, DECODE_FIGURES[k]));
        json_array_append_new(arr, g);
    }
    return arr;
}

/* OpenAI's top-level words: [{"word", "start", "end"}] */
static json_t *words_json(const sh_transcript *t)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < t->n_words; i++) {
        json_t *w = json_object(), *ws = json_string(t->words[i].word);
        if (!w || !ws) { json_decref(w); json_decref(ws); continue; }
        json_object_set_new(w, "word", ws);
        json_object_set_new(w, "start", ms_real(t->words[i].start));
        json_object_set_new(w, "end", ms_real(t->words[i].end));
        json_array_append_new(arr, w);
    }
    return arr;
}

char *sh_render(sh_fmt f, const sh_transcript *t, const char *task, size_t *len)
{
    return sh_render_ex(f, t, task, 0, len);
}

char *sh_render_ex(sh_fmt f, const sh_transcript *t, const char *task, int gran, size_t *len)
{
    if (f == SH_FMT_SRT || f == SH_FMT_VTT) return render_cues(t, f == SH_FMT_VTT, len);
    char *text = sh_transcript_text(t);
    if (!text) return NULL;
    if (f == SH_FMT_TEXT) {   /* OpenAI ends text with a newline */
        size_t l = strlen(text);
        char *s = realloc(text, l + 2);
        if (!s) { free(text); return NULL; }
        s[l] = '\n';
        s[l + 1] = 0;
        *len = l + 1;
        return s;
    }
    json_t *o = json_object();
    if (!o) { free(text); return NULL; }
    if (f == SH_FMT_VERBOSE) {
        json_object_set_new(o, "task", json_string(task ? task : "transcribe"));
        /* OpenAI names the language ("english"); a code the engine does not know stays a code.
         * A translation's is its output's, always English (OpenAI's TranslationVerbose) — the
         * source language the daemon detected or was told is not what the text is in */
        const int tr = task && !strcmp(task, "translate");
        const char *lname = tr ? "english" : t->language ? sp_language_name(t->language) : NULL;
        if (!lname) lname = t->language;
        /* the daemon names none only for audio with no speech, no language asked and a
         * multilingual model: the field is a required string in the SDKs' types (null made
         * TranscriptionVerbose.model_validate and Rust's serde clients fail), and English
         * is what OpenAI answers for silence as well */
        json_object_set_new(o, "language", json_string(lname ? lname : "english"));
        json_object_set_new(o, "duration", ms_real(t->duration));
    }
    json_t *js = json_string(text);
    free(text);
    json_object_set_new(o, "text", js ? js : json_string(""));
    if (!(task && !strcmp(task, "translate")) && t->duration > 0) {
        /* OpenAI's usage for models billed by audio length (the SDKs' UsageDuration) */
        json_t *u = json_object();
        if (u) {
            json_object_set_new(u, "type", json_string("duration"));
            json_object_set_new(u, "seconds", ms_real(t->duration));
            json_object_set_new(o, "usage", u);
        }
    }
    if (f == SH_FMT_VERBOSE) {
        if (!gran || (gran & SH_GRAN_SEGMENTS)) {
            json_t *arr = segments_json(t);
            if (arr) json_object_set_new(o, "segments", arr);
        }
        if (gran & SH_GRAN_WORDS) {
            json_t *arr = words_json(t);
            if (arr) json_object_set_new(o, "words", arr);
        }
        /* an extension (clients ignore unknown keys): whether the times are estimates */
        json_object_set_new(o, "timing", json_string(t->estimated ? "estimated" : "exact"));
    }
    return dump(o, len);
}

char *sh_openai_error(const char *message, const char *type, const char *param,
                      const char *code)
{
    json_t *e = json_object(), *o = json_object();
    if (!e || !o) { json_decref(e); json_decref(o); return NULL; }
    json_t *m = json_string(message ? message : "error");
    json_object_set_new(e, "message", m ? m : json_string("error (message was not UTF-8)"));
    json_object_set_new(e, "type", json_string(type ? type : "server_error"));
    json_object_set_new(e, "param", param ? json_string(param) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_object_set_new(o, "error", e);
    return dump(o, NULL);
}

char *sh_simple_error(const char *message, const char *code)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_t *m = json_string(message ? message : "error");
    json_object_set_new(o, "error", m ? m : json_string("error (message was not UTF-8)"));
    if (code) json_object_set_new(o, "error_code", json_string(code));
    return dump(o, NULL);
}

int sh_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                    size_t n)
{
    memset(ss, 0, sizeof *ss);
    if (!s || !*s) { snprintf(err, n, "empty listen address"); return -1; }
    char host[64] = "";
    const char *port = NULL;
    if (s[0] == '[') {
        const char *z = strchr(s, ']');
        if (!z || z[1] != ':' || (size_t)(z - s - 1) >= sizeof host) goto bad;
        memcpy(host, s + 1, (size_t)(z - s - 1));
        host[z - s - 1] = 0;
        port = z + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (c) {
            if (strchr(s, ':') != c || (size_t)(c - s) >= sizeof host) goto bad;
            memcpy(host, s, (size_t)(c - s));
            host[c - s] = 0;
            port = c + 1;
        } else {
            port = s;
        }
    }
    if (!*port || strlen(port) > 5) goto bad;
    for (const char *p = port; *p; p++) if (!isdigit((unsigned char)*p)) goto bad;
    long pn = strtol(port, NULL, 10);
    if (pn > 65535) goto bad;
    if (!host[0]) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((unsigned short)pn);
        *len = sizeof *a4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)pn);
        *len = sizeof *a6;
        return 0;
    }
bad:
    snprintf(err, n, "bad listen address '%s' (want ADDR:PORT, [V6ADDR]:PORT or PORT, numeric)", s);
    memset(ss, 0, sizeof *ss);
    return -1;
}

int sh_bearer_ok(const char *header, const char *token)
{
    if (!header || !token) return 0;
    if (strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *h = header + 7;
    while (*h == ' ') h++;
    size_t hl = strlen(h), tl = strlen(token);
    while (hl && h[hl - 1] == ' ') hl--;
    unsigned char diff = (unsigned char)(hl != tl);
    for (size_t i = 0; i < tl; i++)   /* time depends on the token's length only */
        diff |= (unsigned char)((i < hl ? (unsigned char)h[i] : 0) ^ (unsigned char)token[i]);
    return diff == 0;
}

int sh_daemon_error_status(const char *code, const char **type)
{
    static const struct { const char *code; int status; const char *type; } tab[] = {
        { "audio_format", 400, "invalid_request_error" },
        { "bad_request", 400, "invalid_request_error" },  /* a refused option (language) */
        { "audio_not_found", 500, "server_error" },      /* we wrote the file: our fault */
        { "audio_refused", 500, "server_error" },
        { "audio_too_long", 413, "invalid_request_error" },
        { "audio_io", 500, "server_error" },
        { "busy", 503, "server_error" },
        { "expired", 503, "server_error" },
        { "transcription_failed", 500, "server_error" },
    };
    for (size_t i = 0; code && i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(code, tab[i].code) == 0) { *type = tab[i].type; return tab[i].status; }
    *type = "server_error";
    return 500;
}
