#!/bin/sh
# key_listener --join-seconds (docs/key_listener.md, "Consecutive dictations"): a dictation
# begun within S seconds of the last one's typing continues it — one space between them (none
# before a closing mark), and the last text as the request's prompt so Whisper goes on
# mid-sentence. Off by default: two dictations had been typed back to back with no space
# ("Hello there.How are you?"). A stand-in daemon answers fake_results.json and notes each
# request; a stub xdotool (forced with --typer, no X server) notes each text typed.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/keylistener_common.inc

NB="$ROOT/nb"; mkdir -p "$NB"
cat >"$NB/xdotool" <<SH
#!/bin/sh
for a; do last=\$a; done
[ "\$1" = type ] && printf '[%s]\n' "\$last" >>"$ROOT/typed.txt"
exit 0
SH
chmod +x "$NB/xdotool"
: >"$ROOT/typed.txt"
start_fake_daemon
KLOPT="--no-config --trigger none --audio file --source $SPEECH --preroll 0 --no-start --timeout 20 --history 0 --typer xdotool --type-delay 0"
up() { wait_for 10 sh -c '"$0" status >/dev/null 2>&1' "$KL"; }
quit() { "$KL" quit >/dev/null 2>&1; wait_for 10 sh -c '! "$0" status >/dev/null 2>&1' "$KL"; }
# one dictation answered with $1 (a JSON array); waits until its text is typed (or 10 s)
dictate() {
    printf '%s' "$1" >"$ROOT/fake_results.json"
    _n=$(wc -l <"$ROOT/typed.txt")
    "$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
    wait_for 10 sh -c '[ "$(wc -l <"$0")" -gt "$1" ]' "$ROOT/typed.txt" "$_n"
}
prompt_of() { python3 -c "import json,sys; print([json.loads(l).get('prompt') for l in open(sys.argv[1])][$1])" "$ROOT/fake_requests.jsonl"; }

# 1. off (the default): back to back, no space, no context
PATH="$NB:$PATH" bg "$KL" $KLOPT --log "$ROOT/kl1.log" 2>>"$ROOT/kl.err"
up
dictate '["Hello there."]'; dictate '["How are you?"]'
check "default: the second dictation typed as it came ([How are you?])" \
    sh -c "sed -n 2p '$ROOT/typed.txt' | grep -qx '\[How are you?\]'"
check "default: no context from the first dictation in the second's prompt" [ "$(prompt_of 1)" = None ]
quit

# 2. --join-seconds 4: a space before the second, none before a closing mark; the last text as context
: >"$ROOT/typed.txt"; : >"$ROOT/fake_requests.jsonl"
PATH="$NB:$PATH" bg "$KL" $KLOPT --log "$ROOT/kl2.log" --join-seconds 4 --initial-prompt "Glossary: Kubernetes." 2>>"$ROOT/kl.err"
up
dictate '["Hello there."]'; dictate '["How are you?"]'; dictate '[", and the others?"]'
echo "# typed: $(tr '\n' ' ' <"$ROOT/typed.txt")"
check "--join-seconds: the first dictation as it came" sh -c "sed -n 1p '$ROOT/typed.txt' | grep -qx '\[Hello there.\]'"
check "--join-seconds: the next one within the seconds starts with one space ([ How are you?])" \
    sh -c "sed -n 2p '$ROOT/typed.txt' | grep -qx '\[ How are you?\]'"
check "--join-seconds: none before a closing mark ([, and the others?])" \
    sh -c "sed -n 3p '$ROOT/typed.txt' | grep -qx '\[, and the others?\]'"
p1=$(prompt_of 1); p2=$(prompt_of 2)
echo "# prompts: [$(prompt_of 0)] [$p1] [$p2]"
check "--join-seconds: the second request's prompt is the initial prompt, then the first text" \
    [ "$p1" = "Glossary: Kubernetes. Hello there." ]
check "--join-seconds: the third's is the initial prompt, then the chain so far" \
    [ "$p2" = "Glossary: Kubernetes. Hello there. How are you?" ]
check "--join-seconds: the log says it continues" grep -q "join: begun .* it continues that text" "$ROOT/kl2.log"
# past the seconds: afresh
sleep 4.5
dictate '["New topic."]'
p3=$(prompt_of 3)
check "--join-seconds: begun after the seconds: no space, no context" \
    sh -c "sed -n 4p '$ROOT/typed.txt' | grep -qx '\[New topic.\]' && [ '$p3' = 'Glossary: Kubernetes.' ]"
quit

