"""The README's "Python" section runs as written: its shell lines in a
scratch directory (the CLI and demo names mapped to the build tree; a line
ending in '&' runs in the background until the end), its pycon blocks as
doctests in one namespace, in order."""
import doctest
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import CLI, DEMO, SOURCE_DIR

BUILD_DIR = os.path.dirname(os.path.dirname(CLI))

PROGRAMS = {"mapfile-demo": DEMO, "mapf": CLI}
# The interpreter the README names: the module is built for Debian's, not
# for whichever python3 is first on PATH. The test runs sys.executable, the
# one this build was configured with.
INTERPRETER = "/usr/bin/python3"


def python_section():
    with open(os.path.join(SOURCE_DIR, "README.md")) as r:
        text = r.read()
    m = re.search(r"^## Python\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no '## Python' section"
    return m.group(1)


def blocks(section):
    """(language, body) of each fenced block, in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)


def shell_commands(body):
    for line in body.splitlines():
        if not line.startswith("$ "):
            continue
        cmd = line[2:].split("  #")[0].strip()
        if cmd.endswith(" " + INTERPRETER):
            continue  # the interpreter the pycon blocks run in
        yield cmd


def run_shell(cmd, cwd, background):
    words = shlex.split(cmd.rstrip("&").strip())
    assert words[0] in PROGRAMS, f"README runs {words[0]!r}: map it in PROGRAMS"
    words[0] = PROGRAMS[words[0]]
    if cmd.endswith("&"):
        background.append(subprocess.Popen(words, cwd=cwd, stdout=subprocess.DEVNULL))
    else:
        subprocess.run(words, cwd=cwd, check=True, capture_output=True, timeout=120)


def inline_commands(section):
    """The command lines quoted inline (`PYTHONPATH=build/python /usr/bin/python3 ...`)."""
    return re.findall(r"`(PYTHONPATH=build/python [^`]*)`", section)


def test_the_inline_commands_of_the_python_section_run(tmp_path):
    """Run where the README says: beside a build/ (here the build tree ctest
    runs, linked), with the interpreter the module was built for."""
    commands = inline_commands(python_section())
    assert commands, "the Python section quotes no PYTHONPATH=build/python command"
    os.symlink(BUILD_DIR, tmp_path / "build")
    for cmd in commands:
        words = shlex.split(cmd)
        env_words = [w for w in words if re.match(r"^[A-Z_]+=", w)]
        argv = words[len(env_words):]
        assert argv[0] == INTERPRETER, cmd
        env = dict(os.environ, **dict(w.split("=", 1) for w in env_words))
        r = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{cmd}: {r.stderr}"


def test_the_python_section_of_the_readme_runs(tmp_path, monkeypatch):
    section = blocks(python_section())
    assert any(lang == "pycon" for lang, _ in section)
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {}
    background = []
    try:
        for i, (lang, body) in enumerate(section):
            if lang == "sh":
                for cmd in shell_commands(body):
                    run_shell(cmd, tmp_path, background)
            elif lang == "pycon":
                test = parser.get_doctest(body, globs, f"README Python block {i}", "README.md", 0)
                test.globs = globs  # one namespace for the whole session
                runner.run(test, clear_globs=False)
    finally:
        for p in background:
            p.terminate()
            p.wait(timeout=10)
    result = runner.summarize(verbose=False)
    assert result.attempted > 10
    assert result.failed == 0, "the README session no longer matches (see the output above)"
