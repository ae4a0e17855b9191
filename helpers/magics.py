"""Cell magics for live coding: ``%%race``, ``%%pypy``, ``%%pypylog``, ``%%vmprof`` and
``%%jitview``. Thin
front ends over the library.

    %load_ext helpers

    %%race --setup "data = list(range(10_000))"
    total = 0
    for x in data:
        total += x

The cell runs in fresh child interpreters, not in the notebook's kernel: it cannot see the
notebook's variables (put what it needs in ``--setup`` or in the cell). A failing child raises,
so nbval and the learner notice.
"""

from __future__ import annotations

import sys

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .profiling import profile, profile_both
from .pypylog import capture
from .runner import run
from .timing import race
from .traces import ASM_TOP, trace
from .wheretime import where_time_goes


def _unquote(text: str | None) -> str:
    """IPython's argument splitter keeps quotes on values with spaces; drop one outer pair."""
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text or ""


@magics_class
class CourseMagics(Magics):
    @magic_arguments()
    @argument("--setup", "-s", default="", help="code run once before timing (quote it)")
    @argument("--samples", "-n", type=int, default=None, help="at most this many samples each")
    @argument("--budget", "-b", type=float, default=None,
              help="seconds of sampling per interpreter")
    @argument("--timeout", "-t", type=float, default=None,
              help="kill an interpreter's run after this many seconds")
    @argument("--jit", default=None, help="PyPy --jit options, e.g. off or threshold=200")
    @argument("-o", "--output", action="store_true", help="return the RaceResult object")
    @cell_magic
    def race(self, line, cell):
        """Race the cell on CPython and PyPy; show the table, the speedup and warm-up curves."""
        __tracebackhide__ = True
        args = parse_argstring(self.race, line)
        options = {
            k: v
            for k, v in (("samples", args.samples), ("budget", args.budget),
                         ("timeout", args.timeout), ("jit", args.jit))
            if v is not None
        }
        result = race(cell, setup=_unquote(args.setup), **options)
        if args.output:
            return result
        display(result)

    @magic_arguments()
    @argument("--timeout", "-t", type=float, default=60.0, help="seconds before the run is killed")
    @argument("--jit", default=None, help="PyPy --jit options, e.g. off or threshold=200")
    @argument("--cpython", action="store_true", help="run on CPython instead, for comparison")
    @argument("--time", action="store_true",
              help="also print wall time, CPU time, peak RSS and PyPy's nursery")
    @cell_magic
    def pypy(self, line, cell):
        """Run the cell as a script on PyPy and show what it printed."""
        __tracebackhide__ = True
        args = parse_argstring(self.pypy, line)
        which = "cpython" if args.cpython else "pypy"
        result = run(cell, interpreter=which, timeout=args.timeout, jit=args.jit, check=False)
        sys.stdout.write(result.stdout)
        if result.stderr and result.ok:
            sys.stderr.write(result.stderr)
        if args.time:
            print(
                f"[{result.interpreter.label}: wall {result.wall:.3f} s, "
                f"user {result.user:.3f} s, sys {result.sys:.3f} s, "
                f"peak RSS {result.peak_rss_text}]"
            )
            if result.nursery is not None:
                print(f"[{result.nursery.describe()}]")
        result.check()

    @magic_arguments()
    @argument("categories", nargs="?", default=None,
              help="PYPYLOG categories (comma-separated prefixes, e.g. jit-log-opt,gc-minor): "
                   "show a summary of that log; without them, show where the time goes")
    @argument("--timeout", "-t", type=float, default=60.0, help="seconds before the run is killed")
    @argument("--jit", default=None, help="PyPy --jit options, e.g. threshold=200")
    @argument("--nursery", default=None,
              help="PYPY_GC_NURSERY for the run, e.g. 1M (small nursery: minor GCs show up)")
    @argument("--keep", default=None, help="save the log to this path")
    @argument("--top", type=int, default=8, help="how many hottest loops to show")
    @argument("-o", "--output", action="store_true", help="return the result object")
    @cell_magic
    def pypylog(self, line, cell):
        """Run the cell once on PyPy with PYPYLOG on; show where the time goes (tracing, backend,
        GC, the rest, hottest loops), or with categories a summary of the log they give."""
        __tracebackhide__ = True

        args = parse_argstring(self.pypylog, line)
        env = {"PYPY_GC_NURSERY": args.nursery} if args.nursery else None
        options = dict(env=env, jit=args.jit, timeout=args.timeout, keep=args.keep)
        if args.categories:
            result = capture(cell, categories=_unquote(args.categories), **options)
            out = result.run.stdout
        else:
            result = where_time_goes(cell, top=args.top, **options)
            out = result.stdout
        sys.stdout.write(out)
        if args.output:
            return result
        display(result)

    @magic_arguments()
    @argument("--cpython", action="store_true", help="profile on CPython instead of PyPy")
    @argument("--both", action="store_true", help="profile on CPython and on PyPy, side by side")
    @argument("--min-samples", type=int, default=None,
              help="repeat the cell in one process until this many samples (0: never)")
    @argument("--lines", action="store_true", help="also record lines (CPython only)")
    @argument("--timeout", "-t", type=float, default=120.0, help="seconds before the run is killed")
    @argument("--keep", default=None, help="save the raw profile to this path")
    @argument("-o", "--output", action="store_true", help="return the Profile object")
    @cell_magic
    def vmprof(self, line, cell):
        """Run the cell as a script under vmprof (on PyPy unless --cpython); show the flame graph
        and the functions by self time."""
        __tracebackhide__ = True

        args = parse_argstring(self.vmprof, line)
        options = dict(lines=args.lines, timeout=args.timeout)
        if args.min_samples is not None:
            options["min_samples"] = args.min_samples
        if args.both:
            result = profile_both(cell, **options)
        else:
            result = profile(cell, interpreter="cpython" if args.cpython else "pypy",
                             keep=args.keep, **options)
            sys.stdout.write(result.stdout)
        if args.output:
            return result
        display(result)

    @magic_arguments()
    @argument("--top", type=int, default=10, help="how many of the most-run traces to show")
    @argument("--all", action="store_true", help="show every loop and bridge")
    @argument("--timeout", "-t", type=float, default=60.0, help="seconds before the run is killed")
    @argument("--jit", default=None, help="PyPy --jit options, e.g. threshold=200")
    @argument("--keep", default=None, help="save the raw log to this path")
    @argument("--html", default=None, help="also write the view as a standalone page here")
    @argument("--assembler", type=int, nargs="?", const=ASM_TOP, default=None, metavar="N",
              help=f"also show the machine code of the N most-run traces (default N: {ASM_TOP}; "
                   "needs binutils' objdump)")
    @argument("-o", "--output", action="store_true", help="return the Traces object")
    @cell_magic
    def jitview(self, line, cell):
        """Run the cell once on PyPy and show the JIT's traces (loops and bridges by runs, each
        mapped to the cell's lines with its operations; with ``--assembler``, the machine code
        of the most-run ones too)."""
        __tracebackhide__ = True

        args = parse_argstring(self.jitview, line)
        result = trace(cell, top=args.top, all=args.all, timeout=args.timeout, jit=args.jit,
                       keep=args.keep,
                       assembler=args.assembler if args.assembler is not None else False)
        sys.stdout.write(result.stdout)
        if args.html:
            result.to_html(args.html)
        if args.output:
            return result
        display(result)


def register(ipython) -> None:
    ipython.register_magics(CourseMagics)
