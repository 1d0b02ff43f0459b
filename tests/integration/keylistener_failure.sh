#!/bin/sh
# key_listener when the transcription fails (no daemon and --no-start: the request is never
# answered): the recording is kept and its path logged, an "error" event goes out, and
# --notify says "Transcription failed" (an audit found the speech deleted with the failure
# and no notification, though docs/key_listener.md lists "failed"); control clients that
# trickle or stall do not hold the listener; the final event says whether the text went out.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

NB="$ROOT/nb"; mkdir -p "$NB"   # notify-send stand-in: its arguments into a file
printf '#!/bin/sh\necho "$@" >> "%s/notes"\n' "$NB" >"$NB/notify-send"; chmod +x "$NB/notify-send"
PATH="$NB:$PATH" bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 \
    --no-start --timeout 2 --output print --notify >"$ROOT/out.txt" 2>"$ROOT/kl.err"
check "listener up" wait_for 10 sh -c '"$0" status 2>/dev/null | grep -q "^ok idle"' "$KL"
"$KL" events >"$ROOT/events.txt" 2>/dev/null &
EVP=$!
sleep 0.3
"$KL" start >/dev/null; sleep 1.5; "$KL" stop >/dev/null
check "the failure is logged with the recording it kept" wait_for 15 grep_log "the recording is kept:"
kept=$(sed -n 's/.*the recording is kept: \([^ ]*\) .*/\1/p' "$ROOT/key_listener.log" | head -1)
check "the kept recording is there (${kept:-none})" [ -n "$kept" -a -s "$kept" ]
check "an error event went out" wait_for 5 grep -q '"event":"error"' "$ROOT/events.txt"
check "--notify: 'Transcription failed'" wait_for 5 grep -q 'Transcription failed' "$NB/notes"
# a tap (0.1 s, under --min-ms): discarded, and the subscribers told it ended ("final" with
# no text) - an overlay had stayed on "recording"
: >"$ROOT/events.txt"
"$KL" start >/dev/null; sleep 0.1; "$KL" stop >/dev/null
check "a tap: discarded (log)" wait_for 5 grep_log "shorter than 250 ms, discarded"
check "a tap: a final event with no text follows its recording event" \
    wait_for 5 sh -c "grep -q '\"event\":\"recording\"' '$ROOT/events.txt' && grep -q '\"event\":\"final\",\"text\":\"\"' '$ROOT/events.txt'"
# control clients that trickle their command a byte at a time, or connect and say nothing:
# the listener's loop does not wait for them (it had read each with a blocking 0.5 s poll per
# byte: a trickler held the loop - keys, recording, other commands - for as long as it kept
# sending), and drops them after 2 s
cat >"$ROOT/trickle.py" <<'PY'
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
silent = [socket.socket(socket.AF_UNIX) for _ in range(3)]
for s in silent: s.connect(path)
t = socket.socket(socket.AF_UNIX); t.connect(path)
t0 = time.time(); dropped = None
while dropped is None and time.time() - t0 < 8:
    try:
        t.send(b"x"); time.sleep(0.3)
        t.setblocking(False)
        try:
            if t.recv(1) == b"": dropped = time.time() - t0
        except BlockingIOError: pass
        t.setblocking(True)
    except OSError: dropped = time.time() - t0
open(out, "w").write("never\n" if dropped is None else "%.2f\n" % dropped)
PY
python3 "$ROOT/trickle.py" "$RT/key_listener.sock" "$ROOT/trickle.txt" &
TRP=$!
sleep 1
t0=$(date +%s%N); st=$("$KL" status 2>&1); t1=$(date +%s%N)
check "a trickling and 3 silent control clients: 'status' answered at once ($st, $(( (t1 - t0) / 1000000 )) ms)" \
    sh -c "[ '$st' = 'ok idle' ] && [ $(( (t1 - t0) / 1000000 )) -lt 1000 ]"
wait $TRP
check "the trickling client is dropped after about 2 s ($(cat "$ROOT/trickle.txt") s)" \
    awk '$1 != "never" && $1 >= 1.5 && $1 < 4 { ok = 1 } END { exit !ok }' "$ROOT/trickle.txt"
check "log: the dropped control clients" grep_log "dropped: no whole command within 2 s"
# a typo in the config file written while the listener runs: the control commands still
# work (they had exited 100, and the recording went on), the listener itself refuses it
mkdir -p "$XDG_CONFIG_HOME/speech-session"
echo "type-delay = 5ms" >"$XDG_CONFIG_HOME/speech-session/key_listener.conf"
"$KL" status >/dev/null 2>"$ROOT/st.err"; rc=$?
check "config typo: 'status' still answers (exit $rc), naming the file's error" \
    sh -c "[ $rc -eq 0 ] && grep -q 'ignored for this command' '$ROOT/st.err'"
