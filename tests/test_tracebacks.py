"""helpers.report.parse_traceback on real tracebacks (tests/fixtures/tracebacks/, recorded by
tools/record_fixtures.py) of PyPy 3.9 and 3.11 and CPython 3.11 and 3.13: the 3.11+ ones carry
``^^^^``/``~~~~`` lines under the source, which are not source; with ``FORCE_COLOR=1`` (which
ipykernel sets, so every run from a notebook has it) CPython 3.13 and PyPy 3.11 colour them and
PyPy 3.11 makes file names terminal hyperlinks."""

from pathlib import Path

import pytest

from helpers.report import parse_traceback

TRACEBACKS = Path(__file__).resolve().parent / "fixtures" / "tracebacks"
INTERPRETERS = sorted(p.name for p in TRACEBACKS.iterdir() if p.is_dir())
SCRIPT = "/home/learner/proj/main.py"  # where the recorded scripts seem to have run


def test_every_interpreter_is_recorded():
    for name in ("pypy-7.3.11-py3.9", "pypy-7.3.19-py3.11", "cpython-3.13.5"):
        assert name in INTERPRETERS


COLOUR = ["", "-force-color"]


def read(interpreter, case):
    text = (TRACEBACKS / interpreter / f"{case}.txt").read_text()
    assert text.strip(), f"{interpreter}/{case}.txt is empty"
    return text


def test_colour_is_recorded_where_it_exists():
    for name in ("pypy-7.3.19-py3.11", "cpython-3.13.5"):
        assert "\x1b[" in read(name, "exception-force-color")
    assert "\x1b]8;;file://" in read("pypy-7.3.19-py3.11", "exception-force-color")


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_no_escapes_left(interpreter, colour):
    for case in ("exception", "syntax", "imported", "stdlib"):
        f = parse_traceback(read(interpreter, case + colour), SCRIPT)
        for text in (f.why, f.where, f.function or "", f.source or "", f.raised_at or "",
                     f.traceback):
            assert "\x1b" not in text, (case, text)


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_exception(interpreter, colour):
    f = parse_traceback(read(interpreter, "exception" + colour), SCRIPT)
    assert f.why == "ZeroDivisionError: division by zero"
    assert (f.where, f.function, f.source) == ("main.py:2", "average", "return sum(xs) / len(xs)")
    assert f.raised_at is None
    assert str(f) == "ZeroDivisionError: division by zero at main.py:2 in average()"


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_syntax_error(interpreter, colour):
    f = parse_traceback(read(interpreter, "syntax" + colour), SCRIPT)
    assert f.why.startswith("SyntaxError: ") and "never closed" in f.why
    assert (f.where, f.source) == ("main.py:2", "print('hello'")
    assert f.raised_at is None


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_exception_in_an_imported_module(interpreter, colour):
    f = parse_traceback(read(interpreter, "imported" + colour), SCRIPT)
    assert f.why == "ValueError: invalid literal for int() with base 10: '12x'"
    # the learner's script is where, the module beside it where it was raised
    assert (f.where, f.function, f.source) == ("main.py:4", "main", "helper.parse('12x')")
    assert f.raised_at == "helper.py:2"


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_exception_in_the_standard_library(interpreter, colour):
    f = parse_traceback(read(interpreter, "stdlib" + colour), SCRIPT)
    assert f.why.startswith("json.decoder.JSONDecodeError: ")
    assert (f.where, f.function, f.source) == ("main.py:4", "main", "json.loads('{bad')")
    assert f.raised_at and "/json/" in f.raised_at


@pytest.mark.parametrize("colour", COLOUR)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_the_module_itself_as_script(interpreter, colour):
    # the same traceback read for helper.py: its own frame is chosen
    f = parse_traceback(read(interpreter, "imported" + colour), "/home/learner/proj/helper.py")
    assert (f.where, f.function, f.source) == ("helper.py:2", "parse", "return int(text)")
    assert f.raised_at is None
