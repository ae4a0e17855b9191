"""helpers.pypylog: capture and streaming parse of PYPYLOG.

Real logs are made by PyPy during the test run (module fixtures, small programs); the
hand-written logs below only exercise the format's corner cases.
"""

import io
import os
import pty
import random
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers.pypylog as P
from helpers.pypylog import (
    Bridge, Guard, Loop, PypylogError, capture, iter_gc_events, iter_sections, iter_traces,
    parse, parse_backend_counts, parse_location, parse_op, parse_summary, parse_trace,
)
from helpers.runner import ChildError

from conftest import LOGGED_ARGS, LOGGED_NURSERY as NURSERY

ROOT = Path(__file__).resolve().parents[1]

N = LOGGED_ARGS[0]
GC_STATES = {"SCANNING", "MARKING", "SWEEPING", "FINALIZING"}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def program(pypy_log):
    return Path(pypy_log.program)


@pytest.fixture(scope="module")
def full_log(program, tmp_path_factory):
    """PYPYLOG=jit,gc: everything of the JIT (machine-code dumps included) and of the GC."""
    path = tmp_path_factory.mktemp("logs") / "full.log"
    cap = capture(script=program, args=[N], categories="jit,gc", env=NURSERY, keep=path)
    return cap


@pytest.fixture(scope="module")
def default_log(pypy_log):
    """The categories where_time_goes() uses: the session's one log (conftest)."""
    return pypy_log


@pytest.fixture(scope="module")
def default_log_path(default_log):
    """Just the path (what hypothesis prints about a failing example stays short)."""
    return default_log.path


def signature(log):
    """What two parses of the same log must agree on."""
    return (
        log.markers, log.first_tick, log.last_tick,
        [(t.label, t.kind, t.n_ops, t.text, t.labels, t.jump_to, t.guard_ids, t.count,
          sorted(t.label_counts.items()), t.complete) for t in log.traces],
        [(c.name, c.count, c.inclusive, c.exclusive) for c in log.categories.values()],
        log.gc_minor, log.gc_steps, log.gc_done, log.aborts, log.summary, log.counts,
        log.tmp_callbacks, log.unclosed, log.warnings,
    )


def touch_everything(log):
    """Use every lazy part of a result: none of it may raise."""
    str(log)
    repr(log)
    log.format_tree()
    log.hottest(3)
    for trace in log.traces:
        for op in trace.ops:
            if op.merge_point is not None:
                op.merge_point.where
        trace.guards
        trace.merge_points
        trace.where
        trace.runs
        if isinstance(trace, Bridge):
            trace.origin


# ----------------------------------------------------------------------------- the format


SMALL = """\
[10] {gc-set-nursery-size
nursery size: 1048576
[20] gc-set-nursery-size}
[100] {jit-tracing
[110] {gc-minor
[111] {gc-minor-walkroots
[113] gc-minor-walkroots}
minor collect, total memory used: 430792
number of pinned objects: 0
total size of surviving objects: 428152
[130] gc-minor}
~~~ ABORTING TRACING ABORT_TOO_LONG
[200] jit-tracing}
[300] {jit-tracing
[310] {jit-tracing
[320] jit-tracing}
[400] jit-tracing}
"""


def test_iter_sections_gives_nesting_bodies_and_ticks():
    sections = list(iter_sections(SMALL))
    names = [s.name for s in sections]
    assert names == ["gc-set-nursery-size", "gc-minor-walkroots", "gc-minor", "jit-tracing",
                     "jit-tracing", "jit-tracing"]
    walk = sections[1]
    assert (walk.start, walk.stop, walk.depth, walk.path) == (0x111, 0x113, 2,
                                                              ("jit-tracing", "gc-minor"))
    minor = sections[2]
    assert minor.body.splitlines() == ["minor collect, total memory used: 430792",
                                       "number of pinned objects: 0",
                                       "total size of surviving objects: 428152"]
    assert sections[3].body == "~~~ ABORTING TRACING ABORT_TOO_LONG"
    assert all(s.complete for s in sections)
    assert [s.body for s in iter_sections(SMALL, bodies=False)] == [None] * 6


