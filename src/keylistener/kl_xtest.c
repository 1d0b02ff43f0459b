/* kl_xtest.c — see kl_xtest.h. */
#include "keylistener/kl_xtest.h"
#include "keylistener/kl_text.h"   /* kl_utf8_next */

#include <X11/XKBlib.h>
#include <X11/Xauth.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XTest.h>
#include <X11/keysym.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- pure parts ---- */

unsigned long kl_xtest_keysym(unsigned long cp)
{
    if (cp == '\n' || cp == '\r') return XK_Return;
    if (cp == '\t') return XK_Tab;
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return NoSymbol;
    if (cp < 0x100) return cp;               /* Latin-1 keysyms equal their code points */
    return 0x01000000UL + cp;                /* the Unicode keysym range (X11R6.8+) */
}

size_t kl_xtest_decode(const char *text, size_t len, unsigned long *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, k = 0;
    while (i < len) {
        unsigned long cp;
        i += kl_utf8_next(s + i, len - i, &cp);
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

/* ---- chords and case (pure) ---- */

static unsigned long mod_keysym(const char *m)
{
    if (!strcasecmp(m, "ctrl") || !strcasecmp(m, "control")) return XK_Control_L;
    if (!strcasecmp(m, "shift")) return XK_Shift_L;
    if (!strcasecmp(m, "alt")) return XK_Alt_L;
    if (!strcasecmp(m, "super") || !strcasecmp(m, "meta") || !strcasecmp(m, "logo")) return XK_Super_L;
    return NoSymbol;
}

/* The keysym a chord's key names: its X name ("v", "Return", "Insert", "F5"), else the same
 * capitalized ("return", "insert"); "enter" is Return. A single capital letter means the
 * letter's key: "ctrl+V" is Ctrl+v (xdotool would add Shift; write shift+v for that). */
static unsigned long key_keysym(const char *k)
{
    char buf[64];
    if (!k[0] || strlen(k) >= sizeof buf) return NoSymbol;
    if (!strcasecmp(k, "enter")) return XK_Return;
    snprintf(buf, sizeof buf, "%s", k);
    if (!buf[1]) buf[0] = (char)tolower((unsigned char)buf[0]);
    KeySym ks = XStringToKeysym(buf);
    if (ks != NoSymbol || !buf[1]) return ks;
    buf[0] = (char)toupper((unsigned char)buf[0]);
    for (char *c = buf + 1; *c; c++) *c = (char)tolower((unsigned char)*c);
    return XStringToKeysym(buf);
}

int kl_xtest_chord_parse(const char *chord, unsigned long *mods, size_t *nmods, unsigned long *key)
{
    char buf[128], *save = NULL, *last = NULL;
    *nmods = 0;
    *key = NoSymbol;
    if (strlen(chord) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", chord);
    for (char *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        if (last) {
            unsigned long m = mod_keysym(last);
            size_t j = 0;
            if (m == NoSymbol) return -1;
            while (j < *nmods && mods[j] != m) j++;
            if (j == *nmods) {                   /* "ctrl+control+v": Ctrl once */
                if (*nmods == KL_XTEST_MAX_MODS) return -1;
                mods[(*nmods)++] = m;
            }
        }
        last = t;
    }
    if (!last) return -1;
    *key = key_keysym(last);
    return *key == NoSymbol ? -1 : 0;
}

/* The lower- and upper-case forms of ks when it is one of a Latin-1 pair (é/É), else 0.
 * Only Latin-1: the server gives a key the ALPHABETIC type only for a pair its own case
 * tables know, and the Unicode keysyms it does not (ж/Ж became TWO_LEVEL: Shift gave Ж
 * under Caps Lock); Xlib pairs ß with 0x1e9e, a keysym with no character. Measured in Xvfb
 * + xterm: bound the same in every column, é came out É under Caps Lock, ß, ж, Ω as they
 * are (xterm upper-cases only Latin-1 keysyms for an unconsumed Lock). */
static int case_pair(unsigned long ks, KeySym *lo, KeySym *up)
{
    XConvertCase(ks, lo, up);
    return *lo != *up && (ks == *lo || ks == *up) && *lo < 0x100 && *up < 0x100;
}

int kl_xtest_spare_row(unsigned long ks, int per, unsigned long *row)
{
    KeySym lo, up;
    int pair = per >= 2 && case_pair(ks, &lo, &up);
    for (int c = 0; c < per; c++) {
        if (!pair) row[c] = ks;
        else row[c] = c >= 4 ? NoSymbol : c % 2 ? up : lo;
    }
    return pair;
}

/* ---- the guard: no X call waits forever ---- */

/* A thread that shuts the display's socket down when the call it watches made no progress
 * for KL_XTEST_REPLY_MS: Xlib's read or write then fails at once and the connection is
 * reported broken (an I/O error), instead of waiting for a server that does not answer. It
 * holds its own dup of the socket, so a shutdown can never hit an fd reused elsewhere. */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd, started, stop, fired;
    struct timespec deadline;    /* tv_sec 0: paused */
} xguard;

static void *guard_run(void *a)
{
    xguard *g = a;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        if (!g->deadline.tv_sec) { pthread_cond_wait(&g->cv, &g->mu); continue; }
        struct timespec dl = g->deadline, now;
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) != ETIMEDOUT) continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!g->deadline.tv_sec || now.tv_sec < g->deadline.tv_sec ||
            (now.tv_sec == g->deadline.tv_sec && now.tv_nsec < g->deadline.tv_nsec))
            continue;                    /* progress was made meanwhile: a later deadline */
        shutdown(g->fd, SHUT_RDWR);
        g->fired = 1;
        g->deadline.tv_sec = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static int guard_start(xguard *g, int xfd)
{
    pthread_condattr_t ca;
    g->fd = fcntl(xfd, F_DUPFD_CLOEXEC, 0);   /* not inherited by a tool spawned meanwhile */
    if (g->fd < 0) return -1;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&g->th, NULL, guard_run, g) != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        close(g->fd);
        return -1;
    }
    g->started = 1;
    return 0;
}

