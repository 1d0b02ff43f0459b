/* CTranslate2 reader (src/whisper/model_ct2.c). A synthetic ggml model (bin/mkmodel) is
 * rewritten here as a CTranslate2 directory the way CTranslate2's converter lays it out
 * (fused q/k/v, zero key bias, [out][in] weights, int8 rows quantized exactly as
 * ctranslate2/specs/model_spec.py _quantize does, flags, alias, GPT-2-encoded vocabulary with
 * the special tokens, config.json); then:
 *   - every tensor the reader produces equals the ggml loader's, value for value (f32 and
 *     f16 files), or the exact int8 dequantization q / scale (int8 files);
 *   - each kind of malformed file or side file fails with a message naming the problem, and
 *     truncation at any offset fails cleanly (ASan: no read past the end);
 *   - the WH_I8R row kernels: AVX2 bit-identical to the scalar reference, GEMM against the
 *     reference GEMM;
 *   - the computed mel filterbank against openai's (the real one in $SHARED's header-only
 *     ggml file) and, when the real tiny.en weights are cached, their vocabulary against
 *     the real ggml vocabulary.
 * The Transformers reader (src/whisper/model_st.c) gets the same treatment from a
 * model.safetensors + config.json + vocab.json + added_tokens.json written here.
 * With --write-corpus DIR it writes the fuzz seeds for fuzz/fuzz_ct2.c instead. */
#include "harness.h"
#include "speech.h"
#include "whisper/fp16.h"
#include "whisper/kernels.h"
#include "whisper/align.h"
#include "whisper/model.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CT_F32 = 0, CT_I8 = 1, CT_I16 = 2, CT_F16 = 4 };

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        b->b = realloc(b->b, cap);
        if (!b->b) abort();
        b->cap = cap;
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_str(buf *b, const char *s)
{
    uint16_t n = (uint16_t)(strlen(s) + 1);
    put(b, &n, 2);
    put(b, s, n);
}

static const char *g_brk = "";   /* the break kind being written */
static int is_brk(const char *k) { return !strcmp(g_brk, k); }

static int g_nv;   /* variables written so far */
static void put_var_hdr(buf *b, const char *name, int rank, const uint32_t *dims, int dtype, uint32_t nbytes)
{
    g_nv++;
    put_str(b, name);
    uint8_t r = (uint8_t)rank, d = (uint8_t)dtype;
    put(b, &r, 1);
    for (int i = 0; i < rank; i++) put_u32(b, dims[i]);
    put(b, &d, 1);
    put_u32(b, nbytes);
}

static void put_scalar(buf *b, const char *name, int dtype, int v)
{
    if (dtype == CT_I8) { int8_t x = (int8_t)v; put_var_hdr(b, name, 0, NULL, dtype, 1); put(b, &x, 1); }
    else { int16_t x = (int16_t)v; put_var_hdr(b, name, 0, NULL, CT_I16, 2); put(b, &x, 2); }
}

/* Rows of ggml tensors (stacked: the fused layers) as float, rows [r][k]. */
static float *rows_of(const wh_tensor *const *t, int nt, int64_t rows_each, int64_t k)
{
    float *out = calloc((size_t)(nt * rows_each * k), sizeof *out);
    for (int p = 0; p < nt; p++)
        for (int64_t r = 0; r < rows_each; r++) {
            float *dst = out + (size_t)((p * rows_each + r) * k);
            if (!t[p]) continue;   /* a NULL part: zeros (the key bias) */
            wh_dequant_row_ref(t[p]->type, (const uint8_t *)t[p]->data + (size_t)r * wh_row_bytes(t[p]->type, k), dst, 0, k);
        }
    return out;
}

/* A variable of `rows` x `k` floats as dtype (int8: plus its weight_scale, CTranslate2's way). */
static void put_floats(buf *b, const char *name, int rank, const uint32_t *dims, const float *x, int64_t rows, int64_t k, int dtype)
{
    const size_t nel = (size_t)(rows * k);
    if (dtype == CT_F32) {
        put_var_hdr(b, name, rank, dims, CT_F32, is_brk("nbytes") ? (uint32_t)(nel * 4 - 4) : (uint32_t)(nel * 4));
        put(b, x, is_brk("nbytes") ? nel * 4 - 4 : nel * 4);
        return;
    }
    if (dtype == CT_F16) {
        put_var_hdr(b, name, rank, dims, CT_F16, (uint32_t)(nel * 2));
        for (size_t i = 0; i < nel; i++) { uint16_t h = wh_f32_to_f16(x[i]); put(b, &h, 2); }
        return;
    }
    float *scale = malloc((size_t)rows * sizeof *scale);
    put_var_hdr(b, name, rank, dims, is_brk("dtype") ? 9 : CT_I8, (uint32_t)nel);
    for (int64_t r = 0; r < rows; r++) {
        float amax = 0;
        for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[r * k + i]));
        if (amax == 0) amax = 127.0f;
        scale[r] = 127.0f / amax;   /* numpy: float32 array, float32 arithmetic */
        for (int64_t i = 0; i < k; i++) { int8_t q = (int8_t)rintf(x[r * k + i] * scale[r]); put(b, &q, 1); }
    }
    if (is_brk("zero-scale")) scale[rows / 2] = 0.0f;
    if (is_brk("nan-scale")) scale[rows - 1] = NAN;
    char sn[192];
    snprintf(sn, sizeof sn, "%s_scale", name);
    uint32_t sd = (uint32_t)rows - (is_brk("scale-shape") ? 1 : 0);
    if (!is_brk("no-scale")) { put_var_hdr(b, sn, 1, &sd, CT_F32, sd * 4); put(b, scale, sd * 4); }
    free(scale);
}

static void put_tensor(buf *b, const char *name, const wh_tensor *const *t, int nt, int64_t rows_each, int64_t k, int rank,
                       int64_t d1, int64_t d2, int dtype)
{
    float *x = rows_of(t, nt, rows_each, k);
    uint32_t dims[3] = {(uint32_t)(nt * rows_each * (rank == 1 ? k : 1)), (uint32_t)d1, (uint32_t)d2};
    if (is_brk("shape") && !strcmp(name, "encoder/conv2/bias")) {   /* a consistent record, one element too long */
        x = realloc(x, (size_t)(k + 1) * sizeof *x);
        x[k++] = 0;
        dims[0]++;
    }
    put_floats(b, name, rank, dims, x, nt * rows_each, k, dtype);
    free(x);
}

static void put_ln(buf *b, const char *pre, const wh_tensor *w, const wh_tensor *bb, int64_t n, int fdt)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s/gamma", pre);
    put_tensor(b, nm, &w, 1, 1, n, 1, 0, 0, fdt);
    snprintf(nm, sizeof nm, "%s/beta", pre);
    put_tensor(b, nm, &bb, 1, 1, n, 1, 0, 0, fdt);
}

static void put_linear(buf *b, const char *pre, int i, const wh_tensor *const *w, const wh_tensor *const *bias, int parts, int64_t n, int64_t in,
                       int wdt, int fdt)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s/linear_%d/weight", pre, i);
    put_tensor(b, nm, w, parts, n, in, 2, in, 0, wdt);
    snprintf(nm, sizeof nm, "%s/linear_%d/bias", pre, i);
    put_tensor(b, nm, bias, parts, 1, n, 1, 0, 0, fdt);   /* parts x [n] stacked as one vector */
}

static void put_layer(buf *b, const wh_layer *L, const char *side, int l, int64_t n, int dec, int wdt, int fdt)
{
    char pre[96], p2[128], ln[160];
    snprintf(pre, sizeof pre, "%s/layer_%d", side, l);
    snprintf(p2, sizeof p2, "%s/self_attention", pre);
    snprintf(ln, sizeof ln, "%s/layer_norm", p2);
    put_ln(b, ln, &L->attn_ln_w, &L->attn_ln_b, n, fdt);
    const wh_tensor *qkv[3] = {&L->attn.q_w, &L->attn.k_w, &L->attn.v_w}, *qkv_b[3] = {&L->attn.q_b, NULL, &L->attn.v_b};
    put_linear(b, p2, 0, qkv, qkv_b, 3, n, n, wdt, fdt);
    const wh_tensor *o[1] = {&L->attn.o_w}, *ob[1] = {&L->attn.o_b};
    put_linear(b, p2, 1, o, ob, 1, n, n, wdt, fdt);
    if (dec) {
        snprintf(p2, sizeof p2, "%s/attention", pre);
        snprintf(ln, sizeof ln, "%s/layer_norm", p2);
        put_ln(b, ln, &L->cross_ln_w, &L->cross_ln_b, n, fdt);
        const wh_tensor *q[1] = {&L->cross.q_w}, *qb[1] = {&L->cross.q_b};
        put_linear(b, p2, 0, q, qb, 1, n, n, wdt, fdt);
        const wh_tensor *kv[2] = {&L->cross.k_w, &L->cross.v_w}, *kvb[2] = {NULL, &L->cross.v_b};
        put_linear(b, p2, 1, kv, kvb, 2, n, n, wdt, fdt);
        const wh_tensor *co[1] = {&L->cross.o_w}, *cob[1] = {&L->cross.o_b};
        put_linear(b, p2, 2, co, cob, 1, n, n, wdt, fdt);
    }
    snprintf(p2, sizeof p2, "%s/ffn", pre);
    snprintf(ln, sizeof ln, "%s/layer_norm", p2);
    put_ln(b, ln, &L->mlp_ln_w, &L->mlp_ln_b, n, fdt);
    const wh_tensor *m0[1] = {&L->mlp0_w}, *m0b[1] = {&L->mlp0_b}, *m2[1] = {&L->mlp2_w}, *m2b[1] = {&L->mlp2_b};
    put_linear(b, p2, 0, m0, m0b, 1, 4 * n, n, wdt, fdt);
    put_linear(b, p2, 1, m2, m2b, 1, n, 4 * n, wdt, fdt);
}

