"""The trace viewer's machine-code level: the backend's dumps read from PYPYLOGs recorded on
PyPy 7.3.11 (Python 3.9, Debian 12) and 7.3.19 (Python 3.11, Debian 13) (tests/fixtures/asm/,
tools/record_fixtures.py --asm-only; every fixture test runs on each), disassembled by objdump
and tied to the operations; objdump missing; truncated and corrupt dumps; the page without it
unchanged; escaping; a real run."""

import gzip
import json
import os
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from helpers import disasm, pypylog, traces, traceview
from helpers import setup as course_setup
from helpers.pypylog.backend import BACKEND_CATEGORIES, read_machine_code, trace_key
from helpers.tracemodel import FAILURES, align

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asm"
FOLDERS = sorted(p for p in FIXTURES.glob("pypy-*") if (p / "fixture.json").is_file())


def _objdump():
    if disasm.objdump_path():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must test the disassembly, but objdump is missing: "
                    "apt-get install -y binutils")
    pytest.skip("objdump not installed (apt-get install binutils)")


@pytest.fixture(scope="module", params=FOLDERS, ids=[p.name for p in FOLDERS])
def recorded(request, tmp_path_factory):
    """(the fixture's log as a file, its text, the parsed log)."""
    folder = request.param
    meta = json.loads((folder / "fixture.json").read_text())
    text = gzip.decompress((folder / meta["pypylog"]["file"]).read_bytes()).decode()
    path = tmp_path_factory.mktemp("asm") / "log"
    path.write_text(text)
    return path, text, pypylog.parse(path)


def test_the_fixture_is_small_and_has_dumps():
    assert FOLDERS, "no tests/fixtures/asm/pypy-*/: record with tools/record_fixtures.py --asm-only"
    versions = set()
    for folder in FOLDERS:
        meta = json.loads((folder / "fixture.json").read_text())
        python = ".".join(meta["python_version"].split(".")[:2])
        assert folder.name == f"pypy-{meta['pypy_version']}-py{python}", folder
        assert meta["pypylog"]["bytes_gzip"] < 50_000
        assert all(c in meta["pypylog"]["command"] for c in BACKEND_CATEGORIES)
        versions.add(meta["pypy_version"])
    # the PyPys learners have: Debian 12's and Debian 13's (their logs differ: 7.3.19 writes
    # int_is_zero where 7.3.11 wrote int_eq(x, 0), and line -1 for a JUMP_ABSOLUTE)
    assert {"7.3.11", "7.3.19"} <= versions, versions


def test_the_two_pypys_logged_what_they_differ_in():
    # so the fixtures stay two different PyPys' logs, each tested above
    texts = {}
    for folder in FOLDERS:
        meta = json.loads((folder / "fixture.json").read_text())
        texts[meta["pypy_version"]] = gzip.decompress(
            (folder / meta["pypylog"]["file"]).read_bytes()).decode()
    assert "int_is_zero(" in texts["7.3.19"] and "int_is_zero(" not in texts["7.3.11"]
    assert ":2--1~#50 JUMP_ABSOLUTE" in texts["7.3.19"]
    log = pypylog.parse(iter(texts["7.3.19"].splitlines()))
    jumps = [op.merge_point for op in log.loops[0].ops
             if op.merge_point is not None and op.merge_point.opname == "JUMP_ABSOLUTE"]
    assert jumps and all(m.line == -1 and m.first_line == 2 for m in jumps)


# ---------------------------------------------------------------- parsing the dumps


def test_blocks_and_bytes(recorded):
    path, _, log = recorded
    code = read_machine_code(path)
    assert code.backend == "x86_64" and code.dumps > 10 and not code.warnings
    assert [b.key for b in code.blocks] == [trace_key(t) for t in log.traces]
    (loop,), (bridge,) = log.loops, log.bridges
    for t in (loop, bridge):
        mc = code.for_trace(t)
        block = mc.block
        # every byte of the block came from a dump; later patches applied on top
        assert mc.known == len(mc.data) == block.end - block.low and mc.patches > 1
        # the ops' offsets count from the block's first byte (the gc table): the loop's end
        # offset is where its failure paths start
        assert mc.base_for(t) == block.parts["gc table"] == mc.address
        assert mc.base_for(t) + t.end_offset == block.failures
        assert block.code_start == (block.parts["function"] if t is loop
                                    else block.parts["jump target"])
    # the loop's guard that failed often was patched to jump to the bridge: the rel32 of its
    # jcc (2 bytes after the guard's offset) now reaches the bridge's first instruction
    guard = next(op for op in loop.guards if op.guard_id == bridge.guard)
    mc = code.for_trace(loop)
    at = mc.base_for(loop) + guard.offset + 2 - mc.address
    rel = int.from_bytes(mc.data[at:at + 4], "little", signed=True)
    jcc_end = mc.base_for(loop) + guard.offset + 6
    assert jcc_end + rel == code.for_trace(bridge).block.code_start


