/* model_st.c — Hugging Face Transformers Whisper checkpoints: a directory with
 * model.safetensors, config.json (WhisperConfig), vocab.json (+ added_tokens.json) and
 * optionally preprocessor_config.json. Read into the same wh_model as the other loaders,
 * through the binding of model_bind.h.
 *
 * safetensors (huggingface/safetensors docs, "Format"): u64 little-endian header length N,
 * N bytes of JSON {"name": {"dtype": "F32"|"F16"|..., "shape": [...], "data_offsets":
 * [begin, end]}, "__metadata__": {...}}, then the data; offsets are relative to the data.
 * Names and shapes (transformers models/whisper/modeling_whisper.py): separate q/k/v/out
 * projections ([out][in], k_proj without bias), fc1/fc2, *_layer_norm.{weight,bias},
 * embed_positions.weight, decoder.embed_tokens.weight; proj_out.weight, when saved, is the
 * embedding (tied). bfloat16 checkpoints are refused (no bf16 row type yet). */
#include "model_bind.h"
#include "common/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One header entry into v (name copied by the caller). */
static sp_status st_entry(wl_ctx *x, const char *name, json_t *e, const uint8_t *data, size_t data_size, wl_var *v)
{
    json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"), *off = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) || json_array_size(off) != 2 ||
        !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1))) {
        sp_errf(x->err, x->en, "safetensors entry '%s' lacks dtype, shape or data_offsets", name);
        return SP_ERR_MODEL_FORMAT;
    }
    const char *d = json_string_value(dt);
    if (!strcmp(d, "F32")) v->dtype = CT_F32;
    else if (!strcmp(d, "F16")) v->dtype = CT_F16;
    else { sp_errf(x->err, x->en, "tensor '%s' has dtype %s (F32 and F16 supported)", name, d); return SP_ERR_UNSUPPORTED; }
    if (json_array_size(sh) > 4) { sp_errf(x->err, x->en, "tensor '%s' has rank %zu (at most 4)", name, json_array_size(sh)); return SP_ERR_MODEL_FORMAT; }
    v->rank = (int)json_array_size(sh);
    uint64_t nel = 1;
    for (int i = 0; i < v->rank; i++) {
        json_t *k = json_array_get(sh, (size_t)i);
        if (!wl_int_in(k, 0, 1 << 30)) { sp_errf(x->err, x->en, "tensor '%s' has a bad dimension %d", name, i); return SP_ERR_MODEL_FORMAT; }
        v->dims[i] = json_integer_value(k);
        nel *= (uint64_t)v->dims[i];
        if (nel > ((uint64_t)1 << 40)) { sp_errf(x->err, x->en, "tensor '%s' is impossibly large", name); return SP_ERR_MODEL_FORMAT; }
    }
    json_int_t b = json_integer_value(json_array_get(off, 0)), e2 = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e2 < b || (uint64_t)e2 > data_size) {
        sp_errf(x->err, x->en, "tensor '%s' data [%lld, %lld) outside the %zu data bytes", name, (long long)b, (long long)e2, data_size);
        return SP_ERR_MODEL_FORMAT;
    }
    if ((uint64_t)(e2 - b) != nel * wl_dtype_size[v->dtype]) {
        sp_errf(x->err, x->en, "tensor '%s' has %lld bytes for %llu elements", name, (long long)(e2 - b), (unsigned long long)nel);
        return SP_ERR_MODEL_FORMAT;
    }
    v->data = data + b;
    v->nbytes = (size_t)(e2 - b);
    return SP_OK;
}

