"""helpers.cext: what stops a build is said in sentences, a build leaves only the module, and the
residual calls of a trace are named by target."""

import subprocess
import sys

import pytest

from helpers import cext
from helpers.interpreters import get_interpreter
from helpers.pypylog.ops import Op
from helpers.tracemodel import Block

SOURCE = r"""
#include <Python.h>
long twice(long x) { return 2 * x; }
static PyObject *py_twice(PyObject *self, PyObject *arg) {
    long x = PyLong_AsLong(arg);
    if (x == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromLong(twice(x));
}
static PyMethodDef methods[] = {{"twice", py_twice, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "twice", NULL, -1, methods};
PyMODINIT_FUNC PyInit_twice(void) { return PyModule_Create(&module); }
"""


def fake_toolchain(compiler, include, name="pypy"):
    interp = get_interpreter("cpython")
    interp = type(interp)(name=name, path=interp.path, implementation=interp.implementation,
                          version=interp.version, pypy_version="7.3.11" if name == "pypy" else None,
                          jit=False)
    return cext.Toolchain(interp, compiler, include, ".so")


def test_problems_name_what_is_missing_and_the_package(tmp_path):
    said = cext.problems(fake_toolchain(None, "/usr/include/pypy3.9-nowhere"))
    assert len(said) == 2
    assert "gcc" in said[0] and "apt-get install gcc" in said[0]
    assert "Python.h" in said[1] and "pypy3-dev" in said[1]
    other = cext.problems(fake_toolchain("/usr/bin/gcc", str(tmp_path), name="cpython"))
    assert len(other) == 1 and "without its C headers" in other[0]
    (tmp_path / "Python.h").write_text("")
    assert cext.problems(fake_toolchain("/usr/bin/gcc", str(tmp_path))) == []


def test_bad_name_or_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="identifier"):
        cext.build_extension(SOURCE, "no-dashes", tmp_path, "cpython")
    with pytest.raises(ValueError, match="not a folder"):
        cext.build_extension(SOURCE, "twice", tmp_path / "missing", "cpython")


def test_missing_headers_raise_build_error_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(cext, "toolchain",
                        lambda interpreter: fake_toolchain("/usr/bin/gcc", "/nowhere"))
    with pytest.raises(cext.BuildError, match="Python.h"):
        cext.build_extension(SOURCE, "twice", tmp_path, "pypy")
    assert list(tmp_path.iterdir()) == []


def test_compiler_errors_are_reported_and_leave_nothing(tmp_path):
    if cext.problems(cext.toolchain("cpython")):
        pytest.skip("no compiler or CPython headers here")
    with pytest.raises(cext.BuildError, match="could not build broken") as info:
        cext.build_extension("this is not C;", "broken", tmp_path, "cpython")
    assert "error" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_built_module_imports_and_runs(tmp_path):
    tc = cext.toolchain("cpython")
    if cext.problems(tc):
        pytest.skip("no compiler or CPython headers here")
    path = cext.build_extension(SOURCE, "twice", tmp_path, "cpython")
    assert path.name == "twice" + tc.ext_suffix and [p.name for p in tmp_path.iterdir()] == [path.name]
    out = subprocess.run([sys.executable, "-c", "import twice; print(twice.twice(21))"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


@pytest.mark.slow  # starts PyPy and compiles against cpyext's headers
def test_a_module_built_for_pypy_imports_there(tmp_path):
    tc = cext.toolchain("pypy")
    if cext.problems(tc):
        pytest.skip("no compiler or PyPy headers here: " + " ".join(cext.problems(tc)))
    cext.build_extension(SOURCE, "twice", tmp_path, "pypy")
    out = subprocess.run([tc.interpreter.path, "-c", "import twice; print(twice.twice(-4))"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "-8", out.stderr


def op(name, *args):
    return Op(0, name, args)


def test_call_targets_are_named_as_the_log_names_them():
    assert cext.call_target(op("call_may_force_i", "ConstClass(as_pyobj)", "p3")) == "as_pyobj"
    assert cext.call_target(op("call_release_gil_i", "91", "140621490999632", "i26")) == \
        "address 140621490999632"
    assert cext.call_target(op("call_i", "i30", "p1")) == "i30"
    assert cext.call_target(op("cond_call")) == "?"


def test_residual_calls_count_the_body_only():
    preamble = Block(None, 0, True, ops=[op("call_r", "ConstClass(from_ref)", "i1")])
    body = Block(None, 0, False, ops=[op("int_add", "i1", "1"),
                                      op("call_r", "ConstClass(from_ref)", "i1")])
    body.children.append(Block(None, 1, False, ops=[op("call_n", "ConstClass(from_ref)"),
                                                    op("guard_true", "i2")]))

    class Info:
        blocks = [preamble, body]

    assert cext.residual_calls(Info()) == {"from_ref": 2}


def test_setup_installs_only_the_missing_debian_packages(monkeypatch, tmp_path):
    from helpers import setup as course_setup

    asked = []
    monkeypatch.setattr(course_setup, "can_apt", lambda: True)
    monkeypatch.setattr(course_setup, "apt_install", lambda *p: asked.append(p) or True)
    monkeypatch.setattr(course_setup.shutil, "which", lambda name: None)
    # a pyenv CPython (its own headers: not Debian's business) and Debian's PyPy
    course_setup.ensure_build_tools(str(tmp_path / "python3.11"), "/usr/bin/pypy3-nowhere")
    assert asked == [("gcc", "pypy3-dev")]
    asked.clear()
    monkeypatch.setattr(course_setup.shutil, "which", lambda name: "/usr/bin/gcc")
    course_setup.ensure_build_tools(str(tmp_path / "python3.11"), str(tmp_path / "pypy3"))
    assert asked == []
