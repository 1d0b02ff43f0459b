/* bin/transcribe's srt/vtt cue shaping and TSV (src/cli/subtitles.c) on made-up segments and
 * words: the expected documents are what openai-whisper 20250625's own writers (whisper/utils.py
 * WriteSRT, WriteVTT with hours always, WriteTSV) write for the same segments and words —
 * generated once with them and kept here, so the check runs without Python. The data has a
 * pause of more than 3 s (a new cue when width and count are given), one of exactly 3 s (not
 * a pause), a segment without words (no cue), non-ASCII words (widths in code points, not
 * bytes) and an ideographic space (Python's strip and \s), gaps between words (filler cues
 * with --highlight-words). Then what openai-whisper does not do: the escaping of cue text. */
#include <stdlib.h>
#include <string.h>

#include "cli/subtitles.h"
#include "harness.h"

static sp_word W(const char *t, float a, float b) { return (sp_word){a, b, (char *)t, 1.0f}; }

static sp_word w0[] = {{0}}, w1[6], w2[3], w4[4], w5[3];

static void data(sp_result *r, sp_segment *s)
{
    w1[0] = W(" Hello", 0, 0.5f); w1[1] = W(" world,", 0.5f, 1.0f); w1[2] = W(" this", 1.25f, 1.5f);
    w1[3] = W(" is", 1.5f, 1.75f); w1[4] = W(" a", 1.75f, 2.0f); w1[5] = W(" test", 2.0f, 2.5f);
    w2[0] = W(" After", 5.5f, 6.0f); w2[1] = W(" a", 6.0f, 6.25f); w2[2] = W(" pause", 6.25f, 7.0f);
    w4[0] = W(" caf\xc3\xa9", 10.0f, 10.5f); w4[1] = W(" na\xc3\xafve", 10.5f, 11.0f);
    w4[2] = W(" \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88", 11.125f, 12.0f);
    w4[3] = W("\xe3\x80\x80\xe5\x85\xa8\xe8\xa7\x92", 12.0f, 12.5f);
    w5[0] = W(" exactly", 15.0f, 15.5f); w5[1] = W(" three", 18.0f, 18.25f); w5[2] = W(" more", 21.25f, 21.5f);
    memset(s, 0, 5 * sizeof *s);
    s[0] = (sp_segment){.start = 0, .end = 2.5f, .text = " Hello world, this is a test", .words = w1, .n_words = 6};
    s[1] = (sp_segment){.start = 5.5f, .end = 7.0f, .text = " After a pause", .words = w2, .n_words = 3};
    s[2] = (sp_segment){.start = 9.0f, .end = 9.5f, .text = " [silence]", .words = w0, .n_words = 0};
    s[3] = (sp_segment){.start = 10.0f, .end = 12.5f, .text = " caf\xc3\xa9 ...", .words = w4, .n_words = 4};
    s[4] = (sp_segment){.start = 15.0f, .end = 21.5f, .text = " exactly three more", .words = w5, .n_words = 3};
    memset(r, 0, sizeof *r);
    r->segments = s;
    r->n_segments = 5;
}

