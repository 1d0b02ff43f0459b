/* kl_ctl.h — the control socket: `key_listener start|stop|toggle|cancel|status|quit` sends
 * one line to the running listener and prints its one-line answer ("ok recording", ...).
 *
 * The socket is a unix stream socket at --socket, else $XDG_RUNTIME_DIR/key_listener.sock,
 * else /tmp/key_listener-<uid>/key_listener.sock (directory 0700, ours, not a symlink).
 * It is created 0600, and the listener also checks the peer's uid (SO_PEERCRED). A live
 * socket means another listener runs (refused); a dead one is replaced. */
#ifndef KL_CTL_H
#define KL_CTL_H

#include <poll.h>
#include <stddef.h>

#define KL_CTL_NONE (-2)   /* no listener answers */

int kl_ctl_path(const char *override, char *buf, size_t n, char *err, size_t en);
/* Returns the listening fd (non-blocking, close-on-exec), or -1 with a
 * message; -3 when another listener is alive on path. */
int kl_ctl_listen(const char *path, char *err, size_t n);

/* The listener's side of the socket, served from its loop without ever blocking it: the
 * connections are accepted and read non-blocking, each into a buffer of its own, as their
 * bytes come. A client has KL_CTL_DEADLINE seconds from its connect to send its command line
 * (at most KL_CTL_CMD_MAX - 1 bytes, ended by a newline or by shutting down its side); one
 * that trickles, stalls, sends too much or nothing is dropped without an answer. (A blocking
 * read of 0.5 s per byte had held the whole loop — key, recording, hands-free checks — while
 * a client trickled.) At most KL_CTL_CONNS connections are read at once; while all are taken
 * the listening socket is left out of the poll set and new clients wait in its backlog, for
 * KL_CTL_DEADLINE at most. A peer of another uid (SO_PEERCRED) is closed at accept. */
#define KL_CTL_CONNS 8
#define KL_CTL_CMD_MAX 64
#define KL_CTL_DEADLINE 2.0

typedef struct {
    int lfd;                         /* the listening socket (-1: none) */
    int fd[KL_CTL_CONNS];            /* connections being read; -1 free */
    double deadline[KL_CTL_CONNS];   /* monotonic seconds: dropped past it */
    size_t have[KL_CTL_CONNS];
    char buf[KL_CTL_CONNS][KL_CTL_CMD_MAX];
} kl_ctl_server;

/* Slot tags of kl_ctl_server_pollfds: the listening socket; connections are 0.. */
#define KL_CTL_TAG_LISTEN (-1)

void kl_ctl_server_init(kl_ctl_server *s, int lfd);
/* The fds to poll (POLLIN) into p, room for KL_CTL_CONNS + 1: the listening socket while a
 * slot is free (tag KL_CTL_TAG_LISTEN), then each connection being read (tag: its slot).
 * Returns the count. */
int kl_ctl_server_pollfds(const kl_ctl_server *s, struct pollfd *p, int *tags);
/* The earliest deadline of a connection being read (monotonic seconds), 0 when none. */
double kl_ctl_server_deadline(const kl_ctl_server *s);
/* Accepts the connections that wait, into free slots; now: monotonic seconds. */
void kl_ctl_server_accept(kl_ctl_server *s, double now);
/* Reads what the slot's client sent so far, without blocking. 1: a whole line, in cmd (n
 * bytes, without the line end); *fd is the connection, now the caller's to answer and
 * close (or keep); the slot is free again. 0: not whole yet. -1: the client was dropped
 * (closed with nothing sent, an error, or KL_CTL_CMD_MAX - 1 bytes without a newline). */
int kl_ctl_server_read(kl_ctl_server *s, int slot, char *cmd, size_t n, int *fd);
/* Drops the connections past their deadline; returns how many. */
int kl_ctl_server_expire(kl_ctl_server *s, double now);
/* Closes the connections being read (the listening socket stays the caller's). */
void kl_ctl_server_close(kl_ctl_server *s);
/* Client: sends cmd, waits (bounded) for the reply. 0, KL_CTL_NONE, or -1 with a message. */
int kl_ctl_send(const char *path, const char *cmd, char *reply, size_t rn, char *err, size_t n);

/* Events for status bars and overlays: `key_listener events` connects, sends "events", and the
 * listener keeps that connection and writes one JSON object per line as things happen:
 *   {"event": "recording"}                      a recording started
 *   {"event": "partial", "text": "...", "chunk": N}   a chunk's text is final (N from 1)
 *   {"event": "final", "text": "...", "release_ms": T, "delivered": B, "output": "typed",
 *    "error": "..."}                            the whole text, after post-processing, and
 *                                               whether (how, or why not) it went out
 *   {"event": "cancelled"}                      the user cancelled; nothing is typed
 *   {"event": "error", "text": "..."}           the dictation failed
 * A subscriber that does not keep up (its socket buffer full) or went away is dropped: the
 * listener never blocks on a status bar. Thread-safe. */
typedef struct kl_evhub kl_evhub;

kl_evhub *kl_evhub_new(void);
/* Closes every subscriber. */
void kl_evhub_free(kl_evhub *h);
/* Takes fd (an accepted connection that asked for events), after dropping subscribers that
 * hung up; 0, or -1 when all 16 places are taken (fd told "error too many event
 * subscribers" and closed: the caller must not close it again). */
int kl_evhub_add(kl_evhub *h, int fd);
/* Writes the event line to every subscriber; text NULL: none; chunk < 1 and release_ms < 0
 * are left out. Returns the number of subscribers it reached. */
int kl_evhub_emit(kl_evhub *h, const char *event, const char *text, int chunk, double release_ms);
/* The "final" event of a dictation whose text was given to the output: the fields of
 * kl_evhub_emit, then "delivered" (false: the text, or with --live a piece of it, could not
 * be typed, pasted, copied or printed), "output" (how it went out: "typed", "pasted",
 * "clipboard", "printed", "mixed"; NULL: left out) and "error" (why not; NULL: left out). */
int kl_evhub_emit_final(kl_evhub *h, const char *text, double release_ms, int delivered,
                        const char *output, const char *error);
/* Client: subscribes and copies the event lines to out until the listener goes away (0),
 * KL_CTL_NONE when none runs, -1 with a message (also when the listener refused it). */
int kl_ctl_events(const char *path, int out, char *err, size_t n);

#endif
