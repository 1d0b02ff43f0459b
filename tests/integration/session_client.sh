#!/bin/sh
# session_client against a real daemon when things go wrong around it (docs/daemon.md
# "session_client"): its output closed (a pipe to `head`, a full disk) or its terminal gone
# (SIGHUP) — it stops and cancels what it no longer waits for, instead of dying and leaving
# the daemon transcribing for nobody; the daemon killed in the middle of a streamed request —
# the stream goes on from the restarted daemon's partial file, every line with its index;
# ping's --timeout; a daemon start that hangs is bounded by --start-timeout; a file name that
# is not UTF-8 is that file's error.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc

# VLONG: about 5 minutes of speech (11 windows): long enough to act while it runs
for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do set -- "$@" tests/data/speech-16k.wav; done
sox "$@" "$DATA/long.wav" 2>/dev/null
sox "$DATA/long.wav" "$DATA/long.wav" "$DATA/long.wav" "$DATA/long.wav" "$DATA/long.wav" "$DATA/vlong.wav" 2>/dev/null
set --
PROC="$ROOT/speech_session_work/processing"
spool_empty() { # nothing of a request left: not queued, not running, no answer waiting
    [ -z "$(ls -A "$REQ" 2>/dev/null)" ] && [ -z "$(ls -A "$PROC" 2>/dev/null)" ] &&
        [ -z "$(ls "$RESP" 2>/dev/null | grep -v '^\.')" ]
}
wait_spool_empty() { # seconds
    _i=0; _n=$(awk "BEGIN{print int($1*10)}")
    while ! spool_empty && [ $_i -lt "$_n" ]; do sleep 0.1; _i=$((_i + 1)); done
    spool_empty
}
partial_lines() { cat "$RESP"/.*.partial 2>/dev/null | wc -l; }
start_daemon 300 || { nok "daemon starts"; finish; exit 1; }

# ---- the output closed: `| head -n 1` after the first segment
{ "$SC" transcribe --stream --timeout 120 "$DATA/vlong.wav" 2>"$ROOT/pipe.err"; echo $? >"$ROOT/pipe.rc"; } |
    head -n 1 >/dev/null
rc=$(cat "$ROOT/pipe.rc")
check "closed output pipe: exit 111, not killed by SIGPIPE (exit $rc)" [ "$rc" = 111 ]
check "... says why, and that it cancels" grep -q "cannot write the output: Broken pipe; cancelling" "$ROOT/pipe.err"
check "... the daemon stopped the request: nothing left in the spool" wait_spool_empty 10
check "... and is still serving" "$SC" ping

# ---- SIGHUP (the terminal closed) while streaming: as Ctrl-C
"$SC" transcribe --stream --timeout 120 "$DATA/vlong.wav" >/dev/null 2>"$ROOT/hup.err" &
cpid=$!
_i=0; while [ "$(partial_lines)" -lt 1 ] && [ $_i -lt 300 ]; do sleep 0.05; _i=$((_i + 1)); done
kill -HUP $cpid
wait $cpid; rc=$?
check "SIGHUP: exit 130 (exit $rc)" [ $rc -eq 130 ]
check "... the request cancelled, nothing left in the spool" wait_spool_empty 10

# ---- the daemon killed in the middle of a streamed request: the client restarts it, and the
# stream goes on from the new daemon's partial file (it had stopped at the kill, the rest coming
# all at once with the response, without the "i" of the streamed lines)
"$SC" transcribe --stream --json --timeout 180 "$DATA/vlong.wav" 2>"$ROOT/restart.err" |
    while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >"$ROOT/restart.out" &
_i=0; while [ "$(partial_lines)" -lt 2 ] && [ $_i -lt 600 ]; do sleep 0.05; _i=$((_i + 1)); done
before=$(wc -l <"$ROOT/restart.out")
kill -9 "$(daemon_pid)"
_i=0; while [ -n "$(jobs -p)" ] && [ $_i -lt 1800 ]; do sleep 0.1; _i=$((_i + 1)); done
wait
check "daemon killed mid-stream: every line once, indices 0..N-1 in order, each with its index" \
    python3 -c 'import json,sys
lines=[json.loads(l.split(" ",1)[1]) for l in open(sys.argv[1])]
ix=[l.get("i") for l in lines]
print("# %d lines, indices %s" % (len(lines), ix))
sys.exit(0 if len(lines) >= 8 and ix == list(range(len(lines))) else 1)' "$ROOT/restart.out"
check "... the lines after the restart streamed (spread over >= 1 s, not all with the response; $before before the kill)" \
    python3 -c 'import sys
