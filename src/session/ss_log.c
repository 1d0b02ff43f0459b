/* ss_log.c — see ss_log.h. */
#include "session/ss_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One lock for every logger of the process: rotation (fstat, rename, reopen) and the write
 * must not interleave between threads, and a process has one log in practice. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static int open_checked(const char *path, char *err, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                  O_NOCTTY, 0600);
    if (fd < 0) {
        if (err) snprintf(err, n, "cannot open log %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_nlink != 1) {
        if (err) snprintf(err, n, "log %s is not a regular file of ours with one link: refused",
                          path);
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) && fchmod(fd, 0600) != 0) {
        close(fd);
        if (err) snprintf(err, n, "cannot chmod log %s: %s", path, strerror(errno));
        return -1;
    }
    return fd;
}

int ss_log_open(ss_log *l, const char *path, int to_stderr, size_t max_bytes,
                char *err, size_t n)
{
    l->to_stderr = to_stderr;
    l->max_bytes = max_bytes;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->fd = open_checked(path, err, n);
    return l->fd < 0 ? -1 : 0;
}

static void rotate(ss_log *l)
{
    struct stat st;
    if (l->fd < 0 || !l->max_bytes || fstat(l->fd, &st) != 0 || (size_t)st.st_size < l->max_bytes)
        return;
    char old[4300];
    snprintf(old, sizeof old, "%s.1", l->path);
    /* Only rotate the file we hold: the name may have been replaced meanwhile. */
    struct stat cur;
    if (lstat(l->path, &cur) == 0 && cur.st_ino == st.st_ino && cur.st_dev == st.st_dev)
        rename(l->path, old);
    close(l->fd);
    l->fd = open_checked(l->path, NULL, 0);
}

void ss_log_msg(ss_log *l, const char *level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int k = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %ld %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, (long)getpid(), level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)k + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    for (size_t i = (size_t)k; i < len; i++)   /* one event per line, whatever the caller did */
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[len++] = '\n';
    pthread_mutex_lock(&log_mu);
    if (l && l->fd >= 0) {
        rotate(l);
        if (l->fd >= 0 && write(l->fd, line, len) < 0) { /* log loss is not fatal */ }
    }
    pthread_mutex_unlock(&log_mu);
    if (!l || l->to_stderr)
        if (write(2, line, len) < 0) { /* ignore */ }
}

void ss_log_close(ss_log *l)
{
    pthread_mutex_lock(&log_mu);
    if (l && l->fd >= 0) close(l->fd);
    if (l) l->fd = -1;
    pthread_mutex_unlock(&log_mu);
}

int ss_log_reopen(ss_log *l, char *err, size_t n)
{
    int fd = open_checked(l->path, err, n);
    if (fd < 0) return -1;
    pthread_mutex_lock(&log_mu);
    if (l->fd >= 0) close(l->fd);
    l->fd = fd;
    pthread_mutex_unlock(&log_mu);
    return 0;
}
