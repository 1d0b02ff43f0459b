#!/bin/sh
# gpu-check.sh — everything the CUDA backend needs checked on a real GPU, in one run that
# fits one device call (~540 s; GPU_CHECK_BUDGET, default 500 s, is what the steps may
# spend: a step is given at most the time left, and one that no longer fits is skipped and
# said), on a machine that has only a C compiler, nvcc, cuBLAS and Python (no FFmpeg,
# jansson or libmicrohttpd headers, no network). Builds what it needs without make's full
# dependency list (engine, CUDA backend, mkmodel, bench, the GPU tests; audio through the
# WAV path, -DSP_NO_FFMPEG) — nvcc and the C objects in parallel; a failed build of either
# stops the run (a stale library is never tested) — then, correctness first, so that a hang
# in a late step cannot eat the early ones:
#   1. tests: test_device (device choice, self-check); test_engine_ref with
#      SPEECH_SESSION_DEVICE=cuda (the reference logits of tests/data and ../shared/ref on the
#      GPU, same tolerances as the CPU); test_gpu (GPU vs CPU logits, beams, 100 graphed
#      steps, alignment, transcripts at greedy and beam 5) on micro, tiny and base shapes in
#      f16 and q5_0, with SPEECH_SESSION_REQUIRE_GPU=1 (no usable GPU is a failure, not a
#      skip) and the decoder's CUDA graphs required to have been captured and replayed; a
#      large-v3-shaped test_gpu (20 heads of 64, 128 mels, vocabulary 51866; 256 audio
#      positions so the CPU reference stays cheap); compute-sanitizer's memcheck and
#      racecheck on a micro model where the toolkit has it. A failing test is run again with
#      SPEECH_SESSION_CUDA_GRAPHS=0 and then also CUDA_LAUNCH_BLOCKING=1: graphs or kernels,
#      and which launch faulted;
#   2. bin/bench --device cuda --no-scaling on base, small, large-v3-turbo and large-v3
#      shapes (f16): the GPU's limits measured in the same run, encoder ms per 30 s window,
#      decoder ms per token (batch 1) and per beam-5 step, GPU memory per model, warm
#      transcription of the 4.9 s test clip; then the decoder again with its CUDA graphs
#      off. A model not on the GPU, a failed call or a GPU fault there is a failure (bench
#      then prints no figures for it);
#   3. the decoder's time per stage (SPEECH_SESSION_CUDA_PROFILE=1) and the graphs' counts
#      (=graphs) on base, large-v3-turbo and large-v3.
# Writes a report of every figure to $OUT/gpu-check.txt when OUT is set (the device tool's
# output folder), else build/gpu-check/report.txt; each step's whole log beside it. Exit
# status: 0 when every check passed.
#
#   sh scripts/gpu-check.sh [--quick | --build-only]
#       --quick: base and small shapes only; --build-only: the build, then stop (what
#       tests/integration/gpu_check_build.sh runs on every machine, so the script is known to
#       build before a lent GPU's minutes are spent on it)
#   GPU_CHECK_MAKE_ARGS: extra arguments for the library's make (gpu_check_build.sh breaks
#       the nvcc build with it, to check that a failed build fails the run)
set -u
cd "$(dirname "$0")/.." || exit 1
QUICK=0 BUILD_ONLY=0
[ "${1:-}" = "--quick" ] && QUICK=1
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1
B=build/gpu-check
mkdir -p "$B/obj" "$B/bin" "$B/models" "$B/shim"
REPORT=${OUT:+$OUT/gpu-check.txt}
REPORT=${REPORT:-$B/report.txt}
: >"$REPORT"
T0=$(date +%s)
say() { echo "$*" | tee -a "$REPORT"; }
step() { say ""; say "== $* (t+$(( $(date +%s) - T0 ))s)"; }
FAILED=0

step "machine"
say "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -n)  cores: $(nproc)"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$REPORT"
say "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
case "$CAP" in [0-9][0-9] | [0-9][0-9][0-9]) ;; *) CAP=90 ;; esac

