/* fuzz_response.c — libFuzzer target for the HTTP front end's reading and rendering of a
 * daemon response (src/http/sh_format.c): sh_transcript_from_response, then sh_render_ex in
 * every format (json, text, srt, vtt, verbose_json), every timestamp granularity and both
 * tasks. A response is a file in the spool that the daemon is not alone in being able to
 * write (a local user, an older or broken daemon), so any JSON object may come: wrong types,
 * huge or negative or inverted times, huge arrays, odd texts. Read as the client library
 * reads it (json_loadb, flags 0; anything but an object is refused before it gets here).
 * Beyond "no crash, no leak", checked:
 *   - the transcript: times finite or +inf, never negative, a segment's start <= its end,
 *     texts and words valid UTF-8, a word never empty, the duration finite and >= 0;
 *   - every rendering is valid UTF-8 without a NUL inside (*len is its strlen): clients and
 *     the SDKs decode it as UTF-8;
 *   - json and verbose_json read back as JSON objects whose "text" is the whole text
 *     (sh_transcript_text), verbose_json with the task, a "language" string, "segments" and
 *     "words" exactly when the granularities ask for them and one per segment and word, and
 *     "timing"; text is the whole text and a newline;
 *   - srt and vtt are made of cues as their readers take them: (srt: the cue's number, 1,
 *     2, …), an "HH:MM:SS,mmm --> HH:MM:SS,mmm" line ('.' in vtt; the hours may have more
 *     digits), one line of text without "-->" (WebVTT would read it as a timing line, and
 *     sb_cue_text says it defuses it), a blank line — one cue per segment with a text.
 * Input: the response file's bytes. Corpus: fuzz/corpus/response/ (replayed by make test). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "http/sh_format.h"

static int blank(const char *s)
{
    for (; *s; s++) if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f') return 0;
    return 1;
}

/* "HH:MM:SS<sep>mmm --> HH:MM:SS<sep>mmm", the hours of two digits or more */
static int ts(const char *l, size_t n, char sep)
{
    const char *a = memmem(l, n, " --> ", 5);
    if (!a) return 0;
    const char *parts[2] = { l, a + 5 };
    const size_t lens[2] = { (size_t)(a - l), n - (size_t)(a + 5 - l) };
    for (int k = 0; k < 2; k++) {
        const char *p = parts[k];
        const size_t m = lens[k];
        if (m < 12) return 0;
        const size_t h = m - 10;   /* "MM:SS,mmm" and the ':' before them */
        for (size_t i = 0; i < m; i++) {
            const char c = p[i];
            const size_t j = i < h ? 0 : i - h;   /* position in ":MM:SS,mmm" */
            const int digit = c >= '0' && c <= '9';
            if (i < h ? !digit : j == 0 || j == 3 ? c != ':' : j == 6 ? c != sep : !digit) return 0;
        }
    }
    return 1;
}

static void bad(const char *what, const char *out, size_t n)
{
    fprintf(stderr, "%s in:\n%.*s\n", what, (int)n, out);
    abort();
}

static void check_cues(const sh_transcript *t, const char *out, size_t n, int vtt)
{
    size_t i = 0;
    if (vtt) {
        if (n < 8 || memcmp(out, "WEBVTT\n\n", 8)) bad("no WEBVTT header", out, n);
        i = 8;
    }
    int cues = 0;
    while (i < n) {
        const char *lines[3];
        size_t lens[3];
        const int nl = vtt ? 2 : 3;
        for (int k = 0; k < nl; k++) {
            const char *e = memchr(out + i, '\n', n - i);
            if (!e) bad("a cue cut short", out, n);
            lines[k] = out + i;
            lens[k] = (size_t)(e - (out + i));
            i += lens[k] + 1;
        }
        if (i >= n || out[i] != '\n') bad("a cue not ended by a blank line", out, n);
        i++;
        cues++;
        int at = 0;
        if (!vtt) {
            char num[24];
            const int l = snprintf(num, sizeof num, "%d", cues);
            if ((size_t)l != lens[0] || memcmp(num, lines[0], lens[0])) bad("a cue misnumbered", out, n);
            at = 1;
        }
        if (!ts(lines[at], lens[at], vtt ? '.' : ',')) bad("a malformed timing line", out, n);
        const char *tx = lines[at + 1];
        const size_t tl = lens[at + 1];
        if (!tl || memmem(tx, tl, "-->", 3)) bad("a cue text empty or with \"-->\"", out, n);
    }
    int want = 0;
    for (int k = 0; k < t->n; k++) want += !blank(t->segs[k].text);
    if (cues != want) bad("not one cue per segment with a text", out, n);
}

