/* sh_stream.c — see sh_stream.h. */
#include "http/sh_stream.h"

#include "common/dynbuf.h"
#include "http/sh_format.h"
#include "clients/session_client.h"   /* ssc_segment_lead */
#include "session/ss_fs.h"   /* SS_ID_MAX */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1u << 20)   /* one segment line (with words); longer: skipped here,
                                       the final response still carries the segment */

struct sh_stream {
    int dirfd, fd;                  /* the responses directory; the partial file or -1 */
    ino_t ino;                      /* of the open partial file */
    char name[SS_ID_MAX + 16];      /* ".{id}.partial" */
    sp_dynbuf line;                 /* bytes after the last complete line read */
    int skipping;                   /* inside a line over LINE_MAX_BYTES */
    int next;                       /* index of the next segment to send */
    int deltas;                     /* deltas queued (the first has no leading space) */
    sp_dynbuf out;                  /* queued event bytes */
    size_t out_off;                 /* of them, already taken */
    int ended;
};

sh_stream *sh_stream_new(const char *resp_dir, const char *id)
{
    sh_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    snprintf(s->name, sizeof s->name, ".%s.partial", id);
    sp_dynbuf_init(&s->line, LINE_MAX_BYTES);
    sp_dynbuf_init(&s->out, SP_DYNBUF_NOCAP);
    s->dirfd = open(resp_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->dirfd < 0) {
        int e = errno;
        free(s);
        errno = e;
        return NULL;
    }
    return s;
}

void sh_stream_free(sh_stream *s)
{
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    close(s->dirfd);
    sp_dynbuf_free(&s->line);
    sp_dynbuf_free(&s->out);
    free(s);
}

/* ------------------------------------------------------------------ events */

/* "data: JSON\n\n" (with "event: NAME\n" first when name is given); consumes o. */
static int queue_event(sh_stream *s, const char *name, json_t *o)
{
    char *js = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!js) return -1;
    int r = 0;
    if (name) {
        r |= sp_dynbuf_add(&s->out, "event: ", 7);
        r |= sp_dynbuf_add(&s->out, name, strlen(name));
        r |= sp_dynbuf_add(&s->out, "\n", 1);
    }
    r |= sp_dynbuf_add(&s->out, "data: ", 6);
    r |= sp_dynbuf_add(&s->out, js, strlen(js));   /* compact JSON: no newline inside */
    r |= sp_dynbuf_add(&s->out, "\n\n", 2);
    free(js);
    return r ? -1 : 0;
}

/* A delta for one segment's text (see the header for the spacing rule). */
static int queue_delta(sh_stream *s, const json_t *seg, const char *text)
{
    while (*text && isspace((unsigned char)*text)) text++;
    size_t l = strlen(text);
    while (l && isspace((unsigned char)text[l - 1])) l--;
    if (!l) return 0;   /* an empty segment adds nothing to the text */
    /* the lead as sh_transcript_text joins it; a bare results string: one space */
    char lead[8];
    const int known = ssc_segment_lead(seg, lead);
    const char *j = sh_seg_joiner(lead, known);
    char *d = malloc(l + strlen(j) + 1);
    if (!d) return -1;
    size_t k = 0;
    if (s->deltas) { memcpy(d, j, strlen(j)); k = strlen(j); }
    memcpy(d + k, text, l);
    d[k + l] = 0;
    json_t *o = json_object(), *ds = json_string(d);
    free(d);
    if (!o || !ds) {
        json_decref(o);
        json_decref(ds);
        return ds || !o ? -1 : 0;   /* not UTF-8 (never from the daemon): skipped */
    }
    json_object_set_new(o, "type", json_string("transcript.text.delta"));
    json_object_set_new(o, "delta", ds);
    if (queue_event(s, NULL, o) != 0) return -1;
    s->deltas++;
    return 0;
}

