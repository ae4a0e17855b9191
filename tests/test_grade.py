"""`./course grade`: a class's notebooks graded through nbval, one table, nothing left behind."""

import csv
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from helpers import cli, grade as g
from helpers.runner import MARK

ROOT = Path(__file__).resolve().parents[1]
NEW = nbformat.v4
LIMIT = 15  # seconds per notebook: room for a kernel to start on a busy machine


def tiny_course(root: Path) -> Path:
    """A course with one two-check exercise that runs in a moment."""
    nb = NEW.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                   "display_name": "Python 3"}})
    nb.cells = [
        NEW.new_markdown_cell("# Exercise 01 · Tiny"),
        NEW.new_code_cell("from helpers import checks"),
        NEW.new_code_cell("total = ...  # your code here"),
        NEW.new_code_cell("# Check: the total of 1..10\nchecks.answered(total=total)\n"
                          "checks.expect(total == 55, f'1 + 2 + ... + 10 is not {total}: "
                          "did you use range(1, 11)?')", metadata={"tags": ["check"]}),
        NEW.new_code_cell("name = ...  # your code here"),
        NEW.new_code_cell("# Check: the interpreter's name\nchecks.answered(name=name)\n"
                          "checks.expect(name in ('PyPy', 'CPython'), 'Say PyPy or CPython.')",
                          metadata={"tags": ["check"]}),
    ]
    (root / "exercises").mkdir(parents=True)
    nbformat.write(nb, root / "exercises" / "01-tiny.ipynb")
    return root


def submission(folder: Path, name: str, total="...", name_answer="...", extra=None,
               check_source=None) -> Path:
    nb = nbformat.read(folder.parent / "course" / "exercises" / "01-tiny.ipynb", as_version=4)
    nb.cells[2].source = f"total = {total}"
    nb.cells[4].source = f"name = {name_answer}"
    if check_source is not None:
        nb.cells[3].source = check_source
    if extra is not None:
        nb.cells.insert(2, NEW.new_code_cell(extra))
    path = folder / name
    nbformat.write(nb, path)
    return path


def statuses(grades, path) -> list:
    return [o.status for o in grades.rows if o.submission == str(path)]


def grading_processes() -> list:
    """Processes the grading started that still run: every one has its HOME in a copy's
    folder (course-grade-...), kernels and the endless notebook's escaped sleeper included."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if f"{MARK}=".encode() in env and b"/course-grade-" in env:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One grading run over every kind of submission (two at a time, LIMIT seconds each)."""
    base = tmp_path_factory.mktemp("grading")
    course = tiny_course(base / "course")
    subs = base / "class"
    subs.mkdir()
    keep = subs / "roster.txt"  # not a notebook: never graded, never to be touched
    keep.write_text("the teacher's file\n")
    paths = {
        "blank": submission(subs, "01-blank.ipynb"),
        "solved": submission(subs, "alice-01.ipynb", "sum(range(1, 11))", "'PyPy'"),
        "half": submission(subs, "bob_01.ipynb", "sum(range(1, 11))"),
        "wrong": submission(subs, "01-carol.ipynb", "sum(range(10))", "'Jython'"),
        "endless": submission(subs, "01-dave.ipynb", "55", "'PyPy'",
                              extra="import subprocess, sys, time\n"
                                    "subprocess.Popen([sys.executable, '-c', "
                                    "'import time; time.sleep(600)'], start_new_session=True)\n"
                                    "while True:\n    time.sleep(0.1)"),
        "raises": submission(subs, "01-erin.ipynb", "55", "'PyPy'",
                             extra="raise RuntimeError('my bug')"),
        "syntax": submission(subs, "01-frank.ipynb", "sum(range(1, 11)", "'PyPy'"),
        "edited": submission(subs, "01-gina.ipynb", "0", "'PyPy'",
                             check_source="# Check: the total of 1..10\npass"),
        "escape": submission(subs, "01-hank.ipynb", "55", "'PyPy'",
                             extra=f"for target in [{str(subs / '01-blank.ipynb')!r}, {str(keep)!r}]:\n"
                                   "    open(target, 'w').write('gotcha')"),
    }
    (subs / "01-json.ipynb").write_text('{"cells": [', encoding="utf-8")
    (subs / "01-text.ipynb").write_text("not a notebook at all\n", encoding="utf-8")
    (subs / "01-latin1.ipynb").write_bytes(b"\xff\xfe caf\xe9")
    paths.update(json=subs / "01-json.ipynb", text=subs / "01-text.ipynb",
                 latin1=subs / "01-latin1.ipynb")
    inputs = {p: p.read_bytes() for p in subs.iterdir()}
    inputs[keep] = keep.read_bytes()
    private_tmp = base / "tmp"  # the grader's temp files, apart from anything else running
    private_tmp.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(private_tmp)
    start = time.perf_counter()
    try:
        grades = g.grade([subs], output=base / "out", timeout=LIMIT, jobs=2, root=course)
    finally:
        tempfile.tempdir = saved
    return {"grades": grades, "paths": paths, "inputs": inputs, "base": base,
            "seconds": time.perf_counter() - start, "tmp": private_tmp}


