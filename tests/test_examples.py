"""The lesson-10 case studies: each program runs on CPython and PyPy, its arguments work, it runs
from any working directory, and its fix (notebooks/examples/casefixes.py) changes nothing it prints
(logreport: it reads a log that --generate writes, and reports the same before and after its fix).
"""

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import INTERPRETERS

from helpers.runner import ChildError, run

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks" / "examples"
sys.path.insert(0, str(EXAMPLES))
import casefixes  # noqa: E402
import logreport  # noqa: E402
import tinylang  # noqa: E402

LOG = EXAMPLES / "logreport.py"
TINY = EXAMPLES / "tinylang.py"


def small_args(name, folder):
    """Arguments for a short run of the program ``name`` (logreport: a small log written to
    ``folder``)."""
    if name == "logreport.py":
        log = Path(folder) / "small.log"
        logreport.write_log(log, 800, n_clients=50, seed=7)
        return [log, "--quiet"]
    return ["--limit", "200", "--fib", "10"]


def load_fixed(name, folder):
    """The fixed program, imported as a module."""
    path = casefixes.write_fixed(name, folder)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- in process


def test_tinylang_computes_what_the_program_says():
    assert tinylang.output(["--limit", "30", "--fib", "10"]).split() == ["10", "55"]


def test_tinylang_language_features():
    source = """
    fn twice(x) { return x * 2 }
    let a = 7
    let b = 0
    if a > 5 and not (a == 6) { b = twice(a) } else { b = 1 }
    print(b, a % 4, a / 2, -a, a != 7 or 0)
    """
    out = []

    class Out:
        def write(self, text):
            out.append(text)

    tinylang.Interpreter(Out()).run(tinylang.parse(source))
    assert "".join(out).split() == ["14", "3", "3", "-7", "0"]


@pytest.mark.parametrize("source, message", [
    ("let x = 1 $", "unexpected character '$'"),
    ("let = 3", "expected 'name'"),
    ("print(y)", "undefined variable 'y'"),
    ("print(f(1))", "undefined function 'f'"),
    ("fn f(a) { return a }\nprint(f())", "f() takes 1 arguments, got 0"),
    ("print(1 / 0)", "division by zero"),
])
def test_tinylang_errors_are_specific(source, message):
    with pytest.raises((tinylang.TinySyntaxError, tinylang.TinyRuntimeError), match=None) as info:
        tinylang.Interpreter(out=None).run(tinylang.parse(source))
    assert message in str(info.value)


