/* kl_output.c — see kl_output.h. */
#include "keylistener/kl_output.h"
#include "keylistener/kl_keys.h"
#include "keylistener/kl_xtest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/input-event-codes.h>

extern char **environ;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int kl_in_path(const char *prog)
{
    if (strchr(prog, '/')) return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        size_t l = strcspn(path, ":");
        if (l && l + strlen(prog) + 2 < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)l, path, prog);
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return 1;
        }
        path += l;
        if (*path == ':') path++;
    }
    return 0;
}

static void read_first_line(int fd, char *err, size_t n)
{
    char buf[512];
    ssize_t k = pread(fd, buf, sizeof buf - 1, 0);
    if (k <= 0 || !n) return;
    buf[k] = 0;
    buf[strcspn(buf, "\n")] = 0;
    snprintf(err, n, "%s", buf);
}

int kl_run(char *const argv[], const char *text, double timeout, char *err, size_t n)
{
    return kl_run_n(argv, text, text ? strlen(text) : 0, timeout, err, n);
}

static _Thread_local int t_uninterrupted;

void kl_run_uninterrupted(int on) { t_uninterrupted = on; }

/* Writes len bytes of data to fd (non-blocking) until end: a tool that does not read its
 * stdin cannot hold the caller past the tool's timeout (a 100 KB text to a stuck xclip had
 * blocked until it exited, and was then counted as delivered). The bytes written. */
static size_t write_until(int fd, const char *data, size_t len, double end)
{
    size_t off = 0;
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigaction(SIGPIPE, &ign, &old);   /* a tool that exits without reading: EPIPE */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (off < len) {
        ssize_t k = write(fd, data + off, len - off);
        if (k > 0) { off += (size_t)k; continue; }
        if (k < 0 && errno != EAGAIN && errno != EINTR) break;
        double left = end - mono();
        if (left <= 0 || (!t_uninterrupted && kl_xtest_interrupted())) break;
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, left > 0.05 ? 50 : (int)(left * 1000) + 1);   /* 50 ms: the interrupt is seen */
    }
    sigaction(SIGPIPE, &old, NULL);
    return off;
}

static int run_env(char *const argv[], char *const envp[], const void *data, size_t len, double timeout,
                   char *err, size_t n);

int kl_run_n(char *const argv[], const void *data, size_t len, double timeout, char *err, size_t n)
{
    return run_env(argv, environ, data, len, timeout, err, n);
}

/* kl_run_n with the environment envp. */
static int run_env(char *const argv[], char *const envp[], const void *data, size_t len, double timeout,
                   char *err, size_t n)
{
    const char *text = data;
    if (n) err[0] = 0;
    int in[2] = { -1, -1 };
    int efd = memfd_create("kl_stderr", MFD_CLOEXEC);
    if (pipe2(in, O_CLOEXEC) != 0 || efd < 0) {
        snprintf(err, n, "pipe: %s", strerror(errno));
        if (in[0] >= 0) { close(in[0]); close(in[1]); }
        if (efd >= 0) close(efd);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    if (e) {
        snprintf(err, n, "cannot run %s: %s", argv[0], strerror(e));
        close(in[1]);
        close(efd);
        return -1;
    }
    /* the tool's deadline covers taking the text too; a text it did not take whole is a
     * failure, whatever its exit status (it had been counted as delivered) */
    double end = mono() + timeout;
    const size_t wrote = text ? write_until(in[1], text, len, end) : 0;
    close(in[1]);
    int st = 0, delay = 1;
    pid_t w;
    /* a termination signal (kl_xtest_interrupt, set by the handlers) ends the wait too: the
     * process is exiting, and a typing tool could otherwise hold it up to the timeout - but
     * not the clean-up that runs because of it (kl_run_uninterrupted: the user's clipboard
     * put back at exit; its wl-copy had been killed before it took the selection) */
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && mono() < end && (t_uninterrupted || !kl_xtest_interrupted())) {
        sleep_ms(delay);
        if (delay < 20) delay *= 2;
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        close(efd);
        if (!t_uninterrupted && kl_xtest_interrupted()) {
            snprintf(err, n, "%s stopped: shutting down", argv[0]);
            return -1;
        }
        snprintf(err, n, "%s did not finish within %.3g s (killed)", argv[0], timeout);
        return -2;   /* a typing tool may have sent part of the text (kl_run) */
    }
    if (w < 0) { snprintf(err, n, "waitpid: %s", strerror(errno)); close(efd); return -1; }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && text && wrote < len) {
        snprintf(err, n, "%s took only %zu of the text's %zu bytes", argv[0], wrote, len);
        close(efd);
        return -1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) { close(efd); return 0; }
    char first[512] = "";
    read_first_line(efd, first, sizeof first);
    close(efd);
    if (WIFEXITED(st))
        snprintf(err, n, "%s exited with %d%s%s", argv[0], WEXITSTATUS(st), first[0] ? ": " : "", first);
    else
        snprintf(err, n, "%s killed by signal %d", argv[0], WTERMSIG(st));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Spawns argv in its own process group with stdin/stdout on the given pipe ends and stderr
 * on efd. 0 and *pid, or an errno value. */
