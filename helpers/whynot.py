"""Why not faster: the JIT's own reasons, per hot function of the profile.

    >>> why = helpers.why_not_faster("myscript.py", args=["--size", "10"])
    >>> why                      # in a notebook: one block per hot function, each reason linked
    >>> print(why)               # the same as text
    >>> why.findings             # (sentence, lesson, "file.py:line") for each reason found

Every reason is read from this run's own data and names its source line; a function with no
evidence gets none (no generic advice):

* **JIT or interpreter** (vmprof's samples on PyPy). Each sample is a stack of code objects;
  a frame that was running in compiled code is tagged ``JittedCode`` by vmprof's reader. On
  PyPy vmprof (without native stacks, as the course runs it) finds a sample's place in
  compiled code from the *return address of the last call that code made* (the word under the
  compiled frame's stack pointer), so compiled code that has made no call (a tight loop of
  arithmetic) is not tagged and looks like the interpreted frame that entered it. The tagged
  share is therefore a lower bound on compiled time, and the rest is "the interpreter, or
  compiled code": the samples cannot tell those apart, and this module says so instead of
  guessing. What settles it is the log: a function none of whose code is in any compiled
  loop or bridge ran in the interpreter.
* **Aborted traces** (``jit-tracing``: the bytecodes traced, ``~~~ ABORTING TRACING``, and
  PyPy's verdicts ``jit-abort-longest-function``/``jit-disableinlining``; ``jit-summary``'s
  abort counts): where tracing started, which function filled the trace, why it stopped.
* **Bridges** (``jit-log-opt-bridge`` and ``jit-backend-counts``): the guard each leaves from,
  located at its source line, and how often the bridge ran (each run is one failure of that
  guard after the bridge was compiled).
* **What one iteration of its hottest loop still does**: residual calls (``call_*``) and
  allocations the optimizer could not remove (``new``, ``new_with_vtable`` …), at the lines of
  this function.
* **The nursery** (:func:`helpers.findings.nursery_finding`) when PyPy's default is oversized
  on this machine.

:func:`analyse` builds the :class:`WhyNot` from a parsed log and a profile (no process);
:func:`why_not_faster` runs both on a script first. The report (:func:`helpers.report`) uses
:func:`analyse` on its own smoke log and profile.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .display import Result, notes_html, warnings_html
from .findings import LESSONS, nursery_finding
from .formatting import escape as _e
from .formatting import format_seconds, plural
from .nursery import describe_runs, sane_setting
from .profiling import profile
from .pypylog import (DEFAULT_CATEGORIES, Loop, MergePoint, PypyLog, capture, function_key,
                      op_kind, parse_location, require_pypy)
from .runner import run

__all__ = ["why_not_faster", "analyse", "WhyNot", "FunctionWhy", "AbortSite", "Finding",
           "sample_split", "abort_sites", "guard_location", "loop_leftovers", "nursery_runs",
           "unlocated_aborts",
           "ABORT_REASONS", "TITLE"]

TITLE = "Why not faster: the JIT's own reasons"

#: PyPy's abort reasons (``~~~ ABORTING TRACING`` names and jit-summary's ``abort:`` names):
#: what each means, and the lesson that explains it.
ABORT_REASONS = {
    "ABORT_TOO_LONG": ("trace too long",
                       "the trace grew past the JIT's trace_limit before the loop closed: a "
                       "very long function, long unrolled code or deep inlining", "09"),
    "ABORT_SEGMENTED_TRACE": ("segmenting trace",
                              "the trace was too long, so PyPy compiled it in segments instead "
                              "(each piece ends where the next trace starts)", "05"),
    "ABORT_FORCE_QUASIIMMUT": ("force quasi-immut",
                               "something the trace had taken as constant changed while it "
                               "was being recorded (PyPy's quasi-immutable fields, such as a "
                               "class attribute or a class being made, a module global, or "
                               "what eval/exec compile)",
                               "09"),
    "ABORT_ESCAPE": ("vable escape",
                     "the frame escaped while tracing (sys._getframe(), locals(), a traceback "
                     "kept alive)", "09"),
    "ABORT_BAD_LOOP": ("bad loop", "the trace did not close into a loop the JIT could compile",
                       "05"),
    "ABORT_BRIDGE": ("compiling", "the JIT gave up compiling what it traced", "05"),
}

#: PyPy's class names behind the allocations a learner sees most, in Python's words.
_TYPES = {
    "W_IntObject": "int", "W_LongObject": "int (big)", "W_FloatObject": "float",
    "W_BoolObject": "bool", "W_ListObject": "list", "W_DictMultiObject": "dict",
    "W_DictObject": "dict", "W_SetObject": "set", "W_UnicodeObject": "str",
    "W_BytesObject": "bytes", "W_ComplexObject": "complex", "W_TupleObject": "tuple",
    "W_IntRangeIterator": "range iterator", "W_IntRangeStepOneIterator": "range iterator",
    "W_BytearrayObject": "bytearray", "Function": "function", "Method": "bound method",
    "W_GeneratorObject": "generator", "PyFrame": "frame", "W_SliceObject": "slice",
}

MIN_SHARE = 1.0  # percent of the samples (self) a function needs to be looked at
MAX_BRIDGES = 300  # bridges located at their guard's line (most run first)


# ============================================================================ data


@dataclass(frozen=True)
class Finding:
    """One reason: ``text`` (a sentence with this run's figures), ``lesson`` (the number of
    the lesson that explains it), ``where`` (``file.py:line``, or "" for the whole run),
    ``kind`` ("interpreted", "jit", "abort", "bridge", "call", "alloc", "nursery")."""

    text: str
    lesson: str
    where: str
    kind: str


@dataclass
class AbortSite:
    """Aborted tracing attempts for one reason that started in one function: ``start`` the
    first place tracing began there, ``starts`` every starting line (``file.py:line``) with its
    count, ``count`` attempts, ``bytecodes`` the longest attempt, ``biggest`` the function that
    filled most of an attempt (``function_key`` text) with its ``share`` of the bytecodes,
    ``last_own`` the last line traced in the program's own files, ``notes`` PyPy's verdict
    lines (``jit-disableinlining``, ``jit-abort-longest-function``)."""

    reason: str
    start: MergePoint
    count: int = 0
    bytecodes: int = 0
    starts: dict = field(default_factory=dict)
    biggest: Optional[str] = None
    share: float = 0.0
    last_own: Optional[MergePoint] = None
    notes: tuple = ()

    @property
    def key(self) -> Optional[str]:
        return _key(self.start)

    @property
    def where(self) -> str:
        return _where(self.start)

    @property
    def lines_text(self) -> str:
        """``x.py:2`` or ``x.py:2, 179, 357 and 4 more lines``."""
        lines = list(self.starts)
        if len(lines) == 1:
            return lines[0]
        shown = [lines[0]] + [w.rpartition(":")[2] if w.rpartition(":")[0] ==
                              lines[0].rpartition(":")[0] else w for w in lines[1:4]]
        more = len(lines) - len(shown)
        return ", ".join(shown) + (f" and {plural(more, 'more line')}" if more else "")

    @property
    def meaning(self) -> tuple:
        return ABORT_REASONS.get(self.reason, (self.reason.lower(), "PyPy's reason: "
                                               + self.reason, "05"))


@dataclass
class FunctionWhy:
    """What the run says about one hot function of the profile."""

    function: str
    file: str
    first_line: int
    self_share: float  # percent of all samples
    samples: float  # its self samples
    in_jit: float  # of those, tagged as compiled code by vmprof
    loops: list = field(default_factory=list)  # compiled loops holding its code, most run first
    in_bridges: int = 0  # bridges holding its code
    traced: int = 0  # tracing attempts through its code
    aborts: list = field(default_factory=list)  # AbortSite started in it or filled by it
    bridges: list = field(default_factory=list)  # (Bridge, guard MergePoint, guard name)
    calls: list = field(default_factory=list)  # (op name, target, MergePoint, count)
    allocs: list = field(default_factory=list)  # (op name, type, MergePoint, count)
    findings: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.function};{self.file}:{self.first_line}".replace(",", ".")

    @property
    def where(self) -> str:
        return f"{_short(self.file)}:{self.first_line}"

    @property
    def compiled(self) -> bool:
        return bool(self.loops) or self.in_bridges > 0

    @property
    def hottest(self) -> Optional[Loop]:
        return self.loops[0] if self.loops else None


# ============================================================================ plain functions


def _short(path: str) -> str:
    return os.path.basename(path) if path else "?"


def _key(mp: Optional[MergePoint]) -> Optional[str]:
    if mp is None or mp.function is None:
        return None
    return f"{mp.function};{mp.filename}:{mp.first_line}"


def _where(mp: Optional[MergePoint]) -> str:
    if mp is None or mp.function is None:
        return "?"
    line = mp.line if mp.line is not None else mp.first_line
    return f"{_short(mp.filename)}:{line}"


def _key_where(key: Optional[str]) -> str:
    """``"f;/p/x.py:4"`` -> ``"f (x.py:4)"``."""
    if not key:
        return "?"
    name, _, rest = key.partition(";")
    file, _, line = rest.rpartition(":")
    return f"{name} ({_short(file)}:{line})"


def sample_split(stats) -> dict:
    """``(function, file, first_line) -> [samples, tagged as compiled code]`` over vmprof's
    samples (each sample counted for the frame on top, the *self* samples). A top frame is
    "compiled" when vmprof's reader tagged it ``JittedCode``; see the module docstring for
    what the untagged rest can be."""
    from vmprof.reader import AssemblerCode, JittedCode

    names = getattr(stats, "adr_dict", {}) or {}
    out: dict = {}
    for sample in getattr(stats, "profiles", ()):
        stack = [a for a in sample[0] if not isinstance(a, AssemblerCode)]
        if not stack:
            continue
        top = stack[-1]
        raw = names.get(int(top))
        if raw is None:
            continue
        parts = str(raw).split(":", 3)
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        key = (parts[1], parts[3], int(parts[2]))
        weight = float(sample[1])
        row = out.setdefault(key, [0.0, 0.0])
        row[0] += weight
        if isinstance(top, JittedCode):
            row[1] += weight
    return out


def _own(filename: Optional[str], roots: tuple) -> bool:
    if not filename or filename.startswith("<"):
        return False
    if not roots:
        return True
    path = os.path.abspath(filename)
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def abort_sites(log: PypyLog, roots: tuple = ()) -> list:
    """The log's aborted traces grouped by reason and the function tracing started in, most
    first. ``roots`` are the program's files or folders (for :attr:`AbortSite.last_own`)."""
    groups: dict = {}
    for a in log.aborts:
        start = parse_location(a.start) if a.start else MergePoint("?")
        k = (a.reason, function_key(a.start) if a.start else "?")
        site = groups.get(k)
        if site is None:
            site = groups[k] = AbortSite(a.reason, start)
        site.count += 1
        where = _where(start)
        site.starts[where] = site.starts.get(where, 0) + 1
        site.bytecodes = max(site.bytecodes, a.bytecodes)
        if a.functions:
            big, n = a.functions[0]
            if a.bytecodes and n / a.bytecodes >= site.share:
                site.biggest, site.share = big, n / a.bytecodes
        for text in reversed(a.tail):
            mp = parse_location(text)
            if mp.function is not None and _own(mp.filename, roots):
                site.last_own = mp
                break
        if a.notes:
            site.notes = tuple(dict.fromkeys(site.notes + a.notes))
    return sorted(groups.values(), key=lambda s: (-s.count, s.where))


