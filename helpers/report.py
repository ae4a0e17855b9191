"""One report on the learner's own script: everything the course measures, on one page.

    >>> rep = helpers.report("myscript.py", args=["--size", "10"])   # a notebook shows it inline
    >>> rep.to_html("report.html")                                   # one self-contained page
    $ python -m helpers report myscript.py -o report.html -- --size 10

The steps, each done by the library's own functions (nothing here times or parses by itself):

1. **Smoke run** on CPython (:func:`helpers.runner.run`) and on PyPy, the PyPy one with the JIT
   log on (:func:`helpers.pypylog.capture`): does it run, how long, is the output the same. If
   it fails, :func:`describe_failure` reads the traceback: *where* (``file:line`` of the last
   frame in the learner's own files) and *why* (the exception line).
2. **Race** against CPython (:func:`helpers.timing.race_until_steady`): the script is compiled
   once and run again and again inside each interpreter (:func:`race_code` writes the setup and
   statement), with its output sent to ``os.devnull``, so the warm-up curve shows one point per
   sample of runs of the script: one run per sample for a script of 50 ms or more, several for
   a shorter one (sized from the smoke run). It races until each interpreter's steady state is
   found or the ``budget`` (seconds per interpreter) is spent, and then says what budget would
   be needed.
3. **Where the time goes** and 5. **the hottest loops** come from the PyPy smoke run's log: one
   run serves the smoke test, :class:`helpers.wheretime.WhereTime` and
   :class:`helpers.traces.Traces`.
4. **Top functions** from vmprof on PyPy (:func:`helpers.profile`).
6. **Why not faster**, per hot function of that profile, read from the same log
   (:func:`helpers.whynot.analyse`): compiled or not, aborted traces, bridges, what is left in
   its hottest loop.

A step that cannot run (the script failed, on which interpreter) is marked *skipped* with the
reason, and a step that fails is marked *failed* with the error: the report is always complete.
"""

from __future__ import annotations

import datetime
import os
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .display import notes_lines, write_page
from .failures import Failure, compare_output, describe_failure, parse_traceback
from .findings import findings, nursery_finding
from .formatting import format_seconds
from .interpreters import get_interpreter, require_pypy
from .nursery import describe_runs
from .profiling import ProfileError, profile
from .pypylog import DEFAULT_CATEGORIES, capture
from .runner import ChildError, run
from .timing import BUDGET, race_until_steady
from .traces import Traces
from .reportpage import render as _render
from .wheretime import WhereTime
from .whynot import HOW as _WHY_HOW
from .whynot import TITLE as _WHY_TITLE
from .whynot import analyse as _why_analyse
from .whynot import nursery_runs

__all__ = ["report", "Report", "Section", "Failure", "describe_failure", "parse_traceback",
           "race_code", "findings", "nursery_finding", "nursery_runs", "compare_output", "STEPS"]

#: The progress bar's steps, in order.
STEPS = ("smoke run on CPython", "smoke run on PyPy (JIT log on)", "race against CPython",
         "profile with vmprof on PyPy", "write the report")

LARGE_OUTPUT = 1_000_000  # bytes: above this, the report says the output was large

# ----------------------------------------------------------------------------- the race


#: The setup of the race: it loads helpers/script_runner.py into the harness's module.
_RUNNER = ("exec(compile(open({file!r}, encoding='utf-8').read(), {file!r}, 'exec'))\n"
           "_report_run = _make_report_runner({path!r}, {argv!r}, {cwd!r})\n")
_SCRIPT_RUNNER = str(Path(__file__).resolve().with_name("script_runner.py"))


def race_code(script, args=(), cwd=None) -> tuple:
    """``(setup, stmt)`` for :func:`helpers.race` that run ``script`` with ``args`` in-process.

    The setup compiles the script once (so the JIT sees the same code every run), changes to
    ``cwd`` and puts the script's folder first on ``sys.path``; the statement runs it as
    ``__main__`` with ``sys.argv`` set and its output to ``os.devnull``; ``sys.exit(0)`` or
    ``sys.exit()`` ends a run normally. Paths go in as Python literals (``repr``), never
    through a shell."""
    path = str(Path(script).resolve())
    argv = [path] + [str(a) for a in args]
    setup = _RUNNER.format(file=_SCRIPT_RUNNER, path=path, argv=argv,
                           cwd=str(Path(cwd or os.getcwd()).resolve()))
    return setup, "_report_run()"


