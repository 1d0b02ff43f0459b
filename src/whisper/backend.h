/* backend.h — the seam between the decoding layer and the forward pass.
 *
 * The engine is split by lifetime and by owner (as whisper.cpp separates whisper_context
 * from whisper_state):
 *   wh_model     immutable: the mapped file, hyperparameters, vocabulary, filterbank, the
 *                borrowed weight views (model.h). Shared by every backend.
 *   wh_backend   the run state of one device: weights in that device's form, the encoder's
 *                buffers, the window's cross-attention K/V, one self-attention KV cache per
 *                sequence. A small table of operations (wh_backend_ops) is all the engine
 *                (engine.c) sees of it.
 *   sp_context   model + active backend + what is the same on every device: sequence
 *                lengths, whether a window is encoded, the tokenizer, the mel front end.
 *
 * Sequence bookkeeping (n_past per sequence) lives in the context, so a backend is told
 * where each row goes (row_seq, row_pos) and never decides it: the CPU and CUDA backends
 * cannot disagree about positions.
 *
 * This header is C and is also compiled as C++ by the CUDA backend (src/whisper/cuda/),
 * which is a shared object loaded at run time (backend_load.c). */
#ifndef WH_BACKEND_H
#define WH_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include "speech.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wh_model;
typedef struct wh_backend wh_backend;

/* One decoder pass: rows tokens, row r appended to sequence row_seq[r] at position
 * row_pos[r] (the sequence's KV cache holds positions < row_pos[r] already). */
typedef struct {
    int rows;
    const int *tokens, *row_seq, *row_pos;   /* [rows] */
    int first_logit_row;   /* logits for rows [first_logit_row, rows) */
    float *logits;         /* [rows - first_logit_row][n_vocab], or NULL */
    float *attn;           /* NULL, or cross-attention probabilities
                            * [n_text_layer][rows][n_head][cur] (alignment pass) */
    int cur;               /* audio positions of the encoded window */
} wh_rows;

typedef struct {
    char name[96];          /* "CPU (AVX2, 8 threads)", "NVIDIA H200" */
    size_t mem_used;        /* bytes of device memory the backend holds (0 for the CPU) */
    size_t mem_total;       /* the device's memory (0 when unknown) */
} wh_device_info;

typedef struct {
    const char *device;   /* "cpu", "cuda" */
    /* Encodes mel[:, offset : offset + 2·actx] of a [n_mels][n_frames] matrix (frames past
     * n_frames are 0.0) and computes every decoder layer's cross-attention K/V. */
    sp_status (*encode)(wh_backend *b, const float *mel, int n_frames, int offset, int actx);
    sp_status (*decode)(wh_backend *b, const wh_rows *r);
    /* Copies the first n_past positions of sequence src's KV cache into dst. */
    sp_status (*seq_copy)(wh_backend *b, int dst, int src, int n_past);
    void (*info)(const wh_backend *b, wh_device_info *out);
    void (*free)(wh_backend *b);
} wh_backend_ops;

/* Every backend's state starts with this. */
struct wh_backend {
    const wh_backend_ops *ops;
    char error[200];   /* what the last failing operation met ("cudaErrorIllegalAddress in ...") */
};

/* SP_ERR_DEVICE from an operation means the device failed (out of memory, a sticky CUDA
 * error): the backend is unusable and the engine moves to the CPU (engine.c). */

/* ------------------------------------------------------------------ CPU backend */
/* ex: the context's thread pool, borrowed for the backend's lifetime. mode: which matrices
 * take the int8 products (kernels.h "quantized × int8"; only where wh_kernels_int8()):
 * AUTO the quantized ones, INT8 f16/f32 ones too (quantized to q8_0 at open), EXACT none. */
typedef enum { WH_CPU_AUTO, WH_CPU_INT8, WH_CPU_EXACT } wh_cpu_mode;
sp_status wh_cpu_backend_open(const struct wh_model *m, void *ex, wh_cpu_mode mode, wh_backend **out, char *err,
                              size_t en);

/* Runs a short deterministic window and four teacher-forced tokens through both backends
 * (fresh ones: their sequence 0 is overwritten) and compares the logits: max |a - b| <=
 * tol * std(a) on every row, and test's best token scores within that error of ref's.
 * SP_OK when they agree; else why says how they differ. *worst: the largest error seen. */
sp_status wh_backend_compare(const struct wh_model *m, wh_backend *ref, wh_backend *test, double tol, double *worst,
                             char *why, size_t wn);

/* ------------------------------------------------------------------ CUDA backend
 * The shared object exports one symbol, WH_CUDA_ENTRY, of type wh_cuda_open_fn. Weights
 * reach it through wh_cuda_host: the engine turns any weight type into f16 rows on the host
 * with the same exact dequantization the CPU uses, so every type the loader accepts runs on
 * the GPU and the shared object needs none of the engine's code. */
#define WH_CUDA_ABI 2   /* 2: model_layout */
#define WH_CUDA_ENTRY "wh_cuda_backend_open_v1"

typedef struct {
    int abi;                 /* WH_CUDA_ABI */
    int device_index;        /* cuda:N */
    /* rows x k elements of weight W (a wh_tensor viewed as rows of k) as IEEE f16 */
    void (*weight_f16)(const void *tensor, int rows, int k, uint16_t *out);
    /* wh_model_layout() of the engine (model.h): the library reads wh_model's fields itself,
     * so one built against another layout refuses to open */
    uint32_t model_layout;
} wh_cuda_host;

typedef sp_status (*wh_cuda_open_fn)(const struct wh_model *m, const wh_cuda_host *host, wh_backend **out,
                                     char *err, size_t en);

/* Loads the shared object and opens the CUDA backend on device_index. On failure returns
 * an error status and writes the reason in one line for the user ("no CUDA driver",
 * "no GPU", "out of GPU memory: need 3.1 GB, 1.2 GB free", ...). */
sp_status wh_cuda_backend_load(const struct wh_model *m, int device_index, wh_backend **out, char *reason,
                               size_t rn);

/* bin/bench: the GPU's measured limits (device copy bandwidth GB/s, f16 GEMM TFLOP/s);
 * -1 when the CUDA backend is not loadable or the measurement failed. */
int wh_cuda_limits(int device_index, double *copy_gbs, double *gemm_tflops);

#ifdef __cplusplus
}
#endif
#endif
