"""Derive exercises/NN-*.ipynb from solutions/NN-*.ipynb, so the pair can never drift.

Write each solution once and mark what the learner writes.

Answers (what the learner must get right; each one has a WRONG variant for the mutation test):

* a line ending in ``# solution; wrong: <expr>``: ``name = right  # solution; wrong: other``
  becomes ``name = ...  # your code here`` in the exercise and ``name = other`` in its mutant
  (a bare marked line, not an assignment, becomes ``...  # your code here`` and ``other``);
* a block between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines becomes one
  ``...  # your code here`` line at the block's indentation. A ``# WRONG`` line inside the block
  ends the right code; the lines after it, each commented out with ``# `` at the block's
  indentation, are the wrong variant (uncommented in the mutant, dropped from the exercise)::

      # BEGIN SOLUTION
      with open(path, "w") as f:
          f.write(data)
      # WRONG
      # open(path, "w").write(data)
      # END SOLUTION

  A wrong variant is a plausible mistake: another number, another name, the untouched slow code.
  ``tests/test_exercises.py`` runs each solution with one answer at a time replaced by its wrong
  variant and requires a check cell to fail with ``ExerciseNotDone``, so no check can be vacuous.
  A plain ``# solution`` line without ``wrong:`` is still blanked, but the tests reject it.

Predictions (made before a measurement, never graded):

* a line ending in ``# prediction``: ``guess = 5  # prediction`` becomes
  ``guess = ...  # your prediction here``. A check cell calls ``checks.predicted(guess=guess)``
  (it fails only while the prediction is blank), and a later check cell prints
  ``checks.versus(guess, measured)`` beside what the difference means. Predictions have no wrong
  variant: any prediction that was made is accepted.

Cells:

* a cell tagged ``solution`` (a worked answer in prose, say) is left out of the exercise;
* a check cell is tagged ``check`` and its first line is ``# Check: what it checks``; it also
  carries the tag of the kind of task it checks, so the tests can count them: ``predict`` (a
  prediction was recorded before the measurement), ``change`` (the learner changed code and the
  check measures the effect of the change on this machine, with a wide margin), ``evidence`` (the
  answer is read from the log, trace or profile of this run and checked against that same run,
  not against a fixed answer). Every exercise has at least one check cell of each kind.

Outputs and execution counts are cleared in the exercise. Run ``python tools/make_exercises.py``
after editing a solution; ``--check`` exits 1 if any exercise is stale (the tests call it).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import nbformat

ROOT = Path(__file__).resolve().parent.parent
STUB = "...  # your code here"
PREDICTION_STUB = "...  # your prediction here"
KINDS = ("predict", "change", "evidence")
_TARGET = r"^(\s*)([A-Za-z_][\w.,\s\[\]]*?)\s*=(?!=)\s*(.*?)\s*"
_WRONG = r"(?:\s*;\s*wrong:\s*(?P<wrong>.*?))?\s*$"
_ASSIGN = re.compile(_TARGET + r"#\s*solution" + _WRONG)
_MARKED = re.compile(r"^(\s*)(.*?)\s*#\s*solution" + _WRONG)
_PREDICTION = re.compile(_TARGET + r"#\s*prediction\s*$")
_BEGIN = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\s*$")
_WRONG_LINE = re.compile(r"^\s*#\s*WRONG\s*$")
_END = re.compile(r"^\s*#\s*END SOLUTION\s*$")
_COMMENTED = re.compile(r"^(\s*)# ?(.*)$")


@dataclass
class Answer:
    """One answer in a cell's source: lines ``start``..``end`` (inclusive, 0-based) and what the
    exercise and the mutant put in their place (``wrong`` None: no wrong variant was given)."""

    start: int
    end: int
    blank: List[str]
    wrong: Optional[List[str]]
    text: str


def answers(source: str) -> List[Answer]:
    """The answers marked in one code cell's source, in order (predictions are not answers)."""
    lines = source.splitlines()
    found, i = [], 0
    while i < len(lines):
        line = lines[i]
        begin = _BEGIN.match(line)
        if begin:
            indent, right, wrong, j, in_wrong = begin.group(1), [], None, i + 1, False
            while j < len(lines) and not _END.match(lines[j]):
                if _WRONG_LINE.match(lines[j]):
                    in_wrong, wrong = True, []
                elif in_wrong:
                    commented = _COMMENTED.match(lines[j])
                    if lines[j].strip() and not commented:
                        raise ValueError(f"line {j + 1}: a line after '# WRONG' must be commented "
                                         f"out ('# ' at the block's indentation): {lines[j]!r}")
                    code = commented.group(2) if commented else ""
                    wrong.append(commented.group(1) + code if code else "")
                else:
                    right.append(lines[j])
                j += 1
            if j == len(lines):
                raise ValueError("a '# BEGIN SOLUTION' block has no '# END SOLUTION'")
            found.append(Answer(i, j, [indent + STUB], wrong, "\n".join(right)))
            i = j + 1
            continue
        assign = _ASSIGN.match(line)
        marked = None if assign else _MARKED.match(line)
        if assign:
            indent, target = assign.group(1), assign.group(2).strip()
            wrong = assign.group("wrong")
            found.append(Answer(i, i, [f"{indent}{target} = {STUB}"],
                                None if wrong is None else [f"{indent}{target} = {wrong}"], line))
        elif marked:
            wrong = marked.group("wrong")
            found.append(Answer(i, i, [marked.group(1) + STUB],
                                None if wrong is None else [marked.group(1) + wrong], line))
        i += 1
    return found


def _replace(source: str, chosen) -> str:
    """``source`` with each (answer, replacement lines) pair in ``chosen`` put in place."""
    lines = source.splitlines()
    for answer, new in sorted(chosen, key=lambda pair: -pair[0].start):
        lines[answer.start:answer.end + 1] = new
    return "\n".join(lines)


def _blank_predictions(source: str) -> str:
    out = []
    for line in source.splitlines():
        prediction = _PREDICTION.match(line)
        out.append(f"{prediction.group(1)}{prediction.group(2).strip()} = {PREDICTION_STUB}"
                   if prediction else line)
    return "\n".join(out)


def blank_source(source: str) -> str:
    """The exercise version of one code cell's source."""
    return _blank_predictions(_replace(source, [(a, a.blank) for a in answers(source)]))


def wrong_source(source: str, k: int) -> str:
    """The solution cell's source with its ``k``-th answer replaced by its wrong variant (the
    others stay right), for the mutation test."""
    answer = answers(source)[k]
    if answer.wrong is None:
        raise ValueError(f"this answer has no wrong variant (add '; wrong: <expr>' to its "
                         f"'# solution' marker or a '# WRONG' part to its block):\n{answer.text}")
    return _replace(source, [(answer, answer.wrong)])


def predictions(source: str) -> List[str]:
    """The names a cell records predictions in."""
    return [m.group(2).strip() for m in map(_PREDICTION.match, source.splitlines()) if m]


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
