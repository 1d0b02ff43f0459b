// wh_cuda.cu — the Whisper forward pass on an NVIDIA GPU, behind the engine's backend seam
// (src/whisper/backend.h). Built into libspeech_cuda.so and loaded with dlopen by
// backend_load.c, so the engine itself never links CUDA.
//
// Layout of the work (shapes: n = n_state, H heads of dh, actx audio positions, R decoder
// rows, V vocabulary):
//   weights     every matrix as f16 [out][in] (converted on the host with the CPU's exact
//               dequantization, backend_load.c), biases / LayerNorm / positional
//               embeddings as f32; one device arena holds weights and run state.
//   matmuls     cuBLAS GemmEx: f16 inputs, f32 accumulation and output (tensor cores).
//   encoder     conv front end as im2col + GEMM; attention as two strided-batched GEMMs
//               around a row softmax (scores f32 [H][actx][actx], probabilities f16).
//   cross K/V   once per window for every decoder layer, f16: keys transposed
//               [n_text_layer][n][actx], values [n_text_layer][actx][n].
//   decoder     one pass for R rows (beams or teacher-forced tokens); self-attention KV
//               caches per sequence in device memory, f16, keys [n_text_layer][n][n_text_ctx]
//               (transposed, as the window's), values [n_text_layer][n_text_ctx][n],
//               allocated on a sequence's first use; logits f32 [R][V] copied back.
//               Keys are transposed so that k_attn_part's thread-per-position scores read
//               them coalesced.
// Nothing is allocated per token. Every call ends with a stream synchronisation and an
// error check, so a fault is reported by the call that met it (SP_ERR_DEVICE).
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
extern "C" {
#include "model.h"
}
#include "cuda_kernels.cuh"