# 3. the clipboard, not the window: the next dictation does not continue it (--output copy)
: >"$ROOT/typed.txt"
PATH="$NB:$PATH" bg "$KL" $KLOPT --log "$ROOT/kl3.log" --join-seconds 4 --output print >"$ROOT/printed.txt" 2>>"$ROOT/kl.err"
up
printf '%s' '["One."]' >"$ROOT/fake_results.json"; "$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
wait_for 10 grep -q 'One.' "$ROOT/printed.txt"
printf '%s' '["Two."]' >"$ROOT/fake_results.json"; "$KL" start >/dev/null; sleep 0.5; "$KL" stop >/dev/null
wait_for 10 grep -q 'Two.' "$ROOT/printed.txt"
check "--output print: printed text is not continued (no space, no join)" \
    sh -c "grep -qx 'Two.' '$ROOT/printed.txt' && ! grep -q 'join:' '$ROOT/kl3.log'"
quit

# 4. --continuous: the utterances of one recording are one text - each after the first
# continues the one before (a space, the text so far as context), however long the pause and
# without --join-seconds (a live audit: "...in the garden.The doctor told him..."). Speech, 6 s
# of silence, speech, 1 s, speech; then a new recording, which starts afresh (no
# --join-seconds). Before, the utterances were dictations of their own, joined only within
# --join-seconds of the last typing.
sox "$SPEECH" "$ROOT/u.wav" trim 0 1.2
sox "$ROOT/u.wav" "$ROOT/u6.wav" pad 0 6
sox "$ROOT/u.wav" "$ROOT/u1.wav" pad 0 1
sox "$ROOT/u6.wav" "$ROOT/u1.wav" "$ROOT/u.wav" "$ROOT/cont.wav" pad 0 3
: >"$ROOT/typed.txt"; : >"$ROOT/fake_requests.jsonl"
printf '%s' '["Said."]' >"$ROOT/fake_results.json"
PATH="$NB:$PATH" bg "$KL" $KLOPT --source "$ROOT/cont.wav" --log "$ROOT/kl4.log" --auto-stop 700 --continuous \
    2>>"$ROOT/kl.err"
up
"$KL" start >/dev/null
wait_for 20 sh -c '[ "$(wc -l <"$0")" -ge 3 ]' "$ROOT/typed.txt"
"$KL" stop >/dev/null
"$KL" start >/dev/null
wait_for 10 sh -c '[ "$(wc -l <"$0")" -ge 4 ]' "$ROOT/typed.txt"
"$KL" stop >/dev/null
echo "# typed: $(tr '\n' ' ' <"$ROOT/typed.txt")"
check "--continuous: the first utterance as it came" sh -c "sed -n 1p '$ROOT/typed.txt' | grep -qx '\[Said.\]'"
check "--continuous: an utterance begun 6 s after the cut continues it" \
    sh -c "sed -n 2p '$ROOT/typed.txt' | grep -qx '\[ Said.\]'"
check "--continuous: one begun 1 s after the cut too" sh -c "sed -n 3p '$ROOT/typed.txt' | grep -qx '\[ Said.\]'"
check "--continuous: the next recording starts afresh" sh -c "sed -n 4p '$ROOT/typed.txt' | grep -qx '\[Said.\]'"
check "--continuous: the later utterances' requests carry the text so far as context" python3 -c "
import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if len(r) >= 4 and 'Said.' not in r[0].get('prompt','') and 'Said.' in r[1].get('prompt','') and 'Said. Said.' in r[2].get('prompt','') and 'Said.' not in r[3].get('prompt','') else 1)" "$ROOT/fake_requests.jsonl"
quit

# 5. a spoken mark at the start of a joined dictation belongs to the text before it: kept,
# with no space before it (tidying had dropped it: " and then we left.")
: >"$ROOT/typed.txt"
PATH="$NB:$PATH" bg "$KL" $KLOPT --log "$ROOT/kl5.log" --join-seconds 30 --spoken-punctuation 2>>"$ROOT/kl.err"
up
dictate '["We went home"]'; dictate '["comma and then we left period"]'
echo "# typed: $(tr '\n' ' ' <"$ROOT/typed.txt")"
check "--spoken-punctuation, joined: the leading mark kept ([, and then we left.])" \
    sh -c "sed -n 2p '$ROOT/typed.txt' | grep -qx '\[, and then we left.\]'"
quit

check "no sanitizer report from the listener" sh -c '! grep -E "Sanitizer|runtime error" "$0"' "$ROOT/kl.err"
finish
