/* session_client.c — see session_client.h. */
#include "clients/session_client.h"
#include "session/ss_json.h"   /* SS_LANGUAGE_MAX, SS_PROMPT_MAX */
#include "common/dynbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RESPONSE_MAX (16u << 20)

struct ssc {
    ssc_opts o;
    ss_paths p;
    int rootfd, reqfd, respfd, workfd, ifd, wd;
    unsigned seq;
    double next_alive;   /* ssc_wait_step: when to look for a daemon that went away next */
    int cannot_start;    /* the last start failed in a way a retry cannot mend (usage, model) */
    char gone_id[SS_ID_MAX + 1];   /* ssc_wait_step: the request last found neither queued, */
    double gone_at;                /* claimed nor answered, and when (gone_id "": none) */
    unsigned work_gen;             /* the work directory's generation: +1 when it was replaced
                                    * (its new processing/ can reuse the old one's inode number,
                                    * so the identity below alone does not tell) */
    struct {                       /* the last requests written (a ring), with work_gen and */
        char id[SS_ID_MAX + 1];    /* processing/'s identity then (0: none yet) */
        unsigned gen;
        unsigned long long proc_dev, proc_ino;
    } sent[16];
    unsigned n_sent;
    unsigned started;              /* daemons this client started (ssc_daemons_started) */
};

ssc_opts ssc_default_opts(void)
{
    ssc_opts o = { .autostart = 1, .start_timeout = 120, .daemon_timeout = -1,
                   .max_audio_seconds = -1 };
    return o;
}

const ss_paths *ssc_paths(const ssc *c) { return &c->p; }

void ssc_free(ssc *c)
{
    if (!c) return;
    int fds[] = { c->rootfd, c->reqfd, c->respfd, c->workfd, c->ifd };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(c);
}

/* The inotify watch on the response directory (c->ifd made by ssc_open); IN_MODIFY: a
 * streaming request's partial file grew (ssc_wait_step) */
static void watch_responses(ssc *c)
{
    if (c->ifd >= 0)
        c->wd = inotify_add_watch(c->ifd, c->p.resp_dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ONLYDIR |
                                  IN_DONT_FOLLOW);
}

int ssc_open(ssc **out, const ssc_opts *o, char *err, size_t n)
{
    *out = NULL;
    ssc *c = calloc(1, sizeof *c);
    if (!c) { snprintf(err, n, "out of memory"); return -1; }
    c->o = o ? *o : ssc_default_opts();
    c->rootfd = c->reqfd = c->respfd = c->workfd = c->ifd = c->wd = -1;
    if (ss_paths_init(&c->p, err, n) != 0) goto fail;
    /* created when missing (a run-time directory the daemon has not made yet), refused when
     * unsafe: the daemon's own rule (ss_root_open) */
    c->rootfd = ss_root_open(&c->p, err, n);
    if (c->rootfd < 0) goto fail;
    mode_t old = umask(077);
    c->workfd = ss_dir_open(c->rootfd, SS_WORK_DIR, err, n);
    if (c->workfd >= 0) c->reqfd = ss_dir_open(c->rootfd, SS_REQ_DIR, err, n);
    if (c->reqfd >= 0) c->respfd = ss_dir_open(c->rootfd, SS_RESP_DIR, err, n);
    umask(old);
    if (c->respfd < 0) goto fail;
    c->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    watch_responses(c);   /* the watch exists before any request is written */
    *out = c;
    return 0;
fail:
    ssc_free(c);
    return -1;
}

/* The spool's directories again where one was removed or replaced since they were opened
 * (a /tmp cleaner, `rm -rf /tmp/speech_session_*`: T5). The daemon recreates them and goes
 * on; a long-lived client (session_http's pool, key_listener's worker) had gone on writing
 * requests into, and awaiting answers from, the removed ones — every request failing, or
 * waiting for its whole timeout, until it was restarted. Whoever comes first makes them
 * (ss_dir_open takes EEXIST). 0, or -1 with err (the directory cannot be made). */
