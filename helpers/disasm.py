"""Machine code to instructions with binutils' ``objdump`` (the disassembler jitviewer used).

:func:`disassemble` writes the bytes to a private temp file (objdump cannot read a raw binary
from a pipe), runs ``objdump -D -z -b binary -m MACHINE --adjust-vma=ADDRESS`` from an argv
list with a timeout, removes the file on every path and parses the listing into
:class:`Instruction` s (:func:`parse_objdump`, a plain function). When objdump is not
installed it raises :class:`ObjdumpMissing`, whose message says how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Optional

__all__ = ["Instruction", "ObjdumpMissing", "DisassemblyError", "disassemble", "parse_objdump",
           "objdump_path", "machine_for", "INSTALL_HINT"]

INSTALL_HINT = ("objdump (GNU binutils) is not installed, so the machine code cannot be "
                "disassembled: install it with `apt-get install binutils` (as root, or with "
                "sudo), or `./course setup` as root, then run this again")

#: PyPy's BACKEND names -> objdump's -m machine (as PyPy's own viewcode.py maps them).
_MACHINES = {"x86_64": "i386:x86-64", "x86-64": "i386:x86-64", "x86-64-sse4": "i386:x86-64",
             "x86": "i386", "x86_32": "i386", "i386": "i386", "arm": "arm", "arm_32": "arm",
             "aarch64": "aarch64", "ppc-64": "powerpc:common64", "s390x": "s390:64-bit"}

_LINE = re.compile(r"\s*([0-9a-f]{1,16}):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*(?:\t(.*))?$")


class ObjdumpMissing(RuntimeError):
    """objdump is not on PATH (the message says how to install it)."""


class DisassemblyError(RuntimeError):
    """objdump ran but failed, or timed out."""


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction: its ``address``, its bytes (``data``) and objdump's text
    (``mov    0x40(%rcx),%rbx``)."""

    address: int
    data: bytes
    text: str

    @property
    def size(self) -> int:
        return len(self.data)


def objdump_path(path: Optional[str] = None) -> Optional[str]:
    """Where objdump is (``PATH`` or the ``path`` given), or None."""
    return shutil.which("objdump", path=path)


def machine_for(backend: Optional[str]) -> str:
    """objdump's ``-m`` machine for PyPy's BACKEND name (x86-64 when it is not known)."""
    if backend is None:
        return "i386:x86-64"
    try:
        return _MACHINES[backend]
    except KeyError:
        raise DisassemblyError(f"no objdump machine known for PyPy's backend {backend!r}") \
            from None


def parse_objdump(text: str) -> list:
    """objdump -D's listing -> :class:`Instruction` s. Lines that continue a long
    instruction's bytes (no text) are joined to it; headers and blank lines are skipped."""
    out: list = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        address, data = int(m[1], 16), bytes.fromhex(m[2].replace(" ", ""))
        if m[3] is None:
            if out and out[-1].address + out[-1].size == address:
                last = out.pop()
                out.append(Instruction(last.address, last.data + data, last.text))
            continue
        out.append(Instruction(address, data, " ".join(m[3].split("\t")).strip()))
    return out


def disassemble(data: bytes, address: int, backend: Optional[str] = "x86_64", *,
                timeout: float = 30.0, objdump: Optional[str] = None) -> list:
    """The :class:`Instruction` s of ``data``, the code found at ``address``. Raises
    :class:`ObjdumpMissing` when objdump is not installed, :class:`DisassemblyError` when it
    fails."""
    exe = objdump or objdump_path()
    if exe is None:
        raise ObjdumpMissing(INSTALL_HINT)
    if not data:
        return []
    fd, name = tempfile.mkstemp(prefix="pypy-course-code-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        argv = [exe, "-D", "-z", "-b", "binary", "-m", machine_for(backend),
                f"--adjust-vma={address:#x}", "--insn-width=15", name]
        try:
            proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DisassemblyError(f"objdump took more than {timeout:g} s on "
                                   f"{len(data):,} bytes") from None
        except OSError as exc:
            raise DisassemblyError(f"could not run objdump ({exe}): {exc}") from None
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass
    if proc.returncode:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise DisassemblyError(f"objdump failed (exit {proc.returncode}): {err[-500:]}")
    return parse_objdump(proc.stdout.decode("utf-8", "replace"))
