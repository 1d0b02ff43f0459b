/* Kernels: every SIMD kernel against its scalar reference, every weight type against the
 * exact (double) reference GEMM, quantized GEMM against the f32 GEMM on the dequantized
 * weights, f16 conversion exhaustively, the thread pool. */
#include "harness.h"
#include "whisper/fp16.h"
#include "whisper/kernels.h"
#include "whisper/model.h"
#include "whisper/ops.h"
#include "whisper/threadpool.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 12345;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) { return (uint16_t)_cvtss_sh(f, 0); }

static size_t tsize(int t) { return wh_type_size(t); }

/* random weights of type t: N rows of K */
static uint8_t *make_w(int t, int N, int K)
{
    size_t rb = wh_row_bytes(t, K);
    uint8_t *w = malloc(rb * (size_t)N);
    for (size_t i = 0; i < rb * (size_t)N; i++) w[i] = (uint8_t)(frand() * 127 + 128);
    /* keep f16 scales/values finite and moderate: rewrite every f16 field */
    if (t == WH_F32) for (size_t i = 0; i < (size_t)N * K; i++) ((float *)w)[i] = frand();
    if (t == WH_F16) for (size_t i = 0; i < (size_t)N * K; i++) ((uint16_t *)w)[i] = wh_f32_to_f16(frand());
    if (t == WH_I8R)   /* CTranslate2's int8 rows: [f32 scale][int8 × K] */
        for (int n = 0; n < N; n++) {
            float sc = 20.0f + 10.0f * frand();
            memcpy(w + (size_t)n * rb, &sc, 4);
        }
    else if (t != WH_F32 && t != WH_F16) {
        size_t bs = tsize(t);
        for (size_t b = 0; b < rb * (size_t)N / bs; b++) {
            uint8_t *p = w + b * bs;
            uint16_t d = wh_f32_to_f16(frand() * 0.1f), m = wh_f32_to_f16(frand() * 0.1f);
            memcpy(p, &d, 2);
            if (t == WH_Q4_1 || t == WH_Q5_1) memcpy(p + 2, &m, 2);
        }
    }
    return w;
}

/* wh_par_mlp (the fused MLP) against its two products through wh_par_gemm, on a fresh exec
 * of nt threads and max_k (with the AMX flag as given): 1 when bit-equal */
static int mlp_equals_products(int nt, int max_k, int amx, int M, int K, int N0, const float *A, int lda,
                               const wh_wmat *w0, const wh_wmat *w2, const float *b0, const float *b2)
{
    float *H = malloc(sizeof(float) * (size_t)M * N0), *Y1 = malloc(sizeof(float) * (size_t)M * K);
    float *Y2 = malloc(sizeof(float) * (size_t)M * K);
    wh_exec ex;
    int same = 0;
    if (H && Y1 && Y2 && wh_exec_init(&ex, nt, max_k) == 0) {
        ex.amx = amx;
        for (size_t i = 0; i < (size_t)M * K; i++) Y1[i] = Y2[i] = frand();
        wh_par_mlp(&ex, M, K, A, lda, w0, b0, N0, w2, b2, Y1, K, H, NULL);
        wh_par_gemm(&ex, M, K, A, lda, w0, N0, b0, H, N0, 0, 1);
        wh_par_gemm(&ex, M, N0, H, N0, w2, K, b2, Y2, K, 1, 0);
        same = !memcmp(Y1, Y2, sizeof(float) * (size_t)M * K);
        wh_exec_deinit(&ex);
    }
    free(H); free(Y1); free(Y2);
    return same;
}

/* ref[m·N + n] = Σ_k A[m][k]·D[n][k] in f64 (D: N dequantized rows of K); the largest |value| */
static double f64_product(int M, int N, int K, const float *A, int lda, const float *D, float *ref)
{
    double big = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double sum = 0;
            for (int k = 0; k < K; k++) sum += (double)A[(size_t)m * lda + k] * D[(size_t)n * K + k];
            ref[(size_t)m * N + n] = (float)sum;
            big = fmax(big, fabs(sum));
        }
    return big;
}

static int g_types[] = {WH_F32, WH_F16, WH_Q8_0, WH_Q5_0, WH_Q5_1, WH_Q4_0, WH_Q4_1};

static void gemm_case(wh_isa isa, int type, int M, int N, int K, int acc, int use_bias, double *worst)
{
    wh_kernels_force(isa);
    float *A = malloc(sizeof(float) * (size_t)M * K), *C = malloc(sizeof(float) * (size_t)M * N);
    float *R = malloc(sizeof(float) * (size_t)M * N), *bias = malloc(sizeof(float) * (size_t)N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = frand();
    for (int i = 0; i < N; i++) bias[i] = frand();
    for (size_t i = 0; i < (size_t)M * N; i++) C[i] = R[i] = frand();
    uint8_t *W = make_w(type, N, K);
    wh_wmat w = {W, type, K, wh_row_bytes(type, K)};
    float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
    /* compute only a column range for part of the test: [n0, N) */
    int n0 = N > 20 ? 3 : 0;
    float *R0 = malloc(sizeof(float) * (size_t)M * N);
    memcpy(R0, R, sizeof(float) * (size_t)M * N);
    wh_gemm_part(M, K, A, K, &w, n0, N, use_bias ? bias : NULL, C, N, acc, scr);
    wh_gemm_ref(M, K, A, K, &w, n0, N, use_bias ? bias : NULL, R, N);
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            size_t i = (size_t)m * N + n;
            if (n < n0) { CHECKF(C[i] == R0[i], "column %d outside the range was written", n); continue; }
            double ref = R[i] + (acc ? R0[i] : 0.0);
            /* error bound scale: sum |a||w| */
            if (m == 0 || n == n0) {}
            wh_dequant_row_ref(type, W + (size_t)n * w.row_bytes, row, 0, K);
            double sc = 0;
            for (int k = 0; k < K; k++) sc += fabs(A[(size_t)m * K + k] * row[k]);
            double e = fabs(C[i] - ref) / (sc + 1e-6);
            if (e > *worst) *worst = e;
            if (e > 1e-5) { CHECKF(0, "%s type %s M=%d N=%d K=%d m=%d n=%d: %g vs %g", wh_isa_name(isa), wh_type_name(type), M, N, K, m, n, C[i], ref); goto out; }
        }
out:
    free(A); free(C); free(R); free(R0); free(bias); free(W); free(scr); free(row);
}

typedef struct { atomic_int hits; atomic_int counts[64]; } pool_arg;
/* how far apart two cross-attention results are: the largest difference of the R rows'
 * probabilities (len) and outputs (dh) */
static void att_apart(int R, int len, int dh, const float *S1, const float *S2, size_t lds, const float *o1,
                      const float *o2, size_t ldo, double *ms, double *mo)
{
    *ms = *mo = 0;
    for (int r = 0; r < R; r++) {
        for (int p = 0; p < len; p++) *ms = fmax(*ms, fabs(S1[r * lds + p] - S2[r * lds + p]));
        for (int d = 0; d < dh; d++) *mo = fmax(*mo, fabs(o1[r * ldo + d] - o2[r * ldo + d]));
    }
}

static void pool_task(void *va, int chunk, int ith)
{
    pool_arg *p = va;
    atomic_fetch_add(&p->hits, 1);
    atomic_fetch_add(&p->counts[chunk], 1);
    (void)ith;
}

/* whether /proc/cpuinfo's first "flags" line lists `flag` as a whole word: 1, 0, or -1 when
 * there is no such file (not Linux) */
static int cpuinfo_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[8192];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5)) continue;
        found = 0;
        for (char *sv = NULL, *t = strtok_r(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \t\n", &sv); t;
             t = strtok_r(NULL, " \t\n", &sv))
            if (!strcmp(t, flag)) found = 1;
    }
    fclose(f);
    return found;
}

static void test_f16_conversion(int have_avx2)
{
    TEST("f16 conversion: scalar equals F16C for all 65536 halves and round-trips") {
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float f = wh_f16_to_f32((uint16_t)h);
            if (have_avx2) {
                float g = hw_h2f((uint16_t)h);
                if (!(f == g || (isnan(f) && isnan(g)))) bad++;
            }
            if (!isnan(f) && wh_f32_to_f16(f) != h) bad++;
        }
        CHECKF(bad == 0, "%d mismatches", bad);
        /* rounding of in-between values, checked against F16C */
        if (have_avx2)
            for (int i = 0; i < 200000; i++) {
                float x = frand() * 70000.0f * (i % 3 ? 1e-4f : 1.0f);
                if (wh_f32_to_f16(x) != hw_f2h(x)) bad++;
            }
        CHECKF(bad == 0, "%d rounding mismatches", bad);
    }
}

/* the encoder attention's softmax over a block of rows (each row's pass takes the next
 * row's maximum): per row the same floats and sum as wh_softmax_unnorm, the padding
 * between rows untouched */
static void test_softmax_rows(wh_isa best)
{
    TEST("wh_softmax_rows equals wh_softmax_unnorm row by row, bit for bit, at every level") {
        int bad = 0;
        const int ns[] = {1, 15, 16, 63, 64, 65, 100, 1500};
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (int rows = 1; rows <= 5; rows += 2)
                for (int lv = WH_ISA_SCALAR; lv <= (int)best; lv++) {
                    const int n = ns[ni];
                    const size_t ld = (size_t)n + 5;
                    float *a = malloc(sizeof(float) * ld * (size_t)rows), *b = malloc(sizeof(float) * ld * (size_t)rows);
                    float inv[5];
                    for (size_t i = 0; i < ld * (size_t)rows; i++) a[i] = b[i] = frand() * 40.0f - 20.0f + (float)(i % 7);
                    wh_kernels_force((wh_isa)lv);
                    wh_softmax_rows(a, rows, n, ld, inv);
                    for (int r = 0; r < rows; r++) {
                        const float want = 1.0f / wh_softmax_unnorm(b + (size_t)r * ld, n);
                        bad += inv[r] != want;
                    }
                    bad += memcmp(a, b, sizeof(float) * ld * (size_t)rows) != 0;
                    free(a);
                    free(b);
                }
        wh_kernels_force(best);
        CHECKF(bad == 0, "%d mismatches", bad);
    }
}

/* the search's row scans: every level against the scalar loops they replace, with ties,
 * NaNs (never greater nor equal), ±inf and rows of every length around the vector widths */
static void test_row_scans(wh_isa best)
{
    TEST("wh_max, wh_argmax, wh_find_gt/ge equal their scalar loops at every level (ties, NaN, inf, n 0..100 and 51865)") {
        int bad = 0;
        const int nv = 51865;
        float *x = malloc(sizeof(float) * nv);
        for (int trial = 0; trial < 120; trial++) {
            const int n = trial < 101 ? trial : nv - (trial - 101) * 97;
            for (int i = 0; i < n; i++) x[i] = (float)(int)(frand() * 9.0f) - 4.0f;   /* many ties */
            if (n > 3 && trial % 3 == 0) x[(trial * 7) % n] = NAN;
            if (n > 3 && trial % 4 == 1) x[0] = NAN;
            if (n > 5 && trial % 5 == 2) x[(trial * 13) % n] = INFINITY;
            if (n > 5 && trial % 5 == 3) for (int i = 0; i < n; i++) x[i] = -INFINITY;
            if (n > 60 && trial % 2 == 1) {   /* a unique largest value, NaNs after it in its lanes */
                const int p = (trial * 11) % (n - 48);
                x[p] = 9.0f;
                x[p + 8] = x[p + 16] = x[p + 32] = NAN;
            }
            float m0 = -INFINITY;
            for (int i = 0; i < n; i++) if (x[i] > m0) m0 = x[i];
            int a0 = 0;
            for (int i = 1; i < n; i++) if (x[i] > x[a0]) a0 = i;
            const float ts[4] = {m0, 2.0f, -INFINITY, 3.5f};
            for (int lv = WH_ISA_SCALAR; lv <= (int)best; lv++) {
                wh_kernels_force((wh_isa)lv);
                const float m1 = wh_max(x, n);
                bad += !(m1 == m0 || (m1 != m1 && m0 != m0));
                if (n >= 1) bad += wh_argmax(x, n) != a0;
                for (int ti = 0; ti < 4; ti++) {
                    int g0 = n, e0 = n;
                    for (int i = n - 1; i >= 0; i--) {
                        if (x[i] > ts[ti]) g0 = i;
                        if (x[i] >= ts[ti]) e0 = i;
                    }
                    bad += wh_find_gt(x, n, ts[ti]) != g0;
                    bad += wh_find_ge(x, n, ts[ti]) != e0;
                }
            }
        }
        wh_kernels_force(best);
        free(x);
        CHECKF(bad == 0, "%d mismatches", bad);
    }
}

/* y = a·x and y[r] += b (the attention's scaled copies, the row split's bias): every level
 * gives the scalar's floats (one multiply, one add per element) */
static void test_scale_add_rows(wh_isa best)
{
    TEST("wh_scale and wh_add_rows give the scalar results at every level, n 1..70, strided rows") {
        int bad = 0;
        float x[70], b[70], y0[5 * 73], y1[5 * 73];
        for (int i = 0; i < 70; i++) { x[i] = frand() * 20.0f - 10.0f; b[i] = frand() - 0.5f; }
        for (int n = 1; n <= 70; n += 1 + n / 5)
            for (int lv = WH_ISA_SCALAR; lv <= (int)best; lv++) {
                for (int i = 0; i < 5 * 73; i++) y0[i] = y1[i] = (float)i * 0.25f;
                wh_kernels_force(WH_ISA_SCALAR);
                wh_scale(y0, 0.125f * (float)n, x, n);
                wh_add_rows(y0 + 73, 73, 4, b, n);
                wh_kernels_force((wh_isa)lv);
                wh_scale(y1, 0.125f * (float)n, x, n);
                wh_add_rows(y1 + 73, 73, 4, b, n);
                bad += memcmp(y0, y1, sizeof y0) != 0;
                for (int i = 0; i < n; i++) bad += y1[i] != 0.125f * (float)n * x[i] || y1[73 + i] != (float)(73 + i) * 0.25f + b[i];
            }
        wh_kernels_force(best);
        CHECKF(bad == 0, "%d mismatches", bad);
    }
}

/* the transposing f16 conversion (the cross-attention key tiles): every level against the
 * scalar one's halves, ragged rows and columns, odd strides, and nothing written outside */
static void test_to_f16_t(wh_isa best)
{
    TEST("transposed f16 conversion (wh_to_f16_t) gives the scalar halves at every level, rows 1..35, cols 1..70, "
         "nothing outside written") {
        int bad = 0;
        const size_t ldx = 77, ldy = 41;
        float *x = malloc(sizeof(float) * 35 * ldx);
        uint16_t *y0 = malloc(sizeof(uint16_t) * 70 * ldy), *y1 = malloc(sizeof(uint16_t) * 70 * ldy);
        for (size_t i = 0; i < 35 * ldx; i++) x[i] = frand() * 200.0f - 100.0f;
        for (int rows = 1; rows <= 35; rows += 1 + rows / 4)
            for (int cols = 1; cols <= 70; cols += 1 + cols / 3)
                for (int lv = WH_ISA_SCALAR; lv <= (int)best; lv++) {
                    memset(y0, 0xA5, sizeof(uint16_t) * 70 * ldy);
                    memset(y1, 0xA5, sizeof(uint16_t) * 70 * ldy);
                    wh_kernels_force(WH_ISA_SCALAR);
                    wh_to_f16_t(x, ldx, rows, cols, y0, ldy);
                    wh_kernels_force((wh_isa)lv);
                    wh_to_f16_t(x, ldx, rows, cols, y1, ldy);
                    for (int c = 0; c < 70; c++)
                        for (size_t r = 0; r < ldy; r++) {
                            const uint16_t want = (c < cols && (int)r < rows) ? wh_f32_to_f16(x[r * ldx + (size_t)c]) : 0xA5A5;
                            bad += y0[(size_t)c * ldy + r] != want || y1[(size_t)c * ldy + r] != want;
                        }
                }
        wh_kernels_force(best);
        CHECKF(bad == 0, "%d halves differ", bad);
        free(x); free(y0); free(y1);
    }
}

/* the micro-kernels' reference: per lane of the mr × width tile one fmaf chain over k in
 * order from 0, then C + sum when accumulating — the kernels' own arithmetic, so a kernel
 * equals it bit for bit. The tile starts at row 1, column 3 of R (ldc floats a row); the
 * panels are [kc][16] back to back. */
