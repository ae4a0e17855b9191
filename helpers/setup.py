"""The course's set-up and its commands: what ``./course lab|test|setup|help`` does.

``./course`` (a few lines of bash) only finds a CPython 3.11+ and runs ``main`` here with it;
``python -m helpers.setup COMMAND [ARGS]`` from the course folder does the same. Standard
library only: this runs before any virtual environment exists.

Set-up builds two virtual environments from requirements.txt (environment markers pick the
packages for each interpreter):
  .venv       CPython (the interpreter running this): JupyterLab, pytest, nbval, pandas ...
  .venv-pypy  PyPy: vmprof, pyperf
PyPy is found in the one order helpers.interpreters.pypy_candidates gives ($PYPY if set and
nothing else; pypy3/pypy on PATH; the PyPy .venv-pypy was built from; apt-get as root) and
checked by the one version check, helpers.interpreters.version_problem. Each venv holds a stamp
(requirements.txt's hash + the interpreter), so a second run with nothing changed skips pip
and takes well under a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import re
import sysconfig
from pathlib import Path

from . import interpreters

ROOT = interpreters.COURSE_ROOT
VENV = ROOT / ".venv"
PYPY_VENV = ROOT / ".venv-pypy"
REQUIREMENTS = ROOT / "requirements.txt"
START_PAGE = "notebooks/00-index.ipynb"
STAMP_NAME = ".course-stamp"  # inside each venv: requirements hash + interpreter
BASE_NAME = ".course-base"  # inside each venv: the interpreter it was built from
SETUP_VERSION = 1  # bump to force pip to run again everywhere
MIN_CPYTHON = "%d.%d" % interpreters.MIN_CPYTHON
MIN_PYPY = "%d.%d" % interpreters.MIN_PYPY

USAGE = f"""\
Usage: ./course COMMAND [ARGS...]

  lab [--no-browser] [ARGS]  set up, then open JupyterLab on {START_PAGE}
                             (other ARGS go to `jupyter lab`)
  test [ARGS]                set up, then run the tests and the notebooks
                             (ARGS go to pytest, e.g. -k race, -x, tests/test_run.py;
                             paths are relative to this folder)
  grade SUBMISSION... [-o DIR] [--timeout S] [-j N]
                             set up, then grade exercise notebooks (files or folders)
                             with nbval: writes DIR/grades.csv and DIR/grades.html
                             (default DIR: grades); `./course grade --help` for more
  setup                      only set up (.venv for CPython, .venv-pypy for PyPy)
  help                       show this help

Environment:
  PYPY=/path/to/pypy3        the PyPy {MIN_PYPY}+ to use (default: pypy3 on PATH,
                             else install Debian's pypy3 + pypy3-venv as root)
  CPYTHON=/path/to/python3   the CPython {MIN_CPYTHON}+ for .venv (default: python3 on PATH)
"""

PYPY_FIX = (f"Point PYPY at a PyPy {MIN_PYPY}+ binary (PYPY=/path/to/pypy3; "
            "downloads: https://pypy.org/download.html).")


class SetupError(Exception):
    """A reason to stop; ``main`` prints it as ``course: error: ...`` and exits 1."""


def say(message: str) -> None:
    print(f"course: {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    """``path`` relative to the course folder, for messages (".venv")."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def read(path: Path) -> str:
    """A small file's text without its trailing newlines, "" when it cannot be read (bash's
    ``$(cat FILE 2>/dev/null)``)."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").rstrip("\n")
    except OSError:
        return ""


def write(path: Path, text: str) -> None:
    Path(path).write_text(text + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- children

def run(argv, *, env=None, capture=False):
    """Run ``argv`` (a list, never a shell string) with stdin closed; return (exit status,
    output or None). Output goes to ours unless ``capture`` (then stdout and stderr together).
    The child never outlives the call: on any exception here (Ctrl-C, SIGTERM, ...) it is
    terminated, then killed, and waited for."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
        )
    except OSError as exc:
        return 127, f"{argv[0]}: {exc}\n"
    try:
        out, _ = proc.communicate()
    except BaseException:
        stop(proc)
        raise
    return proc.returncode, (out.decode("utf-8", "replace") if capture else None)


def stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Runs:
    """Whether ``python -c ''`` works, started now and answered by :meth:`ok`, so that the
    venvs' checks overlap with finding PyPy. Call :meth:`ok` or :meth:`close` before leaving."""

    def __init__(self, python: Path):
        self.proc = None
        if os.access(python, os.X_OK):
            try:
                self.proc = subprocess.Popen(
                    [str(python), "-c", ""], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            except OSError:
                pass

    def ok(self) -> bool:
        if self.proc is None:
            return False
        try:
            return self.proc.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            stop(self.proc)
            return False

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def is_root() -> bool:
    return os.geteuid() == 0


def can_apt() -> bool:
    return interpreters.apt_problem() is None


def apt_install(*packages: str) -> bool:
    """Install Debian packages without questions; refresh the package lists once if the first
    try fails (a fresh container has none)."""
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if run(argv, env=env)[0] == 0:
        return True
    say("apt-get install failed; running apt-get update and trying again")
    if run(["apt-get", "update", "-q"], env=env)[0] != 0:
        return False
    return run(argv, env=env)[0] == 0


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- CPython

def this_cpython() -> tuple[str, str]:
    """(the real binary, identity) of the CPython running this: .venv's base interpreter."""
    info = {"implementation": platform.python_implementation(),
            "version": platform.python_version()}
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    problem = interpreters.version_problem(info, "CPython")
    if problem:
        raise SetupError(f"{exe} {problem} (set CPYTHON=/path/to/python{MIN_CPYTHON} and run "
                         "./course again).")
    v = sys.version_info
    return exe, f"CPython {v[0]}.{v[1]}.{v[2]} {exe}"


# ----------------------------------------------------------------------------- PyPy

def cannot_get_pypy(why: str) -> SetupError:
    return SetupError(f"""{why}
PyPy {MIN_PYPY}+ is needed and could not be installed automatically. Do one of:
  * install it with your package manager, e.g. on Debian/Ubuntu:
        sudo apt-get install pypy3 pypy3-venv
  * or point PYPY at a PyPy {MIN_PYPY}+ binary you already have:
        PYPY=/path/to/pypy3 ./course setup
  * or download PyPy for Python {MIN_PYPY}+ from https://pypy.org/download.html,
    unpack it, and set PYPY=/where/you/unpacked/bin/pypy3
then run this command again.""")


def identity(info: dict) -> tuple[str, str]:
    """(the real binary, "PyPy 3.9.16 /usr/bin/pypy3.9") from a probe's answer."""
    exe = os.path.realpath(info["executable"])
    found = re.match(r"\d+(\.\d+)*", info["version"])  # "3.9.16"; "3.13.0" of "3.13.0rc1"
    return exe, f"{info['implementation']} {found.group(0) if found else '?'} {exe}"


def check_pypy(path: str, where: str) -> tuple[dict | None, str | None]:
    """(probe answer, None) if ``path`` is a PyPy the course can use, else (None, the reason as
    a sentence naming ``where``)."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None, f"{where}: no such program."
    try:
        info = interpreters.probe(path)
    except interpreters.InterpreterNotFound:
        return None, f"{where} is not a working PyPy: it did not run as Python."
    problem = interpreters.version_problem(info, "PyPy")
    if problem:
        return None, f"{where} {problem}."
    return info, None


def find_pypy() -> tuple[str, str]:
    """(the real PyPy binary, its identity), found in the one discovery order, else
    :class:`SetupError` saying what to do."""
    rejected = []
    for candidate in interpreters.pypy_candidates():
        if candidate.path is None:  # the last resort: Debian's package
            if not apt_install("pypy3", "pypy3-venv"):
                raise cannot_get_pypy("apt-get install pypy3 pypy3-venv failed (see above).")
            found = shutil.which("pypy3")
            if not found:
                raise cannot_get_pypy("apt-get installed pypy3 but there is still no pypy3 on "
                                      "PATH.")
            info, why = check_pypy(found, f"pypy3 from apt-get ({found})")
            if why:
                raise SetupError(f"{why} {PYPY_FIX}")
            return identity(info)
        info, why = check_pypy(candidate.path, candidate.where)
        if info is not None:
            return identity(info)
        if candidate.explicit:
            raise SetupError(f"{why} {PYPY_FIX}")
        say(f"{why} Looking further.")
        rejected.append(why)
    apt = interpreters.apt_problem()
    if not rejected:
        joint = " and " if apt == "there is no apt-get here" else ", and "
        raise cannot_get_pypy(f"pypy3 is not on PATH{joint}{apt}.")
    raise cannot_get_pypy(" ".join(rejected) + f" No other PyPy was found, and {apt}.")


# ----------------------------------------------------------------------------- venvs

def create_venv(venv: Path, python: str, package: str) -> None:
    """``python -m venv``, installing Debian's venv/ensurepip package as root if that is what
    is missing."""
    say(f"creating {rel(venv)} with {python}")
    status, log = run([python, "-m", "venv", "--clear", str(venv)], capture=True)
    if status == 0:
        return
    sys.stderr.write(log)
    shutil.rmtree(venv, ignore_errors=True)
    if not can_apt():
        raise SetupError(f"could not create {rel(venv)} (see above). On Debian/Ubuntu: sudo "
                         f"apt-get install {package}, then run this again.")
    if not apt_install(package):
        raise SetupError(f"apt-get install {package} failed (see above).")
    if run([python, "-m", "venv", "--clear", str(venv)])[0] != 0:
        raise SetupError(f"could not create {rel(venv)} even after installing {package}.")


def ensure_venv(venv: Path, python: str, ident: str, package: str, runs: Runs,
                pip_args=()) -> None:
    """Make ``venv`` a venv of ``python`` with requirements.txt installed; skip pip when its
    stamp says nothing changed. ``runs`` says whether the venv's python works."""
    stamp = f"setup {SETUP_VERSION}; requirements {file_hash(REQUIREMENTS)}; {ident}"
    healthy = runs.ok()
    if healthy and read(venv / STAMP_NAME) == stamp:
        say(f"{rel(venv)} is up to date ({ident})")
        return
    note = "requirements.txt or the interpreter changed"
    if not healthy or read(venv / BASE_NAME) != python:
        create_venv(venv, python, package)
        write(venv / BASE_NAME, python)
        note = "new venv: this takes a minute or more"
    (venv / STAMP_NAME).unlink(missing_ok=True)
    say(f"installing requirements.txt into {rel(venv)} ({note})")
    argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
            "--no-input", "-q", *pip_args, "-r", str(REQUIREMENTS)]
    if run(argv)[0] != 0:
        raise SetupError(f"pip could not install requirements.txt into {rel(venv)} (see above).")
    write(venv / STAMP_NAME, stamp)
    say(f"{rel(venv)} is ready ({ident})")