/* model.bin of m: weights as wdt, the rest as fdt. */
static buf ct2_bin(const wh_model *m, int wdt, int fdt)
{
    buf b = {0};
    const wh_hparams *hp = &m->hp;
    const int64_t n = hp->n_audio_state;
    buf body = {0};
    g_nv = 0;
    put_scalar(&body, "decoder/activation", CT_I8, is_brk("activation") ? 1 : 3);
    put_scalar(&body, "decoder/alibi", CT_I8, 0);
    put_scalar(&body, "decoder/pre_norm", CT_I8, 1);
    put_scalar(&body, "decoder/scale_embeddings", CT_I8, 0);
    put_scalar(&body, "decoder/num_heads", CT_I16, hp->n_text_head);
    put_scalar(&body, "encoder/num_heads", CT_I16, hp->n_audio_head);
    const wh_tensor *t1[1];
    t1[0] = &m->conv1_w; put_tensor(&body, "encoder/conv1/weight", t1, 1, n, 3 * hp->n_mels, 3, hp->n_mels, 3, wdt);
    t1[0] = &m->conv1_b; put_tensor(&body, "encoder/conv1/bias", t1, 1, 1, n, 1, 0, 0, fdt);
    t1[0] = &m->conv2_w; put_tensor(&body, "encoder/conv2/weight", t1, 1, n, 3 * n, 3, n, 3, wdt);
    t1[0] = &m->conv2_b; put_tensor(&body, "encoder/conv2/bias", t1, 1, 1, n, 1, 0, 0, fdt);
    t1[0] = &m->e_pe; put_tensor(&body, "encoder/position_encodings/encodings", t1, 1, hp->n_audio_ctx, n, 2, n, 0, fdt);
    put_ln(&body, "encoder/layer_norm", &m->e_ln_w, &m->e_ln_b, n, fdt);
    t1[0] = &m->tok_emb; put_tensor(&body, "decoder/embeddings/weight", t1, 1, hp->n_vocab, n, 2, n, 0, wdt);
    t1[0] = &m->d_pe; put_tensor(&body, "decoder/position_encodings/encodings", t1, 1, hp->n_text_ctx, n, 2, n, 0, fdt);
    put_ln(&body, "decoder/layer_norm", &m->d_ln_w, &m->d_ln_b, n, fdt);
    for (int l = 0; l < hp->n_audio_layer; l++) { put_layer(&body, &m->enc[l], "encoder", l, n, 0, wdt, fdt); }
    for (int l = 0; l < hp->n_text_layer; l++) { put_layer(&body, &m->dec[l], "decoder", l, n, 1, wdt, fdt); }
    if (is_brk("unknown-var")) { put_scalar(&body, "decoder/bogus", CT_I8, 0); }
    if (is_brk("dup-var")) { put_scalar(&body, "decoder/alibi", CT_I8, 0); }
    put_u32(&b, is_brk("version") ? 7 : 6);
    put_str(&b, is_brk("spec") ? "TransformerSpec" : "WhisperSpec");
    put_u32(&b, 3);
    put_u32(&b, (uint32_t)g_nv);
    put(&b, body.b, body.n);
    free(body.b);
    put_u32(&b, 1);
    put_str(&b, is_brk("alias") ? "decoder/embeddings/weight2" : "decoder/projection/weight");
    put_str(&b, "decoder/embeddings/weight");
    if (is_brk("trailing")) put_u32(&b, 0);
    return b;
}

/* ------------------------------------------------------------------ side files */

static int printable(int c) { return (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae; }

/* GPT-2 byte-level text of a token (the inverse of the reader's decoding) */
static void put_gpt2(buf *b, const char *s, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        int c = (uint8_t)s[i], cp = c;
        if (!printable(c)) {
            cp = 0x100;
            for (int x = 0; x < c; x++) cp += !printable(x);
        }
        uint8_t u[2] = {(uint8_t)(0xc0 | cp >> 6), (uint8_t)(0x80 | (cp & 0x3f))}, a = (uint8_t)cp;
        if (cp < 0x80) put(b, &a, 1);
        else put(b, u, 2);
    }
}

static buf vocab_txt(const wh_model *m)
{
    buf b = {0};
    const wh_specials *sp = &m->sp;
    const int nv = m->hp.n_vocab - is_brk("vocab-count");
    for (int i = 0; i < nv; i++) {
        char t[64];
        if (i < m->n_tokens && i < sp->eot) put_gpt2(&b, m->vocab[i].bytes, m->vocab[i].len);
        else {
            if (i == sp->eot) snprintf(t, sizeof t, "<|endoftext|>");
            else if (i == sp->sot) snprintf(t, sizeof t, "%s", is_brk("vocab-special") ? "<|sot|>" : "<|startoftranscript|>");
            else if (i == sp->lang_first) snprintf(t, sizeof t, "<|en|>");
            else if (i > sp->lang_first && i < sp->translate) snprintf(t, sizeof t, "<|l%d|>", i - sp->lang_first);
            else if (i == sp->translate) snprintf(t, sizeof t, "<|translate|>");
            else if (i == sp->transcribe) snprintf(t, sizeof t, "<|transcribe|>");
            else if (i == sp->notimestamps) snprintf(t, sizeof t, "<|notimestamps|>");
            else if (i >= sp->timestamp_begin) snprintf(t, sizeof t, "<|%.2f|>", (i - sp->timestamp_begin) * 0.02);
            else snprintf(t, sizeof t, "<|s%d|>", i);
            put(&b, t, strlen(t));
        }
        if (is_brk("vocab-char") && i == 1000) put(&b, "\r", 1);
        put(&b, "\n", 1);
    }
    return b;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* A CTranslate2 directory for m at dir (break kind g_brk). */
static int write_dir(const wh_model *m, const char *dir, int wdt, int fdt, const char *kind)
{
    char p[512];
    g_brk = kind ? kind : "";
    mkdir(dir, 0755);
    buf bin = ct2_bin(m, wdt, fdt), voc = vocab_txt(m);
    snprintf(p, sizeof p, "%s/model.bin", dir);
    int rc = write_file(p, bin.b, bin.n);
    snprintf(p, sizeof p, "%s/vocabulary.txt", dir);
    rc |= write_file(p, voc.b, voc.n);
    char cfg[4096];
    int o = snprintf(cfg, sizeof cfg, "{\"alignment_heads\": [[0, 1]], \"suppress_ids\": [1, 2], \"suppress_ids_begin\": [220, %d], \"lang_ids\": [",
                     is_brk("suppress") ? 999999 : m->sp.eot);
    for (int i = 0; i < m->sp.n_lang; i++) o += snprintf(cfg + o, sizeof cfg - (size_t)o, "%s%d", i ? ", " : "", m->sp.lang_first + i + (is_brk("lang-ids") && i == 3));
    snprintf(cfg + o, sizeof cfg - (size_t)o, "]}");
    snprintf(p, sizeof p, "%s/config.json", dir);
    rc |= write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    snprintf(cfg, sizeof cfg, "{\"feature_size\": %d, \"hop_length\": %d, \"n_fft\": 400, \"sampling_rate\": 16000}", m->hp.n_mels,
             is_brk("preproc") ? 200 : 160);
    rc |= write_file(p, cfg, strlen(cfg));
    free(bin.b);
    free(voc.b);
    g_brk = "";
    return rc;
}

/* ------------------------------------------------------------------ comparisons */

enum { K_F = 0, K_W = 1 };
typedef struct { const wh_tensor *t; int kind; } tref;

/* Every tensor of m in a fixed order, with its kind. */
static int tensors(const wh_model *m, tref *out)
{
    int n = 0;
#define T(x, k) out[n++] = (tref){&(x), k}
    T(m->e_pe, K_F); T(m->conv1_w, K_W); T(m->conv1_b, K_F); T(m->conv2_w, K_W); T(m->conv2_b, K_F);
    T(m->e_ln_w, K_F); T(m->e_ln_b, K_F); T(m->d_pe, K_F); T(m->tok_emb, K_W); T(m->d_ln_w, K_F); T(m->d_ln_b, K_F);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < (d ? m->hp.n_text_layer : m->hp.n_audio_layer); l++) {
            const wh_layer *L = d ? &m->dec[l] : &m->enc[l];
            const wh_attn *as[2] = {&L->attn, &L->cross};
            T(L->attn_ln_w, K_F); T(L->attn_ln_b, K_F); T(L->mlp_ln_w, K_F); T(L->mlp_ln_b, K_F);
            T(L->mlp0_w, K_W); T(L->mlp0_b, K_F); T(L->mlp2_w, K_W); T(L->mlp2_b, K_F);
            if (d) { T(L->cross_ln_w, K_F); T(L->cross_ln_b, K_F); }
            for (int a = 0; a < 1 + d; a++) {
                T(as[a]->q_w, K_W); T(as[a]->q_b, K_F); T(as[a]->k_w, K_W); T(as[a]->v_w, K_W);
                T(as[a]->v_b, K_F); T(as[a]->o_w, K_W); T(as[a]->o_b, K_F);
            }
        }
#undef T
    return n;
}

static int64_t t_rows(const wh_tensor *t) { return t->n_dims == 3 ? t->ne[2] : t->ne[1] * t->ne[2] * t->ne[3]; }
static int64_t t_k(const wh_tensor *t) { return t->n_dims == 3 ? t->ne[0] * t->ne[1] : t->ne[0]; }

/* What the CTranslate2 copy of ggml row x must read back as, for the file's dtype. */
static void expect_row(float *x, int64_t k, int dtype)
{
    if (dtype == CT_F16) { for (int64_t i = 0; i < k; i++) x[i] = wh_f16_to_f32(wh_f32_to_f16(x[i])); return; }
    if (dtype != CT_I8) return;
    float amax = 0;
    for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float s = 127.0f / (amax == 0 ? 127.0f : amax);
    for (int64_t i = 0; i < k; i++) x[i] = (float)(int8_t)rintf(x[i] * s) / s;
}

