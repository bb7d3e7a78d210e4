"""Read views (File.view, mf_txn_*) and batches (File.batch, mf_batch_*)."""
import numpy
import pytest

import mapfile


def test_a_view_answers_as_of_one_batch_while_writers_go_on(tmp_path):
    path = tmp_path / "v.map"
    with mapfile.open(path, "w") as w, mapfile.open(path) as r:
        w["a"], w["b"] = "a1", b"b1"
        with r.view() as v:
            assert v.batch == r.info()["committed"] > 0
            assert v.keys() == ["a", "b"] and list(v) == ["a", "b"] and len(v) == 2
            assert "a" in v and "zz" not in v and 3 not in v
            assert v["a"] == "a1" and v.raw("b") == b"b1"
            assert v.stat("a")["batch"] <= v.batch and v.get("zz", 5) == 5
            with pytest.raises(mapfile.NotFoundError):
                v["zz"]
            w["c"] = "c1"  # a later batch
            assert r["c"] == "c1"
            # the view never mixes it in: it answers as of its batch or refuses
            try:
                assert "c" not in v.keys()
            except mapfile.BusyError as e:
                assert e.errname == "MF_ESNAPSHOT"
            w["a"] = "a2"
            with pytest.raises(mapfile.BusyError) as ei:
                v["a"]
            assert ei.value.errname == "MF_ESNAPSHOT"
        assert v.ended
        with pytest.raises(ValueError, match="ended"):
            v["a"]
        v.end()  # again: a no-op


def test_objects_read_through_a_view_carry_their_record(demo_file):
    with mapfile.open(demo_file) as f, f.view() as v:
        h = v["hpx"]
        assert h.record["name"] == "hpx" and h.record["batch"] <= v.batch
        assert numpy.asarray(h.arrays["bins"]).sum() == h.entries()
        assert "mapfile.View" in repr(v)


def test_an_open_view_holds_its_file_until_it_ends(tmp_path):
    path = tmp_path / "h.map"
    with mapfile.open(path, "w") as w:
        w["a"] = "1"
    f = mapfile.open(path)
    v = f.view()
    f.close()
    assert f.closed and v["a"] == "1", "the view still reads"
    with pytest.raises(ValueError):
        f.view()
    v.end()
    del v


def test_a_batch_publishes_puts_and_removes_at_once(tmp_path):
    path = tmp_path / "b.map"
    with mapfile.open(path, "w") as w, mapfile.open(path) as r:
        w["old"] = "x"
        with w.batch() as b:
            b["a"] = "one"
            b.put("b", b"two")
            b.put_raw("c", "blob", 1, b"three")
            del b["old"]
            assert r.keys() == ["old"], "nothing before the commit"
        assert set(r.keys()) == {"a", "b", "c"}
        batches = {r.stat(n)["batch"] for n in ("a", "b", "c")}
        assert len(batches) == 1
        with pytest.raises(ValueError, match="committed"):
            b["d"] = "late"


def test_a_batch_that_raises_publishes_nothing(tmp_path):
    path = tmp_path / "b.map"
    with mapfile.open(path, "w") as w:
        with pytest.raises(RuntimeError):
            with w.batch() as b:
                b["a"] = "one"
                raise RuntimeError("changed my mind")
        assert len(w) == 0
        b = w.batch()
        b["x"] = "1"
        b.abort()
        b.abort()
        assert len(w) == 0
        with pytest.raises(mapfile.InvalidError):
            with w.batch() as b:
                b["fine"] = "1"
                b[""] = "bad name"  # raises out of the block: the batch aborts
        assert len(w) == 0


def test_a_read_only_file_has_no_batches(demo_file):
    with mapfile.open(demo_file) as f:
        with pytest.raises(mapfile.ReadOnlyError):
            f.batch()
