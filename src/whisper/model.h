/* model.h — a Whisper model: mapped, validated, borrowed tensor views.
 * Formats: whisper.cpp ggml files (model.c; docs/model-format.md, after whisper.cpp
 * src/whisper.cpp: whisper_model_load) and CTranslate2 Whisper directories as faster-whisper
 * uses them (model_ct2.c; docs/model-formats.md). Every loader produces the same wh_model. */
#ifndef WH_MODEL_H
#define WH_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "speech.h"
#include "wh_engine.h"

/* ggml type ids */
enum { WH_F32 = 0, WH_F16 = 1, WH_Q4_0 = 2, WH_Q4_1 = 3, WH_Q5_0 = 6, WH_Q5_1 = 7, WH_Q8_0 = 8 };
/* Not a ggml id: CTranslate2's int8 weights with one f32 scale per row. A row is stored as
 * [f32 scale, little-endian][K int8] (wh_row_bytes = 4 + K; the loader repacks CT2's
 * separate weight_scale vector into the rows so that a row pointer alone dequantizes), and
 * element i is (float)q[i] / scale, exactly CTranslate2's dequantize (x = q / scale). */
enum { WH_I8R = 64 };
/* Not file types either: quantized weights repacked by the CPU backend for the int8 dot
 * products (kernels.h, "quantized × int8"; 512-bit kernels take a group of 16 rows per vector,
 * 256-bit ones half of it), from q8_0, q5_0, q5_1, q4_0, q4_1. 16 rows side by side per
 * 32-element block, rows padded to a multiple of 16:
 * [16 f16 d][16 f16 m: the _1 types][64 bytes of fifth-bit planes: q5 types][values: q8_0's
 * 512 bytes q ^ 0x80, else 4 × 64 bytes of nibbles], the 8 value vectors being the unsigned
 * values (q8: q + 128; q5_0: q + 16; q4_0: q + 8; the _1 types: q) as [k/4][row][4]; nibble
 * byte vector j holds vector j low and j + 4 high; plane byte i bit j = bit 4 of vector j
 * byte i. Why planes (not a 64-bit mask per vector): one vector load serves all eight, and
 * a shift by 4 - j and an and put vector j's bits where the value needs them, byte for byte
 * (a 16-bit lane shift by at most 4 moves no fifth bit across bytes; the 512-bit kernel
 * tests bit j into a byte mask instead). */
enum { WH_Q8X = 65, WH_Q5X = 66, WH_Q51X = 67, WH_Q4X = 68, WH_Q41X = 69 };
static inline int wh_qx_has_m(int t) { return t == WH_Q51X || t == WH_Q41X; }
static inline int wh_qx_has_h(int t) { return t == WH_Q5X || t == WH_Q51X; }
static inline int wh_qx_off_h(int t) { return 32 + 32 * wh_qx_has_m(t); }   /* planes; m at 32 */
static inline int wh_qx_off_q(int t) { return wh_qx_off_h(t) + 64 * wh_qx_has_h(t); }   /* values */
/* bytes per 16 rows × 32 elements */
static inline size_t wh_qx_block_bytes(int t) { return (size_t)wh_qx_off_q(t) + (t == WH_Q8X ? 512 : 256); }
/* block b of group g (rows 16g .. 16g+15) of a repacked matrix of nb blocks a row at base */
static inline size_t wh_qx_block_off(int t, int nb, int g, int b)
{
    return ((size_t)g * (size_t)nb + (size_t)b) * wh_qx_block_bytes(t);
}
/* what the unsigned values exceed q by */
static inline int wh_qx_offset(int t) { return t == WH_Q8X ? 128 : t == WH_Q5X ? 16 : t == WH_Q4X ? 8 : 0; }
/* wh_hparams.ftype for CTranslate2 int8 weights (ggml's ftypes stop at 9) */
enum { WH_FTYPE_I8R = 64 };
enum { WH_FMT_GGML = 0, WH_FMT_CT2 = 1, WH_FMT_HF = 2 };

typedef struct {
    const void *data;   /* into the mapping */
    int type;
    int64_t ne[4];      /* ne[0] fastest */
    int n_dims;
} wh_tensor;

typedef struct {   /* per attention: W tensors [n_in=n][n_out=n] */
    wh_tensor q_w, q_b, k_w, v_w, v_b, o_w, o_b;
} wh_attn;

typedef struct {
    wh_tensor attn_ln_w, attn_ln_b;
    wh_attn attn;
    wh_tensor cross_ln_w, cross_ln_b;   /* decoder only */
    wh_attn cross;                      /* decoder only */
    wh_tensor mlp_ln_w, mlp_ln_b;
    wh_tensor mlp0_w, mlp0_b;           /* [n][4n], [4n] */
    wh_tensor mlp2_w, mlp2_b;           /* [4n][n], [n] */
} wh_layer;

typedef struct {
    int n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype;
} wh_hparams;

#define WH_MAX_ALIGN_HEADS 1024

