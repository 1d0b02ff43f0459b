/* mkmodel — writes synthetic Whisper models in the ggml format (docs/model-format.md) for
 * tests and benchmarks: any official shape or a custom one, any tensor type, deterministic
 * seeded weights, a real Slaney mel filterbank and a placeholder vocabulary (ids 0–255 are
 * the single bytes in GPT-2 order, so id 220 is " "; then " w256", " w257", …). With
 * --break it writes deliberately broken files for the loader tests.
 *
 * Exit codes: 0 ok (--help included: the usage on stdout), 2 usage (on stderr), 3 write error. */
#include "whisper/fp16.h"

#include <errno.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8 };

typedef struct {
    int n_vocab, n_audio_ctx, n_state, n_head, n_audio_layer, n_text_ctx, n_text_layer, n_mels;
} shape;

static const struct { const char *name; shape s; } k_shapes[] = {
    {"micro", {51865, 1500, 64, 2, 2, 448, 3, 80}},
    {"tiny", {51865, 1500, 384, 6, 4, 448, 4, 80}},     {"tiny.en", {51864, 1500, 384, 6, 4, 448, 4, 80}},
    {"base", {51865, 1500, 512, 8, 6, 448, 6, 80}},     {"base.en", {51864, 1500, 512, 8, 6, 448, 6, 80}},
    {"small", {51865, 1500, 768, 12, 12, 448, 12, 80}}, {"small.en", {51864, 1500, 768, 12, 12, 448, 12, 80}},
    {"medium", {51865, 1500, 1024, 16, 24, 448, 24, 80}}, {"medium.en", {51864, 1500, 1024, 16, 24, 448, 24, 80}},
    {"large-v2", {51865, 1500, 1280, 20, 32, 448, 32, 80}},
    {"large-v3", {51866, 1500, 1280, 20, 32, 448, 32, 128}},
    {"large-v3-turbo", {51866, 1500, 1280, 20, 32, 448, 4, 128}},
};

/* ------------------------------------------------------------------ rng */

static uint64_t g_rng;
static uint64_t splitmix(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* uniform in [-a, a) */
static float urand(float a) { return (float)((double)(splitmix() >> 11) / 9007199254740992.0 * 2.0 - 1.0) * a; }

/* ------------------------------------------------------------------ output */

static FILE *g_out;
static int g_err;
static void wr(const void *p, size_t n) { if (fwrite(p, 1, n, g_out) != n) g_err = 1; }
static void wi32(int32_t v) { wr(&v, 4); }

static size_t type_size(int t)
{
    switch (t) {
    case T_F32: return 4; case T_F16: return 2; case T_Q4_0: return 18; case T_Q4_1: return 20;
    case T_Q5_0: return 22; case T_Q5_1: return 24; case T_Q8_0: return 34;
    }
    return 0;
}

static void put_f16(uint8_t *p, float v) { uint16_t h = wh_f32_to_f16(v); p[0] = (uint8_t)h; p[1] = (uint8_t)(h >> 8); }

/* Quantize one block of 32 (after ggml's reference quantizers' conventions). */
static void quant_block(int t, const float *x, uint8_t *o)
{
    float amax = 0, mx = 0, mn = x[0], hi = x[0];
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); mx = x[j]; }
        if (x[j] < mn) mn = x[j];
        if (x[j] > hi) hi = x[j];
    }
    switch (t) {
    case T_Q8_0: {
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        put_f16(o, d);
        for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
        break;
    }
    case T_Q4_0: {
        float d = mx / -8.0f, id = d ? 1.0f / d : 0.0f;
        put_f16(o, d);
        for (int j = 0; j < 16; j++) {
            int a = (int)(x[j] * id + 8.5f), b = (int)(x[j + 16] * id + 8.5f);
            a = a < 0 ? 0 : a > 15 ? 15 : a;
            b = b < 0 ? 0 : b > 15 ? 15 : b;
            o[2 + j] = (uint8_t)(a | b << 4);
        }
        break;
    }
    case T_Q4_1: {
        float d = (hi - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
        put_f16(o, d);
        put_f16(o + 2, mn);
        for (int j = 0; j < 16; j++) {
            int a = (int)((x[j] - mn) * id + 0.5f), b = (int)((x[j + 16] - mn) * id + 0.5f);
            a = a > 15 ? 15 : a;
            b = b > 15 ? 15 : b;
            o[4 + j] = (uint8_t)(a | b << 4);
        }
        break;
    }
    case T_Q5_0: case T_Q5_1: {
        int is1 = t == T_Q5_1;
        float d = is1 ? (hi - mn) / 31.0f : mx / -16.0f, id = d ? 1.0f / d : 0.0f;
        put_f16(o, d);
        if (is1) put_f16(o + 2, mn);
        uint32_t qh = 0;
        uint8_t *qs = o + (is1 ? 8 : 6);
        for (int j = 0; j < 16; j++) {
            int a, b;
            if (is1) { a = (int)((x[j] - mn) * id + 0.5f); b = (int)((x[j + 16] - mn) * id + 0.5f); }
            else { a = (int)(x[j] * id + 16.5f); b = (int)(x[j + 16] * id + 16.5f); }
            a = a < 0 ? 0 : a > 31 ? 31 : a;
            b = b < 0 ? 0 : b > 31 ? 31 : b;
            qs[j] = (uint8_t)((a & 15) | (b & 15) << 4);
            qh |= (uint32_t)(a >> 4) << j | (uint32_t)(b >> 4) << (j + 16);
        }
        uint8_t *ph = o + (is1 ? 4 : 2);
        ph[0] = (uint8_t)qh; ph[1] = (uint8_t)(qh >> 8); ph[2] = (uint8_t)(qh >> 16); ph[3] = (uint8_t)(qh >> 24);
        break;
    }
    }
}

