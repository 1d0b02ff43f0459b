/* kl_post.c — see kl_post.h. Works on UTF-8 bytes: word characters are ASCII letters and
 * digits, the apostrophe and every byte >= 0x80 (so "café" is one word); matching folds
 * case by code point (kl_cp_lower: Latin, Greek, Cyrillic); a capital moved to the next word
 * is any letter's (towupper). */
#include "keylistener/kl_post.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "keylistener/kl_output.h"
#include "keylistener/kl_text.h"

typedef struct {
    kl_rule_kind kind;
    char *profile;             /* NULL: every profile */
    char *from, *to;
    regex_t re;
} rule;

struct kl_post {
    kl_post_opts o;
    char *fillers_buf;         /* the filler list, split in place */
    char *filler[64];
    size_t nfill;
    char *hook;
    rule *r;
    size_t nr;
};

/* ---- a growable string --------------------------------------------------------------- */

typedef struct { char *p; size_t len, cap; int oom; } sb;

static void sb_put(sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void sb_c(sb *b, char c) { sb_put(b, &c, 1); }
static char *sb_done(sb *b)
{
    if (!b->p && !b->oom) sb_put(b, "", 0);
    if (b->oom) { free(b->p); return NULL; }
    return b->p;
}
static char sb_last(const sb *b) { return b->len ? b->p[b->len - 1] : 0; }
static void sb_trim_end(sb *b, const char *set)
{
    while (b->len && strchr(set, b->p[b->len - 1])) b->p[--b->len] = 0;
}

static int is_word(unsigned char c) { return isalnum(c) || c == '\'' || c >= 0x80; }
static int at_word_start(const char *t, size_t i) { return is_word((unsigned char)t[i]) && (i == 0 || !is_word((unsigned char)t[i - 1])); }

/* One code point of s (NUL-terminated) into *cp; the bytes it takes (0 at the end). */
static size_t cp_at(const char *s, unsigned long *cp)
{
    if (!*s) return 0;
    return kl_utf8_next((const unsigned char *)s, strnlen(s, 4), cp);
}

/* The bytes of t that equal needle with case folded code point by code point (kl_cp_lower:
 * "Über" is "über"; strncasecmp had folded ASCII only), or 0. */
static size_t match_fold(const char *t, const char *needle)
{
    size_t a = 0, b = 0;
    while (needle[b]) {
        unsigned long ct, cn;
        const size_t lt = cp_at(t + a, &ct), ln = cp_at(needle + b, &cn);
        if (!lt || kl_cp_lower(ct) != kl_cp_lower(cn)) return 0;
        a += lt;
        b += ln;
    }
    return a;
}

/* Length in t of needle when it occurs at t[i] (case-insensitive unless exact) as whole
 * words. */
static size_t match_word(const char *t, size_t i, const char *needle, int exact)
{
    size_t l = strlen(needle), tl;
    if (!l) return 0;
    if (exact) tl = strncmp(t + i, needle, l) ? 0 : l;
    else tl = match_fold(t + i, needle);
    if (!tl) return 0;
    if (is_word((unsigned char)needle[0]) && i > 0 && is_word((unsigned char)t[i - 1])) return 0;
    if (is_word((unsigned char)needle[l - 1]) && is_word((unsigned char)t[i + tl])) return 0;
    return tl;
}

/* ---- set-up ---------------------------------------------------------------------------- */

static const char default_fillers[] = "um,umm,uh,uhh,uhm,erm,hmm,mhm";

kl_post *kl_post_new(const kl_post_opts *o)
{
    kl_post *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->o = *o;
    const char *fl = o->filler_words && *o->filler_words ? o->filler_words : default_fillers;
    p->fillers_buf = strdup(fl);
    p->hook = strdup(o->hook ? o->hook : "");
    if (!p->fillers_buf || !p->hook) { kl_post_free(p); return NULL; }
    for (char *s = strtok(p->fillers_buf, ","); s && p->nfill < 64; s = strtok(NULL, ",")) {
        while (*s == ' ') s++;
        size_t l = strlen(s);
        while (l && s[l - 1] == ' ') s[--l] = 0;
        if (l) p->filler[p->nfill++] = s;
    }
    p->o.filler_words = NULL;
    p->o.hook = p->hook;
    return p;
}

void kl_post_free(kl_post *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nr; i++) {
        if (p->r[i].kind == KL_RULE_REGEX) regfree(&p->r[i].re);
        free(p->r[i].profile);
        free(p->r[i].from);
        free(p->r[i].to);
    }
    free(p->r);
    free(p->fillers_buf);
    free(p->hook);
    free(p);
}

