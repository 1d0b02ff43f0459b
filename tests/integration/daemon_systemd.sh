#!/bin/sh
# contrib/systemd units (the daemon's and session_http's): they verify, keep the clients' /tmp
# (no PrivateTmp), and the Type=forking contract holds: ExecStart returns when ready and
# PIDFile names the daemon; a root not yet made is made, one that is unsafe refused.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc
U=contrib/systemd/speech-session.service
check "unit present" [ -f "$U" -a -f contrib/systemd/speech-session.path ]
check "Type=forking with PIDFile=/tmp/session_daemon.pid (the spec's)" sh -c "grep -qx 'Type=forking' $U && grep -qx 'PIDFile=/tmp/session_daemon.pid' $U"
check "PrivateTmp=no (T4)" grep -qx 'PrivateTmp=no' "$U"
check "no DynamicUser/ProtectSystem that would hide /tmp" sh -c "! grep -Eq '^(DynamicUser=yes|PrivateTmp=yes|ProtectSystem=strict)' $U"
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s#%h/.local/bin/session_daemon#$BIN/session_daemon#" "$U" > "$ROOT/speech-session.service"
    cp contrib/systemd/speech-session.path "$ROOT/"
    out=$(systemd-analyze verify "$ROOT/speech-session.service" 2>&1 | grep -v -e 'Failed to' -e '^$')
    check "systemd-analyze verify: clean ($out)" [ -z "$out" ]
fi
# Type=forking, as systemd runs it: ExecStart (with the root moved), then PIDFile
cmd=$(sed -n 's/^ExecStart=//p' "$U" | sed "s#%h/.local/bin/session_daemon#$BIN/session_daemon#")
# shellcheck disable=SC2086
$cmd; rc=$?
check "ExecStart returns 0 once ready" [ $rc -eq 0 ]
pid=$(cat "$ROOT/session_daemon.pid" 2>/dev/null)
check "PIDFile names the running daemon (the lock holder)" [ -n "$pid" -a "$pid" = "$(daemon_pid)" ]
sid=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $4}')
check "the daemon is in its own session (setsid: sid $sid)" [ "$sid" = "$pid" ]
out=$("$SC" transcribe "$DATA/silence.wav"); check "serving" [ $? -eq 0 ]
kill -TERM "$pid"; wait_no_daemon 10
check "ExecStop via SIGTERM: exits, PIDFile removed" [ ! -e "$ROOT/session_daemon.pid" ]

# the root the unit suggests (Environment=SPEECH_SESSION_ROOT=%t/speech-session) does not
# exist before the first start: the daemon makes it (0700); a missing parent is an error
grep -q '^#   Environment=SPEECH_SESSION_ROOT=%t/speech-session$' "$U" &&
    grep -q '^#   PathExistsGlob=%t/speech-session/speech_session_requests/\*\.json$' contrib/systemd/speech-session.path
check "the units say how to move the root, the .path unit's glob with it" [ $? -eq 0 ]
mkdir -p "$ROOT/run"
R2="$ROOT/run/speech-session"
# shellcheck disable=SC2086
SPEECH_SESSION_ROOT=$R2 $cmd 2>"$ROOT/r2.err"; rc=$?
check "ExecStart under a root not yet made: 0 once ready ($rc: $(head -1 "$ROOT/r2.err"))" [ $rc -eq 0 ]
check "... the root made private (0700, ours)" [ "$(stat -c '%a %u' "$R2" 2>/dev/null)" = "700 $(id -u)" ]
SPEECH_SESSION_ROOT=$R2 "$SC" transcribe "$DATA/silence.wav" >/dev/null 2>&1
check "... and serving under it" [ $? -eq 0 ]
stop_root() { # ROOT: stops the daemon whose pid file is there (one started under another root)
    _p=$(cat "$1/session_daemon.pid" 2>/dev/null)
    [ -n "$_p" ] && kill -TERM "$_p"
    _i=0; while [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null && [ $_i -lt 250 ]; do sleep 0.04; _i=$((_i + 1)); done
}
stop_root "$R2"
# shellcheck disable=SC2086
SPEECH_SESSION_ROOT=$ROOT/none/speech-session $cmd 2>"$ROOT/r3.err"; rc=$?
check "a root whose parent is missing: exit 111, 'parent directory does not exist' ($rc)" \
    sh -c "[ $rc -eq 111 ] && grep -q 'parent directory does not exist' '$ROOT/r3.err' && [ ! -e '$ROOT/none' ]"
mkdir -m 0777 "$ROOT/open"; chmod 0777 "$ROOT/open"
# shellcheck disable=SC2086
SPEECH_SESSION_ROOT=$ROOT/open $cmd 2>"$ROOT/r4.err"; rc=$?
check "a root others may write (0777, not sticky): refused, exit 111 ($rc)" \
    sh -c "[ $rc -eq 111 ] && grep -q 'writable by other users' '$ROOT/r4.err' && [ ! -e '$ROOT/open/speech_session_work' ]"
stop_root "$ROOT/open"
if [ "$(id -u)" = 0 ]; then
    mkdir "$ROOT/theirs" && chown 65534 "$ROOT/theirs"
    # shellcheck disable=SC2086
    SPEECH_SESSION_ROOT=$ROOT/theirs $cmd 2>"$ROOT/r5.err"; rc=$?
    check "a root another user owns: refused, exit 111 ($rc)" \
        sh -c "[ $rc -eq 111 ] && grep -q 'owned by uid 65534' '$ROOT/r5.err'"
    stop_root "$ROOT/theirs"
fi

# session_http's unit: verifies, shares /tmp, and its ExecStart serves (on a free port here),
# under a root not yet made too; SIGTERM stops it with 0
H=contrib/systemd/speech-session-http.service
check "session_http unit present, PrivateTmp=no, Restart=on-failure" \
    sh -c "[ -f $H ] && grep -qx 'PrivateTmp=no' $H && grep -qx 'Restart=on-failure' $H"
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s#%h/.local/bin/session_http#$BIN/session_http#" "$H" > "$ROOT/speech-session-http.service"
    out=$(systemd-analyze verify "$ROOT/speech-session-http.service" 2>&1 | grep -v -e 'Failed to' -e '^$')
    check "systemd-analyze verify session_http unit: clean ($out)" [ -z "$out" ]
fi
hcmd=$(sed -n 's/^ExecStart=//p' "$H" | sed -e "s#%h/.local/bin/session_http#$BIN/session_http#" -e 's#127.0.0.1:8080#127.0.0.1:0#')
# shellcheck disable=SC2086
SPEECH_SESSION_ROOT=$ROOT/run/http $hcmd >"$ROOT/h.out" 2>"$ROOT/h.err" &
hpid=$!
i=0; port=""
while [ -z "$port" ] && [ $i -lt 250 ] && kill -0 $hpid 2>/dev/null; do
    sleep 0.04; i=$((i + 1)); port=$(sed -n 's|^session_http listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$ROOT/h.out")
done
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/health")
check "session_http's ExecStart under a root not yet made: serves /health (port '$port', $st)" \
    sh -c "[ '$st' = 200 ] && [ -d '$ROOT/run/http/speech_session_http' ]"
kill -TERM $hpid; wait $hpid; rc=$?
check "session_http stops on SIGTERM with 0 ($rc)" [ $rc -eq 0 ]
san_clean
finish
