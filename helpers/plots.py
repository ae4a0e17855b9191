"""Matplotlib figures shared by the course.  Made to be read on a projector.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
pyplot, so a notebook shows a figure only where it is asked for (no double display, no
figure left open) and nothing here calls ``plt.show()``.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

__all__ = ["warmup_figure", "COLORS"]

# Colour-blind-safe (Okabe–Ito), one per interpreter, in race order.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
FONT = 16
LINE = 2.5
LOG_ABOVE = 5.0  # log y-axis when the slowest sample is this many times the fastest


def warmup_figure(df, summary, *, labels: Optional[Mapping] = None,
                  title: str = "Time per run, sample by sample (lower is faster)") -> Figure:
    """Per-sample time against sample number, one line per interpreter.

    ``df`` has columns interpreter, sample, seconds; ``summary`` is indexed by
    interpreter with columns warmup (the kind), warmup_samples (first steady sample or
    NaN/None), stats_from (first sample the statistics describe) and steady_median_s.
    Each interpreter's steady state is drawn from its first steady sample on as a band
    (the interquartile range) with its median dashed, its start marked by a dotted
    vertical line; the legend names the warm-up kind.  Without a steady state, the
    median of the last segment (what the statistics describe) is dotted instead, with
    no band.  The y-axis is logarithmic when the times span more than ``LOG_ABOVE``×.
    """
    labels = dict(labels or {})
    fig = Figure(figsize=(11, 7), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, group) in enumerate(df.groupby("interpreter", sort=False)):
        color = COLORS[i % len(COLORS)]
        row = summary.loc[name]
        ax.plot(group["sample"], group["seconds"], color=color, lw=LINE,
                label=f"{labels.get(name, name)}: {_describe(row)}")
        _mark_steady(ax, group, row, color)
    _style(ax, df["seconds"].to_numpy(dtype=float))
    ax.set_title(title, fontsize=FONT + 2)
    return fig


def _steady_start(row):
    start = row["warmup_samples"]
    return None if start is None or not np.isfinite(start) else int(start)


def _describe(row) -> str:
    start = _steady_start(row)
    if start is None:
        return f"{row['warmup']} (dotted: last segment's median)"
    if row["warmup"] == "flat":
        return "flat"
    return f"{row['warmup']} (steady from sample {start})"


def _median_line(ax, y, x0, x1, color, style):
    ax.hlines(y, x0, x1, colors=color, linestyles=style, lw=LINE + 0.5, zorder=5,
              path_effects=[patheffects.withStroke(linewidth=LINE + 3, foreground="white")])


def _mark_steady(ax, group, row, color):
    """Band (IQR) and dashed median over the steady state, dotted line at its start."""
    start = _steady_start(row)
    if start is None:
        if "stats_from" in row.index:
            tail = group[group["sample"] >= row["stats_from"]]
            _median_line(ax, row["steady_median_s"], tail["sample"].min(),
                         tail["sample"].max(), color, ":")
        return
    tail = group[group["sample"] >= start]
    q1, q3 = np.percentile(tail["seconds"], [25, 75])
    x0, x1 = tail["sample"].min(), tail["sample"].max()
    ax.fill_between([x0, x1], q1, q3, color=color, alpha=0.25, lw=0)
    if x0 > 0:
        ax.axvline(x0, color=color, ls=":", lw=2)
    _median_line(ax, row["steady_median_s"], x0, x1, color, "--")


def _style(ax, seconds):
    positive = seconds[seconds > 0]
    log = positive.size > 0 and positive.max() / positive.min() > LOG_ABOVE
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(EngFormatter(unit="s", places=None))
    ax.set_xlabel("sample number", fontsize=FONT)
    ax.set_ylabel("seconds per run" + (" (log scale)" if log else ""), fontsize=FONT)
    ax.tick_params(labelsize=FONT - 2)
    ax.grid(True, which="major", alpha=0.3)
    ax.margins(x=0.01)
    # below the axes, never over the data
    legend = ax.figure.legend(loc="outside lower center", fontsize=FONT - 1, frameon=False)
    legend.set_title("steady state: band = middle 50% of samples, dashed = median",
                     prop={"size": FONT - 3})
