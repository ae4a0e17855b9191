"""The trace viewer: what PyPy's JIT compiled, mapped back to the learner's own source lines.

A Python 3 successor to jitviewer, reading the course's parsed PYPYLOG
(:mod:`helpers.pypylog`) and never the log text itself:

* **Model.** :func:`view` takes a :class:`~helpers.pypylog.PypyLog` and ranks its loops and
  bridges by how often they ran (``jit-backend-counts``). Each shown trace
  (:class:`TraceInfo`) is cut into :class:`Block` s at its ``debug_merge_point`` s: one block
  per visit of a source line, inlined calls nested under the line that made them (with their
  call depth). The blocks of the trace's own function(s) are then laid out in source order
  (:class:`Frame` of :class:`SourceLine`), so each line of the learner's code holds the
  operations compiled for it. Each line counts what a learner looks for (:class:`Counts`):
  allocations that survived optimization (``new``, ``new_with_vtable``, ``new_array`` …),
  residual calls (``call_*``) and guards by kind. Guards are tied to the bridges that leave
  them, with how often each bridge ran.
* **View.** :class:`Traces` shows itself in JupyterLab (``_repr_html_``) and writes a
  standalone page (:meth:`Traces.to_html`): a loop list, then for each shown trace the source
  with the hot lines marked and each line's operations folded under it (``<details>``),
  guards with a bridge highlighted and linked to it, and filters (hide debug_merge_points;
  only guards / calls / allocations) that are CSS-only checkboxes (a few lines of script only
  open the matching lines). Self-contained: no network, no server; every text from the log or
  a source file is escaped.
* **Entry points.** :func:`trace` (runs PyPy), ``%%jitview`` (:mod:`helpers.magics`) and
  ``python -m helpers traces script.py -o traces.html`` (:mod:`helpers.cli`).

Loops in PyPy 7.3 logs have a *preamble*: the operations up to the last ``label`` are the
first iteration (run once per entry into the loop), the ones after it the loop body (run every
iteration). A line's counts are of the body; the preamble's are kept apart.
"""

from __future__ import annotations

import ast
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .display import page, write_page
from .formatting import tally as _tally
from .nursery import describe_runs
from .pypylog import (ALLOC_OPS, Counts, Loop, MergePoint, PypyLog, Trace, capture, op_kind,
                      parse)
from .traceview import render

__all__ = ["trace", "view", "view_traces", "Traces", "TraceInfo", "Frame", "SourceLine", "Block", "Counts",
           "op_kind", "ALLOC_OPS", "CATEGORIES", "DEFAULT_TOP"]

#: What :func:`trace` asks PYPYLOG for: the optimized traces, their counters, the summary.
CATEGORIES = ("jit-log-opt", "jit-backend-counts", "jit-summary")
DEFAULT_TOP = 10
#: Operations that allocate: if they are still in an optimized trace, the object escaped.
_MAX_FULL_FUNCTION = 150  # show a whole function's source up to this many lines


# ============================================================================ model


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


class _Sources:
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


def _frames(roots: list, sources: _Sources) -> list:
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


def _info(rank: int, trace: Trace, sources: _Sources) -> TraceInfo:
    if trace.text is None:
        return TraceInfo(rank, trace, [], [], Counts(), {}, False)
    roots, has_preamble = _blocks(trace)
    counts = Counts()
    for op in trace.ops:
        counts.add(op)
    bridges = {b.guard: b for b in trace.bridges}
    return TraceInfo(rank, trace, roots, _frames(roots, sources), counts, bridges, has_preamble)


# ============================================================================ view


