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
# a 250-byte name is a valid one: its temporary file had been ".NAME.PID.tmp", past NAME_MAX,
# found after the work, and the failure stopped the inputs after it
L=$(python3 -c "print('a'*246)")
cp $W "$T/in/$L.wav"
"$BIN/transcribe" --model $M $FAST -o "$T/od" "$T/in/$L.wav" "$T/in/talk.take1.wav" >/dev/null 2>"$T/err"; rc=$?
check "--output-dir: a 250-byte output name written, the next input too (exit 0)" sh -c \
    "[ $rc -eq 0 ] && cmp -s '$T/a.txt' '$T/od/$L.txt' && [ -s '$T/od/talk.take1.txt' ]"
# an output name over NAME_MAX, a directory it cannot write: refused before the model loads
cp $W "$T/in/${L}bbbbbb.wav"
"$BIN/transcribe" --model $M $FAST -o "$T/od" $W "$T/in/${L}bbbbbb.wav" >/dev/null 2>"$T/err"; rc=$?
check "--output-dir: an output name over NAME_MAX: exit 6 before any work, said" sh -c \
    "[ $rc -eq 6 ] && grep -q 'over the 255' '$T/err' && [ ! -e '$T/od/$(basename $W .wav).txt' ]"
mkdir -p "$T/ro"; chmod 555 "$T/ro"
RUNAS=""; [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && RUNAS="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" != 0 ] || [ -n "$RUNAS" ]; then
    chmod 755 "$T" "$T/in" 2>/dev/null; chmod 644 $W 2>/dev/null
    t0=$(date +%s%N)
    $RUNAS "$BIN/transcribe" --model $M $FAST -o "$T/ro" $W >/dev/null 2>"$T/err"; rc=$?
    t1=$(date +%s%N)
    check "--output-dir not writable: exit 6 before transcribing ($(( (t1 - t0) / 1000000 )) ms), said" sh -c \
        "[ $rc -eq 6 ] && grep -q 'Permission denied' '$T/err' && ! grep -q 'Permission denied' '$T/ro/'* 2>/dev/null"
    # a sticky shared directory (as /tmp) holding another user's file of the output's name:
    # that name is refused (EPERM at the rename), not the directory — the next input and the
    # other formats are still written (the run had stopped at the first refused name)
    mkdir -p "$T/sticky"; chmod 1777 "$T/sticky"
    b=$(basename $W .wav)
    if [ "$(id -u)" = 0 ]; then
        : >"$T/sticky/$b.txt"   # root's
        $RUNAS "$BIN/transcribe" --model $M $FAST -f all -o "$T/sticky" $W "$T/in/talk.take1.wav" >/dev/null 2>"$T/err"; rc=$?
        check "sticky --output-dir with another user's $b.txt: exit 6, said; $b's other formats and the next input written" \
            sh -c "[ $rc -eq 6 ] && grep -q 'Operation not permitted' '$T/err' && [ -s '$T/sticky/$b.srt' ] && \
                   [ -s '$T/sticky/talk.take1.txt' ] && [ ! -s '$T/sticky/$b.txt' ]"
    fi
else
    echo "ok - --output-dir not writable # SKIP root without setpriv"
fi
# a directory where an output file should go is that input's trouble, not the next one's
mkdir -p "$T/od/silence.txt"
"$BIN/transcribe" --model $M $FAST -o "$T/od" "$T/silence.wav" "$T/in/talk.take1.wav" >/dev/null 2>"$T/err"; rc=$?
check "--output-dir: a directory in one output's place: exit 6, the other input still written" sh -c \
    "[ $rc -eq 6 ] && [ -s '$T/od/talk.take1.txt' ] && [ \$(ls -A '$T/od' | grep -c '^\.transcribe') -eq 0 ]"
# an input that is a directory ("adir/"): its own exit 4, as without --output-dir
mkdir -p "$T/adir"; rm -f "$T/od/talk.take1.txt"
"$BIN/transcribe" --model $M $FAST -o "$T/od" "$T/adir/" "$T/in/talk.take1.wav" >/dev/null 2>"$T/err"; rc=$?
check "--output-dir with a directory as input: exit 4, the other input written" sh -c \
    "[ $rc -eq 4 ] && [ -s '$T/od/talk.take1.txt' ]"
