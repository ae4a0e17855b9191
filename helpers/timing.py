"""The CPython-vs-PyPy race: :func:`race` runs ``harness.py`` in each interpreter (through
:func:`helpers.runner.ask`) and :class:`RaceResult` shows what it measured.

The statistics (changepoints, warm-up classes, steady states, bootstrap intervals) are plain
functions in :mod:`helpers.stats`; their names are kept here too, for the notebooks.
:func:`helpers.pairs.race_pair` races two variants of a program on each interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from .display import Result
from .formatting import format_ratio as _fmt_ratio
from .formatting import format_seconds
from .formatting import plural as _plural
from .interpreters import get_interpreter
from .nursery import describe_runs
from .runner import ask, run
from .stats import (RatioCI, Warmup, bootstrap_ratio_ci, changepoints, classify_warmup,
                    noise_sigma, process_ratio_ci, sample_runs, samples_frame, steady_samples)

__all__ = [
    "changepoints",
    "noise_sigma",
    "Warmup",
    "classify_warmup",
    "RatioCI",
    "bootstrap_ratio_ci",
    "samples_frame",
    "sample_runs",
    "startup_time",
    "run_harness",
    "race",
    "RaceResult",
    "format_seconds",
]

HARNESS = Path(__file__).resolve().with_name("harness.py")

# ----------------------------------------------------------------------------- running


def startup_time(interpreter="pypy", repeat: int = 5) -> float:
    """Median wall time (seconds) of running ``pass`` in ``interpreter``, ``repeat`` times."""

    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    return float(np.median([run("pass", interpreter=interpreter).wall
                            for _ in range(repeat)]))


def _keys(interpreters) -> list:
    """Display keys: "cpython"/"pypy" as given, else the interpreter's name; unique."""
    keys = []
    for spec in interpreters:
        key = getattr(spec, "name", None) or str(spec)
        if key not in ("cpython", "pypy"):
            key = Path(key).name or key
        base, i = key, 2
        while key in keys:
            key, i = f"{base}#{i}", i + 1
        keys.append(key)
    return keys


def run_harness(stmt: str, setup: str = "", *, interpreter="pypy", samples: int = 200,
                budget: float = 1.5, number: Optional[int] = None, timeout: float = 60.0,
                env: Optional[dict] = None, jit: Optional[str] = None):
    """Run ``harness.py`` once in ``interpreter``; return ``(result dict, RunResult)``."""
    __tracebackhide__ = True  # IPython and pytest show the child's traceback, not ours
    interp = get_interpreter(interpreter)
    config = {"setup": setup, "stmt": stmt, "samples": samples, "budget": budget,
              "number": number, "label": jit}
    return ask(HARNESS, config, interpreter=interp, timeout=timeout, env=env,
               jit=jit if interp.name == "pypy" else None, what="timing results",
               hint="did the statement or the setup call sys.exit() or os._exit()?")


def race(stmt: str, setup: str = "", *, samples: int = 200, budget: float = 1.5,
         number: Optional[int] = None, timeout: float = 60.0,
         interpreters=("cpython", "pypy"), startup: bool = True,
         env: Optional[dict] = None, jit: Optional[str] = None,
         processes: int = 1) -> "RaceResult":
    """Time ``stmt`` (after ``setup``) in each interpreter, one after the other.

    Each interpreter runs ``harness.py`` in a fresh process: setup once, then samples of
    ``number`` executions (calibrated when None) until ``samples`` samples or ``budget``
    seconds.  ``startup`` also measures start-up time (median of 3 runs of ``pass``).
    ``jit`` (e.g. "off") is passed to PyPy interpreters only.  The speedup is the first
    interpreter's steady-state median over the second's.  A failing child raises
    :class:`helpers.runner.ChildError` with the child's traceback as its message.

    With one process per interpreter (the default) the confidence interval covers only the
    noise within that process.  ``processes=N`` runs each interpreter N times, alternating
    them, and takes the speedup and its interval across the processes
    (:func:`process_ratio_ci`); tables and plots show the first process of each.
    """
    __tracebackhide__ = True
    if processes < 1:
        raise ValueError("processes must be at least 1")
    keys = _keys(interpreters)
    pairs = list(zip(keys, interpreters))
    runs = {key: [] for key in keys}  # per key: [(result, RunResult, Warmup)] per process
    starts = {}
    for p in range(processes):
        for key, spec in (pairs if p % 2 == 0 else pairs[::-1]):
            result, proc = run_harness(
                stmt, setup, interpreter=spec, samples=samples, budget=budget,
                number=number, timeout=timeout, env=env, jit=jit)
            x = np.asarray(result["samples"], dtype=float)
            runs[key].append((result, proc, classify_warmup(np.maximum(x, 1e-12),
                                                            sample_runs(result))))
    if startup:
        for key, spec in pairs:
            starts[key] = startup_time(spec, repeat=3)
    results = {key: runs[key][0][0] for key in keys}
    procs = {key: runs[key][0][1] for key in keys}
    warmups = {key: runs[key][0][2] for key in keys}
    return RaceResult.build(stmt, results, procs, warmups, starts, jit=jit,
                            processes=runs if processes > 1 else None)


