"""helpers.whynot: "why not faster", the JIT's own reasons per hot function.

Plain functions on synthetic logs and on the real PyPy 3.9 and 3.11 logs and profiles of
tests/fixtures/ (CPython only, fast); one real run (slow) of a program with a function too
long to trace and a loop that eval()s fresh code, which never gets compiled.
"""

import gzip
import json
import re
from pathlib import Path

import pytest

from helpers import pypylog, whynot
from helpers.profiling import function_table, read_profile

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOLDERS = sorted(p for p in FIXTURES.glob("pypy-*") if (p / "fixture.json").is_file())

# ----------------------------------------------------------------------------- the log's aborts

ABORTED = """\
[100] {jit-tracing
f;/p/prog.py:3-5~#12 FOR_ITER
f;/p/prog.py:3-6~#14 LOAD_FAST
f;/p/prog.py:3-6~#16 CALL_FUNCTION
g;/p/prog.py:10-11~#0 LOAD_FAST
g;/p/prog.py:10-11~#2 LOAD_CONST
g;/p/prog.py:10-12~#4 BINARY_ADD
[120] {jit-abort-longest-function
found new longest: g;/p/prog.py:10-11~#0 LOAD_FAST 7000
[121] jit-abort-longest-function}
[122] {jit-disableinlining
disabled inlining g;/p/prog.py:10-11~#0 LOAD_FAST
[123] jit-disableinlining}
~~~ ABORTING TRACING ABORT_TOO_LONG
[130] jit-tracing}
[200] {jit-tracing
f;/p/prog.py:3-5~#12 FOR_ITER
compiled new loop
[210] jit-tracing}
"""


def test_parse_tracing_keeps_where_an_abort_started_and_what_filled_it():
    body = ABORTED.split("{jit-tracing\n", 1)[1].split("[130]")[0]
    (abort,), per = pypylog.parse_tracing(7, body, ("n",))
    assert abort.reason == "ABORT_TOO_LONG" and abort.tick == 7
    assert abort.start == "f;/p/prog.py:3-5~#12 FOR_ITER"
    assert abort.bytecodes == 6
    assert abort.functions == (("f;/p/prog.py:3", 3), ("g;/p/prog.py:10", 3))
    # the tail has one entry per line visited, oldest first
    assert [pypylog.line_key(t) for t in abort.tail] == [
        "f;/p/prog.py:3-5", "f;/p/prog.py:3-6", "g;/p/prog.py:10-11", "g;/p/prog.py:10-12"]
    assert abort.notes == ("n",)
    assert per == {"f;/p/prog.py:3": 3, "g;/p/prog.py:10": 3}
    assert pypylog.function_key("not a location") is None
    assert pypylog.function_key("<module>;/p/x.py:1-9~#0 NOP") == "<module>;/p/x.py:1"


def test_parse_attaches_pypys_verdict_and_counts_every_attempt():
    log = pypylog.parse(ABORTED)
    (abort,) = log.aborts
    assert abort.notes == ("found new longest: g;/p/prog.py:10-11~#0 LOAD_FAST 7000",
                           "disabled inlining g;/p/prog.py:10-11~#0 LOAD_FAST")
    assert log.traced == {"f;/p/prog.py:3": 2, "g;/p/prog.py:10": 1}
    assert not log.warnings
    assert {"jit-abort-longest-function", "jit-disableinlining"} <= set(
        pypylog.DEFAULT_CATEGORIES)


def test_abort_site_names_its_line_the_function_that_filled_it_and_pypys_verdict():
    (site,) = whynot.abort_sites(pypylog.parse(ABORTED), ("/p",))
    assert (site.reason, site.count, site.where, site.key) == (
        "ABORT_TOO_LONG", 1, "prog.py:5", "f;/p/prog.py:3")
    assert site.biggest in ("f;/p/prog.py:3", "g;/p/prog.py:10") and site.share == 0.5
    text = whynot._abort_finding(site).text
    assert "Tracing that started in f at prog.py:5 aborted 1 time (ABORT_TOO_LONG)" in text
    assert "trace_limit" in text and "stopped inlining g (prog.py:11)" in text
    assert "PyPy found g (prog.py:11) the longest function in it (7,000 operations)" in text


def test_aborts_that_summary_counts_but_the_log_does_not_locate():
    summary = ("[300] {jit-summary\nabort: trace too long:\t3\nabort: vable escape:\t1\n"
               "[301] jit-summary}\n")
    log = pypylog.parse(ABORTED + summary)
    lost = whynot.unlocated_aborts(log)
    assert lost.text.startswith("jit-summary counts 4 aborted traces (trace too long ×3, "
                                "vable escape ×1), but the log locates only 1")
    why = whynot.analyse(log)
    assert why.findings[-1][0] == lost.text and "Aborts: jit-summary" in str(why)
    assert whynot.unlocated_aborts(pypylog.parse(ABORTED)) is None


