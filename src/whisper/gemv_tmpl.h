/* gemv_tmpl.h — the decoder's small-M matrix product, written once for every vector width.
 * Included by kernels_avx2.c (8 lanes) and kernels_avx512.c (16 lanes), which define:
 *
 *   VEC, VW           vector type and its float lanes (8 or 16; 32 % VW == 0)
 *   VZERO() VFMA(a,b,c) VMUL(a,b) VADD(a,b) VSET1(x) VLOAD(p) VHSUM(v)
 *   VHSUM4(a,b,c,d,out) out[0..3] = the horizontal sums of a, b, c, d
 *   VF16(p)           VW halves at p (any alignment) -> floats
 *   VI8(p)            VW int8 at p -> floats
 *   VQ(type, qs, qh, e0) elements e0 .. e0+VW-1 of a q5_0/q5_1/q4_0/q4_1 block as floats:
 *                        the integer the block scale multiplies (q5_0 minus 16, q4_0 minus 8,
 *                        the _1 types unsigned); qs: the block's 16 nibble bytes, qh its fifth
 *                        bits (q5 types)
 *   VQ1(type, qs, qh, e0) optional: the same values as M = 1 takes them (one row of A, so
 *                        the conversion is not shared by several FMAs: fewer operations in
 *                        all may be worth some that compete with the FMAs); default VQ
 *   RBLK(type, M)     weight rows per block for M activation rows (R·M accumulators must
 *                     fit the register file with room for R weight vectors and one A); each
 *                     level says what it measured
 *   GEMV_OUTLINE      optional, 1: one out-of-line function per (type, M) (below)
 *   GEMV_NAME         the exported function's name
 *
 * Why: at M < 8 (a decoder step: batch 1 or the beams of one step) the product is a pure
 * stream of the weights, about 1–5 FMAs per weight element. The weights are converted to
 * f32 in registers and used at once, each weight byte read exactly once; nothing is staged
 * in memory. How the rows are walked (gemv_rows) is set by what DRAM streaming measured on
 * a Zen 4 (AMD EPYC, 32 MiB L3): R adjacent rows side by side ran at ~40 % of a plain read,
 * one row at a time or R streams far apart at 80–95 %. Dequantization is exact (q·d is
 * exact in f32 for these integers and f16 scales; q·d + m rounds once, as the reference
 * does), so results equal the f32 product on wh_dequant_row_ref's values up to summation
 * order (at M = 1 the scales are factored out of each block's sum; CTranslate2's int8 rows
 * divide each sum by the row's scale once, where the reference divides every weight). */

#ifndef VQ1
#define VQ1(type, qs, qh, e0) VQ(type, qs, qh, e0)
#endif

#ifndef GEMV_PF
#define GEMV_PF (-1)   /* software prefetch of the block loops: -1 four rows on (with four adjacent
                          rows per block it measured ~2x at M = 1 from DRAM on the Xeon VM, bin/bench
                          GEMV line), 0 none, N bytes ahead; the M = 1 f32/f16/int8 loop has its own,
                          wh_gemv_pf_rows (kernels.h) */
#endif
#if GEMV_PF < 0
#define GEMV_PFD ((size_t)4 * rb)   /* the same element four rows on (the distance measured on the
                                      * Xeon, where the rows were read four at a time) */
#else
#define GEMV_PFD GEMV_PF
#endif

