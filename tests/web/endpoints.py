#!/usr/bin/env python3
"""endpoints.py - `mapf serve` endpoint tests with real processes.

usage: endpoints.py BUILD_DIR

For the demo file: /NAME/get.json equals `mapf get --json` byte for byte,
/NAME/root.json parsed back gives the stored bins, entries and sums, /h.json
lists every record with its kind, /events delivers an event after each
update and resumes from Last-Event-ID (or says "resync"), the server follows
a producer RECREATE and waits for a file that does not exist yet; tokens,
the Host check, read-only methods and the client cap answer as documented;
/NAME/get.json of a class without its codec is decoded with the schema
stored in the file (marked X-Mapfile-Emulated).
"""
import json
import re
import socket
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import SSE, Checks, Env, get_json, http  # noqa: E402

T = Checks()
check = T.check


def put(env, map_path, name, text):
    r = env.run([env.mapf, "put", map_path, name, "--text", text])
    assert r.returncode == 0, r.stderr


def test_records(env, addr, map_path):
    names = ["hpx", "hpxpy", "hprof", "notes/shift", "det/tpc/occupancy"]
    for name in names:
        cli = env.run([env.mapf, "get", "--json", map_path, name])
        st, h, body = http(addr, "/%s/get.json" % name)
        check(st == 200 and body == cli.stdout and cli.returncode == 0,
              "/%s/get.json equals mapf get --json byte for byte" % name,
              "%d %r vs %r" % (st, body[:80], cli.stdout[:80]))
        check(h.get("content-type") == "application/json" and h.get("cache-control") == "no-store",
              "/%s/get.json is uncached JSON" % name, h)

    ref = json.loads(env.run([env.mapf, "get", "--json", map_path, "hpx"]).stdout)
    st, h, _, root = get_json(addr, "/hpx/root.json?compact=23")
    check(st == 200 and root["_typename"] == "TH1D", "hpx/root.json is a TH1D", st)
    check(root["fArray"] == ref["bins"], "hpx/root.json has every stored bin (with under/overflow)")
    check(root["fEntries"] == ref["entries"] and root["fTsumw"] == ref["sumw"] and
          root["fTsumw2"] == ref["sumw2"] and root["fTsumwx"] == ref["sumwx"] and
          root["fTsumwx2"] == ref["sumwx2"], "hpx/root.json has the stored entries and sums")
    check(root["fXaxis"]["fNbins"] == ref["xaxis"]["nbins"] and
          root["fXaxis"]["fXmin"] == ref["xaxis"]["min"] and
          root["fXaxis"]["fXmax"] == ref["xaxis"]["max"], "hpx/root.json has the stored axis")
    check(root["fName"] == "hpx", "the server names the ROOT object after its record", root["fName"])
    st, h, gz = http(addr, "/hpx/root.json.gz")
    check(st == 200 and "content-encoding" not in h and json.loads(gz)["fArray"] == ref["bins"],
          "root.json.gz answers plain JSON without Content-Encoding (as JSROOT asks)")

    ref2 = json.loads(env.run([env.mapf, "get", "--json", map_path, "hpxpy"]).stdout)
    _, _, _, r2 = get_json(addr, "/hpxpy/root.json")
    check(r2["_typename"] == "TH2D" and r2["fArray"] == ref2["bins"] and
          r2["fNcells"] == (ref2["xaxis"]["nbins"] + 2) * (ref2["yaxis"]["nbins"] + 2),
          "hpxpy/root.json is a TH2D with every cell")
    ref3 = json.loads(env.run([env.mapf, "get", "--json", map_path, "hprof"]).stdout)
    _, _, _, r3 = get_json(addr, "/hprof/root.json")
    check(r3["_typename"] == "TProfile" and r3["fArray"] == ref3["bin_sumwy"] and
          r3["fBinEntries"] == ref3["bin_entries"], "hprof/root.json is a TProfile with sums")

    # No to_root_json: the object's to_json is served.
    _, _, body = http(addr, "/notes/shift/root.json")
    cli = env.run([env.mapf, "get", "--json", map_path, "notes/shift"]).stdout
    check(body + b"\n" == cli, "a class without to_root_json serves its to_json", body)

    st, _, _, err = get_json(addr, "/nothing/get.json")
    check(st == 404 and err["error"] == "MF_ENOTFOUND" and "nothing" in err["message"],
          "a missing record is a 404 that names it", err)
    st, _, _, err = get_json(addr, "/x%01y/get.json")
    check(st == 400, "a control byte in a name is a 400", st)


