/* bench_decode — the decoding layer's costs (docs/decoding.md).
 *
 *   bench_decode --model M [--model M2 ...] [--steps N] [--seconds S] [--threads T] [--wav F] [--no-e2e]
 *
 * Per model:
 * 1. ms per decoded token: one 30 s window encoded once, then wh_search_run forced to exactly
 *    N steps (EOT suppressed, timestamps off) with beam 1 (greedy) and beam 5; a beam-5 step
 *    advances all five beams in one batched wh_decode_step, so its cost per output token
 *    should be well under 5x greedy. The prompt pass is excluded (timed separately).
 * 2. end-to-end real-time factor of sp_transcribe on S seconds (default 60) of the reference
 *    speech tiled: greedy and beam 5, temperature 0 only (random-weight models would climb the
 *    whole fallback ladder), no-speech skip off. RTF = processing time / audio duration.
 * Numbers: --steps a whole number 1..200, --threads 0..1024 (0: one per core), --seconds over 0
 * and at most 3600; anything else is a usage error that names the option.
 * Exit codes: 0 ok, 2 usage, 3 model, 5 engine error. */
#include "speech.h"
#include "speech_audio.h"
#include "session/ss_opt.h"
#include "whisper/search.h"
#include "whisper/threadpool.h"
#include "whisper/wh_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static float *load_audio(const char *path, size_t *n)
{
    float *pcm = NULL;
    char err[256];
    if (sp_audio_load(path, 0, 0, &pcm, n, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return NULL;
    }
    return pcm;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ms per output token at beam_size (exactly `steps` steps), best of `reps` runs */
static int per_token(sp_context *ctx, int beam, int steps, int reps, double *ms_tok, double *ms_prompt)
{
    const wh_specials *sp = wh_special_tokens(ctx);
    sp_model_info info;
    sp_context_info(ctx, &info);
    int sup[2] = {sp->eot, sp->notimestamps};
    wh_filter f = {.n_vocab = wh_n_vocab(ctx), .sp = *sp, .blank_id = 220, .suppress_blank = 0, .suppress = sup,
                   .n_suppress = 2, .timestamps = 0, .max_initial_ts = -1};
    wh_rng rng;
    wh_rng_seed(&rng, 1);
    wh_search *s = NULL;
    if (wh_search_new(ctx, beam, &s) != SP_OK) return -1;
    int init[4], n_init = 0;
    init[n_init++] = sp->sot;
    if (info.multilingual) { init[n_init++] = sp->lang_first; init[n_init++] = sp->transcribe; }
    init[n_init++] = sp->notimestamps;
    wh_decode_opts o = {.temperature = 0, .beam_size = beam, .best_of = 1, .patience = 1, .length_penalty = 0,
                        .sample_len = steps + 1, .filter = &f, .rng = &rng};
    wh_decode_opts o1 = o;
    o1.sample_len = 1;
    /* the fastest prompt pass and the fastest whole run, each over the reps: their
     * difference is the steps' time. (Taking each rep's difference and then its minimum let one
     * slow prompt pass make a step's time negative: -1.9 and -12 ms/token were printed.) */
    double bestf = 1e30, bestp = 1e30;
    for (int r = 0; r < reps; r++) {
        wh_decode_result d;
        double t0 = now();
        if (wh_search_run(s, init, n_init, 0, 0, &o1, &d) != SP_OK) { wh_search_free(s); return -1; }
        double t1 = now();
        if (wh_search_run(s, init, n_init, 0, 0, &o, &d) != SP_OK) { wh_search_free(s); return -1; }
        double t2 = now();
        if (d.n_tokens != steps + 1) fprintf(stderr, "bench_decode: warning: %d tokens decoded (expected %d)\n", d.n_tokens, steps + 1);
        if (t1 - t0 < bestp) bestp = t1 - t0;
        if (t2 - t1 < bestf) bestf = t2 - t1;
    }
    const double best = bestf > bestp ? bestf - bestp : 0.0;
    wh_search_free(s);
    *ms_tok = best * 1000.0 / steps;
    *ms_prompt = bestp * 1000.0;
    return 0;
}

static int e2e(sp_context *ctx, const float *pcm, size_t n, int beam, double *rtf, int *n_seg, int *n_tok)
{
    static const float t0[] = {0.0f};
    sp_transcribe_params p = sp_transcribe_default_params();
    p.language = "en";
    p.beam_size = beam;
    p.temperatures = t0;
    p.n_temperatures = 1;
    p.no_speech_threshold = 0;
    sp_result *r = NULL;
    char err[256];
    double a = now();
    if (sp_transcribe(ctx, pcm, n, &p, &r, err, sizeof err) != SP_OK) { fprintf(stderr, "bench_decode: %s\n", err); return -1; }
    double b = now();
    *rtf = (b - a) / ((double)n / 16000.0);
    *n_seg = r->n_segments;
    *n_tok = 0;
    for (int i = 0; i < r->n_segments; i++) *n_tok += r->segments[i].n_tokens;
    sp_result_free(r);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: bench_decode --model M [--model M2 ...] [--steps N] [--seconds S] [--threads T] [--wav F]\n"
          "                    [--no-e2e]\n"
          "Per model (at most 16): ms per decoded token, greedy and beam 5, forced to N steps\n"
          "(1..200, default 64) on the first 30 s window, and the end-to-end real-time factor on S\n"
          "seconds (over 0, at most 3600, default 60) of --wav (default tests/data/speech-16k.wav)\n"
          "tiled; --no-e2e skips the latter. --threads 0..1024 (default 0: one per core).\n"
          "Exit codes: 0, 2 usage, 3 a model could not be opened, 5 engine error.\n", f);
}

/* the value of a numeric option from lo to hi (whole when `whole`), else -1 (said): atoi and
 * atof had run "--threads banana --steps 3x" as 0 threads and 3 steps */
static int num_arg(const char *opt, const char *s, double lo, double hi, int whole, double *out)
{
    if (ss_opt_num(s, lo, hi, out) != 0 || (whole && *out != (double)(long)*out)) {
        fprintf(stderr, "bench_decode: %s %s: not a%s number from %g to %g\n", opt, s, whole ? " whole" : "", lo, hi);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *models[16];
    int n_models = 0, steps = 64, threads = 0, do_e2e = 1;
    double seconds = 60, v;
    const char *wav = "tests/data/speech-16k.wav";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model") && next) {
            if (n_models == 16) { fprintf(stderr, "bench_decode: at most 16 --model\n"); return 2; }
            models[n_models++] = next;
            i++;
        }
        else if (!strcmp(a, "--steps") && next) { if (num_arg(a, next, 1, 200, 1, &v)) return 2; steps = (int)v; i++; }
        else if (!strcmp(a, "--seconds") && next) {
            if (num_arg(a, next, 0, 3600, 0, &v)) return 2;
            if (!(v > 0)) { fprintf(stderr, "bench_decode: --seconds %s: must be over 0\n", next); return 2; }
            seconds = v;
            i++;
        }
        else if (!strcmp(a, "--threads") && next) { if (num_arg(a, next, 0, 1024, 1, &v)) return 2; threads = (int)v; i++; }
        else if (!strcmp(a, "--wav") && next) { wav = next; i++; }
        else if (!strcmp(a, "--no-e2e")) do_e2e = 0;
        else {
            fprintf(stderr, "bench_decode: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!n_models) {
        fprintf(stderr, "bench_decode: no --model given\n");
        usage(stderr);
        return 2;
    }
    size_t nw = 0;
    float *speech = load_audio(wav, &nw);
    if (!speech || nw == 0) { fprintf(stderr, "bench_decode: cannot read %s\n", wav); return 2; }
    size_t n = (size_t)(seconds * 16000.0);
    float *pcm = malloc(sizeof(float) * n);
    if (!pcm) return 5;
    for (size_t i = 0; i < n; i++) pcm[i] = speech[i % nw];
    /* the window for the per-token measurements: the first 30 s */
    size_t nwin = n < 480000 ? n : 480000;

    printf("%-28s %7s %9s %9s %9s %7s %9s %9s\n", "model", "threads", "prompt ms", "b1 ms/tok", "b5 ms/tok", "b5/b1",
           "RTF b1", "RTF b5");
    int rc = 0;
    for (int m = 0; m < n_models; m++) {
        sp_context *ctx = NULL;
        sp_context_params cp = sp_context_default_params();
        cp.n_threads = threads;
        char err[256];
        if (sp_context_open(models[m], &cp, &ctx, err, sizeof err) != SP_OK) {
            fprintf(stderr, "bench_decode: %s: %s\n", models[m], err);
            rc = 3;
            continue;
        }
        float *mel = NULL;
        int nf = 0, nc = 0;
        if (sp_mel(ctx, pcm, nwin, &mel, &nf, &nc) != SP_OK || sp_encode(ctx, mel, nf, 0) != SP_OK) {
            fprintf(stderr, "bench_decode: %s: encoder failed\n", models[m]);
            free(mel);
            sp_context_free(ctx);
            rc = 5;
            continue;
        }
        free(mel);
        double b1 = 0, b5 = 0, p1 = 0, p5 = 0, r1 = NAN, r5 = NAN;
        if (per_token(ctx, 1, steps, 3, &b1, &p1) || per_token(ctx, 5, steps, 3, &b5, &p5)) {
            fprintf(stderr, "bench_decode: %s: decoder failed\n", models[m]);
            sp_context_free(ctx);
            rc = 5;
            continue;
        }
        int s1 = 0, k1 = 0, s5 = 0, k5 = 0;
        if (do_e2e && (e2e(ctx, pcm, n, 1, &r1, &s1, &k1) || e2e(ctx, pcm, n, 5, &r5, &s5, &k5))) rc = 5;
        const char *base = strrchr(models[m], '/');
        printf("%-28s %7d %9.2f %9.3f %9.3f %7.2f %9.3f %9.3f\n", base ? base + 1 : models[m],
               threads > 0 ? threads : wh_pool_default_threads(), p1, b1, b5, b5 / b1, r1, r5);
        if (do_e2e) printf("#   e2e %.0f s: beam 1 %d segments / %d tokens, beam 5 %d segments / %d tokens\n", seconds, s1, k1, s5, k5);
        fflush(stdout);
        sp_context_free(ctx);
    }
    free(pcm);
    free(speech);
    return rc;
}
