#!/bin/sh
# setup.sh — the one set-up command: installs the Debian packages (apt-get), builds every
# program into bin/, and runs the main job once: a session daemon with your model serving a
# transcription of an audio file through the spool.
#
#   sh scripts/setup.sh [AUDIO_FILE]
#
# Model: $SPEECH_SESSION_MODEL, else models/ggml-base.en.bin when present (get it with
# scripts/get-model.sh base.en), else the synthetic test model (random weights: it proves the
# pipeline works but prints nonsense words).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)"
AUDIO=${1:-$(pwd)/tests/data/speech-16k.wav}
case "$AUDIO" in /*) ;; *) AUDIO=$(pwd)/$AUDIO ;; esac
if [ -z "${SPEECH_SESSION_MODEL:-}" ]; then
    if [ -f models/ggml-base.en.bin ]; then
        SPEECH_SESSION_MODEL=$(pwd)/models/ggml-base.en.bin
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
