"""How fast and how lean is the course's PYPYLOG parser on a big ``PYPYLOG=jit`` log?

Run it from the repository root with the course's CPython venv::

    .venv/bin/python benchmarks/pypylog_parse.py               # a ~200 MiB log (about a minute)
    .venv/bin/python benchmarks/pypylog_parse.py --quick       # smoke test: a ~5 MiB log
    .venv/bin/python benchmarks/pypylog_parse.py --size 50     # a ~50 MiB log
    .venv/bin/python benchmarks/pypylog_parse.py --log big.log # reuse a log you already have
    .venv/bin/python benchmarks/pypylog_parse.py --save big.log  # keep the generated log

The log is made by PyPy itself: a workload of benchmark-style kernels (n-body arithmetic,
Richards-like objects, word counting, a bytecode interpreter loop, generators, binary trees,
dict records with sorting, regular expressions) runs under ``PYPYLOG=jit:<file>``; each round
compiles fresh copies of the kernels (new code objects, so the JIT traces them again), until the
log reaches ``--size`` MiB. The log lives in a private temp dir removed afterwards (unless
``--save``).

Then, each in its own CPython child process started through :func:`helpers.runner.run`, and
alternating ``--repeat`` times (best time kept, since other programs only ever slow a run):

* the **bare scan**: read the file line by line and match every line against a regular
  expression for section markers, nothing else;
* the **structured parse**: :func:`helpers.pypylog.parse` (section tree, loops and bridges with
  their operations kept, jit-summary, backend counts, GC events).

Targets: the parse takes at most 3x the bare scan, and the parse child's peak RSS (its own, as
:class:`helpers.runner.RunResult` measures it, interpreter included) stays under 300 MiB.
It also checks that the loop and bridge counts the parser reports equal the log's jit-summary.

Exit status: 0 if every target is met (PASS), 1 if one is not (FAIL), 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the venv's course.pth does this too; be safe elsewhere
    sys.path.insert(0, str(ROOT))

from helpers import runner  # noqa: E402

MAX_RATIO = 3.0
MAX_RSS = 300 * 2**20
FULL_MB = 200
QUICK_MB = 5

# Runs on PyPy: fresh copies of the kernels, round after round, until the log is big enough.
WORKLOAD = r'''
import os, sys, time

KERNELS = r"""
def nbody_R(steps):
    bodies = [[float(i), float(i * 2), float(i * 3), 0.1 * i, 0.2, 0.3, 1.0 + i] for i in range(5)]
    for _ in range(steps):
        for i in range(len(bodies)):
            bi = bodies[i]
            for j in range(i + 1, len(bodies)):
                bj = bodies[j]
                dx = bi[0] - bj[0]; dy = bi[1] - bj[1]; dz = bi[2] - bj[2]
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = 0.001 / (d2 * d2 ** 0.5)
                bi[3] -= dx * bj[6] * mag; bj[3] += dx * bi[6] * mag
                bi[4] -= dy * bj[6] * mag; bj[4] += dy * bi[6] * mag
                bi[5] -= dz * bj[6] * mag; bj[5] += dz * bi[6] * mag
        for b in bodies:
            b[0] += 0.01 * b[3]; b[1] += 0.01 * b[4]; b[2] += 0.01 * b[5]
    return bodies[0][0]

class Task_R(object):
    def __init__(self, prio, kind):
        self.prio = prio; self.kind = kind; self.count = 0
    def run(self, x):
        self.count += 1
        if self.kind == 0:
            return x + self.prio
        elif self.kind == 1:
            return x * 2 % 1000003
        return x - 1

class Idle_R(Task_R):
    def run(self, x):
        self.count += 1
        return x ^ self.prio

def richards_R(n):
    tasks = [Task_R(i, i % 3) for i in range(7)] + [Idle_R(9, 0)]
    x = 1
    for i in range(n):
        x = tasks[i % len(tasks)].run(x)
    return x + sum(t.count for t in tasks)

def words_R(n):
    text = " ".join("w%d" % (i % 97) for i in range(n))
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    parts = []
    for k in sorted(counts):
        parts.append("%s=%d" % (k, counts[k]))
    return len(",".join(parts))

