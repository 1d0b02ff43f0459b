/* ss_spool.c — see ss_spool.h. */
#include "daemon/ss_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dynbuf.h"

static void slog(ss_spool *sp, const char *level, const char *what, const char *name,
                 const char *detail)
{
    char n1[300], d1[600];
    ss_escape(n1, sizeof n1, name);
    ss_escape(d1, sizeof d1, detail ? detail : "");
    if (sp->log) ss_log_msg(sp->log, level, "%s name=\"%s\" %s", what, n1, d1);
}

static int reopen_dir(ss_spool *sp, int *fd, const char *name, char *err, size_t n)
{
    int nfd = ss_dir_open(sp->rootfd, name, err, n);
    if (nfd < 0) return -1;
    if (*fd >= 0) close(*fd);
    *fd = nfd;
    return 0;
}

int ss_spool_open(ss_spool *sp, const ss_paths *paths, char *err, size_t n)
{
    memset(sp, 0, sizeof *sp);
    sp->paths = *paths;
    sp->rootfd = sp->reqfd = sp->respfd = sp->workfd = sp->procfd = sp->quarfd = sp->tmpfd = -1;
    sp->lockfd = -1;
    sp->device = "cpu";
    sp->rootfd = ss_root_open(paths, err, n);   /* created when missing */
    if (sp->rootfd < 0) return -1;
    if (reopen_dir(sp, &sp->workfd, SS_WORK_DIR, err, n) ||
        reopen_dir(sp, &sp->reqfd, SS_REQ_DIR, err, n) ||
        reopen_dir(sp, &sp->respfd, SS_RESP_DIR, err, n)) {
        ss_spool_close(sp);
        return -1;
    }
    if ((sp->procfd = ss_dir_open(sp->workfd, SS_PROC_DIR, err, n)) < 0 ||
        (sp->quarfd = ss_dir_open(sp->workfd, "quarantine", err, n)) < 0 ||
        (sp->tmpfd = ss_dir_open(sp->workfd, "tmp", err, n)) < 0) {
        ss_spool_close(sp);
        return -1;
    }
    return 0;
}

void ss_spool_close(ss_spool *sp)
{
    int *fds[] = { &sp->rootfd, &sp->reqfd, &sp->respfd, &sp->workfd, &sp->procfd,
                   &sp->quarfd, &sp->tmpfd, &sp->lockfd };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0) close(*fds[i]);
        *fds[i] = -1;
    }
    while (sp->young) {
        ss_young *y = sp->young;
        sp->young = y->next;
        free(y);
    }
    sp->n_young = 0;
    while (sp->stuck) {
        ss_stuck *k = sp->stuck;
        sp->stuck = k->next;
        free(k);
    }
    while (sp->owed) {   /* their files stay in processing/: the next start owes them */
        ss_owed *o = sp->owed;
        sp->owed = o->next;
        free(o);
    }
}

int ss_spool_take_lock(ss_spool *sp, pid_t *holder)
{
    int fd = ss_lock_acquire(sp->workfd, holder);
    if (fd < 0) return -1;
    /* the old lock file is gone (or replaced): its lock protects nothing any more */
    if (sp->lockfd >= 0) close(sp->lockfd);
    sp->lockfd = fd;
    return 0;
}

/* The lock file removed (with the work directory, or alone) or replaced: a second daemon
 * would find no lock and start. Take it again on the file there now; if another daemon got
 * it first, it is the one clients see (F_GETLK) and this one must stop serving. */
static int recheck_lock(ss_spool *sp, char *err, size_t n)
{
    if (sp->lockfd < 0 || ss_same_file(sp->workfd, "lock", sp->lockfd)) return 0;
    pid_t holder = 0;
    if (ss_spool_take_lock(sp, &holder) == 0) {
        slog(sp, "WARN", "lock file was removed or replaced: lock taken again", "lock", "");
        return 1;
    }
    int e = errno;
    if (e == EAGAIN) {
        sp->lock_lost = holder > 0 ? (long)holder : -1;
        if (err && n)
            snprintf(err, n, "the lock file was removed and another daemon (pid %ld) holds the "
                     "new one: this daemon stops serving", sp->lock_lost);
    } else if (err && n) {
        snprintf(err, n, "cannot take the lock %s/lock again: %s", sp->paths.work_dir, strerror(e));
    }
    errno = e;
    return -1;
}

/* The work directory and its subdirectories (a /tmp cleaner, `rm -rf /tmp/speech_session_*`):
 * recreated as at start; requests queued in memory have lost their processing/ files. */
