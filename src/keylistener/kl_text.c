/* kl_text.c — see kl_text.h. */
#include "keylistener/kl_text.h"

#include <stdlib.h>
#include <string.h>

static int is_space(unsigned char c) { return c <= ' ' || c == 0x7f; }

char *kl_text_join(const char *const *segs, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        if (segs[i]) total += strlen(segs[i]) + 1;
    char *out = malloc(total), *p = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!segs[i]) continue;
        int sep = p != out;        /* a space is owed before the next visible character */
        for (const unsigned char *c = (const unsigned char *)segs[i]; *c; c++) {
            if (is_space(*c)) {
                if (p != out) sep = 1;
                continue;
            }
            if (sep) *p++ = ' ';
            sep = 0;
            *p++ = (char)*c;
        }
    }
    *p = 0;
    return out;
}

/* the code point at p (UTF-8; a stray byte is itself) */
static unsigned long cp_at(const unsigned char *p)
{
    if (p[0] < 0xc0) return p[0];
    int n = p[0] >= 0xf0 ? 3 : p[0] >= 0xe0 ? 2 : 1;
    unsigned long c = p[0] & (0x3f >> n);
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) return p[0];
        c = c << 6 | (p[i] & 0x3f);
    }
    return c;
}

/* the last code point of s (not empty) */
static unsigned long cp_last(const char *s)
{
    const unsigned char *p = (const unsigned char *)s + strlen(s) - 1;
    for (int i = 0; i < 3 && p > (const unsigned char *)s && (*p & 0xc0) == 0x80; i++) p--;
    return cp_at(p);
}

/* Scripts written without spaces between sentences: CJK punctuation, kana, ideographs and
 * the full-width forms (not Hangul: Korean puts spaces between words). */
static int unspaced(unsigned long c)
{
    return (c >= 0x3000 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff00 && c <= 0xffef);
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
    const unsigned long first = cp_at((const unsigned char *)next), last = cp_last(prev);
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
