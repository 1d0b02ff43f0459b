#!/bin/sh
# A model file updated while a daemon has it loaded (audit-model finding 2, docs/daemon.md
# "Model updates"): rewritten in place (cp over it: same inode, new bytes, a shorter file —
# the old daemon's next request had read past the new end and died of SIGBUS), then replaced
# by rename. Each time the daemon stops before its next job, exit 113, the request left for
# the next start; a fresh daemon (started by the test, then by a client on demand) loads the
# new file and answers it: no crash, no lost request.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc
WORK="$ROOT/speech_session_work"
LOG="$ROOT/session_daemon.log"
M="$ROOT/model.bin"
cp "$MODEL" "$M"
NEW=tests/data/models/micro-q5_0.bin
[ -f "$NEW" ] || NEW="$SHARED/ref/models/micro-q5_0.bin"

resp_ok() { # id -> a transcription without an error
    python3 - "$RESP/$1.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["id"] == sys.argv[2] and isinstance(d["results"], list) and "error" not in d, d
PY
}
wait_exit() { # pid seconds -> its exit status (124: still running, then killed)
    _i=0; _n=$(($2 * 50))
    while kill -0 "$1" 2>/dev/null && [ $_i -lt $_n ]; do sleep 0.02; _i=$((_i + 1)); done
    if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; wait "$1" 2>/dev/null; return 124; fi
    wait "$1"
}

# --- rewritten in place
"$SD" -m "$M" 60 2>/dev/null &
P=$!
STARTED="$STARTED $P"
wait_for "$ROOT/session_daemon_active" 20
request u1 "$DATA/speech.wav"
wait_for "$RESP/u1.json" 60
check "in place: the first request is answered" resp_ok u1
ino=$(stat -c %i "$M")
cp "$NEW" "$M"   # O_TRUNC on the same inode, then a shorter file
check "in place: cp rewrote the same inode" [ "$(stat -c %i "$M")" = "$ino" ]
request u2 "$DATA/speech.wav"
wait_exit "$P" 30; rc=$?
check "in place: the daemon stops before the next job, exit 113 (got $rc; 135 = SIGBUS)" [ $rc -eq 113 ]
check "in place: the log says why" grep -q "SESSION model changed: model file '$M' was rewritten in place" "$LOG"
check "in place: the request is not answered by the old daemon, it waits in processing/" \
    sh -c "[ ! -e '$RESP/u2.json' ] && ls '$WORK/processing' | grep -q '^u2\.'"
start_daemon -m "$M" 60
wait_for "$RESP/u2.json" 60
check "in place: a fresh daemon loads the new file and answers the request" resp_ok u2
check "in place: the new daemon runs the new file (q5_0)" grep -q "model loaded model=$M .*type=q5_0" "$LOG"

# --- replaced by rename, then a client starts the next daemon on demand
P2=$(daemon_pid)
cp "$MODEL" "$ROOT/new.bin" && mv "$ROOT/new.bin" "$M"
request u3 "$DATA/speech.wav"
wait_no_daemon 30
check "rename: the daemon stops before the next job" [ -z "$(daemon_pid)" ]
check "rename: the log says why" grep -q "SESSION model changed: model file '$M' was replaced by another file" "$LOG"
check "rename: exit 113 (logged: both daemons)" [ "$(grep -c 'SESSION stop rc=113' "$LOG")" -eq 2 ]
out=$(SPEECH_SESSION_MODEL="$M" "$SC" transcribe --timeout 60 "$DATA/speech.wav" 2>&1); crc=$?
check "rename: a client starts a daemon on demand and is answered (exit $crc)" [ $crc -eq 0 ]
wait_for "$RESP/u3.json" 60
check "rename: the request left by the stopped daemon is answered too" resp_ok u3
check "rename: the new daemon runs the new file (f16)" sh -c "grep 'model loaded model=$M ' '$LOG' | tail -1 | grep -q type=f16"
check "nothing left in processing/" sh -c "[ -z \"\$(ls -A '$WORK/processing')\" ]"
check "no daemon died of a signal" sh -c "! grep -qi 'sigbus\\|signal 7' '$LOG'"
[ -n "$P2" ] && kill -0 "$P2" 2>/dev/null && nok "the replaced daemon is gone"

# --- replaced while a job runs (40 s of speech): the check every second stops it within a few
# seconds, the job put back for the next start (without the check the old model had run the
# whole job). Replaced by rename: a rewrite in place during a job can still be read (SIGBUS).
"$SC" stop >/dev/null 2>&1; wait_no_daemon 10
for _i in 1 2 3 4 5 6 7 8; do set -- "$@" tests/data/speech-16k.wav; done
sox "$@" "$DATA/long.wav" 2>/dev/null
set --
"$SD" -m "$M" 60 2>/dev/null &
P3=$!
STARTED="$STARTED $P3"
wait_for "$ROOT/session_daemon_active" 20
request u4 "$DATA/long.wav"
wait_for_file_match() { _i=0; while ! grep -q "$2" "$1" 2>/dev/null && [ $_i -lt 500 ]; do sleep 0.02; _i=$((_i + 1)); done; }
wait_for_file_match "$ROOT/session_daemon_status.json" '"processing": *true'
sleep 0.3
cp "$NEW" "$ROOT/new.bin" && mv "$ROOT/new.bin" "$M"
t0=$(date +%s)
wait_exit "$P3" 20; rc=$?
dt=$(( $(date +%s) - t0 ))
check "during a job: exit 113 within 5 s of the replacement (got $rc after $dt s)" sh -c "[ $rc -eq 113 ] && [ $dt -le 5 ]"
check "during a job: the request is not answered, it waits in processing/" \
    sh -c "[ ! -e '$RESP/u4.json' ] && ls '$WORK/processing' | grep -q '^u4\.'"
rm -f "$WORK/processing"/u4.*   # not run again here: 40 s of decoding to prove what u2/u3 proved
san_clean
finish