def put_repo_on_path() -> None:
    """A course.pth in .venv's site-packages makes ``import helpers`` work from any folder
    (Jupyter, pytest, python). .venv is a venv of this very interpreter, so its site-packages
    is this interpreter's "venv" scheme; ask .venv's python only if that folder is not there."""
    site = Path(sysconfig.get_path("purelib", scheme="venv",
                                   vars={"base": str(VENV), "platbase": str(VENV)}))
    if not site.is_dir():
        probe = Path(__file__).resolve().with_name("probe_child.py")
        status, out = run([str(VENV / "bin" / "python"), str(probe), "--purelib"], capture=True)
        if status != 0 or not out.strip():
            raise SetupError(f"could not ask {rel(VENV)}/bin/python for its site-packages:\n{out}")
        site = Path(json.loads(out.strip().splitlines()[-1]))
    if read(site / "course.pth") != str(ROOT):
        write(site / "course.pth", str(ROOT))


# ----------------------------------------------------------------------------- set-up

class Lock:
    """One set-up at a time in this checkout (several people and CI may call ./course at once):
    an flock on .course.lock, held until :meth:`release` or this process ends. Not inherited
    by children (pip, apt-get), nor by what ``lab`` and ``test`` exec."""

    def __init__(self):
        try:
            self.file = open(ROOT / ".course.lock", "a")
        except OSError:
            self.file = None  # a read-only checkout: no lock, as before
            return
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another ./course set-up in this folder to finish")
            fcntl.flock(self.file, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def setup() -> None:
    if not REQUIREMENTS.is_file():
        raise SetupError(f"{REQUIREMENTS} is missing.")
    lock = Lock()
    cpython, cpython_id = this_cpython()
    # Start both venvs' "does its python run" checks now; they overlap with probing PyPy.
    venv_runs, pypy_venv_runs = Runs(VENV / "bin" / "python"), Runs(PYPY_VENV / "bin" / "python")
    try:
        pypy, pypy_id = find_pypy()
        ensure_venv(VENV, cpython, cpython_id, "python3-venv", venv_runs)
        # --no-deps: the PyPy lines of requirements.txt are complete; this keeps pyperf's
        # psutil (optional at run time, not installable on PyPy) out.
        ensure_venv(PYPY_VENV, pypy, pypy_id, "pypy3-venv", pypy_venv_runs, ["--no-deps"])
        ensure_build_tools(cpython, pypy)
        put_repo_on_path()
        ensure_binutils()
    finally:
        venv_runs.close()
        pypy_venv_runs.close()
        lock.release()  # lab and test run without holding it


def ensure_build_tools(cpython: str, pypy: str) -> None:
    """Lesson 11 builds a small C extension for both interpreters: as root, install gcc and the
    C headers of Debian's interpreters (/usr/bin/python3.X, /usr/bin/pypy3.X) when missing.
    Elsewhere the lesson itself says what is missing. File checks only: no interpreter starts."""
    missing = ["gcc"] if shutil.which("gcc") is None else []
    for exe, package in ((cpython, "python3-dev"), (pypy, "pypy3-dev")):
        if os.path.dirname(exe) == "/usr/bin" and not (
                Path("/usr/include", os.path.basename(exe), "Python.h").is_file()):
            missing.append(package)
    if missing and can_apt() and not apt_install(*missing):
        say(f"could not install {' '.join(missing)}: lesson 11 will say what it cannot build")


def ensure_binutils() -> None:
    """The trace viewer's machine-code level (assembler=True) disassembles with objdump
    (binutils). Installed as root when missing; otherwise only a note: the rest works without."""
    if shutil.which("objdump"):
        return
    if can_apt():
        if not apt_install("binutils"):
            say("could not install binutils: the trace viewer will not show machine code")
    else:
        say("objdump is not installed (sudo apt-get install binutils): the trace viewer will "
            "not show machine code")


def ensure_chromium() -> None:
    """The trace viewer's tests open its page in a real headless Chromium (Debian's package).
    Installed as root when missing; otherwise those tests say why they are skipped (and fail
    under CI, which must run them)."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if can_apt():
        if not apt_install("chromium"):
            say("could not install chromium: the browser tests will not run")
    else:
        say("chromium is not installed (sudo apt-get install chromium): the browser tests will "
            "be skipped")


def execute(argv, cwd=ROOT) -> None:
    """Become ``argv`` (as bash's exec), in ``cwd`` (the course folder unless told)."""
    os.chdir(cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        raise SetupError(f"could not start {rel(Path(argv[0]))}: {exc}") from None


def cmd_lab(args) -> None:
    setup()
    extra = []
    # Jupyter refuses to start as root unless told; containers and CI run as root.
    if is_root():
        extra.append("--allow-root")
    say(f"starting JupyterLab on {START_PAGE}; open the http://127.0.0.1:... URL it prints below "
        "(Ctrl-C twice stops it)")
    execute([str(VENV / "bin" / "jupyter"), "lab", f"--ServerApp.root_dir={ROOT}",
             f"--LabApp.default_url=/lab/tree/{START_PAGE}", *extra, *args])


def cmd_test(args) -> None:
    setup()
    ensure_chromium()
    # Paths, --nbval-lax and --durations come from pytest.ini; a path given in ARGS replaces
    # the default ones.
    execute([str(VENV / "bin" / "python"), "-m", "pytest", *args])


def cmd_grade(args) -> None:
    setup()
    # In the folder the user is in: the submissions' paths are relative to it.
    execute([str(VENV / "bin" / "python"), "-m", "helpers", "grade", *args], cwd=os.getcwd())


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command in ("lab", "test", "setup", "grade"):
        # SIGTERM and SIGHUP unwind like Ctrl-C, so that pip or apt-get is stopped too.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)
    try:
        if command == "lab":
            cmd_lab(args)
        elif command == "test":
            cmd_test(args)
        elif command == "grade":
            cmd_grade(args)
        elif command == "setup":
            if args:
                raise SetupError(f"setup takes no arguments (got: {' '.join(args)})")
            setup()
            say("set-up complete: ./course lab opens the course, ./course test runs the tests")
        elif command in ("help", "-h", "--help"):
            sys.stdout.write(USAGE)
        else:
            sys.stderr.write(USAGE)
            sys.stderr.write(f"\ncourse: unknown command: {command}\n")
            return 2
    except SetupError as exc:
        sys.stderr.write(f"\ncourse: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\ncourse: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
