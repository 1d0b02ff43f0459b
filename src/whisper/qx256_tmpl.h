/* qx256_tmpl.h — the quantized × int8 GEMV in 256-bit registers (kernels.h, "quantized ×
 * int8"), written once for three instruction sets. The includer defines:
 *
 *   QXT_ATTR    an attribute for every function here (a target, or nothing)
 *   QXT_DPBUSD  (optional) vpdpbusd as (sums, unsigned bytes, signed bytes) -> sums: the
 *               AVX-VNNI form (kernels_avxvnni_avx2.c: Intel Alder Lake and later without
 *               AVX-512) or its EVEX twin (kernels_vnni256_avx512.c, which lets an
 *               AVX512-VNNI CPU test this code). Without it: vpmaddubsw/vpmaddwd (AVX2).
 *   QXT_GEMV    the exported function's name (contract: wh_gemv_qx_ref)
 *   QXT_PAIRS   (optional, without QXT_DPBUSD) q8_0's activations come pair-bounded (below)
 *
 * The layout is the 512-bit kernel's (model.h): a 64-byte value vector holds 16 rows, a ymm
 * half of it 8 (rows 8h .. 8h+7), so a group of 16 rows is two passes, the second over bytes
 * the first brought into the cache. Every block's integer sum is exact, so all variants equal
 * the reference bit for bit.
 *
 * Without vpdpbusd, vpmaddubsw multiplies unsigned weight bytes with signed activation bytes
 * into int16 pair sums and vpmaddwd with ones widens them to int32. The int16 sums must not
 * saturate: the 4-5-bit values (< 32) times |xq| <= 127 stay below 2·31·127 = 7874 per pair.
 * q8_0's stored bytes (w + 128, 0..255) would not with any activations: they are made signed
 * again (xor 0x80) and multiplied as |w| · (xq with w's sign) — at most 2·128·127 = 32512 —
 * with the sums starting from 0 instead of −128·Σ xq (the same integer): vpsignb, vpmaddubsw,
 * vpmaddwd per 32 products and row. With QXT_PAIRS the activations are pair-bounded
 * (wh_qx_act_pairs: |xq[2i]| + |xq[2i+1]| <= 128, so 255·128 = 32640 at most) and the stored
 * bytes are multiplied as they are, from −128·Σ xq as with vpdpbusd: two of those three
 * operations, which on Intel cores all issue on the same two ports (ports 0 and 1). The price
 * is the activations' step, the largest pair's |x| sum / 127 instead of the largest value's
 * (up to twice as coarse); docs/engine.md has what it costs and gains. */

#include "qx_dispatch.h"

/* Which row counts prefetch (kernels.h, WH_QX_PREFETCH). The AVX2 code at one row too: on a
 * Zen 3 (AVX2-only; 2 threads, step harness alternating both in one process, medians of 480
 * steps) base q5_0 batch 1 3.27 -> 2.82 ms and q8_0 4.04 -> 3.79 ms (distances 3-12 KB
 * within 5 %); the vpdpbusd forms keep the AVX-512 kernel's rule (one row slower with it). */
#ifdef QXT_DPBUSD
#define QXT_PREFETCH(M) WH_QX_PREFETCH(M)
#else
#define QXT_PREFETCH(M) ((M) >= 1 && (M) < WH_QX_TALL_ROWS)
#endif

/* 16 where bit j of each byte of the half's fifth-bit plane P is set, else 0 (model.h: the
 * bit moved to bit 4 by a 16-bit lane shift that crosses no byte for j <= 7, then masked) */
static inline __attribute__((always_inline)) QXT_ATTR __m256i qx_bit16(__m256i P, const int j)
{
    const __m256i b = j < 4 ? _mm256_slli_epi16(P, 4 - j) : j > 4 ? _mm256_srli_epi16(P, j - 4) : P;
    return _mm256_and_si256(b, _mm256_set1_epi8(16));
}

/* The block's offset term for activation row m as int32 lanes: cs (−128·Σ xq, a multiple
 * of 128) times off/128. For q5_0 an exact arithmetic shift of the broadcast, in the vector
 * unit: as a scalar division (its sign fix-up, then a move into a vector register) per row
 * and block it was 13-16 % of the AVX2 product at M = 5 on a Zen 3 (1 thread, weights in L2,
 * alternating in one process: 69.1 -> 59.8, 42.1 -> 39.1 us; bit-identical). q4_0, whose
 * vector pipes are busier per byte, keeps the scalar form (the shift measured 3-4 % slower). */
static inline __attribute__((always_inline)) QXT_ATTR __m256i qx_offset_sum(const int xt, const int32_t *cs,
                                                                            const int off)
{
    if (wh_qx_has_h(xt)) return _mm256_srai_epi32(_mm256_set1_epi32(*cs), __builtin_ctz(128 / off));
    return _mm256_set1_epi32(*cs / (128 / off));
}

