/* ss_fs.c — see ss_fs.h. */
#include "session/ss_fs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/dynbuf.h"
#include "common/errbuf.h"

int ss_paths_init(ss_paths *p, char *err, size_t n)
{
    memset(p, 0, sizeof *p);
    const char *root = getenv("SPEECH_SESSION_ROOT");
    if (!root || !*root) root = "/tmp";
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/') len--;
    if (root[0] != '/' || len >= sizeof p->root - 64) {
        sp_errf(err, n, "SPEECH_SESSION_ROOT must be an absolute path shorter than 4000 bytes");
        errno = EINVAL;
        return -1;
    }
    memcpy(p->root, root, len);
    p->root[len] = 0;
    const char *sep = len == 1 ? "" : "/";
#define P(field, name) snprintf(p->field, sizeof p->field, "%s%s%s", p->root, sep, name)
    P(req_dir, SS_REQ_DIR);
    P(resp_dir, SS_RESP_DIR);
    P(work_dir, SS_WORK_DIR);
    P(status, SS_STATUS_FILE);
    P(marker, SS_MARKER_FILE);
    P(pid, SS_PID_FILE);
    P(log, SS_LOG_FILE);
#undef P
    return 0;
}

/* The failure of a directory opener: fd (if open) closed, the message formatted, errno e
 * (kept through the formatting and the close), -1 */
__attribute__((format(printf, 5, 6)))
static int dir_fail(int fd, int e, char *err, size_t n, const char *fmt, ...)
{
    if (fd >= 0) close(fd);
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    errno = e;
    return -1;
}

