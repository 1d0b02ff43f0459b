/* ss_log.h — the event log of the session programs (session_daemon.log, the key
 * listener's log): one line per event,
 * "2026-01-02T03:04:05.678Z 1234 INFO message". The file is opened O_APPEND|O_NOFOLLOW and
 * checked (regular, ours, one link) so a squatted or symlinked log is refused (T2); lines
 * are written with one write(2); the file is rotated to <log>.1 past max_bytes (T26).
 * Callers escape untrusted strings with ss_escape(). Thread-safe: ss_log_msg and
 * ss_log_close take one process-wide lock (ss_log_open is called before threads start, or
 * on a logger no other thread uses yet). */
#ifndef SS_LOG_H
#define SS_LOG_H

#include <stddef.h>

typedef struct {
    int fd;              /* -1: file logging off (refused or failed) */
    int to_stderr;
    size_t max_bytes;
    char path[4200];
} ss_log;

int ss_log_open(ss_log *l, const char *path, int to_stderr, size_t max_bytes,
                char *err, size_t n);
void ss_log_msg(ss_log *l, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ss_log_close(ss_log *l);
/* The same path opened anew (SIGHUP after logrotate), as ss_log_open checks it; on failure
 * (err set) the logger keeps the file it had, so no line is dropped. Thread-safe. */
int ss_log_reopen(ss_log *l, char *err, size_t n);

#endif
