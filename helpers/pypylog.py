"""PYPYLOG: capture it from a PyPy run, and parse it as a stream into plain data.

PyPy writes its debug log when the ``PYPYLOG`` environment variable says so:
``PYPYLOG=jit-log-opt,gc:out.log`` logs every section whose name starts with one of the
comma-separated prefixes into ``out.log``. :func:`capture` does that for a snippet or a script,
through :func:`helpers.runner.run`, into a temp file that the call owns.

The format, as PyPy 7.3 writes it (``rpython/translator/c/src/debug_print.c``)::

    [68988ce5c2a] {gc-minor                  <- a section opens: [timestamp] {name
    [68988ce6500] {gc-minor-walkroots        <- sections nest
    [68988ce7198] gc-minor-walkroots}        <- a section closes: [timestamp] name}
    minor collect, total memory used: 0      <- the body: debug_print lines of the section
    [68988cf2660] gc-minor}

The timestamps are hexadecimal CPU time-stamp-counter ticks (``rdtsc`` on x86), not seconds.
The simplest conversion scales the log's own span (first to last marker) to the run's wall time
(``wall_seconds=``); but the process's start-up before the first marker and its exit after the
last then count into every section (a third too much for a 0.1 s run). So :func:`capture`
measures the machine's tick rate once per session (:func:`tick_rate`: a PyPy run timing a
sleep between two logged collections) and converts with that; a log alone is converted by the
ticks of its ``jit-tracing`` sections against ``jit-summary``'s tracing and backend seconds
(PyPy's own ``time.time`` around the same work) when there are 5 ms of them, else by its span.
:attr:`PypyLog.clock` says which way was used; times stay approximate either way.

When PyPy logs to a terminal it colours the markers with ANSI escape codes (the reset code
lands at the start of the following line); they are removed. Newer PyPys prefix markers with
a thread number (``0# [hex] {name``); that is accepted too.

Parsing is streaming: the file is read in chunks of about a megabyte, section markers are found
with one regular expression over each chunk, and only the bodies of the sections this module
understands are kept (``jit-log-opt-loop``/``-bridge``, ``jit-summary``, ``jit-backend-counts``,
``jit-mem-looptoken-alloc``, the aborts in ``jit-tracing``, ``gc-minor``, ``gc-collect-step``,
``gc-collect-done``). Everything else (``jit-backend-dump`` is most of a ``PYPYLOG=jit`` log)
only counts towards the section tree. A loop keeps its operations as the text PyPy wrote (one
compact string); :attr:`Trace.ops` parses them when first asked.

The parse functions never launch a process and never import anything of PyPy; they run on
CPython 3.11. Errors of the input are :class:`PypylogError` (not a PYPYLOG at all) or warnings
on the result (a truncated log, unbalanced markers); nothing else is raised for any input.
"""

from __future__ import annotations

import codecs
import html
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from .display import warnings_html, warnings_lines
from .formatting import format_seconds, plural as _plural
from .interpreters import require_pypy as _require_pypy
from .runner import ask, private_tmpdir, run

__all__ = [
    "PypylogError",
    "capture",
    "Capture",
    "parse",
    "PypyLog",
    "Section",
    "SectionNode",
    "CategoryTime",
    "iter_sections",
    "iter_traces",
    "iter_gc_events",
    "Trace",
    "Loop",
    "Bridge",
    "Op",
    "Guard",
    "MergePoint",
    "JitSummary",
    "BackendCounts",
    "GcMinor",
    "GcStep",
    "GcCollectDone",
    "TracingAbort",
    "parse_location",
    "parse_op",
    "parse_trace",
    "parse_summary",
    "parse_backend_counts",
    "DEFAULT_CATEGORIES",
    "require_pypy",
    "tick_rate",
    "capture_pypylog",
    "parse_pypylog",
]

#: What :func:`capture` logs unless told otherwise: the optimized loops and bridges, their run
#: counters, the JIT's summary, loop allocations (to count temporary callbacks), tracing (with
#: its aborts) and the GC's minor and major collections. Not ``jit-backend``: its prefix also
#: matches ``jit-backend-dump``, hundreds of megabytes of machine code in hex.
DEFAULT_CATEGORIES = ("jit-tracing", "jit-log-opt", "jit-backend-counts", "jit-summary",
                      "jit-mem-looptoken-alloc", "gc-minor", "gc-collect")

_CHUNK = 1 << 20  # characters read at a time
_SNIFF = 1 << 16  # a PYPYLOG has a section marker in its first 64 KiB

_MARK = re.compile(r"\n\[([0-9a-fA-F]{1,32})\] (?:\{([^\s{}]+)|([^\s{}]+)\})[ \t]*(?=\n)")
_MARK_THREADED = re.compile(
    r"\n(?:\d{1,9}# )?\[([0-9a-fA-F]{1,32})\] (?:\{([^\s{}]+)|([^\s{}]+)\})[ \t]*(?=\n)")
_THREADED = re.compile(r"\n\d{1,9}# \[[0-9a-fA-F]{1,32}\] ")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PypylogError(ValueError):
    """The input is not a PYPYLOG (or cannot be read as one)."""


# ============================================================================ data


@dataclass(frozen=True, slots=True)
class MergePoint:
    """Where in the Python source a trace is: one ``debug_merge_point``.

    PyPy writes the location as ``'co_name;filename:firstlineno-lineno~#offset OPNAME'``
    (commas replaced by dots). ``depth`` is the inlining depth (0 = the loop's own function).
    Fields that the text does not give (another jitdriver, e.g. the regex engine's) are None.
    """

    text: str
    depth: Optional[int] = None
    call_id: Optional[int] = None
    function: Optional[str] = None
    filename: Optional[str] = None
    first_line: Optional[int] = None
    line: Optional[int] = None
    offset: Optional[int] = None
    opname: Optional[str] = None

    @property
    def where(self) -> str:
        """``function (file:line)`` when known, else the raw text (shortened)."""
        if self.function is None:
            return self.text if len(self.text) <= 60 else self.text[:59] + "…"
        line = self.line if self.line is not None else self.first_line
        name = os.path.basename(self.filename) if self.filename else "?"
        return f"{self.function} ({name}:{line})"


_LOCATION = re.compile(
    r"(?P<function>[^;]*);(?P<filename>.*):(?P<first>-?\d{1,12})-(?P<line>-?\d{1,12})"
    r"~#(?P<offset>\d{1,12}) (?P<opname>\S+)")
_LOCATION_OLD = re.compile(
    r"<code object (?P<function>.*?)\. file '(?P<filename>.*)'\. line (?P<first>-?\d{1,12})> "
    r"#(?P<offset>\d{1,12}) (?P<opname>\S+)")


