/* kernels.h — the engine's numeric kernels, with runtime CPU dispatch.
 *
 * Every kernel has a portable scalar version (the reference the SIMD versions are tested
 * against: tests/unit/test_kernels.c) and, where it matters, an AVX2/FMA/F16C version in
 * kernels_avx2.c selected once by wh_kernels_init() (or forced with wh_kernels_force()).
 *
 * Matrix convention ("NT"): activations A are row-major [M][K]; weights W are the ggml
 * layout — N rows of K elements (ne[0] = K fastest), i.e. a PyTorch [out, in] weight — in
 * any supported type; C[M][N] = A · Wᵀ (+ bias). Accumulation is always f32; quantized and
 * f16 weights are dequantized exactly, and activations are not quantized — with one
 * exception: quantized decoder weights repacked (WH_Q8X .. WH_Q41X) on an AVX2 or AVX512-VNNI
 * CPU multiply int8 activations (below). */
#ifndef WH_KERNELS_H
#define WH_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Dispatch levels, each a superset of the one before: AVX-512 machines also run the AVX2
 * kernels where no 512-bit version exists. */
typedef enum { WH_ISA_SCALAR = 0, WH_ISA_AVX2 = 1, WH_ISA_AVX512 = 2 } wh_isa;

void wh_kernels_init(void);          /* idempotent, thread-safe */
wh_isa wh_kernels_isa(void);
void wh_kernels_force(wh_isa isa);   /* tests/benchmarks: pin a path (the best the CPU has
                                        at or below isa); pinned below the best, the AVX2
                                        level is an AVX2-only CPU's (wh_kernels_vnni256) */
wh_isa wh_kernels_best(void);        /* the best level this CPU supports */
const char *wh_isa_name(wh_isa isa);

/* Rows ahead that the batch-1 GEMV (one activation row, one weight row at a time, f32/f16/
 * int8 rows) prefetches into L2, 0 = the hardware prefetcher alone. Set at init from the
 * CPU's vendor, by what each measured (gemv_tmpl.h): Intel 8, others 0. The GEMVs read it
 * as wh_gemv_pf_rows; wh_kernels_set_gemv_prefetch (benchmarks, tests) overrides it. */
#define WH_GEMV_PF_INTEL 8
extern int wh_gemv_pf_rows;
int wh_kernels_gemv_prefetch(void);
void wh_kernels_set_gemv_prefetch(int rows);

typedef struct {
    const void *data;
    int type;            /* WH_F32, WH_F16, WH_Q* */
    int k;               /* elements per row */
    size_t row_bytes;    /* stride between rows */
} wh_wmat;

/* Scratch each thread needs for wh_gemm_part, in floats. */
#define WH_GEMM_KC 256
#define WH_GEMM_NC 128
size_t wh_gemm_scratch_floats(int K);

/* C[m][n] = sum_k A[m][k] W[n][k] + bias[n] for n in [n0, n1), all m < M.
 * accumulate: add to C instead of overwriting; bias (may be NULL) is added either way. scratch: per-thread,
 * wh_gemm_scratch_floats(K) floats. */
void wh_gemm_part(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                  const float *bias, float *C, int ldc, int accumulate, float *scratch);
/* The same product against B already packed: the operand a layer re-uses across calls (the
 * encoder attention's K and V of a head, once per head instead of once per block of
 * queries). Layout for N columns × K: for each WH_GEMM_KC slice of K (k0, kc), the
 * ceil(N/16) panels of [kc][16] one after another: element (n, k) at
 * k0·16·ceil(N/16) + (n/16)·16·kc + (k − k0)·16 + n%16; ceil(N/16)·16·K floats in all,
 * columns past N zero. Columns [n0, n1), n0 a multiple of 16; C is overwritten; no bias. */
/* Packing for it from f32: N rows of K (row stride ld) — or, _bt, from the transposed
 * operand: K rows of N (row stride ld), each panel row a plain copy. */
void wh_pack_b_f32(const float *W, size_t ld, int N, int K, float *Bp);
void wh_pack_bt_f32(const float *Wt, size_t ld, int N, int K, float *Bp);
/* the same from f16 (the decoder's caches and the window's keys and values), exact */
void wh_pack_bt_f16(const uint16_t *Wt, size_t ld, int N, int K, float *Bp);
void wh_gemm_packed(int M, int K, const float *A, int lda, const float *Bp, int N, int n0, int n1, float *C, int ldc);
/* Tall products (the encoder's 1500 positions) split by rows across threads: W packed
 * once into the layout above by all threads (panels [p0, p1) of the N rows n0 .. n0+N-1 of
 * W; scratch: a thread's wh_gemm_scratch_floats(W->k)), then each thread's block of rows
 * against it, columns [c0, c1) of the N (c0 a multiple of 32): C (+)= A · Wᵀ + bias
 * (bias indexed by column, may be NULL), then GELU when gelu. M <= 192. Rounds exactly as
 * wh_gemm_part (the same K slices, then the bias). */
