/* engine.c — the Whisper forward pass: context, encoder, decoder (openai/whisper
 * whisper/model.py: AudioEncoder, TextDecoder, ResidualAttentionBlock, MultiHeadAttention).
 *
 * Data is split by lifetime (as in llama2.c): hyperparameters and borrowed weight views in
 * wh_model; per-context run state allocated once in sp_context_open; per-sequence self-
 * attention KV caches allocated on a sequence's first use and then reused. Nothing is
 * allocated per decoded token. All maths is f32 with f32 accumulation, exact-erf GELU,
 * softmax in f32, LayerNorm eps 1e-5. Matmuls go through the blocked GEMM (kernels.c) and
 * are split across the persistent thread pool; attention is split by (row block, head). */
#include "wh_engine.h"
#include "mel.h"
#include "model.h"
#include "common/errbuf.h"
#include "ops.h"
#include "tokenizer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENC_QB 96   /* encoder attention: query rows per task (multiple of 6) */

typedef struct {
    uint16_t *k, *v;   /* f16 [n_text_layer][n_text_ctx][n] */
    int n_past;
} wh_seq;

struct sp_context {
    wh_model *m;
    wh_exec ex;
    float *mel_basis;      /* [402][400] */
    int n, n_head, dh, actx, tctx, n_vocab;
    /* encoder run state */
    float *e_x;            /* [actx][n] residual stream */
    float *e_h;            /* [actx][n] LayerNorm output; after the last layer: encoder output */
    float *e_q, *e_k;      /* [actx][n] */
    float *e_v, *e_vt;     /* [actx][n], transposed [n][actx] */
    float *e_a;            /* [actx][n] attention output before out-projection */
    float *e_mlp;          /* [actx][4n] (also the im2col buffer) */
    float *e_c1;           /* [2 actx][n] conv1 output */
    float **e_s;           /* per thread: [ENC_QB][actx] scores */
    uint16_t *cross_k, *cross_v;  /* f16 [n_text_layer][actx][n] */
    int encoded;
    int cur;               /* audio positions of the encoded window (<= actx) */
    /* decoder run state (rows = tokens in flight, up to tctx) */
    wh_seq seq[WH_MAX_SEQ];
    float *d_x, *d_h, *d_q, *d_a;   /* [tctx][n] */
    float *d_kv;                    /* [tctx][2n] staging for new K and V */
    float *d_mlp;                   /* [tctx][4n] */
    float **d_s;                    /* per thread: [max(actx, tctx)] */
    int *row_seq, *row_pos;         /* [tctx] */
    int n_threads;
    wh_tokenizer *tok;              /* built on first use */
    float *attn_out;                /* when set: cross-attention probabilities are copied
                                       here, [n_text_layer][rows][n_head][cur] */
};


static wh_wmat wmat(const wh_tensor *t)
{
    wh_wmat w = {t->data, t->type, (int)t->ne[0], wh_row_bytes(t->type, t->ne[0])};
    return w;
}

static const float *F(const wh_tensor *t) { return (const float *)t->data; }

/* ------------------------------------------------------------------ context */

sp_context_params sp_context_default_params(void)
{
    sp_context_params p = {0};
    return p;
}

void sp_context_free(sp_context *c)
{
    if (!c) return;
    int nt = c->n_threads;
    if (c->e_s) for (int i = 0; i < nt; i++) free(c->e_s[i]);
    if (c->d_s) for (int i = 0; i < nt; i++) free(c->d_s[i]);
    free(c->e_s);
    free(c->d_s);
    free(c->e_x); free(c->e_h); free(c->e_q); free(c->e_k); free(c->e_v); free(c->e_vt);
    free(c->e_a); free(c->e_mlp); free(c->e_c1); free(c->cross_k); free(c->cross_v);
    free(c->d_x); free(c->d_h); free(c->d_q); free(c->d_a); free(c->d_kv); free(c->d_mlp);
    free(c->row_seq); free(c->row_pos);
    for (int i = 0; i < WH_MAX_SEQ; i++) { free(c->seq[i].k); free(c->seq[i].v); }
    free(c->mel_basis);
    wh_tok_free(c->tok);
    if (c->ex.pool) wh_exec_deinit(&c->ex);
    wh_model_free(c->m);
    free(c);
}