/* The header into x->vars (sorted); names are copied into *names (freed by the caller). */
static sp_status st_table(wl_ctx *x, char **names)
{
    const uint8_t *base = x->m->map;
    const size_t size = x->m->map_size;
    uint64_t hl;
    if (size < 8) { sp_errf(x->err, x->en, "file too short for a safetensors header"); return SP_ERR_MODEL_FORMAT; }
    memcpy(&hl, base, 8);
    if (hl < 2 || hl > size - 8 || hl > (100u << 20)) { sp_errf(x->err, x->en, "safetensors header length %llu impossible for a %zu-byte file", (unsigned long long)hl, size); return SP_ERR_MODEL_FORMAT; }
    json_error_t je;
    json_t *h = json_loadb((const char *)base + 8, (size_t)hl, 0, &je);
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (!h || !json_is_object(h)) { sp_errf(x->err, x->en, "safetensors header is not a JSON object%s%s", h ? "" : ": ", h ? "" : je.text); goto done; }
    size_t n = json_object_size(h), chars = 0, i = 0;
    const char *key;
    json_t *e;
    json_object_foreach(h, key, e) chars += strlen(key) + 1;
    x->vars = calloc(n ? n : 1, sizeof *x->vars);
    *names = malloc(chars ? chars : 1);
    if (!x->vars || !*names) { st = SP_ERR_NOMEM; goto done; }
    char *np = *names;
    json_object_foreach(h, key, e) {
        if (!strcmp(key, "__metadata__")) continue;
        if (!json_is_object(e)) { sp_errf(x->err, x->en, "safetensors entry '%s' is not an object", key); goto done; }
        if ((st = st_entry(x, key, e, base + 8 + hl, size - 8 - (size_t)hl, &x->vars[i])) != SP_OK) goto done;
        strcpy(np, key);
        x->vars[i++].name = np;
        np += strlen(key) + 1;
    }
    x->n_vars = (int)i;
    qsort(x->vars, i, sizeof *x->vars, wl_var_cmp);
    st = SP_OK;
done:
    json_decref(h);
    return st;
}

/* WhisperConfig: the sizes, checked again against every tensor's shape by the binding. */
static sp_status st_hparams(wl_ctx *x, const char *cfg, size_t len)
{
    static const char *const keys[9] = {"d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
                                        "num_mel_bins", "max_source_positions", "max_target_positions", "vocab_size"};
    long v[9];
    json_error_t je;
    json_t *o = cfg ? json_loadb(cfg, len, 0, &je) : NULL, *mt;
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (!o || !json_is_object(o)) { sp_errf(x->err, x->en, "config.json is missing or not a JSON object"); goto done; }
    if ((mt = json_object_get(o, "model_type")) && (!json_is_string(mt) || strcmp(json_string_value(mt), "whisper"))) {
        sp_errf(x->err, x->en, "config.json model_type is not \"whisper\"");
        st = SP_ERR_UNSUPPORTED;
        goto done;
    }
    for (int i = 0; i < 9; i++) {
        json_t *k = json_object_get(o, keys[i]);
        if (!wl_int_in(k, 1, 1 << 20)) { sp_errf(x->err, x->en, "config.json %s is missing or out of range", keys[i]); goto done; }
        v[i] = (long)json_integer_value(k);
    }
    wh_hparams *hp = &x->m->hp;
    hp->n_audio_state = hp->n_text_state = (int)v[0];
    hp->n_audio_layer = (int)v[1];
    hp->n_text_layer = (int)v[2];
    hp->n_audio_head = (int)v[3];
    hp->n_text_head = (int)v[4];
    hp->n_mels = (int)v[5];
    hp->n_audio_ctx = (int)v[6];
    hp->n_text_ctx = (int)v[7];
    hp->n_vocab = (int)v[8];
    st = wh_hparams_check(hp, x->err, x->en);
done:
    json_decref(o);
    return st;
}

#define TRY(e) do { sp_status st_ = (e); if (st_ != SP_OK) return st_; } while (0)

static sp_status st_bind(wl_ctx *x, int role, int64_t d0, int64_t d1, int64_t d2, wh_tensor *t, const char *fmt, const char *pre, const char *leaf)
{
    char nm[192];
    snprintf(nm, sizeof nm, fmt, pre, leaf);
    return wl_bind_var(x, nm, role, d0, d1, d2, 1, t, NULL, NULL);
}