static void ukernel_ref(const float *A, int lda, const float *Bp, int kc, int mr, int width, int acc, float *R, int ldc)
{
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < width; j++) {
            const float *bp = Bp + (j / 16) * 16 * kc + j % 16;
            float s = 0.0f;
            for (int k = 0; k < kc; k++) s = fmaf(A[1 + i * lda + k], bp[k * 16], s);
            float *r = &R[(1 + i) * ldc + 3 + j];
            *r = acc ? *r + s : s;
        }
}

/* Every k remainder of the kernels' unrolled loops, partial tiles, odd strides, and the
 * columns and rows around the tile untouched: width 32 the AVX-512 pair kernel (its full
 * 12-row tile hand-written assembly), 16 the AVX2 one (two k a trip). */
static int ukernel_cases(int width, const int *mrs, int n_mrs)
{
    const int kcs[] = {1, 2, 3, 4, 5, 63, 64, 241, 256};
    const int lda = 259, ldc = 37 + 32;
    float *A = malloc(sizeof(float) * 13 * lda), *Bp = aligned_alloc(64, sizeof(float) * 256 * 32);
    float *C = malloc(sizeof(float) * 14 * ldc), *R = malloc(sizeof(float) * 14 * ldc);
    for (int i = 0; i < 13 * lda; i++) A[i] = frand();
    for (int i = 0; i < 256 * 32; i++) Bp[i] = frand();
    int bad = 0;
    for (size_t a = 0; a < sizeof kcs / sizeof kcs[0]; a++)
        for (int b = 0; b < n_mrs; b++)
            for (int acc = 0; acc < 2; acc++) {
                const int kc = kcs[a], mr = mrs[b];
                for (int i = 0; i < 14 * ldc; i++) C[i] = R[i] = frand();
                if (width == 32)
                    wh_ukernel2_avx512(kc, A + 1, lda, Bp, C + ldc + 3, ldc, mr, acc, A);
                else
                    wh_ukernel_avx2(kc, A + 1, lda, Bp, C + ldc + 3, ldc, mr, acc);
                ukernel_ref(A, lda, Bp, kc, mr, width, acc, R, ldc);
                if (memcmp(C, R, sizeof(float) * 14 * ldc) != 0 && bad++ < 3)
                    CHECKF(0, "width %d kc %d mr %d accumulate %d differs", width, kc, mr, acc);
            }
    free(A); free(Bp); free(C); free(R);
    return bad;
}

static void test_ukernels(wh_isa best)
{
    if (best >= WH_ISA_AVX2) {
        TEST("the AVX2 micro-kernels (1 to 6 rows × 16, by hand) equal an fmaf reference bit for bit") {
            const int mrs[] = {6, 5, 4, 3, 2, 1};
            CHECK(ukernel_cases(16, mrs, 6) == 0);
        }
    }
    if (best >= WH_ISA_AVX512) {
        TEST("the AVX-512 micro-kernel (12-row tile by hand, partial tiles in C) equals an fmaf reference bit for bit") {
            const int mrs[] = {12, 11, 7, 6, 1};
            CHECK(ukernel_cases(32, mrs, 5) == 0);
        }
    }
}

static void test_gemm_every_type(const wh_isa *isas, int n_isas)
{
    for (int ii = 0; ii < n_isas; ii++) {
        char name[96];
        snprintf(name, sizeof name, "GEMM (%s) equals the exact reference for every weight type and shape", wh_isa_name(isas[ii]));
        TEST(name) {
            int shapes[][3] = {{1, 64, 64}, {3, 40, 96}, {5, 512, 64}, {7, 33, 128}, {8, 16, 32}, {13, 50, 64},
                               {64, 160, 288}, {97, 131, 512}, {2, 67, 2048}, {4, 130, 512}, {6, 9, 64}};
            for (size_t t = 0; t < sizeof g_types / sizeof g_types[0]; t++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                    double worst = 0;
                    gemm_case(isas[ii], g_types[t], shapes[s][0], shapes[s][1], shapes[s][2], s % 2, s % 3 != 0, &worst);
                }
            /* odd K (f32/f16 only: mel DFT has K=400, conv1 K=240, attention K=1500) */
            double worst = 0;
            gemm_case(isas[ii], WH_F32, 20, 37, 1500, 0, 0, &worst);
            gemm_case(isas[ii], WH_F16, 9, 21, 241, 1, 1, &worst);
            gemm_case(isas[ii], WH_F32, 3, 402, 400, 0, 0, &worst);
        }
    }
}

static void test_dequant_avx2(int have_avx2)
{
    if (have_avx2) {
        TEST("AVX2 dequantization is bit-identical to the scalar reference for every block type") {
            for (size_t t = 2; t < sizeof g_types / sizeof g_types[0]; t++) {
                const int K = 320, N = 37;
                uint8_t *W = make_w(g_types[t], N, K);
                float a[320], b[320];
                size_t rb = wh_row_bytes(g_types[t], K);
                int bad = 0;
                for (int r = 0; r < N; r++) {
                    wh_dequant_row_ref(g_types[t], W + (size_t)r * rb, a, 64, K - 96);
                    wh_dequant_row_avx2(g_types[t], W + (size_t)r * rb, b, 64, K - 96);
                    bad += memcmp(a, b, sizeof(float) * (K - 96)) != 0;
                }
                CHECKF(bad == 0, "%s: %d rows differ", wh_type_name(g_types[t]), bad);
                free(W);
            }
        }
    }
}

/* The decoder GEMV kernels (weights converted in registers as they stream) against
 * the scalar reference (the staged path run under WH_ISA_SCALAR): every level, every type
 * they take, M = 1..7, row counts that leave every remainder of the row blocks, K from one
 * block to 2048, and rows at odd byte offsets (the file format has no alignment); with
 * batch 1's software prefetch off and on (kernels.h), whatever the CPU's vendor chose. */
static void test_gemv(wh_isa best, const wh_isa *isas, int n_isas)
{
    const int pf0 = wh_kernels_gemv_prefetch();
    for (int pass = 0; pass < 2 * (n_isas - 1); pass++) {
        const int ii = 1 + pass % (n_isas - 1), pf = pass >= n_isas - 1 ? WH_GEMV_PF_INTEL : 0;
        wh_kernels_set_gemv_prefetch(pf);
        char name[128];
        snprintf(name, sizeof name,
                 "GEMV (%s, batch-1 prefetch %d rows) equals the scalar reference for M=1..7, every register type, "
                 "unaligned rows", wh_isa_name(isas[ii]), pf);
        TEST(name) {
            const int types[] = {WH_F32, WH_F16, WH_Q8_0, WH_Q5_0, WH_Q5_1, WH_Q4_0, WH_Q4_1, WH_I8R};
            /* 241: f32/f16/int8 rows only (a scalar tail); 40 and 56: an odd count of 8- and
             * 16-lane vectors (the two accumulator sets' last single vector) */
            const int Ks[] = {32, 96, 512, 2048, 241, 40, 56};
            const int N = 13;
            float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(2048) + 63) & ~(size_t)63);
            int bad = 0;
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
                for (size_t kk = 0; kk < sizeof Ks / sizeof Ks[0]; kk++) {
                    const int K = Ks[kk], ty = types[t];
                    if (K % wh_type_block(ty)) continue;   /* 241 only for one value per element */
                    const size_t rb = wh_row_bytes(ty, K);
                    uint8_t *W0 = make_w(ty, N, K), *Wu = malloc(rb * N + 1);
                    memcpy(Wu + 1, W0, rb * N);   /* odd address */
                    wh_wmat w = {Wu + 1, ty, K, rb};
                    float *A = malloc(sizeof(float) * 7 * K), *C1 = malloc(sizeof(float) * 7 * N);
                    float *C2 = malloc(sizeof(float) * 7 * N), *out = malloc(sizeof(float) * 7 * N);
                    for (int i = 0; i < 7 * K; i++) A[i] = frand();
                    for (int M = 1; M <= 7; M++) {
                        wh_kernels_force(WH_ISA_SCALAR);
                        wh_gemm_part(M, K, A, K, &w, 0, N, NULL, C1, N, 0, scr);
                        wh_kernels_force(isas[ii]);
                        wh_gemm_part(M, K, A, K, &w, 0, N, NULL, C2, N, 0, scr);
                        int rc = isas[ii] == WH_ISA_AVX512 ? wh_gemv_avx512(M, K, A, K, &w, 2, N, out, N - 2)
                                                           : wh_gemv_avx2(M, K, A, K, &w, 2, N, out, N - 2);
                        CHECKF(rc == 0, "%s: kernel refused M=%d", wh_type_name(ty), M);
                        for (int n = 0; n < N; n++)
                            for (int m = 0; m < M; m++) {
                                double sc = 1e-6, ref = C1[m * N + n];
                                for (int k = 0; k < K; k++) sc += fabs(A[m * K + k]);
                                double e1 = fabs(C2[m * N + n] - ref), e2 = n >= 2 ? fabs(out[m * (N - 2) + n - 2] - ref) : 0;
                                if (e1 > 1e-5 * sc || e2 > 1e-5 * sc) {
                                    if (bad++ < 5)
                                        CHECKF(0, "%s K=%d M=%d n=%d m=%d: %g / %g vs %g", wh_type_name(ty), K, M, n, m,
                                               C2[m * N + n], n >= 2 ? out[m * (N - 2) + n - 2] : 0.0f, ref);
                                }
                            }
                    }
                    CHECK(wh_gemv_avx2(8, K, A, K, &w, 0, N, out, N) == -1);   /* M >= 8 is the blocked GEMM's */
                    free(W0); free(Wu); free(A); free(C1); free(C2); free(out);
                }
            {   /* a type without a register path is refused (the caller takes the staged path) */
                uint8_t *W = calloc(4, 68);
                wh_wmat w = {W, 99, 64, 68};
                float A[64] = {0}, out[4];
                CHECK(!wh_gemv_type_ok(99) && wh_gemv_avx2(1, 64, A, 64, &w, 0, 4, out, 4) == -1);
                free(W);
            }
            wh_kernels_force(best);
            CHECKF(bad == 0, "%d mismatches", bad);
            free(scr);
        }
        wh_kernels_set_gemv_prefetch(pf0);
    }
}

static void test_quant_gemm_vs_f32(wh_isa best)
{
    TEST("quantized GEMM equals the f32 GEMM on the dequantized weights (<= 1e-4 relative)") {
        const int M = 30, N = 70, K = 256;
        float *A = malloc(sizeof(float) * M * K), *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
        float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
        for (int i = 0; i < M * K; i++) A[i] = frand();
        for (size_t t = 2; t < sizeof g_types / sizeof g_types[0]; t++) {
            for (int mm = 1; mm <= M; mm += M - 1) {   /* GEMV path (M=1) and blocked path (M=30) */
                uint8_t *W = make_w(g_types[t], N, K);
                float *Wf = malloc(sizeof(float) * N * K);
                wh_wmat q = {W, g_types[t], K, wh_row_bytes(g_types[t], K)};
                for (int n = 0; n < N; n++) wh_dequant_row_ref(g_types[t], W + (size_t)n * q.row_bytes, Wf + (size_t)n * K, 0, K);
                wh_wmat f = {Wf, WH_F32, K, (size_t)K * 4};
                wh_kernels_force(best);
                wh_gemm_part(mm, K, A, K, &q, 0, N, NULL, C1, N, 0, scr);
                wh_gemm_part(mm, K, A, K, &f, 0, N, NULL, C2, N, 0, scr);
                double mx = 0, sc = 0;
                for (int i = 0; i < mm * N; i++) { mx = fmax(mx, fabs(C1[i] - C2[i])); sc = fmax(sc, fabs(C2[i])); }
                CHECKF(mx <= 1e-4 * sc, "%s M=%d: max diff %g (scale %g)", wh_type_name(g_types[t]), mm, mx, sc);
                free(W); free(Wf);
            }
        }
        free(A); free(C1); free(C2); free(scr);
    }
}

static void test_vnni_detection(wh_isa best)
{
    TEST("VNNI detection agrees with the kernel's CPU flags (avx512_vnni, avx_vnni in /proc/cpuinfo)") {
        /* the AVX-VNNI kernel cannot run on the machines this was written on: at least its
         * CPUID bit (leaf 7 subleaf 1, EAX bit 4) is checked wherever the tests run */
        const int v512 = cpuinfo_flag("avx512_vnni"), v256 = cpuinfo_flag("avx_vnni");
        if (v512 < 0) {
            printf("# no /proc/cpuinfo: not compared\n");
        } else {
            wh_kernels_force(WH_ISA_AVX512);
            const int got512 = wh_kernels_vnni(), got256 = wh_kernels_avxvnni();
            wh_kernels_force(best);
            printf("# avx512_vnni: cpuinfo %d, detected %d; avx_vnni: cpuinfo %d, detected %d\n", v512, got512, v256,
                   got256);
            /* detected needs the OS to save the vector state too (the kernel lists the flag regardless) */
            CHECKF(got512 == (v512 && best >= WH_ISA_AVX512), "AVX512-VNNI detected %d, cpuinfo %d", got512, v512);
            CHECKF(got256 == (v256 && best >= WH_ISA_AVX2), "AVX-VNNI detected %d, cpuinfo %d", got256, v256);
        }
    }
}

/* one case of test_qx_int8 (a weight type and K): the weights and their repacked copy, the
 * activations and their reference quantization, as the checks below read them */
typedef struct {
    int N, K, nb, ty;
    wh_wmat q, x;
    const float *A;
    const int8_t *xq;
    const float *dx;
    const int32_t *cs;
    const float *sx;
    /* the same activations pair-bounded (wh_qx_quant_ref's pairs): what AVX2's q8 product takes */
    const int8_t *pxq;
    const float *pdx;
    const int32_t *pcs;
    const float *psx;
} qx_case;

static void qx_check_quant_ref(const qx_case *c)
{
    const int K = c->K, nb = c->nb;
    const float *A = c->A, *dx = c->dx, *sx = c->sx;
    const int8_t *xq = c->xq;
    const int32_t *cs = c->cs;
    /* the reference's own meaning: xq·d within half a step of x, cs = −128·Σ xq, sx = d·Σ xq */
    double qerr = 0;
    for (int m = 0; m < 7; m++)
        for (int b = 0; b < nb; b++) {
            int sum = 0;
            for (int i = 0; i < 32; i++) {
                const int k = b * 32 + i;
                qerr = fmax(qerr, fabs(xq[m * K + k] * (double)dx[m * nb + b] - A[m * K + k]) / (dx[m * nb + b] + 1e-30));
                sum += xq[m * K + k];
            }
            CHECK(cs[m * nb + b] == -128 * sum);
            CHECK(sx[m * nb + b] == dx[m * nb + b] * (float)sum);
        }
    CHECKF(qerr <= 0.5 + 1e-4, "quantization error %g steps", qerr);
    /* pair-bounded: within half a step too, d = the largest pair's |x| sum / 127, every pair's
     * |xq| sum <= 128 (so 255 · 128 fits vpmaddubsw's int16), and the bound is tight somewhere */
    double perr = 0;
    int pair_over = 0, pair_max = 0;
    for (int m = 0; m < 7; m++)
        for (int b = 0; b < nb; b++) {
            int sum = 0;
            float pmax = 0.0f;
            for (int i = 0; i < 32; i++) {
                const int k = b * 32 + i;
                const float d = c->pdx[m * nb + b];
                perr = fmax(perr, fabs(c->pxq[m * K + k] * (double)d - A[m * K + k]) / (d + 1e-30));
                sum += c->pxq[m * K + k];
                if (i & 1) {
                    const int ps = abs(c->pxq[m * K + k - 1]) + abs(c->pxq[m * K + k]);
                    pair_over += ps > 128;
                    pair_max = ps > pair_max ? ps : pair_max;
                    pmax = fmaxf(pmax, fabsf(A[m * K + k - 1]) + fabsf(A[m * K + k]));
                }
            }
            CHECK(c->pdx[m * nb + b] == pmax / 127.0f);
            CHECK(c->pcs[m * nb + b] == -128 * sum);
            CHECK(c->psx[m * nb + b] == c->pdx[m * nb + b] * (float)sum);
        }
    CHECKF(perr <= 0.5 + 1e-4, "pair-bounded quantization error %g steps", perr);
    CHECKF(pair_over == 0 && pair_max >= 127, "%d pairs over 128 (largest %d)", pair_over, pair_max);
}