# ----------------------------------------------------------------------------- the result


@dataclass
class Section:
    """One part of the report. ``status`` is "ok", "failed" or "skipped"; ``summary`` one line
    of what it found (or why it failed or was skipped); ``result`` the library's result
    object (RaceResult, WhereTime, Profile, Traces) when there is one."""

    key: str
    title: str
    status: str
    summary: str
    result: object = None
    detail: str = ""  # failed: the error's text (shown as preformatted text)


@dataclass
class Report:
    """What :func:`report` found. In a notebook it shows itself; :meth:`to_html` writes the
    page. ``smoke`` maps "cpython"/"pypy" to each smoke run's
    :class:`helpers.runner.RunResult`, ``failures`` to a :class:`Failure` (or None),
    ``sections`` the six parts in order; ``findings`` sentences with what to look at next."""

    script: Path
    args: list
    cwd: str
    smoke: dict
    failures: dict
    same_output: Optional[bool]
    output_note: str
    sections: list
    findings: list
    seconds: float
    created: str
    warnings: list = field(default_factory=list)
    #: When PyPy's default nursery is oversized on this machine: one run of the script with
    #: each nursery, "default" and "sane" -> RunResult (see :func:`nursery_runs`); else {}.
    nursery_runs: dict = field(default_factory=dict)

    @property
    def nursery(self) -> list:
        """The nursery the PyPy steps ran with, and why."""

        return describe_runs([self.smoke["pypy"]])

    @property
    def ok(self) -> bool:
        """True when the script ran without error on both interpreters."""
        return all(f is None for f in self.failures.values())

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; there are {[s.key for s in self.sections]}")

    @property
    def race(self):
        return self.section("race").result

    @property
    def where(self):
        return self.section("where").result

    @property
    def profile(self):
        return self.section("profile").result

    @property
    def traces(self):
        return self.section("traces").result

    @property
    def command(self) -> str:
        return shlex.join(["python", str(self.script)] + [str(a) for a in self.args])

    # -- text

    def headline(self) -> str:
        if self.ok:
            state = "ran on CPython and PyPy"
        else:
            bad = [self.smoke[k].interpreter.short for k, f in self.failures.items() if f]
            state = "failed on " + " and ".join(bad)
        return f"Report on {self.script.name}: it {state}; report made in {self.seconds:.1f} s."

    def __str__(self) -> str:
        lines = [self.headline()]
        for key, failure in self.failures.items():
            if failure is not None:
                lines.append(f"  {self.smoke[key].interpreter.short}: {failure}")
        for i, s in enumerate(self.sections, 1):
            lines.append(f"{i}. {s.title} [{s.status}]: {s.summary}")
        if self.findings:
            lines.append("What to look at next:")
            lines += [f"  - {text}" for text, _ in self.findings]
        lines += notes_lines(self.nursery)
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__

    # -- html

    def _repr_html_(self) -> str:
        return _render(self, standalone=False)

    def to_html(self, path=None) -> str:
        """The report as one self-contained page (inline CSS, pictures as data: URIs, no
        network); written to ``path`` (UTF-8) if given."""
        return write_page(path, _render(self, standalone=True))

    save = to_html


# ----------------------------------------------------------------------------- running


def _check_inputs(script, args, cwd) -> tuple:
    if isinstance(args, (str, bytes)):
        raise TypeError(f"args must be a list of strings such as ['--size', '10'], not one "
                        f"string ({args!r}): the script's arguments are passed without a shell")
    args = [os.fspath(a) if isinstance(a, os.PathLike) else a for a in args]
    bad = [a for a in args if not isinstance(a, (str, int, float))]
    if bad:
        raise TypeError(f"args must be strings (or numbers), not {bad[0]!r}")
    if script is None or str(script).strip() == "":
        raise ValueError("report() needs the path of a Python script")
    path = Path(script).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no script at {path} (looked in {os.getcwd()}): give the path "
                                "of the Python file to report on")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file: give the path of a Python script")
    cwd = Path(cwd).expanduser().resolve() if cwd is not None else Path.cwd()
    if not cwd.is_dir():
        raise FileNotFoundError(f"cwd={str(cwd)!r} is not a folder")
    return path.resolve(), [str(a) for a in args], str(cwd)


