/* align.c — word-level timestamps by cross-attention DTW (see align.h; openai/whisper
 * whisper/timing.py find_alignment, dtw_cpu, backtrace, median_filter; tokenizer.py
 * split_to_word_tokens). */
#include "align.h"

#include "common/utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ DTW */

int wh_dtw(const float *x, int N, int M, float *cost, signed char *trace, int *text_idx, int *time_idx)
{
    if (N <= 0 || M <= 0) return 0;
    const size_t W = (size_t)M + 1;
    for (size_t k = 0; k < (size_t)(N + 1) * W; k++) { cost[k] = INFINITY; trace[k] = -1; }
    cost[0] = 0;
    /* timing.py dtw_cpu: for j, for i; cost is float32, x float64 */
    for (int j = 1; j <= M; j++)
        for (int i = 1; i <= N; i++) {
            float c0 = cost[(size_t)(i - 1) * W + (j - 1)];
            float c1 = cost[(size_t)(i - 1) * W + j];
            float c2 = cost[(size_t)i * W + (j - 1)];
            float c;
            signed char t;
            if (c0 < c1 && c0 < c2) { c = c0; t = 0; }
            else if (c1 < c0 && c1 < c2) { c = c1; t = 1; }
            else { c = c2; t = 2; }
            cost[(size_t)i * W + j] = (float)((double)x[(size_t)(i - 1) * M + (j - 1)] + (double)c);
            trace[(size_t)i * W + j] = t;
        }
    /* backtrace: trace[0, :] = 2, trace[:, 0] = 1 */
    for (int j = 0; j <= M; j++) trace[j] = 2;
    for (int i = 0; i <= N; i++) trace[(size_t)i * W] = 1;
    int i = N, j = M, n = 0;
    while (i > 0 || j > 0) {
        text_idx[n] = i - 1;
        time_idx[n] = j - 1;
        n++;
        signed char t = trace[(size_t)i * W + j];
        if (t == 0) { i--; j--; }
        else if (t == 1) i--;
        else j--;
    }
    for (int a = 0, b = n - 1; a < b; a++, b--) {
        int ti = text_idx[a]; text_idx[a] = text_idx[b]; text_idx[b] = ti;
        int tj = time_idx[a]; time_idx[a] = time_idx[b]; time_idx[b] = tj;
    }
    return n;
}

/* ------------------------------------------------------------------ filters */

void wh_median_filter(float *x, int n, int width, float *tmp)
{
    const int pad = width / 2;
    if (n <= pad || width < 3) return;
    /* F.pad(mode="reflect"): x[-k] = x[k], x[n-1+k] = x[n-1-k] */
    for (int k = 0; k < n + 2 * pad; k++) {
        int s = k - pad;
        if (s < 0) s = -s;
        if (s >= n) s = 2 * (n - 1) - s;
        tmp[k] = x[s];
    }
    float win[64];
    const int w = width < 64 ? width : 63;
    for (int k = 0; k < n; k++) {
        for (int q = 0; q < w; q++) {   /* insertion sort of the window */
            float v = tmp[k + q];
            int r = q;
            while (r > 0 && win[r - 1] > v) { win[r] = win[r - 1]; r--; }
            win[r] = v;
        }
        x[k] = win[pad];
    }
}

void wh_standardize(float *w, int n_rows, int n_cols)
{
    if (n_rows <= 0) return;
    for (int c = 0; c < n_cols; c++) {
        double s = 0, ss = 0;
        for (int r = 0; r < n_rows; r++) s += w[(size_t)r * n_cols + c];
        const double mean = s / n_rows;
        for (int r = 0; r < n_rows; r++) {
            double d = w[(size_t)r * n_cols + c] - mean;
            ss += d * d;
        }
        const double sd = sqrt(ss / n_rows);
        for (int r = 0; r < n_rows; r++) {
            float *v = &w[(size_t)r * n_cols + c];
            *v = sd > 0 ? (float)((*v - mean) / sd) : 0.0f;
        }
    }
}

