"""The report as HTML: the page's sections, the smoke runs' table, failures with their tracebacks,
every text escaped; one self-contained page through :func:`helpers.display.page`."""

from __future__ import annotations


from .display import notes_html, page
from .failures import Failure
from .findings import LESSONS
from .formatting import escape as _e
from .formatting import format_seconds
from .timing import (BUDGET, GROWTH, MAX_ROUNDS, ROUND_SAMPLES, ROUND_SECONDS,
                     SAMPLE_SECONDS)

_OUTPUT_SHOWN = 3000  # characters of a program's output shown at each end

_CSS = """
.pypy-report{font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;max-width:1200px}
.pypy-report h1{font-size:24px;margin:.2em 0}
.pypy-report h2{font-size:19px;margin:1.4em 0 .3em;border-bottom:2px solid #ccc}
.pypy-report .cmd{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:.3em .6em;display:inline-block}
.pypy-report .st{display:inline-block;font-size:12px;padding:1px 8px;border-radius:9px;margin-left:.5em;vertical-align:middle;color:#fff}
.pypy-report .st-ok{background:#2b8a3e}.pypy-report .st-failed{background:#c92a2a}.pypy-report .st-skipped{background:#868e96}
.pypy-report .sum{font-weight:600}
.pypy-report .how{color:#444;font-size:14px;margin:.3em 0 .6em}
.pypy-report pre{background:#f6f6f6;padding:.6em;max-height:22em;overflow:auto;white-space:pre-wrap;font-size:12.5px}
.pypy-report table{border-collapse:collapse;font-size:14px}
.pypy-report td,.pypy-report th{padding:2px 9px;border-bottom:1px solid #ddd}
.pypy-report .fail{border-left:5px solid #c92a2a;background:#fff5f5;padding:.4em .8em;margin:.5em 0}
.pypy-report ul.toc{list-style:none;padding-left:0}
.pypy-report .warn{color:#b42318}
"""

_HOW = {
    "smoke": "Each interpreter runs the script once, as <code>python script.py</code> would "
             "(the PyPy run with the JIT's log on, which slows it a little). A single run "
             "includes start-up and warm-up: the race below measures properly.",
    "race": "The script is compiled once and run again and again in one process per "
            "interpreter, its output thrown away. Each point is one sample: one run of the "
            f"script, or several when a run is shorter than {SAMPLE_SECONDS * 1000:.0f} ms "
            "(sized from the smoke run). PyPy's first runs are slow while the JIT warms up; "
            "the speedup compares the steady states. The first round takes about "
            f"{ROUND_SECONDS:g} s of samples (at least {ROUND_SAMPLES}); an interpreter with no "
            f"steady state yet gets a new process with {GROWTH:g}× the samples it seemed to "
            f"need (at most {MAX_ROUNDS} rounds), within the budget: {BUDGET:g} s per "
            "interpreter by default, <code>budget=</code> or <code>--budget</code> to change "
            "it. (Lesson 03.)",
    "where": "The logged PyPy run split into tracing, compiling, garbage collection and the "
             "rest (running your code). A big tracing share means the run is short or the JIT "
             "keeps retracing; a big GC share means many or large objects. (Lessons 04, 07.)",
    "profile": "vmprof samples which function is running, many times a second. Start with "
               "the largest <i>self</i> share: that is where the time is. A profile taken on "
               "CPython can point elsewhere. (Lesson 06.)",
    "traces": "The loops the JIT compiled, most-run first, mapped back to your lines. Look for "
              "allocations and calls left in the hot loop, and for guards that fail often "
              "(bridges). (Lesson 05.)",
    "why": "For each hot function of the profile: did it run compiled or in the interpreter, "
           "which traces aborted there and why, which guards kept failing (bridges), and what "
           "each iteration of its hottest loop still calls and allocates. Every reason comes "
           "from this run's log or profile and names its line; a function with no evidence "
           "gets none. (Lessons 05, 06, 07, 09.)",
}


def _pre(text: str, limit: int = _OUTPUT_SHOWN) -> str:
    if len(text) > 2 * limit:
        text = (text[:limit] + f"\n[... {len(text) - 2 * limit:,} characters not shown ...]\n"
                + text[-limit:])
    return f"<pre>{_e(text)}</pre>"


def _failure_html(label: str, f: Failure) -> str:
    parts = [f'<div class="fail"><b>{_e(label)}: {_e(f.why)}</b>']
    if f.where:
        where = f"at <code>{_e(f.where)}</code>"
        if f.function and f.function != "<module>":
            where += f" in <code>{_e(f.function)}()</code>"
        if f.source:
            where += f": <code>{_e(f.source)}</code>"
        parts.append(f"<br>{where}")
    if f.raised_at:
        parts.append(f"<br>raised in <code>{_e(f.raised_at)}</code>")
    if f.traceback:
        parts.append(_pre(f.traceback))
    parts.append("</div>")
    return "".join(parts)