def test_hier(env, addr):
    st, h, _, tree = get_json(addr, "/h.json?compact=3")
    check(st == 200 and tree["_kind"] == "ROOT.Session" and tree["_name"] == "",
          "h.json is a THttpServer session", tree and tree.get("_kind"))
    kinds = {}

    def walk(items, prefix=""):
        for it in items:
            if "_childs" in it:
                check(it["_kind"] == "ROOT.TFolder", "folder %s%s is a TFolder" % (prefix, it["_name"]))
                walk(it["_childs"], prefix + it["_name"] + "/")
            else:
                kinds[prefix + it["_name"]] = it["_kind"]
                check(it["_record"] == prefix + it["_name"], "item path is its record name", it)
    walk(tree["_childs"])
    want = {"hpx": "ROOT.TH1D", "hpxpy": "ROOT.TH2D", "hprof": "ROOT.TProfile",
            "notes/shift": "mapfile.text", "det/tpc/occupancy": "mapfile.text"}
    check(kinds == want, "h.json lists every record with its kind", kinds)
    titles = {it["_name"]: it["_title"] for it in tree["_childs"] if "_title" in it}
    check(titles.get("hpx") == "This is the px distribution", "items carry the object title", titles)


def id_gen(event_id):
    """The generation in an event id (GENERATION-FILEID)."""
    return int(str(event_id).split("-")[0])


def test_events(env, addr, map_path):
    sse = SSE(addr)
    check(sse.status == 200 and b"text/event-stream" in sse.head, "/events is an event stream")
    hello = sse.next()
    check(hello and hello["event"] == "hello" and id_gen(hello["id"]) == hello["json"]["generation"],
          "a new stream starts with hello carrying the generation in its id", hello)
    file_id = hello["id"].split("-")[1]
    check(re.fullmatch(r"[0-9a-f]{16}", file_id) is not None, "and the file's id", hello)
    put(env, map_path, "notes/shift", "beam off")
    ev = sse.next()
    check(ev and ev["event"] == "message" and ev["json"]["changed"] == ["notes/shift"] and
          not ev["json"]["tree"], "an update gives one event naming the record", ev)
    put(env, map_path, "notes/new", "hello")
    ev = sse.next()
    check(ev and "notes/new" in ev["json"]["changed"] and ev["json"]["tree"],
          "a new record is an event with tree: true", ev)
    last = ev["id"]
    check(id_gen(last) == ev["json"]["generation"] and last.endswith("-" + file_id),
          "the event id is GENERATION-FILEID", ev)
    sse.close()

    # Missed while away: one event naming all of it.
    put(env, map_path, "hpx_note", "a")
    put(env, map_path, "notes/shift", "beam on")
    env.run([env.mapf, "rm", map_path, "notes/new"])
    time.sleep(0.5)  # the watcher has scanned
    sse = SSE(addr, last_id=last)
    ev = sse.next()
    check(ev and ev["event"] == "message" and sorted(ev["json"]["changed"]) == ["hpx_note", "notes/shift"]
          and ev["json"]["removed"] == ["notes/new"] and ev["json"]["tree"],
          "Last-Event-ID resumes with what was missed, coalesced", ev)
    current = ev["id"]
    sse.close()
    sse = SSE(addr, last_id=current)
    check(sse.next(timeout=1.0) is None, "resuming at the current id sends nothing")
    sse.close()
    other_file = "%d-%016x" % (id_gen(current), int(file_id, 16) ^ 1)
    for bad in ("1", "abc", id_gen(current), "%d-%s" % (id_gen(current) + 100000, file_id),
                "18446744073709551616-" + file_id, other_file, current + "0"):
        sse = SSE(addr, last_id=bad)
        ev = sse.next()
        check(ev and ev["event"] == "resync", "Last-Event-ID %s (unknown) gives resync" % bad, ev)
        sse.close()


