/* Device choice and the GPU safety net, on any machine (docs/engine.md "Backends"):
 * - device strings: auto, cpu, cuda, cuda:N accepted; anything else refused at open;
 * - "cpu" never probes CUDA and reports no fallback; "auto"/"cuda" on a machine where the
 *   GPU is not usable run on the CPU and say why in one line;
 * - $SPEECH_SESSION_DEVICE is the default;
 * - the self-check that guards the GPU (wh_backend_compare) passes two agreeing backends
 *   and rejects one whose logits are off by more than the tolerance or pick another token:
 *   tested with a CPU backend wrapped to perturb its logits, so the rule that keeps a broken
 *   GPU from typing wrong text is exercised without a GPU. */
#include "harness.h"
#include "test_util.h"
#include "speech.h"
#include "whisper/backend.h"
#include "whisper/model.h"
#include "whisper/ops.h"

#include <stdlib.h>
#include <string.h>

/* a backend that forwards to a CPU backend and then damages the logits */
typedef struct {
    wh_backend base;
    wh_backend *inner;
    int n_vocab;
    float noise;   /* added to every logit, alternating sign */
    int swap_top;  /* raise a low logit far above the best */
    int nan_at;    /* > 0: this logit of every row is NaN */
} bad_backend;

static sp_status bad_encode(wh_backend *b, const float *mel, int nf, int off, int actx)
{
    wh_backend *in = ((bad_backend *)b)->inner;
    return in->ops->encode(in, mel, nf, off, actx);
}
static sp_status bad_decode(wh_backend *b, const wh_rows *r)
{
    bad_backend *bb = (bad_backend *)b;
    sp_status st = bb->inner->ops->decode(bb->inner, r);
    if (st != SP_OK || !r->logits) return st;
    const int rows = r->rows - r->first_logit_row;
    for (int i = 0; i < rows; i++) {
        float *l = r->logits + (size_t)i * bb->n_vocab;
        for (int v = 0; v < bb->n_vocab; v++) l[v] += (v & 1 ? bb->noise : -bb->noise);
        if (bb->swap_top) l[7] += 1000.0f;
        if (bb->nan_at > 0) l[bb->nan_at] = NAN;
    }
    return SP_OK;
}
static sp_status bad_copy(wh_backend *b, int d, int s, int np)
{
    wh_backend *in = ((bad_backend *)b)->inner;
    return in->ops->seq_copy(in, d, s, np);
}
static void bad_info(const wh_backend *b, wh_device_info *o) { memset(o, 0, sizeof *o); (void)b; }
static void bad_free(wh_backend *b) { (void)b; }
static const wh_backend_ops bad_ops = {"bad", bad_encode, bad_decode, bad_copy, bad_info, bad_free};

static void test_self_check(void)
{
    char path[512], err[256];
    wh_model *m = NULL;
    wh_exec ex;
    wh_backend *a = NULL, *b = NULL;
    TEST("self-check: agreeing backends pass, perturbed logits and a different best token fail") {
        CHECKF(wh_model_load(tu_model_path("micro-f16.bin", path, sizeof path), &m, err, sizeof err) == SP_OK, "%s", err);
        if (!m) break;
        wh_kernels_init();
        CHECK(wh_exec_init(&ex, 2, 4 * m->hp.n_audio_state + 3 * m->hp.n_mels + m->hp.n_audio_ctx) == 0);
        CHECK(wh_cpu_backend_open(m, &ex, WH_CPU_AUTO, &a, err, sizeof err) == SP_OK);
        CHECK(wh_cpu_backend_open(m, &ex, WH_CPU_AUTO, &b, err, sizeof err) == SP_OK);
        if (!a || !b) break;
        double worst = -1;
        char why[200] = "";
        CHECKF(wh_backend_compare(m, a, b, 0.05, &worst, why, sizeof why) == SP_OK, "%s", why);
        CHECKF(worst >= 0 && worst < 1e-6, "two CPU backends differ by %g", worst);

        bad_backend bad = {{&bad_ops, ""}, b, m->hp.n_vocab, 0.0f, 0, 0};
        /* noise of about 0.2 std: over the 0.05 tolerance */
        float *lg = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
        int tok = m->sp.sot, seq = 0, pos = 0;
        wh_rows r = {1, &tok, &seq, &pos, 0, lg, NULL, 16};
        float *mel = calloc((size_t)m->hp.n_mels * 32, sizeof(float));
        CHECK(a->ops->encode(a, mel, 32, 0, 16) == SP_OK && a->ops->decode(a, &r) == SP_OK);
        double mean = 0, var = 0;
        for (int v = 0; v < m->hp.n_vocab; v++) mean += lg[v];
        mean /= m->hp.n_vocab;
        for (int v = 0; v < m->hp.n_vocab; v++) var += (lg[v] - mean) * (lg[v] - mean);
        bad.noise = (float)(0.2 * sqrt(var / m->hp.n_vocab));
        CHECK(wh_backend_compare(m, a, &bad.base, 0.05, &worst, why, sizeof why) != SP_OK);
        CHECKF(strstr(why, "logits differ"), "%s", why);
        bad.noise = 0.0f;
        bad.swap_top = 1;
        CHECK(wh_backend_compare(m, a, &bad.base, 0.05, &worst, why, sizeof why) != SP_OK);
        /* a NaN that is not the last logit (a later finite difference had replaced it) */
        bad.swap_top = 0;
        bad.nan_at = 3;
        CHECK(wh_backend_compare(m, a, &bad.base, 0.05, &worst, why, sizeof why) != SP_OK);
        CHECKF(strstr(why, "logits differ"), "%s", why);
        bad.nan_at = 0;
        /* small noise within tolerance passes */
        bad.swap_top = 0;
        bad.noise = (float)(0.001 * sqrt(var / m->hp.n_vocab));
        CHECKF(wh_backend_compare(m, a, &bad.base, 0.05, &worst, why, sizeof why) == SP_OK, "%s", why);
        free(lg);
        free(mel);
    }
    if (a) a->ops->free(a);
    if (b) b->ops->free(b);
    if (m) { wh_exec_deinit(&ex); wh_model_free(m); }
}

