"""The stubs describe the module as built, and an installed tree works
from where it lands (and after it moves): the module finds the installed
libmapfile through its $ORIGIN-relative RPATH, not the build tree's."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

import mapfile

BUILD_DIR = os.path.dirname(os.path.dirname(os.environ["MAPFILE_TEST_CLI"]))
STUB = os.path.join(os.path.dirname(mapfile.__file__), "mapfile.pyi")


def stub_tree():
    with open(STUB) as s:
        return ast.parse(s.read())


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_stubs_name_every_public_name_of_the_module():
    tree = stub_tree()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets)
    runtime = public(dir(mapfile))
    assert public(names) - {"Value"} == runtime


@pytest.mark.parametrize("cls", ["File", "View", "Batch", "Object", "Method", "Array", "Watch",
                                 "Error"])
def test_stubs_name_every_method_and_attribute_of_each_type(cls):
    node = next(n for n in stub_tree().body if isinstance(n, ast.ClassDef) and n.name == cls)
    stubbed = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    stubbed |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
    runtime = getattr(mapfile, cls)
    for name in stubbed - {"__buffer__", "__getattr__"}:
        assert hasattr(runtime, name) or cls == "Error", f"{cls}.{name} is stubbed, not built"
    if cls != "Error":
        assert public(dir(runtime)) <= stubbed, public(dir(runtime)) - stubbed


def test_an_installed_tree_imports_and_moves(tmp_path, demo_file):
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    site = prefix / "lib" / "python3" / "dist-packages"
    assert (site / "mapfile.pyi").is_file()
    assert any(p.name.startswith("mapfile.cpython-") for p in site.iterdir())
    moved = tmp_path / "moved"
    shutil.copytree(prefix, moved, symlinks=True)
    shutil.rmtree(prefix)
    code = ("import mapfile, sys\n"
            f"f = mapfile.open({str(demo_file)!r})\n"
            "assert f['notes/shift'].startswith('beam on')\n"
            "assert f['hpx'].entries() == 20000\n"
            "libs = [l.split()[-1] for l in open('/proc/self/maps') if 'libmapfile' in l]\n"
            "print(mapfile.__file__)\n"
            "print(sorted(set(libs))[0])\n")
    env = dict(os.environ, PYTHONPATH=str(moved / "lib" / "python3" / "dist-packages"))
    # cwd: not a directory holding the build tree's module (python -c puts
    # the working directory first on sys.path).
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    module, lib = r.stdout.split()
    assert module.startswith(str(moved)) and lib.startswith(str(moved)), r.stdout
