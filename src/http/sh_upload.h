/* sh_upload.h — private storage of uploaded audio for the HTTP front end.
 *
 * Uploads live in a private directory (0700, ours, not a symlink: the caller opens it with
 * ss_dir_open) as files "up-<pid>-<seq>-<random>" created O_EXCL|O_NOFOLLOW with mode 0600,
 * so no other user can read, pre-create or redirect them. Only libc here: this file sits in
 * build/<v>/libhttp.a, which links after the session client's archive.
 *
 * Contracts: 0 on success, -1 with errno set; the caller unlinks what it created (the server
 * does so in its request-completed callback, whatever happened). */
#ifndef SH_UPLOAD_H
#define SH_UPLOAD_H

#include <stddef.h>

#define SH_UPLOAD_NAME_MAX 64

/* Creates a fresh upload file in dirfd; returns the fd (O_RDWR|O_CLOEXEC: the server reads its
 * first bytes back to sniff them) and its name. */
int sh_upload_create(int dirfd, char name[SH_UPLOAD_NAME_MAX]);

/* Writes all of data (retrying short writes and EINTR). */
int sh_write_all(int fd, const void *data, size_t len);

/* Removes uploads left behind by servers that are gone (their pid no longer exists): the
 * state after a SIGKILL or a crash. Returns how many were removed. */
int sh_upload_sweep(int dirfd);

/* Counts the entries of dirfd that look like uploads (tests, /health). */
int sh_upload_count(int dirfd);

#endif
