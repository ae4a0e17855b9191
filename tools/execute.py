"""Execute notebooks in place, so their committed outputs are real and current.

    python tools/execute.py notebooks/*.ipynb solutions/*.ipynb

Each notebook runs top to bottom in a fresh kernel with its own folder as working directory;
the time each took is printed and kept in the notebook's metadata (``course.run_seconds``), with
the machine it ran on (``course.machine``: CPU model, cores, PyPy), from where tools/nav.py quotes
both in the index and the README. A cell that fails stops that notebook
and the command exits 1, leaving the file unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def machine() -> str:
    """The machine notebooks are executed on, as the index names it: "AMD EPYC, 2 cores, PyPy
    7.3.11 (Python 3.9.16)"."""
    import os

    model = "an unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = " ".join(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    text = f"{model}, {os.cpu_count()} cores"
    try:
        from helpers.interpreters import find_pypy

        text += f", {find_pypy().label}"
    except Exception:  # no PyPy: the notebooks will say so themselves
        pass
    return text


def execute(path: Path, timeout: int = 600, where: str = "") -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    meta = nb.metadata.setdefault("course", {})
    meta["run_seconds"] = round(elapsed, 1)
    meta["machine"] = where or machine()
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    failed = 0
    where = machine()
    for path in args.notebooks:
        try:
            seconds = execute(path, args.timeout, where)
        except CellExecutionError as exc:
            failed += 1
            print(f"FAILED {path}:\n{exc}", file=sys.stderr)
            continue
        print(f"{seconds:7.1f} s  {path}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