def guard_location(trace, guard_id: int) -> tuple:
    """``(MergePoint, guard op name)`` of the guard ``guard_id`` in ``trace``: the innermost
    ``debug_merge_point`` before it (the source line it checks); (None, None) if absent."""
    if trace is None or trace.text is None:
        return None, None
    current = None
    for op in trace.ops:
        if op.merge_point is not None:
            current = op.merge_point
        elif op.is_guard and op.guard_id == guard_id:
            return current, op.name
    return None, None


_ALLOC_CLASS = re.compile(r"<Field\w* ([\w.]+?)\.inst_\w+")
_CONST = re.compile(r"ConstClass\((\w+)\)")


def _alloc_type(ops: list, index: int) -> str:
    op = ops[index]
    if op.name in ("newstr", "newunicode"):
        return "str" if op.name == "newunicode" else "bytes buffer"
    if op.name.startswith("new_array"):
        return "array"
    for later in ops[index + 1:index + 8]:
        if later.name.startswith("setfield_gc") and later.args and later.args[0] == op.result:
            m = _ALLOC_CLASS.search(later.descr or "")
            if m:
                cls = m[1].rsplit(".", 1)[-1]
                if cls.startswith("W_ObjectObject"):
                    return "instance of a Python class"
                if cls.startswith("W_SpecialisedTupleObject"):
                    return "tuple"
                if cls.endswith("IterObject") or cls.endswith("Iterator"):
                    return "iterator"
                return _TYPES.get(cls, cls)
    return "object"