/* One side of "FROM => TO": trimmed; a "..." quoted side keeps its inner spaces. */
static char *side(const char *s, size_t l)
{
    while (l && *s == ' ') { s++; l--; }
    while (l && s[l - 1] == ' ') l--;
    if (l >= 2 && s[0] == '"' && s[l - 1] == '"') { s++; l -= 2; }
    return strndup(s, l);
}

/* The length of a "[profile]" tag at s (its brackets included), 0 when s starts with none.
 * A tag is a name of letters, digits, _ - . in brackets. A regex rule's tag must also be
 * followed by a blank: "[0-9]+ percent" and "[ck]ubernetes" are bracket expressions (they
 * had been read as tags: the first refused as a bad regex, the second silently a rule of
 * profile "ck"). Literal rules keep the tag without the blank ("[code]equals"). */
static size_t tag_len(kl_rule_kind kind, const char *s)
{
    if (*s != '[') return 0;
    const size_t pn = strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");
    if (!pn || s[1 + pn] != ']') return 0;   /* "[]", "[[:alpha:]]+": a pattern */
    if (kind == KL_RULE_REGEX && s[2 + pn] != ' ' && s[2 + pn] != '\t') return 0;
    return pn + 2;
}

/* How many pieces glibc's regcomp builds for an extended regular expression, estimated from
 * its repetitions: each copies what it repeats (a{3}: three, a+: two, {m,}: m + 1) and
 * copies of copies multiply. A stacked repetition ("x+++", which POSIX leaves undefined)
 * doubles the tree each time: 20 of them took regcomp 0.75 s and 700 MB, 40 would take
 * all the memory there is — at the listener's start, from a config typo. a{32767}, the
 * largest single count, takes 8 MB. *reps gets the most repetitions over one piece (stacked
 * or through groups, "((x*)+)+" is 3): regcomp's closures grow about fourfold with each
 * over a piece that can be empty (8: 0.05 s, "x*+++++++++++" with 12: 2 s, 11 through
 * groups: over 20 s), whatever the size. Depth past RE_DEPTH_MAX counts as too large (the
 * recursion here, and regcomp's own, is bounded). */
#define RE_COST_MAX 100000.0
#define RE_REPS_MAX 6
#define RE_DEPTH_MAX 64
static double re_cost(const char **pp, int depth, int *reps)
{
    const char *p = *pp;
    double total = 0, atom = 0;
    int areps = 0;   /* repetitions over the last piece (inside it, for a group) */
    if (depth > RE_DEPTH_MAX) return RE_COST_MAX + 1;
    while (*p && !(*p == ')' && depth > 0) && total <= RE_COST_MAX) {
        double f = 0;   /* a repetition's copies, 0: not a repetition */
        if (*p == '(') {
            int inner = 0;
            p++;
            atom = re_cost(&p, depth + 1, &inner) + 1;
            areps = inner;
            if (*p == ')') p++;
        } else if (*p == '[') {   /* a bracket expression: one piece */
            p++;
            if (*p == '^') p++;
            if (*p == ']') p++;
            while (*p && *p != ']') {
                if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char d = p[1], *e = p + 2;
                    while (*e && !(e[0] == d && e[1] == ']')) e++;
                    p = *e ? e + 2 : e;
                } else {
                    p++;
                }
            }
            if (*p) p++;
            atom = 1;
            areps = 0;
        } else if (*p == '*' || *p == '?') {
            f = 1; p++;
        } else if (*p == '+') {
            f = 2; p++;
        } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
            char *e;
            const double m = strtod(p + 1, &e);
            f = m;                                              /* {m} */
            if (*e == ',' && e[1] >= '0' && e[1] <= '9') f = strtod(e + 1, &e);   /* {m,n} */
            else if (*e == ',') { f = m + 1; e++; }             /* {m,} */
            f = f < 1 ? 1 : f;
            p = *e == '}' ? e + 1 : e;
        } else {
            atom = *p != '|';   /* an alternation adds nothing itself; an escaped \| does */
            areps = 0;
            p += p[0] == '\\' && p[1] ? 2 : 1;
        }
        if (f > 0) {   /* the copies of the last piece (itself perhaps already repeated) */
            total += atom * (f - 1) + 1;
            atom *= f;
            areps++;
        } else {
            total += atom;
        }
        if (areps > *reps) *reps = areps;
    }
    *pp = p;
    return total;
}

