"""A small HTTP server for apk-rs's network tests, on 127.0.0.1.

Serves DIR as `python3 -m http.server` does, and misbehaves on purpose under some
prefixes: `/stall/...` accepts the request and never answers, `/truncated/...` sends a
file's headers (with its full length) and only half of its body, `/flaky/...` fails
the first request for each path with 503 and serves it after, `/huge/...` announces a
terabyte and sends a few bytes, `/hugeapk/...` does so for `.apk` files only. With
`--tls CERT KEY` after DIR it speaks HTTPS with that certificate. Prints the port it
listens on, then serves until killed.
"""

import http.server
import os
import socketserver
import sys
import threading
import time

ROOT = sys.argv[1]
SEEN = set()
LOCK = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/stall/"):
            time.sleep(3600)
            return
        if self.path.startswith("/truncated/"):
            path = os.path.join(ROOT, self.path[len("/truncated/"):])
            try:
                data = open(path, "rb").read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/hugeapk/") and not self.path.endswith(".apk"):
            self.path = self.path[len("/hugeapk"):]
            return super().do_GET()
        if self.path.startswith("/huge/") or self.path.startswith("/hugeapk/"):
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            self.wfile.write(b"\0" * 4096)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/flaky/"):
            with LOCK:
                first = self.path not in SEEN
                SEEN.add(self.path)
            if first:
                self.send_error(503)
                return
            self.path = self.path[len("/flaky"):]
        super().do_GET()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) >= 5 and sys.argv[2] == "--tls":
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