static inline float gemv_f16le(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Accumulator sets per (row, m): one row at 2 <= M <= 5 keeps two, every other vector of K
 * going to the second (acc[1][m], the slot a second row would use), summed before the store.
 * With one set, one row's M FMA chains each wait out the FMA latency (4 cycles) per vector,
 * fewer than the 8 in flight that 2 FMAs per cycle need. Only AVX2 runs one row at M >= 2.
 * Measured there (Zen 4, --isa avx2 path, 1 thread, weights in L2, the fastest of 8
 * alternating runs; cycles per 16 weights and row, one set -> two): f16 M = 2 5.69 -> 3.18,
 * M = 3 6.73 -> 4.11, M = 5 7.52 -> 6.86; q8_0 M = 2 5.94 -> 4.25, M = 5 7.75 -> 7.01; int8
 * rows M = 5 8.26 -> 7.17; q5_0 M = 2 7.61 -> 6.39 but M = 5 9.03 -> 9.22 (q5_1 9.46 -> 9.78:
 * the fifth bits' unpacking needs the registers), so the q5 types keep one set from M = 4. */
#ifndef GEMV_SETS
#define GEMV_SETS(type, M, R)                                                                     \
    ((R) == 1 && (M) >= 2 && (M) <= ((type) == WH_Q5_0 || (type) == WH_Q5_1 ? 3 : 5) ? 2 : 1)
#endif

/* The decoder GEMV for R weight rows × M activation rows, in three phases: the stream over K
 * into acc[r][m] (gemv_dense for one value per element, gemv_blocks for 32-element blocks),
 * then gemv_store (horizontal sums, the scalar tail, int8 rows' scale). M and R are
 * compile-time constants at every call site (always_inline + unrolled loops), so acc[][]
 * lives in registers across the phases. Row r at w + r·rs; rb: the bytes of one row (the
 * prefetch distance). Each returns or takes k, the first element not yet summed. */

/* one weight vector of each type that has one value per element, at p */
#define GEMV_DENSE(p) (type == WH_F32 ? VLOAD((const float *)(const void *)(p)) : type == WH_F16 ? VF16(p) : VI8(p))

/* one vector of K at element k for gemv_dense's R rows, into accumulator set j */
static inline __attribute__((always_inline)) void gemv_dense_vec(const int type, const int M, const int R,
                                                                 const float *A, int lda, const uint8_t *w,
                                                                 size_t rb, size_t rs, int k, const int j,
                                                                 VEC acc[4][7])
{
    const int es = type == WH_F32 ? 4 : type == WH_F16 ? 2 : 1;
    const size_t off = type == WH_I8R ? 4 : 0;
    VEC wv[4];
    (void)rb;
#if GEMV_PF
    /* once per cache line (at M = 5 too: without it the rows come from L3 at a third of the
     * speed), into L2 rather than L1: base f16 decoder step (2 threads, medians of 480–640
     * steps, configurations alternating every 8 in one process, Zen 4) beam 5 −5 to −6 %,
     * beam 2 −11 %, beam 3 −9 %, at --isa avx2 beam 5 −4 %; 1 to 4 rows ahead measured level.
     * The block types' loop below keeps L1: into L2 there was level at M = 5 on q8_0 */
    if (((size_t)k * es) % 64 == 0)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) _mm_prefetch((const char *)(w + r * rs + off + (size_t)k * es) + GEMV_PFD, _MM_HINT_T1);
#endif
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) wv[r] = GEMV_DENSE(w + r * rs + off + (size_t)k * es);
#pragma GCC unroll 7
    for (int m = 0; m < M; m++) {
        const VEC a = VLOAD(A + (size_t)m * lda + k);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r + j][m] = VFMA(a, wv[r], acc[r + j][m]);
    }
}

/* f32, f16 and CTranslate2's int8 rows ([f32 scale][int8 × K]): one value per element */
static inline __attribute__((always_inline)) int gemv_dense(const int type, const int M, const int R, int K,
                                                            const float *A, int lda, const uint8_t *w, size_t rb,
                                                            size_t rs, size_t pfd, VEC acc[4][7])
{
    int k = 0;
    const int es = type == WH_F32 ? 4 : type == WH_F16 ? 2 : 1;
    const size_t off = type == WH_I8R ? 4 : 0;   /* CTranslate2's int8 rows: [f32 scale][int8 × K] */
    if (M == 1 && R == 1) {   /* batch 1, one row: four FMA chains (one would wait on the
                               * FMA latency at 16 weights per 4 cycles), and the software
                               * prefetch wh_gemv_pf_rows rows ahead, into L2, where it gains:
                               * on the Zen 4 the hardware's alone streamed f16 from DRAM at
                               * 28-29 GB/s on 2 threads, with the prefetch four rows ahead
                               * at 21-23 (/tmp harness, 200 MB, rotated); on an Intel Xeon
                               * slice the prefetch 8 rows ahead made the base f16 step 1.7x
                               * faster (WH_GEMV_PF_INTEL, kernels.h) */
        VEC s1 = VZERO(), s2 = VZERO(), s3 = VZERO();
        for (; k + 4 * VW <= K; k += 4 * VW) {
            const uint8_t *p = w + off + (size_t)k * es;
            if (pfd)   /* each cache line of the 4 vectors (64 or 128 bytes for f16) */
                for (int pl = 0; pl < 4 * VW * es; pl += 64) _mm_prefetch((const char *)p + pl + pfd, _MM_HINT_T1);
#define GEMV_W(j) GEMV_DENSE(p + (size_t)(j) * VW * es)
            acc[0][0] = VFMA(VLOAD(A + k), GEMV_W(0), acc[0][0]);
            s1 = VFMA(VLOAD(A + k + VW), GEMV_W(1), s1);
            s2 = VFMA(VLOAD(A + k + 2 * VW), GEMV_W(2), s2);
            s3 = VFMA(VLOAD(A + k + 3 * VW), GEMV_W(3), s3);
#undef GEMV_W
        }
        acc[0][0] = VADD(VADD(acc[0][0], s1), VADD(s2, s3));
    }
    const int S = GEMV_SETS(type, M, R);
    for (; k + S * VW <= K; k += S * VW)
#pragma GCC unroll 2
        for (int j = 0; j < S; j++) gemv_dense_vec(type, M, R, A, lda, w, rb, rs, k + j * VW, j, acc);
    if (S == 2 && k + VW <= K) {
        gemv_dense_vec(type, M, R, A, lda, w, rb, rs, k, 0, acc);
        k += VW;
    }
#undef GEMV_DENSE
    return k;
}

