/* kernels_avx512.c — AVX-512F/BW/VL versions of the decoder's kernels (compiled with
 * -mavx512f -mavx512bw -mavx512vl -mfma -mf16c; only called after kernels.c's runtime check
 * found AVX-512 and OS support for the ZMM state). Each is tested against the scalar
 * reference in tests/unit/test_kernels.c.
 *
 * Why a 512-bit path: Intel server cores run 512-bit FMAs and loads at full rate, so one
 * instruction converts and multiplies 16 weights — half the instructions of the AVX2 path
 * per byte streamed, which matters most where conversion dominates (q8_0, q5_0, beams). */
#include "kernels.h"
#include "model.h"
#include "qx_dispatch.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* C[mr][32] (+)= A[mr][kc] · [Bp | Bp + 16·kc] — two adjacent 16-wide packed panels
 * ([kc][16] each) at once, R rows of A (R = 12 or 6; mr <= R, missing rows read row 0 and
 * are not stored). 2·R zmm accumulators (at least 12 independent FMA chains cover the
 * 4-cycle latency at 2 FMAs/cycle); per k: 2 loads of B, R broadcasts of A, 2·R FMAs.
 * Twelve rows on Intel server cores (2-core Xeon slice, 1 thread, B in L1, A rows in L2,
 * alternating): 6 rows 81-82 % of the FMA peak, 12 rows with k unrolled by 2 83-85 %
 * (14 loads, B's and the broadcasts, per 24 FMAs instead of 8 per 12). Each accumulator
 * sums its k in order, so every row count gives the same bits. Same contract as
 * wh_ukernel_avx2 applied to the two panels (the scalar reference, kernels.c). */
#define UK512(NAME, R)                                                                                        \
    static void NAME(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int acc) \
    {                                                                                                         \
        __m512 c0[R], c1[R];                                                                                  \
        const float *a[R];                                                                                    \
        wh_ukernel_rows(A, lda, mr, R, a);                                                                    \
        for (int i = 0; i < R; i++) c0[i] = c1[i] = _mm512_setzero_ps();                                      \
        const float *B1 = Bp + (size_t)16 * kc;                                                               \
        _Pragma("GCC unroll 2") for (int k = 0; k < kc; k++)                                                 \
        {                                                                                                     \
            const __m512 b0 = _mm512_load_ps(Bp + (size_t)k * 16), b1 = _mm512_load_ps(B1 + (size_t)k * 16); \
            _Pragma("GCC unroll 12") for (int i = 0; i < R; i++)                                             \
            {                                                                                                 \
                const __m512 av = _mm512_set1_ps(a[i][k]);                                                    \
                c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);                                                       \
                c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);                                                       \
            }                                                                                                 \
        }                                                                                                     \
        for (int i = 0; i < mr; i++) {                                                                        \
            float *c = C + (size_t)i * ldc;                                                                   \
            if (acc) {                                                                                        \
                c0[i] = _mm512_add_ps(_mm512_loadu_ps(c), c0[i]);                                             \
                c1[i] = _mm512_add_ps(_mm512_loadu_ps(c + 16), c1[i]);                                        \
            }                                                                                                 \
            _mm512_storeu_ps(c, c0[i]);                                                                       \
            _mm512_storeu_ps(c + 16, c1[i]);                                                                  \
        }                                                                                                     \
    }
UK512(ukernel2_12, 12)
UK512(ukernel2_6, 6)

/* the full 12-row tile, by hand (ukernel12_avx512.S: the same sums, without GCC's register
 * spills in the loop); lda and ldc in bytes */
void wh_uk12x32_avx512(int kc, const float *A, long lda_bytes, const float *Bp, float *C, long ldc_bytes,
                       int accumulate, const void *pf);

void wh_ukernel2_avx512(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int accumulate,
                        const void *pf)
{
    if (mr == WH_UK512_MR)
        wh_uk12x32_avx512(kc, A, (long)lda * 4, Bp, C, (long)ldc * 4, accumulate, pf ? pf : Bp);
    else if (mr > 6)
        ukernel2_12(kc, A, lda, Bp, C, ldc, mr, accumulate);
    else
        ukernel2_6(kc, A, lda, Bp, C, ldc, mr, accumulate);
}

static inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