/* Progress: the next KL_XTEST_REPLY_MS are allowed for what follows. */
static void guard_beat(xguard *g)
{
    if (!g->started) return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += KL_XTEST_REPLY_MS / 1000;
    t.tv_nsec += (long)(KL_XTEST_REPLY_MS % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&g->mu);
    /* while watching, no signal: the guard wakes at the old deadline and sees the new one.
     * Paused (or not yet started watching), it waits without a timeout: wake it, or it
     * would sleep through a server that stops answering from here on */
    const int paused = !g->deadline.tv_sec;
    g->deadline = t;
    if (paused) pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void guard_pause(xguard *g)
{
    if (!g->started) return;
    pthread_mutex_lock(&g->mu);
    g->deadline.tv_sec = 0;
    pthread_mutex_unlock(&g->mu);
}

static int guard_stop(xguard *g)
{
    if (!g->started) return 0;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    close(g->fd);
    g->started = 0;
    return g->fired;
}

/* Where DISPLAY's server listens, read as Xlib (libxcb's xcb_parse_display) reads
 * "[protocol/][host]:number[.screen]": the local socket when there is no host (or it is
 * "unix"), else TCP port 6000 + number on host (ssh's X forwarding: "localhost:10.0";
 * "[::1]:0"). 0, or -1 for a form not probed (a socket path, another protocol):
 * XOpenDisplay decides then. */
static int display_addr(const char *disp, char *host, size_t hn, long *num)
{
    const char *colon = strrchr(disp, ':'), *slash = strchr(disp, '/'), *h = disp;
    char *end;
    int tcp = 0, local = 0;
    if (!colon) return -1;
    if (slash && slash < colon) {
        const size_t pl = (size_t)(slash - disp);
        if ((pl == 3 && !strncmp(disp, "tcp", 3)) || (pl == 4 && !strncmp(disp, "inet", 4)) ||
            (pl == 5 && !strncmp(disp, "inet6", 5)))
            tcp = 1;
        else if ((pl == 4 && !strncmp(disp, "unix", 4)) || (pl == 5 && !strncmp(disp, "local", 5)))
            local = 1;   /* the local socket whatever the host says, as libxcb */
        else
            return -1;
        h = slash + 1;
    }
    size_t hl = (size_t)(colon - h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { h++; hl -= 2; }   /* [::1]:0 */
    if (hl >= hn) return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    *num = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *num < 0 || *num > 59535 || (*end && *end != '.')) return -1;
    if (local || (!tcp && (!hl || !strcmp(host, "unix")))) host[0] = 0;
    else if (!hl) snprintf(host, hn, "localhost");   /* "tcp/:0" */
    return 0;
}

static long ms_left(const struct timespec *dl)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const long ms = (dl->tv_sec - now.tv_sec) * 1000L + (dl->tv_nsec - now.tv_nsec) / 1000000L;
    return ms > 0 ? ms : 0;
}

