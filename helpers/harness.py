"""Timing harness that runs INSIDE the child interpreter (CPython or PyPy).

Usage::

    python harness.py CONFIG.json RESULT.json

Stdlib only and Python 3.9 compatible: PyPy 3.9 runs this file as a script.

CONFIG keys
    setup    source run once, in a fresh module namespace whose ``__name__`` is ``"__main__"``
    stmt     source timed repeatedly
    samples  maximum number of samples
    budget   seconds of wall time for calibration plus sampling (setup not included)
    number   executions of stmt per sample; null = calibrate (see ``measure``)
    target   optional: seconds one sample should take when calibrating
             (default ``budget / samples``, at least ``MIN_TARGET``)
    label    optional: echoed back (for example the ``--jit`` setting)

RESULT keys
    samples       seconds per execution of stmt, one value per sample, in order
    runs          executions of stmt in each sample
    number        executions of stmt per sample after calibration
    calibration_samples
                  how many leading samples calibrated ``number`` (1, 2, 4, ...
                  executions; 0 when ``number`` was given)
    elapsed       seconds from the first sample's start to the last one's end
    setup_seconds seconds the setup took
    stopped_by    "samples" or "budget"
    implementation, version, pypy_version, jit, executable, label

How the statement is run: like ``timeit``, stmt becomes the body of a ``for`` loop in
a function, so a sample costs two timer calls plus a tight loop, and PyPy's JIT sees
a real loop.  The function's globals are the setup namespace, so stmt sees what setup
defined.  Names that stmt assigns are local to that function (fast, fresh for every
sample), except names setup already defined: those stay global, so
``setup="n = 0"; stmt="n += 1"`` works as it would at the top level of a script.

The statement's own line numbers are kept (the loop is built with ``ast`` around the
parsed stmt) and the sources are registered in ``linecache`` as ``<setup>`` and
``<stmt>``, so a traceback shows the user's lines.  Exceptions propagate: the child
prints the traceback (without the harness's own frames) on stderr and exits non-zero.
stmt may print; results only ever go to the RESULT file.
"""
import ast
import itertools
import json
import linecache
import os
import platform
import sys
import time
import traceback
import types

SETUP_FILENAME = "<setup>"
STMT_FILENAME = "<stmt>"
MIN_TARGET = 20e-6  # seconds; shortest sample we aim for when calibrating
_INNER = "_harness_inner"


def register_source(source, filename):
    """Make ``linecache`` (hence tracebacks) know ``source`` under ``filename``."""
    lines = source.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # mtime None: linecache.checkcache() never discards the entry
    linecache.cache[filename] = (len(source), None, lines, filename)


class _Assigned(ast.NodeVisitor):
    """Names a block binds in its own scope (nested scopes are not entered)."""

    def __init__(self):
        self.names = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def _binds_name(self, node):
        self.names.add(node.name)
        for child in node.decorator_list:
            self.visit(child)

    def visit_FunctionDef(self, node):
        self._binds_name(node)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Import(self, node):
        for alias in node.names:
            self.names.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)


def assigned_names(tree):
    """Names the module-level code in ``tree`` binds."""
    visitor = _Assigned()
    for node in tree.body:
        visitor.visit(node)
    return visitor.names


def compile_stmt(stmt, namespace):
    """Return ``inner(it, timer) -> (t0, t1)`` running stmt once per item of ``it``.

    ``inner`` is defined in ``namespace``; stmt keeps its own line numbers in
    ``<stmt>``.
    """
    register_source(stmt, STMT_FILENAME)
    # Compiling as a module first gives the user's SyntaxError (including
    # "'return' outside function") against their own lines.
    compile(stmt, STMT_FILENAME, "exec")
    tree = ast.parse(stmt, STMT_FILENAME, "exec")
    shared = sorted(assigned_names(tree) & set(namespace))
    wrapper = ast.parse(
        "def %s(_harness_it, _harness_timer):\n"
        "    _harness_t0 = _harness_timer()\n"
        "    for _harness_i in _harness_it:\n"
        "        pass\n"
        "    return _harness_t0, _harness_timer()\n" % _INNER,
        STMT_FILENAME,
        "exec",
    )
    func = wrapper.body[0]
    func.body[1].body = list(tree.body) or [ast.Pass()]  # the loop's body
    if shared:
        func.body.insert(0, ast.Global(names=shared))
    ast.fix_missing_locations(wrapper)
    try:
        code = compile(wrapper, STMT_FILENAME, "exec")
    except SyntaxError as exc:  # fine at module level, not in a function: import *
        lines = stmt.splitlines()
        text = lines[exc.lineno - 1] if exc.lineno and exc.lineno <= len(lines) else None
        raise SyntaxError(
            "%s (the statement runs in a loop inside a function, as with timeit: "
            "move this to the setup)" % exc.msg,
            (STMT_FILENAME, exc.lineno, exc.offset or 1, text)) from None
    exec(code, namespace)
    inner = namespace.pop(_INNER)
    # tracebacks then say "in <module>", as for top-level code in a script
    names = {"co_name": "<module>"}
    if hasattr(inner.__code__, "co_qualname"):  # Python 3.11+
        names["co_qualname"] = "<module>"
    inner.__code__ = inner.__code__.replace(**names)
    return inner


