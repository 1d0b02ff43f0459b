/* Request parser and wire formats (spool-reliability.md T9, T10 and its "Request JSON" and
 * "id and filename" matrix rows). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session/ss_fs.h"
#include "session/ss_json.h"
#include "harness.h"

/* The last parse's message (every test checks it right after its own parse). */
static char msg[300];

/* Parses the NUL-terminated s into *r (the caller clears it); the message goes to msg. */
static ss_parse_result parse_into(const char *s, const char *stem, ss_request *r, const char **code)
{
    return ss_request_parse(s, strlen(s), stem, r, code, msg, sizeof msg);
}

/* The result alone. */
static ss_parse_result P(const char *s, const char *stem, const char **code)
{
    ss_request r;
    ss_parse_result pr = parse_into(s, stem, &r, code);
    ss_request_clear(&r);
    return pr;
}

#define OKREQ "{\"id\":\"123\",\"audio_file\":\"/tmp/a.wav\",\"timestamp\":1756080306.44}"

static void test_valid_request(void)
{
    const char *code;
    TEST("valid request, spec shape and whitespace") {
        ss_request r;
        const char *s = "{\n    \"id\": \"123\",\n    \"audio_file\": \"/tmp/a.wav\", \n"
                        "    \"timestamp\": 1756080306.440\n}\n";
        CHECK(parse_into(s, "123", &r, &code) == SS_PARSE_OK);
        CHECK(strcmp(r.id, "123") == 0 && r.type == SS_REQ_TRANSCRIBE);
        CHECK(r.audio_file && strcmp(r.audio_file, "/tmp/a.wav") == 0);
        CHECK(r.timestamp > 1756080306.0);
        ss_request_clear(&r);
        CHECK(r.audio_file == NULL);
    }
}

static void test_python_dump_shape(void)
{
    const char *code;
    TEST("python json.dump shape, integer timestamp, unknown keys ignored") {
        CHECK(P("{\"id\": \"9\", \"audio_file\": \"/x\", \"timestamp\": 17}", "9", &code) == SS_PARSE_OK);
        CHECK(P("{\"id\":\"9\",\"audio_file\":\"/x\",\"timestamp\":1,\"extra\":{\"a\":[1,2]}}", "9", &code) == SS_PARSE_OK);
    }
}

static void test_ping(void)
{
    const char *code;
    TEST("ping with and without timestamp") {
        ss_request r;
        const char *s = "{\"id\":\"p1\",\"type\":\"ping\"}";
        CHECK(parse_into(s, "p1", &r, &code) == SS_PARSE_OK);
        CHECK(r.type == SS_REQ_PING && r.audio_file == NULL);
        ss_request_clear(&r);
        CHECK(P("{\"id\":\"p1\",\"type\":\"ping\",\"timestamp\":3.5}", "p1", &code) == SS_PARSE_OK);
        CHECK(P("{\"id\":\"p1\",\"type\":\"pong\"}", "p1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"p1\",\"type\":7}", "p1", &code) == SS_PARSE_INVALID);
    }
}

/* how many proper prefixes of full (under 200 bytes) do not parse as INCOMPLETE */
static int prefixes_not_incomplete(const char *full, const char *stem)
{
    const char *code;
    int bad = 0;
    for (size_t k = 0; k < strlen(full); k++) {
        char buf[200];
        memcpy(buf, full, k);
        buf[k] = 0;
        ss_request r;
        if (ss_request_parse(buf, k, stem, &r, &code, msg, sizeof msg) != SS_PARSE_INCOMPLETE) bad++;
        ss_request_clear(&r);
    }
    return bad;
}

