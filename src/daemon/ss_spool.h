/* ss_spool.h — the request/response spool (spool-reliability.md T1–T11, T18–T21, T23).
 *
 * Life of a request file "<id>.json" in speech_session_requests/:
 *   ingest: opened O_NOFOLLOW|O_NONBLOCK, checked (regular, ours, <= 64 KiB), parsed strictly.
 *     - incomplete JSON from a young file: tracked, re-read every 0.25 s; after 2 s without
 *       change (or 30 s in all) it is malformed: error response + quarantine (T6, T7);
 *     - schema errors: error response to the file-name id + quarantine (T9, T10);
 *     - valid: claimed by renameat2(NOREPLACE) into the private processing/ dir as
 *       "<id>.0" and returned as an ss_item (T18).
 *   begin: processing/<id>.K renamed to <id>.K+1 before model work (attempt count, T19).
 *   finish: response written to tmp/, renamed to speech_session_responses/<id>.json, and only
 *     then processing/<id>.K unlinked (at-least-once, never a half-written response).
 *   recover (start): everything left in processing/ is re-queued by age; an item that already
 *     had SS_MAX_ATTEMPTS attempts is answered "poison" and quarantined.
 * The directory listing is the truth: ss_spool_scan() walks the request directory.
 * All file operations are relative to verified directory fds. Not thread-safe: the loop
 * thread owns the spool. */
#ifndef SS_SPOOL_H
#define SS_SPOOL_H

#include <stddef.h>
#include <sys/types.h>
#include "session/ss_fs.h"
#include "session/ss_json.h"
#include "session/ss_log.h"

#define SS_QUIET_S 2.0       /* an unparsable file unchanged this long is malformed */
#define SS_STALL_S 30.0      /* an unparsable file is malformed after this long in any case */
#define SS_YOUNG_POLL_S 0.25

typedef struct ss_item {
    struct ss_item *next;
    ss_request req;
    int attempts;            /* the K of processing/<id>.K */
    double receipt;          /* monotonic seconds, for FIFO and TTL (T11, T23) */
    int duplicate;           /* another request with this id was queued or in flight when
                                this one was claimed: answered "duplicate_id", never run */
} ss_item;

typedef struct ss_young {
    struct ss_young *next;
    char name[SS_ID_MAX + 6];
    double first_seen, last_change, next_check;
    long long size, mtime_ns;
    int twin;                /* its claim met a queued request with the same id */
    double backoff;          /* > 0: its error response could not be written yet (disk
                              * full...): the file stays and is answered later */
} ss_young;

/* A request file answered and rejected but impossible to move out of requests/ (a read-only
 * or foreign directory): not looked at again while it is the same file. */
typedef struct ss_stuck {
    struct ss_stuck *next;
    char name[SS_ID_MAX + 6];
    unsigned long long ino;
    long long mtime_ns;
} ss_stuck;

/* A request recovered at start that must be answered with an error (poison, unreadable)
 * when the answer could not be written for a reason that may clear (a full disk): its file
 * stays in processing/ and every rescan tries again (T21: answered once space returns; it
 * had been quarantined unanswered). */
typedef struct ss_owed {
    struct ss_owed *next;
    char pname[SS_ID_MAX + 16];   /* its name in processing/ */
    char id[SS_ID_MAX + 1];
    const char *code, *msg;       /* static strings */
} ss_owed;

typedef struct {
    ss_paths paths;
    int rootfd, reqfd, respfd, workfd, procfd, quarfd, tmpfd;
    int lockfd;              /* the single-instance lock on work/lock, -1 when not held: the
                              * daemon's (ss_spool_take_lock); re-taken by ss_spool_check */
    long lock_lost;          /* the work directory was removed and another daemon took the
                              * lock of the recreated one: its pid (-1 unknown); 0 while ours */
    int reopened;            /* set whenever a spool directory was recreated (the caller
                              * re-watches and clears it) */
    int fsync_responses;
    const char *device;      /* for error responses written by the spool */
    int session_active;
    ss_log *log;             /* may be NULL */
    ss_young *young;
    long n_young;
    long n_rejected;
    ss_stuck *stuck;
    ss_owed *owed;
    int age_by_mtime;        /* set for the start's scan: files found then age from their
                              * mtime; later arrivals from their receipt (T11) */
} ss_spool;

