/* ops.c — see ops.h. */
#include "ops.h"
#include "model.h"
#include <stdlib.h>
#include <string.h>

#define ROWS_PACK_CAP ((size_t)2 << 20)     /* floats of packed weights per round (8 MB) */

int wh_exec_init(wh_exec *ex, int n_threads, int max_k)
{
    memset(ex, 0, sizeof *ex);
    ex->pool = wh_pool_new(n_threads);
    if (!ex->pool) return -1;
    int n = wh_pool_size(ex->pool);
    ex->scratch_floats = (wh_gemm_scratch_floats(max_k) + 15) & ~(size_t)15;
    ex->bpack_cap = ROWS_PACK_CAP;
    ex->max_k = max_k;
    ex->qx_act_bytes = wh_qx_act_bytes(7, max_k);
    ex->qx_act = malloc(ex->qx_act_bytes);
    if (!ex->qx_act) return -1;
    ex->scratch = calloc((size_t)n, sizeof *ex->scratch);
    if (!ex->scratch) return -1;
    for (int i = 0; i < n; i++) {
        ex->scratch[i] = aligned_alloc(64, ex->scratch_floats * sizeof(float));
        if (!ex->scratch[i]) return -1;
    }
    return 0;
}

void wh_exec_deinit(wh_exec *ex)
{
    if (ex->scratch) {
        for (int i = 0; i < wh_pool_size(ex->pool); i++) free(ex->scratch[i]);
        free(ex->scratch);
    }
    if (ex->amx_a) {
        for (int i = 0; i < wh_pool_size(ex->pool); i++) free(ex->amx_a[i]);
        free(ex->amx_a);
    }
    free(ex->bpack);
    free(ex->qx_act);
    wh_pool_free(ex->pool);
    memset(ex, 0, sizeof *ex);
}

typedef struct {
    wh_exec *ex;
    int M, K, N, lda, ldc, accumulate, gelu, cs;
    const float *A, *bias;
    const wh_wmat *W;
    float *C;
    const void *act;   /* a repacked type (wh_qx_is): A quantized (ex->qx_act), else NULL */
} gemm_job;

/* A product's activations quantized once for all of its chunks, when a repacked weight takes
 * them (M < 8); NULL otherwise. Per chunk instead, a base beam step quantized the same rows
 * 405 times for the output projection alone (4 % of the step, perf). */
static const void *qx_quantize_once(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int pairs)
{
    if (!wh_qx_is(W->type) || M >= 8 || K > ex->max_k || !ex->qx_act) return NULL;
    wh_qx_act_quant(M, K, A, lda, pairs, ex->qx_act);
    return ex->qx_act;
}

/* whether a buffer quantized once for these outputs takes pair-bounded activations (any
 * output's kernel needs them: wh_qx_act_pairs) */
static int outs_pairs(const wh_gemm_out *outs, int n_outs)
{
    int pairs = 0;
    for (int i = 0; i < n_outs; i++) pairs |= wh_qx_act_pairs(outs[i].W->type);
    return pairs;
}

/* GELU on rows [m0, m1) × columns [n0, n1) of C, adding bias first when the product left it
 * out (gemm_task: "fuse") */
static void gelu_block(float *C, int ldc, int m0, int m1, int n0, int n1, const float *bias)
{
    for (int m = m0; m < m1; m++) {
        float *c = C + (size_t)m * ldc + n0;
        if (bias) wh_gelu_bias(c, bias + n0, (size_t)(n1 - n0));
        else wh_gelu(c, (size_t)(n1 - n0));
    }
}

