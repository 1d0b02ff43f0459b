/* att8_tmpl.h — the decoder's cross-attention with int8 products (wh_attend_rows_q8,
 * kernels.h), written once for 512- and 256-bit registers. The includer defines:
 *
 *   A8_ATTR        an attribute for every function here (the target)
 *   A8_W           int32/float lanes per vector (16 or 8); VI, VF the vector types
 *   A8_LOADI(p) A8_SET1I(x) A8_ZEROI() A8_ADDI(a, b) A8_MULLOI(a, b)
 *   A8_DPBUSD(sums, unsigned bytes, signed bytes)
 *   A8_LOADF(p) A8_STOREF(p, v) A8_SET1F(x) A8_ZEROF() A8_MULF(a, b) A8_FMA(a, b, c) A8_CVT(vi)
 *   A8_SOFTMAX_ROWS(S, rows, n, ld, inv)   the rows' exponentials in place (wh_softmax_rows)
 *   A8_QUANT32     (S, vs, n, inv, u) -> max: 32 exponentials times inv stored back (the
 *                  softmax's probabilities, its own normalisation pass's floats), then times vs
 *                  as att8_quant_p's bytes (the first n valid, n may be > 32), returns their max
 *   A8_SPLIT(G)    whether the scores' two byte rows take chains of their own at G rows
 *   A8_RG          query rows per pass, A8_OV(R) value vectors per sweep over V at R rows
 *   A8_NAME        the exported function
 *
 * Scores: per tile and four dimensions one vpdpbusd per A8_W positions and row for each of the
 * query's two byte rows (h, then l), the key bytes (k + 128) shared by every row of the pass
 * and the query's four bytes broadcast; the sums start at −128·Σ to take the offset back. Values: per group of four positions one vpdpbusd
 * per A8_W columns and row (the probabilities' four bytes broadcast), the int32 sums of a
 * 32-position block scaled by its d once. */

#define A8_PPI (2 * A8_W)   /* positions per scores iteration (two vectors) */
#define A8_PFT 6            /* tiles prefetched ahead (12 KB; 2 and 4 slower, 8 and 12 level:
                             * docs/engine.md) */

