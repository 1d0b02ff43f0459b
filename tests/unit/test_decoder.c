/* Decoder state: batched steps over several sequences equal one-at-a-time decoding, KV
 * copies (beam reordering) are exact, results do not depend on the thread count, limits
 * and misuse give errors, shorter encoder windows work. */
#include "harness.h"
#include "speech.h"
#include "whisper/kernels.h"
#include "whisper/wh_engine.h"

#include <stdlib.h>
#include <string.h>

#define V 51865
static float *read_f32(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = malloc(80 * 3000 * sizeof(float));
    if (fread(v, sizeof(float), 80 * 3000, f) != 80 * 3000) { free(v); v = NULL; }
    fclose(f);
    return v;
}

static double rel_diff(const float *a, const float *b, int n)
{
    double mx = 0, sc = 0;
    for (int i = 0; i < n; i++) { mx = fmax(mx, fabs(a[i] - b[i])); sc = fmax(sc, fabs(b[i])); }
    return mx / (sc + 1e-30);
}

static void test_misuse(sp_context *c2, const float *mel, const int *prompt, float *a)
{
    TEST("misuse is an error: decode before encode, bad sequence ids, context overflow") {
        CHECK(wh_decode_seq(c2, 0, prompt, 3, a) != SP_OK);
        CHECK(sp_decode(c2, prompt, 3, a, 1) != SP_OK);
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        CHECK(wh_decode_seq(c2, WH_MAX_SEQ, prompt, 3, a) == SP_ERR_INVALID_ARG);
        int seqs[2] = {1, 1}, toks[2] = {220, 220};
        CHECK(wh_decode_step(c2, 2, seqs, toks, a) == SP_ERR_INVALID_ARG);   /* duplicate sequence */
        int bad = V;
        CHECK(wh_decode_seq(c2, 0, &bad, 1, a) == SP_ERR_INVALID_ARG);
        int *many = calloc(449, sizeof(int));
        for (int i = 0; i < 449; i++) many[i] = 1000 + i;
        CHECK(wh_decode_seq(c2, 2, many, 449, a) == SP_ERR_TOO_LARGE);
        CHECK(wh_decode_seq(c2, 2, many, 448, a) == SP_OK);
        CHECK(wh_seq_len(c2, 2) == 448);
        CHECK(wh_decode_seq(c2, 2, many, 1, a) == SP_ERR_TOO_LARGE);
        free(many);
    }
}

static void test_batched_step(sp_context *c2, const float *mel, const int *prompt, float *a, float *b)
{
    TEST("a batched step over 5 sequences equals decoding each alone; KV copies are exact") {
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        wh_seq_reset(c2, 0);
        CHECK(wh_decode_seq(c2, 0, prompt, 3, a) == SP_OK);
        int f1[2] = {50364, 1000};
        CHECK(wh_decode_seq(c2, 0, f1, 2, a) == SP_OK);
        for (int s = 1; s < 5; s++) wh_seq_copy(c2, s, 0);
        int seqs[5] = {0, 1, 2, 3, 4}, toks[5] = {2000, 3000, 220, 13, 50414};
        CHECK(wh_decode_step(c2, 5, seqs, toks, a) == SP_OK);
        for (int s = 0; s < 5; s++) CHECK(wh_seq_len(c2, s) == 6);
        /* one at a time, from a fresh prompt each time */
        for (int s = 0; s < 5; s++) {
            wh_seq_reset(c2, 7);
            CHECK(wh_decode_seq(c2, 7, prompt, 3, b) == SP_OK);
            CHECK(wh_decode_seq(c2, 7, f1, 2, b) == SP_OK);
            CHECK(wh_decode_seq(c2, 7, &toks[s], 1, b) == SP_OK);
            double d = rel_diff(a + (size_t)s * V, b, V);
            CHECKF(d < 1e-5, "sequence %d differs by %g", s, d);
        }
        /* a second step continues each sequence on its own cache */
        int t2[5] = {4000, 4000, 4000, 4000, 4000};
        CHECK(wh_decode_step(c2, 5, seqs, t2, a) == SP_OK);
        wh_seq_reset(c2, 7);
        int full[7] = {50258, 50259, 50359, 50364, 1000, 220, 4000};
        CHECK(wh_decode_seq(c2, 7, full, 7, b) == SP_OK);
        CHECKF(rel_diff(a + 2 * V, b, V) < 1e-5, "continued sequence differs");
    }
}

