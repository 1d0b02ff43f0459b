/* fuzz_post.c — libFuzzer target for what key_listener does to Whisper's text before typing
 * it: the segments joined (kl_text_join_ex), the join space between two dictations
 * (kl_text_join_space) and the post-processing steps 1-3 (kl_post_builtin /
 * kl_post_apply_cont without a hook: fillers, replacement rules of all three kinds, spoken
 * punctuation, per-profile rules). All of it is hand-written byte and code point work on
 * text a model made up, so beyond "no crash, no leak" the target checks what the listener
 * relies on:
 *   - valid UTF-8 in (text, rules, filler words) gives valid UTF-8 out: wtype stops at the
 *     first bad byte, and the rest of a dictation would be lost;
 *   - profile "none", and no step switched on, give the text back unchanged;
 *   - joined segments have no control character, no double space and no space at either
 *     end, and the join never adds a byte that no segment had but the single spaces.
 * Input: [u32 len][part]... (fuzz_parts.h): flags, filler words, profile, text, then rules
 * (first byte: kind, then "FROM => TO"). Corpus: fuzz/corpus/post/ (replayed by make test). */
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_parts.h"
#include "keylistener/kl_post.h"
#include "keylistener/kl_text.h"

#define MAX_RULES 8
#define MAX_SEGS 8

/* well-formed UTF-8, NUL excluded (kl_utf8_next's U+FFFD for a bad sequence, as kl_post's
 * own check reads it) */
static int valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned long cp;
        const size_t l = kl_utf8_next(u + i, n - i, &cp);
        if (cp == 0xFFFD && !(l == 3 && u[i] == 0xEF && u[i + 1] == 0xBF && u[i + 2] == 0xBD)) return 0;
        i += l;
    }
    return 1;
}

/* a part as a C string (NUL bytes cut it, as they would any C caller's text) */
static char *cstr(const uint8_t *p, size_t n)
{
    char *s = (char *)fuzz_dup(p, n);
    if (!s) abort();
    s = realloc(s, n + 1);
    if (!s) abort();
    s[n] = 0;
    return s;
}

static void check_join(char **segs, size_t n, const unsigned char *tight, int all_valid)
{
    char *j = kl_text_join_ex((const char *const *)segs, tight, n);
    if (!j) abort();
    const size_t l = strlen(j);
    if (l && (j[0] == ' ' || j[l - 1] == ' ')) abort();
    if (strstr(j, "  ")) abort();
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)j[i] < 0x20 || j[i] == 0x7f) abort();
    size_t in = 0;
    for (size_t i = 0; i < n; i++) in += strlen(segs[i]);
    if (l > in + (n ? n - 1 : 0)) abort();
    if (all_valid && !valid_utf8(j, l)) abort();
    free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {   /* the listener's own locale: towupper by code point */
        once = 1;
        if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C.utf8");
    }
    const uint8_t *p = data;
    size_t left = size, n;
    const uint8_t *f = fuzz_part(&p, &left, &n);
    const unsigned flags = n ? f[0] : 0;
    const uint8_t *fw = fuzz_part(&p, &left, &n);
    char *fillers = cstr(fw, n);
    const uint8_t *pr = fuzz_part(&p, &left, &n);
    char *profile = cstr(pr, n);
    const uint8_t *tx = fuzz_part(&p, &left, &n);
    char *text = cstr(tx, n);
    int all_valid = valid_utf8(text, strlen(text)) && valid_utf8(fillers, strlen(fillers));

    kl_post_opts o = { .fillers = flags & 1, .filler_words = (flags & 2) ? fillers : NULL,
                       .punctuation = (flags >> 2) & 1, .hook = NULL, .hook_timeout = 1 };
    kl_post *post = kl_post_new(&o);
    if (!post) abort();
    int nrules = 0;
    for (int i = 0; i < MAX_RULES && left; i++) {
        const uint8_t *r = fuzz_part(&p, &left, &n);
        if (!n) continue;
        char *spec = cstr(r + 1, n - 1);
        char err[256] = "";
        const kl_rule_kind kind = (kl_rule_kind)(r[0] % 3);
        if (kl_post_add(post, kind, spec, err, sizeof err) == 0) {
            nrules++;
            /* a regex rule's TO may cut a character (it is then dropped); the others'
             * TO is typed as written, so bad UTF-8 in a spec lets bad UTF-8 out */
            if (kind != KL_RULE_REGEX && !valid_utf8(spec, strlen(spec))) all_valid = 0;
        } else if (!err[0] || !memchr(err, 0, sizeof err)) {
            abort();   /* a refusal says why */
        }
        free(spec);
    }
    const char *prof = (flags & 8) ? profile : NULL;
    const int cont = (flags >> 4) & 1;

    char err[256];
    char *out = kl_post_apply_cont(post, prof, text, cont, err, sizeof err);
    if (!out) abort();
    if (err[0]) abort();   /* no hook: nothing can fail */
    if (all_valid && !valid_utf8(out, strlen(out))) abort();
    if (prof && !strcmp(prof, "none") && strcmp(out, text)) abort();
    if (!o.fillers && !o.punctuation && !nrules && strcmp(out, text)) abort();
    char *b = kl_post_builtin(post, prof, text);
    if (!b) abort();
    if (!cont && strcmp(b, out)) abort();   /* apply without a hook is builtin */
    free(b);

    /* the text as one dictation's segments, cut where the flags' upper bits say, then the
     * join space between the result and the text (no crash; 0 or 1) */
    char *segs[MAX_SEGS];
    unsigned char tight[MAX_SEGS];
    size_t ns = 0, tl = strlen(text), at = 0;
    const size_t step = 1 + (flags >> 5) * 3;
    while (ns < MAX_SEGS && at <= tl) {
        size_t e = ns == MAX_SEGS - 1 ? tl : at + step > tl ? tl : at + step;
        segs[ns] = cstr((const uint8_t *)text + at, e - at);
        tight[ns] = (unsigned char)((flags >> (ns % 8)) & 1);
        ns++;
        at = e + 1;
        if (e == tl) break;
    }
    /* cut on bytes, a segment may end inside a character: only whole pieces count as valid */
    int segs_valid = 1;
    for (size_t i = 0; i < ns; i++) segs_valid &= valid_utf8(segs[i], strlen(segs[i]));
    check_join(segs, ns, tight, segs_valid);
    check_join(segs, ns, NULL, segs_valid);
    const int sp = kl_text_join_space(out, text);
    if (sp != 0 && sp != 1) abort();
    for (size_t i = 0; i < ns; i++) free(segs[i]);

    free(out);
    kl_post_free(post);
    free(text);
    free(profile);
    free(fillers);
    return 0;
}
