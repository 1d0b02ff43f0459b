#!/bin/sh
# audio_ctx_accuracy.sh — what --audio-ctx auto costs in accuracy and gains in time, on real
# weights and dictation-sized clips (docs/real-weights.md "Short clips: --audio-ctx").
#
#   sh bench/audio_ctx_accuracy.sh [MODEL ...]     (default: tiny.en base in .cache/weights)
#
# The 24 English sentences of tests/tools/mkspeech.py (espeak-ng) are cut into one clip per sentence with 0.25 s of the file's own silence
# around the speech: the shape of a push-to-talk dictation. Each clip is transcribed alone
# (bin/transcribe, beam 5, 2 threads) with the full 30 s window and with --audio-ctx auto;
# printed per model and setting: WER over all clips (tests/tools/wer.py), clips whose text
# differs between the two settings, and the median wall time per clip (process start to
# exit, model load included — the same for both settings).
# Needs espeak-ng, sox, python3 and the real weights (scripts/fetch-test-weights.sh).
cd "$(dirname "$0")/.." || exit 1
WD=${SS_WEIGHTS:-.cache/weights}
MODELS=${*:-"tiny.en base"}
T=$(mktemp -d /tmp/ss-actx.XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 tests/tools/mkspeech.py "$T/s" --first 24 --clips 0.25 >/dev/null || { echo "mkspeech failed"; exit 1; }
echo "# $(ls "$T"/s.clip*.wav | wc -l) clips"
cat "$T"/s.clip*.txt >"$T/ref.txt"
for m in $MODELS; do
    [ -e "$WD/$m" ] || { echo "# $m: not in $WD (scripts/fetch-test-weights.sh)"; continue; }
    for ctx in full auto; do
        opt=""; [ $ctx = auto ] && opt="--audio-ctx auto"
        : >"$T/hyp.$m.$ctx.txt"; : >"$T/times.$m.$ctx"
        for c in "$T"/s.clip*.wav; do
            s=$(date +%s%N)
            bin/transcribe --model "$WD/$m" --threads 2 $opt "$c" | tr '\n' ' ' >"${c%.wav}.$m.$ctx.hyp"
            e=$(date +%s%N)
            echo $(( (e - s) / 1000000 )) >>"$T/times.$m.$ctx"
            cat "${c%.wav}.$m.$ctx.hyp" >>"$T/hyp.$m.$ctx.txt"; echo >>"$T/hyp.$m.$ctx.txt"
        done
        med=$(sort -n "$T/times.$m.$ctx" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        echo "$m audio_ctx=$ctx: $(python3 tests/tools/wer.py "$T/ref.txt" "$T/hyp.$m.$ctx.txt") median ${med} ms per clip"
    done
    diff=0
    for c in "$T"/s.clip*.wav; do
        f="${c%.wav}.$m.full.hyp" a="${c%.wav}.$m.auto.hyp"
        cmp -s "$f" "$a" && continue
        diff=$((diff + 1))
        printf '  full: %s\n  auto: %s\n' "$(cat "$f")" "$(cat "$a")"
    done
    echo "$m: $diff of $(ls "$T"/s.clip*.wav | wc -l) clips transcribed differently with auto"
done
