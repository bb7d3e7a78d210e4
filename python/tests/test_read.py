"""Reading a finished demo file: the mapping protocol, values, stats, and
histograms that agree exactly with `mapf get --json` and `mapf call`."""
import errno
import json
import os
import random
import sys
import weakref

import numpy
import pytest

import mapfile
from conftest import DEMO_FILLS, cli, cli_json

HISTS = ["hpx", "hpxpy", "hprof"]


def test_mapping_protocol_lists_the_records_in_insertion_order(demo):
    names = ["hpx", "hpxpy", "hprof", "notes/shift", "raw/adc"]
    assert len(demo) == 5
    assert demo.keys() == names
    assert list(demo) == names
    assert demo.keys("hp") == ["hpx", "hpxpy", "hprof"]
    assert demo.keys("notes/") == ["notes/shift"]
    assert demo.keys("x" * 300) == []
    assert "hpx" in demo and "notes/shift" in demo
    assert "nothing" not in demo and 42 not in demo and "a\0b" not in demo
    assert [n for n, _ in demo.items("hp")] == ["hpx", "hpxpy", "hprof"]
    assert [v.class_name for v in demo.values("hp")] == ["hist1d", "hist2d", "profile"]
    assert demo.get("nothing") is None and demo.get("nothing", 7) == 7


def test_text_reads_as_str_and_blob_as_bytes(demo):
    assert demo["notes/shift"] == "beam on, 3.5 TeV"
    assert demo["raw/adc"] == bytes(range(256)) * 3
    assert demo.raw("raw/adc") == bytes(range(256)) * 3


def test_missing_name_raises_keyerror_with_the_code_and_detail(demo):
    with pytest.raises(KeyError) as ei:
        demo["nothing"]
    e = ei.value
    assert isinstance(e, mapfile.NotFoundError) and isinstance(e, mapfile.Error)
    assert e.code == mapfile.ERRORS["MF_ENOTFOUND"] == -10
    assert e.errname == "MF_ENOTFOUND"
    assert "nothing" in e.detail and e.name == "nothing"
    assert str(e).startswith("no record with that name")
    with pytest.raises(mapfile.NotFoundError):
        demo.stat("nothing")
    with pytest.raises(mapfile.NotFoundError):
        demo.raw("nothing")
    with pytest.raises(mapfile.InvalidError) as ei:
        demo["a\0b"]
    assert ei.value.errname == "MF_ENAME"
    with pytest.raises(TypeError):
        demo[3]


def test_stat_matches_the_cli_listing(demo, demo_file):
    listing = {r["name"]: r for r in cli_json("ls", "-l", "--json", demo_file)}
    for name in demo:
        st = demo.stat(name)
        row = listing[name]
        assert st["name"] == name
        for key in ("class", "size", "version", "updates", "generation"):
            assert st[key] == row[key], (name, key)
        assert st["size"] == len(demo.raw(name))
        assert st["update_time"] == pytest.approx(st["update_time_ns"] / 1e9)
    assert demo.stat("hpx")["batch"] == demo.stat("hprof")["batch"]


def test_info_describes_the_file(demo, demo_file):
    info = demo.info()
    assert info["records"] == 5
    assert info["title"] == "Demo memory mapped file with histograms"
    assert info["writable"] is False and info["writer"] == "free"
    assert info["format_version"] == mapfile.FORMAT_VERSION
    assert info["heap_used"] + info["heap_free"] == info["heap_size"]
    assert info["path"] == str(demo_file)
    report = demo.check()
    assert report == {"problems": [], "heap_checked": True, "writer": "free",
                      "writer_pid": 0, "repair_pending": False}
    assert info["committed"] == info["batch"] and info["repair_pending"] is False


def json_of(demo_file, name):
    return cli_json("get", "--json", demo_file, name)


