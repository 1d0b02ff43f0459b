/* test_vad.c — Silero VAD v6 against the reference probabilities in ../shared/ref/vad/
 * (skipped when the model file is absent), the segmenter against silero-vad.md §4.5, and the
 * energy fallback on speech with gaps, noise and tones generated at test time. */
#include "harness.h"
#include "test_audio_util.h"
#include "audio/audio_internal.h"

#include <sys/stat.h>
#include <sys/wait.h>

static float *read_probs(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    float *p = malloc(4096 * sizeof *p);
    *n = 0;
    while (*n < 4096 && fscanf(f, "%f", &p[*n]) == 1) (*n)++;
    fclose(f);
    return p;
}

static void path_of(char *out, size_t sz, const char *rel)
{
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    snprintf(out, sz, "%s/%s", shared, rel);
}

/* whisper.cpp loads s16 WAV as s / 32768, exactly what sp_audio_load gives at 16 kHz */
static int compare(sp_vad *v, const char *wav, const char *ref, double tol, double *maxd)
{
    char w[512], r[512];
    path_of(w, sizeof w, wav);
    path_of(r, sizeof r, ref);
    float *pcm = NULL, *probs = NULL;
    size_t n = 0;
    int np = 0, nref = 0, ok = 0;
    float *expect = read_probs(r, &nref);
    if (expect && tb_load(w, &pcm, &n, NULL) == SP_OK &&
        sp_vad_probs(v, pcm, n, &probs, &np) == SP_OK && np == nref) {
        *maxd = 0;
        for (int i = 0; i < np; i++) *maxd = fmax(*maxd, fabs(probs[i] - expect[i]));
        ok = *maxd <= tol;
    }
    printf("# %s vs %s: %d/%d probs, max |diff| %.2e\n", wav, ref, np, nref, *maxd);
    free(pcm); free(probs); free(expect);
    return ok;
}

static void test_segmenter_jfk(void)
{
    TEST("segmenter: daemon rule on whisper.cpp jfk probabilities (silero-vad.md 4.5)") {
        char r[512];
        path_of(r, sizeof r, "ref/vad/jfk.probs.txt");
        int np = 0;
        float *p = read_probs(r, &np);
        if (!p) { printf("# skip: reference probabilities absent\n"); continue; }
        sp_vad_params prm = sp_vad_default_params();
        sp_span *s = NULL;
        int ns = 0;
        CHECK(aud_vad_segment(p, np, 176000, &prm, &s, &ns) == SP_OK);
        size_t expect[4][2] = { { 0, 42752 }, { 46336, 76544 }, { 80128, 126720 }, { 126720, 176000 } };
        CHECKF(ns == 4, "%d segments", ns);
        for (int i = 0; i < ns && i < 4; i++)
            CHECKF(s[i].start == expect[i][0] && s[i].end == expect[i][1], "seg %d: %zu-%zu",
                   i, s[i].start, s[i].end);
        free(s);
        /* faster-whisper's full defaults give one segment [0, len) */
        sp_vad_params fw = { 0.5f, 0, 2000, 400, 0 };
        CHECK(aud_vad_segment(p, np, 176000, &fw, &s, &ns) == SP_OK && ns == 1 &&
              s[0].start == 0 && s[0].end == 176000);
        free(s);
        /* §4.4: Silero's loop, 0.5 / 250 / 100 / 30: five segments, first 0.322-2.270 s */
        sp_vad_params sl = { 0.5f, 250, 100, 30, 0 };
        CHECK(aud_vad_segment(p, np, 176000, &sl, &s, &ns) == SP_OK && ns == 5);
        if (ns == 5) CHECK(fabs(s[0].start / 16000.0 - 0.322) < 0.001 && fabs(s[0].end / 16000.0 - 2.270) < 0.001);
        free(s);
        /* max_speech splitting stays sorted and bounded */
        sp_vad_params mx = { 0.4f, 250, 500, 30, 1.5f };
        CHECK(aud_vad_segment(p, np, 176000, &mx, &s, &ns) == SP_OK && ns >= 4);
        for (int i = 0; i < ns; i++) CHECK(s[i].start < s[i].end && s[i].end <= 176000);
        for (int i = 1; i < ns; i++) CHECK(s[i].start >= s[i - 1].end);
        free(s);
        free(p);
    }
}

