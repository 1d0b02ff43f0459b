#!/bin/sh
# scripts/convert-openai-pt.py: openai-whisper checkpoints (.pt) to ggml, without torch.
# The checkpoint is written by tests/tools/make_openai_pt.py in PyTorch's zip format from the
# real faster-whisper tiny.en weights (scripts/fetch-test-weights.sh), so the converted file
# must transcribe jfk.wav exactly like the original; the tokenizer and filterbank come from
# openai-whisper's own assets (its sdist from PyPI, pinned, cached in .cache/openai-whisper),
# and must equal those in whisper.cpp's published files byte for byte
# (../shared/data/for-tests-ggml-base.en.bin). Hostile and broken checkpoints are refused.
# Without numpy, --help and the message saying how to get it; the rest skips without numpy
# (the .venv of scripts/install-deps.sh has it), the weights or the assets.
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-bin}
REL=bin; [ -x "$REL/transcribe" ] || REL=$BIN
WD=${SS_WEIGHTS:-.cache/weights}
SHARED=${SHARED:-../shared}
OW=openai_whisper-20250625.tar.gz
OW_SHA=37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; fi; }
skip() { echo "ok - convert-openai-pt # SKIP $1"; exit 0; }

# Without numpy (a system Python: setup puts numpy in .venv only; a stand-in numpy package on
# PYTHONPATH that fails to import): --help still works, and a conversion says how to get
# numpy (it had said "pip install numpy", which Debian's system Python refuses, even for --help).
T0=$(mktemp -d /tmp/ss-pt0.XXXXXX)
mkdir -p "$T0/numpy"
echo 'raise ImportError("No module named numpy (test stand-in)")' >"$T0/numpy/__init__.py"
PYTHONPATH=$T0 python3 scripts/convert-openai-pt.py --help >"$T0/out" 2>"$T0/err"; rc=$?
check "without numpy: --help prints the usage, exit 0" \
    sh -c '[ $0 -eq 0 ] && grep -q "MODEL.pt OUT.bin" "$1" && [ ! -s "$2" ]' $rc "$T0/out" "$T0/err"
PYTHONPATH=$T0 python3 scripts/convert-openai-pt.py "$T0/m.pt" "$T0/m.bin" >"$T0/out" 2>&1; rc=$?
check "without numpy: a conversion says .venv/bin/python or apt install python3-numpy, exit 2" \
    sh -c '[ $0 -eq 2 ] && grep -q "\.venv/bin/python" "$1" && grep -q "apt install python3-numpy" "$1" && [ ! -e "$2" ]' \
    $rc "$T0/out" "$T0/m.bin"
rm -rf "$T0"

PY=""
for p in .venv/bin/python python3; do
    if $p -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || skip "no Python with numpy (scripts/install-deps.sh puts it in .venv)"
T=$(mktemp -d /tmp/ss-pt.XXXXXX)
trap 'rm -rf "$T"' EXIT

# Broken inputs and mistyped options, before anything needs the weights or the assets: one
# line "convert-openai-pt: <reason>" and exit 1 (2 for usage), never a traceback.
$PY - "$T" <<'PY'
import pickle, sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/ok.pt", "w") as z:          # stored, as torch.save writes
    z.writestr("m/data.pkl", pickle.dumps({"x": 1}, protocol=2) * 50)
b = bytearray(open(d + "/ok.pt", "rb").read())
b[b.index(b"m/data.pkl") + 40] ^= 0xFF                # inside the member's data: bad CRC
open(d + "/crc.pt", "wb").write(bytes(b))
open(d + "/head.pt", "wb").write(bytes(b[:100]))      # a zip cut short: no central directory
open(d + "/legacy.pt", "wb").write(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + b"...")
PY
oneline() { # out-file pattern: exactly one line, the reason, no traceback
    [ "$(wc -l <"$1")" -eq 1 ] && grep -q "^convert-openai-pt: .*$2" "$1" && ! grep -q Traceback "$1"
}
$PY scripts/convert-openai-pt.py "$T/crc.pt" "$T/crc.bin" >"$T/out" 2>&1; rc=$?
check "a zip with a bad CRC: exit 1, nothing written" \
    sh -c '[ $0 -eq 1 ] && [ ! -e "$1" ] && [ ! -e "$1.part" ]' $rc "$T/crc.bin"
