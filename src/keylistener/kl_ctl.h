/* kl_ctl.h — the control socket: `key_listener start|stop|toggle|cancel|status|quit` sends
 * one line to the running listener and prints its one-line answer ("ok recording", ...).
 *
 * The socket is a unix stream socket at --socket, else $XDG_RUNTIME_DIR/key_listener.sock,
 * else /tmp/key_listener-<uid>/key_listener.sock (directory 0700, ours, not a symlink).
 * It is created 0600, and the listener also checks the peer's uid (SO_PEERCRED). A live
 * socket means another listener runs (refused); a dead one is replaced. */
#ifndef KL_CTL_H
#define KL_CTL_H

#include <stddef.h>

#define KL_CTL_NONE (-2)   /* no listener answers */

int kl_ctl_path(const char *override, char *buf, size_t n, char *err, size_t en);
/* Returns the listening fd (non-blocking, close-on-exec), or -1 with a
 * message; -3 when another listener is alive on path. */
int kl_ctl_listen(const char *path, char *err, size_t n);
/* Reads one command line from an accepted connection (bounded wait); 0 with the command in
 * cmd, -1 on error or a foreign uid. */
int kl_ctl_read(int fd, char *cmd, size_t n);
/* Client: sends cmd, waits (bounded) for the reply. 0, KL_CTL_NONE, or -1 with a message. */
int kl_ctl_send(const char *path, const char *cmd, char *reply, size_t rn, char *err, size_t n);

/* Events for status bars and overlays: `key_listener events` connects, sends "events", and the
 * listener keeps that connection and writes one JSON object per line as things happen:
 *   {"event": "recording"}                      a recording started
 *   {"event": "partial", "text": "...", "chunk": N}   a chunk's text is final (N from 1)
 *   {"event": "final", "text": "...", "release_ms": T}  the whole text, after post-processing
 *   {"event": "cancelled"}                      the user cancelled; nothing is typed
 *   {"event": "error", "text": "..."}           the dictation failed
 * A subscriber that does not keep up (its socket buffer full) or went away is dropped: the
 * listener never blocks on a status bar. Thread-safe. */
typedef struct kl_evhub kl_evhub;

kl_evhub *kl_evhub_new(void);
/* Closes every subscriber. */
void kl_evhub_free(kl_evhub *h);
/* Takes fd (an accepted connection that asked for events); 0, or -1 (fd closed). */
int kl_evhub_add(kl_evhub *h, int fd);
/* Writes the event line to every subscriber; text NULL: none; chunk < 1 and release_ms < 0
 * are left out. Returns the number of subscribers it reached. */
int kl_evhub_emit(kl_evhub *h, const char *event, const char *text, int chunk, double release_ms);
/* Client: subscribes and copies the event lines to out until the listener goes away (0),
 * KL_CTL_NONE when none runs, -1 with a message. */
int kl_ctl_events(const char *path, int out, char *err, size_t n);

#endif
