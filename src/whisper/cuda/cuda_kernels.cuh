// cuda_kernels.cuh — the CUDA backend's own kernels (everything that is not a matrix
// product: those go to cuBLAS). Each mirrors a CPU kernel in src/whisper/kernels.c and
// keeps its numerics: f32 arithmetic, exact-erf GELU, LayerNorm eps 1e-5 with a two-pass
// variance, softmax with the row maximum subtracted. Activations are stored as f16 only
// where they feed a tensor-core GEMM; the residual stream stays f32.
#pragma once
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// Launch and dynamic shared memory through macros, so that the CPU emulation of
// tests/cuda_emu (which defines them first) can run this code unchanged.
#ifndef WHC_LAUNCH
#define WHC_LAUNCH(k, grid, block, shm, stream) k<<<grid, block, shm, stream>>>
#define WHC_DYN_SHARED(T, name) extern __shared__ T name[]
#endif

namespace whc {

// Sum or max over the block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. red: 32 floats of shared memory.
__device__ inline float block_reduce(float v, bool is_max, float *red)
{
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, w) : v + w;
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads();   // red may still be read by the previous call
    if (lane == 0) red[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? red[lane] : (is_max ? -INFINITY : 0.0f);
        for (int o = 16; o > 0; o >>= 1) {
            float w = __shfl_xor_sync(0xffffffffu, v, o);
            v = is_max ? fmaxf(v, w) : v + w;
        }
        if (lane == 0) red[0] = v;
    }
    __syncthreads();
    return red[0];
}

__device__ inline float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

// conv1 im2col: col[t][ch*3 + j] = win[ch][t + j - 1], 0 outside [0, T). win is the
// window's mel [nm][T], already zero past the end of the audio (pad_or_trim).
__global__ void k_im2col1(const float *win, int nm, int T, __half *col)
{
    const size_t total = (size_t)T * nm * 3;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int t = (int)(i / (3 * nm)), rem = (int)(i % (3 * nm)), ch = rem / 3, j = rem % 3;
        const int f = t + j - 1;
        col[i] = __float2half(f >= 0 && f < T ? win[(size_t)ch * T + f] : 0.0f);
    }
}

// conv2 (stride 2) im2col: col[t][ch*3 + j] = c1[2t + j - 1][ch], 0 outside [0, T).
__global__ void k_im2col2(const __half *c1, int T, int n, int actx, __half *col)
{
    const size_t total = (size_t)actx * n * 3;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int t = (int)(i / (3 * n)), rem = (int)(i % (3 * n)), ch = rem / 3, j = rem % 3;
        const int f = 2 * t + j - 1;
        col[i] = f >= 0 && f < T ? c1[(size_t)f * n + ch] : __float2half(0.0f);
    }
}

// out[r][c] = f16(gelu(in[r][c] + b[c]))
__global__ void k_bias_gelu_h(const float *in, const float *b, int rows, int cols, __half *out)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half(gelu(in[i] + b[i % cols]));
}

// x[t][c] = gelu(in[t][c] + b[c]) + pe[t][c]   (conv2 output + positional embedding)
__global__ void k_conv2_out(const float *in, const float *b, const float *pe, int rows, int cols, float *x)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        x[i] = gelu(in[i] + b[i % cols]) + pe[i];
}

// out = f16((in + b) * s), b may be NULL
__global__ void k_bias_scale_h(const float *in, const float *b, float s, int rows, int cols, __half *out)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half((in[i] + (b ? b[i % cols] : 0.0f)) * s);
}

// the same, written transposed: out[c * ld + r] (the cross-attention keys, [n][actx], so
// k_attn's thread-per-position reads of a key column are coalesced)
__global__ void k_bias_scale_hT(const float *in, const float *b, float s, int rows, int cols, __half *out, int ld)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / cols, c = i % cols;
        out[c * ld + r] = __float2half((in[i] + (b ? b[c] : 0.0f)) * s);
    }
}

