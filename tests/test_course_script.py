"""What the ./course script does, checked by running it.

Safe on a machine that is already set up: no test deletes or rebuilds .venv or
.venv-pypy. The failure cases stop before the script touches a venv (each test
checks the venvs' stamps are unchanged), and the "cannot install PyPy" cases
run a copy of the script in a temporary folder with a PATH that has no pypy3.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
VENVS = (ROOT / ".venv", ROOT / ".venv-pypy")
# What the launcher needs from PATH when it is run with a stripped one (the set-up itself,
# helpers/setup.py, needs only Python).
TOOLS = ("bash", "dirname", "head", "timeout")


def course(*args, env=None, script=COURSE, cwd=None, timeout=900):
    """Run the course script with stdin closed (as in CI); return the CompletedProcess."""
    return subprocess.run(
        [str(script), *args],
        env=os.environ.copy() if env is None else env,
        cwd=cwd or ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def env_with(**changes):
    env = os.environ.copy()
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def venv_state():
    """The files a set-up writes or rewrites, with their contents and mtimes."""
    state = {}
    for venv in VENVS:
        for name in (".course-stamp", ".course-base", "pyvenv.cfg"):
            path = venv / name
            if path.exists():
                state[str(path)] = (path.read_text(), path.stat().st_mtime_ns)
    return state


def real_python():
    """The real CPython binary behind this test run (not a venv link or pyenv shim)."""
    return os.path.realpath(sys.executable)


def stripped_path_checkout(parent, extra_tools=(), python=None):
    """A copy of the script, the set-up module it runs (helpers/) and requirements.txt in
    PARENT/repo, and PARENT/bin holding links to only the tools the script needs: no pypy3,
    no apt-get (unless named in EXTRA_TOOLS). Returns (script, bin_dir)."""
    repo, bin_dir = parent / "repo", parent / "bin"
    repo.mkdir()
    bin_dir.mkdir()
    shutil.copy2(COURSE, repo / "course")
    shutil.copytree(ROOT / "helpers", repo / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "requirements.txt", repo / "requirements.txt")
    for tool in TOOLS + tuple(extra_tools):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(python or real_python())
    return repo / "course", bin_dir


def python_for(as_user):
    """A CPython 3.11+ that the command prefix AS_USER (e.g. setpriv to nobody) can run: the
    launcher needs one before the set-up looks for PyPy. This run's own, else Debian's."""
    for candidate in (real_python(), shutil.which("python3.11"), "/usr/bin/python3"):
        if not candidate or not os.path.exists(candidate):
            continue
        # As the launcher will: found by bash as a program, then run.
        check = subprocess.run(
            [*as_user, "bash", "-c",
             'command -v "$1" && "$1" -c "import sys; assert sys.version_info >= (3, 11)"',
             "check", candidate],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        )
        if check.returncode == 0:
            return os.path.realpath(candidate)
    return None


def assert_says_how_to_get_pypy(stderr):
    assert "course: error:" in stderr
    assert "apt-get install pypy3 pypy3-venv" in stderr
    assert "PYPY=/path/to/pypy3" in stderr
    assert "pypy.org" in stderr


def test_help_names_every_command():
    result = course("help")
    assert result.returncode == 0
    assert "./course COMMAND" in result.stdout
    for command in ("lab", "test", "setup", "grade"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), command


def test_unknown_command_is_an_error():
    result = course("frobnicate")
    assert result.returncode == 2
    assert "unknown command: frobnicate" in result.stderr
    assert "Usage:" in result.stderr


def test_pypy_pointing_nowhere_fails_clearly():
    before = venv_state()
    result = course("setup", env=env_with(PYPY="/nonexistent/pypy3"))
    assert result.returncode != 0
    assert "PYPY=/nonexistent/pypy3: no such program" in result.stderr
    assert venv_state() == before


@pytest.mark.parametrize(
    "pypy, message",
    [
        ("/bin/true", "is not a working PyPy"),
        (real_python(), "is CPython"),
    ],
    ids=["not-python", "cpython"],
)
def test_pypy_pointing_at_something_else_fails_clearly(pypy, message):
    before = venv_state()
    result = course("setup", env=env_with(PYPY=pypy))
    assert result.returncode != 0
    assert f"PYPY={pypy}" in result.stderr
    assert message in result.stderr
    assert "not PyPy" in result.stderr or "not a working PyPy" in result.stderr
    assert venv_state() == before


@pytest.mark.parametrize(
    "cpython, message",
    [
        ("/bin/true", "CPYTHON=/bin/true does not run as Python"),
        ("/nonexistent/python3", "CPYTHON=/nonexistent/python3 does not run as Python"),
        ("pypy3", "is PyPy, not CPython"),
    ],
    ids=["not-python", "nowhere", "pypy"],
)
def test_cpython_pointing_at_something_else_fails_clearly(cpython, message):
    if cpython == "pypy3" and shutil.which("pypy3") is None:
        pytest.skip("no pypy3 on PATH")
    before = venv_state()
    result = course("setup", env=env_with(CPYTHON=cpython), timeout=120)
    assert result.returncode == 1
    assert "course: error:" in result.stderr
    assert message in result.stderr
    assert "CPython 3.11+" in result.stderr
    assert venv_state() == before


def test_setup_takes_no_arguments():
    before = venv_state()
    result = course("setup", "--force", timeout=120)
    assert result.returncode == 1
    assert "setup takes no arguments (got: --force)" in result.stderr
    assert venv_state() == before


def test_without_pypy_or_apt_get_says_what_to_do(tmp_path):
    before = venv_state()
    script, bin_dir = stripped_path_checkout(tmp_path)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = course("setup", env=env, script=script, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "no apt-get here" in result.stderr
    assert_says_how_to_get_pypy(result.stderr)
    # It stopped before building anything, and the real venvs are untouched.
    assert not (script.parent / ".venv").exists()
    assert not (script.parent / ".venv-pypy").exists()
    assert venv_state() == before


def test_without_pypy_as_non_root_says_what_to_do():
    """apt-get is there but the user is not root: a real unprivileged run."""
    as_user = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("needs setpriv (util-linux) to drop root")
        as_user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get on this machine")
    python = python_for(as_user)
    if python is None:
        pytest.skip("no CPython 3.11+ that an unprivileged user can run")
    before = venv_state()
    # Under /tmp, not pytest's tmp_path: the unprivileged user must reach it.
    parent = Path(tempfile.mkdtemp(prefix="course-nonroot-"))
    try:
        parent.chmod(0o755)
        script, bin_dir = stripped_path_checkout(parent, extra_tools=("apt-get",), python=python)
        script.parent.chmod(0o777)
        env = {"PATH": str(bin_dir), "HOME": str(parent), "LANG": "C.UTF-8"}
        result = subprocess.run(
            [*as_user, str(script), "setup"],
            env=env, cwd=parent, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode != 0, result.stderr
        assert "needs root" in result.stderr
        assert_says_how_to_get_pypy(result.stderr)
        assert not (script.parent / ".venv").exists()
    finally:
        shutil.rmtree(parent)
    assert venv_state() == before


@pytest.mark.slow  # starts ./course, a kernel or JupyterLab
def test_second_setup_is_a_quick_no_op():
    first = course("setup")  # sets up if needed (minutes on a new machine)
    assert first.returncode == 0, first.stderr
    before = venv_state()
    assert len([p for p in before if p.endswith(".course-stamp")]) == 2
    start = time.monotonic()
    again = course("setup", timeout=120)
    elapsed = time.monotonic() - start
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("is up to date") == 2, again.stderr
    assert "installing" not in again.stderr
    assert venv_state() == before
    assert elapsed < 15, f"second ./course setup took {elapsed:.1f} s"


@pytest.mark.slow  # starts ./course, a kernel or JupyterLab
def test_repo_root_is_on_the_venv_path_from_any_folder(tmp_path):
    code = "import sys, json; print(json.dumps(sys.path))"
    result = subprocess.run(
        [str(VENV_PYTHON), "-c", code], cwd=tmp_path, env=env_with(PYTHONPATH=None),
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert str(ROOT) in json.loads(result.stdout)
    if (ROOT / "helpers" / "__init__.py").exists():
        subprocess.run(
            [str(VENV_PYTHON), "-c", "import helpers"], cwd=tmp_path,
            env=env_with(PYTHONPATH=None), timeout=60, check=True,
        )


@pytest.mark.slow  # starts ./course, a kernel or JupyterLab
def test_python3_kernel_runs_the_venv_python(tmp_path):
    """The kernel JupyterLab and nbval start is .venv's python, with the repo on its path."""
    code = r"""
import json, sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
out = []
try:
    kc.execute_interactive(
        "import sys, json; print(json.dumps([sys.prefix, sys.path]))",
        output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=60)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print("".join(out).strip().splitlines()[-1])
"""
    result = subprocess.run(
        [str(VENV_PYTHON), "-c", code], cwd=tmp_path, env=env_with(PYTHONPATH=None),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    prefix, path = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(prefix) == ROOT / ".venv"
    assert str(ROOT) in path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # starts ./course, a kernel or JupyterLab
def test_lab_prints_a_url_that_serves(tmp_path):
    log_path = tmp_path / "lab.log"
    with open(log_path, "w") as log:
        lab = subprocess.Popen(
            [str(COURSE), "lab", "--no-browser", f"--port={free_port()}"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so all of it can be stopped
        )
    try:
        url, deadline = None, time.monotonic() + 120
        while url is None and time.monotonic() < deadline and lab.poll() is None:
            time.sleep(0.5)
            found = re.search(r"http://127\.0\.0\.1:\d+/\S*token=\w+", log_path.read_text())
            url = found and found.group(0)
        assert url, f"no URL printed; output:\n{log_path.read_text()[-3000:]}"
        assert "/lab/tree/notebooks/00-index.ipynb" in url
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()


PIN = re.compile(
    r'^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][^\s;]* ; implementation_name == "(cpython|pypy)"'
    r'( and python_version (<|==|>=) "3\.\d+")?$'  # a package whose wheels differ per Python
)


def test_requirements_are_exact_pins_for_one_interpreter_each():
    lines = [
        line for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    bad = [line for line in lines if not PIN.match(line)]
    assert not bad, f"not 'name==version ; implementation_name == ...': {bad}"
    names = {
        impl: {line.split("==")[0].lower() for line in lines if f'"{impl}"' in line}
        for impl in ("cpython", "pypy")
    }
    assert {"jupyterlab", "ipykernel", "nbval", "pytest", "vmprof", "pyperf"} <= names["cpython"]
    assert {"vmprof", "pyperf"} <= names["pypy"]
    # The PyPy venv is installed with --no-deps; psutil does not import on PyPy 7.3.11.
    assert "psutil" not in names["pypy"]
