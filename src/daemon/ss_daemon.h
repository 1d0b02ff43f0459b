/* ss_daemon.h — the session daemon: one loop thread polling a signalfd, an inotify watch on
 * the request directory and the worker's eventfd, with the nearest deadline as poll
 * timeout (idle exit, status refresh, young-file recheck, safety rescan); the engine runs on
 * one worker thread so the loop never blocks on model work.
 *
 * Exit codes (documented in docs/daemon.md): */
#ifndef SS_DAEMON_H
#define SS_DAEMON_H

#include <stddef.h>

#define SS_EXIT_OK        0     /* clean shutdown (signal or idle timeout) */
#define SS_EXIT_USAGE     100   /* bad arguments, an invalid --device */
#define SS_EXIT_INTERNAL  101   /* internal bug */
#define SS_EXIT_RUNNING   110   /* another daemon holds the lock: nothing was touched */
#define SS_EXIT_SYSTEM    111   /* system failure: directories, lock, inotify, fork, memory */
#define SS_EXIT_MODEL     112   /* the model could not be loaded */
#define SS_EXIT_MODEL_CHANGED 113   /* the model file changed on disk while loaded: stopped so
                                     * that a restart loads the new one (queued requests kept) */

typedef struct {
    double timeout;            /* idle seconds before exit; <= 0: never */
    const char *model;         /* model file */
    int threads;               /* 0: one per physical core it may use (wh_pool_default_threads) */
    const char *device;        /* "auto", "cpu", "cuda", "cuda:N"; NULL: the engine default */
    const char *compute;       /* "auto", "int8", "exact"; NULL: the engine default */
    int verbose;               /* also log to stderr */
    double request_ttl;        /* seconds from receipt after which a request is "expired" */
    long max_pending;          /* queued requests beyond this are answered "busy" */
    double max_audio_seconds;  /* decoded length cap */
    long long max_audio_bytes; /* input file size cap */
    int fsync_responses;
    double response_gc_s;      /* unread responses older than this are removed */
    double quarantine_max_age; /* quarantined requests older than this are removed (7 days) */
    int beam_size;             /* 0: the engine's default */
    const char *language;      /* NULL: the engine's default (detect) */
    int temperature_fallback;  /* 0 (default, as the original daemon): temperature 0 only */
    int vad;                   /* drop non-speech before decoding */
    const char *vad_model;     /* Silero ggml file; NULL with vad: the energy detector */
    const char *initial_prompt, *hotwords;   /* defaults for every request (custom vocabulary) */
    int audio_ctx;             /* default encoder positions: 0 = full, SP_AUDIO_CTX_AUTO, N */
    const char *languages;     /* default detection set ("en,de"), or NULL: all */
    int ready_fd;              /* fork mode: write "R" when ready, then close; else -1 */
    int no_decoder_isolation;  /* 1: decode audio in-process (the old path; a decoder crash
                                  then kills the daemon) */
    double decoder_cpu_limit;  /* RLIMIT_CPU of the decoder child, seconds (default 60) */
    double decoder_timeout;    /* wall-clock limit of the decoder child, seconds (default 120) */
} ss_daemon_opts;

void ss_daemon_default_opts(ss_daemon_opts *o);
/* Runs the daemon until idle timeout or signal; returns an SS_EXIT_* code. */
int ss_daemon_run(const ss_daemon_opts *o);

#endif
