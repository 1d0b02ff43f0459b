/* vad_silero.c — Silero VAD v6 inference in plain C from whisper.cpp's ggml file
 * (ggml-silero-v6.2.0.bin) or from the ONNX file faster-whisper ships and ran in the original
 * daemon (faster_whisper/assets/silero_vad_v6.onnx: Silero v6.0, f32 weights; the same
 * network, its tensors found by name in the graph, onnx.c). Everything here follows
 * ../shared/docs/silero-vad.md:
 * §1 file format and load checks, §2.1 framing (whisper.cpp: each 512-sample chunk on its
 * own, reflect-padded by 64 on both sides) or §2.2 (Silero's 64-sample context), §2.3 STFT,
 * §2.4 encoder, §2.5 LSTM, §2.6 decoder, §2.8 numerics (conv inputs rounded to f16 the way
 * ggml's im2col does, which brings us within ~1e-4 of whisper.cpp).
 *
 * Cost per 512-sample chunk ~0.68 M multiply-adds (§2.10). The loops are written as
 * "axpy over the output index" with weights transposed at load time, so gcc vectorises them
 * at -O2 -ftree-vectorize/-O3 without -ffast-math (no float reassociation needed). */
#include "audio/audio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SV_W 512          /* samples per chunk */
#define SV_PAD 64
#define SV_XP 640         /* padded chunk */
#define SV_NFFT 256
#define SV_HOP 128
#define SV_T 4            /* STFT frames */
#define SV_BINS 129
#define SV_H 128          /* LSTM hidden */

struct aud_silero {
    /* all weights f32, transposed so the innermost loop runs over output channels */
    float basis_t[SV_NFFT][2 * SV_BINS];       /* basis_t[n][c] = B[c][n], (256, 258) */
    float *enc_w[4];                           /* enc_w[l][(ic*3 + k)*OC + oc] */
    float enc_b[4][128];
    int enc_ic[4], enc_oc[4], enc_stride[4];
    float wih_t[SV_H][4 * SV_H];               /* wih_t[j][r] = W_ih[r][j], (128, 512) */
    float whh_t[SV_H][4 * SV_H];
    float b_gates[4 * SV_H];                   /* b_ih + b_hh */
    float dec_w[SV_H];
    float dec_b;
    /* weights from the ONNX file, run as onnxruntime runs them: Silero's framing, conv inputs
     * as they are; 0: the ggml file, whisper.cpp's framing, conv inputs rounded to f16 as
     * ggml's im2col does (§2.8) */
    int onnx;
};

/* ------------------------------------------------------------------ f16 helpers */

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

/* f32 -> nearest f16 (ties to even) -> f32: what ggml's im2col to F16 does (§2.8). */
static inline float round_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = x & 0x80000000u, a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return f;
    if (a < 0x38800000u) {                     /* f16 subnormal range: quantum 2^-24 */
        float r = rintf(fabsf(f) * 16777216.0f) * (1.0f / 16777216.0f);
        return sign ? -r : r;
    }
    a += 0xfffu + ((a >> 13) & 1u);
    a &= ~0x1fffu;
    if (a >= 0x47800000u) a = 0x7f800000u;     /* overflow to inf */
    x = sign | a;
    memcpy(&f, &x, 4);
    return f;
}

/* ------------------------------------------------------------------ loading (§1) */

typedef struct {
    const char *name;
    int ttype;            /* 0 f32, 1 f16 */
    size_t count;
    int seen;
    float *data;          /* decoded, malloc'd */
} sv_tensor;

enum { T_E0W, T_E0B, T_E1W, T_E1B, T_E2W, T_E2B, T_E3W, T_E3B, T_WIH, T_WHH, T_BIH, T_BHH,
       T_DW, T_DB, T_STFT, T_COUNT };

static const int enc_dims[4][3] = { { 129, 128, 3 }, { 128, 64, 3 }, { 64, 64, 3 }, { 64, 128, 3 } };

static int rd_i32(FILE *f, int32_t *v)
{
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    return 0;
}

