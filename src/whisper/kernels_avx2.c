/* kernels_avx2.c — AVX2/FMA/F16C versions of the hot kernels (compiled with -mavx2 -mfma
 * -mf16c; only called after kernels.c's runtime check). Each mirrors a scalar reference in
 * kernels.c and is tested against it. */
#include "fp16.h"
#include "kernels.h"
#include "model.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* C[mr][16] (+)= A[mr][kc] · Bp[kc][16]; mr <= 6: per k 2 loads of B, mr broadcasts of A,
 * 2·mr FMAs, 2·mr·16·kc flops. By hand, one function per row count (ukernel6_avx2.S, which
 * says why and what it measured; its lda and ldc are in bytes). Written in C, two k a trip and a full
 * tile stored without spilling its twelve registers, it had reached 90-91 % of the FMA peak
 * hot in L1 (86-87 % when it spilled; four k a trip by #pragma unroll: 88-89 %) on an Intel
 * Xeon (Emerald Rapids) slice, and base f16's 3 s clip under --isa avx2 (2 threads) 84-85 ms.
 * Packing A as well did not pay: interleaved by six the hot kernel measured level, and a copy
 * of each sweep's rows took a product of base's shape from 82 to 78 GFLOP/s. */
#define UK_ASM(r) void wh_uk##r##x16_avx2(int kc, const float *A, long lda_bytes, const float *Bp, float *C, \
                                          long ldc_bytes, int accumulate)
UK_ASM(6); UK_ASM(5); UK_ASM(4); UK_ASM(3); UK_ASM(2); UK_ASM(1);
#undef UK_ASM

void wh_ukernel_avx2(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int accumulate)
{
    static void (*const tile[7])(int, const float *, long, const float *, float *, long, int) = {
        NULL, wh_uk1x16_avx2, wh_uk2x16_avx2, wh_uk3x16_avx2, wh_uk4x16_avx2, wh_uk5x16_avx2, wh_uk6x16_avx2};
    if (mr >= 1 && mr <= 6) tile[mr](kc, A, (long)lda * 4, Bp, C, (long)ldc * 4, accumulate);
}

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1))));
}

static inline float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* out[0..3] = hsum(a), hsum(b), hsum(c), hsum(d): one hadd tree for the four */
static inline void hsum4(__m256 a, __m256 b, __m256 c, __m256 d, float *out)
{
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

float wh_dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

float wh_dot_f16_avx2(const float *a, const uint16_t *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8))), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * _cvtsh_ss(b[i]);
    return s;
}

void wh_axpy_f16_avx2(float *y, float a, const uint16_t *x, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * _cvtsh_ss(x[i]);
}

void wh_to_f16_avx2(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = (uint16_t)_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

void wh_axpy_avx2(float *y, float a, const float *x, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

void wh_scale_avx2(float *y, float a, const float *x, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = a * x[i];
}

void wh_add_rows_avx2(float *y, size_t ldy, int rows, const float *b, int n)
{
    for (int r = 0; r < rows; r++, y += ldy) {
        int i = 0;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(b + i)));
        for (; i < n; i++) y[i] += b[i];
    }
}

void wh_f16_rows16_avx2(const uint16_t *x, size_t ld, int rows, float *y)
{
    for (int r = 0; r < rows; r++, x += ld, y += 16) {
        _mm256_storeu_ps(y, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x)));
        _mm256_storeu_ps(y + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8))));
    }
}

void wh_f16_row_avx2(const uint16_t *h, float *out, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) out[i] = _cvtsh_ss(h[i]);
}

#define E_VEC __m256
#define E_SET1(x) _mm256_set1_ps(x)
#define E_MUL(a, b) _mm256_mul_ps(a, b)
#define E_ADD(a, b) _mm256_add_ps(a, b)
#define E_SUB(a, b) _mm256_sub_ps(a, b)
#define E_RECIP(v) _mm256_div_ps(_mm256_set1_ps(1.0f), v)
#define E_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define E_FNMA(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define E_MIN(a, b) _mm256_min_ps(a, b)
#define E_MAX(a, b) _mm256_max_ps(a, b)
#define E_ROUND(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define E_ABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v)
#define E_LDEXP_ABOVE(x, lo, y, fx)                                                                  \
    _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ),                                               \
                     _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(                         \
                                          _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23))))
#define E_EXP exp256
#define E_GELU gelu256
#define E_EXPM expm256
#include "exp_tmpl.h"

void wh_exp_avx2(float *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = expf(x[i]);
}

/* wh_max (and the softmax's and log-sum-exp's maximum): vmaxps returns its second operand
 * when either is NaN, so the running max goes second and a NaN element leaves it as it was
 * (the scalar loop's x > m is false for NaN) */
float wh_max_avx2(const float *x, int n)
{
    __m256 v0 = _mm256_set1_ps(-INFINITY), v1 = v0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        v0 = _mm256_max_ps(_mm256_loadu_ps(x + i), v0);
        v1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), v1);
    }
    for (; i + 8 <= n; i += 8) v0 = _mm256_max_ps(_mm256_loadu_ps(x + i), v0);
    float m = hmax(_mm256_max_ps(v0, v1));   /* neither holds a NaN */
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* a bit per lane of v >= t (ge) or v > t, ordered (a NaN never sets one) */
static inline unsigned above_mask(__m256 v, __m256 t, int ge)
{
    return (unsigned)_mm256_movemask_ps(ge ? _mm256_cmp_ps(v, t, _CMP_GE_OQ) : _mm256_cmp_ps(v, t, _CMP_GT_OQ));
}

