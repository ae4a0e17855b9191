"""The CPython-vs-PyPy race: :func:`race` runs ``harness.py`` in each interpreter (through
:func:`helpers.runner.ask`) and :class:`RaceResult` shows what it measured.

The statistics (changepoints, warm-up classes, steady states, bootstrap intervals) are plain
functions in :mod:`helpers.stats`; their names are kept here too, for the notebooks.
:func:`helpers.pairs.race_pair` races two variants of a program on each interpreter.
:func:`race_until_steady` (the report's race of a whole script) sizes each sample's work from a
first run and races in rounds until each interpreter's steady state is found or a budget is
spent; the plain functions it decides with (:func:`runs_per_sample`,
:func:`first_round_samples`, :func:`helpers.stats.samples_needed`, :func:`seconds_needed`) are
tested on synthetic series.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from .display import Result
from .formatting import format_ratio as _fmt_ratio
from .formatting import format_seconds
from .formatting import plural as _plural
from .interpreters import get_interpreter
from .nursery import describe_runs
from .runner import ask, run
from .stats import (RatioCI, Warmup, bootstrap_ratio_ci, changepoints, classify_warmup,
                    noise_sigma, process_ratio_ci, sample_runs, samples_frame, samples_needed,
                    steady_samples)

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
    "race_until_steady",
    "runs_per_sample",
    "first_round_samples",
    "seconds_needed",
    "suggest_budget",
    "RaceRound",
    "Convergence",
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


# ----------------------------------------------------------------------------- until steady

#: Defaults of :func:`race_until_steady` (the report's race), in one place for docs and pages.
SAMPLE_SECONDS = 0.05  # a sample times at least this much work: a shorter run is repeated
MAX_RUNS_PER_SAMPLE = 10_000
ROUND_SECONDS = 5.0  # the first round aims at this many seconds per interpreter ...
ROUND_SAMPLES = 15  # ... and never fewer samples than this (10 after a warm-up of 5)
MAX_ROUND_SAMPLES = 400
BUDGET = 60.0  # the cap: seconds of racing per interpreter, all its rounds together
GROWTH = 1.5  # a new round takes this many times the samples the last one seemed to need
MAX_ROUNDS = 4


def runs_per_sample(first_run: float, target: float = SAMPLE_SECONDS,
                    most: int = MAX_RUNS_PER_SAMPLE) -> int:
    """Runs of the work one sample should time, from the length of a first run (seconds):
    enough for ``target`` seconds, so a short script is repeated within each sample; 1 for a
    run of at least ``target`` (and when the length is unknown: NaN, zero, negative)."""
    if not first_run > 0 or first_run >= target:
        return 1
    return int(min(most, math.ceil(target / first_run)))


def first_round_samples(sample_seconds: float, aim: float = ROUND_SECONDS,
                        least: int = ROUND_SAMPLES, most: int = MAX_ROUND_SAMPLES) -> int:
    """Samples in the first round of an interpreter whose samples last ``sample_seconds``:
    about ``aim`` seconds' worth, between ``least`` and ``most``."""
    if not sample_seconds > 0:
        return least
    return int(min(most, max(least, math.ceil(aim / sample_seconds))))


def seconds_needed(samples, runs, warmup: Warmup, n: int) -> float:
    """Seconds a fresh process would spend on ``n`` samples of a series like ``samples``
    (seconds per run, ``runs`` runs each): the samples before the last change as they were
    (the warm-up happens again), the rest at the last level (``warmup.median``)."""
    x = np.asarray(samples, dtype=float)
    r = np.broadcast_to(np.asarray(runs, dtype=float), x.shape)
    k = min(warmup.window_start, n, x.size)
    per_sample = warmup.median * float(np.median(r[k:] if k < x.size else r))
    return float(np.sum(x[:k] * r[:k]) + (n - k) * per_sample)


