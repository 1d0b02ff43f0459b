/* model_ct2.c — CTranslate2 Whisper models as faster-whisper uses them: a directory with
 * model.bin, vocabulary.txt or vocabulary.json, config.json and (newer conversions)
 * preprocessor_config.json. Read into the same wh_model the ggml loader produces.
 *
 * model.bin (CTranslate2 python/ctranslate2/specs/model_spec.py: ModelSpec._serialize,
 * src/models/model.cc: Model::load), little-endian, no padding:
 *   u32 binary_version (4..6), str spec_name ("WhisperSpec"), u32 spec_revision,
 *   u32 n_variables, n x { str name, u8 rank, u32 dims[rank], u8 dtype, u32 n_bytes, data },
 *   u32 n_aliases, n x { str alias, str variable }
 *   str = u16 length (including the terminating NUL) + bytes + NUL
 *   dtype: 0 f32, 1 int8, 2 int16, 3 int32, 4 f16, 5 bf16
 * Weights are PyTorch-shaped [out][in] (= ggml rows), so they become views into the mapping,
 * except int8 ones: CTranslate2 keeps a separate "weight_scale" [out] vector, and the engine's
 * row dequantizers only see a row pointer, so those are repacked as WH_I8R rows (model.h).
 * Whisper specifics (ctranslate2/converters/transformers.py: WhisperLoader): self-attention
 * q, k, v are fused into one linear_0 [3n][n] (the k part of its bias is zero: Whisper's key
 * projection has none), cross-attention k, v into linear_1 [2n][n]; the output projection is
 * an alias of the token embedding. Every name, shape, type and byte count is checked; any
 * variable the engine would not use is an error, not silently ignored. */
#include "model_bind.h"
#include "fp16.h"
#include "common/errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WL_MAX_VARS 100000

const char *const wl_dtype_name[6] = {"float32", "int8", "int16", "int32", "float16", "bfloat16"};
const size_t wl_dtype_size[6] = {4, 1, 2, 4, 2, 2};

typedef struct {
    const uint8_t *base;
    size_t size, pos;
} ct2_cur;

/* ------------------------------------------------------------------ reading */

static int rd(ct2_cur *c, void *out, size_t n)
{
    if (c->size - c->pos < n) return -1;
    memcpy(out, c->base + c->pos, n);
    c->pos += n;
    return 0;
}

/* u16 length (with NUL) + bytes; the string must be non-empty, end in its NUL and hold no
 * other NUL, so it can be used in place. */
static const char *rd_str(ct2_cur *c)
{
    uint16_t len;
    if (rd(c, &len, 2) || len < 2 || c->size - c->pos < len) return NULL;
    const char *s = (const char *)c->base + c->pos;
    if (s[len - 1] != 0 || strlen(s) != (size_t)len - 1) return NULL;
    c->pos += len;
    return s;
}

int wh_ct2_sniff(const void *data, size_t size)
{
    const uint8_t *b = data;
    if (size < 8) return 0;
    uint32_t ver;
    uint16_t len;
    memcpy(&ver, b, 4);
    memcpy(&len, b + 4, 2);
    /* binary versions 1..6 exist; a spec name is printable ASCII ending in NUL */
    if (ver < 1 || ver > 6 || len < 2 || len > 256 || size < 6u + len) return 0;
    for (uint16_t i = 0; i + 1 < len; i++)
        if (b[6 + i] < 0x21 || b[6 + i] > 0x7e) return 0;
    return b[6 + len - 1] == 0;
}

int wl_var_cmp(const void *a, const void *b)
{
    return strcmp(((const wl_var *)a)->name, ((const wl_var *)b)->name);
}

wl_var *wl_find(wl_ctx *x, const char *name)
{
    wl_var key = {.name = name};
    return bsearch(&key, x->vars, (size_t)x->n_vars, sizeof key, wl_var_cmp);
}

const char *wl_dims_str(char *buf, size_t n, int rank, const int64_t *d)
{
    int o = snprintf(buf, n, "[");
    for (int i = 0; i < rank && o < (int)n; i++)
        o += snprintf(buf + o, n - (size_t)o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < (int)n) snprintf(buf + o, n - (size_t)o, "]");
    return buf;
}

/* One variable record at c->pos. */
static sp_status read_var(wl_ctx *x, ct2_cur *c, wl_var *v)
{
    const size_t off = c->pos;
    uint8_t rank, dtype;
    uint32_t nbytes;
    if (!(v->name = rd_str(c))) { sp_errf(x->err, x->en, "bad or truncated variable name at offset %zu", off); return SP_ERR_MODEL_FORMAT; }
    if (rd(c, &rank, 1)) goto trunc;
    if (rank > 4) { sp_errf(x->err, x->en, "variable '%s' has rank %u (at most 4)", v->name, rank); return SP_ERR_MODEL_FORMAT; }
    v->rank = rank;
    uint64_t nel = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t d;
        if (rd(c, &d, 4)) goto trunc;
        v->dims[i] = d;
        /* the product stays below 2^64: each factor < 2^32 and it is capped at 2^40 */
        nel *= d;
        if (nel > ((uint64_t)1 << 40)) { sp_errf(x->err, x->en, "variable '%s' is impossibly large", v->name); return SP_ERR_MODEL_FORMAT; }
    }
    if (rd(c, &dtype, 1) || rd(c, &nbytes, 4)) goto trunc;
    if (dtype > CT_BF16) { sp_errf(x->err, x->en, "variable '%s' has unknown data type %u", v->name, dtype); return SP_ERR_UNSUPPORTED; }
    v->dtype = dtype;
    if (nel * wl_dtype_size[dtype] != nbytes) {
        char b[96];
        sp_errf(x->err, x->en, "variable '%s' %s %s claims %u bytes (expected %llu)", v->name, wl_dims_str(b, sizeof b, rank, v->dims),
                wl_dtype_name[dtype], nbytes, (unsigned long long)(nel * wl_dtype_size[dtype]));
        return SP_ERR_MODEL_FORMAT;
    }
    if (c->size - c->pos < nbytes) {
        sp_errf(x->err, x->en, "file truncated in variable '%s': needs %u bytes at offset %zu, %zu left", v->name, nbytes, c->pos, c->size - c->pos);
        return SP_ERR_MODEL_FORMAT;
    }
    v->data = c->base + c->pos;
    v->nbytes = nbytes;
    c->pos += nbytes;
    return SP_OK;