step "build (CUDA_ARCHS=$CAP)"
rm -f "$B/make.rc" "$B"/bin/* "$B"/obj/*.o   # nothing of an earlier run can stand in for a failed step
# the library: in the background, beside the C objects below; its own exit status kept (a
# pipe into tee reported tee's). --build-only (in the test suite): the library as `make`
# builds it, every architecture, so the suite's is not replaced by a single-architecture
# one; on a GPU: removed first, so that a failed build cannot leave an older one to test
if [ $BUILD_ONLY -eq 1 ]; then
    # shellcheck disable=SC2086
    { make -s cuda ${GPU_CHECK_MAKE_ARGS:-} >"$B/make.log" 2>&1; echo $? >"$B/make.rc"; } &
else
    rm -f lib/libspeech_cuda.so
    # shellcheck disable=SC2086
    { make -s cuda CUDA_ARCHS="$CAP" ${GPU_CHECK_MAKE_ARGS:-} >"$B/make.log" 2>&1; echo $? >"$B/make.rc"; } &
fi
MAKE_PID=$!
CFLAGS="-std=c11 -D_GNU_SOURCE -DSP_NO_FFMPEG -O2 -g -Iinclude -Isrc -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread"
LIBS="-lm -lpthread -ldl"
# zlib (compression ratio in the search): its header may be missing where the library is
# not (Python links it); then declare the two functions we call, with zlib's own types
if ! echo '#include <zlib.h>' | cc -E - >/dev/null 2>&1; then
    ZLIB=$(python3 -c 'import ctypes.util; print(ctypes.util.find_library("z") or "")')
    ZPATH=$(ldconfig -p 2>/dev/null | awk -v z="$ZLIB" '$1 == z { print $NF; exit }')
    cat >"$B/shim/zlib.h" <<'EOF'
/* declarations of the zlib API that src/whisper/search.c uses (zlib.h is not installed) */
typedef unsigned long uLong;
typedef uLong uLongf;
typedef unsigned char Bytef;
#define Z_OK 0
uLong compressBound(uLong sourceLen);
int compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level);
EOF
    CFLAGS="$CFLAGS -I$B/shim"
    LIBS="$LIBS ${ZPATH:-/lib/x86_64-linux-gnu/libz.so.1}"
    say "zlib.h missing: declared locally, linking ${ZPATH:-libz.so.1}"
else
    LIBS="$LIBS -lz"
fi
# jansson (the JSON of CTranslate2 and Transformers model directories: model_ct2.c,
# model_st.c): without its header this check cannot read those formats, and says so if
# asked to; ggml files (all the check uses) are unaffected
SRCS="src/common/*.c src/whisper/*.c"
if ! echo '#include <jansson.h>' | cc -E - >/dev/null 2>&1; then
    SRCS="src/common/*.c $(ls src/whisper/*.c | grep -v -e model_ct2.c -e model_st.c) $B/shim/json_off.c"
    cat >"$B/shim/json_off.c" <<'EOF'
/* gpu-check build without jansson: the directory formats' entry points refuse clearly */
#include "whisper/model.h"
#include <stdio.h>
static sp_status off(wh_model **out, char *err, size_t en)
{
    *out = NULL;
    if (err && en) snprintf(err, en, "CTranslate2/Transformers models need jansson, which this gpu-check build lacks");
    return SP_ERR_UNSUPPORTED;
}
int wh_ct2_sniff(const void *data, size_t size) { (void)data; (void)size; return 0; }
int wh_st_sniff(const void *data, size_t size) { (void)data; (void)size; return 0; }
sp_status wh_ct2_load_dir(const char *dir, const char *bin, wh_model **out, char *err, size_t en)
{ (void)dir; (void)bin; return off(out, err, en); }
sp_status wh_st_load_dir(const char *dir, wh_model **out, char *err, size_t en)
{ (void)dir; return off(out, err, en); }
EOF
    say "jansson.h missing: CTranslate2/Transformers directories not readable in this build (ggml only)"
else
    LIBS="$LIBS -ljansson"
