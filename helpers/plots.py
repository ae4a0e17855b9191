"""Matplotlib figures shared by the course.  Made to be read on a projector.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
pyplot, so a notebook shows a figure only where it is asked for (no double display, no
figure left open) and nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import zlib
from typing import Mapping, Optional

import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

from .formatting import format_seconds

__all__ = ["warmup_figure", "where_time_figure", "COLORS", "PART_COLORS",
           "flame_svg", "flame_figure", "profile_comparison_figure", "pair_figure",
           "pairs_figure"]


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


# ----------------------------------------------------------------------------- where the time goes

# One colour per part of a run (Okabe–Ito again; the rest in grey, so the JIT and GC stand out).
PART_COLORS = {
    "tracing": "#E69F00",
    "backend": "#D55E00",
    "GC minor": "#56B4E9",
    "GC major": "#0072B2",
    "the rest": "#C8C8C8",
}


def where_time_figure(seconds: Mapping, hot=None, *, wall: Optional[float] = None,
                      title: str = "Where the time goes (one run on PyPy)") -> Figure:
    """A stacked bar of one run's wall time split into parts, and the hottest loops below it.

    ``seconds`` maps part names (in order: tracing, backend, GC minor, GC major, the rest) to
    seconds; ``wall`` is the run's wall time (default: their sum). ``hot`` is a table with
    columns ``trace``, ``where`` and ``runs`` (the hottest loops and bridges, hottest first);
    without it (or empty) only the bar is drawn. Each part is labelled with its name and share
    where it is wide enough, and in the legend with its time and share.
    """
    from matplotlib.ticker import MaxNLocator


    parts = [(name, float(value or 0.0)) for name, value in seconds.items()]
    total = wall if wall else sum(v for _, v in parts) or 1.0
    n_hot = 0 if hot is None else min(len(hot), 8)
    height = 3.8 + (0.75 * n_hot + 1.2 if n_hot else 0)
    fig = Figure(figsize=(11, height), layout="constrained")
    if n_hot:
        ax, ax_hot = fig.subplots(2, 1, height_ratios=[2.3, 0.75 * n_hot + 1.0])
    else:
        ax, ax_hot = fig.add_subplot(), None
    left = 0.0
    for i, (name, value) in enumerate(parts):
        share = value / total
        color = PART_COLORS.get(name, COLORS[i % len(COLORS)])
        time = format_seconds(value) if value else "0"
        ax.barh(0, value, left=left, color=color, edgecolor="white", linewidth=1.5,
                label=f"{name}: {time} ({share:.0%})")
        # About 0.01 of the width per character at this font size and figure width.
        if share >= 0.010 * (len(name) + 1):
            ax.text(left + value / 2, 0, f"{name}\n{share:.0%}", ha="center", va="center",
                    fontsize=FONT - 1)
        elif share >= 0.05:
            ax.text(left + value / 2, 0, f"{share:.0%}", ha="center", va="center",
                    fontsize=FONT - 2)
        left += value
    ax.set_xlim(0, max(total, left))
    ax.set_ylim(-0.5, 0.5)
    ax.set_yticks([])
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.xaxis.set_major_formatter(EngFormatter(unit="s", places=None))
    ax.tick_params(labelsize=FONT - 2)
    ax.set_xlabel("wall time of the run", fontsize=FONT - 1)
    ax.set_title(title, fontsize=FONT + 2)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=3, fontsize=FONT - 3,
              frameon=False)
    if ax_hot is not None:
        _hot_bars(ax_hot, hot.head(n_hot))
    return fig


def _hot_bars(ax, hot):
    """Horizontal bars of run counts, hottest on top, each labelled above its bar (no tick
    labels, so long names take no width from the plot)."""
    from matplotlib.transforms import blended_transform_factory

    runs = np.maximum(np.asarray(hot["runs"], dtype=float), 1.0)
    y = np.arange(len(runs))[::-1].astype(float)
    ax.barh(y, runs, color=COLORS[0], height=0.45)
    log = runs.max() / runs.min() > 100
    if log:
        ax.set_xscale("log")
        ax.set_xlim(max(runs.min() / 3, 0.5), runs.max() * 1.5)
    else:
        ax.set_xlim(0, runs.max() * 1.05)
    where = blended_transform_factory(ax.transAxes, ax.transData)
    for yi, trace, place, count in zip(y, hot["trace"], hot["where"], runs):
        ax.text(0.003, yi + 0.27, f"{trace}: {_short(str(place), 70)}  ({count:,.0f} runs)",
                transform=where, va="bottom", ha="left", fontsize=FONT - 3)
    ax.set_ylim(-0.5, len(runs) - 0.1)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(EngFormatter(places=None))
    ax.tick_params(axis="x", labelsize=FONT - 3)
    ax.set_xlabel("runs: iterations of a loop, times a bridge was taken"
                  + (" (log scale)" if log else ""), fontsize=FONT - 1)
    ax.set_title("Hottest loops and bridges", fontsize=FONT)
    ax.grid(True, axis="x", alpha=0.3)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- flame graphs
# Used by helpers.profiling. A flame graph here is drawn top-down (an "icicle"): the program's
# module level is the top bar, each function's callees are drawn below it, and a bar's width is
# its share of the samples. The SVG version needs no script: hover titles carry the figures.

# The program's own functions in warm colours, everything else (standard library, PyPy's
# built-in app-level code) in cool greys, so "my code" stands out.
_OWN = ("#E69F00", "#F0B44C", "#E8803F", "#F2C572", "#EBA06A", "#DDB44A")
_OTHER = ("#8FA9C2", "#A7BACB", "#9DB1C6", "#B7C6D4")
_FLAME_MIN = 0.002  # bars narrower than this share of the samples are left out
_flame_ids = iter(range(1, 10**9))


def _flame_boxes(root, max_depth: int, min_share: float):
    """(frame, depth, x0, width) per bar, x and width as shares of the root's samples."""
    total = root.count or 1.0
    out = []

    def place(frame, depth, x0):
        width = frame.count / total
        if width < min_share or depth > max_depth:
            return
        out.append((frame, depth, x0, width))
        x = x0
        for child in frame.children:
            place(child, depth + 1, x)
            x += child.count / total

    place(root, 0, 0.0)
    return out


