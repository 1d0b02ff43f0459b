/* kl_source.c — see kl_source.h. */
#include "keylistener/kl_source.h"

#include <alsa/asoundlib.h>
#include <pulse/error.h>
#include <pulse/introspect.h>
#include <pulse/mainloop.h>
#include <pulse/simple.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "speech_audio.h"

struct kl_source {
    pa_simple *pa;
    snd_pcm_t *pcm;
    float *file;          /* the file backend: the whole file, 16 kHz mono */
    size_t fn, fpos;
    double t0;            /* monotonic time the file started "playing" */
};

/* ---- PulseAudio: name resolution through the introspection API ---------------------- */

typedef struct {
    const char *want;
    char exact[512], match[512];
    int list, done;
} pa_find;

static void on_source(pa_context *ctx, const pa_source_info *i, int eol, void *u)
{
    pa_find *f = u;
    (void)ctx;
    if (eol) { f->done = 1; return; }
    if (f->list) { printf("%s\t%s\n", i->name, i->description ? i->description : ""); return; }
    if (!f->want) return;
    if (!strcmp(i->name, f->want)) snprintf(f->exact, sizeof f->exact, "%s", i->name);
    int is_monitor = i->monitor_of_sink != PA_INVALID_INDEX;
    if (is_monitor && !strcasestr(f->want, "monitor")) return;
    if (!f->match[0] && (strcasestr(i->name, f->want) ||
                         (i->description && strcasestr(i->description, f->want))))
        snprintf(f->match, sizeof f->match, "%s", i->name);
}