static void gemm_task(void *va, int chunk, int ith)
{
    gemm_job *j = va;
    int n0 = chunk * j->cs, n1 = n0 + j->cs < j->N ? n0 + j->cs : j->N;
    /* GELU after a plain (not accumulating) product takes the bias in its own pass:
     * gelu(c + b) with c + b rounded as the GEMM's bias add would, one pass fewer */
    const int fuse = j->gelu && j->bias && !j->accumulate;
    if (j->act)
        wh_gemm_qx_part(j->M, j->K, j->act, j->W, n0, n1, fuse ? NULL : j->bias, j->C, j->ldc, j->accumulate);
    else
        wh_gemm_part(j->M, j->K, j->A, j->lda, j->W, n0, n1, fuse ? NULL : j->bias, j->C, j->ldc, j->accumulate,
                     j->ex->scratch[ith]);
    if (j->gelu) gelu_block(j->C, j->ldc, 0, j->M, n0, n1, fuse ? j->bias : NULL);
}

/* Column chunk of a parallel GEMM: about four per thread, so a descheduled thread's share
 * is picked up by the others; a multiple of 32 columns (two 16-wide panels: the AVX-512
 * micro-kernel takes panels in pairs, and a chunk of an odd number of panels ran its last
 * one through the AVX2 kernel at half the rate: a third of tiny's 384-column products);
 * at most WH_GEMM_NC, which the packed path's panels need (M >= 8).
 * Beam and best-of steps (2 <= M < 8: the GEMVs with a software prefetch) take two chunks a
 * thread with no such cap: a chunk's first blocks run before its prefetch is ahead of them,
 * and the output projection had been 405 chunks of 128 rows. Base step harness, beam 5, 640
 * steps a build alternating: q5_0 1.511 -> 1.424 ms, q8_0 1.730 -> 1.538 (one chunk a thread:
 * 1.385 and 1.508); batch 1 slower with such chunks (q5_0 1.006 -> 1.073 ms), so it keeps these. */
static int chunk_cols(int N, int nth, int M)
{
    const int beam = M >= 2 && M < 8;
    int cs = N / ((beam ? 2 : 4) * nth);
    cs = (cs + 31) & ~31;
    if (cs < 32) cs = 32;
    if (!beam && cs > WH_GEMM_NC) cs = WH_GEMM_NC;
    return cs;
}

/* Several outputs of one A in one parallel region (wh_par_gemm_multi, tall products): each
 * output chunked as wh_par_gemm chunks it, the chunks numbered output after output */
#define MULTI_MAX 4
typedef struct {
    int cs[MULTI_MAX], first[MULTI_MAX + 1];   /* chunk size, first chunk of each output */
} out_chunks;

/* the chunking of outs (n <= MULTI_MAX); returns the number of chunks */
static int out_chunks_init(out_chunks *c, const wh_gemm_out *outs, int n, int nth, int M)
{
    c->first[0] = 0;
    for (int i = 0; i < n; i++) {
        c->cs[i] = chunk_cols(outs[i].N, nth, M);
        c->first[i + 1] = c->first[i] + (outs[i].N + c->cs[i] - 1) / c->cs[i];
    }
    return c->first[n];
}

/* chunk's output and its columns [*n0, *n1) */
static const wh_gemm_out *out_chunk(const out_chunks *c, const wh_gemm_out *outs, int chunk, int *n0, int *n1)
{
    int o = 0;
    while (chunk >= c->first[o + 1]) o++;
    *n0 = (chunk - c->first[o]) * c->cs[o];
    *n1 = *n0 + c->cs[o] < outs[o].N ? *n0 + c->cs[o] : outs[o].N;
    return &outs[o];
}

/* ------------------------------------------------------------------ tall products
 * Split by columns, every thread streams all of A (the encoder's 1500 × K activations,
 * 3 MB for base: beyond L2) once per chunk of 64–128 columns, from L3, six rows at a time.
 * Split by rows instead, a thread's block of A stays in its L2 for every column, and the
 * weights are what streams — converted and packed once per product by all threads into
 * one shared buffer (ex->bpack), then read as contiguous panels. Single thread, base
 * shapes, in a scratch harness alternating the two loop orders: 79–94 % → 90–105 % of an
 * FMA-loop probe run beside them (docs/engine.md). */
