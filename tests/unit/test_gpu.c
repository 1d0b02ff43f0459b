/* The CUDA backend against the CPU engine, on a GPU; skipped cleanly without one.
 *
 *   build/.../test_gpu [MODEL.bin ...]     default: tests/data/models/micro*.bin
 *
 * For every model (scripts/gpu-check.sh passes tiny- and base-shaped synthetic models too):
 * - teacher-forced logits of the GPU match the CPU's on speech: max |gpu - cpu| <= tol·std
 *   per row (0.05 f32/f16, 0.10 quantized), the GPU's best token within that error of the
 *   CPU's best on every row;
 * - the beam-reordering path (wh_seq_copy on the device) and the batched step give the same
 *   logits as feeding each sequence alone;
 * - transcripts (text and segment times) of both devices agree at temperature 0, greedy
 *   and beam 5.
 * The reference logits of ../shared/ref on the GPU are checked by test_engine_ref with
 * SPEECH_SESSION_DEVICE=cuda. */
#include "harness.h"
#include "test_util.h"
#include "speech.h"
#include "whisper/wh_engine.h"

#include <stdlib.h>
#include <string.h>

static double row_err(const float *ref, const float *x, int n, int *best_ok)
{
    double mean = 0, var = 0, mx = 0;
    int ir = 0, ix = 0;
    for (int i = 0; i < n; i++) mean += ref[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        var += (ref[i] - mean) * (ref[i] - mean);
        double d = fabs((double)ref[i] - x[i]);
        if (!(d <= mx)) mx = d;
        if (ref[i] > ref[ir]) ir = i;
        if (x[i] > x[ix]) ix = i;
    }
    *best_ok = ir == ix || ref[ir] - ref[ix] <= 2 * mx;
    return mx / sqrt(var / n);
}

static sp_context *open_on(const char *model, const char *device, char *err, size_t en)
{
    sp_context_params cp = sp_context_default_params();
    cp.device = device;
    sp_context *ctx = NULL;
    if (sp_context_open(model, &cp, &ctx, err, en) != SP_OK) return NULL;
    return ctx;
}

/* prompt + 12 forced tokens after encoding the speech window; logits [13][V] */
static int forced_logits(sp_context *ctx, const float *mel, int nfr, float *lg)
{
    const wh_specials *sp = wh_special_tokens(ctx);
    int prompt[3] = {sp->sot, sp->lang_first >= 0 ? sp->lang_first : sp->sot, sp->transcribe};
    int forced[12];
    for (int i = 0; i < 12; i++) forced[i] = (int)((257 + 389 * i) % (unsigned)sp->eot);
    if (sp_encode(ctx, mel, nfr, 0) != SP_OK) return -1;
    if (sp_decode(ctx, prompt, 3, lg, 1) != SP_OK) return -1;
    return sp_decode(ctx, forced, 12, lg + wh_n_vocab(ctx), 0) == SP_OK ? 0 : -1;
}

static void compare_logits(const char *name, sp_context *cpu, sp_context *gpu, const float *mel, int nfr, double tol)
{
    const int V = wh_n_vocab(cpu);
    float *a = malloc(sizeof(float) * 13 * (size_t)V), *b = malloc(sizeof(float) * 13 * (size_t)V);
    char t[200];
    snprintf(t, sizeof t, "%s: teacher-forced logits GPU vs CPU within %.2f std", name, tol);
    TEST(t) {
        CHECK(a && b && forced_logits(cpu, mel, nfr, a) == 0 && forced_logits(gpu, mel, nfr, b) == 0);
        double worst = 0;
        for (int r = 0; r < 13; r++) {
            int best_ok;
            double e = row_err(a + (size_t)r * V, b + (size_t)r * V, V, &best_ok);
            if (!(e <= worst)) worst = e;
            CHECKF(e <= tol && best_ok, "row %d: error %.4f std, best token %s", r, e, best_ok ? "same" : "differs");
        }
        printf("# %s: worst row error %.5f std\n", name, worst);
    }
    free(a);
    free(b);
}

/* beams: sequence 1 copied from 0, then one batched step for 0..2 equals single steps */
static void compare_beams(const char *name, sp_context *gpu, const float *mel, int nfr)
{
    const int V = wh_n_vocab(gpu);
    const wh_specials *sp = wh_special_tokens(gpu);
    float *step = malloc(sizeof(float) * 3 * (size_t)V), *one = malloc(sizeof(float) * (size_t)V);
    char t[200];
    snprintf(t, sizeof t, "%s: GPU sequence copy + batched step equal single-sequence decoding", name);
    TEST(t) {
        int p[2] = {sp->sot, sp->transcribe}, seqs[3] = {0, 1, 2}, toks[3] = {300, 301, 302};
        CHECK(step && one && sp_encode(gpu, mel, nfr, 0) == SP_OK);
        wh_seq_reset(gpu, 0);
        CHECK(wh_decode_seq(gpu, 0, p, 2, one) == SP_OK);
        CHECK(wh_seq_copy(gpu, 1, 0) == SP_OK && wh_seq_copy(gpu, 2, 0) == SP_OK);
        CHECK(wh_decode_step(gpu, 3, seqs, toks, step) == SP_OK);
        for (int s = 0; s < 3; s++) {
            wh_seq_reset(gpu, 0);
            CHECK(wh_decode_seq(gpu, 0, p, 2, one) == SP_OK);
            CHECK(wh_decode_seq(gpu, 0, &toks[s], 1, one) == SP_OK);
            int best_ok;
            double e = row_err(one, step + (size_t)s * V, V, &best_ok);
            CHECKF(e <= 0.01 && best_ok, "beam %d: error %.4f std", s, e);
        }
    }
    free(step);
    free(one);
}