def test_hist1d_bins_through_numpy_equal_the_cli_json_exactly(demo, demo_file):
    h = demo["hpx"]
    want = json_of(demo_file, "hpx")
    bins = numpy.asarray(h.arrays["bins"])
    assert bins.dtype == numpy.float64 and bins.shape == (want["xaxis"]["nbins"] + 2,)
    assert bins.tolist() == want["bins"]
    assert bins.sum() == want["entries"] == DEMO_FILLS  # under/overflow included
    stats = numpy.asarray(h.arrays["stats"])
    assert stats.tolist() == [want[k] for k in ("sumw", "sumw2", "sumwx", "sumwx2")]


def test_hist2d_bins_are_a_2d_view_in_global_bin_order(demo, demo_file):
    h = demo["hpxpy"]
    want = json_of(demo_file, "hpxpy")
    nx, ny = want["xaxis"]["nbins"], want["yaxis"]["nbins"]
    bins = numpy.asarray(h.arrays["bins"])
    assert bins.shape == (ny + 2, nx + 2)
    assert bins.ravel().tolist() == want["bins"]
    for bx, by in [(0, 0), (3, 4), (nx // 2, ny // 2), (nx + 1, ny + 1)]:
        assert bins[by, bx] == h.bin_content(bx, by)
    stats = numpy.asarray(h.arrays["stats"]).tolist()
    assert stats == [want[k] for k in ("sumw", "sumw2", "sumwx", "sumwx2", "sumwy", "sumwy2",
                                       "sumwxy")]


def test_profile_arrays_equal_the_cli_json(demo, demo_file):
    p = demo["hprof"]
    want = json_of(demo_file, "hprof")
    a = {k: numpy.asarray(v) for k, v in p.arrays.items()}
    assert sorted(a) == ["bin_sumw", "bin_sumw2", "bin_sumwy", "bin_sumwy2", "stats"]
    assert a["bin_sumw"].tolist() == want["bin_entries"]
    assert a["bin_sumwy"].tolist() == want["bin_sumwy"]
    assert a["bin_sumwy2"].tolist() == want["bin_sumwy2"]
    assert a["bin_sumw2"].tolist() == want["bin_sumw2"]
    assert a["stats"].tolist() == [want[k] for k in ("sumw", "sumw2", "sumwx", "sumwx2",
                                                     "sumwy", "sumwy2")]


# (record, method, args): every method of the three classes at least once.
CALLS = [
    ("hpx", "entries", ()), ("hpx", "mean", ()), ("hpx", "rms", ()), ("hpx", "integral", ()),
    ("hpx", "bin_content", (5,)), ("hpx", "bin_content", (-1,)), ("hpx", "find_bin", (0.1,)),
    ("hpx", "find_bin", (-7,)), ("hpx", "maximum_bin", ()),
    ("hpxpy", "entries", ()), ("hpxpy", "mean_x", ()), ("hpxpy", "mean_y", ()),
    ("hpxpy", "rms_x", ()), ("hpxpy", "rms_y", ()), ("hpxpy", "integral", ()),
    ("hpxpy", "bin_content", (20, 21)), ("hpxpy", "global_bin_content", (500,)),
    ("hpxpy", "find_bin", (0.5, -0.25)), ("hpxpy", "maximum_bin", ()),
    ("hprof", "entries", ()), ("hprof", "mean", ()), ("hprof", "rms", ()),
    ("hprof", "mean_y", ()), ("hprof", "rms_y", ()), ("hprof", "bin_content", (50,)),
    ("hprof", "bin_entries", (50,)), ("hprof", "bin_error", (7,)), ("hprof", "find_bin", (1.5,)),
    ("notes/shift", None, None),
]


@pytest.mark.parametrize("name,method,args", [c for c in CALLS if c[1]])
def test_methods_equal_the_cli_call(demo, demo_file, name, method, args):
    obj = demo[name]
    got = getattr(obj, method)(*args)
    out = cli("call", demo_file, name, method, *args).strip()
    sig = obj.methods[method]
    if sig[0] == "d":
        assert isinstance(got, float) and got == float(out)
        assert repr(got) == repr(float(out))
    else:
        assert isinstance(got, int) and got == int(out)
    assert obj.call(method, *args) == got


def test_every_method_is_listed_with_its_signature_and_in_dir(demo):
    h = demo["hpx"]
    assert h.methods == {"entries": "d(o)", "mean": "d(o)", "rms": "d(o)",
                         "integral": "d(o)", "bin_content": "d(o,i)", "find_bin": "i(o,d)",
                         "maximum_bin": "i(o)"}
    assert {"mean", "bin_content", "arrays", "to_json"} <= set(dir(h))
    m = h.bin_content
    assert isinstance(m, mapfile.Method) and m.signature == "d(o,i)" and m.__self__ is h
    assert "bin_content(int) -> float" in m.__doc__ and "d(o,i)" in repr(m)


def test_names_that_are_no_method_names_are_attribute_errors(demo):
    h = demo["hpx"]
    # Not UTF-8 (a lone surrogate), or with a NUL: no method, never a
    # SystemError, and never the method before the NUL.
    for bad in ("\udcff", "rms\0x", "mean\0junk"):
        assert not hasattr(h, bad), repr(bad)
        with pytest.raises(AttributeError):
            getattr(h, bad)
    with pytest.raises(ValueError, match="NUL"):
        h.call("mean\0junk")
    with pytest.raises(UnicodeEncodeError):
        h.call("\udcff")
    assert h.call("mean") == h.mean()


def test_arguments_are_checked_against_the_signature(demo):
    h = demo["hpx"]
    with pytest.raises(TypeError) as ei:
        h.bin_content(1.5)
    assert isinstance(ei.value, mapfile.ArgumentError)
    assert ei.value.errname == "MF_EARGS" and "d(o,i)" in str(ei.value)
    for bad in [(), (1, 2), ("5",), (None,)]:
        with pytest.raises(mapfile.ArgumentError, match=r"signature d\(o,i\)"):
            h.bin_content(*bad)
    with pytest.raises(mapfile.ArgumentError, match="does not fit"):
        h.bin_content(2**63)
    with pytest.raises(mapfile.ArgumentError, match=r"i\(o,d\)"):
        h.find_bin("0.5")
    with pytest.raises(mapfile.ArgumentError, match="keyword"):
        h.bin_content(bin=5)
    # ints, bools and numpy scalars convert as a C caller's would
    assert h.find_bin(1) == h.find_bin(1.0)
    assert h.bin_content(numpy.int64(5)) == h.bin_content(5)
    assert h.find_bin(numpy.float32(0.5)) == h.find_bin(0.5)
    with pytest.raises(mapfile.NoMethodError, match="methods: entries, mean") as ei:
        h.nosuch
    assert isinstance(ei.value, AttributeError) and not hasattr(h, "nosuch")
    with pytest.raises(mapfile.NoMethodError):
        h.call("nosuch")


def test_to_json_to_dict_and_str_equal_the_cli(demo, demo_file):
    for name in HISTS:
        obj = demo[name]
        assert obj.to_dict() == json_of(demo_file, name)
        assert json.loads(obj.to_json()) == obj.to_dict()
        assert str(obj) == cli("get", demo_file, name)


def test_arrays_are_views_of_the_object_not_copies(demo):
    h = demo["hpx"]
    bins = numpy.asarray(h.arrays["bins"])
    before = h.bin_content(7)
    bins[7] += 1000.0
    assert h.bin_content(7) == before + 1000.0
    assert numpy.asarray(h.arrays["bins"])[7] == before + 1000.0
    assert demo["hpx"].bin_content(7) == before, "the file is not touched"
    mv = memoryview(h.arrays["bins"])
    assert mv.format == "d" and mv.shape == (102,) and not mv.readonly and mv.c_contiguous
    assert h.arrays["stats"].tolist() == numpy.asarray(h.arrays["stats"]).tolist()
    a = h.arrays["bins"]
    assert (a.name, a.format, a.shape, a.nbytes, len(a)) == ("bins", "d", (102,), 816, 102)
    assert a.owner is h


def test_an_array_keeps_its_object_alive_and_refcounts_return(demo):
    h = demo["hpx"]
    gone = weakref.ref(h)
    base = sys.getrefcount(h)
    arr = h.arrays["bins"]
    assert sys.getrefcount(h) == base + 1
    view = numpy.asarray(arr)
    mv = memoryview(arr)
    assert sys.getrefcount(h) == base + 1, "views hold the Array, the Array holds h"
    del arr
    m = h.mean
    assert sys.getrefcount(h) == base + 2, "a bound method holds its object"
    del m
    assert sys.getrefcount(h) == base + 1
    del h
    assert gone() is not None, "numpy view and memoryview keep the object"
    total = view.sum()
    del view
    assert gone() is not None
    assert mv.tolist()[0] >= 0 and sum(mv.tolist()) == total
    mv.release()
    del mv
    assert gone() is None, "freed once the last view is gone"


def test_objects_outlive_their_file(demo_file):
    with mapfile.open(demo_file) as f:
        h = f["hpx"]
    assert f.closed
    with pytest.raises(ValueError, match="closed"):
        f["hpx"]
    with pytest.raises(ValueError, match="closed"):
        len(f)
    assert h.entries() == DEMO_FILLS
    assert numpy.asarray(h.arrays["bins"]).sum() == DEMO_FILLS
    f.close()  # again: a no-op


def test_private_plugin_path_registry_lives_as_long_as_its_objects(demo_file, tmp_path):
    plugins = os.environ["MAPFILE_TEST_PLUGIN_DIR"]
    f = mapfile.open(demo_file, plugin_path=[plugins, tmp_path])
    h = f["hprof"]
    f.close()
    del f
    assert h.entries() == DEMO_FILLS and len(h.arrays) == 5
    g = mapfile.open(demo_file, plugin_path=f"{tmp_path}::{plugins}")
    assert g["hprof"].mean() == h.mean()
    g.close()


def test_missing_file_and_not_a_map_file_raise_their_families(tmp_path):
    with pytest.raises(mapfile.FileError) as ei:
        mapfile.open(tmp_path / "none.map")
    assert isinstance(ei.value, OSError) and ei.value.errname == "MF_ENOENT"
    assert ei.value.path == str(tmp_path / "none.map")
    # As an OSError: errno and filename, for code written against open().
    assert ei.value.errno == errno.ENOENT and ei.value.filename == str(tmp_path / "none.map")
    junk = tmp_path / "junk.map"
    junk.write_bytes(b"not a map file" * 1000)
    with pytest.raises(mapfile.FormatError) as ei:
        mapfile.open(junk)
    assert ei.value.errname == "MF_ENOTMAPFILE"
    with pytest.raises(ValueError, match="mode"):
        mapfile.open(junk, "a")
    with pytest.raises(ValueError, match="wait"):
        mapfile.open(junk, "w", wait=1)
    with pytest.raises(ValueError):
        mapfile.open(junk, wait=-2)


def test_missing_codec_raises_codec_error_naming_the_class(tmp_path):
    path = tmp_path / "x.map"
    with mapfile.open(path, "w") as f:
        f.put_raw("odd", "no.such.class", 3, b"\x01\x02")
        with pytest.raises(mapfile.CodecError) as ei:
            f["odd"]
        assert ei.value.errname == "MF_ENOCODEC" and "no.such.class" in str(ei.value)
        assert f.raw("odd") == b"\x01\x02"
        st = f.stat("odd")
        assert (st["class"], st["version"], st["size"]) == ("no.such.class", 3, 2)
        f.put_raw("bad_hist", "hist1d", 1, b"\x05abc")
        with pytest.raises(mapfile.CodecError) as ei:
            f["bad_hist"]
        assert ei.value.errname == "MF_ECODEC"
        f.put_raw("future", "hist1d", 99, b"")
        with pytest.raises(mapfile.CodecError) as ei:
            f["future"]
        assert ei.value.errname == "MF_ECLASSVERSION"


def test_emulated_decodes_without_the_codec_from_the_stored_schema(tmp_path):
    path = tmp_path / "emu.map"

    def field(name):  # a value field: i32, no dimensions (see mapfile/schema.h)
        return bytes([len(name)]) + name + bytes([1, 6, 0])

    schema = b"MFSC" + bytes([1, 1, 2]) + field(b"x") + field(b"y")
    with mapfile.open(path, "w") as f:
        f.put_raw(".mapfile/schema/x.point@1", "mapfile.schema", 1, schema)
        f.put_raw("pt", "x.point", 1, (3).to_bytes(4, "little") + (-4).to_bytes(4, "little", signed=True))
        f.put_raw("odd", "no.such.class", 1, b"\x01")
    with mapfile.open(path) as f:
        assert f.emulated("pt") == {"x": 3, "y": -4}
        assert cli_json("get", "--json", path, "pt") == f.emulated("pt")
        with pytest.raises(mapfile.CodecError) as ei:
            f["pt"]  # no codec: the mapping protocol does not emulate
        assert ei.value.errname == "MF_ENOCODEC"
        with pytest.raises(mapfile.CodecError) as ei:
            f.emulated("odd")
        assert ei.value.errname == "MF_ENOCODEC"
        with pytest.raises(KeyError):
            f.emulated("missing")


def test_emulated_reads_of_hostile_bytes_raise_and_never_crash(tmp_path):
    """Stored schemas and payloads are file bytes like any other: a schema
    that is no schema is MF_ECORRUPT, a payload that does not fit its schema
    MF_ECODEC, and 400 random mutations of both give a dict or a
    mapfile.Error, never a crash."""
    path = tmp_path / "hostile.map"

    def field(name):
        return bytes([len(name)]) + name + bytes([1, 6, 0])

    good = b"MFSC" + bytes([1, 1, 2]) + field(b"x") + field(b"y")

    def emulate(schema, payload):
        with mapfile.open(path, "w") as f:
            f.put_raw(".mapfile/schema/x.p@1", "mapfile.schema", 1, schema)
            f.put_raw("r", "x.p", 1, payload)
        with mapfile.open(path) as f:
            return f.emulated("r")

    for schema, payload, errname in ((b"\xff" * 20, bytes(8), "MF_ECORRUPT"),
                                     (b"", bytes(8), "MF_ECORRUPT"),
                                     (good, b"\x01\x02\x03", "MF_ECODEC"),
                                     (good, bytes(9), "MF_ECODEC")):
        with pytest.raises(mapfile.Error) as ei:
            emulate(schema, payload)
        assert ei.value.errname == errname, (schema, payload, str(ei.value))
    rnd = random.Random(20261203)
    outcomes = {}
    for _ in range(400):
        schema, payload = bytearray(good), bytearray(rnd.randbytes(rnd.choice([0, 4, 8, 12])))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(3)
            if op == 0 and schema:
                schema[rnd.randrange(len(schema))] = rnd.randrange(256)
            elif op == 1:
                del schema[rnd.randrange(len(schema) + 1):]
            else:
                schema += rnd.randbytes(rnd.randint(1, 8))
        try:
            v = emulate(bytes(schema), bytes(payload))
            assert isinstance(v, dict)
            outcomes["dict"] = outcomes.get("dict", 0) + 1
        except mapfile.Error as e:
            assert e.errname in ("MF_ECORRUPT", "MF_ECODEC"), str(e)
            outcomes[e.errname] = outcomes.get(e.errname, 0) + 1
    assert outcomes.get("MF_ECORRUPT") and outcomes.get("MF_ECODEC"), outcomes


def test_help_is_a_manual():
    import pydoc
    text = pydoc.render_doc(mapfile, renderer=pydoc.plaintext)
    for needle in ["open(path, mode='r', wait=None, plugin_path=None",
                   "Reading", "Waiting", "Writing", "class File", "class Object",
                   "class Array", "NotFoundError", "snapshot(self, /, names=None)",
                   "wait(self, /, timeout=None)", "Returns bool", "put(self, name, value, /)"]:
        assert needle in text, needle