def test_only_the_wanted_blocks_are_kept(recorded):
    path, text, log = recorded
    (bridge,) = log.bridges
    code = read_machine_code(path, [bridge])
    assert list(code.code) == [trace_key(bridge)] and len(code.blocks) == 2
    assert code.for_trace(log.loops[0]) is None
    # streaming: an open file and lines read the same bytes
    with open(path, "rb") as f:
        same = read_machine_code(f, [trace_key(bridge)])
    lines = read_machine_code(iter(text.splitlines()), [bridge])
    for other in (same, lines):
        assert bytes(other.for_trace(bridge).data) == bytes(code.for_trace(bridge).data)


def test_truncated_dump(recorded, tmp_path):
    path, text, log = recorded
    loop = log.loops[0]
    big = max(re.finditer(r"CODE_DUMP @[0-9a-f]+ \+0  ([0-9A-F]+)", text),
              key=lambda m: len(m[1]))
    cut = tmp_path / "cut.log"
    cut.write_text(text[: big.start(1) + 301])  # mid-line, an odd digit
    code = read_machine_code(cut)
    assert any("cut off by the end of the log" in w for w in code.warnings), code.warnings
    assert code.for_trace(loop) is None  # its jit-backend-addr never came
    v = traces.view(cut, assembler=True)
    (info,) = [i for i in v.shown if i.trace.number == loop.number] or [None]
    if info is not None:  # the loop's ops were not logged either: nothing to show
        assert info.assembler is not None and "no jit-backend-addr" in info.assembler.note
    v.to_html()


def test_corrupt_dump(recorded, tmp_path):
    path, text, log = recorded
    bad = tmp_path / "bad.log"
    big = max(re.finditer(r"CODE_DUMP @[0-9a-f]+ \+0  ([0-9A-F]+)", text),
              key=lambda m: len(m[1]))
    bad.write_text(text[: big.start(1)] + "XYZ" + text[big.start(1) + 3:])
    code = read_machine_code(bad)
    assert any("were not '@address +offset hex'" in w for w in code.warnings), code.warnings
    mc = code.for_trace(log.loops[0])
    assert mc is not None and mc.known < len(mc.data)  # the bad dump's bytes are missing
    if disasm.objdump_path():
        v = traces.view(bad, assembler=True)
        asm = v.machine_code(1)
        assert "were in no dump" in asm.note and "were not '@address" in v.asm_note