def test_section_tree_and_category_times():
    log = parse(SMALL)
    tracing = log.tree.children["jit-tracing"]
    assert tracing.count == 2
    assert tracing.inclusive == (0x200 - 0x100) + (0x400 - 0x300)
    # exclusive: minus the nested gc-minor in the first, the nested jit-tracing in the second
    assert tracing.exclusive == (0x100 - 0x20) + (0x100 - 0x10)
    assert tracing.children["gc-minor"].path == ("jit-tracing", "gc-minor")
    cats = log.categories
    # a name nested in itself is counted once in inclusive time
    assert cats["jit-tracing"].inclusive == 0x200
    assert cats["jit-tracing"].count == 3
    assert cats["gc-minor"].inclusive == 0x20 and cats["gc-minor"].exclusive == 0x20 - 2
    assert list(cats)[0] == "jit-tracing"  # most time first
    assert log.gc_minor[0].memory_used == 430792 and log.gc_minor[0].surviving == 428152
    assert [a.reason for a in log.aborts] == ["ABORT_TOO_LONG"]
    assert (log.first_tick, log.last_tick, log.span_ticks) == (0x10, 0x400, 0x3F0)
    assert log.seconds_per_tick is None and log.seconds(100) is None
    assert "could not be converted" in log.clock
    assert not log.warnings


def test_wall_seconds_scale_the_span():
    log = parse(SMALL, wall_seconds=2.0)
    assert log.seconds(log.span_ticks) == pytest.approx(2.0)
    assert "span" in log.clock and "wall time" in log.clock
    with pytest.raises(ValueError, match="clock"):
        parse(SMALL, clock="sundial")


def test_parse_location_formats():
    mp = parse_location("f;/tmp/plx/t.py:1-4~#20 BINARY_MODULO", 0, 3)
    assert (mp.function, mp.filename, mp.first_line, mp.line, mp.offset, mp.opname) == (
        "f", "/tmp/plx/t.py", 1, 4, 20, "BINARY_MODULO")
    assert (mp.depth, mp.call_id) == (0, 3)
    assert mp.where == "f (t.py:4)"
    odd = parse_location("<lambda>;/a:b;c/x y.py:10-12~#4 LOAD_FAST")
    assert (odd.function, odd.filename, odd.line) == ("<lambda>", "/a:b;c/x y.py", 12)
    old = parse_location("<code object f. file 'x.py'. line 3> #12 FOR_ITER")
    assert (old.function, old.filename, old.first_line, old.line, old.offset) == (
        "f", "x.py", 3, None, 12)
    regex = parse_location("re StrSpecMatchIn at 11 [15, 4, 0, 3]")
    assert regex.function is None and regex.where == regex.text


def test_parse_op_kinds():
    g = parse_op("+462: guard_value(p2, ConstPtr(ptr27), descr=<Guard0x7f1b0bfc0f20>) "
                 "[p0, p2, None, i22]", 7)
    assert isinstance(g, Guard) and g.is_guard
    assert (g.index, g.offset, g.name, g.args) == (7, 462, "guard_value", ("p2", "ConstPtr(ptr27)"))
    assert g.guard_id == 0x7F1B0BFC0F20 and g.fail_args == ("p0", "p2", "None", "i22")
    call = parse_op("+430: i22 = call_i(ConstClass(foo), p15, 3, descr=<Calli 8 ri EF=4 a, b>)")
    assert (call.result, call.name, call.args, call.descr) == (
        "i22", "call_i", ("ConstClass(foo)", "p15", "3"), "<Calli 8 ri EF=4 a, b>")
    assert not call.is_guard
    dmp = parse_op("debug_merge_point(1, 2, 'g;/x.py:5-7~#3 LOAD_ATTR')")
    assert dmp.offset is None and dmp.merge_point.function == "g"
    assert (dmp.merge_point.depth, dmp.merge_point.call_id, dmp.merge_point.line) == (1, 2, 7)
    label = parse_op("+335: label(p0, i5, descr=TargetToken(139754142004736))")
    assert label.descr == "TargetToken(139754142004736)" and label.args == ("p0", "i5")
    noargs = parse_op("+556: guard_not_invalidated(descr=<Guard0x7f1b0bfaade8>) [p0]")
    assert noargs.args == () and noargs.guard_id == 0x7F1B0BFAADE8
    odd = parse_op("this is not an op")
    assert odd.name == "?" and odd.text == "this is not an op"


