/* fuzz_parts.h — one fuzz input split into length-prefixed parts, so a single input covers a
 * model file and its side files (shared by the model-reader targets). */
#ifndef FUZZ_PARTS_H
#define FUZZ_PARTS_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The next part, [u32 length][bytes]: returns where its bytes start and sets *n. A length
 * past the end takes what is left; fewer than 4 bytes left make an empty part. */
static inline const uint8_t *fuzz_part(const uint8_t **p, size_t *left, size_t *n)
{
    uint32_t len = 0;
    if (*left >= 4) { memcpy(&len, *p, 4); *p += 4; *left -= 4; }
    else { *p += *left; *left = 0; }
    const uint8_t *start = *p;
    *n = len < *left ? len : *left;
    *p += *n;
    *left -= *n;
    return start;
}

/* an exact-size heap copy of a part, so ASan sees any read past its end */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b && n) memcpy(b, p, n);
    return b;
}
#endif
