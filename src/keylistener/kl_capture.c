/* kl_capture.c — see kl_capture.h. */
#include "keylistener/kl_capture.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keylistener/kl_audio.h"

#define BLOCK (KL_RATE / 50)   /* 20 ms */

struct kl_capture {
    kl_source_ops ops;
    kl_capture_opts o;
    char *device;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit, recording, reopen, live, check;
    char opened_as[512];
    kl_ring ring;
    kl_pcm pcm;
    size_t preroll;
    int voiced;             /* speech heard since start/cut: ONSET_BLOCKS loud blocks in a row */
    int loud_run;           /* loud blocks in a row, until voiced */
    size_t voice_end;       /* pcm.len after the last loud block */
    double floor;           /* the room's noise: pre-emphasized block RMS, a rising minimum */
    int16_t last;           /* the last sample, for the pre-emphasis across blocks */
};

/* A block is loud (sound, not silence: --auto-stop, --continuous) when its RMS reaches the
 * silence level AND its pre-emphasized RMS stands FLOOR_MARGIN above the room's noise floor
 * (the lowest pre-emphasized block RMS, rising FLOOR_RISE per block - 1.5 dB/s - so that it
 * follows a noise that gets louder). The fixed level alone took noise at or above it for
 * speech (a live audit: pink or brown noise at -30 dBFS, and the recording never stopped;
 * noise near -40 dBFS stopped one that had heard no word, 1.9 s after start). Pre-emphasis
 * (x[i] - 0.95 x[i-1]) flattens brown noise, whose low-frequency swings had passed the margin
 * on 21 % of its blocks. Measured on blocks of the 41 s espeak-ng file of real_speech.sh alone
 * and with pink noise at -30/-40 dBFS or brown at -30 dBFS added (scratch simulation of this
 * rule, --auto-stop 800 --continuous): a cut in every one of the 8 sentence pauses and none
 * elsewhere; pink, white and brown noise alone at -30/-40 dBFS: no loud block. A quiet room
 * keeps the level's rule (the floor is far below it). Speech begins with ONSET_BLOCKS loud
 * blocks in a row: a click is not a first word. */
#define FLOOR_RISE 1.003460   /* 10^(1.5 / 20 / 50) */
#define FLOOR_MARGIN 2.0      /* 6 dB */
#define FLOOR_MIN 1e-5        /* -100 dBFS: a floor of digital silence can still rise */
#define ONSET_BLOCKS 2

/* 1 when the block is loud (above). Its RMS around its mean: a microphone with a DC offset
 * of the level or more (cheap USB sound cards) had never had a silent block, so --auto-stop
 * never fired and live chunks were never cut. Updates the floor. */
static int loud(kl_capture *c, const int16_t *b, size_t n, double level)
{
    double sum = 0, sq = 0, esum = 0, esq = 0;
    double prev = c->last;
    for (size_t i = 0; i < n; i++) {
        const double x = b[i], e = x - 0.95 * prev;
        sum += x;
        sq += x * x;
        esum += e;
        esq += e * e;
        prev = x;
    }
    c->last = b[n - 1];
    const double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    const double emean = esum / (double)n, erms = sqrt(fmax(esq / (double)n - emean * emean, 0)) / 32768.0;
    const double fl = c->floor;
    c->floor = c->floor <= 0 || erms < c->floor ? fmax(erms, FLOOR_MIN) : c->floor * FLOOR_RISE;
    return var >= level * level * 32768.0 * 32768.0 && (fl <= 0 || erms >= fl * FLOOR_MARGIN);
}

static void logf_(kl_capture *c, const char *level, const char *fmt, const char *a, const char *b)
{
    if (!c->o.log) return;
    char m[1200];
    snprintf(m, sizeof m, fmt, a, b);
    c->o.log(c->o.log_u, level, m);
}

