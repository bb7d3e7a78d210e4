#!/usr/bin/env python3
"""hostile.py - `mapf serve` under hostile and heavy clients, bounded.

usage: hostile.py BUILD_DIR

Malformed and oversized requests, `..` and encoded traversal, 1,000
connections opened and dropped, slow clients (headers a byte at a time, an
event stream that never reads while the producer runs flat out): the server
answers or refuses cleanly, never serves a file outside its directories,
keeps serving others, and its memory stays bounded. Every loop is bounded
in count and time and talks to 127.0.0.1 only.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import SSE, Checks, Env, http, parse_response  # noqa: E402

T = Checks()
check = T.check


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def alive_and_serving(addr, p, what):
    st, _, body = http(addr, "/hpx/get.json", timeout=10)
    return check(p.poll() is None and st == 200 and body.startswith(b"{"),
                 "still serving after " + what, st)


def send_raw(addr, data, timeout=5):
    s = socket.create_connection(addr, timeout=timeout)
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading it all
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def test_malformed(addr, p):
    cases = [
        (b"\x00\x01\x02garbage\r\n\r\n", "binary garbage"),
        (b"GET\r\n\r\n", "a request line without a path"),
        (b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", "an unknown HTTP version"),
        (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
        (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a 100 kB URL"),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"b" * 200000 + b"\r\n\r\n", "a 200 kB header"),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: 1\r\n" * 5000 + b"\r\n", "5000 headers"),
        (b"POST /hpx/get.json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 10000,
         "a POST announcing 1 GB"),
        (b"GET /%zz/get.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a bad %-escape"),
        (b"GET /%ff%fe/get.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "invalid UTF-8 in the path"),
        (b"GET /hpx%00/get.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "an encoded NUL"),
    ]
    for data, what in cases:
        out = send_raw(addr, data)
        st = parse_response(out)[0] if out else 0
        check(out == b"" or 400 <= st < 600, "%s is refused (status %s)" % (what, st or "closed"), out[:80])
    # A GET is answered before any body is read; a broken body after it
    # only closes the connection.
    out = send_raw(addr, b"GET /hpx/get.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    st, h = parse_response(out)[:2] if out else (0, {})
    check(out == b"" or (st == 200 and h.get("connection") == "close") or 400 <= st < 600,
          "a GET with a broken chunked body is answered once and closed", out[:80])
    st, _, _ = http(addr, "/hpx%00/get.json")
    check(st == 400, "an encoded NUL in a name is a 400", st)
    alive_and_serving(addr, p, "malformed requests")


def test_traversal(addr, p):
    paths = [
        "/jsrootsys/../../../../etc/passwd",
        "/jsrootsys/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/jsrootsys/modules/../../../../../etc/passwd",
        "/jsrootsys/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/jsrootsys//etc/passwd",
        "/jsrootsys/%252e%252e/%252e%252e/etc/passwd",
        "/jsrootsys/..%5c..%5cetc%5cpasswd",
        "/jsrootsys/modules/..",
        "/jsrootsys/modules",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd/get.json",
        "/../../etc/passwd/root.json",
        "/etc/passwd",
        "/app.js/../../etc/passwd",
    ]
    for path in paths:
        raw = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode()
        st, _, body = parse_response(send_raw(addr, raw))
        check(st in (400, 404) and b"root:" not in body,
              "%s is refused without leaking a file (status %d)" % (path, st), body[:100])
    st, _, body = http(addr, "/jsrootsys/modules/core.mjs")
    check(st == 200 and b"version" in body, "a real JSROOT file is still served", st)
    alive_and_serving(addr, p, "traversal attempts")


def test_connection_flood(addr, p):
    """1,000 connections opened and dropped, in waves of 200 open at once."""
    opened = 0
    for _ in range(5):
        socks = []
        for _ in range(200):
            try:
                socks.append(socket.create_connection(addr, timeout=5))
                opened += 1
            except OSError:
                pass
        for i, s in enumerate(socks):
            if i % 2:
                try:  # half send a partial request first
                    s.sendall(b"GET /h.json HTTP/1.1\r\nHo")
                except OSError:
                    pass
            s.close()
    check(opened == 1000, "1,000 connections opened and dropped", opened)
    alive_and_serving(addr, p, "1,000 dropped connections")


def test_slow_clients(env, addr, p, map_path):
    # 40 slowloris clients dribble a header a byte at a time for 3 s while
    # normal clients are served without waiting for them.
    stop = time.time() + 3
    slow = []
    for _ in range(40):
        s = socket.create_connection(addr, timeout=5)
        slow.append(s)

    def dribble():
        i = 0
        msg = b"GET /h.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 1000
        while time.time() < stop:
            for s in slow:
                try:
                    s.send(msg[i % len(msg):i % len(msg) + 1])
                except OSError:
                    pass
            i += 1
            time.sleep(0.1)
    t = threading.Thread(target=dribble)
    t.start()
    worst = 0.0
    ok = True
    while time.time() < stop:
        t0 = time.time()
        st, _, _ = http(addr, "/hpx/root.json", timeout=5)
        worst = max(worst, time.time() - t0)
        ok = ok and st == 200
    t.join()
    for s in slow:
        s.close()
    check(ok, "normal requests are answered while 40 clients dribble headers",
          "slowest %.3f s" % worst)

    # An event stream that never reads while the producer runs flat out:
    # coalesced, not queued, so the server's memory stays flat.
    lazy = SSE(addr)
    lazy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader = SSE(addr)
    reader.next()  # hello
    before = rss_kb(p.pid)
    prod = env.start([env.demo, "produce", map_path, "--rate", "0", "--every", "1",
                      "--fills", "150000"])
    got, deadline = 0, time.time() + 20
    while prod.poll() is None and time.time() < deadline:
        ev = reader.next(timeout=1)
        if ev:
            got += 1
    env.stop(prod)
    after = rss_kb(p.pid)
    check(got > 0, "a reading client got events while another never read", got)
    check(after - before < 64 * 1024, "server memory stays bounded with a stalled client",
          "RSS %d kB -> %d kB" % (before, after))
    lazy.close()
    reader.close()
    alive_and_serving(addr, p, "slow clients")


def test_many_streams(addr, p):
    """The cap: 256 streams by default; more get a clear 503."""
    streams = [SSE(addr) for _ in range(260)]
    codes = [s.status for s in streams]
    check(codes.count(200) == 256 and codes.count(503) == 4,
          "256 event streams are served, the rest get 503",
          "%d x 200, %d x 503" % (codes.count(200), codes.count(503)))
    for s in streams:
        s.close()
    alive_and_serving(addr, p, "260 event streams")


def main():
    env = Env(sys.argv[1])
    try:
        map_path = env.path("demo.map")
        env.produce(map_path, "--fills", "2000", "--every", "100")
        p, addr = env.serve(map_path)
        test_malformed(addr, p)
        test_traversal(addr, p)
        test_connection_flood(addr, p)
        test_many_streams(addr, p)
        test_slow_clients(env, addr, p, map_path)
        rc = env.stop(p)
        check(rc == 0, "the server stops cleanly after all of it", rc)
    except Exception as e:
        import traceback
        traceback.print_exc()
        T.check(False, "test run raised " + repr(e))
    finally:
        env.close()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
