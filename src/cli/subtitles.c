/* subtitles.c — srt/vtt cues and TSV for bin/transcribe (see subtitles.h).
 *
 * The shaped cues follow openai-whisper's SubtitlesWriter (whisper/utils.py, 20250625), so a
 * file made here and one made by `whisper --word_timestamps True --max_line_width ...` from
 * the same segments and words are the same bytes (WebVTT: but for the hours, which are
 * always written here; and the escaping, which openai-whisper's shaped cues lack):
 *   - words are taken a segment at a time, in chunks of max_words_per_line (default: all);
 *   - a word continues the line when the line is not empty, the word (as decoded, with its
 *     leading space) fits in max_line_width code points (default 1000), there was no pause
 *     of more than 3 s before it (only when both width and count are given), and it does
 *     not start a chunk while segments are kept apart (unless width and count are both
 *     given, every segment and every chunk starts a cue);
 *   - otherwise the word is stripped and starts a new line, which is a new cue when the cue
 *     has max_line_count lines already or the pause was long (count given), or when a
 *     segment or chunk starts (segments kept apart); else it follows a line break;
 *   - a cue runs from its first word's start to its last word's end; with highlight_words it
 *     is one cue per word (that word underlined, in its own times), with the plain text
 *     filling any gap between one word's end and the next one's start.
 * Lengths and stripping are Python's: code points, and Unicode whitespace (str.isspace). */
#include "subtitles.h"
#include "common/dynbuf.h"
#include "common/utf8.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int sub_shaped(const sub_opts *o)
{
    return o && (o->max_line_width > 0 || o->max_line_count > 0 || o->max_words_per_line > 0 || o->highlight_words);
}

static long to_ms(double t) { return t < 0 ? 0 : lround(t * 1000.0); }
/* Python's round(): ties to even (the shaped cues and TSV, as openai-whisper rounds) */
static long to_ms_py(double t) { return t < 0 ? 0 : (long)nearbyint(t * 1000.0); }

static void ts_ms(FILE *f, long ms, char sep)
{
    fprintf(f, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

void sub_ts(FILE *f, double t, char sep) { ts_ms(f, to_ms(t), sep); }

/* cue text: "-->" always as "->" (it would read as a timing line) — a whole run of dashes
 * before '>' at once, or "--->" came out as "-" + "->"; text: line breaks as spaces, and with
 * vtt WebVTT's entities; markup (the shaped cues' own line breaks and <u> tags) as it is */
static void cue_chars(FILE *f, const char *s, int text, int vtt)
{
    for (const char *p = s; *p; p++) {
        size_t run = strspn(p, "-");
        if (run >= 2 && p[run] == '>') { fputs("->", f); p += run; }
        else if (text && (*p == '\n' || *p == '\r')) fputc(' ', f);
        else if (text && vtt && *p == '&') fputs("&amp;", f);
        else if (text && vtt && *p == '<') fputs("&lt;", f);
        else fputc(*p, f);
    }
}

void sub_cue_text(FILE *f, const char *s, int vtt) { cue_chars(f, s, 1, vtt); }

const char *sub_strip_ascii(const char *s, size_t *len)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r')) l--;
    *len = l;
    return s;
}

/* ------------------------------------------------------------------ Python's text rules */

/* The code point at s[0..n) (valid UTF-8; a stray byte counts as one), its length in *len */
static uint32_t cp_at(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    size_t l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (l > n) l = 1;
    uint32_t v = l == 1 ? c : c & (0x7f >> l);
    for (size_t k = 1; k < l; k++) {
        if ((s[k] & 0xc0) != 0x80) { l = 1; v = c; break; }
        v = v << 6 | (s[k] & 0x3f);
    }
    *len = l;
    return v;
}

/* len() of s[0..n): code points */
static size_t cp_count(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0, l; i < n; i += l, k++) cp_at((const unsigned char *)s + i, n - i, &l);
    return k;
}

/* Length of the leading whitespace of s[0..n) */
static size_t lead_space(const char *s, size_t n)
{
    size_t i = 0, l;
    while (i < n && sp_uc_py_space(cp_at((const unsigned char *)s + i, n - i, &l))) i += l;
    return i;
}

