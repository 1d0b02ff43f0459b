/* key_listener — push-to-talk dictation through the session daemon (docs/key_listener.md).
 *   key_listener [options]                         run the listener
 *   key_listener start|stop|toggle|cancel|status|quit   control a running listener
 * Hold (or toggle) a key, speak, release: the recording is written as
 * <root>/recorded_audio_<usec>.wav, transcribed by session_daemon (started at key-down when
 * none is alive, so the model loads while the user speaks), the text typed into the focused
 * window, and the recording removed.
 *
 * Threads: the loop thread (this file) owns the triggers, the control socket and the
 * recording state; kl_capture's thread reads the microphone; one worker thread runs the
 * session round trips and the typing, in order, so the loop never blocks.
 * Exit codes: 0 ok, 3 no listener (control commands), 100 usage, 110 another listener
 * runs, 111 system failure (including no permission for /dev/input). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "clients/session_client.h"
#include "session/ss_log.h"
#include "keylistener/kl_app.h"
#include "keylistener/kl_audio.h"
#include "keylistener/kl_capture.h"
#include "keylistener/kl_chunk.h"
#include "keylistener/kl_config.h"
#include "keylistener/kl_ctl.h"
#include "keylistener/kl_evdev.h"
#include "keylistener/kl_keys.h"
#include "keylistener/kl_live.h"
#include "keylistener/kl_history.h"
#include "keylistener/kl_output.h"
#include "keylistener/kl_post.h"
#include "keylistener/kl_source.h"
#include "keylistener/kl_text.h"

enum { JOB_ENSURE, JOB_TRANSCRIBE, JOB_TEXT };
typedef struct job {
    int kind;
    char path[4300];           /* JOB_TEXT: the text to type again */
    char lang[16];             /* the binding's language ("" the configured one) */
    double stopped;            /* monotonic time of the key release */
    unsigned serial;           /* the recording (dictation) it belongs to */
    int chunk;                 /* chunked dictation: the chunk's number, from 1 */
    int final;                 /* the last job of its dictation: the text is typed (path may be "") */
    struct job *next;
} job;

static struct {
    kl_opts o;
    char root[4096];
    ss_log log;
    pthread_mutex_t logmu;
    kl_capture *cap;
    kl_evdev ev;
    atomic_uint mods;
    int devfd[KL_EV_SLOTS];
    char devpath[KL_EV_SLOTS][300];
    int ifd, denied_logged;
    int recording;
    double rec_started;
    char rec_lang[16];         /* language of the current recording's binding */
    int cuts;                  /* continuous mode: utterances sent from this recording */
    unsigned serial;           /* the current (or last) recording's number */
    int chunks;                /* chunked dictation: chunks sent from this recording */
    double next_chunk_check;
    kl_chunker *chunker;       /* NULL: chunking off */
    kl_live *live;             /* the dictation the worker is on (text so far, cancel) */
    kl_evhub *hub;             /* event subscribers on the control socket */
    ssc *cc;                   /* the loop thread's session client, for cancel requests */
    /* worker: the dictation's detected language and what --live typed of it */
    unsigned w_serial;
    char w_lang[16];
    char *w_typed;
    kl_post *post;
    char history[4200];
    /* worker: the user's clipboard, to put back once the text left there is stale */
    kl_clip_saved keep;
    char *keep_text;
    double keep_deadline;
    kl_term term;
    int term_tty;
    struct termios term_saved;
    /* worker */
    pthread_t wth;
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    job *head, *tail;
    int wquit, wbusy, wdone;
} G;

static double now_mono(void) { return ss_mono_now(); }

__attribute__((format(printf, 2, 3)))
static void klog(const char *level, const char *fmt, ...)
{
    char buf[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&G.logmu);
    ss_log_msg(&G.log, level, "%s", buf);
    pthread_mutex_unlock(&G.logmu);
}

static void cap_log(void *u, const char *level, const char *msg) { (void)u; klog(level, "%s", msg); }

static int mods_held(void *u) { (void)u; return atomic_load(&G.mods) != 0; }

static void play(const char *file)
{
    if (!file[0]) return;
    char *argv[] = { G.o.sound_player, (char *)file, NULL };
    kl_run_detached(argv);
}

/* ---- the worker: session round trips and output, in order ------------------------- */

/* Desktop notification (notify-send), when asked for; replaces the previous one. */
static void notify(const char *summary, const char *body)
{
    if (!G.o.notify || !kl_in_path("notify-send")) return;
    char *argv[] = { "notify-send", "-a", "key_listener", "-t", "3000",
                     "-h", "string:x-canonical-private-synchronous:key_listener",
                     (char *)summary, (char *)body, NULL };
    kl_run_detached(argv);
}

static void push_queue(job *j)
{
    pthread_mutex_lock(&G.jmu);
    if (G.tail) G.tail->next = j; else G.head = j;
    G.tail = j;
    pthread_cond_signal(&G.jcv);
    pthread_mutex_unlock(&G.jmu);
}

static void push_job(int kind, const char *path, double stopped)
{
    job *j = calloc(1, sizeof *j);
    if (!j) { klog("ERROR", "out of memory queueing a job"); return; }
    j->kind = kind;
    j->stopped = stopped;
    if (path) snprintf(j->path, sizeof j->path, "%s", path);
    push_queue(j);
}

static void remove_audio(const char *path)
{
    if (G.o.keep_audio) { klog("INFO", "kept %s (--keep-audio)", path); return; }
    if (unlink(path) != 0 && errno != ENOENT) klog("WARN", "cannot remove %s: %s", path, strerror(errno));
}

/* The saved clipboard goes back (when the clipboard still holds our text). Worker thread. */
static void keep_restore(const char *why)
{
    if (!G.keep.valid) return;
    char err[512];
    int r = kl_clip_restore(&G.keep, G.keep_text, err, sizeof err);
    klog(r < 0 ? "WARN" : "INFO", "clipboard: %s (%s)", r == 1 ? "the user's content restored" :
         r == 0 ? "changed since: left alone" : err, why);
    free(G.keep_text);
    G.keep_text = NULL;
}

/* After output: a clipboard left holding the text is remembered for a timed restore. The
 * first saved content is kept while one is pending: it is the user's, the later is ours. */
static void keep_note(kl_clip_saved *k, const char *text)
{
    if (!k->valid) return;
    if (G.keep.valid) kl_clip_saved_free(k);
    else G.keep = *k;
    free(G.keep_text);
    G.keep_text = strdup(text);
    G.keep_deadline = now_mono() + G.o.clipboard_restore;
    if (G.o.clipboard_restore <= 0 || !G.keep_text) kl_clip_saved_free(&G.keep);
    else klog("INFO", "clipboard: the text is there to paste; the previous content comes back in %.0f s", G.o.clipboard_restore);
}

static kl_out_mode out_mode(const char *s)
{
    return !strcmp(s, "copy") ? KL_OUT_COPY : !strcmp(s, "print") ? KL_OUT_PRINT :
           !strcmp(s, "paste") ? KL_OUT_PASTE : KL_OUT_TYPE;
}

enum { DL_POST = 1, DL_HISTORY = 2, DL_SPACE = 4, DL_NOENTER = 8 };

/* The focused application's rule (m > 0 when one matched). */
static int app_rule(kl_app_rule *ar)
{
    char names[512] = "", err[1024] = "";
    int m = 0;
    if (G.o.apps.n && kl_focused_app(names, sizeof names) == 0)
        m = kl_app_match(&G.o.apps, names, ar, err, sizeof err);
    if (m < 0) klog("WARN", "app rules: %s", err);
    if (m > 0) {
        for (char *t = strchr(names, '\t'); t; t = strchr(t, '\t')) *t = ' ';
        klog("INFO", "focused \"%s\": app rule \"%s\"", names, ar->pattern);
    }
    return m;
}