"$KL" --trigger none >/dev/null 2>&1; rc=$?
check "config typo: a listener does not start (exit $rc)" [ $rc -eq 100 ]
# --no-config and --config after the command count (they had been ignored there)
"$KL" status --no-config >/dev/null 2>"$ROOT/st.err"; rc=$?
check "'status --no-config': the file is not read (exit $rc)" sh -c "[ $rc -eq 0 ] && [ ! -s '$ROOT/st.err' ]"
"$KL" status --config "$ROOT/other.conf" >/dev/null 2>"$ROOT/st.err"; rc=$?
check "'status --config FILE': that file is read (exit $rc, $(head -c 100 "$ROOT/st.err"))" \
    sh -c "[ $rc -eq 0 ] && grep -q 'other.conf' '$ROOT/st.err'"
rm -f "$XDG_CONFIG_HOME/speech-session/key_listener.conf"
kill $EVP 2>/dev/null
"$KL" quit >/dev/null 2>&1
wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"

# the final event says whether the text went out. With no display (DISPLAY and
# WAYLAND_DISPLAY unset above) xdotool cannot type and no clipboard tool can take the text:
# the event had carried the text as if it were typed. Then --output print: delivered.
start_fake_daemon
printf '%s' '["Not typed."]' >"$ROOT/fake_results.json"
last_final() { # events file, python condition on f (the last final event)
    python3 -c "
import json,sys
f=[json.loads(l) for l in open(sys.argv[1]) if '\"final\"' in l][-1]; print('#', json.dumps(f))
sys.exit(0 if $2 else 1)" "$1"
}
dictate() { # output option, events file
    bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 --no-start \
        --timeout 20 --history 0 $1 >>"$ROOT/out.txt" 2>>"$ROOT/kl.err"
    wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
    bg sh -c 'exec "$0" events >"$1"' "$KL" "$2"
    sleep 0.3
    "$KL" start >/dev/null; sleep 1; "$KL" stop >/dev/null
    wait_for 15 grep -q '"event":"final"' "$2"
    "$KL" quit >/dev/null 2>&1
    wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
}
dictate "--typer xdotool" "$ROOT/events_nodisplay.txt"
check "no display: the final event keeps text and release_ms, says delivered false and why" \
    last_final "$ROOT/events_nodisplay.txt" \
    "f['text'] == 'Not typed.' and f['release_ms'] >= 0 and f.get('delivered') is False and f.get('error') and 'output' not in f"
dictate "--output print" "$ROOT/events_print.txt"
check "--output print: the final event says delivered true, output printed" \
    last_final "$ROOT/events_print.txt" \
    "f['text'] == 'Not typed.' and f.get('delivered') is True and f.get('output') == 'printed' and 'error' not in f"
# an error answer from the daemon is a failure too: the recording is kept (it had been taken
# for an empty text, "nothing typed", and deleted)
touch "$ROOT/fake_error"
k0=$(grep -c "the recording is kept:" "$ROOT/key_listener.log")
dictate "--output print" "$ROOT/events_err.txt"
check "a daemon error answer: the recording is kept" \
    sh -c "[ \$(grep -c 'the recording is kept:' '$ROOT/key_listener.log') -gt $k0 ]"
kept=$(sed -n 's/.*the recording is kept: \([^ ]*\) .*/\1/p' "$ROOT/key_listener.log" | tail -1)
check "... and is there (${kept:-none})" [ -n "$kept" -a -s "$kept" ]
rm -f "$ROOT/fake_error"
# a recording that cannot be written (the root under a plain file: as a full disk): an error
# event, the "failed" notification and a final event with delivered false (the speech had
# gone with one log line: no event, the notification left on "Recording")
: >"$ROOT/notafolder"; : >"$NB/notes"
SPEECH_SESSION_ROOT="$ROOT/notafolder/root" PATH="$NB:$PATH" bg "$KL" --no-config --trigger none --audio file \
    --source "$SPEECH" --preroll 0 --no-start --timeout 20 --history 0 --output print --notify \
    --log "$ROOT/klw.log" >>"$ROOT/out.txt" 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
