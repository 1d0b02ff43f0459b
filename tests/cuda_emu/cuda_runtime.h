// cuda_runtime.h (emulation) — enough of the CUDA runtime to run the CUDA backend
// (src/whisper/cuda/) on the CPU, so its host code (layouts, offsets, cuBLAS arguments) and
// its kernels (index maths, reductions, barriers, shuffles) are tested on machines without
// a GPU: tests/integration/cuda_emu.sh. Not a product: it exists for the tests.
//
// Device memory is host memory. A kernel launch (WHC_LAUNCH in the backend) runs the grid
// block after block; the threads of a block are fibers, each running until it reaches a
// barrier or finishes, a warp at a time as far as it can go (in reverse order in every other
// block), and shared memory is poisoned before each block (run_block). A fiber is made once
// (ucontext) and kept: it runs the current block's body in a loop, and every switch after its
// first start is _setjmp / _longjmp, which do not save the signal mask - swapcontext's
// rt_sigprocmask system call per switch was 70 % of the emulation's time (perf). cuda_emu.sh: 420 s on an idle 2-core
// machine (over the suite's 600 s limit under load) -> 131 s in the full suite.
// Two kinds of barrier, as on the GPU: __syncthreads releases when every live thread of the
// block is there; the two barriers of an emulated warp shuffle release when every live
// thread of that warp of 32 is there (a shuffle inside `if (warp == 0)` is legal CUDA and
// must not wait for the other warps).
// Streams and events are synchronous. Stream capture records each launch, copy and GEMM as a
// closure over its arguments' values at capture time (pointers, not what they point to),
// and a graph launch runs them in order: a pass that depended on a value a real graph
// would have baked in differs from the CPU's when replayed with other positions.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <ucontext.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <unordered_map>
#include <vector>

#define __global__
#define __device__
#define __host__
// Shared memory is static storage in a section of its own, so that it can be poisoned
// before every block (run_block): on a GPU a block's shared memory starts as garbage, often
// the last block's values. Kept between blocks, a value that every block writes alike (a
// reduction's slot, a chunk's maximum) would hide a read that comes before its write.
#define __shared__ static __attribute__((section("emu_shared")))
extern "C" char __start_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_emu_shared[] __attribute__((weak, visibility("hidden")));

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorLaunchFailure = 719,
} cudaError_t;
typedef enum { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice } cudaMemcpyKind;
typedef struct emu_stream *cudaStream_t;
typedef struct emu_graph {
    std::vector<std::function<void()>> ops;
} *cudaGraph_t, *cudaGraphExec_t;
typedef enum { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed } cudaStreamCaptureMode;
typedef struct emu_event {
    double t;
} *cudaEvent_t;
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
};
#define cudaStreamNonBlocking 1