def test_recreate(env, addr, map_path):
    sse = SSE(addr)
    before = sse.next()  # hello
    env.produce(map_path, "--fills", "300", "--every", "100")
    seen = []
    for _ in range(20):
        ev = sse.next(timeout=5)
        if ev is None:
            break
        seen.append(ev["event"])
        if ev["event"] == "resync":
            break
    check("resync" in seen, "a producer RECREATE sends resync", seen)
    time.sleep(0.3)
    cli = env.run([env.mapf, "get", "--json", map_path, "hpx"]).stdout
    st, _, body = http(addr, "/hpx/get.json")
    check(json.loads(body)["entries"] == 300 and body == cli,
          "after a RECREATE the server serves the new file", body[:60])
    st, _, _, tree = get_json(addr, "/h.json")
    check(sorted(i["_name"] for i in tree["_childs"]) == ["hprof", "hpx", "hpxpy"],
          "h.json lists the new file's records", tree["_childs"])
    sse.close()
    # A browser reconnecting with an id of the replaced file, even one whose
    # generation the new file has reached, is told to start over.
    again = SSE(addr, last_id="%d-%s" % (3, before["id"].split("-")[1]))
    ev = again.next()
    check(ev and ev["event"] == "resync", "a Last-Event-ID of the replaced file gives resync", ev)
    again.close()


def test_wait_for_file(env):
    later = env.path("later.map")
    p, addr = env.serve(later)
    st, _, _, info = get_json(addr, "/info.json")
    check(st == 200 and info["open"] is False, "info.json says the file is not there yet", info)
    st, h, _, err = get_json(addr, "/hpx/get.json")
    check(st == 503 and err["error"] == "WAITING" and "retry-after" in h,
          "records answer 503 while waiting for the file", err)
    st, _, _, tree = get_json(addr, "/h.json")
    check(st == 200 and tree["_childs"] == [], "h.json is empty while waiting")
    sse = SSE(addr)
    hello = sse.next()
    check(hello["json"]["open"] is False, "hello says the file is not open")
    put(env, later, "first", "here")
    ev = sse.next()
    check(ev and ev["event"] == "resync", "the file appearing sends resync", ev)
    st, _, body = http(addr, "/first/get.json")
    check(st == 200 and json.loads(body)["text"] == "here" if st == 200 else False,
          "the record is served once the file exists", body)
    sse.close()
    env.stop(p)


def test_not_a_map_file(env):
    junk = env.path("junk.map")
    with open(junk, "wb") as f:
        f.write(b"this is not a map file" * 100)
    p, addr = env.serve(junk)
    time.sleep(0.5)
    st, _, _, err = get_json(addr, "/hpx/get.json")
    check(st == 503 and "map file" in err["message"] and err["message"].count(junk) == 1,
          "a file that is not a map file: records answer 503 saying so", err)
    st, _, _, info = get_json(addr, "/info.json")
    check(info["open"] is False and "map file" in info["state"], "info.json says why", info)
    check(p.poll() is None, "the server keeps running, waiting for a real file")
    env.stop(p)