static void qx_check_ref_gemv(const qx_case *c, float *o1, float *r1)
{
    const int N = c->N, K = c->K, nb = c->nb, ty = c->ty;
    const wh_wmat q = c->q, x = c->x;
    const float *dx = c->dx, *sx = c->sx;
    const int8_t *xq = c->xq;
    const int32_t *cs = c->cs;
    for (int M = 1; M <= 7; M++) {
        /* reference GEMV = the f32 product of the dequantized activations and weights (double) */
        wh_gemv_qx_ref(M, K, xq, dx, cs, sx, &x, 0, N, NULL, o1, N, 0);
        double worst = 0;
        for (int n = 0; n < N; n++) {
            wh_wmat_row(&q, n, r1);
            for (int m = 0; m < M; m++) {
                double ref = 0, sc = 1e-9;
                for (int k = 0; k < K; k++) {
                    ref += (double)xq[m * K + k] * dx[m * nb + k / 32] * r1[k];
                    sc += fabs((double)xq[m * K + k] * dx[m * nb + k / 32] * r1[k]);
                }
                if (sc < 1e-3) sc = 1e-3;   /* an all-zero activation row (m = 1's zero block) */
                worst = fmax(worst, fabs(o1[m * N + n] - ref) / sc);
            }
        }
        CHECKF(worst <= 1e-5, "%s K=%d M=%d: reference GEMV off by %g", wh_type_name(ty), K, M, worst);
    }
}

static void qx_check_simd_gemv(const qx_case *c, int kk, int8_t *xq2, float *dx2, int32_t *cs2, float *sx2,
                               float *o1, float *o2, float *bias)
{
    const int N = c->N, K = c->K, nb = c->nb, ty = c->ty;
    const wh_wmat x = c->x;
    const float *A = c->A;
    /* the SIMD kernels: AVX2 (vpmaddubsw) on every AVX2 CPU; the 256-bit vpdpbusd code as
     * AVX-VNNI (VEX) where present and in EVEX form on AVX512-VNNI CPUs; the 512-bit VNNI */
    typedef void (*gemv_fn)(int, int, const int8_t *, const float *, const int32_t *, const float *,
                            const wh_wmat *, int, int, const float *, float *, int, int);
    /* the 512-bit kernel twice where the CPU has GFNI: its q5 unpacking with and without */
    const gemv_fn impls[6] = {wh_gemv_qx_avx2,    wh_gemv_qx_avxvnni, wh_gemv_qx_vnni256,
                              wh_gemv_qx_avx512,  wh_gemv_qx_avx512,  wh_gemv_qx_avx2p};
    const char *inames[6] = {"AVX2", "AVX-VNNI", "VNNI 256-bit (EVEX)", "VNNI 512-bit",
                             "VNNI 512-bit with GFNI", "AVX2 with pair-bounded q8_0"};
    const int gfni = wh_kernels_gfni(), gfni_cpu = wh_kernels_allow_gfni(1);
    wh_kernels_allow_gfni(gfni);
    const int have[6] = {wh_kernels_best() >= WH_ISA_AVX2, wh_kernels_avxvnni(), wh_kernels_vnni(),
                         wh_kernels_vnni(), gfni_cpu, wh_kernels_best() >= WH_ISA_AVX2};
    for (int impl = 0; impl < 6; impl++) {
        const char *iname = inames[impl];
        if (!have[impl]) {
            if (kk == 0) printf("# no %s here: its int8 kernel is not run\n", iname);
            continue;
        }
        wh_kernels_allow_gfni(impl == 4);
        /* the pair-bounded AVX2 kernel's q8 product takes pair-bounded activations (with the
         * plain ones its int16 pair sums saturate: the extremes of qx_int8_case) */
        const int pr = impl == 5 && x.type == WH_Q8X;
        const int8_t *xq = pr ? c->pxq : c->xq;
        const float *dx = pr ? c->pdx : c->dx, *sx = pr ? c->psx : c->sx;
        const int32_t *cs = pr ? c->pcs : c->cs;
        if (impl == 0 || impl == 3) {   /* the quantizers: AVX2's (all 256-bit kernels) and AVX-512's */
            for (int pairs = 0; pairs <= (impl == 0); pairs++) {
                const int8_t *rq = pairs ? c->pxq : c->xq;
                const float *rd = pairs ? c->pdx : c->dx, *rs = pairs ? c->psx : c->sx;
                const int32_t *rc = pairs ? c->pcs : c->cs;
                if (impl == 3) wh_qx_quant_avx512(7, K, A, K, xq2, dx2, cs2, sx2);
                else wh_qx_quant_avx2(7, K, A, K, pairs, xq2, dx2, cs2, sx2);
                CHECKF(!memcmp(rq, xq2, (size_t)7 * K) && !memcmp(rd, dx2, sizeof(float) * 7 * nb) &&
                           !memcmp(rc, cs2, sizeof(int32_t) * 7 * nb) && !memcmp(rs, sx2, sizeof(float) * 7 * nb),
                       "%s quantizer (pairs %d) differs from the reference", iname, pairs);
            }
        }
        const int ranges[5][2] = {{0, N}, {3, 35}, {16, 32}, {20, 21}, {8, 24}};
        int bad = 0;
        for (int M = 1; M <= 7; M++)
            for (int ri = 0; ri < 5; ri++)
                for (int mode = 0; mode < 4; mode++) {   /* accumulate, bias: each on and off */
                    const int n0 = ranges[ri][0], n1 = ranges[ri][1], ac = mode & 1;
                    const float *bs = mode & 2 ? bias : NULL;
                    for (int i = 0; i < 7 * N; i++) o1[i] = o2[i] = (float)i;   /* what lies outside [n0, n1) stays */
                    wh_gemv_qx_ref(M, K, xq, dx, cs, sx, &x, n0, n1, bs, o1, N, ac);
                    impls[impl](M, K, xq, dx, cs, sx, &x, n0, n1, bs, o2, N, ac);
                    bad += memcmp(o1, o2, sizeof(float) * 7 * N) != 0;
                }
        CHECKF(bad == 0, "%s K=%d: %d %s GEMV cases differ from the reference", wh_type_name(ty), K, bad, iname);
    }
    wh_kernels_allow_gfni(gfni);
}

static void qx_check_gemm_part(const qx_case *c, float *scr)
{
    const int N = c->N, K = c->K, nb = c->nb, ty = c->ty;
    const wh_wmat q = c->q, x = c->x;
    /* through wh_gemm_part: M < 8 within the activations' quantization of the exact
     * q8_0 product; M >= 8 (dequantized, exact) equal to q8_0's bit for bit */
    float *C1 = malloc(sizeof(float) * 9 * N), *C2 = malloc(sizeof(float) * 9 * N);
    float *A9 = malloc(sizeof(float) * 9 * K);
    for (int i = 0; i < 9 * K; i++) A9[i] = frand();
    for (int M = 1; M <= 9; M += 4) {
        wh_gemm_part(M, K, A9, K, &q, 3, N, NULL, C1, N, 0, scr);
        wh_gemm_part(M, K, A9, K, &x, 3, N, NULL, C2, N, 0, scr);
        double mx = 0, sc = 0;
        for (int m = 0; m < M; m++)
            for (int n = 3; n < N; n++) {
                mx = fmax(mx, fabs(C1[m * N + n] - C2[m * N + n]));
                sc = fmax(sc, fabs(C1[m * N + n]));
            }
        if (M >= 8) CHECKF(mx == 0, "%s K=%d M=%d: dequantized path differs by %g", wh_type_name(ty), K, M, mx);
        else CHECKF(mx <= 0.02 * sc, "%s K=%d M=%d: max diff %g (scale %g)", wh_type_name(ty), K, M, mx, sc);
    }
    /* the dispatch at every level (scalar, AVX2, AVX2 with the AVX-VNNI code, AVX-512):
     * wh_gemm_part at M = 5 equals the reference quantizer and GEMV bit for bit */
    int8_t *xq5 = malloc((size_t)5 * K);
    float *dx5 = malloc(sizeof(float) * 5 * nb);
    int32_t *cs5 = malloc(sizeof(int32_t) * 5 * nb);
    float *sx5 = malloc(sizeof(float) * 5 * nb);
    /* scalar; AVX2 with the exact and with the pair-bounded kernel; AVX2 with VNNI; AVX-512 */
    const wh_isa lv[5] = {WH_ISA_SCALAR, WH_ISA_AVX2, WH_ISA_AVX2, WH_ISA_AVX2, WH_ISA_AVX512};
    wh_kernels_force(WH_ISA_AVX512);
    const int vnni_hw = wh_kernels_vnni();   /* the EVEX form of the AVX-VNNI code can run */
    for (int v = 0; v < 5; v++) {
        if (lv[v] > wh_kernels_best()) break;
        wh_kernels_force(lv[v]);
        if (v == 3 && !vnni_hw && !wh_kernels_avxvnni()) continue;   /* neither VNNI form here */
        wh_kernels_vnni256(v == 3);
        wh_kernels_avx2_pairs(v == 2);
        /* a pinned AVX2 level is an AVX2-only CPU's (vpmaddubsw) unless VNNI is asked
         * for, also on a CPU that has AVX-VNNI; where AVX2 is the best level it is the
         * CPU's own choice */
        if ((v == 1 || v == 2) && wh_kernels_best() > WH_ISA_AVX2)
            CHECKF(!strcmp(wh_qx_kernel_name(), v == 2 ? "AVX2 with pair-bounded q8_0" : "AVX2"),
                   "pinned AVX2 level runs %s", wh_qx_kernel_name());
        if (v == 3)
            CHECKF(!strcmp(wh_qx_kernel_name(), wh_kernels_avxvnni() ? "AVX-VNNI" : "AVX-VNNI code in EVEX form"),
                   "AVX2 level with VNNI runs %s", wh_qx_kernel_name());
        /* the reference: pair-bounded activations exactly where that kernel runs a q8 product */
        const int pairs = x.type == WH_Q8X && !strcmp(wh_qx_kernel_name(), "AVX2 with pair-bounded q8_0");
        CHECKF(wh_qx_act_pairs(x.type) == pairs, "%s through %s: pair-bounded activations %d, expected %d",
               wh_type_name(ty), wh_qx_kernel_name(), wh_qx_act_pairs(x.type), pairs);
        wh_qx_quant_ref(5, K, A9, K, pairs, xq5, dx5, cs5, sx5);
        wh_gemv_qx_ref(5, K, xq5, dx5, cs5, sx5, &x, 3, N, NULL, C1, N, 0);
        wh_gemm_part(5, K, A9, K, &x, 3, N, NULL, C2, N, 0, scr);
        int bad = 0;
        for (int m = 0; m < 5; m++) bad += memcmp(C1 + m * N + 3, C2 + m * N + 3, sizeof(float) * (N - 3)) != 0;
        CHECKF(bad == 0, "%s K=%d: wh_gemm_part through %s differs from the reference in %d rows",
               wh_type_name(ty), K, wh_qx_kernel_name(), bad);
    }
    wh_kernels_vnni256(0);
    wh_kernels_avx2_pairs(-1);
    wh_kernels_force(wh_kernels_best());
    free(xq5); free(dx5); free(cs5); free(sx5);
    free(C1); free(C2); free(A9);
}

static void qx_int8_case(int kk, int N, int K, int nb, int ty, float *scr)
{
    uint8_t *W = make_w(ty, N, K);
    if (ty == WH_Q8_0)   /* the extremes (rows 0 and 1, block 0: -128 and 127) against A's ±127 below:
                          * int16 pair sums of 2·128·127 must not saturate (AVX2's vpmaddubsw) */
        for (int i = 0; i < 32; i++) {
            W[2 + i] = 0x80;
            W[wh_row_bytes(ty, K) + 2 + i] = 127;
        }
    wh_wmat q = {W, ty, K, wh_row_bytes(ty, K)}, x;
    void *own = NULL;
    CHECK(wh_qx_pack(&q, N, &x, &own) == 0 && x.type == wh_qx_type(ty) && wh_qx_is(x.type));
    float *r1 = malloc(sizeof(float) * K), *r2 = malloc(sizeof(float) * K);
    int rows_bad = 0;
    for (int n = 0; n < N; n++) {
        wh_wmat_row(&q, n, r1);
        wh_wmat_row(&x, n, r2);
        rows_bad += memcmp(r1, r2, sizeof(float) * K) != 0;
    }
    CHECKF(rows_bad == 0, "%s K=%d: %d rows differ", wh_type_name(ty), K, rows_bad);
    float *A = malloc(sizeof(float) * 7 * K);
    for (int i = 0; i < 7 * K; i++) A[i] = frand() * (i % 97 == 0 ? 8.0f : 1.0f);   /* a few outliers */
    for (int i = 0; i < 32; i++) A[K + i] = 0.0f;                                    /* an all-zero block */
    for (int i = 0; i < 32; i++) A[2 * K + i] = 1.0f, A[3 * K + i] = i & 1 ? 2.0f : -2.0f;   /* xq ±127 */
    int8_t *xq = malloc((size_t)7 * K), *xq2 = malloc((size_t)7 * K);
    float *dx = malloc(sizeof(float) * 7 * nb), *dx2 = malloc(sizeof(float) * 7 * nb);
    int32_t *cs = malloc(sizeof(int32_t) * 7 * nb), *cs2 = malloc(sizeof(int32_t) * 7 * nb);
    float *sx = malloc(sizeof(float) * 7 * nb);
    float *sx2 = malloc(sizeof(float) * 7 * nb);
    int8_t *pxq = malloc((size_t)7 * K);
    float *pdx = malloc(sizeof(float) * 7 * nb), *psx = malloc(sizeof(float) * 7 * nb);
    int32_t *pcs = malloc(sizeof(int32_t) * 7 * nb);
    wh_qx_quant_ref(7, K, A, K, 0, xq, dx, cs, sx);
    wh_qx_quant_ref(7, K, A, K, 1, pxq, pdx, pcs, psx);
    const qx_case c = {N, K, nb, ty, q, x, A, xq, dx, cs, sx, pxq, pdx, pcs, psx};
    qx_check_quant_ref(&c);
    float *o1 = malloc(sizeof(float) * 7 * N), *o2 = malloc(sizeof(float) * 7 * N);
    float *bias = malloc(sizeof(float) * N);
    for (int n = 0; n < N; n++) bias[n] = frand();
    qx_check_ref_gemv(&c, o1, r1);
    qx_check_simd_gemv(&c, kk, xq2, dx2, cs2, sx2, o1, o2, bias);
    free(bias);
    qx_check_gemm_part(&c, scr);
    free(o1); free(o2); free(xq); free(xq2); free(dx); free(dx2); free(cs); free(cs2); free(sx); free(sx2);
    free(pxq); free(pdx); free(pcs); free(psx);
    free(A);
    free(r1); free(r2); free(own); free(W);
}

static void test_qx_int8(void)
{
    TEST("quantized x int8 (q8_0, q5_0, q5_1, q4_0, q4_1 repacked): the rows dequantize to the original's bit "
         "for bit; quantizer, GEMV (every kernel) and wh_gemm_part (every level) agree with their references, partial "
         "row groups included") {
        const int N = 37, Ks[2] = {96, 512};   /* 37: two full groups of 16 and a padded one */
        const int qtypes[5] = {WH_Q8_0, WH_Q5_0, WH_Q5_1, WH_Q4_0, WH_Q4_1};
        float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(512) + 63) & ~(size_t)63);
        CHECK(!wh_qx_type(WH_F16) && !wh_qx_type(WH_I8R) && !wh_qx_is(WH_Q8_0));
        for (int kk = 0; kk < 10; kk++) {
            const int K = Ks[kk % 2], nb = K / 32, ty = qtypes[kk / 2];
            qx_int8_case(kk, N, K, nb, ty, scr);
        }
        free(scr);
    }
}

