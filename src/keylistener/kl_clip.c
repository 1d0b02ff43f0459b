/* kl_clip.c — see kl_clip.h. */
#include "keylistener/kl_clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keylistener/kl_output.h"

#define CLIP_MAX (64u << 20)    /* a saved clipboard larger than this is not kept */

int kl_clip_kind(void)
{
    const char *wl = getenv("WAYLAND_DISPLAY"), *x = getenv("DISPLAY");
    if (wl && *wl && kl_in_path("wl-copy") && kl_in_path("wl-paste")) return 1;
    if (x && *x && kl_in_path("xclip")) return 0;
    return -1;
}

/* Runs a reader (wl-paste, xclip -o); its stdout, or NULL when it failed. *hung (may be
 * NULL) says how: 1 when it could not finish (its owner did not answer in 5 s, over
 * CLIP_MAX, not runnable), 0 when the tool said no (nothing to read). */
static char *read_tool(char *const argv[], size_t *len, int *hung)
{
    char *out = NULL, e[256];
    const int rc = kl_run_io(argv, NULL, 0, 5, &out, len, CLIP_MAX, e, sizeof e);
    if (hung) *hung = rc < 0;
    if (rc != 0) { free(out); return NULL; }
    return out;
}

/* The type to keep from a newline-separated list of offered types ("" when none is data). */
static void pick_type(const char *list, char *type, size_t n)
{
    static const char *const meta[] = { "TARGETS", "TIMESTAMP", "MULTIPLE", "SAVE_TARGETS", "DELETE", NULL };
    static const char *const text[] = { "text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "STRING", NULL };
    char first[128] = "", img[128] = "", txt[128] = "";
    int txt_rank = 99;
    for (const char *s = list; *s;) {
        size_t l = strcspn(s, "\n");
        char t[128];
        snprintf(t, sizeof t, "%.*s", (int)(l < sizeof t ? l : sizeof t - 1), s);
        s += l + (s[l] == '\n');
        int is_meta = !t[0];
        for (int i = 0; meta[i]; i++) is_meta |= !strcmp(t, meta[i]);
        if (is_meta) continue;
        if (!first[0]) snprintf(first, sizeof first, "%s", t);
        if (!strncmp(t, "image/", 6) && (!img[0] || !strcmp(t, "image/png"))) snprintf(img, sizeof img, "%s", t);
        for (int i = 0; text[i]; i++)
            if (!strcmp(t, text[i]) && i < txt_rank) { txt_rank = i; snprintf(txt, sizeof txt, "%s", t); }
    }
    snprintf(type, n, "%s", img[0] ? img : txt[0] ? txt : first);
}

int kl_clip_save(kl_clip_saved *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    int k = kl_clip_kind();
    if (k < 0) { snprintf(err, n, "no clipboard tool (wl-copy/wl-paste with WAYLAND_DISPLAY, xclip with DISPLAY)"); return -1; }
    s->wayland = k;
    s->valid = 1;
    size_t len = 0;
    char *wl_list[] = { "wl-paste", "--list-types", NULL };
    char *x_list[] = { "xclip", "-selection", "clipboard", "-o", "-t", "TARGETS", NULL };
    int hung = 0;
    char *types = read_tool(k ? wl_list : x_list, &len, &hung);
    if (types) pick_type(types, s->type, sizeof s->type);
    free(types);
    if (hung) goto unsaveable;   /* an owner that does not answer is not an empty clipboard:
                                  * taken as one, paste mode had wiped it and logged "restored" */
    if (!s->type[0]) {
        /* no type list (nothing copied, or an owner without TARGETS): its text, if any */
        char *wl_txt[] = { "wl-paste", "-n", NULL };
        char *x_txt[] = { "xclip", "-selection", "clipboard", "-o", "-t", "UTF8_STRING", NULL };
        s->data = read_tool(k ? wl_txt : x_txt, &s->len, &hung);
        if (hung) goto unsaveable;
        if (!s->data) { s->empty = 1; return 0; }      /* nothing copied (or no owner) */
        snprintf(s->type, sizeof s->type, "%s", k ? "text/plain;charset=utf-8" : "UTF8_STRING");
        return 0;
    }
    char *wl_get[] = { "wl-paste", "-n", "-t", s->type, NULL };
    char *x_get[] = { "xclip", "-selection", "clipboard", "-o", "-t", s->type, NULL };
    s->data = read_tool(k ? wl_get : x_get, &s->len, NULL);
    if (!s->data) {
        /* not empty: unknown (over CLIP_MAX, or its owner did not answer). Restoring it as
         * empty had wiped a 70 MB clipboard and logged "restored" */
        goto unsaveable;
    }
    return 0;
unsaveable:
    s->valid = 0;
    snprintf(err, n, "the clipboard's %s content could not be saved (over %u MiB, or its owner did not answer in 5 s)",
             s->type[0] ? s->type : "current", CLIP_MAX >> 20);
    return -2;
}

static int set_data(int wayland, const char *type, const void *data, size_t len, char *err, size_t n)
{
    if (wayland) {
        char *argv[] = { "wl-copy", "-t", (char *)type, NULL };
        char *clear[] = { "wl-copy", "--clear", NULL };
        return kl_run_n(type ? argv : clear, data, len, 10, err, n) == 0 ? 0 : -1;
    }
    char *argv[] = { "xclip", "-selection", "clipboard", "-t", (char *)(type ? type : "UTF8_STRING"), "-in", NULL };
    return kl_run_n(argv, data, len, 10, err, n) == 0 ? 0 : -1;
}

int kl_clip_set_text(const char *text, char *how, size_t hn, char *err, size_t n)
{
    int k = kl_clip_kind();
    if (k < 0) { snprintf(err, n, "no clipboard tool (wl-copy with WAYLAND_DISPLAY, xclip with DISPLAY)"); return -1; }
    /* the plain tools: they offer every text type applications ask for */
    char *wl[] = { "wl-copy", NULL };
    char *x[] = { "xclip", "-selection", "clipboard", "-in", NULL };
    if (kl_run(k ? wl : x, text, 10, err, n) != 0) return -1;
    snprintf(how, hn, "clipboard (%s)", k ? "wl-copy" : "xclip");
    return 0;
}

char *kl_clip_get_text(int wayland)
{
    size_t len = 0;
    char *wl[] = { "wl-paste", "-n", "-t", "text/plain;charset=utf-8", NULL };
    char *x[] = { "xclip", "-selection", "clipboard", "-o", "-t", "UTF8_STRING", NULL };
    return read_tool(wayland ? wl : x, &len, NULL);
}

void kl_clip_saved_free(kl_clip_saved *s)
{
    free(s->data);
    memset(s, 0, sizeof *s);
}

int kl_clip_restore(kl_clip_saved *s, const char *ours, char *err, size_t n)
{
    int r = 0;
    if (!s->valid) return 0;
    if (ours) {
        char *now = kl_clip_get_text(s->wayland);
        int still = now && !strcmp(now, ours);
        free(now);
        if (!still) goto cleanup;    /* the user copied something since: theirs stays */
    }
    /* also while shutting down (SIGTERM: systemd stopping the listener): the user's content
     * goes back, as docs/key_listener.md promises, bounded by set_data's 10 s */
    kl_run_uninterrupted(1);
    if (s->empty) r = set_data(s->wayland, NULL, "", 0, err, n);
    else r = set_data(s->wayland, s->type, s->data, s->len, err, n);
    kl_run_uninterrupted(0);
    r = r == 0 ? 1 : -1;
cleanup:
    kl_clip_saved_free(s);
    return r;
}
