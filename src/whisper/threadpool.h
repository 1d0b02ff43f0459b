/* threadpool.h — a persistent pool of compute threads driven by one caller.
 *
 * wh_pool_run(pool, fn, arg, n_chunks) runs fn(arg, chunk, ith) once for every chunk in
 * 0 .. n_chunks-1 and returns when all have finished. Chunks are claimed dynamically from
 * one atomic ticket by the caller (ith 0) and the workers (ith 1 .. n-1), so a thread that
 * the OS deschedules (a busy desktop, another process on the core) delays only the chunk it
 * holds: the others take the rest. ith identifies the thread for per-thread scratch.
 * Workers spin briefly after each job (decoder steps dispatch dozens of small jobs per
 * token), then yield, then sleep on a condition variable, so an idle daemon costs no CPU.
 * No thread is created per call. n_chunks < 2^20. */
#ifndef WH_THREADPOOL_H
#define WH_THREADPOOL_H

typedef struct wh_pool wh_pool;
typedef void (*wh_task_fn)(void *arg, int chunk, int ith);

wh_pool *wh_pool_new(int n_threads);   /* NULL on failure; n_threads >= 1 */
void wh_pool_free(wh_pool *p);
int wh_pool_size(const wh_pool *p);
void wh_pool_run(wh_pool *p, wh_task_fn fn, void *arg, int n_chunks);

/* The compute threads to use when none are asked for: one per physical core among the CPUs
 * this process may run on (its affinity mask: taskset, a systemd CPUAffinity=, a container's
 * cpuset), at most its cgroup's CPU quota rounded up (a container's --cpus, a unit's
 * CPUQuota=). The pool spins between jobs, so a thread more than the CPUs it may have waits on
 * a descheduled one at every barrier; SMT siblings share one core's FMA pipes and caches,
 * which the GEMMs fill from one thread. At least 1. */
int wh_pool_default_threads(void);
/* the same from given places (tests): sys, a tree laid out as /sys
 * (devices/system/cpu/cpuN/topology/{core_id,physical_package_id}, fs/cgroup/...); cgroup,
 * the text of /proc/self/cgroup (may be NULL); the allowed CPUs cpus[0 .. n) */
int wh_pool_threads_for(const char *sys, const char *cgroup, const int *cpus, int n);
#endif