static inline __attribute__((always_inline)) A8_ATTR void a8_scores(const int G, const wh_att8_parts *a, int r0,
                                                                    const uint8_t *KU, const float *ks,
                                                                    const int8_t *VQ, int len, float *S, size_t lds)
{
    for (int p = 0; p < len; p += A8_PPI) {
        /* at a tile's first iteration: the key tile A8_PFT on into L1 and that tile's value
         * block (2 KB too) into L2 for a8_values — with the hardware's prefetch alone DRAM and
         * the products took turns — one line of each per (pass, d4) step below, spread through
         * the products: issued as 64 in a row they stalled on fill buffers (Intel Xeon slice,
         * `perf`: a third of the kernel's samples on the prefetch loop) */
        const int pf = p % WH_ATT_TILE == 0;
        const size_t next = (size_t)(p / WH_ATT_TILE + A8_PFT) * 64 * WH_ATT_TILE;
        const char *pk = (const char *)KU + next, *pv = (const char *)VQ + next;
        const uint8_t *kt = KU + wh_att8_kofs(p, 0);
        /* Σ h·K, then ·254 − 128·Σl, then + Σ l·(K + 128): the second pass's keys from L1. With
         * registers to spare (A8_SPLIT) the l sums have chains of their own, added at the end:
         * the same integers, and twice the chains to cover vpdpbusd's latency (at five rows
         * ten chains of 5-cycle products had just covered two a cycle) */
        const int split = A8_SPLIT(G);
        VI acc[A8_RG][2], acl[A8_RG][2];
#pragma GCC unroll 8
        for (int r = 0; r < G; r++) {
            acc[r][0] = acc[r][1] = A8_SET1I(a->ch[r0 + r]);
            if (split) acl[r][0] = acl[r][1] = A8_SET1I(a->cl[r0 + r]);
        }
#pragma GCC unroll 2
        for (int pass = 0; pass < 2; pass++) {
            const int8_t *qb = (pass ? a->ql : a->qh) + (size_t)r0 * 64;
            if (pass && !split)
#pragma GCC unroll 8
                for (int r = 0; r < G; r++) {
                    const VI c = A8_SET1I(a->cl[r0 + r]), m = A8_SET1I(254);
                    acc[r][0] = A8_ADDI(A8_MULLOI(acc[r][0], m), c);
                    acc[r][1] = A8_ADDI(A8_MULLOI(acc[r][1], m), c);
                }
#pragma GCC unroll 4
            for (int d4 = 0; d4 < 16; d4++) {
                if (pf) {
                    _mm_prefetch(pk + 64 * (16 * pass + d4), _MM_HINT_T0);
                    _mm_prefetch(pv + 64 * (16 * pass + d4), _MM_HINT_T1);
                }
                const VI k0 = A8_LOADI(kt + wh_att8_kofs(0, 4 * d4));
                const VI k1 = A8_LOADI(kt + wh_att8_kofs(A8_W, 4 * d4));
#pragma GCC unroll 8
                for (int r = 0; r < G; r++) {
                    int32_t x;
                    memcpy(&x, qb + (size_t)r * 64 + 4 * d4, 4);
                    const VI b = A8_SET1I(x);
                    if (pass && split) {
                        acl[r][0] = A8_DPBUSD(acl[r][0], k0, b);
                        acl[r][1] = A8_DPBUSD(acl[r][1], k1, b);
                    } else {
                        acc[r][0] = A8_DPBUSD(acc[r][0], k0, b);
                        acc[r][1] = A8_DPBUSD(acc[r][1], k1, b);
                    }
                }
            }
        }
        if (split)
#pragma GCC unroll 8
            for (int r = 0; r < G; r++) {
                const VI m = A8_SET1I(254);
                acc[r][0] = A8_ADDI(A8_MULLOI(acc[r][0], m), acl[r][0]);
                acc[r][1] = A8_ADDI(A8_MULLOI(acc[r][1], m), acl[r][1]);
            }
        const VF s0 = A8_LOADF(ks + p), s1 = A8_LOADF(ks + p + A8_W);
#pragma GCC unroll 8
        for (int r = 0; r < G; r++) {   /* (float) sum · (ks · d_q/254), the reference's order */
            const VF d = A8_SET1F(a->dq[r0 + r]);
            A8_STOREF(S + (size_t)r * lds + p, A8_MULF(A8_CVT(acc[r][0]), A8_MULF(s0, d)));
            A8_STOREF(S + (size_t)r * lds + p + A8_W, A8_MULF(A8_CVT(acc[r][1]), A8_MULF(s1, d)));
        }
    }
}

