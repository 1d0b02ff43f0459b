#!/bin/sh
# bin/transcribe in user mode: output formats, options, exit codes, determinism, silence
# (synthetic model: the words are nonsense; checks are about structure). Env: BIN, SHARED.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/transcribe_common.inc

"$BIN/transcribe" --model $M $FAST $W >"$T/a.txt" 2>"$T/err"; rc=$?
check "plain text: exit 0, non-empty stdout, nothing on stderr" sh -c "[ $rc -eq 0 ] && [ -s '$T/a.txt' ] && [ ! -s '$T/err' ]"
"$BIN/transcribe" --model $M $FAST $W >"$T/b.txt" 2>/dev/null
check "same input and options → same text" cmp -s "$T/a.txt" "$T/b.txt"
check "stdout is valid UTF-8" python3 -c "open('$T/a.txt','rb').read().decode('utf-8')"
# --clip beyond an int's frames: an end of 1e10 or inf is the file's end, a start of 1e10 is
# past it (1e10 had overflowed: from 0 for a start, nothing for an end); NaN is refused
"$BIN/transcribe" --model $M $FAST --clip 0,1e10 $W >"$T/c1.txt" 2>&1
"$BIN/transcribe" --model $M $FAST --clip 0,inf $W >"$T/c2.txt" 2>&1
check "--clip 0,1e10 and 0,inf: the whole file" sh -c "cmp -s '$T/a.txt' '$T/c1.txt' && cmp -s '$T/a.txt' '$T/c2.txt'"
"$BIN/transcribe" --model $M $FAST --clip 1e10 $W >"$T/c3.txt" 2>&1; rc=$?
check "--clip 1e10: past the end, no text" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/c3.txt' ]"
"$BIN/transcribe" --model $M $FAST --clip nan $W >/dev/null 2>&1; rc1=$?
"$BIN/transcribe" --model $M $FAST --length-penalty nan $W >/dev/null 2>&1; rc2=$?
check "NaN option values refused (usage, exit 2)" [ $rc1 -eq 2 -a $rc2 -eq 2 ]
"$BIN/transcribe" --model $M $FAST --vad-model /nonexistent/vad.bin $W $W >/dev/null 2>"$T/vad.err"; rc=$?
check "a missing --vad-model: exit 3 (model), said once" sh -c "[ $rc -eq 3 ] && [ \$(grep -c vad.bin '$T/vad.err') -eq 1 ]"

"$BIN/transcribe" --model $M $FAST --output-format verbose_json $W >"$T/v.json" 2>/dev/null
check "verbose_json has OpenAI's shape" python3 - "$T/v.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["task"] == "transcribe" and d["language"] == "english" and abs(d["duration"] - 4.9) < 0.05
assert isinstance(d["text"], str) and d["segments"]
prev = 0
for i, s in enumerate(d["segments"]):
    for k in ("id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"):
        assert k in s, k
    assert s["id"] == i and prev <= s["start"] < s["end"] <= d["duration"] + 0.01
    assert all(isinstance(t, int) for t in s["tokens"])
    prev = s["end"]
PY
"$BIN/transcribe" --model $M $FAST --output-format json --seed 3 --temperature 0.7 --best-of 2 $W >"$T/j.json" 2>/dev/null
check "json: language, segments with token probabilities" python3 - "$T/j.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["language"] == "en" and d["segments"]
for s in d["segments"]:
    assert s["temperature"] == 0.7
    assert all(0 <= t["p"] <= 1 for t in s["tokens"])
PY
"$BIN/transcribe" --model $M $FAST -f srt $W >"$T/a.srt" 2>/dev/null
check "srt: numbered cues with HH:MM:SS,mmm" sh -c "head -2 '$T/a.srt' | tail -1 | grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{3} --> [0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{3}$' && head -1 '$T/a.srt' | grep -qx 1"
"$BIN/transcribe" --model $M $FAST -f vtt $W >"$T/a.vtt" 2>/dev/null
check "vtt: WEBVTT header and cues" sh -c "head -1 '$T/a.vtt' | grep -qx WEBVTT && grep -Eq '^[0-9:]{8}\.[0-9]{3} --> ' '$T/a.vtt'"

# silence: a 10 s WAV of zeros gives no text
python3 - "$T/silence.wav" <<'PY'
import struct, sys
n = 16000 * 10
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + 2 * n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16))
    f.write(b"data" + struct.pack("<I", 2 * n) + b"\0" * (2 * n))
PY
"$BIN/transcribe" --model $M --language en --beam-size 1 "$T/silence.wav" >"$T/s.txt" 2>/dev/null; rc=$?
check "digital silence: exit 0, no text" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/s.txt' ]"

# several inputs: one JSON document per line
"$BIN/transcribe" --model $M $FAST -f json $W "$T/silence.wav" >"$T/m.jsonl" 2>/dev/null
check "two inputs → two JSON lines" sh -c "[ \$(wc -l <'$T/m.jsonl') -eq 2 ] && python3 -c \"import json; [json.loads(l) for l in open('$T/m.jsonl')]\""
# several vtt inputs on stdout: each document begins with WEBVTT (its file named in a NOTE
# block after it; the NOTE had come first, so not even the first document was WebVTT)
"$BIN/transcribe" --model $M $FAST -f vtt $W "$T/silence.wav" >"$T/m.vtt" 2>/dev/null
check "two vtt inputs on stdout: WEBVTT, then NOTE FILE, per document" sh -c \
    "[ \"\$(grep -c '^WEBVTT\$' '$T/m.vtt')\" -eq 2 ] && head -1 '$T/m.vtt' | grep -qx WEBVTT && sed -n 3p '$T/m.vtt' | grep -q '^NOTE FILE '"