// out = (in + b) * s in f32 (decoder queries), b may be NULL
__global__ void k_bias_scale_f(const float *in, const float *b, float s, int rows, int cols, float *out)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = (in[i] + (b ? b[i % cols] : 0.0f)) * s;
}

// the encoder's stacked projection in[r][3n] -> q = f16((in + qb) * s), k = f16(in),
// v = f16(in + vb), each [rows][n]
__global__ void k_qkv_split_h(const float *in, const float *qb, const float *vb, float s, int rows, int n, __half *q,
                              __half *k, __half *v)
{
    const size_t total = (size_t)rows * 3 * n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / (3 * (size_t)n);
        const int col = (int)(i % (3 * (size_t)n)), part = col / n, c = col % n;
        const size_t o = r * n + c;
        if (part == 0) q[o] = __float2half((in[i] + qb[c]) * s);
        else if (part == 1) k[o] = __float2half(in[i]);
        else v[o] = __float2half(in[i] + vb[c]);
    }
}

// the decoder's stacked projection, one block per row: the query (f32, scaled) for the
// attention and the new key and value into the row's sequence cache at its position
__global__ void k_qkv_store(const float *in, const float *qb, const float *vb, float s, int n, int tctx, __half *const *ktab,
                            __half *const *vtab, const int *seq, const int *pos, size_t layer_off, float *q)
{
    const int r = blockIdx.x;
    const float *x = in + (size_t)r * 3 * n;
    __half *kd = ktab[seq[r]] + layer_off + pos[r];   // keys transposed: [n][tctx]
    __half *vd = vtab[seq[r]] + layer_off + (size_t)pos[r] * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        q[(size_t)r * n + i] = (x[i] + qb[i]) * s;
        kd[(size_t)i * tctx] = __float2half(x[n + i]);
        vd[i] = __float2half(x[2 * n + i] + vb[i]);
    }
}

// x[r][c] += b[c]
__global__ void k_add_bias(float *x, const float *b, int rows, int cols)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        x[i] += b[i % cols];
}

// one row per block: out = f16((x - mean) / sqrt(var + 1e-5) * w + b)
__global__ void k_layernorm(const float *x, int n, const float *w, const float *b, __half *out)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * n;
    __half *o = out + (size_t)blockIdx.x * n;
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
    const float mean = block_reduce(s, false, red) / n;
    float v = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float d = xr[i] - mean;
        v += d * d;
    }
    const float inv = rsqrtf(block_reduce(v, false, red) / n + 1e-5f);
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = __float2half((xr[i] - mean) * inv * w[i] + b[i]);
}

// one row of scores per block: P = f16(softmax(S)), rows of `cols`
__global__ void k_softmax_h(const float *S, int cols, __half *P)
{
    __shared__ float red[32];
    const float *sr = S + (size_t)blockIdx.x * cols;
    __half *pr = P + (size_t)blockIdx.x * cols;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, sr[i]);
    m = block_reduce(m, true, red);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += expf(sr[i] - m);
    const float inv = 1.0f / block_reduce(s, false, red);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) pr[i] = __float2half(expf(sr[i] - m) * inv);
}

__global__ void k_to_h(const float *in, size_t count, __half *out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half(in[i]);
}

// bin/bench's GEMM inputs: f16 values in [-1, 1) from a hash of the index, not zeros (a
// tensor core multiplying zeros draws less power and clocks higher than on real data)
__global__ void k_fill_noise_h(__half *out, size_t count)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        unsigned int h = (unsigned int)i * 2654435761u ^ (unsigned int)(i >> 32);
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        out[i] = __float2half((float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f);
    }
}

// decoder input: x[r] = tok_emb[tokens[r]] + pe[pos[r]]
__global__ void k_embed(const __half *emb, const float *pe, const int *tokens, const int *pos, int n, float *x)
{
    const int r = blockIdx.x;
    const __half *e = emb + (size_t)tokens[r] * n;
    const float *p = pe + (size_t)pos[r] * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[(size_t)r * n + i] = __half2float(e[i]) + p[i];
}

