/* bench_audio — audio input benchmark (docs/audio.md):
 *   decode + resample throughput (seconds of audio per second of CPU wall time) for a
 *   44.1 kHz stereo MP3 and a 48 kHz stereo WAV made with sox/ffmpeg in a temp dir; latency
 *   of the empty-audio path (1 s silent 16 kHz WAV -> sp_audio_load + sp_audio_is_empty);
 *   VAD quality on generated sets (espeak-ng speech with known silence gaps, white, pink and
 *   brown noise, tones): mean boundary error in ms, missed/extra spans, false-speech rate, for the
 *   energy detector and Silero (when a model is found).
 * usage: bench_audio [--vad-model PATH] [--seconds N]   (default model:
 *        ../shared/data/for-tests-silero-v6.2.0-ggml.bin when present; N: seconds of the
 *        throughput inputs, over 0 and at most 600, default 60)
 * Exit codes: 0 every step ran (--help: the usage on stdout), 1 a step failed (said on stderr; VAD sets skipped for want
 * of espeak-ng/sox are not failures), 100 usage, 111 no temp directory. The temp directory
 * (/tmp/bench-audio.*) is removed on every exit, SIGINT/SIGTERM/SIGHUP included. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_tmp.h"
#include "session/ss_opt.h"
#include "speech_audio.h"

static char dir[64] = "/tmp/bench-audio.XXXXXX";
static volatile sig_atomic_t have_dir;
static int failed;   /* a step failed: exit 1 */

/* the temp directory removed (async-signal-safe: the signal handler uses it too) */
static void remove_dir(void)
{
    if (!have_dir) return;
    have_dir = 0;
    bench_rm_rf(dir);
}

static void on_signal(int sig)
{
    remove_dir();
    signal(sig, SIG_DFL);
    raise(sig);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int sh(const char *cmd)
{
    int r = system(cmd);
    if (r) fprintf(stderr, "bench_audio: command failed: %s\n", cmd);
    if (r != -1 && WIFSIGNALED(r) && (WTERMSIG(r) == SIGINT || WTERMSIG(r) == SIGTERM))
        exit(128 + WTERMSIG(r));   /* interrupted (system() ignored SIGINT meanwhile) */
    return r;
}

static float *load(const char *path, size_t *n)
{
    float *pcm = NULL;
    char err[256];
    if (sp_audio_load(path, 0, 0, &pcm, n, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "bench_audio: %s: %s\n", path, err);
        return NULL;
    }
    return pcm;
}

static void throughput(const char *label, const char *path, double secs)
{
    double best = 1e9;
    size_t n = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        float *p = load(path, &n);
        double dt = now() - t0;
        free(p);
        if (!p) { failed = 1; return; }
        if (dt < best) best = dt;
    }
    printf("decode+resample %-28s %6.1f s audio in %7.1f ms: %7.0f x realtime\n", label, secs,
           best * 1e3, secs / best);
}

/* ---------------------------------------------------------------- VAD sets */

typedef struct { size_t s, e; } span;

static float *make_speech(size_t *n, span *truth, int *nt)
{
    static const char *sent[5] = {
        "The quick brown fox jumps over the lazy dog.",
        "Please call Stella and ask her to bring these things from the store.",
        "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
        "We also need a small plastic snake and a big toy frog for the kids.",
        "She can scoop these things into three red bags.",
    };
    static const double gaps[5] = { 1.0, 0.6, 2.0, 0.8, 1.5 };  /* silence after each, s */
    size_t cap = 16000 * 60, len = 16000;                     /* 1 s lead-in */
    float *x = calloc(cap, sizeof *x);
    *nt = 0;
    for (int i = 0; i < 5 && x; i++) {
        char cmd[512], p16[128];
        snprintf(p16, sizeof p16, "%s/s%d.wav", dir, i);
        snprintf(cmd, sizeof cmd, "espeak-ng -s 160 -w %s/e%d.wav '%s' >/dev/null 2>&1 && "
                 "sox %s/e%d.wav -r 16000 %s", dir, i, sent[i], dir, i, p16);
        if (sh(cmd)) { free(x); return NULL; }
        size_t m = 0;
        float *a = load(p16, &m);
        if (!a) { free(x); return NULL; }
        size_t s0 = 0, s1 = m;
        while (s0 < m && fabsf(a[s0]) < 0.01f) s0++;
        while (s1 > s0 && fabsf(a[s1 - 1]) < 0.01f) s1--;
        size_t gap = (size_t)(gaps[i] * 16000);
        if (len + (s1 - s0) + gap + 16000 > cap) { free(a); break; }
        memcpy(x + len, a + s0, (s1 - s0) * sizeof *x);
        truth[*nt].s = len;
        truth[*nt].e = len + (s1 - s0);
        (*nt)++;
        len += (s1 - s0) + gap;
        free(a);
    }
    *n = len + 16000;
    return x;
}

