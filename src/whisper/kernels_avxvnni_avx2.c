/* kernels_avxvnni_avx2.c — the quantized × int8 GEMV with AVX-VNNI's 256-bit vpdpbusd (VEX):
 * Intel's client cores from Alder Lake on, which have no AVX-512, multiply a block as the
 * AVX512-VNNI kernel does instead of vpmaddubsw's three operations. qx256_tmpl.h; called only
 * after kernels.c found AVX-VNNI (CPUID leaf 7 subleaf 1, EAX bit 4). The machines this was
 * written on lack it: the tests run the same template with the EVEX form of the instruction
 * (kernels_vnni256_avx512.c) where AVX512-VNNI is present, and compile this one. */
#include "kernels.h"
#include "model.h"

#include <immintrin.h>
#include <string.h>

#define QXT_ATTR __attribute__((target("avxvnni")))
#define QXT_DPBUSD(s, u, x) _mm256_dpbusd_avx_epi32(s, u, x)
#define QXT_GEMV wh_gemv_qx_avxvnni
#include "qx256_tmpl.h"

/* the cross-attention's int8 products with the same instruction (att8_256.h) */
#define A8_ATTR QXT_ATTR
#define A8_DPBUSD(s, a, b) _mm256_dpbusd_avx_epi32(s, a, b)
#define A8_NAME wh_attend_rows_q8_avxvnni
#include "att8_256.h"
