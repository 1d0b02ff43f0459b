#!/bin/sh
# Hostile and broken input (spool-reliability.md test matrix: request JSON, id and
# filename, audio_file, writers, squatted files): every request with a valid id gets an
# error response with a stable error_code, the rest is quarantined or ignored, the daemon
# never stops serving (a canary request succeeds afterwards), nothing is left behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/daemon_common.inc

start_daemon --beam-size 1 --language en 120
pid=$(daemon_pid)
check "daemon started" [ -n "$pid" ]

python3 - "$ROOT" "$DATA" <<'PY'
import json, os, socket, stat, subprocess, sys, threading, time
root, data = sys.argv[1], sys.argv[2]
REQ = f"{root}/speech_session_requests"
RESP = f"{root}/speech_session_responses"
sil = f"{data}/silence.wav"
expect = {}          # id -> expected error_code (None: success, "*": any error)
results = []

def good(i, audio=sil):
    return json.dumps({"id": i, "audio_file": audio, "timestamp": time.time()}).encode()

def put(name, content):
    with open(f"{REQ}/{name}", "wb") as f:
        f.write(content)

# ---- request JSON
cases = {
    "j_empty": (b"", "bad_request"),
    "j_trunc": (b'{"id":"j_trunc","audio', "bad_request"),
    "j_trunc_1_1": (b'{"1":1,', "bad_request"),
    "j_garbage": (good("j_garbage") + b"x", "bad_request"),
    "j_two": (good("j_two") + good("j_two"), "bad_request"),
    "j_bom": (b"\xef\xbb\xbf" + good("j_bom"), "bad_request"),
    "j_comment": (b'{/* c */"id":"j_comment","audio_file":"/a","timestamp":1}', "bad_request"),
    "j_tcomma": (b'{"id":"j_tcomma","audio_file":"/a","timestamp":1,}', "bad_request"),
    "j_array": (b"[]", "bad_request"),
    "j_string": (b'"x"', "bad_request"),
    "j_number": (b"12", "bad_request"),
    "j_null": (b"null", "bad_request"),
    "j_missing": (b'{"id":"j_missing"}', "bad_request"),
    "j_wrongtype": (b'{"id":"j_wrongtype","audio_file":5,"timestamp":1}', "bad_request"),
    "j_nan": (b'{"id":"j_nan","audio_file":"/a","timestamp":NaN}', "bad_request"),
    "j_inf": (b'{"id":"j_inf","audio_file":"/a","timestamp":Infinity}', "bad_request"),
    "j_1e999": (b'{"id":"j_1e999","audio_file":"/a","timestamp":1e999}', "bad_request"),
    "j_dupkey": (b'{"id":"j_dupkey","id":"j_dupkey","audio_file":"/a","timestamp":1}', "bad_request"),
    "j_case": (b'{"ID":"j_case","Audio_File":"/a","timestamp":1}', "bad_id"),
    "j_nul": (b'{"id":"j_nul","audio_file":"/a\\u0000b","timestamp":1}', "bad_request"),
    "j_utf8": (b'{"id":"j_utf8","audio_file":"/\xff\xfe","timestamp":1}', "bad_request"),
    "j_surrogate": (b'{"id":"j_surrogate","audio_file":"/\\ud800","timestamp":1}', "bad_request"),
    "j_numid": (b'{"id":123,"audio_file":"/a","timestamp":1}', "bad_id"),
    "j_idstem": (good("other"), "bad_id"),
    "j_nest10": (json.dumps({"id": "j_nest10", "audio_file": sil, "timestamp": 1,
                             "x": json.loads("[" * 10 + "]" * 10)}).encode(), None),
    "j_nest1000": (b'{"id":"j_nest1000","x":' + b"[" * 1000 + b"]" * 1000 + b"}", "bad_request"),
    "j_nest100000": (b'{"id":"j_nest100000","x":' + b"[" * 100000 + b"]" * 100000 + b"}", "request_too_large"),
    "j_65k": (good("j_65k")[:-1] + b',"pad":"' + b"a" * 66000 + b'"}', "request_too_large"),
    "j_10m": (b"{" + b" " * (10 << 20) + b"}", "request_too_large"),
}
for i, (content, code) in cases.items():
    put(f"{i}.json", content)
    expect[i] = code
with open(f"{REQ}/j_sparse.json", "wb") as f:
    f.truncate(1 << 30)
expect["j_sparse"] = "request_too_large"