def _call_target(op) -> str:
    if op.name.startswith("call_assembler"):
        return "another compiled loop"
    m = _CONST.search(op.args[0]) if op.args else None
    if m:
        return m[1]
    return "a function by address"


def loop_leftovers(loop, key: str) -> tuple:
    """``(calls, allocs)`` left in one iteration of ``loop`` (its body, after the preamble) at
    the lines of the function ``key`` (``"co_name;file:firstlineno"``): lists of ``(op name,
    target or type, MergePoint, count)``, most first."""
    if loop is None or loop.text is None:
        return [], []
    ops = loop.ops
    labels = [i for i, op in enumerate(ops) if op.name == "label"]
    boundary = labels[-1] if len(labels) >= 2 else -1
    current = None
    calls: dict = {}
    allocs: dict = {}
    for i, op in enumerate(ops):
        if op.merge_point is not None:
            current = op.merge_point
            continue
        if i <= boundary or current is None or _key(current) != key:
            continue
        kind = op_kind(op.name)
        if kind == "call":
            k = (op.name, _call_target(op), current.line)
            calls.setdefault(k, [current, 0])[1] += 1
        elif kind == "alloc":
            k = (op.name, _alloc_type(ops, i), current.line)
            allocs.setdefault(k, [current, 0])[1] += 1

    def rows(d):
        out = [(k[0], k[1], mp, n) for k, (mp, n) in d.items()]
        return sorted(out, key=lambda r: (-r[3], r[2].line or 0, r[0]))

    return rows(calls), rows(allocs)


