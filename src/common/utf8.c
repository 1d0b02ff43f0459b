/* utf8.c — see utf8.h. */
#include "common/utf8.h"

#include <string.h>

int sp_utf8_seq(const unsigned char *s, size_t n, int *bad)
{
    unsigned c = s[0];
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else { *bad = 1; return 0; }
    size_t j = 1;
    for (int k = 0; k < need; k++, j++) {
        if (j >= n || s[j] < (k == 0 ? lo : 0x80) || s[j] > (k == 0 ? hi : 0xBF)) { *bad = (int)j; return 0; }
    }
    return need + 1;
}

size_t sp_utf8_repair(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] < 0x80) { out[o++] = (char)s[i++]; continue; }
        int bad = 0, len = sp_utf8_seq(s + i, n - i, &bad);
        if (len) {
            memcpy(out + o, s + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
        } else {
            out[o++] = (char)0xEF; out[o++] = (char)0xBF; out[o++] = (char)0xBD;
            i += (size_t)bad;
        }
    }
    out[o] = 0;
    return o;
}

size_t sp_utf8_cut(const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    /* the last lead byte within the 4 bytes a sequence may take */
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned c = s[n - back];
        if ((c & 0xC0) == 0x80) continue;   /* a continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;   /* no lead byte: not a truncated sequence (invalid bytes stay as they are) */
}

int sp_utf8_valid(const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        int bad = 0, len = sp_utf8_seq(s + i, n - i, &bad);
        if (!len) return 0;
        i += (size_t)len;
    }
    return 1;
}

uint32_t sp_utf8_cp(const unsigned char *s, int len)
{
    switch (len) {
    case 1: return s[0];
    case 2: return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3: return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default: return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

int sp_uc_py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}
