#!/bin/sh
# The benchmark programs' arguments, exit codes and temp directories (bench/main_bench*.c):
# bad numbers are usage errors said on stderr (atoi/atof had run "--seconds abc" as an
# endless sox, "--runs abc" as 0 runs), a failed step or model is a non-zero exit, and the
# temp directories (/tmp/bench-audio.*, --in DIR/ss-bench.*, /tmp/bench_latency.*) go on every
# exit; bench_latency also stops its daemon and listener, and stops at once when the daemon
# does not come up (it had waited the listener's 300 s). --help is usage on stdout, exit 0;
# a usage error is on stderr with the tool's usage status. The sox that
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

# ---- --help: stdout, exit 0 (bench_audio, bench_daemon, bench_latency had exited 100,
# bench_decode and mkmodel 2, each with its synopsis on stderr); a usage error keeps its status
for t in bench bench_audio bench_daemon bench_decode bench_latency mkmodel; do
    timeout 20 "$BIN/$t" --help >"$T/h.out" 2>"$T/h.err"; rc=$?
    check "$t --help: usage on stdout, exit 0 ($rc)" \
        sh -c "[ $rc -eq 0 ] && grep -q '^usage: $t' '$T/h.out' && [ ! -s '$T/h.err' ]"
done
timeout 20 "$BIN/mkmodel" --shape micro >"$T/h.out" 2>"$T/h.err"; rc=$?
check "mkmodel without --out: usage on stderr, exit 2 ($rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q '^usage: mkmodel' '$T/h.err' && [ ! -s '$T/h.out' ]"
# --n-* and --seed are whole numbers ("--n-head 2x" had been atoi's 2, "abc" a silent 0)
for a in "--n-head 2x" "--n-state abc" "--n-vocab 0" "--seed -1"; do
    # shellcheck disable=SC2086
    timeout 20 "$BIN/mkmodel" --out "$T/mk.bin" $a >"$T/h.out" 2>"$T/h.err"; rc=$?
    check "mkmodel $a: exit 2, named, no file ($rc)" \
        sh -c "[ $rc -eq 2 ] && grep -q 'bad value for ${a%% *}' '$T/h.err' && [ ! -e '$T/mk.bin' ]"
done

# ---- bench_decode (atoi/atof had run "--threads banana --steps 3x" as 0 threads, 3 steps)
for a in "--threads banana" "--steps 3x" "--steps 0" "--steps 2.5" "--seconds 1x" "--seconds 0" "--seconds nan" "--threads -1"; do
    # shellcheck disable=SC2086
    timeout 60 "$BIN/bench_decode" --model "$MODEL" --steps 3 --seconds 1 --no-e2e $a >"$T/c.out" 2>"$T/c.err"; rc=$?
    check "bench_decode $a: usage error, exit 2, said ($rc: $(head -1 "$T/c.err"))" \
        sh -c "[ $rc -eq 2 ] && grep -q -- '${a%% *} ' '$T/c.err' && [ ! -s '$T/c.out' ]"
done
timeout 60 "$BIN/bench_decode" --model "$MODEL" --steps 2 --threads 1 --no-e2e >"$T/c.out" 2>"$T/c.err"; rc=$?
check "bench_decode --steps 2 --threads 1 --no-e2e on micro: exit 0, a figure line ($rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q '^micro-f16.bin  *1 ' '$T/c.out'"

# ---- bench_latency (its temp root is /tmp/bench_latency.*: compared before and after)
lat_dirs() { ls -d /tmp/bench_latency.* 2>/dev/null | sort; }
before=$(lat_dirs)
WAV=tests/data/speech-16k.wav
for a in "--runs 1x" "--runs 0" "--runs 21" "--threads banana" "--threads 0" "--chunks 0_x" "--chunks 0.5" "--bogus 1" \
    "--audio-ctx 0" "--audio-ctx 1501" "--audio-ctx Auto"; do
    # "0_x": a space inside a loop word; --chunks takes a space-separated list
    v=$(printf %s "${a#* }" | tr _ ' ')
    timeout 20 "$BIN/bench_latency" --model "$MODEL" "${a%% *}" "$v" "$WAV" >/dev/null 2>"$T/l.err"; rc=$?
    check "bench_latency $a: usage error, exit 100, said, no temp root ($rc: $(head -1 "$T/l.err"))" \
        sh -c "[ $rc -eq 100 ] && grep -q -- '${a%% *}' '$T/l.err' && [ '$(lat_dirs)' = '$before' ]"
done
# --audio-ctx reaches the daemon (which refuses what it cannot take) and the dictation runs
timeout 120 "$BIN/bench_latency" --model "$MODEL" --audio-ctx auto --chunks 0 "$WAV" >"$T/l.out" 2>"$T/l.err"; rc=$?
check "bench_latency --audio-ctx auto: the dictation timed, exit 0 ($rc: $(tail -1 "$T/l.out"))" \
    sh -c "[ $rc -eq 0 ] && grep -q '^$WAV ' '$T/l.out' && [ '$(lat_dirs)' = '$before' ]"
timeout 20 "$BIN/bench_latency" --model "$MODEL" "$T/missing.wav" >/dev/null 2>"$T/l.err"; rc=$?
check "bench_latency with a missing FILE: exit 100, said ($rc)" \
    sh -c "[ $rc -eq 100 ] && grep -q missing.wav '$T/l.err' && [ '$(lat_dirs)' = '$before' ]"
# a daemon that cannot come up (no model): said at once with the daemon's status and log, not
# a 300 s wait on the listener; the temp root removed
timeout 30 "$BIN/bench_latency" --model "$T/no-model.bin" "$WAV" >/dev/null 2>"$T/l.err"; rc=$?
check "bench_latency whose daemon fails (missing model): exit 111 in time, said ($rc: $(head -1 "$T/l.err"))" \
    sh -c "[ $rc -eq 111 ] && grep -q 'session_daemon exited with status 112' '$T/l.err' && grep -q no-model.bin '$T/l.err'"
check "... temp root removed" [ "$(lat_dirs)" = "$before" ]
# SIGTERM during the warm-up dictation: the listener and the daemon stopped, the root removed
"$BIN/bench_latency" --model "$MODEL" "$WAV" >/dev/null 2>"$T/l.err" &
lpid=$!
root=; kl=; i=0
while [ $i -lt 500 ]; do
    root=$(lat_dirs | grep -vxF "$before" | head -1)
    [ -n "$root" ] && kl=$(pgrep -f -- "$root/kl.sock" | head -1) && [ -n "$kl" ] && break
    sleep 0.04; i=$((i + 1))
done
dpid=$( [ -n "$root" ] && cat "$root/session_daemon.pid" 2>/dev/null)
kill -TERM $lpid; wait $lpid 2>/dev/null; rc=$?
sleep 0.2
check "bench_latency stopped by SIGTERM mid-dictation: killed by it ($rc), listener ($kl) and daemon ($dpid) gone, root removed" \
    sh -c "[ $rc -eq 143 ] && [ -n '$kl' ] && [ -n '$dpid' ] && ! kill -0 '$kl' 2>/dev/null && ! kill -0 '$dpid' 2>/dev/null && [ '$(lat_dirs)' = '$before' ]"
[ -n "$kl" ] && kill "$kl" 2>/dev/null
[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
[ -n "$root" ] && rm -rf "$root"

echo "# $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