/* Write errors that may clear by themselves (space freed, quota raised, a transient I/O or
 * resource shortage): worth retrying. Anything else fails the same way forever. */
int ss_write_error_clears(int e);

/* Creates and verifies every directory; holds their fds. Returns 0 or -1 with err. */
int ss_spool_open(ss_spool *sp, const ss_paths *paths, char *err, size_t n);
void ss_spool_close(ss_spool *sp);
/* T5: if the request, response or work directory (processing/, quarantine/, tmp/) was
 * removed or replaced, recreate and re-verify it (the rules of ss_spool_open); if the lock
 * file went with it (or alone), take the lock again on the new one. Returns 1 if a directory
 * was reopened (the caller re-watches and rescans), 0 if all is well, -1 on failure (err set;
 * lock_lost set when another daemon holds the new lock: this one must stop serving). */
int ss_spool_check(ss_spool *sp, char *err, size_t n);
/* Takes the single-instance lock on work/lock (held in sp->lockfd, closed by
 * ss_spool_close). 0, or -1 with errno (EAGAIN: *holder holds it). */
int ss_spool_take_lock(ss_spool *sp, pid_t *holder);

typedef enum {
    SS_ING_IGNORED = 0,   /* not a request name (temp files of atomic writers, ...) */
    SS_ING_GONE,          /* vanished before we could claim it */
    SS_ING_NOT_YET,       /* incomplete, tracked as young */
    SS_ING_CLAIMED,       /* *out is a new item (caller frees with ss_item_free) */
    SS_ING_REJECTED,      /* answered with an error (if it had an id) and quarantined */
} ss_ingest_result;

/* Looks at one name of the request directory. now: monotonic; wall: Unix time. */
ss_ingest_result ss_spool_ingest(ss_spool *sp, const char *name, double now, double wall,
                                 ss_item **out);
/* Walks the request directory and ingests every entry, appending claimed items to
 * *list in (mtime, name) order. Returns the number claimed, or -1 if the directory could not
 * be read. */
long ss_spool_scan(ss_spool *sp, double now, double wall, ss_item **list);
/* Re-ingests young files whose recheck time has come; claimed items appended to *list. */
void ss_spool_poll_young(ss_spool *sp, double now, double wall, ss_item **list);
/* Earliest young recheck time (monotonic), or 0 when none. */
double ss_spool_next_young(const ss_spool *sp);

/* Moves processing/ leftovers into *list (oldest first); answers poison ones. */
long ss_spool_recover(ss_spool *sp, double now, double wall, ss_item **list);

int ss_spool_begin(ss_spool *sp, ss_item *it);     /* K -> K+1 before model work */
int ss_spool_unbegin(ss_spool *sp, ss_item *it);   /* K+1 -> K (cancelled by shutdown) */
/* Writes json as responses/<id>.json (temp + rename), then unlinks processing/<id>.K.
 * Returns 0, or -1 (errno; e.g. ENOSPC: the item stays, retry later). */
int ss_spool_finish(ss_spool *sp, ss_item *it, const char *json);
/* The same with ss_write_atomic flags added (SS_WA_NOREPLACE: keep an existing response). */
int ss_spool_finish_ex(ss_spool *sp, ss_item *it, const char *json, int flags);
/* Moves processing/<id>.K of an item that cannot be answered into quarantine/. */
int ss_spool_discard(ss_spool *sp, ss_item *it);
/* 1 when a request with this id has begun (processing/<id>.K, K >= 1, exists). */
int ss_spool_in_flight(ss_spool *sp, const char *id);
/* Error response to id (temp + rename). */
int ss_spool_respond_error(ss_spool *sp, const char *id, const char *code, const char *msg);
/* Moves dirfd/name into quarantine/ under a sanitised unique name. */
int ss_spool_quarantine(ss_spool *sp, int dirfd, const char *name);

void ss_item_free(ss_item *it);
void ss_item_list_free(ss_item *list);

#endif
