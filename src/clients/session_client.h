/* session_client.h — the client side of the session spool (../shared/spec/session-api.md),
 * used by bin/session_client and by other front ends (HTTP server, push-to-talk).
 *
 *     ssc *c; char err[256];
 *     ssc_opts o = ssc_default_opts();
 *     if (ssc_open(&c, &o, err, sizeof err)) die(err);
 *     char id[SS_ID_MAX + 1];
 *     if (ssc_ensure_daemon(c, err, sizeof err) || ssc_submit(c, "/abs/a.wav", id, err, sizeof err))
 *         die(err);
 *     json_t *resp;
 *     if (ssc_wait(c, id, 30, &resp, err, sizeof err) == 0) { ...; json_decref(resp); }
 *     ssc_free(c);
 *
 * - Paths follow SPEECH_SESSION_ROOT (default /tmp); directories are created 0700 and
 *   verified (ours, no symlink), exactly as the daemon does.
 * - ssc_ensure_daemon starts bin/session_daemon --fork under a start-up lock (never two
 *   daemons) and returns when it is ready; liveness is the daemon's lock, not a pid file.
 * - Requests are written to a dot-temp and renamed (never seen half-written); responses
 *   are awaited with inotify (no polling loop), read, and deleted. While waiting, a daemon
 *   that went away (the idle-exit race, a crash) is restarted when autostart is on, and the
 *   new daemon picks the request up.
 * - Functions return 0 on success, -1 on failure with a message in err; SSC_TIMEOUT (-2) on a
 *   timeout. One ssc per thread. */
#ifndef SESSION_CLIENT_H
#define SESSION_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "session/ss_fs.h"
#include "speech.h"   /* SP_AUDIO_CTX_AUTO */

#define SSC_TIMEOUT (-2)

typedef struct {
    int autostart;              /* start a daemon when none is alive (default 1) */
    double start_timeout;       /* seconds to wait for a starting daemon (default 120) */
    double daemon_timeout;      /* idle timeout for a daemon we start; < 0: its default */
    const char *daemon_path;    /* NULL: $SPEECH_SESSION_DAEMON, else session_daemon next to
                                   this executable, else "session_daemon" from PATH */
    const char *model;          /* NULL: the daemon's default */
    double max_audio_seconds;   /* --max-audio-seconds of a daemon we start; < 0: its
                                   default (3600) */
    int vad;                    /* 1: a daemon we start drops non-speech (--vad) */
    const char *vad_model;      /* its Silero file (--vad-model, implies vad); NULL: none
                                   given (the daemon's $SPEECH_SESSION_VAD_MODEL, else the
                                   energy detector with vad) */
    volatile sig_atomic_t *interrupt;   /* set non-zero (a signal handler): ssc_wait_step
                                           returns SSC_ABORTED ("interrupted"); NULL: never */
} ssc_opts;

typedef struct ssc ssc;

ssc_opts ssc_default_opts(void);
int ssc_open(ssc **out, const ssc_opts *o, char *err, size_t n);
void ssc_free(ssc *c);
const ss_paths *ssc_paths(const ssc *c);

/* The running daemon's pid (from its lock), 0 when none, -1 on error. */
pid_t ssc_daemon_pid(ssc *c);
int ssc_ensure_daemon(ssc *c, char *err, size_t n);
/* How many daemons this client has started (ssc_ensure_daemon, and the restarts of a wait
 * whose daemon went away): a front end that logs its requests can say a restart happened
 * (a key_listener soak saw a kill -9 only in the daemon's log). */
unsigned ssc_daemons_started(const ssc *c);
/* SIGTERM to the daemon, then waits up to timeout s for it to go. 0 also when none ran. */
int ssc_stop(ssc *c, double timeout, char *err, size_t n);

/* Per-request decoding options (docs/daemon.md, "Request fields"); zero/NULL members are
 * left out of the request, so the daemon's defaults apply. */
typedef struct {
    const char *language;   /* "en", "de", ... or "auto"; NULL/"": the daemon's default */
    int task_translate;     /* 1: "task": "translate" (into English) */
    const char *prompt;     /* initial prompt (UTF-8, <= 4096 bytes); NULL/"": none */
    int has_temperature;    /* 1: decode at exactly `temperature` (0..1; > 0 samples) */
    double temperature;
    const char *hotwords;   /* words to favour (UTF-8, <= 4096 bytes); NULL/"": none */
    int audio_ctx;          /* encoder positions: 0 = the daemon's, N (1..1500), SP_AUDIO_CTX_AUTO */
    /* live requests (docs/daemon.md "Live requests") */
    const char *priority;   /* "interactive" | "batch"; NULL/"": left out (= interactive) */
    int stream;             /* 1: "stream": true (segments in the partial file: ssc_wait_stream) */
    int word_timestamps;    /* 1: "word_timestamps": true ("words" in each segment) */
    const char *languages;  /* "en,de": detection among these ("languages"); NULL/"": none */
} ssc_req_opts;

