"""helpers.profile: real vmprof profiles written by CPython and PyPy, read on CPython."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import helpers
from helpers.profiling import (LINES_UNSUPPORTED, EmptyProfile, Frame, ProfileError,
                               function_table, read_profile)
from helpers.vmprofread import merge_frames

ROOT = Path(__file__).resolve().parent.parent

# Time-bounded, so every interpreter gives enough samples; `hot` does about three times the work
# of `warm` per round.
PROGRAM = """
import sys, time

def hot(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

def warm(n):
    total = 0
    for i in range(n):
        total += i % 3
    return total

def main(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        hot(30000)
        warm(10000)

main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.2)
print("args:", sys.argv[1:])
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    path = tmp_path_factory.mktemp("prog") / "busy.py"
    path.write_text(PROGRAM)
    return path


@pytest.fixture(scope="module")
def cpython_profile(program, tmp_path_factory):
    kept = tmp_path_factory.mktemp("kept") / "cpython.prof"
    return helpers.profile(program, interpreter="cpython", keep=kept), kept


@pytest.fixture(scope="module")
def pypy_profile(program, tmp_path_factory):
    kept = tmp_path_factory.mktemp("kept") / "pypy.prof"
    return helpers.profile(program, interpreter="pypy", keep=kept), kept


def check_profile(prof, implementation):
    assert prof.interpreter.implementation == implementation
    assert prof.samples >= 100, prof
    assert prof.rate > 20
    table = prof.table(full=True)
    assert list(prof.table().columns) == ["function", "where", "self %", "total %"]
    assert prof.top(1) == ["hot"], table.head()
    hot = table[table["function"] == "hot"].iloc[0]
    assert hot["where"] == "busy.py:4"
    assert hot["self %"] > 40
    assert prof.share("main", "total") > 95  # everything runs under main()
    assert table["self %"].sum() == pytest.approx(100, abs=0.5)
    assert prof.tree.name == "<module>" and prof.tree.file.endswith("busy.py")
    assert "args: []" in prof.stdout


def test_cpython_profile(cpython_profile):
    check_profile(cpython_profile[0], "CPython")


@pytest.mark.pypy
def test_pypy_profile_is_read_on_cpython(pypy_profile):
    check_profile(pypy_profile[0], "PyPy")


def vmprofshow_flat(path):
    """vmprofshow's flat output: {(function, file, line): percent}."""
    exe = Path(sys.executable).with_name("vmprofshow")
    out = subprocess.run([str(exe), str(path), "flat"], capture_output=True, text=True,
                         check=True).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)% - (.*?):(.*):(\d+)$", line)
        if m:
            key = (m.group(2), m.group(3), int(m.group(4)))
            rows[key] = rows.get(key, 0.0) + float(m.group(1))
    return rows


def agree_with_vmprofshow(prof, kept):
    theirs = vmprofshow_flat(kept)
    assert theirs, "vmprofshow printed nothing"
    ranked = sorted(theirs.items(), key=lambda kv: -kv[1])
    ours = prof.table(full=True)
    ours = ours[ours["function"] != "<module>"]  # our root, which we name ourselves
    ranked = [kv for kv in ranked if kv[0][0] != "<module>"]
    assert ours.iloc[0]["function"] == ranked[0][0][0]
    for _, row in ours.head(3).iterrows():
        # vmprofshow leaves out functions with (almost) no self time: count those as 0%
        assert theirs.get((row["function"], row["file"], row["line"]), 0.0) == pytest.approx(
            row["self %"], abs=1.5)


def test_top_functions_agree_with_vmprofshow_cpython(cpython_profile):
    agree_with_vmprofshow(*cpython_profile)


@pytest.mark.pypy
def test_top_functions_agree_with_vmprofshow_pypy(pypy_profile):
    agree_with_vmprofshow(*pypy_profile)


