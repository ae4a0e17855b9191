"""The whole log at once: :func:`parse` gives a :class:`PypyLog` (sections, traces, GC events,
times per category, the clock that turned ticks into seconds) that shows itself as text and HTML."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..display import warnings_html, warnings_lines
from ..formatting import format_seconds
from ..formatting import plural as _plural
from .ops import Bridge, Loop, parse_trace
from .scan import SectionNode, _scan
from .sections import (BackendCounts, JitSummary, _gc_done, _gc_minor, _gc_step,
                       parse_backend_counts, parse_summary, parse_tracing)

# ============================================================================ the whole log


@dataclass(frozen=True, slots=True)
class CategoryTime:
    """Time in one section name over the whole log, in ticks. ``inclusive`` counts only the
    outermost section of that name (a name nested in itself is not counted twice);
    ``exclusive`` leaves out the time of nested sections of other names."""

    name: str
    count: int
    inclusive: int
    exclusive: int


@dataclass(eq=False)
class PypyLog:
    """A parsed PYPYLOG. Build it with :func:`parse`.

    ``tree`` is the root :class:`SectionNode` (sections aggregated by path of names);
    ``categories`` maps each section name to its :class:`CategoryTime`. ``loops`` and
    ``bridges`` are the traces of ``jit-log-opt-*`` in log order; ``summary`` the
    :class:`JitSummary` and ``counts`` the :class:`BackendCounts` (None if not logged).
    ``gc_minor``, ``gc_steps``, ``gc_done``: the GC's events. ``tmp_callbacks`` counts loops the
    backend compiled without logging them (``allocating Loop # -1`` in
    ``jit-mem-looptoken-alloc``: PyPy's temporary callbacks for calls to functions not yet
    compiled); None when that section was not logged. Ticks convert to seconds with
    :meth:`seconds` (see :attr:`clock`). ``warnings`` name anything odd about the input.
    """

    source: Optional[str]
    tree: SectionNode
    first_tick: Optional[int]
    last_tick: Optional[int]
    markers: int
    loops: list
    bridges: list
    summary: Optional[JitSummary]
    counts: Optional[BackendCounts]
    gc_minor: list
    gc_steps: list
    gc_done: list
    aborts: list
    tmp_callbacks: Optional[int]
    wall_seconds: Optional[float]
    seconds_per_tick: Optional[float]
    clock: str
    warnings: list
    unclosed: tuple = ()
    categories_logged: Optional[tuple] = None
    #: ``"co_name;file:firstlineno"`` -> how many ``jit-tracing`` sections traced its code
    #: (attempts that were compiled and attempts that aborted alike).
    traced: dict = field(default_factory=dict)
    _categories: Optional[dict] = field(default=None, repr=False)

    # -- basic facts

    @property
    def empty(self) -> bool:
        return self.markers == 0

    @property
    def truncated(self) -> bool:
        return bool(self.unclosed)

    @property
    def span_ticks(self) -> int:
        if self.first_tick is None or self.last_tick is None:
            return 0
        return self.last_tick - self.first_tick

    def seconds(self, ticks) -> Optional[float]:
        """Ticks as seconds (None if the log could not be calibrated: see :attr:`clock`)."""
        if ticks is None or self.seconds_per_tick is None:
            return None
        return ticks * self.seconds_per_tick

    @property
    def categories(self) -> dict:
        """Section name -> :class:`CategoryTime` (the ``gettotaltimes`` idea), most time first."""
        if self._categories is None:
            self._categories = _category_times(self.tree)
        return self._categories

    @property
    def traces(self) -> list:
        """Loops and bridges together, in log order."""
        return sorted(self.loops + self.bridges, key=lambda t: t.start)

    @property
    def compiled_loops(self) -> int:
        """Loops the backend compiled, counted the way ``jit-summary`` counts them: every logged
        loop and entry bridge, plus the temporary callbacks that PyPy compiles without logging."""
        return len(self.loops) + (self.tmp_callbacks or 0)

    @property
    def compiled_bridges(self) -> int:
        """Bridges the backend compiled (retraces that attach to a guard included), as
        ``jit-summary`` counts them."""
        return len(self.bridges)

    def loop(self, number: int) -> Loop:
        for loop in self.loops:
            if loop.number == number:
                return loop
        raise KeyError(f"no Loop {number} in this log")

    def hottest(self, n: int = 10) -> list:
        """The ``n`` loops and bridges that ran most (see :attr:`Trace.runs`)."""
        return sorted(self.traces, key=lambda t: t.runs, reverse=True)[:n]

    # -- tables

    def category_frame(self):
        """One row per section name: count, inclusive and exclusive ticks and seconds."""
        import pandas as pd

        rows = [{"category": c.name, "count": c.count, "inclusive_ticks": c.inclusive,
                 "exclusive_ticks": c.exclusive, "inclusive_s": self.seconds(c.inclusive),
                 "exclusive_s": self.seconds(c.exclusive)}
                for c in self.categories.values()]
        return pd.DataFrame(rows, columns=["category", "count", "inclusive_ticks",
                                           "exclusive_ticks", "inclusive_s", "exclusive_s"])

    def traces_frame(self):
        """One row per loop and bridge: kind, id, where it starts, runs, ops, guards, parent."""
        import pandas as pd

        rows = []
        for t in self.traces:
            loc = t.location
            rows.append({
                "trace": t.label, "kind": t.kind,
                "number": t.number if isinstance(t, Loop) else None,
                "guard": f"0x{t.guard:x}" if isinstance(t, Bridge) else None,
                "function": loc.function if loc else None,
                "file": loc.filename if loc else None,
                "line": (loc.line if loc.line is not None else loc.first_line) if loc else None,
                "where": t.where, "runs": t.runs, "count": t.count, "ops": t.n_ops,
                "guards": len(t.guard_ids), "bridges": len(t.bridges),
                "parent": t.parent.label if isinstance(t, Bridge) and t.parent else None,
            })
        return pd.DataFrame(rows, columns=["trace", "kind", "number", "guard", "function", "file",
                                           "line", "where", "runs", "count", "ops", "guards",
                                           "bridges", "parent"])

    def format_tree(self, min_fraction: float = 0.001, max_depth: int = 6) -> str:
        """The section tree as indented text, with count and inclusive/exclusive time."""
        total = sum(c.inclusive for c in self.tree.children.values()) or 1
        lines = []
        todo = [(node, 0) for node in reversed(_by_time(self.tree))]
        while todo:
            node, depth = todo.pop()
            if node.inclusive / total < min_fraction and node.count and depth:
                continue
            lines.append(f"{'  ' * depth}{node.name}  ×{node.count:,}  "
                         f"incl {self._fmt_ticks(node.inclusive)}  "
                         f"excl {self._fmt_ticks(node.exclusive)}")
            if depth + 1 < max_depth:
                todo.extend((child, depth + 1) for child in reversed(_by_time(node)))
        return "\n".join(lines)

    def _fmt_ticks(self, ticks: int) -> str:
        s = self.seconds(ticks)
        if s is None:
            return f"{ticks:,} ticks"

        return format_seconds(s)

    # -- display

    def headline(self) -> str:
        if self.empty:
            logged = (f" for categories {','.join(self.categories_logged)}"
                      if self.categories_logged else "")
            return (f"The log is empty: PyPy wrote no sections{logged}. Did the program run "
                    "long enough for the JIT (about 1000 loop iterations), and are the category "
                    "names right (prefixes such as jit-log-opt, gc-minor)?")
        span = self.seconds(self.span_ticks)
        span = f"{span:.3f} s" if span is not None else f"{self.span_ticks:,} ticks"
        return (f"PYPYLOG with {self.markers:,} markers over {span}: "
                f"{_plural(len(self.loops), 'loop')}, {_plural(len(self.bridges), 'bridge')}, "
                f"{_plural(len(self.gc_minor), 'minor collection')}, "
                f"{_plural(len(self.gc_steps), 'major GC step')}"
                + (" (truncated)" if self.truncated else "") + ".")

    def __str__(self) -> str:
        lines = [self.headline()]
        if not self.empty:
            lines.append(f"  clock: {self.clock}")
            top = list(self.categories.values())[:8]
            if top:
                lines.append("  time by section (inclusive / exclusive):")
                for c in top:
                    lines.append(f"    {c.name:<28} ×{c.count:<7,} "
                                 f"{self._fmt_ticks(c.inclusive):>10} / "
                                 f"{self._fmt_ticks(c.exclusive):>10}")
            s = self.summary
            if s is not None:
                lines.append(f"  jit-summary: {s.loops} loops, {s.bridges} bridges, tracing "
                             f"{s.tracing_seconds} s, backend {s.backend_seconds} s, "
                             f"aborts {sum(s.aborts.values())}")
            for t in self.hottest(5):
                if t.runs:
                    lines.append(f"    {t.label:<34} {t.runs:>12,} runs  {t.where}")
        lines += warnings_lines(self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<PypyLog {self.source or '(text)'}: {self.markers:,} markers, "
                f"{len(self.loops)} loops, {len(self.bridges)} bridges, "
                f"{len(self.gc_minor)} minor GCs, {len(self.warnings)} warnings>")

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.headline())}</b></p>"]
        if not self.empty:
            parts.append(f"<p>Clock: {html.escape(self.clock)}</p>")
            frame = self.category_frame().head(12)
            frame = frame.assign(
                inclusive=[self._fmt_ticks(x) for x in frame["inclusive_ticks"]],
                exclusive=[self._fmt_ticks(x) for x in frame["exclusive_ticks"]],
            )[["category", "count", "inclusive", "exclusive"]]
            parts.append(frame.to_html(index=False, escape=True))
            hot = [t for t in self.hottest(8) if t.runs]
            if hot:
                rows = "".join(f"<tr><td>{html.escape(t.label)}</td><td>{t.runs:,}</td>"
                               f"<td>{html.escape(t.where)}</td></tr>" for t in hot)
                parts.append("<table><tr><th>hottest</th><th>runs</th><th>where</th></tr>"
                             f"{rows}</table>")
        parts.append(warnings_html(self.warnings))
        return "<div>" + "\n".join(p for p in parts if p) + "</div>"



def _by_time(node: SectionNode) -> list:
    return sorted(node.children.values(), key=lambda n: n.inclusive, reverse=True)


def _category_times(root: SectionNode) -> dict:
    count, incl, excl = {}, {}, {}
    todo = [(child, frozenset()) for child in root.children.values()]
    while todo:
        node, above = todo.pop()
        name = node.name
        count[name] = count.get(name, 0) + node.count
        excl[name] = excl.get(name, 0) + node.exclusive
        if name not in above:
            incl[name] = incl.get(name, 0) + node.inclusive
        if node.children:
            inner = above if name in above else above | {name}
            todo.extend((child, inner) for child in node.children.values())
    times = [CategoryTime(n, count[n], incl.get(n, 0), excl[n]) for n in count]
    times.sort(key=lambda c: (-c.inclusive, c.name))
    return {c.name: c for c in times}


def parse(source, *, wall_seconds: Optional[float] = None, keep_ops: bool = True,
          clock: str = "auto", tick_hz: Optional[float] = None,
          categories: Optional[Iterable[str]] = None) -> PypyLog:
    """Parse a PYPYLOG, streaming, into a :class:`PypyLog`.

    ``source`` is a path, an open file, lines (str or bytes) or the text of a log (a str with
    a newline in it). ``wall_seconds`` is the run's wall time. Ticks become seconds (``clock``):
    "span" scales the log's span (first to last marker) to ``wall_seconds``; "tracing" uses
    the ticks of the ``jit-tracing`` sections against jit-summary's tracing and backend
    seconds (PyPy's own ``time.time`` around the same work: more exact, as start-up outside
    the log does not count); "rate" uses ``tick_hz``, the ticks per second measured by
    :func:`tick_rate`; "auto" (default) takes "rate" if ``tick_hz`` is given, else "tracing"
    when there are 5 ms of it and it agrees with the span, else "span", else jit-summary's
    TOTAL. :attr:`PypyLog.clock` says which. ``keep_ops=False`` drops the operations of loops
    and bridges (less memory). ``categories`` (what PYPYLOG asked for) is only used in messages.
    Raises :class:`PypylogError` if the input is not a PYPYLOG; an empty log gives an empty
    result that says so; anything else odd becomes a warning.
    """
    if clock not in ("auto", "span", "tracing", "rate"):
        raise ValueError(f"clock must be 'auto', 'span', 'tracing' or 'rate', not {clock!r}")
    if clock == "rate" and not tick_hz:
        raise ValueError("clock='rate' needs tick_hz= (see tick_rate())")
    loops: list = []
    bridges: list = []
    guard_owner: dict = {}
    gc_minor: list = []
    gc_steps: list = []
    gc_done: list = []
    aborts: list = []
    state = {"summary": None, "summary_tick": None, "counts": None, "tmp": None,
             "bad_headers": 0, "verdicts": []}
    traced: dict = {}

    def on_trace(start, stop, body, complete):
        trace = parse_trace(body, start=start, stop=stop, keep_ops=keep_ops, complete=complete)
        if trace is None:
            state["bad_headers"] += 1
            return
        if isinstance(trace, Bridge):
            parent = guard_owner.get(trace.guard)
            trace.parent = parent
            if parent is not None:
                parent.bridges.append(trace)
            bridges.append(trace)
        else:
            loops.append(trace)
        for gid in trace.guard_ids:
            guard_owner[gid] = trace

    def on_summary(start, stop, body, complete):
        state["summary"] = parse_summary(body)
        state["summary_tick"] = start

    def on_counts(start, stop, body, complete):
        state["counts"] = parse_backend_counts(body)

    def on_alloc(start, stop, body, complete):
        if state["tmp"] is None:
            state["tmp"] = 0
        if "Loop # -1" in body:
            state["tmp"] += body.count("allocating Loop # -1")

    def on_tracing(start, stop, body, complete):
        found, per = parse_tracing(start, body, state["verdicts"])
        aborts.extend(found)
        state["verdicts"] = []
        for key in per:
            traced[key] = traced.get(key, 0) + 1

    def on_verdict(start, stop, body, complete):
        state["verdicts"].extend(line.strip() for line in body.split("\n") if line.strip())

    handlers = {
        "jit-log-opt-loop": on_trace,
        "jit-log-opt-bridge": on_trace,
        "jit-summary": on_summary,
        "jit-backend-counts": on_counts,
        "jit-mem-looptoken-alloc": on_alloc,
        "jit-tracing": on_tracing,
        "jit-abort-longest-function": on_verdict,
        "jit-disableinlining": on_verdict,
        "gc-minor": lambda s, e, b, c: gc_minor.append(_gc_minor(s, e, b)),
        "gc-collect-step": lambda s, e, b, c: gc_steps.append(_gc_step(s, e, b)),
        "gc-collect-done": lambda s, e, b, c: gc_done.append(_gc_done(s, e, b)),
    }
    name = None
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and "\n" in source):
        name = str(source)
    scanner = None
    for scanner in _scan(source, handlers):
        pass
    assert scanner is not None
    del guard_owner
    warnings = scanner.warnings()
    if state["bad_headers"]:
        warnings.append(f"{state['bad_headers']} jit-log-opt section(s) without a '# Loop' or "
                        "'# bridge out of Guard' header: skipped")
    counts = state["counts"]
    if counts is not None:
        _attach_counts(loops, bridges, counts)
    summary = state["summary"]
    category_times = _category_times(scanner.root)
    tracing = category_times.get("jit-tracing")
    spt, clock_text = _calibrate(scanner.first, scanner.last, wall_seconds, summary,
                                 state["summary_tick"], tracing.inclusive if tracing else 0,
                                 clock, tick_hz)
    log = PypyLog(
        source=name, tree=scanner.root, first_tick=scanner.first, last_tick=scanner.last,
        markers=scanner.markers, loops=loops, bridges=bridges, summary=summary, counts=counts,
        gc_minor=gc_minor, gc_steps=gc_steps, gc_done=gc_done, aborts=aborts,
        tmp_callbacks=state["tmp"], wall_seconds=wall_seconds, seconds_per_tick=spt,
        clock=clock_text, warnings=warnings, unclosed=tuple(scanner.unclosed),
        categories_logged=tuple(categories) if categories else None, traced=traced,
        _categories=category_times)
    if log.empty:
        log.warnings.insert(0, log.headline())
    return log


def _attach_counts(loops, bridges, counts: BackendCounts) -> None:
    """Give each trace its counters. Ids are addresses that PyPy may reuse after freeing a loop,
    so the last trace logged with an id (the live one at exit, when the counts are written)
    gets them."""
    by_number = {loop.number: loop for loop in loops}
    by_guard = {bridge.guard: bridge for bridge in bridges}
    by_token = {}
    for trace in loops + bridges:
        trace.count = None
        trace.label_counts = {}
    for trace in sorted(loops + bridges, key=lambda t: t.start):
        for token in trace.labels:
            by_token[token] = trace
    for number, count in counts.entries.items():
        if number in by_number:
            by_number[number].count = count
    for guard, count in counts.bridges.items():
        if guard in by_guard:
            by_guard[guard].count = count
    for token, count in counts.targets.items():
        if token in by_token:
            by_token[token].label_counts[token] = count


MIN_TRACING_FOR_CLOCK = 0.005  # seconds of tracing + backend needed to calibrate on them


def _calibrate(first, last, wall, summary, summary_tick, tracing_ticks, clock, tick_hz=None):
    """Seconds per tick, and a sentence saying how they were found.

    "span": the log's span (first to last marker) is the run's wall time. Simple, but the
    process's start-up before the first marker and its exit after the last are outside the
    span, so every section time comes out too long by (wall - span) / span: a few percent for
    a run of seconds, a third for a run of 0.1 s.
    "tracing": the ticks of all ``jit-tracing`` sections against jit-summary's tracing plus
    backend seconds, which PyPy measures with ``time.time`` around the same work. Within a few
    percent once there are some 5 ms of it.
    "rate": ``tick_hz`` ticks a second, measured beforehand by :func:`tick_rate`.
    "auto": "rate" if given, else "tracing" when possible, else "span", else jit-summary's TOTAL.
    """
    span = (last - first) if first is not None and last is not None else 0
    have_wall = wall is not None and wall > 0 and span > 0
    if clock in ("auto", "rate") and tick_hz:
        spt = 1.0 / tick_hz
        text = (f"timestamps are CPU ticks, converted at {tick_hz / 1e9:.3f} GHz as measured on "
                "this machine by tick_rate() (a PyPy run timing a sleep between two logged "
                "collections)")
        if have_wall:
            text += (f"; the log covers {span * spt:.3f} s of the run's {wall:.3f} s wall time "
                     "(the rest is start-up and exit)")
        return spt, text
    jit_seconds = None
    if summary is not None and summary.tracing_seconds is not None:
        jit_seconds = summary.tracing_seconds + (summary.backend_seconds or 0.0)
    by_tracing = (jit_seconds is not None and tracing_ticks > 0
                  and jit_seconds >= (MIN_TRACING_FOR_CLOCK if clock == "auto" else 0)
                  and jit_seconds > 0)
    if by_tracing and clock == "auto" and have_wall:
        ratio = (jit_seconds / tracing_ticks) / (wall / span)
        by_tracing = 0.2 < ratio < 1.1  # the span can only make ticks look longer
    if clock in ("auto", "tracing") and by_tracing:
        spt = jit_seconds / tracing_ticks
        text = (f"timestamps are CPU ticks, converted at {1e-9 / spt:.3f} GHz: the ticks of all "
                f"jit-tracing sections against jit-summary's tracing + backend time "
                f"({jit_seconds:.3f} s, measured by PyPy with time.time)")
        if have_wall:
            text += (f"; the log covers {span * spt:.3f} s of the run's {wall:.3f} s wall time "
                     "(the rest is start-up and exit)")
        return spt, text
    if clock in ("auto", "span") and have_wall:
        return wall / span, (
            f"timestamps are CPU ticks; scaled so that the log's span ({span:,} ticks, first to "
            f"last marker) equals the run's wall time ({wall:.3f} s). Start-up before the first "
            "marker and exit after the last are thereby spread over every section: times are "
            "somewhat too long, the more so the shorter the run")
    if (clock == "auto" and summary is not None and summary.total_seconds
            and summary_tick is not None and first is not None and summary_tick > first):
        return summary.total_seconds / (summary_tick - first), (
            "timestamps are CPU ticks; scaled by jit-summary's TOTAL "
            f"({summary.total_seconds:.3f} s, measured by PyPy from the JIT's start) against the "
            "ticks from the first marker to the summary: rough")
    return None, ("timestamps are CPU ticks and could not be converted to seconds (give "
                  "wall_seconds=, or log jit-summary with jit-tracing)")
