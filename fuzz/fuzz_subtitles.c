/* fuzz_subtitles.c — libFuzzer target for bin/transcribe's srt/vtt cue writer and TSV writer
 * (src/cli/subtitles.c): hand-written line breaking by code points, cue splits and word
 * highlighting (openai-whisper's SubtitlesWriter), on texts and times a model made up.
 * The result is built as the engine promises it (speech.h): segment texts valid UTF-8 with
 * words that concatenate to them, times in order; within that, anything: empty words,
 * words of only spaces, long words, odd scripts, segments without words, equal times.
 * Beyond no crash and no leak, checked: the output is valid UTF-8 (a cue broken inside a
 * character would be an unreadable subtitle file), every cue line of an srt has its
 * "HH:MM:SS,mmm --> HH:MM:SS,mmm" form, and a shaped cue line is no wider than
 * --max-line-width unless it holds a single word.
 * Input: [u32 len][part]... (fuzz_parts.h): options, times, then the text, whose spaces cut
 * words and whose '|' cut segments. Corpus: fuzz/corpus/subtitles/ (replayed by make test). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/subtitles.h"
#include "common/utf8.h"
#include "fuzz_parts.h"

#define MAX_SEGS 16
#define MAX_WORDS 64

static int valid_utf8(const char *s, size_t n)
{
    char *r = malloc(3 * n + 1);
    if (!r) abort();
    const size_t rn = sp_utf8_repair(s, n, r);
    const int ok = rn == n && !memcmp(r, s, n);
    free(r);
    return ok;
}

static size_t code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* "HH:MM:SS,mmm --> HH:MM:SS,mmm" */
static int ts_line(const char *l, size_t n)
{
    static const char pat[] = "00:00:00,000 --> 00:00:00,000";
    if (n < sizeof pat - 1) return 0;
    size_t h = n - (sizeof pat - 1);   /* the hours may have more digits */
    for (size_t i = 0; i < n; i++) {
        const char c = l[i], want = i < h ? '0' : pat[i - h];
        if (want == '0' ? (c < '0' || c > '9') : c != want) return 0;
    }
    return 1;
}

/* the document and where it went wrong, then abort */
static void bad_srt(const char *out, size_t n, size_t at)
{
    fprintf(stderr, "bad srt at byte %zu of:\n%.*s\n", at, (int)n, out);
    abort();
}

static void check_srt(const char *out, size_t n, const sub_opts *o, int max_word_cp)
{
    /* blocks: number line, time line, text lines (an empty segment's one empty), blank line */
    int state = 0;
    for (size_t i = 0; i < n;) {
        const char *e = memchr(out + i, '\n', n - i);
        const size_t l = e ? (size_t)(e - (out + i)) : n - i;
        const char *line = out + i;
        if (state == 0 && !l) {
            /* an extra blank line between cues: a word of white space alone at a line
             * start ends its cue in an empty line, as openai's writer does (parsers take
             * several blank lines between cues) */
        } else if (state == 0) {
            for (size_t k = 0; k < l; k++) if (line[k] < '0' || line[k] > '9') bad_srt(out, n, i);
            state = 1;
        } else if (state == 1) {
            if (!ts_line(line, l)) bad_srt(out, n, i);
            state = 2;
        }
        else if (state == 3 && !l) state = 0;
        else if ((state = 3) && o->max_line_width && !o->highlight_words) {   /* a text line, the
                                                                            * first may be empty */
            /* a line over the width holds one word (a word is never cut) */
            const size_t cp = code_points(line, l);
            if (cp > (size_t)o->max_line_width && cp > (size_t)max_word_cp) bad_srt(out, n, i);
        }
        i += l + 1;
    }
}

/* The input's text, cut at '|' into segments (up to MAX_SEGS) and at spaces into words, timed
 * by the input's steps (the second segment without words when the first time byte says so),
 * into segs and words; returns the segment count, *max_cp the longest word in code points and
 * *dur the last time */
