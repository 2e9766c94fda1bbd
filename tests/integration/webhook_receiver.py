#!/usr/bin/env python3
"""A webhook receiver for folio's tests: verifies Standard Webhooks
signatures as the specification's reference library does (HMAC-SHA256 with
the whsec_ secret base64-decoded, constant-time compare, a five-minute
timestamp tolerance), answers 204 to a good one and 401 to a bad one, and
records every request as one JSON line.

  webhook_receiver.py --secret S --port-file F --record R [--mode-file M]

POST /fail always answers 500. When --mode-file is given and the file
reads "fail", POSTs to /flaky... answer 500 until it reads anything else.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 5 * 60


def key_of(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):] + "==")
    return secret.encode()


def verify(key, headers, body):
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "missing headers"
    try:
        t = int(ts)
    except ValueError:
        return "bad timestamp"
    if abs(time.time() - t) > TOLERANCE:
        return "timestamp out of tolerance"
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for versioned in sigs.split(" "):
        version, _, sig = versioned.partition(",")
        if version != "v1":
            continue
        try:
            got = base64.b64decode(sig)
        except ValueError:
            continue
        if hmac.compare_digest(expected, got):
            return None
    return "no matching signature"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--mode-file")
    args = ap.parse_args()
    key = key_of(args.secret)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            headers = {k.lower(): v for k, v in self.headers.items()}
            problem = verify(key, headers, body)
            failing = self.path == "/fail"
            if (args.mode_file and self.path.startswith("/flaky")
                    and os.path.exists(args.mode_file)):
                with open(args.mode_file) as f:
                    failing = failing or f.read().strip() == "fail"
            status = 401 if problem else (500 if failing else 204)
            rec = {
                "path": self.path,
                "id": headers.get("webhook-id"),
                "content_type": headers.get("content-type"),
                "verified": problem is None,
                "problem": problem,
                "status": status,
                "body": body.decode("utf-8", "replace"),
            }
            with lock, open(args.record, "a") as f:
                f.write(json.dumps(rec) + "\n")
            self.answer(status)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