static int spawn_group(char *const argv[], int in_fd, int out_fd, int efd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    int e = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return e;
}

/* Feeds in and drains the child's stdout until it closes stdout and exits, or the deadline.
 * Returns 0, 1 on timeout, 2 when the output passed max, -1 on OOM. */
static int pump(pid_t pid, int *wfd, const char *in, size_t in_len, int rfd, char **buf,
                size_t *len, size_t max, double end, int *st, int *exited)
{
    size_t cap = 0, off = 0;
    if (!in_len) { close(*wfd); *wfd = -1; }
    for (;;) {
        if (!*exited && waitpid(pid, st, WNOHANG) == pid) *exited = 1;
        if (*exited && rfd < 0) return 0;
        double left = end - mono();
        if (left <= 0) return 1;
        struct pollfd p[2];
        int np = 0, ir = -1, iw = -1;
        if (rfd >= 0) { p[np] = (struct pollfd){ rfd, POLLIN, 0 }; ir = np++; }
        if (*wfd >= 0) { p[np] = (struct pollfd){ *wfd, POLLOUT, 0 }; iw = np++; }
        int ms = (int)(left * 1000) + 1;
        if (rfd < 0 && ms > 5) ms = 5;   /* stdout closed: poll for the exit */
        if (np) poll(p, (nfds_t)np, ms); else sleep_ms(ms);
        if (iw >= 0 && p[iw].revents) {
            ssize_t k = write(*wfd, in + off, in_len - off);
            if (k > 0) off += (size_t)k;
            if ((k < 0 && errno != EAGAIN && errno != EINTR) || off == in_len) { close(*wfd); *wfd = -1; }
        }
        if (ir >= 0 && p[ir].revents) {
            if (*len + 4096 + 1 > cap) {
                size_t nc = cap ? cap * 2 : 8192;
                char *b = realloc(*buf, nc);
                if (!b) return -1;
                *buf = b;
                cap = nc;
            }
            ssize_t k = read(rfd, *buf + *len, 4096);
            if (k > 0) *len += (size_t)k;
            else if (k == 0 || (errno != EAGAIN && errno != EINTR)) rfd = -1;
            if (*len > max) return 2;
        }
    }
}