static int recheck_work(ss_spool *sp, char *err, size_t n)
{
    int r = ss_dir_recheck(sp->rootfd, SS_WORK_DIR, &sp->workfd, err, n);
    if (r < 0) return -1;
    int changed = r;
    const char *sub[] = { SS_PROC_DIR, "quarantine", "tmp" };
    int *fds[] = { &sp->procfd, &sp->quarfd, &sp->tmpfd };
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        if (r > 0 && *fds[i] >= 0) {   /* a new work directory: nothing of the old one counts */
            close(*fds[i]);
            *fds[i] = -1;
        }
        int ri = ss_dir_recheck(sp->workfd, sub[i], fds[i], err, n);
        if (ri < 0) return -1;
        changed |= ri;
    }
    int rl = recheck_lock(sp, err, n);
    if (rl < 0) return -1;
    return changed | rl;
}

int ss_spool_check(ss_spool *sp, char *err, size_t n)
{
    if (sp->lock_lost) {
        if (err && n) snprintf(err, n, "another daemon (pid %ld) holds the lock", sp->lock_lost);
        return -1;
    }
    /* the request and response directories are looked after even when the work directory
     * cannot be (a file squatting its name): clients can still hand in requests meanwhile */
    char werr[4400] = "";   /* recheck_lock names the work directory */
    int changed = recheck_work(sp, werr, sizeof werr);
    if (changed < 0 && sp->lock_lost) {
        if (err && n) snprintf(err, n, "%s", werr);
        return -1;
    }
    int r = ss_dir_recheck(sp->rootfd, SS_REQ_DIR, &sp->reqfd, err, n);
    if (r < 0) return -1;
    if (r > 0) {
        while (sp->young) {   /* names of the old directory mean nothing now */
            ss_young *y = sp->young;
            sp->young = y->next;
            free(y);
        }
        sp->n_young = 0;
    }
    const int work_failed = changed < 0;
    changed = (work_failed ? 0 : changed) | r;
    if ((r = ss_dir_recheck(sp->rootfd, SS_RESP_DIR, &sp->respfd, err, n)) < 0) return -1;
    changed |= r;
    if (changed) sp->reopened = 1;
    if (work_failed) {
        if (err && n) snprintf(err, n, "%s", werr);
        return -1;
    }
    return changed;
}

/* ------------------------------------------------------------------ young files */

static ss_young *young_find(ss_spool *sp, const char *name, ss_young ***prevp)
{
    ss_young **pp = &sp->young;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0) {
            if (prevp) *prevp = pp;
            return *pp;
        }
    return NULL;
}

/* name's entry, a new one (first seen now) if it had none; NULL only out of memory */
static ss_young *young_get(ss_spool *sp, const char *name, double now)
{
    ss_young *y = young_find(sp, name, NULL);
    if (!y && (y = calloc(1, sizeof *y))) {
        snprintf(y->name, sizeof y->name, "%s", name);
        y->first_seen = y->last_change = now;
        y->next = sp->young;
        sp->young = y;
        sp->n_young++;
    }
    return y;
}

static void young_drop(ss_spool *sp, const char *name)
{
    ss_young **pp;
    ss_young *y = young_find(sp, name, &pp);
    if (y) {
        *pp = y->next;
        free(y);
        sp->n_young--;
    }
}

double ss_spool_next_young(const ss_spool *sp)
{
    double t = 0;
    for (const ss_young *y = sp->young; y; y = y->next)
        if (t == 0 || y->next_check < t) t = y->next_check;
    return t;
}

void ss_spool_poll_young(ss_spool *sp, double now, double wall, ss_item **list)
{
    /* Collect due names first: ingest may drop entries from the list. */
    char (*due)[SS_ID_MAX + 6] = NULL;
    long nd = 0;
    if (sp->n_young > 0) due = malloc((size_t)sp->n_young * sizeof *due);
    if (!due) return;
    for (ss_young *y = sp->young; y; y = y->next)
        if (y->next_check <= now && nd < sp->n_young) memcpy(due[nd++], y->name, sizeof *due);
    ss_item **tail = list;
    while (*tail) tail = &(*tail)->next;
    for (long i = 0; i < nd; i++) {
        ss_item *it = NULL;
        if (ss_spool_ingest(sp, due[i], now, wall, &it) == SS_ING_CLAIMED) {
            *tail = it;
            tail = &it->next;
        }
    }
    free(due);
}

/* ------------------------------------------------------------------ responses */

/* Publishes js as responses/name (temp + rename). ENOENT or ESTALE: the response directory
 * was removed (a /tmp cleaner) since the last look; it is recreated and the write tried once
 * more. The answer had been given up as "cannot clear" and its request quarantined
 * unanswered (T5). Only the response directory is reopened here: callers may hold the other
 * directories' fds by value. */
