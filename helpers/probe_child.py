"""Runs inside any Python, for :mod:`helpers.interpreters` and :mod:`helpers.nursery`: what this
interpreter is, as one line of JSON on stdout.

    python probe_child.py                  what this interpreter is
    python probe_child.py --missing M...   which of the modules M cannot be imported
    python probe_child.py --purelib        where this interpreter's pure-Python packages go
    python probe_child.py --build          its C headers' folder and extension-module suffix

Implementation, language version, PyPy version and JIT, executable and prefix; on PyPy also the
nursery it runs with (``gc.get_stats()``, in bytes), which :mod:`helpers.nursery` reads from a
child started without any ``PYPY_GC_*`` to learn PyPy's default on this machine. Stdlib only,
runs on Python 3.9+; the probe happens before there is an interpreter to hand a request to, so it
answers on stdout.
"""

import json
import platform
import sys


def nursery_size():
    """The nursery in bytes, or None off PyPy (gc.get_stats() has it raw or formatted)."""
    if not hasattr(sys, "pypy_version_info"):
        return None
    import gc

    stats = gc.get_stats()
    raw = getattr(getattr(stats, "_s", None), "nursery_size", None)
    if isinstance(raw, int):
        return raw
    text = str(getattr(stats, "nursery_size", "")).strip().upper()
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if text.endswith(unit):
            try:
                return int(float(text[:-len(unit)]) * scale)
            except ValueError:
                return None
    return int(text) if text.isdigit() else None


def describe():
    try:
        import pypyjit
    except ImportError:
        pypyjit = None
    jit = pypyjit is not None
    pv = getattr(sys, "pypy_version_info", None)
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "pypy_version": "%d.%d.%d" % pv[:3] if pv else None,
        "jit": jit,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "nursery": nursery_size(),
    }


def missing(modules):
    """The names among ``modules`` that this interpreter cannot find."""
    import importlib.util

    return [m for m in modules if importlib.util.find_spec(m) is None]


def purelib():
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def build():
    """What building a C extension for this interpreter needs (``sysconfig`` takes a
    quarter of a second to import on PyPy: hence a flag of its own)."""
    import sysconfig

    return {"include": sysconfig.get_paths()["include"],
            "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX")}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--missing"]:
        print(json.dumps(missing(sys.argv[2:])))
    elif sys.argv[1:2] == ["--build"]:
        print(json.dumps(build()))
    elif sys.argv[1:2] == ["--purelib"]:
        print(json.dumps(purelib()))
    else:
        print(json.dumps(describe()))
