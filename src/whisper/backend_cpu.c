/* backend_cpu.c — the Whisper forward pass on the CPU (openai/whisper whisper/model.py:
 * AudioEncoder, TextDecoder, ResidualAttentionBlock, MultiHeadAttention), behind the
 * backend seam (backend.h).
 *
 * Run state allocated once at open; per-sequence self-attention KV caches allocated on a
 * sequence's first use and then reused. Nothing is allocated per decoded token. All maths
 * is f32 with f32 accumulation, exact-erf GELU, softmax in f32, LayerNorm eps 1e-5. Matmuls
 * go through the blocked GEMM (kernels.c) and are split across the context's persistent
 * thread pool; attention is split by (row block, head). */
#include "backend.h"
#include "model.h"
#include "ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ENC_QB 96   /* encoder attention: query rows per task (multiple of 6) */
#define DEC_XROWS 8 /* decoder cross-attention: query rows per task (beams share K/V reads) */
#define DEC_SROWS 8 /* decoder self-attention: up to this many rows, one task per head */
#define DEC_PQB 24  /* a prompt pass's self-attention: query rows per task (two 12-row tiles) */
#define DEC_XQB 48  /* ... its cross-attention: query rows per product */
#define DEC_XPRE 48 /* ... from this many rows on (below, packing a head's 1500 keys and values
                       costs more than the products gain: 16 rows +5 %, 32 +1 %, 48 -2 %) */

/* The self-attention caches are paged: a sequence holds a table of blocks of KV_BS positions,
 * and a block, for every (layer, head), its KV_BS keys and then its KV_BS values as
 * contiguous runs of dh (head-major inside the block: position-major, a head's 128 bytes a row
 * apart, had read from DRAM at half the speed). Beams share their common prefix's blocks
 * (refcounted): a fork copies a table, not the positions, and the first write into a shared
 * block copies that block's filled part (copy on write, before the pass). A step's rows then
 * read one copy of the prefix — where every beam had read its own from DRAM (the weights'
 * stream evicts the caches between steps) and forking had copied every position. */
#define KV_BS 16
#define KV_MAXB 64   /* blocks per sequence (n_text_ctx is 448: 28; larger is refused at open) */

typedef struct {
    int nb;             /* table entries in use */
    int blk[KV_MAXB];   /* block ids (c->kvb) of positions [i·KV_BS, (i+1)·KV_BS) */
} cpu_seq;

typedef struct {
    wh_backend base;
    const wh_model *m;
    wh_exec *ex;           /* borrowed from the context */
    int n, n_head, dh, actx, tctx, n_vocab, n_threads;
    /* encoder run state */
    float *e_x;            /* [actx][n] residual stream */
    float *e_h;            /* [actx][lda] LayerNorm output; after the last layer: encoder output */
    int lda;               /* e_h's and e_a's row stride, n + 16: the products' A rows (twelve a
                            * micro-kernel call) n floats apart fell into two L1 sets */
    float *e_q;            /* [actx][n] */
    float *e_k;            /* [pad32(actx)][n], the padding rows zero at open */
    float *e_v;            /* [actx][n] */
    float *e_kp, *e_vp;    /* per head (kp_head floats apart), packed for wh_gemm_packed: K_h as
                            * [pad32(actx)] × [dh], V_h as [dh] × [actx] (the tiles take
                            * pad32(actx)·dh); between encodes a decoder prompt
                            * pass's heads (dec_pre_attn, with e_s) */
    float *e_a;            /* [actx][lda] attention output before out-projection */
    float *e_mlp;          /* [actx][4n] (also conv1's input rows, enc_convs) */
    float *e_c1;           /* [1 + 2 actx][n]: a zero row (frame −1), then conv1's output */
    float **e_s;           /* per thread: [ENC_QB][actx] scores */
    /* ea8 (the products int8, as kv8): the attention's two products int8 too — e_kp and e_vp
     * then hold K_h and V_hᵀ as WH_Q8X (wh_qx8_pack_f32), and each thread's e_s is followed
     * by the quantized queries and probabilities (e_act) */
    int ea8;
    void **e_act;
    /* eamx (the auto mode on an AMX CPU, f16/f32 models: not ea8): the attention's two products
     * on AMX tiles as the window's other tall products (kernels.h, "AMX") — e_kp and e_vp then
     * hold K_h and V_hᵀ in the tiles' layout (pad32(actx)·dh floats' bytes a head each), and
     * each thread splits its block of queries or probabilities into e_amx; e_amx_on: for
     * the encode in progress (the flag the exec got) */
    int eamx, eamx_on;
    void **e_amx;
    /* the window's cross-attention keys and values in wh_attend_rows's layout, per layer and
     * head: keys in 32-position tiles [ldk / 32][dh][32] (ldk = actx padded, zeroed at open),
     * values [actx][dh]; head-contiguous so the beams' pass over a head is two plain streams */
    uint16_t *cross_kt;    /* f16 [n_text_layer][n_head][ldk · dh] */
    uint16_t *cross_v;     /* f16 [n_text_layer][n_head][actx][dh] */
    /* kv8 (the products int8: compute int8, or auto on a quantized model): the same keys and
     * values as int8 instead, one scale per position and head (wh_attend_rows_i8) — a decoder
     * step reads them from DRAM (the weights' stream evicts them), 18 of base q8_0's 70 MB */
    int kv8;
    int8_t *cross_kt8, *cross_v8;   /* as cross_kt, cross_v */
    float *cross_ks, *cross_vs;     /* [n_text_layer][n_head][ldk] each (values: ldk positions a head) */
    /* kvq (kv8 where the int8 GEMV multiplies with vpdpbusd, dh 64): the products int8 too —
     * cross_kt8 and cross_v8 in wh_attend_rows_q8's layouts (keys + 128 in 4-dimension groups,
     * values in 4-position groups, which reach the last tile's end), d_s8 its scratch */
    int kvq;
    void **d_s8;
    size_t ldk;
    int cur;               /* audio positions of the encoded window (<= actx) */
    /* decoder run state (rows = tokens in flight, up to tctx) */
    cpu_seq seq[WH_MAX_SEQ];
    uint16_t **kvb;   /* [kv_cap] blocks (NULL until first used), kv_ref: sequences holding each */
    int *kv_ref, kv_cap;
    size_t kv_half;   /* halves per block for the keys (the values follow) */
    float *d_x, *d_h, *d_q, *d_a;   /* [tctx][n] */
    float *d_kv;                    /* [tctx][2n] staging for new K and V */
    float *d_mlp;                   /* [tctx][4n] */
    float **d_s;                    /* per thread: [max(DEC_XROWS·ldk, tctx)] */
    const int *row_seq, *row_pos;   /* of the pass in flight */
    int dpre;                       /* prompt passes attend through e_kp/e_vp/e_s (dec_pre_attn) */
    float *attn_out;                /* when set: cross-attention probabilities are copied
                                       here, [n_text_layer][rows][n_head][cur] */
    /* the weight matrices as the products read them (weights_init): the model's own tensors,
     * or quantized ones repacked for the int8 dot products (w_own) */
    wh_wmat *wmats;
    void **w_own;
    wh_cpu_mode mode;
    int qx;   /* some matrix repacked (w_own): its products int8 */
    float *conv1t;        /* the encoder's conv1 weights tap-major, f32 ([n] rows of 3 × n_mels) */
    float *conv2t;        /* conv2's ([n] rows of 3 × n), unless repacked (conv2_own) */
    wh_wmat conv2;        /* conv2 as its product reads it: conv2t, or repacked as int8 */
    void *conv2_own;      /* ... when qx (convs_init), else NULL */
    const wh_wmat *dec_w, *enc_w;   /* the decoder's and the encoder's, in wmats */
} wh_cpu;

enum { DW_Q, DW_K, DW_V, DW_O, DW_CQ, DW_CO, DW_MLP0, DW_MLP2, DEC_W };
enum { EW_Q, EW_K, EW_V, EW_O, EW_MLP0, EW_MLP2, ENC_W };

static wh_wmat wmat(const wh_tensor *t)
{
    wh_wmat w = {t->data, t->type, (int)t->ne[0], wh_row_bytes(t->type, t->ne[0])};
    return w;
}

static const float *F(const wh_tensor *t) { return (const float *)t->data; }

/* The pages of a tensor the backend no longer reads (its repacked copy replaces it), given
 * back: the model file is mapped read-only and private, so the kernel drops them and a later
 * reader (another backend on the same model) faults them in from the file again. Without it
 * the repack left both copies resident (base q8_0: peak RSS 645 -> 741 MB). Only inside the
 * file mapping: on other memory MADV_DONTNEED would zero it. */
static void drop_mapped(const wh_model *m, const void *p, size_t n)
{
    const uintptr_t lo = (uintptr_t)m->map, hi = lo + m->map_size, a = (uintptr_t)p, pg = 4096;
    if (!m->map_owned || a < lo || a + n > hi) return;
    const uintptr_t s = (a + pg - 1) & ~(pg - 1), e = (a + n) & ~(pg - 1);
    if (e > s) madvise((void *)s, e - s, MADV_DONTNEED);
}