static void make_noise(float *x, size_t n, int kind)
{
    uint32_t r = 2463534242u;
    float b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, walk = 0;
    static const float notes[8] = { 262, 294, 330, 349, 392, 440, 494, 523 };
    for (size_t i = 0; i < n; i++) {
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        float w = (float)r / 4294967296.0f * 2.0f - 1.0f;
        if (kind == 0) x[i] = 0.1f * w;                               /* white */
        else if (kind == 1) {                                         /* pink (P. Kellet) */
            b0 = 0.99886f * b0 + w * 0.0555179f; b1 = 0.99332f * b1 + w * 0.0750759f;
            b2 = 0.96900f * b2 + w * 0.1538520f; b3 = 0.86650f * b3 + w * 0.3104856f;
            b4 = 0.55000f * b4 + w * 0.5329522f; b5 = -0.7616f * b5 - w * 0.0168980f;
            x[i] = 0.03f * (b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362f);
            b6 = w * 0.115926f;
        } else if (kind == 3) {                 /* brown: a leaky random walk, rumble (-34 dBFS RMS) */
            walk = 0.9995f * walk + w;
            x[i] = 0.0011f * walk;
        } else {                                                      /* melody, 3 harmonics */
            float f = notes[(i / 4800) % 8], t = (float)i / 16000.0f;
            x[i] = 0.2f * sinf(2 * (float)M_PI * f * t) + 0.1f * sinf(4 * (float)M_PI * f * t) +
                   0.05f * sinf(6 * (float)M_PI * f * t);
        }
    }
}

static void vad_eval(const char *name, sp_vad *v)
{
    span truth[8];
    int nt = 0;
    size_t n = 0;
    float *x = make_speech(&n, truth, &nt);
    if (!x) { printf("VAD %-8s: espeak-ng/sox missing, skipped\n", name); return; }
    sp_vad_params prm = sp_vad_default_params();
    prm.speech_pad_ms = 0;                     /* measure the detector, not the padding */
    sp_span *s = NULL;
    int ns = 0;
    double t0 = now();
    sp_vad_segments(v, x, n, &prm, &s, &ns);
    double dt = now() - t0;
    double err_sum = 0;
    int nerr = 0, missed = 0;
    for (int i = 0; i < nt; i++) {
        int best = -1;
        size_t bo = 0;
        for (int j = 0; j < ns; j++) {
            size_t lo = truth[i].s > s[j].start ? truth[i].s : s[j].start;
            size_t hi = truth[i].e < s[j].end ? truth[i].e : s[j].end;
            if (hi > lo && hi - lo > bo) { bo = hi - lo; best = j; }
        }
        if (best < 0) { missed++; continue; }
        err_sum += fabs((double)s[best].start - (double)truth[i].s) +
                   fabs((double)s[best].end - (double)truth[i].e);
        nerr += 2;
    }
    printf("VAD %-8s speech+gaps: %d true spans, %d found, %d missed, mean boundary error "
           "%.0f ms (%.1f s audio in %.1f ms)\n", name, nt, ns, missed,
           nerr ? err_sum / nerr / 16.0 : 0.0, n / 16000.0, dt * 1e3);
    free(s);
    /* same speech under white noise at ~10 dB SNR */
    float *noise = malloc(n * sizeof *noise);
    make_noise(noise, n, 0);
    for (size_t i = 0; i < n; i++) noise[i] = x[i] + 0.3f * noise[i] * 0.35f;
    sp_vad_segments(v, noise, n, &prm, &s, &ns);
    printf("VAD %-8s speech+gaps in white noise: %d spans (truth %d)\n", name, ns, nt);
    free(s);
    free(noise);
    static const char *kinds[4] = { "white noise", "pink noise", "tones", "brown noise" };
    static const int order[4] = { 0, 1, 3, 2 };
    for (int o = 0; o < 4; o++) {
        const int k = order[o];
        size_t m = 16000 * 20;
        float *y = malloc(m * sizeof *y);
        make_noise(y, m, k);
        sp_vad_segments(v, y, m, &prm, &s, &ns);
        size_t cov = 0;
        for (int j = 0; j < ns; j++) cov += s[j].end - s[j].start;
        printf("VAD %-8s %-11s: false-speech rate %5.1f%% (%d spans in 20 s)\n", name,
               kinds[k], 100.0 * cov / m, ns);
        free(s);
        free(y);
    }
    free(x);
}

