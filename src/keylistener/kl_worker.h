/* kl_worker.h — key_listener's worker thread: the session round trips and the output of each
 * dictation, in the order the loop thread queued them, so that the loop thread (triggers,
 * control socket, recording) never waits on the daemon or on a typing tool.
 *
 * Jobs: "ensure" starts session_daemon at key-down when none is alive (the model loads while
 * the user speaks); "transcribe" sends one file of a dictation (a chunk, the remainder, or a
 * whole recording) and, for the dictation's last job, types its text; "paste" types a text
 * from the history again. The worker owns what is per dictation on its side (the language
 * detected by its first chunk, what --live typed of it) and the user's clipboard while a
 * timed restore is pending (--clipboard-restore). The dictation's text so far and its cancel
 * state are in kl_live, which the loop thread shares (kl_live.h).
 *
 * Threads: the functions here are called from the loop thread; the callbacks in
 * kl_worker_env are called from the worker thread (log may be called from both). */
#ifndef KL_WORKER_H
#define KL_WORKER_H

#include <stddef.h>

#include "keylistener/kl_config.h"
#include "keylistener/kl_ctl.h"
#include "keylistener/kl_live.h"
#include "keylistener/kl_post.h"

/* The longest recording path a job carries, terminator included. */
#define KL_WORKER_PATH_MAX 4300

typedef struct {
    const kl_opts *o;           /* read by the worker: not changed while it runs */
    kl_post *post;              /* post-processing of fresh transcripts; the worker's alone */
    kl_live *live;              /* the dictation's text and cancel state (has its own lock) */
    kl_evhub *hub;              /* "partial", "final" and "error" events */
    const char *history;        /* the history file ("" none) */
    void (*log)(void *u, const char *level, const char *msg);
    void *log_u;
    int (*mods_held)(void *u);  /* kl_output_opts.mods_held: typing waits for no modifier */
    void *mods_u;
} kl_worker_env;

typedef struct kl_worker kl_worker;

/* Starts the thread; *env is copied (what it points to must outlive the worker). 0, or -1
 * with a message. */
int kl_worker_start(kl_worker **out, const kl_worker_env *env, char *err, size_t n);

/* Queues the start of session_daemon when none is alive (nothing with --no-start). */
void kl_worker_ensure_daemon(kl_worker *w);
/* Queues the transcription of path (NULL: no audio, only the end of the dictation) as piece
 * `chunk` of dictation `serial`; final: the dictation's last job, which types its text. lang:
 * the binding's language ("" the configured one); started: when the dictation began
 * (ss_mono_now; --join-seconds); cont: an utterance after the first of a --continuous
 * recording, which continues the text typed before it whatever --join-seconds says (in the
 * same application, no Return between). Out of memory is logged. */
void kl_worker_transcribe(kl_worker *w, const char *path, unsigned serial, int chunk, int final,
                          const char *lang, double started, int cont);
/* Queues piece `chunk` of dictation `serial` whose recording could not be written (why: the
 * reason, for the events and the log): it counts as lost like a failed transcription (an
 * error event, the "failed" notification, no Return, the final event says a part is missing);
 * final: as for kl_worker_transcribe. Out of memory is logged. */
void kl_worker_lost(kl_worker *w, const char *why, unsigned serial, int chunk, int final,
                    const char *lang, double started, int cont);
/* Queues text (from the history, any length; copied) to be delivered again. 0, or -1 when
 * out of memory (logged; nothing queued). */
int kl_worker_paste(kl_worker *w, const char *text);

/* 1 when no job is queued or running. */
int kl_worker_idle(kl_worker *w);
/* Asks the thread to end once the queue is empty: the dictations already recorded are still
 * transcribed and typed (no daemon is started for a new one), then the saved clipboard is
 * put back. */
void kl_worker_quit(kl_worker *w);
/* 1 once the thread has ended (after kl_worker_quit). */
int kl_worker_done(kl_worker *w);
/* Quits, then joins and frees the worker when its thread has ended: 1. When it has not (a
 * round trip stuck past the caller's deadline), the jobs still queued are dropped with their
 * recordings kept and logged, the thread is detached and the worker left allocated for it:
 * 0, and what env points to must then stay allocated too. NULL: 1. */
int kl_worker_free(kl_worker *w);

#endif
