/* sh_multipart.c — see sh_multipart.h. */
#include "http/sh_multipart.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum { ST_PREAMBLE, ST_AFTER_DELIM, ST_PADDING, ST_DELIM_CR, ST_HEADERS, ST_BODY, ST_EPILOGUE };

/* ------------------------------------------------------------------ the boundary */

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last) */
static int bchar(int c)
{
    return isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

static int tchar(int c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Reads a token or a quoted string (backslash escapes) at *s into out (NUL-terminated);
 * advances *s. -1 when malformed or longer than cap - 1 bytes. */
static int read_value(const char **s, char *out, size_t cap)
{
    const char *p = *s;
    size_t k = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1]) p++;
            if (k + 1 >= cap) return -1;
            out[k++] = *p;
        }
        if (*p != '"') return -1;
        p++;
    } else {
        /* bytes >= 0x80 too: browsers and Python clients send raw UTF-8 file names */
        for (; *p && (tchar((unsigned char)*p) || (unsigned char)*p >= 0x80); p++) {
            if (k + 1 >= cap) return -1;
            out[k++] = *p;
        }
        if (k == 0) return -1;
    }
    out[k] = 0;
    *s = p;
    return 0;
}

/* Calls fn for each "; name=value" parameter after the media/disposition type at s.
 * Stops with -1 at the first malformed parameter or when fn returns non-zero. */
typedef int (*param_fn)(void *ctx, const char *name, const char *value);
static int each_param(const char *s, param_fn fn, void *ctx)
{
    char name[64], value[4 * SH_MP_NAME_MAX];
    for (;;) {
        s = skip_ows(s);
        if (!*s) return 0;
        if (*s != ';') return -1;
        s = skip_ows(s + 1);
        if (!*s) return 0;   /* a trailing ';' */
        size_t k = 0;
        while (tchar((unsigned char)*s) && k + 1 < sizeof name) name[k++] = *s++;
        name[k] = 0;
        s = skip_ows(s);
        if (k == 0 || *s != '=') return -1;
        s = skip_ows(s + 1);
        if (read_value(&s, value, sizeof value) != 0) return -1;
        if (fn(ctx, name, value) != 0) return -1;
    }
}

static int boundary_param(void *ctx, const char *name, const char *value)
{
    char *out = ctx;
    if (strcasecmp(name, "boundary") != 0) return 0;
    size_t n = strlen(value);
    if (n < 1 || n > SH_MP_BOUNDARY_MAX || value[n - 1] == ' ') return -1;
    for (size_t i = 0; i < n; i++)
        if (!bchar((unsigned char)value[i])) return -1;
    memcpy(out, value, n + 1);
    return 0;
}

int sh_mp_boundary(const char *ct, char out[SH_MP_BOUNDARY_MAX + 1])
{
    static const char type[] = "multipart/form-data";
    if (!ct) return -1;
    ct = skip_ows(ct);
    if (strncasecmp(ct, type, sizeof type - 1) != 0) return -1;
    out[0] = 0;
    if (each_param(ct + sizeof type - 1, boundary_param, out) != 0) return -1;
    return out[0] ? 0 : -1;
}

/* ------------------------------------------------------------------ part headers */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 5987 ext-value: charset "'" [language] "'" pct-encoded; UTF-8 kept, ISO-8859-1
 * converted to UTF-8. -1 for another charset or a bad escape (the caller then keeps
 * filename=). */
static int decode_ext_value(const char *v, char *out, size_t cap)
{
    const char *q1 = strchr(v, '\'');
    const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2) return -1;
    int latin1;
    if ((size_t)(q1 - v) == 5 && strncasecmp(v, "UTF-8", 5) == 0) latin1 = 0;
    else if ((size_t)(q1 - v) == 10 && strncasecmp(v, "ISO-8859-1", 10) == 0) latin1 = 1;
    else return -1;
    size_t k = 0;
    for (const char *p = q2 + 1; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (lo < 0) return -1;
            c = hi * 16 + lo;
            p += 2;
        }
        if (k + 3 >= cap) break;   /* informational: a long name is cut, not refused */
        if (latin1 && c >= 0x80) {
            out[k++] = (char)(0xc0 | (c >> 6));
            out[k++] = (char)(0x80 | (c & 0x3f));
        } else {
            out[k++] = (char)c;
        }
    }
    out[k] = 0;
    return 0;
}

typedef struct {
    sh_mp_part *p;
    int has_name, has_ext;
} disp_ctx;