/* Runs the source list once; 0 or -1 with a message (no server). */
static int pa_query(pa_find *f, char *err, size_t n)
{
    pa_mainloop *ml = pa_mainloop_new();
    if (!ml) { snprintf(err, n, "pulse: out of memory"); return -1; }
    pa_context *ctx = pa_context_new(pa_mainloop_get_api(ml), "key_listener");
    pa_operation *op = NULL;
    int r = -1;
    if (!ctx || pa_context_connect(ctx, NULL, PA_CONTEXT_NOAUTOSPAWN, NULL) < 0) {
        snprintf(err, n, "no PulseAudio/PipeWire server: %s",
                 ctx ? pa_strerror(pa_context_errno(ctx)) : "out of memory");
        goto out;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (f->done || (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9 > 3.0)
            break;   /* bounded: a hung server is reported, not waited for */
        pa_context_state_t st = pa_context_get_state(ctx);
        if (st == PA_CONTEXT_FAILED || st == PA_CONTEXT_TERMINATED) {
            snprintf(err, n, "no PulseAudio/PipeWire server: %s", pa_strerror(pa_context_errno(ctx)));
            goto out;
        }
        if (st == PA_CONTEXT_READY && !op) {
            op = pa_context_get_source_info_list(ctx, on_source, f);
            if (!op) { snprintf(err, n, "pulse: %s", pa_strerror(pa_context_errno(ctx))); goto out; }
        }
        if (pa_mainloop_prepare(ml, 100000) < 0 || pa_mainloop_poll(ml) < 0 ||
            pa_mainloop_dispatch(ml) < 0) {
            snprintf(err, n, "pulse: main loop failed");
            goto out;
        }
    }
    r = f->done ? 0 : -1;
    if (r) snprintf(err, n, "pulse: no answer to the source query");
out:
    if (op) pa_operation_unref(op);
    if (ctx) { pa_context_disconnect(ctx); pa_context_unref(ctx); }
    pa_mainloop_free(ml);
    return r;
}

static int pulse_open(void *ctx, const char *name, kl_source **out, char *err, size_t n)
{
    (void)ctx;
    const char *dev = NULL;
    pa_find f = { .want = name };
    if (name && *name && strcasecmp(name, "default")) {
        if (pa_query(&f, err, n) != 0) return -1;
        dev = f.exact[0] ? f.exact : f.match[0] ? f.match : NULL;
        if (!dev) { snprintf(err, n, "no PulseAudio source matches \"%s\"", name); return -1; }
    }
    static const pa_sample_spec ss = { .format = PA_SAMPLE_S16LE, .rate = KL_RATE, .channels = 1 };
    pa_buffer_attr ba = { .maxlength = (uint32_t)-1, .fragsize = KL_RATE / 50 * 2,
                          .tlength = (uint32_t)-1, .prebuf = (uint32_t)-1, .minreq = (uint32_t)-1 };
    int e = 0;
    pa_simple *pa = pa_simple_new(NULL, "key_listener", PA_STREAM_RECORD, dev, "dictation",
                                  &ss, NULL, &ba, &e);
    if (!pa) {
        snprintf(err, n, "cannot record from %s: %s", dev ? dev : "the default source", pa_strerror(e));
        return -1;
    }
    kl_source *s = calloc(1, sizeof *s);
    if (!s) { pa_simple_free(pa); snprintf(err, n, "out of memory"); return -1; }
    s->pa = pa;
    *out = s;
    return 0;
}

static int pulse_resolve(void *ctx, const char *name, char *out, size_t n)
{
    (void)ctx;
    if (!name || !*name || !strcasecmp(name, "default")) { snprintf(out, n, "default"); return 0; }
    char err[256];
    pa_find f = { .want = name };
    if (pa_query(&f, err, sizeof err) != 0) return -1;
    snprintf(out, n, "%s", f.exact[0] ? f.exact : f.match[0] ? f.match : "none");
    return 0;
}

static int pulse_read(kl_source *s, int16_t *buf, size_t n, char *err, size_t en)
{
    int e = 0;
    if (pa_simple_read(s->pa, buf, n * sizeof *buf, &e) < 0) {
        snprintf(err, en, "read: %s", pa_strerror(e));
        return -1;
    }
    return 0;
}

static void pulse_close(kl_source *s)
{
    if (!s) return;
    pa_simple_free(s->pa);
    free(s);
}

/* ---- ALSA ------------------------------------------------------------------------- */

static int alsa_resolve(const char *name, char *dev, size_t n)
{
    if (!name || !*name) { snprintf(dev, n, "default"); return 0; }
    if (strchr(name, ':') || !strcmp(name, "default") || !strcmp(name, "null") ||
        !strcmp(name, "pulse") || !strcmp(name, "pipewire")) {
        snprintf(dev, n, "%s", name);
        return 0;
    }
    int card = -1;
    while (snd_card_next(&card) == 0 && card >= 0) {
        char *cname = NULL, *lname = NULL, ctl[32];
        snd_ctl_t *h;
        snd_ctl_card_info_t *info;
        snd_ctl_card_info_alloca(&info);
        snprintf(ctl, sizeof ctl, "hw:%d", card);
        int found = 0;
        if (snd_ctl_open(&h, ctl, 0) == 0) {
            if (snd_ctl_card_info(h, info) == 0) {
                const char *id = snd_ctl_card_info_get_id(info);
                snd_card_get_name(card, &cname);
                snd_card_get_longname(card, &lname);
                if (strcasestr(id, name) || (cname && strcasestr(cname, name)) ||
                    (lname && strcasestr(lname, name))) {
                    snprintf(dev, n, "plughw:CARD=%s", id);
                    found = 1;
                }
            }
            snd_ctl_close(h);
        }
        free(cname);
        free(lname);
        if (found) return 0;
    }
    snprintf(dev, n, "%s", name);   /* maybe a PCM defined in an asoundrc */
    return 0;
}

static int alsa_resolve_op(void *ctx, const char *name, char *out, size_t n)
{
    (void)ctx;
    return alsa_resolve(name, out, n);
}

static int alsa_open(void *ctx, const char *name, kl_source **out, char *err, size_t n)
{
    (void)ctx;
    char dev[256];
    alsa_resolve(name, dev, sizeof dev);
    snd_pcm_t *pcm;
    int e = snd_pcm_open(&pcm, dev, SND_PCM_STREAM_CAPTURE, 0);
    if (e < 0) { snprintf(err, n, "cannot open ALSA device %s: %s", dev, snd_strerror(e)); return -1; }
    e = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1,
                           KL_RATE, 1, 100000);
    if (e < 0) {
        snprintf(err, n, "ALSA device %s: 16 kHz mono S16 refused: %s", dev, snd_strerror(e));
        snd_pcm_close(pcm);
        return -1;
    }
    kl_source *s = calloc(1, sizeof *s);
    if (!s) { snd_pcm_close(pcm); snprintf(err, n, "out of memory"); return -1; }
    s->pcm = pcm;
    *out = s;
    return 0;
}