static float *fa(size_t n) { return aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63); }
static uint16_t *ha(size_t n) { return aligned_alloc(64, ((n * sizeof(uint16_t)) + 63) & ~(size_t)63); }

sp_status sp_context_open(const char *path, const sp_context_params *params, sp_context **out,
                          char *err, size_t en)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    wh_kernels_init();
    sp_context *c = calloc(1, sizeof *c);
    if (!c) return SP_ERR_NOMEM;
    sp_status st = wh_model_load(path, &c->m, err, en);
    if (st != SP_OK) { free(c); return st; }
    const wh_hparams *hp = &c->m->hp;
    c->n = hp->n_audio_state;
    c->n_head = hp->n_audio_head;
    c->dh = c->n / c->n_head;
    c->actx = hp->n_audio_ctx;
    c->tctx = hp->n_text_ctx;
    c->n_vocab = hp->n_vocab;
    if (hp->n_text_head != hp->n_audio_head) {
        /* every official model has one head count; the run state assumes it */
        sp_errf(err, en, "n_text_head %d differs from n_audio_head %d (unsupported)", hp->n_text_head, hp->n_audio_head);
        wh_model_free(c->m);
        free(c);
        return SP_ERR_UNSUPPORTED;
    }
    int nt = params && params->n_threads > 0 ? params->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1) nt = 1;
    if (nt > 64) nt = 64;
    const size_t n = (size_t)c->n, actx = (size_t)c->actx, tctx = (size_t)c->tctx;
    int max_k = 4 * c->n;
    if (3 * hp->n_mels > max_k) max_k = 3 * hp->n_mels;
    if (3 * c->n > max_k) max_k = 3 * c->n;
    if (c->actx > max_k) max_k = c->actx;
    if (wh_exec_init(&c->ex, nt, max_k) != 0) goto nomem;
    c->n_threads = wh_pool_size(c->ex.pool);
    c->mel_basis = wh_mel_basis_new();
    size_t col = 2 * actx * 3 * (size_t)(hp->n_mels > c->n ? hp->n_mels : c->n);
    size_t mlp = actx * 4 * n > col ? actx * 4 * n : col;
    c->e_x = fa(actx * n); c->e_h = fa(actx * n); c->e_q = fa(actx * n); c->e_k = fa(actx * n);
    c->e_v = fa(actx * n); c->e_vt = fa(actx * n); c->e_a = fa(actx * n); c->e_mlp = fa(mlp);
    c->e_c1 = fa(2 * actx * n);
    c->cross_k = ha((size_t)hp->n_text_layer * actx * n);
    c->cross_v = ha((size_t)hp->n_text_layer * actx * n);
    c->d_x = fa(tctx * n); c->d_h = fa(tctx * n); c->d_q = fa(tctx * n); c->d_a = fa(tctx * n);
    c->d_kv = fa(tctx * 2 * n); c->d_mlp = fa(tctx * 4 * n);
    c->row_seq = calloc(tctx, sizeof(int));
    c->row_pos = calloc(tctx, sizeof(int));
    c->e_s = calloc((size_t)c->n_threads, sizeof(float *));
    c->d_s = calloc((size_t)c->n_threads, sizeof(float *));
    if (!c->mel_basis || !c->e_x || !c->e_h || !c->e_q || !c->e_k || !c->e_v || !c->e_vt || !c->e_a ||
        !c->e_mlp || !c->e_c1 || !c->cross_k || !c->cross_v || !c->d_x || !c->d_h || !c->d_q ||
        !c->d_a || !c->d_kv || !c->d_mlp || !c->row_seq || !c->row_pos || !c->e_s || !c->d_s)
        goto nomem;
    for (int i = 0; i < c->n_threads; i++) {
        c->e_s[i] = fa((size_t)ENC_QB * actx);
        c->d_s[i] = fa(actx > tctx ? actx : tctx);
        if (!c->e_s[i] || !c->d_s[i]) goto nomem;
    }
    *out = c;
    return SP_OK;
