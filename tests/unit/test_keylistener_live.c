/* Chunked dictation pieces of key_listener (docs/key_listener.md, "Chunked dictation"):
 * the cutter on synthetic PCM (speech-like bursts and pauses of various lengths: cuts only
 * in pauses of at least the minimum, never in speech, the expected count), the prompt built
 * from the initial prompt and the text so far, the cancel hand-shake between the loop and
 * the worker, and the event lines on the control socket. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "keylistener/kl_capture.h"
#include "keylistener/kl_chunk.h"
#include "keylistener/kl_ctl.h"
#include "keylistener/kl_live.h"

#define RATE 16000

typedef struct { double start, end; int speech; } piece;

/* A voiced, speech-like sound: 30 harmonics of a 120 Hz voice with a little vibrato and a
 * 4 Hz syllable envelope (never below 40 %), -20 dBFS; pauses are faint noise (-70 dBFS),
 * or loud noise when noise_level is given (a fan next to the microphone). */
static int16_t *synth(const piece *p, int np, size_t *n, double noise_level)
{
    double total = p[np - 1].end;
    *n = (size_t)(total * RATE);
    int16_t *s = calloc(*n, sizeof *s);
    unsigned seed = 12345;
    double phase = 0;
    for (size_t i = 0; i < *n; i++) {
        double t = (double)i / RATE, v = 0;
        int sp = 0;
        for (int k = 0; k < np; k++) if (t >= p[k].start && t < p[k].end) sp = p[k].speech;
        seed = seed * 1103515245u + 12345u;
        double noise = ((double)(seed >> 8 & 0xFFFF) / 32768.0 - 1.0);
        double f0 = 120 * (1 + 0.03 * sin(2 * M_PI * 5 * t));
        phase += 2 * M_PI * f0 / RATE;
        if (sp) {
            for (int h = 1; h <= 30; h++) v += sin(h * phase) / 30.0;
            v *= 0.1 * 3 * (0.7 + 0.3 * sin(2 * M_PI * 4 * t));
        } else {
            v = noise * (noise_level > 0 ? noise_level : 0.0003);
        }
        double x = v * 32767;
        s[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
    }
    return s;
}

/* Plays the recording to the cutter as the listener does: a look every 250 ms at what came
 * since the last cut; the cuts (absolute sample positions) into cuts. */
static int run_cutter(kl_chunker *c, const int16_t *s, size_t n, size_t *cuts, int max)
{
    size_t base = 0;
    int nc = 0;
    char err[256];
    for (size_t have = RATE / 4; have <= n; have += RATE / 4) {
        size_t cut = 0;
        int r = kl_chunk_find(c, s + base, have - base, &cut, NULL, err, sizeof err);
        if (r < 0) return -1;
        if (r == 1 && nc < max) {
            cuts[nc++] = base + cut;
            base += cut;
        }
    }
    return nc;
}

/* 1 when the cut lies in a pause, margin seconds away from any speech. */
static int in_pause(const piece *p, int np, size_t cut, double margin)
{
    double t = (double)cut / RATE;
    for (int k = 0; k < np; k++)
        if (!p[k].speech && t - margin >= p[k].start && t + margin <= p[k].end) return 1;
    return 0;
}

/* A capture source that counts: the samples' order shows anything lost or doubled. */
struct kl_source { int16_t next; };
static int cnt_open(void *ctx, const char *name, kl_source **out, char *err, size_t n)
{
    (void)ctx; (void)name; (void)err; (void)n;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -1;
}
static int cnt_read(kl_source *s, int16_t *buf, size_t n, char *err, size_t en)
{
    (void)err; (void)en;
    for (size_t i = 0; i < n; i++) buf[i] = s->next++;
    struct timespec ts = { 0, 20 * 1000000L };   /* 20 ms blocks in real time */
    nanosleep(&ts, NULL);
    return 0;
}
static void cnt_close(kl_source *s) { free(s); }

static void test_cutter_pauses(kl_chunker *c)
{
    TEST("cutter: cuts only in pauses of 300 ms or more, after 3 s of speech, two cuts") {
        /* 0.2 and 0.25 s pauses are too short; 0.8 and 0.5 s ones are taken */
        const piece p[] = { {0, 0.3, 0}, {0.3, 2.3, 1}, {2.3, 2.5, 0}, {2.5, 4.5, 1}, {4.5, 5.3, 0},
                            {5.3, 7.3, 1}, {7.3, 7.55, 0}, {7.55, 9.05, 1}, {9.05, 9.55, 0},
                            {9.55, 11.55, 1}, {11.55, 12.0, 0} };
        int np = (int)(sizeof p / sizeof p[0]);
        size_t n, cuts[8];
        int16_t *s = synth(p, np, &n, 0);
        int nc = run_cutter(c, s, n, cuts, 8);
        CHECKF(nc == 2, "%d cuts", nc);
        for (int i = 0; i < nc; i++) {
            CHECKF(in_pause(p, np, cuts[i], 0.1), "cut %d at %.3f s is not 100 ms inside a pause", i, (double)cuts[i] / RATE);
            CHECK(cuts[i] % KL_CHUNK_FRAME == 0);
        }
        if (nc == 2) {
            CHECKF(cuts[0] > 4.5 * RATE && cuts[0] < 5.3 * RATE, "first cut %.3f s", (double)cuts[0] / RATE);
            CHECKF(cuts[1] > 9.05 * RATE && cuts[1] < 9.55 * RATE, "second cut %.3f s", (double)cuts[1] / RATE);
        }
        free(s);
    }
}

static void test_cutter_pause_middle(kl_chunker *c)
{
    char err[256];
    TEST("cutter: a pause is cut at its middle when it is seen whole") {
        const piece p[] = { {0, 3.5, 1}, {3.5, 4.5, 0}, {4.5, 5.0, 1} };
        size_t n, cut = 0;
        int16_t *s = synth(p, 3, &n, 0);
        int run = -1, run_alone = -1;
        CHECK(kl_chunk_find(c, s, n, &cut, &run, err, sizeof err) == 1);
        CHECKF(fabs((double)cut / RATE - 4.0) < 0.05, "cut at %.3f s, the pause is 3.5..4.5", (double)cut / RATE);
        /* the speech check from the same pass: the chunk's voiced run, long enough to send */
        CHECKF(run >= KL_SPEECH_RUN, "voiced run %d frames", run);
        CHECK(kl_chunk_speech(c, s, cut, &run_alone) == 1 && run_alone > 0);
        free(s);
    }
}

static void test_cutter_short_pauses(kl_chunker *c)
{
    TEST("cutter: no cut in 12 s of speech with only short pauses") {
        piece p[32];
        int np = 0;
        for (double t = 0; t < 12; t += 1.25) {
            p[np++] = (piece){ t, t + 1.0, 1 };
            p[np++] = (piece){ t + 1.0, t + 1.25, 0 };   /* 250 ms: under the minimum */
        }
        size_t n, cuts[8];
        int16_t *s = synth(p, np, &n, 0);
        CHECKF(run_cutter(c, s, n, cuts, 8) == 0, "cut in speech");
        free(s);
    }
}

static void test_cutter_first_3s(kl_chunker *c)
{
    TEST("cutter: no cut before 3 s of speech, however long the pauses") {
        const piece p[] = { {0, 1, 1}, {1, 3, 0}, {3, 4, 1}, {4, 6, 0}, {6, 6.5, 1}, {6.5, 8, 0} };
        size_t n, cuts[8];
        int16_t *s = synth(p, 6, &n, 0);
        CHECK(run_cutter(c, s, n, cuts, 8) == 0);
        free(s);
    }
}

static void test_cutter_noisy_room(kl_chunker *c)
{
    TEST("cutter: pauses louder than the silence level are not cut (a noisy room)") {
        const piece p[] = { {0, 3.5, 1}, {3.5, 4.5, 0}, {4.5, 8, 1}, {8, 9, 0} };
        size_t n, cuts[8];
        int16_t *s = synth(p, 4, &n, 0.05);   /* white noise at RMS ~0.03 > 0.01 */
        CHECK(run_cutter(c, s, n, cuts, 8) == 0);
        free(s);
    }
}

static void test_cutter_long_minimum(void)
{
    char err[256];
    TEST("cutter: a longer minimum pause takes only the long one") {
        kl_chunk_opts o2 = { .chunk_seconds = 2, .min_pause_ms = 600 };
        kl_chunker *c2 = NULL;
        CHECK(kl_chunker_new(&c2, NULL, &o2, err, sizeof err) == 0);
        const piece p[] = { {0, 2.5, 1}, {2.5, 3.0, 0}, {3.0, 4.0, 1}, {4.0, 5.0, 0}, {5.0, 6.0, 1} };
        size_t n, cuts[8];
        int16_t *s = synth(p, 5, &n, 0);
        int nc = c2 ? run_cutter(c2, s, n, cuts, 8) : -1;
        CHECKF(nc == 1 && in_pause(p, 5, cuts[0], 0.2) && cuts[0] > 4 * RATE, "%d cuts", nc);
        free(s);
        kl_chunker_free(c2);
    }
}

static void test_capture_pieces(void)
{
    char err[256];
    TEST("capture: peek and cut_at hand over a recording in pieces, no sample lost or doubled") {
        kl_source_ops ops = { cnt_open, cnt_read, cnt_close, NULL, NULL, "count" };
        kl_capture_opts o = { .preroll_ms = 0, .max_seconds = 10 };
        kl_capture *cap = NULL;
        CHECK(kl_capture_new(&cap, &ops, &o, err, sizeof err) == 0);
        CHECK(kl_capture_start(cap) == 0);
        int16_t *pieces[4] = { 0 }, *s = NULL;
        size_t lens[4] = { 0 }, n = 0, pre = 9;
        for (int k = 0; k < 3; k++) {
            struct timespec ts = { 0, 150 * 1000000L };
            nanosleep(&ts, NULL);
            CHECK(kl_capture_peek(cap, &s, &n) == 0 && n >= 2 * 320);
            size_t at = n / 2;               /* a cut in the middle of what is there */
            CHECK(kl_capture_cut_at(cap, at, &pieces[k], &pre) == 0 && pre == 0);
            lens[k] = at;
            free(s);
        }
        CHECK(kl_capture_cut_at(cap, 1u << 30, &s, NULL) == -1 && !s);   /* past the end */
        kl_capture_stop(cap, &pieces[3], &lens[3], NULL);
        int16_t want = 0;
        int ok = 1;
        for (int k = 0; k < 4; k++)
            for (size_t i = 0; i < lens[k]; i++) ok &= pieces[k][i] == want++;
        CHECKF(ok && lens[3] > 0, "the pieces are not one run of the counter");
        for (int k = 0; k < 4; k++) free(pieces[k]);
        kl_capture_free(cap);
    }
}

static void test_prompt_build(void)
{
    TEST("prompt: initial prompt, then the text so far") {
        char out[KL_PROMPT_MAX + 1];
        kl_live_prompt_build("Glossary: etcd.", "Hello there.", out, sizeof out);
        CHECK(!strcmp(out, "Glossary: etcd. Hello there."));
        kl_live_prompt_build(NULL, "Hello there.", out, sizeof out);
        CHECK(!strcmp(out, "Hello there."));
        kl_live_prompt_build("Only.", "", out, sizeof out);
        CHECK(!strcmp(out, "Only."));
        kl_live_prompt_build("", NULL, out, sizeof out);
        CHECK(!strcmp(out, ""));
    }
}

static void test_prompt_long_text(void)
{
    TEST("prompt: long text keeps its newest whole words, the initial prompt whole, <= 4096 bytes") {
        size_t big = 20000;
        char *sofar = malloc(big + 1), out[KL_PROMPT_MAX + 1], small[32];
        for (size_t i = 0; i < big; i++) sofar[i] = i % 6 == 5 ? ' ' : "wörd"[i % 6 % 5];
        sofar[big] = 0;
        memcpy(sofar + big - 4, "last", 4);
        kl_live_prompt_build("Initial.", sofar, out, sizeof out);
        CHECK(strlen(out) <= KL_PROMPT_MAX);
        CHECK(!strncmp(out, "Initial. ", 9));
        CHECK(!strcmp(out + strlen(out) - 4, "last"));
        CHECK(out[9] != ' ' && (out[9] & 0xC0) != 0x80);   /* a word start, not half a character */
        kl_live_prompt_build("Initial.", "one two three four five six", small, sizeof small);
        CHECKF(!strcmp(small, "Initial. three four five six"), "\"%s\"", small);
        /* text without spaces (Chinese): cut at a character, the prompt kept full (it had
         * been cut at the first space far on: a few bytes left) */
        size_t k = 0;
        for (; k + 3 <= 6000; k += 3) memcpy(sofar + k, "字", 3);
        memcpy(sofar + k, " 好", 4);
        sofar[k + 4] = 0;
        kl_live_prompt_build("Initial.", sofar, out, sizeof out);
        CHECKF(strlen(out) >= KL_PROMPT_MAX - 3 && strlen(out) <= KL_PROMPT_MAX, "%zu bytes", strlen(out));
        CHECK(!strncmp(out + 9, "字", 3) && !strcmp(out + strlen(out) - 4, " 好"));
        /* an initial prompt of the whole 4096 bytes: kept, no text after it (the room for
         * the text had wrapped around) */
        char *init = malloc(KL_PROMPT_MAX + 1);
        memset(init, 'i', KL_PROMPT_MAX);
        init[KL_PROMPT_MAX] = 0;
        kl_live_prompt_build(init, "newest words", out, sizeof out);
        CHECK(strlen(out) == KL_PROMPT_MAX && !strcmp(out, init));
        init[KL_PROMPT_MAX - 1] = 0;
        kl_live_prompt_build(init, "newest words", out, sizeof out);
        CHECKF(strlen(out) == KL_PROMPT_MAX - 1, "%zu", strlen(out));
        free(init);
        free(sofar);
    }
}

static void test_live_text(void)
{
    TEST("live: text of a dictation accumulates; a new one starts empty") {
        kl_live *l = kl_live_new();
        CHECK(kl_live_begin(l, 1) == 0);
        CHECK(kl_live_add(l, "Hello.") == 0 && kl_live_add(l, "") == 0 && kl_live_add(l, "World.") == 0);
        char *t = kl_live_text(l), p[64];
        CHECK(t && !strcmp(t, "Hello. World.") && kl_live_chunks(l) == 2);
        free(t);
        kl_live_prompt(l, "Names.", p, sizeof p);
        CHECK(!strcmp(p, "Names. Hello. World."));
        CHECK(kl_live_begin(l, 2) == 0);
        t = kl_live_text(l);
        CHECK(t && !t[0] && kl_live_chunks(l) == 0);
        free(t);
        kl_live_free(l);
    }
}

static void test_live_cancel(void)
{
    TEST("live: exactly one side sends the cancel") {
        kl_live *l = kl_live_new();
        char id[KL_LIVE_ID_MAX + 1] = "";
        /* cancel while a request runs: the loop sends it, the worker does not */
        kl_live_begin(l, 1);
        CHECK(kl_live_submitted(l, "req-a") == 0);
        CHECK(kl_live_cancel(l, 1, id) == 1 && !strcmp(id, "req-a"));
        CHECK(kl_live_cancel(l, 1, id) == 0);      /* twice: sent once */
        CHECK(kl_live_finished(l) == 1);            /* the answer is dropped */
        CHECK(kl_live_begin(l, 1) == 1);            /* the dictation's next chunk is skipped */
        /* cancel between dequeue and submission: the worker sends it */
        kl_live_begin(l, 2);
        CHECK(kl_live_cancel(l, 2, id) == 0);
        CHECK(kl_live_submitted(l, "req-b") == 1);
        CHECK(kl_live_finished(l) == 1);
        /* a cancel of an older dictation leaves the new one alone */
        kl_live_begin(l, 3);
        CHECK(kl_live_submitted(l, "req-c") == 0);
        CHECK(kl_live_cancel(l, 2, id) == 0);
        CHECK(kl_live_finished(l) == 0);
        kl_live_free(l);
    }
}

static void test_events(void)
{
    TEST("events: one JSON line per event to each subscriber; a stuck one is dropped") {
        kl_evhub *h = kl_evhub_new();
        int a[2], b[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
        CHECK(kl_evhub_add(h, a[0]) == 0 && kl_evhub_add(h, b[0]) == 0);
        CHECK(kl_evhub_emit(h, "recording", NULL, -1, -1) == 2);
        CHECK(kl_evhub_emit(h, "partial", "Hi \"you\"", 1, -1) == 2);
        CHECK(kl_evhub_emit(h, "final", "Hi \"you\" there.", -1, 812.4) == 2);
        /* a final whose output failed says so, after the fields subscribers already read */
        CHECK(kl_evhub_emit_final(h, "Lost.", 40, 0, NULL, "xclip exited with 1") == 2);
        CHECK(kl_evhub_emit_final(h, "Sent.", 41, 1, "typed", NULL) == 2);
        char buf[1024] = "";
        ssize_t k = read(a[1], buf, sizeof buf - 1);
        buf[k > 0 ? k : 0] = 0;
        CHECKF(!strcmp(buf, "{\"event\":\"recording\"}\n{\"event\":\"partial\",\"text\":\"Hi \\\"you\\\"\",\"chunk\":1}\n"
                            "{\"event\":\"final\",\"text\":\"Hi \\\"you\\\" there.\",\"release_ms\":812}\n"
                            "{\"event\":\"final\",\"text\":\"Lost.\",\"release_ms\":40,\"delivered\":false,"
                            "\"error\":\"xclip exited with 1\"}\n"
                            "{\"event\":\"final\",\"text\":\"Sent.\",\"release_ms\":41,\"delivered\":true,"
                            "\"output\":\"typed\"}\n"), "%s", buf);
        /* b never reads: once its buffer is full it is dropped, a keeps getting events */
        char big[3000];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        int reached = 2;
        for (int i = 0; i < 2000 && reached == 2; i++) {
            reached = kl_evhub_emit(h, "partial", big, 2, -1);
            while (read(a[1], buf, sizeof buf) == (ssize_t)sizeof buf) { }   /* a keeps up */
            fcntl(a[1], F_SETFL, O_NONBLOCK);
        }
        CHECK(reached == 1);
        close(a[1]);
        /* a went away: the next event reaches nobody */
        CHECK(kl_evhub_emit(h, "cancelled", NULL, -1, -1) == 0);
        close(b[1]);
        kl_evhub_free(h);
    }
}

int main(void)
{
    kl_chunk_opts co = { .chunk_seconds = 3, .min_pause_ms = 300 };
    kl_chunker *c = NULL;
    char err[256];
    TEST("cutter: opens the energy VAD") CHECK(kl_chunker_new(&c, NULL, &co, err, sizeof err) == 0 && c && !kl_chunker_silero(c));
    if (!c) TEST_EXIT();

    test_cutter_pauses(c);
    test_cutter_pause_middle(c);
    test_cutter_short_pauses(c);
    test_cutter_first_3s(c);
    test_cutter_noisy_room(c);
    test_cutter_long_minimum();
    kl_chunker_free(c);
    test_capture_pieces();
    test_prompt_build();
    test_prompt_long_text();
    test_live_text();
    test_live_cancel();
    test_events();
    TEST_EXIT();
}
