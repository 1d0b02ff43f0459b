/* libFuzzer target: the Transformers (safetensors) reader on arbitrary bytes. Input layout:
 * [u32 config_len][config.json][u32 vocab_len][vocab.json][model.safetensors]; a length past
 * the end takes what is left. Seeds in fuzz/corpus/st/ come from
 * `test_model_ct2 --write-corpus DIR`; `make test` replays them. */
#include "whisper/model.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t take(const uint8_t **p, size_t *left)
{
    uint32_t n = 0;
    if (*left >= 4) { memcpy(&n, *p, 4); *p += 4; *left -= 4; }
    else { *p += *left; *left = 0; }
    size_t k = n < *left ? n : *left;
    *p += k;
    *left -= k;
    return k;
}

/* an exact-size heap copy of each part, so ASan sees any read past its end */
static uint8_t *dup(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b && n) memcpy(b, p, n);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    const uint8_t *c0 = p + (left >= 4 ? 4 : left);
    size_t cn = take(&p, &left);
    const uint8_t *v0 = p + (left >= 4 ? 4 : left);
    size_t vn = take(&p, &left);
    uint8_t *cfg = dup(c0, cn), *voc = dup(v0, vn), *st = dup(p, left);
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