/* break modes */
static const char *g_break;
static int g_tensor_index;

static void tensor(const char *name, int type, int nd, int64_t ne0, int64_t ne1, int64_t ne2, float scale, float bias)
{
    int64_t ne[3] = {ne0, ne1, ne2};
    int idx = g_tensor_index++;
    if (g_break && !strcmp(g_break, "missing-tensor") && idx == 5) return;
    int wtype = type;
    if (g_break && !strcmp(g_break, "unknown-type") && idx == 3) wtype = 13;   /* a K-quant id */
    if (g_break && !strcmp(g_break, "misshaped-tensor") && idx == 4) ne[0] += 1;
    wi32(nd);
    wi32((int32_t)strlen(name));
    wi32(wtype);
    for (int i = 0; i < nd; i++) wi32((int32_t)ne[i]);
    wr(name, strlen(name));
    if (wtype == 13) wtype = T_F32;
    int64_t k = ne[0], rows = ne[1] * ne[2];
    float *row = malloc(sizeof(float) * (size_t)(k + 32));
    uint8_t *buf = malloc((size_t)k * 4 + 64);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < k; i++) row[i] = bias + urand(scale);
        size_t nb = 0;
        if (wtype == T_F32) { memcpy(buf, row, (size_t)k * 4); nb = (size_t)k * 4; }
        else if (wtype == T_F16) { for (int64_t i = 0; i < k; i++) put_f16(buf + 2 * i, row[i]); nb = (size_t)k * 2; }
        else {
            for (int64_t b = 0; b < k / 32; b++) quant_block(wtype, row + b * 32, buf + (size_t)b * type_size(wtype));
            nb = (size_t)(k / 32) * type_size(wtype);
        }
        wr(buf, nb);
    }
    free(row);
    free(buf);
    if (g_break && !strcmp(g_break, "duplicate-tensor") && idx == 2) {
        g_tensor_index--;
        g_break = NULL;   /* write it once more, then behave */
        tensor(name, type, nd, ne0, ne1, ne2, scale, bias);
        g_break = "duplicate-tensor";
    }
}

/* Slaney mel filterbank (librosa filters.mel defaults; whisper-reference.md §1) */
static void write_filters(int n_mels)
{
    double *pts = malloc(sizeof(double) * (size_t)(n_mels + 2));
    const double mmax = 45.245640471924965;
    for (int i = 0; i < n_mels + 2; i++) {
        double m = mmax * i / (n_mels + 1);
        pts[i] = m < 15.0 ? 200.0 / 3.0 * m : 1000.0 * exp(log(6.4) / 27.0 * (m - 15.0));
    }
    for (int i = 0; i < n_mels; i++)
        for (int k = 0; k < 201; k++) {
            double f = 40.0 * k;
            double lo = (f - pts[i]) / (pts[i + 1] - pts[i]), hi = (pts[i + 2] - f) / (pts[i + 2] - pts[i + 1]);
            double v = lo < hi ? lo : hi;
            if (v < 0) v = 0;
            float fv = (float)(v * 2.0 / (pts[i + 2] - pts[i]));
            wr(&fv, 4);
        }
    free(pts);
}