def color_key(frame) -> int:
    """A stable small number per function (for colours), independent of hash randomisation."""
    return zlib.crc32(f"{frame.name}:{frame.file}".encode("utf-8", "replace"))


def _flame_color(frame, home: str) -> str:

    own = bool(home) and frame.file.startswith(home)
    palette = _OWN if own else _OTHER
    return palette[color_key(frame) % len(palette)]


def _flame_home(root) -> str:
    import os

    return os.path.dirname(root.file) + os.sep if root.file else ""


def _flame_title(frame, total: float) -> str:
    where = f"{frame.file}:{frame.line}" if frame.file else "(no source file)"
    return (f"{frame.name}  ({where})\n"
            f"total {100 * frame.count / total:.1f}% of samples, "
            f"self {100 * frame.self_count / total:.1f}%")


def flame_svg(root, *, max_depth: int = 16, min_share: float = _FLAME_MIN,
              width: int = 1200, row: int = 26) -> str:
    """A self-contained, script-free SVG flame graph (root on top) of a profile's call tree.

    Every text from the profile (function names, file paths) is escaped. Hover over a bar for
    its file:line and its total and self shares.
    """
    import html

    boxes = _flame_boxes(root, max_depth, min_share)
    depth = max((d for _, d, _, _ in boxes), default=0) + 1
    total = root.count or 1.0
    home = _flame_home(root)
    uid = f"flame{next(_flame_ids)}"
    height = depth * row + 4
    char = 8.6  # average width of a 15 px character, in SVG units
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{uid}" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width + 200}px; font-family: sans-serif" '
        f'role="img" aria-label="flame graph">',
        f"<style>.{uid} g:hover rect {{ stroke: #000; stroke-width: 2; }} "
        f".{uid} text {{ font-size: 15px; fill: #111; pointer-events: none; }}</style>",
    ]
    for frame, d, x0, w in boxes:
        x, y, wpx = x0 * width, d * row, w * width
        title = html.escape(_flame_title(frame, total), quote=True)
        label = frame.name
        room = int((wpx - 8) / char)
        if room < 3:
            label = ""
        elif len(label) > room:
            label = label[: room - 1] + "…"
        parts.append(
            f'<g><title>{title}</title><rect x="{x:.2f}" y="{y}" width="{max(wpx - 1, 0.5):.2f}" '
            f'height="{row - 2}" rx="2" fill="{_flame_color(frame, home)}"/>'
            + (f'<text x="{x + 4:.2f}" y="{y + row - 8}">{html.escape(label)}</text>'
               if label else "") + "</g>")
    parts.append("</svg>")
    deeper = any(c.count / total >= min_share for f, d, _, _ in boxes if d == max_depth
                 for c in f.children)
    legend = ("<p style='margin:2px 0 10px 0; font-size: 13px; color: #555'>Flame graph, top "
              "down: width = share of samples; below a bar, what it called"
              + (f" (cut at depth {max_depth + 1})" if deeper else "")
              + ". Orange: the program's own files; grey-blue: the standard library and the "
              "interpreter. Hover over a bar for its figures.</p>")
    return "<div>" + "".join(parts) + legend + "</div>"


