"""Record the test fixtures of tests/fixtures/ on the PyPy at hand (tests/test_fixtures.py).

    .venv/bin/python tools/record_fixtures.py                 # PyPy of .venv-pypy
    .venv/bin/python tools/record_fixtures.py --pypy PATH     # another PyPy (a venv with vmprof)

Writes ``tests/fixtures/pypy-<version>-py<major.minor>/`` with:

- ``pypylog.gz``: a PYPYLOG of ``jit_program.py`` (a hot loop, a guard that fails often
  enough to get a bridge, traces that abort because they are too long, and allocation enough
  for minor and major collections); ``jit-backend-dump`` is left out so the log stays small;
- ``profile.vmprof.gz``: ``python -m vmprof --period 0.004 -o profile.vmprof
  profile_program.py``, gzipped;
- ``fixture.json``: the PyPy version, date, commands and sizes.

It also records real tracebacks (an exception, a SyntaxError, an exception raised in an
imported module, one raised in the standard library; each also with ``FORCE_COLOR=1``, as
ipykernel sets it, which colours the tracebacks of CPython 3.13 and PyPy 3.11) of that PyPy, and of every CPython given with ``--cpython``, into
``tests/fixtures/tracebacks/<interpreter>/``, for the traceback parser of helpers/report.py.
The temp folder the scripts ran from is written as ``/home/learner/proj`` in them.

The programs run inside PyPy, so they are stdlib-only and Python 3.9-compatible.
"""

import argparse
import datetime
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
#: What the PYPYLOG holds. jit-tracing brings the "ABORTING TRACING" lines the parser reads
#: aborts from; jit-abort-log is PyPy's own line per abort.
CATEGORIES = ("jit-log-opt", "jit-backend-counts", "jit-summary", "jit-abort-log", "jit-tracing",
              "gc-minor", "gc-collect")
#: Where the traceback scripts seem to have run (the real temp folder is replaced by this).
TB_FOLDER = "/home/learner/proj"

JIT_PROGRAM = r'''
"""A fixture for the PYPYLOG parser: loops, a bridge, aborted traces and GC work."""
import sys

def hot(n):
    # the hot loop; i % 7 == 0 fails the loop's guard one time in seven: a bridge
    total = 0
    for i in range(n):
        if i % 7 == 0:
            total += i * 3
        else:
            total -= 1
    return total

# A function far longer than a trace may be: traces through it abort as too long.
lines = ["def huge(x):"]
for k in range(1500):
    lines.append("    x = (x * %d + %d) %% 1000003" % (k % 13 + 2, k))
lines.append("    return x")
namespace = {}
exec(compile("\n".join(lines), "huge.py", "exec"), namespace)
huge = namespace["huge"]

def call_huge(n):
    x = 1
    for i in range(n):
        x = huge(x + i)
    return x

class Node(object):
    def __init__(self, value, next):
        self.value = value
        self.next = next

def allocate(rounds, keep):
    # short-lived objects (minor collections) and a long list of survivors that grows,
    # is dropped and grows again (major collections)
    kept = []
    total = 0
    for r in range(rounds):
        head = None
        for i in range(1000):
            head = Node(i, head)
            total += len(str(i))
        kept.append(head)
        if len(kept) > keep:
            kept = []
    return total

print(hot(2000000))
print(call_huge(3000))
print(allocate(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, 400))
'''

PROFILE_PROGRAM = r'''
"""A fixture for the vmprof reader: hot() does most of the work, warm() some."""
import time

def hot(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

def warm(n):
    total = 0
    for i in range(n):
        total += i % 3
    return total

def main(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        hot(30000)
        warm(10000)

main(1.2)
'''

#: The machine-code fixture (tests/test_assembler.py): one loop and one bridge, its PYPYLOG with
#: the backend's dumps and addresses, a few KB gzipped.
ASM_PROGRAM = r'''
def f(n):
    s = 0
    for i in range(n):
        if i % 7 == 0:
            s += i * 2
        else:
            s += 1
    return s

print(f(100000))
'''
ASM_CATEGORIES = ("jit-log-opt", "jit-backend-dump", "jit-backend-addr", "jit-backend-counts")

