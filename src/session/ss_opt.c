/* ss_opt.c — see ss_opt.h. */
#include "session/ss_opt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
