#!/bin/sh
# The benchmark programs' arguments, exit codes and temp directories (bench/main_bench*.c):
# bad numbers are usage errors said on stderr (atoi/atof had run "--seconds abc" as an
# endless sox, "--runs abc" as 0 runs), a failed step or model is a non-zero exit, and the
# temp directories (/tmp/bench-audio.*, --in DIR/ss-bench.*) go on every exit. The sox that
# bench_audio runs is replaced by a stand-in wherever a wrong value could reach it (the old
# "synth 0" wrote gigabytes). Env: BIN (programs), SHARED.
cd "$(dirname "$0")/../.." || exit 1
set -u
BIN=${BIN:-bin}
BIN=$(cd "$BIN" && pwd)
SHARED=${SHARED:-$(cd .. && pwd)/shared}
T=$(mktemp -d /tmp/ss-bench-it.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
PASS=0
FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
nok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); [ $# -gt 1 ] && echo "#   $2"; return 0; }
check() { # name command...
    _cn=$1; shift
    if "$@"; then ok "$_cn"; else nok "$_cn" "failed: $*"; fi
}
MODEL=tests/data/models/micro-f16.bin
[ -f "$MODEL" ] || MODEL="$SHARED/ref/models/micro-f16.bin"
audio_dirs() { ls -d /tmp/bench-audio.* 2>/dev/null | sort; }

# ---- bench_audio
mkdir -p "$T/fail" "$T/slow"
printf '#!/bin/sh\necho "$@" >> %s/fail/calls\nexit 1\n' "$T" > "$T/fail/sox"
printf '#!/bin/sh\necho $$ > %s/slow/pid\nexec sleep 30\n' "$T" > "$T/slow/sox"
chmod +x "$T/fail/sox" "$T/slow/sox"
before=$(audio_dirs)
for v in abc 0 -5 nan 1e9; do
    PATH="$T/fail:$PATH" timeout 20 "$BIN/bench_audio" --seconds "$v" >/dev/null 2>"$T/a.err"; rc=$?
    check "bench_audio --seconds $v: usage error, exit 100, said ($rc: $(head -1 "$T/a.err"))" \
        sh -c "[ $rc -eq 100 ] && grep -q -- '--seconds' '$T/a.err' && [ ! -e '$T/fail/calls' ]"
done
PATH="$T/fail:$PATH" timeout 60 "$BIN/bench_audio" --seconds 1 >/dev/null 2>"$T/a.err"; rc=$?
check "bench_audio whose input step fails (sox exits 1): exit 1 ($rc)" [ $rc -eq 1 ]
check "... its temp directory removed" [ "$(audio_dirs)" = "$before" ]
PATH="$T/slow:$PATH" "$BIN/bench_audio" --seconds 1 >/dev/null 2>&1 &
apid=$!
i=0; while [ ! -s "$T/slow/pid" ] && [ $i -lt 250 ]; do sleep 0.04; i=$((i + 1)); done
kill -TERM $apid; wait $apid; rc=$?
[ -s "$T/slow/pid" ] && kill "$(cat "$T/slow/pid")" 2>/dev/null
check "bench_audio stopped by SIGTERM during a step: killed by it ($rc), temp directory removed" \
    sh -c "[ $rc -eq 143 ] && [ '$(audio_dirs)' = '$before' ]"
if command -v sox >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then
    timeout 120 "$BIN/bench_audio" --seconds 1 --vad-model /nonexistent/vad.bin >"$T/a.out" 2>"$T/a.err"; rc=$?
    check "bench_audio --seconds 1 with a missing --vad-model: runs, exit 1, said ($rc)" \
        sh -c "[ $rc -eq 1 ] && grep -q 'decode+resample' '$T/a.out' && grep -q vad.bin '$T/a.err'"
    check "... temp directory removed" [ "$(audio_dirs)" = "$before" ]
else
    echo "ok - bench_audio real run # SKIP no sox/ffmpeg"
fi

# ---- bench
for a in "--threads 0" "--threads abc" "--runs abc" "--runs -1" "--tokens 0" "--tokens 2.5" "--gemv-prefetch -3"; do
    # shellcheck disable=SC2086
    timeout 60 "$BIN/bench" $a "$MODEL" >/dev/null 2>"$T/b.err"; rc=$?
    check "bench $a: usage error, exit 2, said ($rc: $(head -1 "$T/b.err"))" \
        sh -c "[ $rc -eq 2 ] && grep -q -- '${a%% *}' '$T/b.err'"
done
head -c 4096 /dev/urandom > "$T/garbage.bin"
for m in /nonexistent.bin "$T/garbage.bin"; do
    timeout 60 "$BIN/bench" --runs 1 --tokens 1 --no-scaling --audio "" "$m" >/dev/null 2>"$T/b.err"; rc=$?
    check "bench $(basename "$m"): exit 1, said ($rc: $(head -1 "$T/b.err"))" sh -c "[ $rc -eq 1 ] && [ -s '$T/b.err' ]"
done

# ---- bench_daemon (every run in a private --in, so nothing of another test is counted)
mkdir -p "$T/in"
for a in "--n abc" "--n 0" "--burst -1" "--probes x" "--in /nonexistent" "--live /nonexistent tests/data/speech-16k.wav"; do
    # shellcheck disable=SC2086
    case "$a" in --in*) args=$a ;; *) args="$a --in $T/in" ;; esac
    # shellcheck disable=SC2086
    timeout 60 "$BIN/bench_daemon" --model "$MODEL" $args >/dev/null 2>"$T/d.err"; rc=$?
    check "bench_daemon $a: exit 100, said, no temp root left ($rc: $(head -1 "$T/d.err"))" \
        sh -c "[ $rc -eq 100 ] && [ -s '$T/d.err' ] && [ -z \"\$(ls -A '$T/in')\" ]"
done
timeout 60 "$BIN/bench_daemon" --model "$MODEL" --daemon /bin/false --in "$T/in" >/dev/null 2>"$T/d.err"; rc=$?
check "bench_daemon whose daemon fails to start: exit 111, said, temp root removed ($rc: $(head -1 "$T/d.err"))" \
    sh -c "[ $rc -eq 111 ] && grep -q 'daemon exited' '$T/d.err' && [ -z \"\$(ls -A '$T/in')\" ]"
timeout 120 "$BIN/bench_daemon" --model "$MODEL" --n 5 --burst 20 --starts 1 --in "$T/in" >"$T/d.out" 2>"$T/d.err"; rc=$?
check "bench_daemon --n 5 --burst 20 --starts 1: exit 0, figures printed, temp root removed ($rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q 'latency close->rename' '$T/d.out' && grep -q '^burst: 20 requests' '$T/d.out' && [ -z \"\$(ls -A '$T/in')\" ]"

echo "# $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
