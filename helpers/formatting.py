"""How the course writes numbers and text: seconds, ratios, sizes, plurals, escaped HTML.

A leaf module: it imports nothing of the course's, so every other module (the plots, the
parsers, the results) can use it without an import cycle.
"""

from __future__ import annotations

import html
import math

__all__ = ["format_seconds", "format_ratio", "format_size", "plural", "tally", "escape"]

MIB = 1 << 20


def format_seconds(s) -> str:
    """3 significant digits with a unit: ``format_seconds(3.5e-5) == '35.0 µs'``; "–" for None,
    NaN or infinity."""
    if s is None:
        return "–"
    s = float(s)
    if not math.isfinite(s):
        return "–"
    rounded = float(f"{s:.3g}")  # so that 0.99996 is "1.00 s", not "1.00e+03 ms"
    if abs(rounded) >= 1000:
        return f"{s:.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(rounded) >= scale or unit == "ns":
            return f"{rounded / scale:#.3g} {unit}".replace(". ", " ")
    raise AssertionError("unreachable")


def format_ratio(r: float) -> str:
    """A ratio to 3 significant digits ("1.54", "12.0"), whole above 100 ("197")."""
    return f"{r:#.3g}" if r < 100 else f"{r:.0f}"


def format_size(n) -> str:
    """A byte count the way the lessons say it: "240 MB", "1 MB", "1.5 MB", "512 KB"."""
    if n is None:
        return "unknown"
    if n >= MIB:
        v = n / MIB
        return f"{v:.0f} MB" if v >= 10 or v == int(v) else f"{v:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def plural(n: int, word: str) -> str:
    """``plural(1, "loop") == "1 loop"``, ``plural(1200, "loop") == "1,200 loops"``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def tally(counts: dict) -> str:
    """``{"call_r": 2, "new": 1}`` as ``"call_r ×2, new ×1"``, most first."""
    return ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def escape(text) -> str:
    """Any value as text safe inside HTML, quotes included."""
    return html.escape(str(text), quote=True)
