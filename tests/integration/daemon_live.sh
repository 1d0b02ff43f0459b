#!/bin/sh
# Live requests (docs/daemon.md "Live requests", issue 12), against a real daemon process
# driven through spool files with real WAV audio: priority (a running batch request yields
# to an interactive one at a window boundary, and its text is the same as an uninterrupted
# run), cancel of pending and running requests (answers, nothing left behind), the stream's
# partial file (lines before the final response, the same segments), word timestamps, and
# bad values of each new field. The synthetic model decodes nonsense, deterministically:
# the checks compare runs with each other, never with words.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc

# Real weights (tiny.en) when present: the synthetic model's words hardly depend on the
# audio, so only real weights make "the same text after yielding" a strong check.
WEIGHTS=${SS_WEIGHTS:-.cache/weights}/tiny.en
if [ -f "$WEIGHTS/model.bin" ]; then
    MODEL=$(realpath "$WEIGHTS"); export SPEECH_SESSION_MODEL="$MODEL"
    echo "# model: $MODEL (real weights)"
else
    echo "# model: $MODEL (synthetic; no real weights in $WEIGHTS: scripts/fetch-test-weights.sh)"
fi
# LONG: 64 s of speech (3 windows of 30 s); the rest use the 1.2 s clip (speech.wav)
for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do set -- "$@" tests/data/speech-16k.wav; done
sox "$@" "$DATA/long.wav" 2>/dev/null
set --
PROC="$ROOT/speech_session_work/processing"

wait_begun() { # ID: until the daemon has begun it (processing/ID.1)
    wait_for "$PROC/$1.1" 60
}
same_text() { # A B: equal "results" and "segments" (B: an id, or a saved file)
    _b="$RESP/$2.json"; [ -f "$2" ] && _b=$2
    python3 -c 'import json,sys
a,b=(json.load(open(f)) for f in sys.argv[1:3])
ok=a["results"]==b["results"] and a["segments"]==b["segments"] and len(a["results"])>0
print("#", len(a["results"]), len(b["results"])) if not ok else None
sys.exit(0 if ok else 1)' "$RESP/$1.json" "$_b"
}
answered_first() { # A B...: A's response was renamed into place before every other one
    python3 -c 'import os,sys
t=[os.stat(sys.argv[1]+"/"+n+".json").st_mtime_ns for n in sys.argv[2:]]
sys.exit(0 if t[0]<min(t[1:]) else 1)' "$RESP" "$@"
}

mkdir -p "$RESP" && chmod 700 "$RESP" && touch "$RESP/.stale.partial" "$RESP/.keep.tmp"
start_daemon --beam-size 1 60; rc=$?
check "daemon started (exit $rc)" [ $rc -eq 0 -a -n "$(daemon_pid)" ]
check "a stale partial file is removed at start (another dot-file is not)" \
    [ ! -e "$RESP/.stale.partial" -a -e "$RESP/.keep.tmp" ]
rm -f "$RESP/.keep.tmp"

# ---- word timestamps
request_json w1 "{\"audio_file\": \"$DATA/speech.wav\", \"word_timestamps\": true}"
check "word_timestamps: words in every segment, texts concatenate, times inside and monotonic" \
    resp_eval w1 "'error' not in d and d['segments'] and all(s['words'] and ''.join(w['word'] for w in s['words']).strip()==s['text'] and all(s['start']<=w['start']<=w['end']<=s['end'] for w in s['words']) and all(0<=w['probability']<=1 for w in s['words']) and all(x['end']<=y['start'] for x,y in zip(s['words'],s['words'][1:])) for s in d['segments'])"
request_json w2 "{\"audio_file\": \"$DATA/speech.wav\"}"
check "without word_timestamps: no words, same segment texts" \
    resp_eval w2 "'error' not in d and all('words' not in s for s in d['segments']) and d['results']==json.load(open('$RESP/w1.json'))['results']"