#: Variables that turn colour on or off in 3.13's and PyPy 3.11's tracebacks (ipykernel sets
#: FORCE_COLOR=1 for everything a notebook starts).
COLOUR_VARIABLES = ("FORCE_COLOR", "NO_COLOR", "PYTHON_COLORS", "TERM")

TB_SCRIPTS = {
    # name: {file: text}; main.py is the script run
    "exception": {"main.py": "def average(xs):\n    return sum(xs) / len(xs)\n\n"
                             "def main():\n    print(average([]))\n\nmain()\n"},
    "syntax": {"main.py": "def main():\n    print('hello'\n\nmain()\n"},
    "imported": {"main.py": "import helper\n\ndef main():\n    helper.parse('12x')\n\nmain()\n",
                 "helper.py": "def parse(text):\n    return int(text)\n"},
    "stdlib": {"main.py": "import json\n\ndef main():\n    json.loads('{bad')\n\nmain()\n"},
}


def describe(python):
    out = subprocess.run(
        [python, "-c", "import sys, platform; v = sys.version_info; "
         "p = getattr(sys, 'pypy_version_info', None); "
         "print(platform.python_implementation(), '%d.%d.%d' % v[:3], "
         "'%d.%d.%d' % p[:3] if p else '-')"],
        capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL, timeout=60)
    impl, version, pypy = out.stdout.split()
    return impl, version, None if pypy == "-" else pypy


def run(argv, cwd, env=None, timeout=300):
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PYPY", "PYTHON")) and k not in COLOUR_VARIABLES}
    full_env.update(env or {})
    return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def record_pypy(pypy: str, tracebacks: bool) -> Path:
    impl, version, pypy_version = describe(pypy)
    if impl != "PyPy":
        sys.exit(f"{pypy} is {impl}, not PyPy")
    out = FIXTURES / f"pypy-{pypy_version}-py{'.'.join(version.split('.')[:2])}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-fixtures-") as tmp:
        tmp = Path(tmp)
        (tmp / "jit_program.py").write_text(JIT_PROGRAM)
        (tmp / "profile_program.py").write_text(PROFILE_PROGRAM)
        log = tmp / "run.pypylog"
        # a small nursery: many minor collections and some major ones in a short run
        env = {"PYPYLOG": f"{','.join(CATEGORIES)}:{log}", "PYPY_GC_NURSERY": "1MB"}
        r = run([pypy, "jit_program.py"], tmp, env)
        if r.returncode:
            sys.exit(f"jit_program.py failed:\n{r.stderr}")
        with open(log, "rb") as src, gzip.GzipFile(out / "pypylog.gz", "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        raw_size = log.stat().st_size
        prof = tmp / "profile.vmprof"
        r = run([pypy, "-m", "vmprof", "--period", "0.004", "-o", str(prof), "profile_program.py"], tmp)
        if r.returncode:
            sys.exit(f"vmprof run failed:\n{r.stderr}")
        with open(prof, "rb") as src, gzip.GzipFile(out / "profile.vmprof.gz", "wb",
                                                     mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        prof_size = prof.stat().st_size
        vmprof = run([pypy, "-c", "import vmprof, importlib.metadata as m; "
                      "print(m.version('vmprof'))"], tmp).stdout.strip()
        (out / "jit_program.py").write_text(JIT_PROGRAM)
        (out / "profile_program.py").write_text(PROFILE_PROGRAM)
    meta = {
        "implementation": impl, "python_version": version, "pypy_version": pypy_version,
        "vmprof_version": vmprof, "platform": sys.platform,
        "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pypylog": {"file": "pypylog.gz", "program": "jit_program.py",
                    "command": f"PYPYLOG={','.join(CATEGORIES)}:run.pypylog "
                               "PYPY_GC_NURSERY=1MB pypy jit_program.py",
                    "bytes_uncompressed": raw_size,
                    "bytes_gzip": (out / "pypylog.gz").stat().st_size},
        "profile": {"file": "profile.vmprof.gz", "program": "profile_program.py",
                    "command": "pypy -m vmprof --period 0.004 -o profile.vmprof profile_program.py",
                    "bytes_uncompressed": prof_size,
                    "bytes_gzip": (out / "profile.vmprof.gz").stat().st_size},
        "recorded_with": "tools/record_fixtures.py",
    }
    (out / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}: log {raw_size:,} bytes "
          f"({meta['pypylog']['bytes_gzip']:,} gzipped), profile {prof_size:,} ({meta['profile']['bytes_gzip']:,} gzipped)")
    if tracebacks:
        record_tracebacks(pypy)
    record_asm(pypy)
    return out


def record_asm(pypy: str) -> Path:
    impl, version, pypy_version = describe(pypy)
    out = FIXTURES / "asm" / f"pypy-{pypy_version}-py{'.'.join(version.split('.')[:2])}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-fixtures-") as tmp:
        tmp = Path(tmp)
        (tmp / "asm_program.py").write_text(ASM_PROGRAM)
        log = tmp / "run.pypylog"
        r = run([pypy, "asm_program.py"], tmp, {"PYPYLOG": f"{','.join(ASM_CATEGORIES)}:{log}"})
        if r.returncode:
            sys.exit(f"asm_program.py failed:\n{r.stderr}")
        text = log.read_text().replace(os.path.realpath(tmp) + os.sep, TB_FOLDER + "/")
        text = text.replace(str(tmp) + os.sep, TB_FOLDER + "/")
        with gzip.GzipFile(out / "pypylog.gz", "wb", mtime=0) as dst:
            dst.write(text.encode())
        (out / "asm_program.py").write_text(ASM_PROGRAM)
    meta = {"implementation": impl, "python_version": version, "pypy_version": pypy_version,
            "recorded": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "pypylog": {"file": "pypylog.gz", "program": "asm_program.py",
                        "command": f"PYPYLOG={','.join(ASM_CATEGORIES)}:run.pypylog pypy "
                                   f"asm_program.py (its folder written as {TB_FOLDER})",
                        "bytes_uncompressed": len(text.encode()),
                        "bytes_gzip": (out / "pypylog.gz").stat().st_size},
            "recorded_with": "tools/record_fixtures.py"}
    (out / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}: log {meta['pypylog']['bytes_uncompressed']:,} bytes "
          f"({meta['pypylog']['bytes_gzip']:,} gzipped)")
    return out