@pytest.mark.pypy
def test_lines_on_pypy_are_reported_unavailable(program):
    prof = helpers.profile(program, interpreter="pypy", lines=True, args=["0.3"], min_samples=0)
    assert LINES_UNSUPPORTED in prof.warnings
    with pytest.raises(ProfileError, match="not available on PyPy"):
        prof.line_table("hot")


def test_lines_on_cpython(program):
    prof = helpers.profile(program, interpreter="cpython", lines=True, args=["0.5"],
                           min_samples=0)
    lines = prof.line_table("hot")
    assert set(lines.index) <= set(range(4, 9)) and lines["samples"].sum() > 0


@pytest.mark.parametrize("loops", [300_000, 100])  # a few samples; none at all
def test_too_few_samples_repeats_the_program_and_says_so(loops):
    code = f"total = 0\nfor i in range({loops}):\n    total += i % 7\n"
    prof = helpers.profile(code, interpreter="cpython", min_samples=40)
    assert prof.repeat > 1 and len(prof.times) == prof.repeat
    assert any("times in one process" in w for w in prof.warnings), prof.warnings
    assert prof.samples >= 20


def test_snippet_and_failing_program():
    with pytest.raises(helpers.ChildError, match="ZeroDivisionError"):
        helpers.profile("1 / 0", interpreter="cpython", min_samples=0)


def test_temp_files_are_removed(program, tmp_path, monkeypatch):
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    helpers.profile(program, interpreter="cpython", args=["0.2"], min_samples=0)
    with pytest.raises(EmptyProfile, match="no samples"):  # too brief to be sampled
        helpers.profile("x = sum(range(1000))", interpreter="cpython", min_samples=0)
    with pytest.raises(helpers.ChildError):
        helpers.profile("raise SystemExit(3)", interpreter="cpython")
    assert list(private.iterdir()) == []


def test_empty_and_corrupt_profiles_give_clear_errors(cpython_profile, tmp_path):
    empty = tmp_path / "empty.prof"
    empty.write_bytes(b"")
    with pytest.raises(ProfileError, match="empty"):
        read_profile(empty)
    junk = tmp_path / "junk.prof"
    junk.write_bytes(b"this is not a profile" * 20)
    with pytest.raises(ProfileError, match="not a readable vmprof profile"):
        read_profile(junk)
    cut = tmp_path / "cut.prof"
    data = cpython_profile[1].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProfileError):
        read_profile(cut)
    with pytest.raises(ProfileError, match="no profile file"):
        read_profile(tmp_path / "missing.prof")


def test_recursion_counts_total_once():
    from helpers.profiling import Frame

    leaf = Frame("f", "a.py", 1, "py", 2.0, 2.0)
    mid = Frame("f", "a.py", 1, "py", 6.0, 4.0, [leaf])
    root = Frame("<module>", "a.py", 1, "py", 10.0, 4.0, [mid])
    table = function_table(root).set_index("function")
    assert table.loc["f", "self %"] == pytest.approx(60)
    assert table.loc["f", "total %"] == pytest.approx(60)  # not 80: nested f counted once


EVIL = "<script>alert(1)</script>"


def test_html_escapes_names_and_paths(tmp_path):
    folder = tmp_path / EVIL.split("/")[0]  # a folder named '<script>alert(1)<'
    folder.mkdir()
    script = folder / "script>.py"  # so the path reads .../<script>alert(1)</script>.py
    script.write_text(
        "import time\n"
        "def work():\n"
        "    end = time.perf_counter() + 0.4\n"
        "    while time.perf_counter() < end:\n"
        "        sum(range(1000))\n"
        f"work.__code__ = work.__code__.replace(co_name={EVIL!r})\n"
        "work()\n")
    prof = helpers.profile(script, interpreter="cpython", min_samples=0)
    assert EVIL in set(prof.table()["function"])
    assert EVIL in str(script)
    for text in (prof.to_html(), prof._repr_html_(), prof.svg()):
        assert "<script" not in text.lower()
        assert "&lt;script&gt;" in text


