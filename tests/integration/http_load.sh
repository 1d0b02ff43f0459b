#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# session_http under load and abuse (docs/http.md): 50 uploads from 10 parallel clients, each
# answered with its own result; clients that disconnect mid-upload or while the daemon
# works; silent and dripping clients (timeouts); the bound on concurrent uploads; no upload
# file left behind; clean stop, sanitizers clean.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/http_common.inc

"$SD" --fork --beam-size 1 120; check "daemon (greedy) started" [ $? -eq 0 ]
start_server; check "server started" [ -n "$PORT" ]
T="$URL/v1/audio/transcriptions"

# the kinds of upload and what each must get back
printf 'this is not audio\n' > "$DATA/notaudio.wav"
printf 'RIFF\044\000\000\000WAVEfmt \020\000\000\000\001\000\001\000' > "$DATA/badwav.wav"
head -c 300 /dev/urandom >> "$DATA/badwav.wav"
st=$(req "$DATA/expect_speech" -F "audio=@$DATA/short.wav" "$URL/transcribe")
check "reference transcription of the short clip" jq_py "$DATA/expect_speech" "len(d['results'])>0"
st=$(req "$DATA/expect_speech_oai" -F "file=@$DATA/short.wav" -F model=whisper-1 -F response_format=text "$T")
check "reference transcription of the short clip (text)" [ "$st" = 200 ]

# client I does 5 requests; the kinds rotate so every client mixes them and the endpoints
client() {
    _i=$1
    for _j in 0 1 2 3 4; do
        _n=$((_i * 5 + _j))
        case $((_n % 10)) in
            0) _k=speech; _st=$(req "$DATA/out.$_n" -F "audio=@$DATA/short.wav" "$URL/transcribe") ;;
            5) _k=speech_oai; _st=$(req "$DATA/out.$_n" -F "file=@$DATA/short.wav" -F model=whisper-1 -F response_format=text "$T") ;;
            1|3|7) _k=silence; _st=$(req "$DATA/out.$_n" -F "audio=@$DATA/silence.wav" "$URL/transcribe") ;;
            2|6) _k=silence_oai; _st=$(req "$DATA/out.$_n" -F "file=@$DATA/silence.wav" -F model=whisper-1 -F response_format=verbose_json "$T") ;;
            4) _k=badwav; _st=$(req "$DATA/out.$_n" -F "audio=@$DATA/badwav.wav" "$URL/transcribe") ;;
            8) _k=notaudio; _st=$(req "$DATA/out.$_n" -F "file=@$DATA/notaudio.wav" -F model=whisper-1 "$T") ;;
            9) _k=nofile; _st=$(req "$DATA/out.$_n" -F "file=@$DATA/silence.wav" "$URL/transcribe") ;;
        esac
        echo "$_n $_k $_st" >> "$DATA/result.$_i"
    done
}
t0=$(date +%s%N)
i=0; CLIENTS=""
while [ $i -lt 10 ]; do client $i & CLIENTS="$CLIENTS $!"; i=$((i + 1)); done
for p in $CLIENTS; do wait "$p"; done
t1=$(date +%s%N)
echo "# 50 uploads from 10 clients: $(( (t1 - t0) / 1000000 )) ms"
cat "$DATA"/result.* > "$DATA/results"
python3 - "$DATA" <<'PY' > "$DATA/verdict"
import json, os, sys
d = sys.argv[1]
ref = json.load(open(os.path.join(d, "expect_speech")))
ref_txt = open(os.path.join(d, "expect_speech_oai")).read()
bad = []
lines = open(os.path.join(d, "results")).read().split("\n")
lines = [l for l in lines if l]
for l in lines:
    n, kind, st = l.split()
    body = open(os.path.join(d, "out." + n), "rb").read()
    def js():
        return json.loads(body)
    ok = False
    try:
        if kind == "speech": ok = st == "200" and js() == ref
        elif kind == "speech_oai": ok = st == "200" and body.decode() == ref_txt
        elif kind == "silence": ok = st == "200" and js() == {"results": []}
        elif kind == "silence_oai": ok = st == "200" and js()["text"] == "" and abs(js()["duration"] - 0.5) < 0.01
        elif kind == "badwav": ok = st == "400" and js()["error_code"] == "audio_format"
        elif kind == "notaudio": ok = st == "400" and js()["error"]["code"] == "invalid_file_format"
        elif kind == "nofile": ok = st == "400" and js() == {"error": "No audio file"}
    except Exception as e:
        pass
    if not ok: bad.append("%s %s %s %r" % (n, kind, st, body[:120]))
print(len(lines), len(bad))
for b in bad[:10]: print("#   " + b)
PY
read total nbad < "$DATA/verdict"
check "50 parallel uploads answered ($total), each with its own expected result ($nbad wrong)" [ "$total" = 50 -a "$nbad" = 0 ]
[ "$nbad" != 0 ] && sed 1d "$DATA/verdict"
check "no upload file left after the parallel run" wait_uploads_gone 5
check "no request or response left in the spool" \
    [ -z "$(ls -A "$ROOT/speech_session_requests" "$ROOT/speech_session_responses" 2>/dev/null | grep -v ':$' | grep -v '^$')" ]

# clients that go away: mid-upload (20 at once), and after the upload while the daemon works
cat > "$DATA/abuse.py" <<'PY'
import socket, sys, time, threading
port = int(sys.argv[2]); mode = sys.argv[1]
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
B = b"XbOuNdArYx"
def head(path, length, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" + B +
            b"\r\nContent-Length: " + str(length).encode() + b"\r\n" + extra + b"\r\n")
