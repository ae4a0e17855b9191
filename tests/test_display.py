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
