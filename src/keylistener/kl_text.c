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

int kl_text_join_space(const char *prev, const char *next)
{
    static const char *const closing[] = { "\xe2\x80\xa6", "\xe2\x80\x9d", "\xe2\x80\x99", "\xc2\xbb" };
    if (!prev || !prev[0] || !next || !next[0]) return 0;
    if (is_space((unsigned char)prev[strlen(prev) - 1]) || is_space((unsigned char)next[0])) return 0;
    if (strchr(",.;:!?)]}%", next[0])) return 0;
    for (size_t i = 0; i < sizeof closing / sizeof closing[0]; i++)
        if (!strncmp(next, closing[i], strlen(closing[i]))) return 0;
    return 1;
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