static void write_vocab(int n_vocab)
{
    /* GPT-2 byte order: printable bytes first, then the other 68 in ascending order */
    int order[256], n = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) order[n++] = b;
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174))) order[n++] = b;
    int n_tokens = 50257;
    wi32(n_tokens);
    for (int i = 0; i < n_tokens; i++) {
        char s[32];
        int len;
        if (i < 256) { s[0] = (char)order[i]; len = 1; }
        else if (i == 50256) {
            if (n_vocab == 51864) { strcpy(s, "<|endoftext|>"); len = 13; }
            else len = 0;
        } else len = snprintf(s, sizeof s, " w%d", i);
        wi32(len);
        wr(s, (size_t)len);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mkmodel --out PATH [--shape NAME] [--type f32|f16|q8_0|q5_0|q5_1|q4_0|q4_1] [--seed N]\n"
            "               [--n-state N] [--n-head N] [--n-audio-layer N] [--n-text-layer N] [--n-mels N]\n"
            "               [--n-vocab N] [--n-audio-ctx N] [--n-text-ctx N] [--break KIND]\n"
            "shapes: micro tiny tiny.en base base.en small small.en medium medium.en large-v2 large-v3 large-v3-turbo\n"
            "break kinds: magic hparams truncate-header truncate-vocab truncate-tensor missing-tensor\n"
            "             duplicate-tensor misshaped-tensor unknown-type unknown-tensor\n"
            "Exit codes: 0 ok, 2 usage, 3 write error.\n");
}

/* the --n-* overrides, in the order of parse_args's over[] */
static const char *const k_over[8] = { "--n-state", "--n-head", "--n-audio-layer", "--n-text-layer",
                                       "--n-mels", "--n-vocab", "--n-audio-ctx", "--n-text-ctx" };
static int k_over_count(const char *a)
{
    for (int i = 0; i < 8; i++) if (!strcmp(a, k_over[i])) return i;
    return -1;
}

/* A whole number from lo to hi, the whole of v ("--n-head 2x" and "--n-state abc" had been
 * atoi's 2 and 0 — the 0 silently meaning "the shape's own"); said on stderr when refused */
static int whole(const char *opt, const char *v, unsigned long long lo, unsigned long long hi,
                 unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi) {
        fprintf(stderr, "mkmodel: bad value for %s: '%s' (a whole number, %llu..%llu)\n", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* The command line: *s (the named shape with the --n-* overrides), *out, *type, *seed; --break
 * goes to g_break. 0; -1 after --help (usage on stdout: exit 0); or the exit code 2 (usage
 * printed on stderr). */
static int parse_args(int argc, char **argv, shape *s, const char **out, const char **type,
                      uint64_t *seed)
{
    const char *shp = "micro";
    int over[8];
    for (int i = 0; i < 8; i++) over[i] = -1;
    *out = NULL;
    *type = "f16";
    *seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return -1; }
        if (!v) { usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--out")) *out = v;
        else if (!strcmp(a, "--shape")) shp = v;
        else if (!strcmp(a, "--type")) *type = v;
        else if (!strcmp(a, "--seed")) {
            unsigned long long x;
            if (whole(a, v, 0, UINT64_MAX, &x)) return 2;
            *seed = x;
        }
        else if (!strcmp(a, "--break")) g_break = v;
        else if (k_over_count(a) >= 0) {
            unsigned long long x;
            if (whole(a, v, 1, 1u << 20, &x)) return 2;
            over[k_over_count(a)] = (int)x;
        }
        else { usage(stderr); return 2; }
    }
    if (!*out) { usage(stderr); return 2; }
    int found = 0;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(k_shapes[i].name, shp)) { *s = k_shapes[i].s; found = 1; }
    if (!found) { fprintf(stderr, "mkmodel: unknown shape '%s'\n", shp); usage(stderr); return 2; }
    if (over[0] > 0) s->n_state = over[0];
    if (over[1] > 0) s->n_head = over[1];
    if (over[2] > 0) s->n_audio_layer = over[2];
    if (over[3] > 0) s->n_text_layer = over[3];
    if (over[4] > 0) s->n_mels = over[4];
    if (over[5] > 0) s->n_vocab = over[5];
    if (over[6] > 0) s->n_audio_ctx = over[6];
    if (over[7] > 0) s->n_text_ctx = over[7];
    return 0;
}

