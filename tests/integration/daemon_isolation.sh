#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# Decoder isolation (spool-reliability.md T14): each request's audio is decoded in a child
# process with resource limits. A decoder crash (SIGSEGV, via the test hook
# SPEECH_SESSION_DECODER_CRASH), a CPU-bound decoder (a real RLIMIT_CPU, --decoder-cpu-limit)
# and a hung one (--decoder-timeout) each fail that request only, with a stable error_code;
# the daemon keeps serving, answers pings meanwhile, reaps every child (no zombies), stops
# promptly on SIGTERM during a hung decode; --no-decoder-isolation keeps the old path.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc

resp_code() { # id -> error_code ("" on success)
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error_code",""))' "$RESP/$1.json" 2>/dev/null
}
resp_has() { # id code [message substring]
    [ "$(resp_code "$1")" = "$2" ] || { echo "#   $1: code '$(resp_code "$1")', want '$2'"; return 1; }
    [ -z "${3:-}" ] || grep -q "$3" "$RESP/$1.json" || { echo "#   $1: no '$3' in $(cat "$RESP/$1.json")"; return 1; }
}
resp_success() { [ -f "$RESP/$1.json" ] && [ -z "$(resp_code "$1")" ] && ! grep -q '"error"' "$RESP/$1.json"; }
children() { # pids whose parent is $1 (any state)
    for _s in /proc/[0-9]*/stat; do
        awk -v p="$1" '{ sub(/^.*\) /, ""); if ($2 == p) print FILENAME }' "$_s" 2>/dev/null
    done
}
# The daemon's one child is the decoder launcher; decoder processes are its children.
decoders() { for _z in $(children "$1"); do _z=${_z#/proc/}; children "${_z%/stat}"; done; }
zombies() { for _c in $(children "$1") $(decoders "$1"); do
    awk '{ sub(/^.*\) /, ""); if ($1 == "Z") print FILENAME }' "$_c" "${_c%/stat}/stat" 2>/dev/null; done; }
no_zombies() { # no decoder process and no defunct descendant of the daemon left
    _i=0
    while [ -n "$(decoders "$1")$(zombies "$1")" ] && [ $_i -lt 100 ]; do sleep 0.02; _i=$((_i + 1)); done
    [ -z "$(decoders "$1")$(zombies "$1")" ] || { echo "#   left: $(decoders "$1") $(zombies "$1")"; return 1; }
}
alive() { kill -0 "$1" 2>/dev/null && [ "$(daemon_pid)" = "$1" ]; }

cp "$DATA/silence.wav" "$DATA/crash-segv.wav"
cp "$DATA/silence.wav" "$DATA/crash-spin.wav"
cp "$DATA/silence.wav" "$DATA/crash-hang.wav"
printf 'not audio at all, just text\n' > "$DATA/garbage.wav"

# the wall-clock deadline (5 s) is five times the CPU limit (1 s): a spinning decoder that
# gets only a fifth of a core on a loaded machine still meets RLIMIT_CPU first
SPEECH_SESSION_DECODER_CRASH="segv:crash-segv,spin:crash-spin,hang:crash-hang" \
    start_daemon --beam-size 1 --language en --decoder-cpu-limit 1 --decoder-timeout 5 60
pid=$(daemon_pid)
check "daemon started" [ -n "$pid" ]

# --- SIGSEGV in the decoder
request seg1 "$DATA/crash-segv.wav"
wait_for "$RESP/seg1.json" 10
check "decoder SIGSEGV: answered audio_decoder_crashed" resp_has seg1 audio_decoder_crashed "signal 11"
check "decoder SIGSEGV: daemon still alive (same pid)" alive "$pid"
request after_seg "$DATA/speech.wav"
wait_for "$RESP/after_seg.json" 30
check "decoder SIGSEGV: next request answered normally" resp_success after_seg
check "decoder SIGSEGV: no zombie or stray child" no_zombies "$pid"

# --- a CPU-bound decoder meets the real RLIMIT_CPU (1 s)
request spin1 "$DATA/crash-spin.wav"
wait_for "$RESP/spin1.json" 15
check "decoder over RLIMIT_CPU: answered audio_decoder_crashed (SIGXCPU)" resp_has spin1 audio_decoder_crashed "CPU time limit"
check "decoder over RLIMIT_CPU: daemon still alive" alive "$pid"
check "decoder over RLIMIT_CPU: no zombie" no_zombies "$pid"

# --- a hung decoder meets the wall-clock deadline (5 s); pings are answered meanwhile
t0=$(date +%s.%N)
request hang1 "$DATA/crash-hang.wav"
sleep 0.3
echo '{"id":"ping1","type":"ping"}' > "$REQ/ping1.json"
wait_for "$RESP/ping1.json" 1
check "hung decoder: a ping is answered meanwhile" sh -c "grep -q pong '$RESP/ping1.json'"
wait_for "$RESP/hang1.json" 15
t1=$(date +%s.%N)
check "hung decoder: answered audio_decoder_timeout" resp_has hang1 audio_decoder_timeout
check "hung decoder: after ~5 s (not before)" awk "BEGIN{d=$t1-$t0; exit !(d >= 4.9 && d < 10)}"
check "hung decoder: daemon still alive" alive "$pid"
check "hung decoder: child killed and reaped" no_zombies "$pid"

# --- ordinary refusals keep their codes through the child
request garb "$DATA/garbage.wav"
request missing "$DATA/nope.wav"
ln -s "$DATA/silence.wav" "$DATA/link.wav"
request link "$DATA/link.wav"
wait_for "$RESP/garb.json" 10; wait_for "$RESP/missing.json" 5; wait_for "$RESP/link.json" 5
check "garbage audio: audio_format" resp_has garb audio_format
check "missing audio: audio_not_found" resp_has missing audio_not_found "Audio file not found"
check "symlinked audio: audio_refused" resp_has link audio_refused
request sil1 "$DATA/silence.wav"
wait_for "$RESP/sil1.json" 10
check "empty audio: empty results, no error" resp_success sil1
check "status counts the failures, daemon alive" alive "$pid"
check "no zombies at the end" no_zombies "$pid"

# --- SIGTERM during a hung decode: prompt stop, child gone, request kept for the next start
request hang2 "$DATA/crash-hang.wav"
sleep 0.5
kids=$(decoders "$pid")
check "hung decode in progress: one decoder process" [ "$(echo $kids | wc -w)" -eq 1 ]
kill -TERM "$pid"
wait_no_daemon 3
check "SIGTERM during a hung decode: daemon stopped within 3 s" [ -z "$(daemon_pid)" ]
gone=1
for k in $kids; do [ -d "$k" ] && gone=0; done
check "SIGTERM during a hung decode: decoder child gone" [ $gone -eq 1 ]
check "SIGTERM during a hung decode: request kept in processing/" \
    sh -c "ls '$ROOT/speech_session_work/processing' | grep -q hang2"
rm -f "$RESP"/*.json

# --- without the hook the kept request is answered; --no-decoder-isolation works too
start_daemon --beam-size 1 --language en --no-decoder-isolation 60
pid=$(daemon_pid)
wait_for "$RESP/hang2.json" 10
check "kept request answered by the next daemon" resp_success hang2
request inproc "$DATA/speech.wav"
request inproc_garb "$DATA/garbage.wav"
wait_for "$RESP/inproc.json" 30; wait_for "$RESP/inproc_garb.json" 5
check "--no-decoder-isolation: request answered normally" resp_success inproc
check "--no-decoder-isolation: garbage still audio_format" resp_has inproc_garb audio_format
check "--no-decoder-isolation: no child process (no launcher)" [ -z "$(children "$pid")" ]
"$SC" stop >/dev/null
check "bad --decoder-timeout refused (usage)" sh -c "'$SD' --decoder-timeout 0 >/dev/null 2>&1; [ \$? -eq 100 ]"

san_clean
finish
