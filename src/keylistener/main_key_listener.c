/* key_listener — push-to-talk dictation through the session daemon (docs/key_listener.md).
 *   key_listener [options]                         run the listener
 *   key_listener start|stop|toggle|cancel|status|quit   control a running listener
 * Hold (or toggle) a key, speak, release: the recording is written as
 * <root>/recorded_audio_<usec>.wav, transcribed by session_daemon (started at key-down when
 * none is alive, so the model loads while the user speaks), the text typed into the focused
 * window, and the recording removed.
 *
 * Threads: the loop thread (this file) owns the triggers, the control socket and the
 * recording state; kl_capture's thread reads the microphone; kl_worker's thread runs the
 * session round trips and the typing, in order, so the loop never blocks.
 * Exit codes: 0 ok, 3 no listener (control commands), 100 usage, 110 another listener
 * runs, 111 system failure (including no permission for /dev/input). */
#include <dirent.h>
#include <errno.h>
#include <locale.h>
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
#include "keylistener/kl_worker.h"
#include "keylistener/kl_xtest.h"


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
    double dict_started;   /* the dictation's start (rec_started restarts at each chunk) */
    int await_onset;       /* continuous mode: the next utterance's start is its first voiced block */
    double utt_started;    /* continuous mode: the current utterance's first voiced block (0: none
                            * yet): --max-seconds caps each utterance from there */
    char rec_lang[16];         /* language of the current recording's binding */
    int cuts;                  /* continuous mode: utterances sent from this recording */
    unsigned serial;           /* the current (or last) recording's number */
    int chunks;                /* chunked dictation: chunks sent from this recording */
    double next_chunk_check;
    kl_chunker *chunker;       /* the VAD: chunk cuts and the speech check (NULL: neither) */
    int chunking;              /* chunked dictation on (kl_chunk.h) */
    kl_live *live;             /* the dictation the worker is on (text so far, cancel) */
    kl_evhub *hub;             /* event subscribers on the control socket */
    ssc *cc;                   /* the loop thread's session client, for cancel requests */
    kl_post *post;             /* the worker's post-processing pipeline */
    char history[4200];
    kl_worker *worker;         /* session round trips and output, off the loop thread */
    kl_term term;
    int term_tty;
    struct termios term_saved;
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

/* The log callback of kl_capture and kl_worker (their threads log through the same lock). */
static void log_line(void *u, const char *level, const char *msg) { (void)u; klog(level, "%s", msg); }

static int mods_held(void *u) { (void)u; return atomic_load(&G.mods) != 0; }

static void play(const char *file) { kl_play_sound(G.o.sound_player, file); }

static void notify(const char *summary, const char *body) { kl_notify(G.o.notify, summary, body); }

static int worker_idle(void) { return kl_worker_idle(G.worker); }

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
    G.rec_started = G.dict_started = now_mono();
    G.await_onset = 0;
    G.utt_started = 0;
    G.next_chunk_check = G.rec_started;
    kl_term_reset(&G.term, 1);
    klog("INFO", "recording started (%s)%s", why, kl_capture_live(G.cap) ? "" : "; the microphone is not open yet");
    kl_worker_ensure_daemon(G.worker);
    play(G.o.start_sound);
    notify("Recording", G.rec_lang[0] ? G.rec_lang : "speak now");
    kl_evhub_emit(G.hub, "recording", NULL, -1, -1);
}

/* An utterance after the first of the --continuous recording going on (or just stopped):
 * rec_cut counts its cut before sending it, so the first one is sent with G.cuts == 1, the
 * remainder at the stop with G.cuts >= 1. */
static int cont_utterance(void)
{
    return G.o.continuous && G.cuts > (G.recording ? 1 : 0);
}

/* Queues the transcription of path (NULL: no audio, only the end of the dictation). */
static void push_transcribe(const char *path, int final)
{
    /* the end of a dictation counts as a piece */
    kl_worker_transcribe(G.worker, path, G.serial, G.chunks + (!path && final), final, G.rec_lang,
                         G.dict_started, cont_utterance());
}

/* Writes samples as <root>/recorded_audio_<usec>.wav into path; frees s. 0, or -1 (logged;
 * why says it for push_lost). */
static int write_wav(int16_t *s, size_t n, char path[KL_WORKER_PATH_MAX], char *why, size_t whyn)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long us = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
    const char *sep = strcmp(G.root, "/") ? "/" : "";
    int r = -1;
    for (int i = 0; i < 100 && r != 0; i++, us++) {
        snprintf(path, KL_WORKER_PATH_MAX, "%s%srecorded_audio_%llu.wav", G.root, sep, us);
        r = kl_wav_write(path, s, n, KL_RATE);
        if (r != 0 && errno != EEXIST) break;
    }
    free(s);
    if (r != 0) {
        snprintf(why, whyn, "cannot write %s: %s", path, strerror(errno));
        klog("ERROR", "%s", why);
    }
    return r;
}

