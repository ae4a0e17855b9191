"""helpers.where_time_goes: one PyPy run split into tracing, backend, GC and the rest."""

import math
import sys

import pytest
from matplotlib.figure import Figure

import helpers
from helpers.pypylog import parse
from helpers.runner import ChildError
from helpers.wheretime import BUCKETS, WhereTime, time_split, where_time_goes

from conftest import LOGGED_ARGS


@pytest.fixture(scope="module")
def result(pypy_log):
    """The session's one logged run (conftest), split: no PyPy run of its own."""
    return WhereTime.from_capture(pypy_log, pypy_log.program)


def test_cpython_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="needs PyPy: PYPYLOG.*CPython has no JIT"):
        where_time_goes("pass", interpreter="cpython")
    with pytest.raises(ValueError, match="needs PyPy.*has no JIT"):
        where_time_goes("pass", interpreter=sys.executable)


def test_needs_a_snippet_or_a_script():
    with pytest.raises(TypeError):
        where_time_goes()
    with pytest.raises(TypeError):
        where_time_goes("pass", script="x.py")


def test_exported_lazily():
    assert helpers.where_time_goes is where_time_goes
    assert helpers.WhereTime is WhereTime
    assert helpers.parse_pypylog is parse


@pytest.mark.pypy
def test_split_adds_up_to_the_wall_time(result):
    assert list(result.seconds) == list(BUCKETS)
    assert all(v >= 0 for v in result.seconds.values())
    assert math.isclose(sum(result.seconds.values()), result.wall, rel_tol=1e-9)
    assert result.seconds["GC minor"] > 0  # a 1 MB nursery and 300,000 points
    assert result.seconds["tracing"] > 0 and result.seconds["backend"] > 0
    assert result.seconds["the rest"] > 0
    assert list(result.df.columns) == ["part", "seconds", "fraction", "what"]
    assert result.df["fraction"].sum() == pytest.approx(1.0)
    n = LOGGED_ARGS[0]
    hot, fib20, alloc = (int(x) for x in result.stdout.split()[:3])
    assert (hot, fib20, alloc) == (sum(i if i % 3 == 0 else -1 for i in range(n)), 6765,
                                   n % 50001)
    assert not result.warnings, result.warnings


@pytest.mark.pypy
def test_hottest_loops_with_their_source(result):
    hot = result.hot
    assert len(hot) >= 3
    assert list(hot["runs"]) == sorted(hot["runs"], reverse=True)
    functions = set(hot["function"].dropna())
    assert {"alloc", "hot"} <= functions
    top = hot.iloc[0]
    assert top["runs"] >= 270_000 and top["file"].endswith("prog.py")


@pytest.mark.pypy
def test_text_html_and_figure(result):
    text = str(result)
    assert text.startswith("PyPy ran for ")
    for part in BUCKETS:
        assert part in text
    assert "Hottest loops" in text and "alloc (prog.py:" in text
    html = result._repr_html_()
    assert "<table" in html and "data:image/png;base64," in html
    fig = result.figure
    assert isinstance(fig, Figure) and fig is result.figure  # built once
    assert len(fig.axes) == 2
    assert result.png()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.pypy
def test_a_script_with_arguments(tmp_path):
    script = tmp_path / "count.py"
    script.write_text("import sys\nn = int(sys.argv[1])\ns = 0\nfor i in range(n):\n"
                      "    s += i\nprint(sys.argv[2], s)\n")
    r = where_time_goes(script=script, args=[100_000, "tag"])
    assert r.stdout.split() == ["tag", str(sum(range(100_000)))]
    assert r.target == str(script)
    assert r.hot.iloc[0]["file"].endswith("count.py")


@pytest.mark.pypy
def test_a_failing_snippet_raises_its_traceback():
    with pytest.raises(ChildError, match="ZeroDivisionError"):
        where_time_goes("1 / 0")


@pytest.mark.pypy
def test_without_the_jit_there_is_only_gc_and_the_rest():
    r = where_time_goes("x = [str(i) for i in range(200000)]", jit="off",
                        env={"PYPY_GC_NURSERY": "1M"})
    assert r.seconds["tracing"] == 0 and r.seconds["backend"] == 0
    assert r.seconds["GC minor"] > 0
    assert not len(r.hot)
    assert "no run counts" in str(r)
    r.png()  # the figure without the hot-loop panel


def test_time_split_uses_backend_sections_when_logged():
    # ticks in hex, as PyPy writes them: 0, 10, 20, 30, 40, 100, 150, 200, 210
    text = ("[0] {jit-tracing\n[a] {jit-backend\n[14] {gc-minor\n[1e] gc-minor}\n"
            "[28] jit-backend}\n[64] jit-tracing}\n[64] {gc-collect-step\n"
            "[96] gc-collect-step}\n[c8] {jit-backend-counts\n[d2] jit-backend-counts}\n")
    log = parse(text, wall_seconds=2.1, clock="span")  # 210 ticks -> 2.1 s: 0.01 s a tick
    seconds, notes = time_split(log)
    assert seconds["tracing"] == pytest.approx(0.70)  # 100 ticks minus the backend's 30
    assert seconds["backend"] == pytest.approx(0.20)  # 30 ticks minus the GC's 10
    assert seconds["GC minor"] == pytest.approx(0.10)
    assert seconds["GC major"] == pytest.approx(0.50)
    assert seconds["the rest"] == pytest.approx(0.60)
    assert any("jit-backend sections" in n for n in notes)
    with pytest.raises(ValueError, match="wall_seconds"):
        time_split(parse(text))


@pytest.mark.pypy
def test_pypylog_magic(ip):
    assert "pypylog" in ip.magics_manager.magics["cell"]
    r = ip.run_cell_magic("pypylog", "-o --nursery 1M --top 3",
                          "x = [str(i) for i in range(200000)]")
    assert isinstance(r, WhereTime) and len(r.hot) <= 3 and r.seconds["GC minor"] > 0
    cap = ip.run_cell_magic("pypylog", "gc-minor,jit-summary -o --nursery 1M",
                            "x = [str(i) for i in range(200000)]")
    assert cap.categories == "gc-minor,jit-summary" and cap.log.gc_minor
    assert cap.log.summary is not None and not cap.log.loops
