/* kl_chunk.h — where to cut a recording that is still going on, so that its first part can
 * be transcribed while the user keeps talking (chunked dictation, docs/key_listener.md).
 *
 * A cut must never fall inside a word: it is placed only in the middle of a pause, a run of
 * 512-sample (32 ms) frames that the project's VAD (sp_vad_probs: Silero when a model file
 * is given, else the energy/spectral detector) scores below its threshold AND whose RMS is
 * below the silence level, at least min_pause_ms long. The double test is deliberate: the
 * energy detector rates unvoiced consonants ("s", "f") as non-speech and takes its floor from
 * the quietest tenth of the audio it is given, so on dense speech it alone could call a quiet
 * syllable a pause; a loud-enough frame vetoes that. A noisy microphone (pauses above the
 * level) then simply gets no cut: the recording is sent whole at release, as without chunking.
 * A cut is looked for only once the audio since the last cut holds chunk_seconds of speech
 * (frames at or above the threshold), so chunks are long enough for Whisper's context. */
#ifndef KL_CHUNK_H
#define KL_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define KL_CHUNK_FRAME 512

typedef struct {
    double chunk_seconds;   /* speech in a chunk before a cut is looked for (> 0) */
    int min_pause_ms;       /* shortest pause a cut may fall in; 0: 300 */
    double threshold;       /* VAD probability below which a frame is not speech; 0: 0.4 */
    double silence_level;   /* RMS (0..1) a pause frame stays below; 0: 0.01 */
} kl_chunk_opts;

typedef struct kl_chunker kl_chunker;

/* vad_model: a Silero ggml file, or NULL for the energy detector. 0, or -1 with a message. */
int kl_chunker_new(kl_chunker **out, const char *vad_model, const kl_chunk_opts *o,
                   char *err, size_t n);
void kl_chunker_free(kl_chunker *c);
/* 1 when the VAD is Silero. */
int kl_chunker_silero(const kl_chunker *c);
/* The cut for s[0..n) (the audio since the last cut): 1 with *cut (a multiple of
 * KL_CHUNK_FRAME, 0 < *cut < n) in the middle of the first pause of min_pause_ms that begins
 * after chunk_seconds of speech; 0 when no cut is due yet; -1 on an error (message).
 * *voiced_run (NULL: not wanted): with a cut, the longest run of frames before it that the VAD
 * scored at or above its threshold - kl_chunk_speech's measure, from the same pass. */
int kl_chunk_find(kl_chunker *c, const int16_t *s, size_t n, size_t *cut, int *voiced_run,
                  char *err, size_t en);

/* Whether s[0..n) holds speech: a run of at least KL_SPEECH_RUN frames (96 ms) that the VAD
 * scores at or above its threshold. Whisper writes text for noise and clicks it is given
 * alone ("Thank you for watching ...", "You"): a recording without such a run is not sent.
 * A word is longer (espeak-ng "yes", "stop", "thanks" at -28 and -57 dBFS, and in pink or
 * brown noise at -30 dBFS: runs of 4-13 frames); stationary noise gives none, a 150 ms
 * beep, clicks or a burst of white noise one or two. *run_ms: the longest run found.
 * 1 speech, 0 none, -1 when the VAD fails (the caller sends the audio anyway). */
#define KL_SPEECH_RUN 3
int kl_chunk_speech(kl_chunker *c, const int16_t *s, size_t n, int *run_ms);

#endif
