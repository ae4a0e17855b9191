"""The runner under bad input: every way a child can misbehave, and nothing left behind."""

import os
import signal
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import INTERPRETERS

from helpers import interpreters
from helpers.runner import ChildError, ChildTimeout, RunResult, run



def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def made_tmpdirs(monkeypatch):
    """Every temp dir the runner makes during the test."""
    made = []
    real = tempfile.mkdtemp

    def recording(*a, **kw):
        path = real(*a, **kw)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    return made


# ----------------------------------------------------------------------------- the good path

@pytest.mark.parametrize("which", INTERPRETERS)
def test_result_carries_output_times_and_rss(which):
    code = "import sys, time; print('hello'); print('warn', file=sys.stderr); time.sleep(0.1)"
    r = run(code, interpreter=which)
    assert isinstance(r, RunResult) and r.ok
    assert r.returncode == 0
    assert r.stdout == "hello\n" and r.stderr == "warn\n"
    assert r.wall > 0 and r.user >= 0 and r.sys >= 0
    assert r.user + r.sys <= r.wall * 2 + 0.5  # CPU of one mostly single-threaded child
    assert r.max_rss > 1_000_000  # any Python needs more than a megabyte
    assert r.interpreter.name == which
    assert "sh" not in Path(r.argv[0]).name  # argv list, never a shell