@pytest.mark.slow
def test_each_kind_of_submission_gets_its_statuses(graded):
    grades, p = graded["grades"], graded["paths"]
    assert statuses(grades, p["solved"]) == ["passed", "passed"]
    assert statuses(grades, p["blank"]) == ["failed", "failed"]
    assert statuses(grades, p["half"]) == ["passed", "failed"]
    assert statuses(grades, p["wrong"]) == ["failed", "failed"]
    assert statuses(grades, p["endless"]) == ["timed out", "not reached"]
    assert statuses(grades, p["raises"]) == ["passed", "passed"]
    assert statuses(grades, p["syntax"])[0] == "failed"
    assert statuses(grades, p["edited"]) == ["failed", "passed"]  # its own check is not used
    for key in ("json", "text", "latin1"):
        assert statuses(grades, p[key]) == ["broken notebook"], key


@pytest.mark.slow
def test_messages_are_the_checks_own(graded):
    rows = {(o.submission, o.check): o for o in graded["grades"].rows}
    p = graded["paths"]
    assert "`total` is still blank" in rows[(str(p["blank"]), 1)].message
    assert "is not 45: did you use range(1, 11)?" in rows[(str(p["wrong"]), 1)].message
    assert rows[(str(p["wrong"]), 2)].message == "Say PyPy or CPython."
    assert "SyntaxError" in rows[(str(p["syntax"]), 1)].message or \
        "NameError" in rows[(str(p["syntax"]), 1)].message
    assert "is not 0" in rows[(str(p["edited"]), 1)].message
    assert "JSON" in rows[(str(p["json"]), 0)].message
    assert "UTF-8" in rows[(str(p["latin1"]), 0)].message
    notes = {gr.submission: " ".join(gr.notes) for gr in graded["grades"].graded}
    assert "RuntimeError: my bug" in notes[str(p["raises"])]
    assert "edited" in notes[str(p["edited"])]
    assert f"timed out after {LIMIT:.0f}" in notes[str(p["endless"])]


@pytest.mark.slow
def test_nothing_changed_nothing_left_running_no_temp_files(graded):
    for path, data in graded["inputs"].items():
        if path.suffix != ".ipynb" and os.geteuid() != 0:
            continue  # without root only the submitted notebooks are put back
        assert path.read_bytes() == data, f"{path} was changed"
    assert not grading_processes()
    assert not list(graded["tmp"].iterdir()), "temp files left behind"
    # the endless one cost its limit once, not more (the margin is for a loaded machine)
    endless = next(gr for gr in graded["grades"].graded
                   if gr.submission == str(graded["paths"]["endless"]))
    assert LIMIT <= endless.seconds < 2 * LIMIT


@pytest.mark.slow
def test_writing_outside_the_copy_is_refused_or_reported(graded):
    escape = next(gr for gr in graded["grades"].graded
                  if gr.submission == str(graded["paths"]["escape"]))
    assert statuses(graded["grades"], graded["paths"]["escape"]) == ["passed", "passed"]
    if os.geteuid() != 0:
        assert any("changed outside its copy" in n for n in escape.notes), escape.notes
    else:  # the folders were read-only for it: its write failed, in its own cell
        assert any("Read-only file system" in n for n in escape.notes), escape.notes


