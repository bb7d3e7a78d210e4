"""Reading while a producer runs: waits that release the GIL and wake on
updates, watch, Ctrl-C, snapshots of one batch, objects never torn."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy
import pytest

import mapfile
from conftest import Producer


def test_a_waiting_thread_wakes_on_an_update_while_another_thread_runs(tmp_path):
    path = tmp_path / "w.map"
    writer = mapfile.open(path, "w")
    reader = mapfile.open(path)
    result = {}

    def waiter():
        t0 = time.monotonic()
        result["changed"] = reader.wait(timeout=30)
        result["waited"] = time.monotonic() - t0

    t = threading.Thread(target=waiter)
    t.start()
    # Pure Python work in this thread while the other sleeps in mf_wait: it
    # only gets the interpreter if the wait let go of the GIL.
    count, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 0.3:
        count += 1
    assert t.is_alive() and "changed" not in result, "the waiter is still asleep"
    assert count > 10000, f"only {count} loops ran beside the wait: the GIL was held"
    writer["tick"] = "1"
    t.join(10)
    assert not t.is_alive()
    assert result["changed"] is True and result["waited"] >= 0.3
    assert reader["tick"] == "1"
    assert reader.wait(timeout=0) is False, "nothing new since the last wake"
    assert reader.wait(timeout=0.05) is False
    writer.close()
    reader.close()


def test_closing_a_file_ends_a_wait_in_another_thread(tmp_path):
    path = tmp_path / "c.map"
    mapfile.open(path, "w").close()
    f = mapfile.open(path)
    caught = []

    def waiter():
        try:
            f.wait()
        except ValueError as e:
            caught.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    f.close()
    t.join(5)
    assert not t.is_alive() and "closed" in str(caught[0])


def test_ctrl_c_interrupts_a_wait(tmp_path):
    path = tmp_path / "i.map"
    mapfile.open(path, "w").close()
    code = ("import mapfile, sys\n"
            f"f = mapfile.open({str(path)!r})\n"
            "print('waiting', flush=True)\n"
            "try:\n"
            "    f.wait()\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n"
            "    sys.exit(3)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 3
        assert time.monotonic() - t0 < 5
        assert p.stdout.read().strip() == "interrupted"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_open_waits_for_a_file_that_appears_later(tmp_path):
    path = tmp_path / "late.map"
    timer = threading.Timer(0.3, lambda: mapfile.open(path, "w").close())
    timer.start()
    t0 = time.monotonic()
    with mapfile.open(path, wait=20) as f:
        assert time.monotonic() - t0 >= 0.25 and len(f) == 0
    timer.join()
    with pytest.raises(mapfile.TimeoutError) as ei:
        mapfile.open(tmp_path / "never.map", wait=0.2)
    assert isinstance(ei.value, TimeoutError) and ei.value.errname == "MF_ETIMEDOUT"
    assert "0.2 s" in str(ei.value)


def test_live_histograms_are_never_torn(producer):
    with mapfile.open(producer.path) as f:
        seen = set()
        for _ in range(30):
            assert f.wait(timeout=10)
            h = f["hpx"]
            bins = numpy.asarray(h.arrays["bins"])
            # every fill lands in exactly one bin: a whole copy sums to entries
            assert bins.sum() == h.entries()
            seen.add(h.entries())
        assert len(seen) > 5, "the producer was seen at many stages"


def test_snapshot_members_share_one_batch(producer):
    with mapfile.open(producer.path) as f:
        batches = set()
        for _ in range(30):
            f.wait(timeout=10)
            snap = f.snapshot(["hpx", "hpxpy", "hprof"])
            records = [o.record for o in snap.values()]
            assert len({r["batch"] for r in records}) == 1, records
            # the producer fills all three each event and updates them together
            assert len({o.entries() for o in snap.values()}) == 1
            assert [r["name"] for r in records] == ["hpx", "hpxpy", "hprof"]
            batches.add(records[0]["batch"])
        assert len(batches) > 5
        assert f["hpx"].record is None
        everything = f.snapshot()
        assert list(everything) == ["hpx", "hpxpy", "hprof"]
        with pytest.raises(mapfile.NotFoundError):
            f.snapshot(["hpx", "nothing"])
        with pytest.raises(TypeError):
            f.snapshot("hpx")
        assert f.snapshot([]) == {}


def test_watch_yields_the_changed_names(producer, tmp_path):
    with mapfile.open(producer.path) as f:
        w = f.watch()
        every = ["hpx", "hpxpy", "hprof"]
        assert next(w) == every, "first every record"
        # The producer updates all three in each batch, but a step's scan is
        # not a snapshot: a batch committed during a scan shows its later
        # names in this step and its earlier ones in the next, and a name
        # already reported at its newer generation is not repeated. So each
        # step is a non-empty run of the three in order, and no name misses
        # two steps in a row.
        steps = [next(w) for _ in range(6)]
        for got in steps:
            assert got and got == [n for n in every if n in got], steps
        for a, b in zip(steps, steps[1:]):
            assert set(a) | set(b) == set(every), steps
        assert list(f.watch(prefix="nothing/", timeout=0.3)) == []
    quiet = tmp_path / "quiet.map"
    with mapfile.open(quiet, "w") as wr, mapfile.open(quiet) as rd:
        w = rd.watch(timeout=5)
        wr["a"] = "1"
        assert next(w) == ["a"]
        wr["b"] = "2"
        wr["a"] = "3"
        got = next(w)
        assert got in (["a", "b"], ["b"]), got
        if got == ["b"]:
            assert next(w) == ["a"]
        assert list(rd.watch(timeout=0.2))[0] == ["a", "b"]


def test_watch_reports_a_record_of_a_restarted_producer(tmp_path):
    """A producer restarted with "recreate" writes its records anew, at
    generations that start over: the same number as before is still news."""
    path = tmp_path / "rw.map"
    w = mapfile.open(path, "recreate")
    w["run/config"] = "old value"
    with mapfile.open(path) as r:
        it = r.watch(timeout=5)
        assert next(it) == ["run/config"]
        w.close()
        w = mapfile.open(path, "recreate")
        w["run/config"] = "NEW value"
        assert next(it) == ["run/config"]
        assert r["run/config"] == "NEW value"
    w.close()


def test_a_replaced_file_is_followed(tmp_path):
    path = tmp_path / "r.map"
    with mapfile.open(path, "recreate") as w:
        w["gen"] = "one"
    with mapfile.open(path) as r:
        assert r["gen"] == "one"
        first = r.info()["file_id"]
        with mapfile.open(path, "recreate") as w:
            w["gen"] = "two"
        assert r.wait(timeout=10)
        assert r["gen"] == "two"
        assert r.info()["file_id"] != first, "a new file, told apart by its id"


def test_a_producer_started_after_the_reader_is_read_to_the_end(tmp_path):
    path = tmp_path / "demo.map"
    got = []

    def read():
        with mapfile.open(path, wait=30) as f:
            while f.wait(timeout=1.5):
                if "hpx" in f:
                    got.append(f["hpx"].entries())

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.2)
    demo = os.environ["MAPFILE_TEST_DEMO"]
    subprocess.run([demo, "produce", str(path), "--fills", "1000", "--rate", "100"],
                   check=True, capture_output=True, timeout=120)
    t.join(60)
    assert not t.is_alive() and got and got[-1] == 1000
    assert got == sorted(got)
