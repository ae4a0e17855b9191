"""Cell magics for live coding: ``%%race`` and ``%%pypy``. Thin front ends over the library.

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

from .runner import run
from .timing import race


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
    @argument("--time", action="store_true", help="also print wall time, CPU time and peak RSS")
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
        result.check()


def register(ipython) -> None:
    ipython.register_magics(CourseMagics)