int kl_post_add(kl_post *p, kl_rule_kind kind, const char *spec, char *err, size_t n)
{
    rule r = { .kind = kind };
    const char *s = spec;
    while (*s == ' ') s++;
    const size_t tl = tag_len(kind, s);
    if (tl) {   /* "[profile] FROM => TO" */
        if (!(r.profile = strndup(s + 1, tl - 2))) goto oom;
        s += tl;
    }
    const char *arrow = strstr(s, "=>");
    if (!arrow) { snprintf(err, n, "\"%s\": a rule is written FROM => TO", spec); free(r.profile); return -1; }
    r.from = side(s, (size_t)(arrow - s));
    r.to = side(arrow + 2, strlen(arrow + 2));
    if (!r.from || !r.to) goto oom;
    if (!r.from[0]) { snprintf(err, n, "\"%s\": nothing to replace before =>", spec); goto fail; }
    if (kind == KL_RULE_REGEX) {
        const char *q = r.from;
        int reps = 0;
        if (re_cost(&q, 0, &reps) > RE_COST_MAX || reps > RE_REPS_MAX) {
            snprintf(err, n, "\"%s\": regular expression too large once its repetitions are "
                     "expanded (counts or repetitions stacked or nested, as in (a{100}){1000} "
                     "or x*+++++++)", spec);
            goto fail;
        }
        int e = regcomp(&r.re, r.from, REG_EXTENDED | REG_ICASE);
        if (e) {
            char m[200];
            regerror(e, &r.re, m, sizeof m);
            snprintf(err, n, "\"%s\": bad regular expression: %s", spec, m);
            goto fail;
        }
    }
    rule *nr = realloc(p->r, (p->nr + 1) * sizeof *nr);
    if (!nr) { if (kind == KL_RULE_REGEX) regfree(&r.re); goto oom; }
    p->r = nr;
    p->r[p->nr++] = r;
    return 0;
oom:
    snprintf(err, n, "out of memory");
fail:
    free(r.profile); free(r.from); free(r.to);
    return -1;
}

/* ---- replacements ---------------------------------------------------------------------- */

/* Whether a rule's TO writes nothing of its own (empty, or only \N groups and blanks): it
 * deletes what it matched but the groups, and leaves the spaces around behind. */
static int only_groups(const char *to)
{
    for (const char *c = to; *c; c++) {
        if (c[0] == '\\' && c[1] >= '0' && c[1] <= '9') { c++; continue; }
        if (*c != ' ') return 0;
    }
    return 1;
}

/* Whether s is well-formed UTF-8 (kl_utf8_next gives U+FFFD for a bad sequence; a real
 * U+FFFD is its three bytes). */
static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, n = strlen(s); i < n;) {
        unsigned long cp;
        const size_t l = kl_utf8_next(u + i, n - i, &cp);
        if (cp == 0xFFFD && !(l == 3 && u[i] == 0xEF && u[i + 1] == 0xBF && u[i + 2] == 0xBD)) return 0;
        i += l;
    }
    return 1;
}

static char *replace_literal(const rule *r, const char *t)
{
    sb b = { 0 };
    int exact = r->kind == KL_RULE_EXACT;
    for (size_t i = 0; t[i];) {
        size_t l = match_word(t, i, r->from, exact);
        if (!l) { sb_c(&b, t[i++]); continue; }
        size_t at = b.len;
        sb_put(&b, r->to, strlen(r->to));
        /* a capital the spoken words started with (a sentence start) stays, by code point
         * ("Über" -> "Across", "über" at a sentence start -> "Ärger"): ASCII had only */
        unsigned long ct, cto;
        size_t ol;
        if (!exact && !b.oom && cp_at(t + i, &ct) && (ol = cp_at(r->to, &cto)) &&
            kl_cp_lower(ct) != ct && kl_cp_upper(cto) != cto) {
            char e[4];
            const size_t el = kl_utf8_put(kl_cp_upper(cto), e);
            if (el == ol) memcpy(b.p + at, e, el);   /* every pair in the table keeps its length */
        }
        i += l;
    }
    return sb_done(&b);
}