def _needle(key: str) -> str:
    return f"'{key}-"


# ============================================================================ analysis


def analyse(log: Optional[PypyLog], prof=None, *, nursery: Optional[tuple] = None,
            top: int = 5, roots=(), facts=(), warnings=()) -> "WhyNot":
    """The :class:`WhyNot` of one run: ``log`` its parsed PYPYLOG (with ``jit-tracing``,
    ``jit-log-opt``, ``jit-backend-counts``, ``jit-summary``), ``prof`` a
    :class:`helpers.profiling.Profile` of it on PyPy (or None), ``nursery`` the finding of
    :func:`helpers.findings.nursery_finding` (or None), ``top`` how many hot functions,
    ``roots`` the program's files or folders (its own code, for aborts that end in a library)."""
    roots = tuple(os.path.abspath(str(r)) for r in roots)
    sites = abort_sites(log, roots) if log is not None else []
    functions = []
    if prof is not None and getattr(prof, "stats", None) is not None:
        split = sample_split(prof.stats)
        table = prof.table(full=True)
        for _, row in table.iterrows():
            if len(functions) >= top or row["self %"] < MIN_SHARE:
                break
            if not row["file"] or str(row["file"]).startswith("<builtin>"):
                continue
            key = (row["function"], row["file"], int(row["line"]))
            samples, jit = split.get(key, (row["self samples"], 0.0))
            functions.append(FunctionWhy(row["function"], row["file"], int(row["line"]),
                                         float(row["self %"]), float(samples), float(jit)))
    bridge_sites = _bridge_sites(log) if log is not None else []
    for f in functions:
        _fill(f, log, sites, bridge_sites)
    return WhyNot(functions=functions, sites=sites, log=log, profile=prof, nursery=nursery,
                  notes=list(facts), warnings=list(warnings))


def _bridge_sites(log: PypyLog) -> list:
    """Every bridge that ran, with its guard's location: ``(bridge, MergePoint, guard name)``,
    most run first (at most :data:`MAX_BRIDGES`)."""
    ran = sorted((b for b in log.bridges if b.runs > 0), key=lambda b: -b.runs)[:MAX_BRIDGES]
    out = []
    for b in ran:
        mp, name = guard_location(b.parent, b.guard)
        if mp is None:
            mp = b.location
        out.append((b, mp, name))
    return out


def _fill(f: FunctionWhy, log: Optional[PypyLog], sites: list, bridge_sites: list) -> None:
    key = f.key
    if log is not None:
        needle = _needle(key)
        f.loops = sorted((t for t in log.loops if t.text and needle in t.text),
                         key=lambda t: (-t.runs, t.start))
        f.in_bridges = sum(1 for t in log.bridges if t.text and needle in t.text)
        f.traced = log.traced.get(key, 0)
        f.aborts = [s for s in sites if s.key == key or s.biggest == key]
        f.bridges = [(b, mp, g) for b, mp, g in bridge_sites if _key(mp) == key]
        if f.hottest is not None:
            f.calls, f.allocs = loop_leftovers(f.hottest, key)
    f.findings = _function_findings(f, log)


