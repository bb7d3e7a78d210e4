"""The stubs describe the module as built, and an installed tree works
from where it lands (and after it moves): the module finds the installed
libmapfile through its $ORIGIN-relative RPATH, not the build tree's."""
import ast
import inspect
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


def stub_functions():
    """(class name or None, FunctionDef) of every function the stubs declare
    (properties excluded: their getters are not callables at run time)."""
    tree = stub_tree()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield None, node
        elif isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and not any(
                        isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list):
                    yield node.name, f


def stub_parameters(fn):
    """[(name, kind, has a default)] of a stubbed function, as inspect names them."""
    a, P = fn.args, inspect.Parameter
    positional = [(p, P.POSITIONAL_ONLY) for p in a.posonlyargs]
    positional += [(p, P.POSITIONAL_OR_KEYWORD) for p in a.args]
    defaults = [False] * (len(positional) - len(a.defaults)) + [True] * len(a.defaults)
    params = [(p.arg, kind, d) for (p, kind), d in zip(positional, defaults)]
    if a.vararg:
        params.append((a.vararg.arg, P.VAR_POSITIONAL, False))
    params += [(p.arg, P.KEYWORD_ONLY, d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append((a.kwarg.arg, P.VAR_KEYWORD, False))
    return params


# Stubbed for type checkers, with no runtime counterpart to compare:
# attribute access on Object goes through tp_getattro; __buffer__ is the
# buffer protocol (a Python-level method only from Python 3.12).
NOT_INTROSPECTABLE = {("Object", "__getattr__"), ("Array", "__buffer__")}


def stubbed_callables():
    return [pytest.param(cls, fn, id=f"{cls or 'mapfile'}.{fn.name}")
            for cls, fn in stub_functions() if (cls, fn.name) not in NOT_INTROSPECTABLE]


@pytest.mark.parametrize("cls,fn", stubbed_callables())
def test_stubbed_parameters_match_the_runtime_signature(cls, fn):
    runtime = getattr(getattr(mapfile, cls) if cls else mapfile, fn.name)
    actual = [(p.name, p.kind, p.default is not p.empty)
              for p in inspect.signature(runtime).parameters.values()]
    stubbed = stub_parameters(fn)
    if type(runtime).__name__ == "wrapper_descriptor":
        # A type slot (len, [], call...): CPython names its parameters
        # (key, value) and gives tp_call **kwargs; compare what a caller
        # can pass positionally.
        def positional(ps):
            return [(k, d) for _, k, d in ps if k != inspect.Parameter.VAR_KEYWORD]
        assert positional(stubbed) == positional(actual), (stubbed, actual)
    else:
        assert stubbed == actual


def callables_with_signatures(tmp_path, demo_file):
    """(where, bound callable) of every documented method of every type, on
    real instances (a read-only file, a writable one, a view, a batch, an
    object, an array) and mapfile.open itself."""
    ro = mapfile.open(demo_file)
    rw = mapfile.open(tmp_path / "rw.map", "w")
    h = ro["hpx"]
    instances = {"File": ro, "View": ro.view(), "Batch": rw.batch(), "Object": h,
                 "Array": h.arrays["bins"]}
    found = [("mapfile.open", mapfile.open)]
    for cls, obj in instances.items():
        for name in dir(type(obj)):
            attr = getattr(type(obj), name)
            if type(attr).__name__ == "method_descriptor" and attr.__text_signature__:
                found.append((f"{cls}.{name}", getattr(obj, name)))
    return found, (instances["View"], instances["Batch"], ro, rw)


def test_the_runtime_accepts_exactly_the_keywords_its_signatures_name(tmp_path, demo_file):
    """The text signatures behind help() and the stubs are hand-written in
    the C docstrings; this checks them against the argument parsers: a
    parameter before '/' refuses its keyword, every other one is accepted
    by name (given a value of a wrong type, so nothing happens)."""
    P = inspect.Parameter
    found, keep = callables_with_signatures(tmp_path, demo_file)
    assert len(found) > 30
    checked = 0
    try:
        for where, fn in found:
            params = list(inspect.signature(fn).parameters.values())
            named = {p.name: object() for p in params
                     if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
            if named:
                try:
                    fn(**named)
                except Exception as e:  # noqa: BLE001 - any error but a keyword one
                    assert not (isinstance(e, TypeError) and "keyword" in str(e)), (where, e)
                checked += 1
            for p in params:
                if p.kind == P.POSITIONAL_ONLY:
                    with pytest.raises(TypeError, match="keyword"):
                        fn(**{p.name: object()})
                    checked += 1
    finally:
        view, batch, ro, rw = keep
        view.end()
        batch.abort()
        ro.close()
        rw.close()
    assert checked > 20


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