/* The weight matrices' tensor type and the file's ftype for a --type name; 0, or -1. */
static int weight_type(const char *type, int *wt, int *ftype)
{
    if (!strcmp(type, "f32")) { *wt = T_F32; *ftype = 0; }
    else if (!strcmp(type, "f16")) { *wt = T_F16; *ftype = 1; }
    else if (!strcmp(type, "q4_0")) { *wt = T_Q4_0; *ftype = 2002; }
    else if (!strcmp(type, "q4_1")) { *wt = T_Q4_1; *ftype = 2003; }
    else if (!strcmp(type, "q8_0")) { *wt = T_Q8_0; *ftype = 2007; }
    else if (!strcmp(type, "q5_0")) { *wt = T_Q5_0; *ftype = 2008; }
    else if (!strcmp(type, "q5_1")) { *wt = T_Q5_1; *ftype = 2009; }
    else return -1;
    return 0;
}

/* 1 when --break asked for kind. */
static int breaking(const char *kind) { return g_break && !strcmp(g_break, kind); }

/* Cuts the file `by` bytes short of what was written so far (--break truncate-*). */
static void truncate_by(long by)
{
    fflush(g_out);
    long pos = ftell(g_out);
    if (ftruncate(fileno(g_out), pos - by) != 0) g_err = 1;
}

/* Magic and hyperparameters; 0 when --break truncate-header ended the file inside them. */
static int write_header(const shape *s, int ftype)
{
    wi32(breaking("magic") ? 0x67676d6d : 0x67676d6c);
    int32_t hp[11] = {s->n_vocab, s->n_audio_ctx, s->n_state, s->n_head, s->n_audio_layer, s->n_text_ctx,
                      s->n_state, s->n_head, s->n_text_layer, s->n_mels, ftype};
    if (breaking("hparams")) hp[3] = 7;   /* heads do not divide n_state */
    int nh = breaking("truncate-header") ? 6 : 11;
    for (int i = 0; i < nh; i++) wi32(hp[i]);
    return nh == 11;
}

/* The encoder's sinusoidal positional embedding, as model.py: sinusoids() */
static void write_sinusoids(const shape *s)
{
    const int64_t n = s->n_state;
    const char *nm = "encoder.positional_embedding";
    g_tensor_index++;
    wi32(2); wi32((int32_t)strlen(nm)); wi32(T_F32); wi32((int32_t)n); wi32(s->n_audio_ctx); wr(nm, strlen(nm));
    double inc = log(10000.0) / (double)(n / 2 - 1 > 0 ? n / 2 - 1 : 1);
    for (int t = 0; t < s->n_audio_ctx; t++)
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i < n / 2 ? i : i - n / 2;
            double inv = exp(-inc * (double)j);
            float v = (float)(i < n / 2 ? sin(t * inv) : cos(t * inv));
            wr(&v, 4);
        }
}

/* Residual block l (the encoder's first, then the decoder's): self-attention, in the
 * decoder cross-attention, then the MLP. Weight scales keep activations O(1) through random
 * layers: uniform(±1/sqrt(fan_in)). */
