"""The cell magics, driven through a real IPython shell."""

import pytest

from helpers.runner import ChildError


def test_magics_are_registered(ip):
    assert {"race", "pypy"} <= set(ip.magics_manager.magics["cell"])


@pytest.mark.pypy
def test_pypy_magic_runs_the_cell_on_pypy(ip, capsys):
    ip.run_cell_magic("pypy", "", "import sys\nprint(sys.implementation.name)")
    assert capsys.readouterr().out == "pypy\n"


def test_pypy_magic_can_run_cpython_and_report_resources(ip, capsys):
    ip.run_cell_magic("pypy", "--cpython --time", "import sys\nprint(sys.implementation.name)")
    out = capsys.readouterr().out
    assert out.startswith("cpython\n")
    assert "wall" in out and "peak RSS" in out and "MiB" in out


def test_failing_cell_raises_with_the_childs_traceback(ip, capsys):
    with pytest.raises(ChildError, match="NameError: name 'undefined_thing'"):
        ip.run_cell_magic("pypy", "--cpython", "print('before')\nundefined_thing")
    assert capsys.readouterr().out == "before\n"


def test_pypy_magic_timeout(ip):
    with pytest.raises(ChildError, match="did not finish after 1 s"):
        ip.run_cell_magic("pypy", "--cpython --timeout 1", "while True: pass")


@pytest.mark.pypy
def test_race_magic_returns_a_result_with_o(ip):
    result = ip.run_cell_magic(
        "race", "--setup 'data = list(range(300))' --budget 0.3 --samples 30 -o",
        "total = 0\nfor x in data:\n    total += x")
    assert set(result.df["interpreter"]) == {"cpython", "pypy"}
    assert result.speedup > 0
    html = result._repr_html_()
    assert "<table" in html and "data:image/png;base64," in html


@pytest.mark.pypy
def test_race_magic_with_a_raising_cell_raises(ip):
    with pytest.raises(ChildError, match="ZeroDivisionError"):
        ip.run_cell_magic("race", "--budget 0.2", "1 / 0")


def test_bad_arguments_are_reported(ip):
    from IPython.core.error import UsageError
    with pytest.raises(UsageError):
        ip.run_cell_magic("race", "--samples many", "pass")