namespace {

struct cu_attn {
    __half *qkv_w;            // q, k, v weights stacked: one [3n][n] matrix, one GEMM
    __half *q_w, *k_w, *v_w;  // its three [n][n] parts
    __half *o_w;
    float *q_b, *v_b, *o_b;
};

struct cu_layer {
    float *ln1_w, *ln1_b;
    cu_attn at;
    float *lnx_w, *lnx_b;   // decoder only
    cu_attn x;              // decoder only
    float *ln2_w, *ln2_b;
    __half *m0_w, *m2_w;
    float *m0_b, *m2_b;
};

// SPEECH_SESSION_CUDA_PROFILE=1: the time of each stage of the decoder (events between
// them, on the stream), summed over the backend's life and printed to stderr when it is
// freed, beside the host's wall time per call (scripts/gpu-check.sh). A stage's time is its
// kernels' plus any gap while the GPU waited for the host to queue them: a stage of a few
// short kernels measures launch overhead. The events themselves slow a call a little, and
// the stages are only seen in direct launches: this setting turns the graphs off.
// SPEECH_SESSION_CUDA_PROFILE=graphs: no events, graphs as configured; the wall time per
// call and how many calls were captured, replayed and launched directly.
enum { PR_EMBED, PR_SELF_QKV, PR_SELF_ATTN, PR_SELF_OUT, PR_CROSS_Q, PR_CROSS_ATTN, PR_CROSS_OUT, PR_MLP_UP,
       PR_MLP_DOWN, PR_LOGITS, PR_N };
const char *const pr_names[PR_N] = {"embed", "self qkv", "self attn", "self out", "cross q", "cross attn",
                                    "cross out", "mlp up", "mlp down", "logits"};
struct cu_prof {
    bool on, report;      // on: stage events; report: print the summary at free
    bool active;          // inside cu_decode, recording stage events
    int n, cap;
    cudaEvent_t *ev;
    int *cat;
    double ms[PR_N], wall_ms;   // per stage, summed; the host's time of the calls
    long calls, rows;
};

// The decoder step as a CUDA graph (SPEECH_SESSION_CUDA_GRAPHS, on unless 0): a step of
// large-v3 is ~600 launches, and queuing them one by one costs more host time than the
// GPU spends on their work. A graph bakes in every launch's arguments, so a pass is
// graphed only when they are the same from one call to the next: the rows' tokens,
// sequences and positions are read from device memory (d_ints, copied from pinned h_ints
// inside the graph), and the self-attention is split over the whole text context (chunks
// past a row's keys are empty) instead of over the longest row's. The key is what is left:
// rows, the first row with logits, the window's length. A key is captured the second time
// it is seen (a prompt pass of a one-off length is not worth a capture), up to
// GRAPH_SLOTS kept, the least recently used replaced.
constexpr int GRAPH_SLOTS = 8, GRAPH_ROWS_MAX = 16;
constexpr size_t BLAS_WS = (size_t)32 << 20;   // cuBLAS's workspace (init_streams)
struct cu_graph {
    int rows, first, cur;    // key; rows 0: a free slot
    int seen;                // calls with this key so far
    cudaGraphExec_t exec;    // null until captured
    unsigned long used;      // LRU stamp
};

struct wh_cuda {
    wh_backend base;
    const wh_model *m;
    const wh_cuda_host *host;
    int dev;
    char name[96];
    size_t mem_total, mem_used;
    cudaStream_t st;
    cublasHandle_t blas;
    int n, H, dh, actx, tctx, nv, nm, nel, ndl;
    // one arena: weights, then run state
    char *arena;
    size_t arena_size, arena_off;
    bool sizing;   // layout pass that only counts bytes
    // weights
    __half *conv1_w, *conv2_w, *tok_emb;
    float *conv1_b, *conv2_b, *e_pe, *e_ln_w, *e_ln_b, *d_pe, *d_ln_w, *d_ln_b;
    cu_layer *enc, *dec;   // host arrays of device pointers
    // encoder state
    float *win;      // [nm][2 actx]
    __half *col;     // im2col [2 actx][3 max(nm, n)]
    float *f32a;     // GEMM output scratch [max(2 actx n, actx 4n)]
    __half *c1h;     // [2 actx][n]
    float *x;        // [actx][n] residual stream
    __half *h;       // [actx][n] LayerNorm output; the encoder output at the end
    __half *q, *k, *v, *a;   // [actx][n]
    float *S;        // [H][actx][actx]
    __half *P;       // [H][actx][actx]
    __half *mlp;     // [actx][4n]
    __half *cross_k, *cross_v;   // [ndl][n][actx] (keys transposed), [ndl][actx][n]
    // decoder state
    int *d_ints;     // [3][tctx]: tokens, sequences, positions
    float *dx, *dq;  // [tctx][n]
    __half *dh_, *da;   // [tctx][n]
    float *df;       // [tctx][4n]
    __half *dmlp;    // [tctx][4n]
    float *logits;   // [tctx][V]
    __half **ktab, **vtab;   // device [WH_MAX_SEQ]
    float *apart;    // attention's partial softmaxes [tctx][H][chunks of max(actx, tctx)][dh + 2]
    // outside the arena
    __half *kc[WH_MAX_SEQ], *vc[WH_MAX_SEQ];
    float *probs;    // alignment pass [tctx][H][actx], on first use
    float *h_win;    // pinned [nm][2 actx]
    int *h_ints;     // pinned [3][tctx]
    uint16_t *stage; // host staging for one weight
    void *blas_ws;   // cuBLAS workspace, set explicitly: a capture must not allocate one
    cu_prof prof;    // SPEECH_SESSION_CUDA_PROFILE=1
    cu_graph graphs[GRAPH_SLOTS];
    unsigned long graph_clock;
    bool graphs_on, capturing;
    long graph_captures, graph_replays, direct_calls;
};

sp_status fail(wh_cuda *c, const char *what, const char *code, int line)
{
    // the call's text is long; its start names the API and the buffer is what the user sees
    snprintf(c->base.error, sizeof c->base.error, "%.40s in %.100s (wh_cuda.cu:%d)", code, what, line);
    return SP_ERR_DEVICE;
}

#define CU(call)                                                                   \
    do {                                                                           \
        cudaError_t e_ = (call);                                                   \
        if (e_ != cudaSuccess) return fail(c, #call, cudaGetErrorName(e_), __LINE__); \
    } while (0)
#define BL(call)                                                                      \
    do {                                                                              \
        cublasStatus_t s_ = (call);                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS) return fail(c, #call, cublasGetStatusName(s_), __LINE__); \
    } while (0)

int grid_for(size_t total)
{
    size_t g = (total + 255) / 256;
    return (int)(g < 4096 ? (g ? g : 1) : 4096);
}

// ------------------------------------------------------------------ arena layout

template <typename T> void take(wh_cuda *c, T **p, size_t count)
{
    size_t bytes = (count * sizeof(T) + 255) & ~(size_t)255;
    *p = c->sizing ? nullptr : (T *)(c->arena + c->arena_off);
    c->arena_off += bytes;
}

void take_attn(wh_cuda *c, cu_attn *a, int n)
{
    take(c, &a->qkv_w, 3 * (size_t)n * n);
    if (!c->sizing) {
        a->q_w = a->qkv_w;
        a->k_w = a->qkv_w + (size_t)n * n;
        a->v_w = a->qkv_w + 2 * (size_t)n * n;
    }
    take(c, &a->o_w, (size_t)n * n);
    take(c, &a->q_b, n);
    take(c, &a->v_b, n);
    take(c, &a->o_b, n);
}

void take_layer(wh_cuda *c, cu_layer *L, bool decoder)
{
    const size_t n = c->n;
    take(c, &L->ln1_w, n); take(c, &L->ln1_b, n);
    take_attn(c, &L->at, c->n);
    if (decoder) {
        take(c, &L->lnx_w, n); take(c, &L->lnx_b, n);
        take_attn(c, &L->x, c->n);
    }
    take(c, &L->ln2_w, n); take(c, &L->ln2_b, n);
    take(c, &L->m0_w, 4 * n * n); take(c, &L->m0_b, 4 * n);
    take(c, &L->m2_w, 4 * n * n); take(c, &L->m2_b, n);
}

// Every device buffer but the per-sequence caches; run twice: sizing, then assigning.
void layout(wh_cuda *c)
{
    const size_t n = c->n, actx = c->actx, tctx = c->tctx, T = 2 * actx, H = c->H;
    const size_t wide = (size_t)(c->nm > c->n ? c->nm : c->n);
    c->arena_off = 0;
    take(c, &c->conv1_w, n * 3 * c->nm); take(c, &c->conv1_b, n);
    take(c, &c->conv2_w, n * 3 * n); take(c, &c->conv2_b, n);
    take(c, &c->e_pe, actx * n);
    for (int l = 0; l < c->nel; l++) take_layer(c, &c->enc[l], false);
    take(c, &c->e_ln_w, n); take(c, &c->e_ln_b, n);
    take(c, &c->tok_emb, (size_t)c->nv * n);
    take(c, &c->d_pe, tctx * n);
    for (int l = 0; l < c->ndl; l++) take_layer(c, &c->dec[l], true);
    take(c, &c->d_ln_w, n); take(c, &c->d_ln_b, n);
    // run state
    take(c, &c->win, (size_t)c->nm * T);
    take(c, &c->col, T * 3 * wide);
    take(c, &c->f32a, T * n > actx * 4 * n ? T * n : actx * 4 * n);
    take(c, &c->c1h, T * n);
    take(c, &c->x, actx * n);
    take(c, &c->h, actx * n);
    take(c, &c->q, actx * n); take(c, &c->k, actx * n); take(c, &c->v, actx * n); take(c, &c->a, actx * n);
    take(c, &c->S, H * actx * actx);
    take(c, &c->P, H * actx * actx);
    take(c, &c->mlp, actx * 4 * n);
    take(c, &c->cross_k, (size_t)c->ndl * actx * n);
    take(c, &c->cross_v, (size_t)c->ndl * actx * n);
    take(c, &c->d_ints, 3 * tctx);
    take(c, &c->dx, tctx * n); take(c, &c->dq, tctx * n);
    take(c, &c->dh_, tctx * n); take(c, &c->da, tctx * n);
    take(c, &c->df, tctx * 4 * n);
    take(c, &c->dmlp, tctx * 4 * n);
    take(c, &c->logits, tctx * (size_t)c->nv);
    {
        const size_t ch = ((actx > tctx ? actx : tctx) + whc::ATTN_CHUNK - 1) / whc::ATTN_CHUNK;
        take(c, &c->apart, tctx * H * ch * (size_t)(c->dh + 2));
    }
    take(c, &c->ktab, WH_MAX_SEQ);
    take(c, &c->vtab, WH_MAX_SEQ);
}

size_t cache_bytes(const wh_cuda *c) { return 2 * (size_t)c->ndl * c->tctx * c->n * sizeof(__half); }
// the alignment pass's probabilities [tctx][H][actx] (probs_ensure)
size_t probs_bytes(const wh_cuda *c) { return sizeof(float) * (size_t)c->tctx * c->H * c->actx; }
// sequences whose caches alloc_all counts as needed at open (beam 5, best-of 5)
constexpr size_t OPEN_SEQS = 5;

// ------------------------------------------------------------------ weight upload

sp_status up_f16(wh_cuda *c, __half *dst, const wh_tensor *t, int rows, int k)
{
    c->host->weight_f16(t, rows, k, c->stage);
    CU(cudaMemcpy(dst, c->stage, (size_t)rows * k * sizeof(__half), cudaMemcpyHostToDevice));
    return SP_OK;
}

sp_status up_f32(wh_cuda *c, float *dst, const wh_tensor *t, size_t count)
{
    if (!t->data) {   // an optional tensor the file does not have (zero bias)
        CU(cudaMemset(dst, 0, count * sizeof(float)));
        return SP_OK;
    }
    CU(cudaMemcpy(dst, t->data, count * sizeof(float), cudaMemcpyHostToDevice));
    return SP_OK;
}

sp_status up_attn(wh_cuda *c, cu_attn *d, const wh_attn *a)
{
    const int n = c->n;
    sp_status st;
    if ((st = up_f16(c, d->q_w, &a->q_w, n, n)) || (st = up_f16(c, d->k_w, &a->k_w, n, n)) ||
        (st = up_f16(c, d->v_w, &a->v_w, n, n)) || (st = up_f16(c, d->o_w, &a->o_w, n, n)) ||
        (st = up_f32(c, d->q_b, &a->q_b, n)) || (st = up_f32(c, d->v_b, &a->v_b, n)) ||
        (st = up_f32(c, d->o_b, &a->o_b, n)))
        return st;
    return SP_OK;
}

sp_status up_layer(wh_cuda *c, cu_layer *d, const wh_layer *L, bool decoder)
{
    const int n = c->n;
    sp_status st;
    if ((st = up_f32(c, d->ln1_w, &L->attn_ln_w, n)) || (st = up_f32(c, d->ln1_b, &L->attn_ln_b, n)) ||
        (st = up_attn(c, &d->at, &L->attn)))
        return st;
    if (decoder && ((st = up_f32(c, d->lnx_w, &L->cross_ln_w, n)) || (st = up_f32(c, d->lnx_b, &L->cross_ln_b, n)) ||
                    (st = up_attn(c, &d->x, &L->cross))))
        return st;
    if ((st = up_f32(c, d->ln2_w, &L->mlp_ln_w, n)) || (st = up_f32(c, d->ln2_b, &L->mlp_ln_b, n)) ||
        (st = up_f16(c, d->m0_w, &L->mlp0_w, 4 * n, n)) || (st = up_f32(c, d->m0_b, &L->mlp0_b, 4 * (size_t)n)) ||
        (st = up_f16(c, d->m2_w, &L->mlp2_w, n, 4 * n)) || (st = up_f32(c, d->m2_b, &L->mlp2_b, n)))
        return st;
    return SP_OK;
}

sp_status upload(wh_cuda *c)
{
    const wh_model *m = c->m;
    const int n = c->n;
    sp_status st;
    if ((st = up_f16(c, c->conv1_w, &m->conv1_w, n, 3 * c->nm)) || (st = up_f32(c, c->conv1_b, &m->conv1_b, n)) ||
        (st = up_f16(c, c->conv2_w, &m->conv2_w, n, 3 * n)) || (st = up_f32(c, c->conv2_b, &m->conv2_b, n)) ||
        (st = up_f32(c, c->e_pe, &m->e_pe, (size_t)c->actx * n)) || (st = up_f32(c, c->e_ln_w, &m->e_ln_w, n)) ||
        (st = up_f32(c, c->e_ln_b, &m->e_ln_b, n)) || (st = up_f16(c, c->tok_emb, &m->tok_emb, c->nv, n)) ||
        (st = up_f32(c, c->d_pe, &m->d_pe, (size_t)c->tctx * n)) || (st = up_f32(c, c->d_ln_w, &m->d_ln_w, n)) ||
        (st = up_f32(c, c->d_ln_b, &m->d_ln_b, n)))
        return st;
    for (int l = 0; l < c->nel; l++)
        if ((st = up_layer(c, &c->enc[l], &m->enc[l], false))) return st;
    for (int l = 0; l < c->ndl; l++)
        if ((st = up_layer(c, &c->dec[l], &m->dec[l], true))) return st;
    return SP_OK;
}

// ------------------------------------------------------------------ profile

double host_ms()
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// the end of a decoder stage: the GPU time since the previous mark is charged to `cat`
void mark(wh_cuda *c, int cat)
{
    cu_prof *p = &c->prof;
    if (!p->active || p->n >= p->cap) return;
    cudaEventRecord(p->ev[p->n], c->st);
    p->cat[p->n++] = cat;
}

// after a decoder call's synchronisation: its stages' times into the sums
void prof_collect(wh_cuda *c, double t0, int rows)
{
    cu_prof *p = &c->prof;
    if (!p->report) return;
    if (p->active)
        for (int i = 1; i < p->n; i++) {
            float ms = 0.0f;
            if (cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]) == cudaSuccess) p->ms[p->cat[i]] += ms;
        }
    p->active = false;
    p->wall_ms += host_ms() - t0;
    p->calls++;
    p->rows += rows;
}