/* blocks of 32: q8_0 (34 bytes), q5_0 (22), q5_1 (24), q4_0 (18), q4_1 (20) */
static inline __attribute__((always_inline)) int gemv_blocks(const int type, const int M, const int R, int K,
                                                             const float *A, int lda, const uint8_t *w, size_t rb,
                                                             size_t rs, VEC acc[4][7])
{
    int k = 0;
    /* wh_type_size's block bytes and the quants' offset (after d, m, qh), written as
     * expressions the compiler folds for each instantiated type */
    const int has_m = type == WH_Q4_1 || type == WH_Q5_1, is5 = type == WH_Q5_0 || type == WH_Q5_1;
    const size_t bs = type == WH_Q8_0 ? 34 : (size_t)18 + 2 * has_m + 4 * is5;
    const int qo = 2 + 2 * has_m + 4 * is5;
    const uint8_t *bp = w;   /* walked, not (k / 32)·bs: fewer live registers for R rows */
    for (; k + 32 <= K; k += 32, bp += bs) {
#if GEMV_PF
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) _mm_prefetch((const char *)(bp + r * rs) + GEMV_PFD, _MM_HINT_T0);
#endif
        VEC d[4], mv[4];
        uint32_t qh[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            d[r] = VSET1(gemv_f16le(bp + r * rs));
            if (has_m) mv[r] = VSET1(gemv_f16le(bp + r * rs + 2));
            if (is5) memcpy(&qh[r], bp + r * rs + 2 + 2 * has_m, 4);
        }
#define GEMV_Q(r, e0)                                                                            \
    (type == WH_Q8_0 ? VI8(bp + (r) * rs + qo + (e0))                                            \
     : M == 1        ? VQ1(type, bp + (r) * rs + qo, qh[r], e0)                                  \
                     : VQ(type, bp + (r) * rs + qo, qh[r], e0))
        if (M == 1) {   /* one row of A: the block's scale once per block, not per element
                         * (and its minimum m times the block's Σ a: Σ a·(q·d + m)) */
            VEC t[4], as = VZERO();
#pragma GCC unroll 4
            for (int e0 = 0; e0 < 32; e0 += VW) {
                const VEC a = VLOAD(A + k + e0);
                if (has_m) as = e0 == 0 ? a : VADD(as, a);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) t[r] = e0 == 0 ? VMUL(a, GEMV_Q(r, e0)) : VFMA(a, GEMV_Q(r, e0), t[r]);
            }
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                acc[r][0] = VFMA(d[r], t[r], acc[r][0]);
                if (has_m) acc[r][0] = VFMA(mv[r], as, acc[r][0]);
            }
            continue;
        }
#pragma GCC unroll 4
        for (int e0 = 0; e0 < 32; e0 += VW) {
            const int j = GEMV_SETS(type, M, R) == 2 ? (e0 / VW) & 1 : 0;   /* set j: every other vector */
            VEC wv[4];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) wv[r] = has_m ? VFMA(GEMV_Q(r, e0), d[r], mv[r]) : VMUL(GEMV_Q(r, e0), d[r]);
#pragma GCC unroll 7
            for (int m = 0; m < M; m++) {
                const VEC a = VLOAD(A + (size_t)m * lda + k + e0);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) acc[r + j][m] = VFMA(a, wv[r], acc[r + j][m]);
            }
        }
#undef GEMV_Q
    }
    return k;
}

