/* kl_config.c — see kl_config.h. */
#include "keylistener/kl_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keylistener/kl_keys.h"

void kl_opts_default(kl_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->key_name, sizeof o->key_name, "Insert");
    o->key = kl_key_parse("Insert");
    snprintf(o->trigger, sizeof o->trigger, "evdev");
    snprintf(o->evdev_dir, sizeof o->evdev_dir, "/dev/input");
    snprintf(o->audio, sizeof o->audio, "auto");
    o->preroll_ms = 300;
    o->max_seconds = 300;
    o->min_ms = 250;
    snprintf(o->output, sizeof o->output, "type");
    snprintf(o->typer, sizeof o->typer, "auto");
    o->type_delay_ms = 5;
    o->modifier_wait_ms = 1000;
    o->timeout = 60;
    o->daemon_timeout = -1;
    snprintf(o->sound_player, sizeof o->sound_player, "paplay");
}

static int num(const char *v, double lo, double hi, double *out)
{
    if (!v) return -1;
    char *e;
    errno = 0;
    double d = strtod(v, &e);
    if (errno || e == v || *e || !isfinite(d) || d < lo || d > hi) return -1;
    *out = d;
    return 0;
}

static int boolean(const char *v, int *out)
{
    if (!v || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
        !strcasecmp(v, "on")) { *out = 1; return 0; }
    if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
        !strcasecmp(v, "off")) { *out = 0; return 0; }
    return -1;
}

static int str(char *dst, size_t n, const char *v)
{
    if (!v || strlen(v) >= n) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int one_of(char *dst, size_t n, const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (v && !strcmp(v, *allowed)) return str(dst, n, v);
    return -1;
}

int kl_opts_set(kl_opts *o, const char *name, const char *v, char *err, size_t n)
{
    static const char *const triggers[] = { "evdev", "terminal", "none", NULL };
    static const char *const audios[] = { "auto", "pulse", "alsa", NULL };
    static const char *const outputs[] = { "type", "copy", "print", NULL };
    static const char *const typers[] = { "auto", "wtype", "dotool", "ydotool", "xdotool", "none", NULL };
    double d;
    int r = -1;
    const char *hint = "";
    if (!strcmp(name, "key")) {
        int k = kl_key_parse(v);
        if (k > 0 && !str(o->key_name, sizeof o->key_name, v)) { o->key = k; r = 0; }
        hint = " (a key name such as Insert, F16, RightCtrl, Pause, BTN_SIDE, or a code)";
    } else if (!strcmp(name, "mode")) {
        if (v && !strcmp(v, "hold")) { o->toggle = 0; r = 0; }
        if (v && !strcmp(v, "toggle")) { o->toggle = 1; r = 0; }
        hint = " (hold or toggle)";
    } else if (!strcmp(name, "trigger")) {
        r = one_of(o->trigger, sizeof o->trigger, v, triggers);
        hint = " (evdev, terminal or none)";
    } else if (!strcmp(name, "evdev-dir")) r = str(o->evdev_dir, sizeof o->evdev_dir, v);
    else if (!strcmp(name, "audio")) { r = one_of(o->audio, sizeof o->audio, v, audios); hint = " (auto, pulse or alsa)"; }
    else if (!strcmp(name, "source")) r = str(o->source, sizeof o->source, v);
    else if (!strcmp(name, "preroll")) { if (!(r = num(v, 0, 5000, &d))) o->preroll_ms = (int)d; hint = " (0..5000 ms)"; }
    else if (!strcmp(name, "max-seconds")) { if (!(r = num(v, 1, 3600, &d))) o->max_seconds = d; hint = " (1..3600 s)"; }
    else if (!strcmp(name, "min-ms")) { if (!(r = num(v, 0, 10000, &d))) o->min_ms = (int)d; hint = " (0..10000 ms)"; }
    else if (!strcmp(name, "output")) { r = one_of(o->output, sizeof o->output, v, outputs); hint = " (type, copy or print)"; }
    else if (!strcmp(name, "typer")) { r = one_of(o->typer, sizeof o->typer, v, typers); hint = " (auto, wtype, dotool, ydotool, xdotool, none)"; }
    else if (!strcmp(name, "type-delay")) { if (!(r = num(v, 0, 1000, &d))) o->type_delay_ms = (int)d; hint = " (0..1000 ms)"; }
    else if (!strcmp(name, "modifier-wait")) { if (!(r = num(v, 0, 10000, &d))) o->modifier_wait_ms = (int)d; hint = " (0..10000 ms)"; }
    else if (!strcmp(name, "timeout")) { if (!(r = num(v, 1, 3600, &d))) o->timeout = d; hint = " (1..3600 s)"; }
    else if (!strcmp(name, "daemon-timeout")) { if (!(r = num(v, 0, 1e7, &d))) o->daemon_timeout = d; }
    else if (!strcmp(name, "model")) r = str(o->model, sizeof o->model, v);
    else if (!strcmp(name, "daemon")) r = str(o->daemon, sizeof o->daemon, v);
    else if (!strcmp(name, "no-start")) r = boolean(v, &o->no_start);
    else if (!strcmp(name, "keep-audio")) r = boolean(v, &o->keep_audio);
    else if (!strcmp(name, "log")) r = str(o->log, sizeof o->log, v);
    else if (!strcmp(name, "socket")) r = str(o->socket, sizeof o->socket, v);
    else if (!strcmp(name, "start-sound")) r = str(o->start_sound, sizeof o->start_sound, v);
    else if (!strcmp(name, "stop-sound")) r = str(o->stop_sound, sizeof o->stop_sound, v);
    else if (!strcmp(name, "sound-player")) r = str(o->sound_player, sizeof o->sound_player, v);
    else { snprintf(err, n, "unknown option \"%s\"", name); return -1; }
    if (r) snprintf(err, n, "bad value for %s: \"%s\"%s", name, v ? v : "", hint);
    return r;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int kl_config_load(kl_opts *o, const char *path, int required, char *err, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (!required && errno == ENOENT) return 0;
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], e2[512];
    int ln = 0, r = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (eq) *eq = 0;
        char *name = trim(s), *val = eq ? trim(eq + 1) : NULL;
        if (val && (*val == '"' || *val == '\'') && strlen(val) >= 2 && val[strlen(val) - 1] == *val) {
            val[strlen(val) - 1] = 0;
            val++;
        }
        if (kl_opts_set(o, name, val, e2, sizeof e2) != 0) {
            snprintf(err, n, "%s:%d: %s", path, ln, e2);
            r = -1;
            break;
        }
    }
    fclose(f);
    return r;
}

void kl_config_default_path(char *buf, size_t n)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    if (x && *x == '/') snprintf(buf, n, "%s/speech-session/key_listener.conf", x);
    else if (h && *h) snprintf(buf, n, "%s/.config/speech-session/key_listener.conf", h);
    else if (n) buf[0] = 0;
}