# stdin twice, stdin on a terminal: usage errors (the second had been "empty file"; the
# terminal a silent wait)
"$BIN/transcribe" --model $M $FAST - - </dev/null >/dev/null 2>"$T/err"; rc=$?
check "'-' twice: exit 2, said" sh -c "[ $rc -eq 2 ] && grep -q 'stdin can be read once' '$T/err'"
if command -v script >/dev/null; then
    timeout 20 script -qec "'$BIN/transcribe' --model $M $FAST -" /dev/null >"$T/tty.out" 2>&1; rc=$?
    check "'-' with a terminal on stdin: exit 2 at once, said" sh -c "[ $rc -eq 2 ] && grep -q 'terminal' '$T/tty.out'"
fi
# txt: several inputs each named by a "# FILE" line; a newline in a name is not text
NL="$T/in/two
lines.wav"
cp $W "$NL"
"$BIN/transcribe" --model $M $FAST "$NL" $W >"$T/nl.txt" 2>/dev/null
check "txt: a file name's newline stays on its '# ' line" sh -c "grep -q '^# .*two lines.wav\$' '$T/nl.txt' && ! grep -q '^lines.wav' '$T/nl.txt'"

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
"$BIN/transcribe" --model $M --beam-size 1 --temperature 0 --language AUTO -f json $W >"$T/auto.json" 2>"$T/err"; rc=$?
check "--language AUTO: detection, as auto (exit 0, a detected language)" sh -c "[ $rc -eq 0 ] && grep -q '\"language\":\"[a-z]' '$T/auto.json'"
"$BIN/transcribe" --model /nonexistent.bin $W >/dev/null 2>&1; check "missing model: exit 3" [ $? -eq 3 ]
"$BIN/transcribe" --model $M $FAST /nonexistent.wav $W >"$T/o.txt" 2>/dev/null; rc=$?
check "unreadable input: exit 4, the other input still transcribed" sh -c "[ $rc -eq 4 ] && [ -s '$T/o.txt' ]"
"$BIN/transcribe" --model tests/data/models/micro.en-f16.bin $FAST --language de --task translate $W >"$T/en.txt" 2>"$T/en.err"
rc=$?
check "English-only model with --language de --task translate: says both are ignored, transcribes (exit 0)" \
    sh -c "[ $rc -eq 0 ] && [ -s '$T/en.txt' ] && grep -q 'English-only.*--language de' '$T/en.err' &&
           grep -q 'English-only.*--task translate' '$T/en.err'"

# --vad with --clip: the clip is in the recording's time (it had been applied to the audio
# with the silence removed: 2 s of silence before the speech moved a clip of 2.5-5 s to
# 4.15-4.97 s of the recording)
python3 - "$W" "$T/pad.wav" <<'PY'
import sys, wave
r = wave.open(sys.argv[1]); p = r.getparams(); fr = r.readframes(r.getnframes()); r.close()
w = wave.open(sys.argv[2], "wb"); w.setparams(p)
w.writeframes(b"\0" * (2 * p.framerate * p.sampwidth * p.nchannels) + fr); w.close()
PY
"$BIN/transcribe" --model $M $FAST --vad --clip 2.5,5 --output-format json "$T/pad.wav" >"$T/vc.json" 2>/dev/null
check "--vad --clip 2.5,5 after 2 s of silence: segments from 2.5 s, none past 5 s" python3 - "$T/vc.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["segments"]
assert s and s[0]["start"] < 3.0, s
assert all(2.49 <= x["start"] <= x["end"] <= 5.01 for x in s), s
PY

# cue text is one block: "-->" and blank lines inside it would end or break the cue; WebVTT
# escapes & and <
P='a --> b <i>x</i> & y

z'
for f in srt vtt; do
    "$BIN/transcribe" --model $M $FAST --prefix "$P" --output-format $f $W >"$T/cue.$f" 2>/dev/null