def parse_location(text: str, depth: Optional[int] = None,
                   call_id: Optional[int] = None) -> MergePoint:
    """Parse a location string of a ``debug_merge_point`` or a loop header."""
    m = _LOCATION.fullmatch(text)
    if m:
        return MergePoint(text, depth, call_id, m["function"], m["filename"], int(m["first"]),
                          int(m["line"]), int(m["offset"]), m["opname"])
    m = _LOCATION_OLD.fullmatch(text)
    if m:
        return MergePoint(text, depth, call_id, m["function"], m["filename"], int(m["first"]),
                          None, int(m["offset"]), m["opname"])
    return MergePoint(text, depth, call_id)


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a trace as PyPy logged it.

    ``offset`` is the position of its machine code in the compiled loop (``+312:``), ``result``
    the variable it defines (``i5``, ``p2``, ``f3``) or None, ``args`` the arguments as text
    without the descr, ``descr`` the descr's text (``<FieldP …>``, ``TargetToken(…)``…).
    ``merge_point`` is set for ``debug_merge_point``.
    """

    index: int
    name: str
    args: tuple = ()
    result: Optional[str] = None
    descr: Optional[str] = None
    offset: Optional[int] = None
    text: str = ""
    merge_point: Optional[MergePoint] = None

    @property
    def is_guard(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Guard(Op):
    """A guard: ``guard_id`` is the number of its ``<Guard0x…>`` descr (what a bridge leaves
    from and what ``jit-backend-counts`` names in decimal); ``fail_args`` what it saves."""

    guard_id: Optional[int] = None
    fail_args: tuple = ()

    @property
    def is_guard(self) -> bool:
        return True


_OP = re.compile(
    r"(?:\+(?P<offset>\d{1,12}): )?(?:(?P<result>[a-zA-Z]\w{0,30}) = )?"
    r"(?P<name>[A-Za-z_]\w*)\((?P<args>.*?)\)(?: \[(?P<fail>[^\]]*)\])?")
_GUARD_ID = re.compile(r"<Guard0x([0-9a-fA-F]{1,32})>")
_QUOTED = re.compile(r"'(.*)'", re.S)


_OPENERS = "([<{"
_CARE = re.compile(r"[(\[<{']")
_CLOSERS = ")]>}"


def _split_args(text: str) -> list:
    """Split ``a, ConstClass(b), 'c, d'`` at the top-level ``", "`` separators."""
    if not text:
        return []
    parts = text.split(", ")
    if len(parts) == 1:
        return [text.strip()]
    if _CARE.search(text) is None:
        return parts
    out, buf, depth, quoted = [], [], 0, False
    for part in parts:
        buf.append(part)
        for c in _OPENERS:
            if c in part:
                depth += part.count(c)
        for c in _CLOSERS:
            if c in part:
                depth -= part.count(c)
        if "'" in part and part.count("'") % 2:
            quoted = not quoted
        if depth <= 0 and not quoted:
            out.append(", ".join(buf).strip())
            buf, depth = [], 0
    if buf:
        out.append(", ".join(buf).strip())
    return out


def parse_op(line: str, index: int = 0) -> Op:
    """Parse one operation line of ``jit-log-opt`` (never raises: unknown text becomes an
    ``Op`` named ``"?"`` that keeps the text)."""
    text = line.strip()
    m = _OP.fullmatch(text)
    if not m:
        m2 = re.fullmatch(r"\+(\d{1,12}): (.*)", text)
        if m2:
            return Op(index, m2[2], offset=int(m2[1]), text=line)
        return Op(index, "?", text=line)
    name = m["name"]
    text_args = m["args"]
    descr = None
    d = text_args.rfind("descr=")
    if d == 0 or (d > 0 and text_args[d - 2:d] == ", "):
        tail = text_args[d + 6:]
        if tail.count("(") == tail.count(")") and tail.count("<") == tail.count(">"):
            descr = tail
            text_args = text_args[:max(0, d - 2)]
    args = _split_args(text_args)
    offset = int(m["offset"]) if m["offset"] is not None else None
    if name.startswith("guard_"):
        gid = _GUARD_ID.fullmatch(descr) if descr else None
        fail = tuple(_split_args(m["fail"])) if m["fail"] is not None else ()
        return Guard(index, name, tuple(args), m["result"], descr, offset, line, None,
                     int(gid[1], 16) if gid else None, fail)
    merge_point = None
    if name == "debug_merge_point":
        q = _QUOTED.search(m["args"])
        ints = [int(a) for a in args[:2] if re.fullmatch(r"-?\d{1,12}", a)]
        if q:
            merge_point = parse_location(
                q[1], ints[0] if ints else None, ints[1] if len(ints) > 1 else None)
    return Op(index, name, tuple(args), m["result"], descr, offset, line, merge_point)


@dataclass(eq=False, slots=True)
class Trace:
    """A loop or a bridge from ``jit-log-opt-*``: what the JIT compiled, after optimization.

    ``n_ops`` is what the header says; ``ops`` (parsed on first use from ``text``, the lines
    PyPy wrote) is the list of :class:`Op`/:class:`Guard`. ``labels`` are the loop's
    ``TargetToken`` numbers in order, ``jump_to`` the token its final ``jump`` goes to (None if
    it ends otherwise, e.g. ``finish``), ``guard_ids`` the ids of all its guards. ``start`` and
    ``stop`` are the ticks of its log section. From ``jit-backend-counts``: ``count`` (entries
    of a loop, or how often a bridge was taken) and ``label_counts`` (token -> times reached).
    ``bridges`` are the bridges attached to this trace's guards. ``complete`` is False for a
    trace cut off by the end of a truncated log.
    """

    kind: str
    n_ops: int
    inputargs: tuple
    text: Optional[str]
    labels: tuple
    jump_to: Optional[int]
    guard_ids: tuple
    start: int = 0
    stop: int = 0
    count: Optional[int] = None
    label_counts: dict = field(default_factory=dict)
    bridges: list = field(default_factory=list)
    complete: bool = True
    end_offset: Optional[int] = None
    _ops: Optional[list] = field(default=None, repr=False)

    @property
    def ops(self) -> list:
        """The operations (debug_merge_points included), parsed from ``text`` on first use and
        then kept (about 1 KB each: see :meth:`iter_ops` for a pass that keeps none)."""
        if self._ops is None:
            if self.text is None:
                raise ValueError("this trace was parsed with keep_ops=False: no operations kept")
            lines = self.text.split("\n") if self.text else []
            self._ops = [parse_op(line, i) for i, line in enumerate(lines)]
        return self._ops

    def iter_ops(self) -> Iterator[Op]:
        """The operations one by one, parsed afresh and not kept (for a pass over many traces
        without keeping every operation of every trace in memory)."""
        if self.text is None:
            raise ValueError("this trace was parsed with keep_ops=False: no operations kept")
        if self._ops is not None:
            yield from self._ops
        elif self.text:
            for i, line in enumerate(self.text.split("\n")):
                yield parse_op(line, i)

    @property
    def guards(self) -> list:
        return [op for op in self.ops if op.is_guard]

    @property
    def merge_points(self) -> list:
        return [op.merge_point for op in self.ops if op.merge_point is not None]

    @property
    def runs(self) -> int:
        """How often it ran: the most-reached of its labels (a loop's iterations) or its entry
        or bridge counter, whichever is larger; 0 without ``jit-backend-counts``."""
        values = [v for v in (self.count, *self.label_counts.values()) if v is not None]
        return max(values, default=0)

    def first_merge_point(self) -> Optional[MergePoint]:
        """The first ``debug_merge_point`` at depth 0 (the code it starts in), cheaply."""
        if not self.text:
            return None
        for m in _DMP.finditer(self.text):
            if m[1] == "0":
                return parse_location(m[3], 0, int(m[2]))
        m = _DMP.search(self.text)
        return parse_location(m[3], int(m[1]), int(m[2])) if m else None


_DMP = re.compile(r"debug_merge_point\((-?\d{1,9}), (-?\d{1,12}), '([^\n]*)'\)")


@dataclass(eq=False, slots=True)
class Loop(Trace):
    """A compiled loop (``kind`` "loop") or entry bridge (``kind`` "entry bridge": a function
    entered from the interpreter; PyPy compiles and counts it as a loop). ``number`` is the
    ``Loop N`` of the header and of ``entry N`` in ``jit-backend-counts``; ``name`` the
    location text of the header, ``location`` that parsed."""

    number: int = 0
    name: str = ""
    location: Optional[MergePoint] = None

    @property
    def label(self) -> str:
        return f"Loop {self.number}" + (" (entry bridge)" if self.kind == "entry bridge" else "")

    @property
    def where(self) -> str:
        return self.location.where if self.location else self.name


@dataclass(eq=False, slots=True)
class Bridge(Trace):
    """A bridge: code compiled for a guard that failed often. ``guard`` is the id of that guard
    (``bridge out of Guard 0x…``; ``jit-backend-counts`` writes it in decimal), ``parent`` the
    loop or bridge that contains the guard (None if the log does not have it)."""

    guard: int = 0
    parent: Optional[Trace] = None

    @property
    def label(self) -> str:
        return f"Bridge from Guard 0x{self.guard:x}"

    @property
    def location(self) -> Optional[MergePoint]:
        return self.first_merge_point()

    @property
    def where(self) -> str:
        loc = self.location
        return loc.where if loc else "?"

    @property
    def origin(self) -> Optional[Guard]:
        """The guard this bridge leaves from, in its parent's operations."""
        if self.parent is None or self.parent.text is None:
            return None
        for op in self.parent.ops:
            if op.is_guard and op.guard_id == self.guard:
                return op
        return None


_LOOP_HEADER = re.compile(r"# Loop (-?\d{1,12}) \((.*)\) : (.+?) with (\d{1,12}) ops")
_BRIDGE_HEADER = re.compile(r"# bridge out of Guard 0x([0-9a-fA-F]{1,32}) with (\d{1,12}) ops")
_LABEL = re.compile(r"label\([^\n]*?descr=TargetToken\((\d{1,30})\)\)")
_JUMP = re.compile(r"jump\([^\n]*?descr=TargetToken\((\d{1,30})\)\)")
_END = re.compile(r"\+(\d{1,12}): --end of the loop--")


def parse_trace(body: str, *, start: int = 0, stop: int = 0, keep_ops: bool = True,
                complete: bool = True) -> Optional[Trace]:
    """A :class:`Loop` or :class:`Bridge` from the body of a ``jit-log-opt-*`` section (header
    line, input arguments, operations), or None if the header is not one."""
    header, _, rest = body.partition("\n")
    header = header.strip()
    rest = rest.rstrip("\n")  # a body cut off at the end of the file may keep its last newline
    m = _LOOP_HEADER.fullmatch(header)
    b = None if m else _BRIDGE_HEADER.fullmatch(header)
    if not m and not b:
        return None
    inputargs: tuple = ()
    if rest.startswith("["):
        first, _, rest = rest.partition("\n")
        inputargs = tuple(a for a in _split_args(first.strip()[1:-1]) if a)
    end_offset = None
    tail = rest.rfind("\n") + 1
    e = _END.fullmatch(rest, tail) if rest else None
    if e:
        end_offset = int(e[1])
        rest = rest[: max(0, tail - 1)]
    labels = tuple(int(x[1]) for x in _LABEL.finditer(rest) if _at_op_start(rest, x.start()))
    jump_to = None
    last = rest[rest.rfind("\n") + 1:]
    j = _JUMP.search(last)
    if j and _at_op_start(last, j.start()):
        jump_to = int(j[1])
    guard_ids = tuple(int(g, 16) for g in _GUARD_ID.findall(rest))
    common = dict(inputargs=inputargs, text=rest if keep_ops else None, labels=labels,
                  jump_to=jump_to, guard_ids=guard_ids, start=start, stop=stop,
                  complete=complete, end_offset=end_offset)
    if m:
        return Loop(kind=m[3], n_ops=int(m[4]), number=int(m[1]), name=m[2],
                    location=parse_location(m[2]), **common)
    return Bridge(kind="bridge", n_ops=int(b[2]), guard=int(b[1], 16), **common)


def _at_op_start(text: str, pos: int) -> bool:
    """Is ``pos`` where an op name starts (line start, or after ``+123: ``)?"""
    return pos == 0 or text[pos - 1] == "\n" or text[max(0, pos - 2):pos] == ": "


@dataclass(frozen=True, slots=True)
class JitSummary:
    """``jit-summary``, as numbers. Times in seconds (PyPy measures them with ``time.time``):
    ``tracing_seconds`` excludes the backend, ``total_seconds`` runs from the JIT's start to
    the end. ``loops``/``bridges`` are PyPy's ``Total # of loops/bridges``: every loop the
    backend compiled (entry bridges and temporary callbacks included) and every bridge (retraced
    loops that attach to a guard included). ``aborts`` maps each abort reason to its count;
    ``raw`` holds every line (key -> number)."""

    tracing_count: Optional[int] = None
    tracing_seconds: Optional[float] = None
    backend_count: Optional[int] = None
    backend_seconds: Optional[float] = None
    total_seconds: Optional[float] = None
    ops: Optional[int] = None
    recorded_ops: Optional[int] = None
    calls: Optional[int] = None
    guards: Optional[int] = None
    opt_ops: Optional[int] = None
    opt_guards: Optional[int] = None
    loops: Optional[int] = None
    bridges: Optional[int] = None
    freed_loops: Optional[int] = None
    freed_bridges: Optional[int] = None
    aborts: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


_SUMMARY_FIELDS = {
    "ops": "ops", "recorded ops": "recorded_ops", "calls": "calls", "guards": "guards",
    "opt ops": "opt_ops", "opt guards": "opt_guards", "Total # of loops": "loops",
    "Total # of bridges": "bridges", "Freed # of loops": "freed_loops",
    "Freed # of bridges": "freed_bridges",
}


def _number(text: str):
    text = text.strip()
    if re.fullmatch(r"-?\d{1,30}", text):
        return int(text)
    if re.fullmatch(r"-?(?:\d{1,30}\.?\d{0,30}|\.\d{1,30})(?:[eE][-+]?\d{1,4})?|-?inf|nan", text):
        return float(text)
    return None


def parse_summary(body: Union[str, Iterable[str]]) -> JitSummary:
    """Parse the body of ``jit-summary`` (tab-separated ``name: count [seconds]`` lines)."""
    lines = body.split("\n") if isinstance(body, str) else body
    raw, values, aborts = {}, {}, {}
    for line in lines:
        key, sep, rest = line.rpartition(":")
        key = key.strip()
        if not sep or not key:
            continue
        nums = [_number(x) for x in rest.split()]
        if not nums or any(n is None for n in nums):
            continue
        raw[key] = nums[0] if len(nums) == 1 else tuple(nums)
        if key in ("Tracing", "Backend") and len(nums) == 2:
            values[f"{key.lower()}_count"] = int(nums[0])
            values[f"{key.lower()}_seconds"] = float(nums[1])
        elif key == "TOTAL":
            values["total_seconds"] = float(nums[-1])
        elif key.startswith("abort:"):
            aborts[key[6:].strip()] = int(nums[0])
        elif key in _SUMMARY_FIELDS and isinstance(nums[0], int):
            values[_SUMMARY_FIELDS[key]] = nums[0]
    return JitSummary(**values, aborts=aborts, raw=raw)


@dataclass(frozen=True, slots=True)
class BackendCounts:
    """``jit-backend-counts``: ``entries`` loop number -> times entered (``entry N:count``),
    ``targets`` TargetToken number -> times reached (a loop's labels: the iterations),
    ``bridges`` guard id -> times the bridge ran (``bridge N:count``, N the guard id in
    decimal), ``callbacks`` the counts of the temporary callbacks (``entry -1:count``, one
    line each). Only what is still compiled at exit is listed (freed loops are not)."""

    entries: dict
    targets: dict
    bridges: dict
    callbacks: tuple = ()


_COUNT = re.compile(r"(?:(entry|loop|bridge) (-?\d{1,30})|TargetToken\((\d{1,30})\)):(\d{1,30})")


def parse_backend_counts(body: Union[str, Iterable[str]]) -> BackendCounts:
    """Parse the body of ``jit-backend-counts``."""
    lines = body.split("\n") if isinstance(body, str) else body
    entries, targets, bridges, callbacks = {}, {}, {}, []
    for line in lines:
        m = _COUNT.fullmatch(line.strip())
        if not m:
            continue
        count = int(m[4])
        if m[3] is not None:
            targets[int(m[3])] = count
        elif m[1] == "bridge":
            bridges[int(m[2])] = count
        elif int(m[2]) < 0:
            callbacks.append(count)
        else:
            entries[int(m[2])] = count
    return BackendCounts(entries, targets, bridges, tuple(callbacks))


@dataclass(frozen=True, slots=True)
class GcMinor:
    """A minor collection (``gc-minor``): ``start``/``duration`` in ticks; ``memory_used`` is
    the total the GC had in use, ``surviving`` what was copied out of the nursery (bytes)."""

    start: int
    duration: int
    memory_used: Optional[int] = None
    pinned: Optional[int] = None
    surviving: Optional[int] = None


@dataclass(frozen=True, slots=True)
class GcStep:
    """One step of an incremental major collection (``gc-collect-step``), from
    ``state_before`` to ``state_after`` (SCANNING, MARKING, SWEEPING, FINALIZING);
    ``details`` are its other lines."""

    start: int
    duration: int
    state_before: Optional[str] = None
    state_after: Optional[str] = None
    details: tuple = ()


@dataclass(frozen=True, slots=True)
class GcCollectDone:
    """The end of a major collection (``gc-collect-done``): arenas before and after, bytes used
    in arenas, raw-malloced bytes before and after, and the threshold of the next major
    collection (bytes)."""

    start: int
    arenas_before: Optional[int] = None
    arenas_after: Optional[int] = None
    bytes_used: Optional[int] = None
    raw_before: Optional[int] = None
    raw_after: Optional[int] = None
    next_threshold: Optional[float] = None


@dataclass(frozen=True, slots=True)
class TracingAbort:
    """``~~~ ABORTING TRACING <reason>`` in a ``jit-tracing`` section."""

    tick: int
    reason: str


def _key_values(body: str) -> dict:
    out = {}
    for line in body.split("\n"):
        key, sep, rest = line.rpartition(":")
        if sep:
            out[key.strip()] = rest.strip()
    return out


def _int_or_none(text):
    if text is None:
        return None
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,30}", text) else None