/* Writes a transcription request for audio_file (absolute) and returns its id. */
int ssc_submit(ssc *c, const char *audio_file, char id[SS_ID_MAX + 1], char *err, size_t n);
/* The same with options (opts may be NULL: exactly ssc_submit's plain request). Options the
 * daemon would refuse (bad type, length, UTF-8, range) fail here with -1 instead. */
int ssc_submit_ex(ssc *c, const char *audio_file, const ssc_req_opts *opts,
                  char id[SS_ID_MAX + 1], char *err, size_t n);
/* Writes a ping request. */
int ssc_submit_ping(ssc *c, char id[SS_ID_MAX + 1], char *err, size_t n);
/* Writes a cancel request for target (a request id); its answer (ssc_wait) says
 * "cancelled" and "state" ("pending", "running", "unknown"). */
int ssc_submit_cancel(ssc *c, const char *target, char id[SS_ID_MAX + 1], char *err, size_t n);
/* Waits up to timeout s for the response to id; *resp is the parsed object (json_decref).
 * The response file is deleted. On timeout the request is withdrawn if still unclaimed. */
int ssc_wait(ssc *c, const char *id, double timeout, json_t **resp, char *err, size_t n);

/* Called for each segment of a streamed request, in order, exactly once per index: first
 * the lines of its partial file as they appear, then (once the response is there) the
 * response's "segments" not yet given. seg is {"i"?,"start","end","text"[,"words"]}. */
typedef void (*ssc_segment_fn)(const json_t *seg, int index, void *user);

/* A response segment's (or partial line's) "text_lead" into lead[8] (only white space, at most
 * 7 bytes; else ""); 1 when that lead is known (the daemon writes it with every segment's
 * figures, "" where Whisper wrote no space: Chinese, Japanese, Thai), 0 when absent (a daemon
 * that does not say: join with one space) or malformed. */
int ssc_segment_lead(const json_t *seg, char lead[8]);
/* ssc_wait for a request submitted with stream = 1. */
int ssc_wait_stream(ssc *c, const char *id, double timeout, ssc_segment_fn fn, void *user,
                    json_t **resp, char *err, size_t n);

/* ---- waiting in steps, and cancelling (live dictation, issue 12) */

#define SSC_PENDING 1     /* ssc_wait_step: not yet; look again */
#define SSC_ABORTED (-3)  /* ssc_wait_step: the watched descriptor hung up */

/* One step of waiting for the response to id, for callers that have more to watch (a
 * partial file, a client's socket): 0 with *resp when the response is there (read and
 * deleted); SSC_PENDING when something changed in responses/ (a partial file grew, another
 * response) or `slice` seconds passed; SSC_TIMEOUT once ss_mono_now() >= deadline (the
 * request is left in place: see ssc_withdraw); SSC_ABORTED when watch_fd (>= 0; a socket)
 * reports a hang-up (POLLRDHUP/POLLHUP/POLLERR); -1 on error, also when the request is
 * gone (neither queued, claimed nor answered at two looks 0.5 s apart: removed by another
 * program). A daemon that went away is restarted as in ssc_wait. */
int ssc_wait_step(ssc *c, const char *id, double deadline, double slice, int watch_fd,
                  json_t **resp, char *err, size_t n);
/* Removes requests/{id}.json if the daemon has not claimed it yet: 1 removed (it will never
 * run), 0 not there (claimed or answered), -1 error. */
int ssc_withdraw(ssc *c, const char *id);
/* Stops target for a client that is gone: withdrawn when still unclaimed, else a cancel
 * request; then waits up to timeout s for the cancel's answer and for target's own answer,
 * and deletes both, so nothing of it stays in the spool. *state gets "withdrawn", "pending",
 * "running", "unknown" (static strings; "unknown": already answered, its response deleted
 * too), "refused" (a daemon without cancel requests: target runs to its end) or NULL when
 * the daemon did not answer in time. 0, or -1 with a message. */
int ssc_cancel(ssc *c, const char *target, double timeout, const char **state, char *err,
               size_t n);

/* Concatenates the "results" texts of a response, trimmed, into a malloc'd string. */
char *ssc_results_text(const json_t *resp);

#endif