static int alsa_read(kl_source *s, int16_t *buf, size_t n, char *err, size_t en)
{
    size_t got = 0;
    int retries = 0;
    while (got < n) {
        snd_pcm_sframes_t k = snd_pcm_readi(s->pcm, buf + got, n - got);
        if (k < 0) {
            if (retries++ < 3 && snd_pcm_recover(s->pcm, (int)k, 1) == 0) continue;
            snprintf(err, en, "read: %s", snd_strerror((int)k));
            return -1;
        }
        if (k == 0) {   /* end of a file-backed PCM */
            snprintf(err, en, "read: end of stream");
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static void alsa_close(kl_source *s)
{
    if (!s) return;
    snd_pcm_close(s->pcm);
    free(s);
}

/* ---- a file played in real time (tests, benchmarks) ------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int file_open(void *ctx, const char *name, kl_source **out, char *err, size_t n)
{
    (void)ctx;
    *out = NULL;
    if (!name) { snprintf(err, n, "--audio file needs --source FILE"); return -1; }
    kl_source *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, n, "out of memory"); return -1; }
    char e[512] = "";
    if (sp_audio_load(name, 0, 0, &s->file, &s->fn, NULL, e, sizeof e) != SP_OK) {
        snprintf(err, n, "%s: %s", name, e);
        free(s);
        return -1;
    }
    s->t0 = mono_s();
    *out = s;
    return 0;
}

/* Each block is delivered when its time has come, as a microphone would; after the end of
 * the file, silence. */
static int file_read(kl_source *s, int16_t *buf, size_t n, char *err, size_t en)
{
    (void)err; (void)en;
    double due = s->t0 + (double)(s->fpos + n) / 16000.0, now = mono_s();
    if (due > now) {
        struct timespec ts = { (time_t)(due - now), (long)(((due - now) - (double)(time_t)(due - now)) * 1e9) };
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n; i++, s->fpos++) {
        float v = s->fpos < s->fn ? s->file[s->fpos] * 32768.0f : 0.0f;
        buf[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : v);
    }
    return 0;
}

static void file_close(kl_source *s)
{
    if (!s) return;
    free(s->file);
    free(s);
}

static int pulse_alive(void)
{
    pa_find f = { 0 };
    char err[256];
    return pa_query(&f, err, sizeof err) == 0;
}

int kl_source_select(const char *backend, kl_source_ops *ops, char *err, size_t n)
{
    memset(ops, 0, sizeof *ops);
    if (!backend || !strcmp(backend, "auto"))
        backend = pulse_alive() ? "pulse" : "alsa";
    if (!strcmp(backend, "pulse")) {
        ops->open = pulse_open; ops->read = pulse_read; ops->close = pulse_close;
        ops->resolve = pulse_resolve;
        ops->label = "pulse";
        return 0;
    }
    if (!strcmp(backend, "alsa")) {
        ops->open = alsa_open; ops->read = alsa_read; ops->close = alsa_close;
        ops->resolve = alsa_resolve_op;
        ops->label = "alsa";
        return 0;
    }
    if (!strcmp(backend, "file")) {
        ops->open = file_open; ops->read = file_read; ops->close = file_close;
        ops->label = "file";
        return 0;
    }
    snprintf(err, n, "unknown audio backend \"%s\" (pulse, alsa, auto, file)", backend);
    return -1;
}

int kl_source_list(const char *backend, char *err, size_t n)
{
    if (!backend || !strcmp(backend, "auto")) backend = pulse_alive() ? "pulse" : "alsa";
    if (!strcmp(backend, "pulse")) {
        pa_find f = { .list = 1 };
        return pa_query(&f, err, n);
    }
    void **hints;
    if (snd_device_name_hint(-1, "pcm", &hints) < 0) { snprintf(err, n, "ALSA: no device list"); return -1; }
    for (void **h = hints; *h; h++) {
        char *name = snd_device_name_get_hint(*h, "NAME");
        char *desc = snd_device_name_get_hint(*h, "DESC");
        char *io = snd_device_name_get_hint(*h, "IOID");
        if (name && (!io || !strcmp(io, "Input"))) {
            if (desc) for (char *c = desc; *c; c++) if (*c == '\n') *c = ' ';
            printf("%s\t%s\n", name, desc ? desc : "");
        }
        free(name); free(desc); free(io);
    }
    snd_device_name_free_hint(hints);
    return 0;
}
