/* Word-level timestamps (src/whisper/align.c; openai timing.py semantics): DTW on crafted
 * matrices with known paths (ties included), the median filter's edges, the
 * standardisation, the word splitter (spaces, punctuation, specials, CJK, invalid bytes),
 * then sp_transcribe with word_timestamps on the synthetic model (random weights: the words
 * are nonsense, so the checks are structural). */
#include "harness.h"
#include "test_util.h"
#include "speech.h"
#include "whisper/align.h"
#include "whisper/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int dtw_is(const float *x, int N, int M, const int *ti, const int *tj, int len)
{
    float cost[64];
    signed char trace[64];
    int pi[16], pj[16];
    int n = wh_dtw(x, N, M, cost, trace, pi, pj);
    if (n != len) { fprintf(stderr, "  path length %d, expected %d\n", n, len); return 0; }
    for (int k = 0; k < n; k++)
        if (pi[k] != ti[k] || pj[k] != tj[k]) {
            fprintf(stderr, "  point %d: (%d,%d), expected (%d,%d)\n", k, pi[k], pj[k], ti[k], tj[k]);
            return 0;
        }
    return 1;
}

static int floats_are(const float *x, const float *want, int n, float tol)
{
    for (int i = 0; i < n; i++)
        if (!(fabsf(x[i] - want[i]) <= tol)) { fprintf(stderr, "  [%d] %g, expected %g\n", i, (double)x[i], (double)want[i]); return 0; }
    return 1;
}

static int ends_are(const wh_tokenizer *t, const int *tok, int n, int unicode, const int *want, int n_want)
{
    int ends[16];
    int k = wh_split_words(t, tok, n, unicode, ends, NULL);
    if (k != n_want) { fprintf(stderr, "  %d words, expected %d\n", k, n_want); return 0; }
    for (int i = 0; i < k; i++)
        if (ends[i] != want[i]) { fprintf(stderr, "  word %d ends at %d, expected %d\n", i, ends[i], want[i]); return 0; }
    return 1;
}

/* structure of a word-timestamped result; returns the number of problems */
static int check_words(const sp_result *r, float dur)
{
    int bad = 0;
    float prev = 0;
    for (int i = 0; i < r->n_segments; i++) {
        const sp_segment *s = &r->segments[i];
        if (s->n_words < 1 || !s->words) { bad++; fprintf(stderr, "  segment %d has no words\n", i); continue; }
        size_t len = 0;
        for (int k = 0; k < s->n_words; k++) len += strlen(s->words[k].text);
        char *cat = calloc(1, len + 1);
        for (int k = 0; k < s->n_words; k++) {
            const sp_word *w = &s->words[k];
            strcat(cat, w->text);
            if (!(w->start >= s->start && w->end <= s->end && w->start <= w->end && w->start >= prev && w->end <= dur + 1e-3f)) {
                bad++;
                fprintf(stderr, "  segment %d [%.2f %.2f] word %d [%.2f %.2f] after %.2f\n", i, s->start, s->end, k, w->start, w->end, prev);
            }
            if (!(w->probability >= 0 && w->probability <= 1.0001f)) bad++;
            prev = w->end;
        }
        const char *a = cat, *b = s->text;
        if (*a == ' ') a++;
        if (*b == ' ') b++;
        if (strcmp(a, b)) { bad++; fprintf(stderr, "  segment %d: words '%s' vs text '%s'\n", i, cat, s->text); }
        free(cat);
        float tp = s->start;
        for (int k = 0; k < s->n_tokens; k++) {
            const sp_token *t = &s->tokens[k];
            if (t->id >= 50256) continue;   /* timestamps and specials of either vocabulary */
            if (!(t->t0 >= s->start && t->t0 <= t->t1 && t->t1 <= s->end && t->t0 >= tp)) {
                bad++;
                fprintf(stderr, "  segment %d token %d [%.2f %.2f]\n", i, k, t->t0, t->t1);
            }
            tp = t->t1;
        }
    }
    return bad;
}

