"""One report on the learner's own script: everything the course measures, on one page.

    >>> rep = helpers.report("myscript.py", args=["--size", "10"])   # a notebook shows it inline
    >>> rep.to_html("report.html")                                   # one self-contained page
    $ python -m helpers report myscript.py -o report.html -- --size 10

The steps, each done by the library's own functions (nothing here times or parses by itself):

1. **Smoke run** on CPython (:func:`helpers.runner.run`) and on PyPy, the PyPy one with the JIT
   log on (:func:`helpers.pypylog.capture`): does it run, how long, is the output the same. If
   it fails, :func:`describe_failure` reads the traceback: *where* (``file:line`` of the last
   frame in the learner's own files) and *why* (the exception line).
2. **Race** against CPython (:func:`helpers.race`): the script is compiled once and run again
   and again inside each interpreter (:func:`race_code` writes the setup and statement), with
   its output sent to ``os.devnull``, so the warm-up curve shows one point per run of the
   script.
3. **Where the time goes** and 5. **the hottest loops** come from the PyPy smoke run's log: one
   run serves the smoke test, :class:`helpers.wheretime.WhereTime` and
   :class:`helpers.traces.Traces`.
4. **Top functions** from vmprof on PyPy (:func:`helpers.profile`).

A step that cannot run (the script failed, on which interpreter) is marked *skipped* with the
reason, and a step that fails is marked *failed* with the error: the report is always complete.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .display import notes_html, notes_lines, page, write_page
from .formatting import escape as _e
from .formatting import format_seconds, format_size
from .interpreters import get_interpreter, require_pypy
from .nursery import describe_runs, sane_size
from .profiling import ProfileError, profile
from .pypylog import DEFAULT_CATEGORIES, capture
from .runner import ChildError, run
from .timing import race
from .traces import Traces
from .wheretime import WhereTime

__all__ = ["report", "Report", "Section", "Failure", "describe_failure", "parse_traceback",
           "race_code", "findings", "compare_output", "STEPS"]

#: The progress bar's steps, in order.
STEPS = ("smoke run on CPython", "smoke run on PyPy (JIT log on)", "race against CPython",
         "profile with vmprof on PyPy", "write the report")

_OUTPUT_SHOWN = 3000  # characters of a program's output shown at each end
LARGE_OUTPUT = 1_000_000  # bytes: above this, the report says the output was large

# ----------------------------------------------------------------------------- failures


@dataclass
class Failure:
    """Why and where a run failed.

    ``why`` the exception line (``ZeroDivisionError: division by zero``) or what happened
    (``exited with status 3``, ``was killed by SIGSEGV``, ``did not finish within 60 s``);
    ``where`` ``file:line`` in the learner's own code (None when there is no traceback);
    ``function`` and ``source`` that frame's function and source line; ``raised_at`` the very
    last frame when it lies elsewhere (e.g. in the standard library); ``traceback`` the text.
    """

    why: str
    where: Optional[str] = None
    function: Optional[str] = None
    source: Optional[str] = None
    raised_at: Optional[str] = None
    traceback: str = ""

    def __str__(self) -> str:
        text = self.why
        if self.where:
            text += f" at {self.where}"
            if self.function and self.function != "<module>":
                text += f" in {self.function}()"
        if self.raised_at:
            text += f" (raised in {self.raised_at})"
        return text


_FRAME = re.compile(r'^[ \t]*File "(?P<file>[^"\n]+)", line (?P<line>\d+)(?:, in (?P<func>[^\n]+))?'
                    r'[ \t]*$', re.M)


# Terminal escapes: colours (CSI ... m) and hyperlinks (OSC 8 ... ST). CPython 3.13 and PyPy 3.11
# colour their tracebacks when FORCE_COLOR is set, as ipykernel sets it for every child process;
# PyPy 3.11 also makes each file name a hyperlink.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _under(a: str, folder: Path) -> bool:
    try:
        return Path(os.path.realpath(a)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def _short_where(file: str, line: str, script: Path) -> str:
    if _same_file(file, script):
        return f"{script.name}:{line}"
    if _under(file, script.parent):
        return f"{os.path.relpath(os.path.realpath(file), os.path.realpath(script.parent))}:{line}"
    return f"{file}:{line}"


def parse_traceback(stderr: str, script) -> Optional[Failure]:
    """The failure a Python traceback in ``stderr`` describes, or None if there is none.

    Reads the last traceback (the one that ended the program); the reported frame is the last
    one in ``script``, else the last one in a file beside it (the learner's own modules), else
    the last one. ``why`` is the exception line (its first lines if it runs on). Colour codes
    and hyperlinks (``FORCE_COLOR``, on Python 3.13 and PyPy 3.11) are removed first."""
    script = Path(script)
    text = _ESCAPES.sub("", stderr)
    start = text.rfind("Traceback (most recent call last):")
    if start >= 0:
        text = text[start:]
    frames = list(_FRAME.finditer(text))
    if not frames:
        return None
    after = text[frames[-1].end():].splitlines()
    source_of = {}
    for m in frames:
        nxt = text[m.end():].lstrip("\n").split("\n", 1)[0]
        if nxt[:1] in (" ", "\t") and not _FRAME.match(nxt):
            source_of[m.start()] = nxt.strip()
    why_lines = []
    for line in after:
        if why_lines:
            if not line.strip():
                break
            why_lines.append(line.rstrip())
        elif line.strip() and line[:1] not in (" ", "\t"):
            why_lines.append(line.rstrip())
    why = "\n".join(why_lines[:5]) if why_lines else "the program failed (no exception line)"
    chosen = next((m for m in reversed(frames) if _same_file(m["file"], script)), None)
    if chosen is None:
        chosen = next((m for m in reversed(frames) if _under(m["file"], script.parent)),
                      frames[-1])
    last = frames[-1]
    raised_at = None if last is chosen else _short_where(last["file"], last["line"], script)
    func = chosen["func"].strip() if chosen["func"] else None
    return Failure(why=why, where=_short_where(chosen["file"], chosen["line"], script),
                   function=func, source=source_of.get(chosen.start()),
                   raised_at=raised_at, traceback=text.strip("\n"))


def describe_failure(result, script) -> Optional[Failure]:
    """Why a :class:`helpers.runner.RunResult` of ``script`` failed (None if it did not)."""
    if result.ok:
        return None
    if result.timed_out:
        limit = f" within {result.timeout:g} s" if result.timeout is not None else ""
        return Failure(why=f"did not finish{limit}: it was killed (an endless loop, or give it "
                           "more time with timeout=/--timeout)")
    rc = result.returncode
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        failure = parse_traceback(result.stderr, script) or Failure(why="")
        failure.why = f"was killed by {name}" + (f" ({failure.why})" if failure.why else "")
        return failure
    failure = parse_traceback(result.stderr, script)
    if failure is not None:
        return failure
    # No traceback: sys.exit(3), or sys.exit("message") (which prints the message, status 1).
    tail = [line for line in result.stderr.strip().splitlines() if line.strip()]
    why = f"exited with status {rc}"
    if tail:
        why += f": {tail[-1].strip()}"
    return Failure(why=why, traceback=result.stderr.strip())


def compare_output(a, b) -> tuple:
    """Compare two runs' stdout: ``(same, sentence)``. Output cut by the runner's bound is
    compared as kept (its first and last part) and the sentence says so."""
    cut = bool(sum(a.dropped.values()) or sum(b.dropped.values()))
    if a.stdout_bytes != b.stdout_bytes:
        return False, (f"the output differs: {a.stdout_bytes:,} bytes on "
                       f"{a.interpreter.short}, {b.stdout_bytes:,} on {b.interpreter.short}"
                       + _first_difference(a.stdout, b.stdout))
    if a.stdout != b.stdout:
        return False, "the output differs" + _first_difference(a.stdout, b.stdout)
    if cut:
        return True, (f"the output is the same as far as it was kept (the first and the last "
                      f"part of {a.stdout_bytes:,} bytes)")
    if not a.stdout_bytes:
        return True, "neither printed anything"
    return True, f"the output is the same ({a.stdout_bytes:,} bytes)"


def _first_difference(x: str, y: str) -> str:
    xs, ys = x.splitlines(), y.splitlines()
    for i, (p, q) in enumerate(zip(xs, ys)):
        if p != q:
            return f" (first at line {i + 1}: {p[:80]!r} vs {q[:80]!r})"
    if len(xs) != len(ys):
        return f" (one has {len(xs):,} lines, the other {len(ys):,})"
    return ""


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
    ``sections`` the five parts in order; ``findings`` sentences with what to look at next."""

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
           timeout: Optional[float] = 120.0, budget: float = 3.0, top: int = 5,
           min_samples: int = 100, progress: bool = True) -> Report:
    """Run every check of the course on ``script`` and return the :class:`Report`.

    ``args`` (a list of strings) are the script's arguments; it runs in ``cwd`` (default: the
    current folder, as ``python script.py`` would) with its own folder first on ``sys.path``.
    ``interpreters`` the CPython and the PyPy to compare; ``timeout`` seconds for each step;
    ``budget`` seconds of the race per interpreter; ``top`` loops shown; ``min_samples`` the
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
        sections.append(_race_section(path, args, cwd, cpython, pypy, failures, timeout,
                                      budget))
        sections.append(_where_section(path, cap, failures, top))
        bar.step(3)
        sections.append(_profile_section(path, args, cwd, pypy, failures, timeout,
                                         min_samples))
        sections.append(_traces_section(path, cap, failures, top))
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


def nursery_runs(path, args, cwd, smoked, timeout) -> dict:
    """When PyPy's default nursery is oversized here, run the script once with it and once
    with the course's sane size (no log, so both run alike): ``{"default": RunResult, "sane":
    RunResult}``; ``{}`` when the default is not oversized. A run that fails is kept as it
    is (the finding then says so)."""

    n = smoked.nursery
    if n is None or not n.oversized_default:
        return {}
    sane = f"{sane_size(n.cache) // 2**20}MB"
    out = {}
    for key, value in (("default", "default"), ("sane", sane)):
        out[key] = run(script=path, args=args, interpreter=smoked.interpreter, cwd=cwd,
                       timeout=timeout, check=False, env={"PYPY_GC_NURSERY": value})
    return out


#: One run each: a time ratio within this band of 1 is not called a difference.
NURSERY_NOISE = 1.25


def _nursery_finding(runs, used=None) -> Optional[tuple]:
    """The finding that sets the two nursery runs side by side, from their measured figures;
    ``used`` is the nursery the report's other PyPy steps ran with."""
    if not runs:
        return None
    d, s = runs["default"], runs["sane"]
    size_d, size_s = format_size(d.nursery.size), format_size(s.nursery.size)
    cache = format_size(d.nursery.cache)
    head = (f"PyPy's default nursery on this machine is {size_d}, far above its {cache} "
            "per-core cache (PyPy sizes it from /proc/cpuinfo's \"cache size\").")
    if not (d.ok and s.ok):
        return (head + " The script did not run cleanly with both sizes, so the difference was "
                "not measured.", "07")

    def mem(r):
        return r.peak_rss_text

    ratio = d.wall / s.wall if s.wall > 0 else float("nan")
    if ratio >= NURSERY_NOISE:
        effect = f"{ratio:.2f}× as long with the default"
    elif ratio <= 1 / NURSERY_NOISE:
        effect = f"{1 / ratio:.2f}× as long with {size_s}"
    else:
        effect = (f"in time within {NURSERY_NOISE - 1:.0%} of each other, which one run each "
                  "cannot tell from noise")
    if d.max_rss and s.max_rss:
        effect += f"; {d.max_rss / s.max_rss:.1f}× the memory with the default"
    other = (f"{format_size(used.size)}, {used.origin}" if used is not None and used.size
             else size_s)
    return (f"{head} One run each: {format_seconds(d.wall)} and {mem(d)} peak memory with "
            f"{size_d}, {format_seconds(s.wall)} and {mem(s)} with {size_s} ({effect}). Every "
            f"other PyPy step of this report ran with {other}.", "07")


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


