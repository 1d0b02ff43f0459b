/* Logit filters, beam bookkeeping, ranking, compression ratio and the RNG on crafted inputs
 * (whisper-reference.md §4). A toy vocabulary: text 0..19, eot 20, sot 21, two languages
 * 22..23, translate 24, transcribe 25, startoflm 26, startofprev 27, nospeech 28,
 * notimestamps 29, timestamps 30..39 (<|0.00|> .. <|0.18|>). */
#include "harness.h"
#include "whisper/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define V 40
#define TB 30
static const wh_specials SP = {.eot = 20, .sot = 21, .lang_first = 22, .n_lang = 2, .translate = 24, .transcribe = 25,
                               .startoflm = 26, .startofprev = 27, .nospeech = 28, .notimestamps = 29,
                               .timestamp_begin = TB};

static wh_filter ts_filter(int max_init)
{
    wh_filter f = {.n_vocab = V, .sp = SP, .blank_id = 3, .suppress_blank = 0, .suppress = NULL, .n_suppress = 0,
                   .timestamps = 1, .max_initial_ts = max_init};
    return f;
}

static void fill(float *l, float v) { for (int i = 0; i < V; i++) l[i] = v; }
static int allowed(const float *l, int i) { return l[i] != -INFINITY; }
static int any_allowed(const float *l, int a, int b) { for (int i = a; i < b; i++) if (allowed(l, i)) return 1; return 0; }
static int all_allowed(const float *l, int a, int b) { for (int i = a; i < b; i++) if (!allowed(l, i)) return 0; return 1; }

/* Independent checker of a sampled sequence against the timestamp rules: returns the index
 * of the first token that breaks one, or -1. */
static int violation(const int *s, int n, int max_init)
{
    int last_ts = -1;
    for (int i = 0; i < n; i++) {
        int t = s[i], is_ts = t >= TB;
        if (t == SP.notimestamps) return i;
        if (i == 0 && (!is_ts || (max_init >= 0 && t > TB + max_init))) return i;
        if (is_ts) {
            int prev_ts = i >= 1 && s[i - 1] >= TB, prev2_ts = i < 2 || s[i - 2] >= TB;
            if (prev_ts && prev2_ts) return i;             /* third timestamp in a row / second at start */
            if (last_ts >= 0) {
                int closes = prev_ts && !prev2_ts;         /* opening right after a closing one */
                if (closes ? t < last_ts : t <= last_ts) return i;
            }
            last_ts = t;
        } else if (t < SP.eot && i >= 2 && s[i - 1] >= TB && s[i - 2] < TB) {
            return i;                                      /* text right after a closing timestamp */
        }
    }
    return -1;
}

static void test_suppress_blank(void)
{
    TEST("suppress_blank: only at the first sampled step") {
        wh_filter f = ts_filter(-1);
        float l[V];
        fill(l, 1);
        wh_filter_suppress_blank(&f, 0, l);
        CHECK(!allowed(l, 3) && !allowed(l, SP.eot) && allowed(l, 4));
        fill(l, 1);
        wh_filter_suppress_blank(&f, 1, l);
        CHECK(all_allowed(l, 0, V));
    }
    TEST("suppress_blank: after a forced prefix, at the first sampled step (not at the window's)") {
        wh_filter f = ts_filter(-1);
        f.suppress_blank = 1;
        f.timestamps = 0;
        const int seq[] = {5, 6, 7};   /* a two-token prefix, then one sampled token */
        float l[V];
        fill(l, 1);
        wh_filter_apply(&f, seq, 2, 2, l);
        CHECK(!allowed(l, 3) && !allowed(l, SP.eot) && allowed(l, 4));
        fill(l, 1);
        wh_filter_apply(&f, seq, 3, 2, l);
        CHECK(all_allowed(l, 0, V));
        fill(l, 1);
        wh_filter_apply(&f, seq, 0, 0, l);   /* no prefix: the window's first step */
        CHECK(!allowed(l, 3) && !allowed(l, SP.eot));
    }
}

