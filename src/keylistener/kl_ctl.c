/* kl_ctl.c — see kl_ctl.h. */
#include "keylistener/kl_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

int kl_ctl_path(const char *override, char *buf, size_t n, char *err, size_t en)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (override && *override) snprintf(buf, n, "%s", override);
    else if (rt && *rt == '/') snprintf(buf, n, "%s/key_listener.sock", rt);
    else {
        char dir[128];
        snprintf(dir, sizeof dir, "/tmp/key_listener-%lu", (unsigned long)geteuid());
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, en, "cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        struct stat st;
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 077)) {
            snprintf(err, en, "%s is not a private directory of ours (set XDG_RUNTIME_DIR)", dir);
            return -1;
        }
        snprintf(buf, n, "%s/key_listener.sock", dir);
    }
    struct sockaddr_un a;
    if (strlen(buf) >= sizeof a.sun_path) {
        snprintf(err, en, "socket path too long: %s", buf);
        return -1;
    }
    return 0;
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int kl_ctl_listen(const char *path, char *err, size_t n)
{
    int c = connect_to(path);
    if (c >= 0) {
        close(c);
        snprintf(err, n, "another key_listener is running (control socket %s)", path);
        return -3;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, n, "%s exists and is not a socket", path);
            return -1;
        }
        unlink(path);   /* stale: nobody listens */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) { snprintf(err, n, "socket: %s", strerror(errno)); return -1; }
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (r != 0 || listen(fd, 8) != 0) {
        snprintf(err, n, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void kl_ctl_server_init(kl_ctl_server *s, int lfd)
{
    memset(s, 0, sizeof *s);
    s->lfd = lfd;
    for (int i = 0; i < KL_CTL_CONNS; i++) s->fd[i] = -1;
}

static int free_slot(const kl_ctl_server *s)
{
    for (int i = 0; i < KL_CTL_CONNS; i++)
        if (s->fd[i] < 0) return i;
    return -1;
}

static void drop(kl_ctl_server *s, int slot)
{
    close(s->fd[slot]);
    s->fd[slot] = -1;
    s->have[slot] = 0;
}

int kl_ctl_server_pollfds(const kl_ctl_server *s, struct pollfd *p, int *tags)
{
    int np = 0;
    if (s->lfd >= 0 && free_slot(s) >= 0) {
        p[np] = (struct pollfd){ s->lfd, POLLIN, 0 };
        tags[np++] = KL_CTL_TAG_LISTEN;
    }
    for (int i = 0; i < KL_CTL_CONNS; i++)
        if (s->fd[i] >= 0) { p[np] = (struct pollfd){ s->fd[i], POLLIN, 0 }; tags[np++] = i; }
    return np;
}

double kl_ctl_server_deadline(const kl_ctl_server *s)
{
    double d = 0;
    for (int i = 0; i < KL_CTL_CONNS; i++)
        if (s->fd[i] >= 0 && (d == 0 || s->deadline[i] < d)) d = s->deadline[i];
    return d;
}

void kl_ctl_server_accept(kl_ctl_server *s, double now)
{
    int slot;
    while (s->lfd >= 0 && (slot = free_slot(s)) >= 0) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;   /* EAGAIN: none waits; anything else: try at the next POLLIN */
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != geteuid()) {
            close(fd);
            continue;
        }
        s->fd[slot] = fd;
        s->have[slot] = 0;
        s->deadline[slot] = now + KL_CTL_DEADLINE;
    }
}

int kl_ctl_server_read(kl_ctl_server *s, int slot, char *cmd, size_t n, int *fd)
{
    if (slot < 0 || slot >= KL_CTL_CONNS || s->fd[slot] < 0) return -1;
    char *b = s->buf[slot];
    for (;;) {
        size_t room = KL_CTL_CMD_MAX - 1 - s->have[slot];
        if (!room) { drop(s, slot); return -1; }   /* no newline in a command's length */
        ssize_t k = read(s->fd[slot], b + s->have[slot], room);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) return 0;
        if (k < 0 || (k == 0 && !s->have[slot])) { drop(s, slot); return -1; }
        s->have[slot] += (size_t)k;
        /* a client that ends its command by shutting down its side ("printf status | socat")
         * sends no newline: the end of its input ends the line */
        char *nl = k ? memchr(b, '\n', s->have[slot]) : b + s->have[slot];
        if (!nl) continue;
        *nl = 0;
        b[strcspn(b, "\r")] = 0;
        snprintf(cmd, n, "%s", b);
        *fd = s->fd[slot];
        s->fd[slot] = -1;
        s->have[slot] = 0;
        return 1;
    }
}

int kl_ctl_server_expire(kl_ctl_server *s, double now)
{
    int dropped = 0;
    for (int i = 0; i < KL_CTL_CONNS; i++)
        if (s->fd[i] >= 0 && now >= s->deadline[i]) { drop(s, i); dropped++; }
    return dropped;
}

void kl_ctl_server_close(kl_ctl_server *s)
{
    for (int i = 0; i < KL_CTL_CONNS; i++)
        if (s->fd[i] >= 0) drop(s, i);
}