static char *joined(const sp_result *r)
{
    size_t n = 1;
    for (int i = 0; i < r->n_segments; i++) n += strlen(r->segments[i].text) + 32;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    *p = 0;
    for (int i = 0; i < r->n_segments; i++)
        p += sprintf(p, "[%.2f-%.2f]%s", r->segments[i].start, r->segments[i].end, r->segments[i].text);
    return s;
}

static void compare_transcripts(const char *name, sp_context *cpu, sp_context *gpu, const float *pcm, size_t n)
{
    for (int beam = 1; beam <= 5; beam += 4) {
        char t[200];
        snprintf(t, sizeof t, "%s: transcripts agree at temperature 0, beam %d (text and segment times)", name, beam);
        TEST(t) {
            sp_transcribe_params tp = sp_transcribe_default_params();
            static const float t0[1] = {0.0f};
            tp.temperatures = t0;
            tp.n_temperatures = 1;
            tp.beam_size = beam;
            tp.language = "en";
            sp_result *ra = NULL, *rb = NULL;
            char err[256];
            CHECKF(sp_transcribe(cpu, pcm, n, &tp, &ra, err, sizeof err) == SP_OK, "%s", err);
            CHECKF(sp_transcribe(gpu, pcm, n, &tp, &rb, err, sizeof err) == SP_OK, "%s", err);
            CHECK(!strcmp(sp_context_device(gpu), "cuda"));   /* no fault moved it */
            if (ra && rb) {
                char *ja = joined(ra), *jb = joined(rb);
                CHECKF(ja && jb && !strcmp(ja, jb), "\n    cpu: %.300s\n    gpu: %.300s", ja, jb);
                free(ja);
                free(jb);
            }
            sp_result_free(ra);
            sp_result_free(rb);
        }
    }
}

static void check_model(const char *model, const float *pcm, size_t n)
{
    char err[256];
    sp_context *cpu = open_on(model, "cpu", err, sizeof err), *gpu = open_on(model, "cuda", err, sizeof err);
    const char *name = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    if (!cpu || !gpu) {
        TEST(name) CHECKF(0, "cannot open %s: %s", model, err);
        goto done;
    }
    sp_model_info mi;
    sp_context_info(cpu, &mi);
    float *mel = NULL;
    int nfr = 0, ncont = 0;
    if (sp_mel(cpu, pcm, n, &mel, &nfr, &ncont) != SP_OK) goto done;
    sp_device_info di;
    sp_context_device_info(gpu, &di);
    printf("# %s (%s %s) on %s: %.0f MB of GPU memory\n", name, mi.size_name, mi.type_name, di.name,
           di.mem_used / 1048576.0);
    compare_logits(name, cpu, gpu, mel, nfr, mi.ftype >= 2 ? 0.10 : 0.05);
    compare_beams(name, gpu, mel, nfr);
    compare_transcripts(name, cpu, gpu, pcm, n);
    free(mel);
done:
    sp_context_free(cpu);
    sp_context_free(gpu);
}

int main(int argc, char **argv)
{
    char path[512], err[256];
    sp_context *probe = open_on(tu_model_path("micro-f16.bin", path, sizeof path), "cuda", err, sizeof err);
    sp_device_info di;
    sp_context_device_info(probe, &di);
    if (!probe || strcmp(di.device, "cuda")) {
        printf("ok - # SKIP no usable GPU: %s\n", probe ? di.fallback : err);
        sp_context_free(probe);
        return 0;
    }
    sp_context_free(probe);
    size_t n = 0;
    float *pcm = tu_load_audio("tests/data/speech-16k.wav", &n);
    if (!pcm) {
        TEST("speech audio loads") CHECK(0);
        TEST_EXIT();
    }
    const char *defaults[] = {"micro-f16.bin", "micro-q5_0.bin", "micro-v3-f16.bin", "micro.en-f16.bin"};
    if (argc > 1)
        for (int i = 1; i < argc; i++) check_model(argv[i], pcm, n);
    else
        for (int i = 0; i < 4; i++) check_model(tu_model_path(defaults[i], path, sizeof path), pcm, n);
    free(pcm);
    TEST_EXIT();
}
