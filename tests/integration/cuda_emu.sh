#!/bin/sh
# The CUDA backend run without a GPU: its code (src/whisper/cuda/) compiled for the CPU
# against the emulation headers of tests/cuda_emu — device memory is host memory, cuBLAS is
# a reference GEMM, every kernel thread is a fiber with real block and warp barriers — and
# loaded by the engine exactly as the real library is (dlopen, driver probe, self-check).
# What this proves: the host code (layouts, offsets, cuBLAS transposes and strides, cache
# tables, copies) and the kernels' arithmetic agree with the CPU engine. What it cannot:
# real-GPU behaviour and speed (scripts/gpu-check.sh on a GPU machine).
# Release binaries (built by `make test`): the fibers run under ASan only with warnings
# about swapcontext, and 20 times slower.
set -u
cd "$(dirname "$0")/../.."
E=build/cuda-emu
TG=build/release/tests/test_gpu
if [ ! -f "$E/libspeech_cuda_emu.so" ] || [ ! -x "$TG" ]; then
    echo "not ok - emulated CUDA backend built (make cuda-emu build/release/tests/test_gpu)"
    exit 1
fi
export LD_LIBRARY_PATH="$PWD/$E${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SPEECH_SESSION_CUDA_LIB="$PWD/$E/libspeech_cuda_emu.so"
# test_gpu: no usable (emulated) GPU is a failure here, not a skip
export SPEECH_SESSION_REQUIRE_GPU=1
T=$(mktemp -d /tmp/ss-cudaemu.XXXXXX)
trap 'kill -9 $(cat "$T/root/session_daemon.pid" 2>/dev/null) 2>/dev/null; rm -rf "$T"' EXIT
fails=0

# logits (f16, q5_0, 128 mels), beams, alignment pass; greedy transcript on one model. 96
# positions: the decoder's cross-attention in two chunks and their combination
# (the decoder's CUDA graphs on, as by default: the summary says they were replayed)
SPEECH_SESSION_CUDA_PROFILE=graphs "$TG" --audio-ctx 96 --no-transcripts tests/data/models/micro-f16.bin \
    2>"$T/graphs.err" || fails=$((fails + 1))
if grep -Eq '^# cuda graphs: on; [1-9][0-9]* captured, [1-9][0-9]* replayed' "$T/graphs.err"; then
    echo "ok - decoder steps captured as CUDA graphs and replayed"
else
    echo "not ok - decoder graphs replayed"; cat "$T/graphs.err"; fails=$((fails + 1))
fi
# a driver that refuses stream capture: said once on stderr, the steps launched directly
CUDA_EMU_NO_GRAPHS=1 SPEECH_SESSION_CUDA_PROFILE=graphs "$TG" --audio-ctx 16 --no-transcripts --steps 70 \
    tests/data/models/micro-f16.bin 2>"$T/nographs.err" || fails=$((fails + 1))
if grep -q 'CUDA graph capture failed; the decoder launches its kernels directly' "$T/nographs.err" &&
   grep -Eq '^# cuda graphs: off; 0 captured, 0 replayed, [1-9][0-9]* direct' "$T/nographs.err"; then
    echo "ok - capture refused: direct launches, same logits"
else
    echo "not ok - capture refused"; cat "$T/nographs.err"; fails=$((fails + 1))
fi
# (the 100-step check once above is enough in emulation, where each step costs a second)
"$TG" --audio-ctx 32 --no-transcripts --steps 0 tests/data/models/micro-q5_0.bin tests/data/models/micro-v3-f16.bin ||
    fails=$((fails + 1))
"$TG" --audio-ctx 16 --greedy-only --steps 0 tests/data/models/micro.en-f16.bin || fails=$((fails + 1))

# test_gpu must not pass without the GPU. A probe that fails (a launch failure at once): with
# SPEECH_SESSION_REQUIRE_GPU=1 that is "not ok", not "ok - # SKIP". A probe that passes but a
# model whose own GPU context fails its self-check (NaN products from the 100th on): that
# model's checks had compared the CPU with itself and passed
CUDA_EMU_FAIL_AFTER=0 "$TG" --audio-ctx 16 --no-transcripts --steps 0 tests/data/models/micro-f16.bin >"$T/req.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q '^not ok - no usable GPU' "$T/req.out"; then
    echo "ok - test_gpu with SPEECH_SESSION_REQUIRE_GPU=1 and no usable GPU: not ok, exit $rc"
else
    echo "not ok - test_gpu requiring a GPU it lacks (exit $rc)"; cat "$T/req.out"; fails=$((fails + 1))
