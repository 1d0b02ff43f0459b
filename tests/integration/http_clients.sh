#!/bin/sh
# Real clients against session_http (issue 16, and the HTTP items of issue 11): the official
# OpenAI Python SDK and Python requests (from the private .venv that scripts/install-deps.sh
# makes; skipped, and said so, when it is missing), the OpenAI Node SDK's request bodies
# (tests/data/http/node-sdk/: constructed to match its wire format, see
# tests/tools/node_sdk_fixtures.py) replayed byte for byte, as-is, chunked and behind
# "Expect: 100-continue", curl, and multipart bodies as RFC 2046/7578 allow them; a
# truncated upload refused; stream=true answered as events; an empty token refused at start.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/http_common.inc
VENV=${SPEECH_SESSION_VENV:-.venv}
NODE=tests/data/http/node-sdk
TOKEN=sk-local   # the Node fixtures carry "authorization: Bearer sk-local"
skip() { echo "ok - $1 # SKIP $2"; }   # TAP: tests/run.sh counts it as skipped
replay() { python3 tests/tools/http_replay.py "$PORT" "$@"; }
status_json() { [ "$1" = "$2" ] && jq_py "$3" "$4"; }   # STATUS EXPECTED FILE EXPR
processed() { "$SC" status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["processed"])'; }
# the count once the status file has caught up: the daemon coalesces counter updates for up to
# 0.25 s (STATUS_COALESCE_S), so a response can be in place before its count is published;
# read until two reads 0.3 s apart agree (a full run once read 8 before and 9 after the
# truncated uploads, the 9th being the request answered just before)
settled() {
    a=$(processed); i=0
    while [ $i -lt 20 ]; do sleep 0.3; b=$(processed); [ "$a" = "$b" ] && break; a=$b; i=$((i + 1)); done
    echo "$a"
}

# ---- an empty token is a mistake, not "no authentication" (issue 11)
timeout 10 "$SH" --listen 127.0.0.1:0 --token "" >"$DATA/et.out" 2>"$DATA/et.err"
check "--token \"\" is refused at start (exit 100, nothing served)" \
    sh -c "[ $? -eq 100 ] && ! grep -q listening '$DATA/et.out' && grep -q 'token is empty' '$DATA/et.err'"
SPEECH_SESSION_HTTP_TOKEN= timeout 10 "$SH" --listen 127.0.0.1:0 >"$DATA/et.out" 2>/dev/null
check "an empty SPEECH_SESSION_HTTP_TOKEN is refused at start (exit 100)" \
    sh -c "[ $? -eq 100 ] && ! grep -q listening '$DATA/et.out'"
# a refused value is named, and a count is a whole number ("2.5" had been taken as 2)
timeout 10 "$SH" --listen 127.0.0.1:0 --max-connections 2.5 >"$DATA/et.out" 2>"$DATA/et.err"
check "--max-connections 2.5: exit 100, named on stderr" \
    sh -c "[ $? -eq 100 ] && grep -q \"bad value for --max-connections: '2.5'\" '$DATA/et.err'"

"$SD" --fork --beam-size 1 120; check "a greedy daemon for the client tests" [ $? -eq 0 ]
SPEECH_SESSION_HTTP_TOKEN=$TOKEN start_server; check "server with a token starts" [ -n "$PORT" ]
T="$URL/v1/audio/transcriptions"

# ---- the Node SDK's bodies, byte for byte (epilogue CRLF CRLF, application/octet-stream)
st=$(replay $NODE/transcription-json.req "$DATA/n1")
check "Node SDK transcription (json, speech): 200 {text: non-empty}" \
    status_json "$st" 200 "$DATA/n1" "list(d)==['text','usage'] and d['text'].strip() and d['usage']['type']=='duration'"
st=$(replay $NODE/transcription-verbose.req "$DATA/n2")
check "Node SDK verbose_json + timestamp_granularities[] + language + temperature: 200" \
    status_json "$st" 200 "$DATA/n2" "d['language']=='english' and abs(d['duration']-0.5)<0.01 and d['segments']==[]"
st=$(replay $NODE/translation-srt.req "$DATA/n3")
check "Node SDK translation (srt): 200" [ "$st" = 200 ]
st=$(replay $NODE/transcription-vtt-utf8.req "$DATA/n4")
check "Node SDK vtt, UTF-8 prompt and file name, file part last: 200 WEBVTT" \
    sh -c "[ '$st' = 200 ] && head -1 '$DATA/n4' | grep -qx WEBVTT"
