/* sp_dynbuf: growth, the cap (nothing added past it), NUL termination, take/free. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynbuf.h"
#include "harness.h"

int main(void)
{
    TEST("grows by doubling, keeps a NUL after the data") {
        sp_dynbuf b;
        sp_dynbuf_init(&b, SP_DYNBUF_NOCAP);
        for (int i = 0; i < 1000; i++) CHECK(sp_dynbuf_add(&b, "ab", 2) == 0);
        CHECK(b.len == 2000 && b.cap >= 2001 && b.cap <= 4096);
        CHECK(b.p[2000] == 0 && strlen(b.p) == 2000 && !memcmp(b.p + 1998, "ab", 2));
        sp_dynbuf_free(&b);
        CHECK(b.p == NULL && b.len == 0);
    }
    TEST("the cap: an add that would pass it fails with EFBIG and adds nothing") {
        sp_dynbuf b;
        sp_dynbuf_init(&b, 10);
        CHECK(sp_dynbuf_add(&b, "0123456789", 10) == 0 && b.len == 10);
        errno = 0;
        CHECK(sp_dynbuf_add(&b, "x", 1) == -1 && errno == EFBIG && b.len == 10);
        CHECK(b.cap == 11);                        /* the allocation is capped too */
        CHECK(!strcmp(b.p, "0123456789"));
        errno = 0;
        CHECK(sp_dynbuf_reserve(&b, (size_t)-1) == -1 && errno == EFBIG);   /* no wrap */
        sp_dynbuf_free(&b);
    }
    TEST("typed use and take") {
        sp_dynbuf b;
        sp_dynbuf_init(&b, 100 * sizeof(int));
        for (int i = 0; i < 100; i++) CHECK(sp_dynbuf_add(&b, &i, sizeof i) == 0);
        CHECK(sp_dynbuf_n(&b, int) == 100);
        int k = 100;
        CHECK(sp_dynbuf_add(&b, &k, sizeof k) == -1);
        size_t len = 0;
        int *v = sp_dynbuf_take(&b, &len);
        CHECK(v && len == 100 * sizeof(int) && v[0] == 0 && v[99] == 99);
        CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
        free(v);
        sp_dynbuf_init(&b, SP_DYNBUF_NOCAP);
        CHECK(sp_dynbuf_take(&b, &len) == NULL && len == 0);   /* nothing added */
        sp_dynbuf_init(&b, 0);                                  /* a cap of 0 holds nothing */
        CHECK(sp_dynbuf_add(&b, "x", 1) == -1 && errno == EFBIG);
        CHECK(sp_dynbuf_add(&b, "", 0) == 0 && b.p && b.p[0] == 0);
        sp_dynbuf_free(&b);
    }
    TEST_EXIT();
}
