"""helpers.report: one report on the learner's own script, and `python -m helpers report`.

The parsing and code-writing pieces are tested directly (no child processes); the report itself
runs on tiny scripts with a small race budget. One full report (a script with arguments, a data
file found through __file__, another working directory, sys.exit(0), and markup in its path and
output) is shared by several tests.
"""

import json
import os
import re
import tempfile
import time
import types

import pytest

from helpers import cli, reportpage, timing
from helpers.interpreters import get_interpreter
from helpers.report import (Report, compare_output, describe_failure, parse_traceback,
                            race_code, report)
from helpers.runner import RunResult

FAST = dict(budget=0.3, min_samples=5, timeout=60, progress=False)


def fake_run(returncode=0, stdout="", stderr="", timed_out=False, dropped=0, total=None):
    return RunResult(interpreter=get_interpreter("cpython"), argv=["python", "x.py"],
                     returncode=returncode, stdout=stdout, stderr=stderr, wall=0.1, user=0.1,
                     sys=0.0, max_rss=None, timed_out=timed_out, timeout=5.0,
                     stdout_bytes=len(stdout.encode()) if total is None else total,
                     stderr_bytes=len(stderr.encode()), dropped={"stdout": dropped,
                                                                 "stderr": 0})


def external_urls(page: str) -> list:
    """Anything the page would fetch: http(s) or protocol-relative URLs outside xmlns."""
    page = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", page)
    return re.findall(r"(?:https?:)?//[\w.-]+\.\w+/?", page)


# ----------------------------------------------------------------------------- tracebacks

CPY_TB = '''some output on stderr
Traceback (most recent call last):
  File "/home/me/proj/main.py", line 12, in <module>
    main()
  File "/home/me/proj/main.py", line 9, in main
    load(path)
  File "/home/me/proj/util.py", line 4, in load
    return json.loads(text)
           ^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
'''


def test_traceback_points_at_the_scripts_last_frame():
    f = parse_traceback(CPY_TB, "/home/me/proj/main.py")
    assert f.where == "main.py:9" and f.function == "main" and f.source == "load(path)"
    assert f.why == "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    assert f.raised_at == "/usr/lib/python3.11/json/__init__.py:346"
    assert f.traceback.startswith("Traceback") and "some output" not in f.traceback
    assert str(f).startswith("json.decoder.JSONDecodeError") and "main.py:9 in main()" in str(f)


def test_traceback_of_the_last_exception_in_a_chain():
    chained = ('Traceback (most recent call last):\n  File "/p/s.py", line 2, in <module>\n'
               '    {}["k"]\nKeyError: \'k\'\n\nDuring handling of the above exception, another '
               'exception occurred:\n\nTraceback (most recent call last):\n'
               '  File "/p/s.py", line 4, in <module>\n    raise ValueError("bad\\nvalue")\n'
               'ValueError: bad\nvalue\n')
    f = parse_traceback(chained, "/p/s.py")
    assert f.where == "s.py:4" and f.why == "ValueError: bad\nvalue" and f.raised_at is None


def test_syntax_error_and_no_traceback():
    syntax = ('  File "/p/bad.py", line 3\n    def f(:\n          ^\n'
              'SyntaxError: invalid syntax\n')
    f = parse_traceback(syntax, "/p/bad.py")
    assert (f.where, f.why, f.function) == ("bad.py:3", "SyntaxError: invalid syntax", None)
    assert parse_traceback("just some text\n", "/p/bad.py") is None


def test_a_frame_in_the_learners_own_module_beats_the_library(tmp_path):
    script = tmp_path / "main.py"
    tb = (f'Traceback (most recent call last):\n  File "/usr/lib/x.py", line 1, in <module>\n'
          f'    run()\n  File "{tmp_path}/pkg/mod.py", line 7, in work\n    1 / 0\n'
          f'  File "/usr/lib/y.py", line 2, in div\n    x\nZeroDivisionError: division by zero\n')
    f = parse_traceback(tb, script)
    assert f.where == os.path.join("pkg", "mod.py") + ":7" and f.raised_at == "/usr/lib/y.py:2"


