"""Exercises are derived from solutions, blank ones fail kindly, navigation is current."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_exercises  # noqa: E402
import nav  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


# ----------------------------------------------------------------------------- the generator

def test_single_line_answer_becomes_a_stub():
    src = "data = load()\nspeedup = r.speedup  # solution\nprint(speedup)"
    assert make_exercises.blank_source(src) == \
        "data = load()\nspeedup = ...  # your code here\nprint(speedup)"


def test_tuple_and_attribute_targets_and_bare_lines():
    src = "a, b = f()  # solution\n    total += x  # solution\nx.y = 3  # solution"
    assert make_exercises.blank_source(src).splitlines() == [
        "a, b = ...  # your code here",
        "    ...  # your code here",
        "x.y = ...  # your code here",
    ]


def test_comparison_is_not_taken_for_an_assignment():
    assert make_exercises.blank_source("ok = a == b  # solution") == "ok = ...  # your code here"
    assert make_exercises.blank_source("a == b  # solution") == "...  # your code here"


def test_block_becomes_one_indented_stub():
    src = "def f(x):\n    # BEGIN SOLUTION\n    y = x * 2\n    return y\n    # END SOLUTION\nf(1)"
    assert make_exercises.blank_source(src) == "def f(x):\n    ...  # your code here\nf(1)"


def test_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="END SOLUTION"):
        make_exercises.blank_source("# BEGIN SOLUTION\nx = 1")


def test_solution_cells_and_outputs_are_dropped():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Exercise"),
        nbformat.v4.new_code_cell("x = 41 + 1  # solution", outputs=[
            nbformat.v4.new_output("stream", text="42\n")], execution_count=3),
        nbformat.v4.new_markdown_cell("Because 42.", metadata={"tags": ["solution"]}),
    ]
    ex = make_exercises.make_exercise(nb)
    assert [c.source for c in ex.cells] == ["# Exercise", "x = ...  # your code here"]
    assert ex.cells[1].outputs == [] and ex.cells[1].execution_count is None


# ----------------------------------------------------------------------------- the committed pairs

def test_exercises_are_generated_from_their_solutions():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"run `python tools/make_exercises.py`:\n{proc.stdout}"


def test_navigation_and_index_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "nav.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"run `python tools/nav.py`:\n{proc.stdout}{proc.stderr}"


def test_every_lesson_has_an_exercise_pair():
    lessons = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert lessons, "no lessons found"
    assert {p.name for p in SOLUTIONS} == lessons
    assert {p.name for p in EXERCISES} == lessons


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_check_cells_say_what_they_check(path):
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if "check" in tags(c)]
    assert checks, f"{path.name} has no cell tagged 'check'"
    for cell in checks:
        assert cell.source.lstrip().startswith("# Check:"), cell.source[:80]


@pytest.mark.slow  # a kernel per exercise
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_blank_exercise_fails_kindly_at_a_check_cell(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    failed = [c for c in nb.cells if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1
    cell = failed[0]
    error = next(o for o in cell.outputs if o.output_type == "error")
    assert "check" in tags(cell), f"first failure is not in a check cell:\n{cell.source}"
    assert error.ename == "ExerciseNotDone", f"{error.ename}: {error.evalue}"
    assert "your code" in error.evalue or "..." in error.evalue or len(error.evalue) > 30
    assert "ExerciseNotDone" in str(info.value)


def test_run_time_and_widget_state_stay_with_the_solution():
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3"}, "course": {"run_seconds": 3.2},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1  # solution")]
    assert set(make_exercises.make_exercise(nb).metadata) == {"kernelspec"}


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_every_exercise_template_parses(path):
    """A blank exercise must fail at its check cells with their message, never with a
    SyntaxError in a template the generator left broken."""
    import ast
    import re

    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        source = "\n".join("" if re.match(r"\s*(%|!(?!=))", line) else line
                           for line in cell.source.splitlines())
        try:
            ast.parse(source)
        except SyntaxError as exc:
            raise AssertionError(f"{path.name} cell {i} does not parse ({exc.msg}, line "
                                 f"{exc.lineno}): mark a multi-line answer with a "
                                 "# BEGIN SOLUTION / # END SOLUTION block") from None
