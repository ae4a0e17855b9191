"""The one PyPy discovery order and the one version check, shared by the set-up
(helpers/setup.py, behind ./course) and the library (helpers.interpreters).

Plain functions on fake files and fake probes: nothing here installs anything or starts PyPy.
"""

import fcntl
import os
import threading
import time

import pytest

from helpers import interpreters
from helpers import setup as course_setup
from helpers.interpreters import APT_PYPY, Candidate, pypy_candidates, version_problem


def fake_program(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def world(tmp_path):
    """A course folder and a PATH folder, both empty: add programs with fake_program."""
    root, bin_dir = tmp_path / "course", tmp_path / "bin"
    root.mkdir()
    bin_dir.mkdir()
    return root, bin_dir


def candidates(world, *, euid=0, **environ):
    root, bin_dir = world
    environ.setdefault("PATH", str(bin_dir))
    return pypy_candidates(environ=environ, root=root, euid=euid)


def record_base(root, path):
    venv = root / ".venv-pypy"
    venv.mkdir(exist_ok=True)
    (venv / ".course-base").write_text(f"{path}\n")


# ----------------------------------------------------------------------------- the order

def test_pypy_set_is_the_only_candidate(world):
    root, bin_dir = world
    fake_program(bin_dir / "pypy3")
    record_base(root, fake_program(root / "opt" / "pypy3"))
    found = candidates(world, PYPY="/opt/pypy/bin/pypy3")
    assert found == [Candidate("PYPY=/opt/pypy/bin/pypy3", "/opt/pypy/bin/pypy3", explicit=True)]


def test_pypy_as_a_bare_name_is_looked_up_on_path(world):
    _, bin_dir = world
    pypy = fake_program(bin_dir / "pypy3")
    [only] = candidates(world, PYPY="pypy3")
    assert only.path == pypy and only.where == "PYPY=pypy3" and only.explicit


def test_order_without_pypy_set(world):
    """pypy3, then pypy on PATH, then the recorded base, then apt-get (as root)."""
    root, bin_dir = world
    pypy3 = fake_program(bin_dir / "pypy3")
    pypy = fake_program(bin_dir / "pypy")
    base = fake_program(root / "downloads" / "pypy3.9-v7.3.11" / "bin" / "pypy3")
    record_base(root, base)
    fake_program(bin_dir / "apt-get")
    found = candidates(world)
    assert [c.path for c in found] == [pypy3, pypy, base, None]
    assert found[0].where == f"pypy3 on PATH ({pypy3})"
    assert found[2].where == f"{base} (the PyPy .venv-pypy was built from)"
    assert found[3].where == APT_PYPY
    assert not any(c.explicit for c in found)


def test_apt_get_only_as_root_and_where_there_is_one(world):
    _, bin_dir = world
    assert candidates(world) == []  # root, but no apt-get
    fake_program(bin_dir / "apt-get")
    assert candidates(world, euid=1000) == []
    assert candidates(world, euid=0) == [Candidate(APT_PYPY, None)]


def test_recorded_base_that_is_gone_or_relative_is_skipped(world):
    root, _ = world
    record_base(root, root / "gone" / "pypy3")
    assert candidates(world) == []
    record_base(root, "pypy3")
    assert candidates(world) == []


def test_the_same_binary_is_offered_once(world):
    root, bin_dir = world
    real = fake_program(root / "pypy3.9")
    (bin_dir / "pypy3").symlink_to(real)
    (bin_dir / "pypy").symlink_to(real)
    record_base(root, real)
    assert [c.path for c in candidates(world)] == [str(bin_dir / "pypy3")]


def test_apt_problem_says_why():
    no_apt = interpreters.apt_problem(environ={"PATH": "/nonexistent"}, euid=0)
    assert no_apt == "there is no apt-get here"
    which = lambda name, path=None: "/usr/bin/apt-get"  # noqa: E731
    assert interpreters.apt_problem(which=which, euid=0) is None
    assert "needs root (this is user" in interpreters.apt_problem(which=which, euid=65534)


def test_runtime_prefers_the_built_venv_unless_pypy_is_set(world, monkeypatch):
    root, bin_dir = world
    monkeypatch.setattr(interpreters, "COURSE_ROOT", root)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("PYPY", raising=False)
    pypy3 = fake_program(bin_dir / "pypy3")
    fake_program(bin_dir / "apt-get")
    venv_python = fake_program(root / ".venv-pypy" / "bin" / "python")
    paths = [c.path for c in interpreters._runtime_pypy_candidates()]
    assert paths == [venv_python, pypy3]  # never the install step at run time
    monkeypatch.setenv("PYPY", "/opt/pypy/bin/pypy3")
    assert [c.path for c in interpreters._runtime_pypy_candidates()] == ["/opt/pypy/bin/pypy3"]


def answers(table):
    """A stand-in for the probe: path -> what the interpreter says it is."""
    def probe(path):
        if path not in table:
            raise interpreters.InterpreterNotFound(f"there is no interpreter at {path}")
        impl, version = table[path]
        return {"implementation": impl, "version": version, "executable": path,
                "pypy_version": "7.3.11" if impl == "PyPy" else None, "jit": impl == "PyPy",
                "prefix": "/usr"}
    return probe


def test_runtime_find_pypy_applies_the_version_check(world, monkeypatch):
    root, bin_dir = world
    monkeypatch.setattr(interpreters, "COURSE_ROOT", root)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("PYPY", raising=False)
    old = fake_program(bin_dir / "pypy3")
    new = fake_program(bin_dir / "pypy")
    monkeypatch.setattr(interpreters, "_probe", answers({old: ("PyPy", "3.8.16"),
                                                         new: ("PyPy", "3.10.14")}))
    assert interpreters.find_pypy().path == new
    monkeypatch.setattr(interpreters, "_probe", answers({old: ("PyPy", "3.8.16")}))
    with pytest.raises(interpreters.InterpreterNotFound) as info:
        interpreters.find_pypy()
    message = str(info.value)
    assert "PyPy for Python 3.8.16; the course needs PyPy for Python 3.9+" in message
    assert "./course setup" in message and "PYPY=" in message


# ----------------------------------------------------------------------------- the check

@pytest.mark.parametrize("impl, version, want, problem", [
    ("PyPy", "3.9.16", "PyPy", None),
    ("PyPy", "3.10.14", "PyPy", None),
    ("PyPy", "3.8.16", "PyPy",
     "is PyPy for Python 3.8.16; the course needs PyPy for Python 3.9+"),
    ("CPython", "3.11.7", "PyPy", "is CPython 3.11.7, not PyPy"),
    ("CPython", "3.11.2", "CPython", None),
    ("CPython", "3.13.0rc1", "CPython", None),
    ("CPython", "3.10.12", "CPython", "is Python 3.10.12; the course needs CPython 3.11+"),
    ("CPython", "3.9.16", "CPython", "is Python 3.9.16; the course needs CPython 3.11+"),
    ("PyPy", "3.10.14", "CPython", "is PyPy 3.10.14, not CPython"),
    ("CPython", "garbage", "CPython", "is Python garbage; the course needs CPython 3.11+"),
])
def test_version_problem(impl, version, want, problem):
    assert version_problem({"implementation": impl, "version": version}, want) == problem


def test_the_launcher_checks_the_same_cpython_minimum():
    """./course (bash) must reject a CPython before it can run any Python: same minimum."""
    launcher = (interpreters.COURSE_ROOT / "course").read_text()
    assert 'MIN_CPYTHON="%d.%d"' % interpreters.MIN_CPYTHON in launcher


# ----------------------------------------------------------------------------- the set-up's use

def test_setup_stops_at_a_bad_pypy_setting(monkeypatch):
    monkeypatch.setattr(interpreters, "pypy_candidates",
                        lambda: [Candidate("PYPY=/x/pypy3", "/bin/sh", explicit=True)])
    monkeypatch.setattr(interpreters, "_probe", answers({"/bin/sh": ("CPython", "3.11.7")}))
    with pytest.raises(course_setup.SetupError) as info:
        course_setup.find_pypy()
    message = str(info.value)
    assert message.startswith("PYPY=/x/pypy3 is CPython 3.11.7, not PyPy.")
    assert "PYPY=/path/to/pypy3" in message and "pypy.org" in message


def test_setup_looks_further_past_an_old_pypy(tmp_path, monkeypatch, capsys):
    old, good = fake_program(tmp_path / "old"), fake_program(tmp_path / "good")
    monkeypatch.setattr(interpreters, "pypy_candidates", lambda: [
        Candidate(f"pypy3 on PATH ({old})", old), Candidate(f"{good} (recorded)", good),
        Candidate(APT_PYPY, None)])
    monkeypatch.setattr(interpreters, "_probe", answers({old: ("PyPy", "3.8.16"),
                                                         good: ("PyPy", "3.9.16")}))
    monkeypatch.setattr(course_setup, "apt_install", lambda *p: pytest.fail("installed"))
    exe, ident = course_setup.find_pypy()
    assert exe == os.path.realpath(good) and ident == f"PyPy 3.9.16 {exe}"
    assert "the course needs PyPy for Python 3.9+. Looking further." in capsys.readouterr().err


def test_setup_installs_with_apt_get_last(tmp_path, monkeypatch):
    pypy3 = fake_program(tmp_path / "pypy3")
    installed = []
    monkeypatch.setattr(interpreters, "pypy_candidates", lambda: [Candidate(APT_PYPY, None)])
    monkeypatch.setattr(course_setup, "apt_install", lambda *p: installed.append(p) or True)
    monkeypatch.setattr(course_setup.shutil, "which", lambda name: pypy3)
    monkeypatch.setattr(interpreters, "_probe", answers({pypy3: ("PyPy", "3.9.16")}))
    assert course_setup.find_pypy()[0] == os.path.realpath(pypy3)
    assert installed == [("pypy3", "pypy3-venv")]


@pytest.mark.parametrize("apt, says", [
    ("there is no apt-get here", "pypy3 is not on PATH and there is no apt-get here."),
    ("installing it with apt-get needs root (this is user nobody)",
     "pypy3 is not on PATH, and installing it with apt-get needs root (this is user nobody)."),
])
def test_setup_without_any_pypy_says_what_to_do(monkeypatch, apt, says):
    monkeypatch.setattr(interpreters, "pypy_candidates", lambda: [])
    monkeypatch.setattr(interpreters, "apt_problem", lambda: apt)
    with pytest.raises(course_setup.SetupError) as info:
        course_setup.find_pypy()
    message = str(info.value)
    assert message.startswith(says)
    for hint in ("apt-get install pypy3 pypy3-venv", "PYPY=/path/to/pypy3", "pypy.org"):
        assert hint in message


def test_setup_identity_matches_the_stamps_bash_wrote():
    info = {"implementation": "PyPy", "version": "3.9.16", "executable": "/bin/sh"}
    exe = os.path.realpath("/bin/sh")
    assert course_setup.identity(info) == (exe, f"PyPy 3.9.16 {exe}")
    info["version"] = "3.13.0rc1"
    assert course_setup.identity(info)[1] == f"PyPy 3.13.0 {exe}"


def test_setup_lock_waits_for_another_setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(course_setup, "ROOT", tmp_path)
    with open(tmp_path / ".course.lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        got = []
        waiter = threading.Thread(target=lambda: got.append(course_setup.Lock()))
        waiter.start()
        time.sleep(0.3)
        assert not got, "took the lock while another set-up held it"
        fcntl.flock(other, fcntl.LOCK_UN)
        waiter.join(timeout=10)
    assert got
    got[0].release()
    assert "waiting for another ./course set-up" in capsys.readouterr().err


def test_setup_main_help_and_unknown_command(capsys):
    assert course_setup.main(["help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: ./course COMMAND")
    assert course_setup.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "Usage:" in err and "unknown command: frobnicate" in err