LOOP_BODY = """\
# Loop 1 (f;/tmp/t.py:1-3~#12 FOR_ITER) : loop with 7 ops
[p0, p1]
+280: p2 = getfield_gc_r(p0, descr=<FieldP pypy.interpreter.pyframe.PyFrame.inst_pycode 64>)
+335: label(p0, p1, p2, descr=TargetToken(1000))
debug_merge_point(0, 0, 'f;/tmp/t.py:1-3~#12 FOR_ITER')
+397: guard_value(p2, 4, descr=<Guard0x10>) [p0, p2]
+582: label(p0, p1, descr=TargetToken(1001))
+608: guard_true(p1, descr=<Guard0x20>) [p0, p1]
+620: jump(p0, p1, descr=TargetToken(1001))
+640: --end of the loop--"""

BRIDGE_BODY = """\
# bridge out of Guard 0x20 with 3 ops
[p3, p4]
debug_merge_point(0, 0, 'f;/tmp/t.py:1-4~#16 LOAD_FAST')
+79: guard_true(p3, descr=<Guard0x30>) [p3, p4]
+147: jump(p3, p4, descr=TargetToken(1001))
+176: --end of the loop--"""


def test_parse_trace_loop_and_bridge():
    loop = parse_trace(LOOP_BODY, start=5, stop=9)
    assert isinstance(loop, Loop)
    assert (loop.number, loop.kind, loop.n_ops, loop.inputargs) == (1, "loop", 7, ("p0", "p1"))
    assert loop.location.function == "f" and loop.location.line == 3
    assert loop.labels == (1000, 1001) and loop.jump_to == 1001
    assert loop.guard_ids == (0x10, 0x20) and loop.end_offset == 640
    assert len(loop.ops) == loop.n_ops
    assert [g.guard_id for g in loop.guards] == [0x10, 0x20]
    assert loop.merge_points[0].opname == "FOR_ITER"
    bridge = parse_trace(BRIDGE_BODY)
    assert isinstance(bridge, Bridge) and bridge.guard == 0x20 and bridge.n_ops == 3
    assert bridge.jump_to == 1001 and bridge.where == "f (t.py:4)"
    assert parse_trace("# not a header\n+1: jump()") is None
    again = parse_trace(LOOP_BODY)
    assert list(again.iter_ops()) == loop.ops and again._ops is None  # not kept
    lean = parse_trace(LOOP_BODY, keep_ops=False)
    assert lean.text is None and lean.guard_ids == loop.guard_ids
    with pytest.raises(ValueError, match="keep_ops=False"):
        lean.ops


def test_bridges_linked_and_counted_in_a_whole_log():
    text = (f"[1] {{jit-log-opt-loop\n{LOOP_BODY}\n[2] jit-log-opt-loop}}\n"
            f"[3] {{jit-log-opt-bridge\n{BRIDGE_BODY}\n[4] jit-log-opt-bridge}}\n"
            "[5] {jit-backend-counts\nentry 1:201\nTargetToken(1000):201\n"
            "TargetToken(1001):98757\nbridge 32:500\n[6] jit-backend-counts}\n")
    log = parse(text)
    (loop,), (bridge,) = log.loops, log.bridges
    assert bridge.parent is loop and loop.bridges == [bridge]
    assert bridge.origin.guard_id == 0x20 and bridge.origin.name == "guard_true"
    assert loop.count == 201 and loop.label_counts == {1000: 201, 1001: 98757}
    assert loop.runs == 98757
    assert bridge.count == 500 and bridge.runs == 500  # "bridge 32" is Guard 0x20 in decimal
    assert log.hottest(1) == [loop]
    assert log.loop(1) is loop
    with pytest.raises(KeyError):
        log.loop(99)
    assert log.tmp_callbacks is None and log.compiled_loops == 1