static int same_words(const sp_result *a, const sp_result *b)
{
    if (a->n_segments != b->n_segments) return 0;
    for (int i = 0; i < a->n_segments; i++) {
        const sp_segment *x = &a->segments[i], *y = &b->segments[i];
        if (x->n_words != y->n_words || strcmp(x->text, y->text)) return 0;
        for (int k = 0; k < x->n_words; k++)
            if (x->words[k].start != y->words[k].start || x->words[k].end != y->words[k].end ||
                x->words[k].probability != y->words[k].probability || strcmp(x->words[k].text, y->words[k].text)) return 0;
        for (int k = 0; k < x->n_tokens; k++)
            if (x->tokens[k].t0 != y->tokens[k].t0 || x->tokens[k].t1 != y->tokens[k].t1) return 0;
    }
    return 1;
}

static const float k_t0[] = {0.0f};

static void test_dtw_paths(void)
{
    TEST("dtw: clear diagonal and a rectangular path") {
        const float d[9] = {0, 1, 1, 1, 0, 1, 1, 1, 0};
        const int di[] = {0, 1, 2}, dj[] = {0, 1, 2};
        CHECK(dtw_is(d, 3, 3, di, dj, 3));
        /* rows want frames 0-1 and 2-3 */
        const float r[8] = {0, 0, 5, 5, 5, 5, 0, 0};
        const int ri[] = {0, 0, 1, 1}, rj[] = {0, 1, 2, 3};
        CHECK(dtw_is(r, 2, 4, ri, rj, 4));
        const float one = -3;
        const int z[] = {0};
        CHECK(dtw_is(&one, 1, 1, z, z, 1));
        /* one row: along the frames; one frame: down the rows */
        const float row[3] = {1, 2, 3};
        const int r0[] = {0, 0, 0}, r1[] = {0, 1, 2};
        CHECK(dtw_is(row, 1, 3, r0, r1, 3));
        CHECK(dtw_is(row, 3, 1, r1, r0, 3));
        float c[4];
        signed char t[4];
        int pi[2], pj[2];
        CHECK(wh_dtw(row, 0, 3, c, t, pi, pj) == 0 && wh_dtw(row, 3, 0, c, t, pi, pj) == 0);
    }
}

static void test_dtw_ties(void)
{
    TEST("dtw: ties go left (c2) unless one predecessor is strictly lowest, as openai's") {
        /* all equal: at (2,2) c0 = c1 = c2 → left, then up, then diagonal */
        const float z[4] = {0, 0, 0, 0};
        const int ti[] = {0, 1, 1}, tj[] = {0, 0, 1};
        CHECK(dtw_is(z, 2, 2, ti, tj, 3));
        /* c0 == c1 < c2: openai still takes c2 (the "else" branch) */
        const float q[4] = {0, 0, 5, -1};
        CHECK(dtw_is(q, 2, 2, ti, tj, 3));
        /* c0 strictly lowest → diagonal */
        const float s[4] = {0, 1, 1, 0};
        const int si[] = {0, 1}, sj[] = {0, 1};
        CHECK(dtw_is(s, 2, 2, si, sj, 2));
        /* c1 strictly lowest → up: row 1 takes frame 1 only via the up move from (0,1) */
        const float u[4] = {0, -5, 9, 0};
        const int ui[] = {0, 0, 1}, uj[] = {0, 1, 1};
        CHECK(dtw_is(u, 2, 2, ui, uj, 3));
    }
}