trunc:
    sp_errf(x->err, x->en, "truncated header of variable '%s' (offset %zu)", v->name, off);
    return SP_ERR_MODEL_FORMAT;
}

/* Header, variable table and aliases; the table ends up sorted by name. */
static sp_status read_table(wl_ctx *x)
{
    ct2_cur c = {x->m->map, x->m->map_size, 0};
    uint32_t ver, rev, nv, na;
    const char *spec;
    if (rd(&c, &ver, 4)) { sp_errf(x->err, x->en, "file too short for a CTranslate2 header"); return SP_ERR_MODEL_FORMAT; }
    /* version 4 added per-variable dtypes; 5 and 6 changed nothing this reader sees */
    if (ver < 4 || ver > 6) { sp_errf(x->err, x->en, "unsupported CTranslate2 binary version %u (4..6 supported)", ver); return SP_ERR_UNSUPPORTED; }
    if (!(spec = rd_str(&c)) || rd(&c, &rev, 4)) { sp_errf(x->err, x->en, "truncated CTranslate2 header"); return SP_ERR_MODEL_FORMAT; }
    if (strcmp(spec, "WhisperSpec")) { sp_errf(x->err, x->en, "CTranslate2 model is a '%s', not a WhisperSpec", spec); return SP_ERR_UNSUPPORTED; }
    if (rev < 2 || rev > 3) { sp_errf(x->err, x->en, "unsupported WhisperSpec revision %u (2..3 supported)", rev); return SP_ERR_UNSUPPORTED; }
    if (rd(&c, &nv, 4)) { sp_errf(x->err, x->en, "truncated: missing the variable count"); return SP_ERR_MODEL_FORMAT; }
    /* a record takes at least 10 bytes, which bounds the allocation by the file size; and a
     * WhisperSpec has 11 + about 30 per layer (16 per encoder and 27 per decoder layer with
     * int8 scales: ~5.5k at the 128 + 128 layers wh_hparams_check allows), so a count above
     * WL_MAX_VARS is not Whisper. The size bound alone let a sparse file of a few KB on disk
     * but 4 GiB long ask for a 29 GB table. */
    if (nv == 0 || nv > (c.size - c.pos) / 10) { sp_errf(x->err, x->en, "variable count %u impossible for a %zu-byte file", nv, c.size); return SP_ERR_MODEL_FORMAT; }
    if (nv > WL_MAX_VARS) { sp_errf(x->err, x->en, "variable count %u is more than a Whisper model has (at most %d)", nv, WL_MAX_VARS); return SP_ERR_MODEL_FORMAT; }
    x->vars = calloc(nv, sizeof *x->vars);
    if (!x->vars) return SP_ERR_NOMEM;
    x->n_vars = (int)nv;
    for (uint32_t i = 0; i < nv; i++) {
        sp_status st = read_var(x, &c, &x->vars[i]);
        if (st != SP_OK) return st;
    }
    qsort(x->vars, nv, sizeof *x->vars, wl_var_cmp);
    for (uint32_t i = 1; i < nv; i++)
        if (!strcmp(x->vars[i - 1].name, x->vars[i].name)) { sp_errf(x->err, x->en, "duplicate variable '%s'", x->vars[i].name); return SP_ERR_MODEL_FORMAT; }
    if (rd(&c, &na, 4)) { sp_errf(x->err, x->en, "truncated: missing the alias count"); return SP_ERR_MODEL_FORMAT; }
    for (uint32_t i = 0; i < na; i++) {
        const char *alias = rd_str(&c), *target = alias ? rd_str(&c) : NULL;
        if (!target) { sp_errf(x->err, x->en, "bad or truncated alias %u", i); return SP_ERR_MODEL_FORMAT; }
        /* The engine ties the output projection to the token embedding (as Whisper does);
         * the converter records exactly that alias, and no other is meaningful here. */
        if (strcmp(alias, "decoder/projection/weight") || strcmp(target, "decoder/embeddings/weight")) {
            sp_errf(x->err, x->en, "unsupported alias '%s' -> '%s'", alias, target);
            return SP_ERR_UNSUPPORTED;
        }
    }
    if (c.pos != c.size) { sp_errf(x->err, x->en, "%zu unexpected bytes after the aliases", c.size - c.pos); return SP_ERR_MODEL_FORMAT; }
    if (wl_find(x, "decoder/projection/weight")) { sp_errf(x->err, x->en, "untied output projection 'decoder/projection/weight' is not supported"); return SP_ERR_UNSUPPORTED; }
    return SP_OK;
}

/* ------------------------------------------------------------------ metadata */

static int scalar_int(const wl_var *v, long *out)
{
    if (!v || v->rank != 0) return -1;
    switch (v->dtype) {
    case CT_I8: *out = (int8_t)v->data[0]; return 0;
    case CT_I16: { int16_t t; memcpy(&t, v->data, 2); *out = t; return 0; }
    case CT_I32: { int32_t t; memcpy(&t, v->data, 4); *out = t; return 0; }
    }
    return -1;
}

/* Flags of the decoder spec: anything but Whisper's values changes the network. */
static sp_status check_flags(wl_ctx *x)
{
    static const struct { const char *name; long want; int required; } f[] = {
        {"decoder/activation", 3, 0},        /* ActivationType::GELU (erf) */
        {"decoder/alibi", 0, 0},
        {"decoder/pre_norm", 1, 0},
        {"decoder/scale_embeddings", 0, 0},
        {"decoder/start_from_zero_embedding", 0, 0},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        wl_var *v = wl_find(x, f[i].name);
        long val;
        if (!v) continue;
        if (scalar_int(v, &val)) { sp_errf(x->err, x->en, "'%s' is not an integer scalar", f[i].name); return SP_ERR_MODEL_FORMAT; }
        if (val != f[i].want) { sp_errf(x->err, x->en, "'%s' is %ld (Whisper needs %ld)", f[i].name, val, f[i].want); return SP_ERR_UNSUPPORTED; }
        v->used = 1;
    }
    /* alignment heads come from config.json (or the engine's table), and the ALiBi options
     * (written by CTranslate2 >= 4) mean nothing with alibi 0: informative only */
    static const char *const info[] = {"decoder/alignment_heads", "decoder/alignment_layer",
                                       "decoder/alibi_use_positive_positions", "decoder/scale_alibi"};
    for (int i = 0; i < 4; i++) {
        wl_var *v = wl_find(x, info[i]);
        long val;
        if (!v) continue;
        if (scalar_int(v, &val)) { sp_errf(x->err, x->en, "'%s' is not an integer scalar", info[i]); return SP_ERR_MODEL_FORMAT; }
        v->used = 1;
    }
    return SP_OK;
}

