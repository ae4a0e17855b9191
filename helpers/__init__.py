"""The course's helper library: run PyPy and CPython safely, time them honestly, show the results.

    >>> import helpers
    >>> helpers.check_setup()                 # which interpreters, what is missing
    >>> helpers.race("sum(range(10**4))")     # CPython vs PyPy, warm-up curves, speedup with CI
    >>> helpers.run("print(1 + 1)")           # one child run, with rusage and bounded output

In IPython/Jupyter, ``%load_ext helpers`` adds the ``%%race`` and ``%%pypy`` cell magics.
Attributes are imported lazily, so ``import helpers`` stays fast.
"""

import importlib

_EXPORTS = {
    "check_setup": "interpreters",
    "get_interpreter": "interpreters",
    "find_pypy": "interpreters",
    "find_cpython": "interpreters",
    "Interpreter": "interpreters",
    "InterpreterNotFound": "interpreters",
    "run": "runner",
    "RunResult": "runner",
    "ChildError": "runner",
    "ChildTimeout": "runner",
    "race": "timing",
    "RaceResult": "timing",
    "race_pair": "pairs",
    "PairResult": "pairs",
    "startup_time": "timing",
    "capture_pypylog": "pypylog",
    "parse_pypylog": "pypylog",
    "PypyLog": "pypylog",
    "PypylogError": "pypylog",
    "where_time_goes": "wheretime",
    "WhereTime": "wheretime",
    "profile": "profiling",
    "profile_both": "profiling",
    "Profile": "profiling",
    "ProfileComparison": "profiling",
    "ProfileError": "profiling",
    "trace": "traces",
    "Traces": "traces",
    "view_traces": "traces",
    "inspect_objects": "objects",
    "ObjectReport": "objects",
    "memory_per_object": "objects",
    "MemoryReport": "objects",
    "why_not_faster": "whynot",
    "WhyNot": "whynot",
    "report": "report",
    "Report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython):
    """``%load_ext helpers``: register the course's cell magics."""
    from .magics import register

    register(ipython)
