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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* ------------------------------------------------------------------ default thread count */

/* the first integer in the file at a/b (b may be empty); 0 on success */
static int read_long(const char *a, const char *b, long *v)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s%s", a, b) >= (int)sizeof path) return -1;
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    const int ok = fscanf(f, "%ld", v) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

/* cgroup v2's cpu.max in dir: "QUOTA PERIOD" -> CPUs rounded up, "max ..." -> 0 (none) */
static int cpu_max(const char *dir)
{
    char path[1024], q[32];
    long period = 0;
    if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path) return 0;
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    const int n = fscanf(f, "%31s %ld", q, &period);
    fclose(f);
    if (n != 2 || period <= 0 || !strcmp(q, "max")) return 0;
    const long quota = strtol(q, NULL, 10);
    return quota > 0 ? (int)((quota + period - 1) / period) : 0;
}

/* v1's cpu.cfs_quota_us over cpu.cfs_period_us in dir, rounded up; 0: none */
static int cfs_quota(const char *dir)
{
    long quota, period;
    if (read_long(dir, "/cpu.cfs_quota_us", &quota) != 0 || read_long(dir, "/cpu.cfs_period_us", &period) != 0 ||
        quota <= 0 || period <= 0)
        return 0;
    return (int)((quota + period - 1) / period);
}

/* the smallest quota of the group grp under base and of each of its ancestors (a slice's
 * CPUQuota= binds the services below it); 0: none */
static int walk_up(const char *base, char *grp, int (*quota)(const char *dir))
{
    int best = 0;
    for (;;) {
        char dir[1024];
        if (snprintf(dir, sizeof dir, "%s%s", base, grp) < (int)sizeof dir) {
            const int q = quota(dir);
            if (q > 0 && (best == 0 || q < best)) best = q;
        }
        char *slash = strrchr(grp, '/');
        if (!slash || slash == grp) break;
        *slash = 0;
    }
    return best;
}

/* the smallest quota (quota()) of group grp, or of an ancestor, under the first of the
 * mounts sys/fs/cgroup<mount> that has one; 0: none */
static int mounts_quota(const char *sys, const char *const *mounts, int n, const char *grp,
                        int (*quota)(const char *dir))
{
    for (int m = 0; m < n; m++) {
        char base[600], g[512];
        if (snprintf(base, sizeof base, "%s/fs/cgroup%s", sys, mounts[m]) >= (int)sizeof base ||
            snprintf(g, sizeof g, "%s", grp) >= (int)sizeof g)
            continue;
        const int lim = walk_up(base, g, quota);
        if (lim > 0) return lim;
    }
    return 0;
}

/* The CPU quota of the group each /proc/self/cgroup line names, in whole CPUs (0: none found):
 * v2 ("0::PATH": cpu.max under fs/cgroup, or fs/cgroup/unified on hybrid systems), v1 (a
 * line whose controllers include cpu: cpu.cfs_quota_us over cpu.cfs_period_us, under the
 * controller's mount, fs/cgroup/cpu or fs/cgroup/cpu,cpuacct); each group's ancestors too */
static int cgroup_cpus(const char *sys, const char *cgroup)
{
    static const char *const v2[] = {"", "/unified"}, *const v1[] = {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"};
    int best = 0;
    for (const char *line = cgroup; line && *line;) {
        const char *end = strchr(line, '\n'), *c1 = strchr(line, ':');
        const size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *c2 = c1 && c1 < line + len ? memchr(c1 + 1, ':', (size_t)(line + len - c1 - 1)) : NULL;
        char ctl[128], grp[512];
        const size_t cl = c2 ? (size_t)(c2 - c1 - 1) : 0, gl = c2 ? (size_t)(line + len - c2 - 1) : 0;
        if (c2 && cl < sizeof ctl && gl < sizeof grp) {
            memcpy(ctl, c1 + 1, cl); ctl[cl] = 0;
            memcpy(grp, c2 + 1, gl); grp[gl] = 0;
            int lim = 0;
            if (cl == 0) {
                lim = mounts_quota(sys, v2, 2, grp, cpu_max);
            } else {
                int has_cpu = 0;
                for (char *sv, *t = strtok_r(ctl, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) has_cpu |= !strcmp(t, "cpu");
                if (has_cpu) lim = mounts_quota(sys, v1, 3, grp, cfs_quota);
            }
            if (lim > 0 && (best == 0 || lim < best)) best = lim;
        }
        line = end ? end + 1 : NULL;
    }
    return best;
}

int wh_pool_threads_for(const char *sys, const char *cgroup, const int *cpus, int n)
{
    if (n < 1) return 1;
    /* distinct (package, core) pairs among the allowed CPUs; any CPU without its topology
     * files: count CPUs instead */
    long *pairs = malloc(sizeof(long) * 2 * (size_t)n);
    int cores = 0;
    for (int i = 0; pairs && i < n; i++) {
        char dir[1024];
        long core, pkg;
        if (snprintf(dir, sizeof dir, "%s/devices/system/cpu/cpu%d/topology", sys, cpus[i]) >= (int)sizeof dir ||
            read_long(dir, "/core_id", &core) != 0 || read_long(dir, "/physical_package_id", &pkg) != 0) {
            cores = n;
            break;
        }
        int seen = 0;
        for (int j = 0; j < cores && !seen; j++) seen = pairs[2 * j] == pkg && pairs[2 * j + 1] == core;
        if (!seen) { pairs[2 * cores] = pkg; pairs[2 * cores + 1] = core; cores++; }
    }
    free(pairs);
    if (cores < 1) cores = n;
    const int quota = cgroup ? cgroup_cpus(sys, cgroup) : 0;
    return quota > 0 && quota < cores ? quota : cores;
}

int wh_pool_default_threads(void)
{
    int cpus[1024], n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && n < 1024; i++)
            if (CPU_ISSET(i, &set)) cpus[n++] = i;
    if (n == 0) {   /* no affinity to read: the online CPUs */
        const long on = sysconf(_SC_NPROCESSORS_ONLN);
        for (n = 0; n < (on > 1024 ? 1024 : on); n++) cpus[n] = n;
        if (n == 0) cpus[n++] = 0;
    }
    char cg[8192];
    size_t got = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f) {
        got = fread(cg, 1, sizeof cg - 1, f);
        fclose(f);
    }
    cg[got] = 0;
    return wh_pool_threads_for("/sys", got ? cg : NULL, cpus, n);
}