/* Number of consecutive "<pre>/layer_<i>/" prefixes 0..n-1 (any gap shows up later as a
 * missing or unknown variable). */
static int count_layers(wl_ctx *x, const char *pre)
{
    int n = 0;
    const size_t pl = strlen(pre);
    for (int i = 0; i < x->n_vars; i++) {
        const char *s = x->vars[i].name;
        if (strncmp(s, pre, pl) || strncmp(s + pl, "/layer_", 7)) continue;
        char *end;
        long k = strtol(s + pl + 7, &end, 10);
        if (*end == '/' && k >= 0 && k < 1000 && k + 1 > n) n = (int)k + 1;
    }
    return n;
}

static sp_status derive_hparams(wl_ctx *x)
{
    wh_hparams *hp = &x->m->hp;
    static const char *const need[] = {"encoder/conv1/weight", "decoder/embeddings/weight", "encoder/position_encodings/encodings",
                                       "decoder/position_encodings/encodings", "encoder/num_heads", "decoder/num_heads"};
    wl_var *v[6];
    for (int i = 0; i < 6; i++)
        if (!(v[i] = wl_find(x, need[i]))) { sp_errf(x->err, x->en, "missing variable '%s'", need[i]); return SP_ERR_MODEL_FORMAT; }
    if (v[0]->rank != 3 || v[1]->rank != 2 || v[2]->rank != 2 || v[3]->rank != 2) {
        sp_errf(x->err, x->en, "conv1, embeddings or position encodings have the wrong rank");
        return SP_ERR_MODEL_FORMAT;
    }
    long he, hd;
    if (scalar_int(v[4], &he) || scalar_int(v[5], &hd)) { sp_errf(x->err, x->en, "num_heads is not an integer scalar"); return SP_ERR_MODEL_FORMAT; }
    v[4]->used = v[5]->used = 1;
    hp->n_audio_state = hp->n_text_state = (int)v[0]->dims[0];
    hp->n_mels = (int)v[0]->dims[1];
    hp->n_vocab = (int)v[1]->dims[0];
    hp->n_audio_ctx = (int)v[2]->dims[0];
    hp->n_text_ctx = (int)v[3]->dims[0];
    hp->n_audio_head = (int)he;
    hp->n_text_head = (int)hd;
    hp->n_audio_layer = count_layers(x, "encoder");
    hp->n_text_layer = count_layers(x, "decoder");
    hp->ftype = v[1]->dtype == CT_F32 ? 0 : v[1]->dtype == CT_F16 ? 1 : v[1]->dtype == CT_I8 ? WH_FTYPE_I8R : -1;
    if (hp->ftype < 0) { sp_errf(x->err, x->en, "token embedding has type %s (float32, float16 or int8 supported)", wl_dtype_name[v[1]->dtype]); return SP_ERR_UNSUPPORTED; }
    return wh_hparams_check(hp, x->err, x->en);
}

/* ------------------------------------------------------------------ binding */

/* Expects variable `name` with CT2 dims (d0[, d1[, d2]]) (0 = absent) and records where it
 * goes. Weights may be f32, f16 or int8 with a weight_scale; the rest f32 or f16. */
sp_status wl_bind_var(wl_ctx *x, const char *name, int role, int64_t d0, int64_t d1, int64_t d2, int parts,
                      wh_tensor *s0, wh_tensor *s1, wh_tensor *s2)
{
    wl_var *v = wl_find(x, name);
    if (!v) { sp_errf(x->err, x->en, "missing variable '%s'", name); return SP_ERR_MODEL_FORMAT; }
    const int rank = d2 ? 3 : d1 ? 2 : 1;
    const int64_t want[4] = {d0, d1, d2, 0};
    int same = v->rank == rank;
    for (int i = 0; same && i < rank; i++) same = v->dims[i] == want[i];
    if (!same) {
        char b1[96], b2[96];
        sp_errf(x->err, x->en, "variable '%s' has shape %s, expected %s", name, wl_dims_str(b1, sizeof b1, v->rank, v->dims),
                wl_dims_str(b2, sizeof b2, rank, want));
        return SP_ERR_MODEL_FORMAT;
    }
    const int ok = v->dtype == CT_F32 || v->dtype == CT_F16 || (role == ROLE_W && v->dtype == CT_I8);
    if (!ok) { sp_errf(x->err, x->en, "variable '%s' has type %s, not allowed for it", name, wl_dtype_name[v->dtype]); return SP_ERR_UNSUPPORTED; }
    wl_var *scale = NULL;
    if (v->dtype == CT_I8) {
        char sn[160];
        snprintf(sn, sizeof sn, "%s_scale", name);
        scale = wl_find(x, sn);
        if (!scale) { sp_errf(x->err, x->en, "int8 variable '%s' has no '%s'", name, sn); return SP_ERR_MODEL_FORMAT; }
        if (scale->rank != 1 || scale->dims[0] != d0 || (scale->dtype != CT_F32 && scale->dtype != CT_F16)) {
            char b1[96];
            sp_errf(x->err, x->en, "'%s' is %s %s, expected [%lld] float32 or float16", sn, wl_dims_str(b1, sizeof b1, scale->rank, scale->dims),
                    wl_dtype_name[scale->dtype], (long long)d0);
            return SP_ERR_MODEL_FORMAT;
        }
        scale->used = 1;
    }
    if (v->used) { sp_errf(x->err, x->en, "variable '%s' bound twice", name); return SP_ERR_MODEL_FORMAT; }
    v->used = 1;
    if (x->n_binds == x->cap_binds) {
        int cap = x->cap_binds ? 2 * x->cap_binds : 64;
        wl_bindrec *nb = realloc(x->binds, (size_t)cap * sizeof *nb);
        if (!nb) return SP_ERR_NOMEM;
        x->binds = nb;
        x->cap_binds = cap;
    }
    wl_bindrec *b = &x->binds[x->n_binds++];
    *b = (wl_bindrec){v, scale, role, parts, {s0, s1, s2}};
    return SP_OK;
}

