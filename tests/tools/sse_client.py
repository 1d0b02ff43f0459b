#!/usr/bin/env python3
"""A plain http.client reader of session_http's server-sent events (stream=true), for
tests/integration/http_live.sh: no SDK, the bytes as they arrive.

  sse_client.py PORT AUDIO [--field NAME=VALUE ...] [--leave-after N] [--path PATH]

POSTs AUDIO as multipart/form-data with model=whisper-1 and stream=true (plus the fields)
and reads the answer line by line as it arrives, parsing events as the SSE spec says
(event:/data: fields, a blank line ends an event, ':' lines are comments). Prints one JSON
object: status, content_type, events [{"t", "event", "data"}] (t: seconds since the request
was sent; data parsed as JSON), comments (count), t_first_delta, t_done, t_end, body (when
the answer is not an event stream). --leave-after N closes the connection after the N-th
delta (a client that goes away mid-stream) and prints what it had.
"""
import argparse
import http.client
import json
import os
import time
import uuid


def multipart(fields, audio):
    b = uuid.uuid4().hex
    out = []
    for k, v in fields:
        out.append(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; '
               f'filename="{os.path.basename(audio)}"\r\nContent-Type: audio/wav\r\n\r\n'.encode())
    out.append(open(audio, "rb").read())
    out.append(f"\r\n--{b}--\r\n".encode())
    return b, b"".join(out)


def read_events(resp, t0, leave_after, res):
    event, data, deltas = None, [], 0
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode("utf-8").rstrip("\r\n")
        if line.startswith(":"):
            res["comments"] += 1
            continue
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            continue
        if not data and event is None:
            continue
        t = round(time.monotonic() - t0, 3)
        ev = {"t": t, "event": event, "data": json.loads("\n".join(data))}
        res["events"].append(ev)
        event, data = None, []
        kind = ev["data"].get("type")
        if kind == "transcript.text.delta":
            deltas += 1
            res["t_first_delta"] = res["t_first_delta"] or t
            if leave_after and deltas >= leave_after:
                return
        elif kind == "transcript.text.done":
            res["t_done"] = t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("audio")
    ap.add_argument("--field", action="append", default=[])
    ap.add_argument("--leave-after", type=int, default=0)
    ap.add_argument("--path", default="/v1/audio/transcriptions")
    a = ap.parse_args()
    fields = [("model", "whisper-1"), ("stream", "true")] + [tuple(f.split("=", 1)) for f in a.field]
    boundary, body = multipart(fields, a.audio)
    con = http.client.HTTPConnection("127.0.0.1", a.port, timeout=300)
    con.connect()
    t0 = time.monotonic()
    con.request("POST", a.path, body=body,
                headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    resp = con.getresponse()
    res = {"status": resp.status, "content_type": resp.getheader("Content-Type"), "events": [],
           "comments": 0, "t_first_delta": None, "t_done": None}
    if (res["content_type"] or "").startswith("text/event-stream"):
        read_events(resp, t0, a.leave_after, res)
    else:
        res["body"] = resp.read().decode("utf-8", "replace")
    res["t_end"] = round(time.monotonic() - t0, 3)
    con.close()   # --leave-after: the server sees the hang-up now
    print(json.dumps(res))


if __name__ == "__main__":
    main()
