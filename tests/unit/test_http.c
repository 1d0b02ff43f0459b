/* Unit tests of the HTTP front end's helpers (src/http/sh_format.c, sh_upload.c):
 * response formats, estimated and exact segment times, error shapes, the listen address
 * parser, the bearer check, daemon error mapping, private upload files, word timestamps
 * and the server-sent events of a stream (sh_stream.c, fed a partial file by hand). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/sh_format.h"
#include "http/sh_guard.h"
#include "http/sh_stream.h"
#include "http/sh_upload.h"
#include "speech.h"   /* sp_language_name */

static json_t *parse(const char *s)
{
    json_error_t e;
    return json_loads(s, 0, &e);
}

static char *render(const char *resp_json, double duration, sh_fmt f, sh_transcript *keep)
{
    json_t *r = parse(resp_json);
    sh_transcript t;
    size_t len = 0;
    char *s = NULL;
    if (r && sh_transcript_from_response(r, duration, &t) == 0) {
        s = sh_render(f, &t, "transcribe", &len);
        if (s && len != strlen(s)) { free(s); s = NULL; }
        if (keep) *keep = t; else sh_transcript_deinit(&t);
    }
    json_decref(r);
    return s;
}

/* Appends text to dir/name (one write, as the daemon does). */
static void append(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) perror("write");
        close(fd);
    }
}

/* Everything the stream has queued, as a string (freed by the caller). */
static char *drain(sh_stream *st)
{
    size_t n = sh_stream_queued(st);
    char *b = calloc(1, n + 1);
    if (b) sh_stream_take(st, b, n);
    return b;
}

static void test_format_names(void)
{
    TEST("response_format names") {
        sh_fmt f;
        CHECK(sh_fmt_parse(NULL, &f) == 0 && f == SH_FMT_JSON);
        CHECK(sh_fmt_parse("", &f) == 0 && f == SH_FMT_JSON);
        CHECK(sh_fmt_parse("json", &f) == 0 && f == SH_FMT_JSON);
        CHECK(sh_fmt_parse("text", &f) == 0 && f == SH_FMT_TEXT);
        CHECK(sh_fmt_parse("srt", &f) == 0 && f == SH_FMT_SRT);
        CHECK(sh_fmt_parse("vtt", &f) == 0 && f == SH_FMT_VTT);
        CHECK(sh_fmt_parse("verbose_json", &f) == 0 && f == SH_FMT_VERBOSE);
        CHECK(sh_fmt_parse("JSON", &f) == -1);
        CHECK(sh_fmt_parse("xml", &f) == -1);
        CHECK(strncmp(sh_fmt_content_type(SH_FMT_VTT), "text/vtt", 8) == 0);
        CHECK(strncmp(sh_fmt_content_type(SH_FMT_SRT), "text/plain", 10) == 0);
        CHECK(strcmp(sh_fmt_content_type(SH_FMT_VERBOSE), "application/json") == 0);
    }
}

static void test_timestamps(void)
{
    TEST("timestamps") {
        char b[32];
        sh_timestamp(0, ',', b); CHECK(strcmp(b, "00:00:00,000") == 0);
        sh_timestamp(1.5, ',', b); CHECK(strcmp(b, "00:00:01,500") == 0);
        sh_timestamp(3661.0015, '.', b); CHECK(strcmp(b, "01:01:01.002") == 0);
        sh_timestamp(59.9996, '.', b); CHECK(strcmp(b, "00:01:00.000") == 0);
        sh_timestamp(-3, '.', b); CHECK(strcmp(b, "00:00:00.000") == 0);
        sh_timestamp(0.0 / 0.0, ',', b); CHECK(strcmp(b, "00:00:00,000") == 0);
        sh_timestamp(360000, ',', b); CHECK(strcmp(b, "100:00:00,000") == 0);
        /* past a long long of ms (a response file the daemon did not write): the largest
         * time, never llround's LLONG_MIN ("-2562047788015:-12:-55,-808"; fuzz_response) */
        sh_timestamp(1e16, ',', b); CHECK(strcmp(b, "2500000000000:00:00,000") == 0);
        sh_timestamp(1e300, '.', b); CHECK(strcmp(b, "2500000000000:00:00.000") == 0);
    }
}

static void test_json_text_join(void)
{
    TEST("json and text join trimmed segments") {
        const char *resp = "{\"id\":\"1\",\"results\":[\" Hello there.\",\"  How are you? \"]}";
        char *s = render(resp, 2, SH_FMT_JSON, NULL);
        CHECKF(s && strcmp(s, "{\"text\":\"Hello there. How are you?\",\"usage\":{\"type\":\"duration\",\"seconds\":2.0}}") == 0, "%s", s);
        free(s);
        s = render(resp, 2, SH_FMT_TEXT, NULL);
        CHECK(s && strcmp(s, "Hello there. How are you?\n") == 0);
        free(s);
        s = render("{\"results\":[]}", 0, SH_FMT_TEXT, NULL);
        CHECK(s && strcmp(s, "\n") == 0);
        free(s);
        s = render("{\"results\":[]}", 0, SH_FMT_JSON, NULL);
        CHECK(s && strcmp(s, "{\"text\":\"\"}") == 0);
        free(s);
    }
}

static void test_estimated_times(void)
{
    TEST("estimated times spread the duration by text length") {
        sh_transcript t;
        char *s = render("{\"results\":[\" aaaa\",\"bbbbbbbbbbbb \"]}", 8, SH_FMT_SRT, &t);
        CHECK(t.estimated == 1 && t.n == 2);
        CHECK(t.segs[0].start == 0 && fabs(t.segs[0].end - 2.0) < 1e-9);
        CHECK(fabs(t.segs[1].start - 2.0) < 1e-9 && fabs(t.segs[1].end - 8.0) < 1e-9);
        CHECK(s && strcmp(s, "1\n00:00:00,000 --> 00:00:02,000\naaaa\n\n"
                             "2\n00:00:02,000 --> 00:00:08,000\nbbbbbbbbbbbb\n\n") == 0);
        free(s);
        sh_transcript_deinit(&t);
        sh_transcript_deinit(&t);   /* idempotent */
        sh_transcript_deinit(NULL);
    }
}