def _race_section(path, args, cwd, cpython, pypy, failures, timeout, budget) -> Section:

    title = "Race against CPython, with the warm-up curve"
    skipped = _why_skipped(failures, ("cpython", "pypy"))
    if skipped:
        return Section("race", title, "skipped", skipped)
    setup, stmt = race_code(path, args, cwd)
    try:
        r = race(stmt, setup, interpreters=(cpython, pypy), budget=budget, timeout=timeout)
    except ChildError as exc:
        failure = describe_failure(exc.result, path)
        return Section("race", title, "failed",
                       f"the script failed when run again and again in one process: {failure}",
                       detail=str(exc))
    except (RuntimeError, ValueError) as exc:
        return Section("race", title, "failed", f"the race failed: {_error_text(exc)}",
                       detail=str(exc))
    return Section("race", title, "ok", r.headline(), r)


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


# ----------------------------------------------------------------------------- findings

#: Lesson files the findings link to (relative to the notebooks/ folder).
LESSONS = {
    "02": "02-running-on-pypy.ipynb", "03": "03-measuring.ipynb",
    "04": "04-where-the-time-goes.ipynb", "05": "05-reading-traces.ipynb",
    "06": "06-profiling.ipynb", "07": "07-garbage-collector.ipynb",
    "08": "08-object-model.ipynb", "09": "09-pitfalls.ipynb",
}