/* amx (wh_gemm_amx_ok(K) and wh_kernels_amx()): Bp in the AMX layout instead (the same
 * floats' bytes; kernels_amx_avx512.c), the product on AMX-BF16 tiles with A split into bf16
 * parts in abuf (wh_amx_abuf_bytes(M, K), 64-byte aligned) — not bit-equal to the f32 path
 * (see "AMX" below); amx 0: abuf unused, may be NULL. */
void wh_pack_b_wmat(const wh_wmat *W, int n0, int N, int p0, int p1, float *Bp, float *scratch, int amx);
void wh_gemm_packed_cols(int M, int K, const float *A, int lda, const float *Bp, int N, int c0, int c1,
                         const float *bias, int gelu, float *C, int ldc, int accumulate, int amx, void *abuf);
/* AMX (Sapphire Rapids and later Xeons): the tall f32 products (the encoder's window and a
 * decoder prompt of 64 tokens or more: the row split, ops.c) on AMX-BF16 tiles, each f16 weight
 * split exactly into two bf16 parts (an f32 one to 16 bits) and each activation into two
 * (about 16 significant bits), three tile products per term summed in f32: within a few 1e-6 of a product's largest value of the f64 result,
 * against ~1e-7 on the FMA path (kernels_amx_avx512.c says why and how). Usable when the
 * CPU has AMX-TILE, AMX-BF16 and AVX512-BF16, the OS saves the tile state (XCR0 bits 17-18)
 * and grants it to this process (arch_prctl ARCH_REQ_XCOMP_PERM), and the AVX-512 level is in
 * use (not pinned lower). Only the CPU backend's auto compute mode takes it (exact keeps f32);
 * SPEECH_SESSION_AMX=0 in the environment turns it off, as wh_kernels_allow_amx(0) does for
 * tests and bin/bench. */
/* The AVX512-VNNI kernel's q5 unpacking by vgf2p8affineqb (kernels_avx512.c, qx_group): 1 when
 * it runs — by default on AVX512-VNNI CPUs with GFNI of the Sapphire Rapids class, with AMX
 * or by model where a hypervisor hides AMX (where it was measured faster; kernels.c says why
 * not the other GFNI CPUs). The kernel reads wh_qx_gfni;
 * wh_kernels_allow_gfni (tests, benchmarks) turns it on wherever the CPU has GFNI and
 * AVX512-VNNI, or off, and returns whether it now runs. */
extern int wh_qx_gfni;
int wh_kernels_gfni(void);
int wh_kernels_allow_gfni(int allow);
int wh_kernels_amx(void);
void wh_kernels_allow_amx(int allow);
int wh_gemm_amx_ok(int K);   /* K a multiple of 32 and wh_kernels_amx() */
size_t wh_amx_abuf_bytes(int M, int K);
/* one 16-column panel of B in the AMX layout: _slice from 16 rows of kc (S, rows lds apart:
 * columns × k), into k-steps k0 .. k0+kc of a K-deep panel; _bt from K rows of 16 (X, rows
 * ldx apart: k × columns, the transposed operand), rows from kvalid on zero */
void wh_amx_pack_b_slice(const float *S, size_t lds, int kc, int k0, int K, uint16_t *panel);
void wh_amx_pack_bt(const float *X, size_t ldx, int kvalid, int K, uint16_t *panel);
void wh_amx_pack_bt_f16(const uint16_t *X, size_t ldx, int kvalid, int K, uint16_t *panel);   /* X f16, exact */
void wh_amx_gemm_cols(int M, int K, const float *A, int lda, const uint16_t *Bp, int c0, int c1,
                      const float *bias, int gelu, float *C, int ldc, int accumulate, uint16_t *abuf);
/* Reference: straightforward triple loop on exactly dequantized rows. */
void wh_gemm_ref(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                 const float *bias, float *C, int ldc);

/* Dequantize row r of W into out[K] (exact). */
void wh_wmat_row(const wh_wmat *W, int r, float *out);

float wh_dot(const float *a, const float *b, int n);
/* KV caches are stored in f16 (half the memory traffic of the decoder's attention);
 * these read them with f32 accumulation. */
