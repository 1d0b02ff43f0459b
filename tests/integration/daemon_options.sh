#!/bin/sh
# Per-request decoding options (docs/daemon.md, "Request fields"): language, task, prompt,
# temperature reach the engine for that request only; invalid ones are answered bad_request;
# the spec's plain request is unchanged. The synthetic multilingual model decodes nonsense:
# the checks are on structure and on the "language" the engine reports, never on words.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc

# resp_ok ID PY-EXPR: resp_eval, then the response removed
resp_ok() {
    resp_eval "$1" "$2"
    _r=$?
    rm -f "$RESP/$1.json"
    return $_r
}

# greedy, and English by default: a request's language must override it for that request only
start_daemon --beam-size 1 --language en 60; rc=$?
check "daemon started (exit $rc)" [ $rc -eq 0 -a -n "$(daemon_pid)" ]

request_json o1 '{"language": "de", "task": "translate"}' "$DATA/speech.wav"
check "language de + task translate: success, response language de" \
    resp_ok o1 "'error' not in d and isinstance(d['results'], list) and d['language']=='de' and 'segments' in d"
request p1 "$DATA/speech.wav"
check "the spec's plain request after it: the daemon's default (en) again" \
    resp_ok p1 "'error' not in d and set(['id','results','timestamp','device','session_active'])<=set(d) and d['id']=='p1' and d['language']=='en'"
request_json o2 '{"language": "fr", "prompt": "Bonjour, ceci est un test.", "temperature": 0.6}' "$DATA/speech.wav"
check "prompt + temperature 0.6 (sampling) + language fr: success, language fr" \
    resp_ok o2 "'error' not in d and d['language']=='fr'"
request_json o3 '{"language": "auto", "task": "transcribe", "temperature": 0}' "$DATA/speech.wav"
check "language auto (detect): success with a detected code" \
    resp_ok o3 "'error' not in d and isinstance(d['language'], str) and 2<=len(d['language'])<=3"
request_json e1 '{"language": "xx"}' "$DATA/speech.wav"
check "unknown language: error_code bad_request, results [], a message naming it" \
    resp_ok e1 "d['error_code']=='bad_request' and d['results']==[] and 'xx' in d['error']"
request_json e2 '{"task": "summarize"}' "$DATA/speech.wav"
check "unknown task: bad_request" resp_ok e2 "d['error_code']=='bad_request'"
request_json e3 '{"temperature": 1.5}' "$DATA/speech.wav"
check "temperature out of range: bad_request" resp_ok e3 "d['error_code']=='bad_request'"
request_json e4 "{\"prompt\": \"$(head -c 4097 /dev/zero | tr '\0' a)\"}" "$DATA/speech.wav"
check "prompt over 4096 bytes: bad_request" resp_ok e4 "d['error_code']=='bad_request'"

request_json o4 '{"hotwords": "Kubernetes etcd", "audio_ctx": "auto"}' "$DATA/speech.wav"
check "hotwords + audio_ctx auto: success" resp_ok o4 "'error' not in d and isinstance(d['results'], list)"
request_json e5 '{"audio_ctx": 0}' "$DATA/speech.wav"
check "audio_ctx 0: bad_request naming audio_ctx" resp_ok e5 "d['error_code']=='bad_request' and 'audio_ctx' in d['error']"
# languages: detection among these (the test model alone detects macedonian)
request_json o5 '{"languages": ["fr", "it"]}' "$DATA/speech.wav"
check "languages [fr, it]: the detected language is one of them" resp_ok o5 "'error' not in d and d['language'] in ('fr','it')"
request_json o6 '{"language": "German"}' "$DATA/speech.wav"
check "language German (a name, as openai-whisper's): success, response language de" \
    resp_ok o6 "'error' not in d and d['language']=='de'"
request_json o7 '{"languages": ["French", "IT"]}' "$DATA/speech.wav"
check "languages [French, IT]: the detected language is fr or it" resp_ok o7 "'error' not in d and d['language'] in ('fr','it')"
request_json e6 '{"languages": ["fr", "xx"]}' "$DATA/speech.wav"
check "languages with an unknown code: bad_request naming languages" resp_ok e6 "d['error_code']=='bad_request' and 'languages' in d['error']"
request_json e7 '{"languages": ["yue"]}' "$DATA/speech.wav"
check "languages [yue], a code this model has no token for: bad_request at decode time" \
    resp_ok e7 "d['error_code']=='bad_request' and 'yue' in d['error']"
