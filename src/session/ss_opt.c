/* ss_opt.c — see ss_opt.h. */
#include "session/ss_opt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "speech.h"   /* SP_AUDIO_CTX_AUTO */

int ss_opt_num(const char *s, double lo, double hi, double *out)
{
    if (!s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int ss_opt_audio_ctx(const char *s, int *out)
{
    if (s && !strcmp(s, "auto")) { *out = SP_AUDIO_CTX_AUTO; return 0; }
    double v;
    if (ss_opt_num(s, 1, 1500, &v) || v != floor(v)) return -1;
    *out = (int)v;
    return 0;
}

/* the value part of ss_opt_say */
static void show(FILE *f, const char *arg)
{
    const unsigned char *s = (const unsigned char *)arg;
    size_t used = 0, left = strlen(arg);
    while (left && used < 60) {
        int bad = 0;
        const int n = sp_utf8_seq(s, left, &bad);
        /* C0, DEL and C1 (U+0080..U+009F: U+009B is a terminal's CSI) escaped */
        if (n == 0 || *s < 0x20 || *s == 0x7f || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
            fprintf(f, "\\x%02x", *s);
            s++, left--, used++;
            continue;
        }
        if (used + (size_t)n > 60) break;
        fwrite(s, 1, (size_t)n, f);
        s += n, left -= (size_t)n, used += (size_t)n;
    }
    if (left) fputs("...", f);
}

void ss_opt_say(const char *prog, const char *what, const char *arg, const char *why)
{
    fprintf(stderr, "%s: %s'", prog, what);
    show(stderr, arg ? arg : "");
    fprintf(stderr, "'%s\n", why ? why : "");
}

void ss_opt_refused(const char *prog, const struct option *lo, int ch, const char *arg, const char *why)
{
    for (const struct option *o = lo; o->name; o++) {
        if (o->val != ch) continue;
        char what[96];
        snprintf(what, sizeof what, "bad value for --%s: ", o->name);
        ss_opt_say(prog, what, arg, why);
        return;
    }
}
