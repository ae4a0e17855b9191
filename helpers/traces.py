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
from .formatting import escape as _e
from .nursery import describe_runs
from .pypylog import Bridge, Loop, MergePoint, PypyLog, Trace, capture, parse

__all__ = ["trace", "view", "view_traces", "Traces", "TraceInfo", "Frame", "SourceLine", "Block", "Counts",
           "op_kind", "ALLOC_OPS", "CATEGORIES", "DEFAULT_TOP"]

#: What :func:`trace` asks PYPYLOG for: the optimized traces, their counters, the summary.
CATEGORIES = ("jit-log-opt", "jit-backend-counts", "jit-summary")
DEFAULT_TOP = 10
#: Operations that allocate: if they are still in an optimized trace, the object escaped.
ALLOC_OPS = frozenset({"new", "new_with_vtable", "new_array", "new_array_clear", "newstr",
                       "newunicode"})
_MAX_FULL_FUNCTION = 150  # show a whole function's source up to this many lines


def op_kind(name: str) -> str:
    """``"dmp"``, ``"guard"``, ``"call"``, ``"alloc"``, ``"label"``, ``"jump"`` or ``"op"``."""
    if name == "debug_merge_point":
        return "dmp"
    if name.startswith("guard_"):
        return "guard"
    if name.startswith("call_") or name.startswith("cond_call"):
        return "call"
    if name in ALLOC_OPS:
        return "alloc"
    if name in ("label", "jump"):
        return name
    return "op"


# ============================================================================ model


