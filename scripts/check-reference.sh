#!/bin/sh
# check-reference.sh — our transcripts against faster-whisper's (the original system's engine)
# with the same CTranslate2 weights, on the CPU, on the same audio. Not part of `make test`:
# it installs faster-whisper==1.2.1 (with ctranslate2, onnxruntime, av: ~300 MB) into a private
# venv under build/pyref/ the first time.
#
#   scripts/check-reference.sh [MODEL...]     default: tiny.en base (from .cache/weights)
#
# Audio: jfk.wav (if ../shared/data has it), 41 s and 4 min of espeak-ng English
# (tests/tools/mkspeech.py). Prints, per model and file, the WER of each transcript against
# the reference text, the WER of ours against faster-whisper's (the agreement) and both
# wall times. Both use beam size 5 and 2 threads; faster-whisper computes in float32 (its
# CPU path for float16 weights), as the engine does. Exit 1 if any transcript differs.
set -eu
cd "$(dirname "$0")/.."
WD=${SS_WEIGHTS:-.cache/weights}
VENV=build/pyref/venv
scripts/fetch-test-weights.sh >/dev/null
[ -x bin/transcribe ] || make -s all
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import faster_whisper" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q faster-whisper==1.2.1
fi
T=$(mktemp -d /tmp/ss-ref.XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 tests/tools/mkspeech.py "$T/short" --first 8
python3 tests/tools/mkspeech.py "$T/long" --rounds 2
echo "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." >"$T/jfk.txt"
files="short long"
JFK=${SHARED:-../shared}/data/jfk.wav
[ -f "$JFK" ] && cp "$JFK" "$T/jfk.wav" && files="jfk $files"
differ=0
for m in ${*:-tiny.en base}; do
    for f in $files; do
        s=$(date +%s.%N)
        bin/transcribe --model "$WD/$m" --threads 2 "$T/$f.wav" >"$T/$f.$m.ours"
        ours_s=$(awk "BEGIN { print $(date +%s.%N) - $s }")
        "$VENV/bin/python" tests/tools/fw_ref.py "$WD/$m" "$T/$f.wav" --threads 2 --json >"$T/$f.$m.fwj"
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],'w').write(d['text']); print(d['seconds'])" \
            "$T/$f.$m.fwj" "$T/$f.$m.fw" >"$T/fw_s"
        agree=$(python3 tests/tools/wer.py "$T/$f.$m.fw" "$T/$f.$m.ours")
        printf '%-8s %-6s ours: %s (%.1fs)\n' "$m" "$f" "$(python3 tests/tools/wer.py "$T/$f.txt" "$T/$f.$m.ours")" "$ours_s"
        printf '%-8s %-6s faster-whisper: %s (%ss, transcribe call only)\n' "$m" "$f" "$(python3 tests/tools/wer.py "$T/$f.txt" "$T/$f.$m.fw")" "$(cat "$T/fw_s")"
        printf '%-8s %-6s ours vs faster-whisper: %s\n' "$m" "$f" "$agree"
        case "$agree" in "wer=0.0 "*) ;; *) differ=1 ;; esac
    done
done
exit $differ