/* Number of tensors of b that differ from a's (after the file's rounding); bit equality. */
static int compare_models(const wh_model *a, const wh_model *b, int wdt, int fdt, char *what, size_t wn)
{
    static tref ta[4096], tb[4096];
    int n = tensors(a, ta), bad = 0;
    tensors(b, tb);
    float *ra = malloc(8192 * 4 * sizeof(float)), *rb = malloc(8192 * 4 * sizeof(float));
    for (int i = 0; i < n; i++) {
        const wh_tensor *x = ta[i].t, *y = tb[i].t;
        int same = !memcmp(x->ne, y->ne, sizeof x->ne);
        const int64_t rows = t_rows(x), k = t_k(x);
        for (int64_t r = 0; same && r < rows; r++) {
            wh_dequant_row_ref(x->type, (const uint8_t *)x->data + (size_t)r * wh_row_bytes(x->type, k), ra, 0, k);
            wh_dequant_row_ref(y->type, (const uint8_t *)y->data + (size_t)r * wh_row_bytes(y->type, k), rb, 0, k);
            expect_row(ra, k, ta[i].kind == K_W ? wdt : fdt);
            same = !memcmp(ra, rb, (size_t)k * sizeof(float));
        }
        if (!same && !bad++) snprintf(what, wn, "tensor %d (ne %lld %lld %lld, types %d/%d)", i, (long long)x->ne[0], (long long)x->ne[1],
                                      (long long)x->ne[2], x->type, y->type);
    }
    free(ra);
    free(rb);
    return bad;
}

/* ------------------------------------------------------------------ helpers */

static char g_tmp[256];
static const char *bin_dir(void) { return getenv("BIN") ? getenv("BIN") : "bin"; }

static wh_model *mk_ggml(const char *args, const char *name)
{
    char cmd[1024], path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    snprintf(cmd, sizeof cmd, "%s/mkmodel %s --out %s", bin_dir(), args, path);
    wh_model *m = NULL;
    if (system(cmd) != 0 || wh_model_load(path, &m, err, sizeof err) != SP_OK) return NULL;
    return m;
}

/* Loads dir, expecting failure with `want` in the message; returns 1 if so. */
static int fails_with(const char *dir, const char *want, char *got, size_t gn)
{
    wh_model *m = NULL;
    sp_status st = wh_model_load(dir, &m, got, gn);
    wh_model_free(m);
    return st != SP_OK && m == NULL && strstr(got, want) != NULL;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* The fuzz target's input: [u32 vocab_len][vocabulary.txt][u32 config_len][config.json][model.bin] */
static buf fuzz_input(const char *dir, size_t bin_keep, int with_side)
{
    buf o = {0};
    const char *names[2] = {"vocabulary.txt", "config.json"};
    for (int i = 0; i < 2; i++) {
        if (!with_side) { put_u32(&o, 0); continue; }   /* a model.bin prefix fails before they matter */
        char p[1024];
        size_t n;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        uint8_t *d = slurp(p, &n);
        put_u32(&o, (uint32_t)n);
        put(&o, d, n);
        free(d);
    }
    char p[1024];
    size_t n;
    snprintf(p, sizeof p, "%s/model.bin", dir);
    uint8_t *d = slurp(p, &n);
    put(&o, d, bin_keep < n ? bin_keep : n);
    free(d);
    return o;
}

/* ------------------------------------------------------------------ tests */

static void test_equal(void)
{
    static const struct { const char *args, *name; int wdt, fdt; } v[] = {
        {"--type f32", "micro-f32.bin", CT_F32, CT_F32},
        {"--type f16", "micro-f16.bin", CT_F16, CT_F32},
        {"--type f16", "micro-f16.bin", CT_I8, CT_F16},
        {"--type f16 --n-vocab 51864", "micro.en-f16.bin", CT_I8, CT_F32},
        {"--type f16 --n-vocab 51866 --n-mels 128", "micro-v3-f16.bin", CT_F16, CT_F16},
    };
    static const char *const dn[] = {"float32", "", "", "", "float16"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char name[160], dir[512], err[512] = "", what[160] = "";
        snprintf(name, sizeof name, "CT2 %s weights, %s others from %s: every tensor equals the ggml loader's (after the file's rounding)",
                 v[i].wdt == CT_I8 ? "int8" : dn[v[i].wdt], dn[v[i].fdt], v[i].name);
        TEST(name) {
            wh_model *g = mk_ggml(v[i].args, v[i].name), *c = NULL;
            CHECKF(g != NULL, "mkmodel %s", v[i].args);
            if (!g) break;
            snprintf(dir, sizeof dir, "%s/ct2-%zu", g_tmp, i);
            CHECK(write_dir(g, dir, v[i].wdt, v[i].fdt, NULL) == 0);
            CHECKF(wh_model_load(dir, &c, err, sizeof err) == SP_OK, "%s", err);
            if (c) {
                CHECK(!memcmp(&g->hp, &c->hp, offsetof(wh_hparams, ftype)));
                CHECK(c->hp.ftype == (v[i].wdt == CT_F32 ? 0 : v[i].wdt == CT_F16 ? 1 : WH_FTYPE_I8R));
                CHECK(!memcmp(&g->sp, &c->sp, sizeof g->sp) && c->n_tokens == g->n_tokens && c->format == WH_FMT_CT2);
                int vbad = 0;
                for (int t = 0; t < g->n_tokens; t++)
                    vbad += g->vocab[t].len != c->vocab[t].len || memcmp(g->vocab[t].bytes, c->vocab[t].bytes, g->vocab[t].len);
                CHECKF(vbad == 0, "%d tokens differ", vbad);
                /* mkmodel computes the Slaney filterbank too: both must be librosa's */
                double fd = 0;
                for (int k = 0; k < g->hp.n_mels * 201; k++) fd = fmax(fd, fabs((double)g->filters[k] - c->filters[k]));
                CHECKF(fd < 1e-6, "filterbanks differ by %g", fd);
                CHECKF(compare_models(g, c, v[i].wdt, v[i].fdt, what, sizeof what) == 0, "%s", what);
            }
            wh_model_free(c);
            wh_model_free(g);
        }
    }
}

static void test_engine_same(void)
{
    TEST("engine: the same transcript (tokens, times, probabilities) from a ggml file and its CTranslate2 copy") {
        char cmd[4096], dir[512], a[300], b[300];
        wh_model *g = mk_ggml("--type f16", "e2e-f16.bin");
        CHECK(g != NULL);
        if (!g) break;
        snprintf(dir, sizeof dir, "%s/ct2-e2e", g_tmp);
        CHECK(write_dir(g, dir, CT_F16, CT_F32, NULL) == 0);
        wh_model_free(g);
        snprintf(a, sizeof a, "%s/a.json", g_tmp);
        snprintf(b, sizeof b, "%s/b.json", g_tmp);
        const char *opt = "--language en --beam-size 2 --temperature 0 --threads 2 -f json tests/data/speech-16k.wav";
        snprintf(cmd, sizeof cmd, "%s/transcribe --model %s/e2e-f16.bin %s >%s 2>/dev/null && %s/transcribe --model %s %s >%s 2>/dev/null && cmp -s %s %s",
                 bin_dir(), g_tmp, opt, a, bin_dir(), dir, opt, b, a, b);
        CHECKF(system(cmd) == 0, "%s", cmd);
    }
}

/* compute int8 on CTranslate2's int8 rows (WH_I8R: a per-row scale) requantizes them to
 * q8_0 for the int8 products: the logits stay within 2 % of the exact path's. auto does the
 * same to them (a quantized file, as ggml's): it had kept them exact, slower than the f16
 * model they came from. */
static void test_i8r_compute_int8(void)
{
    TEST("CTranslate2 int8 weights under compute int8 and auto: q8_0 x int8, logits within 2 % of exact") {
        char dir[512], err[512] = "";
        wh_model *g = mk_ggml("--type f16", "i8r-f16.bin");
        CHECK(g != NULL);
        if (!g) break;
        snprintf(dir, sizeof dir, "%s/ct2-i8r", g_tmp);
        CHECK(write_dir(g, dir, CT_I8, CT_F16, NULL) == 0);
        const int V = g->hp.n_vocab, nm = g->hp.n_mels;
        wh_model_free(g);
        float *mel = malloc(sizeof(float) * (size_t)nm * 3000), *lg[3] = {NULL, NULL, NULL};
        for (int i = 0; i < nm * 3000; i++) mel[i] = 0.3f * sinf(0.013f * (float)i);
        int prompt[3] = {50258, 50259, 50359};
        const char *modes[3] = {"exact", "int8", "auto"};
        char name[3][96] = {"", "", ""};
        for (int md = 0; md < 3; md++) {
            sp_context_params cp = sp_context_default_params();
            cp.compute = modes[md];
            cp.device = "cpu";
            sp_context *ctx = NULL;
            CHECKF(sp_context_open(dir, &cp, &ctx, err, sizeof err) == SP_OK, "%s", err);
            if (!ctx) continue;
            sp_device_info di;
            sp_context_device_info(ctx, &di);
            snprintf(name[md], sizeof name[md], "%s", di.name);
            lg[md] = malloc(sizeof(float) * (size_t)V * 3);
            CHECK(sp_encode(ctx, mel, 3000, 0) == SP_OK && sp_decode(ctx, prompt, 3, lg[md], 0) == SP_OK);
            sp_context_free(ctx);
        }
        if (lg[0] && lg[1] && lg[2]) {
            double d = 0, sc = 0, da = 0;
            for (int j = 0; j < V * 3; j++) {
                d = fmax(d, fabs(lg[1][j] - lg[0][j]));
                sc = fmax(sc, fabs(lg[0][j]));
                da = fmax(da, fabs(lg[2][j] - lg[1][j]));
            }
            printf("# int8 rows, compute int8 vs exact: max diff %.3g of %.3g; auto vs int8 %.3g; \"%s\"\n", d, sc, da,
                   name[2]);
            if (wh_kernels_int8()) {
                CHECKF(d > 0 && d <= 0.02 * sc, "diff %g of %g", d, sc);
                CHECKF(strstr(name[1], "x int8") && !strstr(name[0], "x int8"), "%s / %s", name[0], name[1]);
                CHECKF(da == 0 && strstr(name[2], "x int8"), "auto: diff %g from int8; %s", da, name[2]);
            } else {
                CHECK(d == 0 && da == 0);
            }
        }
        free(lg[0]); free(lg[1]); free(lg[2]); free(mel);
    }
}

static void test_breaks(void)
{
    static const struct { const char *kind; int wdt; const char *want; } k[] = {
        {"version", CT_F16, "binary version 7"}, {"spec", CT_F16, "not a WhisperSpec"}, {"nbytes", CT_F32, "claims"},
        {"dtype", CT_I8, "unknown data type 9"}, {"no-scale", CT_I8, "has no 'encoder/conv1/weight_scale'"},
        {"zero-scale", CT_I8, "must be finite and > 0"}, {"nan-scale", CT_I8, "must be finite and > 0"},
        {"scale-shape", CT_I8, "_scale' is [7]"}, {"unknown-var", CT_F16, "unknown variable 'decoder/bogus'"},
        {"dup-var", CT_F16, "duplicate variable 'decoder/alibi'"}, {"shape", CT_F16, "'encoder/conv2/bias' has shape [9], expected [8]"},
        {"alias", CT_F16, "unsupported alias"}, {"trailing", CT_F16, "unexpected bytes after the aliases"},
        {"activation", CT_F16, "'decoder/activation' is 1"}, {"vocab-special", CT_F16, "is not <|startoftranscript|>"},
        {"vocab-char", CT_F16, "token 1000 is not byte-level BPE"}, {"vocab-count", CT_F16, "vocabulary has 51864 tokens, the model 51865"},
        {"lang-ids", CT_F16, "lang_ids[3]"}, {"suppress", CT_F16, "suppress_ids_begin[1]"}, {"preproc", CT_F16, "hop_length is not 160"},
    };
    wh_model *g = mk_ggml("--type f16 --n-state 8 --n-head 2 --n-audio-layer 1 --n-text-layer 1 --n-audio-ctx 8 --n-text-ctx 8", "small.bin");
    if (!g) { TEST("malformed CTranslate2 models") CHECK(g != NULL); return; }
    char dir[512], err[512], name[160];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        snprintf(name, sizeof name, "malformed CTranslate2 model (%s): fails naming the problem", k[i].kind);
        TEST(name) {
            snprintf(dir, sizeof dir, "%s/brk-%s", g_tmp, k[i].kind);
            CHECK(write_dir(g, dir, k[i].wdt, CT_F32, k[i].kind) == 0);
            err[0] = 0;
            CHECKF(fails_with(dir, k[i].want, err, sizeof err), "got '%s', want '%s'", err, k[i].want);
        }
    }
    TEST("CTranslate2 directory: missing vocabulary or model.bin; model.bin path loads like its directory") {
        snprintf(dir, sizeof dir, "%s/ok-small", g_tmp);
        CHECK(write_dir(g, dir, CT_I8, CT_F32, NULL) == 0);
        char p[600];
        wh_model *m = NULL;
        snprintf(p, sizeof p, "%s/model.bin", dir);
        CHECKF(wh_model_load(p, &m, err, sizeof err) == SP_OK && m->hp.n_audio_state == 8, "%s", err);
        wh_model_free(m);
        snprintf(p, sizeof p, "%s/vocabulary.txt", dir);
        unlink(p);
        CHECKF(fails_with(dir, "no vocabulary", err, sizeof err), "%s", err);
        CHECKF(fails_with(g_tmp, "without model.bin", err, sizeof err), "%s", err);
    }
    TEST("truncated CTranslate2 model.bin: every cut fails cleanly (no read past the end under ASan)") {
        CHECK(write_dir(g, dir, CT_I8, CT_F32, NULL) == 0);
        char p[600];
        size_t n, vn;
        snprintf(p, sizeof p, "%s/model.bin", dir);
        uint8_t *bin = slurp(p, &n);
        snprintf(p, sizeof p, "%s/vocabulary.txt", dir);
        uint8_t *voc = slurp(p, &vn);
        wh_ct2_side side = {.vocab = (const char *)voc, .vocab_len = vn};
        int bad = 0, tried = 0;
        for (size_t cut = 0; bin && voc && cut < n; cut += cut < 4096 ? 1 : 1 + n / 400) {
            uint8_t *b = malloc(cut ? cut : 1);
            memcpy(b, bin, cut);
            wh_model *m = NULL;
            bad += wh_model_load_ct2_mem(b, cut, &side, &m, err, sizeof err) == SP_OK;
            wh_model_free(m);
            free(b);
            tried++;
        }
        wh_model *m = NULL;
        CHECKF(bin && wh_model_load_ct2_mem(bin, n, &side, &m, err, sizeof err) == SP_OK, "%s", err);
        wh_model_free(m);
        CHECKF(bad == 0 && tried > 4000, "%d of %d truncations loaded", bad, tried);
        free(bin);
        free(voc);
    }
    wh_model_free(g);
}