void prof_report(wh_cuda *c)
{
    const cu_prof *p = &c->prof;
    if (!p->report || !p->calls) return;
    fprintf(stderr, "# cuda profile: %ld decoder calls (%.1f rows each): per call wall %.3f ms", p->calls,
            (double)p->rows / p->calls, p->wall_ms / p->calls);
    if (p->on) {
        double span = 0;   // from the call's first event to its last
        for (int k = 0; k < PR_N; k++) span += p->ms[k];
        fprintf(stderr, ", between its first and last event %.3f ms;", span / p->calls);
        for (int k = 0; k < PR_N; k++) fprintf(stderr, " %s %.3f", pr_names[k], p->ms[k] / p->calls);
        fprintf(stderr, " (ms)");
    }
    fprintf(stderr, "\n# cuda graphs: %s; %ld captured, %ld replayed, %ld direct calls\n",
            c->graphs_on ? "on" : "off", c->graph_captures, c->graph_replays, c->direct_calls);
}

bool prof_init(wh_cuda *c)
{
    const char *e = getenv("SPEECH_SESSION_CUDA_PROFILE");
    const char *g = getenv("SPEECH_SESSION_CUDA_GRAPHS");
    cu_prof *p = &c->prof;
    c->graphs_on = !(g && !strcmp(g, "0"));
    if (!e) return true;
    p->report = !strcmp(e, "1") || !strcmp(e, "graphs");
    if (strcmp(e, "1")) return true;
    c->graphs_on = false;
    p->cap = 8 + 12 * c->ndl;
    p->ev = (cudaEvent_t *)calloc((size_t)p->cap, sizeof *p->ev);
    p->cat = (int *)calloc((size_t)p->cap, sizeof *p->cat);
    if (!p->ev || !p->cat) return false;
    for (int i = 0; i < p->cap; i++)
        if (cudaEventCreate(&p->ev[i]) != cudaSuccess) return false;
    p->on = true;
    return true;
}

void prof_free(wh_cuda *c)
{
    cu_prof *p = &c->prof;
    prof_report(c);
    for (int i = 0; p->ev && i < p->cap; i++)
        if (p->ev[i]) cudaEventDestroy(p->ev[i]);
    free(p->ev);
    free(p->cat);
}

