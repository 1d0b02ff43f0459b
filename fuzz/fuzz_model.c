/* libFuzzer target: the model loader on arbitrary bytes (wh_model_load_mem parses exactly
 * what wh_model_load parses after mmap). `make fuzz` builds build/fuzz/fuzz_model; the
 * corpus in fuzz/corpus/model/ is replayed by `make test`. */
#include "whisper/model.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so ASan sees any read past the end */
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    memcpy(b, data, size);
    wh_model *m = NULL;
    char err[256];
    if (wh_model_load_mem(b, size, &m, err, sizeof err) == SP_OK) wh_model_free(m);
    free(b);
    return 0;
}