static sp_status st_attn(wl_ctx *x, const char *pre, int64_t n, wh_attn *a)
{
    TRY(st_bind(x, ROLE_W, n, n, 0, &a->q_w, "%s.%s", pre, "q_proj.weight"));
    TRY(st_bind(x, ROLE_F, n, 0, 0, &a->q_b, "%s.%s", pre, "q_proj.bias"));
    TRY(st_bind(x, ROLE_W, n, n, 0, &a->k_w, "%s.%s", pre, "k_proj.weight"));
    TRY(st_bind(x, ROLE_W, n, n, 0, &a->v_w, "%s.%s", pre, "v_proj.weight"));
    TRY(st_bind(x, ROLE_F, n, 0, 0, &a->v_b, "%s.%s", pre, "v_proj.bias"));
    TRY(st_bind(x, ROLE_W, n, n, 0, &a->o_w, "%s.%s", pre, "out_proj.weight"));
    return st_bind(x, ROLE_F, n, 0, 0, &a->o_b, "%s.%s", pre, "out_proj.bias");
}

static sp_status st_ln(wl_ctx *x, const char *pre, int64_t n, wh_tensor *w, wh_tensor *b)
{
    TRY(st_bind(x, ROLE_F, n, 0, 0, w, "%s.%s", pre, "weight"));
    return st_bind(x, ROLE_F, n, 0, 0, b, "%s.%s", pre, "bias");
}

static sp_status st_layer(wl_ctx *x, const char *side, int l, int64_t n, wh_layer *L, int dec)
{
    char pre[96], p[128];
    snprintf(pre, sizeof pre, "model.%s.layers.%d", side, l);
    snprintf(p, sizeof p, "%s.self_attn", pre);
    TRY(st_attn(x, p, n, &L->attn));
    snprintf(p, sizeof p, "%s.self_attn_layer_norm", pre);
    TRY(st_ln(x, p, n, &L->attn_ln_w, &L->attn_ln_b));
    if (dec) {
        snprintf(p, sizeof p, "%s.encoder_attn", pre);
        TRY(st_attn(x, p, n, &L->cross));
        snprintf(p, sizeof p, "%s.encoder_attn_layer_norm", pre);
        TRY(st_ln(x, p, n, &L->cross_ln_w, &L->cross_ln_b));
    }
    TRY(st_bind(x, ROLE_W, 4 * n, n, 0, &L->mlp0_w, "%s.%s", pre, "fc1.weight"));
    TRY(st_bind(x, ROLE_F, 4 * n, 0, 0, &L->mlp0_b, "%s.%s", pre, "fc1.bias"));
    TRY(st_bind(x, ROLE_W, n, 4 * n, 0, &L->mlp2_w, "%s.%s", pre, "fc2.weight"));
    TRY(st_bind(x, ROLE_F, n, 0, 0, &L->mlp2_b, "%s.%s", pre, "fc2.bias"));
    snprintf(p, sizeof p, "%s.final_layer_norm", pre);
    return st_ln(x, p, n, &L->mlp_ln_w, &L->mlp_ln_b);
}

static sp_status st_bind_all(wl_ctx *x)
{
    static const wl_layout lay = {
        "model.encoder.conv1.weight", "model.encoder.conv1.bias", "model.encoder.conv2.weight",
        "model.encoder.conv2.bias", "model.encoder.embed_positions.weight", "model.encoder.layer_norm",
        "model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight", "model.decoder.layer_norm",
        st_ln, st_layer};
    wh_model *m = x->m;
    TRY(wl_bind_model(x, &lay));
    /* the engine ties the output projection to the embedding, as Whisper does */
    wl_var *p = wl_find(x, "proj_out.weight"), *e = wl_find(x, "model.decoder.embed_tokens.weight");
    if (p) {
        if (p->nbytes != e->nbytes || p->dtype != e->dtype || memcmp(p->data, e->data, p->nbytes)) {
            sp_errf(x->err, x->en, "proj_out.weight differs from the token embedding (untied projection: unsupported)");
            return SP_ERR_UNSUPPORTED;
        }
        p->used = 1;
    }
    m->hp.ftype = e->dtype == CT_F32 ? 0 : 1;
    return wl_check_unused(x);
}

