"""The trace viewer's model: one compiled loop or bridge cut into :class:`Block` s at its merge
points, laid out as the learner's source lines (:class:`Frame` of :class:`SourceLine`), each
holding the operations compiled for it and their :class:`~helpers.pypylog.Counts`; built by
:func:`trace_info` from a parsed trace and the source files (no process, no HTML). Its machine
code, when asked for, is an :class:`Assembler`: the instructions cut at the operations'
``+offset`` s (:func:`align`).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .pypylog import Counts, MergePoint, Trace

_MAX_FULL_FUNCTION = 150  # show a whole function's source up to this many lines

@dataclass(eq=False)
class Block:
    """One visit of a source line in trace order: the ``merge_point`` that starts it (None for
    the operations before the first one), its operations (debug_merge_points included) and the
    inlined calls made from it (``children``, one level deeper). ``preamble`` is True for the
    first iteration of a loop (before its last ``label``)."""

    merge_point: Optional[MergePoint]
    depth: int
    preamble: bool
    ops: list = field(default_factory=list)
    children: list = field(default_factory=list)

    @property
    def key(self):
        mp = self.merge_point
        if mp is None:
            return None
        if mp.function is None:
            return (None, mp.text, None, None)
        return (mp.filename, mp.function, mp.first_line, mp.line)

    def all_ops(self):
        """Its operations, then its inlined calls' (recursively)."""
        yield from self.ops
        for child in self.children:
            yield from child.all_ops()

    def counts(self) -> Counts:
        """Counts of its operations and of the calls inlined from it."""
        c = Counts()
        for op in self.all_ops():
            c.add(op)
        return c


@dataclass(eq=False)
class SourceLine:
    """A line of a traced function's source: ``text`` (None if the file could not be read),
    the ``blocks`` that visit it in trace order (empty for a line the trace does not touch),
    ``counts`` of the loop body's operations for it (inlined calls included) and
    ``preamble_counts`` of the first iteration's."""

    filename: Optional[str]
    function: Optional[str]
    line: Optional[int]
    text: Optional[str]
    blocks: list = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    preamble_counts: Counts = field(default_factory=Counts)

    @property
    def traced(self) -> bool:
        return bool(self.blocks)

    @property
    def hot(self) -> bool:
        """Compiled operations (not just merge points) run for it on every pass of the trace."""
        return self.counts.ops > 0


@dataclass(eq=False)
class Frame:
    """A function the trace runs at its own (outermost) depth, with its source lines in source
    order (``lines``; a None in the list marks skipped lines)."""

    filename: Optional[str]
    function: Optional[str]
    first_line: Optional[int]
    lines: list = field(default_factory=list)

    @property
    def where(self) -> str:
        name = os.path.basename(self.filename) if self.filename else "?"
        return f"{self.function} ({name}:{self.first_line})"


@dataclass(eq=False)
class TraceInfo:
    """One loop or bridge, mapped to the source: ``rank`` (1 = ran most), ``trace`` the
    :class:`~helpers.pypylog.Loop`/:class:`~helpers.pypylog.Bridge`, ``blocks`` in trace order,
    ``frames`` in source order, ``counts`` of the whole trace (preamble included),
    ``bridges`` guard id -> the bridge that leaves that guard."""

    rank: int
    trace: Trace
    blocks: list
    frames: list
    counts: Counts
    bridges: dict
    has_preamble: bool
    assembler: Optional["Assembler"] = None  # its machine code, when asked for

    @property
    def label(self) -> str:
        return self.trace.label

    @property
    def where(self) -> str:
        return self.trace.where

    @property
    def runs(self) -> int:
        return self.trace.runs

    @property
    def lines(self) -> list:
        """The traced source lines of all frames (lines the trace does not touch left out)."""
        return [ln for f in self.frames for ln in f.lines if ln is not None and ln.traced]

    @property
    def body_counts(self) -> Counts:
        """Counts of what runs on every pass: a loop's body without its preamble (the whole
        trace for a bridge or a loop without a preamble)."""
        c = Counts()
        for block in self.blocks:
            if not block.preamble:
                c.merge(block.counts())
        return c

    def line(self, number: int, filename: Optional[str] = None) -> SourceLine:
        for ln in self.lines:
            if ln.line == number and (filename is None or ln.filename == filename):
                return ln
        raise KeyError(f"line {number} is not in {self.label}")