static void test_truncated_input(void)
{
    const char *code;
    TEST("truncated input is 'not yet', never an error at once") {
        int bad = prefixes_not_incomplete(OKREQ, "123");
        CHECKF(bad == 0, "%d prefixes not INCOMPLETE", bad);
        CHECK(P("{\"1\":1,", "1", &code) == SS_PARSE_INCOMPLETE);
        CHECK(P("", "1", &code) == SS_PARSE_INCOMPLETE);
        /* a real whose integer part is past int64: cut before its '.', it reads as a too
         * big integer, which more bytes still fix (had been refused at once; fuzz_request) */
        const char *big = "{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":-12345678901234567890.5}";
        bad = prefixes_not_incomplete(big, "1");
        CHECKF(bad == 0, "%d prefixes not INCOMPLETE", bad);
        CHECK(P(big, "1", &code) == SS_PARSE_OK);
        /* a too big integer that has ended, or a real past double's range, stays final */
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":12345678901234567890}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":12345678901234567890 ", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":1e999", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":1.5e99999999999999999999", "1", &code) == SS_PARSE_INVALID);
    }
}

static void test_final_syntax_errors(void)
{
    const char *code;
    TEST("final syntax errors: trailing garbage, two objects, duplicates, NUL, overflow") {
        CHECK(P(OKREQ "x", "123", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_REQUEST));
        CHECK(P(OKREQ OKREQ, "123", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"123\",\"id\":\"123\",\"audio_file\":\"/a\",\"timestamp\":1}", "123", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\\u0000\",\"audio_file\":\"/a\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":1e999}", "1", &code) == SS_PARSE_INVALID);
    }
}

static void test_not_json_extensions(void)
{
    const char *code;
    TEST("BOM, comments, trailing comma, NaN/Infinity are not accepted") {
        CHECK(P("\xef\xbb\xbf" OKREQ, "123", &code) != SS_PARSE_OK);
        CHECK(P("{/*c*/\"id\":\"123\",\"audio_file\":\"/a\",\"timestamp\":1}", "123", &code) != SS_PARSE_OK);
        CHECK(P("{\"id\":\"123\",\"audio_file\":\"/a\",\"timestamp\":1,}", "123", &code) != SS_PARSE_OK);
        CHECK(P("{\"id\":\"123\",\"audio_file\":\"/a\",\"timestamp\":NaN}", "123", &code) != SS_PARSE_OK);
        CHECK(P("{\"id\":\"123\",\"audio_file\":\"/a\",\"timestamp\":Infinity}", "123", &code) != SS_PARSE_OK);
    }
}

static void test_non_objects_wrong_types(void)
{
    const char *code;
    TEST("top-level non-objects and wrong types are invalid") {
        const char *v[] = { "[]", "\"s\"", "12", "null", "true" };
        for (size_t i = 0; i < 5; i++) CHECK(P(v[i], "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":1,\"audio_file\":\"/a\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_ID));
        CHECK(P("{\"audio_file\":\"/a\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_ID));
        CHECK(P("{\"id\":\"1\",\"audio_file\":5,\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":\"1\"}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/a\"}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"1\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"ID\":\"1\",\"Audio_File\":\"/a\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID);
    }
}

static void test_id_equals_stem(void)
{
    const char *code;
    TEST("id must equal the file-name stem") {
        CHECK(P(OKREQ, "124", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_ID));
        CHECK(P("{\"id\":\"../x\",\"audio_file\":\"/a\",\"timestamp\":1}", "x", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"12\",\"audio_file\":\"/a\",\"timestamp\":1}", "123", &code) == SS_PARSE_INVALID);
    }
}

static void test_audio_file_refused(void)
{
    const char *code;
    TEST("audio_file: relative, empty, too long are refused") {
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"a.wav\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_AUDIO_REFUSED));
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"\",\"timestamp\":1}", "1", &code) == SS_PARSE_INVALID);
        char *big = malloc(5000);
        strcpy(big, "{\"id\":\"1\",\"audio_file\":\"/");
        size_t k = strlen(big);
        memset(big + k, 'a', 4200);
        strcpy(big + k + 4200, "\",\"timestamp\":1}");
        CHECK(P(big, "1", &code) == SS_PARSE_INVALID);
        free(big);
    }
}

static void test_nesting(void)
{
    const char *code;
    TEST("nesting 10 ok (unknown key), 1000 and 100000 refused without recursion") {
        char *s = malloc(300000);
        for (int depth = 10; depth <= 100000; depth *= 100) {
            int k = sprintf(s, "{\"id\":\"1\",\"audio_file\":\"/a\",\"timestamp\":1,\"x\":");
            for (int i = 0; i < depth; i++) s[k++] = '[';
            for (int i = 0; i < depth; i++) s[k++] = ']';
            s[k++] = '}';
            s[k] = 0;
            ss_parse_result r = P(s, "1", &code);
            if (depth == 10) CHECK(r == SS_PARSE_OK);
            else CHECK(r == SS_PARSE_INVALID);
        }
        free(s);
    }
}

static void test_invalid_utf8(void)
{
    const char *code;
    TEST("invalid UTF-8 and lone surrogates are not accepted") {
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/\xff\",\"timestamp\":1}", "1", &code) != SS_PARSE_OK);
        CHECK(P("{\"id\":\"1\",\"audio_file\":\"/\\ud800\",\"timestamp\":1}", "1", &code) != SS_PARSE_OK);
    }
}

static void test_options_defaults(void)
{
    const char *code;
    TEST("decoding options: absent gives the defaults (the spec's plain request)") {
        ss_request r;
        CHECK(parse_into(OKREQ, "123", &r, &code) == SS_PARSE_OK);
        CHECK(r.language[0] == 0 && r.translate == 0 && r.prompt == NULL && r.has_temperature == 0);
        ss_request_clear(&r);
    }
}

static void test_options_valid(void)
{
    const char *code;
    TEST("decoding options: valid language, task, prompt, temperature") {
        ss_request r;
        const char *s = "{\"id\":\"7\",\"audio_file\":\"/a.wav\",\"timestamp\":1,\"language\":\"de\","
                        "\"task\":\"translate\",\"prompt\":\"Gr\\u00fc\\u00dfe, \\\"Zitat\\\"\",\"temperature\":0.4}";
        CHECK(parse_into(s, "7", &r, &code) == SS_PARSE_OK);
        CHECK(!strcmp(r.language, "de") && r.translate == 1);
        CHECK(r.prompt && !strcmp(r.prompt, "Gr\xc3\xbc\xc3\x9f" "e, \"Zitat\""));
        CHECK(r.has_temperature && fabs(r.temperature - 0.4) < 1e-12);
        ss_request_clear(&r);
        CHECK(r.prompt == NULL && r.language[0] == 0);
        s = "{\"id\":\"7\",\"audio_file\":\"/a.wav\",\"timestamp\":1,\"language\":\"auto\","
            "\"task\":\"transcribe\",\"prompt\":\"\",\"temperature\":0}";
        CHECK(parse_into(s, "7", &r, &code) == SS_PARSE_OK);
        CHECK(!strcmp(r.language, "auto") && r.translate == 0 && r.prompt == NULL);
        CHECK(r.has_temperature && r.temperature == 0.0);
        ss_request_clear(&r);
        CHECK(P("{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"temperature\":1}", "7", &code) == SS_PARSE_OK);
        CHECK(P("{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"haw\"}", "7", &code) == SS_PARSE_OK);
        CHECK(P("{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"yue\"}", "7", &code) == SS_PARSE_OK);
        /* a prompt of exactly 4096 bytes */
        char *big = malloc(8000);
        int k = sprintf(big, "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"prompt\":\"");
        memset(big + k, 'p', SS_PROMPT_MAX);
        strcpy(big + k + SS_PROMPT_MAX, "\"}");
        CHECK(parse_into(big, "7", &r, &code) == SS_PARSE_OK);
        CHECK(r.prompt && strlen(r.prompt) == SS_PROMPT_MAX);
        ss_request_clear(&r);
        free(big);
        /* hotwords and audio_ctx (custom vocabulary, short clips) */
        const char *hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"hotwords\":\"Kubernetes etcd\",\"audio_ctx\":\"auto\"}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK);
        CHECK(r.hotwords && !strcmp(r.hotwords, "Kubernetes etcd") && r.audio_ctx == SP_AUDIO_CTX_AUTO);
        ss_request_clear(&r);
        hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"audio_ctx\":256}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK && r.audio_ctx == 256 &&
              !r.hotwords && r.languages[0] == 0);
        ss_request_clear(&r);
        /* languages: detection among these codes, kept joined */
        hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"languages\":[\"en\",\"de\",\"yue\"]}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK && !strcmp(r.languages, "en,de,yue"));
        ss_request_clear(&r);
        /* names and any case, as openai-whisper's --language, kept as the codes */
        hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"English\",\"languages\":[\"GERMAN\",\"fr\"]}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK && !strcmp(r.language, "en") && !strcmp(r.languages, "de,fr"));
        ss_request_clear(&r);
        /* "auto" in any case, as the codes and names ("AUTO" had been refused), passed on as "auto" */
        hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"AUTO\"}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK && !strcmp(r.language, "auto"));
        ss_request_clear(&r);
        hw = "{\"id\":\"7\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"Auto\"}";
        CHECK(parse_into(hw, "7", &r, &code) == SS_PARSE_OK && !strcmp(r.language, "auto"));
        ss_request_clear(&r);
    }
}

static void test_options_invalid(void)
{
    const char *code;
    TEST("decoding options: every kind of invalid value is bad_request, with a message") {
        const char *bad[] = {
            "\"language\":\"xx\"", "\"language\":\"ENG\"", "\"language\":\"englisch\"",
            "\"language\":\"\"", "\"language\":\"aaaaaaaaaaaaaaaa\"", "\"language\":\"e\\u0000n\"",
            "\"language\":5", "\"language\":null", "\"language\":[\"en\"]",
            "\"task\":\"translation\"", "\"task\":\"\"", "\"task\":1", "\"task\":null",
            "\"task\":\"translate\\u0000\"", "\"prompt\":7", "\"prompt\":null",
            "\"prompt\":{\"a\":1}", "\"prompt\":\"a\\u0000b\"",
            "\"temperature\":-0.1", "\"temperature\":1.01", "\"temperature\":\"0.5\"",
            "\"temperature\":null", "\"temperature\":true", "\"temperature\":2",
            "\"hotwords\":7", "\"hotwords\":\"a\\u0000b\"", "\"audio_ctx\":0", "\"audio_ctx\":1501",
            "\"audio_ctx\":\"full\"", "\"audio_ctx\":12.5", "\"audio_ctx\":-1", "\"audio_ctx\":null",
            "\"languages\":\"en,de\"", "\"languages\":[]", "\"languages\":[\"en\",\"xx\"]",
            "\"languages\":[\"auto\"]", "\"languages\":[\"en\",5]", "\"languages\":null",
            "\"languages\":[\"e\\u0000n\"]",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char s[300];
            snprintf(s, sizeof s, "{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,%s}", bad[i]);
            ss_request r;
            ss_parse_result pr = parse_into(s, "8", &r, &code);
            CHECKF(pr == SS_PARSE_INVALID && code && !strcmp(code, SS_E_BAD_REQUEST) && msg[0],
                   "%s", bad[i]);
            CHECKF(r.prompt == NULL && r.audio_file == NULL, "%s", bad[i]);
            ss_request_clear(&r);
        }
        ss_request r;
        const char *s = "{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"qq\"}";
        CHECK(parse_into(s, "8", &r, &code) == SS_PARSE_INVALID);
        CHECK(strstr(msg, "language") && strstr(msg, "qq"));
        ss_request_clear(&r);
        /* prompt one byte over the limit; invalid UTF-8 in the prompt */
        char *big = malloc(8000);
        int k = sprintf(big, "{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"prompt\":\"");
        memset(big + k, 'p', SS_PROMPT_MAX + 1);
        strcpy(big + k + SS_PROMPT_MAX + 1, "\"}");
        CHECK(P(big, "8", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_REQUEST));
        free(big);
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"prompt\":\"\xff\"}", "8", &code) != SS_PARSE_OK);
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"prompt\":\"\\ud800\"}", "8", &code) != SS_PARSE_OK);
        /* duplicates and overflow stay final syntax errors */
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"task\":\"translate\",\"task\":\"translate\"}", "8", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"temperature\":1e999}", "8", &code) == SS_PARSE_INVALID);
        /* a truncated request with options is still "not yet" */
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"language\":\"d", "8", &code) == SS_PARSE_INCOMPLETE);
        /* other errors keep their codes when options are present too */
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"a\",\"timestamp\":1,\"language\":\"en\"}", "8", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_AUDIO_REFUSED));
        /* options are not looked at for pings */
        CHECK(P("{\"id\":\"8\",\"type\":\"ping\",\"language\":\"xx\"}", "8", &code) == SS_PARSE_OK);
    }
}

