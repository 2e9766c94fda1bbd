"""A webhook receiver for test_webhooks: HTTP/1.1 with keep-alive, one
thread a connection. The answer's status is the first three digits of the
webhook-id header when they are not 000 (else 204). After each request it
writes {"requests", "connections", "max_open"} to STATS_FILE.

    python3 hook_counter.py STATS_FILE     (prints "READY PORT")
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

stats = {"requests": 0, "connections": 0, "max_open": 0}
open_now = 0
lock = threading.Lock()


def save():
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, sys.argv[1])


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global open_now
        super().setup()
        with lock:
            stats["connections"] += 1
            open_now += 1
            stats["max_open"] = max(stats["max_open"], open_now)

    def finish(self):
        global open_now
        super().finish()
        with lock:
            open_now -= 1

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        code = self.headers.get("webhook-id", "")[:3]
        status = int(code) if code.isdigit() and code != "000" else 204
        with lock:
            stats["requests"] += 1
            save()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
server.daemon_threads = True
print("READY", server.server_address[1], flush=True)
server.serve_forever()