/* wh_find_gt / wh_find_ge: 16 compares a step */
int wh_find_avx2(const float *x, int n, float t, int ge)
{
    const __m256 vt = _mm256_set1_ps(t);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const unsigned mk = above_mask(_mm256_loadu_ps(x + i), vt, ge) | above_mask(_mm256_loadu_ps(x + i + 8), vt, ge) << 8;
        if (mk) return i + __builtin_ctz(mk);
    }
    for (; i < n; i++)
        if (ge ? x[i] >= t : x[i] > t) return i;
    return n;
}

/* log Σ exp(x[i]) over a vocabulary row: f32 exponentials 8 at a time, summed in f32 over
 * blocks of 1024 and the blocks in double (the search's log-probabilities; the scalar
 * version's 51865 double exp() calls per row were a sixth of a greedy step's search) */
float wh_logsumexp_avx2(const float *x, int n)
{
    const float mx = wh_max_avx2(x, n);
    if (mx == -INFINITY) return -INFINITY;
    /* e^(x − mx) as the softmax's expm256 (as the AVX-512 code: 2.4e-7 relative where the
     * sum's terms are) into two sums: a 51865-logit row 24.7-25.9 -> 19.7-20.3 µs */
    const __m256 nml = _mm256_set1_ps(-(mx * 1.44269504088896341f));
    double tot = 0;
    int i = 0;
    while (i + 8 <= n) {
        const int end = n - i > 1024 ? i + 1024 : n;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (; i + 16 <= end; i += 16) {
            a0 = _mm256_add_ps(a0, expm256(_mm256_loadu_ps(x + i), nml));
            a1 = _mm256_add_ps(a1, expm256(_mm256_loadu_ps(x + i + 8), nml));
        }
        for (; i + 8 <= end; i += 8) a0 = _mm256_add_ps(a0, expm256(_mm256_loadu_ps(x + i), nml));
        tot += hsum(_mm256_add_ps(a0, a1));
    }
    for (; i < n; i++) tot += exp((double)(x[i] - mx));
    return mx + (float)log(tot);
}

/* x[i] = exp(x[i] - max x), returns the sum (the softmax without its normalisation): the
 * exponentials by expm256 (exp_tmpl.h), two vectors at a time into two sums */
float wh_softmax_unnorm_avx2(float *x, int n)
{
    const float mx = wh_max_avx2(x, n), nmlf = -(mx * 1.44269504088896341f);
    const __m256 nml = _mm256_set1_ps(nmlf);
    __m256 vs0 = _mm256_setzero_ps(), vs1 = vs0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 e0 = expm256(_mm256_loadu_ps(x + i), nml), e1 = expm256(_mm256_loadu_ps(x + i + 8), nml);
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        vs0 = _mm256_add_ps(vs0, e0);
        vs1 = _mm256_add_ps(vs1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 e = expm256(_mm256_loadu_ps(x + i), nml);
        _mm256_storeu_ps(x + i, e);
        vs0 = _mm256_add_ps(vs0, e);
    }
    float s = hsum(_mm256_add_ps(vs0, vs1));
    for (; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
    return s;
}

void wh_softmax_avx2(float *x, int n)
{
    int i;
    const float s = wh_softmax_unnorm_avx2(x, n);
    const __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}

/* x = GELU(x + b) (exp_tmpl.h), b may be NULL: the MLP's bias added in the same pass */
void wh_gelu_bias_avx2(float *x, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(x + i, gelu256(v));
    }
    for (; i < n; i++) {
        const float v = b ? x[i] + b[i] : x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

/* ------------------------------------------------------------------ quantized rows
 * Exact dequantization of ggml blocks of 32 (docs/model-format.md), 8 lanes at a time; the
 * same values as wh_dequant_row_ref, so the GEMM tests compare both against one reference.
 * Elements j and j+16 share byte j of the nibbles (low and high half). */

static inline __m256 bytes8_to_ps(__m128i b)   /* 8 unsigned bytes (low half) -> floats */
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

static inline float f16le(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

void wh_dequant_row_avx2(int type, const void *row, float *out, long k0, long n)
{
    const uint8_t *base = row;
    const size_t bs = wh_type_size(type);
    for (long blk = k0 / 32; blk < (k0 + n) / 32; blk++, out += 32) {
        const uint8_t *p = base + (size_t)blk * bs;
        const __m256 d = _mm256_set1_ps(f16le(p));
        if (type == WH_Q8_0) {
            for (int g = 0; g < 4; g++) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(p + 2 + 8 * g));
                _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
            }
            continue;
        }
        const int has_m = type == WH_Q4_1 || type == WH_Q5_1;
        const __m256 m = has_m ? _mm256_set1_ps(f16le(p + 2)) : _mm256_setzero_ps();
        const int is5 = type == WH_Q5_0 || type == WH_Q5_1;
        const uint8_t *qs = p + 2 + (has_m ? 2 : 0) + (is5 ? 4 : 0);
        uint32_t qh = 0;
        if (is5) {
            const uint8_t *h = p + 2 + (has_m ? 2 : 0);
            qh = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        }
        /* zero point: q4_0 8, q5_0 16, the _1 types use d·q + m */
        const __m256 zp = _mm256_set1_ps(has_m ? 0.0f : is5 ? 16.0f : 8.0f);
        const __m128i lo_mask = _mm_set1_epi8(0x0f);
        const __m128i all = _mm_loadu_si128((const __m128i *)qs);
        const __m128i lo = _mm_and_si128(all, lo_mask), hi = _mm_and_si128(_mm_srli_epi16(all, 4), lo_mask);
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (int g = 0; g < 4; g++) {   /* g 0,1: elements 0..15 (low nibbles); 2,3: 16..31 */
            __m128i src = g < 2 ? lo : hi;
            if (g & 1) src = _mm_srli_si128(src, 8);
            __m256 q = bytes8_to_ps(src);
            if (is5) {   /* 5th bit of element e = bit e of qh */
                const int e0 = 8 * g;
                __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)qh), _mm256_add_epi32(lane, _mm256_set1_epi32(e0))),
                                                _mm256_set1_epi32(1));
                q = _mm256_add_ps(q, _mm256_cvtepi32_ps(_mm256_slli_epi32(bits, 4)));
            }
            __m256 v = has_m ? _mm256_fmadd_ps(q, d, m) : _mm256_mul_ps(_mm256_sub_ps(q, zp), d);
            _mm256_storeu_ps(out + 8 * g, v);
        }
    }
}

