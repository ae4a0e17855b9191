"""Run one child interpreter, safely.

Everything in the course that launches PyPy or CPython goes through :func:`run`:

* argv lists only, never a shell string;
* the child gets its own process group (session); on timeout, Ctrl-C or any exception the whole
  group is killed, grandchildren included, and after a normal exit any process it left behind in
  its group is killed too; so is every descendant that left the group (its own ``setsid``, a
  double fork): each carries a mark in its environment (``COURSE_CHILD``) that the runner looks
  for in /proc, so none outlives the call and none keeps it waiting on a pipe;
* stdout and stderr are read concurrently and kept within a bound (the first and the last
  ``output_limit`` bytes of each, with a line saying how much was dropped), so a flood cannot
  exhaust memory; undecodable bytes are replaced, never a crash;
* the snippet lives in a private temp dir that is removed on every path;
* the result carries return code, output, wall time, user and system CPU and peak RSS.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import nursery as _nursery
from .interpreters import Interpreter, get_interpreter

__all__ = ["run", "ask", "RunResult", "ChildError", "ChildTimeout", "NoAnswer", "private_tmpdir",
           "child_program"]

#: The programs that run inside the child live beside this file (stdlib only, 3.9-compatible).
CHILDREN = Path(__file__).resolve().parent


def child_program(name: str) -> Path:
    """The path of one of the course's child programs, e.g. ``child_program("harness")``."""
    path = CHILDREN / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no child program {path}")
    return path

