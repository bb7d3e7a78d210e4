"""python/bench.py still runs (a few of everything), so it cannot rot; its
figures are not checked: nothing about speed is asserted."""
import os
import subprocess
import sys

from conftest import SOURCE_DIR


def test_the_bench_runs_and_reports_both_sections():
    build = os.path.dirname(os.path.dirname(os.environ["MAPFILE_TEST_CLI"]))
    r = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "python", "bench.py"),
                        "--build", build, "--smoke"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "x faster" in r.stdout and "x base" in r.stdout
    assert "1. Get a hist1d" in r.stdout and "2. Update -> wait -> get" in r.stdout
