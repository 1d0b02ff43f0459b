/* vad.c — sp_vad_*: voice activity detection before Whisper. Two detectors give one
 * probability per 512-sample (32 ms) frame: Silero VAD v6 (vad_silero.c) when a model file is
 * given, else the energy/spectral fallback below. One segmenter turns probabilities into
 * speech spans: faster-whisper 1.2.1's get_speech_timestamps loop, as the original daemon ran
 * it (../shared/docs/silero-vad.md §3.3, §3.4): float sample counts, the real audio length,
 * no 200 ms merge, padding split between close neighbours.
 *
 * Energy/spectral fallback (documented in docs/audio.md). Per frame, Hann window + 512-point
 * FFT, then:
 *   - level: frame energy in dB against an adaptive floor (the 10th percentile of the frame
 *     energies of the input that are not digital silence, i.e. the quietest stretch of
 *     signal), with an absolute floor of -65 dBFS
 *     (-55 had lost a far microphone's quieter words: jfk.wav 40 dB down); around the
 *     frame's mean, so that a DC offset is not loudness;
 *   - spectral flatness over 150..4000 Hz (geometric / arithmetic mean of the power): noise
 *     is flat (white ~0.56, pink ~0.4), voiced speech is harmonic (~0.05..0.25);
 *   - peakiness: share of that band's power in its 3 strongest bins; a steady tone or a
 *     single note puts nearly everything there, speech spreads over many harmonics.
 * p = s_level * s_flatness * s_peak with logistic soft thresholds. It is a fallback: it
 * catches speech in quiet recordings and rejects stationary noise and tones, but not
 * babble or music with rich harmonics. Measured numbers: docs/audio.md. */
#include "audio/audio_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAD_W 512

struct sp_vad {
    aud_silero *silero;        /* NULL: energy detector */
    int ctx_framing;
    float cos_t[VAD_W / 2], sin_t[VAD_W / 2], hann[VAD_W];
};

sp_vad_params sp_vad_default_params(void)
{
    sp_vad_params p = { .threshold = 0.4f, .min_speech_duration_ms = 250,
                        .min_silence_duration_ms = 500, .speech_pad_ms = 400,
                        .max_speech_duration_s = 0.0f };
    return p;
}

sp_status sp_vad_open(const char *model_path, sp_vad **out, char *err, size_t es)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    sp_vad *v = calloc(1, sizeof *v);
    if (!v) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    if (model_path) {
        sp_status st = aud_silero_load(model_path, &v->silero, err, es);
        if (st != SP_OK) { free(v); return st; }
        v->ctx_framing = aud_silero_ctx_framing(v->silero);   /* as the weights' own runtime */
    }
    for (int i = 0; i < VAD_W / 2; i++) {
        v->cos_t[i] = (float)cos(2 * M_PI * i / VAD_W);
        v->sin_t[i] = (float)-sin(2 * M_PI * i / VAD_W);
    }
    for (int i = 0; i < VAD_W; i++) v->hann[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * i / VAD_W));
    *out = v;
    return SP_OK;
}

void sp_vad_free(sp_vad *v)
{
    if (!v) return;
    aud_silero_free(v->silero);
    free(v);
}

int sp_vad_is_silero(const sp_vad *v) { return v && v->silero; }
void sp_vad_set_context_framing(sp_vad *v, int on) { if (v) v->ctx_framing = on != 0; }

/* ------------------------------------------------------------------ energy detector */