static void test_live_fields_valid(void)
{
    const char *code;
    TEST("live fields: priority, stream, word_timestamps (defaults and valid values)") {
        ss_request r;
        CHECK(parse_into(OKREQ, "123", &r, &code) == SS_PARSE_OK);
        CHECK(r.priority == SS_PRIO_INTERACTIVE && r.stream == 0 && r.word_timestamps == 0);
        ss_request_clear(&r);
        const char *s = "{\"id\":\"9\",\"audio_file\":\"/a\",\"timestamp\":1,\"priority\":\"batch\","
                        "\"stream\":true,\"word_timestamps\":true}";
        CHECK(parse_into(s, "9", &r, &code) == SS_PARSE_OK);
        CHECK(r.priority == SS_PRIO_BATCH && r.stream == 1 && r.word_timestamps == 1);
        ss_request_clear(&r);
        s = "{\"id\":\"9\",\"audio_file\":\"/a\",\"timestamp\":1,\"priority\":\"interactive\","
            "\"stream\":false,\"word_timestamps\":false}";
        CHECK(parse_into(s, "9", &r, &code) == SS_PARSE_OK);
        CHECK(r.priority == SS_PRIO_INTERACTIVE && r.stream == 0 && r.word_timestamps == 0);
        ss_request_clear(&r);
    }
}