fi
bin/mkmodel --shape micro --n-audio-ctx 32 --n-text-ctx 64 --type f16 --out "$T/m32.bin" >/dev/null 2>&1
CUDA_EMU_NAN_AFTER=100 "$TG" --audio-ctx 16 --no-transcripts --steps 0 "$T/m32.bin" >"$T/fb.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q '^not ok - m32.bin: the GPU context opened on the GPU' "$T/fb.out" && ! grep -q '^ok - m32.bin: teacher' "$T/fb.out"; then
    echo "ok - test_gpu on a model whose GPU context fell back to the CPU: not ok, its comparisons not run"
else
    echo "not ok - test_gpu on a model that fell back (exit $rc)"; cat "$T/fb.out"; fails=$((fails + 1))
fi

# attention-only garbage (NaN in the alignment pass's probabilities, the logits finite) is a
# GPU failure: the context moves to the CPU and says why. It had gone into the DTW as wrong
# word times
CUDA_EMU_NAN_D2H_BELOW=100000 "$TG" --audio-ctx 16 --no-transcripts --steps 0 "$T/m32.bin" >"$T/attn.out" 2>&1
if grep -q 'GPU failed during a request (non-finite alignment probabilities); running on the CPU' "$T/attn.out"; then
    echo "ok - non-finite alignment probabilities from the GPU: a device failure, the CPU takes over"
else
    echo "not ok - non-finite alignment probabilities"; grep -E 'not ok|FAIL' "$T/attn.out"; fails=$((fails + 1))
fi

# bench --device cuda on a micro model with a 32-position window. A model that did not open
# on the GPU, and a GPU that faults after opening (in a decoder step, the 600th launch), must
# give no figures and a non-zero exit: they had given the CPU's figures, or ~0 ms "steps"
# (refused calls), labelled cuda, and exit 0. With the GPU failing from the start the GPU's
# limits are measured too and must stop at the first failed call (they had gone on to time
# an 8192³ product the emulation cannot finish); after that, --no-gpu-limits
for f in 0 600; do
    L=--no-gpu-limits
    [ $f -eq 0 ] && L=
    # shellcheck disable=SC2086
    CUDA_EMU_FAIL_AFTER=$f timeout 120 bin/bench --device cuda $L --runs 1 --tokens 2 --no-scaling --audio '' \
        "$T/m32.bin" >"$T/bench.out" 2>&1
    rc=$?
    if [ $f -eq 0 ] && ! grep -q '^# GPU limits: not measurable' "$T/bench.out"; then rc="$rc, limits measured"; fi
    if [ "$rc" = 1 ] && grep -Eq '^#   (GPU FAULT|FAILED)' "$T/bench.out" && ! grep -q 'cuda load' "$T/bench.out"; then
        echo "ok - bench --device cuda, GPU failing after $f launches: $(grep -E '^#   (GPU FAULT|FAILED)' "$T/bench.out" | head -1 | cut -c5-60)..., exit 1, no figures"
    else
        echo "not ok - bench --device cuda with a GPU failing after $f launches (exit $rc)"
        grep -v '^# GE' "$T/bench.out"; fails=$((fails + 1))
    fi
done

# GPU memory checked at open for what requests allocate later (caches of a beam-5 search,
# the alignment pass's probabilities): with a little less free than that, the model is
# refused at open (the CPU from the start) instead of failing in the middle of a request
# (the caches and probabilities had not been counted: such a GPU opened, and its first
# beam-5 or word-timestamp request moved the context to the CPU for good)
need=$(CUDA_EMU_MEM_FREE=1 bin/transcribe --model tests/data/models/micro-f16.bin --device cuda --audio-ctx 16 \
       tests/data/speech-16k.wav 2>&1 >/dev/null | sed -n 's/.*out of GPU memory: need \([0-9.]*\) MB.*/\1/p' | head -1)
if [ -n "$need" ]; then
    # 3 MB short: within micro's beam caches (5 x 0.34 MB) and probabilities (5.4 MB)
    free=$(awk -v n="$need" 'BEGIN { printf "%.0f", (n - 3) * 1e6 }')
    CUDA_EMU_MEM_FREE=$free bin/transcribe --model tests/data/models/micro-f16.bin --device cuda --audio-ctx 16 \
        tests/data/speech-16k.wav >/dev/null 2>"$T/mem.err"
fi
if [ -n "$need" ] && grep -q 'out of GPU memory: need' "$T/mem.err"; then
    echo "ok - GPU memory checked at open includes beam-5 caches and alignment probabilities (need $need MB; $((free / 1000000)) MB free refused)"