static int disposition_param(void *ctx, const char *name, const char *value)
{
    disp_ctx *d = ctx;
    if (strcasecmp(name, "name") == 0) {
        if (strlen(value) >= SH_MP_NAME_MAX) return -1;   /* a cut name could alias another */
        strcpy(d->p->name, value);
        d->has_name = 1;
    } else if (strcasecmp(name, "filename*") == 0) {
        d->p->has_filename = 1;
        if (decode_ext_value(value, d->p->filename, SH_MP_NAME_MAX) == 0) d->has_ext = 1;
    } else if (strcasecmp(name, "filename") == 0) {
        d->p->has_filename = 1;
        if (!d->has_ext) {   /* filename*= wins whatever the order (RFC 6266 §4.3) */
            strncpy(d->p->filename, value, SH_MP_NAME_MAX - 1);
            d->p->filename[SH_MP_NAME_MAX - 1] = 0;
        }
    }
    return 0;
}

static int parse_disposition(const char *v, sh_mp_part *p)
{
    static const char fd[] = "form-data";
    v = skip_ows(v);
    if (strncasecmp(v, fd, sizeof fd - 1) != 0) return -1;
    v += sizeof fd - 1;
    if (*v && *v != ';' && *v != ' ' && *v != '\t') return -1;
    disp_ctx d = { .p = p };
    if (each_param(v, disposition_param, &d) != 0 || !d.has_name) return -1;
    return 0;
}

/* Joins folded lines (obsolete, RFC 5322 §2.2.3) so each header is one line. */
static void unfold(char *h, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (h[i] != '\n' || (h[i + 1] != ' ' && h[i + 1] != '\t')) continue;
        h[i] = ' ';
        if (i && h[i - 1] == '\r') h[i - 1] = ' ';
    }
}

/* The header block hdr[0..n) (lines ended by LF, the blank line excluded) into p. */
static int parse_headers(char *hdr, size_t n, sh_mp_part *p)
{
    memset(p, 0, sizeof *p);
    unfold(hdr, n);
    int have_disp = 0;
    char *line = hdr, *end = hdr + n;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        *nl = 0;
        if (nl > line && nl[-1] == '\r') nl[-1] = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *name = line;
            size_t ln = strlen(name);
            while (ln && (name[ln - 1] == ' ' || name[ln - 1] == '\t')) name[--ln] = 0;
            const char *value = skip_ows(colon + 1);
            if (strcasecmp(name, "content-disposition") == 0) {
                if (have_disp || parse_disposition(value, p) != 0) return -1;
                have_disp = 1;
            } else if (strcasecmp(name, "content-type") == 0) {
                strncpy(p->content_type, value, sizeof p->content_type - 1);
            }
        } else if (*line) {
            return -1;   /* not a header line */
        }
        line = nl + 1;
    }
    return have_disp ? 0 : -1;
}

/* ------------------------------------------------------------------ the stream */

void sh_mp_init(sh_mp *m, const char *boundary, const sh_mp_callbacks *cb, void *ud)
{
    memset(m, 0, sizeof *m);
    size_t b = strlen(boundary);
    if (b > SH_MP_BOUNDARY_MAX) b = SH_MP_BOUNDARY_MAX;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, b);
    m->dlen = 4 + b;
    m->cb = *cb;
    m->ud = ud;
    m->state = ST_PREAMBLE;
    m->match = 2;   /* the first delimiter may open the body: as if a CRLF came before it */
}

static sh_mp_status fail(sh_mp *m, sh_mp_status s)
{
    if (m->status == SH_MP_OK) m->status = s;
    return m->status;
}

/* Watches part data for "\n--boundary" (delim without its CR), streaming, so it does not
 * matter how the body was cut. LF occurs in it only first: a mismatch restarts at 0, or
 * at 1 when the mismatching byte is an LF itself. */
static void watch_bare_lf(sh_mp *m, const char *p, size_t n)
{
    const char *pat = m->delim + 1;
    const size_t plen = m->dlen - 1;
    for (size_t i = 0; i < n && !m->bare_lf; i++) {
        if (m->lf_match == 0) {
            const char *nl = memchr(p + i, '\n', n - i);
            if (!nl) return;
            i = (size_t)(nl - p);
            m->lf_match = 1;
        } else if (p[i] == pat[m->lf_match]) {
            m->lf_match++;
        } else {
            m->lf_match = p[i] == '\n';
        }
        if (m->lf_match == plen) m->bare_lf = 1;
    }
}

static int emit(sh_mp *m, const char *p, size_t n)
{
    if (!n || m->state != ST_BODY) return 0;
    watch_bare_lf(m, p, n);
    return m->cb.part_data ? m->cb.part_data(m->ud, p, n) : 0;
}

/* Looks for the delimiter in data[0..n) (preamble or a part's body), passing the bytes
 * that are not part of it to part_data when in a body. Returns the bytes consumed: up to
 * the end of the delimiter when found (m->match == m->dlen then), else n. A partial match
 * at the end is held back (it is delim[0..match)) and released if the next bytes differ.
 * The delimiter starts with CR and has no other CR, so a mismatch can only restart a
 * match at the mismatching byte itself. */