nomem:
    sp_errf(err, en, "out of memory allocating the run state for '%s'", path);
    sp_context_free(c);
    return SP_ERR_NOMEM;
}

void sp_context_info(const sp_context *c, sp_model_info *info)
{
    memset(info, 0, sizeof *info);
    if (!c) return;
    const wh_hparams *hp = &c->m->hp;
    info->n_vocab = hp->n_vocab; info->n_audio_ctx = hp->n_audio_ctx; info->n_audio_state = hp->n_audio_state;
    info->n_audio_head = hp->n_audio_head; info->n_audio_layer = hp->n_audio_layer; info->n_text_ctx = hp->n_text_ctx;
    info->n_text_state = hp->n_text_state; info->n_text_head = hp->n_text_head; info->n_text_layer = hp->n_text_layer;
    info->n_mels = hp->n_mels; info->ftype = hp->ftype;
    info->multilingual = hp->n_vocab >= 51865;
    info->n_languages = c->m->sp.n_lang;
    info->size_name = wh_model_size_name(hp);
    static const char *names[10] = {"f32", "f16", "q4_0", "q4_1", "?", "?", "?", "q8_0", "q5_0", "q5_1"};
    info->type_name = hp->ftype >= 0 && hp->ftype < 10 ? names[hp->ftype] : "?";
    info->file_size = c->m->map_size;
}

const char *sp_context_device(const sp_context *c) { (void)c; return "cpu"; }

const wh_token_bytes *wh_vocab(const sp_context *c, int *n_tokens)
{
    if (n_tokens) *n_tokens = c->m->n_tokens;
    return c->m->vocab;
}
const wh_specials *wh_special_tokens(const sp_context *c) { return &c->m->sp; }
int wh_n_vocab(const sp_context *c) { return c->n_vocab; }

const wh_tokenizer *wh_context_tokenizer(sp_context *c)
{
    if (!c->tok && wh_tok_new(c->m->vocab, c->m->n_tokens, c->m->sp.eot, &c->tok) != SP_OK) c->tok = NULL;
    return c->tok;
}
int wh_n_text_ctx(const sp_context *c) { return c->tctx; }

/* ------------------------------------------------------------------ mel */

sp_status sp_mel(sp_context *c, const float *pcm, size_t n, float **mel, int *n_frames, int *n_content)
{
    if (mel) *mel = NULL;
    if (n_frames) *n_frames = 0;
    if (n_content) *n_content = 0;
    if (!c || !mel || !n_frames || (!pcm && n)) return SP_ERR_INVALID_ARG;
    sp_status st = wh_mel_compute(&c->ex, c->mel_basis, c->m->filters, c->m->hp.n_mels, pcm, n, mel, n_frames);
    if (st == SP_OK && n_content) *n_content = (int)(n / WH_HOP);
    return st;
}

/* ------------------------------------------------------------------ encoder */

typedef struct {
    sp_context *c;
    int nblk;
} enc_attn_job;

/* (head, query block) tasks, statically interleaved over threads */
static void enc_attn_task(void *va, int t, int ith)
{
    enc_attn_job *j = va;
    sp_context *c = j->c;
    const int n = c->n, dh = c->dh, actx = c->cur;
    float *S = c->e_s[ith];
    float *scratch = c->ex.scratch[ith];
    {
        const int h = t / j->nblk, b = t % j->nblk;
        const int r0 = b * ENC_QB, nr = actx - r0 < ENC_QB ? actx - r0 : ENC_QB;
        /* S = (Q_h / sqrt(dh)) · K_hᵀ   [nr][actx] */
        wh_wmat Kh = {c->e_k + (size_t)h * dh, 0, dh, (size_t)n * sizeof(float)};
        wh_gemm_part(nr, dh, c->e_q + (size_t)r0 * n + (size_t)h * dh, n, &Kh, 0, actx, NULL, S, actx, 0, scratch);
        for (int r = 0; r < nr; r++) wh_softmax(S + (size_t)r * actx, actx);
        /* O_h = S · V_h   (V_hᵀ rows are the dh features) */
        wh_wmat Vt = {c->e_vt + (size_t)h * dh * actx, 0, actx, (size_t)actx * sizeof(float)};
        wh_gemm_part(nr, actx, S, actx, &Vt, 0, dh, NULL, c->e_a + (size_t)r0 * n + (size_t)h * dh, n, 0, scratch);
    }
}

