/* kl_worker.c — see kl_worker.h. */
#include "keylistener/kl_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clients/session_client.h"
#include "session/ss_clock.h"
#include "keylistener/kl_app.h"
#include "keylistener/kl_clip.h"
#include "keylistener/kl_history.h"
#include "keylistener/kl_output.h"
#include "keylistener/kl_text.h"

enum { JOB_ENSURE, JOB_TRANSCRIBE, JOB_TEXT };

typedef struct job {
    int kind;
    char path[KL_WORKER_PATH_MAX];   /* JOB_TRANSCRIBE: the recording */
    char *text;                /* JOB_TEXT: the text to type again (malloc'd, any length) */
    char lang[16];             /* the binding's language ("" the configured one) */
    double stopped;            /* monotonic time of the key release */
    double started;            /* monotonic time the dictation began (--join-seconds) */
    int cont;                  /* an utterance after the first of a --continuous recording */
    unsigned serial;           /* the recording (dictation) it belongs to */
    int chunk;                 /* chunked dictation: the chunk's number, from 1 */
    int final;                 /* the last job of its dictation: the text is typed (path may be "") */
    char unwritten[512];       /* the piece's recording could not be written: why ("" it was) */
    struct job *next;
} job;

/* How a dictation's text went out: its one output, or (--live) its pieces together; for
 * Return after a --live dictation and for the final event. */
typedef struct {
    int pieces, keyed, failed;  /* given to the output; of them typed or pasted; not delivered */
    kl_out_done done;           /* how the first delivered piece went out */
    int mixed;                  /* later pieces went out another way */
    int enter;                  /* Return applies after the last piece (deliver's outcome) */
    char err[512];              /* why the first failed piece was not delivered */
} delivery;

struct kl_worker {
    kl_worker_env env;
    const kl_opts *o;          /* env.o */
    /* the dictation being worked on: its number, the language its first request found (its
     * later chunks keep it: one language per dictation) and what --live typed of it */
    unsigned serial;
    char lang[16];
    char *typed;
    /* chunks of it whose transcription failed twice (their text is missing; recordings kept):
     * how many, and the first one's recording, for the final event and the log */
    int lost;
    int lost_whole;            /* the lost piece was the whole (uncut) recording */
    char lost_note[KL_WORKER_PATH_MAX + 40];   /* "recording kept: PATH" or why none was written */
    /* --live: how the dictation's pieces went out so far */
    delivery live;
    /* --join-seconds: the last dictation that went into a window by keys (typed or pasted,
     * no Return after it): the end of its text, when, and the focused app then ("" unknown);
     * joining: the dictation being worked on continues it */
    char *prev_text;
    double prev_end;
    char prev_app[512];
    int joining;
    /* the user's clipboard, to put back once the text left there is stale */
    kl_clip_saved keep;
    char *keep_text;
    double keep_deadline;
    /* the queue and the thread's state, under mu; cv wakes the thread */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int quit, busy, done;
    int abandoned;             /* the caller stopped waiting: queued jobs are not run */
};

/* Output flags of deliver(). */
enum { DL_POST = 1, DL_HISTORY = 2, DL_SPACE = 4, DL_NOENTER = 8, DL_JOIN = 16, DL_CONT = 32 };

#define KL_JOIN_TAIL 1000   /* bytes of the previous dictation kept as context (Whisper keeps
                             * the last ~223 tokens of a prompt) */