/* vocab.json (+ added_tokens.json): {"token": id} maps. Ids 0..eot must all be there. */
static sp_status st_vocab_map(wl_ctx *x, const char *t, size_t len, const char *what, size_t *off, char *seen)
{
    json_error_t je;
    json_t *o = json_loadb(t, len, 0, &je), *v;
    const char *key;
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (!o || !json_is_object(o)) { sp_errf(x->err, x->en, "%s is not a JSON object", what); goto done; }
    json_object_foreach(o, key, v) {
        if (!wl_int_in(v, 0, x->m->hp.n_vocab - 1)) { sp_errf(x->err, x->en, "%s: token id of '%.40s' out of range", what, key); goto done; }
        int id = (int)json_integer_value(v);
        const wh_token_bytes prev = x->m->vocab[id];
        const size_t at = *off;
        if ((st = wl_add_token(x, id, key, strlen(key), off)) != SP_OK) goto done;
        if (seen[id]) {   /* added_tokens.json may repeat vocab.json's <|endoftext|>: same text only */
            const int same = prev.len == x->m->vocab[id].len && !memcmp(prev.bytes, x->m->vocab[id].bytes, prev.len);
            x->m->vocab[id] = prev;
            *off = at;
            if (!same) { sp_errf(x->err, x->en, "%s: token id %d given twice", what, id); st = SP_ERR_MODEL_FORMAT; goto done; }
        }
        seen[id] = 1;
        st = SP_ERR_MODEL_FORMAT;
    }
    st = SP_OK;
done:
    json_decref(o);
    return st;
}

typedef struct {
    const char *config; size_t config_len;
    const char *vocab; size_t vocab_len;
    const char *added; size_t added_len;
    const char *preproc; size_t preproc_len;
    const char *gen; size_t gen_len;   /* generation_config.json: only its alignment_heads */
} st_side;

static sp_status st_vocab(wl_ctx *x, const st_side *side)
{
    wh_model *m = x->m;
    const wh_specials *s = &m->sp;
    if (!side->vocab) { sp_errf(x->err, x->en, "no vocab.json"); return SP_ERR_MODEL_FORMAT; }
    char *seen = calloc((size_t)m->hp.n_vocab, 1);
    m->vocab = calloc((size_t)m->hp.n_vocab, sizeof *m->vocab);
    m->vocab_own = malloc(side->vocab_len + side->added_len + 1);
    sp_status st = SP_ERR_NOMEM;
    if (!seen || !m->vocab || !m->vocab_own) goto done;
    for (int i = 0; i < m->hp.n_vocab; i++) m->vocab[i].bytes = m->vocab_own;
    size_t off = 0;
    if ((st = st_vocab_map(x, side->vocab, side->vocab_len, "vocab.json", &off, seen)) != SP_OK) goto done;
    if (side->added && (st = st_vocab_map(x, side->added, side->added_len, "added_tokens.json", &off, seen)) != SP_OK) goto done;
    st = SP_ERR_MODEL_FORMAT;
    for (int i = 0; i <= s->eot; i++)
        if (!seen[i]) { sp_errf(x->err, x->en, "the vocabulary has no token %d", i); goto done; }
    const struct { int id; const char *text; } sp[] = {
        {s->eot, "<|endoftext|>"}, {s->sot, "<|startoftranscript|>"}, {s->lang_first, "<|en|>"}, {s->translate, "<|translate|>"},
        {s->transcribe, "<|transcribe|>"}, {s->notimestamps, "<|notimestamps|>"}, {s->timestamp_begin, "<|0.00|>"},
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)   /* the ones the files name must be where the size says */
        if ((sp[i].id == s->eot || seen[sp[i].id]) && !wl_tok_is(m, sp[i].id, sp[i].text)) {
            sp_errf(x->err, x->en, "vocabulary token %d is not %s: the vocabulary does not belong to this model", sp[i].id, sp[i].text);
            goto done;
        }
    m->n_tokens = 50257;
    st = SP_OK;
done:
    free(seen);
    return st;
}

/* generation_config.json: Transformers keeps the model's alignment heads here */
static sp_status st_generation(wl_ctx *x, const char *t, size_t len)
{
    json_t *o = json_loadb(t, len, 0, NULL), *v;
    sp_status st = SP_OK;
    if (!o || !json_is_object(o)) { sp_errf(x->err, x->en, "generation_config.json is not a JSON object"); st = SP_ERR_MODEL_FORMAT; }
    else if ((v = json_object_get(o, "alignment_heads"))) st = wl_align_heads(x, v, "generation_config.json");
    json_decref(o);
    return st;
}

