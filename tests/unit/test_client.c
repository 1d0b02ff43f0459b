/* The session client library against a fake daemon (this process answering the spool). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clients/session_client.h"
#include "session/ss_json.h"
#include "harness.h"

static int nfiles(const char *dir)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 0", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* A fake daemon's answer to the first cancel request it finds in the request directory
 * (state as given), and the cancelled target's own answer; run in a child. */
static int fake_cancel_answer(const ss_paths *p, const char *state)
{
    for (int tries = 0; tries < 200; tries++, usleep(10000)) {
        DIR *d = opendir(p->req_dir);
        struct dirent *e;
        char name[256] = "";
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.' && strstr(e->d_name, ".json")) snprintf(name, sizeof name, "%s", e->d_name);
        if (d) closedir(d);
        if (!name[0]) continue;   /* (the test leaves only the cancel request there) */
        char path[4200 + 300];
        snprintf(path, sizeof path, "%s/%s", p->req_dir, name);
        json_t *req = json_load_file(path, 0, NULL);
        unlink(path);
        const char *cid = json_string_value(json_object_get(req, "id"));
        const char *target = json_string_value(json_object_get(req, "target"));
        if (!cid || !target) { json_decref(req); return 1; }
        int rfd = open(p->resp_dir, O_RDONLY | O_DIRECTORY);
        json_t *a = json_pack("{s:s,s:s,s:s,s:b,s:s}", "id", cid, "type", "cancel", "target",
                              target, "cancelled", 1, "state", state);
        json_t *b = json_pack("{s:s,s:[],s:s,s:s}", "id", target, "results", "error",
                              "cancelled by request", "error_code", "cancelled");
        char *ja = json_dumps(a, 0), *jb = json_dumps(b, 0), na[300], nb[300];
        snprintf(na, sizeof na, "%s.json", cid);
        snprintf(nb, sizeof nb, "%s.json", target);
        int r = ss_write_atomic(rfd, na, ja, strlen(ja), 0) | ss_write_atomic(rfd, nb, jb, strlen(jb), 0);
        free(ja); free(jb); json_decref(a); json_decref(b); json_decref(req);
        close(rfd);
        return r ? 1 : 0;
    }
    return 1;
}