request_json e8 '{"language": "Cantonese"}' "$DATA/speech.wav"
check "language Cantonese (yue), a code this model has no token for: bad_request saying so" \
    resp_ok e8 "d['error_code']=='bad_request' and \"'yue' is not one this model knows\" in d['error']"
request_json o8 '{"language": "AUTO"}' "$DATA/speech.wav"
check "language AUTO: detection, as auto" resp_ok o8 "'error' not in d and d['language']"

# session_client passes the options through
out=$("$SC" transcribe "$DATA/speech.wav" --json --language de --task translate --prompt "Hallo" --temperature 0 --timeout 120); rc=$?
check "session_client --language de --task translate --prompt --temperature: language de" \
    sh -c "[ $rc -eq 0 ] && echo '$out' | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert \"error\" not in d and d[\"language\"]==\"de\"'"
"$SC" transcribe "$DATA/speech.wav" --language xx >/dev/null 2>"$DATA/err"; rc=$?
check "session_client --language xx: error response, exit 1, bad_request named" \
    sh -c "[ $rc -eq 1 ] && grep -q bad_request '$DATA/err'"
out=$("$SC" transcribe "$DATA/speech.wav" --json --languages it,fr --timeout 120); rc=$?
check "session_client --languages it,fr: the language is one of them" \
    sh -c "[ $rc -eq 0 ] && echo '$out' | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d[\"language\"] in (\"it\",\"fr\")'"
"$SC" transcribe "$DATA/speech.wav" --languages en,xx >/dev/null 2>&1
check "session_client --languages en,xx: usage, exit 100" [ $? -eq 100 ]
"$SC" transcribe "$DATA/speech.wav" --task summarize >/dev/null 2>&1
check "session_client --task summarize: usage, exit 100" [ $? -eq 100 ]
"$SC" transcribe "$DATA/speech.wav" --temperature 1.5 >/dev/null 2>&1
check "session_client --temperature 1.5: usage, exit 100" [ $? -eq 100 ]
out=$("$SC" transcribe "$DATA/speech.wav" --json --hotwords "Kubernetes" --audio-ctx 128 --timeout 120); rc=$?
check "session_client --hotwords --audio-ctx 128: success" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q results"
"$SC" transcribe "$DATA/speech.wav" --audio-ctx 0 >/dev/null 2>&1
check "session_client --audio-ctx 0: usage, exit 100" [ $? -eq 100 ]
"$SC" transcribe "$DATA/speech.wav" --temperature 2 2>"$DATA/bad.err" >/dev/null; rc=$?
check "session_client --temperature 2: exit 100 naming the option and value" \
    sh -c "[ $rc -eq 100 ] && grep -q \"bad value for --temperature: '2'\" '$DATA/bad.err'"
"$SC" transcribe "$DATA/speech.wav" --prompt "$(head -c 4097 /dev/zero | tr '\0' a)" 2>"$DATA/bad.err" >/dev/null; rc=$?
"$SC" transcribe "$DATA/speech.wav" --hotwords "$(printf 'a\377b')" >/dev/null 2>"$DATA/bad2.err"; rc2=$?
check "session_client --prompt over 4096 bytes, --hotwords not UTF-8: usage, exit 100 (was 111)" \
    sh -c "[ $rc -eq 100 ] && [ $rc2 -eq 100 ] && grep -q 'bad value for --prompt' '$DATA/bad.err' && [ \$(wc -c <'$DATA/bad.err') -lt 4000 ]"
# the refused value as text: the byte that is not UTF-8 as \xff (it had been echoed raw, and
# a short value got no reason)
check "session_client: a value that is not UTF-8 shown escaped, with the reason" \
    grep -q "bad value for --hotwords: 'a\\\\xffb' (over 4096 bytes or not UTF-8)" "$DATA/bad2.err"
"$SC" transcribe "$DATA/speech.wav" --timeout 120 >/dev/full 2>"$DATA/full.err"; rc=$?
check "session_client to a full disk: exit 111 and says so (was 0)" \
    sh -c "[ $rc -eq 111 ] && grep -q 'cannot write the output' '$DATA/full.err'"
check "no request or response left" [ -z "$(ls -A "$REQ")" -a -z "$(ls -A "$RESP")" ]
"$SC" stop >/dev/null
wait_no_daemon 5 >/dev/null 2>&1