namespace emu {

inline uint3 g_thread, g_block;
inline dim3 g_bdim, g_gdim;
inline void *g_dyn_shared;
inline size_t g_dyn_bytes;
inline cudaError_t g_last = cudaSuccess;
inline emu_graph *g_capture;   // the graph being captured, else null
// now, or into the graph being captured
inline void run_or_record(std::function<void()> op)
{
    if (g_capture)
        g_capture->ops.push_back(std::move(op));
    else
        op();
}
// what cudaMemGetInfo reports free: 4 GiB, or $CUDA_EMU_MEM_FREE bytes (a GPU with little room)
inline size_t g_mem_limit = getenv("CUDA_EMU_MEM_FREE") ? strtoull(getenv("CUDA_EMU_MEM_FREE"), nullptr, 10)
                                                        : (size_t)4 << 30;

enum { F_READY, F_WARP, F_BLOCK, F_DONE };
struct fiber {
    ucontext_t ctx;   // its first start only (never moved: fibers are allocated one by one)
    jmp_buf jb;       // where it waits at a barrier, or after its body
    char *stack;
    int state;
    bool started;
};
constexpr size_t STACK = 256 * 1024;
inline fiber **g_fib;
inline int g_nfib, g_cur;
inline jmp_buf g_sched;   // run_block's loop, in run_block's frame on the caller's stack
inline const std::function<void()> *g_body;
inline float *g_shfl;   // one slot per thread of the block

// back to the scheduler until released (state: the barrier it waits at, or F_DONE); never
// inlined, so the _setjmp is in a frame of its own whatever the kernel keeps in registers
__attribute__((noinline)) inline void barrier(int state)
{
    fiber *f = g_fib[g_cur];
    f->state = state;
    if (!_setjmp(f->jb)) _longjmp(g_sched, 1);
}

[[noreturn]] inline void fiber_main()
{
    for (;;) {   // one pass a block; g_body is the block's body at each start
        (*g_body)();
        barrier(F_DONE);
    }
}

inline void set_thread(int i)
{
    g_thread.x = (unsigned)i % g_bdim.x;
    g_thread.y = (unsigned)i / g_bdim.x % g_bdim.y;
    g_thread.z = (unsigned)i / (g_bdim.x * g_bdim.y);
}

// releases the threads of [i0, i1) (one warp) waiting at a warp barrier when none of them is
// at a block barrier; 0 when none was released
inline int release_warp(int i0, int i1)
{
    int waiting = 0, blocked = 0;
    for (int i = i0; i < i1; i++) {
        waiting += g_fib[i]->state == F_WARP;
        blocked += g_fib[i]->state == F_BLOCK;
    }
    if (!waiting || blocked) return 0;
    for (int i = i0; i < i1; i++)
        if (g_fib[i]->state == F_WARP) g_fib[i]->state = F_READY;
    return 1;
}

// releases the block's threads waiting at a block barrier; 0 when there are none (every
// thread done) or a warp is split between a warp barrier and a block barrier (a bug: the
// caller reports the threads stuck)
inline int release_block(int n)
{
    int any = 0;
    for (int i = 0; i < n; i++)
        if (g_fib[i]->state == F_WARP) return 0;
    for (int i = 0; i < n; i++)
        if (g_fib[i]->state == F_BLOCK) g_fib[i]->state = F_READY, any = 1;
    return any;
}

// runs f until it waits at a barrier or is done; a function of its own, so that no variable of the caller's lives
// across the _setjmp (the fiber jumps back into this frame, still on the caller's stack)
__attribute__((noinline)) inline void enter(fiber *f)
{
    if (_setjmp(g_sched)) return;   // it is at a barrier (or done)
    if (f->started) _longjmp(f->jb, 1);
    f->started = true;
    setcontext(&f->ctx);
}

inline void run_block(const std::function<void()> &body)
{
    const int n = (int)(g_bdim.x * g_bdim.y * g_bdim.z);
    if (n > g_nfib) {
        g_fib = (fiber **)realloc(g_fib, sizeof(fiber *) * (size_t)n);
        g_shfl = (float *)realloc(g_shfl, sizeof(float) * (size_t)n);
        for (int i = g_nfib; i < n; i++) {
            fiber *f = g_fib[i] = (fiber *)calloc(1, sizeof(fiber));
            f->stack = (char *)malloc(STACK);
            getcontext(&f->ctx);
            f->ctx.uc_stack.ss_sp = f->stack;
            f->ctx.uc_stack.ss_size = STACK;
            f->ctx.uc_link = nullptr;   // fiber_main never returns
            makecontext(&f->ctx, fiber_main, 0);
        }
        g_nfib = n;
    }
    g_body = &body;
    for (int i = 0; i < n; i++) g_fib[i]->state = F_READY;
    // every byte of shared memory 0xff (a float NaN, an int -1) before the block runs
    char *const sh0 = __start_emu_shared, *const sh1 = __stop_emu_shared;
    if (sh0 && sh1 > sh0) memset(sh0, 0xff, (size_t)(sh1 - sh0));
    if (g_dyn_shared) memset(g_dyn_shared, 0xff, g_dyn_bytes);
    // The most distant orders a GPU may take: warp by warp, each run as far as it can go (its
    // own warp barriers released as it reaches them) before the next starts, and every other
    // block in reverse (last warp first, and in a warp the last thread first). A read of
    // shared memory that another thread writes with no block barrier between them then sees
    // the write or not by who ran first: in thread order with the warps in step, as before,
    // only a reader below its writer was caught, and a warp that reuses shared memory (a
    // second reduction) never overwrote it before another warp had read the first one's.
    const bool rev = (g_block.x + g_block.y + g_block.z) & 1;
    const int nw = (n + 31) / 32;
    do {   // every warp up to its next block barrier, then release the block
        for (int kw = 0; kw < nw; kw++) {
            const int w = rev ? nw - 1 - kw : kw, i0 = 32 * w, i1 = i0 + 32 < n ? i0 + 32 : n;
            do {
                for (int k = 0; k < i1 - i0; k++) {
                    const int i = rev ? i1 - 1 - k : i0 + k;
                    fiber *f = g_fib[i];
                    if (f->state != F_READY) continue;
                    g_cur = i;
                    set_thread(i);
                    enter(f);
                }
            } while (release_warp(i0, i1));
        }
    } while (release_block(n));
    for (int i = 0; i < n; i++)
        if (g_fib[i]->state != F_DONE) {
            fprintf(stderr, "cuda_emu: block (%u,%u,%u): thread %d stuck at a barrier the others never reach\n",
                    g_block.x, g_block.y, g_block.z, i);
            abort();
        }
}

// $CUDA_EMU_FAIL_AFTER=N: launches after the N-th fail with a sticky launch failure, as a
// faulting kernel does on a GPU (tests of the engine's move to the CPU)
inline long g_launches;
inline bool launch_fails()
{
    static const char *env = getenv("CUDA_EMU_FAIL_AFTER");
    if (!env || ++g_launches <= atol(env)) return false;
    g_last = cudaErrorLaunchFailure;
    return true;
}

template <typename... P> struct launcher {
    void (*k)(P...);
    dim3 grid, block;
    size_t shm;
    template <typename... A> void run(A... a) const
    {
        if (launch_fails()) return;
        g_gdim = grid;
        g_bdim = block;
        void *dyn = shm ? malloc(shm) : nullptr;
        g_dyn_shared = dyn;
        g_dyn_bytes = shm;
        std::function<void()> body = [&]() { k(a...); };
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned y = 0; y < grid.y; y++)
                for (unsigned x = 0; x < grid.x; x++) {
                    g_block = uint3{x, y, z};
                    run_block(body);
                }
        free(dyn);
    }
    template <typename... A> void operator()(A... a) const
    {
        const launcher self = *this;
        run_or_record([self, a...]() { self.run(a...); });
    }
};
template <typename... P> launcher<P...> launch(void (*k)(P...), dim3 g, dim3 b, size_t shm)
{
    return launcher<P...>{k, g, b, shm};
}

}  // namespace emu

