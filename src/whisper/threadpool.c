/* threadpool.c — see threadpool.h.
 *
 * One 64-bit atomic ticket carries the job: generation (24 bits) | chunk count (20) |
 * next chunk index (20). The caller writes fn/arg, then publishes a new ticket with a
 * release store; a thread claims work with fetch_add on the ticket, and the value it gets
 * says how many chunks the job it belongs to has, so a thread that wakes late can never run
 * a chunk twice or past the end, and what it claims is always the current job's. The caller returns once
 * `done` reaches the chunk count: every claimed chunk has finished, and threads holding an
 * index past the end never touch fn/arg. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_PAUSE 4000     /* pause-spins: a few tens of microseconds */
#define SPIN_YIELD 20000    /* then sched_yield polls (progress when oversubscribed) */

#define IDX_BITS 20
#define CNT_SHIFT 20
#define GEN_SHIFT 40
#define IDX_MASK ((1ull << IDX_BITS) - 1)

struct wh_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the two contended words on lines of their own: the claims (ticket) and the finish
     * count (done, polled by the caller) */
    _Alignas(64) _Atomic uint64_t ticket;
    _Alignas(64) atomic_int done;
    _Alignas(64) atomic_int sleepers;
    atomic_int quit;
    wh_task_fn fn;
    void *arg;
};

typedef struct { wh_pool *p; int ith; } worker_arg;

/* Claims and runs chunks until none are left. A claim always belongs to the job that was
 * current when it was made (the ticket says which), and a valid one (idx < cnt) is always
 * run: dropping it would lose that chunk, since nobody else can claim the same index. */
static void work(wh_pool *p, int ith)
{
    int ran = 0;
    for (;;) {
        uint64_t t = atomic_fetch_add_explicit(&p->ticket, 1, memory_order_acq_rel);
        uint64_t cnt = (t >> CNT_SHIFT) & IDX_MASK, idx = t & IDX_MASK;
        if (idx >= cnt) break;
        p->fn(p->arg, (int)idx, ith);
        ran++;
    }
    if (ran) atomic_fetch_add_explicit(&p->done, ran, memory_order_release);
}

static void *worker(void *va)
{
    worker_arg *wa = va;
    wh_pool *p = wa->p;
    const int ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->ticket, memory_order_acquire) >> GEN_SHIFT) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_PAUSE) { CPU_RELAX(); continue; }
            if (spins < SPIN_YIELD) { sched_yield(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((atomic_load(&p->ticket) >> GEN_SHIFT) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        work(p, ith);
    }
}

wh_pool *wh_pool_new(int n_threads)
{
    if (n_threads < 1) n_threads = 1;
    /* aligned as its members ask (the contended words a line apart): calloc's 16 bytes
     * would not do for a type of 64-byte alignment */
    wh_pool *p = aligned_alloc(_Alignof(wh_pool), (sizeof *p + _Alignof(wh_pool) - 1) / _Alignof(wh_pool) * _Alignof(wh_pool));
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->th = calloc((size_t)n_threads, sizeof *p->th);
    if (!p->th) { free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) { wa->p = p; wa->ith = i; }
        if (!wa || pthread_create(&p->th[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i;   /* run with the threads we have */
            break;
        }
    }
    return p;
}

int wh_pool_size(const wh_pool *p) { return p ? p->n : 1; }

void wh_pool_run(wh_pool *p, wh_task_fn fn, void *arg, int n_chunks)
{
    if (n_chunks <= 0) return;
    if (p->n == 1 || n_chunks == 1) {
        for (int i = 0; i < n_chunks; i++) fn(arg, i, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint64_t gen = ((atomic_load_explicit(&p->ticket, memory_order_relaxed) >> GEN_SHIFT) + 1) & 0xffffff;
    if (gen == 0) gen = 1;   /* workers start having "seen" generation 0 */
    atomic_store_explicit(&p->ticket, gen << GEN_SHIFT | (uint64_t)n_chunks << CNT_SHIFT, memory_order_seq_cst);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_chunks; spins++) {
        if (spins < SPIN_PAUSE) CPU_RELAX();
        else sched_yield();
    }
}

void wh_pool_free(wh_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->th);
    free(p);
}