def record_tracebacks(python: str) -> Path:
    impl, version, pypy_version = describe(python)
    name = (f"pypy-{pypy_version}-py{'.'.join(version.split('.')[:2])}" if pypy_version
            else f"cpython-{version}")
    out = FIXTURES / "tracebacks" / name
    out.mkdir(parents=True, exist_ok=True)
    cases = [(case, case, {}) for case in TB_SCRIPTS]
    # as run from a notebook: colour codes in the traceback where the interpreter has them
    cases += [(f"{case}-force-color", case, {"FORCE_COLOR": "1"}) for case in TB_SCRIPTS]
    for name, case, env in cases:
        with tempfile.TemporaryDirectory(prefix="course-tb-") as tmp:
            for fname, text in TB_SCRIPTS[case].items():
                Path(tmp, fname).write_text(text)
            r = run([python, "main.py"], tmp, env=env, timeout=60)
            assert r.returncode != 0, (case, r.stdout)
            real = os.path.realpath(tmp)
            stderr = r.stderr.replace(real + os.sep, TB_FOLDER + "/").replace(
                tmp + os.sep, TB_FOLDER + "/")
            (out / f"{name}.txt").write_text(stderr)
    print(f"wrote {out.relative_to(ROOT)}: {', '.join(name for name, _, _ in cases)}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pypy", default=str(ROOT / ".venv-pypy" / "bin" / "python"),
                    help="the PyPy to record on (needs vmprof; default: .venv-pypy's)")
    ap.add_argument("--cpython", action="append", default=[],
                    help="also record this CPython's tracebacks (repeatable)")
    ap.add_argument("--asm-only", action="store_true",
                    help="record only the machine-code fixture (tests/fixtures/asm/)")
    args = ap.parse_args(argv)
    if args.asm_only:
        record_asm(args.pypy)
        return
    record_pypy(args.pypy, tracebacks=True)
    for python in args.cpython:
        record_tracebacks(python)


if __name__ == "__main__":
    main()