/* str.strip(): *b, *n narrowed to s without its leading and trailing whitespace */
static void py_strip(const char *s, const char **b, size_t *n)
{
    size_t len = strlen(s), i = lead_space(s, len), end = i, l;
    for (size_t k = i; k < len; k += l)
        if (!sp_uc_py_space(cp_at((const unsigned char *)s + k, len - k, &l))) end = k + l;
    *b = s + i;
    *n = end - i;
}

/* ------------------------------------------------------------------ TSV */

void sub_write_tsv(FILE *f, const sp_result *r)
{
    fputs("start\tend\ttext\n", f);
    for (int i = 0; i < r->n_segments; i++) {
        const sp_segment *s = &r->segments[i];
        const char *b;
        size_t n;
        py_strip(s->text, &b, &n);
        fprintf(f, "%ld\t%ld\t", to_ms_py(s->start), to_ms_py(s->end));
        for (size_t k = 0; k < n; k++) fputc(b[k] == '\t' || b[k] == '\n' || b[k] == '\r' ? ' ' : b[k], f);
        fputc('\n', f);
    }
}

/* ------------------------------------------------------------------ cues */

typedef struct {
    const sp_word *w;
    const char *txt;   /* the word's text, or its stripped part when it starts a line */
    size_t len;
    int nl;            /* a line break before it */
} piece;

typedef struct {
    FILE *f;
    int srt, vtt, no;
    int highlight;
    sp_dynbuf text;    /* the cue text being made */
    int oom;
} cue_out;

static void put(cue_out *c, const char *s, size_t n)
{
    if (!c->oom && sp_dynbuf_add(&c->text, s, n) != 0) c->oom = 1;
}

/* A word's text into the cue: a line break in it is a space; WebVTT's & and < escaped */
static void put_text(cue_out *c, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '\n' || s[k] == '\r') put(c, " ", 1);
        else if (c->vtt && s[k] == '&') put(c, "&amp;", 5);
        else if (c->vtt && s[k] == '<') put(c, "&lt;", 4);
        else put(c, s + k, 1);
    }
}

/* The cue's text, every word; hl: the index of the one underlined, or -1. As openai's
 * re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word): the tags go around what follows the
 * word's leading whitespace (its line break included), and a word with a line break
 * inside that part, other than as its last character, is left as it is. */
static void make_text(cue_out *c, const piece *p, int n, int hl)
{
    c->text.len = 0;
    if (c->text.p) c->text.p[0] = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].nl) put(c, "\n", 1);
        if (i != hl) { put_text(c, p[i].txt, p[i].len); continue; }
        size_t ws = lead_space(p[i].txt, p[i].len);
        const char *rest = p[i].txt + ws;
        size_t rn = p[i].len - ws;
        const char *nlp = memchr(rest, '\n', rn);
        int tail_nl = nlp && nlp == rest + rn - 1;
        if (nlp && !tail_nl) { put_text(c, p[i].txt, p[i].len); continue; }
        put_text(c, p[i].txt, ws);
        put(c, "<u>", 3);
        put_text(c, rest, rn - (size_t)tail_nl);
        put(c, "</u>", 4);
        if (tail_nl) put_text(c, "\n", 1);
    }
}

static void emit(cue_out *c, long t0, long t1)
{
    if (c->oom) return;
    if (c->srt) fprintf(c->f, "%d\n", ++c->no);
    ts_ms(c->f, t0, c->srt ? ',' : '.');
    fputs(" --> ", c->f);
    ts_ms(c->f, t1, c->srt ? ',' : '.');
    fputc('\n', c->f);
    cue_chars(c->f, c->text.p ? c->text.p : "", 0, c->vtt);   /* the words are escaped in make_text */
    fputs("\n\n", c->f);
}

