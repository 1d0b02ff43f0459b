/* key_listener units: the evdev state machine fed through a pipe (press, repeat, release,
 * unplug, split records, SYN_DROPPED, two keyboards, toggle mode), key names, the WAV writer
 * (read back by the engine's decoder), the pre-roll ring, the capture thread with a fake
 * source, text joining, the terminal trigger and the config file. */
#include <errno.h>
#include <locale.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "keylistener/kl_audio.h"
#include "keylistener/kl_capture.h"
#include "keylistener/kl_config.h"
#include "keylistener/kl_ctl.h"
#include "keylistener/kl_evdev.h"
#include "keylistener/kl_keys.h"
#include "keylistener/kl_output.h"
#include "keylistener/kl_post.h"
#include "keylistener/kl_history.h"
#include "keylistener/kl_app.h"
#include "keylistener/kl_text.h"
#include "speech_audio.h"

/* ---- evdev through a pipe ---- */

typedef struct { kl_ev_action a[32]; int n; } acts;
static void collect(void *u, kl_ev_action a) { acts *x = u; if (x->n < 32) x->a[x->n++] = a; }

static void put(int fd, int type, int code, int value)
{
    struct input_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (unsigned short)type;
    ev.code = (unsigned short)code;
    ev.value = value;
    CHECK(write(fd, &ev, sizeof ev) == (ssize_t)sizeof ev);
}
static void key(int fd, int code, int value)
{
    put(fd, EV_KEY, code, value);
    put(fd, EV_SYN, SYN_REPORT, 0);
}

static int nonblocking_pipe(int p[2])
{
    if (pipe(p)) return -1;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- a fake capture source: a counter, so the order of samples is checkable ---- */
typedef struct { int opens, fail_opens; int16_t next; int loud; char dev[32]; } fake_ctx;
struct kl_source { fake_ctx *c; };
static int fake_open(void *ctx, const char *name, kl_source **out, char *err, size_t n)
{
    fake_ctx *c = ctx;
    if (c->fail_opens > 0) { c->fail_opens--; snprintf(err, n, "no such device %s", name ? name : "-"); return -1; }
    c->opens++;
    *out = malloc(sizeof **out);
    (*out)->c = c;
    return 0;
}
static int fake_read(kl_source *s, int16_t *buf, size_t n, char *err, size_t en)
{
    (void)err; (void)en;
    /* a counter (a quiet ramp), or with loud set a full-scale square wave: the silence test
     * measures around the block's mean, so a counter near 30000 is no voice */
    for (size_t i = 0; i < n; i++) buf[i] = s->c->loud ? (int16_t)(i & 1 ? 30000 : -30000) : s->c->next++;
    sleep_ms(20);   /* a real device delivers 20 ms blocks in real time */
    return 0;
}
static void fake_close(kl_source *s) { free(s); }
static int fake_resolve(void *ctx, const char *name, char *out, size_t n)
{
    (void)name;
    snprintf(out, n, "%s", ((fake_ctx *)ctx)->dev);
    return 0;
}

static void test_key_names(void)
{
    TEST("key names: Insert, F16, kernel spellings, codes, case, unknown") {
        CHECK(kl_key_parse("Insert") == KEY_INSERT);
        CHECK(kl_key_parse("insert") == KEY_INSERT);
        CHECK(kl_key_parse("KEY_INSERT") == KEY_INSERT);
        CHECK(kl_key_parse("F16") == KEY_F16);
        CHECK(kl_key_parse("key_f16") == KEY_F16);
        CHECK(kl_key_parse("RightCtrl") == KEY_RIGHTCTRL);
        CHECK(kl_key_parse("KEY_PAGEUP") == KEY_PAGEUP);
        CHECK(kl_key_parse("BTN_SIDE") == BTN_SIDE);
        CHECK(kl_key_parse("Menu") == KEY_COMPOSE);
        CHECK(kl_key_parse("a") == KEY_A && kl_key_parse("Z") == KEY_Z);
        CHECK(kl_key_parse("1") == KEY_1);
        CHECK(kl_key_parse("110") == 110 && kl_key_parse("0x6e") == 110);
        CHECK(kl_key_parse("F25") == -1 && kl_key_parse("") == -1 && kl_key_parse(NULL) == -1);
        CHECK(kl_key_parse("99999") == -1 && kl_key_parse("12abc") == -1);
        CHECK(!strcmp(kl_key_name(KEY_F16), "F16"));
        CHECK(kl_key_is_modifier(KEY_LEFTCTRL) && !kl_key_is_modifier(KEY_INSERT));
    }
}

static void test_evdev_hold(void)
{
    TEST("evdev hold: press starts, repeats ignored, release stops (pipe)") {
        int p[2];
        CHECK(nonblocking_pipe(p) == 0);
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        int slot = kl_evdev_add(&s);
        acts a = { .n = 0 };
        key(p[1], KEY_A, 1); key(p[1], KEY_A, 0);           /* other keys: nothing */
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0 && a.n == 0);
        key(p[1], KEY_INSERT, 1);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0);
        CHECK(a.n == 1 && a.a[0] == KL_EV_START && kl_evdev_key_down(&s));
        for (int i = 0; i < 5; i++) key(p[1], KEY_INSERT, 2);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0 && a.n == 1);
        key(p[1], KEY_INSERT, 0);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0);
        CHECK(a.n == 2 && a.a[1] == KL_EV_STOP && !kl_evdev_key_down(&s));
        /* press and release in one read: both actions, in order */
        key(p[1], KEY_INSERT, 1); key(p[1], KEY_INSERT, 0);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0);
        CHECK(a.n == 4 && a.a[2] == KL_EV_START && a.a[3] == KL_EV_STOP);
        close(p[0]); close(p[1]);
    }
}

static void test_evdev_split_record(void)
{
    TEST("evdev: a record split across reads is reassembled") {
        int p[2];
        CHECK(nonblocking_pipe(p) == 0);
        kl_evdev s;
        kl_evdev_init(&s, KEY_F16, 0);
        int slot = kl_evdev_add(&s);
        acts a = { .n = 0 };
        struct input_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = EV_KEY; ev.code = KEY_F16; ev.value = 1;
        const unsigned char *b = (const unsigned char *)&ev;
        CHECK(write(p[1], b, 5) == 5);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0 && a.n == 0);
        CHECK(write(p[1], b + 5, sizeof ev - 5) == (ssize_t)(sizeof ev - 5));
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0 && a.n == 1 && a.a[0] == KL_EV_START);
        close(p[0]); close(p[1]);
    }
}

static void test_evdev_unplug(void)
{
    TEST("evdev: unplug while holding stops; EOF reports the device gone") {
        int p[2];
        CHECK(nonblocking_pipe(p) == 0);
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        int slot = kl_evdev_add(&s);
        acts a = { .n = 0 };
        key(p[1], KEY_INSERT, 1);
        key(p[1], KEY_LEFTCTRL, 1);
        close(p[1]);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 1);   /* data, then EOF */
        CHECK(a.n == 1 && a.a[0] == KL_EV_START && kl_evdev_mods(&s) != 0);
        CHECK(kl_evdev_remove(&s, slot) == KL_EV_STOP);
        CHECK(!kl_evdev_key_down(&s) && kl_evdev_mods(&s) == 0);
        CHECK(kl_evdev_remove(&s, slot) == KL_EV_NONE);           /* twice: harmless */
        close(p[0]);
    }
}

static void test_evdev_two_keyboards(void)
{
    TEST("evdev: two keyboards; hot-plugged one; last release stops") {
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        int a = kl_evdev_add(&s), b = kl_evdev_add(&s);
        CHECK(a >= 0 && b >= 0 && a != b);
        struct input_event ev = { .type = EV_KEY, .code = KEY_INSERT, .value = 1 };
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_START);
        CHECK(kl_evdev_event(&s, b, &ev) == KL_EV_NONE);
        ev.value = 0;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_NONE);
        CHECK(kl_evdev_remove(&s, b) == KL_EV_STOP);             /* b unplugged while held */
        int c = kl_evdev_add(&s);                                 /* replugged */
        ev.value = 1;
        CHECK(c >= 0 && kl_evdev_event(&s, c, &ev) == KL_EV_START);
        CHECK(kl_evdev_event(&s, 99, &ev) == KL_EV_NONE);         /* bad slot */
    }
}

static void test_evdev_keys(void)
{
    TEST("evdev: several trigger keys; the one pressed is told; hold ends with the last release") {
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        CHECK(kl_evdev_add_key(&s, KEY_F16) == 1 && kl_evdev_add_key(&s, KEY_F16) == -1);
        int a = kl_evdev_add(&s);
        struct input_event ev = { .type = EV_KEY, .code = KEY_F16, .value = 1 };
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_START && s.pressed == 1);
        ev.code = KEY_INSERT;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_NONE && s.pressed == 1);   /* already recording */
        ev.code = KEY_F16; ev.value = 0;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_NONE);                    /* Insert still held */
        ev.code = KEY_INSERT;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_STOP);
        ev.value = 1;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_START && s.pressed == 0);
        CHECK(kl_evdev_resync(&s, a, 2u, 0) == KL_EV_NONE);                 /* snapshot: F16 only */
        CHECK(kl_evdev_resync(&s, a, 0, 0) == KL_EV_STOP);
        CHECK(kl_evdev_resync(&s, a, 2u | 8u, 0) == KL_EV_START && s.pressed == 1);   /* bit 3: no key 3 */
        kl_evdev t;
        kl_evdev_init(&t, KEY_INSERT, 1);
        kl_evdev_add_key(&t, KEY_F16);
        int b = kl_evdev_add(&t);
        ev.code = KEY_F16; ev.value = 1;
        CHECK(kl_evdev_event(&t, b, &ev) == KL_EV_TOGGLE && t.pressed == 1);
        ev.code = KEY_INSERT;
        CHECK(kl_evdev_event(&t, b, &ev) == KL_EV_TOGGLE && t.pressed == 0);
        for (int k = KEY_F17; k < KEY_F17 + 3; k++) kl_evdev_add_key(&t, k);
        CHECK(t.nkeys == KL_EV_KEYS);
    }
}