def test_parse_summary_and_counts():
    body = ("Tracing:      \t3\t0.006889\nBackend:      \t3\t0.001972\nTOTAL:      \t\t0.020488\n"
            "ops:             \t813\n  calls:         \t34\nguards:          \t51\n"
            "abort: trace too long:\t2\nabort: bad loop: \t0\nTotal # of loops:\t2\n"
            "Total # of bridges:\t1\nFreed # of loops:\t0\nnot a number line: x")
    s = parse_summary(body)
    assert (s.tracing_count, s.tracing_seconds, s.backend_seconds, s.total_seconds) == (
        3, 0.006889, 0.001972, 0.020488)
    assert (s.ops, s.calls, s.guards, s.loops, s.bridges, s.freed_loops) == (813, 34, 51, 2, 1, 0)
    assert s.aborts == {"trace too long": 2, "bad loop": 0}
    assert s.raw["Tracing"] == (3, 0.006889)
    c = parse_backend_counts("entry 1:201\nTargetToken(139754142004736):98757\n"
                             "bridge 139754141913152:32786\nloop 4:7\nentry -1:26\n"
                             "entry -1:25\ngarbage")
    assert c.entries == {1: 201, 4: 7} and c.callbacks == (26, 25)
    assert c.targets == {139754142004736: 98757}
    assert c.bridges == {0x7F1B0BFC1040: 32786}


# ----------------------------------------------------------------------------- bad input


def test_empty_log_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    for source in (path, [], "\n\n   \n", b""):
        log = parse(source)
        assert log.empty and not log.loops
        assert "empty" in log.headline() and "empty" in str(log)
        assert log.warnings and "empty" in log.warnings[0]


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(random.Random(4).randbytes(200_000))
    with pytest.raises(PypylogError, match="binary"):
        parse(path)
    with pytest.raises(PypylogError, match="not a PYPYLOG"):
        parse(sys.executable)


def test_text_that_is_not_a_log_is_a_clear_error():
    with pytest.raises(PypylogError, match=r"not a PYPYLOG.*starts with 'def f\(\)"):
        parse("def f():\n    return 1\n" * 10)
    with pytest.raises(FileNotFoundError):
        parse("/no/such/file.log")


def test_truncated_log_reports_what_was_read_and_the_open_sections():
    text = (f"[1] {{jit-log-opt-loop\n{LOOP_BODY}\n[2] jit-log-opt-loop}}\n"
            "[3] {jit-tracing\n[4] {jit-log-opt-bridge\n" + BRIDGE_BODY[:60])
    log = parse(text)
    assert log.truncated and log.unclosed == ("jit-tracing", "jit-log-opt-bridge")
    assert "jit-tracing > jit-log-opt-bridge" in log.warnings[0]
    assert len(log.loops) == 1 and log.loops[0].complete
    (bridge,) = log.bridges
    assert not bridge.complete and bridge.guard == 0x20
    touch_everything(log)


def test_corrupt_markers_become_warnings():
    text = ("[10] {a\n[11] {b\n[12] a}\n"  # b never closed: closed with a
            "[20] c}\n"  # never opened
            "[30] {d\n[25] d}\n"  # ends before it starts
            "stray text at top level\n[40] {e\n[41] e}\n")
    log = parse(text)
    joined = " | ".join(log.warnings)
    assert "'b' inside 'a'" in joined
    assert "'c}' without a matching start" in joined
    assert "backwards" in joined
    assert "outside any section" in joined
    assert log.tree.children["a"].children["b"].count == 1
    assert log.tree.children["d"].inclusive == 0


COLOURED = (
    "\x1b[1m\x1b[31m[6ec1a4a9431] {gc-minor\r\n"
    "\x1b[0m\x1b[1m\x1b[31m[6ec1a4c3431] {gc-minor-walkroots\r\n"
    "\x1b[0m\x1b[31m[6ec1a4c518b] gc-minor-walkroots}\r\n"
    "\x1b[0mminor collect, total memory used: 0\r\n"
    "number of pinned objects: 0\r\n"
    "total size of surviving objects: 0\r\n"
    "\x1b[31m[6ec1a4d39eb] gc-minor}\r\n"
    "\x1b[0m"
)