def _function_findings(f: FunctionWhy, log: Optional[PypyLog]) -> list:
    out = []
    name = f"{f.function} ({f.where})"
    share = f"{f.self_share:.0f}% of the samples"
    if log is not None and not f.compiled and f.self_share >= MIN_SHARE:
        text = (f"{name} stayed in the interpreter: none of the loops and bridges the JIT "
                f"compiled contains its code, and it has {share} to itself")
        if f.traced:
            text += (f"; tracing went through it {plural(f.traced, 'time')} and never ended in "
                     "compiled code")
        else:
            text += "; the JIT never even started a trace through it"
        if f.samples and not f.in_jit:
            text += " (and vmprof tagged none of its samples as compiled code)"
        text += (". Its samples include the built-in functions it calls, which vmprof on "
                 "PyPy does not show apart")
        out.append(Finding(text + ".", "05" if not f.aborts else "09", f.where, "interpreted"))
    elif f.compiled and f.samples:
        loop = f.hottest
        if loop is None:
            where = f"its code is in {plural(f.in_bridges, 'bridge')} (and in no loop)"
        elif _key(loop.location) == f.key:
            where = f"{loop.label} ({loop.where}) ran {loop.runs:,} times"
        else:
            where = (f"its code is inlined into {plural(len(f.loops), 'loop')}; the most run, "
                     f"{loop.label} ({loop.where}), ran {loop.runs:,} times")
        out.append(Finding(
            f"{name} runs compiled: {where}. vmprof tagged {f.in_jit:.0f} of its "
            f"{f.samples:.0f} samples as compiled code; it finds compiled code only through "
            "the return address of the last call that code made, so its other samples are "
            "the interpreter or compiled code that made no call, which PyPy's vmprof cannot "
            "tell apart.", "06", f.where, "jit"))
    for site in f.aborts:
        out.append(_abort_finding(site, f))
    shown = 0
    for b, mp, guard in f.bridges:
        parent_runs = b.parent.runs if b.parent is not None else 0
        if shown >= 3 or (parent_runs and b.runs < BRIDGE_SHARE * parent_runs):
            continue
        shown += 1
        parent = b.parent.label if b.parent is not None else "its loop"
        than = f" ({parent} itself {parent_runs:,} times)" if parent_runs else ""
        if guard == "guard_always_fails":
            out.append(Finding(
                f"{parent} ends at {_where(mp)} in a guard that always fails: it is one segment "
                f"of a trace too long, and the next segment ({b.label}, {b.n_ops} operations) "
                f"ran {b.runs:,} times from there{than}.", "05", _where(mp), "bridge"))
            continue
        why, lesson = _GUARDS.get(guard, (_OTHER_WAY, "05"))
        if mp is not None and mp.opname == "FOR_ITER" and guard in (
                "guard_true", "guard_false", "guard_nonnull", "guard_isnull"):
            why = ("the loop on that line ran out of items: an inner loop that ends after a "
                   "few items leaves the trace every time it ends")
        out.append(Finding(
            f"The {guard or 'guard'} at {_where(mp)} in {parent} failed often enough to get a "
            f"bridge ({b.label}, {b.n_ops} operations), which then ran {b.runs:,} "
            f"times{than}: {why}.", lesson, _where(mp), "bridge"))
    loop = f.hottest
    if loop is not None and f.calls:
        calls = "; ".join(f"{_call_words(target)} at {_where(mp)} ({opname}"
                          f"{' ×' + str(n) if n > 1 else ''})"
                          for opname, target, mp, n in f.calls[:4])
        more = f"; and {len(f.calls) - 4} more" if len(f.calls) > 4 else ""
        out.append(Finding(
            f"Each run of {loop.label} still makes calls the JIT could not inline or remove, "
            f"at {f.function}'s lines: {calls}{more}.", "05", _where(f.calls[0][2]), "call"))
    if loop is not None and f.allocs:
        allocs = "; ".join(f"{_a(kind)} made real at {_where(mp)} ({opname}"
                           f"{' ×' + str(n) if n > 1 else ''})"
                           for opname, kind, mp, n in f.allocs[:4])
        more = f"; and {len(f.allocs) - 4} more" if len(f.allocs) > 4 else ""
        out.append(Finding(
            f"Each run of {loop.label} still allocates, at {f.function}'s lines: {allocs}{more}. "
            "Each object escapes where it is made real (into a container, a call or the next "
            "iteration; it may have been created earlier), so the optimizer could not remove "
            "it and the garbage collector gets the work.", "05", _where(f.allocs[0][2]),
            "alloc"))
    return out


