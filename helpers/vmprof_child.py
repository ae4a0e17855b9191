"""Runs inside CPython or PyPy, for :func:`helpers.profiling.profile`: a program under vmprof.

    python vmprof_child.py REQUEST.json ANSWER.json

The request names the program, its arguments, how many runs, the sampling period and where to
write the profile; the answer has each run's seconds. The program runs as ``__main__`` inside
:func:`_course_profiled_program`, the frame :mod:`helpers.profiling` cuts the profile's tree at.
Stdlib and vmprof only, Python 3.9-compatible.

Repeated runs execute the same code object in the same module dict, emptied and given back a
fresh module's names before each run: every run starts from fresh globals (modules it imported
stay imported). A new dict per run made PyPy slower at every run: nothing invalidated the first
run's loops, so each later run entered them, failed their checks on the objects the first run's
globals held (its class, its functions) and went through a chain of bridges, one more per run.
Emptying the one dict invalidates the loops that read it, so each run gets loops of its own.
(A new code object per run would also keep the speed, but make each function one row per run
in the profile.)
"""

import builtins
import json
import os
import sys
import time
import types

def _course_profiled_program(code, module):
    # What runpy.run_path does for a .py file, minus runpy's own frames in the profile.
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    finally:
        sys.modules["__main__"] = saved


#: What reset_globals keeps alive of a run: what holds code objects vmprof may have sampled.
CODE_HOLDERS = (types.FunctionType, type, types.CodeType)


def main_module(target):
    """The ``__main__`` module the program runs in, and the names a fresh one starts with."""
    module = types.ModuleType("__main__")
    module.__file__, module.__cached__, module.__spec__, module.__loader__ = target, None, None, None
    module.__builtins__ = builtins
    return module, dict(module.__dict__)


def reset_globals(module, initial, done):
    """Empty ``module``'s dict in place and put a fresh module's names back.

    Emptying the dict invalidates PyPy's loops that read its names, so the next run compiles
    its own (a little warm-up per run) instead of piling bridges onto the old ones. The
    functions and classes the last run defined are kept alive in ``done`` until vmprof.disable(),
    which names the code it sampled (CPython's vmprof names only code objects still alive then,
    and a function made by exec() has new code at every run); its data is let go.
    """
    g = module.__dict__
    done.extend(v for v in g.values() if isinstance(v, CODE_HOLDERS))
    g.clear()
    g.update(initial)


def main(request, answer):
    with open(request) as f:
        cfg = json.load(f)
    try:
        import vmprof
    except ImportError:
        sys.stderr.write("vmprof is not installed for %s (%s): install it into that "
                         "interpreter's venv (`./course setup` does).\n"
                         % (sys.executable, sys.version.split()[0]))
        sys.exit(3)
    is_pypy = "__pypy__" in sys.builtin_module_names
    lines = bool(cfg["lines"]) and not is_pypy
    target = cfg["target"]
    with open(target, "rb") as f:
        code = compile(f.read(), target, "exec", dont_inherit=True)
    sys.argv = [target] + list(cfg["args"])
    sys.path[0] = os.path.dirname(target)
    fd = os.open(cfg["profile"], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    kwargs = dict(memory=False, lines=lines, native=False)
    if is_pypy:
        kwargs["warn"] = False
    times, failed, stdout, done = [], None, sys.stdout, []
    module, initial = main_module(target)
    devnull = open(os.devnull, "w")
    vmprof.enable(fd, float(cfg["period"]), **kwargs)
    try:
        for i in range(int(cfg["repeat"])):
            if i == 1:
                sys.stdout.flush()
                sys.stdout = devnull  # what repeated runs print is dropped
            reset_globals(module, initial, done)
            start = time.perf_counter()
            try:
                _course_profiled_program(code, module)
            except SystemExit as exc:
                status = exc.code
                if status not in (None, 0):
                    failed = exc
            times.append(time.perf_counter() - start)
            if failed is not None:
                break
    finally:
        sys.stdout = stdout
        vmprof.disable()
        os.close(fd)
        write_json(answer, {"times": times, "lines": lines, "pypy": is_pypy})
    if failed is not None:
        raise failed


def write_json(path, data):
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
