#!/bin/sh
# scripts/get-model.sh --ct2 against a local stand-in for the Hugging Face hub
# (tests/tools/fake_hub.py, HF_ENDPOINT), serving the real faster-whisper tiny.en files that
# scripts/fetch-test-weights.sh caches: the directory lands complete, model.bin's SHA-256 is
# checked against the hub's ETag (a wrong or truncated download never lands, nothing is left
# behind), optional files may be missing, unknown names are refused, and the model it
# fetched transcribes jfk.wav exactly like the original directory. Skips those without the
# weights. First, offline (nothing listens on the model URL): the ggml download keeps the
# requested name when an existing file is wrong, an existing file with no known checksum is
# kept and not called verified, and DIR defaults to $SPEECH_SESSION_MODELS.
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-bin}
WD=${SS_WEIGHTS:-.cache/weights}
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; echo "#   failed: $*"; [ -f "$T/out" ] && sed "s/^/#   /" "$T/out"; fi; }
T=$(mktemp -d /tmp/ss-getmodel.XXXXXX)
HUB=""
trap '[ -n "$HUB" ] && kill $HUB 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
GM=$(pwd)/scripts/get-model.sh

# ggml files, offline: nothing listens on the model URL, so every download fails fast.
export SPEECH_SESSION_MODEL_URL=http://127.0.0.1:9
mkdir -p "$T/g/models"
echo junk >"$T/g/models/ggml-tiny.bin"
(cd "$T/g" && sh "$GM" tiny) >"$T/out" 2>&1; rc=$?
check "a corrupt existing ggml-tiny.bin: fetched again under its own name, exit 1 offline" \
    sh -c '[ $0 -eq 1 ] && grep -q "downloading http://127.0.0.1:9/ggml-tiny.bin$" "$1" && ! grep -q "already present" "$1"' $rc "$T/out"
: >"$T/g/models/ggml-medium-q5_0.bin"
(cd "$T/g" && sh "$GM" medium-q5_0) >"$T/out" 2>&1; rc=$?
check "an existing file with no known checksum: kept, says not verified, never 'verified'" \
    sh -c '[ $0 -eq 0 ] && grep -q "not verified" "$1" && ! grep -q "and verified" "$1" && ! grep -q downloading "$1"' $rc "$T/out"
mkdir -p "$T/g/elsewhere"; : >"$T/g/elsewhere/ggml-medium-q5_0.bin"
(cd "$T/g" && SPEECH_SESSION_MODELS=elsewhere sh "$GM" medium-q5_0) >"$T/out" 2>&1; rc=$?
check "the default DIR is \$SPEECH_SESSION_MODELS" sh -c '[ $0 -eq 0 ] && grep -q "^elsewhere/ggml-medium-q5_0.bin:" "$1"' $rc "$T/out"
sh "$GM" --bogus >"$T/out" 2>&1; rc=$?
check "an unknown option: usage, exit 2" sh -c '[ $0 -eq 2 ] && grep -q "unknown option --bogus" "$1"' $rc "$T/out"
sh "$GM" --help >"$T/out" 2>"$T/err"; rc=$?
check "--help: the usage on stdout, exit 0 (had been 2, on stderr)" \
    sh -c '[ $0 -eq 0 ] && grep -q "get-model.sh NAME \[DIR\]" "$1" && [ ! -s "$2" ]' $rc "$T/out" "$T/err"
unset SPEECH_SESSION_MODEL_URL

if [ ! -f "$WD/tiny.en/model.bin" ]; then
    echo "ok - get-model --ct2 # SKIP no real weights in $WD (scripts/fetch-test-weights.sh)"; [ $fails -eq 0 ]; exit
fi
mkdir -p "$T/hub"
ln -s "$(cd "$WD/tiny.en" && pwd)" "$T/hub/faster-whisper-tiny.en"