/* poll for ev until the deadline (EINTR resumed): 1 ready, 0 timed out. */
static int poll_until(int fd, short ev, const struct timespec *dl)
{
    struct pollfd p = { fd, ev, 0 };
    int k;
    while ((k = poll(&p, 1, (int)ms_left(dl))) < 0 && errno == EINTR) {}
    return k > 0;
}

/* A non-blocking connect finished by the deadline: 1 connected, 0 refused (or no such
 * socket), -1 no answer in time (a full backlog of a stopped local server, a silent host). */
static int connect_until(int fd, const struct sockaddr *a, socklen_t len, const struct timespec *dl)
{
    int e = 0;
    socklen_t el = sizeof e;
    if (connect(fd, a, len) == 0) return 1;
    if (errno == EAGAIN) return -1;                  /* AF_UNIX: the listener's queue is full */
    if (errno != EINPROGRESS) return 0;
    if (!poll_until(fd, POLLOUT, dl)) return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e) return 0;
    return 1;
}

/* A connected socket, or -1 refused (XOpenDisplay decides), or -2 no answer in time. */
static int connect_display(const char *host, long num, const struct timespec *dl)
{
    int fd = -1, c = 0;
    if (!host[0]) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "/tmp/.X11-unix/X%ld", num);
        /* the abstract name first (as Xlib on Linux), then the file */
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) return -1;
        c = connect_until(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len), dl);
        if (c == 0) {
            close(fd);
            memmove(a.sun_path, a.sun_path + 1, (size_t)len + 1);
            if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) return -1;
            c = connect_until(fd, (struct sockaddr *)&a, sizeof a, dl);
        }
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *r;
        char port[16];
        snprintf(port, sizeof port, "%ld", 6000 + num);
        if (getaddrinfo(host, port, &hints, &ai) != 0) return -1;
        for (r = ai; r && c == 0; r = r->ai_next) {
            if (fd >= 0) close(fd);
            if ((fd = socket(r->ai_family, r->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, r->ai_protocol)) < 0) continue;
            c = connect_until(fd, r->ai_addr, r->ai_addrlen, dl);
        }
        freeaddrinfo(ai);
    }
    if (c == 1) return fd;
    if (fd >= 0) close(fd);
    return c < 0 ? -2 : -1;
}

/* The connection setup the probe sends on fd: little-endian, X11.0, with the display's
 * MIT-MAGIC-COOKIE-1 from the Xauthority file when there is one, looked up as libxcb does
 * (the local socket and 127.0.0.1 by this host's name, another host by its address). A setup
 * without the cookie is answered too (a refusal), but the server logs the refusal - Xorg in
 * its log, and ssh's X forwarding ("X11 connection rejected because of wrong
 * authentication.") on the user's terminal - once per text typed. Its length, or 0. */