def test_cli_writes_an_offline_report(program, tmp_path):
    out, kept = tmp_path / "report.html", tmp_path / "kept.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "profile", str(program), "-o", str(out),
         "--interpreter", "cpython", "--keep", str(kept), "--", "0.8", "--flag"],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "args: ['0.8', '--flag']" in proc.stdout
    assert f"wrote {out}" in proc.stdout
    text = out.read_text()
    assert text.lower().startswith("<!doctype html>") and "<svg" in text and "hot" in text
    from helpers.display import CSP
    assert f'content="{CSP}"' in text  # the one page shell every saved page uses
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert kept.stat().st_size > 0


def test_cli_reports_a_missing_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers", "profile", str(tmp_path / "no.py")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "no script at" in proc.stderr


@pytest.mark.pypy
def test_profile_both_shows_each_interpreter(program):
    both = helpers.profile_both(program, args=["0.8"], min_samples=0)
    assert [p.interpreter.name for p in both.profiles] == ["cpython", "pypy"]
    table = both.table()
    assert list(table.columns) == [p.who for p in both.profiles]
    assert any(k.startswith("hot ") for k in table.index)
    html = both._repr_html_()
    assert html.count("<svg") == 2
    assert both.figure is not None


def _crash_first(monkeypatch, crashes):
    """Make vmprof_child's first `crashes` runs end as a SIGSEGV would (a real child, killed)."""
    import signal

    from helpers import profiling
    from helpers.runner import ChildError, run

    real, calls = profiling.ask, []

    def ask(program, request, **options):
        calls.append(program)
        if len(calls) <= crashes:
            r = run("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
                    interpreter=options["interpreter"], check=False)
            assert r.returncode == -signal.SIGSEGV
            raise ChildError(r)
        return real(program, request, **options)

    monkeypatch.setattr(profiling, "ask", ask)
    return calls


def test_a_sampler_crash_on_cpython_is_profiled_again_and_said(program, monkeypatch):
    from helpers.profiling import SAMPLER_CRASH

    calls = _crash_first(monkeypatch, 1)
    p = helpers.profile(program, interpreter="cpython", args=["0.3"], min_samples=0)
    assert len(calls) == 2 and p.samples > 0
    assert SAMPLER_CRASH in p.warnings


def test_two_crashes_are_the_programs_own_and_raise(program, monkeypatch):
    from helpers.runner import ChildError

    _crash_first(monkeypatch, 2)
    with pytest.raises(ChildError, match="SIGSEGV"):
        helpers.profile(program, interpreter="cpython", args=["0.3"], min_samples=0)


# ----------------------------------------------------------------------------- repeated runs

# Each run times its work in CPU seconds (the machine is shared: wall time is noisy) and appends
# them to the file named by argv[1]. A class and module-level functions, as lessons have, and no
# global written after the work: then the loops of the first run stay valid for the next one.
ROUNDS_PROGRAM = """
import sys, time

class Point(object):
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm1(self):
        return abs(self.x) + abs(self.y)

def hot(n):
    total = 0
    for i in range(n):
        total += Point(i, -i).norm1() % 7
    return total

def main(path, rounds):
    start = time.process_time()
    for _ in range(rounds):
        hot(30000)
    with open(path, "a") as f:
        f.write("%r\\n" % (time.process_time() - start))

main(sys.argv[1], int(sys.argv[2]))
"""


@pytest.mark.pypy
def test_repeated_runs_on_pypy_do_not_get_slower(tmp_path):
    # With a new globals dict per run, each run was slower than the one before (2-3x by the
    # tenth): the first run's loop stayed valid, failed its checks on the new run's class and
    # functions, and each run added one more bridge to the chain every iteration went through.
    script, seconds = tmp_path / "rounds.py", tmp_path / "seconds.txt"
    script.write_text(ROUNDS_PROGRAM)
    prof = helpers.profile(script, args=[seconds, 1500], repeat=10, min_samples=0)
    cpu = [float(x) for x in seconds.read_text().split()]
    assert len(cpu) == len(prof.times) == 10
    assert cpu[-1] <= 2 * min(cpu), f"CPU seconds per run grew: {cpu}"
    table = prof.table(full=True)
    assert table["function"].value_counts().max() == 1, table  # each function once
    assert {"hot", "__init__", "norm1"} <= set(table["function"])


