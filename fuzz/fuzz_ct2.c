/* libFuzzer target: the CTranslate2 reader on arbitrary bytes. Input layout (so one input
 * covers model.bin and its side files): [u32 vocab_len][vocabulary.txt][u32 config_len]
 * [config.json][model.bin]; a length past the end takes what is left. Seeds in
 * fuzz/corpus/ct2/ come from `test_model_ct2 --write-corpus DIR`; `make test` replays them. */
#include "fuzz_parts.h"
#include "whisper/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    size_t vn, cn;
    const uint8_t *v0 = fuzz_part(&p, &left, &vn);
    const uint8_t *c0 = fuzz_part(&p, &left, &cn);
    uint8_t *voc = fuzz_dup(v0, vn), *cfg = fuzz_dup(c0, cn), *bin = fuzz_dup(p, left);
    if (voc && cfg && bin) {
        wh_ct2_side side = {.vocab = (const char *)voc, .vocab_len = vn, .config = cn ? (const char *)cfg : NULL, .config_len = cn};
        wh_model *m = NULL;
        char err[256];
        if (wh_model_load_ct2_mem(bin, left, &side, &m, err, sizeof err) == SP_OK) wh_model_free(m);
    }
    free(voc);
    free(cfg);
    free(bin);
    return 0;
}
