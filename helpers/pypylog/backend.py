"""The machine code the JIT's backend wrote, from ``jit-backend-dump`` and ``jit-backend-addr``
(streaming, no process: the disassembler is :mod:`helpers.disasm`).

PyPy 7.3 logs each block of machine code it writes (and each later patch of a few bytes) as a
section of its own::

    [12cd71c4288] {jit-backend-dump
    BACKEND x86_64
    SYS_EXECUTABLE pypy3
    CODE_DUMP @7f51870e2950 +0  00000000…48817D40FFFFFF000F8C92000000…
    [12cd71cc91a] jit-backend-dump}

``@`` is a base address in hex, ``+`` a decimal offset from it, then the bytes in hex (one line
may be split into several ``CODE_DUMP`` lines). When a loop or bridge is in place, the backend
says where (``jit-backend-addr``)::

    Loop 1 (f;/tmp/t.py:1-3~#12 FOR_ITER) has address 0x7f51870e2a5b to 0x7f51870e2c40 (bootstrap 0x7f51870e29d0)
           gc table: 0x7f51870e2950
           function: 0x7f51870e29d0
             resops: 0x7f51870e2a5b
           failures: 0x7f51870e2c40
                end: 0x7f51870e2df7
    bridge out of Guard 0x7f51872befe0 has address 0x7f51870e2eb0 to 0x7f51870e2f50

The block runs from the gc table (constants the code reads) through the function's entry, the
operations' code (``resops``) and the guards' failure paths (``failures``) to ``end``. The
``+offset`` of each operation in ``jit-log-opt`` counts from the block's first byte, and
``--end of the loop--`` is the offset of ``failures``: that is how :func:`read_machine_code`'s
caller ties instructions to operations (:meth:`MachineCode.base_for`).

Later dumps overwrite earlier ones where they overlap (a guard's jump patched to reach a new
bridge), until another block is put at the same addresses (the old one was freed). Only the
blocks asked for are kept (``wanted``): a ``PYPYLOG=jit`` of a real program holds hundreds of
megabytes of dumps. A dump that is not hex, or cut off by a truncated log, is skipped or kept
in part with a warning; nothing is raised for bad input but :class:`PypylogError` (not a
PYPYLOG at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .ops import Bridge, Loop, Trace
from .scan import _scan

__all__ = ["CodeBlock", "MachineCode", "BackendCode", "read_machine_code", "trace_key",
           "BACKEND_CATEGORIES", "MAX_BLOCK"]

#: What PYPYLOG must log for the machine code (added to the trace viewer's categories).
BACKEND_CATEGORIES = ("jit-backend-dump", "jit-backend-addr")
#: A block larger than this (bytes) is not kept: no loop is that big; the record is corrupt.
MAX_BLOCK = 4 << 20

_LOOP = re.compile(r"Loop (-?\d{1,12}) .*has address 0x([0-9a-fA-F]{1,16}) to "
                   r"0x([0-9a-fA-F]{1,16})(?: \(bootstrap 0x([0-9a-fA-F]{1,16})\))?\s*$")
_BRIDGE = re.compile(r"bridge out of Guard 0x([0-9a-fA-F]{1,16}) has address "
                     r"0x([0-9a-fA-F]{1,16}) to 0x([0-9a-fA-F]{1,16})\s*$")
_PART = re.compile(r"\s*([a-z][a-z ]{0,30}): 0x([0-9a-fA-F]{1,16})\s*$")
_DUMP = re.compile(r"CODE_DUMP @(-?[0-9a-fA-F]{1,16}) \+(\d{1,12})(?: +(\S*))?\s*$")
_DUMP_LINE = re.compile(r"^CODE_DUMP.*$", re.M)
_BACKEND = re.compile(r"^BACKEND (\S+)", re.M)
_HEX = re.compile(r"[0-9a-fA-F]*")
_WORD = 1 << 64


def trace_key(trace: Trace) -> tuple:
    """What names a trace in ``jit-backend-addr``: ("loop", number) or ("bridge", guard)."""
    if isinstance(trace, Bridge):
        return ("bridge", trace.guard)
    return ("loop", trace.number)


@dataclass(eq=False)
class CodeBlock:
    """One ``jit-backend-addr`` record: where a loop or bridge was put. ``key`` is
    ("loop", number) or ("bridge", guard id); ``start``/``stop`` the "has address … to …"
    (the operations' code, without the failure paths); ``parts`` the named addresses that
    follow ("gc table", "function", "jump target", "resops", "failures", "end"); ``tick`` the
    section's timestamp (before the trace's own ``jit-log-opt`` section)."""

    key: tuple
    tick: int
    start: int
    stop: int
    bootstrap: Optional[int] = None
    parts: dict = field(default_factory=dict)
    text: str = ""

    @property
    def code_start(self) -> int:
        """The first instruction: a loop's function entry, a bridge's jump target."""
        for name in ("function", "jump target"):
            if name in self.parts:
                return self.parts[name]
        return self.bootstrap if self.bootstrap is not None else self.start

    @property
    def failures(self) -> int:
        return self.parts.get("failures", self.stop)

    @property
    def end(self) -> int:
        return max(self.parts.get("end", self.stop), self.stop)

    @property
    def low(self) -> int:
        """The block's first byte: the gc table in front of the code when it is there."""
        low = min(self.code_start, self.start)
        table = self.parts.get("gc table")
        if table is not None and low - 65536 <= table <= low:
            low = table
        return low


