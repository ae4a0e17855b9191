"""The shared pieces of the result objects' HTML."""

import base64

from matplotlib.figure import Figure

from helpers.display import figure_base64, figure_png, img_tag, warnings_html


def test_no_warnings_no_html():
    assert warnings_html([]) == ""


def test_warnings_are_listed_and_escaped():
    out = warnings_html(["spread is 40%", "<script>alert(1)</script>"])
    assert out.count("<li>") == 2
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_figure_becomes_a_self_contained_png():
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([1, 2, 3])
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG")
    assert base64.b64decode(figure_base64(fig)).startswith(b"\x89PNG")
    tag = img_tag(fig, 'a "plot" <b>')
    assert tag.startswith('<img src="data:image/png;base64,')
    assert 'alt="a &quot;plot&quot; &lt;b&gt;"' in tag




def _tiny(with_figure=True):
    import pandas as pd

    from helpers.display import Result

    class Tiny(Result):
        figure_alt = "tiny plot"
        title = "Tiny <result>"
        warnings = ["too <noisy>"]

        def headline(self):
            return "A & B"

        def text_lines(self):
            return ["  line one"]

        def facts(self):
            return ["PyPy's nursery: 1 MB"]

        def display_table(self):
            return pd.DataFrame({"x": ["<1>"]})

        @property
        def figure(self):
            if not with_figure:
                return None
            fig = Figure(figsize=(2, 1))
            fig.subplots().plot([1, 2])
            return fig

    return Tiny()


def test_result_base_builds_text_and_html_from_the_parts():
    r = _tiny()
    assert str(r) == ("A & B\n  line one\nNote: PyPy's nursery: 1 MB\nWarnings:\n"
                      "  - too <noisy>")
    out = r._repr_html_()
    assert "<b>A &amp; B</b>" in out and "&lt;1&gt;" in out and 'alt="tiny plot"' in out
    assert "PyPy&#x27;s nursery: 1 MB" in out and "too &lt;noisy&gt;" in out
    assert out.index("nursery") < out.index("noisy")  # notes, then warnings
    assert r.png().startswith(b"\x89PNG")
    assert "<img" not in _tiny(with_figure=False)._repr_html_()


def test_one_page_shell(tmp_path):
    from helpers.display import CSP, page

    text = _tiny().to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>") and f'content="{CSP}"' in text
    assert "<title>Tiny &lt;result&gt;</title>" in text
    shell = page("t", "<p>x</p>")
    assert "default-src 'none'" in CSP and "http://" not in shell and "https://" not in shell


def test_results_show_their_text_as_repr_not_a_field_dump():
    """A dataclass makes its own __repr__ unless told not to: the results must not."""
    import dataclasses

    from helpers.display import Result
    from helpers.objects import MemoryReport  # noqa: F401  (every result class loaded)
    from helpers.pairs import PairResult
    from helpers.timing import RaceResult
    from helpers.wheretime import WhereTime

    for cls in (RaceResult, PairResult, WhereTime):
        assert issubclass(cls, Result) and dataclasses.is_dataclass(cls)
        assert cls.__repr__ is Result.__repr__, f"{cls.__name__} needs @dataclass(repr=False)"
