"""pyperf's side of benchmarks/report_vs_pyperf.py: a learner's script timed by pyperf, in-process.

    python pyperf_script.py -o OUT.json --script PATH --script-args '["--size", "10"]' \
        --script-cwd FOLDER [pyperf options]

It runs in the interpreter being measured (CPython or PyPy, so pyperf's JIT-aware defaults apply
to PyPy) and hands pyperf's ``bench_func`` the same function the report's race times: the script
compiled once and run as ``__main__`` with ``sys.argv`` set and its output sent to ``os.devnull``
(``_make_report_runner`` of ``helpers/script_runner.py``, loaded from its file). pyperf's worker
processes are this file started again with the same ``--script*`` options (``add_cmdline_args``).
Stdlib and pyperf only; Python 3.9-compatible.
"""

import json
import os

import pyperf

RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers",
                      "script_runner.py")


def add_cmdline_args(cmd, args):
    cmd.extend(["--script", args.script, "--script-args", args.script_args,
                "--script-cwd", args.script_cwd])


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--script", required=True, help="the script to time")
    runner.argparser.add_argument("--script-args", default="[]",
                                  help="its arguments, as a JSON list of strings")
    runner.argparser.add_argument("--script-cwd", default=os.getcwd(),
                                  help="the folder it runs in")
    args = runner.parse_args()
    namespace = {"__name__": "script_runner"}
    with open(RUNNER, encoding="utf-8") as f:
        exec(compile(f.read(), RUNNER, "exec"), namespace)
    path = os.path.abspath(args.script)
    argv = [path] + list(json.loads(args.script_args))
    run_once = namespace["_make_report_runner"](path, argv, args.script_cwd)
    runner.bench_func(os.path.basename(path), run_once)


if __name__ == "__main__":
    main()