/* ------------------------------------------------------------------ words */

static int cp_count(const char *s)
{
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* index (in code points) of the first U+FFFD in s, or -1 */
static int cp_find_fffd(const char *s)
{
    int k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue;
        if (p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD) return k;
        k++;
    }
    return -1;
}

static int cp_is_fffd_at(const char *s, int idx)
{
    int k = -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue;
        if (++k == idx) return p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD;
    }
    return 0;
}

/* Python: subword.strip() in string.punctuation (a substring test; "" is in every string).
 * Python's strip: a piece of U+00A0, U+3000 or U+001C..U+001F alone is "" and starts a word
 * (only ASCII white space had been stripped: such a piece was not "" and joined the word
 * before). */
static int is_punct_piece(const char *s)
{
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    size_t b, e;
    sp_py_strip_span(s, &b, &e);
    if (e - b > sizeof punct - 1) return 0;
    for (size_t o = 0; o + (e - b) <= sizeof punct - 1; o++)
        if (!memcmp(punct + o, s + b, e - b)) return 1;
    return 0;
}

int wh_split_words(const wh_tokenizer *t, const int *tokens, int n, int unicode_only, int *ends,
                   int *n_closed)
{
    if (n_closed) *n_closed = n > 0 ? n : 0;
    if (n <= 0) return 0;
    const int eot = wh_tok_eot(t);
    char *full = wh_tok_decode(t, tokens, n);
    if (!full) return -1;
    int n_words = 0, start = 0, offset = 0;
    for (int i = 0; i < n; i++) {
        /* split_tokens_on_unicode: a group ends once it decodes without U+FFFD, or its
         * U+FFFD is also in the full text (invalid bytes, not an unfinished character) */
        char *d = wh_tok_decode(t, tokens + start, i + 1 - start);
        if (!d) { free(full); return -1; }
        int k = cp_find_fffd(d);
        if (k >= 0 && !cp_is_fffd_at(full, offset + k)) { free(d); continue; }
        int new_word = 1;
        if (!unicode_only && n_words > 0) {   /* split_tokens_on_spaces */
            const int special = tokens[start] >= eot, with_space = d[0] == ' ';
            new_word = special || with_space || is_punct_piece(d);
        }
        if (new_word) n_words++;
        ends[n_words - 1] = i + 1;
        offset += cp_count(d);
        start = i + 1;
        free(d);
    }
    /* tokens openai would drop (an invalid sequence split so that no group closes): our
     * addition keeps them, in the last word, so the words cover the text */
    if (n_closed) *n_closed = start;
    if (start < n) {
        if (n_words == 0) n_words = 1;
        ends[n_words - 1] = n;
    }
    free(full);
    return n_words;
}

int wh_align_unicode_lang(const char *lang)
{
    static const char *const k[] = {"zh", "ja", "th", "lo", "my", "yue"};
    if (!lang) return 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(lang, k[i])) return 1;
    return 0;
}

/* ------------------------------------------------------------------ alignment heads
 * The cross-attention heads that follow the audio. First the model's own: a CTranslate2
 * config.json or a Transformers generation_config.json lists them (faster-whisper and
 * Transformers use those; they are the only source for large-v2, large-v3-turbo and distil
 * models). Else per official model (openai/whisper __init__.py _ALIGNMENT_HEADS, as
 * (decoder layer, head) pairs; the same sets whisper.cpp ships). Models of other shapes —
 * custom ones, large-v3-turbo, and the large-v1/v2 shape, which cannot be told apart from a
 * ggml file — use openai's default: every head of the last half of the decoder layers. */