/* out[m·ldo + r·os] = acc[r][m] summed across lanes, plus the elements from k on, over the
 * row's scale for int8 rows */
static inline __attribute__((always_inline)) void gemv_store(const int type, const int M, const int R, int K, int k,
                                                             const float *A, int lda, const uint8_t *w, size_t rs,
                                                             VEC acc[4][7], float *out, size_t os, size_t ldo)
{
    /* horizontal sums four accumulators at a time (one shuffle tree for four, about half the
     * instructions of four separate reductions; at M = 5 they were a fifth of the block's
     * work for K = 512), into sums[r·M + m], then to each row's place */
    float sums[4 * 7 + 3];
    int i = 0;
#pragma GCC unroll 7
    for (; i + 4 <= R * M; i += 4)
        VHSUM4(acc[i / M][i % M], acc[(i + 1) / M][(i + 1) % M], acc[(i + 2) / M][(i + 2) % M],
               acc[(i + 3) / M][(i + 3) % M], sums + i);
#pragma GCC unroll 3
    for (; i < R * M; i++) sums[i] = VHSUM(acc[i / M][i % M]);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 7
        for (int m = 0; m < M; m++) out[m * ldo + r * os] = sums[r * M + m];
    for (int r = 0; r < R && k < K; r++)   /* f32/f16/int8 tail (block types' K is a multiple of 32) */
        for (int m = 0; m < M; m++) {
            float s = 0;
            for (int kk = k; kk < K; kk++) {
                const uint8_t *p = w + r * rs;
                float wk;
                if (type == WH_F32) memcpy(&wk, p + (size_t)kk * 4, 4);
                else if (type == WH_F16) wk = gemv_f16le(p + (size_t)kk * 2);
                else wk = (float)(int8_t)p[4 + kk];
                s += A[(size_t)m * lda + kk] * wk;
            }
            out[m * ldo + r * os] += s;
        }
    if (type == WH_I8R)   /* value = q / scale: one division per sum instead of per weight */
        for (int r = 0; r < R; r++) {
            float sc;
            memcpy(&sc, w + r * rs, 4);
            for (int m = 0; m < M; m++) out[m * ldo + r * os] /= sc;
        }
}

/* out[m·ldo + r·os] = Σ_k A[m][k] · W[r][k] for r < R, m < M */
static inline __attribute__((always_inline)) void gemv_blk(const int type, const int M, const int R, int K,
                                                           const float *A, int lda, const uint8_t *w, size_t rb,
                                                           size_t rs, size_t pfd, float *out, size_t os, size_t ldo)
{
    VEC acc[4][7];
    const int S = GEMV_SETS(type, M, R);
#pragma GCC unroll 4
    for (int r = 0; r < R * S; r++)
#pragma GCC unroll 7
        for (int m = 0; m < M; m++) acc[r][m] = VZERO();
    const int k = type == WH_F32 || type == WH_F16 || type == WH_I8R ? gemv_dense(type, M, R, K, A, lda, w, rb, rs, pfd, acc)
                                                                     : gemv_blocks(type, M, R, K, A, lda, w, rb, rs, acc);
    if (S == 2)
#pragma GCC unroll 7
        for (int m = 0; m < M; m++) acc[0][m] = VADD(acc[0][m], acc[1][m]);
    gemv_store(type, M, R, K, k, A, lda, w, rs, acc, out, os, ldo);
}

/* nr rows as R streams of h = nr / R consecutive rows each, read side by side (row i of
 * every stream in one block: R rows share each load of A), then the nr % R rows left one
 * at a time. Far apart, not adjacent: R adjacent rows (four streams a row apart) ran at
 * ~40 % of a plain read from DRAM on a Zen 4, one stream or streams h rows apart at 80-95 %. */
static inline __attribute__((always_inline)) void gemv_rows(const int type, const int M, const int R, int K,
                                                            const float *A, int lda, const uint8_t *w, size_t rb,
                                                            int nr, float *out, size_t ldo)
{
    const int h = nr / R;
    const size_t pfd = (size_t)wh_gemv_pf_rows * rb;   /* batch 1's prefetch distance (kernels.h) */
    for (int i = 0; i < h; i++)
        gemv_blk(type, M, R, K, A, lda, w + (size_t)i * rb, rb, (size_t)h * rb, pfd, out + i, (size_t)h, ldo);
    for (int r = R * h; r < nr; r++) gemv_blk(type, M, 1, K, A, lda, w + (size_t)r * rb, rb, 0, pfd, out + r, 0, ldo);
}

