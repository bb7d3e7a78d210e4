"""Shared fixtures of the mapfile pytest suite.

ctest runs it with PYTHONPATH=build/python and the paths of the CLI (mapf) and the
demo producer in MAPFILE_TEST_CLI / MAPFILE_TEST_DEMO (python/CMakeLists.txt).
"""
import json
import os
import signal
import subprocess
import time

import pytest

import mapfile

CLI = os.environ.get("MAPFILE_TEST_CLI", "")
DEMO = os.environ.get("MAPFILE_TEST_DEMO", "")
SOURCE_DIR = os.environ.get("MAPFILE_TEST_SOURCE_DIR", "")
SANITIZED = os.environ.get("MAPFILE_TEST_SANITIZED") == "1"

# Fills of the static demo file: every test that reads it sees the same
# histograms (the producer's seed is fixed).
DEMO_FILLS = 20000


def cli(*args, check=True):
    """Runs the CLI, mapf; returns its stdout."""
    assert CLI, "MAPFILE_TEST_CLI is not set (run through ctest)"
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"{CLI} {args} exited {r.returncode}: {r.stderr}")
    return r.stdout


def cli_json(*args):
    return json.loads(cli(*args))


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    """A map file the demo producer filled and left: hpx, hpxpy, hprof, plus a
    text and a blob record."""
    path = tmp_path_factory.mktemp("demo") / "demo.map"
    subprocess.run([DEMO, "produce", str(path), "--fills", str(DEMO_FILLS), "--rate", "0"],
                   check=True, capture_output=True, timeout=120)
    cli("put", path, "notes/shift", "--text", "beam on, 3.5 TeV")
    blob = path.parent / "adc.bin"
    blob.write_bytes(bytes(range(256)) * 3)
    cli("put", path, "raw/adc", "--blob", blob)
    return path


@pytest.fixture
def demo(demo_file):
    with mapfile.open(demo_file) as f:
        yield f


class Producer:
    """The demo producer running as a subprocess until stop()."""

    def __init__(self, path, rate=200, every=10):
        self.path = path
        self.proc = subprocess.Popen(
            [DEMO, "produce", str(path), "--rate", str(rate), "--every", str(every)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def producer(tmp_path):
    """A live producer filling tmp_path/live.map; the file exists on return."""
    p = Producer(tmp_path / "live.map")
    try:
        with mapfile.open(p.path, wait=30) as f:
            deadline = time.monotonic() + 30
            while "hprof" not in f and time.monotonic() < deadline:
                f.wait(0.5)
        yield p
    finally:
        p.stop()
