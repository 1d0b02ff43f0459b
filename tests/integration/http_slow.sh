#!/bin/sh
# test-serial: its checks measure time or CPU, so tests/run.sh runs it alone
# Slow clients (slowloris, issue 11 defect 5) against session_http over loopback, bounded to
# a few seconds: connections that trickle header lines are closed at --header-timeout, one
# address gets at most --max-connections-per-ip connections, a body that trickles ends at
# --upload-timeout, and when slow connections from many addresses fill the server, the
# oldest are closed so that /health (from another address) keeps being answered.
# Loopback is all of 127.0.0.0/8 on Linux, so the attackers bind 127.0.0.2, .3, .4.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/http_common.inc
SLOW="python3 tests/tools/slow_client.py"
pyj() { jq_py "$@"; }

# ---- one address, 20 slow connections, against 16 slots (6 per address), headers in 2 s
check "server starts (16 connections, 6 per address, headers within 2 s)" \
    start_server --max-connections 16 --max-connections-per-ip 6 --header-timeout 2 --upload-timeout 2
$SLOW headers "$PORT" 127.0.0.2 20 0.5 5 > "$DATA/a.json" &
APID=$!
sleep 0.5
$SLOW probe "$PORT" 4 > "$DATA/p.json"
wait $APID
cat "$DATA/a.json" "$DATA/p.json"
check "/health answered throughout the attack (every probe, each within 1.5 s)" \
    pyj "$DATA/p.json" "d['ok']>=6 and d['failed']==0 and d['max_latency']<1.5"
check "one address holds at most --max-connections-per-ip (6) connections" \
    pyj "$DATA/a.json" "d['held']<=6 and d['refused']>=14"
check "each slow-header connection is closed at the header deadline (2 s, within 1.5-3.5 s)" \
    pyj "$DATA/a.json" "d['open_at_end']==0 and d['closed_at'] and all(1.5<=t<=3.5 for t in d['closed_at'])"

# ---- a body trickled one byte every 0.3 s: ended at --upload-timeout (2 s)
$SLOW body "$PORT" 127.0.0.2 3 0.3 6 > "$DATA/b.json"
cat "$DATA/b.json"
check "a trickled body ends at the upload deadline (closed within its 2 s grace + 1 s)" \
    pyj "$DATA/b.json" "d['open_at_end']==0 and all(t<=5 for t in d['closed_at'])"
# a body still arriving at the deadline that ends within the grace: answered 408, not closed
# (8 s of 16 kHz audio, 256 KB, at 80 KB/s: ~3 s against --upload-timeout 2)
sox -n -r 16000 -c 1 -b 16 "$DATA/late.wav" trim 0 8 2>/dev/null
st=$(curl -s -o "$DATA/late.json" -w '%{http_code}' --max-time 20 --limit-rate 80k \
    -F "file=@$DATA/late.wav" -F model=whisper-1 "$URL/v1/audio/transcriptions")
check "a body ending within the grace after the deadline gets its 408 (code timeout)" \
    sh -c "[ '$st' = 408 ] && grep -q '\"code\":\"timeout\"' '$DATA/late.json'"
stop_server "$SPID"; check "server exits 0" [ $? -eq 0 ]
grep -q 'slow clients closed: [1-9][0-9]* late headers' "$ROOT/http.$NSERVER.log"
check "the log counts the slow clients it closed" [ $? -eq 0 ]

# ---- one address trickles bodies into every upload slot (3), far from --upload-timeout: a
# real upload's 503 closes the slowest of them, and its retry gets a slot (they had held
# every upload until the timeout)
check "server starts (3 uploads, bodies within 30 s)" start_server --max-uploads 3 --upload-timeout 30
$SLOW body "$PORT" 127.0.0.2 3 0.5 8 > "$DATA/u.json" &
UPID=$!
sleep 2.5
st=$(curl -s -o "$DATA/u1" -w '%{http_code}' --max-time 20 --retry 4 --retry-delay 1 \
    -F "file=@$DATA/speech.wav" -F model=whisper-1 "$URL/v1/audio/transcriptions")
check "uploads held by trickled bodies: a real one gets a slot on its retry (200)" [ "$st" = 200 ]
wait $UPID
cat "$DATA/u.json"
check "the trickled bodies closed to free it were closed early" \
    pyj "$DATA/u.json" "d['held']==3 and len(d['closed_at'])>=1 and min(d['closed_at'])<6"
stop_server "$SPID"; check "server exits 0 (uploads)" [ $? -eq 0 ]
grep -q 'slow clients closed: .* [1-9][0-9]* slow uploads to free a slot' "$ROOT/http.$NSERVER.log"
check "the log counts the slow uploads it closed" [ $? -eq 0 ]

# ---- many addresses fill every slot; headers deadline far away: capacity is kept free by
# closing the connections that have waited longest (at least 1 s) for their headers
check "server starts (16 connections, 6 per address, headers within 60 s)" \
    start_server --max-connections 16 --max-connections-per-ip 6 --header-timeout 60
APIDS=""
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do
    $SLOW headers "$PORT" $ip 6 0.5 5.5 > "$DATA/c.$ip.json" &
    APIDS="$APIDS $!"
done
# until the first eviction (a connection must have waited 1 s) a full server refuses new
# clients, as any full server does; from then on a slot stays free
sleep 2.5
$SLOW probe "$PORT" 2.2 > "$DATA/p2.json"
for p in $APIDS; do wait "$p"; done
cat "$DATA"/c.*.json "$DATA/p2.json"
check "/health answered while 18 slow connections from 3 addresses want 16 slots" \
    pyj "$DATA/p2.json" "d['ok']>=3 and d['failed']==0 and d['max_latency']<2"
stop_server "$SPID"; check "server exits 0" [ $? -eq 0 ]
grep -q 'slow clients closed: .* [1-9][0-9]* to keep capacity free' "$ROOT/http.$NSERVER.log"
check "connections were closed to keep capacity free (log)" [ $? -eq 0 ]

kill_all
san_clean
finish