/* The matrices the products read (wmats): the decoder's (dec_w: DEC_W per layer, then the
 * token embedding), then the encoder's (enc_w: ENC_W per layer, then the decoder's cross K/V
 * projections, which run at encode time). On an AVX2 CPU (unless SPEECH_SESSION_EXACT) the
 * quantized ones are repacked for the int8 products (kernels.h, "quantized × int8"; vpdpbusd
 * where AVX512-VNNI is present, vpmaddubsw otherwise): on VNNI a decoder step then streams them
 * at about the same speed at M = 5 as at M = 1, where the exact path is bound by its FMAs, on
 * both the 4-5-bit types are no longer bound by their unpacking at M = 1, and the encoder's
 * products (M = the window's positions, ops.c "tall products") multiply int8 instead of
 * dequantizing to f32 — as whisper.cpp computes a quantized model's every product. WH_CPU_INT8
 * takes f16/f32 matrices the same way, quantized to q8_0 first. The copies replace the file's
 * pages (drop_mapped): the weights are resident once, not twice. */
typedef struct {
    wh_cpu *c;
    int int8;   /* wh_kernels_int8() at open, and not WH_CPU_EXACT */
    int all;    /* WH_CPU_INT8: f16/f32 matrices too, as q8_0 */
    atomic_int failed;
} w_pack_job;

/* W (f16/f32/int8 rows, N of K, K % 32 == 0) as q8_0 rows in a new buffer (wh_q8_0_row: the
 * file `quantize ... q8_0` would have written from the same weights). NULL: out of memory. */
static uint8_t *quantize_q8_0(const wh_wmat *W, int N)
{
    const size_t rb = wh_row_bytes(WH_Q8_0, W->k);
    uint8_t *q = malloc(rb * (size_t)N);
    float *row = malloc(sizeof(float) * (size_t)W->k);
    if (!q || !row) { free(q); free(row); return NULL; }
    for (int n = 0; n < N; n++) {
        wh_wmat_row(W, n, row);
        wh_q8_0_row(row, W->k, q + rb * (size_t)n);
    }
    free(row);
    return q;
}

/* the tensor of slot i of wmats */
static const wh_tensor *w_tensor(const wh_model *m, int i)
{
    const int nd = m->hp.n_text_layer * DEC_W + 1, ne = m->hp.n_audio_layer * ENC_W;
    if (i < nd - 1) {
        const wh_layer *L = &m->dec[i / DEC_W];
        const wh_tensor *by[DEC_W] = {&L->attn.q_w, &L->attn.k_w, &L->attn.v_w, &L->attn.o_w,
                                      &L->cross.q_w, &L->cross.o_w, &L->mlp0_w, &L->mlp2_w};
        return by[i % DEC_W];
    }
    if (i == nd - 1) return &m->tok_emb;
    i -= nd;
    if (i < ne) {
        const wh_layer *L = &m->enc[i / ENC_W];
        const wh_tensor *by[ENC_W] = {&L->attn.q_w, &L->attn.k_w, &L->attn.v_w, &L->attn.o_w, &L->mlp0_w, &L->mlp2_w};
        return by[i % ENC_W];
    }
    i -= ne;
    return i % 2 ? &m->dec[i / 2].cross.v_w : &m->dec[i / 2].cross.k_w;
}

/* wmats[i]: the model's tensor, or its repacked copy (one task per matrix: the threads share
 * the repacking, which for large-v3 is about two gigabytes) */
static void w_pack_task(void *va, int i, int ith)
{
    w_pack_job *j = va;
    wh_cpu *c = j->c;
    const wh_model *m = c->m;
    const wh_tensor *t = w_tensor(m, i);
    (void)ith;
    c->wmats[i] = wmat(t);
    if (!j->int8 || t->ne[0] % 32) return;
    /* WH_CPU_INT8: an f16/f32 matrix as q8_0 first. CTranslate2's int8 rows (a scale per
     * row) are requantized per block of 32 in auto too: the file is quantized, as ggml's
     * quantized files, and takes their int8 products (faster-whisper's own default for an
     * int8 model on the CPU) — its exact path, each row's sums divided by its scale, had made
     * an int8 model slower than the f16 one (base, --isa avx2: beam-5 step 5.6 against
     * 5.0 ms, encoder 662 against 659 ms; as q8_0 x int8 3.0 ms and 479 ms) */
    uint8_t *q8 = NULL;
    if ((j->all && (t->type == WH_F16 || t->type == WH_F32)) || t->type == WH_I8R) {
        if (!(q8 = quantize_q8_0(&c->wmats[i], (int)t->ne[1]))) {
            atomic_store(&j->failed, 1);
            return;
        }
        c->wmats[i] = (wh_wmat){q8, WH_Q8_0, (int)t->ne[0], wh_row_bytes(WH_Q8_0, t->ne[0])};
    }
    if (wh_qx_type(c->wmats[i].type)) {
        const int st = wh_qx_pack(&c->wmats[i], (int)t->ne[1], &c->wmats[i], &c->w_own[i]);
        free(q8);
        if (st != 0) {
            atomic_store(&j->failed, 1);
            return;
        }
        drop_mapped(m, t->data, wh_row_bytes(t->type, t->ne[0]) * (size_t)t->ne[1]);
    }
}

/* A convolution's weights (ne [3][nin][n]: [n] rows of input channel × tap, k fastest) as f32
 * rows of tap × input channel ([n] rows of 3 × nin): then the product's A row for output
 * position t is three consecutive input rows (the input positions t − 1, t, t + 1, stride 1)
 * — the input itself read with overlapping rows instead of an im2col copy, which had
 * interleaved the channels with a stride of three (conv2: 1.1 ms of base's 30 s encoder, 2
 * threads). NULL: out of memory. */
static float *conv_tap_major(const wh_model *m, const wh_tensor *t, int nin, int n)
{
    const int k = 3 * nin;
    wh_wmat w = wmat(t);
    w.k = k;
    w.row_bytes = wh_row_bytes(t->type, k);
    float *out = malloc(sizeof(float) * (size_t)k * (size_t)n), *row = malloc(sizeof(float) * (size_t)k);
    if (!out || !row) { free(out); free(row); return NULL; }
    for (int o = 0; o < n; o++) {
        wh_wmat_row(&w, o, row);
        for (int ch = 0; ch < nin; ch++)
            for (int tap = 0; tap < 3; tap++) out[(size_t)o * k + (size_t)tap * nin + ch] = row[ch * 3 + tap];
    }
    free(row);
    drop_mapped(m, t->data, w.row_bytes * (size_t)n);   /* the file's copy is not read again */
    return out;
}

/* both convolutions tap-major; conv2 — where the products are int8 — quantized to q8_0 and
 * repacked (ggml's quantized files keep their convolutions f16), so the encoder's
 * second-largest f32 product (1.2 of base's 30 s window's 44 GMAC, 6 % of a quantized model's
 * encoder time with conv1) runs on the int8 kernel too; conv1's 3 × 80 inputs are not whole
 * 32-blocks */
static int convs_init(wh_cpu *c)
{
    const int n = c->n, k = 3 * n;
    if (!(c->conv1t = conv_tap_major(c->m, &c->m->conv1_w, c->m->hp.n_mels, n)) ||
        !(c->conv2t = conv_tap_major(c->m, &c->m->conv2_w, n, n)))
        return -1;
    c->conv2 = (wh_wmat){c->conv2t, WH_F32, k, sizeof(float) * (size_t)k};
    if (!c->qx || k % 32) return 0;
    uint8_t *q8 = quantize_q8_0(&c->conv2, n);
    if (!q8) return -1;
    wh_wmat w8 = {q8, WH_Q8_0, k, wh_row_bytes(WH_Q8_0, k)};
    const int st = wh_qx_pack(&w8, n, &c->conv2, &c->conv2_own);
    free(q8);
    if (st != 0) return st;
    free(c->conv2t);   /* the repacked copy replaces it */
    c->conv2t = NULL;
    return 0;
}

static int n_wmats(const wh_model *m)
{
    return m->hp.n_text_layer * (DEC_W + 2) + 1 + m->hp.n_audio_layer * ENC_W;
}

static int weights_init(wh_cpu *c)
{
    const int nw = n_wmats(c->m);
    c->wmats = calloc((size_t)nw, sizeof *c->wmats);
    c->w_own = calloc((size_t)nw, sizeof *c->w_own);
    if (!c->wmats || !c->w_own) return -1;
    c->dec_w = c->wmats;
    c->enc_w = c->wmats + c->m->hp.n_text_layer * DEC_W + 1;
    w_pack_job j = {c, wh_kernels_int8() && c->mode != WH_CPU_EXACT, c->mode == WH_CPU_INT8, 0};
    wh_pool_run(c->ex->pool, w_pack_task, &j, nw);
    for (int i = 0; i < nw; i++) c->qx |= c->w_own[i] != NULL;
    return atomic_load(&j.failed) || convs_init(c) != 0 ? -1 : 0;
}

/* an encoder layer's matrix (EW_*); cross_wm: decoder layer dlayer's cross-attention K (v = 0)
 * or V (v = 1) projection, which runs at encode time */
static const wh_wmat *enc_wm(const wh_cpu *c, int layer, int which) { return &c->enc_w[layer * ENC_W + which]; }
static const wh_wmat *cross_wm(const wh_cpu *c, int dlayer, int v)
{
    return &c->enc_w[c->m->hp.n_audio_layer * ENC_W + 2 * dlayer + v];
}