static void test_evdev_toggle(void)
{
    TEST("evdev toggle mode: presses toggle, repeats/releases ignored, unplug no-op") {
        kl_evdev s;
        kl_evdev_init(&s, KEY_F16, 1);
        int a = kl_evdev_add(&s);
        struct input_event ev = { .type = EV_KEY, .code = KEY_F16, .value = 1 };
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_TOGGLE);
        ev.value = 2;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_NONE);
        ev.value = 0;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_NONE);
        ev.value = 1;
        CHECK(kl_evdev_event(&s, a, &ev) == KL_EV_TOGGLE);
        CHECK(kl_evdev_remove(&s, a) == KL_EV_NONE);
    }
}

static void test_evdev_syn_dropped(void)
{
    TEST("evdev: SYN_DROPPED ignores events to SYN_REPORT, then resyncs (pipe: released)") {
        int p[2];
        CHECK(nonblocking_pipe(p) == 0);
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        int slot = kl_evdev_add(&s);
        acts a = { .n = 0 };
        key(p[1], KEY_INSERT, 1);
        put(p[1], EV_SYN, SYN_DROPPED, 0);
        put(p[1], EV_KEY, KEY_INSERT, 1);      /* ignored: inside the dropped packet */
        put(p[1], EV_SYN, SYN_REPORT, 0);
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0);
        CHECK(a.n == 2 && a.a[0] == KL_EV_START && a.a[1] == KL_EV_STOP);
        key(p[1], KEY_INSERT, 1);               /* normal again */
        CHECK(kl_evdev_read(&s, slot, p[0], collect, &a) == 0 && a.n == 3 && a.a[2] == KL_EV_START);
        close(p[0]); close(p[1]);
    }
}

static void test_evdev_modifiers(void)
{
    TEST("evdev: modifiers tracked for the typing wait") {
        kl_evdev s;
        kl_evdev_init(&s, KEY_INSERT, 0);
        int a = kl_evdev_add(&s);
        struct input_event ev = { .type = EV_KEY, .code = KEY_RIGHTALT, .value = 1 };
        kl_evdev_event(&s, a, &ev);
        CHECK(kl_evdev_mods(&s) == kl_evdev_mod_bit(KEY_RIGHTALT));
        ev.value = 2;
        kl_evdev_event(&s, a, &ev);
        CHECK(kl_evdev_mods(&s) != 0);
        ev.value = 0;
        kl_evdev_event(&s, a, &ev);
        CHECK(kl_evdev_mods(&s) == 0);
        CHECK(kl_evdev_mod_bit(KEY_A) == 0);
    }
}

static void test_ring(void)
{
    TEST("ring: keeps the newest samples, in order, across wrap and oversize pushes") {
        kl_ring r;
        CHECK(kl_ring_init(&r, 5) == 0);
        int16_t in[12], out[5];
        for (int i = 0; i < 12; i++) in[i] = (int16_t)i;
        kl_ring_push(&r, in, 3);
        CHECK(kl_ring_copy(&r, out) == 3 && out[0] == 0 && out[2] == 2);
        kl_ring_push(&r, in + 3, 4);            /* 0..6: keeps 2..6 */
        CHECK(kl_ring_copy(&r, out) == 5 && out[0] == 2 && out[4] == 6);
        kl_ring_push(&r, in, 12);               /* more than cap: 7..11 */
        CHECK(kl_ring_copy(&r, out) == 5 && out[0] == 7 && out[4] == 11);
        kl_ring_clear(&r);
        CHECK(kl_ring_copy(&r, out) == 0);
        kl_ring_deinit(&r);
        kl_ring_deinit(&r);
        CHECK(kl_ring_init(&r, 0) == 0);         /* no pre-roll: pushes are dropped */
        kl_ring_push(&r, in, 3);
        CHECK(kl_ring_copy(&r, out) == 0);
        kl_ring_deinit(&r);
    }
}

static void test_pcm_buffer(void)
{
    TEST("pcm buffer: grows, stops at its maximum and says so") {
        kl_pcm p;
        kl_pcm_init(&p, 40000);
        int16_t blk[16000] = { 0 };
        CHECK(kl_pcm_append(&p, blk, 16000) == 0 && p.len == 16000 && !p.full);
        CHECK(kl_pcm_append(&p, blk, 16000) == 0 && kl_pcm_append(&p, blk, 16000) == 0);
        CHECK(p.len == 40000 && p.full);
        kl_pcm_deinit(&p);
    }
}