def flame_figure(root, *, title: str = "Flame graph", max_depth: int = 14,
                 min_share: float = 0.004) -> Figure:
    """The same flame graph (root on top) as a static matplotlib figure, for the web and print."""
    from matplotlib.patches import Patch, Rectangle

    boxes = _flame_boxes(root, max_depth, min_share)
    depth = max((d for _, d, _, _ in boxes), default=0) + 1
    home = _flame_home(root)
    fig = Figure(figsize=(14, 1.6 + 0.55 * depth), layout="constrained")
    ax = fig.add_subplot()
    across = 14 * 72 / (0.62 * (FONT - 3))  # characters across the whole width
    for frame, d, x0, w in boxes:
        ax.add_patch(Rectangle((x0, d), w, 0.92, facecolor=_flame_color(frame, home),
                               edgecolor="white", lw=1))
        room = int(w * across) - 1
        if room >= 3:
            label = frame.name if len(frame.name) <= room else frame.name[: room - 1] + "…"
            ax.text(x0 + 0.003, d + 0.46, label, va="center", ha="left", fontsize=FONT - 3,
                    clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(depth, 0)  # root on top
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_xlabel("share of samples (bar width); a bar's callees are drawn below it",
                  fontsize=FONT - 2)
    ax.tick_params(labelsize=FONT - 3)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=FONT + 1)
    fig.legend(handles=[Patch(color=_OWN[0], label="the program's own files"),
                        Patch(color=_OTHER[0], label="standard library / interpreter")],
               loc="outside lower center", ncols=2, fontsize=FONT - 3, frameon=False)
    return fig


