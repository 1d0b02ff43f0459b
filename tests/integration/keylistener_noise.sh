#!/bin/sh
# key_listener's speech check: a recording in which the VAD hears no speech is not sent (Whisper
# writes text for noise alone - tiny.en typed 862 characters of "Thank you for watching ..."
# for 10 s of pink noise at -30 dBFS, and "You" for a beep or two clicks), while a short or
# quiet word, or a word in that noise, still is. The listener plays each file in real time
# (--audio file) into the real daemon (micro model: the text does not matter, only whether a
# request went out); --send-silence sends everything.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { skip "speech check" "espeak-ng/sox missing"; finish; exit $?; }

A="$ROOT/audio"; mkdir -p "$A"
mk() { sox -D -R "$@" 2>/dev/null; }
mk -n -r 16000 -c 1 -b 16 "$A/pink30.wav" synth 3 pinknoise vol 0.16                # -30 dBFS
mk -n -r 16000 -c 1 -b 16 "$A/brown40.wav" synth 3 brownnoise vol 0.018             # -40 dBFS
mk "$A/brown40.wav" "$A/brown40z.wav" pad 1 0                                        # after 1 s of zeros
mk -n -r 16000 -c 1 -b 16 "$A/beep.wav" synth 0.15 sine 300 vol 0.5 pad 0.3 0.7
mk -n -r 16000 -c 1 -b 16 "$A/clk.wav" synth 0.005 square 1000 vol 0.8 pad 0.3 0.2
mk "$A/clk.wav" "$A/clk.wav" "$A/clk.wav" "$A/clicks.wav"
espeak-ng -v en-us -w "$A/yes_raw.wav" "Yes." 2>/dev/null
mk "$A/yes_raw.wav" -r 16000 -c 1 -b 16 "$A/yes.wav" pad 0.4 0.6
mk "$A/yes.wav" -b 16 "$A/yes_quiet.wav" vol 0.03                                  # -58 dBFS
mk -m "$A/yes.wav" "$A/pink30.wav" "$A/yes_noise.wav" trim 0 1.4
[ -s "$A/yes_noise.wav" ] && [ -s "$A/clicks.wav" ] || { nok "test audio generated"; finish; exit 1; }

n=0
# run NAME FILE [OPTIONS...]: one recording of FILE, the key released 50 ms before its end (the
# file source gives digital silence after it; brown40z has a second of it first: the energy
# detector takes its floor from the quietest tenth of a recording, and brown noise after
# digital silence had passed for speech — the floor is now the signal's)
run() {
    name=$1; f=$2; shift 2; n=$((n + 1))
    LOG="$ROOT/kl$n.log"; OUT="$ROOT/out$n.txt"
    bg "$KL" --no-config --trigger none --audio file --source "$f" --preroll 0 --timeout 30 \
        --history 0 --output print --log "$LOG" "$@" >"$OUT" 2>>"$ROOT/kl.err"
    wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
    "$KL" start >/dev/null
    sleep "$(python3 -c "import sys; print(float(sys.argv[1]) - 0.05)" "$(soxi -D "$f")")"
    "$KL" stop >/dev/null
    wait_for 30 grep -q "without speech\|request [0-9_]*: " "$LOG"
    "$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
}
sent() { grep -q "recording stopped .* -> " "$LOG"; }
dropped() { grep -q "without speech (longest voiced run [0-9]* ms): discarded" "$LOG" && ! sent && [ ! -s "$OUT" ]; }

for c in pink30:"pink noise, -30 dBFS" brown40:"brown noise, -40 dBFS" brown40z:"1 s of digital silence, then brown noise at -40 dBFS" \
         beep:"a 150 ms beep" clicks:"three clicks"; do
    run "${c#*:}" "$A/${c%%:*}.wav"
    check "${c#*:}, nothing else: not sent, nothing typed, the log says why" dropped
done
for c in yes:"\"yes\"" yes_quiet:"\"yes\" at -58 dBFS" yes_noise:"\"yes\" in pink noise at -30 dBFS"; do
    run "${c#*:}" "$A/${c%%:*}.wav"
    check "${c#*:}: sent" sent
done
run "noise, --send-silence" "$A/pink30.wav" --send-silence
check "pink noise with --send-silence: sent" sent
# the speech check with faster-whisper's Silero file (ONNX, scripts/fetch-test-weights.sh)
ONNX=${SS_WEIGHTS:-.cache/weights}/silero_vad_v6.onnx
if [ -f "$ONNX" ]; then
    ONNX=$(realpath "$ONNX")
    run "pink noise, Silero ONNX" "$A/pink30.wav" --vad-model "$ONNX"
    check "pink noise, --vad-model silero_vad_v6.onnx: not sent, the log says why" dropped
    run "\"yes\", Silero ONNX" "$A/yes.wav" --vad-model "$ONNX"
    check "\"yes\", --vad-model silero_vad_v6.onnx: sent" sent
else
    skip "the speech check with silero_vad_v6.onnx" "$ONNX absent"
fi

# hands-free in a noisy room: the noise floor is learnt, so --auto-stop ends the recording after
# the speech although the noise (pink -30 dBFS, brown -30 dBFS: above the 0.01 silence level)
# goes on, and noise alone never counts as a first word (the fixed level had recorded on
# until --max-seconds, and had stopped a recording of noise alone 1.9 s after its start)
mk -n -r 16000 -c 1 -b 16 "$A/brown30.wav" synth 12 brownnoise vol 0.056
mk -n -r 16000 -c 1 -b 16 "$A/pink30l.wav" synth 12 pinknoise vol 0.16
mk -n -r 16000 -c 1 -b 16 "$A/brown40l.wav" synth 12 brownnoise vol 0.018
mk -n -r 16000 -c 1 -b 16 "$A/pink40l.wav" synth 12 pinknoise vol 0.05
mk "$SPEECH" -r 16000 -c 1 -b 16 "$A/sp.wav" pad 2 8
for nz in pink30l:"pink" brown30:"brown"; do
    quiet=${nz%%30*}40l   # alone: the noise near the level (-40 dBFS), whose blocks cross it
    mk -m "$A/sp.wav" "$A/${nz%%:*}.wav" "$A/sp_${nz%%:*}.wav" trim 0 "$(soxi -D "$A/sp.wav")"
    n=$((n + 1)); LOG="$ROOT/kl$n.log"
    bg "$KL" --no-config --trigger none --audio file --source "$A/sp_${nz%%:*}.wav" --preroll 0 \
        --timeout 30 --history 0 --output print --log "$LOG" --auto-stop 800 >/dev/null 2>>"$ROOT/kl.err"
    wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
    "$KL" start >/dev/null
    check "--auto-stop 800, speech in ${nz#*:} noise at -30 dBFS: stops by itself in the noise after it" \
        wait_for 11 grep -q "recording stopped (800 ms of silence)" "$LOG"
    "$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
    n=$((n + 1)); LOG="$ROOT/kl$n.log"
    bg "$KL" --no-config --trigger none --audio file --source "$A/$quiet.wav" --preroll 0 \
        --timeout 30 --history 0 --output print --log "$LOG" --auto-stop 800 >/dev/null 2>>"$ROOT/kl.err"
    wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
    "$KL" start >/dev/null; sleep 5
    check "--auto-stop 800, ${nz#*:} noise alone at -40 dBFS: still recording after 5 s (no word heard)" \
        sh -c '! grep -q "recording stopped" "$0"' "$LOG"
    "$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
done
finish
