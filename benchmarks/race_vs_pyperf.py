"""race() against pyperf, side by side in one run: does the course's timer agree with pyperf?

Run it from the repository root with the course's CPython venv::

    .venv/bin/python benchmarks/race_vs_pyperf.py            # the full benchmark (a few minutes)
    .venv/bin/python benchmarks/race_vs_pyperf.py --quick    # smoke test: tiny budgets

For each snippet (a pure-Python loop, a list comprehension) it measures

1. race()'s own overhead: the wall time of the race() call against the wall time of the
   child processes it started (the two harness runs and the start-up runs of ``pass``);
2. race()'s PyPy speedup (CPython's steady median / PyPy's, with race()'s bootstrap CI)
   against pyperf's (CPython's median / PyPy's median over all the values of all worker
   processes), and the difference in percent, PASS within ``--tolerance`` (15%).

pyperf runs as ``python -m pyperf timeit --python=<interpreter> -o <file> ...``, launched
through :func:`helpers.runner.run` in the interpreter being measured, so that its
JIT-aware defaults apply to PyPy (6 processes x 10 values, calibrated warm-ups) and its
CPython defaults (20 processes x 3 values, 1 warm-up) to CPython. The JSON it writes goes to
a private temp dir and is read back with ``pyperf.Benchmark.load``.

Exit status: 0 if every ratio is within the tolerance, 1 if one is not, 2 on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the venv's course.pth does this too; be safe elsewhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from helpers import runner  # noqa: E402
from helpers.interpreters import get_interpreter  # noqa: E402
from helpers.timing import format_seconds, race  # noqa: E402

# name -> (setup, stmt). On CPython 3.11 "loop" takes about 0.4 ms a run, "list" about 30 µs.
SNIPPETS = {
    "loop": ("", "total = 0\nfor i in range(10000):\n    total += i * i"),
    "list": ("", "[i * 2 for i in range(1000)]"),
}
INTERPRETERS = ("cpython", "pypy")
TOLERANCE = 15.0  # percent

# Full mode: race() exactly as the course calls it (its defaults), pyperf with its defaults.
FULL = {
    "race": {"samples": 200, "budget": 1.5},
    "pyperf": [],
}
# Quick mode: a smoke test of the machinery, the figures mean little.
QUICK = {
    "race": {"samples": 40, "budget": 0.25},
    "pyperf": ["--processes", "1", "--values", "3", "--warmups", "1", "--min-time", "0.005"],
}

PYPERF_TIMEOUT = 900.0  # seconds for one `pyperf timeit` (all its workers)
PYPERF_CODE = """\
import runpy
import sys
sys.argv = {argv!r}
runpy.run_module("pyperf", run_name="__main__", alter_sys=True)
"""


# ----------------------------------------------------------------------------- race


@dataclass
class RaceFigures:
    speedup: float
    ci: tuple
    median: dict  # interpreter -> steady median, seconds per run
    warmup: dict  # interpreter -> warm-up class
    samples: dict  # interpreter -> "steady / all"
    wall: float  # the race() call
    children: float  # sum of the children's wall times
    harness_wall: float  # of which the harness runs
    startup_wall: float  # of which the start-up runs
    n_children: int
    warnings: list = field(default_factory=list)

    @property
    def overhead(self) -> float:
        return self.wall - self.children


@contextlib.contextmanager
def recording_children():
    """Record every child that the runner starts: yields a list of (argv, wall).

    Every child of the course, whoever asks for it (``run``, ``ask``, the start-up runs),
    passes through ``helpers.runner._spawn``, which ``run`` looks up at call time: wrapping
    that module attribute sees the harness runs and the start-up runs alike.
    """
    children = []
    real = runner._spawn

    def recorded(*args, **kwargs):
        result = real(*args, **kwargs)
        children.append((result.argv, result.wall))
        return result

    runner._spawn = recorded
    try:
        yield children
    finally:
        runner._spawn = real


def measure_race(setup: str, stmt: str, settings: dict) -> RaceFigures:
    harness = str(Path(runner.__file__).with_name("harness.py"))
    with recording_children() as children:
        t0 = time.perf_counter()
        res = race(stmt, setup, interpreters=INTERPRETERS, startup=True, **settings)
        wall = time.perf_counter() - t0
    harness_wall = sum(w for argv, w in children if harness in map(str, argv))
    total = sum(w for _, w in children)
    return RaceFigures(
        speedup=float(res.speedup),
        ci=tuple(float(c) for c in res.ci),
        median={k: w.median for k, w in res.warmups.items()},
        warmup={k: w.kind for k, w in res.warmups.items()},
        samples={k: f"{w.count}/{w.n}" for k, w in res.warmups.items()},
        wall=wall,
        children=total,
        harness_wall=harness_wall,
        startup_wall=total - harness_wall,
        n_children=len(children),
        warnings=list(res.warnings),
    )


# ----------------------------------------------------------------------------- pyperf


@dataclass
class PyperfFigures:
    median: float  # seconds per run, over all values of all worker processes
    values: list  # per worker process: its values (seconds per run)
    warmups: int  # warm-up values per worker process (not counted)
    loops: int  # executions per value
    wall: float
    argv: list
    note: str  # pyperf's last line and its warnings


def measure_pyperf(setup: str, stmt: str, interpreter: str, extra: list) -> PyperfFigures:
    import pyperf

    interp = get_interpreter(interpreter)
    with runner.private_tmpdir() as tmp:
        out = tmp / "pyperf.json"
        argv = ["pyperf", "timeit", "--python", interp.path, "-o", str(out), *extra]
        if interp.name == "pypy":
            # run() gives the master the course's nursery (helpers.nursery); pyperf's workers
            # get it too, so both timers measure the same PyPy.
            argv.append("--inherit-environ=PYPY_GC_NURSERY")
        if setup.strip():
            argv += ["--setup", setup]
        argv += ["--", stmt]
        # pyperf's master runs in the interpreter it measures (so that PyPy gets pyperf's
        # JIT defaults); its workers are `--python`. run() kills the whole group on
        # timeout, Ctrl-C or error.
        proc = runner.run(PYPERF_CODE.format(argv=argv), interpreter=interp,
                          timeout=PYPERF_TIMEOUT, cwd=tmp)
        bench = pyperf.Benchmark.load(str(out))
    runs = [r for r in bench.get_runs() if r.values]
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    warned = [ln for ln in lines if ln.startswith("WARNING")]
    note = "; ".join((warned[:1] + lines[-1:]))
    return PyperfFigures(
        median=float(bench.median()),
        values=[list(r.values) for r in runs],
        warmups=int(np.median([len(r.warmups) for r in runs])),
        loops=int(runs[0].get_total_loops()),
        wall=proc.wall,
        argv=argv[:-1] + ["<stmt>"],
        note=note,
    )


def process_bootstrap_ci(a: list, b: list, n_boot: int = 2000, seed: int = 0) -> tuple:
    """95% CI of median(a) / median(b) resampling whole worker processes, then their values.

    pyperf's values are clustered by process (each process has its own hash seed, memory
    layout, JIT decisions), so the processes, not the values, are the independent units.
    """
    rng = np.random.default_rng(seed)

    def medians(groups):
        out = np.empty(n_boot)
        for i in range(n_boot):
            picked = rng.integers(0, len(groups), len(groups))
            pooled = np.concatenate([rng.choice(groups[j], len(groups[j])) for j in picked])
            out[i] = np.median(pooled)
        return out

    a = [np.asarray(g, float) for g in a]
    b = [np.asarray(g, float) for g in b]
    lo, hi = np.quantile(medians(a) / medians(b), [0.025, 0.975])
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- report


def _ratio(r: float) -> str:
    return f"{r:.3g}×" if r < 100 else f"{r:.0f}×"


def _ci(ci) -> str:
    return f"{ci[0]:.3g}–{ci[1]:.3g}×"


def measure_snippet(name: str, settings: dict, log) -> dict:
    setup, stmt = SNIPPETS[name]
    log(f"[{name}] race() ...")
    r = measure_race(setup, stmt, settings["race"])
    p = {}
    for interp in INTERPRETERS:
        log(f"[{name}] pyperf timeit on {interp} ...")
        p[interp] = measure_pyperf(setup, stmt, interp, settings["pyperf"])
    a, b = INTERPRETERS
    ratio = p[a].median / p[b].median
    return {"name": name, "race": r, "pyperf": p, "pyperf_ratio": ratio,
            "pyperf_ci": process_bootstrap_ci(p[a].values, p[b].values),
            "difference": 100.0 * (r.speedup / ratio - 1.0)}


def ratio_table(rows: list, tolerance: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "snippet": row["name"],
        "race speedup": _ratio(row["race"].speedup),
        "race 95% CI": _ci(row["race"].ci),
        "pyperf speedup": _ratio(row["pyperf_ratio"]),
        "pyperf 95% CI*": _ci(row["pyperf_ci"]),
        "difference": f"{row['difference']:+.1f}%",
        "verdict": "PASS" if abs(row["difference"]) <= tolerance else "FAIL",
    } for row in rows])


def times_table(rows: list) -> pd.DataFrame:
    out = []
    for row in rows:
        r = row["race"]
        for interp in INTERPRETERS:
            p = row["pyperf"][interp]
            out.append({
                "snippet": row["name"],
                "interpreter": interp,
                "race median": format_seconds(r.median[interp]),
                "race warm-up": r.warmup[interp],
                "race samples (steady/all)": r.samples[interp],
                "pyperf median": format_seconds(p.median),
                "pyperf processes×values": f"{len(p.values)}×{len(p.values[0])}",
                "pyperf warm-ups": p.warmups,
                "pyperf loops": f"{p.loops:,}",
                "race vs pyperf": f"{100 * (r.median[interp] / p.median - 1):+.1f}%",
            })
    return pd.DataFrame(out)


def overhead_table(rows: list) -> pd.DataFrame:
    return pd.DataFrame([{
        "snippet": row["name"],
        "race() wall": f"{row['race'].wall:.3f} s",
        "children wall": f"{row['race'].children:.3f} s",
        "(harness + start-up)": (f"{row['race'].harness_wall:.3f} + "
                                 f"{row['race'].startup_wall:.3f} s, "
                                 f"{row['race'].n_children} processes"),
        "overhead": f"{row['race'].overhead:.3f} s",
        "overhead %": f"{100 * row['race'].overhead / row['race'].wall:.1f}%",
    } for row in rows])


def _load() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def report(rows: list, tolerance: float, mode: str, elapsed: float, discovery: float,
           load: tuple, out=print) -> bool:
    """Print the tables and the verdict; return True if every ratio passes."""
    ok = all(abs(row["difference"]) <= tolerance for row in rows)
    wall = sum(row["race"].wall for row in rows)
    over = sum(row["race"].overhead for row in rows)
    out("")
    out("== race() overhead (its own work: spawning, reading results, statistics, tables) ==")
    out(overhead_table(rows).to_string(index=False))
    out(f"race overhead: {over:.3f} s of {wall:.3f} s race() wall time "
        f"({100 * over / wall:.1f}%) beyond its child processes")
    out(f"  plus, once per session, interpreter discovery (probing both binaries; cached "
        f"after): {discovery:.3f} s, done before the races above")
    out("")
    out("== per-run times: race (steady-state median) vs pyperf (median of all values) ==")
    out(times_table(rows).to_string(index=False))
    out("")
    out(f"== PyPy speedup (CPython time / PyPy time): race vs pyperf, tolerance ±{tolerance:g}% ==")
    out(ratio_table(rows, tolerance).to_string(index=False))
    out("* pyperf's CI: bootstrap over its worker processes, then their values "
        "(computed here, not by pyperf)")
    for row in rows:
        notes = [f"{k}: {p.note}" for k, p in row["pyperf"].items() if p.note]
        for note in notes:
            out(f"  pyperf {row['name']} {note}")
        for w in row["race"].warnings:
            out(f"  race {row['name']} warning: {w}")
    out("")
    loads = f"{load[0]:.2f} at the start, {_load():.2f} at the end"
    out(f"mode: {mode}; total {elapsed:.0f} s; load average {loads}, on {os.cpu_count()} CPUs")
    if max(load[0], _load()) > 0.5 * (os.cpu_count() or 1):
        out("CAUTION: other programs were running; timings move by 10-50% on a busy machine: "
            "re-run on a quiet one before trusting the verdict")
    diffs = ", ".join(f"{row['name']} {row['difference']:+.1f}%" for row in rows)
    if ok:
        out(f"VERDICT: PASS: race's speedup is within ±{tolerance:g}% of pyperf's ({diffs})")
    else:
        out(f"VERDICT: FAIL: race's speedup differs from pyperf's by more than "
            f"±{tolerance:g}% ({diffs})")
    return ok


def _jsonable(rows: list) -> list:
    return [{**row, "race": asdict(row["race"]),
             "pyperf": {k: asdict(p) for k, p in row["pyperf"].items()}} for row in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: tiny race() budgets, a minimal pyperf run")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="allowed difference between the ratios, percent (default 15)")
    parser.add_argument("--snippet", action="append", choices=sorted(SNIPPETS),
                        help="only this snippet (repeatable; default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    pyperf_args = " ".join(settings["pyperf"]) or "(none: pyperf's defaults)"
    print(f"race() settings: {settings['race']} (start-up measured); "
          f"extra pyperf timeit options: {pyperf_args}")
    start, load = time.perf_counter(), (_load(),)
    try:
        # race() finds the interpreters on its first call (a probe child each, cached for
        # the session); done here so that every race() below costs what a repeated call does.
        for interp in INTERPRETERS:
            get_interpreter(interp)
        discovery = time.perf_counter() - start
        rows = [measure_snippet(name, settings, log) for name in (args.snippet or SNIPPETS)]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("VERDICT: ERROR: the benchmark did not complete", flush=True)
        return 2
    ok = report(rows, args.tolerance, mode, time.perf_counter() - start, discovery,
                load)
    if args.json:
        Path(args.json).write_text(json.dumps(_jsonable(rows), indent=1), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