/* Waits on cv until woken or s seconds passed. Called with mu held. */
static void wait_s(kl_capture *c, double s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)s;
    ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static void *run(void *arg)
{
    kl_capture *c = arg;
    kl_source *src = NULL;
    int16_t block[BLOCK];
    char err[512];
    int failing = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->quit) {
        int want = c->o.preroll_ms > 0 || c->recording;
        if (src && (!want || c->reopen)) {
            c->reopen = 0;
            c->live = 0;
            pthread_mutex_unlock(&c->mu);
            c->ops.close(src);
            src = NULL;
            pthread_mutex_lock(&c->mu);
            kl_ring_clear(&c->ring);
            continue;
        }
        if (!want) { wait_s(c, 1.0); continue; }
        if (!src) {
            c->reopen = 0;
            c->check = 0;
            pthread_mutex_unlock(&c->mu);
            char as[512] = "";
            if (c->ops.resolve) c->ops.resolve(c->ops.ctx, c->device, as, sizeof as);
            int r = c->ops.open(c->ops.ctx, c->device, &src, err, sizeof err);
            pthread_mutex_lock(&c->mu);
            snprintf(c->opened_as, sizeof c->opened_as, "%s", as);
            if (r != 0) {
                src = NULL;
                if (!failing) logf_(c, "ERROR", "%s capture: %s (retrying every second)", c->ops.label, err);
                failing = 1;
                wait_s(c, 1.0);
                continue;
            }
            logf_(c, "INFO", failing ? "%s capture: %s open again" : "%s capture: %s open",
                  c->ops.label, as[0] ? as : c->device ? c->device : "default source");
            failing = 0;
            c->live = 1;
            continue;
        }
        if (c->check && c->ops.resolve) {   /* re-resolve the name for this recording */
            c->check = 0;
            pthread_mutex_unlock(&c->mu);
            char now[512] = "";
            int rr = c->ops.resolve(c->ops.ctx, c->device, now, sizeof now);
            pthread_mutex_lock(&c->mu);
            if (rr == 0 && strcmp(now, c->opened_as)) {
                logf_(c, "INFO", "capture: the source name now means %s (was %s): reopening", now,
                      c->opened_as[0] ? c->opened_as : "-");
                c->reopen = 1;
                continue;
            }
        }
        pthread_mutex_unlock(&c->mu);
        int r = c->ops.read(src, block, BLOCK, err, sizeof err);
        pthread_mutex_lock(&c->mu);
        if (r != 0) {
            logf_(c, "ERROR", "%s capture: %s (reopening)", c->ops.label, err);
            c->reopen = 1;
            failing = 1;
            continue;
        }
        const int is_loud = loud(c, block, BLOCK, c->o.silence_level > 0 ? c->o.silence_level : 0.01);
        if (c->recording) {
            kl_pcm_append(&c->pcm, block, BLOCK);
            c->loud_run = is_loud ? c->loud_run + 1 : 0;
            if (c->loud_run >= ONSET_BLOCKS) c->voiced = 1;
            if (is_loud && c->voiced) c->voice_end = c->pcm.len;
        } else {
            kl_ring_push(&c->ring, block, BLOCK);
        }
    }
    c->live = 0;
    pthread_mutex_unlock(&c->mu);
    if (src) c->ops.close(src);
    return NULL;
}

int kl_capture_new(kl_capture **out, const kl_source_ops *ops, const kl_capture_opts *o,
                   char *err, size_t n)
{
    *out = NULL;
    kl_capture *c = calloc(1, sizeof *c);
    if (!c) { snprintf(err, n, "out of memory"); return -1; }
    c->ops = *ops;
    c->o = *o;
    if (o->device && !(c->device = strdup(o->device))) goto oom;
    size_t pre = (size_t)(o->preroll_ms > 0 ? o->preroll_ms : 0) * KL_RATE / 1000;
    pre = (pre + BLOCK - 1) / BLOCK * BLOCK;
    if (kl_ring_init(&c->ring, pre) != 0) goto oom;
    double maxs = o->max_seconds > 0 ? o->max_seconds : 600;
    kl_pcm_init(&c->pcm, (size_t)(maxs * KL_RATE) + pre);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int e = pthread_create(&c->th, NULL, run, c);
    if (e) {
        snprintf(err, n, "cannot start the capture thread: %s", strerror(e));
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        kl_ring_deinit(&c->ring);
        free(c->device);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
oom:
    snprintf(err, n, "out of memory");
    free(c->device);
    free(c);
    return -1;
}

int kl_capture_start(kl_capture *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->recording) { pthread_mutex_unlock(&c->mu); return 0; }
    kl_pcm_deinit(&c->pcm);
    double maxs = c->o.max_seconds > 0 ? c->o.max_seconds : 600;
    kl_pcm_init(&c->pcm, (size_t)(maxs * KL_RATE) + c->ring.cap);
    int r = 0;
    c->preroll = 0;
    if (c->ring.len) {
        int16_t *tmp = malloc(c->ring.len * sizeof *tmp);
        if (tmp) {
            c->preroll = kl_ring_copy(&c->ring, tmp);
            r = kl_pcm_append(&c->pcm, tmp, c->preroll);
            free(tmp);
        }
        kl_ring_clear(&c->ring);
    }
    c->recording = 1;
    c->check = 1;
    c->voiced = 0;
    c->loud_run = 0;
    c->voice_end = 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return r;
}

