"""The trace viewer: what PyPy's JIT compiled, mapped back to the learner's own source lines.

A Python 3 successor to jitviewer, reading the course's parsed PYPYLOG
(:mod:`helpers.pypylog`) and never the log text itself:

* **Model.** :func:`view` takes a :class:`~helpers.pypylog.PypyLog` and ranks its loops and
  bridges by how often they ran (``jit-backend-counts``). Each shown trace
  (:class:`TraceInfo`) is cut into :class:`Block` s at its ``debug_merge_point`` s: one block
  per visit of a source line, inlined calls nested under the line that made them (with their
  call depth). The blocks of the trace's own function(s) are then laid out in source order
  (:class:`Frame` of :class:`SourceLine`), so each line of the learner's code holds the
  operations compiled for it. Each line counts what a learner looks for (:class:`Counts`):
  allocations that survived optimization (``new``, ``new_with_vtable``, ``new_array`` …),
  residual calls (``call_*``) and guards by kind. Guards are tied to the bridges that leave
  them, with how often each bridge ran.
* **View.** :class:`Traces` shows itself in JupyterLab (``_repr_html_``) and writes a
  standalone page (:meth:`Traces.to_html`): a loop list, then for each shown trace the source
  with the hot lines marked and each line's operations folded under it (``<details>``),
  guards with a bridge highlighted and linked to it, and filters (hide debug_merge_points;
  only guards / calls / allocations) that are CSS-only checkboxes (a few lines of script only
  open the matching lines). Self-contained: no network, no server; every text from the log or
  a source file is escaped.
* **Entry points.** :func:`trace` (runs PyPy), ``%%jitview`` (:mod:`helpers.magics`) and
  ``python -m helpers traces script.py -o traces.html`` (:mod:`helpers.cli`).

* **Machine code.** ``assembler=True`` (:func:`trace`, :func:`view`) adds the assembler
  level for the top :data:`ASM_TOP` shown traces (an int: that many; a list: those ranks): the
  bytes the backend wrote (``jit-backend-dump``, :mod:`helpers.pypylog.backend`, which
  :func:`trace` then logs too), disassembled by objdump (:mod:`helpers.disasm`) and cut at
  the operations' ``+offset`` s (:func:`helpers.tracemodel.align`); folded on the page
  under each of those traces. Off by default: the page is then what it always was. Without
  objdump the view says so, and how to install it.

Loops in PyPy 7.3 logs have a *preamble*: the operations up to the last ``label`` are the
first iteration (run once per entry into the loop), the ones after it the loop body (run every
iteration). A line's counts are of the body; the preamble's are kept apart.
"""

from __future__ import annotations

import os
import secrets
from typing import Optional, Union

from .disasm import INSTALL_HINT, DisassemblyError, ObjdumpMissing, disassemble, objdump_path
from .display import page, write_page
from .formatting import tally as _tally
from .nursery import describe_runs
from .pypylog import ALLOC_OPS, Counts, Loop, PypyLog, PypylogError, capture, op_kind, parse
from .pypylog.backend import BACKEND_CATEGORIES, read_machine_code
from .runner import private_tmpdir
from .tracemodel import (Assembler, Block, Frame, SourceLine, Sources, TraceInfo, align,
                         trace_info)
from .traceview import render

__all__ = ["trace", "view", "view_traces", "Traces", "TraceInfo", "Frame", "SourceLine", "Block", "Counts",
           "op_kind", "ALLOC_OPS", "CATEGORIES", "DEFAULT_TOP", "Assembler", "ASM_TOP",
           "ASM_CATEGORIES"]

#: What :func:`trace` asks PYPYLOG for: the optimized traces, their counters, the summary.
CATEGORIES = ("jit-log-opt", "jit-backend-counts", "jit-summary")
DEFAULT_TOP = 10
#: ``assembler=True`` disassembles this many of the shown traces (those that ran most).
ASM_TOP = 3
#: What :func:`trace` asks PYPYLOG for with ``assembler=``: the machine code too.
ASM_CATEGORIES = CATEGORIES + BACKEND_CATEGORIES
#: Operations that allocate: if they are still in an optimized trace, the object escaped.


# ============================================================================ view