int kl_ctl_send(const char *path, const char *cmd, char *reply, size_t rn, char *err, size_t n)
{
    int fd = connect_to(path);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) return KL_CTL_NONE;
        snprintf(err, n, "cannot connect to %s: %s", path, strerror(errno));
        return -1;
    }
    char line[128];
    int l = snprintf(line, sizeof line, "%s\n", cmd);
    if (l <= 0 || (size_t)l >= sizeof line || write(fd, line, (size_t)l) != l) {
        snprintf(err, n, "cannot send to %s", path);
        close(fd);
        return -1;
    }
    size_t have = 0;
    while (have + 1 < rn) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0) { snprintf(err, n, "no answer from the listener"); close(fd); return -1; }
        ssize_t k = read(fd, reply + have, rn - 1 - have);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        have += (size_t)k;
    }
    close(fd);
    reply[have] = 0;
    reply[strcspn(reply, "\n")] = 0;
    if (!have) { snprintf(err, n, "no answer from the listener"); return -1; }
    return 0;
}

/* ---- events ------------------------------------------------------------------------- */

#define EV_MAX_SUBS 16

struct kl_evhub {
    pthread_mutex_t mu;
    int fd[EV_MAX_SUBS];
    int n;
};

kl_evhub *kl_evhub_new(void)
{
    kl_evhub *h = calloc(1, sizeof *h);
    if (h) pthread_mutex_init(&h->mu, NULL);
    return h;
}

void kl_evhub_free(kl_evhub *h)
{
    if (!h) return;
    for (int i = 0; i < h->n; i++) close(h->fd[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Drops subscribers that hung up. A write finds them only when an event goes out: while
 * the listener was idle, 16 clients that had gone held every slot and the next subscriber
 * was refused. Gone is POLLHUP (a closed peer shuts both directions), not POLLRDHUP: a
 * client that sends "events" and then shuts its writing side (Python, ncat) still reads.
 * Called with mu held. */
static void prune_gone(kl_evhub *h)
{
    for (int i = 0; i < h->n;) {
        struct pollfd p = { h->fd[i], 0, 0 };
        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
            close(h->fd[i]);
            h->fd[i] = h->fd[--h->n];
        } else {
            i++;
        }
    }
}

int kl_evhub_add(kl_evhub *h, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    pthread_mutex_lock(&h->mu);
    prune_gone(h);
    int ok = h->n < EV_MAX_SUBS && fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
    if (ok) h->fd[h->n++] = fd;
    pthread_mutex_unlock(&h->mu);
    if (!ok) {   /* said, so that `key_listener events` does not end as if the listener had */
        static const char msg[] = "error too many event subscribers\n";
        if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* gone already */ }
        close(fd);
    }
    return ok ? 0 : -1;
}

/* Writes o (taken) as one line to every subscriber; the number reached. */
static int emit_obj(kl_evhub *h, json_t *o)
{
    char *js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!js) return 0;
    size_t l = strlen(js);
    char *line = realloc(js, l + 2);
    if (!line) { free(js); return 0; }
    line[l++] = '\n';
    int reached = 0;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n;) {
        /* one send per line: a subscriber gets whole lines or is dropped */
        ssize_t w = send(h->fd[i], line, l, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == (ssize_t)l) { reached++; i++; continue; }
        close(h->fd[i]);
        h->fd[i] = h->fd[--h->n];
    }
    pthread_mutex_unlock(&h->mu);
    free(line);
    return reached;
}

/* The event's common fields, in the order subscribers have seen them; NULL on OOM. */
static json_t *event_obj(const char *event, const char *text, int chunk, double release_ms)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "event", json_string(event));
    if (text) json_object_set_new(o, "text", json_string(text));
    if (chunk >= 1) json_object_set_new(o, "chunk", json_integer(chunk));
    if (release_ms >= 0) json_object_set_new(o, "release_ms", json_integer((json_int_t)(release_ms + 0.5)));
    return o;
}

int kl_evhub_emit(kl_evhub *h, const char *event, const char *text, int chunk, double release_ms)
{
    if (!h) return 0;
    json_t *o = event_obj(event, text, chunk, release_ms);
    return o ? emit_obj(h, o) : 0;
}

int kl_evhub_emit_final(kl_evhub *h, const char *text, double release_ms, int delivered,
                        const char *output, const char *error)
{
    if (!h) return 0;
    json_t *o = event_obj("final", text, -1, release_ms);
    if (!o) return 0;
    /* added after the fields subscribers already read, never instead of them */
    json_object_set_new(o, "delivered", json_boolean(delivered));
    if (output) json_object_set_new(o, "output", json_string(output));
    if (error) json_object_set_new(o, "error", json_string(error));
    return emit_obj(h, o);
}

int kl_ctl_events(const char *path, int out, char *err, size_t n)
{
    int fd = connect_to(path);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) return KL_CTL_NONE;
        snprintf(err, n, "cannot connect to %s: %s", path, strerror(errno));
        return -1;
    }
    if (write(fd, "events\n", 7) != 7) {
        snprintf(err, n, "cannot send to %s", path);
        close(fd);
        return -1;
    }
    char buf[4096];
    for (int first = 1;; first = 0) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        if (first && k > 6 && !memcmp(buf, "error ", 6)) {   /* refused (event lines are JSON) */
            size_t l = (size_t)k - 6;
            const char *nl = memchr(buf + 6, '\n', l);
            if (nl) l = (size_t)(nl - (buf + 6));
            snprintf(err, n, "%.*s", (int)l, buf + 6);
            close(fd);
            return -1;
        }
        for (ssize_t off = 0; off < k;) {
            ssize_t w = write(out, buf + off, (size_t)(k - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { close(fd); return 0; }   /* our reader went away */
            off += w;
        }
    }
    close(fd);
    return 0;
}