serve() { # mode: starts the fake hub, sets HF_ENDPOINT
    [ -n "$HUB" ] && kill $HUB 2>/dev/null && wait $HUB 2>/dev/null
    # a port file per server: the old one's file would look ready before the new one writes
    python3 tests/tools/fake_hub.py "$T/hub" "$1" >"$T/port.$1" 2>"$T/hub.log" &
    HUB=$!
    i=0; while [ ! -s "$T/port.$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port.$1")"
}
nothing_left() { [ ! -e "$1/tiny.en" ] && [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

serve good
scripts/get-model.sh --ct2 tiny.en "$T/m" >"$T/out" 2>&1; rc=$?
check "download exits 0" [ $rc -eq 0 ]
check "a DIR the engine does not search: the by-name hint names SPEECH_SESSION_MODELS" \
    grep -q "by name with SPEECH_SESSION_MODELS=$T/m: --model tiny.en" "$T/out"
check "model.bin verified against the hub's SHA-256" grep -q 'model.bin: OK (sha256' "$T/out"
check "required files present, byte-identical" sh -c 'for f in model.bin config.json tokenizer.json vocabulary.txt; do cmp -s "$0/$f" "$1/$f" || exit 1; done' "$T/m/tiny.en" "$WD/tiny.en"
check "absent optional files (preprocessor_config.json) tolerated, no temp or header files left" \
    sh -c '[ ! -e "$0/tiny.en/preprocessor_config.json" ] && [ "$(ls -A "$0" | wc -l)" -eq 1 ] && [ -z "$(ls -A "$0/tiny.en" | grep "^\.")" ]' "$T/m"
scripts/get-model.sh --ct2 tiny.en "$T/m" >"$T/out2" 2>&1
check "second run: already present, nothing downloaded" grep -q 'already present' "$T/out2"
(cd "$T" && SPEECH_SESSION_MODELS=sm sh "$GM" --ct2 tiny.en) >"$T/out" 2>&1; rc=$?
check "--ct2 without DIR: lands in \$SPEECH_SESSION_MODELS, where the name resolves" \
    sh -c '[ $0 -eq 0 ] && [ -f "$1/sm/tiny.en/model.bin" ] && grep -q "or by name: --model tiny.en)" "$2"' $rc "$T" "$T/out"

JFK=${SHARED:-../shared}/data/jfk.wav
REL=bin; [ -x "$REL/transcribe" ] || REL=$BIN
if [ -f "$JFK" ] && [ -x "$REL/transcribe" ]; then
    "$REL/transcribe" --model "$T/m/tiny.en" --beam-size 1 --threads 2 "$JFK" >"$T/a.txt" 2>"$T/a.err"
    "$REL/transcribe" --model "$WD/tiny.en" --beam-size 1 --threads 2 "$JFK" >"$T/b.txt" 2>"$T/b.err"
    check "the fetched model transcribes jfk.wav like the original" sh -c 'grep -q "ask not what your country" "$0" && cmp -s "$0" "$1"' "$T/a.txt" "$T/b.txt"
else
    echo "ok - the fetched model transcribes jfk.wav # SKIP no jfk.wav or transcribe"
fi

serve badsum
scripts/get-model.sh --ct2 tiny.en "$T/bad" >"$T/out" 2>&1; rc=$?
check "wrong checksum: refused (exit 1) with MISMATCH" sh -c '[ $0 -eq 1 ] && grep -q MISMATCH "$1"' $rc "$T/out"
check "wrong checksum: nothing left behind" nothing_left "$T/bad"

serve truncate
scripts/get-model.sh --ct2 tiny.en "$T/trunc" >"$T/out" 2>&1; rc=$?
check "truncated model.bin: refused, nothing left behind" sh -c '[ $0 -ne 0 ] && [ ! -e "$1/tiny.en" ] && [ -z "$(ls -A "$1" 2>/dev/null)" ]' $rc "$T/trunc"

serve nosum
scripts/get-model.sh --ct2 tiny.en "$T/ns" >"$T/out" 2>&1; rc=$?
check "no checksum from the hub: saved, and says it is not verified" sh -c '[ $0 -eq 0 ] && grep -q "not verified" "$1" && [ -f "$2/tiny.en/model.bin" ]' $rc "$T/out" "$T/ns"

serve good2
scripts/get-model.sh --ct2 base "$T/missing" >"$T/out" 2>&1; rc=$?
check "a repository the hub does not have: exit 1, names the URL, nothing left" \
    sh -c '[ $0 -eq 1 ] && grep -q "faster-whisper-base/resolve/main/model.bin" "$1" && [ ! -e "$2/base" ]' $rc "$T/out" "$T/missing"
scripts/get-model.sh --ct2 tiny.xx "$T/u" >"$T/out" 2>&1; rc=$?
check "an unknown name: usage exit 2, says so" sh -c '[ $0 -eq 2 ] && grep -q "unknown faster-whisper model" "$1"' $rc "$T/out"
[ $fails -eq 0 ]