def test_colour_codes_and_crlf_as_pypy_writes_them_to_a_terminal():
    # debug_print.c (PyPy 7.3): "\033[1m\033[31m" before an opening marker, "\033[31m" before a
    # closing one, "\033[0m" after the newline of each; a pty turns "\n" into "\r\n".
    log = parse(COLOURED)
    assert not log.warnings
    (minor,) = log.gc_minor
    assert minor.memory_used == 0 and minor.duration == 0x6EC1A4D39EB - 0x6EC1A4A9431
    assert log.tree.children["gc-minor"].children["gc-minor-walkroots"].count == 1


def test_thread_numbered_markers_of_newer_pypys():
    plain = parse(SMALL)
    numbered = parse(re.sub(r"(?m)^\[", "0# [", SMALL))
    assert signature(numbered) == signature(plain)


def test_sources_agree(tmp_path):
    text = f"[1] {{jit-log-opt-loop\n{LOOP_BODY}\n[2] jit-log-opt-loop}}\n" + SMALL
    path = tmp_path / "x.log"
    path.write_text(text)
    expected = signature(parse(text))
    assert signature(parse(path)) == expected
    assert signature(parse(str(path))) == expected
    assert signature(parse(text.splitlines())) == expected
    assert signature(parse([line.encode() for line in text.splitlines(True)])) == expected
    with open(path, "rb") as f:
        assert signature(parse(f)) == expected
    with open(path) as f:
        assert signature(parse(f)) == expected
    assert [t.label for t in iter_traces(path)] == ["Loop 1"]
    assert list(iter_gc_events(path)) == parse(path).gc_minor


# ----------------------------------------------------------------------------- properties

MARK_NAMES = st.sampled_from(["jit-log-opt-loop", "jit-log-opt-bridge", "jit-summary",
                              "jit-backend-counts", "gc-minor", "gc-collect-step",
                              "gc-collect-done", "jit-tracing", "jit-mem-looptoken-alloc", "x"])
LINES = st.one_of(
    st.builds(lambda t, n: f"[{t:x}] {{{n}", st.integers(0, 2**64), MARK_NAMES),
    st.builds(lambda t, n: f"[{t:x}] {n}}}", st.integers(0, 2**64), MARK_NAMES),
    st.sampled_from(LOOP_BODY.splitlines() + BRIDGE_BODY.splitlines() + SMALL.splitlines()
                    + COLOURED.splitlines()
                    + ["entry 1:5", "bridge 32:9", "TargetToken(1001):3", "Total # of loops:\t9",
                       "arenas:   15  =>  19", "next major collection threshold:  1e999",
                       "starting gc state:  MARKING", "allocating Loop # -1",
                       "# Loop x (y) : loop with 99999999999999999999999999999 ops",
                       "entry 1:" + "9" * 5000]),
    st.text(max_size=80),
)


def _fine(source):
    try:
        log = parse(source)
    except PypylogError as exc:
        assert str(exc)
        return None
    touch_everything(log)
    return log


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=60))
def test_no_line_soup_crashes_the_parser(lines):
    _fine(lines)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_no_bytes_crash_the_parser(data):
    _fine(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=40), st.integers(1, 40))
def test_chunk_boundaries_do_not_matter(lines, chunk):
    # Files are read in chunks that end anywhere, even inside a line or a UTF-8 character.
    text = "[1] {x\n" + "\n".join(lines) + "\n"
    whole = _fine(text)
    old = P.scan._CHUNK, P.scan._SNIFF
    P.scan._CHUNK, P.scan._SNIFF = chunk, 64
    try:
        as_text = _fine(io.StringIO(text))
        as_bytes = _fine(io.BytesIO(text.encode("utf-8", errors="replace")))
    finally:
        P.scan._CHUNK, P.scan._SNIFF = old
    if whole is None:
        assert as_text is None and as_bytes is None
    else:
        assert signature(as_text) == signature(whole)
        assert signature(as_bytes) == signature(parse(text.encode("utf-8", errors="replace")))