static void usage(FILE *f)
{
    fputs("usage: bench_audio [--vad-model PATH] [--seconds N]\n"
          "Audio input: decode + resample throughput of a 44.1 kHz stereo MP3 and a 48 kHz stereo\n"
          "WAV (made with sox and ffmpeg), the empty-audio path's latency, and VAD quality on\n"
          "generated sets (espeak-ng, sox) for the energy detector and Silero.\n"
          "  --seconds N      length of the throughput inputs in seconds (over 0, at most 600;\n"
          "                   default 60)\n"
          "  --vad-model PATH Silero VAD ggml file (default\n"
          "                   ../shared/data/for-tests-silero-v6.2.0-ggml.bin when present)\n"
          "Exit codes: 0, 1 a step failed, 100 usage, 111 no temp directory.\n", f);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    double secs = 60;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--vad-model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            /* 0 (or a word atof read as 0) made "sox ... synth 0": endless, gigabytes in /tmp */
            if (ss_opt_num(argv[++i], 0, 600, &secs) != 0 || !(secs > 0)) {
                fprintf(stderr, "bench_audio: --seconds %s: a number of seconds over 0, at most 600\n", argv[i]);
                return 100;
            }
        }
        else {
            fprintf(stderr, "bench_audio: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 100;
        }
    }
    if (!model && access("../shared/data/for-tests-silero-v6.2.0-ggml.bin", R_OK) == 0)
        model = "../shared/data/for-tests-silero-v6.2.0-ggml.bin";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 111; }
    have_dir = 1;
    atexit(remove_dir);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    char cmd[1024];
    /* inputs: a chirp-and-noise mix, so the codecs have something to do */
    snprintf(cmd, sizeof cmd,
             "sox -n -r 48000 -c 2 -b 16 %s/in48.wav synth %g sine 200-6000 synth %g pinknoise mix "
             "vol 0.5 && sox %s/in48.wav -r 44100 %s/in44.wav && "
             "ffmpeg -loglevel error -y -i %s/in44.wav -c:a libmp3lame -b:a 128k %s/in44.mp3 && "
             "sox %s/in48.wav -r 16000 -c 1 %s/in16.wav && "
             "sox -n -r 16000 -c 1 -b 16 %s/silent.wav trim 0 1",
             dir, secs, secs, dir, dir, dir, dir, dir, dir, dir);
    if (sh(cmd) != 0) {
        failed = 1;
    } else {
        char p[256];
        snprintf(p, sizeof p, "%s/in44.mp3", dir);
        throughput("MP3 44.1 kHz stereo 128k", p, secs);
        snprintf(p, sizeof p, "%s/in48.wav", dir);
        throughput("WAV 48 kHz stereo s16", p, secs);
        snprintf(p, sizeof p, "%s/in16.wav", dir);
        throughput("WAV 16 kHz mono s16", p, secs);
        snprintf(p, sizeof p, "%s/silent.wav", dir);
        double t[201];
        int k = 0;
        for (; k < 201; k++) {
            size_t n;
            double t0 = now();
            float *x = load(p, &n);
            int e = sp_audio_is_empty(x, n);
            t[k] = now() - t0;
            free(x);
            if (!e) break;
        }
        for (int i = 0; i < k; i++)                      /* insertion sort for the median */
            for (int j = i; j > 0 && t[j] < t[j - 1]; j--) { double q = t[j]; t[j] = t[j - 1]; t[j - 1] = q; }
        if (k == 201)
            printf("empty-audio path (1 s silent WAV, load + filter): median %.3f ms, max %.3f ms\n",
                   t[100] * 1e3, t[200] * 1e3);
        else {
            fprintf(stderr, "bench_audio: %s: not taken for empty audio\n", p);
            failed = 1;
        }
    }
    sp_vad *v = NULL;
    char err[256];
    if (sp_vad_open(NULL, &v, err, sizeof err) == SP_OK) vad_eval("energy", v);
    else { fprintf(stderr, "bench_audio: energy VAD: %s\n", err); failed = 1; }
    sp_vad_free(v);
    v = NULL;
    if (model) {
        if (sp_vad_open(model, &v, err, sizeof err) == SP_OK) vad_eval("silero", v);
        else { fprintf(stderr, "bench_audio: %s\n", err); failed = 1; }
        sp_vad_free(v);
    } else {
        printf("VAD silero: no model (pass --vad-model PATH)\n");
    }
    return failed;   /* the temp directory: remove_dir, at exit */
}
