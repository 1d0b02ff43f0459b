/* ss_decoder.h — the decoder sandbox (spool-reliability.md T14): each request's audio is
 * decoded by sp_audio_load in a child process with resource limits (no core, RLIMIT_CPU,
 * RLIMIT_AS outside ASan) and a wall-clock deadline, so a decoder crash, hang or memory bomb
 * fails that one request with its own outcome. The children are forked by a small
 * single-threaded launcher started before the model is loaded (forking the loaded daemon
 * costs ~1.5 ms); without it (never started, or stopped because it died or stalled) the
 * caller's thread forks them itself. See docs/daemon.md, "Decoder isolation".
 *
 * Used by one thread at a time (the daemon's worker). */
#ifndef SS_DECODER_H
#define SS_DECODER_H

#include <stddef.h>
#include <sys/types.h>

#include "speech.h"

/* How one request's decode ended. */
typedef enum {
    SS_DEC_OK = 0,            /* samples returned */
    SS_DEC_AUDIO_ERROR,       /* the decoder refused the audio: detail.status, detail.msg */
    SS_DEC_CRASHED,           /* the child died by a signal mid-answer: detail.sig */
    SS_DEC_TIMEOUT,           /* the child ran past the wall-clock limit and was killed */
    SS_DEC_LAUNCHER_STALLED,  /* the launcher did not answer by the backstop (stopped or
                                 wedged): it was killed and is not used again */
    SS_DEC_CANCELLED,         /* *cancel was set (shutdown); the child was killed */
    SS_DEC_NO_MEMORY,         /* no memory for the samples; the child was killed */
    SS_DEC_START_FAILED,      /* pipe or fork failed: detail.err */
    SS_DEC_FAILED,            /* the child ended without a valid answer: detail.wait_status */
} ss_dec_outcome;

typedef struct {
    sp_status status;         /* SS_DEC_AUDIO_ERROR */
    char msg[512];            /* SS_DEC_AUDIO_ERROR: the decoder's message (may be empty) */
    int sig;                  /* SS_DEC_CRASHED */
    int wait_status;          /* SS_DEC_FAILED */
    int err;                  /* SS_DEC_START_FAILED: errno */
    long launcher_pid;        /* SS_DEC_LAUNCHER_STALLED */
    int truncated;            /* SS_DEC_OK: the file ends early (sp_audio_info.truncated) */
} ss_dec_detail;

typedef struct {
    int zsock;                /* the launcher's socket, -1 if none */
    pid_t zpid;
    int zpending;             /* its report for the last request is still to be read */
    double cpu_s;             /* RLIMIT_CPU of a child, seconds */
    double timeout_s;         /* wall-clock limit of a child, seconds */
} ss_decoder;

void ss_decoder_init(ss_decoder *dc, double cpu_s, double timeout_s);
/* Forks the launcher. Call once, single-threaded, before the model is loaded (the launcher
 * is a copy of the process as it is then). Returns 0, or -1: children are forked directly. */
int ss_decoder_start_launcher(ss_decoder *dc);
/* Kills and reaps the launcher (its children die with it: PR_SET_PDEATHSIG). */
void ss_decoder_stop(ss_decoder *dc);

/* Decodes path (16 kHz mono float, at most max_seconds) in a child. On SS_DEC_OK *pcm
 * (malloc'd) holds *n samples; otherwise *pcm is NULL and *det says why. */
ss_dec_outcome ss_decoder_load(ss_decoder *dc, const char *path, double max_seconds,
                               volatile int *cancel, float **pcm, size_t *n,
                               ss_dec_detail *det);
/* The spool's error code (SS_E_*) and a one-line message for an outcome; NULL (and "") for
 * SS_DEC_OK and SS_DEC_CANCELLED. */
const char *ss_decoder_error(const ss_decoder *dc, ss_dec_outcome oc, const ss_dec_detail *det,
                             const char *path, char *msg, size_t n);
/* The spool's error code for an sp_audio_load status (also for in-process decoding). */
const char *ss_audio_error_code(sp_status st);

#endif