// Products of few rows (the decoder's: a token, or the beams' step), M <= GEMV_ROWS:
// C[r][j] = beta C[r][j] + sum_k A[r][k] W[j][k]; A f16 [M][lda], W f16 [N][K] (a weight as
// stored), C f32 [M][ldc]; K and lda multiples of 8 and both 16-byte aligned. A group of 8
// lanes per output column reads the weight row 128 contiguous bytes at a time (a warp
// instruction: 4 rows, each cache line used whole), so the weights stream at the memory's
// rate where a tensor-core tile of 64+ rows would mostly multiply padding. The 8 partial
// sums of a column meet in shared memory: one barrier per block and no warp shuffles (the
// CPU emulation pays two barriers per shuffle). blockDim 256: 32 columns per block.
constexpr int GEMV_ROWS = 8;
__global__ void k_gemv_h(int M, int N, int K, const __half *A, int lda, const __half *W, float *C, int ldc, float beta)
{
    __shared__ float red[GEMV_ROWS][256];
    const int g = threadIdx.x >> 3, l = threadIdx.x & 7;
    const int j = blockIdx.x * 32 + g;
    float acc[GEMV_ROWS];
    for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.0f;
    if (j < N) {
        const uint4 *wr = (const uint4 *)(W + (size_t)j * K);
        for (int k8 = l; k8 < K / 8; k8 += 8) {
            const uint4 wv = wr[k8];
            __half wh[8];
            memcpy(wh, &wv, sizeof wh);
            float wf[8];
            for (int i = 0; i < 8; i++) wf[i] = __half2float(wh[i]);
            for (int r = 0; r < GEMV_ROWS; r++)   // a constant trip count: acc stays in registers
                if (r < M) {
                    const uint4 av = *(const uint4 *)(A + (size_t)r * lda + (size_t)k8 * 8);
                    __half ah[8];
                    memcpy(ah, &av, sizeof ah);
                    float s = 0.0f;
                    for (int i = 0; i < 8; i++) s += __half2float(ah[i]) * wf[i];
                    acc[r] += s;
                }
        }
    }
    for (int r = 0; r < GEMV_ROWS; r++) red[r][threadIdx.x] = acc[r];
    __syncthreads();
    const int col = threadIdx.x & 31, r = threadIdx.x >> 5, jj = blockIdx.x * 32 + col;
    if (r < M && jj < N) {
        float s = 0.0f;
        for (int i = 0; i < 8; i++) s += red[r][col * 8 + i];
        float *o = C + (size_t)r * ldc + jj;
        *o = beta != 0.0f ? beta * *o + s : s;
    }
}