@dataclass
class Counts:
    """What a learner looks for in some operations: ``ops`` (all but debug_merge_points),
    ``guards``/``calls``/``allocs`` as name -> count."""

    ops: int = 0
    guards: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    allocs: dict = field(default_factory=dict)

    def add(self, op) -> None:
        kind = op_kind(op.name)
        if kind == "dmp":
            return
        self.ops += 1
        bucket = {"guard": self.guards, "call": self.calls, "alloc": self.allocs}.get(kind)
        if bucket is not None:
            bucket[op.name] = bucket.get(op.name, 0) + 1

    def merge(self, other: "Counts") -> None:
        self.ops += other.ops
        for mine, theirs in ((self.guards, other.guards), (self.calls, other.calls),
                             (self.allocs, other.allocs)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v

    @property
    def n_guards(self) -> int:
        return sum(self.guards.values())

    @property
    def n_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def n_allocs(self) -> int:
        return sum(self.allocs.values())


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
            text += "; tracing aborted: " + _kinds(self.aborts)
        info = self.hot_loop
        if info is None:
            return text + "; no loop was compiled"
        c = info.body_counts

        def some(n, what, kinds):
            return f"{n} {what}{'s' * (n != 1)}" + (f" ({_kinds(kinds)})" if kinds else "")

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
        return _Renderer(self, "tv" + secrets.token_hex(4)).render()

    def to_html(self, path: Union[str, os.PathLike, None] = None) -> str:
        """A standalone page (UTF-8, no external resources); written to ``path`` if given."""
        return write_page(path, page(self.title, _Renderer(self, "tv").render()))

    save = to_html




_CSS = """
.pypy-tv{font:14px/1.35 system-ui,sans-serif;color:#1b1b1b;background:#fff;max-width:1300px}
.pypy-tv code,.pypy-tv .o{font:12.5px/1.35 ui-monospace,Menlo,Consolas,monospace}
.pypy-tv table.tv-list{border-collapse:collapse;margin:.4em 0}
.pypy-tv .tv-list th,.pypy-tv .tv-list td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}
.pypy-tv .tv-list td.l,.pypy-tv .tv-list th.l{text-align:left}
.pypy-tv .tv-list tr:hover{background:#f3f6fb}
.pypy-tv .tv-filters{display:inline-block;margin:.6em .6em .6em 0;font-weight:600}
.pypy-tv .tv-filters label{margin-right:1em}
.pypy-tv section.tv-trace{border-top:2px solid #888;margin-top:1.2em;padding-top:.2em}
.pypy-tv h3{margin:.3em 0;font-size:16px}
.pypy-tv .tv-sub{color:#555;margin:.2em 0 .5em}
.pypy-tv .tv-fh{font-weight:600;margin:.6em 0 .2em;color:#333}
.pypy-tv .tv-ln{display:block;margin:0;border-left:6px solid transparent;padding-left:4px}
.pypy-tv div.tv-ln{color:#888}
.pypy-tv .tv-ln>summary{cursor:pointer;list-style-position:inside}
.pypy-tv .h1{border-left-color:#fde0b0;background:#fffaf0}
.pypy-tv .h2{border-left-color:#f9b25c;background:#fff4e3}
.pypy-tv .h3{border-left-color:#e8590c;background:#ffe9d6}
.pypy-tv .cold{border-left-color:#d6e4f0}
.pypy-tv .no{display:inline-block;min-width:3.2em;text-align:right;color:#777;margin-right:.6em}
.pypy-tv .src{white-space:pre}
.pypy-tv .bd{margin-left:1em;font-size:12px}
.pypy-tv .bd span{display:inline-block;padding:0 5px;margin-right:3px;border-radius:8px;background:#e9ecef}
.pypy-tv .bd .bg{background:#fff3bf}.pypy-tv .bd .bc{background:#d0ebff}.pypy-tv .bd .ba{background:#ffd8d8}
.pypy-tv .bd .bb{background:#d3f9d8}
.pypy-tv .tv-blk{margin:.15em 0 .3em 4.2em;border-left:2px solid #ccc;padding-left:.5em}
.pypy-tv .tv-blk.pre{border-left-style:dashed;opacity:.8}
.pypy-tv .tv-bn{font-size:12px;color:#666;font-style:italic}
.pypy-tv details.tv-inl{margin:.1em 0 .1em 1em;border-left:2px solid #9bc;padding-left:.4em}
.pypy-tv details.tv-inl>summary{cursor:pointer;color:#246}
.pypy-tv .o{white-space:pre;overflow-x:auto;margin:0}
.pypy-tv .o.d{color:#888}
.pypy-tv .o.g{background:#fff9db}
.pypy-tv .o.gb{background:#ffe066;font-weight:600}
.pypy-tv .o.c{color:#0b5394}
.pypy-tv .o.a{color:#b00020;font-weight:600}
.pypy-tv .o.lb{color:#2b8a3e;font-weight:600}
.pypy-tv .gap{color:#aaa;padding-left:4.4em}
.pypy-tv .tv-f{margin-right:.25em}
.pypy-tv .tv-f-dmp:checked~.tv-body .o.d{display:none}
.pypy-tv .tv-f-g:checked~.tv-body .o:not(.g),.pypy-tv .tv-f-c:checked~.tv-body .o:not(.c),
.pypy-tv .tv-f-a:checked~.tv-body .o:not(.a){display:none}
.pypy-tv .tv-f-g:checked~.tv-body .tv-ln:not(.has-g),.pypy-tv .tv-f-c:checked~.tv-body .tv-ln:not(.has-c),
.pypy-tv .tv-f-a:checked~.tv-body .tv-ln:not(.has-a){opacity:.35}
.pypy-tv :target{outline:3px solid #4dabf7}
"""

# Optional: open the lines that match a filter, and the folds around a link's target.
_JS = """
(function(root){if(!root)return;
function openUp(el){for(;el&&el!==root;el=el.parentElement){if(el.tagName==='DETAILS')el.open=true;}}
root.addEventListener('change',function(ev){var t=ev.target,k=t.getAttribute('data-only');
 if(!k)return;root.querySelectorAll('details.tv-ln,details.tv-inl').forEach(function(d){
 d.open=k!=='all'&&d.classList.contains('has-'+k);});});
function go(id){var el=document.getElementById(id);if(!el)return;openUp(el);
 if(el.tagName==='SECTION')el.querySelectorAll('details.h3,details.h2').forEach(function(d){d.open=true;});}
root.addEventListener('click',function(ev){var a=ev.target.closest('a[href^="#"]');if(a)go(a.getAttribute('href').slice(1));});
if(location.hash)go(decodeURIComponent(location.hash.slice(1)));
})(document.getElementById('%s'));
"""


class _Renderer:
    def __init__(self, view: Traces, uid: str):
        self.v = view
        self.uid = uid
        self.ids = {}
        for info in view.shown:
            t = info.trace
            self.ids[id(t)] = (f"{uid}-loop{t.number}" if isinstance(t, Loop)
                               else f"{uid}-bridge{t.guard:x}")

    def render(self) -> str:
        v, uid = self.v, self.uid
        out = [f'<div class="pypy-tv" id="{uid}"><style>{_CSS}</style>',
               f"<p><b>{_e(v.headline())}</b></p>"]
        if v.command:
            out.append(f'<p class="tv-sub">{_e(v.command)}</p>')
        for note in v.notes:
            out.append(f'<p class="tv-sub">{_e(note)}</p>')
        for w in v.log.warnings[:5]:
            out.append(f'<p class="tv-sub">warning: {_e(w)}</p>')
        out.append(self.table())
        out.append(self.filters())
        out.append('<div class="tv-body">')
        for info in v.shown:
            out.append(self.section(info))
        if v.left_out:
            out.append(f'<p class="tv-sub">{v.left_out} more trace(s) ran less and are left out '
                       "(trace(…, all=True), or --all on the command line).</p>")
        out.append("</div>")
        out.append(f"<script>{_JS % uid}</script></div>")
        return "".join(out)

    def link(self, trace, text) -> str:
        target = self.ids.get(id(trace))
        if target is None:
            return _e(text)
        return f'<a href="#{target}">{_e(text)}</a>'

    def table(self) -> str:
        rows = ['<table class="tv-list"><tr><th>#</th><th class="l">trace</th>'
                '<th class="l">where it starts</th><th>runs</th><th>ops</th><th>guards</th>'
                '<th>bridges</th><th>calls</th><th>allocs</th></tr>']
        for info in self.v.shown:
            c = info.counts
            rows.append(
                f"<tr><td>{info.rank}</td><td class=\"l\">{self.link(info.trace, info.label)}</td>"
                f"<td class=\"l\">{_e(info.where)}</td><td>{info.runs:,}</td><td>{c.ops}</td>"
                f"<td>{c.n_guards}</td><td>{len(info.bridges)}</td><td>{c.n_calls}</td>"
                f"<td>{c.n_allocs}</td></tr>")
        rows.append("</table>")
        return "".join(rows)

    def filters(self) -> str:
        u = self.uid
        parts = [f'<input type="checkbox" class="tv-f tv-f-dmp" id="{u}-fd">'
                 f'<label for="{u}-fd">hide debug_merge_points</label>']
        for key, text, checked in (("all", "all operations", True), ("g", "only guards", False),
                                   ("c", "only calls", False), ("a", "only allocations", False)):
            parts.append(f'<input type="radio" name="{u}-only" class="tv-f tv-f-{key}" '
                         f'id="{u}-f{key}" data-only="{key}"{" checked" if checked else ""}>'
                         f'<label for="{u}-f{key}">{text}</label>')
        # the inputs must be siblings of .tv-body for the CSS-only filters
        return ('<div class="tv-filters">Show:</div>' + "".join(parts)
                + '<div class="tv-sub">Click a line to see its operations. Guards with a bridge '
                'are yellow, residual calls blue, allocations red; the bar on the left is how '
                'many operations run for the line in each pass.</div>')

    def section(self, info: TraceInfo) -> str:
        t = info.trace
        c = info.counts
        sid = self.ids[id(t)]
        out = [f'<section class="tv-trace" id="{sid}"><h3>#{info.rank} {_e(info.label)} · '
               f"{_e(info.where)} · {info.runs:,} runs</h3>"]
        sub = [f"{c.ops} operations, {c.n_guards} guards, {c.n_calls} residual calls, "
               f"{c.n_allocs} allocations"]
        if isinstance(t, Bridge):
            origin = t.origin
            if t.parent is not None:
                sub.append(f"leaves {'guard ' + origin.name if origin else 'a guard'} "
                           f"0x{t.guard:x} of {self.link(t.parent, t.parent.label)}")
            else:
                sub.append(f"leaves guard 0x{t.guard:x} (its trace is not in the log)")
        elif t.kind == "entry bridge":
            sub.append("an entry bridge: compiled for entering this code from the interpreter")
        if info.bridges:
            sub.append(f"{len(info.bridges)} bridge(s) leave its guards")
        if info.has_preamble:
            sub.append("dashed: the preamble (first iteration, once per entry); counts on the "
                       "lines are of the loop body")
        out.append('<p class="tv-sub">' + "; ".join(
            s if "<a " in s else _e(s) for s in sub) + "</p>")
        if t.text is None:
            out.append('<p class="tv-sub">the log was parsed without operations</p></section>')
            return "".join(out)
        heat_max = max((ln.counts.ops for f in info.frames for ln in f.lines
                        if ln is not None), default=0)
        for block in info.blocks:
            if block.merge_point is None:
                n = sum(1 for op in block.ops if op_kind(op.name) != "dmp")
                out.append(f'<details class="tv-ln cold"><summary><span class="no"></span>'
                           f"<i>{n} operation{'s' * (n != 1)} before the first merge point "
                           "(reading the frame's state)</i></summary>")
                out.append(self.block(info, block, note="") + "</details>")
        for frame in info.frames:
            if frame.filename is None:
                fn = frame.function or "?"
                head = ((fn if len(fn) <= 80 else fn[:79] + "…")
                        + " — not Python code (another JIT driver, e.g. the regex engine)")
            elif self.v._sources.lines(frame.filename) is None:
                head = f"{frame.function} — {frame.filename} (source not available)"
            else:
                head = f"{frame.function} — {frame.filename}"
            out.append(f'<div class="tv-fh">{_e(head)}</div>')
            for ln in frame.lines:
                out.append('<div class="gap">⋮</div>' if ln is None
                           else self.line(info, ln, heat_max))
        out.append("</section>")
        return "".join(out)

    def badges(self, c: Counts, pre: Counts, n_bridges: int) -> str:
        b = []
        if c.ops:
            b.append(f"<span>{c.ops} ops</span>")
        if c.n_guards:
            b.append(f'<span class="bg" title="{_e(_kinds(c.guards))}">{c.n_guards} '
                     f'guard{"s" * (c.n_guards != 1)}</span>')
        if c.n_calls:
            b.append(f'<span class="bc" title="{_e(_kinds(c.calls))}">{c.n_calls} '
                     f'call{"s" * (c.n_calls != 1)}</span>')
        if c.n_allocs:
            b.append(f'<span class="ba" title="{_e(_kinds(c.allocs))}">{c.n_allocs} '
                     f'alloc{"s" * (c.n_allocs != 1)}</span>')
        if n_bridges:
            b.append(f'<span class="bb">{n_bridges} bridge{"s" * (n_bridges != 1)}</span>')
        if pre.ops:
            b.append(f"<span>+{pre.ops} in preamble</span>")
        return '<span class="bd">' + "".join(b) + "</span>"

    def line(self, info: TraceInfo, ln: SourceLine, heat_max: int) -> str:
        num = ln.line if ln.line is not None else ""
        src = ln.text if ln.text is not None else (
            "" if ln.line is not None else "(all of it)")
        head = f'<span class="no">{num}</span><code class="src">{_e(src)}</code>'
        if not ln.traced:
            return f'<div class="tv-ln">{head}</div>'
        total = Counts()
        total.merge(ln.counts)
        total.merge(ln.preamble_counts)
        n_bridges = sum(1 for blk in ln.blocks for op in blk.all_ops()
                        if op.is_guard and op.guard_id in info.bridges)
        cls = ["tv-ln"]
        if ln.counts.ops:
            ratio = ln.counts.ops / heat_max if heat_max else 0
            cls.append("h3" if ratio > 0.5 else "h2" if ratio > 0.15 else "h1")
        else:
            cls.append("cold")
        cls += [f"has-{k}" for k, n in (("g", total.n_guards), ("c", total.n_calls),
                                          ("a", total.n_allocs)) if n]
        out = [f'<details class="{" ".join(cls)}"><summary>{head}'
               f"{self.badges(ln.counts, ln.preamble_counts, n_bridges)}</summary>"]
        for block in ln.blocks:
            out.append(self.block(info, block, note="preamble" if block.preamble else ""))
        out.append("</details>")
        return "".join(out)

    def block(self, info: TraceInfo, block: Block, note: str) -> str:
        out = [f'<div class="tv-blk{" pre" if block.preamble else ""}">']
        if note:
            out.append(f'<div class="tv-bn">{_e(note)}</div>')
        children = iter(block.children)
        # children are inlined after some of the ops; show them where they happen: after the
        # merge point whose index precedes the child's first op.
        pending = next(children, None)
        for op in block.ops:
            while pending is not None and pending.ops and pending.ops[0].index < op.index:
                out.append(self.inlined(info, pending))
                pending = next(children, None)
            out.append(self.op(info, op))
        while pending is not None:
            out.append(self.inlined(info, pending))
            pending = next(children, None)
        out.append("</div>")
        return "".join(out)

    def inlined(self, info: TraceInfo, block: Block) -> str:
        mp = block.merge_point
        c = block.counts()
        cls = ["tv-inl"] + [f"has-{k}" for k, n in (("g", c.n_guards), ("c", c.n_calls),
                                                     ("a", c.n_allocs)) if n]
        src = self.v._sources.text(mp.filename, mp.line) if mp is not None else None
        where = mp.where if mp is not None else "?"
        text = f"inlined, depth {block.depth}: {where}"
        out = [f'<details class="{" ".join(cls)}"><summary>{_e(text)} '
               f'<code class="src">{_e((src or "").strip())}</code>'
               f"{self.badges(c, Counts(), 0)}</summary>", self.block(info, block, note=""),
               "</details>"]
        return "".join(out)

    def op(self, info: TraceInfo, op) -> str:
        kind = op_kind(op.name)
        if kind == "dmp":
            mp = op.merge_point
            text = (f"#{mp.offset} {mp.opname}" if mp is not None and mp.opname
                    else op.text.strip())
            return f'<div class="o d">{_e(text)}</div>'
        cls = {"guard": "o g", "call": "o c", "alloc": "o a", "label": "o lb",
               "jump": "o lb"}.get(kind, "o")
        text = _e(op.text.strip())
        if kind == "guard" and op.guard_id in info.bridges:
            bridge = info.bridges[op.guard_id]
            cls += " gb"
            text += " → " + self.link(bridge, f"bridge, ran {bridge.runs:,} times") \
                if id(bridge) in self.ids else \
                f" → bridge, ran {bridge.runs:,} times (not shown)"
        elif kind == "label" and info.has_preamble and op.index == _last_label(info):
            text += "   ← the loop body starts here"
        return f'<div class="{cls}">{text}</div>'


def _last_label(info: TraceInfo) -> Optional[int]:
    cached = getattr(info, "_last_label", None)
    if cached is None:
        cached = max((op.index for op in info.trace.ops if op.name == "label"), default=-1)
        info._last_label = cached
    return cached


def _kinds(d: dict) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))


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