# ---- names
for name in ["a b.json", "%n%s.json", "nl\nx.json", "esc\x1bx.json", "a" * 129 + ".json"]:
    put(name, b"{}")
for name in [".x.json", "x.json.tmp", "x.JSON"]:
    put(name, good("x"))
os.mkdir(f"{REQ}/n_dir.json"); expect["n_dir"] = "bad_request_file"
os.symlink(sil, f"{REQ}/n_sym.json"); expect["n_sym"] = "bad_request_file"
os.mkfifo(f"{REQ}/n_fifo.json"); expect["n_fifo"] = "bad_request_file"
# a stale response with the same id is replaced
with open(f"{RESP}/n_stale.json", "w") as f:
    f.write('{"id":"n_stale","results":["stale"]}')
put("n_stale.json", good("n_stale")); expect["n_stale"] = None

# ---- audio_file
os.mkfifo(f"{data}/fifo.wav")
s = socket.socket(socket.AF_UNIX); s.bind(f"{data}/sock.wav")
os.symlink(sil, f"{data}/link.wav")
with open(f"{data}/huge.wav", "wb") as f:
    f.truncate(1 << 40)
with open(f"{data}/garbage.wav", "wb") as f:
    f.write(os.urandom(5000))
with open(f"{data}/hdr.wav", "wb") as f:
    f.write(open(sil, "rb").read()[:44])
audio = {
    "a_relative": ("rel.wav", "audio_refused"),
    "a_empty": ("", "audio_refused"),
    "a_pathmax": ("/" + "a" * 5000, "audio_refused"),
    "a_missing": (f"{data}/missing.wav", "audio_not_found"),
    "a_longname": (f"{data}/{'n' * 300}.wav", "audio_refused"),   # a name over NAME_MAX
    "a_fifo": (f"{data}/fifo.wav", "audio_refused"),
    "a_zero": ("/dev/zero", "audio_refused"),
    "a_urandom": ("/dev/urandom", "audio_refused"),
    "a_dir": (data, "audio_refused"),
    "a_socket": (f"{data}/sock.wav", "audio_refused"),
    "a_environ": ("/proc/self/environ", "*"),
    "a_symlink": (f"{data}/link.wav", "audio_refused"),
    "a_huge": (f"{data}/huge.wav", "audio_too_long"),
    "a_garbage": (f"{data}/garbage.wav", "*"),
    "a_header_only": (f"{data}/hdr.wav", "any"),
    "a_ok": (sil, None),
}
t_fifo = time.time()
for i, (path, code) in audio.items():
    put(f"{i}.json", good(i, path))
    expect[i] = code

# ---- writers
def bytewise(i, delay, reopen):
    content = good(i)
    if reopen:
        for k in range(len(content)):
            with open(f"{REQ}/{i}.json", "ab") as f:
                f.write(content[k:k + 1])
            time.sleep(delay)
    else:
        with open(f"{REQ}/{i}.json", "wb", buffering=0) as f:
            for k in range(len(content)):
                f.write(content[k:k + 1]); time.sleep(delay)
def stalled(i):
    with open(f"{REQ}/{i}.json", "wb", buffering=0) as f:
        f.write(good(i)[:20]); time.sleep(4)
def atomic_mv(i):
    put(f".{i}.tmp", good(i)); os.rename(f"{REQ}/.{i}.tmp", f"{REQ}/{i}.json")
def link_rm(i):
    put(f".{i}.tmp", good(i)); os.link(f"{REQ}/.{i}.tmp", f"{REQ}/{i}.json"); os.unlink(f"{REQ}/.{i}.tmp")
ths = [threading.Thread(target=bytewise, args=("w_byte_held", 0.03, False)),
       threading.Thread(target=bytewise, args=("w_byte_reopen", 0.03, True)),
       threading.Thread(target=stalled, args=("w_stalled",))]
for t in ths: t.start()
expect["w_byte_held"] = None; expect["w_byte_reopen"] = None; expect["w_stalled"] = "bad_request"
atomic_mv("w_atomic_mv"); expect["w_atomic_mv"] = None
link_rm("w_link_rm"); expect["w_link_rm"] = None
put("w_deleted_early.json", good("w_deleted_early"))
try:   # the daemon may claim it first: then it is answered, which is fine too
    os.unlink(f"{REQ}/w_deleted_early.json")
except FileNotFoundError:
    pass

