#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# key_listener on X11: Xvfb with an xterm running `cat > FILE`; the text is typed with the
# in-process XTest typer (the default on X11; after the modifier wait) and lands in FILE, and
# with xdotool when forced (--typer xdotool: the fallback stays tested); --output copy puts it
# on the CLIPBOARD (xclip); and the whole chain with the real session_daemon through the
# control command: start -> speech into the virtual microphone -> stop -> the daemon's text
# typed into xterm. Non-ASCII text: keylistener_x11_unicode.sh.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

for p in Xvfb xterm xdotool xclip; do
    command -v $p >/dev/null || { skip "X11 typing" "$p not installed"; finish; exit $?; }
done
start_pulse || { skip "X11 typing" "pulseaudio cannot start"; finish; exit $?; }
check "Xvfb up" start_xvfb   # it waits until a client can connect
TYPED="$ROOT/typed.txt"
bg xterm -geometry 200x50+0+0 -e sh -c "stty -icanon -echo; exec cat > '$TYPED'"
check "xterm mapped" wait_for 30 sh -c 'xdotool search --onlyvisible --class xterm >/dev/null 2>&1'
W=$(xdotool search --onlyvisible --class xterm | head -1)
xdotool mousemove --window "$W" 50 50 windowfocus --sync "$W" 2>/dev/null

start_fake_daemon
printf '%s' '[" Typed  by ", "key_listener."]' >"$ROOT/fake_results.json"
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --type-delay 1 \
    2>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
check "xtest probed as the typing tool" wait_for 5 grep_log "output type (xtest)"
"$KL" start >/dev/null; paplay -d virt "$SPEECH"; "$KL" stop >/dev/null
check "text typed into the xterm: 'Typed by key_listener.'" \
    wait_for 20 sh -c "grep -q 'Typed by key_listener\.' '$TYPED'"
check "log says typed with xtest" wait_for 5 grep_log "output xtest"   # the line follows the typing
"$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"

# the fallback tool, forced
printf '%s' '["Typed by", "xdotool."]' >"$ROOT/fake_results.json"
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --type-delay 1 \
    --typer xdotool 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
check "--typer xdotool: xdotool is the typing tool" wait_for 5 grep_log "output type (xdotool)"
"$KL" start >/dev/null; paplay -d virt "$SPEECH"; "$KL" stop >/dev/null
check "--typer xdotool: text typed into the xterm: 'Typed by xdotool.'" \
    wait_for 20 sh -c "grep -q 'Typed by xdotool\.' '$TYPED'"
check "--typer xdotool: log says typed with xdotool" wait_for 5 grep_log "output xdotool"
"$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
printf '%s' '[" Typed  by ", "key_listener."]' >"$ROOT/fake_results.json"

# clipboard only
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output copy \
    2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
"$KL" start >/dev/null; paplay -d virt "$SPEECH"; "$KL" stop >/dev/null
check "--output copy: text on the CLIPBOARD (xclip)" \
    wait_for 20 sh -c "[ \"\$(xclip -selection clipboard -o 2>/dev/null)\" = 'Typed by key_listener.' ]"
"$KL" quit >/dev/null; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"

# the real daemon, started by the listener at key-down; the typed text must be what
# session_client returns for the same recording
: >"$TYPED"
kill "$FAKE_PID" 2>/dev/null
bg "$KL" --no-config --trigger none --source virt.monitor --timeout 120 --type-delay 0 \
    --keep-audio --daemon-timeout 60 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
t0=$(date +%s%N)
"$KL" start >/dev/null
check "key-down starts session_daemon" wait_for 30 grep_log "session_daemon pid .* ready"
n0=$(grep -c "output xtest" "$ROOT/key_listener.log")
paplay -d virt "$SPEECH"; "$KL" stop >/dev/null
# a new "output xtest" line: the first section's must not count
check "daemon's text typed into the xterm" \
    wait_for 120 sh -c '[ "$(grep -c "output xtest" "$0")" -gt "$1" ]' "$ROOT/key_listener.log" "$n0"
t1=$(date +%s%N)
sleep 1
wav=$(ls "$ROOT"/recorded_audio_*.wav 2>/dev/null | tail -1)
ref=$("$BIN/session_client" transcribe "$wav" --timeout 120)
got=$(cat "$TYPED")
echo "# end to end (start..typed) $(( (t1 - t0) / 1000000 )) ms; ${#got} chars typed, reference ${#ref}"
check "typed text equals session_client's transcription of the same WAV" [ -n "$ref" -a "$got" = "$ref" ]
"$BIN/session_client" stop >/dev/null 2>&1
# a display that wants a cookie (Xvfb -auth): xtest's probe before XOpenDisplay carries it, as
# Xlib finds it in $XAUTHORITY, on the local socket and over TCP (ssh's forwarding is TCP on
# localhost) - without it the server logged a refused connection (and ssh's forwarding said
# "X11 connection rejected because of wrong authentication." on the user's terminal) per call
XA="$ROOT/xauth"; : >"$XA"
N=$((80 + $$ % 100)); while [ -e "/tmp/.X11-unix/X$N" ] || [ -e "/tmp/.X$N-lock" ]; do N=$((N + 1)); done
xauth -f "$XA" add ":$N" MIT-MAGIC-COOKIE-1 "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" 2>/dev/null
bg Xvfb ":$N" -auth "$XA" -audit 4 -listen tcp -noreset -screen 0 640x480x24 2>"$ROOT/xa.log"
wait_for 20 sh -c 'XAUTHORITY="$0" DISPLAY=":$1" xdpyinfo >/dev/null 2>&1' "$XA" "$N"
mkdir -p "$ROOT/xa-run"; chmod 700 "$ROOT/xa-run"   # no listener there: paste-last types itself
printf '1700000000\t%s\n' 'cookie' >"$ROOT/hxa"
for d in ":$N" "127.0.0.1:$N" "[::1]:$N"; do
    XDG_RUNTIME_DIR="$ROOT/xa-run" XAUTHORITY="$XA" DISPLAY="$d" "$KL" --no-config --history-file "$ROOT/hxa" \
        --typer xtest paste-last 2>>"$ROOT/kl.err"
    check "xtest on $d (a display wanting a cookie): typed (exit 0)" [ $? -eq 0 ]
done
check "... and the server refused no connection (the probe sent the cookie)" sh -c "! grep -q 'rejected' '$ROOT/xa.log'"
check "no sanitizer report from key_listener" sh -c "! grep -q 'Sanitizer' '$ROOT/kl.err'"
finish
