/* ss_worker.c — see ss_worker.h. */
#include "daemon/ss_worker.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/ss_clock.h"
#include "speech_audio.h"

ss_job *ss_job_new(const ss_request *req, double max_seconds, long long max_bytes)
{
    ss_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->audio_file = strdup(req->audio_file ? req->audio_file : "");
    memcpy(j->req_language, req->language, sizeof j->req_language);
    j->translate = req->translate;
    j->has_temperature = req->has_temperature;
    j->temperature = (float)req->temperature;
    if (req->prompt) j->prompt = strdup(req->prompt);
    if (req->hotwords) j->hotwords = strdup(req->hotwords);
    j->audio_ctx = req->audio_ctx;
    j->max_seconds = max_seconds;
    j->max_bytes = max_bytes;
    if (!j->audio_file || (req->prompt && !j->prompt) || (req->hotwords && !j->hotwords)) {
        ss_job_free(j);
        return NULL;
    }
    return j;
}

void ss_job_free(ss_job *j)
{
    if (!j) return;
    for (int i = 0; i < j->n_texts; i++) free(j->texts[i]);
    free(j->texts);
    free(j->starts);
    free(j->ends);
    free(j->audio_file);
    free(j->prompt);
    free(j->hotwords);
    free(j);
}

/* ------------------------------------------------------------------ one job, by phase */

/* Cheap refusals first, without opening anything (T12); sp_audio_load checks again on its
 * own descriptor. Returns 0 when the file may be decoded. */
static int precheck(ss_job *j)
{
    struct stat st;
    if (lstat(j->audio_file, &st) != 0) {
        int e = errno;
        j->code = e == ENOENT || e == ENOTDIR ? SS_E_AUDIO_NOT_FOUND : SS_E_AUDIO_IO;
        if (e == ENOENT || e == ENOTDIR)
            snprintf(j->err, sizeof j->err, "Audio file not found: %s", j->audio_file);
        else
            snprintf(j->err, sizeof j->err, "Audio file %s: %s", j->audio_file, strerror(e));
        return -1;
    }
    if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
        j->code = SS_E_AUDIO_REFUSED;
        snprintf(j->err, sizeof j->err, "Audio file refused (%s): %s",
                 S_ISLNK(st.st_mode) ? "symlink" : S_ISDIR(st.st_mode) ? "directory"
                 : S_ISFIFO(st.st_mode) ? "FIFO" : "not a regular file", j->audio_file);
        return -1;
    }
    if (j->max_bytes > 0 && (long long)st.st_size > j->max_bytes) {
        j->code = SS_E_AUDIO_TOO_LONG;
        snprintf(j->err, sizeof j->err, "Audio file larger than %lld bytes: %s", j->max_bytes,
                 j->audio_file);
        return -1;
    }
    return 0;
}

/* The audio as 16 kHz mono samples, decoded in the sandbox (or in-process with isolation
 * off). Returns 0 with *pcm, or -1 with the job's code/err (or cancelled) set. */
static int decode(ss_worker *w, ss_job *j, float **pcm, size_t *n)
{
    if (w->isolate) {
        ss_dec_detail det;
        ss_dec_outcome oc = ss_decoder_load(&w->dec, j->audio_file, j->max_seconds,
                                            &w->cancel, pcm, n, &det);
        if (oc == SS_DEC_OK) return 0;
        if (oc == SS_DEC_CANCELLED) j->cancelled = 1;
        j->code = ss_decoder_error(&w->dec, oc, &det, j->audio_file, j->err, sizeof j->err);
        return -1;
    }
    char err[512] = "";
    sp_status s = sp_audio_load(j->audio_file, SP_AUDIO_NOFOLLOW | SP_AUDIO_OWNER_ONLY,
                                j->max_seconds, pcm, n, NULL, err, sizeof err);
    if (s == SP_OK) return 0;
    j->code = ss_audio_error_code(s);
    snprintf(j->err, sizeof j->err, "Audio file %s: %s", j->audio_file,
             err[0] ? err : sp_status_str(s));
    return -1;
}

/* As the original daemon: the stripped, non-empty segment texts, with their times. */
static void collect_segments(ss_job *j, const sp_result *res)
{
    if (res->n_segments <= 0) return;
    snprintf(j->language, sizeof j->language, "%s", res->language);
    j->texts = calloc((size_t)res->n_segments, sizeof *j->texts);
    j->starts = calloc((size_t)res->n_segments, sizeof *j->starts);
    j->ends = calloc((size_t)res->n_segments, sizeof *j->ends);
    if (!j->texts || !j->starts || !j->ends) {
        j->code = SS_E_INTERNAL;
        snprintf(j->err, sizeof j->err, "out of memory");
        return;
    }
    for (int i = 0; i < res->n_segments; i++) {
        const char *t = res->segments[i].text ? res->segments[i].text : "";
        while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
        size_t len = strlen(t);
        while (len && (t[len - 1] == ' ' || t[len - 1] == '\t' || t[len - 1] == '\n' ||
                       t[len - 1] == '\r'))
            len--;
        if (!len) continue;
        char *c = strndup(t, len);
        if (!c) continue;
        j->starts[j->n_texts] = res->segments[i].start;
        j->ends[j->n_texts] = res->segments[i].end;
        j->texts[j->n_texts++] = c;
    }
}