static size_t setup_packet(int fd, long num, unsigned char *pkt, size_t cap)
{
    static char mit[] = "MIT-MAGIC-COOKIE-1";
    char *names[] = { mit };
    int lens[] = { (int)sizeof mit - 1 };
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    unsigned short family = FamilyLocal;
    char host[256], dnum[24];
    const char *addr = NULL;
    size_t alen = 0;
    Xauth *a = NULL;
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) {
        if (peer.ss_family == AF_INET) {
            const struct in_addr *in = &((const struct sockaddr_in *)&peer)->sin_addr;
            if (in->s_addr != htonl(INADDR_LOOPBACK)) { family = FamilyInternet; addr = (const char *)in; alen = 4; }
        } else if (peer.ss_family == AF_INET6) {
            const struct in6_addr *in6 = &((const struct sockaddr_in6 *)&peer)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(in6)) { family = FamilyInternet; addr = (const char *)in6->s6_addr + 12; alen = 4; }
            else if (!IN6_IS_ADDR_LOOPBACK(in6)) { family = FamilyInternet6; addr = (const char *)in6->s6_addr; alen = 16; }
            /* ::1 (where "localhost" resolves to it first: ssh's localhost:10) is local, as
             * for libxcb: the cookie is looked up by this host's name */
            if (family == FamilyInternet && !memcmp(addr, "\x7f\0\0\x01", 4)) family = FamilyLocal;
        }
    }
    if (family == FamilyLocal) {
        if (gethostname(host, sizeof host) != 0) host[0] = 0;
        host[sizeof host - 1] = 0;
        addr = host;
        alen = strlen(host);
    }
    snprintf(dnum, sizeof dnum, "%ld", num);
    if (alen) a = XauGetBestAuthByAddr(family, (unsigned short)alen, addr, (unsigned short)strlen(dnum), dnum, 1, names, lens);
    size_t nl = a ? a->name_length : 0, dl = a ? a->data_length : 0;
    size_t total = 12 + ((nl + 3) & ~(size_t)3) + ((dl + 3) & ~(size_t)3);
    if (total > cap) {
        /* an entry too long for the packet (no real cookie is): the setup without it. Any
         * reply, a refusal too, says the server answers, which is all the probe asks; it
         * had given up, reporting a working display as one that "does not answer" */
        XauDisposeAuth(a);
        a = NULL;
        nl = dl = 0;
        total = 12;
    }
    memset(pkt, 0, total);
    pkt[0] = 'l';
    pkt[2] = 11;
    pkt[6] = (unsigned char)(nl & 0xff); pkt[7] = (unsigned char)(nl >> 8);
    pkt[8] = (unsigned char)(dl & 0xff); pkt[9] = (unsigned char)(dl >> 8);
    if (a) {
        memcpy(pkt + 12, a->name, nl);
        memcpy(pkt + 12 + ((nl + 3) & ~(size_t)3), a->data, dl);
        XauDisposeAuth(a);
    }
    return total;
}

/* 0 when the display's server answered a connection setup within ms, or when it refused the
 * connection or the display is of a form not probed (XOpenDisplay decides then); -1 with
 * err when it did not answer. XOpenDisplay itself would wait for that answer forever: a
 * stopped server accepts connections (the kernel queues them) and never replies. Local
 * sockets and TCP (a remote display, ssh's forwarding) alike. */
static int probe_display(const char *disp, int ms, char *err, size_t n)
{
    unsigned char setup[12 + 20 + 260];
    char host[256];
    long num;
    struct timespec dl;
    if (display_addr(disp, host, sizeof host, &num) != 0) return 0;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    const int fd = connect_display(host, num, &dl);
    int rc = fd == -2 ? -1 : 0;
    const size_t len = fd >= 0 ? setup_packet(fd, num, setup, sizeof setup) : 0;
    if (fd >= 0 && (!len || send(fd, setup, len, MSG_NOSIGNAL) != (ssize_t)len || !poll_until(fd, POLLIN, &dl)))
        rc = -1;
    if (rc) snprintf(err, n, "xtest: display %s does not answer (no reply to a connection in %d ms)", disp, ms);
    if (fd >= 0) close(fd);
    return rc;
}

/* ---- typing ---- */