# ----------------------------------------------------------------------------- real logs


def counts_match(log):
    s = log.summary
    assert s is not None, "no jit-summary in the log"
    assert log.compiled_loops == s.loops, (len(log.loops), log.tmp_callbacks, s.loops)
    assert log.compiled_bridges == s.bridges


@pytest.mark.pypy
def test_loop_and_bridge_counts_equal_jit_summary(full_log, default_log):
    # PyPy counts a loop whenever the backend compiles one (CompiledLoopToken): every
    # jit-log-opt-loop (loops and entry bridges) plus the temporary callbacks it compiles for
    # calls into code not compiled yet, which are not logged but do show up as
    # "allocating Loop # -1"; and a bridge for every jit-log-opt-bridge (retraces included).
    for cap in (full_log, default_log):
        log = cap.log
        assert not log.warnings, log.warnings
        counts_match(log)
        kinds = {loop.kind for loop in log.loops}
        assert {"loop", "entry bridge"} <= kinds
        assert log.tmp_callbacks >= 1  # the regex engine makes some
        assert log.bridges


@pytest.mark.pypy
def test_counts_without_looptoken_allocations(program):
    cap = capture(script=program, args=[20_000], categories="jit-log-opt,jit-summary")
    log = cap.log
    assert log.tmp_callbacks is None  # cannot be known without jit-mem-looptoken-alloc
    assert len(log.loops) <= log.summary.loops
    assert log.compiled_bridges == log.summary.bridges


@pytest.mark.pypy
def test_real_traces_are_linked_located_and_counted(default_log):
    log = default_log.log
    by_function = {loop.location.function: loop for loop in log.loops
                   if loop.location and loop.location.function}
    hot = by_function["hot"]
    assert hot.kind == "loop" and hot.location.filename.endswith("prog.py")
    assert hot.location.first_line == 3 and hot.location.opname == "FOR_ITER"
    assert hot.runs >= N * 0.9  # iterations of its inner label
    assert hot.jump_to in hot.labels
    assert by_function["fib"].kind == "entry bridge"
    counts = log.counts
    assert set(counts.entries) <= {loop.number for loop in log.loops}
    assert len(counts.callbacks) == log.tmp_callbacks  # "entry -1:…", one per callback
    assert set(counts.bridges) == {bridge.guard for bridge in log.bridges}
    for bridge in log.bridges:
        assert bridge.parent is not None and bridge.guard in bridge.parent.guard_ids
        assert bridge in bridge.parent.bridges
        assert bridge.origin.guard_id == bridge.guard
    hot_bridge = max(hot.bridges, key=lambda b: b.runs)
    assert hot_bridge.runs >= N / 3 * 0.9 and hot_bridge.location.function == "hot"
    for trace in log.traces:
        fresh = list(trace.iter_ops())
        ops = trace.ops
        assert fresh == ops
        assert len(ops) == trace.n_ops
        assert not [op.text for op in ops if op.name == "?"]
        assert [g.guard_id for g in trace.guards] == list(trace.guard_ids)
    assert log.hottest(2)[0].runs >= log.hottest(2)[1].runs
    frame = log.traces_frame()
    assert len(frame) == len(log.traces) and frame["runs"].max() == log.hottest(1)[0].runs


@pytest.mark.pypy
def test_real_gc_events(default_log):
    log = default_log.log
    assert len(log.gc_minor) > 20
    assert all(m.memory_used >= 0 and m.surviving >= 0 and m.duration >= 0
               for m in log.gc_minor)
    assert any(m.surviving > 0 for m in log.gc_minor)
    steps = log.gc_steps
    assert steps and {s.state_before for s in steps} | {s.state_after for s in steps} <= GC_STATES
    assert all(a.state_after == b.state_before for a, b in zip(steps, steps[1:]))
    assert log.gc_done
    for done in log.gc_done:
        assert done.arenas_after > 0 and done.bytes_used > 0 and done.next_threshold > 0
    events = list(iter_gc_events(default_log.path))
    assert [e for e in events if isinstance(e, P.GcMinor)] == log.gc_minor