#define ROWS_SEG_MAX 8

typedef struct {
    const wh_gemm_out *o;
    int n0, N, npan;   /* rows n0 .. n0+N-1 of o->W */
    float *bp;         /* its packed panels in ex->bpack */
    int amx;           /* packed and multiplied on AMX tiles (kernels.h) */
} rows_seg;

typedef struct {
    wh_exec *ex;
    int M, K, lda, gelu;
    const float *A;
    int unit;                        /* rows_unit: the row blocks' granularity */
    const wh_row_ln *ln;             /* (or NULL) each task's rows of the one output, after it */
    int nrb, ng;                     /* row blocks (rows_span); column groups per segment */
    rows_seg seg[ROWS_SEG_MAX];
    int nseg;
    int ptask[ROWS_SEG_MAX + 1];     /* first packing task (8 panels each) of each segment */
} rows_job;

/* row blocks: about eight per thread (a descheduled thread's share is picked up by the
 * others), a block of A under 512 KB (L2), at least 48 rows so that a packed panel pair,
 * once in L1, serves eight or more micro-kernel calls — and a multiple of the threads, so
 * that their shares end together: 1500 rows in blocks of 66 had made 23 (22 and a 48-row
 * one), and one thread ran the last block while the other waited at the barrier */
static int rows_nblocks(int M, int K, int nth, int unit)
{
    int rb = (M + 8 * nth - 1) / (8 * nth);
    const int cap = (int)(((size_t)128 << 10) / (size_t)K);
    if (rb > cap) rb = cap;
    if (rb < 48) rb = 48;
    if (rb > 192) rb = 192;
    rb = (rb + unit - 1) / unit * unit;
    const int nrb = (M + rb - 1) / rb, groups = (M + unit - 1) / unit;
    const int r = nrb > nth ? (nrb + nth - 1) / nth * nth : nrb;
    return r < groups ? r : groups;   /* many threads, few rows: no block left empty */
}

/* The micro-kernel's rows (the row blocks' granularity): the 12-row tile where the FMA
 * path multiplies 512-bit panel pairs, else six (the 6-row tiles, and AMX, whose A split
 * takes any count). Blocks of sixes had left the 512-bit sweep a 6-row call in every block
 * of an odd number of them: base f16's 1500 rows in blocks of 90 and 96 for the projections,
 * 60 and 66 for the MLP, whose 6-row pair kernel was 2.1 % of the encoder under `perf`. */
static int rows_unit(const wh_exec *ex)
{
    return !ex->amx && wh_kernels_isa() >= WH_ISA_AVX512 ? WH_UK512_MR : 6;
}

/* The blocks' shares: the last nth (one per thread) weigh half the others, so the round that
 * ends a job is shorter. Claimed in order, the blocks had ended the job on whole ones: a thread
 * slowed for a while (another tenant on the core) left the other waiting out most of a block at
 * the barrier — 2.2 and 2.9 ms of base f16's projections and MLP a window, 1.5 % of the encoder.
 * Only where every block keeps a group or more. The weight of the blocks before b: */
static long rows_cum(int b, int nrb, int tail)
{
    return b <= nrb - tail ? 2L * b : 2L * (nrb - tail) + (b - (nrb - tail));
}

/* block b's first row and row count: M rows in whole groups of u (micro-kernel row groups)
 * dealt over the nrb blocks by their weights (rows_cum), nth threads */
static int span_of(int M, int u, int nrb, int nth, int b, int *r0)
{
    const long g = (M + u - 1) / u;
    const int tail = nth > 1 && nrb >= 2 * nth && g >= 2L * nrb ? nth : 0;
    const long w = rows_cum(nrb, nrb, tail);
    const int a = (int)(rows_cum(b, nrb, tail) * g / w) * u, e = (int)(rows_cum(b + 1, nrb, tail) * g / w) * u;
    *r0 = a;
    return (e < M ? e : M) - a;
}