/* the client opened with the options o (by value: ssc_open copies them); NULL if it failed */
static ssc *test_open(ssc_opts o)
{
    char err[512];
    ssc *c = NULL;
    TEST("open creates the private spool directories") {
        CHECK(ssc_open(&c, &o, err, sizeof err) == 0 && c);
        struct stat st;
        CHECK(c && stat(ssc_paths(c)->req_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(c && stat(ssc_paths(c)->resp_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(c && ssc_daemon_pid(c) == 0);
    }
    return c;
}

static void test_submit(ssc *c, const ss_paths *p, char *id, char *id2)
{
    char err[512];
    TEST("submit writes a complete, valid request under a fresh id; no temp left") {
        CHECK(ssc_submit(c, "relative.wav", id, err, sizeof err) != 0);
        CHECK(ssc_submit(c, "/tmp/a b.wav", id, err, sizeof err) == 0);
        CHECK(ssc_submit(c, "/tmp/a b.wav", id2, err, sizeof err) == 0 && strcmp(id, id2) != 0);
        CHECK(ss_id_valid(id));
        char path[4400], *buf = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s.json", id);
        int dfd = open(p->req_dir, O_RDONLY | O_DIRECTORY);
        struct stat st;
        CHECK(ss_read_file(dfd, path, 65536, &buf, &len, &st) == 0 && (st.st_mode & 0777) == 0600);
        ss_request r;
        const char *code;
        char msg[200];
        CHECK(buf && ss_request_parse(buf, len, id, &r, &code, msg, sizeof msg) == SS_PARSE_OK);
        CHECK(r.audio_file && !strcmp(r.audio_file, "/tmp/a b.wav"));
        ss_request_clear(&r);
        free(buf);
        close(dfd);
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep '^\\.')\"", p->req_dir);
        CHECK(system(cmd) == 0);
    }
}

static void test_ping(ssc *c, const ss_paths *p, char *id2)
{
    char err[512];
    TEST("ping request has type ping") {
        CHECK(ssc_submit_ping(c, id2, err, sizeof err) == 0);
        char path[4400], *buf = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s.json", p->req_dir, id2);
        int fd = open(path, O_RDONLY);
        buf = calloc(1, 4096);
        len = fd >= 0 ? (size_t)read(fd, buf, 4095) : 0;
        if (fd >= 0) close(fd);
        CHECK(len > 0 && strstr(buf, "\"ping\""));
        free(buf);
    }
}

static void test_submit_ex(ssc *c, const ss_paths *p)
{
    char err[512];
    TEST("submit_ex: options reach the request; NULL opts is the spec's plain request") {
        int dfd = open(p->req_dir, O_RDONLY | O_DIRECTORY);
        char name[SS_ID_MAX + 8], *buf = NULL, msg[200], id3[SS_ID_MAX + 1];
        size_t len = 0;
        const char *code;
        ss_request r;
        ssc_req_opts ro = { .language = "de", .task_translate = 1, .prompt = "Gr\xc3\xbc\xc3\x9f"
                            "e", .has_temperature = 1, .temperature = 0.5 };
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", &ro, id3, err, sizeof err) == 0);
        snprintf(name, sizeof name, "%s.json", id3);
        CHECK(ss_read_file(dfd, name, 65536, &buf, &len, NULL) == 0);
        CHECK(buf && ss_request_parse(buf, len, id3, &r, &code, msg, sizeof msg) == SS_PARSE_OK);
        CHECK(!strcmp(r.language, "de") && r.translate == 1 && r.prompt &&
              !strcmp(r.prompt, "Gr\xc3\xbc\xc3\x9f" "e") && r.has_temperature && r.temperature == 0.5);
        ss_request_clear(&r);
        free(buf);
        buf = NULL;
        unlinkat(dfd, name, 0);
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", NULL, id3, err, sizeof err) == 0);
        snprintf(name, sizeof name, "%s.json", id3);
        CHECK(ss_read_file(dfd, name, 65536, &buf, &len, NULL) == 0);
        json_t *j = buf ? json_loadb(buf, len, 0, NULL) : NULL;
        CHECK(j && json_object_size(j) == 3 && json_object_get(j, "id") &&
              json_object_get(j, "audio_file") && json_object_get(j, "timestamp"));
        json_decref(j);
        free(buf);
        unlinkat(dfd, name, 0);
        ssc_req_opts zero = { 0 };   /* all defaults: still the plain request */
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", &zero, id3, err, sizeof err) == 0);
        snprintf(name, sizeof name, "%s.json", id3);
        buf = NULL;
        CHECK(ss_read_file(dfd, name, 65536, &buf, &len, NULL) == 0);
        j = buf ? json_loadb(buf, len, 0, NULL) : NULL;
        CHECK(j && json_object_size(j) == 3);
        json_decref(j);
        free(buf);
        unlinkat(dfd, name, 0);
        /* refused locally, nothing written */
        ssc_req_opts bad1 = { .prompt = "\xff" }, bad2 = { .has_temperature = 1, .temperature = 2 },
                     bad3 = { .language = "aaaaaaaaaaaaaaaaaaaa" };
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", &bad1, id3, err, sizeof err) != 0 && strstr(err, "UTF-8"));
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", &bad2, id3, err, sizeof err) != 0);
        CHECK(ssc_submit_ex(c, "/tmp/o.wav", &bad3, id3, err, sizeof err) != 0);
        close(dfd);
    }
}

static void test_wait_response(ssc *c, const ss_paths *p, const char *id)
{
    char err[512];
    TEST("wait: response found via inotify, parsed, deleted") {
        pid_t child = fork();
        if (child == 0) {
            usleep(150000);
            char *js = ss_response_json(id, (const char *const[]){ " Hello", " world." }, 2,
                                        "cpu", 1, NULL, NULL, ss_wall_now());
            int rfd = open(p->resp_dir, O_RDONLY | O_DIRECTORY);
            char name[200];
            snprintf(name, sizeof name, "%s.json", id);
            int r = ss_write_atomic(rfd, name, js, strlen(js), 0);
            free(js);
            _exit(r ? 1 : 0);
        }
        json_t *resp = NULL;
        double t0 = ss_mono_now();
        int r = ssc_wait(c, id, 5, &resp, err, sizeof err);
        double dt = ss_mono_now() - t0;
        waitpid(child, NULL, 0);
        CHECK(r == 0 && resp);
        CHECKF(dt < 1.0, "waited %.3f s", dt);
        CHECK(resp && !strcmp(json_string_value(json_object_get(resp, "id")), id));
        char *t = resp ? ssc_results_text(resp) : NULL;
        CHECK(t && !strcmp(t, "Hello world."));
        free(t);
        json_decref(resp);
        CHECK(nfiles(p->resp_dir) == 0);
    }
}

static void test_wait_timeout(ssc *c, const ss_paths *p, const char *id2)
{
    char err[512];
    TEST("wait: timeout withdraws the unclaimed request") {
        json_t *resp = NULL;
        CHECK(ssc_wait(c, id2, 0.2, &resp, err, sizeof err) == SSC_TIMEOUT && !resp);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.json", p->req_dir, id2);
        CHECK(access(path, F_OK) != 0);
    }
}

static void test_wait_malformed(ssc *c, const ss_paths *p, const char *id)
{
    char err[512];
    TEST("wait: a malformed response is an error, and removed") {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.json", p->resp_dir, id);
        FILE *f = fopen(path, "w");
        if (f) { fputs("{\"id\":", f); fclose(f); }
        json_t *resp = NULL;
        CHECK(ssc_wait(c, id, 1, &resp, err, sizeof err) == -1 && !resp);
        CHECK(access(path, F_OK) != 0);
    }
}

static void test_wait_step(ssc *c, const ss_paths *p)
{
    char err[512];
    TEST("wait_step: a partial file's append wakes it, a hung-up socket aborts, the deadline leaves the request") {
        char id3[SS_ID_MAX + 1];
        CHECK(ssc_submit(c, "/tmp/s.wav", id3, err, sizeof err) == 0);
        pid_t child = fork();
        if (child == 0) {
            usleep(150000);
            char path[4400];
            snprintf(path, sizeof path, "%s/.%s.partial", p->resp_dir, id3);
            int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            _exit(fd >= 0 && write(fd, "{\"i\":0}\n", 8) == 8 ? 0 : 1);
        }
        json_t *resp = NULL;
        double t0 = ss_mono_now();
        int r = ssc_wait_step(c, id3, t0 + 5, 3.0, -1, &resp, err, sizeof err);
        CHECKF(r == SSC_PENDING && ss_mono_now() - t0 < 2.0, "r=%d after %.3f s", r, ss_mono_now() - t0);
        waitpid(child, NULL, 0);
        char path[4400];
        snprintf(path, sizeof path, "%s/.%s.partial", p->resp_dir, id3);
        unlink(path);
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        close(sv[1]);   /* the client went away */
        t0 = ss_mono_now();
        CHECK(ssc_wait_step(c, id3, t0 + 5, 3.0, sv[0], &resp, err, sizeof err) == SSC_ABORTED);
        CHECK(ss_mono_now() - t0 < 1.0);
        close(sv[0]);
        CHECK(ssc_wait_step(c, id3, ss_mono_now(), 3.0, -1, &resp, err, sizeof err) == SSC_TIMEOUT);
        CHECK(ssc_withdraw(c, id3) == 1 && ssc_withdraw(c, id3) == 0);   /* it was still there */
    }
}

static void test_cancel(ssc *c, const ss_paths *p)
{
    char err[512];
    TEST("cancel: an unclaimed request is withdrawn; a claimed one gets a cancel, both answers reaped") {
        char id4[SS_ID_MAX + 1], cmd[4500];
        const char *state = NULL;
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*.json", p->req_dir);   /* earlier tests' */
        CHECK(system(cmd) == 0);
        CHECK(ssc_submit(c, "/tmp/c.wav", id4, err, sizeof err) == 0);
        CHECK(ssc_cancel(c, id4, 2, &state, err, sizeof err) == 0 && state && !strcmp(state, "withdrawn"));
        CHECK(nfiles(p->req_dir) == 0);
        CHECK(ssc_submit(c, "/tmp/c.wav", id4, err, sizeof err) == 0);
        char from[4400], to[4400];   /* "claimed": out of the request directory */
        snprintf(from, sizeof from, "%s/%s.json", p->req_dir, id4);
        snprintf(to, sizeof to, "%s/claimed.json", p->root);
        CHECK(rename(from, to) == 0);
        pid_t child = fork();
        if (child == 0) _exit(fake_cancel_answer(p, "running"));
        CHECK(ssc_cancel(c, id4, 5, &state, err, sizeof err) == 0);
        int st = 1;
        waitpid(child, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECKF(state && !strcmp(state, "running"), "state %s", state ? state : "(null)");
        CHECK(nfiles(p->req_dir) == 0 && nfiles(p->resp_dir) == 0);   /* nothing left */
        unlink(to);
        CHECK(ssc_submit_cancel(c, "../x", id4, err, sizeof err) != 0);
    }
}

static void test_ensure_daemon_fails(void)
{
    char err[512];
    TEST("ensure_daemon: a daemon that fails to start is reported") {
        ssc_opts o2 = ssc_default_opts();
        o2.daemon_path = "/bin/false";
        ssc *c2 = NULL;
        CHECK(ssc_open(&c2, &o2, err, sizeof err) == 0);
        CHECK(c2 && ssc_ensure_daemon(c2, err, sizeof err) == -1 && strstr(err, "exited with status 1"));
        ssc_free(c2);
    }
}

static void test_stop_no_daemon(ssc *c)
{
    char err[512];
    TEST("stop with no daemon is a no-op; results_text of empty results") {
        CHECK(ssc_stop(c, 1, err, sizeof err) == 0);
        json_t *j = json_pack("{s:[]}", "results");
        char *t = ssc_results_text(j);
        CHECK(t && t[0] == 0);
        free(t);
        json_decref(j);
    }
}

int main(void)
{
    char root[] = "/tmp/ss-unit-client.XXXXXX";
    if (!mkdtemp(root)) return 1;
    setenv("SPEECH_SESSION_ROOT", root, 1);
    ssc_opts o = ssc_default_opts();
    o.autostart = 0;

    ssc *c = test_open(o);
    if (!c) TEST_EXIT();
    const ss_paths *p = ssc_paths(c);
    char id[SS_ID_MAX + 1], id2[SS_ID_MAX + 1];

    test_submit(c, p, id, id2);
    test_ping(c, p, id2);
    test_submit_ex(c, p);
    test_wait_response(c, p, id);
    test_wait_timeout(c, p, id2);
    test_wait_malformed(c, p, id);
    test_wait_step(c, p);
    test_cancel(c, p);
    test_ensure_daemon_fails();
    test_stop_no_daemon(c);
    ssc_free(c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) {}
    TEST_EXIT();
}
