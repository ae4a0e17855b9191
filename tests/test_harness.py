"""The timing harness: exact samples under a fake clock, and real runs in both interpreters."""

import ast
import json
import sys
import types

import numpy as np
import pytest
from conftest import INTERPRETERS

from helpers import harness
from helpers.harness import measure
from helpers.runner import ChildError
from helpers.timing import HARNESS, race, run_harness



class FakeClock:
    """A timer returning the given instants in order (exact binary fractions)."""

    def __init__(self, *instants):
        self.instants = list(instants)
        self.calls = 0

    def __call__(self):
        value = self.instants[self.calls]
        self.calls += 1
        return value


@pytest.fixture
def counter(monkeypatch):
    """A module the timed code can import and count executions in."""
    module = types.SimpleNamespace(setups=0, runs=0)
    monkeypatch.setitem(sys.modules, "harness_counter", module)
    return module


# ----------------------------------------------------------------------------- fake clock


def test_fixed_number_gives_exact_samples_and_stops_at_sample_count(counter):
    # start, then (t0, t1) per sample
    clock = FakeClock(0.0, 0.0, 1.0, 1.0, 3.0, 3.0, 6.0)
    out = measure("import harness_counter as c\nc.setups += 1",
                  "import harness_counter as c\nc.runs += 1",
                  samples=3, budget=100.0, number=4, timer=clock)
    assert out["samples"] == [0.25, 0.5, 0.75]
    assert out["runs"] == [4, 4, 4]
    assert out["number"] == 4
    assert out["calibration_samples"] == 0
    assert out["elapsed"] == 6.0
    assert out["stopped_by"] == "samples"
    assert clock.calls == 7
    assert counter.setups == 1
    assert counter.runs == 12


def test_budget_stops_after_the_sample_that_crosses_it(counter):
    clock = FakeClock(10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 13.0, 13.0, 14.0)
    out = measure("", "import harness_counter as c\nc.runs += 1",
                  samples=100, budget=2.5, number=2, timer=clock)
    # deadline 12.5: the sample ending at 13.0 is the last one
    assert out["samples"] == [0.5, 0.5, 0.5]
    assert out["stopped_by"] == "budget"
    assert out["elapsed"] == 3.0
    assert counter.runs == 6


def test_at_least_one_sample_even_with_no_budget():
    out = measure("", "pass", samples=5, budget=0.0, number=1,
                  timer=FakeClock(0.0, 0.0, 2.0))
    assert out["samples"] == [2.0]
    assert out["stopped_by"] == "budget"


def test_calibration_doubles_until_a_sample_reaches_the_target(counter):
    clock = FakeClock(
        0.0,
        0.0, 0.5,    # 1 run: 0.5 s   (< target 2)
        0.5, 1.5,    # 2 runs: 1 s    (< 2)
        1.5, 3.5,    # 4 runs: 2 s    (>= 2): number = 4
        3.5, 5.5,    # 4 runs
    )
    out = measure("", "import harness_counter as c\nc.runs += 1",
                  samples=4, budget=100.0, timer=clock, target=2.0)
    assert out["runs"] == [1, 2, 4, 4]
    assert out["samples"] == [0.5, 0.5, 0.5, 0.5]
    assert out["number"] == 4
    assert out["calibration_samples"] == 3
    assert counter.runs == 11


def test_calibration_respects_the_sample_count():
    out = measure("", "pass", samples=2, budget=100.0, target=10.0,
                  timer=FakeClock(0.0, 0.0, 1.0, 1.0, 2.0))
    assert out["runs"] == [1, 2]
    assert out["samples"] == [1.0, 0.5]
    assert out["stopped_by"] == "samples"


def test_default_target_is_budget_over_samples():
    # budget 8 s over 4 samples: target 2 s, reached by the first (1-run) sample
    out = measure("", "pass", samples=4, budget=8.0,
                  timer=FakeClock(0.0, 0.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 8.0))
    assert out["number"] == 1
    assert out["samples"] == [2.0, 2.0, 2.0, 2.0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        measure("", "pass", samples=0, budget=1.0)
    with pytest.raises(ValueError):
        measure("", "pass", samples=1, budget=1.0, number=0)


# ----------------------------------------------------------------------------- semantics


def test_statement_can_update_what_setup_defined(counter):
    clock = FakeClock(0.0, 0.0, 1.0, 1.0, 2.0)
    measure("import harness_counter as c\nn = 0",
            "n += 1\nc.runs = n",  # n is setup's global, not an unbound local
            samples=2, budget=10.0, number=3, timer=clock)
    assert counter.runs == 6


def test_setup_runs_as_main_and_statement_sees_it(counter):
    measure("import harness_counter as c\nc.name = __name__\ndef f():\n    return 41\n",
            "c.value = f() + 1", samples=1, budget=1.0, number=1,
            timer=FakeClock(0.0, 0.0, 1.0))
    assert counter.name == "__main__"
    assert counter.value == 42


def test_statement_error_keeps_the_users_lines():
    with pytest.raises(ZeroDivisionError) as info:
        measure("def g(x):\n    return 1 / x\n", "y = 2\ng(0)", samples=1, budget=1.0,
                number=1, timer=FakeClock(0.0, 0.0, 1.0))
    text = "".join(info.getrepr(style="native").reprtraceback.reprentries[0].lines)
    assert '"<stmt>", line 2' in text
    assert "g(0)" in text
    assert '"<setup>", line 2' in text
    assert "return 1 / x" in text


def test_return_in_statement_is_a_syntax_error():
    with pytest.raises(SyntaxError):
        measure("", "return 1", samples=1, budget=1.0, number=1)


def test_what_a_function_cannot_hold_says_to_move_it_to_setup():
    with pytest.raises(SyntaxError, match="move this to the setup") as info:
        measure("", "x = 1\nfrom os import *", samples=1, budget=1.0, number=1)
    assert info.value.lineno == 2 and info.value.text == "from os import *"


def test_harness_is_stdlib_only_and_python39_syntax():
    source = HARNESS.read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"pypyjit"}, imported
    assert HARNESS == __import__("pathlib").Path(harness.__file__).resolve()