def test_logreport_generates_a_reproducible_log(tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    logreport.write_log(first, 500, n_clients=40, seed=3)
    logreport.write_log(second, 500, n_clients=40, seed=3)
    lines = first.read_text().splitlines()
    assert len(lines) == 500 and first.read_bytes() == second.read_bytes()
    assert len({line.split()[0] for line in lines}) <= 40
    logreport.write_log(second, 500, n_clients=40, seed=4)
    assert first.read_bytes() != second.read_bytes()


def test_logreport_report_is_deterministic_and_complete(tmp_path):
    log = tmp_path / "access.log"
    logreport.write_log(log, 500, n_clients=40, seed=3)
    first = logreport.report([str(log), "--top", "3"])
    assert first == logreport.report([str(log), "--top", "3"])
    assert first.startswith("500 requests (0 unparsed lines)")
    for heading in ("Busiest endpoints", "Status codes", "Busiest clients (pseudonyms)"):
        assert heading in first
    assert "/item/:id" in first  # numbers in paths become :id


def test_logreport_pseudonym_is_fnv1a_of_the_salted_address():
    # FNV-1a 64 of b"" is the offset basis; the salt is hashed first
    h = logreport.FNV_OFFSET
    for byte in logreport.SALT + b"10.0.0.1":
        h = ((h ^ byte) * logreport.FNV_PRIME) % 2**64
    assert logreport.pseudonym("10.0.0.1") == "%016x" % h
    assert logreport.pseudonym("10.0.0.1") != logreport.pseudonym("10.0.0.2")


def test_logreport_fix_computes_the_same_pseudonyms(tmp_path):
    fixed = load_fixed("logreport.py", tmp_path)
    assert (fixed.OFFSET_HI << 32) | fixed.OFFSET_LO == logreport.FNV_OFFSET
    addresses = ["", "0.0.0.0", "10.0.0.1", "255.255.255.255", "2001:db8::ff00:42:8329",
                 "ünïcode", "x" * 300]
    addresses += ["%d.%d.%d.%d" % (i, i * 7 % 256, i * 13 % 256, i * 31 % 256) for i in range(256)]
    for address in addresses:
        assert fixed.pseudonym(address) == logreport.pseudonym(address), address


def test_logreport_parses_a_real_line_and_counts_bad_ones():
    good = ('1.2.3.4 - - [24/Nov/2026:10:00:00 +0000] "GET /item/42?x=1 HTTP/1.1" 404 - '
            '"-" "curl/8" 12.500')
    requests, bad = logreport.parse([good, "not a log line"])
    assert bad == 1 and len(requests) == 1
    r = requests[0]
    assert (r.endpoint, r.status, r.size, r.millis) == ("/item/:id", 404, 0, 12.5)


@pytest.mark.parametrize("argv", [["--generate", "-1"], ["--clients", "0"], ["--top", "0"]])
def test_logreport_rejects_bad_sizes(argv, capsys):
    with pytest.raises(SystemExit):
        logreport.parse_args(["access.log"] + argv)
    assert "--generate must be at least 0" in capsys.readouterr().err


def test_logreport_needs_a_file(capsys):
    with pytest.raises(SystemExit):
        logreport.parse_args([])
    assert "the following arguments are required: file" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--limit", "-1"], ["--fib", "-2"], ["--repeat", "0"]])
def test_tinylang_rejects_bad_sizes(argv, capsys):
    with pytest.raises(SystemExit):
        tinylang.parse_args(argv)
    assert "--limit and --fib must be at least 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the fixes


@pytest.mark.parametrize("name", sorted(casefixes.FIXES))
def test_fix_applies_and_shows_as_a_small_diff(name):
    fixed = casefixes.fixed_source(name)
    assert fixed != casefixes.original_source(name)
    compile(fixed, name, "exec")
    diff = casefixes.diff(name)
    assert diff.startswith(f"--- {name}\n+++ ")
    changed = [l for l in diff.splitlines() if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    assert 0 < len(changed) < 40


def test_fix_rejects_unknown_programs_and_stale_patches(monkeypatch):
    with pytest.raises(ValueError, match="no fix for 'wordfreq.py'"):
        casefixes.fixed_source("wordfreq.py")
    monkeypatch.setitem(casefixes.FIXES, "tinylang.py", [("no such text", "x")])
    with pytest.raises(ValueError, match="matches 0 times instead of once"):
        casefixes.fixed_source("tinylang.py")


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("name", sorted(casefixes.FIXES))
def test_fixed_program_prints_the_same(name, interpreter, tmp_path):
    fixed = casefixes.write_fixed(name, tmp_path)
    assert fixed.name == name.replace(".py", "_fixed.py")
    args = small_args(name, tmp_path)
    before = run(script=EXAMPLES / name, args=args, interpreter=interpreter)
    after = run(script=fixed, args=args, interpreter=interpreter)
    assert before.stdout.strip() and before.stdout == after.stdout


# ----------------------------------------------------------------------------- as scripts


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_scripts_run_from_another_working_directory(interpreter, tmp_path):
    wrote = run(script=LOG, args=["--generate", "300", "access.log"], interpreter=interpreter,
                cwd=tmp_path)
    assert wrote.stdout.strip() == "wrote 300 requests to access.log"
    log = run(script=LOG, args=["access.log", "--top", "2"], interpreter=interpreter, cwd=tmp_path)
    assert log.stdout.startswith("300 requests, report of")
    tiny = run(script=TINY, args=["--limit", "50", "--fib", "7"], interpreter=interpreter,
               cwd=tmp_path)
    assert tiny.stdout.split() == ["15", "13"]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_logreport_same_log_and_fingerprint_on_both(interpreter, tmp_path):
    # the log a PyPy (or CPython) child generates is the one this CPython writes; the report
    # of it, with the fix or without, has the same fingerprint on both interpreters
    generated, here = tmp_path / "generated.log", tmp_path / "here.log"
    run(script=LOG, args=["--generate", "800", "--clients", "50", "--seed", "7", generated],
        interpreter=interpreter)
    logreport.write_log(here, 800, n_clients=50, seed=7)
    assert generated.read_bytes() == here.read_bytes()
    fixed = casefixes.write_fixed("logreport.py", tmp_path)
    report = tmp_path / "report.txt"
    prints = {run(script=script, args=[generated, "--quiet", "--out", report],
                  interpreter=which).stdout for script in (LOG, fixed)
              for which in ("cpython", interpreter)}
    assert len(prints) == 1 and len(prints.pop().strip()) == 12
    assert report.read_text().startswith("800 requests")


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_logreport_reads_a_log_with_bad_lines(interpreter, tmp_path):
    report = tmp_path / "report.txt"
    access = tmp_path / "access.log"
    access.write_text("\n".join(logreport.generate_log(300, 20, 1)) + "\nbroken line\n")
    out = run(script=LOG, args=[access, "--top", "2", "--out", report], interpreter=interpreter)
    assert out.stdout.startswith("300 requests")
    assert "(1 unparsed lines)" in report.read_text()


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_tinylang_runs_a_file_and_reports_errors(interpreter, tmp_path):
    program = tmp_path / "count.tl"
    program.write_text("let i = 0\nwhile i < 5 { i = i + 1 }\nprint(i)\n")
    assert run(script=TINY, args=[program], interpreter=interpreter).stdout.split() == ["5"]
    broken = tmp_path / "broken.tl"
    broken.write_text("print(nothing)\n")
    result = run(script=TINY, args=[broken], interpreter=interpreter, check=False)
    assert result.returncode == 1
    assert "tinylang: undefined variable 'nothing'" in result.stderr


def test_missing_log_file_fails_with_the_path():
    with pytest.raises(ChildError, match="no-such.log"):
        run(script=LOG, args=["no-such.log"], interpreter="cpython")
