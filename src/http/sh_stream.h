/* sh_stream.h — the server-sent events of a streaming transcription (issue 12; the partial
 * file's contract: docs/daemon.md "Live requests", "Stream"): the session daemon's
 * responses/.{id}.partial file, tailed, becomes OpenAI's
 *     data: {"type":"transcript.text.delta","delta":"..."}\n\n
 * one per finished segment; the final response fills in any segment not yet sent and ends
 * the stream with
 *     data: {"type":"transcript.text.done","text":"..."}\n\n
 * or an error ends it with
 *     event: error\ndata: {"type":"error","error":{"message","type","param","code"}}\n\n
 * (the shape the OpenAI SDKs raise as APIError).
 *
 * The deltas concatenate to exactly the done event's text: each segment's text trimmed, the
 * empty ones skipped, every delta but the first led by what sh_seg_joiner gives (Whisper's
 * own lead, one space, none in Chinese or Japanese; the first has none, or a client appending
 * deltas would start with a space).
 *
 * No libmicrohttpd and no waiting here: the server's content reader asks for new events when
 * the responses directory changed (main_session_http.c) and takes the bytes. Single thread
 * per object. */
#ifndef SH_STREAM_H
#define SH_STREAM_H

#include <jansson.h>
#include <stddef.h>

typedef struct sh_stream sh_stream;

/* A stream for request id whose daemon writes into resp_dir. NULL: out of memory, or the
 * directory cannot be opened (errno). */
sh_stream *sh_stream_new(const char *resp_dir, const char *id);
void sh_stream_free(sh_stream *s);

/* Reads what the partial file gained since the last call (reopened if the daemon replaced
 * it); each new complete segment line, in index order, queues a delta. Returns the number
 * of deltas queued, -1 out of memory. A missing file is "nothing yet". */
int sh_stream_tail(sh_stream *s);

/* The final (successful) response: deltas for its segments not yet sent (its "segments"
 * by index, else its "results"), then the done event (with the response's "warning", when it
 * has one). 0, -1 out of memory. */
int sh_stream_finish(sh_stream *s, const json_t *resp);

/* Ends the stream with an error event (type/code as in OpenAI's error bodies; code may be
 * NULL). 0, -1 out of memory. */
int sh_stream_error(sh_stream *s, const char *msg, const char *type, const char *code);

/* Queues an SSE comment line: keeps proxies and client read timeouts from closing a stream
 * that waits for a long segment; clients ignore it. */
int sh_stream_keepalive(sh_stream *s);

/* Moves up to max queued bytes into buf; returns how many (0: none queued). */
size_t sh_stream_take(sh_stream *s, char *buf, size_t max);
size_t sh_stream_queued(const sh_stream *s);
/* 1 once done or error is queued (nothing more will be). */
int sh_stream_ended(const sh_stream *s);
/* Deltas queued so far. */
int sh_stream_deltas(const sh_stream *s);

#endif