def test_peak_rss_is_the_childs_own_not_the_parents(tmp_path):
    # Linux folds the parent's peak into a child's ru_maxrss: a parent that grew to 300 MB must
    # still see a small child as small, and a big child as big.
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        from helpers.runner import run
        ballast = bytearray(300 * 2**20)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        grow = "import time\\nx = bytearray({mb} * 2**20)\\nfor i in range(0, len(x), 4096): x[i] = 1\\ntime.sleep(0.1)"
        print(run(grow.format(mb=1), interpreter="cpython").max_rss // 2**20)
        print(run(grow.format(mb=500), interpreter="cpython").max_rss // 2**20)
    """))
    r = run(script=script, interpreter="cpython", cwd=Path(__file__).resolve().parent.parent,
            env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    small, big = map(int, r.stdout.split())
    assert 5 < small < 100, small
    assert 500 <= big < 600, big


def test_args_env_and_cwd_reach_the_child(tmp_path):
    (tmp_path / "data.txt").write_text("from the folder")
    script = tmp_path / "s.py"
    script.write_text(
        "import os, sys\n"
        "print(sys.argv[1:])\n"
        "print(os.environ.get('COURSE_X'), os.environ.get('PYPYLOG'))\n"
        "print(open('data.txt').read())\n"
    )
    os.environ["PYPYLOG"] = "jit:/should/not/leak"
    try:
        r = run(script=script, interpreter="cpython", args=["a b", "$HOME;rm"],
                env={"COURSE_X": "1"}, cwd=tmp_path)
    finally:
        del os.environ["PYPYLOG"]
    assert r.stdout.splitlines() == ["['a b', '$HOME;rm']", "1 None", "from the folder"]


@pytest.mark.pypy
def test_jit_option_is_passed_to_pypy():
    code = "import pypyjit, sys; print('ok')"
    assert run(code, interpreter="pypy", jit="off").stdout == "ok\n"
    with pytest.raises(ValueError, match="only makes sense for PyPy"):
        run(code, interpreter="cpython", jit="off")


# ----------------------------------------------------------------------------- bad input

def test_missing_interpreter_names_itself():
    with pytest.raises(interpreters.InterpreterNotFound, match="/no/such/python"):
        run("pass", interpreter="/no/such/python")


def test_missing_pypy_says_what_to_do(monkeypatch):
    monkeypatch.setenv("PYPY", "/nowhere/pypy3")
    with pytest.raises(interpreters.InterpreterNotFound) as info:
        run("pass", interpreter="pypy")
    msg = str(info.value)
    assert "/nowhere/pypy3" in msg and "./course setup" in msg and "PYPY=" in msg


def test_pypy_pointing_at_cpython_is_refused(monkeypatch):
    monkeypatch.setenv("PYPY", interpreters.find_cpython().path)
    with pytest.raises(interpreters.InterpreterNotFound, match="not PyPy"):
        interpreters.find_pypy()


@pytest.mark.parametrize("which", INTERPRETERS)
def test_snippet_that_raises_shows_the_childs_traceback(which):
    code = textwrap.dedent("""
        def parse(text):
            return int(text)

        parse("forty-two")
    """)
    with pytest.raises(ChildError) as info:
        run(code, interpreter=which)
    msg = str(info.value)
    assert "ValueError" in msg and "forty-two" in msg
    assert 'parse("forty-two")' in msg and "return int(text)" in msg  # the child's own lines
    assert "helpers/runner.py" not in msg
    assert info.value.result.returncode == 1


def test_check_false_returns_the_failure():
    r = run("raise SystemExit(3)", interpreter="cpython", check=False)
    assert r.returncode == 3 and not r.ok
    with pytest.raises(ChildError, match="exited with status 3"):
        r.check()


def test_killed_by_a_signal_is_named():
    with pytest.raises(ChildError, match="SIGSEGV"):
        run("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", interpreter="cpython")


@pytest.mark.parametrize("which", INTERPRETERS)
def test_endless_loop_times_out_and_its_group_dies(which, tmp_path):
    pidfile = tmp_path / "pid"
    code = (f"import os\nwith open({str(pidfile)!r}, 'w') as f:\n    f.write(str(os.getpid()))\n"
            "while True: pass\n")
    start = time.monotonic()
    with pytest.raises(ChildTimeout, match="did not finish after 1.5 s") as info:
        run(code, interpreter=which, timeout=1.5)
    assert time.monotonic() - start < 10
    assert info.value.result.timed_out
    assert not alive(int(pidfile.read_text()))


def _spawn_grandchild(pidfile):
    # The child starts a sleeper that would outlive it, then leaves.
    return textwrap.dedent(f"""
        import subprocess, sys
        p = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL)
        with open({str(pidfile)!r}, "w") as f:
            f.write(str(p.pid))
        print("parent leaves")
    """)


def test_grandchild_does_not_outlive_a_normal_exit(tmp_path):
    pidfile = tmp_path / "pid"
    r = run(_spawn_grandchild(pidfile), interpreter="cpython", timeout=30)
    assert r.stdout == "parent leaves\n"
    assert wait_dead(int(pidfile.read_text()))


def test_grandchild_holding_the_pipe_does_not_hang_the_call(tmp_path):
    # The sleeper inherits stdout: without the group kill, reading would wait 300 s.
    pidfile = tmp_path / "pid"
    code = textwrap.dedent(f"""
        import subprocess
        p = subprocess.Popen(["sleep", "300"])
        with open({str(pidfile)!r}, "w") as f:
            f.write(str(p.pid))
    """)
    start = time.monotonic()
    run(code, interpreter="cpython", timeout=30)
    assert time.monotonic() - start < 10
    assert wait_dead(int(pidfile.read_text()))


ESCAPES = {
    # a helper process in a session of its own, holding the child's stdout and stderr
    "new session": """
        import subprocess
        p = subprocess.Popen(["sleep", "300"], start_new_session=True)
        pids = [p.pid]
    """,
    # the classic daemon: fork, setsid, fork again, the middle one leaves at once
    "double fork": """
        import os, time
        r, w = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(w, str(os.getpid()).encode())
                time.sleep(300)
            os._exit(0)
        os.close(w)
        pids = [int(os.read(r, 32))]
    """,
}


@pytest.mark.parametrize("how", ESCAPES)
def test_a_descendant_that_leaves_the_group_does_not_outlive_the_call(tmp_path, how):
    pidfile = tmp_path / "pid"
    code = textwrap.dedent(ESCAPES[how]) + textwrap.dedent(f"""
        import time
        with open({str(pidfile)!r}, "w") as f:
            f.write(str(pids[0]))
        end = time.time()
        print(end)
    """)
    r = run(code, interpreter="cpython", timeout=30)
    child_ended = float(r.stdout.split()[-1])
    assert time.time() - child_ended < 1.0, "the call waited on a pipe the escaped one held"
    escaped = int(pidfile.read_text())
    assert wait_dead(escaped, within=0.5), f"the {how} descendant outlived the call"


def test_marked_processes_finds_only_its_own_call():
    from helpers.runner import MARK, marked_processes

    import subprocess
    import uuid

    mark = uuid.uuid4().hex
    p = subprocess.Popen(["sleep", "30"], env={**os.environ, MARK: mark})
    other = subprocess.Popen(["sleep", "30"], env={**os.environ, MARK: mark + "x"})
    try:
        assert marked_processes(mark) == [p.pid]
    finally:
        p.kill(), other.kill(), p.wait(), other.wait()


def test_grandchild_dies_on_timeout(tmp_path):
    pidfile = tmp_path / "pid"
    code = _spawn_grandchild(pidfile) + "while True: pass\n"
    with pytest.raises(ChildTimeout):
        run(code, interpreter="cpython", timeout=2)
    assert wait_dead(int(pidfile.read_text()))


@pytest.mark.parametrize("which", INTERPRETERS)
def test_stdout_flood_is_bounded(which):
    # 100 MB of output: the result keeps the first and last MB and says what it dropped.
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor i in range(10**6): sys.stdout.write(line)\n" \
           "print('THE END')\n"
    r = run(code, interpreter=which, timeout=120)
    assert r.stdout_bytes == 10**8 + len("THE END\n")
    assert len(r.stdout.encode()) < 2_100_000
    assert r.stdout.startswith("x" * 99 + "\n")
    assert r.stdout.endswith("THE END\n")
    assert "bytes of output dropped" in r.stdout
    assert r.dropped["stdout"] > 97_000_000


def test_small_output_limit_keeps_head_and_tail():
    r = run("for i in range(1000): print(i)", interpreter="cpython", output_limit=100)
    head, marker, tail = r.stdout.partition("bytes of output dropped")
    assert head.startswith("0\n1\n2\n") and marker
    assert tail.rstrip().endswith("999")


@pytest.mark.parametrize("which", INTERPRETERS)
def test_non_utf8_output_is_replaced_not_fatal(which):
    code = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe\\xc3 end\\n')\n" \
           "sys.stderr.buffer.write(b'\\x80 err\\n')\n"
    r = run(code, interpreter=which)
    assert r.stdout == "ok \ufffd\ufffd\ufffd end\n"
    assert r.stderr == "\ufffd err\n"


def test_interrupt_kills_the_child_and_its_group(tmp_path):
    pidfile = tmp_path / "pids"
    code = textwrap.dedent(f"""
        import os, subprocess
        p = subprocess.Popen(["sleep", "300"])
        with open({str(pidfile)!r}, "w") as f:
            f.write(f"{{os.getpid()}} {{p.pid}}")
        while True: pass
    """)

    def press_ctrl_c():
        deadline = time.monotonic() + 20
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(code, interpreter="cpython", timeout=60)
    assert time.monotonic() - start < 20
    for pid in map(int, pidfile.read_text().split()):
        assert wait_dead(pid), f"process {pid} outlived the interrupt"


def test_temp_dirs_are_removed_on_every_path(made_tmpdirs, tmp_path):
    run("print(1)", interpreter="cpython")
    with pytest.raises(ChildError):
        run("1/0", interpreter="cpython")
    with pytest.raises(ChildTimeout):
        run("while True: pass", interpreter="cpython", timeout=0.5)
    with pytest.raises(interpreters.InterpreterNotFound):
        run("pass", interpreter="/no/such/python")
    assert len(made_tmpdirs) >= 3
    assert [p for p in made_tmpdirs if os.path.exists(p)] == []


def test_code_and_script_are_exclusive(tmp_path):
    with pytest.raises(TypeError):
        run()
    with pytest.raises(TypeError):
        run("pass", script=tmp_path / "x.py")
    with pytest.raises(FileNotFoundError, match="no script"):
        run(script=tmp_path / "missing.py", interpreter="cpython")


def test_helpers_run_stays_the_function_after_submodules_load():
    import helpers
    import helpers.magics  # noqa: F401  (imports the runner module)
    import helpers.timing  # noqa: F401

    assert callable(helpers.run)
    assert helpers.run("print(7)", interpreter="cpython").stdout == "7\n"
