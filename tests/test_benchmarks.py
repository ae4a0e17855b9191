"""benchmarks/race_vs_pyperf.py in its smoke mode: the report's structure, never its figures.

Timing figures from a shared machine do not belong in unit tests; the full benchmark is run by
hand (see benchmarks/README.md). Here `--quick` (tiny budgets, a one-process pyperf) must finish
well within a minute and print every part of the report.
"""

import re
import sys
from pathlib import Path

import pytest

from helpers.runner import run

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "race_vs_pyperf.py"
SNIPPETS = ("loop", "list")

pytestmark = [pytest.mark.slow, pytest.mark.pypy]


@pytest.fixture(scope="module")
def quick():
    # run() kills the whole process group (pyperf's workers too) if this takes over 60 s.
    result = run(script=SCRIPT, interpreter=sys.executable, args=["--quick"], timeout=60,
                 cwd=SCRIPT.parents[1], check=False)
    assert not result.timed_out, "--quick must stay under 60 s"
    assert result.returncode in (0, 1), result.stderr  # 2 = error, anything else = crash
    return result


def _table(out: str, title: str) -> list:
    """The lines of the table printed under the heading that contains ``title``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("==") and title in line)
    table = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith(("==", "*", "race overhead")):
            break
        table.append(line)
    return table


def test_overhead_is_reported_per_snippet_and_in_total(quick):
    table = _table(quick.stdout, "overhead")
    assert "race() wall" in table[0] and "children wall" in table[0] and "overhead" in table[0]
    assert [row.split()[0] for row in table[1:]] == list(SNIPPETS)
    line = re.search(r"^race overhead: (\S+) s of (\S+) s race\(\) wall time \((\S+)%\)",
                     quick.stdout, re.M)
    assert line, quick.stdout
    overhead, wall, _ = map(float, line.groups())
    assert wall > 0 and overhead < wall  # the children ran inside race()


def test_both_ratios_for_both_snippets(quick):
    table = _table(quick.stdout, "speedup")
    header = table[0]
    for column in ("race speedup", "race 95% CI", "pyperf speedup", "difference", "verdict"):
        assert column in header
    rows = {row.split()[0]: row for row in table[1:]}
    assert set(rows) == set(SNIPPETS)
    for row in rows.values():
        assert len(re.findall(r"\d[\d.]*×", row)) >= 2  # race's and pyperf's ratios
        assert re.search(r"[+-]\d+\.\d%", row)
        assert row.split()[-1] in ("PASS", "FAIL")


def test_per_interpreter_times_from_both_tools(quick):
    table = _table(quick.stdout, "per-run times")
    assert "race median" in table[0] and "pyperf median" in table[0]
    pairs = {tuple(row.split()[:2]) for row in table[1:]}
    assert pairs == {(s, i) for s in SNIPPETS for i in ("cpython", "pypy")}


def test_verdict_matches_exit_status(quick):
    verdicts = re.findall(r"^VERDICT: (PASS|FAIL)", quick.stdout, re.M)
    assert verdicts == ["PASS" if quick.returncode == 0 else "FAIL"]
    rows = _table(quick.stdout, "speedup")[1:]
    assert (quick.returncode == 0) == all(row.split()[-1] == "PASS" for row in rows)


def test_pyperf_options_are_stated(quick):
    assert "extra pyperf timeit options: --processes 1" in quick.stdout


# ----------------------------------------------------------------------------- report_vs_pyperf

REPORT_SCRIPT = SCRIPT.with_name("report_vs_pyperf.py")
PROGRAMS = ("lifegame", "tinylang", "raytrace")


@pytest.fixture(scope="module")
def report_quick():
    # Three tiny reports and six one-process pyperf runs: about 35 s on a busy 2-core machine.
    result = run(script=REPORT_SCRIPT, interpreter=sys.executable, args=["--quick"],
                 timeout=180, cwd=SCRIPT.parents[1], check=False)
    assert not result.timed_out, "--quick must stay under 180 s"
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_report_benchmark_prints_both_speedups_and_both_costs(report_quick):
    out = report_quick.stdout
    table = _table(out, "speedup")
    for column in ("report speedup", "pyperf speedup", "difference", "verdict"):
        assert column in table[0]
    rows = {row.split()[0]: row for row in table[1:]}
    assert set(rows) == set(PROGRAMS)
    for row in rows.values():
        assert len(re.findall(r"\d[\d.]*×", row)) >= 2 and re.search(r"[+-]\d+\.\d%", row)
    cost = _table(out, "cost")
    assert "report (whole)" in cost[0] and "pyperf (both)" in cost[0]
    assert {row.split()[0] for row in cost[1:]} == set(PROGRAMS)
    for row in cost[1:]:
        assert len(re.findall(r"\d+\.\d s", row)) == 5
    times = _table(out, "per-run times")
    assert {tuple(row.split()[:2]) for row in times[1:]} == {
        (p, i) for p in PROGRAMS for i in ("cpython", "pypy")}


def test_report_benchmark_verdict_and_load(report_quick):
    out = report_quick.stdout
    verdicts = re.findall(r"^VERDICT: (PASS|FAIL)", out, re.M)
    assert verdicts == ["PASS" if report_quick.returncode == 0 else "FAIL"]
    assert re.search(r"^mode: quick; total \d+ s; load average", out, re.M)
    assert "extra pyperf options: --processes 1" in out