@pytest.mark.pypy
def test_real_log_seconds_and_tree(full_log):
    log = full_log.log
    wall = full_log.run.wall
    assert log.seconds_per_tick is not None
    assert 0 < log.seconds(log.span_ticks) <= wall * 1.05
    assert "jit-backend-dump" in log.categories  # counted, its bodies not kept
    tracing = log.tree.children["jit-tracing"]
    assert "jit-backend" in tracing.children
    assert "jit-tracing" in log.format_tree()
    frame = log.category_frame()
    assert set(frame["category"]) == set(log.categories)
    assert "<table" in log._repr_html_()


@pytest.mark.pypy
def test_iterators_agree_with_parse(full_log):
    log = full_log.log
    assert [(t.label, t.text) for t in iter_traces(full_log.path)] == [
        (t.label, t.text) for t in log.traces]
    names = [s.name for s in iter_sections(full_log.path, bodies=False)]
    assert len(names) == sum(c.count for c in log.categories.values())


@pytest.mark.pypy
def test_real_log_through_small_chunks_is_the_same(default_log, monkeypatch):
    expected = signature(parse(default_log.path))
    monkeypatch.setattr(P.scan, "_CHUNK", 4099)
    monkeypatch.setattr(P.scan, "_SNIFF", 4099)
    assert signature(parse(default_log.path)) == expected


@pytest.mark.pypy
def test_real_log_truncated_mid_loop(default_log):
    text = default_log.path.read_text()
    starts = [m.start() for m in re.finditer(r"\{jit-log-opt-loop\n", text)]
    assert len(starts) >= 3
    cut = text.index("\n+", starts[2]) + 40  # inside the third loop's operations
    log = parse(text[:cut])
    assert log.truncated and "jit-log-opt-loop" in log.warnings[0]
    assert log.summary is None
    complete = [loop for loop in log.loops if loop.complete]
    assert len(complete) == 2 and not log.loops[-1].complete
    touch_everything(log)


@pytest.mark.pypy
def test_real_log_with_colour_added_the_way_pypy_does(default_log):
    text = default_log.path.read_text()
    coloured, reset = [], ""
    for line in text.splitlines(True):
        if re.match(r"\[[0-9a-f]+\] \{", line):
            coloured.append(reset + "\x1b[1m\x1b[31m" + line.replace("\n", "\r\n"))
            reset = "\x1b[0m"
        elif re.match(r"\[[0-9a-f]+\] \S+\}", line):
            coloured.append(reset + "\x1b[31m" + line.replace("\n", "\r\n"))
            reset = "\x1b[0m"
        else:
            coloured.append(reset + line.replace("\n", "\r\n"))
            reset = ""
    coloured.append(reset)
    assert signature(parse("".join(coloured))) == signature(parse(text))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
@pytest.mark.pypy
def test_mangled_real_logs_do_not_crash_the_parser(default_log_path, data):
    lines = default_log_path.read_text().splitlines(True)
    lines = lines[: data.draw(st.integers(0, len(lines)), label="cut")]
    for _ in range(data.draw(st.integers(0, 20), label="edits")):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "swap"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "truncate":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        else:
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    _fine(lines)  # as lines: a str without a newline would be taken for a path


def _run_on_pty(argv, env, timeout=120.0) -> bytes:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            out += data
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=30)
        os.close(master)
    return bytes(out)


@pytest.mark.pypy
def test_log_written_to_a_terminal_in_colour(program):
    from helpers.interpreters import find_pypy
    from helpers.runner import child_env

    env = child_env({"PYPYLOG": "jit-log-opt,jit-summary,jit-mem-looptoken-alloc,gc-minor:-",
                     **NURSERY})
    data = _run_on_pty([find_pypy().path, str(program), "100000"], env)
    assert b"\x1b[1m\x1b[31m[" in data and b"\r\n" in data  # PyPy did colour it
    log = parse(data)
    assert not log.warnings, log.warnings
    counts_match(log)
    assert log.gc_minor


# ----------------------------------------------------------------------------- capture