static void test_segmenter_edges(void)
{
    char err[256];
    TEST("segmenter: edge cases (no probabilities, all speech, all silence, bad params)") {
        sp_vad *v = NULL;
        CHECK(sp_vad_open(NULL, &v, err, sizeof err) == SP_OK && v && !sp_vad_is_silero(v));
        sp_span *s = NULL;
        int ns = -1;
        sp_vad_params prm = sp_vad_default_params();
        CHECK(sp_vad_segments(v, NULL, 0, &prm, &s, &ns) == SP_OK && ns == 0);
        free(s);
        float ones[100], zeros[100];
        for (int i = 0; i < 100; i++) { ones[i] = 1; zeros[i] = 0; }
        CHECK(aud_vad_segment(ones, 100, 51200, &prm, &s, &ns) == SP_OK && ns == 1 &&
              s[0].start == 0 && s[0].end == 51200);
        free(s);
        CHECK(aud_vad_segment(zeros, 100, 51200, &prm, &s, &ns) == SP_OK && ns == 0);
        free(s);
        prm.threshold = 2;
        CHECK(sp_vad_segments(v, ones, 100, &prm, &s, &ns) == SP_ERR_INVALID_ARG && !s);
        sp_vad_free(v);
        sp_vad_free(NULL);
        CHECK(sp_vad_open("/nonexistent/model.bin", &v, err, sizeof err) == SP_ERR_IO && !v);
        CHECK(sp_vad_open("/etc/hostname", &v, err, sizeof err) == SP_ERR_MODEL_FORMAT && !v);
    }
}

/* A VAD model path that is a FIFO or a directory: refused at once, saying what it is. The
 * FIFO (no writer) had blocked the load forever (plain fopen); the directory had been "not
 * a ggml file (bad magic)". The FIFO case runs in a child with an alarm, so the old code
 * fails the test instead of hanging it. */
static void test_silero_not_a_file(void)
{
    TEST("VAD model path a FIFO or a directory: SP_ERR_IO at once, 'is a FIFO/directory'") {
        char fifo[512];
        snprintf(fifo, sizeof fifo, "%s", tb_path("vad.fifo"));
        CHECK(mkfifo(fifo, 0600) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(5);
            sp_vad *v = NULL;
            char e[256] = "";
            sp_status st = sp_vad_open(fifo, &v, e, sizeof e);
            _exit(st == SP_ERR_IO && !v && strstr(e, "is a FIFO, not a model file") ? 0 : 1);
        }
        int wst = 0;
        CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid);
        CHECKF(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "FIFO: %s",
               WIFSIGNALED(wst) ? "blocked (killed by the 5 s alarm)" : "wrong status or message");
        sp_vad *v = NULL;
        char err[256] = "";
        sp_status st = sp_vad_open(tb_tmpdir(), &v, err, sizeof err);
        CHECKF(st == SP_ERR_IO && !v && strstr(err, "is a directory, not a model file"), "directory: %d %s", st, err);
    }
}

static void test_silero_probs(const char *model, int have_model)
{
    char err[256];
    TEST("silero: probabilities match whisper.cpp within 0.01 (jfk, speech-16k)") {
        if (!have_model) { printf("# skip: %s absent\n", model); continue; }
        sp_vad *v = NULL;
        CHECKF(sp_vad_open(model, &v, err, sizeof err) == SP_OK && sp_vad_is_silero(v), "%s", err);
        if (!v) continue;
        double d1 = 1, d2 = 1;
        CHECK(compare(v, "data/jfk.wav", "ref/vad/jfk.probs.txt", 0.01, &d1));
        CHECK(compare(v, "ref/speech-16k.wav", "ref/vad/speech-16k.probs.txt", 0.01, &d2));
        sp_vad_set_context_framing(v, 1);
        CHECK(compare(v, "data/jfk.wav", "ref/vad/jfk.silero-ctx.probs.txt", 0.01, &d1));
        CHECK(compare(v, "ref/speech-16k.wav", "ref/vad/speech-16k.silero-ctx.probs.txt", 0.01, &d2));
        sp_vad_free(v);
    }
}

static void test_silero_jfk_segments(const char *model, int have_model)
{
    char err[256];
    TEST("silero: jfk segments with the daemon rule (silero-vad.md 4.5)") {
        if (!have_model) { printf("# skip: model absent\n"); continue; }
        char w[512];
        path_of(w, sizeof w, "data/jfk.wav");
        float *pcm = NULL;
        size_t n = 0;
        sp_vad *v = NULL;
        if (tb_load(w, &pcm, &n, NULL) != SP_OK || sp_vad_open(model, &v, err, sizeof err) != SP_OK) {
            printf("# skip: jfk.wav absent\n");
            free(pcm);
            continue;
        }
        sp_span *s = NULL;
        int ns = 0;
        CHECK(sp_vad_segments(v, pcm, n, NULL, &s, &ns) == SP_OK && ns == 4);
        if (ns == 4) CHECK(s[1].start == 46336 && s[1].end == 76544 && s[3].end == 176000);
        free(s); free(pcm);
        sp_vad_free(v);
    }
}

