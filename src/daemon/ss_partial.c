/* ss_partial.c — see ss_partial.h. */
#include "daemon/ss_partial.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/ss_fs.h"

#define SUFFIX ".partial"

static void name_of(const char *id, char *buf, size_t n)
{
    snprintf(buf, n, ".%s" SUFFIX, id);
}

int ss_partial_name(const char *name)
{
    size_t len = strlen(name), sl = strlen(SUFFIX);
    return name[0] == '.' && len > sl + 1 && strcmp(name + len - sl, SUFFIX) == 0;
}

int ss_partial_open(int respfd, const char *id)
{
    char name[SS_ID_MAX + 16];
    name_of(id, name, sizeof name);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = openat(respfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND |
                        O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        if (errno != EEXIST) return -1;
        /* left by an earlier request with this id (a crash between the final rename and
         * the unlink): ours only, and never a directory */
        struct stat st;
        if (fstatat(respfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != geteuid() ||
            S_ISDIR(st.st_mode) || unlinkat(respfd, name, 0) != 0) {
            errno = EEXIST;
            return -1;
        }
    }
    return -1;
}

int ss_partial_append(int fd, const char *lines, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(lines, '\n', len);
        if (!nl) return 0;   /* never half a line */
        size_t n = (size_t)(nl - lines) + 1;
        ssize_t w = write(fd, lines, n);
        if (w < 0 && errno == EINTR) continue;
        if (w != (ssize_t)n) {
            if (w >= 0) errno = ENOSPC;   /* a short write: a full file system */
            return -1;
        }
        lines += n;
        len -= n;
    }
    return 0;
}

void ss_partial_remove(int respfd, int fd, const char *id)
{
    char name[SS_ID_MAX + 16];
    if (fd >= 0) close(fd);
    name_of(id, name, sizeof name);
    struct stat st;
    if (fstatat(respfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        st.st_uid == geteuid())
        unlinkat(respfd, name, 0);
}

int ss_partial_clean(int respfd)
{
    int fd = dup(respfd), n = 0;
    if (fd < 0) return 0;
    DIR *dir = fdopendir(fd);
    if (!dir) { close(fd); return 0; }
    rewinddir(dir);
    struct dirent *de;
    while ((de = readdir(dir))) {
        struct stat st;
        if (!ss_partial_name(de->d_name)) continue;
        if (fstatat(respfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (unlinkat(respfd, de->d_name, 0) == 0) n++;
    }
    closedir(dir);
    return n;
}
