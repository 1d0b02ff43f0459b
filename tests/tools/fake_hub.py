#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub's file endpoint, for scripts/get-model.sh --ct2 tests.

Serves GET /<owner>/<repo>/resolve/main/<file> from DIR/<repo>/<file> the way the hub answers:
LFS files (model.bin) with their SHA-256 as X-Linked-ETag, small files with a plain ETag, a
missing file as 404. Modes (argv[2]; a trailing digit is ignored): "good"; "badsum" (model.bin's advertised SHA-256 is
wrong); "nosum" (no checksum header); "truncate" (model.bin cut short after its headers).
Prints the port it listens on (loopback, port 0 = any free one) and serves until killed."""
import hashlib, http.server, os, sys

root, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "good").rstrip("0123456789")

class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        parts = self.path.split("/")
        # ['', owner, repo, 'resolve', 'main', file]
        if len(parts) != 6 or parts[3] != "resolve" or parts[4] != "main" or ".." in parts:
            self.send_error(404); return
        path = os.path.join(root, parts[2], parts[5])
        if not os.path.isfile(path):
            self.send_error(404); return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        if parts[5] == "model.bin":
            digest = hashlib.sha256(data).hexdigest()
            if mode == "badsum":
                digest = hashlib.sha256(b"not the file").hexdigest()
            if mode != "nosum":
                self.send_header("X-Linked-ETag", '"%s"' % digest)
            if mode == "truncate":
                self.end_headers(); self.wfile.write(data[: len(data) // 2]); return
        else:
            self.send_header("ETag", '"%s"' % hashlib.sha1(data).hexdigest())
        self.end_headers()
        self.wfile.write(data)

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
print(srv.server_address[1], flush=True)
srv.serve_forever()
