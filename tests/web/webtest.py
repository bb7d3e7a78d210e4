"""webtest.py - helpers shared by the web server tests: real processes
(the demo producer, `mapf serve`, `mapf put`), raw HTTP and a
Server-Sent Events reader. Standard library only."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


class Checks:
    """Counts checks and prints one line per check; `N passed, M failed`
    at the end."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("ok: " + what)
        else:
            self.failed += 1
            print("FAIL: " + what + (": " + str(detail) if detail != "" else ""))
        sys.stdout.flush()
        return ok

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


class Env:
    """A temp dir, the build's tools, and every process started (stopped at
    the end)."""

    def __init__(self, build):
        self.build = os.path.abspath(build)
        tools = os.path.join(self.build, "tools")
        self.mapf = os.path.join(tools, "mapf")
        self.demo = os.path.join(tools, "mapfile-demo")
        self.tmp = tempfile.mkdtemp(prefix="mapf-web-")
        self.procs = []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def run(self, args, **kw):
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=60, **kw)

    def produce(self, map_path, *extra):
        """Run the demo producer to completion (RECREATE)."""
        r = self.run([self.demo, "produce", map_path] + list(extra))
        assert r.returncode == 0, r.stderr
        return r

    def serve(self, map_path, *extra):
        """Start `mapf serve` on a free loopback port; returns (proc, url)."""
        p = self.start([self.mapf, "serve", map_path, "--listen", "127.0.0.1:0"] + list(extra))
        line = p.stdout.readline().decode()
        m = re.search(r"http://(\S+?):(\d+)/", line)
        if not m:
            err = p.stderr.read().decode() if p.poll() is not None else ""
            raise RuntimeError("mapf serve printed no URL: %r %s" % (line, err))
        return p, (m.group(1), int(m.group(2)))

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def http(addr, path, method="GET", headers=None, timeout=10, raw=None):
    """One request on a fresh connection; returns (status, headers dict
    with lower-case names, body bytes). raw: send these bytes instead."""
    s = socket.create_connection(addr, timeout=timeout)
    try:
        if raw is None:
            h = {"Host": "%s:%d" % addr, "Connection": "close"}
            h.update(headers or {})
            req = "%s %s HTTP/1.1\r\n" % (method, path)
            req += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
            raw = req.encode("latin-1") if isinstance(req, str) else req
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return parse_response(data)


def parse_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return 0, {}, data
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return status, hdrs, body


def dechunk(b):
    out = b""
    while b:
        size_line, _, rest = b.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            break
        out += rest[:n]
        b = rest[n + 2:]
    return out


def get_json(addr, path, **kw):
    st, h, body = http(addr, path, **kw)
    return st, h, body, (json.loads(body) if body.strip().startswith((b"{", b"[")) else None)


class SSE:
    """A raw Server-Sent Events client: events as dicts {event, id, data}."""

    def __init__(self, addr, last_id=None, headers=None):
        self.sock = socket.create_connection(addr, timeout=10)
        h = {"Host": "%s:%d" % addr, "Accept": "text/event-stream"}
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        h.update(headers or {})
        req = "GET /events HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        self.status = None
        self.chunked = False
        self.raw = b""
        self._read_head()

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        first = head.split(b"\r\n")[0].decode()
        self.status = int(first.split()[1]) if first.startswith("HTTP/") else 0
        self.chunked = b"chunked" in head.lower()
        self.head = head
        self.buf = b""
        self.raw = rest

    def _decode(self):
        """Move complete chunks from raw into buf."""
        if not self.chunked:
            self.buf += self.raw
            self.raw = b""
            return
        while True:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            n = int(line.split(b";")[0] or b"0", 16)
            if len(rest) < n + 2:
                return
            self.buf += rest[:n]
            self.raw = rest[n + 2:]
            if n == 0:
                return

    def next(self, timeout=10):
        """The next event (comments skipped), or None on timeout/close."""
        deadline = time.time() + timeout
        while True:
            self._decode()
            while b"\n\n" in self.buf:
                block, _, self.buf = self.buf.partition(b"\n\n")
                ev = {"event": "message", "id": None, "data": ""}
                lines = [ln for ln in block.decode().split("\n") if ln and not ln.startswith(":")]
                if not lines:
                    continue
                for ln in lines:
                    k, _, v = ln.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        ev["data"] += v
                    elif k in ("event", "id", "retry"):
                        ev[k] = v
                if ev["data"]:
                    ev["json"] = json.loads(ev["data"])
                return ev
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.raw += chunk

    def close(self):
        self.sock.close()