static int write_response(ss_spool *sp, const char *name, const char *js, int flags)
{
    flags |= (sp->fsync_responses ? SS_WA_FSYNC : 0) | SS_WA_RESPONSE;
    if (ss_write_atomic(sp->respfd, name, js, strlen(js), flags) == 0) return 0;
    int e = errno;
    if (e != ENOENT && e != ESTALE) return -1;
    char err[512] = "";
    int r = ss_dir_recheck(sp->rootfd, SS_RESP_DIR, &sp->respfd, err, sizeof err);
    if (r <= 0) {
        if (r < 0) slog(sp, "ERROR", "cannot recreate the response directory", SS_RESP_DIR, err);
        errno = e;
        return -1;
    }
    sp->reopened = 1;
    slog(sp, "WARN", "response directory was removed: recreated", SS_RESP_DIR, "");
    return ss_write_atomic(sp->respfd, name, js, strlen(js), flags);
}

int ss_spool_respond_error(ss_spool *sp, const char *id, const char *code, const char *msg)
{
    char *js = ss_response_json(id, NULL, 0, sp->device, sp->session_active, msg, code,
                                ss_wall_now());
    if (!js) { errno = ENOMEM; return -1; }
    char name[SS_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.json", id);
    int r = write_response(sp, name, js, 0);
    int e = errno;
    free(js);
    errno = e;
    return r;
}

/* What quarantine/ keeps at most: files beyond either bound go, oldest first. It holds every
 * rejected request for --quarantine-max-age (7 days): a client stuck sending bad requests
 * (an over-size one is kept whole) had filled /tmp for a week. */
#define QUAR_MAX_FILES 1000
#define QUAR_MAX_BYTES (64ll << 20)

typedef struct {
    struct timespec mtime;
    long long size;
    char name[256];
} quar_entry;

static int quar_older(const void *a, const void *b)
{
    const quar_entry *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* quarantine/ back within its bounds (its regular files; a directory moved there ages out
 * on the timer). A listing of at most ~QUAR_MAX_FILES + 1 entries per rejected request. */
static void quar_trim(ss_spool *sp)
{
    int fd = dup(sp->quarfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) { if (fd >= 0) close(fd); return; }
    rewinddir(d);   /* the dup shares quarfd's offset, left at the end by the last listing */
    quar_entry *e = NULL;
    size_t n = 0, cap = 0;
    long long bytes = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
        if (strlen(de->d_name) >= sizeof e->name) continue;
        if (fstatat(sp->quarfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            quar_entry *m = realloc(e, (cap = cap ? 2 * cap : 64) * sizeof *e);
            if (!m) break;
            e = m;
        }
        e[n].mtime = st.st_mtim;
        e[n].size = (long long)st.st_size;
        snprintf(e[n].name, sizeof e[n].name, "%s", de->d_name);
        bytes += e[n].size;
        n++;
    }
    closedir(d);
    if (n > QUAR_MAX_FILES || bytes > QUAR_MAX_BYTES) {
        qsort(e, n, sizeof *e, quar_older);
        size_t i = 0, gone = 0;
        for (; i < n && (n - i > QUAR_MAX_FILES || bytes > QUAR_MAX_BYTES); i++)
            if (unlinkat(sp->quarfd, e[i].name, 0) == 0 || errno == ENOENT) bytes -= e[i].size, gone++;
        char what[96];
        snprintf(what, sizeof what, "%zu oldest removed (at most %d files, %lld MiB)", gone, QUAR_MAX_FILES,
                 QUAR_MAX_BYTES >> 20);
        slog(sp, "WARN", "quarantine full", "quarantine", what);
    }
    free(e);
}

int ss_spool_quarantine(ss_spool *sp, int dirfd, const char *name)
{
    static unsigned counter;
    char q[200];
    size_t k = 0;
    for (const char *s = name; *s && k < 100; s++) {
        char c = *s;
        int okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c == '.' && k > 0);
        q[k] = okc ? c : '_';
        k++;
    }
    snprintf(q + k, sizeof q - k, "~%ld-%.0f-%u", (long)getpid(), ss_wall_now() * 1e6, counter++);
    if (renameat(dirfd, name, sp->quarfd, q) == 0) {
        quar_trim(sp);
        return 0;
    }
    /* Could not move (e.g. a directory across devices): remove it instead. */
    if (unlinkat(dirfd, name, 0) == 0 || unlinkat(dirfd, name, AT_REMOVEDIR) == 0) return 0;
    return -1;
}

int ss_write_error_clears(int e)
{
    switch (e) {
    case ENOSPC: case EDQUOT: case EIO: case EFBIG: case ENOMEM: case EMFILE: case ENFILE:
    case EAGAIN: case EINTR: case ENOBUFS: case EBUSY:
        return 1;
    default:
        return 0;
    }
}

/* The error response of a rejected request file could not be written for a reason that may
 * clear (a full disk): the file stays in requests/ and is looked at again after a backoff
 * (doubling to 30 s), so its client is answered once space returns (T21: nothing is lost;
 * it had been quarantined unanswered). */
static ss_ingest_result reject_later(ss_spool *sp, const char *name, double now)
{
    ss_young *y = young_get(sp, name, now);
    if (!y) return SS_ING_NOT_YET;   /* the next rescan finds it again */
    y->backoff = y->backoff > 0 ? (y->backoff * 2 < 30 ? y->backoff * 2 : 30) : 0.25;
    y->next_check = now + y->backoff;
    return SS_ING_NOT_YET;
}

static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* 1 when requests/<name> is a file already answered that could not be moved out (the same
 * inode and mtime); an entry whose file changed is dropped, so a new request is read. */
static int stuck_skip(ss_spool *sp, const char *name)
{
    struct stat st;
    for (ss_stuck **pp = &sp->stuck; *pp; pp = &(*pp)->next) {
        ss_stuck *k = *pp;
        if (strcmp(k->name, name)) continue;
        if (fstatat(sp->reqfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (unsigned long long)st.st_ino == k->ino &&
            mtime_ns(&st) == k->mtime_ns)
            return 1;
        *pp = k->next;
        free(k);
        return 0;
    }
    return 0;
}

/* Rejects a request file: error response (when the stem is a valid id), quarantine. */
static ss_ingest_result reject(ss_spool *sp, int dirfd, const char *name, const char *stem,
                               const char *code, const char *msg, double now)
{
    if (stem && stem[0] && ss_spool_respond_error(sp, stem, code, msg) != 0) {
        const int e = errno;
        slog(sp, "ERROR", "cannot write error response", name, strerror(e));
        if (dirfd == sp->reqfd && ss_write_error_clears(e)) return reject_later(sp, name, now);
    }
    young_drop(sp, name);
    sp->n_rejected++;
    struct stat st;
    const int have_st = dirfd == sp->reqfd && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (ss_spool_quarantine(sp, dirfd, name) != 0 && errno != ENOENT) {
        slog(sp, "ERROR", "cannot quarantine", name, strerror(errno));
        ss_stuck *k = have_st ? calloc(1, sizeof *k) : NULL;
        if (k) {   /* answered once: not again at every rescan while it stays */
            snprintf(k->name, sizeof k->name, "%s", name);
            k->ino = (unsigned long long)st.st_ino;
            k->mtime_ns = mtime_ns(&st);
            k->next = sp->stuck;
            sp->stuck = k;
        }
    }
    /* name and reason escaped each once (through slog the quotes around the reason had
     * been escaped again: reason=\"...\") */
    char n1[300], m1[600];
    ss_escape(n1, sizeof n1, name);
    ss_escape(m1, sizeof m1, msg);
    if (sp->log)
        ss_log_msg(sp->log, "WARN", "request rejected name=\"%s\" code=%s reason=\"%s\"", n1, code, m1);
    return SS_ING_REJECTED;
}

#define POISON_MSG "the daemon stopped abnormally twice while processing this request; it was quarantined"

/* A recovered request answered with an error, then quarantined: 0. When the answer cannot
 * be written yet (a full disk) the file stays in processing/, owed (struct ss_owed), and 1. */
static int answer_recovered(ss_spool *sp, const char *pname, const char *id, const char *code, const char *msg)
{
    if (ss_spool_respond_error(sp, id, code, msg) != 0) {
        const int e = errno;
        slog(sp, "ERROR", "cannot write error response", pname, strerror(e));
        ss_owed *o = ss_write_error_clears(e) ? calloc(1, sizeof *o) : NULL;
        if (o) {
            snprintf(o->pname, sizeof o->pname, "%s", pname);
            snprintf(o->id, sizeof o->id, "%s", id);
            o->code = code;
            o->msg = msg;
            o->next = sp->owed;
            sp->owed = o;
            return 1;
        }
    }
    ss_spool_quarantine(sp, sp->procfd, pname);
    return 0;
}

/* The owed answers tried again (each rescan): written ones quarantine their file */
static void owed_retry(ss_spool *sp)
{
    for (ss_owed **pp = &sp->owed; *pp;) {
        ss_owed *o = *pp;
        int e = 0;
        if (ss_spool_respond_error(sp, o->id, o->code, o->msg) != 0 && ss_write_error_clears(e = errno)) {
            pp = &o->next;   /* still full: the next rescan */
            continue;
        }
        if (e) slog(sp, "ERROR", "cannot write error response", o->pname, strerror(e));
        else slog(sp, "INFO", "owed error response written", o->pname, o->code);
        ss_spool_quarantine(sp, sp->procfd, o->pname);
        *pp = o->next;
        free(o);
    }
}

/* ------------------------------------------------------------------ ingest */

static double receipt_time(double now, double wall, const struct stat *st)
{
    /* A file found by a scan may have waited: age it by its mtime, clamped to [0, 1 day].
     * Only used for expiry; the file owner can only hurt their own request. */
    double mt = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;
    double age = wall - mt;
    if (!(age > 0)) age = 0;
    if (age > 86400) age = 86400;
    return now - age;
}

/* A request that does not parse yet: tracked, re-read every SS_YOUNG_POLL_S, and malformed
 * after SS_QUIET_S without change or SS_STALL_S in all (T6, T7). */
static ss_ingest_result track_young(ss_spool *sp, const char *name, const char *stem,
                                    const struct stat *st, double now, const char *msg)
{
    long long mt = mtime_ns(st);
    ss_young *y = young_get(sp, name, now);
    if (!y) return SS_ING_NOT_YET;
    if (y->size != (long long)st->st_size || y->mtime_ns != mt) {   /* new, or changed */
        y->size = (long long)st->st_size;
        y->mtime_ns = mt;
        y->last_change = now;
    }
    if (now - y->last_change >= SS_QUIET_S || now - y->first_seen >= SS_STALL_S)
        return reject(sp, sp->reqfd, name, stem, SS_E_BAD_REQUEST, msg, now);
    y->next_check = now + SS_YOUNG_POLL_S;
    return SS_ING_NOT_YET;
}

/* The same id is already queued (processing/<id>.0 exists): look again once that one is
 * done, and remember the twin so that, once claimed, it is answered as the duplicate it is. */
static ss_ingest_result wait_for_twin(ss_spool *sp, const char *name, double now)
{
    ss_young *y = young_get(sp, name, now);
    if (y) { y->last_change = now; y->next_check = now + SS_YOUNG_POLL_S; y->twin = 1; }
    return SS_ING_NOT_YET;
}

/* Reads requests/<name> for ingest. Returns SS_ING_CLAIMED (meaning: read, *buf set) or the
 * final result for a file that could not be read (rejected, gone, or retried later). */
static ss_ingest_result read_request(ss_spool *sp, const char *name, const char *stem,
                                     char **buf, size_t *blen, struct stat *st, double now)
{
    if (ss_read_file(sp->reqfd, name, SS_REQUEST_MAX, buf, blen, st) == 0) return SS_ING_CLAIMED;
    int e = errno;
    if (e == ENOENT) { young_drop(sp, name); return SS_ING_GONE; }
    if (e == EFBIG)
        return reject(sp, sp->reqfd, name, stem, SS_E_TOO_LARGE, "request larger than 64 KiB", now);
    if (e == ELOOP || e == EINVAL || e == EPERM || e == ENXIO || e == EISDIR)
        return reject(sp, sp->reqfd, name, stem, SS_E_NOT_REGULAR,
                      "request is not a regular file of ours (symlink, FIFO, directory...)", now);
    if (e == EMFILE || e == ENFILE || e == ENOMEM) return SS_ING_NOT_YET;  /* transient */
    return reject(sp, sp->reqfd, name, stem, SS_E_NOT_REGULAR, strerror(e), now);
}

/* requests/name -> processing/pname, never replacing. ENOENT with the request still there
 * means processing/ (or the work directory) was removed: it is recreated (and the lock
 * taken again) and the rename tried once more; the request had been taken for "gone" and
 * never answered (T5). */
static int claim_rename(ss_spool *sp, const char *name, const char *pname)
{
    if (renameat2(sp->reqfd, name, sp->procfd, pname, RENAME_NOREPLACE) == 0) return 0;
    if (errno != ENOENT) return -1;
    struct stat st;
    if (fstatat(sp->reqfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        errno = ENOENT;   /* the request itself is gone */
        return -1;
    }
    char err[512] = "";
    int r = recheck_work(sp, err, sizeof err);
    if (r <= 0) {
        if (r < 0) slog(sp, "ERROR", "cannot recreate the work directory", SS_WORK_DIR, err);
        errno = EBUSY;   /* not "gone": the next rescan tries again */
        return -1;
    }
    sp->reopened = 1;
    slog(sp, "WARN", "work directory or processing/ was removed: recreated", SS_WORK_DIR, "");
    return renameat2(sp->reqfd, name, sp->procfd, pname, RENAME_NOREPLACE);
}

/* Claim: requests/<id>.json -> processing/<id>.0, never replacing a queued twin (T18). On
 * SS_ING_CLAIMED *req is the request actually claimed and *out its new item. */
static ss_ingest_result claim(ss_spool *sp, const char *name, const char *stem,
                              ss_request *req, struct stat *st, double now, double wall,
                              ss_item **out)
{
    char pname[SS_ID_MAX + 16];
    snprintf(pname, sizeof pname, "%s.0", stem);
    if (sp->lock_lost) {   /* another daemon serves this spool now: its requests, not ours */
        ss_request_clear(req);
        return SS_ING_NOT_YET;
    }
    if (claim_rename(sp, name, pname) != 0) {
        int e = errno;
        ss_request_clear(req);
        if (e == ENOENT) { young_drop(sp, name); return SS_ING_GONE; }
        if (e == EEXIST) return wait_for_twin(sp, name, now);
        slog(sp, "ERROR", "cannot claim request", name, strerror(e));
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EINTR || e == EBUSY || e == ENOSPC || e == EDQUOT)
            return SS_ING_NOT_YET;   /* may clear: the next rescan tries again */
        /* one that cannot clear (the request directory on another file system: EXDEV, a
         * read-only or foreign directory) was retried at every rescan, forever and never
         * answered: answered now, once, and moved out of the way */
        char m[200];
        snprintf(m, sizeof m, "the daemon cannot take this request out of the request directory: %s", strerror(e));
        return reject(sp, sp->reqfd, name, stem, SS_E_INTERNAL, m, now);
    }
    ss_young *yt = young_find(sp, name, NULL);
    int twin = (yt && yt->twin) || ss_spool_in_flight(sp, stem);
    young_drop(sp, name);
    ss_crash_point("claimed");
    /* The name may have been replaced between our read and the rename (an atomic writer
     * replacing its own request): if so, parse the claimed file again. */
    struct stat cst;
    if (fstatat(sp->procfd, pname, &cst, AT_SYMLINK_NOFOLLOW) == 0 &&
        (cst.st_ino != st->st_ino || cst.st_dev != st->st_dev)) {
        ss_request_clear(req);
        char *buf = NULL, msg[300];
        size_t blen = 0;
        const char *code = NULL;
        int bad = ss_read_file(sp->procfd, pname, SS_REQUEST_MAX, &buf, &blen, st) != 0 ||
                  ss_request_parse(buf, blen, stem, req, &code, msg, sizeof msg) != SS_PARSE_OK;
        free(buf);
        if (bad)
            return reject(sp, sp->procfd, pname, stem, SS_E_BAD_REQUEST,
                          "request replaced by an invalid one while being claimed", now);
    }
    ss_item *it = calloc(1, sizeof *it);
    if (!it) {   /* stays in processing/: recovered at the next start */
        ss_request_clear(req);
        return SS_ING_NOT_YET;
    }
    it->req = *req;
    it->attempts = 0;
    /* from its mtime only when the start's scan found it (it may have waited for a daemon);
     * a request arriving while the daemon runs ages from now: its mtime is the client's
     * (cp -p, mv of an old file, clock skew) and had expired fresh requests (T11) */
    it->receipt = sp->age_by_mtime ? receipt_time(now, wall, st) : now;
    it->duplicate = twin;
    *out = it;
    return SS_ING_CLAIMED;
}

ss_ingest_result ss_spool_ingest(ss_spool *sp, const char *name, double now, double wall,
                                 ss_item **out)
{
    *out = NULL;
    char stem[SS_ID_MAX + 1];
    size_t len = strlen(name);
    if (name[0] == '.') return SS_ING_IGNORED;                   /* hidden/temp files */
    if (len < 5 || strcmp(name + len - 5, ".json") != 0) return SS_ING_IGNORED;
    struct stat st;
    if (sp->stuck && stuck_skip(sp, name)) return SS_ING_IGNORED;
    if (!ss_name_valid(name, stem)) {
        /* gone already: a second event for one file (IN_CREATE, then IN_CLOSE_WRITE) had
         * rejected and counted it twice */
        if (fstatat(sp->reqfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) return SS_ING_GONE;
        return reject(sp, sp->reqfd, name, NULL, SS_E_BAD_ID, "invalid request file name", now);
    }
    char *buf = NULL;
    size_t blen = 0;
    memset(&st, 0, sizeof st);
    ss_ingest_result r = read_request(sp, name, stem, &buf, &blen, &st, now);
    if (r != SS_ING_CLAIMED) return r;
    ss_request req;
    const char *code = NULL;
    char msg[300];
    ss_parse_result pr = ss_request_parse(buf, blen, stem, &req, &code, msg, sizeof msg);
    free(buf);
    if (pr == SS_PARSE_INCOMPLETE) return track_young(sp, name, stem, &st, now, msg);
    if (pr == SS_PARSE_INVALID) return reject(sp, sp->reqfd, name, stem, code, msg, now);
    return claim(sp, name, stem, &req, &st, now, wall, out);
}

/* ------------------------------------------------------------------ scans */

typedef struct { char *name; long long mt; } ent;

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    if (x->mt != y->mt) return x->mt < y->mt ? -1 : 1;
    size_t lx = strlen(x->name), ly = strlen(y->name);   /* numeric ids: shorter first */
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Lists dirfd (rewound) into a sorted array of names with mtimes. */
static long list_dir(int dirfd, ent **outv)
{
    *outv = NULL;
    int fd = dup(dirfd);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return -1; }
    rewinddir(d);
    sp_dynbuf vb;
    sp_dynbuf_init(&vb, SP_DYNBUF_NOCAP);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        struct stat st;
        ent e = { NULL, 0 };
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            e.mt = mtime_ns(&st);
        /* out of memory: what was listed is handled now, the rest at the next scan */
        if (!(e.name = strdup(de->d_name))) break;
        if (sp_dynbuf_add(&vb, &e, sizeof e) != 0) { free(e.name); break; }
    }
    long nv = (long)sp_dynbuf_n(&vb, ent);
    ent *v = sp_dynbuf_take(&vb, NULL);
    closedir(d);
    if (nv > 1) qsort(v, (size_t)nv, sizeof *v, ent_cmp);
    *outv = v;
    return nv;
}

static void ents_free(ent *v, long n)
{
    for (long i = 0; i < n; i++) free(v[i].name);
    free(v);
}

long ss_spool_scan(ss_spool *sp, double now, double wall, ss_item **list)
{
    owed_retry(sp);
    ent *v;
    long n = list_dir(sp->reqfd, &v);
    if (n < 0) return -1;
    ss_item **tail = list;
    while (*tail) tail = &(*tail)->next;
    long claimed = 0;
    for (long i = 0; i < n; i++) {
        ss_item *it = NULL;
        if (ss_spool_ingest(sp, v[i].name, now, wall, &it) == SS_ING_CLAIMED) {
            *tail = it;
            tail = &it->next;
            claimed++;
        }
    }
    ents_free(v, n);
    return claimed;
}

/* 1 when processing/<stem>.J exists for some J > k: a request with this id got further (it
 * began, K -> K+1) while the one at k waited. That is what the live path sees when it claims
 * a twin (ss_spool_in_flight): the one that began is the request, k its duplicate. */
static int began_twin(ss_spool *sp, const char *stem, long k)
{
    for (long j = k + 1; j <= SS_MAX_ATTEMPTS; j++) {
        char pname[SS_ID_MAX + 24];
        struct stat st;
        snprintf(pname, sizeof pname, "%s.%ld", stem, j);
        if (fstatat(sp->procfd, pname, &st, AT_SYMLINK_NOFOLLOW) == 0) return 1;
    }
    return 0;
}

/* processing/<name> as <stem>.<K>: 0, or -1 for a name no claim makes */
static int split_pname(const char *name, char stem[SS_ID_MAX + 1], long *k)
{
    const char *dot = strrchr(name, '.');
    char *end = NULL;
    *k = dot ? strtol(dot + 1, &end, 10) : -1;
    size_t sl = dot ? (size_t)(dot - name) : 0;
    if (!dot || !end || *end || *k < 0 || sl == 0 || sl > SS_ID_MAX) return -1;
    memcpy(stem, name, sl);
    stem[sl] = 0;
    return ss_id_valid(stem) ? 0 : -1;
}

long ss_spool_recover(ss_spool *sp, double now, double wall, ss_item **list)
{
    ent *v;
    long n = list_dir(sp->procfd, &v);
    if (n < 0) return -1;
    /* Twins first, before anything is moved: a request and its duplicate-id twin both in
     * processing/ (a crash while the first ran and the twin waited) had both been run, and
     * the twin's answer replaced the first's. The one that began is the request; the others
     * are answered as duplicates (never run), as the live path does. */
    char *dup = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!dup) { ents_free(v, n); return -1; }
    for (long i = 0; i < n; i++) {
        char stem[SS_ID_MAX + 1];
        long k;
        dup[i] = split_pname(v[i].name, stem, &k) == 0 && began_twin(sp, stem, k);
    }
    ss_item **tail = list;
    while (*tail) tail = &(*tail)->next;
    long got = 0;
    for (long i = 0; i < n; i++) {
        const char *name = v[i].name;
        char stem[SS_ID_MAX + 1] = "";
        long k;
        if (split_pname(name, stem, &k) != 0) {
            ss_spool_quarantine(sp, sp->procfd, name);
            continue;
        }
        if (k >= SS_MAX_ATTEMPTS) {
            if (answer_recovered(sp, name, stem, SS_E_POISON, POISON_MSG) == 0)
                slog(sp, "WARN", "poison request quarantined", name, "");
            continue;
        }
        char *buf = NULL;
        size_t blen = 0;
        struct stat st;
        ss_request req;
        const char *code = NULL;
        char msg[300];
        if (ss_read_file(sp->procfd, name, SS_REQUEST_MAX, &buf, &blen, &st) != 0 ||
            ss_request_parse(buf, blen, stem, &req, &code, msg, sizeof msg) != SS_PARSE_OK) {
            free(buf);
            if (dup[i]) {   /* its answer would replace the request's: only quarantined */
                slog(sp, "WARN", "unreadable duplicate quarantined", name, "");
                ss_spool_quarantine(sp, sp->procfd, name);
            } else {
                answer_recovered(sp, name, stem, SS_E_BAD_REQUEST, "request unreadable after restart");
            }
            continue;
        }
        free(buf);
        ss_item *it = calloc(1, sizeof *it);
        if (!it) { ss_request_clear(&req); break; }
        it->req = req;
        it->attempts = (int)k;
        it->receipt = receipt_time(now, wall, &st);
        it->duplicate = dup[i];
        *tail = it;
        tail = &it->next;
        got++;
    }
    free(dup);
    ents_free(v, n);
    return got;
}

