/* Engine correctness against the independent reference (shared/ref/README.md):
 * - our log-mel of speech-16k.wav equals the reference mel (max abs diff <= 1e-3);
 * - teacher-forced logits of every reference model: err_r = max|ours - ref| / std(ref)
 *   <= 0.05 (f32/f16) or 0.10 (quantized) on every row, argmax equal on every row (f32/f16).
 * Models in tests/data/models are always tested; the others in $SHARED/ref when present.
 * The device is the engine's default ($SPEECH_SESSION_DEVICE): scripts/gpu-check.sh runs
 * this file again with SPEECH_SESSION_DEVICE=cuda, and then a context not on the GPU fails.
 * On the CPU, q8_0 once more at the AVX2 level in both its forms (an AVX2-only CPU's path: the
 * exact one and the pair-bounded one, whose coarser activations must stay within tolerance). */
#include "harness.h"
#include "test_util.h"
#include "speech.h"
#include "whisper/kernels.h"

#include <stdlib.h>
#include <string.h>

static float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = malloc((size_t)sz);
    if (v && fread(v, 1, (size_t)sz, f) != (size_t)sz) { free(v); v = NULL; }
    fclose(f);
    *n = (size_t)sz / 4;
    return v;
}

static int read_tokens(const char *path, int *prompt, int *np, int *forced, int *nf)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    *np = *nf = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "# prompt:", 9)) {
            char *p = line + 9, *e;
            for (long v; (v = strtol(p, &e, 10)), e != p; p = e) prompt[(*np)++] = (int)v;
        } else if (line[0] != '#') {
            int step, tok;
            if (sscanf(line, "%d\t%d", &step, &tok) == 2) forced[(*nf)++] = tok;
        }
    }
    fclose(f);
    return 0;
}

static const char *find(const char *rel, char *buf, size_t n)
{
    snprintf(buf, n, "tests/data/%s", rel);
    FILE *f = fopen(buf, "rb");
    if (f) { fclose(f); return buf; }
    const char *sh = getenv("SHARED");
    snprintf(buf, n, "%s/ref/%s", sh ? sh : "../shared", rel);
    f = fopen(buf, "rb");
    if (f) { fclose(f); return buf; }
    return NULL;
}

static const char *g_level = "";   /* a pinned kernel level, for the test's title */

static void check_model(const char *name, double tol, int check_argmax)
{
    char mp[512], lp[512], tp[512], melp[512], rel[256];
    snprintf(rel, sizeof rel, "models/%s.bin", name);
    if (!find(rel, mp, sizeof mp)) { printf("ok - %s # SKIP not present\n", name); return; }
    snprintf(rel, sizeof rel, "logits/%s.logits.f32", name);
    find(rel, lp, sizeof lp);
    snprintf(rel, sizeof rel, "logits/%s.tokens.tsv", name);
    find(rel, tp, sizeof tp);
    char tname[128];
    snprintf(tname, sizeof tname, "logits match reference: %s%s", name, g_level);
    TEST(tname) {
        char err[256];
        sp_context *ctx = NULL;
        sp_context_params cp = sp_context_default_params();
        cp.n_threads = 2;
        CHECKF(sp_context_open(mp, &cp, &ctx, err, sizeof err) == SP_OK, "%s", err);
        if (!ctx) break;
        /* SPEECH_SESSION_DEVICE=cuda (scripts/gpu-check.sh): the same tolerances on the GPU,
         * and a silent fall back to the CPU is a failure, not a pass */
        if (!strncmp(cp.device, "cuda", 4)) {
            sp_device_info di;
            sp_context_device_info(ctx, &di);
            CHECKF(!strcmp(di.device, "cuda"), "asked for %s, running on the CPU: %s", cp.device, di.fallback);
            printf("# %s on %s\n", name, di.name);
        }
        sp_model_info mi;
        sp_context_info(ctx, &mi);
        find(mi.n_mels == 128 ? "speech-16k.mel128.f32" : "speech-16k.mel80.f32", melp, sizeof melp);
        size_t nmel = 0, nref = 0;
        float *mel = read_f32(melp, &nmel);
        float *ref = read_f32(lp, &nref);
        int prompt[16], forced[64], np = 0, nf = 0;
        CHECK(mel && nmel == (size_t)mi.n_mels * 3000);
        CHECK(read_tokens(tp, prompt, &np, forced, &nf) == 0 && np > 0 && nf > 0);
        CHECK(ref && nref == (size_t)(nf + 1) * mi.n_vocab);
        if (mel && ref && nref == (size_t)(nf + 1) * mi.n_vocab) {
            float *lg = malloc(sizeof(float) * (size_t)(nf + 1) * mi.n_vocab);
            CHECK(sp_encode(ctx, mel, 3000, 0) == SP_OK);
            CHECK(sp_decode(ctx, prompt, np, lg, 1) == SP_OK);
            CHECK(sp_decode(ctx, forced, nf, lg + mi.n_vocab, 0) == SP_OK);
            double worst = 0;
            for (int r = 0; r <= nf; r++) {
                const float *a = lg + (size_t)r * mi.n_vocab, *b = ref + (size_t)r * mi.n_vocab;
                double mean = 0, var = 0, mx = 0;
                for (int i = 0; i < mi.n_vocab; i++) mean += b[i];
                mean /= mi.n_vocab;
                for (int i = 0; i < mi.n_vocab; i++) var += (b[i] - mean) * (b[i] - mean);
                double sd = sqrt(var / mi.n_vocab);
                int am = 0, bm = 0;
                for (int i = 0; i < mi.n_vocab; i++) {
                    double d = fabs((double)a[i] - b[i]);
                    if (d > mx) mx = d;
                    if (a[i] > a[am]) am = i;
                    if (b[i] > b[bm]) bm = i;
                }
                double e = mx / sd;
                if (e > worst) worst = e;
                CHECKF(e <= tol, "%s row %d: err %.4f > %.2f", name, r, e, tol);
                if (check_argmax) CHECKF(am == bm, "%s row %d: argmax %d vs reference %d", name, r, am, bm);
            }
            printf("# %s%s: worst row err %.5f (tolerance %.2f)\n", name, g_level, worst, tol);
            free(lg);
        }
        free(mel);
        free(ref);
        sp_context_free(ctx);
    }
}

