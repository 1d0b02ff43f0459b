/* kl_xtest.c — see kl_xtest.h. */
#include "keylistener/kl_xtest.h"

#include <X11/XKBlib.h>
#include <X11/Xlib.h>
#include <X11/extensions/XTest.h>
#include <X11/keysym.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- pure parts ---- */

unsigned long kl_xtest_keysym(unsigned long cp)
{
    if (cp == '\n' || cp == '\r') return XK_Return;
    if (cp == '\t') return XK_Tab;
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return NoSymbol;
    if (cp < 0x100) return cp;               /* Latin-1 keysyms equal their code points */
    return 0x01000000UL + cp;                /* the Unicode keysym range (X11R6.8+) */
}

/* One code point from s (n >= 1 bytes); returns the bytes used. An invalid sequence gives
 * U+FFFD and uses its maximal valid prefix (at least one byte), as Unicode recommends. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    unsigned long v;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xc2 && c <= 0xdf) { need = 1; v = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2; v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;            /* overlong */
        if (c == 0xed) hi = 0x9f;            /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3; v = c & 0x07;
        if (c == 0xf0) lo = 0x90;            /* overlong */
        if (c == 0xf4) hi = 0x8f;            /* past U+10FFFF */
    } else { *cp = 0xfffd; return 1; }
    size_t i;
    for (i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) { *cp = 0xfffd; return i; }
        v = v << 6 | (s[i] & 0x3f);
        lo = 0x80; hi = 0xbf;
    }
    *cp = v;
    return i;
}

size_t kl_xtest_decode(const char *text, size_t len, unsigned long *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, k = 0;
    while (i < len) {
        unsigned long cp;
        i += utf8_next(s + i, len - i, &cp);
        if (cp == '\r' && i < len && s[i] == '\n') continue;   /* "\r\n": one Return */
        unsigned long ks = kl_xtest_keysym(cp);
        if (ks != NoSymbol) out[k++] = ks;
    }
    return k;
}

static size_t ks_hash(unsigned long ks)
{
    return (size_t)((ks * 0x9e3779b97f4a7c15ULL) >> 32);
}

int kl_xtest_batches(const unsigned long *syms, const unsigned char *missing, size_t n,
                     size_t nspare, unsigned *slot, size_t *ends, size_t *nb)
{
    /* The keysyms of the current batch in an open-addressed table at most half full; an
     * entry belongs to the batch whose number it carries, so a new batch needs no clearing
     * (linear in n, whatever the number of batches). */
    struct ent { unsigned long ks; size_t batch; unsigned slot; } *tab = NULL;
    size_t cap = 2, used = 0, batch = 1;
    int rc = -1;
    *nb = 0;
    while (cap < 2 * nspare) cap <<= 1;
    if (!(tab = calloc(cap, sizeof *tab))) goto cleanup;
    for (size_t i = 0; i < n; i++) {
        if (!missing[i]) continue;
        if (!nspare) goto cleanup;
        size_t h = ks_hash(syms[i]) & (cap - 1);
        while (tab[h].batch == batch && tab[h].ks != syms[i]) h = (h + 1) & (cap - 1);
        if (tab[h].batch == batch) { slot[i] = tab[h].slot; continue; }
        if (used == nspare) {                /* one spare too many: a new batch starts here */
            ends[(*nb)++] = i;
            batch++;
            used = 0;
            h = ks_hash(syms[i]) & (cap - 1);   /* every entry is stale now */
        }
        tab[h] = (struct ent){ syms[i], batch, (unsigned)used };
        slot[i] = (unsigned)used++;
    }
    if (n) ends[(*nb)++] = n;
    rc = 0;
cleanup:
    free(tab);
    return rc;
}

/* ---- typing ---- */

/* A keysym the keymap has: its keycode and whether Shift is needed. */
typedef struct { unsigned long ks; unsigned char kc, shift; } key_ent;