/* Phase 1: magic, model type and the 22 header values, each checked against v6 16 kHz. */
static sp_status sv_read_header(FILE *f, const char *path, char *err, size_t es)
{
    int32_t v, hdr[32];
    char type[65];
    if (rd_i32(f, &v) || (uint32_t)v != 0x67676d6cu) {
        aud_seterr(err, es, "%s: not a ggml file (bad magic)", path);
        return SP_ERR_MODEL_FORMAT;
    }
    if (rd_i32(f, &v) || v < 1 || v > 64 || fread(type, 1, (size_t)v, f) != (size_t)v) {
        aud_seterr(err, es, "%s: bad model type string", path);
        return SP_ERR_MODEL_FORMAT;
    }
    type[v] = 0;
    /* version x3, n_window, n_context, n_layers, 4x3 conv dims, 4 lstm/final values */
    for (int i = 0; i < 22; i++)
        if (rd_i32(f, &hdr[i])) { aud_seterr(err, es, "%s: header cut short", path); return SP_ERR_MODEL_FORMAT; }
    if (strcmp(type, "silero-16k") || hdr[0] != 6 || hdr[3] != SV_W || hdr[4] != 64 || hdr[5] != 4) {
        aud_seterr(err, es, "%s: model '%s' v%d.%d.%d window %d is not Silero VAD v6 16 kHz",
                   path, type, hdr[0], hdr[1], hdr[2], hdr[3]);
        return SP_ERR_MODEL_FORMAT;
    }
    for (int l = 0; l < 4; l++)
        for (int d = 0; d < 3; d++)
            if (hdr[6 + 3 * l + d] != enc_dims[l][d]) {
                aud_seterr(err, es, "%s: encoder.%d dims (%d,%d,%d), expected (%d,%d,%d)", path, l,
                           hdr[6 + 3 * l], hdr[7 + 3 * l], hdr[8 + 3 * l], enc_dims[l][0],
                           enc_dims[l][1], enc_dims[l][2]);
                return SP_ERR_MODEL_FORMAT;
            }
    if (hdr[18] != 128 || hdr[19] != 128 || hdr[20] != 128 || hdr[21] != 1) {
        aud_seterr(err, es, "%s: LSTM/decoder sizes (%d,%d,%d,%d), expected (128,128,128,1)",
                   path, hdr[18], hdr[19], hdr[20], hdr[21]);
        return SP_ERR_MODEL_FORMAT;
    }
    return SP_OK;
}

