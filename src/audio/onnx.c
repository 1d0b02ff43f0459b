/* onnx.c — aud_onnx_*: just enough of an ONNX file (a protobuf ModelProto) to take a small
 * model's weights from it: its tensors by name (the graph's initializers and its Constant
 * nodes' values), and its nodes' op types, input names and integer attributes — in the top
 * graph and in every graph its nodes hold (an If's branches: Silero's own export keeps its
 * whole network in the branches of one If on the sample rate). No graph is executed; the
 * caller knows the network (the Silero VAD, vad_silero.c) and uses this to find its tensors
 * and check its shape.
 *
 * Protobuf wire format: each field is a varint key (field number << 3 | wire type) and a
 * value — 0 a varint, 1 eight bytes, 2 a varint length and that many bytes (strings,
 * sub-messages, packed repeated numbers), 5 four bytes. The file is untrusted: every length
 * is checked against the bytes left, varints are at most 10 bytes, groups (3, 4) and unknown
 * wire types are refused, and graphs nest at most ONNX_MAX_DEPTH deep (the recursion's
 * bound). Field numbers are onnx.proto's (ONNX 1.x, stable since IR v3):
 *   ModelProto.graph 7; GraphProto.node 1, .initializer 5;
 *   NodeProto.input 1, .output 2, .op_type 4, .attribute 5;
 *   AttributeProto.name 1, .i 3, .t 5, .g 6, .ints 8, .graphs 11;
 *   TensorProto.dims 1, .data_type 2, .float_data 4, .name 8, .raw_data 9, .data_location 14. */
#include "audio/audio_internal.h"

#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} pb;

typedef struct {
    uint32_t field;
    int wt;
    uint64_t v;    /* wire type 0 */
    pb sub;        /* wire types 1, 2, 5: the value's bytes */
} pb_field;