class _Progress:
    """One tqdm bar with a step per stage: a widget in Jupyter, text on a terminal. In Jupyter
    the widget is shown through a display handle and blanked at the end, so a saved notebook
    keeps no stale bar."""

    def __init__(self, enabled: bool, script: Path):
        self.bar = self.handle = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        options = dict(total=len(STEPS), desc=f"{script.name}: {STEPS[0]}", unit="step",
                       leave=False, bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}]")
        try:
            from tqdm.notebook import tqdm_notebook
        except ImportError:  # no ipywidgets: tqdm.auto is the text bar
            tqdm_notebook = None
        if tqdm_notebook is not None and issubclass(tqdm, tqdm_notebook):
            from IPython.display import display

            self.bar = tqdm(display=False, **options)
            self.handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(**options)

    def race(self, labels: dict):
        """A callback for :func:`race_until_steady`: the bar's description says how far each
        interpreter is (its round, samples, seconds of its budget), ticking every half second
        while a round runs. Returns ``(callback, stop)``."""
        states, stop = {}, threading.Event()

        def describe():
            parts = []
            for key, st in states.items():
                name = labels.get(key, key)
                if st["done"]:
                    how = "steady" if st["steady"] else "no steady state"
                    parts.append(f"{name} done ({how}, {st['spent']:.0f} s)")
                else:
                    now = st["spent"] + time.perf_counter() - st["started"]
                    parts.append(f"{name} round {st['round']} ({st['samples']} samples), "
                                 f"{now:.0f}/{st['budget']:g} s")
            self.describe("race: " + "; ".join(parts))

        def callback(key, state):
            states[key] = dict(state)
            describe()

        def tick():
            while not stop.wait(0.5):
                if states:
                    describe()

        if self.bar is not None:
            threading.Thread(target=tick, daemon=True).start()
        return callback, stop

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=False)
            self.bar.refresh()

    def step(self, index: int) -> None:
        if self.bar is not None:
            self.bar.n = index
            desc = STEPS[index] if index < len(STEPS) else "done"
            self.bar.set_description_str(desc, refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)


def report(script, args=(), *, output=None, interpreters=("cpython", "pypy"), cwd=None,
           timeout: Optional[float] = 120.0, budget: float = BUDGET, top: int = 5,
           min_samples: int = 100, progress: bool = True) -> Report:
    """Run every check of the course on ``script`` and return the :class:`Report`.

    ``args`` (a list of strings) are the script's arguments; it runs in ``cwd`` (default: the
    current folder, as ``python script.py`` would) with its own folder first on ``sys.path``.
    ``interpreters`` the CPython and the PyPy to compare; ``timeout`` seconds for each step
    (in the race: for each round beyond its budget); ``budget`` the most seconds of racing per
    interpreter (the race stops earlier once both steady states are found, and says what
    budget it would need when it is not enough); ``top`` loops shown; ``min_samples`` the
    profile's minimum (fewer: the script is run again, repeated). ``output`` writes the page
    there. ``progress`` shows a progress bar. A script that fails still gets a complete report
    saying where and why; only a missing script or bad arguments raise.
    """
    __tracebackhide__ = True

    path, args, cwd = _check_inputs(script, args, cwd)
    if isinstance(interpreters, str) or len(interpreters) != 2:
        raise ValueError(f"interpreters must be a pair (the CPython, the PyPy), such as "
                         f"('cpython', 'pypy'), not {interpreters!r}")
    cpython_spec, pypy_spec = interpreters
    cpython = get_interpreter(cpython_spec)
    pypy = require_pypy(pypy_spec, "report()")
    started = time.perf_counter()
    bar = _Progress(progress, path)
    try:
        smoke, cap = _smoke(path, args, cwd, cpython, pypy, timeout, bar)
        failures = {k: describe_failure(r, path) for k, r in smoke.items()}
        both_nurseries = {} if failures["pypy"] else nursery_runs(path, args, cwd, smoke["pypy"],
                                                                  timeout)
        same, note = compare_output(smoke["cpython"], smoke["pypy"])
        sections = [_smoke_section(smoke, failures, note)]
        bar.step(2)
        sections.append(_race_section(path, args, cwd, (cpython, pypy), smoke, failures,
                                      timeout, budget, bar))
        sections.append(_where_section(path, cap, failures, top))
        bar.step(3)
        sections.append(_profile_section(path, args, cwd, pypy, failures, timeout,
                                         min_samples))
        sections.append(_traces_section(path, cap, failures, top))
        sections.append(_why_section(path, cap, failures, sections, both_nurseries, top))
        bar.step(4)
        rep = Report(script=path, args=args, cwd=cwd, smoke=smoke, failures=failures,
                     same_output=same, output_note=note, sections=sections, findings=[],
                     seconds=0.0, created=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                     nursery_runs=both_nurseries)
        rep.findings = findings(rep)
        rep.warnings = _output_warnings(smoke)
        rep.seconds = time.perf_counter() - started
        if output is not None:
            rep.to_html(output)
        bar.step(5)
    finally:
        bar.close()
    return rep


