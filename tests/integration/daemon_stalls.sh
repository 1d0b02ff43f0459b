#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# Stalls an outside reliability test found (issue 11), each driven through the spool against
# a real daemon process:
#   1. a response name squatted by a directory must not stall the queue: that request is
#      quarantined (its error cannot clear), later requests are answered, nothing is retried;
#   2. a response directory on another file system (a tmpfs mounted over it) must work: temp
#      files are made in the directory they are renamed into, never across mounts;
#   3. a stopped decoder launcher must cost one request its --decoder-timeout (plus a second),
#      answered audio_decoder_timeout naming the launcher, and not hold the next request;
#   4. two requests with one id: the first's response is never overwritten by the second;
#   5. quarantine is cleaned on a timer while the daemon runs (--quarantine-max-age).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc
WORK="$ROOT/speech_session_work"

resp_code() { # file -> error_code ("" on success)
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error_code",""))' "$1" 2>/dev/null
}
resp_success() { [ -f "$1" ] && [ -z "$(resp_code "$1")" ] && ! grep -q '"error"' "$1"; }
children() { # pids whose parent is $1
    for _s in /proc/[0-9]*/stat; do
        awk -v p="$1" '{ sub(/^.*\) /, ""); if ($2 == p) { n = FILENAME; sub(/^\/proc\//, "", n); sub(/\/stat$/, "", n); print n } }' "$_s" 2>/dev/null
    done
}
elapsed() { awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $1}"; }

# --- 1. a directory squatting one response name
start_daemon --beam-size 1 60
dp=$(daemon_pid)
mkdir "$RESP/sq1.json"
request sq1 "$DATA/silence.wav"
request sq_after1 "$DATA/silence.wav"
request sq_after2 "$DATA/silence.wav"
wait_for "$RESP/sq_after2.json" 10
check "squatted response name: later requests still answered" \
    sh -c "[ -f '$RESP/sq_after1.json' ] && [ -f '$RESP/sq_after2.json' ]"
check "squatted response name: that request quarantined, not left in processing/" \
    sh -c "ls '$WORK/quarantine' | grep -q '^sq1' && ! ls '$WORK/processing' | grep -q '^sq1'"
check "squatted response name: logged as an error that cannot clear" \
    grep -q 'cannot write response id=sq1: Is a directory; this cannot clear' "$ROOT/session_daemon.log"
sleep 0.5
check "squatted response name: not retried" sh -c "! grep 'id=sq1' '$ROOT/session_daemon.log' | grep -q 'retry'"
check "squatted response name: the status does not report a full disk" \
    grep -q '"degraded":false' "$ROOT/session_daemon_status.json"