/* A piece whose recording could not be written (a full disk): the worker counts it as lost
 * like a failed transcription — error event, notification, no Return, the final event says
 * a part is missing. The speech had gone with only a log line: a lost chunk's neighbours
 * typed with Return and "delivered": true; a lost one-piece recording with no event at all. */
static void push_lost(const char *why, int final)
{
    G.chunks++;
    kl_worker_lost(G.worker, why, G.serial, G.chunks, final, G.rec_lang, G.dict_started, cont_utterance());
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
        else kl_evhub_emit(G.hub, "final", "", -1, 0);   /* a tap: overlays that showed
                                                          * "recording" learn it ended */
        return;
    }
    int run_ms = 0;
    if (G.chunker && !G.o.send_silence && kl_chunk_speech(G.chunker, s, n, &run_ms) == 0) {
        /* Whisper would write text for the noise ("Thank you for watching ..."), or "You"
         * for a click: nothing was said, so nothing is sent or typed */
        klog("INFO", "recording stopped (%s): %.2f s without speech (longest voiced run %d ms): %s",
             why, (double)speech / KL_RATE, run_ms, G.chunks ? "only the chunks are typed" : "discarded");
        free(s);
        if (G.chunks) push_transcribe(NULL, 1);
        else kl_evhub_emit(G.hub, "final", "", -1, 0);
        return;
    }
    double peak, rms;
    kl_pcm_level(s, n, &peak, &rms);
    char path[KL_WORKER_PATH_MAX], werr[KL_WORKER_PATH_MAX + 100];
    if (write_wav(s, n, path, werr, sizeof werr) != 0) {
        push_lost(werr, 1);
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
    /* the next utterance begins when it is heard, not at this cut: --join-seconds measures
     * from there to the end of the typing of this one (which ends after the cut) */
    G.dict_started = now_mono();
    G.await_onset = 1;
    G.utt_started = 0;
}

/* Chunked dictation: when the audio since the last cut holds enough speech and a pause, its
 * part up to the middle of the pause is sent now (kl_chunk.h). Loop thread, while recording. */
static void chunk_check(void)
{
    double now = now_mono();
    if (!G.chunking || now < G.next_chunk_check || kl_capture_seconds(G.cap) < G.o.chunk_seconds) return;
    /* the VAD runs over the whole chunk each time: every 250 ms (Silero: 500 ms) is plenty
     * for a pause of 300 ms and keeps the loop's cost small */
    G.next_chunk_check = now + (kl_chunker_silero(G.chunker) ? 0.5 : 0.25);
    int16_t *s = NULL;
    size_t n = 0, cut = 0, pre = 0;
    char err[512];
    if (kl_capture_peek(G.cap, &s, &n) != 0) { klog("ERROR", "out of memory"); return; }
    int voiced_run = 0;
    int r = s ? kl_chunk_find(G.chunker, s, n, &cut, &voiced_run, err, sizeof err) : 0;
    free(s);
    if (r < 0) klog("WARN", "chunking: %s", err);
    if (r <= 0) return;
    if (kl_capture_cut_at(G.cap, cut, &s, &pre) != 0) return;
    if (!G.o.send_silence && voiced_run < KL_SPEECH_RUN) {
        /* a noisy microphone's "pause" after noise alone: nothing to send (the speech check,
         * from the VAD pass that found the cut) */
        klog("INFO", "chunk: %.2f s without speech (longest voiced run %d ms): dropped",
             (double)cut / KL_RATE, voiced_run * KL_CHUNK_FRAME * 1000 / KL_RATE);
        free(s);
        return;
    }
    char path[KL_WORKER_PATH_MAX], why[KL_WORKER_PATH_MAX + 100];
    if (write_wav(s, cut, path, why, sizeof why) != 0) {
        push_lost(why, 0);
        return;
    }
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
    const double now = now_mono();
    double sil = kl_capture_silence_ms(G.cap, &voiced);
    if (G.await_onset && voiced) {
        G.dict_started = now;
        G.await_onset = 0;
    }
    if (voiced && G.utt_started == 0) G.utt_started = now;
    /* continuous: --max-seconds caps each utterance, from its first voiced block; the wait
     * for the next one has no cap (it had counted from the last cut: a pause of
     * --max-seconds ended the whole session, sending the silence as a recording) */
    int over = G.o.continuous ? G.utt_started > 0 && now - G.utt_started > G.o.max_seconds
                              : now - G.rec_started > G.o.max_seconds;
    if (G.o.auto_stop_ms > 0 && voiced && sil >= G.o.auto_stop_ms) {
        char why[64];
        snprintf(why, sizeof why, "%d ms of silence", G.o.auto_stop_ms);
        if (G.o.continuous) rec_cut(why); else rec_stop(why, 0);
    } else if (over) {
        if (G.o.continuous) rec_cut("--max-seconds reached");
        else rec_stop("--max-seconds reached", 0);
    } else if (G.o.continuous && !voiced) {
        kl_capture_trim(G.cap, (size_t)KL_RATE * 3 / 10);   /* keep 300 ms before the next word */
    } else {
        chunk_check();
    }
}

