/* sh_guard.h — deadlines for the HTTP server's connections, against slow clients
 * (slowloris, issue 11 defect 5). libmicrohttpd's only timeout is an idle one, reset by every
 * byte, so 64 connections that each trickle a header line every 10 s held every thread
 * forever. The guard knows each connection's socket and phase and closes (shutdown(2): the
 * connection's own thread then sees end-of-file and cleans up) those that
 *   - take longer than header_timeout to send a request's headers (counted from accept, or
 *     from the end of the previous request plus idle_timeout on a kept-alive connection);
 *   - take longer than body_timeout to send a body (a backstop: the server answers 408 when
 *     a byte arrives past --upload-timeout);
 *   - or, when fewer than `reserve` of max_conns slots are free, have been waiting for
 *     headers for at least min_age seconds, oldest first, so new clients find a free slot;
 *   - and, asked when every upload slot is taken (sh_guard_evict_slow_body), the slowest body
 *     below a floor rate, so that one client trickling many bodies cannot hold the server's
 *     uploads (--max-uploads) until --upload-timeout.
 * A connection whose request is being worked on (the daemon transcribing) is never touched.
 * The per-IP share is libmicrohttpd's MHD_OPTION_PER_IP_CONNECTION_LIMIT (session_http).
 *
 * Threading: every function may be called from any thread. sh_guard_remove must be called
 * before the socket is closed (libmicrohttpd's MHD_CONNECTION_NOTIFY_CLOSED is), so the
 * guard never shuts down a descriptor number that was reused. No libmicrohttpd here: it is
 * unit-tested with socket pairs (tests/unit/test_http.c). */
#ifndef SH_GUARD_H
#define SH_GUARD_H

typedef enum { SH_PHASE_HEADERS, SH_PHASE_BODY, SH_PHASE_WORK } sh_phase;

typedef struct {
    double header_timeout, body_timeout, idle_timeout, min_age;   /* seconds */
    int max_conns, reserve;
    int no_thread;   /* tests: no watchdog, only the sh_guard_sweep calls they make */
} sh_guard_opts;

typedef struct sh_guard sh_guard;
typedef struct sh_guard_conn sh_guard_conn;

/* Starts the guard and its watchdog thread (checks 4 times a second). NULL on failure. */
sh_guard *sh_guard_start(const sh_guard_opts *o);
/* Stops the thread and frees the guard; connections still listed are left alone. */
void sh_guard_stop(sh_guard *g);

/* A new connection on socket fd, waiting for its first request's headers. NULL when out of
 * memory (the connection is then simply not guarded). */
sh_guard_conn *sh_guard_add(sh_guard *g, int fd);
void sh_guard_remove(sh_guard *g, sh_guard_conn *c);

/* The connection enters phase p now: HEADERS after a request was answered (kept alive),
 * BODY when its headers are in, WORK when its body is in. c may be NULL (not guarded). */
void sh_guard_phase(sh_guard *g, sh_guard_conn *c, sh_phase p);

/* The body's bytes so far (per chunk; for sh_guard_evict_slow_body's rates). */
void sh_guard_body_bytes(sh_guard *g, sh_guard_conn *c, unsigned long long bytes);

/* Closes the connection whose body arrives slowest, among those receiving one for at least
 * min_age seconds at under min_rate bytes/s on average; 1 when it closed one, else 0. */
int sh_guard_evict_slow_body(sh_guard *g, double now, double min_age, double min_rate);

/* One pass at time `now` (sh_guard_now: CLOCK_MONOTONIC seconds); returns how many
 * connections it closed. The watchdog calls it; tests call it with chosen times. */
int sh_guard_sweep(sh_guard *g, double now);
double sh_guard_now(void);

/* Totals since start, for the log and /health: closed for a late header, a late body, to
 * keep capacity free, or to free an upload slot from a slow body. */
void sh_guard_counts(sh_guard *g, long *late_headers, long *late_bodies, long *evicted,
                     long *slow_bodies);

#endif
