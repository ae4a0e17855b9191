"""The programs that run inside the child: real files, Python 3.9 syntax, one protocol."""

import ast
import json
from pathlib import Path

import pytest

from helpers import runner
from helpers.runner import ChildError, NoAnswer, ask

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
CHILDREN = ["harness", "probe_child", "tickrate_child", "inspect_child", "memory_child",
            "vmprof_child", "script_runner", "grade_child"]


@pytest.mark.parametrize("name", CHILDREN)
def test_child_programs_parse_as_python_39(name):
    source = (HELPERS / f"{name}.py").read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 9))  # a match statement or X | Y types fail here
    tree = ast.parse(source)
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative, f"{name}.py runs as a script in the child: no `from .` imports"


def _python_source_strings(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if len(text) > 200 and ("\nimport " in text or "\ndef " in text):
                yield node.lineno


@pytest.mark.parametrize("path", sorted(p for p in HELPERS.rglob("*.py")
                                        if p.stem not in CHILDREN),
                         ids=lambda p: str(p.relative_to(HELPERS)))
def test_no_child_program_is_held_in_a_string(path):
    lines = list(_python_source_strings(ast.parse(path.read_text(encoding="utf-8"))))
    assert not lines, (f"{path.name} holds Python source in a string (line {lines[0]}): make it "
                       "a child program file beside harness.py and start it with runner.ask()")


def test_memory_child_runs_in_process(tmp_path):
    import helpers.memory_child as child

    req, ans = tmp_path / "req.json", tmp_path / "ans.json"
    req.write_text(json.dumps({"setup": "", "n": 500, "objects": [["tuple", "(i, i)"]]}))
    child.main(str(req), str(ans))
    answer = json.loads(ans.read_text())
    assert answer["bytes"]["tuple"] > 0 and "tracemalloc" in answer["method"]
    assert not (tmp_path / "ans.json.tmp").exists()


def test_probe_child_describes_this_interpreter():
    import platform

    import helpers.probe_child as child

    info = child.describe()
    assert info["implementation"] == platform.python_implementation()
    assert info["nursery"] is None  # CPython has none


def test_ask_reads_the_answer(tmp_path):
    program = tmp_path / "echo.py"
    program.write_text("import json, sys\nreq = json.load(open(sys.argv[1]))\n"
                       "json.dump({'twice': req['n'] * 2}, open(sys.argv[2], 'w'))\n")
    answer, result = ask(program, {"n": 21}, interpreter="cpython")
    assert answer == {"twice": 42} and result.ok


def test_ask_explains_a_missing_and_a_broken_answer(tmp_path):
    quiet = tmp_path / "quiet.py"
    quiet.write_text("pass\n")
    with pytest.raises(NoAnswer, match="exited with status 0 but wrote no answer: did the"):
        ask(quiet, {}, interpreter="cpython")
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nopen(sys.argv[2], 'w').write('{half')\n")
    with pytest.raises(ValueError, match="wrote a broken report"):
        ask(broken, {}, interpreter="cpython", what="report", error=ValueError)


def test_ask_raises_the_childs_traceback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise KeyError('nope')\n")
    with pytest.raises(ChildError, match="KeyError: 'nope'"):
        ask(bad, {}, interpreter="cpython")


def test_child_program_names_the_files_beside_the_runner():
    assert runner.child_program("harness").name == "harness.py"
    with pytest.raises(FileNotFoundError):
        runner.child_program("no_such_child")


@pytest.mark.parametrize("path", sorted(p for p in HELPERS.rglob("*.py")
                                        if p.stem not in CHILDREN),
                         ids=lambda p: str(p.relative_to(HELPERS)))
def test_no_code_is_passed_with_dash_c(path):
    """`python -c CODE` is a child program in a string too (an empty one only checks that the
    interpreter starts)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.List):
            items = node.elts
            for a, b in zip(items, items[1:]):
                if isinstance(a, ast.Constant) and a.value == "-c":
                    assert isinstance(b, ast.Constant) and b.value == "", (
                        f"{path.name}:{node.lineno} runs code given with -c: put it in a child "
                        "program file (probe_child.py has --missing and --purelib)")


def test_probe_child_lists_missing_modules_and_purelib():
    import subprocess
    import sys

    probe = str(HELPERS / "probe_child.py")
    out = subprocess.run([sys.executable, probe, "--missing", "json", "no_such_mod_x"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["no_such_mod_x"]
    out = subprocess.run([sys.executable, probe, "--purelib"], capture_output=True, text=True,
                         check=True).stdout
    assert Path(json.loads(out)).name == "site-packages"
