/* ss_decoder.c — see ss_decoder.h. */
#include "daemon/ss_decoder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/ss_clock.h"
#include "session/ss_json.h"
#include "speech_audio.h"

const char *ss_audio_error_code(sp_status st)
{
    switch (st) {
    case SP_ERR_AUDIO_UNSAFE: return SS_E_AUDIO_REFUSED;
    case SP_ERR_AUDIO_FORMAT:
    case SP_ERR_UNSUPPORTED: return SS_E_AUDIO_FORMAT;
    case SP_ERR_TOO_LARGE: return SS_E_AUDIO_TOO_LONG;
    case SP_ERR_IO: return SS_E_AUDIO_IO;
    default: return SS_E_INTERNAL;
    }
}

/* ------------------------------------------------------------------ the decoder child
 * spool-reliability.md T14: the audio is decoded in a forked child with resource limits,
 * so a decoder crash (a libsndfile/FFmpeg memory-safety bug), a hang or a memory bomb fails
 * that one request only. The child runs sp_audio_load with the daemon's flags (same
 * refusal rules, same error codes) and writes a dec_hdr then the float samples to a pipe;
 * the worker thread reads them with a size bound and a wall-clock deadline, then reaps the
 * child with waitpid on its pid (SIGCHLD keeps its default disposition; the loop's
 * signalfd does not include it). */

#if defined(__SANITIZE_ADDRESS__)
#define SS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_ASAN 1
#endif
#endif

typedef struct {
    int32_t status;         /* sp_status */
    uint32_t magic;
    uint64_t n;             /* samples that follow */
    int32_t truncated;      /* sp_audio_info.truncated: the file ends early */
    char err[512];
} dec_hdr;
#define DEC_MAGIC 0x53534443u

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t r = write(fd, c, n > (1u << 20) ? (1u << 20) : n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* soft = v, hard = v + slack (RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL only at the
 * hard one); never above the inherited hard limit (raising it is EPERM). */
static void set_limit(int res, rlim_t v, rlim_t slack)
{
    struct rlimit rl = { v, v + slack };
    struct rlimit cur;
    if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
        if (rl.rlim_max > cur.rlim_max) rl.rlim_max = cur.rlim_max;
        if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    }
    setrlimit(res, &rl);
}

/* SPEECH_SESSION_DECODER_CRASH = ENTRY[,ENTRY...], ENTRY = MODE[:SUBSTRING]; MODE is "1" or
 * "segv" (SIGSEGV), "spin" (burn CPU) or "hang" (block); with SUBSTRING only for audio paths
 * containing it. Returns the mode of the first matching entry, or NULL. */
static const char *hook_mode(const char *v, const char *path)
{
    static char buf[256];
    if (!v || !*v || strlen(v) >= sizeof buf) return NULL;
    memcpy(buf, v, strlen(v) + 1);
    char *save = NULL;
    for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(e, ':');
        if (colon) {
            *colon = 0;
            if (!strstr(path, colon + 1)) continue;
        }
        return e;
    }
    return NULL;
}