/* CTranslate2 int8 rows: q / scale with a true division (vdivps rounds correctly, like the
 * scalar '/'), so the values are bit-identical to wh_dequant_row_ref. */
void wh_i8r_row_avx2(const void *row, float *out, long k0, long n)
{
    const uint8_t *b = row;
    float scale;
    memcpy(&scale, b, 4);
    const int8_t *q = (const int8_t *)(b + 4) + k0;
    const __m256 s = _mm256_set1_ps(scale);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i v = _mm_loadl_epi64((const __m128i *)(q + i));
        _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), s));
    }
    for (; i < n; i++) out[i] = (float)q[i] / scale;
}

/* ------------------------------------------------------------------ LayerNorm
 * One row, statistics in double as the scalar version (4 double lanes, floats widened on
 * the way), normalisation in f32 with the same operation order (mul, mul, add: no FMA
 * contraction, like the scalar C). */
void wh_layernorm_row_avx2(const float *x, float *y, int n, const float *w, const float *b)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double t[4], s = 0, s2 = 0;
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += x[i];
    const double mean = s / n;
    const __m256d vm = _mm256_set1_pd(mean);
    s0 = s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm);
        const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm);
        s0 = _mm256_add_pd(s0, _mm256_mul_pd(d0, d0));
        s1 = _mm256_add_pd(s1, _mm256_mul_pd(d1, d1));
    }
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    s2 = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) { const double d = x[i] - mean; s2 += d * d; }
    const float inv = (float)(1.0 / sqrt(s2 / n + 1e-5)), fm = (float)mean;
    const __m256 vinv = _mm256_set1_ps(inv), vfm = _mm256_set1_ps(fm);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vfm), vinv), _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(y + i, _mm256_add_ps(v, _mm256_loadu_ps(b + i)));
    }
    for (; i < n; i++) y[i] = (x[i] - fm) * inv * w[i] + b[i];
}

/* ------------------------------------------------------------------ GEMM packing
 * Bp[k][16] from 16 rows: two 8×8 blocks per 8 k, transposed in registers (unpack, shuffle,
 * lane permute). The scalar gather it replaces was a tenth of the encoder: attention
 * re-packs each head's K and Vᵀ (K = 64 / N = 64) for every block of queries. */
/* 8 rows of 8 (a0..a7: elements 0..7 of one row each) transposed in registers (unpack,
 * shuffle, lane permute): declares o0..o7, element i of every row in oi. A macro, not a
 * function over arrays: through arrays GCC 12 spilled the eight rows (15 -> 33 stack
 * references in wh_pack16_avx2). */
#define TR8(a0, a1, a2, a3, a4, a5, a6, a7)                                                          \
    const __m256 t0_ = _mm256_unpacklo_ps(a0, a1), t1_ = _mm256_unpackhi_ps(a0, a1);                 \
    const __m256 t2_ = _mm256_unpacklo_ps(a2, a3), t3_ = _mm256_unpackhi_ps(a2, a3);                 \
    const __m256 t4_ = _mm256_unpacklo_ps(a4, a5), t5_ = _mm256_unpackhi_ps(a4, a5);                 \
    const __m256 t6_ = _mm256_unpacklo_ps(a6, a7), t7_ = _mm256_unpackhi_ps(a6, a7);                 \
    const __m256 u0_ = _mm256_shuffle_ps(t0_, t2_, _MM_SHUFFLE(1, 0, 1, 0));                         \
    const __m256 u1_ = _mm256_shuffle_ps(t0_, t2_, _MM_SHUFFLE(3, 2, 3, 2));                         \
    const __m256 u2_ = _mm256_shuffle_ps(t1_, t3_, _MM_SHUFFLE(1, 0, 1, 0));                         \
    const __m256 u3_ = _mm256_shuffle_ps(t1_, t3_, _MM_SHUFFLE(3, 2, 3, 2));                         \
    const __m256 u4_ = _mm256_shuffle_ps(t4_, t6_, _MM_SHUFFLE(1, 0, 1, 0));                         \
    const __m256 u5_ = _mm256_shuffle_ps(t4_, t6_, _MM_SHUFFLE(3, 2, 3, 2));                         \
    const __m256 u6_ = _mm256_shuffle_ps(t5_, t7_, _MM_SHUFFLE(1, 0, 1, 0));                         \
    const __m256 u7_ = _mm256_shuffle_ps(t5_, t7_, _MM_SHUFFLE(3, 2, 3, 2));                         \
    const __m256 o0 = _mm256_permute2f128_ps(u0_, u4_, 0x20), o1 = _mm256_permute2f128_ps(u1_, u5_, 0x20); \
    const __m256 o2 = _mm256_permute2f128_ps(u2_, u6_, 0x20), o3 = _mm256_permute2f128_ps(u3_, u7_, 0x20); \
    const __m256 o4 = _mm256_permute2f128_ps(u0_, u4_, 0x31), o5 = _mm256_permute2f128_ps(u1_, u5_, 0x31); \
    const __m256 o6 = _mm256_permute2f128_ps(u2_, u6_, 0x31), o7 = _mm256_permute2f128_ps(u3_, u7_, 0x31)

