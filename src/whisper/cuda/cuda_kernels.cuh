// cuda_kernels.cuh — the CUDA backend's own kernels (everything that is not a matrix
// product: those go to cuBLAS). Each mirrors a CPU kernel in src/whisper/kernels.c and
// keeps its numerics: f32 arithmetic, exact-erf GELU, LayerNorm eps 1e-5 with a two-pass
// variance, softmax with the row maximum subtracted. Activations are stored as f16 only
// where they feed a tensor-core GEMM; the residual stream stays f32.
#pragma once
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

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

// the same for in [rows][cols], written transposed: out[c * ld + r] (the cross-attention
// keys, [n][actx], so k_attn_part's thread-per-position reads of a key column are coalesced)
__global__ void k_to_hT(const float *in, int rows, int cols, __half *out, int ld)
{
    const size_t total = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i % cols * ld + i / cols] = __float2half(in[i]);
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

// Decoder attention of row r, head h over `len` keys: the row's own cache (self: K/V from
// ktab/vtab, len = pos[r] + 1) or the window's (cross: Kx/Vx, len = cur); q pre-scaled.
// Keys transposed, [n][ks] (ks = tctx for a cache, the allocated actx for the window),
// values [len][n]. dh <= ATTN_DH_MAX (Whisper's heads are all 64 wide).
//
// Split over the keys (grid R x H x chunks of ATTN_CHUNK positions), each block a partial
// softmax of its chunk — max m, sum l of exp(s - m), o = sum exp(s - m) v — that
// k_attn_combine rescales to the row's maximum and adds. One block per (row, head) over all
// 1500 positions of the window (the first versions) kept 8 to 20 of an H200's 132
// multiprocessors busy and was latency-bound: about 95 us per cross-attention layer on
// an H200 for base, large-v3-turbo and large-v3 alike (gpu-check's profile), where a
// layer's window keys and values take under 2 us at the memory's rate.
// With one chunk (a short cache) the block writes the row's result itself.
//
// Inside a block: 4 groups of 64 threads; scores with a thread per position and the groups
// splitting the dimensions (a warp reads 32 consecutive positions of one key dimension:
// coalesced); the output with a thread per dimension and the groups splitting positions.
// Warp 0 alone takes the chunk's max and sum: 10 shuffles a block (the CPU emulation of
// the tests pays two barriers for each). probs (alignment pass): [R][H][cur], exp(s - m)
// of the chunk here, normalised by the combine.
constexpr int ATTN_DH_MAX = 128, ATTN_CHUNK = 64, ATTN_THREADS = 256;
__global__ void k_attn_part(const float *q, int n, int dh, int ks, __half *const *ktab, __half *const *vtab,
                            const int *seq, const int *pos, size_t layer_off, const __half *Kx, const __half *Vx, int cur,
                            float *part, __half *out, float *probs)
{
    __shared__ float qs[ATTN_DH_MAX], S[ATTN_CHUNK], red[ATTN_THREADS], stat[2];
    const int r = blockIdx.x, h = blockIdx.y, H = gridDim.y, c = blockIdx.z, nch = gridDim.z, t = threadIdx.x;
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
    float *pp = part + (((size_t)r * H + h) * nch + c) * (dh + 2);   // m, l, o[dh]
    const int p0 = c * ATTN_CHUNK;
    if (p0 >= len) {   // past this row's keys (a shorter cache in a beam step): empty
        if (t == 0) pp[0] = -INFINITY, pp[1] = 0.0f;
        return;
    }
    const int cnt = len - p0 < ATTN_CHUNK ? len - p0 : ATTN_CHUNK;
    for (int d = t; d < dh; d += blockDim.x) qs[d] = q[(size_t)r * n + (size_t)h * dh + d];
    __syncthreads();
    {   // scores: position i, dimensions g, g + 4, ...
        const int i = t % ATTN_CHUNK, g = t / ATTN_CHUNK;
        float acc = 0.0f;
        if (i < cnt)
            for (int d = g; d < dh; d += ATTN_THREADS / ATTN_CHUNK) acc += qs[d] * __half2float(K[(size_t)d * ks + p0 + i]);
        red[t] = acc;
    }
    __syncthreads();
    if (t < 32) {   // warp 0: S, the chunk's max and sum
        float sv[ATTN_CHUNK / 32], m = -INFINITY;
        for (int k = 0; k < ATTN_CHUNK / 32; k++) {
            const int i = t + 32 * k;
            sv[k] = -INFINITY;
            if (i < cnt) {
                sv[k] = red[i] + red[i + ATTN_CHUNK] + red[i + 2 * ATTN_CHUNK] + red[i + 3 * ATTN_CHUNK];
                m = fmaxf(m, sv[k]);
            }
        }
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        float l = 0.0f;
        for (int k = 0; k < ATTN_CHUNK / 32; k++) {
            const int i = t + 32 * k;
            const float e = i < cnt ? expf(sv[k] - m) : 0.0f;
            S[i] = e;
            l += e;
        }
        for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
        if (t == 0) stat[0] = m, stat[1] = l;
    }
    __syncthreads();
    const float inv = nch == 1 ? 1.0f / stat[1] : 1.0f;   // one chunk: the final softmax
    if (probs)
        for (int i = t; i < cnt; i += blockDim.x) probs[((size_t)r * H + h) * cur + p0 + i] = S[i] * inv;
    {   // output: dimension d, positions g, g + G, ...
        const int G = blockDim.x / dh, d = t % dh, g = t / dh;
        float acc = 0.0f;
        if (g < G)
            for (int i = g; i < cnt; i += G) acc += S[i] * __half2float(V[(size_t)(p0 + i) * n + d]);
        __syncthreads();   // red is free again (warp 0 read it above)
        if (g < G) red[g * dh + d] = acc;
        __syncthreads();
        if (t < dh) {
            float o = 0.0f;
            for (int k = 0; k < G; k++) o += red[k * dh + t];
            if (nch == 1)
                out[(size_t)r * n + (size_t)h * dh + t] = __float2half(o * inv);
            else
                pp[2 + t] = o;
        }
        if (t == 0) pp[0] = stat[0], pp[1] = stat[1];
    }
}