static void test_live_fields_invalid(void)
{
    const char *code;
    TEST("live fields: every wrong type or value is bad_request naming the field") {
        const char *bad[][2] = {
            { "\"priority\":\"urgent\"", "priority" }, { "\"priority\":\"\"", "priority" },
            { "\"priority\":\"Batch\"", "priority" }, { "\"priority\":1", "priority" },
            { "\"priority\":null", "priority" },
            { "\"priority\":[\"batch\"]", "priority" },
            { "\"stream\":1", "stream" }, { "\"stream\":\"true\"", "stream" },
            { "\"stream\":null", "stream" }, { "\"stream\":{}", "stream" },
            { "\"word_timestamps\":0", "word_timestamps" },
            { "\"word_timestamps\":\"yes\"", "word_timestamps" },
            { "\"word_timestamps\":null", "word_timestamps" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char s[300];
            snprintf(s, sizeof s, "{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,%s}", bad[i][0]);
            ss_request r;
            ss_parse_result pr = parse_into(s, "8", &r, &code);
            CHECKF(pr == SS_PARSE_INVALID && code && !strcmp(code, SS_E_BAD_REQUEST) &&
                   strstr(msg, bad[i][1]), "%s: %s", bad[i][0], msg);
            CHECKF(r.audio_file == NULL && !strcmp(r.id, "8"), "%s", bad[i][0]);
            ss_request_clear(&r);
        }
        /* NUL inside the value: refused by the JSON layer already (bad_request) */
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"priority\":\"batch\\u0000\"}", "8", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_REQUEST));
        CHECK(P("{\"id\":\"8\",\"type\":\"cancel\",\"target\":\"a\\u0000b\"}", "8", &code) == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_REQUEST));
        /* a duplicate live key is a final syntax error, a truncated one "not yet" */
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"stream\":true,\"stream\":true}", "8", &code) == SS_PARSE_INVALID);
        CHECK(P("{\"id\":\"8\",\"audio_file\":\"/a\",\"timestamp\":1,\"priority\":\"bat", "8", &code) == SS_PARSE_INCOMPLETE);
    }
}