/* verbose_json's language as OpenAI gives it: whisper's name for the code; a code the engine
 * does not know (a newer daemon's) is passed on as it is rather than dropped */
static void test_language_names(void)
{
    TEST("verbose_json language: whisper's names, unknown codes kept") {
        static const char *const cases[][2] = {{"en", "english"}, {"de", "german"}, {"yue", "cantonese"},
                                               {"haw", "hawaiian"}, {"ht", "haitian creole"}, {"xx", "xx"}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char resp[160];
            snprintf(resp, sizeof resp, "{\"results\":[\" a\"],\"duration\":1,\"language\":\"%s\","
                     "\"segments\":[{\"start\":0,\"end\":1,\"text\":\" a\"}]}", cases[i][0]);
            sh_transcript t;
            free(render(resp, 1, SH_FMT_JSON, &t));
            size_t len;
            char *s = sh_render(SH_FMT_VERBOSE, &t, "transcribe", &len);
            json_t *v = s ? parse(s) : NULL;
            const char *got = json_string_value(json_object_get(v, "language"));
            CHECK(got && strcmp(got, cases[i][1]) == 0);
            json_decref(v);
            free(s);
            sh_transcript_deinit(&t);
        }
        CHECK(sp_language_name("en") && !sp_language_name("english") && !sp_language_name(NULL));
    }
}

static void test_exact_times(void)
{
    TEST("exact times from the daemon's optional segments") {
        const char *resp = "{\"results\":[\"x\"],\"duration\":3.5,\"language\":\"en\","
                           "\"segments\":[{\"start\":0.5,\"end\":1.25,\"text\":\" one\"},"
                           "{\"start\":1.25,\"end\":3.0,\"text\":\" two\"}]}";
        sh_transcript t;
        char *s = render(resp, 99, SH_FMT_VTT, &t);
        CHECK(t.estimated == 0 && t.n == 2 && t.duration == 3.5);
        CHECK(t.language && strcmp(t.language, "en") == 0);
        CHECK(s && strcmp(s, "WEBVTT\n\n00:00:00.500 --> 00:00:01.250\none\n\n"
                             "00:00:01.250 --> 00:00:03.000\ntwo\n\n") == 0);
        free(s);
        size_t len;
        s = sh_render(SH_FMT_VERBOSE, &t, "transcribe", &len);
        json_t *v = s ? parse(s) : NULL;
        CHECK(v != NULL);
        CHECK(strcmp(json_string_value(json_object_get(v, "task")), "transcribe") == 0);
        CHECK(strcmp(json_string_value(json_object_get(v, "language")), "english") == 0);   /* OpenAI's name */
        CHECK(json_real_value(json_object_get(v, "duration")) == 3.5);
        CHECK(strcmp(json_string_value(json_object_get(v, "text")), "one two") == 0);
        json_t *segs = json_object_get(v, "segments");
        CHECK(json_array_size(segs) == 2);
        json_t *g = json_array_get(segs, 1);
        CHECK(json_integer_value(json_object_get(g, "id")) == 1);
        CHECK(json_real_value(json_object_get(g, "start")) == 1.25);
        CHECK(json_real_value(json_object_get(g, "end")) == 3.0);
        CHECK(strcmp(json_string_value(json_object_get(g, "text")), " two") == 0);
        CHECK(json_is_array(json_object_get(g, "tokens")));
        CHECK(strcmp(json_string_value(json_object_get(v, "timing")), "exact") == 0);
        json_decref(v);
        free(s);
        sh_transcript_deinit(&t);
    }
}

static void test_decode_fields(void)
{
    TEST("verbose_json segments carry the daemon's seek, tokens and figures (OpenAI's fields)") {
        const char *resp = "{\"results\":[\"a\",\"b\"],\"duration\":40,\"segments\":["
                           "{\"start\":31.5,\"end\":33,\"text\":\"a\",\"seek\":3000,\"tokens\":[50364,257,50439],"
                           "\"temperature\":0.2,\"avg_logprob\":-0.25,\"compression_ratio\":1.5,"
                           "\"no_speech_prob\":0.01},"
                           "{\"start\":34,\"end\":35,\"text\":\"b\",\"seek\":3000,\"tokens\":[\"x\"],"
                           "\"temperature\":0,\"avg_logprob\":-0.25,\"compression_ratio\":1.5,"
                           "\"no_speech_prob\":0.01}]}";
        sh_transcript t;
        char *s = render(resp, 99, SH_FMT_VERBOSE, &t);
        json_t *v = s ? parse(s) : NULL;
        json_t *g0 = json_array_get(json_object_get(v, "segments"), 0);
        json_t *g1 = json_array_get(json_object_get(v, "segments"), 1);
        CHECK(t.estimated == 0 && t.n == 2);
        CHECKF(json_integer_value(json_object_get(g0, "seek")) == 3000, "%s", s);
        CHECK(json_array_size(json_object_get(g0, "tokens")) == 3 &&
              json_integer_value(json_array_get(json_object_get(g0, "tokens"), 1)) == 257);
        CHECK(json_real_value(json_object_get(g0, "temperature")) == 0.2);
        CHECK(json_real_value(json_object_get(g0, "avg_logprob")) == -0.25);
        CHECK(json_real_value(json_object_get(g0, "compression_ratio")) == 1.5);
        CHECK(json_real_value(json_object_get(g0, "no_speech_prob")) == 0.01);
        /* a malformed token list: that segment as from an older daemon, none invented */
        CHECK(json_integer_value(json_object_get(g1, "seek")) == 3400);
        CHECK(json_array_size(json_object_get(g1, "tokens")) == 0);
        CHECK(!json_object_get(g1, "avg_logprob") && !json_object_get(g1, "temperature"));
        json_decref(v);
        free(s);
        sh_transcript_deinit(&t);
    }
}

