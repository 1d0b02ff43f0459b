/* Unit tests of the multipart/form-data parser (src/http/sh_multipart.c): the bodies real
 * clients send (curl, Python requests/httpx, the Node SDK's epilogue), every split of a body
 * into pieces, truncation at every length, boundaries, RFC 5987 names, malformed input. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "http/sh_multipart.h"

/* what the callbacks saw, flattened: "name|filename|has|ctype=data;" per part */
typedef struct {
    char out[8192];
    size_t len;
    int begun, ended;
    int stop_at_begin;
} sink;

static void put(sink *s, const char *p, size_t n)
{
    if (s->len + n >= sizeof s->out) n = sizeof s->out - 1 - s->len;
    memcpy(s->out + s->len, p, n);
    s->len += n;
    s->out[s->len] = 0;
}

static int on_begin(void *ud, const sh_mp_part *p)
{
    sink *s = ud;
    char b[1024];
    snprintf(b, sizeof b, "%s|%s|%d|%s=", p->name, p->filename, p->has_filename,
             p->content_type);
    put(s, b, strlen(b));
    s->begun++;
    return s->stop_at_begin;
}
static int on_data(void *ud, const char *d, size_t n) { put(ud, d, n); return 0; }
static int on_end(void *ud) { sink *s = ud; put(s, ";", 1); s->ended++; return 0; }

static const sh_mp_callbacks CB = { on_begin, on_data, on_end };

/* parses body (n bytes) in pieces of `step` bytes (0 = whole) */
static sh_mp_status run(const char *boundary, const char *body, size_t n, size_t step, sink *s)
{
    sh_mp m;
    memset(s, 0, sizeof *s);
    sh_mp_init(&m, boundary, &CB, s);
    if (!step) step = n ? n : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        if (sh_mp_feed(&m, body + i, k) != SH_MP_OK) return m.status;
    }
    return sh_mp_finish(&m);
}

#define B "----abc123"
static const char CURL[] =
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
    "whisper-1\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
    "Content-Type: audio/wav\r\n\r\n"
    "RIFF\r\n--" "----abc1x\r\r\n-\r\n--\r\n--" "----abc12" "\0zz\r\n"
    "--" B "--\r\n";
static const char CURL_PARTS[] =
    "model||0|=whisper-1;"
    "file|a.wav|1|audio/wav=RIFF\r\n--" "----abc1x\r\r\n-\r\n--\r\n--" "----abc12" "\0zz;";

static void test_boundary_parameter(void)
{
    TEST("boundary parameter") {
        char b[SH_MP_BOUNDARY_MAX + 1];
        CHECK(sh_mp_boundary("multipart/form-data; boundary=abc", b) == 0 && !strcmp(b, "abc"));
        CHECK(sh_mp_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"", b) == 0 &&
              !strcmp(b, "a b:c"));
        CHECK(sh_mp_boundary("multipart/form-data; charset=utf-8; boundary=x-y", b) == 0 &&
              !strcmp(b, "x-y"));
        char ct[200], seventy[71];
        memset(seventy, 'z', 70); seventy[70] = 0;
        snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", seventy);
        CHECK(sh_mp_boundary(ct, b) == 0 && strlen(b) == 70);
        snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sz", seventy);
        CHECK(sh_mp_boundary(ct, b) == -1);                       /* 71 */
        CHECK(sh_mp_boundary("multipart/form-data", b) == -1);
        CHECK(sh_mp_boundary("multipart/form-data; boundary=", b) == -1);
        CHECK(sh_mp_boundary("multipart/form-data; boundary=\"ends \"", b) == -1);
        CHECK(sh_mp_boundary("multipart/form-data; boundary=\"a\rb\"", b) == -1);
        CHECK(sh_mp_boundary("application/json; boundary=abc", b) == -1);
        CHECK(sh_mp_boundary(NULL, b) == -1);
    }
}

static void test_curl_body(size_t curl_n, size_t parts_n)
{
    sink s;
    TEST("a curl-style body, whole and in every piece size") {
        CHECK(run(B, CURL, curl_n, 0, &s) == SH_MP_OK);
        CHECKF(s.len == parts_n && !memcmp(s.out, CURL_PARTS, parts_n), "got %s", s.out);
        for (size_t step = 1; step < curl_n; step++) {
            sh_mp_status st = run(B, CURL, curl_n, step, &s);
            CHECKF(st == SH_MP_OK && s.len == parts_n && !memcmp(s.out, CURL_PARTS, parts_n),
                   "step %zu: status %d", step, st);
        }
    }
}

static void test_two_pieces(size_t curl_n, size_t parts_n)
{
    sink s;
    TEST("every split into two pieces") {
        for (size_t cut = 0; cut <= curl_n; cut++) {
            sh_mp m;
            memset(&s, 0, sizeof s);
            sh_mp_init(&m, B, &CB, &s);
            sh_mp_feed(&m, CURL, cut);
            sh_mp_feed(&m, CURL + cut, curl_n - cut);
            CHECKF(sh_mp_finish(&m) == SH_MP_OK && s.len == parts_n &&
                   !memcmp(s.out, CURL_PARTS, parts_n), "cut at %zu", cut);
        }
    }
}

