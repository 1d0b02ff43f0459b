#!/usr/bin/env python3
"""Sends a stored HTTP request (tests/data/http/*/*.req) to a server over loopback and writes
the answer: the status code on stdout, the body to OUT.

  http_replay.py PORT REQ OUT                  the bytes of REQ, unchanged
  http_replay.py PORT REQ OUT --truncate F     the body cut to its first F (0..1), with a
                                               Content-Length that matches the cut body
  http_replay.py PORT REQ OUT --chunked N      the body sent as Transfer-Encoding: chunked in
                                               N-byte chunks (Content-Length removed)
  ... --expect                                 add "Expect: 100-continue" and send the body
                                               only after the server's "100 Continue"
"""
import http.client
import socket
import sys


def split(raw):
    head, body = raw.split(b"\r\n\r\n", 1)
    return head.split(b"\r\n"), body


def without(lines, name):
    return [l for l in lines if not l.lower().startswith(name.lower() + b":")]


def main():
    port, reqfile, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    opts = sys.argv[4:]
    raw = open(reqfile, "rb").read()
    lines, body = split(raw)
    chunk = 0
    if "--truncate" in opts:
        body = body[:int(len(body) * float(opts[opts.index("--truncate") + 1]))]
        lines = without(lines, b"content-length") + [b"Content-Length: %d" % len(body)]
    if "--chunked" in opts:
        chunk = int(opts[opts.index("--chunked") + 1])
        lines = without(lines, b"content-length") + [b"Transfer-Encoding: chunked"]
    expect = "--expect" in opts
    if expect:
        lines.append(b"Expect: 100-continue")
    if chunk:
        enc = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                       for i in range(0, len(body), chunk))
        body = enc + b"0\r\n\r\n"
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    if expect:
        s.sendall(head)
        got = b""
        while b"\r\n\r\n" not in got:
            b = s.recv(1)
            if not b:
                raise SystemExit("closed before 100 Continue")
            got += b
        if not got.startswith(b"HTTP/1.1 100"):
            raise SystemExit("expected 100 Continue, got %r" % got[:40])
        s.sendall(body)
    else:
        s.sendall(head + body)
    resp = http.client.HTTPResponse(s)
    resp.begin()
    data = resp.read()
    with open(out, "wb") as f:
        f.write(data)
    print(resp.status)


if __name__ == "__main__":
    main()