/* the daemon strips each segment's text; "text_lead" gives back what it took off the front,
 * and verbose_json's segments begin with it as OpenAI's do (joined, they read as the text) */
static void test_text_lead(void)
{
    TEST("verbose_json segment texts get the daemon's text_lead back; anything else ignored") {
        const char *resp = "{\"results\":[\"One.\",\"Two\",\"3\",\"4\",\"Five\"],\"duration\":9,\"segments\":["
#define SEG(t, lead) "{\"start\":0,\"end\":1,\"text\":\"" t "\",\"seek\":0,\"tokens\":[1]," \
                     "\"temperature\":0,\"avg_logprob\":-0.2,\"compression_ratio\":1,\"no_speech_prob\":0.1" lead "}"
                           SEG("One.", ",\"text_lead\":\" \"") "," SEG("Two", ",\"text_lead\":\" \"") ","
                           SEG("3", ",\"text_lead\":\"x\"") "," SEG("4", ",\"text_lead\":\"         \"") ","
                           /* a figure left out (the daemon omits non-finite ones): the lead stays */
                           "{\"start\":1,\"end\":2,\"text\":\"Five\",\"text_lead\":\" \",\"seek\":0,\"tokens\":[1]}]}";
#undef SEG
        sh_transcript t;
        char *s = render(resp, 9, SH_FMT_VERBOSE, &t);
        json_t *v = s ? parse(s) : NULL, *segs = json_object_get(v, "segments");
        const char *want[] = {" One.", " Two", "3", "4", " Five"};   /* not white space; over 7 bytes */
        for (size_t i = 0; i < 5; i++) {
            const char *got = json_string_value(json_object_get(json_array_get(segs, i), "text"));
            CHECKF(got && strcmp(got, want[i]) == 0, "segment %zu: %s", i, got ? got : "(none)");
            CHECK(!json_object_get(json_array_get(segs, i), "text_lead"));   /* not OpenAI's field */
        }
        CHECK(strcmp(json_string_value(json_object_get(v, "text")), "One. Two 3 4 Five") == 0);
        CHECK(!json_object_get(json_array_get(segs, 4), "avg_logprob"));   /* none invented */
        json_decref(v);
        free(s);
        sh_transcript_deinit(&t);
    }
}

/* Chinese, Japanese, Thai: Whisper writes no space before a segment, so the daemon sends no
 * text_lead, and the whole text (and the stream's deltas) join those segments directly, as
 * "".join(s.text for s in segments).strip() does; a daemon that does not say (no text_lead: an
 * older one, even with "seek") or a malformed lead: a space */
static void test_text_lead_none(void)
{
    TEST("text: segments with an empty text_lead join directly (CJK); none said or malformed: one space") {
#define SEG(t, lead) "{\"start\":0,\"end\":1,\"text\":\"" t "\",\"seek\":0,\"tokens\":[1]," \
                     "\"temperature\":0,\"avg_logprob\":-0.2,\"compression_ratio\":1,\"no_speech_prob\":0.1" lead "}"
        const char *resp = "{\"results\":[\"你好。\",\"今天天气很好。\",\"OK\",\"x\",\"y\"],\"duration\":9,\"segments\":["
                           SEG("你好。", ",\"text_lead\":\"\"") "," SEG("今天天气很好。", ",\"text_lead\":\"\"") ","
                           SEG("OK", ",\"text_lead\":\" \"") "," SEG("x", ",\"text_lead\":7") ","
                           SEG("y", "") "]}";   /* y: seek but no text_lead, as an older daemon */
#undef SEG
        sh_transcript t;
        char *s = render(resp, 9, SH_FMT_VERBOSE, &t);
        json_t *v = s ? parse(s) : NULL;
        const char *text = json_string_value(json_object_get(v, "text"));
        CHECKF(text && !strcmp(text, "你好。今天天气很好。 OK x y"), "%s", text ? text : "(none)");
        /* and the segments read as the text, joined */
        char joined[256] = "";
        for (size_t i = 0; i < 5; i++) {
            const char *g = json_string_value(json_object_get(json_array_get(json_object_get(v, "segments"), i), "text"));
            strncat(joined, g ? g : "", sizeof joined - strlen(joined) - 1);
        }
        CHECKF(!strcmp(joined, "你好。今天天气很好。 OKxy"), "%s", joined);   /* x, y: no lead known to put back */
        json_decref(v);
        free(s);
        sh_transcript_deinit(&t);

        char dir[] = "/tmp/sh-stream-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        sh_stream *st = sh_stream_new(dir, "9");
        append(dir, ".9.partial", "{\"i\": 0, \"start\": 0, \"end\": 1, \"text\": \"你好。\", \"seek\": 0, \"text_lead\": \"\"}\n"
                                  "{\"i\": 1, \"start\": 1, \"end\": 2, \"text\": \"今天。\", \"seek\": 0, \"text_lead\": \"\"}\n"
                                  "{\"i\": 2, \"start\": 2, \"end\": 3, \"text\": \"OK\", \"seek\": 0, \"text_lead\": \" \"}\n");
        CHECK(st && sh_stream_tail(st) == 3);
        char *e = drain(st);
        CHECKF(e && strcmp(e, "data: {\"type\":\"transcript.text.delta\",\"delta\":\"你好。\"}\n\n"
                              "data: {\"type\":\"transcript.text.delta\",\"delta\":\"今天。\"}\n\n"
                              "data: {\"type\":\"transcript.text.delta\",\"delta\":\" OK\"}\n\n") == 0, "%s", e ? e : "");
        free(e);
        json_t *r = parse("{\"results\":[\"你好。\",\"今天。\",\"OK\"],\"segments\":["
            "{\"start\":0,\"end\":1,\"text\":\"你好。\",\"seek\":0,\"text_lead\":\"\"},"
            "{\"start\":1,\"end\":2,\"text\":\"今天。\",\"seek\":0,\"text_lead\":\"\"},"
            "{\"start\":2,\"end\":3,\"text\":\"OK\",\"seek\":0,\"text_lead\":\" \"}]}");
        CHECK(st && sh_stream_finish(st, r) == 0);
        e = drain(st);
        CHECKF(e && strcmp(e, "data: {\"type\":\"transcript.text.done\",\"text\":\"你好。今天。 OK\"}\n\n") == 0, "%s", e ? e : "");
        free(e);
        json_decref(r);
        sh_stream_free(st);
        char p[512];
        snprintf(p, sizeof p, "%s/.9.partial", dir);
        unlink(p);
        rmdir(dir);
    }
}