static void test_devices(void)
{
    char path[512], err[256];
    tu_model_path("micro-f16.bin", path, sizeof path);
    TEST("device strings: invalid ones refused at open with a clear error") {
        const char *bad[] = {"gpu0", "cuda:", "cuda:x", "cuda:-1", "tpu", "CPU", "cuda:1000"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            sp_context_params cp = sp_context_default_params();
            cp.device = bad[i];
            sp_context *ctx = NULL;
            err[0] = 0;
            CHECKF(sp_context_open(path, &cp, &ctx, err, sizeof err) == SP_ERR_INVALID_ARG && !ctx, "%s", bad[i]);
            CHECKF(strstr(err, "device"), "%s: %s", bad[i], err);
            sp_context_free(ctx);
        }
    }
    TEST("device cpu: runs on the CPU, no fallback reason, CPU named") {
        sp_context_params cp = sp_context_default_params();
        cp.device = "cpu";
        cp.n_threads = 1;
        sp_context *ctx = NULL;
        CHECKF(sp_context_open(path, &cp, &ctx, err, sizeof err) == SP_OK, "%s", err);
        sp_device_info di;
        sp_context_device_info(ctx, &di);
        CHECK(!strcmp(sp_context_device(ctx), "cpu") && !strcmp(di.device, "cpu"));
        CHECKF(di.fallback[0] == 0, "%s", di.fallback);
        CHECKF(!strncmp(di.name, "CPU", 3), "%s", di.name);
        CHECK(di.mem_used == 0 && di.mem_total == 0);
        sp_context_free(ctx);
    }
    TEST("device auto/cuda/cuda:N: a GPU when usable, else the CPU with a one-line reason") {
        const char *asks[] = {"auto", "cuda", "cuda:0", "cuda:7", NULL};
        for (int i = 0; i < 5; i++) {
            sp_context_params cp = sp_context_default_params();
            cp.device = asks[i];
            cp.n_threads = 1;
            sp_context *ctx = NULL;
            CHECKF(sp_context_open(path, &cp, &ctx, err, sizeof err) == SP_OK, "%s", err);
            if (!ctx) continue;
            sp_device_info di;
            sp_context_device_info(ctx, &di);
            if (!strcmp(di.device, "cuda")) {   /* a GPU machine: it passed the self-check */
                CHECK(di.fallback[0] == 0 && di.mem_used > 0 && di.mem_total >= di.mem_used);
                printf("# %s: on %s, %.0f MB\n", asks[i] ? asks[i] : "(NULL)", di.name, di.mem_used / 1048576.0);
            } else {
                CHECKF(!strcmp(di.device, "cpu") && di.fallback[0] && !strchr(di.fallback, '\n'), "%s: '%s'",
                       asks[i] ? asks[i] : "(NULL)", di.fallback);
                printf("# %s: on the CPU because: %s\n", asks[i] ? asks[i] : "(NULL)", di.fallback);
            }
            sp_context_free(ctx);
        }
    }
    TEST("SPEECH_SESSION_DEVICE sets the default device") {
        setenv("SPEECH_SESSION_DEVICE", "cpu", 1);
        sp_context_params cp = sp_context_default_params();
        CHECK(cp.device && !strcmp(cp.device, "cpu"));
        setenv("SPEECH_SESSION_DEVICE", "bogus", 1);
        cp = sp_context_default_params();
        sp_context *ctx = NULL;
        CHECK(sp_context_open(path, &cp, &ctx, err, sizeof err) == SP_ERR_INVALID_ARG && strstr(err, "bogus"));
        sp_context_free(ctx);
        unsetenv("SPEECH_SESSION_DEVICE");
        cp = sp_context_default_params();
        CHECK(cp.device && !strcmp(cp.device, "auto"));
    }
}

int main(void)
{
    test_devices();
    test_self_check();
    TEST_EXIT();
}
