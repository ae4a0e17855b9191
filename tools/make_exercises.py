"""Derive exercises/NN-*.ipynb from solutions/NN-*.ipynb, so the pair can never drift.

Write each solution once and mark what the learner writes:

* a line ending in ``# solution``: ``name = expression  # solution`` becomes
  ``name = ...  # your code here`` (any other marked line becomes ``...  # your code here``);
* a block between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines becomes one
  ``...  # your code here`` line at the block's indentation;
* a cell tagged ``solution`` (a worked answer in prose, say) is left out of the exercise.

Outputs and execution counts are cleared in the exercise. Run ``python tools/make_exercises.py``
after editing a solution; ``--check`` exits 1 if any exercise is stale (the tests call it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
STUB = "...  # your code here"
_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][\w.,\s\[\]]*?)\s*=(?!=)\s*.*?#\s*solution\s*$")
_MARKED = re.compile(r"^(\s*).*#\s*solution\s*$")
_BEGIN = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#\s*END SOLUTION\s*$")


def blank_source(source: str) -> str:
    """The exercise version of one code cell's source."""
    out, indent_of_block = [], None
    for line in source.splitlines():
        if indent_of_block is not None:
            if _END.match(line):
                out.append(indent_of_block + STUB)
                indent_of_block = None
            continue
        begin = _BEGIN.match(line)
        if begin:
            indent_of_block = begin.group(1)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            out.append(f"{assign.group(1)}{assign.group(2).strip()} = {STUB}")
            continue
        marked = _MARKED.match(line)
        if marked:
            out.append(marked.group(1) + STUB)
            continue
        out.append(line)
    if indent_of_block is not None:
        raise ValueError("a '# BEGIN SOLUTION' block has no '# END SOLUTION'")
    return "\n".join(out)


def _kept_metadata(cell) -> dict:
    """A cell's metadata without what executing the solution wrote (timestamps)."""
    return {k: v for k, v in cell.get("metadata", {}).items() if k != "execution"}


def make_exercise(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    # the run time (course) and the state of widgets such as progress bars (widgets, new ids on
    # every run) belong to the executed solution, not to a blank exercise
    meta = {k: v for k, v in solution.metadata.items() if k not in ("course", "widgets")}
    nb = nbformat.v4.new_notebook(metadata=meta)
    for cell in solution.cells:
        meta = _kept_metadata(cell)
        if "solution" in meta.get("tags", []):
            continue
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(blank_source(cell.source), metadata=meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
        new.id = cell.get("id", new.id)
        nb.cells.append(new)
    return nb


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale exercises")
    args = parser.parse_args(argv)
    stale = []
    for sol in sorted((ROOT / "solutions").glob("*.ipynb")):
        ex = ROOT / "exercises" / sol.name
        text = render(make_exercise(nbformat.read(sol, as_version=4)))
        if ex.exists() and ex.read_text(encoding="utf-8") == text:
            continue
        stale.append(ex.relative_to(ROOT))
        if not args.check:
            ex.write_text(text, encoding="utf-8")
    orphans = {p.name for p in (ROOT / "exercises").glob("*.ipynb")} - {
        p.name for p in (ROOT / "solutions").glob("*.ipynb")}
    for name in sorted(orphans):
        print(f"exercises/{name} has no solution in solutions/")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    return 1 if (args.check and stale) or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