float wh_dot_f16(const float *a, const uint16_t *b, int n);
void wh_axpy_f16(float *y, float a, const uint16_t *x, int n);  /* y += a x */
void wh_to_f16(const float *x, uint16_t *y, size_t n);          /* round to nearest even */
void wh_from_f16(const uint16_t *x, float *y, size_t n);        /* exact */
/* transposed: y[c·ldy + r] = f16(x[r·ldx + c]) for r < rows, c < cols (nothing else written) */
void wh_to_f16_t(const float *x, size_t ldx, int rows, int cols, uint16_t *y, size_t ldy);
/* Decoder attention, one query row and one head over len cached positions: S[p] = q·K[p]
 * (q already scaled by 1/sqrt(dh)), S = softmax(S), o[dh] = Σ_p S[p] V[p]. K and V: f16 rows
 * of dh elements, stride ld elements, in blocks of bs positions (a paged cache; one block: bs
 * >= len): position p's key at K[p / bs] + (p % bs)·ld, its value likewise in V[p / bs]. The
 * same sums whatever the blocks. S (len floats) keeps the probabilities. */
void wh_attend_f16_blocks(const float *q, const uint16_t *const *K, const uint16_t *const *V, int bs, size_t ld,
                          int len, int dh, float *S, float *o);
/* Cross-attention of R query rows (R >= 1) over one head's len positions:
 * S[r][p] = q[r]·K[p] (q already scaled), S[r] = softmax(S[r]), o[r][c] = Σ_p S[r][p] V[p][c].
 * Keys in 32-position tiles: K[p][d] at KT[(p/32)·dh·32 + d·32 + p%32], every tile up to
 * wh_attend_rows_pad(len) readable (positions past len are computed and discarded). V: f16
 * rows of dh, stride ldv. q, S, o: R rows of strides ldq, lds (>= wh_attend_rows_pad(len);
 * S keeps the probabilities), ldo. SIMD for dh = 64, the scalar reference otherwise. */
#define WH_ATT_TILE 32
void wh_attend_rows(int R, int dh, const float *q, size_t ldq, const uint16_t *KT, const uint16_t *V, size_t ldv,
                    int len, float *S, size_t lds, float *o, size_t ldo);
size_t wh_attend_rows_pad(int len);   /* len rounded up to WH_ATT_TILE */
/* The same with the window's keys and values as int8 (the CPU backend's compute int8, and a
 * quantized model's auto: the K/V a step reads from DRAM halved): key p's dh values are
 * ks[p]·KT[...] (the tiles as above, bytes; ks readable up to wh_attend_rows_pad(len)), value
 * row p's vs[p]·V[p·ldv + c]; wh_i8_row quantizes each. */
void wh_attend_rows_i8(int R, int dh, const float *q, size_t ldq, const int8_t *KT, const float *ks, const int8_t *V,
                       const float *vs, size_t ldv, int len, float *S, size_t lds, float *o, size_t ldo);
/* The same with int8 products (vpdpbusd: where wh_qx_kernel_vnni()), dh = 64. The window's
 * int8 keys and values (wh_i8_row per position, scales ks and vs as above) in the
 * instruction's layouts, every 32-position tile up to wh_attend_rows_pad(len) readable:
 *   KU: byte ((p/32·16 + d/4)·32 + p%32)·4 + d%4 = K[p][d] + 128 (unsigned), 2 KB a tile
 *   VQ: byte (p/4·64 + c)·4 + p%4 = V[p][c] (signed)
 * (wh_att8_put writes one position). Each query row is quantized as wh_i8_row does (one
 * scale d_q for its 64 values, bytes h) and its rounding residual once more (l = round((q/d_q
 * − h)·254)), so the scores' integer sums are Σ (254·h + l)·K — the query to about 15 bits
 * — times ks[p]·d_q/254; S = softmax as above; the probabilities times vs[p] are quantized
 * per 32 positions to unsigned bytes u (d = max / 255, rounded to nearest even; 0 past len)
 * for o[r][c] = Σ_b d_b Σ_p u[p]·V[p][c].
 * Why: at beam 5 the f32 products were bound by the FMA pipes (a step's cross-attention twice
 * its batch-1 time, which DRAM bounds); vpdpbusd does four products per lane. scratch:
 * wh_attend_q8_scratch(R, len) bytes, 64-aligned. Scalar reference: the same call where no
 * VNNI kernel is in use. */
void wh_attend_rows_q8(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks, const int8_t *VQ,
                       const float *vs, int len, float *S, size_t lds, void *scratch, float *o, size_t ldo);
