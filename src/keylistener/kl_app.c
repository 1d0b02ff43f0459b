/* kl_app.c — see kl_app.h. */
#include "keylistener/kl_app.h"

#include <ctype.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keylistener/kl_output.h"
#include "keylistener/kl_text.h"

static char *run_out(char *const argv[])
{
    char *out = NULL, e[256];
    size_t len;
    if (kl_run_io(argv, NULL, 0, 3, &out, &len, 32u << 20, e, sizeof e) != 0) { free(out); return NULL; }
    return out;
}

/* The focused sway node, depth first. */
static const json_t *sway_focused(const json_t *node)
{
    if (json_is_true(json_object_get(node, "focused"))) return node;
    const char *kids[] = { "nodes", "floating_nodes" };
    for (int k = 0; k < 2; k++) {
        const json_t *a = json_object_get(node, kids[k]), *c;
        size_t i;
        json_array_foreach(a, i, c) {
            const json_t *f = sway_focused(c);
            if (f) return f;
        }
    }
    return NULL;
}

static int focused_sway(char *names, size_t n)
{
    char *argv[] = { "swaymsg", "-r", "-t", "get_tree", NULL };
    char *out = run_out(argv);
    if (!out) return -1;
    json_t *tree = json_loads(out, 0, NULL);
    free(out);
    const json_t *f = tree ? sway_focused(tree) : NULL;
    const char *id = f ? json_string_value(json_object_get(f, "app_id")) : NULL;
    const json_t *wp = f ? json_object_get(f, "window_properties") : NULL;
    const char *cls = json_string_value(json_object_get(wp, "class"));
    const char *inst = json_string_value(json_object_get(wp, "instance"));
    int r = -1;
    if (id) { snprintf(names, n, "%s", id); r = 0; }
    else if (cls) { snprintf(names, n, "%s\t%s", inst ? inst : cls, cls); r = 0; }
    json_decref(tree);
    return r;
}

/* A compositor's JSON answer about the focused window: the string members k1 and k2 (when
 * there and different) as "k1\tk2". 0, or -1 (no answer, no such window: JSON null). */
static int json_names(char *const argv[], const char *k1, const char *k2, char *names, size_t n)
{
    char *out = run_out(argv);
    if (!out) return -1;
    json_t *o = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    const char *a = json_string_value(json_object_get(o, k1));
    const char *b = k2 ? json_string_value(json_object_get(o, k2)) : NULL;
    int r = -1;
    if (a && *a) {
        if (b && *b && strcmp(a, b)) snprintf(names, n, "%s\t%s", a, b);
        else snprintf(names, n, "%s", a);
        r = 0;
    } else if (b && *b) {
        snprintf(names, n, "%s", b);
        r = 0;
    }
    json_decref(o);
    return r;
}

/* Hyprland: {"class": "kitty", "initialClass": "kitty", "title": ...}; {} when none */
static int focused_hyprland(char *names, size_t n)
{
    char *argv[] = { "hyprctl", "-j", "activewindow", NULL };
    return json_names(argv, "class", "initialClass", names, n);
}

/* niri: {"app_id": "foot", "title": ...}, null when none */
static int focused_niri(char *names, size_t n)
{
    char *argv[] = { "niri", "msg", "--json", "focused-window", NULL };
    return json_names(argv, "app_id", NULL, names, n);
}

/* KDE Plasma (Wayland or X11) through kdotool: the class on one line */
static int focused_kde(char *names, size_t n)
{
    char *argv[] = { "kdotool", "getactivewindow", "getwindowclassname", NULL };
    char *out = run_out(argv);
    const size_t l = out ? strcspn(out, "\n") : 0;
    if (l) snprintf(names, n, "%.*s", (int)l, out);
    free(out);
    return l ? 0 : -1;
}