#define TRY(e) do { sp_status st_ = (e); if (st_ != SP_OK) return st_; } while (0)

static sp_status bind_ln(wl_ctx *x, const char *pre, int64_t n, wh_tensor *w, wh_tensor *b)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s/gamma", pre);
    TRY(wl_bind_var(x, nm, ROLE_F, n, 0, 0, 1, w, NULL, NULL));
    snprintf(nm, sizeof nm, "%s/beta", pre);
    return wl_bind_var(x, nm, ROLE_F, n, 0, 0, 1, b, NULL, NULL);
}

/* A linear layer "<pre>/linear_<i>" [parts*n][in]; the bias may be absent only when every
 * slot of it is NULL. */
static sp_status bind_linear(wl_ctx *x, const char *pre, int i, int64_t n, int64_t in, int parts, wh_tensor **w, wh_tensor **b)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s/linear_%d/weight", pre, i);
    TRY(wl_bind_var(x, nm, ROLE_W, parts * n, in, 0, parts, w[0], parts > 1 ? w[1] : NULL, parts > 2 ? w[2] : NULL));
    snprintf(nm, sizeof nm, "%s/linear_%d/bias", pre, i);
    /* A key bias, which CTranslate2 stores as zeros in the fused bias, would add the same
     * q·b to every score of a query: softmax ignores it, so dropping it (slot NULL) is exact. */
    return wl_bind_var(x, nm, ROLE_F, parts * n, 0, 0, parts, b[0], parts > 1 ? b[1] : NULL, parts > 2 ? b[2] : NULL);
}

static sp_status bind_layer(wl_ctx *x, const char *side, int l, int64_t n, wh_layer *L, int is_dec)
{
    char pre[96], p2[128];
    snprintf(pre, sizeof pre, "%s/layer_%d", side, l);
    snprintf(p2, sizeof p2, "%s/self_attention", pre);
    char ln[160];
    snprintf(ln, sizeof ln, "%s/layer_norm", p2);
    TRY(bind_ln(x, ln, n, &L->attn_ln_w, &L->attn_ln_b));
    wh_tensor *qkv[3] = {&L->attn.q_w, &L->attn.k_w, &L->attn.v_w}, *qkv_b[3] = {&L->attn.q_b, NULL, &L->attn.v_b};
    TRY(bind_linear(x, p2, 0, n, n, 3, qkv, qkv_b));
    wh_tensor *o[1] = {&L->attn.o_w}, *o_b[1] = {&L->attn.o_b};
    TRY(bind_linear(x, p2, 1, n, n, 1, o, o_b));
    if (is_dec) {
        snprintf(p2, sizeof p2, "%s/attention", pre);
        snprintf(ln, sizeof ln, "%s/layer_norm", p2);
        TRY(bind_ln(x, ln, n, &L->cross_ln_w, &L->cross_ln_b));
        wh_tensor *q[1] = {&L->cross.q_w}, *q_b[1] = {&L->cross.q_b};
        TRY(bind_linear(x, p2, 0, n, n, 1, q, q_b));
        wh_tensor *kv[2] = {&L->cross.k_w, &L->cross.v_w}, *kv_b[2] = {NULL, &L->cross.v_b};
        TRY(bind_linear(x, p2, 1, n, n, 2, kv, kv_b));
        wh_tensor *co[1] = {&L->cross.o_w}, *co_b[1] = {&L->cross.o_b};
        TRY(bind_linear(x, p2, 2, n, n, 1, co, co_b));
    }
    snprintf(p2, sizeof p2, "%s/ffn", pre);
    snprintf(ln, sizeof ln, "%s/layer_norm", p2);
    TRY(bind_ln(x, ln, n, &L->mlp_ln_w, &L->mlp_ln_b));
    wh_tensor *m0[1] = {&L->mlp0_w}, *m0_b[1] = {&L->mlp0_b};
    TRY(bind_linear(x, p2, 0, 4 * n, n, 1, m0, m0_b));
    wh_tensor *m2[1] = {&L->mlp2_w}, *m2_b[1] = {&L->mlp2_b};
    return bind_linear(x, p2, 1, n, 4 * n, 1, m2, m2_b);
}

sp_status wl_bind_model(wl_ctx *x, const wl_layout *lay)
{
    wh_model *m = x->m;
    const wh_hparams *hp = &m->hp;
    const int64_t n = hp->n_audio_state;
    m->enc = calloc((size_t)hp->n_audio_layer, sizeof *m->enc);
    m->dec = calloc((size_t)hp->n_text_layer, sizeof *m->dec);
    if (!m->enc || !m->dec) return SP_ERR_NOMEM;
    TRY(wl_bind_var(x, lay->conv1_w, ROLE_W, n, hp->n_mels, 3, 1, &m->conv1_w, NULL, NULL));
    TRY(wl_bind_var(x, lay->conv1_b, ROLE_F, n, 0, 0, 1, &m->conv1_b, NULL, NULL));
    TRY(wl_bind_var(x, lay->conv2_w, ROLE_W, n, n, 3, 1, &m->conv2_w, NULL, NULL));
    TRY(wl_bind_var(x, lay->conv2_b, ROLE_F, n, 0, 0, 1, &m->conv2_b, NULL, NULL));
    TRY(wl_bind_var(x, lay->e_pe, ROLE_F, hp->n_audio_ctx, n, 0, 1, &m->e_pe, NULL, NULL));
    TRY(lay->ln(x, lay->e_ln, n, &m->e_ln_w, &m->e_ln_b));
    TRY(wl_bind_var(x, lay->tok_emb, ROLE_W, hp->n_vocab, n, 0, 1, &m->tok_emb, NULL, NULL));
    TRY(wl_bind_var(x, lay->d_pe, ROLE_F, hp->n_text_ctx, n, 0, 1, &m->d_pe, NULL, NULL));
    TRY(lay->ln(x, lay->d_ln, n, &m->d_ln_w, &m->d_ln_b));
    for (int l = 0; l < hp->n_audio_layer; l++) TRY(lay->layer(x, "encoder", l, n, &m->enc[l], 0));
    for (int l = 0; l < hp->n_text_layer; l++) TRY(lay->layer(x, "decoder", l, n, &m->dec[l], 1));
    return SP_OK;
}

