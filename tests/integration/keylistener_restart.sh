#!/bin/sh
# key_listener when session_daemon dies while a dictation's request waits: the session client
# starts a new daemon, which takes the request over, and the text comes (a key_listener soak
# killed the daemon twice and lost nothing) — and the listener's log says so (the soak saw the
# restart only in the daemon's own log). The daemon is stopped (SIGSTOP) before the key is
# released, so the request is written and never claimed, then killed: no race with decoding.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

LOG="$ROOT/kl.log"
bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 --timeout 60 \
    --history 0 --output print --send-silence --log "$LOG" >"$ROOT/out.txt" 2>"$ROOT/kl.err"
check "listener up" wait_for 10 sh -c '"$0" status 2>/dev/null | grep -q "^ok idle"' "$KL"
"$KL" start >/dev/null
check "key-down starts session_daemon" wait_for 60 sh -c '[ -s "$0/session_daemon.pid" ]' "$ROOT"
sleep 1
dpid=$(cat "$ROOT/session_daemon.pid" 2>/dev/null)
kill -STOP "$dpid" 2>/dev/null
"$KL" stop >/dev/null
check "the request is written and waits (the daemon stopped)" \
    wait_for 20 sh -c 'ls "$0" 2>/dev/null | grep -q "\.json$"' "$ROOT/speech_session_requests"
kill -KILL "$dpid" 2>/dev/null; kill -CONT "$dpid" 2>/dev/null
check "the text comes from a new daemon" wait_for 60 sh -c '[ -s "$0" ]' "$ROOT/out.txt"
npid=$(cat "$ROOT/session_daemon.pid" 2>/dev/null)
check "... a new daemon ($dpid -> ${npid:-none})" sh -c "[ -n '$npid' ] && [ '$npid' != '$dpid' ]"
check "the listener's log says the daemon went away and a new one took the request over" \
    grep -q "session_daemon went away while it waited.*took the request over" "$LOG"
"$KL" quit >/dev/null
wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
"$BIN/session_client" stop >/dev/null 2>&1
finish