static int refresh_dirs(ssc *c, char *err, size_t n)
{
    struct stat named, opened;
    if (stat(c->p.root, &named) != 0 || fstat(c->rootfd, &opened) != 0 || named.st_ino != opened.st_ino ||
        named.st_dev != opened.st_dev) {
        int fd = ss_root_open(&c->p, err, n);
        if (fd < 0) return -1;
        close(c->rootfd);
        c->rootfd = fd;
    }
    const char *names[] = { SS_WORK_DIR, SS_REQ_DIR, SS_RESP_DIR };
    int *fds[] = { &c->workfd, &c->reqfd, &c->respfd };
    mode_t old = umask(077);
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++) {
        const int k = ss_dir_recheck(c->rootfd, names[i], fds[i], err, n);
        if (k < 0) r = -1;
        else if (k == 1 && fds[i] == &c->respfd) watch_responses(c);   /* the old watch went with it */
        else if (k == 1 && fds[i] == &c->workfd) c->work_gen++;   /* its processing/ went with it */
    }
    umask(old);
    return r;
}

pid_t ssc_daemon_pid(ssc *c)
{
    /* the lock is looked for in the work directory: the one there now (a daemon that made
     * it again after a /tmp cleaner is running; session_http --no-autostart and /health had
     * answered "no daemon" through the removed one until restarted). A failure to make it
     * again is met by the caller's next step. */
    char e[256];
    refresh_dirs(c, e, sizeof e);
    return ss_lock_probe(c->workfd);
}

/* ssc_daemon_pid after the caller's own refresh_dirs */
static pid_t lock_holder(const ssc *c) { return ss_lock_probe(c->workfd); }

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void daemon_path(const ssc *c, char *buf, size_t n)
{
    const char *env = getenv("SPEECH_SESSION_DAEMON");
    if (c->o.daemon_path) { snprintf(buf, n, "%s", c->o.daemon_path); return; }
    if (env && *env) { snprintf(buf, n, "%s", env); return; }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *sl = strrchr(exe, '/');
        if (sl) {
            *sl = 0;
            snprintf(buf, n, "%s/session_daemon", exe);
            if (access(buf, X_OK) == 0) return;
        }
    }
    snprintf(buf, n, "session_daemon");
}

/* a start-up we stopped waiting for: asked to end, killed if it does not within a second,
 * reaped either way (no zombie for the client's life) */
static void reap_stopped(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) != 0) return;
        sleep_s(0.01);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

static int spawn_daemon(ssc *c, char *err, size_t n)
{
    char path[PATH_MAX + 32], tbuf[64], abuf[64];
    daemon_path(c, path, sizeof path);
    char *argv[14];
    int k = 0;
    argv[k++] = path;
    argv[k++] = "--fork";
    if (c->o.model) { argv[k++] = "--model"; argv[k++] = (char *)c->o.model; }
    if (c->o.max_audio_seconds >= 0) {
        snprintf(abuf, sizeof abuf, "%.10g", c->o.max_audio_seconds);
        argv[k++] = "--max-audio-seconds";
        argv[k++] = abuf;
    }
    if (c->o.vad_model) { argv[k++] = "--vad-model"; argv[k++] = (char *)c->o.vad_model; }
    else if (c->o.vad) argv[k++] = "--vad";
    if (c->o.daemon_timeout >= 0) {
        snprintf(tbuf, sizeof tbuf, "%g", c->o.daemon_timeout);
        argv[k++] = tbuf;
    }
    argv[k] = NULL;
    pid_t pid;
    int r = strchr(path, '/') ? posix_spawn(&pid, path, NULL, NULL, argv, environ)
                              : posix_spawnp(&pid, path, NULL, NULL, argv, environ);
    if (r != 0) {
        snprintf(err, n, "cannot start %s: %s", path, strerror(r));
        return -1;
    }
    /* the --fork parent returns once the daemon answers (or failed); one that hangs (a
     * model on a stalled mount, a wrapper script) is waited for --start-timeout, or until an
     * interrupt, then stopped: a blocking wait had outlived both */
    int st = 0, intr = 0;
    const double end = ss_mono_now() + c->o.start_timeout;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            snprintf(err, n, "cannot wait for %s: %s", path, strerror(errno));
            return -1;
        }
        intr = c->o.interrupt && *c->o.interrupt;
        if (intr || ss_mono_now() > end) {
            reap_stopped(pid);
            if (intr) snprintf(err, n, "interrupted while %s was starting", path);
            else snprintf(err, n, "%s was not ready within %g s (--start-timeout; see %s)", path,
                          c->o.start_timeout, c->p.log);
            return intr ? SSC_ABORTED : SSC_TIMEOUT;
        }
        sleep_s(0.01);
    }
    c->cannot_start = WIFEXITED(st) && (WEXITSTATUS(st) == 100 || WEXITSTATUS(st) == 112);
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 110)) return 0;
    if (WIFEXITED(st))
        snprintf(err, n, "%s exited with status %d before it was ready (see %s)", path,
                 WEXITSTATUS(st), c->p.log);
    else
        snprintf(err, n, "%s died before it was ready (see %s)", path, c->p.log);
    return -1;
}

