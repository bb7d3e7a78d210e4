"""Writing from Python: text, blobs, objects of registered classes, batches
of added values, removal, and what a read-only file refuses."""
import array
import os
import threading

import numpy
import pytest

import mapfile
from conftest import cli, cli_json


def test_put_stores_text_and_blobs_that_the_cli_reads(tmp_path):
    path = tmp_path / "w.map"
    with mapfile.open(path, "w", title="from python") as f:
        f.put("notes/shift", "beam on, 3.5 TeV ✓")
        f["raw/bytes"] = b"\x00\x01\x02"
        f["raw/bytearray"] = bytearray(b"abc")
        f["raw/memoryview"] = memoryview(b"0123456789")[2:5]
        f["raw/numpy"] = numpy.arange(4, dtype=numpy.float64)
        f["raw/array"] = array.array("i", [1, 2, 3])
        f["raw/empty"] = b""
        assert f["notes/shift"] == "beam on, 3.5 TeV ✓"
        assert f["raw/memoryview"] == b"234"
        assert numpy.frombuffer(f["raw/numpy"]).tolist() == [0.0, 1.0, 2.0, 3.0]
        assert f["raw/array"] == array.array("i", [1, 2, 3]).tobytes()
        assert f["raw/empty"] == b"" and f.raw("raw/empty") == b""
        assert f.info()["title"] == "from python" and f.info()["writable"] is True
    assert cli("get", path, "notes/shift") == "beam on, 3.5 TeV ✓\n"
    assert cli_json("get", "--json", path, "raw/bytes")["size"] == 3
    assert [r["class"] for r in cli_json("ls", "--json", path)] == ["text"] + ["blob"] * 6
    assert cli("check", path).startswith(f"{path}: ok")


def test_text_with_a_nul_and_values_of_other_types_are_refused(tmp_path):
    with mapfile.open(tmp_path / "w.map", "w") as f:
        with pytest.raises(mapfile.InvalidError, match="NUL"):
            f["t"] = "a\0b"
        with pytest.raises(TypeError, match="str .text., a bytes-like object"):
            f["t"] = 42
        with pytest.raises((BufferError, ValueError), match="contiguous"):
            f["t"] = numpy.zeros((4, 4))[:, 1]
        with pytest.raises(mapfile.InvalidError) as ei:
            f[""] = "empty name"
        assert ei.value.errname == "MF_ENAME"
        assert len(f) == 0


def test_del_removes_and_clear_removes_everything(tmp_path):
    with mapfile.open(tmp_path / "w.map", "w") as f:
        f["a"], f["b"], f["c"] = "1", "2", "3"
        del f["b"]
        assert f.keys() == ["a", "c"]
        with pytest.raises(KeyError):
            del f["b"]
        f.clear()
        assert len(f) == 0 and f.keys() == []


def test_a_read_only_file_refuses_every_write(demo_file):
    with mapfile.open(demo_file) as f:
        for write in (lambda: f.put("x", "y"), lambda: f.__setitem__("x", b"y"),
                      lambda: f.__delitem__("hpx"), lambda: f.add("x", "y"),
                      lambda: f.update(), lambda: f.clear(),
                      lambda: f.put_raw("x", "blob", 1, b"")):
            with pytest.raises(mapfile.ReadOnlyError) as ei:
                write()
            assert ei.value.errname == "MF_EREADONLY" and ei.value.code == -15
        assert len(f) == 5


def test_added_values_publish_as_one_batch(tmp_path):
    path = tmp_path / "b.map"
    with mapfile.open(path, "w") as f, mapfile.open(path) as r:
        f.add("a", "one")
        f.add("b", b"two")
        assert len(r) == 0, "add writes nothing"
        f.update()
        assert (r["a"], r["b"]) == ("one", b"two")
        assert r.stat("a")["batch"] == r.stat("b")["batch"]
        f.add("a", "uno")
        f.update("a")
        assert r["a"] == "uno" and r.stat("a")["batch"] != r.stat("b")["batch"]
        del f["a"]
        f.update()
        assert r.keys() == ["b"]
        with pytest.raises(mapfile.NotFoundError):
            f.update("a")


def test_an_added_bytearray_is_encoded_as_it_is_at_each_update(tmp_path):
    with mapfile.open(tmp_path / "b.map", "w") as f:
        buf = bytearray(b"aaaa")
        f.add("buf", buf)
        f.update()
        buf[:] = b"bbbb"
        f.update()
        assert f["buf"] == b"bbbb"
        with pytest.raises(BufferError):
            buf.append(1)  # exported to the file until it is removed
        del f["buf"]
        buf.append(1)


