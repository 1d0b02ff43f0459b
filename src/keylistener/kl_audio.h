/* kl_audio.h — the recording's data structures: the pre-roll ring, the growable sample
 * buffer with a fixed maximum, and a 16-bit PCM WAV writer.
 * Functions return 0 on success, -1 on failure (errno set). Not thread-safe. */
#ifndef KL_AUDIO_H
#define KL_AUDIO_H

#include <stddef.h>
#include <stdint.h>

/* Keeps the newest cap samples. */
typedef struct {
    int16_t *buf;
    size_t cap, head, len;     /* head: next write position */
} kl_ring;

int kl_ring_init(kl_ring *r, size_t cap);
void kl_ring_deinit(kl_ring *r);
void kl_ring_push(kl_ring *r, const int16_t *s, size_t n);
/* Copies the kept samples, oldest first, into out (room for r->len); returns the count. */
size_t kl_ring_copy(const kl_ring *r, int16_t *out);
void kl_ring_clear(kl_ring *r);

/* Growable buffer; appends past max samples are dropped and set full. */
typedef struct {
    int16_t *buf;
    size_t len, cap, max;
    int full;
} kl_pcm;

void kl_pcm_init(kl_pcm *p, size_t max);
int kl_pcm_append(kl_pcm *p, const int16_t *s, size_t n);
void kl_pcm_deinit(kl_pcm *p);

/* Writes a canonical 44-byte-header WAV (PCM 16-bit, channels 1) to fd. */
int kl_wav_write_fd(int fd, const int16_t *s, size_t n, unsigned rate);
/* Creates path (O_EXCL, 0600, no symlinks) and writes the WAV; the file is removed on error. */
int kl_wav_write(const char *path, const int16_t *s, size_t n, unsigned rate);
/* Peak and RMS on the -1..1 scale. */
void kl_pcm_level(const int16_t *s, size_t n, double *peak, double *rms);

#endif