int sh_stream_error(sh_stream *s, const char *msg, const char *type, const char *code)
{
    if (s->ended) return 0;
    json_t *o = json_object(), *e = json_object();
    json_t *m = json_string(msg ? msg : "transcription failed");
    if (!o || !e) { json_decref(o); json_decref(e); json_decref(m); return -1; }
    json_object_set_new(e, "message", m ? m : json_string("transcription failed"));
    json_object_set_new(e, "type", json_string(type ? type : "server_error"));
    json_object_set_new(e, "param", json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_object_set_new(o, "type", json_string("error"));
    json_object_set_new(o, "error", e);
    s->ended = 1;
    return queue_event(s, "error", o);
}

int sh_stream_keepalive(sh_stream *s)
{
    return sp_dynbuf_add(&s->out, ": keep-alive\n\n", 14) ? -1 : 0;
}

/* ------------------------------------------------------------------ the partial file */

/* One complete line of the partial file: {"i", "start", "end", "text", ...}. Lines out of
 * order or malformed are left to the final response, which has every segment. */
static int take_line(sh_stream *s, const char *p, size_t len)
{
    json_t *o = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *i = json_object_get(o, "i"), *t = json_object_get(o, "text");
    int r = 0;
    if (json_is_integer(i) && json_integer_value(i) == s->next && json_is_string(t)) {
        r = queue_delta(s, o, json_string_value(t));
        if (r == 0) s->next++;
    }
    json_decref(o);
    return r;
}

/* Opens the partial file, or reopens it when the daemon replaced it (a restarted daemon runs
 * the request again from its first segment; those already sent are skipped by index).
 * 0 open (or unchanged), 1 not there. */
static int open_partial(sh_stream *s)
{
    struct stat st;
    if (fstatat(s->dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 1;
    if (s->fd >= 0 && st.st_ino == s->ino) return 0;
    int fd = openat(s->dirfd, s->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 1;
    /* the daemon runs as our user (docs/http.md, "Uploads"): anything else is not its file */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return 1;
    }
    if (s->fd >= 0) close(s->fd);
    s->fd = fd;
    s->ino = st.st_ino;
    s->line.len = 0;
    s->skipping = 0;
    return 0;
}

/* Splits bytes into lines; only complete ('\n'-ended) lines are taken. */
static int feed(sh_stream *s, const char *b, size_t n)
{
    while (n) {
        const char *nl = memchr(b, '\n', n);
        size_t k = nl ? (size_t)(nl - b) : n;
        if (!s->skipping && sp_dynbuf_add(&s->line, b, k) != 0) {
            if (errno != EFBIG) return -1;
            s->skipping = 1;   /* too long: dropped up to its end */
        }
        if (!nl) return 0;
        int r = s->skipping ? 0 : take_line(s, s->line.p ? s->line.p : "", s->line.len);
        s->line.len = 0;
        s->skipping = 0;
        if (r) return -1;
        b += k + 1;
        n -= k + 1;
    }
    return 0;
}

int sh_stream_tail(sh_stream *s)
{
    if (s->ended) return 0;
    int before = s->deltas;
    if (open_partial(s) != 0 && s->fd < 0) return 0;
    char b[16384];
    for (;;) {
        ssize_t n = read(s->fd, b, sizeof b);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (feed(s, b, (size_t)n) != 0) return -1;
    }
    return s->deltas - before;
}

/* ------------------------------------------------------------------ the end */

int sh_stream_finish(sh_stream *s, const json_t *resp)
{
    if (s->ended) return 0;
    const json_t *segs = json_object_get(resp, "segments");
    int by_seg = json_is_array(segs);
    const json_t *arr = by_seg ? segs : json_object_get(resp, "results");
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {   /* the segments the partial file did not give */
        if ((long long)i < s->next) continue;
        const json_t *t = by_seg ? json_object_get(v, "text") : v;
        if (json_is_string(t) && queue_delta(s, by_seg ? v : NULL, json_string_value(t)) != 0) return -1;
        s->next = (int)i + 1;
    }
    sh_transcript tr;
    if (sh_transcript_from_response(resp, 0, &tr) != 0) return -1;
    char *text = sh_transcript_text(&tr);
    sh_transcript_deinit(&tr);
    json_t *o = json_object(), *ts = text ? json_string(text) : NULL;
    free(text);
    if (!o || !ts) { json_decref(o); json_decref(ts); return -1; }
    json_object_set_new(o, "type", json_string("transcript.text.done"));
    json_object_set_new(o, "text", ts);
    /* the daemon's "warning" (an English-only model ignored the language or task asked; a
     * truncated file): OpenAI's event has no such field, an added one is ignored by its SDKs,
     * and it is the one place a stream already under way can say it */
    const json_t *w = json_object_get(resp, "warning");
    if (json_is_string(w)) json_object_set_new(o, "warning", json_string(json_string_value(w)));
    s->ended = 1;
    return queue_event(s, NULL, o);
}

/* ------------------------------------------------------------------ output */

size_t sh_stream_take(sh_stream *s, char *buf, size_t max)
{
    size_t n = s->out.len - s->out_off;
    if (n > max) n = max;
    if (n) memcpy(buf, s->out.p + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out.len) s->out.len = s->out_off = 0;   /* all taken: reuse */
    return n;
}

size_t sh_stream_queued(const sh_stream *s) { return s->out.len - s->out_off; }
int sh_stream_ended(const sh_stream *s) { return s->ended; }
int sh_stream_deltas(const sh_stream *s) { return s->deltas; }
