/* kl_capture.h — microphone capture on its own thread, 16 kHz mono S16.
 *
 * A source (PulseAudio/PipeWire through libpulse-simple, or ALSA; see kl_source.h) is
 * opened by name and read in 20 ms blocks. With a pre-roll (preroll_ms > 0) the source
 * stays open between recordings and its newest preroll_ms are kept in a ring, so a recording
 * begins a little before the key went down and the first word is not clipped. At every
 * kl_capture_start the device name is resolved again (ops.resolve, on the capture thread);
 * when it now names another device (a microphone plugged in or replaced) the source is
 * reopened on it, so each recording uses the device the name means at that moment. With preroll_ms == 0 the
 * source is opened at kl_capture_start and closed at stop (the microphone is idle between
 * recordings). A source that fails is retried every second.
 *
 * Threading: all functions are called from one thread (the loop); the capture thread only
 * touches state under the mutex. */
#ifndef KL_CAPTURE_H
#define KL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#define KL_RATE 16000

typedef struct kl_source kl_source;
typedef struct {
    /* Opens the device named name (NULL: default); 0 or -1 with a message in err. */
    int (*open)(void *ctx, const char *name, kl_source **out, char *err, size_t n);
    /* Reads exactly n samples (blocking); 0 or -1 with a message. */
    int (*read)(kl_source *s, int16_t *buf, size_t n, char *err, size_t en);
    void (*close)(kl_source *s);
    /* Optional: what name currently resolves to (an exact device id); 0 or -1. */
    int (*resolve)(void *ctx, const char *name, char *out, size_t n);
    void *ctx;
    const char *label;      /* "pulse", "alsa", ... for messages */
} kl_source_ops;

typedef struct {
    const char *device;     /* source name; NULL: the default */
    int preroll_ms;
    double max_seconds;     /* a recording is capped at this length */
    double silence_level;   /* RMS (0..1) of a 20 ms block below which it is silence; 0: 0.01 */
    void (*log)(void *u, const char *level, const char *msg);   /* may be NULL */
    void *log_u;
} kl_capture_opts;

typedef struct kl_capture kl_capture;

int kl_capture_new(kl_capture **out, const kl_source_ops *ops, const kl_capture_opts *o,
                   char *err, size_t n);
/* Begins a recording (with the pre-roll kept so far). */
int kl_capture_start(kl_capture *c);
/* Ends the recording; *samples is malloc'd (NULL and 0 when nothing was captured),
 * *preroll the number of pre-roll samples at its start. 1 when the cap was hit. */
int kl_capture_stop(kl_capture *c, int16_t **samples, size_t *n, size_t *preroll);
/* Hands-free: the silence at the end of the current recording, in ms (since its last loud
 * block: at the silence level and 6 dB over the room's noise floor, kl_capture.c), and
 * (*voiced) whether speech began since the start (or the last cut): two loud blocks in a row. */
double kl_capture_silence_ms(kl_capture *c, int *voiced);
/* Continuous mode: hands over what was recorded since the start or the last cut (like
 * kl_capture_stop) and goes on recording. */
int kl_capture_cut(kl_capture *c, int16_t **samples, size_t *n);
/* Chunked dictation: a copy (malloc'd; NULL and 0 when empty) of what was recorded since
 * the start or the last cut, for the chunker to look at while the recording goes on. */
int kl_capture_peek(kl_capture *c, int16_t **samples, size_t *n);
/* Chunked dictation: hands over the first `at` samples since the start or the last cut
 * (*samples malloc'd, *preroll the pre-roll samples among them) and keeps recording; the
 * rest becomes the start of the next chunk. -1 when at is past what was recorded. */
int kl_capture_cut_at(kl_capture *c, size_t at, int16_t **samples, size_t *preroll);
/* While no voice was heard: drops all but the newest keep samples (silence between
 * utterances does not pile up). */
void kl_capture_trim(kl_capture *c, size_t keep);
/* 1 while the source is open and delivering. */
int kl_capture_live(kl_capture *c);
/* Seconds recorded so far (0 when not recording). */
double kl_capture_seconds(kl_capture *c);
void kl_capture_free(kl_capture *c);

#endif