typedef struct { unsigned char l, h; } ahead;
static const ahead k_tiny_en[] = {{1, 0}, {2, 0}, {2, 5}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}};
static const ahead k_tiny[] = {{2, 2}, {3, 0}, {3, 2}, {3, 3}, {3, 4}, {3, 5}};
static const ahead k_base_en[] = {{3, 3}, {4, 7}, {5, 1}, {5, 5}, {5, 7}};
static const ahead k_base[] = {{3, 1}, {4, 2}, {4, 3}, {4, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 6}};
static const ahead k_small_en[] = {{6, 6}, {7, 0}, {7, 3}, {7, 8}, {8, 2}, {8, 5}, {8, 7}, {9, 0}, {9, 4}, {9, 8},
                                   {9, 10}, {10, 0}, {10, 1}, {10, 2}, {10, 3}, {10, 6}, {10, 11}, {11, 2}, {11, 4}};
static const ahead k_small[] = {{5, 3}, {5, 9}, {8, 0}, {8, 4}, {8, 7}, {8, 8}, {9, 0}, {9, 7}, {9, 9}, {10, 5}};
static const ahead k_medium_en[] = {{11, 4}, {14, 1}, {14, 12}, {14, 14}, {15, 4}, {16, 0}, {16, 4}, {16, 9}, {17, 12},
                                    {17, 14}, {18, 7}, {18, 10}, {18, 15}, {20, 0}, {20, 3}, {20, 9}, {20, 14}, {21, 12}};
static const ahead k_medium[] = {{13, 15}, {15, 4}, {15, 15}, {16, 1}, {20, 0}, {23, 4}};
static const ahead k_large_v3[] = {{7, 0}, {10, 17}, {12, 18}, {13, 12}, {16, 1}, {17, 14}, {19, 11}, {21, 4}, {24, 1}, {25, 6}};

static const struct { const char *name; const ahead *h; int n; } k_aheads[] = {
    {"tiny.en", k_tiny_en, 8}, {"tiny", k_tiny, 6}, {"base.en", k_base_en, 5}, {"base", k_base, 8},
    {"small.en", k_small_en, 19}, {"small", k_small, 10}, {"medium.en", k_medium_en, 18}, {"medium", k_medium, 6},
    {"large-v3", k_large_v3, 10},
};

int wh_align_select_heads(const char *size_name, int n_layer, int n_head, const uint16_t (*cfg)[2], int n_cfg, int *hl,
                          int *hh)
{
    int n = 0;
    for (int i = 0; i < n_cfg && n < WH_ALIGN_MAX_HEADS; i++)
        if (cfg[i][0] < n_layer && cfg[i][1] < n_head) {   /* the loaders checked; kept safe */
            hl[n] = cfg[i][0];
            hh[n++] = cfg[i][1];
        }
    for (size_t i = 0; i < sizeof k_aheads / sizeof k_aheads[0] && !n && size_name; i++)
        if (!strcmp(size_name, k_aheads[i].name))
            for (int j = 0; j < k_aheads[i].n; j++) {
                hl[n] = k_aheads[i].h[j].l;
                hh[n++] = k_aheads[i].h[j].h;
            }
    const int preset = n > 0;
    for (int l = n_layer / 2; l < n_layer && !preset; l++)   /* default: last half, every head */
        for (int h = 0; h < n_head && n < WH_ALIGN_MAX_HEADS; h++) {
            hl[n] = l;
            hh[n++] = h;
        }
    return n;
}

/* ------------------------------------------------------------------ the pass */

struct wh_align {
    sp_context *ctx;
    int seq, L, H, actx, tctx, V, eot;
    int n_heads;          /* alignment heads: (hl[i], hh[i]) */
    int hl[WH_ALIGN_MAX_HEADS], hh[WH_ALIGN_MAX_HEADS];
    int chunk;            /* rows per wh_decode_seq_attn call */
    float *attn;          /* [L][chunk][H][actx] */
    float *logits;        /* [chunk][V] */
    int *tokens;          /* [tctx] */
    float *w;             /* [n_heads][rows][M] the heads' weights */
    size_t w_cap;         /* floats */
    float *mat;           /* [tctx][actx] head average */
    float *tmp;           /* [actx + WH_ALIGN_MEDFILT] */
    float *cost;          /* [(tctx + 1) * (actx + 1)] */
    signed char *trace;
    int *path_i, *path_j; /* [tctx + actx] */
};