/* ------------------------------------------------------------------ job steps */

static void pname_of(const ss_item *it, int k, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%d", it->req.id, k);
}

int ss_spool_begin(ss_spool *sp, ss_item *it)
{
    char a[SS_ID_MAX + 16], b[SS_ID_MAX + 16];
    pname_of(it, it->attempts, a, sizeof a);
    pname_of(it, it->attempts + 1, b, sizeof b);
    if (renameat(sp->procfd, a, sp->procfd, b) != 0) return -1;
    it->attempts++;
    ss_crash_point("begun");
    return 0;
}

int ss_spool_unbegin(ss_spool *sp, ss_item *it)
{
    if (it->attempts <= 0) return 0;
    char a[SS_ID_MAX + 16], b[SS_ID_MAX + 16];
    pname_of(it, it->attempts, a, sizeof a);
    pname_of(it, it->attempts - 1, b, sizeof b);
    if (renameat(sp->procfd, a, sp->procfd, b) != 0) return -1;
    it->attempts--;
    return 0;
}

int ss_spool_finish(ss_spool *sp, ss_item *it, const char *json)
{
    return ss_spool_finish_ex(sp, it, json, 0);
}

int ss_spool_finish_ex(ss_spool *sp, ss_item *it, const char *json, int flags)
{
    char name[SS_ID_MAX + 8], pname[SS_ID_MAX + 16];
    snprintf(name, sizeof name, "%s.json", it->req.id);
    if (write_response(sp, name, json, flags) != 0) return -1;
    ss_crash_point("responded");
    pname_of(it, it->attempts, pname, sizeof pname);
    if (unlinkat(sp->procfd, pname, 0) != 0 && errno != ENOENT)
        slog(sp, "ERROR", "cannot remove processed request", pname, strerror(errno));
    return 0;
}

int ss_spool_discard(ss_spool *sp, ss_item *it)
{
    char pname[SS_ID_MAX + 16];
    pname_of(it, it->attempts, pname, sizeof pname);
    return ss_spool_quarantine(sp, sp->procfd, pname);
}

int ss_spool_in_flight(ss_spool *sp, const char *id)
{
    /* begun items are processing/<id>.1 .. <id>.SS_MAX_ATTEMPTS (see ss_spool_begin) */
    for (int k = 1; k <= SS_MAX_ATTEMPTS; k++) {
        char pname[SS_ID_MAX + 16];
        struct stat st;
        snprintf(pname, sizeof pname, "%s.%d", id, k);
        if (fstatat(sp->procfd, pname, &st, AT_SYMLINK_NOFOLLOW) == 0) return 1;
    }
    return 0;
}

void ss_item_free(ss_item *it)
{
    if (!it) return;
    ss_request_clear(&it->req);
    free(it);
}

void ss_item_list_free(ss_item *list)
{
    while (list) {
        ss_item *n = list->next;
        ss_item_free(list);
        list = n;
    }
}