# ---- collect
deadline = time.time() + 30
got = {}
while time.time() < deadline and len(got) < len(expect):
    for i in expect:
        if i in got: continue
        p = f"{RESP}/{i}.json"
        try:
            d = json.load(open(p))
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if i == "n_stale" and d.get("results") == ["stale"]:
            continue
        got[i] = (d, time.time()); os.unlink(p)
    time.sleep(0.02)
for t in ths: t.join()
fails = []
for i, code in expect.items():
    if i not in got:
        fails.append(f"{i}: no response"); continue
    d = got[i][0]
    if d.get("id") != i or not isinstance(d.get("results"), list) or "device" not in d:
        fails.append(f"{i}: malformed response {d}"); continue
    c = d.get("error_code")
    if code is None and c is not None: fails.append(f"{i}: expected success, got {c}: {d.get('error')}")
    elif code == "*" and c is None: fails.append(f"{i}: expected an error")
    elif code not in (None, "*", "any") and c != code: fails.append(f"{i}: expected {code}, got {c} ({d.get('error')})")
    if c is not None and not d.get("error"): fails.append(f"{i}: error_code without error")
if "a_fifo" in got and got["a_fifo"][1] - t_fifo > 1.0:
    fails.append("a_fifo answered after %.2f s" % (got["a_fifo"][1] - t_fifo))
left = sorted(set(os.listdir(REQ)) - {".x.json", "x.json.tmp", "x.JSON"})
if left: fails.append(f"left in requests/: {left!r}")
for f in fails: print("#  ", f)
print(("ok" if not fails else "not ok") + f" - hostile matrix: {len(expect)} requests answered with the expected codes")
print(("ok" if "a_fifo" in got and got["a_fifo"][1] - t_fifo <= 1.0 else "not ok") + " - FIFO audio answered within 1 s")
PY
[ $? -eq 0 ] || nok "the hostile matrix script ran to its end (a crash must not drop its checks)"
check "the same daemon is still serving" [ "$(daemon_pid)" = "$pid" ]
out=$("$SC" transcribe "$DATA/silence.wav"); rc=$?
check "canary request succeeds" [ $rc -eq 0 ]
check "rejected names quarantined" [ "$(ls -A "$ROOT/speech_session_work/quarantine" | wc -l)" -ge 20 ]
check "processing/ and tmp/ empty" [ -z "$(ls -A "$ROOT/speech_session_work/processing")$(ls -A "$ROOT/speech_session_work/tmp")" ]
check "log lines are one per event (no raw newline/ESC from names)" sh -c "! grep -q \"\$(printf '\\033')\" '$ROOT/session_daemon.log'"
fds=$(ls /proc/$pid/fd | wc -l)
check "bounded fds ($fds)" [ "$fds" -lt 40 ]
# a "link + rm" writer to an idle daemon: the hard link has no close event; answered at once,
# not at the 10 s rescan
python3 - "$ROOT" "$DATA/silence.wav" <<'PY'
import json, os, sys, time
req, resp = sys.argv[1] + "/speech_session_requests", sys.argv[1] + "/speech_session_responses"
with open(f"{req}/.lk.tmp", "w") as f:
    json.dump({"id": "lk", "audio_file": sys.argv[2], "timestamp": time.time()}, f)
t0 = time.time()
os.link(f"{req}/.lk.tmp", f"{req}/lk.json")
os.unlink(f"{req}/.lk.tmp")
while time.time() - t0 < 15 and not os.path.exists(f"{resp}/lk.json"):
    time.sleep(0.01)
took = time.time() - t0
ok = os.path.exists(f"{resp}/lk.json") and json.load(open(f"{resp}/lk.json")).get("error_code") is None
if ok: os.unlink(f"{resp}/lk.json")
print(("ok" if ok and took < 3 else "not ok") + " - a link + rm request to an idle daemon is answered within 3 s (%.2f s)" % took)
PY
"$SC" stop >/dev/null

# a missing audio file with a long UTF-8 path: the spec's "Audio file not found: PATH" in full,
# for paths up to PATH_MAX (a 600-byte message buffer had cut it: mid-character the whole
# message became "error (message was not valid UTF-8)", else the path was cut), and the log
# line's truncation never splits a character
start_daemon 60
python3 - "$ROOT" <<'PY'
import json, os, sys, time
root = sys.argv[1]
req, resp = root + "/speech_session_requests", root + "/speech_session_responses"
paths = {   # each component <= NAME_MAX bytes; 2 bytes per e-acute: both byte alignments
    "u0": "/tmp/" + ("\u00e9" * 100 + "/") * 3 + "x.wav",
    "u1": "/tmp/a" + ("\u00e9" * 100 + "/") * 3 + "x.wav",
    "u4k": "/tmp/" + ("\u00e9" * 100 + "/") * 19 + "x.wav",   # ~3.8 KB, under PATH_MAX
}
for rid, path in paths.items():
    with open(f"{req}/.{rid}.tmp", "w") as f:
        json.dump({"id": rid, "audio_file": path, "timestamp": time.time()}, f)
    os.rename(f"{req}/.{rid}.tmp", f"{req}/{rid}.json")
