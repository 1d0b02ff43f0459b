/* audio_sink.c — the part of the pipeline both decoders share: byte source, sample-format
 * conversion with downmix, and the 16 kHz sink (libswresample with the soxr engine).
 * Keeping this in one place is what makes WAV-through-our-reader and FLAC-through-FFmpeg
 * give bit-identical PCM for the same samples. */
#include "audio/audio_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SP_NO_FFMPEG
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
#else
/* Built without FFmpeg (make FFMPEG=0; scripts/gpu-check.sh on a machine without its
 * headers): WAV at 16 kHz only, so no resampler is ever made. */
typedef struct SwrContext SwrContext;
#endif

void aud_seterr(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || !err_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ byte source */

ssize_t aud_src_read(aud_src *s, void *buf, size_t n)
{
    if (s->fd < 0) {
        if (s->pos < 0 || (uint64_t)s->pos >= s->mem_size) return 0;
        size_t left = s->mem_size - (size_t)s->pos;
        if (n > left) n = left;
        memcpy(buf, s->mem + s->pos, n);
        s->pos += (int64_t)n;
        return (ssize_t)n;
    }
    /* pread: the caller's file offset is never moved, and a file truncated or still growing
     * under us simply reads as EOF at its current end (T17). */
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, (uint8_t *)buf + got, n - got, (off_t)(s->base + s->pos));
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { s->io_errno = errno; return -1; }
            s->io_errno = errno;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
        s->pos += r;
    }
    return (ssize_t)got;
}

int64_t aud_src_size(aud_src *s)
{
    if (s->fd < 0) return (int64_t)s->mem_size;
    struct stat st;
    if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return st.st_size > s->base ? (int64_t)st.st_size - s->base : 0;
}

void aud_src_skip(aud_src *s, int64_t off)
{
    if (off < 0) off = 0;
    if (s->fd >= 0) {
        s->base += off;
    } else {
        size_t k = (uint64_t)off < s->mem_size ? (size_t)off : s->mem_size;
        s->mem += k;
        s->mem_size -= k;
    }
    s->pos = 0;
}

/* ------------------------------------------------------------------ formats */

size_t aud_fmt_bytes(aud_fmt fmt)
{
    switch (fmt) {
    case AUD_U8: case AUD_ALAW: case AUD_ULAW: return 1;
    case AUD_S16: return 2;
    case AUD_S24: return 3;
    case AUD_S32: case AUD_F32: return 4;
    case AUD_F64: return 8;
    }
    return 1;
}

/* G.711 expansion to 16-bit linear, ITU-T G.711 (the same integer tables FFmpeg's
 * libavcodec/pcm_tablegen.h builds: alaw2linear / ulaw2linear). */
static int16_t alaw_to_s16(uint8_t a)
{
    a ^= 0x55;
    int t = (a & 0x0f) << 4;
    int seg = (a & 0x70) >> 4;
    if (seg == 0) t += 8;
    else if (seg == 1) t += 0x108;
    else { t += 0x108; t <<= seg - 1; }
    return (int16_t)((a & 0x80) ? t : -t);
}

static int16_t ulaw_to_s16(uint8_t u)
{
    u = (uint8_t)~u;
    int t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

static inline float sanitize(float v)
{
    /* T16: NaN poisons every mel frame; Inf and out-of-range values are clamped. */
    if (!(v == v)) return 0.0f;
    return v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
}

static inline float sample_at(aud_fmt fmt, const uint8_t *p)
{
    switch (fmt) {
    case AUD_U8: return (float)((int)p[0] - 128) * (1.0f / 128.0f);
    case AUD_S16: { int16_t v; memcpy(&v, p, 2); return (float)v * (1.0f / 32768.0f); }
    case AUD_S24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return (float)(v >> 8) * (1.0f / 8388608.0f);
    }
    case AUD_S32: { int32_t v; memcpy(&v, p, 4); return (float)v * (1.0f / 2147483648.0f); }
    case AUD_F32: { float v; memcpy(&v, p, 4); return sanitize(v); }
    case AUD_F64: {
        double v;
        memcpy(&v, p, 8);
        if (!(v == v)) return 0.0f;
        return v > 1.0 ? 1.0f : v < -1.0 ? -1.0f : (float)v;   /* clamp before narrowing */
    }
    case AUD_ALAW: return (float)alaw_to_s16(p[0]) * (1.0f / 32768.0f);
    case AUD_ULAW: return (float)ulaw_to_s16(p[0]) * (1.0f / 32768.0f);
    }
    return 0.0f;
}

