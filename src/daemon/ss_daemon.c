/* ss_daemon.c — see ss_daemon.h and docs/daemon.md. */
#include "daemon/ss_daemon.h"
#include "daemon/ss_worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/ss_fs.h"
#include "session/ss_json.h"
#include "session/ss_log.h"
#include "daemon/ss_partial.h"
#include "daemon/ss_spool.h"
#include "speech.h"
#include "speech_audio.h"

#define STATUS_REFRESH_S 15.0
#define STATUS_COALESCE_S 0.25
#define RESCAN_S 10.0
#define MODEL_CHECK_S 1.0      /* the model file's stat while a job runs (model_check) */
#define POLL_MODE_RESCAN_S 0.2
#define RESP_GC_EVERY_S 60.0
/* what the watch on the request directory reports (T5, T6, T8) */
#define REQ_WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | \
                        IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define RETRY_MAX 4096         /* responses waiting for space; more stay in processing/ */
#define RETRY_BACKOFF_MAX_S 5.0

void ss_daemon_default_opts(ss_daemon_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout = 600;
    o->device = NULL;   /* the engine's default: $SPEECH_SESSION_DEVICE, else auto */
    o->compute = NULL;  /* $SPEECH_SESSION_COMPUTE, else auto */
    o->request_ttl = 120;
    o->max_pending = 16384;
    o->max_audio_seconds = 3600;
    o->max_audio_bytes = 1LL << 30;
    o->response_gc_s = 3600;
    o->ready_fd = -1;
    o->decoder_cpu_limit = 60;
    o->decoder_timeout = 120;
    o->quarantine_max_age = 7 * 86400.0;
    const char *vm = getenv("SPEECH_SESSION_VAD_MODEL");
    if (vm && *vm) o->vad_model = vm;
}

/* ------------------------------------------------------------------ daemon state */

/* A finished response whose write failed with an error that can clear (disk full, quota,
 * I/O error): kept with its item and retried with backoff, without holding up the queue. */
typedef struct retry {
    struct retry *next;
    ss_item *it;
    char *json;
    double at, backoff;
} retry;

/* States of the daemon (docs/daemon.md, "State table"). */
typedef enum {
    ST_STARTING,    /* spool, lock, model: before the loop */
    ST_IDLE,        /* nothing on the worker */
    ST_PROCESSING,  /* a job on the worker */
    ST_DRAINING,    /* a stop signal came while a job ran: waiting for it to finish or cancel */
    ST_STOPPED,     /* the loop ends */
    ST_COUNT
} dstate;

typedef enum { EV_SIGNAL, EV_HUP, EV_SPOOL, EV_WORKER_DONE, EV_IDLE, EV_MODEL, EV_COUNT } devent;

/* A request on the worker: the top-level job, or an interactive one nested in a paused
 * batch job (docs/daemon.md "Live requests"). */
typedef struct {
    ss_item *it;            /* NULL: the slot is free */
    ss_job *j;
    int pfd;                /* its partial file (stream), -1 if none */
    char cancelled_by[SS_ID_MAX + 1];   /* the cancel request that withdrew it, "" if none */
} slot;

/* Pending requests of one class, FIFO by receipt. */
typedef struct { ss_item *head, *tail; } queue;

typedef struct {
    const ss_daemon_opts *o;
    ss_paths paths;
    ss_spool sp;
    ss_log log;
    int ifd, wd, sfd;
    int wd_root;            /* the root, for removal of our directories (T5) */
    int wd_work;            /* the work directory, for removal of the lock file alone: a
                             * second daemon could start on the spool until the next look
                             * (the 10 s rescan) took the lock again */
    int poll_mode;
    ss_worker w;
    const char *device;
    sp_device_info devinfo;   /* GPU name, memory, fallback reason: for the status file */
    char model_size[32];
    int model_loaded;
    /* queues (interactive before batch, FIFO within each) and the jobs on the worker */
    queue q[2];             /* indexed by ss_priority */
    long n_pending;
    slot run;               /* the top-level job */
    slot nest;              /* an interactive job run inside the paused batch one */
    struct retry *retries;  /* responses waiting for a condition that can clear (T21) */
    long n_retries;
    char degraded_buf[160];
    char spool_err[512];    /* the spool check's failure last logged ("" while it is fine) */
    /* times */
    double started_wall, last_activity_wall, last_activity_mono;
    double next_status, next_rescan, next_gc;
    int status_dirty;
    const char *status_state;   /* state of the last status written */
    double status_written;      /* monotonic time of the last status write */
    dstate state;           /* see the state table below */
    const char *last_signal;    /* "TERM" or "INT", for the log */
    int claimed;            /* requests were queued since the loop last looked (EV_SPOOL) */
    int marker_present;
    long processed, failed;
    const char *degraded;
    int model_stop;         /* the model file changed: no job starts, the daemon stops (113) */
    int model_gone_said;    /* its path's removal was logged */
    double next_model_check;
} daemon_t;

/* The status file's "state" (session-api.md): draining and stopped both read "stopping"
 * while the daemon is still up. */
static const char *state_of(const daemon_t *d, int active)
{
    if (!active) return "stopped";
    switch (d->state) {
    case ST_STARTING: return "starting";
    case ST_IDLE: return "idle";
    case ST_PROCESSING: return "processing";
    default: return "stopping";
    }
}

static void restore_files(daemon_t *d);

static void write_status(daemon_t *d, int active)
{
    ss_status s = {
        .active = active,
        .model_loaded = d->model_loaded && active,
        .processing = active && d->run.it != NULL,
        .device = d->device,
        .model_size = d->model_size[0] ? d->model_size : NULL,
        .state = state_of(d, active),
        .last_activity = d->last_activity_wall,
        .session_timeout = d->o->timeout,
        .timestamp = ss_wall_now(),
        .started = d->started_wall,
        .pid = (long)getpid(),
        .pending = d->n_pending + (d->run.it ? 1 : 0) + (d->nest.it ? 1 : 0),
        .processed = d->processed,
        .failed = d->failed,
        .degraded = d->degraded,
        .device_name = d->devinfo.name[0] ? d->devinfo.name : NULL,
        .device_fallback = d->devinfo.fallback[0] ? d->devinfo.fallback : NULL,
        .gpu_memory_used = (double)d->devinfo.mem_used,
        .gpu_memory_total = (double)d->devinfo.mem_total,
    };
    char *js = ss_status_json(&s);
    if (!js) return;
    if (ss_write_atomic(d->sp.rootfd, SS_STATUS_FILE, js, strlen(js), 0) != 0)
        ss_log_msg(&d->log, "ERROR", "cannot write status file %s: %s (squatted?)",
                   d->paths.status, strerror(errno));
    free(js);
    if (active) restore_files(d);
    d->status_dirty = 0;
    d->status_state = s.state;
    d->status_written = ss_mono_now();
    d->next_status = d->status_written + STATUS_REFRESH_S;
}

/* flags: ss_write_atomic's (SS_WA_NOREPLACE: only where none is, EEXIST otherwise) */
static int write_marker_ex(daemon_t *d, int flags)
{
    char *js = ss_marker_json(d->started_wall, (long)getpid());
    int r = js ? ss_write_atomic(d->sp.rootfd, SS_MARKER_FILE, js, strlen(js), flags) : -1;
    int e = r == 0 ? 0 : js ? errno : ENOMEM;
    if (r != 0 && e != EEXIST)
        ss_log_msg(&d->log, "ERROR", "cannot write session marker %s: %s", d->paths.marker,
                   strerror(e));
    free(js);
    d->marker_present = r == 0 || e == EEXIST;
    return r;
}

static int write_marker(daemon_t *d) { return write_marker_ex(d, 0); }

static int write_pidfile(daemon_t *d, int flags)
{
    char pidbuf[32];
    int pl = snprintf(pidbuf, sizeof pidbuf, "%ld\n", (long)getpid());
    int r = ss_write_atomic(d->sp.rootfd, SS_PID_FILE, pidbuf, (size_t)pl, flags);
    if (r != 0 && errno != EEXIST)
        ss_log_msg(&d->log, "ERROR", "cannot write pid file %s: %s", d->paths.pid, strerror(errno));
    return r;
}

