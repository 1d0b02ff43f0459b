/* dynbuf.h — one capped growable byte buffer (as curl's dynbuf), for the places that
 * collect an unknown amount of data: it doubles its allocation, never grows past the cap
 * given at init, and always keeps a NUL after the data so text can be used in place.
 * Typed arrays use it with element-sized adds (sp_dynbuf_n gives the element count). */
#ifndef SP_DYNBUF_H
#define SP_DYNBUF_H

#include <stddef.h>

typedef struct {
    char *p;          /* data, NUL-terminated; NULL until the first add */
    size_t len;       /* bytes of data */
    size_t cap;       /* bytes allocated (data + NUL) */
    size_t max;       /* most bytes of data ever held */
} sp_dynbuf;

/* max: the cap in bytes (SP_DYNBUF_NOCAP: only memory bounds it). */
#define SP_DYNBUF_NOCAP ((size_t)-1 / 2)
void sp_dynbuf_init(sp_dynbuf *b, size_t max);
/* Appends n bytes. Returns 0, or -1 with errno ENOMEM, or EFBIG when the data would pass
 * the cap (nothing is added then). */
int sp_dynbuf_add(sp_dynbuf *b, const void *data, size_t n);
/* Makes room for n more bytes without adding them (same errors). */
int sp_dynbuf_reserve(sp_dynbuf *b, size_t n);
/* Hands the buffer over (the caller frees it; NULL if nothing was ever added) and resets b. */
void *sp_dynbuf_take(sp_dynbuf *b, size_t *len);
void sp_dynbuf_free(sp_dynbuf *b);

#define sp_dynbuf_n(b, type) ((b)->len / sizeof(type))

#endif