static const wh_wmat *dec_wm(const wh_cpu *c, int layer, int which) { return &c->dec_w[layer * DEC_W + which]; }

static float *fa(size_t n) { return aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63); }
static uint16_t *ha(size_t n) { return aligned_alloc(64, ((n * sizeof(uint16_t)) + 63) & ~(size_t)63); }

/* ------------------------------------------------------------------ encoder */

/* One layer's cross K and V (xk, xv: [rows][n]) for positions [p0, p0 + WH_ATT_TILE): keys
 * into f16 32-position tiles per head (wh_attend_rows) — a head's 32 positions × dh
 * transposed and converted (wh_to_f16_t); tail positions of the last tile keep what they
 * held — and values into f16 [n_head][actx][dh]. */
static void cross_kv_tile(const wh_cpu *c, const float *xk, const float *xv, int rows, int p0, uint16_t *kt,
                          uint16_t *v)
{
    const int n = c->n, dh = c->dh;
    const int np = rows - p0 < WH_ATT_TILE ? rows - p0 : WH_ATT_TILE;
    for (int h = 0; h < c->n_head; h++)
        wh_to_f16_t(xk + (size_t)p0 * n + (size_t)h * dh, (size_t)n, np, dh,
                    kt + (size_t)h * c->ldk * dh + (size_t)(p0 / WH_ATT_TILE) * dh * WH_ATT_TILE, WH_ATT_TILE);
    for (int p = p0; p < p0 + np; p++)
        for (int h = 0; h < c->n_head; h++)
            wh_to_f16(xv + (size_t)p * n + (size_t)h * dh, v + ((size_t)h * c->actx + p) * dh, (size_t)dh);
}

/* cross_kv_tile for kv8: each position's dh keys (and values) of a head quantized as one row
 * (wh_i8_rows: wh_i8_row's bytes, the tile's rows at once), the key bytes then spread into
 * the tile as the f16 ones are — or, kvq, both rows into wh_attend_rows_q8's layouts */
static void cross_kv_tile8(const wh_cpu *c, const float *xk, const float *xv, int rows, int p0, int8_t *kt,
                           float *ks, int8_t *v, float *vs)
{
    const int n = c->n, dh = c->dh;
    const int np = rows - p0 < WH_ATT_TILE ? rows - p0 : WH_ATT_TILE;
    int8_t kq[WH_ATT_TILE * 256];   /* dh <= 256: n_audio_state / n_audio_head of every Whisper size is 64 */
    for (int h = 0; h < c->n_head; h++) {
        int8_t *kh = kt + (size_t)h * c->ldk * dh + (size_t)(p0 / WH_ATT_TILE) * dh * WH_ATT_TILE;
        /* kvq (dh 64): the values' rows staged too, both through wh_att8_put */
        int8_t vq[WH_ATT_TILE * 64], *vrows = c->kvq ? vq : v + ((size_t)h * c->ldk + p0) * dh;
        const size_t x0 = (size_t)p0 * n + (size_t)h * dh, s0 = (size_t)h * c->ldk + p0;
        wh_i8_rows(np, dh, xk + x0, (size_t)n, kq, (size_t)dh, ks + s0);
        wh_i8_rows(np, dh, xv + x0, (size_t)n, vrows, (size_t)dh, vs + s0);
        if (c->kvq)
            for (int i = 0; i < np; i++)
                wh_att8_put(p0 + i, kq + (size_t)i * 64, vq + (size_t)i * 64, (uint8_t *)kt + (size_t)h * c->ldk * dh,
                            v + (size_t)h * c->ldk * dh);
        else
            for (int i = 0; i < np; i++)
                for (int d = 0; d < dh; d++) kh[(size_t)d * WH_ATT_TILE + i] = kq[(size_t)i * dh + d];
    }
}

/* The encoder's element-wise steps around its products, in tasks of ENC_RC rows (serial,
 * they were a twentieth of base's encoder at 2 threads). */
#define ENC_RC WH_ATT_TILE
static int enc_chunk_end(int chunk, int rows) { return (chunk + 1) * ENC_RC < rows ? (chunk + 1) * ENC_RC : rows; }
typedef struct {
    wh_cpu *c;
    const float *mel;
    int n_frames, offset, T;
    float *col;
    int layer;   /* enc_cross_task */
} enc_rows_job;

/* conv1's input as rows: col[1 + t][ch] = mel[ch][offset + t] for the window's T frames (0
 * past the mel: pad_or_trim's 0.0 padding); rows 0 and T + 1 (frames −1 and T) are zero */
static void enc_melt_task(void *va, int chunk, int ith)
{
    const enc_rows_job *j = va;
    const int nm = j->c->m->hp.n_mels, t0 = chunk * ENC_RC, t1 = enc_chunk_end(chunk, j->T);
    (void)ith;
    for (int ch = 0; ch < nm; ch++) {
        const float *src = j->mel + (size_t)ch * j->n_frames + j->offset;
        for (int t = t0; t < t1; t++) j->col[(size_t)(1 + t) * nm + ch] = j->offset + t < j->n_frames ? src[t] : 0.0f;
    }
}

/* + the sinusoidal positional embedding (stored in the file) */
static void enc_pos_task(void *va, int chunk, int ith)
{
    const enc_rows_job *j = va;
    const wh_cpu *c = j->c;
    const int t1 = enc_chunk_end(chunk, c->cur);
    const float *pe = F(&c->m->e_pe);
    (void)ith;
    for (size_t i = (size_t)chunk * ENC_RC * c->n; i < (size_t)t1 * c->n; i++) c->e_x[i] += pe[i];
}

/* decoder layer j->layer's cross K (in e_q) and V (in e_k), one tile of positions a task */
static void enc_cross_task(void *va, int chunk, int ith)
{
    const enc_rows_job *j = va;
    const wh_cpu *c = j->c;
    const size_t l = (size_t)j->layer;
    (void)ith;
    if (c->kv8)
        cross_kv_tile8(c, c->e_q, c->e_k, c->cur, chunk * ENC_RC, c->cross_kt8 + l * c->n * c->ldk,
                       c->cross_ks + l * (size_t)c->n_head * c->ldk, c->cross_v8 + l * c->ldk * c->n,
                       c->cross_vs + l * (size_t)c->n_head * c->ldk);
    else
        cross_kv_tile(c, c->e_q, c->e_k, c->cur, chunk * ENC_RC, c->cross_kt + l * c->n * c->ldk,
                      c->cross_v + l * c->actx * c->n);
}

typedef struct {
    wh_cpu *c;
    int nblk;
    float qs;   /* 1/sqrt(dh), applied to the queries */
} enc_attn_job;

/* Keys are packed and scored in whole panel pairs (the 512-bit micro-kernel's width): the
 * scores of 1500 positions as 1504 columns, the last four (zero keys) never read. With 1500
 * the last 12 columns of every row block went through the ragged-edge path. */
static int pad32(int x) { return (x + 31) & ~31; }

/* floats of one head's packed K for actx positions */
static size_t kp_head(const wh_cpu *c, int actx) { return (size_t)pad32(actx) * (size_t)c->dh; }

/* ea8: head h's K_h ([pad32(cur)] rows of dh) or V_hᵀ ([dh] rows of pad32(cur)) as WH_Q8X —
 * the same bytes either way, in the f32 packing's buffers */
static void *ea8_head(float *buf, const wh_cpu *c, int h)
{
    return (uint8_t *)buf + (size_t)h * wh_qx_bytes(WH_Q8X, pad32(c->cur), c->dh);
}

/* the block's scores softmaxed without normalising (inv: each row's 1/sum) and the padding
 * positions' zeroed, for a value product over whole blocks of 32 */
static void softmax_pad(float *S, int nr, int actx, int lds, float *inv)
{
    wh_softmax_rows(S, nr, actx, (size_t)lds, inv);
    for (int r = 0; r < nr; r++) memset(S + (size_t)r * lds + actx, 0, sizeof(float) * (size_t)(lds - actx));
}

/* ea8's block: the f32 path's two products through the int8 kernel (the queries and the
 * unnormalised probabilities quantized per 32 values as any int8 product's activations; the
 * probabilities of the padding positions zero, so the value product runs over whole blocks) */
static void enc_attn_int8(const wh_cpu *c, int h, int nr, float *Qb, float *S, float *inv, void *act)
{
    const int dh = c->dh, actx = c->cur, lds = pad32(actx);
    const wh_wmat kw = {ea8_head(c->e_kp, c, h), WH_Q8X, dh, wh_row_bytes(WH_Q8_0, dh)};
    const wh_wmat vw = {ea8_head(c->e_vp, c, h), WH_Q8X, lds, wh_row_bytes(WH_Q8_0, lds)};
    wh_qx_act_quant(nr, dh, Qb, dh, wh_qx_act_pairs(WH_Q8X), act);
    wh_gemm_qx_tall(nr, dh, act, 0, nr, &kw, 0, lds, NULL, S, lds, 0);
    softmax_pad(S, nr, actx, lds, inv);
    wh_qx_act_quant(nr, lds, S, lds, wh_qx_act_pairs(WH_Q8X), act);
    wh_gemm_qx_tall(nr, lds, act, 0, nr, &vw, 0, dh, NULL, Qb, dh, 0);
}

