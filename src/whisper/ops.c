/* ops.c — see ops.h. */
#include "ops.h"
#include <stdlib.h>
#include <string.h>

int wh_exec_init(wh_exec *ex, int n_threads, int max_k)
{
    memset(ex, 0, sizeof *ex);
    ex->pool = wh_pool_new(n_threads);
    if (!ex->pool) return -1;
    int n = wh_pool_size(ex->pool);
    ex->scratch_floats = (wh_gemm_scratch_floats(max_k) + 15) & ~(size_t)15;
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
    wh_pool_free(ex->pool);
    memset(ex, 0, sizeof *ex);
}

typedef struct {
    wh_exec *ex;
    int M, K, N, lda, ldc, accumulate, gelu, cs;
    const float *A, *bias;
    const wh_wmat *W;
    float *C;
} gemm_job;

static void gemm_task(void *va, int chunk, int ith)
{
    gemm_job *j = va;
    int n0 = chunk * j->cs, n1 = n0 + j->cs < j->N ? n0 + j->cs : j->N;
    /* GELU after a plain (not accumulating) product takes the bias in its own pass:
     * gelu(c + b) with c + b rounded as the GEMM's bias add would, one pass fewer */
    const int fuse = j->gelu && j->bias && !j->accumulate;
    wh_gemm_part(j->M, j->K, j->A, j->lda, j->W, n0, n1, fuse ? NULL : j->bias, j->C, j->ldc, j->accumulate,
                 j->ex->scratch[ith]);
    if (fuse)
        for (int m = 0; m < j->M; m++) wh_gelu_bias(j->C + (size_t)m * j->ldc + n0, j->bias + n0, (size_t)(n1 - n0));
    else if (j->gelu)
        for (int m = 0; m < j->M; m++) wh_gelu(j->C + (size_t)m * j->ldc + n0, (size_t)(n1 - n0));
}

/* Column chunk of a parallel GEMM: about four per thread, so a descheduled thread's share
 * is picked up by the others; a multiple of 32 columns (two 16-wide panels: the AVX-512
 * micro-kernel takes panels in pairs, and a chunk of an odd number of panels ran its last
 * one through the AVX2 kernel at half the rate: a third of tiny's 384-column products);
 * at most WH_GEMM_NC. */
static int chunk_cols(int N, int nth)
{
    int cs = N / (4 * nth);
    cs = (cs + 31) & ~31;
    if (cs < 32) cs = 32;
    if (cs > WH_GEMM_NC) cs = WH_GEMM_NC;
    return cs;
}

void wh_par_gemm(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int N,
                 const float *bias, float *C, int ldc, int accumulate, int gelu)
{
    int cs = chunk_cols(N, wh_pool_size(ex->pool));
    gemm_job j = {ex, M, K, N, lda, ldc, accumulate, gelu, cs, A, bias, W, C};
    wh_pool_run(ex->pool, gemm_task, &j, (N + cs - 1) / cs);
}

#define MULTI_MAX 4
typedef struct {
    wh_exec *ex;
    int M, K, lda, n_outs;
    const float *A;
    const wh_gemm_out *outs;
    int cs[MULTI_MAX], first[MULTI_MAX + 1];   /* chunk size, first chunk of each output */
} multi_job;

static void multi_task(void *va, int chunk, int ith)
{
    multi_job *j = va;
    int o = 0;
    while (chunk >= j->first[o + 1]) o++;
    const wh_gemm_out *g = &j->outs[o];
    int n0 = (chunk - j->first[o]) * j->cs[o], n1 = n0 + j->cs[o] < g->N ? n0 + j->cs[o] : g->N;
    wh_gemm_part(j->M, j->K, j->A, j->lda, g->W, n0, n1, g->bias, g->C, g->ldc, g->accumulate, j->ex->scratch[ith]);
}

void wh_par_gemm_multi(wh_exec *ex, int M, int K, const float *A, int lda, const wh_gemm_out *outs, int n_outs)
{
    if (n_outs > MULTI_MAX) {   /* not used so; stay correct anyway */
        for (int i = 0; i < n_outs; i++)
            wh_par_gemm(ex, M, K, A, lda, outs[i].W, outs[i].N, outs[i].bias, outs[i].C, outs[i].ldc, outs[i].accumulate, 0);
        return;
    }
    int nth = wh_pool_size(ex->pool);
    multi_job j = {ex, M, K, lda, n_outs, A, outs, {0}, {0}};
    for (int i = 0; i < n_outs; i++) {   /* the chunking of wh_par_gemm, per output */
        const int cs = chunk_cols(outs[i].N, nth);
        j.cs[i] = cs;
        j.first[i + 1] = j.first[i] + (outs[i].N + cs - 1) / cs;
    }
    wh_pool_run(ex->pool, multi_task, &j, j.first[n_outs]);
}