void aud_downmix(aud_fmt fmt, const uint8_t *const *planes, int planar, int channels,
                 size_t frames, float *out)
{
    size_t bs = aud_fmt_bytes(fmt);
    /* The common cases get simple loops gcc vectorises (16 kHz mono s16: the daemon's
     * usual input and the empty-audio fast path). */
    if (channels == 1 && fmt == AUD_S16) {
        const uint8_t *p = planes[0];
        for (size_t i = 0; i < frames; i++) {
            int16_t v;
            memcpy(&v, p + 2 * i, 2);
            out[i] = (float)v * (1.0f / 32768.0f);
        }
        return;
    }
    if (channels == 2 && fmt == AUD_S16 && !planar) {
        const uint8_t *p = planes[0];
        for (size_t i = 0; i < frames; i++) {
            int16_t a, b;
            memcpy(&a, p + 4 * i, 2);
            memcpy(&b, p + 4 * i + 2, 2);
            out[i] = ((float)a * (1.0f / 32768.0f) + (float)b * (1.0f / 32768.0f)) * 0.5f;
        }
        return;
    }
    float inv = 1.0f / (float)channels;
    for (size_t i = 0; i < frames; i++) {
        float acc = 0.0f;
        for (int c = 0; c < channels; c++) {
            const uint8_t *p = planar ? planes[c] + i * bs
                                      : planes[0] + (i * (size_t)channels + (size_t)c) * bs;
            float v = sample_at(fmt, p);
            acc = c == 0 ? v : acc + v;
        }
        out[i] = channels == 1 ? acc : acc * inv;
    }
}

/* ------------------------------------------------------------------ sink */

struct aud_sink {
    float *pcm;               /* 16 kHz output */
    size_t n, cap, max;       /* max: hard cap on n */
    int rate;                 /* current source rate, 0 before the first aud_sink_rate */
    SwrContext *swr;          /* NULL when rate == 16000 */
    float *rs;                /* resampler output scratch */
    size_t rs_cap;
    int over;                 /* more than max was offered */
};

aud_sink *aud_sink_new(size_t max_samples)
{
    aud_sink *k = calloc(1, sizeof *k);
    if (k) k->max = max_samples;
    return k;
}

void aud_sink_free(aud_sink *k)
{
    if (!k) return;
#ifndef SP_NO_FFMPEG
    swr_free(&k->swr);
#endif
    free(k->pcm);
    free(k->rs);
    free(k);
}

size_t aud_sink_count(const aud_sink *k) { return k->n; }
double aud_sink_max_seconds(const aud_sink *k) { return (double)k->max / SP_AUDIO_RATE; }

static sp_status append(aud_sink *k, const float *x, size_t n, char *err, size_t err_size)
{
    if (n > k->max - k->n) {
        aud_seterr(err, err_size, "audio longer than the %.0f s limit",
                   (double)k->max / SP_AUDIO_RATE);
        return SP_ERR_TOO_LARGE;
    }
    if (k->n + n > k->cap) {
        /* Growth follows the samples actually decoded, never a header's claim (T15). */
        size_t cap = k->cap ? k->cap : 16384;
        while (cap < k->n + n) cap *= 2;
        if (cap > k->max) cap = k->max;
        float *p = realloc(k->pcm, cap * sizeof *p);
        if (!p) { aud_seterr(err, err_size, "out of memory for decoded audio"); return SP_ERR_NOMEM; }
        k->pcm = p;
        k->cap = cap;
    }
    /* Resampler ringing can overshoot full-scale input slightly: clamp to [-1, 1]. */
    float *o = k->pcm + k->n;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        o[i] = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
    }
    k->n += n;
    return SP_OK;
}

#ifdef SP_NO_FFMPEG
static sp_status resample(aud_sink *k, const float *x, size_t n, char *err, size_t err_size)
{
    (void)k, (void)x, (void)n;
    aud_seterr(err, err_size, "no resampler in a build without FFmpeg");
    return SP_ERR_UNSUPPORTED;
}
#else
/* Runs the resampler on n input samples (x NULL: flush) and appends what comes out. */
static sp_status resample(aud_sink *k, const float *x, size_t n, char *err, size_t err_size)
{
    while (1) {
        size_t chunk = n > 65536 ? 65536 : n;
        int want = swr_get_out_samples(k->swr, (int)chunk);
        if (want < 0) goto swr_fail;
        size_t need = (size_t)want + 64;
        if (need > k->rs_cap) {
            float *p = realloc(k->rs, need * sizeof *p);
            if (!p) { aud_seterr(err, err_size, "out of memory resampling"); return SP_ERR_NOMEM; }
            k->rs = p;
            k->rs_cap = need;
        }
        uint8_t *outp = (uint8_t *)k->rs;
        const uint8_t *inp = (const uint8_t *)x;
        int got = swr_convert(k->swr, &outp, (int)k->rs_cap, x ? &inp : NULL, x ? (int)chunk : 0);
        if (got < 0) goto swr_fail;
        sp_status st = append(k, k->rs, (size_t)got, err, err_size);
        if (st != SP_OK) return st;
        if (!x) {
            if (got == 0) return SP_OK;      /* flushed */
            continue;
        }
        x += chunk;
        n -= chunk;
        if (n == 0) return SP_OK;
    }
swr_fail:
    aud_seterr(err, err_size, "resampler failed (%d Hz -> 16 kHz)", k->rate);
    return SP_ERR_INTERNAL;
}
#endif