t=[float(l.split(" ",1)[0]) for l in open(sys.argv[1])][int(sys.argv[2]):]
print("# after the kill: %d lines over %.2f s" % (len(t), t[-1]-t[0] if t else 0))
sys.exit(0 if len(t) >= 4 and t[-1] - t[0] >= 1.0 else 1)' "$ROOT/restart.out" "$before"

# ---- ping --timeout: a daemon stopped for 6 s answers within a 40 s wait (had been cut to 5 s)
pid=$(daemon_pid)
kill -STOP "$pid"
"$SC" ping --timeout 40 >/dev/null 2>&1 &
ppid=$!
sleep 6
kill -CONT "$pid"
wait $ppid; rc=$?
check "ping --timeout 40 waits past 5 s (exit $rc)" [ $rc -eq 0 ]

# ---- odd outputs and names
"$SC" transcribe --stream "$DATA/speech.wav" >/dev/full 2>"$ROOT/full.err"; rc=$?
check "output to a full disk: exit 111, the real reason (exit $rc)" \
    [ $rc -eq 111 ] && grep -q "cannot write the output: No space left on device" "$ROOT/full.err"
bad=$(printf '%s/x\351.wav' "$DATA")
cp "$DATA/silence.wav" "$bad"
"$SC" transcribe "$bad" "$DATA/silence.wav" >"$ROOT/utf8.out" 2>"$ROOT/utf8.err"; rc=$?
check "a file name that is not UTF-8: that file's error, exit 1, the other file transcribed (exit $rc)" \
    [ $rc -eq 1 ] && grep -q "not valid UTF-8" "$ROOT/utf8.err" && [ "$(wc -l <"$ROOT/utf8.out")" -eq 1 ]
"$SC" stop >/dev/null

# ---- a root that does not exist yet (a run-time directory): created 0700, the daemon started
NR="$ROOT/newroot"
SPEECH_SESSION_ROOT="$NR" "$SC" transcribe --daemon-timeout 5 "$DATA/silence.wav" >/dev/null 2>"$ROOT/nr.err"; rc=$?
check "a root not made yet: created, the request answered (exit $rc)" \
    [ $rc -eq 0 ] && [ "$(stat -c %a "$NR")" = 700 ]
SPEECH_SESSION_ROOT="$NR" "$SC" stop >/dev/null 2>&1
SPEECH_SESSION_ROOT="$ROOT/no/such/root" "$SC" ping >/dev/null 2>"$ROOT/np.err"; rc=$?
check "a root whose parent is missing: exit 111, said (exit $rc)" \
    [ $rc -eq 111 ] && grep -q "parent directory does not exist" "$ROOT/np.err"

# ---- a daemon start that hangs: bounded by --start-timeout, the start-up stopped
printf '#!/bin/sh\necho $$ >"%s/hang.pid"\nexec sleep 60\n' "$ROOT" >"$ROOT/hang.sh"
chmod +x "$ROOT/hang.sh"
t0=$(date +%s)
SPEECH_SESSION_DAEMON="$ROOT/hang.sh" timeout 30 "$SC" transcribe --start-timeout 1 "$DATA/silence.wav" \
    2>"$ROOT/hang.err"; rc=$?
t1=$(date +%s)
check "hung daemon start: exit 2 after --start-timeout 1 (exit $rc in $((t1 - t0)) s)" \
    [ $rc -eq 2 ] && [ $((t1 - t0)) -le 5 ] && grep -q "was not ready within 1 s" "$ROOT/hang.err"
check "... the hung start-up was stopped" sh -c "[ -s '$ROOT/hang.pid' ] && ! kill -0 \$(cat '$ROOT/hang.pid') 2>/dev/null"

# ---- a real --fork daemon that hangs while loading (SPEECH_SESSION_CRASH_AT=loading: it stops
# itself, as one stuck on a stalled mount): after --start-timeout no daemon is left behind
# (only the waiting parent had been stopped; the loading child lived on, holding the lock)
HR="$ROOT/hangroot"
mkdir -m 700 "$HR"
daemons_of() { # pids of session_daemon processes serving root $1
    for _p in $(pgrep -x session_daemon); do
        tr '\0' '\n' <"/proc/$_p/environ" 2>/dev/null | grep -qx "SPEECH_SESSION_ROOT=$1" && echo "$_p"
    done
}
t0=$(date +%s)
SPEECH_SESSION_ROOT="$HR" SPEECH_SESSION_CRASH_AT=loading timeout 30 "$SC" transcribe --start-timeout 2 \
    "$DATA/silence.wav" 2>"$ROOT/hang2.err"; rc=$?
