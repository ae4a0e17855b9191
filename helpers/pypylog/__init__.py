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
``jit-mem-looptoken-alloc``, ``jit-tracing`` (the bytecodes each attempt traced and its abort,
with PyPy's verdicts from ``jit-abort-longest-function`` and ``jit-disableinlining``),
``gc-minor``, ``gc-collect-step``,
``gc-collect-done``). Everything else (``jit-backend-dump`` is most of a ``PYPYLOG=jit`` log)
only counts towards the section tree. A loop keeps its operations as the text PyPy wrote (one
compact string); :attr:`Trace.ops` parses them when first asked.

The package's modules, in the order they build on each other: :mod:`.ops` (operations, merge
points, loops and bridges, op counts), :mod:`.sections` (the summary, run counters, aborts, GC
events), :mod:`.scan` (the streaming reader and the section tree), :mod:`.log` (:func:`parse`
and :class:`PypyLog`) and :mod:`.capture` (running PyPy with the log on). The parse functions
never launch a process and never import anything of PyPy; they run on CPython 3.11. Errors of the input are :class:`PypylogError` (not a PYPYLOG at all) or warnings
on the result (a truncated log, unbalanced markers); nothing else is raised for any input.
"""

from .capture import (DEFAULT_CATEGORIES, WHY_PYPYLOG, Capture, capture, require_pypy,
                      tick_rate)
from .log import CategoryTime, PypyLog, parse
from .ops import (ALLOC_OPS, Bridge, Counts, Guard, Loop, MergePoint, Op, PypylogError, Trace,
                  op_kind, parse_location, parse_op, parse_trace)
from .scan import Section, SectionNode, iter_gc_events, iter_sections, iter_traces
from .sections import (BackendCounts, GcCollectDone, GcMinor, GcStep, JitSummary, TracingAbort,
                       function_key, line_key, parse_backend_counts, parse_summary,
                       parse_tracing)

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
    "parse_tracing",
    "function_key",
    "line_key",
    "DEFAULT_CATEGORIES",
    "require_pypy",
    "tick_rate",
    "capture_pypylog",
    "parse_pypylog",
    "ALLOC_OPS",
    "Counts",
    "op_kind",
    "WHY_PYPYLOG",
]

# The names ``helpers`` exports them under (``helpers.parse`` would say too little).
capture_pypylog = capture
parse_pypylog = parse