fi
OBJS="" CC_PIDS=""
for f in $SRCS src/session/ss_opt.c src/audio/audio.c src/audio/audio_sink.c src/audio/audio_wav.c \
         src/audio/vad.c src/audio/vad_silero.c src/audio/onnx.c; do
    o="$B/obj/$(echo "$f" | tr '/' '_').o"
    case "$f" in *_avx2.c) X="-mavx2 -mfma -mf16c" ;; *_avx512.c) X="-mavx512f -mavx512bw -mavx512vl -mfma -mf16c" ;; *) X="" ;; esac
    cc $CFLAGS $X -c "$f" -o "$o" >>"$B/cc.log" 2>&1 &
    OBJS="$OBJS $o" CC_PIDS="$CC_PIDS $!"
done
# hand-written micro-kernels (called after the same runtime CPU check as the Makefile's)
for f in src/whisper/*.S; do
    o="$B/obj/$(echo "$f" | tr '/' '_').o"
    cc -g -c "$f" -o "$o" >>"$B/cc.log" 2>&1 &
    OBJS="$OBJS $o" CC_PIDS="$CC_PIDS $!"
done
# the library's build first: when it failed, the C compilers still running are stopped
# (their own PIDs) and the run ends, within seconds of nvcc's error
wait $MAKE_PID
MAKE_RC=$(cat "$B/make.rc" 2>/dev/null || echo missing)
if [ "$MAKE_RC" != 0 ]; then
    # shellcheck disable=SC2086
    kill $CC_PIDS 2>/dev/null
    wait
    tail -40 "$B/make.log" | tee -a "$REPORT"
    say "BUILD FAILED: lib/libspeech_cuda.so (make exit $MAKE_RC; a library left from before is not tested)"
    exit 1
fi
wait
[ -s "$B/make.log" ] && tee -a "$REPORT" <"$B/make.log"
CC_FAILED=0
for o in $OBJS; do [ -f "$o" ] || CC_FAILED=1; done
if [ $CC_FAILED -ne 0 ]; then
    grep -E 'error' "$B/cc.log" | head -40 | tee -a "$REPORT"
    say "BUILD FAILED: C objects (see $B/cc.log)"
    exit 1
fi
for p in tools/main_mkmodel.c bench/main_bench.c tests/unit/test_gpu.c tests/unit/test_engine_ref.c tests/unit/test_device.c; do
    n=$(basename "$p" .c); n=${n#main_}
    cc $CFLAGS -Itests/unit "$p" $OBJS $LIBS -o "$B/bin/$n" >"$B/link-$n.log" 2>&1 &
done
wait
for n in mkmodel bench test_gpu test_engine_ref test_device; do
    [ -x "$B/bin/$n" ] || { cat "$B/link-$n.log" | tee -a "$REPORT"; say "BUILD FAILED: $n"; FAILED=1; }
done
[ -f lib/libspeech_cuda.so ] || { say "BUILD FAILED: lib/libspeech_cuda.so missing after make"; exit 1; }
[ $FAILED -eq 0 ] || exit 1
export SPEECH_SESSION_CUDA_LIB="$PWD/lib/libspeech_cuda.so"
if [ $BUILD_ONLY -eq 1 ] || ! nvidia-smi -L >/dev/null 2>&1; then
    step "$([ $BUILD_ONLY -eq 1 ] && echo "--build-only" || echo "no GPU on this machine"): build checked only"
    exit $FAILED
fi

# ---------------------------------------------------------------- time
# every step runs under `timeout`, given at most what is left of GPU_CHECK_BUDGET (minus
# RESERVE for the report's last lines); a step that cannot have MIN seconds is skipped
BUDGET=${GPU_CHECK_BUDGET:-500}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
# limit SECONDS: the step's timeout, or nothing (skip) when under 20 s are left
limit() {
    _l=$(( $(left) - 10 ))
    [ "$_l" -lt 20 ] && return 1
    [ "$1" -lt "$_l" ] && _l=$1
    echo "$_l"
}

step "synthetic models"
SHAPES="tiny base small large-v3-turbo large-v3"
[ $QUICK -eq 1 ] && SHAPES="tiny base small"
# the tests' shapes first (seconds), the benchmark's larger ones in the background while the
# tests run
for s in tiny base; do
    for t in f16 q5_0; do
        "$B/bin/mkmodel" --shape "$s" --type "$t" --out "$B/models/$s-$t.bin" &
    done
done
wait
( for s in $SHAPES; do
      case "$s" in tiny | base) continue ;; esac
      [ -f "$B/models/$s-f16.bin" ] && continue   # kept from an earlier run on this machine
      { "$B/bin/mkmodel" --shape "$s" --type f16 --out "$B/models/$s-f16.bin.part" &&
            mv "$B/models/$s-f16.bin.part" "$B/models/$s-f16.bin"; } &
  done
  wait ) >"$B/mkmodel.log" 2>&1 &
MODELS_PID=$!

# runtest NAME SECONDS command...: the command under timeout; its TAP lines into the report,
# its whole log into $OUT. On failure the same command again with the decoder's graphs off,
# then also with CUDA_LAUNCH_BLOCKING=1 (every launch synchronous: an asynchronous fault is
# reported at the launch that made it, not at the next synchronisation)
runtest() {
    n=$1 lim=$2; shift 2
    step "test $n"
    if ! t=$(limit "$lim"); then say "SKIPPED: $n (out of time)"; FAILED=1; return 1; fi
    timeout -k 5 "$t" "$@" >"$B/$n.log" 2>&1
    rc=$?
    grep -E '^(ok|not ok)|^#|FAIL|GPU|CUDA|cuda' "$B/$n.log" | tee -a "$REPORT"
    [ -n "${OUT:-}" ] && cp "$B/$n.log" "$OUT/"
    [ $rc -eq 0 ] && return 0
    say "FAILED: $n (exit $rc$([ $rc -ge 124 ] && echo ", timed out after $t s"))"
    FAILED=1
    # (diagnostics: at most 75 s each, so that a hang does not take three slots of time)
    [ "$lim" -gt 75 ] && lim=75
    for how in "SPEECH_SESSION_CUDA_GRAPHS=0" "SPEECH_SESSION_CUDA_GRAPHS=0 CUDA_LAUNCH_BLOCKING=1"; do
        step "test $n again, $how"
        if ! t=$(limit "$lim"); then say "SKIPPED: (out of time)"; break; fi
        # shellcheck disable=SC2086
        env $how timeout -k 5 "$t" "$@" >"$B/$n.rerun.log" 2>&1
        r2=$?
        grep -E '^not ok|FAIL|GPU|CUDA|cuda' "$B/$n.rerun.log" | head -40 | tee -a "$REPORT"
        say "rerun with $how: exit $r2"
        [ -n "${OUT:-}" ] && cp "$B/$n.rerun.log" "$OUT/$n.rerun-$(echo "$how" | tr ' =' '_-').log"
    done
    return 1
}
# graphs_ran LOG: the backend's summary (SPEECH_SESSION_CUDA_PROFILE=graphs) says graphs were
# captured and replayed, and no capture was refused (a refused capture turns graphs off and
# every check then passes on direct launches)
graphs_ran() {
    if grep -Eq '^# cuda graphs: on; [1-9][0-9]* captured, [1-9][0-9]* replayed' "$1" &&
       ! grep -Eq '^# cuda graphs: off|CUDA graph capture failed' "$1"; then
        say "ok - decoder CUDA graphs captured and replayed ($(grep -c '^# cuda graphs: on' "$1") contexts)"
    else
        say "FAILED: decoder CUDA graphs not captured and replayed:"
        grep -E '^# cuda graphs|CUDA graph' "$1" | sort | uniq -c | tee -a "$REPORT"
        FAILED=1
    fi
}
export SPEECH_SESSION_REQUIRE_GPU=1
runtest test_device 60 "$B/bin/test_device"
runtest test_engine_ref 90 env SPEECH_SESSION_DEVICE=cuda "$B/bin/test_engine_ref"
runtest test_gpu 120 env SPEECH_SESSION_CUDA_PROFILE=graphs "$B/bin/test_gpu" tests/data/models/micro-f16.bin \
    tests/data/models/micro-q5_0.bin tests/data/models/micro-v3-f16.bin "$B/models/tiny-f16.bin" \
    "$B/models/tiny-q5_0.bin" "$B/models/base-f16.bin" "$B/models/base-q5_0.bin"
graphs_ran "$B/test_gpu.log"
# memory and shared-memory checks no emulation can make (out-of-bounds accesses, races
# between a block's threads), where the toolkit has compute-sanitizer: a micro model, 96
# positions (two chunks of the decoder's cross-attention), 70 graphed steps
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$CS" ]; then
    for tool in memcheck racecheck; do
        runtest "sanitizer-$tool" 90 "$CS" --tool "$tool" --error-exitcode 99 "$B/bin/test_gpu" --audio-ctx 96 \
            --no-transcripts --steps 70 tests/data/models/micro-f16.bin
    done
else
    step "compute-sanitizer"
    say "compute-sanitizer: not installed here (no memcheck / racecheck)"
fi
# large-v3's geometry on the GPU against the CPU (20 heads of 64, 128 mels, vocabulary 51866,
# 32 + 32 layers): logits, beams, 20 graphed steps, alignment; the open-time self-check was
# the only correctness check of this shape before
step "waiting for the synthetic models"
wait $MODELS_PID
ls -la "$B/models" | tail -n +2 | awk '{ print $5, $NF }' | tee -a "$REPORT"
if [ $QUICK -eq 0 ]; then
    runtest test_gpu_large_v3 150 "$B/bin/test_gpu" --no-transcripts --steps 20 --audio-ctx 256 \
        "$B/models/large-v3-f16.bin"
fi

# bench_step NAME SECONDS command...: a benchmark under timeout, its exit status kept (not a
# pipe's); a model not on the GPU, a failed call or a fault there fails the run
bench_step() {
    n=$1 lim=$2; shift 2
    step "$n"
    BLOG="$B/$(echo "$n" | tr -c 'A-Za-z0-9_-' '_').log"
    if ! t=$(limit "$lim"); then say "SKIPPED: $n (out of time)"; FAILED=1; return; fi
    timeout -k 5 "$t" "$@" >"$BLOG" 2>&1
    rc=$?
    grep -v "^# GEMM\|^# GEMV" "$BLOG" | tee -a "$REPORT"
    if [ $rc -ne 0 ] || grep -Eq 'on the CPU|GPU FAULT|FAILED|capture failed|not measurable' "$BLOG"; then
        say "FAILED: $n (exit $rc$([ $rc -ge 124 ] && echo ", timed out after $t s")): its figures are not results"
        FAILED=1
    fi
}
# f16 only: the GPU holds every weight as f16, so q5_0 models run the same kernels (test_gpu
# checks their logits above)
BM=""
for s in $SHAPES; do
    [ "$s" = tiny ] && continue
    BM="$BM $B/models/$s-f16.bin"
done
# shellcheck disable=SC2086
bench_step "bench --device cuda" 150 "$B/bin/bench" --device cuda --no-scaling --threads "$(nproc)" --runs 5 \
    --tokens 64 $BM
# the same decoder without its CUDA graphs (SPEECH_SESSION_CUDA_GRAPHS=0): what they gain
# shellcheck disable=SC2086
bench_step "bench --device cuda, decoder graphs off" 90 env SPEECH_SESSION_CUDA_GRAPHS=0 "$B/bin/bench" --device cuda \
    --no-scaling --no-gpu-limits --threads "$(nproc)" --runs 3 --tokens 64 --audio '' $BM
# where a decoder step's time goes (SPEECH_SESSION_CUDA_PROFILE=1: time per stage against the
# host's wall time, direct launches), and the graphs' wall time per call and their counts
# (=graphs), printed by the backend on stderr
PM="$B/models/base-f16.bin"
[ $QUICK -eq 0 ] && PM="$PM $B/models/large-v3-turbo-f16.bin $B/models/large-v3-f16.bin"
for prof in 1 graphs; do
    # shellcheck disable=SC2086
    bench_step "decoder profile ($prof)" 60 env SPEECH_SESSION_CUDA_PROFILE=$prof "$B/bin/bench" --device cuda \
        --no-scaling --no-gpu-limits --runs 2 --tokens 32 --audio '' $PM
done
# (the graphs summary of the benchmark's own shapes, large-v3's among them)
[ -f "$BLOG" ] && graphs_ran "$BLOG"
step "done: $([ $FAILED -eq 0 ] && echo "every check passed" || echo FAILURES) in $(( $(date +%s) - T0 )) s"
exit $FAILED