/* 512 -> 256 bits by adding the halves, then one hadd tree for the four */
static inline __m256 fold512(__m512 v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

static inline void hsum4_512(__m512 a, __m512 b, __m512 c, __m512 d, float *out)
{
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(fold512(a), fold512(b)), _mm256_hadd_ps(fold512(c), fold512(d)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/* Elements e0 .. e0+15 of a q5_0/q5_1/q4_0/q4_1 block as the integers its scale multiplies:
 * the nibble (the high one needs no mask after its shift: bytes < 256); q5_0 minus 16 where
 * the element's fifth bit (qh bit e0 + i) is clear, q5_1 plus 16 where it is set, q4_0
 * minus 8. The fifth bits go straight into a mask register (one masked subtract or or)
 * instead of the AVX2 path's per-lane shift/and/or of qh (GCC inverts q5_0's with a knotd on
 * the mask: ~qh is written as an integer, the compiler chooses). Together with walking the
 * block pointer: q5_0 at M = 1 0.129 -> 0.107 ns/weight. */
static inline __m512 qn_16(int type, const uint8_t *qs, uint32_t qh, int e0)
{
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)qs));
    q = e0 >= 16 ? _mm512_srli_epi32(q, 4) : _mm512_and_si512(q, _mm512_set1_epi32(15));
    if (type == WH_Q5_0) q = _mm512_mask_sub_epi32(q, _cvtu32_mask16((~qh) >> e0), q, _mm512_set1_epi32(16));
    if (type == WH_Q5_1) q = _mm512_mask_or_epi32(q, _cvtu32_mask16(qh >> e0), q, _mm512_set1_epi32(16));
    if (type == WH_Q4_0) q = _mm512_sub_epi32(q, _mm512_set1_epi32(8));
    return _mm512_cvtepi32_ps(q);
}

/* The same 16 values for M = 1, where unpacking, not the FMAs, bounds the block loop: the
 * 16 bytes zero-extended once for both halves (the two calls of a block share it after
 * inlining), each dword's nibble — its low four bits, after a shift by 4 for the high
 * nibbles — indexing a 16-entry table of the floats nibble + offset (vpermps reads only
 * those four bits: no mask, subtract or integer conversion). Exact: the table holds small
 * integers. q4_0 at M = 1, weights in L2: 6.7-7.9 -> 5.8-6.7 cycles per block (q4_1: one
 * run 10.0-10.9 -> 8.7, a second within noise). Not for q5 (with the fifth bit as a masked
 * add of 16: 7.7-9.3 cycles either way) nor at M > 1, where the permute competes with the FMAs (q4_0 at M = 5
 * measured 5 % slower; docs/engine.md). */
static inline __m512 qn_16_m1(int type, const uint8_t *qs, uint32_t qh, int e0)
{
    if (type != WH_Q4_0 && type != WH_Q4_1) return qn_16(type, qs, qh, e0);
    const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)qs));
    const __m512 tab = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 t = type == WH_Q4_0 ? _mm512_sub_ps(tab, _mm512_set1_ps(8.0f)) : tab;
    return _mm512_permutexvar_ps(e0 >= 16 ? _mm512_srli_epi32(b, 4) : b, t);
}

/* 32 zmm registers: up to 4 rows × 5 activation rows = 20 accumulators (RBLK below) */
#define VEC __m512
#define VW 16
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VHSUM(v) hsum512(v)
#define VHSUM4(a, b, c, d, out) hsum4_512(a, b, c, d, out)
#define VF16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define VI8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define VQ(type, qs, qh, e0) qn_16(type, qs, qh, e0)
#define VQ1(type, qs, qh, e0) qn_16_m1(type, qs, qh, e0)
/* M = 1: one row (four FMA chains); beams: four rows from far-apart streams share each
 * load of A (base f16 beam-5 step 6.1 -> 4.6-5.0 ms on the Zen 4 against one row) */
#define RBLK(type, M) ((M) == 1 ? 1 : (M) <= 5 ? 4 : 3)
#define GEMV_OUTLINE 1
#define GEMV_NAME wh_gemv_avx512
#include "gemv_tmpl.h"

/* ------------------------------------------------------------------ softmax
 * The AVX2 version's exp (Cephes polynomial, range reduction by ln 2 in two parts, inputs
 * below -87.34 give 0), 16 lanes at a time: the encoder's attention takes 1500 × 1500
 * exponentials per head and layer, a tenth of tiny's encoder at 8 lanes. */
static inline __m512 recip512(__m512 v)
{
    const __m512 r = _mm512_rcp14_ps(v);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(v, r, _mm512_set1_ps(2.0f)));
}

#define E_VEC __m512
#define E_SET1(x) _mm512_set1_ps(x)
#define E_MUL(a, b) _mm512_mul_ps(a, b)
#define E_ADD(a, b) _mm512_add_ps(a, b)
#define E_SUB(a, b) _mm512_sub_ps(a, b)
/* 1/v as a 14-bit estimate and one Newton step (~1 ulp; v in [1, ∞) here): a 512-bit
 * division issues once per 10 cycles and made GELU a twentieth of the encoder */
#define E_RECIP(v) recip512(v)
#define E_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define E_FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define E_MIN(a, b) _mm512_min_ps(a, b)
#define E_MAX(a, b) _mm512_max_ps(a, b)
#define E_ROUND(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define E_ABS(v) _mm512_abs_ps(v)
#define E_LDEXP_ABOVE(x, lo, y, fx) _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), y, fx)
#define E_EXP exp512
#define E_GELU gelu512
#define E_EXPM expm512
#include "exp_tmpl.h"

