/* kl_config.c — see kl_config.h. */
#include "keylistener/kl_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keylistener/kl_app.h"
#include "keylistener/kl_keys.h"
#include "keylistener/kl_post.h"
#include "session/ss_opt.h"
#include "speech.h"   /* sp_language_list */

void kl_opts_default(kl_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->key_name, sizeof o->key_name, "Insert");
    o->key = o->keys[0] = kl_key_parse("Insert");
    o->nkeys = 1;
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
    o->hook_timeout = 10;
    snprintf(o->paste_chord, sizeof o->paste_chord, "ctrl+v");
    o->paste_delay_ms = 300;
    o->clipboard_restore = 30;
    o->history = 20;
    o->silence_level = 0.01;
    o->chunk_seconds = 6;
    o->chunk_pause_ms = 300;
}

void kl_opts_free(kl_opts *o)
{
    kl_list *l[] = { &o->rules, &o->apps };
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < l[k]->n; i++) free(l[k]->v[i]);
        free(l[k]->v);
        l[k]->v = NULL;
        l[k]->n = 0;
    }
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

/* A whole number in lo..hi into *out. A fraction is refused, not truncated: "--preroll 0.9"
 * had become 0 ms, which switches the microphone to open only while recording. 0 or -1. */
static int whole(const char *v, double lo, double hi, int *out)
{
    double d;
    if (ss_opt_num(v, lo, hi, &d) || d != (double)(long)d) return -1;
    *out = (int)d;
    return 0;
}

static int one_of(char *dst, size_t n, const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (v && !strcmp(v, *allowed)) return str(dst, n, v);
    return -1;
}

static int list_add(kl_list *l, const char *name, const char *v)
{
    if (!v || !*v) return -1;
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    size_t len = strlen(name) + strlen(v) + 2;
    if (!(l->v[l->n] = malloc(len))) return -1;
    snprintf(l->v[l->n++], len, "%s\t%s", name, v);
    return 0;
}

/* A replacement rule is checked here so that a bad one names its config line. */
static int rule_ok(const char *name, const char *v, char *err, size_t n)
{
    kl_post_opts po = { 0 };
    kl_post *p = kl_post_new(&po);
    if (!p) { snprintf(err, n, "out of memory"); return -1; }
    kl_rule_kind k = !strcmp(name, "replace-regex") ? KL_RULE_REGEX :
                     !strcmp(name, "replace-exact") ? KL_RULE_EXACT : KL_RULE_LITERAL;
    int r = kl_post_add(p, k, v ? v : "", err, n);
    kl_post_free(p);
    return r;
}

/* "en,de" (spaces allowed after the commas): Whisper's language codes (or names: "german"),
 * into idx (room for 100; NULL: only checked). How many (>= 1), or -1. */
