"""Runs inside CPython or PyPy, for :func:`helpers.profiling.profile`: a program under vmprof.

    python vmprof_child.py REQUEST.json ANSWER.json

The request names the program, its arguments, how many runs, the sampling period and where to
write the profile; the answer has each run's seconds. The program runs as ``__main__`` inside
:func:`_course_profiled_program`, the frame :mod:`helpers.profiling` cuts the profile's tree at.
Stdlib and vmprof only, Python 3.9-compatible.
"""

import json
import os
import sys
import time
import types

def _course_profiled_program(code, target, done):
    # What runpy.run_path does for a .py file, minus runpy's own frames in the profile.
    module = types.ModuleType("__main__")
    module.__file__, module.__cached__, module.__spec__, module.__loader__ = target, None, None, None
    done.append(module)  # alive until vmprof.disable(), which names the code it sampled
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    finally:
        sys.modules["__main__"] = saved


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
    devnull = open(os.devnull, "w")
    vmprof.enable(fd, float(cfg["period"]), **kwargs)
    try:
        for i in range(int(cfg["repeat"])):
            if i == 1:
                sys.stdout.flush()
                sys.stdout = devnull  # what repeated runs print is dropped
            start = time.perf_counter()
            try:
                _course_profiled_program(code, target, done)
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
