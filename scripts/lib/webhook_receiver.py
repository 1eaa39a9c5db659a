#!/usr/bin/env python3
"""A small Alertmanager webhook receiver for tests and the demo: appends each
notification (one JSON document per line, with the request path) to a file.

  webhook_receiver.py PORT FILE [MAX_SECONDS]

Exits by itself after MAX_SECONDS (default 1800), so a forgotten receiver
cannot outlive its test by much."""

import http.server
import json
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparsable": body.decode("utf-8", "replace")}
        with open(self.server.out, "a") as f:
            f.write(json.dumps({"path": self.path, "payload": payload}) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 1800
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.out = out
    open(out, "a").close()
    threading.Timer(max_seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