// ------------------------------------------------------------------ building blocks

// C[M][N] (f32, row stride ldc) = beta C + A[M][K] (f16, lda) · W[N][K]ᵀ (f16, rows of K)
sp_status gemm(wh_cuda *c, int M, int N, int K, const __half *A, int lda, const __half *W, float *C, int ldc,
               float beta)
{
    const float alpha = 1.0f;
    // column-major view: Cᵀ (N x M) = Wᵀ... W is K x N column-major, used transposed
    BL(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, W, CUDA_R_16F, K, A, CUDA_R_16F, lda, &beta, C,
                    CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return SP_OK;
}

void layernorm(wh_cuda *c, const float *x, int rows, const float *w, const float *b, __half *out)
{
    WHC_LAUNCH(whc::k_layernorm, rows, 256, 0, c->st)(x, c->n, w, b, out);
}

// out = f16((A·Wᵀ + b) * s)
sp_status proj_h(wh_cuda *c, int M, const __half *A, const __half *W, const float *b, float s, __half *out)
{
    sp_status st = gemm(c, M, c->n, c->n, A, c->n, W, c->f32a, c->n, 0.0f);
    if (st) return st;
    WHC_LAUNCH(whc::k_bias_scale_h, grid_for((size_t)M * c->n), 256, 0, c->st)(c->f32a, b, s, M, c->n, out);
    return SP_OK;
}

// x += A·Wᵀ + b (K = k), the residual update of out-projections and the MLP's second layer
sp_status residual(wh_cuda *c, int M, int k, const __half *A, const __half *W, const float *b, float *x)
{
    sp_status st = gemm(c, M, c->n, k, A, k, W, x, c->n, 1.0f);
    if (st) return st;
    WHC_LAUNCH(whc::k_add_bias, grid_for((size_t)M * c->n), 256, 0, c->st)(x, b, M, c->n);
    return SP_OK;
}

// x += W2 · gelu(W0 · LN(x) + b0) + b2, rows M; h, f, mid: scratch of this stage
sp_status mlp(wh_cuda *c, const cu_layer *L, int M, float *x, __half *h, float *f, __half *mid)
{
    const int n = c->n;
    layernorm(c, x, M, L->ln2_w, L->ln2_b, h);
    sp_status st = gemm(c, M, 4 * n, n, h, n, L->m0_w, f, 4 * n, 0.0f);
    if (st) return st;
    WHC_LAUNCH(whc::k_bias_gelu_h, grid_for((size_t)M * 4 * n), 256, 0, c->st)(f, L->m0_b, M, 4 * n, mid);
    mark(c, PR_MLP_UP);
    st = residual(c, M, 4 * n, mid, L->m2_w, L->m2_b, x);
    mark(c, PR_MLP_DOWN);
    return st;
}

sp_status finish(wh_cuda *c)
{
    CU(cudaGetLastError());
    CU(cudaStreamSynchronize(c->st));
    return SP_OK;
}

// ------------------------------------------------------------------ encoder

sp_status enc_attention(wh_cuda *c, const cu_layer *L, int actx)
{
    const int n = c->n, dh = c->dh, H = c->H;
    const float one = 1.0f, zero = 0.0f;
    sp_status st;
    layernorm(c, c->x, actx, L->ln1_w, L->ln1_b, c->h);
    // Q, K, V in one GEMM over the stacked weights: [actx][3n]
    if ((st = gemm(c, actx, 3 * n, n, c->h, n, L->at.qkv_w, c->f32a, 3 * n, 0.0f))) return st;
    WHC_LAUNCH(whc::k_qkv_split_h, grid_for((size_t)actx * 3 * n), 256, 0, c->st)(
        c->f32a, L->at.q_b, L->at.v_b, 1.0f / sqrtf((float)dh), actx, n, c->q, c->k, c->v);
    // S_h [actx][actx] = Q_h · K_hᵀ  (per head: column offset h·dh, row stride n)
    BL(cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, actx, actx, dh, &one, c->k, CUDA_R_16F, n, dh,
                                  c->q, CUDA_R_16F, n, dh, &zero, c->S, CUDA_R_32F, actx, (long long)actx * actx, H,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    WHC_LAUNCH(whc::k_softmax_h, H * actx, 256, 0, c->st)(c->S, actx, c->P);
    // O_h [actx][dh] = P_h · V_h, written at column h·dh of the [actx][n] output
    BL(cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, dh, actx, actx, &one, c->v, CUDA_R_16F, n, dh,
                                  c->P, CUDA_R_16F, actx, (long long)actx * actx, &zero, c->f32a, CUDA_R_32F, n, dh, H,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    WHC_LAUNCH(whc::k_to_h, grid_for((size_t)actx * n), 256, 0, c->st)(c->f32a, (size_t)actx * n, c->a);
    return residual(c, actx, n, c->a, L->at.o_w, L->at.o_b, c->x);
}

sp_status enc_front(wh_cuda *c, const float *mel, int n_frames, int offset, int actx)
{
    const int n = c->n, nm = c->nm, T = 2 * actx;
    // the window, zero past the audio, staged in pinned memory
    for (int ch = 0; ch < nm; ch++)
        for (int t = 0; t < T; t++) {
            const long f = (long)offset + t;
            c->h_win[(size_t)ch * T + t] = f < n_frames ? mel[(size_t)ch * n_frames + f] : 0.0f;
        }
    CU(cudaMemcpyAsync(c->win, c->h_win, sizeof(float) * (size_t)nm * T, cudaMemcpyHostToDevice, c->st));
    WHC_LAUNCH(whc::k_im2col1, grid_for((size_t)T * nm * 3), 256, 0, c->st)(c->win, nm, T, c->col);
    sp_status st = gemm(c, T, n, 3 * nm, c->col, 3 * nm, c->conv1_w, c->f32a, n, 0.0f);
    if (st) return st;
    WHC_LAUNCH(whc::k_bias_gelu_h, grid_for((size_t)T * n), 256, 0, c->st)(c->f32a, c->conv1_b, T, n, c->c1h);
    WHC_LAUNCH(whc::k_im2col2, grid_for((size_t)actx * n * 3), 256, 0, c->st)(c->c1h, T, n, actx, c->col);
    if ((st = gemm(c, actx, n, 3 * n, c->col, 3 * n, c->conv2_w, c->f32a, n, 0.0f))) return st;
    WHC_LAUNCH(whc::k_conv2_out, grid_for((size_t)actx * n), 256, 0, c->st)(c->f32a, c->conv2_b, c->e_pe, actx, n, c->x);
    return SP_OK;
}

sp_status cu_encode(wh_backend *be, const float *mel, int n_frames, int offset, int actx)
{
    wh_cuda *c = (wh_cuda *)be;
    CU(cudaSetDevice(c->dev));
    c->prof.active = false;   // a decoder call that failed midway left it set
    sp_status st = enc_front(c, mel, n_frames, offset, actx);
    for (int l = 0; !st && l < c->nel; l++) {
        const cu_layer *L = &c->enc[l];
        if (!(st = enc_attention(c, L, actx))) st = mlp(c, L, actx, c->x, c->h, c->f32a, c->mlp);
    }
    if (st) return st;
    layernorm(c, c->x, actx, c->e_ln_w, c->e_ln_b, c->h);   // encoder output
    // cross-attention K/V of every decoder layer, once per window
    for (int l = 0; l < c->ndl; l++) {
        const size_t off = (size_t)l * c->actx * c->n;
        if ((st = gemm(c, actx, c->n, c->n, c->h, c->n, c->dec[l].x.k_w, c->f32a, c->n, 0.0f))) return st;
        // keys transposed ([n][actx], k_attn_part's layout); no bias (Whisper's keys have none)
        WHC_LAUNCH(whc::k_to_hT, grid_for((size_t)actx * c->n), 256, 0, c->st)(c->f32a, actx, c->n, c->cross_k + off,
                                                                              c->actx);
        if ((st = proj_h(c, actx, c->h, c->dec[l].x.v_w, c->dec[l].x.v_b, 1.0f, c->cross_v + off))) return st;
    }
    return finish(c);
}

// ------------------------------------------------------------------ decoder

sp_status seq_ensure(wh_cuda *c, int s)
{
    if (c->kc[s]) return SP_OK;
    const size_t half_bytes = cache_bytes(c) / 2;
    cudaError_t e = cudaMalloc(&c->kc[s], half_bytes);
    if (e == cudaSuccess) e = cudaMalloc(&c->vc[s], half_bytes);
    if (e != cudaSuccess) {
        cudaFree(c->kc[s]);
        c->kc[s] = c->vc[s] = nullptr;
        cudaGetLastError();   // clear the (non-sticky) allocation error
        snprintf(c->base.error, sizeof c->base.error, "out of GPU memory for a beam's KV cache (%.1f MB)",
                 cache_bytes(c) / 1e6);
        return SP_ERR_DEVICE;
    }
    c->mem_used += cache_bytes(c);
    // on c->st, in order with the kernels that read the table: a plain cudaMemcpy from
    // pageable memory runs on the legacy stream, which the non-blocking c->st does not wait
    // for, so a store into the new sequence could have read its entry still null
    CU(cudaMemcpyAsync(c->ktab + s, &c->kc[s], sizeof(__half *), cudaMemcpyHostToDevice, c->st));
    CU(cudaMemcpyAsync(c->vtab + s, &c->vc[s], sizeof(__half *), cudaMemcpyHostToDevice, c->st));
    return SP_OK;
}

// the alignment pass's probability buffer, grown on first use (not per token)
sp_status probs_ensure(wh_cuda *c)
{
    if (c->probs) return SP_OK;
    const size_t bytes = probs_bytes(c);
    if (cudaMalloc(&c->probs, bytes) != cudaSuccess) {
        c->probs = nullptr;
        cudaGetLastError();   // not sticky: clear it, or the next check reports it
        snprintf(c->base.error, sizeof c->base.error, "out of GPU memory for the alignment pass (%.1f MB)", bytes / 1e6);
        return SP_ERR_DEVICE;
    }
    c->mem_used += bytes;
    return SP_OK;
}

sp_status dec_attention(wh_cuda *c, const cu_layer *L, int l, const wh_rows *r, bool cross)
{
    const int n = c->n, R = r->rows;
    const int *seq = c->d_ints + c->tctx, *pos = c->d_ints + 2 * c->tctx;
    const cu_attn *A = cross ? &L->x : &L->at;
    sp_status st;
    layernorm(c, c->dx, R, cross ? L->lnx_w : L->ln1_w, cross ? L->lnx_b : L->ln1_b, c->dh_);
    const float qs = 1.0f / sqrtf((float)c->dh);
    const size_t layer_off = (size_t)l * c->tctx * n;
    if (cross) {   // the query only: keys and values are the window's
        if ((st = gemm(c, R, n, n, c->dh_, n, A->q_w, c->df, n, 0.0f))) return st;
        WHC_LAUNCH(whc::k_bias_scale_f, grid_for((size_t)R * n), 256, 0, c->st)(c->df, A->q_b, qs, R, n, c->dq);
        mark(c, PR_CROSS_Q);
    } else {   // Q, K, V in one GEMM; this row's key and value into its sequence's cache
        if ((st = gemm(c, R, 3 * n, n, c->dh_, n, A->qkv_w, c->df, 3 * n, 0.0f))) return st;
        WHC_LAUNCH(whc::k_qkv_store, R, 256, 0, c->st)(c->df, A->q_b, A->v_b, qs, n, c->tctx, c->ktab, c->vtab, seq, pos,
                                                        layer_off, c->dq);
        mark(c, PR_SELF_QKV);
    }
    int len_max = r->cur;   // the keys of the longest row: chunks of the split
    if (!cross && c->capturing) {
        len_max = c->tctx;   // a graph's launch serves every position (struct cu_graph)
    } else if (!cross) {
        len_max = 0;
        for (int i = 0; i < R; i++)
            if (r->row_pos[i] + 1 > len_max) len_max = r->row_pos[i] + 1;
    }
    const int nch = (len_max + whc::ATTN_CHUNK - 1) / whc::ATTN_CHUNK;
    const size_t xoff = (size_t)l * c->actx * n;
    float *probs = cross && r->attn ? c->probs : nullptr;
    WHC_LAUNCH(whc::k_attn_part, dim3(R, c->H, nch), whc::ATTN_THREADS, 0, c->st)(
        c->dq, n, c->dh, cross ? c->actx : c->tctx, c->ktab, c->vtab, seq, pos, layer_off,
        cross ? c->cross_k + xoff : nullptr, cross ? c->cross_v + xoff : nullptr, r->cur, c->apart, c->da, probs);
    if (nch > 1)
        WHC_LAUNCH(whc::k_attn_combine, dim3(R, c->H), 64, 0, c->st)(c->apart, nch, n, c->dh, pos, cross, r->cur, c->da,
                                                                     probs);
    mark(c, cross ? PR_CROSS_ATTN : PR_SELF_ATTN);
    if (probs) {   // [R][H][cur] of this layer, in place in the caller's [layers][R][H][cur]
        const size_t cnt = (size_t)R * c->H * r->cur;
        CU(cudaMemcpyAsync(r->attn + (size_t)l * cnt, probs, cnt * sizeof(float), cudaMemcpyDeviceToHost, c->st));
    }
    st = residual(c, R, n, c->da, A->o_w, A->o_b, c->dx);
    mark(c, cross ? PR_CROSS_OUT : PR_SELF_OUT);
    return st;
}

// the final LayerNorm and the vocabulary projection of the rows from first_logit_row, into
// c->logits (copied back by cu_decode: the caller's buffer is not part of a graph)
sp_status dec_logits(wh_cuda *c, const wh_rows *r)
{
    const int nl = r->rows - r->first_logit_row;
    if (nl <= 0 || !r->logits) return SP_OK;
    layernorm(c, c->dx + (size_t)r->first_logit_row * c->n, nl, c->d_ln_w, c->d_ln_b, c->dh_);
    sp_status st = gemm(c, nl, c->nv, c->n, c->dh_, c->n, c->tok_emb, c->logits, c->nv, 0.0f);
    mark(c, PR_LOGITS);
    return st;
}

// One decoder pass, queued on the stream: the rows' integers (from pinned h_ints), the
// embedding, every layer, the logits. What it launches depends on the wh_rows only through
// the graph key (struct cu_graph) when it is being captured.
sp_status dec_pass(wh_cuda *c, const wh_rows *r)
{
    const int R = r->rows;
    sp_status st;
    mark(c, PR_EMBED);
    CU(cudaMemcpyAsync(c->d_ints, c->h_ints, sizeof(int) * 3 * c->tctx, cudaMemcpyHostToDevice, c->st));
    WHC_LAUNCH(whc::k_embed, R, 256, 0, c->st)(c->tok_emb, c->d_pe, c->d_ints, c->d_ints + 2 * c->tctx, c->n, c->dx);
    mark(c, PR_EMBED);
    for (int l = 0; l < c->ndl; l++) {
        const cu_layer *L = &c->dec[l];
        if ((st = dec_attention(c, L, l, r, false)) || (st = dec_attention(c, L, l, r, true)) ||
            (st = mlp(c, L, R, c->dx, c->dh_, c->df, c->dmlp)))
            return st;
    }
    return dec_logits(c, r);
}

// the graph slot of this pass's key: found, or the free / least recently used one claimed
cu_graph *graph_slot(wh_cuda *c, const wh_rows *r, int first)
{
    cu_graph *old = &c->graphs[0];
    c->graph_clock++;
    for (int i = 0; i < GRAPH_SLOTS; i++) {
        cu_graph *g = &c->graphs[i];
        if (g->rows == r->rows && g->first == first && g->cur == r->cur) {
            g->used = c->graph_clock;
            return g;
        }
        if (g->used < old->used) old = g;
    }
    if (old->exec) cudaGraphExecDestroy(old->exec);
    *old = cu_graph{r->rows, first, r->cur, 0, nullptr, c->graph_clock};
    return old;
}

// dec_pass captured into g. A capture the driver refuses turns graphs off for this backend
// (the pass then runs directly; a device fault shows itself there)
void graph_capture(wh_cuda *c, const wh_rows *r, cu_graph *g)
{
    cudaGraph_t graph = nullptr;
    if (cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal) != cudaSuccess) goto refused;
    c->capturing = true;
    {
        const sp_status st = dec_pass(c, r);
        // a launch refused while capturing is missing from the graph, and no replay would say
        // so: such a capture is not kept (the direct pass then meets the error and reports it)
        const cudaError_t le = cudaGetLastError();
        c->capturing = false;
        const cudaError_t e = cudaStreamEndCapture(c->st, &graph);   // ends it whatever happened
        if (st || le != cudaSuccess || e != cudaSuccess || cudaGraphInstantiate(&g->exec, graph, 0) != cudaSuccess) {
            g->exec = nullptr;
            goto refused;
        }
    }
    cudaGraphDestroy(graph);
    c->graph_captures++;
    return;
refused:
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    c->graphs_on = false;
    c->base.error[0] = 0;
    fprintf(stderr, "speech-session: CUDA graph capture failed; the decoder launches its kernels directly\n");
}

sp_status cu_decode(wh_backend *be, const wh_rows *r)
{
    wh_cuda *c = (wh_cuda *)be;
    const int R = r->rows;
    sp_status st;
    CU(cudaSetDevice(c->dev));
    if (R < 1 || R > c->tctx) return SP_ERR_INVALID_ARG;
    for (int i = 0; i < R; i++)
        if ((st = seq_ensure(c, r->row_seq[i]))) return st;
    if (r->attn && (st = probs_ensure(c))) return st;
    const double t0 = c->prof.report ? host_ms() : 0.0;
    c->prof.active = c->prof.on;
    c->prof.n = 0;
    memcpy(c->h_ints, r->tokens, sizeof(int) * R);
    memcpy(c->h_ints + c->tctx, r->row_seq, sizeof(int) * R);
    memcpy(c->h_ints + 2 * c->tctx, r->row_pos, sizeof(int) * R);
    const int nl = r->logits ? r->rows - r->first_logit_row : 0;
    bool done = false;
    if (c->graphs_on && !r->attn && R <= GRAPH_ROWS_MAX) {
        cu_graph *g = graph_slot(c, r, nl > 0 ? r->first_logit_row : -1);
        if (!g->exec && g->seen++ > 0) graph_capture(c, r, g);
        if (g->exec) {
            CU(cudaGraphLaunch(g->exec, c->st));
            c->graph_replays++;
            done = true;
        }
    }
    if (!done) {
        if ((st = dec_pass(c, r))) return st;
        c->direct_calls++;
    }
    if (nl > 0)
        CU(cudaMemcpyAsync(r->logits, c->logits, sizeof(float) * (size_t)nl * c->nv, cudaMemcpyDeviceToHost, c->st));
    st = finish(c);
    if (!st) prof_collect(c, t0, R);
    return st;
}

sp_status cu_seq_copy(wh_backend *be, int dst, int src, int np)
{
    wh_cuda *c = (wh_cuda *)be;
    sp_status st;
    CU(cudaSetDevice(c->dev));
    if ((st = seq_ensure(c, dst))) return st;
    if (np <= 0 || !c->kc[src]) return SP_OK;
    // the first np positions of every layer. Values: ndl blocks of np·n halves, pitch
    // tctx·n; keys (transposed): ndl·n rows of np halves, pitch tctx
    const size_t pitch = sizeof(__half) * (size_t)c->tctx * c->n, width = sizeof(__half) * (size_t)np * c->n;
    const size_t kpitch = sizeof(__half) * (size_t)c->tctx, kwidth = sizeof(__half) * (size_t)np;
    CU(cudaMemcpy2DAsync(c->kc[dst], kpitch, c->kc[src], kpitch, kwidth, (size_t)c->ndl * c->n, cudaMemcpyDeviceToDevice,
                         c->st));
    CU(cudaMemcpy2DAsync(c->vc[dst], pitch, c->vc[src], pitch, width, c->ndl, cudaMemcpyDeviceToDevice, c->st));
    return finish(c);
}

void cu_info(const wh_backend *be, wh_device_info *out)
{
    const wh_cuda *c = (const wh_cuda *)be;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", c->name);
    out->mem_used = c->mem_used;
    out->mem_total = c->mem_total;
}

void cu_free(wh_backend *be)
{
    wh_cuda *c = (wh_cuda *)be;
    if (!c) return;
    cudaSetDevice(c->dev);
    if (c->st) cudaStreamSynchronize(c->st);
    prof_free(c);
    for (int i = 0; i < GRAPH_SLOTS; i++)
        if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
    cudaFree(c->blas_ws);
    for (int s = 0; s < WH_MAX_SEQ; s++) {
        cudaFree(c->kc[s]);
        cudaFree(c->vc[s]);
    }
    cudaFree(c->probs);
    cudaFree(c->arena);
    cudaFreeHost(c->h_win);
    cudaFreeHost(c->h_ints);
    if (c->blas) cublasDestroy(c->blas);
    if (c->st) cudaStreamDestroy(c->st);
    free(c->stage);
    free(c->enc);
    free(c->dec);
    free(c);
}

const wh_backend_ops cu_ops = {"cuda", cu_encode, cu_decode, cu_seq_copy, cu_info, cu_free};

// ------------------------------------------------------------------ open

// The device, in one line for the user when it is not usable.
sp_status pick_device(wh_cuda *c, int index, char *err, size_t en)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
        snprintf(err, en, "no GPU (the CUDA driver sees no device)");
        return SP_ERR_UNSUPPORTED;
    }
    if (e == cudaErrorInsufficientDriver) {
        snprintf(err, en, "CUDA driver too old for this build (%s)", cudaGetErrorString(e));
        return SP_ERR_UNSUPPORTED;
    }
    if (e != cudaSuccess) {
        snprintf(err, en, "CUDA unavailable: %s", cudaGetErrorString(e));
        return SP_ERR_UNSUPPORTED;
    }
    if (index >= count) {
        snprintf(err, en, "no GPU cuda:%d (this machine has %d)", index, count);
        return SP_ERR_UNSUPPORTED;
    }
    cudaDeviceProp p;
    if ((e = cudaSetDevice(index)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, index)) != cudaSuccess) {
        snprintf(err, en, "cannot use cuda:%d: %s", index, cudaGetErrorString(e));
        return SP_ERR_UNSUPPORTED;
    }
    c->dev = index;
    snprintf(c->name, sizeof c->name, "%.95s", p.name);
    c->mem_total = p.totalGlobalMem;
    return SP_OK;
}