static void test_wav_writer(void)
{
    TEST("WAV writer: header bytes, and the engine's decoder reads it back") {
        char dir[] = "/tmp/kl-unit.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[128];
        snprintf(path, sizeof path, "%s/a.wav", dir);
        int16_t s[1600];
        for (int i = 0; i < 1600; i++) s[i] = (int16_t)((i % 40 < 20 ? 1 : -1) * 8000);
        CHECK(kl_wav_write(path, s, 1600, 16000) == 0);
        struct stat st;
        CHECK(stat(path, &st) == 0 && st.st_size == 44 + 3200 && (st.st_mode & 0777) == 0600);
        unsigned char h[44];
        int fd = open(path, O_RDONLY);
        CHECK(read(fd, h, 44) == 44);
        close(fd);
        CHECK(!memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVEfmt ", 8) && !memcmp(h + 36, "data", 4));
        CHECK(h[4] == ((36 + 3200) & 0xff) && h[22] == 1 && h[24] == 0x80 && h[25] == 0x3e && h[34] == 16);
        float *pcm = NULL;
        size_t n = 0;
        char err[256];
        sp_audio_info info;
        CHECK(sp_audio_load(path, 0, 0, &pcm, &n, &info, err, sizeof err) == SP_OK);
        CHECK(n == 1600 && info.source_rate == 16000 && info.source_channels == 1);
        CHECK(pcm && fabsf(pcm[0] - 8000 / 32768.0f) < 1e-4f && fabsf(pcm[25] + 8000 / 32768.0f) < 1e-4f);
        free(pcm);
        errno = 0;
        CHECK(kl_wav_write(path, s, 10, 16000) == -1 && errno == EEXIST);   /* O_EXCL */
        double peak, rms;
        kl_pcm_level(s, 1600, &peak, &rms);
        CHECK(fabs(peak - 8000 / 32768.0) < 1e-6 && fabs(rms - 8000 / 32768.0) < 1e-6);
        kl_pcm_level(s, 0, &peak, &rms);
        CHECK(peak == 0 && rms == 0);
        snprintf(path, sizeof path, "%s/empty.wav", dir);
        CHECK(kl_wav_write(path, NULL, 0, 16000) == 0 && stat(path, &st) == 0 && st.st_size == 44);
        unlink(path);
        snprintf(path, sizeof path, "%s/a.wav", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/no/such/dir.wav", dir);
        CHECK(kl_wav_write(path, s, 10, 16000) == -1);
        rmdir(dir);
    }
}

static void test_capture_preroll(void)
{
    TEST("capture thread: pre-roll precedes the key-down; name re-resolved at each start") {
        fake_ctx fc = { .fail_opens = 1, .dev = "usb-1" };
        kl_source_ops ops = { fake_open, fake_read, fake_close, fake_resolve, &fc, "fake" };
        kl_capture_opts o = { .device = "mic", .preroll_ms = 100, .max_seconds = 5 };
        kl_capture *c = NULL;
        char err[256];
        CHECK(kl_capture_new(&c, &ops, &o, err, sizeof err) == 0);
        for (int i = 0; i < 300 && !kl_capture_live(c); i++) sleep_ms(10);   /* 1 s retry */
        CHECK(kl_capture_live(c));
        sleep_ms(250);                           /* the ring fills */
        CHECK(kl_capture_start(c) == 0);
        sleep_ms(200);
        CHECK(kl_capture_seconds(c) > 0.05);
        int16_t *s = NULL;
        size_t n = 0, pre = 0;
        CHECK(kl_capture_stop(c, &s, &n, &pre) == 0);
        CHECKF(pre == 1600, "pre-roll %zu samples", pre);
        CHECK(s && n > pre + 800);
        int ordered = 1;
        for (size_t i = 1; s && i < n; i++) ordered &= (int16_t)(s[i - 1] + 1) == s[i];
        CHECK(ordered);                          /* no gap between the pre-roll and the rest */
        free(s);
        sleep_ms(100);
        CHECK(fc.opens == 1);                    /* same device: the stream stays open */
        snprintf(fc.dev, sizeof fc.dev, "usb-2");   /* the name now means another device */
        CHECK(kl_capture_start(c) == 0);
        for (int i = 0; i < 100 && fc.opens < 2; i++) sleep_ms(10);
        CHECK(fc.opens == 2);                    /* reopened on it, during the recording */
        sleep_ms(100);
        kl_capture_stop(c, &s, &n, &pre);
        CHECK(s && n > 0);
        free(s);
        kl_capture_free(c);
        kl_capture_free(NULL);
    }
}

static void test_capture_no_preroll(void)
{
    TEST("capture thread without pre-roll: opens at start, nothing before it") {
        fake_ctx fc = { 0 };
        kl_source_ops ops = { fake_open, fake_read, fake_close, NULL, &fc, "fake" };
        kl_capture_opts o = { .preroll_ms = 0, .max_seconds = 0.1 };
        kl_capture *c = NULL;
        char err[256];
        CHECK(kl_capture_new(&c, &ops, &o, err, sizeof err) == 0);
        sleep_ms(100);
        CHECK(fc.opens == 0 && !kl_capture_live(c));
        CHECK(kl_capture_start(c) == 0);
        sleep_ms(300);
        int16_t *s = NULL;
        size_t n = 0, pre = 0;
        int full = kl_capture_stop(c, &s, &n, &pre);
        CHECK(fc.opens == 1 && pre == 0 && s && s[0] == 0);
        CHECKF(full == 1 && n == 1600, "full %d n %zu", full, n);   /* capped at max_seconds */
        free(s);
        s = (int16_t *)1;
        CHECK(kl_capture_stop(c, &s, &n, &pre) == 0 && s == NULL && n == 0);  /* not recording */
        kl_capture_free(c);
    }
}

static void test_text_join(void)
{
    TEST("text: segments joined with single spaces, trimmed, controls removed, empty skipped") {
        const char *a[] = { "  Hello world. ", "", "   ", "second\tsegment\n", " third  part" };
        char *t = kl_text_join(a, 5);
        CHECKF(t && !strcmp(t, "Hello world. second segment third part"), "got \"%s\"", t);
        free(t);
        const char *b[] = { " ", "\n", NULL };
        t = kl_text_join(b, 3);
        CHECK(t && !strcmp(t, ""));
        free(t);
        t = kl_text_join(NULL, 0);
        CHECK(t && !strcmp(t, ""));
        free(t);
        const char *cj[] = { "你好。", " 今天。", "OK", "x  y" };
        const unsigned char tight[] = { 1, 1, 0, 1 };   /* the first's flag never matters */
        t = kl_text_join_ex(cj, tight, 4);
        CHECKF(t && !strcmp(t, "你好。今天。 OKx y"), "got \"%s\"", t);   /* inside a segment still one space */
        free(t);
        const char *c[] = { "Grüße,", "naïve café" };
        t = kl_text_join(c, 2);
        CHECK(t && !strcmp(t, "Grüße, naïve café"));   /* UTF-8 kept intact */
        free(t);
    }
    TEST("text: --join-seconds puts one space between dictations, not before closing marks") {
        CHECK(kl_text_join_space("Hello there.", "How are you?") == 1);
        CHECK(kl_text_join_space("I think", "we should go.") == 1);
        CHECK(kl_text_join_space("Straße", "über") == 1);
        CHECK(kl_text_join_space("the list", ", and more") == 0);
        CHECK(kl_text_join_space("word", ".") == 0 && kl_text_join_space("word", "?") == 0);
        CHECK(kl_text_join_space("so", "\xe2\x80\xa6 then") == 0);   /* … */
        CHECK(kl_text_join_space("quote", "\xe2\x80\x9d") == 0);      /* ” */
        CHECK(kl_text_join_space("line\n", "Next") == 0);               /* after a line break */
        CHECK(kl_text_join_space("end ", "Next") == 0 && kl_text_join_space("end", " Next") == 0);
        CHECK(kl_text_join_space("", "Next") == 0 && kl_text_join_space(NULL, "Next") == 0);
        CHECK(kl_text_join_space("x", "") == 0 && kl_text_join_space("x", NULL) == 0);
        /* scripts without spaces, full-width marks, opening marks at the end of prev */
        CHECK(kl_text_join_space("\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82", "\xe4\xbb\x8a\xe5\xa4\xa9") == 0); /* 你好。 今天 */
        CHECK(kl_text_join_space("\xe5\x85\x83\xe6\xb0\x97\xef\xbc\x9f", "Next") == 0);   /* 元気？ */
        CHECK(kl_text_join_space("Hello", "\xef\xbc\x8cworld") == 0);                    /* ， */
        CHECK(kl_text_join_space("Hello", "\xe3\x80\x82") == 0);                         /* 。 */
        CHECK(kl_text_join_space("(see", "below)") == 1 && kl_text_join_space("see (", "below)") == 0 && kl_text_join_space("\xe2\x80\x9cQuote", "x") == 1);
        CHECK(kl_text_join_space("say \xe2\x80\x9c", "hi") == 0);                         /* “ */
        CHECK(kl_text_join_space("\xec\x95\x88\xeb\x85\x95.", "\xed\x95\x98\xec\x84\xb8\xec\x9a\x94") == 1);  /* Korean: spaced */
        CHECK(kl_text_join_space("caf\xc3\xa9", "ok") == 1 && kl_text_join_space("x\x80", "y") == 1);
    }
}

static void test_terminal_hold(void)
{
    TEST("terminal: hold ENTER (autorepeat) records until the repeats stop") {
        kl_term t;
        kl_term_init(&t);
        CHECK(kl_term_enter(&t, 10.0) == KL_EV_START);
        CHECK(kl_term_tick(&t, 10.3) == KL_EV_NONE);
        CHECK(kl_term_enter(&t, 10.5) == KL_EV_NONE);          /* first repeat: a hold */
        for (double x = 10.53; x < 12; x += 0.033) CHECK(kl_term_enter(&t, x) == KL_EV_NONE);
        CHECK(kl_term_tick(&t, 12.05) == KL_EV_NONE);
        CHECK(kl_term_deadline(&t) > 12.1);
        CHECK(kl_term_tick(&t, 12.3) == KL_EV_STOP);
        CHECK(kl_term_deadline(&t) < 0);
    }
}

static void test_terminal_press(void)
{
    TEST("terminal: press ENTER to start and again to stop; repeats of the stop ignored") {
        kl_term t;
        kl_term_init(&t);
        CHECK(kl_term_enter(&t, 1.0) == KL_EV_START);
        CHECK(kl_term_tick(&t, 1.8) == KL_EV_NONE);              /* no repeat: latched */
        CHECK(kl_term_tick(&t, 5.0) == KL_EV_NONE);
        CHECK(kl_term_enter(&t, 5.0) == KL_EV_STOP);
        CHECK(kl_term_enter(&t, 5.5) == KL_EV_NONE);             /* autorepeat of that press */
        CHECK(kl_term_tick(&t, 5.8) == KL_EV_NONE);
        CHECK(kl_term_enter(&t, 7.0) == KL_EV_START);            /* a new press */
        kl_term_reset(&t, 0);                                     /* stopped by a control command */
        CHECK(kl_term_tick(&t, 7.5) == KL_EV_NONE);
        CHECK(kl_term_enter(&t, 8.0) == KL_EV_START);
    }
}

static void test_config_file(void)
{
    TEST("config: file and flags, quoting, comments, errors name the line") {
        char dir[] = "/tmp/kl-cfg.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[128], err[512];
        snprintf(path, sizeof path, "%s/key_listener.conf", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "# comment\nkey = F16\nmode=toggle  # trailing\nsource = \"USB Mic\"\n"
                   "keep-audio\npreroll = 150\noutput = copy\n");
        fclose(f);
        kl_opts o;
        kl_opts_default(&o);
        CHECK(o.key == KEY_INSERT && !o.toggle && o.preroll_ms == 300 && !strcmp(o.output, "type"));
        CHECK(kl_config_load(&o, path, 1, err, sizeof err) == 0);
        CHECK(o.key == KEY_F16 && o.toggle && !strcmp(o.source, "USB Mic") && o.keep_audio);
        CHECK(o.preroll_ms == 150 && !strcmp(o.output, "copy"));
        CHECK(kl_opts_set(&o, "mode", "hold", err, sizeof err) == 0 && !o.toggle);
        CHECK(kl_opts_set(&o, "key", "Nope", err, sizeof err) == -1 && strstr(err, "key"));
        /* several keys, each with its language */
        CHECK(kl_opts_set(&o, "key", "Insert,F16:de,F17:auto", err, sizeof err) == 0 && o.nkeys == 3 &&
              o.key == KEY_INSERT && o.keys[1] == KEY_F16 && !strcmp(o.key_lang[1], "de") &&
              !o.key_lang[0][0] && !strcmp(o.key_lang[2], "auto"));
        const char *badk[] = {"Insert,Insert:de", "F16:xx", "F16:", "Insert,", ",F16", "F16:de,en",
                              "F13,F14,F15,F16,F17", "F16:DEU"};
        for (size_t i = 0; i < sizeof badk / sizeof badk[0]; i++)
            CHECKF(kl_opts_set(&o, "key", badk[i], err, sizeof err) == -1 && o.nkeys == 3, "%s", badk[i]);
        CHECK(kl_opts_set(&o, "languages", "en,xx", err, sizeof err) == -1);   /* codes Whisper knows */
        CHECK(kl_opts_set(&o, "languages", ",en, de", err, sizeof err) == 0 && !strcmp(o.languages, "en,de"));
        CHECK(kl_opts_set(&o, "key", "Insert, F16:de ", err, sizeof err) == 0 && o.nkeys == 2 &&
              o.keys[1] == KEY_F16 && !strcmp(o.key_lang[1], "de"));
        CHECK(kl_opts_set(&o, "key", "F16", err, sizeof err) == 0 && o.nkeys == 1 && o.key == KEY_F16);
        CHECK(kl_opts_set(&o, "preroll", "-5", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "output", "shout", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "bogus", "1", err, sizeof err) == -1 && strstr(err, "bogus"));
        f = fopen(path, "w");
        fprintf(f, "key = Insert\nmode = sideways\n");
        fclose(f);
        CHECK(kl_config_load(&o, path, 1, err, sizeof err) == -1 && strstr(err, ":2:"));
        /* lines of any length are whole: a 4000-byte initial-prompt (its tail had become an
         * "option" of its own), a long comment before a bad line (named as line 3, it was) */
        char big[4200];
        memset(big, 'w', 4000);
        big[4000] = 0;
        f = fopen(path, "w");
        fprintf(f, "initial-prompt = %s\nkey = F17\n", big);
        fclose(f);
        CHECKF(kl_config_load(&o, path, 1, err, sizeof err) == 0 && strlen(o.initial_prompt) == 4000 &&
               o.key == KEY_F17, "%s", err);
        f = fopen(path, "w");
        fprintf(f, "# %s\nmode = sideways\n", big);
        fclose(f);
        CHECKF(kl_config_load(&o, path, 1, err, sizeof err) == -1 && strstr(err, ":2:") && strstr(err, "mode"), "%s", err);
        /* the documented limit of a prompt: 4096 bytes (2047 had been the most) */
        memset(big, 'w', 4096);
        big[4096] = 0;
        CHECK(kl_opts_set(&o, "initial-prompt", big, err, sizeof err) == 0 && strlen(o.initial_prompt) == 4096);
        CHECK(kl_opts_set(&o, "vocabulary", big, err, sizeof err) == 0);
        strcat(big, "w");
        CHECKF(kl_opts_set(&o, "initial-prompt", big, err, sizeof err) == -1 && strstr(err, "4096"), "%.80s", err);
        /* quotes: a whole-value pair goes; a shell command quoting its words keeps them all
         * (its outer pair had been stripped: sh ran /x/my) */
        f = fopen(path, "w");
        fprintf(f, "hook = '/x/my hooks/up.sh' '--quiet'\nsound-player = \"pw-play\"\n");
        fclose(f);
        CHECKF(kl_config_load(&o, path, 1, err, sizeof err) == 0 && !strcmp(o.hook, "'/x/my hooks/up.sh' '--quiet'") &&
               !strcmp(o.sound_player, "pw-play"), "%s|%s", o.hook, o.sound_player);
        /* integer settings take whole numbers: 0.9 ms had become 0 (pre-roll off) */
        CHECKF(kl_opts_set(&o, "preroll", "0.9", err, sizeof err) == -1 && strstr(err, "whole"), "%s", err);
        CHECK(kl_opts_set(&o, "history", "2.5", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "preroll", "150.0", err, sizeof err) == 0 && o.preroll_ms == 150);
        unlink(path);
        CHECK(kl_config_load(&o, path, 0, err, sizeof err) == 0);   /* missing, optional */
        CHECK(kl_config_load(&o, path, 1, err, sizeof err) == -1);  /* missing, required */
        rmdir(dir);
    }
}

static void test_control_socket(void)
{
    TEST("control socket: no listener, round trip, second listener refused") {
        char dir[] = "/tmp/kl-ctl.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[256], err[512], reply[64], cmd[64];
        snprintf(path, sizeof path, "%s/s.sock", dir);
        CHECK(kl_ctl_send(path, "status", reply, sizeof reply, err, sizeof err) == KL_CTL_NONE);
        int l = kl_ctl_listen(path, err, sizeof err);
        CHECK(l >= 0);
        CHECK(kl_ctl_listen(path, err, sizeof err) == -3 && strstr(err, "another"));
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            int r = kl_ctl_send(path, "toggle", reply, sizeof reply, err, sizeof err);
            _exit(r == 0 && !strcmp(reply, "ok recording") ? 0 : 1);
        }
        int fd = -1, got = 0;
        kl_ctl_server srv;
        kl_ctl_server_init(&srv, l);
        /* the first connection is the second listener's probe: it closes without a word
         * (dropped by the read); then the child's command */
        for (int i = 0; i < 300 && !got; i++) {
            kl_ctl_server_accept(&srv, 0);
            for (int s = 0; s < KL_CTL_CONNS && !got; s++)
                if (srv.fd[s] >= 0) got = kl_ctl_server_read(&srv, s, cmd, sizeof cmd, &fd) == 1;
            if (!got) sleep_ms(10);
        }
        CHECK(got && !strcmp(cmd, "toggle"));
        kl_ctl_server_close(&srv);
        CHECK(write(fd, "ok recording\n", 13) == 13);
        close(fd);
        int st2 = 0;
        waitpid(pid, &st2, 0);
        CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
        close(l);
        l = kl_ctl_listen(path, err, sizeof err);   /* stale socket file: replaced */
        CHECK(l >= 0);
        close(l);
        unlink(path);
        rmdir(dir);
    }
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int ctl_client(const char *path, const char *send_first)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    if (send_first && write(fd, send_first, strlen(send_first)) != (ssize_t)strlen(send_first)) return -1;
    return fd;
}

/* The listener's loop reads control clients through kl_ctl_server: a client that trickles
 * its command, sends nothing, or sends too much must not hold the reader (the blocking read
 * it replaced waited up to 0.5 s per byte), and is dropped at its deadline. */
static void test_evhub_slots(void)
{
    TEST("events hub: subscribers gone are pruned; a refused one is told why, its fd closed") {
        kl_evhub *h = kl_evhub_new();
        int sv[17][2];
        /* 16 subscribers that hang up while nothing is emitted: their places come free (they
         * had held all 16 until an event's write failed) */
        for (int i = 0; i < 16; i++) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
            CHECK(kl_evhub_add(h, sv[i][0]) == 0);
        }
        for (int i = 0; i < 16; i++) close(sv[i][1]);
        for (int i = 0; i < 16; i++) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
            CHECKF(kl_evhub_add(h, sv[i][0]) == 0, "subscriber %d after 16 gone", i);
        }
        CHECK(kl_evhub_emit(h, "recording", NULL, -1, -1) == 16);
        /* all 16 alive: the 17th is refused with a line, and its fd closed by the hub (the
         * listener closed it a second time) */
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[16]) == 0);
        CHECK(kl_evhub_add(h, sv[16][0]) == -1);
        errno = 0;
        CHECK(fcntl(sv[16][0], F_GETFD) == -1 && errno == EBADF);
        char line[64] = "";
        ssize_t k = recv(sv[16][1], line, sizeof line - 1, MSG_DONTWAIT);
        CHECKF(k > 0 && !strncmp(line, "error too many event subscribers\n", (size_t)k), "%zd %s", k, line);
        close(sv[16][1]);
        for (int i = 0; i < 16; i++) close(sv[i][1]);
        kl_evhub_free(h);
        /* a subscriber that shuts its writing side after "events" (Python, ncat) still reads:
         * it is not pruned when another joins (POLLRDHUP had cut it off) */
        h = kl_evhub_new();
        int a[2], b[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
        CHECK(kl_evhub_add(h, a[0]) == 0);
        CHECK(shutdown(a[1], SHUT_WR) == 0);
        CHECK(kl_evhub_add(h, b[0]) == 0);
        CHECK(kl_evhub_emit(h, "recording", NULL, -1, -1) == 2);
        k = recv(a[1], line, sizeof line - 1, MSG_DONTWAIT);
        CHECKF(k > 0, "half-closed subscriber got %zd", k);
        close(a[1]);
        close(b[1]);
        kl_evhub_free(h);
    }
}

