"""Read a vmprof profile on CPython into the course's call tree (no process is started).

:func:`read_profile` reads a profile written on either interpreter with vmprof's own reader and
returns its stats and a :class:`Frame` tree rooted at the program's module level (the driver's
frames, :data:`ENTRY` and above, and ``runpy``'s are cut off), with each function once per call
path however many code objects it had (:func:`merge_frames`); :func:`function_table` turns a
tree into the functions by self and total share.
"""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["read_profile", "function_table", "merge_frames", "Frame", "ProfileError",
           "EmptyProfile", "ENTRY"]

ENTRY = "_course_profiled_program"  # vmprof_child.py's function that runs the program


class ProfileError(ValueError):
    """A profile could not be made or read; the message says why and what to do."""


class EmptyProfile(ProfileError):
    """The profile holds no samples: the program ended before the timer fired."""


# ----------------------------------------------------------------------------- reading


@dataclass
class Frame:
    """One node of the call tree: a function called along one path.

    ``count`` is the (weighted) samples with this frame on the stack, ``self_count`` those with it
    on top; ``lines`` maps line numbers to samples (CPython with ``lines=True`` only).
    """

    name: str  # function name
    file: str
    line: int
    kind: str  # "py" for Python code, else vmprof's tag ("n" native, ...)
    count: float
    self_count: float
    children: list = field(default_factory=list)
    lines: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.name, self.file, self.line)

    @property
    def where(self) -> str:
        return f"{_short(self.file)}:{self.line}" if self.file else ""

    def walk(self, depth: int = 0):
        yield self, depth
        for child in self.children:
            yield from child.walk(depth + 1)


def _split_name(raw: str) -> tuple:
    """vmprof's 'py:func:line:file' into (kind, func, line, file); anything else kept whole."""
    parts = str(raw).split(":", 3)
    if len(parts) == 4 and parts[2].isdigit():
        return parts[0], parts[1], int(parts[2]), parts[3]
    return "?", str(raw), 0, ""


def _short(path: str) -> str:
    """A file name short enough for a table: the name, with its folder for __init__/__main__."""
    if not path or path.startswith("<"):
        return path
    p = Path(path)
    if p.name in ("__init__.py", "__main__.py") and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def _convert(node) -> Frame:
    kind, name, line, file = _split_name(node.name)
    children = merge_frames(_convert(c) for c in node.children.values())
    count = float(node.count)
    own = count - sum(c.count for c in children)
    return Frame(name=name, file=file, line=line, kind=kind, count=count,
                 self_count=max(own, 0.0), children=children,
                 lines={int(k): float(v) for k, v in node.lines.items()})


def merge_frames(frames) -> list:
    """Siblings that are the same function (kind, name, file, first line) as one frame each.

    vmprof tells code objects apart by address, so a function whose code was made more than once
    (``exec`` or ``compile`` of the same source, as namedtuple and dataclasses do at every run of
    a repeated profile) is several siblings with the same name; here their counts, lines and
    subtrees are added up. Sorted by count, largest first.
    """
    groups: dict = {}
    for frame in frames:
        groups.setdefault((frame.kind,) + frame.key, []).append(frame)
    out = []
    for same in groups.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        lines: dict = {}
        for frame in same:
            for k, v in frame.lines.items():
                lines[k] = lines.get(k, 0.0) + v
        first = same[0]
        out.append(Frame(name=first.name, file=first.file, line=first.line, kind=first.kind,
                         count=sum(f.count for f in same),
                         self_count=sum(f.self_count for f in same),
                         children=merge_frames(c for f in same for c in f.children),
                         lines=lines))
    return sorted(out, key=lambda f: (-f.count, f.name))


def _is_runpy(frame: Frame) -> bool:
    return frame.file.endswith(("runpy.py", "<frozen runpy>"))


def _program_root(tree: Frame) -> Optional[Frame]:
    """The program's module level, below the driver's entry function and runpy's frames."""
    for frame, _ in tree.walk():
        if frame.name == ENTRY:
            below = list(frame.children)
            while len(below) == 1 and _is_runpy(below[0]):
                below = below[0].children
            if not below:
                return None
            if len(below) == 1:
                return below[0]
            total = sum(c.count for c in below)
            return Frame("<program>", "", 0, "?", total, 0.0, below)
    return None


def read_profile(path, *, target: Optional[str] = None) -> tuple:
    """Read a vmprof profile file on CPython; return ``(stats, tree)``.

    ``tree`` is a :class:`Frame`: the program's module level when the profile was written by
    :func:`profile`'s driver, else vmprof's own root (its ``get_tree()``). Raises
    :class:`ProfileError` for a missing, empty or corrupt file.
    """
    import vmprof
    from vmprof.stats import EmptyProfileFile

    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"no profile file at {path}")
    if path.stat().st_size == 0:
        raise ProfileError(
            f"the profile file {path} is empty: the program wrote no profile (did it crash, or "
            "call os._exit() before vmprof could finish?)")
    try:
        stats = vmprof.read_profile(str(path))
        raw = stats.get_tree()
    except EmptyProfileFile:
        raise EmptyProfile(
            f"the profile {path} holds no samples: the program ran too briefly to be sampled "
            "(make it run for a second or more)") from None
    except Exception as exc:  # the reader raises OSError, struct.error, NotImplementedError...
        raise ProfileError(
            f"{path} is not a readable vmprof profile ({type(exc).__name__}: {exc}); was it "
            "cut short, or written by something else?") from None
    tree = _convert(raw)
    root = _program_root(tree)
    if root is not None:
        if root.name != "<program>":
            # runpy exec()s the module's code, so this is the module level; vmprof on CPython
            # can label it with the name of a freed code object that had the same address.
            root.name, root.file, root.line = "<module>", target or root.file, 1
        tree = root
    return stats, tree


def function_table(tree: Frame, total: Optional[float] = None):
    """Functions by self share: one row per function (summed over every path it was called on).

    Self = samples with the function on top of the stack; total = samples with it anywhere on the
    stack (counted once per sample, so recursion does not inflate it).
    """
    import pandas as pd

    total = float(total or tree.count) or 1.0
    rows: dict = {}

    def visit(frame: Frame, open_keys: frozenset):
        row = rows.setdefault(frame.key, {"function": frame.name, "where": frame.where,
                                          "file": frame.file, "line": frame.line,
                                          "self": 0.0, "total": 0.0})
        row["self"] += frame.self_count
        if frame.key not in open_keys:
            row["total"] += frame.count
        inner = open_keys | {frame.key}
        for child in frame.children:
            visit(child, inner)

    visit(tree, frozenset())
    df = pd.DataFrame(list(rows.values()),
                      columns=["function", "where", "file", "line", "self", "total"])
    df["self %"] = 100 * df["self"] / total
    df["total %"] = 100 * df["total"] / total
    df = df.rename(columns={"self": "self samples", "total": "total samples"})
    df = df.sort_values(["self %", "total %"], ascending=False, kind="stable")
    return df.reset_index(drop=True)