sp_status alloc_all(wh_cuda *c, char *err, size_t en)
{
    c->sizing = true;
    layout(c);
    c->arena_size = c->arena_off;
    c->sizing = false;
    size_t free_b = 0, total_b = 0;
    // + what a request allocates on first use, so that a GPU with room for the weights alone
    // is refused here (the CPU from the start) rather than in the middle of a beam-5 or
    // word-timestamp request (SP_ERR_DEVICE there moves the context to the CPU until it is
    // reopened): OPEN_SEQS sequences' caches (beam 5 and best-of 5, the defaults' widest), the
    // alignment pass's probabilities, and a margin for what is allocated outside our count
    // (the decoder graphs, cuBLAS's own state; its workspace is allocated already,
    // init_streams). Wider searches (up to WH_MAX_SEQ) still allocate on first use.
    const size_t need = c->arena_size + OPEN_SEQS * cache_bytes(c) + probs_bytes(c) + (64u << 20);
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();   // unknown: the allocation below decides
        free_b = 0;
    } else if (need > free_b) {
        if (need >= 1000000000u)
            snprintf(err, en, "out of GPU memory: need %.2f GB, %.2f GB free", need / 1e9, free_b / 1e9);
        else
            snprintf(err, en, "out of GPU memory: need %.1f MB, %.1f MB free", need / 1e6, free_b / 1e6);
        return SP_ERR_NOMEM;
    }
    if (cudaMalloc(&c->arena, c->arena_size) != cudaSuccess) {
        cudaGetLastError();
        c->arena = nullptr;
        // the driver said there was room (or could not say): the figures are not "need > free"
        snprintf(err, en, "out of GPU memory: allocating %.2f GB failed (%.2f GB reported free)", c->arena_size / 1e9,
                 free_b / 1e9);
        return SP_ERR_NOMEM;
    }
    layout(c);
    c->mem_used = c->arena_size + BLAS_WS;
    size_t stage = (size_t)c->nv * c->n;
    if (stage < 4 * (size_t)c->n * c->n) stage = 4 * (size_t)c->n * c->n;
    if (stage < 3 * (size_t)c->n * c->nm) stage = 3 * (size_t)c->n * c->nm;
    c->stage = (uint16_t *)malloc(stage * sizeof(uint16_t));
    if (cudaMallocHost(&c->h_win, sizeof(float) * (size_t)c->nm * 2 * c->actx) != cudaSuccess ||
        cudaMallocHost(&c->h_ints, sizeof(int) * 3 * (size_t)c->tctx) != cudaSuccess || !c->stage) {
        cudaGetLastError();
        snprintf(err, en, "out of host memory for the GPU's staging buffers");
        return SP_ERR_NOMEM;
    }
    if (cudaMemset(c->ktab, 0, sizeof(__half *) * WH_MAX_SEQ) != cudaSuccess ||
        cudaMemset(c->vtab, 0, sizeof(__half *) * WH_MAX_SEQ) != cudaSuccess) {
        snprintf(err, en, "CUDA error clearing the cache table");
        return SP_ERR_UNSUPPORTED;
    }
    return SP_OK;
}