static void test_silero_bad_models(const char *model, int have_model)
{
    char err[256];
    TEST("silero: truncated or corrupt model files refused") {
        if (!have_model) { printf("# skip: model absent\n"); continue; }
        FILE *f = fopen(model, "rb");
        uint8_t *buf = malloc(900000);
        size_t got = fread(buf, 1, 900000, f);
        fclose(f);
        size_t cuts[5] = { 3, 50, 106, 5000, got - 1 };
        for (int k = 0; k < 5; k++) {
            tb_write(tb_path("m.bin"), buf, cuts[k]);
            sp_vad *v = NULL;
            CHECKF(sp_vad_open(tb_path("m.bin"), &v, err, sizeof err) == SP_ERR_MODEL_FORMAT && !v,
                   "cut %zu: %s", cuts[k], err);
        }
        buf[8] = 'X';                                 /* type string */
        tb_write(tb_path("m.bin"), buf, got);
        sp_vad *v = NULL;
        CHECK(sp_vad_open(tb_path("m.bin"), &v, err, sizeof err) == SP_ERR_MODEL_FORMAT);
        free(buf);
    }
}

/* generated: espeak-ng phrase, 1.5 s of silence, phrase; and noise / tones */
static void test_energy_vad(void)
{
    char err[256];
    int tools = tb_have("espeak-ng") && tb_have("sox");
    TEST("energy VAD: speech with a 1.5 s gap gives two spans near the truth") {
        if (!tools) { printf("# skip: espeak-ng/sox missing\n"); continue; }
        tb_sh("espeak-ng -w %s 'Hello there, this is the first sentence.' >/dev/null", tb_path("a.wav"));
        tb_sh("sox %s -r 16000 %s", tb_path("a.wav"), tb_path("a16.wav"));
        float *a = NULL;
        size_t na = 0;
        if (tb_load(tb_path("a16.wav"), &a, &na, NULL) != SP_OK) continue;
        /* trim espeak's own leading/trailing silence so the truth is known exactly */
        size_t s0 = 0, s1 = na;
        while (s0 < na && fabsf(a[s0]) < 0.01f) s0++;
        while (s1 > s0 && fabsf(a[s1 - 1]) < 0.01f) s1--;
        size_t ls = s1 - s0, gap = 24000, lead = 8000, tail = 16000;   /* tail > min_silence */
        size_t n = lead + ls + gap + ls + tail;
        float *x = calloc(n, sizeof *x);
        memcpy(x + lead, a + s0, ls * sizeof *x);
        memcpy(x + lead + ls + gap, a + s0, ls * sizeof *x);
        sp_vad *v = NULL;
        sp_vad_open(NULL, &v, err, sizeof err);
        sp_span *s = NULL;
        int ns = 0;
        sp_vad_params prm = sp_vad_default_params();
        prm.speech_pad_ms = 0;
        CHECK(sp_vad_segments(v, x, n, &prm, &s, &ns) == SP_OK);
        CHECKF(ns == 2, "%d spans", ns);
        if (ns == 2) {
            long e[4] = { (long)s[0].start - (long)lead, (long)s[0].end - (long)(lead + ls),
                          (long)s[1].start - (long)(lead + ls + gap), (long)s[1].end - (long)(n - tail) };
            printf("# boundary errors (ms): %ld %ld %ld %ld\n", e[0] / 16, e[1] / 16, e[2] / 16, e[3] / 16);
            for (int i = 0; i < 4; i++) CHECKF(labs(e[i]) < 16 * 200, "boundary %d off by %ld ms", i, e[i] / 16);
        }
        free(s);
        /* the same at half volume on a DC offset of 0.3 (a cheap USB sound card), and 40 dB
         * quieter (a far microphone): still the two phrases — the offset had counted as
         * loudness everywhere (no span at all), the quiet phrases had fallen below an
         * absolute -55 dBFS floor (both reproduced with jfk.wav through bin/transcribe) */
        for (int kind = 0; kind < 2; kind++) {
            float *y = malloc(n * sizeof *y);
            for (size_t i = 0; i < n; i++) y[i] = kind == 0 ? 0.5f * x[i] + 0.3f : 0.01f * x[i];
            CHECK(sp_vad_segments(v, y, n, &prm, &s, &ns) == SP_OK);
            CHECKF(ns == 2, "%s: %d spans", kind == 0 ? "DC offset 0.3" : "at -40 dB", ns);
            for (int k = 0; k < ns && ns == 2; k++) {
                const long st = (long)(k ? lead + ls + gap : lead), en = (long)(k ? n - tail : lead + ls);
                CHECKF(labs((long)s[k].start - st) < 16 * 200 && labs((long)s[k].end - en) < 16 * 200,
                       "kind %d span %d: %zu..%zu, truth %ld..%ld", kind, k, s[k].start, s[k].end, st, en);
            }
            free(s);
            free(y);
        }
        /* white noise, quiet and loud, a steady tone, and DC over faint hiss: no speech */
        uint32_t rng = 12345;
        for (int kind = 0; kind < 4; kind++) {
            for (size_t i = 0; i < n; i++) {
                rng = rng * 1664525u + 1013904223u;
                float u = (float)(rng >> 8) / 16777216.0f - 0.5f;
                x[i] = kind == 0 ? 0.02f * u : kind == 1 ? 0.6f * u
                     : kind == 2 ? 0.3f * sinf(2 * (float)M_PI * 440.0f * (float)i / 16000.0f)
                     : 0.4f + 0.0005f * u;   /* a DC offset over faint hiss */
            }
            CHECK(sp_vad_segments(v, x, n, &prm, &s, &ns) == SP_OK);
            CHECKF(ns == 0, "noise kind %d: %d spans", kind, ns);
            free(s);
        }
        sp_vad_free(v);
        free(x); free(a);
    }
}