# ---- bad values of each new field: bad_request naming the field, daemon unharmed
request_json e1 "{\"audio_file\": \"$DATA/speech.wav\", \"priority\": \"urgent\"}"
request_json e2 "{\"audio_file\": \"$DATA/speech.wav\", \"priority\": 1}"
request_json e3 "{\"audio_file\": \"$DATA/speech.wav\", \"stream\": 1}"
request_json e4 "{\"audio_file\": \"$DATA/speech.wav\", \"stream\": \"true\"}"
request_json e5 "{\"audio_file\": \"$DATA/speech.wav\", \"word_timestamps\": \"yes\"}"
request_json e6 "{\"audio_file\": \"$DATA/speech.wav\", \"word_timestamps\": null}"
request_json e7 '{"type": "cancel"}'
request_json e8 '{"type": "cancel", "target": "../x"}'
request_json e9 '{"type": "cancel", "target": 42}'
for e in e1:priority e2:priority e3:stream e4:stream e5:word_timestamps e6:word_timestamps \
         e7:target e8:target e9:target; do
    check "bad ${e#*:} (${e%%:*}): bad_request naming it" \
        resp_eval "${e%%:*}" "d['error_code']=='bad_request' and '${e#*:}' in d['error'] and d['results']==[]"
done

# ---- stream: lines in the partial file before the final response, same segments
request_json s1 "{\"audio_file\": \"$DATA/long.wav\", \"stream\": true}"
python3 - "$RESP" s1 > "$ROOT/s1.watch" <<'PY'
import json, os, sys, time
resp, rid = sys.argv[1:3]
part, final = f"{resp}/.{rid}.partial", f"{resp}/{rid}.json"
seen, before, end = b"", 0, time.time() + 120
while time.time() < end:
    done = os.path.exists(final)   # look at the final first: lines read after it may be late
    try:
        with open(part, "rb") as f:
            seen = f.read()
    except FileNotFoundError:
        pass
    if not done:
        before = seen.count(b"\n")
    else:
        break
    time.sleep(0.01)
print(json.dumps({"before": before, "lines": seen.decode().splitlines() if seen.endswith(b"\n") or not seen else None}))
PY
check "stream: partial lines appeared before the final response" \
    python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); sys.exit(0 if w["before"]>=1 else 1)' "$ROOT/s1.watch"
check "stream: the partial lines are the final segments (i, start, end, text), in order" \
    python3 -c 'import json,sys
w=json.load(open(sys.argv[1])); d=json.load(open(sys.argv[2]))
lines=[json.loads(l) for l in w["lines"]]
segs=[dict(s, i=k) for k,s in enumerate(d["segments"])]
ok=len(d["segments"])>=2 and lines==segs[:len(lines)] and len(lines)>=w["before"]
print("#", len(lines), len(segs)) if not ok else None
sys.exit(0 if ok else 1)' "$ROOT/s1.watch" "$RESP/s1.json"
check "stream: the partial file is gone once the response is there" [ ! -e "$RESP/.s1.partial" ]

# ---- priority: a reference run of the batch file, uninterrupted
request_json ref "{\"audio_file\": \"$DATA/long.wav\", \"priority\": \"batch\"}"
check "reference batch run answered" resp_eval ref "'error' not in d"
cp "$RESP/ref.json" "$ROOT/ref.json"
# several batch requests, then an interactive one while the first runs
request_json b1 "{\"audio_file\": \"$DATA/long.wav\", \"priority\": \"batch\", \"stream\": true}"
request_json b2 "{\"audio_file\": \"$DATA/speech.wav\", \"priority\": \"batch\"}"
request_json b3 "{\"audio_file\": \"$DATA/speech.wav\", \"priority\": \"batch\"}"
wait_begun b1
request_json i1 "{\"audio_file\": \"$DATA/speech.wav\"}"
check "interactive request answered" resp_eval i1 "'error' not in d"
check "batch requests answered" resp_eval b3 "'error' not in d and json.load(open('$RESP/b2.json')).get('error') is None"
check "the interactive request was answered before every batch one (b1 yielded)" \
    answered_first i1 b1 b2 b3