@dataclass(eq=False)
class MachineCode:
    """The bytes of one :class:`CodeBlock` as the log left them (every later patch applied):
    ``data`` from ``block.low`` to ``block.end``; ``known`` how many of them some dump gave
    (the rest are zero); ``patches`` how many dumps were applied; ``backend`` the BACKEND
    line's name (``x86_64``); ``partial`` True when a dump of it was cut or unreadable."""

    block: CodeBlock
    backend: Optional[str]
    data: bytearray
    known: int = 0
    patches: int = 0
    partial: bool = False
    _mask: bytearray = field(default=None, repr=False)
    address: int = field(default=None)  # the block's first byte (``block.low``)

    def __post_init__(self):
        if self.address is None:
            self.address = self.block.low

    def code(self) -> tuple:
        """(address, bytes) of the instructions: from the entry to the end of the failure
        paths (the gc table in front is data, not code)."""
        start = self.block.code_start
        return start, bytes(self.data[start - self.address:])

    def base_for(self, trace: Optional[Trace]) -> int:
        """The address the trace's ``+offset`` numbers count from: ``failures`` minus the
        ``--end of the loop--`` offset (exact on every backend), else the block's first byte."""
        end = getattr(trace, "end_offset", None)
        if end is not None:
            base = self.block.failures - end
            if self.address <= base <= self.block.code_start:
                return base
        return self.address

    def _apply(self, address: int, data: bytes) -> None:
        lo = max(address, self.address)
        hi = min(address + len(data), self.address + len(self.data))
        if lo >= hi:
            return
        a, b = lo - self.address, hi - self.address
        self.data[a:b] = data[lo - address:hi - address]
        if self._mask is None:
            self._mask = bytearray(len(self.data))
        self._mask[a:b] = b"\x01" * (b - a)
        self.known = len(self._mask) - self._mask.count(0)
        self.patches += 1


@dataclass(eq=False)
class BackendCode:
    """What :func:`read_machine_code` found: ``blocks`` every ``jit-backend-addr`` record in log
    order, ``code`` key -> the :class:`MachineCode` of each wanted record with that key (log
    order: PyPy reuses numbers and addresses), ``backend`` the BACKEND name, ``dumps`` how
    many ``CODE_DUMP`` lines were read, ``warnings`` what was odd."""

    blocks: list
    code: dict
    backend: Optional[str]
    dumps: int
    warnings: list

    def for_trace(self, trace: Trace) -> Optional[MachineCode]:
        """The machine code of a parsed loop or bridge: the record with its key logged last
        before its ``jit-log-opt`` section (the backend logs where it put the code first)."""
        found = self.code.get(trace_key(trace), [])
        before = [mc for mc in found if mc.block.tick <= trace.start]
        if before:
            return before[-1]
        return found[0] if found else None


