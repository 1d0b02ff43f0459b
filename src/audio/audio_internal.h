/* audio_internal.h — pieces shared by the audio module's files (not a public API).
 *
 * Pipeline: a byte source (fd through pread, or memory) -> sniff -> a decoder (our WAV
 * reader in audio_wav.c, or FFmpeg in audio_ffmpeg.c) -> aud_downmix() to mono float at the
 * source rate -> aud_sink (resample to 16 kHz, caps, growable output) in audio_sink.c.
 * Both decoders share the downmix and the sink, so a lossless file gives bit-identical PCM
 * whichever decoder read it. */
#ifndef SP_AUDIO_INTERNAL_H
#define SP_AUDIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "speech_audio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the WAV fast path assumes a little-endian host"
#endif

/* ---------------------------------------------------------------- byte source */
typedef struct {
    int fd;                  /* >= 0: pread() from fd at base + pos; < 0: memory */
    const uint8_t *mem;
    size_t mem_size;
    int64_t base;            /* fd offset where the audio starts */
    int64_t pos;             /* current position relative to base */
    int io_errno;            /* last read error (0 if none) */
} aud_src;

/* Reads up to n bytes (retrying short reads) at pos; returns bytes read (< n only at EOF)
 * or -1 on an I/O error (io_errno set). */
ssize_t aud_src_read(aud_src *s, void *buf, size_t n);
/* Current size relative to base (fstat for an fd, so a growing file grows), -1 unknown. */
int64_t aud_src_size(aud_src *s);
/* Makes the byte at off (relative to base) the source's first (pos back to 0): what follows
 * tags in front of the audio is then read as if it were the whole file. */
void aud_src_skip(aud_src *s, int64_t off);

/* ---------------------------------------------------------------- sample formats */
typedef enum {
    AUD_U8, AUD_S16, AUD_S24, AUD_S32, AUD_F32, AUD_F64, AUD_ALAW, AUD_ULAW,
} aud_fmt;

/* Converts `frames` frames of `channels` channels to mono float by averaging the channels
 * (sum in channel order, then * 1/channels). Interleaved: planes[0] holds everything;
 * planar: planes[c] per channel. Floats are sanitised: NaN -> 0, clamp to [-1, 1]. */
void aud_downmix(aud_fmt fmt, const uint8_t *const *planes, int planar, int channels,
                 size_t frames, float *out);
size_t aud_fmt_bytes(aud_fmt fmt);

/* ---------------------------------------------------------------- sink */
typedef struct aud_sink aud_sink;

/* max_samples: cap on 16 kHz output samples (always set). */
aud_sink *aud_sink_new(size_t max_samples);
void aud_sink_free(aud_sink *k);
/* Declares the source rate of what follows (first call, or a mid-stream change: the old
 * resampler is flushed first). */
sp_status aud_sink_rate(aud_sink *k, int rate, char *err, size_t err_size);
/* Pushes mono float samples at the declared rate. */
sp_status aud_sink_push(aud_sink *k, const float *x, size_t n, char *err, size_t err_size);
/* Flushes the resampler; hands over the buffer (never NULL on SP_OK). */
sp_status aud_sink_finish(aud_sink *k, float **pcm, size_t *n, char *err, size_t err_size);
size_t aud_sink_count(const aud_sink *k);   /* output samples so far */
double aud_sink_max_seconds(const aud_sink *k);

/* ---------------------------------------------------------------- decoders */
/* Container sniffed from the first bytes: "wav", "flac", "mp3", "mp4", "ogg", "webm", or NULL
 * (with *why naming what it looks like, e.g. "big-endian RIFX WAV"). *at (may be NULL): where
 * the audio starts, > 0 only for MP3 frames found after other bytes (a layer III header
 * followed by another exactly one frame later, starting in the first AUD_MP3_SCAN_BYTES). */
const char *aud_sniff(const uint8_t *p, size_t n, const char **why, int64_t *at);
#define AUD_MP3_SCAN_BYTES 65536

sp_status aud_wav_decode(aud_src *s, aud_sink *k, sp_audio_info *info, char *err,
                         size_t err_size);
sp_status aud_ffmpeg_decode(aud_src *s, const char *container, aud_sink *k,
                            sp_audio_info *info, char *err, size_t err_size);