static void test_malformed_segments(void)
{
    TEST("malformed segments fall back to estimates") {
        const char *bad[] = {
            "{\"results\":[\"a\"],\"segments\":[{\"start\":1,\"end\":0.5,\"text\":\"a\"}]}",
            "{\"results\":[\"a\"],\"segments\":[{\"start\":\"0\",\"end\":1,\"text\":\"a\"}]}",
            "{\"results\":[\"a\"],\"segments\":[{\"start\":0,\"end\":1}]}",
            "{\"results\":[\"a\"],\"segments\":[{\"start\":-1,\"end\":1,\"text\":\"a\"}]}",
            "{\"results\":[\"a\"],\"segments\":[7]}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            sh_transcript t;
            json_t *r = parse(bad[i]);
            CHECKF(r && sh_transcript_from_response(r, 2, &t) == 0 && t.estimated && t.n == 1 &&
                   t.segs[0].end == 2.0, "case %zu", i);
            sh_transcript_deinit(&t);
            json_decref(r);
        }
    }
}

static void test_cues(void)
{
    TEST("cues: empty segments skipped, newlines and --> defused") {
        char *s = render("{\"results\":[\" \",\"a\\n\\nb --> c\",7]}", 1, SH_FMT_SRT, NULL);
        CHECK(s && strcmp(s, "1\n00:00:00,000 --> 00:00:01,000\na  b -> c\n\n") == 0);
        free(s);
        /* a longer arrow too: "--->" had become "-->" (fuzz_response) */
        s = render("{\"results\":[\"--->a ---->b -- > --\"]}", 1, SH_FMT_VTT, NULL);
        CHECK(s && strcmp(s, "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n->a ->b -- > --\n\n") == 0);
        free(s);
        s = render("{\"results\":[]}", 0, SH_FMT_VTT, NULL);
        CHECK(s && strcmp(s, "WEBVTT\n\n") == 0);
        free(s);
        s = render("{\"results\":[]}", 0, SH_FMT_SRT, NULL);
        CHECK(s && strcmp(s, "") == 0);
        free(s);
        /* no duration known: every cue at zero, still well-formed */
        s = render("{\"results\":[\"a\",\"b\"]}", 0, SH_FMT_VTT, NULL);
        CHECK(s && strstr(s, "00:00:00.000 --> 00:00:00.000\nb\n"));
        free(s);
    }
}

static void test_error_bodies(void)
{
    TEST("error bodies") {
        char *s = sh_openai_error("bad thing", "invalid_request_error", "file", NULL);
        CHECK(s && strcmp(s, "{\"error\":{\"message\":\"bad thing\",\"type\":\"invalid_request_error\","
                             "\"param\":\"file\",\"code\":null}}") == 0);
        free(s);
        s = sh_openai_error("\xff", NULL, NULL, "x");   /* invalid UTF-8 still gives JSON */
        json_t *j = s ? parse(s) : NULL;
        CHECK(j && json_is_string(json_object_get(json_object_get(j, "error"), "message")));
        json_decref(j);
        free(s);
        s = sh_simple_error("No audio file", NULL);
        CHECK(s && strcmp(s, "{\"error\":\"No audio file\"}") == 0);
        free(s);
        s = sh_simple_error("busy", "busy");
        CHECK(s && strcmp(s, "{\"error\":\"busy\",\"error_code\":\"busy\"}") == 0);
        free(s);
    }
}