static void test_suppress_tokens(void)
{
    TEST("suppress_tokens: -1 expands to the non-speech set, specials always added") {
        const int ns[] = {7, 1, 2};
        int out[64];
        int n = wh_parse_suppress("-1", ns, 3, &SP, V, out, 64);
        const int want[] = {1, 2, 7, 21, 24, 25, 26, 27, 28};
        CHECK(n == 9);
        for (int i = 0; i < 9 && n == 9; i++) CHECK(out[i] == want[i]);
        n = wh_parse_suppress("5, 3 5", ns, 3, &SP, V, out, 64);
        CHECK(n == 8 && out[0] == 3 && out[1] == 5);
        n = wh_parse_suppress("", ns, 3, &SP, V, out, 64);
        CHECK(n == 6 && out[0] == 21);
        n = wh_parse_suppress(NULL, ns, 3, &SP, V, out, 64);
        CHECK(n == 6);
        CHECK(wh_parse_suppress("abc", ns, 3, &SP, V, out, 64) == -1);
        CHECK(wh_parse_suppress("12x", ns, 3, &SP, V, out, 64) == -1);
        CHECK(wh_parse_suppress("40", ns, 3, &SP, V, out, 64) == -1);
        CHECK(wh_parse_suppress("-2", ns, 3, &SP, V, out, 64) == -1);
        CHECK(wh_parse_suppress("1,2,3", ns, 3, &SP, V, out, 4) == -1);   /* cap too small */
        wh_filter f = ts_filter(-1);
        f.timestamps = 0;
        n = wh_parse_suppress("-1", ns, 3, &SP, V, out, 64);
        f.suppress = out;
        f.n_suppress = n;
        float l[V];
        fill(l, 0);
        wh_filter_apply(&f, NULL, 0, 0, l);
        CHECK(!allowed(l, 7) && !allowed(l, SP.sot) && !allowed(l, SP.nospeech) && allowed(l, 0) && allowed(l, SP.eot));
        CHECK(allowed(l, SP.lang_first));   /* language tokens are not suppressed */
    }
}

static void test_ts_rule_no_notimestamps(void)
{
    TEST("timestamp rule 1: notimestamps never") {
        wh_filter f = ts_filter(-1);
        float l[V];
        const int seq[] = {30, 5};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, seq, 2, l);
        CHECK(!allowed(l, SP.notimestamps));
    }
}

static void test_ts_rule_first_token(void)
{
    TEST("timestamp rule 4: first token is a timestamp <= max_initial") {
        wh_filter f = ts_filter(3);
        float l[V];
        fill(l, 0);
        l[5] = 50;   /* even a very likely text token */
        wh_filter_timestamp_rules(&f, NULL, 0, l);
        CHECK(!any_allowed(l, 0, TB));                 /* no text, no EOT */
        CHECK(all_allowed(l, TB, TB + 4));             /* <|0.00|> .. <|0.06|> */
        CHECK(!any_allowed(l, TB + 4, V));
        f.max_initial_ts = -1;
        fill(l, 0);
        wh_filter_timestamp_rules(&f, NULL, 0, l);
        CHECK(all_allowed(l, TB, V));
    }
}

static void test_ts_rule_pairing(void)
{
    TEST("timestamp rule 2: pairing") {
        wh_filter f = ts_filter(-1);
        float l[V];
        /* one timestamp at the start: text must follow */
        const int a[] = {30};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, a, 1, l);
        CHECK(!any_allowed(l, TB, V) && all_allowed(l, 0, SP.eot + 1));
        /* text then a timestamp (closing): another timestamp or EOT, no text */
        const int b[] = {30, 5, 33};
        fill(l, 0);
        l[SP.eot] = 5;   /* (likely enough that rule 5 keeps it) */
        wh_filter_timestamp_rules(&f, b, 3, l);
        CHECK(!any_allowed(l, 0, SP.eot) && allowed(l, SP.eot) && allowed(l, 33));
        /* two in a row: text (or EOT) must follow */
        const int c[] = {30, 5, 33, 34};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, c, 4, l);
        CHECK(!any_allowed(l, TB, V) && all_allowed(l, 0, SP.eot + 1));
    }
}

static void test_ts_rule_monotonic(void)
{
    TEST("timestamp rule 3: monotonic, non-zero segments") {
        wh_filter f = ts_filter(-1);
        float l[V];
        /* after <|0.00|> text: the closing timestamp is strictly later than 0.00 */
        const int a[] = {30, 5, 6};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, a, 3, l);
        CHECK(!allowed(l, 30) && all_allowed(l, 31, V));
        /* right after a closing <|0.06|>: the next opening may equal it, not go below */
        const int b[] = {30, 5, 33};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, b, 3, l);
        CHECK(!any_allowed(l, 30, 33) && all_allowed(l, 33, V));
        /* inside the next segment: above the opening <|0.08|> only */
        const int c[] = {30, 5, 33, 34, 7};
        fill(l, 0);
        wh_filter_timestamp_rules(&f, c, 5, l);
        CHECK(!any_allowed(l, 30, 35) && all_allowed(l, 35, V));
    }
}

