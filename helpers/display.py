"""What every result shares: figures as PNG, the notes and warnings blocks, the :class:`Result`
base that builds text, HTML, PNG and a saved page from a result's parts, and the one page shell
(:func:`page`) with the one Content-Security-Policy every saved page has.

A result gives its ``headline()``, its ``text_lines()`` (what its text shows under the
headline), its ``display_table()`` and ``figure`` (or None), its ``facts()`` (what to read it by,
such as the nursery PyPy ran with) and ``warnings``; the base does the rest.
"""

from __future__ import annotations

import base64
import html
import io

__all__ = ["figure_png", "figure_base64", "img_tag", "warnings_html", "warnings_lines",
           "notes_html", "notes_lines", "page", "write_page", "Result", "CSP"]

#: Every saved page's policy: nothing from the network, inline styles and scripts, data: images.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'"

_PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 15px; }
td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
pre { background: #f6f6f6; padding: .8em; max-height: 20em; overflow: auto; }
"""


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


def page(title: str, body: str) -> str:
    """One self-contained HTML page (UTF-8, :data:`CSP`, no external resource) around ``body``,
    which may bring its own ``<style>`` and ``<script>``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            f"<title>{html.escape(title)}</title><style>{_PAGE_CSS}</style></head><body>\n"
            f"{body}\n</body></html>\n")


def write_page(path, text: str) -> str:
    """Write a page (UTF-8) to ``path`` when one is given; return the text either way."""
    if path is not None:
        from pathlib import Path

        Path(path).write_text(text, encoding="utf-8")
    return text


class Result:
    """The display every result shares, built from its parts (see the module docstring)."""

    #: alt text of the figure, and the saved page's default title
    figure_alt = "figure"
    title = "Result"

    def headline(self) -> str:  # pragma: no cover - every result has its own
        raise NotImplementedError

    def text_lines(self) -> list:
        return []

    def display_table(self):
        return None

    def facts(self) -> list:
        """Facts to read the result by (the nursery PyPy ran with, how it was measured)."""
        return []

    @property
    def figure(self):
        return None

    def extra_html(self) -> str:
        """What a result shows in HTML after its figure (a second table, say)."""
        return ""

    def __str__(self) -> str:
        return "\n".join([self.headline(), *self.text_lines(), *notes_lines(self.facts()),
                          *warnings_lines(getattr(self, "warnings", ()))])

    def __repr__(self) -> str:
        return str(self)

    def png(self, dpi: int = 100) -> bytes:
        return figure_png(self.figure, dpi)

    def html_parts(self) -> list:
        table = self.display_table()
        figure = self.figure
        return [f"<p><b>{html.escape(self.headline())}</b></p>",
                table.to_html(escape=True) if table is not None else "",
                img_tag(figure, self.figure_alt) if figure is not None else "",
                self.extra_html(), notes_html(self.facts()),
                warnings_html(getattr(self, "warnings", ()))]

    def _repr_html_(self) -> str:
        return "<div>" + "\n".join(p for p in self.html_parts() if p) + "</div>"

    def to_html(self, path=None, *, title=None) -> str:
        """The result as one self-contained page; written to ``path`` (UTF-8) if given."""
        title = title or self.title
        body = f"<h1>{html.escape(title)}</h1>\n" + self._repr_html_()
        return write_page(path, page(title, body))