static void test_listen_addresses(void)
{
    TEST("listen addresses") {
        struct sockaddr_storage ss;
        socklen_t len;
        char err[200];
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        CHECK(sh_parse_listen("127.0.0.1:8080", &ss, &len, err, sizeof err) == 0 &&
              ss.ss_family == AF_INET && ntohs(a4->sin_port) == 8080 &&
              a4->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && len == sizeof *a4);
        CHECK(sh_parse_listen("9000", &ss, &len, err, sizeof err) == 0 &&
              ntohs(a4->sin_port) == 9000 && a4->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
        CHECK(sh_parse_listen(":0", &ss, &len, err, sizeof err) == 0 && ntohs(a4->sin_port) == 0);
        CHECK(sh_parse_listen("0.0.0.0:80", &ss, &len, err, sizeof err) == 0 &&
              a4->sin_addr.s_addr == 0);
        CHECK(sh_parse_listen("[::1]:8443", &ss, &len, err, sizeof err) == 0 &&
              ss.ss_family == AF_INET6 && ntohs(a6->sin6_port) == 8443 && len == sizeof *a6);
        const char *bad[] = { "", "localhost:80", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1",
                              "::1:80", "[::1]80", "1.2.3.4:80x", "999.1.1.1:80", "1.2.3.4:123456" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECKF(sh_parse_listen(bad[i], &ss, &len, err, sizeof err) == -1 && err[0],
                   "'%s' accepted", bad[i]);
        CHECK(sh_parse_listen(NULL, &ss, &len, err, sizeof err) == -1);
    }
}

static void test_bearer_token(void)
{
    TEST("bearer token") {
        CHECK(sh_bearer_ok("Bearer s3cret", "s3cret"));
        CHECK(sh_bearer_ok("bearer s3cret", "s3cret"));
        CHECK(sh_bearer_ok("Bearer  s3cret ", "s3cret"));
        CHECK(!sh_bearer_ok("Bearer s3cre", "s3cret"));
        CHECK(!sh_bearer_ok("Bearer s3cretX", "s3cret"));
        CHECK(!sh_bearer_ok("Basic s3cret", "s3cret"));
        CHECK(!sh_bearer_ok("s3cret", "s3cret"));
        CHECK(!sh_bearer_ok("Bearer ", "s3cret"));
        CHECK(!sh_bearer_ok(NULL, "s3cret"));
        CHECK(!sh_bearer_ok("Bearer x", NULL));
    }
}

static void test_daemon_error_codes(void)
{
    TEST("daemon error codes map to HTTP statuses") {
        const char *type;
        CHECK(sh_daemon_error_status("audio_format", &type) == 400 &&
              strcmp(type, "invalid_request_error") == 0);
        CHECK(sh_daemon_error_status("audio_too_long", &type) == 413);
        CHECK(sh_daemon_error_status("bad_request", &type) == 400 &&
              strcmp(type, "invalid_request_error") == 0);
        CHECK(sh_daemon_error_status("busy", &type) == 503 && strcmp(type, "server_error") == 0);
        CHECK(sh_daemon_error_status("transcription_failed", &type) == 500);
        CHECK(sh_daemon_error_status("something_new", &type) == 500);
        CHECK(sh_daemon_error_status(NULL, &type) == 500);
    }
}

static void test_upload_files(void)
{
    TEST("upload files: private, unique, swept only when their server is gone") {
        char dir[] = "/tmp/test_http.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        mode_t old = umask(0);   /* the mode must not depend on the umask */
        char a[SH_UPLOAD_NAME_MAX], b[SH_UPLOAD_NAME_MAX];
        int fa = sh_upload_create(dfd, a), fb = sh_upload_create(dfd, b);
        umask(old);
        CHECK(fa >= 0 && fb >= 0 && strcmp(a, b) != 0);
        struct stat st;
        CHECK(fstat(fa, &st) == 0 && (st.st_mode & 0777) == 0600 && S_ISREG(st.st_mode));
        CHECK(sh_write_all(fa, "RIFF", 4) == 0 && fstat(fa, &st) == 0 && st.st_size == 4);
        CHECK(sh_upload_count(dfd) == 2);
        /* a dead server's leftovers: a child's pid, reaped */
        pid_t child = fork();
        if (child == 0) _exit(0);
        waitpid(child, NULL, 0);
        char dead[64];
        snprintf(dead, sizeof dead, "up-%ld-0-00", (long)child);
        int fd = openat(dfd, dead, O_WRONLY | O_CREAT | O_EXCL, 0600);
        CHECK(fd >= 0);
        close(fd);
        fd = openat(dfd, "unrelated", O_WRONLY | O_CREAT | O_EXCL, 0600);
        close(fd);
        CHECK(sh_upload_count(dfd) == 3);
        CHECK(sh_upload_sweep(dfd) == 1);   /* ours stay (we are alive), the dead one goes */
        CHECK(sh_upload_count(dfd) == 2);
        CHECK(faccessat(dfd, "unrelated", F_OK, 0) == 0);
        /* a symlink squatting a name is never followed */
        CHECK(symlinkat("/etc/passwd", dfd, "up-1-1-1") == 0);
        close(fa);
        close(fb);
        unlinkat(dfd, a, 0);
        unlinkat(dfd, b, 0);
        unlinkat(dfd, "up-1-1-1", 0);
        unlinkat(dfd, "unrelated", 0);
        close(dfd);
        CHECK(rmdir(dir) == 0);
    }
}

static void test_slow_client_guard(void)
{
    TEST("slow-client guard: header and body deadlines, work untouched, capacity kept") {
        /* socket pairs stand for connections: the guard shuts down sv[0], the "client" sv[1]
         * then reads end-of-file */
        sh_guard_opts o = { .header_timeout = 10, .body_timeout = 100, .idle_timeout = 30,
                            .min_age = 1, .max_conns = 8, .reserve = 2, .no_thread = 1 };
        sh_guard *g = sh_guard_start(&o);
        CHECK(g != NULL);
        int sv[6][2];
        sh_guard_conn *c[6];
        for (int i = 0; i < 6; i++) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
            c[i] = sh_guard_add(g, sv[i][0]);
        }
        double t = sh_guard_now();
        sh_guard_phase(g, c[1], SH_PHASE_BODY);
        sh_guard_phase(g, c[2], SH_PHASE_WORK);
        sh_guard_phase(g, c[3], SH_PHASE_HEADERS);   /* kept alive: idle + header time */
        CHECK(sh_guard_sweep(g, t + 5) == 0);
        CHECK(sh_guard_sweep(g, t + 10.5) == 3);     /* 0, 4, 5: headers late */
        char b;
        CHECK(read(sv[0][1], &b, 1) == 0 && read(sv[4][1], &b, 1) == 0);
        CHECK(sh_guard_sweep(g, t + 39) == 0);
        CHECK(sh_guard_sweep(g, t + 41) == 1);       /* 3: 30 s idle + 10 s */
        CHECK(sh_guard_sweep(g, t + 101) == 1);      /* 1: body late */
        CHECK(read(sv[1][1], &b, 1) == 0);
        CHECK(sh_guard_sweep(g, t + 1e6) == 0);      /* 2: working, never touched */
        long lh, lb, ev, sb;
        sh_guard_counts(g, &lh, &lb, &ev, &sb);
        CHECK(lh == 4 && lb == 1 && ev == 0 && sb == 0);
        for (int i = 0; i < 6; i++) {
            sh_guard_remove(g, c[i]);
            close(sv[i][0]);
            close(sv[i][1]);
        }
        /* 8 slots, 2 kept free: 8 waiting connections, the 2 oldest (>= 1 s) are closed */
        int w[8][2];
        sh_guard_conn *wc[8];
        for (int i = 0; i < 8; i++) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, w[i]) == 0);
            wc[i] = sh_guard_add(g, w[i][0]);
            if (i == 0 || i == 1) sh_guard_phase(g, wc[i], SH_PHASE_WORK);   /* busy: kept */
        }
        t = sh_guard_now();
        CHECK(sh_guard_sweep(g, t + 0.5) == 0);      /* nobody has waited 1 s yet */
        CHECK(sh_guard_sweep(g, t + 2) == 2);
        CHECK(read(w[2][1], &b, 1) == 0 && read(w[3][1], &b, 1) == 0);
        CHECK(sh_guard_sweep(g, t + 3) == 0);        /* 6 open now: below 8 - 2 */
        sh_guard_counts(g, &lh, &lb, &ev, &sb);
        CHECK(ev == 2);
        for (int i = 0; i < 8; i++) {
            sh_guard_remove(g, wc[i]);
            close(w[i][0]);
            close(w[i][1]);
        }
        /* every upload slot taken: the slowest body under the rate (after min_age) gives way,
         * then the next slowest; a fast one, a young one and one being worked on never */
        int u[5][2];
        sh_guard_conn *uc[5];
        static const unsigned long long got[5] = { 1u << 20, 100, 10, 0, 0 };
        for (int i = 0; i < 5; i++) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u[i]) == 0);
            uc[i] = sh_guard_add(g, u[i][0]);
            sh_guard_phase(g, uc[i], i == 4 ? SH_PHASE_WORK : SH_PHASE_BODY);
            sh_guard_body_bytes(g, uc[i], got[i]);
        }
        t = sh_guard_now();
        CHECK(sh_guard_evict_slow_body(g, t + 1, 2, 1000) == 0);   /* none 2 s old yet */
        CHECK(sh_guard_evict_slow_body(g, t + 5, 2, 1000) == 1);   /* 3: 0 bytes */
        CHECK(read(u[3][1], &b, 1) == 0);
        CHECK(sh_guard_evict_slow_body(g, t + 5, 2, 1000) == 1);   /* 2: 10 bytes */
        CHECK(read(u[2][1], &b, 1) == 0);
        CHECK(sh_guard_evict_slow_body(g, t + 5, 2, 1000) == 1);   /* 1: 100 bytes */
        CHECK(sh_guard_evict_slow_body(g, t + 5, 2, 1000) == 0);   /* 0 fast, 4 working */
        sh_guard_counts(g, &lh, &lb, &ev, &sb);
        CHECK(sb == 3);
        for (int i = 0; i < 5; i++) {
            sh_guard_remove(g, uc[i]);
            close(u[i][0]);
            close(u[i][1]);
        }
        sh_guard_stop(g);
    }
}

