/* bench — engine benchmark: machine FMA peak, GEMM kernels (scalar vs AVX2 in the same
 * run), encoder time per 30 s window, decoder ms/token at batch 1 and 5, achieved GFLOP/s
 * and peak RSS, for synthetic models (made with bin/mkmodel) or given model files.
 *
 *   bin/bench [--device D] [--threads N] [--runs N] [--tokens N] [--audio WAV] [--no-scaling]
 *             [--shapes micro,tiny,base] [--types f16,q8_0] [--isa scalar|avx2|avx512] [--avx-vnni]
 *             [--gemv-prefetch ROWS] [MODEL.bin ...]
 *   --isa: run every model figure at that kernel level (default: the CPU's best, or the level
 *   SPEECH_SESSION_ISA names) (an AVX2-only machine's path on an
 *   AVX-512 one); the FMA peak is then measured at that level's width. --avx-vnni (with
 *   --isa avx2, on an AVX512-VNNI CPU): quantized weights multiplied as an AVX-VNNI
 *   CPU (Intel client cores without AVX-512) does, by the same code in EVEX form.
 *   --gemv-prefetch: the batch-1 GEMV's software prefetch distance in rows (0 = off) instead
 *   of the one the engine picks for the CPU's vendor (kernels.h), to compare both on one machine.
 *   default models: the --shapes in the first of --types, and the last shape also in the
 *   others (base f16 and base q8_0), generated into $TMPDIR.
 *   Exit codes: 0; 1 a model could not be opened (the given ones are each opened once on the
 *   CPU before anything is measured, so a wrong path fails at once) or mkmodel failed;
 *   2 usage (an unknown option, a number out of range: --threads 1..256, --runs 1..1000,
 *   --tokens 1..448, --gemv-prefetch 0..65536, whole numbers; an --isa the CPU lacks).
 *
 * CPU figures per model: encoder ms, GFLOP/s and % of the FMA peak measured in the same
 * run; the 3 s clip's encoder (audio_ctx auto: 224); decoder ms per token at batch 1 and per
 * beam-5 step (median step of --tokens), each as GB/s of the bytes a step must read and %
 * of the DRAM read bandwidth measured right before and of a plain read of as many bytes (the
 * decoder's own limit: where a step's bytes fit the L3 both come from there), and the beam
 * step's FLOP/s as % of the FMA peak with its floor at that peak over batch 1's time (five
 * rows per weight: without int8 products the FMAs, not the bytes, bound it), and for f16
 * weights the floor again at the fraction of that peak a beam-5 product reaches from L1 on
 * this core (beam_l1_gflops: the weights' conversion shares the FMA ports on Intel cores, so
 * no step can beat it); the same
 * fractions again with each encoder run and each group of 8 decoder steps between two short
 * probes of its limit (the FMA rate; a read of the step's bytes) ("paired":
 * what a shared machine's moving limits leave comparable); then the same on 1 thread
 * (--no-scaling skips it) and the scaling. The decoder GEMV kernel alone (1 thread, the 51865-row output
 * projection's shape) is measured at every dispatch level the CPU has.
 *
 * --device cuda: the same figures on the GPU, plus the GPU's limits measured in the same run
 * (device copy bandwidth, f16 GEMM throughput) and each figure as a fraction of them:
 * encoder FLOP/s of the GEMM peak, decoding time of the bandwidth bound (every decoder
 * weight and the token embedding read once per step, f16). --audio (default the 4.9 s test
 * speech): warm sp_transcribe time as the daemon decodes (beam 5, temperature 0), with the
 * number of tokens decoded (random-weight models decode up to 224 per window: a worst case).
 */
#include "speech.h"
#include "speech_audio.h"
#include "whisper/backend.h"
#include "whisper/kernels.h"
#include "whisper/model.h"
#include "whisper/wh_engine.h"
#include "session/ss_opt.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static wh_isa g_run_isa;   /* the level the model figures run at (--isa; default the best) */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- FMA peak */

/* 12 independent FMA chains per thread (enough to cover the FMA latency on every core we
 * know), written once for both widths: Intel server cores run 512-bit FMAs at full rate
 * (twice the 256-bit peak), AMD Zen 4 at half rate (the same peak). The sum keeps the
 * chains alive. */
#define FMA_LOOP(NAME, TARGET, V, SET1, FMADD, SUM)                                   \
    __attribute__((target(TARGET))) static void *NAME(void *arg)                     \
    {                                                                                \
        long iters = *(long *)arg;                                                   \
        V a[12];                                                                     \
        const V m = SET1(0.999999f), c = SET1(1e-7f);                                \
        for (int i = 0; i < 12; i++) a[i] = SET1((float)i);                          \
        for (long it = 0; it < iters; it++) {                                        \
            _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = FMADD(a[i], m, c); \
        }                                                                            \
        float s = 0;                                                                 \
        for (int i = 0; i < 12; i++) s += SUM(a[i]);                                 \
        *(long *)arg = (long)s;                                                      \
        return NULL;                                                                 \
    }
FMA_LOOP(fma_loop, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
FMA_LOOP(fma_loop512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps)
#undef FMA_LOOP

/* one trial: GFLOP/s of `threads` FMA loops of iters iterations */
static double fma_trial(int threads, int w512, long iters)
{
    pthread_t th[64];
    long args[64];
    if (threads > 64) threads = 64;
    double t0 = now();
    for (int i = 0; i < threads; i++) { args[i] = iters; pthread_create(&th[i], NULL, w512 ? fma_loop512 : fma_loop, &args[i]); }
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    return (double)threads * iters * 12 * (w512 ? 16 : 8) * 2 / (now() - t0) / 1e9;
}

/* best of 3: a peak is a maximum, and a trial during which another tenant of a shared
 * machine held the core says nothing about it */
static double fma_peak_w(int threads, int w512)
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = fma_trial(threads, w512, 20000000);
        if (g > best) best = g;
    }
    return best;
}

static double fma_peak(int threads) { return fma_peak_w(threads, 0); }

/* ---------------------------------------------------------------- the beam step's ceiling */

/* A beam-5 product from L1 on 1 thread: two f16 weight rows at a time, each vector of
 * weights converted (vcvtph2ps) and multiplied into the five activation rows — the decoder's
 * beam GEMV without its memory traffic. On Intel cores the conversion issues to the FMA
 * ports, one per five FMAs (5/6 of the peak at best), so this is the most a beam step of f16
 * weights can reach on this core, however its memory behaves: the floor printed beside the
 * FMA peak's (print_cpu_decode). 16 rows of K = 512 (base's width) and 5 activation rows:
 * 26 KB, in L1. */
#define BEAM_L1(NAME, TARGET, V, VW, HALF, LOADH, CVT, ZERO, FMADD, ADD, STORE)                  \
    __attribute__((target(TARGET))) static double NAME(const uint16_t *w, const float *x, long reps) \
    {                                                                                          \
        double sink = 0;                                                                       \
        for (long r = 0; r < reps; r++)                                                        \
            for (int n = 0; n < 16; n += 2) {                                                  \
                V a[5], b[5];                                                                  \
                for (int j = 0; j < 5; j++) a[j] = b[j] = ZERO();                              \
                for (int k = 0; k < 512; k += VW) {                                            \
                    const V w0 = CVT(LOADH((const HALF *)(w + (size_t)n * 512 + k)));          \
                    const V w1 = CVT(LOADH((const HALF *)(w + (size_t)(n + 1) * 512 + k)));    \
                    _Pragma("GCC unroll 5") for (int j = 0; j < 5; j++) {                      \
                        const V v = *(const V *)(x + (size_t)j * 512 + k);                     \
                        a[j] = FMADD(w0, v, a[j]);                                             \
                        b[j] = FMADD(w1, v, b[j]);                                             \
                    }                                                                          \
                }                                                                              \
                V t = ADD(a[0], b[0]);                                                         \
                for (int j = 1; j < 5; j++) t = ADD(t, ADD(a[j], b[j]));                       \
                float o[VW];                                                                   \
                STORE(o, t);                                                                   \
                sink += o[0];                                                                  \
            }                                                                                  \
        return sink;                                                                           \
    }