def _before_after(text):
    """``15  =>  19`` -> (15, 19); ``8905432`` -> (8905432, 8905432)."""
    if text is None:
        return None, None
    parts = [p.strip() for p in text.split("=>")]
    if len(parts) == 2:
        return _int_or_none(parts[0]), _int_or_none(parts[1])
    value = _int_or_none(parts[0])
    return value, value


def _gc_minor(start, stop, body) -> GcMinor:
    kv = _key_values(body)
    return GcMinor(start, max(0, stop - start),
                   _int_or_none(kv.get("minor collect, total memory used")),
                   _int_or_none(kv.get("number of pinned objects")),
                   _int_or_none(kv.get("total size of surviving objects")))


def _gc_step(start, stop, body) -> GcStep:
    before = after = None
    details = []
    for line in body.split("\n"):
        line = line.strip()
        if line.startswith("starting gc state:"):
            before = line.split(":", 1)[1].strip() or None
        elif line.startswith("stopping, now in gc state:"):
            after = line.split(":", 1)[1].strip() or None
        elif line:
            details.append(line)
    return GcStep(start, max(0, stop - start), before, after, tuple(details))


def _gc_done(start, stop, body) -> GcCollectDone:
    kv = _key_values(body)
    arenas = _before_after(kv.get("arenas"))
    raw = _before_after(kv.get("bytes raw-malloced"))
    threshold = _number(kv.get("next major collection threshold", "x"))
    return GcCollectDone(start, arenas[0], arenas[1], _int_or_none(kv.get("bytes used in arenas")),
                         raw[0], raw[1], None if threshold is None else float(threshold))


