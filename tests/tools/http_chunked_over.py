#!/usr/bin/env python3
"""A chunked (Transfer-Encoding: chunked) multipart upload larger than session_http's
--max-upload, sent to 127.0.0.1:PORT; prints "STATUS SECONDS CONNECTION" of the answer
(STATUS 0 when none came: the connection closed or the wait ran out).

  http_chunked_over.py PORT PATH FIELD BYTES stall     BYTES of the file part, then the body
                                                       is neither ended nor closed: the answer
                                                       must come while the client waits (5 s)
  http_chunked_over.py PORT PATH FIELD BYTES requests  the whole body from a generator through
                                                       Python requests (chunked, as it sends an
                                                       iterable), read after it was sent
"""
import socket
import sys
import time

port, path, field, total, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
B = b"XyZzY"
head = b"--" + B + b"\r\nContent-Disposition: form-data; name=\"" + field.encode() + \
       b"\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
ctype = "multipart/form-data; boundary=" + B.decode()
t0 = time.monotonic()

if mode == "stall":
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype.encode() +
              b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
    sent, chunk = 0, b"\0" * 65536
    while sent < total:
        s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sent += len(chunk)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    status, conn = 0, "-"
    if data.startswith(b"HTTP/1.1 "):
        status = int(data[9:12])
        for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"connection":
                conn = v.strip().decode()
    print(status, "%.2f" % (time.monotonic() - t0), conn)
else:
    import requests

    def body():
        yield head
        sent = 0
        while sent < total:
            yield b"\0" * 65536
            sent += 65536
        yield b"\r\n--" + B + b"--\r\n"
    try:
        r = requests.post("http://127.0.0.1:%d%s" % (port, path), data=body(),
                          headers={"Content-Type": ctype}, timeout=30)
        print(r.status_code, "%.2f" % (time.monotonic() - t0), r.headers.get("Connection", "-"))
    except requests.RequestException as e:
        print(0, "%.2f" % (time.monotonic() - t0), type(e).__name__)