BEAM_L1(beam_l1_256, "avx2,fma,f16c", __m256, 8, __m128i, _mm_load_si128, _mm256_cvtph_ps, _mm256_setzero_ps,
        _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
BEAM_L1(beam_l1_512, "avx512f", __m512, 16, __m256i, _mm256_load_si256, _mm512_cvtph_ps, _mm512_setzero_ps,
        _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)
#undef BEAM_L1

/* GFLOP/s of the probe above at the width of the FMA peak, 1 thread, best of 9 */
static double beam_l1_gflops(int w512)
{
    static uint16_t w[16 * 512] __attribute__((aligned(64)));
    static float x[5 * 512] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 512; i++) w[i] = (uint16_t)(0x3c00 + i % 64);   /* 1.0 .. 1.06 */
    for (int i = 0; i < 5 * 512; i++) x[i] = 1e-3f * (float)(i % 7);
    const long reps = 20000;   /* about 20 ms a trial at 80 GFLOP/s: a peak is a maximum */
    double best = 0, sink = 0;
    for (int t = 0; t < 9; t++) {
        const double t0 = now();
        sink += w512 ? beam_l1_512(w, x, reps) : beam_l1_256(w, x, reps);
        const double g = 2.0 * 5 * 16 * 512 * reps / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    if (sink == 1234.5) printf(" ");   /* keeps the sums */
    return best;
}

/* ---------------------------------------------------------------- GEMM */

/* A [M][K] and C [M][N] (f32) and W: N rows of K of an f16 or f32 type, small values */
static wh_wmat gemm_operands(int M, int N, int K, int type, float **A, float **C, uint8_t **W)
{
    const size_t rb = type == WH_F16 ? (size_t)K * 2 : (size_t)K * 4;
    *A = malloc(sizeof(float) * (size_t)M * K);
    *C = malloc(sizeof(float) * (size_t)M * N);
    *W = malloc(rb * (size_t)N);
    for (size_t i = 0; i < (size_t)M * K; i++) (*A)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < rb * (size_t)N; i++) (*W)[i] = (uint8_t)(i * 31 % 251 % 60);   /* small f16/f32 values */
    return (wh_wmat){*W, type, K, rb};
}

static double bench_gemm(wh_isa isa, int M, int N, int K, int type)
{
    wh_kernels_force(isa);
    float *A, *C;
    uint8_t *W;
    const wh_wmat w = gemm_operands(M, N, K, type, &A, &C, &W);
    float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        wh_gemm_part(M, K, A, K, &w, 0, N, NULL, C, N, 0, scr);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(A); free(C); free(W); free(scr);
    wh_kernels_force(g_run_isa);
    return 2.0 * M * N * K / best / 1e9;
}

/* The same product on AMX tiles (kernels.h, "AMX"), as the encoder's row split runs it: W
 * packed once in the tiles' layout (not timed: the engine packs a product once for all its
 * row blocks), then every block of 192 rows against all of it, 1 thread; GFLOP/s of the
 * product's own multiply-adds (the tiles do three per term) */
static double bench_gemm_amx(int M, int N, int K)
{
    float *A, *C;
    uint8_t *W;
    const wh_wmat w = gemm_operands(M, N, K, WH_F16, &A, &C, &W);
    float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
    float *Bp = aligned_alloc(64, sizeof(float) * (size_t)(N + 15) / 16 * 16 * (size_t)K);
    void *abuf = aligned_alloc(64, (wh_amx_abuf_bytes(192, K) + 63) & ~(size_t)63);
    wh_pack_b_wmat(&w, 0, N, 0, (N + 15) / 16, Bp, scr, 1);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        for (int m = 0; m < M; m += 192)
            wh_gemm_packed_cols(M - m < 192 ? M - m : 192, K, A + (size_t)m * K, K, Bp, N, 0, N, NULL, 0,
                                C + (size_t)m * N, N, 0, 1, abuf);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(A); free(C); free(W); free(scr); free(Bp); free(abuf);
    return 2.0 * M * N * K / best / 1e9;
}

/* ---------------------------------------------------------------- model */

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double enc_flops(const sp_model_info *mi)
{
    double n = mi->n_audio_state, T = mi->n_audio_ctx, nm = mi->n_mels;
    double f = 2 * (2 * T) * (3 * nm) * n + 2 * T * (3 * n) * n;           /* convs */
    f += mi->n_audio_layer * (2 * T * n * n * 4 + 2 * T * n * 4 * n * 2 + 2 * 2 * T * T * n);
    f += mi->n_text_layer * 2 * (2 * T * n * n);                          /* cross K/V */
    return f;
}

static const char *g_device;
static double g_copy_gbs, g_gemm_tflops;   /* the GPU's limits, measured once */
static const char *g_audio = "tests/data/speech-16k.wav";

/* bytes the decoder reads per step: per layer self q,k,v,o, cross q,o, MLP 8n² (cross K/V
 * are computed once per window), and the tied token embedding for the logits; f16 on the GPU */
/* bytes per weight element as stored (ggml blocks of 32 for the quantized types) */
static double type_bytes(int ftype)
{
    switch (ftype) {
    case 0: return 4;
    case 1: return 2;
    case 2: return 18.0 / 32;   /* q4_0 */
    case 3: return 20.0 / 32;   /* q4_1 */
    case 7: return 34.0 / 32;   /* q8_0 */
    case 8: return 22.0 / 32;   /* q5_0 */
    case 9: return 24.0 / 32;   /* q5_1 */
    case 64: return 1;          /* CTranslate2 int8 (+ one f32 scale per row) */
    }
    return 2;
}

/* bytes one decoder step reads at least once: per layer self q,k,v,o, cross q,o and the MLP
 * (14 n² weights; cross K/V weights are used once per window), the tied token embedding
 * for the logits, and the window's cross K/V (every layer: f16, or kvbytes = 1 where the CPU
 * keeps them as int8 with a float scale per 64 — its products int8). The self-attention
 * cache adds little at short lengths and is left out, so the bound is a lower bound. */
static double dec_bytes(const sp_model_info *mi, double wbytes, double kvbytes)
{
    double n = mi->n_text_state;
    return wbytes * (mi->n_text_layer * 14.0 * n * n + (double)mi->n_vocab * n) +
           2.0 * kvbytes * mi->n_text_layer * (double)mi->n_audio_ctx * n;
}

/* floating-point operations of a decoder step of B rows: the matrices dec_bytes reads, and
 * the cross-attention's scores and weighted sum over the window (2 T n per row and layer;
 * the self-attention's over a few tokens left out). A beam step multiplies every weight by
 * five rows: on a CPU without int8 products it is bound by the FMAs, not by the bytes. */
static double dec_flops(const sp_model_info *mi, int B)
{
    double n = mi->n_text_state;
    return 2.0 * B * (mi->n_text_layer * 14.0 * n * n + (double)mi->n_vocab * n +
                      mi->n_text_layer * 2.0 * (double)mi->n_audio_ctx * n);
}

static int g_scaling = 1;   /* also measure on 1 thread (--no-scaling: skip) */
static int g_gpu_limits = 1;   /* --device cuda: measure the GPU's limits (--no-gpu-limits: skip; the
                                * CUDA emulation of the tests cannot run their 8192³ product) */
