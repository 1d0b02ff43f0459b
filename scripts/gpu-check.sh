#!/bin/sh
# gpu-check.sh — everything the CUDA backend needs checked on a real GPU, in one run of a
# few minutes, on a machine that has only a C compiler, nvcc, cuBLAS and Python (no FFmpeg,
# jansson or libmicrohttpd headers, no network). Builds what it needs without make's full
# dependency list (engine, CUDA backend, mkmodel, bench, the GPU tests; audio through the
# WAV path, -DSP_NO_FFMPEG), then:
#   1. tests: test_device (device choice, self-check), test_engine_ref with
#      SPEECH_SESSION_DEVICE=cuda (the reference logits of tests/data and ../shared/ref on the
#      GPU, same tolerances as the CPU), test_gpu (GPU vs CPU logits, beams, transcripts at
#      greedy and beam 5) on micro, tiny and base shapes in f16 and q5_0;
#   2. bin/bench --device cuda on base, small, large-v3-turbo and large-v3 shapes (f16): the
#      GPU's limits measured in the same run, encoder ms per 30 s window, decoder ms per
#      token (batch 1) and per beam-5 step, GPU memory per model, warm transcription of the
#      4.9 s test clip; then the decoder again with its CUDA graphs off;
#   3. the decoder's time per stage (SPEECH_SESSION_CUDA_PROFILE=1) and the graphs' counts
#      (=graphs) on base, large-v3-turbo and large-v3.
# Writes a report of every figure to $OUT/gpu-check.txt when OUT is set (the device tool's
# output folder), else build/gpu-check/report.txt. Exit status: 0 when every test passed.
#
#   sh scripts/gpu-check.sh [--quick | --build-only]
#       --quick: base and small shapes only; --build-only: the build, then stop (what
#       tests/integration/gpu_check_build.sh runs on every machine, so the script is known to
#       build before a lent GPU's minutes are spent on it)
set -u
cd "$(dirname "$0")/.."
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
# (--build-only, in the test suite: the library as `make` builds it, every architecture, so a
# stale one is not replaced by a single-architecture build)
if [ $BUILD_ONLY -eq 1 ]; then make -s cuda; else make -s cuda CUDA_ARCHS="$CAP"; fi 2>&1 | tee -a "$REPORT" || FAILED=1
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
OBJS=""
for f in $SRCS src/session/ss_opt.c src/audio/audio.c src/audio/audio_sink.c src/audio/audio_wav.c \
         src/audio/vad.c src/audio/vad_silero.c; do
    o="$B/obj/$(echo "$f" | tr '/' '_').o"
    case "$f" in *_avx2.c) X="-mavx2 -mfma -mf16c" ;; *_avx512.c) X="-mavx512f -mavx512bw -mavx512vl -mfma -mf16c" ;; *) X="" ;; esac
    cc $CFLAGS $X -c "$f" -o "$o" &
    OBJS="$OBJS $o"