static void test_cancel_requests(void)
{
    const char *code;
    TEST("cancel requests: target required and a valid id") {
        ss_request r;
        const char *s = "{\"id\":\"c1\",\"type\":\"cancel\",\"target\":\"1756_x-9\",\"timestamp\":2}";
        CHECK(parse_into(s, "c1", &r, &code) == SS_PARSE_OK);
        CHECK(r.type == SS_REQ_CANCEL && !strcmp(r.target, "1756_x-9") && r.audio_file == NULL);
        ss_request_clear(&r);
        s = "{\"id\":\"c1\",\"type\":\"cancel\",\"target\":\"t\"}";   /* timestamp optional, as a ping */
        CHECK(parse_into(s, "c1", &r, &code) == SS_PARSE_OK && r.type == SS_REQ_CANCEL);
        ss_request_clear(&r);
        char t128[200], t129[200];
        memset(t128, 'a', 128); t128[128] = 0;
        memset(t129, 'a', 129); t129[129] = 0;
        const char *bad[] = { "", ",\"target\":null", ",\"target\":7", ",\"target\":\"\"",
                              ",\"target\":\"a b\"", ",\"target\":\"../x\"", ",\"target\":\"x.json\"",
                              ",\"target\":[\"x\"]" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char q[400];
            snprintf(q, sizeof q, "{\"id\":\"c1\",\"type\":\"cancel\",\"timestamp\":1%s}", bad[i]);
            ss_parse_result pr = parse_into(q, "c1", &r, &code);
            CHECKF(pr == SS_PARSE_INVALID && !strcmp(code, SS_E_BAD_REQUEST) && strstr(msg, "target"),
                   "%s", q);
            ss_request_clear(&r);
        }
        char q[400];
        snprintf(q, sizeof q, "{\"id\":\"c1\",\"type\":\"cancel\",\"target\":\"%s\"}", t128);
        CHECK(P(q, "c1", &code) == SS_PARSE_OK);
        snprintf(q, sizeof q, "{\"id\":\"c1\",\"type\":\"cancel\",\"target\":\"%s\"}", t129);
        CHECK(P(q, "c1", &code) == SS_PARSE_INVALID);
        CHECK(!strcmp(SS_E_CANCELLED, "cancelled"));
    }
}

