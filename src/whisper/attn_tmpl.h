/* attn_tmpl.h — the decoder's cross-attention for several query rows at once (dh = 64),
 * written once for every vector width. Included by kernels_avx2.c and kernels_avx512.c after
 * their gemv_tmpl.h macros (VEC, VW, VZERO, VFMA, VSET1, VF16), plus:
 *
 *   ATT_RG      query rows per pass (the accumulators must fit the register file)
 *   ATT_OVN(R)  output vectors per sweep over V for R rows (ATT_OVN·VW columns of the 64;
 *               fewer rows leave registers for more columns: fewer sweeps), at most ATT_OVMAX
 *   ATT_SOFTMAX the ISA's in-place row softmax
 *   ATT_NAME    the exported function's name (contract: wh_attend_rows, kernels.h)
 *   ATT_NAME8   the same for int8 keys and values (contract: wh_attend_rows_i8)
 *
 * Why: the beams of a step (and the teacher-forced tokens of a window) all attend to the same
 * window's K/V. One query row at a time converts every f16 K and V element once per row and
 * reduces each position's 64-wide dot product horizontally; at beam 5 that was a third of a
 * decoder step. Here the keys are stored transposed (KT[d][p], the encoder writes them so once
 * per window), so VW positions' scores are one FMA per dimension with the query element
 * broadcast: no horizontal sums, and each converted K/V vector feeds every row of the pass.
 * The keys are tiled (32 positions × 64 dimensions contiguous, 4 KB) and each head's values
 * contiguous: a plain transposed [64][len] layout made every block touch 64 rows kilobytes
 * apart, more streams than the prefetchers follow, and the kernel waited on L3 latency. */

/* Prefetch distances: values this many positions ahead (4 KB), keys this many tiles. A step
 * reads the window's K/V from DRAM (the weights' stream evicts them); 8 positions (1 KB, ~40
 * ns of a beam step's work) and the next tile had been less than DRAM's latency: base f16
 * step harness, 400 steps a round, builds alternating, medians: beam 5 4.646 -> 4.579 and
 * 5.008 -> 4.874 ms, batch 1 3.869 -> 3.835, --isa avx2 beam 5 6.154 -> 6.000 (values 32
 * ahead; 64 measured no better), then keys two tiles ahead: beam 5 4.848 -> 4.795 and 4.926 ->
 * 4.872, --isa avx2 6.378 -> 6.200, batch 1 level (a loaded host: these steps ran 3.2-3.8 ms
 * on a quieter one). */
#define ATT_PFV 32
#define ATT_PFK 2

/* one vector of VW keys or values at element offset e of KT/V: f16, or int8 (i8) */
#define ATT_KV(i8, base, e) ((i8) ? VI8((const int8_t *)(base) + (e)) : VF16((const uint16_t *)(base) + (e)))

/* S[r][p] = Σ_d q[r][d] KT[d][p], p in blocks of 2·VW inside the 32-position tiles (the
 * positions past len are scratch); int8 keys: the sums times each position's scale ks[p] */
static inline __attribute__((always_inline)) void att_scores(const int R, const int i8, const float *q, size_t ldq,
                                                             const void *KT, const float *ks, int len, float *S,
                                                             size_t lds)
{
    const size_t es = i8 ? 1 : 2;   /* bytes per element */
    for (int p = 0; p < len; p += 2 * VW) {
        VEC acc[ATT_RG][2];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = VZERO();
        const char *kp = (const char *)KT + ((size_t)(p / WH_ATT_TILE) * 64 * WH_ATT_TILE + p % WH_ATT_TILE) * es;
        for (int d = 0; d < 64; d++, kp += WH_ATT_TILE * es) {
            if ((p + 2 * VW) % WH_ATT_TILE == 0)   /* row d of the tile ATT_PFK on, once per tile */
                _mm_prefetch(kp + (ATT_PFK * 64 * WH_ATT_TILE - (p % WH_ATT_TILE)) * es, _MM_HINT_T0);
            const VEC k0 = ATT_KV(i8, kp, 0), k1 = ATT_KV(i8, kp, VW);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const VEC a = VSET1(q[(size_t)r * ldq + d]);
                acc[r][0] = VFMA(a, k0, acc[r][0]);
                acc[r][1] = VFMA(a, k1, acc[r][1]);
            }
        }
        if (i8) {
            const VEC s0 = VLOAD(ks + p), s1 = VLOAD(ks + p + VW);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                acc[r][0] = VMUL(acc[r][0], s0);
                acc[r][1] = VMUL(acc[r][1], s1);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            VSTORE(S + (size_t)r * lds + p, acc[r][0]);
            VSTORE(S + (size_t)r * lds + p + VW, acc[r][1]);
        }
    }
}

/* o[r][c] = Σ_p S[r][p] V[p][c], ATT_OVN(R)·VW columns per sweep of V (AVX2 at 1 row, one
 * sweep of 8 vectors instead of four of 2: 48 heads of 1500 positions, 1 thread, medians of 6
 * alternating runs, 0.59 → 0.45 ms in L2, 1.2 → 0.94 ms from DRAM); int8 values: each
 * probability times the row's scale vs[p] */
