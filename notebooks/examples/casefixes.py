"""The fixes lesson 10 makes to its two case studies, as small patches to the original programs.

    >>> from examples import casefixes
    >>> print(casefixes.diff("tinylang.py"))          # the fix as a unified diff
    >>> path = casefixes.write_fixed("tinylang.py", some_folder)   # the fixed program

Each fix is a list of (old text, new text) replacements applied to the program next to this file,
so the repository keeps one copy of each program and the fix stays a few readable lines. Runs on
Python 3.9+, standard library only.
"""

import difflib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# logreport.py: the pseudonym hash starts above 2**63 and multiplies past 2**64, so on PyPy every
# step is a big-integer operation (a call into the runtime, and a new object). Kept as two 32-bit
# halves, no value reaches 2**63 and the JIT keeps them in machine registers. Same hash, same
# report.
LOGREPORT = [
    ("""MASK64 = 2**64 - 1
""", """MASK64 = 2**64 - 1
M32 = 2**32 - 1
OFFSET_HI, OFFSET_LO = 0xcbf29ce4, 0x84222325  # FNV_OFFSET's halves, written out (see below)
"""),
    ("""    h = FNV_OFFSET
    for byte in SALT + address.encode():
        h ^= byte
        h = (h * FNV_PRIME) & MASK64
    return "%016x" % h
""", """    # Two 32-bit halves, so no value reaches 2**63: PyPy keeps them machine integers. (The
    # halves are written out, not computed from FNV_OFFSET: on PyPy a number computed from a
    # big one stays big.)
    hi, lo = OFFSET_HI, OFFSET_LO
    for byte in SALT + address.encode():
        lo ^= byte
        # times FNV_PRIME = 2**40 + 0x1b3, modulo 2**64: lo * 2**40 adds lo << 8 to the high half
        low = lo * 0x1b3
        hi = (hi * 0x1b3 + (lo << 8) + (low >> 32)) & M32
        lo = low & M32
    return "%08x%08x" % (hi, lo)
"""),
]

# tinylang.py: dispatch through a table built once instead of a method name built per node.
TINYLANG = [
    ('''    def execute(self, node, env):
        """Run a statement: dispatch to the ``exec_<NodeClass>`` method."""
        return getattr(self, "exec_" + type(node).__name__)(node, env)

    def evaluate(self, node, env):
        """The value of an expression: dispatch to the ``eval_<NodeClass>`` method."""
        return getattr(self, "eval_" + type(node).__name__)(node, env)
''', '''    def execute(self, node, env):
        """Run a statement or evaluate an expression: the method for the node's class."""
        return METHODS[type(node)](self, node, env)

    evaluate = execute
'''),
    ('''# ----------------------------------------------------------------------------- main
''', '''METHODS = {cls: getattr(Interpreter, prefix + cls.__name__)
           for cls in Node.__subclasses__() for prefix in ("exec_", "eval_")
           if hasattr(Interpreter, prefix + cls.__name__)}

# ----------------------------------------------------------------------------- main
'''),
]

FIXES = {"logreport.py": LOGREPORT, "tinylang.py": TINYLANG}


def _patches(name):
    try:
        return FIXES[name]
    except KeyError:
        raise ValueError(f"no fix for {name!r}: the fixes are for {', '.join(sorted(FIXES))}") \
            from None


def original_source(name):
    """The text of the program ``name`` (e.g. "tinylang.py") next to this file."""
    _patches(name)
    return (HERE / name).read_text(encoding="utf-8")


def fixed_source(name):
    """The program's text with its fix applied; each patch must match exactly once."""
    text = original_source(name)
    for i, (old, new) in enumerate(_patches(name), 1):
        found = text.count(old)
        if found != 1:
            raise ValueError(f"patch {i} of the fix for {name} matches {found} times instead of "
                             "once: was the program edited? Update casefixes.py to match.")
        text = text.replace(old, new)
    return text


def diff(name):
    """The fix as a unified diff."""
    stem = name[:-3] if name.endswith(".py") else name
    return "".join(difflib.unified_diff(
        original_source(name).splitlines(keepends=True), fixed_source(name).splitlines(keepends=True),
        fromfile=name, tofile=f"{stem}_fixed.py", n=1))


def write_fixed(name, folder):
    """Write the fixed program as ``<stem>_fixed.py`` in ``folder``; return its path."""
    stem = name[:-3] if name.endswith(".py") else name
    path = Path(folder) / f"{stem}_fixed.py"
    path.write_text(fixed_source(name), encoding="utf-8")
    return path