int ssc_ensure_daemon(ssc *c, char *err, size_t n)
{
    if (refresh_dirs(c, err, n) != 0) return -1;   /* as ssc_daemon_pid, but said */
    pid_t pid = lock_holder(c);
    if (pid > 0) return 0;
    int lfd = openat(c->workfd, "start.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd < 0) { snprintf(err, n, "cannot open the start-up lock: %s", strerror(errno)); return -1; }
    double end = ss_mono_now() + c->o.start_timeout;
    while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, n, "start-up lock: %s", strerror(errno));
            close(lfd);
            return -1;
        }
        if (ss_mono_now() > end) {
            snprintf(err, n, "timed out waiting for another client to start the daemon");
            close(lfd);
            return SSC_TIMEOUT;
        }
        sleep_s(0.01);
    }
    int r = 0;
    if (lock_holder(c) <= 0) {   /* still none: ours to start */
        r = spawn_daemon(c, err, n);
        c->started += r == 0;
    }
    close(lfd);   /* releases the flock */
    return r;
}

unsigned ssc_daemons_started(const ssc *c) { return c->started; }

int ssc_stop(ssc *c, double timeout, char *err, size_t n)
{
    pid_t pid = ssc_daemon_pid(c);
    if (pid <= 0) return 0;
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
        snprintf(err, n, "cannot signal pid %ld: %s", (long)pid, strerror(errno));
        return -1;
    }
    double end = ss_mono_now() + timeout;
    /* until that daemon lets go of the lock: a client still waiting for an answer may have
     * started the next one by then (docs/daemon.md), which is not this one still running */
    while (lock_holder(c) == pid) {
        if (ss_mono_now() > end) {
            snprintf(err, n, "daemon pid %ld still running after %g s", (long)pid, timeout);
            return SSC_TIMEOUT;
        }
        sleep_s(0.02);
    }
    return 0;
}

static int submit_json(ssc *c, json_t *o, char id[SS_ID_MAX + 1], char *err, size_t n)
{
    if (refresh_dirs(c, err, n) != 0) { json_decref(o); return -1; }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* the spec's nanosecond timestamp, made unique across processes and calls */
    snprintf(id, SS_ID_MAX + 1, "%lld%09ld_%ld_%u", (long long)ts.tv_sec, ts.tv_nsec,
             (long)getpid(), c->seq++);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "timestamp", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
    char *js = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(16));
    json_decref(o);
    if (!js) { snprintf(err, n, "out of memory"); return -1; }
    char tmp[SS_ID_MAX + 16], name[SS_ID_MAX + 8];
    snprintf(tmp, sizeof tmp, ".%s.tmp", id);
    snprintf(name, sizeof name, "%s.json", id);
    int fd = openat(c->reqfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int r = -1;
    if (fd >= 0) {
        size_t len = strlen(js), off = 0;
        while (off < len) {
            ssize_t w = write(fd, js + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) break;
            off += (size_t)w;
        }
        if (close(fd) == 0 && off == len &&
            renameat2(c->reqfd, tmp, c->reqfd, name, RENAME_NOREPLACE) == 0) {
            r = 0;
            const unsigned k = c->n_sent++ % (sizeof c->sent / sizeof c->sent[0]);
            struct stat ps;
            const int have = fstatat(c->workfd, SS_PROC_DIR, &ps, AT_SYMLINK_NOFOLLOW) == 0;
            memcpy(c->sent[k].id, id, SS_ID_MAX + 1);
            c->sent[k].gen = c->work_gen;
            c->sent[k].proc_dev = have ? (unsigned long long)ps.st_dev : 0;
            c->sent[k].proc_ino = have ? (unsigned long long)ps.st_ino : 0;
        }
        if (r) {
            snprintf(err, n, "cannot write request %s/%s: %s", c->p.req_dir, name, strerror(errno));
            unlinkat(c->reqfd, tmp, 0);
        }
    } else {
        snprintf(err, n, "cannot create request in %s: %s", c->p.req_dir, strerror(errno));
    }
    free(js);
    return r;
}