check "a zip with a bad CRC: one line saying it is damaged, no traceback" oneline "$T/out" "damaged zip archive"
$PY scripts/convert-openai-pt.py "$T/head.pt" "$T/head.bin" >"$T/out" 2>&1; rc=$?
check "a zip cut short: exit 1, says truncated (not 'legacy format')" \
    sh -c '[ $0 -eq 1 ] && grep -q truncated "$1" && ! grep -q "legacy" "$1"' $rc "$T/out"
$PY scripts/convert-openai-pt.py "$T/nonexistent.pt" "$T/n.bin" >"$T/out" 2>&1; rc=$?
check "a nonexistent file: exit 1, 'no such file' (not 'legacy format')" \
    sh -c '[ $0 -eq 1 ] && grep -q "nonexistent.pt: no such file" "$1" && ! grep -q "legacy" "$1"' $rc "$T/out"
$PY scripts/convert-openai-pt.py "$T/legacy.pt" "$T/l.bin" >"$T/out" 2>&1; rc=$?
check "a legacy (torch < 1.6) checkpoint: exit 1, says how to resave it" \
    sh -c '[ $0 -eq 1 ] && grep -q "legacy format.*torch.save it once" "$1"' $rc "$T/out"
PYA=$PY; case $PY in */*) PYA=$(pwd)/$PY ;; esac   # run from $T: a stray output lands there
CV=$(pwd)/scripts/convert-openai-pt.py
(cd "$T" && $PYA "$CV" ok.pt --q8) >"$T/out" 2>&1; rc=$?
check "a mistyped option (MODEL.pt --q8): usage error, exit 2, no file named --q8" \
    sh -c '[ $0 -eq 2 ] && grep -q "unknown option --q8" "$1" && [ ! -e "$2/--q8" ] && [ ! -e "$2/--q8.part" ]' $rc "$T/out" "$T"

[ -f "$WD/tiny.en/model.bin" ] || skip "no real weights in $WD (scripts/fetch-test-weights.sh)"
C=.cache/openai-whisper
A=$C/openai_whisper-20250625/whisper/assets
if [ ! -f "$A/mel_filters.npz" ] && [ "${SS_NO_FETCH:-0}" != 1 ]; then
    mkdir -p "$C"
    PIP_DEFAULT_TIMEOUT=20 PIP_RETRIES=1 $PY -m pip download -q --no-deps --no-binary :all: \
        openai-whisper==20250625 -d "$C" >/dev/null 2>&1
    if [ -f "$C/$OW" ] && [ "$(sha256sum "$C/$OW" | cut -d' ' -f1)" = "$OW_SHA" ]; then
        tar -xzf "$C/$OW" -C "$C" openai_whisper-20250625/whisper/assets 2>/dev/null
    fi
fi
[ -f "$A/mel_filters.npz" ] || skip "openai-whisper's assets not available (offline?)"

$PY tests/tools/make_openai_pt.py "$WD/tiny.en" "$T/tiny.en.pt" || nok "checkpoint written"
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/ggml-tiny.en.bin" --assets "$A" >"$T/out" 2>&1; rc=$?
check "converts (exit 0, 167 tensors, f16)" sh -c '[ $0 -eq 0 ] && grep -q "167 tensors, n_vocab 51864, 80 mels, f16" "$1"' $rc "$T/out"
check "no .part left" [ ! -e "$T/ggml-tiny.en.bin.part" ]

# header: filterbank and vocabulary as whisper.cpp's published base.en (same tokenizer, 80 mels)
REAL=$SHARED/data/for-tests-ggml-base.en.bin
if [ -f "$REAL" ]; then
    check "filterbank and vocabulary as in whisper.cpp's base.en file (theirs with U+FFFD for partial UTF-8)" $PY - "$T/ggml-tiny.en.bin" "$REAL" <<'PY'
import struct, sys
import numpy as np
def head(p):
    b = open(p, "rb").read()
    o = 48
    nm, nf = struct.unpack_from("<ii", b, o)
    fo = o = o + 8 + 4 * nm * nf
    n, = struct.unpack_from("<i", b, o)
    o += 4
    toks = []
    for _ in range(n):
        l, = struct.unpack_from("<I", b, o)
        toks.append(b[o + 4:o + 4 + l])
        o += 4 + l
    return b[48:fo], toks
fa, ta = head(sys.argv[1]); fb, tb = head(sys.argv[2])
# the filterbank equal as numbers (one -0.0 in the npz is +0.0 in their file)
assert fa[:8] == fb[:8] and np.array_equal(np.frombuffer(fa[8:], "<f4"), np.frombuffer(fb[8:], "<f4"))
assert len(ta) == len(tb) == 50257
# whisper.cpp's published files went through a text decode: each token is its bytes decoded
# as UTF-8 with U+FFFD for what is invalid on its own; ours keep the raw bytes, the real token
diff = [i for i in range(len(ta)) if ta[i] != tb[i]]
assert all(tb[i] == ta[i].decode("utf-8", "replace").encode() for i in diff), diff[:5]
print("# %d tokens differ, each its raw bytes there decoded with U+FFFD" % len(diff))
PY
else
    echo "ok - header against whisper.cpp's file # SKIP no $REAL"
fi

JFK=$SHARED/data/jfk.wav
if [ -f "$JFK" ]; then
    "$REL/transcribe" --model "$T/ggml-tiny.en.bin" --beam-size 1 --threads 2 "$JFK" >"$T/a.txt" 2>"$T/a.err"
    "$REL/transcribe" --model "$WD/tiny.en" --beam-size 1 --threads 2 "$JFK" >"$T/b.txt" 2>"$T/b.err"
    check "the converted model transcribes jfk.wav exactly like the original weights" \
        sh -c 'grep -q "ask not what your country" "$0" && cmp -s "$0" "$1"' "$T/a.txt" "$T/b.txt"
    $PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/f32.bin" --assets "$A" --f32 >/dev/null 2>&1
    "$REL/transcribe" --model "$T/f32.bin" --beam-size 1 --threads 2 "$JFK" >"$T/c.txt" 2>/dev/null
    check "--f32: an f32 file (about twice the size) with the same words" \
        sh -c '[ $(stat -c %s "$0") -gt $(( $(stat -c %s "$1") * 17 / 10 )) ] && cmp -s "$2" "$3"' "$T/f32.bin" "$T/ggml-tiny.en.bin" "$T/c.txt" "$T/b.txt"
    # the quantized types: on an AVX2 CPU the decoder multiplies int8 activations (kernels.h),
    # else the exact path; the words must be the original's either way (q4_0, the coarsest:
    # within WER 0.15 of them — it measured 0.09 with int8 products, "my" heard as "am I";
    # the exact path had them all)
    $PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/q8.bin" --assets "$A" --q8_0 >"$T/out" 2>&1
    "$REL/transcribe" --model "$T/q8.bin" --beam-size 1 --threads 2 "$JFK" >"$T/d.txt" 2>/dev/null
    words() { tr 'A-Z' 'a-z' <"$1" | tr -c 'a-z' ' ' | tr -s ' '; }
    check "--q8_0: a q8_0 file (under 60 % of f16's size) with the original's words" \
        sh -c 'grep -q "q8_0 ->" "$0" && [ $(stat -c %s "$1") -lt $(( $(stat -c %s "$2") * 6 / 10 )) ] && [ "$3" = "$4" ]' \
        "$T/out" "$T/q8.bin" "$T/ggml-tiny.en.bin" "$(words "$T/d.txt")" "$(words "$T/b.txt")"
    $PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/q5.bin" --assets "$A" --q5_0 >"$T/out" 2>&1
    "$REL/transcribe" --model "$T/q5.bin" --beam-size 1 --threads 2 "$JFK" >"$T/e.txt" 2>/dev/null
    check "--q5_0: a q5_0 file (under 40 % of f16's size) with the original's words" \
        sh -c 'grep -q "q5_0 ->" "$0" && [ $(stat -c %s "$1") -lt $(( $(stat -c %s "$2") * 4 / 10 )) ] && [ "$3" = "$4" ]' \
        "$T/out" "$T/q5.bin" "$T/ggml-tiny.en.bin" "$(words "$T/e.txt")" "$(words "$T/b.txt")"
    for q in q5_1 q4_1 q4_0; do
        pct=40; [ $q = q5_1 ] && pct=45   # q5_1: 6 bits a weight, measured 41 % (q4_1 36, q4_0 33)
        $PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/$q.bin" --assets "$A" --$q >"$T/out" 2>&1
        "$REL/transcribe" --model "$T/$q.bin" --beam-size 1 --threads 2 "$JFK" >"$T/$q.txt" 2>/dev/null
        if [ $q = q4_0 ]; then
            words "$T/b.txt" >"$T/ref.w"; words "$T/$q.txt" >"$T/hyp.w"
            wer=$(python3 tests/tools/wer.py "$T/ref.w" "$T/hyp.w" | sed -n 's/^wer=\([0-9.]*\).*/\1/p')
            check "--$q: a $q file (under $pct % of f16's size) within WER 0.15 of the original's words (${wer:-?})" \
                sh -c 'grep -q "$0 ->" "$1" && [ $(stat -c %s "$2") -lt $(( $(stat -c %s "$3") * $5 / 100 )) ] &&
                       awk "BEGIN { exit !(\"$4\" != \"\" && $4 + 0 <= 0.15) }"' \
                $q "$T/out" "$T/$q.bin" "$T/ggml-tiny.en.bin" "$wer" $pct
        else
            check "--$q: a $q file (under $pct % of f16's size) with the original's words" \
                sh -c 'grep -q "$0 ->" "$1" && [ $(stat -c %s "$2") -lt $(( $(stat -c %s "$3") * $6 / 100 )) ] && [ "$4" = "$5" ]' \
                $q "$T/out" "$T/$q.bin" "$T/ggml-tiny.en.bin" "$(words "$T/$q.txt")" "$(words "$T/b.txt")" $pct
        fi
    done
