/* The pure parts of key_listener's X11 typer (src/keylistener/kl_xtest.h): code points to
 * keysyms, UTF-8 decoding (invalid input included), the batching of keysyms without a key
 * onto spare keycodes (checked on a long random text against the rules), and the failures
 * that must come back as errors before any key (no DISPLAY, no server). Typing itself into
 * a real X server: tests/integration/keylistener_x11_unicode.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "keylistener/kl_xtest.h"

#define U(cp) (0x01000000UL + (cp))
#define RETURN 0xff0dUL
#define TAB 0xff09UL
#define FFFD U(0xfffd)

static int decodes_to(const char *s, const unsigned long *want, size_t nwant)
{
    size_t len = strlen(s);
    unsigned long *out = malloc((len ? len : 1) * sizeof *out);
    size_t k = kl_xtest_decode(s, len, out);
    int ok = k == nwant && (!k || !memcmp(out, want, k * sizeof *out));
    if (!ok) {
        fprintf(stderr, "  \"%s\" gave %zu:", s, k);
        for (size_t i = 0; i < k; i++) fprintf(stderr, " %lx", out[i]);
        fputc('\n', stderr);
    }
    free(out);
    return ok;
}
#define DECODES(s, ...) do { const unsigned long w_[] = { __VA_ARGS__ }; \
        CHECK(decodes_to(s, w_, sizeof w_ / sizeof w_[0])); } while (0)

/* The rules of kl_xtest_batches on its output: batches are contiguous and cover the text;
 * within one, a keysym keeps its slot, different keysyms never share one, slots < nspare;
 * every batch but the last is full where it ends (the next missing keysym is new to it and
 * all slots are taken), so the count is the least possible. */
static int batches_valid(const unsigned long *syms, const unsigned char *missing, size_t n,
                         size_t nspare, const unsigned *slot, const size_t *ends, size_t nb)
{
    unsigned long *by_slot = malloc((nspare ? nspare : 1) * sizeof *by_slot);
    unsigned char *taken = malloc(nspare ? nspare : 1);
    int ok = n ? nb >= 1 && ends[nb - 1] == n : nb == 0;
    for (size_t b = 0, start = 0; ok && b < nb; start = ends[b++]) {
        ok = ends[b] > start;
        memset(taken, 0, nspare ? nspare : 1);
        size_t used = 0;
        for (size_t i = start; ok && i < ends[b]; i++) {
            if (!missing[i]) continue;
            ok = slot[i] < nspare;
            if (!ok) break;
            if (taken[slot[i]]) ok = by_slot[slot[i]] == syms[i];
            else {
                for (size_t j = 0; j < nspare; j++) if (taken[j] && by_slot[j] == syms[i]) ok = 0;
                taken[slot[i]] = 1; by_slot[slot[i]] = syms[i]; used++;
            }
        }
        if (ok && b + 1 < nb) {          /* it ended because the next key needed a new slot */
            size_t i = ends[b];
            while (i < n && !missing[i]) i++;
            ok = i < n && used == nspare;
            for (size_t j = 0; ok && j < nspare; j++) if (by_slot[j] == syms[i]) ok = 0;
        }
    }
    free(by_slot);
    free(taken);
    return ok;
}