# ----------------------------------------------------------------------------- result


@dataclass(repr=False)  # Result gives the readable repr
class RaceResult(Result):
    """What :func:`race` measured.  Display it (text or HTML) or use the fields.

    ``df`` tidy samples (interpreter, sample, seconds, runs); ``summary`` one row per
    interpreter; ``speedup`` first interpreter's steady median / second's, with ``ci``
    its bootstrap 95% interval (None with a single interpreter); ``warnings``;
    ``results`` the harness's JSON per interpreter; ``warmups`` the :class:`Warmup`
    per interpreter; ``runs`` the :class:`helpers.runner.RunResult` per interpreter;
    ``stdout`` what each child printed; ``figure`` the warm-up plot (built on first use).
    """

    stmt: str
    df: object
    summary: object
    speedup: Optional[float]
    ci: Optional[tuple]
    warnings: list
    results: dict
    warmups: dict
    runs: dict
    stdout: dict
    labels: dict
    process_medians: dict = field(default_factory=dict)
    _figure: object = field(default=None, repr=False)
    figure_alt = "warm-up plot"

    @property
    def title(self) -> str:
        return f"Race: {self.stmt[:60]}"

    @property
    def n_processes(self) -> int:
        return max((len(v) for v in self.process_medians.values()), default=1)

    @classmethod
    def build(cls, stmt, results, procs, warmups, starts, jit=None,
              processes=None) -> "RaceResult":
        df, summary = samples_frame(results, startup=starts, warmups=warmups)
        keys = list(results)
        labels = _labels(results, jit)
        speedup = ci = None
        steady = steady_samples
        process_medians = {}
        if processes:
            process_medians = {k: [float(w.median) for _, _, w in processes[k]] for k in keys}
        if len(keys) >= 2:
            a, b = keys[0], keys[1]
            if processes:
                r = process_ratio_ci([steady(res, w) for res, _, w in processes[a]],
                                     [steady(res, w) for res, _, w in processes[b]])
            else:
                r = bootstrap_ratio_ci(steady(results[a], warmups[a]),
                                       steady(results[b], warmups[b]))
            speedup, ci = r.ratio, (r.lo, r.hi)
        warnings = []
        for key in keys:
            warnings += [f"{labels[key]}: {w}" for w in warmups[key].warnings]
            out = procs[key].stdout
            if out.strip():
                lines = out.count("\n") + (not out.endswith("\n"))
                warnings.append(
                    f"{labels[key]}: the statement printed ({lines} lines): printing is "
                    "timed too; see .stdout")
            dropped = sum(procs[key].dropped.values())
            if dropped:
                warnings.append(f"{labels[key]}: {dropped:,} bytes of output were dropped")
        return cls(stmt=stmt, df=df, summary=summary, speedup=speedup, ci=ci,
                   warnings=warnings, results=results, warmups=warmups, runs=procs,
                   stdout={k: p.stdout for k, p in procs.items()}, labels=labels,
                   process_medians=process_medians)

    @property
    def figure(self):
        if self._figure is None:
            from .plots import warmup_figure

            self._figure = warmup_figure(self.df, self.summary, labels=self.labels)
        return self._figure

    # -- text

    def headline(self) -> str:
        keys = list(self.results)
        if self.speedup is None:
            w = self.warmups[keys[0]]
            return (f"{self.labels[keys[0]]}: {format_seconds(w.median)} per run "
                    f"({w.kind}).")
        a, b = self.labels[keys[0]], self.labels[keys[1]]
        lo, hi = self.ci
        if self.speedup >= 1:
            what, r, lo_, hi_ = "faster", self.speedup, lo, hi
        else:
            what, r, lo_, hi_ = "slower", 1 / self.speedup, 1 / hi, 1 / lo
        unsteady = [self.labels[k] for k in keys[:2] if self.warmups[k].steady_start is None]
        if unsteady:
            steady = (f"comparing the last segments, but {' and '.join(unsteady)} reached "
                      "no steady state: treat with care")
        else:
            steady = "steady state"
        if self.n_processes > 1:
            across = f"across {self.n_processes} processes each"
        else:
            across = "within one process each"
        verdict = f"{b} is {_fmt_ratio(r)}× {what} than {a}"
        if lo_ <= 1 <= hi_:  # the interval allows either direction: say so first
            verdict = f"No clear difference between {b} and {a}: {b} {_fmt_ratio(r)}× {what}"
        return (f"{verdict} (95% CI {_fmt_ratio(lo_)}–{_fmt_ratio(hi_)}×, {across}), {steady}; "
                f"median {format_seconds(self._median(keys[1]))} vs "
                f"{format_seconds(self._median(keys[0]))} per run.")

    def _median(self, key) -> float:
        """The steady-state median the speedup uses: across processes when there are several."""
        medians = self.process_medians.get(key)
        return float(np.median(medians)) if medians else self.warmups[key].median

    def _line(self, key) -> str:
        w, res = self.warmups[key], self.results[key]
        if w.steady_start is None:
            how = "no steady state"
        elif w.kind == "flat":
            how = "flat from the first sample"
        else:
            how = (f"{w.kind}: steady after {w.steady_start} samples "
                   f"({format_seconds(w.warmup_seconds)})")
        text = (f"{self.labels[key]}: {how}; {format_seconds(w.median)} ± "
                f"{w.rel_spread:.1%} (MAD), {w.count} of {w.n} samples, "
                f"{_plural(res['number'], 'run')} per sample")
        medians = self.process_medians.get(key)
        if medians and len(medians) > 1:
            text += (f"; medians of its {len(medians)} processes "
                     f"{format_seconds(min(medians))}–{format_seconds(max(medians))}")
        start = self.summary.loc[key, "startup_s"]
        if np.isfinite(start):
            text += f"; start-up {format_seconds(start)}"
        return text

    @property
    def nursery(self) -> list:
        """What the PyPy children's nursery was, and why (one sentence per distinct setting)."""
        return describe_runs(self.runs.values())

    def text_lines(self) -> list:
        return ["  " + self._line(k) for k in self.results]

    def facts(self) -> list:
        return self.nursery

    # -- html

    def display_table(self):
        """The summary with readable headers and units, as strings."""
        import pandas as pd

        rows = {}
        for key in self.results:
            w, s = self.warmups[key], self.summary.loc[key]
            rows[self.labels[key]] = {
                "start-up": format_seconds(s["startup_s"]),
                "warm-up": w.kind,
                "warm-up samples": "–" if w.steady_start is None else w.steady_start,
                "warm-up time": format_seconds(w.warmup_seconds),
                "steady median": format_seconds(w.median),
                "MAD": f"{format_seconds(w.mad)} ({w.rel_spread:.1%})",
                "samples (steady / all)": f"{w.count} / {w.n}",
                "runs per sample": f"{int(s['number']):,}",
            }
        return pd.DataFrame(rows).T



def _labels(results: Mapping, jit) -> dict:
    """Short display names: "CPython", "PyPy" (plus a version if two would clash)."""
    short = {}
    for key, res in results.items():
        name = res.get("implementation") or key
        if name == "PyPy" and not res.get("jit"):
            name += " (no JIT)"
        elif name == "PyPy" and jit is not None:
            name += f" (--jit {jit})"
        short[key] = name
    if len(set(short.values())) < len(short):
        short = {k: f"{v} {results[k].get('pypy_version') or results[k].get('version')}"
                 for k, v in short.items()}
    if len(set(short.values())) < len(short):
        short = {k: f"{v} [{k}]" for k, v in short.items()}
    return short