int kl_run_io(char *const argv[], const void *in, size_t in_len, double timeout,
              char **out, size_t *out_len, size_t max, char *err, size_t n)
{
    int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, efd = -1, ret = -1, st = 0, exited = 0;
    char *buf = NULL;
    size_t len = 0;
    pid_t pid = -1;
    if (n) err[0] = 0;
    *out = NULL;
    *out_len = 0;
    efd = memfd_create("kl_stderr", MFD_CLOEXEC);
    if (efd < 0 || pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0) {
        snprintf(err, n, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    int e = spawn_group(argv, pin[0], pout[1], efd, &pid);
    close(pin[0]); close(pout[1]);
    pin[0] = pout[1] = -1;
    if (e) { snprintf(err, n, "cannot run %s: %s", argv[0], strerror(e)); pid = -1; goto cleanup; }
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    fcntl(pout[0], F_SETFL, O_NONBLOCK);
    int r = pump(pid, &pin[1], in, in ? in_len : 0, pout[0], &buf, &len, max, mono() + timeout, &st, &exited);
    if (r == 1) snprintf(err, n, "%s did not finish within %.1f s (killed)", argv[0], timeout);
    if (r == 2) snprintf(err, n, "%s printed more than %zu bytes (killed)", argv[0], max);
    if (r == -1) snprintf(err, n, "out of memory");
    if (r != 0) goto cleanup;
    char first[512] = "";
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ret = 0;
    else {
        read_first_line(efd, first, sizeof first);
        ret = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (WIFEXITED(st))
            snprintf(err, n, "%s exited with %d%s%s", argv[0], ret, first[0] ? ": " : "", first);
        else
            snprintf(err, n, "%s killed by signal %d", argv[0], WTERMSIG(st));
    }
    if (!buf && !(buf = malloc(1))) { snprintf(err, n, "out of memory"); ret = -1; goto cleanup; }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
cleanup:
    if (pid > 0) {
        kill(-pid, SIGKILL);           /* the whole group: a shell's children too */
        if (!exited) waitpid(pid, &st, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0) close(pin[i]);
        if (pout[i] >= 0) close(pout[i]);
    }
    if (efd >= 0) close(efd);
    free(buf);
    return ret;
}

void kl_run_detached(char *const argv[])
{
    pid_t p = fork();
    if (p < 0) return;
    if (p == 0) {
        if (fork() == 0) {
            int fd = open("/dev/null", O_RDWR);
            if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); }
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            execvp(argv[0], argv);
            _exit(127);
        }
        _exit(0);
    }
    waitpid(p, NULL, 0);
}

kl_out_mode kl_out_mode_parse(const char *s)
{
    return !strcmp(s, "copy") ? KL_OUT_COPY : !strcmp(s, "print") ? KL_OUT_PRINT :
           !strcmp(s, "paste") ? KL_OUT_PASTE : KL_OUT_TYPE;
}

void kl_play_sound(const char *player, const char *file)
{
    if (!file[0] || !player[0]) return;
    /* a command line, run by sh as --hook is, the file its last argument ("$1"): "player
     * --volume 30000" had been looked up as one program name and never played */
    size_t l = strlen(player) + 16;
    char *cmd = malloc(l);
    if (!cmd) return;
    snprintf(cmd, l, "%s \"$1\"", player);
    char *argv[] = { "sh", "-c", cmd, "kl-sound", (char *)file, NULL };
    kl_run_detached(argv);
    free(cmd);
}

