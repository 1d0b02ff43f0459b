/* utf8.h — UTF-8 validation and repair, shared by the tokenizer (decoded token text) and the
 * programs that write text they did not make into JSON (a file name is any bytes). Valid
 * means: no overlongs, no surrogates, nothing past U+10FFFF. */
#ifndef SP_UTF8_H
#define SP_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence starting at s[0] (1..4; s holds n >= 1 bytes), or 0 when it
 * starts an invalid one; *bad then gets the length of the maximal invalid subpart (>= 1). */
int sp_utf8_seq(const unsigned char *s, size_t n, int *bad);
/* Writes in[0..n) as valid UTF-8 to out (capacity >= 3 * n + 1), NUL-terminated; returns
 * the length. Maximal invalid subsequences (Unicode "substitution of maximal subparts")
 * become U+FFFD. */
size_t sp_utf8_repair(const char *in, size_t n, char *out);
/* Where to cut s[0..n) so that it does not end inside a multibyte sequence: n, or the start
 * of the incomplete sequence at its end (a buffer truncated by bytes, as snprintf does). */
size_t sp_utf8_cut(const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8. */
int sp_utf8_valid(const char *s, size_t n);
/* The code point of the valid sequence s[0..len) (len from sp_utf8_seq, 1..4). */
uint32_t sp_utf8_cp(const unsigned char *s, int len);
/* Python's str.isspace(): the White_Space property plus U+001C..U+001F (bidi class B/S);
 * what str.strip() removes (openai and faster-whisper strip prompts and texts so). */
int sp_uc_py_space(uint32_t cp);
/* Python's str.strip() on the NUL-terminated s: [*b, *e) is what stays. */
void sp_py_strip_span(const char *s, size_t *b, size_t *e);
/* 1 when cp lies in one of the n sorted, disjoint inclusive ranges r[i][0]..r[i][1] (the
 * Unicode class tables here and in the tokenizer) */
int sp_uc_in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp);
/* 1 when cp is punctuation: Unicode general category P* (Unicode 14.0) — ASCII's
 * !"#%&'()*,-./:;?@[\]_{} and “”‘’«»¿¡…—–、。，！？「」 and the like; not symbols ($ + ~). */
int sp_uc_is_punct(uint32_t cp);

#endif