static int missing(daemon_t *d, const char *name)
{
    struct stat st;
    return fstatat(d->sp.rootfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

/* T24: clients may delete our files. The marker and the pid file, once deleted, had stayed
 * gone for the daemon's life: they are put back at each status write (every state change,
 * at least every 15 s), only where missing and never over one that appeared meanwhile
 * (NOREPLACE). Only while serving: not starting (T25: they come after recovery), not
 * stopping, not in the idle exit's last look (the marker is gone on purpose, marker_present
 * 0), and not once another daemon holds the lock (they are its files). */
static void restore_files(daemon_t *d)
{
    if (d->sp.lock_lost || (d->state != ST_IDLE && d->state != ST_PROCESSING)) return;
    if (d->marker_present && missing(d, SS_MARKER_FILE) && write_marker_ex(d, SS_WA_NOREPLACE) == 0)
        ss_log_msg(&d->log, "WARN", "session marker %s was deleted: written again", d->paths.marker);
    if (missing(d, SS_PID_FILE) && write_pidfile(d, SS_WA_NOREPLACE) == 0)
        ss_log_msg(&d->log, "WARN", "pid file %s was deleted: written again", d->paths.pid);
}

static void remove_ours(daemon_t *d, const char *name);

/* What every stop leaves for clients: marker gone first (T22), status "active": false /
 * "stopped", pid file gone. Not when another daemon took the lock: they are its files. */
static void announce_stop(daemon_t *d)
{
    if (d->sp.lock_lost) return;
    d->model_loaded = 0;
    remove_ours(d, SS_MARKER_FILE);
    write_status(d, 0);
    remove_ours(d, SS_PID_FILE);
}

static void remove_ours(daemon_t *d, const char *name)
{
    /* Remove a fixed-name file only if it is ours and a regular file (T24: clients may
     * have deleted or replaced it). */
    struct stat st;
    if (fstatat(d->sp.rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        st.st_uid == geteuid())
        unlinkat(d->sp.rootfd, name, 0);
}

#define CLEAN_DOTS_ONLY 1   /* only dot-names (temps of atomic writers) */
#define CLEAN_DIRS 2        /* also empty directories (private quarantine/ only) */
#define CLEAN_KEEP_PARTIAL 4   /* not partial files: the daemon removes its own */
static void clean_dir(int dirfd, double max_age, int flags)
{
    int fd = dup(dirfd);
    if (fd < 0) return;
    DIR *dir = fdopendir(fd);
    if (!dir) { close(fd); return; }
    rewinddir(dir);
    double now = ss_wall_now();
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if ((flags & CLEAN_DOTS_ONLY) && de->d_name[0] != '.') continue;
        if ((flags & CLEAN_KEEP_PARTIAL) && ss_partial_name(de->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        int isdir = S_ISDIR(st.st_mode);
        if (isdir && !(flags & CLEAN_DIRS)) continue;
        if (now - ((double)st.st_mtim.tv_sec) >= max_age)
            unlinkat(dirfd, de->d_name, isdir ? AT_REMOVEDIR : 0);
    }
    closedir(dir);
}

/* Unread responses, dead clients' temps and old quarantine entries, on a timer: a daemon
 * that runs for weeks must not keep rejected requests forever. The period follows the
 * shortest age limit (so a short limit is honoured promptly), between 0.5 s and a minute. */
static void collect_garbage(daemon_t *d, double now)
{
    const ss_daemon_opts *o = d->o;
    clean_dir(d->sp.respfd, o->response_gc_s, CLEAN_KEEP_PARTIAL);
    clean_dir(d->sp.reqfd, 3600, CLEAN_DOTS_ONLY);
    clean_dir(d->sp.quarfd, o->quarantine_max_age, CLEAN_DIRS);
    double period = fmin(o->response_gc_s, o->quarantine_max_age) / 2;
    d->next_gc = now + fmax(0.5, fmin(period, RESP_GC_EVERY_S));
}

/* ------------------------------------------------------------------ delivery */


static void set_degraded(daemon_t *d, int e)
{
    snprintf(d->degraded_buf, sizeof d->degraded_buf, "cannot write responses: %s",
             strerror(e));
    d->degraded = d->degraded_buf;
    d->status_dirty = 1;
}

static void clear_degraded_if_done(daemon_t *d)
{
    if (!d->retries && d->degraded == d->degraded_buf) {
        d->degraded = NULL;
        d->status_dirty = 1;
    }
}

/* The response to it cannot ever be written: quarantine the request so that it is neither
 * retried now nor recovered at the next start, and move on. */
static void give_up(daemon_t *d, ss_item *it, int e)
{
    if (ss_spool_discard(&d->sp, it) != 0 && errno != ENOENT)
        ss_log_msg(&d->log, "ERROR", "cannot quarantine id=%s: %s", it->req.id,
                   strerror(errno));
    ss_log_msg(&d->log, "ERROR", "cannot write response id=%s: %s; this cannot clear by "
               "itself: request quarantined, not retried", it->req.id, strerror(e));
    ss_item_free(it);
}

/* Publishes js as the response to it and frees both (ownership passes here). Returns 0 when
 * written, 1 when queued for retry, -1 when given up (quarantined or left for the next
 * start). flags: extra ss_write_atomic flags. */
static int deliver(daemon_t *d, ss_item *it, char *js, int flags)
{
    if (!js) {   /* no memory for the document: the request stays for the next start */
        ss_log_msg(&d->log, "ERROR", "cannot answer id=%s: out of memory (left for the next "
                   "start)", it->req.id);
        ss_item_free(it);
        return -1;
    }
    if (ss_spool_finish_ex(&d->sp, it, js, flags) == 0) {
        free(js);
        ss_item_free(it);
        return 0;
    }
    int e = errno;
    /* an error that cannot clear (a directory or a foreign file squatting the response name,
     * permissions, a read-only directory, a vanished one the spool could not recreate) fails
     * the same way forever: retrying would hold
     * the request, and its memory, for nothing */
    if (!ss_write_error_clears(e)) {
        free(js);
        give_up(d, it, e);
        return -1;
    }
    set_degraded(d, e);
    if (d->n_retries >= RETRY_MAX) {
        ss_log_msg(&d->log, "ERROR", "cannot write response id=%s: %s; too many waiting "
                   "(left in processing/ for the next start)", it->req.id, strerror(e));
        free(js);
        ss_item_free(it);
        return -1;
    }
    retry *r = calloc(1, sizeof *r);
    if (!r) {
        free(js);
        ss_item_free(it);
        return -1;
    }
    ss_log_msg(&d->log, "ERROR", "cannot write response id=%s: %s; will retry", it->req.id,
               strerror(e));
    r->it = it;
    r->json = js;
    r->backoff = 0.1;
    r->at = ss_mono_now() + r->backoff;
    r->next = d->retries;
    d->retries = r;
    d->n_retries++;
    return 1;
}

/* Retries the responses whose time has come; each failure doubles its own backoff. */
static void run_retries(daemon_t *d, double now)
{
    for (retry **pp = &d->retries; *pp;) {
        retry *r = *pp;
        if (r->at > now) { pp = &r->next; continue; }
        int ok = ss_spool_finish(&d->sp, r->it, r->json) == 0;
        int e = errno;
        if (!ok && ss_write_error_clears(e)) {
            r->backoff = fmin(r->backoff * 2, RETRY_BACKOFF_MAX_S);
            r->at = now + r->backoff;
            set_degraded(d, e);
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        d->n_retries--;
        if (ok) {
            ss_log_msg(&d->log, "INFO", "response id=%s written after retry", r->it->req.id);
            ss_item_free(r->it);
        } else {
            give_up(d, r->it, e);
        }
        free(r->json);
        free(r);
        d->status_dirty = 1;
    }
    clear_degraded_if_done(d);
}

static double next_retry(const daemon_t *d)
{
    double t = 0;
    for (const retry *r = d->retries; r; r = r->next)
        if (t == 0 || r->at < t) t = r->at;
    return t;
}

static void free_retries(daemon_t *d)
{
    while (d->retries) {   /* still in processing/: recovered at the next start */
        retry *r = d->retries;
        d->retries = r->next;
        ss_item_free(r->it);
        free(r->json);
        free(r);
    }
    d->n_retries = 0;
}

/* A second request with the id of one still queued or in flight. Answering it in place would
 * replace the first one's response (or be replaced by it), so it is answered only where no
 * response stands (never replacing one), and quarantined otherwise. */
static void answer_duplicate(daemon_t *d, ss_item *it)
{
    d->failed++;
    if (ss_spool_in_flight(&d->sp, it->req.id)) {   /* the first is still unanswered */
        ss_log_msg(&d->log, "WARN", "duplicate id=%s: the first request with this id is not "
                   "answered yet; the second was quarantined", it->req.id);
        ss_spool_discard(&d->sp, it);
        ss_item_free(it);
        return;
    }
    char *js = ss_response_json(it->req.id, NULL, 0, d->device, d->model_loaded,
                                "Another request with this id was already queued or in "
                                "progress; request ids must be unique", SS_E_DUPLICATE,
                                ss_wall_now());
    if (!js) {
        deliver(d, it, NULL, 0);   /* out of memory: left for the next start */
        return;
    }
    if (ss_spool_finish_ex(&d->sp, it, js, SS_WA_NOREPLACE) == 0) {
        ss_log_msg(&d->log, "WARN", "duplicate id=%s answered duplicate_id", it->req.id);
    } else {
        /* EEXIST: the first one's response is unread and must stay. Any other failure: a
         * duplicate's answer is not worth a retry that could land on a later response. */
        char why[120];
        snprintf(why, sizeof why, "%s", errno == EEXIST ? "the first request's response is "
                 "still unread (kept)" : strerror(errno));
        ss_log_msg(&d->log, "WARN", "duplicate id=%s: %s; the second was quarantined",
                   it->req.id, why);
        ss_spool_discard(&d->sp, it);
    }
    ss_item_free(it);
    free(js);
}

/* ------------------------------------------------------------------ queue */

static void queue_push(daemon_t *d, ss_item *it)
{
    queue *q = &d->q[it->req.priority == SS_PRIO_BATCH ? SS_PRIO_BATCH : SS_PRIO_INTERACTIVE];
    it->next = NULL;
    if (q->tail) q->tail->next = it; else q->head = it;
    q->tail = it;
    d->n_pending++;
    d->status_dirty = 1;
}

/* Unlinks it (after prev, NULL for the head) from q. */
static void queue_unlink(daemon_t *d, queue *q, ss_item *prev, ss_item *it)
{
    if (prev) prev->next = it->next; else q->head = it->next;
    if (q->tail == it) q->tail = prev;
    it->next = NULL;
    d->n_pending--;
    d->status_dirty = 1;
}

static int queues_empty(const daemon_t *d)
{
    return !d->q[SS_PRIO_INTERACTIVE].head && !d->q[SS_PRIO_BATCH].head;
}

/* The pending request with this id (not a duplicate twin, which is never run), taken out
 * of its queue; NULL if none. */
static ss_item *queue_take_id(daemon_t *d, const char *id)
{
    for (int c = 0; c < 2; c++)
        for (ss_item *prev = NULL, *it = d->q[c].head; it; prev = it, it = it->next)
            if (!it->duplicate && !strcmp(it->req.id, id)) {
                queue_unlink(d, &d->q[c], prev, it);
                return it;
            }
    return NULL;
}

/* A running batch job parks at its next window boundary while an interactive request
 * waits (docs/daemon.md "Live requests"). */
static void update_yield(daemon_t *d)
{
    ss_worker_want_yield(&d->w, d->run.it && d->run.j->batch && d->state != ST_DRAINING &&
                         d->q[SS_PRIO_INTERACTIVE].head != NULL);
}

static void handle_cancel(daemon_t *d, ss_item *c);
static void answer_now(daemon_t *d, ss_item *it, const char *code, const char *msg);

/* waiting since before --request-ttl: its client has likely given up */
static int expired(const daemon_t *d, const ss_item *it)
{
    return d->o->request_ttl > 0 && ss_mono_now() - it->receipt > d->o->request_ttl;
}
#define EXPIRED_MSG "Request expired before processing (client gone?)"

/* Pings and cancels are answered at once (cancels after the others of the same batch, so a
 * request and its cancel read together find each other), transcriptions are queued. */
static void enqueue_list(daemon_t *d, ss_item *list)
{
    ss_item *cancels = NULL, **ctail = &cancels;
    while (list) {
        ss_item *it = list;
        list = list->next;
        it->next = NULL;
        char *js = NULL;
        if (it->duplicate && it->req.type != SS_REQ_TRANSCRIBE) {
            answer_duplicate(d, it);
            continue;
        } else if (it->req.type == SS_REQ_CANCEL) {
            *ctail = it;
            ctail = &it->next;
            continue;
        } else if (it->req.type == SS_REQ_PING) {
            js = ss_pong_json(it->req.id, d->device, d->model_loaded, ss_wall_now());
        } else if (expired(d, it)) {   /* answered now: it must not take a pending slot
                                         * from a fresh request (they had made it "busy") */
            answer_now(d, it, SS_E_EXPIRED, EXPIRED_MSG);
            continue;
        } else if (d->n_pending >= d->o->max_pending) {
            js = ss_response_json(it->req.id, NULL, 0, d->device, d->model_loaded,
                                  "Daemon busy: too many pending requests", SS_E_BUSY,
                                  ss_wall_now());
            d->failed++;
        } else {
            queue_push(d, it);
            continue;
        }
        char id[SS_ID_MAX + 1];
        const char *what = it->req.type == SS_REQ_PING ? "pong" : "busy";
        memcpy(id, it->req.id, sizeof id);
        if (deliver(d, it, js, 0) == 0) ss_log_msg(&d->log, "INFO", "%s id=%s", what, id);
        d->last_activity_mono = ss_mono_now();
    }
    while (cancels) {
        ss_item *c = cancels;
        cancels = c->next;
        c->next = NULL;
        handle_cancel(d, c);
    }
    update_yield(d);
}

static void add_claimed(daemon_t *d, ss_item *list)
{
    if (!list) return;
    d->last_activity_mono = ss_mono_now();
    d->claimed = 1;
    enqueue_list(d, list);
}

static const char SPOOL_UNUSABLE[] = "spool directory unusable";

/* (Re)watches the work directory for its lock file's removal: the lock is taken again at
 * once (ss_spool_check), not at the next rescan 10 s later while a second daemon could
 * start on the lockless spool. Without the watch the rescan still does it. */
static void watch_work(daemon_t *d)
{
    if (d->ifd < 0 || d->wd < 0) return;
    if (d->wd_work >= 0) inotify_rm_watch(d->ifd, d->wd_work);
    d->wd_work = inotify_add_watch(d->ifd, d->paths.work_dir, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR |
                                   IN_DONT_FOLLOW | IN_EXCL_UNLINK);
}

static void rescan(daemon_t *d)
{
    double now = ss_mono_now();
    char err[512];
    int ch = ss_spool_check(&d->sp, err, sizeof err);
    if (ch >= 0 && d->sp.reopened) ch = 1;   /* recreated meanwhile (a claim, a response) */
    d->sp.reopened = 0;
    if (d->sp.lock_lost) {   /* the loop stops: see lock_lost() */
        d->next_rescan = now + RESCAN_S;
        return;
    }
    if (ch < 0) {
        /* logged when it starts or changes, not at every look (0.2 s in polling mode: the
         * log had grown by five lines a second for as long as the directory was squatted) */
        if (strcmp(err, d->spool_err) != 0)
            ss_log_msg(&d->log, "ERROR", "spool check failed: %s (logged again only if this changes)", err);
        snprintf(d->spool_err, sizeof d->spool_err, "%s", err);
        d->degraded = SPOOL_UNUSABLE;
    } else if (ch == 0 && d->spool_err[0]) {   /* usable again without a re-creation */
        ss_log_msg(&d->log, "INFO", "spool directory usable again");
        d->spool_err[0] = 0;
        if (d->degraded == SPOOL_UNUSABLE) d->degraded = NULL;
    } else if (ch > 0) {
        d->spool_err[0] = 0;
        ss_log_msg(&d->log, "WARN", "spool directory was removed or replaced: recreated");
        if (d->ifd >= 0) {
            if (d->wd >= 0) inotify_rm_watch(d->ifd, d->wd);
            d->wd = inotify_add_watch(d->ifd, d->paths.req_dir, REQ_WATCH_MASK);
            if (d->wd < 0) d->poll_mode = 1;
        }
        if (d->degraded == SPOOL_UNUSABLE) d->degraded = NULL;
    }
    if (ch > 0 || (ch == 0 && d->wd_work < 0)) watch_work(d);   /* a new work directory, or its watch lost */
    ss_item *list = NULL;
    if (ss_spool_scan(&d->sp, now, ss_wall_now(), &list) < 0)
        ss_log_msg(&d->log, "ERROR", "cannot list %s: %s", d->paths.req_dir, strerror(errno));
    add_claimed(d, list);
    d->next_rescan = now + (d->poll_mode ? POLL_MODE_RESCAN_S : RESCAN_S);
}

static void answer_now(daemon_t *d, ss_item *it, const char *code, const char *msg)
{
    char *js = ss_response_json(it->req.id, NULL, 0, d->device, d->model_loaded, msg, code,
                                ss_wall_now());
    char id[SS_ID_MAX + 1];
    memcpy(id, it->req.id, sizeof id);
    if (deliver(d, it, js, 0) == 0) ss_log_msg(&d->log, "INFO", "answered id=%s code=%s", id, code);
    d->failed++;
}

static void answer_cancelled(daemon_t *d, ss_item *it, const char *by)
{
    char msg[SS_ID_MAX + 32];
    snprintf(msg, sizeof msg, "cancelled by request %s", by);
    answer_now(d, it, SS_E_CANCELLED, msg);
}

/* Takes the next request of class prio (any class, interactive first, when prio < 0) that
 * can start, answering the expired and duplicate ones on the way: begun, its job made and
 * its partial file open in *sl. Returns 0, or -1 when there is none. */
static int next_job(daemon_t *d, int prio, slot *sl)
{
    for (;;) {
        int c = prio >= 0 ? prio : d->q[SS_PRIO_INTERACTIVE].head ? SS_PRIO_INTERACTIVE : SS_PRIO_BATCH;
        ss_item *it = d->q[c].head;
        if (!it) return -1;
        queue_unlink(d, &d->q[c], NULL, it);
        if (expired(d, it)) {
            answer_now(d, it, SS_E_EXPIRED, EXPIRED_MSG);
            continue;
        }
        if (it->duplicate) {   /* its twin has been answered by now (FIFO) */
            answer_duplicate(d, it);
            continue;
        }
        if (ss_spool_begin(&d->sp, it) != 0) {
            if (errno == ENOENT) {   /* T5: its file went with a removed processing/ */
                ss_log_msg(&d->log, "WARN", "id=%s: its file in processing/ is gone (the work "
                           "directory was removed); run without it: a crash now loses it",
                           it->req.id);
                it->attempts++;
            } else {
                ss_log_msg(&d->log, "ERROR", "cannot mark id=%s as started: %s (dropped from "
                           "the queue; it stays in processing/ for the next start)", it->req.id,
                           strerror(errno));
                ss_item_free(it);
                continue;
            }
        }
        ss_job *j = ss_job_new(&it->req, d->o->max_audio_seconds, d->o->max_audio_bytes);
        if (!j) {
            ss_spool_unbegin(&d->sp, it);
            answer_now(d, it, SS_E_INTERNAL, "out of memory");
            continue;
        }
        memset(sl, 0, sizeof *sl);
        sl->it = it;
        sl->j = j;
        sl->pfd = -1;
        if (it->req.stream && (sl->pfd = ss_partial_open(d->sp.respfd, it->req.id)) < 0)
            ss_log_msg(&d->log, "WARN", "id=%s: cannot create its partial file: %s (the final "
                       "response only)", it->req.id, strerror(errno));
        return 0;
    }
}

/* Audit finding 2: the weights are views into a private mapping of the model file, which
 * does not protect pages the kernel never copied. A file rewritten in place (cp's O_TRUNC, an
 * editor, a download tool) shows its new bytes to the next request — other weights, or SIGBUS
 * past a shorter end, which killed the daemon and counted as a crash of the request. A file
 * replaced by rename is safe to keep serving, but it is a new model the user wants. Either
 * way the daemon stops serving (SS_EXIT_MODEL_CHANGED), leaving its requests in processing/
 * for the next start, which loads the file as it is then (clients start one on demand,
 * systemd's Restart=on-failure restarts it). Asked before each job and every second while
 * one runs (a running job is cancelled: put back, not counted as an attempt). Removal alone
 * does not stop it: the mapping keeps the old file, and there would be nothing to restart
 * with. Returns 1 when the daemon must stop. */
static int model_check(daemon_t *d)
{
    if (d->model_stop) return 1;
    if (!d->w.ctx) return 0;
    char why[600];
    sp_model_file_state fs = sp_context_model_file(d->w.ctx, why, sizeof why);
    if (fs == SP_MODEL_FILE_SAME) return 0;
    if (fs == SP_MODEL_FILE_GONE) {
        if (!d->model_gone_said)
            ss_log_msg(&d->log, "WARN", "%s: still serving the model loaded (it stays mapped); a "
                       "new file there is loaded by the next start", why);
        d->model_gone_said = 1;
        return 0;
    }
    ss_log_msg(&d->log, "ERROR", "SESSION model changed: %s; stops serving (exit %d) so that the "
               "next start loads the new file; %s%s", why, SS_EXIT_MODEL_CHANGED,
               fs == SP_MODEL_FILE_REWRITTEN ? "replace model files by rename (scripts/get-model.sh "
               "does), an in-place copy can be read half-written; " : "",
               d->run.it ? "the running request is put back for it" : "queued requests stay for it");
    d->model_stop = 1;
    d->status_dirty = 1;
    return 1;
}

static void dispatch(daemon_t *d)
{
    if (d->run.it || d->state == ST_DRAINING || d->state == ST_STOPPED || d->sp.lock_lost) return;
    if (!queues_empty(d) && model_check(d)) return;   /* settle() stops the daemon */
    if (next_job(d, -1, &d->run) == 0) ss_worker_submit(&d->w, d->run.j);
    update_yield(d);
}

/* The segments the worker published since the last look go to the partial file. */
static void flush_partial(daemon_t *d, slot *sl)
{
    size_t len;
    char *lines = ss_worker_take_lines(&d->w, sl->j, &len);
    if (lines && sl->pfd >= 0 && ss_partial_append(sl->pfd, lines, len) != 0) {
        ss_log_msg(&d->log, "WARN", "id=%s: cannot append to its partial file: %s (the rest "
                   "is in the final response)", sl->it->req.id, strerror(errno));
        close(sl->pfd);
        sl->pfd = -1;
    }
    free(lines);
}

/* The response document of a finished job (segments, with words when asked). */
static char *response_of(daemon_t *d, const ss_item *it, const ss_job *j, double wall)
{
    if (j->code)
        return ss_response_json(it->req.id, NULL, 0, d->device, d->model_loaded, j->err,
                                j->code, wall);
    char warn[sizeof SS_WARN_TRUNCATED + 200];   /* "warning": each thing to say, "; " between */
    snprintf(warn, sizeof warn, "%s%s%s%s%s", j->truncated ? SS_WARN_TRUNCATED : "",
             j->truncated && j->ignored[0] ? "; " : "",
             j->ignored[0] ? "the model is English-only: " : "", j->ignored,
             j->ignored[0] ? " ignored, English transcribed" : "");
    ss_result_doc r = {
        .results = (const char *const *)j->texts, .n_results = j->n_texts,
        .starts = j->starts, .ends = j->ends,
        .words = j->words ? (const sp_word *const *)j->words : NULL, .n_words = j->n_words,
        .decode = j->decode, .language = j->language, .duration = j->audio_s,
        .warning = warn[0] ? warn : NULL,
    };
    return ss_response_json_doc(it->req.id, &r, d->device, d->model_loaded, NULL, NULL, wall);
}

static void log_outcome(daemon_t *d, const ss_item *it, const ss_job *j)
{
    char af[300];
    ss_escape(af, sizeof af, it->req.audio_file);
    if (j->code) {
        char em[400];
        ss_escape(em, sizeof em, j->err);
        ss_log_msg(&d->log, "WARN", "SESSION error id=%s code=%s error=\"%s\"", it->req.id,
                   j->code, em);
        d->failed++;
        return;
    }
    size_t chars = 0;
    for (int i = 0; i < j->n_texts; i++) chars += strlen(j->texts[i]);
    ss_log_msg(&d->log, "INFO",
               "SESSION transcription id=%s audio=\"%s\" audio_seconds=%.3f "
               "processing_ms=%.1f rtf=%.4f segments=%d chars=%zu%s%s yields=%d yield_ms=%.1f",
               it->req.id, af, j->audio_s, j->proc_ms,
               j->audio_s > 0 ? j->proc_ms / 1000.0 / j->audio_s : 0.0, j->n_texts, chars,
               j->batch ? " priority=batch" : "", j->truncated ? " truncated=1" : "", j->yields,
               j->yield_ms);
    d->processed++;
}

/* A job of slot sl is done: answer it (or put it back, when shutdown stopped it), then the
 * partial file goes (after the final response is in place). The slot is freed. */
static void finish_slot(daemon_t *d, slot *sl)
{
    flush_partial(d, sl);
    slot s = *sl;
    memset(sl, 0, sizeof *sl);
    sl->pfd = -1;
    d->status_dirty = 1;
    char id[SS_ID_MAX + 1];
    memcpy(id, s.it->req.id, sizeof id);
    if (s.cancelled_by[0]) {   /* withdrawn: answered so, whatever the worker got to */
        ss_partial_remove(d->sp.respfd, s.pfd, id);
        answer_cancelled(d, s.it, s.cancelled_by);
    } else if (s.j->cancelled) {   /* shutdown: left for the next start, not a crash */
        ss_partial_remove(d->sp.respfd, s.pfd, id);
        ss_spool_unbegin(&d->sp, s.it);
        ss_log_msg(&d->log, "INFO", "id=%s cancelled by shutdown; left for the next start", id);
        ss_item_free(s.it);
    } else {
        if (s.j->dev.device && strcmp(s.j->dev.device, d->device)) {   /* GPU failed: CPU now */
            ss_log_msg(&d->log, "WARN", "SESSION device=%s fallback=\"%s\"", s.j->dev.device,
                       s.j->dev.fallback);
            d->device = s.j->dev.device;
            d->sp.device = d->device;
            d->devinfo = s.j->dev;
        }
        double wall = ss_wall_now();
        char *js = response_of(d, s.it, s.j, wall);
        log_outcome(d, s.it, s.j);
        d->last_activity_wall = wall;
        d->last_activity_mono = ss_mono_now();
        deliver(d, s.it, js, 0);
        ss_partial_remove(d->sp.respfd, s.pfd, id);   /* after the rename: readers see both */
    }
    ss_job_free(s.j);
}

/* What the worker reported: published segments, a finished nested job, a paused batch job
 * (give it the next interactive request, or let it go on), the top job done. Returns 1
 * when the top-level job was finished. */
static int worker_events(daemon_t *d)
{
    ss_wk_events ev;
    ss_worker_events(&d->w, &ev);
    if (d->nest.it) flush_partial(d, &d->nest);
    if (d->run.it) flush_partial(d, &d->run);
    if (ev.nested_done && d->nest.it && ev.nested_done == d->nest.j) finish_slot(d, &d->nest);
    if (ev.top_done && d->run.it) {
        finish_slot(d, &d->run);
        return 1;
    }
    if (ev.parked && d->run.it && !d->nest.it) {
        if (d->state == ST_PROCESSING && !model_check(d) && next_job(d, SS_PRIO_INTERACTIVE, &d->nest) == 0) {
            ss_log_msg(&d->log, "INFO", "SESSION yield id=%s to id=%s", d->run.it->req.id,
                       d->nest.it->req.id);
            ss_worker_run_nested(&d->w, d->nest.j);
        } else {
            ss_worker_want_yield(&d->w, 0);
            ss_worker_resume(&d->w);
        }
    }
    update_yield(d);
    return 0;
}

/* ------------------------------------------------------------------ cancel requests */

/* Withdraws target: a pending one is answered now, a running one is stopped (and answered
 * when the worker lets go of it). Returns "pending", "running" or NULL (unknown). */
static const char *cancel_target(daemon_t *d, const char *target, const char *by)
{
    ss_item *it = queue_take_id(d, target);
    if (it) {
        answer_cancelled(d, it, by);
        return "pending";
    }
    slot *sl = d->nest.it && !strcmp(d->nest.it->req.id, target) ? &d->nest
             : d->run.it && !strcmp(d->run.it->req.id, target) ? &d->run : NULL;
    if (!sl) return NULL;
    if (!sl->cancelled_by[0]) snprintf(sl->cancelled_by, sizeof sl->cancelled_by, "%s", by);
    ss_worker_cancel_job(&d->w, sl->j);
    return "running";
}

static void handle_cancel(daemon_t *d, ss_item *c)
{
    static int depth;   /* a cancel found by a cancel's ingest, and so on: bounded */
    const char *state = cancel_target(d, c->req.target, c->req.id);
    if (!state && depth < 4) {
        /* its request may be in the directory, not read yet (written just before) */
        char name[SS_ID_MAX + 8];
        ss_item *got = NULL;
        snprintf(name, sizeof name, "%s.json", c->req.target);
        if (ss_spool_ingest(&d->sp, name, ss_mono_now(), ss_wall_now(), &got) == SS_ING_CLAIMED) {
            depth++;
            enqueue_list(d, got);
            depth--;
            state = cancel_target(d, c->req.target, c->req.id);
        }
    }
    char *js = ss_cancel_json(c->req.id, c->req.target, state != NULL, state ? state : "unknown",
                              d->device, d->model_loaded, ss_wall_now());
    char id[SS_ID_MAX + 1], target[SS_ID_MAX + 1];
    memcpy(id, c->req.id, sizeof id);
    memcpy(target, c->req.target, sizeof target);
    if (deliver(d, c, js, 0) == 0)
        ss_log_msg(&d->log, "INFO", "cancel id=%s target=%s state=%s", id, target,
                   state ? state : "unknown");
    d->last_activity_mono = ss_mono_now();
}

static void read_inotify(daemon_t *d)
{
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
    int need_rescan = 0;
    ss_item *list = NULL, **tail = &list;
    double now = ss_mono_now(), wall = ss_wall_now();
    for (;;) {
        ssize_t r = read(d->ifd, buf, sizeof buf);
        if (r <= 0) break;
        for (char *p = buf; p < buf + r;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) { need_rescan = 1; continue; }
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                if (ev->wd == d->wd) d->wd = -1;
                if (ev->wd == d->wd_work) d->wd_work = -1;
                need_rescan = 1;
                continue;
            }
            if (ev->wd == d->wd_work) {   /* the lock file or a subdirectory removed or renamed away */
                if (ev->len && (!strcmp(ev->name, "lock") || !strcmp(ev->name, "processing") ||
                                !strcmp(ev->name, "quarantine") || !strcmp(ev->name, "tmp")))
                    need_rescan = 1;
                continue;
            }
            if (ev->len && ev->wd == d->wd_root && d->wd_root != d->wd) {
                if ((ev->mask & IN_ISDIR) && (!strcmp(ev->name, SS_REQ_DIR) ||
                    !strcmp(ev->name, SS_RESP_DIR) || !strcmp(ev->name, SS_WORK_DIR)))
                    need_rescan = 1;
                continue;
            }
            if (!ev->len || ev->wd != d->wd) continue;
            if ((ev->mask & IN_CREATE) && !(ev->mask & IN_ISDIR)) {
                /* empty regular files wait for their close; other kinds are dealt with now,
                 * and so are regular files that already have bytes: a hard link to a written
                 * file ("link + rm" writers) has no close here, and had waited for the 10 s
                 * rescan. A writer caught mid-file is tracked as young, as a rescan would. */
                struct stat st;
                if (fstatat(d->sp.reqfd, ev->name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    (S_ISREG(st.st_mode) && st.st_size == 0))
                    continue;
            }
            ss_item *it = NULL;
            if (ss_spool_ingest(&d->sp, ev->name, now, wall, &it) == SS_ING_CLAIMED) {
                *tail = it;
                tail = &it->next;
            }
        }
        if ((size_t)r < sizeof buf / 2) break;
    }
    add_claimed(d, list);
    if (need_rescan || d->wd < 0) {
        if (d->wd < 0) ss_spool_check(&d->sp, NULL, 0);   /* forces the re-watch below */
        if (d->wd < 0) {
            d->wd = inotify_add_watch(d->ifd, d->paths.req_dir, REQ_WATCH_MASK);
            if (d->wd < 0) {
                ss_log_msg(&d->log, "WARN", "cannot re-watch %s: %s; polling",
                           d->paths.req_dir, strerror(errno));
                d->poll_mode = 1;
            }
        }
        rescan(d);
    }
}

static int idle_now(const daemon_t *d)
{
    return !d->run.it && queues_empty(d) && !d->retries && d->sp.n_young == 0;
}

/* T22: the marker goes first, then one more look; resume if anything arrived. */
static int idle_exit_confirmed(daemon_t *d)
{
    remove_ours(d, SS_MARKER_FILE);
    d->marker_present = 0;
    if (d->ifd >= 0) read_inotify(d);
    rescan(d);
    if (idle_now(d)) return 1;
    ss_log_msg(&d->log, "INFO", "SESSION idle exit cancelled: a request arrived");
    write_marker(d);
    dispatch(d);
    return 0;
}

/* A fatal start-up error: logged, and said on stderr too (once: -v logs there already). A
 * daemon started by hand, or by --fork's parent, still has its starter's stderr until it is
 * ready; the reason for exit 112 or 100 had been in the log file alone. */
static void startup_error(daemon_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void startup_error(daemon_t *d, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ss_log_msg(&d->log, "ERROR", "%s", msg);
    if (!d->log.to_stderr) fprintf(stderr, "session_daemon: %s\n", msg);
}

static void load_model(daemon_t *d, int *rc)
{
    const ss_daemon_opts *o = d->o;
    char err[512] = "";
    sp_context_params cp = sp_context_default_params();
    cp.n_threads = o->threads;
    if (o->device) cp.device = o->device;
    if (o->compute) cp.compute = o->compute;
    double t0 = ss_mono_now();
    ss_crash_point("loading");
    sp_status s = sp_context_open(o->model, &cp, &d->w.ctx, err, sizeof err);
    if (s != SP_OK) {
        startup_error(d, "cannot load model %s: %s", o->model, err[0] ? err : sp_status_str(s));
        *rc = SS_EXIT_MODEL;
        return;
    }
    sp_model_info mi;
    memset(&mi, 0, sizeof mi);
    sp_context_info(d->w.ctx, &mi);
    snprintf(d->model_size, sizeof d->model_size, "%s", mi.size_name ? mi.size_name : "custom");
    d->device = sp_context_device(d->w.ctx);
    if (!d->device) d->device = "cpu";
    sp_context_device_info(d->w.ctx, &d->devinfo);
    if (d->devinfo.fallback[0])   /* a GPU was allowed but is not used: say why, once */
        ss_log_msg(&d->log, "WARN", "SESSION device=cpu fallback=\"%s\"", d->devinfo.fallback);
    else if (!strcmp(d->device, "cuda"))
        ss_log_msg(&d->log, "INFO", "SESSION gpu=\"%s\" gpu_memory_mb=%.0f", d->devinfo.name,
                   d->devinfo.mem_used / 1048576.0);
    d->model_loaded = 1;
    d->sp.session_active = 1;
    d->sp.device = d->device;
    ss_log_msg(&d->log, "INFO", "SESSION model loaded model=%s size=%s type=%s device=%s ms=%.1f",
               o->model, d->model_size, mi.type_name ? mi.type_name : "?", d->device,
               (ss_mono_now() - t0) * 1000.0);
    if (mi.n_tokens_restored > 0)   /* a whisper.cpp file: its vocabulary had lost these */
        ss_log_msg(&d->log, "INFO", "SESSION vocabulary restored_tokens=%d (byte fragments the ggml file stores as U+FFFD)",
                   mi.n_tokens_restored);
}

/* Fork mode: tell the waiting parent "ready" ('R') or the exit code; once. */
static int g_ready_fd = -1;
static void notify_ready(const ss_daemon_opts *o, int code)
{
    (void)o;
    if (g_ready_fd < 0) return;
    unsigned char c = code == 0 ? 'R' : (unsigned char)code;
    if (write(g_ready_fd, &c, 1) < 0) { /* the parent is gone: nothing to tell */ }
    close(g_ready_fd);
    g_ready_fd = -1;
    if (code == 0) {   /* detach from the starter's stderr only now (errors went there) */
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0) { dup2(nul, 2); close(nul); }
    }
}

/* ------------------------------------------------------------------ the state table
 *
 * The loop turns what poll reports into events and hands each to actions[state][event],
 * which does the work and returns the next state (an empty cell: nothing to do). Timers
 * (timers[] below) do the periodic work; only the idle timer is an event, because whether
 * the daemon may exit depends on its state.
 *
 *                 EV_SIGNAL        EV_HUP      EV_SPOOL      EV_WORKER_DONE   EV_IDLE
 *   idle          -> stopped       reopen log  start_next    -                idle_exit
 *   processing    drain            reopen log  -             finish_and_next  -
 *   draining      exit at once     reopen log  -             finish_and_stop  -
 * (starting: before the loop, no events; stopped: the loop ends.) */

static dstate settle(daemon_t *d)
{
    dispatch(d);
    if (d->run.it) return ST_PROCESSING;
    return d->model_stop ? ST_STOPPED : ST_IDLE;
}

static dstate ev_start_next(daemon_t *d) { return settle(d); }

static void log_shutdown(daemon_t *d, const char *sig)
{
    ss_log_msg(&d->log, "INFO", "SESSION shutdown signal=%s%s", sig,
               d->run.it ? " (finishing or cancelling the current request)" : "");
    d->status_dirty = 1;
}

static dstate ev_stop_now(daemon_t *d)
{
    log_shutdown(d, d->last_signal);
    return ST_STOPPED;
}

static dstate ev_drain(daemon_t *d)
{
    log_shutdown(d, d->last_signal);
    ss_worker_cancel(&d->w);
    return ST_DRAINING;
}

/* A second signal while draining: the current request stays in processing/ (recovered and
 * counted as an attempt at the next start). This runs on the loop thread (the signal came
 * through the signalfd, not a handler), so the stop is announced as every stop's is: the
 * status had been left "active": true, "stopping", with a dead pid. Nothing is joined: not
 * waiting is what a second signal asks for (the decoder child dies with us, PDEATHSIG). */
static dstate ev_exit_at_once(daemon_t *d)
{
    ss_log_msg(&d->log, "WARN", "second signal: exiting at once; id=%s stays in processing/",
               d->run.it ? d->run.it->req.id : "-");
    announce_stop(d);
    ss_log_msg(&d->log, "INFO", "SESSION stop rc=%d processed=%ld failed=%ld (at once)",
               SS_EXIT_OK, d->processed, d->failed);
    _exit(SS_EXIT_OK);
}

static dstate ev_reopen_log(daemon_t *d)
{
    char err[512];
    if (ss_log_reopen(&d->log, err, sizeof err) != 0)   /* the old file kept: said there */
        ss_log_msg(&d->log, "WARN", "log not reopened (SIGHUP): %s; still writing to the file "
                   "open before", err);
    else
        ss_log_msg(&d->log, "INFO", "log reopened (SIGHUP)");
    return d->state;
}

/* The model file changed while a job runs (model_check): it is cancelled — put back for
 * the next start, as at a stop signal — and the daemon stops once the worker lets go. */
static dstate ev_model_drain(daemon_t *d)
{
    ss_worker_cancel(&d->w);
    return ST_DRAINING;
}

static dstate ev_finish_and_next(daemon_t *d)
{
    if (!worker_events(d)) return d->model_stop && d->run.it ? ev_model_drain(d) : d->state;
    if (queues_empty(d)) rescan(d);   /* queue drained: the listing is the truth (T8) */
    return settle(d);
}

static dstate ev_finish_and_stop(daemon_t *d)
{
    return worker_events(d) ? ST_STOPPED : d->state;
}

static dstate ev_idle_exit(daemon_t *d)
{
    ss_log_msg(&d->log, "INFO", "SESSION idle for %g s: exiting", d->o->timeout);
    if (idle_exit_confirmed(d)) return ST_STOPPED;
    return settle(d);
}

typedef dstate (*action)(daemon_t *d);
static const action actions[ST_COUNT][EV_COUNT] = {
    [ST_IDLE] = { [EV_SIGNAL] = ev_stop_now, [EV_HUP] = ev_reopen_log,
                  [EV_SPOOL] = ev_start_next, [EV_IDLE] = ev_idle_exit },
    [ST_PROCESSING] = { [EV_SIGNAL] = ev_drain, [EV_HUP] = ev_reopen_log,
                        [EV_WORKER_DONE] = ev_finish_and_next, [EV_MODEL] = ev_model_drain },
    [ST_DRAINING] = { [EV_SIGNAL] = ev_exit_at_once, [EV_HUP] = ev_reopen_log,
                      [EV_WORKER_DONE] = ev_finish_and_stop },
};

static void handle(daemon_t *d, devent ev)
{
    action a = actions[d->state][ev];
    if (!a) return;
    dstate next = a(d);
    if (next != d->state) d->status_dirty = 1;
    d->state = next;
}

/* ------------------------------------------------------------------ timers
 * One small table (as redis' time events): each timer says when it is next due (0: not
 * armed) and in which states it runs; the loop sleeps until the nearest one. */

static double due_status(const daemon_t *d)
{
    /* At once when the state changes; counters and times at most every STATUS_COALESCE_S
     * during a burst (each write creates a file); at least every STATUS_REFRESH_S. */
    if (!d->status_dirty) return d->next_status;
    if (state_of(d, 1) != d->status_state) return d->status_written;
    return d->status_written + STATUS_COALESCE_S;
}
static void fire_status(daemon_t *d, double now) { (void)now; write_status(d, 1); }

static double due_rescan(const daemon_t *d) { return d->next_rescan; }
static void fire_rescan(daemon_t *d, double now) { (void)now; rescan(d); }

static double due_gc(const daemon_t *d) { return d->next_gc; }

static double due_young(const daemon_t *d) { return ss_spool_next_young(&d->sp); }
static void fire_young(daemon_t *d, double now)
{
    ss_item *list = NULL;
    ss_spool_poll_young(&d->sp, now, ss_wall_now(), &list);
    add_claimed(d, list);
}

static double due_retry(const daemon_t *d) { return next_retry(d); }

static double due_idle(const daemon_t *d)
{
    if (d->o->timeout <= 0 || !idle_now(d)) return 0;
    return d->last_activity_mono + d->o->timeout;
}
static void fire_idle(daemon_t *d, double now) { (void)now; handle(d, EV_IDLE); }

/* while a job runs, the model file is looked at every second (model_check); before a job
 * dispatch() looks itself */
static double due_model(const daemon_t *d) { return d->next_model_check; }
static void fire_model(daemon_t *d, double now)
{
    d->next_model_check = now + MODEL_CHECK_S;
    if (model_check(d)) handle(d, EV_MODEL);
}

#define IN_IDLE (1u << ST_IDLE)
#define IN_PROCESSING (1u << ST_PROCESSING)
#define IN_DRAINING (1u << ST_DRAINING)
static const struct {
    const char *name;
    unsigned states;
    double (*due)(const daemon_t *d);
    void (*fire)(daemon_t *d, double now);
} timers[] = {
    { "status", IN_IDLE | IN_PROCESSING | IN_DRAINING, due_status, fire_status },
    { "rescan", IN_IDLE | IN_PROCESSING, due_rescan, fire_rescan },
    { "gc", IN_IDLE | IN_PROCESSING, due_gc, collect_garbage },
    { "young", IN_IDLE | IN_PROCESSING, due_young, fire_young },
    { "retry", IN_IDLE | IN_PROCESSING, due_retry, run_retries },
    { "idle", IN_IDLE, due_idle, fire_idle },
    { "model", IN_PROCESSING, due_model, fire_model },
};
#define N_TIMERS (sizeof timers / sizeof timers[0])

static void run_timers(daemon_t *d, double now)
{
    for (size_t i = 0; i < N_TIMERS && d->state != ST_STOPPED && !d->sp.lock_lost; i++) {
        if (!(timers[i].states & (1u << d->state))) continue;
        double t = timers[i].due(d);
        if (t > 0 && t <= now) timers[i].fire(d, now);
    }
}

/* poll timeout in ms: until the nearest armed timer, at most a minute. */
static int nearest_timeout(const daemon_t *d, double now)
{
    double dl = now + 60.0;
    for (size_t i = 0; i < N_TIMERS; i++) {
        if (!(timers[i].states & (1u << d->state))) continue;
        double t = timers[i].due(d);
        if (t > 0 && t < dl) dl = t;
    }
    return dl <= now ? 0 : (int)ceil((dl - now) * 1000.0);
}

/* ------------------------------------------------------------------ the loop */

static void read_signals(daemon_t *d)
{
    struct signalfd_siginfo si;
    while (d->state != ST_STOPPED && read(d->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            handle(d, EV_HUP);
            continue;
        }
        d->last_signal = si.ssi_signo == SIGTERM ? "TERM" : "INT";
        handle(d, EV_SIGNAL);
    }
}

/* T5: the work directory was removed and, before this daemon could take the lock of the
 * recreated one, another daemon did (this one was stopped, or slow): that one is the daemon
 * clients see (F_GETLK) and whose marker, pid file and status stand. Two serving one spool
 * would claim each other's requests, so this one stops at once, touching none of those
 * files; its running and queued requests had lost their processing/ files with the
 * directory (their clients time out, or session_client resubmits). Exit 110, as a start
 * that finds the lock held. */
static int lock_lost(daemon_t *d)
{
    if (!d->sp.lock_lost) return 0;
    ss_log_msg(&d->log, "ERROR", "SESSION lock lost: the work directory was removed and "
               "another daemon (pid %ld) holds the lock of the new one; this daemon stops "
               "serving (its marker, pid file and status are the other's now)",
               d->sp.lock_lost);
    d->state = ST_STOPPED;
    return 1;
}

static int run_loop(daemon_t *d)
{
    for (;;) {
        double now = ss_mono_now();
        if (lock_lost(d)) return SS_EXIT_RUNNING;
        run_timers(d, now);
        if (lock_lost(d)) return SS_EXIT_RUNNING;
        if (d->claimed) { d->claimed = 0; handle(d, EV_SPOOL); }
        if (d->state == ST_STOPPED) return d->model_stop ? SS_EXIT_MODEL_CHANGED : SS_EXIT_OK;
        struct pollfd pf[3] = {
            { .fd = d->sfd, .events = POLLIN },
            { .fd = d->w.evfd, .events = POLLIN },
            { .fd = d->ifd, .events = POLLIN },
        };
        int r = poll(pf, d->ifd >= 0 ? 3 : 2, nearest_timeout(d, now));
        if (r < 0 && errno != EINTR) {
            ss_log_msg(&d->log, "ERROR", "poll: %s", strerror(errno));
            return SS_EXIT_SYSTEM;
        }
        if (r <= 0) continue;
        if (pf[0].revents & POLLIN) read_signals(d);
        if (pf[1].revents & POLLIN) handle(d, EV_WORKER_DONE);
        /* while draining nobody reads the directory: what arrives waits for the next start */
        if (d->ifd >= 0 && (pf[2].revents & POLLIN) && d->state != ST_DRAINING &&
            d->state != ST_STOPPED)
            read_inotify(d);
    }
}

/* ------------------------------------------------------------------ start and stop, by phase */

static void daemon_init(daemon_t *d, const ss_daemon_opts *o)
{
    memset(d, 0, sizeof *d);
    d->o = o;
    d->state = ST_STARTING;
    d->ifd = d->wd = d->sfd = d->wd_root = d->wd_work = -1;
    d->w.evfd = -1;
    d->run.pfd = d->nest.pfd = -1;
    ss_decoder_init(&d->w.dec, o->decoder_cpu_limit, o->decoder_timeout);
    d->device = "cpu";
    d->log.fd = -1;
}

/* Paths, spool directories, the single-instance lock and the log. Errors go to stderr (the
 * log may not exist yet). Returns 0 or an SS_EXIT_* code. */
static int open_spool(daemon_t *d)
{
    const ss_daemon_opts *o = d->o;
    char err[1024];
    if (ss_paths_init(&d->paths, err, sizeof err) != 0) {
        fprintf(stderr, "session_daemon: %s\n", err);
        return SS_EXIT_USAGE;
    }
    if (ss_spool_open(&d->sp, &d->paths, err, sizeof err) != 0) {
        fprintf(stderr, "session_daemon: %s\n", err);
        return SS_EXIT_SYSTEM;
    }
    d->sp.fsync_responses = o->fsync_responses;
    pid_t holder = 0;
    if (ss_spool_take_lock(&d->sp, &holder) != 0) {
        int e = errno;
        if (e == EAGAIN)
            fprintf(stderr, "session_daemon: another daemon (pid %ld) is running under %s\n",
                    (long)holder, d->paths.root);
        else
            fprintf(stderr, "session_daemon: cannot lock %s/lock: %s\n", d->paths.work_dir,
                    strerror(e));
        ss_spool_close(&d->sp);
        return e == EAGAIN ? SS_EXIT_RUNNING : SS_EXIT_SYSTEM;
    }
    if (ss_log_open(&d->log, d->paths.log, o->verbose, 10u << 20, err, sizeof err) != 0)
        fprintf(stderr, "session_daemon: %s (logging to stderr only)\n", err), d->log.to_stderr = 1;
    d->sp.log = &d->log;
    return 0;
}

/* The inotify watch on the request directory (T8: the watch first, then the listing), or
 * polling when it cannot be had. */
static void watch_requests(daemon_t *d)
{
    d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->ifd >= 0)
        d->wd = inotify_add_watch(d->ifd, d->paths.req_dir, REQ_WATCH_MASK);
    if (d->ifd >= 0 && d->wd >= 0)   /* IN_DELETE_SELF waits for our fd to close: watch the root */
        d->wd_root = inotify_add_watch(d->ifd, d->paths.root, IN_DELETE | IN_MOVED_FROM |
                                       IN_ONLYDIR | IN_DONT_FOLLOW);
    watch_work(d);
    if (d->ifd < 0 || d->wd < 0) {
        ss_log_msg(&d->log, "WARN", "inotify unavailable (%s): polling every %.1f s",
                   strerror(errno), POLL_MODE_RESCAN_S);
        d->poll_mode = 1;
    }
    if (getenv("SPEECH_SESSION_NO_INOTIFY")) {   /* tests: exercise the polling fallback */
        ss_log_msg(&d->log, "WARN", "inotify disabled by SPEECH_SESSION_NO_INOTIFY: polling "
                   "every %.1f s", POLL_MODE_RESCAN_S);
        if (d->ifd >= 0) close(d->ifd);
        d->ifd = -1;
        d->wd = -1;
        d->poll_mode = 1;
    }
}

/* --language and --languages name codes the loaded model has tokens for (every request
 * would otherwise fail, and be answered as if it had asked for them). SS_EXIT_USAGE if not. */
static int check_languages(daemon_t *d)
{
    sp_model_info mi;
    memset(&mi, 0, sizeof mi);
    sp_context_info(d->w.ctx, &mi);
    if (!mi.multilingual) {   /* English-only: both unused, said once here */
        if (sp_language_not_english(d->o->language) || d->o->languages)
            ss_log_msg(&d->log, "WARN", "the model is English-only: --language/--languages ignored, "
                       "English transcribed");
        return SS_EXIT_OK;
    }
    int idx[128], n = 0;
    char bad[16];
    const char *l = d->o->language;
    if (l && strcmp(l, "auto")) idx[n++] = sp_language_index(l);
    const int k = sp_language_list(d->o->languages, idx + n, 128 - n, bad);
    n += k > 0 ? k : 0;
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= mi.n_languages) {
            startup_error(d, "this model has no token for language \"%s\" (--language/--languages)",
                          idx[i] < 0 ? l : sp_language_code(idx[i]));
            return SS_EXIT_USAGE;
        }
    return SS_EXIT_OK;
}

/* The signals the loop takes through its signalfd (stop, stop, reopen the log). */
static void stop_signals(sigset_t *ss)
{
    sigemptyset(ss);
    sigaddset(ss, SIGTERM);
    sigaddset(ss, SIGINT);
    sigaddset(ss, SIGHUP);
}

/* Signals on an fd (SIGPIPE ignored), the worker's eventfd, the watch, the decoder
 * launcher (forked while the process is still small), the model, the worker thread.
 * Returns 0 or an SS_EXIT_* code. */
static int start_engine(daemon_t *d)
{
    const ss_daemon_opts *o = d->o;
    sigset_t ss;
    stop_signals(&ss);   /* blocked since ss_daemon_run began; pending ones are read here */
    signal(SIGPIPE, SIG_IGN);
    d->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->sfd < 0 || ss_worker_init(&d->w) != 0) {
        startup_error(d, "signalfd/eventfd: %s", strerror(errno));
        return SS_EXIT_SYSTEM;
    }
    watch_requests(d);
    if (!o->no_decoder_isolation)          /* small and single-threaded still */
        ss_decoder_start_launcher(&d->w.dec);
    int rc = SS_EXIT_OK;
    load_model(d, &rc);
    if (rc != SS_EXIT_OK) return rc;
    if ((rc = check_languages(d)) != SS_EXIT_OK) return rc;
    d->w.beam_size = o->beam_size;
    d->w.language = o->language;
    d->w.temperature_fallback = o->temperature_fallback;
    d->w.vad = o->vad || o->vad_model;
    d->w.vad_model = o->vad_model;
    d->w.initial_prompt = o->initial_prompt;
    d->w.hotwords = o->hotwords;
    d->w.audio_ctx = o->audio_ctx;
    d->w.languages = o->languages;
    d->w.isolate = !o->no_decoder_isolation;
    if (ss_worker_start(&d->w) != 0) {
        startup_error(d, "cannot start the worker thread");
        return SS_EXIT_SYSTEM;
    }
    return SS_EXIT_OK;
}

/* Recover what a killed predecessor left, take what waits in the request directory, then
 * pid file and marker, and only then "ready" (T25). */
static void go_ready(daemon_t *d)
{
    ss_item *list = NULL;
    long nrec = ss_spool_recover(&d->sp, ss_mono_now(), ss_wall_now(), &list);
    if (nrec > 0) ss_log_msg(&d->log, "INFO", "recovered %ld request(s) from processing/", nrec);
    add_claimed(d, list);
    d->sp.age_by_mtime = 1;   /* what waited for this daemon ages from its mtime */
    rescan(d);
    d->sp.age_by_mtime = 0;
    write_pidfile(d, 0);
    write_marker(d);
    d->last_activity_mono = ss_mono_now();
    d->next_model_check = d->last_activity_mono + MODEL_CHECK_S;
    d->state = settle(d);
    d->claimed = 0;
    write_status(d, 1);
    ss_log_msg(&d->log, "INFO", "SESSION ready pid=%ld device=%s pending=%ld", (long)getpid(),
               d->device, d->n_pending);
    notify_ready(d->o, 0);
}

static void shut_down(daemon_t *d, int rc)
{
    ss_worker_stop(&d->w);   /* cancels and joins; also closes its eventfd */
    slot *slots[2] = { &d->nest, &d->run };
    const int ours = !d->sp.lock_lost;   /* the spool's files are still this daemon's */
    for (int i = 0; i < 2; i++) {   /* the worker stopped mid-job (error path): for the next start */
        slot *sl = slots[i];
        if (!sl->it) continue;
        ss_partial_remove(d->sp.respfd, sl->pfd, sl->it->req.id);
        if (ours) ss_spool_unbegin(&d->sp, sl->it);
        ss_item_free(sl->it);
        ss_job_free(sl->j);
    }
    for (int c = 0; c < 2; c++)      /* still in processing/: recovered at the next start */
        ss_item_list_free(d->q[c].head);
    free_retries(d);
    ss_decoder_stop(&d->w.dec);
    sp_context_free(d->w.ctx);
    announce_stop(d);
    ss_log_msg(&d->log, "INFO", "SESSION stop rc=%d processed=%ld failed=%ld", rc, d->processed,
               d->failed);
    if (rc != SS_EXIT_OK) notify_ready(d->o, rc);
    if (d->ifd >= 0) close(d->ifd);
    if (d->sfd >= 0) close(d->sfd);
    ss_log_close(&d->log);
    ss_spool_close(&d->sp);   /* and the lock */
}

int ss_daemon_run(const ss_daemon_opts *o)
{
    daemon_t dd, *d = &dd;
    daemon_init(d, o);
    umask(077);
    /* blocked before the lock is taken: from then on `session_client stop` may signal this
     * process, and a stop or SIGHUP by default action would kill it mid-start, its status
     * left "starting" with a dead pid (a helper's audit: 24 of 40 stops sent the moment the
     * lock appeared). Pending, they are read once the loop runs: a clean stop. */
    sigset_t ss;
    stop_signals(&ss);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    signal(SIGXFSZ, SIG_IGN);   /* RLIMIT_FSIZE: EFBIG from write, handled like a full disk */
    g_ready_fd = o->ready_fd;
    ss_crash_init();
    int rc = open_spool(d);
    if (rc != SS_EXIT_OK) {
        notify_ready(o, rc);
        return rc;
    }
    d->started_wall = d->last_activity_wall = ss_wall_now();
    d->last_activity_mono = ss_mono_now();
    ss_log_msg(&d->log, "INFO", "SESSION start pid=%ld root=%s timeout=%g model=%s",
               (long)getpid(), d->paths.root, o->timeout, o->model);
    clean_dir(d->sp.tmpfd, 0, 0);                 /* temps of a killed predecessor */
    ss_clean_temps(d->sp.respfd, 0);              /* (we hold the lock: none is in use) */
    ss_partial_clean(d->sp.respfd);               /* partial files of a killed predecessor */
    ss_clean_temps(d->sp.rootfd, 0);
    collect_garbage(d, ss_mono_now());           /* and sets the timer */
    write_status(d, 1);
    rc = start_engine(d);
    if (rc == SS_EXIT_OK) {
        go_ready(d);
        rc = run_loop(d);
    }
    shut_down(d, rc);
    return rc;
}