# --compute: an unknown value is a usage error; int8 takes the (f16) model's matrices as q8_0
# x int8 on a CPU with AVX2, and the status file's device_name says so
"$SD" --compute fp8 60 >/dev/null 2>&1
check "session_daemon --compute fp8: usage, exit 100" [ $? -eq 100 ]
start_daemon --compute int8 --beam-size 1 60; rc=$?
check "daemon --compute int8 started (exit $rc)" [ $rc -eq 0 -a -n "$(daemon_pid)" ]
out=$("$SC" transcribe "$DATA/speech.wav" --json --timeout 120); rc=$?
check "--compute int8: a transcription" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q results"
if grep -q avx2 /proc/cpuinfo; then
    check "--compute int8: device_name names the int8 products" \
        grep -q '"device_name": *"CPU ([^"]*x int8' "$ROOT/session_daemon_status.json"
fi
"$SC" stop >/dev/null
# SPEECH_SESSION_ISA=avx2: an AVX2-only CPU's path on this one (its int8 products are the
# vpmaddubsw kernel on a CPU with AVX-512: pair-bounded on Intel, exact elsewhere), named in device_name
if grep -q avx2 /proc/cpuinfo; then
    wait_no_daemon 5 >/dev/null 2>&1
    export SPEECH_SESSION_ISA=avx2
    start_daemon --compute int8 --beam-size 5 60; rc=$?
    unset SPEECH_SESSION_ISA
    check "SPEECH_SESSION_ISA=avx2 daemon started (exit $rc)" [ $rc -eq 0 -a -n "$(daemon_pid)" ]
    out=$("$SC" transcribe "$DATA/speech.wav" --json --timeout 120); rc=$?
    check "SPEECH_SESSION_ISA=avx2: a transcription" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q results"
    check "SPEECH_SESSION_ISA=avx2: device_name says the AVX2 level" \
        grep -q '"device_name": *"CPU (avx2+fma, quantized weights x int8' "$ROOT/session_daemon_status.json"
    if grep -q avx512f /proc/cpuinfo; then
        check "... and, on an AVX-512 CPU, the AVX2 int8 kernel" \
            grep -Eq '"device_name": *"CPU \(avx2\+fma, quantized weights x int8 AVX2( with pair-bounded q8_0)?,' \
            "$ROOT/session_daemon_status.json"
    fi
    "$SC" stop >/dev/null
fi

# "language" with nothing heard (digital silence): an English-only model's is "en" (it had
# been missing), a multilingual model asked to detect has none to report (not a guess)
start_daemon -m "$(realpath tests/data/models/micro.en-f16.bin)" --beam-size 1 60
request_json en1 '{}' "$DATA/silence.wav"
check "English-only model, silence: language en, no results" resp_ok en1 "d.get('language')=='en' and d['results']==[]"
# what such a model cannot do is said in "warning" (it had been silently ignored: German asked,
# English given, no word of it), as transcribe and openai's CLI say it on stderr
request_json en2 '{"language": "de", "task": "translate"}' "$DATA/speech.wav"
check "English-only model, language de + task translate: transcribed, warning says both were ignored" \
    resp_ok en2 "'error' not in d and d['language']=='en' and 'English-only' in d.get('warning','') and '\"de\"' in d['warning'] and 'translate' in d['warning']"
request_json en3 '{"language": "en"}' "$DATA/speech.wav"
check "English-only model, language en: no warning" resp_ok en3 "'error' not in d and 'warning' not in d"
"$SC" stop >/dev/null
start_daemon --beam-size 1 60
request_json ml1 '{"language": "auto"}' "$DATA/silence.wav"
check "multilingual model, auto, silence: no language claimed" resp_ok ml1 "'language' not in d and d['results']==[]"
"$SC" stop >/dev/null

# a relative model path from another directory: --fork changes to / before loading (the path
# had never opened); made absolute first
(cd tests/data && "$SD" --fork -m models/micro-f16.bin --beam-size 1 60); rc=$?
check "relative --model with --fork: started (exit $rc)" [ $rc -eq 0 -a -n "$(daemon_pid)" ]
out=$("$SC" transcribe "$DATA/speech.wav" --json --timeout 60); rc=$?
check "relative --model with --fork: a transcription" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q results"
"$SC" stop >/dev/null
# a default language set the model cannot serve is refused at start, not per request
"$SD" --fork --languages en,yue 30 2>/dev/null; rc=$?
check "--languages en,yue on a model without yue: exit 100 at start" [ $rc -eq 100 ]
check "... the log names the language" grep -q 'no token for language "yue"' "$ROOT/session_daemon.log"
"$SC" stop >/dev/null 2>&1
san_clean
finish