int kl_sound_player_check(const char *player, char *err, size_t n)
{
    char prog[256];
    const size_t l = strcspn(player, " \t");
    if (!player[0] || l >= sizeof prog) { snprintf(err, n, "sound player \"%s\": no program", player); return -1; }
    snprintf(prog, sizeof prog, "%.*s", (int)l, player);
    /* only a plain program name or path can be looked up; sh syntax is left to sh */
    if (strspn(prog, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-") != l) return 0;
    if (kl_in_path(prog)) return 0;
    snprintf(err, n, "sound player \"%s\": %s not found (no sounds will play)", player, prog);
    return -1;
}

void kl_notify(int enabled, const char *summary, const char *body)
{
    if (!enabled || !kl_in_path("notify-send")) return;
    /* "--": GLib's option parser reads any argument starting with '-' as an option, so a
     * dictation such as "-5 degrees outside" failed to show ("Unknown option -5") */
    char *argv[] = { "notify-send", "-a", "key_listener", "-t", "3000",
                     "-h", "string:x-canonical-private-synchronous:key_listener", "--",
                     (char *)summary, (char *)body, NULL };
    kl_run_detached(argv);
}

static int ydotool_socket(void)
{
    const char *s = getenv("YDOTOOL_SOCKET");
    if (s && *s) return access(s, F_OK) == 0;
    char buf[4200];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt) {
        snprintf(buf, sizeof buf, "%s/.ydotool_socket", rt);
        if (access(buf, F_OK) == 0) return 1;
    }
    return access("/tmp/.ydotool_socket", F_OK) == 0;
}

static int usable(const char *t)
{
    /* in-process (kl_xtest.h): no program to find */
    if (!strcmp(t, "xtest")) return getenv("DISPLAY") && *getenv("DISPLAY");
    if (!kl_in_path(t)) return 0;
    if (!strcmp(t, "wtype")) return getenv("WAYLAND_DISPLAY") && *getenv("WAYLAND_DISPLAY");
    if (!strcmp(t, "dotool")) return access("/dev/uinput", W_OK) == 0;
    if (!strcmp(t, "ydotool")) return ydotool_socket();
    if (!strcmp(t, "xdotool")) return getenv("DISPLAY") && *getenv("DISPLAY");
    return 0;
}

/* xtest before xdotool: xdotool loses characters that have no key (kl_xtest.h) */
static const char *const typers[] = { "wtype", "dotool", "ydotool", "xtest", "xdotool" };

const char *kl_output_probe(const char *typer)
{
    for (size_t i = 0; i < sizeof typers / sizeof typers[0]; i++)
        if ((!typer || !strcmp(typer, "auto") || !strcmp(typer, typers[i])) && usable(typers[i]))
            return typers[i];
    return NULL;
}

char *kl_output_dotool_script(const char *text, int delay)
{
    /* dotool reads one command per line: a line break in the text (a "new line" replacement,
     * a multi-line paste-last) would have ended the "type" and run the rest as a command —
     * "key super+l", say. Each line is typed on its own, Return between them. */
    size_t lines = 1;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    size_t cap = strlen(text) + 32 + lines * 16;
    char *cmd = malloc(cap), *w = cmd;
    if (!cmd) return NULL;
    w += snprintf(w, cap, "typedelay %d\n", delay);
    for (const char *p = text;;) {
        size_t l = strcspn(p, "\r\n");
        if (l) w += sprintf(w, "type %.*s\n", (int)l, p);
        p += l;
        if (!*p) break;
        if (*p == '\n') w += sprintf(w, "key enter\n");
        p++;   /* a '\r' is dropped: "\r\n" is one line break */
    }
    return cmd;
}

/* The environment for a tool that decodes the text with its locale: wtype and xdotool read
 * it in the multibyte charset of the locale their environment names (setlocale(..., "")). Run
 * without a UTF-8 locale there (LANG unset, LANG=C, or a locale that is not installed: the
 * listener itself works in C.UTF-8 whatever its environment says, main), each typed the text
 * up to its first non-ASCII character and exited 0: "Café au lait, 日本." came out "Caf",
 * logged as typed. Then the tool gets LC_ALL=C.UTF-8; an environment already UTF-8 is left
 * as it is. NULL (malloc'd otherwise): use environ. */
static char **utf8_environ(void)
{
    locale_t env = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
    const int utf8 = env && !strcmp(nl_langinfo_l(CODESET, env), "UTF-8");
    if (env) freelocale(env);
    locale_t c = utf8 ? (locale_t)0 : newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!c) return NULL;   /* UTF-8 already, or no C.UTF-8 to offer: as it was */
    freelocale(c);
    size_t k = 0, count = 0;
    while (environ[count]) count++;
    char **e = malloc((count + 2) * sizeof *e);
    if (!e) return NULL;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "LC_ALL=", 7)) e[k++] = environ[i];
    e[k++] = (char *)"LC_ALL=C.UTF-8";
    e[k] = NULL;
    return e;
}