/* lang: the recording's language when this action starts one (NULL: the default) */
static void act(const char *why, kl_ev_action a, const char *lang)
{
    if (a == KL_EV_START) rec_start_lang(why, lang);
    else if (a == KL_EV_STOP) rec_stop(why, 0);
    else if (a == KL_EV_TOGGLE) { if (G.recording) rec_stop(why, 0); else rec_start_lang(why, lang); }
}

static void on_action(void *u, kl_ev_action a) { act(u, a, NULL); }

/* the evdev trigger: a key bound to a language (--key Insert,F16:de) records in it */
static void on_key_action(void *u, kl_ev_action a)
{
    const char *lang = G.ev.pressed < G.o.nkeys ? G.o.key_lang[G.ev.pressed] : "";
    act(u, a, lang[0] ? lang : NULL);
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
    char dname[256] = "pipe", keys[sizeof G.o.key_name] = "";
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) { close(fd); return 0; }
    snprintf(keys, sizeof keys, "%s", G.o.key_name);   /* a FIFO (tests): every key */
    if (S_ISCHR(st.st_mode)) {
        unsigned char bits[KEY_MAX / 8 + 1];
        memset(bits, 0, sizeof bits);
        size_t kl = 0;
        keys[0] = 0;
        if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof bits), bits) >= 0)
            for (int k = 0; k < G.o.nkeys; k++) {   /* the trigger keys this device has, named */
                if (!has_bit(bits, G.o.keys[k])) continue;
                const char *nm = kl_key_name(G.o.keys[k]);
                int w = nm ? snprintf(keys + kl, sizeof keys - kl, "%s%s", kl ? ", " : "", nm)
                           : snprintf(keys + kl, sizeof keys - kl, "%skey %d", kl ? ", " : "", G.o.keys[k]);
                if (w > 0 && (size_t)w < sizeof keys - kl) kl += (size_t)w;
            }
        if (!keys[0]) {
            close(fd);
            return 0;
        }
        if (ioctl(fd, EVIOCGNAME(sizeof dname), dname) < 0) snprintf(dname, sizeof dname, "?");
    }
    int slot = kl_evdev_add(&G.ev);
    if (slot < 0) { close(fd); klog("WARN", "too many input devices; %s ignored", path); return 0; }
    G.devfd[slot] = fd;
    snprintf(G.devpath[slot], sizeof G.devpath[slot], "%s", path);
    klog("INFO", "input device %s (%s) has %s: listening", path, dname, keys);
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

/* One command from a control client: done, answered on fd, fd closed ("events": kept for
 * the event lines). */