def test_not_a_log(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01" * 1000)
    with pytest.raises(pypylog.PypylogError, match="not a PYPYLOG"):
        read_machine_code(junk)


# ---------------------------------------------------------------- disassembly and alignment


def test_alignment(recorded):
    _objdump()
    path, _, _ = recorded
    v = traces.view(path, assembler=True)
    (loop,), (bridge,) = v.log.loops, v.log.bridges
    for info in v.shown:
        asm = info.assembler
        assert asm is not None and not asm.note, asm.note if asm else v.asm_note
        # every op's offset starts an instruction, as the backend logged it
        assert asm.with_offset == asm.aligned > 10
        assert asm.groups[0].title.startswith("entry") and asm.groups[-1].title == FAILURES
        # instructions are in address order and grouped without loss
        assert sum(len(g.instructions) for g in asm.groups) == asm.n_instructions
        addrs = [i.address for i in asm.instructions]
        assert addrs == sorted(addrs) and asm.address == addrs[0]
        assert 0 < asm.body_instructions < asm.n_instructions
    asm = v.machine_code(loop)
    # the guard with a bridge jumps to it; the loop's jump goes back into the loop
    guard = next(g for g in asm.groups if g.op is not None and g.op.is_guard
                 and g.op.guard_id == bridge.guard)
    (jcc,) = [i for i in guard.instructions if i.text.startswith("j")]
    block = read_machine_code(path).for_trace(bridge).block
    assert asm.targets[jcc.address] == (f"the bridge out of Guard 0x{bridge.guard:x} "
                                        f"+{block.code_start - block.low}")
    (jump,) = [g for g in asm.groups if g.op is not None and g.op.name == "jump"]
    back = [asm.targets.get(i.address, "") for i in jump.instructions if "jmp" in i.text]
    assert back and re.fullmatch(r"\+\d+", back[0])
    assert str(asm).startswith("Loop 1: ") and guard.op.text.strip() in str(asm)
    # the fixture logged jit-backend-counts: a run counter at the entry and at each label
    labels = [g for g in asm.groups if g.op is not None and g.op.name == "label"]
    for group in [asm.groups[0]] + labels:
        assert {i.address for i in group.instructions} & asm.counters, group.title
    assert len(asm.counters) == 2 * (1 + len(labels)) and "run counter" in str(asm)
    # the bridge ends by jumping into the loop (an address loaded into a register)
    assert any(t.startswith("Loop 1 +") for t in v.machine_code(bridge).targets.values())


def test_parse_objdump_joins_wrapped_bytes():
    listing = ("\nx:     file format binary\n\nDisassembly of section .data:\n\n"
               "0000000000001000 <.data>:\n"
               "    1000:\t49 bb 08 bf 08 8b 51 \tmovabs $0x7f518b08bf08,%r11\n"
               "    1007:\t7f 00 00 \n"
               "    100a:\tc3                   \tret\n")
    ins = disasm.parse_objdump(listing)
    assert [(i.address, i.size, i.text) for i in ins] == [
        (0x1000, 10, "movabs $0x7f518b08bf08,%r11"), (0x100A, 1, "ret")]


def test_disassemble_real_bytes():
    _objdump()
    ins = disasm.disassemble(bytes.fromhex("4889e5" "c3"), 0x400000)
    assert [(i.address, i.text.split()[0]) for i in ins] == [(0x400000, "mov"), (0x400003, "ret")]
    with pytest.raises(disasm.DisassemblyError, match="no objdump machine"):
        disasm.disassemble(b"\x90", 0, "vax")


def test_objdump_missing(recorded, tmp_path, monkeypatch):
    path, _, _ = recorded
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no objdump
    assert disasm.objdump_path() is None
    with pytest.raises(disasm.ObjdumpMissing, match="apt-get install binutils"):
        disasm.disassemble(b"\x90", 0)
    v = traces.view(path, assembler=True)
    assert v.asm_note == disasm.INSTALL_HINT
    assert all(info.assembler is None for info in v.shown)
    page = v.to_html()
    assert "apt-get install binutils" in page and "objdump (GNU binutils) is not installed" in page
    assert "Machine code: objdump" in str(v)
    with pytest.raises(KeyError, match="apt-get install binutils"):
        v.machine_code(1)


def test_temp_files_are_removed(recorded):
    _objdump()
    path, _, _ = recorded
    before = set(Path(tempfile.gettempdir()).glob("pypy-course-code-*"))
    traces.view(path, assembler=True)
    assert set(Path(tempfile.gettempdir()).glob("pypy-course-code-*")) <= before


# ---------------------------------------------------------------- the page


def _strip_backend(text: str) -> str:
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"\[[0-9a-f]+\] \{jit-backend-(dump|addr)$", line.rstrip()):
            skip = True
            continue
        if skip:
            skip = not re.match(r"\[[0-9a-f]+\] jit-backend-(dump|addr)\}$", line.rstrip())
            continue
        out.append(line)
    return "".join(out)


def test_page_without_assembler_is_unchanged(recorded, tmp_path):
    path, text, _ = recorded
    plain = tmp_path / "plain.log"
    plain.write_text(_strip_backend(text))
    assert "CODE_DUMP" not in plain.read_text() and "CODE_DUMP" in text
    without = traces.view(plain).to_html()
    # the same traces, the dumps in the log but not asked for: the very same page
    assert traces.view(path).to_html() == without
    assert traces.view(path, assembler=False).to_html() == without
    assert "tv-asm" not in without and "Machine code" not in without


def test_page_with_assembler(recorded):
    _objdump()
    path, _, _ = recorded
    v = traces.view(path, assembler=True)
    page = v.to_html()
    plain = traces.view(path).to_html()
    n = sum(1 for info in v.shown if info.assembler is not None)
    assert n == min(traces.ASM_TOP, len(v.shown))
    assert page.count('<details class="tv-asm">') == n  # folded: no "open"
    assert len(page) < len(plain) + 40_000 * n
    for info in v.shown:
        first = info.assembler.instructions[0].text
        assert first.split()[0] in page
    only_bridge = traces.view(path, assembler=[2]).to_html()
    assert only_bridge.count('<details class="tv-asm">') == 1
    assert traces.view(path, assembler=0).to_html().count('<details class="tv-asm">') == 0
    with pytest.raises(TypeError, match="assembler="):
        traces.view(path, assembler="all")


EVIL = "<script>alert(1)</script>"