# Variables that would change what the child does behind the caller's back. They are removed
# from the inherited environment unless the call passes them explicitly. PYPY_GC_* are kept: a
# learner who exports them means them, and every PyPy result says which nursery it ran with
# (helpers.nursery).
_SCRUBBED = ("PYPYLOG", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT", "PYTHONHOME")

_TMP_PREFIX = "pypy-course-"
MARK = "COURSE_CHILD"  # in every child's environment: which call it belongs to


@contextlib.contextmanager
def private_tmpdir():
    """A temp dir owned by the caller, removed on every path (also after Ctrl-C)."""
    path = tempfile.mkdtemp(prefix=_TMP_PREFIX)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class RunResult:
    """What one child run did. Times in seconds; ``max_rss`` is the child's peak resident set
    in bytes (None if it ended too fast to be read)."""

    interpreter: Interpreter
    argv: list
    returncode: int
    stdout: str
    stderr: str
    wall: float
    user: float
    sys: float
    max_rss: int | None
    timed_out: bool = False
    timeout: float | None = None
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    dropped: dict = field(default_factory=dict)
    nursery: "_nursery.Nursery | None" = None  # PyPy runs: the nursery it ran with, and why

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def check(self) -> "RunResult":
        """Raise :class:`ChildError` (or :class:`ChildTimeout`) unless the child succeeded."""
        __tracebackhide__ = True  # IPython and pytest hide this frame
        if self.timed_out:
            raise ChildTimeout(self, self.timeout)
        if self.returncode != 0:
            raise ChildError(self)
        return self

    def __repr__(self) -> str:
        state = "timed out" if self.timed_out else f"rc={self.returncode}"
        return (
            f"<RunResult {self.interpreter.label} {state} wall={self.wall:.3f}s "
            f"user={self.user:.3f}s sys={self.sys:.3f}s max_rss={self.peak_rss_text}>"
        )

    @property
    def peak_rss_text(self) -> str:
        return "n/a" if self.max_rss is None else f"{self.max_rss / 2**20:.1f} MiB"


class ChildError(RuntimeError):
    """The child failed. The message is the child's own stderr (its traceback), not ours."""

    def __init__(self, result: RunResult, message: str | None = None):
        self.result = result
        super().__init__(message or self._describe(result))

    @staticmethod
    def _describe(result: RunResult) -> str:
        who = result.interpreter.label
        rc = result.returncode
        if rc < 0:
            try:
                how = f"was killed by {signal.Signals(-rc).name}"
            except ValueError:
                how = f"was killed by signal {-rc}"
        else:
            how = f"exited with status {rc}"
        tail = _tail_lines(result.stderr, 40) or _tail_lines(result.stdout, 10)
        text = f"{who} {how}."
        if tail:
            text += " Its output ends with:\n\n" + tail
        return text


class ChildTimeout(ChildError):
    """The child ran past its timeout; its whole process group was killed."""

    def __init__(self, result: RunResult, timeout: float | None = None):
        self.timeout = timeout
        limit = f" after {timeout:g} s" if timeout is not None else ""
        text = (
            f"{result.interpreter.label} did not finish{limit} and was killed with its whole "
            "process group. An endless loop? Raise `timeout=` if it really needs longer."
        )
        tail = _tail_lines(result.stdout, 5)
        if tail:
            text += " Its last output:\n\n" + tail
        super().__init__(result, text)


class NoAnswer(RuntimeError):
    """The child ended well but its answer file is missing or broken; ``.result`` is the run."""

    result = None


def _tail_lines(text: str, n: int) -> str:
    lines = text.rstrip("\n").splitlines()
    return "\n".join(lines[-n:])


class _BoundedReader(threading.Thread):
    """Drain one pipe, keeping the first and the last ``limit`` bytes."""

    def __init__(self, pipe, limit: int):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def run(self):
        read = self.pipe.read1 if hasattr(self.pipe, "read1") else self.pipe.read
        try:
            while True:
                chunk = read(65536)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.limit - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    if len(self.tail) > 2 * self.limit:  # trim rarely, keep it amortised
                        del self.tail[: len(self.tail) - self.limit]
        except (OSError, ValueError):
            pass  # pipe closed under us while killing: what was read is kept
        finally:
            del self.tail[: max(0, len(self.tail) - self.limit)]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        if not self.dropped:
            return head + self.tail.decode("utf-8", errors="replace")
        # Cut the tail at a line start so the text after the marker is whole lines.
        tail = bytes(self.tail)
        nl = tail.find(b"\n")
        if 0 <= nl < len(tail) - 1:
            tail = tail[nl + 1 :]
        dropped = self.total - len(self.head) - len(tail)
        marker = f"\n[... {dropped:,} bytes of output dropped ...]\n"
        return head + marker + tail.decode("utf-8", errors="replace")


def child_env(env: dict | None = None) -> dict:
    """The child's environment: ours minus the variables that would steer it, plus ``env``."""
    out = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED
    }
    out["PYTHONIOENCODING"] = "utf-8"
    out["PYTHONUNBUFFERED"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[str(key)] = str(value)
    return out


def build_argv(interp: Interpreter, target: str, args=(), jit: str | None = None) -> list:
    """argv for running ``target`` (a file path) in ``interp``; never a shell string."""
    argv = [interp.path]
    if jit is not None:
        if interp.name != "pypy":
            raise ValueError(f"jit={jit!r} only makes sense for PyPy, not {interp.label}")
        argv += ["--jit", str(jit)]
    argv.append(str(target))
    argv += [str(a) for a in args]
    return argv


def _vm_hwm(pid: int) -> int:
    """The peak resident set size of a running process, in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _peak_rss(rusage_kib: int, parent_kib: int, polled: int) -> int | None:
    """The child's own peak RSS in bytes.

    Linux folds the parent's peak into the child's ``ru_maxrss`` when the child is spawned, so
    that figure is the child's own only when it exceeds the parent's peak at spawn time.
    Otherwise we use the child's VmHWM read from /proc while it ran (a few ms apart), or None
    when the child was too brief to be read at all.
    """
    if rusage_kib > parent_kib:
        return rusage_kib * 1024
    return polled or None


def _kill_group(pgid: int, sig=signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def marked_processes(mark: str) -> list:
    """The pids of the running processes whose environment holds ``COURSE_CHILD=mark``: every
    descendant of one call, including those that left its process group."""
    needle = f"{MARK}={mark}".encode() + b"\0"
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                env = f.read()
        except OSError:  # gone, or not ours
            continue
        if (b"\0" + env).find(b"\0" + needle) >= 0:
            found.append(int(entry.name))
    return found


def _kill_marked(mark: str) -> None:
    """Kill every process of this call that is still running, until none is left (a process may
    fork while the first ones die); zombies do not count."""
    for _ in range(10):
        pids = marked_processes(mark)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def run(
    code: str | None = None,
    *,
    script: str | os.PathLike | None = None,
    interpreter="pypy",
    args=(),
    env: dict | None = None,
    jit: str | None = None,
    timeout: float | None = 60.0,
    cwd: str | os.PathLike | None = None,
    output_limit: int = 1_000_000,
    check: bool = True,
) -> RunResult:
    """Run a snippet (``code``) or a ``script`` file in a child interpreter.

    ``interpreter`` is "pypy", "cpython", a path or an :class:`Interpreter`. ``env`` is added to
    a clean copy of our environment (a value of None removes a variable). ``jit`` is passed to
    PyPy as ``--jit`` (for example "off" or "threshold=200"). ``timeout`` in seconds (None for
    none) kills the child's whole process group. With ``check`` a failing child raises
    :class:`ChildError` whose message is the child's own traceback.

    A PyPy child runs with the nursery :func:`helpers.nursery.choose` picks (an oversized
    default is replaced; ``env={"PYPY_GC_NURSERY": "default"}`` keeps PyPy's own), and the
    result's ``nursery`` says which.
    """
    __tracebackhide__ = True
    if (code is None) == (script is None):
        raise TypeError("run() takes either a code snippet or script=, not both or neither")
    interp = get_interpreter(interpreter)
    with private_tmpdir() as tmp:
        if code is not None:
            target = tmp / "snippet.py"
            target.write_text(code, encoding="utf-8")
        else:
            target = Path(script).resolve()
            if not target.is_file():
                raise FileNotFoundError(f"no script at {target}")
        argv = build_argv(interp, target, args, jit)
        nursery = None
        if interp.name == "pypy":
            changes, nursery = _nursery.choose(interp, env)
            env = {**(env or {}), **changes}
        result = _spawn(interp, argv, {**child_env(env), MARK: uuid.uuid4().hex},
                        cwd or os.getcwd(), timeout, output_limit)
        result.nursery = nursery
    if check:
        result.check()
    return result


def ask(program: str | os.PathLike, request: dict, *, interpreter="pypy",
        what: str = "answer", hint: str = "did the code call sys.exit() or os._exit()?",
        error: type = NoAnswer, **options) -> tuple:
    """The course's one way to talk to a child program: ``program REQUEST.json ANSWER.json``.

    ``program`` is one of the child programs beside this file (a name such as ``"harness"``, or a
    path); ``request`` is written as JSON to a private temp dir, the child runs through
    :func:`run` (``options`` are run's: ``timeout``, ``env``, ``jit``, ``cwd``, ``args`` go
    before the two files), and its JSON answer is read back. Returns ``(answer, RunResult)``.
    A child that fails raises :class:`ChildError` with its traceback; one that exits 0 without a
    readable answer raises ``error`` (default :class:`NoAnswer`) saying ``what`` was missing and
    ``hint``.
    """
    __tracebackhide__ = True
    path = child_program(program) if isinstance(program, str) and os.sep not in program \
        else Path(program)
    extra = list(options.pop("args", ()))
    with private_tmpdir() as tmp:
        req, ans = tmp / "request.json", tmp / "answer.json"
        req.write_text(json.dumps(request), encoding="utf-8")
        result = run(script=path, args=[*extra, req, ans], interpreter=interpreter, **options)
        label = result.interpreter.label
        if not ans.exists():
            exc = error(f"{label} exited with status 0 but wrote no {what}: {hint}")
        else:
            try:
                return json.loads(ans.read_text(encoding="utf-8")), result
            except ValueError as broken:
                exc = error(f"{label} wrote a broken {what} ({broken}): a bug in "
                            f"{path.name}, not in your code")
    exc.result = result
    raise exc


def _spawn(interp, argv, env, cwd, timeout, limit) -> RunResult:
    """Start the child in a new session, drain its pipes, wait, and always clean up its group."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,  # own session and process group: pgid == pid
    )
    polled = [_vm_hwm(proc.pid)]
    # Read after the exec, which is when the child inherited our peak: ours can only be larger.
    parent_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    readers = [_BoundedReader(proc.stdout, limit), _BoundedReader(proc.stderr, limit)]
    for r in readers:
        r.start()
    exited = threading.Event()
    end = []

    def wait_without_reaping():
        # WNOWAIT leaves the child a zombie, so its pid (= the group id) cannot be reused before
        # we have killed whatever it left behind in its group.
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        end.append(time.perf_counter())
        exited.set()

    def poll_peak_rss():
        interval = 0.002
        while not exited.is_set():
            polled[0] = max(polled[0], _vm_hwm(proc.pid))
            exited.wait(interval)
            interval = min(interval * 1.5, 0.02)

    waiter = threading.Thread(target=wait_without_reaping, daemon=True)
    poller = threading.Thread(target=poll_peak_rss, daemon=True)
    waiter.start()
    poller.start()
    timed_out = False
    try:
        # Event.wait is interruptible, so Ctrl-C in a notebook lands here at once.
        if not exited.wait(timeout):
            timed_out = True
    finally:
        # Normal exit, timeout, KeyboardInterrupt or any other exception: nothing of the
        # group survives this call, nor any descendant that left it.
        _kill_group(proc.pid)
        _kill_marked(env[MARK])
        waiter.join()
        poller.join()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = (end[0] if end else time.perf_counter()) - start
        for r in readers:
            # A process that escaped the group (its own setsid) may still hold the pipe open:
            # do not wait for it forever; what was read so far is kept.
            r.join(timeout=5)
            if not r.is_alive():  # closing under a blocked reader would deadlock
                r.pipe.close()
    out, err = readers
    return RunResult(
        interpreter=interp,
        argv=argv,
        returncode=proc.returncode,
        stdout=out.text(),
        stderr=err.text(),
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        max_rss=_peak_rss(usage.ru_maxrss, parent_kib, polled[0]),
        timed_out=timed_out,
        timeout=timeout,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        dropped={"stdout": out.dropped, "stderr": err.dropped},
    )