static void avx2_kernels_at(int n, wh_isa best, const wh_isa *isas, int n_isas)
{
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = frand() * 30.0f;
    memcpy(y, x, sizeof(float) * n);
    memcpy(z, x, sizeof(float) * n);
    wh_kernels_force(WH_ISA_SCALAR);
    wh_softmax(y, n);
    wh_kernels_force(WH_ISA_AVX2);
    wh_softmax(z, n);
    double mx = 0, s = 0;
    for (int i = 0; i < n; i++) { mx = fmax(mx, fabs(y[i] - z[i]) / (y[i] + 1e-30)); s += z[i]; }
    CHECKF(mx < 1e-5 || n == 1, "softmax n=%d rel diff %g", n, mx);
    CHECKF(fabs(s - 1.0) < 1e-5, "softmax sums to %g", s);
    if (best >= WH_ISA_AVX512) {   /* the 16-lane one, masked tail */
        memcpy(z, x, sizeof(float) * n);
        wh_kernels_force(WH_ISA_AVX512);
        wh_softmax(z, n);
        mx = 0, s = 0;
        for (int i = 0; i < n; i++) { mx = fmax(mx, fabs(y[i] - z[i]) / (y[i] + 1e-30)); s += z[i]; }
        CHECKF(mx < 1e-5 || n == 1, "avx512 softmax n=%d rel diff %g", n, mx);
        CHECKF(fabs(s - 1.0) < 1e-5, "avx512 softmax sums to %g", s);
        /* a wide row: x − max down to −300, past exp's range (its e^x without the
         * clamps must give exactly 0 there, not garbage from an unreduced x) */
        float xmax = -INFINITY;
        char *under = malloc((size_t)n);   /* e^(x − max) under exp's range */
        for (int i = 0; i < n; i++) {
            y[i] = z[i] = frand() * 150.0f;
            xmax = fmaxf(xmax, y[i]);
        }
        int below = 0;
        for (int i = 0; i < n; i++) below += under[i] = y[i] - xmax < -87.34f;
        wh_kernels_force(WH_ISA_SCALAR);
        wh_softmax(y, n);
        wh_kernels_force(WH_ISA_AVX512);
        wh_softmax(z, n);
        int zeros = 0;
        mx = 0, s = 0;
        for (int i = 0; i < n; i++) {
            mx = fmax(mx, fabs(y[i] - z[i]) / (y[i] + 1e-30));
            s += z[i];
            zeros += under[i] && z[i] == 0.0f;
        }
        CHECKF(mx < 1e-5 && zeros == below && fabs(s - 1.0) < 1e-5 && (n < 100 || below > 0),
               "avx512 softmax n=%d wide: rel diff %g, %d zeros of %d below range, sum %g", n, mx, zeros,
               below, s);
        free(under);
    }
    for (int i = 0; i < n; i++) y[i] = z[i] = x[i] * 2.5f - 10.0f;   /* [-85, 65]: normal range */
    wh_exp_ref(y, n);
    wh_exp_avx2(z, n);
    mx = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y[i] - z[i]) / (y[i] + 1e-38));
    CHECKF(mx < 5e-7, "exp rel diff %g", mx);
    for (int i = 0; i < n; i++) y[i] = z[i] = x[i] * 0.3f;
    wh_kernels_force(WH_ISA_SCALAR);
    wh_gelu(y, (size_t)n);
    wh_kernels_force(WH_ISA_AVX2);
    wh_gelu(z, (size_t)n);
    mx = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y[i] - z[i]));
    CHECKF(mx < 2e-6, "gelu abs diff %g", mx);
    /* GELU(x + b) in one pass, every level (16 lanes with a masked tail on AVX-512) */
    for (int ii = 0; ii < n_isas; ii++) {
        for (int i = 0; i < n; i++) z[i] = x[i] * 0.2f;
        wh_kernels_force(isas[ii]);
        wh_gelu_bias(z, x, (size_t)n);   /* z = gelu(0.2 x + x) */
        mx = 0;
        for (int i = 0; i < n; i++) {
            const double v = (double)(x[i] * 0.2f + x[i]);
            mx = fmax(mx, fabs(z[i] - 0.5 * v * (1.0 + erf(v / sqrt(2.0)))));
        }
        CHECKF(mx < 4e-6 * 30, "%s gelu_bias n=%d abs diff %g", wh_isa_name(isas[ii]), n, mx);
        for (int i = 0; i < n; i++) z[i] = x[i] * 0.3f;
        wh_gelu(z, (size_t)n);
        mx = 0;
        for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y[i] - z[i]));
        CHECKF(mx < 2e-6, "%s gelu abs diff %g", wh_isa_name(isas[ii]), mx);
    }
    wh_kernels_force(WH_ISA_SCALAR);
    float d1 = wh_dot(x, y, n);
    wh_kernels_force(WH_ISA_AVX2);
    float d2 = wh_dot(x, y, n);
    double sc = 0;
    for (int i = 0; i < n; i++) sc += fabs(x[i] * y[i]);
    CHECKF(fabs(d1 - d2) <= 1e-5 * sc + 1e-6, "dot %g vs %g", d1, d2);
    memcpy(z, y, sizeof(float) * n);
    wh_kernels_force(WH_ISA_SCALAR);
    wh_axpy(y, 0.7f, x, n);
    wh_kernels_force(WH_ISA_AVX2);
    wh_axpy(z, 0.7f, x, n);
    mx = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y[i] - z[i]));
    CHECKF(mx < 1e-5, "axpy diff %g", mx);
    free(x); free(y); free(z);
}

/* f16 KV-cache kernels */
static void f16_kv_kernels(wh_isa best)
{
    int n = 1000;
    float *q = malloc(sizeof(float) * n), *y1 = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
    uint16_t *h1 = malloc(2 * (size_t)n), *h2 = malloc(2 * (size_t)n);
    for (int i = 0; i < n; i++) { q[i] = frand() * 3; y1[i] = y2[i] = frand(); }
    wh_kernels_force(WH_ISA_SCALAR);
    wh_to_f16(q, h1, (size_t)n);
    float d1 = wh_dot_f16(y1, h1, n);
    wh_axpy_f16(y1, 0.3f, h1, n);
    wh_kernels_force(WH_ISA_AVX2);
    wh_to_f16(q, h2, (size_t)n);
    CHECK(memcmp(h1, h2, 2 * (size_t)n) == 0);
    /* back to f32 (exact both ways; a ragged tail of 1000 % 8) */
    float *b1 = malloc(sizeof(float) * n), *b2 = malloc(sizeof(float) * n);
    wh_from_f16(h1, b2, (size_t)n);
    wh_kernels_force(WH_ISA_SCALAR);
    wh_from_f16(h1, b1, (size_t)n - 3);
    b1[n - 3] = wh_f16_to_f32(h1[n - 3]); b1[n - 2] = wh_f16_to_f32(h1[n - 2]); b1[n - 1] = wh_f16_to_f32(h1[n - 1]);
    wh_kernels_force(WH_ISA_AVX2);
    CHECK(memcmp(b1, b2, sizeof(float) * n) == 0);
    for (int i = 0; i < n; i++) CHECKF(fabsf(b2[i] - q[i]) <= fabsf(q[i]) * 0x1p-11f + 0x1p-25f, "f16 round trip %d", i);
    free(b1); free(b2);
    /* the packed GEMM's B straight from f16 rows (K > one slice, a ragged last panel, a
     * stride wider than N) equals converting first, at both levels; and the AMX layout */
    {
        enum { PN = 40, PK = 300, PLD = 43 };
        uint16_t *wt = malloc(2 * (size_t)PK * PLD);
        float *wf = malloc(sizeof(float) * PK * PLD), *p1 = malloc(sizeof(float) * 48 * PK),
              *p2 = malloc(sizeof(float) * 48 * PK);
        for (int i = 0; i < PK * PLD; i++) wt[i] = h1[i % n];
        wh_from_f16(wt, wf, (size_t)PK * PLD);
        wh_pack_bt_f32(wf, PLD, PN, PK, p1);
        for (int lvl = 0; lvl < 2; lvl++) {
            wh_kernels_force(lvl ? WH_ISA_AVX2 : WH_ISA_SCALAR);
            memset(p2, 0xff, sizeof(float) * 48 * PK);
            wh_pack_bt_f16(wt, PLD, PN, PK, p2);
            CHECKF(memcmp(p1, p2, sizeof(float) * 48 * PK) == 0, "pack_bt_f16 at level %d", lvl);
        }
        wh_kernels_force(best);
        if (wh_kernels_amx()) {
            uint16_t *a1 = malloc(2 * 32 * 320), *a2 = malloc(2 * 32 * 320);
            wh_amx_pack_bt(wf + 16, PLD, PK, 320, a1);
            wh_amx_pack_bt_f16(wt + 16, PLD, PK, 320, a2);
            CHECK(memcmp(a1, a2, 2 * 32 * 320) == 0);
            free(a1); free(a2);
        }
        wh_kernels_force(WH_ISA_AVX2);
        free(wt); free(wf); free(p1); free(p2);
    }
    float d2 = wh_dot_f16(y2, h2, n);
    wh_axpy_f16(y2, 0.3f, h2, n);
    CHECKF(fabs(d1 - d2) < 1e-3, "dot_f16 %g vs %g", d1, d2);
    double mx = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y1[i] - y2[i]));
    CHECKF(mx < 1e-5, "axpy_f16 diff %g", mx);
    free(q); free(y1); free(y2); free(h1); free(h2);
}

static void test_avx2_elementwise(int have_avx2, wh_isa best, const wh_isa *isas, int n_isas)
{
    if (have_avx2) {
        TEST("AVX2 softmax, exp, GELU, dot, axpy, f16 KV kernels equal the scalar references") {
            for (int n = 1; n < 1600; n = n * 3 + 1) {
                avx2_kernels_at(n, best, isas, n_isas);
            }
            f16_kv_kernels(best);
            /* GELU: exact-erf values at known points (openai model.py uses erf, not tanh) */
            float g[4] = {-3.0f, -0.5f, 1.0f, 2.0f};
            wh_gelu(g, 4);
            CHECK(fabs(g[0] - (-0.0040496982f)) < 1e-6);
            CHECK(fabs(g[1] - (-0.15426877f)) < 1e-6);
            CHECK(fabs(g[2] - 0.8413447f) < 1e-6);
            CHECK(fabs(g[3] - 1.9544997f) < 1e-6);
        }
    }
}

static void test_decoder_attention(int have_avx2, wh_isa best)
{
    if (have_avx2) {
        TEST("decoder attention (dh 64, fused AVX2) equals the scalar reference for lengths 1..1500, strided f16 K/V, "
             "in one block or paged (blocks of 16 and 5, stored out of order)") {
            const int dh = 64, ld = 512 + 3;   /* a head's slice inside wider rows, odd stride */
            const int lens[] = {1, 2, 3, 4, 5, 7, 8, 17, 33, 224, 1500}, bss[2] = {16, 5};
            const size_t el = (size_t)1500 * ld + 5, elb = (size_t)(1500 + 16) * ld;   /* slots of whole blocks */
            uint16_t *K = malloc(2 * el), *V = malloc(2 * el), *Kb = malloc(2 * elb), *Vb = malloc(2 * elb);
            const uint16_t **Kp = malloc(sizeof *Kp * 300), **Vp = malloc(sizeof *Vp * 300);
            for (size_t i = 0; i < el; i++) { K[i] = wh_f32_to_f16(frand() * 2); V[i] = wh_f32_to_f16(frand()); }
            float q[64], o1[64], o2[64], o3[64];
            float *S1 = malloc(sizeof(float) * 1500), *S2 = malloc(sizeof(float) * 1500), *S3 = malloc(sizeof(float) * 1500);
            for (int i = 0; i < dh; i++) q[i] = frand() * 0.5f;
            int bad = 0;
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int len = lens[li];
                const uint16_t *K1 = K + 5, *V1 = V + 5;
                wh_kernels_force(WH_ISA_SCALAR);
                wh_attend_f16_blocks(q, &K1, &V1, len, (size_t)ld, len, dh, S1, o1);
                for (int bi = 0; bi < 3; bi++) {
                    const int bs = bi < 2 ? bss[bi] : len, nb = (len + bs - 1) / bs;
                    /* block b of the positions copied to slot nb − 1 − b of Kb, Vb */
                    for (int b = 0; b < nb; b++) {
                        const size_t from = (size_t)b * bs * ld + 5, to = (size_t)(nb - 1 - b) * bs * ld;
                        const size_t n = (size_t)(len - b * bs < bs ? len - b * bs : bs) * ld;
                        memcpy(Kb + to, K + from, 2 * n);
                        memcpy(Vb + to, V + from, 2 * n);
                        Kp[b] = Kb + to;
                        Vp[b] = Vb + to;
                    }
                    wh_kernels_force(WH_ISA_SCALAR);   /* paged, scalar: the same sums as one block */
                    wh_attend_f16_blocks(q, Kp, Vp, bs, (size_t)ld, len, dh, S3, o3);
                    wh_kernels_force(best);
                    wh_attend_f16_blocks(q, Kp, Vp, bs, (size_t)ld, len, dh, S2, o2);
                    double ms = 0, mo = 0;
                    for (int p = 0; p < len; p++) ms = fmax(ms, fabs(S1[p] - S2[p]));
                    for (int i = 0; i < dh; i++) mo = fmax(mo, fabs(o1[i] - o2[i]));
                    const int same = !memcmp(S1, S3, sizeof(float) * (size_t)len) && !memcmp(o1, o3, sizeof o1);
                    if ((ms > 1e-5 || mo > 1e-5 || !same) && bad++ < 3)
                        CHECKF(0, "len %d, blocks of %d: probabilities %g, output %g apart; scalar paged %s", len, bs, ms,
                               mo, same ? "equal" : "differs");
                }
            }
            CHECK(bad == 0);
            free(K); free(V); free(Kb); free(Vb); free(Kp); free(Vp); free(S1); free(S2); free(S3);
        }
    }
}

static void test_packed_b_gemm(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("packed-B GEMM (both packings, K across a slice, ragged panels, column ranges) equals the reference at every level") {
        const int M = 13, N = 70, K = 300, ldc = N + 3;
        float *W = malloc(sizeof(float) * N * K), *Wt = malloc(sizeof(float) * K * N), *A = malloc(sizeof(float) * M * K);
        const size_t np = (size_t)(N + 15) / 16 * 16 * K;
        float *B1 = malloc(sizeof(float) * np), *B2 = malloc(sizeof(float) * np);
        float *C = malloc(sizeof(float) * M * ldc), *R = malloc(sizeof(float) * M * ldc);
        for (int i = 0; i < N * K; i++) W[i] = frand();
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) Wt[(size_t)k * N + n] = W[(size_t)n * K + k];
        for (int i = 0; i < M * K; i++) A[i] = frand();
        wh_wmat w = {W, WH_F32, K, (size_t)K * sizeof(float)};
        wh_gemm_ref(M, K, A, K, &w, 0, N, NULL, R, ldc);
        int bad = 0;
        for (int ii = 0; ii < n_isas; ii++) {
            wh_kernels_force(isas[ii]);
            memset(B1, 0xff, sizeof(float) * np);   /* padding must be written, not left */
            wh_pack_b_f32(W, (size_t)K, N, K, B1);
            wh_pack_bt_f32(Wt, (size_t)N, N, K, B2);
            if (memcmp(B1, B2, sizeof(float) * np) != 0 && bad++ < 3) CHECKF(0, "%s: the two packings differ", wh_isa_name(isas[ii]));
            for (int i = 0; i < M * ldc; i++) C[i] = -7.0f;
            wh_gemm_packed(M, K, A, K, B1, N, 0, 32, C, ldc);    /* two column ranges, */
            wh_gemm_packed(M, K, A, K, B1, N, 32, N, C, ldc);    /* the second ragged */
            double worst = 0;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) worst = fmax(worst, fabs(C[m * ldc + n] - R[m * ldc + n]));
            if (!(worst < 1e-4) && bad++ < 3) CHECKF(0, "%s: %g from the reference", wh_isa_name(isas[ii]), worst);
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(W); free(Wt); free(A); free(B1); free(B2); free(C); free(R);
    }
}

