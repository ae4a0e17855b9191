"""From timing samples to statistics a JIT cannot fool (plain functions: no process is started).

The pipeline, each step a plain function that tests call directly:

1. :func:`changepoints` finds where the level of a series shifts (PELT, below).
2. :func:`classify_warmup` turns the segments into a warm-up class after Barrett et al.,
   "Virtual Machine Warmup Blows Hot and Cold" (OOPSLA 2017), and takes the statistics
   of the steady state only: "flat", "warm-up", "slow-down" or "no steady state".
3. :func:`bootstrap_ratio_ci` gives the speedup (ratio of steady-state medians) with a
   seeded bootstrap confidence interval.
4. :func:`samples_frame` builds the tidy samples table and the per-interpreter summary.
5. :func:`helpers.timing.race` runs ``harness.py`` in each interpreter and ties it together.

Changepoint method
------------------
The series is taken in log space (timings are skewed; a level shift becomes an additive
step).  Noise is estimated robustly as ``sigma = 1.4826 * MAD(diff(y)) / sqrt(2)``: first
differences cancel the level, so shifts barely affect it.  Excursions (a GC pause, a
burst of another program) are removed first: a value more than ``3 sigma`` from the
running median of ``2h + 1`` samples (``h = n // 10``, between 3 and 50) is replaced by
that median, so an excursion shorter than about ``h`` samples cannot form a segment,
while a lasting shift moves the median and survives.  The start is padded by repeating
the first sample, so a slow first run (a JIT compiling) is kept.
Then PELT (Killick, Fearnhead & Eckley 2012) finds the segmentation minimising

    sum over segments of  sum((y - segment mean)**2) / sigma**2   +   penalty * (#changes)

exactly, with ``penalty = penalty_scale * log(n)`` (default ``10 log n``).  Real timing
noise is neither independent nor normal, so the penalty is far above the BIC's
``2 log n`` (Barrett et al. also used a large multiple of ``log n``); shifts that are
real but too small to matter are then removed by the merging step below.

Classification (after Barrett et al.)
-------------------------------------
Adjacent segments whose medians differ by less than ``tolerance`` (relative) are
merged, most similar pair first.  The steady state is the last segment, extended back
over earlier segments at the same level when everything in between was slower (a
hiccup: other programs only ever slow a run down; Barrett et al. do not extend, which
on a busy laptop turns every hiccup into a changepoint).  Then: fewer than
``min_samples`` samples -> "no steady state"; steady from the first sample -> "flat";
steady only in the last ``tail`` fraction of the series -> "no steady state"; the
steady level is the fastest (within ``tolerance``) -> "warm-up"; otherwise it is slower
than an earlier one -> "slow-down".  The statistics to report are those of the steady
state, whose slower stretches count in its spread and mean (and a warning names them).
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Optional

import numpy as np

__all__ = [
    "changepoints",
    "noise_sigma",
    "Segment",
    "Warmup",
    "classify_warmup",
    "samples_needed",
    "RatioCI",
    "bootstrap_ratio_ci",
    "process_ratio_ci",
    "samples_frame",
    "sample_runs",
    "steady_samples",
]

# Defaults, in one place so docs and tests can refer to them.
PENALTY_SCALE = 10.0  # penalty = PENALTY_SCALE * log(n), in units of sigma**2
TOLERANCE = 0.10  # segments whose medians differ by less than 10% are the same level
TAIL = 0.25  # a last change in the last 25% of samples: no steady state
MIN_SAMPLES = 10  # fewer samples than this: no steady state (and a warning)
NOISY = 0.05  # MAD above 5% of the median: "too noisy to trust"
EXCURSION_DIV = 10  # excursions shorter than ~n // 10 samples are not segments ...
EXCURSION_MAX = 50  # ... nor than 50 samples (bounds the running median's memory)
_CLIP_SIGMAS = 3.0


# ----------------------------------------------------------------------------- changepoints


def noise_sigma(y) -> float:
    """Robust noise level of a series: the MAD of first differences, scaled to a sigma.

    For normal noise, ``diff(y)`` has standard deviation ``sigma * sqrt(2)`` and
    ``1.4826 * MAD`` estimates a standard deviation; level shifts change only a few
    differences, so they hardly move the MAD.  Falls back to the standard deviation of
    the differences when more than half of them are zero (piecewise-constant data), and
    returns 0.0 for a constant series.
    """
    d = np.diff(np.asarray(y, dtype=float))
    if d.size == 0:
        return 0.0
    mad = float(np.median(np.abs(d - np.median(d))))
    if mad > 0:
        return 1.4826 * mad / math.sqrt(2)
    return float(np.std(d)) / math.sqrt(2)


def _drop_excursions(y: np.ndarray, sigma: float, half: int) -> np.ndarray:
    """Replace values more than ``3 sigma`` from a running median by that median.

    The running median spans ``2 half + 1`` samples, so an excursion (a spike, a
    burst of interference) shorter than about ``half`` samples is replaced, while a
    lasting shift moves the median and survives.  The series is padded by repeating
    its first value at the start, so a warm-up of even one slow sample is kept, and
    by mirroring at the end, so a burst in the final samples counts only if it lasts
    at least about ``half / 2`` samples.
    """
    if y.size < 2 * half + 1 or sigma == 0 or half < 1:
        return y
    padded = np.concatenate((np.repeat(y[:1], half), y, y[-2 : -half - 2 : -1]))
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    med = np.median(windows, axis=1)
    return np.where(np.abs(y - med) > _CLIP_SIGMAS * sigma, med, y)


def _pelt(y: np.ndarray, beta: float, min_size: int) -> list:
    """Exact penalised segmentation of ``y`` (already scaled to unit noise) by PELT.

    Cost of a segment: its sum of squared deviations from its mean.  Returns the
    indices where segments after the first start.
    """
    n = y.size
    y = y - y.mean()  # keeps the cumulative sums small
    s1 = np.concatenate(([0.0], np.cumsum(y)))
    s2 = np.concatenate(([0.0], np.cumsum(y * y)))

    def cost(s, t):
        length = t - s
        return (s2[t] - s2[s]) - (s1[t] - s1[s]) ** 2 / length

    best = np.full(n + 1, np.inf)
    best[0] = -beta
    previous = np.zeros(n + 1, dtype=int)
    candidates = np.array([0])
    for t in range(min_size, n + 1):
        usable = candidates[candidates <= t - min_size]
        total = best[usable] + cost(usable, t)
        i = int(np.argmin(total))
        best[t] = total[i] + beta
        previous[t] = usable[i]
        # PELT pruning: a start that cannot beat the optimum now never will.
        keep = candidates[(candidates > t - min_size)]
        candidates = np.concatenate((usable[total <= best[t]], keep))
        if t >= min_size and t <= n - min_size:
            candidates = np.append(candidates, t)
    starts = []
    t = n
    while t > 0:
        t = int(previous[t])
        if t > 0:
            starts.append(t)
    return sorted(starts)


def changepoints(series, *, penalty_scale: float = PENALTY_SCALE,
                 min_size: Optional[int] = None, log: bool = True,
                 excursion: Optional[int] = None) -> list:
    """Indices where the level of ``series`` shifts (each starts a new segment).

    See the module docstring for the method.  ``min_size`` is the shortest segment
    (default 1: excursions are removed before the search, so a short segment can only
    be a slow start); ``excursion`` the half-width of the running median (default
    ``max(3, min(n // 10, 50))``).  ``log`` analyses ``log(series)`` (the series must then be
    positive), which suits timings.
    """
    y = np.asarray(series, dtype=float)
    if log:
        y = np.log(y)
    n = y.size
    if min_size is None:
        min_size = 1
    if n < 2 * min_size:
        return []
    sigma = noise_sigma(y)
    if sigma == 0:  # a constant series
        return []
    if excursion is None:
        excursion = max(3, min(n // EXCURSION_DIV, EXCURSION_MAX))
    y = _drop_excursions(y, sigma, excursion) / sigma
    return _pelt(y, penalty_scale * math.log(n), min_size)


# ----------------------------------------------------------------------------- warm-up


@dataclass(frozen=True)
class Segment:
    start: int
    stop: int  # exclusive
    median: float  # seconds per run


@dataclass(frozen=True)
class Warmup:
    """Warm-up class and steady-state statistics of one series of samples.

    ``kind`` is "flat", "warm-up", "slow-down" or "no steady state".  The statistics
    (``median``, ``mean``, ``mad``, ``iqr``, ``count``, ``rel_spread``) describe the
    samples from ``window_start`` on: the steady state, or, with "no steady state",
    merely the last thing seen (a warning says so).  ``steady_start`` is the index of
    the first steady sample (None without a steady state) and ``warmup_seconds`` the
    time spent in the samples before it.  ``segments`` are the merged segments
    (start, stop, median).
    """

    kind: str
    steady_start: Optional[int]
    warmup_seconds: Optional[float]
    window_start: int
    median: float
    mean: float
    mad: float
    iqr: float
    count: int
    rel_spread: float
    n: int
    segments: tuple
    warnings: tuple = field(default=())



def _merge_segments(x: np.ndarray, starts: list, tolerance: float) -> list:
    """Merge adjacent segments whose medians are within ``tolerance``, closest first."""
    bounds = [0] + list(starts) + [x.size]
    segs = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    limit = math.log1p(tolerance)
    while len(segs) > 1:
        levels = [math.log(np.median(x[a:b])) for a, b in segs]
        gaps = [abs(levels[i + 1] - levels[i]) for i in range(len(segs) - 1)]
        i = int(np.argmin(gaps))
        if gaps[i] > limit:
            break
        segs[i : i + 2] = [(segs[i][0], segs[i + 1][1])]
    return [Segment(a, b, float(np.median(x[a:b]))) for a, b in segs]


def _steady_segment(segments: list, tolerance: float) -> int:
    """Index of the segment where the steady state begins.

    The last segment, extended back to the earliest segment at the same level (within
    ``tolerance``) as long as every segment in between is slower: interference from
    other programs only ever slows a run down, so a slower stretch that ends where it
    started is a hiccup inside the steady state, not a change of state.  A faster
    segment ends the search.
    """
    limit = math.log1p(tolerance)
    final = math.log(segments[-1].median)
    first = len(segments) - 1
    for i in range(len(segments) - 2, -1, -1):
        level = math.log(segments[i].median)
        if abs(level - final) <= limit:
            first = i
        elif level < final:
            break
    return first


def _spread(x: np.ndarray):
    median = float(np.median(x))
    mad = float(np.median(np.abs(x - median)))
    q1, q3 = np.percentile(x, [25, 75])
    return median, mad, float(q3 - q1)


def classify_warmup(samples, runs=1, *, tolerance: float = TOLERANCE,
                    penalty_scale: float = PENALTY_SCALE, tail: float = TAIL,
                    min_samples: int = MIN_SAMPLES, noisy: float = NOISY,
                    min_size: Optional[int] = None) -> Warmup:
    """Classify a series of per-run times (seconds, positive) as Barrett et al. do.

    ``runs`` is how many executions each sample averaged (an int, or one per sample);
    it is only used to turn samples into seconds spent (``warmup_seconds``).  See the
    module docstring for the method and the meaning of the keyword arguments.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("need a non-empty 1-d series of samples")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("samples must be finite and positive (seconds per run)")
    weights = np.broadcast_to(np.asarray(runs, dtype=float), x.shape)
    n = x.size
    warnings = []
    if n < min_samples:
        starts = []
    else:
        starts = changepoints(x, penalty_scale=penalty_scale, min_size=min_size)
    segments = _merge_segments(x, starts, tolerance)
    first = _steady_segment(segments, tolerance)
    begin = segments[first].start
    levels = [math.log(seg.median) for seg in segments]
    if n < min_samples:
        kind = "no steady state"
        warnings.append(f"only {n} samples: too few to find a steady state "
                        f"(give it at least {min_samples}: raise the budget)")
    elif begin == 0:
        kind = "flat"
    elif begin > (1 - tail) * n:
        kind = "no steady state"
        warnings.append(
            f"no steady state: performance still changed at sample {begin} of {n}; "
            f"the statistics describe only the last {n - begin} samples (raise the budget)")
    elif levels[-1] <= min(levels) + math.log1p(tolerance):
        kind = "warm-up"
    else:
        kind = "slow-down"
    bumps = sum(level - levels[-1] > math.log1p(tolerance) for level in levels[first:])
    if bumps and kind != "no steady state":
        warnings.append(
            f"{bumps} slower stretch{'es' if bumps > 1 else ''} inside the steady state "
            "(other programs? GC?): counted in its spread and mean")
    steady = x[begin:]
    median, mad, iqr = _spread(steady)
    rel_spread = mad / median
    if rel_spread > noisy:
        warnings.append(f"spread (MAD) is {rel_spread:.0%} of the median: too noisy to trust")
    mean = float(np.mean(steady))
    if mean > (1 + tolerance) * median:
        warnings.append(
            f"the steady mean is {mean / median - 1:.0%} above the median: occasional slow "
            "samples (GC pauses? other programs?) that the median leaves out")
    if n >= min_samples and steady.size < min_samples:
        warnings.append(f"only {steady.size} samples in the last segment")
    steady_start = None if kind == "no steady state" else begin
    warmup_seconds = (None if steady_start is None
                      else float(np.sum(x[:steady_start] * weights[:steady_start])))
    return Warmup(kind=kind, steady_start=steady_start, warmup_seconds=warmup_seconds,
                  window_start=begin, median=median, mean=mean, mad=mad, iqr=iqr,
                  count=int(steady.size),
                  rel_spread=float(rel_spread), n=n, segments=tuple(segments),
                  warnings=tuple(warnings))


def samples_needed(warmup: Warmup, *, tail: float = TAIL,
                   min_samples: int = MIN_SAMPLES) -> int:
    """How many samples a series like the one ``warmup`` describes needs for a steady state
    that can be trusted: the last change (``warmup.window_start``, sample ``k``) must fall in
    the first ``1 - tail`` of the series, as :func:`classify_warmup` (with the same ``tail``)
    requires, and at least ``min_samples`` samples must follow it, which it only warns about:
    ``max(min_samples, k + min_samples, ceil(k / (1 - tail)))``. A lower bound: a curve still
    falling will change again later. ``samples_needed(w) <= w.n`` with a ``steady_start`` means
    the series has what it needs.
    """
    k = warmup.window_start
    return max(min_samples, k + min_samples, math.ceil(k / (1 - tail)))


# ----------------------------------------------------------------------------- bootstrap


class RatioCI(NamedTuple):
    ratio: float
    lo: float
    hi: float


def bootstrap_ratio_ci(a, b, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> RatioCI:
    """``median(a) / median(b)`` with a percentile-bootstrap confidence interval.

    ``a`` and ``b`` are resampled independently ``n_boot`` times with a
    ``numpy.random.default_rng(seed)``, so the answer is deterministic.  In the rare
    case the percentile interval misses the point estimate (very few samples), it is
    widened to include it, so ``lo <= ratio <= hi`` always holds.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples must be non-empty")
    ratio = float(np.median(a) / np.median(b))
    rng = np.random.default_rng(seed)
    ma = _bootstrap_medians(a, n_boot, rng)
    mb = _bootstrap_medians(b, n_boot, rng)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ma / mb, [alpha, 1 - alpha])
    return RatioCI(ratio, float(min(lo, ratio)), float(max(hi, ratio)))


def process_ratio_ci(groups_a, groups_b, *, confidence: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> RatioCI:
    """Speedup across processes: the median of per-process medians of ``a`` over that of
    ``b``, with a two-level bootstrap interval.

    ``groups_a`` and ``groups_b`` are lists of steady-state sample arrays, one per process.
    Each bootstrap round resamples whole processes, then samples within each chosen process,
    so the interval covers the variation between processes (start-up layout, machine load)
    that one process's samples cannot show.
    """
    groups_a = [np.asarray(g, dtype=float) for g in groups_a]
    groups_b = [np.asarray(g, dtype=float) for g in groups_b]
    if not groups_a or not groups_b or any(g.size == 0 for g in groups_a + groups_b):
        raise ValueError("every process needs at least one sample")
    ratio = float(np.median([np.median(g) for g in groups_a]) /
                  np.median([np.median(g) for g in groups_b]))
    rng = np.random.default_rng(seed)

    def medians_of_medians(groups):
        # one row per bootstrap round: per-process medians of resampled processes
        per_process = np.stack([_bootstrap_medians(g, n_boot, rng) for g in groups], axis=1)
        chosen = rng.integers(0, len(groups), size=(n_boot, len(groups)))
        return np.median(np.take_along_axis(per_process, chosen, axis=1), axis=1)

    ma, mb = medians_of_medians(groups_a), medians_of_medians(groups_b)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ma / mb, [alpha, 1 - alpha])
    return RatioCI(ratio, float(min(lo, ratio)), float(max(hi, ratio)))


def _bootstrap_medians(x: np.ndarray, n_boot: int, rng) -> np.ndarray:
    rows = max(1, 2_000_000 // x.size)  # bounded memory for long series
    out = []
    for start in range(0, n_boot, rows):
        k = min(rows, n_boot - start)
        out.append(np.median(x[rng.integers(0, x.size, size=(k, x.size))], axis=1))
    return np.concatenate(out)


# ----------------------------------------------------------------------------- tables


def sample_runs(result: Mapping) -> np.ndarray:
    """Executions per sample of a harness result (or ``number`` for every sample)."""
    if "runs" in result:
        return np.asarray(result["runs"], dtype=int)
    return np.full(len(result["samples"]), int(result.get("number", 1)), dtype=int)


def _as_result(value) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    return {"samples": list(value), "number": 1}


def samples_frame(runs: Mapping, startup: Optional[Mapping] = None,
                  warmups: Optional[Mapping] = None):
    """Tidy samples table and per-interpreter summary.

    ``runs`` maps an interpreter name to a harness result (dict with "samples" etc.)
    or simply to a sequence of per-run seconds.  ``startup`` optionally maps names to
    start-up seconds; ``warmups`` to already computed :class:`Warmup` (else they are
    computed here).  Returns ``(df, summary)``: ``df`` has one row per sample with
    columns interpreter, sample, seconds, runs; ``summary`` one row per interpreter.
    """
    import pandas as pd

    frames, rows = [], []
    for name, value in runs.items():
        result = _as_result(value)
        x = np.asarray(result["samples"], dtype=float)
        counts = sample_runs(result)
        w = (warmups or {}).get(name) or classify_warmup(x, counts)
        frames.append(pd.DataFrame({"interpreter": name, "sample": np.arange(x.size),
                                    "seconds": x, "runs": counts}))
        rows.append({
            "interpreter": name,
            "implementation": result.get("implementation"),
            "version": result.get("pypy_version") or result.get("version"),
            "jit": result.get("jit"),
            "startup_s": (startup or {}).get(name, np.nan),
            "warmup": w.kind,
            "warmup_samples": w.steady_start,
            "warmup_s": w.warmup_seconds,
            "stats_from": w.window_start,
            "steady_median_s": w.median,
            "steady_mean_s": w.mean,
            "mad_s": w.mad,
            "iqr_s": w.iqr,
            "rel_spread": w.rel_spread,
            "n_steady": w.count,
            "n_samples": w.n,
            "number": int(result.get("number", 1)),
        })
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["interpreter", "sample", "seconds", "runs"])
    summary = pd.DataFrame(rows).set_index("interpreter")
    return df, summary


def steady_samples(result: Mapping, warmup: Warmup) -> np.ndarray:
    """The samples a speedup uses: from the warm-up's ``window_start`` on."""
    return np.asarray(result["samples"], dtype=float)[warmup.window_start:]