static int pb_varint(pb *c, uint64_t *v)
{
    uint64_t r = 0;
    for (int s = 0; s < 70; s += 7) {
        if (c->p >= c->end) return -1;
        const uint8_t b = *c->p++;
        if (s == 63 && b > 1) return -1;   /* past 64 bits */
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* The next field of c into f: 1, 0 at the end, -1 malformed. */
static int pb_next(pb *c, pb_field *f)
{
    if (c->p >= c->end) return 0;
    uint64_t key, len;
    if (pb_varint(c, &key) || key >> 35) return -1;
    f->field = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->v = 0;
    switch (f->wt) {
    case 0: return pb_varint(c, &f->v) ? -1 : 1;
    case 1: len = 8; break;
    case 5: len = 4; break;
    case 2:
        if (pb_varint(c, &len)) return -1;
        break;
    default: return -1;
    }
    if (len > (uint64_t)(c->end - c->p)) return -1;
    f->sub = (pb){ c->p, c->p + len };
    c->p += len;
    return 1;
}

/* a length-delimited field's bytes as a C string into out (n bytes); -1 when it does not fit */
static int pb_str(const pb_field *f, char *out, size_t n)
{
    const size_t l = (size_t)(f->sub.end - f->sub.p);
    if (f->wt != 2 || l >= n) return -1;
    memcpy(out, f->sub.p, l);
    out[l] = 0;
    return 0;
}

/* the graph (ModelProto field 7): 0, or -1 when the file is not a model with one */
static int onnx_graph(const uint8_t *buf, size_t len, pb *g)
{
    pb c = { buf, buf + len };
    pb_field f;
    int r, found = 0;
    while ((r = pb_next(&c, &f)) == 1)
        if (f.field == 7 && f.wt == 2) {
            *g = f.sub;
            found = 1;
        }
    return r == 0 && found ? 0 : -1;
}

/* one repeated int64 field's values (packed or not), appended to v[*n] (at most max) */
static int pb_ints(const pb_field *f, int64_t *v, int *n, int max)
{
    if (f->wt == 0) {
        if (*n >= max) return -1;
        v[(*n)++] = (int64_t)f->v;
        return 0;
    }
    if (f->wt != 2) return -1;
    pb c = f->sub;
    uint64_t x;
    while (c.p < c.end) {
        if (pb_varint(&c, &x) || *n >= max) return -1;
        v[(*n)++] = (int64_t)x;
    }
    return 0;
}

static int tensor_read(pb t, aud_onnx_tensor *out)
{
    memset(out, 0, sizeof *out);
    pb_field f;
    int r;
    while ((r = pb_next(&t, &f)) == 1) {
        if (f.field == 1 && pb_ints(&f, out->dims, &out->ndims, AUD_ONNX_MAX_DIMS)) return -1;
        else if (f.field == 2 && f.wt == 0) out->dtype = (int)f.v;
        else if (f.field == 8 && pb_str(&f, out->name, sizeof out->name)) out->name[0] = 0;   /* too long: none of ours */
        else if ((f.field == 9 || f.field == 4) && f.wt == 2) {   /* raw_data; packed float_data */
            out->data = f.sub.p;
            out->bytes = (size_t)(f.sub.end - f.sub.p);
        } else if (f.field == 4 && f.wt == 5) {
            return -1;   /* float_data not packed: no writer we know of; refused, not misread */
        } else if (f.field == 14 && f.wt == 0 && f.v != 0) {
            out->external = 1;   /* data_location EXTERNAL: the weights are in another file */
        }
    }
    return r;
}

#define ONNX_MAX_DEPTH 16   /* graphs within graphs (Silero's export: 5) */

static int node_read(pb nd, aud_onnx_node *out)
{
    memset(out, 0, sizeof *out);
    pb_field f;
    int r;
    while ((r = pb_next(&nd, &f)) == 1) {
        /* a name too long for these buffers is none of the caller's (kept as ""); inputs and
         * attributes past the first AUD_ONNX_MAX_IN / _ATTRS are not kept */
        if (f.field == 1 && f.wt == 2) {
            if (out->n_in >= AUD_ONNX_MAX_IN) continue;
            if (pb_str(&f, out->in[out->n_in], sizeof out->in[0])) out->in[out->n_in][0] = 0;
            out->n_in++;
        } else if (f.field == 2 && f.wt == 2 && !out->n_out++) {
            if (pb_str(&f, out->out, sizeof out->out)) out->out[0] = 0;
        } else if (f.field == 4 && pb_str(&f, out->op, sizeof out->op)) {
            out->op[0] = 0;
        } else if (f.field == 5 && f.wt == 2 && out->n_attrs < AUD_ONNX_MAX_ATTRS) {
            out->attrs[out->n_attrs] = f.sub.p;
            out->attr_end[out->n_attrs++] = f.sub.end;
        }
    }
    return r;
}

/* What a walk looks for; a callback returns 1 to stop the walk there. */
typedef struct {
    int (*tensor)(const aud_onnx_tensor *t, void *ctx);
    int (*node)(const aud_onnx_node *nd, void *ctx);
    void *ctx;
} walker;

/* A Constant node's value (its attribute "value", a TensorProto), named by its output as
 * the nodes that use it name it: 1 and *t, 0 none, -1 malformed */
static int constant_value(const aud_onnx_node *nd, aud_onnx_tensor *t)
{
    for (int a = 0; a < nd->n_attrs; a++) {
        pb c = { nd->attrs[a], nd->attr_end[a] }, val = { NULL, NULL };
        pb_field f;
        char name[16] = "";
        int r;
        while ((r = pb_next(&c, &f)) == 1) {
            if (f.field == 1 && pb_str(&f, name, sizeof name)) name[0] = 0;
            else if (f.field == 5 && f.wt == 2) val = f.sub;
        }
        if (r < 0) return -1;
        if (strcmp(name, "value") || !val.p) continue;
        if (tensor_read(val, t) != 0) return -1;
        _Static_assert(sizeof t->name == sizeof nd->out, "a node's output names a tensor");
        memcpy(t->name, nd->out, sizeof t->name);   /* NUL-terminated (node_read) */
        return 1;
    }
    return 0;
}

static int walk_graph(pb g, int depth, const walker *w);

/* the graphs a node's attributes hold (g: one, graphs: a list), each walked */
static int walk_subgraphs(const aud_onnx_node *nd, int depth, const walker *w)
{
    for (int a = 0; a < nd->n_attrs; a++) {
        pb c = { nd->attrs[a], nd->attr_end[a] };
        pb_field f;
        int r, rr;
        while ((r = pb_next(&c, &f)) == 1)
            if ((f.field == 6 || f.field == 11) && f.wt == 2 && (rr = walk_graph(f.sub, depth + 1, w)) != 0) return rr;
        if (r < 0) return -1;
    }
    return 0;
}

/* Depth first, in file order: each initializer, each node (then, for a Constant, its value;
 * then the graphs in its attributes). 1 stopped by a callback, 0 the end, -1 malformed or
 * nested too deep. */
static int walk_graph(pb g, int depth, const walker *w)
{
    if (depth > ONNX_MAX_DEPTH) return -1;
    pb_field f;
    int r, rr;
    while ((r = pb_next(&g, &f)) == 1) {
        if (f.wt != 2) continue;
        if (f.field == 5 && w->tensor) {
            aud_onnx_tensor x;
            if (tensor_read(f.sub, &x) != 0) return -1;
            if (w->tensor(&x, w->ctx)) return 1;
        } else if (f.field == 1) {
            aud_onnx_node nd;
            if (node_read(f.sub, &nd) != 0) return -1;
            if (w->node && w->node(&nd, w->ctx)) return 1;
            if (w->tensor && !strcmp(nd.op, "Constant")) {
                aud_onnx_tensor x;
                if ((rr = constant_value(&nd, &x)) < 0) return -1;
                if (rr && w->tensor(&x, w->ctx)) return 1;
            }
            if ((rr = walk_subgraphs(&nd, depth, w)) != 0) return rr;
        }
    }
    return r;
}

static int walk(const uint8_t *buf, size_t len, const walker *w)
{
    pb g;
    if (onnx_graph(buf, len, &g)) return -1;
    return walk_graph(g, 0, w);
}

/* a tensor query: the name (whole, or its end), and the dims when nd >= 0 */
typedef struct {
    const char *name;
    int suffix;
    const int64_t *dims;
    int nd;
    aud_onnx_tensor *out;
} tensor_q;

static int tensor_match(const aud_onnx_tensor *t, void *ctx)
{
    const tensor_q *q = ctx;
    const size_t n = strlen(t->name), k = strlen(q->name);
    if (q->suffix ? n < k || strcmp(t->name + n - k, q->name) : strcmp(t->name, q->name)) return 0;
    if (q->nd >= 0 && (t->ndims != q->nd || memcmp(t->dims, q->dims, sizeof(int64_t) * (size_t)q->nd))) return 0;
    *q->out = *t;
    return 1;
}

static int tensor_find(const uint8_t *buf, size_t len, const tensor_q *q)
{
    const walker w = { tensor_match, NULL, (void *)q };
    const int r = walk(buf, len, &w);
    return r == 1 ? 0 : r < 0 ? -1 : 1;
}

int aud_onnx_tensor_get(const uint8_t *buf, size_t len, const char *name, aud_onnx_tensor *out)
{
    const tensor_q q = { name, 0, NULL, -1, out };
    return tensor_find(buf, len, &q);
}

int aud_onnx_tensor_suffix(const uint8_t *buf, size_t len, const char *suffix, const int64_t *dims, int nd,
                           aud_onnx_tensor *out)
{
    const tensor_q q = { suffix, 1, dims, nd, out };
    return tensor_find(buf, len, &q);
}

typedef struct {
    const char *op, *name;
    int input;
    aud_onnx_node *out;
} node_q;

static int node_match(const aud_onnx_node *x, void *ctx)
{
    const node_q *q = ctx;
    if (strcmp(x->op, q->op) || (q->name && (q->input >= x->n_in || strcmp(x->in[q->input], q->name)))) return 0;
    *q->out = *x;
    return 1;
}

int aud_onnx_node_get(const uint8_t *buf, size_t len, const char *op, int input, const char *name,
                      aud_onnx_node *out)
{
    node_q q = { op, name, input, out };
    const walker w = { NULL, node_match, &q };
    const int r = walk(buf, len, &w);
    return r == 1 ? 0 : r < 0 ? -1 : 1;
}

int aud_onnx_node_ints(const aud_onnx_node *nd, const char *attr, int64_t *v, int max)
{
    for (int a = 0; a < nd->n_attrs; a++) {
        pb c = { nd->attrs[a], nd->attr_end[a] };
        pb_field f;
        char name[64] = "";
        int n = 0, r, has = 0;
        while ((r = pb_next(&c, &f)) == 1) {
            if (f.field == 1 && pb_str(&f, name, sizeof name)) name[0] = 0;
            else if (f.field == 3 && f.wt == 0) {   /* i: one value */
                if (max < 1) return -1;
                v[0] = (int64_t)f.v;
                n = 1;
                has = 1;
            } else if (f.field == 8) {
                if (pb_ints(&f, v, &n, max)) return -1;
                has = 1;
            }
        }
        if (r < 0) return -1;
        if (!strcmp(name, attr)) return has ? n : -1;
    }
    return -1;
}