static void test_gemm_f16_unaligned(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("GEMM on f16 rows at an odd address (ggml files do not align tensors) equals the reference at every level") {
        const int M = 13, N = 48, K = 300;   /* three full panels, a ragged K slice and an 8-tail */
        uint8_t *W0 = make_w(WH_F16, N, K), *Wu = malloc((size_t)N * K * 2 + 1);
        memcpy(Wu + 1, W0, (size_t)N * K * 2);
        wh_wmat w = {Wu + 1, WH_F16, K, (size_t)K * 2}, wa = {W0, WH_F16, K, (size_t)K * 2};
        float *A = malloc(sizeof(float) * M * K), *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
        float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
        for (int i = 0; i < M * K; i++) A[i] = frand();
        wh_gemm_ref(M, K, A, K, &wa, 0, N, NULL, R, N);
        int bad = 0;
        for (int ii = 0; ii < n_isas; ii++) {
            wh_kernels_force(isas[ii]);
            wh_gemm_part(M, K, A, K, &w, 0, N, NULL, C, N, 0, scr);
            double worst = 0;
            for (int i = 0; i < M * N; i++) worst = fmax(worst, fabs(C[i] - R[i]));
            if (!(worst < 1e-4) && bad++ < 3) CHECKF(0, "%s: %g from the reference", wh_isa_name(isas[ii]), worst);
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(W0); free(Wu); free(A); free(C); free(R); free(scr);
    }
}

static void test_row_split_gemm(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("tall products split by rows (weights packed once, shared) equal the column split bit for bit") {
        /* M >= WH_ROWS_MIN_M takes the row split; the same rows in halves take the column split,
         * which computes each row the same way: the results must not differ in one bit */
        const int M = WH_ROWS_MIN_M + 32, K = 320, lda = K + 5, ldc = 290;   /* K: whole q8_0 blocks, a ragged second slice */
        const int Ns[3] = {100, 64, 96};
        float *A = malloc(sizeof(float) * (size_t)M * lda), *bias = malloc(sizeof(float) * 128);
        float *C1 = malloc(sizeof(float) * (size_t)M * ldc), *C2 = malloc(sizeof(float) * (size_t)M * ldc);
        for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand();
        for (int i = 0; i < 128; i++) bias[i] = frand();
        const int types[3] = {WH_F16, WH_Q8_0, WH_F32};
        int bad = 0;
        for (int ii = 0; ii < n_isas; ii++)
            for (int nt = 1; nt <= 3; nt += 2)
                for (int ti = 0; ti < 3; ti++)
                    for (int mode = 0; mode < 4; mode++) {   /* single: plain, +GELU, accumulate; multi */
                        wh_kernels_force(isas[ii]);
                        wh_exec ex;
                        CHECK(wh_exec_init(&ex, nt, K) == 0);
                        if (mode == 2) ex.bpack_cap = (size_t)32 * K;   /* rounds of one 32-column piece */
                        if (mode == 3) ex.bpack_cap = (size_t)100 * K;  /* outputs cut across rounds */
                        uint8_t *W[3];
                        wh_wmat w[3];
                        wh_gemm_out o1[3], o2[3];
                        int col = 0;
                        for (int i = 0; i < 3; i++) {
                            W[i] = make_w(types[ti], Ns[i], K);
                            w[i] = (wh_wmat){W[i], types[ti], K, wh_row_bytes(types[ti], K)};
                            o1[i] = (wh_gemm_out){&w[i], Ns[i], i == 1 ? NULL : bias, C1 + col, ldc, mode == 2};
                            o2[i] = o1[i];
                            o2[i].C = C2 + col;
                            col += Ns[i];
                        }
                        for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = frand();
                        if (mode < 3) {
                            wh_par_gemm(&ex, M, K, A, lda, &w[0], Ns[0], bias, C1, ldc, mode == 2, mode == 1);
                            for (int h = 0; h < 2; h++)
                                wh_par_gemm(&ex, M / 2, K, A + (size_t)h * (M / 2) * lda, lda, &w[0], Ns[0], bias,
                                            C2 + (size_t)h * (M / 2) * ldc, ldc, mode == 2, mode == 1);
                        } else {
                            wh_par_gemm_multi(&ex, M, K, A, lda, o1, 3);
                            for (int h = 0; h < 2; h++) {
                                wh_gemm_out oh[3];
                                for (int i = 0; i < 3; i++) { oh[i] = o2[i]; oh[i].C += (size_t)h * (M / 2) * ldc; }
                                wh_par_gemm_multi(&ex, M / 2, K, A + (size_t)h * (M / 2) * lda, lda, oh, 3);
                            }
                        }
                        if (memcmp(C1, C2, sizeof(float) * (size_t)M * ldc) != 0 && bad++ < 3)
                            CHECKF(0, "%s, %d threads, %s, mode %d: the splits differ", wh_isa_name(isas[ii]), nt,
                                   wh_type_name(types[ti]), mode);
                        for (int i = 0; i < 3; i++) free(W[i]);
                        wh_exec_deinit(&ex);
                    }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(A); free(bias); free(C1); free(C2);
    }
}

static void test_q8_0_row_quantizer(int have_avx2)
{
    TEST("q8_0 row quantizer (compute int8): AVX2 gives the reference's bytes (roundf: halves away from zero), "
         "and the reference is ggml's rule") {
        const int K = 32 * 64;
        float *x = malloc(sizeof(float) * K);
        uint8_t *a = malloc((size_t)K / 32 * 34), *b = malloc((size_t)K / 32 * 34);
        for (int i = 0; i < K; i++) x[i] = frand() * (i % 61 == 0 ? 20.0f : 1.0f);
        for (int i = 0; i < 32; i++) x[32 + i] = 0.0f;                               /* block 1: zeros */
        for (int i = 0; i < 32; i++) x[64 + i] = (float)(i - 16) * 0.5f - 0.25f;     /* block 2: */
        x[64 + 31] = 127.0f;   /* d = 1 exactly: the others at k ± 0.25, ±0.75 — and ties below */
        for (int i = 0; i < 8; i++) x[64 + i] = (float)i + 0.5f - (i & 1 ? 8.0f : 0.0f);   /* ±k.5 */
        for (int i = 0; i < 32; i++) x[96 + i] = -x[64 + i];                         /* block 3: mirrored */
        wh_q8_0_row_ref(x, K, a);
        int bad = 0;
        for (int bl = 0; bl < K / 32; bl++) {   /* the rule, spelled out */
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[bl * 32 + i]));
            const float d = amax / 127.0f;
            for (int i = 0; i < 32; i++) {
                const float v = d != 0 ? x[bl * 32 + i] * (1.0f / d) : 0.0f;
                const int want = (int)(v < 0 ? -floor(-(double)v + 0.5) : floor((double)v + 0.5));
                bad += (int8_t)a[bl * 34 + 2 + i] != want;
            }
        }
        CHECKF(bad == 0, "reference: %d values off ggml's rule", bad);
        CHECK((int8_t)a[2 * 34 + 2 + 0] == 1 && (int8_t)a[2 * 34 + 2 + 1] == -7);   /* 0.5 -> 1, -6.5 -> -7 */
        if (have_avx2) {
            wh_q8_0_row_avx2(x, K, b);
            CHECKF(!memcmp(a, b, (size_t)K / 32 * 34), "AVX2 q8_0 row differs from the reference");
        }
        free(x); free(a); free(b);
    }
}

static void test_qx_tall_products(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("products on repacked weights (M < 8: decoder steps, beams; M >= 8: the encoder, prompt passes): "
         "wh_par_gemm (plain, GELU, accumulate) and wh_par_gemm_multi give each row what the reference quantizer "
         "and int8 GEMV give it alone, bit for bit, at every level (AVX2: both q8_0 forms) on 1 and 3 threads; "
         "wh_par_mlp equals its two products") {
        const int K = 320, lda = K + 5, ldc = 150, Ms[5] = {1, 5, 9, 137, WH_ROWS_MIN_M + 32};
        const int Ns[2] = {100, 48}, qt[5] = {WH_Q8_0, WH_Q5_1, WH_Q4_0, WH_Q5_0, WH_Q4_1};   /* every repacked type */
        const int Mmax = Ms[4];
        /* bias: as long as the widest output below (the MLP's N0 = 384; a 128-float bias was read
         * past its end there, which the AVX2 GELU's 8-lane loads showed under ASan) */
        float *A = malloc(sizeof(float) * (size_t)Mmax * lda), *bias = malloc(sizeof(float) * 384);
        float *C0 = malloc(sizeof(float) * (size_t)Mmax * ldc), *C1 = malloc(sizeof(float) * (size_t)Mmax * ldc);
        float *R = malloc(sizeof(float) * (size_t)Mmax * ldc);
        int8_t xq[320];
        float dx[10];
        int32_t cs[10];
        float sx[10];
        for (size_t i = 0; i < (size_t)Mmax * lda; i++) A[i] = frand() * (i % 89 == 0 ? 6.0f : 1.0f);
        for (size_t i = 0; i < (size_t)Mmax * ldc; i++) C0[i] = frand();
        for (int i = 0; i < 384; i++) bias[i] = frand();
        int bad = 0;
        for (int ti = 0; ti < 5; ti++) {
            uint8_t *W[2];
            wh_wmat q[2], x[2];
            void *own[2];
            for (int i = 0; i < 2; i++) {
                W[i] = make_w(qt[ti], Ns[i], K);
                q[i] = (wh_wmat){W[i], qt[ti], K, wh_row_bytes(qt[ti], K)};
                CHECK(wh_qx_pack(&q[i], Ns[i], &x[i], &own[i]) == 0);
            }
            for (int mi = 0; mi < 5; mi++)
                for (int mode = 0; mode < 4; mode++) {   /* plain, GELU, accumulate, multi */
                    const int M = Ms[mi];
                    if (mi == 4 && ti > 0) continue;   /* the row split's size: once */
                    for (int iv = 0; iv < 2 * n_isas; iv++) {
                        const int ii = iv / 2, pv = iv % 2;   /* AVX2: the exact and the pair-bounded q8_0 */
                        if (pv && isas[ii] != WH_ISA_AVX2) continue;
                        wh_kernels_force(isas[ii]);
                        wh_kernels_avx2_pairs(isas[ii] == WH_ISA_AVX2 ? pv : -1);
                        /* the reference: each row alone (the quantizers and kernels are equal to
                         * the reference at every level, tested above), its activations
                         * pair-bounded where the pair-bounded kernel runs a q8_0 product */
                        const int pairs =
                            qt[ti] == WH_Q8_0 && !strcmp(wh_qx_kernel_name(), "AVX2 with pair-bounded q8_0");
                        memcpy(R, C0, sizeof(float) * (size_t)M * ldc);
                        for (int m = 0; m < M; m++) {
                            wh_qx_quant_ref(1, K, A + (size_t)m * lda, lda, pairs, xq, dx, cs, sx);
                            for (int o = 0; o < (mode == 3 ? 2 : 1); o++) {
                                float *r = R + (size_t)m * ldc + (o ? Ns[0] : 0);
                                wh_gemv_qx_ref(1, K, xq, dx, cs, sx, &x[o], 0, Ns[o], mode == 1 || o ? NULL : bias, r,
                                               ldc, mode == 2);
                                if (mode == 1) wh_gelu_bias(r, bias, (size_t)Ns[0]);
                            }
                        }
                        for (int nt = 1; nt <= 3; nt += 2) {
                            wh_exec ex;
                            CHECK(wh_exec_init(&ex, nt, K) == 0);
                            memcpy(C1, C0, sizeof(float) * (size_t)M * ldc);
                            if (mode < 3) {
                                wh_par_gemm(&ex, M, K, A, lda, &x[0], Ns[0], bias, C1, ldc, mode == 2, mode == 1);
                            } else {
                                const wh_gemm_out o[2] = {{&x[0], Ns[0], bias, C1, ldc, 0},
                                                          {&x[1], Ns[1], NULL, C1 + Ns[0], ldc, 0}};
                                wh_par_gemm_multi(&ex, M, K, A, lda, o, 2);
                            }
                            if (memcmp(C1, R, sizeof(float) * (size_t)M * ldc) != 0 && bad++ < 3)
                                CHECKF(0, "%s (%s), %s, M=%d, %d threads, mode %d: differs from the rows alone",
                                       wh_isa_name(isas[ii]), wh_qx_kernel_name(), wh_type_name(qt[ti]), M, nt, mode);
                            wh_exec_deinit(&ex);
                        }
                    }
                }
            for (int i = 0; i < 2; i++) { free(W[i]); free(own[i]); }
        }
        wh_kernels_avx2_pairs(-1);
        /* the MLP at the row split's size: its f32 fused path must not take repacked weights */
        {
            const int M = Ms[4], N0 = 4 * 96, Km = 96;
            uint8_t *W0 = make_w(WH_Q8_0, N0, Km), *W2 = make_w(WH_Q8_0, Km, N0);
            wh_wmat q0 = {W0, WH_Q8_0, Km, wh_row_bytes(WH_Q8_0, Km)}, q2 = {W2, WH_Q8_0, N0, wh_row_bytes(WH_Q8_0, N0)};
            wh_wmat x0, x2;
            void *own0 = NULL, *own2 = NULL;   /* clang: set only where the first pack succeeded */
            CHECK(wh_qx_pack(&q0, N0, &x0, &own0) == 0 && wh_qx_pack(&q2, Km, &x2, &own2) == 0);
            CHECKF(mlp_equals_products(2, N0, 0, M, Km, N0, A, lda, &x0, &x2, bias, bias),
                   "the MLP on repacked weights differs");
            free(W0); free(W2); free(own0); free(own2);
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(A); free(bias); free(C0); free(C1); free(R);
    }
}

/* one call past 12 row tiles (the kernel passes over the columns 192 rows at a
 * time) with a ragged last tile: the first 200 rows against the f64 result */
static void amx_200_rows(int N, int K, const float *A, int lda, float *const *C, int ldc, float *deq, float *ref)
{
    uint8_t *W = make_w(WH_F16, N, K);
    const wh_wmat w = {W, WH_F16, K, wh_row_bytes(WH_F16, K)};
    for (int n = 0; n < N; n++) wh_dequant_row_ref(WH_F16, W + (size_t)n * w.row_bytes, deq + (size_t)n * K, 0, K);
    float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
    float *Bp = aligned_alloc(64, sizeof(float) * (size_t)(N + 15) / 16 * 16 * K);
    void *abuf = aligned_alloc(64, (wh_amx_abuf_bytes(200, K) + 63) & ~(size_t)63);
    wh_pack_b_wmat(&w, 0, N, 0, (N + 15) / 16, Bp, scr, 1);
    wh_gemm_packed_cols(200, K, A, lda, Bp, N, 0, N, NULL, 0, C[0], ldc, 0, 1, abuf);
    const double big = f64_product(200, N, K, A, lda, deq, ref);
    double err = 0;
    for (int m = 0; m < 200; m++)
        for (int n = 0; n < N; n++) err = fmax(err, fabs(C[0][(size_t)m * ldc + n] - ref[(size_t)m * N + n]));
    CHECKF(err <= 1e-5 * big, "200 rows in one call: max error %.3g of %.3g", err, big);
    free(W); free(scr); free(Bp); free(abuf);
}

/* the transposed operand's packing (the attention's V: K rows of 16 columns, rows
 * from kvalid on zero) gives the bytes the row packing gives its transpose */
static void amx_pack_transposed(void)
{
    const int Kt = 96, kvalid = 83, ldx = 21;
    float *X = malloc(sizeof(float) * (size_t)Kt * ldx), *T = calloc((size_t)16 * Kt, sizeof(float));
    uint16_t *p1 = malloc(sizeof(uint16_t) * 32 * (size_t)Kt), *p2 = malloc(sizeof(uint16_t) * 32 * (size_t)Kt);
    for (size_t i = 0; i < (size_t)Kt * ldx; i++) X[i] = frand() * 3.0f;
    for (int k = 0; k < kvalid; k++)
        for (int c = 0; c < 16; c++) T[(size_t)c * Kt + k] = X[(size_t)k * ldx + c];
    wh_amx_pack_bt(X, (size_t)ldx, kvalid, Kt, p1);
    wh_amx_pack_b_slice(T, (size_t)Kt, Kt, 0, Kt, p2);
    CHECKF(!memcmp(p1, p2, sizeof(uint16_t) * 32 * (size_t)Kt), "wh_amx_pack_bt differs from the row packing");
    free(X); free(T); free(p1); free(p2);
}

static void test_amx_bf16(void)
{
    TEST("AMX-BF16 tall products (the row split on tiles, operands split in two bf16 parts): within 1e-5 of the "
         "largest value of the f64 result, plain, GELU, accumulate, several outputs and the fused MLP; every row the "
         "same on 1 and 3 threads; off (the f32 path) when the exec does not ask") {
        if (!wh_kernels_amx()) {
            printf("# SKIP no usable AMX-BF16 here (CPU, OS tile state, or SPEECH_SESSION_AMX=0)\n");
        } else {
            /* ragged: rows past whole tiles, 100 columns (a partial panel), a second K slice of 64 */
            const int M = WH_ROWS_MIN_M + 37, K = 320, lda = K + 5, ldc = 270, N = 100, N0 = 4 * 32;
            float *A = malloc(sizeof(float) * (size_t)M * lda), *bias = malloc(sizeof(float) * K);   /* K > N0, N */
            float *C[2], *ref = malloc(sizeof(float) * (size_t)M * N), *deq = malloc(sizeof(float) * (size_t)N0 * K);
            for (int i = 0; i < 2; i++) C[i] = malloc(sizeof(float) * (size_t)M * ldc);
            float *init = malloc(sizeof(float) * (size_t)M * ldc);
            for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand();
            for (size_t i = 0; i < (size_t)M * ldc; i++) init[i] = frand();
            for (int i = 0; i < K; i++) bias[i] = frand();
            const int types[2] = {WH_F16, WH_F32};
            for (int ti = 0; ti < 2; ti++) {
                uint8_t *W = make_w(types[ti], N, K);
                const wh_wmat w = {W, types[ti], K, wh_row_bytes(types[ti], K)};
                for (int n = 0; n < N; n++) wh_dequant_row_ref(w.type, W + (size_t)n * w.row_bytes, deq + (size_t)n * K, 0, K);
                const double big = f64_product(M, N, K, A, lda, deq, ref);
                for (int mode = 0; mode < 4; mode++) {   /* plain, GELU, accumulate, multi (two outputs) */
                    double err = 0, rowdiff = 0;
                    for (int t = 0; t < 2; t++) {
                        wh_exec ex;
                        CHECK(wh_exec_init(&ex, t ? 3 : 1, K) == 0);
                        ex.amx = 1;
                        memcpy(C[t], init, sizeof(float) * (size_t)M * ldc);
                        if (mode < 3) {
                            wh_par_gemm(&ex, M, K, A, lda, &w, N, bias, C[t], ldc, mode == 2, mode == 1);
                        } else {
                            const wh_gemm_out o[2] = {{&w, 48, bias, C[t], ldc, 0}, {&w, N, NULL, C[t] + 100, ldc, 1}};
                            wh_par_gemm_multi(&ex, M, K, A, lda, o, 2);
                        }
                        CHECK(ex.amx_a != NULL);   /* the tiles' A buffers: AMX ran */
                        wh_exec_deinit(&ex);
                    }
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < (mode == 3 ? 100 + N : N); n++) {
                            const size_t i = (size_t)m * ldc + n;
                            const int col = mode == 3 && n >= 100 ? n - 100 : n;
                            double want = ref[(size_t)m * N + col];
                            if (mode == 3 && n >= 48 && n < 100) want = init[i];   /* untouched */
                            else if (mode == 3 && n >= 100) want += init[i];
                            else if (mode == 3) want += bias[n];
                            else if (mode == 2) want += init[i] + bias[n];
                            else if (mode == 1) want = 0.5 * (want + bias[n]) * (1.0 + erf((want + bias[n]) / sqrt(2.0)));
                            else want += bias[n];
                            err = fmax(err, fabs(C[0][i] - want));
                            rowdiff = fmax(rowdiff, fabs(C[0][i] - C[1][i]));
                        }
                    CHECKF(err <= 1e-5 * big, "%s mode %d: max error %.3g of %.3g (%.2g)", wh_type_name(types[ti]), mode, err,
                           big, err / big);
                    CHECKF(rowdiff == 0, "%s mode %d: 1 and 3 threads differ by %.3g", wh_type_name(types[ti]), mode,
                           rowdiff);
                    if (mode == 0) printf("# AMX %s: max error %.3g of the largest value %.3g (%.2g)\n",
                                          wh_type_name(types[ti]), err, big, err / big);
                }
                free(W);
            }
            {   /* the fused MLP on tiles equals its two products on tiles, bit for bit */
                uint8_t *W0 = make_w(WH_F16, N0, K), *W2 = make_w(WH_F16, K, N0);
                const wh_wmat w0 = {W0, WH_F16, K, wh_row_bytes(WH_F16, K)}, w2 = {W2, WH_F16, N0, wh_row_bytes(WH_F16, N0)};
                /* max_k: the deeper of the two */
                CHECKF(mlp_equals_products(2, K, 1, M, K, N0, A, lda, &w0, &w2, bias, bias),
                       "the MLP on tiles differs from its products");
                /* and without the exec's flag the product stays off the tiles (no A buffers) */
                float *H = malloc(sizeof(float) * (size_t)M * N0);
                wh_exec ex;
                CHECK(wh_exec_init(&ex, 2, K) == 0);
                wh_par_gemm(&ex, M, K, A, lda, &w0, N0, bias, H, N0, 0, 1);
                CHECK(ex.amx_a == NULL);
                wh_exec_deinit(&ex);
                free(W0); free(W2); free(H);
            }
            amx_200_rows(N, K, A, lda, C, ldc, deq, ref);
            amx_pack_transposed();
            free(A); free(bias); free(ref); free(deq); free(init);
            for (int i = 0; i < 2; i++) free(C[i]);
        }
    }
}