/* Post-processing (DL_POST: fresh transcripts), history (DL_HISTORY), the focused app's
 * rule, output; DL_SPACE puts one space before the text (--live: a chunk after the first),
 * DL_NOENTER holds back --enter (--live: only the dictation's last piece presses Return).
 * Returns the text as given to the output (malloc'd), NULL when nothing was. Worker. */
static char *deliver(const char *raw, const char *id, int flags, const char *timing)
{
    char err[1024] = "", how[1200];
    kl_app_rule ar = { .enter = -1 };
    int m = app_rule(&ar);
    const char *profile = m > 0 && ar.profile[0] ? ar.profile : NULL;
    char *text = flags & DL_POST ? kl_post_apply(G.post, profile, raw, err, sizeof err) : strdup(raw);
    if (!text) { klog("ERROR", "out of memory"); return NULL; }
    if ((flags & DL_POST) && err[0]) klog("WARN", "request %s: %s; typing the text as it was", id, err);
    if (!text[0]) { klog("INFO", "request %s: nothing left after post-processing", id); free(text); return NULL; }
    if (flags & DL_SPACE) {
        char *t = malloc(strlen(text) + 2);
        if (!t) { free(text); return NULL; }
        t[0] = ' ';
        strcpy(t + 1, text);
        free(text);
        text = t;
    }
    if ((flags & DL_HISTORY) && G.o.history > 0 && G.history[0] && kl_history_add(G.history, G.o.history, text, err, sizeof err) != 0)
        klog("WARN", "history: %s", err);
    kl_clip_saved k = { 0 };
    kl_output_opts oo = { .typer = G.o.typer, .type_delay_ms = G.o.type_delay_ms,
                          .modifier_wait_ms = G.o.modifier_wait_ms, .mods_held = mods_held,
                          .paste_chord = ar.paste_chord[0] ? ar.paste_chord : G.o.paste_chord,
                          .paste_delay_ms = G.o.paste_delay_ms, .keep = &k,
                          .enter = flags & DL_NOENTER ? 0 : ar.enter >= 0 ? ar.enter : G.o.enter };
    oo.mode = out_mode(ar.output[0] ? ar.output : G.o.output);
    double t2 = now_mono();
    if (kl_output_text(&oo, text, how, sizeof how, err, sizeof err) == 0) {
        klog("INFO", "request %s: %zu chars %s, output %s in %.0f ms", id, strlen(text), timing, how, (now_mono() - t2) * 1000);
        if (strstr(how, "clipboard (") == how) play(G.o.ready_sound);
        notify("Dictation typed", text);
    } else {
        klog("ERROR", "request %s: %zu chars transcribed but not delivered: %s", id, strlen(text), err);
        notify("Dictation failed", err);
    }
    keep_note(&k, text);
    return text;
}

/* One spool round trip; the parsed response, or NULL (logged). A user cancel that came
 * before the request was written is passed on to the daemon here (kl_live.h). */