typedef struct { float *src, *dst; int rows, cols; } transpose_job;
static void transpose_task(void *va, int chunk, int ith)
{
    transpose_job *j = va;
    int c0 = chunk * 64, c1 = c0 + 64 < j->cols ? c0 + 64 : j->cols;
    (void)ith;
    for (int r0 = 0; r0 < j->rows; r0 += 32)
        for (int col = c0; col < c1; col++) {
            int r1 = r0 + 32 < j->rows ? r0 + 32 : j->rows;
            for (int r = r0; r < r1; r++) j->dst[(size_t)col * j->rows + r] = j->src[(size_t)r * j->cols + col];
        }
}

typedef struct { const float *x; float *y; int rows, n; const float *w, *b; } ln_job;
static void ln_task(void *va, int chunk, int ith)
{
    ln_job *j = va;
    int r0 = chunk * 16, r1 = r0 + 16 < j->rows ? r0 + 16 : j->rows;
    (void)ith;
    if (r1 > r0) wh_layernorm(j->x + (size_t)r0 * j->n, j->y + (size_t)r0 * j->n, r1 - r0, j->n, j->n, j->w, j->b);
}
static void par_ln(sp_context *c, const float *x, float *y, int rows, const wh_tensor *w, const wh_tensor *b)
{
    ln_job j = {x, y, rows, c->n, F(w), F(b)};
    wh_pool_run(c->ex.pool, ln_task, &j, (rows + 15) / 16);
}