// Attention of decoder row r, head h (grid R x H; blockDim a multiple of 32, at most
// ATTN_WARPS warps), over `len` keys: the row's own cache (self: K/V from ktab/vtab, len =
// pos + 1) or the window's (cross: Kx/Vx, len = cur). q is pre-scaled. Keys transposed,
// [n][ks] (ks = tctx for a cache, the allocated actx for the window), values [len][n]. Shared memory:
// dh + len + ATTN_WARPS * dh floats. dh <= ATTN_DH_MAX (Whisper's heads are all 64 wide).
//
// The output's sum over positions is split between the warps, lanes over the head's
// dimensions, so a warp reads one value row as one coalesced access and 8 rows are in
// flight per block. A thread per dimension looping over all positions (the first version)
// was latency-bound: about 0.65 ms per cross-attention layer on an H200 (1500 positions),
// where the layer reads 384 KB of keys and values per head. No warp shuffles per position:
// the CPU emulation of the tests pays two barriers for each.
// probs (alignment pass): the softmax row, [R][H][cur].
constexpr int ATTN_WARPS = 8, ATTN_DH_MAX = 128;
__global__ void k_attn(const float *q, int n, int dh, int ks, __half *const *ktab, __half *const *vtab, const int *seq,
                       const int *pos, size_t layer_off, const __half *Kx, const __half *Vx, int cur, __half *out,
                       float *probs)
{
    WHC_DYN_SHARED(float, sm);
    __shared__ float red[32];
    const int r = blockIdx.x, h = blockIdx.y, H = gridDim.y;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const __half *K, *V;
    int len;
    if (Kx) {
        K = Kx + (size_t)h * dh * ks;
        V = Vx + (size_t)h * dh;
        len = cur;
    } else {
        K = ktab[seq[r]] + layer_off + (size_t)h * dh * ks;
        V = vtab[seq[r]] + layer_off + (size_t)h * dh;
        len = pos[r] + 1;
    }
    float *qs = sm, *S = sm + dh, *part = sm + dh + len;   // part: [nw][dh]
    for (int d = threadIdx.x; d < dh; d += blockDim.x) qs[d] = q[(size_t)r * n + (size_t)h * dh + d];
    __syncthreads();
    // scores: S[p] = q · K[p], a thread per position; keys are stored transposed (K[d][p],
    // row stride ks), so a warp's reads of one dimension are one coalesced access
    float m = -INFINITY;
    for (int p = threadIdx.x; p < len; p += blockDim.x) {
        float acc = 0.0f;
        for (int d = 0; d < dh; d++) acc += qs[d] * __half2float(K[(size_t)d * ks + p]);
        S[p] = acc;
        m = fmaxf(m, acc);
    }
    m = block_reduce(m, true, red);   // syncs: every S[p] is written
    float s = 0.0f;
    for (int p = threadIdx.x; p < len; p += blockDim.x) {
        const float e = expf(S[p] - m);
        S[p] = e;
        s += e;
    }
    const float inv = 1.0f / block_reduce(s, false, red);   // syncs: S is complete
    if (probs)
        for (int p = threadIdx.x; p < len; p += blockDim.x) probs[((size_t)r * H + h) * cur + p] = S[p] * inv;
    // output: each warp sums its positions' S[p] * V[p], lanes over dimensions; then the
    // warps' partial rows are added
    float acc[ATTN_DH_MAX / 32];
    for (int j = 0; j < ATTN_DH_MAX / 32; j++) acc[j] = 0.0f;
    int p = w;
    for (; p + 3 * nw < len; p += 4 * nw) {   // four rows' loads in flight per warp
        const __half *v0 = V + (size_t)p * n, *v1 = v0 + (size_t)nw * n, *v2 = v1 + (size_t)nw * n,
                     *v3 = v2 + (size_t)nw * n;
        const float s0 = S[p], s1 = S[p + nw], s2 = S[p + 2 * nw], s3 = S[p + 3 * nw];
        for (int j = 0; j < ATTN_DH_MAX / 32; j++) {
            const int d = lane + 32 * j;
            if (d < dh)
                acc[j] += s0 * __half2float(v0[d]) + s1 * __half2float(v1[d]) + s2 * __half2float(v2[d]) +
                          s3 * __half2float(v3[d]);
        }
    }
    for (; p < len; p += nw) {
        const float sp = S[p];
        const __half *vr = V + (size_t)p * n;
        for (int j = 0; j < ATTN_DH_MAX / 32; j++)
            if (lane + 32 * j < dh) acc[j] += sp * __half2float(vr[lane + 32 * j]);
    }
    for (int j = 0; j < ATTN_DH_MAX / 32; j++)
        if (lane + 32 * j < dh) part[w * dh + lane + 32 * j] = acc[j];
    __syncthreads();
    for (int d = threadIdx.x; d < dh; d += blockDim.x) {
        float o = 0.0f;
        for (int i = 0; i < nw; i++) o += part[i * dh + d];
        out[(size_t)r * n + (size_t)h * dh + d] = __float2half(o * inv);
    }
}

}  // namespace whc
