"""Runs inside the child, in the race harness's setup, for :func:`helpers.report.race_code`: a
learner's script made into a function that runs it once, as ``python script.py args`` would.

The setup ``exec``s this file into the harness's module and calls :func:`_make_report_runner`;
the timed statement is ``_report_run()``. Stdlib only, Python 3.9-compatible.
"""

import os as _os
import sys as _sys
import types as _types


def _make_report_runner(path, argv, cwd):
    """Change to ``cwd``, put the script's folder first on ``sys.path``, compile the script once
    (so the JIT sees the same code every run) and return the function that runs it as
    ``__main__`` with ``sys.argv`` set and its output sent to ``os.devnull``."""
    _os.chdir(cwd)
    _sys.path.insert(0, _os.path.dirname(path))
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    devnull = open(_os.devnull, "w")

    def _report_run():
        """Run the script once; sys.exit(0) or sys.exit() ends a run normally."""
        module = _types.ModuleType("__main__")
        module.__file__ = path
        saved = (_sys.modules.get("__main__"), _sys.argv, _sys.stdout, _sys.stderr)
        _sys.modules["__main__"] = module
        _sys.argv = list(argv)
        _sys.stdout = _sys.stderr = devnull
        try:
            exec(code, module.__dict__)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise RuntimeError("the script called sys.exit(%r) during the race" % (exc.code,))
        finally:
            _sys.modules["__main__"], _sys.argv, _sys.stdout, _sys.stderr = saved

    return _report_run