size_t wh_attend_q8_scratch(int R, int len);
void wh_att8_put(int p, const int8_t *k, const int8_t *v, uint8_t *KU, int8_t *VQ);
/* the layouts' byte offsets above, written once for wh_att8_put, the reference and the kernels */
static inline size_t wh_att8_kofs(int p, int d)
{
    const size_t tile = (size_t)(p / WH_ATT_TILE), g = (size_t)(d / 4);
    return ((tile * 16 + g) * WH_ATT_TILE + (size_t)(p % WH_ATT_TILE)) * 4 + (size_t)(d % 4);
}
static inline size_t wh_att8_vofs(int p, int c) { return ((size_t)(p / 4) * 64 + (size_t)c) * 4 + (size_t)(p % 4); }
/* the scratch's parts for R rows of len (lp = len padded to 32): quantized queries [R][64]
 * (h bytes, l bytes), d_q/254 and −128·Σh, −128·Σl per row (the keys' +128 taken back), the
 * probabilities' bytes [R][lp] and their scales [R][lp / 32] */
typedef struct {
    int8_t *qh, *ql;
    float *dq;
    int32_t *ch, *cl;
    uint8_t *u;
    float *du;
    size_t lp;
} wh_att8_parts;
wh_att8_parts wh_att8_split(int R, int len, void *scratch);
void wh_att8_queries(int R, const float *q, size_t ldq, const wh_att8_parts *a);   /* fills qh .. cl */
void wh_attend_rows_q8_avx512(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks,
                              const int8_t *VQ, const float *vs, int len, float *S, size_t lds, void *scratch,
                              float *o, size_t ldo);
void wh_attend_rows_q8_avxvnni(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks,
                               const int8_t *VQ, const float *vs, int len, float *S, size_t lds, void *scratch,
                               float *o, size_t ldo);
void wh_attend_rows_q8_vnni256(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks,
                               const int8_t *VQ, const float *vs, int len, float *S, size_t lds, void *scratch,
                               float *o, size_t ldo);
/* q[i] = x[i] / d rounded to nearest even, d = max|x| / 127 (0 for a zero row: all q 0);
 * returns d. SIMD and scalar give the same bytes. */
float wh_i8_row(const float *x, int n, int8_t *q);
/* R rows of n (row stride ldx) each as wh_i8_row, into q (row stride ldq), scales d[R]: the
 * same bytes, with the SIMD code's reductions and divisions taken eight rows at a time */
void wh_i8_rows(int R, int n, const float *x, size_t ldx, int8_t *q, size_t ldq, float *d);
void wh_axpy(float *y, float a, const float *x, int n);     /* y += a x */
void wh_scale(float *y, float a, const float *x, int n);    /* y = a x */
void wh_add_rows(float *y, size_t ldy, int rows, const float *b, int n);   /* y[r][i] += b[i] */
void wh_softmax(float *x, int n);                            /* in place, f32 */
/* x[i] = exp(x[i] - max x) in place; returns Σ x[i] (a softmax whose normalisation the
 * caller applies later, to fewer numbers: the encoder scales each attention output row) */
float wh_softmax_unnorm(float *x, int n);
/* wh_softmax_unnorm on rows of S (ld apart), inv[r] = 1 / the row's sum */
void wh_softmax_rows(float *S, int rows, int n, size_t ld, float *inv);
/* log Σ exp(x[i]), n >= 1; -INFINITY when every x is; f32 exponentials summed in double */
float wh_lse(const float *x, int n);
/* The search's scans of a vocabulary row (51865 logits: a scalar loop's compare-and-branch per
 * element had been 60 µs of a step, more than a base q5_0 batch-1 step's tenth). Every one is
 * exactly its scalar loop: NaNs never compare greater (nor equal), ties go to the lower index.
 *   wh_max       the largest non-NaN x, -INFINITY when there is none (n >= 0)
 *   wh_argmax    i = 0, then every later x[i] > x[a] moves it: the first index of the
 *                largest non-NaN value, 0 when x[0] is NaN (n >= 1)
 *   wh_find_gt   the first i with x[i] > t, n when none; wh_find_ge: x[i] >= t */
float wh_max(const float *x, int n);
int wh_argmax(const float *x, int n);
int wh_find_gt(const float *x, int n, float t);
int wh_find_ge(const float *x, int n, float t);
void wh_gelu(float *x, size_t n);                            /* exact erf GELU, in place */
void wh_gelu_bias(float *x, const float *b, size_t n);       /* x = GELU(x + b), one pass; b may be NULL */
void wh_gelu_bias_rows(float *x, size_t ldx, int rows, const float *b, size_t n);   /* the same on rows ldx apart */
void wh_exp_ref(float *x, int n);
/* rows of n: y = (x - mean)/sqrt(var + eps) * w + b, eps 1e-5 */
void wh_layernorm(const float *x, float *y, int rows, int n, int ld, const float *w, const float *b);