else
    echo "not ok - GPU memory need at open (need '${need:-}')"; cat "$T/mem.err" 2>/dev/null; fails=$((fails + 1))
fi

# a library built against another model.h layout (a field inserted at the head of
# wh_tensor) is refused at open: it had read every tensor at the wrong offsets
mkdir -p "$T/abi"
sed 's|^    const void \*data;   /\* into the mapping \*/|    int abi_test_pad;\n&|' src/whisper/model.h >"$T/abi/model.h"
if grep -q abi_test_pad "$T/abi/model.h" &&
   ${CXX:-g++} -std=c++17 -O0 -x c++ -I"$T/abi" -Itests/cuda_emu -Iinclude -Isrc -Isrc/whisper -fPIC -fvisibility=hidden \
       -w -shared -o "$T/abi/lib.so" src/whisper/cuda/wh_cuda.cu &&
   SPEECH_SESSION_CUDA_LIB="$T/abi/lib.so" bin/transcribe --model tests/data/models/micro-f16.bin --device cuda \
       --audio-ctx 16 tests/data/speech-16k.wav 2>&1 >/dev/null | grep -q 'built for another engine version (model.h layout differs)'; then
    echo "ok - a CUDA library built against another model.h layout is refused at open"
else
    echo "not ok - model.h layout check"; fails=$((fails + 1))
fi

# a GPU that fails in the middle of a transcription, after the self-check: the request is
# finished on the CPU with the same text as a CPU run, and the CLI says why.
# mid_request NAME ENV=VALUE REASON: ENV makes the emulated GPU fail (CUDA_EMU_FAIL_AFTER: a
# sticky launch failure; CUDA_EMU_NAN_AFTER: NaN products reported as success, caught in the
# logits), REASON the message expected on stderr
A="--model tests/data/models/micro.en-f16.bin --audio-ctx 16 --beam-size 1 --no-timestamps"
bin/transcribe $A --device cpu tests/data/speech-16k.wav >"$T/cpu.txt" 2>&1
mid_request() {
    env "$2" bin/transcribe $A --device cuda tests/data/speech-16k.wav >"$T/gpu.txt" 2>"$T/gpu.err"
    _rc=$?
    if [ $_rc -eq 0 ] && [ -s "$T/cpu.txt" ] && cmp -s "$T/cpu.txt" "$T/gpu.txt" &&
       grep -q "GPU failed during a request ($3); running on the CPU" "$T/gpu.err"; then
        echo "ok - $1 mid-request: finished on the CPU, same text as a CPU run, reason on stderr"
    else
        echo "not ok - $1 mid-request (exit $_rc)"; cat "$T/gpu.err"; fails=$((fails + 1))
    fi
}
mid_request "GPU fault" CUDA_EMU_FAIL_AFTER=400 "cudaErrorLaunchFailure.*"
mid_request "GPU computing NaN (caught in the logits)" CUDA_EMU_NAN_AFTER=300 "non-finite logits"

# the daemon on the (emulated) GPU: status and pong say cuda, with the GPU's name and memory
mkdir -p "$T/root"
SPEECH_SESSION_ROOT="$T/root" bin/session_daemon --fork --device cuda \
    --model "$(realpath tests/data/models/micro-f16.bin)" 60
st="$T/root/session_daemon_status.json"
i=0; while [ $i -lt 250 ] && ! grep -q '"model_loaded": *true' "$st" 2>/dev/null; do sleep 0.04; i=$((i + 1)); done
if grep -q '"device": *"cuda"' "$st" && grep -q '"device_name": *"CUDA emulation' "$st" &&
   grep -q '"gpu_memory_used_mb": *[1-9]' "$st" && grep -q '"device_fallback": *null' "$st"; then
    echo "ok - daemon on the GPU: status file says cuda, the GPU's name and memory, no fallback"
else
    echo "not ok - daemon status on the GPU"; cat "$st"; fails=$((fails + 1))
fi
if SPEECH_SESSION_ROOT="$T/root" bin/session_client ping 2>&1 | grep -q cuda ||
   grep -q 'INFO SESSION gpu="CUDA emulation' "$T/root/session_daemon.log"; then
    echo "ok - daemon log names the GPU"
else
    echo "not ok - daemon log names the GPU"; fails=$((fails + 1))
fi
SPEECH_SESSION_ROOT="$T/root" bin/session_client stop >/dev/null 2>&1
[ $fails -eq 0 ]