int kl_capture_stop(kl_capture *c, int16_t **samples, size_t *n, size_t *preroll)
{
    pthread_mutex_lock(&c->mu);
    int full = c->pcm.full;
    *samples = c->pcm.len ? c->pcm.buf : NULL;
    *n = c->pcm.len;
    if (preroll) *preroll = c->preroll;
    if (!*samples) free(c->pcm.buf);
    memset(&c->pcm, 0, sizeof c->pcm);
    c->recording = 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return full;
}

double kl_capture_silence_ms(kl_capture *c, int *voiced)
{
    pthread_mutex_lock(&c->mu);
    *voiced = c->recording && c->voiced;
    double ms = c->recording ? (double)(c->pcm.len - (c->voiced ? c->voice_end : 0)) * 1000 / KL_RATE : 0;
    pthread_mutex_unlock(&c->mu);
    return ms;
}

int kl_capture_cut(kl_capture *c, int16_t **samples, size_t *n)
{
    pthread_mutex_lock(&c->mu);
    int full = c->pcm.full;
    *samples = c->pcm.len ? c->pcm.buf : NULL;
    *n = c->pcm.len;
    if (!*samples) free(c->pcm.buf);
    size_t max = c->pcm.max;
    kl_pcm_init(&c->pcm, max);
    c->preroll = 0;
    c->voiced = 0;
    c->loud_run = 0;
    c->voice_end = 0;
    pthread_mutex_unlock(&c->mu);
    return full;
}

int kl_capture_peek(kl_capture *c, int16_t **samples, size_t *n)
{
    pthread_mutex_lock(&c->mu);
    size_t len = c->recording ? c->pcm.len : 0;
    int16_t *copy = len ? malloc(len * sizeof *copy) : NULL;
    if (copy) memcpy(copy, c->pcm.buf, len * sizeof *copy);
    pthread_mutex_unlock(&c->mu);
    *samples = copy;
    *n = copy ? len : 0;
    return len && !copy ? -1 : 0;
}

int kl_capture_cut_at(kl_capture *c, size_t at, int16_t **samples, size_t *preroll)
{
    *samples = NULL;
    pthread_mutex_lock(&c->mu);
    int16_t *head = at && at <= c->pcm.len ? malloc(at * sizeof *head) : NULL;
    if (!head) { pthread_mutex_unlock(&c->mu); return -1; }
    memcpy(head, c->pcm.buf, at * sizeof *head);
    memmove(c->pcm.buf, c->pcm.buf + at, (c->pcm.len - at) * sizeof *c->pcm.buf);
    c->pcm.len -= at;
    c->pcm.full = 0;   /* the cap applies to each chunk from now on */
    if (preroll) *preroll = c->preroll < at ? c->preroll : at;
    c->preroll = c->preroll > at ? c->preroll - at : 0;
    c->voice_end = c->voice_end > at ? c->voice_end - at : 0;
    pthread_mutex_unlock(&c->mu);
    *samples = head;
    return 0;
}

void kl_capture_trim(kl_capture *c, size_t keep)
{
    pthread_mutex_lock(&c->mu);
    if (c->recording && !c->voiced && c->pcm.len > keep) {
        memmove(c->pcm.buf, c->pcm.buf + (c->pcm.len - keep), keep * sizeof *c->pcm.buf);
        c->pcm.len = keep;
        c->pcm.full = 0;
        c->preroll = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

int kl_capture_live(kl_capture *c)
{
    pthread_mutex_lock(&c->mu);
    int l = c->live;
    pthread_mutex_unlock(&c->mu);
    return l;
}

double kl_capture_seconds(kl_capture *c)
{
    pthread_mutex_lock(&c->mu);
    double s = c->recording ? (double)(c->pcm.len - c->preroll) / KL_RATE : 0;
    pthread_mutex_unlock(&c->mu);
    return s;
}

void kl_capture_free(kl_capture *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->quit = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    kl_ring_deinit(&c->ring);
    kl_pcm_deinit(&c->pcm);
    free(c->device);
    free(c);
}