static const struct { int srt; sub_opts o; const char *want; } cases[] = {
    {1, {0, 0, 0, 1},
        "1\n"
        "00:00:00,000 --> 00:00:00,500\n"
        "<u>Hello</u> world, this is a test\n"
        "\n"
        "2\n"
        "00:00:00,500 --> 00:00:01,000\n"
        "Hello <u>world,</u> this is a test\n"
        "\n"
        "3\n"
        "00:00:01,000 --> 00:00:01,250\n"
        "Hello world, this is a test\n"
        "\n"
        "4\n"
        "00:00:01,250 --> 00:00:01,500\n"
        "Hello world, <u>this</u> is a test\n"
        "\n"
        "5\n"
        "00:00:01,500 --> 00:00:01,750\n"
        "Hello world, this <u>is</u> a test\n"
        "\n"
        "6\n"
        "00:00:01,750 --> 00:00:02,000\n"
        "Hello world, this is <u>a</u> test\n"
        "\n"
        "7\n"
        "00:00:02,000 --> 00:00:02,500\n"
        "Hello world, this is a <u>test</u>\n"
        "\n"
        "8\n"
        "00:00:05,500 --> 00:00:06,000\n"
        "<u>After</u> a pause\n"
        "\n"
        "9\n"
        "00:00:06,000 --> 00:00:06,250\n"
        "After <u>a</u> pause\n"
        "\n"
        "10\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "After a <u>pause</u>\n"
        "\n"
        "11\n"
        "00:00:10,000 --> 00:00:10,500\n"
        "<u>café</u> naïve 日本語のテキスト　全角\n"
        "\n"
        "12\n"
        "00:00:10,500 --> 00:00:11,000\n"
        "café <u>naïve</u> 日本語のテキスト　全角\n"
        "\n"
        "13\n"
        "00:00:11,000 --> 00:00:11,125\n"
        "café naïve 日本語のテキスト　全角\n"
        "\n"
        "14\n"
        "00:00:11,125 --> 00:00:12,000\n"
        "café naïve <u>日本語のテキスト</u>　全角\n"
        "\n"
        "15\n"
        "00:00:12,000 --> 00:00:12,500\n"
        "café naïve 日本語のテキスト　<u>全角</u>\n"
        "\n"
        "16\n"
        "00:00:15,000 --> 00:00:15,500\n"
        "<u>exactly</u> three more\n"
        "\n"
        "17\n"
        "00:00:15,500 --> 00:00:18,000\n"
        "exactly three more\n"
        "\n"
        "18\n"
        "00:00:18,000 --> 00:00:18,250\n"
        "exactly <u>three</u> more\n"
        "\n"
        "19\n"
        "00:00:18,250 --> 00:00:21,250\n"
        "exactly three more\n"
        "\n"
        "20\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "exactly three <u>more</u>\n"
        "\n"},
    {1, {10, 0, 0, 0},
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Hello\n"
        "world,\n"
        "this is a\n"
        "test\n"
        "\n"
        "2\n"
        "00:00:05,500 --> 00:00:07,000\n"
        "After a\n"
        "pause\n"
        "\n"
        "3\n"
        "00:00:10,000 --> 00:00:12,500\n"
        "café naïve\n"
        "日本語のテキスト\n"
        "全角\n"
        "\n"
        "4\n"
        "00:00:15,000 --> 00:00:21,500\n"
        "exactly\n"
        "three more\n"
        "\n"},
    {1, {10, 1, 0, 0},
        "1\n"
        "00:00:00,000 --> 00:00:00,500\n"
        "Hello\n"
        "\n"
        "2\n"
        "00:00:00,500 --> 00:00:01,000\n"
        "world,\n"
        "\n"
        "3\n"
        "00:00:01,250 --> 00:00:02,000\n"
        "this is a\n"
        "\n"
        "4\n"
        "00:00:02,000 --> 00:00:02,500\n"
        "test\n"
        "\n"
        "5\n"
        "00:00:05,500 --> 00:00:06,250\n"
        "After a\n"
        "\n"
        "6\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "pause\n"
        "\n"
        "7\n"
        "00:00:10,000 --> 00:00:11,000\n"
        "café naïve\n"
        "\n"
        "8\n"
        "00:00:11,125 --> 00:00:12,000\n"
        "日本語のテキスト\n"
        "\n"
        "9\n"
        "00:00:12,000 --> 00:00:15,500\n"
        "全角 exactly\n"
        "\n"
        "10\n"
        "00:00:18,000 --> 00:00:18,250\n"
        "three\n"
        "\n"
        "11\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "more\n"
        "\n"},
    {1, {10, 2, 0, 0},
        "1\n"
        "00:00:00,000 --> 00:00:01,000\n"
        "Hello\n"
        "world,\n"
        "\n"
        "2\n"
        "00:00:01,250 --> 00:00:02,500\n"
        "this is a\n"
        "test\n"
        "\n"
        "3\n"
        "00:00:05,500 --> 00:00:07,000\n"
        "After a\n"
        "pause\n"
        "\n"
        "4\n"
        "00:00:10,000 --> 00:00:12,000\n"
        "café naïve\n"
        "日本語のテキスト\n"
        "\n"
        "5\n"
        "00:00:12,000 --> 00:00:18,250\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "6\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "more\n"
        "\n"},
    {1, {16, 2, 0, 0},
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Hello world,\n"
        "this is a test\n"
        "\n"
        "2\n"
        "00:00:05,500 --> 00:00:07,000\n"
        "After a pause\n"
        "\n"
        "3\n"
        "00:00:10,000 --> 00:00:12,500\n"
        "café naïve\n"
        "日本語のテキスト　全角\n"
        "\n"
        "4\n"
        "00:00:15,000 --> 00:00:18,250\n"
        "exactly three\n"
        "\n"
        "5\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "more\n"
        "\n"},
    {1, {0, 0, 2, 0},
        "1\n"
        "00:00:00,000 --> 00:00:01,000\n"
        "Hello world,\n"
        "\n"
        "2\n"
        "00:00:01,250 --> 00:00:01,750\n"
        "this is\n"
        "\n"
        "3\n"
        "00:00:01,750 --> 00:00:02,500\n"
        "a test\n"
        "\n"
        "4\n"
        "00:00:05,500 --> 00:00:06,250\n"
        "After a\n"
        "\n"
        "5\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "pause\n"
        "\n"
        "6\n"
        "00:00:10,000 --> 00:00:11,000\n"
        "café naïve\n"
        "\n"
        "7\n"
        "00:00:11,125 --> 00:00:12,500\n"
        "日本語のテキスト　全角\n"
        "\n"
        "8\n"
        "00:00:15,000 --> 00:00:18,250\n"
        "exactly three\n"
        "\n"
        "9\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "more\n"
        "\n"},
    {1, {10, 0, 2, 0},
        "1\n"
        "00:00:00,000 --> 00:00:01,000\n"
        "Hello\n"
        "world,\n"
        "\n"
        "2\n"
        "00:00:01,250 --> 00:00:01,750\n"
        "this is\n"
        "\n"
        "3\n"
        "00:00:01,750 --> 00:00:02,500\n"
        "a test\n"
        "\n"
        "4\n"
        "00:00:05,500 --> 00:00:06,250\n"
        "After a\n"
        "\n"
        "5\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "pause\n"
        "\n"
        "6\n"
        "00:00:10,000 --> 00:00:11,000\n"
        "café naïve\n"
        "\n"
        "7\n"
        "00:00:11,125 --> 00:00:12,500\n"
        "日本語のテキスト\n"
        "全角\n"
        "\n"
        "8\n"
        "00:00:15,000 --> 00:00:18,250\n"
        "exactly\n"
        "three\n"
        "\n"
        "9\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "more\n"
        "\n"},
    {1, {10, 2, 0, 1},
        "1\n"
        "00:00:00,000 --> 00:00:00,500\n"
        "<u>Hello</u>\n"
        "world,\n"
        "\n"
        "2\n"
        "00:00:00,500 --> 00:00:01,000\n"
        "Hello\n"
        "<u>world,</u>\n"
        "\n"
        "3\n"
        "00:00:01,250 --> 00:00:01,500\n"
        "<u>this</u> is a\n"
        "test\n"
        "\n"
        "4\n"
        "00:00:01,500 --> 00:00:01,750\n"
        "this <u>is</u> a\n"
        "test\n"
        "\n"
        "5\n"
        "00:00:01,750 --> 00:00:02,000\n"
        "this is <u>a</u>\n"
        "test\n"
        "\n"
        "6\n"
        "00:00:02,000 --> 00:00:02,500\n"
        "this is a\n"
        "<u>test</u>\n"
        "\n"
        "7\n"
        "00:00:05,500 --> 00:00:06,000\n"
        "<u>After</u> a\n"
        "pause\n"
        "\n"
        "8\n"
        "00:00:06,000 --> 00:00:06,250\n"
        "After <u>a</u>\n"
        "pause\n"
        "\n"
        "9\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "After a\n"
        "<u>pause</u>\n"
        "\n"
        "10\n"
        "00:00:10,000 --> 00:00:10,500\n"
        "<u>café</u> naïve\n"
        "日本語のテキスト\n"
        "\n"
        "11\n"
        "00:00:10,500 --> 00:00:11,000\n"
        "café <u>naïve</u>\n"
        "日本語のテキスト\n"
        "\n"
        "12\n"
        "00:00:11,000 --> 00:00:11,125\n"
        "café naïve\n"
        "日本語のテキスト\n"
        "\n"
        "13\n"
        "00:00:11,125 --> 00:00:12,000\n"
        "café naïve\n"
        "<u>日本語のテキスト</u>\n"
        "\n"
        "14\n"
        "00:00:12,000 --> 00:00:12,500\n"
        "<u>全角</u> exactly\n"
        "three\n"
        "\n"
        "15\n"
        "00:00:12,500 --> 00:00:15,000\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "16\n"
        "00:00:15,000 --> 00:00:15,500\n"
        "全角 <u>exactly</u>\n"
        "three\n"
        "\n"
        "17\n"
        "00:00:15,500 --> 00:00:18,000\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "18\n"
        "00:00:18,000 --> 00:00:18,250\n"
        "全角 exactly\n"
        "<u>three</u>\n"
        "\n"
        "19\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "<u>more</u>\n"
        "\n"},
    {1, {0, 0, 2, 1},
        "1\n"
        "00:00:00,000 --> 00:00:00,500\n"
        "<u>Hello</u> world,\n"
        "\n"
        "2\n"
        "00:00:00,500 --> 00:00:01,000\n"
        "Hello <u>world,</u>\n"
        "\n"
        "3\n"
        "00:00:01,250 --> 00:00:01,500\n"
        "<u>this</u> is\n"
        "\n"
        "4\n"
        "00:00:01,500 --> 00:00:01,750\n"
        "this <u>is</u>\n"
        "\n"
        "5\n"
        "00:00:01,750 --> 00:00:02,000\n"
        "<u>a</u> test\n"
        "\n"
        "6\n"
        "00:00:02,000 --> 00:00:02,500\n"
        "a <u>test</u>\n"
        "\n"
        "7\n"
        "00:00:05,500 --> 00:00:06,000\n"
        "<u>After</u> a\n"
        "\n"
        "8\n"
        "00:00:06,000 --> 00:00:06,250\n"
        "After <u>a</u>\n"
        "\n"
        "9\n"
        "00:00:06,250 --> 00:00:07,000\n"
        "<u>pause</u>\n"
        "\n"
        "10\n"
        "00:00:10,000 --> 00:00:10,500\n"
        "<u>café</u> naïve\n"
        "\n"
        "11\n"
        "00:00:10,500 --> 00:00:11,000\n"
        "café <u>naïve</u>\n"
        "\n"
        "12\n"
        "00:00:11,125 --> 00:00:12,000\n"
        "<u>日本語のテキスト</u>　全角\n"
        "\n"
        "13\n"
        "00:00:12,000 --> 00:00:12,500\n"
        "日本語のテキスト　<u>全角</u>\n"
        "\n"
        "14\n"
        "00:00:15,000 --> 00:00:15,500\n"
        "<u>exactly</u> three\n"
        "\n"
        "15\n"
        "00:00:15,500 --> 00:00:18,000\n"
        "exactly three\n"
        "\n"
        "16\n"
        "00:00:18,000 --> 00:00:18,250\n"
        "exactly <u>three</u>\n"
        "\n"
        "17\n"
        "00:00:21,250 --> 00:00:21,500\n"
        "<u>more</u>\n"
        "\n"},
    {1, {0, 2, 0, 0},
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Hello world, this is a test\n"
        "\n"
        "2\n"
        "00:00:05,500 --> 00:00:07,000\n"
        "After a pause\n"
        "\n"
        "3\n"
        "00:00:10,000 --> 00:00:12,500\n"
        "café naïve 日本語のテキスト　全角\n"
        "\n"
        "4\n"
        "00:00:15,000 --> 00:00:21,500\n"
        "exactly three more\n"
        "\n"},
    {0, {10, 2, 0, 0},
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:01.000\n"
        "Hello\n"
        "world,\n"
        "\n"
        "00:00:01.250 --> 00:00:02.500\n"
        "this is a\n"
        "test\n"
        "\n"
        "00:00:05.500 --> 00:00:07.000\n"
        "After a\n"
        "pause\n"
        "\n"
        "00:00:10.000 --> 00:00:12.000\n"
        "café naïve\n"
        "日本語のテキスト\n"
        "\n"
        "00:00:12.000 --> 00:00:18.250\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "00:00:21.250 --> 00:00:21.500\n"
        "more\n"
        "\n"},
    {0, {10, 2, 0, 1},
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:00.500\n"
        "<u>Hello</u>\n"
        "world,\n"
        "\n"
        "00:00:00.500 --> 00:00:01.000\n"
        "Hello\n"
        "<u>world,</u>\n"
        "\n"
        "00:00:01.250 --> 00:00:01.500\n"
        "<u>this</u> is a\n"
        "test\n"
        "\n"
        "00:00:01.500 --> 00:00:01.750\n"
        "this <u>is</u> a\n"
        "test\n"
        "\n"
        "00:00:01.750 --> 00:00:02.000\n"
        "this is <u>a</u>\n"
        "test\n"
        "\n"
        "00:00:02.000 --> 00:00:02.500\n"
        "this is a\n"
        "<u>test</u>\n"
        "\n"
        "00:00:05.500 --> 00:00:06.000\n"
        "<u>After</u> a\n"
        "pause\n"
        "\n"
        "00:00:06.000 --> 00:00:06.250\n"
        "After <u>a</u>\n"
        "pause\n"
        "\n"
        "00:00:06.250 --> 00:00:07.000\n"
        "After a\n"
        "<u>pause</u>\n"
        "\n"
        "00:00:10.000 --> 00:00:10.500\n"
        "<u>café</u> naïve\n"
        "日本語のテキスト\n"
        "\n"
        "00:00:10.500 --> 00:00:11.000\n"
        "café <u>naïve</u>\n"
        "日本語のテキスト\n"
        "\n"
        "00:00:11.000 --> 00:00:11.125\n"
        "café naïve\n"
        "日本語のテキスト\n"
        "\n"
        "00:00:11.125 --> 00:00:12.000\n"
        "café naïve\n"
        "<u>日本語のテキスト</u>\n"
        "\n"
        "00:00:12.000 --> 00:00:12.500\n"
        "<u>全角</u> exactly\n"
        "three\n"
        "\n"
        "00:00:12.500 --> 00:00:15.000\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "00:00:15.000 --> 00:00:15.500\n"
        "全角 <u>exactly</u>\n"
        "three\n"
        "\n"
        "00:00:15.500 --> 00:00:18.000\n"
        "全角 exactly\n"
        "three\n"
        "\n"
        "00:00:18.000 --> 00:00:18.250\n"
        "全角 exactly\n"
        "<u>three</u>\n"
        "\n"
        "00:00:21.250 --> 00:00:21.500\n"
        "<u>more</u>\n"
        "\n"},
};