static size_t scan(sh_mp *m, const char *data, size_t n, int *stop)
{
    size_t i = 0, run = 0;
    while (i < n) {
        if (m->match == 0) {
            const char *cr = memchr(data + i, '\r', n - i);
            if (!cr) { i = n; break; }
            i = (size_t)(cr - data);
            if (emit(m, data + run, i - run)) { *stop = 1; return i; }
            m->match = 1;
            run = ++i;
            continue;
        }
        if (data[i] == m->delim[m->match]) {
            i++;
            run = i;
            if (++m->match == m->dlen) return i;
            continue;
        }
        /* mismatch: the held bytes were data after all; look at this byte afresh */
        if (emit(m, m->delim, m->match)) { *stop = 1; return i; }
        m->match = 0;
        run = i;
    }
    if (m->match == 0 && emit(m, data + run, n - run)) *stop = 1;
    return n;
}

/* One byte after a delimiter: "--" closes, padding and CRLF (or a bare LF) open a part. */
static int after_delim(sh_mp *m, char c)
{
    if (m->state == ST_AFTER_DELIM && (c == '-' || m->dashes)) {
        if (c != '-') return -1;
        if (++m->dashes == 2) m->state = ST_EPILOGUE;
        return 0;
    }
    if (m->state == ST_DELIM_CR) {
        if (c != '\n') return -1;
        m->state = ST_HEADERS;
    } else if (c == ' ' || c == '\t') {
        m->state = ST_PADDING;
    } else if (c == '\r') {
        m->state = ST_DELIM_CR;
    } else if (c == '\n') {
        m->state = ST_HEADERS;
    } else {
        return -1;
    }
    m->hlen = 0;
    return 0;
}

/* Collects a part's header block; at its blank line, parses it and calls part_begin. */
static sh_mp_status header_byte(sh_mp *m, char c)
{
    if (m->hlen == sizeof m->hdr || c == 0) return fail(m, SH_MP_BAD_HEADERS);
    m->hdr[m->hlen++] = c;
    if (c != '\n') return SH_MP_OK;
    size_t ls = m->hlen - 1;   /* start of the line this LF ends */
    while (ls > 0 && m->hdr[ls - 1] != '\n') ls--;
    size_t len = m->hlen - 1 - ls;
    if (len > 1 || (len == 1 && m->hdr[ls] != '\r')) return SH_MP_OK;
    sh_mp_part p;
    if (parse_headers(m->hdr, ls, &p) != 0) return fail(m, SH_MP_BAD_HEADERS);
    m->parts++;
    m->state = ST_BODY;
    m->match = 0;
    if (m->cb.part_begin && m->cb.part_begin(m->ud, &p)) return fail(m, SH_MP_STOPPED);
    return SH_MP_OK;
}

sh_mp_status sh_mp_feed(sh_mp *m, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n && m->status == SH_MP_OK) {
        switch (m->state) {
        case ST_PREAMBLE:
        case ST_BODY: {
            int stop = 0, was_body = m->state == ST_BODY;
            i += scan(m, data + i, n - i, &stop);
            if (stop) return fail(m, SH_MP_STOPPED);
            if (m->match == m->dlen) {
                m->match = 0;
                m->dashes = 0;
                m->state = ST_AFTER_DELIM;
                if (was_body && m->cb.part_end && m->cb.part_end(m->ud))
                    return fail(m, SH_MP_STOPPED);
            }
            break;
        }
        case ST_AFTER_DELIM:
        case ST_PADDING:
        case ST_DELIM_CR:
            if (after_delim(m, data[i++]) != 0) return fail(m, SH_MP_BAD_DELIMITER);
            break;
        case ST_HEADERS:
            header_byte(m, data[i++]);
            break;
        default:   /* ST_EPILOGUE: ignored (RFC 2046) */
            i = n;
        }
    }
    return m->status;
}

sh_mp_status sh_mp_finish(sh_mp *m)
{
    if (m->status == SH_MP_OK && m->state != ST_EPILOGUE)
        fail(m, m->bare_lf ? SH_MP_BARE_LF : SH_MP_TRUNCATED);
    return m->status;
}

const char *sh_mp_strerror(sh_mp_status s)
{
    switch (s) {
    case SH_MP_OK: return "ok";
    case SH_MP_TRUNCATED: return "the multipart body ended before its closing boundary "
                                 "(truncated upload?)";
    case SH_MP_BAD_DELIMITER: return "malformed multipart boundary line";
    case SH_MP_BAD_HEADERS: return "malformed multipart part headers (each part needs "
                                   "Content-Disposition: form-data; name=...)";
    case SH_MP_STOPPED: return "stopped";
    case SH_MP_BARE_LF: return "its boundary lines end in a bare LF; RFC 2046 wants CRLF";
    }
    return "?";
}