#: A bridge is worth a sentence when it ran at least this share of the runs of its trace.
BRIDGE_SHARE = 0.01

_OTHER_WAY = "a condition there went the other way than when the trace was recorded"

#: What a guard that keeps failing says, by guard, and the lesson.
_GUARDS = {
    "guard_class": ("a value there had another type than when the trace was recorded", "08"),
    "guard_nonnull_class": ("a value there had another type than when the trace was "
                            "recorded", "08"),
    "guard_value": ("a value the trace had specialized on there (often a type, or an "
                    "instance's attribute layout: its map) was a different one", "08"),
    "guard_exception": ("the code there raised no exception, or another one, where the "
                        "trace had one", "09"),
    "guard_no_exception": ("an exception was raised there where the trace had none", "09"),
    "guard_no_overflow": ("an integer overflowed into a big integer", "09"),
    "guard_overflow": ("an integer overflowed into a big integer", "09"),
    "guard_not_invalidated": ("something the trace took as constant (a global, a class) "
                              "changed", "09"),
    "guard_isnull": ("a reference the trace had seen empty (null) was set", "05"),
    "guard_nonnull": ("a reference the trace had seen set was empty (null)", "05"),
}

#: RPython helpers a residual call often names, in Python's words (a prefix -> words).
_CALLS = (
    ("ll_call_lookup_function", "a dict lookup"), ("_ll_dict_setitem", "a dict store"),
    ("_ll_dictnext", "dict iteration"), ("ll_dict_getitem", "a dict lookup"),
    ("ll_streq", "a string comparison"), ("ll_str__Integer", "str() of an int"),
    ("string_to_int", "int() of a string"), ("_ll_list_resize", "a list growing (append)"),
    ("_ll_1_jit_force_virtual", "forcing a virtual object (a frame or a generator)"),
    ("_split_by", "str.split"), ("ll_join", "str.join"), ("ll_strconcat", "string concatenation"),
    ("_ll_1_weakref_create", "a weak reference (to a generator)"),
    ("ll_int_py_div", "integer //"), ("ll_int_py_mod", "integer %"),
)


def _call_words(target: str) -> str:
    for prefix, words in _CALLS:
        if target.startswith(prefix):
            short = target if len(target) <= 32 else target[:31] + "…"
            return f"{words} ({short})"
    return target if len(target) <= 60 else target[:59] + "…"


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _abort_finding(site: AbortSite, f: Optional[FunctionWhy] = None) -> Finding:
    _, meaning, lesson = site.meaning
    func = site.start.function or "?"
    text = (f"Tracing that started in {func} at {site.lines_text} aborted "
            f"{plural(site.count, 'time')} ({site.reason}): {meaning}")
    if site.biggest and site.share >= 0.5 and site.biggest != site.key:
        text += (f"; {_key_where(site.biggest)} filled {site.share:.0%} of the "
                 f"{site.bytecodes:,} bytecodes traced")
    elif site.bytecodes:
        text += f"; up to {site.bytecodes:,} bytecodes were traced"
    if site.last_own is not None and site.reason != "ABORT_TOO_LONG" \
            and _where(site.last_own) not in site.starts:
        text += f"; the last of the program's own lines traced was {_where(site.last_own)}"
    for note in site.notes:
        m = re.fullmatch(r"found new longest: (.+) (\d{1,12})", note)
        if m:
            loc = parse_location(m[1])
            if loc.function is not None:
                text += (f"; PyPy found {loc.function} ({_where(loc)}) the longest function in "
                         f"it ({int(m[2]):,} operations)")
                break
    for note in site.notes:
        if note.startswith("disabled inlining "):
            loc = parse_location(note[len("disabled inlining "):])
            text += f"; PyPy then stopped inlining {loc.function} ({_where(loc)}) into traces"
            break
    return Finding(text + ".", lesson, site.where, "abort")


