"""Find the interpreters the course races: CPython (the real binary) and PyPy.

Discovery order (one order, shared with the set-up, helpers/setup.py, through
:func:`pypy_candidates`)
  PyPy:    $PYPY if set, and nothing else; then pypy3, then pypy, on PATH; then the PyPy
           .venv-pypy was built from (recorded in .venv-pypy/.course-base); then, for the set-up
           only, ``apt-get install pypy3 pypy3-venv`` as root. At run time the course's built
           PyPy venv (.venv-pypy/bin/python, which has vmprof) comes first when there is no $PYPY.
  CPython: $CPYTHON, then the interpreter running this code if it is CPython, then python3 on
           PATH resolved through its own ``sys.executable`` (a pyenv shim adds ~50 ms per start,
           so it is never what we launch).
One version check, :func:`version_problem`: PyPy for Python 3.9+, CPython 3.11+.
Each candidate is probed once (a tiny child that reports its implementation and version) and the
answer cached per path and modification time.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import nursery

__all__ = [
    "Interpreter",
    "InterpreterNotFound",
    "get_interpreter",
    "find_cpython",
    "find_pypy",
    "check_setup",
    "require_pypy",
    "COURSE_ROOT",
    "MIN_PYPY",
    "MIN_CPYTHON",
    "Candidate",
    "pypy_candidates",
    "version_problem",
    "apt_problem",
    "probe",
]

COURSE_ROOT = Path(__file__).resolve().parent.parent

#: The probe runs as a file, beside this one (it answers on stdout: there is no Interpreter yet).
PROBE = Path(__file__).resolve().with_name("probe_child.py")

#: The oldest Python each interpreter may be: PyPy for Python 3.9 (the harness is Python 3.9
#: compatible), CPython 3.11 (.venv's numpy and pandas pins need it).
MIN_PYPY = (3, 9)
MIN_CPYTHON = (3, 11)

_SETUP_HINT = (
    "Run `./course setup` from the course folder (it installs Debian's pypy3 when it can), "
    "or point PYPY at a PyPy 3.9+ binary: `PYPY=/path/to/pypy3 ./course setup`."
)


class InterpreterNotFound(FileNotFoundError):
    """No usable interpreter of the kind asked for; the message says what to do."""


@dataclass(frozen=True)
class Interpreter:
    name: str  # "cpython" or "pypy"
    path: str
    implementation: str  # "CPython" or "PyPy"
    version: str  # the Python language version, e.g. "3.9.16"
    pypy_version: str | None
    jit: bool
    prefix: str = ""

    @property
    def label(self) -> str:
        if self.pypy_version:
            return f"PyPy {self.pypy_version} (Python {self.version})"
        return f"{self.implementation} {self.version}"

    @property
    def short(self) -> str:
        return "PyPy" if self.name == "pypy" else self.implementation


@functools.lru_cache(maxsize=32)
def _probe_cached(path: str, mtime: float) -> dict:
    try:
        proc = subprocess.run(
            [path, str(PROBE)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterNotFound(f"{path} could not be run as Python: {exc}") from None
    if proc.returncode != 0:
        raise InterpreterNotFound(
            f"{path} is not a working Python interpreter (exit status {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}"
        )
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise InterpreterNotFound(f"{path} did not answer like a Python interpreter") from None


def _probe(path: str) -> dict:
    real = os.path.realpath(path)
    try:
        mtime = os.stat(real).st_mtime
    except OSError:
        raise InterpreterNotFound(f"there is no interpreter at {path}") from None
    if not os.access(real, os.X_OK):
        raise InterpreterNotFound(f"{path} is not executable")
    return _probe_cached(path, mtime)


def probe(path: str) -> dict:
    """What the interpreter at ``path`` is: a dict with "implementation", "version",
    "pypy_version", "jit", "executable" (its ``sys.executable``) and "prefix". Runs it once per
    path and modification time; :class:`InterpreterNotFound` if it is not a working Python."""
    return _probe(path)


def _make(name: str, path: str, info: dict) -> Interpreter:
    return Interpreter(
        name=name,
        path=path,
        implementation=info["implementation"],
        version=info["version"],
        pypy_version=info["pypy_version"],
        jit=bool(info["jit"]),
        prefix=info.get("prefix", ""),
    )


def _version_tuple(version: str):
    found = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def version_problem(info: dict, implementation: str) -> str | None:
    """The one version check: None if the interpreter a probe described (``info``, with
    "implementation" and "version") is ``implementation`` ("PyPy" or "CPython") for a Python the
    course supports (PyPy for Python 3.9+, CPython 3.11+); else why not, as a phrase that follows
    the interpreter's name: "is CPython 3.11.7, not PyPy"."""
    impl, version = info.get("implementation"), info.get("version") or "?"
    if impl != implementation:
        return f"is {impl} {version}, not {implementation}"
    want = MIN_PYPY if implementation == "PyPy" else MIN_CPYTHON
    have = _version_tuple(version)
    if have is None or have < want:
        need = "%d.%d+" % want
        if implementation == "PyPy":
            return f"is PyPy for Python {version}; the course needs PyPy for Python {need}"
        return f"is Python {version}; the course needs CPython {need}"
    return None


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def apt_problem(*, environ=None, which=shutil.which, euid=None) -> str | None:
    """None when the set-up may install Debian packages (root, apt-get on PATH); else why not,
    as a phrase: "there is no apt-get here", "installing it with apt-get needs root (...)"."""
    environ = os.environ if environ is None else environ
    if which("apt-get", path=environ.get("PATH")) is None:
        return "there is no apt-get here"
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return f"installing it with apt-get needs root (this is user {_user_name(euid)})"
    return None