/* One typing call's state; nothing outside this file sees it. */
typedef struct {
    Display *dpy;
    int min_kc, max_kc, per;     /* keycode range; keysyms per keycode in the core map */
    KeySym *core;                /* the core map when typing started */
    key_ent *keys;               /* keysyms reachable with level 0 or Shift, sorted */
    size_t nkeys;
    KeyCode shift;               /* Shift_L's keycode, 0 when none */
    KeyCode spare[256];          /* keycodes with no keysym at all */
    size_t nspare, nbound;       /* spares usable; the first nbound hold our keysyms now */
    KeySym *rows;                /* nspare rows of per keysyms for XChangeKeyboardMapping */
    int delay_ms, bind_wait_ms, hold_ms;
} kl_xtest;

/* Xlib reports errors through process-wide handlers whose default exits the process; they
 * are replaced for the duration of one call, under this lock (which also keeps two calls
 * from binding the same spare keycodes). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_xerr, g_ioerr;

static int on_xerror(Display *d, XErrorEvent *e)
{
    (void)d;
    if (!g_xerr) g_xerr = e->error_code;
    return 0;
}

static int on_ioerror(Display *d)
{
    (void)d;
    g_ioerr = 1;
    return 0;
}

/* libX11 >= 1.7: called instead of exit() when the connection breaks; the Display is dead
 * afterwards and only XCloseDisplay is left to call. */
