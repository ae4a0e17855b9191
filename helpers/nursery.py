"""PyPy's nursery: the size PyPy picks on this machine, and the size the course runs it with.

PyPy allocates every new object in the *nursery* and empties it with a minor collection when it
is full. It sizes the nursery from the "cache size" line of /proc/cpuinfo (half of it when that
line is large, a fixed size when it is small; the size differs between PyPy versions too).
On most machines that line is one core's cache and the nursery is a few MB at most; on some
virtual machines it reports a huge shared cache (491520 KB on some cloud Xeons), and PyPy 7.3
then picks a nursery of hundreds of MB, which makes allocation-heavy programs several times
slower and their memory several times larger. Results measured with such a nursery say more
about the VM's cpuinfo than about the program.

The course's policy, applied by :func:`helpers.runner.run` to every PyPy child:

1. A ``PYPY_GC_NURSERY`` that the call passes in ``env=`` is used as given.
2. Else one that the learner exported in the shell is used, and every result says so.
3. Else, when PyPy's own default is *oversized* (more than :data:`OVERSIZED_FACTOR` times this
   machine's per-core cache), PyPy runs with :func:`sane_size` instead: half the per-core cache,
   at least 1 MB, which is what PyPy itself picks on a machine whose cpuinfo reports a per-core
   cache. Every result says so, with PyPy's default beside it.
4. Else PyPy runs with its own default.

The value ``"default"`` (``env={"PYPY_GC_NURSERY": "default"}``, or exported) asks for PyPy's
own default whatever its size: lesson 07 uses it to show what an oversized nursery costs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .formatting import format_size

__all__ = [
    "Nursery",
    "choose",
    "pypy_default",
    "core_cache",
    "cpuinfo_cache",
    "sane_size",
    "sane_setting",
    "is_oversized",
    "parse_size",
    "format_size",
    "OVERSIZED_FACTOR",
]

VAR = "PYPY_GC_NURSERY"
DEFAULT = "default"  # the value that asks for PyPy's own choice
MIB = 1 << 20
MIN_SANE = MIB
OVERSIZED_FACTOR = 16  # a default above 16 x the per-core cache is "oversized"
_FALLBACK_CACHE = 2 * MIB  # when sysfs does not say: a common per-core L2

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)



def parse_size(text) -> int | None:
    """Bytes of a size as PyPy's ``PYPY_GC_*`` variables take it ("1M", "4MB", "512k",
    "262144"); None when it is not one."""
    m = _SIZE.match(str(text))
    if not m:
        return None
    scale = {"": 1, "k": 1 << 10, "m": MIB, "g": 1 << 30}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


@functools.lru_cache(maxsize=8)
def core_cache(root: str | os.PathLike = "/sys/devices/system/cpu/cpu0/cache") -> tuple:
    """This machine's per-core cache as ``(bytes, level)``: the largest data or unified cache
    that the first CPU does not share with another one (usually the L2), from sysfs; ``(None,
    None)`` when sysfs does not say."""
    best = (None, None)
    for index in sorted(Path(root).glob("index*")):
        if _read(index / "type") not in ("Data", "Unified"):
            continue
        shared = _read(index / "shared_cpu_list")
        if not shared or any(c in shared for c in ",-"):
            continue  # shared with other CPUs: not one core's own
        size = parse_size(_read(index / "size"))
        if size and (best[0] is None or size > best[0]):
            level = _read(index / "level")
            best = (size, int(level) if level.isdigit() else None)
    return best


def cpuinfo_cache(path: str | os.PathLike = "/proc/cpuinfo") -> int | None:
    """The "cache size" of /proc/cpuinfo's first CPU in bytes: the figure PyPy sizes its
    nursery from. None when the line is missing."""
    for line in _read(Path(path)).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "cache size":
            return parse_size(value.strip().replace(" ", ""))
    return None


def sane_size(cache: int | None) -> int:
    """The nursery the course uses when PyPy's default is oversized: half the per-core cache,
    at least 1 MB (PyPy's own rule, applied to the cache one core really has)."""
    return max(MIN_SANE, (cache or _FALLBACK_CACHE) // 2)


def sane_setting(cache: int | None) -> str:
    """:func:`sane_size` as the ``PYPY_GC_NURSERY`` value the course hands PyPy ("1MB")."""
    return f"{sane_size(cache) // MIB}MB"


def is_oversized(default: int | None, cache: int | None) -> bool:
    """True when PyPy's default nursery is more than :data:`OVERSIZED_FACTOR` times the
    per-core cache (a cpuinfo that reports a shared or bogus cache)."""
    if default is None:
        return False
    return default > OVERSIZED_FACTOR * (cache or _FALLBACK_CACHE)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PYPY_GC_") and k != "PYPYLOG"}


@functools.lru_cache(maxsize=16)
def _default_cached(path: str, mtime: float) -> int | None:
    probe = Path(__file__).resolve().with_name("probe_child.py")
    try:
        proc = subprocess.run([path, str(probe)], capture_output=True, text=True,
                              errors="replace", timeout=60, stdin=subprocess.DEVNULL,
                              env=_clean_env())
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    size = answer.get("nursery") if isinstance(answer, dict) else None
    return size if isinstance(size, int) else None


def pypy_default(interp) -> int | None:
    """The nursery ``interp`` (a PyPy :class:`helpers.interpreters.Interpreter`) picks on this
    machine when no ``PYPY_GC_NURSERY`` is set, as PyPy itself reports it (``gc.get_stats()``
    in a child started without any ``PYPY_GC_*``). Cached per interpreter."""
    try:
        mtime = os.stat(os.path.realpath(interp.path)).st_mtime
    except OSError:
        return None
    return _default_cached(interp.path, mtime)


@dataclass(frozen=True)
class Nursery:
    """The nursery one PyPy run used, and why.

    ``size`` bytes (None if the setting could not be read as a size); ``source`` is "default"
    (PyPy's own choice), "course" (the course replaced an oversized default), "environment"
    (the learner exported it) or "call" (the caller passed it in ``env=``); ``setting`` the
    ``PYPY_GC_NURSERY`` value the child got (None for PyPy's default); ``default`` PyPy's own
    default on this machine; ``cache`` the per-core cache; ``others`` any other ``PYPY_GC_*``
    the child got, as "NAME=value" strings.
    """

    size: int | None
    source: str
    setting: str | None
    default: int | None
    cache: int | None
    others: tuple = ()

    @property
    def oversized_default(self) -> bool:
        return is_oversized(self.default, self.cache)

    @property
    def oversized(self) -> bool:
        """The run itself used an oversized nursery."""
        return is_oversized(self.size, self.cache)

    @property
    def origin(self) -> str:
        """Where the size came from, in a few words: "set by the course", "PyPy's default"..."""
        return {"course": "set by the course",
                "environment": f"from your environment (PYPY_GC_NURSERY={self.setting})",
                "call": f"set for the run (PYPY_GC_NURSERY={self.setting})"}.get(
                    self.source, "PyPy's own default")

    def describe(self) -> str:
        """One sentence for every result's text and HTML."""
        size = format_size(self.size) if self.size is not None else repr(self.setting)
        default = format_size(self.default)
        cache = format_size(self.cache) if self.cache else "unknown"
        if self.source == "course":
            text = (f"PyPy's nursery: {size}, set by the course (PYPY_GC_NURSERY={self.setting}): "
                    f"PyPy's own default on this machine is {default}, far above its "
                    f"{cache} per-core cache (see lesson 07)")
        elif self.source == "environment":
            text = f"PyPy's nursery: {size}, from your environment (PYPY_GC_NURSERY={self.setting})"
        elif self.source == "call":
            text = f"PyPy's nursery: {size}, set for this run (PYPY_GC_NURSERY={self.setting})"
        else:
            text = f"PyPy's nursery: {size}, PyPy's own default on this machine"
            if self.oversized:
                text += (f", far above its {cache} per-core cache: allocation-heavy code is "
                         "slower and larger than on most machines (see lesson 07)")
        if self.others:
            text += "; also " + ", ".join(self.others)
        return text + "."


def choose(interp, call_env: dict | None = None, environ=None) -> tuple:
    """The course's nursery for one PyPy run: ``(changes, Nursery)`` where ``changes`` are the
    environment entries to give the child (a value of None removes the variable).

    ``call_env`` is the ``env=`` of the call; ``environ`` the inherited environment (default
    ``os.environ``). See the module docstring for the order."""
    call_env = dict(call_env or {})
    environ = os.environ if environ is None else environ
    cache, _ = core_cache()
    default = pypy_default(interp)
    changes = {}
    if VAR in call_env and call_env[VAR] is not None:
        setting, source = str(call_env[VAR]), "call"
    elif VAR in call_env:  # None: the call removes it, i.e. PyPy's default
        setting, source = DEFAULT, "default"
    elif environ.get(VAR):
        setting, source = environ[VAR], "environment"
    elif is_oversized(default, cache):
        setting, source = sane_setting(cache), "course"
        changes[VAR] = setting
    else:
        setting, source = None, "default"
    if setting == DEFAULT:
        changes[VAR] = None  # never hand PyPy the word "default"
        setting, source = None, "default"
    size = default if setting is None else parse_size(setting)
    merged = {k: v for k, v in environ.items() if k.startswith("PYPY_GC_")}
    merged.update({k: v for k, v in call_env.items() if str(k).startswith("PYPY_GC_")})
    others = tuple(f"{k}={v}" for k, v in sorted(merged.items())
                   if k != VAR and v is not None)
    return changes, Nursery(size=size, source=source, setting=setting, default=default,
                            cache=cache, others=others)


def describe_runs(runs) -> list:
    """The distinct nursery sentences of some :class:`helpers.runner.RunResult` objects (CPython
    runs have none), in order: what every result's text and HTML shows."""
    out = []
    for r in runs:
        n = getattr(r, "nursery", None)
        if n is not None and n.describe() not in out:
            out.append(n.describe())
    return out