static int build_segments(const char *fixed, size_t tl, const uint8_t *times, size_t ntimes, sp_segment *segs,
                          sp_word (*words)[MAX_WORDS], int *max_cp, float *dur)
{
    int ns = 0, max_word_cp = 0;
    size_t ti = 0, at = 0;
    float t = 0;
    /* the next time step: 0 .. 2.55 s, from the input (0.1 s when it runs out) */
    #define STEP() (ntimes ? times[ti++ % ntimes] / 100.0f : 0.1f)
    while (at <= tl && ns < MAX_SEGS) {
        const char *bar = memchr(fixed + at, '|', tl - at);
        const size_t se = bar && ns < MAX_SEGS - 1 ? (size_t)(bar - fixed) : tl;
        sp_segment *g = &segs[ns];
        g->text = strndup(fixed + at, se - at);
        if (!g->text) abort();
        g->start = t;
        const int with_words = !(times && ntimes && (times[0] & 0x80) && ns == 1);
        /* words: each starts at a space (the space belongs to it), so they concatenate
         * to the text */
        size_t wi = 0, glen = se - at;
        while (with_words && wi < glen && g->n_words < MAX_WORDS) {
            size_t we = wi + 1;
            while (we < glen && g->text[we] != ' ') we++;
            if (g->n_words == MAX_WORDS - 1) we = glen;
            while (we < glen && ((unsigned char)g->text[we] & 0xC0) == 0x80) we++;
            sp_word *w = &words[ns][g->n_words++];
            w->text = strndup(g->text + wi, we - wi);
            if (!w->text) abort();
            const int cp = (int)code_points(w->text, strlen(w->text));
            if (cp > max_word_cp) max_word_cp = cp;
            t += STEP();
            w->start = t;
            t += STEP();
            w->end = t;
            w->probability = 0.5f;
            wi = we;
        }
        g->words = g->n_words ? words[ns] : NULL;
        t += STEP();
        g->end = t;
        ns++;
        at = se + 1;
        if (se == tl) break;
    }
    #undef STEP
    *max_cp = max_word_cp;
    *dur = t;
    return ns;
}

/* both cue writers (VTT, SRT) and the TSV writer on r: valid UTF-8 out, and SRT's lines within
 * the options' bounds */
static void check_writers(const sp_result *r, const sub_opts *o, int max_word_cp)
{
    const int shaped = sub_shaped(o);

    for (int srt = 0; srt <= 1; srt++) {
        char *out = NULL;
        size_t olen = 0;
        FILE *f = open_memstream(&out, &olen);
        if (!f) abort();
        const int rc = sub_write_cues(f, r, o, srt);
        fclose(f);
        if (rc != 0) abort();
        if (!valid_utf8(out, olen)) abort();
        /* "+1": a line of max_line_width plus the space before the next word (openai's
         * writer counts the word with its leading space) */
        sub_opts lo = *o;
        if (lo.max_line_width) lo.max_line_width++;
        if (srt) check_srt(out, olen, shaped ? &lo : &(sub_opts){ 0 }, max_word_cp + 1);
        free(out);
    }
    {
        char *out = NULL;
        size_t olen = 0;
        FILE *f = open_memstream(&out, &olen);
        if (!f) abort();
        sub_write_tsv(f, r);
        fclose(f);
        if (!valid_utf8(out, olen)) abort();
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size, n;
    const uint8_t *op = fuzz_part(&p, &left, &n);
    uint8_t ob[4] = { 0 };
    memcpy(ob, op, n < 4 ? n : 4);
    sub_opts o = { .max_line_width = ob[0] % 64, .max_line_count = ob[1] % 8,
                   .max_words_per_line = ob[2] % 16, .highlight_words = ob[3] & 1 };
    if (!o.max_line_width) o.max_line_count = 0;   /* as transcribe accepts them */
    const uint8_t *tm = fuzz_part(&p, &left, &n);
    const uint8_t *times = tm;
    const size_t ntimes = n;
    const uint8_t *tx = fuzz_part(&p, &left, &n);
    char *text = (char *)fuzz_dup(tx, n);
    size_t tl = n;
    /* the engine's texts are valid UTF-8 without NUL */
    char *fixed = malloc(3 * tl + 1);
    if (!fixed) abort();
    tl = sp_utf8_repair(text, tl, fixed);
    free(text);
    for (size_t i = 0; i < tl; i++) if (!fixed[i]) fixed[i] = ' ';

    sp_segment segs[MAX_SEGS];
    sp_word words[MAX_SEGS][MAX_WORDS];
    memset(segs, 0, sizeof segs);
    int max_word_cp;
    float t;
    const int ns = build_segments(fixed, tl, times, ntimes, segs, words, &max_word_cp, &t);
    sp_result r = { .segments = segs, .n_segments = ns, .language = "en", .duration = t };
    check_writers(&r, &o, max_word_cp);

    for (int i = 0; i < ns; i++) {
        for (int w = 0; w < segs[i].n_words; w++) free(segs[i].words[w].text);
        free(segs[i].text);
    }
    free(fixed);
    return 0;
}