/* A keysym the keymap has: its keycode and whether Shift is needed. */
typedef struct { unsigned long ks; unsigned char kc, shift; } key_ent;

/* One call's state (typing or a chord); nothing outside this file sees it. */
typedef struct {
    Display *dpy;
    xguard guard;
    XErrorHandler old_err;
    XIOErrorHandler old_io;
    int min_kc, max_kc, per;     /* keycode range; keysyms per keycode in the core map */
    KeySym *core;                /* the core map when typing started */
    key_ent *keys;               /* keysyms reachable with level 0 or Shift, sorted */
    size_t nkeys;
    KeyCode shift;               /* Shift_L's keycode, 0 when none */
    int lock;                    /* Caps Lock is on */
    KeyCode spare[256];          /* keycodes with no keysym at all */
    size_t nspare, nbound;       /* spares usable; the first nbound hold our keysyms now */
    size_t typed;                /* keys of the text pressed so far */
    KeySym *rows;                /* nspare rows of per keysyms for XChangeKeyboardMapping */
    KeyCode down[KL_XTEST_MAX_MODS + 2];   /* a chord's keys pressed and not yet released */
    size_t ndown;
    int delay_ms, bind_wait_ms, hold_ms;
} kl_xtest;

/* Xlib reports errors through process-wide handlers whose default exits the process; they
 * are replaced for the duration of one call, under this lock (which also keeps two calls
 * from binding the same spare keycodes). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_xerr, g_ioerr;
/* Set by kl_xtest_interrupt (a signal handler may call it): lock-free, so async-signal-safe. */
static atomic_int g_interrupted;

void kl_xtest_interrupt(void)
{
    atomic_store(&g_interrupted, 1);
}

int kl_xtest_interrupted(void)
{
    return atomic_load(&g_interrupted);
}

