#!/bin/sh
# bin/transcribe's subtitle features: --output-format tsv and all, and the srt/vtt cues
# shaped from the words (--max-line-width, --max-line-count, --max-words-per-line,
# --highlight-words) by openai-whisper's rules. The cues are compared byte for byte with
# what openai-whisper's own writers (whisper/utils.py WriteSRT/WriteVTT/WriteTSV, through
# tests/tools/whisper_writers.py) make of the same segments and words (our json output):
# on the synthetic model always (nonsense words, real times), on jfk.wav with the real
# tiny.en weights when they and ../shared/data are there (else that part skips), with a
# pause of more than 3 s put in. Without openai-whisper (the Python package; only its
# utils.py is loaded, no torch) the comparisons skip and the structural checks still run.
# WebVTT: bin/transcribe always writes the hours (HH:MM:SS.mmm), openai-whisper only from
# an hour on; the comparison uses its writer with hours always, nothing else changed.
# Env: BIN, SHARED, SS_WEIGHTS, OPENAI_WHISPER_UTILS.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/transcribe_common.inc
REL=bin; [ -x "$REL/transcribe" ] || REL=$BIN
PY=python3; [ -x .venv/bin/python ] && PY=.venv/bin/python
OWU=$($PY tests/tools/whisper_writers.py --find 2>/dev/null) || OWU=$(python3 tests/tools/whisper_writers.py --find 2>/dev/null) || OWU=
[ -n "$OWU" ] && export OPENAI_WHISPER_UTILS="$OWU"
CLIP="--clip 0,1"   # the synthetic model writes ~220 words a segment: two segments are plenty

# --- option rules (openai-whisper's: each needs the word times; count needs width)
for o in "--max-line-width 20" "--max-line-count 2" "--max-words-per-line 3" "--highlight-words"; do
    "$BIN/transcribe" --model $M $FAST -f srt $o $W >"$T/o.out" 2>"$T/err"; rc=$?
    check "$o without --word-timestamps: usage error (exit 2), said, nothing written" sh -c \
        "[ $rc -eq 2 ] && grep -q 'requires --word-timestamps' '$T/err' && [ ! -s '$T/o.out' ]"
done
bv=0
for v in 0 -3 abc ""; do
    "$BIN/transcribe" --model $M $FAST --word-timestamps --max-line-width "$v" $W >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 2 ] && grep -q "bad value for --max-line-width" "$T/err" || { bv=1; echo "# --max-line-width '$v': exit $rc"; }
done
check "--max-line-width 0, -3, abc, '': bad values (exit 2, said)" [ $bv -eq 0 ]
"$BIN/transcribe" --model $M $FAST -f all $W >"$T/o.out" 2>"$T/err"; rc=$?
check "-f all without --output-dir: usage error (exit 2) before any work, said" sh -c \
    "[ $rc -eq 2 ] && grep -q 'needs --output-dir' '$T/err' && [ ! -s '$T/o.out' ]"

# --- tsv and all (segments; the synthetic model)
"$BIN/transcribe" --model $M $FAST $CLIP -f tsv $W >"$T/a.tsv" 2>"$T/err"; rc=$?
"$BIN/transcribe" --model $M $FAST $CLIP -f json $W >"$T/a.json" 2>/dev/null
check "tsv: exit 0, header, a row per segment: integer ms, the text stripped" $PY - "$T/a.tsv" "$T/a.json" "$rc" <<'PY'
import json, sys
rows = open(sys.argv[1], encoding="utf-8").read().split("\n")
segs = json.load(open(sys.argv[2]))["segments"]
assert sys.argv[3] == "0" and rows[0] == "start\tend\ttext" and rows[-1] == "" and len(rows) == len(segs) + 2, rows[:2]
for r, s in zip(rows[1:], segs):
    a, b, t = r.split("\t")
    assert abs(int(a) - 1000 * s["start"]) <= 5 and abs(int(b) - 1000 * s["end"]) <= 5 and t == s["text"].strip(), (r, s)
PY
mkdir -p "$T/all" "$T/in"
cp $W "$T/in/talk.take1.wav"
"$BIN/transcribe" --model $M $FAST $CLIP -f all -o "$T/all" "$T/in/talk.take1.wav" >"$T/o.out" 2>"$T/err"; rc=$?
check "-f all -o: exit 0, nothing on stdout, NAME.txt .json .srt .vtt .tsv .verbose.json, no temporary left" sh -c \
    "[ $rc -eq 0 ] && [ ! -s '$T/o.out' ] && [ \"\$(ls -A '$T/all' | tr '\n' ' ')\" = \
'talk.take1.json talk.take1.srt talk.take1.tsv talk.take1.txt talk.take1.verbose.json talk.take1.vtt ' ]"
same=1
for f in txt json srt vtt tsv verbose_json; do
    e=$f; [ $f = verbose_json ] && e=verbose.json
    "$BIN/transcribe" --model $M $FAST $CLIP -f $f "$T/in/talk.take1.wav" >"$T/one.$e" 2>/dev/null
    cmp -s "$T/one.$e" "$T/all/talk.take1.$e" || { same=0; echo "# -f all: talk.take1.$e differs from -f $f"; }
