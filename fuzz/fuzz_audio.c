/* fuzz_audio.c — libFuzzer target for the whole sniff -> demux -> decode -> resample path
 * (sp_audio_load_mem: our WAV reader or FFmpeg behind the format/codec whitelist), with a
 * 30 s output cap. Corpus: fuzz/corpus/audio/ (replayed by `make test`). */
#include <stdint.h>
#include <stdlib.h>

#include "speech_audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float *pcm = NULL;
    size_t n = 0;
    sp_audio_info info;
    char err[256];
    if (sp_audio_load_mem(data, size, 30.0, &pcm, &n, &info, err, sizeof err) == SP_OK) {
        for (size_t i = 0; i < n; i++)
            if (!(pcm[i] >= -1.0f && pcm[i] <= 1.0f)) abort();
        (void)sp_audio_is_empty(pcm, n);
    } else if (pcm || n) {
        abort();                                      /* failure leaves out-params clear */
    }
    free(pcm);
    return 0;
}