def test_auth(env, map_path):
    r = env.run([env.mapf, "serve", map_path, "--listen", "0.0.0.0:0"])
    check(r.returncode == 2 and b"--token" in r.stderr,
          "a non-loopback address without --token is a usage error", r.stderr)
    r = env.run([env.mapf, "serve", map_path, "--listen", "127.0.0.1:0", "--jsroot",
                 env.path("no-jsroot-here")])
    check(r.returncode == 2 and b"no JSROOT package" in r.stderr,
          "a --jsroot directory without JSROOT is a usage error, said at start", r.stderr)
    tok = "s3cret-token-42"
    p, addr = env.serve(map_path, "--token", tok)
    st, h, _ = http(addr, "/h.json")
    check(st == 401 and h.get("www-authenticate") == "Bearer", "no token: 401", st)
    st, _, _ = http(addr, "/events")
    check(st == 401, "/events checks the token too", st)
    st, _, _ = http(addr, "/h.json", headers={"Authorization": "Bearer wrong-token-00"})
    check(st == 401, "a wrong token: 401", st)
    st, _, _ = http(addr, "/h.json", headers={"Authorization": "Bearer " + tok})
    check(st == 200, "Authorization: Bearer TOKEN is accepted", st)
    st, h, _ = http(addr, "/?token=" + tok)
    check(st == 303 and h.get("location") == "/" and ("mapf_token=" + tok) in h.get("set-cookie", "")
          and "HttpOnly" in h.get("set-cookie", ""), "/?token= sets an HttpOnly cookie and drops the token from the URL", h)
    st, _, _ = http(addr, "/hpx/root.json", headers={"Cookie": "mapf_token=" + tok})
    check(st == 200, "the cookie is accepted", st)
    sse = SSE(addr, headers={"Cookie": "mapf_token=" + tok})
    check(sse.status == 200, "/events with the cookie streams", sse.status)
    sse.close()
    env.stop(p)
    tf = env.path("token")
    with open(tf, "w") as f:
        f.write(tok + "\n")
    p, addr = env.serve(map_path, "--token-file", tf)
    st, _, _ = http(addr, "/h.json", headers={"Authorization": "Bearer " + tok})
    check(st == 200, "--token-file reads the token", st)
    env.stop(p)


def test_read_only_and_limits(env, map_path):
    p, addr = env.serve(map_path, "--max-clients", "2")
    for m in ("POST", "PUT", "DELETE", "PATCH"):
        st, h, _ = http(addr, "/hpx/get.json", method=m)
        check(st == 405 and h.get("allow") == "GET, HEAD", "%s is refused with 405" % m, st)
    st, h, body = http(addr, "/hpx/get.json", method="HEAD")
    check(st == 200 and body == b"" and int(h.get("content-length", "0")) > 0,
          "HEAD answers headers only", (st, h))
    st, _, _ = http(addr, "/", headers={"Host": "evil.example:80"})
    check(st == 403, "a foreign Host on a loopback server is refused (DNS rebinding)", st)
    st, h, body = http(addr, "/")
    check(st == 200 and b"<!doctype html>" in body.lower() and
          "default-src 'self'" in h.get("content-security-policy", ""),
          "the page is served with a same-origin-only CSP", h)
    st, _, _ = http(addr, "/favicon.ico")
    check(st == 204, "favicon is 204, not a console error", st)
    a, b = SSE(addr), SSE(addr)
    st, h, body = http(addr, "/events")
    check(st == 503 and a.status == 200 and b.status == 200 and b"--max-clients 2" in body
          and "retry-after" in h, "past --max-clients an event stream gets a 503 that says why",
          (st, body))
    a.close()
    b.close()
    # The server notices hung-up streams within its 250 ms tick.
    for _ in range(20):
        time.sleep(0.25)
        d = SSE(addr)
        if d.status == 200:
            break
        d.close()
    check(d.status == 200 and d.next()["event"] == "hello",
          "the slots of closed streams are freed within seconds")
    d.close()
    st, _, _ = http(addr, "/jsrootsys/modules/core.mjs")
    check(st == 200, "JSROOT is served from /jsrootsys/", st)
    env.stop(p)
    r = p.returncode
    check(r == 0, "SIGTERM stops the server with exit 0", r)


