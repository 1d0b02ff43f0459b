/* mel.h — log-mel spectrogram, openai/whisper semantics (whisper-reference.md §1,
 * openai/whisper whisper/audio.py: log_mel_spectrogram). */
#ifndef WH_MEL_H
#define WH_MEL_H
#include "ops.h"
#include "speech.h"

#define WH_N_FFT 400
#define WH_HOP 160
#define WH_N_BINS 201
#define WH_N_SAMPLES 480000   /* 30 s */
#define WH_N_FRAMES 3000

/* Windowed DFT basis: rows 0..200 = hann[n]·cos(2π f n/400), rows 201..401 = hann[n]·sin(...);
 * [402][400], malloc'd. */
float *wh_mel_basis_new(void);

/* pcm (16 kHz mono) is right-padded with 30 s of zeros; out is [n_mels][n_frames] with
 * n_frames = (n + 480000) / 160. filters: [n_mels][201]. */
sp_status wh_mel_compute(wh_exec *ex, const float *basis, const float *filters, int n_mels,
                         const float *pcm, size_t n, float **out, int *n_frames);
#endif