/* 8 rows of 8 (r0..r7, each k .. k+7 of one row) transposed into Bp's k-major layout at d
 * (d[i·16 + j] = row j, element i) */
static inline void tr8_store(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 r6, __m256 r7,
                             float *d)
{
    TR8(r0, r1, r2, r3, r4, r5, r6, r7);
    _mm256_storeu_ps(d + 0 * 16, o0);
    _mm256_storeu_ps(d + 1 * 16, o1);
    _mm256_storeu_ps(d + 2 * 16, o2);
    _mm256_storeu_ps(d + 3 * 16, o3);
    _mm256_storeu_ps(d + 4 * 16, o4);
    _mm256_storeu_ps(d + 5 * 16, o5);
    _mm256_storeu_ps(d + 6 * 16, o6);
    _mm256_storeu_ps(d + 7 * 16, o7);
}

/* y[c·ldy + r] = f16(x[r·ldx + c]), r < rows, c < cols: 8 × 8 blocks transposed in registers
 * and converted as they are stored (the encoder's cross-attention key tiles: 32 positions ×
 * 64 dimensions of a head per tile, where a gather of 32 floats per dimension had been a
 * tenth of the cross K/V phase); the ragged rows and columns one at a time */
void wh_to_f16_t_avx2(const float *x, size_t ldx, int rows, int cols, uint16_t *y, size_t ldy)
{
    const int r8 = rows & ~7, c8 = cols & ~7;
    for (int r0 = 0; r0 < r8; r0 += 8)
        for (int c0 = 0; c0 < c8; c0 += 8) {
            const float *p = x + (size_t)r0 * ldx + c0;
            const __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + ldx), a2 = _mm256_loadu_ps(p + 2 * ldx),
                         a3 = _mm256_loadu_ps(p + 3 * ldx), a4 = _mm256_loadu_ps(p + 4 * ldx),
                         a5 = _mm256_loadu_ps(p + 5 * ldx), a6 = _mm256_loadu_ps(p + 6 * ldx),
                         a7 = _mm256_loadu_ps(p + 7 * ldx);
            TR8(a0, a1, a2, a3, a4, a5, a6, a7);
            uint16_t *q = y + (size_t)c0 * ldy + r0;
#define TF16_ST(i, v) _mm_storeu_si128((__m128i *)(q + (size_t)(i) * ldy), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
            TF16_ST(0, o0);
            TF16_ST(1, o1);
            TF16_ST(2, o2);
            TF16_ST(3, o3);
            TF16_ST(4, o4);
            TF16_ST(5, o5);
            TF16_ST(6, o6);
            TF16_ST(7, o7);
#undef TF16_ST
        }
    for (int r = 0; r < rows; r++)
        for (int c = r < r8 ? c8 : 0; c < cols; c++)
            y[(size_t)c * ldy + r] = (uint16_t)_cvtss_sh(x[(size_t)r * ldx + c], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#undef TR8

void wh_pack16_avx2(const float *rows, size_t ld, int kc, float *Bp)
{
    int k = 0;
    for (; k + 8 <= kc; k += 8)
        for (int jb = 0; jb < 16; jb += 8) {
            const float *r = rows + (size_t)jb * ld + k;
            tr8_store(_mm256_loadu_ps(r), _mm256_loadu_ps(r + ld), _mm256_loadu_ps(r + 2 * ld), _mm256_loadu_ps(r + 3 * ld),
                      _mm256_loadu_ps(r + 4 * ld), _mm256_loadu_ps(r + 5 * ld), _mm256_loadu_ps(r + 6 * ld),
                      _mm256_loadu_ps(r + 7 * ld), Bp + (size_t)k * 16 + jb);
        }
    for (; k < kc; k++)
        for (int j = 0; j < 16; j++) Bp[(size_t)k * 16 + j] = rows[(size_t)j * ld + k];
}

/* The same from f16 rows (the encoder's weights), converted as they are loaded: no staging
 * of 16 converted rows in L1. Any alignment (whisper.cpp's ggml files do not align tensor
 * data): byte addresses, unaligned loads, memcpy in the tail. */
#define H8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
void wh_pack16_f16_avx2(const void *rows, size_t ld, int kc, float *Bp)
{
    const uint8_t *b = rows;
    const size_t st = 2 * ld;   /* bytes between rows */
    int k = 0;
    for (; k + 8 <= kc; k += 8)
        for (int jb = 0; jb < 16; jb += 8) {
            const uint8_t *r = b + (size_t)jb * st + 2 * (size_t)k;
            tr8_store(H8(r), H8(r + st), H8(r + 2 * st), H8(r + 3 * st), H8(r + 4 * st), H8(r + 5 * st), H8(r + 6 * st),
                      H8(r + 7 * st), Bp + (size_t)k * 16 + jb);
        }
    for (; k < kc; k++)
        for (int j = 0; j < 16; j++) {
            uint16_t h;
            memcpy(&h, b + (size_t)j * st + 2 * (size_t)k, 2);
            Bp[(size_t)k * 16 + j] = _cvtsh_ss(h);
        }
}
#undef H8

/* ------------------------------------------------------------------ decoder attention
 * One query row against len cached positions of one head with dh = 64 (every Whisper size):
 * S[p] = q·K[p], S = softmax(S), o = Σ_p S[p] V[p]; K and V f16 rows of stride ld elements.
 * Why fused: with 64-element rows a call per position (dot, then axpy) spends more on the
 * call, the horizontal sum and reloading/storing o than on the 64 FMAs. Here q (8 ymm) and
 * o (8 ymm) stay in registers, and four positions' dot products are reduced together. */
#define KV8(ptr, c) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((ptr) + 8 * (c))))
/* S[p] = q·K[p] for len contiguous positions (ld apart) */
static inline __attribute__((always_inline)) void attend64_scores(const __m256 *qv, const uint16_t *K, size_t ld, int len, float *S)
{
    int p = 0;
    for (; p + 4 <= len; p += 4) {
        const uint16_t *k0 = K + (size_t)p * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        __m256 a0 = _mm256_mul_ps(qv[0], KV8(k0, 0)), a1 = _mm256_mul_ps(qv[0], KV8(k1, 0));
        __m256 a2 = _mm256_mul_ps(qv[0], KV8(k2, 0)), a3 = _mm256_mul_ps(qv[0], KV8(k3, 0));
        for (int c = 1; c < 8; c++) {
            a0 = _mm256_fmadd_ps(qv[c], KV8(k0, c), a0);
            a1 = _mm256_fmadd_ps(qv[c], KV8(k1, c), a1);
            a2 = _mm256_fmadd_ps(qv[c], KV8(k2, c), a2);
            a3 = _mm256_fmadd_ps(qv[c], KV8(k3, c), a3);
        }
        /* hadd tree: lanes [a0 a1 a2 a3] of the low half + the same of the high half */
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        _mm_storeu_ps(S + p, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
    for (; p < len; p++) {
        const uint16_t *k0 = K + (size_t)p * ld;
        __m256 a0 = _mm256_mul_ps(qv[0], KV8(k0, 0));
        for (int c = 1; c < 8; c++) a0 = _mm256_fmadd_ps(qv[c], KV8(k0, c), a0);
        S[p] = hsum(a0);
    }
}

/* positions in blocks of bs (wh_attend_f16_blocks): four at a time inside a block, the rest of
 * a block one at a time */
void wh_attend64_avx2(const float *q, const uint16_t *const *K, const uint16_t *const *V, int bs, size_t ld, int len,
                      float *S, float *o)
{
    __m256 qv[8];
    for (int c = 0; c < 8; c++) qv[c] = _mm256_loadu_ps(q + 8 * c);
    for (int b0 = 0; b0 < len; b0 += bs)
        attend64_scores(qv, K[b0 / bs], ld, len - b0 < bs ? len - b0 : bs, S + b0);
    wh_softmax_avx2(S, len);
    __m256 ov[8];
    for (int c = 0; c < 8; c++) ov[c] = _mm256_setzero_ps();
    for (int b0 = 0; b0 < len; b0 += bs) {
        const uint16_t *vb = V[b0 / bs];
        for (int p = 0, n = len - b0 < bs ? len - b0 : bs; p < n; p++) {
            const uint16_t *v0 = vb + (size_t)p * ld;
            const __m256 sp = _mm256_broadcast_ss(S + b0 + p);
            for (int c = 0; c < 8; c++) ov[c] = _mm256_fmadd_ps(sp, KV8(v0, c), ov[c]);
        }
    }
    for (int c = 0; c < 8; c++) _mm256_storeu_ps(o + 8 * c, ov[c]);
}

#undef KV8

/* ------------------------------------------------------------------ decoder GEMV (M < 8)
 * See gemv_tmpl.h. 16 ymm registers: R·M accumulators + R weight vectors + 1 activation. */
/* A q5_0/q5_1/q4_0/q4_1 block's 32 integers as int8 in element order, built once per block
 * (the template asks for it eight lanes at a time; the four calls of a block share this
 * after inlining): nibbles split and joined (q4_0: minus 8), then for the q5 types the fifth
 * bits spread to bytes (byte j of qh copied to bytes 8j..8j+7, each or-ed with all bits but
 * its own: 0xFF where the bit is set) and the nibble or-ed with 0xF0 (= nibble - 16) where it
 * is clear (q5_0), or with 0x10 where it is set (q5_1). Then as q8_0: sign-extend and
 * convert. Against the per-lane shift/and/or of qh for each eight: q5_0 at M = 1
 * 0.15-0.21 -> 0.12-0.15 ns/weight, M = 5 0.30 -> 0.25 (1 thread, L2-resident). */
static inline __m256i qn_bytes(int type, const uint8_t *qs, uint32_t qh)
{
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs), m = _mm_set1_epi8(0x0F);
    const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
    if (type == WH_Q4_0) return _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
    if (type == WH_Q4_1) return nib;
    __m256i t = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                    _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL));
    t = _mm256_or_si256(t, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
    const __m256i set = _mm256_cmpeq_epi8(t, _mm256_set1_epi64x(-1));
    if (type == WH_Q5_1) return _mm256_or_si256(nib, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
    return _mm256_or_si256(nib, _mm256_andnot_si256(set, _mm256_set1_epi8((char)0xF0)));
}

/* elements e0 .. e0+7 of the block whose nibbles start at qs */
static inline __m256 qn_8(int type, const uint8_t *qs, uint32_t qh, int e0)
{
    const __m256i v = qn_bytes(type, qs, qh);
    const __m128i h = (e0 & 16) ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32((e0 & 8) ? _mm_unpackhi_epi64(h, h) : h));
}

#define VEC __m256
#define VW 8
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VHSUM(v) hsum(v)
#define VHSUM4(a, b, c, d, out) hsum4(a, b, c, d, out)
#define VF16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define VI8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define VQ(type, qs, qh, e0) qn_8(type, qs, qh, e0)
/* One row at a time, but f16 at M = 5: with R rows from far-apart streams (as the AVX-512
 * path reads them) at every M the --isa avx2 beam-5 step on the Zen 4 was slower (base f16
 * 6.3 -> 7.0-7.4 ms, tiny 2.9-3.4 -> 3.9-4.4 ms, bin/bench alternating; with the rows'
 * prefetch into L1 then): 16 registers leave little for R·M sums. The row's M sums get two
 * accumulator sets instead (GEMV_SETS, gemv_tmpl.h). Two rows at M = 5 for f16 alone, since
 * the prefetch goes into L2: base f16 beam-5 step 7.88 -> 7.39 and 8.18 -> 7.54 ms (step
 * harness, both kernels alternating in one process); at M = 3 4 % slower, M = 4 level, and on
 * the exact path's q8_0 and q5_1 at M = 5 10-11 % slower. */
#define RBLK(type, M) ((int)(type) == (int)WH_F16 && (M) == 5 ? 2 : 1)
#define GEMV_NAME wh_gemv_avx2
#include "gemv_tmpl.h"

/* wh_i8_row's bytes: the same amax, d, 1/d and product per element, rounded to nearest even
 * by vcvtps2dq as lrintf does; packed with saturation (|x·id| <= 127 never saturates) */
float wh_i8_row_avx2(const float *x, int n, int8_t *q)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    float amax = hmax(mx);
    for (int t = i; t < n; t++) amax = fmaxf(amax, fabsf(x[t]));
    const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vid));
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(void *)(q + i), _mm_packs_epi16(w, w));
    }
    for (; i < n; i++) q[i] = (int8_t)lrintf(x[i] * id);
    return d;
}