static void transcribe(ss_worker *w, ss_job *j, const float *pcm, size_t n)
{
    sp_transcribe_params tp = sp_transcribe_default_params();
    tp.cancel = &w->cancel;
    if (w->beam_size > 0) tp.beam_size = w->beam_size;
    if (w->language) tp.language = w->language;
    /* The original daemon decoded at temperature 0 only (faster-whisper with
     * temperature=0): no fallback ladder unless asked for. */
    static const float temp0[1] = {0.0f};
    if (!w->temperature_fallback) { tp.temperatures = temp0; tp.n_temperatures = 1; }
    /* this request's options; tp is per job, so nothing carries over to the next one */
    if (j->req_language[0]) tp.language = j->req_language;   /* "auto": detect */
    tp.translate = j->translate;
    if (w->initial_prompt) tp.initial_prompt = w->initial_prompt;
    if (w->hotwords) tp.hotwords = w->hotwords;
    tp.audio_ctx = w->audio_ctx;
    if (j->prompt) tp.initial_prompt = j->prompt;
    if (j->hotwords) tp.hotwords = j->hotwords;
    if (j->audio_ctx) tp.audio_ctx = j->audio_ctx;
    float treq[1] = {j->temperature};   /* > 0: sampling, best_of candidates */
    if (j->has_temperature) { tp.temperatures = treq; tp.n_temperatures = 1; }
    tp.vad = w->vad;
    tp.vad_model = w->vad_model;
    sp_result *res = NULL;
    char err[512] = "";
    sp_status s = sp_transcribe(w->ctx, pcm, n, &tp, &res, err, sizeof err);
    sp_context_device_info(w->ctx, &j->dev);
    if (s == SP_ERR_CANCELLED) {
        j->cancelled = 1;
    } else if (s == SP_ERR_INVALID_ARG && j->req_language[0]) {
        /* e.g. a valid code this model has no token for ("yue" on older models) */
        j->code = SS_E_BAD_REQUEST;
        snprintf(j->err, sizeof j->err, "Request options refused: %s",
                 err[0] ? err : sp_status_str(s));
    } else if (s == SP_ERR_DEVICE) {   /* the GPU failed and the CPU could not take over */
        j->code = SS_E_DEVICE;
        snprintf(j->err, sizeof j->err, "GPU failure: %s", err[0] ? err : sp_status_str(s));
    } else if (s != SP_OK) {
        j->code = SS_E_TRANSCRIBE;
        snprintf(j->err, sizeof j->err, "Transcription failed: %s",
                 err[0] ? err : sp_status_str(s));
    } else {
        collect_segments(j, res);
    }
    sp_result_free(res);
}

static void run_job(ss_worker *w, ss_job *j)
{
    double t0 = ss_mono_now();
    float *pcm = NULL;
    size_t n = 0;
    if (precheck(j) != 0 || decode(w, j, &pcm, &n) != 0) goto cleanup;
    j->audio_s = (double)n / SP_AUDIO_RATE;
    if (!sp_audio_is_empty(pcm, n)) transcribe(w, j, pcm, n);
cleanup:
    free(pcm);
    j->proc_ms = (ss_mono_now() - t0) * 1000.0;
}

/* ------------------------------------------------------------------ the thread */

static void *worker_main(void *arg)
{
    ss_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit) break;
        ss_job *j = w->pending;
        pthread_mutex_unlock(&w->mu);
        run_job(w, j);
        pthread_mutex_lock(&w->mu);
        w->pending = NULL;
        uint64_t one = 1;
        if (write(w->evfd, &one, sizeof one) < 0) { /* eventfd cannot fill up */ }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int ss_worker_init(ss_worker *w)
{
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return w->evfd < 0 ? -1 : 0;
}

int ss_worker_start(ss_worker *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        return -1;
    }
    w->started = 1;
    return 0;
}

void ss_worker_submit(ss_worker *w, ss_job *j)
{
    pthread_mutex_lock(&w->mu);
    w->cancel = 0;
    w->pending = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int ss_worker_done(ss_worker *w)
{
    uint64_t v;
    if (read(w->evfd, &v, sizeof v) < 0) return 0;
    pthread_mutex_lock(&w->mu);
    int busy = w->pending != NULL;
    pthread_mutex_unlock(&w->mu);
    return !busy;
}

void ss_worker_cancel(ss_worker *w)
{
    w->cancel = 1;
}

void ss_worker_stop(ss_worker *w)
{
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        w->cancel = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        w->started = 0;
    }
    if (w->evfd >= 0) close(w->evfd);
    w->evfd = -1;
}