/* One block of queries against one head's packed keys and values, the encoder's and a prompt
 * pass's cross-attention alike: S = Q·Kᵀ over lds key columns [nr][lds], softmax over the
 * first len without its normalisation (inv: each row's 1/sum), O = S·V into Q's buffer
 * [nr][dh] — on AMX tiles (kp, vp in the tiles' layout, S's padding zeroed for their whole
 * blocks; abuf the thread's A split) or the packed f32 panels (over len exactly). */
static void attn_block(int amx, int nr, int dh, float *Qb, const float *kp, const float *vp, int len, float *S,
                       float *inv, void *abuf)
{
    const int lds = pad32(len);
    if (amx) {
        wh_amx_gemm_cols(nr, dh, Qb, dh, (const uint16_t *)(const void *)kp, 0, lds, NULL, 0, S, lds, 0, abuf);
        softmax_pad(S, nr, len, lds, inv);
        wh_amx_gemm_cols(nr, lds, S, lds, (const uint16_t *)(const void *)vp, 0, dh, NULL, 0, Qb, dh, 0, abuf);
        return;
    }
    wh_gemm_packed(nr, dh, Qb, dh, kp, lds, 0, lds, S, lds);
    /* the 1/sum goes onto the [nr][dh] output instead (a third of the softmax's memory passes) */
    wh_softmax_rows(S, nr, len, (size_t)lds, inv);
    wh_gemm_packed(nr, len, S, lds, vp, dh, 0, dh, Qb, dh);
}

/* (head, query block) tasks, claimed dynamically. The block's queries, scaled by
 * 1/sqrt(dh) as they are copied (in parallel; it was a serial pass over e_q), and its
 * outputs go through a contiguous [ENC_QB][dh] buffer. */
static void enc_attn_task(void *va, int t, int ith)
{
    enc_attn_job *j = va;
    wh_cpu *c = j->c;
    const int n = c->n, dh = c->dh, actx = c->cur;
    float *S = c->e_s[ith], *Qb = S + (size_t)ENC_QB * pad32(c->actx);
    const int h = t / j->nblk, b = t % j->nblk;
    const int r0 = b * ENC_QB, nr = actx - r0 < ENC_QB ? actx - r0 : ENC_QB;
    /* Q_h / sqrt(dh) */
    for (int r = 0; r < nr; r++) wh_scale(Qb + (size_t)r * dh, j->qs, c->e_q + (size_t)(r0 + r) * n + (size_t)h * dh, dh);
    float inv[ENC_QB];
    if (c->ea8) {
        enc_attn_int8(c, h, nr, Qb, S, inv, c->e_act[ith]);
    } else {   /* the f32 panels, or the same two products on tiles */
        attn_block(c->eamx_on, nr, dh, Qb, c->e_kp + (size_t)h * kp_head(c, actx), c->e_vp + (size_t)h * kp_head(c, actx),
                   actx, S, inv, c->eamx_on ? c->e_amx[ith] : NULL);
    }
    /* the block's outputs scaled into e_a */
    for (int r = 0; r < nr; r++)
        wh_scale(c->e_a + (size_t)(r0 + r) * c->lda + (size_t)h * dh, inv[r], Qb + (size_t)r * dh, dh);
}

/* task 2h: head h's K packed, 2h + 1: its V — once per layer, not once per block of
 * queries (the blocks' own packing of the same K and Vᵀ was a twentieth of the encoder) */
static void pack_kv_task(void *va, int t, int ith)
{
    enc_attn_job *j = va;
    wh_cpu *c = j->c;
    const int n = c->n, dh = c->dh, actx = c->cur, h = t / 2;
    (void)ith;
    if (c->ea8) {
        const int lds = pad32(actx);
        if (t % 2 == 0) wh_qx8_pack_f32(lds, dh, c->e_k + (size_t)h * dh, (size_t)n, 1, dh, ea8_head(c->e_kp, c, h));
        else wh_qx8_pack_f32(dh, lds, c->e_v + (size_t)h * dh, 1, (size_t)n, actx, ea8_head(c->e_vp, c, h));
        return;
    }
    if (c->eamx_on) {   /* K_h: pad32(actx) columns (keys past actx zero) of dh; V_h: dh of pad32(actx) */
        const int lds = pad32(actx);
        uint16_t *dst = (uint16_t *)(void *)((t % 2 == 0 ? c->e_kp : c->e_vp) + (size_t)h * kp_head(c, actx));
        if (t % 2 == 0)
            for (int q = 0; q < lds / 16; q++)
                wh_amx_pack_b_slice(c->e_k + (size_t)16 * q * n + (size_t)h * dh, (size_t)n, dh, 0, dh,
                                    dst + (size_t)q * 32 * dh);
        else
            for (int q = 0; q < dh / 16; q++)
                wh_amx_pack_bt(c->e_v + (size_t)h * dh + 16 * q, (size_t)n, actx, lds, dst + (size_t)q * 32 * lds);
        return;
    }
    if (t % 2 == 0) wh_pack_b_f32(c->e_k + (size_t)h * dh, (size_t)n, pad32(actx), dh, c->e_kp + (size_t)h * kp_head(c, actx));
    else wh_pack_bt_f32(c->e_v + (size_t)h * dh, (size_t)n, dh, actx, c->e_vp + (size_t)h * kp_head(c, actx));
}

/* rows of x ([rows][n]) LayerNormed into y, ldy apart */
static void par_ln(wh_cpu *c, const float *x, float *y, int ldy, int rows, const wh_tensor *w, const wh_tensor *b)
{
    const wh_row_ln ln = {F(w), F(b), y, ldy};
    wh_par_layernorm(c->ex, rows, c->n, x, c->n, &ln);
}


/* conv1 → GELU → conv2 (stride 2) → GELU → + positions, into e_x. Both products read their
 * input with overlapping rows (the weights tap-major, convs_init): conv1's A row t is the mel
 * rows t .. t + 2 of col (frames t − 1 .. t + 1), conv2's A row t the rows 2t .. 2t + 2 of
 * e_c1, whose row 0 is a zero frame −1. */
static void enc_convs(wh_cpu *c, const float *mel, int n_frames, int offset)
{
    const wh_model *m = c->m;
    const int n = c->n, nm = m->hp.n_mels, actx = c->cur, T = 2 * actx, nchunk2 = (actx + ENC_RC - 1) / ENC_RC;
    enc_rows_job j = {c, mel, n_frames, offset, T, c->e_mlp, 0};
    memset(j.col, 0, sizeof(float) * (size_t)nm);
    memset(j.col + (size_t)(T + 1) * nm, 0, sizeof(float) * (size_t)nm);
    wh_pool_run(c->ex->pool, enc_melt_task, &j, (T + ENC_RC - 1) / ENC_RC);
    const wh_wmat w1 = {c->conv1t, WH_F32, 3 * nm, sizeof(float) * 3 * (size_t)nm};
    wh_par_gemm(c->ex, T, w1.k, j.col, nm, &w1, n, F(&m->conv1_b), c->e_c1 + n, n, 0, 1);
    wh_par_gemm(c->ex, actx, c->conv2.k, c->e_c1, 2 * n, &c->conv2, n, F(&m->conv2_b), c->e_x, n, 0, 1);
    wh_pool_run(c->ex->pool, enc_pos_task, &j, nchunk2);
}

/* one pre-LN transformer block on e_x, whose attention LayerNorm is in e_h: then the next
 * block's (or the encoder's final one) into e_h — each after its residual product, by the
 * product's tasks where they hold whole rows (wh_par_gemm_ln) */
static void enc_layer(wh_cpu *c, int l)
{
    const wh_model *m = c->m;
    const wh_layer *L = &m->enc[l];
    const int n = c->n, actx = c->cur;
    const wh_row_ln ln2 = {F(&L->mlp_ln_w), F(&L->mlp_ln_b), c->e_h, c->lda};
    const wh_row_ln next = l + 1 < m->hp.n_audio_layer
                               ? (wh_row_ln){F(&m->enc[l + 1].attn_ln_w), F(&m->enc[l + 1].attn_ln_b), c->e_h, c->lda}
                               : (wh_row_ln){F(&m->e_ln_w), F(&m->e_ln_b), c->e_h, c->lda};
    const wh_gemm_out qkv[3] = {{enc_wm(c, l, EW_Q), n, F(&L->attn.q_b), c->e_q, n, 0},
                                {enc_wm(c, l, EW_K), n, NULL, c->e_k, n, 0},
                                {enc_wm(c, l, EW_V), n, F(&L->attn.v_b), c->e_v, n, 0}};
    wh_par_gemm_multi(c->ex, actx, n, c->e_h, c->lda, qkv, 3);
    enc_attn_job aj = {c, (actx + ENC_QB - 1) / ENC_QB, 1.0f / sqrtf((float)c->dh)};
    wh_pool_run(c->ex->pool, pack_kv_task, &aj, 2 * c->n_head);
    wh_pool_run(c->ex->pool, enc_attn_task, &aj, c->n_head * aj.nblk);
    wh_par_gemm_ln(c->ex, actx, n, c->e_a, c->lda, enc_wm(c, l, EW_O), n, F(&L->attn.o_b), c->e_x, n, 1, &ln2);
    wh_par_mlp(c->ex, actx, n, c->e_h, c->lda, enc_wm(c, l, EW_MLP0), F(&L->mlp0_b), 4 * n, enc_wm(c, l, EW_MLP2),
               F(&L->mlp2_b), c->e_x, n, c->e_mlp, &next);
}