static double g_read_gbs;   /* the CPU's read bandwidth, measured once */
static double g_fma_peak;   /* GFLOP/s on the benchmark's threads, FMAs as wide as the GEMM's */
static double g_fma_peak1;  /* the same on 1 thread */
static int g_fma_w512;      /* the peak's width: 512-bit where the GEMM runs AVX-512 */

/* The peaks again, kept where higher: a peak is a maximum, and on a shared machine a
 * reading taken while another tenant held the cores is low, which put an encoder at
 * 103-111 % of "the peak" (--isa avx2, one noisy run). Taken before each model's encoder. */
static void fma_peak_refresh(int threads)
{
    const double p = fma_peak_w(threads, g_fma_w512);
    if (p > g_fma_peak) g_fma_peak = p;
    if (g_scaling && threads > 1) {
        const double p1 = fma_peak_w(1, g_fma_w512);
        if (p1 > g_fma_peak1) g_fma_peak1 = p1;
    }
}

typedef struct { const float *p; size_t n; double sum; } read_arg;
typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));

/* A vectorised sum of a->p[0 .. n): four accumulators of W floats, so the loads, not the
 * adds, are the limit. Built at 256 and at 512 bits: from DRAM the width does not matter,
 * from L3 it does (an Intel server slice, 1 thread, 61 MB cached: 21.9 GB/s at 256 bits,
 * 29.1 at 512), and where the kernels run AVX-512 the decoder's GEMVs load 512 bits. And
 * with a software prefetch 8 KB ahead into L2 (PF), as the batch-1 GEMV does on Intel
 * (kernels.h): there the hardware's alone left the base f16 step 1.7x slower, so a read
 * without it was no limit (the decoder ran at 135 % of it). */
#define READ_LOOP(NAME, TARGET, VT, W, PF)                                               \
    __attribute__((target(TARGET))) static void *NAME(void *va)                         \
    {                                                                                    \
        read_arg *a = va;                                                                \
        VT s0 = {0}, s1 = s0, s2 = s0, s3 = s0, x0, x1, x2, x3;                          \
        for (size_t i = 0; i + 4 * (W) <= a->n; i += 4 * (W)) {                          \
            if (PF)                                                                      \
                for (int l = 0; l < 4 * (W) * 4; l += 64)                                \
                    _mm_prefetch((const char *)(a->p + i) + 8192 + l, _MM_HINT_T1);     \
            memcpy(&x0, a->p + i, sizeof x0);                                            \
            memcpy(&x1, a->p + i + (W), sizeof x1);                                      \
            memcpy(&x2, a->p + i + 2 * (W), sizeof x2);                                  \
            memcpy(&x3, a->p + i + 3 * (W), sizeof x3);                                  \
            s0 += x0, s1 += x1, s2 += x2, s3 += x3;                                      \
        }                                                                                \
        const VT t = (s0 + s1) + (s2 + s3);                                              \
        a->sum = 0;                                                                      \
        for (int k = 0; k < (W); k++) a->sum += t[k];                                    \
        return NULL;                                                                     \
    }
READ_LOOP(read_loop, "avx2", v8f, 8, 0)
READ_LOOP(read_loop512, "avx512f", v16f, 16, 0)
READ_LOOP(read_loop_pf, "avx2", v8f, 8, 1)
READ_LOOP(read_loop512_pf, "avx512f", v16f, 16, 1)

/* which read loop the probes run: with the software prefetch or without, whichever read
 * DRAM faster when the limits were first measured (read_bandwidth) */
static int g_read_pf;

static void *(*read_fn(int pf))(void *)
{
    if (wh_kernels_isa() >= WH_ISA_AVX512) return pf ? read_loop512_pf : read_loop512;
    return pf ? read_loop_pf : read_loop;
}

/* one pass of `threads` vectorised readers over buf[n], split between them: GB/s */
static double read_pass(const float *buf, size_t n, int threads)
{
    pthread_t th[64];
    read_arg args[64];
    if (threads > 64) threads = 64;
    double t0 = now();
    for (int t = 0; t < threads; t++) {
        args[t] = (read_arg){buf + n / threads * t, n / threads, 0};
        pthread_create(&th[t], NULL, read_fn(g_read_pf), &args[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    return n * sizeof(float) / (now() - t0) / 1e9;
}

/* The DRAM probe's size: 512 MiB, or twice the L3 the CPU reports where that is more. A
 * 2-core slice of an Intel server reported 480 MB of L3 and read 64 MB at 29 GB/s, 128 MB at
 * 18 and 512 MB at 14.5 (1 thread): a 512 MiB buffer there is not "beyond any L3". */
static size_t dram_probe_bytes(void)
{
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t n = (size_t)512 << 20;
    if (l3 > 0 && (size_t)l3 * 2 > n) n = ((size_t)l3 * 2 + ((1 << 20) - 1)) & ~(size_t)((1 << 20) - 1);
    return n;
}

/* six passes over buf[n], alternating the loop without and with the software prefetch:
 * best[0], best[1] the fastest of each; g_read_pf is left as it was */
static void read_both(const float *buf, size_t n, int threads, double best[2])
{
    const int pf0 = g_read_pf;
    best[0] = best[1] = 0;
    for (int r = 0; r < 6; r++) {
        g_read_pf = r & 1;
        const double gbs = read_pass(buf, n, threads);
        if (gbs > best[r & 1]) best[r & 1] = gbs;
    }
    g_read_pf = pf0;
}

/* read bandwidth from DRAM: dram_probe_bytes() split across the threads (vectorised sums),
 * best of 3 with the software prefetch and 3 without, alternating; the first call (choose)
 * keeps the faster loop for every later probe */
static double read_bandwidth(int threads, int choose)
{
    size_t n = dram_probe_bytes() / sizeof(float);
    float *buf = malloc(n * sizeof(float));
    if (!buf && n > ((size_t)128 << 20)) {
        fprintf(stderr, "bench: no memory for a %zu MiB read probe; 512 MiB instead (not beyond the L3)\n",
                n * sizeof(float) >> 20);
        buf = malloc((n = (size_t)128 << 20) * sizeof(float));
    }
    if (!buf) { fprintf(stderr, "bench: no memory for the read-bandwidth probe\n"); exit(1); }
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023);
    double best[2];
    read_both(buf, n, threads, best);
    free(buf);
    if (choose) g_read_pf = best[1] > best[0];
    return best[0] > best[1] ? best[0] : best[1];
}

/* The decoder's own limit: a plain read of as many bytes as a step reads (buf, n floats),
 * repeated (best of 6 after a warm pass, with and without the software prefetch, alternating),
 * so they sit wherever the weights do between steps.
 * Where a step's bytes fit the L3 the weights come from there, faster than DRAM: base q8_0's
 * 61 MB decoded at 190 % of the DRAM figure on that 480 MB-L3 slice. */
static double same_bytes_read(const float *buf, size_t n, int threads)
{
    read_pass(buf, n, threads);
    double best[2];
    read_both(buf, n, threads, best);
    return best[0] > best[1] ? best[0] : best[1];
}

static volatile double g_sink;

/* the decoder's GEMV alone: M rows against N×K weights of type `type` (bytes filled with
 * small values), 1 thread, best of 7, alternating with a plain vectorised read of the same
 * bytes (so both see the same cache level and the same load); *frac: GEMV / read */
static double bench_gemv(wh_isa isa, int M, int N, int K, int type, int int8, double *frac)
{
    wh_kernels_force(isa);
    float *A = malloc(sizeof(float) * (size_t)M * K), *C = malloc(sizeof(float) * (size_t)M * N);
    size_t rb = wh_row_bytes(type, K), bytes = rb * (size_t)N;
    uint8_t *W = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < bytes; i++) W[i] = (uint8_t)(i * 31 % 251 % 60);
    wh_wmat w = {W, type, K, rb};
    void *own = NULL;   /* int8: the weights repacked as the CPU backend does */
    if (int8 && wh_qx_pack(&w, N, &w, &own) != 0) own = NULL;
    float *scr = aligned_alloc(64, (sizeof(float) * wh_gemm_scratch_floats(K) + 63) & ~(size_t)63);
    double best = 1e9, best_rd = 1e9;
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        wh_gemm_part(M, K, A, K, &w, 0, N, NULL, C, N, 0, scr);
        double dt = now() - t0;
        if (dt < best) best = dt;
        read_arg ra = {(const float *)(const void *)W, bytes / sizeof(float), 0};
        t0 = now();
        read_fn(g_read_pf)(&ra);
        dt = now() - t0;
        g_sink += ra.sum;   /* keeps the read (the compiler sees its result used) */
        if (dt < best_rd) best_rd = dt;
    }
    free(A); free(C); free(W); free(scr); free(own);
    wh_kernels_force(g_run_isa);
    *frac = best_rd / best;
    return bytes / best / 1e9;
}