def run_setup(setup):
    """Run setup in a fresh ``__main__``-like namespace; return (namespace, seconds).

    The namespace is a real module's dict, as a script's globals are: on PyPy a module dict
    lets the JIT treat global and builtin lookups as constants, while a plain dict keeps them
    dictionary lookups (about 15x slower for a small function here), which would make CPython
    tricks such as ``def f(len=len)`` look useful on PyPy.
    """
    register_source(setup, SETUP_FILENAME)
    namespace = types.ModuleType("__main__").__dict__
    namespace["__builtins__"] = __builtins__
    code = compile(setup, SETUP_FILENAME, "exec")
    t0 = time.perf_counter()
    exec(code, namespace)
    return namespace, time.perf_counter() - t0


def measure(setup, stmt, samples, budget, number=None, timer=time.perf_counter,
            target=None):
    """Run setup once, then time stmt until ``samples`` samples or ``budget`` seconds.

    Every sample is kept, in order, as seconds per execution of stmt.

    With ``number=None`` the first samples calibrate: the first is a single
    execution, and each next one doubles the count (1, 2, 4, ...) until that many
    executions at the fastest time per execution seen so far last at least ``target``
    seconds; that count is ``number`` from then on (judging by the fastest, one slow
    sample, a JIT compiling or another program running, cannot end calibration with a
    count far too small).  The
    calibration samples are ordinary samples, so a JIT's first, slow executions are in
    the series with the finest resolution (the very first execution is a sample of
    its own), while the timer's own overhead, which would dominate single executions
    of a fast statement, is quickly spread over many executions.

    The timer is called once at the start, then twice per sample (before and after
    its loop).  At least one sample is always taken; after each sample the loop
    stops if ``samples`` is reached or ``budget`` seconds have passed since the
    start.  Returns a dict (see the module docstring, RESULT keys).
    """
    if samples < 1:
        raise ValueError("samples must be at least 1, not %r" % (samples,))
    if number is not None and number < 1:
        raise ValueError("number must be at least 1 or None, not %r" % (number,))
    namespace, setup_seconds = run_setup(setup)
    inner = compile_stmt(stmt, namespace)
    if target is None:
        target = max(budget / samples, MIN_TARGET)
    start = timer()
    deadline = start + budget
    times = []
    runs = []
    t1 = start

    def sample(count):
        t0, t1 = inner(itertools.repeat(None, count), timer)
        times.append((t1 - t0) / count)
        runs.append(count)
        return t0, t1

    calibration_samples = 0
    if number is None:
        number = 1
        while True:
            t0, t1 = sample(number)
            if number * min(times) >= target or len(times) >= samples or t1 >= deadline:
                break
            number *= 2
        calibration_samples = len(times)
    while not times or (len(times) < samples and t1 < deadline):
        t0, t1 = sample(number)
    return {
        "samples": times,
        "runs": runs,
        "number": number,
        "calibration_samples": calibration_samples,
        "elapsed": t1 - start,
        "setup_seconds": setup_seconds,
        "stopped_by": "samples" if len(times) >= samples else "budget",
    }


def describe_interpreter():
    """Implementation, versions and whether this interpreter has a JIT."""
    pypy = getattr(sys, "pypy_version_info", None)
    jit = False
    if pypy is not None:
        try:
            import pypyjit  # noqa: F401
            jit = True
        except ImportError:
            jit = False
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "pypy_version": "%d.%d.%d" % tuple(pypy[:3]) if pypy is not None else None,
        "jit": jit,
        "executable": sys.executable,
    }


def _user_traceback(exc_type, exc, tb):
    """The harness's own frames are dropped unless nothing else is left."""
    here = os.path.abspath(__file__)
    frames = tb
    while frames is not None and os.path.abspath(
            frames.tb_frame.f_code.co_filename) == here:
        frames = frames.tb_next
    return frames if frames is not None else tb


def _excepthook(exc_type, exc, tb):
    # traceback (unlike CPython's C-level default hook) reads lines via linecache
    if issubclass(exc_type, SyntaxError) and exc.filename in (STMT_FILENAME,
                                                              SETUP_FILENAME):
        tb = None  # the message itself points at the user's line
    else:
        tb = _user_traceback(exc_type, exc, tb)
    traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
    sys.stderr.flush()


def write_json(path, data):
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s CONFIG.json RESULT.json\n" % argv[0])
        return 2
    with open(argv[1]) as f:
        config = json.load(f)
    sys.excepthook = _excepthook
    # the user's code runs as if it were the script
    sys.argv = [argv[0]]
    # ... started in the working directory, like `python -m timeit`: its own modules import,
    # and none of this folder's modules (timing, plots, ...) can shadow them
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path[0] = os.getcwd()
    result = measure(
        config.get("setup", ""),
        config.get("stmt", "pass"),
        int(config.get("samples", 200)),
        float(config.get("budget", 1.5)),
        number=config.get("number"),
        target=config.get("target"),
    )
    sys.stdout.flush()
    result.update(describe_interpreter())
    result["label"] = config.get("label")
    write_json(argv[2], result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
