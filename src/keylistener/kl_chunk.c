/* kl_chunk.c — see kl_chunk.h. */
#include "keylistener/kl_chunk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "speech_audio.h"

#define RATE 16000

struct kl_chunker {
    sp_vad *vad;
    kl_chunk_opts o;
};

int kl_chunker_new(kl_chunker **out, const char *vad_model, const kl_chunk_opts *o,
                   char *err, size_t n)
{
    *out = NULL;
    kl_chunker *c = calloc(1, sizeof *c);
    if (!c) { snprintf(err, n, "out of memory"); return -1; }
    c->o = *o;
    if (c->o.min_pause_ms <= 0) c->o.min_pause_ms = 300;
    if (c->o.threshold <= 0) c->o.threshold = 0.4;
    if (c->o.silence_level <= 0) c->o.silence_level = 0.01;
    char verr[512] = "";
    if (sp_vad_open(vad_model, &c->vad, verr, sizeof verr) != SP_OK) {
        snprintf(err, n, "VAD %s: %s", vad_model ? vad_model : "(energy)", verr);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void kl_chunker_free(kl_chunker *c)
{
    if (!c) return;
    sp_vad_free(c->vad);
    free(c);
}

int kl_chunker_silero(const kl_chunker *c) { return sp_vad_is_silero(c->vad); }

/* 1 when frame i (complete) is quiet enough to be part of a pause. */
static int pause_frame(const kl_chunker *c, const int16_t *s, const float *probs, size_t i)
{
    if (probs[i] >= c->o.threshold) return 0;
    double sum = 0;
    const int16_t *f = s + i * KL_CHUNK_FRAME;
    for (size_t j = 0; j < KL_CHUNK_FRAME; j++) sum += (double)f[j] * f[j];
    double lv = c->o.silence_level * 32768.0;
    return sum / KL_CHUNK_FRAME < lv * lv;
}

/* s[0..n) as floats for the VAD (malloc'd; NULL when out of memory). */
static float *to_pcm(const int16_t *s, size_t n)
{
    float *pcm = malloc(n * sizeof *pcm);
    if (pcm)
        for (size_t i = 0; i < n; i++) pcm[i] = (float)s[i] / 32768.0f;
    return pcm;
}

/* The longest run of probs[0..np) at or above the threshold, in frames. */
static int longest_run(const kl_chunker *c, const float *probs, int np)
{
    int best = 0;
    for (int i = 0, run = 0; i < np; i++) {
        run = probs[i] >= c->o.threshold ? run + 1 : 0;
        if (run > best) best = run;
    }
    return best;
}

int kl_chunk_find(kl_chunker *c, const int16_t *s, size_t n, size_t *cut, int *voiced_run,
                  char *err, size_t en)
{
    *cut = 0;
    if (voiced_run) *voiced_run = 0;
    size_t need = (size_t)(c->o.chunk_seconds * RATE);
    if (c->o.chunk_seconds <= 0 || n < need || n < 2 * KL_CHUNK_FRAME) return 0;
    size_t frames = n / KL_CHUNK_FRAME;   /* complete frames only: a pause must be heard whole */
    float *pcm = to_pcm(s, frames * KL_CHUNK_FRAME), *probs = NULL;
    int np = 0, r = 0;
    if (!pcm) { snprintf(err, en, "out of memory"); return -1; }
    if (sp_vad_probs(c->vad, pcm, frames * KL_CHUNK_FRAME, &probs, &np) != SP_OK || (size_t)np < frames) {
        snprintf(err, en, "VAD failed");
        r = -1;
        goto done;
    }
    size_t min_run = ((size_t)c->o.min_pause_ms * RATE / 1000 + KL_CHUNK_FRAME - 1) / KL_CHUNK_FRAME;
    /* speech = every frame outside a pause, short gaps between words included: the energy
     * detector alone misses much of real speech (unvoiced sounds, soft syllables), and
     * counting only its hits made chunks twice as long as asked on espeak-ng speech */
    size_t speech = 0, run = 0;
    for (size_t i = 0; i <= frames; i++) {
        if (i < frames && pause_frame(c, s, probs, i)) { run++; continue; }
        /* a quiet run ended at frame i (or at the end of what was heard so far) */
        if (run >= min_run && speech * KL_CHUNK_FRAME >= need) {
            size_t mid = i - run + run / 2;     /* its middle: as far from both words as can be */
            *cut = mid * KL_CHUNK_FRAME;
            if (voiced_run) *voiced_run = longest_run(c, probs, (int)mid);
            r = 1;
            goto done;
        }
        if (run < min_run) speech += run;
        run = 0;
        speech += i < frames;
    }
done:
    free(pcm);
    free(probs);
    return r;
}

int kl_chunk_speech(kl_chunker *c, const int16_t *s, size_t n, int *run_ms)
{
    *run_ms = 0;
    if (n < KL_CHUNK_FRAME) return 0;
    float *pcm = to_pcm(s, n);
    if (!pcm) return -1;
    /* Silero costs about 3.6 ms a second of audio, at every release: it runs on 4 s pieces
     * (overlapping by a run) and stops at the first with speech. The energy detector (0.14 ms
     * a second) takes the whole, its floor being the recording's quietest tenth. */
    const size_t piece = sp_vad_is_silero(c->vad) ? 4 * RATE : n;
    const size_t step = piece < n ? piece - KL_SPEECH_RUN * KL_CHUNK_FRAME : n;
    int best = 0, r = 0;
    for (size_t off = 0; off < n && best < KL_SPEECH_RUN; off += step) {
        const size_t m = n - off < piece ? n - off : piece;
        if (m < KL_CHUNK_FRAME) break;
        float *probs = NULL;
        int np = 0;
        if (sp_vad_probs(c->vad, pcm + off, m, &probs, &np) != SP_OK) { r = -1; break; }
        const int run = longest_run(c, probs, np);
        if (run > best) best = run;
        free(probs);
        if (m < piece) break;
    }
    free(pcm);
    *run_ms = best * KL_CHUNK_FRAME * 1000 / RATE;
    return r < 0 && best < KL_SPEECH_RUN ? -1 : best >= KL_SPEECH_RUN;
}