static int g_failed_call;   /* a timed call failed in this model's figures: they are not results */

/* st of a timed call: 1 when SP_OK, else said once and the model's figures void (a failed
 * decoder step returns at once, so its "time" is ~0 ms; a GPU fault moves the context to the
 * CPU and every later figure is the CPU's) */
static int call_ok(sp_status st, const char *what)
{
    if (st == SP_OK) return 1;
    if (!g_failed_call) printf("#   FAILED: %s: %s\n", what, sp_status_str(st));
    g_failed_call = 1;
    return 0;
}

static int want_gpu(void) { return g_device && !strncmp(g_device, "cuda", 4); }

/* --device cuda: the context still on the GPU after a phase; else "GPU FAULT" said (what
 * scripts/gpu-check.sh looks for) and 0 */
static int still_on_gpu(sp_context *ctx, const char *phase)
{
    if (!want_gpu()) return 1;
    sp_device_info di;
    sp_context_device_info(ctx, &di);
    if (!strcmp(di.device, "cuda")) return 1;
    printf("#   GPU FAULT during %s: %s; no figures for this model\n", phase, di.fallback);
    return 0;
}

static void bench_transcribe(sp_context *ctx, int runs)
{
    float *pcm = NULL;
    size_t n = 0;
    char err[256];
    if (sp_audio_load(g_audio, 0, 0, &pcm, &n, NULL, err, sizeof err) != SP_OK) {
        printf("#   transcribe: cannot read %s: %s\n", g_audio, err);
        return;
    }
    sp_transcribe_params tp = sp_transcribe_default_params();
    static const float t0[1] = {0.0f};
    tp.temperatures = t0;
    tp.n_temperatures = 1;
    tp.language = "en";
    double *t = calloc((size_t)runs + 1, sizeof(double));
    int tokens = 0;
    for (int r = 0; r <= runs; r++) {   /* run 0 warms up */
        sp_result *res = NULL;
        double a = now();
        if (sp_transcribe(ctx, pcm, n, &tp, &res, err, sizeof err) != SP_OK) {
            printf("#   FAILED: transcribe: %s\n", err);
            g_failed_call = 1;
            break;
        }
        t[r] = now() - a;
        tokens = 0;
        for (int i = 0; i < res->n_segments; i++) tokens += res->segments[i].n_tokens;
        sp_result_free(res);
    }
    if (g_failed_call) {
        free(t);
        free(pcm);
        return;
    }
    qsort(t + 1, (size_t)runs, sizeof(double), cmpd);
    printf("#   warm transcription of %s (%.1f s audio, beam 5, temperature 0): %.1f ms median of %d, %d tokens\n",
           g_audio, (double)n / 16000, t[1 + runs / 2] * 1000, runs, tokens);
    free(t);
    free(pcm);
}

/* Decoder timing after a prompt: ntok steps of B rows (B = 1: batch 1; B = 5: one beam-5
 * step), each step timed alone; the median step is reported, so a step during which the
 * OS ran someone else's thread on our core (a loaded machine) does not move the figure. */
/* sequences 0 .. B-1 reset and fed the start-of-transcript prompt; seqs[s] = s */
static int decode_start(sp_context *ctx, const sp_model_info *mi, int B, int *seqs, float *logits)
{
    const wh_specials *sp = wh_special_tokens(ctx);
    int prompt[3] = {sp->sot, mi->multilingual ? sp->lang_first : sp->sot, sp->transcribe};
    int np = mi->multilingual ? 3 : 1;
    for (int s = 0; s < B; s++) {
        wh_seq_reset(ctx, s);
        if (!call_ok(wh_decode_seq(ctx, s, prompt, np, logits), "the decoder's prompt")) return -1;
        seqs[s] = s;
    }
    return 0;
}

static double decode_ms(sp_context *ctx, const sp_model_info *mi, int B, int ntok, float *logits)
{
    int seqs[8], toks[8];
    if (decode_start(ctx, mi, B, seqs, logits)) return -1;
    double *t = calloc((size_t)ntok, sizeof(double));
    for (int i = 0; i < ntok; i++) {
        for (int s = 0; s < B; s++) toks[s] = 1000 + 37 * i + s;
        double t0 = now();
        const sp_status st = wh_decode_step(ctx, B, seqs, toks, logits);
        t[i] = now() - t0;
        if (!call_ok(st, "a decoder step")) {
            free(t);
            return -1;
        }
    }
    qsort(t, (size_t)ntok, sizeof(double), cmpd);
    double ms = t[ntok / 2] * 1000.0;
    free(t);
    return ms;
}

/* median of runs; *min_ms (may be NULL) the fastest run */
static double median_encode_ms(sp_context *ctx, const float *mel, int runs, int audio_ctx, double *min_ms)
{
    double *te = calloc((size_t)runs, sizeof(double));
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        const sp_status st = audio_ctx ? sp_encode_ctx(ctx, mel, 3000, 0, audio_ctx) : sp_encode(ctx, mel, 3000, 0);
        te[r] = now() - t0;
        if (!call_ok(st, "the encoder")) {
            free(te);
            return -1;
        }
    }
    qsort(te, (size_t)runs, sizeof(double), cmpd);
    double ms = te[runs / 2] * 1000.0;
    if (min_ms) *min_ms = te[0] * 1000.0;
    free(te);
    return ms;
}

/* ---------------------------------------------------------------- paired figures
 * On a shared machine the limits move within seconds: on one 2-core KVM guest the read
 * bandwidth measured 15-30 GB/s minutes apart and the 2-thread FMA rate halved for whole
 * seconds (another tenant on the cores' SMT siblings), so a figure divided by a limit read
 * once, before it, passed 100 % or sank by a quarter between two runs of the same build.
 * Here every measurement is bracketed by two short probes of its limit (6-10 ms each) and
 * divided by their mean; the median of those ratios and their quartiles are reported. */
typedef struct { double med, q1, q3; } quart;

static quart quartiles(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmpd);
    return (quart){v[n / 2], v[n / 4], v[(3 * n) / 4]};
}

/* the paired decoder figures' probe: a buffer as large as a step's bytes (the decoder's own
 * limit, same_bytes_read), set per model by bench_model */
static float *g_probe_buf;
static size_t g_probe_floats;

/* one read pass over the probe buffer: GB/s */
static double read_probe(int threads) { return read_pass(g_probe_buf, g_probe_floats, threads); }

