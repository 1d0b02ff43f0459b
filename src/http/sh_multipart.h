/* sh_multipart.h — a streaming multipart/form-data parser (RFC 2046 §5.1, RFC 7578) for the
 * HTTP front end, written because libmicrohttpd's post processor refused what the official
 * OpenAI Node SDK sends (an epilogue after the closing delimiter) and accepted what it must
 * not (a body cut before its closing delimiter). Pure C, no I/O: unit-tested by
 * tests/unit/test_multipart.c and fuzzed by fuzz/fuzz_multipart.c.
 *
 * Lenient where the RFCs say a receiver must be: preamble and epilogue ignored, header names
 * case-insensitive, transport padding after a delimiter, quoted or unquoted boundaries
 * (1..70 characters), name/filename as tokens or quoted strings (backslash escapes),
 * filename*= (RFC 5987, UTF-8 or ISO-8859-1) preferred over filename=, raw UTF-8 names,
 * header lines ended by CRLF or a bare LF, parts in any order.
 * Strict where it matters: a body that ends before its closing delimiter is refused
 * (sh_mp_finish; SH_MP_BARE_LF when its delimiter lines end in a bare LF), as are parts without Content-Disposition: form-data; name=..., header
 * blocks over SH_MP_HEADER_MAX, and bytes after a delimiter that are not "--", padding or
 * CRLF.
 *
 * Use: sh_mp_boundary() on the request's Content-Type, sh_mp_init(), sh_mp_feed() for each
 * piece of the (de-chunked) body as it arrives, sh_mp_finish() at its end. Callbacks return
 * 0 to go on, non-zero to stop (the parser then fails with SH_MP_STOPPED). */
#ifndef SH_MULTIPART_H
#define SH_MULTIPART_H

#include <stddef.h>

#define SH_MP_BOUNDARY_MAX 70     /* RFC 2046 */
#define SH_MP_HEADER_MAX 8192     /* one part's header block */
#define SH_MP_NAME_MAX 256        /* a field name or file name, decoded */

typedef struct {
    char name[SH_MP_NAME_MAX];        /* the form field's name */
    char filename[SH_MP_NAME_MAX];    /* decoded file name (UTF-8 as sent); "" when none */
    int has_filename;                 /* 1 when filename= or filename*= was present */
    char content_type[128];           /* as sent, "" when absent (informational only) */
} sh_mp_part;

typedef struct {
    int (*part_begin)(void *ud, const sh_mp_part *p);
    int (*part_data)(void *ud, const char *data, size_t n);
    int (*part_end)(void *ud);
} sh_mp_callbacks;

typedef enum {
    SH_MP_OK = 0,
    SH_MP_TRUNCATED,       /* the body ended before the closing delimiter */
    SH_MP_BAD_DELIMITER,   /* junk after a boundary delimiter */
    SH_MP_BAD_HEADERS,     /* header block too long or with a NUL, no form-data disposition,
                              no name */
    SH_MP_STOPPED,         /* a callback asked to stop */
    SH_MP_BARE_LF,         /* no closing delimiter, but the body held its boundary after a
                            * bare LF: delimiter lines ended by LF, not CRLF (sh_mp_finish) */
} sh_mp_status;

typedef struct {
    /* configuration */
    char delim[4 + SH_MP_BOUNDARY_MAX + 1];   /* CRLF "--" boundary */
    size_t dlen;
    sh_mp_callbacks cb;
    void *ud;
    /* state */
    int state;
    size_t match;              /* bytes of delim matched so far */
    int dashes;                /* '-' seen right after a delimiter */
    char hdr[SH_MP_HEADER_MAX];
    size_t hlen;
    int parts;
    sh_mp_status status;       /* sticky: the first failure */
    size_t lf_match;           /* bytes of "\n--boundary" matched in part data so far */
    int bare_lf;               /* 1 once part data held "\n--boundary": a delimiter line
                                * ended by a bare LF, which RFC 2046 does not allow — the
                                * parts after it run into the one before, so a failure
                                * then is the framing's (a caller may say so) */
} sh_mp;

/* Extracts the boundary parameter of a multipart/form-data Content-Type (type and parameter
 * names case-insensitive, value a token or a quoted string of 1..70 RFC 2046 characters).
 * 0 on success, -1 when ct is not multipart/form-data or has no valid boundary. */
int sh_mp_boundary(const char *ct, char out[SH_MP_BOUNDARY_MAX + 1]);

void sh_mp_init(sh_mp *m, const char *boundary, const sh_mp_callbacks *cb, void *ud);

/* Feeds the next n bytes of the body. Returns SH_MP_OK or the (sticky) failure. */
sh_mp_status sh_mp_feed(sh_mp *m, const char *data, size_t n);

/* The body has ended: SH_MP_OK only when the closing delimiter was seen. */
sh_mp_status sh_mp_finish(sh_mp *m);

/* A short English description of a status, for error messages. */
const char *sh_mp_strerror(sh_mp_status s);

#endif
