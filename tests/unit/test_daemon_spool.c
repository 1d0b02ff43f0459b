/* The spool on a real temporary directory: claim, attempts, responses, quarantine, young
 * files, recovery and poison, private directories, the single-instance lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/ss_fs.h"
#include "daemon/ss_spool.h"
#include "harness.h"

static char root[256];

static void put(int dirfd, const char *name, const char *s)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return;
    if (write(fd, s, strlen(s)) < 0) {}
    close(fd);
}

static int count(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fdopendir(fd);
    if (!d) return -1;
    rewinddir(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) if (de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, ".."))) n++;
    closedir(d);
    return n;
}

static json_t *response(ss_spool *sp, const char *id)
{
    char name[200], *buf;
    size_t len;
    snprintf(name, sizeof name, "%s.json", id);
    struct stat st;
    if (ss_read_file(sp->respfd, name, 1 << 20, &buf, &len, &st) != 0) return NULL;
    json_t *j = json_loadb(buf, len, 0, NULL);
    free(buf);
    if ((st.st_mode & 0777) != 0600) { json_decref(j); return NULL; }
    return j;
}

static const char *code_of(json_t *j)
{
    return json_string_value(json_object_get(j, "error_code"));
}

#define REQ(id) "{\"id\":\"" id "\",\"audio_file\":\"/tmp/a.wav\",\"timestamp\":1}"

static void test_paths(ss_paths *p)
{
    char err[512];
    TEST("paths follow SPEECH_SESSION_ROOT; default names of the spec") {
        CHECK(ss_paths_init(p, err, sizeof err) == 0);
        char want[400];
        snprintf(want, sizeof want, "%s/speech_session_requests", root);
        CHECK(!strcmp(p->req_dir, want));
        snprintf(want, sizeof want, "%s/session_daemon_status.json", root);
        CHECK(!strcmp(p->status, want));
        setenv("SPEECH_SESSION_ROOT", "relative", 1);
        ss_paths q;
        CHECK(ss_paths_init(&q, err, sizeof err) != 0);
        unsetenv("SPEECH_SESSION_ROOT");
        CHECK(ss_paths_init(&q, err, sizeof err) == 0 && !strcmp(q.req_dir, "/tmp/speech_session_requests"));
        CHECK(!strcmp(q.marker, "/tmp/session_daemon_active") && !strcmp(q.pid, "/tmp/session_daemon.pid"));
        CHECK(!strcmp(q.resp_dir, "/tmp/speech_session_responses") && !strcmp(q.log, "/tmp/session_daemon.log"));
        setenv("SPEECH_SESSION_ROOT", root, 1);
    }
}

static void test_spool_open(const ss_paths *p, ss_spool *sp)
{
    char err[512];
    TEST("spool open creates private directories 0700") {
        CHECK(ss_spool_open(sp, p, err, sizeof err) == 0);
        struct stat st;
        CHECK(stat(p->req_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(stat(p->work_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    }
}

static void test_dir_open(void)
{
    char err[512];
    TEST("directories: symlink refused, loose mode fixed") {
        int rfd = open(root, O_RDONLY | O_DIRECTORY);
        CHECK(symlinkat("/etc", rfd, "evil") == 0);
        CHECK(ss_dir_open(rfd, "evil", err, sizeof err) < 0 && strstr(err, "symlink"));
        CHECK(mkdirat(rfd, "loose", 0777) == 0 && fchmodat(rfd, "loose", 0777, 0) == 0);
        int fd = ss_dir_open(rfd, "loose", err, sizeof err);
        struct stat st;
        CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0700);
        close(fd);
        put(rfd, "file", "x");
        CHECK(ss_dir_open(rfd, "file", err, sizeof err) < 0);
        close(rfd);
    }
}

static void test_valid_request(ss_spool *sp, double now, double wall)
{
    TEST("valid request: claim, begin, finish; response 0600; nothing left") {
        put(sp->reqfd, "r1.json", REQ("r1"));
        ss_item *it = NULL;
        CHECK(ss_spool_ingest(sp, "r1.json", now, wall, &it) == SS_ING_CLAIMED && it);
        CHECK(faccessat(sp->reqfd, "r1.json", F_OK, 0) != 0);
        CHECK(faccessat(sp->procfd, "r1.0", F_OK, 0) == 0);
        CHECK(ss_spool_begin(sp, it) == 0 && it->attempts == 1);
        CHECK(faccessat(sp->procfd, "r1.1", F_OK, 0) == 0);
        CHECK(ss_spool_finish(sp, it, "{\"id\":\"r1\",\"results\":[]}") == 0);
        CHECK(count(sp->procfd) == 0 && count(sp->tmpfd) == 0);
        json_t *j = response(sp, "r1");
        CHECK(j != NULL);
        json_decref(j);
        ss_item_free(it);
    }
}

static void test_ignored_names(ss_spool *sp, double now, double wall)
{
    TEST("ignored names: dot files, temp suffixes, other case") {
        ss_item *it = NULL;
        put(sp->reqfd, ".x.json", REQ("x"));
        put(sp->reqfd, "x.json.tmp", REQ("x"));
        put(sp->reqfd, "x.JSON", REQ("x"));
        CHECK(ss_spool_ingest(sp, ".x.json", now, wall, &it) == SS_ING_IGNORED);
        CHECK(ss_spool_ingest(sp, "x.json.tmp", now, wall, &it) == SS_ING_IGNORED);
        CHECK(ss_spool_ingest(sp, "x.JSON", now, wall, &it) == SS_ING_IGNORED);
        unlinkat(sp->reqfd, ".x.json", 0);
        unlinkat(sp->reqfd, "x.json.tmp", 0);
        unlinkat(sp->reqfd, "x.JSON", 0);
    }
}

static void test_invalid_stem(ss_spool *sp, double now, double wall)
{
    TEST("invalid stem quarantined without a response; bad id answered to the stem") {
        ss_item *it = NULL;
        int q0 = count(sp->quarfd);
        put(sp->reqfd, "a b.json", REQ("a b"));
        CHECK(ss_spool_ingest(sp, "a b.json", now, wall, &it) == SS_ING_REJECTED);
        CHECK(count(sp->quarfd) == q0 + 1);
        put(sp->reqfd, "s1.json", REQ("../x"));
        CHECK(ss_spool_ingest(sp, "s1.json", now, wall, &it) == SS_ING_REJECTED);
        json_t *j = response(sp, "s1");
        CHECK(j && !strcmp(code_of(j), "bad_id"));
        json_decref(j);
        CHECK(faccessat(sp->respfd, "..", F_OK, 0) == 0 && count(sp->quarfd) == q0 + 2);
    }
}

static void empty_dir(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) return;
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlinkat(dirfd, de->d_name, 0);
    closedir(d);
}

/* quarantine/ keeps at most 1000 files and 64 MiB, the oldest going first (a client stuck
 * sending bad requests had filled /tmp for --quarantine-max-age, 7 days) */
