"""The report's race against pyperf on real programs: does `helpers.report` find the speedup
pyperf finds, and what does each cost?

Run it from the repository root with the course's CPython venv::

    .venv/bin/python benchmarks/report_vs_pyperf.py            # the full benchmark (3-16 min)
    .venv/bin/python benchmarks/report_vs_pyperf.py --quick    # smoke test: tiny runs

For each program (two of the course's examples and a raytracer from pyperformance, vendored in
benchmarks/programs/), run from another folder (a private temp dir) with arguments, it measures

1. ``helpers.report(script, args, cwd=<other folder>)`` with its defaults, as a learner calls
   it: the whole report's wall time, the race's time and its steady-state speedup (CPython's
   steady median per run of the script over PyPy's, with the race's bootstrap CI);
2. pyperf on the same workload: ``benchmarks/pyperf_script.py`` hands pyperf's ``bench_func``
   the same in-process run of the script that the report's race times (compiled once, run as
   ``__main__``, output to os.devnull), launched through :func:`helpers.runner.run` in the
   interpreter being measured, so its defaults apply (CPython: 20 processes x 3 values; PyPy:
   6 processes x 10 values, warm-ups calibrated for the JIT). pyperf's speedup is CPython's
   median over PyPy's, over all values of all workers;
3. the difference, ``report speedup / pyperf speedup - 1``, PASS within ``--tolerance`` (20%).

Exit status: 0 if every speedup is within the tolerance, 1 if one is not, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for folder in (ROOT, HERE):  # the venv's course.pth adds ROOT; HERE for race_vs_pyperf
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from helpers import runner  # noqa: E402
from helpers.interpreters import get_interpreter  # noqa: E402
from helpers.report import report  # noqa: E402
from helpers.timing import format_seconds  # noqa: E402
from race_vs_pyperf import _ci, _load, _ratio, process_bootstrap_ci  # noqa: E402

EXAMPLES = ROOT / "notebooks" / "examples"
# name -> (script, full-mode arguments, quick-mode arguments)
PROGRAMS = {
    "lifegame": (EXAMPLES / "lifegame.py", ["300"], ["30"]),
    "tinylang": (EXAMPLES / "tinylang.py", ["--limit", "6000"], ["--limit", "300"]),
    "raytrace": (HERE / "programs" / "raytrace.py", ["--width", "100", "--height", "100"],
                 ["--width", "20", "--height", "20"]),
}
INTERPRETERS = ("cpython", "pypy")
TOLERANCE = 20.0  # percent
PYPERF_SCRIPT = HERE / "pyperf_script.py"
PYPERF_TIMEOUT = 1800.0  # seconds for one pyperf run (all its workers)

# Full mode: the report with its defaults, pyperf with its defaults.
FULL = {"report": {}, "pyperf": []}
# Quick mode: a smoke test of the machinery; the figures mean little.
QUICK = {"report": {"budget": 1.0, "min_samples": 0, "timeout": 60},
         "pyperf": ["--processes", "1", "--values", "3", "--warmups", "1", "--min-time",
                    "0.005"]}


@dataclass
class ReportFigures:
    speedup: float
    ci: tuple
    median: dict  # interpreter -> steady median, seconds per run of the script
    warmup: dict  # interpreter -> warm-up class of its last round
    rounds: dict  # interpreter -> samples per round, e.g. "15 + 23"
    steady: dict  # interpreter -> steady state found within the budget
    number: dict  # interpreter -> runs of the script per sample
    budget: float
    race_wall: float  # the race, start-ups included
    wall: float  # the whole report
    headline: str
    warnings: list = field(default_factory=list)


@dataclass
class PyperfFigures:
    median: float
    values: list  # per worker process: its values (seconds per run)
    warmups: int
    loops: int
    wall: float
    note: str


def measure_report(script: Path, args: list, settings: dict, cwd: Path) -> ReportFigures:
    t0 = time.perf_counter()
    rep = report(script, args, cwd=cwd, progress=False, **settings)
    wall = time.perf_counter() - t0
    r = rep.race
    if r is None:
        raise RuntimeError(f"the report's race did not run: {rep.section('race').summary}")
    c = r.convergence
    return ReportFigures(
        speedup=float(r.speedup), ci=tuple(float(v) for v in r.ci),
        median={k: w.median for k, w in r.warmups.items()},
        warmup={k: w.kind for k, w in r.warmups.items()},
        rounds={k: " + ".join(str(x.samples) for x in c.rounds[k]) for k in c.rounds},
        steady={k: c.steady(k) for k in c.rounds}, number=dict(c.number), budget=c.budget,
        race_wall=c.seconds, wall=wall, headline=r.headline(), warnings=list(r.warnings))


def measure_pyperf(script: Path, args: list, interpreter: str, extra: list,
                   cwd: Path) -> PyperfFigures:
    import pyperf

    interp = get_interpreter(interpreter)
    with runner.private_tmpdir() as tmp:
        out = tmp / "pyperf.json"
        argv = ["-o", str(out), "--script", str(script), "--script-args", json.dumps(args),
                "--script-cwd", str(cwd), *extra]
        if interp.name == "pypy":  # pyperf's workers get the nursery run() gives the master
            argv.append("--inherit-environ=PYPY_GC_NURSERY")
        proc = runner.run(script=PYPERF_SCRIPT, args=argv, interpreter=interp, cwd=cwd,
                          timeout=PYPERF_TIMEOUT)
        bench = pyperf.Benchmark.load(str(out))
    runs = [r for r in bench.get_runs() if r.values]
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    warned = [ln for ln in lines if ln.startswith("WARNING")]
    return PyperfFigures(median=float(bench.median()), values=[list(r.values) for r in runs],
                         warmups=int(np.median([len(r.warmups) for r in runs])),
                         loops=int(runs[0].get_total_loops()), wall=proc.wall,
                         note="; ".join(warned[:1] + lines[-1:]))


def measure_program(name: str, settings: dict, quick: bool, log) -> dict:
    script, full_args, quick_args = PROGRAMS[name]
    args = quick_args if quick else full_args
    with runner.private_tmpdir() as other:  # run from another folder than the script's
        log(f"[{name}] helpers.report({script.name}, {args}, cwd=<tmp>) ...")
        r = measure_report(script, args, settings["report"], other)
        p = {}
        for interp in INTERPRETERS:
            log(f"[{name}] pyperf on {interp} ...")
            p[interp] = measure_pyperf(script, args, interp, settings["pyperf"], other)
    a, b = INTERPRETERS
    ratio = p[a].median / p[b].median
    return {"name": name, "args": args, "report": r, "pyperf": p, "pyperf_ratio": ratio,
            "pyperf_ci": process_bootstrap_ci(p[a].values, p[b].values),
            "difference": 100.0 * (r.speedup / ratio - 1.0)}


# ----------------------------------------------------------------------------- tables


def ratio_table(rows: list, tolerance: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "program": row["name"],
        "report speedup": _ratio(row["report"].speedup),
        "report 95% CI": _ci(row["report"].ci),
        "pyperf speedup": _ratio(row["pyperf_ratio"]),
        "pyperf 95% CI*": _ci(row["pyperf_ci"]),
        "difference": f"{row['difference']:+.1f}%",
        "verdict": "PASS" if abs(row["difference"]) <= tolerance else "FAIL",
    } for row in rows])


def cost_table(rows: list) -> pd.DataFrame:
    out = []
    for row in rows:
        r, p = row["report"], row["pyperf"]
        out.append({
            "program": row["name"],
            "report (whole)": f"{r.wall:.1f} s",
            "of which race": f"{r.race_wall:.1f} s",
            "pyperf CPython": f"{p['cpython'].wall:.1f} s",
            "pyperf PyPy": f"{p['pypy'].wall:.1f} s",
            "pyperf (both)": f"{p['cpython'].wall + p['pypy'].wall:.1f} s",
        })
    return pd.DataFrame(out)


def times_table(rows: list) -> pd.DataFrame:
    out = []
    for row in rows:
        r = row["report"]
        for interp in INTERPRETERS:
            p = row["pyperf"][interp]
            out.append({
                "program": row["name"],
                "interpreter": interp,
                "report median": format_seconds(r.median[interp]),
                "warm-up": r.warmup[interp],
                "steady": "yes" if r.steady[interp] else "NO (cap)",
                "rounds (samples)": r.rounds[interp],
                "runs/sample": r.number[interp],
                "pyperf median": format_seconds(p.median),
                "pyperf proc×values": f"{len(p.values)}×{len(p.values[0])}",
                "pyperf warm-ups": p.warmups,
                "report vs pyperf": f"{100 * (r.median[interp] / p.median - 1):+.1f}%",
            })
    return pd.DataFrame(out)


def print_report(rows: list, tolerance: float, mode: str, elapsed: float, load: float,
                 out=print) -> bool:
    ok = all(abs(row["difference"]) <= tolerance for row in rows)
    out("")
    out("== cost: the whole report (smoke runs, race, log, profile, traces) vs pyperf ==")
    out(cost_table(rows).to_string(index=False))
    out("")
    out("== per-run times: report (steady median of its last round) vs pyperf (median) ==")
    out(times_table(rows).to_string(index=False))
    out("")
    out(f"== PyPy speedup (CPython time / PyPy time): report vs pyperf, tolerance "
        f"±{tolerance:g}% ==")
    out(ratio_table(rows, tolerance).to_string(index=False))
    out("* pyperf's CI: bootstrap over its worker processes, then their values "
        "(computed here, not by pyperf)")
    for row in rows:
        out(f"  {row['name']} {' '.join(row['args'])}: report says: {row['report'].headline}")
        for k, p in row["pyperf"].items():
            if p.note:
                out(f"  pyperf {row['name']} {k}: {p.note}")
        for w in row["report"].warnings:
            out(f"  report {row['name']} warning: {w}")
    out("")
    loads = f"{load:.2f} at the start, {_load():.2f} at the end"
    out(f"mode: {mode}; total {elapsed:.0f} s; load average {loads}, on {os.cpu_count()} CPUs")
    if max(load, _load()) > 0.5 * (os.cpu_count() or 1):
        out("CAUTION: other programs were running; timings move by 10-50% on a busy machine: "
            "re-run on a quiet one before trusting the verdict")
    diffs = ", ".join(f"{row['name']} {row['difference']:+.1f}%" for row in rows)
    if ok:
        out(f"VERDICT: PASS: the report's speedup is within ±{tolerance:g}% of pyperf's "
            f"({diffs})")
    else:
        out(f"VERDICT: FAIL: the report's speedup differs from pyperf's by more than "
            f"±{tolerance:g}% ({diffs})")
    return ok


def _jsonable(rows: list) -> list:
    return [{**row, "report": asdict(row["report"]),
             "pyperf": {k: asdict(p) for k, p in row["pyperf"].items()}} for row in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: tiny programs and budgets, a minimal pyperf run")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="allowed difference between the speedups, percent (default 20)")
    parser.add_argument("--program", action="append", choices=sorted(PROGRAMS),
                        help="only this program (repeatable; default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    print(f"report() options: {settings['report'] or '(none: its defaults)'}; extra pyperf "
          f"options: {' '.join(settings['pyperf']) or '(none: its defaults)'}")
    start, load = time.perf_counter(), _load()
    try:
        for interp in INTERPRETERS:
            get_interpreter(interp)
        rows = [measure_program(name, settings, args.quick, log)
                for name in (args.program or PROGRAMS)]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("VERDICT: ERROR: the benchmark did not complete", flush=True)
        return 2
    ok = print_report(rows, args.tolerance, mode, time.perf_counter() - start, load)
    if args.json:
        Path(args.json).write_text(json.dumps(_jsonable(rows), indent=1), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
