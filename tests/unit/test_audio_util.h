/* test_audio_util.h — helpers shared by the audio tests: a WAV builder for hand-made edge
 * cases, temp dirs, running sox/ffmpeg/espeak-ng, simple signal measures. */
#ifndef TEST_AUDIO_UTIL_H
#define TEST_AUDIO_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "speech_audio.h"

typedef struct { uint8_t *p; size_t n, cap; } tb_buf;

static inline void tb_put(tb_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void tb_u16(tb_buf *b, unsigned v) { uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; tb_put(b, x, 2); }
static inline void tb_u32(tb_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    tb_put(b, x, 4);
}

typedef struct {
    unsigned tag, ch, rate, bits, align;  /* align 0: ch * bytes */
    unsigned ext_tag;                     /* != 0: WAVE_FORMAT_EXTENSIBLE with this sub-format */
    unsigned valid_bits;
    int data_size_override;               /* 1: use data_size below */
    uint32_t data_size;
} tb_wav;

/* RIFF/WAVE with fmt then data. */
static inline tb_buf tb_wav_make(tb_wav w, const void *data, size_t nbytes)
{
    tb_buf b = { 0 };
    unsigned bytes = (w.bits + 7) / 8;
    unsigned align = w.align ? w.align : w.ch * bytes;
    tb_put(&b, "RIFF", 4);
    tb_u32(&b, (uint32_t)(4 + 8 + (w.ext_tag ? 40 : 16) + 8 + nbytes));
    tb_put(&b, "WAVEfmt ", 8);
    tb_u32(&b, w.ext_tag ? 40 : 16);
    tb_u16(&b, w.ext_tag ? 0xFFFE : w.tag);
    tb_u16(&b, w.ch);
    tb_u32(&b, w.rate);
    tb_u32(&b, w.rate * align);
    tb_u16(&b, align);
    tb_u16(&b, w.bits);
    if (w.ext_tag) {
        static const uint8_t tail[14] = { 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71 };
        tb_u16(&b, 22);
        tb_u16(&b, w.valid_bits ? w.valid_bits : w.bits);
        tb_u32(&b, 0);
        tb_u16(&b, w.ext_tag);
        tb_put(&b, tail, 14);
    }
    tb_put(&b, "data", 4);
    tb_u32(&b, w.data_size_override ? w.data_size : (uint32_t)nbytes);
    if (nbytes) tb_put(&b, data, nbytes);
    return b;
}

static inline tb_buf tb_wav_s16(unsigned rate, unsigned ch, const int16_t *s, size_t n)
{
    tb_wav w = { .tag = 1, .ch = ch, .rate = rate, .bits = 16 };
    return tb_wav_make(w, s, n * 2);
}

static char tb_dir[256];
static const char *tb_tmpdir(void)
{
    if (!tb_dir[0]) {
        snprintf(tb_dir, sizeof tb_dir, "/tmp/sp-audio-test.XXXXXX");
        if (!mkdtemp(tb_dir)) abort();
    }
    return tb_dir;
}
static inline void tb_cleanup(void)
{
    if (tb_dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tb_dir);
        if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    }
}
static const char *tb_path(const char *name)
{
    static char p[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", tb_tmpdir(), name);
    return p[i];
}
static inline int tb_write(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(d, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}
static inline int tb_have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}
static inline int tb_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static inline int tb_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0) fprintf(stderr, "  command failed (%d): %s\n", r, cmd);
    return r;
}

static inline double tb_rms(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}
/* amplitude of the component at f Hz (Goertzel-style projection) */
static inline double tb_tone(const float *x, size_t n, double f, double rate)
{
    double re = 0, im = 0;
    for (size_t i = 0; i < n; i++) {
        re += x[i] * cos(2 * M_PI * f * (double)i / rate);
        im += x[i] * sin(2 * M_PI * f * (double)i / rate);
    }
    return n ? 2.0 * sqrt(re * re + im * im) / (double)n : 0;
}
/* best normalised cross-correlation of a against b over lags -maxlag..maxlag */
static inline double tb_xcorr(const float *a, size_t na, const float *b, size_t nb, int maxlag, int *best)
{
    double bestc = -2;
    for (int lag = -maxlag; lag <= maxlag; lag += 1) {
        double sab = 0, saa = 0, sbb = 0;
        for (size_t i = 0; i < na; i += 4) {
            long j = (long)i + lag;
            if (j < 0 || (size_t)j >= nb) continue;
            sab += (double)a[i] * b[j];
            saa += (double)a[i] * a[i];
            sbb += (double)b[j] * b[j];
        }
        double c = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        if (c > bestc) { bestc = c; if (best) *best = lag; }
    }
    return bestc;
}
static inline int tb_load(const char *path, float **pcm, size_t *n, sp_audio_info *info)
{
    char err[256] = "";
    sp_status st = sp_audio_load(path, 0, 0, pcm, n, info, err, sizeof err);
    if (st != SP_OK) fprintf(stderr, "  load %s: %s\n", path, err);
    return st;
}
#endif