def profile_comparison_figure(table, *, title: str = "Where the time goes: self share per "
                              "function") -> Figure:
    """Grouped horizontal bars: self share (%) per function (rows of ``table``) for each
    interpreter (its columns), the biggest at the top."""
    names = list(table.index)
    fig = Figure(figsize=(13, 1.5 + 0.75 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    k = len(table.columns)
    height = 0.8 / max(k, 1)
    y = np.arange(len(names))
    for i, col in enumerate(table.columns):
        values = table[col].to_numpy(dtype=float)
        bars = ax.barh(y - 0.4 + height * (i + 0.5), values, height=height,
                       color=COLORS[i % len(COLORS)], label=col)
        ax.bar_label(bars, labels=[f"{v:.0f}%" for v in values], padding=3,
                     fontsize=FONT - 4)
    ax.set_yticks(y, [n if len(n) <= 45 else n[:44] + "…" for n in names], fontsize=FONT - 3)
    ax.invert_yaxis()
    ax.set_xlabel("share of the samples with this function on top of the stack (self %)",
                  fontsize=FONT - 2)
    ax.tick_params(axis="x", labelsize=FONT - 3)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlim(0, max(5.0, float(np.nanmax(table.to_numpy(dtype=float))) * 1.15))
    ax.set_title(title, fontsize=FONT + 1)
    ax.legend(fontsize=FONT - 2, loc="lower right")
    return fig


# ----------------------------------------------------------------------------- pairs of variants


def _ratio_axis(ax, lo_all, hi_all, xlabel):
    """Log x-axis for ratios, "1×" (no difference) marked, ticks as "2×"."""
    from matplotlib.ticker import FuncFormatter

    lo_all, hi_all = min(lo_all, 0.8), max(hi_all, 1.25)
    ax.set_xscale("log")
    ax.set_xlim(lo_all / 1.6, hi_all * 1.6)
    ax.axvline(1.0, color="#555555", lw=1.5, ls="--", zorder=1)
    wide = hi_all / lo_all > 200  # decades only, or the labels collide
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.tick_params(labelsize=FONT - 2)
    ax.set_xlabel(xlabel, fontsize=FONT - 1)
    ax.grid(True, axis="x", which="major", alpha=0.3)


def pair_figure(summary, *, names=("slow", "fast"),
                title: Optional[str] = None) -> Figure:
    """Two panels for a race of two variants on several interpreters.

    ``summary`` is indexed by interpreter with columns label, slow_median_s, fast_median_s,
    ratio, ci_lo, ci_hi (:attr:`helpers.pairs.PairResult.summary`).  Left: each variant's
    steady median per interpreter (bars, log scale).  Right: the ratio slow/fast with its
    95% interval; right of the dashed 1× line the fast variant is faster.
    """

    slow, fast = names
    n = len(summary)
    fig = Figure(figsize=(11, 1.6 + 1.15 * n), layout="constrained")
    ax_t, ax_r = fig.subplots(1, 2, width_ratios=[1.15, 1])
    y = np.arange(n)[::-1].astype(float)
    labels = [str(v) for v in summary["label"]]
    for dy, column, name, color in ((0.2, "slow_median_s", slow, COLORS[1]),
                                     (-0.2, "fast_median_s", fast, COLORS[0])):
        values = summary[column].to_numpy(dtype=float)
        ax_t.barh(y + dy, values, height=0.38, color=color, label=name)
        for yi, v in zip(y + dy, values):
            ax_t.text(v, yi, " " + format_seconds(v), va="center", fontsize=FONT - 4)
    ax_t.set_xscale("log")
    times = summary[["slow_median_s", "fast_median_s"]].to_numpy(dtype=float)
    ax_t.set_xlim(times.min() / 2, times.max() * 12)
    ax_t.xaxis.set_major_formatter(EngFormatter(unit="s", places=None))
    ax_t.xaxis.set_minor_formatter(NullFormatter())
    ax_t.set_yticks(y, labels, fontsize=FONT)
    ax_t.tick_params(axis="x", labelsize=FONT - 3)
    ax_t.set_xlabel("steady median per run (log)", fontsize=FONT - 1)
    ax_t.legend(fontsize=FONT - 3, frameon=False, loc="upper right")
    ratio = summary["ratio"].to_numpy(dtype=float)
    lo, hi = summary["ci_lo"].to_numpy(dtype=float), summary["ci_hi"].to_numpy(dtype=float)
    ax_r.errorbar(ratio, y, xerr=[ratio - lo, hi - ratio], fmt="o", color=COLORS[2],
                  ms=11, lw=LINE, capsize=6, zorder=3)
    for yi, r in zip(y, ratio):
        ax_r.annotate(f"{r:.3g}×", (r, yi), xytext=(0, 12), textcoords="offset points",
                      ha="center", fontsize=FONT - 2)
    _ratio_axis(ax_r, lo.min(), hi.max(), f"{slow} ÷ {fast}  (>1: {fast} is faster)")
    ax_r.set_yticks(y, [""] * n)
    ax_r.set_ylim(y.min() - 0.6, y.max() + 0.7)
    ax_t.set_ylim(y.min() - 0.6, y.max() + 0.7)
    fig.suptitle(title or f"{slow}  vs  {fast}  (steady state; 95% CI)", fontsize=FONT + 1)
    return fig


def pairs_figure(table, *, title: str = "Slow ÷ fast variant, per pitfall (95% CI)") -> Figure:
    """Many races of two variants at once: one row per pitfall, one marker per interpreter.

    ``table`` has one row per pitfall (its index names it) and, per interpreter label
    ``L``, columns ``"L ratio"``, ``"L lo"``, ``"L hi"``.
    """
    interps = [c[: -len(" ratio")] for c in table.columns if c.endswith(" ratio")]
    n = len(table)
    fig = Figure(figsize=(11, 1.4 + 0.55 * n), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1].astype(float)
    offsets = np.linspace(-0.15, 0.15, len(interps)) if len(interps) > 1 else [0.0]
    lows, highs = [1.0], [1.0]
    for i, (name, dy) in enumerate(zip(interps, offsets)):
        r = table[f"{name} ratio"].to_numpy(dtype=float)
        lo = table[f"{name} lo"].to_numpy(dtype=float)
        hi = table[f"{name} hi"].to_numpy(dtype=float)
        ax.errorbar(r, y + dy, xerr=[r - lo, hi - r], fmt="o", ms=8, lw=LINE - 0.5,
                    capsize=4, color=COLORS[i % len(COLORS)], label=name, zorder=3)
        lows.append(np.nanmin(lo))
        highs.append(np.nanmax(hi))
    _ratio_axis(ax, min(lows), max(highs), "slow ÷ fast  (>1: the fast variant is faster)")
    ax.set_yticks(y, [str(i) for i in table.index], fontsize=FONT - 3)
    ax.set_ylim(-0.7, n - 0.3)
    fig.legend(fontsize=FONT - 2, frameon=False, loc="outside lower center", ncol=len(interps))
    ax.set_title(title, fontsize=FONT + 1)
    return fig