/* ---------------------------------------------------------------- ONNX (onnx.c) */
/* What a small model's loader reads from an ONNX file held in memory (buf, len): tensors and
 * nodes point into buf. Each call returns 0 when found, 1 when absent, -1 when the bytes are
 * not a well-formed ONNX model. */
#define AUD_ONNX_MAX_DIMS 8
#define AUD_ONNX_MAX_IN 8
#define AUD_ONNX_MAX_ATTRS 16
#define AUD_ONNX_NAME_MAX 256   /* a tensor's or node's name, with its NUL (longer: none of ours) */
typedef struct {
    char name[AUD_ONNX_NAME_MAX];
    int dtype;                /* TensorProto.DataType: 1 FLOAT */
    int ndims;
    int64_t dims[AUD_ONNX_MAX_DIMS];
    const uint8_t *data;      /* raw_data (or packed float_data): little-endian values */
    size_t bytes;
    int external;             /* the data is in another file (not read) */
} aud_onnx_tensor;
typedef struct {
    char op[64];
    int n_in;
    char in[AUD_ONNX_MAX_IN][AUD_ONNX_NAME_MAX];   /* the first inputs' names ("" for an omitted optional one) */
    int n_out;
    char out[AUD_ONNX_NAME_MAX];     /* the first output's name */
    int n_attrs;
    const uint8_t *attrs[AUD_ONNX_MAX_ATTRS], *attr_end[AUD_ONNX_MAX_ATTRS];
} aud_onnx_node;
/* The lookups search the top graph and every graph within (an If's branches), in file
 * order; each returns 0 found, 1 not there, -1 a malformed file. */
/* the tensor called name: an initializer, or a Constant node's value (named by its output) */
int aud_onnx_tensor_get(const uint8_t *buf, size_t len, const char *name, aud_onnx_tensor *out);
/* the first tensor whose name ends with suffix and whose dims are dims[0..nd) */
int aud_onnx_tensor_suffix(const uint8_t *buf, size_t len, const char *suffix, const int64_t *dims, int nd,
                           aud_onnx_tensor *out);
/* the first node of type op whose input number `input` is name (NULL: any) */
int aud_onnx_node_get(const uint8_t *buf, size_t len, const char *op, int input, const char *name,
                      aud_onnx_node *out);
/* an integer (i) or integer-list (ints) attribute into v (at most max): how many, -1 when
 * the node has none of that name or it does not fit */
int aud_onnx_node_ints(const aud_onnx_node *nd, const char *attr, int64_t *v, int max);

/* ---------------------------------------------------------------- VAD */
typedef struct aud_silero aud_silero;
sp_status aud_silero_load(const char *path, aud_silero **out, char *err, size_t err_size);
void aud_silero_free(aud_silero *m);
/* the ONNX file's bytes (aud_silero_load's second format; name for messages) */
sp_status aud_silero_load_onnx_mem(const uint8_t *buf, size_t len, const char *name, aud_silero **out,
                                   char *err, size_t err_size);
/* 1 when the model's weights were run with Silero's 64-sample context (an ONNX file, as
 * faster-whisper runs it), 0 with whisper.cpp's framing (the ggml file) */
int aud_silero_ctx_framing(const aud_silero *m);
/* One probability per 512-sample chunk (ceil(n/512) of them) into probs; state starts at
 * zero. ctx_framing: 0 whisper.cpp's framing, 1 Silero's 64-sample context. */
sp_status aud_silero_probs(const aud_silero *m, const float *pcm, size_t n, int ctx_framing,
                           float *probs);
/* faster-whisper's segmenter (silero-vad.md §3.3) over per-512-sample probabilities of
 * n_samples of audio. */
sp_status aud_vad_segment(const float *probs, int n_probs, size_t n_samples,
                          const sp_vad_params *p, sp_span **spans, int *n_spans);

/* Limits (spool-reliability.md T15). */
#define AUD_MIN_RATE 4000
#define AUD_MAX_RATE 384000
#define AUD_MAX_CHANNELS 8

void aud_seterr(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The whole load from a source: sniff, decode, downmix, resample. force_ffmpeg (tests)
 * sends WAV through FFmpeg instead of the fast path, to check that both agree. */
sp_status aud_load_src(aud_src *s, double max_seconds, int force_ffmpeg, float **pcm,
                       size_t *n_samples, sp_audio_info *info, char *err, size_t err_size);

#endif