static double fma_probe(int threads) { return fma_trial(threads, g_fma_w512, 3000000); }

/* the encoder's GFLOP/s over the FMA rate probed beside it, per run (runs >= 1) */
static quart encode_paired(sp_context *ctx, const float *mel, int runs, double gflop, int threads)
{
    double *r = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < runs; i++) {
        const double p0 = fma_probe(threads), t0 = now();
        call_ok(sp_encode(ctx, mel, 3000, 0), "the encoder");
        const double t = now() - t0, p1 = fma_probe(threads);
        r[i] = gflop / t / ((p0 + p1) / 2);
    }
    quart q = quartiles(r, runs);
    free(r);
    return q;
}

/* decoder steps of B rows (as decode_ms) in groups of 8, each group between two read
 * probes: the bytes a step reads at the group's median step time, over the probes' mean */
static quart decode_paired(sp_context *ctx, const sp_model_info *mi, int B, int ntok, float *logits, double mb,
                           int threads)
{
    const int ngroup = ntok / 8 > 0 ? ntok / 8 : 1;
    int seqs[8], toks[8];
    double r[64] = {0}, t[8];
    if (decode_start(ctx, mi, B, seqs, logits)) return quartiles(r, 1);
    const int ng = ngroup < 64 ? ngroup : 64;
    for (int g = 0; g < ng; g++) {
        const double b0 = read_probe(threads);
        for (int i = 0; i < 8; i++) {
            for (int s = 0; s < B; s++) toks[s] = 1000 + 37 * (8 * g + i) + s;
            const double t0 = now();
            call_ok(wh_decode_step(ctx, B, seqs, toks, logits), "a decoder step");
            t[i] = now() - t0;
        }
        const double b1 = read_probe(threads);
        qsort(t, 8, sizeof(double), cmpd);
        r[g] = mb / (t[4] * 1000.0) / ((b0 + b1) / 2);   /* mb / ms = GB/s */
    }
    return quartiles(r, ng);
}

/* the CPU decoder's figures on one line: batch 1 and beam-5 step, GB/s and % of bw (DRAM)
 * and of same (a plain read of the step's bytes); then the beam step against the FMA peak
 * (GFLOP/s; 0: not said): its floor there, and that floor over batch 1's time, which bounds
 * how close to batch 1 a beam step can come on that machine. With int8 products the f32
 * peak is not their limit (said so). */
static void print_cpu_decode(const char *what, double mb, double ms1, double ms5, double bw, double same,
                             double mflop5, double peak, int int8, double f16_ceiling)
{
    printf("#   %s: decode batch 1 %.2f ms/token = %.1f GB/s = %.0f%% of %.1f GB/s DRAM read bandwidth, %.0f%% of a plain "
           "read of the step's %.0f MB (%.1f GB/s) | beam-5 step %.2f ms = %.1f GB/s = %.0f%% / %.0f%% (%.2fx batch 1)",
           what, ms1, mb / ms1, 100.0 * (mb / ms1) / bw, bw, 100.0 * (mb / ms1) / same, mb, same, ms5, mb / ms5,
           100.0 * (mb / ms5) / bw, 100.0 * (mb / ms5) / same, ms5 / ms1);
    if (peak > 0)
        printf(" = %.0f%% of the FMA peak: its %.0f MFLOP take >= %.2f ms there (%.2fx batch 1)%s",
               100.0 * (mflop5 / ms5) / peak, mflop5, mflop5 / peak, mflop5 / peak / ms1,
               int8 ? ", its products int8, the f32 peak not their limit" : "");
    if (peak > 0 && f16_ceiling > 0)
        printf("; from L1 a beam-5 product of f16 weights reaches %.0f%% of the peak on this core (beam_l1_gflops), so "
               ">= %.2f ms (%.2fx batch 1)",
               100.0 * f16_ceiling, mflop5 / (peak * f16_ceiling), mflop5 / (peak * f16_ceiling) / ms1);
    printf("\n");
}

static double g_read_gbs1;  /* read bandwidth on 1 thread */

/* The paired figures: each encoder run and each group of decoder steps over its limit probed
 * beside it (median, quartiles); `how` says what the encoder's products run on, if not FMAs. */
static void print_paired(sp_context *ctx, const sp_model_info *mi, const float *mel, float *logits, int runs, int ntok,
                         double mb, int threads, const char *what, const char *how)
{
    const quart qe = encode_paired(ctx, mel, runs, enc_flops(mi) / 1e9, threads);
    const quart q1 = decode_paired(ctx, mi, 1, ntok, logits, mb, threads);
    const quart q5 = decode_paired(ctx, mi, 5, ntok, logits, mb, threads);
    printf("#   %s, each figure over its limit probed beside it (median, quartiles): encoder %.0f%% (%.0f-%.0f%%) "
           "of the FMA peak%s | decode batch 1 %.0f%% (%.0f-%.0f%%) of a plain read of its bytes, beam-5 step %.0f%% "
           "(%.0f-%.0f%%)\n",
           what, 100 * qe.med, 100 * qe.q1, 100 * qe.q3, how, 100 * q1.med, 100 * q1.q1, 100 * q1.q3, 100 * q5.med,
           100 * q5.q1, 100 * q5.q3);
}

/* The same model on one thread: encoder, decoder, and the scaling against `threads` (enc in
 * seconds and ms_tok[2] measured there). A model that does not open again prints nothing. */
static void print_one_thread(const char *path, sp_context_params cp, const sp_model_info *mi, const float *mel,
                             float *logits, int ntok, double mb, double enc, const double *ms_tok, int threads, int int8,
                             double f16_ceiling)
{
    sp_context *c1;
    char err[256];
    cp.n_threads = 1;
    if (sp_context_open(path, &cp, &c1, err, sizeof err) != SP_OK) return;
    double e1 = median_encode_ms(c1, mel, 1, 0, NULL);
    sp_encode(c1, mel, 3000, 0);
    double bw1 = read_bandwidth(1, 0);
    double d1 = decode_ms(c1, mi, 1, ntok, logits), d5 = decode_ms(c1, mi, 5, ntok, logits);
    printf("#   1 thread: encoder %.1f ms (%.0f%% of the 1-thread FMA peak; %d threads %.2fx faster)\n", e1,
           100.0 * enc_flops(mi) / (e1 / 1000) / 1e9 / g_fma_peak1, threads, e1 / (enc * 1000));
    print_cpu_decode("1 thread", mb, d1, d5, bw1, same_bytes_read(g_probe_buf, g_probe_floats, 1),
                     dec_flops(mi, 5) / 1e6, g_fma_peak1, int8, f16_ceiling);
    printf("#   scaling 1 -> %d threads: decode batch 1 %.2fx, beam-5 step %.2fx\n", threads, d1 / ms_tok[0],
           d5 / ms_tok[1]);
    sp_context_free(c1);
}

/* the GPU's figures against its limits measured at the start (0: not measured) */
static void print_gpu(const sp_device_info *di, const sp_model_info *mi, double gf, const double *ms_tok)
{
    double bound_ms = g_copy_gbs > 0 ? dec_bytes(mi, 2.0, 2.0) / (g_copy_gbs * 1e9) * 1e3 : 0;
    printf("#   GPU %s: %.0f MB in use | encoder %.1f%% of the f16 GEMM peak | decode batch 1 at %.1f%% of the "
           "bandwidth bound (%.3f ms/token), beam-5 step at %.1f%%\n",
           di->name, di->mem_used / 1048576.0, g_gemm_tflops > 0 ? 100.0 * gf / (g_gemm_tflops * 1e3) : 0,
           ms_tok[0] > 0 ? 100.0 * bound_ms / ms_tok[0] : 0, bound_ms, ms_tok[1] > 0 ? 100.0 * bound_ms / ms_tok[1] : 0);
}