def _smoke(path, args, cwd, cpython, pypy, timeout, bar) -> tuple:

    smoke = {"cpython": run(script=path, args=args, interpreter=cpython, cwd=cwd,
                            timeout=timeout, check=False)}
    bar.step(1)
    # One logged PyPy run is the smoke test, where the time goes and the traces at once.
    cap = capture(script=path, args=args, interpreter=pypy, cwd=cwd, timeout=timeout,
                  categories=DEFAULT_CATEGORIES, check=False)
    smoke["pypy"] = cap.run
    return smoke, cap


def _output_warnings(smoke) -> list:
    out = []
    for stream in ("stdout", "stderr"):
        sizes = {r.interpreter.short: getattr(r, f"{stream}_bytes") for r in smoke.values()}
        big = {who: size for who, size in sizes.items() if size > LARGE_OUTPUT}
        if big:
            who = " and ".join(f"{who} {size / 2**20:.1f} MiB" for who, size in big.items())
            out.append(f"the script printed a lot on {stream} ({who}): only the first and the "
                       "last part were kept; producing that output is part of every time "
                       "measured here (in the race it goes to os.devnull)")
    return out


def _why_skipped(failures, needs) -> Optional[str]:
    names = {"cpython": "CPython", "pypy": "PyPy"}
    bad = [names[k] for k in needs if failures.get(k) is not None]
    if not bad:
        return None
    return f"skipped: the script failed on {' and '.join(bad)} (see the smoke run)"


def _error_text(exc) -> str:
    return f"{type(exc).__name__}: {exc}"


def _smoke_section(smoke, failures, note) -> Section:

    parts = []
    for key, r in smoke.items():
        f = failures[key]
        state = format_seconds(r.wall) if f is None else f"FAILED after {format_seconds(r.wall)}"
        parts.append(f"{r.interpreter.short} {state}")
    status = "ok" if all(f is None for f in failures.values()) else "failed"
    summary = ", ".join(parts) + f" (one run each, start-up included); {note}."
    return Section("smoke", "Does it run? (smoke run on both)", status, summary, smoke)


def _race_section(path, args, cwd, interpreters, smoke, failures, timeout, budget,
                  bar=None) -> Section:

    title = "Race against CPython, with the warm-up curve"
    skipped = _why_skipped(failures, ("cpython", "pypy"))
    if skipped:
        return Section("race", title, "skipped", skipped)
    setup, stmt = race_code(path, args, cwd)
    # The smoke runs' wall times size the samples (start-up is subtracted in the race).
    first = {"cpython": smoke["cpython"].wall, "pypy": smoke["pypy"].wall}
    labels = {k: smoke[k].interpreter.short for k in first}
    progress, stop = bar.race(labels) if bar is not None else (None, None)
    try:
        r = race_until_steady(stmt, setup, interpreters=interpreters, budget=budget,
                              first_run=first, timeout=timeout, progress=progress)
    except ChildError as exc:
        if exc.result.timed_out:
            who = exc.result.interpreter.short
            limit = exc.result.timeout or 0.0
            why = (f"a race round on {who} did not finish within {limit:.0f} s (its share of "
                   f"the budget, {limit - timeout:.0f} s, plus timeout={timeout:g} s for the "
                   f"last run) and was killed: does a second run of the script in the same "
                   f"process hang? If a run really takes longer, pass timeout= (--timeout)")
            return Section("race", title, "failed", why, detail=str(exc))
        failure = describe_failure(exc.result, path)
        return Section("race", title, "failed",
                       f"the script failed when run again and again in one process: {failure}",
                       detail=str(exc))
    except (RuntimeError, ValueError) as exc:
        return Section("race", title, "failed", f"the race failed: {_error_text(exc)}",
                       detail=str(exc))
    finally:
        if stop is not None:
            stop.set()
    c = r.convergence
    summary = f"{r.headline()} Race time {c.seconds:.0f} s."
    rewarm = _rewarm_warning(r, smoke["pypy"])
    if rewarm:
        r.warnings.append(rewarm)
        summary += " " + rewarm[0].upper() + rewarm[1:]
    return Section("race", title, "ok", summary, r)


