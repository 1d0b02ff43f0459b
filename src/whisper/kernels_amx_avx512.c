/* kernels_amx_avx512.c — the encoder's tall f32 products on AMX-BF16 tiles (kernels.h,
 * "AMX"), each operand split into two bf16 parts so that the products keep about 16
 * significant bits.
 *
 * Why split: a bf16 holds 8 significant bits. Rounding the f16 weights (11 bits) or the f32
 * activations to one bf16 each moved a 512-deep product by 2e-3 of its largest value (a
 * scratch harness, docs/engine.md), an error an encoder's 4 to 32 layers would compound. But an f16 weight is
 * exactly hi + lo with hi = bf16(w) and lo = bf16(w − hi) (the 11 bits fit in two bf16s), and
 * an f32 activation is x1 + x2 + (≤ 2^-17 of x) with x1 = bf16(x), x2 = bf16(x − x1). The
 * product sums hi·x1 + lo·x1 + hi·x2 — three tile products, every bf16 product exact in the
 * tiles' f32 sums — and leaves out lo·x2 and the x remainder (each ≤ 2^-16 of the term): a
 * 512-deep product of f16 weights then lands within 3.4e-6 of its largest value of the f64
 * result (the f32 FMA path: ~1e-7; the weights' own f16 rounding: 2.4e-4), and on real speech
 * the words are those of the f32 path (docs/engine.md).
 *
 * Why AMX: one tdpbf16ps multiplies 16 × 32 by 32 × 16 (8192 products) where one 512-bit FMA
 * does 16. Three products per term still leave a core several times an FMA loop's rate
 * (docs/engine.md has the figures). The tile registers are only reachable from assembly
 * here: GCC 12's _tile_* macros declare no memory operands, so the compiler could move the
 * packing stores past a tile load; the macros below clobber memory.
 *
 * Layouts (bf16 as uint16_t):
 *   B, per 16-column panel: hi then lo, each [K/2][16][2] — row k/2 of a tile holds, for
 *     each of the 16 columns, elements k and k + 1 (the tiles' pair layout); a k-step of 32
 *     is one 16 × 64-byte tile, 1 KB, contiguous. A panel is 16·K floats' bytes (as f32).
 *   A, per call: rows padded to 16, as [row tile][k-step][16][32] for hi and again for lo:
 *     each tile 1 KB contiguous (64-byte rows: no 4 KB-strided rows to alias in L1). */
#include "kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

#define AMX_LDCFG(c) __asm__ volatile("ldtilecfg %0" ::"m"(*(const amx_cfg *)(c)) : "memory")
#define AMX_RELEASE() __asm__ volatile("tilerelease" ::: "memory")
#define AMX_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::: "memory")
#define AMX_LOADS(t, p, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void *)(p)), "r"((long)(stride)) : "memory")
#define AMX_LOAD(t, p) AMX_LOADS(t, p, 64)   /* a packed tile: 64-byte rows, contiguous */
#define AMX_STORE(t, p, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"((void *)(p)), "r"((long)(stride)) : "memory")
#define AMX_DP(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::: "memory")

/* 32 floats -> their bf16 hi and lo parts (round to nearest even), 32 of each */
static inline AMX_TARGET void split32(__m512 x0, __m512 x1, __m512i *hi, __m512i *lo)
{
    const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);   /* element i: x0 lanes 0-15, x1 16-31 */
    const __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    const __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    *hi = h;
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
}

/* 16 × 16 dwords: r[i] lane j -> r[j] lane i */
static inline AMX_TARGET void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* each 128-bit lane now holds a 4 × 4 block; gather the blocks */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

AMX_TARGET void wh_amx_pack_b_slice(const float *S, size_t lds, int kc, int k0, int K, uint16_t *panel)
{
    uint16_t *hi = panel, *lo = panel + (size_t)K * 16;
    for (int k = 0; k < kc; k += 32) {
        __m512i h[16], l[16];   /* column c's 16 pairs of k .. k+31 */
        for (int c = 0; c < 16; c++)
            split32(_mm512_loadu_ps(S + (size_t)c * lds + k), _mm512_loadu_ps(S + (size_t)c * lds + k + 16), &h[c],
                    &l[c]);
        transpose16(h);
        transpose16(l);
        const size_t o = (size_t)(k0 + k) / 2 * 32;   /* pair row (k0 + k) / 2, 32 bf16 a row */
        for (int i = 0; i < 16; i++) {
            _mm512_storeu_si512((void *)(hi + o + (size_t)i * 32), h[i]);
            _mm512_storeu_si512((void *)(lo + o + (size_t)i * 32), l[i]);
        }
    }
}