/* g_probe_buf: as many bytes as a decoder step reads (mb MB); its first plain read in GB/s */
static double probe_setup(double mb, int threads)
{
    g_probe_floats = (size_t)(mb * 1e6 / sizeof(float)) & ~(size_t)255;
    g_probe_buf = malloc(g_probe_floats * sizeof(float));
    if (!g_probe_buf) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    for (size_t i = 0; i < g_probe_floats; i++) g_probe_buf[i] = (float)(i & 1023);
    return same_bytes_read(g_probe_buf, g_probe_floats, threads);
}

/* 0, or -1 when the model could not be opened */
static int bench_model(const char *path, int threads, int runs, int ntok)
{
    char err[256];
    sp_context_params cp = sp_context_default_params();
    cp.n_threads = threads;
    if (g_device) cp.device = g_device;
    sp_context *ctx;
    double t0 = now();
    if (sp_context_open(path, &cp, &ctx, err, sizeof err) != SP_OK) { fprintf(stderr, "bench: %s\n", err); return -1; }
    double t_load = now() - t0;
    sp_model_info mi;
    sp_context_info(ctx, &mi);
    sp_device_info di;
    sp_context_device_info(ctx, &di);
    g_failed_call = 0;
    /* --device cuda on a model that did not open on the GPU (no GPU, out of memory, a failed
     * self-check): its figures would be the CPU's (and, with the 1-thread pass, could take
     * minutes of a lent GPU's time); refused, a non-zero exit */
    if (want_gpu() && strcmp(di.device, "cuda")) {
        printf("%-34s on the CPU: %s\n#   GPU FAULT: --device %s but the model is not on the GPU; not benchmarked\n",
               path, di.fallback, g_device);
        sp_context_free(ctx);
        return -1;
    }
    float *mel = malloc(sizeof(float) * mi.n_mels * 3000);
    float *logits = malloc(sizeof(float) * (size_t)mi.n_vocab * 8);
    int rc = -1;
    if (!mel || !logits) { fprintf(stderr, "bench: out of memory\n"); goto cleanup; }
    for (int i = 0; i < mi.n_mels * 3000; i++) mel[i] = (float)sin(i * 0.01) * 0.5f;
    if (!call_ok(sp_encode(ctx, mel, 3000, 0), "the encoder")) goto cleanup;   /* warm-up: page in the weights */
    if (!want_gpu()) fma_peak_refresh(threads);
    double enc_min;
    double enc = median_encode_ms(ctx, mel, runs, 0, &enc_min) / 1000.0;
    /* a 3 s clip (150 positions) as --audio-ctx auto encodes it */
    const int short_ctx = wh_audio_ctx_auto(150, mi.n_audio_ctx);
    double enc_short = median_encode_ms(ctx, mel, runs, short_ctx, NULL) / 1000.0;
    /* the decoder attends to a full window */
    if (!call_ok(sp_encode(ctx, mel, 3000, 0), "the encoder") || !still_on_gpu(ctx, "the encoder")) goto cleanup;

    if (ntok > mi.n_text_ctx - 4) ntok = mi.n_text_ctx - 4;
    sp_context_device_info(ctx, &di);
    const int on_cpu = strcmp(di.device, "cuda") != 0;
    /* int8 products (a quantized model on an AVX2 CPU, or compute int8: sp_device_info's
     * name says so) do not run on the f32 FMAs: their fraction of that peak may pass
     * 100 %; an f16/f32 model under compute int8 reads q8_0's bytes */
    const int int8 = strstr(di.name, "x int8") != NULL;
    /* the encoder's f32 products on AMX-BF16 tiles (kernels.h, "AMX"): not the FMAs either */
    const int amx = strstr(di.name, "AMX") != NULL;
    const double mb = dec_bytes(&mi, type_bytes(int8 && mi.ftype <= 1 ? 7 : mi.ftype), int8 ? 1.0 + 4.0 / 64 : 2.0) / 1e6;
    /* f16 weights on the f32 FMAs: the beam step's ceiling from L1, as a fraction of the
     * 1-thread peak of the same width (0: not said) */
    const double f16_ceiling = on_cpu && mi.ftype == 1 && !int8 ? beam_l1_gflops(g_fma_w512) / g_fma_peak1 : 0;
    /* a plain read of a step's bytes: before the decoder and after, the faster */
    double same = on_cpu ? probe_setup(mb, threads) : 0;
    /* bandwidth measured again right before the decoder, so both see the same load */
    double bw = read_bandwidth(threads, 0);
    double ms_tok[2] = {decode_ms(ctx, &mi, 1, ntok, logits), decode_ms(ctx, &mi, 5, ntok, logits)};
    /* a failed call or a fault: no figures printed, so none can be copied as a result */
    if (g_failed_call || !still_on_gpu(ctx, "the decoder")) goto cleanup;
    double gf = enc_flops(&mi) / enc / 1e9;
    printf("%-34s %-15s %-5s %-4s load %6.3f s | encoder %7.1f ms (%5.1f GFLOP/s) | decode %6.2f ms/token (batch 1), %6.2f ms/step = %5.2f ms/token (batch 5) | peak RSS %ld MB\n",
           path, mi.size_name, mi.type_name, di.device, t_load, enc * 1000, gf, ms_tok[0], ms_tok[1], ms_tok[1] / 5,
           peak_rss_kb() / 1024);
    if (di.fallback[0]) printf("#   on the CPU: %s\n", di.fallback);
    if (on_cpu) {
        printf("#   CPU %d threads: encoder at %.0f%% of the measured FMA peak (%.1f GFLOP/s; median run; fastest run %.1f ms = %.0f%%%s) | "
               "3 s clip, audio_ctx auto (%d): encoder %.1f ms | a decoder step reads >= %.0f MB\n",
               threads, 100.0 * gf / g_fma_peak, g_fma_peak, enc_min, 100.0 * enc_flops(&mi) / (enc_min / 1000) / 1e9 / g_fma_peak,
               int8  ? "; its products int8, the f32 peak not their limit"
               : amx ? "; its products on AMX-BF16 tiles, the f32 FMA peak not their limit (SPEECH_SESSION_AMX=0: the FMAs)"
                     : "",
               short_ctx, enc_short * 1000, mb);
        const double same1 = same_bytes_read(g_probe_buf, g_probe_floats, threads);
        if (same1 > same) same = same1;   /* a limit is a maximum: a neighbour's burst lowers a reading */
        char what[64];
        snprintf(what, sizeof what, "%d threads", threads);
        print_cpu_decode(what, mb, ms_tok[0], ms_tok[1], bw, same, dec_flops(&mi, 5) / 1e6, g_fma_peak, int8,
                         f16_ceiling);
        print_paired(ctx, &mi, mel, logits, runs, ntok, mb, threads, what, int8 ? " (int8 products)" : amx ? " (AMX tiles)" : "");
        if (g_scaling && threads > 1)   /* the same model on one thread */
            print_one_thread(path, cp, &mi, mel, logits, ntok, mb, enc, ms_tok, threads, int8, f16_ceiling);
    } else {
        print_gpu(&di, &mi, gf, ms_tok);
    }
    if (g_audio && g_audio[0]) bench_transcribe(ctx, runs);
    if (g_failed_call || !still_on_gpu(ctx, "the transcription")) goto cleanup;
    rc = 0;
cleanup:
    fflush(stdout);
    free(mel);
    free(logits);
    free(g_probe_buf);
    g_probe_buf = NULL;
    sp_context_free(ctx);
    return rc;
}