static json_t *round_trip(ssc *c, const char *path, const ssc_req_opts *ro, char id[SS_ID_MAX + 1])
{
    char err[1024], cid[SS_ID_MAX + 1];
    json_t *resp = NULL;
    if (ssc_submit_ex(c, path, ro, id, err, sizeof err) != 0) {
        klog("ERROR", "cannot submit %s: %s", path, err);
        return NULL;
    }
    if (kl_live_submitted(G.live, id)) {
        if (ssc_submit_cancel(c, id, cid, err, sizeof err) != 0) klog("WARN", "cancel of %s: %s", id, err);
        else { klog("INFO", "request %s: cancel request %s sent", id, cid); kl_live_cancel_sent(G.live, cid); }
    }
    int r = ssc_wait(c, id, G.o.timeout, &resp, err, sizeof err);
    if (kl_live_finished(G.live) && kl_live_take_cancel(G.live, cid)) {
        /* the cancel's own answer comes at once: collect it, leave no file behind */
        json_t *cr = NULL;
        if (ssc_wait(c, cid, 2.0, &cr, err, sizeof err) == 0) json_decref(cr);
    }
    if (r != 0) {
        klog("ERROR", "request %s: %s", id, r == SSC_TIMEOUT ? "no response in time" : err);
        return NULL;
    }
    const json_t *e = json_object_get(resp, "error");
    const char *code = json_string_value(json_object_get(resp, "error_code"));
    if (code && !strcmp(code, "cancelled")) klog("INFO", "request %s: cancelled by the daemon", id);
    else if (json_is_string(e)) klog("ERROR", "request %s: daemon error: %s", id, json_string_value(e));
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

/* The response's segments joined (kl_text_join); NULL on OOM. */
static char *resp_text(const json_t *resp)
{
    const json_t *arr = json_object_get(resp, "results");
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    const char **segs = calloc(n ? n : 1, sizeof *segs);
    if (!segs) return NULL;
    for (size_t i = 0; i < n; i++) segs[i] = json_string_value(json_array_get(arr, i));
    char *text = kl_text_join(segs, n);
    free(segs);
    return text;
}

/* Transcribes one file of the dictation (a chunk, the remainder, or a whole recording), with
 * the text so far as its prompt. Returns the text (malloc'd, maybe ""), NULL on a failure.
 * id: the request's id (for the log). */
static char *transcribe_file(ssc *c, const job *j, char id[SS_ID_MAX + 1])
{
    char err[1024], lang[16], prompt[KL_PROMPT_MAX + 1];
    id[0] = 0;
    if (!c) { klog("ERROR", "no session client; %s not transcribed", j->path); return NULL; }
    if (!G.o.no_start && ssc_ensure_daemon(c, err, sizeof err) != 0) {
        klog("ERROR", "cannot start session_daemon: %s", err);
        return NULL;
    }
    /* the language a chunk before found, else the binding's, else the fixed one, else
     * detection (restricted below) */
    snprintf(lang, sizeof lang, "%s", G.w_lang[0] ? G.w_lang : j->lang[0] ? j->lang :
             G.o.language[0] ? G.o.language : G.o.languages[0] ? "auto" : "");
    /* the vocabulary as hotwords (faster-whisper's: in every window's prompt, also after the
     * first), the initial prompt and the text so far as the first window's prompt */
    kl_live_prompt(G.live, G.o.initial_prompt, prompt, sizeof prompt);
    ssc_req_opts ro = { .language = lang[0] ? lang : NULL, .prompt = prompt[0] ? prompt : NULL,
                        .hotwords = G.o.vocabulary[0] ? G.o.vocabulary : NULL,
                        .priority = "interactive" };
    json_t *resp = round_trip(c, j->path, &ro, id);
    const char *got = resp ? json_string_value(json_object_get(resp, "language")) : NULL;
    if (resp && !strcmp(lang, "auto") && G.o.languages[0] && got && !in_list(G.o.languages, got)) {
        /* detected outside the user's languages: decode again in the first of them */
        snprintf(lang, sizeof lang, "%.*s", (int)strcspn(G.o.languages, ","), G.o.languages);
        klog("INFO", "request %s: detected \"%s\", not in languages %s: again as \"%s\"", id, got, G.o.languages, lang);
        json_decref(resp);
        resp = round_trip(c, j->path, &ro, id);
        got = NULL;
    }
    if (!resp) return NULL;
    /* the dictation's later chunks keep the language found here: one language per dictation */
    if (!strcmp(lang, "auto") && got && strlen(got) < sizeof G.w_lang) snprintf(G.w_lang, sizeof G.w_lang, "%s", got);
    else if (strcmp(lang, "auto")) snprintf(G.w_lang, sizeof G.w_lang, "%s", lang);
    const char *code = json_string_value(json_object_get(resp, "error_code"));
    char *text = code && !strcmp(code, "cancelled") ? NULL : resp_text(resp);
    json_decref(resp);
    return text;
}

/* --live: a chunk's text typed now (last: the dictation's last piece); the typed texts are
 * kept for the final event. */
static void live_type(const char *text, const char *id, const char *timing, int last)
{
    char *typed = deliver(text, id, DL_POST | (G.w_typed && G.w_typed[0] ? DL_SPACE : 0) | (last ? 0 : DL_NOENTER), timing);
    if (!typed) return;
    size_t a = G.w_typed ? strlen(G.w_typed) : 0, b = strlen(typed);
    char *t = realloc(G.w_typed, a + b + 1);
    if (t) { memcpy(t + a, typed, b + 1); G.w_typed = t; }
    free(typed);
}

/* The dictation's end: its whole text typed (or, with --live, the remainder), the events. */
static void finish_dictation(const char *rest, const char *id, const job *j, double t0)
{
    double t1 = now_mono();
    char timing[160];
    snprintf(timing, sizeof timing, "in %.0f ms (release to text %.0f ms, %d chunks before)",
             (t1 - t0) * 1000, (t1 - j->stopped) * 1000, j->chunk - 1);
    char *whole = kl_live_text(G.live), *typed = NULL;
    if (!whole) { klog("ERROR", "out of memory"); return; }
    if (!whole[0]) {
        klog("INFO", "request %s: empty result in %.0f ms; nothing typed", id, (t1 - t0) * 1000);
        kl_evhub_emit(G.hub, "final", "", -1, (t1 - j->stopped) * 1000);
        free(whole);
        return;
    }
    if (G.o.live) {
        if (rest && rest[0]) live_type(rest, id, timing, 1);
        typed = G.w_typed ? strdup(G.w_typed) : NULL;
        char err[512];
        if (typed && G.o.history > 0 && G.history[0] && kl_history_add(G.history, G.o.history, typed, err, sizeof err) != 0)
            klog("WARN", "history: %s", err);
    } else {
        typed = deliver(whole, id, DL_POST | DL_HISTORY, timing);
    }
    kl_evhub_emit(G.hub, "final", typed ? typed : "", -1, (t1 - j->stopped) * 1000);
    free(typed);
    free(whole);
}

static void do_transcribe(ssc *c, const job *j)
{
    char id[SS_ID_MAX + 1] = "";
    if (j->serial != G.w_serial) {   /* a new dictation */
        G.w_serial = j->serial;
        G.w_lang[0] = 0;
        free(G.w_typed);
        G.w_typed = NULL;
    }
    if (kl_live_begin(G.live, j->serial)) {
        klog("INFO", "%s of a cancelled dictation dropped", j->final ? "the remainder" : "a chunk");
        if (j->path[0]) remove_audio(j->path);
        return;
    }
    double t0 = now_mono();
    char *text = j->path[0] ? transcribe_file(c, j, id) : strdup("");
    if (j->path[0]) remove_audio(j->path);
    if (kl_live_finished(G.live)) {
        klog("INFO", "request %s: dictation cancelled; nothing typed", id[0] ? id : "-");
        free(text);
        return;
    }
    if (!text) {
        kl_evhub_emit(G.hub, "error", j->final ? "the transcription failed" : "a chunk failed", -1, -1);
        if (!j->final) { free(text); return; }   /* the rest of the dictation still comes */
    }
    if (text && text[0] && kl_live_add(G.live, text) != 0) klog("ERROR", "out of memory");
    if (j->final) {
        finish_dictation(text, id[0] ? id : "-", j, t0);
    } else if (text && text[0]) {
        char *sofar = kl_live_text(G.live);
        klog("INFO", "request %s: chunk %d: %zu chars in %.0f ms", id, j->chunk, strlen(text), (now_mono() - t0) * 1000);
        kl_evhub_emit(G.hub, "partial", text, j->chunk, -1);
        if (G.o.live) live_type(text, id, "(chunk)", 0);
        else if (sofar) notify("Dictating…", sofar);
        free(sofar);
    }
    free(text);
}

static void *worker(void *arg)
{
    (void)arg;
    ssc_opts so = ssc_default_opts();
    so.autostart = !G.o.no_start;
    so.daemon_timeout = G.o.daemon_timeout;
    if (G.o.model[0]) so.model = G.o.model;
    if (G.o.daemon[0]) so.daemon_path = G.o.daemon;
    ssc *c = NULL;
    char err[1024];
    pthread_mutex_lock(&G.jmu);
    for (;;) {
        while (!G.head && !G.wquit) {
            if (!G.keep.valid) { pthread_cond_wait(&G.jcv, &G.jmu); continue; }
            double left = G.keep_deadline - now_mono();
            if (left <= 0) {
                pthread_mutex_unlock(&G.jmu);
                keep_restore("after --clipboard-restore");
                pthread_mutex_lock(&G.jmu);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double until = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + left;
            ts.tv_sec = (time_t)until;
            ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&G.jcv, &G.jmu, &ts);
        }
        if (!G.head) break;
        job *j = G.head;
        G.head = j->next;
        if (!G.head) G.tail = NULL;
        if (G.wquit) {   /* quitting: pending work is dropped */
            if (j->kind == JOB_TRANSCRIBE && j->path[0]) remove_audio(j->path);
            free(j);
            continue;
        }
        G.wbusy = 1;
        pthread_mutex_unlock(&G.jmu);
        if (!c && ssc_open(&c, &so, err, sizeof err) != 0) {
            klog("ERROR", "session client: %s", err);
            c = NULL;
        }
        if (j->kind == JOB_ENSURE && c && !G.o.no_start) {
            pid_t before = ssc_daemon_pid(c);
            double t0 = now_mono();
            if (before <= 0) {
                klog("INFO", "no session_daemon alive: starting one while recording");
                if (ssc_ensure_daemon(c, err, sizeof err) != 0) klog("ERROR", "cannot start session_daemon: %s", err);
                else klog("INFO", "session_daemon pid %ld ready in %.0f ms", (long)ssc_daemon_pid(c), (now_mono() - t0) * 1000);
            }
        } else if (j->kind == JOB_TRANSCRIBE) {
            do_transcribe(c, j);
        } else if (j->kind == JOB_TEXT) {
            free(deliver(j->path, "paste-last", 0, "from the history"));
        }
        free(j);
        pthread_mutex_lock(&G.jmu);
        G.wbusy = 0;
    }
    G.wdone = 1;
    pthread_mutex_unlock(&G.jmu);
    keep_restore("exiting");
    ssc_free(c);
    return NULL;
}

static int worker_idle(void)
{
    pthread_mutex_lock(&G.jmu);
    int idle = !G.head && !G.wbusy;
    pthread_mutex_unlock(&G.jmu);
    return idle;
}

/* ---- recording ------------------------------------------------------------------------ */

static void rec_start_lang(const char *why, const char *lang)
{
    if (G.recording) return;
    snprintf(G.rec_lang, sizeof G.rec_lang, "%s", lang ? lang : "");
    if (kl_capture_start(G.cap) != 0) klog("WARN", "out of memory for the pre-roll");
    G.recording = 1;
    G.cuts = 0;
    G.serial++;
    G.chunks = 0;
    G.rec_started = now_mono();
    G.next_chunk_check = G.rec_started;
    kl_term_reset(&G.term, 1);
    klog("INFO", "recording started (%s)%s", why, kl_capture_live(G.cap) ? "" : "; the microphone is not open yet");
    push_job(JOB_ENSURE, NULL, 0);
    play(G.o.start_sound);
    notify("Recording", G.rec_lang[0] ? G.rec_lang : "speak now");
    kl_evhub_emit(G.hub, "recording", NULL, -1, -1);
}
static void rec_start(const char *why) { rec_start_lang(why, NULL); }

/* Queues the transcription of path (NULL: no audio, only the end of the dictation). */
static void push_transcribe(const char *path, int final)
{
    job *j = calloc(1, sizeof *j);
    if (!j) { klog("ERROR", "out of memory queueing a job"); return; }
    j->kind = JOB_TRANSCRIBE;
    j->stopped = now_mono();
    j->serial = G.serial;
    j->chunk = G.chunks + (!path && final);   /* the end of a dictation counts as a piece */
    j->final = final;
    if (path) snprintf(j->path, sizeof j->path, "%s", path);
    snprintf(j->lang, sizeof j->lang, "%s", G.rec_lang);
    push_queue(j);
}

/* Writes samples as <root>/recorded_audio_<usec>.wav into path; frees s. 0 or -1 (logged). */
static int write_wav(int16_t *s, size_t n, char path[4300])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long us = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
    const char *sep = strcmp(G.root, "/") ? "/" : "";
    int r = -1;
    for (int i = 0; i < 100 && r != 0; i++, us++) {
        snprintf(path, 4300, "%s%srecorded_audio_%llu.wav", G.root, sep, us);
        r = kl_wav_write(path, s, n, KL_RATE);
        if (r != 0 && errno != EEXIST) break;
    }
    free(s);
    if (r != 0) klog("ERROR", "cannot write %s: %s", path, strerror(errno));
    return r;
}