static void test_live_documents(void)
{
    TEST("live documents: words in segments, partial-file line, cancel answer") {
        sp_word w[2] = { { 0.0f, 0.42f, (char *)" Hello", 0.91234f }, { 0.42f, 1.0f, (char *)" there.", 0.5f } };
        const sp_word *wp[1] = { w };
        int nw[1] = { 2 };
        const char *res[1] = { "Hello there." };
        double st[1] = { 0.0 }, en[1] = { 1.0 };
        ss_result_doc d = { .results = res, .n_results = 1, .starts = st, .ends = en, .words = wp,
                            .n_words = nw, .language = "en", .duration = 1.5 };
        char *s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        json_t *j = json_loads(s ? s : "", 0, NULL);
        json_t *g = json_array_get(json_object_get(j, "segments"), 0);
        json_t *w1 = json_array_get(json_object_get(g, "words"), 0);
        CHECK(j && json_array_size(json_object_get(g, "words")) == 2);
        CHECK(!strcmp(json_string_value(json_object_get(w1, "word")), " Hello"));
        CHECK(fabs(json_real_value(json_object_get(w1, "end")) - 0.42) < 1e-9);
        CHECK(fabs(json_real_value(json_object_get(w1, "probability")) - 0.9123) < 1e-9);
        json_decref(j);
        free(s);
        d.words = NULL;   /* without word_timestamps: no "words" key at all */
        s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        CHECK(s && !strstr(s, "words"));
        free(s);
        s = ss_segment_line_json(3, 30.0, 34.2449, "Hi", NULL, 0, NULL);
        CHECKF(s && !strcmp(s, "{\"i\":3,\"start\":30.0,\"end\":34.245,\"text\":\"Hi\"}"), "%s", s);
        free(s);
        s = ss_segment_line_json(0, 0, 1, "Hello there.", w, 2, NULL);
        j = json_loads(s ? s : "", 0, NULL);
        CHECK(j && !strchr(s, '\n') && json_array_size(json_object_get(j, "words")) == 2);
        json_decref(j);
        free(s);
        /* how each segment was decoded: openai's segment fields, in the response and the
         * partial-file line alike */
        int toks[3] = { 50364, 2425, 50414 };
        ss_seg_decode dec[1] = { { .seek = 3000, .tokens = toks, .n_tokens = 3, .temperature = 0.2f,
                                   .avg_logprob = -0.31234567f, .compression_ratio = 1.25f,
                                   .no_speech_prob = 0.0012346f, .lead = " " } };
        d.decode = dec;
        s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        j = json_loads(s ? s : "", 0, NULL);
        g = json_array_get(json_object_get(j, "segments"), 0);
        CHECK(j && json_integer_value(json_object_get(g, "seek")) == 3000);
        CHECK(json_array_size(json_object_get(g, "tokens")) == 3 &&
              json_integer_value(json_array_get(json_object_get(g, "tokens"), 2)) == 50414);
        CHECK(fabs(json_real_value(json_object_get(g, "temperature")) - 0.2) < 1e-6);
        CHECKF(fabs(json_real_value(json_object_get(g, "avg_logprob")) + 0.312346) < 1e-9, "%s", s);
        CHECK(fabs(json_real_value(json_object_get(g, "compression_ratio")) - 1.25) < 1e-9);
        CHECK(fabs(json_real_value(json_object_get(g, "no_speech_prob")) - 0.001235) < 1e-9);
        CHECK(strcmp(json_string_value(json_object_get(g, "text_lead")), " ") == 0);   /* what was stripped */
        json_decref(j);
        free(s);
        dec[0].lead[0] = 0;   /* nothing stripped (CJK): said, as "" */
        s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        j = json_loads(s ? s : "", 0, NULL);
        CHECK(j && json_is_string(json_object_get(json_array_get(json_object_get(j, "segments"), 0), "text_lead")) &&
              !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "segments"), 0), "text_lead")), ""));
        dec[0].lead[0] = ' ';
        json_decref(j);
        free(s);
        dec[0].temperature = 1e-9f;   /* not rounded to greedy's 0 */
        s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        j = json_loads(s ? s : "", 0, NULL);
        g = json_array_get(json_object_get(j, "segments"), 0);
        CHECKF(j && fabs(json_real_value(json_object_get(g, "temperature")) / 1e-9 - 1) < 1e-6, "%s", s);
        dec[0].temperature = 0.2f;
        json_decref(j);
        free(s);
        dec[0].avg_logprob = -INFINITY;   /* left out, not written as a perfect 0.0 */
        s = ss_response_json_doc("w1", &d, "cpu", 1, NULL, NULL, 5.0);
        j = json_loads(s ? s : "", 0, NULL);
        g = json_array_get(json_object_get(j, "segments"), 0);
        CHECKF(j && !json_object_get(g, "avg_logprob") && json_object_get(g, "no_speech_prob"), "%s", s);
        dec[0].avg_logprob = -0.31234567f;
        json_decref(j);
        free(s);
        s = ss_segment_line_json(0, 0, 1, "Hello there.", NULL, 0, dec);
        j = json_loads(s ? s : "", 0, NULL);
        CHECK(j && json_integer_value(json_object_get(j, "seek")) == 3000 &&
              json_array_size(json_object_get(j, "tokens")) == 3 && json_object_get(j, "no_speech_prob"));
        json_decref(j);
        free(s);
        s = ss_cancel_json("c1", "t1", 1, "running", "cpu", 1, 7.5);
        j = json_loads(s ? s : "", 0, NULL);
        CHECK(j && !strcmp(json_string_value(json_object_get(j, "type")), "cancel"));
        CHECK(!strcmp(json_string_value(json_object_get(j, "target")), "t1"));
        CHECK(json_is_true(json_object_get(j, "cancelled")));
        CHECK(!strcmp(json_string_value(json_object_get(j, "state")), "running"));
        CHECK(json_object_get(j, "device") && json_object_get(j, "session_active") && json_object_get(j, "timestamp"));
        json_decref(j);
        free(s);
    }
}