# --output-dir: one whole document per input, named after it, = what stdout gets for it alone
mkdir "$T/od" "$T/in"
cp "$W" "$T/in/talk.take1.wav"
"$BIN/transcribe" --model $M $FAST -f vtt --output-dir "$T/od" "$T/in/talk.take1.wav" "$T/silence.wav" >"$T/od.out" 2>"$T/err"; rc=$?
"$BIN/transcribe" --model $M $FAST -f vtt "$T/in/talk.take1.wav" >"$T/one.vtt" 2>/dev/null
check "--output-dir: exit 0, nothing on stdout, talk.take1.vtt and silence.vtt, no temporary left" sh -c \
    "[ $rc -eq 0 ] && [ ! -s '$T/od.out' ] && [ \"\$(ls -A '$T/od' | tr '\n' ' ')\" = 'silence.vtt talk.take1.vtt ' ]"
check "--output-dir: each file is the input's own document" sh -c \
    "cmp -s '$T/one.vtt' '$T/od/talk.take1.vtt' && [ \"\$(cat '$T/od/silence.vtt')\" = WEBVTT ]"
"$BIN/transcribe" --model $M $FAST -f verbose_json -o "$T/od" "$T/in/talk.take1.wav" >/dev/null 2>&1
check "-o with verbose_json: NAME.json, one OpenAI document" python3 -c \
    "import json; d=json.load(open('$T/od/talk.take1.json')); assert d['segments'] and 'seek' in d['segments'][0]"
cp "$W" "$T/in/silence.flac"
"$BIN/transcribe" --model $M $FAST -f vtt --output-dir "$T/od" "$T/in/silence.flac" "$T/silence.wav" >/dev/null 2>"$T/err"; rc=$?
check "--output-dir: two inputs of one name refused before any work (exit 2, both named)" sh -c \
    "[ $rc -eq 2 ] && grep -q 'silence.flac' '$T/err' && grep -q 'silence.wav' '$T/err' && [ \"\$(cat '$T/od/silence.vtt')\" = WEBVTT ]"
# "-" is stdin, a pipe included (it had been opened as a file named "-": exit 4)
cat $W | "$BIN/transcribe" --model $M $FAST - >"$T/stdin.txt" 2>"$T/err"; rc=$?
check "audio on stdin ('-', a pipe): exit 0, the file's text" sh -c "[ $rc -eq 0 ] && cmp -s '$T/a.txt' '$T/stdin.txt'"
cat $W | "$BIN/transcribe" --model $M $FAST -o "$T/od" - >/dev/null 2>&1
check "'-' with --output-dir: stdin.txt" cmp -s "$T/a.txt" "$T/od/stdin.txt"
"$BIN/transcribe" --model $M $FAST --output-dir "$T/nonexistent" $W >/dev/null 2>"$T/err"; rc=$?
check "--output-dir that does not exist: exit 6, said" sh -c "[ $rc -eq 6 ] && grep -q nonexistent '$T/err'"

# exit codes
"$BIN/transcribe" >/dev/null 2>&1; check "no arguments: exit 2" [ $? -eq 2 ]
"$BIN/transcribe" --model $M --bogus $W >/dev/null 2>&1; check "unknown option: exit 2" [ $? -eq 2 ]
"$BIN/transcribe" --model $M --beam-size 0 $W >/dev/null 2>&1; check "bad --beam-size: exit 2" [ $? -eq 2 ]
"$BIN/transcribe" --model $M --output-format docx $W >/dev/null 2>&1; check "bad --output-format: exit 2" [ $? -eq 2 ]
"$BIN/transcribe" --model $M --compute fp8 $W >/dev/null 2>&1; check "bad --compute: exit 2" [ $? -eq 2 ]
SPEECH_SESSION_COMPUTE=fp8 "$BIN/transcribe" --model $M $W >/dev/null 2>"$T/err"; rc=$?
check "bad \$SPEECH_SESSION_COMPUTE: exit 2, message names it" sh -c "[ $rc -eq 2 ] && grep -q fp8 '$T/err'"
for c in exact int8; do
    "$BIN/transcribe" --model $M $FAST --compute $c $W >"$T/c.$c.txt" 2>/dev/null; rc=$?
    check "--compute $c: exit 0, text" sh -c "[ $rc -eq 0 ] && [ -s '$T/c.$c.txt' ]"
done
"$BIN/transcribe" --model $M --language xx $W >/dev/null 2>"$T/err"; rc=$?
check "unknown language: exit 2, message names it" sh -c "[ $rc -eq 2 ] && grep -q xx '$T/err'"
"$BIN/transcribe" --model /nonexistent.bin $W >/dev/null 2>&1; check "missing model: exit 3" [ $? -eq 3 ]
"$BIN/transcribe" --model $M $FAST /nonexistent.wav $W >"$T/o.txt" 2>/dev/null; rc=$?
check "unreadable input: exit 4, the other input still transcribed" sh -c "[ $rc -eq 4 ] && [ -s '$T/o.txt' ]"
"$BIN/transcribe" --help | grep -q -- "--beam-size"; check "--help lists the options" [ $? -eq 0 ]
[ "$fails" -eq 0 ]