/* Brown noise (rumble: traffic, a fan, HVAC) is no speech: a random walk of white noise,
 * leaky so it stays bounded, scaled to rms. Over the whole band its level under 156 Hz swung
 * past the floor + 10 dB in 32 ms chunks and the energy detector kept 1-2 s of it in most
 * 60 s files (base then wrote "I'm sorry," 56 times at temperature 0); its level is now the
 * speech band's. */
static void test_energy_vad_brown(void)
{
    char err[256];
    TEST("energy VAD: 60 s of brown noise, six seeds at -25 to -50 dBFS: no speech") {
        const size_t n = 60 * 16000;
        float *x = malloc(n * sizeof *x);
        sp_vad *v = NULL;
        CHECK(x && sp_vad_open(NULL, &v, err, sizeof err) == SP_OK);
        if (!x || !v) { free(x); continue; }
        sp_vad_params prm = sp_vad_default_params();
        int with_spans = 0;
        for (int seed = 0; seed < 6; seed++) {
            uint32_t rng = 2654435761u * (uint32_t)(seed + 1);
            double b = 0, ss = 0;
            for (size_t i = 0; i < n; i++) {
                rng = rng * 1664525u + 1013904223u;
                b = 0.9995 * b + ((double)(rng >> 8) / 16777216.0 - 0.5);
                x[i] = (float)b;
                ss += b * b;
            }
            const double want = pow(10.0, -(25.0 + 5.0 * seed) / 20.0), g = want / sqrt(ss / (double)n);
            for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * g);
            sp_span *s = NULL;
            int ns = 0;
            CHECK(sp_vad_segments(v, x, n, &prm, &s, &ns) == SP_OK);
            if (ns) {
                with_spans++;
                printf("# seed %d (%d dBFS): %d spans, the first %.2f-%.2f s\n", seed, -(25 + 5 * seed), ns,
                       s[0].start / 16000.0, s[0].end / 16000.0);
            }
            free(s);
        }
        CHECKF(with_spans == 0, "%d of 6 brown-noise files had speech spans", with_spans);
        sp_vad_free(v);
        free(x);
    }
}

/* A tenth or more of a recording in digital silence (a source that had not started, a file
 * source's padding after the key is released) had put the floor at -120 dB and the threshold
 * at the absolute -65 dBFS: brown noise at -40 dBFS after 3 s of zeros passed for 0.5-3 s of
 * speech (key_listener's speech check sent it, and Whisper wrote text for it). The floor is
 * now the signal's; speech after the same silence keeps its spans. */
