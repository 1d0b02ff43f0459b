#!/bin/sh
# setup.sh — the one set-up command: installs the Debian packages (apt-get), builds every
# program into bin/, and runs the main job once: a session daemon with your model serving a
# transcription of an audio file through the spool.
#
#   sh scripts/setup.sh [AUDIO_FILE]   (default: tests/data/speech-16k.wav)
#   sh scripts/setup.sh --help
#
# A relative AUDIO_FILE is relative to the directory you run it from; it is checked before
# anything is installed. Installing also puts requests, numpy, the OpenAI SDK and
# openai-whisper (no dependencies) into .venv, and downloads the real test weights (about
# 200 MB) into .cache/weights (scripts/install-deps.sh). Model: $SPEECH_SESSION_MODEL, else
# models/ggml-base.en.bin when present (get it with scripts/get-model.sh base.en), else the
# real test weights .cache/weights/base (or $SS_WEIGHTS/base) when fetched, else the synthetic
# test model (random weights: it proves the pipeline works but prints nonsense words).
# Exit: 0 ok, 2 usage (an unknown option, more than one file, a missing AUDIO_FILE), else
# the failing step's status.
set -eu
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
AUDIO=""
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; [ $# -le 1 ] || { usage >&2; exit 2; }; AUDIO=${1:-}; break ;;
        -*) echo "setup: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [ -z "$AUDIO" ] || { echo "setup: one AUDIO_FILE at most" >&2; usage >&2; exit 2; }
           AUDIO=$1 ;;
    esac
    shift
done
if [ -n "$AUDIO" ]; then
    case "$AUDIO" in /*) ;; *) AUDIO=$(pwd)/$AUDIO ;; esac
    [ -f "$AUDIO" ] && [ -r "$AUDIO" ] || { echo "setup: $AUDIO: no such readable file" >&2; exit 2; }
fi
cd "$(dirname "$0")/.."
[ -n "$AUDIO" ] || AUDIO=$(pwd)/tests/data/speech-16k.wav
sh scripts/install-deps.sh
make -j"$(nproc)"
if [ -z "${SPEECH_SESSION_MODEL:-}" ]; then
    W=${SS_WEIGHTS:-.cache/weights}
    case "$W" in /*) ;; *) W=$(pwd)/$W ;; esac
    if [ -f models/ggml-base.en.bin ]; then
        SPEECH_SESSION_MODEL=$(pwd)/models/ggml-base.en.bin
    elif [ -s "$W/base/model.bin" ] && [ -s "$W/base/config.json" ] && [ -s "$W/base/vocabulary.txt" ]; then
        # the real weights install-deps has just fetched for the tests: real words, not the
        # synthetic model's nonsense after a 200 MB download
        SPEECH_SESSION_MODEL=$W/base
    else
        SPEECH_SESSION_MODEL=$(pwd)/tests/data/models/micro-f16.bin
        echo "note: no real model found; using the synthetic test model (nonsense words)."
        echo "      for real transcription: scripts/get-model.sh base.en && sh scripts/setup.sh"
    fi
fi
export SPEECH_SESSION_MODEL
echo "model: $SPEECH_SESSION_MODEL"
echo "audio: $AUDIO"
if [ -x bin/session_client ] && [ -x bin/session_daemon ]; then
    bin/session_client transcribe "$AUDIO"
    bin/session_client status
else
    bin/transcribe --model "$SPEECH_SESSION_MODEL" "$AUDIO"
fi