static char *replace_regex(const rule *r, const char *t)
{
    sb b = { 0 };
    regmatch_t m[10];
    size_t i = 0, len = strlen(t);
    while (i <= len && regexec(&r->re, t + i, 10, m, i ? REG_NOTBOL : 0) == 0) {
        sb_put(&b, t + i, (size_t)m[0].rm_so);
        for (const char *c = r->to; *c; c++) {
            if (c[0] == '\\' && c[1] >= '0' && c[1] <= '9') {
                regmatch_t g = m[c[1] - '0'];
                if (g.rm_so >= 0) sb_put(&b, t + i + g.rm_so, (size_t)(g.rm_eo - g.rm_so));
                c++;
            } else if (c[0] == '\\' && c[1] == '\\') {
                sb_c(&b, '\\');
                c++;
            } else {
                sb_c(&b, *c);
            }
        }
        if (m[0].rm_eo == m[0].rm_so) {   /* an empty match: step over one character */
            const size_t at = i + (size_t)m[0].rm_eo;
            unsigned long cp;
            const size_t cl = at < len ? kl_utf8_next((const unsigned char *)t + at, len - at, &cp) : 1;
            if (at < len) sb_put(&b, t + at, cl);
            i = at + cl;
        } else {
            i += (size_t)m[0].rm_eo;
        }
    }
    if (i < len) sb_put(&b, t + i, len - i);
    return sb_done(&b);
}

/* ---- fillers, spoken punctuation, tidying ------------------------------------------------ */

/* The code point at b->p[at] (complete) in upper case (towupper, in the UTF-8 locale
 * key_listener sets), in place when its UTF-8 length stays — every Latin, Greek and
 * Cyrillic letter's does; one whose capital is longer is left as it is. */
static void upper_at(sb *b, size_t at)
{
    unsigned long cp;
    const size_t l = kl_utf8_next((const unsigned char *)b->p + at, b->len - at, &cp);
    const unsigned long u = (unsigned long)towupper((wint_t)cp);
    char e[4];
    if (u == cp || u < 0x80) return;
    const size_t el = kl_utf8_put(u, e);
    if (el == l) memcpy(b->p + at, e, el);
}

/* One byte out; *cap > 0: the next word character starts with a capital. A multi-byte one
 * ("élève" after a removed filler, "über" after a spoken full stop) is upper-cased once its
 * last byte is out (*cap holds -(its start + 1) meanwhile): only ASCII had been. */
static void put_char(sb *b, char c, int *cap)
{
    const unsigned char u = (unsigned char)c;
    if (*cap > 0 && is_word(u)) {
        if (u < 0x80) { c = (char)toupper(u); *cap = 0; }
        else *cap = u >= 0xC0 ? -(int)(b->len + 1) : 0;   /* a stray continuation byte: none */
    }
    sb_c(b, c);
    if (*cap < 0) {
        const size_t at = (size_t)(-*cap - 1);
        if (b->oom || at >= b->len) { *cap = 0; return; }
        const unsigned char lead = (unsigned char)b->p[at];
        if (b->len - at >= (size_t)(lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2)) {
            upper_at(b, at);
            *cap = 0;
        }
    }
}

static char *remove_fillers(const kl_post *p, const char *t)
{
    sb b = { 0 };
    int cap = 0;
    for (size_t i = 0; t[i];) {
        size_t l = 0;
        if (at_word_start(t, i))
            for (size_t k = 0; k < p->nfill && !l; k++) l = match_word(t, i, p->filler[k], 0);
        if (!l) { put_char(&b, t[i++], &cap); continue; }
        if (isupper((unsigned char)t[i])) cap = 1;    /* "Um, so" -> "So" */
        i += l;
        while (t[i] == ',' || t[i] == '-') i++;      /* the filler's own pause mark */
        if (!strncmp(t + i, "...", 3)) i += 3;
        if (!strncmp(t + i, "\xe2\x80\xa6", 3)) i += 3;
        while (t[i] == ' ') i++;
    }
    return sb_done(&b);
}

