#!/bin/sh
# contrib/systemd units: they verify, keep the clients' /tmp (no PrivateTmp), and the
# Type=forking contract holds: ExecStart returns when ready and PIDFile names the daemon.
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
san_clean
finish
