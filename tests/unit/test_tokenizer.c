/* Tokenizer: UTF-8 repair, the pre-split, rank-based BPE, decoding and the non-speech set.
 * Real vocabularies come from $SHARED/data/for-tests-ggml-base{,.en}.bin (header-only model
 * files); those tests are skipped (reported as "ok - ... # SKIP") when they are absent. */
#include "harness.h"
#include "whisper/tokenizer.h"
#include "common/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ids_eq(const int *a, int na, const int *b, int nb)
{
    if (na != nb) return 0;
    for (int i = 0; i < na; i++) if (a[i] != b[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int *a, int n)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", a[i]);
    fputc('\n', stderr);
}

static int enc_is(const wh_tokenizer *t, const char *s, const int *want, int nw)
{
    int *ids;
    int n = wh_tok_encode(t, s, strlen(s), &ids);
    int ok = n >= 0 && ids_eq(ids, n, want, nw);
    if (!ok) { fprintf(stderr, "  encode(\"%s\")\n", s); print_ids("got", ids, n); print_ids("want", want, nw); }
    free(ids);
    return ok;
}

/* round trip: decode(encode(s)) == s for valid UTF-8 */
static int roundtrip(const wh_tokenizer *t, const char *s)
{
    int *ids;
    int n = wh_tok_encode(t, s, strlen(s), &ids);
    if (n < 0) return 0;
    char *d = wh_tok_decode(t, ids, n);
    int ok = d && !strcmp(d, s);
    if (!ok) fprintf(stderr, "  roundtrip \"%s\" -> \"%s\"\n", s, d ? d : "(null)");
    free(d);
    free(ids);
    return ok;
}

typedef struct { char pieces[16][32]; int n; } split_out;
static int collect(const char *p, size_t n, void *u)
{
    split_out *o = u;
    if (o->n < 16 && n < 32) { memcpy(o->pieces[o->n], p, n); o->pieces[o->n][n] = 0; }
    o->n++;
    return 0;
}

static int split_is(const char *s, const char *const *want, int nw)
{
    split_out o = {.n = 0};
    wh_tok_presplit(s, strlen(s), collect, &o);
    int ok = o.n == nw;
    for (int i = 0; ok && i < nw; i++) ok = !strcmp(o.pieces[i], want[i]);
    if (!ok) {
        fprintf(stderr, "  split(\"%s\"):", s);
        for (int i = 0; i < o.n && i < 16; i++) fprintf(stderr, " [%s]", o.pieces[i]);
        fputc('\n', stderr);
    }
    return ok;
}

static void test_utf8_repair(void)
{
    TEST("utf8 repair: maximal subparts become U+FFFD, valid text untouched") {
        char out[64];
        size_t n = sp_utf8_repair("h\xc3\xa9llo", 6, out);
        CHECK(n == 6 && !strcmp(out, "h\xc3\xa9llo"));
        /* lone continuation, truncated 3-byte sequence, overlong, surrogate, > U+10FFFF */
        n = sp_utf8_repair("a\x80" "b", 3, out);
        CHECK(!strcmp(out, "a\xef\xbf\xbd" "b"));
        n = sp_utf8_repair("\xe2\x82" "x", 3, out);   /* E2 82 is one maximal subpart */
        CHECK(!strcmp(out, "\xef\xbf\xbd" "x"));
        n = sp_utf8_repair("\xc0\xaf", 2, out);        /* overlong: two replacements */
        CHECK(!strcmp(out, "\xef\xbf\xbd\xef\xbf\xbd"));
        n = sp_utf8_repair("\xed\xa0\x80", 3, out);    /* surrogate: three */
        CHECK(!strcmp(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
        n = sp_utf8_repair("\xf4\x90\x80\x80", 4, out);
        CHECK(n == 12);
        n = sp_utf8_repair("\xf0\x9f\x98", 3, out);    /* truncated emoji at the end: one */
        CHECK(!strcmp(out, "\xef\xbf\xbd"));
        CHECK(sp_utf8_valid(out, n));
        CHECK(!sp_utf8_valid("\xf0\x9f\x98", 3));
        CHECK(sp_utf8_valid("\xf0\x9f\x98\x80", 4));
        /* every 2-byte input repairs to valid UTF-8 */
        int bad = 0;
        for (int a = 0; a < 256; a++)
            for (int b = 0; b < 256; b++) {
                char in[2] = {(char)a, (char)b};
                size_t m = sp_utf8_repair(in, 2, out);
                if (!sp_utf8_valid(out, m)) bad++;
            }
        CHECK(bad == 0);
    }
}

static void test_unicode_classes(void)
{
    TEST("unicode classes") {
        CHECK(wh_uc_is_letter('a') && wh_uc_is_letter(0xE9) && wh_uc_is_letter(0x4E2D) && wh_uc_is_letter(0x0416));
        CHECK(!wh_uc_is_letter('1') && !wh_uc_is_letter(0x0301) && !wh_uc_is_letter('-'));   /* combining acute */
        CHECK(wh_uc_is_number('7') && wh_uc_is_number(0x0663) && wh_uc_is_number(0x00BD) && wh_uc_is_number(0x2167));
        CHECK(wh_uc_is_space(' ') && wh_uc_is_space('\n') && wh_uc_is_space(0x3000) && !wh_uc_is_space(0x200B));
    }
}

static void test_presplit(void)
{
    TEST("pre-split follows the GPT-2 regex") {
        const char *a[] = {"Hello", " world", "."};
        CHECK(split_is("Hello world.", a, 3));
        const char *b[] = {"I", "'m", " fine", ",", " they", "'re", " OK", "'", "S"};   /* 'S: not a contraction */
        CHECK(split_is("I'm fine, they're OK'S", b, 9));
        const char *c[] = {"a", "  ", " b"};   /* a space run gives its last space to the word */
        CHECK(split_is("a   b", c, 3));
        const char *d[] = {"x", "\n", "y", "  "};
        CHECK(split_is("x\ny  ", d, 4));
        const char *e[] = {" 123", "abc", " ?!", "  \n"};   /* trailing run: whole */
        CHECK(split_is(" 123abc ?!  \n", e, 4));
        const char *e2[] = {" 123", "abc", " ?!", "  ", "\n", "z"};
        CHECK(split_is(" 123abc ?!  \nz", e2, 6));
        const char *f[] = {"caf\xc3\xa9", " na\xc3\xaf" "ve"};
        CHECK(split_is("caf\xc3\xa9 na\xc3\xaf" "ve", f, 2));
        const char *g[] = {"e", "\xcc\x81", "x"};   /* e + combining acute: the mark is not a letter */
        CHECK(split_is("e\xcc\x81x", g, 3));
        const char *h[] = {" ", "\t", "a"};
        CHECK(split_is(" \ta", h, 3));
    }
}

static void test_synthetic_vocabulary(void)
{
    TEST("synthetic vocabulary: bytes and placeholder tokens") {
        /* ids 0..255 the single bytes (identity order here), 256 "he", 257 "hel", 258 " w" */
        static char bytes[256];
        wh_token_bytes v[259];
        for (int i = 0; i < 256; i++) { bytes[i] = (char)i; v[i].bytes = &bytes[i]; v[i].len = 1; }
        v[256] = (wh_token_bytes){"he", 2};
        v[257] = (wh_token_bytes){"hel", 3};
        v[258] = (wh_token_bytes){" w", 2};
        wh_tokenizer *t;
        CHECK(wh_tok_new(v, 259, 259, &t) == SP_OK);
        const int w1[] = {257, 'l', 'o', 258, 'o', 'r', 'l', 'd'};
        CHECK(enc_is(t, "hello world", w1, 8));
        /* invalid UTF-8 input is repaired to U+FFFD (3 bytes) before encoding */
        const int w3[] = {0xEF, 0xBF, 0xBD};
        CHECK(enc_is(t, "\xff", w3, 3));
        /* decoding drops specials and repairs split characters */
        const int d1[] = {0xC3, 259, 300, -5, 0xA9};
        char *s = wh_tok_decode(t, d1, 5);
        CHECK(s && !strcmp(s, "\xc3\xa9"));
        free(s);
        const int d2[] = {0xC3, 'a'};
        s = wh_tok_decode(t, d2, 2);
        CHECK(s && !strcmp(s, "\xef\xbf\xbd" "a"));
        free(s);
        int *ids;
        CHECK(wh_tok_encode(t, "", 0, &ids) == 0 && ids);
        free(ids);
        wh_tok_free(t);
        wh_tok_free(NULL);
    }
}

/* tests/data/tokenizer-hard-texts.txt (tests/tools/tok_reference.py: an independent
 * tiktoken-style encoder over openai's rank files): for each of its texts for vocabulary
 * name, encode must give the reference ids and decoding them the text, byte for byte.
 * Returns how many texts passed (-1: the file is missing). */
static int hard_texts(const wh_tokenizer *t, const char *name)
{
    FILE *f = fopen("tests/data/tokenizer-hard-texts.txt", "r");
    if (!f) { fprintf(stderr, "  tests/data/tokenizer-hard-texts.txt missing\n"); return -1; }
    static char line[1 << 16], text[1 << 14];
    static int want[1 << 13];
    int passed = 0;
    while (fgets(line, sizeof line, f)) {
        char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp2 || strncmp(line, name, strlen(name)) || sp1 != line + strlen(name)) continue;
        size_t n = 0;
        for (const char *h = sp1 + 1; h + 1 < sp2 && *h != '-'; h += 2) {
            unsigned v;
            if (sscanf(h, "%2x", &v) != 1) break;
            text[n++] = (char)v;
        }
        text[n] = 0;
        int nw = 0;
        for (char *p = sp2 + 1; *p && *p != '-' && *p != '\n' && nw < (int)(sizeof want / sizeof want[0]);) {
            want[nw++] = (int)strtol(p, &p, 10);
            if (*p == ',') p++;
        }
        int *ids;
        const int ng = wh_tok_encode(t, text, n, &ids);
        const int ok_ids = ng >= 0 && ids_eq(ids, ng, want, nw);
        char *d = wh_tok_decode(t, want, nw);
        const int ok_dec = d && strlen(d) == n && !memcmp(d, text, n);
        if (!ok_ids || !ok_dec) {
            fprintf(stderr, "  %s \"%.40s\": ids %s (%d, want %d), decode %s\n", name, text, ok_ids ? "ok" : "DIFFER", ng,
                    nw, ok_dec ? "ok" : "DIFFERS");
        }
        passed += ok_ids && ok_dec;
        free(ids);
        free(d);
    }
    fclose(f);
    return passed;
}

/* A copy of a real ggml header file with the vocabulary entry of id changed in place (same
 * length: its first byte becomes 'Z'), loaded. NULL when the file cannot be read. */
static wh_tokenizer *load_altered(const char *path, int id)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static unsigned char b[1 << 21];
    const size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    int32_t nmel, nfft, ntok;
    size_t pos = 48;
    memcpy(&nmel, b + pos, 4); memcpy(&nfft, b + pos + 4, 4);
    pos += 8 + (size_t)nmel * (size_t)nfft * 4;
    memcpy(&ntok, b + pos, 4);
    pos += 4;
    for (int i = 0; i < ntok && pos + 4 <= n; i++) {
        int32_t len;
        memcpy(&len, b + pos, 4);
        if (i == id && len > 0) b[pos + 4] = 'Z';
        pos += 4 + (size_t)len;
    }
    char tmp[] = "/tmp/test_tokenizer_XXXXXX";
    const int fd = mkstemp(tmp);
    if (fd < 0) return NULL;
    const int wok = write(fd, b, n) == (ssize_t)n;
    close(fd);
    wh_tokenizer *t = NULL;
    int nv;
    char err[256];
    if (!wok || wh_tok_load_file(tmp, &t, &nv, err, sizeof err) != SP_OK) t = NULL;
    unlink(tmp);
    return t;
}

static void test_not_openai_unaltered(void)
{
    const char *shared = getenv("SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/for-tests-ggml-base.bin", shared ? shared : "../shared");
    wh_tokenizer *t0 = NULL;
    int nv;
    char err[256];
    if (wh_tok_load_file(path, &t0, &nv, err, sizeof err) != SP_OK) {
        printf("ok - fragments: a vocabulary that is not openai's is left alone # SKIP %s\n", err);
        return;
    }
    TEST("fragments: a vocabulary that is not openai's is left alone") {
        /* the real file restores 1348; one ordinary token changed (1002 " world" -> "Zworld":
         * the whole-vocabulary hash differs), or one fragment slot that is not the lossy form
         * (7385 " \ufffd" -> "Z\ufffd") and nothing is restored: 7385 stays what the file says */
        CHECK(wh_tok_n_restored(t0) == 1348);
        static const int alter[2] = {1002, 7385};
        for (int k = 0; k < 2; k++) {
            wh_tokenizer *t = load_altered(path, alter[k]);
            CHECK(t != NULL);
            if (!t) continue;
            CHECKF(wh_tok_n_restored(t) == 0, "id %d altered: restored %d", alter[k], wh_tok_n_restored(t));
            const int id = 7385;
            char *s = wh_tok_decode(t, &id, 1);
            CHECKF(s && !strcmp(s, k ? "Z\xef\xbf\xbd" : " \xef\xbf\xbd"), "7385 -> \"%s\"", s ? s : "");
            free(s);
            wh_tok_free(t);
        }
    }
    wh_tok_free(t0);
}

/* five tests on each real vocabulary in $SHARED/data (a SKIP line for a file that is absent) */
static void test_real_vocabularies(void)
{
    const char *shared = getenv("SHARED");
    char path[1024];
    static const char *const files[2] = {"for-tests-ggml-base.en.bin", "for-tests-ggml-base.bin"};
    for (int f = 0; f < 2; f++) {
        wh_tokenizer *t = NULL;
        int n_vocab = 0;
        char err[256];
        snprintf(path, sizeof path, "%s/data/%s", shared ? shared : "../shared", files[f]);
        if (wh_tok_load_file(path, &t, &n_vocab, err, sizeof err) != SP_OK) {
            printf("ok - real vocabulary %s # SKIP %s\n", files[f], err);
            continue;
        }
        const int multi = f == 1;
        char name[128];
        snprintf(name, sizeof name, "real vocabulary %s: sanity ids", files[f]);
        TEST(name) {
            CHECK(n_vocab == (multi ? 51865 : 51864));
            const int hw_en[] = {18435, 995, 13}, hw_ml[] = {2425, 1002, 13};
            CHECK(enc_is(t, " Hello world.", multi ? hw_ml : hw_en, 3));
            const int sp[] = {220};
            CHECK(enc_is(t, " ", sp, 1));
        }
        snprintf(name, sizeof name, "real vocabulary %s: round trips", files[f]);
        TEST(name) {
            CHECK(roundtrip(t, " Hello world."));
            CHECK(roundtrip(t, "And so my fellow Americans, ask not what your country can do for you"));
            CHECK(roundtrip(t, " Grüße aus Köln — 東京タワー 123,456.78 🙂  \n\ttabs"));
            CHECK(roundtrip(t, "Привет, мир! ¿Qué tal? naïve café"));
            CHECK(roundtrip(t, "  leading and trailing   "));
            CHECK(roundtrip(t, "it's they'll we've I'd you're THEY'RE"));
        }
        snprintf(name, sizeof name, "real vocabulary %s: non-speech set matches the reference list", files[f]);
        TEST(name) {
            /* openai's algorithm over this file's vocabulary reproduces §4's list exactly:
             * the music symbols' first tokens (♩ = E2 99 A9 ...) are byte fragments, which
             * the ggml file stores as U+FFFD and the tokenizer restores from openai's ranks
             * (before that, 2 ids were missing and 2 single-byte ids extra). */
            int got[256];
            const int *want;
            int nw = wh_nonspeech_table(multi, &want);
            int ng = wh_tok_nonspeech_compute(t, got, 256);
            CHECK(nw == (multi ? 82 : 84));
            int missing = 0, extra = 0;
            for (int i = 0; i < nw; i++) {
                int found = 0;
                for (int k = 0; k < ng; k++) found |= got[k] == want[i];
                if (!found) {
                    missing++;
                    /* must be a lossy fragment in this file */
                    char *s = wh_tok_decode(t, &want[i], 1);
                    CHECKF(s && strstr(s, "\xef\xbf\xbd"), "reference id %d (\"%s\") missing", want[i], s ? s : "");
                    free(s);
                }
            }
            for (int k = 0; k < ng; k++) {
                int found = 0;
                for (int i = 0; i < nw; i++) found |= got[k] == want[i];
                if (!found) { extra++; CHECKF(got[k] < 256, "extra id %d", got[k]); }
            }
            CHECK(missing == 0 && extra == 0);
        }
        snprintf(name, sizeof name, "real vocabulary %s: fragment tokens restored, tiktoken's ids on 39 hard texts", files[f]);
        TEST(name) {
            /* whisper.cpp stores 216 (gpt2) / 1348 (multilingual) fragments as U+FFFD */
            CHECKF(wh_tok_n_restored(t) == (multi ? 1348 : 216), "restored %d", wh_tok_n_restored(t));
            if (multi) {   /* " 🙂" = [7385, 247, 224]: 7385 is " \xf0\x9f" */
                const int smile[] = {7385, 247, 224};
                char *s = wh_tok_decode(t, smile, 3);
                CHECKF(s && !strcmp(s, " \xf0\x9f\x99\x82"), "\"%s\"", s ? s : "");
                free(s);
            }
            CHECK(hard_texts(t, multi ? "multilingual" : "gpt2") == 39);
        }
        snprintf(name, sizeof name, "real vocabulary %s: decoding never yields invalid UTF-8", files[f]);
        TEST(name) {
            /* every single token, and adjacent pairs of byte-fragment tokens */
            int bad = 0;
            for (int id = 0; id < 50257; id++) {
                char *s = wh_tok_decode(t, &id, 1);
                if (!s || !sp_utf8_valid(s, strlen(s))) bad++;
                free(s);
            }
            for (int id = 100; id < 50000; id += 97) {
                int pair[2] = {id, (id * 7919) % 50257};
                char *s = wh_tok_decode(t, pair, 2);
                if (!s || !sp_utf8_valid(s, strlen(s))) bad++;
                free(s);
            }
            CHECK(bad == 0);
        }
        wh_tok_free(t);
    }
}

static void test_load_file_errors(void)
{
    TEST("load_file errors leave outputs NULL") {
        wh_tokenizer *t = (wh_tokenizer *)1;
        int nv = 7;
        char err[128] = "";
        CHECK(wh_tok_load_file("/nonexistent/model.bin", &t, &nv, err, sizeof err) == SP_ERR_IO);
        CHECK(t == NULL && nv == 0 && err[0]);
        CHECK(wh_tok_load_file("/etc/hostname", &t, &nv, err, sizeof err) == SP_ERR_MODEL_FORMAT);
        CHECK(t == NULL);
    }
}

int main(void)
{
    test_utf8_repair();
    test_unicode_classes();
    test_presplit();
    test_synthetic_vocabulary();
    test_real_vocabularies();
    test_not_openai_unaltered();
    test_load_file_errors();
    TEST_EXIT();
}