static void test_ts_rule_total_probability(void)
{
    TEST("timestamp rule 5: timestamps' total probability beats the best text token") {
        wh_filter f = ts_filter(-1);
        float l[V];
        const int a[] = {30, 5};
        /* each timestamp 0, best text 1.5: logsumexp of 10 zeros = 2.30 > 1.5 → text suppressed */
        fill(l, 0);
        l[6] = 1.5f;
        wh_filter_timestamp_rules(&f, a, 2, l);
        CHECK(!any_allowed(l, 0, TB));
        CHECK(all_allowed(l, 31, V));
        /* best text 3.0 > 2.30 → nothing extra suppressed (text stays) */
        fill(l, 0);
        l[6] = 3.0f;
        wh_filter_timestamp_rules(&f, a, 2, l);
        CHECK(allowed(l, 6) && allowed(l, SP.eot));
        /* the rule sees the timestamps left after the other rules: only 31..39 (9 of them,
         * lse 2.197) against text 2.25 → text stays */
        fill(l, 0);
        l[6] = 2.25f;
        wh_filter_timestamp_rules(&f, a, 2, l);
        CHECK(allowed(l, 6));
    }
}

static void test_ts_rules_random_logits(void)
{
    TEST("timestamp rules hold on random logits (greedy), and the checker catches violations") {
        wh_rng r;
        wh_rng_seed(&r, 42);
        int bad = 0, total = 0, with_pairs = 0;
        for (int trial = 0; trial < 300; trial++) {
            wh_filter f = ts_filter(trial % 3 == 0 ? -1 : 5);
            int seq[64], n = 0;
            for (int step = 0; step < 40; step++) {
                float l[V];
                for (int i = 0; i < V; i++) l[i] = (float)(wh_rng_uniform(&r) * 6.0 - 3.0);
                if (trial % 2) for (int i = TB; i < V; i++) l[i] -= 1.5f;   /* favour text */
                wh_filter_apply(&f, seq, n, 0, l);
                int a = 0;
                for (int i = 1; i < V; i++) if (l[i] > l[a]) a = i;
                if (l[a] == -INFINITY || a == SP.eot) break;
                seq[n++] = a;
                total++;
            }
            int v = violation(seq, n, f.max_initial_ts);
            if (v >= 0) bad++;
            for (int i = 1; i < n; i++) if (seq[i] >= TB && seq[i - 1] >= TB) { with_pairs++; break; }
        }
        CHECK(bad == 0);
        CHECK(total > 300 && with_pairs > 10);
        /* the checker itself: each crafted violation is caught at the right index */
        const int v1[] = {5, 30};                 CHECK(violation(v1, 2, -1) == 0);    /* text first */
        const int v2[] = {38, 5};                 CHECK(violation(v2, 2, 5) == 0);     /* beyond max_initial */
        const int v3[] = {30, 31};                CHECK(violation(v3, 2, -1) == 1);    /* pair at start */
        const int v4[] = {30, 5, 33, 34, 35};     CHECK(violation(v4, 5, -1) == 4);    /* three in a row */
        const int v5[] = {30, 5, 33, 6};          CHECK(violation(v5, 4, -1) == 3);    /* text after closing */
        const int v6[] = {30, 5, 33, 32};         CHECK(violation(v6, 4, -1) == 3);    /* going back */
        const int v7[] = {31, 5, 31};             CHECK(violation(v7, 3, -1) == 2);    /* zero-length segment */
        const int v8[] = {30, 29};                CHECK(violation(v8, 2, -1) == 1);    /* notimestamps */
        const int ok1[] = {30, 5, 33, 33, 6, 35}; CHECK(violation(ok1, 6, -1) == -1);
        /* and the filter rejects exactly those next tokens */
        wh_filter f = ts_filter(5);
        float l[V];
        fill(l, 0); wh_filter_timestamp_rules(&f, v3, 1, l); CHECK(!allowed(l, 31));
        fill(l, 0); wh_filter_timestamp_rules(&f, v4, 4, l); CHECK(!allowed(l, 35));
        fill(l, 0); wh_filter_timestamp_rules(&f, v5, 3, l); CHECK(!allowed(l, 6));
        fill(l, 0); wh_filter_timestamp_rules(&f, v6, 3, l); CHECK(!allowed(l, 32));
        fill(l, 0); wh_filter_timestamp_rules(&f, v7, 2, l); CHECK(!allowed(l, 31));
        fill(l, 0); wh_filter_timestamp_rules(&f, NULL, 0, l); CHECK(!allowed(l, 5) && !allowed(l, 38));
    }
}