else
    echo "ok - jfk.wav transcripts # SKIP no $JFK"
fi

# hostile and broken inputs
$PY tests/tools/make_openai_pt.py "$WD/tiny.en" "$T/evil.pt" --evil
$PY scripts/convert-openai-pt.py "$T/evil.pt" "$T/evil.bin" --assets "$A" >"$T/out" 2>&1; rc=$?
check "a checkpoint that references os.system: refused (exit 1), nothing run, nothing written" \
    sh -c '[ $0 -eq 1 ] && grep -q "refusing posix.system" "$1" && ! grep -q pwned "$1" && [ ! -e "$2" ] && [ ! -e "$2.part" ]' $rc "$T/out" "$T/evil.bin"
head -c 30000000 "$T/tiny.en.pt" >"$T/cut.pt"
$PY scripts/convert-openai-pt.py "$T/cut.pt" "$T/cut.bin" --assets "$A" >"$T/out" 2>&1; rc=$?
check "a truncated checkpoint: exit 1 with a reason, nothing written" \
    sh -c '[ $0 -eq 1 ] && grep -q "^convert-openai-pt: .*truncated" "$1" && [ ! -e "$2" ] && [ ! -e "$2.part" ]' $rc "$T/out" "$T/cut.bin"
printf 'not a zip' >"$T/other.pt"
$PY scripts/convert-openai-pt.py "$T/other.pt" "$T/o.bin" --assets "$A" >"$T/out" 2>&1; rc=$?
check "a file in neither format: exit 1, says it is not a PyTorch checkpoint" \
    sh -c '[ $0 -eq 1 ] && grep -q "not a PyTorch checkpoint" "$1"' $rc "$T/out"
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" >/dev/null 2>&1; rc=$?
check "usage error: exit 2" [ $rc -eq 2 ]
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/x.bin" --f32 --q8_0 >/dev/null 2>&1; rc=$?
check "--f32 with --q8_0: usage error, exit 2" [ $rc -eq 2 ]
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/x.bin" --q5_0 --q8_0 >/dev/null 2>&1; rc=$?
check "--q5_0 with --q8_0: usage error, exit 2" [ $rc -eq 2 ]
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/x.bin" --q4_1 --q5_1 >/dev/null 2>&1; rc=$?
check "--q4_1 with --q5_1: usage error, exit 2" [ $rc -eq 2 ]
$PY scripts/convert-openai-pt.py "$T/tiny.en.pt" "$T/x.bin" --q3_k >/dev/null 2>&1; rc=$?
check "--q3_k (no such quantization here): usage error, exit 2" [ $rc -eq 2 ]
[ $fails -eq 0 ]
