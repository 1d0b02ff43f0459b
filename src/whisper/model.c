/* model.c — maps a ggml Whisper model file and validates all of it before use.
 *
 * Follows docs/model-format.md (facts from whisper.cpp src/whisper.cpp: whisper_model_load).
 * Every read goes through a bounds-checked cursor, so a truncated or lying file produces
 * an error that names what is wrong and where, never a read past the end. Tensors are
 * borrowed views into the mapping; nothing is copied except the (possibly unaligned)
 * mel filterbank and the vocabulary index. */
#include "model.h"
#include "fp16.h"
#include "common/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WH_MAGIC 0x67676d6cu
/* snprintf that says whether the whole string fit (as model_resolve.c's) */
#define FITS(r, n) ((r) >= 0 && (size_t)(r) < (n))


/* ------------------------------------------------------------------ types */

size_t wh_type_block(int type)
{
    switch (type) {
    case WH_F32: case WH_F16: case WH_I8R: return 1;
    case WH_Q4_0: case WH_Q4_1: case WH_Q5_0: case WH_Q5_1: case WH_Q8_0: return 32;
    }
    return 0;
}

size_t wh_type_size(int type)
{
    switch (type) {
    case WH_F32: return 4;
    case WH_F16: return 2;
    case WH_Q4_0: return 18;
    case WH_Q4_1: return 20;
    case WH_Q5_0: return 22;
    case WH_Q5_1: return 24;
    case WH_Q8_0: return 34;
    case WH_I8R: return 1;   /* plus the 4-byte row scale: see wh_row_bytes */
    }
    return 0;
}

const char *wh_type_name(int type)
{
    switch (type) {
    case WH_F32: return "f32";
    case WH_F16: return "f16";
    case WH_Q4_0: return "q4_0";
    case WH_Q4_1: return "q4_1";
    case WH_Q5_0: return "q5_0";
    case WH_Q5_1: return "q5_1";
    case WH_Q8_0: return "q8_0";
    case WH_I8R: return "int8";
    }
    return "unknown";
}

size_t wh_row_bytes(int type, int64_t k)
{
    if (type == WH_I8R) return 4 + (size_t)k;
    return (size_t)k / wh_type_block(type) * wh_type_size(type);
}