#if GEMV_OUTLINE
/* one out-of-line function per (type, M): each gets the register file to itself. Inlined
 * into one function, GCC kept four of the AVX-512 M = 5 loop's nine row pointers in vector
 * registers and moved them back every iteration (vmovq, on a port the FMAs use): f16 at
 * M = 5, 64 rows in L1/L2, 1 thread, 1.51-1.53 -> 1.34 ns per 16 weights and row (two
 * rounds, Xeon slice), tiny f16 beam-5 step 1.97-1.99 -> 1.94-1.96 ms, base level. The AVX2
 * build does not take it: there it measured 2.0 -> 2.2 ns at M = 5. */
#define GEMV_FN(TY, MM)                                                                       \
    static __attribute__((noinline)) void gemv_##TY##_##MM(int K, const float *A, int lda,   \
                                                            const uint8_t *w, size_t rb, int nr, \
                                                            float *out, size_t ldo)           \
    {                                                                                         \
        gemv_rows(TY, MM, RBLK(TY, MM), K, A, lda, w, rb, nr, out, ldo);                      \
    }
#define GEMV_FNS(TY) GEMV_FN(TY, 1) GEMV_FN(TY, 2) GEMV_FN(TY, 3) GEMV_FN(TY, 4) GEMV_FN(TY, 5) \
    GEMV_FN(TY, 6) GEMV_FN(TY, 7)
GEMV_FNS(WH_F32)
GEMV_FNS(WH_F16)
GEMV_FNS(WH_Q8_0)
GEMV_FNS(WH_Q5_0)
GEMV_FNS(WH_Q5_1)
GEMV_FNS(WH_Q4_0)
GEMV_FNS(WH_Q4_1)
GEMV_FNS(WH_I8R)
#undef GEMV_FNS
#undef GEMV_FN

#define GEMV_M_CASES(TY)                                                                      \
    switch (M) {                                                                              \
    case 1: gemv_##TY##_1(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    case 2: gemv_##TY##_2(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    case 3: gemv_##TY##_3(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    case 4: gemv_##TY##_4(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    case 5: gemv_##TY##_5(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    case 6: gemv_##TY##_6(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                     \
    default: gemv_##TY##_7(K, A, lda, w, rb, nr, out, (size_t)ldo); break;                    \
    }
#else
#define GEMV_M_CASES(TY)                                                                      \
    switch (M) {                                                                              \
    case 1: gemv_rows(TY, 1, RBLK(TY, 1), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    case 2: gemv_rows(TY, 2, RBLK(TY, 2), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    case 3: gemv_rows(TY, 3, RBLK(TY, 3), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    case 4: gemv_rows(TY, 4, RBLK(TY, 4), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    case 5: gemv_rows(TY, 5, RBLK(TY, 5), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    case 6: gemv_rows(TY, 6, RBLK(TY, 6), K, A, lda, w, rb, nr, out, (size_t)ldo); break;     \
    default: gemv_rows(TY, 7, RBLK(TY, 7), K, A, lda, w, rb, nr, out, (size_t)ldo); break;    \
    }
#endif

/* out[m·ldo + n - n0] = Σ_k A[m][k] · W[n][k], n in [n0, n1), 1 <= M <= 7; W of a type that
 * wh_gemv_type_ok accepts. Returns 0, or -1 (nothing written) for another type or M. */
int GEMV_NAME(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1, float *out, int ldo)
{
    if (M < 1 || M > 7) return -1;
    const size_t rb = W->row_bytes;
    const uint8_t *w = (const uint8_t *)W->data + (size_t)n0 * rb;
    const int nr = n1 - n0;
    switch (W->type) {
    case WH_F32: GEMV_M_CASES(WH_F32); return 0;
    case WH_F16: GEMV_M_CASES(WH_F16); return 0;
    case WH_Q8_0: GEMV_M_CASES(WH_Q8_0); return 0;
    case WH_Q5_0: GEMV_M_CASES(WH_Q5_0); return 0;
    case WH_Q5_1: GEMV_M_CASES(WH_Q5_1); return 0;
    case WH_Q4_0: GEMV_M_CASES(WH_Q4_0); return 0;
    case WH_Q4_1: GEMV_M_CASES(WH_Q4_1); return 0;
    case WH_I8R: GEMV_M_CASES(WH_I8R); return 0;
    default: return -1;
    }
}
#undef GEMV_M_CASES
#undef VQ1
#undef GEMV_OUTLINE
