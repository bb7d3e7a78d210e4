#!/usr/bin/env python3
"""bench.py - what the Python module buys a Python user, measured in one
interleaved run (tools/run bench runs it after mapfile-bench).

1. Get a histogram as numpy bins: `f[name]` + `numpy.asarray(h.arrays["bins"])`
   against the routes a Python user has without the module: `subprocess` of
   `mapf get --json` + `json.loads` + `numpy.asarray`, and `json.loads`
   (+ `numpy.asarray`) of the same JSON bytes already in memory (the floor of
   any JSON route). Names are drawn at random from RECORDS hist1d records
   (100 bins each, ~40 MB of map file: more than the caches), the same
   sequence for every route. The routes take turns in short slices, so
   load on the shared machine hits all of them alike; the figure is the
   median over slices.

2. Update -> wait -> get round trip between two Python processes: the
   parent stores a text record in one file, the child wakes in f.wait(),
   gets it and answers in a second file, where the parent wakes and gets
   the answer. The base is the same ping-pong over a pair of pipes (the
   kernel's floor for a Python wake-up). Blocks of mapfile and pipe round
   trips alternate; the figures are medians and 99th percentiles of the
   one-way time (half a round trip).

Usage: bench.py --build BUILD_DIR [--quick | --smoke]
Nothing about speed is asserted.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

RECORDS = 40000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", required=True, help="the CMake build directory")
    p.add_argument("--quick", action="store_true", help="fewer records and slices")
    p.add_argument("--smoke", action="store_true", help="a few of everything (tests)")
    p.add_argument("--echo", nargs=2, metavar=("PING", "PONG"), help=argparse.SUPPRESS)
    return p.parse_args()


def load_module(build):
    sys.path.insert(0, os.path.join(build, "python"))
    import mapfile  # noqa: E402 - from the build tree on purpose
    return mapfile


def cli_path(build):
    p = os.path.join(build, "tools", "mapf")
    if os.path.isfile(p) and os.access(p, os.X_OK):
        return p
    sys.exit(f"bench.py: no CLI: {p} is not an executable (build the project first)")


# ---- 1. gets ---------------------------------------------------------------

def make_records(mapfile, build, tmp, n):
    """A map file with n hist1d records (copies of the demo's hpx with
    different contents) and the JSON of each, as `mapf get --json`
    prints it."""
    demo = os.path.join(tmp, "demo.map")
    subprocess.run([os.path.join(build, "tools", "mapfile-demo"), "produce", demo,
                    "--fills", "2000", "--rate", "0"], check=True, capture_output=True)
    with mapfile.open(demo) as f:
        h = f["hpx"]
    bins = numpy.asarray(h.arrays["bins"])
    path = os.path.join(tmp, "many.map")
    names = [f"det/h{i:06d}" for i in range(n)]
    jsons = []
    rng = numpy.random.default_rng(1)
    with mapfile.open(path, "recreate", initial_size=64 << 20) as f:
        for name in names:
            bins[:] = rng.poisson(20.0, bins.shape)
            f.put(name, h)
            jsons.append((h.to_json() + "\n").encode())
    return path, names, jsons


def get_module(f, name, _):
    return numpy.asarray(f[name].arrays["bins"])


def get_json_only(_, __, data):
    return json.loads(data)


def get_json_numpy(_, __, data):
    return numpy.asarray(json.loads(data)["bins"])


def make_subprocess_get(cli, path):
    def get(_, name, __):
        out = subprocess.run([cli, "get", "--json", path, name], capture_output=True,
                             check=True).stdout
        return numpy.asarray(json.loads(out)["bins"])
    return get


def time_slice(fn, f, names, jsons, order, start, count):
    """Seconds per call of fn over count names of the shared random order."""
    t0 = time.perf_counter()
    for k in range(count):
        i = order[(start + k) % len(order)]
        fn(f, names[i], jsons[i])
    return (time.perf_counter() - t0) / count


def bench_gets(mapfile, build, tmp, args):
    n = 200 if args.smoke else 10000 if args.quick else RECORDS
    slices = 3 if args.smoke else 10 if args.quick else 30
    path, names, jsons = make_records(mapfile, build, tmp, n)
    cli = cli_path(build)
    with mapfile.open(path) as f:
        # The routes must agree before their speed means anything.
        for i in (0, n // 2, n - 1):
            want = get_module(f, names[i], None)
            assert (get_json_numpy(None, None, jsons[i]) == want).all()
            cli_json = subprocess.run([cli, "get", "--json", path, names[i]],
                                      capture_output=True, check=True).stdout
            assert cli_json == jsons[i], "to_json differs from mapf get --json"
        routes = [
            ("python f[name] + numpy.asarray(bins)", get_module, 20000),
            ("json.loads of the same bytes", get_json_only, 5000),
            ("json.loads + numpy.asarray(bins)", get_json_numpy, 5000),
            ("subprocess mapf get --json + json.loads", make_subprocess_get(cli, path), 20),
        ]
        if args.smoke:
            routes = [(r[0], r[1], max(2, r[2] // 1000)) for r in routes]
        rng = random.Random(7)
        order = [rng.randrange(n) for _ in range(1 << 16)]
        times = {r[0]: [] for r in routes}
        start = 0
        for s in range(slices):
            # Rotate which route goes first, so none always follows another.
            for j in range(len(routes)):
                label, fn, count = routes[(s + j) % len(routes)]
                times[label].append(time_slice(fn, f, names, jsons, order, start, count))
                start += count
        used = f.info()["heap_used"]
    return n, used, slices, {k: statistics.median(v) for k, v in times.items()}


# ---- 2. update -> wait -> get round trips --------------------------------------

def echo(mapfile, ping, pong):
    """The child: answers pings through the map files or the pipes, as told
    on stdin ("m N" or "p N")."""
    fin, fout = sys.stdin.buffer, sys.stdout.buffer
    with mapfile.open(ping, wait=30) as src, mapfile.open(pong, "w") as dst:
        fout.write(b"ready\n")
        fout.flush()
        while True:
            line = fin.readline()
            if not line:
                return
            kind, count = line.split()
            for _ in range(int(count)):
                if kind == b"m":
                    src.wait()
                    dst["pong"] = src["ping"]
                else:
                    fout.write(fin.read(8))
                    fout.flush()


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def bench_round_trips(mapfile, tmp, args):
    blocks = 4 if args.smoke else 20 if args.quick else 100
    per_block = 50
    ping, pong = os.path.join(tmp, "ping.map"), os.path.join(tmp, "pong.map")
    with mapfile.open(pong, "recreate"), mapfile.open(ping, "recreate") as out:
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--build",
                                  args.build, "--echo", ping, pong],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert child.stdout.readline() == b"ready\n"
            with mapfile.open(pong) as back:
                mf, pipe = [], []
                seq = 0
                for b in range(blocks):
                    child.stdin.write(f"m {per_block}\n".encode())
                    child.stdin.flush()
                    for _ in range(per_block):
                        seq += 1
                        token = str(seq)
                        t0 = time.perf_counter()
                        out["ping"] = token
                        while not (back.wait() and back["pong"] == token):
                            pass
                        mf.append((time.perf_counter() - t0) / 2)
                    child.stdin.write(f"p {per_block}\n".encode())
                    child.stdin.flush()
                    for _ in range(per_block):
                        t0 = time.perf_counter()
                        child.stdin.write(b"12345678")
                        child.stdin.flush()
                        assert child.stdout.read(8) == b"12345678"
                        pipe.append((time.perf_counter() - t0) / 2)
        finally:
            child.stdin.close()
            child.wait(timeout=30)
    return blocks * per_block, mf, pipe


# ---- report -------------------------------------------------------------------

def us(seconds):
    return f"{seconds * 1e6:.3g} us" if seconds < 1e-3 else f"{seconds * 1e3:.3g} ms"


def row(figure, value, peer="", peer_value=None, ratio=""):
    pv = us(peer_value) if peer_value is not None else ""
    print(f"  {figure:<46} {us(value):<12} {peer:<46} {pv:<12} {ratio}")


def main():
    args = parse_args()
    mapfile = load_module(args.build)
    if args.echo:
        echo(mapfile, *args.echo)
        return
    t_start = time.time()
    with open("/proc/loadavg") as la:
        load = " ".join(la.read().split()[:3])
    print(f"mapfile python bench: python {sys.version.split()[0]}, numpy {numpy.__version__}, "
          f"{os.cpu_count()} CPUs, load average at start {load}")
    tmp = tempfile.mkdtemp(prefix="mapfile-pybench.")
    try:
        n, size, slices, t = bench_gets(mapfile, args.build, tmp, args)
        mine = t["python f[name] + numpy.asarray(bins)"]
        print(f"\n1. Get a hist1d (100 bins) as numpy bins, random among {n} records "
              f"({size / 2**20:.0f} MiB of heap in use)")
        print(f"  (median over {slices} interleaved slices per route; ratio = the route's "
              f"time / the module's)")
        print(f"  {'figure':<46} {'mapfile':<12} {'route without the module':<46} "
              f"{'time':<12} ratio")
        for label, v in t.items():
            if label != "python f[name] + numpy.asarray(bins)":
                row("f[name] + numpy.asarray(h.arrays['bins'])", mine, label, v,
                    f"{v / mine:.3g}x faster")

        count, mf, pipe = bench_round_trips(mapfile, tmp, args)
        print(f"\n2. Update -> wait -> get, one way between two Python processes")
        print(f"  (half of {count} round trips, in blocks of 50 alternating with the "
              f"same ping-pong over pipes)")
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            a, b = percentile(mf, q), percentile(pipe, q)
            row(f"put -> wait() wakes -> f[name], {name}", a, "pipe write -> read, Python",
                b, f"{a / b:.3g}x base")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nNx faster: the route's time / the module's time; Nx base: mapfile / pipe.")
    print(f"Nothing about speed is asserted. total time {time.time() - t_start:.1f} s")


if __name__ == "__main__":
    main()