/* eight scales d = amax / 127 and their 1 / d (0 where d is), as wh_i8_row_avx2 computes one */
static inline __m256 i8_scales(__m256 amax, __m256 *id)
{
    const __m256 d = _mm256_div_ps(amax, _mm256_set1_ps(127.0f));
    *id = _mm256_and_ps(_mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_div_ps(_mm256_set1_ps(1.0f), d));
    return d;
}

/* wh_qx8_pack_f32 from columns (rs = 1: a group's 16 rows are 16 adjacent floats of each of
 * the block's 32 elements — the encoder's V_hᵀ): per block, the 16 rows' amax in two vectors,
 * then four elements at a time quantized (wh_i8_row_avx2's d, 1/d and rounding, so its bytes)
 * and interleaved into the layout's 64-byte vector (row r's four bytes at 4r) */
void wh_qx8_pack_t_avx2(int N, int K, const float *X, size_t ks, int kvalid, void *out)
{
    const int nb = K / 32, oq = wh_qx_off_q(WH_Q8X);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int g = 0; g < N / 16; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = (uint8_t *)out + wh_qx_block_off(WH_Q8X, nb, g, b);
            const int left = kvalid - 32 * b, nv = left < 0 ? 0 : left > 32 ? 32 : left;
            const float *x = X + 16 * (size_t)g + (size_t)(32 * b) * ks;
            __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
            for (int i = 0; i < nv; i++) {
                m0 = _mm256_max_ps(m0, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + (size_t)i * ks)));
                m1 = _mm256_max_ps(m1, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + (size_t)i * ks + 8)));
            }
            __m256 id0, id1;
            const __m256 d0 = i8_scales(m0, &id0), d1 = i8_scales(m1, &id1);
            _mm_storeu_si128((__m128i *)(void *)o, _mm256_cvtps_ph(d0, _MM_FROUND_TO_NEAREST_INT));
            _mm_storeu_si128((__m128i *)(void *)(o + 16), _mm256_cvtps_ph(d1, _MM_FROUND_TO_NEAREST_INT));
            for (int j = 0; j < 8; j++) {
                __m128i a[4];   /* elements 4j .. 4j+3: 16 bytes each, one per row */
                for (int t = 0; t < 4; t++) {
                    const int i = 4 * j + t;
                    if (i >= nv) { a[t] = _mm_setzero_si128(); continue; }
                    const float *xi = x + (size_t)i * ks;
                    const __m256i v0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xi), id0));
                    const __m256i v1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xi + 8), id1));
                    const __m128i w0 = _mm_packs_epi32(_mm256_castsi256_si128(v0), _mm256_extracti128_si256(v0, 1));
                    const __m128i w1 = _mm_packs_epi32(_mm256_castsi256_si128(v1), _mm256_extracti128_si256(v1, 1));
                    a[t] = _mm_packs_epi16(w0, w1);
                }
                const __m128i t0 = _mm_unpacklo_epi8(a[0], a[1]), t1 = _mm_unpackhi_epi8(a[0], a[1]);
                const __m128i t2 = _mm_unpacklo_epi8(a[2], a[3]), t3 = _mm_unpackhi_epi8(a[2], a[3]);
                uint8_t *v = o + oq + 64 * j;
                _mm_storeu_si128((__m128i *)(void *)v, _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), flip));
                _mm_storeu_si128((__m128i *)(void *)(v + 16), _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), flip));
                _mm_storeu_si128((__m128i *)(void *)(v + 32), _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), flip));
                _mm_storeu_si128((__m128i *)(void *)(v + 48), _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), flip));
            }
        }
}