def findings(rep: Report) -> list:
    """What to look at next: ``(sentence, lesson number)`` pairs, each from a measured figure.

    Plain rules over the report's results (no new measurement): failures, start-up against run
    time, warm-up, the time split, a dominant function, large output."""

    out = []
    nursery = _nursery_finding(rep.nursery_runs, rep.smoke["pypy"].nursery)
    if nursery is not None:
        out.append(nursery)
    fc, fp = rep.failures.get("cpython"), rep.failures.get("pypy")
    if fp is not None and fc is None:
        version = rep.smoke["pypy"].interpreter.version
        out.append((f"It runs on CPython but fails on PyPy ({fp.why.splitlines()[0]}): syntax "
                    f"or a module newer than the Python {version} this PyPy implements, a C "
                    "extension PyPy cannot load, code that relies on CPython's details "
                    "(reference counting, sys.getsizeof), or a script that changed its own "
                    "files when it ran on CPython first.", "02"))
    elif fp is not None:
        out.append((f"It fails on both interpreters ({fp.why.splitlines()[0]}): fix that first "
                    "(does it need arguments or a data file? run it in the right folder).", None))
    if rep.same_output is False and fc is None and fp is None:
        out.append((f"The two runs printed different output ({rep.output_note}): timing or "
                    "randomness in the output is harmless, anything else is worth a look "
                    "before trusting a speedup.", "02"))
    r = rep.race
    if r is not None and r.speedup is not None:
        keys = list(r.results)
        pypy_key = keys[1]
        per_run = r.warmups[pypy_key].median
        start = r.summary.loc[pypy_key, "startup_s"]
        if start == start and start > per_run:  # not NaN
            out.append((f"PyPy starts in {format_seconds(start)}, more than one run of the "
                        f"script takes once warm ({format_seconds(per_run)}): for a run this "
                        "short, start-up dominates. Give it more work per run.", "03"))
        if r.speedup < 1 and r.ci[1] < 1:  # slower beyond the noise, not just by the median
            out.append((f"PyPy was slower here ({1 / r.speedup:.2f}× as long per run): see "
                        "where the time goes and the profile below for why.", "03"))
        w = r.warmups[pypy_key]
        if w.steady_start is None:
            out.append(("PyPy reached no steady state within the race's budget: raise "
                        "budget= (--budget) or make a run shorter.", "03"))
    w = rep.where
    if w is not None and w.wall > 0:
        jit = (w.seconds["tracing"] + w.seconds["backend"]) / w.wall
        gc = (w.seconds["GC minor"] + w.seconds["GC major"]) / w.wall
        if jit > 0.25:
            out.append((f"{jit:.0%} of the PyPy run went to tracing and compiling: the run is "
                        "short for the code it warms up, or something keeps the JIT "
                        "retracing (the traces show bridges and aborts).", "05"))
        if gc > 0.25:
            out.append((f"{gc:.0%} of the PyPy run went to the garbage collector: the program "
                        "allocates a lot, or keeps large structures alive.", "07"))
    p = rep.profile
    if p is not None and p.samples:
        row = p.table(1)
        if len(row) and row.iloc[0]["self %"] > 30 and row.iloc[0]["function"] != "<module>":
            out.append((f"{row.iloc[0]['function']} ({row.iloc[0]['where']}) has "
                        f"{row.iloc[0]['self %']:.0f}% of the profile's samples to itself: "
                        "start there.", "06"))
    t = rep.traces
    if t is not None and t.aborts:
        out.append((f"The JIT gave up tracing ({', '.join(f'{why} ×{n}' for why, n in t.aborts.items())}): "
                    "code it cannot compile in one piece, such as a huge function, deep "
                    "recursion or a class made inside a function.", "09"))
    if t is not None and len(t.log.bridges) >= 20 and len(t.log.bridges) > 3 * len(t.log.loops):
        out.append((f"The JIT compiled {len(t.log.bridges)} bridges for {len(t.log.loops)} "
                    "loops: its guards keep failing, often because objects of many types or "
                    "attribute layouts (maps) pass through the same code.", "08"))
    if t is not None and not t.ranked and fp is None:
        out.append(("The JIT compiled nothing: the script did not run long enough to warm "
                    "up, or its time is in built-in functions (sorting, big integers, "
                    "regular expressions) that run at about CPython's speed anyway.", "05"))
    return out