def interp_R(n):
    code = [(0, 1), (1, 0), (2, 3), (3, 0), (4, 0)]
    acc = 0; pc = 0; steps = 0
    while steps < n:
        op, arg = code[pc]
        if op == 0:
            acc += arg
        elif op == 1:
            acc = acc * 3 + 1
        elif op == 2:
            if acc % 2:
                acc //= 2
        elif op == 3:
            acc = acc % 100003
        else:
            pc = -1
        pc += 1
        steps += 1
    return acc

def gens_R(n):
    evens = (i for i in range(n) if i % 2 == 0)
    squares = [e * e for e in evens]
    return sum(x % 7 for x in squares) + len({x % 13 for x in squares})

def tree_R(depth):
    if depth == 0:
        return (None, None)
    return (tree_R(depth - 1), tree_R(depth - 1))

def check_R(t):
    l, r = t
    if l is None:
        return 1
    return 1 + check_R(l) + check_R(r)

def trees_R(n):
    total = 0
    for i in range(n):
        total += check_R(tree_R(6))
    return total

def records_R(n):
    rows = [{"id": i, "name": "n%d" % i, "score": (i * 37) % 101} for i in range(n)]
    rows.sort(key=lambda r: (r["score"], r["id"]))
    best = {}
    for r in rows:
        k = r["score"] % 10
        if k not in best or best[k]["id"] < r["id"]:
            best[k] = r
    return sum(v["score"] for v in best.values())

import re as re_R
PAT_R = re_R.compile(r"(\d+)-(\w+)")
def regex_R(n):
    s = 0
    for i in range(n):
        m = PAT_R.match("%d-abc%d" % (i, i % 10))
        if m:
            s += len(m.group(2))
    return s

def run_all_R(scale):
    return (nbody_R(60 * scale) + richards_R(4000 * scale) + words_R(3000 * scale)
            + interp_R(6000 * scale) + gens_R(5000 * scale) + trees_R(20 * scale)
            + records_R(800 * scale) + regex_R(2000 * scale))