/* the tiles for this backend's tall products now (kernels.h, "AMX"): the auto mode, and AMX
 * usable and not turned off — asked per pass, as tests and bin/bench turn it off and on */
static int cpu_amx(const wh_cpu *c) { return c->mode == WH_CPU_AUTO && wh_kernels_amx(); }

static sp_status cpu_encode(wh_backend *be, const float *mel, int n_frames, int offset, int audio_ctx)
{
    wh_cpu *c = (wh_cpu *)be;
    const wh_model *m = c->m;
    const int n = c->n, actx = audio_ctx;
    c->cur = actx;
    /* the window's tall f32 products on AMX tiles where the CPU has them (kernels.h, "AMX"),
     * in the auto mode only; the exec is shared with a GPU's exact self-check backend, so
     * the flag is this backend's, for this call */
    c->ex->amx = cpu_amx(c);
    c->eamx_on = c->eamx && c->ex->amx;
    enc_convs(c, mel, n_frames, offset);
    par_ln(c, c->e_x, c->e_h, c->lda, actx, &m->enc[0].attn_ln_w, &m->enc[0].attn_ln_b);
    for (int l = 0; l < m->hp.n_audio_layer; l++) enc_layer(c, l);   /* the encoder's output LayerNorm in e_h */

    /* cross-attention K/V of every decoder layer, once per window, stored as f16 (as
     * whisper.cpp does): the decoder reads them for every token of every beam */
    for (int l = 0; l < m->hp.n_text_layer; l++) {
        const wh_layer *L = &m->dec[l];
        const wh_gemm_out kv[2] = {{cross_wm(c, l, 0), n, NULL, c->e_q, n, 0},
                                   {cross_wm(c, l, 1), n, F(&L->cross.v_b), c->e_k, n, 0}};
        wh_par_gemm_multi(c->ex, actx, n, c->e_h, c->lda, kv, 2);
        enc_rows_job j = {.c = c, .layer = l};
        wh_pool_run(c->ex->pool, enc_cross_task, &j, (actx + ENC_RC - 1) / ENC_RC);
    }
    c->ex->amx = 0;
    return SP_OK;
}

/* ------------------------------------------------------------------ decoder */

typedef struct {
    wh_cpu *c;
    int layer, rows, cross;
    int store;   /* self-attention: each task writes its head's K/V of every row first */
    float qs;    /* the queries' scale (1/√dh), applied by the task that reads them */
} dec_attn_job;

/* the keys of (layer l, head h) in block b (its values kv_half further) */
static uint16_t *kv_at(const wh_cpu *c, int b, int l, int h)
{
    return c->kvb[b] + ((size_t)l * c->n_head + h) * KV_BS * c->dh;
}

/* row r's K and V of head h (from d_kv) into its sequence's cache at its position */
static void kv_store(const wh_cpu *c, int l, int r, int h)
{
    const int n = c->n, pos = c->row_pos[r];
    const cpu_seq *sq = &c->seq[c->row_seq[r]];
    uint16_t *k = kv_at(c, sq->blk[pos / KV_BS], l, h) + (size_t)(pos % KV_BS) * c->dh;
    const float *kv = c->d_kv + (size_t)r * 2 * n + (size_t)h * c->dh;
    wh_to_f16(kv, k, (size_t)c->dh);
    wh_to_f16(kv + n, k + c->kv_half, (size_t)c->dh);
}

/* row r's query (head h) over its sequence's positions 0 .. row_pos[r] */
static void attend(const wh_cpu *c, int l, int r, int h, const float *q, float *S, float *o)
{
    const cpu_seq *sq = &c->seq[c->row_seq[r]];
    const int len = c->row_pos[r] + 1, nb = (len + KV_BS - 1) / KV_BS;
    const uint16_t *K[KV_MAXB], *V[KV_MAXB];
    for (int b = 0; b < nb; b++) {
        K[b] = kv_at(c, sq->blk[b], l, h);
        V[b] = K[b] + c->kv_half;
    }
    wh_attend_f16_blocks(q, K, V, KV_BS, (size_t)c->dh, len, c->dh, S, o);
}

/* Self-attention: task (row, head), causal over the row's own sequence cache up to its
 * position. Cross-attention: task (head, group of DEC_XROWS rows): every row of the group
 * reads the head's slice of the window's K/V (1500 × 64 × 2 halves) in the same pass. */
static void dec_attn_task(void *va, int t, int ith)
{
    dec_attn_job *j = va;
    wh_cpu *c = j->c;
    const int n = c->n, dh = c->dh, H = c->n_head;
    float *S = c->d_s[ith];
    if (j->cross) {
        /* head-major: a thread's next task is usually the same head's next rows, whose K/V
         * (384 KB) are still in its L2 (a prompt pass has up to 28 groups) */
        const int ng = (j->rows + DEC_XROWS - 1) / DEC_XROWS;
        const int h = t / ng, r0 = (t % ng) * DEC_XROWS;
        const int nr = j->rows - r0 < DEC_XROWS ? j->rows - r0 : DEC_XROWS;
        const size_t kofs = ((size_t)j->layer * n + (size_t)h * dh) * c->ldk, lh = (size_t)j->layer * H + h;
        float *q = c->d_q + (size_t)r0 * n + (size_t)h * dh;
        float *o = c->d_a + (size_t)r0 * n + (size_t)h * dh;
        for (int r = 0; r < nr; r++) wh_scale(q + (size_t)r * n, j->qs, q + (size_t)r * n, dh);
        if (c->kvq)
            wh_attend_rows_q8(nr, q, (size_t)n, (const uint8_t *)c->cross_kt8 + kofs, c->cross_ks + lh * c->ldk,
                              c->cross_v8 + lh * c->ldk * dh, c->cross_vs + lh * c->ldk, c->cur, S, c->ldk,
                              c->d_s8[ith], o, (size_t)n);
        else if (c->kv8)
            wh_attend_rows_i8(nr, dh, q, (size_t)n, c->cross_kt8 + kofs, c->cross_ks + lh * c->ldk,
                              c->cross_v8 + lh * c->ldk * dh, c->cross_vs + lh * c->ldk, (size_t)dh, c->cur, S,
                              c->ldk, o, (size_t)n);
        else
            wh_attend_rows(nr, dh, q, (size_t)n, c->cross_kt + kofs, c->cross_v + lh * c->actx * dh, (size_t)dh,
                           c->cur, S, c->ldk, o, (size_t)n);
        if (c->attn_out)   /* alignment pass: keep the softmax rows */
            for (int r = 0; r < nr; r++)
                memcpy(c->attn_out + (((size_t)j->layer * j->rows + r0 + r) * H + h) * c->cur, S + (size_t)r * c->ldk,
                       (size_t)c->cur * sizeof(float));
        return;
    }
    /* a step's few rows: task h, every row in order (K/V of row r stored before row r
     * attends: a prompt's later rows read its earlier ones); more rows: task (row, head),
     * their K/V stored before the pool ran */
    const int h = j->store ? t : t % H, r0 = j->store ? 0 : t / H, r1 = j->store ? j->rows : r0 + 1;
    /* every row's cached K/V lines asked for into L2 at once: the step's weights streamed
     * through since the last step have pushed them out, and one row at a time waited for
     * them (base step harness, 960 steps of up to 33 positions, medians: beam 5 q5_0
     * 1.666 -> 1.643 ms, f16 4.627 -> 4.538; into L1: 1.576 vs 1.590 for L2 in one round).
     * A block the rows share is asked for once. */
    int prev[KV_MAXB], np = 0;
    for (int r = r0; r < r1; r++) {
        const cpu_seq *sq = &c->seq[c->row_seq[r]];
        const int pos = c->row_pos[r];
        for (int b = 0; b * KV_BS < pos; b++) {
            if (b < np && prev[b] == sq->blk[b]) continue;
            const char *k = (const char *)kv_at(c, sq->blk[b], j->layer, h);
            const size_t bytes = (size_t)(pos - b * KV_BS < KV_BS ? pos - b * KV_BS : KV_BS) * dh * 2;
            for (size_t o = 0; o < bytes; o += 64) {
                __builtin_prefetch(k + o, 0, 2);
                __builtin_prefetch(k + c->kv_half * 2 + o, 0, 2);
            }
        }
        np = (pos + KV_BS - 1) / KV_BS;
        memcpy(prev, sq->blk, sizeof(int) * (size_t)np);
    }
    for (int r = r0; r < r1; r++) {
        float *q = c->d_q + (size_t)r * n + (size_t)h * dh;
        if (j->store) kv_store(c, j->layer, r, h);
        wh_scale(q, j->qs, q, dh);
        attend(c, j->layer, r, h, q, S, c->d_a + (size_t)r * n + (size_t)h * dh);
    }
}

/* A prompt pass's self-attention (more than DEC_SROWS rows, one sequence) as the encoder's:
 * per head, two products over the sequence's positions, where a task per (row, head) had
 * walked the cache with dot products (7.1 ms of a 224-token base f16 pass's 52). The keys and
 * values come from the f16 cache — the rounding a step reads — into the encoder's packing
 * buffers (e_kp, e_vp; scratch e_s), which no one holds between encodes, once per (layer,
 * head); then each task takes DEC_PQB query rows. Scores run to the block's last position;
 * the value product runs over all len positions, the probabilities past a row's own zero. */