int ssc_submit(ssc *c, const char *audio_file, char id[SS_ID_MAX + 1], char *err, size_t n)
{
    return ssc_submit_ex(c, audio_file, NULL, id, err, n);
}

/* A free-text option ("prompt", "hotwords"); NULL/"" leaves it out. */
static int add_text(json_t *o, const char *key, const char *v, char *err, size_t n)
{
    if (!v || !v[0]) return 0;
    json_t *s = strlen(v) <= SS_PROMPT_MAX ? json_string(v) : NULL;
    if (!s) {
        snprintf(err, n, "%s must be valid UTF-8 of at most %d bytes", key, SS_PROMPT_MAX);
        return -1;
    }
    json_object_set_new(o, key, s);
    return 0;
}

/* "en,de" as the request's "languages" array; NULL/"" leaves it out */
static int add_languages(json_t *o, const char *list, char *err, size_t n)
{
    int idx[100];
    char bad[16];
    const int k = list && list[0] ? sp_language_list(list, idx, 100, bad) : 0;
    if (k < 0 || (list && list[0] && k == 0)) {
        snprintf(err, n, "languages: '%s' is not a language code (en,de,...)", bad);
        return -1;
    }
    if (!k) return 0;
    json_t *a = json_array();
    for (int i = 0; a && i < k; i++) json_array_append_new(a, json_string(sp_language_code(idx[i])));
    if (!a) { snprintf(err, n, "out of memory"); return -1; }
    json_object_set_new(o, "languages", a);
    return 0;
}

/* Adds opts to the request object; -1 with a message when one is unusable. */
static int add_opts(json_t *o, const ssc_req_opts *opts, char *err, size_t n)
{
    if (opts->language && opts->language[0]) {
        size_t l = strlen(opts->language);
        json_t *s = l <= SS_LANGUAGE_MAX ? json_string(opts->language) : NULL;
        if (!s) { snprintf(err, n, "language must be a code such as \"en\" or \"auto\""); return -1; }
        json_object_set_new(o, "language", s);
    }
    if (opts->task_translate) json_object_set_new(o, "task", json_string("translate"));
    if (add_languages(o, opts->languages, err, n)) return -1;
    if (add_text(o, "prompt", opts->prompt, err, n) || add_text(o, "hotwords", opts->hotwords, err, n)) return -1;
    if (opts->audio_ctx == SP_AUDIO_CTX_AUTO) {
        json_object_set_new(o, "audio_ctx", json_string("auto"));
    } else if (opts->audio_ctx) {
        if (opts->audio_ctx < 1 || opts->audio_ctx > 1500) {
            snprintf(err, n, "audio_ctx must be auto or 1..1500");
            return -1;
        }
        json_object_set_new(o, "audio_ctx", json_integer(opts->audio_ctx));
    }
    if (opts->priority && opts->priority[0]) {
        if (strcmp(opts->priority, "interactive") && strcmp(opts->priority, "batch")) {
            snprintf(err, n, "priority must be interactive or batch");
            return -1;
        }
        json_object_set_new(o, "priority", json_string(opts->priority));
    }
    if (opts->stream) json_object_set_new(o, "stream", json_true());
    if (opts->word_timestamps) json_object_set_new(o, "word_timestamps", json_true());
    if (opts->has_temperature) {
        if (!(opts->temperature >= 0.0 && opts->temperature <= 1.0)) {
            snprintf(err, n, "temperature must be from 0 to 1");
            return -1;
        }
        json_object_set_new(o, "temperature", json_real(opts->temperature));
    }
    return 0;
}

