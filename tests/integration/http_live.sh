#!/bin/sh
# Live dictation over HTTP (issue 12; docs/http.md "Streaming", on the daemon's contract in
# docs/daemon.md "Live requests") against a real
# session_daemon over loopback:
# - stream=true as server-sent events, read by curl -N, by Python's http.client
#   (tests/tools/sse_client.py: on a multi-window file the first delta arrives long before
#   the done event — the figures are printed) and by the official OpenAI Python SDK (an
#   error event after a delta raised as APIError; its delta/done events are checked by
#   http_clients.sh);
# - priority and word timestamps: what reaches the daemon (its request files, read while it
#   is stopped), 400s for bad values, OpenAI's "words" through the SDK;
# - a client that goes away (plain and streaming; its request running, pending or still
#   unclaimed) cancels its request: the daemon stops, nothing is left in the spool.
# test-serial: its checks measure time (first delta vs done, a timeout after the first
# delta), so tests/run.sh runs it alone
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/http_common.inc
VENV=${SPEECH_SESSION_VENV:-.venv}
skip() { echo "ok - $1 # SKIP $2"; }
REQ="$ROOT/speech_session_requests"
RESP="$ROOT/speech_session_responses"
PROC="$ROOT/speech_session_work/processing"
DLOG="$ROOT/session_daemon.log"
SSE="python3 tests/tools/sse_client.py"
# pyq FILE EXPR: prints the Python expression over d = the JSON in FILE
pyq() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# spool_empty S: waits up to S s for requests/, responses/ (dot files too), processing/ and
# the upload directory to be empty
spool_empty() {
    _i=0; _n=$(awk "BEGIN{print int($1*20)}")
    while [ $_i -lt "$_n" ]; do
        [ -z "$(ls -A "$REQ" "$RESP" "$PROC" "$UPLOADS" 2>/dev/null | grep -v ':$' | grep .)" ] && return 0
        sleep 0.05; _i=$((_i + 1))
    done
    ls -A "$REQ" "$RESP" "$PROC" "$UPLOADS" | sed 's/^/#   left: /'
    return 1
}
# server_log_wait S PATTERN: waits up to S s for PATTERN in the server's log
server_log_wait() {
    _i=0; _n=$(awk "BEGIN{print int($1*20)}")
    while [ $_i -lt "$_n" ]; do
        grep -q "$2" "$ROOT/http.$NSERVER.log" && return 0
        sleep 0.05; _i=$((_i + 1))
    done
    return 1
}
# events_ok FILE: curl -N's body: only "data: JSON" events, deltas then one done whose text
# the deltas add up to; prints the number of deltas
events_ok() {
    python3 - "$1" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
assert raw.endswith("\n\n"), "the stream does not end with a complete event"
ev = [json.loads(b[len("data: "):]) for b in raw.split("\n\n")[:-1] if not b.startswith(":")]
assert all(b.startswith("data: ") or b.startswith(":") for b in raw.split("\n\n")[:-1])
kinds = [e["type"] for e in ev]
assert kinds[-1] == "transcript.text.done" and set(kinds[:-1]) <= {"transcript.text.delta"}, kinds
assert set(ev[-1]) == {"type", "text"} and all(set(e) == {"type", "delta"} for e in ev[:-1])
assert "".join(e["delta"] for e in ev[:-1]) == ev[-1]["text"]
print(len(ev) - 1)
PY
}

# a multi-window file: 14 x 4.9 s of speech = 68.6 s, three 30 s windows
set -- ; for _k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do set -- "$@" "$SPEECH_WAV"; done
sox "$@" "$DATA/long.wav" 2>/dev/null
set --
# four of them (274 s, ten windows) for the request that must still be running when a queued
# client gives up after 1 s: the release build decodes long.wav in about 0.7 s on a 2-core
# Xeon slice (the sanitizer build in 1.6 s)
sox "$DATA/long.wav" "$DATA/long.wav" "$DATA/long.wav" "$DATA/long.wav" "$DATA/vlong.wav" 2>/dev/null