EMULATED_WRITER = r"""
import ctypes, struct, sys
lib = ctypes.CDLL(sys.argv[1])
lib.mf_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int,
                        ctypes.c_void_p]
lib.mf_put_raw.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
lib.mf_close.argtypes = [ctypes.c_void_p]
mf = ctypes.c_void_p()
assert lib.mf_open(ctypes.byref(mf), sys.argv[2].encode(), 5, None) == 0  # MF_RECREATE
field = lambda name: bytes([len(name)]) + name + bytes([1, 6, 0])  # value, i32, 0 dims
schema = b"MFSC" + bytes([1, 1, 2]) + field(b"x") + field(b"y")
for name, cls, data in ((b".mapfile/schema/x.point@1", b"mapfile.schema", schema),
                        (b"pt", b"x.point", struct.pack("<ii", 3, -4)),
                        (b"nothing", b"x.nothing", b"\x01"),
                        # hostile: a schema that is no schema, a payload cut short
                        (b".mapfile/schema/x.junk@1", b"mapfile.schema", b"\xff" * 20),
                        (b"junk", b"x.junk", struct.pack("<ii", 1, 2)),
                        (b"short", b"x.point", b"\x01\x02\x03")):
    assert lib.mf_put_raw(mf, name, cls, 1, data, len(data)) == 0, name
lib.mf_close(mf)
"""


def make_emulated_file(env, path):
    """A record of class x.point with no codec anywhere, and the schema its
    producer would have stored (struct { int32_t x, y; }), written with
    libmapfile through ctypes in a child python (with the ASan runtime
    preloaded when the library is a sanitizer build: it must come first)."""
    lib = os.path.join(env.build, "lib", "libmapfile.so")
    child = dict(os.environ)
    ldd = env.run(["ldd", lib]).stdout.decode()
    asan = [line.split("=>")[1].split()[0] for line in ldd.splitlines()
            if "libasan" in line and "=>" in line]
    if asan:
        child["LD_PRELOAD"] = asan[0]
        child["ASAN_OPTIONS"] = "detect_leaks=0"
    r = env.run([sys.executable, "-c", EMULATED_WRITER, lib, path], env=child)
    assert r.returncode == 0, r.stderr.decode()


def test_emulated(env):
    path = env.path("emu.map")
    make_emulated_file(env, path)
    p, addr = env.serve(path)
    cli = env.run([env.mapf, "get", "--json", path, "pt"])
    st, h, body = http(addr, "/pt/get.json")
    check(st == 200 and body == cli.stdout and json.loads(body) == {"x": 3, "y": -4},
          "/pt/get.json without the codec: the stored schema's JSON, as mapf get --json",
          "%d %r vs %r" % (st, body, cli.stdout))
    check(h.get("x-mapfile-emulated") == ".mapfile/schema/x.point@1",
          "an emulated get.json names the schema it was read with", h)
    st, _, _, tree = get_json(addr, "/h.json")
    names = sorted(i["_name"] for i in tree["_childs"])
    check(st == 200 and names == ["junk", "nothing", "pt", "short"],
          "h.json lists the records, not the stored schemas", names)
    st, _, _, err = get_json(addr, "/pt/root.json")
    check(st != 200 and err["error"] == "MF_ENOCODEC",
          "root.json of a class without its codec stays MF_ENOCODEC", (st, err))
    st, h, _, err = get_json(addr, "/nothing/get.json")
    check(st != 200 and err["error"] == "MF_ENOCODEC" and "x-mapfile-emulated" not in h,
          "get.json of a class with neither codec nor schema is MF_ENOCODEC", (st, err))
    st, h, _, err = get_json(addr, "/junk/get.json")
    check(st == 500 and err["error"] == "MF_ECORRUPT" and "x-mapfile-emulated" not in h,
          "get.json read with a stored schema that is no schema: MF_ECORRUPT", (st, err))
    st, h, _, err = get_json(addr, "/short/get.json")
    check(st != 200 and err["error"] == "MF_ECODEC" and "x-mapfile-emulated" not in h,
          "get.json of a payload shorter than its schema: MF_ECODEC", (st, err))
    st, _, body = http(addr, "/pt/get.json")
    check(p.poll() is None and st == 200 and json.loads(body) == {"x": 3, "y": -4},
          "still serving the sound record after the hostile ones", st)
    # h.json keeps each record's kind from the last listing while the record
    # is unchanged: a record replaced by one of another class shows the new.
    env.run([env.mapf, "rm", path, "nothing"])
    put(env, path, "nothing", "now a text")
    st, _, _, tree = get_json(addr, "/h.json")
    kinds = {i["_name"]: i["_kind"] for i in tree["_childs"]}
    check(kinds.get("nothing") == "mapfile.text" and kinds.get("pt") == "mapfile.x.point",
          "h.json shows a record's new class, the others' as before", kinds)
    env.stop(p)