/* kl_run for a tool that takes the text through its locale (utf8_environ). */
static int run_text_tool(char *const argv[], const char *text, double timeout, char *err, size_t n)
{
    char **env = utf8_environ();
    int r = run_env(argv, env ? env : environ, text, text ? strlen(text) : 0, timeout, err, n);
    free(env);
    return r;
}

static int type_with(const char *t, const char *text, int delay, char *err, size_t n)
{
    char d[32];
    snprintf(d, sizeof d, "%d", delay);
    /* Twice the pace asked for, 5 ms a key added: wtype typed 8.8 ms a byte at the default 5 ms
     * (a 3.3 kB text into foot on sway), where (delay + 5) ms had left 10 s of margin over 43 s.
     * A tool killed at this deadline is not followed by another (the loop in kl_output_text). */
    double timeout = 10 + (double)strlen(text) * 2 * (delay + 5) / 1000.0;
    if (!strcmp(t, "wtype")) {
        /* wtype 0.4 refuses "-d 0" (Invalid sleep time): no -d is no delay */
        char *argv[] = { "wtype", "-d", d, "-", NULL }, *argv0[] = { "wtype", "-", NULL };
        return run_text_tool(delay > 0 ? argv : argv0, text, timeout, err, n);
    }
    if (!strcmp(t, "dotool")) {
        char *cmd = kl_output_dotool_script(text, delay);
        if (!cmd) { snprintf(err, n, "out of memory"); return -1; }
        char *argv[] = { "dotool", NULL };
        int r = kl_run(argv, cmd, timeout, err, n);
        free(cmd);
        return r;
    }
    if (!strcmp(t, "ydotool")) {
        /* ydotool 1.0.x (Client/tool_type.c) types from a US-layout table of ASCII: a byte
         * past it indexes the table with a negative char (some arbitrary key, or none) and it
         * exits 0 - "é", "日本" never arrive, and the log said typed. Such a text goes on to the
         * next tool (xtest in an XWayland window), else to the clipboard, with this reason. */
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
            if (*p >= 0x80) { snprintf(err, n, "ydotool types ASCII only (this text has other characters)"); return -1; }
        /* On stdin (--file: 1.0.0 has no "-"), not as an argument: 1.0.4 reads its arguments
         * with backslash escapes ("\n" a Return, "\U" dropped: "C:\Users" is typed "C:sers").
         * Its own pace is 40 ms a key (20 held, 20 between; --type-delay is not passed): the
         * timeout of 10 ms a byte ran out after about 330 keys, and the next tool typed the
         * text again from its start. */
        char *argv[] = { "ydotool", "type", "--file", "/dev/stdin", NULL };
        return kl_run(argv, text, 10 + (double)strlen(text) * 45 / 1000.0, err, n);
    }
    if (!strcmp(t, "xtest")) return kl_xtest_type(text, delay, err, n);
    char *argv[] = { "xdotool", "type", "--delay", d, "--", (char *)text, NULL };
    return run_text_tool(argv, NULL, timeout, err, n);
}

/* Splits "ctrl+shift+v" into modifiers and the key. 0, or -1 when malformed. */
static int parse_chord(const char *chord, char mods[4][16], int *nm, char *key, size_t kn)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", chord);
    *nm = 0;
    char *save = NULL, *last = NULL;
    for (char *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        if (last) {
            if (*nm >= 4) return -1;
            snprintf(mods[(*nm)++], 16, "%s", last);
        }
        last = t;
    }
    if (!last || !*last) return -1;
    snprintf(key, kn, "%s", last);
    return 0;
}

