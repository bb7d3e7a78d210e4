"""Every line of tests/fixtures/corrupt/EXPECTED through the Python module:
the documented exception (family, MF_ code and detail) or success, never a
crash. Each fixture is used from a private copy."""
import os
import shutil

import pytest

import mapfile

FIXTURES = os.path.join(os.environ.get("MAPFILE_TEST_SOURCE_DIR", ""), "tests", "fixtures",
                        "corrupt")

# The exception class documented for each code (mapfile.Error's subclasses).
FAMILY = {
    "MF_ENOTMAPFILE": mapfile.FormatError, "MF_EVERSION": mapfile.FormatError,
    "MF_ECORRUPT": mapfile.FormatError, "MF_ECHECKSUM": mapfile.FormatError,
    "MF_ENOTFOUND": mapfile.NotFoundError, "MF_ENOCODEC": mapfile.CodecError,
    "MF_ECODEC": mapfile.CodecError, "MF_ECLASSVERSION": mapfile.CodecError,
    "MF_EBUSY": mapfile.BusyError, "MF_ENOENT": mapfile.FileError,
}


def manifest():
    """(file, op, arg, expect, detail) for each line of EXPECTED."""
    lines = []
    with open(os.path.join(FIXTURES, "EXPECTED")) as m:
        for line in m:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            file, op, arg, expect, detail = line.split(None, 4)
            lines.append((file, op, arg, expect, detail))
    return lines


CASES = manifest()


def run(f, op, arg):
    """Performs one manifest operation on an open file; returns its result."""
    if op == "get":
        return f[arg]
    if op == "print":
        return str(f[arg])
    if op == "raw":
        return f.raw(arg)
    if op == "stat":
        return f.stat(arg)
    if op == "snapshot":
        return f.snapshot([arg])
    if op == "iterate":
        return f.keys()
    raise AssertionError(f"unknown manifest operation {op!r}: teach this test")


def test_the_manifest_covers_every_fixture():
    files = {c[0] for c in CASES}
    maps = {n for n in os.listdir(FIXTURES) if n.endswith(".map")}
    assert maps == files and len(CASES) > 50


@pytest.mark.parametrize("file,op,arg,expect,detail", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_hostile_fixture(tmp_path, file, op, arg, expect, detail):
    path = tmp_path / file
    shutil.copyfile(os.path.join(FIXTURES, file), path)
    if op == "open":
        with pytest.raises(mapfile.Error) as ei:
            mapfile.open(path)
        check_error(ei.value, expect, detail)
        return
    with mapfile.open(path) as f:
        if op == "check":
            report = f.check()
            if expect == "pending":  # a dead writer's unfinished change, not damage
                assert report["repair_pending"] and report["problems"] == [], report
            else:
                assert expect == "problem", f"unknown check expectation {expect!r}"
                assert any(detail in p for p in report["problems"]), report
            return
        if expect == "MF_OK":
            value = run(f, op, arg)
            assert value is not None
            return
        with pytest.raises(mapfile.Error) as ei:
            run(f, op, arg)
        check_error(ei.value, expect, detail)


def check_error(e, expect, detail):
    assert e.errname == expect, f"{type(e).__name__} {e}"
    assert e.code == mapfile.ERRORS[expect]
    assert isinstance(e, FAMILY[expect]), f"{expect} raised {type(e).__name__}"
    assert e.detail, "a failure always has a detail"
    if detail != "-":
        assert detail in e.detail and detail in str(e)