"""

log_path, target, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.time()
rounds = size = 0
while True:
    ns = {}
    exec(compile(KERNELS.replace("_R", "_%d" % rounds), "kernels_%d.py" % rounds, "exec"), ns)
    ns["run_all_%d" % rounds](1)
    rounds += 1
    size = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    if size >= target or time.time() - start > limit:
        break
print('{"rounds": %d, "seconds": %.3f}' % (rounds, time.time() - start))
'''

# Runs on CPython: the bare line-by-line scan.
SCAN = r'''
import json, re, sys, time
marker = re.compile(r"\[([0-9a-fA-F]+)\] (\{)?([^\s{}]+)(\})?")
t = time.perf_counter()
n = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        if marker.match(line):
            n += 1
print(json.dumps({"seconds": time.perf_counter() - t, "markers": n}))
'''

# Runs on CPython: the structured parse, and what it found.
PARSE = r'''
import json, sys, time
sys.path.insert(0, sys.argv[2])
from helpers.pypylog import parse
t = time.perf_counter()
log = parse(sys.argv[1])
seconds = time.perf_counter() - t
s = log.summary
print(json.dumps({
    "seconds": seconds, "markers": log.markers, "loops": len(log.loops),
    "bridges": len(log.bridges), "tmp_callbacks": log.tmp_callbacks,
    "compiled_loops": log.compiled_loops, "compiled_bridges": log.compiled_bridges,
    "summary_loops": s.loops if s else None, "summary_bridges": s.bridges if s else None,
    "ops_text_mb": sum(len(t.text or "") for t in log.traces) / 2**20,
    "sections": sum(c.count for c in log.categories.values()),
    "warnings": log.warnings,
}))
'''


def _child(code: str, args, timeout: float) -> tuple:
    """Run ``code`` in a CPython child like this one; return (its JSON answer, RunResult)."""
    result = runner.run(code, interpreter=sys.executable, args=[str(a) for a in args],
                        timeout=timeout, env={"PYTHONPATH": str(ROOT)})
    return json.loads(result.stdout.strip().splitlines()[-1]), result


def generate(path: Path, size_mb: float, timeout: float) -> dict:
    """Make a PYPYLOG=jit log of about ``size_mb`` MiB at ``path`` by running PyPy."""
    target = int(size_mb * 2**20)
    result = runner.run(WORKLOAD, interpreter="pypy", args=[path, target, timeout * 0.8],
                        env={"PYPYLOG": f"jit:{path}"}, timeout=timeout)
    info = json.loads(result.stdout.strip().splitlines()[-1])
    info["wall"] = result.wall
    return info


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def measure(path: Path, repeat: int, timeout: float) -> dict:
    """Bare scan and structured parse, alternating, ``repeat`` times each; best times."""
    scans, parses, rss, found = [], [], [], None
    for _ in range(repeat):
        answer, _ = _child(SCAN, [path], timeout)
        scans.append(answer["seconds"])
        found, proc = _child(PARSE, [path, ROOT], timeout)
        parses.append(found["seconds"])
        rss.append(proc.max_rss)
    return {"scan": min(scans), "parse": min(parses), "scans": scans, "parses": parses,
            "rss": max((r for r in rss if r), default=None), "found": found}


def report(path: Path, size: int, lines: int, made, m: dict) -> bool:
    ratio = m["parse"] / m["scan"] if m["scan"] > 0 else float("inf")
    rss = m["rss"]
    found = m["found"]
    ok_ratio = ratio <= MAX_RATIO
    ok_rss = rss is not None and rss < MAX_RSS
    ok_counts = (found["summary_loops"] == found["compiled_loops"]
                 and found["summary_bridges"] == found["compiled_bridges"])
    mark = {True: "PASS", False: "FAIL"}
    print("PYPYLOG parse benchmark")
    how = (f"generated by PyPy under PYPYLOG=jit in {made['wall']:.1f} s, "
           f"{made['rounds']} rounds of the kernels" if made else "given with --log")
    print(f"  log:            {size / 2**20:.1f} MiB, {lines:,} lines, {found['markers']:,} "
          f"markers ({how})")
    print(f"  bare scan:      {m['scan']:.3f} s  (line-by-line regex; best of "
          f"{len(m['scans'])}: {', '.join(f'{x:.2f}' for x in m['scans'])})")
    print(f"  parse:          {m['parse']:.3f} s  (helpers.pypylog.parse; best of "
          f"{len(m['parses'])}: {', '.join(f'{x:.2f}' for x in m['parses'])})")
    print(f"  parse / scan:   {ratio:.2f}x  [target <= {MAX_RATIO:g}x]  {mark[ok_ratio]}")
    rss_text = "n/a" if rss is None else f"{rss / 2**20:.0f} MiB"
    print(f"  peak RSS:       {rss_text}  (the parse's child process)  "
          f"[target < {MAX_RSS / 2**20:.0f} MiB]  {mark[ok_rss]}")
    print(f"  parsed:         {found['loops']} loops, {found['bridges']} bridges "
          f"({found['ops_text_mb']:.1f} MiB of operations kept), {found['sections']:,} sections")
    print(f"  vs jit-summary: loops {found['compiled_loops']} (of which "
          f"{found['tmp_callbacks'] or 0} temporary callbacks) vs {found['summary_loops']}, "
          f"bridges {found['compiled_bridges']} vs {found['summary_bridges']}  "
          f"{mark[ok_counts]}")
    for w in found["warnings"]:
        print(f"  warning: {w}")
    ok = ok_ratio and ok_rss and ok_counts
    print(mark[ok])
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=float, default=None,
                        help=f"size of the generated log in MiB (default {FULL_MB})")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: a {QUICK_MB} MiB log, one repetition")
    parser.add_argument("--log", type=Path, default=None, help="parse this log, make none")
    parser.add_argument("--save", type=Path, default=None, help="keep the generated log here")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions of scan and parse (default 3, 1 with --quick)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed for each child process")
    args = parser.parse_args(argv)
    size_mb = args.size if args.size is not None else (QUICK_MB if args.quick else FULL_MB)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    try:
        if args.log is not None:
            if not args.log.is_file():
                print(f"no log at {args.log}", file=sys.stderr)
                return 2
            path = args.log
            ok = report(path, path.stat().st_size, count_lines(path), None,
                        measure(path, repeat, args.timeout))
        else:
            with runner.private_tmpdir() as tmp:
                path = tmp / "pypylog-jit.log"
                made = generate(path, size_mb, args.timeout)
                ok = report(path, path.stat().st_size, count_lines(path), made,
                            measure(path, repeat, args.timeout))
                if args.save is not None:
                    args.save.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(path), str(args.save))
                    print(f"log kept at {args.save}")
    except Exception:  # an error of the benchmark itself, not a FAIL
        traceback.print_exc()
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