/* keeps a sum a sequential chain: without it GCC reassociated the unrolled integer sums into
 * a tree, computing all 40 products of a q8_0 block at M = 5 first and spilling them */
#define QX_CHAIN(v) __asm__("" : "+x"(v))

static inline QXT_ATTR __m256i qx_bcast4(const int8_t *x)
{
    int32_t v;
    memcpy(&v, x, 4);
    return _mm256_set1_epi32(v);
}

/* the half's value vectors j (low nibbles) and j + 4 (high) of a 4-5-bit block, as bytes */
static inline __attribute__((always_inline)) QXT_ATTR void qx_nibbles(const int xt, const uint8_t *p, int oq, int oh,
                                                                      int j, __m256i *lo, __m256i *hi)
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + oq + 64 * j));
    *lo = _mm256_and_si256(v, lo4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    if (wh_qx_has_h(xt)) {
        const __m256i P = _mm256_loadu_si256((const __m256i *)(const void *)(p + oh));
        *lo = _mm256_or_si256(*lo, qx_bit16(P, j));
        *hi = _mm256_or_si256(*hi, qx_bit16(P, j + 4));
    }
}

#ifdef QXT_DPBUSD
/* One block of a half: s[m] = the int32 sums of the 8 rows against activation row m, from
 * −offset·Σ xq, one vpdpbusd per value vector and row (M = 1: two chains, the instruction's
 * latency would bound one) */
static inline __attribute__((always_inline)) QXT_ATTR void qx_sums(const int xt, const int M, int K,
                                                                   const int8_t *xq, const int32_t *cs, int nb, int b,
                                                                   const uint8_t *p, int h, __m256i *s)
{
    const int off = wh_qx_offset(xt), oh = wh_qx_off_h(xt) + 32 * h, oq = wh_qx_off_q(xt) + 32 * h;
    __m256i s1 = _mm256_setzero_si256();
#pragma GCC unroll 7
    for (int m = 0; m < M; m++) s[m] = off ? qx_offset_sum(xt, cs + m * nb + b, off) : _mm256_setzero_si256();
    if (xt == WH_Q8X) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(p + oq + 64 * j));
            if (M == 1 && (j & 1)) {
                s1 = QXT_DPBUSD(s1, u, qx_bcast4(xq + (size_t)b * 32 + 4 * j));
                continue;
            }
#pragma GCC unroll 7
            for (int m = 0; m < M; m++) s[m] = QXT_DPBUSD(s[m], u, qx_bcast4(xq + (size_t)m * K + (size_t)b * 32 + 4 * j));
        }
    } else {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i lo, hi;
            qx_nibbles(xt, p, oq, oh, j, &lo, &hi);
            if (M == 1) {
                s[0] = QXT_DPBUSD(s[0], lo, qx_bcast4(xq + (size_t)b * 32 + 4 * j));
                s1 = QXT_DPBUSD(s1, hi, qx_bcast4(xq + (size_t)b * 32 + 4 * (j + 4)));
                continue;
            }
#pragma GCC unroll 7
            for (int m = 0; m < M; m++) {
                const int8_t *x = xq + (size_t)m * K + (size_t)b * 32;
                s[m] = QXT_DPBUSD(QXT_DPBUSD(s[m], lo, qx_bcast4(x + 4 * j)), hi, qx_bcast4(x + 4 * (j + 4)));
            }
        }
    }
    if (M == 1) s[0] = _mm256_add_epi32(s[0], s1);
}
#else
/* One block of a half: s[m] = the int32 sums of the 8 rows against activation row m. At
 * M = 1 the row's sums add up in int16 first (pair sums below 2·15·127 = 3810 for q4, 2·31·127
 * = 7874 for q5: eight or four before one widening vpmaddwd); at M > 1 each vector is made
 * once and multiplied with every row's activations, q5 widened per pair of vectors (its
 * int16 sums of M rows beside the int32 ones would not fit the 16 registers), q4 per block.
 * Alternatives measured (1 thread,
 * weights in L2, 1024 × 512, Zen 4 at --isa avx2): the M > 1 structure at M = 1 was 13-35 %
 * slower, the M = 1 structure at M = 5 7-12 % slower. */