/* GELU, x = GELU(x + b) when b (16 lanes, masked tail): the encoder's MLP activation */
static inline __attribute__((always_inline)) void gelu_bias512(float *x, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(x + i, k, gelu512(v));
    }
}

void wh_gelu_bias_avx512(float *x, const float *b, size_t n) { gelu_bias512(x, b, n); }

/* wh_gelu_bias_avx512 on rows of x (ldx apart), in one call: the row split's epilogue runs it
 * on its 32-column tiles, where a call per row of 32 had cost 15 % of the GELU */
void wh_gelu_bias_rows_avx512(float *x, size_t ldx, int rows, const float *b, size_t n)
{
    for (int r = 0; r < rows; r++, x += ldx) gelu_bias512(x, b, n);
}

/* max of x[0..n) over two accumulators (n >= 1) */
static inline float max512(const float *x, int n)
{
    __m512 vm0 = _mm512_set1_ps(-INFINITY), vm1 = vm0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        vm0 = _mm512_max_ps(vm0, _mm512_loadu_ps(x + i));
        vm1 = _mm512_max_ps(vm1, _mm512_loadu_ps(x + i + 16));
    }
    __m512 vm = _mm512_max_ps(vm0, vm1);
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        vm = _mm512_mask_max_ps(vm, k, vm, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(vm);
}

/* x[i] = exp(x[i] − mx) (expm512: x − mx folded into its first FMA), whole vectors four at a
 * time into two sums, the tail through a mask (no scalar expf); returns the sum. With nx, the
 * maximum of nx[0..n) — the next row's — is taken in the same loop (*nmx): its loads from L2
 * run under this row's exponentials instead of in a pass of their own. */
static inline float softmax_pass512(float *x, int n, float mx, const float *nx, float *nmx)
{
    const __m512 nml = _mm512_set1_ps(-(mx * 1.44269504088896341f));
    __m512 vs0 = _mm512_setzero_ps(), vs1 = vs0, m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        if (nx) {
            m0 = _mm512_max_ps(m0, _mm512_max_ps(_mm512_loadu_ps(nx + i), _mm512_loadu_ps(nx + i + 32)));
            m1 = _mm512_max_ps(m1, _mm512_max_ps(_mm512_loadu_ps(nx + i + 16), _mm512_loadu_ps(nx + i + 48)));
        }
        const __m512 e0 = expm512(_mm512_loadu_ps(x + i), nml), e1 = expm512(_mm512_loadu_ps(x + i + 16), nml);
        const __m512 e2 = expm512(_mm512_loadu_ps(x + i + 32), nml), e3 = expm512(_mm512_loadu_ps(x + i + 48), nml);
        _mm512_storeu_ps(x + i, e0);
        _mm512_storeu_ps(x + i + 16, e1);
        _mm512_storeu_ps(x + i + 32, e2);
        _mm512_storeu_ps(x + i + 48, e3);
        vs0 = _mm512_add_ps(_mm512_add_ps(vs0, e0), e1);
        vs1 = _mm512_add_ps(_mm512_add_ps(vs1, e2), e3);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        if (nx) m0 = _mm512_mask_max_ps(m0, k, m0, _mm512_maskz_loadu_ps(k, nx + i));
        const __m512 e = _mm512_maskz_mov_ps(k, expm512(_mm512_maskz_loadu_ps(k, x + i), nml));
        _mm512_mask_storeu_ps(x + i, k, e);
        vs0 = _mm512_add_ps(vs0, e);
    }
    if (nx) *nmx = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    return _mm512_reduce_add_ps(_mm512_add_ps(vs0, vs1));
}

/* x[i] = exp(x[i] - max x), returns the sum (the softmax without its normalisation). The
 * encoder's 96 rows × 1500 scores (Xeon slice, 1 thread, fastest of 200, both alternating):
 * 0.228-0.234 -> 0.169-0.170 ns per element with expm512, the maximum over two accumulators
 * and four vectors at a time. */
float wh_softmax_unnorm_avx512(float *x, int n)
{
    return softmax_pass512(x, n, max512(x, n), NULL, NULL);
}

/* wh_softmax_unnorm_avx512 on rows ld apart, inv[r] = 1/sum: each row's exponentials pass
 * takes the next row's maximum (the same values and sums as row by row; 96 rows × 1500:
 * 0.178-0.180 -> 0.145-0.146 ns per element) */
void wh_softmax_rows_avx512(float *S, int rows, int n, size_t ld, float *inv)
{
    float mx = max512(S, n);
    for (int r = 0; r < rows; r++) {
        float *x = S + (size_t)r * ld, nmx = 0;
        inv[r] = 1.0f / softmax_pass512(x, n, mx, r + 1 < rows ? x + ld : NULL, &nmx);
        mx = nmx;
    }
}

void wh_softmax_avx512(float *x, int n)
{
    const __m512 inv = _mm512_set1_ps(1.0f / wh_softmax_unnorm_avx512(x, n));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}

