"""Pieces every result object's display shares: figures as PNG, and the warnings block.

RaceResult, WhereTime, PypyLog and Profile show themselves as text and as HTML; the HTML
embeds their figure as a self-contained PNG and lists their warnings the same way.
"""

from __future__ import annotations

import base64
import html
import io

__all__ = ["figure_png", "figure_base64", "img_tag", "warnings_html", "warnings_lines",
           "notes_html", "notes_lines"]


def figure_png(fig, dpi: int = 100) -> bytes:
    """A figure as PNG bytes (tight bounding box), for HTML reprs and reports."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure_base64(fig, dpi: int = 100) -> str:
    """A figure as base64 PNG text: what Jupyter's ``image/png`` and ``data:`` URIs take."""
    return base64.b64encode(figure_png(fig, dpi)).decode("ascii")


def img_tag(fig, alt: str, dpi: int = 100) -> str:
    """A self-contained ``<img>`` of a figure (alt text escaped)."""
    return (f'<img src="data:image/png;base64,{figure_base64(fig, dpi)}" '
            f'alt="{html.escape(alt)}" style="max-width:100%">')


def warnings_html(warnings) -> str:
    """The warnings as a red-headed list (every text escaped), or "" when there are none."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return f"<p style='color:#b42318'><b>Warnings</b></p><ul>{items}</ul>"


def warnings_lines(warnings) -> list:
    """The warnings as text lines under a "Warnings:" heading, or [] when there are none."""
    return ["Warnings:"] + [f"  - {w}" for w in warnings] if warnings else []


def notes_html(notes) -> str:
    """Facts a reader needs to read a result right (such as the nursery PyPy ran with), as a
    small grey paragraph (escaped), or "" when there are none."""
    if not notes:
        return ""
    return ("<p style='font-size:smaller;color:#555'>"
            + "<br>".join(html.escape(n) for n in notes) + "</p>")


def notes_lines(notes) -> list:
    """The same notes as text lines."""
    return [f"Note: {n}" for n in notes]