done
check "-f all: each file is that format's document" [ $same -eq 1 ]
cp $W "$T/in/talk.take1.verbose.flac"
"$BIN/transcribe" --model $M $FAST -f all -o "$T/all" "$T/in/talk.take1.wav" "$T/in/talk.take1.verbose.flac" >/dev/null 2>"$T/err"; rc=$?
check "-f all: an input whose json would be another's verbose.json is refused (exit 2, both named)" sh -c \
    "[ $rc -eq 2 ] && grep -q 'talk.take1.wav and .*talk.take1.verbose.flac .*talk.take1.verbose.json' '$T/err'"

# --- shaped cues on the synthetic model: structure, escaping, warnings
WT="--word-timestamps"
"$BIN/transcribe" --model $M $FAST $CLIP $WT -f json $W >"$T/w.json" 2>/dev/null
mkdir -p "$T/s1" "$T/s2"
"$BIN/transcribe" --model $M $FAST $CLIP $WT --max-line-width 20 --max-line-count 2 -f all -o "$T/s1" $W >/dev/null 2>&1
B=$(basename $W .wav)
check "--max-line-width 20 --max-line-count 2: lines of <= 20 characters (or one word), <= 2 a cue, the words in order" \
    $PY - "$T/s1/$B.srt" "$T/w.json" <<'PY'
import json, sys
blocks = open(sys.argv[1], encoding="utf-8").read().split("\n\n")
assert blocks[-1] == "" and len(blocks) > 3, blocks[:3]
words = [w["word"].strip() for s in json.load(open(sys.argv[2]))["segments"] for w in s["words"]]
got = []
for k, b in enumerate(blocks[:-1]):
    lines = b.split("\n")
    assert lines[0] == str(k + 1) and " --> " in lines[1] and 1 <= len(lines) - 2 <= 2, b
    for l in lines[2:]:
        assert len(l) <= 20 or " " not in l, l
        got += l.split(" ")
assert got == words, (got[:5], words[:5])
PY
"$BIN/transcribe" --model $M $FAST --clip 0,0.5 $WT --highlight-words --prefix 'a --> b <i>x</i> & y' -f vtt $W >"$T/hl.vtt" 2>/dev/null
check "--highlight-words: a cue a word (lines of up to 1000 characters), each underlined once; '-->', < and & escaped as in segment cues" $PY - "$T/hl.vtt" <<'PY'
import sys
blocks = open(sys.argv[1], encoding="utf-8").read().split("\n\n")
assert blocks[0] == "WEBVTT" and blocks[-1] == "", blocks[:2]
cues = [b.split("\n") for b in blocks[1:-1]]
assert len(cues) > 5
for c in cues:
    x = " ".join(c[1:])
    assert len(c) >= 2 and " --> " in c[0] and x.count("<u>") == 1 and x.count("</u>") == 1, c
    assert all(len(l.replace("&lt;", "<").replace("&amp;", "&").replace("<u>", "").replace("</u>", "")) <= 1000 for l in c[1:])
    assert "-->" not in x, c
    t = x.replace("<u>", "").replace("</u>", "")   # (tags between "-" and "->" words: "-->" again)
    assert "<" not in t and t.replace("-->", "->").startswith("a -> b &lt;i>x&lt;/i> &amp; y"), c
assert any(c[1].startswith("<u>a</u> ") for c in cues) and len(cues[0]) > 2, cues[0]
PY
"$BIN/transcribe" --model $M $FAST --clip 0,0.5 $WT --max-line-count 2 -f srt $W >/dev/null 2>"$T/err"; rc=$?
check "--max-line-count without --max-line-width: a warning (as openai-whisper), exit 0" sh -c \
    "[ $rc -eq 0 ] && grep -q 'max-line-count has no effect without --max-line-width' '$T/err'"