void wh_align_free(wh_align *a)
{
    if (!a) return;
    free(a->attn); free(a->logits); free(a->tokens); free(a->w); free(a->mat); free(a->tmp);
    free(a->cost); free(a->trace); free(a->path_i); free(a->path_j);
    free(a);
}

int wh_align_heads(const wh_align *a, const int **layer, const int **head)
{
    *layer = a->hl;
    *head = a->hh;
    return a->n_heads;
}

sp_status wh_align_new(sp_context *ctx, int seq, wh_align **out)
{
    *out = NULL;
    if (!ctx || seq < 0 || seq >= WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
    wh_align *a = calloc(1, sizeof *a);
    if (!a) return SP_ERR_NOMEM;
    sp_model_info mi;
    sp_context_info(ctx, &mi);
    a->ctx = ctx;
    a->seq = seq;
    a->L = wh_n_text_layer(ctx);
    a->H = wh_n_head(ctx);
    a->actx = mi.n_audio_ctx;
    a->tctx = wh_n_text_ctx(ctx);
    a->V = wh_n_vocab(ctx);
    a->eot = wh_special_tokens(ctx)->eot;
    const uint16_t (*cfg)[2];
    const int n_cfg = wh_model_align_heads(ctx, &cfg);
    a->n_heads = wh_align_select_heads(mi.size_name, a->L, a->H, cfg, n_cfg, a->hl, a->hh);
    const size_t row = (size_t)a->L * a->H * a->actx;   /* attention floats per token */
    size_t ch = ((size_t)16 << 20) / (row + (size_t)a->V);   /* ~64 MiB of f32 per call */
    a->chunk = ch < 1 ? 1 : ch > 64 ? 64 : (int)ch;
    const size_t T = (size_t)a->tctx, A = (size_t)a->actx;
    a->attn = malloc(sizeof(float) * row * (size_t)a->chunk);
    a->logits = malloc(sizeof(float) * (size_t)a->V * (size_t)a->chunk);
    a->tokens = malloc(sizeof(int) * T);
    a->mat = malloc(sizeof(float) * T * A);
    a->tmp = malloc(sizeof(float) * (A + WH_ALIGN_MEDFILT));
    a->cost = malloc(sizeof(float) * (T + 1) * (A + 1));
    a->trace = malloc((T + 1) * (A + 1));
    a->path_i = malloc(sizeof(int) * (T + A));
    a->path_j = malloc(sizeof(int) * (T + A));
    if (!a->attn || !a->logits || !a->tokens || !a->mat || !a->tmp || !a->cost || !a->trace || !a->path_i ||
        !a->path_j) {
        wh_align_free(a);
        return SP_ERR_NOMEM;
    }
    *out = a;
    return SP_OK;
}

/* softmax over ids < eot of row, at id */
static float token_prob(const float *row, int eot, int id)
{
    float m = -INFINITY;
    for (int v = 0; v < eot; v++) if (row[v] > m) m = row[v];
    if (m == -INFINITY) return 0.0f;
    double s = 0;
    for (int v = 0; v < eot; v++) s += exp((double)(row[v] - m));
    return (float)(exp((double)(row[id] - m)) / s);
}

sp_status wh_align_run(wh_align *a, const int *sot_seq, int n_sot, const int *text, int n_text, int num_frames,
                       float *times, float *probs)
{
    const int n = n_sot + 1 + n_text + 1, M = num_frames / 2, ectx = wh_encoded_ctx(a->ctx);
    if (n_text < 1 || n_sot < 1 || M < 1 || ectx < 1) return SP_ERR_INVALID_ARG;
    if (n > a->tctx) return SP_ERR_TOO_LARGE;
    const int Mc = M < ectx ? M : ectx;
    const wh_specials *sp = wh_special_tokens(a->ctx);
    memcpy(a->tokens, sot_seq, sizeof(int) * (size_t)n_sot);
    a->tokens[n_sot] = sp->notimestamps;
    memcpy(a->tokens + n_sot + 1, text, sizeof(int) * (size_t)n_text);
    a->tokens[n - 1] = a->eot;
    const size_t need = (size_t)a->n_heads * (size_t)n * (size_t)Mc;
    if (need > a->w_cap) {   /* grows with the longest window so far, not per token */
        size_t cap = (size_t)a->n_heads * (size_t)((n + 63) / 64 * 64) * (size_t)a->actx;
        if (cap > (size_t)a->n_heads * (size_t)a->tctx * (size_t)a->actx) cap = (size_t)a->n_heads * (size_t)a->tctx * (size_t)a->actx;
        if (cap < need) cap = need;
        float *nw = realloc(a->w, sizeof(float) * cap);
        if (!nw) return SP_ERR_NOMEM;
        a->w = nw;
        a->w_cap = cap;
    }

    /* teacher-forced pass in chunks: keep the alignment heads' rows, cut to Mc positions
     * and renormalised (= softmax over the first num_frames/2 positions) */
    wh_seq_reset(a->ctx, a->seq);
    for (int r0 = 0; r0 < n; r0 += a->chunk) {
        const int c = n - r0 < a->chunk ? n - r0 : a->chunk;
        sp_status st = wh_decode_seq_attn(a->ctx, a->seq, a->tokens + r0, c, a->logits, a->attn);
        if (st != SP_OK) { wh_seq_reset(a->ctx, a->seq); return st; }
        for (int hs = 0; hs < a->n_heads; hs++) {
            const int l = a->hl[hs], h = a->hh[hs];
            for (int r = 0; r < c; r++) {
                const float *src = a->attn + (((size_t)l * c + r) * a->H + h) * (size_t)ectx;
                float *dst = a->w + ((size_t)hs * n + (size_t)(r0 + r)) * Mc;
                double s = 0;
                for (int f = 0; f < Mc; f++) s += src[f];
                const float inv = s > 0 ? (float)(1.0 / s) : 0.0f;
                for (int f = 0; f < Mc; f++) dst[f] = src[f] * inv;
            }
        }
        for (int r = 0; r < c; r++) {   /* logits[len(sot_sequence):] predict the text */
            const int g = r0 + r - n_sot;
            if (g >= 0 && g < n_text) probs[g] = token_prob(a->logits + (size_t)r * a->V, a->eot, text[g]);
        }
    }
    wh_seq_reset(a->ctx, a->seq);

    /* standardise over tokens, median filter along frames, average the heads; keep rows
     * notimestamps .. last text token (drop the sot sequence and eot) */
    const int N = n_text + 1;
    memset(a->mat, 0, sizeof(float) * (size_t)N * Mc);
    const float inv_h = 1.0f / (float)a->n_heads;
    for (int hs = 0; hs < a->n_heads; hs++) {
        float *w = a->w + (size_t)hs * n * Mc;
        wh_standardize(w, n, Mc);
        for (int r = 0; r < n; r++) wh_median_filter(w + (size_t)r * Mc, Mc, WH_ALIGN_MEDFILT, a->tmp);
        for (int r = 0; r < N; r++) {
            const float *src = w + (size_t)(n_sot + r) * Mc;
            float *dst = a->mat + (size_t)r * Mc;
            for (int f = 0; f < Mc; f++) dst[f] += src[f] * inv_h;
        }
    }
    for (size_t k = 0; k < (size_t)N * Mc; k++) a->mat[k] = -a->mat[k];
    int len = wh_dtw(a->mat, N, Mc, a->cost, a->trace, a->path_i, a->path_j);
    /* jumps: the first path point of each text row */
    int next = 0;
    for (int k = 0; k < len; k++) {
        if (k > 0 && a->path_i[k] == a->path_i[k - 1]) continue;
        if (next <= N - 1) times[next++] = (float)a->path_j[k] / WH_ALIGN_TOKENS_PER_SEC;
    }
    while (next < N) { times[next] = next ? times[next - 1] : 0.0f; next++; }   /* not reached: every row is on the path */
    return SP_OK;
}