static void test_word_timestamps(void)
{
    TEST("word timestamps: OpenAI's top-level words, segments as the granularities ask") {
        const char *resp = "{\"results\":[\"x\"],\"duration\":2,\"segments\":["
            "{\"start\":0,\"end\":1,\"text\":\" Hello there.\",\"words\":["
            "{\"start\":0.1,\"end\":0.5,\"word\":\" Hello\",\"probability\":0.9},"
            "{\"start\":0.5,\"end\":0.9,\"word\":\" there.\",\"probability\":0.8}]},"
            "{\"start\":1,\"end\":2,\"text\":\" Bye.\",\"words\":[{\"start\":1.2,\"end\":1.6,\"word\":\" Bye.\"}]}]}";
        json_t *r = parse(resp);
        sh_transcript t;
        CHECK(r && sh_transcript_from_response(r, 0, &t) == 0);
        CHECK(t.n_words == 3 && !t.words_missing);
        size_t len;
        char *s = sh_render_ex(SH_FMT_VERBOSE, &t, "transcribe", SH_GRAN_WORDS, &len);
        json_t *v = s ? parse(s) : NULL;
        json_t *w = json_object_get(v, "words");
        CHECK(json_array_size(w) == 3 && !json_object_get(v, "segments"));
        json_t *w1 = json_array_get(w, 1);
        CHECK(json_object_size(w1) == 3);
        CHECK(strcmp(json_string_value(json_object_get(w1, "word")), "there") == 0);
        CHECK(json_real_value(json_object_get(w1, "start")) == 0.5 &&
              json_real_value(json_object_get(w1, "end")) == 0.9);
        json_decref(v);
        free(s);
        s = sh_render_ex(SH_FMT_VERBOSE, &t, "transcribe", SH_GRAN_WORDS | SH_GRAN_SEGMENTS, &len);
        v = s ? parse(s) : NULL;
        CHECK(json_array_size(json_object_get(v, "words")) == 3 &&
              json_array_size(json_object_get(v, "segments")) == 2);
        json_decref(v);
        free(s);
        sh_transcript_deinit(&t);
        json_decref(r);
        /* a daemon without words: said, so the server never answers without them */
        r = parse("{\"results\":[\"x\"],\"segments\":[{\"start\":0,\"end\":1,\"text\":\"x\"}]}");
        CHECK(r && sh_transcript_from_response(r, 0, &t) == 0 && t.words_missing);
        sh_transcript_deinit(&t);
        json_decref(r);
    }
}