int kl_xtest_quiesce(int ms)
{
    struct timespec t;
    kl_xtest_interrupt();
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
    if (pthread_mutex_timedlock(&g_lock, &t) != 0) return -1;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

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

/* A wait between X calls: not counted against the guard's bound. */
static void xsleep(kl_xtest *x, int ms)
{
    if (ms <= 0) return;
    guard_pause(&x->guard);
    sleep_ms(ms);
    guard_beat(&x->guard);
}

/* XSync and whether an error came back since the last check. */
static int synced_ok(kl_xtest *x)
{
    if (!g_ioerr) XSync(x->dpy, False);
    guard_beat(&x->guard);
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
    x->lock = (st.locked_mods & LockMask) != 0;
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
    xsleep(x, x->hold_ms);
    for (size_t i = 0; i < x->nbound * (size_t)x->per; i++) x->rows[i] = NoSymbol;
    write_rows(x, x->rows, x->nbound);
    x->nbound = 0;
    return synced_ok(x) ? 0 : -1;
}

/* Whether a keysym bound to a spare keycode is pressed with Shift: a case pair is bound as
 * lower/upper (kl_xtest_spare_row), whose level the application picks from Shift XOR Caps
 * Lock; anything else is the same in every column and needs no Shift. */
static int spare_shift(const kl_xtest *x, unsigned long ks)
{
    KeySym lo, up;
    if (!x->shift || x->per < 2 || !case_pair(ks, &lo, &up)) return 0;
    return (ks == up) != (x->lock != 0);
}

/* One key: Shift around it when needed, press and release in one write, then delay_ms.
 * Not split around the release (xdotool's way): a connection cut by the guard while the
 * server was slow (a grab) had left the key and Shift held — the server had read the press,
 * and the release died with the connection. */
static void press(kl_xtest *x, KeyCode kc, int shift)
{
    if (shift) XTestFakeKeyEvent(x->dpy, x->shift, True, CurrentTime);
    XTestFakeKeyEvent(x->dpy, kc, True, CurrentTime);
    XTestFakeKeyEvent(x->dpy, kc, False, CurrentTime);
    if (shift) XTestFakeKeyEvent(x->dpy, x->shift, False, CurrentTime);
    if (x->delay_ms > 0) { XFlush(x->dpy); xsleep(x, x->delay_ms); }
    guard_beat(&x->guard);
}

/* Binds the missing keysyms of syms[start, end) to spares with slot[] (kl_xtest_spare_row:
 * every column, a case pair as lower/upper) and waits for the clients to see the new keymap. */
static int bind_batch(kl_xtest *x, const unsigned long *syms, const unsigned char *missing,
                      const unsigned *slot, size_t start, size_t end, char *err, size_t n)
{
    size_t used = 0;
    for (size_t i = start; i < end; i++) {
        if (!missing[i]) continue;
        kl_xtest_spare_row(syms[i], x->per, (unsigned long *)x->rows + (size_t)slot[i] * (size_t)x->per);
        if (slot[i] + 1 > used) used = slot[i] + 1;
    }
    if (!used) return 0;
    if (x->nbound) {                     /* the previous batch's hold */
        XSync(x->dpy, False);
        xsleep(x, x->hold_ms);
    }
    write_rows(x, x->rows, used);
    if (used > x->nbound) x->nbound = used;
    if (!synced_ok(x)) { snprintf(err, n, "xtest: binding keysyms to spare keycodes failed (X error %d)", g_xerr); return -1; }
    xsleep(x, x->bind_wait_ms);
    return 0;
}

/* Opens the display for one call: the lock and error handlers first (session_end undoes
 * whatever was done, also after a failure here), then the probe, the connection, its
 * guard, the extensions and the keymap. 0, or -1 with err. */
static int session_begin(kl_xtest *x, char *err, size_t n)
{
    const char *disp = getenv("DISPLAY");
    int op, ev, er, maj, min;
    pthread_mutex_lock(&g_lock);
    g_xerr = g_ioerr = 0;
    x->old_err = XSetErrorHandler(on_xerror);
    x->old_io = XSetIOErrorHandler(on_ioerror);
    if (kl_xtest_interrupted()) { snprintf(err, n, "xtest: interrupted (shutting down)"); return -1; }
    if (!disp || !*disp) { snprintf(err, n, "xtest: DISPLAY is not set"); return -1; }
    if (probe_display(disp, KL_XTEST_REPLY_MS, err, n) != 0) return -1;
    if (!(x->dpy = XOpenDisplay(NULL))) {
        /* Xvfb drops a new connection now and then when another one closed just before (the
         * probe's, the last call's: `--enter`'s Return right after the text): 4 of 30 bare
         * XOpenDisplay/XCloseDisplay pairs in a row failed, none with 0.1 s between them */
        struct timespec beat = { 0, 50000000L };
        nanosleep(&beat, NULL);
        if (!kl_xtest_interrupted()) x->dpy = XOpenDisplay(NULL);
    }
    if (!x->dpy) { snprintf(err, n, "xtest: cannot open display %s", disp); return -1; }
    XSetIOErrorExitHandler(x->dpy, on_ioexit, NULL);
    if (guard_start(&x->guard, ConnectionNumber(x->dpy)) != 0) { snprintf(err, n, "xtest: cannot start the guard thread"); return -1; }
    guard_beat(&x->guard);
    if (!XTestQueryExtension(x->dpy, &ev, &er, &maj, &min)) {
        snprintf(err, n, "xtest: display %s has no XTest extension", disp);
        return -1;
    }
    maj = XkbMajorVersion; min = XkbMinorVersion;
    if (!XkbQueryExtension(x->dpy, &op, &ev, &er, &maj, &min)) {
        snprintf(err, n, "xtest: display %s has no XKB extension", disp);
        return -1;
    }
    if (read_keymap(x, err, n) != 0) return -1;
    x->rows = calloc(x->nspare ? x->nspare * (size_t)x->per : 1, sizeof *x->rows);
    if (!x->rows) { snprintf(err, n, "out of memory"); return -1; }
    return 0;
}

/* Ends a call on every path: keys still down released, the keymap put back (while the
 * display answers), the display closed, the guard stopped, the handlers and lock given
 * back. Returns rc, or -1 when the clean-up failed (its message replaces a success). */
static int session_end(kl_xtest *x, int rc, char *err, size_t n)
{
    if (x->dpy) {
        while (x->ndown && !g_ioerr) XTestFakeKeyEvent(x->dpy, x->down[--x->ndown], False, CurrentTime);
        if (restore(x) != 0 && rc == 0) {
            snprintf(err, n, "xtest: restoring the keymap failed (X error %d)", g_xerr);
            rc = -1;
        }
        guard_beat(&x->guard);           /* XCloseDisplay syncs while the display answers */
        XCloseDisplay(x->dpy);
    }
    if (guard_stop(&x->guard)) {
        snprintf(err, n, "xtest: the X server did not answer within %d ms%s", KL_XTEST_REPLY_MS,
                 x->nbound ? " (the spare keycodes bound stay bound)" : "");
        rc = -1;
    }
    XSetErrorHandler(x->old_err);
    XSetIOErrorHandler(x->old_io);
    pthread_mutex_unlock(&g_lock);
    if (x->core) XFree(x->core);
    free(x->keys);
    free(x->rows);
    return rc;
}

/* Types syms[start, end) of one bound batch; stops between keys when interrupted. */
static int type_range(kl_xtest *x, const unsigned long *syms, const unsigned char *missing,
                      const unsigned *slot, size_t start, size_t end, char *err, size_t n)
{
    for (size_t i = start; i < end; i++) {
        if (kl_xtest_interrupted()) {
            snprintf(err, n, "xtest: interrupted after %zu keys (shutting down)", i);
            return -1;
        }
        if (missing[i]) press(x, x->spare[slot[i]], spare_shift(x, syms[i]));
        else { const key_ent *k = key_find(x, syms[i]); press(x, k->kc, k->shift); }
        x->typed++;
        if (g_ioerr) break;
    }
    if (!synced_ok(x)) {
        snprintf(err, n, "xtest: %s while typing", g_ioerr ? "the display connection broke" : "an X error");
        return -1;
    }
    return 0;
}

int kl_xtest_type(const char *text, int delay_ms, char *err, size_t n)
{
    kl_xtest x = { .delay_ms = delay_ms > 0 ? delay_ms : 0, .bind_wait_ms = KL_XTEST_BIND_WAIT_MS,
                   .hold_ms = KL_XTEST_HOLD_MS };
    unsigned long *syms = NULL;
    unsigned char *missing = NULL;
    unsigned *slot = NULL;
    size_t *ends = NULL, nsyms = 0, nb = 0, len = strlen(text), nmissing = 0;
    int rc = -1;
    const char *s = getenv("KL_XTEST_HOLD_MS");
    if (s && *s) { long v = strtol(s, NULL, 10); if (v >= 0 && v <= 5000) x.hold_ms = (int)v; }
    if (n) err[0] = 0;
    if (session_begin(&x, err, n) != 0) goto cleanup;

    syms = malloc((len ? len : 1) * sizeof *syms);
    missing = malloc(len ? len : 1);
    slot = malloc((len ? len : 1) * sizeof *slot);
    ends = malloc((len ? len : 1) * sizeof *ends);
    if (!syms || !missing || !slot || !ends) { snprintf(err, n, "out of memory"); goto cleanup; }
    nsyms = kl_xtest_decode(text, len, syms);
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
        if (type_range(&x, syms, missing, slot, start, ends[b], err, n) != 0) goto cleanup;
    }
    rc = 0;
cleanup:
    /* the keymap goes back on every path; a failure here is worth reporting over success */
    rc = session_end(&x, rc, err, n);
    if (rc != 0 && x.typed) rc = -2;   /* some (or all) of it is in the window: no retry */
    free(syms);
    free(missing);
    free(slot);
    free(ends);
    return rc;
}