/* Writes a recording (a continuous-mode utterance, or a chunked dictation's remainder) as a
 * WAV and queues its transcription, the last of its dictation. held: seconds the recording
 * ran (for the log). */
static void submit_samples(int16_t *s, size_t n, size_t pre, const char *why, int full, double held)
{
    size_t speech = n > pre ? n - pre : 0;
    if (speech * 1000 < (size_t)G.o.min_ms * KL_RATE) {
        klog("INFO", "recording stopped (%s): %.2f s held, %.2f s captured: shorter than %d ms, %s",
             why, held, (double)speech / KL_RATE, G.o.min_ms, G.chunks ? "only the chunks are typed" : "discarded");
        free(s);
        if (G.chunks) push_transcribe(NULL, 1);   /* the chunks' text is still to be typed */
        return;
    }
    double peak, rms;
    kl_pcm_level(s, n, &peak, &rms);
    char path[4300];
    if (write_wav(s, n, path) != 0) {
        if (G.chunks) push_transcribe(NULL, 1);
        return;
    }
    klog("INFO", "recording stopped (%s): %.2f s + %.0f ms pre-roll, peak %.3f rms %.4f%s%s -> %s",
         why, (double)speech / KL_RATE, (double)pre * 1000 / KL_RATE, peak, rms,
         full ? " (cut at --max-seconds)" : "", G.chunks ? " (the remainder after the chunks)" : "", path);
    G.chunks++;
    push_transcribe(path, 1);
    notify("Transcribing", "");
}

/* The user withdrew the dictation: the recording (if any) is dropped, the request in flight
 * cancelled through the daemon, the queued chunks skipped; nothing is typed. */
static void user_cancel(const char *why)
{
    if (!G.recording && worker_idle()) return;   /* nothing to withdraw */
    if (G.recording) {
        G.recording = 0;
        kl_term_reset(&G.term, 0);
        int16_t *s = NULL;
        size_t n = 0, pre = 0;
        kl_capture_stop(G.cap, &s, &n, &pre);
        free(s);
        play(G.o.stop_sound);
        klog("INFO", "recording cancelled (%s) after %.2f s", why, now_mono() - G.rec_started);
    }
    char id[KL_LIVE_ID_MAX + 1], cid[SS_ID_MAX + 1], err[1024];
    if (kl_live_cancel(G.live, G.serial, id)) {
        if (!G.cc) {
            ssc_opts so = ssc_default_opts();
            so.autostart = 0;
            if (ssc_open(&G.cc, &so, err, sizeof err) != 0) G.cc = NULL;
        }
        if (G.cc && ssc_submit_cancel(G.cc, id, cid, err, sizeof err) == 0) {
            klog("INFO", "request %s: cancel request %s sent (%s)", id, cid, why);
            kl_live_cancel_sent(G.live, cid);
        }
        else klog("WARN", "request %s: cannot send a cancel: %s", id, G.cc ? err : "no session client");
    }
    kl_evhub_emit(G.hub, "cancelled", NULL, -1, -1);
    notify("Dictation cancelled", "");
}

static void rec_stop(const char *why, int cancel)
{
    if (!G.recording) return;
    if (cancel) { user_cancel(why); return; }
    int voiced = 0;
    kl_capture_silence_ms(G.cap, &voiced);
    G.recording = 0;
    kl_term_reset(&G.term, 0);
    int16_t *s = NULL;
    size_t n = 0, pre = 0;
    int full = kl_capture_stop(G.cap, &s, &n, &pre);
    double held = now_mono() - G.rec_started;
    play(G.o.stop_sound);
    if (G.o.continuous && G.cuts && !voiced) {   /* only the silence after the last utterance */
        klog("INFO", "recording stopped (%s): no speech since the last utterance", why);
        free(s);
        return;
    }
    submit_samples(s, n, pre, why, full, held);
}

/* Continuous mode: the utterance that just ended goes off; the recording goes on. Each
 * utterance is a dictation of its own (typed alone). */
static void rec_cut(const char *why)
{
    int16_t *s = NULL;
    size_t n = 0;
    int full = kl_capture_cut(G.cap, &s, &n);
    G.cuts++;
    double held = now_mono() - G.rec_started;
    G.rec_started = now_mono();
    G.chunks = 0;
    submit_samples(s, n, 0, why, full, held);
    G.serial++;
    G.chunks = 0;
}

/* Chunked dictation: when the audio since the last cut holds enough speech and a pause, its
 * part up to the middle of the pause is sent now (kl_chunk.h). Loop thread, while recording. */
static void chunk_check(void)
{
    double now = now_mono();
    if (!G.chunker || now < G.next_chunk_check || kl_capture_seconds(G.cap) < G.o.chunk_seconds) return;
    /* the VAD runs over the whole chunk each time: every 250 ms (Silero: 500 ms) is plenty
     * for a pause of 300 ms and keeps the loop's cost small */
    G.next_chunk_check = now + (kl_chunker_silero(G.chunker) ? 0.5 : 0.25);
    int16_t *s = NULL;
    size_t n = 0, cut = 0, pre = 0;
    char err[512];
    if (kl_capture_peek(G.cap, &s, &n) != 0) { klog("ERROR", "out of memory"); return; }
    int r = s ? kl_chunk_find(G.chunker, s, n, &cut, err, sizeof err) : 0;
    free(s);
    if (r < 0) klog("WARN", "chunking: %s", err);
    if (r <= 0) return;
    if (kl_capture_cut_at(G.cap, cut, &s, &pre) != 0) return;
    char path[4300];
    if (write_wav(s, cut, path) != 0) return;
    G.chunks++;
    klog("INFO", "chunk %d: %.2f s (cut in a pause, %.2f s into the recording) -> %s", G.chunks,
         (double)cut / KL_RATE, now - G.rec_started, path);
    push_transcribe(path, 0);
}