done
# hand-written micro-kernels (called after the same runtime CPU check as the Makefile's)
for f in src/whisper/*.S; do
    o="$B/obj/$(echo "$f" | tr '/' '_').o"
    cc -g -c "$f" -o "$o" &
    OBJS="$OBJS $o"
done
wait
for p in tools/main_mkmodel.c bench/main_bench.c tests/unit/test_gpu.c tests/unit/test_engine_ref.c tests/unit/test_device.c; do
    n=$(basename "$p" .c); n=${n#main_}
    cc $CFLAGS -Itests/unit "$p" $OBJS $LIBS -o "$B/bin/$n" 2>&1 | tee -a "$REPORT" &
done
wait
for n in mkmodel bench test_gpu test_engine_ref test_device; do
    [ -x "$B/bin/$n" ] || { say "BUILD FAILED: $n"; FAILED=1; }
done
[ -f lib/libspeech_cuda.so ] || { say "BUILD FAILED: lib/libspeech_cuda.so"; exit 1; }
export SPEECH_SESSION_CUDA_LIB="$PWD/lib/libspeech_cuda.so"
if [ $BUILD_ONLY -eq 1 ] || ! nvidia-smi -L >/dev/null 2>&1; then
    step "$([ $BUILD_ONLY -eq 1 ] && echo "--build-only" || echo "no GPU on this machine"): build checked only"
    exit $FAILED
fi

step "synthetic models"
SHAPES="tiny base small large-v3-turbo large-v3"
[ $QUICK -eq 1 ] && SHAPES="tiny base small"
for s in $SHAPES; do
    for t in f16 q5_0; do
        case "$s-$t" in tiny-* | base-* | *-f16) ;; *) continue ;; esac   # q5_0: test_gpu's shapes
        [ -f "$B/models/$s-$t.bin" ] || "$B/bin/mkmodel" --shape "$s" --type "$t" --out "$B/models/$s-$t.bin" &
    done
done
wait
ls -la "$B/models" | tail -n +2 | awk '{ print $5, $NF }' | tee -a "$REPORT"

runtest() { # name, command...
    n=$1; shift
    step "test $n"
    timeout 150 "$@" >"$B/$n.log" 2>&1
    rc=$?
    grep -E '^(ok|not ok)|^#|FAIL' "$B/$n.log" | tee -a "$REPORT"
    [ $rc -eq 0 ] || { say "FAILED: $n (exit $rc)"; FAILED=1; }
    [ -n "${OUT:-}" ] && cp "$B/$n.log" "$OUT/"   # the whole log comes back with the report
}
runtest test_device "$B/bin/test_device"
runtest test_engine_ref env SPEECH_SESSION_DEVICE=cuda "$B/bin/test_engine_ref"
runtest test_gpu "$B/bin/test_gpu" tests/data/models/micro-f16.bin tests/data/models/micro-q5_0.bin \
    tests/data/models/micro-v3-f16.bin "$B/models/tiny-f16.bin" "$B/models/tiny-q5_0.bin" \
    "$B/models/base-f16.bin" "$B/models/base-q5_0.bin"

step "bench --device cuda"
# f16 only: the GPU holds every weight as f16, so q5_0 models run the same kernels (test_gpu
# checks their logits above)
BM=""
for s in $SHAPES; do
    [ "$s" = tiny ] && continue
    BM="$BM $B/models/$s-f16.bin"
done
timeout 200 "$B/bin/bench" --device cuda --threads "$(nproc)" --runs 5 --tokens 64 $BM 2>&1 | grep -v "^# GEMM" | tee -a "$REPORT"
# the same decoder without its CUDA graphs (SPEECH_SESSION_CUDA_GRAPHS=0): what they gain
step "bench --device cuda, decoder graphs off"
SPEECH_SESSION_CUDA_GRAPHS=0 timeout 150 "$B/bin/bench" --device cuda --threads "$(nproc)" --runs 3 --tokens 64 \
    --audio '' $BM 2>&1 | grep -v "^# GEMM" | tee -a "$REPORT"
# where a decoder step's time goes (SPEECH_SESSION_CUDA_PROFILE=1: time per stage against the
# host's wall time, direct launches), and the graphs' wall time per call and their counts
# (=graphs), printed by the backend on stderr
PM="$B/models/base-f16.bin"
[ $QUICK -eq 0 ] && PM="$PM $B/models/large-v3-turbo-f16.bin $B/models/large-v3-f16.bin"
for prof in 1 graphs; do
    step "decoder profile ($prof)"
    SPEECH_SESSION_CUDA_PROFILE=$prof timeout 120 "$B/bin/bench" --device cuda --runs 2 --tokens 32 --audio '' $PM 2>&1 |
        grep -E '^(build|# cuda profile|# cuda graphs)' | tee -a "$REPORT"
done
step "done: $([ $FAILED -eq 0 ] && echo all tests passed || echo FAILURES) in $(( $(date +%s) - T0 )) s"
exit $FAILED