static _Noreturn void decoder_child(const ss_decoder *dc, const char *path, double max_seconds,
                                     pid_t parent, int wfd)
{
    /* Only this thread exists now. Die with the daemon; unblock the signals the loop
     * thread takes through its signalfd. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    set_limit(RLIMIT_CORE, 0, 0);
    double cpu = dc->cpu_s > 0 ? ceil(dc->cpu_s) : 60;
    set_limit(RLIMIT_CPU, (rlim_t)cpu, 1);
#ifndef SS_ASAN
    /* Address space: what we inherited (model mapping, thread stacks) plus room for the
     * decoded audio (the sink grows by doubling) and the decoder. Skipped under ASan: its
     * shadow mapping reserves terabytes of address space, any RLIMIT_AS would break it. */
    {
        double cap = max_seconds > 0 && max_seconds < SP_AUDIO_MAX_SECONDS
                     ? max_seconds : SP_AUDIO_MAX_SECONDS;
        unsigned long long vm_pages = 0;
        FILE *f = fopen("/proc/self/statm", "re");
        if (f) {
            if (fscanf(f, "%llu", &vm_pages) != 1) vm_pages = 0;
            fclose(f);
        }
        long pg = sysconf(_SC_PAGESIZE);
        double budget = cap * SP_AUDIO_RATE * sizeof(float) * 3.0 + (512.0 * 1024 * 1024);
        if (vm_pages > 0 && pg > 0)
            set_limit(RLIMIT_AS, (rlim_t)((double)vm_pages * (double)pg + budget), 0);
    }
#endif
    /* Test hook (docs/daemon.md, like SPEECH_SESSION_CRASH_AT): simulate a decoder bug. */
    const char *mode = hook_mode(getenv("SPEECH_SESSION_DECODER_CRASH"), path);
    if (mode) {
        if (!strcmp(mode, "spin")) {            /* CPU-bound: RLIMIT_CPU must stop it */
            volatile unsigned long x = 0;
            for (;;) x++;
        }
        if (!strcmp(mode, "hang")) {            /* blocked: the wall-clock deadline must */
            for (;;) pause();
        }
        signal(SIGSEGV, SIG_DFL);               /* not a sanitizer's handler: a real death */
        raise(SIGSEGV);
        _exit(126);
    }
    dec_hdr h;
    memset(&h, 0, sizeof h);
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    sp_status s = sp_audio_load(path, SP_AUDIO_NOFOLLOW | SP_AUDIO_OWNER_ONLY, max_seconds,
                                &pcm, &n, &info, h.err, sizeof h.err);
    h.status = (int32_t)s;
    h.truncated = s == SP_OK && info.truncated;
    h.magic = DEC_MAGIC;
    h.n = s == SP_OK ? (uint64_t)n : 0;
    int bad = write_all(wfd, &h, sizeof h) != 0 ||
              (s == SP_OK && n && write_all(wfd, pcm, n * sizeof *pcm) != 0);
    _exit(bad ? 1 : 0);   /* no atexit handlers, no leak check: the parent owns the state */
}


/* The launcher ("zygote"): a small single-threaded process forked at start, before the model
 * is loaded, that forks the decoder children. Forking the loaded, multithreaded daemon per
 * request costs ~1.5 ms (page tables of the model and thread mappings; far more under
 * ASan); forking this small process costs a fraction of that. Protocol on a SOCK_SEQPACKET
 * pair: the worker sends a zyg_req with the pipe's write end (SCM_RIGHTS); the launcher
 * forks the child, then waits for it, killing it at the deadline or when the worker sends
 * 'K' (cancel, bad data), and answers a zyg_rep once it has reaped it. EOF on the socket
 * (the daemon stopped) ends the launcher; PR_SET_PDEATHSIG covers a killed daemon. If the
 * launcher is gone, the worker forks the decoder itself (ss_decoder_load). */
typedef struct {
    double max_seconds, timeout_s;
    char path[PATH_MAX];
} zyg_req;
#define ZYG_GRACE_S 1.0   /* the worker's backstop: this long after the launcher's deadline */
typedef struct {
    int32_t wstatus, timed_out, fork_errno;
} zyg_rep;

static void zyg_serve(const ss_decoder *dc, int sock, zyg_req *q, int wfd)
{
    zyg_rep rep;
    memset(&rep, 0, sizeof rep);
    q->path[sizeof q->path - 1] = 0;
    pid_t me = getpid();
    pid_t g = fork();
    if (g == 0) { close(sock); decoder_child(dc, q->path, q->max_seconds, me, wfd); }
    close(wfd);
    if (g < 0) {
        rep.fork_errno = errno;
        if (send(sock, &rep, sizeof rep, MSG_NOSIGNAL) < 0) _exit(0);
        return;
    }
    int pfd = (int)syscall(SYS_pidfd_open, g, 0);
    double deadline = ss_mono_now() + q->timeout_s;
    int killed = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(g, &st, WNOHANG);
        if (r == g) { rep.wstatus = st; break; }
        if (r < 0 && errno != EINTR) break;
        double left = deadline - ss_mono_now();
        if (left <= 0 && !killed) {
            kill(g, SIGKILL);
            killed = rep.timed_out = 1;
            continue;
        }
        int to = pfd >= 0 ? (left > 0 ? (int)ceil(left * 1000.0) : 100) : 5;
        if (killed && to > 100) to = 100;
        struct pollfd pf[2] = { { .fd = sock, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
        int n = poll(pf, pfd >= 0 ? 2 : 1, to);
        if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            char c;
            ssize_t got = recv(sock, &c, 1, MSG_DONTWAIT);
            if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR))) {
                kill(g, SIGKILL);               /* the daemon is gone */
                while (waitpid(g, NULL, 0) < 0 && errno == EINTR) {}
                _exit(0);
            }
            if (got == 1 && !killed) { kill(g, SIGKILL); killed = 1; }
        }
    }
    if (pfd >= 0) close(pfd);
    if (send(sock, &rep, sizeof rep, MSG_NOSIGNAL) < 0) _exit(0);
}