static void test_i8r_kernels(void)
{
    TEST("WH_I8R rows: AVX2 bit-identical to the scalar reference; GEMM (both ISAs) matches the reference GEMM") {
        const int N = 37, K = 300, M = 9;
        const size_t rb = wh_row_bytes(WH_I8R, K);
        CHECK(rb == 4 + (size_t)K);
        uint8_t *W = malloc((size_t)N * rb);
        uint64_t r = 12345;
        for (int n = 0; n < N; n++) {
            float s = 127.0f / (0.01f + (float)n * 0.37f);
            memcpy(W + (size_t)n * rb, &s, 4);
            for (int k = 0; k < K; k++) { r = r * 6364136223846793005ull + 1442695040888963407ull; W[(size_t)n * rb + 4 + k] = (uint8_t)(r >> 56); }
        }
        float a[300], b[300];
        int diff = 0;
        for (int n = 0; n < N; n++) {
            const uint8_t *row = W + (size_t)n * rb;
            for (int k = 0; k < K; k++) {   /* element values: q / scale exactly */
                float s;
                memcpy(&s, row, 4);
                wh_dequant_row_ref(WH_I8R, row, a, k, 1);
                diff += memcmp(&a[0], &(float){(float)(int8_t)row[4 + k] / s}, 4) != 0;
            }
            if (wh_kernels_isa() >= WH_ISA_AVX2) {
                wh_dequant_row_ref(WH_I8R, row, a, 5, K - 11);
                wh_i8r_row_avx2(row, b, 5, K - 11);
                diff += memcmp(a, b, (size_t)(K - 11) * sizeof(float)) != 0;
            }
        }
        CHECKF(diff == 0, "%d rows differ", diff);
        float *A = malloc((size_t)M * K * sizeof(float)), *C = malloc((size_t)M * N * sizeof(float)), *R = malloc((size_t)M * N * sizeof(float));
        for (int i = 0; i < M * K; i++) A[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
        wh_wmat w = {W, WH_I8R, K, rb};
        /* the GEMM packs its panels here with aligned loads: 64-byte aligned, as wh_exec's */
        float *scratch = aligned_alloc(64, (wh_gemm_scratch_floats(K) * sizeof(float) + 63) & ~(size_t)63);
        wh_gemm_ref(M, K, A, K, &w, 0, N, NULL, R, N);
        /* each output's error against Σ_k |a·w|, what an f32 sum in another order can
         * differ by (the register GEMV divides each sum by the row's scale once, the
         * reference every weight); one wrong element would be about 1/K of it */
        double *mag = calloc((size_t)M * N, sizeof(double));
        for (int n = 0; n < N; n++) {
            wh_dequant_row_ref(WH_I8R, W + (size_t)n * rb, a, 0, K);
            for (int m = 0; m < M; m++)
                for (int k = 0; k < K; k++) mag[(size_t)m * N + n] += fabs((double)A[(size_t)m * K + k] * a[k]);
        }
        const wh_isa isas[3] = {WH_ISA_SCALAR, WH_ISA_AVX2, WH_ISA_AVX512};
        for (int ii = 0; ii <= (int)wh_kernels_best(); ii++) {
            wh_kernels_force(isas[ii]);
            for (int mm = 1; mm <= M; mm += M - 1) {   /* the GEMV path (M < 8) and the packed one */
                wh_gemm_part(mm, K, A, K, &w, 0, N, NULL, C, N, 0, scratch);
                double worst = 0;
                for (int i = 0; i < mm * N; i++) worst = fmax(worst, fabs((double)C[i] - R[i]) / (1e-6 + mag[i]));
                CHECKF(worst < 1e-6, "%s M=%d: error %g of sum |a w|", wh_isa_name(isas[ii]), mm, worst);
            }
        }
        free(mag);
        wh_kernels_force(wh_kernels_best());   /* back to the best the CPU has */
        free(A); free(C); free(R); free(W); free(scratch);
    }
}

/* The header of a ggml file: its filterbank and its vocabulary (the shared header-only files). */
typedef struct { int n_mel; float *filters; int n_tok; char **tok; uint32_t *len; uint8_t *raw; } ggml_head;

static int read_head(const char *path, ggml_head *h)
{
    size_t n, p = 4 + 11 * 4;
    memset(h, 0, sizeof *h);
    if (!(h->raw = slurp(path, &n)) || n < p + 8) return -1;
    int32_t nm, nf, nt;
    memcpy(&nm, h->raw + p, 4);
    memcpy(&nf, h->raw + p + 4, 4);
    p += 8;
    if (nf != 201 || nm < 1 || p + (size_t)nm * 201 * 4 + 4 > n) return -1;
    h->n_mel = nm;
    h->filters = (float *)malloc((size_t)nm * 201 * 4);
    memcpy(h->filters, h->raw + p, (size_t)nm * 201 * 4);
    p += (size_t)nm * 201 * 4;
    memcpy(&nt, h->raw + p, 4);
    p += 4;
    h->tok = calloc((size_t)nt, sizeof *h->tok);
    h->len = calloc((size_t)nt, sizeof *h->len);
    for (h->n_tok = 0; h->n_tok < nt && p + 4 <= n; h->n_tok++) {
        memcpy(&h->len[h->n_tok], h->raw + p, 4);
        h->tok[h->n_tok] = (char *)h->raw + p + 4;
        p += 4 + h->len[h->n_tok];
    }
    return h->n_tok == nt && p <= n ? 0 : -1;
}

static void free_head(ggml_head *h) { free(h->raw); free(h->filters); free(h->tok); free(h->len); }

static void test_real_data(void)
{
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    char path[1024], err[512];
    ggml_head h;
    snprintf(path, sizeof path, "%s/data/for-tests-ggml-base.en.bin", shared);
    if (read_head(path, &h) != 0) {
        printf("ok - computed mel filterbank vs openai's # SKIP %s absent\n", path);
        free_head(&h);
        return;
    }
    TEST("computed 80-mel filterbank equals openai's mel_filters.npz (from the real ggml header) to 1e-7") {
        float *f = wh_mel_filters_new(80);
        double worst = 0;
        for (int i = 0; f && i < 80 * 201; i++) worst = fmax(worst, fabs((double)f[i] - h.filters[i]));
        CHECKF(f && h.n_mel == 80 && worst <= 1e-7, "worst difference %g", worst);
        free(f);
    }
    const char *wd = getenv("SS_WEIGHTS") ? getenv("SS_WEIGHTS") : ".cache/weights";
    snprintf(path, sizeof path, "%s/tiny.en", wd);
    wh_model *m = NULL;
    if (wh_model_load(path, &m, err, sizeof err) != SP_OK) {
        printf("ok - real tiny.en vocabulary vs the real ggml vocabulary # SKIP %s\n", err);
    } else {
        TEST("real faster-whisper tiny.en: its vocabulary.txt decodes to the ggml vocabulary's bytes") {
            int cmp = 0, bad = 0;
            CHECK(m->n_tokens == h.n_tok && m->hp.n_vocab == 51864);
            for (int i = 0; i < m->n_tokens && i < h.n_tok; i++) {
                /* the ggml converter stored undecodable byte fragments as U+FFFD: skip those */
                if (memmem(h.tok[i], h.len[i], "\xef\xbf\xbd", 3)) continue;
                cmp++;
                bad += m->vocab[i].len != h.len[i] || memcmp(m->vocab[i].bytes, h.tok[i], h.len[i]);
            }
            CHECKF(bad == 0 && cmp > 49000, "%d of %d tokens differ", bad, cmp);
            CHECK(!strcmp(wh_model_size_name(&m->hp), "tiny.en"));
        }
    }
    wh_model_free(m);
    free_head(&h);
}


/* ------------------------------------------------------------------ Transformers (safetensors) */

typedef struct { buf hdr, data; int first; } st_file;

static void st_put(st_file *f, const char *name, const wh_tensor *t, int64_t rows, int64_t k, int rank, int64_t d1, int64_t d2, int dtype)
{
    const wh_tensor *one[1] = {t};
    float *x = rows_of(one, 1, rows, k);
    size_t nel = (size_t)(rows * k);
    const size_t b0 = f->data.n;
    if (is_brk("st-shape") && !strcmp(name, "model.encoder.layers.0.fc1.bias")) nel /= 2;   /* consistent, too short */
    if (dtype == CT_F16) for (size_t i = 0; i < nel; i++) { uint16_t h = wh_f32_to_f16(x[i]); put(&f->data, &h, 2); }
    else put(&f->data, x, nel * 4);
    free(x);
    char e[512];
    const char *dt = is_brk("st-bf16") && !strcmp(name, "model.encoder.conv1.bias") ? "BF16" : dtype == CT_F16 ? "F16" : "F32";
    size_t end = f->data.n + (is_brk("st-offsets") && !strcmp(name, "model.decoder.layer_norm.bias") ? 1000000 : 0);
    int64_t d0 = rank == 1 ? rows * k : rows;
    if (is_brk("st-shape") && !strcmp(name, "model.encoder.layers.0.fc1.bias")) d0 /= 2;
    int o = snprintf(e, sizeof e, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%lld", f->first ? "" : ", ", name, dt, (long long)d0);
    if (rank > 1) o += snprintf(e + o, sizeof e - (size_t)o, ", %lld", (long long)d1);
    if (rank > 2) o += snprintf(e + o, sizeof e - (size_t)o, ", %lld", (long long)d2);
    snprintf(e + o, sizeof e - (size_t)o, "], \"data_offsets\": [%zu, %zu]}", b0, end);
    put(&f->hdr, e, strlen(e));
    f->first = 0;
}

static void st_attn(st_file *f, const char *pre, const wh_attn *a, int64_t n, int wdt)
{
    char nm[160];
#define P(leaf, t, rows, k, rank, d1, dt) do { snprintf(nm, sizeof nm, "%s.%s", pre, leaf); st_put(f, nm, t, rows, k, rank, d1, 0, dt); } while (0)
    P("q_proj.weight", &a->q_w, n, n, 2, n, wdt); P("q_proj.bias", &a->q_b, 1, n, 1, 0, CT_F32);
    if (!is_brk("st-missing")) P("k_proj.weight", &a->k_w, n, n, 2, n, wdt);
    P("v_proj.weight", &a->v_w, n, n, 2, n, wdt); P("v_proj.bias", &a->v_b, 1, n, 1, 0, CT_F32);
    P("out_proj.weight", &a->o_w, n, n, 2, n, wdt); P("out_proj.bias", &a->o_b, 1, n, 1, 0, CT_F32);
}

static void st_ln(st_file *f, const char *pre, const wh_tensor *w, const wh_tensor *b, int64_t n)
{
    char nm[160];
    P("weight", w, 1, n, 1, 0, CT_F32);
    P("bias", b, 1, n, 1, 0, CT_F32);
}

static void st_layer(st_file *f, const wh_layer *L, const char *side, int l, int64_t n, int dec, int wdt)
{
    char pre[96], p2[128], nm[160];
    snprintf(pre, sizeof pre, "model.%s.layers.%d", side, l);
    snprintf(p2, sizeof p2, "%s.self_attn", pre);
    st_attn(f, p2, &L->attn, n, wdt);
    snprintf(p2, sizeof p2, "%s.self_attn_layer_norm", pre);
    st_ln(f, p2, &L->attn_ln_w, &L->attn_ln_b, n);
    if (dec) {
        snprintf(p2, sizeof p2, "%s.encoder_attn", pre);
        st_attn(f, p2, &L->cross, n, wdt);
        snprintf(p2, sizeof p2, "%s.encoder_attn_layer_norm", pre);
        st_ln(f, p2, &L->cross_ln_w, &L->cross_ln_b, n);
    }
    P("fc1.weight", &L->mlp0_w, 4 * n, n, 2, n, wdt); P("fc1.bias", &L->mlp0_b, 1, 4 * n, 1, 0, CT_F32);
    P("fc2.weight", &L->mlp2_w, n, 4 * n, 2, 4 * n, wdt); P("fc2.bias", &L->mlp2_b, 1, n, 1, 0, CT_F32);
#undef P
    snprintf(p2, sizeof p2, "%s.final_layer_norm", pre);
    st_ln(f, p2, &L->mlp_ln_w, &L->mlp_ln_b, n);
}
#undef P

static void put_json_str(buf *b, const char *s, uint32_t len, int gpt2)
{
    buf t = {0};
    if (gpt2) put_gpt2(&t, s, len); else put(&t, s, len);
    put(b, "\"", 1);
    for (size_t i = 0; i < t.n; i++) {
        if (t.b[i] == '"' || t.b[i] == '\\') put(b, "\\", 1);
        put(b, &t.b[i], 1);
    }
    put(b, "\"", 1);
    free(t.b);
}

/* A Transformers directory for m: model.safetensors (weights as wdt), config.json, vocab.json, added_tokens.json. */
static int write_hf(const wh_model *m, const char *dir, int wdt, const char *kind)
{
    const wh_hparams *hp = &m->hp;
    const int64_t n = hp->n_audio_state;
    st_file f = {{0}, {0}, 1};
    g_brk = kind ? kind : "";
    put(&f.hdr, "{", 1);
    st_put(&f, "model.encoder.conv1.weight", &m->conv1_w, n, 3 * hp->n_mels, 3, hp->n_mels, 3, wdt);
    st_put(&f, "model.encoder.conv1.bias", &m->conv1_b, 1, n, 1, 0, 0, CT_F32);
    st_put(&f, "model.encoder.conv2.weight", &m->conv2_w, n, 3 * n, 3, n, 3, wdt);
    st_put(&f, "model.encoder.conv2.bias", &m->conv2_b, 1, n, 1, 0, 0, CT_F32);
    st_put(&f, "model.encoder.embed_positions.weight", &m->e_pe, hp->n_audio_ctx, n, 2, n, 0, CT_F32);
    st_ln(&f, "model.encoder.layer_norm", &m->e_ln_w, &m->e_ln_b, n);
    st_put(&f, "model.decoder.embed_tokens.weight", &m->tok_emb, hp->n_vocab, n, 2, n, 0, wdt);
    st_put(&f, "model.decoder.embed_positions.weight", &m->d_pe, hp->n_text_ctx, n, 2, n, 0, CT_F32);
    st_ln(&f, "model.decoder.layer_norm", &m->d_ln_w, &m->d_ln_b, n);
    for (int l = 0; l < hp->n_audio_layer; l++) st_layer(&f, &m->enc[l], "encoder", l, n, 0, wdt);
    for (int l = 0; l < hp->n_text_layer; l++) st_layer(&f, &m->dec[l], "decoder", l, n, 1, wdt);
    /* proj_out: tied, so the embedding's bytes again (an untied one is refused) */
    st_put(&f, "proj_out.weight", &m->tok_emb, hp->n_vocab, n, 2, n, 0, is_brk("st-untied") ? (wdt == CT_F16 ? CT_F32 : CT_F16) : wdt);
    const char *meta = ", \"__metadata__\": {\"format\": \"pt\"}}";
    put(&f.hdr, meta, strlen(meta));
    buf st = {0};
    uint64_t hl = f.hdr.n;
    put(&st, &hl, 8);
    put(&st, f.hdr.b, f.hdr.n);
    put(&st, f.data.b, f.data.n);
    char p[512], cfg[1024], vs[48];
    snprintf(vs, sizeof vs, ", \"vocab_size\": %d", hp->n_vocab);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    int rc = write_file(p, st.b, st.n);
    snprintf(cfg, sizeof cfg, "{\"model_type\": \"whisper\", \"d_model\": %d, \"encoder_layers\": %d, \"decoder_layers\": %d, "
             "\"encoder_attention_heads\": %d, \"decoder_attention_heads\": %d, \"num_mel_bins\": %d, \"max_source_positions\": %d, "
             "\"max_target_positions\": %d%s}", hp->n_audio_state, hp->n_audio_layer, hp->n_text_layer, hp->n_audio_head, hp->n_text_head,
             hp->n_mels, hp->n_audio_ctx, hp->n_text_ctx, is_brk("st-config") ? "" : vs);
    snprintf(p, sizeof p, "%s/config.json", dir);
    rc |= write_file(p, cfg, strlen(cfg));
    buf v = {0}, a = {0};
    put(&v, "{", 1);
    const int eot = m->sp.eot;
    for (int i = 0; i <= eot; i++) {
        char id[32];
        if (i && !(is_brk("st-vocab-gap") && i == 500)) put(&v, ", ", 2);
        if (is_brk("st-vocab-gap") && i == 500) continue;
        if (i < eot) put_json_str(&v, m->vocab[i].bytes, m->vocab[i].len, 1);
        else put_json_str(&v, "<|endoftext|>", 13, 0);
        snprintf(id, sizeof id, ": %d", i);
        put(&v, id, strlen(id));
    }
    put(&v, "}", 1);
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    rc |= write_file(p, v.b, v.n);
    snprintf(cfg, sizeof cfg, "{\"<|endoftext|>\": %d, \"<|startoftranscript|>\": %d, \"<|en|>\": %d, \"<|transcribe|>\": %d, \"<|0.00|>\": %d}",
             eot, m->sp.sot, m->sp.lang_first, m->sp.transcribe, m->sp.timestamp_begin);
    put(&a, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/added_tokens.json", dir);
    rc |= write_file(p, a.b, a.n);
    free(st.b); free(f.hdr.b); free(f.data.b); free(v.b); free(a.b);
    g_brk = "";
    return rc;
}

/* The heads wh_align_new picks for the model at path (opened as a context); returns the
 * count, -1 when it cannot be opened. */
static int align_heads_of(const char *path, int *hl, int *hh, int cap)
{
    sp_context *c = NULL;
    sp_context_params cp = sp_context_default_params();
    cp.device = "cpu";
    cp.n_threads = 1;
    cp.skip_self_check = 1;
    char err[512];
    if (sp_context_open(path, &cp, &c, err, sizeof err) != SP_OK) { fprintf(stderr, "  %s\n", err); return -1; }
    wh_align *a = NULL;
    int n = -1;
    if (wh_align_new(c, 0, &a) == SP_OK) {
        const int *l, *h;
        n = wh_align_heads(a, &l, &h);
        for (int i = 0; i < n && i < cap; i++) { hl[i] = l[i]; hh[i] = h[i]; }
    }
    wh_align_free(a);
    sp_context_free(c);
    return n;
}

static void test_config_align_heads(void)
{
    TEST("alignment heads: the model's config.json / generation_config.json ones are used, else the default") {
        /* micro: 3 decoder layers x 2 heads, no table entry: the default is layer 1..2 (the
         * last half, 3 / 2 = 1), every head: 4 heads. Before, a config's heads were checked
         * and ignored, so a CTranslate2 copy aligned on those 4 too. */
        char dir[512], p[600], err[512] = "";
        int hl[16], hh[16];
        wh_model *g = mk_ggml("--type f16", "ah-f16.bin");
        CHECK(g != NULL);
        if (!g) break;
        snprintf(p, sizeof p, "%s/ah-f16.bin", g_tmp);
        int n = align_heads_of(p, hl, hh, 16);
        CHECKF(n == 4 && hl[0] == 1 && hh[0] == 0 && hl[3] == 2 && hh[3] == 1, "ggml: %d heads", n);
        snprintf(dir, sizeof dir, "%s/ct2-ah", g_tmp);   /* its config.json: [[0, 1]] */
        CHECK(write_dir(g, dir, CT_F16, CT_F32, NULL) == 0);
        n = align_heads_of(dir, hl, hh, 16);
        CHECKF(n == 1 && hl[0] == 0 && hh[0] == 1, "CTranslate2: %d heads, first (%d, %d)", n, hl[0], hh[0]);
        /* Transformers: generation_config.json, a duplicate kept once */
        snprintf(dir, sizeof dir, "%s/hf-ah", g_tmp);
        CHECK(write_hf(g, dir, CT_F16, NULL) == 0);
        snprintf(p, sizeof p, "%s/generation_config.json", dir);
        const char *gen = "{\"alignment_heads\": [[2, 0], [0, 1], [2, 0]], \"max_length\": 448}";
        CHECK(write_file(p, gen, strlen(gen)) == 0);
        n = align_heads_of(dir, hl, hh, 16);
        CHECKF(n == 2 && hl[0] == 2 && hh[0] == 0 && hl[1] == 0 && hh[1] == 1, "Transformers: %d heads", n);
        /* one that is not a head of this model is refused, naming the file */
        gen = "{\"alignment_heads\": [[3, 0]]}";
        CHECK(write_file(p, gen, strlen(gen)) == 0);
        CHECKF(fails_with(dir, "generation_config.json alignment_heads[0] is not a [layer, head] pair", err, sizeof err), "%s", err);
        wh_model_free(g);
        /* the selection itself: config first, then openai's table, then the default */
        const uint16_t cfg[2][2] = {{3, 5}, {1, 0}};
        CHECK(wh_align_select_heads("tiny.en", 4, 6, cfg, 2, hl, hh) == 2 && hl[0] == 3 && hh[0] == 5);
        CHECK(wh_align_select_heads("tiny.en", 4, 6, NULL, 0, hl, hh) == 8 && hl[0] == 1 && hh[0] == 0);
        CHECK(wh_align_select_heads("custom", 4, 6, NULL, 0, hl, hh) == 12 && hl[0] == 2);
    }
}

static void test_hf(void)
{
    char dir[512], err[512] = "", what[160] = "", name[200];
    static const struct { const char *args, *file; int wdt; } v[] = {
        {"--type f32", "hf-f32.bin", CT_F32}, {"--type f16", "hf-f16.bin", CT_F16}, {"--type f16 --n-vocab 51864", "hf-en.bin", CT_F16},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(name, sizeof name, "Transformers safetensors (%s weights, %s): every tensor equals the ggml loader's",
                 v[i].wdt == CT_F32 ? "F32" : "F16", v[i].file);
        TEST(name) {
            wh_model *g = mk_ggml(v[i].args, v[i].file), *c = NULL;
            CHECK(g != NULL);
            if (!g) break;
            snprintf(dir, sizeof dir, "%s/hf-%zu", g_tmp, i);
            CHECK(write_hf(g, dir, v[i].wdt, NULL) == 0);
            CHECKF(wh_model_load(dir, &c, err, sizeof err) == SP_OK, "%s", err);
            if (c) {
                CHECK(!memcmp(&g->hp, &c->hp, offsetof(wh_hparams, ftype)) && c->format == WH_FMT_HF);
                CHECK(!memcmp(&g->sp, &c->sp, sizeof g->sp) && c->n_tokens == g->n_tokens);
                int vbad = 0;
                for (int t = 0; t < g->sp.eot; t++)
                    vbad += g->vocab[t].len != c->vocab[t].len || memcmp(g->vocab[t].bytes, c->vocab[t].bytes, g->vocab[t].len);
                CHECKF(vbad == 0, "%d tokens differ", vbad);
                CHECKF(compare_models(g, c, v[i].wdt, CT_F32, what, sizeof what) == 0, "%s", what);
            }
            wh_model_free(c);
            wh_model_free(g);
        }
    }
    TEST("Transformers: the engine gives the ggml file's transcript; model.safetensors path loads like its directory") {
        char cmd[4096], a[300], b[300], p[700];
        snprintf(dir, sizeof dir, "%s/hf-1", g_tmp);
        snprintf(a, sizeof a, "%s/ha.json", g_tmp);
        snprintf(b, sizeof b, "%s/hb.json", g_tmp);
        const char *opt = "--language en --beam-size 2 --temperature 0 --threads 2 -f json tests/data/speech-16k.wav";
        snprintf(cmd, sizeof cmd, "%s/transcribe --model %s/hf-f16.bin %s >%s 2>/dev/null && %s/transcribe --model %s/model.safetensors %s >%s 2>/dev/null && cmp -s %s %s",
                 bin_dir(), g_tmp, opt, a, bin_dir(), dir, opt, b, a, b);
        CHECKF(system(cmd) == 0, "%s", cmd);
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        wh_model *m = NULL;
        CHECKF(wh_model_load(p, &m, err, sizeof err) == SP_OK, "%s", err);
        wh_model_free(m);
    }
    static const struct { const char *kind, *want; } k[] = {
        {"st-bf16", "dtype BF16"}, {"st-offsets", "outside the"}, {"st-shape", "fc1.bias' has shape [16], expected [32]"},
        {"st-missing", "missing variable 'model.encoder.layers.0.self_attn.k_proj.weight'"}, {"st-untied", "differs from the token embedding"},
        {"st-config", "vocab_size is missing"}, {"st-vocab-gap", "no token 500"},
    };
    wh_model *g = mk_ggml("--type f16 --n-state 8 --n-head 2 --n-audio-layer 1 --n-text-layer 1 --n-audio-ctx 8 --n-text-ctx 8", "hfs.bin");
    for (size_t i = 0; g && i < sizeof k / sizeof k[0]; i++) {
        snprintf(name, sizeof name, "malformed Transformers model (%s): fails naming the problem", k[i].kind);
        TEST(name) {
            snprintf(dir, sizeof dir, "%s/hbrk-%s", g_tmp, k[i].kind);
            CHECK(write_hf(g, dir, CT_F16, k[i].kind) == 0);
            CHECKF(fails_with(dir, k[i].want, err, sizeof err), "got '%s', want '%s'", err, k[i].want);
        }
    }
    TEST("truncated model.safetensors: every cut fails cleanly") {
        char p[700];
        size_t n, cn, vn;
        snprintf(dir, sizeof dir, "%s/hf-small", g_tmp);
        CHECK(g && write_hf(g, dir, CT_F16, NULL) == 0);
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        uint8_t *st = slurp(p, &n);
        snprintf(p, sizeof p, "%s/config.json", dir);
        uint8_t *cfg = slurp(p, &cn);
        snprintf(p, sizeof p, "%s/vocab.json", dir);
        uint8_t *voc = slurp(p, &vn);
        int bad = 0, tried = 0;
        for (size_t cut = 0; st && cut < n; cut += cut < 6000 ? 7 : 1 + n / 300) {
            uint8_t *b = malloc(cut ? cut : 1);
            memcpy(b, st, cut);
            wh_model *m = NULL;
            bad += wh_model_load_st_mem(b, cut, (char *)cfg, cn, (char *)voc, vn, &m, err, sizeof err) == SP_OK;
            wh_model_free(m);
            free(b);
            tried++;
        }
        wh_model *m = NULL;
        CHECKF(st && wh_model_load_st_mem(st, n, (char *)cfg, cn, (char *)voc, vn, &m, err, sizeof err) == SP_OK, "%s", err);
        wh_model_free(m);
        CHECKF(bad == 0 && tried > 500, "%d of %d truncations loaded", bad, tried);
        free(st); free(cfg); free(voc);
    }
    TEST("a sharded Transformers checkpoint is named as such, with how to make it loadable") {
        char p[700];
        snprintf(dir, sizeof dir, "%s/hf-sharded", g_tmp);
        CHECK(mkdir(dir, 0700) == 0);
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        FILE *f = fopen(p, "w");
        if (f) { fputs("{\"weight_map\": {}}", f); fclose(f); }
        wh_model *m = NULL;
        CHECK(wh_model_load(dir, &m, err, sizeof err) == SP_ERR_UNSUPPORTED && !m);
        CHECKF(strstr(err, "sharded Transformers checkpoint") && strstr(err, "one model.safetensors"), "%s", err);
    }
    wh_model_free(g);
}

static void test_resolve(void)
{
    TEST("model names resolve through models/ and the Hugging Face cache; unknown ones say where they looked") {
        char hub[300], snap[1200], p[900], err[1024] = "";
        wh_model *g = mk_ggml("--type f16 --n-state 8 --n-head 2 --n-audio-layer 1 --n-text-layer 1 --n-audio-ctx 8 --n-text-ctx 8", "name.bin");
        CHECK(g != NULL);
        if (!g) break;
        snprintf(hub, sizeof hub, "%s/hub", g_tmp);
        snprintf(p, sizeof p, "%s/models--Systran--faster-whisper-base", hub);
        mkdir(hub, 0755);
        mkdir(p, 0755);
        snprintf(snap, sizeof snap, "%s/snapshots", p);
        mkdir(snap, 0755);
        snprintf(snap, sizeof snap, "%s/snapshots/0123abcd", p);
        CHECK(write_dir(g, snap, CT_F16, CT_F32, NULL) == 0);
        setenv("HF_HUB_CACHE", hub, 1);
        setenv("SPEECH_SESSION_MODELS", g_tmp, 1);
        wh_model *m = NULL;
        /* no refs/main: any snapshot with a model.bin */
        CHECKF(wh_model_load("base", &m, err, sizeof err) == SP_OK && m->hp.n_audio_state == 8, "%s", err);
        wh_model_free(m);
        m = NULL;
        char out[1024];
        CHECK(wh_model_resolve("base", out, sizeof out, err, sizeof err) == SP_OK && !strcmp(out, snap));
        /* the variable's older name, as huggingface_hub still reads it (after HF_HUB_CACHE) */
        unsetenv("HF_HUB_CACHE");
        setenv("HUGGINGFACE_HUB_CACHE", hub, 1);
        CHECK(wh_model_resolve("base", out, sizeof out, err, sizeof err) == SP_OK && !strcmp(out, snap));
        setenv("HF_HUB_CACHE", "/nonexistent-hub", 1);
        CHECK(wh_model_resolve("base", out, sizeof out, err, sizeof err) == SP_ERR_IO);
        unsetenv("HUGGINGFACE_HUB_CACHE");
        setenv("HF_HUB_CACHE", hub, 1);
        /* models/ggml-NAME.bin comes first */
        snprintf(p, sizeof p, "cp %s/name.bin %s/ggml-base.bin", g_tmp, g_tmp);
        CHECK(system(p) == 0);
        snprintf(p, sizeof p, "%s/ggml-base.bin", g_tmp);
        CHECK(wh_model_resolve("base", out, sizeof out, err, sizeof err) == SP_OK && !strcmp(out, p));
        CHECKF(wh_model_load("base", &m, err, sizeof err) == SP_OK && m->format == WH_FMT_GGML, "%s", err);
        wh_model_free(m);
        m = NULL;
        CHECK(wh_model_load("large-v3", &m, err, sizeof err) == SP_ERR_IO && !m && strstr(err, "Systran/faster-whisper-large-v3") &&
              strstr(err, "get-model.sh large-v3") && strstr(err, hub));
        CHECK(wh_model_load("no-such-model", &m, err, sizeof err) == SP_ERR_IO && !m);
        CHECK(wh_model_is_name("distil-large-v3") && wh_model_is_name("turbo") && !wh_model_is_name("base.bin"));
        /* cache roots and model directories near and past the path buffers: a root of 2040-2047
         * characters had written past the snapshot lookup's buffer (ASan: stack-buffer-overflow);
         * now each is looked up whole or not at all, and a root too long is said so */
        static char longp[5000];
        const int lens[6] = {2030, 2040, 2046, 2047, 2048, 4500};
        unsetenv("SPEECH_SESSION_MODELS");
        for (int li = 0; li < 6; li++) {
            memset(longp, 0, sizeof longp);
            longp[0] = '/';
            memset(longp + 1, 'x', (size_t)lens[li] - 1);
            setenv("HF_HUB_CACHE", longp, 1);
            CHECK(wh_model_resolve("tiny.en", out, sizeof out, err, sizeof err) == SP_ERR_IO);
            if (lens[li] >= 2048) CHECKF(strstr(err, "its path is too long") != NULL, "%s", err);
            unsetenv("HF_HUB_CACHE");
            setenv("HF_HOME", longp, 1);   /* + "/hub" */
            CHECK(wh_model_resolve("tiny.en", out, sizeof out, err, sizeof err) == SP_ERR_IO);
            unsetenv("HF_HOME");
            setenv("SPEECH_SESSION_MODELS", longp, 1);
            setenv("HF_HUB_CACHE", hub, 1);
            CHECK(wh_model_resolve("tiny.en", out, sizeof out, err, sizeof err) == SP_ERR_IO);
            unsetenv("SPEECH_SESSION_MODELS");
        }
        unsetenv("HF_HUB_CACHE");
        unsetenv("SPEECH_SESSION_MODELS");
        wh_model_free(g);
    }
}

/* Seeds for fuzz/fuzz_ct2.c: a valid small int8 model and prefixes of it. */
static int write_corpus(const char *out)
{
    wh_model *g = mk_ggml("--type f16 --n-state 8 --n-head 2 --n-audio-layer 1 --n-text-layer 1 --n-audio-ctx 8 --n-text-ctx 8", "seed.bin");
    char dir[512], p[1400];
    if (!g) return 1;
    snprintf(dir, sizeof dir, "%s/seed", g_tmp);
    const size_t keep[] = {(size_t)-1, 0, 8, 40, 200, 1000};
    int rc = write_dir(g, dir, CT_I8, CT_F16, NULL);
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        buf b = fuzz_input(dir, keep[i], keep[i] == (size_t)-1);
        if (keep[i] == (size_t)-1) snprintf(p, sizeof p, "%s/seed-valid-int8", out);
        else snprintf(p, sizeof p, "%s/seed-prefix-%zu", out, keep[i]);
        rc |= write_file(p, b.b, b.n);
        free(b.b);
    }
    /* Transformers seeds: [u32 config_len][config.json][u32 vocab_len][vocab.json][model.safetensors] */
    char st_out[1100];
    snprintf(st_out, sizeof st_out, "%s/../st", out);
    mkdir(st_out, 0755);
    snprintf(dir, sizeof dir, "%s/seed-hf", g_tmp);
    rc |= write_hf(g, dir, CT_F16, NULL);
    const size_t st_keep[] = {(size_t)-1, 0, 9, 300, 3000};
    for (size_t i = 0; i < sizeof st_keep / sizeof st_keep[0]; i++) {
        buf o = {0};
        const char *names[3] = {"config.json", "vocab.json", "model.safetensors"};
        for (int j = 0; j < 3; j++) {
            size_t n = 0;
            snprintf(p, sizeof p, "%s/%s", dir, names[j]);
            uint8_t *d = slurp(p, &n);
            const int side = st_keep[i] == (size_t)-1;   /* prefixes fail before the side files matter */
            if (j < 2) { put_u32(&o, side ? (uint32_t)n : 0); if (side) put(&o, d, n); }
            else put(&o, d, st_keep[i] < n ? st_keep[i] : n);
            free(d);
        }
        if (st_keep[i] == (size_t)-1) snprintf(p, sizeof p, "%s/seed-valid-f16", st_out);
        else snprintf(p, sizeof p, "%s/seed-prefix-%zu", st_out, st_keep[i]);
        rc |= write_file(p, o.b, o.n);
        free(o.b);
    }
    wh_model_free(g);
    return rc;
}

/* The audit's findings 1, 3, 6, 7 and 8 (docs: /work/notes/audit-model.md): a FIFO in a model
 * directory, a .safetensors file named beside a model.safetensors, a non-finite value in a
 * CTranslate2 variable, a variable count no Whisper model has in a sparse file, a CRLF
 * vocabulary, and a directory path whose "/model.bin" no longer fits a path buffer. */
/* a FIFO where a model file should be, for each file of both layouts */
static void fix_fifos(const wh_model *g)
{
    char dir[512], p[700], err[1024];
    static const struct { const char *fmt, *name; } fifos[] = {
        {"ct2", "config.json"}, {"ct2", "vocabulary.txt"}, {"ct2", "preprocessor_config.json"}, {"ct2", "model.bin"},
        {"hf", "vocab.json"}, {"hf", "added_tokens.json"}, {"hf", "model.safetensors"},
    };
    for (size_t i = 0; i < sizeof fifos / sizeof fifos[0]; i++) {
        char name[200];
        snprintf(name, sizeof name, "a FIFO as %s's %s is refused at once, not waited on", fifos[i].fmt, fifos[i].name);
        TEST(name) {
            snprintf(dir, sizeof dir, "%s/fifo-%zu", g_tmp, i);
            const int hf = !strcmp(fifos[i].fmt, "hf");
            CHECK((hf ? write_hf(g, dir, CT_F16, NULL) : write_dir(g, dir, CT_F16, CT_F32, NULL)) == 0);
            snprintf(p, sizeof p, "%s/%s", dir, fifos[i].name);
            unlink(p);
            CHECK(mkfifo(p, 0600) == 0);
            /* model.bin as a FIFO is found by access() but is no file: the directory path
             * must be refused the same way as the side files */
            alarm(20);   /* the old code blocked in open() until a writer came: die, not hang */
            CHECKF(fails_with(dir, "regular file", err, sizeof err), "%s", err);
            alarm(0);
        }
    }
}

/* a .safetensors path beside a model.safetensors */
static void fix_safetensors_path(const wh_model *g)
{
    char dir[512], p[700], q[700], err[1024];
    TEST("a .safetensors file path loads that file, not the model.safetensors beside it") {
        snprintf(dir, sizeof dir, "%s/hf-two", g_tmp);
        CHECK(write_hf(g, dir, CT_F16, NULL) == 0);
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        snprintf(q, sizeof q, "%s/model-fp16.safetensors", dir);
        CHECK(rename(p, q) == 0);
        size_t n;
        uint8_t *b = slurp(q, &n);
        CHECK(b && write_file(p, b, n / 2) == 0);   /* another checkpoint, here a broken one */
        wh_model *m = NULL;
        err[0] = 0;
        CHECKF(wh_model_load(q, &m, err, sizeof err) == SP_OK && m && m->file && !strcmp(m->file, q), "%s", err);
        wh_model_free(m);
        m = NULL;
        CHECK(write_file(q, b, n / 2) == 0);   /* and its errors name the file given */
        CHECKF(wh_model_load(q, &m, err, sizeof err) != SP_OK && strstr(err, "model-fp16.safetensors"), "%s", err);
        free(b);
    }
}

/* a non-finite value in a CTranslate2 variable */
static void fix_nonfinite(const wh_model *g)
{
    char dir[512], p[700], err[1024];
    TEST("a non-finite value in a CTranslate2 variable fails the load naming the variable") {
        snprintf(dir, sizeof dir, "%s/ct2-nan", g_tmp);
        CHECK(write_dir(g, dir, CT_F16, CT_F32, NULL) == 0);
        snprintf(p, sizeof p, "%s/model.bin", dir);
        size_t n;
        uint8_t *b = slurp(p, &n);
        const char *var = "decoder/layer_norm/gamma";
        uint8_t *h = b ? memmem(b, n, var, strlen(var) + 1) : NULL;
        CHECK(h != NULL);
        if (h) {
            /* name NUL, u8 rank 1, u32 dim, u8 dtype, u32 bytes: then the floats */
            const float nan = NAN;
            memcpy(h + strlen(var) + 1 + 10 + 4 * 2, &nan, 4);
            CHECK(write_file(p, b, n) == 0);
            CHECKF(fails_with(dir, "variable 'decoder/layer_norm/gamma' holds a non-finite value", err, sizeof err), "%s", err);
        }
        free(b);
    }
}

/* a variable count no Whisper model has, in a sparse file */
static void fix_sparse_count(const wh_model *g)
{
    char dir[512], p[700], err[1024];
    TEST("a variable count no Whisper model has is refused before its table is allocated (sparse file)") {
        snprintf(dir, sizeof dir, "%s/sparse", g_tmp);
        mkdir(dir, 0700);
        snprintf(p, sizeof p, "%s/model.bin", dir);
        buf b = {0};
        put_u32(&b, 6);
        put_str(&b, "WhisperSpec");
        put_u32(&b, 3);
        put_u32(&b, 200000);   /* 10 bytes a record: the file's apparent size allowed it */
        CHECK(write_file(p, b.b, b.n) == 0 && truncate(p, 4 << 20) == 0);
        CHECKF(fails_with(p, "variable count 200000 is more than a Whisper model has", err, sizeof err), "%s", err);
        free(b.b);
    }
}

/* a CRLF vocabulary */
static void fix_crlf(const wh_model *g)
{
    char dir[512], p[700], err[1024];
    TEST("a CRLF vocabulary.txt: the error suggests the line endings") {
        snprintf(dir, sizeof dir, "%s/crlf", g_tmp);
        CHECK(write_dir(g, dir, CT_F16, CT_F32, NULL) == 0);
        snprintf(p, sizeof p, "%s/vocabulary.txt", dir);
        size_t n;
        uint8_t *v = slurp(p, &n);
        buf o = {0};
        for (size_t i = 0; v && i < n; i++) {
            if (v[i] == '\n') put(&o, "\r", 1);
            put(&o, &v[i], 1);
        }
        CHECK(v && write_file(p, o.b, o.n) == 0);
        CHECKF(fails_with(dir, "CRLF line endings", err, sizeof err), "%s", err);
        free(v);
        free(o.b);
    }
}

/* a directory path whose "/model.bin" does not fit */
static void fix_long_path(const wh_model *g)
{
    char dir[512], p[700], q[700], err[1024];
    TEST("a directory path too long for '/model.bin' is refused, not cut short to another file") {
        /* g_tmp/lp holds a good model as "model.bi": what "<path>/model.bin" cut to 4095
         * bytes names. The path reaches lp through "/." steps. */
        snprintf(dir, sizeof dir, "%s/lp", g_tmp);
        CHECK(write_dir(g, dir, CT_F16, CT_F32, NULL) == 0);
        snprintf(p, sizeof p, "%s/model.bin", dir);
        snprintf(q, sizeof q, "%s/model.bi", dir);
        CHECK(rename(p, q) == 0);
        char *lp = malloc(4200);
        size_t k = (size_t)snprintf(lp, 4200, "%s", g_tmp);
        while (k + 3 < 4086 - 1) { memcpy(lp + k, "/.", 2); k += 2; }
        if (k + 3 < 4086) lp[k++] = '/';
        memcpy(lp + k, "/lp", 4);
        CHECK(strlen(lp) == 4086);   /* + "/model.bin" = 4096: one byte over the buffer */
        CHECKF(fails_with(lp, "too long", err, sizeof err), "%s", err);
        free(lp);
    }
}

static void test_load_fixes(void)
{
    wh_model *g = mk_ggml("--type f16 --n-state 8 --n-head 2 --n-audio-layer 1 --n-text-layer 1 --n-audio-ctx 8 --n-text-ctx 8", "fix.bin");
    if (!g) { TEST("load fixes") CHECK(g != NULL); return; }
    fix_fifos(g);
    fix_safetensors_path(g);
    fix_nonfinite(g);
    fix_sparse_count(g);
    fix_crlf(g);
    fix_long_path(g);
    wh_model_free(g);
}

int main(int argc, char **argv)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ss-ct2-test.XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    int rc = 0;
    if (argc == 3 && !strcmp(argv[1], "--write-corpus")) {
        rc = write_corpus(argv[2]);
    } else {
        test_equal();
        test_engine_same();
        test_i8r_compute_int8();
        test_breaks();
        test_i8r_kernels();
        test_real_data();
        test_resolve();
        test_hf();
        test_config_align_heads();
        test_load_fixes();
        rc = th_failed_total ? 1 : 0;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