static int chord_wtype(const char *chord, char *err, size_t n)
{
    char mods[4][16], key[32];
    int nm;
    if (parse_chord(chord, mods, &nm, key, sizeof key)) { snprintf(err, n, "bad chord \"%s\"", chord); return -1; }
    char *argv[32];
    int a = 0;
    argv[a++] = "wtype";
    for (int i = 0; i < nm; i++) {
        for (char *c = mods[i]; *c; c++) *c = (char)tolower((unsigned char)*c);
        /* wtype's names: ctrl, shift, alt, logo (it refuses "control", "super", "meta") */
        if (!strcmp(mods[i], "super") || !strcmp(mods[i], "meta")) snprintf(mods[i], 16, "logo");
        if (!strcmp(mods[i], "control")) snprintf(mods[i], 16, "ctrl");
        argv[a++] = "-M"; argv[a++] = mods[i];
    }
    /* an XKB key name: "enter"/"return" in any case is Return (wtype knows no "enter") */
    if (!strcasecmp(key, "enter") || !strcasecmp(key, "return")) snprintf(key, sizeof key, "Return");
    argv[a++] = "-k"; argv[a++] = key;
    for (int i = nm - 1; i >= 0; i--) { argv[a++] = "-m"; argv[a++] = mods[i]; }
    argv[a] = NULL;
    return kl_run(argv, NULL, 10, err, n);
}

int kl_output_ydotool_chord(const char *chord, char args[][12], int max)
{
    char mods[4][16], key[32];
    int nm, codes[5], a = 0;
    if (parse_chord(chord, mods, &nm, key, sizeof key) || 2 * (nm + 1) > max) return -1;
    for (int i = 0; i < nm; i++) {
        /* the left-hand modifier keys; names as the other senders take them */
        static const struct { const char *name; int code; } mk[] = {
            { "ctrl", KEY_LEFTCTRL }, { "control", KEY_LEFTCTRL }, { "shift", KEY_LEFTSHIFT },
            { "alt", KEY_LEFTALT }, { "altgr", KEY_RIGHTALT }, { "super", KEY_LEFTMETA },
            { "meta", KEY_LEFTMETA }, { "logo", KEY_LEFTMETA }, { "win", KEY_LEFTMETA } };
        codes[i] = -1;
        for (size_t k = 0; k < sizeof mk / sizeof mk[0]; k++)
            if (!strcasecmp(mods[i], mk[k].name)) codes[i] = mk[k].code;
        if (codes[i] < 0) return -1;
    }
    if ((codes[nm] = kl_key_parse(key)) <= 0) return -1;   /* Return, v, Insert, F5, ... */
    for (int i = 0; i <= nm; i++) snprintf(args[a++], 12, "%d:1", codes[i]);
    for (int i = nm; i >= 0; i--) snprintf(args[a++], 12, "%d:0", codes[i]);
    return a;
}

/* ydotool 1.x sends Linux input key codes, pressed (:1) and released (:0), in order: it had
 * no sender here, so paste mode with --typer ydotool always fell back to the clipboard and
 * --enter never pressed Return. */
static int chord_ydotool(const char *chord, char *err, size_t n)
{
    char args[10][12];
    int k = kl_output_ydotool_chord(chord, args, 10);
    if (k < 0) { snprintf(err, n, "bad chord \"%s\" for ydotool", chord); return -1; }
    char *argv[14];
    int a = 0;
    argv[a++] = "ydotool";
    argv[a++] = "key";
    for (int i = 0; i < k; i++) argv[a++] = args[i];
    argv[a] = NULL;
    return kl_run(argv, NULL, 10, err, n);
}

/* xtest before xdotool, as for typing: on X11 without xdotool, paste mode and --enter work
 * with the built-in sender. No --clearmodifiers for either: the caller has waited until the
 * user holds no modifier (wait_mods), which is what that option was for. */
