"""The cell magics, driven through a real IPython shell."""

import os

from pathlib import Path

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


#: the program of the recorded machine-code fixtures (tools/record_fixtures.py ASM_PROGRAM)
JIT_CELL = (Path(__file__).resolve().parent / "fixtures" / "asm" / "pypy-7.3.11-py3.9"
            / "asm_program.py").read_text(encoding="utf-8")


@pytest.mark.pypy
@pytest.mark.parametrize("option, wanted", [("--assembler", None), ("--assembler 1", 1)])
def test_jitview_magic_shows_the_machine_code(ip, capsys, option, wanted):
    from helpers import disasm, traces

    if not disasm.objdump_path():
        if os.environ.get("CI"):
            pytest.fail("CI must test the disassembly, but objdump is missing: "
                        "apt-get install -y binutils")
        pytest.skip("objdump not installed (apt-get install binutils)")
    result = ip.run_cell_magic("jitview", f"{option} -o", JIT_CELL)
    assert capsys.readouterr().out == "1428614284\n"
    wanted = min(traces.ASM_TOP if wanted is None else wanted, len(result.shown))
    with_code = [info for info in result.shown if info.assembler is not None]
    assert with_code == result.shown[:wanted] and wanted >= 1
    assert all(info.assembler.n_instructions > 10 and not info.assembler.note
               for info in with_code)
    assert str(result.machine_code(1)).startswith("Loop 1: ")
    assert result.to_html().count('<details class="tv-asm">') == wanted


def test_jitview_magic_rejects_a_bad_assembler_count(ip):
    from IPython.core.error import UsageError
    with pytest.raises(UsageError):
        ip.run_cell_magic("jitview", "--assembler many", "pass")