class Sources:
    """Source files, read once each (None when unreadable); ``overrides`` name -> text."""

    def __init__(self, overrides: Optional[dict] = None):
        self.overrides = {str(k): v for k, v in (overrides or {}).items()}
        self._lines: dict = {}
        self._ends: dict = {}

    def lines(self, filename: Optional[str]) -> Optional[list]:
        if not filename:
            return None
        if filename not in self._lines:
            text = self.overrides.get(filename)
            if text is None and not (filename.startswith("<") and filename.endswith(">")):
                try:
                    if os.path.getsize(filename) <= 5_000_000:
                        text = Path(filename).read_bytes().decode("utf-8", errors="replace")
                except OSError:
                    text = None
            self._lines[filename] = text.splitlines() if text is not None else None
        return self._lines[filename]

    def text(self, filename, line) -> Optional[str]:
        lines = self.lines(filename)
        if lines is None or line is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]

    def function_end(self, filename, first_line) -> Optional[int]:
        """The last line of the function or class whose code starts at ``first_line``."""
        if filename not in self._ends:
            ends = {}
            lines = self.lines(filename)
            if lines is not None:
                try:
                    tree = ast.parse("\n".join(lines))
                except (SyntaxError, ValueError, RecursionError):
                    tree = None
                if tree is not None:
                    for node in ast.walk(tree):
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                             ast.ClassDef, ast.Lambda)):
                            end = getattr(node, "end_lineno", None)
                            starts = [node.lineno] + [d.lineno for d in
                                                      getattr(node, "decorator_list", ())]
                            for s in starts:
                                ends.setdefault(s, end)
            self._ends[filename] = ends
        return self._ends[filename].get(first_line)


def _blocks(trace: Trace) -> tuple:
    """(root blocks in trace order, has_preamble) for a trace's operations."""
    ops = trace.ops
    labels = [i for i, op in enumerate(ops) if op.name == "label"]
    boundary = labels[-1] if len(labels) >= 2 else None
    roots: list = []
    stack: list = []  # stack[k]: the open block at nesting level k
    entry = None
    base = None
    preamble = boundary is not None
    for i, op in enumerate(ops):
        if i == boundary:
            preamble = False
            mp = stack[0].merge_point if stack else None
            block = Block(mp, stack[0].depth if stack else 0, False)
            roots.append(block)
            stack = [block]
            block.ops.append(op)
            continue
        mp = op.merge_point
        if mp is not None:
            depth = mp.depth or 0
            if base is None:
                base = depth
            level = max(0, depth - base)
            if len(stack) > level:
                current = stack[level]
                if current.key == Block(mp, depth, preamble).key \
                        and current.preamble == preamble:
                    del stack[level + 1:]
                    current.ops.append(op)
                    continue
            del stack[level:]
            block = Block(mp, depth, preamble)
            if not stack:
                roots.append(block)
            else:
                stack[-1].children.append(block)
            stack.append(block)
            block.ops.append(op)
            continue
        if stack:
            stack[-1].ops.append(op)
        else:
            if entry is None:
                entry = Block(None, 0, preamble)
                roots.append(entry)
            entry.ops.append(op)
    return roots, boundary is not None


def _frames(roots: list, sources: Sources) -> list:
    frames: dict = {}
    for block in roots:
        mp = block.merge_point
        if mp is None:
            continue
        fkey = (mp.filename, mp.function if mp.function is not None else mp.text,
                mp.first_line)
        frame = frames.get(fkey)
        if frame is None:
            frame = frames[fkey] = Frame(mp.filename, fkey[1], mp.first_line)
            frame._by_line = {}
        ln = frame._by_line.get(mp.line)
        if ln is None:
            ln = frame._by_line[mp.line] = SourceLine(
                mp.filename, frame.function, mp.line, sources.text(mp.filename, mp.line))
        ln.blocks.append(block)
        (ln.preamble_counts if block.preamble else ln.counts).merge(block.counts())
    out = []
    for frame in frames.values():
        by_line = frame.__dict__.pop("_by_line")
        numbered = sorted(n for n in by_line if n is not None)
        show = set(numbered)
        lines = sources.lines(frame.filename)
        if lines is not None and numbered:
            end = None
            if frame.function not in (None, "<module>") and frame.first_line:
                end = sources.function_end(frame.filename, frame.first_line)
            if end is not None and end - frame.first_line < _MAX_FULL_FUNCTION:
                show |= set(range(frame.first_line, min(end, len(lines)) + 1))
            else:
                show |= set(range(numbered[0], numbered[-1] + 1)) \
                    if numbered[-1] - numbered[0] < _MAX_FULL_FUNCTION else set()
        previous = None
        for n in sorted(show):
            if previous is not None and n != previous + 1:
                frame.lines.append(None)
            frame.lines.append(by_line.get(n) or SourceLine(
                frame.filename, frame.function, n, sources.text(frame.filename, n)))
            previous = n
        if None in by_line:
            frame.lines.append(by_line[None])
        out.append(frame)
    return out