# ----------------------------------------------------------------------------- HTML




_CSS = """
.pypy-report{font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;max-width:1200px}
.pypy-report h1{font-size:24px;margin:.2em 0}
.pypy-report h2{font-size:19px;margin:1.4em 0 .3em;border-bottom:2px solid #ccc}
.pypy-report .cmd{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:.3em .6em;display:inline-block}
.pypy-report .st{display:inline-block;font-size:12px;padding:1px 8px;border-radius:9px;margin-left:.5em;vertical-align:middle;color:#fff}
.pypy-report .st-ok{background:#2b8a3e}.pypy-report .st-failed{background:#c92a2a}.pypy-report .st-skipped{background:#868e96}
.pypy-report .sum{font-weight:600}
.pypy-report .how{color:#444;font-size:14px;margin:.3em 0 .6em}
.pypy-report pre{background:#f6f6f6;padding:.6em;max-height:22em;overflow:auto;white-space:pre-wrap;font-size:12.5px}
.pypy-report table{border-collapse:collapse;font-size:14px}
.pypy-report td,.pypy-report th{padding:2px 9px;border-bottom:1px solid #ddd}
.pypy-report .fail{border-left:5px solid #c92a2a;background:#fff5f5;padding:.4em .8em;margin:.5em 0}
.pypy-report ul.toc{list-style:none;padding-left:0}
.pypy-report .warn{color:#b42318}
"""