static void test_control_server(void)
{
    TEST("control server: partial, silent and oversized clients never block; deadline drops") {
        char dir[] = "/tmp/kl-ctl.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[256], err[512], cmd[KL_CTL_CMD_MAX], big[100];
        snprintf(path, sizeof path, "%s/s.sock", dir);
        int l = kl_ctl_listen(path, err, sizeof err);
        CHECK(l >= 0);
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        /* in connect order, so in slot order: trickling, silent, whole, too long, shut down */
        int c[KL_CTL_CONNS + 1];
        c[0] = ctl_client(path, "sta");
        c[1] = ctl_client(path, NULL);
        c[2] = ctl_client(path, "status\r\n");
        c[3] = ctl_client(path, big);
        c[4] = ctl_client(path, "quit");
        CHECK(c[0] >= 0 && c[1] >= 0 && c[2] >= 0 && c[3] >= 0 && c[4] >= 0);
        if (c[4] >= 0) shutdown(c[4], SHUT_WR);
        kl_ctl_server srv;
        kl_ctl_server_init(&srv, l);
        kl_ctl_server_accept(&srv, 100.0);
        CHECK(srv.fd[0] >= 0 && srv.fd[4] >= 0 && srv.fd[5] < 0);
        CHECK(kl_ctl_server_deadline(&srv) == 100.0 + KL_CTL_DEADLINE);
        int fd = -1, r[5];
        double t0 = mono_s(), worst = 0;
        for (int i = 0; i < 5; i++) {
            double t = mono_s();
            r[i] = kl_ctl_server_read(&srv, i, cmd, sizeof cmd, &fd);
            if (mono_s() - t > worst) worst = mono_s() - t;
            if (r[i] == 1) {
                CHECKF(!strcmp(cmd, i == 2 ? "status" : "quit"), "slot %d: \"%s\"", i, cmd);
                close(fd);
            }
        }
        CHECKF(worst < 0.05, "a read took %.3f s", worst);
        CHECKF(r[0] == 0 && r[1] == 0 && r[2] == 1 && r[3] == -1 && r[4] == 1,
               "%d %d %d %d %d", r[0], r[1], r[2], r[3], r[4]);
        CHECK(mono_s() - t0 < 0.25);
        /* the trickling client completes its line */
        CHECK(write(c[0], "tus\n", 4) == 4);
        CHECK(kl_ctl_server_read(&srv, 0, cmd, sizeof cmd, &fd) == 1 && !strcmp(cmd, "status"));
        close(fd);
        /* every slot taken: the listening fd leaves the poll set, new clients wait */
        int extra[KL_CTL_CONNS];
        for (int i = 0; i < KL_CTL_CONNS; i++) extra[i] = ctl_client(path, NULL);
        kl_ctl_server_accept(&srv, 101.0);
        struct pollfd p[KL_CTL_CONNS + 1];
        int tags[KL_CTL_CONNS + 1], np = kl_ctl_server_pollfds(&srv, p, tags);
        CHECKF(np == KL_CTL_CONNS && tags[0] == 0, "%d fds, first tag %d", np, tags[0]);
        /* the deadline: the silent client (accepted at 100) goes, the later ones stay */
        CHECK(kl_ctl_server_expire(&srv, 100.0 + KL_CTL_DEADLINE - 0.01) == 0);
        CHECK(kl_ctl_server_expire(&srv, 100.0 + KL_CTL_DEADLINE) == 1 && srv.fd[1] < 0);
        char b;
        CHECK(read(c[1], &b, 1) == 0);   /* it sees the listener close */
        np = kl_ctl_server_pollfds(&srv, p, tags);
        CHECK(np == KL_CTL_CONNS && tags[0] == KL_CTL_TAG_LISTEN);
        CHECK(kl_ctl_server_expire(&srv, 101.0 + KL_CTL_DEADLINE) == KL_CTL_CONNS - 1);
        kl_ctl_server_close(&srv);
        for (int i = 0; i < 5; i++) if (c[i] >= 0) close(c[i]);
        for (int i = 0; i < KL_CTL_CONNS; i++) if (extra[i] >= 0) close(extra[i]);
        close(l);
        unlink(path);
        rmdir(dir);
    }
}

