"""Shared test set-up: the `pypy` marker skips where PyPy is missing, except in CI; the
interpreters to parametrize over; one IPython shell with the course's magics loaded; one PyPy
log for the whole session."""

import os

import pytest

from helpers.interpreters import InterpreterNotFound, find_pypy

#: ``@pytest.mark.parametrize("which", INTERPRETERS)``: each test on CPython and on PyPy.
INTERPRETERS = ["cpython", pytest.param("pypy", marks=pytest.mark.pypy)]


# The program the real logs come from: a loop with a bridge, recursion (entry bridges), an
# allocating loop (minor and major collections with a small nursery) and regular expressions
# (the regex engine's own JIT, which makes temporary callbacks that are compiled unlogged).
LOGGED_PROGRAM = '''\
import re, sys

def hot(n):
    s = 0
    for i in range(n):
        if i % 3 == 0:
            s += i
        else:
            s -= 1
    return s

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

def alloc(n):
    keep = []
    for i in range(n):
        keep.append(Point(i, str(i)))
        if len(keep) > 50000:
            keep = []
    return len(keep)

PAT = re.compile(r"(\\d+)-(\\w+)")

def regex(n):
    return sum(1 for i in range(n) if PAT.match("%d-ab%d" % (i, i % 10)))

n = int(sys.argv[1])
print(hot(n), fib(20), alloc(n), regex(3000))
'''
LOGGED_ARGS = [300_000]
LOGGED_NURSERY = {"PYPY_GC_NURSERY": "1M"}


@pytest.fixture(scope="session")
def pypy_log(tmp_path_factory):
    """One PyPy run of LOGGED_PROGRAM for the whole session, logged with the categories
    where_time_goes() and capture() use by default (no machine-code dumps), kept on disk;
    ``.program`` is the script's path. Tests that read a real log share it."""
    from helpers.pypylog import capture

    folder = tmp_path_factory.mktemp("pypy-log")
    program = folder / "prog.py"
    program.write_text(LOGGED_PROGRAM)
    cap = capture(script=program, args=LOGGED_ARGS, env=LOGGED_NURSERY, keep=folder / "log")
    cap.program = str(program)
    return cap


@pytest.fixture(scope="session")
def ip():
    """One IPython shell for the whole session, with ``%load_ext helpers`` done."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "helpers")
    return shell


def pytest_configure(config):
    config.addinivalue_line("markers", "pypy: needs PyPy (skipped where absent, fails in CI)")


def _pypy_problem():
    try:
        find_pypy()
    except InterpreterNotFound as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("pypy") for item in items):
        return
    problem = _pypy_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI must test on PyPy, but: {problem}")
    skip = pytest.mark.skip(reason=f"PyPy not found: {problem}")
    for item in items:
        if item.get_closest_marker("pypy"):
            item.add_marker(skip)