class Traces:
    """The traces of one PyPy run, ranked by runs, with the ``top`` of them mapped to source.

    ``ranked`` are all loops and bridges, most run first; ``shown`` the :class:`TraceInfo` of
    the first ``top`` (all with ``top=None``); ``left_out`` how many are not shown. ``stdout``
    is what the program printed (when :func:`trace` ran it). ``assembler`` (True: the top
    :data:`ASM_TOP` shown; a number: that many; a list of ranks) gives those traces their
    machine code (``TraceInfo.assembler``), read from ``code_source`` (default: the log's
    file); ``asm_note`` says why it could not be (objdump missing, no dumps in the log)."""

    def __init__(self, log: PypyLog, *, top: Optional[int] = DEFAULT_TOP,
                 sources: Optional[dict] = None, title: str = "PyPy traces",
                 stdout: str = "", command: str = "", notes=(), assembler=False,
                 code_source=None):
        self.log = log
        self.title = title
        self.stdout = stdout
        self.command = command
        self.notes = list(notes)  # facts to read it by, e.g. the nursery PyPy ran with
        self._sources = Sources(sources)
        self.ranked = sorted(log.loops + log.bridges, key=lambda t: (-t.runs, t.start))
        self.top = top
        chosen = self.ranked if top is None else self.ranked[:max(0, top)]
        self.shown = [trace_info(i + 1, t, self._sources) for i, t in enumerate(chosen)]
        self.left_out = len(self.ranked) - len(self.shown)
        #: why the machine code asked for is not shown (objdump missing, no dumps), or ""
        self.asm_note = ""
        if assembler is not False and assembler is not None:
            self._add_machine_code(assembler, code_source if code_source is not None
                                   else log.source)

    # -- evidence

    @property
    def hot_loop(self) -> Optional[TraceInfo]:
        """The shown loop (not bridge) that ran most, or None when no loop was compiled."""
        loops = [info for info in self.shown if isinstance(info.trace, Loop)]
        return min(loops, key=lambda info: info.rank) if loops else None

    @property
    def aborts(self) -> dict:
        """Why tracing was given up, reason -> count (from ``jit-summary``; only reasons that
        happened): e.g. ``{"trace too long": 3}``. Empty without a summary."""
        summary = self.log.summary
        if summary is None:
            return {}
        return {reason: n for reason, n in summary.aborts.items() if n}

    def evidence(self) -> str:
        """One line on what the JIT made of the run: loops and bridges compiled, tracing
        aborts, and what one iteration of the hottest loop does (operations, guards, calls,
        allocations that survived optimization)."""
        n_loops, n_bridges = len(self.log.loops), len(self.log.bridges)
        text = (f"{n_loops} loop{'s' * (n_loops != 1)} and {n_bridges} "
                f"bridge{'s' * (n_bridges != 1)} compiled")
        if self.aborts:
            text += "; tracing aborted: " + _tally(self.aborts)
        info = self.hot_loop
        if info is None:
            return text + "; no loop was compiled"
        c = info.body_counts

        def some(n, what, kinds):
            return f"{n} {what}{'s' * (n != 1)}" + (f" ({_tally(kinds)})" if kinds else "")

        return (f"{text}; hottest loop ({info.label} in {info.where}) ran {info.runs:,} "
                f"times, each time {c.ops} operations: {c.n_guards} guards, "
                f"{some(c.n_calls, 'call', c.calls)}, "
                f"{some(c.n_allocs, 'allocation', c.allocs)}")

    # -- machine code

    def _asm_chosen(self, which) -> list:
        if which is True:
            return self.shown[:ASM_TOP]
        if isinstance(which, int):
            if which < 0:
                raise ValueError(f"assembler={which}: give how many traces (>= 0), or ranks")
            return self.shown[:which]
        try:
            if isinstance(which, (str, bytes)):
                raise TypeError
            ranks = set(which)
        except TypeError:
            raise TypeError("assembler= is True, a number of traces, or a list of ranks, not "
                            f"{which!r}") from None
        return [info for info in self.shown if info.rank in ranks]

    def _add_machine_code(self, which, source) -> None:
        chosen = self._asm_chosen(which)
        if not chosen:
            return
        if source is None or not os.path.isfile(str(source)):
            self.asm_note = ("the machine code is read from the log file, and this log has "
                             "none on disk: pass the log's path, or run "
                             "trace(..., assembler=True)")
            return
        exe = objdump_path()
        if exe is None:
            self.asm_note = INSTALL_HINT
            return
        try:
            code = read_machine_code(source, [info.trace for info in chosen])
        except (OSError, PypylogError) as exc:
            self.asm_note = f"the machine code could not be read: {exc}"
            return
        if not code.dumps:
            self.asm_note = ("the log has no machine code (no jit-backend-dump sections): run "
                             "with trace(..., assembler=True), or add jit-backend-dump,"
                             "jit-backend-addr to PYPYLOG")
            return
        notes = list(code.warnings)
        where = _block_finder(code.blocks)
        for info in chosen:
            mc = code.for_trace(info.trace)
            if mc is None:
                info.assembler = Assembler(info.trace, note=(
                    "no jit-backend-addr record names this trace (a truncated log, or not "
                    "logged): its machine code cannot be found"))
                continue
            address, data = mc.code()
            try:
                instructions = disassemble(data, address, mc.backend, objdump=exe)
            except (DisassemblyError, ObjdumpMissing) as exc:
                info.assembler = Assembler(info.trace, backend=mc.backend, note=str(exc))
                continue
            asm = align(info.trace, instructions, mc.base_for(info.trace), backend=mc.backend,
                        size=len(data), patches=mc.patches, where=where)
            missing = len(mc.data) - mc.known
            if missing or mc.partial:
                asm.note = (f"{missing:,} of its {len(mc.data):,} bytes were in no dump "
                            "(shown as zeros)" if missing else "a dump of it was cut off")
            info.assembler = asm
        if notes:
            self.asm_note = "; ".join(notes)

    def machine_code(self, trace_or_rank=1) -> Assembler:
        """The :class:`Assembler` of a shown trace (rank 1 = ran most) that was given its
        machine code (``assembler=`` of :func:`trace`/:func:`view`); print it for the
        listing. Raises KeyError (saying why) otherwise."""
        info = self.info(trace_or_rank)
        if info.assembler is None:
            why = self.asm_note or ("it was not disassembled: pass assembler=True (the top "
                                    f"{ASM_TOP}) or assembler=[ranks]")
            raise KeyError(f"no machine code for {info.label}: {why}")
        return info.assembler

    # -- evidence over every loop and bridge, not only the hottest loop

    def _info_of(self, t) -> TraceInfo:
        """The :class:`TraceInfo` of any ranked trace (shown or not), built once."""
        cache = self.__dict__.setdefault("_all_infos", {})
        if id(t) not in cache:
            shown = next((i for i in self.shown if i.trace is t), None)
            cache[id(t)] = shown or trace_info(self.ranked.index(t) + 1, t, self._sources)
        return cache[id(t)]

    def totals(self) -> Counts:
        """What all the compiled code ran: every loop's and bridge's body counts (a loop's
        iteration without its preamble, a whole bridge) times how often it ran. An estimate of
        the work done in machine code: what ran in the interpreter, and each loop's preamble
        (run once per entry), is not in it."""
        total = Counts()
        for t in self.ranked:
            c, n = self._info_of(t).body_counts, t.runs
            total.merge(Counts(c.ops * n, {k: v * n for k, v in c.guards.items()},
                               {k: v * n for k, v in c.calls.items()},
                               {k: v * n for k, v in c.allocs.items()}))
        return total

    @property
    def hot_bridge(self) -> Optional[TraceInfo]:
        """The bridge that ran most (shown or not), or None when no bridge was compiled."""
        bridges = [t for t in self.ranked if not isinstance(t, Loop)]
        return self._info_of(bridges[0]) if bridges else None

    def work(self, per: int = 1) -> str:
        """One line on all the compiled code, not only the hottest loop: the operations,
        residual calls and allocations that every loop and bridge ran together
        (:meth:`totals`), divided by ``per`` (say, how many times the program ran the
        statement), and the bridge that ran most, if any."""
        if not isinstance(per, int) or per < 1:
            raise ValueError(f"per must be a positive whole number, not {per!r:.40}")
        c = self.totals()

        def about(x):
            x /= per
            return f"{x:,.0f}" if x >= 10 or x == int(x) else f"{x:.1f}"

        def some(n, what, kinds):
            shown = ", ".join(f"{k} ×{about(v)}" for k, v in
                              sorted(kinds.items(), key=lambda kv: -kv[1])
                              if about(v) not in ("0", "0.0"))
            what += "s" * (about(n) != "1")
            return f"{about(n)} {what}" + (f" ({shown})" if shown else "")

        text = (f"together, the compiled loops and bridges ran about {about(c.ops)} operations"
                f"{' per run' if per > 1 else ''}: {some(c.n_calls, 'call', c.calls)}, "
                f"{some(c.n_allocs, 'allocation', c.allocs)}")
        b = self.hot_bridge
        if b is not None:
            bc = b.body_counts
            parent = getattr(b.trace, "parent", None)
            out_of = f" out of {parent.label}" if parent is not None else ""
            text += (f"; busiest bridge{out_of} ({b.where}) ran {b.runs:,} times, each time "
                     f"{bc.ops} operations, {bc.n_calls} call{'s' * (bc.n_calls != 1)}, "
                     f"{bc.n_allocs} allocation{'s' * (bc.n_allocs != 1)}")
        return text

    def calls_by_target(self) -> dict:
        """The residual calls of all the compiled code by what they call, each counted as often
        as its loop or bridge ran (a loop's preamble left out), most first: e.g.
        ``{"rbigint.mul": 1916, ...}``. A call to a bare address counts as ``"an address"``, a
        ``call_assembler`` (into another compiled loop) as ``"compiled code"``."""
        found: dict = {}
        for t in self.ranked:
            for block in self._info_of(t).blocks:
                if block.preamble:
                    continue
                for op in block.all_ops():
                    if op_kind(op.name) != "call":
                        continue
                    if op.name.startswith("call_assembler"):
                        target = "compiled code"
                    else:
                        named = [a for a in op.args if a.startswith("ConstClass(")]
                        target = named[0][len("ConstClass("):-1] if named else "an address"
                    found[target] = found.get(target, 0) + t.runs
        return dict(sorted(found.items(), key=lambda kv: -kv[1]))

    def find(self, text: str) -> list:
        """``(trace, op)`` for every operation, in any loop or bridge, whose text contains
        ``text`` (e.g. ``"jit_force_virtual"``, ``"ll_join"``, ``"copystrcontent"``), the
        trace that ran most first."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string, not {text!r:.40}")
        return [(t, op) for t in self.ranked if t.text is not None
                for op in t.ops if text in op.text]

    # -- text

    def headline(self) -> str:
        n_loops, n_bridges = len(self.log.loops), len(self.log.bridges)
        text = (f"{n_loops} loop{'s' * (n_loops != 1)} and {n_bridges} "
                f"bridge{'s' * (n_bridges != 1)} compiled")
        if not self.ranked:
            return text + ": nothing was compiled (did the program run long enough to warm up?)"
        text += f"; showing the {len(self.shown)} that ran most"
        if self.left_out:
            text += f" ({self.left_out} more left out: pass all=True or --all to see them)"
        if self.log.counts is None:
            text += "; no jit-backend-counts in the log, so no run counts"
        return text

    def __str__(self) -> str:
        rows = [self.headline()]
        for info in self.shown:
            c = info.counts
            rows.append(f"  #{info.rank:<3} {info.label:34} {info.runs:>12,} runs  "
                        f"{c.ops:>5} ops {c.n_guards:>4} guards {len(info.bridges):>3} bridges"
                        f" {c.n_calls:>3} calls {c.n_allocs:>3} allocs  {info.where}")
        rows += [f"Note: {n}" for n in self.notes]
        for info in self.shown:
            if info.assembler is not None:
                rows.append(f"  machine code of #{info.rank} {info.label}: "
                            f"{info.assembler.summary()}")
        if self.asm_note:
            rows.append(f"Machine code: {self.asm_note}")
        return "\n".join(rows)

    __repr__ = __str__

    def info(self, trace_or_rank) -> TraceInfo:
        """The shown :class:`TraceInfo` by rank (1 = ran most) or by its trace."""
        for info in self.shown:
            if info.rank == trace_or_rank or info.trace is trace_or_rank:
                return info
        raise KeyError(f"{trace_or_rank!r} is not among the shown traces")

    # -- HTML

    def _repr_html_(self) -> str:
        return self.html_fragment()

    def html_fragment(self) -> str:
        """The view as a fragment (its own ``<style>``, ids unique to this rendering)."""
        return render(self, "tv" + secrets.token_hex(4))

    def to_html(self, path: Union[str, os.PathLike, None] = None) -> str:
        """A standalone page (UTF-8, no external resources); written to ``path`` if given."""
        return write_page(path, page(self.title, render(self, "tv")))

    save = to_html




def _block_finder(blocks: list):
    """address -> "Loop 3" / "the bridge out of Guard 0x…" for the code the log put there
    last (None outside every logged block)."""
    spans = sorted(((b.low, b.end, b) for b in blocks), key=lambda s: (s[0], s[2].tick))

    def where(address: int) -> Optional[str]:
        found = None
        for lo, hi, b in spans:
            if lo > address:
                break
            if address < hi and (found is None or b.tick > found.tick):
                found = b
        if found is None:
            return None
        kind, n = found.key
        name = f"Loop {n}" if kind == "loop" else f"the bridge out of Guard 0x{n:x}"
        return f"{name} +{address - found.low}"

    return where


# ============================================================================ entry points


def view(log: Union[PypyLog, str, os.PathLike], *, top: Optional[int] = DEFAULT_TOP,
         all: bool = False, sources: Optional[dict] = None, assembler=False,
         code_source=None, **kwargs) -> Traces:
    """The viewer for a parsed log (or a log file, parsed here). ``top`` traces are mapped to
    source (``all=True``: every one). ``sources`` maps file names in the log to source text
    (for files that are gone, e.g. a snippet's temp file). ``assembler=True`` adds the machine
    code of the top :data:`ASM_TOP` (a number: that many; a list: those ranks), read again
    from the log file (its ``jit-backend-dump`` sections; ``code_source=`` names it for a
    parsed log whose file was moved) and disassembled with objdump."""
    if not isinstance(log, PypyLog):
        if code_source is None:
            code_source = log
        log = parse(log)
    return Traces(log, top=None if all else top, sources=sources, assembler=assembler,
                  code_source=code_source, **kwargs)


def trace(code: Union[str, os.PathLike, None] = None, *, script=None, args=(),
          top: Optional[int] = DEFAULT_TOP, all: bool = False, jit: Optional[str] = None,
          env: Optional[dict] = None, timeout: Optional[float] = 60.0, interpreter="pypy",
          cwd=None, keep=None, check: bool = True, assembler=False) -> Traces:
    """Run a snippet (``code``) or a script (``script=``, or ``code`` naming an existing
    ``.py`` file) once on PyPy with the JIT's traces logged, and return the viewer
    (:class:`Traces`): in Jupyter it shows itself, ``.to_html(path)`` writes a page.

    ``args`` go to the script; ``jit``, ``env``, ``timeout``, ``cwd`` to
    :func:`helpers.runner.run`; ``keep`` saves the raw log. The run must warm up to compile
    anything: a loop needs about a thousand iterations. ``assembler=True`` also logs the
    machine code (``jit-backend-dump,jit-backend-addr``: a bigger log, read once more and
    removed) and shows it for the top :data:`ASM_TOP` traces (a number: that many; a list:
    those ranks)."""
    __tracebackhide__ = True
    if script is None and code is not None and (
            isinstance(code, os.PathLike) or ("\n" not in code and code.endswith(".py")
                                              and os.path.isfile(code))):
        code, script = None, code
    if assembler is False or assembler is None:
        cap = capture(code, script=script, categories=CATEGORIES, args=args, env=env, jit=jit,
                      timeout=timeout, interpreter=interpreter, cwd=cwd, keep=keep,
                      check=check)
        return _traces(cap, code, script, top=top, all=all)
    with private_tmpdir() as tmp:
        path = keep if keep is not None else tmp / "pypylog.log"
        cap = capture(code, script=script, categories=ASM_CATEGORIES, args=args, env=env,
                      jit=jit, timeout=timeout, interpreter=interpreter, cwd=cwd, keep=path,
                      check=check)
        if keep is None:
            cap.log.source = None
        return _traces(cap, code, script, top=top, all=all, assembler=assembler,
                       code_source=path)


def _traces(cap, code, script, *, top, all, **kwargs) -> Traces:
    """The viewer of a capture (a snippet's source given for its temp file, which is gone)."""
    sources = {}
    if code is not None:
        # the snippet ran from a temp file that is gone now: give its text to the viewer
        for t in cap.log.loops + cap.log.bridges:
            mp = t.location
            if mp is not None and mp.filename and os.path.basename(mp.filename) == \
                    "snippet.py" and not os.path.exists(mp.filename):
                sources[mp.filename] = code
        if not sources:
            for t in cap.log.loops + cap.log.bridges:
                for mp in t.merge_points:
                    if mp.filename and os.path.basename(mp.filename) == "snippet.py":
                        sources[mp.filename] = code
                        break
                if sources:
                    break
    what = f"script {script}" if script is not None else "a snippet"
    return Traces(cap.log, top=None if all else top, sources=sources, stdout=cap.run.stdout,
                  title=f"PyPy traces of {os.path.basename(str(script)) if script else 'a snippet'}",
                  notes=describe_runs([cap.run]),
                  command=f"traces of {what}, run once on {cap.run.interpreter.label} "
                          f"({cap.run.wall:.2f} s wall)", **kwargs)


#: The name ``helpers`` exports :func:`view` under.
view_traces = view