static void check_json(const sh_transcript *t, const char *out, size_t n, const char *text,
                       int verbose, int gran, const char *task)
{
    json_t *o = json_loadb(out, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) bad("not a JSON object", out, n);
    const char *tx = json_string_value(json_object_get(o, "text"));
    if (!tx || strcmp(tx, text)) bad("\"text\" is not the whole text", out, n);
    if (verbose) {
        const char *tk = json_string_value(json_object_get(o, "task"));
        if (!tk || strcmp(tk, task)) bad("wrong \"task\"", out, n);
        if (!json_is_string(json_object_get(o, "language"))) bad("no \"language\"", out, n);
        const json_t *segs = json_object_get(o, "segments"), *words = json_object_get(o, "words");
        if ((!gran || (gran & SH_GRAN_SEGMENTS)) ? json_array_size(segs) != (size_t)t->n || !json_is_array(segs)
                                                 : segs != NULL)
            bad("\"segments\" not one per segment as asked", out, n);
        if ((gran & SH_GRAN_WORDS) ? !json_is_array(words) || json_array_size(words) != (size_t)t->n_words
                                   : words != NULL)
            bad("\"words\" not one per word as asked", out, n);
        const char *timing = json_string_value(json_object_get(o, "timing"));
        if (!timing || strcmp(timing, t->estimated ? "estimated" : "exact")) bad("wrong \"timing\"", out, n);
    }
    json_decref(o);
}

static void check_transcript(const sh_transcript *t)
{
    if (t->n < 0 || t->n_words < 0 || (t->n && !t->segs) || (t->n_words && !t->words)) abort();
    if (!isfinite(t->duration) || t->duration < 0) abort();
    if (t->language && (!t->language[0] || !sp_utf8_valid(t->language, strlen(t->language)))) abort();
    for (int i = 0; i < t->n; i++) {
        const sh_seg *g = &t->segs[i];
        if (!g->text || !sp_utf8_valid(g->text, strlen(g->text))) abort();
        if (isnan(g->start) || isnan(g->end) || g->start < 0 || g->start > g->end) abort();
        if (strlen(g->lead) >= sizeof g->lead || strspn(g->lead, " \t\n\r") != strlen(g->lead)) abort();
        if (!g->lead_known && g->lead[0]) abort();
    }
    for (int i = 0; i < t->n_words; i++) {
        const sh_word *w = &t->words[i];
        if (!w->word || !w->word[0] || !sp_utf8_valid(w->word, strlen(w->word))) abort();
        if (!isfinite(w->start) || !isfinite(w->end) || w->start < 0 || w->start > w->end) abort();
    }
}

static void render_all(const sh_transcript *t)
{
    static const char *const tasks[2] = { "transcribe", "translate" };
    char *text = sh_transcript_text(t);
    if (!text || !sp_utf8_valid(text, strlen(text))) abort();
    for (int f = SH_FMT_JSON; f <= SH_FMT_VERBOSE; f++) {
        for (int gran = 0; gran < 4; gran++) {
            for (int k = 0; k < 2; k++) {
                size_t len = (size_t)-1;
                char *out = sh_render_ex((sh_fmt)f, t, tasks[k], gran, &len);
                if (!out) abort();
                if (len != strlen(out) || !sp_utf8_valid(out, len)) bad("bad length or UTF-8", out, len);
                switch ((sh_fmt)f) {
                case SH_FMT_JSON: check_json(t, out, len, text, 0, gran, tasks[k]); break;
                case SH_FMT_VERBOSE: check_json(t, out, len, text, 1, gran, tasks[k]); break;
                case SH_FMT_TEXT:
                    if (len != strlen(text) + 1 || memcmp(out, text, len - 1) || out[len - 1] != '\n')
                        bad("text is not the whole text and a newline", out, len);
                    break;
                case SH_FMT_SRT: check_cues(t, out, len, 0); break;
                case SH_FMT_VTT: check_cues(t, out, len, 1); break;
                }
                free(out);
                /* only verbose_json reads the granularity and only json formats the task */
                if (f != SH_FMT_VERBOSE && (f != SH_FMT_JSON || k)) break;
            }
            if (f != SH_FMT_VERBOSE) break;
        }
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *resp = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(resp)) { json_decref(resp); return 0; }
    /* the duration the front end decoded from the audio: none, or some */
    static const double durations[2] = { 0, 7.25 };
    for (int d = 0; d < 2; d++) {
        sh_transcript t;
        if (sh_transcript_from_response(resp, durations[d], &t) != 0) abort();
        check_transcript(&t);
        render_all(&t);
        sh_transcript_deinit(&t);
    }
    json_decref(resp);
    return 0;
}