static int rows_span(const rows_job *j, int b, int *r0)
{
    return span_of(j->M, j->unit, j->nrb, wh_pool_size(j->ex->pool), b, r0);
}

static void rows_pack_task(void *va, int t, int ith)
{
    rows_job *j = va;
    int s = 0;
    while (t >= j->ptask[s + 1]) s++;
    const rows_seg *g = &j->seg[s];
    const int p0 = (t - j->ptask[s]) * 8;
    wh_pack_b_wmat(g->o->W, g->n0, g->N, p0, p0 + 8, g->bp, j->ex->scratch[ith], g->amx);
}

/* rows r0 .. r1-1 of x (n columns, ldx apart) LayerNormed by ln */
static void ln_rows(const wh_row_ln *ln, const float *x, int ldx, int n, int r0, int r1)
{
    for (int r = r0; r < r1; r++) wh_layernorm(x + (size_t)r * ldx, ln->y + (size_t)r * ln->ldy, 1, n, n, ln->w, ln->b);
}

typedef struct {
    const float *x;
    int ldx, n, rows;
    const wh_row_ln *ln;
} ln_job;

static void ln_task(void *va, int chunk, int ith)
{
    const ln_job *j = va;
    (void)ith;
    ln_rows(j->ln, j->x, j->ldx, j->n, chunk * 16, chunk * 16 + 16 < j->rows ? chunk * 16 + 16 : j->rows);
}

void wh_par_layernorm(wh_exec *ex, int rows, int n, const float *x, int ldx, const wh_row_ln *ln)
{
    ln_job j = {x, ldx, n, rows, ln};
    wh_pool_run(ex->pool, ln_task, &j, (rows + 15) / 16);
}

/* task = (row block, column group); the group's columns of every segment, so a thread's
 * block of A is read from L2 for all of them */
static void rows_gemm_task(void *va, int t, int ith)
{
    rows_job *j = va;
    const int b = t / j->ng, grp = t % j->ng;
    int r0;
    const int mr = rows_span(j, b, &r0);
    for (int s = 0; s < j->nseg; s++) {
        const rows_seg *g = &j->seg[s];
        const int gw = ((g->N + j->ng - 1) / j->ng + 31) & ~31;
        const int c0 = grp * gw, c1 = c0 + gw < g->N ? c0 + gw : g->N;
        if (c0 >= c1) continue;
        const wh_gemm_out *o = g->o;
        wh_gemm_packed_cols(mr, j->K, j->A + (size_t)r0 * j->lda, j->lda, g->bp, g->N, c0, c1,
                            o->bias ? o->bias + g->n0 : NULL, j->gelu, o->C + (size_t)r0 * o->ldc + g->n0, o->ldc,
                            o->accumulate, g->amx, g->amx ? j->ex->amx_a[ith] : NULL);
    }
    if (j->ln) ln_rows(j->ln, j->seg[0].o->C, j->seg[0].o->ldc, j->seg[0].o->N, r0, r0 + mr);
}

/* floats of N packed columns of K (whole 16-wide panels) */
static size_t packed_floats(int N, int K) { return (size_t)(N + 15) / 16 * 16 * (size_t)K; }

/* ex->bpack holds at least `need` floats; -1 when it cannot be had */
static int bpack_reserve(wh_exec *ex, size_t need)
{
    if (ex->bpack_floats >= need) return 0;
    free(ex->bpack);
    ex->bpack = aligned_alloc(64, need * sizeof(float));
    ex->bpack_floats = ex->bpack ? need : 0;
    return ex->bpack ? 0 : -1;
}

/* the most rows rows_span gives a block */
static int rows_max_span(int M, int nrb, int u, int nth)
{
    int most = 0, r0;
    for (int b = 0; b < nrb; b++) {
        const int n = span_of(M, u, nrb, nth, b, &r0);
        if (n > most) most = n;
    }
    return most;
}