def unlocated_aborts(log: Optional[PypyLog]) -> Optional[Finding]:
    """When jit-summary counts more aborts than the log's ``jit-tracing`` sections show (they
    were not logged, or the log is cut short), the finding that says so; else None."""
    if log is None or log.summary is None:
        return None
    counted = {k: n for k, n in log.summary.aborts.items() if n}
    total = sum(counted.values())
    if total <= len(log.aborts):
        return None
    reasons = ", ".join(f"{k} ×{n}" for k, n in sorted(counted.items(), key=lambda kv: -kv[1]))
    return Finding(f"jit-summary counts {plural(total, 'aborted trace')} ({reasons}), but the "
                   f"log locates only {len(log.aborts)}: log jit-tracing (the course's default "
                   "categories do) to see where they started.", "09", "", "abort")


# ============================================================================ the result


@dataclass(eq=False)
class WhyNot(Result):
    """What :func:`analyse` found: ``functions`` (:class:`FunctionWhy`, the profile's hot
    functions), ``sites`` every aborted-tracing site of the log, ``nursery`` the nursery
    finding or None; ``findings`` all reasons as ``(sentence, lesson, where)``."""

    functions: list
    sites: list
    log: object = None
    profile: object = None
    nursery: Optional[tuple] = None
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    title = TITLE

    @property
    def other_sites(self) -> list:
        """Abort sites that none of the hot functions covers."""
        covered = {id(s) for f in self.functions for s in f.aborts}
        return [s for s in self.sites if id(s) not in covered]

    @property
    def findings(self) -> list:
        out = [(x.text, x.lesson, x.where) for f in self.functions for x in f.findings]
        out += [(x.text, x.lesson, x.where) for x in map(_abort_finding, self.other_sites)]
        lost = unlocated_aborts(self.log)
        if lost is not None:
            out.append((lost.text, lost.lesson, lost.where))
        if self.nursery is not None:
            out.append((self.nursery[0], self.nursery[1], ""))
        return out

    def table(self):
        """One row per hot function: its self share, whether its code was compiled (and the
        most run loop holding it), how many of its samples vmprof tagged as compiled code,
        aborted traces and bridges there."""
        import pandas as pd

        rows = []
        for f in self.functions:
            if self.log is None:
                compiled = "no JIT log"
            elif f.hottest is not None:
                compiled = f"yes: {f.hottest.label}, {f.hottest.runs:,} runs"
            elif f.compiled:
                compiled = f"yes: in {plural(f.in_bridges, 'bridge')}"
            else:
                compiled = "no: " + ("never traced" if not f.traced else
                                     f"traced {plural(f.traced, 'time')}, never compiled")
            rows.append({"function": f.function, "where": f.where,
                         "self %": round(f.self_share, 1), "compiled": compiled,
                         "samples tagged compiled": f"{f.in_jit:.0f} of {f.samples:.0f}",
                         "aborted traces": sum(s.count for s in f.aborts),
                         "bridges": len(f.bridges)})
        return pd.DataFrame(rows, columns=["function", "where", "self %", "compiled",
                                           "samples tagged compiled", "aborted traces",
                                           "bridges"])

    def headline(self) -> str:
        if self.profile is None and self.log is None:
            return "Nothing to read: neither a profile nor a JIT log."
        parts = []
        interp = [f for f in self.functions if not f.compiled]
        if self.functions:
            parts.append(f"{plural(len(self.functions), 'hot function')} of the profile"
                         + (f", {len(interp)} of them never compiled" if interp and self.log
                            is not None else ""))
        if self.log is not None:
            n = sum(s.count for s in self.sites)
            parts.append(f"{plural(n, 'aborted trace')}" + (
                f" at {plural(len(self.sites), 'place')}" if n else ""))
            parts.append(plural(len(self.log.bridges), "bridge"))
        text = "; ".join(parts) + "."
        return text[:1].upper() + text[1:]

    def text_lines(self) -> list:
        lines = []
        for f in self.functions:
            lines.append(f"{f.function} ({f.where}): {f.self_share:.0f}% self")
            lines += [f"  - {x.text} [lesson {x.lesson}]" for x in f.findings] or [
                "  - nothing in this run's log or profile explains it further"]
        other = self.other_sites
        if other:
            lines.append("Aborted traces elsewhere:")
            lines += [f"  - {_abort_finding(s).text}" for s in other[:8]]
        lost = unlocated_aborts(self.log)
        if lost is not None:
            lines.append(f"Aborts: {lost.text} [lesson {lost.lesson}]")
        if self.nursery is not None:
            lines.append(f"Nursery: {self.nursery[0]} [lesson {self.nursery[1]}]")
        return lines

    def facts(self) -> list:
        return list(self.notes)

    def html_parts(self) -> list:
        out = [f"<p><b>{_e(self.headline())}</b></p>"]
        if self.functions:
            out.append(self.table().to_html(escape=True, index=False))
        for f in self.functions:
            out.append(f'<h4 class="why-fn"><code>{_e(f.function)}</code> '
                       f'<code>{_e(f.where)}</code>: {f.self_share:.0f}% of the samples'
                       "</h4><ul>")
            out += [_li(x.text, x.lesson) for x in f.findings] or [
                "<li>Nothing in this run's log or profile explains it further.</li>"]
            out.append("</ul>")
        other = self.other_sites
        if other:
            out.append("<h4>Aborted traces elsewhere</h4><ul>")
            out += [_li(x.text, x.lesson) for x in map(_abort_finding, other[:8])]
            out.append("</ul>")
        lost = unlocated_aborts(self.log)
        if lost is not None:
            out.append("<h4>Aborts the log does not locate</h4><ul>"
                       + _li(lost.text, lost.lesson) + "</ul>")
        if self.nursery is not None:
            out.append("<h4>The nursery</h4><ul>" + _li(*self.nursery) + "</ul>")
        out += [notes_html(self.facts()), warnings_html(self.warnings)]
        return out