/* Decoder GEMV (M = 1..7 activation rows, the weights streamed once, converted in
 * registers): out[m·ldo + n - n0] = Σ_k A[m][k] W[n][k] for n in [n0, n1) (each activation
 * row's outputs contiguous, as C's rows: the caller copies them without a transposition). Types f32, f16,
 * q8_0, q5_0, q5_1, q4_0, q4_1 and CTranslate2's int8 rows (wh_gemv_type_ok); returns -1
 * and writes nothing for any other type or M.
 * wh_gemm_part uses them for M < 8; scalar reference: the same call under WH_ISA_SCALAR. */
int wh_gemv_type_ok(int type);
int wh_gemv_avx2(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1, float *out, int ldo);
int wh_gemv_avx512(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1, float *out, int ldo);

/* Quantized × int8 (AVX512-VNNI, AVX-VNNI or AVX2): a model's q8_0/q5_0/q5_1/q4_0/q4_1
 * weights, 16 rows interleaved (WH_Q8X .. WH_Q41X, model.h), against activations quantized per
 * 32-element block as q8_0 quantizes weights (d = max|x| / 127, q = round-to-nearest-even(x / d))
 * — what whisper.cpp does for every quantized type. One vpdpbusd multiplies 64 weight bytes (the
 * unsigned values, unpacked in registers) with 4 activation bytes for each of 16 rows; a
 * block's int32 sum is scaled once (d_w · d_x) for 16 rows, the _1 types add m_w · d_x·Σ xq.
 * At M = 5 the exact f32 path needs 6 FMA-pipe operations per 16 weights and row (bound by
 * them, not by memory), and at M = 1 the 4-5-bit types were bound by their unpacking.
 * 256-bit CPUs take the same layout eight rows at a time (qx256_tmpl.h: vpdpbusd with AVX-VNNI,
 * vpmaddubsw without), with the same integer sums and so the same results.
 * wh_gemm_part takes these types for M < 8 this way and, for M >= 8, dequantizes them exactly
 * like the original type; the parallel drivers (ops.c) give tall products (the encoder, prompt
 * passes) to the int8 kernel too, WH_QX_TALL_ROWS rows a call. Only the CPU backend makes
 * them, and only when wh_kernels_int8(). */
int wh_qx_type(int type);            /* the repacked type of a file type, or 0 */
int wh_qx_is(int type);              /* 1 for a repacked type */
/* the layout's offsets, block bytes and value offsets: wh_qx_* in model.h */
int wh_kernels_vnni(void);   /* AVX512-VNNI present and the AVX-512 level in use */
/* whether the CPU backend repacks quantized weights for int8 (the AVX2 level or above,
 * and not turned off: SPEECH_SESSION_EXACT=1 in the environment keeps every product exact
 * f32, as on CPUs without AVX2; tests switch it with wh_kernels_allow_int8, read at backend
 * open) */
int wh_kernels_int8(void);
void wh_kernels_allow_int8(int allow);
size_t wh_qx_bytes(int type, int N, int K);   /* type: a repacked type */
/* W: N rows of K (K % 32 == 0) of a type wh_qx_type() knows -> *out over a new 64-aligned
 * buffer *own (free()); 0 or -1 */
int wh_qx_pack(const wh_wmat *W, int N, wh_wmat *out, void **own);
/* N rows (N % 16 == 0) of K (K % 32 == 0) f32 values, element (r, k) at X[r·rs + k·ks] for
 * k < kvalid and 0 past it, quantized per 32-block (wh_i8_row's bytes, the scale as f16) into
 * the WH_Q8X layout at out (wh_qx_bytes(WH_Q8X, N, K) bytes): operands made at run time — the
 * encoder attention's keys, and its values transposed (ks = the row stride) */
void wh_qx8_pack_f32(int N, int K, const float *X, size_t rs, size_t ks, int kvalid, void *out);
/* A[M][K] per 32-block: xq[m·K + k], dx[m·K/32 + b] = the block's scale, cs[..] = −128·Σ xq
 * (the weights' +128 offset taken back), sx[..] = dx · Σ xq (the block's Σ x, for the types with
 * a block minimum, q5_1 and q4_1: once per block and row here, not per weight-row group in the
 * GEMV, whose scalar division and int-to-float for it had been 7-8 % of a base q5_1 beam step).
 * pairs: d = max(|x[2i]| + |x[2i+1]|) / 127 instead of max|x| / 127, so that every adjacent
 * pair has |xq[2i]| + |xq[2i+1]| <= 128 — what the AVX2 kernel's q8 product needs (vpmaddubsw
 * on the stored bytes 0..255: 255 · 128 = 32640 fits its int16 pair sums; wh_qx_act_pairs) */