static void test_file_names(void)
{
    TEST("file names: only ^[A-Za-z0-9_-]{1,128}\\.json$") {
        char stem[SS_ID_MAX + 1];
        CHECK(ss_name_valid("1756080306440117328.json", stem) && !strcmp(stem, "1756080306440117328"));
        CHECK(ss_name_valid("a_b-C.json", stem));
        const char *bad[] = { ".json", ".x.json", "x.JSON", "x.json.tmp", "a b.json", "%n%s.json",
                              "a\nb.json", "a\x1b.json", "..json", "x", "", "../x.json", "x.js" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECKF(!ss_name_valid(bad[i], NULL), "%s", bad[i]);
        char n128[140], n129[140];
        memset(n128, 'a', 128); strcpy(n128 + 128, ".json");
        memset(n129, 'a', 129); strcpy(n129 + 129, ".json");
        CHECK(ss_name_valid(n128, stem));
        CHECK(!ss_name_valid(n129, NULL));
    }
}

static void test_response_documents(void)
{
    TEST("response, error response, pong, status, marker documents") {
        const char *res[] = { " hello", " world" };
        char *s = ss_response_json("42", res, 2, "cpu", 1, NULL, NULL, 1756080307.017);
        json_error_t je;
        json_t *j = json_loads(s, 0, &je);
        CHECK(j && !strcmp(json_string_value(json_object_get(j, "id")), "42"));
        CHECK(json_array_size(json_object_get(j, "results")) == 2);
        CHECK(json_is_true(json_object_get(j, "session_active")));
        CHECK(!strcmp(json_string_value(json_object_get(j, "device")), "cpu"));
        CHECK(json_real_value(json_object_get(j, "timestamp")) > 1756080307.0);
        CHECK(!json_object_get(j, "error"));
        json_decref(j);
        free(s);
        s = ss_response_json("42", NULL, 0, "cpu", 0, "Audio file not found: /x", SS_E_AUDIO_NOT_FOUND, 1.5);
        j = json_loads(s, 0, &je);
        CHECK(j && json_array_size(json_object_get(j, "results")) == 0);
        CHECK(!strcmp(json_string_value(json_object_get(j, "error_code")), "audio_not_found"));
        CHECK(json_is_false(json_object_get(j, "session_active")));
        json_decref(j);
        free(s);
        s = ss_pong_json("p", "cpu", 1, 2.0);
        j = json_loads(s, 0, &je);
        CHECK(j && !strcmp(json_string_value(json_object_get(j, "type")), "pong"));
        json_decref(j);
        free(s);
        ss_status st = { .active = 1, .model_loaded = 1, .device = "cpu", .model_size = "base",
                         .session_timeout = 600, .timestamp = 3, .pid = 77, .state = "idle" };
        s = ss_status_json(&st);
        j = json_loads(s, 0, &je);
        const char *keys[] = { "active", "model_loaded", "device", "model_size", "processing",
                               "last_activity", "session_timeout", "timestamp", "pid" };
        for (size_t i = 0; i < 9; i++) CHECKF(json_object_get(j, keys[i]) != NULL, "%s", keys[i]);
        CHECK(json_integer_value(json_object_get(j, "session_timeout")) == 600);
        json_decref(j);
        free(s);
        s = ss_marker_json(1.25, 9);
        j = json_loads(s, 0, &je);
        CHECK(j && json_integer_value(json_object_get(j, "pid")) == 9 && json_object_get(j, "started"));
        json_decref(j);
        free(s);
    }
}

static void test_log_escaping(void)
{
    TEST("log escaping: control characters, quotes, truncation") {
        char b[32];
        ss_escape(b, sizeof b, "a\nb\"c\x1b");
        CHECK(!strcmp(b, "a\\x0ab\\\"c\\x1b"));
        ss_escape(b, sizeof b, "0123456789012345678901234567890123456789");
        CHECK(strlen(b) < sizeof b && strstr(b, "..."));
        ss_escape(b, sizeof b, NULL);
        CHECK(b[0] == 0);
    }
}

int main(void)
{
    test_valid_request();
    test_python_dump_shape();
    test_ping();
    test_truncated_input();
    test_final_syntax_errors();
    test_not_json_extensions();
    test_non_objects_wrong_types();
    test_id_equals_stem();
    test_audio_file_refused();
    test_nesting();
    test_invalid_utf8();
    test_options_defaults();
    test_options_valid();
    test_options_invalid();
    test_live_fields_valid();
    test_live_fields_invalid();
    test_cancel_requests();
    test_live_documents();
    test_file_names();
    test_response_documents();
    test_log_escaping();
    TEST_EXIT();
}
