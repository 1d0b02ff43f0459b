/* The CUDA backend against the CPU engine, on a GPU; skipped cleanly without one.
 *
 *   build/.../test_gpu [--audio-ctx N] [--no-transcripts | --greedy-only] [--steps N] [MODEL.bin ...]
 *                                          default: tests/data/models/micro*.bin
 * --audio-ctx N encodes N positions instead of the full window, and --no-transcripts skips
 * the full transcriptions: the CPU emulation of CUDA (tests/integration/cuda_emu.sh) runs
 * every kernel thread as a fiber and needs both to finish in seconds.
 *
 * For every model (scripts/gpu-check.sh passes tiny- and base-shaped synthetic models too):
 * - teacher-forced logits of the GPU match the CPU's on speech: max |gpu - cpu| <= tol·std
 *   per row (0.05 f32/f16, 0.10 quantized), the GPU's best token within that error of the
 *   CPU's best on every row;
 * - the beam-reordering path (wh_seq_copy on the device) and the batched step give the same
 *   logits as feeding each sequence alone;
 * - 100 two-row steps (--steps N; 0 skips) match the CPU at every step (the decoder's CUDA
 *   graphs replayed as the self-attention's keys grow past its first chunk of 64);
 * - transcripts (text and segment times) of both devices agree at temperature 0, greedy
 *   and beam 5.
 * The reference logits of ../shared/ref on the GPU are checked by test_engine_ref with
 * SPEECH_SESSION_DEVICE=cuda.
 *
 * Every model's "GPU" context must be on the GPU when opened and still there after its
 * checks: one that failed its self-check, or faulted midway, runs on the CPU and would
 * otherwise compare the CPU with itself and pass. Without a usable GPU the program skips
 * (exit 0), unless SPEECH_SESSION_REQUIRE_GPU=1 (scripts/gpu-check.sh,
 * tests/integration/cuda_emu.sh): then that is a failure, since a GPU that fails the probe
 * is exactly what those runs are there to catch. */
#include "harness.h"
#include "test_util.h"
#include "speech.h"
#include "whisper/wh_engine.h"

#include <stdlib.h>
#include <string.h>

static int g_actx;            /* --audio-ctx: 0 = the model's full window */
static int g_transcripts = 1, g_max_beam = 5, g_steps = 100;

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
    cp.compute = "exact";   /* the CPU reference: the GPU dequantizes, it has no int8 products */
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
    if (sp_encode_ctx(ctx, mel, nfr, 0, g_actx) != SP_OK) return -1;
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
        CHECK(step && one && sp_encode_ctx(gpu, mel, nfr, 0, g_actx) == SP_OK);
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

/* --steps (100) steps of two sequences, one token each a step (the decoder's graphs:
 * captured early, replayed as the keys grow past the attention's chunks of 64), logits of
 * both devices compared at every step */
static void compare_steps(const char *name, sp_context *cpu, sp_context *gpu, const float *mel, int nfr, double tol)
{
    const int V = wh_n_vocab(cpu), NS = g_steps;
    const wh_specials *sp = wh_special_tokens(cpu);
    float *a = malloc(sizeof(float) * 2 * (size_t)V), *b = malloc(sizeof(float) * 2 * (size_t)V);
    char t[200];
    snprintf(t, sizeof t, "%s: %d two-row steps, GPU vs CPU logits at every step within %.2f std", name, NS, tol);
    TEST(t) {
        int p[2] = {sp->sot, sp->transcribe}, seqs[2] = {0, 1};
        CHECK(a && b && sp_encode_ctx(cpu, mel, nfr, 0, g_actx) == SP_OK && sp_encode_ctx(gpu, mel, nfr, 0, g_actx) == SP_OK);
        sp_context *both[2] = {cpu, gpu};
        for (int d = 0; d < 2; d++) {
            wh_seq_reset(both[d], 0);
            CHECK(wh_decode_seq(both[d], 0, p, 2, a) == SP_OK && wh_seq_copy(both[d], 1, 0) == SP_OK);
        }
        double worst = 0;
        for (int i = 0; i < NS; i++) {
            int toks[2] = {(int)((300 + 7 * i) % (unsigned)sp->eot), (int)((900 + 13 * i) % (unsigned)sp->eot)};
            CHECK(wh_decode_step(cpu, 2, seqs, toks, a) == SP_OK && wh_decode_step(gpu, 2, seqs, toks, b) == SP_OK);
            for (int r = 0; r < 2; r++) {
                int best_ok;
                double e = row_err(a + (size_t)r * V, b + (size_t)r * V, V, &best_ok);
                if (!(e <= worst)) worst = e;
                CHECKF(e <= tol && best_ok, "step %d row %d: error %.4f std", i, r, e);
            }
        }
        printf("# %s: worst error over the steps %.5f std\n", name, worst);
    }
    free(a);
    free(b);
}

