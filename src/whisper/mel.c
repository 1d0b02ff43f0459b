/* mel.c — see mel.h.
 *
 * The STFT is computed as one matrix product: frames (rows of the reflect-padded signal,
 * taken in place with a row stride of HOP samples) times a windowed cos/sin basis, which
 * runs on the same blocked GEMM as the model (f32, about 1 GFLOP per 30 s). Power, the mel
 * projection (a second GEMM with the model's filterbank), log10, the global-max clamp and
 * the (x + 4)/4 scaling follow audio.py step by step. */
#include "mel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float *wh_mel_basis_new(void)
{
    float *b = malloc(sizeof(float) * 2 * WH_N_BINS * WH_N_FFT);
    if (!b) return NULL;
    for (int f = 0; f < WH_N_BINS; f++)
        for (int n = 0; n < WH_N_FFT; n++) {
            /* periodic Hann (torch.hann_window default) */
            double w = 0.5 * (1.0 - cos(2.0 * M_PI * n / WH_N_FFT));
            /* reduce f·n mod 400 before the angle so large products stay exact */
            double ang = 2.0 * M_PI * (double)((f * n) % WH_N_FFT) / WH_N_FFT;
            b[(size_t)f * WH_N_FFT + n] = (float)(w * cos(ang));
            b[(size_t)(WH_N_BINS + f) * WH_N_FFT + n] = (float)(w * sin(ang));
        }
    return b;
}

sp_status wh_mel_compute(wh_exec *ex, const float *basis, const float *filters, int n_mels,
                         const float *pcm, size_t n, float **out, int *n_frames)
{
    *out = NULL;
    *n_frames = 0;
    const size_t L = n + WH_N_SAMPLES;              /* audio + 30 s of zeros */
    const size_t nf = L / WH_HOP;                   /* 1 + L/160 STFT frames, last dropped */
    if (nf > (size_t)1 << 26) return SP_ERR_TOO_LARGE;
    const int pad = WH_N_FFT / 2;
    float *sig = calloc(L + 2 * (size_t)pad + 16, sizeof(float));
    float *spec = malloc(sizeof(float) * nf * 2 * WH_N_BINS);
    float *melT = malloc(sizeof(float) * nf * (size_t)n_mels);
    float *mel = malloc(sizeof(float) * nf * (size_t)n_mels);
    sp_status st = SP_ERR_NOMEM;
    if (!sig || !spec || !melT || !mel) goto done;

    /* reflect padding (torch.stft center=True, pad_mode="reflect": edge not repeated) */
    float *s = sig + pad;
    memcpy(s, pcm, n * sizeof(float));
    for (int i = 1; i <= pad; i++) {
        s[-i] = (size_t)i < L ? s[i] : 0.0f;
        s[L - 1 + (size_t)i] = (size_t)i < L ? s[L - 1 - (size_t)i] : 0.0f;
    }

    /* frame t covers sig[t*HOP .. t*HOP + 400) (centre at sample t*HOP of the audio) */
    wh_wmat B = {basis, 0 /* WH_F32 */, WH_N_FFT, WH_N_FFT * sizeof(float)};
    wh_par_gemm(ex, (int)nf, WH_N_FFT, sig, WH_HOP, &B, 2 * WH_N_BINS, NULL, spec, 2 * WH_N_BINS, 0, 0);

    /* power spectrum, in place into the first 201 columns */
    for (size_t t = 0; t < nf; t++) {
        float *r = spec + t * 2 * WH_N_BINS;
        for (int f = 0; f < WH_N_BINS; f++) {
            float re = r[f], im = r[WH_N_BINS + f];
            r[f] = re * re + im * im;
        }
    }
    wh_wmat F = {filters, 0, WH_N_BINS, WH_N_BINS * sizeof(float)};
    wh_par_gemm(ex, (int)nf, WH_N_BINS, spec, 2 * WH_N_BINS, &F, n_mels, NULL, melT, n_mels, 0, 0);

    /* log10(max(x, 1e-10)), transposed to [n_mels][nf]; global max */
    float mx = -INFINITY;
    for (size_t t = 0; t < nf; t++)
        for (int m = 0; m < n_mels; m++) {
            float v = melT[t * (size_t)n_mels + m];
            v = log10f(v > 1e-10f ? v : 1e-10f);
            mel[(size_t)m * nf + t] = v;
            mx = v > mx ? v : mx;
        }
    const float floor_ = mx - 8.0f;
    for (size_t i = 0; i < nf * (size_t)n_mels; i++) {
        float v = mel[i] > floor_ ? mel[i] : floor_;
        mel[i] = (v + 4.0f) / 4.0f;
    }
    *out = mel;
    mel = NULL;
    *n_frames = (int)nf;
    st = SP_OK;
done:
    free(sig);
    free(spec);
    free(melT);
    free(mel);
    return st;
}
