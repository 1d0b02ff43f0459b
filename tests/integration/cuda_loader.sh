#!/bin/sh
# The CUDA backend's run-time loading on a machine without a GPU (docs/engine.md
# "Backends"): every way the GPU can be missing ends on the CPU with its own one-line
# reason, in the CLI and in the daemon's status file, and the work still gets done.
#   - no driver library at all            -> "no CUDA driver"
#   - a driver that cannot run (the CUDA toolkit's stub libcuda, which every CUDA call
#     answers with "stub library")        -> our shared object and cuBLAS load, the entry
#                                            point runs, and reports "stub library"
#   - driver present, our library missing -> "CUDA backend not available"
# Uses the release programs in bin/ (built by `make test` as well): the shared object is
# only built in the release variant, and loading cuBLAS into a sanitizer build would only
# report NVIDIA's own allocations as leaks.
set -u
cd "$(dirname "$0")/../.."
B=bin
T=$(mktemp -d /tmp/ss-cuda.XXXXXX)
trap 'kill -9 $(cat "$T/root/session_daemon.pid" 2>/dev/null) 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; echo "#   $2"; fails=$((fails + 1)); }
M=tests/data/models/micro-f16.bin
W=$T/short.wav
sox tests/data/speech-16k.wav "$W" trim 0 0.6
FAST="--language en --beam-size 1 --temperature 0 --threads 2 --no-timestamps"
STUB=$(ls /usr/local/cuda/lib64/stubs/libcuda.so /usr/local/cuda/targets/*/lib/stubs/libcuda.so 2>/dev/null | head -1)

if [ ! -f lib/libspeech_cuda.so ]; then
    echo "ok - # SKIP no CUDA backend built (nvcc not found, or CUDA=0)"
    exit 0
fi

"$B/session_http" --device tpu >/dev/null 2>&1; rc1=$?
"$B/transcribe" --model "$M" --device cuda:x "$W" >/dev/null 2>&1; rc2=$?
if [ $rc1 -eq 100 ] && [ $rc2 -eq 2 ]; then ok "invalid device strings refused as usage errors (session_http, transcribe)"
else nok "invalid device strings" "session_http $rc1, transcribe $rc2"; fi

if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1 '; then
    "$B/transcribe" --model "$M" --device cuda $FAST "$W" >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc -eq 0 ] && [ -s "$T/out" ] && grep -q "device cpu: no CUDA driver" "$T/err"; then
        ok "no driver: CPU, reason 'no CUDA driver', text produced"
    else nok "no driver" "rc=$rc: $(cat "$T/err")"; fi
    SPEECH_SESSION_DEVICE=auto "$B/transcribe" --model "$M" $FAST "$W" >"$T/out" 2>"$T/err"
    if [ $? -eq 0 ] && [ -s "$T/out" ] && [ ! -s "$T/err" ]; then ok "device auto without a GPU: quiet CPU run"
    else nok "device auto quiet" "$(cat "$T/err")"; fi
fi

if [ -n "$STUB" ]; then
    mkdir -p "$T/drv"
    ln -s "$STUB" "$T/drv/libcuda.so.1"
    LD_LIBRARY_PATH="$T/drv" "$B/transcribe" --model "$M" --device cuda $FAST "$W" >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc -eq 0 ] && [ -s "$T/out" ] && grep -q "device cpu: CUDA unavailable: .*stub" "$T/err"; then
        ok "stub driver: backend library loaded, its error reported, CPU text produced"
    else nok "stub driver" "rc=$rc: $(cat "$T/err")"; fi

    LD_LIBRARY_PATH="$T/drv" SPEECH_SESSION_CUDA_LIB="$T/none.so" "$B/transcribe" --model "$M" --device cuda:1 $FAST "$W" >"$T/out" 2>"$T/err"
    if [ $? -eq 0 ] && grep -q "device cpu: CUDA backend not available: .*none.so" "$T/err"; then
        ok "library missing: 'CUDA backend not available' with the loader's message"
    else nok "library missing" "$(cat "$T/err")"; fi

    # the daemon: status file says cpu and why; the response says cpu
    mkdir -p "$T/root"
    LD_LIBRARY_PATH="$T/drv" SPEECH_SESSION_ROOT="$T/root" "$B/session_daemon" --fork --device cuda \
        --model "$(realpath "$M")" --beam-size 1 --language en 60
    st="$T/root/session_daemon_status.json"
    i=0; while [ $i -lt 250 ] && ! grep -q '"model_loaded": *true' "$st" 2>/dev/null; do sleep 0.04; i=$((i + 1)); done
    if grep -q '"device": *"cpu"' "$st" && grep -q '"device_fallback": *"CUDA unavailable: .*stub' "$st" &&
       grep -q '"device_name": *"CPU' "$st"; then
        ok "daemon: status file reports device cpu, the CPU's name and the fallback reason"
    else nok "daemon status" "$(cat "$st" 2>/dev/null)"; fi
    SPEECH_SESSION_ROOT="$T/root" "$B/session_client" transcribe --json "$W" >"$T/out" 2>"$T/err"
    if [ $? -eq 0 ] && grep -q '"device": *"cpu"' "$T/out" && grep -q '"results": *\[ *"' "$T/out" &&
       grep -q 'WARN SESSION device=cpu fallback="CUDA unavailable' "$T/root/session_daemon.log"; then
        ok "daemon: request answered on the CPU, response says device cpu"
    else nok "daemon request" "$(cat "$T/err")"; fi
    SPEECH_SESSION_ROOT="$T/root" "$B/session_client" stop >/dev/null 2>&1
else
    echo "ok - # SKIP no stub libcuda in the CUDA toolkit"
fi
[ $fails -eq 0 ]