def suggest_budget(seconds: float) -> int:
    """A budget to suggest: ``seconds`` rounded up to a multiple of 10 (of 5 below 30)."""
    step = 5 if seconds < 30 else 10
    return int(max(step, math.ceil(seconds / step) * step))


@dataclass(frozen=True)
class RaceRound:
    """One process of :func:`race_until_steady`: its samples, wall time, what it found."""

    samples: int
    seconds: float
    kind: str  # the warm-up class of its series
    stopped_by: str  # "samples" or "budget" (the harness's own word)


@dataclass
class Convergence:
    """How :func:`race_until_steady` went, per interpreter key: the ``budget`` (the cap, seconds
    per interpreter), ``number`` (runs per sample), ``rounds`` (:class:`RaceRound` list, the
    last one is the race's series) and ``needed`` (None when steady; else the estimated
    seconds a process would need, see :func:`seconds_needed`)."""

    budget: float
    number: dict
    rounds: dict
    needed: dict
    seconds: float = 0.0  # wall time of the whole race, start-ups included

    def steady(self, key) -> bool:
        return self.needed.get(key) is None

    def spent(self, key) -> float:
        return float(sum(r.seconds for r in self.rounds[key]))

    def suggestion(self, key) -> Optional[int]:
        """The budget to suggest (None when steady): what this race spent on ``key`` plus the
        process it would still need, and more than the budget it had."""
        need = self.needed.get(key)
        if need is None:
            return None
        return suggest_budget(max(self.spent(key) + need, 1.25 * self.budget))

    def describe(self, key) -> str:
        """One clause on the rounds of ``key``: "1 round of 12 samples (13.1 s of its 60 s
        budget)" and, when the cap was hit, what would be needed."""
        rounds = self.rounds[key]
        sizes = ", then ".join(str(r.samples) for r in rounds)
        text = (f"{_plural(len(rounds), 'round')} of {sizes} samples "
                f"({format_seconds(self.spent(key))} of its {self.budget:g} s budget)")
        if not self.steady(key):
            text += (f"; no steady state within the budget: it would need a process of "
                     f"about {format_seconds(self.needed[key])} (pass budget="
                     f"{self.suggestion(key)})")
        return text


def _harness_round(stmt, setup, spec, *, samples, budget, number, timeout, env, jit):
    return run_harness(stmt, setup, interpreter=spec, samples=samples, budget=budget,
                       number=number, timeout=timeout, env=env, jit=jit)


