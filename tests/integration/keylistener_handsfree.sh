#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# key_listener hands-free and decoding options (docs/key_listener.md, "Hands-free",
# "Vocabulary and languages"), recording from a real PulseAudio null sink: --auto-stop ends a
# recording after that much silence (and not at the pauses inside the speech); --continuous
# sends each utterance as it ends and keeps recording; --max-seconds caps a recording; the
# the initial prompt travels in every request's "prompt", the vocabulary in "hotwords", a fixed or per-binding
# language in "language", and with --languages a detection outside the set is decoded again
# in the set's first language (a stand-in daemon answers and records the requests).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

start_pulse || { skip "hands-free" "pulseaudio cannot start"; finish; exit $?; }
bg sh -c 'exec pacat -d virt --raw --format=s16le --rate=16000 --channels=1 </dev/zero'
CLIP="$ROOT/clip.wav"
sox "$SPEECH" "$CLIP" trim 0 1.2 2>/dev/null || cp "$SPEECH" "$CLIP"
start_fake_daemon
printf '%s' '["Said."]' >"$ROOT/fake_results.json"
OUT="$ROOT/out.txt"
listener_up() { wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"; }
listener_quit() { "$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"; }
nseen() { _c=$(wc -l <"$ROOT/fake_seen.txt" 2>/dev/null); echo "${_c:-0}"; }
seen_len() { sed -n "${1}p" "$ROOT/fake_seen.txt" | awk '{print $4}'; }   # seconds of request N
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN{exit !(v >= lo && v <= hi)}'; }
req() { sed -n "${1}p" "$ROOT/fake_requests.jsonl" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2'))"; }

# 1. auto-stop: 4.9 s of speech, then silence; no stop command is sent
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --auto-stop 700 --history 0 >"$OUT" 2>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null
"$KL" start >/dev/null
paplay -d virt "$SPEECH"; t_end=$(date +%s%N)
check "auto-stop: the recording ends by itself after the speech" wait_for 5 grep_log "recording stopped (700 ms of silence)"
t_stop=$(date +%s%N)
# the voice in the file ends at 4.52 s, 0.38 s before paplay returns: the stop comes ~0.3 s later
check "auto-stop: stopped 0.1..2.0 s after paplay returned" between $(( (t_stop - t_end) / 1000000 )) 100 2000
check "auto-stop: text delivered" wait_for 10 sh -c "grep -qx 'Said.' '$OUT'"
len=$(seen_len 1); echo "# auto-stopped recording: $len s (voice until 4.52 s + 0.7 s silence + pre-roll)"
check "auto-stop: recording 4.9..6.8 s long (the whole speech, then the silence)" between "$len" 4.9 6.8
listener_quit

# 1b. auto-stop with a DC offset (a cheap USB sound card): the speech and 6 s of "silence"
# all shifted by 0.05 of full scale; the recording stops within that silence, while the file
# still plays (the offset had counted as sound: no block was ever silent, so the recording
# ran on until the file ended and the sink fell to real zeros)
sox -D "$SPEECH" "$ROOT/dc.wav" pad 0 6 dcshift 0.05 2>/dev/null
n0=$(nseen)
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --auto-stop 700 --history 0 >"$OUT" 2>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null
"$KL" start >/dev/null
nstops() { grep -c "recording stopped (700 ms of silence)" "$ROOT/key_listener.log"; }
k0=$(nstops)
t0=$(date +%s%N)
paplay -d virt "$ROOT/dc.wav" &
PP=$!
wait_for 15 sh -c '[ "$(grep -c "recording stopped (700 ms of silence)" "$0")" -gt "$1" ]' "$ROOT/key_listener.log" "$k0"
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $PP
# the voice ends at 4.52 s, the file at 10.9 s (playback starts up to ~2 s after paplay): a
# stop well before the end is the offset's silence (the code before: 10.6 s with 3 s of it)
check "auto-stop with a DC offset: stopped in the silence while the file still played (after $dt ms)" between "$dt" 4500 9500
check "... the speech delivered" wait_for 10 sh -c '[ "$(wc -l <"$0" 2>/dev/null)" -gt "$1" ]' "$ROOT/fake_seen.txt" "$n0"
listener_quit

# 2. continuous: one recording, two utterances with 1.5 s of silence between: two texts
: >"$OUT"; n0=$(nseen)
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --auto-stop 700 --continuous --history 0 >"$OUT" 2>>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null
"$KL" start >/dev/null
paplay -d virt "$CLIP"; sleep 1.5; paplay -d virt "$CLIP"; sleep 1.5
out=$("$KL" status)
check "continuous: still recording after two utterances" sh -c '[ "${0#ok recording}" != "$0" ]' "$out"
check "waybar status: class recording" sh -c '"$0" waybar | grep -q "\"class\": \"recording\""' "$KL"
"$KL" stop >/dev/null
check "continuous: two utterances typed from one recording" wait_for 10 sh -c "[ \$(grep -cx 'Said.' '$OUT') -eq 2 ]"
check "continuous: the silence after the last one is not sent" wait_for 5 grep_log "no speech since the last utterance"
l1=$(seen_len $((n0 + 1))); l2=$(seen_len $((n0 + 2)))
echo "# utterances: $l1 s, $l2 s (1.2 s of speech each)"
check "continuous: each utterance 1.3..2.6 s long" sh -c 'between() { awk -v v="$1" -v lo="$2" -v hi="$3" "BEGIN{exit !(v >= lo && v <= hi)}"; }; between "$0" 1.3 2.6 && between "$1" 1.3 2.6' "$l1" "$l2"
check "continuous: exactly two requests" [ "$(nseen)" -eq $((n0 + 2)) ]
listener_quit

# 2b. continuous with --max-seconds 2: it caps each utterance, not the wait for the next one
# (a pause of 2 s had ended the session, sending its silence as a recording)
: >"$OUT"; n0=$(nseen)
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --auto-stop 700 --continuous --max-seconds 2 --history 0 >"$OUT" 2>>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null
"$KL" start >/dev/null
paplay -d virt "$CLIP"; sleep 3.5
out=$("$KL" status)
check "continuous, --max-seconds 2, a 3.5 s pause: still recording" sh -c '[ "${0#ok recording}" != "$0" ]' "$out"
check "... one request, no recording of the pause" [ "$(nseen)" -eq $((n0 + 1)) ]
paplay -d virt "$CLIP"; sleep 1.5
"$KL" stop >/dev/null
check "... the next utterance typed too" wait_for 10 sh -c "[ \$(grep -cx 'Said.' '$OUT') -eq 2 ]"
listener_quit

# 2c. continuous, --preroll 0, --max-seconds 2, 4.9 s of speech: the first utterance is cut at
# the cap after two full seconds of it (the buffer had been sized for the cap alone, yet it
# also holds the 300 ms kept before the first word: what came after it filled was lost)
n0=$(nseen)
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --auto-stop 700 --continuous --preroll 0 --max-seconds 2 --min-ms 0 --history 0 >"$OUT" 2>>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null
"$KL" start >/dev/null; sleep 0.6
paplay -d virt "$SPEECH"; sleep 1
"$KL" stop >/dev/null
wait_for 10 sh -c '[ "$(wc -l <"$0")" -gt "$1" ]' "$ROOT/fake_seen.txt" "$n0"
l1=$(seen_len $((n0 + 1))); echo "# first utterance, capped at 2 s of speech: $l1 s sent"
check "continuous, --preroll 0, --max-seconds 2: cut by the cap" grep_log "recording stopped (--max-seconds reached)"
check "... more than the cap's 2.000 s of audio: the buffer holds the cap and what comes before it" \
    between "$l1" 2.001 3.0
listener_quit

# 3. --max-seconds caps a recording
n0=$(nseen)
# with --notify: a notify-send stand-in on PATH records what it is asked to show. It parses
# its options as the real one does (GLib's option parser: an argument starting with '-'
# anywhere before "--" is an option, an unknown one an error), so a dictation that starts
# with a dash ("-5 degrees") must come after "--" to be shown.
FB="$ROOT/fakebin"; mkdir -p "$FB"
cat >"$FB/notify-send" <<EOF
#!/bin/sh
dd=0; out=
while [ \$# -gt 0 ]; do
    if [ \$dd = 0 ]; then
        case "\$1" in
        --) dd=1; shift; continue ;;
        -a|-t|-h|-u|-i|-c) shift 2; continue ;;
        -*) echo "Unknown option \$1" >&2; exit 1 ;;
        esac
    fi
    out="\$out|\$1"; shift
