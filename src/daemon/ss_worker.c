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

#include "common/utf8.h"
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
    memcpy(j->languages, req->languages, sizeof j->languages);
    j->batch = req->priority == SS_PRIO_BATCH;
    j->stream = req->stream;
    j->word_timestamps = req->word_timestamps;
    sp_dynbuf_init(&j->lines, SP_DYNBUF_NOCAP);
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
    for (int i = 0; i < j->n_texts; i++) {
        free(j->texts[i]);
        for (int k = 0; j->words && k < j->n_words[i]; k++) free(j->words[i][k].text);
        if (j->words) free(j->words[i]);
        if (j->decode) free(j->decode[i].tokens);
    }
    free(j->texts);
    free(j->decode);
    free(j->words);
    free(j->n_words);
    sp_dynbuf_free(&j->lines);
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
        j->code = e == ENOENT || e == ENOTDIR ? SS_E_AUDIO_NOT_FOUND
                  : e == ENAMETOOLONG ? SS_E_AUDIO_REFUSED : SS_E_AUDIO_IO;
        if (e == ENOENT || e == ENOTDIR)
            snprintf(j->err, sizeof j->err, "Audio file not found: %s", j->audio_file);
        else if (e == ENAMETOOLONG)   /* a component over NAME_MAX: refused as over-long
                                       * paths are (docs/daemon.md), not an I/O error */
            snprintf(j->err, sizeof j->err, "Audio file refused (a name in its path is too "
                     "long): %s", j->audio_file);
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
                                            &j->cancel, pcm, n, &det);
        if (oc == SS_DEC_OK) {
            j->truncated = det.truncated;
            return 0;
        }
        if (oc == SS_DEC_CANCELLED) j->cancelled = 1;
        j->code = ss_decoder_error(&w->dec, oc, &det, j->audio_file, j->err, sizeof j->err);
        return -1;
    }
    char err[512] = "";
    sp_audio_info info;
    sp_status s = sp_audio_load(j->audio_file, SP_AUDIO_NOFOLLOW | SP_AUDIO_OWNER_ONLY,
                                j->max_seconds, pcm, n, &info, err, sizeof err);
    if (s == SP_OK) {
        j->truncated = info.truncated;
        return 0;
    }
    j->code = ss_audio_error_code(s);
    snprintf(j->err, sizeof j->err, "Audio file %s: %s", j->audio_file,
             err[0] ? err : sp_status_str(s));
    return -1;
}

/* As the original daemon: a segment's text stripped of surrounding white space; *len 0
 * means the segment is not kept (not in "results", no "i" in the partial file). */
static const char *stripped(const char *t, size_t *len)
{
    if (!t) t = "";
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
    size_t l = strlen(t);
    while (l && (t[l - 1] == ' ' || t[l - 1] == '\t' || t[l - 1] == '\n' || t[l - 1] == '\r'))
        l--;
    *len = l;
    return t;
}

/* A deep copy of a segment's words (NULL when it has none or out of memory). */
static sp_word *copy_words(const sp_segment *s)
{
    if (s->n_words <= 0) return NULL;
    sp_word *w = calloc((size_t)s->n_words, sizeof *w);
    for (int k = 0; w && k < s->n_words; k++) {
        w[k] = s->words[k];
        w[k].text = strdup(s->words[k].text ? s->words[k].text : "");
    }
    return w;
}

/* How s was decoded, for the response (tokens malloc'd; NULL when out of memory, and then
 * an empty list: the text and times matter more than the ids). */
static ss_seg_decode decode_of(const sp_segment *s)
{
    ss_seg_decode d = {
        .seek = s->seek, .temperature = s->temperature, .avg_logprob = s->avg_logprob,
        .compression_ratio = s->compression_ratio, .no_speech_prob = s->no_speech_prob,
    };
    /* what stripped() takes off the front, for clients that want Whisper's own text back
     * (OpenAI's verbose_json segments begin with it; joined without it, "one.Two") */
    for (size_t k = 0; s->text && k + 1 < sizeof d.lead && s->text[k] && strchr(" \t\n\r", s->text[k]); k++)
        d.lead[k] = s->text[k];
    if (s->n_tokens > 0 && (d.tokens = malloc(sizeof *d.tokens * (size_t)s->n_tokens))) {
        for (int k = 0; k < s->n_tokens; k++) d.tokens[k] = s->tokens[k].id;
        d.n_tokens = s->n_tokens;
    }
    return d;
}