@dataclass(frozen=True)
class Candidate:
    """One place to look for PyPy. ``where`` says where it came from, for messages
    ("PYPY=/opt/pypy/bin/pypy3", "pypy3 on PATH (/usr/bin/pypy3)"); ``path`` is None for the
    last resort, installing Debian's pypy3 (only the set-up acts on that one); ``explicit`` is
    True for $PYPY, which is never silently replaced by another."""

    where: str
    path: str | None
    explicit: bool = False


APT_PYPY = "apt-get install pypy3 pypy3-venv"


def pypy_candidates(*, environ=None, root=None, which=shutil.which, euid=None) -> list:
    """Where to look for PyPy, in the one order the set-up and :func:`find_pypy` share:

    1. ``$PYPY`` if set, and nothing else (a bare name is looked up on PATH);
    2. ``pypy3``, then ``pypy``, on PATH;
    3. the PyPy .venv-pypy was built from (``root/.venv-pypy/.course-base``), if it is still
       there;
    4. as root where apt-get exists: :data:`APT_PYPY` (a :class:`Candidate` whose path is None).

    A plain function: it reads the environment and the file system and runs nothing. Each
    candidate still has to pass :func:`version_problem`; the first that does is the one."""
    environ = os.environ if environ is None else environ
    root = COURSE_ROOT if root is None else Path(root)
    path_var = environ.get("PATH")
    env = environ.get("PYPY")
    if env:
        path = env if os.sep in env else (which(env, path=path_var) or env)
        return [Candidate(f"PYPY={env}", path, explicit=True)]
    found, seen = [], set()
    for exe in ("pypy3", "pypy"):
        hit = which(exe, path=path_var)
        if hit and os.path.realpath(hit) not in seen:
            seen.add(os.path.realpath(hit))
            found.append(Candidate(f"{exe} on PATH ({hit})", hit))
    try:
        recorded = (root / ".venv-pypy" / ".course-base").read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if (recorded and os.path.isabs(recorded) and os.access(recorded, os.X_OK)
            and os.path.realpath(recorded) not in seen):
        found.append(Candidate(f"{recorded} (the PyPy .venv-pypy was built from)", recorded))
    if apt_problem(environ=environ, which=which, euid=euid) is None:
        found.append(Candidate(APT_PYPY, None))
    return found


def _runtime_pypy_candidates():
    """:func:`pypy_candidates` without the install step, after the course's built PyPy venv
    (it has vmprof) when there is one and no $PYPY."""
    candidates = [c for c in pypy_candidates() if c.path is not None]
    venv = COURSE_ROOT / ".venv-pypy" / "bin" / "python"
    if not (candidates and candidates[0].explicit) and venv.exists():
        candidates.insert(0, Candidate(f"the course's PyPy venv ({venv})", str(venv)))
    return candidates