done
echo "\$out|" >>"$ROOT/notes.txt"
EOF
chmod +x "$FB/notify-send"
printf '%s' '["-5 degrees outside."]' >"$ROOT/fake_results.json"
bg env PATH="$FB:$PATH" "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --max-seconds 1 --min-ms 0 --history 0 --notify >"$OUT" 2>>"$ROOT/kl.err"
listener_up
wait_for 10 grep_log "pulse capture: virt.monitor open" >/dev/null; sleep 1
"$KL" start >/dev/null; paplay -d virt "$CLIP"
check "--max-seconds 1: stopped by the cap" wait_for 5 grep_log "recording stopped (--max-seconds reached)"
wait_for 10 sh -c '[ "$(wc -l <"$0")" -gt "$1" ]' "$ROOT/fake_seen.txt" "$n0"
# what reaches the file is capped at 1 s + 0.3 s pre-roll (on a loaded machine the stream may
# deliver less within the second)
check "--max-seconds 1: at most 1.3 s recorded" between "$(seen_len $((n0 + 1)))" 0.02 1.31
check "--notify: recording, transcribing and typed notifications sent" wait_for 5 sh -c \
    'grep -q "|Recording|" "$0" && grep -q "|Transcribing|" "$0" && grep -q "|Dictation typed|-5 degrees outside.|" "$0"' "$ROOT/notes.txt"