static inline __attribute__((always_inline)) QXT_ATTR void qx_sums(const int xt, const int M, int K,
                                                                   const int8_t *xq, const int32_t *cs, int nb, int b,
                                                                   const uint8_t *p, int h, __m256i *s)
{
    const int off = wh_qx_offset(xt), has_h = wh_qx_has_h(xt);
    const int oh = wh_qx_off_h(xt) + 32 * h, oq = wh_qx_off_q(xt) + 32 * h;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i t16[7];   /* q4 at M > 1: each row's int16 sums of a block */
    /* cs = −128·Σ xq takes q8's +128 back; the others' offset is a fraction of it */
#ifdef QXT_PAIRS
    const int signed8 = 0;
#else
    const int signed8 = xt == WH_Q8X;   /* q8's bytes made signed: no offset */
#endif
#pragma GCC unroll 7
    for (int m = 0; m < M; m++)
        s[m] = off && !signed8 ? qx_offset_sum(xt, cs + m * nb + b, off) : _mm256_setzero_si256();
    if (xt == WH_Q8X) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(p + oq + 64 * j));
#ifdef QXT_PAIRS   /* pair-bounded activations: the stored bytes as they are */
#pragma GCC unroll 7
            for (int m = 0; m < M; m++) {
                const __m256i x = qx_bcast4(xq + (size_t)m * K + (size_t)b * 32 + 4 * j);
                s[m] = _mm256_add_epi32(s[m], _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones));
                QX_CHAIN(s[m]);
            }
#else
            const __m256i w = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
            const __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 7
            for (int m = 0; m < M; m++) {
                const __m256i xs = _mm256_sign_epi8(qx_bcast4(xq + (size_t)m * K + (size_t)b * 32 + 4 * j), w);
                s[m] = _mm256_add_epi32(s[m], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xs), ones));
                QX_CHAIN(s[m]);
            }
#endif
        }
        return;
    }
    if (M == 1) {
        const int8_t *x = xq + (size_t)b * 32;
        const int per = has_h ? 2 : 4;   /* vectors j (low nibbles) and j + 4 (high) per step */
        __m256i t = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i lo, hi;
            qx_nibbles(xt, p, oq, oh, j, &lo, &hi);
            t = _mm256_add_epi16(t, _mm256_add_epi16(_mm256_maddubs_epi16(lo, qx_bcast4(x + 4 * j)),
                                                     _mm256_maddubs_epi16(hi, qx_bcast4(x + 4 * (j + 4)))));
            if ((j + 1) % per == 0) {
                s[0] = _mm256_add_epi32(s[0], _mm256_madd_epi16(t, ones));
                t = _mm256_setzero_si256();
            }
        }
        return;
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m256i lo, hi;
        qx_nibbles(xt, p, oq, oh, j, &lo, &hi);
#pragma GCC unroll 7
        for (int m = 0; m < M; m++) {
            const int8_t *x = xq + (size_t)m * K + (size_t)b * 32;
            const __m256i u = _mm256_add_epi16(_mm256_maddubs_epi16(lo, qx_bcast4(x + 4 * j)),
                                               _mm256_maddubs_epi16(hi, qx_bcast4(x + 4 * (j + 4))));
            if (has_h) {   /* q5: one widening per pair of vectors */
                s[m] = _mm256_add_epi32(s[m], _mm256_madd_epi16(u, ones));
                QX_CHAIN(s[m]);
                continue;
            }
            /* q4: the whole block's 8 pair vectors in int16 (≤ 8·3810 = 30480), one widening —
             * the multiplier pipes, which vpmaddubsw and vpmaddwd share with the FMAs, do 20 %
             * less (1 thread, 1024 × 512 in L2, fastest of six alternating runs at M = 5:
             * q4_0 28.4 → 25.5 µs, q4_1 32.0 → 29.5; for q5 the 4 pairs per sum measured 4 %
             * slower, its M int16 sums beside M int32 sums do not fit the registers) */
            t16[m] = j ? _mm256_add_epi16(t16[m], u) : u;
            QX_CHAIN(t16[m]);
            if (j == 3) s[m] = _mm256_add_epi32(s[m], _mm256_madd_epi16(t16[m], ones));
        }
    }
}
#endif

/* Rows 8h .. 8h+7 of one group over all K (the 512-bit kernel's qx_group, one half at a
 * time): per block the int32 sums (qx_sums), then per activation row one fma with d_w · d_x
 * (+ m_w · d_x·Σ xq for the _1 types). 16 ymm: M sums, M accumulators, the vectors in
 * flight. Lanes of `lanes` (all-ones dwords) are written to C's M rows at c — by plain loads
 * and stores when all eight are (full): vmaskmovps is microcoded on AMD, and with K = 64 (the
 * encoder attention's scores, two blocks a half) they had cost a third of the product (ea
 * harness, 96 × 1504 scores, 1 thread, three alternating pairs: the AVX-VNNI code 163–173 →
 * 84–106 µs, AVX2 208–262 → 151–177) */
