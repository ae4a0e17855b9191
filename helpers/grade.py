"""Grade a class's exercise notebooks: ``./course grade SUBMISSION...`` (files or folders).

Each submitted notebook is graded on its own:

1. it is read once (it is never written to) and matched to a course exercise by its metadata
   (``course.exercise``), by its file name (``03-measuring.ipynb``, ``03_alice.ipynb``,
   ``alice-03.ipynb``) or else by its title cell;
2. its check cells are matched to the exercise's by their ``# Check:`` line; a check the learner
   edited is graded with the course's own source (and the row says so), one they deleted is
   "missing";
3. a private copy runs through nbval (``pytest --nbval-lax``, the course's checker) in a fresh
   kernel, through the course's runner: a time limit per notebook kills the kernel and every
   process it started; the copy's folder is the only place it may write (the course and the
   submitted folders are made read-only when running as root, and writes to them are detected
   either way);
4. every check gets a status: passed, failed (with the check's own message), not reached, timed
   out, missing, or the whole notebook is broken (not JSON, not a notebook, not an exercise).

The results are a table of submission x check, written as CSV and as a self-contained HTML page,
with one summary line. :func:`grade` does it all; the plain functions below are its steps.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import nbformat

from .display import page
from .formatting import format_seconds
from .interpreters import COURSE_ROOT
from .runner import child_program, run

__all__ = ["grade", "Grades", "Check", "Outcome", "GradeError", "find_submissions",
           "identify", "reference_checks", "STATUSES"]

#: Every status a check can get, in the order the summary counts them.
STATUSES = ("passed", "failed", "not reached", "timed out", "missing", "broken notebook")
DEFAULT_TIMEOUT = 300.0
_CHECK = re.compile(r"^\s*#\s*Check:\s*(.*)$")


class GradeError(Exception):
    """Grading itself cannot start (no such submission, no exercises): exit status 2."""


@dataclass
class Check:
    """One check cell of an exercise: its number (1, 2 ...), what it checks, its source."""

    number: int
    title: str
    source: str
    tags: tuple = ()


@dataclass
class Outcome:
    """One check of one submission."""

    submission: str
    exercise: str
    check: int
    title: str
    status: str
    message: str = ""


@dataclass
class Graded:
    """What grading one submission found: its outcomes and the notes on the whole notebook."""

    submission: str
    exercise: str
    outcomes: list
    notes: list = field(default_factory=list)
    seconds: float = 0.0


def _title_of(source: str) -> Optional[str]:
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    match = _CHECK.match(first)
    return match.group(1).strip() if match else None


def reference_checks(notebook) -> list:
    """The check cells (tagged ``check``, first line ``# Check: ...``) of an exercise."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and "check" in cell.get("metadata", {}).get("tags", []):
            title = _title_of(cell.source) or f"check {len(found) + 1}"
            found.append(Check(len(found) + 1, title, cell.source,
                               tuple(cell.metadata.get("tags", []))))
    return found


def find_submissions(paths) -> list:
    """The notebooks to grade: each file given (whatever it is), and every ``*.ipynb`` under
    each folder given (checkpoints left out), in order, each once."""
    found, seen = [], set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise GradeError(f"no such file or folder: {given}")
        if path.is_dir():
            items = sorted(p for p in path.rglob("*.ipynb")
                           if ".ipynb_checkpoints" not in p.parts and p.is_file())
        else:
            items = [path]
        for item in items:
            key = item.resolve()
            if key not in seen:
                seen.add(key)
                found.append(item)
    if not found:
        raise GradeError(f"no notebook (*.ipynb) in {', '.join(map(str, paths))}")
    return found


def exercises(root: Path) -> dict:
    """The course's exercises: {"03-measuring": path of exercises/03-measuring.ipynb}."""
    folder = Path(root) / "exercises"
    found = {p.stem: p for p in sorted(folder.glob("[0-9][0-9]-*.ipynb"))}
    if not found:
        raise GradeError(f"no exercises in {folder}")
    return found


def _heading(notebook) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            return cell.source.strip().splitlines()[0].strip()
    return ""


def identify(path: Path, notebook, known: dict) -> Optional[str]:
    """Which exercise a submission is: from ``metadata.course.exercise``, then a two-digit
    number in its file name, then its title cell; None if none of them tells."""
    meta = notebook.get("metadata", {}).get("course", {})
    named = meta.get("exercise") if isinstance(meta, dict) else None
    if named in known:
        return named
    numbers = {name[:2]: name for name in known}
    stem = path.stem
    for name in known:
        if stem.startswith(name) or name in stem:
            return name
    for number in re.findall(r"(?<!\d)(\d{2})(?!\d)", stem):
        if number in numbers:
            return numbers[number]
    heading = _heading(notebook)
    for name, ref in known.items():
        if heading and heading == _heading(nbformat.read(ref, as_version=4)):
            return name
    return None


def _broken(path, exercise, checks, why) -> Graded:
    outcomes = [Outcome(str(path), exercise or "?", c.number, c.title, "broken notebook", why)
                for c in checks] or [Outcome(str(path), exercise or "?", 0, "", "broken notebook",
                                             why)]
    return Graded(str(path), exercise or "?", outcomes, [why])


def _prepare(notebook, checks) -> tuple:
    """The copy to run: the submission with each check cell's source replaced by the course's.
    Returns (notebook, {check number: code-cell number}, notes)."""
    notes, where = [], {}
    by_title = {c.title: c for c in checks}
    code_number = -1
    pending = list(checks)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code_number += 1
        title = _title_of(cell.source)
        ref = by_title.get(title) if title is not None else None
        if ref is None and "check" in cell.get("metadata", {}).get("tags", []) and pending:
            ref = pending[0]  # a tagged check whose first line was edited
        if ref is None or ref.number in where:
            continue
        where[ref.number] = code_number
        pending = [c for c in pending if c.number != ref.number]
        if cell.source != ref.source:
            notes.append(f"check {ref.number} was edited; graded with the course's own check")
            cell.source = ref.source
    return notebook, where, notes


def _events(path: Path) -> list:
    events = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass  # the last line of a killed run may be cut
    return events


def outcomes_from_events(submission: str, exercise: str, checks: list, where: dict,
                         events: list, timed_out: bool) -> tuple:
    """Each check's status from the cells nbval reported; (outcomes, notes)."""
    done = {e["cell"]: e for e in events if e.get("event") == "done" and e.get("when") == "call"}
    failed_setup = {e["cell"]: e for e in events if e.get("event") == "done"
                    and e.get("when") != "call"}
    done.update({k: v for k, v in failed_setup.items() if k not in done})
    started = [e["cell"] for e in events if e.get("event") == "start"]
    running = started[-1] if started and started[-1] not in done else None
    notes = []
    for cell, event in sorted(done.items()):
        if event["outcome"] == "failed" and cell not in where.values():
            notes.append(f"code cell {cell + 1} raised {event.get('error') or 'an error'}")
    outcomes, timeout_given = [], False
    for check in checks:
        cell = where.get(check.number)
        status, message = "not reached", ""
        if cell is None:
            status, message = "missing", "this check cell is not in the submission"
        elif cell in done:
            event = done[cell]
            if event["outcome"] == "passed":
                status = "passed"
            else:
                status, message = "failed", event.get("error") or "the check failed"
                message = re.sub(r"^ExerciseNotDone: ", "", message)
        elif timed_out and not timeout_given and (running is None or cell >= running):
            status, timeout_given = "timed out", True
            message = ("the time limit ran out while this check ran" if cell == running else
                       f"the time limit ran out in code cell {running + 1}, before this check"
                       if running is not None else "the time limit ran out before this check")
        outcomes.append(Outcome(submission, exercise, check.number, check.title, status, message))
    return outcomes, notes


def _snapshot(folders, limit: int = 20_000) -> dict:
    """path -> (size, mtime) of the files under ``folders`` (hidden folders such as .venv and
    .git, and __pycache__, left out; at most ``limit`` files each): what a notebook must not
    change."""
    found = {}
    for folder in folders:
        start = len(found)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            if len(found) - start > limit:
                break
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                found[path] = (st.st_size, st.st_mtime_ns)
    return found


def _changed(before: dict, after: dict) -> list:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def grade_one(path: Path, known: dict, root: Path, timeout: float, protect: list,
              originals: dict) -> Graded:
    """Grade one submission in its own temporary copy (see the module docstring)."""
    start = time.perf_counter()
    data = originals[path]
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except UnicodeDecodeError:
        return _broken(path, None, [], "not a notebook: the file is not UTF-8 text")
    except ValueError as exc:  # JSON errors and nbformat's validation errors
        why = str(exc).splitlines()[0][:200]
        return _broken(path, None, [], f"not a notebook ({why})")
    except Exception as exc:  # nbformat raises its own kinds for a wrong shape
        return _broken(path, None, [], f"not a notebook ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")
    exercise = identify(path, notebook, known)
    if exercise is None:
        return _broken(path, None, [], "not a course exercise: name the file after its "
                                       "exercise (e.g. 03-measuring.ipynb) or keep its title")
    checks = reference_checks(nbformat.read(known[exercise], as_version=4))
    notebook, where, notes = _prepare(notebook, checks)
    before = _snapshot(protect)
    tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        folder = tmp / "exercises"
        folder.mkdir()
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        if (root / "notebooks").is_dir():  # exercises read ../notebooks/examples/...
            (tmp / "notebooks").symlink_to(root / "notebooks")
        copy = folder / f"{exercise}.ipynb"
        nbformat.write(notebook, copy)
        home = tmp / "home"
        home.mkdir()
        events = tmp / "events.jsonl"
        request = tmp / "request.json"
        request.write_text(json.dumps({
            "notebook": str(copy), "events": str(events), "cell_timeout": timeout,
            "read_only": [str(p) for p in protect]}), encoding="utf-8")
        env = {"TMPDIR": str(tmp), "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
               "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / ".mpl"),
               "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        result = run(script=child_program("grade_child"), interpreter=sys.executable,
                     args=[str(request)], env=env, cwd=str(folder), timeout=timeout,
                     check=False, output_limit=200_000)
        log = _events(events)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sandbox = next((e["note"] for e in log if e.get("event") == "sandbox"), None)
    outcomes, cell_notes = outcomes_from_events(str(path), exercise, checks, where, log,
                                                result.timed_out)
    notes += cell_notes
    if result.timed_out:
        notes.append(f"timed out after {format_seconds(timeout)} (--timeout); its kernel and "
                     "every process it started were killed")
    elif not any(e.get("event") == "collected" for e in log):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        why = " / ".join(tail) or f"exit status {result.returncode}"
        return _broken(path, exercise, checks, f"nbval could not run it ({why})")
    elif not all(o.status != "not reached" for o in outcomes):
        notes.append("the kernel stopped before the end (did a cell exit or crash it?)")
    changed = _changed(before, _snapshot(protect))
    for written in changed:
        if Path(written) in originals and Path(written).read_bytes() != originals[Path(written)]:
            Path(written).write_bytes(originals[Path(written)])  # a submission: put it back
    protected = bool(sandbox and sandbox.startswith("read-only"))
    if changed and not protected:  # read-only folders cannot have been written by it
        notes.append("files changed outside its copy while it ran (by it, or by something "
                     "else running then): " + ", ".join(changed[:5]))
    if sandbox and not protected:
        notes.append(sandbox)
    return Graded(str(path), exercise, outcomes, notes, time.perf_counter() - start)


class Grades:
    """A class's results: ``table`` (one row per submission and check), ``notes`` per
    submission, the summary line, and the files written."""

    def __init__(self, graded: list, seconds: float, timeout: float, written=()):
        self.graded = graded
        self.seconds = seconds
        self.timeout = timeout
        self.written = list(written)

    @property
    def rows(self) -> list:
        return [o for g in self.graded for o in g.outcomes]

    def table(self):
        """The long table as a pandas DataFrame (one row per submission x check)."""
        import pandas as pd

        return pd.DataFrame([o.__dict__ for o in self.rows],
                            columns=["submission", "exercise", "check", "title", "status",
                                     "message"])

    def counts(self) -> dict:
        counts = {s: 0 for s in STATUSES}
        for o in self.rows:
            counts[o.status] += 1
        return counts

    def summary(self) -> str:
        subs = len(self.graded)
        kinds = len({g.exercise for g in self.graded})
        full = sum(1 for g in self.graded if g.outcomes and
                   all(o.status == "passed" for o in g.outcomes))
        broken = sum(1 for g in self.graded if any(o.status == "broken notebook"
                                                   for o in g.outcomes))
        timed = sum(1 for g in self.graded if any(o.status == "timed out" for o in g.outcomes))
        counts = self.counts()
        checks = sum(counts.values()) - counts["broken notebook"]
        return (f"graded {subs} submission{'s' * (subs != 1)} of {kinds} exercise"
                f"{'s' * (kinds != 1)} in {format_seconds(self.seconds)}: {full} passed every "
                f"check, {subs - full - broken} did not, {timed} timed out, {broken} broken; "
                f"{counts['passed']} of {checks} checks passed "
                f"({', '.join(f'{n} {s}' for s, n in counts.items() if n and s != 'passed')})"
                .replace(" ()", ""))

    def write_csv(self, path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["submission", "exercise", "check", "title", "status", "message"])
            for o in self.rows:
                writer.writerow([o.submission, o.exercise, o.check, o.title, o.status,
                                 o.message])

    def to_html(self) -> str:
        colours = {"passed": "#d1fadf", "failed": "#fee4e2", "not reached": "#f2f4f7",
                   "timed out": "#fef0c7", "missing": "#fee4e2", "broken notebook": "#f4ebff"}
        parts = [f"<h1>Grades</h1><p>{html.escape(self.summary())}</p>",
                 f"<p style='color:#555'>Time limit per notebook: "
                 f"{html.escape(format_seconds(self.timeout))}. Each cell shows the check's "
                 "status; hover or read below it for the message.</p>"]
        by_exercise = {}
        for g in self.graded:
            by_exercise.setdefault(g.exercise, []).append(g)
        for exercise, items in sorted(by_exercise.items()):
            titles = {}
            for g in items:
                for o in g.outcomes:
                    if o.check:
                        titles.setdefault(o.check, o.title)
            head = "".join(f"<th title='{html.escape(t)}'>{n}. {html.escape(t)}</th>"
                           for n, t in sorted(titles.items()))
            rows = []
            for g in items:
                cells = []
                by_check = {o.check: o for o in g.outcomes}
                for n in sorted(titles) or [0]:
                    o = by_check.get(n) or next(iter(by_check.values()))
                    message = (f"<br><small>{html.escape(o.message)}</small>"
                               if o.message else "")
                    cells.append(f"<td style='background:{colours[o.status]}' "
                                 f"title='{html.escape(o.message)}'>{html.escape(o.status)}"
                                 f"{message}</td>")
                notes = "<br>".join(html.escape(n) for n in g.notes)
                rows.append(f"<tr><td>{html.escape(g.submission)}</td>{''.join(cells)}"
                            f"<td><small>{notes}</small></td></tr>")
            parts.append(f"<h2>Exercise {html.escape(exercise)}</h2><table><tr>"
                         f"<th>submission</th>{head}<th>notes</th></tr>{''.join(rows)}</table>")
        return page("Grades", "\n".join(parts))

    def __str__(self) -> str:
        return self.summary()


def grade(paths, *, output="grades", timeout: float = DEFAULT_TIMEOUT, jobs: int = 1,
          root=None, progress=None) -> Grades:
    """Grade every notebook in ``paths`` (files or folders) and write ``output``/grades.csv and
    ``output``/grades.html. ``timeout`` seconds per notebook; ``jobs`` notebooks at once;
    ``root`` the course folder whose exercises they are (default: this one); ``progress`` a
    function called with each submission's one-line result."""
    start = time.perf_counter()
    root = Path(root or COURSE_ROOT).resolve()
    if timeout is None or timeout <= 0:
        raise GradeError("--timeout must be a positive number of seconds")
    known = exercises(root)
    submissions = find_submissions(paths)
    originals = {p: p.read_bytes() for p in submissions}
    digests = {p: hashlib.sha256(d).hexdigest() for p, d in originals.items()}
    protect = sorted({str(root)} | {str(p.resolve().parent) for p in submissions})
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)

    def one(path):
        graded = grade_one(path, known, root, timeout, protect, originals)
        if progress:
            statuses = [o.status for o in graded.outcomes]
            progress(f"{path}: {graded.exercise}, "
                     + ", ".join(f"{statuses.count(s)} {s}" for s in STATUSES
                                 if statuses.count(s)))
        return graded

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = list(pool.map(one, submissions))
    for p in submissions:  # the promise: no submitted file changed
        if hashlib.sha256(p.read_bytes()).hexdigest() != digests[p]:
            p.write_bytes(originals[p])
    grades = Grades(graded, time.perf_counter() - start, timeout)
    csv_path, html_path = out / "grades.csv", out / "grades.html"
    grades.write_csv(csv_path)
    html_path.write_text(grades.to_html(), encoding="utf-8")
    grades.written = [csv_path, html_path]
    return grades
