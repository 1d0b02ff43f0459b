/* backend_load.c — finds and opens the CUDA backend at run time, so one build runs on
 * machines with and without NVIDIA's libraries.
 *
 * Order of checks, each with its own one-line reason for the user:
 *   1. the CUDA driver (libcuda.so.1, installed with the NVIDIA kernel driver): "no CUDA
 *      driver". Probed first and on its own so that a machine without it never loads the
 *      (large) cuBLAS libraries at all.
 *   2. our shared object libspeech_cuda.so and what it links (libcublas): "CUDA backend not
 *      available: <dlerror>". Looked for in $SPEECH_SESSION_CUDA_LIB, then next to the
 *      executable (../lib/ and the same folder), then the dynamic linker's path.
 *   3. the backend itself: "no GPU", "out of GPU memory: need ..." (src/whisper/cuda/).
 * The library is loaded once per process and never unloaded: CUDA's runtime registers
 * exit handlers that must outlive every context. */
#include "backend.h"
#include "common/errbuf.h"
#include "kernels.h"
#include "model.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUDA_LIB "libspeech_cuda.so"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static wh_cuda_open_fn g_open;
static int (*g_limits)(int, double *, double *);
static char g_why[220];

static void *try_open(const char *path, char *last, size_t ln)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        sp_errf(last, ln, "%s", e ? e : path);
    }
    return h;
}

/* our library: explicit override, next to the program, then the linker's search path */
static void *open_backend_lib(char *last, size_t ln)
{
    const char *env = getenv("SPEECH_SESSION_CUDA_LIB");
    if (env && *env) return try_open(env, last, ln);
    char exe[PATH_MAX], path[PATH_MAX + 32];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            const char *rel[] = {"../lib/", ""};
            for (int i = 0; i < 2; i++) {
                snprintf(path, sizeof path, "%s/%s" CUDA_LIB, exe, rel[i]);
                if (access(path, R_OK) == 0) return try_open(path, last, ln);
            }
        }
    }
    return try_open(CUDA_LIB, last, ln);
}

static void probe(void)
{
    char last[200] = "";
    /* RTLD_GLOBAL: the runtime inside our library looks the driver up by name again */
    if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL)) {
        snprintf(g_why, sizeof g_why, "no CUDA driver (libcuda.so.1 not found)");
        return;
    }
    void *h = open_backend_lib(last, sizeof last);
    if (!h) {
        sp_errf(g_why, sizeof g_why, "CUDA backend not available: %s", last);
        return;
    }
    g_open = (wh_cuda_open_fn)(uintptr_t)dlsym(h, WH_CUDA_ENTRY);
    if (!g_open) snprintf(g_why, sizeof g_why, "CUDA backend library has no %s (a different version?)", WH_CUDA_ENTRY);
    g_limits = (int (*)(int, double *, double *))(uintptr_t)dlsym(h, "wh_cuda_limits_v1");
}

int wh_cuda_limits(int device_index, double *copy_gbs, double *gemm_tflops)
{
    *copy_gbs = *gemm_tflops = 0;
    pthread_once(&g_once, probe);
    return g_limits ? g_limits(device_index, copy_gbs, gemm_tflops) : -1;
}

/* Any weight as rows of IEEE f16, through the CPU's exact dequantization. */
static void weight_f16(const void *tensor, int rows, int k, uint16_t *out)
{
    const wh_tensor *t = tensor;
    if (t->type == WH_F16) {   /* as stored */
        memcpy(out, t->data, (size_t)rows * k * sizeof(uint16_t));
        return;
    }
    wh_wmat w = {t->data, t->type, k, wh_row_bytes(t->type, k)};
    float *row = malloc(sizeof(float) * (size_t)k);
    if (!row) {   /* the caller checks nothing here: a zero row fails the self-check */
        memset(out, 0, (size_t)rows * k * sizeof(uint16_t));
        return;
    }
    for (int r = 0; r < rows; r++) {
        wh_wmat_row(&w, r, row);
        wh_to_f16(row, out + (size_t)r * k, (size_t)k);
    }
    free(row);
}

sp_status wh_cuda_backend_load(const wh_model *m, int device_index, wh_backend **out, char *reason, size_t rn)
{
    *out = NULL;
    pthread_once(&g_once, probe);
    if (!g_open) {
        sp_errf(reason, rn, "%s", g_why);
        return SP_ERR_UNSUPPORTED;
    }
    wh_cuda_host host = {WH_CUDA_ABI, device_index, weight_f16, wh_model_layout()};
    return g_open(m, &host, out, reason, rn);
}
