"""The course's command line, ``python -m helpers <command> …``. Thin: each command parses its
arguments and calls the library.

    python -m helpers profile myscript.py -o profile.html                 # on PyPy
    python -m helpers profile myscript.py --interpreter cpython -- --size 10
    python -m helpers traces myscript.py -o traces.html [--all] -- --size 10  # the JIT's traces
    python -m helpers report myscript.py -o report.html -- --size 10  # all of it, one page
    python -m helpers why myscript.py -o why.html -- --size 10        # the JIT's own reasons

Arguments after ``--`` go to the learner's script. Add a command by writing a ``_setup_<name>``
function that fills its sub-parser and sets ``func`` (see ``_setup_profile``) and listing it in
``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys

from .grade import DEFAULT_TIMEOUT, GradeError, grade
from .profiling import profile
from .report import report
from .runner import ChildError
from .timing import BUDGET
from .traces import trace, view
from .whynot import why_not_faster

__all__ = ["main", "build_parser"]


def _setup_profile(sub) -> None:
    p = sub.add_parser(
        "profile", help="profile a script with vmprof and write a self-contained HTML report",
        description="Run a script under vmprof (on PyPy by default), read the profile on "
                    "CPython, print the top functions and write an HTML report that opens "
                    "offline. Arguments after -- are passed to the script.")
    p.add_argument("script", help="the Python script to profile")
    p.add_argument("-o", "--output", default="profile.html",
                   help="where to write the HTML report (default: %(default)s)")
    p.add_argument("--interpreter", "-i", default="pypy",
                   help="pypy (default), cpython, or a path to a Python binary")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the script this many times in one process (default: 1)")
    p.add_argument("--min-samples", type=int, default=None,
                   help="with fewer samples, run again repeated to collect them "
                        "(default: 200; 0 never repeats)")
    p.add_argument("--keep", metavar="PROF", default=None,
                   help="also save the raw vmprof profile here (for vmprofshow)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds before the run is killed (default: %(default)s)")
    p.add_argument("--top", type=int, default=10, help="functions printed (default: 10)")
    p.set_defaults(func=_run_profile)


def _run_profile(args, script_args) -> int:

    options = {"min_samples": args.min_samples} if args.min_samples is not None else {}
    prof = profile(script=args.script, interpreter=args.interpreter, args=script_args,
                   repeat=args.repeat, timeout=args.timeout, keep=args.keep, **options)
    _echo(prof.stdout)
    print(prof.headline())
    print(prof.table(args.top).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    return _write_page(prof, prof.warnings, args.output)


def _echo(stdout: str) -> None:
    """What the learner's script printed, ending with a newline."""
    if stdout:
        sys.stdout.write(stdout if stdout.endswith("\n") else stdout + "\n")


