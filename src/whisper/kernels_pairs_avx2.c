/* kernels_pairs_avx2.c — the AVX2 quantized × int8 GEMV (vpmaddubsw, no VNNI) for q8_0 weights
 * with pair-bounded activations (qx256_tmpl.h, QXT_PAIRS): vpmaddubsw and vpmaddwd per 32
 * products and activation row where kernels_avx2.c's exact form also needs vpsignb. The default
 * on Intel CPUs without VNNI, whose vpsignb, vpmaddubsw and vpmaddwd share ports 0 and 1;
 * elsewhere (Zen 2/3: the two multiplies alone bound it) the exact form stays, since the pair
 * bound coarsens the activations (docs/engine.md, "AVX2, pair-bounded q8_0"). kernels.c chooses
 * (wh_kernels_avx2_pairs). */
#include "kernels.h"
#include "model.h"

#include <immintrin.h>
#include <string.h>

#define QXT_ATTR
#define QXT_PAIRS 1
#define QXT_GEMV wh_gemv_qx_avx2p
#include "qx256_tmpl.h"