/* X's rows as f32 or (x16) f16: one source for both */
static inline AMX_TARGET void pack_bt_rows(const float *X, const uint16_t *x16, size_t ldx, int kvalid, int K,
                                           uint16_t *panel)
{
    uint16_t *hi = panel, *lo = panel + (size_t)K * 16;
    for (int k = 0; k < K; k += 2) {   /* pair row k/2: X rows k and k + 1, 16 columns each */
        __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
        if (k < kvalid)
            x0 = x16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x16 + (size_t)k * ldx)))
                     : _mm512_loadu_ps(X + (size_t)k * ldx);
        if (k + 1 < kvalid)
            x1 = x16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x16 + (size_t)(k + 1) * ldx)))
                     : _mm512_loadu_ps(X + (size_t)(k + 1) * ldx);
        __m512i h, l;   /* lanes 0-15: row k's 16 bf16, 16-31: row k + 1's */
        split32(x0, x1, &h, &l);
        const __m512i ix = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                            6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        _mm512_storeu_si512((void *)(hi + (size_t)k * 16), _mm512_permutexvar_epi16(ix, h));
        _mm512_storeu_si512((void *)(lo + (size_t)k * 16), _mm512_permutexvar_epi16(ix, l));
    }
}

AMX_TARGET void wh_amx_pack_bt(const float *X, size_t ldx, int kvalid, int K, uint16_t *panel)
{
    pack_bt_rows(X, NULL, ldx, kvalid, K, panel);
}

AMX_TARGET void wh_amx_pack_bt_f16(const uint16_t *X, size_t ldx, int kvalid, int K, uint16_t *panel)
{
    pack_bt_rows(NULL, X, ldx, kvalid, K, panel);
}

size_t wh_amx_abuf_bytes(int M, int K) { return (size_t)((M + 15) / 16) * 16 * (size_t)K * 2 * sizeof(uint16_t); }

/* A's M rows -> the per-call tile layout (hi, then lo at the buffer's second half) */
static AMX_TARGET void pack_a(int M, int K, const float *A, int lda, uint16_t *buf)
{
    const int ns = K / 32, mt = (M + 15) / 16;
    uint16_t *hi = buf, *lo = buf + (size_t)mt * 16 * K;
    for (int r = 0; r < mt * 16; r++) {
        const size_t row = (size_t)(r / 16) * ns * 512 + (size_t)(r % 16) * 32;
        for (int s = 0; s < ns; s++) {
            __m512i h = _mm512_setzero_si512(), l = _mm512_setzero_si512();
            if (r < M) {
                const float *a = A + (size_t)r * lda + 32 * s;
                split32(_mm512_loadu_ps(a), _mm512_loadu_ps(a + 16), &h, &l);
            }
            _mm512_storeu_si512((void *)(hi + row + (size_t)s * 512), h);
            _mm512_storeu_si512((void *)(lo + row + (size_t)s * 512), l);
        }
    }
}

/* C tiles of one row tile against one or two panels over k-steps [s0, s1), into the 16 × 32
 * f32 at t (row stride ldt floats): from zero when s0 is 0, else from what t holds. Each C
 * tile takes A1·Bhi, A2·Bhi, A1·Blo per k-step, the order tile_rows2 keeps. */
static AMX_TARGET void tile_rows(int s0, int s1, const uint16_t *a1, const uint16_t *a2, const uint16_t *p0,
                                 const uint16_t *p1, int K, float *t, size_t ldt)
{
    const size_t lo = (size_t)K * 16;
    if (s0 == 0) {
        AMX_ZERO(0);
        AMX_ZERO(1);
    } else {
        AMX_LOADS(0, t, ldt * 4);
        if (p1) AMX_LOADS(1, t + 16, ldt * 4);
    }
    for (int s = s0; s < s1; s++) {
        const size_t o = (size_t)s * 512;
        AMX_LOAD(2, a1 + o);
        AMX_LOAD(3, a2 + o);
        AMX_LOAD(4, p0 + o);
        AMX_LOAD(6, p0 + lo + o);
        AMX_DP(0, 2, 4);
        AMX_DP(0, 3, 4);
        AMX_DP(0, 2, 6);
        if (p1) {
            AMX_LOAD(5, p1 + o);
            AMX_LOAD(7, p1 + lo + o);
            AMX_DP(1, 2, 5);
            AMX_DP(1, 3, 5);
            AMX_DP(1, 2, 7);
        }
    }
    AMX_STORE(0, t, ldt * 4);
    if (p1) AMX_STORE(1, t + 16, ldt * 4);
}