def _write_page(result, warnings, output) -> int:
    """Warnings to stderr, the result's page to ``output``; exit status 0."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    result.to_html(output)
    print(f"wrote {output}")
    return 0


def _setup_traces(sub) -> None:
    p = sub.add_parser(
        "traces", help="run a script on PyPy and write its JIT traces as a self-contained page",
        description="Run a script once on PyPy with the JIT's traces logged (PYPYLOG), rank "
                    "the loops and bridges by how often they ran and write an HTML page that "
                    "opens offline: the loop list, and each loop mapped to the script's own "
                    "lines with its operations. Arguments after -- are passed to the script.")
    p.add_argument("script", nargs="?", help="the Python script to run on PyPy")
    p.add_argument("-o", "--output", default="traces.html",
                   help="where to write the page (default: %(default)s)")
    p.add_argument("--top", type=int, default=10,
                   help="how many of the most-run traces to show (default: %(default)s)")
    p.add_argument("--all", action="store_true", help="show every loop and bridge")
    p.add_argument("--jit", default=None, help="PyPy --jit options, e.g. threshold=200")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds before the run is killed (default: %(default)s)")
    p.add_argument("--keep", metavar="LOG", default=None, help="also save the raw PYPYLOG here")
    p.add_argument("--log", metavar="LOG", default=None,
                   help="view this existing PYPYLOG instead of running a script")
    p.add_argument("--assembler", type=int, nargs="?", const=3, default=None, metavar="N",
                   help="also show the machine code of the N most-run traces (default N: 3; "
                        "needs binutils' objdump; the log must hold jit-backend-dump)")
    p.set_defaults(func=_run_traces)


def _run_traces(args, script_args) -> int:

    if args.log is not None:
        if args.script is not None:
            print("error: give a script or --log, not both", file=sys.stderr)
            return 2
        result = view(args.log, top=args.top, all=args.all, title=f"PyPy traces: {args.log}",
                      assembler=args.assembler if args.assembler is not None else False)
    elif args.script is None:
        print("error: give the script to run (or --log LOG)", file=sys.stderr)
        return 2
    else:
        result = trace(script=args.script, args=script_args, top=args.top, all=args.all,
                       jit=args.jit, timeout=args.timeout, keep=args.keep,
                       assembler=args.assembler if args.assembler is not None else False)
        _echo(result.stdout)
    print(result)
    return _write_page(result, result.log.warnings, args.output)


def _setup_report(sub) -> None:
    p = sub.add_parser(
        "report", help="everything the course measures on one script, as one HTML page",
        description="Run a script through every check of the course and write one "
                    "self-contained HTML report: a smoke run on CPython and PyPy (does it run, "
                    "same output?), a race against CPython with the warm-up curve, where the "
                    "time goes on PyPy, the top functions from vmprof and the hottest JIT "
                    "loops. The script runs in the current folder, as `python script.py` "
                    "would. Arguments after -- are passed to the script.",
        epilog="Exit status: 0 the report was written and the script ran on both "
               "interpreters; 3 the report was written but the script failed (the report "
               "says where and why); 1 no report (no such script, no PyPy ...); 2 bad "
               "options.")
    p.add_argument("script", help="the Python script to report on")
    p.add_argument("-o", "--output", default="report.html",
                   help="where to write the HTML report (default: %(default)s)")
    p.add_argument("--budget", type=float, default=BUDGET,
                   help="the most seconds of racing per interpreter: the race stops earlier "
                        "once both steady states are found, and says what budget it would "
                        "need when this is not enough (default: %(default)g)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before any one run is killed; a race round gets its share "
                        "of the budget plus this (default: %(default)g)")
    p.add_argument("--top", type=int, default=5,
                   help="hottest loops shown (default: %(default)s)")
    p.add_argument("--cwd", default=None,
                   help="run the script in this folder (default: the current one)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_report)


def _run_report(args, script_args) -> int:

    rep = report(args.script, script_args, output=args.output, cwd=args.cwd,
                 budget=args.budget, timeout=args.timeout, top=args.top,
                 progress=not args.quiet)
    print(rep)
    print(f"wrote {args.output}")
    return 0 if rep.ok else 3


def _setup_grade(sub) -> None:
    p = sub.add_parser(
        "grade", help="grade exercise notebooks with nbval: a table of submission x check",
        description="Run each submitted exercise notebook through nbval (the course's checker) "
                    "in its own temporary copy and fresh kernel, with a time limit per notebook "
                    "that kills runaway cells and every process they started, and write a "
                    "table of submission x check (passed / failed with the check's message / "
                    "not reached / timed out / missing / broken notebook) as CSV and as a "
                    "self-contained HTML page. Folders are searched for *.ipynb. Which "
                    "exercise a notebook is comes from its metadata, its file name (a "
                    "two-digit lesson number, e.g. 03-alice.ipynb) or its title. Submitted "
                    "files are never changed.",
        epilog="Exit status: 0 every submission was graded (whatever the students scored); "
               "1 grading itself failed; 2 bad arguments (no such file, no notebook).")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help="notebooks or folders of notebooks")
    p.add_argument("-o", "--output", default="grades",
                   help="folder for grades.csv and grades.html (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="seconds per notebook before it is killed (default: %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="notebooks graded at once (default: 1; timings in exercises are "
                        "steadier one at a time)")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per submission")
    p.set_defaults(func=_run_grade)


def _run_grade(args, script_args) -> int:
    if script_args:
        print("error: grade takes no arguments after --", file=sys.stderr)
        return 2
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        grades = grade(args.submissions, output=args.output, timeout=args.timeout,
                       jobs=args.jobs, progress=say)
    except GradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(grades.summary())
    for path in grades.written:
        print(f"wrote {path}")
    return 0


def _setup_why(sub) -> None:
    p = sub.add_parser(
        "why", help="why is a script not faster on PyPy: the JIT's own reasons, per hot function",
        description="Run a script on PyPy once with the JIT's log on and once under vmprof, "
                    "and say per hot function whether it ran compiled, which traces aborted "
                    "there and why, which bridges its guards needed, and what calls and "
                    "allocations are left in its hottest loop; each finding names its line and "
                    "the lesson that explains it. Arguments after -- go to the script.")
    p.add_argument("script", help="the Python script to look at")
    p.add_argument("-o", "--output", default="why.html",
                   help="where to write the HTML page (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a run is killed (default: %(default)s)")
    p.add_argument("--top", type=int, default=5, help="hot functions looked at "
                                                      "(default: %(default)s)")
    p.set_defaults(func=_run_why)


def _run_why(args, script_args) -> int:
    result = why_not_faster(args.script, script_args, timeout=args.timeout, top=args.top)
    print(result)
    return _write_page(result, getattr(result, "warnings", []), args.output)


COMMANDS = (_setup_profile, _setup_traces, _setup_report, _setup_why, _setup_grade)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers",
                                     description="The PyPy course's command line.")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for setup in COMMANDS:
        setup(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" belongs to the learner's script, untouched by argparse.
    script_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)

    try:
        return args.func(args, script_args)
    except (ChildError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