sp_status init_streams(wh_cuda *c, char *err, size_t en)
{
    if (cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking) != cudaSuccess) {
        snprintf(err, en, "cannot create a CUDA stream");
        return SP_ERR_UNSUPPORTED;
    }
    cublasStatus_t s = cublasCreate(&c->blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        c->blas = nullptr;
        snprintf(err, en, "cuBLAS unavailable: %s", cublasGetStatusName(s));
        return SP_ERR_UNSUPPORTED;
    }
    // unchecked, a failure here would leave every GEMM on the legacy stream, unordered
    // against the kernels on the non-blocking c->st: a race, not an error
    if ((s = cublasSetStream(c->blas, c->st)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, en, "cuBLAS: cannot set its stream: %s", cublasGetStatusName(s));
        return SP_ERR_UNSUPPORTED;
    }
    // cuBLAS's workspace given, not left to cuBLAS: a graph capture must not allocate it
    // (32 MiB: what NVIDIA recommends for Hopper; counted in mem_used)
    if (cudaMalloc(&c->blas_ws, BLAS_WS) != cudaSuccess ||
        cublasSetWorkspace(c->blas, c->blas_ws, BLAS_WS) != CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        snprintf(err, en, "out of GPU memory for cuBLAS's workspace");
        return SP_ERR_NOMEM;
    }
    return SP_OK;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) sp_status