static inline float rd_f16(const uint8_t *p) { return wh_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

void wh_dequant_row_ref(int type, const void *row, float *out, int64_t k0, int64_t n)
{
    const uint8_t *b = row;
    switch (type) {
    case WH_F32:
        memcpy(out, b + 4 * k0, (size_t)n * 4);
        return;
    case WH_F16: {   /* byte loads: rows may sit at any offset of the file */
        const uint8_t *h = b + 2 * k0;
        for (int64_t i = 0; i < n; i++) out[i] = wh_f16_to_f32((uint16_t)(h[2 * i] | h[2 * i + 1] << 8));
        return;
    }
    case WH_I8R: {   /* [f32 scale][int8 x K]: a division, as CTranslate2 dequantizes */
        float scale;
        memcpy(&scale, b, 4);
        const int8_t *q = (const int8_t *)(b + 4) + k0;
        for (int64_t i = 0; i < n; i++) out[i] = (float)q[i] / scale;
        return;
    }
    default: break;
    }
    const size_t bs = wh_type_size(type);
    for (int64_t blk = k0 / 32; blk < (k0 + n) / 32; blk++, out += 32) {
        const uint8_t *p = b + (size_t)blk * bs;
        const float d = rd_f16(p);
        switch (type) {
        case WH_Q8_0:
            for (int j = 0; j < 32; j++) out[j] = (float)(int8_t)p[2 + j] * d;
            break;
        case WH_Q4_0:
            for (int j = 0; j < 16; j++) {
                out[j] = (float)((p[2 + j] & 15) - 8) * d;
                out[j + 16] = (float)((p[2 + j] >> 4) - 8) * d;
            }
            break;
        case WH_Q4_1: {
            const float m = rd_f16(p + 2);
            for (int j = 0; j < 16; j++) {
                out[j] = (float)(p[4 + j] & 15) * d + m;
                out[j + 16] = (float)(p[4 + j] >> 4) * d + m;
            }
            break;
        }
        case WH_Q5_0: {
            const uint32_t qh = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
            for (int j = 0; j < 16; j++) {
                int lo = (p[6 + j] & 15) | (int)((qh >> j) & 1) << 4;
                int hi = (p[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                out[j] = (float)(lo - 16) * d;
                out[j + 16] = (float)(hi - 16) * d;
            }
            break;
        }
        case WH_Q5_1: {
            const float m = rd_f16(p + 2);
            const uint32_t qh = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
            for (int j = 0; j < 16; j++) {
                int lo = (p[8 + j] & 15) | (int)((qh >> j) & 1) << 4;
                int hi = (p[8 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                out[j] = (float)lo * d + m;
                out[j + 16] = (float)hi * d + m;
            }
            break;
        }
        }
    }
}

/* ------------------------------------------------------------------ cursor */

typedef struct {
    const uint8_t *base;
    size_t size, pos;
} cursor;

static int cur_i32(cursor *c, int32_t *v)
{
    if (c->size - c->pos < 4) return -1;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

/* ------------------------------------------------------------------ names */

const char *wh_model_size_name(const wh_hparams *hp)
{
    static const struct { int state, enc, dec, mels, vocab_kind; const char *name; } t[] = {
        /* vocab_kind: 0 = .en, 1 = multilingual v1/v2, 2 = v3 */
        {384, 4, 4, 80, 0, "tiny.en"}, {384, 4, 4, 80, 1, "tiny"},
        {512, 6, 6, 80, 0, "base.en"}, {512, 6, 6, 80, 1, "base"},
        {768, 12, 12, 80, 0, "small.en"}, {768, 12, 12, 80, 1, "small"},
        {1024, 24, 24, 80, 0, "medium.en"}, {1024, 24, 24, 80, 1, "medium"},
        {1280, 32, 32, 80, 1, "large-v2"}, {1280, 32, 32, 128, 2, "large-v3"},
        {1280, 32, 4, 128, 2, "large-v3-turbo"},
    };
    int kind = hp->n_vocab == 51864 ? 0 : hp->n_vocab == 51865 ? 1 : 2;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].state == hp->n_audio_state && t[i].enc == hp->n_audio_layer &&
            t[i].dec == hp->n_text_layer && t[i].mels == hp->n_mels && t[i].vocab_kind == kind &&
            hp->n_audio_ctx == 1500 && hp->n_text_ctx == 448)
            return t[i].name;
    return "custom";
}

/* Expected tensors: a table of (name, slot, role, shape). Roles decide allowed types. */
enum { ROLE_F = 0, ROLE_W = 1, ROLE_C = 2 };

typedef struct {
    char name[64];
    wh_tensor *slot;
    int role;
    int n_dims;
    int64_t ne[3];
    int seen;
} expect;

static int expect_cmp(const void *a, const void *b)
{
    return strcmp(((const expect *)a)->name, ((const expect *)b)->name);
}

static void add(expect *e, int *n, wh_tensor *slot, int role, int nd, int64_t a, int64_t b, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void add(expect *e, int *n, wh_tensor *slot, int role, int nd, int64_t a, int64_t b, const char *fmt, ...)
{
    expect *x = &e[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->name, sizeof x->name, fmt, ap);
    va_end(ap);
    x->slot = slot;
    x->role = role;
    x->n_dims = nd;
    x->ne[0] = a;
    x->ne[1] = b;
    x->ne[2] = 1;
    x->seen = 0;
}

static void add_attn(expect *e, int *n, wh_attn *a, int64_t s, const char *pre)
{
    add(e, n, &a->q_w, ROLE_W, 2, s, s, "%s.query.weight", pre);
    add(e, n, &a->q_b, ROLE_F, 1, s, 1, "%s.query.bias", pre);
    add(e, n, &a->k_w, ROLE_W, 2, s, s, "%s.key.weight", pre);
    add(e, n, &a->v_w, ROLE_W, 2, s, s, "%s.value.weight", pre);
    add(e, n, &a->v_b, ROLE_F, 1, s, 1, "%s.value.bias", pre);
    add(e, n, &a->o_w, ROLE_W, 2, s, s, "%s.out.weight", pre);
    add(e, n, &a->o_b, ROLE_F, 1, s, 1, "%s.out.bias", pre);
}

static void add_layer(expect *e, int *n, wh_layer *l, int64_t s, const char *pre, int is_dec)
{
    char p[48];
    add(e, n, &l->attn_ln_w, ROLE_F, 1, s, 1, "%s.attn_ln.weight", pre);
    add(e, n, &l->attn_ln_b, ROLE_F, 1, s, 1, "%s.attn_ln.bias", pre);
    snprintf(p, sizeof p, "%s.attn", pre);
    add_attn(e, n, &l->attn, s, p);
    if (is_dec) {
        add(e, n, &l->cross_ln_w, ROLE_F, 1, s, 1, "%s.cross_attn_ln.weight", pre);
        add(e, n, &l->cross_ln_b, ROLE_F, 1, s, 1, "%s.cross_attn_ln.bias", pre);
        snprintf(p, sizeof p, "%s.cross_attn", pre);
        add_attn(e, n, &l->cross, s, p);
    }
    add(e, n, &l->mlp_ln_w, ROLE_F, 1, s, 1, "%s.mlp_ln.weight", pre);
    add(e, n, &l->mlp_ln_b, ROLE_F, 1, s, 1, "%s.mlp_ln.bias", pre);
    add(e, n, &l->mlp0_w, ROLE_W, 2, s, 4 * s, "%s.mlp.0.weight", pre);
    add(e, n, &l->mlp0_b, ROLE_F, 1, 4 * s, 1, "%s.mlp.0.bias", pre);
    add(e, n, &l->mlp2_w, ROLE_W, 2, 4 * s, s, "%s.mlp.2.weight", pre);
    add(e, n, &l->mlp2_b, ROLE_F, 1, s, 1, "%s.mlp.2.bias", pre);
}

static const char *shape_str(char *buf, size_t n, int nd, const int64_t *ne)
{
    int o = snprintf(buf, n, "[");
    for (int i = 0; i < nd && o < (int)n; i++)
        o += snprintf(buf + o, n - (size_t)o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < (int)n) snprintf(buf + o, n - (size_t)o, "]");
    return buf;
}

/* Range checks every loader applies. The vocabulary size must be one whose specials we know
 * (whisper-reference.md §3). */
sp_status wh_hparams_check(const wh_hparams *hp, char *err, size_t en)
{
    const sp_status st = SP_ERR_MODEL_FORMAT;
    if (hp->n_vocab < 51864 || hp->n_vocab > 51866) { sp_errf(err, en, "unsupported n_vocab %d (expected 51864, 51865 or 51866)", hp->n_vocab); return st; }
    if (hp->n_audio_ctx < 1 || hp->n_audio_ctx > 1500) { sp_errf(err, en, "n_audio_ctx %d out of range 1..1500", hp->n_audio_ctx); return st; }
    if (hp->n_text_ctx < 4 || hp->n_text_ctx > 4096) { sp_errf(err, en, "n_text_ctx %d out of range 4..4096", hp->n_text_ctx); return st; }
    if (hp->n_audio_state < 1 || hp->n_audio_state > 8192) { sp_errf(err, en, "n_audio_state %d out of range 1..8192", hp->n_audio_state); return st; }
    if (hp->n_text_state != hp->n_audio_state) { sp_errf(err, en, "n_text_state %d differs from n_audio_state %d", hp->n_text_state, hp->n_audio_state); return st; }
    if (hp->n_audio_head < 1 || hp->n_audio_state % hp->n_audio_head) { sp_errf(err, en, "n_audio_head %d does not divide n_audio_state %d", hp->n_audio_head, hp->n_audio_state); return st; }
    if (hp->n_text_head < 1 || hp->n_text_state % hp->n_text_head) { sp_errf(err, en, "n_text_head %d does not divide n_text_state %d", hp->n_text_head, hp->n_text_state); return st; }
    if (hp->n_audio_layer < 1 || hp->n_audio_layer > 128) { sp_errf(err, en, "n_audio_layer %d out of range 1..128", hp->n_audio_layer); return st; }
    if (hp->n_text_layer < 1 || hp->n_text_layer > 128) { sp_errf(err, en, "n_text_layer %d out of range 1..128", hp->n_text_layer); return st; }
    if (hp->n_mels < 1 || hp->n_mels > 512) { sp_errf(err, en, "n_mels %d out of range 1..512", hp->n_mels); return st; }
    return SP_OK;
}

/* special tokens (whisper-reference.md §3) */
void wh_specials_init(wh_specials *s, int n_vocab)
{
    int multi = n_vocab >= 51865;
    s->eot = multi ? 50257 : 50256;
    s->sot = s->eot + 1;
    s->lang_first = s->sot + 1;
    s->n_lang = n_vocab - 51765 - multi;
    s->translate = s->lang_first + s->n_lang;
    s->transcribe = s->translate + 1;
    s->startoflm = s->transcribe + 1;
    s->startofprev = s->startoflm + 1;
    s->nospeech = s->startofprev + 1;
    s->notimestamps = s->nospeech + 1;
    s->timestamp_begin = s->notimestamps + 1;
}

/* ------------------------------------------------------------------ parse */

/* Phase 1: magic and hyperparameters. */
static sp_status parse_header(wh_model *m, cursor *c, char *err, size_t en)
{
    const sp_status bad = SP_ERR_MODEL_FORMAT;
    int32_t v;
    if (cur_i32(c, &v) != 0) { sp_errf(err, en, "file too short for the magic number (%zu bytes)", m->map_size); return bad; }
    if ((uint32_t)v != WH_MAGIC) { sp_errf(err, en, "bad magic 0x%08x (expected 0x%08x: not a ggml Whisper model)", (unsigned)v, WH_MAGIC); return bad; }

    int32_t h[11];
    static const char *hn[11] = {"n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                                 "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype"};
    for (int i = 0; i < 11; i++)
        if (cur_i32(c, &h[i]) != 0) { sp_errf(err, en, "truncated header: missing %s", hn[i]); return bad; }
    wh_hparams *hp = &m->hp;
    hp->n_vocab = h[0]; hp->n_audio_ctx = h[1]; hp->n_audio_state = h[2]; hp->n_audio_head = h[3];
    hp->n_audio_layer = h[4]; hp->n_text_ctx = h[5]; hp->n_text_state = h[6]; hp->n_text_head = h[7];
    hp->n_text_layer = h[8]; hp->n_mels = h[9]; hp->ftype = h[10] % 1000;

    sp_status st = wh_hparams_check(hp, err, en);
    if (st != SP_OK) return st;
    if (h[10] < 0 || !(hp->ftype == 0 || hp->ftype == 1 || hp->ftype == 2 || hp->ftype == 3 || hp->ftype == 7 || hp->ftype == 8 || hp->ftype == 9)) {
        sp_errf(err, en, "unsupported ftype %d", h[10]);
        return SP_ERR_UNSUPPORTED;
    }
    return SP_OK;
}

/* Phase 2: the mel filterbank, copied (the mapping has no alignment). */
static sp_status parse_filters(wh_model *m, cursor *c, char *err, size_t en)
{
    const sp_status bad = SP_ERR_MODEL_FORMAT;
    int32_t v;
    if (cur_i32(c, &v) != 0) { sp_errf(err, en, "truncated: missing filt_n_mel"); return bad; }
    m->filt_n_mel = v;
    if (cur_i32(c, &v) != 0) { sp_errf(err, en, "truncated: missing filt_n_fft"); return bad; }
    m->filt_n_fft = v;
    if (m->filt_n_mel != m->hp.n_mels) { sp_errf(err, en, "filterbank has %d mel rows but n_mels is %d", m->filt_n_mel, m->hp.n_mels); return bad; }
    if (m->filt_n_fft != 201) { sp_errf(err, en, "filterbank n_fft %d (expected 201)", m->filt_n_fft); return bad; }
    size_t fbytes = (size_t)m->filt_n_mel * 201 * 4;
    if (c->size - c->pos < fbytes) { sp_errf(err, en, "truncated in the mel filterbank (needs %zu bytes at offset %zu)", fbytes, c->pos); return bad; }
    m->filters_own = malloc(fbytes);
    if (!m->filters_own) return SP_ERR_NOMEM;
    memcpy(m->filters_own, c->base + c->pos, fbytes);
    m->filters = m->filters_own;
    c->pos += fbytes;
    return SP_OK;
}

/* Phase 3: the vocabulary, as views into the mapping. */
static sp_status parse_vocab(wh_model *m, cursor *c, char *err, size_t en)
{
    const sp_status bad = SP_ERR_MODEL_FORMAT;
    int32_t v;
    if (cur_i32(c, &v) != 0) { sp_errf(err, en, "truncated: missing vocabulary size"); return bad; }
    if (v < 0 || v > m->hp.n_vocab) { sp_errf(err, en, "vocabulary has %d tokens (must be 0..n_vocab %d)", v, m->hp.n_vocab); return bad; }
    m->n_tokens = v;
    m->vocab = calloc((size_t)(v ? v : 1), sizeof *m->vocab);
    if (!m->vocab) return SP_ERR_NOMEM;
    for (int i = 0; i < m->n_tokens; i++) {
        if (cur_i32(c, &v) != 0) { sp_errf(err, en, "truncated in the vocabulary at token %d", i); return bad; }
        uint32_t len = (uint32_t)v;
        if (len > 1024) { sp_errf(err, en, "token %d has length %u (max 1024)", i, len); return bad; }
        if (c->size - c->pos < len) { sp_errf(err, en, "truncated in the vocabulary at token %d", i); return bad; }
        m->vocab[i].bytes = (const char *)c->base + c->pos;
        m->vocab[i].len = len;
        c->pos += len;
    }
    wh_specials_init(&m->sp, m->hp.n_vocab);
    return SP_OK;
}

/* Phase 4a: every tensor the hyperparameters imply, with its role and shape, sorted by name
 * for bsearch; *out has *n_out entries (caller frees). */
static sp_status expected_tensors(wh_model *m, expect **out, int *n_out)
{
    const wh_hparams *hp = &m->hp;
    const int64_t n = hp->n_audio_state;
    const int nl_e = hp->n_audio_layer, nl_d = hp->n_text_layer;
    m->enc = calloc((size_t)nl_e, sizeof *m->enc);
    m->dec = calloc((size_t)nl_d, sizeof *m->dec);
    expect *ex = calloc((size_t)(11 + 15 * nl_e + 24 * nl_d), sizeof *ex);
    if (!m->enc || !m->dec || !ex) { free(ex); return SP_ERR_NOMEM; }
    int ne_ = 0;
    add(ex, &ne_, &m->e_pe, ROLE_F, 2, n, hp->n_audio_ctx, "encoder.positional_embedding");
    add(ex, &ne_, &m->conv1_w, ROLE_C, 3, 3, hp->n_mels, "encoder.conv1.weight");
    ex[ne_ - 1].ne[2] = n;
    add(ex, &ne_, &m->conv1_b, ROLE_F, 2, 1, n, "encoder.conv1.bias");
    add(ex, &ne_, &m->conv2_w, ROLE_C, 3, 3, n, "encoder.conv2.weight");
    ex[ne_ - 1].ne[2] = n;
    add(ex, &ne_, &m->conv2_b, ROLE_F, 2, 1, n, "encoder.conv2.bias");
    add(ex, &ne_, &m->e_ln_w, ROLE_F, 1, n, 1, "encoder.ln_post.weight");
    add(ex, &ne_, &m->e_ln_b, ROLE_F, 1, n, 1, "encoder.ln_post.bias");
    add(ex, &ne_, &m->d_pe, ROLE_F, 2, n, hp->n_text_ctx, "decoder.positional_embedding");
    add(ex, &ne_, &m->tok_emb, ROLE_W, 2, n, hp->n_vocab, "decoder.token_embedding.weight");
    add(ex, &ne_, &m->d_ln_w, ROLE_F, 1, n, 1, "decoder.ln.weight");
    add(ex, &ne_, &m->d_ln_b, ROLE_F, 1, n, 1, "decoder.ln.bias");
    for (int i = 0; i < nl_e; i++) {
        char p[32];
        snprintf(p, sizeof p, "encoder.blocks.%d", i);
        add_layer(ex, &ne_, &m->enc[i], n, p, 0);
    }
    for (int i = 0; i < nl_d; i++) {
        char p[32];
        snprintf(p, sizeof p, "decoder.blocks.%d", i);
        add_layer(ex, &ne_, &m->dec[i], n, p, 1);
    }
    qsort(ex, (size_t)ne_, sizeof *ex, expect_cmp);
    *out = ex;
    *n_out = ne_;
    return SP_OK;
}

/* Why a tensor type is not read, naming what a user can do: whisper.cpp's `quantize` also
 * writes k-quants (ggml types 10-15: q2_K ... q8_K) and newer ggml bf16 (30), which had been
 * "unknown or unsupported type 12". */
static void unsupported_type(const char *name, int tt, char *err, size_t en)
{
    static const char *const kq[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"};
    const char *what = tt >= 10 && tt <= 15 ? kq[tt - 10] : tt == 30 ? "bf16" : NULL;
    if (what)
        sp_errf(err, en, "tensor '%s' is %s (ggml type %d), which this engine does not read: use a model in f16, "
                "f32, q8_0, q5_0, q5_1, q4_0 or q4_1 (whisper.cpp's quantize writes them; the f16 file with "
                "--compute int8 runs as q8_0)", name, what, tt);
    else
        sp_errf(err, en, "tensor '%s' has unknown ggml type %d (this engine reads f32, f16, q8_0, q5_0, q5_1, "
                "q4_0, q4_1)", name, tt);
}

/* Phase 4b: one tensor record at the cursor: header, name, the expectation it meets (type,
 * shape, block size, bytes present); binds its slot to the mapping. */
static sp_status parse_tensor(cursor *c, expect *ex, int n_ex, char *err, size_t en)
{
    const size_t rec_off = c->pos;
    int32_t nd, nlen, tt, v;
    if (cur_i32(c, &nd) || cur_i32(c, &nlen) || cur_i32(c, &tt)) {
        sp_errf(err, en, "truncated tensor record header at offset %zu", rec_off);
        return SP_ERR_MODEL_FORMAT;
    }
    if (nd < 1 || nd > 4) { sp_errf(err, en, "tensor at offset %zu has %d dimensions (1..4)", rec_off, nd); return SP_ERR_MODEL_FORMAT; }
    if (nlen < 1 || nlen > 255) { sp_errf(err, en, "tensor at offset %zu has name length %d (1..255)", rec_off, nlen); return SP_ERR_MODEL_FORMAT; }
    int64_t tne[4] = {1, 1, 1, 1};
    for (int i = 0; i < nd; i++) {
        if (cur_i32(c, &v)) { sp_errf(err, en, "truncated tensor dimensions at offset %zu", rec_off); return SP_ERR_MODEL_FORMAT; }
        if (v < 1) { sp_errf(err, en, "tensor at offset %zu has dimension %d = %d", rec_off, i, v); return SP_ERR_MODEL_FORMAT; }
        tne[i] = v;
    }
    if (c->size - c->pos < (size_t)nlen) { sp_errf(err, en, "truncated tensor name at offset %zu", rec_off); return SP_ERR_MODEL_FORMAT; }
    char name[256];
    memcpy(name, c->base + c->pos, (size_t)nlen);
    name[nlen] = 0;
    c->pos += (size_t)nlen;
    if (strlen(name) != (size_t)nlen) { sp_errf(err, en, "tensor name at offset %zu contains a NUL byte", rec_off); return SP_ERR_MODEL_FORMAT; }

    expect key;
    expect *e = NULL;
    if (nlen < (int)sizeof key.name) memcpy(key.name, name, (size_t)nlen + 1);
    e = nlen < (int)sizeof key.name ? bsearch(&key, ex, (size_t)n_ex, sizeof *ex, expect_cmp) : NULL;
    if (!e) { sp_errf(err, en, "unknown tensor '%s' at offset %zu", name, rec_off); return SP_ERR_MODEL_FORMAT; }
    if (e->seen) { sp_errf(err, en, "duplicate tensor '%s' at offset %zu", name, rec_off); return SP_ERR_MODEL_FORMAT; }
    size_t bsz = wh_type_block(tt), tsz = wh_type_size(tt);
    if (!bsz) { unsupported_type(name, tt, err, en); return SP_ERR_UNSUPPORTED; }
    int ok_type = e->role == ROLE_F ? tt == WH_F32 : e->role == ROLE_C ? (tt == WH_F32 || tt == WH_F16) : 1;
    if (!ok_type) { sp_errf(err, en, "tensor '%s' has type %s, not allowed for it", name, wh_type_name(tt)); return SP_ERR_UNSUPPORTED; }
    /* Compare shapes, ignoring trailing 1s (bias [n] may be stored as [n] or [1, n] style). */
    int64_t want[4] = {e->ne[0], e->ne[1], e->ne[2], 1};
    int same = 1;
    for (int i = 0; i < 4; i++) same &= want[i] == tne[i];
    if (!same) {
        char b1[80], b2[80];
        sp_errf(err, en, "tensor '%s' has shape %s, expected %s", name, shape_str(b1, sizeof b1, nd, tne),
               shape_str(b2, sizeof b2, e->n_dims, want));
        return SP_ERR_MODEL_FORMAT;
    }
    if (tne[0] % (int64_t)bsz) { sp_errf(err, en, "tensor '%s': row length %lld is not a multiple of the %s block size %zu", name, (long long)tne[0], wh_type_name(tt), bsz); return SP_ERR_MODEL_FORMAT; }
    uint64_t nel = (uint64_t)tne[0] * (uint64_t)tne[1] * (uint64_t)tne[2] * (uint64_t)tne[3];
    uint64_t bytes = nel / bsz * tsz;
    if (c->size - c->pos < bytes) {
        sp_errf(err, en, "file truncated in tensor '%s': needs %llu bytes at offset %zu, %zu left", name,
               (unsigned long long)bytes, c->pos, c->size - c->pos);
        return SP_ERR_MODEL_FORMAT;
    }
    e->slot->data = c->base + c->pos;
    e->slot->type = tt;
    e->slot->n_dims = nd;
    memcpy(e->slot->ne, tne, sizeof tne);
    e->seen = 1;
    c->pos += bytes;
    return SP_OK;
}

/* Phase 5. The format has no alignment, so an f32 tensor may start at any byte. The
 * always-f32 tensors (biases, norms, positional embeddings: a few MB even for large models)
 * are read as float arrays everywhere, so they get aligned copies; weight matrices stay in
 * the mapping and are only read through the dequantizing kernels. */
static sp_status align_f32(wh_model *m, expect *ex, int n_ex, char *err, size_t en)
{
    size_t total = 0;
    for (int i = 0; i < n_ex; i++)
        if (ex[i].role == ROLE_F) total += (size_t)(ex[i].slot->ne[0] * ex[i].slot->ne[1] * ex[i].slot->ne[2] * ex[i].slot->ne[3]) + 16;
    m->f32_arena = malloc(total * sizeof(float));
    if (!m->f32_arena) return SP_ERR_NOMEM;
    float *a = m->f32_arena;
    for (int i = 0; i < n_ex; i++) {
        if (ex[i].role != ROLE_F) continue;
        wh_tensor *t = ex[i].slot;
        size_t cnt = (size_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        memcpy(a, t->data, cnt * sizeof(float));
        const long bad = wh_first_nonfinite(a, cnt);
        if (bad >= 0) {
            sp_errf(err, en, "tensor '%s' holds a non-finite value (%g at element %ld): damaged weights",
                    ex[i].name, (double)a[bad], bad);
            return SP_ERR_MODEL_FORMAT;
        }
        t->data = a;
        a += (cnt + 15) & ~(size_t)15;
    }
    return SP_OK;
}

static sp_status parse(wh_model *m, char *err, size_t en)
{
    cursor c = {m->map, m->map_size, 0};
    expect *ex = NULL;
    int n_ex = 0, n_seen = 0;
    sp_status st;
    if ((st = parse_header(m, &c, err, en)) != SP_OK || (st = parse_filters(m, &c, err, en)) != SP_OK ||
        (st = parse_vocab(m, &c, err, en)) != SP_OK || (st = expected_tensors(m, &ex, &n_ex)) != SP_OK)
        goto done;
    for (; c.pos < c.size; n_seen++)
        if ((st = parse_tensor(&c, ex, n_ex, err, en)) != SP_OK) goto done;
    if (n_seen != n_ex) {
        for (int i = 0; i < n_ex; i++)
            if (!ex[i].seen) { sp_errf(err, en, "missing tensor '%s' (%d of %d tensors present)", ex[i].name, n_seen, n_ex); break; }
        st = SP_ERR_MODEL_FORMAT;
        goto done;
    }
    st = align_f32(m, ex, n_ex, err, en);
done:
    free(ex);
    return st;
}

long wh_first_nonfinite(const float *a, size_t n)
{
    /* an all-ones exponent is NaN or infinity; the OR pass is branch-free (vectorized), so
     * the common, clean case costs one read of the values */
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &a[i], 4);
        acc |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
    }
    if (!acc) return -1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return (long)i;
    return -1;
}

int wh_model_note_file(wh_model *m, const char *path, const struct stat *st)
{
    free(m->file);
    if (!(m->file = strdup(path))) return -1;
    m->file_dev = (uint64_t)st->st_dev;
    m->file_ino = (uint64_t)st->st_ino;
    m->file_size = (int64_t)st->st_size;
    m->file_mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    return 0;
}

int wh_model_file_state(const wh_model *m, char *why, size_t wn)
{
    if (why && wn) why[0] = 0;
    if (!m || !m->file) return WH_FILE_SAME;
    struct stat st;
    if (stat(m->file, &st) != 0) {
        sp_errf(why, wn, "model file '%s' is gone (%s)", m->file, strerror(errno));
        return WH_FILE_GONE;
    }
    if ((uint64_t)st.st_dev != m->file_dev || (uint64_t)st.st_ino != m->file_ino) {
        sp_errf(why, wn, "model file '%s' was replaced by another file (%lld bytes)", m->file, (long long)st.st_size);
        return WH_FILE_REPLACED;
    }
    const int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((int64_t)st.st_size != m->file_size || mt != m->file_mtime_ns) {
        sp_errf(why, wn, "model file '%s' was rewritten in place (%lld bytes, %s; loaded: %lld bytes)", m->file,
                (long long)st.st_size, mt != m->file_mtime_ns ? "modified since" : "same modification time",
                (long long)m->file_size);
        return WH_FILE_REWRITTEN;
    }
    return WH_FILE_SAME;
}

static sp_status load_common(wh_model *m, wh_model **out, char *err, size_t en)
{
    sp_status st = parse(m, err, en);
    if (st != SP_OK) {
        wh_model_free(m);
        return st;
    }
    *out = m;
    return SP_OK;
}

sp_status wh_model_load(const char *path, wh_model **out, char *err, size_t en)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    if (!path) { sp_errf(err, en, "no model path"); return SP_ERR_INVALID_ARG; }
    if (!strchr(path, '/') && wh_model_is_name(path) && access(path, F_OK) != 0) {
        char resolved[4096];
        sp_status st = wh_model_resolve(path, resolved, sizeof resolved, err, en);
        return st == SP_OK ? wh_model_load(resolved, out, err, en) : st;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) { sp_errf(err, en, "cannot open model '%s': %s", path, strerror(errno)); return SP_ERR_IO; }
    struct stat stt;
    if (fstat(fd, &stt) == 0 && S_ISDIR(stt.st_mode)) {   /* CTranslate2 or Transformers */
        close(fd);
        char p[4096];
        /* a path cut short by the buffer names another file: refused, never looked up */
        if (!FITS(snprintf(p, sizeof p, "%s/model.safetensors.index.json", path), sizeof p)) {
            sp_errf(err, en, "model path '%.200s…' is too long (%zu bytes)", path, strlen(path));
            return SP_ERR_INVALID_ARG;
        }
        snprintf(p, sizeof p, "%s/model.bin", path);
        if (access(p, F_OK) != 0) {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            if (access(p, F_OK) == 0) return wh_st_load_dir(path, NULL, out, err, en);
            /* say what it is rather than "no model.bin": a user with a large checkpoint
             * from the hub should learn how to make it loadable */
            snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
            if (access(p, F_OK) == 0) {
                sp_errf(err, en, "model '%s' is a sharded Transformers checkpoint "
                        "(model.safetensors.index.json), which is not read: save it as one "
                        "model.safetensors (save_pretrained with a max_shard_size above the "
                        "model's size) or use its CTranslate2 or ggml version", path);
                return SP_ERR_UNSUPPORTED;
            }
        }
        return wh_ct2_load_dir(path, NULL, out, err, en);
    }
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        sp_errf(err, en, "model '%s' is not a regular file or a model directory", path);
        close(fd);
        return SP_ERR_IO;
    }
    if (stt.st_size < 4) {
        sp_errf(err, en, "model '%s' is too short (%lld bytes)", path, (long long)stt.st_size);
        close(fd);
        return SP_ERR_MODEL_FORMAT;
    }
    void *map = mmap(NULL, (size_t)stt.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) { sp_errf(err, en, "cannot map model '%s': %s", path, strerror(e)); return SP_ERR_IO; }
    uint32_t magic;
    memcpy(&magic, map, 4);
    if (magic != WH_MAGIC && wh_ct2_sniff(map, (size_t)stt.st_size)) {
        /* a CTranslate2 model.bin: its vocabulary and configs are its siblings */
        munmap(map, (size_t)stt.st_size);
        return wh_ct2_load_dir(NULL, path, out, err, en);
    }
    if (magic != WH_MAGIC && wh_st_sniff(map, (size_t)stt.st_size)) {
        /* a model.safetensors: its configs and vocabulary are its siblings */
        munmap(map, (size_t)stt.st_size);
        /* the file named, not a model.safetensors beside it: a hub repository often holds
         * several checkpoints (model.safetensors, model.fp32.safetensors) in one folder */
        char d[4096];
        if (!FITS(snprintf(d, sizeof d, "%s", path), sizeof d)) {
            sp_errf(err, en, "model path '%.200s…' is too long (%zu bytes)", path, strlen(path));
            return SP_ERR_INVALID_ARG;
        }
        char *slash = strrchr(d, '/');
        if (slash) *slash = 0; else snprintf(d, sizeof d, ".");
        return wh_st_load_dir(d, path, out, err, en);
    }
    wh_model *m = calloc(1, sizeof *m);
    if (!m) { munmap(map, (size_t)stt.st_size); return SP_ERR_NOMEM; }
    m->map = map;
    m->map_size = (size_t)stt.st_size;
    m->map_owned = 1;
    if (wh_model_note_file(m, path, &stt) != 0) { wh_model_free(m); return SP_ERR_NOMEM; }
    return load_common(m, out, err, en);
}

sp_status wh_model_load_mem(const void *data, size_t size, wh_model **out, char *err, size_t en)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    wh_model *m = calloc(1, sizeof *m);
    if (!m) return SP_ERR_NOMEM;
    m->map = (void *)data;
    m->map_size = size;
    return load_common(m, out, err, en);
}

void wh_model_free(wh_model *m)
{
    if (!m) return;
    if (m->map_owned) munmap(m->map, m->map_size);
    free(m->filters_own);
    free(m->f32_arena);
    free(m->vocab_own);
    free(m->weights_own);
    free(m->vocab);
    free(m->enc);
    free(m->dec);
    free(m->file);
    free(m);
}