st=$(replay $NODE/transcription-text.req "$DATA/n5")
check "Node SDK text: 200, a newline" sh -c "[ '$st' = 200 ] && [ \"\$(od -An -tx1 '$DATA/n5' | tr -d ' ')\" = 0a ]"
st=$(replay $NODE/transcription-stream.req "$DATA/n6")
check "Node SDK stream: true: 200 server-sent events ending with transcript.text.done" \
    sh -c "[ '$st' = 200 ] && tail -c 300 '$DATA/n6' | grep -q '^data: {\"type\":\"transcript.text.done\"'"
st=$(replay $NODE/transcription-text.req "$DATA/n7" --chunked 997)
check "Node SDK body sent chunked (997-byte chunks): 200" [ "$st" = 200 ]
st=$(replay $NODE/transcription-verbose.req "$DATA/n8" --chunked 5 --expect)
check "Node SDK body chunked in 5-byte chunks after Expect: 100-continue: 200" \
    status_json "$st" 200 "$DATA/n8" "abs(d['duration']-0.5)<0.01"
st=$(replay $NODE/transcription-text.req "$DATA/n9" --expect)
check "Node SDK body with Content-Length after Expect: 100-continue: 200" [ "$st" = 200 ]

# ---- a truncated upload is refused, nothing is transcribed (issue 11, defect 4)
before=$(settled)
st=$(replay $NODE/transcription-json.req "$DATA/tr1" --truncate 0.4)
check "body cut at 40% (Content-Length of the cut body): 400 OpenAI error truncated_body" \
    status_json "$st" 400 "$DATA/tr1" "set(d['error'])=={'message','type','param','code'} and d['error']['code']=='truncated_body'"
st=$(replay $NODE/transcription-json.req "$DATA/tr2" --truncate 0.999 --chunked 4096)
check "chunked body cut inside the closing delimiter: 400" [ "$st" = 400 ]
check "nothing of the truncated uploads reached the daemon" [ "$(settled)" = "$before" ]

