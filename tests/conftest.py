"""Shared test set-up: the `pypy` marker skips where PyPy is missing, except in CI; the
interpreters to parametrize over; one IPython shell with the course's magics loaded."""

import os

import pytest

from helpers.interpreters import InterpreterNotFound, find_pypy

#: ``@pytest.mark.parametrize("which", INTERPRETERS)``: each test on CPython and on PyPy.
INTERPRETERS = ["cpython", pytest.param("pypy", marks=pytest.mark.pypy)]


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