def test_describe_failure_without_a_traceback():
    assert describe_failure(fake_run(0), "x.py") is None
    assert describe_failure(fake_run(3), "x.py").why == "exited with status 3"
    f = describe_failure(fake_run(1, stderr="no input given\n"), "x.py")
    assert f.why == "exited with status 1: no input given" and f.where is None
    assert "did not finish within 5 s" in describe_failure(fake_run(-9, timed_out=True),
                                                           "x.py").why
    assert describe_failure(fake_run(-11), "x.py").why.startswith("was killed by SIGSEGV")


def test_compare_output():
    assert compare_output(fake_run(stdout="a\nb\n"), fake_run(stdout="a\nb\n"))[0] is True
    same, text = compare_output(fake_run(stdout="a\nb\n"), fake_run(stdout="a\nc\n"))
    assert not same and "line 2" in text and "'b'" in text
    assert not compare_output(fake_run(stdout="a"), fake_run(stdout="ab"))[0]
    same, text = compare_output(fake_run(stdout="x", total=10**8, dropped=10**8 - 1),
                                fake_run(stdout="x", total=10**8, dropped=10**8 - 1))
    assert same and "as far as it was kept" in text
    assert compare_output(fake_run(), fake_run()) == (True, "neither printed anything")


# ----------------------------------------------------------------------------- race code


def run_race_code(script, args, cwd, times=2):
    setup, stmt = race_code(script, args, cwd)
    ns = {"__name__": "__main__"}
    old_cwd, old_path = os.getcwd(), list(__import__("sys").path)
    try:
        exec(compile(setup, "<setup>", "exec"), ns)
        for _ in range(times):
            exec(compile(stmt, "<stmt>", "exec"), ns)
    finally:
        os.chdir(old_cwd)
        __import__("sys").path[:] = old_path


def test_race_code_runs_the_script_like_python_does(tmp_path, capsys):
    folder = tmp_path / "it's \"odd\" <script> ü"
    folder.mkdir()
    (folder / "data.txt").write_text("42")
    (folder / "helper_mod_for_race.py").write_text("VALUE = 7\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    log = tmp_path / "log.jsonl"
    script = folder / "s.py"
    script.write_text(
        "import json, os, sys\nimport helper_mod_for_race\n"
        "here = os.path.dirname(__file__)\n"
        "data = open(os.path.join(here, 'data.txt')).read()\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps([__name__, sys.argv, os.getcwd(), data,\n"
        "                        helper_mod_for_race.VALUE]) + '\\n')\n"
        "print('printed', flush=True)\nprint('err', file=sys.stderr)\nsys.exit(0)\n")
    run_race_code(script, ["--n", "a b"], other)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 2
    assert rows[0] == ["__main__", [str(script.resolve()), "--n", "a b"], str(other.resolve()),
                       "42", 7]
    out = capsys.readouterr()
    assert "printed" not in out.out and "err" not in out.err  # output goes to os.devnull


def test_race_code_failures_propagate(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(RuntimeError, match=r"sys.exit\(3\)"):
        run_race_code(script, [], tmp_path)
    script.write_text("1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        run_race_code(script, [], tmp_path)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no script at"):
        report(tmp_path / "missing.py", progress=False)
    with pytest.raises(FileNotFoundError, match="not a file"):
        report(tmp_path, progress=False)
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    with pytest.raises(TypeError, match="list of strings"):
        report(script, "--size 10", progress=False)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        report(script, cwd=tmp_path / "nowhere", progress=False)


def test_cli_missing_script_and_usage(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "missing.py")]) == 1
    assert "no script at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["report"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- failing scripts


