"""The trace viewer (helpers.traces): its model on real PyPy logs and on a synthetic one, the
escaping of everything that comes from a log or a source file, the command line, and the page
in a real headless Chromium."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from helpers import pypylog, traces

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- a synthetic log

EVIL = "<script>alert(1)</script>"
EVIL_FILE = f"/x/{EVIL}.py"

SYNTHETIC = f"""\
[1a] {{jit-log-opt-loop
# Loop 1 (f;{EVIL_FILE}:1-2~#0 LOAD_FAST) : loop with 9 ops
[p0, i1]
+10: label(p0, i1, descr=TargetToken(1001))
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-2~#0 LOAD_FAST')
+20: p2 = new_with_vtable(descr=<SizeDescr {EVIL}>)
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-3~#2 CALL_FUNCTION')
debug_merge_point(1, 1, 'g;{EVIL_FILE}:5-6~#0 LOAD_FAST')
+30: i3 = call_i(ConstClass(foo), i1, descr=<Calli 8 i EF=3>)
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-3~#4 COMPARE_OP')
+40: guard_true(i3, descr=<Guard0x100>) [p0, i1]
+50: label(p0, i1, descr=TargetToken(1002))
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-2~#0 LOAD_FAST')
+55: p4 = new_with_vtable(descr=<SizeDescr {EVIL}>)
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-3~#2 CALL_FUNCTION')
debug_merge_point(1, 1, 'g;{EVIL_FILE}:5-6~#0 LOAD_FAST')
+57: i6 = call_i(ConstClass(foo), i1, descr=<Calli 8 i EF=3>)
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-3~#4 COMPARE_OP')
+60: guard_false(i6, descr=<Guard0x200>) [p0, p4]
+70: jump(p0, i1, descr=TargetToken(1002))
+80: --end of the loop--
[1b] jit-log-opt-loop}}
[1c] {{jit-log-opt-bridge
# bridge out of Guard 0x200 with 2 ops
[p0]
debug_merge_point(0, 0, 'f;{EVIL_FILE}:1-3~#4 COMPARE_OP')
+10: i5 = int_add(1, 2)
+20: finish(i5, descr=<DoneWithThisFrameDescrInt>)
[1d] jit-log-opt-bridge}}
[1e] {{jit-backend-counts
entry 1:5
TargetToken(1001):5
TargetToken(1002):1000
bridge 512:77
[1f] jit-backend-counts}}
"""

SYNTHETIC_SOURCE = f"""\
def f(a):
    x = '{EVIL}'
    if g(x): pass

def g(x):
    return x
"""


@pytest.fixture(scope="module")
def synthetic():
    log = pypylog.parse(SYNTHETIC)
    return traces.view(log, sources={EVIL_FILE: SYNTHETIC_SOURCE})


def test_synthetic_model(synthetic):
    v = synthetic
    assert [i.label for i in v.shown] == ["Loop 1", "Bridge from Guard 0x200"]
    assert [i.runs for i in v.shown] == [1000, 77]
    loop, bridge = v.shown
    assert loop.has_preamble
    assert loop.bridges == {0x200: bridge.trace}
    assert bridge.trace.parent is loop.trace
    (frame,) = loop.frames
    assert frame.function == "f" and frame.first_line == 1
    # the whole function is shown, in source order, lines 1-3 (ast: f ends at line 3)
    assert [ln.line for ln in frame.lines] == [1, 2, 3]
    l2, l3 = loop.line(2), loop.line(3)
    assert l2.text.strip().startswith("x = ")
    # counts are of the loop body; the preamble's are kept apart
    assert l2.counts.allocs == {"new_with_vtable": 1}
    assert l2.preamble_counts.allocs == {"new_with_vtable": 1}
    assert l3.counts.calls == {"call_i": 1}  # the inlined g() counts towards its calling line
    assert l3.counts.guards == {"guard_false": 1}
    # inlined call nested under the line that made it, with its depth
    inlined = [c for b in l3.blocks for c in b.children]
    assert inlined and all(c.depth == 1 and c.merge_point.function == "g" for c in inlined)
    assert loop.counts.n_guards == 2 and loop.counts.n_calls == 2 and loop.counts.n_allocs == 2
    assert l2.hot and not frame.lines[0].traced


def test_synthetic_top_and_left_out():
    log = pypylog.parse(SYNTHETIC)
    v = traces.view(log, top=1)
    assert len(v.shown) == 1 and v.left_out == 1
    assert "1 more left out" in v.headline()
    page = v.to_html()
    assert "Loop 1" in page and "1 more trace(s) ran less" in page
    # the guard's bridge is not shown: its run count is still given, without a dead link
    assert "bridge, ran 77 times (not shown)" in page
    assert len(traces.view(log, all=True).shown) == 2


def _inert(page: str) -> None:
    assert "<script>alert" not in page
    assert page.count("<script>") == 1  # the view's own few lines, nothing else
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_escaping_synthetic(synthetic):
    _inert(synthetic.to_html())
    _inert(synthetic._repr_html_())


def test_fragment_ids_unique(synthetic):
    a, b = synthetic._repr_html_(), synthetic._repr_html_()
    ida = a.split('id="', 1)[1].split('"', 1)[0]
    idb = b.split('id="', 1)[1].split('"', 1)[0]
    assert ida != idb  # two outputs in one notebook must not share checkbox ids


# ---------------------------------------------------------------- real PyPy logs

PROGRAM = """\
class Point(object):
    def __init__(self, x, y):
        self.x = x
        self.y = y


