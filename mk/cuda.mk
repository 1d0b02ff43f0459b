# CUDA backend (src/whisper/cuda/, docs/engine.md "Backends"): a shared object the engine
# loads with dlopen, so every program runs with or without NVIDIA's libraries.
#
#   make            builds lib/libspeech_cuda.so when nvcc is found (CUDA 12/13)
#   make CUDA=0     skips it (programs then always run on the CPU)
#   CUDA_ARCHS="90" one architecture only (scripts/gpu-check.sh: faster to build)
#
# Built in the release variant only: the sanitizer build's programs find it through
# SPEECH_SESSION_CUDA_LIB, and nvcc output is not instrumented anyway.
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA ?= $(if $(NVCC),1,0)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCHS ?= 75 80 86 89 90
# SASS for each listed architecture, plus PTX of the newest so later GPUs can JIT it
CUDA_GENCODE := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
                -gencode arch=compute_$(lastword $(CUDA_ARCHS)),code=compute_$(lastword $(CUDA_ARCHS))
NVCC_FLAGS := -std=c++17 -O2 -Iinclude -Isrc -Isrc/whisper $(CUDA_GENCODE) \
              -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Wno-unused-parameter \
              $(if $(WERROR),-Werror all-warnings -Xcompiler -Werror) $(NVCC_EXTRA)
CUDA_SRC := $(wildcard src/whisper/cuda/*.cu)
CUDA_DEP := $(CUDA_SRC) $(wildcard src/whisper/cuda/*.cuh) src/whisper/backend.h src/whisper/model.h \
            src/whisper/wh_engine.h include/speech.h
CUDA_SO  := lib/libspeech_cuda.so

ifeq ($(CUDA)$(V),1release)
all: $(CUDA_SO)
endif
cuda: $(CUDA_SO)
$(CUDA_SO): $(CUDA_DEP)
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -shared -o $@ $(CUDA_SRC) -lcublas -Xlinker -rpath=$(CUDA_HOME)/lib64
.PHONY: cuda

# The CUDA backend's code compiled for the CPU against the emulation headers of
# tests/cuda_emu (no nvcc needed), and an empty libcuda.so.1 for the driver probe:
# tests/integration/cuda_emu.sh runs the backend's host code and kernels with them. Without
# _FORTIFY_SOURCE: its longjmp check refuses the jump from the caller's stack into a fiber's.
CXX ?= g++
CUDA_EMU := build/cuda-emu/libspeech_cuda_emu.so build/cuda-emu/libcuda.so.1
cuda-emu: $(CUDA_EMU)
build/cuda-emu/libspeech_cuda_emu.so: $(CUDA_DEP) $(wildcard tests/cuda_emu/*.h) src/whisper/fp16.h
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O1 -g -U_FORTIFY_SOURCE -x c++ -Itests/cuda_emu -Iinclude -Isrc -Isrc/whisper -fPIC -fvisibility=hidden \
	    -Wall -Wextra -Wno-unused-parameter $(WERROR) -shared -o $@ $(CUDA_SRC)
build/cuda-emu/libcuda.so.1:
	@mkdir -p $(@D)
	echo 'int speech_session_no_driver;' | $(CC) -shared -fPIC -x c - -o $@
.PHONY: cuda-emu