/* The "word" of each of OpenAI's words from daemon words: a JSON array of strings in. */
static char *bare_words(const char *words_json)
{
    char resp[2048];
    json_t *ws = parse(words_json), *w, *segs = json_array(), *seg = json_object(), *wa = json_array();
    size_t i;
    json_array_foreach(ws, i, w) {
        json_t *o = json_object();
        json_object_set_new(o, "start", json_real((double)i));
        json_object_set_new(o, "end", json_real((double)i + 0.5));
        json_object_set(o, "word", w);
        json_array_append_new(wa, o);
    }
    json_object_set_new(seg, "start", json_real(0));
    json_object_set_new(seg, "end", json_real((double)i));
    json_object_set_new(seg, "text", json_string("x"));
    json_object_set_new(seg, "words", wa);
    json_array_append_new(segs, seg);
    char *ss = json_dumps(segs, JSON_COMPACT);
    snprintf(resp, sizeof resp, "{\"results\":[\"x\"],\"segments\":%s}", ss);
    free(ss);
    json_decref(segs);
    json_decref(ws);
    json_t *r = parse(resp);
    sh_transcript t;
    char *out = NULL;
    if (r && sh_transcript_from_response(r, 0, &t) == 0) {
        json_t *got = json_array();
        for (int k = 0; k < t.n_words; k++) json_array_append_new(got, json_string(t.words[k].word));
        out = json_dumps(got, JSON_COMPACT);
        json_decref(got);
        sh_transcript_deinit(&t);
    }
    json_decref(r);
    return out;
}

static void test_bare_words(void)
{
    TEST("word timestamps: words bare of punctuation at their ends, as OpenAI's whisper-1") {
        /* OpenAI's own answer for "What's up, everybody?" (remotion-dev/remotion,
         * packages/openai-whisper/src/test/output.ts) */
        char *s = bare_words("[\" What's\", \" up,\", \" everybody?\"]");
        CHECK(s && strcmp(s, "[\"What's\",\"up\",\"everybody\"]") == 0);
        free(s);
        /* inner apostrophes, hyphens and dots stay; symbols ($ %) are no punctuation... */
        s = bare_words("[\" \\\"well-known\\\",\", \" 3.5.\", \" $5\", \" (U.S.)\", \" a+b\"]");
        CHECK(s && strcmp(s, "[\"well-known\",\"3.5\",\"$5\",\"U.S\",\"a+b\"]") == 0);
        free(s);
        /* punctuation that is said stays: percent, number sign, ampersand, at, primes */
        s = bare_words("[\" 50%.\", \" #1,\", \" AT&T\", \" @name:\", \" 6\u20322\u2033\", \" and/or\"]");
        CHECK(s && strcmp(s, "[\"50%\",\"#1\",\"AT&T\",\"@name\",\"6\u20322\u2033\",\"and/or\"]") == 0);
        free(s);
        /* ... and a word that is only punctuation goes, its time with it */
        s = bare_words("[\" And\", \" \u2014\", \" so...\", \" -\", \" ok!\"]");
        CHECK(s && strcmp(s, "[\"And\",\"so\",\"ok\"]") == 0);
        free(s);
        /* Unicode punctuation: quotes, Spanish marks, ellipsis, dashes, CJK */
        s = bare_words("[\" \u201cHello\u201d\", \" \u00bfQu\u00e9?\", \" \u00a1S\u00ed!\", "
                       "\" \u00abbien\u00bb\u2026\", \"\u300c\u4f60\u597d\u300d\u3002\", "
                       "\"\u4eca\u5929\uff0c\", \"\u597d\uff01\", \"\u5417\uff1f\", "
                       "\"\u4e00\u3001\", \" \u2018it\u2019s\u2019\", \" 1\u20132\u2013\"]");
        CHECK(s && strcmp(s, "[\"Hello\",\"Qu\u00e9\",\"S\u00ed\",\"bien\","
                             "\"\u4f60\u597d\",\"\u4eca\u5929\",\"\u597d\",\"\u5417\","
                             "\"\u4e00\",\"it\u2019s\",\"1\u20132\"]") == 0);
        free(s);
    }
}

