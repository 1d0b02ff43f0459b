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
