/* The pure parts of key_listener's X11 typer (src/keylistener/kl_xtest.h): code points to
 * keysyms, UTF-8 decoding (invalid input included), the batching of keysyms without a key
 * onto spare keycodes (checked on a long random text against the rules), chord parsing, the
 * spare keycode's binding for a case pair (Caps Lock), and the failures that must come back
 * as errors before any key (no DISPLAY, no server, a server that never answers, an
 * interruption). Typing itself into a real X server: tests/integration/
 * keylistener_x11_unicode.sh; chords: keylistener_paste.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

#define XK_CONTROL_L 0xffe3UL
#define XK_SHIFT_L 0xffe1UL
#define XK_ALT_L 0xffe9UL
#define XK_SUPER_L 0xffebUL
#define XK_INSERT 0xff63UL
#define XK_F4 0xffc1UL

/* chord parses to the modifiers m (nm of them) and key k */
static int chord_is(const char *chord, const unsigned long *m, size_t nm, unsigned long k)
{
    unsigned long mods[KL_XTEST_MAX_MODS], key;
    size_t n;
    int ok = kl_xtest_chord_parse(chord, mods, &n, &key) == 0 && n == nm && key == k &&
             (!nm || !memcmp(mods, m, nm * sizeof *m));
    if (!ok) fprintf(stderr, "  \"%s\" did not parse as expected\n", chord);
    return ok;
}
#define CHORD(c, k, ...) do { const unsigned long m_[] = { 0, __VA_ARGS__ }; \
        CHECK(chord_is(c, m_ + 1, sizeof m_ / sizeof m_[0] - 1, k)); } while (0)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* A listening socket at the abstract address an X server :num has, that never accepts:
 * what a stopped server looks like to a client (the kernel queues the connection). -1 when
 * the address is taken. */
static int mute_server(int num)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "/tmp/.X11-unix/X%d", num);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) != 0 ||
        listen(fd, 4) != 0) { close(fd); return -1; }
    return fd;
}

/* A TCP display (127.0.0.1, port 6000 + num) that accepts and never answers; -1 when taken. */
static int mute_tcp_server(int num)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(6000 + num)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) { close(fd); return -1; }
    return fd;
}

/* Fills a listening local socket's queue: connections until the kernel refuses more. */
static int fill_backlog(const char *path_abstract, int *fds, int max)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    const size_t len = strlen(path_abstract);
    memcpy(a.sun_path + 1, path_abstract, len);
    int k = 0;
    for (; k < max; k++) {
        fds[k] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fds[k] < 0 || connect(fds[k], (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0) {
            if (fds[k] >= 0) close(fds[k]);
            break;
        }
    }
    return k;
}

static void test_keysyms(void)
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
}

static void test_utf8(void)
{
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
}

static void test_utf8_invalid(void)
{
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
}

static void test_batches(void)
{
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
}

static void test_batches_split(void)
{
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
}

static void test_batches_large(void)
{
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
}

