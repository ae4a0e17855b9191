"""The course's command line, ``python -m helpers <command> …``. Thin: each command parses its
arguments and calls the library.

    python -m helpers profile myscript.py -o profile.html                 # on PyPy
    python -m helpers profile myscript.py --interpreter cpython -- --size 10

Arguments after ``--`` go to the learner's script. Add a command by writing a ``_setup_<name>``
function that fills its sub-parser and sets ``func`` (see ``_setup_profile``) and listing it in
``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys

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
    from .profiling import profile

    options = {"min_samples": args.min_samples} if args.min_samples is not None else {}
    prof = profile(script=args.script, interpreter=args.interpreter, args=script_args,
                   repeat=args.repeat, timeout=args.timeout, keep=args.keep, **options)
    if prof.stdout:
        sys.stdout.write(prof.stdout)
        if not prof.stdout.endswith("\n"):
            sys.stdout.write("\n")
    print(prof.headline())
    print(prof.table(args.top).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    for warning in prof.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    prof.to_html(args.output)
    print(f"wrote {args.output}")
    return 0


COMMANDS = (_setup_profile,)


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
    from .runner import ChildError

    try:
        return args.func(args, script_args)
    except (ChildError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