static void test_fused_mlp(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("the fused MLP (each block of rows through both products) equals the two products bit for bit") {
        const int M = WH_ROWS_MIN_M + 32, K = 96, N0 = 4 * K, ldx = K + 3, ldy = K + 7;
        float *X = malloc(sizeof(float) * (size_t)M * ldx), *b0 = malloc(sizeof(float) * N0), *b2 = malloc(sizeof(float) * K);
        float *Y1 = malloc(sizeof(float) * (size_t)M * ldy), *Y2 = malloc(sizeof(float) * (size_t)M * ldy);
        float *H1 = malloc(sizeof(float) * (size_t)M * N0), *H2 = malloc(sizeof(float) * (size_t)M * N0);
        for (size_t i = 0; i < (size_t)M * ldx; i++) X[i] = frand();
        for (int i = 0; i < N0; i++) b0[i] = frand();
        for (int i = 0; i < K; i++) b2[i] = frand();
        int bad = 0;
        for (int ii = 0; ii < n_isas; ii++)
            for (int nt = 1; nt <= 2; nt++)
                for (int small_cap = 0; small_cap < 2; small_cap++) {   /* fused, and the fallback */
                    wh_kernels_force(isas[ii]);
                    wh_exec ex;
                    CHECK(wh_exec_init(&ex, nt, N0) == 0);
                    if (small_cap) ex.bpack_cap = (size_t)N0 * K;   /* one matrix, not both */
                    uint8_t *W0 = make_w(WH_F16, N0, K), *W2 = make_w(WH_Q8_0, K, N0);
                    wh_wmat w0 = {W0, WH_F16, K, wh_row_bytes(WH_F16, K)}, w2 = {W2, WH_Q8_0, N0, wh_row_bytes(WH_Q8_0, N0)};
                    for (size_t i = 0; i < (size_t)M * ldy; i++) Y1[i] = Y2[i] = frand();
                    wh_par_mlp(&ex, M, K, X, ldx, &w0, b0, N0, &w2, b2, Y1, ldy, H1, NULL);
                    wh_par_gemm(&ex, M, K, X, ldx, &w0, N0, b0, H2, N0, 0, 1);
                    wh_par_gemm(&ex, M, N0, H2, N0, &w2, K, b2, Y2, ldy, 1, 0);
                    if (memcmp(Y1, Y2, sizeof(float) * (size_t)M * ldy) != 0 && bad++ < 3)
                        CHECKF(0, "%s, %d threads, cap %d: differs", wh_isa_name(isas[ii]), nt, small_cap);
                    free(W0); free(W2);
                    wh_exec_deinit(&ex);
                }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(X); free(b0); free(b2); free(Y1); free(Y2); free(H1); free(H2);
    }
}

static void test_gemm_layernorm(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("a product's LayerNorm run by its row tasks (wh_par_gemm_ln, wh_par_mlp) equals the product, then "
         "wh_layernorm, bit for bit: fused, and the fallbacks (column groups, rounds)") {
        const int M = WH_ROWS_MIN_M + 44, K = 96, N = 160, N0 = 4 * K, ldx = K + 3, ldc = N + 5, ldy = N + 9;
        float *X = malloc(sizeof(float) * (size_t)M * ldx), *bias = malloc(sizeof(float) * N0);
        float *C1 = malloc(sizeof(float) * (size_t)M * ldc), *C2 = malloc(sizeof(float) * (size_t)M * ldc);
        float *Y1 = malloc(sizeof(float) * (size_t)M * ldy), *Y2 = malloc(sizeof(float) * (size_t)M * ldy);
        float *H = malloc(sizeof(float) * (size_t)M * N0), *lw = malloc(sizeof(float) * N), *lb = malloc(sizeof(float) * N);
        for (size_t i = 0; i < (size_t)M * ldx; i++) X[i] = frand();
        for (int i = 0; i < N0; i++) bias[i] = frand();
        for (int i = 0; i < N; i++) { lw[i] = 1.0f + frand() * 0.5f; lb[i] = frand() * 0.1f; }
        uint8_t *W = make_w(WH_F16, N, K), *W0 = make_w(WH_F16, N0, K), *W2 = make_w(WH_F16, K, N0);
        const wh_wmat w = {W, WH_F16, K, wh_row_bytes(WH_F16, K)}, w0 = {W0, WH_F16, K, wh_row_bytes(WH_F16, K)},
                      w2 = {W2, WH_F16, N0, wh_row_bytes(WH_F16, N0)};
        const int nts[] = {1, 2, 8};   /* 8: column groups (whole rows no task's) */
        int bad = 0;
        for (int ii = 0; ii < n_isas; ii++)
            for (int ti = 0; ti < 3; ti++)
                for (int small_cap = 0; small_cap < 2; small_cap++) {   /* small: the product in rounds */
                    wh_kernels_force(isas[ii]);
                    wh_exec ex;
                    CHECK(wh_exec_init(&ex, nts[ti], N0) == 0);
                    if (small_cap) ex.bpack_cap = (size_t)64 * K;
                    const wh_row_ln ln = {lw, lb, Y1, ldy};
                    for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = frand();
                    memset(Y1, 0, sizeof(float) * (size_t)M * ldy);
                    memset(Y2, 0, sizeof(float) * (size_t)M * ldy);
                    wh_par_gemm_ln(&ex, M, K, X, ldx, &w, N, bias, C1, ldc, 1, &ln);
                    wh_par_gemm(&ex, M, K, X, ldx, &w, N, bias, C2, ldc, 1, 0);
                    for (int r = 0; r < M; r++) wh_layernorm(C2 + (size_t)r * ldc, Y2 + (size_t)r * ldy, 1, N, N, lw, lb);
                    if ((memcmp(C1, C2, sizeof(float) * (size_t)M * ldc) || memcmp(Y1, Y2, sizeof(float) * (size_t)M * ldy)) &&
                        bad++ < 3)
                        CHECKF(0, "gemm_ln %s, %d threads, cap %d: differs", wh_isa_name(isas[ii]), nts[ti], small_cap);
                    /* the MLP: Y (K columns) then its LayerNorm (the first K of lw, lb) */
                    const wh_row_ln ln2 = {lw, lb, Y1, ldy};
                    for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = frand();
                    memset(Y1, 0, sizeof(float) * (size_t)M * ldy);
                    memset(Y2, 0, sizeof(float) * (size_t)M * ldy);
                    if (small_cap) ex.bpack_cap = (size_t)N0 * K;   /* one matrix, not both: the two products */
                    wh_par_mlp(&ex, M, K, X, ldx, &w0, bias, N0, &w2, bias, C1, ldc, H, &ln2);
                    wh_par_gemm(&ex, M, K, X, ldx, &w0, N0, bias, H, N0, 0, 1);
                    wh_par_gemm(&ex, M, N0, H, N0, &w2, K, bias, C2, ldc, 1, 0);
                    for (int r = 0; r < M; r++) wh_layernorm(C2 + (size_t)r * ldc, Y2 + (size_t)r * ldy, 1, K, K, lw, lb);
                    if ((memcmp(C1, C2, sizeof(float) * (size_t)M * ldc) || memcmp(Y1, Y2, sizeof(float) * (size_t)M * ldy)) &&
                        bad++ < 3)
                        CHECKF(0, "mlp ln %s, %d threads, cap %d: differs", wh_isa_name(isas[ii]), nts[ti], small_cap);
                    wh_exec_deinit(&ex);
                }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(X); free(bias); free(C1); free(C2); free(Y1); free(Y2); free(H); free(lw); free(lb);
        free(W); free(W0); free(W2);
    }
}

static void test_layernorm(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("LayerNorm (double statistics) equals the scalar reference at every level, offset rows included") {
        const int ns[] = {1, 7, 8, 9, 384, 385, 512, 1280};
        float *x = malloc(sizeof(float) * 3 * 1300), *y1 = malloc(sizeof(float) * 3 * 1300), *y2 = malloc(sizeof(float) * 3 * 1300);
        float *w = malloc(sizeof(float) * 1300), *b = malloc(sizeof(float) * 1300);
        int bad = 0;
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            const int n = ns[ni], ld = n + 3;
            for (int i = 0; i < n; i++) { w[i] = 1.0f + frand() * 0.5f; b[i] = frand() * 0.1f; }
            for (int r = 0; r < 3; r++)   /* row 2: a large mean over a small spread (cancellation) */
                for (int i = 0; i < n; i++) x[r * ld + i] = (r == 2 ? 1000.0f : 0.0f) + frand() * (r == 1 ? 50.0f : 1.0f);
            wh_kernels_force(WH_ISA_SCALAR);
            wh_layernorm(x, y1, 3, n, ld, w, b);
            for (int ii = 1; ii < n_isas; ii++) {
                wh_kernels_force(isas[ii]);
                wh_layernorm(x, y2, 3, n, ld, w, b);
                double mx = 0;
                for (int r = 0; r < 3; r++)
                    for (int i = 0; i < n; i++) mx = fmax(mx, fabs(y1[r * ld + i] - y2[r * ld + i]));
                if (!(mx <= 1e-5) && bad++ < 3) CHECKF(0, "%s n %d: %g apart", wh_isa_name(isas[ii]), n, mx);
            }
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(x); free(y1); free(y2); free(w); free(b);
    }
}

static void test_logsumexp(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("logsumexp of vocabulary rows (SIMD exp, double block sums) equals the double reference") {
        const int ns[] = {1, 7, 8, 9, 1023, 1025, 51865};
        float *x = malloc(sizeof(float) * 51865);
        int bad = 0;
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            const int n = ns[ni];
            for (int i = 0; i < n; i++) x[i] = frand() * 40.0f - 10.0f;
            for (int i = 3; i < n; i += 11) x[i] = -INFINITY;   /* suppressed tokens */
            double m = -INFINITY, sum = 0;
            for (int i = 0; i < n; i++) m = fmax(m, x[i]);
            for (int i = 0; i < n; i++) sum += exp((double)x[i] - m);
            const double want = m + log(sum);
            for (int ii = 0; ii < n_isas; ii++) {
                wh_kernels_force(isas[ii]);
                const float got = wh_lse(x, n);
                if (!(fabs(got - want) <= 2e-6 * fmax(1.0, fabs(want))) && bad++ < 3)
                    CHECKF(0, "%s n %d: %.7f vs %.7f", wh_isa_name(isas[ii]), n, got, want);
            }
        }
        for (int i = 0; i < 100; i++) x[i] = -INFINITY;
        for (int ii = 0; ii < n_isas; ii++) {
            wh_kernels_force(isas[ii]);
            CHECK(wh_lse(x, 100) == -INFINITY);
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(x);
    }
}

/* cross-attention of several rows with tiled keys: every level against the scalar
 * reference, row counts across the ISA's pass size (5 on AVX2, 6 on AVX-512) and lengths
 * across the 16/32-position blocks; the positions past len hold garbage and must not
 * change anything; rows and V at odd strides inside wider buffers */
