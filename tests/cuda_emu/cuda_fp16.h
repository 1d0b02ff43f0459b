// cuda_fp16.h (emulation) — __half as the IEEE bits, converted exactly as the engine's
// CPU code converts (round to nearest even). Part of the CUDA emulation of tests/cuda_emu/.
#pragma once
#include <stdint.h>
#include "whisper/fp16.h"

struct __half {
    uint16_t x;
};
static inline __half __float2half(float f) { return __half{wh_f32_to_f16(f)}; }
static inline float __half2float(__half h) { return wh_f16_to_f32(h.x); }