static void scale(float *x, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

sp_status sp_encode(sp_context *c, const float *mel, int n_frames, int offset)
{
    return sp_encode_ctx(c, mel, n_frames, offset, 0);
}

sp_status sp_encode_ctx(sp_context *c, const float *mel, int n_frames, int offset, int audio_ctx)
{
    if (!c || !mel || n_frames < 0 || offset < 0 || audio_ctx < 0) return SP_ERR_INVALID_ARG;
    const wh_model *m = c->m;
    if (audio_ctx == 0 || audio_ctx > c->actx) audio_ctx = c->actx;
    const int n = c->n, actx = audio_ctx, nm = m->hp.n_mels, T = 2 * actx;
    c->encoded = 0;
    c->cur = actx;
    for (int s = 0; s < WH_MAX_SEQ; s++) c->seq[s].n_past = 0;

    /* conv1 as im2col + GEMM: col[t][ch*3 + j] = mel[ch][offset + t + j - 1] (0 outside the
     * mel, which is pad_or_trim's 0.0 padding) */
    float *col = c->e_mlp;
    const int K1 = 3 * nm;
    for (int t = 0; t < T; t++) {
        float *r = col + (size_t)t * K1;
        for (int ch = 0; ch < nm; ch++)
            for (int j = 0; j < 3; j++) {
                int f = t + j - 1;
                r[ch * 3 + j] = (f >= 0 && f < T && offset + f < n_frames) ? mel[(size_t)ch * n_frames + offset + f] : 0.0f;
            }
    }
    wh_wmat w1 = wmat(&m->conv1_w);
    w1.k = K1;
    w1.row_bytes = wh_row_bytes(m->conv1_w.type, K1);
    wh_par_gemm(&c->ex, T, K1, col, K1, &w1, n, F(&m->conv1_b), c->e_c1, n, 0, 1);

    /* conv2, stride 2: col[t][ch*3 + j] = c1[2t + j - 1][ch] */
    const int K2 = 3 * n;
    for (int t = 0; t < actx; t++) {
        float *r = col + (size_t)t * K2;
        for (int j = 0; j < 3; j++) {
            int f = 2 * t + j - 1;
            const float *src = (f >= 0 && f < T) ? c->e_c1 + (size_t)f * n : NULL;
            for (int ch = 0; ch < n; ch++) r[ch * 3 + j] = src ? src[ch] : 0.0f;
        }
    }
    wh_wmat w2 = wmat(&m->conv2_w);
    w2.k = K2;
    w2.row_bytes = wh_row_bytes(m->conv2_w.type, K2);
    wh_par_gemm(&c->ex, actx, K2, col, K2, &w2, n, F(&m->conv2_b), c->e_x, n, 0, 1);

    /* + sinusoidal positional embedding (stored in the file) */
    const float *pe = F(&m->e_pe);
    for (size_t i = 0; i < (size_t)actx * n; i++) c->e_x[i] += pe[i];

    const float qs = 1.0f / sqrtf((float)c->dh);
    const int nblk = (actx + ENC_QB - 1) / ENC_QB;
    for (int l = 0; l < m->hp.n_audio_layer; l++) {
        const wh_layer *L = &m->enc[l];
        par_ln(c, c->e_x, c->e_h, actx, &L->attn_ln_w, &L->attn_ln_b);
        wh_wmat wq = wmat(&L->attn.q_w), wk = wmat(&L->attn.k_w), wv = wmat(&L->attn.v_w), wo = wmat(&L->attn.o_w);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &wq, n, F(&L->attn.q_b), c->e_q, n, 0, 0);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &wk, n, NULL, c->e_k, n, 0, 0);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &wv, n, F(&L->attn.v_b), c->e_v, n, 0, 0);
        scale(c->e_q, (size_t)actx * n, qs);
        transpose_job tj = {c->e_v, c->e_vt, actx, n};
        wh_pool_run(c->ex.pool, transpose_task, &tj, (n + 63) / 64);
        enc_attn_job aj = {c, nblk};
        wh_pool_run(c->ex.pool, enc_attn_task, &aj, c->n_head * nblk);
        wh_par_gemm(&c->ex, actx, n, c->e_a, n, &wo, n, F(&L->attn.o_b), c->e_x, n, 1, 0);

        par_ln(c, c->e_x, c->e_h, actx, &L->mlp_ln_w, &L->mlp_ln_b);
        wh_wmat w0 = wmat(&L->mlp0_w), w2m = wmat(&L->mlp2_w);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &w0, 4 * n, F(&L->mlp0_b), c->e_mlp, 4 * n, 0, 1);
        wh_par_gemm(&c->ex, actx, 4 * n, c->e_mlp, 4 * n, &w2m, n, F(&L->mlp2_b), c->e_x, n, 1, 0);
    }
    par_ln(c, c->e_x, c->e_h, actx, &m->e_ln_w, &m->e_ln_b);   /* encoder output */

    /* cross-attention K/V of every decoder layer, once per window, stored as f16 (as
     * whisper.cpp does): the decoder reads them for every token of every beam */
    for (int l = 0; l < m->hp.n_text_layer; l++) {
        const wh_layer *L = &m->dec[l];
        wh_wmat wk = wmat(&L->cross.k_w), wv = wmat(&L->cross.v_w);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &wk, n, NULL, c->e_q, n, 0, 0);
        wh_par_gemm(&c->ex, actx, n, c->e_h, n, &wv, n, F(&L->cross.v_b), c->e_k, n, 0, 0);
        wh_to_f16(c->e_q, c->cross_k + (size_t)l * c->actx * n, (size_t)actx * n);
        wh_to_f16(c->e_k, c->cross_v + (size_t)l * c->actx * n, (size_t)actx * n);
    }
    c->encoded = 1;
    return SP_OK;
}

/* ------------------------------------------------------------------ decoder */

static int seq_ensure(sp_context *c, int s)
{
    if (c->seq[s].k) return 0;
    size_t sz = (size_t)c->m->hp.n_text_layer * c->tctx * c->n;
    c->seq[s].k = ha(sz);
    c->seq[s].v = ha(sz);
    if (!c->seq[s].k || !c->seq[s].v) {
        free(c->seq[s].k);
        free(c->seq[s].v);
        c->seq[s].k = c->seq[s].v = NULL;
        return -1;
    }
    return 0;
}