static void test_cross_attention_rows(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("cross-attention rows (tiled keys) equal the scalar reference at every level, R 1..9, lengths 1..1500") {
        const int dh = 64, lens[] = {1, 5, 16, 17, 31, 32, 33, 100, 256, 1500};
        const size_t ldq = 512 + 7, ldv = 64 + 3, ldo = 512 + 5;
        const size_t pmax = wh_attend_rows_pad(1500), lds = pmax + 32;
        uint16_t *KT = malloc(2 * pmax * dh), *V = malloc(2 * 1500 * ldv);
        float *q = malloc(sizeof(float) * 9 * ldq), *S1 = malloc(sizeof(float) * 9 * lds), *S2 = malloc(sizeof(float) * 9 * lds);
        float *o1 = malloc(sizeof(float) * 9 * ldo), *o2 = malloc(sizeof(float) * 9 * ldo);
        uint16_t *KT0 = malloc(2 * pmax * dh);
        for (size_t i = 0; i < pmax * dh; i++) KT0[i] = wh_f32_to_f16(frand() * 2);
        for (size_t i = 0; i < 1500 * ldv; i++) V[i] = wh_f32_to_f16(frand());
        for (size_t i = 0; i < 9 * ldq; i++) q[i] = frand() * 0.5f;
        int bad = 0, cases = 0;
        for (int ii = 1; ii < n_isas; ii++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                for (int R = 1; R <= 9; R++) {
                    const int len = lens[li];
                    /* garbage (not zeros) in the positions of the last tile past len, on the
                     * pristine keys (an earlier length's garbage must not become real keys) */
                    memcpy(KT, KT0, 2 * pmax * dh);
                    for (size_t p = (size_t)len; p < wh_attend_rows_pad(len); p++)
                        for (int d = 0; d < dh; d++) KT[(p / WH_ATT_TILE) * dh * WH_ATT_TILE + (size_t)d * WH_ATT_TILE + p % WH_ATT_TILE] = wh_f32_to_f16(1000.0f + (float)p);
                    wh_kernels_force(WH_ISA_SCALAR);
                    wh_attend_rows(R, dh, q, ldq, KT, V + 1, ldv, len, S1, lds, o1, ldo);
                    wh_kernels_force(isas[ii]);
                    wh_attend_rows(R, dh, q, ldq, KT, V + 1, ldv, len, S2, lds, o2, ldo);
                    double ms, mo;
                    att_apart(R, len, dh, S1, S2, lds, o1, o2, ldo, &ms, &mo);
                    cases++;
                    /* f32 sums in another order: scores of |q·k| up to ~20 differ by ~1e-5 */
                    if (!(ms <= 2e-4 && mo <= 2e-4) && bad++ < 3)
                        CHECKF(0, "%s R %d len %d: probabilities %g, output %g apart", wh_isa_name(isas[ii]), R, len, ms, mo);
                }
        wh_kernels_force(best);
        CHECK(bad == 0);
        CHECK(cases == (n_isas - 1) * 10 * 9);
        /* and the reference itself against a plain f64 evaluation, one row */
        {
            memcpy(KT, KT0, 2 * pmax * dh);
            const int len = 33;
            wh_kernels_force(WH_ISA_SCALAR);
            wh_attend_rows(1, dh, q, ldq, KT, V + 1, ldv, len, S1, lds, o1, ldo);
            wh_kernels_force(best);
            double sc[33], mx = -1e300, sum = 0, worst = 0;
            for (int p = 0; p < len; p++) {
                double a = 0;
                for (int d = 0; d < dh; d++) a += (double)q[d] * wh_f16_to_f32(KT[(p / 32) * dh * 32 + d * 32 + p % 32]);
                sc[p] = a;
                mx = fmax(mx, a);
            }
            for (int p = 0; p < len; p++) { sc[p] = exp(sc[p] - mx); sum += sc[p]; }
            for (int d = 0; d < dh; d++) {
                double a = 0;
                for (int p = 0; p < len; p++) a += sc[p] / sum * wh_f16_to_f32(V[1 + (size_t)p * ldv + d]);
                worst = fmax(worst, fabs(a - o1[d]));
            }
            CHECKF(worst < 1e-5, "reference vs f64: %g", worst);
        }
        free(KT); free(KT0); free(V); free(q); free(S1); free(S2); free(o1); free(o2);
    }
}

/* test_int8_cross_kv's row quantizer: wh_i8_row's bytes at every level; the mismatches */
static int i8_row_levels(wh_isa best, const wh_isa *isas, int n_isas)
{
    int bad = 0;
    float x[67];
    int8_t q1[67], q2[67];
    for (int t = 0; t < 50; t++) {
        const int n = t % 2 ? 64 : 67;
        for (int i = 0; i < n; i++) x[i] = t == 0 ? 0.0f : frand() * (float)(1 + t);
        if (t == 1) { x[3] = 2.5f; x[4] = -3.5f; x[5] = 127.0f; }   /* d = 1: halves to even */
        wh_kernels_force(WH_ISA_SCALAR);
        const float d1 = wh_i8_row(x, n, q1);
        for (int ii = 1; ii < n_isas; ii++) {
            wh_kernels_force(isas[ii]);
            const float d2 = wh_i8_row(x, n, q2);
            if ((d1 != d2 || memcmp(q1, q2, (size_t)n)) && bad++ < 3)
                CHECKF(0, "%s row %d: bytes differ", wh_isa_name(isas[ii]), t);
        }
        if (t == 0) CHECK(d1 == 0.0f && q1[0] == 0 && q1[66] == 0);
        if (t == 1) CHECK(d1 == 1.0f && q1[3] == 2 && q1[4] == -4 && q1[5] == 127);
        for (int i = 0; t > 0 && i < n; i++)
            if (fabsf(q1[i] * d1 - x[i]) > 0.5f * d1 * 1.0001f && bad++ < 3) CHECKF(0, "row %d element %d", t, i);
    }
    wh_kernels_force(best);
    return bad;
}

/* the int8 window (kv8): wh_i8_row gives the same bytes at every level (and the scale
 * max|x| / 127, ties to even, a zero row all zeros); the int8 cross-attention equals its
 * scalar reference at every level as the f16 one does (the padded positions' keys and
 * scales garbage), and the reference equals an f64 evaluation on the dequantized K/V;
 * against the f16 window the int8 one moves the output by a small fraction of its scale */
static void test_int8_cross_kv(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("int8 cross K/V: the row quantizer's bytes and the int8 cross-attention equal their references at every level; close to the f16 window") {
        int bad = i8_row_levels(best, isas, n_isas);
        const int dh = 64, lens[] = {1, 17, 32, 33, 256, 1500};
        const size_t ldq = 512 + 7, ldv = 64 + 3, ldo = 512 + 5;
        const size_t pmax = wh_attend_rows_pad(1500), lds = pmax + 32;
        int8_t *KT = malloc(pmax * dh), *V = malloc(1500 * ldv);
        uint16_t *KTh = malloc(2 * pmax * dh), *Vh = malloc(2 * 1500 * ldv);
        float *ks = malloc(sizeof(float) * pmax), *vs = malloc(sizeof(float) * 1500);
        float *q = malloc(sizeof(float) * 9 * ldq), *S1 = malloc(sizeof(float) * 9 * lds), *S2 = malloc(sizeof(float) * 9 * lds);
        float *o1 = malloc(sizeof(float) * 9 * ldo), *o2 = malloc(sizeof(float) * 9 * ldo);
        /* the keys and values as the backend makes them: a row of dh floats per position,
         * quantized (and kept as f16 for the comparison with the f16 window) */
        float row[64];
        int8_t r8[64];
        for (size_t p = 0; p < pmax; p++) {
            for (int d = 0; d < dh; d++) row[d] = frand() * 2;
            ks[p] = wh_i8_row(row, dh, r8);
            for (int d = 0; d < dh; d++) {
                const size_t at = (p / WH_ATT_TILE) * dh * WH_ATT_TILE + (size_t)d * WH_ATT_TILE + p % WH_ATT_TILE;
                KT[at] = r8[d];
                KTh[at] = wh_f32_to_f16(row[d]);
            }
        }
        for (size_t p = 0; p < 1500; p++) {
            for (int d = 0; d < dh; d++) Vh[p * ldv + 1 + d] = wh_f32_to_f16(row[d] = frand());
            vs[p] = wh_i8_row(row, dh, V + p * ldv + 1);
        }
        for (size_t i = 0; i < 9 * ldq; i++) q[i] = frand() * 0.5f;
        int cases = 0;
        double worst_f16 = 0;
        for (int ii = 1; ii < n_isas; ii++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                for (int R = 1; R <= 9; R++) {
                    const int len = lens[li];
                    float ks_save[32];
                    int8_t kt_save[64 * 32];
                    const size_t t0 = (size_t)(len / WH_ATT_TILE) * dh * WH_ATT_TILE;
                    const int tail = len % WH_ATT_TILE != 0;
                    if (tail) {   /* garbage past len in the last tile: keys and scales */
                        memcpy(kt_save, KT + t0, sizeof kt_save);
                        memcpy(ks_save, ks + len / WH_ATT_TILE * WH_ATT_TILE, sizeof ks_save);
                        for (size_t p = (size_t)len; p < wh_attend_rows_pad(len); p++) {
                            ks[p] = 1e6f;
                            for (int d = 0; d < dh; d++) KT[t0 + (size_t)d * WH_ATT_TILE + p % WH_ATT_TILE] = 127;
                        }
                    }
                    wh_kernels_force(WH_ISA_SCALAR);
                    wh_attend_rows_i8(R, dh, q, ldq, KT, ks, V + 1, vs, ldv, len, S1, lds, o1, ldo);
                    wh_kernels_force(isas[ii]);
                    wh_attend_rows_i8(R, dh, q, ldq, KT, ks, V + 1, vs, ldv, len, S2, lds, o2, ldo);
                    if (tail) {
                        memcpy(KT + t0, kt_save, sizeof kt_save);
                        memcpy(ks + len / WH_ATT_TILE * WH_ATT_TILE, ks_save, sizeof ks_save);
                    }
                    double ms, mo;
                    att_apart(R, len, dh, S1, S2, lds, o1, o2, ldo, &ms, &mo);
                    cases++;
                    if (!(ms <= 2e-4 && mo <= 2e-4) && bad++ < 3)
                        CHECKF(0, "%s R %d len %d: probabilities %g, output %g apart", wh_isa_name(isas[ii]), R, len, ms, mo);
                    /* the same rows over the f16 window */
                    wh_attend_rows(R, dh, q, ldq, KTh, Vh + 1, ldv, len, S1, lds, o1, ldo);
                    for (int r = 0; r < R; r++)
                        for (int d = 0; d < dh; d++) worst_f16 = fmax(worst_f16, fabs(o1[r * ldo + d] - o2[r * ldo + d]));
                }
        wh_kernels_force(best);
        CHECK(cases == (n_isas - 1) * 6 * 9);
        /* values up to 1 in steps of about 1/127: the outputs (averages of them) within a
         * few hundredths of the f16 window's */
        printf("# int8 vs f16 window: outputs at most %.4f apart (values in [-1, 1])\n", worst_f16);
        CHECKF(worst_f16 < 0.03, "int8 vs f16 window %g", worst_f16);
        {   /* the reference against f64 on the dequantized window, one row */
            const int len = 33;
            wh_kernels_force(WH_ISA_SCALAR);
            wh_attend_rows_i8(1, dh, q, ldq, KT, ks, V + 1, vs, ldv, len, S1, lds, o1, ldo);
            wh_kernels_force(best);
            double sc[33], mx = -1e300, sum = 0, worst = 0;
            for (int p = 0; p < len; p++) {
                double a = 0;
                for (int d = 0; d < dh; d++) a += (double)q[d] * ks[p] * KT[(p / 32) * dh * 32 + d * 32 + p % 32];
                sc[p] = a;
                mx = fmax(mx, a);
            }
            for (int p = 0; p < len; p++) { sc[p] = exp(sc[p] - mx); sum += sc[p]; }
            for (int d = 0; d < dh; d++) {
                double a = 0;
                for (int p = 0; p < len; p++) a += sc[p] / sum * vs[p] * V[1 + (size_t)p * ldv + d];
                worst = fmax(worst, fabs(a - o1[d]));
            }
            CHECKF(worst < 1e-5, "reference vs f64: %g", worst);
        }
        CHECK(bad == 0);
        free(KT); free(V); free(KTh); free(Vh); free(ks); free(vs); free(q); free(S1); free(S2); free(o1); free(o2);
    }
}

/* test_q8_cross_attention's reference against f64 on its own integers */
static void q8_reference_vs_f64(int R, int len, wh_att8_parts a1, const int8_t *KT, const float *ks, const float *S1,
                                size_t lds, const int8_t *V8, const float *o1, size_t ldo)
{
    double ws = 0, wo = 0;
    for (int r = 0; r < R; r++) {
        double sc[33], mx = -1e300, sum = 0;
        for (int p = 0; p < len; p++) {
            long acc = 0;
            for (int d = 0; d < 64; d++)
                acc += (254L * a1.qh[r * 64 + d] + a1.ql[r * 64 + d]) * KT[(p / 32) * 64 * 32 + d * 32 + p % 32];
            sc[p] = (double)acc * a1.dq[r] * ks[p];
            mx = fmax(mx, sc[p]);
        }
        for (int p = 0; p < len; p++) { sc[p] = exp(sc[p] - mx); sum += sc[p]; }
        for (int p = 0; p < len; p++) ws = fmax(ws, fabs(sc[p] / sum - S1[r * lds + p]));
        for (int c = 0; c < 64; c++) {
            double o = 0;
            for (int p = 0; p < len; p++)
                o += (double)a1.du[r * (a1.lp / 32) + p / 32] * a1.u[r * a1.lp + p] * V8[p * 64 + c];
            wo = fmax(wo, fabs(o - o1[r * ldo + c]));
        }
    }
    CHECKF(ws < 1e-6 && wo < 1e-5, "reference vs f64: probabilities %g, output %g", ws, wo);
}

/* the int8-product cross-attention (wh_attend_rows_q8): every vpdpbusd kernel this CPU can
 * run (the 512-bit one, the AVX-VNNI code in its EVEX form, the VEX one where present)
 * against the scalar reference — probabilities within 2e-4, the probabilities' bytes equal
 * or one apart (their softmaxes' exponentials differ in the last bits), and the outputs
 * within what those bytes explain; the padded positions' keys, scales and values garbage.
 * The reference against f64 on its own integers (the same quantized queries and bytes),
 * and the whole against the f32-product int8 path within a few hundredths. */
static void test_q8_cross_attention(wh_isa best)
{
    TEST("int8-product cross-attention (vpdpbusd layouts) equals its reference at every VNNI level, R 1..9, lengths 1..1500; close to the f32 products") {
        int bad = 0, cases = 0;
        const int lens[] = {1, 17, 32, 33, 256, 1500};
        const size_t ldq = 512 + 7, ldo = 512 + 5, pmax = wh_attend_rows_pad(1500), lds = pmax + 32;
        uint8_t *KU = calloc(pmax * 64, 1);
        int8_t *VQ = calloc(pmax * 64, 1), *KT = calloc(pmax * 64, 1), *V8 = calloc(pmax * 64, 1);
        float *ks = malloc(sizeof(float) * pmax), *vs = malloc(sizeof(float) * pmax);
        float *q = malloc(sizeof(float) * 9 * ldq), *S1 = malloc(sizeof(float) * 9 * lds), *S2 = malloc(sizeof(float) * 9 * lds);
        float *o1 = malloc(sizeof(float) * 9 * ldo), *o2 = malloc(sizeof(float) * 9 * ldo);
        const size_t scr = wh_attend_q8_scratch(9, 1500);
        void *sc1 = aligned_alloc(64, (scr + 63) & ~(size_t)63), *sc2 = aligned_alloc(64, (scr + 63) & ~(size_t)63);
        float row[64];
        int8_t k8[64], v8[64];
        for (size_t p = 0; p < pmax; p++) {
            for (int d = 0; d < 64; d++) row[d] = frand() * 2;
            ks[p] = wh_i8_row(row, 64, k8);
            for (int d = 0; d < 64; d++) row[d] = frand();
            vs[p] = wh_i8_row(row, 64, v8);
            wh_att8_put((int)p, k8, v8, KU, VQ);
            for (int d = 0; d < 64; d++) KT[(p / 32) * 64 * 32 + (size_t)d * 32 + p % 32] = k8[d];
            memcpy(V8 + p * 64, v8, 64);
        }
        for (size_t i = 0; i < 9 * ldq; i++) q[i] = frand() * 0.5f;
        typedef void (*a8_fn)(int, const float *, size_t, const uint8_t *, const float *, const int8_t *, const float *,
                              int, float *, size_t, void *, float *, size_t);
        const a8_fn impls[3] = {wh_attend_rows_q8_avx512, wh_attend_rows_q8_vnni256, wh_attend_rows_q8_avxvnni};
        const char *names[3] = {"AVX512-VNNI", "AVX-VNNI code (EVEX)", "AVX-VNNI"};
        const int have[3] = {wh_kernels_vnni(), wh_kernels_vnni(), wh_kernels_avxvnni()};
        double worst_f32 = 0;
        int flips = 0;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int R = 1; R <= 9; R++) {
                const int len = lens[li], pad = (int)wh_attend_rows_pad(len);
                uint8_t ku_save[64 * 32];
                int8_t vq_save[64 * 32];
                float ks_save[32], vs_save[32];
                const size_t t0 = (size_t)(len / 32) * 64 * 32;
                if (pad > len) {   /* garbage past len in the last tile */
                    memcpy(ku_save, KU + t0, sizeof ku_save);
                    memcpy(vq_save, VQ + t0, sizeof vq_save);
                    memcpy(ks_save, ks + len / 32 * 32, sizeof ks_save);
                    memcpy(vs_save, vs + len / 32 * 32, sizeof vs_save);
                    int8_t g[64];
                    memset(g, 127, sizeof g);
                    for (int p = len; p < pad; p++) {
                        wh_att8_put(p, g, g, KU, VQ);
                        ks[p] = 1e30f;
                        vs[p] = NAN;
                    }
                }
                wh_kernels_force(WH_ISA_SCALAR);
                wh_attend_rows_q8(R, q, ldq, KU, ks, VQ, vs, len, S1, lds, sc1, o1, ldo);
                wh_kernels_force(best);
                const wh_att8_parts a1 = wh_att8_split(R, len, sc1), a2 = wh_att8_split(R, len, sc2);
                if (li == 3 && R == 2) {   /* the reference against f64 on its own integers */
                    q8_reference_vs_f64(R, len, a1, KT, ks, S1, lds, V8, o1, ldo);
                }
                for (int k = 0; k < 3; k++) {
                    if (!have[k]) continue;
                    impls[k](R, q, ldq, KU, ks, VQ, vs, len, S2, lds, sc2, o2, ldo);
                    cases++;
                    double ms, mo;
                    att_apart(R, len, 64, S1, S2, lds, o1, o2, ldo, &ms, &mo);
                    /* what differing bytes explain: one step of a block's scale times |v| <= 127 */
                    double allow = 1e-5;
                    int far = 0;
                    for (int r = 0; r < R; r++)
                        for (int p = 0; p < len; p++) {
                            const int d = abs((int)a1.u[r * a1.lp + p] - (int)a2.u[r * a2.lp + p]);
                            if (d > 1) far++;
                            if (d) { flips++; allow += a1.du[r * (a1.lp / 32) + p / 32] * 127.0 * 1.01; }
                        }
                    if (!(ms <= 2e-4 && mo <= allow && far == 0) && bad++ < 3)
                        CHECKF(0, "%s R %d len %d: probabilities %g, output %g apart (allowed %g), %d bytes more than 1 apart",
                               names[k], R, len, ms, mo, allow, far);
                }
                /* against the f32 products on the same int8 window */
                wh_attend_rows_i8(R, 64, q, ldq, KT, ks, V8, vs, 64, len, S2, lds, o2, ldo);
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < 64; c++) worst_f32 = fmax(worst_f32, fabs(o1[r * ldo + c] - o2[r * ldo + c]));
                if (pad > len) {
                    memcpy(KU + t0, ku_save, sizeof ku_save);
                    memcpy(VQ + t0, vq_save, sizeof vq_save);
                    memcpy(ks + len / 32 * 32, ks_save, sizeof ks_save);
                    memcpy(vs + len / 32 * 32, vs_save, sizeof vs_save);
                }
            }
        printf("# int8 products vs f32 products on the int8 window: outputs at most %.4f apart (values in [-1, 1]); "
               "%d cases, %d probability bytes one apart\n", worst_f32, cases, flips);
        CHECKF(worst_f32 < 0.03, "int8 vs f32 products %g", worst_f32);
        CHECK(bad == 0);
        CHECK(!wh_kernels_vnni() || cases >= 2 * 6 * 9);
        free(KU); free(VQ); free(KT); free(V8); free(ks); free(vs); free(q); free(S1); free(S2); free(o1); free(o2);
        free(sc1); free(sc2);
    }
}