bg sh -c 'exec "$0" events >"$1"' "$KL" "$ROOT/events_w.txt"
sleep 0.3
"$KL" start >/dev/null; sleep 1; "$KL" stop >/dev/null
wait_for 10 grep -q '"event":"final"' "$ROOT/events_w.txt"
check "a recording not written: error event, final delivered false with why" python3 -c "
import json,sys
ev=[json.loads(l) for l in open(sys.argv[1])]; print('#', ev)
f=[e for e in ev if e['event']=='final']
ok = any(e['event']=='error' and 'could not be written' in e['text'] for e in ev)
sys.exit(0 if ok and f and f[-1].get('delivered') is False and 'not written' in (f[-1].get('error') or '') else 1)" "$ROOT/events_w.txt"
check "... and the 'Recording failed' notification" wait_for 3 grep -q "Recording failed" "$NB/notes"
"$KL" quit >/dev/null 2>&1
wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
# quit while two dictations wait for their (slow) transcription: both are still typed and
# their recordings removed (the queued one had been dropped, its recording deleted, unlogged)
echo 1.5 >"$ROOT/fake_delay"
nwav() { ls "$ROOT"/recorded_audio_*.wav 2>/dev/null | wc -l; }
w0=$(nwav)
bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 --no-start \
    --timeout 20 --history 0 --output print --log "$ROOT/klq.log" >"$ROOT/out_q.txt" 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
"$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
"$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
"$KL" quit >/dev/null
wait_for 15 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
check "quit with two dictations queued: both typed first ($(wc -l <"$ROOT/out_q.txt") lines)" \
    [ "$(grep -c "Not typed." "$ROOT/out_q.txt")" -eq 2 ]
check "... their recordings removed" [ "$(nwav)" -eq "$w0" ]
# quit, then one SIGTERM (as a service manager sends): not a "second signal" — the dictation
# is still typed and the socket removed (it had exited 130 at once)
"$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 --no-start \
    --timeout 20 --history 0 --output print --log "$ROOT/klq.log" >"$ROOT/out_s.txt" 2>>"$ROOT/kl.err" &
KLP=$!; PIDS="$PIDS $KLP"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
"$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
"$KL" quit >/dev/null; sleep 0.2
kill -TERM $KLP; wait $KLP; rc=$?
check "quit then one SIGTERM: exit 0 ($rc), the dictation typed, the socket removed" \
    sh -c "[ $rc -eq 0 ] && grep -q 'Not typed.' '$ROOT/out_s.txt' && [ ! -e '$RT/key_listener.sock' ]"
rm -f "$ROOT/fake_delay"
# a set-up failure after the control socket was made (--vad-model naming no file): the
# socket file goes too (it had been left behind)
"$KL" --no-config --trigger none --audio file --source "$SPEECH" --vad-model /nonexistent.bin \
    --log "$ROOT/klv.log" >/dev/null 2>>"$ROOT/kl.err"; rc=$?
check "a failed start-up (exit $rc): no socket file left" sh -c "[ $rc -ne 0 ] && [ ! -e '$RT/key_listener.sock' ]"
# --sound-player is a command line (it had been run as one program name and never played),
# and a player that cannot be found is logged
printf '#!/bin/sh\necho "$@" >> "%s/played"\n' "$ROOT" >"$NB/player"; chmod +x "$NB/player"
: >"$ROOT/beep.wav"
bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --no-start --output print \
    --start-sound "$ROOT/beep.wav" --sound-player "$NB/player --volume 30000" --log "$ROOT/kls.log" >/dev/null 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
"$KL" start >/dev/null; "$KL" cancel >/dev/null
check "--sound-player with arguments: played ($(cat "$ROOT/played" 2>/dev/null))" \
    wait_for 5 grep -qx -- "--volume 30000 $ROOT/beep.wav" "$ROOT/played"
"$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --no-start --output print \
    --start-sound "$ROOT/beep.wav" --sound-player "no-such-player-kl -q" --log "$ROOT/kls2.log" >/dev/null 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
check "a sound player that is not there: logged" grep -q "no-such-player-kl not found" "$ROOT/kls2.log"
"$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
# the spool's directories removed while the listener runs (a /tmp cleaner, T5): its client
# had stayed on the removed ones, and every later dictation failed ("cannot submit ... No such
# file or directory") until the listener was restarted
bg "$KL" --no-config --trigger none --audio file --source "$SPEECH" --preroll 0 --no-start \
    --timeout 20 --history 0 --output print --log "$ROOT/klr.log" >"$ROOT/out_r.txt" 2>>"$ROOT/kl.err"
wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"
"$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
wait_for 10 grep -q "Not typed." "$ROOT/out_r.txt"
rm -rf "$ROOT/speech_session_requests" "$ROOT/speech_session_responses" "$ROOT/speech_session_work"
"$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
check "spool directories removed: the next dictation is still typed" \
    wait_for 10 sh -c '[ "$(grep -c "Not typed." "$0")" -eq 2 ]' "$ROOT/out_r.txt"
"$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"
check "no sanitizer report from the listener" sh -c '! grep -E "Sanitizer|runtime error" "$0"' "$ROOT/kl.err"
finish
