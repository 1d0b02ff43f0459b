/* ss_fs.h — the spool's file-system layer, shared by every session program (daemon, client
 * library, HTTP server, key listener, benches): the path set under SPEECH_SESSION_ROOT,
 * request-name validation, private directories (T1), bounded safe reads and temp+rename
 * writes in the destination directory (T2, T20), and the single-instance lock (T24).
 *
 * Contracts: functions return 0 on success and -1 on failure with errno set (and, where an
 * err buffer is given, a one-line message). Directory fds are O_DIRECTORY|O_CLOEXEC and were
 * verified: a directory, not a symlink, owned by geteuid(), mode 0700 (fixed if ours). */
#ifndef SS_FS_H
#define SS_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "session/ss_clock.h"   /* ss_wall_now, ss_mono_now (callers of the fs layer use both) */

#define SS_ID_MAX 128            /* stem length limit, ^[A-Za-z0-9_-]{1,128}$ */
#define SS_REQUEST_MAX 65536     /* request files larger than this are refused */

/* Names relative to the root; the root defaults to /tmp (the spec's exact names). */
#define SS_REQ_DIR     "speech_session_requests"
#define SS_RESP_DIR    "speech_session_responses"
#define SS_STATUS_FILE "session_daemon_status.json"
#define SS_MARKER_FILE "session_daemon_active"
#define SS_PID_FILE    "session_daemon.pid"
#define SS_LOG_FILE    "session_daemon.log"
#define SS_WORK_DIR    "speech_session_work"  /* private: lock, processing/, quarantine/, tmp/ */
/* work/processing/{id}.K: a claimed request, K = the attempts begun on it (0 .. SS_MAX_ATTEMPTS;
 * the daemon's claim and begin rename it there, its finish unlinks it after the response is
 * in place): clients look there for a request that left the request directory (ssc_wait_step) */
#define SS_PROC_DIR    "processing"
#define SS_MAX_ATTEMPTS 2

typedef struct {
    char root[4096];
    char req_dir[4200], resp_dir[4200], work_dir[4200];
    char status[4200], marker[4200], pid[4200], log[4200];
} ss_paths;

/* Fills p from $SPEECH_SESSION_ROOT (default "/tmp"). The root must be absolute. */
int ss_paths_init(ss_paths *p, char *err, size_t n);

/* Opens the root (O_DIRECTORY|O_CLOEXEC), creating it first (0700) when it does not exist:
 * its last component only, the parent must exist (systemd's %t, $XDG_RUNTIME_DIR, does).
 * A root named by SPEECH_SESSION_ROOT is refused (EPERM) when another
 * user than us or root owns it, or when others may write it and it is not sticky (they could
 * rename our directories away and put theirs in place); the default /tmp is taken as it
 * is. Returns the fd, or -1 with errno and a message. */
int ss_root_open(const ss_paths *p, char *err, size_t n);

/* 1 when name is "<stem>.json" with stem ^[A-Za-z0-9_-]{1,128}$; stem copied (if given). */
int ss_name_valid(const char *name, char stem[SS_ID_MAX + 1]);
int ss_id_valid(const char *id);

/* mkdir (0700) if missing, open O_DIRECTORY|O_NOFOLLOW, verify ownership (euid), fchmod
 * 0700. Refuses symlinks, non-directories and foreign directories. Returns the fd or -1. */
int ss_dir_open(int atfd, const char *name, char *err, size_t n);
/* 1 when atfd/name is still the file fd has open (not removed, not replaced) */
int ss_same_file(int atfd, const char *name, int fd);
/* atfd/name reopened (recreated, re-verified: ss_dir_open) into *fd unless it is still the
 * same directory (a /tmp cleaner removed it, T5). 1 reopened, 0 unchanged, -1 failure (err
 * set; *fd kept). */
int ss_dir_recheck(int atfd, const char *name, int *fd, char *err, size_t n);

/* Reads a whole regular file (opened with O_NOFOLLOW|O_NONBLOCK at dirfd/name) into a
 * malloc'd NUL-terminated buffer; max bytes. On success also returns its stat.
 * Returns 0, or -1 with errno: ELOOP symlink, EFTYPE-like EINVAL not regular, EFBIG too
 * large, EPERM foreign owner, others from the system. */
struct stat;
int ss_read_file(int dirfd, const char *name, size_t max, char **buf, size_t *len,
                 struct stat *st);

/* Writes data to a fresh temp file "<SS_TMP_PREFIX><dstname>.<pid>-<n>" created in dstdir
 * itself (0600, O_EXCL), fsyncs it when flags has SS_WA_FSYNC, then renames it to
 * dstdir/dstname: the rename never crosses a file system. With SS_WA_NOREPLACE an existing
 * dstname is kept (EEXIST). Returns 0 or -1 (errno kept; the temp is removed).
 * SS_WA_RESPONSE marks response writes (crash point "tmp_written"). Temps left by a killed
 * writer are dot-names, ignored by every reader; ss_clean_temps() removes them. */
#define SS_WA_FSYNC 1
#define SS_WA_RESPONSE 2
#define SS_WA_NOREPLACE 4
#define SS_TMP_PREFIX ".sstmp-"
int ss_write_atomic(int dstdir, const char *dstname, const void *data, size_t len, int flags);
/* Removes SS_TMP_PREFIX temps in dirfd older than max_age seconds (0: all); only regular
 * files owned by us. */
void ss_clean_temps(int dirfd, double max_age);

/* Single-instance lock on <work>/lock (a POSIX record lock, so F_GETLK names the owner).
 * ss_lock_acquire: returns the held fd, or -1 with errno EAGAIN when another process holds
 * it (*holder set), other errno on failure. ss_lock_probe: 0 free, >0 holder pid, -1 error. */
int ss_lock_acquire(int workfd, pid_t *holder);
pid_t ss_lock_probe(int workfd);

/* Fault injection for the crash tests (T18): when $SPEECH_SESSION_CRASH_AT is
 * "POINT" or "POINT:N", the process SIGKILLs itself the N-th time (default 1st) it reaches
 * POINT. Points: claimed, begun, tmp_written, responded; and loading, where the daemon
 * stops itself (SIGSTOP) before it loads the model instead, as one hung on a stalled mount
 * (the start-up timeout tests). ss_crash_init() reads the
 * environment (the daemon calls it once); unset, ss_crash_point() costs one branch. */
void ss_crash_init(void);
void ss_crash_point(const char *point);


#endif
