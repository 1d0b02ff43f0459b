/* kl_audio.c — see kl_audio.h. WAV layout: the canonical RIFF/WAVE "fmt " + "data" chunks,
 * little-endian (http://soundfile.sapp.org/doc/WaveFormat/). */
#include "keylistener/kl_audio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kl_ring_init(kl_ring *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (!cap) return 0;
    r->buf = malloc(cap * sizeof *r->buf);
    if (!r->buf) return -1;
    r->cap = cap;
    return 0;
}

void kl_ring_deinit(kl_ring *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

void kl_ring_clear(kl_ring *r) { r->head = r->len = 0; }

void kl_ring_push(kl_ring *r, const int16_t *s, size_t n)
{
    if (!r->cap) return;
    if (n >= r->cap) {           /* only the newest cap samples matter */
        memcpy(r->buf, s + (n - r->cap), r->cap * sizeof *s);
        r->head = 0;
        r->len = r->cap;
        return;
    }
    size_t first = r->cap - r->head < n ? r->cap - r->head : n;
    memcpy(r->buf + r->head, s, first * sizeof *s);
    memcpy(r->buf, s + first, (n - first) * sizeof *s);
    r->head = (r->head + n) % r->cap;
    r->len = r->len + n > r->cap ? r->cap : r->len + n;
}

size_t kl_ring_copy(const kl_ring *r, int16_t *out)
{
    if (!r->len) return 0;
    size_t start = (r->head + r->cap - r->len) % r->cap;
    size_t first = r->cap - start < r->len ? r->cap - start : r->len;
    memcpy(out, r->buf + start, first * sizeof *out);
    memcpy(out + first, r->buf, (r->len - first) * sizeof *out);
    return r->len;
}

void kl_pcm_init(kl_pcm *p, size_t max)
{
    memset(p, 0, sizeof *p);
    p->max = max;
}

int kl_pcm_append(kl_pcm *p, const int16_t *s, size_t n)
{
    if (n > p->max - p->len) {
        n = p->max - p->len;
        p->full = 1;
    }
    if (p->len + n > p->cap) {
        size_t c = p->cap ? p->cap : 16000;
        while (c < p->len + n) c *= 2;
        if (c > p->max) c = p->max;
        int16_t *b = realloc(p->buf, c * sizeof *b);
        if (!b) return -1;
        p->buf = b;
        p->cap = c;
    }
    if (n) memcpy(p->buf + p->len, s, n * sizeof *s);
    p->len += n;
    return 0;
}

void kl_pcm_deinit(kl_pcm *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

static void le16(unsigned char *b, unsigned v) { b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int kl_wav_write_fd(int fd, const int16_t *s, size_t n, unsigned rate)
{
    if (n > (UINT32_MAX - 36) / 2) { errno = EFBIG; return -1; }
    unsigned char h[44];
    uint32_t data = (uint32_t)(n * 2);
    memcpy(h, "RIFF", 4); le32(h + 4, 36 + data); memcpy(h + 8, "WAVE", 4);
    memcpy(h + 12, "fmt ", 4); le32(h + 16, 16); le16(h + 20, 1); le16(h + 22, 1);
    le32(h + 24, rate); le32(h + 28, rate * 2); le16(h + 32, 2); le16(h + 34, 16);
    memcpy(h + 36, "data", 4); le32(h + 40, data);
    if (write_all(fd, h, sizeof h)) return -1;
    unsigned char buf[8192];
    size_t i = 0;
    while (i < n) {
        size_t m = 0;
        for (; i < n && m + 2 <= sizeof buf; i++, m += 2) le16(buf + m, (uint16_t)s[i]);
        if (write_all(fd, buf, m)) return -1;
    }
    return 0;
}

int kl_wav_write(const char *path, const int16_t *s, size_t n, unsigned rate)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    int r = kl_wav_write_fd(fd, s, n, rate), e = errno;
    if (close(fd) != 0 && r == 0) { r = -1; e = errno; }
    if (r != 0) {
        unlink(path);
        errno = e;
    }
    return r;
}

void kl_pcm_level(const int16_t *s, size_t n, double *peak, double *rms)
{
    double pk = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(s[i] / 32768.0);
        if (v > pk) pk = v;
        sum += v * v;
    }
    *peak = pk;
    *rms = n ? sqrt(sum / (double)n) : 0;
}