# ---- curl: chunked and Expect: 100-continue
st=$(req "$DATA/c1" -H "Authorization: Bearer $TOKEN" -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' \
     -F "file=@$DATA/silence.wav;type=application/octet-stream" -F model=whisper-1 -F response_format=verbose_json "$T")
check "curl chunked + Expect: 100-continue, octet-stream file: 200" \
    status_json "$st" 200 "$DATA/c1" "abs(d['duration']-0.5)<0.01"

# ---- bodies as RFC 2046/7578 allow them (built here, sent with curl --data-binary)
python3 - "$DATA" <<'PY'
import sys
d = sys.argv[1]
wav = open(d + "/silence.wav", "rb").read()
def part(b, headers, value):
    return b"--" + b + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + value + b"\r\n"
b = b"a b:c=?'()+_,-./"   # quoted: has a space
body = (b"a preamble that must be ignored\r\n" +
        part(b, [b"content-disposition: form-data; name=\"model\""], b"whisper-1") +
        part(b, [b"CONTENT-TYPE: text/plain; charset=binary",
                 b"Content-Disposition: form-data; name=\"file\"; filename=\"x.bin\"; filename*=UTF-8''%C3%A9t%C3%A9.wav"], wav) +
        part(b, [b"Content-Disposition: form-data; name=response_format"], b"verbose_json") +
        b"--" + b + b"--\r\nand an epilogue, also ignored\r\n")
open(d + "/rfc1.body", "wb").write(body)
b70 = b"7" * 70
open(d + "/rfc2.body", "wb").write(
    part(b70, [b"Content-Disposition: form-data; name=\"file\"; filename=\"s.wav\""], wav) +
    part(b70, [b"Content-Disposition: form-data; name=\"model\""], b"whisper-1") + b"--" + b70 + b"--")
open(d + "/rfc3.body", "wb").write(
    part(b"B", [b"Content-Disposition: form-data; name=\"file\"; filename=\"s.wav\""], wav) +
    part(b"B", [b"Content-Disposition: form-data; name=\"model\""], b"whisper-1"))   # no closing delimiter
# boundary lines ended by a bare LF (RFC 2046 wants CRLF): the rest runs into the first part
lf = lambda b, name, extra, value: b"--" + b + b"\nContent-Disposition: form-data; name=\"" + name + b"\"" + extra + b"\n\n" + value + b"\n"
open(d + "/lf1.body", "wb").write(lf(b"XyZ", b"model", b"", b"whisper-1") +
                                  lf(b"XyZ", b"file", b"; filename=\"s.wav\"", wav) + b"--XyZ--\n")
open(d + "/lf2.body", "wb").write(lf(b"XyZ", b"file", b"; filename=\"s.wav\"", wav[:64]) +
                                  lf(b"XyZ", b"model", b"", b"whisper-1") + b"--XyZ--\n")
PY
st=$(req "$DATA/r1" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=\"a b:c=?'()+_,-./\"" \
     --data-binary @"$DATA/rfc1.body" "$T")
check "quoted boundary with a space, preamble, epilogue, header case, filename*=, text/plain file type, fields after the file: 200" \
    status_json "$st" 200 "$DATA/r1" "abs(d['duration']-0.5)<0.01"
st=$(req "$DATA/r2" -H "Authorization: Bearer $TOKEN" -H "Content-Type: Multipart/Form-Data; BOUNDARY=$(printf '7%.0s' $(seq 70))" \
     --data-binary @"$DATA/rfc2.body" "$T")
check "70-character unquoted boundary, no CRLF after the closing delimiter: 200" [ "$st" = 200 ]
st=$(req "$DATA/r3" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=$(printf '7%.0s' $(seq 71))" \
     --data-binary @"$DATA/rfc2.body" "$T")
check "71-character boundary: 400 invalid_content_type" sh -c "[ '$st' = 400 ] && grep -q invalid_content_type '$DATA/r3'"
st=$(req "$DATA/r4" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=B" \
     --data-binary @"$DATA/rfc3.body" "$T")
check "a whole-looking body without its closing delimiter: 400 truncated_body" \
    sh -c "[ '$st' = 400 ] && grep -q truncated_body '$DATA/r4'"
st=$(req "$DATA/r5" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=B" \
     --data-binary @"$DATA/rfc3.body" "$URL/transcribe")
check "/transcribe without the closing delimiter: 400 in the spec's shape" \
    status_json "$st" 400 "$DATA/r5" "isinstance(d['error'],str) and d['error_code']=='truncated_body'"
# the framing blamed (it had been "form field 'model' is malformed or longer than 8192 bytes",
# and truncated_body for the second)
st=$(req "$DATA/r5b" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=XyZ" \
     --data-binary @"$DATA/lf1.body" "$T")
check "boundary lines ended by a bare LF, model first: 400 invalid_multipart naming the bare LF" \
    status_json "$st" 400 "$DATA/r5b" "d['error']['code']=='invalid_multipart' and 'bare LF' in d['error']['message'] and d['error']['param'] is None"
st=$(req "$DATA/r5c" -H "Authorization: Bearer $TOKEN" -H "Content-Type: multipart/form-data; boundary=XyZ" \
     --data-binary @"$DATA/lf2.body" "$T")
check "... file first (a short one): 400 invalid_multipart naming the bare LF, not truncated_body" \
    status_json "$st" 400 "$DATA/r5c" "d['error']['code']=='invalid_multipart' and 'bare LF' in d['error']['message']"
st=$(req "$DATA/r6" -H "Authorization: Bearer $TOKEN" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=true "$T")
check "curl stream=true (silence): 200, only a done event with an empty text" \
    sh -c "[ '$st' = 200 ] && [ \"\$(cat '$DATA/r6')\" = 'data: {\"type\":\"transcript.text.done\",\"text\":\"\"}' ]"
st=$(req "$DATA/r7" -H "Authorization: Bearer $TOKEN" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F stream=false "$T")
check "curl stream=false: 200" [ "$st" = 200 ]

# ---- the official Python SDK and requests
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai, requests' 2>/dev/null; then
    printf 'this is not audio at all, just some text in a file\n' > "$DATA/notaudio.mp3"
    "$VENV/bin/python" tests/tools/sdk_python_check.py "$URL" "$TOKEN" "$DATA/speech.wav" \
        "$DATA/silence.wav" "$DATA/notaudio.mp3" > "$DATA/sdk.out" 2>&1
    cat "$DATA/sdk.out"
    PASS=$((PASS + $(grep -c '^ok ' "$DATA/sdk.out")))
    FAIL=$((FAIL + $(grep -c '^not ok ' "$DATA/sdk.out")))
    grep -q '^ok ' "$DATA/sdk.out" || nok "the Python SDK checks ran" "$(tail -5 "$DATA/sdk.out")"
else
    skip "official OpenAI Python SDK and requests" "no $VENV with openai and requests (sh scripts/install-deps.sh makes it)"
fi

check "every upload was removed" wait_uploads_gone 5
stop_server "$SPID"; check "SIGTERM: the server exits 0" [ $? -eq 0 ]
kill_all
san_clean
finish