/* The stripped, non-empty segment texts with their times (and words when asked). */
static void collect_segments(ss_job *j, const sp_result *res)
{
    /* the language when it is known: detected, asked for, or an English-only model's —
     * language_prob 0 is "auto" with nothing heard to detect it on (silence), where "en"
     * would be a guess. (Only with segments, it had been missing for an English-only
     * model's silent clip, though docs/daemon.md says those always answer "en".) */
    if (res->n_segments > 0 || res->language_prob > 0)
        snprintf(j->language, sizeof j->language, "%s", res->language);
    if (res->n_segments <= 0) return;
    size_t ns = (size_t)res->n_segments;
    j->texts = calloc(ns, sizeof *j->texts);
    j->starts = calloc(ns, sizeof *j->starts);
    j->ends = calloc(ns, sizeof *j->ends);
    j->decode = calloc(ns, sizeof *j->decode);
    if (j->word_timestamps) {
        j->words = calloc(ns, sizeof *j->words);
        j->n_words = calloc(ns, sizeof *j->n_words);
    }
    if (!j->texts || !j->starts || !j->ends || !j->decode ||
        (j->word_timestamps && (!j->words || !j->n_words))) {
        j->code = SS_E_INTERNAL;
        snprintf(j->err, sizeof j->err, "out of memory");
        return;
    }
    for (int i = 0; i < res->n_segments; i++) {
        size_t len;
        const char *t = stripped(res->segments[i].text, &len);
        if (!len) continue;
        char *c = strndup(t, len);
        if (!c) continue;
        int k = j->n_texts;
        j->starts[k] = res->segments[i].start;
        j->ends[k] = res->segments[i].end;
        j->decode[k] = decode_of(&res->segments[i]);
        if (j->words) {
            j->words[k] = copy_words(&res->segments[i]);
            j->n_words[k] = j->words[k] ? res->segments[i].n_words : 0;
        }
        j->texts[j->n_texts++] = c;
    }
}

/* ------------------------------------------------------------------ live hooks */

typedef struct { ss_worker *w; ss_job *j; } hook_ctx;

static void notify(ss_worker *w)
{
    uint64_t one = 1;
    if (write(w->evfd, &one, sizeof one) < 0) { /* eventfd cannot fill up */ }
}

/* sp_transcribe_params.on_segment of a streamed job: the segment as a partial-file line,
 * numbered as the final response's "segments" will be (kept segments only). The loop
 * thread writes it (it owns the spool); a line that cannot be built is left out, and the
 * reader takes it from the final response instead. */
static void on_segment(const sp_segment *seg, int index, void *user)
{
    hook_ctx *h = user;
    size_t len;
    const char *t = stripped(seg->text, &len);
    (void)index;
    if (!len) return;
    char *text = strndup(t, len);
    ss_seg_decode dec = decode_of(seg);
    char *line = text ? ss_segment_line_json(h->j->n_published, seg->start, seg->end, text,
                                             h->j->word_timestamps ? seg->words : NULL,
                                             seg->n_words, &dec) : NULL;
    h->j->n_published++;
    free(dec.tokens);
    free(text);
    if (!line) return;
    pthread_mutex_lock(&h->w->mu);
    if (sp_dynbuf_add(&h->j->lines, line, strlen(line)) == 0)
        sp_dynbuf_add(&h->j->lines, "\n", 1);
    pthread_mutex_unlock(&h->w->mu);
    free(line);
    notify(h->w);
}

static void run_job(ss_worker *w, ss_job *j);

/* sp_transcribe_params.on_window of a batch job: while the loop has an interactive job
 * waiting, park here and run what it hands over on the same context (sp_transcribe keeps
 * the paused call's state in its own locals), then go on with the next window. */
static void on_window(float t_offset, void *user)
{
    hook_ctx *h = user;
    ss_worker *w = h->w;
    ss_job *top = h->j;
    (void)t_offset;
    pthread_mutex_lock(&w->mu);
    double t0 = w->want_yield ? ss_mono_now() : 0;
    while (w->want_yield && !top->cancel && !w->quit) {
        w->parked = 1;
        top->yields++;
        notify(w);
        while (!w->nested && !w->resume && !top->cancel && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        w->parked = 0;
        if (!w->nested) break;   /* resumed, cancelled or stopping */
        ss_job *j = w->nested;
        pthread_mutex_unlock(&w->mu);
        run_job(w, j);
        pthread_mutex_lock(&w->mu);
        w->nested = NULL;
        w->nested_done = j;
        notify(w);
    }
    w->resume = 0;
    if (t0 > 0) top->yield_ms += (ss_mono_now() - t0) * 1000.0;
    pthread_mutex_unlock(&w->mu);
}

/* What of the request an English-only model cannot do (it transcribes English whatever it
 * is asked), for the response's "warning": said as transcribe and openai's CLI say it on
 * stderr. The daemon's own --language is said once at its start, not in every response. */
static void english_only_ignored(ss_worker *w, ss_job *j)
{
    sp_model_info mi;
    sp_context_info(w->ctx, &mi);
    j->ignored[0] = 0;
    if (mi.multilingual) return;
    if (sp_language_not_english(j->req_language))
        snprintf(j->ignored, sizeof j->ignored, "language \"%s\"%s", j->req_language,
                 j->translate ? " and task translate" : "");
    else if (j->translate)
        snprintf(j->ignored, sizeof j->ignored, "task translate");
}

static void transcribe(ss_worker *w, ss_job *j, const float *pcm, size_t n)
{
    sp_transcribe_params tp = sp_transcribe_default_params();
    hook_ctx h = { w, j };
    tp.cancel = &j->cancel;
    tp.word_timestamps = j->word_timestamps;
    if (j->stream) { tp.on_segment = on_segment; tp.on_segment_user = &h; }
    if (j->batch) { tp.on_window = on_window; tp.on_window_user = &h; }
    if (w->beam_size > 0) tp.beam_size = w->beam_size;
    if (w->language) tp.language = w->language;
    /* The original daemon decoded at temperature 0 only (faster-whisper with
     * temperature=0): no fallback ladder unless asked for. */
    static const float temp0[1] = {0.0f};
    if (!w->temperature_fallback) { tp.temperatures = temp0; tp.n_temperatures = 1; }
    /* this request's options; tp is per job, so nothing carries over to the next one */
    if (j->req_language[0]) tp.language = j->req_language;   /* "auto": detect */
    else if (j->languages[0]) tp.language = "auto";   /* its own set: detect among it */
    tp.translate = j->translate;
    if (w->initial_prompt) tp.initial_prompt = w->initial_prompt;
    if (w->hotwords) tp.hotwords = w->hotwords;
    tp.audio_ctx = w->audio_ctx;
    if (j->prompt) tp.initial_prompt = j->prompt;
    if (j->hotwords) tp.hotwords = j->hotwords;
    if (j->audio_ctx) tp.audio_ctx = j->audio_ctx;
    tp.languages = j->languages[0] ? j->languages : w->languages;
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
    } else if (s == SP_ERR_INVALID_ARG && (j->req_language[0] || j->languages[0])) {
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
        english_only_ignored(w, j);
    }
    sp_result_free(res);
}