def test_slow_header_flood(env, map_path):
    """Clients from one address that never finish their headers cannot lock
    the others out of a server that listens beyond loopback."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    tok = "s3cret-token-42"
    p = env.start([env.mapf, "serve", map_path, "--listen", "0.0.0.0:0", "--token", tok])
    m = re.search(r":(\d+)/", p.stdout.readline().decode())
    addr = ("127.0.0.1", int(m.group(1)))
    slow = []
    for _ in range(1200):  # more than the 1,024 + 64 connections the server takes
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        try:
            s.connect(addr)
            s.sendall(b"GET /h.json HTTP/1.1\r\nHost: x\r\n")  # and never the end
        except OSError:
            s.close()
            continue
        slow.append(s)
    try:
        st, _, _ = http(addr, "/h.json", headers={"Authorization": "Bearer " + tok},
                        timeout=10)
    except OSError as e:
        st = repr(e)
    check(st == 200, "another address is served during a slow-header flood from one", st)
    for s in slow:
        s.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    env.stop(p)


def test_reply_budget(env):
    """Slow readers of a big record cannot pile up copies of it: past the
    reply budget a big reply gets 503 (small ones still pass), and the budget
    comes back when the readers go."""
    path, blob = env.path("big.map"), env.path("big.bin")
    with open(blob, "wb") as f:
        f.write(os.urandom(20 << 20))  # about 27 MB of JSON
    env.run([env.mapf, "put", path, "huge", "--blob", blob])
    env.run([env.mapf, "put", path, "small", "--text", "x"])
    p, addr = env.serve(path, "--reply-budget", "32")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(addr)
    slow.sendall(("GET /huge/get.json HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % addr).encode())
    # and never read
    time.sleep(1.0)
    st, h, body = http(addr, "/huge/get.json")
    check(st == 503 and "retry-after" in h and b"BUSY" in body,
          "a big reply past the reply budget gets 503 BUSY with Retry-After", (st, body[:120]))
    st, _, _ = http(addr, "/small/get.json")
    check(st == 200, "a small reply still passes", st)
    slow.close()
    ok = False
    for _ in range(50):  # the server frees the reply once it sees the close
        time.sleep(0.2)
        st, _, body = http(addr, "/huge/get.json")
        if st == 200:
            ok = len(body) > (20 << 20)
            break
    check(ok, "the budget comes back when the slow reader goes", st)
    env.stop(p)


def main():
    env = Env(sys.argv[1])
    try:
        map_path = env.path("demo.map")
        env.produce(map_path, "--fills", "3000", "--every", "100")
        put(env, map_path, "notes/shift", "beam on, 3.5 TeV")
        put(env, map_path, "det/tpc/occupancy", "0.37")
        p, addr = env.serve(map_path)
        test_records(env, addr, map_path)
        test_hier(env, addr)
        test_events(env, addr, map_path)
        test_recreate(env, addr, map_path)
        env.stop(p)
        test_wait_for_file(env)
        test_not_a_map_file(env)
        test_auth(env, map_path)
        test_slow_header_flood(env, map_path)
        test_reply_budget(env)
        test_read_only_and_limits(env, map_path)
        test_emulated(env)
    except Exception as e:  # a crash in the test is a failure, not a skip
        import traceback
        traceback.print_exc()
        T.check(False, "test run raised " + repr(e))
    finally:
        env.close()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