int main(void)
{
    TEST("code points to keysyms: Latin-1 as is, Unicode keysyms, Return/Tab, no controls") {
        CHECK(kl_xtest_keysym('a') == 'a');
        CHECK(kl_xtest_keysym(' ') == 0x20);
        CHECK(kl_xtest_keysym('~') == 0x7e);
        CHECK(kl_xtest_keysym(0xa0) == 0xa0);
        CHECK(kl_xtest_keysym(0xe9) == 0xe9);        /* é: XK_eacute */
        CHECK(kl_xtest_keysym(0xff) == 0xff);        /* ÿ: XK_ydiaeresis */
        CHECK(kl_xtest_keysym(0x100) == U(0x100));
        CHECK(kl_xtest_keysym(0x2014) == U(0x2014)); /* — */
        CHECK(kl_xtest_keysym(0x20ac) == U(0x20ac)); /* € */
        CHECK(kl_xtest_keysym(0x1f600) == U(0x1f600));
        CHECK(kl_xtest_keysym('\n') == RETURN);
        CHECK(kl_xtest_keysym('\r') == RETURN);
        CHECK(kl_xtest_keysym('\t') == TAB);
        CHECK(kl_xtest_keysym(0) == 0 && kl_xtest_keysym(0x1b) == 0 && kl_xtest_keysym(0x7f) == 0);
        CHECK(kl_xtest_keysym(0x80) == 0 && kl_xtest_keysym(0x9f) == 0);
    }
    TEST("UTF-8 decoding: ASCII, Latin-1, punctuation, Greek, Cyrillic, CJK, emoji, line breaks") {
        CHECK(decodes_to("", NULL, 0));
        DECODES("Hi, é ü ß Ç!", 'H', 'i', ',', ' ', 0xe9, ' ', 0xfc, ' ', 0xdf, ' ', 0xc7, '!');
        DECODES("— … “ ” ’ €", U(0x2014), ' ', U(0x2026), ' ', U(0x201c), ' ', U(0x201d), ' ',
                U(0x2019), ' ', U(0x20ac));
        DECODES("αΩ жЯ 日本語 😀", U(0x3b1), U(0x3a9), ' ', U(0x436), U(0x42f), ' ', U(0x65e5),
                U(0x672c), U(0x8a9e), ' ', U(0x1f600));
        DECODES("a\nb\r\nc\rd\te", 'a', RETURN, 'b', RETURN, 'c', RETURN, 'd', TAB, 'e');
        DECODES("\r\r\n", RETURN, RETURN);
        DECODES("x\x1b[1m\x7fy", 'x', '[', '1', 'm', 'y');   /* controls type nothing */
        DECODES("\xc2\x85z", 'z');                            /* C1 control (NEL) */
    }
    TEST("invalid UTF-8: U+FFFD per maximal invalid subpart, never more input than there is") {
        DECODES("\xff", FFFD);
        DECODES("a\xc3", 'a', FFFD);                          /* truncated at the end */
        DECODES("\xe6\x97x", FFFD, 'x');                      /* truncated, then ASCII */
        DECODES("\xf0\x9f\x98", FFFD);
        DECODES("\xc0\xaf", FFFD, FFFD);                      /* overlong '/' */
        DECODES("\xe0\x80\xaf", FFFD, FFFD, FFFD);            /* overlong, 3 bytes */
        DECODES("\xed\xa0\x80", FFFD, FFFD, FFFD);            /* a surrogate */
        DECODES("\xf4\x90\x80\x80", FFFD, FFFD, FFFD, FFFD);  /* past U+10FFFF */
        DECODES("\x80\xbf", FFFD, FFFD);                      /* lone continuation bytes */
        DECODES("\xf4\x8f\xbf\xbf", U(0x10ffff));
        /* each byte value after a lead byte at the very end: no read past len */
        for (int c = 0xc2; c <= 0xf4; c++) {
            char s[3] = { 'q', (char)c, 0 };
            DECODES(s, 'q', FFFD);
        }
    }
    TEST("batches: nothing missing is one batch; the same keysym shares its slot") {
        const unsigned long s[] = { 'a', U(0x2014), 'b', U(0x2014), 0xe9, 'c' };
        const unsigned char m[] = { 0, 1, 0, 1, 1, 0 };
        const unsigned char none[6] = { 0 };
        unsigned slot[6];
        size_t ends[6], nb = 99;
        CHECK(kl_xtest_batches(s, none, 6, 0, slot, ends, &nb) == 0 && nb == 1 && ends[0] == 6);
        CHECK(kl_xtest_batches(s, m, 6, 19, slot, ends, &nb) == 0 && nb == 1 && ends[0] == 6);
        CHECK(slot[1] == 0 && slot[3] == 0 && slot[4] == 1);
        CHECK(kl_xtest_batches(s, m, 6, 2, slot, ends, &nb) == 0 && nb == 1);
        CHECK(kl_xtest_batches(s, m, 0, 2, slot, ends, &nb) == 0 && nb == 0);
        CHECK(kl_xtest_batches(s, m, 6, 0, slot, ends, &nb) == -1);   /* no spare keycode */
    }
    TEST("batches: more distinct keysyms than spares split where a spare is lacking") {
        /* A B A C B D with 2 spares: [A B A] [C B] [D] */
        const unsigned long s[] = { U(1000), U(1001), U(1000), U(1002), U(1001), U(1003) };
        const unsigned char m[] = { 1, 1, 1, 1, 1, 1 };
        unsigned slot[6];
        size_t ends[6], nb = 0;
        CHECK(kl_xtest_batches(s, m, 6, 2, slot, ends, &nb) == 0);
        CHECK(nb == 3 && ends[0] == 3 && ends[1] == 5 && ends[2] == 6);
        CHECK(slot[0] == 0 && slot[1] == 1 && slot[2] == 0 && slot[3] == 0 && slot[4] == 1 && slot[5] == 0);
        CHECK(batches_valid(s, m, 6, 2, slot, ends, nb));
        CHECK(kl_xtest_batches(s, m, 6, 1, slot, ends, &nb) == 0 && nb == 6);
        CHECK(batches_valid(s, m, 6, 1, slot, ends, nb));
    }
    TEST("batches: 300k keysyms (random, 3000 distinct, a third with keys) in linear time, valid") {
        size_t n = 300000;
        unsigned long *s = malloc(n * sizeof *s);
        unsigned char *m = malloc(n);
        unsigned *slot = malloc(n * sizeof *slot);
        size_t *ends = malloc(n * sizeof *ends), nb = 0;
        uint32_t r = 12345;
        for (size_t i = 0; i < n; i++) {
            r = r * 1664525u + 1013904223u;
            s[i] = U(0x4e00 + (r >> 8) % 3000);
            m[i] = (r >> 4) % 3 != 0;
        }
        const size_t spares[] = { 1, 2, 19, 200, 248 };
        for (size_t k = 0; k < sizeof spares / sizeof spares[0]; k++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = kl_xtest_batches(s, m, n, spares[k], slot, ends, &nb);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
            printf("# %zu spares: %zu batches in %.1f ms\n", spares[k], nb, ms);
            CHECK(rc == 0 && nb > 1);
            CHECKF(ms < 2000, "%.0f ms", ms);   /* quadratic would be minutes */
            CHECK(batches_valid(s, m, n, spares[k], slot, ends, nb));
        }
        free(s); free(m); free(slot); free(ends);
    }
    TEST("no DISPLAY, or a display nobody serves: an error before any key, no crash") {
        char err[256];
        const char *old = getenv("DISPLAY");
        char *saved = old ? strdup(old) : NULL;
        unsetenv("DISPLAY");
        CHECK(kl_xtest_type("héllo", 0, err, sizeof err) == -1 && strstr(err, "DISPLAY"));
        setenv("DISPLAY", ":9876", 1);
        CHECK(kl_xtest_type("héllo", 0, err, sizeof err) == -1 && strstr(err, "cannot open display :9876"));
        if (saved) setenv("DISPLAY", saved, 1); else unsetenv("DISPLAY");
        free(saved);
    }
    TEST_EXIT();
}