listener_quit
printf '%s' '["Said."]' >"$ROOT/fake_results.json"

# 4. vocabulary, prompt and languages in the requests
n0=$(nseen)
echo fr >"$ROOT/fake_language.txt"     # "detection" outside the user's languages
bg "$KL" --no-config --trigger none --source virt.monitor --no-start --timeout 20 --output print \
    --history 0 --initial-prompt "Dictation." --vocabulary "Kubernetes, etcd, Grafana" --languages en,de \
    >"$OUT" 2>>"$ROOT/kl.err"
listener_up
"$KL" start >/dev/null; paplay -d virt "$CLIP"; "$KL" stop >/dev/null
wait_for 10 sh -c '[ "$(wc -l <"$0")" -ge "$1" ]' "$ROOT/fake_requests.jsonl" $((n0 + 2))
check "the initial prompt travels as prompt, the vocabulary as hotwords" \
    [ "$(req $((n0 + 1)) prompt)" = "Dictation." -a "$(req $((n0 + 1)) hotwords)" = "Kubernetes, etcd, Grafana" ]
check "--languages: detection requested (auto)" [ "$(req $((n0 + 1)) language)" = auto ]
check "--languages: the set travels as the request's languages" [ "$(req $((n0 + 1)) languages)" = "['en', 'de']" ]
check "--languages: the decoding again has a fixed language, no set" [ "$(req $((n0 + 2)) languages)" = None ]
check "--languages: detected fr is outside en,de: decoded again as en" [ "$(req $((n0 + 2)) language)" = en ]
check "log says why it decoded again" grep_log 'detected "fr", not in languages en,de: again as "en"'
echo de >"$ROOT/fake_language.txt"     # inside the set: one request
n0=$(wc -l <"$ROOT/fake_requests.jsonl")
"$KL" start >/dev/null; paplay -d virt "$CLIP"; "$KL" stop >/dev/null
check "detected de, inside the set: one request" wait_for 10 sh -c '[ "$(grep -cx "Said." "$0")" -eq 2 ]' "$OUT"
sleep 0.3
check "... and no second request" [ "$(wc -l <"$ROOT/fake_requests.jsonl")" -eq $((n0 + 1)) ]
n0=$(wc -l <"$ROOT/fake_requests.jsonl")
out=$("$KL" start de); paplay -d virt "$CLIP"; "$KL" stop >/dev/null
wait_for 10 sh -c '[ "$(wc -l <"$0")" -gt "$1" ]' "$ROOT/fake_requests.jsonl" "$n0"
check "a per-binding language ('start de') is sent as the request's language" [ "$(req $((n0 + 1)) language)" = de ]
"$KL" start xx1 >/dev/null 2>&1; check "a bad language code is refused (exit 100)" [ $? -eq 100 ]
# the daemon refuses the set (its model lacks one of the codes): detection among all, then
# the decoding again in the set's first language — the dictation is typed, not lost
touch "$ROOT/fake_refuse_languages"; echo fr >"$ROOT/fake_language.txt"
n0=$(wc -l <"$ROOT/fake_requests.jsonl"); t0=$(grep -cx "Said." "$OUT")
"$KL" start >/dev/null; paplay -d virt "$CLIP"; "$KL" stop >/dev/null
check "languages refused by the daemon: the dictation is still typed" \
    wait_for 10 sh -c '[ "$(grep -cx "Said." "$0")" -gt "$1" ]' "$OUT" "$t0"
check "... asked again without the set, then in its first language (en)" \
    sh -c "[ \"\$(sed -n '$((n0 + 2))p' '$ROOT/fake_requests.jsonl' | grep -c languages)\" = 0 ] && [ \"$(req $((n0 + 3)) language)\" = en ]"
check "... the log says the set was refused" grep_log "languages en,de refused; detecting among all"
rm -f "$ROOT/fake_refuse_languages"
listener_quit
check "waybar status without a listener: class off, exit 0" sh -c '"$0" waybar | grep -q "\"class\": \"off\""' "$KL"
check "no sanitizer report from key_listener" sh -c "! grep -q 'Sanitizer' '$ROOT/kl.err'"
finish