static void test_output(void)
{
    TEST("output: print mode, run helper exit codes, stderr, bounded wait") {
        char err[256], how[128];
        kl_output_opts o = { .mode = KL_OUT_PRINT };
        CHECK(kl_output_text(&o, "hello", how, sizeof how, err, sizeof err) == 0 && !strcmp(how, "stdout"));
        char *ok[] = { "sh", "-c", "read x; [ \"$x\" = abc ]", NULL };
        CHECK(kl_run(ok, "abc\n", 5, err, sizeof err) == 0);
        char *bad[] = { "sh", "-c", "echo broken >&2; exit 3", NULL };
        CHECK(kl_run(bad, NULL, 5, err, sizeof err) == 3 && strstr(err, "broken"));
        char *slow[] = { "sleep", "5", NULL };
        CHECK(kl_run(slow, NULL, 0.2, err, sizeof err) == -2 && strstr(err, "killed"));
        char *none[] = { "/nonexistent/typer", NULL };
        CHECK(kl_run(none, NULL, 1, err, sizeof err) != 0);
        CHECK(kl_in_path("sh") && !kl_in_path("no-such-program-kl"));
        /* dotool: a line break in the text had ended the "type" and run the rest as a
         * command; each line is typed, Return between them */
        char *sc = kl_output_dotool_script("Note:\nkey super+l\r\n\nend", 5);
        CHECKF(sc && !strcmp(sc, "typedelay 5\ntype Note:\nkey enter\ntype key super+l\nkey enter\n"
                                 "key enter\ntype end\n"), "%s", sc ? sc : "(null)");
        free(sc);
        sc = kl_output_dotool_script("", 1);
        CHECK(sc && !strcmp(sc, "typedelay 1\n"));
        free(sc);
        /* a tool that does not read its stdin: the text's writing is under the timeout too,
         * and a text not taken whole is a failure (a 100 KB text had blocked until the tool
         * exited, then counted as delivered) */
        size_t bn = 100000;
        char *bigt = malloc(bn + 1);
        memset(bigt, 'x', bn);
        bigt[bn] = 0;
        char *stuck[] = { "sh", "-c", "sleep 5", NULL };
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rs = kl_run(stuck, bigt, 0.5, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        CHECKF(rs == -2 && took < 2 && strstr(err, "within 0.5 s"), "%d in %.1f s: %s", rs, took, err);
        char *part[] = { "sh", "-c", "head -c 10 >/dev/null", NULL };
        CHECKF(kl_run(part, bigt, 5, err, sizeof err) == -1 && strstr(err, "took only"), "%s", err);
        char *all[] = { "sh", "-c", "[ $(wc -c) = 100000 ]", NULL };
        CHECKF(kl_run(all, bigt, 5, err, sizeof err) == 0, "%s", err);
        free(bigt);
    }
    TEST("output: ydotool sends chords and Return as Linux key codes") {
        char args[10][12], err[256], how[64];
        CHECK(kl_output_ydotool_chord("ctrl+shift+v", args, 10) == 6 && !strcmp(args[0], "29:1") &&
              !strcmp(args[1], "42:1") && !strcmp(args[2], "47:1") && !strcmp(args[3], "47:0") &&
              !strcmp(args[4], "42:0") && !strcmp(args[5], "29:0"));
        CHECK(kl_output_ydotool_chord("Return", args, 10) == 2 && !strcmp(args[0], "28:1") && !strcmp(args[1], "28:0"));
        CHECK(kl_output_ydotool_chord("Shift+Insert", args, 10) == 4 && !strcmp(args[1], "110:1"));
        CHECK(kl_output_ydotool_chord("hyper+v", args, 10) == -1);
        /* the chord through a stand-in ydotool that notes its arguments (it had no sender:
         * paste mode and --enter failed with ydotool forced) */
        char dir[] = "/tmp/kl-ydo.XXXXXX", path[128], cmd[300], got[256] = "";
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/ydotool", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "#!/bin/sh\necho \"$*\" >> %s/args\n", dir);
        fclose(f);
        chmod(path, 0755);
        const char *op = getenv("PATH");
        char *saved = strdup(op ? op : "/usr/bin:/bin");
        snprintf(cmd, sizeof cmd, "%s:%s", dir, saved);
        setenv("PATH", cmd, 1);
        CHECKF(kl_send_chord("ctrl+v", "ydotool", how, sizeof how, err, sizeof err) == 0 && !strcmp(how, "ydotool"), "%s", err);
        CHECKF(kl_send_chord("Return", "ydotool", how, sizeof how, err, sizeof err) == 0, "%s", err);
        setenv("PATH", saved, 1);
        free(saved);
        snprintf(path, sizeof path, "%s/args", dir);
        f = fopen(path, "r");
        size_t k = f ? fread(got, 1, sizeof got - 1, f) : 0;
        got[k] = 0;
        if (f) fclose(f);
        CHECKF(!strcmp(got, "key 29:1 47:1 47:0 29:0\nkey 28:1 28:0\n"), "%s", got);
        unlink(path);
        snprintf(path, sizeof path, "%s/ydotool", dir);
        unlink(path);
        rmdir(dir);
    }
}

/* Each input of cases post-processed by p (default profile) gives its expected text. */
static void post_cases(const kl_post *p, const char *const (*cases)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *o = kl_post_builtin(p, NULL, cases[i][0]);
        CHECKF(o && !strcmp(o, cases[i][1]), "\"%s\" -> \"%s\"", cases[i][0], o ? o : "(null)");
        free(o);
    }
}

static void test_post_replacements(void)
{
    TEST("post: replacement table (literal, exact, regex, profiles, case rules, UTF-8)") {
        char err[256];
        kl_post_opts po = { 0 };
        kl_post *p = kl_post_new(&po);
        CHECK(p != NULL);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "kay eight s => k8s", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "gonna => going to", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_EXACT, "api => API", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "([0-9]+) percent => \\1%", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "café olé => \"Café Olé\"", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "basically =>", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "[code] equals => ==", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "no arrow here", err, sizeof err) == -1 && strstr(err, "=>"));
        CHECK(kl_post_add(p, KL_RULE_LITERAL, " => x", err, sizeof err) == -1);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "([a-z => x", err, sizeof err) == -1 && strstr(err, "regular"));
        /* repetitions that regcomp expands past any memory are refused before it runs
         * (fuzz_post found "x++++…" taking gigabytes); large but sane counts still pass */
        CHECKF(kl_post_add(p, KL_RULE_REGEX, "x++++++++++++++++++++++++++++++++++++++++ => y", err, sizeof err) == -1 &&
               strstr(err, "too large"), "%s", err);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "((ab){100}){1001} => y", err, sizeof err) == -1 && strstr(err, "too large"));
        CHECK(kl_post_add(p, KL_RULE_REGEX, "ri+*+++++++++++ => y", err, sizeof err) == -1 && strstr(err, "too large"));
        CHECK(kl_post_add(p, KL_RULE_REGEX, "x(((((((((((i*)+)+)+)+)+)+)+)+)+)+)+ => y", err, sizeof err) == -1);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) => y", err, sizeof err) == -1);
        {
            kl_post *q = kl_post_new(&po);
            CHECK(q != NULL);
            CHECKF(kl_post_add(q, KL_RULE_REGEX, "[0-9]{1,3}(,[0-9]{3})* dollars? => $\\0", err, sizeof err) == 0, "%s", err);
            CHECKF(kl_post_add(q, KL_RULE_REGEX, "z{32767} => y", err, sizeof err) == 0, "%s", err);
            CHECKF(kl_post_add(q, KL_RULE_REGEX, "[[:alpha:]{]+x{2,}(q|r)+ => y", err, sizeof err) == 0, "%s", err);
            CHECKF(kl_post_add(q, KL_RULE_REGEX, "x((((i*)+)+)+)+ => y", err, sizeof err) == 0, "%s", err);
            kl_post_free(q);
        }
        static const char *const cases[][3] = {
            { NULL, "I use kay eight s daily.", "I use k8s daily." },
            { NULL, "Gonna go, gonna stay.", "Going to go, going to stay." },   /* sentence start */
            { NULL, "gonnabe stays; agonna too", "gonnabe stays; agonna too" },  /* whole words */
            { NULL, "the api and the Api", "the API and the Api" },             /* exact case */
            { NULL, "about 50 percent, 7 PERCENT", "about 50%, 7%" },           /* regex, icase */
            { NULL, "un café olé! cafés olé", "un Café Olé! cafés olé" },       /* UTF-8 words */
            { NULL, "It is basically done.", "It is done." },                   /* deletion tidied */
            { NULL, "a equals b", "a equals b" },                               /* other profile */
            { "code", "a equals b", "a == b" },
            { "none", "gonna basically", "gonna basically" },                   /* raw */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *o = kl_post_builtin(p, cases[i][0], cases[i][1]);
            CHECKF(o && !strcmp(o, cases[i][2]), "\"%s\" -> \"%s\"", cases[i][1], o ? o : "(null)");
            free(o);
        }
        kl_post_free(p);
    }
    TEST("post: regex on characters (UTF-8 locale, as key_listener sets it); replacing tidies nothing") {
        char err[256];
        kl_post_opts po = { 0 };
        kl_post *p = kl_post_new(&po);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "caf. => X", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "q* => -", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_EXACT, "great => good", err, sizeof err) == 0);
        static const char *const cases[][2] = {
            /* '.' had taken half of the 'é': "Le X\xa9 est…", and wtype stopped there */
            { "Le café est prêt, Café.", "-L-e- -X- -e-s-t- -p-r-ê-t-,- -X-.-" },
            /* no rule deleted anything: the rest is not tidied ("and.NET is good! Really?") */
            { "...and .NET is great !  Really ?", "-.-.-.-a-n-d- -.-N-E-T- -i-s- -g-r-e-a-t- -!- - -R-e-a-l-l-y- -?-" },
        };
        post_cases(p, cases, sizeof cases / sizeof cases[0]);
        kl_post_free(p);
        p = kl_post_new(&po);
        CHECK(kl_post_add(p, KL_RULE_EXACT, "great => good", err, sizeof err) == 0);
        char *o = kl_post_builtin(p, NULL, "...and .NET is great !  Really ?");
        CHECKF(o && !strcmp(o, "...and .NET is good !  Really ?"), "%s", o ? o : "(null)");
        free(o);
        kl_post_free(p);
        /* a regex deleting all but its groups tidies like an empty TO; a bracket expression
         * is a regex, not a [profile] tag */
        p = kl_post_new(&po);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "foo( bar)? => \\1", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "[[:digit:]]+ => N", err, sizeof err) == 0);
        o = kl_post_builtin(p, NULL, "foo baz, 42 left.");
        CHECKF(o && !strcmp(o, "baz, N left."), "%s", o ? o : "(null)");
        free(o);
        kl_post_free(p);
        /* a regex starting with a bracket expression that looks like a tag, followed directly
         * by more pattern, is a pattern (it had been read as profile "0-9" and refused, or as
         * profile "ck" and never applied); "[name] " with a blank is still a tag */
        p = kl_post_new(&po);
        CHECKF(kl_post_add(p, KL_RULE_REGEX, "[0-9]+ percent => \\0%", err, sizeof err) == 0, "%s", err);
        CHECKF(kl_post_add(p, KL_RULE_REGEX, "[ck]ubernetes => Kubernetes", err, sizeof err) == 0, "%s", err);
        CHECK(kl_post_add(p, KL_RULE_REGEX, "[code] ([a-z]+) equals => \\1 ==", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "[code]plus => +", err, sizeof err) == 0);
        o = kl_post_builtin(p, NULL, "kubernetes at 50 percent, a equals b plus c");
        CHECKF(o && !strcmp(o, "Kubernetes at 50 percent%, a equals b plus c"), "%s", o ? o : "(null)");
        free(o);
        o = kl_post_builtin(p, "code", "a equals b plus c");
        CHECKF(o && !strcmp(o, "a == b + c"), "%s", o ? o : "(null)");
        free(o);
        kl_post_free(p);
    }
}