/* The same for two row tiles (r: A parts a1r/a2r, sums tr, ldr) against a full panel pair:
 * four C tiles, each k-step's B loaded once for both (10 tile loads per 12 products instead
 * of 12), every C tile's products in tile_rows' order (the same sums whichever path a row
 * tile takes). Base f16 encoder, builds alternating in one process, four rounds of 10-12
 * windows, median: 187.8 / 187.9 / 186.6 / 178.2 -> 180.3 / 188.1 / 183.1 / 171.5 ms. */
static AMX_TARGET void tile_rows2(int s0, int s1, const uint16_t *a1, const uint16_t *a2, const uint16_t *a1r,
                                  const uint16_t *a2r, const uint16_t *p0, const uint16_t *p1, int K, float *t,
                                  size_t ldt, float *tr, size_t ldr)
{
    const size_t lo = (size_t)K * 16;
    if (s0 == 0) {
        AMX_ZERO(0);
        AMX_ZERO(1);
        AMX_ZERO(2);
        AMX_ZERO(3);
    } else {
        AMX_LOADS(0, t, ldt * 4);
        AMX_LOADS(1, t + 16, ldt * 4);
        AMX_LOADS(2, tr, ldr * 4);
        AMX_LOADS(3, tr + 16, ldr * 4);
    }
    for (int s = s0; s < s1; s++) {
        const size_t o = (size_t)s * 512;
/* the two row tiles' A parts at a and ar against the B pair in tiles 4 and 5 */
#define AMX_TWO_ROWS(a, ar) \
    do {                    \
        AMX_LOAD(6, a);     \
        AMX_DP(0, 6, 4);    \
        AMX_DP(1, 6, 5);    \
        AMX_LOAD(7, ar);    \
        AMX_DP(2, 7, 4);    \
        AMX_DP(3, 7, 5);    \
    } while (0)
        AMX_LOAD(4, p0 + o);   /* hi */
        AMX_LOAD(5, p1 + o);
        AMX_TWO_ROWS(a1 + o, a1r + o);
        AMX_TWO_ROWS(a2 + o, a2r + o);
        AMX_LOAD(4, p0 + lo + o);   /* lo */
        AMX_LOAD(5, p1 + lo + o);
        AMX_TWO_ROWS(a1 + o, a1r + o);
#undef AMX_TWO_ROWS
    }
    AMX_STORE(0, t, ldt * 4);
    AMX_STORE(1, t + 16, ldt * 4);
    AMX_STORE(2, tr, ldr * 4);
    AMX_STORE(3, tr + 16, ldr * 4);
}

/* K in chunks of this many k-steps: a panel pair's 16 KB of B for the chunk (hi and lo, 4 KB
 * a k-step) stays in L1 while every row tile goes through it, each tile's sums stored and
 * reloaded between chunks (f32 both ways: the same sums). Over all of K at once the pair
 * (128 KB at K = 512) came from L2 for every row tile. Base f16 encoder, builds alternating
 * in one process (`ab` harness, 8-10 windows each, median): 197-201 -> 186-188 ms at 8
 * k-steps, 183 at 4 (192 at 8 in that run), 224-233 at 16; row tiles outer instead (a row
 * tile's A in L1, B from L2 for each): 235-240. */
#define KSTEPS 4

/* a row tile's sums from t (16 × 32, row stride 32) into C: nr rows, w columns, added to C's
 * when accumulating */