typedef struct {
    wh_cpu *c;
    int layer, rows;
    int len;    /* the keys' positions: the sequence's so far, or the window's */
    int nblk;   /* self-attention: blocks of DEC_PQB rows; cross: chunks of rows a head */
    float qs;
} dec_pre_job;

static float *pre_kp(const wh_cpu *c, int h) { return c->e_kp + (size_t)h * kp_head(c, c->tctx); }
static float *pre_vp(const wh_cpu *c, int h) { return c->e_vp + (size_t)h * kp_head(c, c->tctx); }

/* task 2h: head h's keys of positions [0, len) packed as pad32(len) columns (the extra keys
 * zero), 2h + 1: its values as the value product's B (len deep) */
static void dec_pre_pack_task(void *va, int t, int ith)
{
    const dec_pre_job *j = va;
    const wh_cpu *c = j->c;
    const int dh = c->dh, h = t / 2, len = j->len, lp = pad32(len);
    const cpu_seq *sq = &c->seq[c->row_seq[0]];
    float *x = c->e_s[ith];   /* [lp][dh] */
    const size_t half = t % 2 ? c->kv_half : 0;
    for (int p0 = 0; p0 < len; p0 += KV_BS)
        wh_from_f16(kv_at(c, sq->blk[p0 / KV_BS], j->layer, h) + half, x + (size_t)p0 * dh,
                    (size_t)(len - p0 < KV_BS ? len - p0 : KV_BS) * dh);
    if (t % 2) {
        wh_pack_bt_f32(x, (size_t)dh, dh, len, pre_vp(c, h));
        return;
    }
    memset(x + (size_t)len * dh, 0, sizeof(float) * (size_t)(lp - len) * dh);
    wh_pack_b_f32(x, (size_t)dh, lp, dh, pre_kp(c, h));
}

/* task (block of rows, head), the later (longer) blocks first */
static void dec_pre_attn_task(void *va, int t, int ith)
{
    const dec_pre_job *j = va;
    const wh_cpu *c = j->c;
    const int n = c->n, dh = c->dh, H = c->n_head, len = j->len, lds = pad32(len);
    const int h = t % H, r0 = (j->nblk - 1 - t / H) * DEC_PQB;
    const int nr = j->rows - r0 < DEC_PQB ? j->rows - r0 : DEC_PQB;
    float *S = c->e_s[ith], *Qb = S + (size_t)DEC_PQB * pad32(c->tctx);   /* [nr][lds], [nr][dh] */
    float inv[DEC_PQB];
    int last = 0;
    for (int r = 0; r < nr; r++) {
        wh_scale(Qb + (size_t)r * dh, j->qs, c->d_q + (size_t)(r0 + r) * n + (size_t)h * dh, dh);
        if (c->row_pos[r0 + r] > last) last = c->row_pos[r0 + r];
    }
    /* S = Q_h · K_hᵀ for the keys [0, last] (one K slice: a prefix of the columns is the
     * same panels whatever the packed width) */
    wh_gemm_packed(nr, dh, Qb, dh, pre_kp(c, h), lds, 0, pad32(last + 1), S, lds);
    for (int r = 0; r < nr; r++) {
        float *s = S + (size_t)r * lds;
        const int valid = c->row_pos[r0 + r] + 1;
        inv[r] = 1.0f / wh_softmax_unnorm(s, valid);
        memset(s + valid, 0, sizeof(float) * (size_t)(len - valid));
    }
    /* O_h = P · V_h into the Q block, then scaled by each row's 1/sum into d_a */
    wh_gemm_packed(nr, len, S, lds, pre_vp(c, h), dh, 0, dh, Qb, dh);
    for (int r = 0; r < nr; r++)
        wh_scale(c->d_a + (size_t)(r0 + r) * n + (size_t)h * dh, inv[r], Qb + (size_t)r * dh, dh);
}

/* rows' K/V already in the cache */
static void dec_pre_attn(wh_cpu *c, int l, int rows, float qs)
{
    int last = 0;
    for (int r = 0; r < rows; r++) last = c->row_pos[r] > last ? c->row_pos[r] : last;
    dec_pre_job j = {c, l, rows, last + 1, (rows + DEC_PQB - 1) / DEC_PQB, qs};
    wh_pool_run(c->ex->pool, dec_pre_pack_task, &j, 2 * c->n_head);
    wh_pool_run(c->ex->pool, dec_pre_attn_task, &j, j.nblk * c->n_head);
}

/* The prompt pass's cross-attention the same way (the window's f16 keys and values, not the
 * int8 ones), where groups of DEC_XROWS rows had each converted every key and value of the
 * head again: task (head, chunk of rows) packs the head's keys and values into its thread's
 * own buffer (2·pad32(actx)·dh floats after e_s's scores: L2, where one buffer shared by the
 * threads had spilled to L3 and cost what the products gained), then takes the chunk DEC_XQB
 * rows at a time. The keys' 32-position tiles ([dh][32] each) are each the transposed operand
 * of 32 columns. Chunks: enough tasks for two a thread. On AMX the two products go on tiles
 * (the pass's other products are there too from 64 rows on). A 224-token base f16 pass (`pp`
 * harness, one encode, builds alternating, 2 threads): the cross phase 19.4 -> 11.1 ms on the
 * tiles (the pass 59.4 -> 49.4 ms median), 19.7 -> 17.8 ms on the FMAs (the pass, with
 * SPEECH_SESSION_AMX=0, 73.3 -> 70.5). */
static void dec_xpre_task(void *va, int t, int ith)
{
    const dec_pre_job *j = va;
    const wh_cpu *c = j->c;
    const int n = c->n, dh = c->dh, cur = j->len, lds = pad32(cur);
    const int h = t / j->nblk, per = (j->rows + j->nblk - 1) / j->nblk, c0 = (t % j->nblk) * per;
    const int c1 = j->rows < c0 + per ? j->rows : c0 + per;
    const size_t lh = (size_t)j->layer * c->n_head + h;
    float *S = c->e_s[ith], *Qb = S + (size_t)DEC_XQB * pad32(c->actx);   /* [nr][lds], [nr][dh] */
    float *kp = Qb + (size_t)DEC_XQB * dh, *vp = kp + kp_head(c, c->actx);
    float inv[DEC_XQB];
    if (c0 >= c1) return;
    const uint16_t *kt = c->cross_kt + lh * c->ldk * dh, *v = c->cross_v + lh * c->actx * dh;
    /* on tiles as the encoder's attention (a pass of 64 rows or more: its products are there too) */
    const int amx = c->eamx && c->ex->amx && j->rows >= WH_AMX_ROWS_MIN_M;
    uint16_t *kb = (uint16_t *)(void *)kp, *vb = (uint16_t *)(void *)vp;
    if (amx) {   /* K_h: lds columns of dh, a panel per 16 positions; V_h: dh columns of lds */
        for (int q = 0; q < lds / 16; q++)
            wh_amx_pack_bt_f16(kt + (size_t)(q / 2) * WH_ATT_TILE * dh + 16 * (q % 2), WH_ATT_TILE, dh, dh,
                               kb + (size_t)q * 32 * dh);
        for (int q = 0; q < dh / 16; q++) wh_amx_pack_bt_f16(v + 16 * q, (size_t)dh, cur, lds, vb + (size_t)q * 32 * lds);
    } else {
        for (int p = 0; p < cur; p += WH_ATT_TILE)
            wh_pack_bt_f16(kt + (size_t)p * dh, WH_ATT_TILE, WH_ATT_TILE, dh, kp + (size_t)p * dh);
        wh_pack_bt_f16(v, (size_t)dh, dh, cur, vp);
    }
    for (int r0 = c0; r0 < c1; r0 += DEC_XQB) {
        const int nr = c1 - r0 < DEC_XQB ? c1 - r0 : DEC_XQB;
        for (int r = 0; r < nr; r++)
            wh_scale(Qb + (size_t)r * dh, j->qs, c->d_q + (size_t)(r0 + r) * n + (size_t)h * dh, dh);
        attn_block(amx, nr, dh, Qb, kp, vp, cur, S, inv, amx ? c->e_amx[ith] : NULL);
        for (int r = 0; r < nr; r++)
            wh_scale(c->d_a + (size_t)(r0 + r) * n + (size_t)h * dh, inv[r], Qb + (size_t)r * dh, dh);
    }
}

static void dec_xpre_attn(wh_cpu *c, int l, int rows, float qs)
{
    const int H = c->n_head, want = (2 * c->n_threads + H - 1) / H, most = (rows + DEC_XQB - 1) / DEC_XQB;
    dec_pre_job j = {c, l, rows, c->cur, want < most ? want : most, qs};
    wh_pool_run(c->ex->pool, dec_xpre_task, &j, j.nblk * H);
}

/* Runs rows (row_seq/row_pos set) through the decoder; writes logits for rows
 * [first_logit_row, rows) to logits ([rows - first][n_vocab]). */