#: The operations that allocate (what the trace viewer and the evidence lines count).
ALLOC_OPS = frozenset({"new", "new_with_vtable", "new_array", "new_array_clear", "newstr",
                       "newunicode"})


def op_kind(name: str) -> str:
    """``"dmp"``, ``"guard"``, ``"call"``, ``"alloc"``, ``"label"``, ``"jump"`` or ``"op"``."""
    if name == "debug_merge_point":
        return "dmp"
    if name.startswith("guard_"):
        return "guard"
    if name.startswith("call_") or name.startswith("cond_call"):
        return "call"
    if name in ALLOC_OPS:
        return "alloc"
    if name in ("label", "jump"):
        return name
    return "op"


@dataclass
class Counts:
    """What a learner looks for in some operations: ``ops`` (all but debug_merge_points),
    ``guards``/``calls``/``allocs`` as name -> count."""

    ops: int = 0
    guards: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    allocs: dict = field(default_factory=dict)

    def add(self, op) -> None:
        kind = op_kind(op.name)
        if kind == "dmp":
            return
        self.ops += 1
        bucket = {"guard": self.guards, "call": self.calls, "alloc": self.allocs}.get(kind)
        if bucket is not None:
            bucket[op.name] = bucket.get(op.name, 0) + 1

    def merge(self, other: "Counts") -> None:
        self.ops += other.ops
        for mine, theirs in ((self.guards, other.guards), (self.calls, other.calls),
                             (self.allocs, other.allocs)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v

    @property
    def n_guards(self) -> int:
        return sum(self.guards.values())

    @property
    def n_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def n_allocs(self) -> int:
        return sum(self.allocs.values())


# ============================================================================ reading


def _open_text(source):
    """(text chunks iterator, name) for a path, a file object, a log text or lines."""
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and "\n" in source):
        path = Path(source)
        return _file_chunks(path), str(path)
    if isinstance(source, str):
        return iter([source]), None
    if isinstance(source, (bytes, bytearray)):
        return iter([bytes(source).decode("utf-8", errors="replace")]), None
    if hasattr(source, "read"):
        return _stream_chunks(source), getattr(source, "name", None)
    return _line_chunks(source), None


def _file_chunks(path: Path) -> Iterator[str]:
    with open(path, "rb") as f:
        yield from _stream_chunks(f)


def _stream_chunks(f) -> Iterator[str]:
    decoder = None
    while True:
        data = f.read(_CHUNK)
        if not data:
            break
        if isinstance(data, str):
            yield data
            continue
        if decoder is None:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        yield decoder.decode(data)
    if decoder is not None:
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def _line_chunks(lines: Iterable) -> Iterator[str]:
    buf, size = [], 0
    for line in lines:
        if isinstance(line, (bytes, bytearray)):
            line = bytes(line).decode("utf-8", errors="replace")
        elif not isinstance(line, str):
            raise TypeError(f"lines must be str or bytes, not {type(line).__name__}")
        if not line.endswith("\n"):
            line += "\n"
        buf.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def _regions(chunks: Iterator[str], name: Optional[str]) -> Iterator[str]:
    """Whole-line text regions, each starting and ending with a newline it shares with its
    neighbour; colour codes and carriage returns removed. Raises PypylogError if the start of
    the text has no section marker at all (empty input gives no regions)."""
    carry = "\n"
    sniffed = False
    head = ""
    for chunk in chunks:
        data = carry + chunk
        if not sniffed:
            head += chunk
            if len(head) < _SNIFF:
                carry = data
                continue
            _sniff(head, name)
            sniffed = True
        cut = data.rfind("\n")
        if cut <= 0:
            carry = data
            continue
        yield _clean(data[: cut + 1])
        carry = data[cut:]
    if not sniffed:
        if not head.strip():
            return
        _sniff(head, name)
    if len(carry) > 1:
        yield _clean(carry + "\n")


def _clean(region: str) -> str:
    if "\x1b" in region:
        region = _ANSI.sub("", region)
    if "\r" in region:
        region = region.replace("\r", "")
    return region


def _sniff(head: str, name: Optional[str]) -> None:
    text = _clean("\n" + head[:_SNIFF] + "\n")
    if _MARK_THREADED.search(text):
        return
    what = f"{name!r}" if name else "the input"
    if "\x00" in head[:_SNIFF] or head[:_SNIFF].count("\ufffd") > 8:
        raise PypylogError(
            f"{what} is not a PYPYLOG: it looks like binary data (no '[hex] {{section' marker "
            "in its first 64 KiB).")
    start = head.lstrip()[:80]
    raise PypylogError(
        f"{what} is not a PYPYLOG: no section marker such as '[68988ce5c2a] {{gc-minor' in its "
        f"first 64 KiB; it starts with {start!r}. Was it written by PyPy with "
        "PYPYLOG=categories:file?")


# ============================================================================ the scanner


class SectionNode:
    """One node of the section tree: all sections with the same path of names, aggregated.
    ``inclusive``/``exclusive`` are ticks (exclusive = minus the time of nested sections)."""

    __slots__ = ("name", "count", "inclusive", "exclusive", "children", "parent")

    def __init__(self, name: str, parent: Optional["SectionNode"] = None):
        self.name = name
        self.count = 0
        self.inclusive = 0
        self.exclusive = 0
        self.children: dict = {}
        self.parent = parent

    @property
    def path(self) -> tuple:
        names, node = [], self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))

    def walk(self) -> Iterator["SectionNode"]:
        """This node and all below it, depth first, parents before children (no recursion)."""
        todo = [self]
        while todo:
            node = todo.pop()
            yield node
            todo.extend(reversed(list(node.children.values())))

    def __repr__(self) -> str:
        return (f"<SectionNode {'/'.join(self.path) or '(root)'} count={self.count} "
                f"inclusive={self.inclusive} exclusive={self.exclusive}>")


@dataclass(frozen=True, slots=True)
class Section:
    """One closed section, as :func:`iter_sections` yields it: ``start``/``stop`` ticks,
    ``depth`` (0 = top level), ``path`` the names of the enclosing sections, ``body`` its own
    lines (those of nested sections excluded) joined by newlines, or None if not asked for.
    ``complete`` is False for a section still open at the end of a truncated log."""

    name: str
    start: int
    stop: int
    depth: int
    path: tuple
    body: Optional[str]
    complete: bool = True


