"""Where a PyPy run spends its time: tracing, compiling, collecting garbage, or running.

:func:`where_time_goes` runs a snippet or a script once on PyPy with ``PYPYLOG`` set to a few
small categories (see :data:`helpers.pypylog.DEFAULT_CATEGORIES`), parses the log and splits
the run's wall time into five parts:

``tracing``
    time inside ``jit-tracing`` sections (recording a trace, optimizing it, writing the logs of
    it), minus the backend and the garbage collections inside them;
``backend``
    turning optimized traces into machine code. From ``jit-backend`` sections when they were
    logged; otherwise (the default: that prefix would also log hundreds of megabytes of
    ``jit-backend-dump``) from ``jit-summary``'s ``Backend:`` seconds, which PyPy measures with
    ``time.time`` around the same code, subtracted from tracing (the backend runs inside
    tracing);
``GC minor`` / ``GC major``
    ``gc-minor`` sections, and ``gc-collect-step`` sections (the steps of the incremental major
    collection);
``the rest``
    the wall time minus all of the above: the interpreter, the compiled machine code, start-up
    and anything PyPy does not log.

Section times are CPU ticks, converted with the machine's tick rate (measured once per session
by :func:`helpers.pypylog.tick_rate`; see :mod:`helpers.pypylog` for the other ways and their
errors): the split is a good picture, not a stopwatch. Logging costs time too (``jit-log-opt``
writes every loop), which shows up mostly in tracing.

The hottest loops come from ``jit-backend-counts`` (the counters the backend adds to compiled
code when that category is on): a loop's runs are the iterations of its most-reached label.

CPython has no JIT and no PYPYLOG, so there is nothing to split: asking for it raises a
``ValueError`` that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .formatting import format_seconds, plural as _plural
from .display import Result
from .nursery import describe_runs
from .pypylog import DEFAULT_CATEGORIES, PypyLog, capture, require_pypy

__all__ = ["where_time_goes", "WhereTime", "time_split", "BUCKETS"]

#: The parts of a run, in the order of the table and of the stacked bar.
BUCKETS = ("tracing", "backend", "GC minor", "GC major", "the rest")

DESCRIPTIONS = {
    "tracing": "recording and optimizing traces",
    "backend": "compiling traces to machine code",
    "GC minor": "minor collections (nursery)",
    "GC major": "major collection steps",
    "the rest": "interpreter, compiled code, start-up",
}


def _bucket(name: str, inherited: Optional[str]) -> Optional[str]:
    if name.startswith("gc-minor"):
        return "GC minor"
    if name.startswith("gc-collect"):
        return "GC major"
    if name == "jit-tracing":
        return "tracing"
    if name.startswith("jit-backend") and name != "jit-backend-counts":
        return "backend"
    return inherited


def time_split(log: PypyLog) -> tuple:
    """Split the log's time into :data:`BUCKETS`. Returns ``(seconds, notes)``: seconds per
    bucket (the rest is the log's wall time minus the others) and sentences saying how."""
    if log.seconds_per_tick is None:
        raise ValueError("the log's ticks cannot be converted to seconds: parse it with "
                         "wall_seconds= (capture() and where_time_goes() do)")
    ticks = dict.fromkeys(BUCKETS[:-1], 0)
    has_backend = False
    todo = [(node, None) for node in log.tree.children.values()]
    while todo:
        node, inherited = todo.pop()
        bucket = _bucket(node.name, inherited)
        if bucket == "backend":
            has_backend = True
        if bucket is not None:
            ticks[bucket] += node.exclusive
        todo.extend((child, bucket) for child in node.children.values())
    seconds = {b: log.seconds(t) for b, t in ticks.items()}
    notes = [f"Clock: {log.clock}."]
    summary = log.summary
    if has_backend:
        notes.append("Backend time from the jit-backend sections.")
    elif summary is not None and summary.backend_seconds is not None:
        backend = min(summary.backend_seconds, seconds["tracing"])
        seconds["backend"] = backend
        seconds["tracing"] -= backend
        notes.append("Backend time from jit-summary (measured by PyPy with time.time), taken "
                     "out of the tracing sections it runs inside.")
    elif seconds["tracing"]:
        notes.append("Neither jit-backend sections nor jit-summary in the log: backend time is "
                     "counted as tracing.")
    wall = log.wall_seconds if log.wall_seconds is not None else log.seconds(log.span_ticks)
    seconds["the rest"] = max(0.0, (wall or 0.0) - sum(seconds.values()))
    return seconds, notes


@dataclass(repr=False)  # Result gives the readable repr
class WhereTime(Result):
    """What :func:`where_time_goes` found.

    ``seconds`` maps each of :data:`BUCKETS` to seconds; ``df`` is the same as a table (part,
    seconds, fraction, what it is); ``hot`` the hottest loops and bridges (trace, kind, where,
    runs, ops); ``log`` the :class:`helpers.pypylog.PypyLog`; ``run`` the
    :class:`helpers.runner.RunResult`; ``stdout`` what the program printed; ``notes`` how it
    was measured; ``warnings`` anything to distrust; ``figure`` the stacked bar and the
    hottest loops (built on first use).
    """

    target: str
    wall: float
    seconds: dict
    df: object
    hot: object
    log: PypyLog
    run: object
    stdout: str
    notes: list
    warnings: list
    _figure: object = field(default=None, repr=False)
    figure_alt = "where the time goes"
    title = "Where the time goes on PyPy"

    @classmethod
    def from_capture(cls, cap, target: str, top: int = 8) -> "WhereTime":
        """Split a run that :func:`helpers.pypylog.capture` already logged (its categories
        must include the JIT's and the GC's: the defaults do), without running it again."""
        return _build(target, cap, top)

    @property
    def figure(self):
        if self._figure is None:
            from .plots import where_time_figure

            self._figure = where_time_figure(self.seconds, self.hot, wall=self.wall)
        return self._figure

    def headline(self) -> str:

        parts = ", ".join(f"{self.seconds[b] / self.wall:.0%} {b}" for b in BUCKETS
                          if self.wall > 0)
        jit = ""
        s = self.log.summary
        if s is not None and s.loops is not None:
            jit = (f"; the JIT compiled {_plural(s.loops, 'loop')} and "
                   f"{_plural(s.bridges or 0, 'bridge')}")
        return f"PyPy ran for {format_seconds(self.wall)}: {parts}{jit}."

    def display_table(self):
        """The split with readable units, as strings."""
        import pandas as pd

        return pd.DataFrame({
            "time": [format_seconds(self.seconds[b]) if self.seconds[b] else "0"
                     for b in BUCKETS],
            "share": [f"{self.seconds[b] / self.wall:.1%}" if self.wall > 0 else "–"
                      for b in BUCKETS],
            "what it is": [DESCRIPTIONS[b] for b in BUCKETS],
        }, index=list(BUCKETS))

    def _hot_lines(self) -> list:
        if self.hot is None or not len(self.hot):
            return ["  (no run counts: jit-backend-counts was not logged, or nothing was "
                    "compiled)"]
        return [f"  {r.trace:<34} {r.runs:>14,} runs  {r.ops:>5} ops  {r.where}"
                for r in self.hot.itertuples()]

    def text_lines(self) -> list:
        return [self.display_table().to_string(), "Hottest loops and bridges:",
                *self._hot_lines()]

    def facts(self) -> list:
        return describe_runs([self.run]) + list(self.notes)

    def extra_html(self) -> str:
        if self.hot is None or not len(self.hot):
            return ""
        return ("<p><b>Hottest loops and bridges</b></p>"
                + self.hot[["trace", "where", "runs", "ops"]].to_html(index=False, escape=True))


def where_time_goes(stmt: Optional[str] = None, *, script=None, args=(), interpreter="pypy",
                    env: Optional[dict] = None, jit: Optional[str] = None,
                    timeout: Optional[float] = 60.0, cwd=None,
                    categories=DEFAULT_CATEGORIES, top: int = 8, keep=None) -> WhereTime:
    """Run ``stmt`` (a snippet) or ``script`` (with ``args``) once on PyPy and show where the
    time went: tracing, backend, GC minor, GC major and the rest, plus the hottest loops.

    ``env`` adds environment variables (``{"PYPY_GC_NURSERY": "1M"}`` makes minor collections
    visible on machines with a huge nursery), ``jit`` is passed as ``--jit``, ``keep`` saves
    the log to a path. ``interpreter`` must be a PyPy: for CPython this raises ``ValueError``.
    A failing program raises :class:`helpers.runner.ChildError` with its traceback.
    """
    __tracebackhide__ = True
    interp = require_pypy(interpreter, "where_time_goes()")
    if (stmt is None) == (script is None):
        raise TypeError("where_time_goes() takes either a snippet or script=, not both or "
                        "neither")
    cap = capture(stmt, script=script, categories=categories, args=args, env=env, jit=jit,
                  timeout=timeout, interpreter=interp, cwd=cwd, keep=keep)
    return _build(stmt if stmt is not None else str(script), cap, top)



def _build(target: str, cap, top: int) -> WhereTime:
    import pandas as pd

    log, run = cap.log, cap.run
    wall = run.wall
    seconds, notes = time_split(log)
    df = pd.DataFrame({
        "part": list(BUCKETS),
        "seconds": [seconds[b] for b in BUCKETS],
        "fraction": [seconds[b] / wall if wall > 0 else float("nan") for b in BUCKETS],
        "what": [DESCRIPTIONS[b] for b in BUCKETS],
    })
    traces = log.traces_frame()
    hot = traces[traces["runs"] > 0].sort_values("runs", ascending=False).head(top)
    hot = hot.reset_index(drop=True)
    warnings = list(log.warnings)
    s = log.summary
    if s is None:
        if "jit-tracing" in log.categories:
            warnings.append("the JIT traced, but the log has no jit-summary (PyPy writes it at "
                            "exit: did the program end with os._exit()?)")
    elif log.categories_logged is None or any(c.startswith("jit-log-opt")
                                              for c in log.categories_logged):
        if s.loops is not None and s.loops != log.compiled_loops:
            warnings.append(f"jit-summary counts {s.loops} loops, the log has "
                            f"{log.compiled_loops}")
        if s.bridges is not None and s.bridges != log.compiled_bridges:
            warnings.append(f"jit-summary counts {s.bridges} bridges, the log has "
                            f"{log.compiled_bridges}")
    if not len(hot) and log.loops:
        notes.append("No run counts: log jit-backend-counts to see the hottest loops.")
    dropped = sum(run.dropped.values())
    if dropped:
        warnings.append(f"{dropped:,} bytes of the program's output were dropped")
    return WhereTime(target=target, wall=wall, seconds=seconds, df=df, hot=hot, log=log,
                     run=run, stdout=run.stdout, notes=notes, warnings=warnings)