/* Audio with nothing to hear is not transcribed; its language is still reported where it is
 * known without listening: an English-only model's "en", or the one asked for (a request's,
 * else the daemon's --language), never a guess for "auto". */
static void silent_language(ss_worker *w, ss_job *j)
{
    sp_model_info mi;
    sp_context_info(w->ctx, &mi);
    const char *l = !mi.multilingual ? "en" : j->req_language[0] ? j->req_language : w->language;
    if (l && *l && strcmp(l, "auto") != 0) snprintf(j->language, sizeof j->language, "%s", l);
}

static void run_job(ss_worker *w, ss_job *j)
{
    double t0 = ss_mono_now();
    float *pcm = NULL;
    size_t n = 0;
    if (precheck(j) != 0 || decode(w, j, &pcm, &n) != 0) goto cleanup;
    j->audio_s = (double)n / SP_AUDIO_RATE;
    if (!sp_audio_is_empty(pcm, n)) transcribe(w, j, pcm, n);
    else { silent_language(w, j); english_only_ignored(w, j); }
cleanup:
    free(pcm);
    /* a message truncated by snprintf must not end in half a character: the response's
     * JSON would refuse it (it had become "error (message was not valid UTF-8)") */
    j->err[sp_utf8_cut(j->err, strlen(j->err))] = 0;
    j->proc_ms = (ss_mono_now() - t0) * 1000.0 - j->yield_ms;
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
        notify(w);
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
    w->pending = j;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_events(ss_worker *w, ss_wk_events *ev)
{
    uint64_t v;
    if (read(w->evfd, &v, sizeof v) < 0) { /* nothing new: the flags say the same */ }
    pthread_mutex_lock(&w->mu);
    ev->top_done = w->pending == NULL;
    ev->nested_done = w->nested_done;
    w->nested_done = NULL;
    ev->parked = w->parked && !w->nested;
    pthread_mutex_unlock(&w->mu);
}

char *ss_worker_take_lines(ss_worker *w, ss_job *j, size_t *len)
{
    *len = 0;
    if (!j || !j->stream) return NULL;
    pthread_mutex_lock(&w->mu);
    char *p = sp_dynbuf_take(&j->lines, len);
    pthread_mutex_unlock(&w->mu);
    return p;
}

void ss_worker_want_yield(ss_worker *w, int on)
{
    pthread_mutex_lock(&w->mu);
    w->want_yield = on;
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_run_nested(ss_worker *w, ss_job *j)
{
    pthread_mutex_lock(&w->mu);
    w->nested = j;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_resume(ss_worker *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->parked && !w->nested) w->resume = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_cancel_job(ss_worker *w, ss_job *j)
{
    pthread_mutex_lock(&w->mu);
    j->cancel = 1;
    pthread_cond_broadcast(&w->cv);   /* a parked job wakes and ends */
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_cancel(ss_worker *w)
{
    if (!w->started) return;
    pthread_mutex_lock(&w->mu);
    if (w->pending) w->pending->cancel = 1;
    if (w->nested) w->nested->cancel = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ss_worker_stop(ss_worker *w)
{
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        if (w->pending) w->pending->cancel = 1;
        if (w->nested) w->nested->cancel = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        w->started = 0;
    }
    if (w->evfd >= 0) close(w->evfd);
    w->evfd = -1;
}