def _fake_profile(rows):
    """A profile stand-in: ``rows`` (function, file, line, self %, samples, jit samples)."""
    import pandas as pd

    class Stats:
        adr_dict, profiles = {}, []

    class Fake:
        stats = Stats()

        def table(self, n=None, full=False):
            return pd.DataFrame([{"function": f, "where": f"{Path(p).name}:{ln}", "file": p,
                                  "line": ln, "self samples": n, "total samples": n,
                                  "self %": share, "total %": share}
                                 for f, p, ln, share, n, _ in rows])

    fake = Fake()
    from vmprof.reader import JittedCode

    for i, (f, p, ln, _, n, jit) in enumerate(rows):
        addr = 1000 + 8 * i
        Stats.adr_dict[addr] = f"py:{f}:{ln}:{p}"
        Stats.profiles += [([8, addr], 1, 0, 0)] * int(n - jit)
        Stats.profiles += [([8, JittedCode(addr)], 1, 0, 0)] * int(jit)
    return fake


def test_a_hot_function_in_no_compiled_trace_stayed_interpreted():
    prof = _fake_profile([("f", "/p/prog.py", 3, 60.0, 60, 0),
                          ("h", "/p/prog.py", 20, 0.5, 1, 0)])
    why = whynot.analyse(pypylog.parse(ABORTED), prof, roots=("/p",))
    (f,) = why.functions  # h is under the 1% a function needs
    assert f.key == "f;/p/prog.py:3" and (f.samples, f.in_jit) == (60, 0)
    assert not f.compiled and f.traced == 2 and len(f.aborts) == 1
    kinds = [x.kind for x in f.findings]
    assert kinds == ["interpreted", "abort"]
    first = f.findings[0]
    assert first.where == "prog.py:3" and "stayed in the interpreter" in first.text
    assert "tracing went through it 2 times" in first.text and first.lesson == "09"
    assert why.findings[1][2] == "prog.py:5"
    assert "1 hot function of the profile, 1 of them never compiled" in why.headline()


def test_sample_split_counts_jitted_top_frames():
    prof = _fake_profile([("f", "/p/a.py", 3, 50.0, 10, 4)])
    assert whynot.sample_split(prof.stats) == {("f", "/p/a.py", 3): [10.0, 4.0]}


# ----------------------------------------------------------------------------- real PyPy logs


@pytest.fixture(scope="module", params=FOLDERS, ids=[p.name for p in FOLDERS])
def recorded(request):
    folder = request.param
    meta = json.loads((folder / "fixture.json").read_text())
    with gzip.open(folder / meta["pypylog"]["file"]) as f:
        log = pypylog.parse(f)
    return folder, meta, log


def test_fixture_aborts_are_located(recorded):
    _, _, log = recorded
    sites = whynot.abort_sites(log)
    too_long = [s for s in sites if s.reason == "ABORT_TOO_LONG"]
    # call_huge's loop inlines huge() until the trace is too long
    (call_huge,) = [s for s in too_long if s.start.function == "call_huge"]
    assert call_huge.where == "jit_program.py:26" and call_huge.biggest == "huge;huge.py:1"
    assert call_huge.share > 0.9
    assert sum(s.count for s in sites) == len(log.aborts) == sum(log.summary.aborts.values())
    text = whynot._abort_finding(call_huge).text
    assert "huge (huge.py:1) filled" in text


def test_fixture_bridge_is_located_at_its_guards_line(recorded):
    _, _, log = recorded
    sites = whynot._bridge_sites(log)
    at = {(whynot._where(mp), guard) for b, mp, guard in sites
          if b.parent is not None and b.parent.location.function == "hot"}
    # `if i % 7 == 0:` on line 9 fails one time in seven
    assert any(where == "jit_program.py:9" and guard in ("guard_true", "guard_false")
               for where, guard in at), at


def test_fixture_leftovers_of_the_allocating_loop(recorded):
    _, _, log = recorded
    loop = max((t for t in log.loops if t.location and t.location.function == "allocate"),
               key=lambda t: t.runs)
    key = whynot._key(loop.location)
    calls, allocs = whynot.loop_leftovers(loop, key)
    # head = Node(i, head) (line 43) escapes into the next iteration: PyPy makes the node
    # real at the loop's end, the merge point of `for i in range(1000)` (line 42)
    assert any(kind == "instance of a Python class" and mp.line == 42
               for _, kind, mp, _ in allocs), allocs
    assert any(target.startswith("ll_str") and mp.line == 44
               for _, target, mp, _ in calls), calls  # str(i)