def _li(text: str, lesson: str) -> str:
    link = ""
    if lesson in LESSONS:
        link = f" <i>(lesson {_e(lesson)}: <code>notebooks/{_e(LESSONS[lesson])}</code>)</i>"
    return f"<li>{_e(text)}{link}</li>"


#: What every WhyNot says about how it was measured.
HOW = ("vmprof tags a sample as compiled code only when that code has made a call (it finds "
       "the place through the call's return address); the JIT log (jit-tracing, jit-log-opt, jit-backend-counts) says what was compiled, "
       "what aborted and which guards failed.")


# ============================================================================ running


def nursery_runs(path, args, cwd, smoked, timeout) -> dict:
    """When PyPy's default nursery is oversized here (``smoked`` a PyPy
    :class:`~helpers.runner.RunResult` says so), one run of the script with it and one with
    the course's sane size: ``{"default": RunResult, "sane": RunResult}``, else ``{}``."""
    n = smoked.nursery
    if n is None or not n.oversized_default:
        return {}
    sane = sane_setting(n.cache)
    return {key: run(script=path, args=args, interpreter=smoked.interpreter, cwd=cwd,
                     timeout=timeout, check=False, env={"PYPY_GC_NURSERY": value})
            for key, value in (("default", "default"), ("sane", sane))}


def why_not_faster(script, args=(), *, interpreter="pypy", cwd=None,
                   timeout: Optional[float] = 120.0, top: int = 5, min_samples: int = 100,
                   nursery: bool = True) -> WhyNot:
    """Run ``script`` (with ``args``, in ``cwd``) on PyPy once with the JIT's log on and once
    under vmprof, and say per hot function why it is not faster (:class:`WhyNot`).
    ``nursery`` also times the script with PyPy's default nursery and the course's when the
    default is oversized on this machine. A failing script raises
    :class:`helpers.runner.ChildError` with its traceback."""
    __tracebackhide__ = True
    if isinstance(args, (str, bytes)):
        raise TypeError(f"args must be a list of strings, not one string ({args!r})")
    path = Path(script).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no script at {path}: give the path of a Python file")
    pypy = require_pypy(interpreter, "why_not_faster()")
    args = [str(a) for a in args]
    cap = capture(script=path, args=args, interpreter=pypy, cwd=cwd, timeout=timeout,
                  categories=DEFAULT_CATEGORIES, check=True)
    prof = profile(script=path, args=args, interpreter=pypy, cwd=cwd, timeout=timeout,
                   min_samples=min_samples, max_seconds=3.0)
    runs = nursery_runs(path, args, cwd, cap.run, timeout) if nursery else {}
    facts = [f"The JIT log is of one run ({format_seconds(cap.run.wall)} wall); the profile "
             f"of {plural(prof.repeat, 'run')} ({prof.samples:,} samples). " + HOW]
    facts += describe_runs([cap.run])
    return analyse(cap.log, prof, nursery=nursery_finding(runs, cap.run.nursery), top=top,
                   roots=(path.parent,), facts=facts, warnings=list(prof.warnings))