wh_cuda_backend_open_v1(const wh_model *m, const wh_cuda_host *host, wh_backend **out, char *err, size_t en)
{
    *out = nullptr;
    if (!host || host->abi != WH_CUDA_ABI) {
        snprintf(err, en, "CUDA backend built for another engine version");
        return SP_ERR_UNSUPPORTED;
    }
    if (host->model_layout != wh_model_layout()) {   // the offsets read below were compiled in
        snprintf(err, en, "CUDA backend built for another engine version (model.h layout differs)");
        return SP_ERR_UNSUPPORTED;
    }
    wh_cuda *c = (wh_cuda *)calloc(1, sizeof *c);
    if (!c) return SP_ERR_NOMEM;
    c->base.ops = &cu_ops;
    c->m = m;
    c->host = host;
    const wh_hparams *hp = &m->hp;
    c->n = hp->n_audio_state;
    c->H = hp->n_audio_head;
    c->dh = c->n / c->H;
    c->actx = hp->n_audio_ctx;
    c->tctx = hp->n_text_ctx;
    c->nv = hp->n_vocab;
    c->nm = hp->n_mels;
    c->nel = hp->n_audio_layer;
    c->ndl = hp->n_text_layer;
    c->enc = (cu_layer *)calloc((size_t)c->nel, sizeof(cu_layer));
    c->dec = (cu_layer *)calloc((size_t)c->ndl, sizeof(cu_layer));
    sp_status st = SP_ERR_NOMEM;
    if (!c->enc || !c->dec) goto fail;
    if (c->dh > whc::ATTN_DH_MAX || c->dh * c->H != c->n) {   // k_attn_part's shared rows
        snprintf(err, en, "attention heads of %d dimensions: the CUDA backend handles up to %d", c->dh,
                 whc::ATTN_DH_MAX);
        st = SP_ERR_UNSUPPORTED;
        goto fail;
    }
    if ((st = pick_device(c, host->device_index, err, en)) || (st = init_streams(c, err, en)) ||
        (st = alloc_all(c, err, en)))
        goto fail;
    if (!prof_init(c)) {
        snprintf(err, en, "SPEECH_SESSION_CUDA_PROFILE: cannot create the profile's events");
        st = SP_ERR_UNSUPPORTED;
        goto fail;
    }
    st = upload(c);
    // the staging buffer (max(V·n, 4n², 3n·n_mels) halves: 133 MB of host memory for
    // large-v3) serves the upload only; every page of it was written, so kept it would stay
    // resident for the backend's whole life
    free(c->stage);
    c->stage = nullptr;
    if (st) {
        snprintf(err, en, "uploading the weights failed: %s", c->base.error);
        goto fail;
    }
    // the uploads and memsets above ran on the legacy default stream, which the
    // non-blocking c->st does not wait for (a pageable cudaMemcpy returns once its bytes are
    // staged, before the DMA lands): finish them before any kernel reads the weights
    if (cudaDeviceSynchronize() != cudaSuccess) {
        snprintf(err, en, "uploading the weights failed: %s", cudaGetErrorName(cudaGetLastError()));
        st = SP_ERR_UNSUPPORTED;
        goto fail;
    }
    *out = &c->base;
    return SP_OK;
fail:
    cu_free(&c->base);
    return st;
}