int kl_send_chord(const char *chord, const char *typer, char *how, size_t hn, char *err, size_t n)
{
    static const char *const senders[] = { "wtype", "dotool", "ydotool", "xtest", "xdotool" };
    char last[512] = "";
    int forced = typer && strcmp(typer, "auto");
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++) {
        const char *t = senders[i];
        if (forced ? strcmp(typer, t) : !usable(t)) continue;
        int r;
        if (!strcmp(t, "wtype")) r = chord_wtype(chord, last, sizeof last);
        else if (!strcmp(t, "dotool")) {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "key %s\n", !strcasecmp(chord, "Return") ? "enter" : chord);
            char *argv[] = { "dotool", NULL };
            r = kl_run(argv, cmd, 10, last, sizeof last);
        } else if (!strcmp(t, "ydotool")) {
            r = chord_ydotool(chord, last, sizeof last);
        } else if (!strcmp(t, "xtest")) {
            r = kl_xtest_chord(chord, last, sizeof last);
            if (r != 0 && kl_xtest_interrupted()) break;   /* shutting down: no other tool */
        } else {
            char *argv[] = { "xdotool", "key", "--clearmodifiers", (char *)chord, NULL };
            r = kl_run(argv, NULL, 10, last, sizeof last);
        }
        if (r == 0) { snprintf(how, hn, "%s", t); return 0; }
    }
    snprintf(err, n, "%s", last[0] ? last : "no tool to send keys (wtype, dotool, ydotool, xtest, xdotool)");
    return -1;
}

/* Paste mode: save, set, chord, wait, restore. When the chord cannot be sent, the text stays
 * on the clipboard and the saved content goes to o->keep for a later restore. 0 pasted, 1
 * left on the clipboard, -1 failed, -2 the user's clipboard cannot be saved (too big, its
 * owner silent): nothing touched, for the caller to type instead. */
static int paste_text(const kl_output_opts *o, const char *text, char *how, size_t hn, char *err, size_t n)
{
    kl_clip_saved saved;
    char e2[512] = "", via[64] = "", chow[64];
    const int sr = kl_clip_save(&saved, err, n);
    if (sr != 0) return sr;
    if (kl_clip_set_text(text, chow, sizeof chow, err, n) != 0) { kl_clip_saved_free(&saved); return -1; }
    /* the tools serve the clipboard from a forked child: wait until it answers with the
     * text, so the application cannot paste the old content */
    for (int i = 0; i < 40; i++) {
        char *now = kl_clip_get_text(saved.wayland);
        int ready = now && !strcmp(now, text);
        free(now);
        if (ready) break;
        sleep_ms(25);
    }
    const char *chord = o->paste_chord && *o->paste_chord ? o->paste_chord : "ctrl+v";
    if (kl_send_chord(chord, o->typer, via, sizeof via, e2, sizeof e2) != 0) {
        snprintf(how, hn, "%s (no paste: %s)", chow, e2);
        if (o->keep) *o->keep = saved; else kl_clip_saved_free(&saved);
        return 1;
    }
    /* the application asks for the clipboard only after it got the chord */
    sleep_ms(o->paste_delay_ms);
    int r = kl_clip_restore(&saved, text, e2, sizeof e2);
    snprintf(how, hn, "paste (%s %s, %s), clipboard %s%s", via, chord, chow,
             r == 1 ? "restored" : r == 0 ? "left: changed meanwhile" : "not restored: ", r < 0 ? e2 : "");
    return 0;
}

/* Copies text for the user to paste; their clipboard is saved into o->keep first. */
static int copy_text(const kl_output_opts *o, const char *text, char *how, size_t hn, char *err, size_t n)
{
    kl_clip_saved saved = { 0 };
    char e2[256];
    if (o->keep && kl_clip_save(&saved, e2, sizeof e2) != 0) memset(&saved, 0, sizeof saved);
    if (kl_clip_set_text(text, how, hn, err, n) != 0) { kl_clip_saved_free(&saved); return -1; }
    if (o->keep) *o->keep = saved;
    return 0;
}

/* Waits (bounded by modifier_wait_ms) until no modifier is held: a held Ctrl/Alt/Super
 * would turn typed text or Return into shortcuts. */
static void wait_mods(const kl_output_opts *o)
{
    if (!o->mods_held) return;
    double end = mono() + o->modifier_wait_ms / 1000.0;
    while (o->mods_held(o->mods_u) && mono() < end) sleep_ms(10);
}