/* in-place iterative radix-2 FFT of 512 complex points (Cooley-Tukey, bit reversal first) */
static void fft512(const sp_vad *v, float *re, float *im)
{
    for (unsigned i = 1, j = 0; i < VAD_W; i++) {
        unsigned bit = VAD_W >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            float t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (unsigned len = 2; len <= VAD_W; len <<= 1) {
        unsigned step = VAD_W / len, half = len / 2;
        for (unsigned s = 0; s < VAD_W; s += len)
            for (unsigned k = 0; k < half; k++) {
                float wr = v->cos_t[k * step], wi = v->sin_t[k * step];
                float xr = re[s + k + half], xi = im[s + k + half];
                float tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
                re[s + k + half] = re[s + k] - tr;
                im[s + k + half] = im[s + k] - ti;
                re[s + k] += tr;
                im[s + k] += ti;
            }
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A chunk's speech-band level (dB) at or below which it is digital silence: random ±1 LSB of
 * 16-bit audio measures -95 to -96 dB there (numpy, this formula), exact zeros -120 (the
 * 1e-12 guard). */
#define VAD_DIGITAL_SILENCE_DB (-110.0f)

static inline float logistic(float x) { return 1.0f / (1.0f + expf(-x)); }

static sp_status energy_probs(const sp_vad *v, const float *pcm, size_t n, float *probs,
                              size_t chunks)
{
    float *edb = malloc(chunks * sizeof *edb), *sorted = malloc(chunks * sizeof *sorted);
    float *flat = malloc(chunks * sizeof *flat), *peak = malloc(chunks * sizeof *peak);
    if (!edb || !sorted || !flat || !peak) {
        free(edb); free(sorted); free(flat); free(peak);
        return SP_ERR_NOMEM;
    }
    const int k0 = 5, k1 = 128;           /* 156 .. 4000 Hz at 31.25 Hz per bin */
    for (size_t i = 0; i < chunks; i++) {
        float re[VAD_W], im[VAD_W], pw[VAD_W / 2];
        size_t off = i * VAD_W, len = n - off < VAD_W ? n - off : VAD_W;
        /* around the chunk's mean: a DC offset (cheap USB sound cards, `sox dcshift`) had
         * counted as loudness in every chunk alike, which raised the floor and the threshold
         * above quiet words (jfk.wav + 0.05 DC lost "can do for you"; 0.4 DC at half
         * volume: nothing at all) */
        double mean = 0;
        for (size_t j = 0; j < len; j++) mean += pcm[off + j];
        mean = len ? mean / (double)len : 0;
        for (size_t j = 0; j < VAD_W; j++) {
            re[j] = j < len ? (float)(pcm[off + j] - mean) * v->hann[j] : 0.0f;
            im[j] = 0.0f;
        }
        fft512(v, re, im);
        double sum = 0, sumlog = 0;
        float top[3] = { 0, 0, 0 };
        for (int k = k0; k <= k1; k++) {
            pw[k] = re[k] * re[k] + im[k] * im[k] + 1e-12f;
            sum += pw[k];
            sumlog += log(pw[k]);
            if (pw[k] > top[2]) {
                if (pw[k] > top[0]) { top[2] = top[1]; top[1] = top[0]; top[0] = pw[k]; }
                else if (pw[k] > top[1]) { top[2] = top[1]; top[1] = pw[k]; }
                else top[2] = pw[k];
            }
        }
        int nb = k1 - k0 + 1;
        /* the level in the speech band (156-4000 Hz; the Hann window's power 0.375 and the
         * one-sided spectrum's 2 make it a mean square, so -65 dB below means what it did):
         * over the whole band, brown noise's rumble under 156 Hz swings by 10 dB and more
         * from one 32 ms chunk to the next, and chunks of it passed the floor + 10 dB (it is
         * not flat, so the flatness test let it by) — 1-2 s "speech" in 12 of 18 files of
         * 60 s at -25..-50 dBFS, on which base at temperature 0 wrote "I'm sorry," 56 times
         * (a VAD audit; Silero and faster-whisper keep none). In the band: 0 of 18, and
         * speech's chunks as before (within 0.1 s) */
        edb[i] = (float)(10.0 * log10(2.0 * sum / (0.375 * VAD_W * VAD_W) + 1e-12));
        flat[i] = (float)(exp(sumlog / nb) / (sum / nb));
        peak[i] = (float)((top[0] + top[1] + top[2]) / sum);
    }
    /* the floor over the chunks that hold a signal: digital silence (exact zeros, a source
     * that had not started, a file's padding: -120 dB here) is no room's noise floor — with a
     * tenth of the recording silent the floor had been -120 dB, the threshold the absolute
     * -65, and brown noise at -40 dBFS after it passed for speech. All silent: as before. */
    size_t live = 0;
    for (size_t i = 0; i < chunks; i++)
        if (edb[i] > VAD_DIGITAL_SILENCE_DB) sorted[live++] = edb[i];
    if (live == 0) {
        memcpy(sorted, edb, chunks * sizeof *sorted);
        live = chunks;
    }
    qsort(sorted, live, sizeof *sorted, cmp_float);
    float floor_db = sorted[live / 10];
    float thr = floor_db + 10.0f > -65.0f ? floor_db + 10.0f : -65.0f;
    for (size_t i = 0; i < chunks; i++) {
        float sl = logistic((edb[i] - thr) / 1.5f);
        float sf = logistic((0.30f - flat[i]) / 0.04f);
        float sp = logistic((0.75f - peak[i]) / 0.04f);
        probs[i] = sl * sf * sp;
    }
    free(edb); free(sorted); free(flat); free(peak);
    return SP_OK;
}

/* ------------------------------------------------------------------ API */

sp_status sp_vad_probs(sp_vad *v, const float *pcm, size_t n, float **probs, int *n_probs)
{
    if (probs) *probs = NULL;
    if (n_probs) *n_probs = 0;
    if (!v || (!pcm && n) || !probs || !n_probs) return SP_ERR_INVALID_ARG;
    size_t chunks = (n + VAD_W - 1) / VAD_W;
    if (chunks > (size_t)(INT32_MAX / 2)) return SP_ERR_TOO_LARGE;
    float *p = malloc((chunks ? chunks : 1) * sizeof *p);
    if (!p) return SP_ERR_NOMEM;
    sp_status st = SP_OK;
    if (chunks) {
        st = v->silero ? aud_silero_probs(v->silero, pcm, n, v->ctx_framing, p)
                       : energy_probs(v, pcm, n, p, chunks);
    }
    if (st != SP_OK) { free(p); return st; }
    *probs = p;
    *n_probs = (int)chunks;
    return SP_OK;
}

typedef struct { sp_span *v; int n, cap; } span_vec;

static int push_span(span_vec *s, double start, double end)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        sp_span *p = realloc(s->v, (size_t)cap * sizeof *p);
        if (!p) return -1;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n].start = start > 0 ? (size_t)start : 0;
    s->v[s->n].end = end > 0 ? (size_t)end : 0;
    s->n++;
    return 0;
}

/* faster_whisper/vad.py:get_speech_timestamps (v1.2.1), as silero-vad.md §3.3 describes it */
sp_status aud_vad_segment(const float *probs, int n_probs, size_t n_samples,
                          const sp_vad_params *p, sp_span **spans, int *n_spans)
{
    const double SR = SP_AUDIO_RATE, W = VAD_W;
    double thr = p->threshold, neg = fmax(thr - 0.15, 0.01);
    double min_speech = SR * p->min_speech_duration_ms / 1000.0;
    double pad = (double)(int)(SR * p->speech_pad_ms / 1000.0);
    double max_speech = p->max_speech_duration_s > 0
                            ? SR * p->max_speech_duration_s - W - 2 * pad : DBL_MAX;
    double min_sil = SR * p->min_silence_duration_ms / 1000.0;
    double min_sil_at_max = SR * 98 / 1000.0;
    double len = (double)n_samples;
    span_vec out = { 0 };
    int triggered = 0, have = 0;
    double cur_start = 0, temp_end = 0, prev_end = 0, next_start = 0;

    *spans = NULL;
    *n_spans = 0;
    for (int i = 0; i < n_probs; i++) {
        double pr = probs[i], s = W * i;
        if (pr >= thr && temp_end) {
            temp_end = 0;
            if (next_start < prev_end) next_start = s;
        }
        if (pr >= thr && !triggered) {
            triggered = 1;
            have = 1;
            cur_start = s;
            continue;
        }
        if (triggered && s - cur_start > max_speech) {
            if (prev_end) {
                if (push_span(&out, cur_start, prev_end)) goto nomem;
                have = 0;
                if (next_start < prev_end) triggered = 0;
                else { cur_start = next_start; have = 1; }
                prev_end = next_start = temp_end = 0;
            } else {
                if (push_span(&out, cur_start, s)) goto nomem;
                have = 0;
                prev_end = next_start = temp_end = 0;
                triggered = 0;
                continue;
            }
        }
        if (pr < neg && triggered) {
            if (!temp_end) temp_end = s;
            if (s - temp_end > min_sil_at_max) prev_end = temp_end;
            if (s - temp_end < min_sil) continue;
            if (temp_end - cur_start > min_speech && push_span(&out, cur_start, temp_end))
                goto nomem;
            have = 0;
            prev_end = next_start = temp_end = 0;
            triggered = 0;
        }
    }
    if (have && len - cur_start > min_speech && push_span(&out, cur_start, len)) goto nomem;
    /* padding: split the gap between neighbours closer than 2 * pad */
    for (int i = 0; i < out.n; i++) {
        sp_span *c = &out.v[i];
        if (i == 0) c->start = (double)c->start > pad ? c->start - (size_t)pad : 0;
        if (i + 1 < out.n) {
            sp_span *nx = &out.v[i + 1];
            size_t gap = nx->start > c->end ? nx->start - c->end : 0;
            if ((double)gap < 2 * pad) {
                c->end += gap / 2;
                nx->start = nx->start > gap / 2 ? nx->start - gap / 2 : 0;
            } else {
                c->end = (double)(c->end + (size_t)pad) < len ? c->end + (size_t)pad : n_samples;
                nx->start = (double)nx->start > pad ? nx->start - (size_t)pad : 0;
            }
        } else {
            c->end = (double)(c->end + (size_t)pad) < len ? c->end + (size_t)pad : n_samples;
        }
    }
    *spans = out.v ? out.v : malloc(sizeof(sp_span));
    if (!*spans) return SP_ERR_NOMEM;
    *n_spans = out.n;
    return SP_OK;
nomem:
    free(out.v);
    return SP_ERR_NOMEM;
}

sp_status sp_vad_segments(sp_vad *v, const float *pcm, size_t n, const sp_vad_params *params,
                          sp_span **spans, int *n_spans)
{
    if (spans) *spans = NULL;
    if (n_spans) *n_spans = 0;
    if (!v || !spans || !n_spans || (!pcm && n)) return SP_ERR_INVALID_ARG;
    sp_vad_params def = sp_vad_default_params();
    const sp_vad_params *p = params ? params : &def;
    if (!(p->threshold > 0.0f && p->threshold < 1.0f) || p->min_speech_duration_ms < 0 ||
        p->min_silence_duration_ms < 0 || p->speech_pad_ms < 0 || !(p->max_speech_duration_s >= 0))
        return SP_ERR_INVALID_ARG;
    float *probs = NULL;
    int np = 0;
    sp_status st = sp_vad_probs(v, pcm, n, &probs, &np);
    if (st != SP_OK) return st;
    st = aud_vad_segment(probs, np, n, p, spans, n_spans);
    free(probs);
    return st;
}