static void test_beam_forks(sp_context *c2, const float *mel, const int *prompt, float *a, float *b)
{
    TEST("beam forks over the paged caches (shared blocks, copy on write) equal fresh decodes: forks inside a "
         "block, at a block boundary, from a fork, onto a sequence that shares the source's blocks, after a reset") {
        /* what each sequence has been fed; a step's row logits are checked against a fresh
         * decode of the whole history on sequence 7 */
        int hist[6][64], len[6] = {0};
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        for (int s = 0; s < 6; s++) wh_seq_reset(c2, s);
        int first[20];
        for (int i = 0; i < 20; i++) first[i] = i < 3 ? prompt[i] : 1000 + 37 * i;
        CHECK(wh_decode_seq(c2, 0, first, 20, a) == SP_OK);   /* 20 positions: a full block and 4 */
        memcpy(hist[0], first, sizeof first);
        len[0] = 20;
#define FORK(d, sr) do { CHECK(wh_seq_copy(c2, d, sr) == SP_OK); memcpy(hist[d], hist[sr], sizeof hist[sr]); len[d] = len[sr]; } while (0)
        int worst_ok = 1;
        double worst = 0;
        for (int round = 0; round < 16; round++) {
            /* forks chosen so that sources are shared several times, blocks change hands, and
             * rounds 12 and 13 fork at position 32 (a block boundary) */
            if (round == 0) { FORK(1, 0); FORK(2, 0); }
            if (round == 3) { FORK(3, 1); FORK(0, 2); }        /* a fork of a fork; 0 gives up its own */
            if (round == 6) { FORK(4, 3); FORK(1, 3); FORK(2, 4); }
            if (round == 12) { FORK(5, 0); FORK(3, 0); }
            if (round == 14) { wh_seq_reset(c2, 4); len[4] = 0;   /* a reset sequence reuses its table */
                               CHECK(wh_decode_seq(c2, 4, first, 3, a) == SP_OK); memcpy(hist[4], first, 3 * sizeof(int)); len[4] = 3; }
            int seqs[6], toks[6], nr = 0;
            for (int s = 0; s < 6; s++) {
                if (!len[s]) continue;
                seqs[nr] = s;
                toks[nr] = 2000 + 101 * s + 7 * round;
                nr++;
            }
            CHECK(wh_decode_step(c2, nr, seqs, toks, a) == SP_OK);
            for (int i = 0; i < nr; i++) hist[seqs[i]][len[seqs[i]]++] = toks[i];
            if (round % 3 == 2 || round >= 12)
                for (int i = 0; i < nr; i++) {
                    const int s = seqs[i];
                    wh_seq_reset(c2, 7);
                    CHECK(wh_decode_seq(c2, 7, hist[s], len[s], b) == SP_OK);
                    const double d = rel_diff(a + (size_t)i * V, b, V);
                    worst = fmax(worst, d);
                    if (!(d < 1e-5)) worst_ok = 0;
                }
        }
#undef FORK
        CHECKF(worst_ok, "a forked sequence differs from its fresh decode by %g", worst);
        for (int s = 0; s < 6; s++) CHECK(wh_seq_len(c2, s) == len[s]);
    }
}

static void test_teacher_forcing(sp_context *c2, const float *mel, const int *prompt, float *a, float *b)
{
    TEST("teacher forcing all rows at once equals feeding one token at a time") {
        int f[6] = {50364, 1000, 2000, 3000, 220, 13};
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        CHECK(sp_decode(c2, prompt, 3, a, 1) == SP_OK);
        float *all = malloc(sizeof(float) * V * 6);
        CHECK(sp_decode(c2, f, 6, all, 0) == SP_OK);   /* 6 rows: blocked path */
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        CHECK(sp_decode(c2, prompt, 3, a, 1) == SP_OK);
        for (int i = 0; i < 6; i++) {
            CHECK(sp_decode(c2, &f[i], 1, b, 1) == SP_OK);
            CHECKF(rel_diff(all + (size_t)i * V, b, V) < 1e-5, "row %d", i);
        }
        free(all);
    }
}