# --- byte for byte against openai-whisper's writers
compare() { # label json dir-of-ours basename options...: srt and vtt of an -f all run
    lab=$1 js=$2 dir=$3 base=$4; shift 4
    r=0
    $PY tests/tools/whisper_writers.py srt "$js" "$@" >"$T/ow.srt" 2>"$T/ow.err" || r=1
    $PY tests/tools/whisper_writers.py vtt "$js" "$@" --vtt-hours >"$T/ow.vtt" 2>>"$T/ow.err" || r=1
    if [ $r -eq 0 ] && cmp -s "$T/ow.srt" "$dir/$base.srt" && cmp -s "$T/ow.vtt" "$dir/$base.vtt"; then
        ok "$lab $*: srt and vtt = openai-whisper's"
    else
        nok "$lab $*: srt and vtt = openai-whisper's"
        diff "$T/ow.srt" "$dir/$base.srt" 2>&1 | head -8 | sed 's/^/#   /'; sed 's/^/#   /' "$T/ow.err"
    fi
}
if [ -z "$OWU" ]; then
    echo "ok - openai-whisper comparisons # SKIP openai-whisper's whisper/utils.py not found (pip install --no-deps openai-whisper)"
else
    echo "# openai-whisper writers: $OWU"
    compare synthetic "$T/w.json" "$T/s1" "$B" --max-line-width 20 --max-line-count 2
    "$BIN/transcribe" --model $M $FAST $CLIP $WT --max-words-per-line 3 --highlight-words -f all -o "$T/s2" $W >/dev/null 2>&1
    $PY tests/tools/whisper_writers.py tsv "$T/w.json" >"$T/ow.tsv" 2>/dev/null
    check "synthetic --word-timestamps: tsv = openai-whisper's" cmp -s "$T/ow.tsv" "$T/s2/$B.tsv"
    compare synthetic "$T/w.json" "$T/s2" "$B" --max-words-per-line 3 --highlight-words
    $PY tests/tools/whisper_writers.py tsv "$T/a.json" >"$T/ow.tsv" 2>/dev/null
    check "synthetic: tsv = openai-whisper's" cmp -s "$T/ow.tsv" "$T/a.tsv"

    WD=${SS_WEIGHTS:-.cache/weights}
    JFK=${SHARED:-../shared}/data/jfk.wav
    if [ ! -f "$WD/tiny.en/model.bin" ] || [ ! -f "$JFK" ]; then
        echo "ok - jfk.wav with tiny.en against openai-whisper # SKIP no real weights in $WD or no $JFK"
    else
        # jfk.wav, then 5 s of silence, then jfk.wav again: a pause of more than 3 s
        $PY - "$JFK" "$T/jfk2.wav" <<'PY'
import sys, wave
r = wave.open(sys.argv[1]); p = r.getparams(); fr = r.readframes(r.getnframes()); r.close()
w = wave.open(sys.argv[2], "wb"); w.setparams(p)
w.writeframes(fr + b"\0" * (5 * p.framerate * p.sampwidth * p.nchannels) + fr); w.close()
PY
        R="--model $WD/tiny.en --threads 2 $WT"
        "$REL/transcribe" $R -f json "$JFK" >"$T/jfk.json" 2>/dev/null
        "$REL/transcribe" $R -f json "$T/jfk2.wav" >"$T/jfk2.json" 2>/dev/null
        for opts in "--max-line-width 42" "--max-line-width 20" "--max-line-width 20 --max-line-count 1" \
                    "--max-line-width 20 --max-line-count 2" "--max-line-width 42 --max-line-count 2" \
                    "--max-words-per-line 3" "--max-line-width 20 --max-words-per-line 3" "--highlight-words" \
                    "--max-line-width 20 --max-line-count 2 --highlight-words"; do
            rm -rf "$T/r"; mkdir "$T/r"
            "$REL/transcribe" $R $opts -f all -o "$T/r" "$JFK" >/dev/null 2>&1
            compare "jfk.wav tiny.en" "$T/jfk.json" "$T/r" jfk $opts
        done
        for opts in "--max-line-width 42 --max-line-count 2" "--max-line-width 20 --max-line-count 1 --highlight-words"; do
            rm -rf "$T/r"; mkdir "$T/r"
            "$REL/transcribe" $R $opts -f all -o "$T/r" "$T/jfk2.wav" >/dev/null 2>&1
            compare "jfk.wav+5s+jfk.wav tiny.en" "$T/jfk2.json" "$T/r" jfk2 $opts
        done
        $PY tests/tools/whisper_writers.py tsv "$T/jfk2.json" >"$T/ow.tsv" 2>/dev/null
        check "jfk.wav+5s+jfk.wav tiny.en: tsv = openai-whisper's" cmp -s "$T/ow.tsv" "$T/r/jfk2.tsv"
    fi
fi
"$BIN/transcribe" --help >"$T/help"
check "--help lists tsv, all and the cue options" sh -c "grep -q tsv '$T/help' && grep -q -- '-f\\|all' '$T/help' &&
    grep -q -- --max-line-width '$T/help' && grep -q -- --max-line-count '$T/help' &&
    grep -q -- --max-words-per-line '$T/help' && grep -q -- --highlight-words '$T/help'"
[ "$fails" -eq 0 ]