static void test_activation_quantizers(void)
{
    TEST("activation quantizers (AVX2 plain and pair-bounded; AVX-512 four blocks at a time) equal the reference "
         "for K 32 .. 1504 (whole groups of four and the blocks left over, zero blocks, an offset row stride); "
         "the pair-bounded scale stays finite where a pair's sum overflows") {
        const int Ks[5] = {32, 256, 544, 1024, 1504}, M = 3, lda = 1504 + 7;
        float *A = malloc(sizeof(float) * (size_t)M * lda);
        int8_t *q1 = malloc((size_t)M * 1504), *q2 = malloc((size_t)M * 1504);
        float d1[3 * 47], d2[3 * 47];
        int32_t c1[3 * 47], c2[3 * 47];
        float s1[3 * 47], s2[3 * 47];
        int bad = 0;
        for (int i = 0; i < M * lda; i++) A[i] = frand() * (i % 89 == 0 ? 40.0f : 1.0f) * (i / 32 % 11 == 3 ? 0.0f : 1.0f);
        for (int ki = 0; ki < 5; ki++) {
            const int K = Ks[ki], nb = K / 32;
            for (int impl = 0; impl < 3; impl++) {   /* AVX2, AVX2 pair-bounded, AVX-512 */
                if (impl < 2 ? wh_kernels_best() < WH_ISA_AVX2 : !wh_kernels_vnni()) continue;
                wh_qx_quant_ref(M, K, A, lda, impl == 1, q1, d1, c1, s1);
                memset(q2, 0x5a, (size_t)M * K);
                if (impl == 2) wh_qx_quant_avx512(M, K, A, lda, q2, d2, c2, s2);
                else wh_qx_quant_avx2(M, K, A, lda, impl == 1, q2, d2, c2, s2);
                if ((memcmp(q1, q2, (size_t)M * K) || memcmp(d1, d2, sizeof(float) * (size_t)(M * nb)) ||
                     memcmp(c1, c2, sizeof(int32_t) * (size_t)(M * nb)) ||
                     memcmp(s1, s2, sizeof(float) * (size_t)(M * nb))) && bad++ < 3)
                    CHECKF(0, "%s quantizer, K %d: differs from the reference",
                           impl == 2 ? "AVX-512" : impl ? "AVX2 with pair-bounded q8_0" : "AVX2", K);
            }
        }
        CHECK(bad == 0);
        /* pairs whose |x| sum overflows a float (x ~ 2e38): the pair-bounded scale stays finite,
         * pairs within 128, both quantizers alike (the sums had overflowed: d = inf, all NaN) */
        for (int i = 0; i < 32; i++) A[i] = (i & 1 ? -2e38f : 2e38f) * (i % 6 == 0 ? 0.5f : 1.0f);
        int over = 0;
        for (int impl = 0; impl < 2 && wh_kernels_best() >= WH_ISA_AVX2; impl++) {
            if (impl) wh_qx_quant_avx2(1, 32, A, 32, 1, q1, d1, c1, s1);
            else wh_qx_quant_ref(1, 32, A, 32, 1, q1, d1, c1, s1);
            for (int i = 0; i < 32; i += 2) over += abs(q1[i]) + abs(q1[i + 1]) > 128;
            CHECKF(isfinite(d1[0]) && d1[0] > 0 && over == 0,
                   "%s pair-bounded quantizer on 2e38: d %g, %d pairs over 128", impl ? "AVX2" : "reference",
                   (double)d1[0], over);
        }
        free(A); free(q1); free(q2);
    }
}

static void test_i8_rows(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("wh_i8_rows (the window's K/V, eight rows' scales at once) gives wh_i8_row's bytes and scale for every "
         "row at every level, R 1..33, n 32, 64, 67, a zero row") {
        const int ns[3] = {32, 64, 67}, Rs[6] = {1, 7, 8, 9, 17, 33}, ldx = 70, ldq = 71;
        float *x = malloc(sizeof(float) * 33 * ldx), d1[33], d2[33];
        int8_t *q1 = malloc(33 * ldq), *q2 = malloc(33 * ldq);
        int bad = 0;
        for (int i = 0; i < 33 * ldx; i++) x[i] = frand() * (float)(1 + i % 5) * (i % 37 ? 1.0f : 30.0f);
        for (int i = 0; i < ldx; i++) x[3 * ldx + i] = 0.0f;   /* row 3: scale 0, every byte 0 */
        for (int ni = 0; ni < 3; ni++)
            for (int ri = 0; ri < 6; ri++) {
                const int n = ns[ni], R = Rs[ri];
                wh_kernels_force(WH_ISA_SCALAR);
                memset(q1, 0x5a, 33 * ldq);
                for (int r = 0; r < R; r++) d1[r] = wh_i8_row(x + (size_t)r * ldx, n, q1 + (size_t)r * ldq);
                for (int ii = 0; ii < n_isas; ii++) {
                    wh_kernels_force(isas[ii]);
                    memset(q2, 0x5a, 33 * ldq);
                    wh_i8_rows(R, n, x, (size_t)ldx, q2, (size_t)ldq, d2);
                    if ((memcmp(q1, q2, 33 * ldq) || memcmp(d1, d2, sizeof(float) * (size_t)R)) && bad++ < 3)
                        CHECKF(0, "%s R %d n %d: bytes or scales differ", wh_isa_name(isas[ii]), R, n);
                }
            }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(x); free(q1); free(q2);
    }
}

static void test_att8_queries(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("wh_att8_queries (the int8 cross-attention's two byte rows of each query) gives the scalar bytes, scales "
         "and sums at every level, R 1..9, a zero row, rows of every magnitude") {
        const size_t ldq = 64 + 3;
        float *q = malloc(sizeof(float) * 9 * ldq);
        const size_t scr = wh_attend_q8_scratch(9, 32);
        void *s1 = aligned_alloc(64, (scr + 63) & ~(size_t)63), *s2 = aligned_alloc(64, (scr + 63) & ~(size_t)63);
        int bad = 0;
        for (size_t i = 0; i < 9 * ldq; i++) q[i] = frand() * (float)(1 + i % 7) * (i % 29 ? 1.0f : 40.0f);
        for (int i = 0; i < 64; i++) q[4 * ldq + (size_t)i] = 0.0f;                          /* row 4: scale 0 */
        for (int i = 0; i < 64; i++) q[6 * ldq + (size_t)i] = (float)(i - 32) * (1.0f / 127.0f);   /* h exact, l 0 */
        for (int R = 1; R <= 9; R++) {
            wh_kernels_force(WH_ISA_SCALAR);
            memset(s1, 0x5a, scr);
            const wh_att8_parts a1 = wh_att8_split(R, 32, s1);
            wh_att8_queries(R, q, ldq, &a1);
            for (int ii = 0; ii < n_isas; ii++) {
                wh_kernels_force(isas[ii]);
                memset(s2, 0x5a, scr);
                const wh_att8_parts a2 = wh_att8_split(R, 32, s2);
                wh_att8_queries(R, q, ldq, &a2);
                const size_t r = (size_t)R;
                if ((memcmp(a1.qh, a2.qh, r * 64) || memcmp(a1.ql, a2.ql, r * 64) || memcmp(a1.dq, a2.dq, r * 4) ||
                     memcmp(a1.ch, a2.ch, r * 4) || memcmp(a1.cl, a2.cl, r * 4)) && bad++ < 3)
                    CHECKF(0, "%s R %d: the query bytes, scales or sums differ", wh_isa_name(isas[ii]), R);
            }
        }
        wh_kernels_force(best);
        CHECK(bad == 0);
        free(q); free(s1); free(s2);
    }
}

static void test_qx8_pack_f32(wh_isa best, const wh_isa *isas, int n_isas)
{
    TEST("run-time int8 operands (the encoder attention's K and V transposed): wh_qx8_pack_f32 gives the same bytes "
         "at every level, from rows or strided columns, zeros past kvalid; each 32-block is wh_i8_row's") {
        const int N = 48, K = 96, ldx = K + 5, ldt = N + 3;
        float *x = malloc(sizeof(float) * (size_t)N * ldx), *xt = malloc(sizeof(float) * (size_t)K * ldt);
        float *row = malloc(sizeof(float) * (size_t)K);
        const size_t bytes = wh_qx_bytes(WH_Q8X, N, K);
        uint8_t *p1 = aligned_alloc(64, (bytes + 63) & ~(size_t)63), *p2 = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < K; k++) {
                /* rows of different magnitudes; row 5's second block all zero (scale 0) */
                const float v = r == 5 && k >= 32 && k < 64 ? 0.0f : frand() * (float)(1 + r % 7) * (k % 29 ? 1.0f : 9.0f);
                x[(size_t)r * ldx + k] = v;
                xt[(size_t)k * ldt + r] = v;
            }
        int bad = 0;
        const int kvalids[3] = {K, 70, 0};
        for (int kv = 0; kv < 3; kv++) {
            const int kvalid = kvalids[kv];
            wh_kernels_force(WH_ISA_SCALAR);
            wh_qx8_pack_f32(N, K, x, (size_t)ldx, 1, kvalid, p1);
            for (int ii = 0; ii < n_isas; ii++) {
                wh_kernels_force(isas[ii]);
                memset(p2, 0x5a, bytes);
                wh_qx8_pack_f32(N, K, x, (size_t)ldx, 1, kvalid, p2);
                if (memcmp(p1, p2, bytes) && bad++ < 3) CHECKF(0, "%s rows, kvalid %d: bytes differ", wh_isa_name(isas[ii]), kvalid);
                memset(p2, 0x5a, bytes);
                wh_qx8_pack_f32(N, K, xt, 1, (size_t)ldt, kvalid, p2);
                if (memcmp(p1, p2, bytes) && bad++ < 3) CHECKF(0, "%s columns, kvalid %d: bytes differ", wh_isa_name(isas[ii]), kvalid);
            }
            wh_kernels_force(best);
            /* each block: wh_i8_row's values (+128) and its scale as f16, read back through the
             * repacked type's own dequantization */
            const wh_wmat w = {p1, WH_Q8X, K, wh_row_bytes(WH_Q8_0, K)};
            for (int r = 0; r < N; r++) {
                wh_wmat_row(&w, r, row);
                for (int b = 0; b < K / 32; b++) {
                    float blk[32];
                    int8_t q[32];
                    for (int i = 0; i < 32; i++) blk[i] = 32 * b + i < kvalid ? x[(size_t)r * ldx + 32 * b + i] : 0.0f;
                    const float d32 = wh_i8_row(blk, 32, q), d = wh_f16_to_f32(wh_f32_to_f16(d32));
                    for (int i = 0; i < 32; i++)
                        if (row[32 * b + i] != (float)q[i] * d && bad++ < 3)
                            CHECKF(0, "kvalid %d row %d element %d: %g, want %g", kvalid, r, 32 * b + i, row[32 * b + i], (float)q[i] * d);
                    for (int i = 0; i < 32; i++)   /* within half a step, plus the f16 scale's rounding */
                        if (fabsf(row[32 * b + i] - blk[i]) > 1.0001f * (0.5f * d32 + fabsf((float)q[i]) * fabsf(d - d32)) &&
                            bad++ < 3)
                            CHECKF(0, "kvalid %d row %d element %d: %g vs %g", kvalid, r, 32 * b + i, row[32 * b + i], blk[i]);
                }
            }
        }
        CHECK(bad == 0);
        free(x); free(xt); free(row); free(p1); free(p2);
    }
}

static void test_thread_pool(void)
{
    TEST("thread pool runs every chunk exactly once, for 2000 jobs of 1..64 chunks, and shuts down") {
        for (int nt = 1; nt <= 4; nt++) {
            wh_pool *p = wh_pool_new(nt);
            CHECK(p != NULL && wh_pool_size(p) == nt);
            pool_arg a;
            memset(&a, 0, sizeof a);
            long want = 0;
            for (int i = 0; i < 2000; i++) {
                int chunks = 1 + i % 64;
                wh_pool_run(p, pool_task, &a, chunks);
                want += chunks;
            }
            CHECK(atomic_load(&a.hits) == want);
            /* chunk c ran once in every job that had more than c chunks */
            for (int c = 0; c < 64; c++) {
                int expect = 0;
                for (int i = 0; i < 2000; i++) expect += (1 + i % 64) > c;
                CHECKF(atomic_load(&a.counts[c]) == expect, "chunk %d ran %d times, expected %d", c, atomic_load(&a.counts[c]), expect);
            }
            wh_pool_free(p);
        }
        wh_pool_free(NULL);
    }
}

int main(void)
{
    wh_kernels_init();
    const wh_isa best = wh_kernels_best();
    int have_avx2 = best >= WH_ISA_AVX2;
    printf("# kernels available: %s\n", wh_isa_name(best));
    test_f16_conversion(have_avx2);
    test_softmax_rows(best);
    test_row_scans(best);
    test_scale_add_rows(best);
    test_to_f16_t(best);
    test_ukernels(best);

    /* every dispatch level this CPU has, each forced in turn */
    wh_isa isas[3] = {WH_ISA_SCALAR, WH_ISA_AVX2, WH_ISA_AVX512};
    const int n_isas = 1 + (int)best;
    test_gemm_every_type(isas, n_isas);
    test_dequant_avx2(have_avx2);
    test_gemv(best, isas, n_isas);
    test_quant_gemm_vs_f32(best);
    test_vnni_detection(best);
    test_qx_int8();
    test_avx2_elementwise(have_avx2, best, isas, n_isas);
    test_decoder_attention(have_avx2, best);
    test_packed_b_gemm(best, isas, n_isas);
    test_gemm_f16_unaligned(best, isas, n_isas);
    test_row_split_gemm(best, isas, n_isas);
    test_q8_0_row_quantizer(have_avx2);
    test_qx_tall_products(best, isas, n_isas);
    test_amx_bf16();
    test_fused_mlp(best, isas, n_isas);
    test_gemm_layernorm(best, isas, n_isas);
    test_layernorm(best, isas, n_isas);
    test_logsumexp(best, isas, n_isas);
    test_cross_attention_rows(best, isas, n_isas);
    test_int8_cross_kv(best, isas, n_isas);
    test_q8_cross_attention(best);
    test_activation_quantizers();
    test_i8_rows(best, isas, n_isas);
    test_att8_queries(best, isas, n_isas);
    test_qx8_pack_f32(best, isas, n_isas);
    test_thread_pool();
    TEST_EXIT();
}