/* Hands-free checks and chunking, every loop turn while recording. */
static void hands_free(void)
{
    if (!G.recording) return;
    int voiced = 0;
    double sil = kl_capture_silence_ms(G.cap, &voiced);
    int over = now_mono() - G.rec_started > G.o.max_seconds;
    if (G.o.auto_stop_ms > 0 && voiced && sil >= G.o.auto_stop_ms) {
        char why[64];
        snprintf(why, sizeof why, "%d ms of silence", G.o.auto_stop_ms);
        if (G.o.continuous) rec_cut(why); else rec_stop(why, 0);
    } else if (over) {
        if (G.o.continuous && voiced) rec_cut("--max-seconds reached");
        else rec_stop("--max-seconds reached", 0);
    } else if (G.o.continuous && !voiced) {
        kl_capture_trim(G.cap, (size_t)KL_RATE * 3 / 10);   /* keep 300 ms before the next word */
    } else {
        chunk_check();
    }
}

static void on_action(void *u, kl_ev_action a)
{
    const char *why = u;
    if (a == KL_EV_START) rec_start(why);
    else if (a == KL_EV_STOP) rec_stop(why, 0);
    else if (a == KL_EV_TOGGLE) { if (G.recording) rec_stop(why, 0); else rec_start(why); }
}

/* ---- evdev devices and hot-plug ------------------------------------------------------- */

static int has_bit(const unsigned char *b, int i) { return (b[i / 8] >> (i % 8)) & 1; }

static void dev_close(int slot, const char *why)
{
    klog("INFO", "input device %s removed (%s)", G.devpath[slot], why);
    kl_ev_action a = kl_evdev_remove(&G.ev, slot);
    close(G.devfd[slot]);
    G.devfd[slot] = -1;
    G.devpath[slot][0] = 0;
    atomic_store(&G.mods, kl_evdev_mods(&G.ev));
    on_action("unplug", a);
}

/* Opens dir/name when it is a keyboard with the trigger key (or a FIFO, for tests).
 * Returns 1 opened, 0 skipped, -1 permission denied. */
static int dev_try(const char *name)
{
    if (strncmp(name, "event", 5)) return 0;
    char path[300];
    snprintf(path, sizeof path, "%s/%s", G.o.evdev_dir, name);
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (G.devfd[i] >= 0 && !strcmp(G.devpath[i], path)) return 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno == EACCES || errno == EPERM ? -1 : 0;
    struct stat st;
    char dname[256] = "pipe";
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) { close(fd); return 0; }
    if (S_ISCHR(st.st_mode)) {
        unsigned char bits[KEY_MAX / 8 + 1];
        memset(bits, 0, sizeof bits);
        if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof bits), bits) < 0 || !has_bit(bits, G.o.key)) {
            close(fd);
            return 0;
        }
        if (ioctl(fd, EVIOCGNAME(sizeof dname), dname) < 0) snprintf(dname, sizeof dname, "?");
    }
    int slot = kl_evdev_add(&G.ev);
    if (slot < 0) { close(fd); klog("WARN", "too many input devices; %s ignored", path); return 0; }
    G.devfd[slot] = fd;
    snprintf(G.devpath[slot], sizeof G.devpath[slot], "%s", path);
    klog("INFO", "input device %s (%s) has %s: listening", path, dname, G.o.key_name);
    return 1;
}

/* Returns the number of devices refused for permissions. */
static int dev_scan(int *opened)
{
    DIR *d = opendir(G.o.evdev_dir);
    int denied = 0;
    *opened = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int r = dev_try(e->d_name);
        if (r < 0) denied++;
        if (r > 0) (*opened)++;
    }
    closedir(d);
    return denied;
}

static void on_inotify(void)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t k;
    while ((k = read(G.ifd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + k;) {
            struct inotify_event *ie = (struct inotify_event *)p;
            p += sizeof *ie + ie->len;
            if (!ie->len) continue;
            if (ie->mask & (IN_DELETE | IN_MOVED_FROM)) {
                char path[300];
                snprintf(path, sizeof path, "%s/%s", G.o.evdev_dir, ie->name);
                for (int i = 0; i < KL_EV_SLOTS; i++)
                    if (G.devfd[i] >= 0 && !strcmp(G.devpath[i], path)) dev_close(i, "node deleted");
            } else if (dev_try(ie->name) < 0 && !G.denied_logged) {
                klog("WARN", "%s/%s: permission denied (is this user in the 'input' group?)", G.o.evdev_dir, ie->name);
                G.denied_logged = 1;
            }
        }
    }
}

/* ---- control socket and terminal ------------------------------------------------------- */

static int quitting;

static void on_ctl(int lfd)
{
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        char cmd[64], reply[128], *arg;
        if (kl_ctl_read(fd, cmd, sizeof cmd) != 0) { close(fd); continue; }
        snprintf(reply, sizeof reply, "ok");
        arg = strchr(cmd, ' ');    /* "start de": this recording's language */
        if (arg) *arg++ = 0;
        if (arg && strspn(arg, "abcdefghijklmnopqrstuvwxyz") != strlen(arg)) arg = NULL;
        if (!strcmp(cmd, "start")) rec_start_lang("control", arg);
        else if (!strcmp(cmd, "stop")) rec_stop("control", 0);
        else if (!strcmp(cmd, "toggle")) { if (G.recording) rec_stop("control", 0); else rec_start_lang("control", arg); }
        else if (!strcmp(cmd, "paste-last")) {
            char *t = G.history[0] ? kl_history_get(G.history, 0) : NULL;
            if (t && strlen(t) < sizeof ((job *)0)->path) push_job(JOB_TEXT, t, now_mono());
            else snprintf(reply, sizeof reply, "error no history");
            free(t);
        }
        else if (!strcmp(cmd, "cancel")) user_cancel("control");
        else if (!strcmp(cmd, "events")) {   /* the connection stays open for event lines */
            if (!G.hub || kl_evhub_add(G.hub, fd) != 0) close(fd);
            continue;
        }
        else if (!strcmp(cmd, "quit")) quitting = 1;
        else if (strcmp(cmd, "status")) snprintf(reply, sizeof reply, "error unknown command");
        if (!strncmp(reply, "ok", 2))
            snprintf(reply, sizeof reply, "ok %s%s", G.recording ? "recording" : "idle",
                     worker_idle() ? "" : " transcribing");
        size_t l = strlen(reply);
        reply[l++] = '\n';
        if (write(fd, reply, l) < 0) { /* the client went away */ }
        close(fd);
    }
}

static void term_restore(void)
{
    if (G.term_tty) tcsetattr(0, TCSANOW, &G.term_saved);
}

/* Returns 1 at end of input. */
static int on_stdin(void)
{
    char buf[256];
    ssize_t k = read(0, buf, sizeof buf);
    if (k < 0) return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (k == 0) return 1;
    for (ssize_t i = 0; i < k; i++) {
        char ch = buf[i];
        if (!G.term_tty) {   /* a pipe: each line toggles */
            if (ch == '\n') on_action("terminal", KL_EV_TOGGLE);
            continue;
        }
        if (ch == '\r' || ch == '\n') on_action("terminal", kl_term_enter(&G.term, now_mono()));
        else if (ch == 0x1b) user_cancel("terminal");
        else if (ch == 'q' || ch == 3 || ch == 4) return 1;
    }
    return 0;
}