static inline __attribute__((always_inline)) QXT_ATTR void qx_half(const int xt, const int M, int K,
                                                                   const int8_t *xq, const float *dx,
                                                                   const int32_t *cs, const float *sx,
                                                                   const uint8_t *p, int h, __m256i lanes, int full,
                                                                   const float *bias, float *c, int ldc,
                                                                   int accumulate)
{
    const int nb = K / 32, has_m = wh_qx_has_m(xt);
    const size_t bs = wh_qx_block_bytes(xt);
    __m256 acc[7];
#pragma GCC unroll 7
    for (int m = 0; m < M; m++) acc[m] = _mm256_setzero_ps();
    const uint8_t *pg = p;   /* the group's first block: its bytes run on into the next group's */
    for (int b = 0; b < nb; b++, p += bs) {
        /* Half a block's lines per block step in both passes, WH_QX_PF_BLOCKS blocks ahead in
         * the stream (the second pass re-reads what the first brought): the whole block at
         * each step of the first pass only had left DRAM idle through the second, the two
         * taking turns. Base's output projection (51865 × 512 q8_0, weights from DRAM, AVX2,
         * 1 thread, fastest of 12, three rounds): M = 5 3.43-3.56 -> 2.76-3.03 ms, M = 3
         * 2.93 -> 2.52, M = 2 2.53 -> 2.37 (Emerald Rapids slice; 8 or 24 blocks ahead slower
         * than 12). The whole beam-5 step (base q8_0, --isa avx2, step harness, both builds
         * interleaved): 1 thread 8.46 -> 7.89 ms (medians of 16), 2 threads 4.05 -> 3.96 ms
         * (medians of 36: the other core's reads fill most of the gap there). One row keeps the whole block in the first pass: its step measured level
         * or worse with the spread (base q8_0 batch 1, 2 threads, medians 1.81-1.90 -> 1.82-2.08 ms) */
        if (QXT_PREFETCH(M) && M >= 2)
            wh_qx_prefetch_span(pg + (size_t)(h * nb + b) * bs / 2 + WH_QX_PF_BLOCKS * bs, bs / 2);
        else if (QXT_PREFETCH(M) && h == 0)
            wh_qx_prefetch(p, bs);   /* the second half reads what the first brought */
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * h)));
        __m256i s[7];
        qx_sums(xt, M, K, xq, cs, nb, b, p, h, s);
        const __m256 mw = has_m ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 32 + 16 * h)))
                                : _mm256_setzero_ps();
#pragma GCC unroll 7
        for (int m = 0; m < M; m++) {
            acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[m]), _mm256_mul_ps(dw, _mm256_set1_ps(dx[m * nb + b])), acc[m]);
            if (has_m)   /* + m · Σ x, with Σ x = d_x · Σ xq (sx) */
                acc[m] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sx[m * nb + b]), acc[m]);
        }
    }
    const __m256 bv = !bias ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, lanes);
#pragma GCC unroll 7
    for (int m = 0; m < M; m++) {
        float *cm = c + (size_t)m * ldc;
        __m256 v = !accumulate ? acc[m]
                   : _mm256_add_ps(full ? _mm256_loadu_ps(cm) : _mm256_maskload_ps(cm, lanes), acc[m]);
        if (bias) v = _mm256_add_ps(v, bv);
        if (full) _mm256_storeu_ps(cm, v);
        else _mm256_maskstore_ps(cm, lanes, v);
    }
}

static inline __attribute__((always_inline)) QXT_ATTR void qx_rows2(const int xt, const int M, int K,
                                                                    const int8_t *xq, const float *dx,
                                                                    const int32_t *cs, const float *sx,
                                                                    const wh_wmat *W, int n0, int n1, const float *bias,
                                                                    float *C, int ldc, int accumulate)
{
    const size_t gbytes = (size_t)(K / 32) * wh_qx_block_bytes(xt);
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int g = n0 / 16; g * 16 < n1; g++)
        for (int h = 0; h < 2; h++) {
            const int base = g * 16 + 8 * h, r0 = n0 > base ? n0 - base : 0, r1 = n1 < base + 8 ? n1 - base : 8;
            if (r0 >= r1) continue;
            /* lanes r0 .. r1-1; masked-off lanes are neither read nor written, so the pointers
             * may run past C's and bias's ends for a partial group */
            const __m256i lanes = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(r1), idx),
                                                   _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(r0 - 1)));
            qx_half(xt, M, K, xq, dx, cs, sx, (const uint8_t *)W->data + (size_t)g * gbytes, h, lanes,
                    r0 == 0 && r1 == 8, bias ? bias + base : NULL, C + base, ldc, accumulate);
        }
}

QXT_ATTR void QXT_GEMV(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                       const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate)
{
    QX_DISPATCH(qx_rows2)
}
#undef QX_CHAIN
#undef QXT_PREFETCH
