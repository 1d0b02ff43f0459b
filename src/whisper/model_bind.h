/* model_bind.h — what the non-ggml readers share (model_ct2.c, model_st.c): a table of the
 * file's variables, the binding of each to wh_model slots with its shape and type checked,
 * and the materialising of views, f32 copies and repacked int8 rows. Private to the loaders. */
#ifndef WH_MODEL_BIND_H
#define WH_MODEL_BIND_H
#include "model.h"
#include <jansson.h>

enum { CT_F32 = 0, CT_I8 = 1, CT_I16 = 2, CT_I32 = 3, CT_F16 = 4, CT_BF16 = 5 };
extern const char *const wl_dtype_name[6];
extern const size_t wl_dtype_size[6];

typedef struct {
    const char *name;        /* NUL-terminated: in the mapping (CT2) or owned by the reader */
    int rank, dtype, used;
    int64_t dims[4];
    const uint8_t *data;
    size_t nbytes;
} wl_var;


/* What one variable becomes: role F (norms, biases, position tables: f32 copies), W (weight
 * matrices, split into `parts` equal row blocks, one per slot; NULL slots are dropped). */
enum { ROLE_F = 0, ROLE_W = 1 };
typedef struct {
    wl_var *v, *scale;
    int role, parts;
    wh_tensor *slot[3];
} wl_bindrec;

typedef struct {
    wh_model *m;
    wl_var *vars;
    int n_vars;
    wl_bindrec *binds;
    int n_binds, cap_binds;
    char *err;
    size_t en;
} wl_ctx;

int wl_var_cmp(const void *a, const void *b);
wl_var *wl_find(wl_ctx *x, const char *name);
const char *wl_dims_str(char *buf, size_t n, int rank, const int64_t *d);
/* Expects variable `name` with dims (d0[, d1[, d2]]) (0 = absent) and records where it goes:
 * role F (f32 copies) or W (weights: f32, f16, or int8 with "<name>_scale"), split into
 * `parts` equal row blocks for slots s0..s2 (NULL: dropped). */
sp_status wl_bind_var(wl_ctx *x, const char *name, int role, int64_t d0, int64_t d1, int64_t d2, int parts,
                      wh_tensor *s0, wh_tensor *s1, wh_tensor *s2);
sp_status wl_check_unused(wl_ctx *x);   /* a variable no binding used is an error */
/* A format's names for the model-level tensors, and its LayerNorm and layer binders: the
 * readers differ only in these, so the walk over a Whisper model is written once. */
typedef struct {
    const char *conv1_w, *conv1_b, *conv2_w, *conv2_b, *e_pe, *e_ln, *tok_emb, *d_pe, *d_ln;
    sp_status (*ln)(wl_ctx *x, const char *pre, int64_t n, wh_tensor *w, wh_tensor *b);
    sp_status (*layer)(wl_ctx *x, const char *side, int l, int64_t n, wh_layer *L, int is_dec);
} wl_layout;
/* Allocates the layer arrays and binds every tensor of the model as lay names it (the
 * caller then checks for unused variables). */
sp_status wl_bind_model(wl_ctx *x, const wl_layout *lay);
sp_status wl_materialise(wl_ctx *x);
/* decodes token i (GPT-2 byte-level text) into m->vocab_own at *off */
sp_status wl_add_token(wl_ctx *x, int i, const char *s, size_t len, size_t *off);
int wl_tok_is(const wh_model *m, int id, const char *s);
int wl_int_in(json_t *v, long lo, long hi);
sp_status wl_check_preproc(wl_ctx *x, const char *t, size_t len);
/* checks file's "alignment_heads" value v against the model and keeps them (m->align_heads) */
sp_status wl_align_heads(wl_ctx *x, json_t *v, const char *file);
/* dir/name read whole (at most 64 MiB); *data NULL and SP_OK when it does not exist */
sp_status wh_read_side(const char *dir, const char *name, char **data, size_t *len, char *err, size_t en);
/* maps path into m (map, map_size, map_owned) and notes it as the model's file */
sp_status wh_map_file(const char *path, wh_model *m, char *err, size_t en);
#endif