int kl_output_enter(const kl_output_opts *o, char *via, size_t vn, char *err, size_t n)
{
    wait_mods(o);
    return kl_send_chord("Return", o->typer, via, vn, err, n);
}

static void press_enter(const kl_output_opts *o, char *how, size_t hn)
{
    char via[64], e[256];
    size_t l = strlen(how);
    if (kl_output_enter(o, via, sizeof via, e, sizeof e) == 0) snprintf(how + l, hn - l, " + Enter");
    else snprintf(how + l, hn - l, " (no Enter: %s)", e);
}

static void set_done(const kl_output_opts *o, kl_out_done d)
{
    if (o->done) *o->done = d;
}

int kl_output_text(const kl_output_opts *o, const char *text, char *how, size_t hn,
                   char *err, size_t n)
{
    if (n) err[0] = 0;
    if (o->keep) memset(o->keep, 0, sizeof *o->keep);
    set_done(o, KL_DONE_NONE);
    if (o->mode == KL_OUT_PRINT) {
        printf("%s\n", text);
        fflush(stdout);
        snprintf(how, hn, "stdout");
        set_done(o, KL_DONE_PRINTED);
        return 0;
    }
    if (o->mode == KL_OUT_COPY) {
        kl_output_opts c = *o;
        c.keep = NULL;     /* copy mode: the text is meant to stay */
        if (copy_text(&c, text, how, hn, err, n) != 0) return -1;
        set_done(o, KL_DONE_CLIPBOARD);
        return 0;
    }
    wait_mods(o);
    if (o->mode == KL_OUT_PASTE) {
        char e0[512] = "";
        int r = paste_text(o, text, how, hn, e0, sizeof e0);
        if (r == -2) goto typing;   /* the user's clipboard cannot be saved: type instead */
        if (r < 0) { snprintf(err, n, "%s", e0); return -1; }
        set_done(o, r ? KL_DONE_CLIPBOARD : KL_DONE_PASTED);
        /* no Return when the text was not pasted: it would send what is in the window */
        if (!r && o->enter) press_enter(o, how, hn);
        return 0;
    }
typing:;
    char last[512] = "";
    for (size_t i = 0; i < sizeof typers / sizeof typers[0]; i++) {
        const char *t = typers[i];
        int forced = o->typer && strcmp(o->typer, "auto");
        if (forced ? strcmp(o->typer, t) : !usable(t)) continue;
        char failed[512];
        snprintf(failed, sizeof failed, "%s", last);
        const int tr = type_with(t, text, o->type_delay_ms, last, sizeof last);
        if (tr == 0) {
            /* the log says why a tool before this one did not type (xtest: no spare keycode) */
            snprintf(how, hn, "%s%s%s%s", t, failed[0] ? " (after: " : "", failed, failed[0] ? ")" : "");
            set_done(o, KL_DONE_TYPED);
            if (o->enter) press_enter(o, how, hn);
            return 0;
        }
        /* a termination signal stopped xtest (kl_xtest_interrupt): the process is exiting,
         * and another tool or the clipboard would deliver the rest of a text cut short */
        if (kl_xtest_interrupted()) { snprintf(err, n, "%s", last); return -1; }
        /* cut short after some keys (xtest: an X error, a server gone quiet; a tool killed at
         * its deadline, which may have typed part of it): the next tool would type the start
         * again; the whole text goes to the clipboard instead */
        if (tr == -2) {
            size_t l = strlen(last);
            snprintf(last + l, sizeof last - l, " (cut short: not typed again)");
            break;
        }
    }
    int r = copy_text(o, text, how, hn, err, n);
    if (r == 0 && last[0]) {   /* keep why typing failed next to the fallback */
        size_t l = strlen(how);
        snprintf(how + l, hn - l, " after: %s", last);
    }
    if (r == 0) set_done(o, KL_DONE_CLIPBOARD);
    if (r != 0 && last[0]) snprintf(err, n, "%s; clipboard: no tool worked", last);
    return r;
}