def find_pypy() -> Interpreter:
    """The PyPy the course uses, or :class:`InterpreterNotFound` saying what to do."""
    tried = []
    for candidate in _runtime_pypy_candidates():
        try:
            info = _probe(candidate.path)
        except InterpreterNotFound as exc:
            tried.append(f"{candidate.where}: {exc}")
            continue
        problem = version_problem(info, "PyPy")
        if problem:
            tried.append(f"{candidate.where}: {candidate.path} {problem}")
            continue
        return _make("pypy", candidate.path, info)
    looked = "; ".join(tried) if tried else "no $PYPY, no .venv-pypy, no pypy3 on PATH"
    raise InterpreterNotFound(f"PyPy not found ({looked}). {_SETUP_HINT}")


def _cpython_candidates():
    env = os.environ.get("CPYTHON")
    if env:
        yield "$CPYTHON", env
        return
    if platform.python_implementation() == "CPython":
        yield "this interpreter", sys.executable
    for exe in ("python3", "python"):
        found = shutil.which(exe)
        if found:
            yield f"{exe} on PATH", found


def find_cpython() -> Interpreter:
    """The CPython the course races against: a real binary, never a pyenv shim."""
    tried = []
    for where, path in _cpython_candidates():
        try:
            info = _probe(path)
        except InterpreterNotFound as exc:
            tried.append(f"{where}: {exc}")
            continue
        problem = version_problem(info, "CPython")
        if problem:
            tried.append(f"{where}: {path} {problem}")
            continue
        # A shim (pyenv, asdf) execs the real binary; launch that one directly.
        real = info.get("executable") or path
        if real != path and os.path.exists(real):
            path = real
        return _make("cpython", path, info)
    looked = "; ".join(tried) if tried else "nothing on PATH"
    raise InterpreterNotFound(f"CPython not found ({looked}). Set CPYTHON=/path/to/python3.")


def get_interpreter(spec="pypy") -> Interpreter:
    """``spec`` is "pypy", "cpython", an :class:`Interpreter`, or a path to a Python binary."""
    if isinstance(spec, Interpreter):
        return spec
    key = str(spec).lower()
    if key in ("pypy", "pypy3"):
        return find_pypy()
    if key in ("cpython", "python", "python3"):
        return find_cpython()
    path = os.fspath(spec)
    if os.sep not in path:
        found = shutil.which(path)
        if not found:
            raise InterpreterNotFound(
                f"no interpreter called {path!r}: use 'pypy', 'cpython' or a path to a binary"
            )
        path = found
    info = _probe(path)
    return _make("pypy" if info["implementation"] == "PyPy" else "cpython", path, info)


_WHY_JIT = ("{label} has no JIT, so it has none of what this looks at; to compare the two "
            "interpreters, use helpers.race().")


def require_pypy(interpreter, who: str, why: str = _WHY_JIT) -> Interpreter:
    """The :class:`Interpreter` for ``interpreter`` if it is a PyPy; else a ``ValueError`` that
    explains why ``who`` needs one (CPython is refused without starting it). ``why`` is the
    explanation, with ``{label}`` standing for the interpreter given.
    """
    interp = None
    if not (isinstance(interpreter, str) and interpreter.lower() in ("cpython", "python",
                                                                     "python3")):
        interp = get_interpreter(interpreter)
        if interp.name == "pypy":
            return interp
    label = interp.label if interp is not None else "CPython"
    raise ValueError(f"{who} needs PyPy: " + why.format(label=label))


# ----------------------------------------------------------------------------- set-up check

_PYPY_MODULES = ("vmprof",)
_CPYTHON_MODULES = ("pandas", "matplotlib", "numpy", "vmprof", "nbclient", "nbval")


