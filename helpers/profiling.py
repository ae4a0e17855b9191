"""Profile a program with vmprof on PyPy or CPython, read the profile on CPython, show it.

    >>> prof = helpers.profile("examples/wordfreq.py")           # on PyPy, a script
    >>> prof = helpers.profile(code, interpreter="cpython")       # a snippet, on CPython
    >>> prof.table()          # functions by self and total share, with file:line
    >>> prof                  # in a notebook: headline, flame graph (SVG, hover titles), table
    >>> prof.figure           # the same flame graph as a static matplotlib figure
    >>> helpers.profile_both(code)    # CPython and PyPy side by side

How it works: a small driver (stdlib plus vmprof, Python 3.9-compatible) runs in the chosen
interpreter's venv. It opens the profile file in a private temp dir, calls
``vmprof.enable(..., native=False)`` (no native stacks, hence no libunwind), runs the program with
``exec`` ``repeat`` times in one process (what repeated runs print is dropped), each run in the
same module dict emptied to a fresh module's names (so PyPy's compiled loops stay valid and a
later run is not slower), and writes how long each run took. The profile is then read here,
on CPython, with ``vmprof.read_profile`` and the temp dir is removed (``keep=`` copies the raw
profile out first, e.g. for ``vmprofshow``).

vmprof samples the stack on a timer; on the course's machines that tops out at a few hundred
samples a second, fewer on PyPy. A profile with fewer than ``min_samples`` samples is redone once,
with the program repeated in the same process often enough to collect them, and says so in its
warnings. Shares are then good to about ``1/sqrt(samples)``.

Line profiling (``lines=True``) works on CPython only: PyPy's vmprof records functions, not lines,
so on PyPy the profile says so instead of showing a table of zeros.

The tree is rooted at the program's module level: the driver's own frames and ``runpy``'s are cut
off. Counts are vmprof's: on CPython 0.6.0 writes a timestamp with each sample and the reader
weights a sample by the timer periods it stands for; PyPy's samples all weigh 1. Shares are
fractions of the total weight either way.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .display import (figure_base64, figure_png, notes_html, notes_lines, page, warnings_html,
                      write_page)
from .interpreters import get_interpreter
from .nursery import describe_runs
from .runner import ChildError, ask, private_tmpdir
from .vmprofread import (ENTRY, EmptyProfile, Frame, ProfileError, function_table,
                         read_profile)

__all__ = [
    "profile",
    "profile_both",
    "read_profile",
    "Profile",
    "ProfileComparison",
    "ProfileError",
    "EmptyProfile",
    "Frame",
    "function_table",
    "LINES_UNSUPPORTED",
    "ENTRY",
]

MIN_SAMPLES = 200  # fewer than this: redo the run, repeated
MAX_SECONDS = 20.0  # ... but never plan a redo longer than this
PERIOD = 0.00099  # vmprof's default sampling period (s); the timer delivers fewer

LINES_UNSUPPORTED = (
    "line profiling is not available on PyPy: its vmprof records which functions were running, "
    "not which lines. Profile on CPython with lines=True to see lines, or split the hot function "
    "into smaller ones."
)

# The program that runs inside the child: helpers/vmprof_child.py (ENTRY is its function).


# ----------------------------------------------------------------------------- running


def _is_script(value) -> bool:
    if isinstance(value, os.PathLike):
        return True
    text = str(value)
    return "\n" not in text and text.endswith(".py") and Path(text).is_file()


#: What a profile says when vmprof's sampler crashed CPython and the run was made again.
SAMPLER_CRASH = ("vmprof's sampler crashed CPython once (SIGSEGV, a fault of vmprof's signal "
                 "handler, not of your program), so the profile was taken again")


def _once(target: Path, interp, *, args, repeat, lines, period, timeout, env, jit, cwd, keep,
          allow_empty=False, crashes=None):
    """One profiled run. On CPython, a run that vmprof's sampler crashes (SIGSEGV) is made once
    more, and ``crashes`` (a list) gets :data:`SAMPLER_CRASH`; a second crash is raised, since
    then the program itself is the likely cause."""
    with private_tmpdir() as tmp:
        prof = tmp / "program.prof"
        request = {"target": str(target), "args": [str(a) for a in args],
                   "repeat": int(repeat), "lines": bool(lines), "period": float(period),
                   "profile": str(prof)}
        for attempt in (1, 2):
            try:
                info, result = ask(
                    "vmprof_child", request, interpreter=interp, timeout=timeout, env=env,
                    jit=jit if interp.name == "pypy" else None, cwd=cwd, error=ProfileError,
                    what="finished profile",
                    hint="did the program call os._exit()? Let it end normally (or with "
                         "sys.exit()).")
                break
            except ChildError as exc:
                segfault = exc.result.returncode == -signal.SIGSEGV
                if attempt == 2 or not segfault or interp.name != "cpython":
                    raise
                if crashes is not None:
                    crashes.append(SAMPLER_CRASH)
        if keep is not None:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(prof, keep)
        try:
            stats, tree = read_profile(prof, target=str(target))
        except EmptyProfile:
            if not allow_empty:
                raise
            stats = tree = None
    return stats, tree, info, result


def profile(stmt_or_script=None, interpreter="pypy", *, script=None, args=(),
            repeat: int = 1, min_samples: int = MIN_SAMPLES, max_seconds: float = MAX_SECONDS,
            lines: bool = False, period: float = PERIOD, timeout: Optional[float] = 120.0,
            env: Optional[dict] = None, jit: Optional[str] = None, cwd=None,
            keep=None) -> "Profile":
    """Profile a snippet or a script under vmprof in ``interpreter`` ("pypy" or "cpython").

    ``stmt_or_script`` is code, or the path of a ``.py`` file (a ``Path``, or a string naming an
    existing ``.py`` file); ``script=`` says it explicitly. ``args`` become the script's
    ``sys.argv[1:]``. The program runs ``repeat`` times in one process; if that yields fewer than
    ``min_samples`` samples it is run once more, repeated enough times to collect them (at most
    about ``max_seconds``; ``min_samples=0`` turns this off), and a warning says so.
    ``lines=True`` also records lines, on CPython only. ``keep`` is a path to copy the raw
    profile to (for ``vmprofshow``). A failing program raises
    :class:`helpers.runner.ChildError` with its traceback.
    """
    __tracebackhide__ = True
    if script is not None and stmt_or_script is not None:
        raise TypeError("profile() takes code or script=, not both")
    if script is None and stmt_or_script is None:
        raise TypeError("profile() needs code or a script to run")
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    interp = get_interpreter(interpreter)
    options = dict(args=args, lines=lines, period=period, timeout=timeout, env=env, jit=jit,
                   cwd=cwd, keep=keep)
    with private_tmpdir() as tmp:
        if script is None and not _is_script(stmt_or_script):
            target, label = tmp / "snippet.py", None
            target.write_text(str(stmt_or_script), encoding="utf-8")
        else:
            target = Path(script if script is not None else stmt_or_script).resolve()
            if not target.is_file():
                raise FileNotFoundError(f"no script at {target}")
            label = target.name
        warnings = []
        options["crashes"] = warnings
        stats, tree, info, result = _once(target, interp, repeat=repeat,
                                          allow_empty=bool(min_samples), **options)
        first = 0 if stats is None else _n_samples(stats)
        first_seconds = sum(info["times"])
        got, reran = first, False
        # At most two more attempts, each planned from what the last one measured.
        for attempt in (1, 2):
            if not min_samples or got >= min_samples or not info["times"]:
                break
            seconds = sum(info["times"])
            per_run = max(seconds / len(info["times"]), 1e-6)
            # With no samples at all, assume the ~250 per second these machines top out at.
            rate = got / seconds if got and seconds > 0 else 250.0
            want = min_samples * 1.25 / rate
            more = max(repeat + 1, math.ceil(want / per_run))
            more = min(more, max(repeat + 1, int(max_seconds / per_run)))
            stats, tree, info, result = _once(target, interp, repeat=more,
                                              allow_empty=attempt == 1, **options)
            got = 0 if stats is None else _n_samples(stats)
            repeat, reran = more, True
        if reran:
            what = (f"only {first} samples in {first_seconds:.2f} s" if first
                    else f"no samples ({first_seconds:.3f} s)")
            warnings.append(f"the first run gave {what}, so the program was run {repeat} times "
                            "in one process to collect more")
        if _n_samples(stats) < min_samples:
            warnings.append(
                f"only {_n_samples(stats)} samples: the shares are rough. Make the program run "
                "longer (more data, or more repetitions).")
    if lines and interp.name == "pypy":
        warnings.append(LINES_UNSUPPORTED)
    return Profile(tree=tree, stats=stats, interpreter=interp, run=result, repeat=repeat,
                   times=list(info["times"]), lines=bool(info.get("lines")),
                   warnings=warnings, label=label or "snippet", kept=keep)


def _n_samples(stats) -> int:
    return int(getattr(stats, "n_samples", len(stats.profiles)))


def profile_both(stmt_or_script=None, *, interpreters=("cpython", "pypy"),
                 **kwargs) -> "ProfileComparison":
    """Profile the same program on each interpreter (CPython and PyPy); compare the spread."""
    __tracebackhide__ = True
    profiles = [profile(stmt_or_script, interpreter=i, **kwargs) for i in interpreters]
    return ProfileComparison(profiles)


# ----------------------------------------------------------------------------- the result


@dataclass
class Profile:
    """What :func:`profile` recorded. Display it, or use its parts.

    ``tree`` the call tree (:class:`Frame`, rooted at the program's module level); ``stats``
    vmprof's own Stats object; ``samples`` how many stack samples, ``seconds`` how long the
    profiled runs took, ``rate`` samples per second; ``repeat`` runs in one process, ``times``
    each run's seconds; ``run`` the child's :class:`helpers.runner.RunResult` (``.stdout`` is what
    the program printed); ``warnings``.
    """

    tree: Frame
    stats: object
    interpreter: object
    run: object
    repeat: int
    times: list
    lines: bool
    warnings: list
    label: str = "snippet"
    kept: object = None
    _figure: object = field(default=None, repr=False)

    @property
    def samples(self) -> int:
        return _n_samples(self.stats)

    @property
    def seconds(self) -> float:
        return float(sum(self.times))

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def stdout(self) -> str:
        return self.run.stdout

    @property
    def who(self) -> str:
        return self.interpreter.short if hasattr(self.interpreter, "short") else str(
            self.interpreter.implementation)

    def table(self, n: Optional[int] = None, *, full: bool = False):
        """Functions by self share (then total share). ``full`` keeps the raw count columns."""
        df = function_table(self.tree)
        if not full:
            df = df[["function", "where", "self %", "total %"]]
        return df.head(n) if n else df

    def top(self, n: int = 1) -> list:
        """The names of the ``n`` functions with the largest self share."""
        return list(self.table(n)["function"])

    def share(self, function: str, kind: str = "self") -> float:
        """Self (or total) share of a function, in percent (0 if it was never sampled)."""
        df = self.table(full=True)
        rows = df[df["function"] == function]
        return float(rows[f"{kind} %"].sum()) if kind == "self" else float(
            rows[f"{kind} %"].max() if len(rows) else 0.0)

    def line_table(self, function: str):
        """Samples per line of ``function`` (CPython profiles made with ``lines=True``)."""
        import pandas as pd

        if self.interpreter.name == "pypy":
            raise ProfileError(LINES_UNSUPPORTED)
        if not self.lines:
            raise ProfileError("this profile has no line data: profile with lines=True")
        counts: dict = {}
        for frame, _ in self.tree.walk():
            if frame.name == function:
                for line, c in frame.lines.items():
                    counts[line] = counts.get(line, 0.0) + c
        if not counts:
            raise ProfileError(f"no line samples for {function!r} in this profile")
        total = self.tree.count or 1.0
        df = pd.DataFrame(sorted(counts.items()), columns=["line", "samples"])
        df["share %"] = 100 * df["samples"] / total
        return df.set_index("line")

    # -- text

    def headline(self) -> str:
        return (f"{self.label} on {self.interpreter.label}: {self.samples:,} samples in "
                f"{self.seconds:.2f} s ({self.rate:.0f} per second)"
                + (f", {self.repeat} runs in one process" if self.repeat > 1 else "")
                + f"; shares good to about ±{100 / math.sqrt(max(self.samples, 1)):.0f} points.")

    @property
    def nursery(self) -> list:
        """The nursery a PyPy profile ran with, and why ([] on CPython)."""
        return describe_runs([self.run])

    def __str__(self) -> str:
        lines = [self.headline()]
        for _, row in self.table(10).iterrows():
            lines.append(f"  {row['self %']:5.1f}% self {row['total %']:5.1f}% total  "
                         f"{row['function']}  {row['where']}")
        lines += notes_lines(self.nursery)
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__

    # -- pictures

    def svg(self, **kwargs) -> str:
        """The flame graph (root on top) as self-contained SVG, with hover titles."""
        from .plots import flame_svg

        return flame_svg(self.tree, **kwargs)

    @property
    def figure(self):
        """The flame graph as a static matplotlib figure (built on first use)."""
        if self._figure is None:
            from .plots import flame_figure

            self._figure = flame_figure(self.tree, title=f"{self.label} on {self.who}")
        return self._figure

    def png(self, dpi: int = 100) -> bytes:
        return figure_png(self.figure, dpi)

    def _table_html(self, n: int = 15) -> str:
        return _format_table(self.table(n)).to_html(escape=True, index=False)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.headline())}</b></p>", notes_html(self.nursery),
                 warnings_html(self.warnings), self.svg(), self._table_html()]
        return "<div>" + "\n".join(p for p in parts if p) + "</div>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        # Frontends that show HTML get the SVG flame graph (hover titles); others the picture.
        return {"text/plain": str(self), "text/html": self._repr_html_(),
                "image/png": figure_base64(self.figure)}

    def to_html(self, path=None, *, title: Optional[str] = None) -> str:
        """A self-contained HTML report (no scripts, no network). Written to ``path`` if given."""
        title = title or f"vmprof profile: {self.label} on {self.who}"
        warn = warnings_html(self.warnings)
        out = html.escape(self.run.stdout[-4000:]) if self.run.stdout.strip() else ""
        body = f"""<style>td:nth-child(n+3), th:nth-child(n+3) {{ text-align: right; }}</style>
<h1>{html.escape(title)}</h1>
<p><b>{html.escape(self.headline())}</b></p>
{notes_html(self.nursery)}
{warn}
<h2>Flame graph</h2>
<p>Each bar is a function; its width is its share of the samples, and the functions it called
are drawn below it. Hover over a bar for its figures.</p>
{self.svg()}
<h2>Functions by self time</h2>
<p><i>self</i>: samples in the function itself; <i>total</i>: samples with it anywhere on the
stack (itself and what it called).</p>
{_format_table(self.table(40)).to_html(escape=True, index=False)}
{"<h2>What the program printed (the end)</h2><pre>" + out + "</pre>" if out else ""}
<p style="color:#666">Made with vmprof ({html.escape(self.interpreter.label)}), read with
vmprof.read_profile.</p>"""
        return write_page(path, page(title, body))


def _format_table(df):
    out = df.copy()
    for col in ("self %", "total %"):
        if col in out:
            out[col] = out[col].map(lambda v: f"{v:.1f}")
    return out




@dataclass
class ProfileComparison:
    """The same program profiled on several interpreters; ``table`` compares self shares."""

    profiles: list
    _figure: object = field(default=None, repr=False)

    def table(self, n: int = 10):
        """Self share (%) per function and interpreter: the union of each one's top ``n``."""
        import pandas as pd

        cols = {}
        keep = []
        for p in self.profiles:
            t = p.table(full=True)
            t = t.assign(key=t["function"] + "  " + t["where"])
            s = t.groupby("key", sort=False)["self %"].sum()
            cols[p.who] = s
            keep += [k for k in s.sort_values(ascending=False).index[:n] if k not in keep]
        df = pd.DataFrame(cols).reindex(keep).fillna(0.0)
        df.index.name = "self % (function  file:line)"
        return df.sort_values(list(cols)[-1], ascending=False)

    @property
    def figure(self):
        if self._figure is None:
            from .plots import profile_comparison_figure

            self._figure = profile_comparison_figure(self.table(8))
        return self._figure

    def __str__(self) -> str:
        heads = [p.headline() for p in self.profiles]
        heads += notes_lines(describe_runs(p.run for p in self.profiles))
        return "\n".join(heads) + "\n" + self.table().round(1).to_string()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = []
        for p in self.profiles:
            parts += [f"<h4>{html.escape(p.who)}</h4>",
                      f"<p>{html.escape(p.headline())}</p>", notes_html(p.nursery),
                      warnings_html(p.warnings),
                      p.svg(max_depth=12)]
        parts.append(self.table().round(1).to_html(escape=True))
        return "<div>" + "\n".join(x for x in parts if x) + "</div>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": str(self), "text/html": self._repr_html_(),
                "image/png": figure_base64(self.figure)}
