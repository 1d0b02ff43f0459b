/* ss_worker.h — the worker hand-off: the loop thread submits one job at a time; the worker
 * thread checks the audio file, decodes it (in the decoder sandbox unless isolation is off),
 * runs the engine and signals completion on an eventfd the loop polls. The loop never
 * blocks on model work, and the worker never touches the spool or the log.
 *
 * Ownership: a submitted job belongs to the worker until ss_worker_events() reports it done;
 * then the loop reads its results and frees it. One top-level job is in flight; while a
 * batch job is paused at a window boundary ("parked", docs/daemon.md "Live requests") the
 * loop may hand the worker one nested (interactive) job at a time, which runs on the same
 * model inside the paused job's sp_transcribe call. */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include <limits.h>
#include <pthread.h>

#include "common/dynbuf.h"
#include "daemon/ss_decoder.h"
#include "session/ss_json.h"
#include "speech.h"

typedef struct {
    /* in */
    char *audio_file;
    double max_seconds;
    long long max_bytes;
    char req_language[16];  /* per-request options ("" / NULL / 0: the daemon's defaults) */
    int translate;
    char *prompt;
    char *hotwords;
    int audio_ctx;          /* 0: the daemon's default */
    char languages[SS_LANGUAGES_MAX + 1];   /* detection among these ("en,de"); "": the default */
    int has_temperature;
    float temperature;
    int batch;              /* "priority": "batch": yields to interactive jobs */
    int stream;             /* publish lines for the partial file (take_lines) */
    int word_timestamps;
    volatile int cancel;    /* stops this job: shutdown or a cancel request */
    /* live output, under the worker's mutex: complete '\n'-terminated partial-file lines */
    sp_dynbuf lines;
    int n_published;        /* kept segments given so far (their "i") */
    /* out */
    const char *code;       /* NULL on success, else an SS_E_* code with err */
    char err[PATH_MAX + 1024];   /* the path in full (up to PATH_MAX) and a decoder's message:
                                  * the spec's "Audio file not found: PATH" had been cut */
    char **texts;           /* stripped, non-empty segment texts (the original's results) */
    double *starts, *ends;  /* their times in the audio */
    sp_word **words;        /* word_timestamps: each kept segment's words (n_words[i]) */
    int *n_words;
    ss_seg_decode *decode;  /* each kept segment's seek, tokens and figures */
    int n_texts;
    char language[16];
    sp_device_info dev;     /* the device after this job (a GPU fault moves to the CPU) */
    double audio_s, proc_ms;
    int truncated;          /* the audio file ends early: a partial transcript ("warning") */
    char ignored[96];       /* what an English-only model did not do of what the request
                             * asked ("language \"de\"", "task translate"): "warning" too */
    int cancelled;          /* stopped by its cancel flag */
    int yields;             /* times this (batch) job paused for interactive ones */
    double yield_ms;        /* time spent paused (not counted in proc_ms) */
} ss_job;

typedef struct {
    /* settings, filled in before ss_worker_start */
    sp_context *ctx;
    int beam_size;
    const char *language;
    int temperature_fallback, vad;
    const char *vad_model;
    const char *initial_prompt, *hotwords;   /* defaults for requests without their own */
    int audio_ctx;                           /* default encoder positions: 0 = full window */
    const char *languages;                   /* default detection set ("en,de"), or NULL */
    int isolate;            /* decode in a child process (default) */
    ss_decoder dec;         /* the decoder sandbox (ss_decoder.h) */
    /* hand-off (under mu) */
    int evfd;               /* readable when something happened (poll it); -1 before init */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ss_job *pending;        /* the top-level job, NULL once done */
    ss_job *nested;         /* the job handed to the parked worker, NULL once done */
    ss_job *nested_done;    /* a finished nested job, until the loop takes it */
    int want_yield;         /* the loop has an interactive job waiting */
    int parked;             /* the top job waits at a window boundary for nested/resume */
    int resume;             /* the loop's answer to a park: go on */
    int quit, started;
} ss_worker;

/* What the worker reports (ss_worker_events). */
typedef struct {
    int top_done;           /* the top-level job is finished */
    ss_job *nested_done;    /* a finished nested job (now the caller's), or NULL */
    int parked;             /* the top job is paused: hand it a nested job or resume it */
} ss_wk_events;

/* Copies what a job needs out of a request (the item may be freed meanwhile); NULL when
 * out of memory. */
ss_job *ss_job_new(const ss_request *req, double max_seconds, long long max_bytes);
void ss_job_free(ss_job *j);

/* Creates the eventfd (evfd). Returns 0 or -1 (errno). */
int ss_worker_init(ss_worker *w);
/* Starts the thread. Returns 0 or -1. */
int ss_worker_start(ss_worker *w);
void ss_worker_submit(ss_worker *w, ss_job *j);
/* Call when evfd is readable: what happened since the last call. */
void ss_worker_events(ss_worker *w, ss_wk_events *ev);
/* The partial-file lines j published since the last call (malloc'd, complete lines), or
 * NULL. */
char *ss_worker_take_lines(ss_worker *w, ss_job *j, size_t *len);
/* on: an interactive job waits, so a running batch job parks at its next window boundary. */
void ss_worker_want_yield(ss_worker *w, int on);
/* Hands j to the parked worker (only after events said parked). */
void ss_worker_run_nested(ss_worker *w, ss_job *j);
/* Lets a parked job go on (no-op when not parked). */
void ss_worker_resume(ss_worker *w);
/* Stops job j (a cancel request): it ends at its next check, cancelled. */
void ss_worker_cancel_job(ss_worker *w, ss_job *j);
/* Stops every job (shutdown). */
void ss_worker_cancel(ss_worker *w);
/* Cancels the current job, joins the thread (if started), closes evfd. */
void ss_worker_stop(ss_worker *w);

#endif