/* AMX for a product of K-deep rows (its weights' row length) in this job: the exec asks for
 * it, the kernel can, and each thread's A buffer holds a row block (0 when it cannot be had:
 * the FMA path then) */
static int rows_amx(wh_exec *ex, int M, int nrb, int K)
{
    if (!ex->amx || !wh_gemm_amx_ok(K)) return 0;
    const size_t need = wh_amx_abuf_bytes(rows_max_span(M, nrb, rows_unit(ex), wh_pool_size(ex->pool)), K);
    if (ex->amx_a_bytes >= need) return 1;
    const int n = wh_pool_size(ex->pool);
    void **nb = calloc((size_t)n, sizeof *nb);   /* all new, or none: the old ones, enough for
                                                  * the segments already given AMX, stay */
    int ok = nb != NULL;
    for (int i = 0; ok && i < n; i++) ok = (nb[i] = aligned_alloc(64, (need + 63) & ~(size_t)63)) != NULL;
    if (!ok) {
        for (int i = 0; nb && i < n; i++) free(nb[i]);
        free(nb);
        return 0;
    }
    for (int i = 0; ex->amx_a && i < n; i++) free(ex->amx_a[i]);
    free(ex->amx_a);
    ex->amx_a = nb;
    ex->amx_a_bytes = need;
    return 1;
}

/* appends rows n0 .. n0+N-1 of o->W, to be packed at bp, and its packing tasks */
static void rows_add_seg(rows_job *j, const wh_gemm_out *o, int n0, int N, float *bp)
{
    rows_seg *g = &j->seg[j->nseg];
    *g = (rows_seg){o, n0, N, (N + 15) / 16, bp, rows_amx(j->ex, j->M, j->nrb, o->W->k)};
    j->ptask[j->nseg + 1] = j->ptask[j->nseg] + (g->npan + 7) / 8;
    j->nseg++;
}

static void rows_run(rows_job *j)
{
    if (j->nseg == 0) return;
    wh_pool_run(j->ex->pool, rows_pack_task, j, j->ptask[j->nseg]);
    wh_pool_run(j->ex->pool, rows_gemm_task, j, j->nrb * j->ng);
    j->nseg = 0;
}

/* whether a product of M rows, K deep, is split by rows (else by columns) */
static int rows_split(const wh_exec *ex, int M, int K)
{
    return M >= WH_ROWS_MIN_M || (ex->amx && M >= WH_AMX_ROWS_MIN_M && wh_gemm_amx_ok(K));
}

/* 0 when done; -1 when the packed buffer cannot be had (the caller splits by columns).
 * ln (or NULL): LayerNorm the one output's rows in the tasks, when they are whole rows of it
 * in one round; *ln_done says whether that was so. */
static int par_gemm_rows(wh_exec *ex, int M, int K, const float *A, int lda, const wh_gemm_out *outs, int n_outs,
                         int gelu, const wh_row_ln *ln, int *ln_done)
{
    const int nth = wh_pool_size(ex->pool);
    size_t need = 0;
    for (int i = 0; i < n_outs; i++) need += packed_floats(outs[i].N, K);
    if (need > ex->bpack_cap) need = ex->bpack_cap;
    if ((size_t)32 * K > need) need = (size_t)32 * K;
    if (bpack_reserve(ex, need) != 0) return -1;
    rows_job j = {.ex = ex, .M = M, .K = K, .lda = lda, .gelu = gelu, .A = A};
    j.unit = rows_unit(ex);
    j.nrb = rows_nblocks(M, K, nth, j.unit);
    j.ng = j.nrb >= 4 * nth ? 1 : (4 * nth + j.nrb - 1) / j.nrb;
    /* whole outputs, or pieces of them, in rounds of at most ex->bpack_floats packed floats */
    const int cap_cols = (int)(ex->bpack_floats / (size_t)K) & ~31;
    if (ln_done) *ln_done = 0;
    if (ln && n_outs == 1 && j.ng == 1 && outs[0].N <= cap_cols) {   /* one segment, one round */
        j.ln = ln;
        *ln_done = 1;
    }
    size_t used = 0;
    for (int i = 0; i < n_outs; i++)
        for (int n0 = 0; n0 < outs[i].N;) {
            const int N = outs[i].N - n0 < cap_cols ? outs[i].N - n0 : cap_cols;
            const size_t fl = packed_floats(N, K);
            if (used + fl > ex->bpack_floats || j.nseg == ROWS_SEG_MAX) { rows_run(&j); used = 0; }
            rows_add_seg(&j, &outs[i], n0, N, ex->bpack + used);
            used += fl;
            n0 += N;
        }
    rows_run(&j);
    return 0;
}