/* --isa / --avx-vnni: the level every figure runs at (g_run_isa); 0, or 2 for a level this
 * CPU lacks */
static int set_level(const char *isa_arg, int avx_vnni)
{
    wh_kernels_init();
    g_run_isa = wh_kernels_isa();   /* the CPU's best, or SPEECH_SESSION_ISA's level */
    if (isa_arg) {   /* what an older CPU runs: every figure below at that level */
        wh_isa want = !strcmp(isa_arg, "scalar") ? WH_ISA_SCALAR : !strcmp(isa_arg, "avx2") ? WH_ISA_AVX2
                    : !strcmp(isa_arg, "avx512")                 ? WH_ISA_AVX512 : (wh_isa)-1;
        if ((int)want < 0 || want > wh_kernels_best()) {
            fprintf(stderr, "bench: --isa %s: not a level this CPU has (scalar, avx2%s)\n", isa_arg,
                    wh_kernels_best() >= WH_ISA_AVX512 ? ", avx512" : "");
            return 2;
        }
        wh_kernels_force(want);
        g_run_isa = want;
    }
    if (avx_vnni) {
        wh_kernels_vnni256(1);
        if (g_run_isa != WH_ISA_AVX2 || !strstr(wh_qx_kernel_name(), "VNNI")) {
            fprintf(stderr, "bench: --avx-vnni needs --isa avx2 on a CPU with AVX-VNNI or AVX512-VNNI (the latter runs "
                            "the AVX-VNNI code in its EVEX form)\n");
            return 2;
        }
    }
    return 0;
}

/* the machine's limits, measured once: FMA peak, read bandwidth, the GPU's where asked */
static void measure_limits(int threads)
{
    /* the FMA peak of the width the encoder's GEMM runs (512-bit where the AVX-512 level is
     * in use: Intel server cores double their peak with it, Zen 4 does not) */
    const int w512 = g_fma_w512 = wh_kernels_isa() >= WH_ISA_AVX512;
    g_fma_peak = fma_peak_w(threads, w512);
    g_fma_peak1 = fma_peak_w(1, w512);
    g_read_gbs = read_bandwidth(threads, 1);
    g_read_gbs1 = read_bandwidth(1, 0);
    printf("# machine f32 FMA peak (%d-bit, as the GEMM): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads; read "
           "bandwidth %.1f GB/s on 1 thread, %.1f GB/s on %d threads (%zu MiB: 512, or twice the %ld MB of L3 the CPU "
           "reports where that is more; the faster of a read with software prefetch and one without: %s)\n",
           w512 ? 512 : 256, g_fma_peak1, g_fma_peak, threads, g_read_gbs1, g_read_gbs, threads, dram_probe_bytes() >> 20,
           sysconf(_SC_LEVEL3_CACHE_SIZE) > 0 ? sysconf(_SC_LEVEL3_CACHE_SIZE) / 1000000 : 0L,
           g_read_pf ? "with" : "without");
    if (w512) printf("# 256-bit FMA peak for comparison: %.1f GFLOP/s on %d threads\n", fma_peak(threads), threads);
    if (g_device && !strncmp(g_device, "cuda", 4) && !g_gpu_limits) {
        printf("# GPU limits: not measured (--no-gpu-limits)\n");
    } else if (g_device && !strncmp(g_device, "cuda", 4)) {
        int dev = g_device[4] == ':' ? atoi(g_device + 5) : 0;
        if (wh_cuda_limits(dev, &g_copy_gbs, &g_gemm_tflops) == 0)
            printf("# GPU limits measured now: device copy %.0f GB/s (read + write), f16 GEMM (f32 accumulate) %.1f TFLOP/s\n",
                   g_copy_gbs, g_gemm_tflops);
        else
            printf("# GPU limits: not measurable (no usable GPU)\n");
    }
}

/* the kernels alone, 1 thread, at every level this CPU has: the encoder's GEMM shapes, the
 * output projection's GEMV (f16, q8_0), and the int8 path the decoder takes for quantized
 * weights (the activations quantized in the timed call, as once per product in the engine):
 * AVX2's vpmaddubsw kernel on every AVX2 CPU, vpdpbusd where VNNI is present */
static void bench_kernels(int avx_vnni)
{
    int shapes[3][3] = {{1500, 512, 512}, {1500, 2048, 512}, {1500, 512, 2048}};
    for (int s = 0; s < 3; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        double sc = bench_gemm(WH_ISA_SCALAR, M, N, K, WH_F16), av = bench_gemm(WH_ISA_AVX2, M, N, K, WH_F16);
        printf("# GEMM 1 thread f16 weights M=%d N=%d K=%d: scalar %.1f GFLOP/s, avx2 %.1f GFLOP/s (%.1fx)", M, N, K, sc, av, av / sc);
        if (wh_kernels_best() >= WH_ISA_AVX512) {
            double a5 = bench_gemm(WH_ISA_AVX512, M, N, K, WH_F16);
            printf(", avx512 %.1f GFLOP/s (%.2fx avx2)", a5, a5 / av);
            if (wh_kernels_amx()) {   /* the row split's tiles: three bf16 products a term */
                double ax = bench_gemm_amx(M, N, K);
                printf(", AMX-BF16 tiles %.1f GFLOP/s (%.2fx avx512, %.0f%% of the 1-thread f32 FMA peak)", ax, ax / a5,
                       100 * ax / g_fma_peak1);
            }
        }
        printf("\n");
    }
    const int types[2] = {WH_F16, WH_Q8_0};
    for (int t = 0; t < 2; t++)
        for (int M = 1; M <= 5; M += 4) {
            printf("# GEMV 1 thread %s weights M=%d N=51865 K=512 (the output projection):", wh_type_name(types[t]), M);
            for (int l = 0; l <= (int)wh_kernels_best(); l++) {
                double fr, gb = bench_gemv((wh_isa)l, M, 51865, 512, types[t], 0, &fr);
                printf(" %s %.1f GB/s = %.0f%% of a plain read%s", wh_isa_name((wh_isa)l), gb, 100 * fr,
                       l < (int)wh_kernels_best() ? "," : "\n");
            }
        }
    {   /* batch 1's software prefetch (kernels.h) off and on, at the best level */
        const int pf0 = wh_kernels_gemv_prefetch();
        double fr[2], gb[2];
        for (int i = 0; i < 2; i++) {
            wh_kernels_set_gemv_prefetch(i ? WH_GEMV_PF_INTEL : 0);
            gb[i] = bench_gemv(wh_kernels_best(), 1, 51865, 512, WH_F16, 0, &fr[i]);
        }
        wh_kernels_set_gemv_prefetch(pf0);
        printf("# GEMV 1 thread f16 weights M=1 N=51865 K=512, %s: hardware prefetch alone %.1f GB/s = %.0f%% of a "
               "plain read, software prefetch %d rows ahead %.1f GB/s = %.0f%% (this run's decoder: %d rows)\n",
               wh_isa_name(wh_kernels_best()), gb[0], 100 * fr[0], WH_GEMV_PF_INTEL, gb[1], 100 * fr[1], pf0);
    }
    const int qtypes[2] = {WH_Q8_0, WH_Q5_0};
    /* AVX2's vpmaddubsw (what an AVX2-only CPU runs, also where AVX-VNNI exists) in its exact
     * and its pair-bounded form, the AVX-VNNI code (the CPU's own, or its EVEX form on an
     * AVX512-VNNI CPU), the AVX512-VNNI kernel */
    for (int v = 0; v < 4; v++) {
        const wh_isa l = v == 3 ? WH_ISA_AVX512 : WH_ISA_AVX2;
        if (l > wh_kernels_best()) break;
        wh_kernels_force(l);
        wh_kernels_vnni256(v == 2);
        wh_kernels_avx2_pairs(v < 2 ? v : -1);
        if (v > 1 && !strstr(wh_qx_kernel_name(), "VNNI")) continue;
        for (int t = 0; t < (v == 1 ? 1 : 2); t++)   /* the pair bound changes q8_0's product only */
            for (int M = 1; M <= 5; M += 4) {
                double fr, gb = bench_gemv(l, M, 51865, 512, qtypes[t], 1, &fr);
                wh_kernels_force(l);   /* bench_gemv's level, for the name */
                printf("# GEMV 1 thread %s weights M=%d N=51865 K=512, int8 activations (%s): %.1f GB/s = %.0f%% "
                       "of a plain read\n", wh_type_name(qtypes[t]), M, wh_qx_kernel_name(), gb, 100 * fr);
            }
    }
    wh_kernels_vnni256(avx_vnni);
    wh_kernels_avx2_pairs(-1);
    wh_kernels_force(g_run_isa);
}