static char *run(const sp_result *r, const sub_opts *o, int srt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return NULL;
    int rc = sub_write_cues(m, r, o, srt);
    fclose(m);
    if (rc) { free(buf); return NULL; }
    return buf;
}

int main(void)
{
    sp_result r;
    sp_segment s[5];
    data(&r, s);
    TEST("shaped srt/vtt cues: openai-whisper's writers' bytes for the same segments and words") {
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            char *got = run(&r, &cases[k].o, cases[k].srt);
            const char *want = cases[k].want + (cases[k].srt ? 0 : strlen("WEBVTT\n\n"));   /* the header's not the cues' */
            CHECKF(got && !strcmp(got, want), "case %zu (%s width %d count %d words %d highlight %d):\n%s",
                   k, cases[k].srt ? "srt" : "vtt", cases[k].o.max_line_width, cases[k].o.max_line_count,
                   cases[k].o.max_words_per_line, cases[k].o.highlight_words, got ? got : "(null)");
            free(got);
        }
    }
    TEST("tsv: openai-whisper's WriteTSV (integer ms, header, text stripped, tabs as spaces)") {
        sp_segment t[2] = {{.start = 0.125f, .end = 2.5f, .text = " a\tb "}, {.start = 3.0f, .end = 4.0f, .text = "\xe3\x80\x80" "c\n"}};
        sp_result tr = {.segments = t, .n_segments = 2};
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        sub_write_tsv(m, &tr);
        fclose(m);
        CHECKF(!strcmp(buf, "start\tend\ttext\n125\t2500\ta b\n3000\t4000\tc\n"), "%s", buf);
        free(buf);
    }
    TEST("no shaping option: a cue per segment, its own times and text (as before)") {
        sub_opts none = {0};
        char *got = run(&r, &none, 1);
        CHECK(got && !strncmp(got, "1\n00:00:00,000 --> 00:00:02,500\nHello world, this is a test\n\n2\n", 62));
        CHECK(got && strstr(got, "3\n00:00:09,000 --> 00:00:09,500\n[silence]\n\n"));
        free(got);
    }
    TEST("shaped cues are escaped as segment cues are: '-->' (inside a word or across two), & and < in vtt") {
        sp_word e[5] = {W(" a&b", 0, 1), W(" <i>", 1, 2), W(" x--", 2, 3), W(">y", 3, 4), W(" a-->b\nc", 4, 5)};
        sp_segment es = {.start = 0, .end = 5, .text = " a&b <i> x-->y a-->b c", .words = e, .n_words = 5};
        sp_result er = {.segments = &es, .n_segments = 1};
        sub_opts hl = {.highlight_words = 1}, wd = {.max_line_width = 8};
        char *v = run(&er, &hl, 0), *t = run(&er, &hl, 1), *l = run(&er, &wd, 0);
        CHECKF(v && strstr(v, "00:00:00.000 --> 00:00:01.000\n<u>a&amp;b</u> &lt;i> x->y a->b c\n\n") &&
               strstr(v, "00:00:01.000 --> 00:00:02.000\na&amp;b <u>&lt;i></u> x->y a->b c\n\n") &&
               strstr(v, "00:00:02.000 --> 00:00:03.000\na&amp;b &lt;i> <u>x--</u>>y a->b c\n\n") &&
               /* a line break inside the word: openai's re.sub leaves it unmarked */
               strstr(v, "00:00:04.000 --> 00:00:05.000\na&amp;b &lt;i> x->y a->b c\n\n") && !strstr(v, "-->y"), "%s", v);
        CHECKF(t && strstr(t, "1\n00:00:00,000 --> 00:00:01,000\n<u>a&b</u> <i> x->y a->b c\n\n"), "%s", t);
        CHECKF(l && !strcmp(l, "00:00:00.000 --> 00:00:05.000\na&amp;b &lt;i>\nx->y\na->b c\n\n"), "%s", l);
        free(v); free(t); free(l);
    }
    TEST("a run of dashes before '>' is one '->' ('--->' had come out as '-' + '->' = '-->')") {
        sp_word e[3] = {W(" a--->b", 0, 1), W(" c---->", 1, 2), W(" ->d", 2, 3)};
        sp_segment es = {.start = 0, .end = 3, .text = " a--->b c----> ->d -- e", .words = e, .n_words = 3};
        sp_result er = {.segments = &es, .n_segments = 1};
        sub_opts plain = {0}, hl = {.highlight_words = 1};
        char *v = run(&er, &plain, 0), *t = run(&er, &plain, 1), *h = run(&er, &hl, 1);
        CHECKF(v && strstr(v, "\na->b c-> ->d -- e\n") && !strstr(v, "-->b") && !strstr(v, "--> ->"), "%s", v);
        CHECKF(t && strstr(t, "\na->b c-> ->d -- e\n"), "%s", t);
        CHECKF(h && strstr(h, "<u>a->b</u> c-> ->d") && !strstr(h, "-->b"), "%s", h);
        free(v); free(t); free(h);
    }
    TEST_EXIT();
}
