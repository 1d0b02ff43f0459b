/* libFuzzer target: the Silero VAD's ONNX reader (onnx.c, and vad_silero.c's checks of the
 * tensors and nodes it finds) on arbitrary bytes, through aud_silero_load_onnx_mem — what
 * sp_vad_open reads after it has taken a file whose first byte is ONNX's. A model it
 * accepts is run on one chunk of silence. Seeds in fuzz/corpus/vad_onnx/ are hand-made
 * protobufs (ONNX's field numbers, the VAD's tensor names, shapes right and wrong, the
 * LSTM and Conv nodes, malformed varints and lengths; Silero's own layout in miniature: If
 * branches, Constant nodes, prefixed names, graphs nested 3 and 40 deep); `make test`
 * replays them. */
#include "audio/audio_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);   /* exact size: ASan sees a read past the end */
    if (!b) return 0;
    memcpy(b, data, size);
    aud_silero *m = NULL;
    char err[256];
    if (aud_silero_load_onnx_mem(b, size, "fuzz", &m, err, sizeof err) == SP_OK) {
        float x[512] = { 0 }, p[1];
        aud_silero_probs(m, x, 512, 1, p);
        aud_silero_free(m);
    }
    /* the reader's other entry points, on any name and node */
    aud_onnx_tensor t;
    aud_onnx_node nd;
    int64_t v[4];
    static const int64_t basis[3] = { 258, 1, 256 };
    (void)aud_onnx_tensor_get(b, size, "decoder.conv1d.bias", &t);
    (void)aud_onnx_tensor_suffix(b, size, "stft.forward_basis_buffer", basis, 3, &t);
    if (aud_onnx_node_get(b, size, "Conv", 1, NULL, &nd) == 0) (void)aud_onnx_node_ints(&nd, "strides", v, 4);
    free(b);
    return 0;
}
