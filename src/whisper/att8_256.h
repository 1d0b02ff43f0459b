/* att8_256.h — att8_tmpl.h in 256-bit registers for the two 256-bit vpdpbusd files
 * (kernels_avxvnni_avx2.c: VEX, kernels_vnni256_avx512.c: its EVEX twin). The includer
 * defines A8_ATTR, A8_DPBUSD and A8_NAME; everything else here is AVX2. 16 ymm hold the
 * scores of 6 rows × 16 positions and the values' sums of 1 row × 32 columns, 3 × 16, 6 × 8. */

/* att8_quant_p's bytes for 32 positions (n valid): four vectors of products (and-ed to 0 past
 * n), packed 32 -> 16 -> 8 bits with unsigned saturation (the values are 0 .. 255 already)
 * and the 128-bit lanes' interleave undone by one dword permutation */
static inline __attribute__((always_inline)) A8_ATTR float a8_quant32_256(float *S, const float *vs, int n,
                                                                         float inv, uint8_t *u)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 vi = _mm256_set1_ps(inv);
    __m256 v[4], mx = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        /* whole vectors: past n, S's padded block holds the scores' scratch (their stores are
         * whole vectors too), and the and zeroes what it gives */
        const __m256 ok = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8 * j), idx));
        const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(S + 8 * j), vi);
        _mm256_storeu_ps(S + 8 * j, p);
        v[j] = _mm256_and_ps(ok, _mm256_mul_ps(p, _mm256_loadu_ps(vs + 8 * j)));
        mx = _mm256_max_ps(mx, v[j]);
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float m = _mm_cvtss_f32(h);
    const __m256 id = _mm256_set1_ps(m > 0.0f ? 255.0f / m : 0.0f);
    __m256i i[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
    const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(i[0], i[1]), _mm256_packus_epi32(i[2], i[3]));
    _mm256_storeu_si256((__m256i *)(void *)u, _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    return m;
}

#define VI __m256i
#define VF __m256
#define A8_W 8
#define A8_LOADI(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define A8_SET1I(x) _mm256_set1_epi32(x)
#define A8_ZEROI() _mm256_setzero_si256()
#define A8_ADDI(a, b) _mm256_add_epi32(a, b)
#define A8_MULLOI(a, b) _mm256_mullo_epi32(a, b)
#define A8_LOADF(p) _mm256_loadu_ps(p)
#define A8_STOREF(p, v) _mm256_storeu_ps(p, v)
#define A8_SET1F(x) _mm256_set1_ps(x)
#define A8_ZEROF() _mm256_setzero_ps()
#define A8_MULF(a, b) _mm256_mul_ps(a, b)
#define A8_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define A8_CVT(v) _mm256_cvtepi32_ps(v)
#define A8_SOFTMAX_ROWS wh_softmax_rows
#define A8_QUANT32 a8_quant32_256
#define A8_RG 6
#define A8_SPLIT(G) ((G) <= 3)   /* 4·G accumulators, two keys and a broadcast in 16 */
#define A8_OV(R) ((R) == 1 ? 4 : (R) <= 3 ? 2 : 1)
#include "att8_tmpl.h"