sp_status aud_sink_rate(aud_sink *k, int rate, char *err, size_t err_size)
{
    if (rate < AUD_MIN_RATE || rate > AUD_MAX_RATE) {
        aud_seterr(err, err_size, "sample rate %d Hz out of range (%d..%d)", rate,
                   AUD_MIN_RATE, AUD_MAX_RATE);
        return SP_ERR_AUDIO_FORMAT;
    }
    if (rate == k->rate) return SP_OK;
    if (k->swr) {                             /* mid-stream change: drain the old one */
        sp_status st = resample(k, NULL, 0, err, err_size);
        if (st != SP_OK) return st;
#ifndef SP_NO_FFMPEG
        swr_free(&k->swr);
#endif
    }
    k->rate = rate;
    if (rate == SP_AUDIO_RATE) return SP_OK;
#ifdef SP_NO_FFMPEG
    aud_seterr(err, err_size, "%d Hz audio needs resampling, and this build has no FFmpeg (16 kHz WAV only)", rate);
    return SP_ERR_UNSUPPORTED;
#else
    /* libswresample with its soxr engine: a linear-phase low-pass with a stop band that
     * starts at 8 kHz, so nothing above the new Nyquist folds back (issue 6). Downmixing
     * happened before, so this is mono -> mono. */
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    if (swr_alloc_set_opts2(&k->swr, &mono, AV_SAMPLE_FMT_FLT, SP_AUDIO_RATE, &mono,
                            AV_SAMPLE_FMT_FLT, rate, 0, NULL) < 0 || !k->swr)
        goto fail;
    av_opt_set(k->swr, "resampler", "soxr", 0);
    av_opt_set_int(k->swr, "precision", 28, 0);     /* soxr "very high quality" */
    if (swr_init(k->swr) < 0) {
        /* a libswresample built without soxr: fall back to its own filter, long */
        swr_free(&k->swr);
        if (swr_alloc_set_opts2(&k->swr, &mono, AV_SAMPLE_FMT_FLT, SP_AUDIO_RATE, &mono,
                                AV_SAMPLE_FMT_FLT, rate, 0, NULL) < 0 || !k->swr)
            goto fail;
        av_opt_set_int(k->swr, "filter_size", 64, 0);
        av_opt_set_double(k->swr, "cutoff", 0.94, 0);
        if (swr_init(k->swr) < 0) goto fail;
    }
    return SP_OK;
fail:
    swr_free(&k->swr);
    aud_seterr(err, err_size, "cannot set up the resampler (%d Hz -> 16 kHz)", rate);
    return SP_ERR_INTERNAL;
#endif
}

sp_status aud_sink_push(aud_sink *k, const float *x, size_t n, char *err, size_t err_size)
{
    if (n == 0) return SP_OK;
    if (!k->swr) return append(k, x, n, err, err_size);
    /* early cap check in source samples, so a long file is refused before resampling it */
    double est = (double)k->n + (double)n * SP_AUDIO_RATE / k->rate;
    if (est > (double)k->max + 64.0) {
        aud_seterr(err, err_size, "audio longer than the %.0f s limit",
                   (double)k->max / SP_AUDIO_RATE);
        return SP_ERR_TOO_LARGE;
    }
    return resample(k, x, n, err, err_size);
}

sp_status aud_sink_finish(aud_sink *k, float **pcm, size_t *n, char *err, size_t err_size)
{
    if (k->swr) {
        sp_status st = resample(k, NULL, 0, err, err_size);
        if (st != SP_OK) return st;
    }
    if (!k->pcm) {
        k->pcm = malloc(sizeof(float));           /* empty, but a real buffer to free */
        if (!k->pcm) { aud_seterr(err, err_size, "out of memory"); return SP_ERR_NOMEM; }
    }
    *pcm = k->pcm;
    *n = k->n;
    k->pcm = NULL;
    k->n = k->cap = 0;
    return SP_OK;
}
