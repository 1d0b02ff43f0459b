#!/bin/sh
# scripts/gpu-check.sh's own build (a hand-made one: the GPU machines lack FFmpeg's and
# jansson's headers) on this machine, with --build-only: every program it needs links. It
# is run only when a GPU is lent, minutes of device time at a time; a change that broke its
# build (bin/bench calling a session-layer helper the script did not compile) was found only
# by chance. Needs nvcc (the CUDA backend is part of the build); skipped without it.
# Then the same with the library's build broken (an nvcc option that does not exist, the
# source made to look changed): the script must exit non-zero and say BUILD FAILED — it had
# printed "build checked only" and exited 0, its make piped into tee, and on a GPU gone on
# to test the library an earlier build had left.
cd "$(dirname "$0")/../.." || exit 1
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "ok - gpu-check.sh builds # SKIP no nvcc"
    exit 0
fi
# the broken build first: nvcc stops at once, and the script stops the C compilers with it
out=$(GPU_CHECK_MAKE_ARGS="-W src/whisper/cuda/wh_cuda.cu NVCC_EXTRA=--no-such-nvcc-option" \
      sh scripts/gpu-check.sh --build-only 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "BUILD FAILED: lib/libspeech_cuda.so" && ! echo "$out" | grep -q "build checked only"; then
    echo "ok - gpu-check.sh with a failing nvcc build: exit $rc, BUILD FAILED, nothing checked"
else
    echo "not ok - gpu-check.sh with a failing nvcc build (exit $rc)"
    echo "$out" | tail -5 | sed 's/^/#   /'
    exit 1
fi
out=$(sh scripts/gpu-check.sh --build-only 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q -- "--build-only: build checked only" && ! echo "$out" | grep -q "BUILD FAILED"; then
    echo "ok - gpu-check.sh builds its programs (mkmodel, bench, test_gpu, test_engine_ref, test_device) and the CUDA library"
else
    echo "not ok - gpu-check.sh build (exit $rc)"
    echo "$out" | grep -E "BUILD FAILED|error|undefined" | head -20 | sed 's/^/#   /'
    exit 1
fi