"$SD" --fork --beam-size 1 120; check "a greedy daemon" [ $? -eq 0 ]
start_server; check "server starts" [ -n "$PORT" ]
T="$URL/v1/audio/transcriptions"

# Every request costs at least one 30 s window of decoding here (the synthetic model talks
# until its token limit), so the checks that need no long file use 1.2 s of speech or
# silence (which the daemon answers without model work), keeping the script short under the
# sanitizers.

# ---- http.client: on a three-window file the first delta comes long before done
$SSE "$PORT" "$DATA/long.wav" >"$DATA/s2"
t1=$(pyq "$DATA/s2" 'd["t_first_delta"]'); tD=$(pyq "$DATA/s2" 'd["t_done"]')
echo "# 68.6 s file, 3 windows: first delta after ${t1} s, done after ${tD} s (http.client)"
check "http.client: first delta well before done (first <= 60% of done, >= 0.3 s apart)" \
    python3 -c "import sys; a,b=float('$t1'),float('$tD'); sys.exit(not (a <= 0.6*b and b-a >= 0.3))"
check "http.client: 200 text/event-stream, 3 deltas (one per window), the last event done" \
    jq_py "$DATA/s2" "d['status']==200 and d['content_type'].startswith('text/event-stream') and [e['data']['type'] for e in d['events']]==['transcript.text.delta']*3+['transcript.text.done'] and d['events'][-1]['event'] is None"
check "http.client: done's text is the deltas joined" \
    jq_py "$DATA/s2" "''.join(e['data']['delta'] for e in d['events'][:-1])==d['events'][-1]['data']['text']!=''"

# ---- curl -N: the bytes on the wire; the same text as without stream
curl -sN --max-time 120 -D "$DATA/s1.h" -F "file=@$DATA/speech.wav" -F model=whisper-1 \
     -F stream=true "$T" >"$DATA/s1"
check "curl -N stream=true: 200 text/event-stream, chunked" \
    sh -c "grep -q '^HTTP/1.1 200' '$DATA/s1.h' && grep -qi '^content-type: text/event-stream' '$DATA/s1.h' && grep -qi '^transfer-encoding: chunked' '$DATA/s1.h'"
nd=$(events_ok "$DATA/s1")
check "curl -N: only 'data: JSON' events, deltas ($nd) then done = the deltas joined" [ "${nd:-0}" -ge 1 ]
st=$(req "$DATA/s1j" -F "file=@$DATA/speech.wav" -F model=whisper-1 "$T")
plain=$(pyq "$DATA/s1j" 'd["text"]')
streamed=$(python3 -c 'import sys,json; print(json.loads(open(sys.argv[1]).read().split("\n\n")[-2][6:])["text"])' "$DATA/s1")
check "done's text is the text the same file gets without stream" \
    sh -c "[ '$st' = 200 ] && [ -n '$plain' ] && [ '$plain' = '$streamed' ]"

# ---- the official OpenAI Python SDK: word timestamps (its stream=True on a short file is
# checked by http_clients.sh, sdk_python_check.py; an error event below)
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
    "$VENV/bin/python" - "$URL" "$DATA/speech.wav" <<'PY'
import sys, openai
from openai import OpenAI
url, speech = sys.argv[1:3]
c = OpenAI(base_url=url + "/v1", api_key="sk-local", max_retries=0, timeout=120)
def report(name, good):
    print(("ok - " if good else "not ok - ") + name, flush=True)
with open(speech, "rb") as f:
    v = c.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                      timestamp_granularities=["word"])
w = v.words or []
report(f"SDK verbose_json + word granularity: {len(w)} TranscriptionWord (word, start, end), no segments",
       len(w) > 0 and v.segments is None and all(type(x).__name__ == "TranscriptionWord" for x in w)
       and all(0 <= x.start <= x.end <= v.duration + 0.01 and x.word == x.word.strip() for x in w)
       and all(w[i].start <= w[i + 1].start for i in range(len(w) - 1)))
PY
else
    skip "official OpenAI Python SDK" "no $VENV with openai (sh scripts/install-deps.sh makes it)"
fi