done
check "srt/vtt: a prefix with '-->', a blank line, <, & stays inside its cue, escaped for WebVTT" python3 - "$T/cue.srt" "$T/cue.vtt" <<'PY'
import sys
for path, vtt in ((sys.argv[1], False), (sys.argv[2], True)):
    blocks = open(path, encoding="utf-8").read().strip().split("\n\n")
    if vtt:
        assert blocks[0] == "WEBVTT", blocks[0]
        blocks = blocks[1:]
    for b in blocks:
        lines = b.split("\n")
        if not vtt:
            assert lines[0].isdigit(), b
            lines = lines[1:]
        assert " --> " in lines[0] and len(lines) == 2 and "-->" not in lines[1], b
    first = blocks[0].split("\n")[-1]
    want = "a -> b &lt;i>x&lt;/i> &amp; y  z" if vtt else "a -> b <i>x</i> & y  z"
    assert first.startswith(want), (first, want)
PY

# a file name that is not UTF-8: JSON's "file" stays parseable (U+FFFD for the bad byte)
cp "$W" "$T/caf$(printf '\351').wav"
"$BIN/transcribe" --model $M $FAST --output-format json "$T/caf$(printf '\351').wav" >"$T/nu.json" 2>/dev/null
check "json: a Latin-1 file name is written as valid UTF-8 (U+FFFD)" python3 -c "
import json, sys
d = json.load(open('$T/nu.json', encoding='utf-8'))
assert d['file'].endswith('caf\ufffd.wav'), d['file']"
"$BIN/transcribe" --help | grep -q -- "--beam-size"; check "--help lists the options" [ $? -eq 0 ]
# every spelling the parser takes is in --help (the aliases -m -t -f -o, the underscore
# forms, --without-timestamps, --vad-filter, --logprob-threshold, --device gpu and the oracle
# flags had been in no --help, most in no document either)
"$BIN/transcribe" --help >"$T/help.txt"
missing=""
for o in "-m," "-t," "-f," "-o " --beam_size --best_of --output_format --output_dir --word_timestamps \
         --without-timestamps --vad-filter --logprob-threshold "gpu = cuda" "beams at temperature 0, 1..16" \
         --mel --prompt --force --dump-logits; do
    grep -qF -- "$o" "$T/help.txt" || missing="$missing '$o'"
done
check "--help names every accepted spelling (missing:${missing:- none})" [ -z "$missing" ]

# a --prefix of half the text context beside a long --initial-prompt: the previous text gives
# way so the whole input fits (it had run past the input buffer: heap corruption, abort)
P=$(python3 -c "print(' '.join(['hello'] * 223))"); IP=$(python3 -c "print(' '.join(['hello world'] * 1000))")
"$BIN/transcribe" --model $M $FAST --prefix "$P" --initial-prompt "$IP" "$W" >"$T/pp.txt" 2>"$T/pp.err"; rc=$?
check "--prefix of 223 tokens with a 2000-token --initial-prompt: transcribed (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q hello '$T/pp.txt'"

# values checked at parse time (an empty --language had passed, --seed -1 wrapped to 2^64 - 1,
# a bad --device was reported against the model path) and a --help that cannot be written
for a in "--language=" "--seed=-1" "--device=foo"; do
    "$BIN/transcribe" --model $M "${a%%=*}" "${a#*=}" "$W" >/dev/null 2>"$T/bv.err"; rc=$?
    check "${a%%=*} '${a#*=}': usage, exit 2, names the option" \
        sh -c "[ $rc -eq 2 ] && grep -q 'bad value for ${a%%=*}' '$T/bv.err'"
done
if [ -w /dev/full ]; then
    "$BIN/transcribe" --help >/dev/full 2>/dev/null; rc=$?
    check "--help to a full device: exit 6 (was 0)" [ $rc -eq 6 ]
fi

# --name=value as the other programs' getopt_long (it had been "unknown option --beam-size=1"):
# the same transcript as the two-argument form; a flag with a value, an unknown name, a bad value
"$BIN/transcribe" --model $M $FAST --output-format json --initial-prompt "a=b" "$W" >"$T/eq.sep" 2>/dev/null
"$BIN/transcribe" --model=$M --language=en --beam-size=1 --temperature=0 --no-speech-threshold=0 --threads=2 \
    --output-format=json --initial-prompt=a=b "$W" >"$T/eq.eq" 2>"$T/eq.err"; rc=$?