/* default: every shape in --shapes in every type of --types, generated into $TMPDIR (types
 * after the first only for the last shape: q8_0 alongside f16 where it matters); the number
 * of models, or -1 */
static int default_models(const char *argv0, const char *shapes_arg, const char *types_arg, const char **models)
{
    static char tmp[16][256];
    const char *td = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char shl[128], tyl[128];
    snprintf(shl, sizeof shl, "%s", shapes_arg);
    snprintf(tyl, sizeof tyl, "%s", types_arg);
    const char *sh[8], *ty[8];
    int nsh = 0, nty = 0, nm = 0;
    for (char *sv = NULL, *t = strtok_r(shl, ",", &sv); t && nsh < 8; t = strtok_r(NULL, ",", &sv)) sh[nsh++] = t;
    for (char *sv = NULL, *t = strtok_r(tyl, ",", &sv); t && nty < 8; t = strtok_r(NULL, ",", &sv)) ty[nty++] = t;
    for (int i = 0; i < nsh; i++)
        for (int j = 0; j < nty && nm < 16; j++) {
            if (j > 0 && i < nsh - 1) continue;
            snprintf(tmp[nm], sizeof tmp[nm], "%s/bench-%s-%s.bin", td, sh[i], ty[j]);
            char cmd[800];
            snprintf(cmd, sizeof cmd, "\"$(dirname '%s')/mkmodel\" --shape %s --type %s --out %s", argv0, sh[i], ty[j], tmp[nm]);
            if (system(cmd) != 0) { fprintf(stderr, "bench: mkmodel failed\n"); return -1; }
            models[nm] = tmp[nm];
            nm++;
        }
    return nm;
}

static void usage(FILE *f)
{
    fputs("usage: bench [--device D] [--threads N] [--runs N] [--tokens N] [--audio WAV] [--no-scaling]\n"
          "             [--no-gpu-limits]\n"
          "             [--shapes micro,tiny,base] [--types f16,q8_0] [--isa scalar|avx2|avx512] [--avx-vnni]\n"
          "             [--gemv-prefetch ROWS] [MODEL.bin ...]\n"
          "The machine's limits (FMA peak, read bandwidth), the kernels at every level the CPU has,\n"
          "then per model (default: synthetic --shapes in --types, made with mkmodel): encoder ms\n"
          "and % of the FMA peak, the 3 s clip's encoder, decoder ms/token at batch 1 and per\n"
          "beam-5 step as GB/s and % of the read bandwidth, 1 vs 2 threads. --isa runs an\n"
          "AVX2-only machine's path on an AVX-512 one; --device cuda the GPU's figures. The\n"
          "header of bench/main_bench.c says what each figure is.\n"
          "--threads 1..256, --runs 1..1000, --tokens 1..448, --gemv-prefetch 0..65536 (whole numbers).\n"
          "Exit codes: 0, 1 a model could not be opened (each given one is tried first, on the\n"
          "CPU, before anything is measured) or its figures failed (a call failed: \"FAILED\";\n"
          "--device cuda and the model not on the GPU, or a fault moved it: \"GPU FAULT\"), 2 usage.\n", f);
}

/* --threads and the like: a whole number from lo to hi, else a usage error (atoi had run
 * "--runs abc" as 0 runs and "--threads 0" as "0.0 GFLOP/s on 0 threads") */
static int int_arg(const char *opt, const char *s, int lo, int hi, int *out)
{
    double v;
    if (ss_opt_num(s, lo, hi, &v) != 0 || v != (double)(int)v) {
        fprintf(stderr, "bench: %s %s: not a whole number from %d to %d\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 2, runs = 5, ntok = 64;
    const char *shapes_arg = "micro,tiny,base", *types_arg = "f16,q8_0", *isa_arg = NULL;
    int avx_vnni = 0;   /* --avx-vnni: with --isa avx2 on a VNNI CPU, what an AVX-VNNI CPU runs */
    const char *models[32];
    int nm = 0;
    int pf = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) { if (int_arg(argv[i], argv[i + 1], 1, 256, &threads)) return 2; i++; }
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) { if (int_arg(argv[i], argv[i + 1], 1, 1000, &runs)) return 2; i++; }
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) { if (int_arg(argv[i], argv[i + 1], 1, 448, &ntok)) return 2; i++; }
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) g_device = argv[++i];
        else if (!strcmp(argv[i], "--audio") && i + 1 < argc) g_audio = argv[++i];
        else if (!strcmp(argv[i], "--no-scaling")) g_scaling = 0;
        else if (!strcmp(argv[i], "--no-gpu-limits")) g_gpu_limits = 0;
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc) shapes_arg = argv[++i];
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types_arg = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_arg = argv[++i];
        else if (!strcmp(argv[i], "--avx-vnni")) avx_vnni = 1;
        else if (!strcmp(argv[i], "--gemv-prefetch") && i + 1 < argc) { if (int_arg(argv[i], argv[i + 1], 0, 65536, &pf)) return 2; i++; }
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (argv[i][0] == '-') {   /* a typo ran the whole benchmark with it as a model */
            fprintf(stderr, "bench: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
        else if (nm < 32) models[nm++] = argv[i];
    }
    if (set_level(isa_arg, avx_vnni) != 0) return 2;
    if (pf >= 0) wh_kernels_set_gemv_prefetch(pf);
    for (int i = 0; i < nm; i++) {   /* a wrong path fails now, not after the measurements */
        char err[256];
        sp_context_params cp = sp_context_default_params();
        cp.n_threads = 1;
        cp.device = "cpu";
        sp_context *ctx;
        if (sp_context_open(models[i], &cp, &ctx, err, sizeof err) != SP_OK) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        sp_context_free(ctx);
    }
    printf("# bench: threads %d, kernels %s%s%s%s, batch-1 GEMV prefetch %d rows ahead\n", threads,
           wh_isa_name(wh_kernels_isa()),
           avx_vnni ? ", quantized x int8 as on an AVX-VNNI CPU: " : wh_kernels_int8() ? ", quantized x int8: " : "",
           avx_vnni || wh_kernels_int8() ? wh_qx_kernel_name() : "",
           wh_kernels_amx() ? ", tall f32 products on AMX-BF16 tiles (SPEECH_SESSION_AMX=0: on the FMAs)" : "",
           wh_kernels_gemv_prefetch());
    measure_limits(threads);
    bench_kernels(avx_vnni);
    if (nm == 0 && (nm = default_models(argv[0], shapes_arg, types_arg, models)) < 0) return 1;
    int failed = 0;
    for (int i = 0; i < nm; i++) failed |= bench_model(models[i], threads, runs, ntok) != 0;
    return failed ? 1 : 0;
}