static int lang_list(const char *v, int *idx)
{
    if (!v || !*v || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ, ") != strlen(v)) return -1;
    const int k = sp_language_list(v, idx, 100, NULL);
    return k > 0 ? k : -1;
}

/* One language: "auto", or a code or name as its code ("German" -> "de"); NULL when v is not
 * exactly one ("en de" had been stored as it was) */
static const char *lang_one(const char *v)
{
    int idx[100];
    if (sp_language_auto(v)) return "auto";
    if (v && !strchr(v, ',') && lang_list(v, idx) == 1) return sp_language_code(idx[0]);
    /* a name with a space is one language, not a list ("haitian creole") */
    const int li = v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ") == strlen(v)
                 ? sp_language_index(v) : -1;
    return li >= 0 ? sp_language_code(li) : NULL;
}

/* v (lang_list's) into out as "en,de": the codes alone, so its first one is the first code */
static int lang_list_store(char *out, size_t cap, const char *v)
{
    int idx[100];
    const int k = lang_list(v, idx);
    if (k <= 0) return -1;
    char buf[512];
    size_t len = 0;
    for (int i = 0; i < k; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", sp_language_code(idx[i]));
    return len < cap ? str(out, cap, buf) : -1;
}

/* "Insert", "Insert,F16:de": up to KL_KEYS_MAX different keys, each NAME or NAME:LANG, into
 * o->keys/key_lang/nkeys (o unchanged when it is not valid). 0, or -1. */
static int keys_parse(kl_opts *o, const char *v)
{
    int keys[KL_KEYS_MAX], n = 0;
    char langs[KL_KEYS_MAX][16];
    for (const char *s = v;; s++) {
        const size_t len = strcspn(s, ",");
        char item[80];
        if (!len || len >= sizeof item || n == KL_KEYS_MAX) return -1;
        snprintf(item, sizeof item, "%.*s", (int)len, s);
        /* "Insert, F16:de": spaces around an entry are not part of it */
        char *b = item + strspn(item, " "), *e = b + strlen(b);
        while (e > b && e[-1] == ' ') *--e = 0;
        memmove(item, b, strlen(b) + 1);
        char *colon = strchr(item, ':');
        langs[n][0] = 0;
        if (colon) {
            *colon = 0;
            const char *code = lang_one(colon + 1);
            if (!code) return -1;
            snprintf(langs[n], sizeof langs[n], "%s", code);
        }
        if ((keys[n] = kl_key_parse(item)) <= 0) return -1;
        for (int i = 0; i < n; i++)
            if (keys[i] == keys[n]) return -1;
        n++;
        s += len;
        if (!*s) break;
    }
    memcpy(o->keys, keys, sizeof keys[0] * (size_t)n);
    memcpy(o->key_lang, langs, sizeof langs[0] * (size_t)n);
    o->nkeys = n;
    o->key = keys[0];
    return 0;
}

/* Options added for issue 13 (kept apart so kl_opts_set stays readable). 1 when name is not
 * one of them. */
static int set_more(kl_opts *o, const char *name, const char *v, double *d, const char **hint, char *err, size_t n)
{
    if (!strcmp(name, "fillers")) return boolean(v, &o->fillers);
    if (!strcmp(name, "filler-words")) return str(o->filler_words, sizeof o->filler_words, v);
    if (!strcmp(name, "spoken-punctuation")) return boolean(v, &o->punctuation);
    if (!strcmp(name, "hook")) return str(o->hook, sizeof o->hook, v ? v : "");
    if (!strcmp(name, "hook-timeout")) { *hint = " (0.1..600 s)"; if (ss_opt_num(v, 0.1, 600, d)) return -1; o->hook_timeout = *d; return 0; }
    if (!strcmp(name, "replace") || !strcmp(name, "replace-exact") || !strcmp(name, "replace-regex")) {
        if (rule_ok(name, v, err, n)) return -2;
        return list_add(&o->rules, name, v);
    }
    if (!strcmp(name, "vocabulary")) { *hint = " (at most 4096 bytes)"; return str(o->vocabulary, sizeof o->vocabulary, v ? v : ""); }
    if (!strcmp(name, "initial-prompt")) { *hint = " (at most 4096 bytes)"; return str(o->initial_prompt, sizeof o->initial_prompt, v ? v : ""); }
    if (!strcmp(name, "language")) {
        *hint = " (a code such as en or de, a name such as german, or auto)";
        const char *code = lang_one(v);
        return code ? str(o->language, sizeof o->language, code) : -1;
    }
    if (!strcmp(name, "audio-ctx")) { *hint = " (auto, or 1..1500 encoder positions)"; return ss_opt_audio_ctx(v, &o->audio_ctx); }
    if (!strcmp(name, "languages")) { *hint = " (codes separated by commas: en,de)"; return lang_list_store(o->languages, sizeof o->languages, v); }
    if (!strcmp(name, "paste-chord")) { *hint = " (such as ctrl+v, ctrl+shift+v, shift+Insert)"; return v && *v && !strchr(v, ' ') ? str(o->paste_chord, sizeof o->paste_chord, v) : -1; }
    if (!strcmp(name, "paste-delay")) { *hint = " (0..10000 ms, a whole number)"; return whole(v, 0, 10000, &o->paste_delay_ms); }
    if (!strcmp(name, "join-seconds")) { *hint = " (0..3600 s; 0 off)"; if (ss_opt_num(v, 0, 3600, d)) return -1; o->join_seconds = *d; return 0; }
    if (!strcmp(name, "clipboard-restore")) { *hint = " (0..86400 s; 0 never)"; if (ss_opt_num(v, 0, 86400, d)) return -1; o->clipboard_restore = *d; return 0; }
    if (!strcmp(name, "enter")) return boolean(v, &o->enter);
    if (!strcmp(name, "history")) { *hint = " (0..10000 entries, a whole number)"; return whole(v, 0, 10000, &o->history); }
    if (!strcmp(name, "history-file")) return str(o->history_file, sizeof o->history_file, v);
    if (!strcmp(name, "auto-stop")) { *hint = " (0..60000 ms; 0 off, a whole number)"; return whole(v, 0, 60000, &o->auto_stop_ms); }
    if (!strcmp(name, "silence-level")) { *hint = " (0..1 RMS)"; if (ss_opt_num(v, 0, 1, d)) return -1; o->silence_level = *d; return 0; }
    if (!strcmp(name, "continuous")) return boolean(v, &o->continuous);
    if (!strcmp(name, "chunk-seconds")) { *hint = " (0 off, else 1..120 s of speech)"; if (ss_opt_num(v, 0, 120, d) || (*d > 0 && *d < 1)) return -1; o->chunk_seconds = *d; return 0; }
    if (!strcmp(name, "chunk-pause")) { *hint = " (100..5000 ms, a whole number)"; return whole(v, 100, 5000, &o->chunk_pause_ms); }
    if (!strcmp(name, "vad-model")) return str(o->vad_model, sizeof o->vad_model, v);
    if (!strcmp(name, "live")) return boolean(v, &o->live);
    if (!strcmp(name, "app")) {   /* checked now: a typo had passed until a dictation in that app */
        *hint = " (PATTERN: key=value, ...)";
        if (!v || kl_app_check(v, err, n) != 0) return v ? -2 : -1;
        return list_add(&o->apps, name, v);
    }
    if (!strcmp(name, "notify")) return boolean(v, &o->notify);
    if (!strcmp(name, "ready-sound")) return str(o->ready_sound, sizeof o->ready_sound, v);
    return 1;
}

int kl_opts_set(kl_opts *o, const char *name, const char *v, char *err, size_t n)
{
    static const char *const triggers[] = { "evdev", "terminal", "none", NULL };
    static const char *const audios[] = { "auto", "pulse", "alsa", "file", NULL };
    static const char *const outputs[] = { "type", "paste", "copy", "print", NULL };
    static const char *const typers[] = { "auto", "wtype", "dotool", "ydotool", "xtest", "xdotool", "none", NULL };
    double d;
    int r = -1;
    const char *hint = "";
    if (!strcmp(name, "key")) {
        if (v && strlen(v) < sizeof o->key_name && !keys_parse(o, v) && !str(o->key_name, sizeof o->key_name, v)) r = 0;
        hint = " (a key name such as Insert, F16, RightCtrl, Pause, BTN_SIDE, or a code; several "
               "separated by commas, each with :LANG to record in that language: Insert,F16:de)";
    } else if (!strcmp(name, "mode")) {
        if (v && !strcmp(v, "hold")) { o->toggle = 0; r = 0; }
        if (v && !strcmp(v, "toggle")) { o->toggle = 1; r = 0; }
        hint = " (hold or toggle)";
    } else if (!strcmp(name, "trigger")) {
        r = one_of(o->trigger, sizeof o->trigger, v, triggers);
        hint = " (evdev, terminal or none)";
    } else if (!strcmp(name, "evdev-dir")) r = str(o->evdev_dir, sizeof o->evdev_dir, v);
    else if (!strcmp(name, "audio")) { r = one_of(o->audio, sizeof o->audio, v, audios); hint = " (auto, pulse, alsa or file)"; }
    else if (!strcmp(name, "source")) r = str(o->source, sizeof o->source, v);
    else if (!strcmp(name, "preroll")) { r = whole(v, 0, 5000, &o->preroll_ms); hint = " (0..5000 ms, a whole number)"; }
    else if (!strcmp(name, "max-seconds")) { if (!(r = ss_opt_num(v, 1, 3600, &d))) o->max_seconds = d; hint = " (1..3600 s)"; }
    else if (!strcmp(name, "min-ms")) { r = whole(v, 0, 10000, &o->min_ms); hint = " (0..10000 ms, a whole number)"; }
    else if (!strcmp(name, "output")) { r = one_of(o->output, sizeof o->output, v, outputs); hint = " (type, paste, copy or print)"; }
    else if (!strcmp(name, "typer")) { r = one_of(o->typer, sizeof o->typer, v, typers); hint = " (auto, wtype, dotool, ydotool, xtest, xdotool, none)"; }
    else if (!strcmp(name, "type-delay")) { r = whole(v, 0, 1000, &o->type_delay_ms); hint = " (0..1000 ms, a whole number)"; }
    else if (!strcmp(name, "modifier-wait")) { r = whole(v, 0, 10000, &o->modifier_wait_ms); hint = " (0..10000 ms, a whole number)"; }
    else if (!strcmp(name, "timeout")) { if (!(r = ss_opt_num(v, 1, 3600, &d))) o->timeout = d; hint = " (1..3600 s)"; }
    else if (!strcmp(name, "daemon-timeout")) { if (!(r = ss_opt_num(v, 0, 1e7, &d))) o->daemon_timeout = d; }
    else if (!strcmp(name, "model")) r = str(o->model, sizeof o->model, v);
    else if (!strcmp(name, "daemon")) r = str(o->daemon, sizeof o->daemon, v);
    else if (!strcmp(name, "no-start")) r = boolean(v, &o->no_start);
    else if (!strcmp(name, "keep-audio")) r = boolean(v, &o->keep_audio);
    else if (!strcmp(name, "send-silence")) r = boolean(v, &o->send_silence);
    else if (!strcmp(name, "log")) r = str(o->log, sizeof o->log, v);
    else if (!strcmp(name, "socket")) r = str(o->socket, sizeof o->socket, v);
    else if (!strcmp(name, "start-sound")) r = str(o->start_sound, sizeof o->start_sound, v);
    else if (!strcmp(name, "stop-sound")) r = str(o->stop_sound, sizeof o->stop_sound, v);
    else if (!strcmp(name, "sound-player")) r = str(o->sound_player, sizeof o->sound_player, v);
    else if ((r = set_more(o, name, v, &d, &hint, err, n)) == 1) {
        snprintf(err, n, "unknown option \"%s\"", name);
        return -1;
    } else if (r == -2) {
        char m[600];
        snprintf(m, sizeof m, "bad value for %s: %s", name, err);
        snprintf(err, n, "%s", m);
        return -1;
    }
    /* a long value is shown cut: the hint after it (the limit) had been cut off instead */
    if (r) snprintf(err, n, "bad value for %s: \"%.80s%s\"%s", name, v ? v : "", v && strlen(v) > 80 ? "…" : "", hint);
    return r;
}

#define KL_CONFIG_LINE_MAX 65536   /* bytes of one line: far above any setting (4096-byte
                                    * prompts, long rules), low enough to refuse a binary */

/* A value wholly in one pair of quotes, with no such quote inside, loses them ("a b" -> a b).
 * One with more quotes keeps them all: for a shell command such as
 * '/x/my hooks/up.sh' '--quiet' the outer pair had been stripped, leaving sh an unbalanced
 * line ("/x/my: not found"). */
static char *unquote(char *v)
{
    size_t l = strlen(v);
    if (l < 2 || (*v != '"' && *v != '\'') || v[l - 1] != *v || memchr(v + 1, *v, l - 2)) return v;
    v[l - 1] = 0;
    return v + 1;
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
    /* getline: a line is never split (a long initial-prompt had spilled into a new "option",
     * and an over-long comment gave an error naming the wrong line) */
    char *line = NULL, e2[512];
    size_t cap = 0;
    ssize_t len;
    int ln = 0, r = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        ln++;
        if (len > KL_CONFIG_LINE_MAX) {
            snprintf(err, n, "%s:%d: line longer than %d bytes", path, ln, KL_CONFIG_LINE_MAX);
            r = -1;
            break;
        }
        if ((size_t)len != strlen(line)) {
            snprintf(err, n, "%s:%d: a NUL byte in the line (not a text file?)", path, ln);
            r = -1;
            break;
        }
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (eq) *eq = 0;
        char *name = trim(s), *val = eq ? trim(eq + 1) : NULL;
        int raw = !strncmp(name, "replace", 7) || !strcmp(name, "app");   /* quote their own sides */
        if (!raw && val) val = unquote(val);
        if (kl_opts_set(o, name, val, e2, sizeof e2) != 0) {
            snprintf(err, n, "%s:%d: %s", path, ln, e2);
            r = -1;
            break;
        }
    }
    if (r == 0 && ferror(f)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        r = -1;
    }
    free(line);
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