def trace_info(rank: int, trace: Trace, sources: "Sources") -> TraceInfo:
    if trace.text is None:
        return TraceInfo(rank, trace, [], [], Counts(), {}, False)
    roots, has_preamble = _blocks(trace)
    counts = Counts()
    for op in trace.ops:
        counts.add(op)
    bridges = {b.guard: b for b in trace.bridges}
    return TraceInfo(rank, trace, roots, _frames(roots, sources), counts, bridges, has_preamble)



# ============================================================================ machine code


@dataclass(eq=False)
class AsmGroup:
    """A stretch of machine code: the instructions of one operation (``op``; none when the op
    made no code of its own, e.g. a comparison fused into the guard after it), or, with ``op``
    None, what ``title`` names: the entry, a new source line (no instructions), the failure
    paths. ``preamble`` as for :class:`Block`."""

    op: Optional[object]
    title: str
    instructions: list
    preamble: bool = False


@dataclass(eq=False)
class Assembler:
    """The machine code of one trace, cut at its operations (:func:`align`). ``address`` is
    the first instruction, ``base`` the address the ops' ``+offset`` count from, ``size`` the
    bytes disassembled; ``with_offset`` ops carry an offset and ``aligned`` of them start on an
    instruction boundary. ``note`` says why there is nothing (or what is missing)."""

    trace: Trace
    backend: Optional[str] = None
    address: Optional[int] = None
    base: Optional[int] = None
    size: int = 0
    groups: list = field(default_factory=list)
    instructions: list = field(default_factory=list)
    with_offset: int = 0
    aligned: int = 0
    patches: int = 0
    note: str = ""
    targets: dict = field(default_factory=dict)  # a jump's address -> where it goes, in words
    counters: set = field(default_factory=set)  # addresses of the run counters' instructions

    @property
    def n_instructions(self) -> int:
        return len(self.instructions)

    @property
    def body_instructions(self) -> int:
        """Instructions of the operations that run on every pass (a loop's body, after its
        last label; a bridge's whole trace), failure paths and entry left out."""
        return sum(len(g.instructions) for g in self.groups
                   if g.op is not None and not g.preamble)

    @property
    def body_counters(self) -> int:
        """How many of :attr:`body_instructions` are run counters (see :data:`COUNTER`)."""
        return sum(1 for g in self.groups if g.op is not None and not g.preamble
                   for ins in g.instructions if ins.address in self.counters)

    def summary(self) -> str:
        if not self.instructions:
            return self.note or "no machine code"
        counted = (f" ({self.body_counters} of them the run counter that logging "
                   "jit-backend-counts adds)" if self.body_counters else "")
        text = (f"{self.n_instructions:,} instructions, {self.size:,} bytes at "
                f"0x{self.address:x} ({self.backend or '?'}); "
                f"{self.body_instructions:,} for the operations that run on every pass"
                f"{counted}; "
                f"{self.aligned} of {self.with_offset} operations' offsets fall on an "
                "instruction boundary")
        return text + (f"; {self.note}" if self.note else "")

    def lines(self) -> list:
        """The listing as text lines: a group's title or operation, then its instructions
        with their offsets (the ops' ``+offset`` numbers) and objdump's text."""
        out = []
        base = self.base if self.base is not None else self.address or 0
        for g in self.groups:
            if g.op is not None:
                out.append(g.op.text.strip() + (f"   {g.title}" if g.title else ""))
                if not g.instructions:
                    out.append("        (no code of its own)")
            else:
                out.append(g.title)
            for ins in g.instructions:
                to = self.targets.get(ins.address)
                out.append(f"    +{ins.address - base:<5} {ins.text}" + (f"   → {to}" if to else "")
                           + (f"   ; {COUNTER}" if ins.address in self.counters else ""))
        return out

    def __str__(self) -> str:
        return "\n".join([f"{self.trace.label}: {self.summary()}"] + self.lines())

    __repr__ = __str__


#: What PyPy adds at a loop's entry and at each label when ``jit-backend-counts`` is logged (the
#: course's trace viewer logs it for the run counts): ``movabs $counter,%r11; incq (%r11)``.
COUNTER = "run counter (only there because jit-backend-counts is logged)"
BODY = "← the loop body starts here: the rest runs on every iteration"
ENTRY = "entry: the code before the first operation (frame set-up, the stack check)"
FAILURES = ("failure paths: reached only when a guard fails (save the live values, then go "
            "to the interpreter or to a bridge)")