/* Decodes count little-endian f16 (tt 1) or f32 (tt 0) values from raw; -1 on a non-finite one. */
static int sv_decode(const uint8_t *raw, int tt, size_t count, float *out)
{
    for (size_t i = 0; i < count; i++) {
        if (tt) {
            out[i] = f16_to_f32((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
        } else {
            uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                         (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
        }
        if (!isfinite(out[i])) return -1;
    }
    return 0;
}

/* Phase 2: one tensor record (§1.2; data unaligned, so read through a byte buffer) into the
 * table entry it names. *eof = 1 at a clean end of file. */
static sp_status sv_read_tensor(FILE *f, sv_tensor *t, const char *path, int *eof, char *err, size_t es)
{
    int32_t nd, nl, tt, ne[4] = { 1, 1, 1, 1 };
    *eof = 0;
    if (rd_i32(f, &nd)) { *eof = 1; return SP_OK; }
    if (rd_i32(f, &nl) || rd_i32(f, &tt) || nd < 0 || nd > 4 || nl < 1 || nl > 255 || (tt != 0 && tt != 1)) {
        aud_seterr(err, es, "%s: bad tensor record header", path);
        return SP_ERR_MODEL_FORMAT;
    }
    size_t count = 1;
    for (int d = 0; d < nd; d++) {
        if (rd_i32(f, &ne[d]) || ne[d] < 1 || ne[d] > 1 << 20) {
            aud_seterr(err, es, "%s: bad tensor shape", path);
            return SP_ERR_MODEL_FORMAT;
        }
        count *= (size_t)ne[d];
    }
    char name[256];
    if (fread(name, 1, (size_t)nl, f) != (size_t)nl) { aud_seterr(err, es, "%s: cut short", path); return SP_ERR_MODEL_FORMAT; }
    name[nl] = 0;
    int idx = -1;
    for (int i = 0; i < T_COUNT; i++) if (!strcmp(name, t[i].name)) idx = i;
    if (idx < 0 || t[idx].seen) {
        aud_seterr(err, es, "%s: unexpected tensor '%s'", path, name);
        return SP_ERR_MODEL_FORMAT;
    }
    if (count != t[idx].count || tt != t[idx].ttype) {
        aud_seterr(err, es, "%s: tensor '%s' has %zu elements of type %d, expected %zu of type %d",
                   path, name, count, tt, t[idx].count, t[idx].ttype);
        return SP_ERR_MODEL_FORMAT;
    }
    size_t bytes = count * (tt ? 2 : 4);
    uint8_t *raw = malloc(bytes);
    t[idx].data = malloc(count * sizeof(float));
    sp_status st = SP_OK;
    if (!raw || !t[idx].data) { st = SP_ERR_NOMEM; aud_seterr(err, es, "out of memory"); }
    else if (fread(raw, 1, bytes, f) != bytes) { st = SP_ERR_MODEL_FORMAT; aud_seterr(err, es, "%s: tensor '%s' cut short", path, name); }
    else if (sv_decode(raw, tt, count, t[idx].data) != 0) { st = SP_ERR_MODEL_FORMAT; aud_seterr(err, es, "%s: tensor '%s' holds a non-finite value", path, name); }
    else t[idx].seen = 1;
    free(raw);
    return st;
}

/* Phase 3: the weights in the layouts inference reads (transposed once). onnx: f32 weights
 * run by onnxruntime (no f16 rounding of the conv inputs; Silero's own framing). */
static sp_status sv_build(const sv_tensor *t, int onnx, aud_silero **out, char *err, size_t es)
{
    aud_silero *m = calloc(1, sizeof *m);
    if (!m) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    m->onnx = onnx;
    for (int c = 0; c < 2 * SV_BINS; c++)
        for (int n = 0; n < SV_NFFT; n++) m->basis_t[n][c] = t[T_STFT].data[c * SV_NFFT + n];
    static const int stride[4] = { 1, 2, 2, 1 };
    for (int l = 0; l < 4; l++) {
        int IC = enc_dims[l][0], OC = enc_dims[l][1];
        const float *w = t[T_E0W + 2 * l].data;   /* w[oc][ic][k] */
        m->enc_ic[l] = IC;
        m->enc_oc[l] = OC;
        m->enc_stride[l] = stride[l];
        m->enc_w[l] = malloc((size_t)IC * 3 * OC * sizeof(float));
        if (!m->enc_w[l]) { aud_silero_free(m); aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
        for (int oc = 0; oc < OC; oc++)
            for (int ic = 0; ic < IC; ic++)
                for (int k = 0; k < 3; k++)
                    m->enc_w[l][(ic * 3 + k) * OC + oc] = w[(oc * IC + ic) * 3 + k];
        memcpy(m->enc_b[l], t[T_E0B + 2 * l].data, (size_t)OC * sizeof(float));
    }
    for (int r = 0; r < 4 * SV_H; r++) {
        for (int j = 0; j < SV_H; j++) {
            m->wih_t[j][r] = t[T_WIH].data[r * SV_H + j];
            m->whh_t[j][r] = t[T_WHH].data[r * SV_H + j];
        }
        m->b_gates[r] = t[T_BIH].data[r] + t[T_BHH].data[r];
    }
    memcpy(m->dec_w, t[T_DW].data, sizeof m->dec_w);
    m->dec_b = t[T_DB].data[0];
    *out = m;
    return SP_OK;
}

/* The model file, opened for reading: a regular file only (SP_ERR_IO otherwise, as the
 * Whisper model loader). O_NONBLOCK so that opening a FIFO without a writer returns (fopen
 * had blocked forever: transcribe --vad-model ./fifo, and the daemon and key_listener load
 * it the same way), and a directory is named as one (it had been "not a ggml file (bad
 * magic)"); reads are blocking again once the file is known to be regular. */
static FILE *sv_open(const char *path, sp_status *st, char *err, size_t es)
{
    struct stat sb;
    FILE *f = NULL;
    *st = SP_ERR_IO;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        aud_seterr(err, es, "cannot open VAD model %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0) {
        aud_seterr(err, es, "cannot stat VAD model %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(sb.st_mode)) {
        const char *what = S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO"
                         : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                         : S_ISSOCK(sb.st_mode) ? "a socket" : "not a regular file";
        aud_seterr(err, es, "VAD model %s is %s, not a model file", path, what);
        goto cleanup;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 || !(f = fdopen(fd, "rb"))) {
        aud_seterr(err, es, "cannot open VAD model %s: %s", path, strerror(errno));
        goto cleanup;
    }
    *st = SP_OK;
    return f;
cleanup:
    close(fd);
    return NULL;
}

/* ------------------------------------------------------------------ the ONNX file */

#define SV_ONNX_MAX (64u << 20)   /* faster-whisper's is 1.2 MB; a larger file is not this model */

/* The whole file into memory (an ONNX file is one protobuf message). */
static sp_status sv_slurp(FILE *f, const char *path, uint8_t **buf, size_t *len, char *err, size_t es)
{
    struct stat sb;
    *buf = NULL;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size <= 0 || (uint64_t)sb.st_size > SV_ONNX_MAX) {
        aud_seterr(err, es, "%s: not a VAD model (neither whisper.cpp's ggml Silero file nor an ONNX one of at most %u MB)",
                   path, SV_ONNX_MAX >> 20);
        return SP_ERR_MODEL_FORMAT;
    }
    *len = (size_t)sb.st_size;
    if (!(*buf = malloc(*len))) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    if (fseek(f, 0, SEEK_SET) != 0 || fread(*buf, 1, *len, f) != *len) {
        aud_seterr(err, es, "%s: cannot read it", path);
        free(*buf);
        *buf = NULL;
        return SP_ERR_IO;
    }
    return SP_OK;
}

/* An LSTM tensor's four gate blocks (blk values each) from ONNX's order (i, o, f, c) into
 * PyTorch's (i, f, g, o), the one inference reads. */
static void sv_gates(float *dst, const float *src, size_t blk)
{
    static const int from[4] = { 0, 2, 3, 1 };   /* PyTorch block b <- ONNX block from[b] */
    for (int b = 0; b < 4; b++) memcpy(dst + b * blk, src + from[b] * blk, blk * sizeof(float));
}

/* ONNX tensor `name`, which must be dims[0..nd) of f32, into t->data; gates: an LSTM weight,
 * reordered from ONNX's gate order (i, o, f, c) to PyTorch's (i, f, g, o), the one inference
 * reads. */
static sp_status sv_onnx_tensor(const uint8_t *buf, size_t len, const char *name, const int64_t *dims, int nd,
                                int gates, sv_tensor *t, const char *path, char *err, size_t es)
{
    aud_onnx_tensor x;
    const int r = aud_onnx_tensor_get(buf, len, name, &x);
    if (r < 0) { aud_seterr(err, es, "%s: not a well-formed ONNX model", path); return SP_ERR_MODEL_FORMAT; }
    if (r > 0) { aud_seterr(err, es, "%s: no tensor '%s': not a Silero VAD v6 file", path, name); return SP_ERR_MODEL_FORMAT; }
    int same = x.ndims == nd && x.dtype == 1 && !x.external && x.bytes == t->count * 4;
    for (int d = 0; same && d < nd; d++) same = x.dims[d] == dims[d];
    if (!same) {
        aud_seterr(err, es, "%s: tensor '%s' is not the %zu f32 values of Silero VAD v6", path, name, t->count);
        return SP_ERR_MODEL_FORMAT;
    }
    if (!(t->data = malloc(t->count * sizeof(float)))) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
    if (sv_decode(x.data, 0, t->count, t->data) != 0) {
        aud_seterr(err, es, "%s: tensor '%s' holds a non-finite value", path, name);
        return SP_ERR_MODEL_FORMAT;
    }
    if (gates) {   /* four gate blocks of 128 rows, moved whole */
        float *o = malloc(t->count * sizeof(float));
        if (!o) { aud_seterr(err, es, "out of memory"); return SP_ERR_NOMEM; }
        sv_gates(o, t->data, t->count / 4);
        free(t->data);
        t->data = o;
    }
    t->seen = 1;
    return SP_OK;
}

/* a Conv node of the graph on weight `w`: its strides, pads and kernel as Silero v6 has them
 * (kernel_shape may be left out: the weight's dims, checked already, say it) */
static int sv_onnx_conv_ok(const uint8_t *buf, size_t len, const char *w, int stride, int pad, int kernel)
{
    aud_onnx_node nd;
    int64_t v[4];
    if (aud_onnx_node_get(buf, len, "Conv", 1, w, &nd) != 0) return 0;
    if (aud_onnx_node_ints(&nd, "strides", v, 4) != 1 || v[0] != stride) return 0;
    const int nk = aud_onnx_node_ints(&nd, "kernel_shape", v, 4);
    if (nk >= 0 && (nk != 1 || v[0] != kernel)) return 0;
    const int np = aud_onnx_node_ints(&nd, "pads", v, 4);   /* absent: 0 */
    return np < 0 ? pad == 0 : np == 2 && v[0] == pad && v[1] == pad;
}

/* a tensor of a layout: where it goes, its name (after the layout's prefix), its dims */
typedef struct {
    int idx;
    const char *name;
    int nd;
    int64_t dims[3];
} sv_named;

/* each of n named tensors (pre + name) into its table entry, as it is (no gate reorder) */
static sp_status sv_onnx_named(const uint8_t *buf, size_t len, const char *pre, const sv_named *named, size_t n,
                               sv_tensor *t, const char *path, char *err, size_t es)
{
    char name[AUD_ONNX_NAME_MAX + 64];
    sp_status st = SP_OK;
    for (size_t i = 0; st == SP_OK && i < n; i++) {
        snprintf(name, sizeof name, "%s%s", pre, named[i].name);
        st = sv_onnx_tensor(buf, len, name, named[i].dims, named[i].nd, 0, &t[named[i].idx], path, err, es);
    }
    return st;
}

/* The six convolutions against v6's strides, padding and kernels: the STFT basis (pre + basis),
 * the decoder's (pre + dec) and the encoder's four (enc_fmt with pre and the layer number). */
static sp_status sv_onnx_convs(const uint8_t *buf, size_t len, const char *pre, const char *basis, const char *dec,
                               const char *enc_fmt, const char *path, char *err, size_t es)
{
    static const int stride[4] = { 1, 2, 2, 1 };
    char name[AUD_ONNX_NAME_MAX + 64];
    snprintf(name, sizeof name, "%s%s", pre, basis);
    int ok = sv_onnx_conv_ok(buf, len, name, SV_HOP, 0, SV_NFFT);
    snprintf(name, sizeof name, "%s%s", pre, dec);
    ok = ok && sv_onnx_conv_ok(buf, len, name, 1, 0, 1);
    for (int l = 0; ok && l < 4; l++) {
        snprintf(name, sizeof name, enc_fmt, pre, l);
        ok = sv_onnx_conv_ok(buf, len, name, stride[l], 1, 3);
    }
    if (ok) return SP_OK;
    aud_seterr(err, es, "%s: its convolutions are not Silero VAD v6's (strides, padding)", path);
    return SP_ERR_MODEL_FORMAT;
}

/* Phase 2 for faster-whisper's silero_vad_v6.onnx: the tensors by their names (the LSTM's by
 * the node that takes them), and the convolutions checked against v6's strides and padding. */
static sp_status sv_load_onnx_fw(const uint8_t *buf, size_t len, sv_tensor *t, const char *path, char *err, size_t es)
{
    static const sv_named named[] = {
        { T_E0W, "encoder.conv_layers.0.weight", 3, { 128, 129, 3 } }, { T_E0B, "encoder.conv_layers.0.bias", 1, { 128 } },
        { T_E1W, "encoder.conv_layers.1.weight", 3, { 64, 128, 3 } },  { T_E1B, "encoder.conv_layers.1.bias", 1, { 64 } },
        { T_E2W, "encoder.conv_layers.2.weight", 3, { 64, 64, 3 } },   { T_E2B, "encoder.conv_layers.2.bias", 1, { 64 } },
        { T_E3W, "encoder.conv_layers.3.weight", 3, { 128, 64, 3 } },  { T_E3B, "encoder.conv_layers.3.bias", 1, { 128 } },
        { T_DW, "decoder.conv1d.weight", 3, { 1, 128, 1 } },           { T_DB, "decoder.conv1d.bias", 1, { 1 } },
        { T_STFT, "encoder.feature_extractor.forward_basis_buffer", 3, { 258, 1, 256 } },
    };
    sp_status st = sv_onnx_named(buf, len, "", named, sizeof named / sizeof named[0], t, path, err, es);
    if (st != SP_OK) return st;
    /* the LSTM: inputs X, W [1][512][128], R [1][512][128], B [1][1024] (W's biases, then R's) */
    aud_onnx_node lstm;
    int64_t hs;
    if (aud_onnx_node_get(buf, len, "LSTM", 0, NULL, &lstm) != 0 || lstm.n_in < 4 ||
        aud_onnx_node_ints(&lstm, "hidden_size", &hs, 1) != 1 || hs != SV_H) {
        aud_seterr(err, es, "%s: no LSTM of 128 units: not Silero VAD v6 as faster-whisper ships it", path);
        return SP_ERR_MODEL_FORMAT;
    }
    const int64_t wd[3] = { 1, 4 * SV_H, SV_H }, bd[2] = { 1, 8 * SV_H };
    st = sv_onnx_tensor(buf, len, lstm.in[1], wd, 3, 1, &t[T_WIH], path, err, es);
    if (st == SP_OK) st = sv_onnx_tensor(buf, len, lstm.in[2], wd, 3, 1, &t[T_WHH], path, err, es);
    sv_tensor b = { "B", 0, 8 * SV_H, 0, NULL };
    if (st == SP_OK) st = sv_onnx_tensor(buf, len, lstm.in[3], bd, 2, 0, &b, path, err, es);
    if (st == SP_OK) {   /* two gate-ordered halves: b_ih (W's), b_hh (R's) */
        t[T_BIH].data = malloc(4 * SV_H * sizeof(float));
        t[T_BHH].data = malloc(4 * SV_H * sizeof(float));
        if (!t[T_BIH].data || !t[T_BHH].data) {
            aud_seterr(err, es, "out of memory");
            st = SP_ERR_NOMEM;
        } else {
            sv_gates(t[T_BIH].data, b.data, SV_H);
            sv_gates(t[T_BHH].data, b.data + 4 * SV_H, SV_H);
            t[T_BIH].seen = t[T_BHH].seen = 1;
        }
    }
    free(b.data);
    if (st != SP_OK) return st;
    return sv_onnx_convs(buf, len, "", "encoder.feature_extractor.forward_basis_buffer", "decoder.conv1d.weight",
                         "%sencoder.conv_layers.%d.weight", path, err, es);
}

/* Phase 2 for Silero's own export (the silero-vad package's silero_vad.onnx, and its
 * 16 kHz-only, If-less and OpenVINO variants): PyTorch's tensor names — the ggml file's
 * after their "_model." — under a prefix: "model." or none at the top, or an If branch's
 * inlined one in silero_vad.onnx, which keeps each sample rate's network in a branch as
 * Constants.
 * The prefix is the 16 kHz STFT basis's (258×1×256; the 8 kHz network's is 130×1×128). The
 * LSTM cell's weights are in PyTorch's gate order already. */
static sp_status sv_load_onnx_silero(const uint8_t *buf, size_t len, sv_tensor *t, const char *path, char *err,
                                     size_t es)
{
    static const char basis[] = "stft.forward_basis_buffer";
    static const int64_t bd[3] = { 2 * SV_BINS, 1, SV_NFFT };
    aud_onnx_tensor x;
    const int r = aud_onnx_tensor_suffix(buf, len, basis, bd, 3, &x);
    if (r < 0) { aud_seterr(err, es, "%s: not a well-formed ONNX model", path); return SP_ERR_MODEL_FORMAT; }
    if (r > 0) {
        aud_seterr(err, es, "%s: not Silero VAD v6 (neither faster-whisper's silero_vad_v6.onnx nor Silero's "
                   "silero_vad.onnx: no 16 kHz STFT basis)", path);
        return SP_ERR_MODEL_FORMAT;
    }
    x.name[strlen(x.name) - strlen(basis)] = 0;   /* the prefix */
    static const sv_named named[] = {
        { T_E0W, "encoder.0.reparam_conv.weight", 3, { 128, 129, 3 } }, { T_E0B, "encoder.0.reparam_conv.bias", 1, { 128 } },
        { T_E1W, "encoder.1.reparam_conv.weight", 3, { 64, 128, 3 } },  { T_E1B, "encoder.1.reparam_conv.bias", 1, { 64 } },
        { T_E2W, "encoder.2.reparam_conv.weight", 3, { 64, 64, 3 } },   { T_E2B, "encoder.2.reparam_conv.bias", 1, { 64 } },
        { T_E3W, "encoder.3.reparam_conv.weight", 3, { 128, 64, 3 } },  { T_E3B, "encoder.3.reparam_conv.bias", 1, { 128 } },
        { T_WIH, "decoder.rnn.weight_ih", 2, { 4 * SV_H, SV_H } },      { T_WHH, "decoder.rnn.weight_hh", 2, { 4 * SV_H, SV_H } },
        { T_BIH, "decoder.rnn.bias_ih", 1, { 4 * SV_H } },              { T_BHH, "decoder.rnn.bias_hh", 1, { 4 * SV_H } },
        { T_DW, "decoder.decoder.2.weight", 3, { 1, 128, 1 } },         { T_DB, "decoder.decoder.2.bias", 1, { 1 } },
        { T_STFT, "stft.forward_basis_buffer", 3, { 258, 1, 256 } },
    };
    const sp_status st = sv_onnx_named(buf, len, x.name, named, sizeof named / sizeof named[0], t, path, err, es);
    if (st != SP_OK) return st;
    return sv_onnx_convs(buf, len, x.name, basis, "decoder.decoder.2.weight", "%sencoder.%d.reparam_conv.weight", path,
                         err, es);
}

/* Phase 2 for an ONNX file: faster-whisper's layout when its first tensor is there, else
 * Silero's own. */
static sp_status sv_load_onnx(const uint8_t *buf, size_t len, sv_tensor *t, const char *path, char *err, size_t es)
{
    aud_onnx_tensor x;
    if (aud_onnx_tensor_get(buf, len, "encoder.conv_layers.0.weight", &x) == 0)
        return sv_load_onnx_fw(buf, len, t, path, err, es);
    return sv_load_onnx_silero(buf, len, t, path, err, es);
}

/* the tensor table, as the ggml file names them (the ONNX loader fills the same entries) */
static void sv_table(sv_tensor *t)
{
    static const sv_tensor tab[T_COUNT] = {
        { "_model.encoder.0.reparam_conv.weight", 1, 128 * 129 * 3, 0, NULL },
        { "_model.encoder.0.reparam_conv.bias", 0, 128, 0, NULL },
        { "_model.encoder.1.reparam_conv.weight", 1, 64 * 128 * 3, 0, NULL },
        { "_model.encoder.1.reparam_conv.bias", 0, 64, 0, NULL },
        { "_model.encoder.2.reparam_conv.weight", 1, 64 * 64 * 3, 0, NULL },
        { "_model.encoder.2.reparam_conv.bias", 0, 64, 0, NULL },
        { "_model.encoder.3.reparam_conv.weight", 1, 128 * 64 * 3, 0, NULL },
        { "_model.encoder.3.reparam_conv.bias", 0, 128, 0, NULL },
        { "_model.decoder.rnn.weight_ih", 0, 512 * 128, 0, NULL },
        { "_model.decoder.rnn.weight_hh", 0, 512 * 128, 0, NULL },
        { "_model.decoder.rnn.bias_ih", 0, 512, 0, NULL },
        { "_model.decoder.rnn.bias_hh", 0, 512, 0, NULL },
        { "_model.decoder.decoder.2.weight", 1, 128, 0, NULL },
        { "_model.decoder.decoder.2.bias", 0, 1, 0, NULL },
        { "_model.stft.forward_basis_buffer", 1, 258 * 256, 0, NULL },
    };
    memcpy(t, tab, sizeof tab);
}

/* Phase 4: every tensor seen, then the model built; the table freed either way. */
static sp_status sv_finish(sv_tensor *t, sp_status st, int onnx, const char *path, aud_silero **out, char *err,
                           size_t es)
{
    for (int i = 0; st == SP_OK && i < T_COUNT; i++)
        if (!t[i].seen) { aud_seterr(err, es, "%s: tensor '%s' missing", path, t[i].name); st = SP_ERR_MODEL_FORMAT; }
    if (st == SP_OK) st = sv_build(t, onnx, out, err, es);
    for (int i = 0; i < T_COUNT; i++) free(t[i].data);
    return st;
}

sp_status aud_silero_load_onnx_mem(const uint8_t *buf, size_t len, const char *name, aud_silero **out, char *err,
                                   size_t es)
{
    sv_tensor t[T_COUNT];
    sv_table(t);
    *out = NULL;
    return sv_finish(t, sv_load_onnx(buf, len, t, name, err, es), 1, name, out, err, es);
}

sp_status aud_silero_load(const char *path, aud_silero **out, char *err, size_t es)
{
    *out = NULL;
    sp_status st;
    FILE *f = sv_open(path, &st, err, es);
    if (!f) return st;
    uint8_t magic[4] = { 0 };
    const size_t got = fread(magic, 1, 4, f);
    if (got == 4 && !memcmp(magic, "lmgg", 4)) {   /* whisper.cpp's ggml file (0x67676d6c) */
        sv_tensor t[T_COUNT];
        sv_table(t);
        rewind(f);
        st = sv_read_header(f, path, err, es);
        for (int eof = 0; st == SP_OK && !eof;) st = sv_read_tensor(f, t, path, &eof, err, es);
        st = sv_finish(t, st, 0, path, out, err, es);
    } else if (got >= 1 && magic[0] == 0x08) {   /* ONNX: ModelProto.ir_version's key first */
        uint8_t *buf = NULL;
        size_t len = 0;
        st = sv_slurp(f, path, &buf, &len, err, es);
        if (st == SP_OK) st = aud_silero_load_onnx_mem(buf, len, path, out, err, es);
        free(buf);
    } else {
        aud_seterr(err, es, "%s: not a VAD model: not a ggml file (bad magic), nor an ONNX one", path);
        st = SP_ERR_MODEL_FORMAT;
    }
    fclose(f);
    return st;
}

int aud_silero_ctx_framing(const aud_silero *m) { return m && m->onnx; }

void aud_silero_free(aud_silero *m)
{
    if (!m) return;
    for (int l = 0; l < 4; l++) free(m->enc_w[l]);
    free(m);
}

/* ------------------------------------------------------------------ inference (§2) */

/* conv1d, kernel 3, padding 1, + bias, ReLU; in: [IC][L], out: [OC][Lo] (channel-major).
 * The input is rounded to f16 first (§2.8). */
static void conv_relu(const aud_silero *m, int l, const float *in, int L, float *out, int *Lo_out)
{
    int IC = m->enc_ic[l], OC = m->enc_oc[l], s = m->enc_stride[l];
    int Lo = (L + 2 - 3) / s + 1;
    float acc[4][128];                                     /* [t][oc], Lo <= 4, OC <= 128 */
    for (int t = 0; t < Lo; t++)
        for (int oc = 0; oc < OC; oc++) acc[t][oc] = m->enc_b[l][oc];
    for (int ic = 0; ic < IC; ic++) {
        for (int k = 0; k < 3; k++) {
            const float *w = m->enc_w[l] + (size_t)(ic * 3 + k) * OC;   /* (OC,) */
            for (int t = 0; t < Lo; t++) {
                int pos = s * t + k - 1;                    /* padding 1 */
                if (pos < 0 || pos >= L) continue;
                float x = m->onnx ? in[ic * L + pos] : round_f16(in[ic * L + pos]);
                float *a = acc[t];
                for (int oc = 0; oc < OC; oc++) a[oc] += w[oc] * x;
            }
        }
    }
    for (int oc = 0; oc < OC; oc++)
        for (int t = 0; t < Lo; t++) out[oc * Lo + t] = acc[t][oc] > 0.0f ? acc[t][oc] : 0.0f;
    *Lo_out = Lo;
}

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One chunk: xp (640 padded samples) -> probability; h, c updated in place. */
static float silero_step(const aud_silero *m, const float *xp, float *h, float *c)
{
    /* §2.3 STFT as conv1d with the stored basis: y[c][t] = sum_n B[c][n] xp[128 t + n] */
    float y[SV_T][2 * SV_BINS];
    float mag[SV_BINS * SV_T];                              /* [bin][t] */
    for (int t = 0; t < SV_T; t++) {
        float *yt = y[t];
        for (int cc = 0; cc < 2 * SV_BINS; cc++) yt[cc] = 0.0f;
        for (int n = 0; n < SV_NFFT; n++) {
            float x = m->onnx ? xp[SV_HOP * t + n] : round_f16(xp[SV_HOP * t + n]);
            const float *b = m->basis_t[n];
            for (int cc = 0; cc < 2 * SV_BINS; cc++) yt[cc] += b[cc] * x;
        }
        for (int f = 0; f < SV_BINS; f++)
            mag[f * SV_T + t] = sqrtf(yt[f] * yt[f] + yt[SV_BINS + f] * yt[SV_BINS + f]);
    }
    /* §2.4 encoder: 129x4 -> 128x4 -> 64x2 -> 64x1 -> 128x1 */
    float a[128 * 4], b[128 * 4];
    int L;
    conv_relu(m, 0, mag, SV_T, a, &L);
    conv_relu(m, 1, a, L, b, &L);
    conv_relu(m, 2, b, L, a, &L);
    conv_relu(m, 3, a, L, b, &L);                            /* b: (128,) */
    /* §2.5 LSTM: g = W_ih x + b_ih + W_hh h + b_hh; gates i, f, g, o in PyTorch order */
    float g[4 * SV_H];
    memcpy(g, m->b_gates, sizeof g);
    for (int j = 0; j < SV_H; j++) {
        const float *wi = m->wih_t[j], *wh = m->whh_t[j];
        float xj = b[j], hj = h[j];
        for (int r = 0; r < 4 * SV_H; r++) g[r] += wi[r] * xj + wh[r] * hj;
    }
    for (int j = 0; j < SV_H; j++) {
        float ig = sigm(g[j]), fg = sigm(g[SV_H + j]), cg = tanhf(g[2 * SV_H + j]),
              og = sigm(g[3 * SV_H + j]);
        c[j] = fg * c[j] + ig * cg;
        h[j] = og * tanhf(c[j]);
    }
    /* §2.6 decoder: sigmoid(b + w . relu(h')), relu(h') rounded to f16 (1x1 conv) */
    float logit = m->dec_b;
    for (int j = 0; j < SV_H; j++) {
        const float r = h[j] > 0.0f ? h[j] : 0.0f;
        logit += m->dec_w[j] * (m->onnx ? r : round_f16(r));
    }
    return sigm(logit);
}

sp_status aud_silero_probs(const aud_silero *m, const float *pcm, size_t n, int ctx_framing,
                           float *probs)
{
    float h[SV_H] = { 0 }, c[SV_H] = { 0 }, xp[SV_XP], x[SV_W], prev_tail[SV_PAD] = { 0 };
    size_t chunks = (n + SV_W - 1) / SV_W;
    for (size_t i = 0; i < chunks; i++) {
        size_t off = i * SV_W, len = n - off < SV_W ? n - off : SV_W;
        memcpy(x, pcm + off, len * sizeof *x);
        for (size_t j = len; j < SV_W; j++) x[j] = 0.0f;       /* zero-pad the last chunk */
        if (!ctx_framing) {
            /* §2.1: reflect-pad both sides, edge not repeated */
            memcpy(xp + SV_PAD, x, sizeof x);
            for (int j = 1; j <= SV_PAD; j++) {
                xp[SV_PAD - j] = x[j];
                xp[SV_PAD + SV_W - 1 + j] = x[SV_W - 1 - j];
            }
        } else {
            /* §2.2: previous chunk's last 64 samples in front, reflect on the right only */
            memcpy(xp, prev_tail, sizeof prev_tail);
            memcpy(xp + SV_PAD, x, sizeof x);
            for (int j = 1; j <= SV_PAD; j++) xp[575 + j] = xp[575 - j];
            memcpy(prev_tail, x + SV_W - SV_PAD, sizeof prev_tail);
        }
        probs[i] = silero_step(m, xp, h, c);
    }
    return SP_OK;
}