def part(name, data, filename=b"a.wav"):
    return (b"--" + B + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"; filename=\"" + filename +
            b"\"\r\nContent-Type: audio/wav\r\n\r\n" + data + b"\r\n")
if mode == "midupload":          # 20 clients each send part of a 200 KB upload, then vanish
    def one(k):
        s = conn()
        body = part(b"audio", open(sys.argv[3], "rb").read() + b"\0" * 200000) + b"--" + B + b"--\r\n"
        s.sendall(head(b"/transcribe", len(body)) + body[: 20000 + 1000 * k])
        time.sleep(0.05)
        if k % 2: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST
        s.close()
    ts = [threading.Thread(target=one, args=(k,)) for k in range(20)]
    [t.start() for t in ts]; [t.join() for t in ts]
elif mode == "afterupload":      # whole speech upload, then gone before the answer
    body = part(b"audio", open(sys.argv[3], "rb").read()) + b"--" + B + b"--\r\n"
    for k in range(3):
        s = conn(); s.sendall(head(b"/transcribe", len(body)) + body); time.sleep(0.1); s.close()
elif mode == "silent":           # headers never finished: closed by the idle timeout
    s = conn(); s.sendall(b"POST /transcribe HTTP/1.1\r\nHost: x\r\n")
    t = time.time(); r = s.recv(100); print("%.1f" % (time.time() - t))
elif mode == "drip":             # N uploads that trickle a byte every 0.3 s; prints what each got
    n = int(sys.argv[3]); socks = []
    for k in range(n):
        s = conn(); body_len = 100000
        s.sendall(head(b"/transcribe", body_len) + b"--" + B + b"\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\nRIFF")
        socks.append(s)
    open(sys.argv[4], "w").write("started\n")
    t = time.time(); got = [b""] * n; done = [False] * n
    while not all(done) and time.time() - t < 15:
        for k, s in enumerate(socks):
            if done[k]: continue
            try:
                s.sendall(b"x"); s.settimeout(0.01)
                try:
                    r = s.recv(4096)
                    if r: got[k] += r
                    else: done[k] = True
                except socket.timeout: pass
            except OSError: done[k] = True
        time.sleep(0.3)
    print("%.1f %s" % (time.time() - t, " ".join(g.split(b"\r\n")[0].decode().replace(" ", "_") or "closed" for g in got)))
PY
python3 "$DATA/abuse.py" midupload "$PORT" "$DATA/silence.wav"
st=$(req "$DATA/h1" "$URL/health")
check "server alive after 20 clients vanished mid-upload (half with RST)" [ "$st" = 200 ]
check "their partial uploads were removed" wait_uploads_gone 5
python3 "$DATA/abuse.py" afterupload "$PORT" "$DATA/short.wav"
st=$(req "$DATA/h2" "$URL/health")
check "server alive after clients left while the daemon worked" [ "$st" = 200 ]
check "their uploads were removed once the daemon answered" wait_uploads_gone 20
st=$(req "$DATA/a1" -F "audio=@$DATA/silence.wav" "$URL/transcribe")
check "a canary upload afterwards succeeds" sh -c "[ $st = 200 ] && [ \"\$(cat '$DATA/a1')\" = '{\"results\":[]}' ]"
stop_server "$SPID"; check "SIGTERM: exit 0" [ $? -eq 0 ]

# timeouts and the bound on concurrent uploads
start_server --idle-timeout 1 --upload-timeout 3 --max-uploads 2
took=$(python3 "$DATA/abuse.py" silent "$PORT")
check "a silent client is disconnected by the idle timeout (${took}s)" awk "BEGIN{exit !($took >= 0.5 && $took < 4)}"
python3 "$DATA/abuse.py" drip "$PORT" 2 "$DATA/drip.started" > "$DATA/drip.out" &
DRIP=$!
i=0; while [ ! -e "$DATA/drip.started" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
sleep 0.3
st=$(curl -s -D "$DATA/hdr" -o "$DATA/b1" -w '%{http_code}' -F "audio=@$DATA/silence.wav" "$URL/transcribe")
check "a third upload beyond --max-uploads 2: 503 busy with Retry-After" \
    sh -c "[ $st = 503 ] && grep -qi '^retry-after:' '$DATA/hdr' && grep -q busy '$DATA/b1'"
wait $DRIP
read took what < "$DATA/drip.out"
check "dripping uploads are ended by the upload timeout (${took}s: $what)" \
    awk "BEGIN{exit !($took >= 2 && $took < 8)}"
check "their partial uploads were removed" wait_uploads_gone 5
st=$(req "$DATA/b2" -F "audio=@$DATA/silence.wav" "$URL/transcribe")
check "slots are free again: upload 200" [ "$st" = 200 ]
stop_server "$SPID"; check "SIGTERM: exit 0" [ $? -eq 0 ]

# a server killed mid-upload leaves its file; the next start removes it
start_server
python3 "$DATA/abuse.py" drip "$PORT" 1 "$DATA/drip2.started" > /dev/null 2>&1 &
DRIP=$!
i=0; while [ ! -e "$DATA/drip2.started" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
i=0; while [ "$(uploads_left)" -eq 0 ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i + 1)); done
check "a streaming upload is on disk, mode 0600" [ "$(stat -c %a "$UPLOADS"/up-* 2>/dev/null)" = 600 ]
kill -9 "$SPID"; wait "$SPID" 2>/dev/null
kill "$DRIP" 2>/dev/null; wait "$DRIP" 2>/dev/null
check "SIGKILL mid-upload leaves the file behind" [ "$(uploads_left)" -eq 1 ]
start_server
check "the next server start removes the killed server's upload" [ "$(uploads_left)" -eq 0 ]
stop_server "$SPID"

kill_all
san_clean
finish
