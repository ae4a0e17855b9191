"""The parsers on logs and profiles recorded on real PyPys (tests/fixtures/pypy-*/, written by
tools/record_fixtures.py): every PyPy the course meets writes the formats the parsers expect.
These run on CPython alone, so they run in every CI run, PyPy or not."""

import gzip
import json
from pathlib import Path

import pytest

from helpers import pypylog, traces
from helpers.profiling import function_table, read_profile

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOLDERS = sorted(p for p in FIXTURES.glob("pypy-*") if (p / "fixture.json").is_file())


def test_both_pypys_are_recorded():
    names = [p.name for p in FOLDERS]
    assert "pypy-7.3.11-py3.9" in names and "pypy-7.3.19-py3.11" in names, names


@pytest.fixture(scope="module", params=FOLDERS, ids=[p.name for p in FOLDERS])
def recorded(request):
    folder = request.param
    meta = json.loads((folder / "fixture.json").read_text())
    with gzip.open(folder / meta["pypylog"]["file"]) as f:
        log = pypylog.parse(f)
    return folder, meta, log


def test_metadata_names_the_pypy(recorded):
    folder, meta, _ = recorded
    major_minor = ".".join(meta["python_version"].split(".")[:2])
    assert folder.name == f"pypy-{meta['pypy_version']}-py{major_minor}"
    assert meta["implementation"] == "PyPy"


def test_loops(recorded):
    _, _, log = recorded
    assert not log.warnings and not log.truncated
    assert log.summary is not None and log.summary.loops == len(log.loops) >= 3
    assert log.counts is not None
    hot = [t for t in log.loops if t.location and t.location.function == "hot"]
    assert hot, [t.where for t in log.loops]
    loop = max(hot, key=lambda t: t.runs)
    # hot(2_000_000): nearly every iteration runs in the compiled loop
    assert 1_500_000 < loop.runs <= 2_000_000
    assert loop.where.startswith("hot (jit_program.py:")
    names = {op.name for op in loop.ops}
    assert {"label", "jump"} <= names and any(n.startswith("guard_") for n in names)
    assert loop.guards and all(g.is_guard for g in loop.guards)
    # the call to huge() left as a real call, and the allocations of allocate()
    allocate = [t for t in log.loops if t.location and t.location.function == "allocate"]
    assert allocate and max(t.runs for t in allocate) > 1_000_000


def test_bridges(recorded):
    _, _, log = recorded
    assert log.summary.bridges == len(log.bridges) >= 1
    # the guard on i % 7 == 0 fails one time in seven: its bridge runs about n/7 times
    from_hot = [b for b in log.bridges if b.parent is not None and b.parent.location
                and b.parent.location.function == "hot"]
    assert from_hot, [(b.label, b.where) for b in log.bridges]
    best = max(from_hot, key=lambda b: b.runs)
    assert 200_000 < best.runs < 2_000_000 / 7 + 1000, best.runs
    assert best.origin is not None and best.origin.is_guard
    assert best in best.parent.bridges


def test_aborts(recorded):
    _, _, log = recorded
    assert log.aborts, "huge() makes traces that are too long"
    assert log.summary.aborts.get("trace too long", 0) >= 1
    assert any("TOO_LONG" in a.reason for a in log.aborts), {a.reason for a in log.aborts}
    assert sum(log.summary.aborts.values()) == len(log.aborts)


def test_gc_events(recorded):
    _, _, log = recorded
    assert len(log.gc_minor) > 50  # a 1 MB nursery
    assert any(m.memory_used > 0 for m in log.gc_minor)
    assert all(m.duration > 0 for m in log.gc_minor)
    assert log.gc_done, "at least one major collection finished"
    assert log.gc_steps and {"MARKING", "SWEEPING"} <= {s.state_before for s in log.gc_steps}
    assert all(d.bytes_used > 0 and d.next_threshold > 0 for d in log.gc_done)
    assert {"gc-minor", "gc-collect-step", "gc-collect-done", "jit-log-opt-loop"} <= set(
        log.categories)


def test_trace_model(recorded):
    folder, _, log = recorded
    # the program ran from a temp folder that is gone: give the viewer its text
    (ran_from,) = {t.location.filename for t in log.loops
                   if t.location and t.location.filename.endswith("jit_program.py")}
    v = traces.view(log, sources={ran_from: (folder / "jit_program.py").read_text()})
    assert v.shown
    first = v.shown[0]
    assert first.runs == max(t.runs for t in log.traces)
    hot = next(i for i in v.shown if i.trace.location.function == "hot")
    (frame,) = [f for f in hot.frames if f.function == "hot"]
    lines = {ln.line: ln for ln in frame.lines if ln is not None}
    assert lines[9].text.strip() == "if i % 7 == 0:" and lines[9].traced
    assert hot.counts.n_guards >= 1
    page = v.to_html()
    assert "hot" in page and "jit_program.py" in page


def test_profile_top_function(recorded, tmp_path):
    folder, meta, _ = recorded
    profile = tmp_path / "profile.vmprof"
    with gzip.open(folder / meta["profile"]["file"]) as src:
        profile.write_bytes(src.read())
    stats, tree = read_profile(profile)
    assert tree.count >= 100
    table = function_table(tree)
    top = table.iloc[0]
    assert top["function"] == "hot" and top["where"] == "profile_program.py:5", table.head()
    assert top["self %"] > 50
    assert table[table["function"] == "main"].iloc[0]["total %"] > 95