def test_fixture_profile_has_jitted_samples(recorded, tmp_path):
    folder, meta, _ = recorded
    prof = tmp_path / "p.vmprof"
    with gzip.open(folder / meta["profile"]["file"]) as src:
        prof.write_bytes(src.read())
    stats, tree = read_profile(prof)
    split = whynot.sample_split(stats)
    table = function_table(tree)
    hot = table[table["function"] == "hot"].iloc[0]
    samples, jit = split[("hot", hot["file"], int(hot["line"]))]
    assert samples == hot["self samples"] and 0 < jit <= samples


# ----------------------------------------------------------------------------- HTML


def test_html_is_escaped():
    evil = ABORTED.replace("/p/prog.py", "/p/<b>&x.py").replace("f;", "f<i>;")
    prof = _fake_profile([("f<i>", "/p/<b>&x.py", 3, 60.0, 60, 0)])
    why = whynot.analyse(pypylog.parse(evil), prof)
    page = why.to_html()
    assert "<b>&x" not in page and "f<i>" not in page
    assert "&lt;b&gt;&amp;x.py:3" in page and "f&lt;i&gt;" in page
    assert "notebooks/09-pitfalls.ipynb" in page
    assert "f<i> (<b>&x.py:3)" in str(why)


# ----------------------------------------------------------------------------- a real run

HEAD = '''\
import sys

def evaluate(n):
    total = 0
    for i in range(n):
        total += eval("%d * 2" % i)
    return total

def call_huge(n):
    x = 1
    for i in range(n):
        x = huge(x + i)
    return x

def tight(n):
    t = 0
    for i in range(n):
        t += i % 7
    return t
'''


def program() -> str:
    """eval() of fresh code in a loop (lines 3-7), a compiled loop that makes no call
    (tight(), line 15) and huge(): 1500 lines from line 20."""
    body = ["def huge(x):"] + [f"    x = (x * {k % 13 + 2} + {k}) % 1000003"
                               for k in range(1500)] + ["    return x", ""]
    return (HEAD + "\n".join(body) + "\nprint(evaluate(int(sys.argv[1])))\n"
            "print(call_huge(int(sys.argv[2])))\nprint(tight(int(sys.argv[3])))\n")


@pytest.mark.slow
@pytest.mark.pypy
def test_real_run_names_the_interpreted_function_and_the_trace_too_long(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(program())
    assert script.read_text().splitlines()[19] == "def huge(x):"
    why = whynot.why_not_faster(script, ["20000", "3000", "100000000"], min_samples=60,
                                top=6, nursery=False)
    by_name = {f.function: f for f in why.functions}
    assert {"evaluate", "huge"} <= set(by_name), str(why)
    ev = by_name["evaluate"]
    assert not ev.compiled and ev.in_jit == 0, str(why)
    assert ev.findings[0].kind == "interpreted" and ev.findings[0].where == "prog.py:3"
    # every attempt to trace its loop (line 5, FOR_ITER) aborted
    assert ev.aborts and ev.aborts[0].where == "prog.py:5"
    huge = by_name["huge"]
    too_long = [s for s in why.sites if s.reason == "ABORT_TOO_LONG"]
    assert any(s.biggest == huge.key or s.key == huge.key for s in too_long), str(why)
    text = str(why)
    assert "Tracing that started in call_huge at prog.py:11 aborted" in text
    assert "stopped inlining huge (prog.py:21)" in text
    # vmprof cannot see into compiled code that makes no call: tight() runs compiled, yet
    # (nearly) none of its samples is tagged as compiled code
    tight = by_name["tight"]
    assert tight.compiled and tight.hottest.runs > 10_000_000, str(why)
    assert tight.samples >= 5 and tight.in_jit <= 0.25 * tight.samples, str(why)
    assert "evaluate (prog.py:3) stayed in the interpreter" in text
    page = why.to_html()
    assert "prog.py:5" in page and "prog.py:11" in page
    assert not re.search(r"<script", page)


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no script at"):
        whynot.why_not_faster(tmp_path / "missing.py")
    (tmp_path / "s.py").write_text("print(1)\n")
    with pytest.raises(TypeError, match="list of strings"):
        whynot.why_not_faster(tmp_path / "s.py", "--size 10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.py"]


def test_no_log_and_no_profile_says_so():
    why = whynot.analyse(None, None)
    assert why.functions == [] and why.findings == []
    assert why.headline() == "Nothing to read: neither a profile nor a JIT log."
    assert "<p><b>Nothing to read" in why._repr_html_()


def test_cli_has_a_why_command(tmp_path, capsys):
    from helpers import cli

    args = cli.build_parser().parse_args(["why", "x.py", "-o", "w.html"])
    assert args.func.__name__ == "_run_why" and args.output == "w.html"
    assert cli.main(["why", str(tmp_path / "missing.py")]) == 1
    assert "no script at" in capsys.readouterr().err