/* log Σ exp(x[i]) of a vocabulary row (n >= 1): as wh_logsumexp_avx2, 16 lanes, masked tail */
float wh_logsumexp_avx512(const float *x, int n)
{
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        vm = _mm512_mask_max_ps(vm, k, vm, _mm512_maskz_loadu_ps(k, x + i));
    }
    const float mx = _mm512_reduce_max_ps(vm);
    if (mx == -INFINITY) return -INFINITY;
    /* e^(x − mx) as the softmax's expm512 (2^t after one FMA: 2.4e-7 relative where the
     * terms that make the sum are, about the f32 exp's 1e-7), two sums, whole vectors, the
     * tail masked: a 51865-logit row 15.5 -> 10.4 µs (the search runs it on the caller for
     * every beam) */
    const __m512 nml = _mm512_set1_ps(-(mx * 1.44269504088896341f));
    double tot = 0;
    for (i = 0; i < n;) {   /* f32 sums over blocks of 1024, the blocks in double */
        const int end = n - i > 1024 ? i + 1024 : n;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        for (; i + 32 <= end; i += 32) {
            a0 = _mm512_add_ps(a0, expm512(_mm512_loadu_ps(x + i), nml));
            a1 = _mm512_add_ps(a1, expm512(_mm512_loadu_ps(x + i + 16), nml));
        }
        for (; i < end; i += 16) {
            const __mmask16 k = end - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (end - i)) - 1);
            a0 = _mm512_add_ps(a0, _mm512_maskz_mov_ps(k, expm512(_mm512_maskz_loadu_ps(k, x + i), nml)));
        }
        tot += _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
    return mx + (float)log(tot);
}

/* 32 zmm: scores 2·8 accumulators + 2 keys + 1 broadcast; values 6·4 + 4 + 1, from seven
 * rows 8·2 + 2 + 1 in two sweeps */
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define ATT_RG 8
#define ATT_OVN(R) ((R) <= 6 ? 4 : 2)   /* all 64 columns in one sweep up to six rows */
#define ATT_OVMAX 4
#define ATT_SOFTMAX wh_softmax_avx512
#define ATT_NAME wh_attend_rows_avx512
#define ATT_NAME8 wh_attend_rows_i8_avx512
#include "attn_tmpl.h"

/* ------------------------------------------------------------------ quantized × int8 (VNNI)
 * See kernels.h. Compiled for AVX512-VNNI through the target attribute, not the file's flags,
 * so that no other function here may use it: AVX-512 CPUs without VNNI (Skylake-SP) run
 * the rest of this file. */
#define QX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))

/* Four blocks' 16-lane maxima (or sums) reduced together: 128-bit lane j of the result holds
 * block j's in all four of its lanes. Eight shuffles for the four instead of four each. */
#define QX_RED4(NAME, V, OP, SHUF128, SHUF32)                                                 \
    static inline QX_TARGET V NAME(V m0, V m1, V m2, V m3)                                   \
    {                                                                                         \
        const V t01 = OP(SHUF128(m0, m1, 0x44), SHUF128(m0, m1, 0xEE));                       \
        const V t23 = OP(SHUF128(m2, m3, 0x44), SHUF128(m2, m3, 0xEE));                       \
        V u = OP(SHUF128(t01, t23, 0x88), SHUF128(t01, t23, 0xDD));                           \
        u = OP(u, SHUF32(u, 0x4E));                                                           \
        return OP(u, SHUF32(u, 0xB1));                                                        \
    }
QX_RED4(qx_max4, __m512, _mm512_max_ps, _mm512_shuffle_f32x4, _mm512_permute_ps)
QX_RED4(qx_sum4, __m512i, _mm512_add_epi32, _mm512_shuffle_i32x4, _mm512_shuffle_epi32)

/* one block of 32: its bytes at q, its scale, offset term and sum at *d, *c, *s */
static inline QX_TARGET void qx_quant_block(const float *x, int8_t *q, float *d, int32_t *c, float *s)
{
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float dd = amax / 127.0f, id = dd > 0.0f ? 1.0f / dd : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
    _mm_storeu_si128((__m128i *)(void *)q, _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(void *)(q + 16), _mm512_cvtsepi32_epi8(q1));
    const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    *d = dd;
    *c = -128 * sum;
    *s = dd * (float)sum;
}

/* wh_qx_quant_ref's numbers: the same operations per element (max of |x|, d = amax / 127,
 * 1 / d, x · (1 / d) rounded to nearest even), so both give the same bytes. Blocks go four
 * at a time: their maxima and sums reduced together (qx_max4, qx_sum4) and their four d and
 * 1/d divided as one 128-bit vector — on an Intel Xeon slice 96 × 1504 values 37.8 -> 26.0 µs
 * (1 thread, fastest of 30, three rounds), where one block at a time had spent two scalar
 * divisions and eight shuffles per block (the batching tried earlier, 16 blocks through
 * transposes, had been slower on a Zen 4). The blocks left over go one at a time. */