def test_every_run_starts_from_fresh_globals():
    # a leftover from the run before, or a missing module name, fails the program
    code = ("assert 'seen' not in globals(), sorted(globals())\n"
            "assert __name__ == '__main__' and __file__.endswith('snippet.py')\n"
            "import sys\n"
            "assert sys.modules['__main__'].__dict__ is globals()\n"
            "seen = 1\n"
            "total = sum(i % 7 for i in range(200000))\n")
    prof = helpers.profile(code, interpreter="cpython", repeat=3, min_samples=0)
    assert len(prof.times) == 3


def test_merge_frames_adds_up_one_function():
    def f(count, self_count, children=(), lines=None, line=4, kind="py"):
        return Frame("work", "/p/a.py", line, kind, count, self_count, list(children),
                     dict(lines or {}))

    leaf = lambda c: Frame("inner", "/p/a.py", 9, "py", c, c)
    first = f(10.0, 6.0, [leaf(4.0)], {5: 6.0})
    second = f(5.0, 2.0, [leaf(3.0)], {5: 1.0, 6: 1.0})
    other_line = f(2.0, 2.0, line=12)  # another function of the same name
    native = f(1.0, 1.0, kind="n")
    merged = merge_frames([second, other_line, first, native])
    assert [(m.name, m.line, m.kind, m.count) for m in merged] == [
        ("work", 4, "py", 15.0), ("work", 12, "py", 2.0), ("work", 4, "n", 1.0)]
    work = merged[0]
    assert work.self_count == 8.0 and work.lines == {5: 7.0, 6: 1.0}
    assert [(c.name, c.count, c.self_count) for c in work.children] == [("inner", 7.0, 7.0)]
    assert first.count == 10.0 and len(first.children) == 1  # the inputs are left as they were
    root = Frame("<module>", "/p/a.py", 1, "py", 18.0, 0.0, merged)
    table = function_table(root).set_index(["function", "line"])
    assert table.loc[("work", 4), "self samples"] == 9.0  # py and native rows add up here
    assert table.loc[("inner", 9), "total %"] == pytest.approx(100 * 7 / 18)


@pytest.mark.pypy
def test_a_function_compiled_twice_is_one_row():
    # Two code objects of one function (same file, name, first line), as exec() makes them:
    # vmprof keeps them apart by address; the tree and the table show one function. (On PyPy:
    # CPython's vmprof names only one of the two.)
    code = ("import time\n"
            "SRC = 'def work(t):\\n    end = time.perf_counter() + t\\n'"
            " '    while time.perf_counter() < end:\\n        sum(range(500))\\n'\n"
            "made = []\n"
            "for _ in range(2):\n"
            "    ns = {'time': time}\n"
            "    exec(compile(SRC, 'made.py', 'exec'), ns)\n"
            "    made.append(ns['work'])\n"
            "assert made[0].__code__ is not made[1].__code__\n"
            "for work in made:\n"
            "    work(0.3)\n")
    prof = helpers.profile(code, min_samples=0)
    raw = [n for n in _raw_nodes(prof.stats.get_tree()) if ":work:" in str(n.name)]
    assert len(raw) == 2, [n.name for n in raw]  # vmprof's own tree: one node per code object
    works = [f for f, _ in prof.tree.walk() if f.name == "work"]
    assert len(works) == 1 and works[0].file == "made.py", [(f.name, f.count) for f in works]
    assert works[0].count == sum(n.count for n in raw)
    assert list(prof.table()["function"]).count("work") == 1


def _raw_nodes(node):
    yield node
    for child in node.children.values():
        yield from _raw_nodes(child)
