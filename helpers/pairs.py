"""Two variants of a program raced on each interpreter: :func:`race_pair` and :class:`PairResult`.

Each variant runs ``harness.py`` in a fresh process per interpreter, in the order
:func:`pair_order` gives, and each interpreter's slow/fast ratio gets its bootstrap interval
(:mod:`helpers.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .display import Result
from .formatting import format_ratio as _fmt_ratio
from .formatting import format_seconds
from .nursery import describe_runs
from .stats import RatioCI, bootstrap_ratio_ci, classify_warmup, sample_runs, steady_samples
from .timing import RaceResult, _keys, run_harness

__all__ = ["race_pair", "pair_order", "PairResult"]


def _pair_setups(setup) -> tuple:
    """``setup`` as (slow setup, fast setup): one shared string, or a pair of strings."""
    if isinstance(setup, str):
        return setup, setup
    if isinstance(setup, (tuple, list)) and len(setup) == 2 \
            and all(isinstance(s, str) for s in setup):
        return tuple(setup)
    raise TypeError("setup must be a string (shared by both variants) or a pair of strings "
                    f"(slow setup, fast setup), not {setup!r:.80}")


def pair_order(keys, names) -> list:
    """The order :func:`race_pair` runs things in: ``(interpreter key, variant name)``.

    Interpreters one after the other, each variant in its own fresh process; the first
    interpreter runs slow then fast, the next fast then slow, and so on, so a drift in the
    machine's load does not always favour the same variant.
    """
    order = []
    for i, key in enumerate(keys):
        order += [(key, name) for name in (names if i % 2 == 0 else names[::-1])]
    return order


def race_pair(slow: str, fast: str, setup="", *, names=("slow", "fast"),
              interpreters=("cpython", "pypy"), samples: int = 200, budget: float = 0.3,
              number: Optional[int] = None, timeout: float = 60.0,
              env: Optional[dict] = None, jit: Optional[str] = None) -> "PairResult":
    """Race two variants of a program, ``slow`` and ``fast``, on each interpreter.

    ``setup`` is one string run before either statement, or a pair ``(slow setup, fast
    setup)``.  ``names`` label the two variants (e.g. ``("+=", "join")``).  Each variant
    runs ``harness.py`` in a fresh process per interpreter (``samples``, ``budget``,
    ``number``, ``timeout``, ``env``, ``jit`` as in :func:`race`), in the order
    :func:`pair_order` gives.  The result holds, per interpreter, the steady-state median
    of each variant and the ratio slow/fast with its bootstrap 95% interval (within one
    process each).  A failing child raises :class:`helpers.runner.ChildError`.
    """
    __tracebackhide__ = True
    for what, stmt in (("slow", slow), ("fast", fast)):
        if not isinstance(stmt, str) or not stmt.strip():
            raise ValueError(f"{what} must be a non-empty statement (a string), not {stmt!r:.80}")
    setups = dict(zip(("slow", "fast"), _pair_setups(setup)))
    if (not isinstance(names, (tuple, list)) or len(names) != 2
            or not all(isinstance(n, str) and n for n in names) or names[0] == names[1]):
        raise ValueError(f"names must be two different non-empty strings, not {names!r:.80}")
    if not interpreters or isinstance(interpreters, str):
        raise ValueError("interpreters must be a non-empty sequence such as "
                         "('cpython', 'pypy')")
    names = tuple(names)
    variant = dict(zip(names, ("slow", "fast")))
    stmts = {"slow": slow, "fast": fast}
    keys = _keys(interpreters)
    specs = dict(zip(keys, interpreters))
    done = {name: {} for name in names}  # name -> key -> (result, RunResult, Warmup)
    order = pair_order(keys, names)
    for key, name in order:
        v = variant[name]
        result, proc = run_harness(stmts[v], setups[v], interpreter=specs[key],
                                   samples=samples, budget=budget, number=number,
                                   timeout=timeout, env=env, jit=jit)
        x = np.maximum(np.asarray(result["samples"], dtype=float), 1e-12)
        done[name][key] = (result, proc, classify_warmup(x, sample_runs(result)))
    races = {}
    for name in names:
        runs = done[name]
        races[name] = RaceResult.build(
            stmts[variant[name]], {k: runs[k][0] for k in keys},
            {k: runs[k][1] for k in keys}, {k: runs[k][2] for k in keys}, {}, jit=jit)
    return PairResult.build(names, races, order=order)


@dataclass(repr=False)  # Result gives the readable repr
class PairResult(Result):
    """What :func:`race_pair` measured.  Display it (text or HTML) or use the fields.

    ``names`` (slow name, fast name); ``races`` one :class:`RaceResult` per variant name
    (across the interpreters: its warm-up plot, samples, warnings, stdout); ``ratios``
    interpreter key -> :class:`RatioCI` of slow over fast (above 1: the fast variant is
    faster); ``summary`` one row per interpreter (medians, ratio, interval, warm-up kinds);
    ``labels`` interpreter key -> display name; ``order`` what ran when; ``warnings``.
    """

    names: tuple
    races: dict
    ratios: dict
    summary: object
    labels: dict
    warnings: list
    order: list = field(default_factory=list)
    _figure: object = field(default=None, repr=False)

    @classmethod
    def build(cls, names, races, order=()) -> "PairResult":
        """Ratios, summary and warnings from one :class:`RaceResult` per variant."""
        import pandas as pd

        slow, fast = (races[n] for n in names)
        labels = slow.labels
        ratios, rows = {}, []
        for key in slow.results:
            ws, wf = slow.warmups[key], fast.warmups[key]
            r = bootstrap_ratio_ci(steady_samples(slow.results[key], ws),
                                   steady_samples(fast.results[key], wf))
            ratios[key] = r
            rows.append({"interpreter": key, "label": labels[key],
                         "slow_median_s": ws.median, "fast_median_s": wf.median,
                         "ratio": r.ratio, "ci_lo": r.lo, "ci_hi": r.hi,
                         "slow_warmup": ws.kind, "fast_warmup": wf.kind,
                         "slow_rel_spread": ws.rel_spread, "fast_rel_spread": wf.rel_spread})
        summary = pd.DataFrame(rows).set_index("interpreter")
        warnings = [f"{name} on {w}" for name in names for w in races[name].warnings]
        return cls(names=tuple(names), races=dict(races), ratios=ratios, summary=summary,
                   labels=dict(labels), warnings=warnings, order=list(order))

    def ratio(self, interpreter="pypy") -> RatioCI:
        """The ratio slow/fast on one interpreter, by key ("pypy") or label ("PyPy")."""
        for key, label in self.labels.items():
            if interpreter in (key, label):
                return self.ratios[key]
        raise KeyError(f"no interpreter {interpreter!r} in this race; "
                       f"it has {', '.join(self.labels)}")

    # -- text

    def verdict(self, key) -> str:
        """"faster", "slower" or "no clear difference" (the interval contains 1)."""
        r = self.ratios[key]
        if r.lo <= 1 <= r.hi:
            return "no clear difference"
        return "faster" if r.ratio > 1 else "slower"

    def sentence(self, key) -> str:
        """One interpreter's result in words, e.g. "on PyPy, join is 12.3× faster than +=
        (95% CI 11.0–13.5×)"."""
        slow, fast = self.names
        r, what = self.ratios[key], self.verdict(key)
        ci = f"95% CI {_fmt_ratio(r.lo)}–{_fmt_ratio(r.hi)}×"
        if what == "slower":
            ci = f"95% CI {_fmt_ratio(1 / r.hi)}–{_fmt_ratio(1 / r.lo)}×"
            text = f"{fast} is {_fmt_ratio(1 / r.ratio)}× slower than {slow} ({ci})"
        elif what == "faster":
            text = f"{fast} is {_fmt_ratio(r.ratio)}× faster than {slow} ({ci})"
        else:
            text = (f"no clear difference between {fast} and {slow} "
                    f"(ratio {_fmt_ratio(r.ratio)}×, {ci})")
        unsteady = [n for n in self.names
                    if self.races[n].warmups[key].steady_start is None]
        if unsteady:
            text += f" [{' and '.join(unsteady)}: no steady state, treat with care]"
        return f"on {self.labels[key]}, {text}"

    def headline(self) -> str:
        sentences = [self.sentence(k) for k in self.ratios]
        text = "; ".join(sentences)
        return text[0].upper() + text[1:] + " (slow/fast steady medians, within one process each)."

    def _line(self, key) -> str:
        row = self.summary.loc[key]
        return (f"{self.labels[key]}: {self.names[0]} {format_seconds(row['slow_median_s'])} "
                f"({row['slow_warmup']}), {self.names[1]} "
                f"{format_seconds(row['fast_median_s'])} ({row['fast_warmup']}) per run")

    @property
    def nursery(self) -> list:
        """What the PyPy children's nursery was, and why (one sentence per distinct setting)."""
        return describe_runs(r for race in self.races.values() for r in race.runs.values())

    def text_lines(self) -> list:
        return ["  " + self._line(k) for k in self.ratios]

    def facts(self) -> list:
        return self.nursery

    # -- table, figure, html

    def display_table(self):
        """One row per interpreter, with readable headers and units, as strings."""
        import pandas as pd

        slow, fast = self.names
        rows = {}
        for key, row in self.summary.iterrows():
            rows[self.labels[key]] = {
                f"{slow} (median)": format_seconds(row["slow_median_s"]),
                f"{fast} (median)": format_seconds(row["fast_median_s"]),
                f"{slow} ÷ {fast}": f"{_fmt_ratio(row['ratio'])}×",
                "95% CI": f"{_fmt_ratio(row['ci_lo'])}–{_fmt_ratio(row['ci_hi'])}×",
                "verdict": self.verdict(key),
                "warm-up": f"{row['slow_warmup']} / {row['fast_warmup']}",
            }
        return pd.DataFrame(rows).T

    @property
    def figure(self):
        if self._figure is None:
            from .plots import pair_figure

            self._figure = pair_figure(self.summary, names=self.names)
        return self._figure