# ---- what reaches the daemon: its request files, read while it is stopped
DPID=$(daemon_pid)
kill -STOP "$DPID"
curl -s --max-time 60 -o "$DATA/w1" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=true \
     -F priority=interactive "$T" &
C1=$!
curl -s --max-time 60 -o "$DATA/w2" -F "file=@$DATA/silence.wav" -F model=whisper-1 \
     -F response_format=verbose_json -F 'timestamp_granularities[]=word' "$T" &
C2=$!
_i=0; while [ "$(ls "$REQ" | grep -c '\.json$')" -lt 2 ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
# the two request files, one JSON object a line
for _f in "$REQ"/*.json; do cat "$_f"; echo; done >"$DATA/wire" 2>/dev/null
wire() { python3 -c 'import json,sys
rs=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if any(eval(sys.argv[2]) for r in rs) else 1)' "$DATA/wire" "$1"; }
check "stream + priority=interactive reach the daemon as \"stream\": true, \"priority\": \"interactive\"" \
    wire "r.get('stream') is True and r.get('priority')=='interactive' and 'word_timestamps' not in r"
check "word granularity reaches it as \"word_timestamps\": true, priority defaulting to \"batch\"" \
    wire "r.get('word_timestamps') is True and r.get('priority')=='batch' and 'stream' not in r"
# a client that leaves before the daemon claimed its request: the request file is withdrawn
kill "$C2"; wait "$C2" 2>/dev/null
server_log_wait 5 'cancelled (withdrawn)'
check "a client gone before the daemon claimed its request: withdrawn, one request file left" \
    sh -c "grep -q 'cancelled (withdrawn)' '$ROOT/http.$NSERVER.log' && [ \$(ls '$REQ' | grep -c json) -eq 1 ]"
kill -CONT "$DPID"
wait "$C1"
check "the stopped daemon, continued, answers the streaming request" \
    grep -q '^data: {"type":"transcript.text.done"' "$DATA/w1"

# ---- priority and stream validation
st=$(req "$DATA/p1" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F priority=urgent "$T")
check "priority=urgent: 400, param priority" \
    jq_py "$DATA/p1" "d['error']['param']=='priority' and d['error']['code']=='invalid_value' and $st==400"
st=$(req "$DATA/p2" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F priority=batch "$T")
check "priority=batch: 200" [ "$st" = 200 ]
st=$(req "$DATA/p3" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=true -F response_format=srt "$T")
check "stream=true with srt: 400, param response_format" \
    jq_py "$DATA/p3" "d['error']['param']=='response_format' and $st==400"
st=$(req "$DATA/p4" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=true "$URL/v1/audio/translations")
check "stream=true on translations (OpenAI has none): 400, param stream" \
    jq_py "$DATA/p4" "d['error']['param']=='stream' and d['error']['code']=='unsupported_value' and $st==400"
st=$(req "$DATA/p5" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=maybe "$T")
check "stream=maybe: 400, param stream" jq_py "$DATA/p5" "d['error']['param']=='stream' and $st==400"

# ---- OpenAI's keywords ("words or phrases to guide transcription", a list the SDKs send as
# keywords[] parts) reach the daemon as its "hotwords" when the form has none of its own;
# they had been dropped without a word
spool_empty 10 >/dev/null
DPID=$(daemon_pid)
kill -STOP "$DPID"
KW=""
NKW=2
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
    "$VENV/bin/python" - "$URL" "$DATA/silence.wav" >"$DATA/k1" 2>&1 <<'PY' &
import sys
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="sk-local", max_retries=0, timeout=60)
with open(sys.argv[2], "rb") as f:
    print(repr(c.audio.transcriptions.create(model="whisper-1", file=f, keywords=["Kubernetes", "PyTorch"]).text))
PY
    KW=$!
    NKW=3
else
    skip "SDK keywords" "no $VENV with openai"
fi
curl -s --max-time 60 -o "$DATA/k2" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F keywords=Kubernetes \
     -F hotwords=Grafana "$T" &
K2=$!
curl -s --max-time 60 -o "$DATA/k3" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F "keywords=just one" "$T" &
K3=$!
_i=0; while [ "$(ls "$REQ" | grep -c '\.json$')" -lt $NKW ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
for _f in "$REQ"/*.json; do cat "$_f"; echo; done >"$DATA/wire" 2>/dev/null
if [ -n "$KW" ]; then
    check "SDK keywords=['Kubernetes', 'PyTorch'] reach the daemon as \"hotwords\": \"Kubernetes, PyTorch\"" \
        wire "r.get('hotwords')=='Kubernetes, PyTorch'"
fi
check "a form's hotwords win over its keywords (\"hotwords\": \"Grafana\")" wire "r.get('hotwords')=='Grafana'"
check "one keywords field: \"hotwords\": \"just one\"" wire "r.get('hotwords')=='just one'"
kill -CONT "$DPID"
wait $KW $K2 $K3
check "... and each is answered once the daemon goes on" \
    sh -c "grep -q '^{\"text\":\"\"' '$DATA/k2' && grep -q '^{\"text\":\"\"' '$DATA/k3' && { [ -z '$KW' ] || [ \"\$(cat '$DATA/k1')\" = \"''\" ]; }"
st=$(req "$DATA/k4" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F "keywords=$(printf '%05000d' 0)" "$T")
check "keywords over 4096 bytes: 400, param keywords" \
    jq_py "$DATA/k4" "d['error']['param']=='keywords' and d['error']['code']=='invalid_value' and $st==400"

# ---- clients that go away: their running / pending requests are cancelled
spool_empty 10 >/dev/null
# running_wait: waits for the daemon to begin a request (processing/{id}.0 -> {id}.1)
running_wait() {
    _i=0; while ! ls "$PROC" | grep -q '\.1$' && [ $_i -lt 600 ]; do sleep 0.02; _i=$((_i + 1)); done
    sleep 0.2
}
# a plain request, running: the client leaves once the daemon has begun it
curl -s --max-time 120 -o /dev/null -F "file=@$DATA/long.wav" -F model=whisper-1 "$T" &
CP=$!
running_wait; kill "$CP"; wait "$CP" 2>/dev/null
server_log_wait 20 'cancelled (running)'
check "plain request, client gone while it ran: cancelled (running)" \
    grep -q 'cancelled (running)' "$ROOT/http.$NSERVER.log"
cid=$(sed -n 's/.* request \([0-9_]*\): cancelled (running)$/\1/p' "$ROOT/http.$NSERVER.log" | tail -1)
check "  ... the daemon's log: cancel target=$cid state=running, answered code=cancelled" \
    sh -c "[ -n '$cid' ] && grep -q 'cancel id=.* target=$cid state=running' '$DLOG' && grep -q 'answered id=$cid code=cancelled' '$DLOG'"
spool_empty 10; check "  ... requests/, responses/ (no partial file), processing/, uploads empty" [ $? -eq 0 ]

# a stream, running: the client leaves after its first delta
n0=$(grep -c 'cancelled (running)' "$ROOT/http.$NSERVER.log")
$SSE "$PORT" "$DATA/long.wav" --leave-after 1 >"$DATA/s3"
_i=0; while [ "$(grep -c 'cancelled (running)' "$ROOT/http.$NSERVER.log")" -le "$n0" ] && [ $_i -lt 300 ]; do sleep 0.05; _i=$((_i + 1)); done
check "stream, client gone after its first delta (before done): cancelled (running)" \
    sh -c "[ \$(grep -c 'cancelled (running)' '$ROOT/http.$NSERVER.log') -gt $n0 ]"
check "  ... it had a delta and no done when it left" jq_py "$DATA/s3" "d['t_first_delta'] and not d['t_done']"
spool_empty 10; check "  ... nothing left in the spool" [ $? -eq 0 ]

# a pending request (queued behind a running one) whose client leaves: cancelled while
# pending; then the running one's client leaves too
curl -s --max-time 120 -o /dev/null -F "file=@$DATA/vlong.wav" -F model=whisper-1 "$T" &
CA=$!
running_wait
n0=$(grep -c 'cancelled (running)' "$ROOT/http.$NSERVER.log")
curl -s --max-time 1 -o /dev/null -F "file=@$DATA/speech.wav" -F model=whisper-1 "$T"
server_log_wait 20 'cancelled (pending)'
check "a request queued behind another, client gone: cancelled (pending)" \
    grep -q 'cancelled (pending)' "$ROOT/http.$NSERVER.log"
kill "$CA"; wait "$CA" 2>/dev/null
_i=0; while [ "$(grep -c 'cancelled (running)' "$ROOT/http.$NSERVER.log")" -le "$n0" ] && [ $_i -lt 300 ]; do sleep 0.05; _i=$((_i + 1)); done
check "  ... and the one that ran, when its client leaves: cancelled (running)" \
    [ "$(grep -c 'cancelled (running)' "$ROOT/http.$NSERVER.log")" -gt "$n0" ]
spool_empty 10; check "  ... nothing left in the spool" [ $? -eq 0 ]

# ---- an error after the stream started: an 'event: error' that the SDK raises as APIError.
# Made deterministic on a loaded machine: the daemon is stopped before the request comes,
# and the test writes the request's first partial line itself (as the daemon would), so the
# stream starts at once and --transcribe-timeout (3 s) surely passes after that delta. With
# --idle-timeout 2 the stream meanwhile has nothing to send but keep-alive comments (every
# 1 s), which must keep the connection open and which clients ignore. The request was never
# claimed, so the server then withdraws it.
stop_server "$SPID"
start_server --transcribe-timeout 3 --idle-timeout 2
DPID=$(daemon_pid)
# fake_first_line: waits for the request file, writes its partial file's first line
fake_first_line() {
    _i=0; while ! ls "$REQ" | grep -q '\.json$' && [ $_i -lt 250 ]; do sleep 0.02; _i=$((_i + 1)); done
    FID=$(ls "$REQ" | sed -n 's/\.json$//p' | head -1)
    (umask 077; printf '{"i": 0, "start": 0.0, "end": 1.0, "text": " Hello there."}\n' >"$RESP/.$FID.partial")
}
kill -STOP "$DPID"
$SSE "$PORT" "$DATA/speech.wav" >"$DATA/s4" &
CS=$!
fake_first_line; wait "$CS"
rm -f "$RESP/.$FID.partial"
check "timeout after a delta: keep-alive comments, then 'event: error' (type error, code timeout), no done" \
    jq_py "$DATA/s4" "d['events'][0]['data']=={'type':'transcript.text.delta','delta':'Hello there.'} and d['comments']>=2 and d['events'][-1]['event']=='error' and d['events'][-1]['data']['type']=='error' and d['events'][-1]['data']['error']['code']=='timeout' and not d['t_done'] and len(d['events'])==2"
server_log_wait 10 'cancelled (withdrawn)'
check "  ... the request, still unclaimed, is withdrawn" grep -q 'cancelled (withdrawn)' "$ROOT/http.$NSERVER.log"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
    "$VENV/bin/python" - "$URL" "$DATA/speech.wav" >"$DATA/s5" <<'PY' &
import sys, openai
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="sk-local", max_retries=0, timeout=60)
got, err = [], None
try:
    with open(sys.argv[2], "rb") as f:
        for e in c.audio.transcriptions.create(model="whisper-1", file=f, stream=True):
            got.append(e)
except openai.APIError as e:
    err = e
good = (err is not None and [e.delta for e in got] == ["Hello there."]
        and "in time" in err.message and err.body.get("code") == "timeout")
print(("ok - " if good else "not ok - ") + "SDK: a delta, keep-alive comments, then the error "
      "event raises openai.APIError (code timeout)")
PY
    CS=$!
    fake_first_line; wait "$CS"
    rm -f "$RESP/.$FID.partial"
    cat "$DATA/s5"
else
    skip "SDK: the error event raises openai.APIError" "no $VENV with openai"
fi
kill -CONT "$DPID"
spool_empty 10; check "  ... nothing left in the spool" [ $? -eq 0 ]

stop_server "$SPID"; check "server stops cleanly" [ $? -eq 0 ]
san_clean
finish