static inline __attribute__((always_inline)) void att_values(const int R, const int i8, const float *S, size_t lds,
                                                             const void *V, const float *vs, size_t ldv, int len,
                                                             float *o, size_t ldo)
{
    const int OV = ATT_OVN(R);
    const size_t es = i8 ? 1 : 2;
    /* int8 values with more rows than value vectors per sweep: the scale vs[p] multiplies the
     * OV converted vectors (shared by the rows) instead of each row's probability (R scalar
     * products and broadcasts, again in each of the 64 / (OV·VW) sweeps) */
    const int fold = i8 && R > OV;
    for (int c0 = 0; c0 < 64; c0 += OV * VW) {
        VEC acc[ATT_RG][ATT_OVMAX];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int j = 0; j < OV; j++) acc[r][j] = VZERO();
        const char *vp = (const char *)V + (size_t)c0 * es;
        for (int p = 0; p < len; p++, vp += ldv * es) {
            VEC v[ATT_OVMAX];
            _mm_prefetch(vp + ATT_PFV * ldv * es, _MM_HINT_T0);
            /* an f16 row of V is two cache lines; the first sweep asks for both (the AVX2 path's
             * four sweeps had left the second line's first touch to the third sweep, a DRAM
             * miss each: 48 heads × 5 rows × 1500 positions from DRAM, 1 thread, median of 8
             * alternating: AVX2 1.98 → 1.47 ms, at 1 row 1.39 → 1.12 ms; AVX-512 −2..−5 %); an
             * int8 row is one */
            if (c0 == 0 && !i8) _mm_prefetch(vp + (ATT_PFV * ldv + 32) * es, _MM_HINT_T0);
#pragma GCC unroll 8
            for (int j = 0; j < OV; j++) v[j] = fold ? VMUL(ATT_KV(i8, vp, j * VW), VSET1(vs[p])) : ATT_KV(i8, vp, j * VW);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const VEC a = VSET1(i8 && !fold ? S[(size_t)r * lds + p] * vs[p] : S[(size_t)r * lds + p]);
#pragma GCC unroll 8
                for (int j = 0; j < OV; j++) acc[r][j] = VFMA(a, v[j], acc[r][j]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int j = 0; j < OV; j++) VSTORE(o + (size_t)r * ldo + c0 + j * VW, acc[r][j]);
    }
}

static inline __attribute__((always_inline)) void att_pass(const int R, const int i8, const float *q, size_t ldq,
                                                           const void *KT, const float *ks, const void *V,
                                                           const float *vs, size_t ldv, int len, float *S, size_t lds,
                                                           float *o, size_t ldo)
{
    att_scores(R, i8, q, ldq, KT, ks, len, S, lds);
    for (int r = 0; r < R; r++) ATT_SOFTMAX(S + (size_t)r * lds, len);
    att_values(R, i8, S, lds, V, vs, ldv, len, o, ldo);
}

/* R rows in passes of at most ATT_RG, each a compile-time row count (the accumulators stay
 * in registers) */
static inline __attribute__((always_inline)) void att_rows(const int i8, int R, const float *q, size_t ldq,
                                                           const void *KT, const float *ks, const void *V,
                                                           const float *vs, size_t ldv, int len, float *S, size_t lds,
                                                           float *o, size_t ldo)
{
    while (R > 0) {
        const int g = R < ATT_RG ? R : ATT_RG;
        switch (g) {
#define ATT_CASE(G) \
    case G: att_pass(G, i8, q, ldq, KT, ks, V, vs, ldv, len, S, lds, o, ldo); break;
            ATT_CASE(1) ATT_CASE(2) ATT_CASE(3) ATT_CASE(4)
#if ATT_RG >= 5
            ATT_CASE(5)
#endif
#if ATT_RG >= 6
            ATT_CASE(6)
#endif
#if ATT_RG >= 8
            ATT_CASE(7) ATT_CASE(8)
#endif
#undef ATT_CASE
        default: break;
        }
        q += (size_t)g * ldq;
        S += (size_t)g * lds;
        o += (size_t)g * ldo;
        R -= g;
    }
}

void ATT_NAME(int R, const float *q, size_t ldq, const uint16_t *KT, const uint16_t *V, size_t ldv, int len,
              float *S, size_t lds, float *o, size_t ldo)
{
    att_rows(0, R, q, ldq, KT, NULL, V, NULL, ldv, len, S, lds, o, ldo);
}

void ATT_NAME8(int R, const float *q, size_t ldq, const int8_t *KT, const float *ks, const int8_t *V,
               const float *vs, size_t ldv, int len, float *S, size_t lds, float *o, size_t ldo)
{
    att_rows(1, R, q, ldq, KT, ks, V, vs, ldv, len, S, lds, o, ldo);
}
#undef ATT_KV