static void test_chord_parse(void)
{
    TEST("chords: mod+mod+key, modifier names in any case, X key names, malformed ones refused") {
        CHORD("ctrl+v", 'v', XK_CONTROL_L);
        CHORD("Ctrl+Shift+V", 'v', XK_CONTROL_L, XK_SHIFT_L);   /* one letter: its key */
        CHORD("CONTROL+shift+v", 'v', XK_CONTROL_L, XK_SHIFT_L);
        CHORD("shift+Insert", XK_INSERT, XK_SHIFT_L);
        CHORD("shift+insert", XK_INSERT, XK_SHIFT_L);            /* capitalized as a fallback */
        CHORD("Return", RETURN);
        CHORD("return", RETURN);
        CHORD("enter", RETURN);
        CHORD("alt+F4", XK_F4, XK_ALT_L);
        CHORD("super+l", 'l', XK_SUPER_L);
        CHORD("Meta+l", 'l', XK_SUPER_L);
        CHORD("logo+l", 'l', XK_SUPER_L);
        CHORD("ctrl+control+v", 'v', XK_CONTROL_L);               /* the same modifier once */
        CHORD("ctrl+plus", '+', XK_CONTROL_L);
        CHORD("ctrl+eacute", 0xe9, XK_CONTROL_L);
        unsigned long mods[KL_XTEST_MAX_MODS], key;
        size_t nm;
        const char *bad[] = { "", "+", "ctrl+", "ctrl+nosuchkey", "hyper+v", "v+ctrl+c",
                              "ctrl+shift+alt+super+meta+v+x" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECKF(kl_xtest_chord_parse(bad[i], mods, &nm, &key) == -1, "\"%s\"", bad[i]);
    }
}

static void test_spare_rows(void)
{
    TEST("spare keycode rows: a Latin-1 case pair lower/upper in both groups, the rest everywhere") {
        unsigned long row[7];
        CHECK(kl_xtest_spare_row(0xe9, 7, row) == 1);             /* é */
        CHECK(row[0] == 0xe9 && row[1] == 0xc9 && row[2] == 0xe9 && row[3] == 0xc9);
        CHECK(row[4] == 0 && row[5] == 0 && row[6] == 0);
        CHECK(kl_xtest_spare_row(0xc9, 7, row) == 1 && row[0] == 0xe9 && row[1] == 0xc9);  /* É */
        CHECK(kl_xtest_spare_row(0xdf, 7, row) == 0 && row[0] == 0xdf && row[6] == 0xdf); /* ß */
        CHECK(kl_xtest_spare_row(U(0x436), 7, row) == 0 && row[1] == U(0x436));           /* ж */
        CHECK(kl_xtest_spare_row(U(0x2014), 4, row) == 0 && row[3] == U(0x2014));
        CHECK(kl_xtest_spare_row(0xe9, 1, row) == 0 && row[0] == 0xe9);   /* no second column */
    }
}

static void test_no_display(void)
{
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
}

static void test_mute_server(void)
{
    TEST("a server that never answers: typing and chords fail within the bound") {
        char err[256], disp[32];
        const char *old = getenv("DISPLAY");
        char *saved = old ? strdup(old) : NULL;
        int num = 7000 + (int)(getpid() % 1000), fd = -1;
        for (int i = 0; i < 20 && fd < 0; i++) fd = mute_server(num + i);
        CHECK(fd >= 0);
        if (fd >= 0) {
            struct sockaddr_un a;
            memset(&a, 0, sizeof a);   /* an abstract name has no terminating NUL of its own */
            socklen_t al = sizeof a;
            getsockname(fd, (struct sockaddr *)&a, &al);
            snprintf(disp, sizeof disp, ":%s", strrchr(a.sun_path + 1, 'X') + 1);
            setenv("DISPLAY", disp, 1);
            double t0 = now_s();
            CHECK(kl_xtest_type("héllo", 0, err, sizeof err) == -1 && strstr(err, "does not answer"));
            double t1 = now_s();
            CHECKF(t1 - t0 < KL_XTEST_REPLY_MS / 1000.0 + 2, "%.1f s", t1 - t0);
            CHECK(kl_xtest_chord("ctrl+v", err, sizeof err) == -1 && strstr(err, "does not answer"));
            CHECKF(now_s() - t1 < KL_XTEST_REPLY_MS / 1000.0 + 2, "%.1f s", now_s() - t1);
            /* its queue full (a server stopped for long): a blocking connect would wait for
             * ever; the probe's does not */
            int q[64];
            const int nq = fill_backlog(a.sun_path + 1, q, 64);
            CHECKF(nq > 0 && nq < 64, "%d queued", nq);
            t1 = now_s();
            CHECK(kl_xtest_type("x", 0, err, sizeof err) == -1 && strstr(err, "does not answer"));
            CHECKF(now_s() - t1 < KL_XTEST_REPLY_MS / 1000.0 + 2, "%.1f s", now_s() - t1);
            for (int i = 0; i < nq; i++) close(q[i]);
            close(fd);
        }
        /* TCP displays (ssh's forwarding, a remote server) are probed too, in every form */
        fd = -1;
        for (int i = 0; i < 50 && fd < 0; i++) fd = mute_tcp_server(num = 500 + (int)(getpid() % 3000) + i);
        CHECK(fd >= 0);
        if (fd >= 0) {
            const char *forms[] = { "127.0.0.1:%d.0", "tcp/localhost:%d" };
            for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
                snprintf(disp, sizeof disp, forms[i], num);
                setenv("DISPLAY", disp, 1);
                double t0 = now_s();
                CHECKF(kl_xtest_type("x", 0, err, sizeof err) == -1 && strstr(err, "does not answer"), "%s: %s", disp, err);
                CHECKF(now_s() - t0 < KL_XTEST_REPLY_MS / 1000.0 + 2, "%s: %.1f s", disp, now_s() - t0);
            }
            close(fd);
            /* nobody listening: refused at once, XOpenDisplay's own error */
            snprintf(disp, sizeof disp, "127.0.0.1:%d", num);
            setenv("DISPLAY", disp, 1);
            double t0 = now_s();
            CHECKF(kl_xtest_type("x", 0, err, sizeof err) == -1 && strstr(err, "cannot open display"), "%s", err);
            CHECKF(now_s() - t0 < 2, "%.1f s", now_s() - t0);
        }
        if (saved) setenv("DISPLAY", saved, 1); else unsetenv("DISPLAY");
        free(saved);
    }
}

static void test_chord_errors(void)
{
    TEST("chords: no DISPLAY or a bad chord is an error") {
        char err[256];
        const char *old = getenv("DISPLAY");
        char *saved = old ? strdup(old) : NULL;
        unsetenv("DISPLAY");
        CHECK(kl_xtest_chord("ctrl+v", err, sizeof err) == -1 && strstr(err, "DISPLAY"));
        CHECK(kl_xtest_chord("ctrl+nosuchkey", err, sizeof err) == -1 && strstr(err, "bad chord"));
        if (saved) setenv("DISPLAY", saved, 1);
        free(saved);
    }
}

static void test_interrupted(void)
{
    TEST("interrupted (a termination signal): every later call fails at once; quiesce when idle") {
        char err[256];
        CHECK(!kl_xtest_interrupted());
        CHECK(kl_xtest_quiesce(100) == 0);          /* nothing in progress; interrupts */
        CHECK(kl_xtest_interrupted());
        setenv("DISPLAY", ":9876", 1);
        CHECK(kl_xtest_type("abc", 0, err, sizeof err) == -1 && strstr(err, "interrupted"));
        CHECK(kl_xtest_chord("Return", err, sizeof err) == -1 && strstr(err, "interrupted"));
    }
}

int main(void)
{
    test_keysyms();
    test_utf8();
    test_utf8_invalid();
    test_batches();
    test_batches_split();
    test_batches_large();
    test_chord_parse();
    test_spare_rows();
    test_no_display();
    test_mute_server();
    test_chord_errors();
    test_interrupted();   /* last: an interruption is for good */
    TEST_EXIT();
}
