#!/usr/bin/env python3
"""Hostile HTTP clients against an exporter on loopback, while a normal
client scrapes: idle sockets, slow headers, oversized headers and URLs, bad
methods, path traversal and a request flood. Every loop is bounded in count
and time.

usage: hostile_clients.py PORT [--idle N] [--slow N] [--timeout S]
                          [--label NAME] [--check]

Prints one table row per case: how long the normal scrape (and / and
/healthz) took while the hostile clients were held open. With --check it
also asserts pgwarden's answers (405 with Allow, 414/431/400, 404) and that
every normal request succeeded within --timeout; exit 1 otherwise."""

import argparse
import concurrent.futures
import http.client
import socket
import sys
import time

HOST = "127.0.0.1"


def normal_get(port, path, timeout):
    """(status, seconds) of one ordinary GET; status 0 on failure."""
    start = time.monotonic()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status, time.monotonic() - start
    except OSError:
        return 0, time.monotonic() - start


def raw(port, data, timeout=5.0):
    """The status line's code for raw request bytes, 0 when none."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        parts = head.split(b" ", 2)
        return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0,
                head)
    except OSError:
        return 0, b""
    finally:
        s.close()


def hold(port, count, payload):
    """Opens `count` connections, sends `payload` on each, keeps them."""
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection((HOST, port), timeout=5)
            if payload:
                s.sendall(payload)
            socks.append(s)
        except OSError:
            break
    return socks


def release(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def measure(port, timeout):
    """Normal requests while hostile ones are held: [(path, status, s)]."""
    out = []
    for path in ("/metrics", "/", "/healthz"):
        status, seconds = normal_get(port, path, timeout)
        out.append((path, status, seconds))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--label", default="exporter")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    port, failures = args.port, []

    def row(case, results):
        cells = []
        for path, status, seconds in results:
            ok = status == 200 and seconds <= args.timeout
            cells.append(f"{path} {status} {seconds:.2f}s")
            if not ok:
                failures.append(f"{case}: {path} answered {status} after "
                                f"{seconds:.2f}s")
        print(f"| {args.label} | {case} | " + " | ".join(cells) + " |")

    cases = [
        (f"{min(8, args.slow)} slow-header", min(8, args.slow),
         b"GET /metr"),
        (f"{args.slow} slow-header", args.slow, b"GET /metrics HTTP/1.1\r\nHo"),
        (f"{args.idle} idle TCP", args.idle, b""),
    ]
    for case, count, payload in cases:
        socks = hold(port, count, payload)
        time.sleep(0.5)
        row(case, measure(port, args.timeout))
        release(socks)

    # Both at once: the worst case.
    idle = hold(port, args.idle, b"")
    slow = hold(port, args.slow, b"GET / HTTP/1.1\r\nX-Slow: 1")
    time.sleep(0.5)
    row(f"{args.idle} idle + {args.slow} slow at once",
        measure(port, args.timeout))
    release(idle + slow)

    # A flood: 8 clients sending 400 requests in all, bounded to 20 s.
    deadline = time.monotonic() + 20

    def flood(n):
        done = 0
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            normal_get(port, "/healthz", 5)
            done += 1
        return done

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(flood, 50) for _ in range(8)]
        time.sleep(0.2)
        row("flood of 400 requests", measure(port, args.timeout))
        sent = sum(f.result() for f in futures)
    print(f"flood: {sent} requests sent", file=sys.stderr)

    if args.check:
        code, head = raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 3\r\n\r\nabc")
        if code != 405 or b"Allow: GET, HEAD" not in head:
            failures.append(f"POST answered {code}, want 405 with Allow")
        for method in (b"PUT", b"DELETE", b"OPTIONS", b"PATCH"):
            code, _ = raw(port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
            if code != 405:
                failures.append(f"{method.decode()} answered {code}, want 405")
        code, _ = raw(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n"
                      b"Host: x\r\n\r\n")
        if code != 414:
            failures.append(f"a 5 KB URL answered {code}, want 414")
        code, _ = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                      b"a" * 20000 + b"\r\n\r\n")
        if code not in (400, 413, 431):
            failures.append(f"20 KB of headers answered {code}, want "
                            "400/431")
        for path in (b"/../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd",
                     b"/metrics/../../etc/passwd", b"/index.html"):
            code, head = raw(port, b"GET " + path + b" HTTP/1.1\r\n"
                             b"Host: x\r\n\r\n")
            if code != 404 or b"root:" in head:
                failures.append(f"{path.decode()} answered {code}, want 404")
        start = time.monotonic()
        code, _ = raw(port, b"GET /metr", timeout=15)
        waited = time.monotonic() - start
        if code != 400 or waited > 10:
            failures.append(f"a stalled request line answered {code} after "
                            f"{waited:.1f}s, want 400 within the request "
                            "timeout")
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