void wh_qx_quant_ref(int M, int K, const float *A, int lda, int pairs, int8_t *xq, float *dx, int32_t *cs, float *sx);
void wh_qx_quant_avx512(int M, int K, const float *A, int lda, int8_t *xq, float *dx, int32_t *cs, float *sx);
/* C[m][n] = ((C[m][n] if accumulate, else 0) + Σ_b fma(Σ_k xq·q, d_w·d_x)) + bias[n] (bias may
 * be NULL) for n in [n0, n1), M <= 7: the staged GEMV's rounding of C and bias, written in C's
 * own layout (a group's 16 rows are one vector of each row of C: no transposition) */
void wh_gemv_qx_ref(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                    const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
void wh_gemv_qx_avx512(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                       const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
/* The same in 256-bit registers (qx256_tmpl.h), equal bit for bit: AVX2 (vpmaddubsw/vpmaddwd),
 * AVX-VNNI (VEX vpdpbusd: Intel client cores without AVX-512), and the AVX-VNNI code in EVEX
 * form for AVX512-VNNI CPUs (tests and bin/bench only: the engine runs the 512-bit kernel there) */
void wh_qx_quant_avx2(int M, int K, const float *A, int lda, int pairs, int8_t *xq, float *dx, int32_t *cs,
                      float *sx);
void wh_gemv_qx_avx2(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                     const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
/* AVX2 with q8_0's activations pair-bounded (kernels_pairs_avx2.c; wh_qx_act_pairs): the
 * same sums as the reference on the same (pair-bounded) activations */
void wh_gemv_qx_avx2p(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                      const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
/* which AVX2 kernel runs where no vpdpbusd does: 1 the pair-bounded one, 0 the exact one, -1
 * the CPU's default (pair-bounded on Intel, exact elsewhere) */
void wh_kernels_avx2_pairs(int on);
void wh_gemv_qx_avxvnni(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                        const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
void wh_gemv_qx_vnni256(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                        const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);
int wh_kernels_avxvnni(void);   /* AVX-VNNI (VEX) present and the AVX2 level or above in use */
/* bin/bench and tests at an AVX2 level pinned by wh_kernels_force on a CPU with VNNI: multiply
 * as an AVX-VNNI CPU does — with the CPU's own AVX-VNNI (wh_gemv_qx_avxvnni), else the same code
 * in EVEX form (wh_gemv_qx_vnni256) — instead of with vpmaddubsw (on = 0, the default: what an
 * AVX2-only CPU runs); ignored on CPUs with neither VNNI form */
void wh_kernels_vnni256(int on);
const char *wh_qx_kernel_name(void);   /* the int8 GEMV in use: "AVX512-VNNI" (", q5 unpacked by GFNI"),
                                          * "AVX-VNNI", "AVX2", ... */
/* whether that GEMV multiplies with vpdpbusd (AVX512-VNNI, AVX-VNNI, or its EVEX form): the
 * encoder attention's int8 products gain there (4x an f32 FMA's products per instruction),
 * not with AVX2's vpmaddubsw (no faster than f32 on its 64-element key rows) */
int wh_qx_kernel_vnni(void);
/* The activations quantized once for every column chunk of a product (wh_par_gemm): a buffer
 * of wh_qx_act_bytes(M, K) holding xq, dx, cs and sx; then any [n0, n1) of a repacked product */
size_t wh_qx_act_bytes(int M, int K);
void wh_qx_act_quant(int M, int K, const float *A, int lda, int pairs, void *act);
/* whether products with weights of repacked type `type` take pair-bounded activations
 * (wh_qx_quant_ref's pairs) at the level in use: WH_Q8X through wh_gemv_qx_avx2p.
 * A buffer quantized for several outputs takes them when any output needs them. */
int wh_qx_act_pairs(int type);
void wh_gemm_qx_part(int M, int K, const void *act, const wh_wmat *W, int n0, int n1, const float *bias, float *C,
                      int ldc, int accumulate);
/* One f32 row of K (K % 32 == 0) as q8_0 blocks ([f16 d][32 int8], 34 bytes each): ggml's
 * reference quantizer — d = max|x| / 127, q = roundf(x · (1/d)), halves away from zero — the
 * bytes `quantize ... q8_0` writes (compute int8 makes f16/f32 weights q8_0 with it) */
void wh_q8_0_row(const float *x, int K, uint8_t *out);
void wh_q8_0_row_ref(const float *x, int K, uint8_t *out);
void wh_q8_0_row_avx2(const float *x, int K, uint8_t *out);
/* Tall products (M >= 8) in parts: rows [r0, r1) of the M-row buffer quantized (one thread's
 * share; the bytes wh_qx_act_quant writes), and rows [r0, r1) × columns [n0, n1) of the
 * product through the int8 kernel, WH_QX_TALL_ROWS rows a call (WH_QX_TALL_ROWS_512 on
 * AVX512-VNNI; C: the product's row 0) —
 * each row equal bit for bit to wh_gemm_qx_part on that row alone */
#define WH_QX_TALL_ROWS 7
/* AVX512-VNNI's 32 registers take twelve rows a call (each block's unpacked weights serve 12
 * rows, not 7): Xeon slice, 1 thread, weights in L1/L2, cycles per block and row q8_0 8.0 ->
 * 7.4, q5_0 10.6 -> 8.7 (one sum of 8 vpdpbusd per row, the rows interleaved: qx_group in
 * kernels_avx512.c); base encoder, both libraries alternating in one process, 2 threads,
 * fastest / median of 12: q8_0 183 / 191 -> 174 / 187 ms, q5_0 203 / 214 -> 187 / 194 ms */
#define WH_QX_TALL_ROWS_512 12
void wh_qx_act_quant_part(int M, int K, const float *A, int lda, int pairs, void *act, int r0, int r1);
void wh_gemm_qx_tall(int M, int K, const void *act, int r0, int r1, const wh_wmat *W, int n0, int n1,
                     const float *bias, float *C, int ldc, int accumulate);
/* Software prefetch of the int8 GEMV at 2 .. WH_QX_TALL_ROWS - 1 activation rows (a beam or
 * best-of step): every line of the block this many blocks on in the group's stream, into L2.
 * Why: at five rows a block takes ~50 cycles of vpdpbusd, the out-of-order window then holds
 * about one block's loads, and the hardware prefetcher alone left DRAM and the arithmetic
 * taking turns (the step's products at half their batch-1 rate). Interleaved step harness,
 * base q8_0, AVX512-VNNI, 2 threads, medians of 320 steps: beam-5 step 4.17-4.25 -> 3.54-3.63 ms
 * at 4-8 KB (16 KB 3.76; into L1 instead: within noise). Not at one row (its loop is fast
 * enough for the hardware's: 1.88 -> 2.06-2.16 ms with it) nor at WH_QX_TALL_ROWS (the tall
 * driver's calls, whose weights the previous row block left in L2). The distance is counted
 * in blocks, not bytes: 6 KB was 11 of q8_0's 544-byte blocks but 17 of q5_0's 352, and q5_0's
 * beam step ran 3 % faster at 2-3.5 KB or with none (base q5_0, same harness, 640 steps, four
 * rounds). 12 blocks (q8_0 6.4 KB, q5_0 4.1 KB) against 6 KB: q8_0 1.780 -> 1.735 ms, q5_0
 * 1.628 -> 1.608; 10 blocks gave q8_0 1.774, q5_0 1.563-1.590. */
#define WH_QX_PF_BLOCKS 12
#define WH_QX_PREFETCH(M) ((M) >= 2 && (M) < WH_QX_TALL_ROWS)
/* the prefetch of the block at p (bs bytes): its lines WH_QX_PF_BLOCKS blocks on, into L2. Always
 * inlined: as a plain static inline GCC left it out of line in the kernels' one large function
 * (large-function-growth), then found the copy free of visible effects and deleted every call,
 * so the int8 GEMVs ran without it (tests/integration/kernels_prefetch.sh looks for it) */
static inline __attribute__((always_inline)) void wh_qx_prefetch(const uint8_t *p, size_t bs)
{
    for (size_t o = 0; o < bs; o += 64) __builtin_prefetch(p + WH_QX_PF_BLOCKS * bs + o, 0, 2);
}
/* the lines of the n bytes at p, into L2 (the 256-bit kernels' two-pass walk, qx256_tmpl.h) */
static inline __attribute__((always_inline)) void wh_qx_prefetch_span(const uint8_t *p, size_t n)
{
    const uint8_t *e = p + n;
    for (p = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)63); p < e; p += 64) __builtin_prefetch(p, 0, 2);
}

/* The micro-kernels' n rows of A (6 on AVX2, 12 or 6 at 512 bits): a partial row block (the
 * ragged end of M) runs the same loop with the missing rows reading row 0 (valid memory);
 * their results are not stored. */
static inline void wh_ukernel_rows(const float *A, int lda, int mr, int n, const float **r)
{
    for (int i = 0; i < n; i++) r[i] = A + (size_t)(i < mr ? i : 0) * (size_t)lda;
}

/* ISA-specific entry points (kernels_avx512.c): the encoder's micro-kernel over two
 * adjacent packed panels, C[mr][32] (+)= A[mr][kc] · [Bp | Bp + 16·kc], mr <= WH_UK512_MR;
 * a full tile also prefetches kc/4 lines from pf into L2 (NULL: its own panel, a no-op;
 * ukernel12_avx512.S) */
#define WH_UK512_MR 12
void wh_softmax_avx512(float *x, int n);
void wh_gelu_bias_avx512(float *x, const float *b, size_t n);   /* b may be NULL */
void wh_gelu_bias_rows_avx512(float *x, size_t ldx, int rows, const float *b, size_t n);
float wh_softmax_unnorm_avx512(float *x, int n);
void wh_softmax_rows_avx512(float *S, int rows, int n, size_t ld, float *inv);
float wh_logsumexp_avx512(const float *x, int n);   /* n >= 1 */
void wh_ukernel2_avx512(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int accumulate,
                        const void *pf);

/* ISA-specific entry points (kernels_avx2.c) */
void wh_ukernel_avx2(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int accumulate);
float wh_dot_avx2(const float *a, const float *b, int n);
float wh_dot_f16_avx2(const float *a, const uint16_t *b, int n);
void wh_axpy_f16_avx2(float *y, float a, const uint16_t *x, int n);
void wh_attend_rows_avx2(int R, const float *q, size_t ldq, const uint16_t *KT, const uint16_t *V, size_t ldv,
                         int len, float *S, size_t lds, float *o, size_t ldo);
void wh_attend_rows_avx512(int R, const float *q, size_t ldq, const uint16_t *KT, const uint16_t *V, size_t ldv,
                           int len, float *S, size_t lds, float *o, size_t ldo);
void wh_attend_rows_i8_avx2(int R, const float *q, size_t ldq, const int8_t *KT, const float *ks, const int8_t *V,
                            const float *vs, size_t ldv, int len, float *S, size_t lds, float *o, size_t ldo);
void wh_attend_rows_i8_avx512(int R, const float *q, size_t ldq, const int8_t *KT, const float *ks, const int8_t *V,
                              const float *vs, size_t ldv, int len, float *S, size_t lds, float *o, size_t ldo);
float wh_i8_row_avx2(const float *x, int n, int8_t *q);
void wh_i8_rows_avx2(int R, int n, const float *x, size_t ldx, int8_t *q, size_t ldq, float *d);
void wh_att8_queries_avx2(int R, const float *q, size_t ldq, const wh_att8_parts *a);
void wh_qx8_pack_t_avx2(int N, int K, const float *X, size_t ks, int kvalid, void *out);   /* rs = 1 */
void wh_qx8_pack_r_avx2(int N, int K, const float *X, size_t rs, void *out);   /* ks = 1, kvalid >= K */
void wh_attend64_avx2(const float *q, const uint16_t *const *K, const uint16_t *const *V, int bs, size_t ld, int len,
                      float *S, float *o);
void wh_to_f16_avx2(const float *x, uint16_t *y, size_t n);
void wh_scale_avx2(float *y, float a, const float *x, int n);
void wh_add_rows_avx2(float *y, size_t ldy, int rows, const float *b, int n);
void wh_to_f16_t_avx2(const float *x, size_t ldx, int rows, int cols, uint16_t *y, size_t ldy);
/* GEMM packing of one full panel: Bp[k][j] = rows[j·ld + k], j < 16, k < kc */
void wh_layernorm_row_avx2(const float *x, float *y, int n, const float *w, const float *b);
void wh_pack16_avx2(const float *rows, size_t ld, int kc, float *Bp);
void wh_pack16_f16_avx2(const void *rows, size_t ld, int kc, float *Bp);   /* from f16 rows (any alignment), ld in halves */
void wh_axpy_avx2(float *y, float a, const float *x, int n);
void wh_f16_row_avx2(const uint16_t *h, float *out, int n);
void wh_f16_rows16_avx2(const uint16_t *x, size_t ld, int rows, float *y);   /* [rows][16], x rows ld apart */
/* q8_0/q4_0/q4_1/q5_0/q5_1 rows, elements [k0, k0+n) (multiples of 32) */
void wh_dequant_row_avx2(int type, const void *row, float *out, long k0, long n);
/* WH_I8R rows ([f32 scale][int8 x K]), elements [k0, k0+n), any k0 and n */
void wh_i8r_row_avx2(const void *row, float *out, long k0, long n);
void wh_softmax_avx2(float *x, int n);
float wh_softmax_unnorm_avx2(float *x, int n);
float wh_logsumexp_avx2(const float *x, int n);   /* n >= 1 */
float wh_max_avx2(const float *x, int n);
int wh_find_avx2(const float *x, int n, float t, int ge);   /* wh_find_gt (ge 0), wh_find_ge (1) */
void wh_gelu_bias_avx2(float *x, const float *b, size_t n);   /* b may be NULL */
void wh_exp_avx2(float *x, int n);
#endif
