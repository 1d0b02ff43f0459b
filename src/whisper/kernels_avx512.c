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

#include <immintrin.h>
#include <string.h>

static inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

static inline __m512 q5_16(const uint8_t *qs, int hi, uint32_t qh, int e0)
{
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)qs));
    if (hi) q = _mm512_srli_epi32(q, 4);
    q = _mm512_and_si512(q, _mm512_set1_epi32(15));
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i bit = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)qh), _mm512_add_epi32(lane, _mm512_set1_epi32(e0))),
                                         _mm512_set1_epi32(1));
    q = _mm512_or_si512(q, _mm512_slli_epi32(bit, 4));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(16)));
}

/* 32 zmm registers: up to 4 rows × 5 activation rows = 20 accumulators */
#define VEC __m512
#define VW 16
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VHSUM(v) hsum512(v)
#define VF16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define VI8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define VQ5(qs, hi, qh, e0) q5_16(qs, hi, qh, e0)
#define RBLK(M) ((M) <= 5 ? 4 : 3)
#define GEMV_NAME wh_gemv_avx512
#include "gemv_tmpl.h"
