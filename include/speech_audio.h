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
    SP_AUDIO_ABSOLUTE   = 1u << 2,  /* refuse a relative path */
};

/* Hard limits, whatever the caller asks (spool-reliability.md T15). Larger inputs give
 * SP_ERR_TOO_LARGE. Sample rates 4..384 kHz and 1..8 channels are accepted. */
#define SP_AUDIO_MAX_FILE_BYTES ((long long)4 << 30)    /* 4 GiB on disk */
#define SP_AUDIO_MAX_SECONDS    (4.0 * 3600.0)          /* decoded length */

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

/* Whether pcm[0..n) is silence to transcribe: RMS below 0.00005 (digital silence, dither),
 * or below 0.0005 (the original system's pre-filter) with no run of two voiced frames in the
 * energy VAD's probabilities (faint hiss, knocks — not quiet speech). */
int sp_audio_is_silent(const float *pcm, size_t n_samples);
/* The original system's pre-filter, with sp_audio_is_silent's rule for its RMS: shorter than
 * 150 ms, or silent in every 30 s stretch (from the start; for a clip of up to 30 s the
 * original's whole-clip rule), counts as empty; such audio gets an empty result without
 * running the model. */
int sp_audio_is_empty(const float *pcm, size_t n_samples);

/* The container the first bytes announce ("wav", "flac", "mp3", "mp4", "ogg", "webm"), or
 * NULL when it is none of the whitelisted ones. It looks at up to SP_AUDIO_SNIFF_BYTES: an
 * MP3 may start with other bytes (leading zeros or junk, a piece split off a file), and its
 * frames are looked for in the first 64 KiB. */
#define SP_AUDIO_SNIFF_BYTES (65536 + 2048)
const char *sp_audio_sniff(const void *data, size_t size);

/* ----------------------------------------------------------------- VAD */

typedef struct sp_vad sp_vad;

/* Defaults are the original daemon's (faster-whisper 1.2.1 with threshold 0.4, min_silence
 * 500, min_speech 250; the rest faster-whisper's: pad 400, no max), segmented with
 * faster-whisper's loop (docs/audio.md, ../shared/docs/silero-vad.md §3.3, §3.4). */
typedef struct {
    float threshold;              /* speech probability threshold; default 0.4 */
    int min_speech_duration_ms;   /* default 250 */
    int min_silence_duration_ms;  /* default 500 */
    int speech_pad_ms;            /* default 400 */
    float max_speech_duration_s;  /* default: infinite (0) */
} sp_vad_params;

sp_vad_params sp_vad_default_params(void);

/* model_path NULL: the energy/spectral fallback detector. Otherwise a Silero VAD ggml file
 * (ggml-silero-v6.2.0.bin). An sp_vad holds per-call scratch: one thread at a time. */
sp_status sp_vad_open(const char *model_path, sp_vad **out, char *err, size_t err_size);
void sp_vad_free(sp_vad *vad);

typedef struct { size_t start, end; } sp_span;   /* sample indices, end exclusive */

/* Speech spans of 16 kHz audio, sorted, non-overlapping; *spans malloc'd. */
sp_status sp_vad_segments(sp_vad *vad, const float *pcm, size_t n_samples,
                          const sp_vad_params *params, sp_span **spans, int *n_spans);

/* Per-frame speech probabilities (512-sample frames for Silero, as whisper.cpp frames them;
 * the energy detector uses the same 512-sample frames); *probs malloc'd. */
sp_status sp_vad_probs(sp_vad *vad, const float *pcm, size_t n_samples,
                       float **probs, int *n_probs);

/* Silero framing: 0 (default) whisper.cpp's, each 512-sample chunk reflect-padded on its own;
 * 1 Silero's / faster-whisper's, with the previous chunk's last 64 samples as context
 * (../shared/docs/silero-vad.md §2.1, §2.2). No effect on the energy detector. */
void sp_vad_set_context_framing(sp_vad *vad, int on);

/* 1 when the detector is Silero, 0 for the energy fallback. */
int sp_vad_is_silero(const sp_vad *vad);

#ifdef __cplusplus
}
#endif
#endif