static void test_truncated(size_t curl_n)
{
    sink s;
    TEST("truncated at every length: refused") {
        /* everything short of the closing delimiter's last dash is a cut body */
        size_t full = curl_n - 2;   /* without the final CRLF */
        for (size_t n = 0; n < full; n++)
            CHECKF(run(B, CURL, n, 0, &s) != SH_MP_OK, "accepted a body cut at %zu of %zu",
                   n, curl_n);
        CHECK(run(B, CURL, full, 0, &s) == SH_MP_OK);     /* no CRLF after "--B--": fine */
        CHECK(run(B, CURL, 0, 0, &s) == SH_MP_TRUNCATED);
        /* a cut file body is reported as truncated, and its part never ends */
        size_t riff = (size_t)((const char *)memmem(CURL, curl_n, "RIFF", 4) - CURL);
        CHECK(run(B, CURL, riff + 3, 0, &s) == SH_MP_TRUNCATED && s.ended == 1 && s.begun == 2);
    }
}

static void test_epilogue(void)
{
    sink s;
    TEST("the Node SDK's epilogue (CRLF CRLF after the closing delimiter) and others") {
        static const char node[] =
            "--" B "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\nRIFF....\r\n--" B "--\r\n\r\n";
        CHECK(run(B, node, sizeof node - 1, 0, &s) == SH_MP_OK && s.ended == 1);
        CHECK(strstr(s.out, "=RIFF....;") != NULL);
        char b2[600];
        snprintf(b2, sizeof b2, "%s%s", node, "epilogue text\r\n--" B "\r\nnot a part\r\n");
        CHECK(run(B, b2, strlen(b2), 0, &s) == SH_MP_OK && s.begun == 1);
        snprintf(b2, sizeof b2, "preamble: ignored\r\n--" B "x is not it\r\n%s", node);
        CHECK(run(B, b2, strlen(b2), 3, &s) == SH_MP_BAD_DELIMITER);
        snprintf(b2, sizeof b2, "preamble, ignored\r\n%s", node);
        CHECK(run(B, b2, strlen(b2), 3, &s) == SH_MP_OK && s.begun == 1);
    }
}

static void test_header_forms(void)
{
    sink s;
    TEST("header names in any case, LF-only lines, padding, folding, parts in any order") {
        static const char body[] =
            "--" B "  \t\r\n"
            "CONTENT-TYPE: audio/x-wav\n"
            "content-disposition: FORM-DATA;\r\n name=file; FILENAME=\"q\\\"uote.wav\"\n\n"
            "data1\r\n--" B "\r\n"
            "Content-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\n"
            "word\r\n--" B "\r\n"
            "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
            "\r\n--" B "--";
        CHECK(run(B, body, sizeof body - 1, 0, &s) == SH_MP_OK);
        CHECKF(!strcmp(s.out, "file|q\"uote.wav|1|audio/x-wav=data1;"
                              "timestamp_granularities[]||0|=word;empty||0|=;"), "got %s", s.out);
    }
}

static void test_bare_lf_delimiters(void)
{
    sink s;
    TEST("delimiter lines ended by a bare LF: the framing blamed, in every split") {
        /* RFC 2046 delimiters are CRLF "--" boundary: after the first, such a body reads as
         * one part with the rest in it and no closing delimiter */
        static const char body[] =
            "--" B "\n"
            "Content-Disposition: form-data; name=\"model\"\n\n"
            "whisper-1\n"
            "--" B "\n"
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\n\n"
            "RIFF\n"
            "--" B "--\n";
        const size_t n = sizeof body - 1;
        for (size_t step = 0; step <= n; step++)
            CHECKF(run(B, body, n, step, &s) == SH_MP_BARE_LF && s.begun == 1,
                   "step %zu: %d", step, (int)run(B, body, n, step, &s));
        CHECK(strstr(sh_mp_strerror(SH_MP_BARE_LF), "bare LF") != NULL);
        /* a cut CRLF body, and data with "\n--" and a near boundary, are not it */
        CHECK(run(B, CURL, sizeof CURL - 30, 0, &s) == SH_MP_TRUNCATED);
        static const char near[] =
            "--" B "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n"
            "\n--" "----abc12\n\n\n--" "x\r\n--" B "--";
        CHECK(run(B, near, sizeof near - 1, 1, &s) == SH_MP_OK);
        CHECK(run(B, near, sizeof near - 4, 1, &s) == SH_MP_TRUNCATED);
    }
}