def _missing_modules(interp: Interpreter, modules) -> list:
    proc = subprocess.run(
        [interp.path, str(PROBE), "--missing", *modules], capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        return list(modules)
    return json.loads(proc.stdout.strip().splitlines()[-1])


class SetupReport:
    """The set-up check: a table of what was found, and what is missing with what to do."""

    def __init__(self, rows, problems, warnings=()):
        import pandas as pd

        self.table = pd.DataFrame(rows).set_index("role")
        self.problems = problems
        self.warnings = list(warnings)

    @property
    def ok(self) -> bool:
        return not self.problems

    def _verdict(self) -> str:
        if self.ok:
            return "Everything the course needs is here."
        return "Missing:\n" + "\n".join(f"- {p}" for p in self.problems)

    def __repr__(self) -> str:
        text = self.table.to_string() + "\n\n" + self._verdict()
        if self.warnings:
            text += "\n\nWarning:\n" + "\n".join(f"- {w}" for w in self.warnings)
        return text

    def _repr_html_(self) -> str:
        import html

        warn = "".join(f"<p style='color:#9a6700'><b>Warning:</b> {html.escape(w)}</p>"
                       for w in self.warnings)
        if self.ok:
            verdict = f"<p style='color:#1a7f37'><b>✓ {html.escape(self._verdict())}</b></p>"
        else:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
            verdict = f"<p style='color:#b42318'><b>✗ Missing:</b></p><ul>{items}</ul>"
        return self.table.to_html(escape=True) + verdict + warn


def nursery_check(interp: Interpreter) -> tuple:
    """``(cell, warning)`` for the set-up table: the nursery PyPy picks on this machine and the
    one the course runs it with; a warning (else None) when PyPy's default is oversized."""

    _, n = nursery.choose(interp)
    default = nursery.format_size(n.default)
    if n.source in ("environment", "call"):
        cell = f"{nursery.format_size(n.size)} (PYPY_GC_NURSERY={n.setting}); default {default}"
    elif n.source == "course":
        cell = f"default {default}; the course uses {nursery.format_size(n.size)}"
    else:
        cell = f"{default} (PyPy's default)"
    warning = None
    if n.oversized_default:
        reported = nursery.format_size(nursery.cpuinfo_cache())
        warning = (
            f"PyPy's default nursery on this machine is {default}: PyPy sizes it from "
            f"/proc/cpuinfo's \"cache size\" ({reported}), while one core really has "
            f"{nursery.format_size(n.cache)} of cache. With so large a nursery, a program that "
            "allocates a lot can run much slower and use much more memory than on a machine "
            "that reports its cache per core. ")
        if n.source == "course":
            warning += (f"The course runs PyPy with {nursery.format_size(n.size)} instead and "
                        "says so in every result; export PYPY_GC_NURSERY to choose yourself "
                        "(lesson 07 shows the difference).")
        else:  # the learner chose: a size, or PyPy's own default
            chosen = f"{nursery.format_size(n.size)}, " if n.setting else "its default, "
            warning += (f"PyPy runs with {chosen}as your PYPY_GC_NURSERY="
                        f"{n.setting or 'default'} says, and every result says so (lesson 07 "
                        "shows the difference).")
    return cell, warning


def check_setup() -> SetupReport:
    """Which interpreters the course will use, exactly what is missing, and the nursery PyPy
    runs with on this machine."""
    rows, problems, warnings = [], [], []
    for role, finder, modules in (
        ("CPython", find_cpython, _CPYTHON_MODULES),
        ("PyPy", find_pypy, _PYPY_MODULES),
    ):
        try:
            it = finder()
        except InterpreterNotFound as exc:
            rows.append({"role": role, "found": "✗", "implementation": "", "version": "",
                         "JIT": "", "nursery": "", "path": ""})
            problems.append(str(exc))
            continue
        rows.append({
            "role": role,
            "found": "✓",
            "implementation": it.implementation,
            "version": it.label.split(" ", 1)[1],
            "JIT": "yes" if it.jit else "no",
            "nursery": "",
            "path": it.path,
        })
        if role == "PyPy":
            rows[-1]["nursery"], warning = nursery_check(it)
            if warning:
                warnings.append(warning)
        missing = _missing_modules(it, modules)
        if missing:
            problems.append(
                f"{role} at {it.path} lacks {', '.join(missing)}: run `./course setup`."
            )
        if role == "PyPy" and not it.jit:
            problems.append(f"PyPy at {it.path} was built without its JIT: the course needs one.")
    return SetupReport(rows, problems, warnings)