static AMX_TARGET void tile_out(const float *t, float *c, int ldc, int nr, int w, int accumulate)
{
    const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xffff : (1u << w) - 1);
    const __mmask16 m1 = (__mmask16)(w >= 32 ? 0xffff : w > 16 ? (1u << (w - 16)) - 1 : 0);
    for (int i = 0; i < nr; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 v0 = _mm512_load_ps(t + i * 32), v1 = _mm512_load_ps(t + i * 32 + 16);
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), v1);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

#define TILES_MAX 12   /* row tiles a pass over the columns takes (192 rows: the row split's block) */

/* Row tiles [tb, te) (te − tb <= TILES_MAX) of the split A against columns [c0, c1): per
 * panel pair the K chunks, then the sums into C, then bias and GELU over the pass's rows */
static AMX_TARGET void cols_pass(int M, int K, const uint16_t *a1, const uint16_t *a2, int tb, int te,
                                 const uint16_t *Bp, int c0, int c1, const float *bias, int gelu, float *C, int ldc,
                                 int accumulate)
{
    const int ns = K / 32, rows0 = tb * 16, rows = (M < te * 16 ? M : te * 16) - rows0;
    _Alignas(64) float t[TILES_MAX][16 * 32];   /* a row tile's sums where C cannot take them */
    for (int j = c0; j < c1; j += 32) {
        const int w = c1 - j < 32 ? c1 - j : 32;
        const uint16_t *p0 = Bp + (size_t)(j / 16) * 32 * K, *p1 = w > 16 ? p0 + (size_t)32 * K : NULL;
        for (int s0 = 0; s0 < ns; s0 += KSTEPS) {
            const int s1 = ns - s0 < KSTEPS ? ns : s0 + KSTEPS;
            for (int rt = tb; rt < te;) {
                const int r0 = rt * 16, nr = M - r0 < 16 ? M - r0 : 16;
                const int direct = nr == 16 && w == 32 && !accumulate;   /* straight into C */
                float *dst = direct ? C + (size_t)r0 * ldc + j : t[rt - tb];
                const size_t ldd = direct ? (size_t)ldc : 32;
                if (p1 && rt + 1 < te) {   /* two row tiles a pass */
                    const int r1 = r0 + 16, nr1 = M - r1 < 16 ? M - r1 : 16;
                    const int direct1 = nr1 == 16 && w == 32 && !accumulate;
                    tile_rows2(s0, s1, a1 + (size_t)rt * ns * 512, a2 + (size_t)rt * ns * 512,
                               a1 + (size_t)(rt + 1) * ns * 512, a2 + (size_t)(rt + 1) * ns * 512, p0, p1, K, dst, ldd,
                               direct1 ? C + (size_t)r1 * ldc + j : t[rt + 1 - tb], direct1 ? (size_t)ldc : 32);
                    rt += 2;
                    continue;
                }
                tile_rows(s0, s1, a1 + (size_t)rt * ns * 512, a2 + (size_t)rt * ns * 512, p0, p1, K, dst, ldd);
                rt++;
            }
        }
        for (int rt = tb; rt < te; rt++) {
            const int r0 = rt * 16, nr = M - r0 < 16 ? M - r0 : 16;
            if (!(nr == 16 && w == 32 && !accumulate)) tile_out(t[rt - tb], C + (size_t)r0 * ldc + j, ldc, nr, w, accumulate);
        }
        float *cj = C + (size_t)rows0 * ldc + j;
        if (gelu)
            wh_gelu_bias_rows(cj, (size_t)ldc, rows, bias ? bias + j : NULL, (size_t)w);
        else if (bias)
            wh_add_rows(cj, (size_t)ldc, rows, bias + j, w);
    }
}

AMX_TARGET void wh_amx_gemm_cols(int M, int K, const float *A, int lda, const uint16_t *Bp, int c0, int c1,
                                 const float *bias, int gelu, float *C, int ldc, int accumulate, uint16_t *abuf)
{
    amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    const int mt = (M + 15) / 16;
    pack_a(M, K, A, lda, abuf);
    AMX_LDCFG(&cfg);
    const uint16_t *a1 = abuf, *a2 = abuf + (size_t)mt * 16 * K;
    for (int tb = 0; tb < mt; tb += TILES_MAX)
        cols_pass(M, K, a1, a2, tb, mt - tb < TILES_MAX ? mt : tb + TILES_MAX, Bp, c0, c1, bias, gelu, C, ldc,
                  accumulate);
    AMX_RELEASE();
}