static void test_rfc5987_names(void)
{
    sink s;
    TEST("filename*= (RFC 5987) and non-ASCII names") {
        static const char body[] =
            "--" B "\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename*=UTF-8''%C3%A9t%C3%A9.wav; filename=\"ete.wav\"\r\n\r\nx\r\n"
            "--" B "\r\nContent-Disposition: form-data; name=\"f2\"; "
            "filename=\"ete.wav\"; filename*=iso-8859-1'fr'%E9t%E9.wav\r\n\r\ny\r\n"
            "--" B "\r\nContent-Disposition: form-data; name=\"f3\"; "
            "filename=\"\xc3\xa9t\xc3\xa9.wav\"\r\n\r\nz\r\n"
            "--" B "\r\nContent-Disposition: form-data; name=\"f4\"; "
            "filename*=KOI8-R''%C1.wav; filename=fallback.wav\r\n\r\nw\r\n--" B "--\r\n";
        CHECK(run(B, body, sizeof body - 1, 0, &s) == SH_MP_OK);
        CHECKF(!strcmp(s.out, "file|\xc3\xa9t\xc3\xa9.wav|1|=x;f2|\xc3\xa9t\xc3\xa9.wav|1|=y;"
                              "f3|\xc3\xa9t\xc3\xa9.wav|1|=z;f4|fallback.wav|1|=w;"),
               "got %s", s.out);
    }
}

static void test_quoted_and_long_boundary(void)
{
    sink s;
    TEST("a quoted boundary with spaces, and a 70-character one") {
        static const char body[] =
            "--a b:c\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a b:c--\r\n";
        CHECK(run("a b:c", body, sizeof body - 1, 1, &s) == SH_MP_OK && !strcmp(s.out, "x||0|=1;"));
        char b70[71], body2[400];
        memset(b70, '7', 70); b70[70] = 0;
        snprintf(body2, sizeof body2, "--%s\r\nContent-Disposition: form-data; name=y\r\n\r\n"
                 "\r\n--%s--%s\r\n--%s--", b70, b70, b70, b70);
        CHECK(run(b70, body2, strlen(body2), 7, &s) == SH_MP_OK && !strcmp(s.out, "y||0|=;"));
    }
}

static void test_malformed_parts(void)
{
    sink s;
    TEST("malformed parts are refused") {
        static const char *const bad[] = {
            "--" B "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" B "--",           /* no disposition */
            "--" B "\r\nContent-Disposition: attachment; name=x\r\n\r\nx\r\n--" B "--",
            "--" B "\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--" B "--",
            "--" B "\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n--" B "--",
            "--" B "\r\nContent-Disposition: form-data; name=x\r\nno colon here\r\n\r\nx\r\n--" B "--",
            "--" B "\r\nContent-Disposition: form-data; name=x\r\n\r\nx\r\n--" B "-x",
            "--" B "\r\nContent-Disposition: form-data; name=x\r\n\r\nx\r\n--" B "\rX",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            sh_mp_status st = run(B, bad[i], strlen(bad[i]), 0, &s);
            CHECKF(st == SH_MP_BAD_HEADERS || st == SH_MP_BAD_DELIMITER, "case %zu: %d", i, st);
        }
        char big[SH_MP_HEADER_MAX + 200];
        int k = snprintf(big, sizeof big, "--" B "\r\nContent-Disposition: form-data; name=x\r\n");
        memset(big + k, 'a', sizeof big - (size_t)k - 1);
        big[sizeof big - 1] = 0;
        CHECK(run(B, big, strlen(big), 0, &s) == SH_MP_BAD_HEADERS);
        static const char nul[] = "--" B "\r\nContent-Disposition: form-data; name=x\0y\r\n\r\n";
        CHECK(run(B, nul, sizeof nul - 1, 0, &s) == SH_MP_BAD_HEADERS);
    }
}

static void test_callback_stops(size_t curl_n)
{
    sink s;
    TEST("a callback that stops the parse") {
        sh_mp m;
        memset(&s, 0, sizeof s);
        s.stop_at_begin = 1;
        sh_mp_init(&m, B, &CB, &s);
        CHECK(sh_mp_feed(&m, CURL, curl_n) == SH_MP_STOPPED && s.begun == 1);
        CHECK(sh_mp_finish(&m) == SH_MP_STOPPED);
        CHECK(strstr(sh_mp_strerror(SH_MP_TRUNCATED), "closing boundary") != NULL);
    }
}

int main(void)
{
    size_t curl_n = sizeof CURL - 1, parts_n = sizeof CURL_PARTS - 1;

    test_boundary_parameter();
    test_curl_body(curl_n, parts_n);
    test_two_pieces(curl_n, parts_n);
    test_truncated(curl_n);
    test_epilogue();
    test_header_forms();
    test_bare_lf_delimiters();
    test_rfc5987_names();
    test_quoted_and_long_boundary();
    test_malformed_parts();
    test_callback_stops(curl_n);
    TEST_EXIT();
}