// ------------------------------------------------------------------ limits (bin/bench)
// What this GPU can do, measured now, so benchmark figures are fractions of it: device
// memory bandwidth from a 1 GiB device-to-device copy (bytes read + written per second),
// and f16 tensor-core GEMM throughput (f32 accumulation, as the backend's GEMMs) on an
// 8192³ product of pseudo-random values in [-1, 1). Best of 5 / 3 runs. -1 (and 0 figures)
// on any error: every call is checked, since a failed GEMM leaves an empty timed interval
// (an absurd TFLOP/s) and cuBLAS errors are not visible to cudaGetLastError.
extern "C" __attribute__((visibility("default"))) int wh_cuda_limits_v1(int dev, double *copy_gbs, double *gemm_tflops)
{
    *copy_gbs = *gemm_tflops = 0;
    if (cudaSetDevice(dev) != cudaSuccess) return -1;
    const size_t bytes = (size_t)1 << 30, N = 8192;
    void *a = nullptr, *b = nullptr;
    float *c32 = nullptr;
    cublasHandle_t h = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    double gbs = 0, tflops = 0;
    int rc = -1;
    if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) goto cleanup;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess ||
        cudaMalloc(&c32, N * N * sizeof(float)) != cudaSuccess || cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
        goto cleanup;
    WHC_LAUNCH(whc::k_fill_noise_h, 4096, 256, 0, 0)((__half *)a, bytes / sizeof(__half));
    WHC_LAUNCH(whc::k_fill_noise_h, 4096, 256, 0, 0)((__half *)b, bytes / sizeof(__half));
    if (cudaDeviceSynchronize() != cudaSuccess) goto cleanup;
    for (int i = 0; i < 6; i++) {   // the first copy warms up
        float ms = 0;
        if (cudaEventRecord(e0) != cudaSuccess || cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice) != cudaSuccess ||
            cudaEventRecord(e1) != cudaSuccess || cudaEventSynchronize(e1) != cudaSuccess ||
            cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess)
            goto cleanup;
        if (i && ms > 0 && 2.0 * bytes / (ms * 1e6) > gbs) gbs = 2.0 * bytes / (ms * 1e6);
    }
    for (int i = 0; i < 4; i++) {
        const float one = 1.0f, zero = 0.0f;
        float ms = 0;
        if (cudaEventRecord(e0) != cudaSuccess ||
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)N, (int)N, &one, a, CUDA_R_16F, (int)N, b,
                         CUDA_R_16F, (int)N, &zero, c32, CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS ||
            cudaEventRecord(e1) != cudaSuccess || cudaEventSynchronize(e1) != cudaSuccess ||
            cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess)
            goto cleanup;
        const double tf = 2.0 * N * N * N / (ms * 1e9);
        if (i && ms > 0 && tf > tflops) tflops = tf;
    }
    if (cudaGetLastError() != cudaSuccess || gbs <= 0 || tflops <= 0) goto cleanup;
    *copy_gbs = gbs;
    *gemm_tflops = tflops;
    rc = 0;
cleanup:
    cudaGetLastError();   // a non-sticky error of ours must not be reported by the next caller
    if (h) cublasDestroy(h);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c32);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    return rc;
}