def _hex(text: str) -> tuple:
    """(bytes, ok): a dump's hex digits (':' separators allowed). An odd digit at the end
    (a cut line) is dropped; anything that is not hex gives (b"", False)."""
    text = text.replace(":", "")
    if _HEX.fullmatch(text) is None:
        return b"", False
    ok = len(text) % 2 == 0
    return bytes.fromhex(text[: len(text) // 2 * 2]), ok


def _parse_addr(tick: int, body: str) -> Optional[CodeBlock]:
    lines = [ln for ln in body.split("\n") if ln.strip()]
    if not lines:
        return None
    head = lines[0].strip()
    m = _BRIDGE.match(head)
    if m:
        block = CodeBlock(("bridge", int(m[1], 16)), tick, int(m[2], 16), int(m[3], 16),
                          text=head)
    else:
        m = _LOOP.match(head)
        if m is None:
            return None
        block = CodeBlock(("loop", int(m[1])), tick, int(m[2], 16), int(m[3], 16),
                          int(m[4], 16) if m[4] else None, text=head)
    for line in lines[1:]:
        p = _PART.match(line)
        if p:
            block.parts[p[1].strip()] = int(p[2], 16)
    return block


def read_machine_code(source, wanted: Optional[Iterable] = None, *,
                      max_block: int = MAX_BLOCK) -> BackendCode:
    """Read the machine code of the loops and bridges named in ``wanted`` (keys as
    :func:`trace_key` gives, or the traces themselves; None: every one) from a PYPYLOG,
    streaming: ``source`` as for :func:`helpers.pypylog.parse`. Memory holds the wanted
    blocks and the dumps of one compilation at a time."""
    want = None
    if wanted is not None:
        want = {trace_key(w) if isinstance(w, (Loop, Bridge)) else tuple(w) for w in wanted}
    blocks: list = []
    code: dict = {}
    live: list = []      # MachineCode still receiving patches
    pending: list = []   # (address, hex text, complete) since the last jit-backend-addr record
    state = {"backend": None, "dumps": 0, "bad": 0, "cut": 0, "bad_addr": 0, "big": 0,
             "odd": 0}

    def overlaps(mc, address: int, n: int) -> bool:
        return address < mc.address + len(mc.data) and mc.address < address + n

    def decode(text: str, complete: bool) -> Optional[bytes]:
        # only the dumps that land in a wanted block are decoded: most of a big log is not
        data, ok = _hex(text)
        if not data and not ok:
            state["bad"] += 1
            return None
        if complete and not ok:
            state["odd"] += 1
        return data

    def place(address: int, text: str, complete: bool) -> None:
        targets = [mc for mc in live if overlaps(mc, address, len(text) // 2)]
        if targets:
            data = decode(text, complete)
            if data is not None:
                for mc in targets:
                    mc._apply(address, data)

    def on_dump(start, stop, body, complete):
        if state["backend"] is None:
            b = _BACKEND.search(body)
            if b:
                state["backend"] = b[1]
        for m in _DUMP_LINE.finditer(body):
            d = _DUMP.match(m[0])
            if d is None:
                state["bad"] += 1
                continue
            if not d[3]:
                continue  # an empty dump
            state["dumps"] += 1
            state["cut"] += not complete
            base = int(d[1], 16)
            if base < 0:
                base += _WORD
            pending.append((base + int(d[2]), d[3], complete))

    def on_addr(start, stop, body, complete):
        block = _parse_addr(start, body)
        if block is None:
            state["bad_addr"] += 1
            return
        blocks.append(block)
        lo, hi = block.low, block.end
        # code put where an older block was: that one was freed, it gets no more patches
        live[:] = [mc for mc in live
                   if not (lo < mc.address + len(mc.data) and mc.address < hi)]
        mine = None
        if want is None or block.key in want:
            if 0 < hi - lo <= max_block:
                mine = MachineCode(block, state["backend"], bytearray(hi - lo))
                code.setdefault(block.key, []).append(mine)
            else:
                state["big"] += 1
        for address, text, ok in pending:
            if lo < address + len(text) // 2 and address < hi:
                if mine is not None:
                    data = decode(text, ok)
                    if data is None:
                        mine.partial = True
                        continue
                    mine._apply(address, data)
                    mine.partial |= not ok or len(text) % 2 == 1
            else:
                place(address, text, ok)
        pending.clear()
        if mine is not None:
            live.append(mine)

    scanner = None
    for scanner in _scan(source, {"jit-backend-dump": on_dump, "jit-backend-addr": on_addr}):
        pass
    for address, text, ok in pending:
        place(address, text, ok)
    warnings = []
    if state["bad"]:
        warnings.append(f"{state['bad']} CODE_DUMP line(s) were not '@address +offset hex': "
                        "skipped")
    if state["cut"]:
        warnings.append(f"{state['cut']} code dump(s) cut off by the end of the log (truncated): "
                        "their last bytes are missing")
    if state["odd"]:
        warnings.append(f"{state['odd']} code dump(s) with an odd number of hex digits: the last "
                        "digit was dropped")
    if state["bad_addr"]:
        warnings.append(f"{state['bad_addr']} jit-backend-addr section(s) did not say 'Loop N … "
                        "has address' or 'bridge out of Guard … has address': skipped")
    if state["big"]:
        warnings.append(f"{state['big']} block(s) claim more than {max_block:,} bytes: not read")
    if scanner is not None and scanner.unclosed and not state["cut"]:
        warnings.append("the log is truncated: code written after its end is missing")
    return BackendCode(blocks, code, state["backend"], state["dumps"], warnings)