/* ---- options --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: key_listener [OPTIONS]                  run the push-to-talk listener\n"
"       key_listener start|stop|toggle|cancel|status|quit|paste-last|waybar|events [--socket PATH]\n"
"       key_listener start|toggle LANG    (this recording in LANG: one binding per language)\n"
"Trigger: --trigger evdev|terminal|none (default evdev; the control socket always works)\n"
"  --key NAME (Insert, F16, RightCtrl, Pause, BTN_SIDE, a code; default Insert)\n"
"  --mode hold|toggle   --evdev-dir DIR (default /dev/input)\n"
"Capture: --audio auto|pulse|alsa|file  --source NAME (device name or part of its description)\n"
"  --preroll MS (300; 0 opens the microphone only while recording)  --max-seconds S (300)\n"
"  --min-ms MS (250: shorter recordings are discarded)  --keep-audio  --list-sources\n"
"Output: --output type|paste|copy|print  --typer auto|wtype|dotool|ydotool|xdotool|none\n"
"  --type-delay MS (5)  --modifier-wait MS (1000)  --paste-chord ctrl+v  --paste-delay MS (300)\n"
"  --clipboard-restore S (30; 0 never)  --enter  --app 'PATTERN: output=paste, paste-chord=..., enter=yes, profile=P'\n"
"Text: --replace 'FROM => TO'  --replace-exact ...  --replace-regex ...  --fillers  --filler-words LIST\n"
"  --spoken-punctuation  --hook CMD  --hook-timeout S (10)\n"
"Decoding: --vocabulary 'Name, term, ...'  --initial-prompt TEXT  --language CODE|auto  --languages en,de\n"
"Hands-free: --auto-stop MS (0 off)  --silence-level RMS (0.01)  --continuous\n"
"Chunks: --chunk-seconds S (6 s of speech; 0 off)  --chunk-pause MS (300)  --vad-model FILE  --live\n"
"History: --history N (20; 0 off)  --history-file FILE   Feedback: --notify  --ready-sound FILE\n"
"Session: --timeout S (60)  --model PATH  --daemon PATH  --daemon-timeout S  --no-start\n"
"Other: --log FILE (default <root>/key_listener.log)  --socket PATH  --config FILE\n"
"  --no-config  --start-sound FILE  --stop-sound FILE  --sound-player CMD (paplay)\n"
"Config file: $XDG_CONFIG_HOME/speech-session/key_listener.conf, \"name = value\" lines.\n"
"Environment: SPEECH_SESSION_ROOT (default /tmp), SPEECH_SESSION_DAEMON, XDG_RUNTIME_DIR.\n"
"Exit codes: 0 ok, 3 no listener, 100 usage, 110 already running, 111 system failure.\n");
}

static const struct option longopts[] = {
    { "key", required_argument, 0, 0 }, { "mode", required_argument, 0, 0 },
    { "trigger", required_argument, 0, 0 }, { "evdev-dir", required_argument, 0, 0 },
    { "audio", required_argument, 0, 0 }, { "source", required_argument, 0, 0 },
    { "preroll", required_argument, 0, 0 }, { "max-seconds", required_argument, 0, 0 },
    { "min-ms", required_argument, 0, 0 }, { "output", required_argument, 0, 0 },
    { "typer", required_argument, 0, 0 }, { "type-delay", required_argument, 0, 0 },
    { "modifier-wait", required_argument, 0, 0 }, { "timeout", required_argument, 0, 0 },
    { "model", required_argument, 0, 0 }, { "daemon", required_argument, 0, 0 },
    { "daemon-timeout", required_argument, 0, 0 }, { "no-start", no_argument, 0, 0 },
    { "keep-audio", no_argument, 0, 0 }, { "log", required_argument, 0, 0 },
    { "socket", required_argument, 0, 0 }, { "start-sound", required_argument, 0, 0 },
    { "stop-sound", required_argument, 0, 0 }, { "sound-player", required_argument, 0, 0 },
    { "fillers", no_argument, 0, 0 }, { "filler-words", required_argument, 0, 0 },
    { "spoken-punctuation", no_argument, 0, 0 }, { "hook", required_argument, 0, 0 },
    { "hook-timeout", required_argument, 0, 0 }, { "replace", required_argument, 0, 0 },
    { "replace-exact", required_argument, 0, 0 }, { "replace-regex", required_argument, 0, 0 },
    { "vocabulary", required_argument, 0, 0 }, { "initial-prompt", required_argument, 0, 0 },
    { "language", required_argument, 0, 0 }, { "languages", required_argument, 0, 0 },
    { "paste-chord", required_argument, 0, 0 }, { "paste-delay", required_argument, 0, 0 },
    { "clipboard-restore", required_argument, 0, 0 }, { "enter", no_argument, 0, 0 },
    { "history", required_argument, 0, 0 }, { "history-file", required_argument, 0, 0 },
    { "auto-stop", required_argument, 0, 0 }, { "silence-level", required_argument, 0, 0 },
    { "continuous", no_argument, 0, 0 }, { "app", required_argument, 0, 0 },
    { "chunk-seconds", required_argument, 0, 0 }, { "chunk-pause", required_argument, 0, 0 },
    { "vad-model", required_argument, 0, 0 }, { "live", no_argument, 0, 0 },
    { "notify", no_argument, 0, 0 }, { "ready-sound", required_argument, 0, 0 },
    { "config", required_argument, 0, 'c' }, { "no-config", no_argument, 0, 'C' },
    { "list-sources", no_argument, 0, 'L' }, { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
};

static const char *ctl_arg;

static int parse_args(int argc, char **argv, const char **cmd, int *list)
{
    char err[600], cfg[1100] = "";
    int no_cfg = 0, ch, idx;
    /* pass 1: the config file choice */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
        if (ch == 'c') snprintf(cfg, sizeof cfg, "%s", optarg);
        if (ch == 'C') no_cfg = 1;
    }
    kl_opts_default(&G.o);
    if (!no_cfg) {
        int required = cfg[0] != 0;
        if (!required) kl_config_default_path(cfg, sizeof cfg);
        if (cfg[0] && kl_config_load(&G.o, cfg, required, err, sizeof err) != 0) {
            fprintf(stderr, "key_listener: %s\n", err);
            return 100;
        }
    }
    /* pass 2: flags override the file; a command may come first or last */
    optind = 0;
    opterr = 1;
    for (;;) {
        while ((ch = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
            if (ch == 'h') { usage(stdout); exit(0); }
            if (ch == 'L') { *list = 1; continue; }
            if (ch == 'c' || ch == 'C') continue;
            if (ch != 0) { usage(stderr); return 100; }
            if (kl_opts_set(&G.o, longopts[idx].name, optarg, err, sizeof err) != 0) {
                fprintf(stderr, "key_listener: %s\n", err);
                return 100;
            }
        }
        if (optind >= argc) break;
        if (*cmd && !ctl_arg && (!strcmp(*cmd, "start") || !strcmp(*cmd, "toggle"))) {
            ctl_arg = argv[optind++];     /* "start de": a language for this recording */
            continue;
        }
        if (*cmd) { fprintf(stderr, "key_listener: unexpected argument \"%s\"\n", argv[optind]); return 100; }
        *cmd = argv[optind++];
    }
    return 0;
}

static void history_path(void)
{
    if (G.o.history_file[0]) snprintf(G.history, sizeof G.history, "%s", G.o.history_file);
    else kl_history_default_path(G.history, sizeof G.history);
}