def test_objects_go_back_with_their_class_after_changes_through_numpy(demo_file, tmp_path):
    with mapfile.open(demo_file) as src:
        h = src["hpx"]
        p = src["hprof"]
    bins = numpy.asarray(h.arrays["bins"])
    bins[:] = 0.0
    bins[10] = 5.0
    path = tmp_path / "copy.map"
    with mapfile.open(path, "recreate") as dst:
        dst["hpx"] = h
        dst.put("det/hprof", p)
        back = dst["hpx"]
        assert back.class_name == "hist1d" and back.bin_content(10) == 5.0
        assert numpy.asarray(back.arrays["bins"]).sum() == 5.0
        assert dst["det/hprof"].to_dict() == p.to_dict()
    assert cli_json("get", "--json", path, "hpx")["bins"][10] == 5.0


def test_an_object_from_another_codec_is_refused(demo_file, tmp_path):
    # A copy of the hist plugin under another name loads as a separate
    # module: its "hist1d" is another codec, whose objects this process's
    # default registry must not encode with its own.
    copy = tmp_path / "plugins"
    copy.mkdir()
    plugin = os.path.join(os.environ["MAPFILE_TEST_PLUGIN_DIR"], "mapfile-hist.so")
    (copy / "hist-copy.so").write_bytes(open(plugin, "rb").read())
    with mapfile.open(demo_file, plugin_path=str(copy)) as src:
        h = src["hpx"]
    with mapfile.open(tmp_path / "o.map", "w") as f:
        with pytest.raises(mapfile.CodecError) as ei:
            f["hpx"] = h
        assert ei.value.errname == "MF_ECLASS" and "hist1d" in str(ei.value)
        assert "hpx" not in f
    with mapfile.open(tmp_path / "o.map", "w", plugin_path=[copy]) as f:
        f["hpx"] = h  # the registry that has the same codec
        assert f["hpx"].mean() == h.mean()


def test_recreate_starts_an_empty_file(tmp_path):
    path = tmp_path / "r.map"
    with mapfile.open(path, "w") as f:
        f["a"] = "1"
    with mapfile.open(path, "recreate") as f:
        assert len(f) == 0
    with mapfile.open(tmp_path / "new.map", "w", initial_size=1 << 20, max_size=1 << 22) as f:
        info = f.info()
        assert info["capacity"] == 1 << 20 and info["max_size"] == 1 << 22


def test_a_full_file_raises_full_error_and_keeps_what_it_had(tmp_path):
    path = tmp_path / "full.map"
    with mapfile.open(path, "recreate", initial_size=64 << 10, max_size=256 << 10) as f:
        f["keep"] = "safe"
        with pytest.raises(mapfile.FullError) as ei:
            for i in range(100):
                f[f"big{i}"] = os.urandom(32 << 10)
        assert ei.value.errname == "MF_EFULL"
        assert f["keep"] == "safe" and f.check()["problems"] == []


def test_threads_put_and_get_at_once(tmp_path):
    path = tmp_path / "t.map"
    errors = []
    with mapfile.open(path, "w") as f:
        def work(k):
            try:
                for i in range(300):
                    f[f"t{k}/{i % 10}"] = f"{k}:{i}"
                    assert f[f"t{k}/{i % 10}"] == f"{k}:{i}"
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(f) == 40 and f.check()["problems"] == []


def test_put_raw_refuses_a_version_out_of_range(tmp_path):
    """A class version is 0 .. 2**32 - 1: anything else is refused, never
    wrapped into another version."""
    with mapfile.open(tmp_path / "v.map", "w") as f:
        for bad in (-1, 2**32, 2**32 + 7, 2**64):
            with pytest.raises(ValueError, match="version"):
                f.put_raw("x", "blob", bad, b"a")
            with pytest.raises(ValueError, match="version"):
                with f.batch() as b:
                    b.put_raw("x", "blob", bad, b"a")
        with pytest.raises(TypeError):
            f.put_raw("x", "blob", 1.0, b"a")
        assert "x" not in f
        f.put_raw("x", "blob", 2**32 - 1, b"a")
        assert f.stat("x")["version"] == 2**32 - 1