def test_escaping(tmp_path):
    """Everything on the machine-code fold that comes from a log is escaped."""
    log = textwrap.dedent(f"""\
        [10] {{jit-backend-dump
        BACKEND x86_64
        CODE_DUMP @1000 +0  0000000000000000{"90" * 8}4889E5C3{"90" * 4}C3
        [11] jit-backend-dump}}
        [12] {{jit-backend-addr
        Loop 1 (f;/x/{EVIL}.py:1-2~#0 LOAD_FAST) has address 0x1008 to 0x100c (bootstrap 0x1008)
               gc table: 0x1000
               function: 0x1008
                 resops: 0x1008
               failures: 0x1014
                    end: 0x1019
        [13] jit-backend-addr}}
        [14] {{jit-log-opt-loop
        # Loop 1 (f;/x/{EVIL}.py:1-2~#0 LOAD_FAST) : loop with 3 ops
        [p0]
        debug_merge_point(0, 0, 'f;/x/{EVIL}.py:1-2~#0 LOAD_FAST')
        +16: p1 = new_with_vtable(descr=<SizeDescr {EVIL}>)
        +20: jump(p0, descr=TargetToken(1))
        +20: --end of the loop--
        [15] jit-log-opt-loop}}
        """)
    path = tmp_path / "evil.log"
    path.write_text(log)
    code = read_machine_code(path)
    mc = code.for_trace(pypylog.parse(path).loops[0])
    assert mc.base_for(pypylog.parse(path).loops[0]) == 0x1000 and mc.known == 0x19
    v = traces.view(path, assembler=True)
    page = v.to_html() + v._repr_html_()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    if disasm.objdump_path():
        asm = v.machine_code(1)
        assert [g.op.name for g in asm.groups if g.op is not None] == ["new_with_vtable", "jump"]
        assert "tv-asm" in page and "ret" in page
    # and a made-up instruction text with markup in it (objdump's text is data too)
    fake = align(pypylog.parse(path).loops[0], [disasm.Instruction(0x1010, b"\x90", EVIL)],
                 0x1000)
    v.shown[0].assembler = fake
    assert "<script>alert" not in v.to_html()


# ---------------------------------------------------------------- a real run


@pytest.mark.pypy
def test_real_run():
    _objdump()
    # the program the recorded fixtures were made from (tools/record_fixtures.py ASM_PROGRAM)
    code = (FIXTURES / "pypy-7.3.11-py3.9" / "asm_program.py").read_text(encoding="utf-8")
    v = traces.trace(code, assembler=True)
    info = v.hot_loop
    asm = info.assembler
    assert asm is not None and asm.n_instructions > 50, v.asm_note
    assert asm.aligned == asm.with_offset
    assert sum(1 for i in v.shown if i.assembler is not None) == min(traces.ASM_TOP,
                                                                       len(v.shown))
    assert "s += 1" in v.to_html() and 'class="tv-asm"' in v.to_html()
    # the log (with its dumps) was removed with its temp folder
    assert v.log.source is None


# ---------------------------------------------------------------- the set-up


def test_setup_installs_binutils_as_root(monkeypatch, capsys):
    installed = []
    monkeypatch.setattr(course_setup.shutil, "which", lambda name: None)
    monkeypatch.setattr(course_setup, "can_apt", lambda: True)
    monkeypatch.setattr(course_setup, "apt_install", lambda *p: installed.append(p) or True)
    course_setup.ensure_binutils()
    assert installed == [("binutils",)]
    # without root (or apt-get): only a note, nothing installed
    monkeypatch.setattr(course_setup, "can_apt", lambda: False)
    course_setup.ensure_binutils()
    assert installed == [("binutils",)]
    assert "sudo apt-get install binutils" in capsys.readouterr().err
    # objdump there: nothing to do
    monkeypatch.setattr(course_setup.shutil, "which", lambda name: "/usr/bin/objdump")
    monkeypatch.setattr(course_setup, "apt_install", lambda *p: pytest.fail("installed"))
    course_setup.ensure_binutils()


def test_a_long_listing_is_cut_on_the_page(recorded, monkeypatch):
    _objdump()
    path, _, _ = recorded
    monkeypatch.setattr(traceview, "MAX_ASM_ROWS", 20)
    v = traces.view(path, assembler=True)
    page = v.to_html()
    assert page.count("more instructions left out to keep the page small") == len(v.shown)
    assert "print(view.machine_code(1))" in page
    assert len(str(v.machine_code(1)).splitlines()) > 100  # the text listing is whole


def test_cli_traces_takes_an_assembler_option():
    from helpers import cli

    parse = cli.build_parser().parse_args
    assert parse(["traces", "x.py"]).assembler is None
    assert parse(["traces", "x.py", "--assembler"]).assembler == 3
    assert parse(["traces", "x.py", "--assembler", "1"]).assembler == 1
