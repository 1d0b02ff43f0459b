/* sh_upload.c — see sh_upload.h. */
#include "http/sh_upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static atomic_uint upload_seq;

int sh_upload_create(int dirfd, char name[SH_UPLOAD_NAME_MAX])
{
    for (int tries = 0; tries < 8; tries++) {
        unsigned long long r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
            r = (unsigned long long)rand() ^ ((unsigned long long)tries << 40);
        snprintf(name, SH_UPLOAD_NAME_MAX, "up-%ld-%u-%016llx", (long)getpid(),
                 atomic_fetch_add(&upload_seq, 1), r);
        int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        if (errno != EEXIST) return -1;
    }
    errno = EEXIST;
    return -1;
}

int sh_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int upload_pid(const char *name, long *pid)
{
    if (strncmp(name, "up-", 3) != 0) return 0;
    char *end;
    errno = 0;
    long p = strtol(name + 3, &end, 10);
    if (errno || end == name + 3 || *end != '-' || p <= 0) return 0;
    *pid = p;
    return 1;
}

static int walk(int dirfd, int sweep)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return -1; }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        if (!upload_pid(e->d_name, &pid)) continue;
        if (!sweep) { count++; continue; }
        if (pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* alive (or not ours) */
        if (unlinkat(dirfd, e->d_name, 0) == 0) count++;
    }
    closedir(d);
    return count;
}

int sh_upload_sweep(int dirfd) { return walk(dirfd, 1); }
int sh_upload_count(int dirfd) { return walk(dirfd, 0); }
