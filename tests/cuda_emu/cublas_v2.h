// cublas_v2.h (emulation) — the two cuBLAS calls the CUDA backend makes, as plain
// column-major reference GEMMs with f32 accumulation (f16 or f32 operands). Part of
// tests/cuda_emu (see cuda_runtime.h there).
#pragma once
#include "cuda_fp16.h"
#include "cuda_runtime.h"

typedef struct emu_blas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2 } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

static inline cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = (cublasHandle_t)malloc(1);
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    free(h);
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
static inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *, size_t) { return CUBLAS_STATUS_SUCCESS; }
static inline const char *cublasGetStatusName(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

static inline float emu_get(const void *p, cudaDataType t, size_t i)
{
    return t == CUDA_R_16F ? __half2float(((const __half *)p)[i]) : ((const float *)p)[i];
}

// the product itself (cublasGemmStridedBatchedEx)
static inline void emu_gemm_run(
    cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float al, const void *A,
    cudaDataType at, int lda, long long sa, const void *B, cudaDataType bt, int ldb, long long sb, float be,
    void *C, cudaDataType ct, int ldc, long long sc, int batch)
{
    // $CUDA_EMU_NAN_AFTER=N: products after the N-th give NaN with no error reported, as a GPU
    // computing garbage does (tests of the engine's check of the logits)
    static const char *nan_env = getenv("CUDA_EMU_NAN_AFTER");
    static long n_gemms;
    const bool poison = nan_env && ++n_gemms > atol(nan_env);
    for (int b = 0; b < batch; b++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float acc = 0;
                for (int p = 0; p < k; p++) {
                    size_t ia = (size_t)(b * sa) + (ta ? (size_t)i * lda + p : (size_t)p * lda + i);
                    size_t ib = (size_t)(b * sb) + (tb ? (size_t)p * ldb + j : (size_t)j * ldb + p);
                    acc += emu_get(A, at, ia) * emu_get(B, bt, ib);
                }
                if (poison) acc = NAN;
                size_t ic = (size_t)(b * sc) + (size_t)j * ldc + i;
                if (ct == CUDA_R_16F) {
                    __half *c = (__half *)C;
                    c[ic] = __float2half(al * acc + (be != 0 ? be * __half2float(c[ic]) : 0));
                } else {
                    float *c = (float *)C;
                    c[ic] = al * acc + (be != 0 ? be * c[ic] : 0);
                }
            }
}

// C (m x n, ldc) = alpha op(A) op(B) + beta C, column-major, as cuBLAS defines it; alpha and
// beta are read now (host pointer mode), the matrices when the product runs
static inline cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha, const void *A,
    cudaDataType at, int lda, long long sa, const void *B, cudaDataType bt, int ldb, long long sb, const void *beta,
    void *C, cudaDataType ct, int ldc, long long sc, int batch, cublasComputeType_t, cublasGemmAlgo_t)
{
    if (m < 0 || n < 0 || k < 0 || ldc < m || lda < (ta ? k : m) || ldb < (tb ? n : k)) return CUBLAS_STATUS_INVALID_VALUE;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    emu::run_or_record([=]() { emu_gemm_run(ta, tb, m, n, k, al, A, at, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc, batch); });
    return CUBLAS_STATUS_SUCCESS;
}

static inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                                          cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                                          cublasComputeType_t ctype, cublasGemmAlgo_t algo)
{
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1,
                                      ctype, algo);
}
