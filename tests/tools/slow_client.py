#!/usr/bin/env python3
"""Slow HTTP clients (slowloris) and a prober, for tests/integration/http_slow.sh.

  slow_client.py headers PORT SRC_IP N INTERVAL SECONDS
      N connections from SRC_IP (any 127.x.y.z on Linux loopback), each sending a request
      line and then one header line every INTERVAL s, never finishing, for at most SECONDS.
  slow_client.py body PORT SRC_IP N INTERVAL SECONDS
      the same with whole headers of a 100000-byte upload, then one body byte per INTERVAL.
  Both print JSON: {"held": connections still open 0.5 s after connecting,
                    "refused": closed by the server within 0.5 s,
                    "closed_at": [seconds after connecting when the server closed each held one],
                    "open_at_end": held connections the server never closed,
                    "answers": status lines received}
  slow_client.py probe PORT SECONDS [PERIOD]
      GET /health from 127.0.0.1 every PERIOD s (default 0.5) with a 3 s timeout; prints JSON
      {"ok": n, "failed": n, "max_latency": s}.
"""
import json
import select
import socket
import sys
import threading
import time


def slow(mode, port, src, interval, seconds, out, lock):
    res = {"t": None, "answer": None}
    t0 = time.monotonic()
    s = socket.socket()
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        if mode == "headers":
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        else:
            s.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: multipart/form-data; boundary=B\r\n"
                      b"Content-Length: 100000\r\n\r\n--B\r\n")
        n = 0
        while time.monotonic() - t0 < seconds:
            r, _, _ = select.select([s], [], [], interval)
            if r:
                data = s.recv(4096)
                if data.startswith(b"HTTP/"):
                    res["answer"] = data.split(b"\r\n", 1)[0].decode()
                if not data:
                    break
                continue
            n += 1
            s.sendall(b"X-Slow-%d: 1\r\n" % n if mode == "headers" else b"x")
    except OSError:
        pass
    now = time.monotonic() - t0
    res["t"] = now if now < seconds else None
    s.close()
    with lock:
        out.append(res)


def attack(mode, port, src, n, interval, seconds):
    out, lock, threads = [], threading.Lock(), []
    for _ in range(n):
        t = threading.Thread(target=slow, args=(mode, port, src, interval, seconds, out, lock))
        t.start()
        threads.append(t)
        time.sleep(0.01)
    for t in threads:
        t.join()
    held = [r for r in out if r["t"] is None or r["t"] >= 0.5]
    print(json.dumps({
        "held": len(held),
        "refused": len(out) - len(held),
        "closed_at": sorted(round(r["t"], 2) for r in held if r["t"] is not None),
        "open_at_end": sum(1 for r in held if r["t"] is None),
        "answers": [r["answer"] for r in out if r["answer"]],
    }))


def probe(port, seconds, period):
    ok = failed = 0
    worst = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
            s.close()
            good = data.startswith(b"HTTP/1.1 200")
        except OSError:
            good = False
        lat = time.monotonic() - t0
        worst = max(worst, lat)
        ok += good
        failed += not good
        time.sleep(max(0.0, period - lat))
    print(json.dumps({"ok": ok, "failed": failed, "max_latency": round(worst, 2)}))


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        probe(int(sys.argv[2]), float(sys.argv[3]),
              float(sys.argv[4]) if len(sys.argv) > 4 else 0.5)
    else:
        attack(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
               float(sys.argv[5]), float(sys.argv[6]))