static const struct { const char *say, *sym; } punct[] = {
    { "new paragraph", "\n\n" }, { "new line", "\n" }, { "newline", "\n" },
    { "question mark", "?" }, { "exclamation mark", "!" }, { "exclamation point", "!" },
    { "full stop", "." }, { "period", "." }, { "comma", "," }, { "semicolon", ";" },
    { "colon", ":" }, { "open parenthesis", "(" }, { "close parenthesis", ")" },
    { "open paren", "(" }, { "close paren", ")" },
};

/* mine: where the last symbol emitted ends, so Whisper's punctuation before a spoken mark
 * is dropped but a mark just spoken ("period new line") is kept. */
static void emit_punct(sb *b, const char *sym, int *cap, int *space, size_t *mine)
{
    *space = 0;
    sb_trim_end(b, " ");
    /* what Whisper put before the word, whatever the mark ("First line, new line" had
     * kept its comma before the line break, "the list, open paren" before the parenthesis) */
    while (b->len > *mine && strchr(",.;:", sb_last(b))) b->p[--b->len] = 0;
    sb_trim_end(b, " ");
    if (sym[0] == '(') {
        if (b->len && !strchr("\n(", sb_last(b))) sb_c(b, ' ');
        sb_c(b, '(');
        *mine = b->len;
        return;
    }
    sb_put(b, sym, strlen(sym));
    *mine = b->len;
    if (strchr(".?!\n", sym[0])) *cap = 1;
    *space = sym[0] != '\n';
}

static char *spoken_punct(const char *t)
{
    sb b = { 0 };
    int cap = 0, space = 0;
    size_t mine = 0;
    for (size_t i = 0; t[i];) {
        size_t l = 0, k = 0;
        if (at_word_start(t, i))
            for (k = 0; k < sizeof punct / sizeof punct[0] && !l; k++) l = match_word(t, i, punct[k].say, 0);
        if (!l) {
            if (space && t[i] != ' ') sb_c(&b, ' ');
            space = 0;
            put_char(&b, t[i++], &cap);
            continue;
        }
        emit_punct(&b, punct[k - 1].sym, &cap, &space, &mine);
        i += l;
        while (t[i] && strchr(",.;:!?", t[i])) i++;    /* what Whisper put after it */
        while (t[i] == ' ') i++;
    }
    return sb_done(&b);
}

/* Spaces before punctuation and around line breaks, a comma before other punctuation,
 * runs of spaces, punctuation left at the start: what removing words leaves behind.
 * cont: the text continues text already typed (a --live piece, a joined dictation), so a
 * mark at its very start belongs to that text and stays ("comma and then" had lost it). */
static char *tidy_at(const char *t, int cont)
{
    sb b = { 0 };
    for (size_t i = 0; t[i]; i++) {
        char c = t[i];
        if (c == ' ' && (!b.len || strchr(" \n(", sb_last(&b)))) continue;
        if (strchr(",.;:!?)\n", c)) sb_trim_end(&b, " ");
        const int lead = !b.len && !cont;   /* at the start, and nothing before it */
        if (c == ',' || c == ';') {
            size_t j = i + 1;
            while (t[j] == ' ') j++;
            if (t[j] && strchr(",.;:!?", t[j])) continue;
            if (lead || (b.len && sb_last(&b) == '\n')) continue;
        }
        if (strchr(".:", c) && (lead || (b.len && sb_last(&b) == '\n'))) continue;
        sb_c(&b, c);
    }
    sb_trim_end(&b, " ");
    return sb_done(&b);
}

static char *tidy(const char *t) { return tidy_at(t, 0); }
static char *tidy_cont(const char *t) { return tidy_at(t, 1); }

/* Replaces *t with f(*t); 0, or -1 on OOM (*t freed). */
static int step(char **t, char *(*f)(const char *))
{
    char *n = f(*t);
    free(*t);
    *t = n;
    return n ? 0 : -1;
}