check "--name=value: the same json as '--name value' (exit $rc)" sh -c "[ $rc -eq 0 ] && [ -s '$T/eq.eq' ] && cmp -s '$T/eq.sep' '$T/eq.eq'"
for a in "--vad=1:takes no value" "--colour=red:unknown option --colour" "--beam-size=0:bad value for --beam-size" \
         "--help=x:takes no value"; do
    "$BIN/transcribe" --model $M "${a%%:*}" "$W" >/dev/null 2>"$T/eq2.err"; rc=$?
    check "${a%%:*}: usage, exit 2, says '${a#*:}'" sh -c "[ $rc -eq 2 ] && grep -q -- '${a#*:}' '$T/eq2.err'"
done

# a language's name as openai-whisper's --language takes it (had been "bad value for --language")
"$BIN/transcribe" --model $M $FAST --output-format json --language de "$W" >"$T/ln.code" 2>/dev/null
"$BIN/transcribe" --model $M $FAST --output-format json --language German "$W" >"$T/ln.name" 2>"$T/ln.err"; rc=$?
check "--language German: the same json as --language de (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q '\"language\": *\"de\"' '$T/ln.name' && cmp -s '$T/ln.code' '$T/ln.name'"

# --max-initial-timestamp inf: no limit, as any value of a window or more (it had gone through
# lroundf into an int: (int)LONG_MIN = 0, the first timestamp forced to 0.00)
"$BIN/transcribe" --model $M $FAST --output-format json --max-initial-timestamp inf "$W" >"$T/mi.inf" 2>/dev/null
"$BIN/transcribe" --model $M $FAST --output-format json --max-initial-timestamp 30 "$W" >"$T/mi.30" 2>/dev/null
check "--max-initial-timestamp inf decodes as 30 (a whole window)" sh -c "[ -s '$T/mi.inf' ] && cmp -s '$T/mi.inf' '$T/mi.30'"

# oracle mode only for --dump-logits as an option: as an option's value or after "--" it had
# switched modes too (exit 2, "unknown or incomplete option")
"$BIN/transcribe" --model $M $FAST --initial-prompt "--dump-logits" "$W" >"$T/dl.txt" 2>"$T/dl.err"; rc=$?
check "--initial-prompt '--dump-logits': an ordinary transcription (exit $rc)" sh -c "[ $rc -eq 0 ] && [ -s '$T/dl.txt' ]"
"$BIN/transcribe" --model $M $FAST -- --dump-logits >/dev/null 2>"$T/dl2.err"; rc=$?
check "'-- --dump-logits': an input file of that name (exit 4, was 2)" sh -c "[ $rc -eq 4 ] && grep -q -- '--dump-logits' '$T/dl2.err'"
# the oracle's --threads as the CLI's, and its --mel exactly [n_mels][3000] float32 (a larger
# file had been read one value past the buffer, a trailing partial value accepted)
"$BIN/transcribe" --model $M --prompt 50258 --dump-logits "$T/o.f32" --threads abc "$W" 2>"$T/th.err"; rc=$?
check "oracle --threads abc: usage, exit 2 (was accepted)" sh -c "[ $rc -eq 2 ] && grep -q 'not a whole number' '$T/th.err'"
nm=80   # micro-f16's mel bins
head -c $((nm * 3000 * 4)) /dev/zero >"$T/mel.ok"
head -c $((nm * 3000 * 4 + 2)) /dev/zero >"$T/mel.part"
head -c $((nm * 3000 * 4 + 4)) /dev/zero >"$T/mel.big"
"$BIN/transcribe" --model $M --mel "$T/mel.ok" --prompt 50258 --dump-logits "$T/o.f32"; rc=$?
check "oracle --mel of the right size: exit 0" [ $rc -eq 0 ]
for f in part big; do
    "$BIN/transcribe" --model $M --mel "$T/mel.$f" --prompt 50258 --dump-logits "$T/o.f32" 2>"$T/mel.err"; rc=$?
    check "oracle --mel $f size: exit 4, says so (was accepted or read past the buffer)" \
        sh -c "[ $rc -eq 4 ] && grep -q 'another size' '$T/mel.err'"
done
"$BIN/transcribe" --model $M --mel "$T/no-such.f32" --prompt 50258 --dump-logits "$T/o.f32" 2>"$T/mel.err"; rc=$?
check "oracle --mel missing: exit 4 with the OS's reason" sh -c "[ $rc -eq 4 ] && grep -q 'No such file' '$T/mel.err'"
[ "$fails" -eq 0 ]