static sp_status decode_rows(wh_cpu *c, const int *tokens, int rows, float *logits, int first_logit_row)
{
    const wh_model *m = c->m;
    const int n = c->n;
    const float qs = 1.0f / sqrtf((float)c->dh);
    int pre = c->dpre && rows > DEC_SROWS;
    for (int r = 1; r < rows && pre; r++) pre = c->row_seq[r] == c->row_seq[0];
    /* (the alignment pass keeps the normalised probabilities: the groups' path) */
    const int xpre = c->dpre && rows >= DEC_XPRE && !c->kv8 && !c->attn_out;

    /* x = token_embedding[tok] + positional_embedding[pos] */
    const wh_wmat *emb = &c->dec_w[m->hp.n_text_layer * DEC_W];
    const float *dpe = F(&m->d_pe);
    for (int r = 0; r < rows; r++) {
        if (tokens[r] < 0 || tokens[r] >= c->n_vocab) return SP_ERR_INVALID_ARG;
        float *x = c->d_x + (size_t)r * n;
        wh_wmat_row(emb, tokens[r], x);
        const float *pe = dpe + (size_t)c->row_pos[r] * n;
        for (int i = 0; i < n; i++) x[i] += pe[i];
    }
    for (int l = 0; l < m->hp.n_text_layer; l++) {
        const wh_layer *L = &m->dec[l];
        /* self-attention */
        par_ln(c, c->d_x, c->d_h, n, rows, &L->attn_ln_w, &L->attn_ln_b);
        const wh_gemm_out qkv[3] = {{dec_wm(c, l, DW_Q), n, F(&L->attn.q_b), c->d_q, n, 0},
                                    {dec_wm(c, l, DW_K), n, NULL, c->d_kv, 2 * n, 0},
                                    {dec_wm(c, l, DW_V), n, F(&L->attn.v_b), c->d_kv + n, 2 * n, 0}};
        wh_par_gemm_multi(c->ex, rows, n, c->d_h, n, qkv, 3);   /* one barrier for the three */
        dec_attn_job aj = {c, l, rows, 0, rows <= DEC_SROWS, qs};
        if (!aj.store)
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < c->n_head; h++) kv_store(c, l, r, h);
        if (pre) dec_pre_attn(c, l, rows, qs);
        else wh_pool_run(c->ex->pool, dec_attn_task, &aj, aj.store ? c->n_head : rows * c->n_head);
        wh_par_gemm(c->ex, rows, n, c->d_a, n, dec_wm(c, l, DW_O), n, F(&L->attn.o_b), c->d_x, n, 1, 0);

        /* cross-attention over the window */
        par_ln(c, c->d_x, c->d_h, n, rows, &L->cross_ln_w, &L->cross_ln_b);
        wh_par_gemm(c->ex, rows, n, c->d_h, n, dec_wm(c, l, DW_CQ), n, F(&L->cross.q_b), c->d_q, n, 0, 0);
        aj.cross = 1;
        if (xpre) dec_xpre_attn(c, l, rows, qs);
        else wh_pool_run(c->ex->pool, dec_attn_task, &aj, c->n_head * ((rows + DEC_XROWS - 1) / DEC_XROWS));
        wh_par_gemm(c->ex, rows, n, c->d_a, n, dec_wm(c, l, DW_CO), n, F(&L->cross.o_b), c->d_x, n, 1, 0);

        /* MLP */
        par_ln(c, c->d_x, c->d_h, n, rows, &L->mlp_ln_w, &L->mlp_ln_b);
        wh_par_gemm(c->ex, rows, n, c->d_h, n, dec_wm(c, l, DW_MLP0), 4 * n, F(&L->mlp0_b), c->d_mlp, 4 * n, 0, 1);
        wh_par_gemm(c->ex, rows, 4 * n, c->d_mlp, 4 * n, dec_wm(c, l, DW_MLP2), n, F(&L->mlp2_b), c->d_x, n, 1, 0);
    }
    /* final LayerNorm and the tied output projection, only for the rows asked for */
    const int nl = rows - first_logit_row;
    if (nl > 0 && logits) {
        par_ln(c, c->d_x + (size_t)first_logit_row * n, c->d_h, n, nl, &m->d_ln_w, &m->d_ln_b);
        wh_par_gemm(c->ex, nl, n, c->d_h, n, emb, c->n_vocab, NULL, logits, c->n_vocab, 0, 0);
    }
    return SP_OK;
}

/* a block no sequence holds (its memory allocated on first use, then kept for reuse), held
 * once; -1 when out of memory (kv_cap covers every sequence's whole table and one more) */
static int kv_new(wh_cpu *c)
{
    for (int b = 0; b < c->kv_cap; b++)
        if (c->kv_ref[b] == 0) {
            if (!c->kvb[b] && !(c->kvb[b] = ha(2 * c->kv_half))) return -1;
            c->kv_ref[b] = 1;
            return b;
        }
    return -1;
}

/* Before a pass writes: each row's block (position row_pos) its sequence's own — a new one
 * where the table ends there, or a copy of a shared one with its positions before the row's
 * (a fork's shared prefix) — and every earlier block of the table present. Rows of one
 * sequence (a prompt) write after each other: the first makes the block its own. */
static int kv_prepare(wh_cpu *c, const wh_rows *r)
{
    const int LH = c->m->hp.n_text_layer * c->n_head;
    for (int i = 0; i < r->rows; i++) {
        cpu_seq *sq = &c->seq[r->row_seq[i]];
        const int pos = r->row_pos[i], b = pos / KV_BS;
        if (pos < 0 || b >= KV_MAXB) return -1;
        while (sq->nb <= b) {   /* positions this sequence never had */
            const int nbk = kv_new(c);
            if (nbk < 0) return -1;
            sq->blk[sq->nb++] = nbk;
        }
        const int old = sq->blk[b];
        if (c->kv_ref[old] == 1) continue;
        const int nbk = kv_new(c), filled = pos % KV_BS;
        if (nbk < 0) return -1;
        const size_t bytes = (size_t)filled * c->dh * sizeof(uint16_t);
        for (int lh = 0; lh < LH && bytes; lh++) {   /* each (layer, head)'s keys, then values */
            const size_t off = (size_t)lh * KV_BS * c->dh;
            memcpy(c->kvb[nbk] + off, c->kvb[old] + off, bytes);
            memcpy(c->kvb[nbk] + c->kv_half + off, c->kvb[old] + c->kv_half + off, bytes);
        }
        c->kv_ref[old]--;
        sq->blk[b] = nbk;
    }
    return 0;
}

static sp_status cpu_decode(wh_backend *be, const wh_rows *r)
{
    wh_cpu *c = (wh_cpu *)be;
    if (kv_prepare(c, r) != 0) return SP_ERR_NOMEM;
    c->row_seq = r->row_seq;
    c->row_pos = r->row_pos;
    c->cur = r->cur;
    c->attn_out = r->attn;
    /* a window's prompt (its previous text: up to 224 rows) on the tiles too: the row split
     * takes products of 64 rows or more (ops.c), so beam and batch-1 steps stay on their
     * GEMV; base f16, 224-token prompt pass 68.5 -> 53.0 ms, 64 tokens 24.1 -> 22.1 */
    c->ex->amx = cpu_amx(c);
    sp_status st = decode_rows(c, r->tokens, r->rows, r->logits, r->first_logit_row);
    c->ex->amx = 0;
    c->attn_out = NULL;
    return st;
}

/* dst takes src's first np positions: its table, the blocks shared (the first write into the
 * last, partly filled one copies it: kv_prepare) */
static sp_status cpu_seq_copy(wh_backend *be, int dst, int src, int np)
{
    wh_cpu *c = (wh_cpu *)be;
    if (dst == src) return SP_OK;
    cpu_seq *d = &c->seq[dst];
    const cpu_seq *s = &c->seq[src];
    int nb = np > 0 ? (np + KV_BS - 1) / KV_BS : 0;
    if (nb > s->nb) nb = s->nb;
    for (int i = 0; i < nb; i++) c->kv_ref[s->blk[i]]++;   /* before dst lets its own go: they may be the same */
    for (int i = 0; i < d->nb; i++) c->kv_ref[d->blk[i]]--;
    memcpy(d->blk, s->blk, sizeof(int) * (size_t)nb);
    d->nb = nb;
    return SP_OK;
}

static void cpu_info(const wh_backend *be, wh_device_info *out)
{
    const wh_cpu *c = (const wh_cpu *)be;
    memset(out, 0, sizeof *out);
    const int qx = c->qx;
    const int amx = cpu_amx(c);   /* as the next encode or prompt pass will find it */
    snprintf(out->name, sizeof out->name, "CPU (%s%s%s%s, %d threads)", wh_isa_name(wh_kernels_isa()),
             qx ? ", quantized weights x int8 " : "", qx ? wh_qx_kernel_name() : "",
             amx ? ", tall f32 products on AMX-BF16 tiles" : "", c->n_threads);
}