static void test_prompt_pass(sp_context *c1, sp_context *c2, const float *mel)
{
    TEST("a prompt pass (more than 8 rows of one sequence: blocks of queries as products over the cache) equals "
         "feeding one token at a time, from position 0 and after cached positions, on 1 and 2 threads") {
        enum { NT = 70 };   /* past blocks of 24 and 48 queries and a cache block of 16, ragged ends; 64 rows or
                               more: the products (and the cross-attention) on AMX tiles where the CPU has them */
        int t[NT];
        t[0] = 50258; t[1] = 50259; t[2] = 50359;
        for (int i = 3; i < NT; i++) t[i] = (int)(1000 + 1237u * (unsigned)i % 40000u);
        float *all = malloc(sizeof(float) * V * NT), *one = malloc(sizeof(float) * V);
        sp_context *cs[2] = {c1, c2};
        /* on the FMAs within 1e-5; where the CPU has AMX, again on tiles, whose products keep
         * about 16 significant bits of each operand (kernels.h, "AMX"): within 5e-5 (a causal
         * leak is 1e-3 and more) */
        wh_kernels_allow_amx(1);
        const int amx_runs = 1 + (wh_kernels_amx() != 0);
        for (int run = 0; run < 2 * 2 * amx_runs; run++) {
            const int ci = run % 2, first = 3 * (run / 2 % 2), amx = run / 4;   /* from position 0, or after 3 tokens */
            wh_kernels_allow_amx(amx);
            sp_context *c = cs[ci];
            CHECK(sp_encode(c, mel, 3000, 0) == SP_OK);
            if (first) CHECK(sp_decode(c, t, first, one, 1) == SP_OK);
            CHECK(sp_decode(c, t + first, NT - first, all, 0) == SP_OK);
            CHECK(sp_encode(c, mel, 3000, 0) == SP_OK);
            double worst = 0;
            for (int i = 0; i < NT; i++) {
                CHECK(sp_decode(c, &t[i], 1, one, 1) == SP_OK);
                if (i >= first) worst = fmax(worst, rel_diff(all + (size_t)(i - first) * V, one, V));
            }
            CHECKF(worst < (amx ? 5e-5 : 1e-5), "%d thread(s), pass from %d, amx %d: %g", ci + 1, first, amx, worst);
        }
        wh_kernels_allow_amx(1);
        free(all);
        free(one);
    }
}

static void test_thread_count(sp_context *c1, sp_context *c2, const float *mel, const int *prompt)
{
    TEST("results do not depend on the thread count and are deterministic") {
        float *x = malloc(sizeof(float) * V), *y = malloc(sizeof(float) * V), *z = malloc(sizeof(float) * V);
        int f[3] = {50364, 1000, 2000};
        CHECK(sp_encode(c1, mel, 3000, 0) == SP_OK && sp_decode(c1, prompt, 3, x, 1) == SP_OK && sp_decode(c1, f, 3, x, 1) == SP_OK);
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK && sp_decode(c2, prompt, 3, y, 1) == SP_OK && sp_decode(c2, f, 3, y, 1) == SP_OK);
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK && sp_decode(c2, prompt, 3, z, 1) == SP_OK && sp_decode(c2, f, 3, z, 1) == SP_OK);
        CHECKF(rel_diff(x, y, V) < 1e-6, "1 vs 2 threads: %g", rel_diff(x, y, V));
        CHECK(memcmp(y, z, sizeof(float) * V) == 0);
        free(x); free(y); free(z);
    }
}