QX_TARGET void wh_qx_quant_avx512(int M, int K, const float *A, int lda, int8_t *xq, float *dx, int32_t *cs,
                                  float *sx)
{
    const int nb = K / 32;
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
    for (int m = 0; m < M; m++) {
        const float *xr = A + (size_t)m * lda;
        int8_t *qr = xq + (size_t)m * K;
        int b = 0;
        for (; b + 4 <= nb; b += 4) {
            __m512 v[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) v[i] = _mm512_loadu_ps(xr + (size_t)b * 32 + 16 * i);
            const __m512 am = qx_max4(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])),
                                      _mm512_max_ps(_mm512_abs_ps(v[2]), _mm512_abs_ps(v[3])),
                                      _mm512_max_ps(_mm512_abs_ps(v[4]), _mm512_abs_ps(v[5])),
                                      _mm512_max_ps(_mm512_abs_ps(v[6]), _mm512_abs_ps(v[7])));
            const __m128 d = _mm_div_ps(_mm512_castps512_ps128(_mm512_permutexvar_ps(pick, am)), _mm_set1_ps(127.0f));
            const __m512 id = _mm512_castps128_ps512(
                _mm_maskz_div_ps(_mm_cmp_ps_mask(d, _mm_setzero_ps(), _CMP_GT_OQ), _mm_set1_ps(1.0f), d));
            __m512i q[8];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512 idj = _mm512_permutexvar_ps(_mm512_set1_epi32(j), id);
                q[2 * j] = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * j], idj));
                q[2 * j + 1] = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * j + 1], idj));
                _mm_storeu_si128((__m128i *)(void *)(qr + (size_t)(b + j) * 32), _mm512_cvtsepi32_epi8(q[2 * j]));
                _mm_storeu_si128((__m128i *)(void *)(qr + (size_t)(b + j) * 32 + 16), _mm512_cvtsepi32_epi8(q[2 * j + 1]));
            }
            const __m128i s = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
                pick, qx_sum4(_mm512_add_epi32(q[0], q[1]), _mm512_add_epi32(q[2], q[3]), _mm512_add_epi32(q[4], q[5]),
                              _mm512_add_epi32(q[6], q[7]))));
            _mm_storeu_ps(dx + m * nb + b, d);
            _mm_storeu_si128((__m128i *)(void *)(cs + m * nb + b), _mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(s, 7)));
            _mm_storeu_ps(sx + m * nb + b, _mm_mul_ps(d, _mm_cvtepi32_ps(s)));
        }
        for (; b < nb; b++)
            qx_quant_block(xr + (size_t)b * 32, qr + (size_t)b * 32, dx + m * nb + b, cs + m * nb + b, sx + m * nb + b);
    }
}

/* s += vpdpbusd(w, the four activation bytes at p broadcast), the broadcast embedded in the
 * instruction's memory operand ({1to16}): GCC 12 does not fold _mm512_set1_epi32 of a load
 * into vpdpbusd and issued a separate vpbroadcastd for each of the block's 8 · M products.
 * Xeon slice (1 thread, 256 rows × 512 in L1/L2, fastest of 200, two rounds): q8_0 at M = 5
 * 15.1-15.2 -> 14.0 ns per 16-row block, q5_0 18.7-18.8 -> 18.2-18.3, M = 1 level; base step
 * harness beam 5, three alternating pairs: q8_0 1.98 -> 1.83-1.91 ms, q5_0 1.90 -> 1.78-1.88. */
#define QX_DPBUSD_BCST(s, w, p)                                                                   \
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const int32_t *)(const void *)(p)))

/* vgf2p8affineqb x, A, imm: each byte of x times the bit matrix A (its qword: byte 7 − i
 * selects the bits whose parity is output bit i), xor imm. As asm: the intrinsic would need
 * the gfni target on qx_group, which the GFNI-less CPUs' path inlines too. */
#define QX_GF2P8(x, A, imm)                                                                       \
    ({                                                                                            \
        __m512i r_;                                                                               \
        __asm__("vgf2p8affineqb %3, %2, %1, %0" : "=v"(r_) : "v"(x), "v"(A), "i"(imm));           \
        r_;                                                                                       \
    })

/* A q5 block's 8 value vectors with GFNI (wh_qx_gfni): fifth bit j of each byte of the plane
 * vector P moved by one vgf2p8affineqb to where the value needs it, with q5_0's offset: 0x70 +
 * 16·bit = bit ? 0x80 : 0x70 (bit 7 = bit j, bits 4-6 = not bit j: four matrix rows and the
 * xor 0x70); q5_1 (no offset) just bit 4. Then the low nibbles are or-ed in by one
 * ternary-logic op, and the high ones are moved down by another vgf2p8affineqb (bits 4-7 to
 * 0-3, the rest 0). 20 operations for the 8 vectors where vptestmb and a masked add per
 * vector (below) take 28: 1 thread, 2048 × 512 in L2, builds alternating: q5_0 at M = 5
 * 15.7-16.3 -> 15.1-15.6 ns per 16-row block, M = 1 7.69 -> 7.05; base q5_0 step harness, 768
 * steps: beam 5 1.667 -> 1.600 ms, batch 1 1.008 -> 0.987. The same bytes as the path below. */
