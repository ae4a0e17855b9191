"""The other sections of a PYPYLOG the course reads: the JIT's summary and run counters, tracing
aborts, and the GC's minor collections, major-collection steps and ends (plain parsers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

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
    """``~~~ ABORTING TRACING <reason>`` in a ``jit-tracing`` section, with what that section
    says about the attempt: ``start`` the location text of the first bytecode traced (where
    tracing began: a loop's header or a function's entry), ``tail`` the last distinct lines
    traced before giving up (location texts, oldest first), ``bytecodes`` how many bytecodes
    were traced, ``functions`` ``("co_name;file:firstlineno", bytecodes)`` pairs, most first
    (which code made the trace long), and ``notes`` the lines of the nested
    ``jit-abort-longest-function`` and ``jit-disableinlining`` sections when they were logged
    (PyPy's own verdict: "disabled inlining <location>", "found new longest: <location> N")."""

    tick: int
    reason: str
    start: Optional[str] = None
    tail: tuple = ()
    bytecodes: int = 0
    functions: tuple = ()
    notes: tuple = ()


#: How many of the last distinct traced lines an abort keeps (:attr:`TracingAbort.tail`).
ABORT_TAIL = 40


def function_key(location: str) -> Optional[str]:
    """``"f;/p/x.py:4-6~#12 FOR_ITER"`` -> ``"f;/p/x.py:4"`` (the code object: name, file and
    first line); None for text that is not a Python location."""
    head, sep, _ = location.partition("~#")
    if not sep or ";" not in head or " " in head.partition(";")[0]:
        return None
    key, dash, line = head.rpartition("-")
    return key if dash and line.lstrip("-").isdigit() else None


def line_key(location: str) -> Optional[str]:
    """``"f;/p/x.py:4-6~#12 FOR_ITER"`` -> ``"f;/p/x.py:4-6"`` (the code object and line)."""
    head, sep, _ = location.partition("~#")
    return head if sep and ";" in head else None


def parse_tracing(tick: int, body: str, notes=()) -> tuple:
    """One ``jit-tracing`` body: ``(aborts, functions)``, the :class:`TracingAbort` s it ends
    with (usually none or one) and ``{function key: bytecodes traced}`` of the whole attempt.
    ``notes`` are the lines of the nested verdict sections logged inside it."""
    aborts, per, tail = [], {}, []
    start, n, last = None, 0, None
    for line in body.split("\n"):
        if "~#" in line:
            key = function_key(line)
            if key is None:
                continue
            n += 1
            per[key] = per.get(key, 0) + 1
            if start is None:
                start = line.strip()
            lk = line_key(line)
            if lk != last:
                last = lk
                tail.append(line.strip())
                if len(tail) > 2 * ABORT_TAIL:
                    del tail[:ABORT_TAIL]
        elif line.startswith("~~~ ABORTING TRACING"):
            top = tuple(sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
            aborts.append(TracingAbort(tick, line[20:].strip(), start, tuple(tail[-ABORT_TAIL:]),
                                       n, top, tuple(notes)))
    return aborts, per


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