t1=$(date +%s)
check "daemon hung while loading: exit 2 after --start-timeout 2 (exit $rc in $((t1 - t0)) s)" \
    [ $rc -eq 2 ] && [ $((t1 - t0)) -le 8 ]
sleep 0.3
left=$(daemons_of "$HR")
check "... no daemon left behind for that root (left: ${left:-none})" [ -z "$left" ]
for _p in $left; do kill -9 "$_p"; done

# ---- the response directory removed while a client waits (a /tmp cleaner, T5): the daemon
# makes it again and answers there; the client looks again every 0.5 s and reads the answer
# (it had waited in the removed directory until its timeout)
start_daemon 300 >/dev/null 2>&1
DP=$(daemon_pid)
kill -STOP "$DP"
"$SC" transcribe --timeout 20 "$DATA/silence.wav" >"$ROOT/wr.out" 2>"$ROOT/wr.err" &
CP=$!
_i=0; while [ -z "$(ls "$REQ" 2>/dev/null)" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
rm -rf "$RESP"
kill -CONT "$DP"
wait "$CP"; rc=$?
check "response directory removed while the client waits: answered (exit $rc)" [ $rc -eq 0 ]

# ---- the request itself removed before the daemon took it (a user's rm, a /tmp cleaner
# that takes the request directory with it): the client says so within about a second,
# exit 111 (it had waited its whole --timeout for an answer no daemon could give)
gone_case() { # $1 what, $2 how to remove it (given the request's id in $id)
    kill -STOP "$DP"
    t0=$(date +%s.%N)
    "$SC" transcribe --timeout 30 "$DATA/silence.wav" >/dev/null 2>"$ROOT/gone.err" &
    CP=$!
    _i=0; while [ -z "$(ls "$REQ" 2>/dev/null)" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
    id=$(ls "$REQ" | sed -n 's/\.json$//p' | head -n 1)
    eval "$2"
    wait "$CP"; rc=$?
    t1=$(date +%s.%N)
    kill -CONT "$DP"
    check "request $1 before the daemon took it: exit 111 within 5 s, said (exit $rc in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s)" \
        sh -c "[ $rc -eq 111 ] && awk 'BEGIN{exit !($t1 - $t0 < 5)}' && grep -q 'is gone: removed before the daemon answered' '$ROOT/gone.err'"
}
gone_case "removed by rm" 'rm -f "$REQ/$id.json"'
gone_case "directory removed with it" 'rm -rf "$REQ"'
check "... and the daemon serves on" "$SC" ping
# a request queued behind a long one (claimed: processing/{id}.0, for seconds) is not "gone"
"$SC" transcribe --timeout 120 "$DATA/long.wav" >/dev/null 2>&1 &
LP=$!
_i=0; while [ -z "$(ls "$PROC" 2>/dev/null)" ] && [ $_i -lt 200 ]; do sleep 0.02; _i=$((_i + 1)); done
"$SC" transcribe --timeout 120 "$DATA/silence.wav" >/dev/null 2>"$ROOT/q.err"; rc=$?
wait "$LP"; lrc=$?
check "a request queued behind a long one: answered, not taken for gone (exit $rc, $lrc)" \
    sh -c "[ $rc -eq 0 ] && [ $lrc -eq 0 ] && ! grep -q 'is gone' '$ROOT/q.err'"
# the work directory removed while a request runs (a /tmp cleaner): the daemon finishes the
# job from the removed processing/ and answers; the client, whose request is then in neither
# directory, waits for that answer (it had said "gone" after a second)
"$SC" transcribe --timeout 120 "$DATA/long.wav" >"$ROOT/wk.out" 2>"$ROOT/wk.err" &
CP=$!
_i=0; while [ -z "$(ls "$PROC" 2>/dev/null)" ] && [ $_i -lt 200 ]; do sleep 0.02; _i=$((_i + 1)); done
rm -rf "$ROOT/speech_session_work"
wait "$CP"; rc=$?
check "work directory removed while the request runs: still answered (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && [ -s '$ROOT/wk.out' ] && ! grep -q 'is gone' '$ROOT/wk.err'" ||
    sed 's/^/# /' "$ROOT/wk.err"
"$SC" stop >/dev/null 2>&1

san_clean
finish