/* the alignment pass: cross-attention probabilities of every layer and head, and logits */
static void compare_attn(const char *name, sp_context *cpu, sp_context *gpu, const float *mel, int nfr)
{
    const int V = wh_n_vocab(cpu), L = wh_n_text_layer(cpu), H = wh_n_head(cpu);
    const wh_specials *sp = wh_special_tokens(cpu);
    int toks[5] = {sp->sot, sp->transcribe, 400, 500, 600};
    char t[200];
    snprintf(t, sizeof t, "%s: alignment pass (cross-attention probabilities, logits) GPU vs CPU", name);
    TEST(t) {
        CHECK(sp_encode_ctx(cpu, mel, nfr, 0, g_actx) == SP_OK && sp_encode_ctx(gpu, mel, nfr, 0, g_actx) == SP_OK);
        const int cur = wh_encoded_ctx(cpu);
        CHECK(cur > 0 && cur == wh_encoded_ctx(gpu));
        size_t na = (size_t)L * 5 * H * cur;
        float *aa = malloc(sizeof(float) * na), *ab = malloc(sizeof(float) * na);
        float *la = malloc(sizeof(float) * 5 * (size_t)V), *lb = malloc(sizeof(float) * 5 * (size_t)V);
        wh_seq_reset(cpu, 0);
        wh_seq_reset(gpu, 0);
        CHECK(aa && ab && la && lb && wh_decode_seq_attn(cpu, 0, toks, 5, la, aa) == SP_OK &&
              wh_decode_seq_attn(gpu, 0, toks, 5, lb, ab) == SP_OK);
        if (aa && ab && la && lb) {
            double mx = 0;
            for (size_t i = 0; i < na; i++)
                if (!(fabs((double)aa[i] - ab[i]) <= mx)) mx = fabs((double)aa[i] - ab[i]);
            CHECKF(mx <= 0.01, "max probability difference %g", mx);
            for (int r = 0; r < 5; r++) {
                int best_ok;
                double e = row_err(la + (size_t)r * V, lb + (size_t)r * V, V, &best_ok);
                CHECKF(e <= 0.05 && best_ok, "row %d: error %.4f std", r, e);
            }
            printf("# %s: alignment probabilities differ by at most %.2g\n", name, mx);
        }
        free(aa); free(ab); free(la); free(lb);
    }
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
    for (int beam = 1; beam <= g_max_beam; beam += 4) {
        char t[200];
        snprintf(t, sizeof t, "%s: transcripts agree at temperature 0, beam %d (text and segment times)", name, beam);
        TEST(t) {
            sp_transcribe_params tp = sp_transcribe_default_params();
            static const float t0[1] = {0.0f};
            tp.temperatures = t0;
            tp.n_temperatures = 1;
            tp.beam_size = beam;
            tp.language = "en";
            tp.audio_ctx = g_actx;
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
    float *mel = NULL;
    int nfr = 0, ncont = 0;
    sp_device_info di;
    if (!cpu || !gpu) {
        TEST(name) CHECKF(0, "cannot open %s: %s", model, err);
        goto done;
    }
    sp_model_info mi;
    sp_context_info(cpu, &mi);
    if (sp_mel(cpu, pcm, n, &mel, &nfr, &ncont) != SP_OK) goto done;
    sp_context_device_info(gpu, &di);
    printf("# %s (%s %s) on %s: %.0f MB of GPU memory\n", name, mi.size_name, mi.type_name, di.name,
           di.mem_used / 1048576.0);
    {
        char t[200];
        snprintf(t, sizeof t, "%s: the GPU context opened on the GPU", name);
        TEST(t) CHECKF(!strcmp(di.device, "cuda"), "on %s: %s", di.device, di.fallback);
        if (strcmp(di.device, "cuda")) goto done;   /* the rest would compare the CPU with itself */
    }
    compare_logits(name, cpu, gpu, mel, nfr, mi.ftype >= 2 ? 0.10 : 0.05);
    compare_beams(name, gpu, mel, nfr);
    if (g_steps > 0) compare_steps(name, cpu, gpu, mel, nfr, 0.03);
    compare_attn(name, cpu, gpu, mel, nfr);
    if (g_transcripts) compare_transcripts(name, cpu, gpu, pcm, n);
    {
        char t[200];
        snprintf(t, sizeof t, "%s: still on the GPU after its checks (no fault moved it to the CPU)", name);
        sp_context_device_info(gpu, &di);
        TEST(t) CHECKF(!strcmp(di.device, "cuda"), "on %s: %s", di.device, di.fallback);
    }
done:
    free(mel);
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
        const char *req = getenv("SPEECH_SESSION_REQUIRE_GPU");
        const int required = req && !strcmp(req, "1");
        printf("%s - %sno usable GPU: %s\n", required ? "not ok" : "ok", required ? "" : "# SKIP ",
               probe ? di.fallback : err);
        sp_context_free(probe);
        return required ? 1 : 0;
    }
    sp_context_free(probe);
    size_t n = 0;
    float *pcm = tu_load_audio("tests/data/speech-16k.wav", &n);
    if (!pcm) {
        TEST("speech audio loads") CHECK(0);
        TEST_EXIT();
    }
    const char *defaults[] = {"micro-f16.bin", "micro-q5_0.bin", "micro-v3-f16.bin", "micro.en-f16.bin"};
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--audio-ctx") && first + 1 < argc) g_actx = atoi(argv[++first]);
        else if (!strcmp(argv[first], "--no-transcripts")) g_transcripts = 0;
        else if (!strcmp(argv[first], "--greedy-only")) g_max_beam = 1;
        else if (!strcmp(argv[first], "--steps") && first + 1 < argc) g_steps = atoi(argv[++first]);
    }
    if (argc > first)
        for (int i = first; i < argc; i++) check_model(argv[i], pcm, n);
    else
        for (int i = 0; i < 4; i++) check_model(tu_model_path(defaults[i], path, sizeof path), pcm, n);
    free(pcm);
    TEST_EXIT();
}