static void test_audio_ctx(sp_context *c2, const float *mel, const int *prompt, float *a, float *b)
{
    TEST("shorter encoder windows (audio_ctx) work; full audio_ctx equals sp_encode") {
        CHECK(sp_encode_ctx(c2, mel, 3000, 0, 1500) == SP_OK && sp_decode(c2, prompt, 3, a, 1) == SP_OK);
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK && sp_decode(c2, prompt, 3, b, 1) == SP_OK);
        CHECK(memcmp(a, b, sizeof(float) * V) == 0);
        CHECK(sp_encode_ctx(c2, mel, 3000, 0, 250) == SP_OK && sp_decode(c2, prompt, 3, a, 1) == SP_OK);
        int finite = 1;
        for (int i = 0; i < V; i++) finite &= isfinite(a[i]);
        CHECK(finite);
        CHECK(rel_diff(a, b, V) > 1e-4);
        /* what a longer window left in the run state past 250 positions changes nothing
         * (the keys are scored in padded blocks of 32 positions) */
        CHECK(sp_encode(c2, mel, 3000, 1000) == SP_OK && sp_encode_ctx(c2, mel, 3000, 0, 250) == SP_OK &&
              sp_decode(c2, prompt, 3, b, 1) == SP_OK);
        CHECK(memcmp(a, b, sizeof(float) * V) == 0);
        /* a window past the end of the mel is all padding, not an error */
        CHECK(sp_encode(c2, mel, 3000, 2990) == SP_OK && sp_decode(c2, prompt, 3, a, 1) == SP_OK);
        CHECK(sp_encode_ctx(c2, mel, 3000, 0, -1) == SP_ERR_INVALID_ARG);
    }
}

static void test_alignment_pass(sp_context *c2, const float *mel, float *b)
{
    TEST("alignment pass: cross-attention rows are distributions; logits equal the normal pass") {
        int toks[6] = {50258, 50259, 50359, 50363, 1000, 2000};
        CHECK(sp_encode(c2, mel, 3000, 0) == SP_OK);
        int L = wh_n_text_layer(c2), H = wh_n_head(c2), P = wh_encoded_ctx(c2);
        CHECK(L == 3 && H == 2 && P == 1500);
        float *attn = malloc(sizeof(float) * (size_t)L * 6 * H * P), *lg = malloc(sizeof(float) * V * 6);
        wh_seq_reset(c2, 3);
        CHECK(wh_decode_seq_attn(c2, 3, toks, 6, lg, attn) == SP_OK);
        int good = 1;
        for (int i = 0; i < L * 6 * H; i++) {
            double sum = 0;
            for (int p = 0; p < P; p++) { float x = attn[(size_t)i * P + p]; good &= x >= 0 && x <= 1; sum += x; }
            good &= fabs(sum - 1.0) < 1e-4;
        }
        CHECK(good);
        wh_seq_reset(c2, 4);
        CHECK(wh_decode_seq(c2, 4, toks, 6, b) == SP_OK);
        CHECKF(rel_diff(lg + 5 * V, b, V) < 1e-6, "last row differs");
        CHECK(wh_decode_seq_attn(c2, 3, toks, 1, NULL, NULL) == SP_ERR_INVALID_ARG);
        free(attn); free(lg);
    }
}

int main(void)
{
    const char *model = "tests/data/models/micro-f16.bin";
    float *mel = read_f32("tests/data/speech-16k.mel80.f32");
    char err[256];
    sp_context *c1 = NULL, *c2 = NULL;
    sp_context_params p1 = sp_context_default_params(), p2 = p1;
    p1.n_threads = 1;
    p2.n_threads = 2;
    if (!mel || sp_context_open(model, &p1, &c1, err, sizeof err) || sp_context_open(model, &p2, &c2, err, sizeof err)) {
        printf("not ok - setup: %s\n", err);
        return 1;
    }
    const int prompt[3] = {50258, 50259, 50359};
    float *a = malloc(sizeof(float) * V * 8), *b = malloc(sizeof(float) * V * 8);

    test_misuse(c2, mel, prompt, a);
    test_batched_step(c2, mel, prompt, a, b);
    test_beam_forks(c2, mel, prompt, a, b);
    test_teacher_forcing(c2, mel, prompt, a, b);
    test_prompt_pass(c1, c2, mel);
    test_thread_count(c1, c2, mel, prompt);
    test_audio_ctx(c2, mel, prompt, a, b);
    test_alignment_pass(c2, mel, b);
    free(a); free(b); free(mel);
    sp_context_free(c1);
    sp_context_free(c2);
    sp_context_free(NULL);
    TEST_EXIT();
}