_JUMP = re.compile(r"(?:j[a-z]{1,4}|call[a-z]?)\s+0x([0-9a-f]{1,16})\b")
_ADDRESS = re.compile(r"movabs\s+\$0x([0-9a-f]{1,16}),")  # an address loaded for jmp *%r11


def align(trace: Trace, instructions: list, base: int, *, backend: Optional[str] = None,
          size: int = 0, patches: int = 0,
          where: Optional[Callable[[int], Optional[str]]] = None) -> Assembler:
    """Cut ``instructions`` (address order) at ``trace``'s operations: each operation with an
    ``+offset`` owns the instructions from ``base + offset`` to the next larger offset (the
    loop's end offset for the last); those before the first are the entry, those from the end
    offset on the failure paths. A new source line (a merge point at another line) is a title
    group of its own. Direct jumps and calls get where they go (``targets``): an offset of
    this trace, its failure paths, or what ``where(address)`` names (another loop, a bridge)."""
    asm = Assembler(trace, backend=backend, base=base, size=size, patches=patches,
                    instructions=list(instructions))
    if not instructions:
        asm.note = "no instructions"
        return asm
    asm.address = instructions[0].address
    ops = trace.ops
    labels = [op.index for op in ops if op.name == "label"]
    boundary = labels[-1] if len(labels) >= 2 else None
    starts = {ins.address for ins in instructions}
    last = instructions[-1].address + instructions[-1].size
    timed = [op for op in ops if op.offset is not None]
    asm.with_offset = len(timed)
    asm.aligned = sum(1 for op in timed if base + op.offset in starts)
    end = trace.end_offset
    limits = [op.offset for op in timed] + ([end] if end is not None else [])
    # the stretch of each op: up to the next larger offset after it
    stops = {}
    nxt = base + end if end is not None else last
    for k in range(len(timed) - 1, -1, -1):
        stops[id(timed[k])] = nxt
        if base + timed[k].offset < nxt:
            nxt = base + timed[k].offset
    pos = 0
    n = len(instructions)

    def take(stop: int) -> list:
        nonlocal pos
        got = []
        while pos < n and instructions[pos].address < stop:
            got.append(instructions[pos])
            pos += 1
        return got

    first = base + min(limits) if limits else last
    entry = take(first)
    if entry:
        asm.groups.append(AsmGroup(None, ENTRY, entry))
    at_line = None
    for op in ops:
        pre = boundary is not None and op.index < boundary
        mp = op.merge_point
        if mp is not None:
            here = (mp.filename, mp.line) if mp.function is not None else (None, mp.text)
            if here != at_line and mp.depth is not None:
                at_line = here
                asm.groups.append(AsmGroup(None, f"# {mp.where}" if mp.function is not None
                                           else f"# {mp.text[:80]}", [], pre))
            continue
        if op.offset is None:
            continue
        start = base + op.offset
        if pos < n and instructions[pos].address < start:
            # code the offsets do not account for (e.g. alignment padding): the op before
            stray = take(start)
            if asm.groups and asm.groups[-1].op is not None:
                asm.groups[-1].instructions.extend(stray)
            else:
                asm.groups.append(AsmGroup(None, "(between operations)", stray, pre))
        asm.groups.append(AsmGroup(op, BODY if op.index == boundary else "",
                                   take(stops[id(op)]), pre))
    rest = take(last + 1)
    if rest:
        asm.groups.append(AsmGroup(None, FAILURES if end is not None else "(after the last "
                                   "operation)", rest))
    for prev, ins in zip(instructions, instructions[1:]):
        if ins.text.startswith("incq") and ins.text.endswith("(%r11)") and \
                prev.text.startswith("movabs") and prev.text.endswith(",%r11"):
            asm.counters.update((prev.address, ins.address))
    body_end = base + end if end is not None else last
    for ins in instructions:
        m = _JUMP.match(ins.text)
        if m is None:
            m = _ADDRESS.match(ins.text)
            if m is None or where is None or ins.address in asm.counters:
                continue
            text = where(int(m[1], 16))
            if text:
                asm.targets[ins.address] = text
            continue
        target = int(m[1], 16)
        if asm.address <= target < body_end:
            asm.targets[ins.address] = f"+{target - base}"
        elif body_end <= target < last:
            asm.targets[ins.address] = "a failure path"
        elif where is not None:
            text = where(target)
            if text:
                asm.targets[ins.address] = text
    return asm
