#!/bin/sh
# Key release -> final text of key_listener for 3, 15, 30 and 60 s dictations (espeak-ng
# English, sentences with ~1.2 s pauses, each file ending 0.3 s after its last word), chunked
# (--chunk-seconds 6) and not (0), with each model given (default: the real tiny.en and base
# weights in .cache/weights). Needs bin/key_listener, bin/session_daemon, bin/bench_latency
# (make V=release bin/key_listener bin/session_daemon bin/bench_latency), espeak-ng and sox.
#   [RUNS=3] [AUDIO_CTX=auto] sh bench/latency.sh [MODEL_DIR...]   (the median of RUNS runs
#   each; AUDIO_CTX: the daemon's --audio-ctx, default the full window)
cd "$(dirname "$0")/.." || exit 1
T=$(mktemp -d /tmp/latency.XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 tests/tools/mkspeech.py "$T/long" --rounds 2 --pause 0.8 >/dev/null || exit 1
python3 - "$T" <<'PY' || exit 1
import json, subprocess, sys
t = sys.argv[1]
j = json.load(open(t + "/long.json"))
for target in (3, 15, 30, 60):
    end = [s["end"] for s in j["sentences"] if s["end"] <= target + 1.5][-1] + 0.3
    subprocess.check_call(["sox", t + "/long.wav", "%s/d%02d.wav" % (t, target), "trim", "0", "%.3f" % end])
PY
[ $# -gt 0 ] || set -- .cache/weights/tiny.en .cache/weights/base
for m in "$@"; do
    echo "# model $m"
    bin/bench_latency --model "$m" --runs "${RUNS:-3}" ${AUDIO_CTX:+--audio-ctx "$AUDIO_CTX"} --chunks "0 6" "$T"/d03.wav "$T"/d15.wav "$T"/d30.wav "$T"/d60.wav
done