static void test_beam_select(void)
{
    TEST("beam select: ranking, EOT to finished, beam_size kept") {
        float r0[V], r1[V];
        fill(r0, -INFINITY);
        fill(r1, -INFINITY);
        /* beam 0 (sum -1): tokens 1 (p .5), EOT (p .3), 2 (p .2) */
        r0[1] = logf(0.5f); r0[SP.eot] = logf(0.3f); r0[2] = logf(0.2f);
        /* beam 1 (sum -0.5): token 3 (p .9), 4 (p .1) */
        r1[3] = logf(0.9f); r1[4] = logf(0.1f);
        const float *rows[2] = {r0, r1};
        const double sums[2] = {-1.0, -0.5};
        wh_cand scratch[6], next[2], fin[6];
        int nf = -1;
        int kept = wh_beam_select(rows, sums, 2, V, 2, SP.eot, scratch, next, fin, &nf);
        CHECK(kept == 2);
        /* scores: b1:3 -0.605, b0:1 -1.693, b0:EOT -2.204, b0:2 -2.609, b1:4 -2.803 */
        CHECK(next[0].src == 1 && next[0].token == 3 && fabs(next[0].score - (-0.5 + log(0.9))) < 1e-5);
        CHECK(next[1].src == 0 && next[1].token == 1);
        CHECK(nf == 0);   /* EOT ranked after the two kept: not reached */
        /* with beam_size 3 the EOT candidate (third) is finished and the fourth kept */
        wh_cand scratch2[8], next2[3], fin2[8];
        kept = wh_beam_select(rows, sums, 2, V, 3, SP.eot, scratch2, next2, fin2, &nf);
        CHECK(kept == 3 && nf == 1 && fin2[0].token == SP.eot && fin2[0].src == 0);
        CHECK(next2[2].token == 2 && next2[2].src == 0);
        CHECK(fabs(fin2[0].score - (-1.0 + log(0.3))) < 1e-5);
        /* logprobs are log_softmax of the row */
        CHECK(fabsf(next2[1].logprob - logf(0.5f)) < 1e-5f);

        /* CTranslate2's rule (faster-whisper): only an EOT among the first beam_size
         * candidates finishes; its place goes to the next non-EOT from rank beam_size on,
         * and an EOT ranked there is passed over (openai's decoder had finished it too) */
        float q0[V], q1[V];
        fill(q0, -INFINITY);
        fill(q1, -INFINITY);
        q0[SP.eot] = logf(0.6f); q0[1] = logf(0.4f);                      /* beam 0, sum -0.1 */
        q1[3] = logf(0.5f); q1[SP.eot] = logf(0.45f); q1[4] = logf(0.05f); /* beam 1, sum -0.2 */
        const float *qrows[2] = {q0, q1};
        const double qsums[2] = {-0.1, -0.2};
        /* ranked: b0:EOT -0.611, b1:3 -0.893, b1:EOT -0.999, b0:1 -1.016, b1:4 -3.196 */
        wh_cand scratch3[6], next3[2], fin3[6];
        kept = wh_beam_select(qrows, qsums, 2, V, 2, SP.eot, scratch3, next3, fin3, &nf);
        CHECKF(kept == 2 && nf == 1, "kept %d finished %d", kept, nf);
        CHECK(fin3[0].src == 0 && fin3[0].token == SP.eot);
        CHECK(next3[0].src == 0 && next3[0].token == 1);   /* the EOT's slot: rank 3 */
        CHECK(next3[1].src == 1 && next3[1].token == 3);
    }
}

static void test_ranking(void)
{
    TEST("ranking: average log-prob or the GNMT length penalty") {
        CHECK(fabs(wh_rank_score(-6.0, 3, 0) - (-2.0)) < 1e-12);
        CHECK(fabs(wh_rank_score(-6.0, 7, 1.0f) - (-6.0 / 2.0)) < 1e-12);
        CHECK(wh_rank_score(-1.0, 0, 0) == -1.0);
        /* a longer sequence with the same average ranks equal without penalty */
        CHECK(wh_rank_score(-4.0, 4, 0) == wh_rank_score(-2.0, 2, 0));
    }
}

