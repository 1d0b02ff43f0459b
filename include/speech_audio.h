/* speech_audio.h — audio input for speech-session: safe open, container sniffing, decode,
 * resample to 16 kHz mono float, the empty-audio pre-filter and voice activity detection.
 * Used by bin/transcribe, the daemon and the HTTP server. Same error conventions as
 * speech.h (sp_status, err buffer, out-parameters NULL/0 on failure). Thread-safe: no
 * shared state between calls. */
#ifndef SPEECH_AUDIO_H
#define SPEECH_AUDIO_H

#include "speech.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_AUDIO_RATE 16000

/* sp_audio_load flags */
enum {
    SP_AUDIO_NOFOLLOW   = 1u << 0,  /* refuse a symlink as the final path component */
    SP_AUDIO_OWNER_ONLY = 1u << 1,  /* refuse files not owned by the caller's euid (or root) */
};

typedef struct {
    char container[16];     /* "wav", "flac", "mp3", "mp4", "ogg", "webm" */
    char codec[24];         /* "pcm_s16le", "mp3", "aac", ... */
    int source_rate, source_channels;
    double duration;        /* seconds of decoded 16 kHz audio */
    int truncated;          /* the file ended early; what was there was decoded */
} sp_audio_info;

/* Opens path safely (O_NONBLOCK, regular files only, no FIFOs/devices/directories, optional
 * O_NOFOLLOW and owner check), sniffs the container from its bytes, decodes through a
 * whitelist of formats/codecs, downmixes and resamples to 16 kHz mono float in [-1, 1].
 * max_seconds > 0 caps the decoded length (SP_ERR_TOO_LARGE beyond it).
 * *pcm is malloc'd (owned by the caller); info may be NULL. */
sp_status sp_audio_load(const char *path, unsigned flags, double max_seconds,
                        float **pcm, size_t *n_samples, sp_audio_info *info,
                        char *err, size_t err_size);
/* Same from an already opened descriptor (not closed; read from its current offset). */
sp_status sp_audio_load_fd(int fd, double max_seconds, float **pcm, size_t *n_samples,
                           sp_audio_info *info, char *err, size_t err_size);
/* Same from memory. */
sp_status sp_audio_load_mem(const void *data, size_t size, double max_seconds, float **pcm,
                            size_t *n_samples, sp_audio_info *info, char *err, size_t err_size);

/* The original system's pre-filter: shorter than 150 ms or RMS below 0.0005 counts as
 * empty; such audio gets an empty result without running the model. */
int sp_audio_is_empty(const float *pcm, size_t n_samples);

/* ----------------------------------------------------------------- VAD */

typedef struct sp_vad sp_vad;

typedef struct {
    float threshold;              /* speech probability threshold; default 0.5 */
    int min_speech_duration_ms;   /* default 250 */
    int min_silence_duration_ms;  /* default 500 */
    int speech_pad_ms;            /* default 400? see docs/silero-vad.md; documented in impl */
    float max_speech_duration_s;  /* default: infinite (0) */
} sp_vad_params;

sp_vad_params sp_vad_default_params(void);

/* model_path NULL: the energy/spectral fallback detector. Otherwise a Silero VAD ggml file. */
sp_status sp_vad_open(const char *model_path, sp_vad **out, char *err, size_t err_size);
void sp_vad_free(sp_vad *vad);

typedef struct { size_t start, end; } sp_span;   /* sample indices, end exclusive */

/* Speech spans of 16 kHz audio, sorted, non-overlapping; *spans malloc'd. */
sp_status sp_vad_segments(sp_vad *vad, const float *pcm, size_t n_samples,
                          const sp_vad_params *params, sp_span **spans, int *n_spans);

/* Per-frame speech probabilities (512-sample frames for Silero); *probs malloc'd. */
sp_status sp_vad_probs(sp_vad *vad, const float *pcm, size_t n_samples,
                       float **probs, int *n_probs);

#ifdef __cplusplus
}
#endif
#endif