_HOW = {
    "smoke": "Each interpreter runs the script once, as <code>python script.py</code> would "
             "(the PyPy run with the JIT's log on, which slows it a little). A single run "
             "includes start-up and warm-up: the race below measures properly.",
    "race": "The script is compiled once and run again and again in one process per "
            "interpreter, its output thrown away. Each point is one run: PyPy's first runs are "
            "slow while the JIT warms up. The speedup compares the steady states. "
            "(Lesson 03.)",
    "where": "The logged PyPy run split into tracing, compiling, garbage collection and the "
             "rest (running your code). A big tracing share means the run is short or the JIT "
             "keeps retracing; a big GC share means many or large objects. (Lessons 04, 07.)",
    "profile": "vmprof samples which function is running, many times a second. Start with "
               "the largest <i>self</i> share: that is where the time is. A profile taken on "
               "CPython can point elsewhere. (Lesson 06.)",
    "traces": "The loops the JIT compiled, most-run first, mapped back to your lines. Look for "
              "allocations and calls left in the hot loop, and for guards that fail often "
              "(bridges). (Lesson 05.)",
}


def _pre(text: str, limit: int = _OUTPUT_SHOWN) -> str:
    if len(text) > 2 * limit:
        text = (text[:limit] + f"\n[... {len(text) - 2 * limit:,} characters not shown ...]\n"
                + text[-limit:])
    return f"<pre>{_e(text)}</pre>"


def _failure_html(label: str, f: Failure) -> str:
    parts = [f'<div class="fail"><b>{_e(label)}: {_e(f.why)}</b>']
    if f.where:
        where = f"at <code>{_e(f.where)}</code>"
        if f.function and f.function != "<module>":
            where += f" in <code>{_e(f.function)}()</code>"
        if f.source:
            where += f": <code>{_e(f.source)}</code>"
        parts.append(f"<br>{where}")
    if f.raised_at:
        parts.append(f"<br>raised in <code>{_e(f.raised_at)}</code>")
    if f.traceback:
        parts.append(_pre(f.traceback))
    parts.append("</div>")
    return "".join(parts)