int ssc_submit_ex(ssc *c, const char *audio_file, const ssc_req_opts *opts,
                  char id[SS_ID_MAX + 1], char *err, size_t n)
{
    if (!audio_file || audio_file[0] != '/') {
        snprintf(err, n, "audio path must be absolute");
        return -1;
    }
    json_t *o = json_object();
    if (!o) { snprintf(err, n, "out of memory"); return -1; }
    json_t *s = json_string(audio_file);
    if (!s) { json_decref(o); snprintf(err, n, "audio path is not valid UTF-8"); return -1; }
    json_object_set_new(o, "audio_file", s);
    if (opts && add_opts(o, opts, err, n) != 0) { json_decref(o); return -1; }
    return submit_json(c, o, id, err, n);
}

int ssc_submit_ping(ssc *c, char id[SS_ID_MAX + 1], char *err, size_t n)
{
    json_t *o = json_object();
    if (!o) { snprintf(err, n, "out of memory"); return -1; }
    json_object_set_new(o, "type", json_string("ping"));
    return submit_json(c, o, id, err, n);
}

int ssc_submit_cancel(ssc *c, const char *target, char id[SS_ID_MAX + 1], char *err, size_t n)
{
    if (!target || !ss_id_valid(target)) {
        snprintf(err, n, "not a request id: %s", target ? target : "(null)");
        return -1;
    }
    json_t *o = json_object();
    if (!o) { snprintf(err, n, "out of memory"); return -1; }
    json_object_set_new(o, "type", json_string("cancel"));
    json_object_set_new(o, "target", json_string(target));
    return submit_json(c, o, id, err, n);
}

/* The partial file of a streamed request, tailed while its response is awaited. */
typedef struct {
    ssc_segment_fn fn;
    void *user;
    char name[SS_ID_MAX + 16];
    int fd;
    sp_dynbuf buf;       /* bytes read from fd, not yet a complete line */
    int next;            /* the next index to give */
} tail;

/* Gives the complete lines of the partial file not given yet. */
static void tail_read(ssc *c, tail *t)
{
    struct stat named, opened;
    /* a daemon restarted during the request runs it again and creates the partial file anew
     * (a new inode, from segment 0): follow the name, or the stream stopped at the restart
     * and the rest came only with the response. Lines already given are skipped by index. */
    if (t->fd >= 0 && fstatat(c->respfd, t->name, &named, AT_SYMLINK_NOFOLLOW) == 0 && fstat(t->fd, &opened) == 0 &&
        (named.st_ino != opened.st_ino || named.st_dev != opened.st_dev)) {
        close(t->fd);
        t->fd = -1;
        t->buf.len = 0;
    }
    if (t->fd < 0) t->fd = openat(c->respfd, t->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (t->fd < 0) return;
    char chunk[8192];
    ssize_t r;
    while ((r = read(t->fd, chunk, sizeof chunk)) > 0)
        if (sp_dynbuf_add(&t->buf, chunk, (size_t)r) != 0) return;
    char *p = t->buf.p, *end = p ? p + t->buf.len : NULL, *nl;
    while (p && p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
        json_t *seg = json_loadb(p, (size_t)(nl - p), 0, NULL);
        json_t *i = json_object_get(seg, "i");
        if (json_is_integer(i) && json_integer_value(i) == t->next) t->fn(seg, t->next++, t->user);
        json_decref(seg);
        p = nl + 1;
    }
    if (p && p > t->buf.p) {   /* keep the unfinished line */
        size_t rest = (size_t)(end - p);
        memmove(t->buf.p, p, rest);
        t->buf.len = rest;
        t->buf.p[rest] = 0;
    }
}

/* The response is there: what the partial file still holds, then its other segments. */
static void tail_finish(ssc *c, tail *t, const json_t *resp)
{
    tail_read(c, t);
    const json_t *segs = json_object_get(resp, "segments");
    for (size_t i = (size_t)t->next; json_is_array(segs) && i < json_array_size(segs); i++) {
        /* with the index the partial file's lines carry, so every streamed line has one */
        json_t *seg = json_copy(json_array_get(segs, i));
        if (json_is_object(seg)) json_object_set_new(seg, "i", json_integer((json_int_t)i));
        t->fn(seg ? seg : json_array_get(segs, i), t->next++, t->user);
        json_decref(seg);
    }
}

/* 1 with *resp when the response is there, 0 when not yet, -1 on a bad file. */
static int try_read(ssc *c, const char *name, json_t **resp, char *err, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    if (ss_read_file(c->respfd, name, RESPONSE_MAX, &buf, &len, NULL) != 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, n, "cannot read response %s: %s", name, strerror(errno));
        unlinkat(c->respfd, name, 0);
        return -1;
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    free(buf);
    unlinkat(c->respfd, name, 0);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, n, "malformed response %s", name);
        return -1;
    }
    *resp = j;
    return 1;
}