/* One subtitle: a cue, or with highlight_words a cue per word (and one per gap) */
static void subtitle(cue_out *c, const piece *p, int n)
{
    long start = to_ms_py(p[0].w->start), end = to_ms_py(p[n - 1].w->end);
    if (!c->highlight) {
        make_text(c, p, n, -1);
        emit(c, start, end);
        return;
    }
    long last = start;
    for (int i = 0; i < n; i++) {
        long s = to_ms_py(p[i].w->start), e = to_ms_py(p[i].w->end);
        if (last != s) {
            make_text(c, p, n, -1);
            emit(c, last, s);
        }
        make_text(c, p, n, i);
        emit(c, s, e);
        last = e;
    }
}

/* a cue per segment: its times, its text stripped */
static int segment_cues(FILE *f, const sp_result *r, int srt)
{
    for (int i = 0; i < r->n_segments; i++) {
        const sp_segment *s = &r->segments[i];
        size_t l;
        const char *b = sub_strip_ascii(s->text, &l);
        char *t = strndup(b, l);
        if (!t) return -1;
        if (srt) fprintf(f, "%d\n", i + 1);
        sub_ts(f, s->start, srt ? ',' : '.');
        fputs(" --> ", f);
        sub_ts(f, s->end, srt ? ',' : '.');
        fputc('\n', f);
        sub_cue_text(f, t, !srt);
        fputs("\n\n", f);
        free(t);
    }
    return 0;
}

int sub_write_cues(FILE *f, const sp_result *r, const sub_opts *o, int srt)
{
    if (!sub_shaped(o)) return segment_cues(f, r, srt);
    cue_out c = {.f = f, .srt = srt, .vtt = !srt, .highlight = o->highlight_words};
    sp_dynbuf_init(&c.text, SP_DYNBUF_NOCAP);
    const int keep_segments = !(o->max_line_count > 0 && o->max_line_width > 0);
    const size_t width = o->max_line_width > 0 ? (size_t)o->max_line_width : 1000;
    const int per_chunk = o->max_words_per_line > 0 ? o->max_words_per_line : 1000;
    int most = 0;
    for (int i = 0; i < r->n_segments; i++) most += r->segments[i].n_words;
    piece *sub = malloc(sizeof *sub * (size_t)(most ? most : 1));
    if (!sub) return -1;
    int n = 0, line_count = 1;
    size_t line_len = 0;
    /* the time the first pause is measured from: the first word's start, else the first
     * segment's */
    double last = r->n_segments ? r->segments[0].start : 0.0;
    for (int i = 0; i < r->n_segments; i++)
        if (r->segments[i].n_words) { last = r->segments[i].words[0].start; break; }
    for (int si = 0; si < r->n_segments; si++) {
        const sp_segment *s = &r->segments[si];
        for (int chunk = 0; chunk < s->n_words; chunk += per_chunk) {
            int count = s->n_words - chunk < per_chunk ? s->n_words - chunk : per_chunk;
            for (int i = 0; i < count; i++) {
                const sp_word *w = &s->words[chunk + i];
                const size_t wlen = cp_count(w->text, strlen(w->text));
                const int long_pause = !keep_segments && (double)w->start - last > 3.0;
                const int has_room = line_len + wlen <= width;
                const int seg_break = i == 0 && n > 0 && keep_segments;
                piece p = {.w = w, .txt = w->text, .len = strlen(w->text)};
                if (line_len > 0 && has_room && !long_pause && !seg_break) {
                    line_len += wlen;   /* the line goes on */
                } else {
                    py_strip(w->text, &p.txt, &p.len);
                    if ((n > 0 && o->max_line_count > 0 && (long_pause || line_count >= o->max_line_count)) ||
                        seg_break) {   /* a new cue */
                        subtitle(&c, sub, n);
                        n = 0;
                        line_count = 1;
                    } else if (line_len > 0) {   /* a new line */
                        line_count++;
                        p.nl = 1;
                    }
                    line_len = cp_count(p.txt, p.len);
                }
                sub[n++] = p;
                last = w->start;
            }
        }
    }
    if (n > 0) subtitle(&c, sub, n);
    free(sub);
    sp_dynbuf_free(&c.text);
    return c.oom ? -1 : 0;
}
