"""C extensions in the course: build a small one for CPython or for PyPy (the C compiler called
directly), and name the calls into C that a compiled PyPy loop still makes.

    >>> from helpers import cbuild
    >>> path = cbuild.build_extension(C_SOURCE, "demo", folder, interpreter="pypy")

:func:`toolchain` asks the interpreter (``probe_child.py --build``) where its C headers are and
which file name suffix its extension modules need (``.pypy39-pp73-x86_64-linux-gnu.so``,
``.cpython-311-x86_64-linux-gnu.so``), and finds ``gcc``; :func:`problems` says in sentences what
is missing and which package installs it; :func:`build_extension` writes the source into the
folder given and runs one argv (``gcc -shared -fPIC -O2 -I<headers> -o <module> <source>``, no
shell), so the module is imported from that folder (``sys.path.insert(0, folder)``). On Linux an
extension module is not linked against the interpreter: its C API symbols are found in the
process that imports it (PyPy's come from ``libpypy3-c.so``, through cpyext).

:func:`residual_calls` reads a loop of :func:`helpers.trace` (a
:class:`~helpers.tracemodel.TraceInfo`): the residual calls of one pass of its body, by target,
as the log names them (``as_pyobj``, ``cpy_call_external…`` for cpyext; a raw address for a
function cffi calls directly).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .interpreters import PROBE, Interpreter, get_interpreter
from .pypylog import op_kind

__all__ = ["BuildError", "Toolchain", "toolchain", "problems", "build_extension",
           "call_target", "residual_calls", "COMPILE_TIMEOUT"]

COMPILE_TIMEOUT = 120.0  # seconds for one gcc run


class BuildError(RuntimeError):
    """The extension could not be built; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Toolchain:
    """What building for one interpreter needs: ``compiler`` (None: no gcc/cc on PATH),
    ``include`` (the folder that should hold ``Python.h``), ``ext_suffix``."""

    interpreter: Interpreter
    compiler: Optional[str]
    include: str
    ext_suffix: str

    @property
    def has_headers(self) -> bool:
        return os.path.isfile(os.path.join(self.include, "Python.h"))


@functools.lru_cache(maxsize=16)
def _build_paths(path: str) -> dict:
    try:
        proc = subprocess.run([path, str(PROBE), "--build"], capture_output=True, text=True,
                              errors="replace", timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"could not ask {path} where its C headers are: {exc}") from None
    if proc.returncode != 0:
        raise BuildError(f"{path} could not say where its C headers are:\n"
                         f"{proc.stderr.strip()[-1000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def toolchain(interpreter="pypy") -> Toolchain:
    """The compiler, headers folder and module suffix for ``interpreter`` (starts it once)."""
    interp = get_interpreter(interpreter)
    paths = _build_paths(interp.path)
    compiler = shutil.which("gcc") or shutil.which("cc")
    return Toolchain(interp, compiler, paths["include"], paths["ext_suffix"] or ".so")


def _headers_package(tc: Toolchain) -> str:
    """How to get the missing headers: Debian's package for Debian's interpreters."""
    pypy = tc.interpreter.name == "pypy"
    if tc.include.startswith("/usr/include/"):
        package = "pypy3-dev" if pypy else "python3-dev"
        return f"install Debian's {package}: `sudo apt-get install {package}`"
    return ("this interpreter was installed without its C headers: install its development "
            "package, or use a build that ships them (PyPy's own downloads do, in include/)")


def problems(tc: Toolchain) -> list:
    """What stops a build with ``tc``, as sentences that say how to fix it (empty: none)."""
    out = []
    if tc.compiler is None:
        out.append("There is no C compiler (gcc or cc) on PATH: `sudo apt-get install gcc`.")
    if not tc.has_headers:
        out.append(f"{tc.interpreter.label}'s C headers are missing (no Python.h in "
                   f"{tc.include}): {_headers_package(tc)}.")
    return out


def build_extension(source: str, name: str, folder, interpreter="pypy", *,
                    timeout: float = COMPILE_TIMEOUT) -> Path:
    """Compile the C ``source`` of extension module ``name`` for ``interpreter`` into
    ``folder`` (which must exist) and return the module's path. :class:`BuildError` says what
    is missing (compiler, headers) or what the compiler said; nothing is left behind then."""
    if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
        raise ValueError(f"a module name must be a Python identifier, not {name!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    tc = toolchain(interpreter)
    missing = problems(tc)
    if missing:
        raise BuildError(" ".join(missing) + " Then run this cell again.")
    tag = tc.interpreter.name
    c_file = folder / f"{name}-{tag}.c"
    target = folder / f"{name}{tc.ext_suffix}"
    c_file.write_text(source, encoding="utf-8")
    argv = [tc.compiler, "-shared", "-fPIC", "-O2", "-I", tc.include, "-o", str(target),
            str(c_file)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        proc = None
    finally:
        c_file.unlink(missing_ok=True)
    if proc is None or proc.returncode != 0:
        target.unlink(missing_ok=True)
        said = "it ran out of time" if proc is None else proc.stderr.strip()[-3000:]
        raise BuildError(f"{os.path.basename(tc.compiler)} could not build {name} for "
                         f"{tc.interpreter.label}:\n{said}")
    return target


# ----------------------------------------------------------------------------- reading a trace

_CONST = re.compile(r"ConstClass\((.+)\)")


def call_target(op) -> str:
    """What a residual call calls, as the log names it: the function for ``ConstClass(f)``;
    ``address N`` for a call into C by address (``call_release_gil_*``: its first argument is
    the errno-saving flag, its second the address); else the first argument as logged."""
    args = op.args or ("?",)
    found = _CONST.fullmatch(args[0])
    if found:
        return found[1]
    if op.name.startswith("call_release_gil") and len(args) > 1:
        return f"address {args[1]}"
    return args[0]


def residual_calls(info) -> Counter:
    """target -> how often one pass of the loop's body calls it (the preamble, run once per
    entry, left out), for a :class:`~helpers.tracemodel.TraceInfo` such as ``Traces.hot_loop``."""
    found = Counter()
    for block in info.blocks:
        if not block.preamble:
            for op in block.all_ops():
                if op_kind(op.name) == "call":
                    found[call_target(op)] += 1
    return found