/* paste-last without a running listener: typed from here, with the configured output. */
static int paste_last_here(void)
{
    char err[1024], how[1200];
    history_path();
    char *t = G.history[0] ? kl_history_get(G.history, 0) : NULL;
    if (!t) { fprintf(stderr, "key_listener: no history (%s)\n", G.history); return 1; }
    kl_output_opts oo = { .mode = out_mode(G.o.output), .typer = G.o.typer, .type_delay_ms = G.o.type_delay_ms,
                          .paste_chord = G.o.paste_chord, .paste_delay_ms = G.o.paste_delay_ms, .enter = G.o.enter };
    int r = kl_output_text(&oo, t, how, sizeof how, err, sizeof err);
    free(t);
    if (r != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    return 0;
}

/* One line of JSON for status bars (waybar's custom module "return-type": "json"; i3blocks
 * and others can read "text"); reply NULL: no listener. Always exits 0 so the bar shows it. */
static int bar_status(const char *reply)
{
    const char *cls = !reply ? "off" : strstr(reply, "recording") ? "recording" :
                      strstr(reply, "transcribing") ? "transcribing" : "idle";
    const char *text = !reply ? "" : !strcmp(cls, "recording") ? "REC" : !strcmp(cls, "transcribing") ? "..." : "MIC";
    printf("{\"text\": \"%s\", \"alt\": \"%s\", \"class\": \"%s\", \"tooltip\": \"key_listener: %s\"}\n",
           text, cls, cls, !reply ? "not running" : cls);
    return 0;
}

static int control(const char *cmd)
{
    static const char *const cmds[] = { "start", "stop", "toggle", "cancel", "status", "quit", "paste-last", "waybar", "events" };
    int known = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) known |= !strcmp(cmd, cmds[i]);
    if (!known) { fprintf(stderr, "key_listener: unknown command \"%s\"\n", cmd); usage(stderr); return 100; }
    if (ctl_arg && (strlen(ctl_arg) < 2 || strlen(ctl_arg) > 3 || strspn(ctl_arg, "abcdefghijklmnopqrstuvwxyz") != strlen(ctl_arg))) {
        fprintf(stderr, "key_listener: \"%s\" is not a language code (en, de, ...)\n", ctl_arg);
        return 100;
    }
    char path[1100], err[1200], reply[256], line[64];
    snprintf(line, sizeof line, "%s%s%s", cmd, ctl_arg ? " " : "", ctl_arg ? ctl_arg : "");
    if (kl_ctl_path(G.o.socket, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "key_listener: %s\n", err);
        return 111;
    }
    if (!strcmp(cmd, "events")) {   /* one JSON line per event until the listener exits */
        int r = kl_ctl_events(path, 1, err, sizeof err);
        if (r == KL_CTL_NONE) { fprintf(stderr, "key_listener: no key_listener is running (%s)\n", path); return 3; }
        if (r != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
        return 0;
    }
    int bar = !strcmp(cmd, "waybar");
    int r = kl_ctl_send(path, bar ? "status" : line, reply, sizeof reply, err, sizeof err);
    if (bar) return bar_status(r == 0 ? reply : NULL);
    if (r == KL_CTL_NONE && !strcmp(cmd, "paste-last")) return paste_last_here();
    if (r == KL_CTL_NONE) { fprintf(stderr, "key_listener: no key_listener is running (%s)\n", path); return 3; }
    if (r != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    printf("%s\n", reply);
    return strncmp(reply, "ok", 2) ? 1 : 0;
}

/* The post-processing pipeline from the options (rules were checked when parsed). */
static int setup_post(char *err, size_t n)
{
    kl_post_opts po = { .fillers = G.o.fillers, .filler_words = G.o.filler_words,
                        .punctuation = G.o.punctuation, .hook = G.o.hook, .hook_timeout = G.o.hook_timeout };
    if (!(G.post = kl_post_new(&po))) { snprintf(err, n, "out of memory"); return -1; }
    for (size_t i = 0; i < G.o.rules.n; i++) {
        const char *r = G.o.rules.v[i], *tab = strchr(r, '\t');
        kl_rule_kind k = !strncmp(r, "replace-regex", 13) ? KL_RULE_REGEX :
                         !strncmp(r, "replace-exact", 13) ? KL_RULE_EXACT : KL_RULE_LITERAL;
        if (kl_post_add(G.post, k, tab ? tab + 1 : r, err, n) != 0) return -1;
    }
    return 0;
}

/* Chunked dictation (off with --chunk-seconds 0, and in --continuous mode, which already
 * sends each utterance at its pause), the dictation state and the event hub. */
static int setup_live(char *err, size_t n)
{
    if (!(G.live = kl_live_new()) || !(G.hub = kl_evhub_new())) { snprintf(err, n, "out of memory"); return -1; }
    if (G.o.chunk_seconds <= 0 || G.o.continuous) return 0;
    kl_chunk_opts co = { .chunk_seconds = G.o.chunk_seconds, .min_pause_ms = G.o.chunk_pause_ms,
                         .silence_level = G.o.silence_level };
    return kl_chunker_new(&G.chunker, G.o.vad_model[0] ? G.o.vad_model : NULL, &co, err, n);
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *cmd = NULL;
    int list = 0;
    pthread_mutex_init(&G.logmu, NULL);
    G.log.fd = -1;
    int rc = parse_args(argc, argv, &cmd, &list);
    if (rc) return rc;
    if (cmd) return control(cmd);
    char err[1200];
    if (list) {
        if (kl_source_list(G.o.audio, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
        return 0;
    }

    const char *root = getenv("SPEECH_SESSION_ROOT");
    if (!root || !*root) root = "/tmp";
    if (root[0] != '/') { fprintf(stderr, "key_listener: SPEECH_SESSION_ROOT must be absolute\n"); return 100; }
    snprintf(G.root, sizeof G.root, "%s", root);
    size_t rl = strlen(G.root);
    while (rl > 1 && G.root[rl - 1] == '/') G.root[--rl] = 0;
    char logpath[4300];
    if (G.o.log[0]) snprintf(logpath, sizeof logpath, "%s", G.o.log);
    else snprintf(logpath, sizeof logpath, "%s%skey_listener.log", G.root, rl > 1 ? "/" : "");
    if (ss_log_open(&G.log, logpath, 1, 8u << 20, err, sizeof err) != 0)
        fprintf(stderr, "key_listener: log %s: %s (logging to stderr only)\n", logpath, err);

    /* signals on an fd; SIGPIPE ignored (a typing tool may exit early) */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);   /* before any thread starts: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);

    char sock[1100];
    int lfd = -1;
    if (kl_ctl_path(G.o.socket, sock, sizeof sock, err, sizeof err) == 0) {
        lfd = kl_ctl_listen(sock, err, sizeof err);
        if (lfd == -3) { fprintf(stderr, "key_listener: %s\n", err); return 110; }
    }
    if (lfd < 0) klog("WARN", "no control socket: %s", err);

    for (int i = 0; i < KL_EV_SLOTS; i++) G.devfd[i] = -1;
    G.ifd = -1;
    kl_evdev_init(&G.ev, G.o.key, G.o.toggle);
    kl_term_init(&G.term);
    int use_evdev = !strcmp(G.o.trigger, "evdev"), use_term = !strcmp(G.o.trigger, "terminal");
    if (use_evdev) {
        G.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (G.ifd >= 0 && inotify_add_watch(G.ifd, G.o.evdev_dir, IN_CREATE | IN_ATTRIB |
                                             IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0) {
            close(G.ifd);
            G.ifd = -1;
        }
        int opened = 0, denied = dev_scan(&opened);
        if (!opened && denied) {
            fprintf(stderr,
"key_listener: permission denied reading the input devices in %s (%d refused).\n"
"  The evdev trigger reads /dev/input/event* and needs the 'input' group:\n"
"      sudo usermod -aG input $USER     (then log out and back in)\n"
"  Or use --trigger terminal, or bind `key_listener toggle` (or start/stop) to a key in\n"
"  your compositor or desktop and run with --trigger none.\n", G.o.evdev_dir, denied);
            klog("ERROR", "permission denied for %d input devices in %s: not in the 'input' group", denied, G.o.evdev_dir);
            if (lfd >= 0) { close(lfd); unlink(sock); }
            return 111;
        }
        if (G.ifd < 0)
            klog("WARN", "%s cannot be watched (%s): no evdev hot-plug; the control command still works",
                 G.o.evdev_dir, strerror(errno));
        if (!opened) klog("WARN", "no keyboard with %s yet in %s: waiting for one to be plugged in",
                          G.o.key_name, G.o.evdev_dir);
        if (denied) klog("WARN", "%d input devices in %s refused (permissions)", denied, G.o.evdev_dir);
    }
    if (use_term) {
        G.term_tty = isatty(0);
        if (G.term_tty && tcgetattr(0, &G.term_saved) == 0) {
            struct termios t = G.term_saved;
            t.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
            t.c_cc[VMIN] = 1;
            t.c_cc[VTIME] = 0;
            tcsetattr(0, TCSANOW, &t);
            fprintf(stderr, "Hold ENTER to talk (or press ENTER to start and again to stop); Esc cancels, q quits.\n");
        } else {
            G.term_tty = 0;
        }
    }

    kl_source_ops ops;
    if (kl_source_select(G.o.audio, &ops, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 100; }
    kl_capture_opts co = { .device = G.o.source[0] ? G.o.source : NULL, .preroll_ms = G.o.preroll_ms,
                           .max_seconds = G.o.max_seconds, .log = cap_log,
                           .silence_level = G.o.silence_level };
    if (kl_capture_new(&G.cap, &ops, &co, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    if (setup_post(err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 100; }
    if (setup_live(err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    history_path();
    pthread_mutex_init(&G.jmu, NULL);
    pthread_cond_init(&G.jcv, NULL);
    if (pthread_create(&G.wth, NULL, worker, NULL) != 0) { fprintf(stderr, "key_listener: no worker thread\n"); return 111; }
    klog("INFO", "key_listener started: trigger %s, key %s (%s), audio %s%s%s, pre-roll %d ms, output %s (%s), socket %s",
         G.o.trigger, G.o.key_name, G.o.toggle ? "toggle" : "hold", ops.label,
         G.o.source[0] ? " source " : "", G.o.source, G.o.preroll_ms, G.o.output,
         kl_output_probe(G.o.typer) ? kl_output_probe(G.o.typer) : "no typing tool: clipboard",
         lfd >= 0 ? sock : "none");

    int stdin_open = use_term, quit_when_idle = 0;
    double quit_deadline = 0;
    for (;;) {
        if (quitting && !quit_deadline) {
            rec_stop("quit", 1);
            pthread_mutex_lock(&G.jmu);
            G.wquit = 1;
            pthread_cond_signal(&G.jcv);
            pthread_mutex_unlock(&G.jmu);
            quit_deadline = now_mono() + G.o.timeout + 10;
        }
        if (quitting) {
            pthread_mutex_lock(&G.jmu);
            int done = G.wdone;
            pthread_mutex_unlock(&G.jmu);
            if (done || now_mono() > quit_deadline) break;
        }
        if (quit_when_idle && !G.recording && worker_idle()) quitting = 1;
        struct pollfd p[KL_EV_SLOTS + 4];
        int map[KL_EV_SLOTS + 4], np = 0;
        if (sfd >= 0) { p[np] = (struct pollfd){ sfd, POLLIN, 0 }; map[np++] = -1; }
        if (!quitting) {
            if (lfd >= 0) { p[np] = (struct pollfd){ lfd, POLLIN, 0 }; map[np++] = -2; }
            if (G.ifd >= 0) { p[np] = (struct pollfd){ G.ifd, POLLIN, 0 }; map[np++] = -3; }
            if (stdin_open) { p[np] = (struct pollfd){ 0, POLLIN, 0 }; map[np++] = -4; }
            for (int i = 0; i < KL_EV_SLOTS; i++)
                if (G.devfd[i] >= 0) { p[np] = (struct pollfd){ G.devfd[i], POLLIN, 0 }; map[np++] = i; }
        }
        double deadline = now_mono() + (quitting || quit_when_idle || G.recording ? 0.05 : 1.0);
        double td = kl_term_deadline(&G.term);
        if (td > 0 && td < deadline) deadline = td;
        int ms = (int)((deadline - now_mono()) * 1000) + 1;
        int k = poll(p, (nfds_t)np, ms < 0 ? 0 : ms);
        if (k < 0 && errno != EINTR) { klog("ERROR", "poll: %s", strerror(errno)); break; }
        for (int i = 0; k > 0 && i < np; i++) {
            if (!p[i].revents) continue;
            if (map[i] == -1) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (quitting) { klog("WARN", "second signal: exiting now"); term_restore(); _exit(130); }
                    klog("INFO", "signal %u: shutting down", si.ssi_signo);
                    quitting = 1;
                }
            } else if (map[i] == -2) {
                on_ctl(lfd);
            } else if (map[i] == -3) {
                on_inotify();
            } else if (map[i] == -4) {
                if (on_stdin()) {
                    stdin_open = 0;
                    if (G.term_tty) quitting = 1;
                    else { rec_stop("end of input", 0); quit_when_idle = 1; }
                }
            } else {
                int slot = map[i];
                if (G.devfd[slot] < 0) continue;
                int r = kl_evdev_read(&G.ev, slot, G.devfd[slot], on_action, "evdev");
                atomic_store(&G.mods, kl_evdev_mods(&G.ev));
                if (r != 0) dev_close(slot, r > 0 ? "unplugged" : strerror(errno));
            }
        }
        if (use_term && G.term_tty) on_action("terminal", kl_term_tick(&G.term, now_mono()));
        hands_free();
    }
    klog("INFO", "key_listener exiting");
    pthread_mutex_lock(&G.jmu);
    G.wquit = 1;
    pthread_cond_signal(&G.jcv);
    int done = G.wdone;
    pthread_mutex_unlock(&G.jmu);
    if (done) pthread_join(G.wth, NULL);
    else pthread_detach(G.wth);   /* a stuck round trip past the deadline: exit anyway */
    kl_capture_free(G.cap);
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (G.devfd[i] >= 0) close(G.devfd[i]);
    if (G.ifd >= 0) close(G.ifd);
    if (lfd >= 0) { close(lfd); unlink(sock); }
    term_restore();
    if (sfd >= 0) close(sfd);
    job *j = G.head;
    while (j && done) { job *nx = j->next; free(j); j = nx; }
    kl_post_free(G.post);
    if (done) {   /* a detached worker may still use these */
        kl_live_free(G.live);
        free(G.w_typed);
        kl_evhub_free(G.hub);
    }
    kl_chunker_free(G.chunker);
    ssc_free(G.cc);
    kl_opts_free(&G.o);
    ss_log_close(&G.log);
    return 0;
}