for rid, path in paths.items():
    t0 = time.time()
    while not os.path.exists(f"{resp}/{rid}.json") and time.time() - t0 < 15:
        time.sleep(0.02)
    try:
        d = json.load(open(f"{resp}/{rid}.json"))
    except (OSError, ValueError) as e:
        d = {"error": repr(e)}
    want = "Audio file not found: " + path
    ok = d.get("error") == want and d.get("error_code") == "audio_not_found"
    print(("ok" if ok else "not ok") + f" - {len(path.encode())}-byte UTF-8 path: 'Audio file not found: PATH' in full")
    if not ok: print("#   got", repr(d.get("error"))[:120], len(d.get("error") or ""), d.get("error_code"))
try:
    open(root + "/session_daemon.log", "rb").read().decode("utf-8")
    print("ok - the log is valid UTF-8 (truncated messages cut at a character)")
except UnicodeDecodeError as e:
    print("not ok - the log is valid UTF-8 (truncated messages cut at a character)\n#  ", e)
PY
rm -f "$RESP"/*.json
"$SC" stop >/dev/null

# squatted fixed-name files: symlinks planted where the status, pid, marker and log go
SQ=$(mktemp -d /tmp/ss-it-sq.XXXXXX)
echo precious > "$SQ/target"
for f in session_daemon_status.json session_daemon.pid session_daemon_active session_daemon.log; do
    rm -f "$ROOT/$f"; ln -s "$SQ/target" "$ROOT/$f"
done
start_daemon 60 2>"$DATA/sq.err"; rc=$?
check "daemon starts beside squatted files" [ $rc -eq 0 ]
check "symlinked log refused loudly" grep -q "log" "$DATA/sq.err"
check "squat target untouched" [ "$(cat "$SQ/target")" = precious ]
check "status replaced by a real file (rename over the link)" [ -f "$ROOT/session_daemon_status.json" -a ! -L "$ROOT/session_daemon_status.json" ]
out=$("$SC" transcribe "$DATA/silence.wav"); check "canary with squatted files" [ $? -eq 0 ]
"$SC" stop >/dev/null

# SIGHUP (logrotate): a usable log is reopened; a log squatted since is refused and the file
# open before is kept, with a warning in it (the reopen's failure had been ignored and every
# later line dropped without a word)
rm -f "$ROOT/session_daemon.log"
start_daemon 60 2>"$DATA/hup.err"
hp=$(daemon_pid)
printf '{"id": "hup_bad", "audio_file": 7}' > "$REQ/hup_bad.json"
wait_for "$RESP/hup_bad.json" 5
check "a rejection's reason is quoted once in the log (reason=\"..., not reason=\\\"...)" \
    sh -c "grep -q 'request rejected.* reason=\"' '$ROOT/session_daemon.log' && ! grep -q 'reason=\\\\' '$ROOT/session_daemon.log'"
mv "$ROOT/session_daemon.log" "$ROOT/session_daemon.log.1"
kill -HUP "$hp"; sleep 0.5
check "SIGHUP: the log reopened as a new file" grep -q 'log reopened (SIGHUP)' "$ROOT/session_daemon.log"
mv "$ROOT/session_daemon.log" "$ROOT/session_daemon.log.2"; ln -s "$SQ/target" "$ROOT/session_daemon.log"
kill -HUP "$hp"; sleep 0.5
check "SIGHUP onto a squatted log: refused, said in the file kept" grep -q 'log not reopened (SIGHUP)' "$ROOT/session_daemon.log.2"
check "SIGHUP onto a squatted log: its target untouched" [ "$(cat "$SQ/target")" = precious ]
"$SC" stop >/dev/null
rm -f "$RESP"/*.json "$ROOT/session_daemon.log" "$ROOT/session_daemon.log.1" "$ROOT/session_daemon.log.2"
rm -rf "$SQ"
san_clean
finish