// The chunks' partial softmaxes of row r, head h (grid R x H) rescaled to the row's
// maximum and added: out = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c; probs likewise
// normalised. Empty chunks (l = 0) are skipped.
__global__ void k_attn_combine(const float *part, int nch, int n, int dh, const int *pos, int cross, int cur,
                               __half *out, float *probs)
{
    const int r = blockIdx.x, h = blockIdx.y, H = gridDim.y;
    const float *pr = part + ((size_t)r * H + h) * nch * (dh + 2);
    float M = -INFINITY, L = 0.0f;
    for (int c = 0; c < nch; c++)
        if (pr[c * (dh + 2) + 1] > 0.0f) M = fmaxf(M, pr[c * (dh + 2)]);
    for (int c = 0; c < nch; c++) {
        const float *pc = pr + c * (dh + 2);
        if (pc[1] > 0.0f) L += pc[1] * expf(pc[0] - M);
    }
    const float inv = 1.0f / L;
    for (int d = threadIdx.x; d < dh; d += blockDim.x) {
        float o = 0.0f;
        for (int c = 0; c < nch; c++) {
            const float *pc = pr + c * (dh + 2);
            if (pc[1] > 0.0f) o += pc[2 + d] * expf(pc[0] - M);
        }
        out[(size_t)r * n + (size_t)h * dh + d] = __float2half(o * inv);
    }
    if (probs) {
        const int len = cross ? cur : pos[r] + 1;
        for (int p = threadIdx.x; p < len; p += blockDim.x) {
            const float *pc = pr + (p / ATTN_CHUNK) * (dh + 2);
            probs[((size_t)r * H + h) * cur + p] *= expf(pc[0] - M) * inv;
        }
    }
}

}  // namespace whc
