"""The README's "Python" section runs as written: its shell lines in a
scratch directory (the CLI and demo names mapped to the build tree; a line
ending in '&' runs in the background until the end), its pycon blocks as
doctests in one namespace, in order."""
import doctest
import os
import re
import shlex
import subprocess

import pytest

from conftest import CLI, DEMO, SOURCE_DIR

PROGRAMS = {"mapfile-demo": DEMO, "mapf": CLI}


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
        if re.search(r"\bpython3$", cmd):
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
