"""No leak after 100,000 gets: objects, arrays, numpy views and method
calls all go away. Measured twice: Python's own allocations (tracemalloc)
and the process RSS, which also sees what codecs malloc. A leak of one
decoded hist1d per get would be ~90 MB here; of one Python object, ~5 MB.

Skipped under ASan (its quarantine holds freed memory on purpose, so RSS
says nothing there); the sanitizer pass runs the other tests."""
import gc
import os
import sys
import tracemalloc

import numpy
import pytest

import mapfile
from conftest import SANITIZED

GETS = 100_000


def rss_bytes():
    with open("/proc/self/statm") as s:
        return int(s.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_round(f):
    h = f["hpx"]
    bins = numpy.asarray(h.arrays["bins"])
    return bins[51] + h.mean() + h.bin_content(5)


@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan's quarantine")
def test_100000_gets_with_arrays_and_methods_do_not_leak(demo):
    for _ in range(5000):  # warm up: caches, numpy, the allocator's arenas
        one_round(demo)
    gc.collect()
    tracemalloc.start()
    rss0 = rss_bytes()
    py0, _ = tracemalloc.get_traced_memory()
    total = 0.0
    for _ in range(GETS):
        total += one_round(demo)
    gc.collect()
    py1, _ = tracemalloc.get_traced_memory()
    rss1 = rss_bytes()
    tracemalloc.stop()
    assert total > 0
    assert py1 - py0 < 64 * 1024, f"Python allocations grew by {py1 - py0} bytes"
    assert rss1 - rss0 < 2 * 1024 * 1024, f"RSS grew by {rss1 - rss0} bytes"


def test_refcounts_of_files_objects_and_arrays_come_back(demo_file):
    f = mapfile.open(demo_file)
    f_refs = sys.getrefcount(f)
    h = f["hpx"]
    assert sys.getrefcount(h) == 2, "only our name and getrefcount's argument"
    assert sys.getrefcount(f) == f_refs, "objects do not hold their file"
    arrays = h.arrays
    assert sys.getrefcount(h) == 2 + len(arrays)
    views = [numpy.asarray(a) for a in arrays.values()]
    del arrays
    assert sys.getrefcount(h) == 4, "each Array holds h once, through its views"
    del views
    assert sys.getrefcount(h) == 2
    x = f.snapshot(["hpx", "hprof"])["hpx"]
    assert sys.getrefcount(x) == 2, "the snapshot dict is gone"
    w = f.watch(timeout=0)
    assert sys.getrefcount(f) == f_refs + 1
    del w
    assert sys.getrefcount(f) == f_refs
    f.close()