def _smoke_html(rep: Report) -> str:

    rows = []
    for key, r in rep.smoke.items():
        f = rep.failures[key]
        rows.append(
            f"<tr><td>{_e(r.interpreter.label)}</td>"
            f"<td>{'ok' if f is None else 'FAILED'}</td><td>{r.returncode}</td>"
            f"<td>{_e(format_seconds(r.wall))}</td><td>{_e(format_seconds(r.user))}</td>"
            f"<td>{_e(r.peak_rss_text)}</td><td>{r.stdout_bytes:,}</td>"
            f"<td>{r.stderr_bytes:,}</td></tr>")
    out = ["<table><tr><th>interpreter</th><th>result</th><th>exit status</th><th>wall</th>"
           "<th>user CPU</th><th>peak memory</th><th>stdout bytes</th><th>stderr bytes</th>"
           "</tr>", *rows, "</table>", f"<p>{_e(rep.output_note.capitalize())}.</p>"]
    for key, f in rep.failures.items():
        if f is not None:
            out.append(_failure_html(f"On {rep.smoke[key].interpreter.short}", f))
    first = rep.smoke["pypy"] if rep.failures.get("pypy") is None else rep.smoke["cpython"]
    for stream in ("stdout", "stderr"):
        text = getattr(first, stream)
        if text.strip() and not (stream == "stderr" and rep.failures.get(
                "pypy" if first is rep.smoke["pypy"] else "cpython")):
            out.append(f"<details><summary>What the script printed on {stream} on "
                       f"{_e(first.interpreter.short)} (the beginning and the end)</summary>"
                       f"{_pre(text)}</details>")
    return "\n".join(out)


def _section_body(rep: Report, s: Section) -> str:
    if s.key == "smoke":
        return _smoke_html(rep)
    if s.status == "failed":
        return f"{_pre(s.detail)}" if s.detail else ""
    if s.result is None:
        return ""
    if s.key == "traces":
        return s.result.html_fragment()
    return s.result._repr_html_()


def _render(rep: Report, standalone: bool) -> str:
    title = f"PyPy report: {rep.script.name}"
    out = [f'<div class="pypy-report"><style>{_CSS}</style>', f"<h1>{_e(title)}</h1>",
           f'<p><span class="cmd">{_e(rep.command)}</span><br>in <code>{_e(rep.cwd)}</code>; '
           f"{_e(rep.smoke['cpython'].interpreter.label)} against "
           f"{_e(rep.smoke['pypy'].interpreter.label)}; made {_e(rep.created)} in "
           f"{rep.seconds:.1f} s. Every figure was measured in this run, on this machine.</p>",
           notes_html(rep.nursery), f'<p class="sum">{_e(rep.headline())}</p>']
    for w in rep.warnings:
        out.append(f'<p class="warn">warning: {_e(w)}</p>')
    out.append('<ul class="toc">')
    for i, s in enumerate(rep.sections, 1):
        out.append(f'<li>{i}. <a href="#pr-{s.key}">{_e(s.title)}</a>'
                   f'<span class="st st-{s.status}">{s.status}</span> {_e(s.summary)}</li>')
    out.append("</ul>")
    if rep.findings:
        out.append("<h2>What to look at next</h2><ul>")
        for text, lesson in rep.findings:
            link = ""
            if lesson in LESSONS:
                link = f" (lesson {lesson}: <code>notebooks/{_e(LESSONS[lesson])}</code>)"
            out.append(f"<li>{_e(text)}{link}</li>")
        out.append("</ul>")
    for i, s in enumerate(rep.sections, 1):
        out.append(f'<h2 id="pr-{s.key}">{i}. {_e(s.title)}'
                   f'<span class="st st-{s.status}">{s.status}</span></h2>')
        out.append(f'<p class="how">{_HOW[s.key]}</p>')
        if s.result is None or s.key == "smoke":  # results state their own headline
            out.append(f'<p class="sum">{_e(s.summary)}</p>')
        out.append(_section_body(rep, s))
    out.append("</div>")
    body = "\n".join(out)
    return page(title, body) if standalone else body