/* o[r][c0 ..] for OV·A8_W columns per sweep; u, du: the pass's rows (strides lp, lp / 32) */
static inline __attribute__((always_inline)) A8_ATTR void a8_values(const int G, const int OV, const uint8_t *u,
                                                                    const float *du, size_t lp, const int8_t *VQ,
                                                                    float *o, size_t ldo)
{
    const size_t nb = lp / 32;
    for (int c0 = 0; c0 < 64; c0 += OV * A8_W) {
        VF facc[A8_RG][4];
#pragma GCC unroll 8
        for (int r = 0; r < G; r++)
#pragma GCC unroll 4
            for (int j = 0; j < OV; j++) facc[r][j] = A8_ZEROF();
        for (size_t b = 0; b < nb; b++) {
            const int8_t *vb = VQ + wh_att8_vofs((int)b * 32, c0);
            VI iacc[A8_RG][4];
#pragma GCC unroll 8
            for (int r = 0; r < G; r++)
#pragma GCC unroll 4
                for (int j = 0; j < OV; j++) iacc[r][j] = A8_ZEROI();
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                VI v[4];
#pragma GCC unroll 4
                for (int j = 0; j < OV; j++) v[j] = A8_LOADI(vb + wh_att8_vofs(4 * g, j * A8_W));
#pragma GCC unroll 8
                for (int r = 0; r < G; r++) {
                    int32_t x;
                    memcpy(&x, u + (size_t)r * lp + b * 32 + 4 * (size_t)g, 4);
                    const VI pb = A8_SET1I(x);
#pragma GCC unroll 4
                    for (int j = 0; j < OV; j++) iacc[r][j] = A8_DPBUSD(iacc[r][j], pb, v[j]);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < G; r++) {
                const VF d = A8_SET1F(du[(size_t)r * nb + b]);
#pragma GCC unroll 4
                for (int j = 0; j < OV; j++) facc[r][j] = A8_FMA(A8_CVT(iacc[r][j]), d, facc[r][j]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < G; r++)
#pragma GCC unroll 4
            for (int j = 0; j < OV; j++) A8_STOREF(o + (size_t)r * ldo + c0 + j * A8_W, facc[r][j]);
    }
}

/* G rows (a compile-time count): scores, softmax, the probabilities' bytes, values */
static inline __attribute__((always_inline)) A8_ATTR void a8_pass(const int G, const wh_att8_parts *a, int r0,
                                                                  const uint8_t *KU, const float *ks,
                                                                  const int8_t *VQ, const float *vs, int len,
                                                                  float *S, size_t lds, float *o, size_t ldo)
{
    const size_t nb = a->lp / 32;
    float inv[A8_RG];
    a8_scores(G, a, r0, KU, ks, VQ, len, S, lds);
    /* the softmax without its normalisation pass (each row's exponentials pass takes the next
     * row's maximum); the quantizer, which loads every probability anyway, multiplies by 1/Σ
     * and stores them — the same floats, one pass over the rows fewer */
    A8_SOFTMAX_ROWS(S, G, len, lds, inv);
    for (int r = 0; r < G; r++) {
        float *Sr = S + (size_t)r * lds, *du = a->du + (size_t)(r0 + r) * nb;
        uint8_t *u = a->u + (size_t)(r0 + r) * a->lp;
        for (size_t b = 0; b < nb; b++) {
            const float m = A8_QUANT32(Sr + b * 32, vs + b * 32, len - (int)(b * 32), inv[r], u + b * 32);
            du[b] = m / 255.0f;
        }
    }
    a8_values(G, A8_OV(G), a->u + (size_t)r0 * a->lp, a->du + (size_t)r0 * nb, a->lp, VQ, o, ldo);
}

/* one function per row count: in one function with all eight, GCC's allocation for one count
 * depended on the others' code (eight rows 6 % slower once five had split chains) */
#define A8_PASSFN(G)                                                                              \
    static __attribute__((noinline)) A8_ATTR void a8_pass_##G(const wh_att8_parts *a, int r0, const uint8_t *KU, \
                                                              const float *ks, const int8_t *VQ, const float *vs, \
                                                              int len, float *S, size_t lds, float *o, size_t ldo) \
    {                                                                                             \
        a8_pass(G, a, r0, KU, ks, VQ, vs, len, S, lds, o, ldo);                                   \
    }
A8_PASSFN(1) A8_PASSFN(2) A8_PASSFN(3) A8_PASSFN(4) A8_PASSFN(5)
#if A8_RG >= 6
A8_PASSFN(6)
#endif
#if A8_RG >= 7
A8_PASSFN(7)
#endif
#if A8_RG >= 8
A8_PASSFN(8)
#endif
#undef A8_PASSFN

A8_ATTR void A8_NAME(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks, const int8_t *VQ,
                     const float *vs, int len, float *S, size_t lds, void *scratch, float *o, size_t ldo)
{
    const wh_att8_parts a = wh_att8_split(R, len, scratch);
    wh_att8_queries(R, q, ldq, &a);
    for (int r0 = 0; r0 < R; r0 += A8_RG) {
        const int g = R - r0 < A8_RG ? R - r0 : A8_RG;
        float *Sg = S + (size_t)r0 * lds, *og = o + (size_t)r0 * ldo;
        switch (g) {
#define A8_CASE(G) \
    case G: a8_pass_##G(&a, r0, KU, ks, VQ, vs, len, Sg, lds, og, ldo); break;
            A8_CASE(1) A8_CASE(2) A8_CASE(3) A8_CASE(4) A8_CASE(5)
#if A8_RG >= 6
            A8_CASE(6)
#endif
#if A8_RG >= 7
            A8_CASE(7)
#endif
#if A8_RG >= 8
            A8_CASE(8)
#endif
#undef A8_CASE
        default: break;
        }
    }
}
#undef A8_PPI
#undef A8_PFT