def race_until_steady(stmt: str, setup: str = "", *, budget: float = BUDGET,
                      first_run: Optional[Mapping] = None, number: Optional[Mapping] = None,
                      timeout: Optional[float] = 60.0, interpreters=("cpython", "pypy"),
                      startup: bool = True, env: Optional[dict] = None,
                      jit: Optional[str] = None, progress: Optional[Callable] = None,
                      measure: Optional[Callable] = None) -> "RaceResult":
    """Race ``stmt`` until each interpreter's steady state is found, or its ``budget`` (the cap,
    seconds per interpreter, all rounds together) is spent.

    Each interpreter in turn: runs per sample from ``first_run`` (seconds of one run, per
    interpreter key or as one number: :func:`runs_per_sample`, after subtracting the start-up)
    unless ``number`` gives them; a first round of :func:`first_round_samples` samples in a
    fresh process; if :func:`helpers.stats.classify_warmup` finds no steady state, a new
    process with ``GROWTH`` times the samples the series seemed to need
    (:func:`helpers.stats.samples_needed`), as long as that fits in what is left of the
    budget (else it stops and says what would be needed), at most ``MAX_ROUNDS`` rounds.
    A round's process is killed after its budget plus ``timeout`` seconds.

    ``progress(key, state)`` is called as rounds start and end (state: a dict with
    ``round``, ``samples``, ``spent``, ``budget``, ``started``, ``done``, ``steady``).
    ``measure`` replaces the harness run (tests): ``measure(stmt, setup, spec, samples=,
    budget=, number=, timeout=, env=, jit=) -> (result dict, RunResult)``.
    The result's ``convergence`` (:class:`Convergence`) says how it went.
    """
    __tracebackhide__ = True
    if not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, not {budget!r}")
    measure = measure or _harness_round
    notify = progress or (lambda key, state: None)
    began = time.perf_counter()
    keys = _keys(interpreters)
    pairs = list(zip(keys, interpreters))
    starts = {key: startup_time(spec, repeat=3) for key, spec in pairs} if startup else {}
    results, procs, warmups, rounds, needed, numbers = {}, {}, {}, {}, {}, {}
    for key, spec in pairs:
        given = number.get(key) if isinstance(number, Mapping) else number
        first = first_run.get(key) if isinstance(first_run, Mapping) else first_run
        work = None if first is None else first - starts.get(key, 0.0)
        n_runs = int(given) if given else runs_per_sample(work if work is not None else 0.0)
        numbers[key] = n_runs
        sample = n_runs * work if work is not None and work > 0 else SAMPLE_SECONDS
        samples = first_round_samples(sample)
        rounds[key], spent = [], 0.0
        while True:
            left = budget - spent
            notify(key, {"round": len(rounds[key]) + 1, "samples": samples, "spent": spent,
                         "budget": budget, "started": time.perf_counter(), "done": False,
                         "steady": False})
            result, proc = measure(stmt, setup, spec, samples=samples, budget=left,
                                   number=n_runs, env=env, jit=jit,
                                   timeout=None if timeout is None else left + timeout)
            spent += proc.wall
            x = np.maximum(np.asarray(result["samples"], dtype=float), 1e-12)
            runs = sample_runs(result)
            w = classify_warmup(x, runs)
            rounds[key].append(RaceRound(samples=int(x.size), seconds=float(proc.wall),
                                         kind=w.kind, stopped_by=result.get("stopped_by", "")))
            results[key], procs[key], warmups[key] = result, proc, w
            if w.steady_start is not None and samples_needed(w) <= x.size:
                needed[key] = None  # steady, with enough samples after the last change
                break
            want = max(math.ceil(samples_needed(w) * GROWTH), x.size + 1)
            needed[key] = seconds_needed(x, runs, w, want)
            if len(rounds[key]) >= MAX_ROUNDS or needed[key] > budget - spent:
                break
            samples = want
        notify(key, {"round": len(rounds[key]), "samples": rounds[key][-1].samples,
                     "spent": spent, "budget": budget, "started": time.perf_counter(),
                     "done": True, "steady": needed[key] is None})
    conv = Convergence(budget=float(budget), number=numbers, rounds=rounds, needed=needed,
                       seconds=time.perf_counter() - began)
    return RaceResult.build(stmt, results, procs, warmups, starts, jit=jit, convergence=conv)


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
    #: How :func:`race_until_steady` got there (None for :func:`race`).
    convergence: Optional[Convergence] = None
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
              processes=None, convergence=None) -> "RaceResult":
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
                   process_medians=process_medians, convergence=convergence)

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
        c = self.convergence
        unsteady = [self.labels[k] for k in keys[:2]
                    if (not c.steady(k) if c is not None else
                        self.warmups[k].steady_start is None)]
        if unsteady and c is not None:
            asks = [c.suggestion(k) for k in keys[:2] if not c.steady(k)]
            steady = (f"but {' and '.join(unsteady)} reached no steady state within the "
                      f"budget of {c.budget:g} s per interpreter (about "
                      f"{max(asks)} s would do: pass budget={max(asks)}, or --budget "
                      f"{max(asks)} on the command line): the speedup compares "
                      "the last samples, treat with care")
        elif unsteady:
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
        if self.convergence is not None:
            text += "; " + self.convergence.describe(key)
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
            if self.convergence is not None:
                c = self.convergence
                rows[self.labels[key]]["rounds (samples)"] = " + ".join(
                    str(r.samples) for r in c.rounds[key])
                rows[self.labels[key]]["race time"] = format_seconds(c.spent(key))
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