class Traces:
    """The traces of one PyPy run, ranked by runs, with the ``top`` of them mapped to source.

    ``ranked`` are all loops and bridges, most run first; ``shown`` the :class:`TraceInfo` of
    the first ``top`` (all with ``top=None``); ``left_out`` how many are not shown. ``stdout``
    is what the program printed (when :func:`trace` ran it)."""

    def __init__(self, log: PypyLog, *, top: Optional[int] = DEFAULT_TOP,
                 sources: Optional[dict] = None, title: str = "PyPy traces",
                 stdout: str = "", command: str = "", notes=()):
        self.log = log
        self.title = title
        self.stdout = stdout
        self.command = command
        self.notes = list(notes)  # facts to read it by, e.g. the nursery PyPy ran with
        self._sources = _Sources(sources)
        self.ranked = sorted(log.loops + log.bridges, key=lambda t: (-t.runs, t.start))
        self.top = top
        chosen = self.ranked if top is None else self.ranked[:max(0, top)]
        self.shown = [_info(i + 1, t, self._sources) for i, t in enumerate(chosen)]
        self.left_out = len(self.ranked) - len(self.shown)

    # -- evidence

    @property
    def hot_loop(self) -> Optional[TraceInfo]:
        """The shown loop (not bridge) that ran most, or None when no loop was compiled."""
        loops = [info for info in self.shown if isinstance(info.trace, Loop)]
        return min(loops, key=lambda info: info.rank) if loops else None

    @property
    def aborts(self) -> dict:
        """Why tracing was given up, reason -> count (from ``jit-summary``; only reasons that
        happened): e.g. ``{"trace too long": 3}``. Empty without a summary."""
        summary = self.log.summary
        if summary is None:
            return {}
        return {reason: n for reason, n in summary.aborts.items() if n}

    def evidence(self) -> str:
        """One line on what the JIT made of the run: loops and bridges compiled, tracing
        aborts, and what one iteration of the hottest loop does (operations, guards, calls,
        allocations that survived optimization)."""
        n_loops, n_bridges = len(self.log.loops), len(self.log.bridges)
        text = (f"{n_loops} loop{'s' * (n_loops != 1)} and {n_bridges} "
                f"bridge{'s' * (n_bridges != 1)} compiled")
        if self.aborts:
            text += "; tracing aborted: " + _tally(self.aborts)
        info = self.hot_loop
        if info is None:
            return text + "; no loop was compiled"
        c = info.body_counts

        def some(n, what, kinds):
            return f"{n} {what}{'s' * (n != 1)}" + (f" ({_tally(kinds)})" if kinds else "")

        return (f"{text}; hottest loop ({info.label} in {info.where}) ran {info.runs:,} "
                f"times, each time {c.ops} operations: {c.n_guards} guards, "
                f"{some(c.n_calls, 'call', c.calls)}, "
                f"{some(c.n_allocs, 'allocation', c.allocs)}")

    # -- text

    def headline(self) -> str:
        n_loops, n_bridges = len(self.log.loops), len(self.log.bridges)
        text = (f"{n_loops} loop{'s' * (n_loops != 1)} and {n_bridges} "
                f"bridge{'s' * (n_bridges != 1)} compiled")
        if not self.ranked:
            return text + ": nothing was compiled (did the program run long enough to warm up?)"
        text += f"; showing the {len(self.shown)} that ran most"
        if self.left_out:
            text += f" ({self.left_out} more left out: pass all=True or --all to see them)"
        if self.log.counts is None:
            text += "; no jit-backend-counts in the log, so no run counts"
        return text

    def __str__(self) -> str:
        rows = [self.headline()]
        for info in self.shown:
            c = info.counts
            rows.append(f"  #{info.rank:<3} {info.label:34} {info.runs:>12,} runs  "
                        f"{c.ops:>5} ops {c.n_guards:>4} guards {len(info.bridges):>3} bridges"
                        f" {c.n_calls:>3} calls {c.n_allocs:>3} allocs  {info.where}")
        rows += [f"Note: {n}" for n in self.notes]
        return "\n".join(rows)

    __repr__ = __str__

    def info(self, trace_or_rank) -> TraceInfo:
        """The shown :class:`TraceInfo` by rank (1 = ran most) or by its trace."""
        for info in self.shown:
            if info.rank == trace_or_rank or info.trace is trace_or_rank:
                return info
        raise KeyError(f"{trace_or_rank!r} is not among the shown traces")

    # -- HTML

    def _repr_html_(self) -> str:
        return self.html_fragment()

    def html_fragment(self) -> str:
        """The view as a fragment (its own ``<style>``, ids unique to this rendering)."""
        return render(self, "tv" + secrets.token_hex(4))

    def to_html(self, path: Union[str, os.PathLike, None] = None) -> str:
        """A standalone page (UTF-8, no external resources); written to ``path`` if given."""
        return write_page(path, page(self.title, render(self, "tv")))

    save = to_html




# ============================================================================ entry points


def view(log: Union[PypyLog, str, os.PathLike], *, top: Optional[int] = DEFAULT_TOP,
         all: bool = False, sources: Optional[dict] = None, **kwargs) -> Traces:
    """The viewer for a parsed log (or a log file, parsed here). ``top`` traces are mapped to
    source (``all=True``: every one). ``sources`` maps file names in the log to source text
    (for files that are gone, e.g. a snippet's temp file)."""
    if not isinstance(log, PypyLog):
        log = parse(log)
    return Traces(log, top=None if all else top, sources=sources, **kwargs)


def trace(code: Union[str, os.PathLike, None] = None, *, script=None, args=(),
          top: Optional[int] = DEFAULT_TOP, all: bool = False, jit: Optional[str] = None,
          env: Optional[dict] = None, timeout: Optional[float] = 60.0, interpreter="pypy",
          cwd=None, keep=None, check: bool = True) -> Traces:
    """Run a snippet (``code``) or a script (``script=``, or ``code`` naming an existing
    ``.py`` file) once on PyPy with the JIT's traces logged, and return the viewer
    (:class:`Traces`): in Jupyter it shows itself, ``.to_html(path)`` writes a page.

    ``args`` go to the script; ``jit``, ``env``, ``timeout``, ``cwd`` to
    :func:`helpers.runner.run`; ``keep`` saves the raw log. The run must warm up to compile
    anything: a loop needs about a thousand iterations."""
    __tracebackhide__ = True
    if script is None and code is not None and (
            isinstance(code, os.PathLike) or ("\n" not in code and code.endswith(".py")
                                              and os.path.isfile(code))):
        code, script = None, code
    cap = capture(code, script=script, categories=CATEGORIES, args=args, env=env, jit=jit,
                  timeout=timeout, interpreter=interpreter, cwd=cwd, keep=keep, check=check)
    sources = {}
    if code is not None:
        # the snippet ran from a temp file that is gone now: give its text to the viewer
        for t in cap.log.loops + cap.log.bridges:
            mp = t.location
            if mp is not None and mp.filename and os.path.basename(mp.filename) == \
                    "snippet.py" and not os.path.exists(mp.filename):
                sources[mp.filename] = code
        if not sources:
            for t in cap.log.loops + cap.log.bridges:
                for mp in t.merge_points:
                    if mp.filename and os.path.basename(mp.filename) == "snippet.py":
                        sources[mp.filename] = code
                        break
                if sources:
                    break
    what = f"script {script}" if script is not None else "a snippet"
    return Traces(cap.log, top=None if all else top, sources=sources, stdout=cap.run.stdout,
                  title=f"PyPy traces of {os.path.basename(str(script)) if script else 'a snippet'}",
                  notes=describe_runs([cap.run]),
                  command=f"traces of {what}, run once on {cap.run.interpreter.label} "
                          f"({cap.run.wall:.2f} s wall)")


#: The name ``helpers`` exports :func:`view` under.
view_traces = view