static void test_energy_vad_digital_silence(void)
{
    char err[256];
    TEST("energy VAD: digital silence then brown noise (-30, -40 dBFS): no speech; jfk after it: its spans, shifted") {
        const size_t z = 3 * 16000, nb = 6 * 16000;
        float *x = calloc(z + 12 * 16000, sizeof *x);
        sp_vad *v = NULL;
        CHECK(x && sp_vad_open(NULL, &v, err, sizeof err) == SP_OK);
        if (!x || !v) { free(x); continue; }
        sp_vad_params prm = sp_vad_default_params();
        for (int lvl = 30; lvl <= 40; lvl += 10) {
            uint32_t rng = 12345u + (uint32_t)lvl;
            double b = 0, ss = 0;
            for (size_t i = 0; i < nb; i++) {
                rng = rng * 1664525u + 1013904223u;
                b = 0.9995 * b + ((double)(rng >> 8) / 16777216.0 - 0.5);
                x[z + i] = (float)b;
                ss += b * b;
            }
            const double g = pow(10.0, -lvl / 20.0) / sqrt(ss / (double)nb);
            for (size_t i = 0; i < nb; i++) x[z + i] = (float)(x[z + i] * g);
            sp_span *s = NULL;
            int ns = 0;
            CHECK(sp_vad_segments(v, x, z + nb, &prm, &s, &ns) == SP_OK);
            CHECKF(ns == 0, "-%d dBFS: %d spans, the first %.2f-%.2f s", lvl, ns, ns ? s[0].start / 16000.0 : 0,
                   ns ? s[0].end / 16000.0 : 0);
            free(s);
        }
        /* jfk.wav (11 s) after the zeros: the spans it has alone, 3 s later */
        float *pcm = NULL;
        size_t n = 0;
        char path[512];
        path_of(path, sizeof path, "data/jfk.wav");
        if (tb_load(path, &pcm, &n, NULL) != SP_OK || n > 12 * 16000) {
            printf("# jfk.wav absent: its part skipped\n");
        } else {
            memcpy(x + z, pcm, n * sizeof *x);
            sp_span *a = NULL, *b2 = NULL;
            int na = 0, nb2 = 0;
            CHECK(sp_vad_segments(v, pcm, n, &prm, &a, &na) == SP_OK);
            CHECK(sp_vad_segments(v, x, z + n, &prm, &b2, &nb2) == SP_OK);
            int same = na > 0 && na == nb2;
            for (int i = 0; same && i < na; i++)
                same = fabs((b2[i].start - (double)z) - a[i].start) < 0.1 * 16000 &&
                       fabs((b2[i].end - (double)z) - a[i].end) < 0.1 * 16000;
            CHECKF(same, "jfk alone %d spans, after 3 s of zeros %d", na, nb2);
            free(a); free(b2);
        }
        free(pcm);
        sp_vad_free(v);
        free(x);
    }
}

/* faster-whisper's own VAD model (silero_vad_v6.onnx, Silero v6.0, f32 weights; fetched by
 * scripts/fetch-test-weights.sh from its wheel): what the original daemon ran. Its
 * probabilities against faster-whisper 1.2.1's SileroVADModel (onnxruntime 1.32, the same
 * padding and 64-sample context; tests/data/vad/NAME.fw-v6.0.probs.txt), with Silero's framing
 * chosen by the file itself; jfk's spans under the daemon's rule as silero-vad.md §4.5 gives
 * them for this model (80640, where v6.2 says 80128). */
static void vad_file(char *out, size_t n, const char *name)
{
    const char *wd = getenv("SS_WEIGHTS");
    snprintf(out, n, "%s/%s", wd && *wd ? wd : ".cache/weights", name);
}

/* max |p - the reference file's| for the model's probabilities of wav (1 when they could not
 * be had, or differ in number) */
static double probs_diff(sp_vad *v, const char *wav, const char *ref, float **pcm_out, size_t *n_out)
{
    float *pcm = NULL, *p = NULL;
    size_t n = 0;
    int np = 0, nref = 0;
    double d = 1;
    float *want = read_probs(ref, &nref);
    if (want && tb_load(wav, &pcm, &n, NULL) == SP_OK && sp_vad_probs(v, pcm, n, &p, &np) == SP_OK && np == nref) {
        d = 0;
        for (int i = 0; i < np; i++) d = fmax(d, fabs(p[i] - want[i]));
    }
    printf("# %s against %s: %d of %d probabilities, max |diff| %.2e\n", wav, ref, np, nref, d);
    free(p); free(want);
    if (pcm_out) *pcm_out = pcm, *n_out = n;
    else free(pcm);
    return d;
}

