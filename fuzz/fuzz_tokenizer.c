/* libFuzzer target: the tokenizer on untrusted text — a request's `prompt` and `hotwords`, an
 * HTTP `prompt` field — and on arbitrary ids. The first byte picks what the rest is:
 *   0  text: encoded; every id is a text token (< eot), and for valid UTF-8 the ids decode
 *      back to exactly the text (byte-level BPE loses nothing); invalid UTF-8 encodes as its
 *      repair (sp_utf8_repair) does
 *   1  text: the pre-split's pieces, which must cover valid UTF-8 text exactly, in order
 *   2  ids (little-endian int32, any value: specials, timestamps, negative, past the vocabulary):
 *      decoded to valid UTF-8
 * The vocabulary: $SPEECH_SESSION_FUZZ_VOCAB, else the real multilingual one of
 * ../shared/data/for-tests-ggml-base.bin (a header-only ggml file: its BPE ranks and the
 * fragment bytes put back), else tests/data/models/micro-f16.bin (a placeholder vocabulary:
 * the 256 bytes and tokens that never merge) — so the replay in `make test` runs everywhere.
 * `make fuzz` builds build/fuzz/fuzz_tokenizer; the corpus is fuzz/corpus/tokenizer/. */
#include "whisper/tokenizer.h"
#include "common/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wh_tokenizer *vocab(void)
{
    static wh_tokenizer *t;   /* loaded once, kept for the process (reachable: no leak) */
    if (t) return t;
    const char *env = getenv("SPEECH_SESSION_FUZZ_VOCAB");
    const char *paths[] = { env, "../shared/data/for-tests-ggml-base.bin", "tests/data/models/micro-f16.bin" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !t; i++) {
        char err[256];
        int nv;
        if (paths[i] && wh_tok_load_file(paths[i], &t, &nv, err, sizeof err) != SP_OK) t = NULL;
    }
    if (!t) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary (run from the repository root)\n");
        abort();
    }
    return t;
}

static int cover(const char *p, size_t n, void *user)
{
    const char **at = user;   /* the next byte the pieces must start at */
    if (p != *at || n == 0) abort();
    *at = p + n;
    return 0;
}

static void text_case(const wh_tokenizer *t, const char *s, size_t n)
{
    int *ids = NULL;
    const int k = wh_tok_encode(t, s, n, &ids);
    if (k < 0) return;   /* out of memory */
    for (int i = 0; i < k; i++)
        if (ids[i] < 0 || ids[i] >= wh_tok_eot(t) || ids[i] >= wh_tok_n_tokens(t)) abort();
    char *back = wh_tok_decode(t, ids, k);
    char *want = malloc(n * 3 + 1);   /* a repair writes at most 3 bytes (U+FFFD) per byte */
    if (back && want && !memchr(s, 0, n)) {   /* the decoded text ends at a NUL */
        const size_t wn = sp_utf8_repair(s, n, want);
        if (strlen(back) != wn || memcmp(back, want, wn) != 0) abort();
    }
    free(want);
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const wh_tokenizer *t = vocab();
    if (size < 1) return 0;
    const int mode = data[0] % 3;
    const size_t n = size - 1;
    char *s = malloc(n + 1);   /* an exact-size copy (plus a NUL no code may rely on) */
    if (!s) return 0;
    memcpy(s, data + 1, n);
    s[n] = 0;
    if (mode == 0) {
        text_case(t, s, n);
    } else if (mode == 1) {
        if (sp_utf8_valid(s, n)) {
            const char *at = s;
            wh_tok_presplit(s, n, cover, &at);
            if (at != s + n) abort();
        }
    } else {
        const int k = (int)(n / 4);
        int *ids = malloc(sizeof *ids * (size_t)(k ? k : 1));
        if (ids) {
            memcpy(ids, s, sizeof *ids * (size_t)k);
            char *txt = wh_tok_decode(t, ids, k);
            if (txt && !sp_utf8_valid(txt, strlen(txt))) abort();
            free(txt);
        }
        free(ids);
    }
    free(s);
    return 0;
}
