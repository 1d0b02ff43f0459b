/* libFuzzer target: the Transformers (safetensors) reader on arbitrary bytes. Input layout:
 * [u32 config_len][config.json][u32 vocab_len][vocab.json][model.safetensors]; a length past
 * the end takes what is left. Seeds in fuzz/corpus/st/ come from
 * `test_model_ct2 --write-corpus DIR`; `make test` replays them. */
#include "fuzz_parts.h"
#include "whisper/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    size_t cn, vn;
    const uint8_t *c0 = fuzz_part(&p, &left, &cn);
    const uint8_t *v0 = fuzz_part(&p, &left, &vn);
    uint8_t *cfg = fuzz_dup(c0, cn), *voc = fuzz_dup(v0, vn), *st = fuzz_dup(p, left);
    if (cfg && voc && st) {
        wh_model *m = NULL;
        char err[256];
        if (wh_model_load_st_mem(st, left, (const char *)cfg, cn, (const char *)voc, vn, &m, err, sizeof err) == SP_OK) wh_model_free(m);
    }
    free(cfg);
    free(voc);
    free(st);
    return 0;
}