/* 0 with *resp when id's response is there, SSC_PENDING when not yet, -1 on error. */
static int read_response(ssc *c, const char *id, json_t **resp, char *err, size_t n)
{
    char name[SS_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.json", id);
    int r = try_read(c, name, resp, err, n);
    if (r == 0) return SSC_PENDING;
    if (r < 0) return -1;
    const json_t *rid = json_object_get(*resp, "id");
    if (json_is_string(rid) && strcmp(json_string_value(rid), id) == 0) return 0;
    json_decref(*resp);
    *resp = NULL;
    snprintf(err, n, "response %s carries another id", name);
    return -1;
}

/* 1 when request id is neither in the request directory nor claimed (processing/{id}.K):
 * removed before the daemon took it — a /tmp cleaner that took the request directory with
 * it, a client that withdrew it (ssc_withdraw), a user's rm — or given up by the daemon as
 * one whose answer can never be written (quarantined, said in its log). Looked at in the order the
 * daemon moves a request (request file, then .0, .1, ...; the response is written before
 * processing/ lets go of it), so a request in flight is always found in one place or the
 * response; 0 where anything cannot be looked at. The caller looks at the response after. */
static int request_gone(const ssc *c, const char *id, unsigned long long dev, unsigned long long ino)
{
    char name[SS_ID_MAX + 16];
    struct stat st;
    snprintf(name, sizeof name, "%s.json", id);
    if (fstatat(c->reqfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) return 0;
    const int pfd = openat(c->workfd, SS_PROC_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0) return 0;   /* no processing/ now: removed (with a claimed request in it?) */
    /* processing/ must be the one there was when the request was written: one removed since
     * (rm -rf of it or of the work directory, even one that failed half-way) took a claimed
     * request's file with it while the daemon goes on with the job and answers */
    if (fstat(pfd, &st) != 0 || (unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino) {
        close(pfd);
        return 0;
    }
    int gone = 1;
    for (int k = 0; k <= SS_MAX_ATTEMPTS && gone; k++) {
        snprintf(name, sizeof name, "%s.%d", id, k);
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) gone = 0;
    }
    close(pfd);
    return gone;
}

/* Whether request id has been found gone (request_gone) at two looks ≥ 0.4 s apart with no
 * response after either (the caller's daemon holding the spool's lock): the daemon's crash
 * recovery and a directory it makes again can leave a request out of sight for an instant,
 * never for that long. Without this a client waited its whole timeout (key_listener 120 s,
 * session_http --transcribe-timeout) for an answer no daemon could give. */
static int gone_twice(ssc *c, const char *id, double now)
{
    /* only for a request this client wrote into the work directory and processing/ there are
     * now: one replaced since (rm -rf of it, a /tmp cleaner) took the claimed request's file
     * with it while the daemon goes on with the job and answers (daemon_faults.sh) */
    int ours = -1;
    for (size_t i = 0; i < sizeof c->sent / sizeof c->sent[0] && ours < 0; i++)
        if (c->sent[i].id[0] && !strcmp(c->sent[i].id, id) && c->sent[i].gen == c->work_gen &&
            c->sent[i].proc_ino)
            ours = (int)i;
    if (ours < 0 || !request_gone(c, id, c->sent[ours].proc_dev, c->sent[ours].proc_ino)) {
        if (!strcmp(c->gone_id, id)) c->gone_id[0] = 0;
        return 0;
    }
    if (strcmp(c->gone_id, id) != 0) {
        snprintf(c->gone_id, sizeof c->gone_id, "%s", id);
        c->gone_at = now;
        return 0;
    }
    return now - c->gone_at >= 0.4;
}

int ssc_wait_step(ssc *c, const char *id, double deadline, double slice, int watch_fd,
                  json_t **resp, char *err, size_t n)
{
    *resp = NULL;
    if (c->o.interrupt && *c->o.interrupt) {
        snprintf(err, n, "interrupted");
        return SSC_ABORTED;
    }
    int r = read_response(c, id, resp, err, n);
    if (r != SSC_PENDING) return r;
    double now = ss_mono_now();
    if (now >= deadline) {
        snprintf(err, n, "no response in time");
        return SSC_TIMEOUT;
    }
    if (now >= c->next_alive) {   /* a daemon that went away (idle exit, crash) */
        c->next_alive = now + 0.5;
        /* ssc_daemon_pid follows directories removed meanwhile: the daemon answers into the
         * response directory it made again, so that is looked in at once */
        const pid_t pid = ssc_daemon_pid(c);
        /* only under our daemon, whose claim keeps a request in processing/ until it is
         * answered: a daemon of the spec's own kind (the original, a stand-in) may delete a
         * request as it reads it and answer long after — that is no loss */
        const int gone = pid > 0 ? gone_twice(c, id, now) : (c->gone_id[0] = 0);
        r = read_response(c, id, resp, err, n);
        if (r != SSC_PENDING) return r;
        if (gone) {
            c->gone_id[0] = 0;
            snprintf(err, n, "request %s is gone: removed before the daemon answered it (by "
                     "another program, or the daemon could not write its answer: see its log)", id);
            return -1;
        }
        if (pid == 0 && c->o.autostart) {
            char e2[512];
            if (ssc_ensure_daemon(c, e2, sizeof e2) != 0) {
                /* a bad model or usage does not mend: said once, not every 0.5 s until the
                 * deadline (each try had added a start and its failure to the log) */
                if (c->cannot_start) {
                    snprintf(err, n, "the daemon stopped and cannot be restarted: %s", e2);
                    return -1;
                }
                fprintf(stderr, "session_client: %s\n", e2);
            }
        }
    }
    double wait = deadline - now;
    if (slice < wait) wait = slice;
    if (c->next_alive - now < wait) wait = c->next_alive - now;
    if (wait < 0) wait = 0;
    struct pollfd pf[2] = { { .fd = c->ifd, .events = POLLIN },
                            { .fd = watch_fd, .events = POLLRDHUP } };
    int np = watch_fd >= 0 ? 2 : 1;
    if (c->ifd < 0 || c->wd < 0) {   /* no inotify: poll the directory */
        pf[0].fd = -1;
        if (wait > 0.05) wait = 0.05;
    }
    if (poll(pf, (nfds_t)np, (int)(wait * 1000.0) + 1) > 0) {
        if (np == 2 && (pf[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            snprintf(err, n, "the client went away");
            return SSC_ABORTED;
        }
        if (pf[0].revents & POLLIN) {
            char b[8192];
            while (read(c->ifd, b, sizeof b) > 0) {}
        }
    }
    r = read_response(c, id, resp, err, n);
    return r;
}

int ssc_withdraw(ssc *c, const char *id)
{
    char req[SS_ID_MAX + 8];
    snprintf(req, sizeof req, "%s.json", id);
    if (unlinkat(c->reqfd, req, 0) == 0) return 1;
    return errno == ENOENT ? 0 : -1;
}

int ssc_wait(ssc *c, const char *id, double timeout, json_t **resp, char *err, size_t n)
{
    double end = ss_mono_now() + timeout;
    c->next_alive = ss_mono_now() + 0.5;
    int r;
    do r = ssc_wait_step(c, id, end, 3600, -1, resp, err, n);
    while (r == SSC_PENDING);
    if (r == -1) ssc_withdraw(c, id);   /* e.g. no daemon can start: not left for a later one */
    if (r == SSC_TIMEOUT) {   /* withdraw the request if the daemon never claimed it */
        ssc_withdraw(c, id);
        snprintf(err, n, "no response after %g s", timeout);
    }
    return r;
}

/* Waits up to deadline for id's response and deletes it; 0 got it (*resp, may be NULL),
 * SSC_TIMEOUT, -1. */
static int reap(ssc *c, const char *id, double deadline, json_t **resp, char *err, size_t n)
{
    json_t *j = NULL;
    int r;
    do r = ssc_wait_step(c, id, deadline, deadline - ss_mono_now(), -1, &j, err, n);
    while (r == SSC_PENDING);
    if (resp) *resp = j;
    else json_decref(j);
    return r;
}

int ssc_cancel(ssc *c, const char *target, double timeout, const char **state, char *err,
               size_t n)
{
    static const char *const states[] = { "pending", "running", "unknown" };
    *state = NULL;
    if (ssc_withdraw(c, target) == 1) {   /* never claimed: it will never run */
        *state = "withdrawn";
        return 0;
    }
    char cid[SS_ID_MAX + 1];
    if (ssc_submit_cancel(c, target, cid, err, n) != 0) return -1;
    double end = ss_mono_now() + timeout, alive = c->next_alive;
    c->next_alive = end;   /* no daemon restarts for this: it is clean-up */
    json_t *cr = NULL;
    int r = reap(c, cid, end, &cr, err, n);
    if (r != 0) {
        ssc_withdraw(c, cid);
        c->next_alive = alive;
        return r == SSC_TIMEOUT ? 0 : -1;
    }
    const char *st = json_string_value(json_object_get(cr, "state"));
    for (size_t i = 0; st && i < sizeof states / sizeof states[0]; i++)
        if (!strcmp(st, states[i])) *state = states[i];
    if (!*state && json_object_get(cr, "error")) *state = "refused";
    json_decref(cr);
    /* pending/running: answered "cancelled" at once, and that answer is ours to delete;
     * unknown: maybe answered just now. A daemon that refused the cancel (an older one: no
     * state) answers when its work is done, later than we would wait. */
    int stopped = *state && (!strcmp(*state, "pending") || !strcmp(*state, "running"));
    r = reap(c, target, stopped ? end : ss_mono_now(), NULL, err, n);
    c->next_alive = alive;
    return r == -1 ? -1 : 0;
}

int ssc_wait_stream(ssc *c, const char *id, double timeout, ssc_segment_fn fn, void *user,
                    json_t **resp, char *err, size_t n)
{
    tail t = { .fn = fn, .user = user, .fd = -1 };
    snprintf(t.name, sizeof t.name, ".%s.partial", id);
    sp_dynbuf_init(&t.buf, 64u << 20);
    double end = ss_mono_now() + timeout;
    c->next_alive = ss_mono_now() + 0.5;
    int r;
    do {   /* appends to the partial file wake the step (IN_MODIFY) */
        if (fn) tail_read(c, &t);
        r = ssc_wait_step(c, id, end, 1.0, -1, resp, err, n);
    } while (r == SSC_PENDING);
    if (r == 0 && fn) tail_finish(c, &t, *resp);
    if (r == -1) ssc_withdraw(c, id);   /* e.g. no daemon can start: not left for a later one */
    if (r == SSC_TIMEOUT) {   /* withdraw the request if the daemon never claimed it */
        ssc_withdraw(c, id);
        snprintf(err, n, "no response after %g s", timeout);
    }
    if (t.fd >= 0) close(t.fd);
    sp_dynbuf_free(&t.buf);
    return r;
}

char *ssc_results_text(const json_t *resp)
{
    const json_t *arr = json_object_get(resp, "results");
    size_t total = 1;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
        if (json_is_string(v)) total += json_string_length(v) + 1;
    char *s = malloc(total), *p = s;
    if (!s) return NULL;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)) continue;
        const char *t = json_string_value(v);
        while (*t == ' ') t++;
        size_t l = strlen(t);
        if (p != s && l) *p++ = ' ';
        memcpy(p, t, l);
        p += l;
    }
    *p = 0;
    while (p > s && (p[-1] == ' ' || p[-1] == '\n')) *--p = 0;
    return s;
}

int ssc_segment_lead(const json_t *seg, char lead[8])
{
    const json_t *l = json_object_get(seg, "text_lead");
    const char *ls = json_string_value(l);
    lead[0] = 0;
    if (!ls || json_string_length(l) >= 8 || strspn(ls, " \t\n\r") != json_string_length(l))
        return 0;   /* absent (a daemon that does not say) or malformed: not known */
    memcpy(lead, ls, json_string_length(l) + 1);
    return 1;
}
