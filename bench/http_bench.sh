#!/bin/sh
# http_bench.sh — what session_http adds over the spool path (docs/http.md, "Performance").
#
#   1. the spool path alone: bin/bench_daemon's request close() -> response rename latency and
#      burst throughput for empty-audio requests (no model work);
#   2. the same empty audio (0.1 s of silence, filtered by the daemon as the spec's "empty
#      audio") uploaded to POST /transcribe with ab (apache2-utils): one client at a time
#      (latency), then C clients with keep-alive (requests per second).
# The added latency is (1) subtracted from (2)'s median.
#
# usage: bench/http_bench.sh [N] [C]      (default N=2000 requests, C=8 concurrent clients)
# Env: BIN (default bin: the release build), MODEL (default tests/data/models/micro-f16.bin;
# the model does no work here). Runs under a private SPEECH_SESSION_ROOT; stops what it
# started. Short by design (a few seconds): the machine is shared.
set -eu
cd "$(dirname "$0")/.."
N=${1:-2000}
C=${2:-8}
BIN=${BIN:-bin}
MODEL=$(realpath "${MODEL:-tests/data/models/micro-f16.bin}")
command -v ab >/dev/null || { echo "http_bench: ab not found (apt-get install apache2-utils)" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/ss-http-bench.XXXXXX)
export SPEECH_SESSION_ROOT="$ROOT" SPEECH_SESSION_MODEL="$MODEL"
export SPEECH_SESSION_DAEMON="$PWD/$BIN/session_daemon"
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    "$BIN/session_client" stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT INT TERM

echo "== spool path (bench_daemon, empty audio)"
"$BIN/bench_daemon" --model "$MODEL" --n 500 --burst 500 --starts 1 2>&1 | grep -E '^(latency|burst)' | tee "$ROOT/spool"
spool_ms=$(sed -n 's/^latency.*median \([0-9.]*\) ms.*/\1/p' "$ROOT/spool")

sox -n -r 16000 -c 1 -b 16 "$ROOT/empty.wav" trim 0 0.1
B=benchboundary7d1e
{ printf -- '--%s\r\nContent-Disposition: form-data; name="audio"; filename="empty.wav"\r\nContent-Type: audio/wav\r\n\r\n' "$B"
  cat "$ROOT/empty.wav"
  printf '\r\n--%s--\r\n' "$B"; } > "$ROOT/body"

"$BIN/session_daemon" --fork 600
"$BIN/session_http" --listen 127.0.0.1:0 --quiet --max-uploads 64 >"$ROOT/out" 2>"$ROOT/log" &
SPID=$!
i=0
while ! grep -q listening "$ROOT/out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)$|\1|p' "$ROOT/out")
URL="http://127.0.0.1:$PORT/transcribe"
check=$(curl -s -F "audio=@$ROOT/empty.wav" "$URL")
[ "$check" = '{"results":[]}' ] || { echo "http_bench: unexpected answer: $check" >&2; exit 1; }

echo "== HTTP POST /transcribe, 1 client, $N requests"
ab -q -n "$N" -c 1 -p "$ROOT/body" -T "multipart/form-data; boundary=$B" "$URL" > "$ROOT/ab1"
grep -E '^(Requests per second|Time per request|Failed requests|Non-2xx)' "$ROOT/ab1" | head -3
med1=$(awk '/^ +50%/ {print $2}' "$ROOT/ab1")
p95=$(awk '/^ +95%/ {print $2}' "$ROOT/ab1")
echo "median $med1 ms, p95 $p95 ms (ab rounds to whole ms)"
tpr=$(awk '/^Time per request:.*\(mean\)$/ {print $4; exit}' "$ROOT/ab1")

echo "== HTTP POST /transcribe, $C clients, keep-alive, $N requests"
ab -q -k -n "$N" -c "$C" -p "$ROOT/body" -T "multipart/form-data; boundary=$B" "$URL" > "$ROOT/abc"
grep -E '^(Requests per second|Time per request|Failed requests|Non-2xx)' "$ROOT/abc" | head -3

echo "== summary"
awk -v s="$spool_ms" -v h="$tpr" 'BEGIN { printf "spool path median %.3f ms; HTTP mean %.3f ms (1 client); added by HTTP: %.3f ms\n", s, h, h - s }'
left=$(ls -A "$ROOT/speech_session_http" | wc -l)
echo "uploads left behind: $left"
