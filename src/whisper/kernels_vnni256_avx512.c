/* kernels_vnni256_avx512.c — the 256-bit vpdpbusd GEMV of qx256_tmpl.h in its EVEX form
 * (AVX512-VNNI + VL): the AVX-VNNI kernel's code (kernels_avxvnni_avx2.c) on the AVX512-VNNI
 * machines this engine is tested on, which lack the VEX form. The engine itself takes the
 * 512-bit kernel there; tests and bin/bench call this one directly. */
#include "kernels.h"
#include "model.h"

#include <immintrin.h>
#include <string.h>

#define QXT_ATTR __attribute__((target("avx512vnni")))
#define QXT_DPBUSD(s, u, x) _mm256_dpbusd_epi32(s, u, x)
#define QXT_GEMV wh_gemv_qx_vnni256
#include "qx256_tmpl.h"

/* the cross-attention's int8 products, as kernels_avxvnni_avx2.c's (att8_256.h) */
#define A8_ATTR QXT_ATTR
#define A8_DPBUSD(s, a, b) _mm256_dpbusd_epi32(s, a, b)
#define A8_NAME wh_attend_rows_q8_vnni256
#include "att8_256.h"