static void write_block(const shape *s, int l, int wt)
{
    const int64_t n = s->n_state;
    const float ws = 1.0f / sqrtf((float)n), ws4 = 1.0f / sqrtf((float)(4 * n));
    int dec = l >= s->n_audio_layer;
    char p[64], nm[128];
    snprintf(p, sizeof p, "%s.blocks.%d", dec ? "decoder" : "encoder", dec ? l - s->n_audio_layer : l);
    const char *att[2] = {"attn", "cross_attn"};
    for (int a = 0; a < 1 + dec; a++) {
        snprintf(nm, sizeof nm, "%s.%s_ln.weight", p, att[a]); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 1.0f);
        snprintf(nm, sizeof nm, "%s.%s_ln.bias", p, att[a]); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
        snprintf(nm, sizeof nm, "%s.%s.query.weight", p, att[a]); tensor(nm, wt, 2, n, n, 1, ws, 0);
        snprintf(nm, sizeof nm, "%s.%s.query.bias", p, att[a]); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
        snprintf(nm, sizeof nm, "%s.%s.key.weight", p, att[a]); tensor(nm, wt, 2, n, n, 1, ws, 0);
        snprintf(nm, sizeof nm, "%s.%s.value.weight", p, att[a]); tensor(nm, wt, 2, n, n, 1, ws, 0);
        snprintf(nm, sizeof nm, "%s.%s.value.bias", p, att[a]); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
        snprintf(nm, sizeof nm, "%s.%s.out.weight", p, att[a]); tensor(nm, wt, 2, n, n, 1, ws, 0);
        snprintf(nm, sizeof nm, "%s.%s.out.bias", p, att[a]); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
    }
    snprintf(nm, sizeof nm, "%s.mlp_ln.weight", p); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 1.0f);
    snprintf(nm, sizeof nm, "%s.mlp_ln.bias", p); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
    snprintf(nm, sizeof nm, "%s.mlp.0.weight", p); tensor(nm, wt, 2, n, 4 * n, 1, ws, 0);
    snprintf(nm, sizeof nm, "%s.mlp.0.bias", p); tensor(nm, T_F32, 1, 4 * n, 1, 1, 0.1f, 0);
    snprintf(nm, sizeof nm, "%s.mlp.2.weight", p); tensor(nm, wt, 2, 4 * n, n, 1, ws4, 0);
    snprintf(nm, sizeof nm, "%s.mlp.2.bias", p); tensor(nm, T_F32, 1, n, 1, 1, 0.1f, 0);
}

/* Every tensor, in the order whisper.cpp's converter writes them. */
static void write_tensors(const shape *s, int wt)
{
    const int ct = wt == T_F32 ? T_F32 : T_F16;   /* conv kernels */
    const int64_t n = s->n_state;
    write_sinusoids(s);
    tensor("encoder.conv1.weight", ct, 3, 3, s->n_mels, n, 1.0f / sqrtf(3.0f * s->n_mels), 0);
    tensor("encoder.conv1.bias", T_F32, 2, 1, n, 1, 0.1f, 0);
    tensor("encoder.conv2.weight", ct, 3, 3, n, n, 1.0f / sqrtf(3.0f * (float)n), 0);
    tensor("encoder.conv2.bias", T_F32, 2, 1, n, 1, 0.1f, 0);
    for (int l = 0; l < s->n_audio_layer + s->n_text_layer; l++) write_block(s, l, wt);
    tensor("encoder.ln_post.weight", T_F32, 1, n, 1, 1, 0.1f, 1.0f);
    tensor("encoder.ln_post.bias", T_F32, 1, n, 1, 1, 0.1f, 0);
    tensor("decoder.positional_embedding", T_F32, 2, n, s->n_text_ctx, 1, 0.1f, 0);
    tensor("decoder.token_embedding.weight", wt, 2, n, s->n_vocab, 1, 1.0f, 0);
    tensor("decoder.ln.weight", T_F32, 1, n, 1, 1, 0.1f, 1.0f);
    if (breaking("unknown-tensor")) tensor("decoder.bogus", T_F32, 1, n, 1, 1, 0.1f, 0);
    tensor("decoder.ln.bias", T_F32, 1, n, 1, 1, 0.1f, 0);
}

int main(int argc, char **argv)
{
    shape s;
    const char *out, *type;
    uint64_t seed;
    int rc = parse_args(argc, argv, &s, &out, &type, &seed);
    if (rc) return rc < 0 ? 0 : rc;
    int wt, ftype;
    if (weight_type(type, &wt, &ftype) != 0) { fprintf(stderr, "mkmodel: unknown type '%s'\n", type); return 2; }
    if (wt != T_F32 && wt != T_F16 && s.n_state % 32) { fprintf(stderr, "mkmodel: quantized types need n_state %% 32 == 0\n"); return 2; }
    g_rng = seed;
    g_out = fopen(out, "wb");
    if (!g_out) { perror(out); return 3; }
    if (write_header(&s, ftype)) {
        wi32(s.n_mels);
        wi32(201);
        write_filters(s.n_mels);
        write_vocab(s.n_vocab);
        if (breaking("truncate-vocab")) {
            truncate_by(1000);
        } else {
            write_tensors(&s, wt);
            if (breaking("truncate-tensor")) truncate_by(7);
        }
    }
    if (fclose(g_out) != 0) g_err = 1;
    if (g_err) { fprintf(stderr, "mkmodel: write error on %s\n", out); return 3; }
    return 0;
}