static void on_ioexit(Display *d, void *u)
{
    (void)d; (void)u;
    g_ioerr = 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* XSync and whether an error came back since the last check. */
static int synced_ok(kl_xtest *x)
{
    if (!g_ioerr) XSync(x->dpy, False);
    return !g_ioerr && !g_xerr;
}

static int key_cmp(const void *a, const void *b)
{
    const key_ent *p = a, *q = b;
    if (p->ks != q->ks) return p->ks < q->ks ? -1 : 1;
    if (p->shift != q->shift) return p->shift - q->shift;   /* level 0 first */
    return p->kc - q->kc;
}

static const key_ent *key_find(const kl_xtest *x, unsigned long ks)
{
    size_t lo = 0, hi = x->nkeys;
    while (lo < hi) {                    /* the first entry >= ks: level 0 before Shift */
        size_t mid = lo + (hi - lo) / 2;
        if (x->keys[mid].ks < ks) lo = mid + 1; else hi = mid;
    }
    return lo < x->nkeys && x->keys[lo].ks == ks ? &x->keys[lo] : NULL;
}

/* Reads the keymap: the core map (for spare keycodes and its width) and, through XKB, what
 * each key gives in the current group with the locked modifiers (Caps Lock, Num Lock) with
 * and without Shift — what the application will compute from the event's state. */
static int read_keymap(kl_xtest *x, char *err, size_t n)
{
    XkbDescPtr xkb = NULL;
    XkbStateRec st;
    int rc = -1;
    XDisplayKeycodes(x->dpy, &x->min_kc, &x->max_kc);
    int count = x->max_kc - x->min_kc + 1;
    x->core = XGetKeyboardMapping(x->dpy, (KeyCode)x->min_kc, count, &x->per);
    if (!x->core || x->per < 1) { snprintf(err, n, "xtest: cannot read the keymap"); goto cleanup; }
    xkb = XkbGetMap(x->dpy, XkbKeyTypesMask | XkbKeySymsMask, XkbUseCoreKbd);
    if (!xkb || XkbGetState(x->dpy, XkbUseCoreKbd, &st) != Success) {
        snprintf(err, n, "xtest: cannot read the XKB keymap");
        goto cleanup;
    }
    x->keys = malloc((size_t)count * 2 * sizeof *x->keys);
    if (!x->keys) { snprintf(err, n, "out of memory"); goto cleanup; }
    KeyCode shift = XKeysymToKeycode(x->dpy, XK_Shift_L);
    if (!shift) shift = XKeysymToKeycode(x->dpy, XK_Shift_R);
    x->shift = shift;
    for (int kc = x->min_kc; kc <= x->max_kc; kc++) {
        const KeySym *row = x->core + (size_t)(kc - x->min_kc) * (size_t)x->per;
        int empty = 1;
        for (int c = 0; c < x->per; c++) empty &= row[c] == NoSymbol;
        if (empty) {
            if (x->nspare < sizeof x->spare / sizeof x->spare[0]) x->spare[x->nspare++] = (KeyCode)kc;
            continue;
        }
        KeySym k0 = NoSymbol, k1 = NoSymbol;
        unsigned int used;
        XkbTranslateKeyCode(xkb, (KeyCode)kc, XkbBuildCoreState(st.locked_mods, st.group), &used, &k0);
        XkbTranslateKeyCode(xkb, (KeyCode)kc, XkbBuildCoreState(st.locked_mods | ShiftMask, st.group), &used, &k1);
        if (k0 != NoSymbol) x->keys[x->nkeys++] = (key_ent){ k0, (unsigned char)kc, 0 };
        if (k1 != NoSymbol && k1 != k0 && shift) x->keys[x->nkeys++] = (key_ent){ k1, (unsigned char)kc, 1 };
    }
    qsort(x->keys, x->nkeys, sizeof *x->keys, key_cmp);
    rc = 0;
cleanup:
    if (xkb) XkbFreeKeyboard(xkb, 0, True);
    return rc;
}

/* Writes rows (per keysyms each) to the first count spare keycodes: one request per run of
 * adjacent keycodes. Not one request across them: the real keys in between would be
 * rewritten through the core protocol, and the server would derive their XKB key types
 * from the core keysyms again. */
static void write_rows(kl_xtest *x, const KeySym *rows, size_t count)
{
    for (size_t i = 0; i < count;) {
        size_t j = i + 1;
        while (j < count && x->spare[j] == x->spare[j - 1] + 1) j++;
        XChangeKeyboardMapping(x->dpy, x->spare[i], x->per, (KeySym *)rows + i * (size_t)x->per, (int)(j - i));
        i = j;
    }
}

/* Puts the spare keycodes bound so far back as they were (no keysym), after the hold that
 * lets the clients read the keymap with the binding (kl_xtest.h). */
static int restore(kl_xtest *x)
{
    if (!x->nbound || g_ioerr) return 0;
    XSync(x->dpy, False);
    sleep_ms(x->hold_ms);
    for (size_t i = 0; i < x->nbound * (size_t)x->per; i++) x->rows[i] = NoSymbol;
    write_rows(x, x->rows, x->nbound);
    x->nbound = 0;
    return synced_ok(x) ? 0 : -1;
}

/* One key: Shift around it when needed, delay_ms split around the release. */
static void press(kl_xtest *x, KeyCode kc, int shift)
{
    if (shift) XTestFakeKeyEvent(x->dpy, x->shift, True, CurrentTime);
    XTestFakeKeyEvent(x->dpy, kc, True, CurrentTime);
    if (x->delay_ms > 0) { XFlush(x->dpy); sleep_ms(x->delay_ms / 2); }
    XTestFakeKeyEvent(x->dpy, kc, False, CurrentTime);
    if (shift) XTestFakeKeyEvent(x->dpy, x->shift, False, CurrentTime);
    if (x->delay_ms > 0) { XFlush(x->dpy); sleep_ms(x->delay_ms - x->delay_ms / 2); }
}

/* Binds the missing keysyms of syms[start, end) to spares (every column, so each group and
 * Shift state gives them) with slot[] and waits for the clients to see the new keymap. */
static int bind_batch(kl_xtest *x, const unsigned long *syms, const unsigned char *missing,
                      const unsigned *slot, size_t start, size_t end, char *err, size_t n)
{
    size_t used = 0;
    for (size_t i = start; i < end; i++) {
        if (!missing[i]) continue;
        for (int c = 0; c < x->per; c++) x->rows[(size_t)slot[i] * (size_t)x->per + (size_t)c] = syms[i];
        if (slot[i] + 1 > used) used = slot[i] + 1;
    }
    if (!used) return 0;
    if (x->nbound) {                     /* the previous batch's hold */
        XSync(x->dpy, False);
        sleep_ms(x->hold_ms);
    }
    write_rows(x, x->rows, used);
    if (used > x->nbound) x->nbound = used;
    if (!synced_ok(x)) { snprintf(err, n, "xtest: binding keysyms to spare keycodes failed (X error %d)", g_xerr); return -1; }
    sleep_ms(x->bind_wait_ms);
    return 0;
}

int kl_xtest_type(const char *text, int delay_ms, char *err, size_t n)
{
    kl_xtest x = { .delay_ms = delay_ms > 0 ? delay_ms : 0, .bind_wait_ms = KL_XTEST_BIND_WAIT_MS,
                   .hold_ms = KL_XTEST_HOLD_MS };
    unsigned long *syms = NULL;
    unsigned char *missing = NULL;
    unsigned *slot = NULL;
    size_t *ends = NULL, nsyms = 0, nb = 0, len = strlen(text);
    int rc = -1, op, ev, er, maj, min;
    const char *disp = getenv("DISPLAY"), *s = getenv("KL_XTEST_HOLD_MS");
    if (s && *s) { long v = strtol(s, NULL, 10); if (v >= 0 && v <= 5000) x.hold_ms = (int)v; }
    if (n) err[0] = 0;

    pthread_mutex_lock(&g_lock);
    g_xerr = g_ioerr = 0;
    XErrorHandler old_err = XSetErrorHandler(on_xerror);
    XIOErrorHandler old_io = XSetIOErrorHandler(on_ioerror);
    if (!disp || !*disp) { snprintf(err, n, "xtest: DISPLAY is not set"); goto cleanup; }
    if (!(x.dpy = XOpenDisplay(NULL))) { snprintf(err, n, "xtest: cannot open display %s", disp); goto cleanup; }
    XSetIOErrorExitHandler(x.dpy, on_ioexit, NULL);
    if (!XTestQueryExtension(x.dpy, &ev, &er, &maj, &min)) {
        snprintf(err, n, "xtest: display %s has no XTest extension", disp);
        goto cleanup;
    }
    maj = XkbMajorVersion; min = XkbMinorVersion;
    if (!XkbQueryExtension(x.dpy, &op, &ev, &er, &maj, &min)) {
        snprintf(err, n, "xtest: display %s has no XKB extension", disp);
        goto cleanup;
    }
    if (read_keymap(&x, err, n) != 0) goto cleanup;

    syms = malloc((len ? len : 1) * sizeof *syms);
    missing = malloc(len ? len : 1);
    slot = malloc((len ? len : 1) * sizeof *slot);
    ends = malloc((len ? len : 1) * sizeof *ends);
    x.rows = calloc(x.nspare ? x.nspare * (size_t)x.per : 1, sizeof *x.rows);
    if (!syms || !missing || !slot || !ends || !x.rows) { snprintf(err, n, "out of memory"); goto cleanup; }
    nsyms = kl_xtest_decode(text, len, syms);
    size_t nmissing = 0;
    for (size_t i = 0; i < nsyms; i++) {
        missing[i] = key_find(&x, syms[i]) == NULL;
        nmissing += missing[i];
    }
    if (kl_xtest_batches(syms, missing, nsyms, x.nspare, slot, ends, &nb) != 0) {
        if (nmissing && !x.nspare)
            snprintf(err, n, "xtest: no spare keycode to bind %zu keysym(s) without a key to", nmissing);
        else snprintf(err, n, "out of memory");
        goto cleanup;
    }

    for (size_t b = 0, start = 0; b < nb; start = ends[b++]) {
        if (bind_batch(&x, syms, missing, slot, start, ends[b], err, n) != 0) goto cleanup;
        for (size_t i = start; i < ends[b]; i++) {
            if (missing[i]) press(&x, x.spare[slot[i]], 0);
            else { const key_ent *k = key_find(&x, syms[i]); press(&x, k->kc, k->shift); }
            if (g_ioerr) break;
        }
        if (!synced_ok(&x)) {
            snprintf(err, n, "xtest: %s while typing", g_ioerr ? "the display connection broke" : "an X error");
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    /* the keymap goes back on every path; a failure here is worth reporting over success */
    if (x.dpy && restore(&x) != 0 && rc == 0) {
        snprintf(err, n, "xtest: restoring the keymap failed (X error %d)", g_xerr);
        rc = -1;
    }
    if (x.dpy) XCloseDisplay(x.dpy);
    XSetErrorHandler(old_err);
    XSetIOErrorHandler(old_io);
    pthread_mutex_unlock(&g_lock);
    if (x.core) XFree(x.core);
    free(x.keys);
    free(x.rows);
    free(syms);
    free(missing);
    free(slot);
    free(ends);
    return rc;
}