static void cpu_free(wh_backend *be)
{
    wh_cpu *c = (wh_cpu *)be;
    if (!c) return;
    int nt = c->n_threads;
    if (c->e_s) for (int i = 0; i < nt; i++) free(c->e_s[i]);
    if (c->e_act) for (int i = 0; i < nt; i++) free(c->e_act[i]);
    free(c->e_act);
    if (c->e_amx) for (int i = 0; i < nt; i++) free(c->e_amx[i]);
    free(c->e_amx);
    if (c->d_s) for (int i = 0; i < nt; i++) free(c->d_s[i]);
    if (c->d_s8) for (int i = 0; i < nt; i++) free(c->d_s8[i]);
    free(c->d_s8);
    free(c->e_s);
    free(c->d_s);
    free(c->e_x); free(c->e_h); free(c->e_q); free(c->e_k); free(c->e_v); free(c->e_kp); free(c->e_vp);
    free(c->e_a); free(c->e_mlp); free(c->e_c1); free(c->conv1t); free(c->conv2t); free(c->cross_kt); free(c->cross_v);
    free(c->cross_kt8); free(c->cross_v8); free(c->cross_ks); free(c->cross_vs);
    free(c->d_x); free(c->d_h); free(c->d_q); free(c->d_a); free(c->d_kv); free(c->d_mlp);
    if (c->kvb) for (int b = 0; b < c->kv_cap; b++) free(c->kvb[b]);
    free(c->kvb);
    free(c->kv_ref);
    if (c->w_own)
        for (int i = 0; i < n_wmats(c->m); i++) free(c->w_own[i]);
    free(c->w_own);
    free(c->wmats);
    free(c->conv2_own);
    free(c);
}

/* the window's cross K/V, f16 or (kv8: when any product is int8) int8 with scales; the
 * key tiles' padding positions (and their scales) zero */
static int cross_kv_alloc(wh_cpu *c)
{
    const size_t L = (size_t)c->m->hp.n_text_layer, n = (size_t)c->n, H = (size_t)c->n_head;
    c->kv8 = c->qx && c->dh <= 256;   /* cross_kv_tile8's row buffer (every Whisper size has 64) */
    if (!c->kv8) {
        c->cross_kt = ha(L * n * c->ldk);
        c->cross_v = ha(L * (size_t)c->actx * n);
        if (!c->cross_kt || !c->cross_v) return -1;
        memset(c->cross_kt, 0, L * n * c->ldk * sizeof(uint16_t));
        return 0;
    }
    /* the int8 products (every Whisper size has dh 64), where they multiply with vpdpbusd
     * (docs/engine.md, "kvq": base q8_0 beam-5 step 3.61–3.62 → 3.14–3.50 ms) */
    c->kvq = c->dh == 64 && wh_qx_kernel_vnni();
    c->cross_kt8 = calloc(L * n * c->ldk, 1);
    c->cross_v8 = calloc(L * c->ldk * n, 1);   /* ldk positions a head: kvq's groups of 4 up to the tile */
    c->cross_ks = calloc(L * H * c->ldk, sizeof(float));
    c->cross_vs = calloc(L * H * c->ldk, sizeof(float));
    if (!c->cross_kt8 || !c->cross_v8 || !c->cross_ks || !c->cross_vs) return -1;
    if (!c->kvq) return 0;
    if (!(c->d_s8 = calloc((size_t)c->n_threads, sizeof(void *)))) return -1;
    const size_t sb = (wh_attend_q8_scratch(DEC_XROWS, c->actx) + 63) & ~(size_t)63;
    for (int i = 0; i < c->n_threads; i++)
        if (!(c->d_s8[i] = aligned_alloc(64, sb))) return -1;
    return 0;
}

static const wh_backend_ops cpu_ops = {"cpu", cpu_encode, cpu_decode, cpu_seq_copy, cpu_info, cpu_free};

sp_status wh_cpu_backend_open(const wh_model *m, void *exv, wh_cpu_mode mode, wh_backend **out, char *err, size_t en)
{
    *out = NULL;
    wh_cpu *c = calloc(1, sizeof *c);
    if (!c) return SP_ERR_NOMEM;
    c->base.ops = &cpu_ops;
    c->m = m;
    c->ex = exv;
    c->mode = mode;
    const wh_hparams *hp = &m->hp;
    c->n = hp->n_audio_state;
    c->n_head = hp->n_audio_head;
    c->dh = c->n / c->n_head;
    c->actx = hp->n_audio_ctx;
    c->tctx = hp->n_text_ctx;
    c->n_vocab = hp->n_vocab;
    c->n_threads = wh_pool_size(c->ex->pool);
    const size_t n = (size_t)c->n, actx = (size_t)c->actx, tctx = (size_t)c->tctx;
    size_t col = (2 * actx + 2) * (size_t)hp->n_mels;   /* conv1's input rows (enc_convs) */
    size_t mlp = actx * 4 * n > col ? actx * 4 * n : col;
    c->lda = c->n + 16;
    c->e_x = fa(actx * n); c->e_h = fa(actx * (size_t)c->lda); c->e_q = fa(actx * n); c->e_k = fa((size_t)pad32(c->actx) * n);
    c->e_v = fa(actx * n); c->e_kp = fa((size_t)pad32(c->actx) * n); c->e_vp = fa((size_t)pad32(c->actx) * n); c->e_a = fa(actx * (size_t)c->lda); c->e_mlp = fa(mlp);
    c->e_c1 = fa((2 * actx + 1) * n);
    c->ldk = wh_attend_rows_pad(c->actx);
    c->d_x = fa(tctx * n); c->d_h = fa(tctx * n); c->d_q = fa(tctx * n); c->d_a = fa(tctx * n);
    c->d_kv = fa(tctx * 2 * n); c->d_mlp = fa(tctx * 4 * n);
    if (c->tctx > KV_MAXB * KV_BS) {
        if (err && en) snprintf(err, en, "n_text_ctx %d: more than the %d positions a decoder cache holds", c->tctx, KV_MAXB * KV_BS);
        cpu_free(&c->base);
        return SP_ERR_UNSUPPORTED;
    }
    c->kv_half = (size_t)hp->n_text_layer * (size_t)c->n_head * KV_BS * (size_t)c->dh;
    c->kv_cap = WH_MAX_SEQ * ((c->tctx + KV_BS - 1) / KV_BS) + 1;
    c->kvb = calloc((size_t)c->kv_cap, sizeof *c->kvb);
    c->kv_ref = calloc((size_t)c->kv_cap, sizeof *c->kv_ref);
    c->e_s = calloc((size_t)c->n_threads, sizeof(float *));
    c->d_s = calloc((size_t)c->n_threads, sizeof(float *));
    if (!c->e_x || !c->e_h || !c->e_q || !c->e_k || !c->e_v || !c->e_kp || !c->e_vp || !c->e_a || !c->e_mlp || !c->e_c1 ||
        !c->d_x || !c->d_h || !c->d_q || !c->d_a || !c->d_kv || !c->d_mlp ||
        !c->e_s || !c->d_s || !c->kvb || !c->kv_ref)
        goto nomem;
    if (weights_init(c) != 0) goto nomem;
    if (cross_kv_alloc(c) != 0) goto nomem;
    /* the int8 kernel's blocks (every Whisper size: dh 64); only where it multiplies with
     * vpdpbusd (a harness timing 96 queries × 1504 keys of one head, 1 thread, f32 → int8
     * incl. the probabilities' quantization: AVX512-VNNI 340 → 141 µs, AVX-VNNI code 344 →
     * 239 (185–220 since its whole-vector stores), AVX2's vpmaddubsw 374 → 380 (320–360)) */
    c->ea8 = c->qx && c->dh % 32 == 0 && wh_qx_kernel_vnni();
    if (c->ea8 && !(c->e_act = calloc((size_t)c->n_threads, sizeof(void *)))) goto nomem;
    c->eamx = !c->ea8 && mode == WH_CPU_AUTO && c->dh % 32 == 0 && wh_kernels_amx();
    if (c->eamx && !(c->e_amx = calloc((size_t)c->n_threads, sizeof(void *)))) goto nomem;
    memset(c->e_k, 0, sizeof(float) * (size_t)pad32(c->actx) * n);   /* rows past actx: zero keys */
    c->dpre = c->tctx <= c->actx && c->dh <= ENC_QB;   /* e_kp, e_vp, e_s hold a prompt's heads */
    memset(c->e_c1, 0, sizeof(float) * n);   /* frame −1 of conv2's input */
    /* e_s: the encoder attention's scores, then its Q/O block; a prompt pass's cross-attention
     * adds its head's packed keys and values (dec_xpre_task) */
    const size_t es_enc = (size_t)ENC_QB * ((size_t)pad32(c->actx) + (size_t)c->dh);
    const size_t es_dec = (size_t)DEC_XQB * ((size_t)pad32(c->actx) + (size_t)c->dh) + 2 * kp_head(c, c->actx);
    const size_t es_floats = c->dpre && es_dec > es_enc ? es_dec : es_enc;
    for (int i = 0; i < c->n_threads; i++) {
        c->e_s[i] = fa(es_floats);
        c->d_s[i] = fa(DEC_XROWS * c->ldk > tctx ? DEC_XROWS * c->ldk : tctx);
        if (!c->e_s[i] || !c->d_s[i]) goto nomem;
        if (c->ea8 && !(c->e_act[i] = fa(wh_qx_act_bytes(ENC_QB, pad32(c->actx)) / sizeof(float) + 1))) goto nomem;
        if (c->eamx && !(c->e_amx[i] = fa(wh_amx_abuf_bytes(ENC_QB, pad32(c->actx)) / sizeof(float)))) goto nomem;
    }
    *out = &c->base;
    return SP_OK;
nomem:
    if (err && en) snprintf(err, en, "out of memory allocating the CPU run state");
    cpu_free(&c->base);
    return SP_ERR_NOMEM;
}
