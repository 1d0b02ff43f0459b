/* dynbuf.c — see dynbuf.h. */
#include "common/dynbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DYNBUF_MIN 64

void sp_dynbuf_init(sp_dynbuf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max < SP_DYNBUF_NOCAP ? max : SP_DYNBUF_NOCAP;   /* so max + 1 never wraps */
}

int sp_dynbuf_reserve(sp_dynbuf *b, size_t n)
{
    if (n > b->max - b->len) {   /* never wraps: len <= max */
        errno = EFBIG;
        return -1;
    }
    size_t need = b->len + n + 1;   /* + the NUL */
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : DYNBUF_MIN;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;   /* the cap bounds the allocation too */
    char *p = realloc(b->p, cap);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int sp_dynbuf_add(sp_dynbuf *b, const void *data, size_t n)
{
    if (sp_dynbuf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    if (b->p) b->p[b->len] = 0;
    return 0;
}

void *sp_dynbuf_take(sp_dynbuf *b, size_t *len)
{
    void *p = b->p;
    if (len) *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sp_dynbuf_free(sp_dynbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