@pytest.mark.pypy
def test_a_raising_script_gets_a_complete_report(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("def helper(x):\n    return 10 / x\n\nprint('before')\nhelper(0)\n")
    out = tmp_path / "r.html"
    rep = report(script, output=out, **FAST)
    assert not rep.ok
    for key in ("cpython", "pypy"):
        f = rep.failures[key]
        assert f.where == "boom.py:2" and f.function == "helper"
        assert f.why.startswith("ZeroDivisionError")
    assert rep.section("smoke").status == "failed"
    for key in ("race", "where", "profile", "traces", "why"):
        s = rep.section(key)
        assert s.status == "skipped" and "failed on" in s.summary and s.result is None
    page = out.read_text(encoding="utf-8")
    assert "boom.py:2" in page and "ZeroDivisionError" in page and "skipped" in page
    assert "ZeroDivisionError" in str(rep)


@pytest.mark.pypy
def test_syntax_error_and_exit_codes(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\ndef f(:\n    pass\n")
    rep = report(bad, **FAST)
    assert rep.failures["pypy"].where == "bad.py:2"
    assert "SyntaxError" in rep.failures["cpython"].why
    three = tmp_path / "three.py"
    three.write_text("import sys\nprint('bye')\nsys.exit(3)\n")
    rep = report(three, **FAST)
    assert rep.failures["pypy"].why == "exited with status 3"
    assert rep.section("race").status == "skipped"


@pytest.mark.pypy
def test_cli_report_on_a_failing_script(tmp_path, capsys):
    script = tmp_path / "args.py"
    script.write_text("import sys\nprint('got', sys.argv[1:])\nraise SystemExit('need more')\n")
    out = tmp_path / "cli.html"
    rc = cli.main(["report", str(script), "-o", str(out), "--budget", "0.3", "--", "--size",
                   "<10>"])
    assert rc == 3
    text = capsys.readouterr()
    assert "need more" in text.out and f"wrote {out}" in text.out
    assert "smoke run on CPython" in text.err  # the progress bar
    page = out.read_text(encoding="utf-8")
    assert "got [&#x27;--size&#x27;, &#x27;&lt;10&gt;&#x27;]" in page and "<10>" not in page


@pytest.mark.pypy
def test_a_flood_of_output_is_bounded_and_said(tmp_path):
    script = tmp_path / "flood.py"
    script.write_text("import sys\nline = 'x' * 99 + '\\n'\nw = sys.stdout.write\n"
                      "for i in range(500000):\n    w(line)\n")
    out = tmp_path / "r.html"
    rep = report(script, output=out, **FAST)
    assert rep.ok and rep.smoke["pypy"].stdout_bytes == 50_000_000
    assert len(rep.smoke["pypy"].stdout) < 3_000_000
    assert any("printed a lot on stdout" in w for w in rep.warnings)
    page = out.read_text(encoding="utf-8")
    assert "printed a lot on stdout" in page and len(page) < 2_000_000


# ----------------------------------------------------------------------------- a full report

PROGRAM = """\
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "data.json")) as f:
    values = json.load(f)["values"]
marker = open("marker.txt").read().strip()     # relative to the working directory


def total(values, repeat):
    t = 0
    for _ in range(repeat):
        for x in values:
            t += x * x % 7
    return t


repeat = int(sys.argv[sys.argv.index("--repeat") + 1])
print("<script>alert('x')</script>", marker, total(values, repeat))
sys.exit(0)
"""


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One report on a script with arguments, a data file beside it, run from another folder,
    with markup in its folder's name and output; temp files go to a private TMPDIR."""
    base = tmp_path_factory.mktemp("full")
    folder = base / "my <script>s"
    folder.mkdir()
    script = folder / "prog.py"
    script.write_text(PROGRAM)
    (folder / "data.json").write_text(json.dumps({"values": list(range(2000))}))
    cwd = base / "run here"
    cwd.mkdir()
    (cwd / "marker.txt").write_text("from-the-cwd\n")
    tmp = base / "tmp"
    tmp.mkdir()
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(tmp), None
    assert tempfile.gettempdir() == str(tmp)
    try:
        # min_samples=50: a profile of a run this short is redone, repeated, until it has some
        rep = report(script, ["--repeat", "20"], cwd=cwd, output=base / "report.html",
                     **dict(FAST, min_samples=50))
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
    return rep, base, tmp


@pytest.mark.pypy
def test_full_report_every_section_ran(full):
    rep, _, _ = full
    assert isinstance(rep, Report) and rep.ok and rep.same_output
    assert [s.status for s in rep.sections] == ["ok"] * 6, str(rep)
    assert "from-the-cwd" in rep.smoke["pypy"].stdout
    assert rep.race.speedup > 0 and all(not out for out in rep.race.stdout.values())
    c = rep.race.convergence  # raced until steady or until its budget (FAST: 0.3 s) was spent
    assert c.budget == FAST["budget"] and set(c.rounds) == {"cpython", "pypy"}
    assert all(c.spent(k) < c.budget + 1.0 for k in c.rounds)
    # runs per sample sized from the smoke run, start-up taken off
    for key in ("cpython", "pypy"):
        first = rep.smoke[key].wall - rep.race.summary.loc[key, "startup_s"]
        assert c.number[key] == timing.runs_per_sample(first)
    assert "Race time" in rep.section("race").summary
    assert rep.where.wall > 0
    assert rep.profile.samples > 0
    assert rep.traces.ranked, "the loop should have been compiled"
    assert "prog.py" in rep.traces.shown[0].where
    assert str(rep).startswith("Report on prog.py")


@pytest.mark.pypy
def test_full_report_says_why_not_faster(full):
    """The "why" section reads the smoke run's log and the profile: total() is hot and its
    loop was compiled, so it gets the compiled-code finding with its line, nothing invented."""
    rep, base, _ = full
    why = rep.section("why").result
    assert why.log is rep.traces.log
    assert why.profile is rep.profile
    by_name = {f.function: f for f in why.functions}
    assert "total" in by_name, str(why)
    total = by_name["total"]
    assert total.compiled and total.where == "prog.py:9"
    assert total.findings[0].kind == "jit" and "runs compiled" in total.findings[0].text
    assert not total.aborts and not any(s.key == total.key for s in why.sites)
    page = (base / "report.html").read_text(encoding="utf-8")
    assert 'id="pr-why"' in page and "Why not faster" in page and "prog.py:9" in page


@pytest.mark.pypy
def test_full_report_html_is_escaped_and_self_contained(full):
    rep, base, _ = full
    page = (base / "report.html").read_text(encoding="utf-8")
    assert "How the race went (budget 0.3 s per interpreter" in page
    assert f"{timing.BUDGET:g} s per interpreter by default" in page  # the defaults, stated
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "my <script>s" not in page and "my &lt;script&gt;s" in page
    assert external_urls(page) == []
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page
    assert page.count('src="data:image/png;base64,') >= 2  # warm-up curve, time split
    assert "Content-Security-Policy" in page
    fragment = rep._repr_html_()
    assert fragment.startswith('<div class="pypy-report">') and "<html" not in fragment


@pytest.mark.pypy
def test_full_report_leaves_no_temp_files(full):
    _, _, tmp = full
    assert list(tmp.iterdir()) == []


@pytest.mark.pypy
def test_findings_name_aborted_traces_and_many_bridges(tmp_path):
    """A script whose traces are aborted (a class made per call) and whose loop meets many
    classes gets findings pointing at lessons 09 and 08, from its own measured figures."""
    script = tmp_path / "shapes.py"
    script.write_text(
        "def make(i):\n"
        "    class Point:\n"
        "        def __init__(self, x):\n"
        "            self.x = x\n"
        "    return Point(i)\n"
        # 20 classes: 32 bridges for 7 loops on PyPy 7.3.11 and 7.3.19 alike; with 40, PyPy
        # 7.3.19 gives up on per-class bridges sooner (17 for 7, under the finding's 20)
        "classes = [type('C%d' % i, (), {'v': i}) for i in range(20)]\n"
        "objs = [classes[i % 20]() for i in range(4000)]\n"
        "t = 0\n"
        "for _ in range(30):\n"
        "    for o in objs:\n"
        "        t += o.v\n"
        "for i in range(3000):\n"
        "    t += make(i).x\n"
        "print(t)\n", encoding="utf-8")
    rep = report(script, budget=0.3, min_samples=0, progress=False)
    lessons = {lesson for _, lesson in rep.findings}
    text = " ".join(sentence for sentence, _ in rep.findings)
    assert rep.traces.aborts and "09" in lessons and "gave up tracing" in text
    # the why section locates the abort: tracing started in the class body (line 2)
    assert "shapes.py:2" in text and "Why not faster" in text
    assert "08" in lessons and "bridges" in text


# ----------------------------------------------------------------------------- the race


def fake_round(curves):
    """A stand-in for one harness round (see tests/test_timing.py's fake_measure)."""
    def measure(stmt, setup, spec, *, samples, budget, number, timeout, env, jit):
        xs, spent = [], 0.0
        while len(xs) < samples and (not xs or spent < budget):
            xs.append(curves[spec](len(xs)))
            spent += xs[-1] * number
        result = {"samples": xs, "runs": [number] * len(xs), "number": number,
                  "implementation": "PyPy" if spec == "pypy" else "CPython", "jit": True,
                  "stopped_by": "samples" if len(xs) >= samples else "budget"}
        return result, types.SimpleNamespace(wall=spent, stdout="",
                                             dropped={"stdout": 0, "stderr": 0})
    return measure


def test_the_page_says_the_cap_was_hit_and_the_budget_needed():
    still_falling = {"cpython": lambda i: 1.0 + 0.001 * (i % 3),
                     "pypy": lambda i: 2.0 * 0.8 ** i + 0.1}  # 2.45x faster and falling
    r = timing.race_until_steady("_report_run()", startup=False, budget=6.0, first_run=1.0,
                                 measure=fake_round(still_falling))
    c = r.convergence
    assert not c.steady("pypy") and not c.steady("cpython")  # 6 samples of 1 s: too few
    assert all(len(c.rounds[k]) == 1 for k in c.rounds)  # a second round would not fit
    ask = c.suggestion("pypy")
    html = reportpage._rounds_html(r)
    assert '<li class="warn">PyPy' in html and f"pass budget={ask}" in html
    assert "no steady state within the budget" in html and "budget 6 s per interpreter" in html
    ask = max(ask, c.suggestion("cpython"))
    assert f"pass budget={ask}" in r.headline() and "treat with care" in r.headline()
    assert "CPython and PyPy reached no steady state within the budget" in r.headline()


ENDLESS = "while True:\n    pass\n"
SECOND_RUN_HANGS = ("import sys\nif getattr(sys, 'ran_once', False):\n    while True:\n"
                    "        pass\nsys.ran_once = True\nprint('first run done')\n")


@pytest.mark.pypy
def test_a_script_that_never_ends_costs_one_timeout_per_interpreter(tmp_path):
    script = tmp_path / "forever.py"
    script.write_text(ENDLESS)
    started = time.perf_counter()
    rep = report(script, **dict(FAST, timeout=2))
    took = time.perf_counter() - started
    assert took < 2 * 2 + 6, f"two timeouts of 2 s and little else, not {took:.1f} s"
    for key in ("cpython", "pypy"):
        assert rep.smoke[key].timed_out
        assert "did not finish within 2 s" in rep.failures[key].why
        assert "timeout=/--timeout" in rep.failures[key].why  # what to pass
    assert rep.section("smoke").status == "failed"  # the step that hit it
    assert all(rep.section(k).status == "skipped" for k in ("race", "profile"))


@pytest.mark.pypy
def test_a_race_round_that_hangs_is_killed_once_and_named(tmp_path):
    script = tmp_path / "again.py"
    script.write_text(SECOND_RUN_HANGS)
    started = time.perf_counter()
    rep = report(script, **dict(FAST, timeout=2, budget=1.0, min_samples=0))
    took = time.perf_counter() - started
    assert rep.ok  # the smoke runs (one run each) were fine
    s = rep.section("race")
    assert s.status == "failed" and "a race round on CPython did not finish within 3 s" in \
        s.summary, s.summary
    assert "timeout=2" in s.summary and "--timeout" in s.summary
    assert took < 3 + 12, f"one race timeout (3 s), not one per interpreter: {took:.1f} s"


def test_a_race_where_pypy_never_warms_says_so():
    from helpers.report import _rewarm_warning

    def race_with(pypy_median):
        curves = {"cpython": lambda i: 1.0, "pypy": lambda i: pypy_median}
        return timing.race_until_steady("_report_run()", startup=False, budget=30.0,
                                        first_run=1.0, measure=fake_round(curves))

    smoked = types.SimpleNamespace(wall=1.0)
    text = _rewarm_warning(race_with(0.9), smoked)
    assert "90% of the time of its first, cold run" in text and "more work" in text
    assert _rewarm_warning(race_with(0.3), smoked) == ""
