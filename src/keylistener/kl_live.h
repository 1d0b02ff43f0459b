/* kl_live.h — the state of one dictation while its chunks are transcribed (chunked
 * dictation, docs/key_listener.md): the text so far, the prompt the next chunk is sent with,
 * the request in flight and whether the user cancelled.
 *
 * Threads: the worker transcribes the chunks in order (kl_live_begin, _prompt, _submitted,
 * _finished, _add); the loop thread cancels (kl_live_cancel). Everything is under one mutex,
 * and the two sides agree on who sends the cancel request: kl_live_cancel returns the id in
 * flight when there is one; when the cancel comes between the worker's dequeue and its
 * submission, kl_live_submitted tells the worker to send it. Exactly one of them does. */
#ifndef KL_LIVE_H
#define KL_LIVE_H

#include <stddef.h>

#define KL_LIVE_ID_MAX 128
#define KL_PROMPT_MAX 4096      /* the daemon's limit for "prompt" */

typedef struct kl_live kl_live;

kl_live *kl_live_new(void);
void kl_live_free(kl_live *l);

/* Worker: a job of recording `serial` is about to run; the first job of a new serial starts
 * an empty text. Returns 1 when that recording was cancelled already (skip the job). */
int kl_live_begin(kl_live *l, unsigned serial);
/* Worker: the request for the current job was written (id). 1: the recording was cancelled
 * meanwhile and nobody sent a cancel for id yet: the caller sends it. */
int kl_live_submitted(kl_live *l, const char *id);
/* Worker: the answer came (or the wait ended); 1 when the recording was cancelled (the text
 * is to be dropped, nothing typed). */
int kl_live_finished(kl_live *l);
/* Worker: appends a chunk's text (joined with one space); 0, -1 out of memory. */
int kl_live_add(kl_live *l, const char *text);
/* A malloc'd copy of the text so far ("" none), NULL on OOM. */
char *kl_live_text(kl_live *l);
/* Number of chunks added in the current recording. */
int kl_live_chunks(kl_live *l);
/* The prompt for the next chunk into out (see kl_live_prompt_build). */
void kl_live_prompt(kl_live *l, const char *initial, char *out, size_t n);
/* Loop thread: the user cancelled recording `serial`. Returns 1 with the id of its request in
 * flight (the caller sends the cancel request), else 0. Later jobs of serial are skipped. */
int kl_live_cancel(kl_live *l, unsigned serial, char id[KL_LIVE_ID_MAX + 1]);

/* The id of the cancel request sent for this dictation (by either side), so that the worker
 * can collect its answer and leave nothing behind in the responses directory. */
void kl_live_cancel_sent(kl_live *l, const char *cid);
/* Worker: 1 with the id (then forgotten) when a cancel was sent, else 0. */
int kl_live_take_cancel(kl_live *l, char cid[KL_LIVE_ID_MAX + 1]);

/* What a chunk is sent with as "prompt": the user's initial prompt (kept whole: it is the
 * user's context, e.g. a spelling list), then the text so far, cut from the left at a word
 * boundary (never inside a UTF-8 character) so that the whole fits n - 1 bytes and at most
 * KL_PROMPT_MAX. Whisper keeps only the last ~223 tokens of a prompt anyway, so the newest
 * text is what matters. The vocabulary is not added here: it travels as "hotwords", which
 * the daemon puts in every window itself. */
void kl_live_prompt_build(const char *initial, const char *sofar, char *out, size_t n);

#endif
