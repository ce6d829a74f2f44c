#!/usr/bin/env python3
"""The VM test's application instance (tests/vm): HTTP on ADDR:PORT. GET / answers
"cats-vm-app"; GET /stream sends one numbered line every 0.2 s for up to 30 minutes on
one connection (the established flow that must survive a package upgrade)."""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        if self.path != "/stream":
            self.wfile.write(b"cats-vm-app\n")
            return
        for i in range(9000):
            self.wfile.write(b"%d\n" % i)
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, *args):
        pass


addr, port = sys.argv[1].rsplit(":", 1)
ThreadingHTTPServer((addr, int(port)), Handler).serve_forever()