void wh_seq_reset(sp_context *c, int s)
{
    if (s >= 0 && s < WH_MAX_SEQ) c->seq[s].n_past = 0;
}

int wh_seq_len(const sp_context *c, int s) { return s >= 0 && s < WH_MAX_SEQ ? c->seq[s].n_past : 0; }

sp_status wh_seq_copy(sp_context *c, int dst, int src)
{
    if (!c || dst < 0 || src < 0 || dst >= WH_MAX_SEQ || src >= WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
    if (dst == src) return SP_OK;
    if (seq_ensure(c, dst) != 0) return SP_ERR_NOMEM;
    const int np = c->seq[src].n_past;
    if (np > 0 && c->seq[src].k) {
        for (int l = 0; l < c->m->hp.n_text_layer; l++) {
            size_t off = (size_t)l * c->tctx * c->n, bytes = (size_t)np * c->n * sizeof(uint16_t);
            memcpy(c->seq[dst].k + off, c->seq[src].k + off, bytes);
            memcpy(c->seq[dst].v + off, c->seq[src].v + off, bytes);
        }
    }
    c->seq[dst].n_past = np;
    return SP_OK;
}

typedef struct {
    sp_context *c;
    int layer, rows, cross;
} dec_attn_job;

static void attend(sp_context *c, const float *q, const uint16_t *K, const uint16_t *V, int len, float *S, float *o)
{
    const int n = c->n, dh = c->dh;
    for (int p = 0; p < len; p++) S[p] = wh_dot_f16(q, K + (size_t)p * n, dh);
    wh_softmax(S, len);
    memset(o, 0, (size_t)dh * sizeof(float));
    for (int p = 0; p < len; p++) wh_axpy_f16(o, S[p], V + (size_t)p * n, dh);
}

/* Self-attention: task (row, head), causal over the row's own sequence cache up to its
 * position. Cross-attention: task = head, rows inner, so the head's slice of the window's
 * K/V (1500 × 64 × 2 floats) stays in L2 while every beam reads it. */
static void dec_attn_task(void *va, int t, int ith)
{
    dec_attn_job *j = va;
    sp_context *c = j->c;
    const int n = c->n, dh = c->dh, H = c->n_head;
    float *S = c->d_s[ith];
    if (j->cross) {
        const uint16_t *K0 = c->cross_k + (size_t)j->layer * c->actx * n;
        const uint16_t *V0 = c->cross_v + (size_t)j->layer * c->actx * n;
        const int h = t;
        for (int r = 0; r < j->rows; r++) {
            attend(c, c->d_q + (size_t)r * n + (size_t)h * dh, K0 + (size_t)h * dh, V0 + (size_t)h * dh, c->cur,
                   S, c->d_a + (size_t)r * n + (size_t)h * dh);
            if (c->attn_out)   /* alignment pass: keep the softmax row */
                memcpy(c->attn_out + (((size_t)j->layer * j->rows + r) * H + h) * c->cur, S, (size_t)c->cur * sizeof(float));
        }
        return;
    }
    {
        const int r = t / H, h = t % H;
        const wh_seq *sq = &c->seq[c->row_seq[r]];
        const size_t off = (size_t)j->layer * c->tctx * n + (size_t)h * dh;
        attend(c, c->d_q + (size_t)r * n + (size_t)h * dh, sq->k + off, sq->v + off, c->row_pos[r] + 1, S,
               c->d_a + (size_t)r * n + (size_t)h * dh);
    }
}

/* Runs rows (row_seq/row_pos set) through the decoder; writes logits for rows
 * [first_logit_row, rows) to logits ([rows - first][n_vocab]). */
static sp_status decode_rows(sp_context *c, const int *tokens, int rows, float *logits, int first_logit_row)
{
    const wh_model *m = c->m;
    const int n = c->n;
    const float qs = 1.0f / sqrtf((float)c->dh);

    /* x = token_embedding[tok] + positional_embedding[pos] */
    wh_wmat emb = wmat(&m->tok_emb);
    const float *dpe = F(&m->d_pe);
    for (int r = 0; r < rows; r++) {
        if (tokens[r] < 0 || tokens[r] >= c->n_vocab) return SP_ERR_INVALID_ARG;
        float *x = c->d_x + (size_t)r * n;
        wh_wmat_row(&emb, tokens[r], x);
        const float *pe = dpe + (size_t)c->row_pos[r] * n;
        for (int i = 0; i < n; i++) x[i] += pe[i];
    }
    for (int l = 0; l < m->hp.n_text_layer; l++) {
        const wh_layer *L = &m->dec[l];
        /* self-attention */
        par_ln(c, c->d_x, c->d_h, rows, &L->attn_ln_w, &L->attn_ln_b);
        wh_wmat wq = wmat(&L->attn.q_w), wk = wmat(&L->attn.k_w), wv = wmat(&L->attn.v_w), wo = wmat(&L->attn.o_w);
        wh_par_gemm(&c->ex, rows, n, c->d_h, n, &wq, n, F(&L->attn.q_b), c->d_q, n, 0, 0);
        wh_par_gemm(&c->ex, rows, n, c->d_h, n, &wk, n, NULL, c->d_kv, 2 * n, 0, 0);
        wh_par_gemm(&c->ex, rows, n, c->d_h, n, &wv, n, F(&L->attn.v_b), c->d_kv + n, 2 * n, 0, 0);
        scale(c->d_q, (size_t)rows * n, qs);
        for (int r = 0; r < rows; r++) {
            wh_seq *sq = &c->seq[c->row_seq[r]];
            size_t off = ((size_t)l * c->tctx + (size_t)c->row_pos[r]) * n;
            wh_to_f16(c->d_kv + (size_t)r * 2 * n, sq->k + off, (size_t)n);
            wh_to_f16(c->d_kv + (size_t)r * 2 * n + n, sq->v + off, (size_t)n);
        }
        dec_attn_job aj = {c, l, rows, 0};
        wh_pool_run(c->ex.pool, dec_attn_task, &aj, rows * c->n_head);
        wh_par_gemm(&c->ex, rows, n, c->d_a, n, &wo, n, F(&L->attn.o_b), c->d_x, n, 1, 0);

        /* cross-attention over the window */
        par_ln(c, c->d_x, c->d_h, rows, &L->cross_ln_w, &L->cross_ln_b);
        wh_wmat cq = wmat(&L->cross.q_w), co = wmat(&L->cross.o_w);
        wh_par_gemm(&c->ex, rows, n, c->d_h, n, &cq, n, F(&L->cross.q_b), c->d_q, n, 0, 0);
        scale(c->d_q, (size_t)rows * n, qs);
        aj.cross = 1;
        wh_pool_run(c->ex.pool, dec_attn_task, &aj, c->n_head);
        wh_par_gemm(&c->ex, rows, n, c->d_a, n, &co, n, F(&L->cross.o_b), c->d_x, n, 1, 0);

        /* MLP */
        par_ln(c, c->d_x, c->d_h, rows, &L->mlp_ln_w, &L->mlp_ln_b);
        wh_wmat w0 = wmat(&L->mlp0_w), w2 = wmat(&L->mlp2_w);
        wh_par_gemm(&c->ex, rows, n, c->d_h, n, &w0, 4 * n, F(&L->mlp0_b), c->d_mlp, 4 * n, 0, 1);
        wh_par_gemm(&c->ex, rows, 4 * n, c->d_mlp, 4 * n, &w2, n, F(&L->mlp2_b), c->d_x, n, 1, 0);
    }
    /* final LayerNorm and the tied output projection, only for the rows asked for */
    const int nl = rows - first_logit_row;
    if (nl > 0 && logits) {
        par_ln(c, c->d_x + (size_t)first_logit_row * n, c->d_h, nl, &m->d_ln_w, &m->d_ln_b);
        wh_par_gemm(&c->ex, nl, n, c->d_h, n, &emb, c->n_vocab, NULL, logits, c->n_vocab, 0, 0);
    }
    return SP_OK;
}

/* Lays out n consecutive positions of sequence s as the rows of the next pass. */
static sp_status seq_rows(sp_context *c, int s, const int *tokens, int n)
{
    if (!c || s < 0 || s >= WH_MAX_SEQ || n < 1 || !tokens) return SP_ERR_INVALID_ARG;
    if (!c->encoded) return SP_ERR_INVALID_ARG;
    if (c->seq[s].n_past + n > c->tctx) return SP_ERR_TOO_LARGE;
    if (seq_ensure(c, s) != 0) return SP_ERR_NOMEM;
    for (int r = 0; r < n; r++) {
        c->row_seq[r] = s;
        c->row_pos[r] = c->seq[s].n_past + r;
    }
    return SP_OK;
}

sp_status wh_decode_seq(sp_context *c, int s, const int *tokens, int n, float *logits)
{
    sp_status st = seq_rows(c, s, tokens, n);
    if (st != SP_OK) return st;
    st = decode_rows(c, tokens, n, logits, n - 1);
    if (st == SP_OK) c->seq[s].n_past += n;
    return st;
}

sp_status wh_decode_seq_attn(sp_context *c, int s, const int *tokens, int n, float *logits, float *attn)
{
    if (!attn) return SP_ERR_INVALID_ARG;
    sp_status st = seq_rows(c, s, tokens, n);
    if (st != SP_OK) return st;
    c->attn_out = attn;
    st = decode_rows(c, tokens, n, logits, logits ? 0 : n);
    c->attn_out = NULL;
    if (st == SP_OK) c->seq[s].n_past += n;
    return st;
}

int wh_encoded_ctx(const sp_context *c) { return c->encoded ? c->cur : 0; }
int wh_n_text_layer(const sp_context *c) { return c->m->hp.n_text_layer; }
int wh_n_head(const sp_context *c) { return c->n_head; }

sp_status wh_decode_step(sp_context *c, int n, const int *seqs, const int *tokens, float *logits)
{
    if (!c || n < 1 || n > WH_MAX_SEQ || !seqs || !tokens) return SP_ERR_INVALID_ARG;
    if (!c->encoded) return SP_ERR_INVALID_ARG;
    for (int r = 0; r < n; r++) {
        int s = seqs[r];
        if (s < 0 || s >= WH_MAX_SEQ) return SP_ERR_INVALID_ARG;
        for (int q = 0; q < r; q++) if (seqs[q] == s) return SP_ERR_INVALID_ARG;
        if (c->seq[s].n_past + 1 > c->tctx) return SP_ERR_TOO_LARGE;
        if (seq_ensure(c, s) != 0) return SP_ERR_NOMEM;
        c->row_seq[r] = s;
        c->row_pos[r] = c->seq[s].n_past;
    }
    sp_status st = decode_rows(c, tokens, n, logits, 0);
    if (st == SP_OK) for (int r = 0; r < n; r++) c->seq[seqs[r]].n_past++;
    return st;
}

sp_status sp_decode(sp_context *c, const int *tokens, int n, float *logits, int last_only)
{
    const int s = 0;
    sp_status st = seq_rows(c, s, tokens, n);
    if (st != SP_OK) return st;
    st = decode_rows(c, tokens, n, logits, last_only ? n - 1 : 0);
    if (st == SP_OK) c->seq[s].n_past += n;
    return st;
}

/* ------------------------------------------------------------------ languages */

static const char *const k_langs[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};

const char *wh_language_code(int index)
{
    return index >= 0 && index < (int)(sizeof k_langs / sizeof k_langs[0]) ? k_langs[index] : NULL;
}

int sp_language_index(const char *code) { return wh_language_index(code); }
const char *sp_language_code(int index) { return wh_language_code(index); }

int wh_language_index(const char *code)
{
    if (!code) return -1;
    for (int i = 0; i < (int)(sizeof k_langs / sizeof k_langs[0]); i++)
        if (strcmp(k_langs[i], code) == 0) return i;
    return -1;
}
