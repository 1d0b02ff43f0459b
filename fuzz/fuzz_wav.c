/* fuzz_wav.c — libFuzzer target for the WAV fast path (src/audio/audio_wav.c): chunk walk,
 * fmt validation, streaming decode, downmix and resampling, with a 30 s output cap.
 * Corpus: fuzz/corpus/wav/ (replayed by `make test`). */
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aud_src s = { .fd = -1, .mem = data, .mem_size = size };
    aud_sink *k = aud_sink_new(30 * SP_AUDIO_RATE);
    sp_audio_info info = { 0 };
    char err[256];
    if (!k) return 0;
    if (aud_wav_decode(&s, k, &info, err, sizeof err) == SP_OK) {
        float *pcm = NULL;
        size_t n = 0;
        if (aud_sink_finish(k, &pcm, &n, err, sizeof err) == SP_OK) {
            for (size_t i = 0; i < n; i++)            /* the output contract: finite, [-1, 1] */
                if (!(pcm[i] >= -1.0f && pcm[i] <= 1.0f)) abort();
            free(pcm);
        }
    }
    aud_sink_free(k);
    return 0;
}