static void ctl_command(int fd, char *cmd)
{
    char reply[128], *arg;
    snprintf(reply, sizeof reply, "ok");
    arg = strchr(cmd, ' ');    /* "start de": this recording's language */
    if (arg) *arg++ = 0;
    if (arg && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ") != strlen(arg)) arg = NULL;
    /* a language Whisper does not know would fail at the daemon after the recording; a name
     * ("german") records as its code */
    const int named = arg && strcmp(arg, "auto"), li = named ? sp_language_index(arg) : -1;
    const int bad_lang = named && li < 0 && (!strcmp(cmd, "start") || !strcmp(cmd, "toggle"));
    const char *lang = li >= 0 ? sp_language_code(li) : arg;
    if (bad_lang) snprintf(reply, sizeof reply, "error unknown language %.60s", arg);
    else if (!strcmp(cmd, "start")) rec_start_lang("control", lang);
    else if (!strcmp(cmd, "stop")) rec_stop("control", 0);
    else if (!strcmp(cmd, "toggle")) { if (G.recording) rec_stop("control", 0); else rec_start_lang("control", lang); }
    else if (!strcmp(cmd, "paste-last")) {
        char *t = G.history[0] ? kl_history_get(G.history, 0) : NULL;
        if (!t) snprintf(reply, sizeof reply, "error no history");
        else if (kl_worker_paste(G.worker, t) != 0) snprintf(reply, sizeof reply, "error out of memory");
        free(t);
    }
    else if (!strcmp(cmd, "cancel")) user_cancel("control");
    else if (!strcmp(cmd, "events")) {   /* the connection stays open for event lines */
        /* a refused fd is closed by kl_evhub_add: closing it here too had closed whatever
         * another thread opened under that number meanwhile */
        if (G.hub) kl_evhub_add(G.hub, fd);
        else close(fd);
        return;
    }
    else if (!strcmp(cmd, "quit")) quitting = 1;
    else if (strcmp(cmd, "status")) snprintf(reply, sizeof reply, "error unknown command");
    if (!strncmp(reply, "ok", 2))
        snprintf(reply, sizeof reply, "ok %s%s", G.recording ? "recording" : "idle",
                 worker_idle() ? "" : " transcribing");
    size_t l = strlen(reply);
    reply[l++] = '\n';
    /* non-blocking: a fresh connection's buffer takes the line; a client gone is no matter */
    if (send(fd, reply, l, MSG_NOSIGNAL) < 0) { /* the client went away */ }
    close(fd);
}

/* A control connection's bytes (slot), or new connections (KL_CTL_TAG_LISTEN): never waits
 * for a client (kl_ctl.h). */
static void on_ctl(kl_ctl_server *ctl, int slot)
{
    char cmd[KL_CTL_CMD_MAX];
    int fd;
    if (slot == KL_CTL_TAG_LISTEN) kl_ctl_server_accept(ctl, now_mono());
    else if (kl_ctl_server_read(ctl, slot, cmd, sizeof cmd, &fd) == 1) ctl_command(fd, cmd);
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
"  --key NAME (Insert, F16, RightCtrl, Pause, BTN_SIDE, a code; default Insert); up to 4\n"
"      keys separated by commas, NAME:LANG records in LANG: --key Insert,F16:de\n"
"  --mode hold|toggle   --evdev-dir DIR (default /dev/input)\n"
"Capture: --audio auto|pulse|alsa|file  --source NAME (device name or part of its description)\n"
"  --preroll MS (300; 0 opens the microphone only while recording)  --max-seconds S (300)\n"
"  --min-ms MS (250: shorter recordings are discarded)  --keep-audio  --list-sources\n"
"  --send-silence (send recordings without speech too; by default the VAD drops them:\n"
"      Whisper writes text for noise alone)\n"
"Output: --output type|paste|copy|print  --typer auto|wtype|dotool|ydotool|xtest|xdotool|none\n"
"  --type-delay MS (5)  --modifier-wait MS (1000)  --paste-chord ctrl+v  --paste-delay MS (300)\n"
"  --clipboard-restore S (30; 0 never)  --enter  --app 'PATTERN: output=paste, paste-chord=..., enter=yes, profile=P'\n"
"Text: --replace 'FROM => TO'  --replace-exact ...  --replace-regex ...  --fillers  --filler-words LIST\n"
"  --spoken-punctuation  --hook CMD  --hook-timeout S (10)\n"
"  --join-seconds S (0 off: a dictation begun within S of the last one's typing continues it)\n"
"Decoding: --vocabulary 'Name, term, ...'  --initial-prompt TEXT  --language CODE|auto  --languages en,de\n"
"  --audio-ctx auto|N (encoder sized to the clip: ~3x faster dictation; the daemon's setting by default)\n"
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
    { "keep-audio", no_argument, 0, 0 }, { "send-silence", no_argument, 0, 0 }, { "log", required_argument, 0, 0 },
    { "socket", required_argument, 0, 0 }, { "start-sound", required_argument, 0, 0 },
    { "stop-sound", required_argument, 0, 0 }, { "sound-player", required_argument, 0, 0 },
    { "fillers", no_argument, 0, 0 }, { "filler-words", required_argument, 0, 0 },
    { "spoken-punctuation", no_argument, 0, 0 }, { "hook", required_argument, 0, 0 },
    { "hook-timeout", required_argument, 0, 0 }, { "replace", required_argument, 0, 0 },
    { "replace-exact", required_argument, 0, 0 }, { "replace-regex", required_argument, 0, 0 },
    { "vocabulary", required_argument, 0, 0 }, { "initial-prompt", required_argument, 0, 0 },
    { "language", required_argument, 0, 0 }, { "languages", required_argument, 0, 0 },
    { "audio-ctx", required_argument, 0, 0 },
    { "paste-chord", required_argument, 0, 0 }, { "paste-delay", required_argument, 0, 0 },
    { "clipboard-restore", required_argument, 0, 0 }, { "enter", no_argument, 0, 0 },
    { "join-seconds", required_argument, 0, 0 },
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
    char err[600], cfg[1100] = "", cfg_err[600] = "";
    int no_cfg = 0, ch, idx;
    /* pass 1: the config file choice, before or after the command (it had stopped at the
     * command: `key_listener status --config my.conf` read the default file) */
    opterr = 0;
    for (;;) {
        while ((ch = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
            if (ch == 'c') snprintf(cfg, sizeof cfg, "%s", optarg);
            if (ch == 'C') no_cfg = 1;
        }
        if (optind >= argc) break;
        optind++;   /* a command or its argument: pass 2 checks them */
    }
    kl_opts_default(&G.o);
    if (!no_cfg) {
        int required = cfg[0] != 0;
        if (!required) kl_config_default_path(cfg, sizeof cfg);
        if (cfg[0] && kl_config_load(&G.o, cfg, required, err, sizeof err) != 0) {
            snprintf(cfg_err, sizeof cfg_err, "%s", err);   /* fatal for the listener only */
            kl_opts_default(&G.o);
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
    /* a typo in the file stops the listener from starting, not the commands that control a
     * running one: `key_listener stop` had exited 100 and left the recording going */
    if (cfg_err[0]) {
        fprintf(stderr, "key_listener: %s%s\n", cfg_err, *cmd ? " (ignored for this command)" : "");
        if (!*cmd) return 100;
    }
    return 0;
}

static void history_path(void)
{
    if (G.o.history_file[0]) snprintf(G.history, sizeof G.history, "%s", G.o.history_file);
    else kl_history_default_path(G.history, sizeof G.history);
}

/* How long shutting down waits for xtest to put the keymap back: the key being typed, the
 * hold, and one bounded round trip each for the restore and the close (kl_xtest.h). */
#define KL_QUIESCE_MS (KL_XTEST_HOLD_MS + 2 * KL_XTEST_REPLY_MS)

static volatile sig_atomic_t here_signal;

/* Runs in a signal handler: only async-signal-safe calls (kl_xtest_interrupt is). */
static void on_here_signal(int sig)
{
    here_signal = sig;
    kl_xtest_interrupt();
}

/* paste-last without a running listener: typed from here, with the configured output. A
 * termination signal meanwhile stops xtest with the keymap put back (kl_xtest.h), then ends
 * the process by that signal as it would have. */
static int paste_last_here(void)
{
    struct sigaction sa = { .sa_handler = on_here_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);   /* kl_xtest.h: a write to a socket its guard shut down */
    char err[1024], how[1200];
    history_path();
    char *t = G.history[0] ? kl_history_get(G.history, 0) : NULL;
    if (!t) { fprintf(stderr, "key_listener: no history (%s)\n", G.history); return 1; }
    kl_output_opts oo = { .mode = kl_out_mode_parse(G.o.output), .typer = G.o.typer, .type_delay_ms = G.o.type_delay_ms,
                          .paste_chord = G.o.paste_chord, .paste_delay_ms = G.o.paste_delay_ms, .enter = G.o.enter };
    int r = kl_output_text(&oo, t, how, sizeof how, err, sizeof err);
    free(t);
    if (r != 0) fprintf(stderr, "key_listener: %s\n", err);
    if (here_signal) {
        signal(here_signal, SIG_DFL);
        raise(here_signal);
    }
    return r != 0 ? 111 : 0;
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
    if (ctl_arg && strcmp(ctl_arg, "auto") && sp_language_index(ctl_arg) < 0) {
        fprintf(stderr, "key_listener: unknown language %s (a code such as en or de, a name such as german, or auto)\n", ctl_arg);
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
    /* the VAD is also the speech check of every recording (kl_chunk_speech) */
    G.chunking = G.o.chunk_seconds > 0 && !G.o.continuous;
    if (!G.chunking && G.o.send_silence) return 0;
    kl_chunk_opts co = { .chunk_seconds = G.chunking ? G.o.chunk_seconds : 0,
                         .min_pause_ms = G.o.chunk_pause_ms, .silence_level = G.o.silence_level };
    return kl_chunker_new(&G.chunker, G.o.vad_model[0] ? G.o.vad_model : NULL, &co, err, n);
}

/* ---- set-up ----------------------------------------------------------------------------- */

/* <root> from SPEECH_SESSION_ROOT (default /tmp), and the log there (or --log): a log that
 * cannot be opened leaves stderr only. 0, or the exit code. */
static int open_log(void)
{
    char err[1200];
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
    return 0;
}

/* SIGINT, SIGTERM and SIGHUP arrive on the returned signalfd (-1: none), so the loop handles
 * them between events; SIGPIPE is ignored (a typing tool may exit early). Called before any
 * thread starts: the threads inherit the mask and never take these signals themselves. */
static int block_signals(void)
{
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The control socket into *lfd (-1 when there is none: logged, the listener runs without
 * it). 0, or 110 when another listener holds it. */
static int open_control(char *sock, size_t n, int *lfd)
{
    char err[1200];
    *lfd = -1;
    if (kl_ctl_path(G.o.socket, sock, n, err, sizeof err) == 0) {
        *lfd = kl_ctl_listen(sock, err, sizeof err);
        if (*lfd == -3) { fprintf(stderr, "key_listener: %s\n", err); return 110; }
    }
    if (*lfd < 0) klog("WARN", "no control socket: %s", err);
    return 0;
}

/* The evdev trigger: every keyboard with the key, and a watch on the directory for hot-plug.
 * 0, or 111 when devices were refused and none opened (no permission: the fix is printed,
 * the control socket removed). */
static int setup_evdev(int lfd, const char *sock)
{
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
    return 0;
}

/* The terminal trigger: a tty goes to raw mode (no echo, a byte at a time) so that ENTER's
 * autorepeat tells a hold from a press; a pipe stays as it is (each line toggles). */
static void setup_terminal(void)
{
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

/* The audio source (*ops; exit 100 when --audio names none usable) and the capture thread
 * (111). 0 when both are there. */
static int setup_capture(kl_source_ops *ops)
{
    char err[1200];
    if (kl_source_select(G.o.audio, ops, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 100; }
    /* continuous: --max-seconds caps an utterance from its first voiced block (hands_free),
     * and the buffer also holds the 300 ms kept before it (kl_capture_trim) and what arrives
     * until the loop sees the cap: sized for the cap alone, an utterance's last ~0.3 s was
     * cut (with --preroll 0). Push-to-talk caps the recording itself: no margin */
    const double cap_s = G.o.continuous ? G.o.max_seconds + 0.6 : G.o.max_seconds;
    kl_capture_opts co = { .device = G.o.source[0] ? G.o.source : NULL, .preroll_ms = G.o.preroll_ms,
                           .max_seconds = cap_s, .log = log_line, .silence_level = G.o.silence_level };
    if (kl_capture_new(&G.cap, ops, &co, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    return 0;
}

/* Post-processing, the dictation state and chunking, the history path, then the worker
 * thread that uses them. 0, or the exit code. */
static int setup_worker(void)
{
    char err[1200];
    if (setup_post(err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 100; }
    if (setup_live(err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    history_path();
    kl_worker_env env = { .o = &G.o, .post = G.post, .live = G.live, .hub = G.hub,
                          .history = G.history, .log = log_line, .mods_held = mods_held };
    if (kl_worker_start(&G.worker, &env, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
    return 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

/* What a polled fd is: a device slot (>= 0) or one of these; a control connection (or the
 * control socket's listening fd) is PF_CTL - 1 - its kl_ctl_server tag: PF_CTL and below. */
enum { PF_SIGNAL = -1, PF_INOTIFY = -2, PF_STDIN = -3, PF_CTL = -100 };

typedef struct {
    int sfd, lfd;              /* the signalfd and the control socket (-1: none) */
    kl_ctl_server ctl;         /* the control connections being read */
    int use_term;              /* --trigger terminal */
    int stdin_open;            /* the terminal trigger still reads stdin */
    int quit_when_idle;        /* piped stdin ended: quit once the last dictation is out */
    double quit_deadline;      /* quitting: how long the worker may take to finish */
} loop_state;

/* The shutdown steps of one loop turn. Returns 1 when the loop is to end: quitting, and the
 * worker finished (or its deadline passed: a round trip stuck past the timeout). */
static int quit_check(loop_state *ls)
{
    if (quitting && !ls->quit_deadline) {
        rec_stop("quit", 1);
        /* the dictations already recorded are finished first (kl_worker_quit), within one
         * round trip's --timeout and some typing: what is still queued then keeps its
         * recording, logged (kl_worker_free) */
        if (!worker_idle()) klog("INFO", "quitting: finishing the dictations already recorded (at most %.0f s)", G.o.timeout + 10);
        kl_worker_quit(G.worker);
        ls->quit_deadline = now_mono() + G.o.timeout + 10;
    }
    if (quitting && (kl_worker_done(G.worker) || now_mono() > ls->quit_deadline)) return 1;
    if (ls->quit_when_idle && !G.recording && worker_idle()) quitting = 1;
    return 0;
}

/* The fds to poll into p (map[i] says what p[i] is); only the signals while quitting. */
static int poll_set(const loop_state *ls, struct pollfd *p, int *map)
{
    int np = 0;
    if (ls->sfd >= 0) { p[np] = (struct pollfd){ ls->sfd, POLLIN, 0 }; map[np++] = PF_SIGNAL; }
    if (quitting) return np;
    int tags[KL_CTL_CONNS + 1], nc = kl_ctl_server_pollfds(&ls->ctl, p + np, tags);
    for (int i = 0; i < nc; i++) map[np++] = PF_CTL - 1 - tags[i];
    if (G.ifd >= 0) { p[np] = (struct pollfd){ G.ifd, POLLIN, 0 }; map[np++] = PF_INOTIFY; }
    if (ls->stdin_open) { p[np] = (struct pollfd){ 0, POLLIN, 0 }; map[np++] = PF_STDIN; }
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (G.devfd[i] >= 0) { p[np] = (struct pollfd){ G.devfd[i], POLLIN, 0 }; map[np++] = i; }
    return np;
}

/* A first signal starts the shutdown and stops xtest's typing before its next key (the
 * keymap put back: kl_xtest.h); a second one exits at once, after waiting (bounded) for
 * xtest to put the keymap back — spare keycodes left bound would stay so for the session.
 * Only a signal counts as the first: after `quit` (a service manager's SIGTERM follows
 * one) a single signal had exited 130 at once, the dictation untyped, the socket left. */
static void on_signal(int sfd)
{
    static int signalled;
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (signalled) {
            klog("WARN", "second signal: exiting now");
            if (kl_xtest_quiesce(KL_QUIESCE_MS) != 0) klog("WARN", "xtest still busy: the keymap may keep spare keycodes bound");
            term_restore();
            _exit(130);
        }
        klog("INFO", "signal %u: shutting down", si.ssi_signo);
        kl_xtest_interrupt();
        signalled = 1;
        quitting = 1;
    }
}

/* End of stdin: a tty (q, ^D) quits now; a pipe stops the recording and quits once its
 * dictation is out. */
static void on_stdin_ready(loop_state *ls)
{
    if (!on_stdin()) return;
    ls->stdin_open = 0;
    if (G.term_tty) quitting = 1;
    else { rec_stop("end of input", 0); ls->quit_when_idle = 1; }
}

static void on_device(int slot)
{
    if (G.devfd[slot] < 0) return;   /* closed by an earlier event of this turn */
    int r = kl_evdev_read(&G.ev, slot, G.devfd[slot], on_key_action, "evdev");
    atomic_store(&G.mods, kl_evdev_mods(&G.ev));
    if (r != 0) dev_close(slot, r > 0 ? "unplugged" : strerror(errno));
}

static void run_loop(loop_state *ls)
{
    for (;;) {
        if (quit_check(ls)) break;
        struct pollfd p[KL_EV_SLOTS + 4 + KL_CTL_CONNS];
        int map[KL_EV_SLOTS + 4 + KL_CTL_CONNS], np = poll_set(ls, p, map);
        /* short turns while something is under way: hands-free checks, chunking, shutdown */
        double deadline = now_mono() + (quitting || ls->quit_when_idle || G.recording ? 0.05 : 1.0);
        double cd = kl_ctl_server_deadline(&ls->ctl);   /* a control client's time is up */
        if (cd > 0 && cd < deadline) deadline = cd;
        /* the terminal trigger's deadline only while the terminal is read: its state also
         * follows recordings started elsewhere (kl_term_reset), and with nobody ticking it a
         * deadline in the past made every poll return at once — a core at 100 % after the
         * first dictation of a listener without a terminal (evdev under systemd, control) */
        double td = ls->use_term && G.term_tty ? kl_term_deadline(&G.term) : -1;
        if (td > 0 && td < deadline) deadline = td;
        int ms = (int)((deadline - now_mono()) * 1000) + 1;
        int k = poll(p, (nfds_t)np, ms < 0 ? 0 : ms);
        if (k < 0 && errno != EINTR) { klog("ERROR", "poll: %s", strerror(errno)); break; }
        for (int i = 0; k > 0 && i < np; i++) {
            if (!p[i].revents) continue;
            if (map[i] == PF_SIGNAL) on_signal(ls->sfd);
            else if (map[i] <= PF_CTL) on_ctl(&ls->ctl, PF_CTL - 1 - map[i]);
            else if (map[i] == PF_INOTIFY) on_inotify();
            else if (map[i] == PF_STDIN) on_stdin_ready(ls);
            else on_device(map[i]);
        }
        int late = kl_ctl_server_expire(&ls->ctl, now_mono());
        if (late) klog("WARN", "%d control client%s dropped: no whole command within %.0f s", late,
                       late > 1 ? "s" : "", KL_CTL_DEADLINE);
        if (ls->use_term && G.term_tty) on_action("terminal", kl_term_tick(&G.term, now_mono()));
        hands_free();
    }
}

/* Releases what the set-up made. A worker still stuck in a round trip is left running
 * (detached), and the dictation state and event hub it uses are not freed. */
static void shutdown_all(loop_state *ls, const char *sock)
{
    kl_ctl_server_close(&ls->ctl);
    int joined = kl_worker_free(G.worker);
    kl_capture_free(G.cap);
    for (int i = 0; i < KL_EV_SLOTS; i++)
        if (G.devfd[i] >= 0) close(G.devfd[i]);
    if (G.ifd >= 0) close(G.ifd);
    if (ls->lfd >= 0) { close(ls->lfd); unlink(sock); }
    term_restore();
    if (ls->sfd >= 0) close(ls->sfd);
    kl_post_free(G.post);
    if (joined) {
        kl_live_free(G.live);
        kl_evhub_free(G.hub);
    }
    kl_chunker_free(G.chunker);
    ssc_free(G.cc);
    kl_opts_free(&G.o);
    ss_log_close(&G.log);
}

/* A set-up step failed after the control socket was made: the socket goes too (its file had
 * been left behind, e.g. after --vad-model naming no file). Returns rc. */
static int setup_failed(loop_state *ls, const char *sock, int rc)
{
    if (ls->lfd >= 0) {
        close(ls->lfd);
        unlink(sock);
        ls->lfd = -1;
    }
    return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *cmd = NULL;
    int list = 0;
    /* --replace-regex on characters, not bytes: in a UTF-8 locale '.' is one character and
     * REG_ICASE folds é/É (in "C" a '.' took half of an 'é') */
    if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C.utf8");
    pthread_mutex_init(&G.logmu, NULL);
    G.log.fd = -1;
    int rc = parse_args(argc, argv, &cmd, &list);
    if (rc) return rc;
    if (cmd) return control(cmd);
    if (list) {
        char err[1200];
        if (kl_source_list(G.o.audio, err, sizeof err) != 0) { fprintf(stderr, "key_listener: %s\n", err); return 111; }
        return 0;
    }
    if ((rc = open_log()) != 0) return rc;
    loop_state ls = { .sfd = block_signals(), .lfd = -1 };
    char sock[1100];
    if ((rc = open_control(sock, sizeof sock, &ls.lfd)) != 0) return rc;
    kl_ctl_server_init(&ls.ctl, ls.lfd);

    for (int i = 0; i < KL_EV_SLOTS; i++) G.devfd[i] = -1;
    G.ifd = -1;
    kl_evdev_init(&G.ev, G.o.key, G.o.toggle);
    for (int k = 1; k < G.o.nkeys; k++) kl_evdev_add_key(&G.ev, G.o.keys[k]);
    kl_term_init(&G.term);
    ls.use_term = !strcmp(G.o.trigger, "terminal");
    if (!strcmp(G.o.trigger, "evdev") && (rc = setup_evdev(ls.lfd, sock)) != 0) return rc;
    if (ls.use_term) setup_terminal();
    kl_source_ops ops;
    if ((rc = setup_capture(&ops)) != 0) return setup_failed(&ls, sock, rc);
    if ((rc = setup_worker()) != 0) return setup_failed(&ls, sock, rc);
    klog("INFO", "key_listener started: trigger %s, key %s (%s), audio %s%s%s, pre-roll %d ms, output %s (%s), socket %s",
         G.o.trigger, G.o.key_name, G.o.toggle ? "toggle" : "hold", ops.label,
         G.o.source[0] ? " source " : "", G.o.source, G.o.preroll_ms, G.o.output,
         kl_output_probe(G.o.typer) ? kl_output_probe(G.o.typer) : "no typing tool: clipboard",
         ls.lfd >= 0 ? sock : "none");

    char perr[600];
    if ((G.o.start_sound[0] || G.o.stop_sound[0] || G.o.ready_sound[0]) &&
        kl_sound_player_check(G.o.sound_player, perr, sizeof perr) != 0)
        klog("WARN", "%s", perr);
    ls.stdin_open = ls.use_term;
    run_loop(&ls);
    /* the worker may still be typing (the quit deadline passed): the keymap back first */
    if (kl_xtest_quiesce(KL_QUIESCE_MS) != 0) klog("WARN", "xtest still busy: the keymap may keep spare keycodes bound");
    klog("INFO", "key_listener exiting");
    shutdown_all(&ls, sock);
    return 0;
}