static sp_status bind_all(wl_ctx *x)
{
    static const wl_layout lay = {
        "encoder/conv1/weight", "encoder/conv1/bias", "encoder/conv2/weight", "encoder/conv2/bias",
        "encoder/position_encodings/encodings", "encoder/layer_norm", "decoder/embeddings/weight",
        "decoder/position_encodings/encodings", "decoder/layer_norm", bind_ln, bind_layer};
    TRY(wl_bind_model(x, &lay));
    return wl_check_unused(x);
}

sp_status wl_check_unused(wl_ctx *x)
{
    for (int i = 0; i < x->n_vars; i++)
        if (!x->vars[i].used) { sp_errf(x->err, x->en, "unknown variable '%s'", x->vars[i].name); return SP_ERR_MODEL_FORMAT; }
    return SP_OK;
}

/* ------------------------------------------------------------------ materialising */

static float rd_float(const uint8_t *p, int dtype)
{
    if (dtype == CT_F16) return wh_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* int8 rows [rows][K] + scales -> WH_I8R rows [scale][K int8] at dst. */
static sp_status repack_i8(wl_ctx *x, const wl_bindrec *b, uint8_t *dst)
{
    const int64_t rows = b->v->dims[0];
    const size_t K = b->v->nbytes / (size_t)rows;
    const size_t ss = wl_dtype_size[b->scale->dtype];
    for (int64_t r = 0; r < rows; r++) {
        float s = rd_float(b->scale->data + (size_t)r * ss, b->scale->dtype);
        /* CTranslate2 writes 127 / max|row| (127 for an all-zero row): always finite and > 0 */
        if (!(s > 0.0f) || !isfinite(s)) {
            sp_errf(x->err, x->en, "'%s_scale' row %lld is %g (must be finite and > 0)", b->v->name, (long long)r, (double)s);
            return SP_ERR_MODEL_FORMAT;
        }
        uint8_t *row = dst + (size_t)r * (4 + K);
        memcpy(row, &s, 4);
        memcpy(row + 4, b->v->data + (size_t)r * K, K);
    }
    return SP_OK;
}

/* Turns every binding into tensor views: f32 copies for role F, mapping views or repacked
 * int8 rows for weights, split by parts. */
sp_status wl_materialise(wl_ctx *x)
{
    wh_model *m = x->m;
    size_t nf = 0, ni8 = 0;
    for (int i = 0; i < x->n_binds; i++) {
        const wl_bindrec *b = &x->binds[i];
        size_t nel = b->v->nbytes / wl_dtype_size[b->v->dtype];
        if (b->role == ROLE_F) nf += nel + 16 * (size_t)b->parts;
        else if (b->v->dtype == CT_I8) ni8 += nel + 4 * (size_t)b->v->dims[0];
    }
    m->f32_arena = malloc((nf ? nf : 1) * sizeof(float));
    m->weights_own = ni8 ? malloc(ni8) : NULL;
    if (!m->f32_arena || (ni8 && !m->weights_own)) return SP_ERR_NOMEM;
    float *a = m->f32_arena;
    uint8_t *w8 = m->weights_own;
    for (int i = 0; i < x->n_binds; i++) {
        const wl_bindrec *b = &x->binds[i];
        const wl_var *v = b->v;
        const int64_t rows = v->dims[0];
        const int64_t k = v->rank == 1 ? 1 : v->rank == 2 ? v->dims[1] : v->dims[1] * v->dims[2];
        const int64_t prow = rows / b->parts;
        for (int p = 0; p < b->parts; p++) {
            wh_tensor *t = b->slot[p];
            if (!t) continue;
            memset(t, 0, sizeof *t);
            t->ne[0] = t->ne[1] = t->ne[2] = t->ne[3] = 1;
            if (b->role == ROLE_F) {
                const int64_t cnt = prow * k;
                for (int64_t j = 0; j < cnt; j++)
                    a[j] = rd_float(v->data + (size_t)(p * prow * k + j) * wl_dtype_size[v->dtype], v->dtype);
                const long bad = wh_first_nonfinite(a, (size_t)cnt);
                if (bad >= 0) {
                    sp_errf(x->err, x->en, "variable '%s' holds a non-finite value (%g at element %lld): damaged weights",
                            v->name, (double)a[bad], (long long)(p * prow * k + bad));
                    return SP_ERR_MODEL_FORMAT;
                }
                t->data = a;
                t->type = WH_F32;
                a += ((size_t)cnt + 15) & ~(size_t)15;
            } else {
                const int type = v->dtype == CT_F32 ? WH_F32 : v->dtype == CT_F16 ? WH_F16 : WH_I8R;
                const size_t rb = wh_row_bytes(type, k);
                t->data = (type == WH_I8R ? w8 : v->data) + (size_t)(p * prow) * rb;
                t->type = type;
            }
            /* ggml order: ne[0] fastest; a [rows][cols] matrix is ne = {cols, rows} */
            t->n_dims = v->rank;
            if (v->rank == 1) t->ne[0] = prow;
            else if (v->rank == 2) { t->ne[0] = v->dims[1]; t->ne[1] = prow; }
            else { t->ne[0] = v->dims[2]; t->ne[1] = v->dims[1]; t->ne[2] = prow; }
        }
        if (b->role == ROLE_W && v->dtype == CT_I8) {
            TRY(repack_i8(x, b, w8));
            w8 += (size_t)rows * (4 + (size_t)k);
        }
    }
    /* the ggml loader's conv bias shape ([1][n]); consumers read them as plain vectors */
    m->conv1_b.ne[1] = m->conv1_b.ne[0]; m->conv1_b.ne[0] = 1; m->conv1_b.n_dims = 2;
    m->conv2_b.ne[1] = m->conv2_b.ne[0]; m->conv2_b.ne[0] = 1; m->conv2_b.n_dims = 2;
    return SP_OK;
}

/* ------------------------------------------------------------------ vocabulary */

/* GPT-2 byte-level BPE writes byte b as a code point: the 188 printable bytes ('!'..'~',
 * 0xA1..0xAC, 0xAE..0xFF) as themselves, the other 68 as U+0100.. in byte order
 * (openai/gpt-2 encoder.py: bytes_to_unicode). */
static int16_t g_inv[0x144];
static pthread_once_t g_inv_once = PTHREAD_ONCE_INIT;

static int gpt2_printable(int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

static void gpt2_init(void)
{
    int n = 0;
    for (int c = 0; c < 0x144; c++) g_inv[c] = -1;
    for (int b = 0; b < 256; b++)
        if (gpt2_printable(b)) g_inv[b] = (int16_t)b;
    for (int b = 0; b < 256; b++)
        if (!gpt2_printable(b)) g_inv[0x100 + n++] = (int16_t)b;
}

/* The byte code point cp stands for, or -1. */
static int gpt2_byte(uint32_t cp)
{
    pthread_once(&g_inv_once, gpt2_init);
    return cp < 0x144 ? g_inv[cp] : -1;
}

/* Decodes one token's text (len bytes of UTF-8) into dst; returns its byte count or -1. */
static long decode_token(const unsigned char *s, size_t len, char *dst)
{
    long o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        unsigned char c = s[i];
        if (c < 0x80) { cp = c; i++; }
        else if ((c & 0xe0) == 0xc0 && i + 1 < len && (s[i + 1] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x1f) << 6 | (s[i + 1] & 0x3f);
            i += 2;
        } else return -1;   /* the alphabet ends at U+0143: two bytes at most */
        int b = gpt2_byte(cp);
        if (b < 0) return -1;
        dst[o++] = (char)b;
    }
    return o;
}

sp_status wl_add_token(wl_ctx *x, int i, const char *s, size_t len, size_t *off)
{
    wh_model *m = x->m;
    if (len > 1024) { sp_errf(x->err, x->en, "vocabulary token %d is %zu bytes long (max 1024)", i, len); return SP_ERR_MODEL_FORMAT; }
    long n = decode_token((const unsigned char *)s, len, m->vocab_own + *off);
    if (n < 0) {
        /* a '\r' is no byte-level character: the usual cause is a file saved with Windows
         * line endings, which the bare message did not suggest */
        sp_errf(x->err, x->en, "vocabulary token %d is not byte-level BPE text%s", i,
                len && s[len - 1] == '\r' ? " (it ends in a carriage return: CRLF line endings? "
                "vocabulary.txt needs LF only)" : "");
        return SP_ERR_MODEL_FORMAT;
    }
    m->vocab[i].bytes = m->vocab_own + *off;
    m->vocab[i].len = (uint32_t)n;
    *off += (size_t)n;
    return SP_OK;
}

static sp_status vocab_txt(wl_ctx *x, const char *t, size_t len, size_t *off)
{
    int i = 0;
    size_t p = 0;
    while (p < len) {
        const char *nl = memchr(t + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - t) : len;
        if (i >= x->m->hp.n_vocab) { sp_errf(x->err, x->en, "vocabulary has more than n_vocab %d tokens", x->m->hp.n_vocab); return SP_ERR_MODEL_FORMAT; }
        TRY(wl_add_token(x, i++, t + p, e - p, off));
        p = e + 1;
    }
    if (i != x->m->hp.n_vocab) { sp_errf(x->err, x->en, "vocabulary has %d tokens, the model %d", i, x->m->hp.n_vocab); return SP_ERR_MODEL_FORMAT; }
    return SP_OK;
}

static sp_status vocab_json(wl_ctx *x, const char *t, size_t len, size_t *off)
{
    json_error_t je;
    json_t *a = json_loadb(t, len, 0, &je);
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (!a || !json_is_array(a)) { sp_errf(x->err, x->en, "vocabulary.json is not a JSON array%s%s", a ? "" : ": ", a ? "" : je.text); goto done; }
    if (json_array_size(a) != (size_t)x->m->hp.n_vocab) {
        sp_errf(x->err, x->en, "vocabulary has %zu tokens, the model %d", json_array_size(a), x->m->hp.n_vocab);
        goto done;
    }
    for (int i = 0; i < x->m->hp.n_vocab; i++) {
        json_t *s = json_array_get(a, (size_t)i);
        if (!json_is_string(s)) { sp_errf(x->err, x->en, "vocabulary entry %d is not a string", i); goto done; }
        if ((st = wl_add_token(x, i, json_string_value(s), json_string_length(s), off)) != SP_OK) goto done;
    }
    st = SP_OK;
done:
    json_decref(a);
    return st;
}

int wl_tok_is(const wh_model *m, int id, const char *s)
{
    return m->vocab[id].len == strlen(s) && !memcmp(m->vocab[id].bytes, s, m->vocab[id].len);
}

/* Decodes the whole vocabulary (specials included, for the checks), then exposes the 50257
 * tokens a ggml file carries: the byte-level ranks (+ <|endoftext|> for .en models). */
static sp_status load_vocab(wl_ctx *x, const wh_ct2_side *side)
{
    wh_model *m = x->m;
    if (!side || !side->vocab) { sp_errf(x->err, x->en, "no vocabulary (vocabulary.txt or vocabulary.json)"); return SP_ERR_MODEL_FORMAT; }
    m->vocab = calloc((size_t)m->hp.n_vocab, sizeof *m->vocab);
    m->vocab_own = malloc(side->vocab_len + 1);   /* decoding never lengthens a token */
    if (!m->vocab || !m->vocab_own) return SP_ERR_NOMEM;
    size_t off = 0;
    TRY(side->vocab_is_json ? vocab_json(x, side->vocab, side->vocab_len, &off) : vocab_txt(x, side->vocab, side->vocab_len, &off));
    const wh_specials *s = &m->sp;
    const struct { int id; const char *text; } sp[] = {
        {s->eot, "<|endoftext|>"}, {s->sot, "<|startoftranscript|>"}, {s->lang_first, "<|en|>"},
        {s->translate, "<|translate|>"}, {s->transcribe, "<|transcribe|>"}, {s->notimestamps, "<|notimestamps|>"},
        {s->timestamp_begin, "<|0.00|>"},
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
        if (!wl_tok_is(m, sp[i].id, sp[i].text)) {
            sp_errf(x->err, x->en, "vocabulary token %d is not %s: the vocabulary does not belong to this model", sp[i].id, sp[i].text);
            return SP_ERR_MODEL_FORMAT;
        }
    m->n_tokens = 50257;
    return SP_OK;
}

/* ------------------------------------------------------------------ configs */

int wl_int_in(json_t *v, long lo, long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* "alignment_heads" of file (config.json, generation_config.json): [[layer, head], ...], each
 * a head of this model, kept in m->align_heads for the word timestamps (faster-whisper and
 * Transformers use them; for large-v2, turbo or distil models they are not openai's default). */
sp_status wl_align_heads(wl_ctx *x, json_t *v, const char *file)
{
    wh_model *m = x->m;
    json_t *h;
    size_t i;
    if (!json_is_array(v)) { sp_errf(x->err, x->en, "%s alignment_heads is not an array", file); return SP_ERR_MODEL_FORMAT; }
    m->n_align_heads = 0;
    json_array_foreach(v, i, h) {
        if (!json_is_array(h) || json_array_size(h) != 2 || !wl_int_in(json_array_get(h, 0), 0, m->hp.n_text_layer - 1) ||
            !wl_int_in(json_array_get(h, 1), 0, m->hp.n_text_head - 1)) {
            sp_errf(x->err, x->en, "%s alignment_heads[%zu] is not a [layer, head] pair of this model", file, i);
            m->n_align_heads = 0;
            return SP_ERR_MODEL_FORMAT;
        }
        const uint16_t l = (uint16_t)json_integer_value(json_array_get(h, 0)), hd = (uint16_t)json_integer_value(json_array_get(h, 1));
        int dup = 0;
        for (int k = 0; k < m->n_align_heads && !dup; k++) dup = m->align_heads[k][0] == l && m->align_heads[k][1] == hd;
        if (!dup && m->n_align_heads < WH_MAX_ALIGN_HEADS) {
            m->align_heads[m->n_align_heads][0] = l;
            m->align_heads[m->n_align_heads++][1] = hd;
        }
    }
    return SP_OK;
}

/* config.json (written by the converter): what it says must agree with the model. */
static sp_status check_config(wl_ctx *x, const char *t, size_t len)
{
    const wh_model *m = x->m;
    json_error_t je;
    json_t *o = json_loadb(t, len, 0, &je), *v;
    sp_status st = SP_ERR_MODEL_FORMAT;
    size_t i;
    if (!o || !json_is_object(o)) { sp_errf(x->err, x->en, "config.json is not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text); goto done; }
    /* English-only conversions list the multilingual ids here; they are never used */
    if ((v = json_object_get(o, "lang_ids")) && m->hp.n_vocab >= 51865) {
        if (!json_is_array(v) || json_array_size(v) != (size_t)m->sp.n_lang) { sp_errf(x->err, x->en, "config.json lang_ids does not list the model's %d languages", m->sp.n_lang); goto done; }
        for (i = 0; i < json_array_size(v); i++)
            if (!wl_int_in(json_array_get(v, i), m->sp.lang_first + (long)i, m->sp.lang_first + (long)i)) {
                sp_errf(x->err, x->en, "config.json lang_ids[%zu] is not token %ld", i, m->sp.lang_first + (long)i);
                goto done;
            }
    }
    if ((v = json_object_get(o, "alignment_heads")) && wl_align_heads(x, v, "config.json") != SP_OK) goto done;
    static const char *const lists[] = {"suppress_ids", "suppress_ids_begin"};
    for (int k = 0; k < 2; k++) {
        json_t *e;
        if (!(v = json_object_get(o, lists[k]))) continue;
        if (!json_is_array(v)) { sp_errf(x->err, x->en, "config.json %s is not an array", lists[k]); goto done; }
        json_array_foreach(v, i, e)
            if (!wl_int_in(e, 0, m->hp.n_vocab - 1)) { sp_errf(x->err, x->en, "config.json %s[%zu] is not a token id", lists[k], i); goto done; }
    }
    st = SP_OK;
done:
    json_decref(o);
    return st;
}

/* preprocessor_config.json (Transformers' WhisperFeatureExtractor settings): the engine
 * computes openai's features, so every setting present must be openai's. */
sp_status wl_check_preproc(wl_ctx *x, const char *t, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(t, len, 0, &je), *v;
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (!o || !json_is_object(o)) { sp_errf(x->err, x->en, "preprocessor_config.json is not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text); goto done; }
    const struct { const char *key; long want; } k[] = {
        {"feature_size", x->m->hp.n_mels}, {"sampling_rate", 16000}, {"hop_length", 160}, {"n_fft", 400},
        {"chunk_length", 30}, {"n_samples", 480000}, {"nb_max_frames", 3000},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (!(v = json_object_get(o, k[i].key))) continue;
        if (!wl_int_in(v, k[i].want, k[i].want)) {
            sp_errf(x->err, x->en, "preprocessor_config.json %s is not %ld (unsupported features)", k[i].key, k[i].want);
            st = SP_ERR_UNSUPPORTED;
            goto done;
        }
    }
    st = SP_OK;
done:
    json_decref(o);
    return st;
}

/* ------------------------------------------------------------------ mel filters */

static double hz_to_mel(double f)   /* Slaney: linear below 1 kHz, logarithmic above */
{
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    return mel >= min_log_mel ? min_log_hz * exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False,
 * norm="slaney") in double, rounded to float as whisper's mel_filters.npz holds it. */
float *wh_mel_filters_new(int n_mels)
{
    if (n_mels < 1 || n_mels > 512) return NULL;
    float *w = malloc((size_t)n_mels * 201 * sizeof *w);
    double *hz = malloc((size_t)(n_mels + 2) * sizeof *hz);
    if (!w || !hz) { free(w); free(hz); return NULL; }
    const double top = hz_to_mel(8000.0);
    for (int i = 0; i < n_mels + 2; i++) hz[i] = mel_to_hz(top * i / (n_mels + 1));
    for (int i = 0; i < n_mels; i++) {
        const double enorm = 2.0 / (hz[i + 2] - hz[i]);
        for (int k = 0; k < 201; k++) {
            const double f = k * 16000.0 / 400;
            double lower = (f - hz[i]) / (hz[i + 1] - hz[i]), upper = (hz[i + 2] - f) / (hz[i + 2] - hz[i + 1]);
            double v = lower < upper ? lower : upper;
            w[(size_t)i * 201 + k] = (float)((v > 0 ? v : 0.0) * enorm);
        }
    }
    free(hz);
    return w;
}

/* ------------------------------------------------------------------ entry points */

static sp_status parse_ct2(wh_model *m, const wh_ct2_side *side, char *err, size_t en)
{
    wl_ctx x = {.m = m, .err = err, .en = en};
    sp_status st;
    m->format = WH_FMT_CT2;
    if ((st = read_table(&x)) != SP_OK || (st = check_flags(&x)) != SP_OK || (st = derive_hparams(&x)) != SP_OK) goto done;
    wh_specials_init(&m->sp, m->hp.n_vocab);
    if ((st = bind_all(&x)) != SP_OK || (st = wl_materialise(&x)) != SP_OK || (st = load_vocab(&x, side)) != SP_OK) goto done;
    if (side->config && (st = check_config(&x, side->config, side->config_len)) != SP_OK) goto done;
    if (side->preproc && (st = wl_check_preproc(&x, side->preproc, side->preproc_len)) != SP_OK) goto done;
    m->filt_n_mel = m->hp.n_mels;
    m->filt_n_fft = 201;
    if (!(m->filters_own = wh_mel_filters_new(m->hp.n_mels))) { st = SP_ERR_NOMEM; goto done; }
    m->filters = m->filters_own;
done:
    free(x.vars);
    free(x.binds);
    return st;
}

sp_status wh_model_load_ct2_mem(const void *bin, size_t size, const wh_ct2_side *side, wh_model **out, char *err, size_t en)
{
    if (!out || !side) return SP_ERR_INVALID_ARG;
    *out = NULL;
    wh_model *m = calloc(1, sizeof *m);
    if (!m) return SP_ERR_NOMEM;
    m->map = (void *)bin;
    m->map_size = size;
    sp_status st = parse_ct2(m, side, err, en);
    if (st != SP_OK) { wh_model_free(m); return st; }
    *out = m;
    return SP_OK;
}

/* Reads a small side file whole; *data stays NULL (and 0 is returned) when it is absent. */
sp_status wh_read_side(const char *dir, const char *name, char **data, size_t *len, char *err, size_t en)
{
    char path[4096];
    *data = NULL;
    *len = 0;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {   /* cut short: another file */
        sp_errf(err, en, "model path '%.200s…' is too long", dir);
        return SP_ERR_INVALID_ARG;
    }
    /* O_NONBLOCK: opening a FIFO for reading waits for a writer, forever (the daemon hung at
     * start); with it the open returns and the S_ISREG check below refuses it. A regular
     * file ignores the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return SP_OK;
        sp_errf(err, en, "cannot open '%s': %s", path, strerror(errno));
        return SP_ERR_IO;
    }
    struct stat st;
    sp_status rc = SP_ERR_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        sp_errf(err, en, "'%s' is not a regular file of at most 64 MiB", path);
        goto cleanup;
    }
    *data = malloc((size_t)st.st_size + 1);
    if (!*data) { rc = SP_ERR_NOMEM; goto cleanup; }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, *data + got, (size_t)st.st_size - got);
        if (r <= 0) { sp_errf(err, en, "cannot read '%s'", path); free(*data); *data = NULL; goto cleanup; }
        got += (size_t)r;
    }
    *len = got;
    rc = SP_OK;
cleanup:
    close(fd);
    return rc;
}

sp_status wh_map_file(const char *path, wh_model *m, char *err, size_t en)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO: see wh_read_side */
    if (fd < 0) { sp_errf(err, en, "cannot open model '%s': %s", path, strerror(errno)); return SP_ERR_IO; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 8) {
        sp_errf(err, en, "model '%s' is not a regular file of at least 8 bytes", path);
        close(fd);
        return SP_ERR_IO;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) { sp_errf(err, en, "cannot map model '%s': %s", path, strerror(e)); return SP_ERR_IO; }
    m->map = map;
    m->map_size = (size_t)st.st_size;
    m->map_owned = 1;
    if (wh_model_note_file(m, path, &st) != 0) return SP_ERR_NOMEM;
    return SP_OK;
}

sp_status wh_ct2_load_dir(const char *dir, const char *bin_path, wh_model **out, char *err, size_t en)
{
    char d[4096], bin[4096], msg[512] = "";
    wh_ct2_side side = {0};
    char *voc = NULL, *cfg = NULL, *pre = NULL;
    wh_model *m = NULL;
    sp_status st;
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    const char *given = dir ? dir : bin_path;
    if (!given || strlen(given) + sizeof "/model.bin" > sizeof bin) {   /* never a cut-short path */
        sp_errf(err, en, "model path '%.200s…' is too long", given ? given : "");
        return SP_ERR_INVALID_ARG;
    }
    if (dir) {
        snprintf(d, sizeof d, "%s", dir);
        snprintf(bin, sizeof bin, "%s/model.bin", dir);
    } else {
        snprintf(bin, sizeof bin, "%s", bin_path);
        snprintf(d, sizeof d, "%s", bin_path);
        char *slash = strrchr(d, '/');
        if (slash) *slash = 0; else snprintf(d, sizeof d, ".");
    }
    if (dir && access(bin, F_OK) != 0) {
        sp_errf(err, en, "model '%s' is a directory without model.bin (not a CTranslate2 model directory)", dir);
        return SP_ERR_IO;
    }
    if ((st = wh_read_side(d, "vocabulary.json", &voc, &side.vocab_len, err, en)) != SP_OK) goto cleanup;
    side.vocab_is_json = voc != NULL;
    if (!voc && (st = wh_read_side(d, "vocabulary.txt", &voc, &side.vocab_len, err, en)) != SP_OK) goto cleanup;
    if ((st = wh_read_side(d, "config.json", &cfg, &side.config_len, err, en)) != SP_OK) goto cleanup;
    if ((st = wh_read_side(d, "preprocessor_config.json", &pre, &side.preproc_len, err, en)) != SP_OK) goto cleanup;
    side.vocab = voc; side.config = cfg; side.preproc = pre;
    if (!(m = calloc(1, sizeof *m))) { st = SP_ERR_NOMEM; goto cleanup; }
    if ((st = wh_map_file(bin, m, err, en)) != SP_OK) goto cleanup;
    if ((st = parse_ct2(m, &side, msg, sizeof msg)) != SP_OK) {
        sp_errf(err, en, "CTranslate2 model '%s': %s", d, msg);
        goto cleanup;
    }
    *out = m;
    m = NULL;
cleanup:
    wh_model_free(m);
    free(voc); free(cfg); free(pre);
    return st;
}