static void test_stream_deltas(void)
{
    TEST("stream: partial lines become deltas in order, the final answer fills in and ends") {
        char dir[] = "/tmp/sh-stream-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        sh_stream *st = sh_stream_new(dir, "42");
        CHECK(st != NULL);
        CHECK(sh_stream_tail(st) == 0 && sh_stream_queued(st) == 0);   /* no file yet */
        append(dir, ".42.partial", "{\"i\": 0, \"start\": 0.0, \"end\": 1.0, \"text\": \" Hello there.\"}\n"
                                   "{\"i\": 1, \"start\": 1.0, \"end\": 2.0, \"te");
        CHECK(sh_stream_tail(st) == 1);   /* the second line is not complete yet */
        char *e = drain(st);
        CHECK(e && strcmp(e, "data: {\"type\":\"transcript.text.delta\",\"delta\":\"Hello there.\"}\n\n") == 0);
        free(e);
        append(dir, ".42.partial", "xt\": \" How are you?\"}\n{\"i\": 1, \"text\": \" again\"}\n"
                                   "{\"i\": 2, \"start\": 2.0, \"end\": 2.5, \"text\": \"  \"}\n");
        CHECK(sh_stream_tail(st) == 1);   /* a repeated index is skipped; an empty text adds nothing */
        e = drain(st);
        CHECK(e && strcmp(e, "data: {\"type\":\"transcript.text.delta\",\"delta\":\" How are you?\"}\n\n") == 0);
        free(e);
        json_t *r = parse("{\"results\":[\"a\",\"b\",\"c\",\"d\"],\"segments\":["
            "{\"start\":0,\"end\":1,\"text\":\" Hello there.\"},{\"start\":1,\"end\":2,\"text\":\" How are you?\"},"
            "{\"start\":2,\"end\":2.5,\"text\":\"  \"},{\"start\":2.5,\"end\":3,\"text\":\" Fine.\"}]}");
        CHECK(sh_stream_finish(st, r) == 0 && sh_stream_ended(st));
        e = drain(st);
        CHECK(e && strcmp(e, "data: {\"type\":\"transcript.text.delta\",\"delta\":\" Fine.\"}\n\n"
                             "data: {\"type\":\"transcript.text.done\",\"text\":\"Hello there. How are you? Fine.\"}\n\n") == 0);
        free(e);
        CHECK(sh_stream_deltas(st) == 3);
        json_decref(r);
        sh_stream_free(st);
        char p[512];
        snprintf(p, sizeof p, "%s/.42.partial", dir);
        unlink(p);
        rmdir(dir);
    }
}

/* The done event carries the daemon's "warning" (an English-only model ignored the language
 * asked): the headers of a stream already under way cannot */
static void test_stream_warning(void)
{
    TEST("stream: the final answer's warning rides on the done event, none without one") {
        char dir[] = "/tmp/sh-stream-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        sh_stream *st = sh_stream_new(dir, "9");
        CHECK(st != NULL);
        json_t *r = parse("{\"results\":[\" Hi.\"],\"warning\":\"the model is English-only: "
                          "language \\\"de\\\" ignored, English transcribed\"}");
        CHECK(sh_stream_finish(st, r) == 0);
        char *e = drain(st);
        CHECKF(e && strcmp(e, "data: {\"type\":\"transcript.text.delta\",\"delta\":\"Hi.\"}\n\n"
                              "data: {\"type\":\"transcript.text.done\",\"text\":\"Hi.\",\"warning\":"
                              "\"the model is English-only: language \\\"de\\\" ignored, English transcribed\"}\n\n") == 0,
               "%s", e ? e : "");
        free(e);
        json_decref(r);
        sh_stream_free(st);
        st = sh_stream_new(dir, "10");
        CHECK(st != NULL);
        r = parse("{\"results\":[\" Hi.\"],\"warning\":7}");   /* not a string: no field */
        CHECK(sh_stream_finish(st, r) == 0);
        e = drain(st);
        CHECK(e && strstr(e, "\"type\":\"transcript.text.done\",\"text\":\"Hi.\"}") != NULL);
        free(e);
        json_decref(r);
        sh_stream_free(st);
        rmdir(dir);
    }
}

static void test_stream_replaced_partial(void)
{
    TEST("stream: a replaced partial file is reread; errors end with an SDK-shaped event") {
        char dir[] = "/tmp/sh-stream-XXXXXX", p[512];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(p, sizeof p, "%s/.7.partial", dir);
        sh_stream *st = sh_stream_new(dir, "7");
        append(dir, ".7.partial", "{\"i\":0,\"text\":\" one\"}\n");
        CHECK(sh_stream_tail(st) == 1);
        unlink(p);   /* a restarted daemon runs the request again: a new file */
        append(dir, ".7.partial", "{\"i\":0,\"text\":\" one\"}\n{\"i\":1,\"text\":\" two\"}\n");
        CHECK(sh_stream_tail(st) == 1);
        free(drain(st));
        CHECK(sh_stream_keepalive(st) == 0);
        char *e = drain(st);
        CHECK(e && e[0] == ':' && strstr(e, "\n\n"));
        free(e);
        CHECK(sh_stream_error(st, "audio is bad", "invalid_request_error", "audio_format") == 0);
        CHECK(sh_stream_ended(st) && sh_stream_tail(st) == 0);
        e = drain(st);
        CHECK(e && strncmp(e, "event: error\ndata: ", 19) == 0);
        json_t *o = e ? parse(e + 19) : NULL;
        json_t *er = json_object_get(o, "error");
        CHECK(o && strcmp(json_string_value(json_object_get(o, "type")), "error") == 0);
        CHECK(strcmp(json_string_value(json_object_get(er, "message")), "audio is bad") == 0 &&
              strcmp(json_string_value(json_object_get(er, "code")), "audio_format") == 0);
        json_decref(o);
        free(e);
        /* sh_stream_take in small pieces gives the same bytes */
        CHECK(sh_stream_keepalive(st) == 0);
        char b[4], all[32] = "";
        size_t n;
        while ((n = sh_stream_take(st, b, sizeof b - 1)) > 0) { b[n] = 0; strcat(all, b); }
        CHECK(strcmp(all, ": keep-alive\n\n") == 0);
        sh_stream_free(st);
        unlink(p);
        rmdir(dir);
        CHECK(sh_stream_new("/nonexistent-dir-xyz", "1") == NULL);
    }
}

int main(void)
{
    test_format_names();
    test_timestamps();
    test_json_text_join();
    test_estimated_times();
    test_exact_times();
    test_language_names();
    test_decode_fields();
    test_text_lead();
    test_text_lead_none();
    test_malformed_segments();
    test_cues();
    test_error_bodies();
    test_listen_addresses();
    test_bearer_token();
    test_daemon_error_codes();
    test_upload_files();
    test_slow_client_guard();
    test_word_timestamps();
    test_bare_words();
    test_stream_deltas();
    test_stream_warning();
    test_stream_replaced_partial();
    TEST_EXIT();
}