static void test_post_case_fold(void)
{
    TEST("post: literal rules fold case and keep a capital by code point (Latin, Greek, Cyrillic)") {
        CHECK(kl_cp_lower(0xDC) == 0xFC && kl_cp_upper(0xFC) == 0xDC);          /* Ü ü */
        CHECK(kl_cp_lower(0x178) == 0xFF && kl_cp_upper(0xFF) == 0x178);        /* Ÿ ÿ */
        CHECK(kl_cp_lower(0x141) == 0x142 && kl_cp_upper(0x142) == 0x141);      /* Ł ł */
        CHECK(kl_cp_lower(0x150) == 0x151 && kl_cp_upper(0x151) == 0x150);      /* Ő ő */
        CHECK(kl_cp_lower(0x401) == 0x451 && kl_cp_upper(0x451) == 0x401);      /* Ё ё */
        CHECK(kl_cp_lower(0x386) == 0x3AC && kl_cp_upper(0x3AC) == 0x386);      /* Ά ά */
        CHECK(kl_cp_lower(0xDF) == 0xDF && kl_cp_lower(0xD7) == 0xD7 && kl_cp_lower(0x130) == 0x130);
        kl_post_opts po = { 0 };
        kl_post *p = kl_post_new(&po);
        char err[256];
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "über => across", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "привет => здравствуйте", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "kay => ärger", err, sizeof err) == 0);
        CHECK(kl_post_add(p, KL_RULE_EXACT, "Ωmega => omega", err, sizeof err) == 0);
        static const char *const cases[][2] = {
            { "Über alles, ÜBER über.", "Across alles, Across across." },   /* it had missed "Über" */
            { "Привет мир, привет.", "Здравствуйте мир, здравствуйте." },
            { "Kay said kay.", "Ärger said ärger." },                        /* a non-ASCII capital */
            { "ωmega Ωmega", "ωmega omega" },                                 /* exact: case kept */
            { "übermut", "übermut" },                                         /* whole words only */
        };
        post_cases(p, cases, sizeof cases / sizeof cases[0]);
        kl_post_free(p);
    }
}

static void test_post_continued(void)
{
    TEST("post: a piece that continues typed text keeps a spoken mark at its start") {
        kl_post_opts po = { .punctuation = 1, .fillers = 1 };
        kl_post *p = kl_post_new(&po);
        char err[256];
        char *o = kl_post_apply_cont(p, NULL, "comma and then we left period", 1, err, sizeof err);
        CHECKF(o && !strcmp(o, ", and then we left."), "%s", o ? o : "(null)");
        free(o);
        o = kl_post_apply_cont(p, NULL, "period um new topic", 1, err, sizeof err);
        CHECKF(o && !strcmp(o, ". New topic"), "%s", o ? o : "(null)");
        free(o);
        /* a text of its own still drops it */
        o = kl_post_apply_cont(p, NULL, "comma and then we left period", 0, err, sizeof err);
        CHECKF(o && !strcmp(o, "and then we left."), "%s", o ? o : "(null)");
        free(o);
        kl_post_free(p);
    }
}