int ss_root_open(const ss_paths *p, char *err, size_t n)
{
    const char *root = p->root;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {   /* e.g. SPEECH_SESSION_ROOT=$XDG_RUNTIME_DIR/speech-session */
        /* EEXIST: made meanwhile by another process; checked below like any */
        if (mkdir(root, 0700) != 0 && errno != EEXIST) {
            if (errno == ENOENT)
                return dir_fail(-1, ENOENT, err, n, "cannot create %s: its parent directory does not exist "
                                "(only the last component of SPEECH_SESSION_ROOT is created)", root);
            return dir_fail(-1, errno, err, n, "cannot create %s: %s", root, strerror(errno));
        }
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) return dir_fail(-1, errno, err, n, "cannot open %s: %s", root, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) return dir_fail(fd, errno, err, n, "cannot stat %s: %s", root, strerror(errno));
    /* the default /tmp is the spec's and is taken as it is (its directories are checked one
     * by one); a root named in the environment must not be someone else's to rearrange (one
     * we just made passes: ours, 0700) */
    const char *env = getenv("SPEECH_SESSION_ROOT");
    if (!env || !*env) return fd;
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return dir_fail(fd, EPERM, err, n, "SPEECH_SESSION_ROOT %s is owned by uid %u, not by us (uid %u) or root: "
                        "refused", root, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return dir_fail(fd, EPERM, err, n, "SPEECH_SESSION_ROOT %s is writable by other users and not sticky "
                        "(mode %04o): refused", root, (unsigned)(st.st_mode & 07777));
    return fd;
}

int ss_id_valid(const char *id)
{
    size_t i = 0;
    for (; id[i]; i++) {
        char c = id[i];
        if (i >= SS_ID_MAX) return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return i > 0;
}

int ss_name_valid(const char *name, char stem[SS_ID_MAX + 1])
{
    size_t len = strlen(name);
    if (len < 6 || len > SS_ID_MAX + 5 || strcmp(name + len - 5, ".json") != 0) return 0;
    char tmp[SS_ID_MAX + 1];
    memcpy(tmp, name, len - 5);
    tmp[len - 5] = 0;
    if (!ss_id_valid(tmp)) return 0;
    if (stem) memcpy(stem, tmp, len - 4);
    return 1;
}

int ss_dir_open(int atfd, const char *name, char *err, size_t n)
{
    if (mkdirat(atfd, name, 0700) != 0 && errno != EEXIST)
        return dir_fail(-1, errno, err, n, "cannot create directory %s: %s", name, strerror(errno));
    int fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return dir_fail(-1, errno, err, n, "cannot open directory %s: %s%s", name, strerror(errno),
                        errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory: refused)" : "");
    struct stat st;
    if (fstat(fd, &st) != 0)
        return dir_fail(fd, errno, err, n, "cannot stat directory %s: %s", name, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return dir_fail(fd, EPERM, err, n, "directory %s is owned by uid %u, not by us (uid %u): refused", name,
                        (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0)
        return dir_fail(fd, errno, err, n, "cannot chmod directory %s to 0700: %s", name, strerror(errno));
    return fd;
}

int ss_same_file(int atfd, const char *name, int fd)
{
    struct stat a, b;
    if (fstatat(atfd, name, &a, AT_SYMLINK_NOFOLLOW) != 0) return 0;
    if (fstat(fd, &b) != 0) return 0;
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int ss_dir_recheck(int atfd, const char *name, int *fd, char *err, size_t n)
{
    if (*fd >= 0 && ss_same_file(atfd, name, *fd)) return 0;
    int nfd = ss_dir_open(atfd, name, err, n);
    if (nfd < 0) return -1;
    if (*fd >= 0) close(*fd);
    *fd = nfd;
    return 1;
}

int ss_read_file(int dirfd, const char *name, size_t max, char **buf, size_t *len,
                 struct stat *stp)
{
    *buf = NULL;
    *len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) goto fail;
    if (stp) *stp = st;
    if (!S_ISREG(st.st_mode)) { errno = EINVAL; goto fail; }
    if (st.st_uid != geteuid()) { errno = EPERM; goto fail; }
    if ((size_t)st.st_size > max) { errno = EFBIG; goto fail; }
    /* The size is only a hint (the file may grow while we read): the buffer's cap is what
     * bounds it. */
    sp_dynbuf b;
    sp_dynbuf_init(&b, max);
    if (sp_dynbuf_reserve(&b, (size_t)st.st_size) != 0) goto fail;
    for (;;) {
        char chunk[16384];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || sp_dynbuf_add(&b, chunk, (size_t)r) != 0) {
            if (r == 0) break;
            int e = errno;
            sp_dynbuf_free(&b);
            errno = e;
            goto fail;
        }
    }
    close(fd);
    *buf = sp_dynbuf_take(&b, len);
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* The temp file is created in the destination directory itself (a dot-name there, as
 * Maildir and Postfix do): a rename never crosses a mount (EXDEV when the response
 * directory is another file system), and every reader of the spool ignores dot-names. */
int ss_write_atomic(int dstdir, const char *dstname, const void *data, size_t len, int flags)
{
    static unsigned counter;
    char tmp[SS_ID_MAX + 96];
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, sizeof tmp, "%s%.*s.%ld-%u", SS_TMP_PREFIX, SS_ID_MAX + 16, dstname,
                 (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        fd = openat(dstdir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) return -1;
    }
    if (fd < 0) return -1;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if ((flags & SS_WA_FSYNC) && fsync(fd) != 0) goto fail;
    if (flags & SS_WA_RESPONSE) ss_crash_point("tmp_written");
    if (close(fd) != 0) { fd = -1; goto fail; }
    fd = -1;
    if (flags & SS_WA_NOREPLACE) {
        if (renameat2(dstdir, tmp, dstdir, dstname, RENAME_NOREPLACE) != 0) goto fail;
    } else if (renameat(dstdir, tmp, dstdir, dstname) != 0) {
        goto fail;
    }
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlinkat(dstdir, tmp, 0);
    errno = e;
    return -1;
}

void ss_clean_temps(int dirfd, double max_age)
{
    int fd = dup(dirfd);
    if (fd < 0) return;
    DIR *dir = fdopendir(fd);
    if (!dir) { close(fd); return; }
    rewinddir(dir);
    double now = ss_wall_now();
    size_t pl = strlen(SS_TMP_PREFIX);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (strncmp(de->d_name, SS_TMP_PREFIX, pl) != 0) continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (now - (double)st.st_mtim.tv_sec >= max_age) unlinkat(dirfd, de->d_name, 0);
    }
    closedir(dir);
}

int ss_lock_acquire(int workfd, pid_t *holder)
{
    if (holder) *holder = 0;
    int fd = openat(workfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
            if (holder && fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
                *holder = q.l_pid;
            e = EAGAIN;
        }
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

pid_t ss_lock_probe(int workfd)
{
    int fd = openat(workfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    /* F_GETLK with F_WRLCK needs no write access: it only asks who conflicts. */
    int r = fcntl(fd, F_GETLK, &q);
    int e = errno;
    close(fd);
    if (r != 0) { errno = e; return -1; }
    return q.l_type == F_UNLCK ? 0 : q.l_pid;
}

static char crash_at[64];
static long crash_n, crash_seen;

void ss_crash_init(void)
{
    const char *e = getenv("SPEECH_SESSION_CRASH_AT");
    crash_at[0] = 0;
    crash_seen = 0;
    crash_n = 1;
    if (!e || !*e) return;
    snprintf(crash_at, sizeof crash_at, "%s", e);
    char *colon = strchr(crash_at, ':');
    if (colon) {
        *colon = 0;
        crash_n = atol(colon + 1);
        if (crash_n < 1) crash_n = 1;
    }
}

void ss_crash_point(const char *point)
{
    if (crash_at[0] && strcmp(crash_at, point) == 0 && ++crash_seen >= crash_n)
        raise(strcmp(point, "loading") ? SIGKILL : SIGSTOP);   /* "loading": a hang, not a crash */
}
