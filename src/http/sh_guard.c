/* sh_guard.c — see sh_guard.h. */
#include "http/sh_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_NS 250000000L   /* 4 passes a second: deadlines are kept to within 0.25 s */

struct sh_guard_conn {
    sh_guard_conn *prev, *next;
    int fd;
    sh_phase phase;
    double since;      /* when this phase began */
    double deadline;   /* 0: none (WORK) */
    unsigned long long bytes;   /* the body's so far (BODY) */
    int closed;        /* shut down by the guard; libmicrohttpd removes it soon */
};

struct sh_guard {
    sh_guard_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int has_thread, stop;
    sh_guard_conn *head;
    long late_headers, late_bodies, evicted, slow_bodies;
};

double sh_guard_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* caller holds g->mu */
static void set_phase(sh_guard *g, sh_guard_conn *c, sh_phase p, double now)
{
    c->phase = p;
    c->since = now;
    c->bytes = 0;
    switch (p) {
    case SH_PHASE_HEADERS: c->deadline = now + g->o.header_timeout; break;
    case SH_PHASE_BODY: c->deadline = now + g->o.body_timeout; break;
    default: c->deadline = 0;
    }
}

sh_guard_conn *sh_guard_add(sh_guard *g, int fd)
{
    sh_guard_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    pthread_mutex_lock(&g->mu);
    set_phase(g, c, SH_PHASE_HEADERS, sh_guard_now());
    c->next = g->head;
    if (g->head) g->head->prev = c;
    g->head = c;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void sh_guard_remove(sh_guard *g, sh_guard_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    if (c->prev) c->prev->next = c->next; else g->head = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void sh_guard_phase(sh_guard *g, sh_guard_conn *c, sh_phase p)
{
    if (!c) return;
    double now = sh_guard_now();
    pthread_mutex_lock(&g->mu);
    set_phase(g, c, p, now);
    /* a kept-alive connection may first stay silent for the idle timeout (libmicrohttpd
     * closes it then); only after that does the header clock run */
    if (p == SH_PHASE_HEADERS) c->deadline += g->o.idle_timeout;
    pthread_mutex_unlock(&g->mu);
}

/* caller holds g->mu. shutdown, not close: the descriptor stays libmicrohttpd's, whose
 * connection thread wakes up to end-of-file and cleans up as for a client that left. */
static void close_conn(sh_guard_conn *c, long *counter)
{
    shutdown(c->fd, SHUT_RDWR);
    c->closed = 1;
    (*counter)++;
}

/* caller holds g->mu: the connection waiting longest for headers, if at least min_age */
static sh_guard_conn *oldest_waiting(sh_guard *g, double now)
{
    sh_guard_conn *old = NULL;
    for (sh_guard_conn *c = g->head; c; c = c->next)
        if (!c->closed && c->phase == SH_PHASE_HEADERS && now - c->since >= g->o.min_age &&
            (!old || c->since < old->since))
            old = c;
    return old;
}

void sh_guard_body_bytes(sh_guard *g, sh_guard_conn *c, unsigned long long bytes)
{
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->bytes = bytes;
    pthread_mutex_unlock(&g->mu);
}

int sh_guard_evict_slow_body(sh_guard *g, double now, double min_age, double min_rate)
{
    sh_guard_conn *slow = NULL;
    double slow_rate = 0;
    pthread_mutex_lock(&g->mu);
    for (sh_guard_conn *c = g->head; c; c = c->next) {
        double age = now - c->since, rate = age > 0 ? (double)c->bytes / age : 0;
        if (c->closed || c->phase != SH_PHASE_BODY || age < min_age || rate >= min_rate) continue;
        if (!slow || rate < slow_rate) slow = c, slow_rate = rate;
    }
    if (slow) close_conn(slow, &g->slow_bodies);
    pthread_mutex_unlock(&g->mu);
    return slow != NULL;
}

int sh_guard_sweep(sh_guard *g, double now)
{
    int closed = 0, open = 0;
    pthread_mutex_lock(&g->mu);
    for (sh_guard_conn *c = g->head; c; c = c->next) {
        if (c->closed) continue;
        if (c->deadline > 0 && now >= c->deadline) {
            close_conn(c, c->phase == SH_PHASE_BODY ? &g->late_bodies : &g->late_headers);
            closed++;
            continue;
        }
        open++;
    }
    /* keep `reserve` slots free for new clients: libmicrohttpd refuses connections beyond
     * max_conns, and a full house of idle or slow connections must not lock everyone out */
    while (open > g->o.max_conns - g->o.reserve) {
        sh_guard_conn *c = oldest_waiting(g, now);
        if (!c) break;
        close_conn(c, &g->evicted);
        closed++;
        open--;
    }
    pthread_mutex_unlock(&g->mu);
    return closed;
}

void sh_guard_counts(sh_guard *g, long *late_headers, long *late_bodies, long *evicted,
                     long *slow_bodies)
{
    pthread_mutex_lock(&g->mu);
    *late_headers = g->late_headers;
    *late_bodies = g->late_bodies;
    *evicted = g->evicted;
    *slow_bodies = g->slow_bodies;
    pthread_mutex_unlock(&g->mu);
}

static void *watchdog(void *arg)
{
    sh_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_NS;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (g->stop) break;
        pthread_mutex_unlock(&g->mu);
        sh_guard_sweep(g, sh_guard_now());
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

sh_guard *sh_guard_start(const sh_guard_opts *o)
{
    sh_guard *g = calloc(1, sizeof *g);
    pthread_condattr_t ca;
    if (!g) return NULL;
    g->o = *o;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!o->no_thread) {
        if (pthread_create(&g->thread, NULL, watchdog, g) != 0) goto fail;
        g->has_thread = 1;
    }
    return g;
fail:
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    return NULL;
}

void sh_guard_stop(sh_guard *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->has_thread) pthread_join(g->thread, NULL);
    while (g->head) {   /* entries of connections still open at stop */
        sh_guard_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