static void test_post_fillers(void)
{
    TEST("post: filler words (off by default, whole words, commas, capitals, own list)") {
        kl_post_opts po = { 0 };
        kl_post *p = kl_post_new(&po);
        char *o = kl_post_builtin(p, NULL, "Um, so uh yes.");
        CHECK(o && !strcmp(o, "Um, so uh yes."));    /* off by default */
        free(o);
        kl_post_free(p);
        po.fillers = 1;
        p = kl_post_new(&po);
        static const char *const cases[][2] = {
            { "Um, so I think, uh, we should go.", "So I think, we should go." },
            { "I went, um.", "I went." },
            { "Hmm... okay, uhm, fine", "Okay, fine" },
            { "Umbrella and uhhh stay; Hummus too", "Umbrella and uhhh stay; Hummus too" },
            { "Uh", "" },
            /* the capital of a word that is not ASCII (it had stayed lower case) */
            { "Um, élève, uh, sagt.", "Élève, sagt." },
            { "Uh, ωμέγα και", "Ωμέγα και" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            o = kl_post_builtin(p, NULL, cases[i][0]);
            CHECKF(o && !strcmp(o, cases[i][1]), "\"%s\" -> \"%s\"", cases[i][0], o ? o : "(null)");
            free(o);
        }
        kl_post_free(p);
        po.filler_words = "like, you know";
        p = kl_post_new(&po);
        o = kl_post_builtin(p, NULL, "It was, like, you know, fine. Um.");
        CHECKF(o && !strcmp(o, "It was, fine. Um."), "%s", o ? o : "(null)");
        free(o);
        kl_post_free(p);
    }
}

static void test_post_spoken_punctuation(void)
{
    TEST("post: spoken punctuation (option), Whisper's own punctuation around it dropped") {
        kl_post_opts po = { .punctuation = 1 };
        kl_post *p = kl_post_new(&po);
        static const char *const cases[][2] = {
            { "Hello comma world period", "Hello, world." },
            { "Hello, comma, world. Period. New line. Next thing.", "Hello, world.\nNext thing." },
            { "is it done question mark yes exclamation mark", "is it done? Yes!" },
            { "one new paragraph two", "one\n\nTwo" },
            { "open paren see below close paren and colon items", "(see below) and: items" },
            { "a commander periodically", "a commander periodically" },
            { "gut period über alles", "gut. Über alles" },
            { "da new line ёлка", "da\nЁлка" },
            /* Whisper's comma before a line break or a parenthesis (a live audit: "First
             * line,⏎Second line", "the list, (below,) for details") */
            { "First line, new line, second line.", "First line\nSecond line." },
            { "Dear John, new paragraph, thanks.", "Dear John\n\nThanks." },
            { "See the list, open paren, below, close paren, for details.", "See the list (below) for details." },
            { "Done period new line next", "Done.\nNext" },
        };
        post_cases(p, cases, sizeof cases / sizeof cases[0]);
        kl_post_free(p);
        po.punctuation = 0;
        p = kl_post_new(&po);
        char *o = kl_post_builtin(p, NULL, "Hello comma world");
        CHECK(o && !strcmp(o, "Hello comma world"));
        free(o);
        kl_post_free(p);
    }
}

static void test_post_hook(void)
{
    TEST("post: hook — output used; fails, hangs, garbage, nothing: the given text, and why") {
        char err[512], dir[] = "/tmp/kl-hook.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        kl_post_opts po = { .hook = "tr a-z A-Z", .hook_timeout = 5 };
        kl_post *p = kl_post_new(&po);
        CHECK(kl_post_add(p, KL_RULE_LITERAL, "gonna => going to", err, sizeof err) == 0);
        char *o = kl_post_apply(p, NULL, "gonna type", err, sizeof err);
        CHECKF(o && !strcmp(o, "GOING TO TYPE") && !err[0], "%s / %s", o, err);   /* rules, then the hook */
        free(o);
        o = kl_post_apply(p, "none", "gonna type", err, sizeof err);                   /* raw profile: no hook */
        CHECK(o && !strcmp(o, "gonna type"));
        free(o);
        kl_post_free(p);
        struct { const char *hook, *why; } bad[] = {
            { "echo 'model not loaded' >&2; exit 3", "exited with 3: model not loaded" },
            { "kill -9 $$", "killed by signal 9" },
            { "printf '\\377\\376bin\\001ary'", "not UTF-8 text" },
            { "cat >/dev/null; printf '\\n\\n'", "printed nothing" },
            { "yes", "more than" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            po.hook = bad[i].hook;
            p = kl_post_new(&po);
            CHECK(kl_post_add(p, KL_RULE_LITERAL, "gonna => going to", err, sizeof err) == 0);
            o = kl_post_apply(p, NULL, "gonna type", err, sizeof err);
            CHECKF(o && !strcmp(o, "going to type") && strstr(err, bad[i].why), "%s: %s / %s", bad[i].hook, o, err);
            free(o);
            kl_post_free(p);
        }
        /* a hook that hangs, with a child of its own: killed (the whole group) at the timeout */
        char hang[512], pidf[300];
        snprintf(pidf, sizeof pidf, "%s/child", dir);
        snprintf(hang, sizeof hang, "sleep 60 & echo $! > %s; wait", pidf);
        po.hook = hang;
        po.hook_timeout = 0.5;
        p = kl_post_new(&po);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        o = kl_post_apply(p, NULL, "still typed", err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        CHECKF(o && !strcmp(o, "still typed") && strstr(err, "hook did not finish within 0.5 s"), "%s", err);
        CHECKF(took >= 0.45 && took < 2.0, "took %.2f s", took);
        free(o);
        kl_post_free(p);
        FILE *f = fopen(pidf, "r");
        int child = 0;
        CHECK(f && fscanf(f, "%d", &child) == 1 && child > 0);
        if (f) fclose(f);
        char stat[64], buf[256] = "";
        snprintf(stat, sizeof stat, "/proc/%d/stat", child);
        for (int i = 0; i < 100; i++) {   /* gone, or a zombie waiting for init */
            f = fopen(stat, "r");
            buf[0] = 0;
            if (f) { if (!fgets(buf, sizeof buf, f)) buf[0] = 0; fclose(f); }
            if (!f || strstr(buf, ") Z ")) break;
            sleep_ms(10);
        }
        CHECKF(!buf[0] || strstr(buf, ") Z "), "the hook's child %d still runs: %s", child, buf);
        unlink(pidf);
        rmdir(dir);
        /* a hook that does not read a long input does not block the listener */
        size_t big = 300000;
        char *in = malloc(big + 1);
        memset(in, 'a', big);
        in[big] = 0;
        CHECK(kl_post_hook("echo short", 5, in, &o, err, sizeof err) == 0 && o && !strcmp(o, "short"));
        free(o);
        free(in);
        CHECK(kl_utf8_text("caf\xc3\xa9\n\t", 7) && !kl_utf8_text("\xc3", 1) && !kl_utf8_text("a\0b", 3));
        CHECK(!kl_utf8_text("\xed\xa0\x80", 3) && !kl_utf8_text("\xc0\xaf", 2) && !kl_utf8_text("\x1b[2J", 4));
    }
}

static void test_config_post(void)
{
    TEST("config: post-processing, decoding, paste, history, hands-free and app options") {
        char err[512], dir[] = "/tmp/kl-cfg2.XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[128];
        snprintf(path, sizeof path, "%s/k.conf", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "replace = \"new line\" => \" \"\nreplace-regex = ([0-9]+) percent => \\1%%\n"
                   "fillers = yes\nspoken-punctuation\nhook = tr a-z A-Z\nlanguages = en,de\n"
                   "vocabulary = Kubernetes, etcd\noutput = paste\npaste-chord = ctrl+shift+v\n"
                   "history = 5\nauto-stop = 800\ncontinuous = yes\napp = foot|xterm: output=paste, enter=yes\n");
        fclose(f);
        kl_opts o;
        kl_opts_default(&o);
        CHECK(!o.fillers && !o.punctuation && o.history == 20 && !o.auto_stop_ms && o.clipboard_restore == 30);
        CHECKF(kl_config_load(&o, path, 1, err, sizeof err) == 0, "%s", err);
        CHECK(o.rules.n == 2 && !strcmp(o.rules.v[0], "replace\t\"new line\" => \" \""));
        CHECK(!strcmp(o.rules.v[1], "replace-regex\t([0-9]+) percent => \\1%"));
        CHECK(o.fillers && o.punctuation && !strcmp(o.hook, "tr a-z A-Z") && !strcmp(o.languages, "en,de"));
        CHECK(!strcmp(o.output, "paste") && !strcmp(o.paste_chord, "ctrl+shift+v") && o.history == 5);
        CHECK(o.auto_stop_ms == 800 && o.continuous && o.apps.n == 1);
        CHECK(kl_opts_set(&o, "replace", "a => b", err, sizeof err) == 0 && o.rules.n == 3);   /* flags add */
        CHECK(kl_opts_set(&o, "replace-regex", "(x => y", err, sizeof err) == -1 && strstr(err, "replace-regex"));
        CHECK(kl_opts_set(&o, "replace", "no arrow", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "languages", "en,Germanic", err, sizeof err) == -1);
        /* names as openai-whisper's --language, kept as codes; one language is one ("en de" had
         * been stored as it was) */
        CHECK(kl_opts_set(&o, "languages", "en,German", err, sizeof err) == 0 && !strcmp(o.languages, "en,de"));
        CHECK(kl_opts_set(&o, "language", "en,de", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "language", "en de", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "language", "German", err, sizeof err) == 0 && !strcmp(o.language, "de"));
        CHECK(kl_opts_set(&o, "language", "haitian creole", err, sizeof err) == 0 && !strcmp(o.language, "ht"));
        CHECK(kl_opts_set(&o, "key", "Insert,F16:castilian", err, sizeof err) == 0 && !strcmp(o.key_lang[1], "es"));
        CHECK(kl_opts_set(&o, "language", "auto", err, sizeof err) == 0);
        CHECK(kl_opts_set(&o, "app", "no colon", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "auto-stop", "-1", err, sizeof err) == -1);
        f = fopen(path, "w");
        fprintf(f, "key = F16\nreplace-regex = (z => q\n");
        fclose(f);
        CHECKF(kl_config_load(&o, path, 1, err, sizeof err) == -1 && strstr(err, ":2:") && strstr(err, "regular"), "%s", err);
        kl_opts_free(&o);
        CHECK(o.rules.n == 0 && o.apps.n == 0);
        unlink(path);
        rmdir(dir);
    }
}

static void test_history(void)
{
    TEST("history: 0600 file in a 0700 directory, capped, newest first, escapes") {
        char dir[] = "/tmp/kl-hist.XXXXXX", path[256], err[256];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/state/speech-session/h", dir);
        CHECK(kl_history_get(path, 0) == NULL);
        CHECK(kl_history_add(path, 3, "one", err, sizeof err) == 0);
        CHECK(kl_history_add(path, 3, "two\nlines \\n", err, sizeof err) == 0);
        CHECK(kl_history_add(path, 3, "three", err, sizeof err) == 0);
        CHECK(kl_history_add(path, 3, "four", err, sizeof err) == 0);
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
        char d2[300];
        snprintf(d2, sizeof d2, "%s/state/speech-session", dir);
        CHECK(stat(d2, &st) == 0 && (st.st_mode & 0777) == 0700);
        char *a = kl_history_get(path, 0), *b = kl_history_get(path, 2), *c = kl_history_get(path, 3);
        CHECK(a && !strcmp(a, "four") && b && !strcmp(b, "two\nlines \\n") && !c);
        free(a); free(b);
        CHECK(kl_history_add(path, 0, "off", err, sizeof err) == 0);     /* 0: nothing kept */
        a = kl_history_get(path, 0);
        CHECK(a && !strcmp(a, "four"));
        free(a);
        unlink(path);
        snprintf(path, sizeof path, "rm -r %s", dir);
        CHECK(system(path) == 0);
        setenv("XDG_STATE_HOME", "/x/state", 1);
        kl_history_default_path(path, sizeof path);
        CHECK(!strcmp(path, "/x/state/speech-session/key_listener.history"));
        unsetenv("XDG_STATE_HOME");
    }
}

static void test_app_rules(void)
{
    TEST("app rules: first match, globs, alternatives, either WM_CLASS name, bad settings") {
        kl_opts o;
        kl_opts_default(&o);
        char err[256];
        CHECK(kl_opts_set(&o, "app", "firefox|chromium: output=type", err, sizeof err) == 0);
        CHECK(kl_opts_set(&o, "app", "*term*: output=paste, paste-chord=ctrl+shift+v, enter=yes, profile=shell", err, sizeof err) == 0);
        /* a bad rule is refused when it is set (start-up), naming the setting: it had passed
         * until a dictation into that app */
        CHECK(kl_opts_set(&o, "app", "emacs: colour=red", err, sizeof err) == -1 && strstr(err, "colour"));
        CHECK(kl_opts_set(&o, "app", "xterm: outptu=paste", err, sizeof err) == -1 && strstr(err, "outptu"));
        CHECK(kl_opts_set(&o, "app", "xterm: enter=maybe", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "app", " : output=paste", err, sizeof err) == -1);
        CHECK(kl_opts_set(&o, "app", "xterm output=paste", err, sizeof err) == -1);
        /* blanks around the alternatives are not part of them ("foot | kitty" never matched) */
        CHECK(kl_opts_set(&o, "app", "foot | kitty: output=copy", err, sizeof err) == 0);
        kl_app_rule r;
        CHECK(kl_app_match(&o.apps, "Navigator\tFirefox", &r, err, sizeof err) == 1);
        CHECK(!strcmp(r.output, "type") && r.enter == -1 && !r.paste_chord[0]);
        CHECK(kl_app_match(&o.apps, "xterm\tXTerm", &r, err, sizeof err) == 1);
        CHECK(!strcmp(r.output, "paste") && r.enter == 1 && !strcmp(r.paste_chord, "ctrl+shift+v") && !strcmp(r.profile, "shell"));
        CHECK(kl_app_match(&o.apps, "org.gnome.Nautilus", &r, err, sizeof err) == 0 && !r.output[0]);
        CHECK(kl_app_match(&o.apps, "emacs\tEmacs", &r, err, sizeof err) == 0);
        CHECK(kl_app_match(&o.apps, "kitty\tkitty", &r, err, sizeof err) == 1 && !strcmp(r.output, "copy"));
        CHECK(kl_app_match(&o.apps, "foot", &r, err, sizeof err) == 1 && !strcmp(r.output, "copy"));
        kl_opts_free(&o);
        /* a pattern past 256 bytes: its last alternative still counts (it had been cut) */
        kl_opts_default(&o);
        char longp[1024] = "";
        for (int i = 0; i < 40; i++) strcat(longp, "some-long-app-name|");
        strcat(longp, "kitty: output=paste");
        CHECK(kl_opts_set(&o, "app", longp, err, sizeof err) == 0);
        CHECK(kl_app_match(&o.apps, "kitty\tkitty", &r, err, sizeof err) == 1 && !strcmp(r.output, "paste"));
        kl_opts_free(&o);
    }
}

/* a stand-in program NAME in dir printing out (no single quotes; with PATH = dir alone, a
 * shell builtin) */
static void fake_tool(const char *dir, const char *name, const char *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "#!/bin/sh\nprintf '%%s\\n' '%s'\n", out);
    fclose(f);
    chmod(path, 0755);
}

/* A typing tool killed at its deadline may have typed part of the text: the next tool had
 * typed it again from its start (a stuck or slow wtype, then ydotool). Now the text goes to
 * the clipboard, saying so. Stand-ins: a wtype that types (notes) a few bytes and hangs, a
 * ydotool and a wl-copy that note theirs. About 10 s: the deadline's base. */
static void test_typer_killed(void)
{
    TEST("output: a typing tool killed at its deadline is not followed by another (no text typed twice)") {
        char dir[] = "/tmp/kl-kill.XXXXXX", path[600], err[512] = "", how[512] = "", cmd[700];
        char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
        char *wl = getenv("WAYLAND_DISPLAY") ? strdup(getenv("WAYLAND_DISPLAY")) : NULL;
        char *dpy = getenv("DISPLAY") ? strdup(getenv("DISPLAY")) : NULL;
        char *ys = getenv("YDOTOOL_SOCKET") ? strdup(getenv("YDOTOOL_SOCKET")) : NULL;
        CHECK(mkdtemp(dir) != NULL);
        const char *tools[][2] = {
            { "wtype", "head -c 3 >>\"$D/typed\"; exec sleep 60" },
            { "ydotool", "echo \"ydotool $*\" >>\"$D/typed\"" },
            { "wl-copy", "cat >>\"$D/clip\"" } };
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, tools[i][0]);
            FILE *f = fopen(path, "w");
            if (f) { fprintf(f, "#!/bin/sh\nD='%s'\n%s\n", dir, tools[i][1]); fclose(f); }
            chmod(path, 0755);
        }
        snprintf(path, sizeof path, "%s/ydotool.sock", dir);
        FILE *sock = fopen(path, "w");
        if (sock) fclose(sock);
        snprintf(cmd, sizeof cmd, "%s:/usr/bin:/bin", dir);
        setenv("PATH", cmd, 1);
        setenv("WAYLAND_DISPLAY", "kl-test-none", 1);
        setenv("YDOTOOL_SOCKET", path, 1);
        unsetenv("DISPLAY");
        kl_out_done done = KL_DONE_NONE;
        kl_output_opts o = { .mode = KL_OUT_TYPE, .typer = "auto", .type_delay_ms = 5, .done = &done };
        const int r = kl_output_text(&o, "hello", how, sizeof how, err, sizeof err);
        char typed[256] = "", clip[256] = "";
        snprintf(path, sizeof path, "%s/typed", dir);
        FILE *f = fopen(path, "r");
        if (f) { typed[fread(typed, 1, sizeof typed - 1, f)] = 0; fclose(f); }
        snprintf(path, sizeof path, "%s/clip", dir);
        f = fopen(path, "r");
        if (f) { clip[fread(clip, 1, sizeof clip - 1, f)] = 0; fclose(f); }
        CHECKF(r == 0 && done == KL_DONE_CLIPBOARD && !strcmp(typed, "hel") && !strcmp(clip, "hello") &&
                   strstr(how, "wtype did not finish") && strstr(how, "not typed again"),
               "r %d done %d typed \"%s\" clipboard \"%s\" how \"%s\" err \"%s\"", r, (int)done, typed, clip, how, err);
        if (old) setenv("PATH", old, 1);
        if (wl) setenv("WAYLAND_DISPLAY", wl, 1); else unsetenv("WAYLAND_DISPLAY");
        if (dpy) setenv("DISPLAY", dpy, 1);
        if (ys) setenv("YDOTOOL_SOCKET", ys, 1); else unsetenv("YDOTOOL_SOCKET");
        free(old); free(wl); free(dpy); free(ys);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
}

static void test_focused_app(void)
{
    TEST("focused app: Hyprland, niri and KDE (kdotool) asked before X11, by their environment") {
        char dir[] = "/tmp/kl-app.XXXXXX", names[256], *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
        CHECK(mkdtemp(dir) != NULL);
        fake_tool(dir, "hyprctl", "{\"address\": \"0x1\", \"class\": \"kitty\", \"initialClass\": \"Kitty-Init\", \"title\": \"t\"}");
        fake_tool(dir, "niri", "{\"id\": 3, \"app_id\": \"foot\", \"title\": \"x\"}");
        fake_tool(dir, "kdotool", "org.kde.konsole");
        setenv("PATH", dir, 1);
        unsetenv("SWAYSOCK"); unsetenv("DISPLAY"); unsetenv("NIRI_SOCKET"); unsetenv("KDE_FULL_SESSION");
        unsetenv("XDG_CURRENT_DESKTOP");
        setenv("HYPRLAND_INSTANCE_SIGNATURE", "abc", 1);
        CHECK(kl_focused_app(names, sizeof names) == 0 && !strcmp(names, "kitty\tKitty-Init"));
        unsetenv("HYPRLAND_INSTANCE_SIGNATURE");
        setenv("NIRI_SOCKET", "/run/niri.sock", 1);
        CHECK(kl_focused_app(names, sizeof names) == 0 && !strcmp(names, "foot"));
        unsetenv("NIRI_SOCKET");
        setenv("XDG_CURRENT_DESKTOP", "KDE", 1);
        CHECK(kl_focused_app(names, sizeof names) == 0 && !strcmp(names, "org.kde.konsole"));
        unsetenv("XDG_CURRENT_DESKTOP");
        CHECK(kl_focused_app(names, sizeof names) == -1);   /* none of their environments */
        /* no focused window: Hyprland's {} and niri's null are no answer */
        fake_tool(dir, "hyprctl", "{}");
        fake_tool(dir, "niri", "null");
        setenv("HYPRLAND_INSTANCE_SIGNATURE", "abc", 1);
        setenv("NIRI_SOCKET", "/run/niri.sock", 1);
        CHECK(kl_focused_app(names, sizeof names) == -1);
        unsetenv("HYPRLAND_INSTANCE_SIGNATURE"); unsetenv("NIRI_SOCKET");
        if (old) setenv("PATH", old, 1);
        free(old);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
}

static void test_gvariant_string(void)
{
    TEST("gdbus's GVariant text of a string: both quotes, escapes, \\u and \\U, malformed refused") {
        char *s = kl_gvariant_string("('[{\"wm_class\":\"foot\",\"focus\":true}]',)\n");
        CHECK(s && !strcmp(s, "[{\"wm_class\":\"foot\",\"focus\":true}]"));
        free(s);
        /* a ' in the string: glib quotes with " and escapes the " inside */
        s = kl_gvariant_string("(\"[{\\\"t\\\":\\\"it's \\\\\\\\ ok\\\"}]\",)");
        CHECK(s && !strcmp(s, "[{\"t\":\"it's \\\\ ok\"}]"));
        free(s);
        s = kl_gvariant_string("('a\\tb\\u00e9\\u2713\\U0001f3a4\\'',)");
        CHECK(s && !strcmp(s, "a\tb\xc3\xa9\xe2\x9c\x93\xf0\x9f\x8e\xa4'"));
        free(s);
        const char *bad[] = { "", "()", "('abc',", "('abc')", "('abc',) x", "'abc'", "('a\\u12',)",
                              "('a\\ud800',)", "('a\\U00110000',)", "('a\\u0000',)", "('abc\\",
                              "(uint32 3,)", "Error: GDBus.Error:org.freedesktop.DBus.Error.UnknownMethod",
                              "('a\\u00\x10" "1',)" /* not a hex digit (0x10|0x20 had read as '0') */ };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            s = kl_gvariant_string(bad[i]);
            CHECKF(s == NULL, "%s", bad[i]);
            free(s);
        }
    }
}

static void test_run_io(void)
{
    TEST("run_io: stdout captured (binary), exit status, stderr, timeout kills the group") {
        char err[256], *out = NULL;
        size_t len = 0;
        char *cat[] = { "cat", NULL };
        CHECK(kl_run_io(cat, "a\0b", 3, 5, &out, &len, 100, err, sizeof err) == 0 && len == 3 && !memcmp(out, "a\0b", 3));
        free(out);
        char *bad[] = { "sh", "-c", "echo partial; echo why >&2; exit 4", NULL };
        CHECK(kl_run_io(bad, NULL, 0, 5, &out, &len, 100, err, sizeof err) == 4 && strstr(err, "why") && out && !strcmp(out, "partial\n"));
        free(out);
        char *slow[] = { "sh", "-c", "sleep 30; echo late", NULL };
        CHECK(kl_run_io(slow, NULL, 0, 0.3, &out, &len, 100, err, sizeof err) == -1 && strstr(err, "killed") && !out);
        char *none[] = { "/nonexistent/prog", NULL };
        CHECK(kl_run_io(none, NULL, 0, 1, &out, &len, 100, err, sizeof err) != 0 && !out);
    }
}

static void test_capture_silence(void)
{
    TEST("capture: silence after speech measured, continuous cut, trim of leading silence") {
        fake_ctx fc = { .opens = 0 };
        snprintf(fc.dev, sizeof fc.dev, "dev0");
        kl_source_ops ops = { fake_open, fake_read, fake_close, fake_resolve, &fc, "fake" };
        kl_capture_opts co = { .preroll_ms = 0, .max_seconds = 10, .silence_level = 0.5 };
        kl_capture *c = NULL;
        char err[256];
        CHECK(kl_capture_new(&c, &ops, &co, err, sizeof err) == 0);
        int voiced = 1;
        CHECK(kl_capture_start(c) == 0);
        sleep_ms(200);
        /* the counter source's RMS stays far below 0.5 at first: silence, nothing voiced */
        double ms = kl_capture_silence_ms(c, &voiced);
        CHECKF(!voiced && ms >= 60, "voiced %d ms %.0f", voiced, ms);
        kl_capture_trim(c, 320);
        int16_t *s = NULL;
        size_t n = 0;
        kl_capture_cut(c, &s, &n);
        CHECKF(n <= 320 + 3 * 320, "kept %zu samples after the trim", n);   /* a block or two may arrive */
        free(s);
        fc.loud = 1;         /* loud samples: voice */
        sleep_ms(120);
        ms = kl_capture_silence_ms(c, &voiced);
        CHECKF(voiced, "voiced %d", voiced);
        kl_capture_cut(c, &s, &n);
        CHECK(s && n > 0);
        free(s);
        kl_capture_silence_ms(c, &voiced);
        CHECK(!voiced);      /* a cut starts the next utterance */
        kl_capture_stop(c, &s, &n, NULL);
        free(s);
        kl_capture_free(c);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C.utf8");   /* as key_listener */
    test_key_names();
    test_evdev_hold();
    test_evdev_split_record();
    test_evdev_unplug();
    test_evdev_two_keyboards();
    test_evdev_toggle();
    test_evdev_keys();
    test_evdev_syn_dropped();
    test_evdev_modifiers();
    test_ring();
    test_pcm_buffer();
    test_wav_writer();
    test_capture_preroll();
    test_capture_no_preroll();
    test_text_join();
    test_terminal_hold();
    test_terminal_press();
    test_config_file();
    test_control_socket();
    test_control_server();
    test_evhub_slots();
    test_output();
    test_post_replacements();
    test_post_fillers();
    test_post_continued();
    test_post_case_fold();
    test_post_spoken_punctuation();
    test_post_hook();
    test_config_post();
    test_history();
    test_app_rules();
    test_focused_app();
    test_typer_killed();
    test_gvariant_string();
    test_run_io();
    test_capture_silence();
    TEST_EXIT();
}