static inline __attribute__((always_inline)) void qx_unpack5_gf(const int xt, const uint8_t *q, const uint8_t *h,
                                                                 __m512i w[8])
{
    const unsigned long long rows = xt == WH_Q5X ? 0x01010101ull : 0x01000000ull;
    const __m512i lo4 = _mm512_set1_epi8(15), P = _mm512_loadu_si512((const void *)h);
    const __m512i down4 = _mm512_set1_epi64(0x1020408000000000LL);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * j));
        const __m512i alo = _mm512_set1_epi64((long long)((1ull << j) * rows));
        const __m512i ahi = _mm512_set1_epi64((long long)((1ull << (j + 4)) * rows));
        const __m512i blo = xt == WH_Q5X ? QX_GF2P8(P, alo, 0x70) : QX_GF2P8(P, alo, 0);
        const __m512i bhi = xt == WH_Q5X ? QX_GF2P8(P, ahi, 0x70) : QX_GF2P8(P, ahi, 0);
        w[j] = _mm512_ternarylogic_epi32(v, lo4, blo, 0xEA);   /* (v & 15) | blo */
        w[j + 4] = _mm512_or_si512(QX_GF2P8(v, down4, 0), bhi);
    }
}

/* a block's 32 × 16 values as 8 vectors of q + offset bytes (q8: loaded; else the nibbles
 * split — vector j low, j + 4 high — and, for the q5 types, 16 added where the fifth-bit mask
 * says); p: the block */
static inline __attribute__((always_inline)) QX_TARGET void qx_values(const int xt, const int gf, const uint8_t *p,
                                                                       int oq, int oh, __m512i w[8])
{
    const int has_h = wh_qx_has_h(xt);
    if (xt == WH_Q8X) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) w[j] = _mm512_loadu_si512((const void *)(p + oq + 64 * j));
    } else if (gf) {
        qx_unpack5_gf(xt, p + oq, p + oh, w);
    } else {
        const __m512i lo4 = _mm512_set1_epi8(15), b112 = _mm512_set1_epi8(0x70);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i v = _mm512_loadu_si512((const void *)(p + oq + 64 * j));
            if (xt == WH_Q5X) {   /* nibble | 0x70 = nibble + 112 in one ternary-logic op: (v & 15) | 0x70 */
                w[j] = _mm512_ternarylogic_epi32(v, lo4, b112, 0xEA);
                w[j + 4] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), lo4, b112, 0xEA);
            } else {
                w[j] = _mm512_and_si512(v, lo4);
                w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
            }
        }
        if (has_h) {   /* vector j's fifth bits: plane bit j (model.h) tested into a byte
                        * mask, 16 added where set. Not moved to bit 4 by 16-bit shifts and
                        * or-ed in (ternary logic) as first written: 512-bit shifts issue
                        * on one port only on Intel, the one vpdpbusd shares (vptestmb goes
                        * to the other): q5_0 at M = 5, weights in L1/L2, 20.4 -> 18.7 ns per
                        * 16-row block (Xeon slice, 1 thread, fastest of 200, two rounds);
                        * base q5_0 beam-5 step 2.03 -> 1.96 ms */
            const __m512i P = _mm512_loadu_si512((const void *)(p + oh)), b4 = _mm512_set1_epi8(16);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                w[j] = _mm512_mask_add_epi8(w[j], _mm512_test_epi8_mask(P, _mm512_set1_epi8((char)(1 << j))), w[j], b4);
        }
    }
}

/* block b's contribution to acc[0 .. M): per activation row the 8 vpdpbusd of its values w
 * (from −offset·Σ xq), times d_w · d_x, plus (the _1 types) m_w · d_x·Σ xq */
