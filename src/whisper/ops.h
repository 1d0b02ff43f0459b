/* ops.h — parallel drivers over the thread pool for the kernels in kernels.h. */
#ifndef WH_OPS_H
#define WH_OPS_H
#include "kernels.h"
#include "threadpool.h"

typedef struct {
    wh_pool *pool;
    float **scratch;        /* one per thread, 64-byte aligned, scratch_floats each */
    size_t scratch_floats;
    float *bpack;           /* tall products: the weights packed once, shared by the threads */
    size_t bpack_floats;    /* (grown on first use; see ops.c) */
    size_t bpack_cap;       /* most floats packed per round (wh_exec_init's default; tests lower it) */
    void *qx_act;          /* the activations of a repacked (wh_qx_is) product, quantized once for all its
                               column chunks: wh_qx_act_bytes(7, max_k), grown by a tall product */
    size_t qx_act_bytes;
    int max_k;
    /* tall f32 products on AMX tiles (kernels.h, "AMX") when set and wh_gemm_amx_ok(K): the
     * CPU backend sets it for its auto mode around its encoder and decoder passes (a product
     * of 64 rows or more: a window, a prompt); 0 after wh_exec_init */
    int amx;
    void **amx_a;           /* per thread: a row block of A split into bf16 (grown on use) */
    size_t amx_a_bytes;
} wh_exec;

int  wh_exec_init(wh_exec *ex, int n_threads, int max_k);   /* 0 on success */
void wh_exec_deinit(wh_exec *ex);

/* Products of at least this many rows of A are split by rows (weights packed once, shared;
 * ops.c), shorter ones by columns. Measured in alternation on base's shapes, 2 threads: by
 * rows +6..+24 % at 1500 rows, +5 % at 1000, mixed at 768 (N = 512 +16 %, N = 2048 -6 %,
 * the fused MLP +4 %), worse at 384-512 (-1..-12 %: A still fits in L2 there). */
#define WH_ROWS_MIN_M 768
/* Shorter products split by rows too when their tiles are AMX's (a short clip's window under
 * audio_ctx, whose 224 rows (3 s) the f32 path splits by columns; a decoder prompt): the tiles need
 * the shared packing, and from 64 rows on a block of rows amortizes splitting its A. */
#define WH_AMX_ROWS_MIN_M 64

/* C = A · Wᵀ + bias over all N rows of W, columns split across threads in multiples of 16.
 * gelu: apply GELU to the result (fused, per thread). */
void wh_par_gemm(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int N,
                 const float *bias, float *C, int ldc, int accumulate, int gelu);

/* A LayerNorm of a product's rows (its N columns, eps 1e-5) into y, ldy apart: the next
 * step of a pre-LN transformer after its residual product */
typedef struct {
    const float *w, *b;
    float *y;
    int ldy;
} wh_row_ln;
/* rows of x ([rows][n], ldx apart) LayerNormed by ln, in tasks of 16 rows */
void wh_par_layernorm(wh_exec *ex, int rows, int n, const float *x, int ldx, const wh_row_ln *ln);

/* wh_par_gemm (no GELU), then ln (or NULL: none) of C's M rows. Where the product is split by
 * rows into whole rows a task, each task normalizes its rows when they are final, while they
 * are in its L2 (and the pass's barrier goes); otherwise a wh_par_layernorm pass after it.
 * Bit-identical either way. */
void wh_par_gemm_ln(wh_exec *ex, int M, int K, const float *A, int lda, const wh_wmat *W, int N, const float *bias,
                    float *C, int ldc, int accumulate, const wh_row_ln *ln);

/* The transformer MLP on M rows: Y += GELU(X · W0ᵀ + b0) · W2ᵀ + b2, W0: N0 rows of K, W2: K
 * rows of N0; H ([M][N0]) holds the hidden activations; then ln (or NULL) of Y's M rows, as
 * wh_par_gemm_ln's. Tall M in one parallel region, each block of rows through both products
 * (and ln) while in L2; otherwise the two wh_par_gemm calls and a wh_par_layernorm pass.
 * Bit-identical either way. */
void wh_par_mlp(wh_exec *ex, int M, int K, const float *X, int ldx, const wh_wmat *W0, const float *b0, int N0,
                const wh_wmat *W2, const float *b2, float *Y, int ldy, float *H, const wh_row_ln *ln);

/* Several products of the same A in one parallel region (one pool barrier instead of one
 * per matrix): the decoder's q, k and v projections. Each has its own weights, bias,
 * output and accumulate flag; columns are split across threads as in wh_par_gemm. */
typedef struct {
    const wh_wmat *W;
    int N;
    const float *bias;
    float *C;
    int ldc, accumulate;
} wh_gemm_out;
void wh_par_gemm_multi(wh_exec *ex, int M, int K, const float *A, int lda, const wh_gemm_out *outs, int n_outs);
#endif