#define threadIdx (emu::g_thread)
#define blockIdx (emu::g_block)
#define blockDim (emu::g_bdim)
#define gridDim (emu::g_gdim)
#define WHC_LAUNCH(k, g, b, shm, st) emu::launch(k, dim3(g), dim3(b), (size_t)(shm))
#define WHC_DYN_SHARED(T, name) T *name = (T *)emu::g_dyn_shared

static inline void __syncthreads() { emu::barrier(emu::F_BLOCK); }
static inline float __shfl_xor_sync(unsigned mask, float v, int lane_mask)
{
    (void)mask;
    const int me = (int)(threadIdx.x + threadIdx.y * blockDim.x);
    emu::g_shfl[me] = v;
    emu::barrier(emu::F_WARP);
    const float r = emu::g_shfl[me ^ lane_mask];
    emu::barrier(emu::F_WARP);
    return r;
}

// ---------------------------------------------------------------- runtime API
static inline const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorEmulated";
    }
}
static inline const char *cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
static inline cudaError_t cudaGetLastError()
{
    cudaError_t e = emu::g_last;
    if (e != cudaErrorLaunchFailure) emu::g_last = cudaSuccess;   // a launch failure is sticky
    return e;
}
static inline cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulation on the CPU (tests/cuda_emu)");
    p->totalGlobalMem = emu::g_mem_limit;
    return d == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