/* ------------------------------------------------------------------ tall products, int8
 * Repacked weights (wh_qx_is) with M >= 8 — the encoder of a quantized model, a decoder prompt
 * pass — take the decoder step's int8 products too (kernels.h, "quantized × int8"): A quantized
 * once (by row blocks, in parallel), then tasks of (row block, column chunk) through
 * wh_gemm_qx_tall. Every row's result is the one wh_gemm_qx_part gives that row alone. */
#define TALL_RB 60   /* rows per block (five calls of the 12-row kernel): 1500 rows make 25 */

typedef struct {
    wh_exec *ex;
    int M, K, lda, gelu, nrb, pairs;
    const float *A;
    const wh_gemm_out *outs;
    out_chunks ch;
} tall_job;

static void tall_quant_task(void *va, int b, int ith)
{
    tall_job *j = va;
    (void)ith;
    const int r0 = b * TALL_RB, r1 = r0 + TALL_RB < j->M ? r0 + TALL_RB : j->M;
    wh_qx_act_quant_part(j->M, j->K, j->A, j->lda, j->pairs, j->ex->qx_act, r0, r1);
}

/* task = (column chunk, row block), row blocks innermost: consecutive tasks share the chunk's
 * weights */
static void tall_gemm_task(void *va, int t, int ith)
{
    tall_job *j = va;
    (void)ith;
    const int b = t % j->nrb, r0 = b * TALL_RB, r1 = r0 + TALL_RB < j->M ? r0 + TALL_RB : j->M;
    int n0, n1;
    const wh_gemm_out *g = out_chunk(&j->ch, j->outs, t / j->nrb, &n0, &n1);
    const int fuse = j->gelu && g->bias && !g->accumulate;   /* as gemm_task */
    wh_gemm_qx_tall(j->M, j->K, j->ex->qx_act, r0, r1, g->W, n0, n1, fuse ? NULL : g->bias, g->C, g->ldc,
                    g->accumulate);
    if (j->gelu) gelu_block(g->C, g->ldc, r0, r1, n0, n1, fuse ? g->bias : NULL);
}

/* 0 when done; -1 when it does not apply (M < 8, an output not repacked, no buffer) */
static int par_gemm_qx_tall(wh_exec *ex, int M, int K, const float *A, int lda, const wh_gemm_out *outs, int n_outs,
                            int gelu)
{
    if (M < 8 || n_outs > MULTI_MAX || K % 32) return -1;
    for (int i = 0; i < n_outs; i++)
        if (!wh_qx_is(outs[i].W->type)) return -1;
    const size_t need = wh_qx_act_bytes(M, K);
    if (ex->qx_act_bytes < need) {   /* grown once, for the encoder's window */
        void *p = realloc(ex->qx_act, need);
        if (!p) return -1;
        ex->qx_act = p;
        ex->qx_act_bytes = need;
    }
    tall_job j = {.ex = ex, .M = M, .K = K, .lda = lda, .gelu = gelu, .A = A, .outs = outs,
                  .nrb = (M + TALL_RB - 1) / TALL_RB, .pairs = outs_pairs(outs, n_outs)};
    const int nch = out_chunks_init(&j.ch, outs, n_outs, wh_pool_size(ex->pool), M);
    wh_pool_run(ex->pool, tall_quant_task, &j, j.nrb);
    wh_pool_run(ex->pool, tall_gemm_task, &j, nch * j.nrb);
    return 0;
}

