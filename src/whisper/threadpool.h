/* threadpool.h — a persistent pool of compute threads driven by one caller.
 * wh_pool_run(pool, fn, arg) runs fn(arg, ith, nth) for ith = 0 .. nth-1, the caller doing
 * ith 0, and returns when all have finished. Workers spin briefly after each job (decoder
 * steps dispatch dozens of small jobs per token) and then sleep on a condition variable, so
 * an idle daemon costs no CPU. No thread is created per call. */
#ifndef WH_THREADPOOL_H
#define WH_THREADPOOL_H

typedef struct wh_pool wh_pool;
typedef void (*wh_task_fn)(void *arg, int ith, int nth);

wh_pool *wh_pool_new(int n_threads);   /* NULL on failure; n_threads >= 1 */
void wh_pool_free(wh_pool *p);
int wh_pool_size(const wh_pool *p);
void wh_pool_run(wh_pool *p, wh_task_fn fn, void *arg);
#endif