/* Steps 1-3; cont: the text continues text already typed (tidy_at). */
static char *builtin(const kl_post *p, const char *profile, const char *text, int cont)
{
    char *(*tidy_fn)(const char *) = cont ? tidy_cont : tidy;
    char *t = strdup(text);
    if (!profile) profile = "default";
    if (!t || !strcmp(profile, "none")) return t;
    if (p->o.fillers && p->nfill) {
        char *n = remove_fillers(p, t);
        free(t);
        if (!(t = n) || step(&t, tidy_fn)) return NULL;
    }
    int deleted = 0;
    for (size_t i = 0; i < p->nr; i++) {
        const rule *r = &p->r[i];
        if (r->profile && strcmp(r->profile, profile)) continue;
        char *n = r->kind == KL_RULE_REGEX ? replace_regex(r, t) : replace_literal(r, t);
        if (!n) { free(t); return NULL; }
        /* a regex that cut a character in half is not typed: wtype stops at the first bad
         * byte, and the rest of the dictation had been lost */
        if (!utf8_valid(n)) { free(n); continue; }
        deleted |= only_groups(r->to) && strcmp(n, t) != 0;
        free(t);
        t = n;
    }
    /* a rule that deletes words leaves their spaces behind; one that replaces them does not,
     * and tidying after it had rewritten punctuation nowhere near ("...and .NET" lost its
     * dots and space) */
    if (deleted && step(&t, tidy_fn)) return NULL;
    if (p->o.punctuation && (step(&t, spoken_punct) || step(&t, tidy_fn))) return NULL;
    return t;
}

char *kl_post_builtin(const kl_post *p, const char *profile, const char *text)
{
    return builtin(p, profile, text, 0);
}

/* ---- the hook ---------------------------------------------------------------------------- */

int kl_utf8_text(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return 0;
            i++;
            continue;
        }
        size_t k;   /* continuation bytes; overlong forms and surrogates are refused below */
        if (c >= 0xc2 && c <= 0xdf) k = 1;
        else if (c >= 0xe0 && c <= 0xef) k = 2;
        else if (c >= 0xf0 && c <= 0xf4) k = 3;
        else return 0;
        if (i + k >= len) return 0;
        unsigned cp = c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (u[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k + 1;
    }
    return 1;
}

int kl_post_hook(const char *hook, double timeout, const char *text, char **out,
                 char *err, size_t n)
{
    char *argv[] = { "sh", "-c", (char *)hook, NULL };
    char *o = NULL;
    size_t ol = 0;
    *out = NULL;
    int r = kl_run_io(argv, text, strlen(text), timeout, &o, &ol, 1 << 20, err, n);
    if (r != 0) {
        if (!strncmp(err, "sh ", 3)) {   /* kl_run_io names argv[0]: say "hook" */
            char m[600];
            snprintf(m, sizeof m, "hook%s", err + 2);
            snprintf(err, n, "%s", m);
        }
        free(o);
        return -1;
    }
    size_t w = 0;                 /* CRLF line ends become LF */
    for (size_t i = 0; i < ol; i++)
        if (!(o[i] == '\r' && i + 1 < ol && o[i + 1] == '\n')) o[w++] = o[i];
    ol = w;
    o[ol] = 0;
    if (!kl_utf8_text(o, ol)) {
        snprintf(err, n, "hook printed %zu bytes that are not UTF-8 text", ol);
        free(o);
        return -1;
    }
    while (ol && (o[ol - 1] == '\n' || o[ol - 1] == ' ' || o[ol - 1] == '\t')) o[--ol] = 0;
    if (!ol) { snprintf(err, n, "hook printed nothing"); free(o); return -1; }
    *out = o;
    return 0;
}

char *kl_post_apply(const kl_post *p, const char *profile, const char *text, char *err, size_t n)
{
    return kl_post_apply_cont(p, profile, text, 0, err, n);
}

char *kl_post_apply_cont(const kl_post *p, const char *profile, const char *text, int cont,
                         char *err, size_t n)
{
    if (n) err[0] = 0;
    char *t = builtin(p, profile, text, cont);
    if (!t || !p->hook[0] || (profile && !strcmp(profile, "none")) || !t[0]) return t;
    char *h = NULL;
    if (kl_post_hook(p->hook, p->o.hook_timeout > 0 ? p->o.hook_timeout : 10, t, &h, err, n) != 0)
        return t;     /* the hook failed: the text it was given is typed */
    free(t);
    return h;
}
