"""The JIT's data in a PYPYLOG: operations, guards, merge points, loops and bridges, and how
to count what a learner looks for in them (no process, no I/O)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Iterator, Optional

class PypylogError(ValueError):
    """The input is not a PYPYLOG (or cannot be read as one)."""




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