static inline __attribute__((always_inline)) QX_TARGET void qx_block_sums(const int xt, const int M, int K, int b,
                                                                           const __m512i w[8], __m512 dw, __m512 mw,
                                                                           const int8_t *xq, const float *dx,
                                                                           const int32_t *cs, const float *sx,
                                                                           __m512 *acc)
{
    /* q5_0's values carry q8's +128 here (qx_values), not the layout's +16 */
    const int nb = K / 32, off = xt == WH_Q5X ? 128 : wh_qx_offset(xt), has_m = wh_qx_has_m(xt);
    /* From 5 rows (beams, the tall products' 12): the sums row-interleaved (vector j
     * against every row, then j + 1) instead of each row's 8 in a chain. Row after row,
     * each chain of 8 dependent vpdpbusd (5 cycles each) filled the scheduler with waiting
     * operations before the next rows' independent ones could enter, and the kernel ran at
     * half its ports' rate. The same integers, the same f32 steps in the same order.
     * 1 thread, q8_0 60 rows × 32 × 512 in L1/L2, both alternating: 4.96 / 4.40 -> 3.79 /
     * 3.80 us; the base encoder, 2 threads, 20 windows alternating: q8_0 227.0 -> 197.9
     * ms, q5_0 286.2 -> 240.8 (medians); the base step harness (2 threads, 25 rounds of 48
     * steps, medians): beam 5 q8_0 3.535 -> 3.404 ms, q5_0 2.688 -> 2.700, 7 rows q5_0
     * 3.975 -> 3.815. */
    if (M >= 5) {
        __m512i s[WH_QX_TALL_ROWS_512];
#pragma GCC unroll 12
        for (int m = 0; m < M; m++) s[m] = _mm512_set1_epi32(off ? cs[m * nb + b] / (128 / off) : 0);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
#pragma GCC unroll 12
            for (int m = 0; m < M; m++) QX_DPBUSD_BCST(s[m], w[j], xq + (size_t)m * K + (size_t)b * 32 + 4 * j);
#pragma GCC unroll 12
        for (int m = 0; m < M; m++) {
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dx[m * nb + b]));
            acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[m]), scale, acc[m]);
            if (has_m) acc[m] = _mm512_fmadd_ps(mw, _mm512_set1_ps(sx[m * nb + b]), acc[m]);
        }
        return;
    }
#pragma GCC unroll 12
    for (int m = 0; m < M; m++) {
        const int8_t *x = xq + (size_t)m * K + (size_t)b * 32;
        /* cs = −128·Σ xq takes q8's and q5_0's +128 back; the others' offset is a fraction of it */
        __m512i s0 = _mm512_set1_epi32(off ? cs[m * nb + b] / (128 / off) : 0), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            QX_DPBUSD_BCST(s0, w[j], x + 4 * j);
            QX_DPBUSD_BCST(s1, w[j + 1], x + 4 * j + 4);
        }
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dx[m * nb + b]));
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale, acc[m]);
        if (has_m)   /* + m · Σ x, with Σ x = d_x · Σ xq (sx) */
            acc[m] = _mm512_fmadd_ps(mw, _mm512_set1_ps(sx[m * nb + b]), acc[m]);
    }
}

/* One group of 16 rows over all K: per block the 8 value vectors (qx_values), then per
 * activation row 8 vpdpbusd (qx_block_sums: two chains per row below 5 rows; from 5 rows
 * one sum per row, the rows interleaved where the rows together fill the ports: at
 * 5 rows one chain saved an add per row and block, q5_0 15.1 -> 14.5 ns per 16-row block, q4_0
 * 13.4 -> 12.8, q8_0 17.6 -> 17.4, 6 rows 14.9 -> 14.3 (q5_0) and 15.3 -> 14.7 (q8_0), 1
 * thread, 2048 × 512 in L2, fastest of 300, builds alternating) — the sums starting from
 * −offset·Σ xq)
 * and one fma with d_w · d_x for the 16 rows (the _1 types: one more with m_w · d_x·Σ xq).
 * The group's bytes are one contiguous stream (the hardware prefetcher alone measured best).
 * Columns of the group in lanes are written to C's M rows at c, masked.
 * q5_0's values are made q + 128 as q8's are ((v & 15) | 0x70 in one ternary-logic op where
 * the and was, then the fifth bit's 16), so its sums start from −128·Σ xq as stored: the
 * start had been −16·Σ xq, a division and a general-to-vector broadcast per row and block on
 * the shuffle port (the same integers; 1 thread, 2048 × 512 in L2, fastest of 300, builds
 * alternating: M = 5 14.3-14.6 -> 13.1-13.3 ns per 16-row block, M = 1 6.37 -> 6.09). */
static inline __attribute__((always_inline)) QX_TARGET void qx_group(const int xt, const int M, int K,
                                                                      const int8_t *xq, const float *dx,
                                                                      const int32_t *cs, const float *sx,
                                                                      const uint8_t *p,
                                                                      __mmask16 lanes, const float *bias, float *c,
                                                                      int ldc, int accumulate)
{
    const int nb = K / 32, has_m = wh_qx_has_m(xt), has_h = wh_qx_has_h(xt);
    const int oh = wh_qx_off_h(xt), oq = wh_qx_off_q(xt);
    const size_t bs = wh_qx_block_bytes(xt);
    const int gf = has_h && wh_qx_gfni;
    __m512 acc[WH_QX_TALL_ROWS_512];
#pragma GCC unroll 12
    for (int m = 0; m < M; m++) acc[m] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, p += bs) {
        if (WH_QX_PREFETCH(M)) wh_qx_prefetch(p, bs);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
        const __m512 mw = has_m ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)))
                                : _mm512_setzero_ps();
        __m512i w[8];
        qx_values(xt, gf, p, oq, oh, w);
        qx_block_sums(xt, M, K, b, w, dw, mw, xq, dx, cs, sx, acc);
    }
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(lanes, bias) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int m = 0; m < M; m++) {
        float *cm = c + (size_t)m * ldc;
        __m512 v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, cm), acc[m]) : acc[m];
        if (bias) v = _mm512_add_ps(v, bv);
        _mm512_mask_storeu_ps(cm, lanes, v);
    }
}