/* The keycode of a modifier keysym (Control_L...), its right-hand twin when the left one has
 * no key, or Meta for Alt; 0 when none. */
static KeyCode mod_keycode(const kl_xtest *x, unsigned long ks)
{
    KeyCode kc = XKeysymToKeycode(x->dpy, ks);
    if (!kc) kc = XKeysymToKeycode(x->dpy, ks + 1);     /* X_L + 1 is X_R for all four */
    if (!kc && ks == XK_Alt_L) kc = XKeysymToKeycode(x->dpy, XK_Meta_L);
    return kc;
}

static void key_down(kl_xtest *x, KeyCode kc)
{
    XTestFakeKeyEvent(x->dpy, kc, True, CurrentTime);
    x->down[x->ndown++] = kc;
}

/* The chord's key: its own keycode (and whether it needs Shift), else bound to a spare
 * keycode like a character without a key. 0, or -1 with err. */
static int chord_key(kl_xtest *x, unsigned long key, KeyCode *kc, int *shift, char *err, size_t n)
{
    /* the key's own column in the core map first: key_find's table is built for the locked
     * modifiers, where under Caps Lock "v" is v's key with Shift — and ctrl+v went out as
     * Ctrl+Shift+v (LibreOffice's Paste Special). Caps Lock stays as it is, as on a keyboard */
    const KeyCode c = XKeysymToKeycode(x->dpy, key);
    if (c >= x->min_kc && c <= x->max_kc) {
        const KeySym *row = x->core + (size_t)(c - x->min_kc) * (size_t)x->per;
        if (row[0] == key || (x->per > 1 && row[1] == key)) {
            *kc = c;
            *shift = row[0] != key && x->shift;
            return 0;
        }
    }
    const key_ent *k = key_find(x, key);
    unsigned char miss = 1;
    unsigned slot = 0;
    if (k) { *kc = k->kc; *shift = k->shift; return 0; }
    if (!x->nspare) { snprintf(err, n, "xtest: no key and no spare keycode for %s", XKeysymToString(key)); return -1; }
    if (bind_batch(x, &key, &miss, &slot, 0, 1, err, n) != 0) return -1;
    *kc = x->spare[0];
    *shift = spare_shift(x, key);
    return 0;
}