def _smoke_html(rep) -> str:

    rows = []
    for key, r in rep.smoke.items():
        f = rep.failures[key]
        rows.append(
            f"<tr><td>{_e(r.interpreter.label)}</td>"
            f"<td>{'ok' if f is None else 'FAILED'}</td><td>{r.returncode}</td>"
            f"<td>{_e(format_seconds(r.wall))}</td><td>{_e(format_seconds(r.user))}</td>"
            f"<td>{_e(r.peak_rss_text)}</td><td>{r.stdout_bytes:,}</td>"
            f"<td>{r.stderr_bytes:,}</td></tr>")
    out = ["<table><tr><th>interpreter</th><th>result</th><th>exit status</th><th>wall</th>"
           "<th>user CPU</th><th>peak memory</th><th>stdout bytes</th><th>stderr bytes</th>"
           "</tr>", *rows, "</table>", f"<p>{_e(rep.output_note.capitalize())}.</p>"]
    for key, f in rep.failures.items():
        if f is not None:
            out.append(_failure_html(f"On {rep.smoke[key].interpreter.short}", f))
    first = rep.smoke["pypy"] if rep.failures.get("pypy") is None else rep.smoke["cpython"]
    for stream in ("stdout", "stderr"):
        text = getattr(first, stream)
        if text.strip() and not (stream == "stderr" and rep.failures.get(
                "pypy" if first is rep.smoke["pypy"] else "cpython")):
            out.append(f"<details><summary>What the script printed on {stream} on "
                       f"{_e(first.interpreter.short)} (the beginning and the end)</summary>"
                       f"{_pre(text)}</details>")
    return "\n".join(out)


def _rounds_html(race) -> str:
    c = race.convergence
    items = []
    for key in race.results:
        cls = "" if c.steady(key) else ' class="warn"'
        items.append(f"<li{cls}>{_e(race.labels[key])}: {_e(c.describe(key))}</li>")
    return (f"<p>How the race went (budget {c.budget:g} s per interpreter; the race took "
            f"{c.seconds:.1f} s in all, start-ups included):</p><ul>{''.join(items)}</ul>")


def _section_body(rep, s) -> str:
    if s.key == "smoke":
        return _smoke_html(rep)
    if s.status == "failed":
        return f"{_pre(s.detail)}" if s.detail else ""
    if s.result is None:
        return ""
    if s.key == "traces":
        return s.result.html_fragment()
    if s.key == "race" and getattr(s.result, "convergence", None) is not None:
        return s.result._repr_html_() + _rounds_html(s.result)
    return s.result._repr_html_()


def render(rep, standalone: bool) -> str:
    title = f"PyPy report: {rep.script.name}"
    out = [f'<div class="pypy-report"><style>{_CSS}</style>', f"<h1>{_e(title)}</h1>",
           f'<p><span class="cmd">{_e(rep.command)}</span><br>in <code>{_e(rep.cwd)}</code>; '
           f"{_e(rep.smoke['cpython'].interpreter.label)} against "
           f"{_e(rep.smoke['pypy'].interpreter.label)}; made {_e(rep.created)} in "
           f"{rep.seconds:.1f} s. Every figure was measured in this run, on this machine.</p>",
           notes_html(rep.nursery), f'<p class="sum">{_e(rep.headline())}</p>']
    for w in rep.warnings:
        out.append(f'<p class="warn">warning: {_e(w)}</p>')
    out.append('<ul class="toc">')
    for i, s in enumerate(rep.sections, 1):
        out.append(f'<li>{i}. <a href="#pr-{s.key}">{_e(s.title)}</a>'
                   f'<span class="st st-{s.status}">{s.status}</span> {_e(s.summary)}</li>')
    out.append("</ul>")
    if rep.findings:
        out.append("<h2>What to look at next</h2><ul>")
        for text, lesson in rep.findings:
            link = ""
            if lesson in LESSONS:
                link = f" (lesson {lesson}: <code>notebooks/{_e(LESSONS[lesson])}</code>)"
            out.append(f"<li>{_e(text)}{link}</li>")
        out.append("</ul>")
    for i, s in enumerate(rep.sections, 1):
        out.append(f'<h2 id="pr-{s.key}">{i}. {_e(s.title)}'
                   f'<span class="st st-{s.status}">{s.status}</span></h2>')
        out.append(f'<p class="how">{_HOW[s.key]}</p>')
        if s.result is None or s.key == "smoke":  # results state their own headline
            out.append(f'<p class="sum">{_e(s.summary)}</p>')
        out.append(_section_body(rep, s))
    out.append("</div>")
    body = "\n".join(out)
    return page(title, body) if standalone else body