check "squatted response name: the squatting directory is left alone" [ -d "$RESP/sq1.json" ]
request sq_after3 "$DATA/speech.wav"
wait_for "$RESP/sq_after3.json" 30
check "squatted response name: the daemon keeps transcribing" resp_success "$RESP/sq_after3.json"
check "squatted response name: same daemon" [ "$(daemon_pid)" = "$dp" ]
rmdir "$RESP/sq1.json"
rm -f "$RESP"/*.json
"$SC" stop >/dev/null

# --- 2. the response directory on another file system (a tmpfs mounted over it, in a
# private mount namespace: the daemon's view is read through /proc/PID/root)
if unshare -m --propagation private true 2>/dev/null; then
    unshare -m --propagation private sh -c \
        'mount -t tmpfs -o mode=0700 ss-it-resp "$1" && exec "$2" --fork --beam-size 1 60' \
        sh "$RESP" "$SD"
    dp=$(daemon_pid)
    MR="/proc/$dp/root$RESP"
    check "other file system: the daemon's response dir is a tmpfs" \
        sh -c "[ -n '$dp' ] && [ \"\$(stat -f -c %T '$MR')\" = tmpfs ] && [ \"\$(stat -f -c %T '$REQ')\" != tmpfs ]"
    request xdev1 "$DATA/silence.wav"
    echo '{"id":"xdev_ping","type":"ping"}' > "$REQ/xdev_ping.json"
    wait_for "$MR/xdev1.json" 10
    wait_for "$MR/xdev_ping.json" 5
    check "other file system: transcription answered" resp_success "$MR/xdev1.json"
    check "other file system: ping answered" grep -q pong "$MR/xdev_ping.json"
    check "other file system: no temp file left behind" \
        sh -c "[ -z \"\$(ls -A '$MR' | grep -v '\\.json\$')\" ] && [ -z \"\$(ls -A '$WORK/tmp')\" ]"
    check "other file system: no 'will retry' in the log" sh -c "! grep -q 'will retry' '$ROOT/session_daemon.log'"
    "$SC" stop >/dev/null
    wait_no_daemon 10
else
    nok "other file system: cannot create a mount namespace here (unshare -m)"
fi

# --- 3. a stopped decoder launcher
start_daemon --beam-size 1 --decoder-timeout 2 60
dp=$(daemon_pid)
zp=$(children "$dp" | head -1)
check "decoder launcher found" [ -n "$zp" ]
kill -STOP "$zp"
# zst2 queues behind zst1 (silence: no model work, so its time is the wait behind zst1,
# the hand-off and a decoder fork; the previous daemon held it for 37 s)
t0=$(date +%s.%N)
request zst1 "$DATA/silence.wav"
sleep 0.3
request zst2 "$DATA/silence.wav"
wait_for "$RESP/zst1.json" 40
t=$(elapsed "$t0")
check "stopped launcher: answered by the deadline (--decoder-timeout 2 + 1 s), took ${t}s" \
    awk "BEGIN{exit !($t >= 1.9 && $t < 6)}"
launcher_named() { [ "$(resp_code "$1")" = audio_decoder_timeout ] && grep -q 'decoder launcher' "$1"; }
check "stopped launcher: audio_decoder_timeout naming the launcher" launcher_named "$RESP/zst1.json"
wait_for "$RESP/zst2.json" 40
t=$(elapsed "$t0")
check "stopped launcher: the next request is answered normally" resp_success "$RESP/zst2.json"
check "stopped launcher: the next request does not wait long behind it (${t}s)" awk "BEGIN{exit !($t < 12)}"
request zst3 "$DATA/speech.wav"
wait_for "$RESP/zst3.json" 60
check "stopped launcher: later requests are transcribed (decoder forked directly)" resp_success "$RESP/zst3.json"
check "stopped launcher: it was killed" sh -c "! kill -0 $zp 2>/dev/null || grep -q '^State:.*Z' /proc/$zp/status"
kill -9 "$zp" 2>/dev/null
rm -f "$RESP"/*.json

# --- 4. two requests with one id, the second while the first is in flight
"$SC" stop >/dev/null
cp "$DATA/silence.wav" "$DATA/dup-hang.wav"
SPEECH_SESSION_DECODER_CRASH="hang:dup-hang" start_daemon --beam-size 1 --decoder-timeout 2 60
request dupx "$DATA/dup-hang.wav"
i=0; while [ -e "$REQ/dupx.json" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
sleep 0.3
request dupx "$DATA/silence.wav"
wait_for "$RESP/dupx.json" 10
sleep 1.5
check "duplicate id: the first request's response stands (not overwritten)" \
    sh -c "grep -q audio_decoder_timeout '$RESP/dupx.json'"
check "duplicate id: the second was never run" \
    sh -c "[ \"\$(grep -c 'SESSION transcription id=dupx' '$ROOT/session_daemon.log')\" -eq 0 ]"
check "duplicate id: logged as a duplicate" grep -q 'duplicate id=dupx' "$ROOT/session_daemon.log"
check "duplicate id: nothing left in requests/ or processing/" \
    sh -c "[ -z \"\$(ls -A '$REQ')\$(ls -A '$WORK/processing')\" ]"
# the first response read, the same id again: an ordinary new request (not a duplicate)
rm -f "$RESP/dupx.json"
request dupx "$DATA/silence.wav"
wait_for "$RESP/dupx.json" 10
check "an id reused after its response was read is served normally" resp_success "$RESP/dupx.json"
rm -f "$RESP"/*.json
"$SC" stop >/dev/null

# --- 5. quarantine cleaned on a timer
start_daemon --quarantine-max-age 2 60
echo '{"id":"q1","type":"ping"}' > "$REQ/qbad.json"     # id != stem: rejected at once
wait_for "$RESP/qbad.json" 5
check "rejected request went to quarantine" sh -c "ls '$WORK/quarantine' | grep -q qbad"
i=0; while ls "$WORK/quarantine" | grep -q qbad && [ $i -lt 400 ]; do sleep 0.02; i=$((i + 1)); done
check "quarantine cleaned while running (--quarantine-max-age 2)" sh -c "! ls '$WORK/quarantine' | grep -q qbad"
"$SC" stop >/dev/null

san_clean
finish