static inline __attribute__((always_inline)) QX_TARGET void qx_rows(const int xt, const int M, int K,
                                                                     const int8_t *xq, const float *dx,
                                                                     const int32_t *cs, const float *sx,
                                                                     const wh_wmat *W, int n0, int n1, const float *bias,
                                                                     float *C, int ldc, int accumulate)
{
    const size_t gbytes = (size_t)(K / 32) * wh_qx_block_bytes(xt);
    for (int g = n0 / 16; g * 16 < n1; g++) {
        const int r0 = n0 > g * 16 ? n0 - g * 16 : 0, r1 = n1 < g * 16 + 16 ? n1 - g * 16 : 16;
        const __mmask16 lanes = (__mmask16)(((1u << r1) - 1) & ~((1u << r0) - 1));
        /* masked-off lanes are neither read nor written, so the pointers may run past C's
         * and bias's ends for a partial group */
        qx_group(xt, M, K, xq, dx, cs, sx, (const uint8_t *)W->data + (size_t)g * gbytes, lanes,
                  bias ? bias + (size_t)g * 16 : NULL, C + (size_t)g * 16, ldc, accumulate);
    }
}

QX_TARGET void wh_gemv_qx_avx512(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                                 const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate)
{
    if (M == WH_QX_TALL_ROWS_512) {
        QX_DISPATCH_M(qx_rows, WH_QX_TALL_ROWS_512)
        return;
    }
    QX_DISPATCH(qx_rows)
}

/* ------------------------------------------------------------------ cross-attention, int8 products
 * (att8_tmpl.h) with AVX512-VNNI: 32 zmm hold the scores of 8 rows × 32 positions, and the
 * values' sums of 3 rows × 64 columns (then 6 × 32, 8 × 16) */
static inline __attribute__((always_inline)) QX_TARGET float a8_quant32_512(float *S, const float *vs, int n,
                                                                           float inv, uint8_t *u)
{
    const __mmask16 k0 = n >= 16 ? (__mmask16)0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
    const __mmask16 k1 = n >= 32 ? (__mmask16)0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    const __m512 vi = _mm512_set1_ps(inv);
    const __m512 p0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(k0, S), vi), p1 = _mm512_mul_ps(_mm512_maskz_loadu_ps(k1, S + 16), vi);
    _mm512_mask_storeu_ps(S, k0, p0);
    _mm512_mask_storeu_ps(S + 16, k1, p1);
    const __m512 v0 = _mm512_maskz_mul_ps(k0, p0, _mm512_maskz_loadu_ps(k0, vs));
    const __m512 v1 = _mm512_maskz_mul_ps(k1, p1, _mm512_maskz_loadu_ps(k1, vs + 16));
    const float m = _mm512_reduce_max_ps(_mm512_max_ps(v0, v1));
    const __m512 id = _mm512_set1_ps(m > 0.0f ? 255.0f / m : 0.0f);
    _mm_storeu_si128((__m128i *)(void *)u, _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
    _mm_storeu_si128((__m128i *)(void *)(u + 16), _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    return m;
}

#define VI __m512i
#define VF __m512
#define A8_ATTR QX_TARGET
#define A8_W 16
#define A8_LOADI(p) _mm512_loadu_si512((const void *)(p))
#define A8_SET1I(x) _mm512_set1_epi32(x)
#define A8_ZEROI() _mm512_setzero_si512()
#define A8_DPBUSD(s, a, b) _mm512_dpbusd_epi32(s, a, b)
#define A8_ADDI(a, b) _mm512_add_epi32(a, b)
#define A8_MULLOI(a, b) _mm512_mullo_epi32(a, b)
#define A8_LOADF(p) _mm512_loadu_ps(p)
#define A8_STOREF(p, v) _mm512_storeu_ps(p, v)
#define A8_SET1F(x) _mm512_set1_ps(x)
#define A8_ZEROF() _mm512_setzero_ps()
#define A8_MULF(a, b) _mm512_mul_ps(a, b)
#define A8_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define A8_CVT(v) _mm512_cvtepi32_ps(v)
#define A8_SOFTMAX_ROWS wh_softmax_rows_avx512
#define A8_QUANT32 a8_quant32_512
#define A8_RG 8
#define A8_SPLIT(G) ((G) <= 5)   /* 4·G accumulators, two keys and a broadcast in 32 (six rows: slower) */
#define A8_OV(R) ((R) <= 3 ? 4 : (R) <= 6 ? 2 : 1)
#define A8_NAME wh_attend_rows_q8_avx512
#include "att8_tmpl.h"