# ----------------------------------------------------------------------------- real children


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_real_run_writes_valid_json(interpreter):
    result, proc = run_harness("sum(range(50))", "print('SETUP')", interpreter=interpreter,
                               samples=20, budget=0.2)
    assert proc.stdout.count("SETUP") == 1  # setup ran once
    samples = result["samples"]
    assert 1 <= len(samples) <= 20
    assert len(result["runs"]) == len(samples)
    assert all(isinstance(s, float) and s > 0 for s in samples)
    assert result["runs"][-1] == result["number"] >= 1
    assert result["stopped_by"] in ("samples", "budget")
    expected = {"cpython": "CPython", "pypy": "PyPy"}[interpreter]
    assert result["implementation"] == expected
    assert result["jit"] is (interpreter == "pypy")
    assert (result["pypy_version"] is None) is (interpreter == "cpython")
    assert result["version"].count(".") == 2


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_failing_statement_raises_child_error_with_users_traceback(interpreter):
    with pytest.raises(ChildError) as info:
        run_harness("x = 1\ny = x / 0  # boom", interpreter=interpreter, samples=5,
                    budget=0.1)
    message = str(info.value)
    assert "y = x / 0  # boom" in message
    assert '"<stmt>", line 2' in message
    assert "ZeroDivisionError" in message
    assert "harness.py" not in message  # the harness's own frames are left out


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_failing_setup_is_reported_too(interpreter):
    with pytest.raises(ChildError, match="NameError"):
        run_harness("pass", "import os\nundefined_name", interpreter=interpreter,
                    samples=5, budget=0.1)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_printing_statement_does_not_corrupt_results(interpreter):
    result, proc = run_harness("print('{\"not\": \"json\"}')", interpreter=interpreter,
                               samples=5, budget=0.1, number=2)
    assert result["runs"] == [2] * len(result["samples"])
    assert proc.stdout.count('{"not": "json"}') == 2 * len(result["samples"])


def test_race_propagates_the_childs_error():
    with pytest.raises(ChildError, match=r"(?s)boom = 1 / 0.*ZeroDivisionError"):
        race("boom = 1 / 0", interpreters=("cpython",), startup=False, samples=3, budget=0.1)


def test_exit_without_results_is_an_error():
    with pytest.raises(RuntimeError, match="wrote no timing results"):
        run_harness("import sys; sys.exit(0)", interpreter="cpython", samples=5, budget=0.1)


@pytest.mark.pypy
def test_race_end_to_end_structure():
    r = race("sum(range(200))", samples=30, budget=0.15, startup=False)
    assert list(r.df.columns[:3]) == ["interpreter", "sample", "seconds"]
    assert list(r.summary.index) == ["cpython", "pypy"]
    assert set(r.df["interpreter"]) == {"cpython", "pypy"}
    assert np.isfinite(r.speedup) and r.speedup > 0
    lo, hi = r.ci
    assert lo <= r.speedup <= hi
    assert set(r.results) == set(r.stdout) == {"cpython", "pypy"}
    html = r._repr_html_()
    assert "data:image/png;base64," in html
    series = [ln for ln in r.figure.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert len(series) == 2
    text = str(r)
    assert "CPython" in text and "PyPy" in text and "95% CI" in text
    json.dumps(r.results)  # the raw results stay plain JSON


def test_setup_imports_from_the_working_directory(tmp_path, monkeypatch):
    # A learner races their own module: it must import, and the harness's neighbours
    # (timing.py, plots.py, ...) must not shadow a module of the same name.
    (tmp_path / "myscript.py").write_text("def main():\n    return 42\n")
    (tmp_path / "timing.py").write_text("WHO = 'the learner'\n")
    monkeypatch.chdir(tmp_path)
    result, proc = run_harness("main()", "from myscript import main\nimport timing\n"
                               "print(timing.WHO)", interpreter="cpython", samples=5,
                               budget=0.1)
    assert len(result["samples"]) >= 1
    assert proc.stdout.startswith("the learner")


@pytest.mark.pypy
def test_setup_globals_are_a_module_dict_as_in_a_script():
    """On PyPy only a module's dict lets the JIT fold global lookups: a plain dict would make
    functions defined in setup slower than the same functions in a script."""
    result, proc = run_harness(
        "pass", "import __pypy__\nprint(__pypy__.strategy(globals()))",
        interpreter="pypy", samples=3, number=1)
    assert proc.stdout.strip() == "ModuleDictStrategy"
