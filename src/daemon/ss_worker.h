/* ss_worker.h — the worker hand-off: the loop thread submits one job at a time; the worker
 * thread checks the audio file, decodes it (in the decoder sandbox unless isolation is off),
 * runs the engine and signals completion on an eventfd the loop polls. The loop never
 * blocks on model work, and the worker never touches the spool or the log.
 *
 * Ownership: a submitted job belongs to the worker until ss_worker_done() returns 1; then
 * the loop reads its results and frees it. Only one job is ever in flight. */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include <pthread.h>

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
    int has_temperature;
    float temperature;
    /* out */
    const char *code;       /* NULL on success, else an SS_E_* code with err */
    char err[600];
    char **texts;           /* stripped, non-empty segment texts (the original's results) */
    double *starts, *ends;  /* their times in the audio */
    int n_texts;
    char language[16];
    sp_device_info dev;     /* the device after this job (a GPU fault moves to the CPU) */
    double audio_s, proc_ms;
    int cancelled;          /* stopped by ss_worker_cancel: no answer, left for next start */
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
    int isolate;            /* decode in a child process (default) */
    ss_decoder dec;         /* the decoder sandbox (ss_decoder.h) */
    /* hand-off */
    int evfd;               /* readable when a job is done (poll it); -1 before init */
    volatile int cancel;    /* asks the current job to stop (shutdown) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ss_job *pending;        /* handed to the worker, NULL once done */
    int quit, started;
} ss_worker;

/* Copies what a job needs out of a request (the item may be freed meanwhile); NULL when
 * out of memory. */
ss_job *ss_job_new(const ss_request *req, double max_seconds, long long max_bytes);
void ss_job_free(ss_job *j);

/* Creates the eventfd (evfd). Returns 0 or -1 (errno). */
int ss_worker_init(ss_worker *w);
/* Starts the thread. Returns 0 or -1. */
int ss_worker_start(ss_worker *w);
void ss_worker_submit(ss_worker *w, ss_job *j);
/* Call when evfd is readable: 1 when the submitted job is done. */
int ss_worker_done(ss_worker *w);
void ss_worker_cancel(ss_worker *w);
/* Cancels the current job, joins the thread (if started), closes evfd. */
void ss_worker_stop(ss_worker *w);

#endif
