/* The session client library against a fake daemon (this process answering the spool). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    char root[] = "/tmp/ss-unit-client.XXXXXX";
    if (!mkdtemp(root)) return 1;
    setenv("SPEECH_SESSION_ROOT", root, 1);
    char err[512];
    ssc *c = NULL;
    ssc_opts o = ssc_default_opts();
    o.autostart = 0;

    TEST("open creates the private spool directories") {
        CHECK(ssc_open(&c, &o, err, sizeof err) == 0 && c);
        struct stat st;
        CHECK(c && stat(ssc_paths(c)->req_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(c && stat(ssc_paths(c)->resp_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(c && ssc_daemon_pid(c) == 0);
    }
    if (!c) TEST_EXIT();
    const ss_paths *p = ssc_paths(c);
    char id[SS_ID_MAX + 1], id2[SS_ID_MAX + 1];

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
    TEST("wait: timeout withdraws the unclaimed request") {
        json_t *resp = NULL;
        CHECK(ssc_wait(c, id2, 0.2, &resp, err, sizeof err) == SSC_TIMEOUT && !resp);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.json", p->req_dir, id2);
        CHECK(access(path, F_OK) != 0);
    }
    TEST("wait: a malformed response is an error, and removed") {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.json", p->resp_dir, id);
        FILE *f = fopen(path, "w");
        if (f) { fputs("{\"id\":", f); fclose(f); }
        json_t *resp = NULL;
        CHECK(ssc_wait(c, id, 1, &resp, err, sizeof err) == -1 && !resp);
        CHECK(access(path, F_OK) != 0);
    }
    TEST("ensure_daemon: a daemon that fails to start is reported") {
        ssc_opts o2 = ssc_default_opts();
        o2.daemon_path = "/bin/false";
        ssc *c2 = NULL;
        CHECK(ssc_open(&c2, &o2, err, sizeof err) == 0);
        CHECK(c2 && ssc_ensure_daemon(c2, err, sizeof err) == -1 && strstr(err, "exited with status 1"));
        ssc_free(c2);
    }
    TEST("stop with no daemon is a no-op; results_text of empty results") {
        CHECK(ssc_stop(c, 1, err, sizeof err) == 0);
        json_t *j = json_pack("{s:[]}", "results");
        char *t = ssc_results_text(j);
        CHECK(t && t[0] == 0);
        free(t);
        json_decref(j);
    }
    ssc_free(c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) {}
    TEST_EXIT();
}
