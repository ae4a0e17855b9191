"""The nursery policy: PyPy's default read from PyPy, an oversized one replaced, the learner's
own setting honoured, and every result saying which nursery it ran with."""

import pytest

from helpers import nursery
from helpers.nursery import MIB, Nursery, choose, core_cache, cpuinfo_cache

pypy = pytest.mark.pypy

PROBE = "import gc; s = gc.get_stats(); print(s._s.nursery_size)"


# ----------------------------------------------------------------------------- plain functions

@pytest.mark.parametrize("text, size", [
    ("1M", MIB), ("1MB", MIB), ("4mb", 4 * MIB), ("512k", 512 * 1024), ("262144", 262144),
    ("1.5M", 3 * MIB // 2), ("2G", 2 << 30), ("fast", None), ("", None), ("-1M", None),
])
def test_parse_size_reads_what_pypy_reads(text, size):
    assert nursery.parse_size(text) == size


def test_format_size():
    assert nursery.format_size(240 * MIB) == "240 MB"
    assert nursery.format_size(MIB) == "1 MB"
    assert nursery.format_size(3 * MIB // 2) == "1.5 MB"
    assert nursery.format_size(512 * 1024) == "512 KB"
    assert nursery.format_size(None) == "unknown"


def _cache(root, name, level, kind, size, shared):
    d = root / name
    d.mkdir()
    for key, value in (("level", level), ("type", kind), ("size", size),
                       ("shared_cpu_list", shared)):
        (d / key).write_text(f"{value}\n")


def test_core_cache_is_the_largest_cache_one_core_has_to_itself(tmp_path):
    _cache(tmp_path, "index0", 1, "Data", "48K", "0")
    _cache(tmp_path, "index1", 1, "Instruction", "32K", "0")
    _cache(tmp_path, "index2", 2, "Unified", "2048K", "0")
    _cache(tmp_path, "index3", 3, "Unified", "491520K", "0-1")  # shared: not one core's
    assert core_cache(tmp_path) == (2 * MIB, 2)


def test_core_cache_unknown_without_sysfs(tmp_path):
    assert core_cache(tmp_path / "absent") == (None, None)


def test_cpuinfo_cache(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nmodel name\t: Intel Xeon\ncache size\t: 491520 KB\n")
    assert cpuinfo_cache(f) == 491520 * 1024
    (tmp_path / "none").write_text("processor\t: 0\n")
    assert cpuinfo_cache(tmp_path / "none") is None


def test_sane_size_and_oversized():
    assert nursery.sane_size(MIB) == MIB  # at least 1 MB
    assert nursery.sane_size(4 * MIB) == 2 * MIB  # half the per-core cache
    assert nursery.is_oversized(240 * MIB, 2 * MIB)
    assert not nursery.is_oversized(MIB, MIB)
    assert not nursery.is_oversized(4 * MIB, MIB)  # an ordinary desktop's L3-based default
    assert not nursery.is_oversized(None, MIB)


@pytest.fixture
def machine(monkeypatch):
    """A machine whose PyPy default is ``default`` bytes and whose core has 1 MB of cache."""
    def make(default):
        monkeypatch.setattr(nursery, "pypy_default", lambda interp: default)
        monkeypatch.setattr(nursery, "core_cache", lambda: (MIB, 2))
    return make


def test_oversized_default_is_replaced_and_said(machine):
    machine(240 * MIB)
    changes, n = choose(object(), None, environ={})
    assert changes == {"PYPY_GC_NURSERY": "1MB"}
    assert (n.source, n.size, n.default) == ("course", MIB, 240 * MIB)
    text = n.describe()
    assert "1 MB" in text and "240 MB" in text and "set by the course" in text


def test_a_sane_default_is_left_alone(machine):
    machine(MIB)
    changes, n = choose(object(), None, environ={})
    assert changes == {} and n.source == "default" and n.size == MIB
    assert "PyPy's own default" in n.describe()


def test_the_learners_export_wins_and_is_said(machine):
    machine(240 * MIB)
    changes, n = choose(object(), None,
                        environ={"PYPY_GC_NURSERY": "8MB", "PYPY_GC_MAJOR_COLLECT": "1.5"})
    assert changes == {}  # the child inherits it as it is
    assert (n.source, n.size) == ("environment", 8 * MIB)
    assert "from your environment" in n.describe()
    assert "PYPY_GC_MAJOR_COLLECT=1.5" in n.describe()


def test_the_call_wins_over_the_environment(machine):
    machine(240 * MIB)
    changes, n = choose(object(), {"PYPY_GC_NURSERY": "4M"}, environ={"PYPY_GC_NURSERY": "8MB"})
    assert changes == {} and (n.source, n.size) == ("call", 4 * MIB)


@pytest.mark.parametrize("env", [{"PYPY_GC_NURSERY": "default"}, {"PYPY_GC_NURSERY": None}])
def test_default_asks_for_pypys_own_choice_even_oversized(machine, env):
    machine(240 * MIB)
    changes, n = choose(object(), env, environ={"PYPY_GC_NURSERY": "8MB"})
    assert changes == {"PYPY_GC_NURSERY": None}
    assert (n.source, n.size) == ("default", 240 * MIB)
    assert n.oversized and "far above" in n.describe()


def test_describe_runs_keeps_distinct_sentences_in_order():
    a = Nursery(MIB, "default", None, MIB, MIB)
    b = Nursery(4 * MIB, "call", "4M", MIB, MIB)

    class R:
        def __init__(self, n):
            self.nursery = n

    assert nursery.describe_runs([R(a), R(None), R(a), R(b)]) == [a.describe(), b.describe()]


# ----------------------------------------------------------------------------- real PyPy runs

@pypy
def test_pypy_reports_its_own_default():
    from helpers.interpreters import find_pypy

    size = nursery.pypy_default(find_pypy())
    assert isinstance(size, int) and size >= 256 * 1024


@pypy
def test_run_honours_an_exported_nursery(monkeypatch):
    from helpers import run

    monkeypatch.setenv("PYPY_GC_NURSERY", "3MB")
    r = run(PROBE)
    assert int(r.stdout) == 3 * MIB  # the child really ran with it
    assert r.nursery.source == "environment" and r.nursery.size == 3 * MIB


@pypy
def test_run_replaces_an_oversized_default(monkeypatch):
    from helpers import run
    from helpers.interpreters import find_pypy

    real_default = nursery.pypy_default(find_pypy())
    monkeypatch.delenv("PYPY_GC_NURSERY", raising=False)
    monkeypatch.setattr(nursery, "pypy_default", lambda interp: 240 * MIB)
    r = run(PROBE)
    assert int(r.stdout) == r.nursery.size == nursery.sane_size(nursery.core_cache()[0])
    assert r.nursery.source == "course"
    monkeypatch.setenv("PYPY_GC_NURSERY", "8MB")
    r = run(PROBE, env={"PYPY_GC_NURSERY": "default"})
    assert r.nursery.source == "default"
    assert int(r.stdout) == real_default  # the exported 8MB was removed: PyPy chose


@pypy
def test_cpython_runs_have_no_nursery():
    from helpers import run

    assert run("pass", interpreter="cpython").nursery is None


@pypy
def test_a_race_says_which_nursery_pypy_ran_with(monkeypatch):
    from helpers import race

    monkeypatch.setenv("PYPY_GC_NURSERY", "2MB")
    r = race("sum(range(100))", samples=20, budget=0.2, startup=False)
    assert r.nursery == [r.runs["pypy"].nursery.describe()]
    assert "PYPY_GC_NURSERY=2MB" in str(r) and "PYPY_GC_NURSERY=2MB" in r._repr_html_()


@pypy
def test_check_setup_shows_the_nursery_and_warns_when_oversized(monkeypatch):
    from helpers import check_setup

    monkeypatch.delenv("PYPY_GC_NURSERY", raising=False)
    monkeypatch.setattr(nursery, "pypy_default", lambda interp: 240 * MIB)
    report = check_setup()
    cell = report.table.loc["PyPy", "nursery"]
    assert "240 MB" in cell and "the course uses" in cell
    assert report.warnings and "240 MB" in report.warnings[0]
    assert "240 MB" in repr(report) and "240 MB" in report._repr_html_()


@pypy
def test_report_measures_both_nurseries_when_the_default_is_oversized(monkeypatch, tmp_path):
    from helpers.report import nursery_finding, nursery_runs
    from helpers.runner import run

    monkeypatch.delenv("PYPY_GC_NURSERY", raising=False)
    monkeypatch.setattr(nursery, "pypy_default", lambda interp: 64 * MIB)
    script = tmp_path / "alloc.py"
    script.write_text("import gc\nxs = [[i] for i in range(200000)]\n"
                      "print(gc.get_stats()._s.nursery_size)\n")
    smoked = run(script=script)
    runs = nursery_runs(script, [], str(tmp_path), smoked, timeout=60)
    # the "default" run is PyPy's real default here (the monkeypatch only says it is large)
    assert int(runs["sane"].stdout) == nursery.sane_size(nursery.core_cache()[0])
    text, lesson = nursery_finding(runs, Nursery(8 * MIB, "environment", "8MB", 64 * MIB, MIB))
    assert lesson == "07"
    assert "Every other PyPy step of this report ran with 8 MB, from your environment" in text
    from helpers.timing import format_seconds
    assert format_seconds(runs["default"].wall) in text and format_seconds(runs["sane"].wall) in text
    smoked.nursery = Nursery(MIB, "default", None, MIB, MIB)
    assert nursery_runs(script, [], str(tmp_path), smoked, timeout=60) == {}


@pypy
def test_check_setup_warning_follows_the_learners_own_choice(monkeypatch):
    from helpers import check_setup

    monkeypatch.setattr(nursery, "pypy_default", lambda interp: 240 * MIB)
    monkeypatch.setenv("PYPY_GC_NURSERY", "8MB")
    warning = check_setup().warnings[0]
    assert "PyPy runs with 8 MB, as your PYPY_GC_NURSERY=8MB says" in warning
    assert "The course runs PyPy with" not in warning
    monkeypatch.setenv("PYPY_GC_NURSERY", "default")
    assert "PyPy runs with its default, as your PYPY_GC_NURSERY=default says" in \
        check_setup().warnings[0]


def test_sane_setting_is_what_pypy_reads():
    assert nursery.sane_setting(MIB) == "1MB"
    assert nursery.parse_size(nursery.sane_setting(8 * MIB)) == nursery.sane_size(8 * MIB)