static sp_status parse_st(wh_model *m, const st_side *side, char *err, size_t en)
{
    wl_ctx x = {.m = m, .err = err, .en = en};
    char *names = NULL;
    sp_status st;
    m->format = WH_FMT_HF;
    if ((st = st_table(&x, &names)) != SP_OK || (st = st_hparams(&x, side->config, side->config_len)) != SP_OK) goto done;
    wh_specials_init(&m->sp, m->hp.n_vocab);
    if ((st = st_bind_all(&x)) != SP_OK || (st = wl_materialise(&x)) != SP_OK || (st = st_vocab(&x, side)) != SP_OK) goto done;
    if (side->preproc && (st = wl_check_preproc(&x, side->preproc, side->preproc_len)) != SP_OK) goto done;
    if (side->gen && (st = st_generation(&x, side->gen, side->gen_len)) != SP_OK) goto done;
    m->filt_n_mel = m->hp.n_mels;
    m->filt_n_fft = 201;
    if (!(m->filters_own = wh_mel_filters_new(m->hp.n_mels))) { st = SP_ERR_NOMEM; goto done; }
    m->filters = m->filters_own;
done:
    free(x.vars);
    free(x.binds);
    free(names);   /* bindings keep tensor views, not names */
    return st;
}

int wh_st_sniff(const void *data, size_t size)
{
    uint64_t hl;
    if (size < 10) return 0;
    memcpy(&hl, data, 8);
    return hl >= 2 && hl <= size - 8 && ((const char *)data)[8] == '{';
}

sp_status wh_model_load_st_mem(const void *st_data, size_t size, const char *config, size_t config_len, const char *vocab,
                               size_t vocab_len, wh_model **out, char *err, size_t en)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    wh_model *m = calloc(1, sizeof *m);
    if (!m) return SP_ERR_NOMEM;
    m->map = (void *)st_data;
    m->map_size = size;
    st_side side = {config, config_len, vocab, vocab_len, NULL, 0, NULL, 0, NULL, 0};
    sp_status st = parse_st(m, &side, err, en);
    if (st != SP_OK) { wh_model_free(m); return st; }
    *out = m;
    return SP_OK;
}

sp_status wh_st_load_dir(const char *dir, const char *file, wh_model **out, char *err, size_t en)
{
    char p[4096], msg[512] = "";
    char *cfg = NULL, *voc = NULL, *add = NULL, *pre = NULL, *gen = NULL;
    st_side side = {0};
    wh_model *m = NULL;
    sp_status st;
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    if ((st = wh_read_side(dir, "config.json", &cfg, &side.config_len, err, en)) != SP_OK ||
        (st = wh_read_side(dir, "vocab.json", &voc, &side.vocab_len, err, en)) != SP_OK ||
        (st = wh_read_side(dir, "added_tokens.json", &add, &side.added_len, err, en)) != SP_OK ||
        (st = wh_read_side(dir, "preprocessor_config.json", &pre, &side.preproc_len, err, en)) != SP_OK ||
        (st = wh_read_side(dir, "generation_config.json", &gen, &side.gen_len, err, en)) != SP_OK)
        goto cleanup;
    side.config = cfg; side.vocab = voc; side.added = add; side.preproc = pre; side.gen = gen;
    if (!(m = calloc(1, sizeof *m))) { st = SP_ERR_NOMEM; goto cleanup; }
    if (!file && snprintf(p, sizeof p, "%s/model.safetensors", dir) >= (int)sizeof p) {
        sp_errf(err, en, "model path '%.200s…' is too long", dir);
        st = SP_ERR_INVALID_ARG;
        goto cleanup;
    }
    if ((st = wh_map_file(file ? file : p, m, err, en)) != SP_OK) goto cleanup;
    if ((st = parse_st(m, &side, msg, sizeof msg)) != SP_OK) {
        sp_errf(err, en, "Transformers model '%s': %s", file ? file : dir, msg);
        goto cleanup;
    }
    *out = m;
    m = NULL;
cleanup:
    wh_model_free(m);
    free(cfg); free(voc); free(add); free(pre); free(gen);
    return st;
}