def norm(p):
    return p.x * p.x + p.y * p.y


def main(n):
    total = 0
    kept = []
    for i in range(n):
        p = Point(i, i + 1)
        if i % 3 == 0:
            total += norm(p)
        else:
            total -= 1
        if i % 1000 == 0:
            kept.append(p)
    return total, len(kept)


print(main(300000))
"""


@pytest.fixture(scope="module")
def evil_dir():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp, *EVIL.split("/"))  # .../<script>alert(1)</script> (two directories)
        d.mkdir(parents=True)
        assert EVIL in str(d)
        yield d


@pytest.fixture(scope="module")
def real(evil_dir):
    """The program (with <script> in its path and source) traced on PyPy through the CLI."""
    script = evil_dir / "prog.py"
    script.write_text(PROGRAM.replace("total = 0\n", f"total = 0\n    tag = '{EVIL}'\n", 1))
    out = evil_dir / "traces.html"
    log = evil_dir / "traces.log"
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "traces", str(script), "-o", str(out),
         "--keep", str(log), "--top", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return {"script": script, "html": out, "log": log, "stdout": proc.stdout,
            "view": traces.view(log)}


@pytest.mark.pypy
def test_cli_writes_page(real):
    assert ", 300)" in real["stdout"]  # the script's own output comes through
    assert f"wrote {real['html']}" in real["stdout"]
    page = real["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page  # nothing fetched: opens offline
    _inert(page)


@pytest.mark.pypy
def test_real_model(real):
    v = real["view"]
    runs = [t.runs for t in v.ranked]
    assert runs == sorted(runs, reverse=True) and runs[0] > 100_000
    top = v.shown[0]
    assert isinstance(top.trace, pypylog.Loop)
    (frame,) = [f for f in top.frames if f.function == "main"]
    assert frame.filename == str(real["script"])
    src = {ln.line: ln for ln in frame.lines if ln is not None}
    # the script's own lines, with their text, from "def main" on
    assert src[frame.first_line].text.strip() == "def main(n):"
    loop_line = next(ln for ln in src.values() if ln.text and "for i in range" in ln.text)
    assert loop_line.traced and loop_line.hot
    # Point(...) is inlined: __init__ nested under its calling line, one level deeper
    call_line = next(ln for ln in src.values() if ln.text and "Point(i, i + 1)" in ln.text)
    inlined = [c for b in call_line.blocks for c in b.children]
    assert inlined and {c.merge_point.function for c in inlined} == {"__init__"}
    assert all(c.depth == 1 for c in inlined)
    # the branch taken one time in three gets a bridge, tied to its guard, with its runs
    assert top.bridges
    gid, bridge = max(top.bridges.items(), key=lambda kv: kv[1].runs)
    assert bridge.runs > 10_000 and bridge.parent is top.trace
    guard_lines = [ln for ln in src.values() for b in ln.blocks for op in b.all_ops()
                   if op.is_guard and op.guard_id == gid]
    assert guard_lines and "i % 3 == 0" in guard_lines[0].text
    # kept.append(p) lets p escape, but only on the rare path: in the hot loop, no allocation
    # that survived on the "total -= 1" line
    minus = next(ln for ln in src.values() if ln.text and "total -= 1" in ln.text)
    assert minus.counts.n_allocs == 0 and minus.counts.guards


@pytest.mark.pypy
def test_trace_snippet_maps_to_its_lines():
    code = textwrap.dedent("""\
        def f(n):
            s = 0
            for i in range(n):
                s += i * 2
            return s
        print(f(100000))
        """)
    v = traces.trace(code)
    assert v.stdout.strip() == str(sum(i * 2 for i in range(100000)))
    top = v.shown[0]
    lines = {ln.line: ln.text for ln in top.lines}
    assert lines.get(4, "").strip() == "s += i * 2"  # the snippet's temp file is gone: text kept
    assert "s += i * 2" in v._repr_html_()


# ---------------------------------------------------------------- in a real browser


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI must test the trace viewer in a real browser, but Chromium is missing: "
                    "apt-get install -y chromium")
    pytest.skip("Chromium not installed (apt-get install -y chromium); the page is not checked "
                "in a browser")


def _browse(browser, url, tmp, *extra):
    profile = tempfile.mkdtemp(dir=tmp, prefix="chromium-profile-")
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.pypy
def test_page_in_chromium(real, tmp_path):
    browser = _chromium()
    view = real["view"]
    top = view.shown[0].trace
    anchor = f"tv-loop{top.number}"
    url = real["html"].as_uri() + "#" + anchor
    proc = _browse(browser, url, tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'class="tv-list"' in dom
    # the loop list: one row per shown trace, the top one first, linked to its section
    assert dom.count("<tr><td>") == len(view.shown) or dom.count("<tr>") == len(view.shown) + 1
    first_row = dom.split('class="tv-list"', 1)[1].split("</tr>", 2)[1]
    assert f'href="#{anchor}"' in first_row
    # the chosen loop, expanded by the page's script: its hot lines are open
    section = dom.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]
    assert "open=" in section and "for i in range(n):" in section
    assert "guard_" in section and "bridge, ran" in section
    # escaped text stayed text: no element made from the log or the source
    assert "<script>alert" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    shot = tmp_path / "traces.png"
    proc = _browse(browser, url, tmp_path, f"--screenshot={shot}", "--window-size=1400,1000")
    assert proc.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.pypy
def test_jitview_magic(ip, tmp_path, capsys):
    page = tmp_path / "cell.html"
    cell = "t = 0\nfor i in range(50000):\n    t += i % 7\nprint(t)\n"
    result = ip.run_cell_magic("jitview", f"--top 3 --html {page} -o", cell)
    assert isinstance(result, traces.Traces) and 1 <= len(result.shown) <= 3
    assert str(sum(i % 7 for i in range(50000))) in capsys.readouterr().out
    assert "t += i % 7" in page.read_text(encoding="utf-8")  # the cell's own line


def test_synthetic_totals_work_and_calls(synthetic):
    """Every loop and bridge counted by its runs: the loop's body (after its last label: label,
    new_with_vtable, call_i, guard_false, jump) 1000 times, the bridge (int_add, finish) 77."""
    v = synthetic
    c = v.totals()
    assert c.ops == 5 * 1000 + 2 * 77
    assert c.calls == {"call_i": 1000} and c.allocs == {"new_with_vtable": 1000}
    assert v.hot_bridge.label == "Bridge from Guard 0x200" and v.hot_bridge.runs == 77
    assert v.calls_by_target() == {"foo": 1000}
    line = v.work(per=10)
    assert "about 515 operations per run" in line and "100 calls (call_i ×100)" in line
    assert "busiest bridge out of Loop 1" in line and "ran 77 times" in line
    assert [op.name for _, op in v.find("call_i")] == ["call_i", "call_i"]
    with pytest.raises(ValueError, match="per must be"):
        v.work(per=0)
    with pytest.raises(ValueError, match="text must be"):
        v.find("")