#: PyPy's steady run at least this share of its first run: it did not warm up in the race.
REWARM = 0.8


def _rewarm_warning(r, smoked) -> str:
    """A warning when PyPy's runs in the race are hardly faster than its first, cold run (the
    smoke run, start-up taken off), or "" when they are."""
    key = list(r.results)[1]
    start = r.summary.loc[key, "startup_s"]
    first = smoked.wall - (start if start == start else 0.0)
    steady = r.warmups[key].median
    if first <= 0 or steady < REWARM * first:
        return ""
    return (f"PyPy ran the script in the race at {steady / first:.0%} of the time of its first, "
            f"cold run ({format_seconds(steady)} against {format_seconds(first)}): it did not "
            "warm up across runs, most likely because each run defines the script's functions "
            "and classes anew and the JIT's code is specialised on those objects, so it "
            "compiles again every run: if so, the race measures a cold start each time. To see "
            "PyPy warm, give one run more work (a bigger input or a repeat argument) so the "
            "hot loops run longer within a run.")


def _where_section(path, cap, failures, top) -> Section:

    title = "Where the time goes on PyPy"
    skipped = _why_skipped(failures, ("pypy",))
    if skipped:
        return Section("where", title, "skipped", skipped)
    try:
        w = WhereTime.from_capture(cap, str(path), top)
    except (ValueError, KeyError) as exc:
        return Section("where", title, "failed", f"the log could not be split: "
                       f"{_error_text(exc)}", detail=str(exc))
    return Section("where", title, "ok", w.headline(), w)


def _profile_section(path, args, cwd, pypy, failures, timeout, min_samples) -> Section:

    title = "Top functions (vmprof on PyPy)"
    skipped = _why_skipped(failures, ("pypy",))
    if skipped:
        return Section("profile", title, "skipped", skipped)
    try:
        p = profile(script=path, args=args, interpreter=pypy, cwd=cwd, timeout=timeout,
                    min_samples=min_samples, max_seconds=3.0)
    except ChildError as exc:
        failure = describe_failure(exc.result, path)
        return Section("profile", title, "failed", f"the profiled run failed: {failure}",
                       detail=str(exc))
    except ProfileError as exc:
        return Section("profile", title, "failed", f"no profile: {exc}", detail=str(exc))
    top = p.table(1)
    summary = p.headline()
    if len(top):
        row = top.iloc[0]
        summary += f" Top function: {row['function']} ({row['where']}), {row['self %']:.0f}% self."
    return Section("profile", title, "ok", summary, p)


def _traces_section(path, cap, failures, top) -> Section:

    title = "The hottest JIT loops"
    skipped = _why_skipped(failures, ("pypy",))
    if skipped:
        return Section("traces", title, "skipped", skipped)
    t = Traces(cap.log, top=top, stdout=cap.run.stdout, title=f"PyPy traces of {path.name}",
               command=f"the loops and bridges of the logged PyPy smoke run "
                       f"({cap.run.wall:.2f} s wall)")
    summary = t.headline()
    if t.shown:
        first = t.shown[0]
        summary += f". The hottest, {first.label}, ran {first.runs:,} times, at {first.where}."
    return Section("traces", title, "ok", summary, t)


def _why_section(path, cap, failures, sections, both_nurseries, top) -> Section:

    skipped = _why_skipped(failures, ("pypy",))
    if skipped:
        return Section("why", _WHY_TITLE, "skipped", skipped)
    prof = next((s.result for s in sections if s.key == "profile"), None)
    facts = [f"The JIT log is of the PyPy smoke run ({format_seconds(cap.run.wall)} wall)"
             + (f"; the profile of the profiled run ({prof.samples:,} samples). "
                if prof is not None else "; the profile failed, so no function is split. ")
             + _WHY_HOW]
    try:
        w = _why_analyse(cap.log, prof, nursery=nursery_finding(both_nurseries,
                                                                 cap.run.nursery),
                         top=top, roots=(path.parent,), facts=facts)
    except (ValueError, KeyError) as exc:
        return Section("why", _WHY_TITLE, "failed", f"the log could not be read: "
                       f"{_error_text(exc)}", detail=str(exc))
    return Section("why", _WHY_TITLE, "ok", w.headline(), w)
