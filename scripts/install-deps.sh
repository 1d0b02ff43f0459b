#!/bin/sh
# Installs the Debian packages listed in deps/apt-packages.txt (needs root; uses sudo
# when not root). Safe to run again: apt-get skips what is installed.
set -eu
cd "$(dirname "$0")/.."
PKGS=$(grep -v '^\s*#' deps/apt-packages.txt | tr '\n' ' ')
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# The official OpenAI Python SDK and requests, for the HTTP client tests
# (tests/integration/http_clients.sh), and numpy, for the .pt converter's test
# (tests/integration/convert_pt.sh), in a private virtual environment: nothing is installed
# into the system's Python. Without network access to the package index this step only
# warns; those tests then say they were skipped.
VENV=${SPEECH_SESSION_VENV:-.venv}
if ! "$VENV/bin/python" -c 'import openai, requests, numpy' 2>/dev/null; then
    echo "creating $VENV with the openai, requests and numpy packages"
    if python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check openai requests numpy; then
        :
    else
        echo "warning: could not install openai/requests/numpy into $VENV; the Python SDK tests will be skipped" >&2
    fi
fi

# openai-whisper's own subtitle writers (whisper/utils.py) for the byte-for-byte comparison in
# tests/integration/transcribe_subtitles.sh: the package alone, without its dependencies (no
# torch: the test loads only utils.py). Without it those comparisons say they were skipped.
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import importlib.util as u; assert u.find_spec("whisper")' 2>/dev/null; then
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps openai-whisper==20250625 ||
        echo "warning: could not install openai-whisper into $VENV; the subtitle comparisons will be skipped" >&2
fi

# Real Whisper weights for the real-speech tests (tests/integration/real_speech.sh), cached
# under .cache/weights; without them (offline) those tests skip.
scripts/fetch-test-weights.sh || echo "install-deps: real weights not fetched; the real-speech tests will be skipped" >&2