int kl_xtest_chord(const char *chord, char *err, size_t n)
{
    kl_xtest x = { .bind_wait_ms = KL_XTEST_BIND_WAIT_MS, .hold_ms = KL_XTEST_HOLD_MS };
    unsigned long mods[KL_XTEST_MAX_MODS], key;
    KeyCode mk[KL_XTEST_MAX_MODS], kc = 0;
    size_t nm = 0;
    int rc = -1, has_shift = 0, need_shift = 0;
    if (n) err[0] = 0;
    if (kl_xtest_chord_parse(chord, mods, &nm, &key) != 0) {
        snprintf(err, n, "xtest: bad chord \"%s\" (modifiers ctrl, shift, alt, super joined by + to an X key name)", chord);
        return -1;
    }
    if (session_begin(&x, err, n) != 0) goto cleanup;
    for (size_t i = 0; i < nm; i++) {
        if (!(mk[i] = mod_keycode(&x, mods[i]))) { snprintf(err, n, "xtest: no key for %s", XKeysymToString(mods[i])); goto cleanup; }
        has_shift |= mods[i] == XK_Shift_L;
    }
    if (chord_key(&x, key, &kc, &need_shift, err, n) != 0) goto cleanup;
    /* modifiers in the order written, Shift for the key's level when the chord lacks it,
     * the key; released in reverse (session_end releases what an error left down) */
    for (size_t i = 0; i < nm; i++) key_down(&x, mk[i]);
    if (need_shift && !has_shift) key_down(&x, x.shift);
    key_down(&x, kc);
    while (x.ndown) XTestFakeKeyEvent(x.dpy, x.down[--x.ndown], False, CurrentTime);
    if (!synced_ok(&x)) {
        snprintf(err, n, "xtest: %s sending %s", g_ioerr ? "the display connection broke" : "an X error", chord);
        goto cleanup;
    }
    rc = 0;
cleanup:
    return session_end(&x, rc, err, n);
}
