#!/bin/sh
# key_listener's chunked dictation with the real daemon and the real tiny.en weights
# (.cache/weights/tiny.en, CTranslate2; skipped when absent): a 20 s espeak-ng recording
# (4 sentences, ~1.2 s pauses) is played into the listener in real time (--audio file, the
# control command as the key); the text typed from its chunks must agree word by word with
# `transcribe` of the whole file (no word lost or doubled at a cut), and with the reference.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc
TINY=.cache/weights/tiny.en
REL=bin; [ -x "$REL/session_daemon" ] && [ -x "$REL/transcribe" ] || REL=$BIN   # decoding is the slow part
if [ ! -f "$TINY/model.bin" ] || [ ! -x "$REL/transcribe" ]; then
    skip "chunked = unchunked with tiny.en" "no weights in $TINY or no transcribe"; finish; exit $?
fi
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { skip "chunks" "espeak-ng/sox missing"; finish; exit $?; }
python3 tests/tools/mkspeech.py "$ROOT/s4" --first 4 --pause 0.8 >/dev/null 2>&1 || { nok "espeak-ng speech"; finish; exit 1; }
WAV="$ROOT/s4.wav"
listener_up() { wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"; }
OUT="$ROOT/out.txt"
bg "$REL/session_daemon" --model "$TINY" --threads 2 >"$ROOT/daemon.out" 2>&1
bg "$KL" --no-config --trigger none --audio file --source "$WAV" --preroll 0 --no-start --timeout 60 \
    --history 0 --output print --chunk-seconds 3 >"$OUT" 2>"$ROOT/kl.err"
listener_up
wait_for 30 sh -c '[ -f "$0/session_daemon.pid" ]' "$ROOT" >/dev/null
"$REL/transcribe" --model "$TINY" --threads 2 "$WAV" >"$ROOT/whole.txt" 2>"$ROOT/transcribe.err" &
TP=$!
"$KL" start >/dev/null; sleep 20.3; "$KL" stop >/dev/null
wait_for 60 sh -c "grep -q . '$OUT'" >/dev/null
wait $TP
nch=$(grep -c "INFO chunk [0-9]*: " "$ROOT/key_listener.log")
echo "# one piece: $(cat "$ROOT/whole.txt")"; echo "# chunked ($nch cuts): $(cat "$OUT")"
grep -o "release to text [0-9]* ms[^)]*" "$ROOT/key_listener.log" | sed 's/^/# /'
check "tiny.en: $nch chunks sent while recording" [ "$nch" -ge 2 ]
# Whisper's context differs between one piece and chunks (each chunk has its own 30 s window,
# the text so far as prompt), so words may be recognised differently (tiny.en once heard "brown
# fox jumped over" as "roundfuck stump, sober" in one piece: a run of 2): substitutions and
# runs of 2 are allowed; a phrase lost or doubled at a cut is a longer run. The cuts fall
# in the pauses after sentences, so each sentence's last word must be there exactly once.
# The WER bound is loose: one piece's own misrecognitions count here (measured 0.18, with one
# piece 0.17 from the reference text and the chunks 0.02; which borderline words tiny.en
# gets wrong can differ between machines); the reference check below is the tight one.
r=$(python3 tests/tools/wer.py "$ROOT/whole.txt" "$OUT")
check "tiny.en: chunked vs one-piece words: no 3 words in a row lost or doubled, WER <= 0.3 [$r]" \
    python3 tests/tools/wer.py "$ROOT/whole.txt" "$OUT" --max-wer 0.3 --max-run 2
check "tiny.en: each sentence's last word (at a cut) once in the chunked text" python3 -c "
import re,sys
ref=[l.split()[-1].strip('.').lower() for l in open(sys.argv[1]) if l.strip()]
hyp=re.findall(r\"[a-z']+\", open(sys.argv[2]).read().lower())
print('#', [(w, hyp.count(w)) for w in ref]); sys.exit(0 if all(hyp.count(w) == 1 for w in ref) else 1)" "$ROOT/s4.txt" "$OUT"
r1=$(python3 tests/tools/wer.py "$ROOT/s4.txt" "$ROOT/whole.txt" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['wer'])")
r2=$(python3 tests/tools/wer.py "$ROOT/s4.txt" "$OUT" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['wer'])")
check "tiny.en: against the reference text, chunked (WER $r2) no worse than one piece ($r1) + 0.03" \
    awk -v a="$r2" -v b="$r1" 'BEGIN{exit !(a <= b + 0.03)}'
"$KL" quit >/dev/null 2>&1; sleep 1
check "no sanitizer report from the listener" sh -c '! grep -E "Sanitizer|runtime error" "$0"' "$ROOT/kl.err"

# default chunking, three espeak-ng clauses with 1 s pauses (tests/data/dictation-3-clauses.flac,
# 24 s, from an audit): with the text so far as its prompt, tiny.en ended chunk 2's window after
# its first sentence and "Because ... Berlin" was never typed; a thin chunk is now decoded again
# without it (key_listener.log: "... without it ...: N bytes, kept")
OUT3="$ROOT/out3.txt"
bg "$KL" --no-config --trigger none --audio file --source tests/data/dictation-3-clauses.flac --preroll 0 \
    --no-start --timeout 60 --history 0 --output print >"$OUT3" 2>"$ROOT/kl3.err"
listener_up
"$KL" start >/dev/null; sleep 24.3; "$KL" stop >/dev/null
wait_for 60 sh -c "grep -q . '$OUT3'" >/dev/null
echo "# three clauses, default chunks: $(cat "$OUT3")"
check "tiny.en, default chunks: all three clauses typed (department, March, Berlin)" \
    sh -c "grep -q department '$OUT3' && grep -q March '$OUT3' && grep -q Berlin '$OUT3'"
"$KL" quit >/dev/null 2>&1; sleep 1
finish
