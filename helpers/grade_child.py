"""Grade one notebook: nbval under pytest, each cell's outcome written down as it finishes.

    python grade_child.py REQUEST.json

Started by :mod:`helpers.grade` through the runner, in the course's CPython venv, with the
working directory in the submission's private copy. REQUEST holds ``notebook`` (the copy),
``events`` (a JSON-lines file this program appends to: one line per finished cell, flushed at
once, so that what ran before a timeout is known), ``read_only`` (folders to make read-only for
the notebook: the course and the submitted folders) and ``cell_timeout``.

Read-only folders need a private mount namespace, so they are made only when this runs as
root and the kernel allows it; the first line of ``events`` says whether they were.
"""

import ctypes
import json
import os
import re
import subprocess
import sys

CLONE_NEWNS = 0x00020000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|NotDone|Interrupt|Warning)"
                         r"|ExerciseNotDone|KeyboardInterrupt|StopIteration|AssertionError)"
                         r"(?::\s?(.*))?$")


def make_read_only(paths):
    """Make ``paths`` read-only for this process and its children; a sentence saying what was
    done (the notebook's writes outside its copy are then refused instead of landing)."""
    paths = [p for p in paths if os.path.isdir(p)]
    if not paths:
        return "no folder to protect"
    if os.geteuid() != 0:
        return "not root: the submitted folders and the course stay writable (writes are detected)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return "no private mount namespace (%s): writes are detected only" % (
            os.strerror(ctypes.get_errno()),)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run(["mount", "--make-rprivate", "/"], **quiet)
    done = []
    for path in paths:
        steps = (["mount", "--bind", path, path], ["mount", "-o", "remount,bind,ro", path, path])
        if all(subprocess.run(step, **quiet).returncode == 0 for step in steps):
            done.append(path)
    if len(done) < len(paths):
        return "could not make %s read-only: writes there are detected only" % (
            ", ".join(sorted(set(paths) - set(done))),)
    return "read-only for the notebook: " + ", ".join(done)


def error_text(longrepr: str) -> str:
    """The exception a failed cell raised, as ``Name: message``, from nbval's report."""
    lines = _ANSI.sub("", longrepr).splitlines()
    for i in range(len(lines) - 1, -1, -1):
        match = _ERROR_LINE.match(lines[i].strip())
        if match:
            rest = [line.rstrip() for line in lines[i + 1:] if line.strip()]
            text = lines[i].strip()
            return "\n".join([text] + rest[:5]) if rest and not rest[0].startswith("---") else text
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else "the cell failed"


class Recorder:
    """A pytest plugin: one JSON line per nbval cell as it finishes."""

    def __init__(self, path):
        self.out = open(path, "a", encoding="utf-8")

    def write(self, **event):
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def pytest_collection_modifyitems(self, items):
        self.write(event="collected", cells=len(items))

    def pytest_runtest_logstart(self, nodeid, location):
        self.write(event="start", cell=_cell(nodeid))

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.failed:
            self.write(event="done", cell=_cell(report.nodeid), when=report.when,
                       outcome=report.outcome, seconds=round(report.duration, 3),
                       error=error_text(report.longreprtext) if report.failed else None)


def _cell(nodeid):
    """nbval's "notebook.ipynb::Cell 3" -> 3 (its number among the code cells)."""
    match = re.search(r"::Cell (\d+)$", nodeid)
    return int(match.group(1)) if match else None


def main(request_path):
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    recorder = Recorder(request["events"])
    recorder.write(event="sandbox", note=make_read_only(request.get("read_only", [])))
    import pytest  # after the mount namespace: nothing of pytest's may start a thread before it

    folder = os.path.dirname(request["notebook"])
    argv = [request["notebook"], "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
            "-q", "--rootdir", folder, "-c", os.path.join(folder, "pytest.ini"),
            "--nbval-cell-timeout", str(request.get("cell_timeout", 600))]
    return pytest.main(argv, plugins=[recorder])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
