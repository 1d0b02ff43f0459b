#!/bin/sh
# scripts/get-model.sh --ct2 against a local stand-in for the Hugging Face hub
# (tests/tools/fake_hub.py, HF_ENDPOINT), serving the real faster-whisper tiny.en files that
# scripts/fetch-test-weights.sh caches: the directory lands complete, model.bin's SHA-256 is
# checked against the hub's ETag (a wrong or truncated download never lands, nothing is left
# behind), optional files may be missing, unknown names are refused, and the model it
# fetched transcribes jfk.wav exactly like the original directory. Skips without the weights.
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-bin}
WD=${SS_WEIGHTS:-.cache/weights}
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; echo "#   failed: $*"; [ -f "$T/out" ] && sed "s/^/#   /" "$T/out"; fi; }
if [ ! -f "$WD/tiny.en/model.bin" ]; then
    echo "ok - get-model --ct2 # SKIP no real weights in $WD (scripts/fetch-test-weights.sh)"; exit 0
fi
T=$(mktemp -d /tmp/ss-getmodel.XXXXXX)
HUB=""
trap '[ -n "$HUB" ] && kill $HUB 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
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
check "model.bin verified against the hub's SHA-256" grep -q 'model.bin: OK (sha256' "$T/out"
check "required files present, byte-identical" sh -c 'for f in model.bin config.json tokenizer.json vocabulary.txt; do cmp -s "$0/$f" "$1/$f" || exit 1; done' "$T/m/tiny.en" "$WD/tiny.en"
check "absent optional files (preprocessor_config.json) tolerated, no temp or header files left" \
    sh -c '[ ! -e "$0/tiny.en/preprocessor_config.json" ] && [ "$(ls -A "$0" | wc -l)" -eq 1 ] && [ -z "$(ls -A "$0/tiny.en" | grep "^\.")" ]' "$T/m"
scripts/get-model.sh --ct2 tiny.en "$T/m" >"$T/out2" 2>&1
check "second run: already present, nothing downloaded" grep -q 'already present' "$T/out2"

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