static _Noreturn void zyg_main(const ss_decoder *dc, int sock, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
    if (sock != 3) { dup2(sock, 3); sock = 3; }
    closefrom(4);                                 /* the lock, the spool, the log, ... */
    for (;;) {
        zyg_req q;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { .iov_base = &q, .iov_len = sizeof q };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                             .msg_controllen = sizeof cbuf };
        ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) _exit(0);
        int wfd = -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&wfd, CMSG_DATA(cm), sizeof wfd);
        if ((size_t)r != sizeof q || wfd < 0) {   /* a stray 'K' or garbage: ignore */
            if (wfd >= 0) close(wfd);
            continue;
        }
        zyg_serve(dc, sock, &q, wfd);
    }
}

void ss_decoder_init(ss_decoder *dc, double cpu_s, double timeout_s)
{
    memset(dc, 0, sizeof *dc);
    dc->zsock = -1;
    dc->zpid = -1;
    dc->cpu_s = cpu_s > 0 ? cpu_s : 60;
    dc->timeout_s = timeout_s > 0 ? timeout_s : 120;
}

int ss_decoder_start_launcher(ss_decoder *dc)
{
    int sv[2];
    dc->zsock = -1;
    dc->zpid = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) { close(sv[0]); zyg_main(dc, sv[1], parent); }
    close(sv[1]);
    if (p < 0) { close(sv[0]); return -1; }
    dc->zsock = sv[0];
    dc->zpid = p;
    return 0;
}

void ss_decoder_stop(ss_decoder *dc)
{
    if (dc->zsock >= 0) close(dc->zsock);
    dc->zsock = -1;
    dc->zpending = 0;
    if (dc->zpid > 0) {
        kill(dc->zpid, SIGKILL);     /* it may be waiting on a child: no need to be gentle */
        while (waitpid(dc->zpid, NULL, 0) < 0 && errno == EINTR) {}
    }
    dc->zpid = -1;
}

static int zyg_send(ss_decoder *dc, const char *path, double max_seconds, int wfd)
{
    zyg_req q;
    memset(&q, 0, sizeof q);
    if (strlen(path) >= sizeof q.path) return -1;
    memcpy(q.path, path, strlen(path) + 1);
    q.max_seconds = max_seconds;
    q.timeout_s = dc->timeout_s;
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = { .iov_base = &q, .iov_len = sizeof q };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &wfd, sizeof wfd);
    ssize_t r;
    do r = sendmsg(dc->zsock, &mh, MSG_NOSIGNAL); while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof q ? 0 : -1;
}

/* The launcher's answer for the current request; -1 if it is gone or gives none within
 * ZYG_REPLY_MS. It answers as soon as it has reaped the child, which has exited or been
 * killed by then: a launcher silent for that long is stopped or wedged. */
#define ZYG_REPLY_MS 2000
static int zyg_reply(ss_decoder *dc, zyg_rep *rep)
{
    for (;;) {
        struct pollfd pf = { .fd = dc->zsock, .events = POLLIN };
        int n = poll(&pf, 1, ZYG_REPLY_MS);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        ssize_t r = recv(dc->zsock, rep, sizeof *rep, 0);
        if (r < 0 && errno == EINTR) continue;
        return r == (ssize_t)sizeof *rep ? 0 : -1;
    }
}

/* ------------------------------------------------------------------ one request */

typedef enum { RD_OK, RD_EOF, RD_TIMEOUT, RD_CANCEL } rd_result;

/* Reads exactly n bytes before the deadline, checking *cancel every 100 ms. RD_EOF also
 * stands for a read error: either way the child did not finish its answer. */
