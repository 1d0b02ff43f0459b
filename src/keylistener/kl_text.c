/* kl_text.c — see kl_text.h. */
#include "keylistener/kl_text.h"

#include <stdlib.h>
#include <string.h>

static int is_space(unsigned char c) { return c <= ' ' || c == 0x7f; }

char *kl_text_join(const char *const *segs, size_t n)
{
    return kl_text_join_ex(segs, NULL, n);
}

char *kl_text_join_ex(const char *const *segs, const unsigned char *tight, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        if (segs[i]) total += strlen(segs[i]) + 1;
    char *out = malloc(total), *p = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!segs[i]) continue;
        int lead = tight && tight[i];   /* white space before its first character is not a gap */
        int sep = p != out && !lead;    /* a space is owed before the next visible character */
        for (const unsigned char *c = (const unsigned char *)segs[i]; *c; c++) {
            if (is_space(*c)) {
                if (p != out && !lead) sep = 1;
                continue;
            }
            if (sep) *p++ = ' ';
            sep = lead = 0;
            *p++ = (char)*c;
        }
    }
    *p = 0;
    return out;
}

size_t kl_utf8_put(unsigned long cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t kl_utf8_next(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    unsigned long v;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xc2 && c <= 0xdf) { need = 1; v = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2; v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;            /* overlong */
        if (c == 0xed) hi = 0x9f;            /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3; v = c & 0x07;
        if (c == 0xf0) lo = 0x90;            /* overlong */
        if (c == 0xf4) hi = 0x8f;            /* past U+10FFFF */
    } else { *cp = 0xfffd; return 1; }
    size_t i;
    for (i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) { *cp = 0xfffd; return i; }
        v = v << 6 | (s[i] & 0x3f);
        lo = 0x80; hi = 0xbf;
    }
    *cp = v;
    return i;
}

/* the last code point of s (not empty): back over up to three continuation bytes */
static unsigned long cp_last(const char *s)
{
    const unsigned char *b = (const unsigned char *)s, *e = b + strlen(s), *p = e - 1;
    for (int i = 0; i < 3 && p > b && (*p & 0xc0) == 0x80; i++) p--;
    unsigned long cp;
    kl_utf8_next(p, (size_t)(e - p), &cp);
    return cp;
}

/* Scripts written without spaces between sentences: CJK punctuation, kana, ideographs and
 * the full-width forms (not Hangul: Korean puts spaces between words). */
static int unspaced(unsigned long c)
{
    return (c >= 0x3000 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff00 && c <= 0xffef);
}

/* Blocks where upper and lower case alternate (even upper, odd lower) or sit at a fixed
 * distance; checked in order. */
unsigned long kl_cp_lower(unsigned long cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||                 /* Latin-1 */
        (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||              /* Greek */
        (cp >= 0x410 && cp <= 0x42F)) return cp + 0x20;             /* Cyrillic */
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;               /* Ѐ..Џ */
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 0x25;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 0x3F;
    if (cp == 0x178) return 0xFF;                                    /* Ÿ */
    if (((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
         (cp >= 0x14A && cp <= 0x177) || (cp >= 0x460 && cp <= 0x481) ||
         (cp >= 0x48A && cp <= 0x4BF) || (cp >= 0x4D0 && cp <= 0x4FF)) && !(cp & 1)) return cp + 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E) ||
         (cp >= 0x4C1 && cp <= 0x4CE)) && (cp & 1)) return cp + 1;
    if (cp == 0x4C0) return 0x4CF;
    return cp;
}

unsigned long kl_cp_upper(unsigned long cp)
{
    if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) ||
        (cp >= 0x3B1 && cp <= 0x3CB && cp != 0x3C2) ||
        (cp >= 0x430 && cp <= 0x44F)) return cp - 0x20;
    if (cp == 0x3C2) return 0x3A3;                                   /* ς -> Σ */
    if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
    if (cp == 0x3AC) return 0x386;
    if (cp >= 0x3AD && cp <= 0x3AF) return cp - 0x25;
    if (cp == 0x3CC) return 0x38C;
    if (cp == 0x3CD || cp == 0x3CE) return cp - 0x3F;
    if (cp == 0xFF) return 0x178;
    if (((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
         (cp >= 0x14A && cp <= 0x177) || (cp >= 0x460 && cp <= 0x481) ||
         (cp >= 0x48A && cp <= 0x4BF) || (cp >= 0x4D0 && cp <= 0x4FF)) && (cp & 1)) return cp - 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E) ||
         (cp >= 0x4C1 && cp <= 0x4CE)) && !(cp & 1)) return cp - 1;
    if (cp == 0x4CF) return 0x4C0;
    return cp;
}

int kl_text_join_space(const char *prev, const char *next)
{
    /* closing marks beyond ASCII: … ” ’ » */
    static const unsigned long closing[] = { 0x2026, 0x201d, 0x2019, 0xbb };
    /* opening marks: ( [ { “ ‘ « ¿ ¡ */
    static const unsigned long opening[] = { '(', '[', '{', 0x201c, 0x2018, 0xab, 0xbf, 0xa1 };
    if (!prev || !prev[0] || !next || !next[0]) return 0;
    if (is_space((unsigned char)prev[strlen(prev) - 1]) || is_space((unsigned char)next[0])) return 0;
    if (strchr(",.;:!?)]}%", next[0])) return 0;
    unsigned long first;
    kl_utf8_next((const unsigned char *)next, strlen(next), &first);
    const unsigned long last = cp_last(prev);
    for (size_t i = 0; i < sizeof closing / sizeof closing[0]; i++)
        if (first == closing[i]) return 0;
    for (size_t i = 0; i < sizeof opening / sizeof opening[0]; i++)
        if (last == opening[i]) return 0;
    /* "你好。" then "今天…": no space after, or before, text of those scripts */
    return !unspaced(first) && !unspaced(last);
}

void kl_term_init(kl_term *t)
{
    memset(t, 0, sizeof *t);
    t->hold_detect = 0.7;   /* longer than the usual autorepeat delays (250-660 ms) */
    t->release_gap = 0.2;   /* several autorepeat periods (25-40 ms) */
}

kl_ev_action kl_term_enter(kl_term *t, double now)
{
    double since = now - t->last;
    t->last = now;
    switch (t->state) {
    case 0: t->state = 1; return KL_EV_START;
    case 1: if (since <= t->hold_detect) { t->state = 2; return KL_EV_NONE; }
            t->state = 4; return KL_EV_STOP;
    case 2: return KL_EV_NONE;
    case 3: t->state = 4; return KL_EV_STOP;
    default: return KL_EV_NONE;       /* 4: repeats of the stopping press */
    }
}

kl_ev_action kl_term_tick(kl_term *t, double now)
{
    double since = now - t->last;
    switch (t->state) {
    case 1: if (since > t->hold_detect) t->state = 3; return KL_EV_NONE;
    case 2: if (since > t->release_gap) { t->state = 0; return KL_EV_STOP; } return KL_EV_NONE;
    case 4: if (since > t->release_gap) t->state = 0; return KL_EV_NONE;
    default: return KL_EV_NONE;
    }
}

double kl_term_deadline(const kl_term *t)
{
    switch (t->state) {
    case 1: return t->last + t->hold_detect + 1e-3;
    case 2: case 4: return t->last + t->release_gap + 1e-3;
    default: return -1;
    }
}

void kl_term_reset(kl_term *t, int recording)
{
    if (recording && t->state == 0) t->state = 3;
    if (!recording && (t->state == 1 || t->state == 2 || t->state == 3)) t->state = 4;
}
