#!/bin/sh
# The Bash and Python client examples of ../shared/spec/session-api.md, extracted from the
# spec and run verbatim — only "/tmp" is replaced by the test root (and the Python example's
# placeholder audio path by a real file) — against a running session_daemon.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc
SPEC="$SHARED/spec/session-api.md"
# the spec as the user gave it; a copy is kept in tests/data for checkouts without shared/
[ -f "$SPEC" ] || SPEC=tests/data/session-api.md
[ -f "$SPEC" ] || { echo "not ok - spec not found at $SPEC"; exit 1; }

# extract the fenced blocks: the bash one with "Simple session client example", the python
# one with "def transcribe_audio"
python3 - "$SPEC" "$ROOT" <<'PY'
import re, sys
spec = open(sys.argv[1]).read()
blocks = re.findall(r"```(\w+)\n(.*?)```", spec, re.S)
bash = [b for lang, b in blocks if lang == "bash" and "Simple session client example" in b][0]
py = [b for lang, b in blocks if lang == "python" and "def transcribe_audio" in b][0]
open(sys.argv[2] + "/spec_client.sh", "w").write(bash)
open(sys.argv[2] + "/spec_client.py", "w").write(py)
PY
check "spec client examples extracted" [ -s "$ROOT/spec_client.sh" -a -s "$ROOT/spec_client.py" ]
sed -i "s#/tmp/#$ROOT/#g" "$ROOT/spec_client.sh"
sed -i "s#/tmp/#$ROOT/#g; s#/path/to/audio.wav#$DATA/silence.wav#" "$ROOT/spec_client.py"
check "the examples use the request/response directories" grep -q "$ROOT/speech_session_requests" "$ROOT/spec_client.sh"

start_daemon --beam-size 1 --language en 60; rc=$?
check "daemon started (exit $rc, pid $(daemon_pid))" [ $rc -eq 0 -a -n "$(daemon_pid)" ]

out=$(bash "$ROOT/spec_client.sh" "$DATA/silence.wav"); rc=$?
check "spec Bash client: exit 0" [ $rc -eq 0 ]
echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["results"]==[] and d["device"]=="cpu" and d["session_active"] is True and "timestamp" in d and d["id"].isdigit()'
check "spec Bash client: response JSON with the spec's fields" [ $? -eq 0 ]
out=$(bash "$ROOT/spec_client.sh" "$DATA/no-such-file.wav"); rc=$?
echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["results"]==[] and d["error"].startswith("Audio file not found: ") and d["error_code"]=="audio_not_found"'
check "spec Bash client: missing audio gives the spec's error response" [ $rc -eq 0 -a $? -eq 0 ]
out=$(cd "$ROOT" && python3 spec_client.py); rc=$?
check "spec Python client: prints 'Transcription:' ($out)" [ $rc -eq 0 -a "$out" = "Transcription: " ]

# a Python ping the way the original client script tests responsiveness
python3 - "$ROOT" <<'PY'
import json, os, sys, time
root = sys.argv[1]
rid = str(int(time.time() * 1_000_000_000))
with open(f"{root}/speech_session_requests/{rid}.json", "w") as f:
    json.dump({"id": rid, "type": "ping", "timestamp": time.time()}, f)
p = f"{root}/speech_session_responses/{rid}.json"
t0 = time.time()
while time.time() - t0 < 5 and not os.path.exists(p):
    time.sleep(0.01)
d = json.load(open(p)); os.unlink(p)
assert d["type"] == "pong" and d["id"] == rid and d["device"] == "cpu" and d["session_active"] is True, d
PY
check "python ping answered with a pong" [ $? -eq 0 ]
check "requests directory empty" [ -z "$(ls -A "$REQ")" ]
"$SC" stop >/dev/null
san_clean
finish