typedef struct wh_model {
    wh_hparams hp;
    int filt_n_mel, filt_n_fft;
    const float *filters;          /* [filt_n_mel][filt_n_fft], unaligned-safe copy */
    float *filters_own;
    wh_token_bytes *vocab;         /* n_tokens entries */
    int n_tokens;
    wh_specials sp;
    /* encoder */
    wh_tensor e_pe;                /* [n][n_audio_ctx] f32 */
    wh_tensor conv1_w, conv1_b;    /* [3][n_mels][n], [1][n] */
    wh_tensor conv2_w, conv2_b;    /* [3][n][n], [1][n] */
    wh_tensor e_ln_w, e_ln_b;
    wh_layer *enc;
    /* decoder */
    wh_tensor d_pe;                /* [n][n_text_ctx] f32 */
    wh_tensor tok_emb;             /* [n][n_vocab] W */
    wh_tensor d_ln_w, d_ln_b;
    wh_layer *dec;
    /* mapping */
    void *map;
    size_t map_size;
    int map_owned;                 /* 1: munmap on free */
    float *f32_arena;              /* aligned copies of the small always-f32 tensors */
    int format;                    /* WH_FMT_* */
    char *vocab_own;               /* token bytes when the vocabulary is not in the mapping */
    void *weights_own;             /* repacked WH_I8R weights (CTranslate2 int8) */
    /* the cross-attention heads that follow the audio, as the model's own config gives them
     * ("alignment_heads": [[layer, head], ...] in a CTranslate2 config.json or a Transformers
     * generation_config.json; each distinct pair once); align.c prefers them to its table.
     * 0: none given (ggml files never give them). */
    int n_align_heads;
    uint16_t align_heads[WH_MAX_ALIGN_HEADS][2];
    /* The mapped file as it was at load (wh_model_file_state): the tensors are views into a
     * MAP_PRIVATE mapping, which does not protect pages never copied, so a file rewritten in
     * place shows through (other weights; SIGBUS past a new, shorter end). file is NULL for
     * models loaded from memory. */
    char *file;
    uint64_t file_dev, file_ino;
    int64_t file_size, file_mtime_ns;
} wh_model;

/* Maps and validates path: a ggml file, a CTranslate2 model.bin, a model.safetensors, or a
 * directory holding a CTranslate2 model (model.bin, vocabulary.txt|json, optional
 * config.json and preprocessor_config.json) or a Transformers one (model.safetensors,
 * config.json, vocab.json); the format is detected from the contents. On failure returns an error status and writes a message naming
 * the problem (the tensor, the shape found and expected, the offset). */
sp_status wh_model_load(const char *path, wh_model **out, char *err, size_t err_size);
/* Same over a caller-owned buffer (no mmap; used by the fuzzer). */
sp_status wh_model_load_mem(const void *data, size_t size, wh_model **out, char *err, size_t err_size);
void wh_model_free(wh_model *m);

/* CTranslate2 over caller-owned buffers (model.bin, the vocabulary file, and optionally
 * config.json / preprocessor_config.json, NULL when absent; used by the fuzzer). The
 * buffers must outlive the model. vocab_is_json: vocabulary.json rather than .txt. */
typedef struct {
    const char *vocab; size_t vocab_len; int vocab_is_json;
    const char *config; size_t config_len;
    const char *preproc; size_t preproc_len;
} wh_ct2_side;
sp_status wh_model_load_ct2_mem(const void *bin, size_t size, const wh_ct2_side *side, wh_model **out,
                                char *err, size_t err_size);
/* 1 if the bytes start like a CTranslate2 model.bin (binary version, "WhisperSpec" or any spec name) */
int wh_ct2_sniff(const void *data, size_t size);
/* CTranslate2 from the file system: dir (a model directory) or bin_path (its model.bin; the
 * other files are its siblings). */
sp_status wh_ct2_load_dir(const char *dir, const char *bin_path, wh_model **out, char *err, size_t err_size);
/* Hugging Face Transformers checkpoints (model_st.c): a directory with model.safetensors,
 * config.json, vocab.json (+ added_tokens.json), optional preprocessor_config.json; or the
 * same from buffers (the fuzzer; added tokens and preprocessor config absent). */
int wh_st_sniff(const void *data, size_t size);
/* file: the .safetensors file to map (its siblings are the side files); NULL:
 * dir/model.safetensors */
sp_status wh_st_load_dir(const char *dir, const char *file, wh_model **out, char *err, size_t err_size);
sp_status wh_model_load_st_mem(const void *data, size_t size, const char *config, size_t config_len, const char *vocab,
                               size_t vocab_len, wh_model **out, char *err, size_t err_size);
/* Model names (model_resolve.c): "tiny" … "large-v3", "distil-large-v3", "turbo" (the names
 * faster-whisper knows). wh_model_load(NAME) resolves one when no file of that name exists:
 * $SPEECH_SESSION_MODELS (default models/)/NAME/ (CTranslate2) or /ggml-NAME.bin, then the
 * Hugging Face cache faster-whisper fills ($HF_HUB_CACHE, $HF_HOME/hub,
 * ~/.cache/huggingface/hub). Nothing is downloaded; the error says where it looked and how to
 * get the model. */