/* Silero's own export (the silero-vad package's silero_vad.onnx, v6.2.3; fetched by
 * scripts/fetch-test-weights.sh with get-model.sh --vad-silero): the whole network in the
 * branches of an If on the sample rate, its weights Constant nodes under an inlined prefix.
 * Its probabilities against onnxruntime's, chunk by chunk as silero-vad's OnnxWrapper feeds
 * it (tests/data/vad/silero_probs.py made NAME.silero-v6.2.3.probs.txt), and against the
 * shared reference made the same way (../shared/ref/vad/NAME.silero-ctx.probs.txt, when
 * present); jfk's spans under the daemon's rule as the reference probabilities give them. */
static void test_silero_onnx_official(void)
{
    char model[512], ref[512];
    vad_file(model, sizeof model, "silero_vad.onnx");
    TEST("silero ONNX (Silero's own silero_vad.onnx, v6.2.3, an If per sample rate): within 1e-4 of onnxruntime") {
        if (access(model, R_OK) != 0) { printf("# skip: %s absent (scripts/fetch-test-weights.sh)\n", model); continue; }
        char err[256];
        sp_vad *v = NULL;
        CHECKF(sp_vad_open(model, &v, err, sizeof err) == SP_OK && sp_vad_is_silero(v), "%s", err);
        if (!v) continue;
        double d = probs_diff(v, "tests/data/speech-16k.wav", "tests/data/vad/speech-16k.silero-v6.2.3.probs.txt", NULL, NULL);
        CHECKF(d < 1e-4, "speech-16k: max |diff| %.3g", d);
        /* and the independent reference beside silero-vad.md (§4.1: the official v6.2 file in
         * onnxruntime 1.30, fed the same way), where it is */
        char sref[512], swav[512];
        path_of(sref, sizeof sref, "ref/vad/speech-16k.silero-ctx.probs.txt");
        path_of(swav, sizeof swav, "ref/speech-16k.wav");
        if (access(sref, R_OK) == 0) {
            d = probs_diff(v, swav, sref, NULL, NULL);
            CHECKF(d < 1e-4, "speech-16k against silero-ctx: max |diff| %.3g", d);
        }
        path_of(ref, sizeof ref, "data/jfk.wav");
        if (access(ref, R_OK) != 0) {
            printf("# jfk.wav absent: its part skipped\n");
            sp_vad_free(v);
            continue;
        }
        float *pcm = NULL;
        size_t n = 0;
        d = probs_diff(v, ref, "tests/data/vad/jfk.silero-v6.2.3.probs.txt", &pcm, &n);
        CHECKF(d < 1e-4, "jfk: max |diff| %.3g", d);
        path_of(sref, sizeof sref, "ref/vad/jfk.silero-ctx.probs.txt");
        if (access(sref, R_OK) == 0) {
            const double d2 = probs_diff(v, ref, sref, NULL, NULL);
            CHECKF(d2 < 1e-4, "jfk against silero-ctx: max |diff| %.3g", d2);
        }
        int nref = 0, ns = 0, nw = 0;
        float *want = read_probs("tests/data/vad/jfk.silero-v6.2.3.probs.txt", &nref);
        sp_span *sp = NULL, *sw = NULL;
        const sp_vad_params prm = sp_vad_default_params();
        CHECK(want && aud_vad_segment(want, nref, n, &prm, &sw, &nw) == SP_OK && nw == 4);
        CHECK(sp_vad_segments(v, pcm, n, NULL, &sp, &ns) == SP_OK && ns == nw);
        for (int i = 0; i < ns && i < nw; i++)
            CHECKF(sp[i].start == sw[i].start && sp[i].end == sw[i].end, "span %d: %zu-%zu, onnxruntime's %zu-%zu", i,
                   sp[i].start, sp[i].end, sw[i].start, sw[i].end);
        for (int i = 0; i < ns; i++) printf("# jfk span %d: %zu-%zu\n", i, sp[i].start, sp[i].end);
        free(sp); free(sw); free(want); free(pcm);
        sp_vad_free(v);
    }
}

