"""Where and why a learner's script failed, read from its traceback, and whether two runs printed
the same output: plain functions over text (no process), for :mod:`helpers.report`.

Tracebacks are read as CPython 3.11-3.13 and PyPy 3.9-3.11 print them, colour codes and
hyperlinks removed first (ipykernel sets FORCE_COLOR, and CPython 3.13 and PyPy 3.11 then colour
them)."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["Failure", "parse_traceback", "describe_failure", "compare_output"]

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