int wh_model_is_name(const char *s);
sp_status wh_model_resolve(const char *name, char *out, size_t out_size, char *err, size_t err_size);
/* The model's mapped file now, against what was loaded (stat of the path it was opened by,
 * following symlinks): the same; rewritten in place (same inode, other size or mtime: the
 * mapping now shows other bytes, or faults past a shorter end); replaced (another file at
 * the path: a rename, a repointed symlink; the mapping keeps the old file, safe); gone (no
 * file at the path now). why (may be NULL) says which, naming the path and what changed. */
/* the values of speech.h's sp_model_file_state */
enum { WH_FILE_SAME = 0, WH_FILE_REWRITTEN = 1, WH_FILE_REPLACED = 2, WH_FILE_GONE = 3 };
int wh_model_file_state(const wh_model *m, char *why, size_t why_size);
/* Records path and st as the model's file (for wh_model_file_state); -1: out of memory. */
struct stat;
int wh_model_note_file(wh_model *m, const char *path, const struct stat *st);
/* Index of the first NaN or infinity of a[0..n), or -1. The loaders run it over the small
 * f32 tensors they copy (norms, biases, position tables: ~1 M values for base), so damaged
 * weights fail the load naming the tensor instead of decoding garbage. */
long wh_first_nonfinite(const float *a, size_t n);
/* loader internals shared by the formats (model.c) */
sp_status wh_hparams_check(const wh_hparams *hp, char *err, size_t err_size);
void wh_specials_init(wh_specials *s, int n_vocab);
/* Slaney-style mel filterbank as librosa.filters.mel(sr=16000, n_fft=400, n_mels) computes it
 * (openai/whisper's mel_filters.npz, faster-whisper's get_mel_filters): [n_mels][201], malloc'd. */
float *wh_mel_filters_new(int n_mels);

size_t wh_type_block(int type);    /* elements per block (1 for f32/f16); 0 if unknown */
size_t wh_type_size(int type);     /* bytes per block; 0 if unknown */
const char *wh_type_name(int type);
/* bytes of one row of k elements */
size_t wh_row_bytes(int type, int64_t k);
/* Dequantizes elements [k0, k0+n) of a row (k0, n multiples of the block size). Scalar
 * reference; exact. */
void wh_dequant_row_ref(int type, const void *row, float *out, int64_t k0, int64_t n);

const char *wh_model_size_name(const wh_hparams *hp);
/* The layout of what the CUDA backend reads of a wh_model directly (src/whisper/cuda/: the
 * hyperparameters, the tensors' data pointers, the layers' tensors by field): a shared object
 * built separately and loaded at run time (backend_load.c) compiled these offsets in, and a
 * stale one reached through SPEECH_SESSION_CUDA_LIB or the linker path would read wrong ones
 * without a word. The engine passes this value in wh_cuda_host and the library refuses one
 * that differs from its own; any change to these structures changes it (FNV-1a over the
 * sizes and offsets). */
static inline uint32_t wh_model_layout(void)
{
#define WH_L_T(f) offsetof(wh_tensor, f)
#define WH_L_A(f) offsetof(wh_attn, f)
#define WH_L_L(f) offsetof(wh_layer, f)
#define WH_L_H(f) offsetof(wh_hparams, f)
#define WH_L_M(f) offsetof(wh_model, f)
    const size_t v[] = {
        sizeof(wh_tensor), WH_L_T(data), WH_L_T(type), WH_L_T(ne), WH_L_T(n_dims),
        sizeof(wh_attn), WH_L_A(q_w), WH_L_A(q_b), WH_L_A(k_w), WH_L_A(v_w), WH_L_A(v_b), WH_L_A(o_w), WH_L_A(o_b),
        sizeof(wh_layer), WH_L_L(attn_ln_w), WH_L_L(attn_ln_b), WH_L_L(attn), WH_L_L(cross_ln_w),
        WH_L_L(cross_ln_b), WH_L_L(cross), WH_L_L(mlp_ln_w), WH_L_L(mlp_ln_b), WH_L_L(mlp0_w), WH_L_L(mlp0_b),
        WH_L_L(mlp2_w), WH_L_L(mlp2_b),
        sizeof(wh_hparams), WH_L_H(n_vocab), WH_L_H(n_audio_ctx), WH_L_H(n_audio_state), WH_L_H(n_audio_head),
        WH_L_H(n_audio_layer), WH_L_H(n_text_ctx), WH_L_H(n_text_layer), WH_L_H(n_mels),
        WH_L_M(hp), WH_L_M(e_pe), WH_L_M(conv1_w), WH_L_M(conv1_b), WH_L_M(conv2_w), WH_L_M(conv2_b),
        WH_L_M(e_ln_w), WH_L_M(e_ln_b), WH_L_M(enc), WH_L_M(d_pe), WH_L_M(tok_emb), WH_L_M(d_ln_w),
        WH_L_M(d_ln_b), WH_L_M(dec),
    };
#undef WH_L_T
#undef WH_L_A
#undef WH_L_L
#undef WH_L_H
#undef WH_L_M
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        h ^= (uint32_t)v[i];
        h *= 16777619u;
    }
    return h;
}
#endif