char *kl_gvariant_string(const char *text)
{
    static const char esc_in[] = "abfnrtv", esc_out[] = "\a\b\f\n\r\t\v";
    const char *p = text + strspn(text, " \t\n");
    if (*p++ != '(' || (*p != '\'' && *p != '"')) return NULL;
    const char q = *p++;
    char *s = malloc(strlen(p) + 1), *o = s;   /* decoded never longer than its text */
    if (!s) return NULL;
    for (;; p++) {
        if (!*p) goto bad;
        if (*p == q) break;
        if (*p != '\\') { *o++ = *p; continue; }
        if (!*++p) goto bad;
        const char *e = strchr(esc_in, *p);
        if (e) { *o++ = esc_out[e - esc_in]; continue; }
        if (*p != 'u' && *p != 'U') { *o++ = *p; continue; }   /* \\ \' \" */
        const int digits = *p == 'u' ? 4 : 8;
        unsigned long cp = 0;
        for (int i = 0; i < digits; i++) {
            const unsigned char h = (unsigned char)*++p;
            if (!isxdigit(h)) goto bad;
            cp = cp << 4 | (unsigned long)(isdigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (cp == 0 || cp >= 0x110000 || (cp >= 0xD800 && cp < 0xE000)) goto bad;
        /* a \uXXXX's 6 bytes of text hold its at most 3 bytes of UTF-8, \U's 10 hold 4 */
        o += kl_utf8_put(cp, o);
    }
    p++;
    if (strncmp(p, ",)", 2) || p[2 + strspn(p + 2, " \t\n")]) goto bad;
    *o = 0;
    return s;
bad:
    free(s);
    return NULL;
}

/* GNOME Shell has no focused-window query of its own (Shell.Eval is closed since GNOME 41):
 * the "Window Calls" extension's List (a JSON array, the focused window with "focus": true),
 * else "Window Calls Extended"'s FocusClass, through gdbus. Either extension missing is an
 * error from gdbus at once. */
static int focused_gnome(char *names, size_t n)
{
    char *list[] = { "gdbus", "call", "--session", "--dest", "org.gnome.Shell", "--object-path",
                     "/org/gnome/Shell/Extensions/Windows", "--method",
                     "org.gnome.Shell.Extensions.Windows.List", NULL };
    char *out = run_out(list), *s = out ? kl_gvariant_string(out) : NULL;
    json_t *a = s ? json_loads(s, 0, NULL) : NULL, *w;
    size_t i;
    int r = -1;
    free(out);
    free(s);
    json_array_foreach(a, i, w) {
        if (!json_is_true(json_object_get(w, "focus"))) continue;
        const char *cls = json_string_value(json_object_get(w, "wm_class"));
        const char *inst = json_string_value(json_object_get(w, "wm_class_instance"));
        if (cls && *cls && inst && *inst && strcmp(cls, inst)) snprintf(names, n, "%s\t%s", inst, cls);
        else if ((cls && *cls) || (inst && *inst)) snprintf(names, n, "%s", cls && *cls ? cls : inst);
        else break;
        r = 0;
        break;
    }
    json_decref(a);
    if (r == 0) return 0;
    if (a) return -2;   /* List answered: no focused window is the answer (no X11 guess after it) */
    char *ext[] = { "gdbus", "call", "--session", "--dest", "org.gnome.Shell", "--object-path",
                    "/org/gnome/Shell/Extensions/WindowsExt", "--method",
                    "org.gnome.Shell.Extensions.WindowsExt.FocusClass", NULL };
    out = run_out(ext);
    s = out ? kl_gvariant_string(out) : NULL;
    free(out);
    if (s && *s && !strpbrk(s, "\t\n")) { snprintf(names, n, "%s", s); r = 0; }
    free(s);
    return r;
}

/* WM_CLASS(STRING) = "xterm", "XTerm" -> "xterm\tXTerm" */
static int wm_class(const char *win, char *names, size_t n)
{
    char *argv[] = { "xprop", "-id", (char *)win, "WM_CLASS", NULL };
    char *out = run_out(argv);
    char *q1 = out ? strchr(out, '"') : NULL, *e1 = q1 ? strchr(q1 + 1, '"') : NULL;
    char *q2 = e1 ? strchr(e1 + 1, '"') : NULL, *e2 = q2 ? strchr(q2 + 1, '"') : NULL;
    int r = -1;
    if (e1) {
        snprintf(names, n, "%.*s\t%.*s", (int)(e1 - q1 - 1), q1 + 1,
                 e2 ? (int)(e2 - q2 - 1) : 0, e2 ? q2 + 1 : "");
        r = 0;
    }
    free(out);
    return r;
}

static int focused_x11(char *names, size_t n)
{
    char win[64] = "";
    char *act[] = { "xprop", "-root", "_NET_ACTIVE_WINDOW", NULL };
    char *out = run_out(act), *h = out ? strstr(out, "# 0x") : NULL;
    if (h && strtoul(h + 2, NULL, 16)) snprintf(win, sizeof win, "%.*s", (int)strcspn(h + 2, ", \n"), h + 2);
    free(out);
    if (!win[0]) {   /* no window manager (or it does not say): the input focus */
        char *foc[] = { "xdotool", "getwindowfocus", NULL };
        out = run_out(foc);
        if (out) snprintf(win, sizeof win, "%.*s", (int)strcspn(out, "\n"), out);
        free(out);
    }
    return win[0] ? wm_class(win, names, n) : -1;
}

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

int kl_focused_app(char *names, size_t n)
{
    const char *x = getenv("DISPLAY"), *desk = getenv("XDG_CURRENT_DESKTOP");
    /* the compositor's own answer first: under XWayland DISPLAY is set too, but X11 knows
     * only its own windows */
    if (env_set("SWAYSOCK") && kl_in_path("swaymsg") && focused_sway(names, n) == 0) return 0;
    if (env_set("HYPRLAND_INSTANCE_SIGNATURE") && kl_in_path("hyprctl") && focused_hyprland(names, n) == 0) return 0;
    if (env_set("NIRI_SOCKET") && kl_in_path("niri") && focused_niri(names, n) == 0) return 0;
    if ((env_set("KDE_FULL_SESSION") || (desk && strstr(desk, "KDE"))) && kl_in_path("kdotool") &&
        focused_kde(names, n) == 0)
        return 0;
    if (desk && strstr(desk, "GNOME") && kl_in_path("gdbus")) {
        /* GNOME said no window has the focus: asking X11 then could name an XWayland window
         * that is not focused, and apply its rule */
        const int g = focused_gnome(names, n);
        if (g == 0) return 0;
        if (g == -2) return -1;
    }
    if (x && *x && kl_in_path("xprop") && focused_x11(names, n) == 0) return 0;
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ') s++;
    size_t l = strlen(s);
    while (l && s[l - 1] == ' ') s[--l] = 0;
    return s;
}

/* 1 when one of pattern's |-alternatives (blanks around each ignored: "foot | kitty" had
 * looked for "foot " and " kitty") matches one of the tab-separated names. */
static int pattern_match(const char *pattern, const char *names)
{
    /* copies of any length: a fixed 256 bytes had cut a long pattern's later alternatives */
    char *pat = strdup(pattern), *nm = strdup(names);
    int hit = 0;
    char *sp = NULL;
    for (char *p = pat && nm ? strtok_r(pat, "|", &sp) : NULL; p && !hit; p = strtok_r(NULL, "|", &sp)) {
        strcpy(nm, names);
        char *sn = NULL;
        p = trim(p);
        for (char *q = strtok_r(nm, "\t", &sn); q && !hit; q = strtok_r(NULL, "\t", &sn))
            hit = *p && fnmatch(p, q, FNM_CASEFOLD) == 0;
    }
    free(pat);
    free(nm);
    return hit;
}

/* "key=value, ..." into out; 0 or -1. */
static int settings(char *s, kl_app_rule *out, char *err, size_t n)
{
    char *sp = NULL;
    for (char *kv = strtok_r(s, ",", &sp); kv; kv = strtok_r(NULL, ",", &sp)) {
        char *eq = strchr(kv, '=');
        if (!eq) { snprintf(err, n, "\"%s\": settings are key=value", trim(kv)); return -1; }
        *eq = 0;
        char *k = trim(kv), *v = trim(eq + 1);
        if (!strcmp(k, "output") && (!strcmp(v, "type") || !strcmp(v, "paste") || !strcmp(v, "copy") || !strcmp(v, "print")))
            snprintf(out->output, sizeof out->output, "%s", v);
        else if (!strcmp(k, "paste-chord") && *v) snprintf(out->paste_chord, sizeof out->paste_chord, "%s", v);
        else if (!strcmp(k, "enter") && (!strcasecmp(v, "yes") || !strcasecmp(v, "no"))) out->enter = !strcasecmp(v, "yes");
        else if (!strcmp(k, "profile") && *v) snprintf(out->profile, sizeof out->profile, "%s", v);
        else { snprintf(err, n, "\"%s=%s\": unknown setting or value (output, paste-chord, enter, profile)", k, v); return -1; }
    }
    return 0;
}

int kl_app_check(const char *rule, char *err, size_t n)
{
    char *buf = strdup(rule);
    if (!buf) { snprintf(err, n, "out of memory"); return -1; }
    int r = -1;
    char *colon = strchr(buf, ':');
    if (!colon) { snprintf(err, n, "\"%s\": a rule is PATTERN: key=value, ...", rule); goto cleanup; }
    *colon = 0;
    if (!*trim(buf)) { snprintf(err, n, "\"%s\": no pattern before the colon", rule); goto cleanup; }
    kl_app_rule tmp = { .enter = -1 };
    r = settings(colon + 1, &tmp, err, n);
cleanup:
    free(buf);
    return r;
}

int kl_app_match(const kl_list *apps, const char *names, kl_app_rule *out, char *err, size_t n)
{
    memset(out, 0, sizeof *out);
    out->enter = -1;
    for (size_t i = 0; i < apps->n; i++) {
        char buf[1024];
        const char *v = strchr(apps->v[i], '\t');
        snprintf(buf, sizeof buf, "%s", v ? v + 1 : apps->v[i]);
        char *colon = strchr(buf, ':');
        if (!colon) { snprintf(err, n, "\"%s\": a rule is PATTERN: key=value, ...", buf); return -1; }
        *colon = 0;
        char *pat = trim(buf);
        if (!names || !pattern_match(pat, names)) continue;
        if (settings(colon + 1, out, err, n) != 0) return -1;
        snprintf(out->pattern, sizeof out->pattern, "%s", pat);
        return 1;
    }
    return 0;
}