/* ------------------------------------------------------------------ cross-attention rows
 * See attn_tmpl.h. 16 ymm: scores 2·ATT_RG accumulators + 2 keys + 1 broadcast; values
 * R·ATT_OVN(R) accumulators + the values + 1 broadcast. */
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define ATT_RG 5
/* 5 rows × 2 vectors (four sweeps over V), 2 × 4, 1 × 8 (one sweep) */
#define ATT_OVN(R) ((R) == 1 ? 8 : (R) == 2 ? 4 : 2)
#define ATT_OVMAX 8
#define ATT_SOFTMAX wh_softmax_avx2
#define ATT_NAME wh_attend_rows_avx2
#define ATT_NAME8 wh_attend_rows_i8_avx2
#include "attn_tmpl.h"

/* ------------------------------------------------------------------ quantized × int8 (AVX2)
 * See kernels.h: the activations' quantizer for every 256-bit kernel, then the GEMV of CPUs
 * without VNNI (qx256_tmpl.h, which says how it multiplies without vpdpbusd). */

/* lane-wise max |x| of four vectors, and (block_amax) of a 32-element block */
static inline __m256 amax4(__m256 x0, __m256 x1, __m256 x2, __m256 x3)
{
    const __m256 sgn = _mm256_set1_ps(-0.0f);
    return _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sgn, x0), _mm256_andnot_ps(sgn, x1)),
                         _mm256_max_ps(_mm256_andnot_ps(sgn, x2), _mm256_andnot_ps(sgn, x3)));
}
static inline float block_amax(__m256 x0, __m256 x1, __m256 x2, __m256 x3) { return hmax(amax4(x0, x1, x2, x3)); }