def test_capture_refuses_cpython_and_bad_categories():
    with pytest.raises(ValueError, match="capture.. needs PyPy: PYPYLOG is PyPy's own"):
        capture("pass", interpreter="cpython")
    with pytest.raises(ValueError, match="category"):
        capture("pass", categories="jit:/etc/passwd")
    with pytest.raises(ValueError, match="no categories"):
        capture("pass", categories=" , ")


@pytest.mark.pypy
def test_capture_removes_its_temp_file_unless_kept(monkeypatch, tmp_path):
    from helpers import runner

    made = []
    original = runner.private_tmpdir

    def recording():
        cm = original()

        class Wrapper:
            def __enter__(self):
                path = cm.__enter__()
                made.append(path)
                return path

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrapper()

    monkeypatch.setattr(runner, "private_tmpdir", recording)
    cap = capture("for i in range(3000):\n    pass", categories="jit-summary")
    assert cap.path is None and cap.size > 0 and cap.log.summary is not None
    assert made and not any(p.exists() for p in made)
    kept = tmp_path / "sub" / "kept.log"
    cap = capture("for i in range(3000):\n    pass", categories=["jit-summary", "gc-minor"],
                  keep=kept)
    assert cap.path == kept and kept.stat().st_size == cap.size
    assert parse(kept).summary == cap.log.summary
    assert cap.categories == "jit-summary,gc-minor"
    assert "jit-summary" in str(cap)


@pytest.mark.pypy
def test_capture_of_a_failing_program():
    code = "for i in range(3000):\n    pass\nraise SystemExit('boom')"
    with pytest.raises(ChildError, match="boom"):
        capture(code, categories="jit-summary")
    cap = capture(code, categories="jit-summary", check=False)
    assert cap.run.returncode == 1 and cap.log.summary is not None


@pytest.mark.pypy
def test_capture_of_nothing_logged_says_empty():
    cap = capture("pass", categories="no-such-category")
    assert cap.log.empty and "no-such-category" in cap.log.headline()


# ----------------------------------------------------------------------------- benchmark


@pytest.mark.pypy
def test_benchmark_quick_smoke():
    from helpers.runner import run

    result = run(script=ROOT / "benchmarks" / "pypylog_parse.py", args=["--quick"],
                 interpreter=sys.executable, timeout=600, check=False)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "PYPYLOG parse benchmark"
    for key in ("log:", "bare scan:", "parse:", "parse / scan:", "peak RSS:", "parsed:",
                "vs jit-summary:"):
        assert any(line.strip().startswith(key) for line in lines), (key, lines)
    assert re.search(r"parse / scan:\s+[\d.]+x", result.stdout)
    assert re.search(r"peak RSS:\s+\d+ MiB", result.stdout)
    assert lines[-1] in ("PASS", "FAIL")
    assert (lines[-1] == "PASS") == (result.returncode == 0)


# ----------------------------------------------------------------------------- clock


@pytest.mark.pypy
def test_tick_rate_is_measured_once_and_used_by_capture(default_log):
    rate = P.tick_rate()
    assert 1e8 < rate < 1e11  # ticks per second: a CPU clock, not seconds or nanoseconds
    assert P.tick_rate() == rate  # cached
    assert default_log.log.seconds_per_tick == pytest.approx(1 / rate)
    assert "tick_rate()" in default_log.log.clock
    # the log covers less than the run: PyPy starts before its first marker
    assert default_log.log.seconds(default_log.log.span_ticks) < default_log.run.wall
    # PyPy's own tracing + backend time agrees with the tick rate within a few percent
    log = parse(default_log.path, clock="tracing")
    assert log.seconds_per_tick * rate == pytest.approx(1.0, rel=0.1)
    assert "jit-tracing sections" in log.clock
    span = parse(default_log.path, wall_seconds=default_log.run.wall, clock="span")
    assert span.seconds(span.span_ticks) == pytest.approx(default_log.run.wall)
    with pytest.raises(ValueError, match="tick_hz"):
        parse(default_log.path, clock="rate")
    with pytest.raises(ValueError, match="needs PyPy"):
        P.tick_rate("cpython")