/* ------------------------------------------------------------------ the MLP, fused
 * Per block of rows: H = GELU(X·W0ᵀ + b0) into the block's rows of H, then Y += H·W2ᵀ + b2
 * while those rows are still in the thread's L2 — instead of all of H (base: 1500 × 2048
 * floats, 12 MB) written to L3 by one parallel product and read back by the next, and one
 * barrier fewer. Both weight matrices are packed in the same round (the pack budget must
 * hold both: up to base; larger models take the two products separately). Bit-identical to
 * the two wh_par_gemm calls. */
typedef struct {
    rows_job r;     /* seg[0]: W0 (N0 × K), seg[1]: W2 (K × N0); r.ln: of Y's rows */
    int K, N0;
    float *H;
    int ldh;
} mlp_job;

static void mlp_task(void *va, int b, int ith)
{
    mlp_job *j = va;
    int r0;
    const int mr = rows_span(&j->r, b, &r0);
    const rows_seg *g0 = &j->r.seg[0], *g2 = &j->r.seg[1];
    float *h = j->H + (size_t)r0 * j->ldh;
    void *abuf = g0->amx || g2->amx ? j->r.ex->amx_a[ith] : NULL;
    wh_gemm_packed_cols(mr, j->K, j->r.A + (size_t)r0 * j->r.lda, j->r.lda, g0->bp, j->N0, 0, j->N0, g0->o->bias, 1, h,
                        j->ldh, 0, g0->amx, abuf);
    const wh_gemm_out *o = g2->o;
    wh_gemm_packed_cols(mr, j->N0, h, j->ldh, g2->bp, j->K, 0, j->K, o->bias, 0, o->C + (size_t)r0 * o->ldc, o->ldc,
                        o->accumulate, g2->amx, abuf);
    if (j->r.ln) ln_rows(j->r.ln, o->C, o->ldc, j->K, r0, r0 + mr);
}

void wh_par_mlp(wh_exec *ex, int M, int K, const float *X, int ldx, const wh_wmat *W0, const float *b0, int N0,
                const wh_wmat *W2, const float *b2, float *Y, int ldy, float *H, const wh_row_ln *ln)
{
    const size_t p0 = packed_floats(N0, K), p2 = packed_floats(K, N0);
    if (rows_split(ex, M, K) && rows_split(ex, M, N0) && !wh_qx_is(W0->type) && p0 + p2 <= ex->bpack_cap &&
        bpack_reserve(ex, p0 + p2) == 0) {
        const wh_gemm_out o0 = {W0, N0, b0, H, N0, 0}, o2 = {W2, K, b2, Y, ldy, 1};
        mlp_job j = {.r = {.ex = ex, .M = M, .K = K, .lda = ldx, .A = X, .ln = ln}, .K = K, .N0 = N0, .H = H, .ldh = N0};
        j.r.unit = rows_unit(ex);
        j.r.nrb = rows_nblocks(M, N0 > K ? N0 : K, wh_pool_size(ex->pool), j.r.unit);
        rows_add_seg(&j.r, &o0, 0, N0, ex->bpack);
        rows_add_seg(&j.r, &o2, 0, K, ex->bpack + p0);
        wh_pool_run(ex->pool, rows_pack_task, &j.r, j.r.ptask[2]);
        wh_pool_run(ex->pool, mlp_task, &j, j.r.nrb);
        return;
    }
    wh_par_gemm(ex, M, K, X, ldx, W0, N0, b0, H, N0, 0, 1);
    wh_par_gemm(ex, M, N0, H, N0, W2, K, b2, Y, ldy, 1, 0);
    if (ln) wh_par_layernorm(ex, M, K, Y, ldy, ln);
}