static void test_quarantine_bounded(ss_spool *sp, double now, double wall)
{
    TEST("quarantine bounded: 1000 files, 64 MiB, the oldest removed first") {
        empty_dir(sp->quarfd);
        char name[64];
        for (int i = 0; i < 1000; i++) {   /* a full quarantine, aged in name order */
            snprintf(name, sizeof name, "old%04d.json~1-1-%d", i, i);
            put(sp->quarfd, name, "{}");
            struct timespec t[2] = { { 1000000 + i, 0 }, { 1000000 + i, 0 } };
            utimensat(sp->quarfd, name, t, 0);
        }
        ss_item *it = NULL;
        put(sp->reqfd, "a b.json", REQ("a b"));
        CHECK(ss_spool_ingest(sp, "a b.json", now, wall, &it) == SS_ING_REJECTED);
        CHECK(count(sp->quarfd) == 1000);
        CHECK(faccessat(sp->quarfd, "old0000.json~1-1-0", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
        CHECK(faccessat(sp->quarfd, "old0001.json~1-1-1", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
        /* over the byte bound (a 65 MiB file, sparse, halfway in age): the oldest go until
         * the total is within it, the big one the last of them */
        int fd = openat(sp->quarfd, "old0500.json~1-1-500", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && ftruncate(fd, 65ll << 20) == 0);
        if (fd >= 0) close(fd);
        struct timespec t0[2] = { { 1000500, 0 }, { 1000500, 0 } };
        utimensat(sp->quarfd, "old0500.json~1-1-500", t0, 0);
        put(sp->reqfd, "c d.json", REQ("c d"));
        CHECK(ss_spool_ingest(sp, "c d.json", now, wall, &it) == SS_ING_REJECTED);
        CHECK(faccessat(sp->quarfd, "old0499.json~1-1-499", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
        CHECK(faccessat(sp->quarfd, "old0500.json~1-1-500", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
        CHECK(faccessat(sp->quarfd, "old0501.json~1-1-501", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(count(sp->quarfd) == 501);
        empty_dir(sp->quarfd);   /* for the tests after this one */
    }
}

static void test_young_then_complete(ss_spool *sp, double now, double wall)
{
    TEST("young file: not yet, then completed, claimed") {
        ss_item *it = NULL;
        put(sp->reqfd, "y1.json", "{\"id\":\"y1\",\"audio_");
        CHECK(ss_spool_ingest(sp, "y1.json", now, wall, &it) == SS_ING_NOT_YET);
        CHECK(sp->n_young == 1 && ss_spool_next_young(sp) > now);
        put(sp->reqfd, "y1.json", REQ("y1"));
        ss_item *list = NULL;
        ss_spool_poll_young(sp, now + 1, wall, &list);
        CHECK(list && !strcmp(list->req.id, "y1") && sp->n_young == 0);
        ss_item_list_free(list);
        unlinkat(sp->procfd, "y1.0", 0);
    }
}

static void test_young_quiet(ss_spool *sp, double now, double wall)
{
    TEST("young file quiet for 2 s is malformed: error response + quarantine") {
        ss_item *it = NULL;
        put(sp->reqfd, "y2.json", "{\"id\":\"y2\",");
        CHECK(ss_spool_ingest(sp, "y2.json", now, wall, &it) == SS_ING_NOT_YET);
        CHECK(ss_spool_ingest(sp, "y2.json", now + 1, wall, &it) == SS_ING_NOT_YET);
        CHECK(ss_spool_ingest(sp, "y2.json", now + 2.5, wall, &it) == SS_ING_REJECTED);
        json_t *j = response(sp, "y2");
        CHECK(j && !strcmp(code_of(j), "bad_request") && json_array_size(json_object_get(j, "results")) == 0);
        json_decref(j);
        CHECK(sp->n_young == 0);
    }
}

static void test_young_stall(ss_spool *sp, double now, double wall)
{
    TEST("young file still growing hits the 30 s stall limit") {
        ss_item *it = NULL;
        put(sp->reqfd, "y3.json", "{");
        CHECK(ss_spool_ingest(sp, "y3.json", now, wall, &it) == SS_ING_NOT_YET);
        int r = SS_ING_NOT_YET;
        for (int i = 1; i <= 40 && r == SS_ING_NOT_YET; i++) {
            char b[64];
            snprintf(b, sizeof b, "{\"id\":\"y3\",\"x\":\"%0*d", i, 0);
            put(sp->reqfd, "y3.json", b);
            struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)(wall + i), 0 } };
            utimensat(sp->reqfd, "y3.json", ts, 0);
            r = ss_spool_ingest(sp, "y3.json", now + i, wall, &it);
            if (i < 30) CHECK(r == SS_ING_NOT_YET);
        }
        CHECK(r == SS_ING_REJECTED);
    }
}

static void test_special_files(ss_spool *sp, double now, double wall)
{
    TEST("symlink, FIFO, directory, oversize request files rejected at once") {
        ss_item *it = NULL;
        CHECK(symlinkat("/etc/passwd", sp->reqfd, "l1.json") == 0);
        CHECK(ss_spool_ingest(sp, "l1.json", now, wall, &it) == SS_ING_REJECTED);
        json_t *j = response(sp, "l1");
        CHECK(j && !strcmp(code_of(j), "bad_request_file"));
        json_decref(j);
        CHECK(access("/etc/passwd", F_OK) == 0);
        CHECK(mkfifoat(sp->reqfd, "f1.json", 0600) == 0);
        CHECK(ss_spool_ingest(sp, "f1.json", now, wall, &it) == SS_ING_REJECTED);
        CHECK(mkdirat(sp->reqfd, "d1.json", 0700) == 0);
        CHECK(ss_spool_ingest(sp, "d1.json", now, wall, &it) == SS_ING_REJECTED);
        int fd = openat(sp->reqfd, "big.json", O_WRONLY | O_CREAT, 0600);
        CHECK(fd >= 0 && ftruncate(fd, 1LL << 30) == 0);   /* sparse 1 GiB */
        close(fd);
        CHECK(ss_spool_ingest(sp, "big.json", now, wall, &it) == SS_ING_REJECTED);
        j = response(sp, "big");
        CHECK(j && !strcmp(code_of(j), "request_too_large"));
        json_decref(j);
        CHECK(count(sp->reqfd) == 0);
    }
    TEST("a rejected request that cannot be moved out is answered once, not at every look") {
        /* a non-empty directory, with quarantine/ unusable: neither moved nor removed */
        ss_item *it = NULL;
        CHECK(mkdirat(sp->reqfd, "st1.json", 0700) == 0);
        int dfd = openat(sp->reqfd, "st1.json", O_RDONLY | O_DIRECTORY);
        CHECK(dfd >= 0);
        if (dfd >= 0) put(dfd, "x", "x");
        const int q = sp->quarfd;
        sp->quarfd = -1;
        CHECK(ss_spool_ingest(sp, "st1.json", now, wall, &it) == SS_ING_REJECTED);
        const long n0 = sp->n_rejected;
        CHECK(unlinkat(sp->respfd, "st1.json", 0) == 0);   /* its client took the answer */
        CHECK(ss_spool_ingest(sp, "st1.json", now, wall, &it) == SS_ING_IGNORED);
        CHECK(sp->n_rejected == n0 && faccessat(sp->respfd, "st1.json", F_OK, 0) != 0);
        sp->quarfd = q;
        if (dfd >= 0) { unlinkat(dfd, "x", 0); close(dfd); }
        CHECK(unlinkat(sp->reqfd, "st1.json", AT_REMOVEDIR) == 0);
        CHECK(ss_spool_ingest(sp, "st1.json", now, wall, &it) == SS_ING_GONE);   /* its entry dropped */
        CHECK(sp->stuck == NULL);
    }
}

static void test_same_id_waits(ss_spool *sp, double now, double wall)
{
    TEST("same id queued twice: the second waits (no overwrite)") {
        ss_item *a = NULL, *b = NULL;
        put(sp->reqfd, "dup.json", REQ("dup"));
        CHECK(ss_spool_ingest(sp, "dup.json", now, wall, &a) == SS_ING_CLAIMED);
        put(sp->reqfd, "dup.json", REQ("dup"));
        CHECK(ss_spool_ingest(sp, "dup.json", now, wall, &b) == SS_ING_NOT_YET);
        CHECK(ss_spool_finish(sp, a, "{}") == 0);
        CHECK(ss_spool_ingest(sp, "dup.json", now + 1, wall, &b) == SS_ING_CLAIMED);
        CHECK(ss_spool_finish(sp, b, "{}") == 0);
        ss_item_free(a);
        ss_item_free(b);
        unlinkat(sp->respfd, "dup.json", 0);
    }
}

static void test_scan_order(ss_spool *sp, double now, double wall)
{
    TEST("scan claims in mtime order, then name") {
        const char *names[] = { "c3.json", "a1.json", "b2.json" };
        const char *ids[] = { "c3", "a1", "b2" };
        for (int i = 0; i < 3; i++) {
            char b[200];
            snprintf(b, sizeof b, "{\"id\":\"%s\",\"audio_file\":\"/a\",\"timestamp\":1}", ids[i]);
            put(sp->reqfd, names[i], b);
            struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000 + i, 0 } };
            utimensat(sp->reqfd, names[i], ts, 0);
        }
        ss_item *list = NULL;
        sp->age_by_mtime = 1;   /* the start's scan */
        CHECK(ss_spool_scan(sp, now, wall, &list) == 3);
        sp->age_by_mtime = 0;
        CHECK(list && !strcmp(list->req.id, "c3") && !strcmp(list->next->req.id, "a1") &&
              !strcmp(list->next->next->req.id, "b2"));
        /* old files found at the start are aged by their mtime (for expiry) */
        CHECK(list && list->receipt < now - 3600);
        ss_item_list_free(list);
    }
    TEST("a request arriving while the daemon runs ages from its receipt, not its mtime") {
        put(sp->reqfd, "m1.json", "{\"id\":\"m1\",\"audio_file\":\"/a\",\"timestamp\":1}");
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000, 0 } };
        utimensat(sp->reqfd, "m1.json", ts, 0);
        ss_item *it = NULL;
        CHECK(ss_spool_ingest(sp, "m1.json", now, wall, &it) == SS_ING_CLAIMED);
        CHECK(it && it->receipt == now);
        if (it) CHECK(ss_spool_finish(sp, it, "{}") == 0);
        ss_item_free(it);
    }
}

static void test_recover(ss_spool *sp, double now, double wall)
{
    TEST("recover: leftovers re-queued; two attempts = poison, answered and quarantined") {
        /* c3.0, a1.0, b2.0 are in processing/ now; make b2 a twice-crashed one */
        CHECK(renameat(sp->procfd, "b2.0", sp->procfd, "b2.2") == 0);
        put(sp->procfd, "junk", "x");
        ss_item *list = NULL;
        CHECK(ss_spool_recover(sp, now, wall, &list) == 2);
        int n = 0;
        for (ss_item *i = list; i; i = i->next) n++;
        CHECK(n == 2);
        json_t *j = response(sp, "b2");
        CHECK(j && !strcmp(code_of(j), "poison"));
        json_decref(j);
        for (ss_item *i = list; i; i = i->next) CHECK(ss_spool_finish(sp, i, "{}") == 0);
        ss_item_list_free(list);
        CHECK(count(sp->procfd) == 0);
    }
}

static void test_begin_unbegin(ss_spool *sp, double now, double wall)
{
    TEST("begin/unbegin keep the attempt count honest") {
        put(sp->reqfd, "u1.json", REQ("u1"));
        ss_item *it = NULL;
        CHECK(ss_spool_ingest(sp, "u1.json", now, wall, &it) == SS_ING_CLAIMED);
        CHECK(ss_spool_begin(sp, it) == 0 && ss_spool_unbegin(sp, it) == 0 && it->attempts == 0);
        CHECK(faccessat(sp->procfd, "u1.0", F_OK, 0) == 0);
        CHECK(ss_spool_finish(sp, it, "{}") == 0);
        ss_item_free(it);
    }
}

static void test_spool_dir_removed(const ss_paths *p, ss_spool *sp)
{
    char err[512];
    TEST("spool directory removed while running: check recreates it") {
        CHECK(ss_spool_check(sp, err, sizeof err) == 0);
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->req_dir);
        CHECK(system(cmd) == 0);
        CHECK(ss_spool_check(sp, err, sizeof err) == 1);
        struct stat st;
        CHECK(stat(p->req_dir, &st) == 0 && S_ISDIR(st.st_mode));
        put(sp->reqfd, "after.json", REQ("after"));
        CHECK(access(p->req_dir, F_OK) == 0 && faccessat(sp->reqfd, "after.json", F_OK, 0) == 0);
        unlinkat(sp->reqfd, "after.json", 0);
    }
}

static void test_atomic_write(ss_spool *sp)
{
    TEST("atomic write: 0600, no temp left, replaces") {
        CHECK(ss_write_atomic(sp->rootfd, "st.json", "{}", 2, 1) == 0);
        CHECK(ss_write_atomic(sp->rootfd, "st.json", "{\"a\":1}", 7, 0) == 0);
        struct stat st;
        CHECK(fstatat(sp->rootfd, "st.json", &st, 0) == 0 && st.st_size == 7 && (st.st_mode & 0777) == 0600);
        CHECK(count(sp->tmpfd) == 0);
    }
}

static void test_atomic_write_temps(ss_spool *sp)
{
    TEST("atomic write: the temp lives in the destination dir; failure leaves none") {
        int dfd = ss_dir_open(sp->rootfd, "dst", NULL, 0);
        CHECK(dfd >= 0);
        CHECK(mkdirat(dfd, "sq.json", 0700) == 0);        /* a directory squats the name */
        errno = 0;
        CHECK(ss_write_atomic(dfd, "sq.json", "{}", 2, 0) != 0 && errno == EISDIR);
        CHECK(count(dfd) == 1);                           /* only the squatter */
        CHECK(ss_write_atomic(dfd, "a.json", "{}", 2, 0) == 0 && count(dfd) == 2);
        errno = 0;
        CHECK(ss_write_atomic(dfd, "a.json", "{\"x\":1}", 7, SS_WA_NOREPLACE) != 0 &&
              errno == EEXIST);
        struct stat st;
        CHECK(fstatat(dfd, "a.json", &st, 0) == 0 && st.st_size == 2 && count(dfd) == 2);
        /* temps of a killed writer are dot-names, removed by ss_clean_temps */
        put(dfd, SS_TMP_PREFIX "a.json.1-1", "x");
        put(dfd, ".client.tmp", "y");
        ss_clean_temps(dfd, 0);
        CHECK(faccessat(dfd, SS_TMP_PREFIX "a.json.1-1", F_OK, 0) != 0);
        CHECK(faccessat(dfd, ".client.tmp", F_OK, 0) == 0);
        unlinkat(dfd, ".client.tmp", 0);
        unlinkat(dfd, "a.json", 0);
        unlinkat(dfd, "sq.json", AT_REMOVEDIR);
        close(dfd);
    }
}

static void test_same_id_twin(ss_spool *sp, double now, double wall)
{
    TEST("same id: a twin queued or in flight marks the second a duplicate") {
        ss_item *a = NULL, *b = NULL;
        put(sp->reqfd, "tw.json", REQ("tw"));
        CHECK(ss_spool_ingest(sp, "tw.json", now, wall, &a) == SS_ING_CLAIMED && !a->duplicate);
        CHECK(ss_spool_begin(sp, a) == 0 && ss_spool_in_flight(sp, "tw"));
        put(sp->reqfd, "tw.json", REQ("tw"));          /* the first is in flight: claimed */
        CHECK(ss_spool_ingest(sp, "tw.json", now, wall, &b) == SS_ING_CLAIMED && b->duplicate);
        CHECK(ss_spool_finish(sp, a, "{}") == 0 && !ss_spool_in_flight(sp, "tw"));
        CHECK(ss_spool_discard(sp, b) == 0 && count(sp->procfd) == 0);
        ss_item_free(a);
        ss_item_free(b);
        unlinkat(sp->respfd, "tw.json", 0);
    }
}

static void test_single_instance_lock(ss_spool *sp)
{
    TEST("single-instance lock: second holder refused, probe names the owner") {
        CHECK(ss_lock_probe(sp->workfd) == 0);
        pid_t holder = 0;
        int lfd = ss_lock_acquire(sp->workfd, &holder);
        CHECK(lfd >= 0);
        pid_t child = fork();
        if (child == 0) {
            pid_t h = 0;
            int fd = ss_lock_acquire(sp->workfd, &h);
            _exit(fd < 0 && errno == EAGAIN && h == getppid() && ss_lock_probe(sp->workfd) == getppid() ? 0 : 1);
        }
        int st = 0;
        waitpid(child, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(lfd);
        CHECK(ss_lock_probe(sp->workfd) == 0);
    }
}

int main(void)
{
    strcpy(root, "/tmp/ss-unit-spool.XXXXXX");
    if (!mkdtemp(root)) return 1;
    setenv("SPEECH_SESSION_ROOT", root, 1);
    ss_paths p;
    ss_spool sp;
    double now = 1000.0, wall = ss_wall_now();

    test_paths(&p);
    test_spool_open(&p, &sp);
    test_dir_open();
    test_valid_request(&sp, now, wall);
    test_ignored_names(&sp, now, wall);
    test_invalid_stem(&sp, now, wall);
    test_quarantine_bounded(&sp, now, wall);
    test_young_then_complete(&sp, now, wall);
    test_young_quiet(&sp, now, wall);
    test_young_stall(&sp, now, wall);
    test_special_files(&sp, now, wall);
    test_same_id_waits(&sp, now, wall);
    test_scan_order(&sp, now, wall);
    test_recover(&sp, now, wall);
    test_begin_unbegin(&sp, now, wall);
    test_spool_dir_removed(&p, &sp);
    test_atomic_write(&sp);
    test_atomic_write_temps(&sp);
    test_same_id_twin(&sp, now, wall);
    test_single_instance_lock(&sp);
    ss_spool_close(&sp);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) {}
    TEST_EXIT();
}