static void test_median_filter(void)
{
    TEST("median filter: width 7, reflect padding at both edges, short rows untouched") {
        float tmp[32];
        float x[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float want[10] = {2, 2, 2, 3, 4, 5, 6, 7, 7, 7};
        wh_median_filter(x, 10, 7, tmp);
        CHECK(floats_are(x, want, 10, 0));
        float y[4] = {5, 1, 4, 2};   /* n = 4 > 3: reflect reaches index 3 */
        const float wy[4] = {2, 4, 2, 4};
        wh_median_filter(y, 4, 7, tmp);
        CHECK(floats_are(y, wy, 4, 0));
        float spike[8] = {0, 0, 0, 9, 0, 0, 0, 0};
        const float flat[8] = {0};
        wh_median_filter(spike, 8, 7, tmp);
        CHECK(floats_are(spike, flat, 8, 0));
        float s3[3] = {3, 1, 2};
        const float w3[3] = {3, 1, 2};
        wh_median_filter(s3, 3, 7, tmp);
        CHECK(floats_are(s3, w3, 3, 0));
    }
}

static void test_standardise(void)
{
    TEST("standardise: per column over rows, population std; constant column → 0") {
        float w[6] = {1, 7, 2, 7, 3, 7};   /* [3][2] */
        const float k = sqrtf(1.5f);
        const float want[6] = {-k, 0, 0, 0, k, 0};
        wh_standardize(w, 3, 2);
        CHECK(floats_are(w, want, 6, 1e-6f));
    }
}

/* vocabulary: single bytes 0..255, then 256 " he", 257 "llo", 258 " world", 259 "()",
 * 260 "\xe4\xb8" (the first two bytes of 中 U+4E2D = E4 B8 AD), 261 "...", 262 "'s";
 * eot = 263 (ids >= 263 are special) */
static void test_word_splitter(void)
{
    static char bytes[256];
    wh_token_bytes v[263];
    for (int i = 0; i < 256; i++) { bytes[i] = (char)i; v[i].bytes = &bytes[i]; v[i].len = 1; }
    v[256] = (wh_token_bytes){" he", 3};
    v[257] = (wh_token_bytes){"llo", 3};
    v[258] = (wh_token_bytes){" world", 6};
    v[259] = (wh_token_bytes){"()", 2};
    v[260] = (wh_token_bytes){"\xe4\xb8", 2};
    v[261] = (wh_token_bytes){"...", 3};
    v[262] = (wh_token_bytes){"'s", 2};
    wh_tokenizer *tk = NULL;
    CHECK(wh_tok_new(v, 263, 263, &tk) == SP_OK);
    const int EOT = 263;

    TEST("word splitter: spaces and punctuation (string.punctuation substrings)") {
        const int a[] = {256, 257, 258, '!'};
        const int ea[] = {2, 3, 4};
        CHECK(ends_are(tk, a, 4, 0, ea, 3));
        const int b[] = {256, 257, ',', 258, 259, 261, 262};   /* "()" is a substring, "..." and "'s" are not */
        const int eb[] = {2, 3, 4, 7};
        CHECK(ends_are(tk, b, 7, 0, eb, 4));
        const int c[] = {'a', 'b', ' ', 'c'};   /* first group always starts a word; " " starts one */
        const int ec[] = {2, 4};
        CHECK(ends_are(tk, c, 4, 0, ec, 2));
        int dummy[1];
        CHECK(wh_split_words(tk, a, 0, 0, dummy, NULL) == 0);
    }

    TEST("word splitter: special tokens are words of their own") {
        const int a[] = {256, 257, EOT};
        const int ea[] = {2, 3};
        CHECK(ends_are(tk, a, 3, 0, ea, 2));
        /* text without a space after a special joins its word (openai's rule) */
        const int b[] = {EOT + 1, 'x', 'y', EOT};
        const int eb[] = {3, 4};
        CHECK(ends_are(tk, b, 4, 0, eb, 2));
    }

    TEST("word splitter: CJK on characters, unfinished UTF-8 waits, invalid bytes stand alone") {
        const int z[] = {260, 0xAD, 260, 0xAD};   /* 中中 */
        const int ez[] = {2, 4}, ez1[] = {4};
        CHECK(ends_are(tk, z, 4, 1, ez, 2));
        CHECK(ends_are(tk, z, 4, 0, ez1, 1));   /* no space, not punctuation: one word */
        const int bad[] = {0xFF, 'a'};          /* U+FFFD in the full text too: a group */
        const int eb[] = {1, 2};
        CHECK(ends_are(tk, bad, 2, 1, eb, 2));
        const int cut[] = {260};                 /* unfinished at the end: still one group */
        const int ec[] = {1};
        CHECK(ends_are(tk, cut, 1, 1, ec, 1));
        /* a tail that closes no group joins the last word; n_closed says where it begins (the
         * seek and the word's end stop there: openai drops such tokens) */
        const int tail[] = {'a', 0xE4, 0xB8};   /* "a" U+FFFD: the lone 0xB8 closes nothing */
        int ends[4], closed = -1;
        CHECK(wh_split_words(tk, tail, 3, 1, ends, &closed) == 2 && ends[1] == 3 && closed == 2);
        CHECK(wh_split_words(tk, z, 4, 1, ends, &closed) == 2 && closed == 4);
        CHECK(wh_split_words(tk, cut, 1, 1, ends, &closed) == 1 && closed == 1);
        CHECK(wh_align_unicode_lang("zh") && wh_align_unicode_lang("yue") && wh_align_unicode_lang("th") &&
              !wh_align_unicode_lang("en") && !wh_align_unicode_lang(NULL));
    }
    wh_tok_free(tk);
}

static void test_words_default_off(void)
{
    TEST("default is off: no words, text tokens without times") {
        sp_transcribe_params p = sp_transcribe_default_params();
        CHECK(p.word_timestamps == 0);
    }
}

static void test_words_synthetic(sp_context *ctx, const float *pcm, size_t n, float dur)
{
    char err[256];
    TEST("synthetic model: words inside segments and audio, monotonic, text preserved, deterministic") {
        sp_transcribe_params p = sp_transcribe_default_params();
        p.language = "en";
        p.beam_size = 1;
        p.temperatures = k_t0;
        p.n_temperatures = 1;
        p.no_speech_threshold = 0;
        sp_result *off = NULL, *a = NULL, *b = NULL;
        CHECK(sp_transcribe(ctx, pcm, n, &p, &off, err, sizeof err) == SP_OK);
        p.word_timestamps = 1;
        CHECK(sp_transcribe(ctx, pcm, n, &p, &a, err, sizeof err) == SP_OK);
        CHECK(sp_transcribe(ctx, pcm, n, &p, &b, err, sizeof err) == SP_OK);
        if (off && a && b) {
            CHECK(a->n_segments >= 1);
            CHECK(check_words(a, dur) == 0);
            CHECK(same_words(a, b));
            /* in the first window the alignment pass changes nothing else, but for a segment
             * whose timestamps are astray (most of its words over 0.5 s outside them: the
             * synthetic model's looping segment is aligned over the whole file), which takes
             * its words' times as faster-whisper's do; the next window starts at the last
             * word's end (openai's and faster-whisper's rule) */
            int n0 = 0, a0 = 0;
            while (n0 < off->n_segments && off->segments[n0].seek == 0) n0++;
            while (a0 < a->n_segments && a->segments[a0].seek == 0) a0++;
            CHECKF(n0 >= 1 && n0 == a0, "%d vs %d", n0, a0);
            for (int i = 0; i < n0 && i < a0; i++) {
                const sp_segment *x = &off->segments[i], *y = &a->segments[i];
                int out = 0;
                for (int k = 0; k < y->n_words; k++) {
                    const float mid = 0.5f * (y->words[k].start + y->words[k].end);
                    out += mid < x->start - 0.5f || mid > x->end + 0.5f;
                }
                if (y->n_words > 0 && 2 * out > y->n_words)
                    CHECK(y->start == y->words[0].start && y->end == y->words[y->n_words - 1].end);
                else
                    CHECK(x->start == y->start && x->end == y->end);
                CHECK(!strcmp(x->text, y->text) && x->n_tokens == y->n_tokens);
                CHECK(x->n_words == 0 && x->words == NULL);
                for (int k = 0; k < x->n_tokens && k < y->n_tokens; k++) {
                    CHECK(x->tokens[k].id == y->tokens[k].id);
                    if (x->tokens[k].id < 50256) CHECK(x->tokens[k].t0 == -1.0f && x->tokens[k].t1 == -1.0f);
                }
            }
            int nw = 0;
            for (int i = 0; i < a->n_segments; i++) nw += a->segments[i].n_words;
            printf("# %d segments, %d words; first [%.2f %.2f]'%s' p=%.3f\n", a->n_segments, nw,
                   a->segments[0].words ? a->segments[0].words[0].start : -1, a->segments[0].words ? a->segments[0].words[0].end : -1,
                   a->segments[0].words ? a->segments[0].words[0].text : "", a->segments[0].words ? a->segments[0].words[0].probability : -1);
        }
        sp_result_free(off);
        sp_result_free(a);
        sp_result_free(b);
    }
}

static void test_words_clip_vad(sp_context *ctx, const float *pcm, size_t n, float dur)
{
    char err[256];
    TEST("clip, VAD, without timestamps: words stay inside their segments") {
        sp_transcribe_params p = sp_transcribe_default_params();
        p.language = "en";
        p.beam_size = 1;
        p.temperatures = k_t0;
        p.n_temperatures = 1;
        p.no_speech_threshold = 0;
        p.word_timestamps = 1;
        p.clip_start = 1.0f;
        p.clip_end = 3.0f;
        sp_result *r = NULL;
        CHECK(sp_transcribe(ctx, pcm, n, &p, &r, err, sizeof err) == SP_OK);
        if (r) CHECK(check_words(r, dur) == 0);
        sp_result_free(r);
        r = NULL;
        p.clip_start = 0;
        p.clip_end = 0;
        p.vad = 1;
        p.without_timestamps = 1;
        CHECK(sp_transcribe(ctx, pcm, n, &p, &r, err, sizeof err) == SP_OK);
        if (r) CHECK(check_words(r, dur) == 0);
        sp_result_free(r);
    }
}

static void test_words_chinese(const float *pcm, size_t n, float dur, sp_context_params cp)
{
    char path[1024];
    char err[256];
    TEST("multilingual model, Chinese: split on characters, text preserved") {
        sp_context *mc = NULL;
        if (sp_context_open(tu_model_path("micro-v3-f16.bin", path, sizeof path), &cp, &mc, err, sizeof err) == SP_OK) {
            sp_transcribe_params p = sp_transcribe_default_params();
            p.language = "zh";
            p.beam_size = 1;
            p.temperatures = k_t0;
            p.n_temperatures = 1;
            p.no_speech_threshold = 0;
            p.word_timestamps = 1;
            p.clip_end = 2.0f;
            sp_result *r = NULL;
            CHECK(sp_transcribe(mc, pcm, n, &p, &r, err, sizeof err) == SP_OK);
            if (r) CHECK(check_words(r, dur) == 0);
            sp_result_free(r);
        }
        sp_context_free(mc);
    }
}

int main(void)
{
    test_dtw_paths();
    test_dtw_ties();
    test_median_filter();
    test_standardise();
    test_word_splitter();

    /* ------------------------------------------------------------ end to end */
    char path[1024], err[256];
    sp_context *ctx = NULL;
    sp_context_params cp = sp_context_default_params();
    cp.n_threads = 2;
    if (sp_context_open(tu_model_path("micro-f16.bin", path, sizeof path), &cp, &ctx, err, sizeof err) != SP_OK) {
        printf("ok - word timestamps end to end # SKIP %s\n", err);
        TEST_EXIT();
    }
    size_t n = 0;
    float *pcm = tu_load_audio("tests/data/speech-16k.wav", &n);
    CHECK(pcm && n > 16000);
    if (!pcm) { sp_context_free(ctx); TEST_EXIT(); }
    const float dur = (float)n / 16000.0f;

    test_words_default_off();
    test_words_synthetic(ctx, pcm, n, dur);
    test_words_clip_vad(ctx, pcm, n, dur);
    sp_context_free(ctx);
    test_words_chinese(pcm, n, dur, cp);
    free(pcm);
    TEST_EXIT();
}