/* four vectors of int32 (each within ±127) as 32 bytes in element order: packs work per
 * 128-bit lane, dwords come out as q0 lo, q1 lo, q2 lo, q3 lo, q0 hi, ... */
static inline __m256i pack_q32(__m256i q0, __m256i q1, __m256i q2, __m256i q3)
{
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Eight vectors' horizontal maxima at once: lane i holds that of slot (0 2 4 6 1 3 5 7)[i], so
 * row r goes in slot R8_SLOT[r] — three levels of shuffles for eight serial reductions */
static const int R8_SLOT[8] = {0, 2, 4, 6, 1, 3, 5, 7};
static inline __m256 red8_max(__m256 *v)
{
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_max_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31));
    for (int k = 0; k < 2; k++)
        v[k] = _mm256_max_ps(_mm256_shuffle_ps(v[2 * k], v[2 * k + 1], 0x44), _mm256_shuffle_ps(v[2 * k], v[2 * k + 1], 0xEE));
    return _mm256_max_ps(_mm256_shuffle_ps(v[0], v[1], 0x88), _mm256_shuffle_ps(v[0], v[1], 0xDD));
}

/* r[i] dword j -> r[j] dword i */
static inline void tr8x8_epi32(__m256i *r)
{
    __m256i t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {   /* rows 4k .. 4k+3: columns 0/4, 1/5, 2/6, 3/7 */
        u[4 * k] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
        r[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
    }
}

/* wh_i8_row on R rows: eight rows' maxima reduced together and their d and 1/d divided as
 * one vector (red8_max), then each row converted — the bytes and scales of wh_i8_row_avx2
 * row by row, without its per-row chain of a horizontal maximum and two divisions (the
 * window's cross K/V: 24 000 rows of 64 per layer of base). n % 8 != 0 or the last R % 8
 * rows: row by row. */
void wh_i8_rows_avx2(int R, int n, const float *x, size_t ldx, int8_t *q, size_t ldq, float *d)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int r0 = 0;
    for (; n % 8 == 0 && r0 + 8 <= R; r0 += 8) {
        __m256 m[8];
        for (int r = 0; r < 8; r++) {
            const float *xr = x + (size_t)(r0 + r) * ldx;
            __m256 mx = _mm256_setzero_ps();
            for (int i = 0; i < n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xr + i)));
            m[R8_SLOT[r]] = mx;
        }
        __m256 vid;
        const __m256 vd = i8_scales(red8_max(m), &vid);
        float ids[8];
        _mm256_storeu_ps(d + r0, vd);
        _mm256_storeu_ps(ids, vid);
        for (int r = 0; r < 8; r++) {
            const float *xr = x + (size_t)(r0 + r) * ldx;
            int8_t *qr = q + (size_t)(r0 + r) * ldq;
            const __m256 s = _mm256_set1_ps(ids[r]);
            for (int i = 0; i < n; i += 8) {
                const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + i), s));
                const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                _mm_storel_epi64((__m128i *)(void *)(qr + i), _mm_packs_epi16(w, w));
            }
        }
    }
    for (; r0 < R; r0++) d[r0] = wh_i8_row_avx2(x + (size_t)r0 * ldx, n, q + (size_t)r0 * ldq);
}

/* wh_att8_queries, eight lanes at a time: the same bytes (x·id − h)·254 rounded to nearest even
 * as lrintf, the same integer sums. Per head and beam step it had been 64 lrintf calls a row
 * and a scalar quantizer: 0.47 us of the head's 7.6 (5 rows, AVX512-VNNI) */
void wh_att8_queries_avx2(int R, const float *q, size_t ldq, const wh_att8_parts *a)
{
    wh_i8_rows_avx2(R, 64, q, ldq, a->qh, 64, a->dq);
    const __m256 k254 = _mm256_set1_ps(254.0f);
    for (int r = 0; r < R; r++) {
        const float *x = q + (size_t)r * ldq, d = a->dq[r], id = d > 0.0f ? 1.0f / d : 0.0f;   /* the quantizer's */
        const __m256 vid = _mm256_set1_ps(id);
        const int8_t *h = a->qh + (size_t)r * 64;
        int8_t *l = a->ql + (size_t)r * 64;
        __m256i sh = _mm256_setzero_si256(), sl = sh;
        for (int i = 0; i < 64; i += 8) {   /* |x·id − h| <= 1/2: |l| <= 127 */
            const __m256i hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(h + i)));
            const __m256 t = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vid), _mm256_cvtepi32_ps(hi));
            const __m256i li = _mm256_cvtps_epi32(_mm256_mul_ps(t, k254));
            sh = _mm256_add_epi32(sh, hi);
            sl = _mm256_add_epi32(sl, li);
            const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(li), _mm256_extracti128_si256(li, 1));
            _mm_storel_epi64((__m128i *)(void *)(l + i), _mm_packs_epi16(w, w));
        }
        a->ch[r] = -128 * hsum_epi32(sh);
        a->cl[r] = -128 * hsum_epi32(sl);
        a->dq[r] = d / 254.0f;
    }
}