static void test_compression_ratio(void)
{
    TEST("compression ratio (zlib level 6)") {
        char rep[512];
        for (int i = 0; i < 511; i++) rep[i] = "Thank you. "[i % 11];
        rep[511] = 0;
        float r = wh_compression_ratio(rep, 511);
        CHECK(r > 2.4f);
        const char *normal = "And so my fellow Americans, ask not what your country can do for you.";
        float r2 = wh_compression_ratio(normal, strlen(normal));
        CHECK(r2 > 0.5f && r2 < 2.4f);
        CHECK(wh_compression_ratio("", 0) == 0.0f);
        /* zlib.compress(b"hello") is 13 bytes → 5/13 */
        CHECK(fabsf(wh_compression_ratio("hello", 5) - 5.0f / 13.0f) < 1e-6f);
    }
}

static void test_logsumexp(void)
{
    TEST("logsumexp") {
        float x[3] = {0, 0, 0};
        CHECK(fabsf(wh_logsumexp(x, 3) - logf(3)) < 1e-6f);
        float y[2] = {-INFINITY, -INFINITY};
        CHECK(wh_logsumexp(y, 2) == -INFINITY);
        float z[2] = {1000, 1000};
        CHECK(fabsf(wh_logsumexp(z, 2) - (1000 + logf(2))) < 1e-3f);
    }
}

/* the sampler against softmax(row / T): frequencies of 20000 draws (4000 on the long row)
 * within 5 standard errors of each token's probability, at two temperatures, on a
 * 40-token row and on a vocabulary-sized one (the vector exponentials' tails); a −inf
 * token is never drawn */
static void test_sampling_frequencies(void)
{
    TEST("sampling: frequencies follow softmax(row / T) over the finite logits, −inf never drawn") {
        const double p[10] = {0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.03, 0.01, 0.01};
        const int nbig = 51865, pos_big[10] = {0, 17, 4095, 4096, 20000, 33333, 51000, 51850, 51863, 51864};
        float *row = malloc(sizeof(float) * nbig), *scratch = malloc(sizeof(float) * nbig);
        const float temps[2] = {1.0f, 0.5f};
        int bad = 0, never = 0;
        for (int big = 0; big < 2; big++)
            for (int ti = 0; ti < 2; ti++) {
                const int n = big ? nbig : V;
                for (int i = 0; i < n; i++) row[i] = -INFINITY;
                double q[10], qs = 0;
                for (int j = 0; j < 10; j++) {
                    row[big ? pos_big[j] : 3 * j + 1] = logf((float)p[j]) + 2.5f;   /* an offset the max takes out */
                    q[j] = pow(p[j], 1.0 / temps[ti]);
                    qs += q[j];
                }
                int cnt[10] = {0};
                wh_rng rng;
                wh_rng_seed(&rng, 11 + (uint64_t)(2 * big + ti));
                const int N = big ? 4000 : 20000;   /* the long row's draws cost 60 µs each */
                for (int d = 0; d < N; d++) {
                    const int t = wh_sample_row(row, n, temps[ti], &rng, scratch);
                    int j = 0;
                    while (j < 10 && t != (big ? pos_big[j] : 3 * j + 1)) j++;
                    if (j == 10) never++;
                    else cnt[j]++;
                }
                for (int j = 0; j < 10; j++) {
                    const double want = q[j] / qs, se = sqrt(want * (1 - want) / N);
                    if (fabs((double)cnt[j] / N - want) > 5 * se + 1e-9) bad++;
                }
            }
        free(row);
        free(scratch);
        CHECKF(bad == 0 && never == 0, "%d frequencies off, %d draws of a -inf token", bad, never);
    }
}

static void test_seeded_rng(void)
{
    TEST("seeded RNG: reproducible, seed-dependent, uniform in [0, 1)") {
        wh_rng a, b, c;
        wh_rng_seed(&a, 7);
        wh_rng_seed(&b, 7);
        wh_rng_seed(&c, 8);
        int same = 1, diff = 0;
        double mean = 0;
        for (int i = 0; i < 10000; i++) {
            double u = wh_rng_uniform(&a), v = wh_rng_uniform(&b), w = wh_rng_uniform(&c);
            same &= u == v;
            diff += u != w;
            CHECK(u >= 0 && u < 1);
            mean += u;
        }
        CHECK(same && diff > 9990);
        CHECK(fabs(mean / 10000 - 0.5) < 0.02);
    }
}

int main(void)
{
    test_suppress_blank();
    test_suppress_tokens();
    test_ts_rule_no_notimestamps();
    test_ts_rule_first_token();
    test_ts_rule_pairing();
    test_ts_rule_monotonic();
    test_ts_rule_total_probability();
    test_ts_rules_random_logits();
    test_beam_select();
    test_ranking();
    test_compression_ratio();
    test_logsumexp();
    test_sampling_frequencies();
    test_seeded_rng();
    TEST_EXIT();
}