__attribute__((format(printf, 3, 4)))
static void wlog(kl_worker *w, const char *level, const char *fmt, ...)
{
    char buf[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (w->env.log) w->env.log(w->env.log_u, level, buf);
}

static void notify(kl_worker *w, const char *summary, const char *body)
{
    kl_notify(w->o->notify, summary, body);
}

/* ---- the queue (loop thread) ------------------------------------------------------------ */

static void push_queue(kl_worker *w, job *j)
{
    pthread_mutex_lock(&w->mu);
    if (w->tail) w->tail->next = j; else w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A zeroed job of kind, or NULL (logged): the loop thread goes on without it. */
static job *new_job(kl_worker *w, int kind)
{
    job *j = calloc(1, sizeof *j);
    if (!j) { wlog(w, "ERROR", "out of memory queueing a job"); return NULL; }
    j->kind = kind;
    return j;
}

void kl_worker_ensure_daemon(kl_worker *w)
{
    job *j = new_job(w, JOB_ENSURE);
    if (j) push_queue(w, j);
}

/* A JOB_TRANSCRIBE job (NULL: logged) for kl_worker_transcribe and kl_worker_lost. */
static job *piece_job(kl_worker *w, unsigned serial, int chunk, int final, const char *lang, double started,
                      int cont)
{
    job *j = new_job(w, JOB_TRANSCRIBE);
    if (!j) return NULL;
    j->stopped = ss_mono_now();
    j->started = started;
    j->cont = cont;
    j->serial = serial;
    j->chunk = chunk;
    j->final = final;
    snprintf(j->lang, sizeof j->lang, "%s", lang);
    return j;
}

void kl_worker_transcribe(kl_worker *w, const char *path, unsigned serial, int chunk, int final,
                          const char *lang, double started, int cont)
{
    job *j = piece_job(w, serial, chunk, final, lang, started, cont);
    if (!j) return;
    if (path) snprintf(j->path, sizeof j->path, "%s", path);
    push_queue(w, j);
}

void kl_worker_lost(kl_worker *w, const char *why, unsigned serial, int chunk, int final,
                    const char *lang, double started, int cont)
{
    job *j = piece_job(w, serial, chunk, final, lang, started, cont);
    if (!j) return;
    snprintf(j->unwritten, sizeof j->unwritten, "%s", why && why[0] ? why : "the recording could not be written");
    push_queue(w, j);
}

static void free_job(job *j)
{
    free(j->text);
    free(j);
}

int kl_worker_paste(kl_worker *w, const char *text)
{
    /* the text is the job's own copy: a history entry can be as long as a dictation (it had
     * gone into the 4300-byte path buffer, and a longer one was refused) */
    job *j = new_job(w, JOB_TEXT);
    if (!j) return -1;
    if (!(j->text = strdup(text))) {
        wlog(w, "ERROR", "out of memory queueing a paste");
        free(j);
        return -1;
    }
    j->stopped = ss_mono_now();
    push_queue(w, j);
    return 0;
}

int kl_worker_idle(kl_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int idle = !w->head && !w->busy;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

void kl_worker_quit(kl_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int kl_worker_done(kl_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int done = w->done;
    pthread_mutex_unlock(&w->mu);
    return done;
}

/* ---- output (worker thread) ------------------------------------------------------------- */

static void remove_audio(kl_worker *w, const char *path)
{
    if (w->o->keep_audio) { wlog(w, "INFO", "kept %s (--keep-audio)", path); return; }
    if (unlink(path) != 0 && errno != ENOENT) wlog(w, "WARN", "cannot remove %s: %s", path, strerror(errno));
}

/* The saved clipboard goes back (when the clipboard still holds our text). */
static void keep_restore(kl_worker *w, const char *why)
{
    if (!w->keep.valid) return;
    char err[512];
    int r = kl_clip_restore(&w->keep, w->keep_text, err, sizeof err);
    wlog(w, r < 0 ? "WARN" : "INFO", "clipboard: %s (%s)", r == 1 ? "the user's content restored" :
         r == 0 ? "changed since: left alone" : err, why);
    free(w->keep_text);
    w->keep_text = NULL;
}

/* After output: a clipboard left holding the text is remembered for a timed restore. While
 * one is pending, the content saved now is our last text (keep the older, the user's) -
 * unless the user copied something since, which is then theirs to get back (the older had
 * come back instead, and what they copied was lost). */
static void keep_note(kl_worker *w, kl_clip_saved *k, const char *text)
{
    if (!k->valid) return;
    const int ours = w->keep.valid && w->keep_text && !k->empty && k->data &&
                     k->len == strlen(w->keep_text) && !memcmp(k->data, w->keep_text, k->len);
    if (w->keep.valid && ours) kl_clip_saved_free(k);
    else {
        kl_clip_saved_free(&w->keep);
        w->keep = *k;
    }
    free(w->keep_text);
    w->keep_text = strdup(text);
    w->keep_deadline = ss_mono_now() + w->o->clipboard_restore;
    if (w->o->clipboard_restore <= 0 || !w->keep_text) kl_clip_saved_free(&w->keep);
    else wlog(w, "INFO", "clipboard: the text is there to paste; the previous content comes back in %.0f s", w->o->clipboard_restore);
}

/* The focused application's rule (m > 0 when one matched). */
static int app_rule(kl_worker *w, kl_app_rule *ar)
{
    char names[512] = "", err[1024] = "";
    int m = 0;
    if (w->o->apps.n && kl_focused_app(names, sizeof names) == 0)
        m = kl_app_match(&w->o->apps, names, ar, err, sizeof err);
    if (m < 0) wlog(w, "WARN", "app rules: %s", err);
    if (m > 0) {
        for (char *t = strchr(names, '\t'); t; t = strchr(t, '\t')) *t = ' ';
        wlog(w, "INFO", "focused \"%s\": app rule \"%s\"", names, ar->pattern);
    }
    return m;
}

/* What is typed: the post-processed (DL_POST) text, with one space before it (DL_SPACE; DL_JOIN,
 * DL_CONT: when the text it continues - the previous dictation's, the --live pieces typed so
 * far - and this one want one, kl_text_join_space, after post-processing: "comma and then"
 * is ", and then", which takes none). A continuing text keeps a spoken mark at its start
 * (kl_post_apply_cont). NULL when nothing is left (logged). */
static char *prepare_text(kl_worker *w, const char *raw, const char *id, int flags, const char *profile)
{
    char err[1024] = "";
    const char *before = flags & DL_CONT ? w->typed : flags & DL_JOIN ? w->prev_text : NULL;
    char *text = flags & DL_POST ? kl_post_apply_cont(w->env.post, profile, raw, before != NULL, err, sizeof err)
                                 : strdup(raw);
    if (!text) { wlog(w, "ERROR", "out of memory"); return NULL; }
    if ((flags & DL_POST) && err[0]) wlog(w, "WARN", "request %s: %s; typing the text as it was", id, err);
    if (!text[0]) { wlog(w, "INFO", "request %s: nothing left after post-processing", id); free(text); return NULL; }
    if (before && kl_text_join_space(before, text)) flags |= DL_SPACE;
    if (flags & DL_SPACE) {
        char *t = malloc(strlen(text) + 2);
        if (!t) { free(text); return NULL; }
        t[0] = ' ';
        strcpy(t + 1, text);
        free(text);
        text = t;
    }
    return text;
}

/* How deliver() got one text out. */
typedef struct {
    kl_out_done done;   /* KL_DONE_NONE: not delivered */
    int enter;          /* Return applies to this output (--enter or the app's rule; type or
                         * paste mode), whether or not DL_NOENTER held it back */
    char err[512];      /* not delivered: why */
} outcome;

/* One output's outcome added to a dictation's delivery. */
static void note_outcome(delivery *d, const outcome *oc)
{
    d->pieces++;
    d->keyed += oc->done == KL_DONE_TYPED || oc->done == KL_DONE_PASTED;
    d->enter = oc->enter;
    if (oc->done == KL_DONE_NONE) {
        if (!d->failed++) snprintf(d->err, sizeof d->err, "%s", oc->err);
    } else if (d->done == KL_DONE_NONE) {
        d->done = oc->done;
    } else if (d->done != oc->done) {
        d->mixed = 1;
    }
}

/* Post-processing (DL_POST: fresh transcripts), history (DL_HISTORY), the focused app's
 * rule, output; DL_SPACE puts one space before the text (--live: a chunk after the first),
 * DL_NOENTER holds back --enter (--live: Return comes once, after the dictation's last
 * piece). Returns the text as given to the output (malloc'd), NULL when nothing was; *oc
 * says how it went out. */
static char *deliver(kl_worker *w, const char *raw, const char *id, int flags, const char *timing,
                     outcome *oc)
{
    const kl_opts *o = w->o;
    char err[1024] = "", how[1200];
    kl_app_rule ar = { .enter = -1 };
    *oc = (outcome){ KL_DONE_NONE, 0, "" };
    int m = app_rule(w, &ar);
    char *text = prepare_text(w, raw, id, flags, m > 0 && ar.profile[0] ? ar.profile : NULL);
    if (!text) return NULL;
    if ((flags & DL_HISTORY) && o->history > 0 && w->env.history[0] &&
        kl_history_add(w->env.history, o->history, text + ((flags & DL_JOIN) && text[0] == ' '), err, sizeof err) != 0)
        wlog(w, "WARN", "history: %s", err);
    kl_clip_saved k = { 0 };
    int enter = ar.enter >= 0 ? ar.enter : o->enter;
    kl_output_opts oo = { .typer = o->typer, .type_delay_ms = o->type_delay_ms,
                          .modifier_wait_ms = o->modifier_wait_ms,
                          .mods_held = w->env.mods_held, .mods_u = w->env.mods_u,
                          .paste_chord = ar.paste_chord[0] ? ar.paste_chord : o->paste_chord,
                          .paste_delay_ms = o->paste_delay_ms, .keep = &k, .done = &oc->done,
                          .enter = flags & DL_NOENTER ? 0 : enter };
    oo.mode = kl_out_mode_parse(ar.output[0] ? ar.output : o->output);
    oc->enter = enter && (oo.mode == KL_OUT_TYPE || oo.mode == KL_OUT_PASTE);
    double t2 = ss_mono_now();
    if (kl_output_text(&oo, text, how, sizeof how, err, sizeof err) == 0) {
        wlog(w, "INFO", "request %s: %zu chars %s, output %s in %.0f ms", id, strlen(text), timing, how,
             (ss_mono_now() - t2) * 1000);
        if (oc->done == KL_DONE_CLIPBOARD) kl_play_sound(o->sound_player, o->ready_sound);
        notify(w, "Dictation typed", text);
    } else {
        wlog(w, "ERROR", "request %s: %zu chars transcribed but not delivered: %s", id, strlen(text), err);
        notify(w, "Dictation failed", err);
        snprintf(oc->err, sizeof oc->err, "%s", err[0] ? err : "not delivered");
    }
    keep_note(w, &k, text);
    return text;
}

/* ---- the session round trips (worker thread) -------------------------------------------- */

/* The chunk number a request's "segment" events carry: 0 (left out) for a recording sent in
 * one piece - its final piece is its first (it had gone out as chunk 1, as if cut). */
static int seg_chunk(const job *j)
{
    return j->final && j->chunk == 1 ? 0 : j->chunk;
}

/* One spool round trip; the parsed response, or NULL (logged). A user cancel that came
 * before the request was written is passed on to the daemon here (kl_live.h). */
/* A streamed request's segments as they are decoded: a "segment" event each (the chunk's
 * number; 0 for a recording not cut into chunks) and, with --notify, the text so far with
 * them. The dictation's earlier chunks come from kl_live; this request's segments so far
 * are kept here. */
typedef struct {
    kl_worker *w;
    int chunk;
    char *segs;   /* this request's segment texts so far, joined; NULL at first */
} seg_feed;

static void on_segment(const json_t *seg, int index, void *user)
{
    seg_feed *f = user;
    const char *text = json_string_value(json_object_get(seg, "text"));
    (void)index;
    if (!text || !text[0]) return;
    kl_evhub_emit(f->w->env.hub, "segment", text, f->chunk > 0 ? f->chunk : -1, -1);
    /* --live types whole chunks: the segments are events only; without --notify nothing
     * shows the text so far, so it is not assembled */
    if (f->w->o->live || !f->w->o->notify) return;
    const char *parts[2] = {f->segs ? f->segs : "", text};
    char *joined = kl_text_join(parts, 2);
    if (!joined) return;
    free(f->segs);
    f->segs = joined;
    char *sofar = kl_live_text(f->w->env.live);
    const char *all[2] = {sofar ? sofar : "", f->segs};
    char *shown = kl_text_join(all, 2);
    if (shown) notify(f->w, "Dictating…", shown);
    free(shown);
    free(sofar);
}

static json_t *round_trip(kl_worker *w, ssc *c, const char *path, const ssc_req_opts *ro, int chunk,
                          char id[SS_ID_MAX + 1])
{
    char err[1024], cid[SS_ID_MAX + 1];
    json_t *resp = NULL;
    if (ssc_submit_ex(c, path, ro, id, err, sizeof err) != 0) {
        wlog(w, "ERROR", "cannot submit %s: %s", path, err);
        return NULL;
    }
    if (kl_live_submitted(w->env.live, id)) {
        if (ssc_submit_cancel(c, id, cid, err, sizeof err) != 0) wlog(w, "WARN", "cancel of %s: %s", id, err);
        else { wlog(w, "INFO", "request %s: cancel request %s sent", id, cid); kl_live_cancel_sent(w->env.live, cid); }
    }
    seg_feed feed = {w, chunk, NULL};
    const unsigned started = ssc_daemons_started(c);
    int r = ro->stream ? ssc_wait_stream(c, id, w->o->timeout, on_segment, &feed, &resp, err, sizeof err)
                       : ssc_wait(c, id, w->o->timeout, &resp, err, sizeof err);
    free(feed.segs);
    if (ssc_daemons_started(c) != started)   /* said here: the client restarts it silently */
        wlog(w, "WARN", "request %s: session_daemon went away while it waited (an idle exit or a "
             "crash): a new one was started and took the request over", id);
    if (kl_live_finished(w->env.live) && kl_live_take_cancel(w->env.live, cid)) {
        /* the cancel's own answer comes at once: collect it, leave no file behind */
        json_t *cr = NULL;
        if (ssc_wait(c, cid, 2.0, &cr, err, sizeof err) == 0) json_decref(cr);
    }
    if (r != 0) {
        wlog(w, "ERROR", "request %s: %s", id, r == SSC_TIMEOUT ? "no response in time" : err);
        return NULL;
    }
    const json_t *e = json_object_get(resp, "error");
    const char *code = json_string_value(json_object_get(resp, "error_code"));
    if (code && !strcmp(code, "cancelled")) wlog(w, "INFO", "request %s: cancelled by the daemon", id);
    else if (json_is_string(e)) wlog(w, "ERROR", "request %s: daemon error: %s", id, json_string_value(e));
    return resp;
}

/* 1 when code is one of the comma-separated list. */
static int in_list(const char *list, const char *code)
{
    size_t l = strlen(code);
    for (const char *s = list; *s;) {
        size_t k = strcspn(s, ",");
        if (k == l && !strncmp(s, code, l)) return 1;
        s += k + (s[k] == ',');
    }
    return 0;
}

/* The response's segments joined (kl_text_join_ex); NULL on OOM. A segment the daemon
 * describes (its "segments", parallel to "results") with an empty "text_lead" had no space
 * before it in Whisper's text (Chinese, Japanese, Thai): joined tight, as Whisper wrote it;
 * "你好。 今天…" had been typed. A daemon that does not say (no text_lead): one space. */
static char *resp_text(const json_t *resp)
{
    const json_t *arr = json_object_get(resp, "results"), *sg = json_object_get(resp, "segments");
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    const int described = json_is_array(sg) && json_array_size(sg) == n;
    const char **segs = calloc(n ? n : 1, sizeof *segs);
    unsigned char *tight = calloc(n ? n : 1, 1);
    char *text = NULL;
    if (!segs || !tight) goto done;
    for (size_t i = 0; i < n; i++) {
        const json_t *g = described ? json_array_get(sg, i) : NULL;
        segs[i] = json_string_value(json_array_get(arr, i));
        char lead[8];
        tight[i] = g && ssc_segment_lead(g, lead) && !lead[0];
    }
    text = kl_text_join_ex(segs, tight, n);
done:
    free(segs);
    free(tight);
    return text;
}

/* Whether a response's text is thin for its audio: under 8 bytes a second over 5 s or more
 * (dictation runs 12-16; a chunk is cut at pauses, so it holds little silence). */
static int thin_text(const json_t *resp, size_t *bytes)
{
    char *t = resp_text(resp);
    *bytes = t ? strlen(t) : 0;
    free(t);
    double dur = json_number_value(json_object_get(resp, "duration"));
    return dur >= 5.0 && (double)*bytes < 8.0 * dur;
}

/* Transcribes one file of the dictation (a chunk, the remainder, or a whole recording), with
 * the text so far as its prompt. Returns the text (malloc'd, maybe ""), NULL on a failure.
 * id: the request's id (for the log). */
static char *transcribe_file(kl_worker *w, ssc *c, const job *j, char id[SS_ID_MAX + 1])
{
    const kl_opts *o = w->o;
    char err[1024], lang[16], prompt[KL_PROMPT_MAX + 1];
    id[0] = 0;
    if (!c) { wlog(w, "ERROR", "no session client; %s not transcribed", j->path); return NULL; }
    const unsigned started = ssc_daemons_started(c);
    if (!o->no_start && ssc_ensure_daemon(c, err, sizeof err) != 0) {
        wlog(w, "ERROR", "cannot start session_daemon: %s", err);
        return NULL;
    }
    if (ssc_daemons_started(c) != started) wlog(w, "INFO", "no session_daemon alive: started one");
    /* the language a chunk before found, else the binding's, else the fixed one, else
     * detection (restricted below) */
    snprintf(lang, sizeof lang, "%s", w->lang[0] ? w->lang : j->lang[0] ? j->lang :
             o->language[0] ? o->language : o->languages[0] ? "auto" : "");
    /* the vocabulary as hotwords (faster-whisper's: in every window's prompt, also after the
     * first), the initial prompt and the text so far as the first window's prompt */
    kl_live_prompt(w->env.live, o->initial_prompt, prompt, sizeof prompt);
    /* a dictation that continues the last one (--join-seconds) has that text as its context
     * until its own first piece is in: Whisper then goes on mid-sentence as it would have */
    char *sofar = w->joining ? kl_live_text(w->env.live) : NULL;
    if (sofar && !sofar[0]) kl_live_prompt_build(o->initial_prompt, w->prev_text, prompt, sizeof prompt);
    free(sofar);
    ssc_req_opts ro = { .language = lang[0] ? lang : NULL, .prompt = prompt[0] ? prompt : NULL,
                        .hotwords = o->vocabulary[0] ? o->vocabulary : NULL,
                        .priority = "interactive", .audio_ctx = o->audio_ctx, .stream = 1,
                        /* the daemon detects among them (an older one ignores the field:
                         * then the check below decodes again) */
                        .languages = !strcmp(lang, "auto") && o->languages[0] ? o->languages : NULL };
    json_t *resp = round_trip(w, c, j->path, &ro, seg_chunk(j), id);
    const char *ecode = resp ? json_string_value(json_object_get(resp, "error_code")) : NULL;
    if (ro.languages && ecode && !strcmp(ecode, "bad_request")) {
        /* a code of the set the daemon's model has no token for: detect freely, then the
         * check below decodes again in the set's first language when needed */
        wlog(w, "WARN", "request %s: languages %s refused; detecting among all", id, o->languages);
        ro.languages = NULL;
        json_decref(resp);
        resp = round_trip(w, c, j->path, &ro, seg_chunk(j), id);
    }
    const char *got = resp ? json_string_value(json_object_get(resp, "language")) : NULL;
    if (resp && !strcmp(lang, "auto") && o->languages[0] && got && !in_list(o->languages, got)) {
        /* detected outside the user's languages: decode again in the first of them */
        snprintf(lang, sizeof lang, "%.*s", (int)strcspn(o->languages, ","), o->languages);
        ro.languages = NULL;
        wlog(w, "INFO", "request %s: detected \"%s\", not in languages %s: again as \"%s\"", id, got, o->languages, lang);
        json_decref(resp);
        resp = round_trip(w, c, j->path, &ro, seg_chunk(j), id);
        got = NULL;
    }
    /* With the text so far as its prompt, whisper can end a chunk's window after its first
     * sentence, the segment stretched over the rest, so a whole sentence went missing (a
     * 13.3 s chunk: 92 chars with the prompt, 179 without; quality tests all passed). A thin
     * text is decoded again with the initial prompt only, and the longer kept. */
    char p0[KL_PROMPT_MAX + 1];
    kl_live_prompt_build(o->initial_prompt, "", p0, sizeof p0);
    size_t had = 0;
    if (resp && strcmp(prompt, p0) != 0 && !json_object_get(resp, "error") && thin_text(resp, &had)) {
        ssc_req_opts ro2 = ro;
        ro2.prompt = p0[0] ? p0 : NULL;
        char id2[SS_ID_MAX + 1];
        json_t *again = round_trip(w, c, j->path, &ro2, seg_chunk(j), id2);
        size_t redo = 0;
        if (again && !json_object_get(again, "error")) thin_text(again, &redo);
        wlog(w, "INFO", "request %s: %zu bytes for its audio with the text so far as prompt; "
             "without it (%s): %zu bytes, %s", id, had, id2, redo,
             redo * 4 >= had * 5 ? "kept" : "not kept");
        if (redo * 4 >= had * 5) {   /* at least 1.25x: the missing part found */
            json_decref(resp);
            resp = again;
            memcpy(id, id2, sizeof id2);
        } else {
            json_decref(again);
        }
    }
    if (!resp) return NULL;
    /* the dictation's later chunks keep the language found here: one language per dictation */
    if (!strcmp(lang, "auto") && got && strlen(got) < sizeof w->lang) snprintf(w->lang, sizeof w->lang, "%s", got);
    else if (strcmp(lang, "auto")) snprintf(w->lang, sizeof w->lang, "%s", lang);
    const char *code = json_string_value(json_object_get(resp, "error_code"));
    /* an error answer is a failure (the recording is kept), not an empty text */
    char *text = code || json_object_get(resp, "error") ? NULL : resp_text(resp);
    json_decref(resp);
    return text;
}

/* ---- the dictation (worker thread) ------------------------------------------------------ */

/* --join-seconds: what the next dictation may continue — this one's text when it went into
 * the window by keys and the cursor is still after it (no Return, not the clipboard), after
 * the text it continued itself (a chain of dictations is one text to Whisper). */
static void remember_prev(kl_worker *w, const char *typed, int by_keys)
{
    char *chain = NULL;
    if (w->joining && by_keys && typed && w->prev_text && asprintf(&chain, "%s%s", w->prev_text, typed) < 0)
        chain = NULL;
    free(w->prev_text);
    w->prev_text = NULL;
    w->prev_end = 0;
    w->prev_app[0] = 0;
    if (chain) typed = chain;
    if ((w->o->join_seconds <= 0 && !w->o->continuous) || !by_keys || !typed || !typed[0]) { free(chain); return; }
    size_t l = strlen(typed);
    const char *t = l > KL_JOIN_TAIL ? typed + l - KL_JOIN_TAIL : typed;
    while ((*t & 0xC0) == 0x80 || *t == ' ') t++;   /* not half a character, nor the join's space */
    w->prev_text = strdup(t);
    free(chain);
    if (!w->prev_text) return;
    w->prev_end = ss_mono_now();
    if (kl_focused_app(w->prev_app, sizeof w->prev_app) != 0) w->prev_app[0] = 0;
}

/* --join-seconds: whether the dictation begun at `started` continues the last one: begun
 * within the option's seconds after that one's typing ended (or while it was typed), and the
 * same application has the focus when both can be told (a search box after a chat message
 * gets no leading space). cont (the next utterance of a --continuous recording): whatever the
 * time and the option, in the same application. */
static int join_decide(kl_worker *w, double started, int cont)
{
    const double s = w->o->join_seconds;
    if (!w->prev_text || w->prev_end <= 0) return 0;
    if (!cont && (s <= 0 || started - w->prev_end > s)) return 0;
    char names[512] = "";
    if (w->prev_app[0] && kl_focused_app(names, sizeof names) == 0 && strcmp(names, w->prev_app) != 0) {
        wlog(w, "INFO", "join: another application has the focus; the dictation starts afresh");
        return 0;
    }
    if (cont) wlog(w, "INFO", "join: the next utterance of a continuous recording: it continues the text");
    else wlog(w, "INFO", "join: begun %.1f s after the last dictation was typed: it continues that text",
              started - w->prev_end);
    return 1;
}

/* --live: a chunk's text typed now, Return held back for the end of the dictation; the
 * typed texts are kept for the final event. */
static void live_type(kl_worker *w, const char *text, const char *id, const char *timing)
{
    outcome oc;
    const int first = !w->typed || !w->typed[0];
    /* after the first piece, a space where one belongs (none in Chinese or Japanese),
     * judged on the text as post-processed (prepare_text) */
    char *typed = deliver(w, text, id, DL_POST | DL_NOENTER | (first ? (w->joining ? DL_JOIN : 0) : DL_CONT),
                          timing, &oc);
    if (!typed) return;
    note_outcome(&w->live, &oc);
    size_t a = w->typed ? strlen(w->typed) : 0, b = strlen(typed);
    char *t = realloc(w->typed, a + b + 1);
    if (t) { memcpy(t + a, typed, b + 1); w->typed = t; }
    free(typed);
}

/* --live, at the dictation's end: Return once, after its last piece — also when that piece
 * (the text after the key's release) was empty and typed nothing (Return had been pressed
 * only with a non-empty last piece, so it never came). Not when a piece went to the
 * clipboard or failed: the window holds only part of the text, and Return would send that. */
static void live_enter(kl_worker *w, const char *id)
{
    const delivery *d = &w->live;
    if (!d->pieces || !d->enter) return;
    if (w->lost) {   /* the window holds the dictation without a lost chunk's text */
        wlog(w, "WARN", "request %s: no Enter: %d chunk(s) of the dictation are missing", id, w->lost);
        return;
    }
    if (d->keyed != d->pieces) {
        wlog(w, "WARN", "request %s: no Enter: %d of %d pieces were not typed into the window",
             id, d->pieces - d->keyed, d->pieces);
        return;
    }
    const kl_opts *o = w->o;
    kl_output_opts oo = { .typer = o->typer, .modifier_wait_ms = o->modifier_wait_ms,
                          .mods_held = w->env.mods_held, .mods_u = w->env.mods_u };
    char via[64], err[512];
    if (kl_output_enter(&oo, via, sizeof via, err, sizeof err) == 0)
        wlog(w, "INFO", "request %s: Enter after the dictation's %d pieces (%s)", id, d->pieces, via);
    else
        wlog(w, "WARN", "request %s: no Enter: %s", id, err);
}

/* What the final event says of the chunks lost (and of a delivery failure beside them). */
static void lost_msg(const kl_worker *w, const char *also, char *e, size_t n)
{
    if (w->lost_whole)
        snprintf(e, n, "the dictation could not be transcribed (%s)%s%s", w->lost_note,
                 also ? "; " : "", also ? also : "");
    else   /* the part after the last cut counts as a chunk */
        snprintf(e, n, "%d chunk(s) of the dictation could not be transcribed: their text is missing "
                 "(%s)%s%s", w->lost, w->lost_note, also ? "; " : "", also ? also : "");
}

/* The final event: the text as given to the output (NULL: nothing was; "" as before) and,
 * when something was, whether and how it went out (the text had been reported as typed also
 * when typing and the clipboard failed, e.g. without a display). */
static void emit_final(kl_worker *w, const char *typed, double release_ms, const delivery *d)
{
    static const char *const names[] = { [KL_DONE_TYPED] = "typed", [KL_DONE_PASTED] = "pasted",
                                         [KL_DONE_CLIPBOARD] = "clipboard", [KL_DONE_PRINTED] = "printed" };
    if (!typed || !d->pieces) {
        kl_evhub_emit(w->env.hub, "final", typed ? typed : "", -1, release_ms);
        return;
    }
    const char *how = d->done == KL_DONE_NONE ? NULL : d->mixed ? "mixed" : names[d->done];
    if (w->lost) {   /* delivered, but not all of it: an overlay must not say it all went out */
        char e[sizeof w->lost_note + 700];
        lost_msg(w, d->failed ? d->err : NULL, e, sizeof e);
        kl_evhub_emit_final(w->env.hub, typed, release_ms, 0, how, e);
        return;
    }
    kl_evhub_emit_final(w->env.hub, typed, release_ms, !d->failed, how, d->failed ? d->err : NULL);
}

/* The dictation's end: its whole text typed (or, with --live, the remainder), the events. */
static void finish_dictation(kl_worker *w, const char *rest, const char *id, const job *j, double t0)
{
    double t1 = ss_mono_now();
    char timing[160];
    snprintf(timing, sizeof timing, "in %.0f ms (release to text %.0f ms, %d chunks before)",
             (t1 - t0) * 1000, (t1 - j->stopped) * 1000, j->chunk - 1);
    char *whole = kl_live_text(w->env.live), *typed = NULL;
    if (!whole) { wlog(w, "ERROR", "out of memory"); return; }
    if (!whole[0]) {
        wlog(w, "INFO", "request %s: empty result in %.0f ms; nothing typed", id, (t1 - t0) * 1000);
        if (w->lost) {   /* the only speech was in a lost chunk: not "nothing said" */
            char e[sizeof w->lost_note + 200];
            lost_msg(w, NULL, e, sizeof e);
            kl_evhub_emit_final(w->env.hub, "", (t1 - j->stopped) * 1000, 0, NULL, e);
        } else {
            kl_evhub_emit(w->env.hub, "final", "", -1, (t1 - j->stopped) * 1000);
        }
        free(whole);
        return;
    }
    if (w->o->live) {
        if (rest && rest[0]) live_type(w, rest, id, timing);
        live_enter(w, id);
        typed = w->typed ? strdup(w->typed) : NULL;
        char err[512];
        if (typed && w->o->history > 0 && w->env.history[0] &&   /* without a join's space */
            kl_history_add(w->env.history, w->o->history, typed + (w->joining && typed[0] == ' '), err, sizeof err) != 0)
            wlog(w, "WARN", "history: %s", err);
        emit_final(w, typed, (t1 - j->stopped) * 1000, &w->live);
        const delivery *d = &w->live;
        remember_prev(w, typed, d->pieces > 0 && d->keyed == d->pieces && !d->enter);
    } else {
        outcome oc;
        delivery d = { 0 };
        /* no Return after a dictation missing a lost chunk's text (a chat would send it) */
        typed = deliver(w, whole, id, DL_POST | DL_HISTORY | (w->joining ? DL_JOIN : 0) | (w->lost ? DL_NOENTER : 0),
                        timing, &oc);
        if (typed) note_outcome(&d, &oc);
        emit_final(w, typed, (t1 - j->stopped) * 1000, &d);
        remember_prev(w, typed, typed && (oc.done == KL_DONE_TYPED || oc.done == KL_DONE_PASTED) && !oc.enter);
    }
    free(typed);
    free(whole);
}

/* A piece of the dictation whose text is missing: its transcription failed, or its recording
 * could not be written (the speech had gone with only a log line: no event, the notification
 * left on "Recording"). The error event and the "failed" notification now; the final event
 * will say a part is missing and no Return follows — also for the last piece (a failed
 * remainder had been typed over with Enter and reported "delivered"). */
static void piece_lost(kl_worker *w, const job *j)
{
    const int unwritten = j->unwritten[0] != 0;
    kl_evhub_emit(w->env.hub, "error", unwritten ? (j->final ? "the recording could not be written" : "a chunk could not be written")
                                                 : (j->final ? "the transcription failed" : "a chunk failed"), -1, -1);
    if (unwritten) notify(w, "Recording failed", j->unwritten);
    else notify(w, "Transcription failed", j->path[0] ? j->path : "see the log");   /* the docs' "failed" */
    if (!unwritten && !j->path[0]) return;   /* no audio: nothing was lost */
    if (!w->lost++) {
        if (unwritten) snprintf(w->lost_note, sizeof w->lost_note, "recording not written: %s", j->unwritten);
        else snprintf(w->lost_note, sizeof w->lost_note, "recording kept: %s", j->path);
    }
    if (j->final && j->chunk <= 1) w->lost_whole = 1;
}

static void do_transcribe(kl_worker *w, ssc *c, const job *j)
{
    char id[SS_ID_MAX + 1] = "";
    if (j->serial != w->serial) {   /* a new dictation */
        w->serial = j->serial;
        w->lang[0] = 0;
        free(w->typed);
        w->typed = NULL;
        memset(&w->live, 0, sizeof w->live);
        w->lost = 0;
        w->lost_whole = 0;
        w->lost_note[0] = 0;
        w->joining = join_decide(w, j->started, j->cont);
    }
    if (kl_live_begin(w->env.live, j->serial)) {
        wlog(w, "INFO", "%s of a cancelled dictation dropped", j->final ? "the remainder" : "a chunk");
        if (j->path[0]) remove_audio(w, j->path);
        return;
    }
    double t0 = ss_mono_now();
    char *text = j->unwritten[0] ? NULL : j->path[0] ? transcribe_file(w, c, j, id) : strdup("");
    if (!text && j->path[0] && !j->final && !kl_live_finished(w->env.live)) {
        /* a chunk is asked once more (a daemon restarting mid-dictation): its text belongs
         * in the middle of the dictation, and dropping it had typed the rest without it */
        wlog(w, "WARN", "chunk %d failed; asking once more", j->chunk);
        text = transcribe_file(w, c, j, id);
    }
    /* a failed transcription keeps its recording (it had been deleted with it: the speech
     * was lost), and says where; a cancelled dictation's goes as before */
    int failed = !text && !kl_live_finished(w->env.live);
    if (j->path[0] && !failed) remove_audio(w, j->path);
    else if (j->path[0])
        wlog(w, "ERROR", "the transcription failed; the recording is kept: %s "
             "(session_client transcribe FILE, once the daemon works)", j->path);
    if (kl_live_finished(w->env.live)) {
        wlog(w, "INFO", "request %s: dictation cancelled; nothing typed", id[0] ? id : "-");
        free(text);
        return;
    }
    if (!text) {
        piece_lost(w, j);
        if (!j->final) return;   /* the rest of the dictation still comes */
    }
    if (text && text[0] && kl_live_add(w->env.live, text) != 0) wlog(w, "ERROR", "out of memory");
    if (j->final) {
        finish_dictation(w, text, id[0] ? id : "-", j, t0);
    } else if (text && text[0]) {
        char *sofar = kl_live_text(w->env.live);
        wlog(w, "INFO", "request %s: chunk %d: %zu chars in %.0f ms", id, j->chunk, strlen(text),
             (ss_mono_now() - t0) * 1000);
        kl_evhub_emit(w->env.hub, "partial", text, j->chunk, -1);
        if (w->o->live) live_type(w, text, id, "(chunk)");
        else if (sofar) notify(w, "Dictating…", sofar);
        free(sofar);
    }
    free(text);
}

/* JOB_ENSURE: the daemon is started while the user still speaks, so the model is loaded by
 * the time the recording arrives. */
static void ensure_daemon(kl_worker *w, ssc *c)
{
    char err[1024];
    pid_t before = ssc_daemon_pid(c);
    double t0 = ss_mono_now();
    if (before <= 0) {
        wlog(w, "INFO", "no session_daemon alive: starting one while recording");
        if (ssc_ensure_daemon(c, err, sizeof err) != 0) wlog(w, "ERROR", "cannot start session_daemon: %s", err);
        else wlog(w, "INFO", "session_daemon pid %ld ready in %.0f ms", (long)ssc_daemon_pid(c),
                  (ss_mono_now() - t0) * 1000);
    }
}

static void run_job(kl_worker *w, ssc *c, const job *j)
{
    if (j->kind == JOB_ENSURE && c && !w->o->no_start) ensure_daemon(w, c);
    else if (j->kind == JOB_TRANSCRIBE) do_transcribe(w, c, j);
    else if (j->kind == JOB_TEXT) {
        outcome oc;
        free(deliver(w, j->text, "paste-last", 0, "from the history", &oc));
        remember_prev(w, NULL, 0);   /* the cursor is after the pasted text now */
    }
}

/* ---- the thread ------------------------------------------------------------------------- */

/* The next job, waiting for one; meanwhile the user's clipboard is put back when its time
 * comes (the wait is bounded by that deadline). NULL once quitting with nothing queued.
 * Called and returns with mu held. */
static job *next_job(kl_worker *w)
{
    while (!w->head && !w->quit) {
        if (!w->keep.valid) { pthread_cond_wait(&w->cv, &w->mu); continue; }
        double left = w->keep_deadline - ss_mono_now();
        if (left <= 0) {
            pthread_mutex_unlock(&w->mu);   /* the restore runs a clipboard tool */
            keep_restore(w, "after --clipboard-restore");
            pthread_mutex_lock(&w->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double until = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + left;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    job *j = w->head;
    if (j) {
        w->head = j->next;
        if (!w->head) w->tail = NULL;
    }
    return j;
}

static void *run(void *arg)
{
    kl_worker *w = arg;
    ssc_opts so = ssc_default_opts();
    so.autostart = !w->o->no_start;
    so.daemon_timeout = w->o->daemon_timeout;
    if (w->o->model[0]) so.model = w->o->model;
    if (w->o->daemon[0]) so.daemon_path = w->o->daemon;
    ssc *c = NULL;
    char err[1024];
    job *j;
    pthread_mutex_lock(&w->mu);
    while ((j = next_job(w))) {
        /* quitting: the dictations already recorded are still transcribed and typed (they
         * had been dropped, their recordings deleted, with nothing logged); only a daemon
         * start for a recording that will not come is skipped */
        if (w->abandoned || (w->quit && j->kind == JOB_ENSURE)) {
            free_job(j);
            continue;
        }
        w->busy = 1;
        pthread_mutex_unlock(&w->mu);
        /* opened at the first job, on this thread, and again after a failure */
        if (!c && ssc_open(&c, &so, err, sizeof err) != 0) {
            wlog(w, "ERROR", "session client: %s", err);
            c = NULL;
        }
        run_job(w, c, j);
        free_job(j);
        pthread_mutex_lock(&w->mu);
        w->busy = 0;
    }
    w->done = 1;
    pthread_mutex_unlock(&w->mu);
    keep_restore(w, "exiting");
    ssc_free(c);
    return NULL;
}

int kl_worker_start(kl_worker **out, const kl_worker_env *env, char *err, size_t n)
{
    *out = NULL;
    kl_worker *w = calloc(1, sizeof *w);
    if (!w) { snprintf(err, n, "out of memory"); return -1; }
    w->env = *env;
    w->o = env->o;
    if (pthread_mutex_init(&w->mu, NULL) != 0) goto fail_mu;
    if (pthread_cond_init(&w->cv, NULL) != 0) goto fail_cv;
    if (pthread_create(&w->th, NULL, run, w) != 0) goto fail_thread;
    *out = w;
    return 0;
fail_thread:
    pthread_cond_destroy(&w->cv);
fail_cv:
    pthread_mutex_destroy(&w->mu);
fail_mu:
    free(w);
    snprintf(err, n, "no worker thread");
    return -1;
}

/* The caller stops waiting for the thread (the quit deadline passed): the jobs still queued
 * are not run, and their recordings stay where they are, each named in the log so that the
 * speech can be transcribed later. */
static void abandon_queue(kl_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->abandoned = 1;
    job *j = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    for (job *nx; j; j = nx) {
        nx = j->next;
        if (j->kind == JOB_TRANSCRIBE && j->path[0])
            wlog(w, "WARN", "exiting before its transcription: the recording is kept: %s", j->path);
        free_job(j);
    }
}

int kl_worker_free(kl_worker *w)
{
    if (!w) return 1;
    kl_worker_quit(w);
    if (!kl_worker_done(w)) {
        abandon_queue(w);
        pthread_detach(w->th);   /* a stuck round trip past the deadline: it keeps w */
        return 0;
    }
    pthread_join(w->th, NULL);
    for (job *j = w->head, *nx; j; j = nx) { nx = j->next; free_job(j); }
    free(w->typed);
    free(w->prev_text);
    free(w->keep_text);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return 1;
}