static rd_result read_full(int fd, void *p, size_t n, double deadline, volatile int *cancel)
{
    char *c = p;
    while (n) {
        double left = deadline - ss_mono_now();
        if (left <= 0) return RD_TIMEOUT;
        if (cancel && *cancel) return RD_CANCEL;
        int to = left > 0.1 ? 100 : (int)ceil(left * 1000.0);
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int r = poll(&pf, 1, to);
        if (r < 0 && errno != EINTR) return RD_EOF;
        if (r <= 0) continue;
        ssize_t g = read(fd, c, n > (1u << 20) ? (1u << 20) : n);
        if (g < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (g <= 0) return RD_EOF;
        c += g;
        n -= (size_t)g;
    }
    return RD_OK;
}

/* What the child wrote to the pipe. */
typedef struct {
    dec_hdr h;
    float *buf;           /* h.n samples when complete and h.status == SP_OK */
    rd_result rd;
    int nomem;
    int complete;         /* a well-formed answer, read whole */
} answer;

static void read_answer(int rfd, double max_seconds, double deadline, volatile int *cancel,
                        answer *a)
{
    memset(a, 0, sizeof *a);
    double cap = max_seconds > 0 && max_seconds < SP_AUDIO_MAX_SECONDS
                 ? max_seconds : SP_AUDIO_MAX_SECONDS;
    uint64_t max_n = (uint64_t)(cap * SP_AUDIO_RATE) + SP_AUDIO_RATE;   /* + resampler tail */
    a->rd = read_full(rfd, &a->h, sizeof a->h, deadline, cancel);
    int proto_ok = a->rd == RD_OK && a->h.magic == DEC_MAGIC && a->h.n <= max_n &&
                   (a->h.status == SP_OK || a->h.n == 0);   /* never trust a size blindly */
    if (proto_ok && a->h.status == SP_OK) {
        a->buf = malloc(a->h.n ? (size_t)a->h.n * sizeof *a->buf : 1);
        if (!a->buf) {
            a->nomem = 1;
            return;
        }
        if (a->h.n)
            a->rd = read_full(rfd, a->buf, (size_t)a->h.n * sizeof *a->buf, deadline, cancel);
    }
    a->h.err[sizeof a->h.err - 1] = 0;
    a->complete = proto_ok && a->rd == RD_OK;
}

/* How the request ended, from the answer and (when known) the child's wait status. */
static ss_dec_outcome classify(const answer *a, int timed_out, int wst, ss_dec_detail *det)
{
    if (a->rd == RD_CANCEL) return SS_DEC_CANCELLED;
    if (timed_out) return SS_DEC_TIMEOUT;
    if (a->nomem) return SS_DEC_NO_MEMORY;
    if (!a->complete && a->rd == RD_EOF && WIFSIGNALED(wst)) {   /* died mid-answer */
        det->sig = WTERMSIG(wst);
        return SS_DEC_CRASHED;
    }
    if (!a->complete) {
        det->wait_status = wst;
        return SS_DEC_FAILED;
    }
    if (a->h.status != SP_OK) {
        det->status = (sp_status)a->h.status;
        snprintf(det->msg, sizeof det->msg, "%s", a->h.err);
        return SS_DEC_AUDIO_ERROR;
    }
    return SS_DEC_OK;
}

/* Via the launcher, which forks, times and reaps the child. A complete answer's report is
 * read before the next request, so the child's exit stays off the critical path; otherwise
 * the child is killed ('K': timeout, cancel, bad data) and the report says how it ended. */
static ss_dec_outcome end_via_launcher(ss_decoder *dc, const answer *a, ss_dec_detail *det)
{
    det->launcher_pid = (long)dc->zpid;
    if (a->rd == RD_TIMEOUT) {
        /* Our backstop fired: the launcher neither killed the child at its deadline nor
         * reported. It is stopped or wedged; replace it so the next request does not
         * queue behind it (decoders are forked directly from now on). */
        ss_decoder_stop(dc);
        return SS_DEC_LAUNCHER_STALLED;
    }
    if (a->complete) {
        dc->zpending = 1;
        return classify(a, 0, 0, det);
    }
    char k = 'K';
    if (send(dc->zsock, &k, 1, MSG_NOSIGNAL) < 0) { /* gone: the reply below says */ }
    zyg_rep rep;
    if (zyg_reply(dc, &rep) != 0) {
        ss_decoder_stop(dc);
        return a->rd == RD_CANCEL ? SS_DEC_CANCELLED : SS_DEC_LAUNCHER_STALLED;
    }
    if (rep.fork_errno) {
        det->err = rep.fork_errno;
        return SS_DEC_START_FAILED;
    }
    return classify(a, rep.timed_out, rep.wstatus, det);
}

/* We forked the child ourselves: kill it unless it answered whole, then reap it. */
static ss_dec_outcome end_direct(pid_t pid, const answer *a, ss_dec_detail *det)
{
    int wst = 0;
    if (!a->complete) kill(pid, SIGKILL);
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {}
    return classify(a, a->rd == RD_TIMEOUT, wst, det);
}

/* The last request's launcher report, long sent by now: read it before sending another. */
static void collect_pending(ss_decoder *dc)
{
    if (dc->zsock < 0 || !dc->zpending) return;
    zyg_rep old;
    dc->zpending = 0;
    if (zyg_reply(dc, &old) != 0) ss_decoder_stop(dc);
}

ss_dec_outcome ss_decoder_load(ss_decoder *dc, const char *path, double max_seconds,
                               volatile int *cancel, float **pcm, size_t *n,
                               ss_dec_detail *det)
{
    memset(det, 0, sizeof *det);
    *pcm = NULL;
    *n = 0;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        det->err = errno;
        return SS_DEC_START_FAILED;
    }
    fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20);   /* fewer wake-ups for long audio; optional */
    collect_pending(dc);
    int via_zyg = dc->zsock >= 0 && zyg_send(dc, path, max_seconds, pfd[1]) == 0;
    if (dc->zsock >= 0 && !via_zyg) ss_decoder_stop(dc);   /* gone: fork ourselves from now */
    pid_t pid = -1;
    if (!via_zyg) {
        pid_t parent = getpid();
        pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            decoder_child(dc, path, max_seconds, parent, pfd[1]);
        }
        if (pid < 0) {
            det->err = errno;
            close(pfd[0]);
            close(pfd[1]);
            return SS_DEC_START_FAILED;
        }
    }
    close(pfd[1]);
    /* Via the launcher, its deadline comes first and ours is the backstop, a moment later
     * (the launcher's kill and reap): if it fires, the launcher did not do its job. */
    double deadline = ss_mono_now() + dc->timeout_s + (via_zyg ? ZYG_GRACE_S : 0);
    answer a;
    read_answer(pfd[0], max_seconds, deadline, cancel, &a);
    close(pfd[0]);
    ss_dec_outcome oc = via_zyg ? end_via_launcher(dc, &a, det) : end_direct(pid, &a, det);
    if (oc == SS_DEC_OK) {
        *pcm = a.buf;
        *n = (size_t)a.h.n;
        det->truncated = a.h.truncated != 0;
        return oc;
    }
    free(a.buf);
    return oc;
}

