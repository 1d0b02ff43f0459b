#!/bin/sh
# run_gpu_speech_session.sh AUDIO... — transcribe with the session daemon (the name used in
# ../shared/spec/session-api.md). Starts the daemon when none is running, prints the text.
# A thin wrapper over session_client; BIN overrides the program directory (default ../bin).
# Options after the files are passed on (e.g. --json, --timeout S).
if [ $# -lt 1 ]; then
    echo "usage: $0 AUDIO_FILE... [--json] [--timeout S]" >&2
    exit 100
fi
BIN=${BIN:-$(cd "$(dirname "$0")/../bin" 2>/dev/null && pwd)}
exec "$BIN/session_client" transcribe "$@"
