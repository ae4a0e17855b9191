"""Capturing a PYPYLOG from a PyPy run: :func:`capture` runs a snippet or a script with
``PYPYLOG`` set, into a temp file the call owns, and parses it; :func:`tick_rate` measures the
machine's tick rate once per session."""

from __future__ import annotations

import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..interpreters import require_pypy as _require_pypy
from ..runner import ask, private_tmpdir, run
from .log import PypyLog, parse
from .scan import iter_sections

#: What :func:`capture` logs unless told otherwise: the optimized loops and bridges, their run
#: counters, the JIT's summary, loop allocations (to count temporary callbacks), tracing (with
#: its aborts, and PyPy's verdict on a trace too long: which function it stops inlining) and
#: the GC's minor and major collections. Not ``jit-backend``: its prefix also matches
#: ``jit-backend-dump``, hundreds of megabytes of machine code in hex; not ``jit-abort-log``
#: (the whole partial trace of the first abort, thousands of operations).
DEFAULT_CATEGORIES = ("jit-tracing", "jit-log-opt", "jit-backend-counts", "jit-summary",
                      "jit-mem-looptoken-alloc", "jit-abort-longest-function",
                      "jit-disableinlining", "gc-minor", "gc-collect")



# ============================================================================ capture


@dataclass(eq=False)
class Capture:
    """What :func:`capture` did: ``run`` the :class:`helpers.runner.RunResult`, ``log`` the
    parsed :class:`PypyLog` (None with ``parse=False``), ``path`` where the log was kept (None
    if it was removed), ``size`` its size in bytes, ``categories`` what PYPYLOG asked for."""

    run: object
    log: Optional[PypyLog]
    path: Optional[Path]
    size: int
    categories: str

    def __str__(self) -> str:
        text = str(self.log) if self.log is not None else "(not parsed)"
        kept = f"; kept at {self.path}" if self.path else ""
        return f"{text}\n[log {self.size:,} bytes, PYPYLOG={self.categories}:…{kept}]"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.log._repr_html_() if self.log is not None else html.escape(str(self))


def _categories_text(categories) -> str:
    if categories is None:
        return ""
    if isinstance(categories, str):
        items = [c.strip() for c in categories.split(",")]
    else:
        items = [str(c).strip() for c in categories]
    items = [c for c in items if c]
    for c in items:
        if not re.fullmatch(r"[\w.-]+", c):
            raise ValueError(f"not a PYPYLOG category prefix: {c!r} (letters, digits, '-', "
                             "'_' and '.' only; separate several with commas)")
    if not items:
        raise ValueError("no categories given: pass None to log everything")
    return ",".join(items)


_TICK_RATES: dict = {}



def tick_rate(interpreter="pypy", *, sleep: float = 0.2, refresh: bool = False) -> float:
    """Ticks per second of PyPy's log timestamps on this machine (cached per interpreter).

    PyPy stamps its log with the CPU's time-stamp counter, whose rate is a property of the
    machine. One short PyPy run measures it: two ``gc.collect()`` logged under
    ``PYPYLOG=gc-collect``, a ``time.sleep(sleep)`` between them timed with
    ``time.perf_counter``; the largest gap between the log's timestamps is that sleep.
    """
    interp = require_pypy(interpreter, "tick_rate()")
    if interp.path in _TICK_RATES and not refresh:
        return _TICK_RATES[interp.path]
    with private_tmpdir() as tmp:
        path = tmp / "calibration.log"
        answer, _ = ask("tickrate_child", {"sleep": sleep}, interpreter=interp,
                        env={"PYPYLOG": f"gc-collect:{path}"}, timeout=60)
        elapsed = float(answer["elapsed"])
        ticks = [s.start for s in iter_sections(path, bodies=False)]
        ticks += [s.stop for s in iter_sections(path, bodies=False)]
    ticks.sort()
    gap = max((b - a for a, b in zip(ticks, ticks[1:])), default=0)
    if gap <= 0 or elapsed <= 0:
        raise RuntimeError("could not measure the tick rate: PyPy logged no collections")
    _TICK_RATES[interp.path] = gap / elapsed
    return _TICK_RATES[interp.path]


WHY_PYPYLOG = ("PYPYLOG is PyPy's own debug log of its JIT (tracing, compiling) and its GC. "
                "{label} has no JIT and writes no such log, so there is nothing to read; to "
                "compare the two interpreters, use helpers.race().")


def require_pypy(interpreter, who: str, why: str = WHY_PYPYLOG):
    """:func:`helpers.interpreters.require_pypy`, explaining by default why a PYPYLOG needs PyPy."""
    return _require_pypy(interpreter, who, why)


def capture(code: Optional[str] = None, *, script=None, categories=DEFAULT_CATEGORIES,
            args=(), env: Optional[dict] = None, jit: Optional[str] = None,
            timeout: Optional[float] = 60.0, interpreter="pypy", cwd=None,
            keep: Union[str, os.PathLike, None] = None, parse_log: bool = True,
            keep_ops: bool = True, clock: str = "auto", check: bool = True) -> Capture:
    """Run a snippet (``code``) or ``script`` (with ``args``) on PyPy with ``PYPYLOG`` set.

    ``categories`` are the section-name prefixes to log (a comma-separated string or a list;
    None logs everything, which for the JIT includes megabytes of machine code). The log goes to
    a temp file owned by this call, is parsed (streaming; ``clock`` as in :func:`parse`, by
    default with the tick rate that :func:`tick_rate` measures once per session) and removed,
    unless ``keep`` names a path to move it to. ``env``, ``jit``,
    ``timeout``, ``cwd`` are passed to :func:`helpers.runner.run` (for example
    ``env={"PYPY_GC_NURSERY": "1M"}``). With ``check`` a failing child raises
    :class:`helpers.runner.ChildError` after the log was read.
    """
    __tracebackhide__ = True
    interp = require_pypy(interpreter, "capture()")
    cats = _categories_text(categories)
    tick_hz = tick_rate(interp) if parse_log and clock in ("auto", "rate") else None
    with private_tmpdir() as tmp:
        path = tmp / "pypylog.log"
        full_env = dict(env or {})
        full_env["PYPYLOG"] = f"{cats}:{path}"
        result = run(code, script=script, interpreter=interp, args=args, env=full_env, jit=jit,
                     timeout=timeout, cwd=cwd, check=False)
        size = path.stat().st_size if path.exists() else 0
        log = None
        if parse_log:
            if path.exists():
                log = parse(path, wall_seconds=result.wall, keep_ops=keep_ops, clock=clock,
                            tick_hz=tick_hz, categories=cats.split(",") if cats else None)
            else:
                log = parse([], wall_seconds=result.wall,
                            categories=cats.split(",") if cats else None)
                log.warnings.append("PyPy wrote no log file at all (did the program start?)")
            log.source = None
        kept = None
        if keep is not None and path.exists():
            kept = Path(keep)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(kept))
            if log is not None:
                log.source = str(kept)
    if check:
        result.check()
    return Capture(run=result, log=log, path=kept, size=size, categories=cats)