/* wh_qx8_pack_f32 from rows (ks = 1, every element valid — the encoder's K_h): eight rows of a
 * block at a time, their maxima reduced together (red8_max) and their scales divided as one
 * vector, then each row's 32 bytes as 8 dwords transposed (tr8x8_epi32) into the layout's
 * [k/4][row][4] — a head's 3008 blocks had been 3008 calls of wh_i8_row, each a serial chain of
 * a horizontal maximum and two divisions */
void wh_qx8_pack_r_avx2(int N, int K, const float *X, size_t rs, void *out)
{
    const int nb = K / 32, oq = wh_qx_off_q(WH_Q8X);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int g = 0; g < N / 16; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = (uint8_t *)out + wh_qx_block_off(WH_Q8X, nb, g, b);
            for (int h = 0; h < 2; h++) {   /* rows 8h .. 8h+7 of the group */
                const float *x0 = X + (size_t)(16 * g + 8 * h) * rs + (size_t)(32 * b);
                __m256 m[8];
                for (int r = 0; r < 8; r++) {
                    const float *x = x0 + (size_t)r * rs;
                    m[R8_SLOT[r]] = amax4(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24));
                }
                __m256 id;
                const __m256 d = i8_scales(red8_max(m), &id);
                _mm_storeu_si128((__m128i *)(void *)(o + 16 * h), _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
                float ids[8];
                _mm256_storeu_ps(ids, id);
                __m256i q[8];
                for (int r = 0; r < 8; r++) {
                    const float *x = x0 + (size_t)r * rs;
                    const __m256 vid = _mm256_set1_ps(ids[r]);
                    q[r] = _mm256_xor_si256(pack_q32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), vid)),
                                                     _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid)),
                                                     _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid)),
                                                     _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid))),
                                            flip);
                }
                tr8x8_epi32(q);
                for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(void *)(o + oq + 64 * j + 32 * h), q[j]);
            }
        }
}

/* wh_q8_0_row_ref's bytes: roundf (halves away from zero) as trunc plus one step where the
 * remainder is at least half — exact for |v| <= 127.5 */
void wh_q8_0_row_avx2(const float *x, int K, uint8_t *out)
{
    const __m256 sgn = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int b = 0; b < K / 32; b++, x += 32, out += 34) {
        __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
        const float d = block_amax(v[0], v[1], v[2], v[3]) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = wh_f32_to_f16(d);
        memcpy(out, &h, 2);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 t = _mm256_mul_ps(v[i], _mm256_set1_ps(id));
            const __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sgn, _mm256_sub_ps(t, r)), half, _CMP_GE_OQ);
            q[i] = _mm256_cvttps_epi32(_mm256_add_ps(r, _mm256_and_ps(up, _mm256_or_ps(one, _mm256_and_ps(sgn, t)))));
        }
        _mm256_storeu_si256((__m256i *)(void *)(out + 2), pack_q32(q[0], q[1], q[2], q[3]));
    }
}

/* the block's pair-bounded scale, as pair_scale_ref (kernels.c): the largest half-sum
 * |x[2i]|/2 + |x[2i+1]|/2 (each lane plus its neighbour: the same float sums as the
 * reference's, in either order) over 63.5 */
static inline float block_pair_scale(__m256 x0, __m256 x1, __m256 x2, __m256 x3)
{
    const __m256 sgn = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
    __m256 a[4] = {x0, x1, x2, x3};
    for (int i = 0; i < 4; i++) {
        a[i] = _mm256_mul_ps(_mm256_andnot_ps(sgn, a[i]), half);
        a[i] = _mm256_add_ps(a[i], _mm256_permute_ps(a[i], 0xb1));
    }
    return hmax(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]))) / 63.5f;
}

/* A[M][K] per 32-block as wh_qx_quant_ref (the same operations per element: max of |x| or of
 * the pairs' sums, d = that / 127, 1 / d, x · (1 / d) rounded to nearest even), so the bytes
 * are the same */
void wh_qx_quant_avx2(int M, int K, const float *A, int lda, int pairs, int8_t *xq, float *dx, int32_t *cs, float *sx)
{
    const int nb = K / 32;
    for (int m = 0; m < M; m++)
        for (int b = 0; b < nb; b++) {
            const float *x = A + (size_t)m * lda + (size_t)b * 32;
            const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
            const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
            const float d = pairs ? block_pair_scale(x0, x1, x2, x3) : block_amax(x0, x1, x2, x3) / 127.0f;
            const float id = d > 0.0f ? 1.0f / d : 0.0f;
            const __m256 vid = _mm256_set1_ps(id);
            const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(x0, vid)), q1 = _mm256_cvtps_epi32(_mm256_mul_ps(x1, vid));
            const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(x2, vid)), q3 = _mm256_cvtps_epi32(_mm256_mul_ps(x3, vid));
            _mm256_storeu_si256((__m256i *)(void *)(xq + (size_t)m * K + (size_t)b * 32), pack_q32(q0, q1, q2, q3));
            __m256i s = _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
            const int sum = _mm_cvtsi128_si32(s4);
            dx[m * nb + b] = d;
            cs[m * nb + b] = -128 * sum;
            sx[m * nb + b] = d * (float)sum;
        }
}

/* the GEMV: qx256_tmpl.h with vpmaddubsw (kernels_avxvnni_avx2.c: the same with vpdpbusd) */
#define QXT_ATTR
#define QXT_GEMV wh_gemv_qx_avx2
#include "qx256_tmpl.h"
