/* fuzz_multipart.c — libFuzzer target for the HTTP front end's multipart/form-data parser
 * (src/http/sh_multipart.c). Input: a Content-Type line, then the body. The body is parsed
 * whole and again in pieces whose sizes come from the input; both runs must report the same
 * status and the same parts and bytes (the parser's answer must not depend on how TCP cut
 * the body), and a part's data callback never sees more bytes than the body has.
 * Corpus: fuzz/corpus/multipart/ (replayed by `make test`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sh_multipart.h"

typedef struct {
    uint64_t hash;   /* FNV-1a over every callback and its bytes */
    size_t bytes;
} trace;

static void mix(trace *t, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) t->hash = (t->hash ^ b[i]) * 1099511628211ull;
}

/* the part is hashed whole: the parser zeroes it before filling it, padding included */
static int begin(void *ud, const sh_mp_part *p)
{
    mix(ud, "B", 1);
    mix(ud, p, sizeof *p);
    return 0;
}
static int data(void *ud, const char *d, size_t n)
{
    trace *t = ud;
    t->bytes += n;
    mix(t, d, n);
    return 0;
}
static int end(void *ud) { mix(ud, "E", 1); return 0; }

static sh_mp_status run(const char *boundary, const char *body, size_t n, const uint8_t *cuts,
                        size_t ncuts, trace *t)
{
    static const sh_mp_callbacks cb = { begin, data, end };
    sh_mp *m = malloc(sizeof *m);
    if (!m) abort();
    memset(t, 0, sizeof *t);
    t->hash = 14695981039346656037ull;
    sh_mp_init(m, boundary, &cb, t);
    size_t i = 0, k = 0;
    while (i < n) {
        size_t step = ncuts ? (size_t)cuts[k++ % ncuts] % 17 + 1 : n;
        if (step > n - i) step = n - i;
        sh_mp_feed(m, body + i, step);
        i += step;
    }
    sh_mp_status st = sh_mp_finish(m);
    free(m);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    const uint8_t *nl = memchr(in, '\n', size);
    if (!nl || nl - in > 300) return 0;
    char ct[301], b[SH_MP_BOUNDARY_MAX + 1];
    memcpy(ct, in, (size_t)(nl - in));
    ct[nl - in] = 0;
    if (sh_mp_boundary(ct, b) != 0) return 0;
    const char *body = (const char *)nl + 1;
    size_t n = size - (size_t)(nl + 1 - in);
    trace whole, pieces;
    sh_mp_status s1 = run(b, body, n, NULL, 0, &whole);
    sh_mp_status s2 = run(b, body, n, in, size, &pieces);
    if (s1 != s2 || whole.hash != pieces.hash || whole.bytes > n) abort();
    return 0;
}