class _Scanner:
    """Finds the markers of each region, keeps the section stack, the aggregated tree and the
    bodies of the sections that have a handler. ``handlers`` maps a section name to
    ``f(start, stop, body, complete)``; ``default`` (if given) handles every other name as
    ``f(name, start, stop, body, path, complete)``."""

    def __init__(self, handlers: dict, default: Optional[Callable] = None):
        self.handlers = handlers
        self.default = default
        self.root = SectionNode("")
        self.stack: list = []
        self.first: Optional[int] = None
        self.last: Optional[int] = None
        self.markers = 0
        self.stray_lines = 0
        self.unmatched: dict = {}
        self.backwards = 0
        self.mismatched: list = []
        self.unclosed: list = []
        self.mark = None

    def feed(self, region: str) -> None:
        if self.mark is None:
            self.mark = _MARK_THREADED if _THREADED.search(region) else _MARK
        stack = self.stack
        handlers = self.handlers
        keep_all = self.default is not None
        root = self.root
        pos = 1
        first = self.first
        last = self.last if self.last is not None else -1
        n = 0
        # The hot loop: one iteration per marker (300,000 in a 200 MB log), so it is inlined.
        for m in self.mark.finditer(region):
            n += 1
            s, e = m.span()
            if s > pos:
                if stack:
                    pieces = stack[-1][4]
                    if pieces is not None:
                        pieces.append(region[pos:s])
                else:
                    self._stray(region[pos:s])
            pos = e + 1
            hexa, name, closing = m.groups()
            tick = int(hexa, 16)
            if tick > last:
                last = tick
                if first is None:
                    first = tick
            if name is not None:
                parent = stack[-1][2] if stack else root
                node = parent.children.get(name)
                if node is None:
                    node = parent.children[name] = SectionNode(name, parent)
                stack.append([name, tick, node, 0,
                              [] if keep_all or name in handlers else None])
                continue
            if not stack or stack[-1][0] != closing:
                if not self._resync(closing, tick):
                    continue
            frame = stack.pop()
            duration = tick - frame[1]
            if duration < 0:
                self.backwards += 1
                duration = 0
            node = frame[2]
            node.count += 1
            node.inclusive += duration
            exclusive = duration - frame[3]
            node.exclusive += exclusive if exclusive > 0 else 0
            if stack:
                stack[-1][3] += duration
            if frame[4] is not None:
                self._deliver(frame, tick, True)
        self.markers += n
        if len(region) - 1 > pos:
            if stack:
                pieces = stack[-1][4]
                if pieces is not None:
                    pieces.append(region[pos:len(region) - 1])
            else:
                self._stray(region[pos:len(region) - 1])
        self.first = first
        self.last = last if last >= 0 else None

    def _stray(self, text: str) -> None:
        if text.strip():
            self.stray_lines += sum(1 for line in text.split("\n") if line.strip())

    def _resync(self, name: str, tick: int) -> bool:
        """A stop marker that is not the innermost open section's."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == name:
                while len(self.stack) > i + 1:
                    frame = self.stack.pop()
                    if len(self.mismatched) < 20:
                        self.mismatched.append((frame[0], name))
                    self._close(frame, tick, False)
                return True
        self.unmatched[name] = self.unmatched.get(name, 0) + 1
        return False

    def _close(self, frame, tick: int, complete: bool) -> None:
        """Close ``frame`` at ``tick`` (the slow path: unbalanced or truncated logs)."""
        name, start, node, child, pieces = frame
        duration = tick - start
        if duration < 0:
            self.backwards += 1
            duration = 0
        node.count += 1
        node.inclusive += duration
        node.exclusive += max(0, duration - child)
        if self.stack:
            self.stack[-1][3] += duration
        if pieces is not None:
            self._deliver(frame, tick, complete)

    def _deliver(self, frame, tick: int, complete: bool) -> None:
        name, start, _, _, pieces = frame
        body = pieces[0] if len(pieces) == 1 else "\n".join(p for p in pieces if p)
        stop = tick if tick > start else start
        handler = self.handlers.get(name)
        if handler is not None:
            handler(start, stop, body, complete)
        elif self.default is not None:
            self.default(name, start, stop, body, tuple(f[0] for f in self.stack), complete)

    def finish(self) -> None:
        end = self.last if self.last is not None else 0
        while self.stack:
            frame = self.stack.pop()
            self.unclosed.append(frame[0])
            self._close(frame, end, False)
        self.unclosed.reverse()

    def warnings(self) -> list:
        out = []
        if self.unclosed:
            names = self.unclosed
            if len(names) > 8:
                names = names[:4] + [f"… {len(names) - 7:,} more …"] + names[-3:]
            out.append("the log ends inside section(s) " + " > ".join(names)
                       + ": truncated (the program was killed, or the log is still being "
                       "written)? What was read is reported.")
        for name, count in sorted(self.unmatched.items()):
            out.append(f"{count} end marker(s) '{name}}}' without a matching start: ignored")
        if self.mismatched:
            inner, outer = self.mismatched[0]
            out.append(f"{len(self.mismatched)}{'+' if len(self.mismatched) >= 20 else ''} "
                       f"section(s) left open when an enclosing one ended (first: '{inner}' "
                       f"inside '{outer}'): closed there")
        if self.backwards:
            out.append(f"{self.backwards} section(s) end before they start (timestamps going "
                       "backwards: threads, or a corrupt log): counted as zero time")
        if self.stray_lines:
            out.append(f"{self.stray_lines} line(s) outside any section (not PyPy's: program "
                       "output mixed into the log?): ignored")
        return out


def _scan(source, handlers: dict, default=None) -> Iterator[_Scanner]:
    """Run a scanner over ``source``; yields the scanner after each region (so callers can
    hand out what the handlers collected) and once more after it is finished."""
    chunks, name = _open_text(source)
    scanner = _Scanner(handlers, default)
    for region in _regions(chunks, name):
        scanner.feed(region)
        yield scanner
    scanner.finish()
    yield scanner


def iter_sections(source, *, bodies: bool = True) -> Iterator[Section]:
    """Every section of a PYPYLOG as it closes (inner sections before the ones around them).

    ``source`` is a path, an open file, lines (str or bytes) or the text of a log (a str with
    a newline in it). ``bodies=False`` skips collecting the lines (faster, less memory).
    Sections still open at the end of a truncated log come last, with ``complete=False``.
    """
    out: list = []

    def default(name, start, stop, body, path, complete):
        out.append(Section(name, start, stop, len(path), path, body if bodies else None,
                           complete))

    for _ in _scan(source, {}, default):
        yield from out
        out.clear()


def iter_traces(source, *, keep_ops: bool = True) -> Iterator[Trace]:
    """Every loop and bridge of the ``jit-log-opt-*`` sections, in log order, streaming
    (nothing is kept between them; ``Bridge.parent`` and counts are left unset)."""
    out: list = []

    def handler(start, stop, body, complete):
        trace = parse_trace(body, start=start, stop=stop, keep_ops=keep_ops, complete=complete)
        if trace is not None:
            out.append(trace)

    for _ in _scan(source, {"jit-log-opt-loop": handler, "jit-log-opt-bridge": handler}):
        yield from out
        out.clear()


def iter_gc_events(source) -> Iterator[Union[GcMinor, GcStep, GcCollectDone]]:
    """The GC's events in log order: minor collections, major collection steps and the ends
    of major collections (a ``GcCollectDone`` comes before the step it happened in)."""
    out: list = []

    def wrap(f):
        return lambda start, stop, body, complete: out.append(f(start, stop, body))

    handlers = {"gc-minor": wrap(_gc_minor), "gc-collect-step": wrap(_gc_step),
                "gc-collect-done": wrap(_gc_done)}
    for _ in _scan(source, handlers):
        yield from out
        out.clear()


# ============================================================================ the whole log


@dataclass(frozen=True, slots=True)
class CategoryTime:
    """Time in one section name over the whole log, in ticks. ``inclusive`` counts only the
    outermost section of that name (a name nested in itself is not counted twice);
    ``exclusive`` leaves out the time of nested sections of other names."""

    name: str
    count: int
    inclusive: int
    exclusive: int


@dataclass(eq=False)
class PypyLog:
    """A parsed PYPYLOG. Build it with :func:`parse`.

    ``tree`` is the root :class:`SectionNode` (sections aggregated by path of names);
    ``categories`` maps each section name to its :class:`CategoryTime`. ``loops`` and
    ``bridges`` are the traces of ``jit-log-opt-*`` in log order; ``summary`` the
    :class:`JitSummary` and ``counts`` the :class:`BackendCounts` (None if not logged).
    ``gc_minor``, ``gc_steps``, ``gc_done``: the GC's events. ``tmp_callbacks`` counts loops the
    backend compiled without logging them (``allocating Loop # -1`` in
    ``jit-mem-looptoken-alloc``: PyPy's temporary callbacks for calls to functions not yet
    compiled); None when that section was not logged. Ticks convert to seconds with
    :meth:`seconds` (see :attr:`clock`). ``warnings`` name anything odd about the input.
    """

    source: Optional[str]
    tree: SectionNode
    first_tick: Optional[int]
    last_tick: Optional[int]
    markers: int
    loops: list
    bridges: list
    summary: Optional[JitSummary]
    counts: Optional[BackendCounts]
    gc_minor: list
    gc_steps: list
    gc_done: list
    aborts: list
    tmp_callbacks: Optional[int]
    wall_seconds: Optional[float]
    seconds_per_tick: Optional[float]
    clock: str
    warnings: list
    unclosed: tuple = ()
    categories_logged: Optional[tuple] = None
    _categories: Optional[dict] = field(default=None, repr=False)

    # -- basic facts

    @property
    def empty(self) -> bool:
        return self.markers == 0

    @property
    def truncated(self) -> bool:
        return bool(self.unclosed)

    @property
    def span_ticks(self) -> int:
        if self.first_tick is None or self.last_tick is None:
            return 0
        return self.last_tick - self.first_tick

    def seconds(self, ticks) -> Optional[float]:
        """Ticks as seconds (None if the log could not be calibrated: see :attr:`clock`)."""
        if ticks is None or self.seconds_per_tick is None:
            return None
        return ticks * self.seconds_per_tick

    @property
    def categories(self) -> dict:
        """Section name -> :class:`CategoryTime` (the ``gettotaltimes`` idea), most time first."""
        if self._categories is None:
            self._categories = _category_times(self.tree)
        return self._categories

    @property
    def traces(self) -> list:
        """Loops and bridges together, in log order."""
        return sorted(self.loops + self.bridges, key=lambda t: t.start)

    @property
    def compiled_loops(self) -> int:
        """Loops the backend compiled, counted the way ``jit-summary`` counts them: every logged
        loop and entry bridge, plus the temporary callbacks that PyPy compiles without logging."""
        return len(self.loops) + (self.tmp_callbacks or 0)

    @property
    def compiled_bridges(self) -> int:
        """Bridges the backend compiled (retraces that attach to a guard included), as
        ``jit-summary`` counts them."""
        return len(self.bridges)

    def loop(self, number: int) -> Loop:
        for loop in self.loops:
            if loop.number == number:
                return loop
        raise KeyError(f"no Loop {number} in this log")

    def hottest(self, n: int = 10) -> list:
        """The ``n`` loops and bridges that ran most (see :attr:`Trace.runs`)."""
        return sorted(self.traces, key=lambda t: t.runs, reverse=True)[:n]

    # -- tables

    def category_frame(self):
        """One row per section name: count, inclusive and exclusive ticks and seconds."""
        import pandas as pd

        rows = [{"category": c.name, "count": c.count, "inclusive_ticks": c.inclusive,
                 "exclusive_ticks": c.exclusive, "inclusive_s": self.seconds(c.inclusive),
                 "exclusive_s": self.seconds(c.exclusive)}
                for c in self.categories.values()]
        return pd.DataFrame(rows, columns=["category", "count", "inclusive_ticks",
                                           "exclusive_ticks", "inclusive_s", "exclusive_s"])

    def traces_frame(self):
        """One row per loop and bridge: kind, id, where it starts, runs, ops, guards, parent."""
        import pandas as pd

        rows = []
        for t in self.traces:
            loc = t.location
            rows.append({
                "trace": t.label, "kind": t.kind,
                "number": t.number if isinstance(t, Loop) else None,
                "guard": f"0x{t.guard:x}" if isinstance(t, Bridge) else None,
                "function": loc.function if loc else None,
                "file": loc.filename if loc else None,
                "line": (loc.line if loc.line is not None else loc.first_line) if loc else None,
                "where": t.where, "runs": t.runs, "count": t.count, "ops": t.n_ops,
                "guards": len(t.guard_ids), "bridges": len(t.bridges),
                "parent": t.parent.label if isinstance(t, Bridge) and t.parent else None,
            })
        return pd.DataFrame(rows, columns=["trace", "kind", "number", "guard", "function", "file",
                                           "line", "where", "runs", "count", "ops", "guards",
                                           "bridges", "parent"])

    def format_tree(self, min_fraction: float = 0.001, max_depth: int = 6) -> str:
        """The section tree as indented text, with count and inclusive/exclusive time."""
        total = sum(c.inclusive for c in self.tree.children.values()) or 1
        lines = []
        todo = [(node, 0) for node in reversed(_by_time(self.tree))]
        while todo:
            node, depth = todo.pop()
            if node.inclusive / total < min_fraction and node.count and depth:
                continue
            lines.append(f"{'  ' * depth}{node.name}  ×{node.count:,}  "
                         f"incl {self._fmt_ticks(node.inclusive)}  "
                         f"excl {self._fmt_ticks(node.exclusive)}")
            if depth + 1 < max_depth:
                todo.extend((child, depth + 1) for child in reversed(_by_time(node)))
        return "\n".join(lines)

    def _fmt_ticks(self, ticks: int) -> str:
        s = self.seconds(ticks)
        if s is None:
            return f"{ticks:,} ticks"

        return format_seconds(s)

    # -- display

    def headline(self) -> str:
        if self.empty:
            logged = (f" for categories {','.join(self.categories_logged)}"
                      if self.categories_logged else "")
            return (f"The log is empty: PyPy wrote no sections{logged}. Did the program run "
                    "long enough for the JIT (about 1000 loop iterations), and are the category "
                    "names right (prefixes such as jit-log-opt, gc-minor)?")
        span = self.seconds(self.span_ticks)
        span = f"{span:.3f} s" if span is not None else f"{self.span_ticks:,} ticks"
        return (f"PYPYLOG with {self.markers:,} markers over {span}: "
                f"{_plural(len(self.loops), 'loop')}, {_plural(len(self.bridges), 'bridge')}, "
                f"{_plural(len(self.gc_minor), 'minor collection')}, "
                f"{_plural(len(self.gc_steps), 'major GC step')}"
                + (" (truncated)" if self.truncated else "") + ".")

    def __str__(self) -> str:
        lines = [self.headline()]
        if not self.empty:
            lines.append(f"  clock: {self.clock}")
            top = list(self.categories.values())[:8]
            if top:
                lines.append("  time by section (inclusive / exclusive):")
                for c in top:
                    lines.append(f"    {c.name:<28} ×{c.count:<7,} "
                                 f"{self._fmt_ticks(c.inclusive):>10} / "
                                 f"{self._fmt_ticks(c.exclusive):>10}")
            s = self.summary
            if s is not None:
                lines.append(f"  jit-summary: {s.loops} loops, {s.bridges} bridges, tracing "
                             f"{s.tracing_seconds} s, backend {s.backend_seconds} s, "
                             f"aborts {sum(s.aborts.values())}")
            for t in self.hottest(5):
                if t.runs:
                    lines.append(f"    {t.label:<34} {t.runs:>12,} runs  {t.where}")
        lines += warnings_lines(self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<PypyLog {self.source or '(text)'}: {self.markers:,} markers, "
                f"{len(self.loops)} loops, {len(self.bridges)} bridges, "
                f"{len(self.gc_minor)} minor GCs, {len(self.warnings)} warnings>")

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.headline())}</b></p>"]
        if not self.empty:
            parts.append(f"<p>Clock: {html.escape(self.clock)}</p>")
            frame = self.category_frame().head(12)
            frame = frame.assign(
                inclusive=[self._fmt_ticks(x) for x in frame["inclusive_ticks"]],
                exclusive=[self._fmt_ticks(x) for x in frame["exclusive_ticks"]],
            )[["category", "count", "inclusive", "exclusive"]]
            parts.append(frame.to_html(index=False, escape=True))
            hot = [t for t in self.hottest(8) if t.runs]
            if hot:
                rows = "".join(f"<tr><td>{html.escape(t.label)}</td><td>{t.runs:,}</td>"
                               f"<td>{html.escape(t.where)}</td></tr>" for t in hot)
                parts.append("<table><tr><th>hottest</th><th>runs</th><th>where</th></tr>"
                             f"{rows}</table>")
        parts.append(warnings_html(self.warnings))
        return "<div>" + "\n".join(p for p in parts if p) + "</div>"



def _by_time(node: SectionNode) -> list:
    return sorted(node.children.values(), key=lambda n: n.inclusive, reverse=True)


def _category_times(root: SectionNode) -> dict:
    count, incl, excl = {}, {}, {}
    todo = [(child, frozenset()) for child in root.children.values()]
    while todo:
        node, above = todo.pop()
        name = node.name
        count[name] = count.get(name, 0) + node.count
        excl[name] = excl.get(name, 0) + node.exclusive
        if name not in above:
            incl[name] = incl.get(name, 0) + node.inclusive
        if node.children:
            inner = above if name in above else above | {name}
            todo.extend((child, inner) for child in node.children.values())
    times = [CategoryTime(n, count[n], incl.get(n, 0), excl[n]) for n in count]
    times.sort(key=lambda c: (-c.inclusive, c.name))
    return {c.name: c for c in times}


def parse(source, *, wall_seconds: Optional[float] = None, keep_ops: bool = True,
          clock: str = "auto", tick_hz: Optional[float] = None,
          categories: Optional[Iterable[str]] = None) -> PypyLog:
    """Parse a PYPYLOG, streaming, into a :class:`PypyLog`.

    ``source`` is a path, an open file, lines (str or bytes) or the text of a log (a str with
    a newline in it). ``wall_seconds`` is the run's wall time. Ticks become seconds (``clock``):
    "span" scales the log's span (first to last marker) to ``wall_seconds``; "tracing" uses
    the ticks of the ``jit-tracing`` sections against jit-summary's tracing and backend
    seconds (PyPy's own ``time.time`` around the same work: more exact, as start-up outside
    the log does not count); "rate" uses ``tick_hz``, the ticks per second measured by
    :func:`tick_rate`; "auto" (default) takes "rate" if ``tick_hz`` is given, else "tracing"
    when there are 5 ms of it and it agrees with the span, else "span", else jit-summary's
    TOTAL. :attr:`PypyLog.clock` says which. ``keep_ops=False`` drops the operations of loops
    and bridges (less memory). ``categories`` (what PYPYLOG asked for) is only used in messages.
    Raises :class:`PypylogError` if the input is not a PYPYLOG; an empty log gives an empty
    result that says so; anything else odd becomes a warning.
    """
    if clock not in ("auto", "span", "tracing", "rate"):
        raise ValueError(f"clock must be 'auto', 'span', 'tracing' or 'rate', not {clock!r}")
    if clock == "rate" and not tick_hz:
        raise ValueError("clock='rate' needs tick_hz= (see tick_rate())")
    loops: list = []
    bridges: list = []
    guard_owner: dict = {}
    gc_minor: list = []
    gc_steps: list = []
    gc_done: list = []
    aborts: list = []
    state = {"summary": None, "summary_tick": None, "counts": None, "tmp": None,
             "bad_headers": 0}

    def on_trace(start, stop, body, complete):
        trace = parse_trace(body, start=start, stop=stop, keep_ops=keep_ops, complete=complete)
        if trace is None:
            state["bad_headers"] += 1
            return
        if isinstance(trace, Bridge):
            parent = guard_owner.get(trace.guard)
            trace.parent = parent
            if parent is not None:
                parent.bridges.append(trace)
            bridges.append(trace)
        else:
            loops.append(trace)
        for gid in trace.guard_ids:
            guard_owner[gid] = trace

    def on_summary(start, stop, body, complete):
        state["summary"] = parse_summary(body)
        state["summary_tick"] = start

    def on_counts(start, stop, body, complete):
        state["counts"] = parse_backend_counts(body)

    def on_alloc(start, stop, body, complete):
        if state["tmp"] is None:
            state["tmp"] = 0
        if "Loop # -1" in body:
            state["tmp"] += body.count("allocating Loop # -1")

    def on_tracing(start, stop, body, complete):
        if "~~~ ABORTING TRACING" in body:
            for line in body.split("\n"):
                if line.startswith("~~~ ABORTING TRACING"):
                    aborts.append(TracingAbort(start, line[20:].strip()))

    handlers = {
        "jit-log-opt-loop": on_trace,
        "jit-log-opt-bridge": on_trace,
        "jit-summary": on_summary,
        "jit-backend-counts": on_counts,
        "jit-mem-looptoken-alloc": on_alloc,
        "jit-tracing": on_tracing,
        "gc-minor": lambda s, e, b, c: gc_minor.append(_gc_minor(s, e, b)),
        "gc-collect-step": lambda s, e, b, c: gc_steps.append(_gc_step(s, e, b)),
        "gc-collect-done": lambda s, e, b, c: gc_done.append(_gc_done(s, e, b)),
    }
    name = None
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and "\n" in source):
        name = str(source)
    scanner = None
    for scanner in _scan(source, handlers):
        pass
    assert scanner is not None
    del guard_owner
    warnings = scanner.warnings()
    if state["bad_headers"]:
        warnings.append(f"{state['bad_headers']} jit-log-opt section(s) without a '# Loop' or "
                        "'# bridge out of Guard' header: skipped")
    counts = state["counts"]
    if counts is not None:
        _attach_counts(loops, bridges, counts)
    summary = state["summary"]
    category_times = _category_times(scanner.root)
    tracing = category_times.get("jit-tracing")
    spt, clock_text = _calibrate(scanner.first, scanner.last, wall_seconds, summary,
                                 state["summary_tick"], tracing.inclusive if tracing else 0,
                                 clock, tick_hz)
    log = PypyLog(
        source=name, tree=scanner.root, first_tick=scanner.first, last_tick=scanner.last,
        markers=scanner.markers, loops=loops, bridges=bridges, summary=summary, counts=counts,
        gc_minor=gc_minor, gc_steps=gc_steps, gc_done=gc_done, aborts=aborts,
        tmp_callbacks=state["tmp"], wall_seconds=wall_seconds, seconds_per_tick=spt,
        clock=clock_text, warnings=warnings, unclosed=tuple(scanner.unclosed),
        categories_logged=tuple(categories) if categories else None,
        _categories=category_times)
    if log.empty:
        log.warnings.insert(0, log.headline())
    return log


def _attach_counts(loops, bridges, counts: BackendCounts) -> None:
    """Give each trace its counters. Ids are addresses that PyPy may reuse after freeing a loop,
    so the last trace logged with an id (the live one at exit, when the counts are written)
    gets them."""
    by_number = {loop.number: loop for loop in loops}
    by_guard = {bridge.guard: bridge for bridge in bridges}
    by_token = {}
    for trace in loops + bridges:
        trace.count = None
        trace.label_counts = {}
    for trace in sorted(loops + bridges, key=lambda t: t.start):
        for token in trace.labels:
            by_token[token] = trace
    for number, count in counts.entries.items():
        if number in by_number:
            by_number[number].count = count
    for guard, count in counts.bridges.items():
        if guard in by_guard:
            by_guard[guard].count = count
    for token, count in counts.targets.items():
        if token in by_token:
            by_token[token].label_counts[token] = count


MIN_TRACING_FOR_CLOCK = 0.005  # seconds of tracing + backend needed to calibrate on them


def _calibrate(first, last, wall, summary, summary_tick, tracing_ticks, clock, tick_hz=None):
    """Seconds per tick, and a sentence saying how they were found.

    "span": the log's span (first to last marker) is the run's wall time. Simple, but the
    process's start-up before the first marker and its exit after the last are outside the
    span, so every section time comes out too long by (wall - span) / span: a few percent for
    a run of seconds, a third for a run of 0.1 s.
    "tracing": the ticks of all ``jit-tracing`` sections against jit-summary's tracing plus
    backend seconds, which PyPy measures with ``time.time`` around the same work. Within a few
    percent once there are some 5 ms of it.
    "rate": ``tick_hz`` ticks a second, measured beforehand by :func:`tick_rate`.
    "auto": "rate" if given, else "tracing" when possible, else "span", else jit-summary's TOTAL.
    """
    span = (last - first) if first is not None and last is not None else 0
    have_wall = wall is not None and wall > 0 and span > 0
    if clock in ("auto", "rate") and tick_hz:
        spt = 1.0 / tick_hz
        text = (f"timestamps are CPU ticks, converted at {tick_hz / 1e9:.3f} GHz as measured on "
                "this machine by tick_rate() (a PyPy run timing a sleep between two logged "
                "collections)")
        if have_wall:
            text += (f"; the log covers {span * spt:.3f} s of the run's {wall:.3f} s wall time "
                     "(the rest is start-up and exit)")
        return spt, text
    jit_seconds = None
    if summary is not None and summary.tracing_seconds is not None:
        jit_seconds = summary.tracing_seconds + (summary.backend_seconds or 0.0)
    by_tracing = (jit_seconds is not None and tracing_ticks > 0
                  and jit_seconds >= (MIN_TRACING_FOR_CLOCK if clock == "auto" else 0)
                  and jit_seconds > 0)
    if by_tracing and clock == "auto" and have_wall:
        ratio = (jit_seconds / tracing_ticks) / (wall / span)
        by_tracing = 0.2 < ratio < 1.1  # the span can only make ticks look longer
    if clock in ("auto", "tracing") and by_tracing:
        spt = jit_seconds / tracing_ticks
        text = (f"timestamps are CPU ticks, converted at {1e-9 / spt:.3f} GHz: the ticks of all "
                f"jit-tracing sections against jit-summary's tracing + backend time "
                f"({jit_seconds:.3f} s, measured by PyPy with time.time)")
        if have_wall:
            text += (f"; the log covers {span * spt:.3f} s of the run's {wall:.3f} s wall time "
                     "(the rest is start-up and exit)")
        return spt, text
    if clock in ("auto", "span") and have_wall:
        return wall / span, (
            f"timestamps are CPU ticks; scaled so that the log's span ({span:,} ticks, first to "
            f"last marker) equals the run's wall time ({wall:.3f} s). Start-up before the first "
            "marker and exit after the last are thereby spread over every section: times are "
            "somewhat too long, the more so the shorter the run")
    if (clock == "auto" and summary is not None and summary.total_seconds
            and summary_tick is not None and first is not None and summary_tick > first):
        return summary.total_seconds / (summary_tick - first), (
            "timestamps are CPU ticks; scaled by jit-summary's TOTAL "
            f"({summary.total_seconds:.3f} s, measured by PyPy from the JIT's start) against the "
            "ticks from the first marker to the summary: rough")
    return None, ("timestamps are CPU ticks and could not be converted to seconds (give "
                  "wall_seconds=, or log jit-summary with jit-tracing)")


# ============================================================================ capture


@dataclass(eq=False)
class Capture:
    """What :func:`capture` did: ``run`` the :class:`helpers.runner.RunResult`, ``log`` the
    parsed :class:`PypyLog` (None with ``parse=False``), ``path`` where the log was kept (None
    if it was removed), ``size`` its size in bytes, ``categories`` what PYPYLOG asked for."""

    run: object
    log: Optional[PypyLog]
    path: Optional[Path]
    size: int
    categories: str

    def __str__(self) -> str:
        text = str(self.log) if self.log is not None else "(not parsed)"
        kept = f"; kept at {self.path}" if self.path else ""
        return f"{text}\n[log {self.size:,} bytes, PYPYLOG={self.categories}:…{kept}]"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.log._repr_html_() if self.log is not None else html.escape(str(self))


def _categories_text(categories) -> str:
    if categories is None:
        return ""
    if isinstance(categories, str):
        items = [c.strip() for c in categories.split(",")]
    else:
        items = [str(c).strip() for c in categories]
    items = [c for c in items if c]
    for c in items:
        if not re.fullmatch(r"[\w.-]+", c):
            raise ValueError(f"not a PYPYLOG category prefix: {c!r} (letters, digits, '-', "
                             "'_' and '.' only; separate several with commas)")
    if not items:
        raise ValueError("no categories given: pass None to log everything")
    return ",".join(items)


_TICK_RATES: dict = {}



def tick_rate(interpreter="pypy", *, sleep: float = 0.2, refresh: bool = False) -> float:
    """Ticks per second of PyPy's log timestamps on this machine (cached per interpreter).

    PyPy stamps its log with the CPU's time-stamp counter, whose rate is a property of the
    machine. One short PyPy run measures it: two ``gc.collect()`` logged under
    ``PYPYLOG=gc-collect``, a ``time.sleep(sleep)`` between them timed with
    ``time.perf_counter``; the largest gap between the log's timestamps is that sleep.
    """
    interp = require_pypy(interpreter, "tick_rate()")
    if interp.path in _TICK_RATES and not refresh:
        return _TICK_RATES[interp.path]
    with private_tmpdir() as tmp:
        path = tmp / "calibration.log"
        answer, _ = ask("tickrate_child", {"sleep": sleep}, interpreter=interp,
                        env={"PYPYLOG": f"gc-collect:{path}"}, timeout=60)
        elapsed = float(answer["elapsed"])
        ticks = [s.start for s in iter_sections(path, bodies=False)]
        ticks += [s.stop for s in iter_sections(path, bodies=False)]
    ticks.sort()
    gap = max((b - a for a, b in zip(ticks, ticks[1:])), default=0)
    if gap <= 0 or elapsed <= 0:
        raise RuntimeError("could not measure the tick rate: PyPy logged no collections")
    _TICK_RATES[interp.path] = gap / elapsed
    return _TICK_RATES[interp.path]


WHY_PYPYLOG = ("PYPYLOG is PyPy's own debug log of its JIT (tracing, compiling) and its GC. "
                "{label} has no JIT and writes no such log, so there is nothing to read; to "
                "compare the two interpreters, use helpers.race().")


def require_pypy(interpreter, who: str, why: str = WHY_PYPYLOG):
    """:func:`helpers.interpreters.require_pypy`, explaining by default why a PYPYLOG needs PyPy."""
    return _require_pypy(interpreter, who, why)


def capture(code: Optional[str] = None, *, script=None, categories=DEFAULT_CATEGORIES,
            args=(), env: Optional[dict] = None, jit: Optional[str] = None,
            timeout: Optional[float] = 60.0, interpreter="pypy", cwd=None,
            keep: Union[str, os.PathLike, None] = None, parse_log: bool = True,
            keep_ops: bool = True, clock: str = "auto", check: bool = True) -> Capture:
    """Run a snippet (``code``) or ``script`` (with ``args``) on PyPy with ``PYPYLOG`` set.

    ``categories`` are the section-name prefixes to log (a comma-separated string or a list;
    None logs everything, which for the JIT includes megabytes of machine code). The log goes to
    a temp file owned by this call, is parsed (streaming; ``clock`` as in :func:`parse`, by
    default with the tick rate that :func:`tick_rate` measures once per session) and removed,
    unless ``keep`` names a path to move it to. ``env``, ``jit``,
    ``timeout``, ``cwd`` are passed to :func:`helpers.runner.run` (for example
    ``env={"PYPY_GC_NURSERY": "1M"}``). With ``check`` a failing child raises
    :class:`helpers.runner.ChildError` after the log was read.
    """
    __tracebackhide__ = True
    interp = require_pypy(interpreter, "capture()")
    cats = _categories_text(categories)
    tick_hz = tick_rate(interp) if parse_log and clock in ("auto", "rate") else None
    with private_tmpdir() as tmp:
        path = tmp / "pypylog.log"
        full_env = dict(env or {})
        full_env["PYPYLOG"] = f"{cats}:{path}"
        result = run(code, script=script, interpreter=interp, args=args, env=full_env, jit=jit,
                     timeout=timeout, cwd=cwd, check=False)
        size = path.stat().st_size if path.exists() else 0
        log = None
        if parse_log:
            if path.exists():
                log = parse(path, wall_seconds=result.wall, keep_ops=keep_ops, clock=clock,
                            tick_hz=tick_hz, categories=cats.split(",") if cats else None)
            else:
                log = parse([], wall_seconds=result.wall,
                            categories=cats.split(",") if cats else None)
                log.warnings.append("PyPy wrote no log file at all (did the program start?)")
            log.source = None
        kept = None
        if keep is not None and path.exists():
            kept = Path(keep)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(kept))
            if log is not None:
                log.source = str(kept)
    if check:
        result.check()
    return Capture(run=result, log=log, path=kept, size=size, categories=cats)


# The names ``helpers`` exports them under (``helpers.parse`` would say too little).
capture_pypylog = capture
parse_pypylog = parse