check "the log says b1 yielded to i1" grep -q "SESSION yield id=b1 to id=i1" "$ROOT/session_daemon.log"
check "b1 (yielded, streamed) has the reference's exact text and segments" same_text b1 "$ROOT/ref.json"
check "i1 (nested) has the text of the same audio as b2 (run on its own)" same_text i1 b2
check "batch FIFO within its class: b1, then b2, then b3" answered_first b1 b2 b3
check "batch FIFO within its class: b2 before b3" answered_first b2 b3
check "b1's log line counts its yield" grep -q "id=b1 .*priority=batch yields=1" "$ROOT/session_daemon.log"

# ---- cancel: a pending and a running request
rm -f "$RESP"/*.json
request_json r1 "{\"audio_file\": \"$DATA/long.wav\", \"priority\": \"batch\", \"stream\": true}"
request_json q1 "{\"audio_file\": \"$DATA/long.wav\", \"priority\": \"batch\", \"stream\": true}"
wait_begun r1
request_json c1 '{"type": "cancel", "target": "q1"}'
check "cancel of a pending request: answered cancelled, state pending" \
    resp_eval c1 "d['type']=='cancel' and d['target']=='q1' and d['cancelled'] is True and d['state']=='pending' and 'device' in d and 'session_active' in d"
check "the pending request is answered error_code cancelled" \
    resp_eval q1 "d['error_code']=='cancelled' and d['results']==[] and 'c1' in d['error']"
wait_for "$RESP/.r1.partial" 30
request_json c2 '{"type": "cancel", "target": "r1"}'
check "cancel of a running request: answered cancelled, state running" \
    resp_eval c2 "d['cancelled'] is True and d['state']=='running'"
check "the running request is answered error_code cancelled" \
    resp_eval r1 "d['error_code']=='cancelled' and d['results']==[]"
request_json c3 '{"type": "cancel", "target": "nosuch"}'
check "cancel of an unknown id: cancelled false, state unknown" \
    resp_eval c3 "d['cancelled'] is False and d['state']=='unknown'"
sleep 0.2
check "nothing left in processing/" [ -z "$(ls -A "$PROC")" ]
check "responses/ holds only the answers (no partial file, no temp)" \
    [ "$(ls -A "$RESP" | sort | tr '\n' ' ')" = "c1.json c2.json c3.json q1.json r1.json " ]
# a cancel of an interactive request nested in a paused batch one
rm -f "$RESP"/*.json
request_json r2 "{\"audio_file\": \"$DATA/long.wav\", \"priority\": \"batch\"}"
wait_begun r2
request_json n1 "{\"audio_file\": \"$DATA/long.wav\", \"stream\": true}"
wait_for "$RESP/.n1.partial" 30
request_json c4 '{"type": "cancel", "target": "n1"}'
check "cancel of a nested interactive request: state running" resp_eval c4 "d['state']=='running'"
check "the nested request is answered cancelled" resp_eval n1 "d['error_code']=='cancelled'"
check "the batch request it paused finishes" resp_eval r2 "'error' not in d"
check "... with the reference's exact text and segments" same_text r2 "$ROOT/ref.json"
check "the daemon is still the same process" [ -n "$(daemon_pid)" ]

# ---- session_client: --stream prints each segment; cancel ID
rm -f "$RESP"/*.json
"$SC" transcribe --stream --timeout 60 "$DATA/speech.wav" > "$ROOT/cli.out"; rc=$?
"$SC" transcribe --json --timeout 60 "$DATA/speech.wav" > "$ROOT/cli.json"
check "session_client --stream: one line per segment, the segments' texts (exit $rc)" \
    python3 -c 'import json,sys
out=open(sys.argv[1]).read().splitlines(); d=json.loads(open(sys.argv[2]).read())
sys.exit(0 if out==[s["text"] for s in d["segments"]] and out else 1)' "$ROOT/cli.out" "$ROOT/cli.json"
"$SC" cancel nosuch > "$ROOT/cancel.out"; rc=$?
check "session_client cancel of an unknown id: exit 1, says so" [ $rc -eq 1 ] && grep -q "not cancelled (unknown)" "$ROOT/cancel.out"
"$SC" transcribe --priority urgent "$DATA/speech.wav" 2>/dev/null; rc=$?
check "session_client --priority urgent: usage error" [ $rc -eq 100 ]

"$SC" stop >/dev/null
san_clean
finish