@pytest.mark.slow
def test_table_is_written_as_csv_and_escaped_html(graded):
    out = graded["base"] / "out"
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    assert len(rows) == len(graded["grades"].rows)
    assert {r["status"] for r in rows} >= {"passed", "failed", "timed out", "not reached",
                                           "broken notebook"}
    page = (out / "grades.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<script src" not in page
    assert "`total` is still blank" in page
    assert "<b>" not in page.split("<body>")[1] or "&lt;" in page
    summary = graded["grades"].summary()
    assert summary.startswith("graded 12 submissions of 2 exercises") and "1 timed out" in summary


# ----------------------------------------------------------------------------- the steps

def test_identify_by_metadata_name_and_title(tmp_path):
    course = tiny_course(tmp_path / "course")
    known = g.exercises(course)
    nb = nbformat.read(course / "exercises" / "01-tiny.ipynb", as_version=4)
    assert g.identify(Path("anything.ipynb"), nb, known) == "01-tiny"  # by its title cell
    assert g.identify(Path("tiny-01-final.ipynb"), NEW.new_notebook(), known) == "01-tiny"
    meta = NEW.new_notebook(metadata={"course": {"exercise": "01-tiny"}})
    assert g.identify(Path("x.ipynb"), meta, known) == "01-tiny"
    assert g.identify(Path("x.ipynb"), NEW.new_notebook(), known) is None
    assert g.identify(Path("2001-x.ipynb"), NEW.new_notebook(), known) is None


def test_every_course_exercise_is_found_with_its_checks():
    known = g.exercises(ROOT)
    assert len(known) >= 12
    for name, path in known.items():
        checks = g.reference_checks(nbformat.read(path, as_version=4))
        assert checks and all(c.title and not c.title.startswith("check ") for c in checks), name


def test_timeout_marks_the_running_check_then_not_reached():
    checks = [g.Check(1, "a", ""), g.Check(2, "b", ""), g.Check(3, "c", "")]
    where = {1: 1, 2: 3, 3: 5}
    events = [{"event": "start", "cell": 0}, {"event": "done", "cell": 0, "when": "call",
                                              "outcome": "passed"},
              {"event": "start", "cell": 1}, {"event": "done", "cell": 1, "when": "call",
                                              "outcome": "passed"},
              {"event": "start", "cell": 2}]
    outcomes, _ = g.outcomes_from_events("s", "e", checks, where, events, timed_out=True)
    assert [o.status for o in outcomes] == ["passed", "timed out", "not reached"]
    assert "code cell 3" in outcomes[1].message


def test_missing_paths_and_empty_folders_are_usage_errors(tmp_path, capsys):
    with pytest.raises(g.GradeError, match="no such file"):
        g.find_submissions([tmp_path / "nope"])
    with pytest.raises(g.GradeError, match="no notebook"):
        g.find_submissions([tmp_path])
    assert cli.main(["grade", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_checkpoints_are_skipped_and_files_counted_once(tmp_path):
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "01-a-checkpoint.ipynb").write_text("{}")
    (tmp_path / "01-a.ipynb").write_text("{}")
    found = g.find_submissions([tmp_path, tmp_path / "01-a.ipynb"])
    assert found == [tmp_path / "01-a.ipynb"]


def test_grade_child_reads_the_error_of_a_failed_cell():
    from helpers import grade_child

    text = ("\x1b[31mExerciseNotDone\x1b[39m                  Traceback (most recent call last)\n"
            "----> 2 checks.answered(x=x)\n\n"
            "\x1b[31mExerciseNotDone\x1b[39m: `x` is still blank: replace it.\n")
    assert grade_child.error_text(text) == "ExerciseNotDone: `x` is still blank: replace it."
    assert grade_child.error_text("NameError: name 'x' is not defined") == \
        "NameError: name 'x' is not defined"


def test_checks_carry_their_kind():
    import nbformat as nbf

    nb = nbf.read(ROOT / "exercises" / "03-measuring.ipynb", as_version=4)
    kinds = {c.kind for c in g.reference_checks(nb)}
    assert {"predict", "change", "evidence"} <= kinds