int main(void)
{
    TEST("log-mel of speech-16k.wav equals the reference mel (80 and 128 bins)") {
        char wp[512], mp[512], rp[512];
        const char *models[2] = {"models/micro-f16.bin", "models/micro-v3-f16.bin"};
        const char *mels[2] = {"speech-16k.mel80.f32", "speech-16k.mel128.f32"};
        for (int k = 0; k < 2; k++) {
            CHECK(find("speech-16k.wav", wp, sizeof wp) && find(models[k], mp, sizeof mp) && find(mels[k], rp, sizeof rp));
            size_t n = 0, nref = 0;
            float *pcm = tu_load_audio(wp, &n), *ref = read_f32(rp, &nref);
            sp_context *ctx = NULL;
            char err[256];
            CHECKF(sp_context_open(mp, NULL, &ctx, err, sizeof err) == SP_OK, "%s", err);
            float *mel = NULL;
            int nfr = 0, ncont = 0;
            CHECK(pcm && ref && ctx && sp_mel(ctx, pcm, n, &mel, &nfr, &ncont) == SP_OK);
            if (mel && ref) {
                sp_model_info mi;
                sp_context_info(ctx, &mi);
                CHECK(ncont == 490);
                CHECK(nfr == (int)((n + 480000) / 160));
                /* reference: content frames as computed, then 0.0 padding up to 3000 */
                double mx = 0;
                for (int m = 0; m < mi.n_mels; m++)
                    for (int t = 0; t < 3000; t++) {
                        float ours = t < ncont ? mel[(size_t)m * nfr + t] : 0.0f;
                        double d = fabs(ours - ref[(size_t)m * 3000 + t]);
                        if (d > mx) mx = d;
                    }
                printf("# mel %d bins: max abs diff %.2e\n", mi.n_mels, mx);
                CHECKF(mx <= 1e-3, "max abs diff %g", mx);
            }
            free(mel); free(pcm); free(ref);
            sp_context_free(ctx);
        }
    }
    check_model("micro-f32", 0.05, 1);
    check_model("micro-f16", 0.05, 1);
    check_model("micro.en-f16", 0.05, 1);
    check_model("micro-v3-f16", 0.05, 1);
    check_model("micro-q8_0", 0.10, 0);
    check_model("micro-q5_0", 0.10, 0);
    check_model("micro-q5_1", 0.10, 0);
    check_model("micro-q4_0", 0.10, 0);
    const char *dev = getenv("SPEECH_SESSION_DEVICE");
    if (wh_kernels_best() >= WH_ISA_AVX2 && !(dev && !strncmp(dev, "cuda", 4))) {
        wh_kernels_force(WH_ISA_AVX2);
        for (int pv = 0; pv < 2; pv++) {
            wh_kernels_avx2_pairs(pv);
            g_level = pv ? " at AVX2, pair-bounded q8_0" : " at AVX2, exact q8_0";
            check_model("micro-q8_0", 0.10, 0);
        }
        wh_kernels_avx2_pairs(-1);
        wh_kernels_force(wh_kernels_best());
        g_level = "";
    }
    TEST_EXIT();
}