void wh_par_gemm_ln(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int N, const float *bias,
                    float *C, int ldc, int accumulate, const wh_row_ln *ln)
{
    const wh_gemm_out o = {W, N, bias, C, ldc, accumulate};
    int ran = 0, done = 0;
    if (ln && rows_split(ex, M, K) && !wh_qx_is(W->type)) ran = par_gemm_rows(ex, M, K, A, lda, &o, 1, 0, ln, &done) == 0;
    if (!ran) wh_par_gemm(ex, M, K, A, lda, W, N, bias, C, ldc, accumulate, 0);
    if (ln && !done) wh_par_layernorm(ex, M, N, C, ldc, ln);
}

void wh_par_gemm(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int N,
                 const float *bias, float *C, int ldc, int accumulate, int gelu)
{
    const wh_gemm_out o = {W, N, bias, C, ldc, accumulate};
    if (par_gemm_qx_tall(ex, M, K, A, lda, &o, 1, gelu) == 0) return;
    if (rows_split(ex, M, K) && par_gemm_rows(ex, M, K, A, lda, &o, 1, gelu, NULL, NULL) == 0) return;
    int cs = chunk_cols(N, wh_pool_size(ex->pool), M);
    gemm_job j = {ex, M, K, N, lda, ldc, accumulate, gelu, cs, A, bias, W, C,
                  qx_quantize_once(ex, M, K, A, lda, W, wh_qx_act_pairs(W->type))};
    wh_pool_run(ex->pool, gemm_task, &j, (N + cs - 1) / cs);
}

typedef struct {
    wh_exec *ex;
    int M, K, lda;
    const float *A;
    const wh_gemm_out *outs;
    out_chunks ch;
    const void *act;   /* as gemm_job's, for the repacked outputs */
} multi_job;

static void multi_task(void *va, int chunk, int ith)
{
    multi_job *j = va;
    int n0, n1;
    const wh_gemm_out *g = out_chunk(&j->ch, j->outs, chunk, &n0, &n1);
    if (j->act && wh_qx_is(g->W->type))
        wh_gemm_qx_part(j->M, j->K, j->act, g->W, n0, n1, g->bias, g->C, g->ldc, g->accumulate);
    else
        wh_gemm_part(j->M, j->K, j->A, j->lda, g->W, n0, n1, g->bias, g->C, g->ldc, g->accumulate, j->ex->scratch[ith]);
}

void wh_par_gemm_multi(wh_exec *ex, int M, int K, const float *A, int lda, const wh_gemm_out *outs, int n_outs)
{
    if (n_outs > MULTI_MAX) {   /* not used so; stay correct anyway */
        for (int i = 0; i < n_outs; i++)
            wh_par_gemm(ex, M, K, A, lda, outs[i].W, outs[i].N, outs[i].bias, outs[i].C, outs[i].ldc, outs[i].accumulate, 0);
        return;
    }
    if (par_gemm_qx_tall(ex, M, K, A, lda, outs, n_outs, 0) == 0) return;
    if (rows_split(ex, M, K) && par_gemm_rows(ex, M, K, A, lda, outs, n_outs, 0, NULL, NULL) == 0) return;
    multi_job j = {.ex = ex, .M = M, .K = K, .lda = lda, .A = A, .outs = outs};
    const int pairs = outs_pairs(outs, n_outs);
    for (int i = 0; i < n_outs && !j.act; i++) j.act = qx_quantize_once(ex, M, K, A, lda, outs[i].W, pairs);
    const int nch = out_chunks_init(&j.ch, outs, n_outs, wh_pool_size(ex->pool), M);
    wh_pool_run(ex->pool, multi_task, &j, nch);
}