static inline cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
    *free_b = *total = emu::g_mem_limit;
    return cudaSuccess;
}
namespace emu {
// Device memory as a GPU gives it: uninitialized (here every byte 0xff, a float NaN, where
// malloc's fresh pages read as zeros and hid a read of memory nobody wrote), 256-byte
// aligned, and its end against a page the process may not touch, so that a kernel or copy
// running past an allocation (beyond its rounding to 256 bytes) faults at once instead of
// reading or writing a neighbour; freed memory is unmapped (a use after free faults too).
struct mapping {
    char *base;
    size_t span;
};
inline std::unordered_map<void *, mapping> g_maps;
inline void *dev_alloc(size_t n)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = n ? (n + 255) & ~(size_t)255 : 256;
    const size_t span = (body + pg - 1) / pg * pg + pg;
    void *m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char *base = (char *)m, *user = base + span - pg - body;
    if (mprotect(base + span - pg, pg, PROT_NONE) != 0) {
        munmap(m, span);
        return nullptr;
    }
    memset(user, 0xff, body);
    g_maps[user] = mapping{base, span};
    return user;
}
inline cudaError_t dev_free(void *p)
{
    if (!p) return cudaSuccess;
    auto it = g_maps.find(p);
    if (it == g_maps.end()) return cudaErrorInvalidValue;   // not ours: cudaFree's answer
    munmap(it->second.base, it->second.span);
    g_maps.erase(it);
    return cudaSuccess;
}
}  // namespace emu
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t n)
{
    *p = (T *)emu::dev_alloc(n);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <typename T> static inline cudaError_t cudaMallocHost(T **p, size_t n) { return cudaMalloc(p, n); }
static inline cudaError_t cudaFree(void *p) { return emu::dev_free(p); }
static inline cudaError_t cudaFreeHost(void *p) { return cudaFree(p); }
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind)
{
    memmove(d, s, n);
    return cudaSuccess;
}
// $CUDA_EMU_NAN_D2H_BELOW=N: device-to-host copies of fewer than N bytes arrive with NaN as
// their first float, as from a GPU whose attention alone went wrong (no error reported): in
// this backend those are the alignment pass's probabilities, the logits' copies being a
// vocabulary of floats (>= 200 KB)
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t = nullptr)
{
    static const char *below = getenv("CUDA_EMU_NAN_D2H_BELOW");
    const bool poison = below && k == cudaMemcpyDeviceToHost && n >= sizeof(float) && n < strtoull(below, nullptr, 10);
    emu::run_or_record([=]() {
        cudaMemcpy(d, s, n, k);
        if (poison) *(float *)d = NAN;
    });
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpy2DAsync(void *d, size_t dp, const void *s, size_t sp, size_t w, size_t h,
                                            cudaMemcpyKind, cudaStream_t = nullptr)
{
    emu::run_or_record([=]() {
        for (size_t r = 0; r < h; r++) memmove((char *)d + r * dp, (const char *)s + r * sp, w);
    });
    return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *d, int v, size_t n)
{
    memset(d, v, n);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = (cudaStream_t)malloc(1);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    free(s);
    return cudaSuccess;
}
// a sticky launch failure is returned by every synchronisation after it, as on a GPU (the
// limits' measurement, wh_cuda_limits_v1, relies on it to stop)
static inline cudaError_t cudaStreamSynchronize(cudaStream_t)
{
    return emu::g_last == cudaErrorLaunchFailure ? cudaErrorLaunchFailure : cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize() { return cudaStreamSynchronize(nullptr); }
static inline cudaError_t cudaEventCreate(cudaEvent_t *e)
{
    *e = (cudaEvent_t)calloc(1, sizeof **e);
    return cudaSuccess;
}
static inline cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    free(e);
    return cudaSuccess;
}
static inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
static inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
static inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t)
{
    *ms = 0;
    return cudaSuccess;
}
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode)
{
    if (emu::g_capture) return cudaErrorInvalidValue;
    if (getenv("CUDA_EMU_NO_GRAPHS")) return cudaErrorInvalidValue;   // a driver that refuses capture
    emu::g_capture = new emu_graph;
    return cudaSuccess;
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g)
{
    *g = emu::g_capture;
    emu::g_capture = nullptr;
    return *g ? cudaSuccess : cudaErrorInvalidValue;
}
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *x, cudaGraph_t g, unsigned long long = 0)
{
    *x = new emu_graph(*g);
    return cudaSuccess;
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t)
{
    if (emu::g_capture) return cudaErrorInvalidValue;
    for (auto &op : x->ops) op();
    return cudaSuccess;
}
static inline cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
    delete g;
    return cudaSuccess;
}
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x)
{
    delete x;
    return cudaSuccess;
}
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