const char *ss_decoder_error(const ss_decoder *dc, ss_dec_outcome oc, const ss_dec_detail *det,
                             const char *path, char *msg, size_t n)
{
    switch (oc) {
    case SS_DEC_OK:
    case SS_DEC_CANCELLED:
        msg[0] = 0;
        return NULL;
    case SS_DEC_AUDIO_ERROR:
        snprintf(msg, n, "Audio file %s: %s", path,
                 det->msg[0] ? det->msg : sp_status_str(det->status));
        return ss_audio_error_code(det->status);
    case SS_DEC_CRASHED:
        snprintf(msg, n, "Audio file %s: the decoder crashed (signal %d, %s%s)", path,
                 det->sig, strsignal(det->sig), det->sig == SIGXCPU ? ": CPU time limit" : "");
        return SS_E_DECODER_CRASHED;
    case SS_DEC_TIMEOUT:
        snprintf(msg, n, "Audio file %s: decoding took longer than %g s (the decoder was "
                 "stopped)", path, dc->timeout_s);
        return SS_E_DECODER_TIMEOUT;
    case SS_DEC_LAUNCHER_STALLED:
        snprintf(msg, n, "Audio file %s: the decoder launcher (pid %ld) did not answer "
                 "within %g s (stopped or wedged); it was killed and is no longer used", path,
                 det->launcher_pid, dc->timeout_s + ZYG_GRACE_S);
        return SS_E_DECODER_TIMEOUT;
    case SS_DEC_NO_MEMORY:
        snprintf(msg, n, "out of memory");
        return SS_E_INTERNAL;
    case SS_DEC_START_FAILED:
        snprintf(msg, n, "Audio file %s: cannot start the decoder process: %s", path,
                 strerror(det->err));
        return SS_E_INTERNAL;
    case SS_DEC_FAILED:
    default:
        snprintf(msg, n, "Audio file %s: the decoder process failed (%s %d)", path,
                 WIFEXITED(det->wait_status) ? "exit status" : "signal",
                 WIFEXITED(det->wait_status) ? WEXITSTATUS(det->wait_status)
                                             : WTERMSIG(det->wait_status));
        return SS_E_INTERNAL;
    }
}