/* a protobuf writer for the hand-made models below: field `f` as a varint, or as bytes */
static size_t pbw_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    do {
        o[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}
static size_t pbw_int(uint8_t *o, uint32_t f, uint64_t v)
{
    size_t n = pbw_varint(o, (uint64_t)f << 3);
    return n + pbw_varint(o + n, v);
}
static size_t pbw_bytes(uint8_t *o, uint32_t f, const void *b, size_t len)
{
    size_t n = pbw_varint(o, (uint64_t)f << 3 | 2);
    n += pbw_varint(o + n, len);
    memmove(o + n, b, len);
    return n + len;
}

/* A model whose graph holds, `depth` If branches down, an initializer "deep" and a Constant
 * node whose value is "konst" (one f32 each): at most 16 graphs deep is read. */
static size_t nested_model(uint8_t *o, size_t cap, int depth)
{
    uint8_t *g = malloc(cap), *t = malloc(cap);
    const float one = 1.0f;
    size_t n = 0, k;
    /* the innermost graph: initializer (5) "deep", node (1) Constant -> "konst" */
    k = pbw_int(t, 1, 1);
    k += pbw_int(t + k, 2, 1);
    k += pbw_bytes(t + k, 8, "deep", 4);
    k += pbw_bytes(t + k, 9, &one, 4);
    n = pbw_bytes(g, 5, t, k);
    uint8_t attr[64], node[128];
    k = pbw_int(t, 1, 1);
    k += pbw_int(t + k, 2, 1);
    k += pbw_bytes(t + k, 9, &one, 4);
    size_t a = pbw_bytes(attr, 1, "value", 5);
    a += pbw_bytes(attr + a, 5, t, k);
    size_t nd = pbw_bytes(node, 2, "konst", 5);
    nd += pbw_bytes(node + nd, 4, "Constant", 8);
    nd += pbw_bytes(node + nd, 5, attr, a);
    n += pbw_bytes(g + n, 1, node, nd);
    for (int d = 0; d < depth; d++) {   /* wrap: graph = node If { attribute then_branch: g } */
        k = pbw_bytes(t, 1, "then_branch", 11);
        k += pbw_bytes(t + k, 6, g, n);
        uint8_t *nn = malloc(cap);
        size_t m = pbw_bytes(nn, 4, "If", 2);
        m += pbw_bytes(nn + m, 5, t, k);
        n = pbw_bytes(g, 1, nn, m);
        free(nn);
    }
    n = pbw_bytes(o, 7, g, n);
    free(g); free(t);
    return n;
}

static void test_onnx_nested(void)
{
    TEST("ONNX reader: tensors in If branches and Constant nodes are found; graphs nested past 16 refused") {
        const size_t cap = 1 << 16;
        uint8_t *b = malloc(cap);
        aud_onnx_tensor t;
        static const int64_t one[1] = { 1 };
        for (int depth = 0; depth <= 20; depth++) {
            const size_t len = nested_model(b, cap, depth);
            const int want = depth <= 16 ? 0 : -1;
            CHECKF(aud_onnx_tensor_get(b, len, "deep", &t) == want, "depth %d: initializer", depth);
            CHECKF(aud_onnx_tensor_get(b, len, "konst", &t) == want, "depth %d: Constant", depth);
            CHECKF(aud_onnx_tensor_suffix(b, len, "nst", one, 1, &t) == want, "depth %d: by suffix", depth);
            if (depth <= 16)
                CHECKF(t.dtype == 1 && t.ndims == 1 && t.bytes == 4 && !strcmp(t.name, "konst"), "depth %d", depth);
            CHECKF(aud_onnx_tensor_get(b, len, "absent", &t) == (depth <= 16 ? 1 : -1), "depth %d: absent", depth);
            CHECKF(aud_onnx_tensor_suffix(b, len, "konst", NULL, 0, &t) == (depth <= 16 ? 1 : -1),
                   "depth %d: dims must match", depth);
        }
        free(b);
    }
}

static void test_silero_onnx(void)
{
    char err[256], model[512];
    vad_file(model, sizeof model, "silero_vad_v6.onnx");
    TEST("silero ONNX (faster-whisper's v6.0): probabilities within 1e-4 of faster-whisper's, jfk spans as §4.5") {
        if (access(model, R_OK) != 0) { printf("# skip: %s absent (scripts/fetch-test-weights.sh)\n", model); continue; }
        sp_vad *v = NULL;
        CHECKF(sp_vad_open(model, &v, err, sizeof err) == SP_OK && sp_vad_is_silero(v), "%s", err);
        if (!v) continue;
        double d = probs_diff(v, "tests/data/speech-16k.wav", "tests/data/vad/speech-16k.fw-v6.0.probs.txt", NULL, NULL);
        CHECKF(d < 1e-4, "speech-16k: max |diff| %.3g", d);
        char ref[512];
        path_of(ref, sizeof ref, "data/jfk.wav");
        float *pcm = NULL;
        size_t n = 0;
        if (access(ref, R_OK) != 0) {
            printf("# jfk.wav absent: its part skipped\n");
        } else {
            d = probs_diff(v, ref, "tests/data/vad/jfk.fw-v6.0.probs.txt", &pcm, &n);
            CHECKF(d < 1e-4, "jfk: max |diff| %.3g", d);
            sp_span *sp = NULL;
            int ns = 0;
            CHECK(sp_vad_segments(v, pcm, n, NULL, &sp, &ns) == SP_OK);
            CHECKF(ns == 4 && sp[0].start == 0 && sp[0].end == 42752 && sp[1].start == 46336 && sp[1].end == 76544 &&
                       sp[2].start == 80640 && sp[2].end == 126720 && sp[3].start == 126720 && sp[3].end == 176000,
                   "jfk: %d spans", ns);
            free(sp);
        }
        free(pcm);
        sp_vad_free(v);
    }
}

/* The ONNX reader on a damaged file: cut at every 64th of its length and at the first 256
 * bytes' every offset, and bytes changed at 600 places (the headers of its messages most of
 * all): an error or a model, never a crash or a read past the bytes (the ASan run) — and the
 * whole file still loads. */
static void test_silero_onnx_damaged(const char *file)
{
    char err[256], model[512], name[160];
    vad_file(model, sizeof model, file);
    snprintf(name, sizeof name, "silero ONNX reader (%s): cut or corrupted files give an error or a model, never a crash", file);
    TEST(name) {
        if (access(model, R_OK) != 0) { printf("# skip: %s absent\n", model); continue; }
        FILE *f = fopen(model, "rb");
        uint8_t *buf = malloc(4u << 20);
        size_t len = f && buf ? fread(buf, 1, 4u << 20, f) : 0;
        if (f) fclose(f);
        aud_silero *m = NULL;
        CHECKF(len > 0 && aud_silero_load_onnx_mem(buf, len, "whole", &m, err, sizeof err) == SP_OK, "%s", err);
        aud_silero_free(m);
        int loaded = 0, refused = 0;
        for (size_t cut = 0; len && cut < len; cut += cut < 256 ? 1 : len / 64) {
            uint8_t *b = malloc(cut ? cut : 1);   /* exact size: ASan sees a read past it */
            memcpy(b, buf, cut);
            m = NULL;
            if (aud_silero_load_onnx_mem(b, cut, "cut", &m, err, sizeof err) == SP_OK) loaded++;
            else refused++;
            aud_silero_free(m);
            free(b);
        }
        CHECKF(loaded == 0 && refused > 0, "cut files: %d loaded", loaded);
        uint32_t rng = 7;
        uint8_t *b = malloc(len ? len : 1);
        int took = 0;
        for (int k = 0; len && k < 600; k++) {
            memcpy(b, buf, len);
            for (int j = 0; j < 4; j++) {
                rng = rng * 1664525u + 1013904223u;
                /* half the changes in the first 4 KB (the model's and the graph's headers, the
                 * nodes), half anywhere */
                const size_t at = (k & 1 ? rng >> 8 : (rng >> 8) & 4095) % len;
                rng = rng * 1664525u + 1013904223u;
                b[at] = (uint8_t)(rng >> 24);
            }
            m = NULL;
            if (aud_silero_load_onnx_mem(b, len, "corrupt", &m, err, sizeof err) == SP_OK) {
                float pr[4], x[2048] = { 0 };
                aud_silero_probs(m, x, 2048, 1, pr);   /* a model it took runs */
                took++;
            }
            aud_silero_free(m);
        }
        printf("# %d cut files refused; of 600 corrupted ones %d loaded (changes in weights)\n", refused, took);
        free(b);
        free(buf);
    }
}

int main(void)
{
    char model[512];
    path_of(model, sizeof model, "data/for-tests-silero-v6.2.0-ggml.bin");
    int have_model = access(model, R_OK) == 0;

    test_segmenter_jfk();
    test_segmenter_edges();
    test_silero_probs(model, have_model);
    test_silero_jfk_segments(model, have_model);
    test_silero_bad_models(model, have_model);
    test_silero_not_a_file();
    test_energy_vad();
    test_energy_vad_brown();
    test_energy_vad_digital_silence();
    test_silero_onnx();
    test_silero_onnx_official();
    test_onnx_nested();
    test_silero_onnx_damaged("silero_vad_v6.onnx");
    test_silero_onnx_damaged("silero_vad.onnx");
    tb_cleanup();
    TEST_EXIT();
}
