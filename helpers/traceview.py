"""The trace viewer's HTML: :class:`helpers.traces.Traces` drawn as one fragment (its own
``<style>`` and a small ``<script>`` for the filters, ids unique to each rendering), in the
spirit of jitviewer: a table of the hottest loops and bridges, then each one's source lines with
their operations, guards linked to the bridges compiled for them, inlined calls folded.

With the machine code asked for (``assembler=``), each trace that has it gets one more fold:
the instructions under the operations that produced them; its style is added only then, so
a page without it is byte for byte what it was before the assembler level existed.

Every text that comes from the log or the program is escaped. It reads the model; it never parses
a log nor starts a process.
"""

from __future__ import annotations

from typing import Optional

from .formatting import escape as _e
from .formatting import tally as _tally
from .pypylog import Bridge, Counts, Loop, op_kind
from .tracemodel import COUNTER

__all__ = ["render"]


def render(view, uid: str) -> str:
    """The HTML fragment of ``view`` (a :class:`helpers.traces.Traces`); ``uid`` prefixes its
    element ids, so two views on one page do not clash."""
    return _Renderer(view, uid).render()


_CSS = """
.pypy-tv{font:14px/1.35 system-ui,sans-serif;color:#1b1b1b;background:#fff;max-width:1300px}
.pypy-tv code,.pypy-tv .o{font:12.5px/1.35 ui-monospace,Menlo,Consolas,monospace}
.pypy-tv table.tv-list{border-collapse:collapse;margin:.4em 0}
.pypy-tv .tv-list th,.pypy-tv .tv-list td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}
.pypy-tv .tv-list td.l,.pypy-tv .tv-list th.l{text-align:left}
.pypy-tv .tv-list tr:hover{background:#f3f6fb}
.pypy-tv .tv-filters{display:inline-block;margin:.6em .6em .6em 0;font-weight:600}
.pypy-tv .tv-filters label{margin-right:1em}
.pypy-tv section.tv-trace{border-top:2px solid #888;margin-top:1.2em;padding-top:.2em}
.pypy-tv h3{margin:.3em 0;font-size:16px}
.pypy-tv .tv-sub{color:#555;margin:.2em 0 .5em}
.pypy-tv .tv-fh{font-weight:600;margin:.6em 0 .2em;color:#333}
.pypy-tv .tv-ln{display:block;margin:0;border-left:6px solid transparent;padding-left:4px}
.pypy-tv div.tv-ln{color:#888}
.pypy-tv .tv-ln>summary{cursor:pointer;list-style-position:inside}
.pypy-tv .h1{border-left-color:#fde0b0;background:#fffaf0}
.pypy-tv .h2{border-left-color:#f9b25c;background:#fff4e3}
.pypy-tv .h3{border-left-color:#e8590c;background:#ffe9d6}
.pypy-tv .cold{border-left-color:#d6e4f0}
.pypy-tv .no{display:inline-block;min-width:3.2em;text-align:right;color:#777;margin-right:.6em}
.pypy-tv .src{white-space:pre}
.pypy-tv .bd{margin-left:1em;font-size:12px}
.pypy-tv .bd span{display:inline-block;padding:0 5px;margin-right:3px;border-radius:8px;background:#e9ecef}
.pypy-tv .bd .bg{background:#fff3bf}.pypy-tv .bd .bc{background:#d0ebff}.pypy-tv .bd .ba{background:#ffd8d8}
.pypy-tv .bd .bb{background:#d3f9d8}
.pypy-tv .tv-blk{margin:.15em 0 .3em 4.2em;border-left:2px solid #ccc;padding-left:.5em}
.pypy-tv .tv-blk.pre{border-left-style:dashed;opacity:.8}
.pypy-tv .tv-bn{font-size:12px;color:#666;font-style:italic}
.pypy-tv details.tv-inl{margin:.1em 0 .1em 1em;border-left:2px solid #9bc;padding-left:.4em}
.pypy-tv details.tv-inl>summary{cursor:pointer;color:#246}
.pypy-tv .o{white-space:pre;overflow-x:auto;margin:0}
.pypy-tv .o.d{color:#888}
.pypy-tv .o.g{background:#fff9db}
.pypy-tv .o.gb{background:#ffe066;font-weight:600}
.pypy-tv .o.c{color:#0b5394}
.pypy-tv .o.a{color:#b00020;font-weight:600}
.pypy-tv .o.lb{color:#2b8a3e;font-weight:600}
.pypy-tv .gap{color:#aaa;padding-left:4.4em}
.pypy-tv .tv-f{margin-right:.25em}
.pypy-tv .tv-f-dmp:checked~.tv-body .o.d{display:none}
.pypy-tv .tv-f-g:checked~.tv-body .o:not(.g),.pypy-tv .tv-f-c:checked~.tv-body .o:not(.c),
.pypy-tv .tv-f-a:checked~.tv-body .o:not(.a){display:none}
.pypy-tv .tv-f-g:checked~.tv-body .tv-ln:not(.has-g),.pypy-tv .tv-f-c:checked~.tv-body .tv-ln:not(.has-c),
.pypy-tv .tv-f-a:checked~.tv-body .tv-ln:not(.has-a){opacity:.35}
.pypy-tv :target{outline:3px solid #4dabf7}
"""

#: Lines of one trace's machine-code listing on the page (the rest: Traces.machine_code()).
MAX_ASM_ROWS = 6000

# Only on pages that show machine code.
_ASM_CSS = """
.pypy-tv details.tv-asm{margin:.4em 0;border:1px solid #ccd;padding:.2em .5em;background:#fafbfd}
.pypy-tv details.tv-asm>summary{cursor:pointer;font-weight:600;color:#334}
.pypy-tv .tv-asmb{font:12px/1.3 ui-monospace,Menlo,Consolas,monospace;white-space:pre;overflow-x:auto;margin:.3em 0}
.pypy-tv .tv-asmb b{color:#1b1b1b}.pypy-tv .tv-asmb i{color:#2b8a3e;font-style:normal}
.pypy-tv .tv-asmb .pre{opacity:.75}.pypy-tv .tv-asmb u{color:#888;text-decoration:none}
"""

# Optional: open the lines that match a filter, and the folds around a link's target.
_JS = """
(function(root){if(!root)return;
function openUp(el){for(;el&&el!==root;el=el.parentElement){if(el.tagName==='DETAILS')el.open=true;}}
root.addEventListener('change',function(ev){var t=ev.target,k=t.getAttribute('data-only');
 if(!k)return;root.querySelectorAll('details.tv-ln,details.tv-inl').forEach(function(d){
 d.open=k!=='all'&&d.classList.contains('has-'+k);});});
function go(id){var el=document.getElementById(id);if(!el)return;openUp(el);
 if(el.tagName==='SECTION')el.querySelectorAll('details.h3,details.h2').forEach(function(d){d.open=true;});}
root.addEventListener('click',function(ev){var a=ev.target.closest('a[href^="#"]');if(a)go(a.getAttribute('href').slice(1));});
if(location.hash)go(decodeURIComponent(location.hash.slice(1)));
})(document.getElementById('%s'));
"""


class _Renderer:
    def __init__(self, view, uid: str):
        self.v = view
        self.uid = uid
        self.ids = {}
        for info in view.shown:
            t = info.trace
            self.ids[id(t)] = (f"{uid}-loop{t.number}" if isinstance(t, Loop)
                               else f"{uid}-bridge{t.guard:x}")

    def render(self) -> str:
        v, uid = self.v, self.uid
        asm_css = _ASM_CSS if (getattr(v, "asm_note", "") or any(
            info.assembler is not None for info in v.shown)) else ""
        out = [f'<div class="pypy-tv" id="{uid}"><style>{_CSS}{asm_css}</style>',
               f"<p><b>{_e(v.headline())}</b></p>"]
        if v.command:
            out.append(f'<p class="tv-sub">{_e(v.command)}</p>')
        for note in v.notes:
            out.append(f'<p class="tv-sub">{_e(note)}</p>')
        for w in v.log.warnings[:5]:
            out.append(f'<p class="tv-sub">warning: {_e(w)}</p>')
        if getattr(v, "asm_note", ""):
            out.append(f'<p class="tv-sub">machine code: {_e(v.asm_note)}</p>')
        out.append(self.table())
        out.append(self.filters())
        out.append('<div class="tv-body">')
        for info in v.shown:
            out.append(self.section(info))
        if v.left_out:
            out.append(f'<p class="tv-sub">{v.left_out} more trace(s) ran less and are left out '
                       "(trace(…, all=True), or --all on the command line).</p>")
        out.append("</div>")
        out.append(f"<script>{_JS % uid}</script></div>")
        return "".join(out)

    def link(self, trace, text) -> str:
        target = self.ids.get(id(trace))
        if target is None:
            return _e(text)
        return f'<a href="#{target}">{_e(text)}</a>'

    def table(self) -> str:
        rows = ['<table class="tv-list"><tr><th>#</th><th class="l">trace</th>'
                '<th class="l">where it starts</th><th>runs</th><th>ops</th><th>guards</th>'
                '<th>bridges</th><th>calls</th><th>allocs</th></tr>']
        for info in self.v.shown:
            c = info.counts
            rows.append(
                f"<tr><td>{info.rank}</td><td class=\"l\">{self.link(info.trace, info.label)}</td>"
                f"<td class=\"l\">{_e(info.where)}</td><td>{info.runs:,}</td><td>{c.ops}</td>"
                f"<td>{c.n_guards}</td><td>{len(info.bridges)}</td><td>{c.n_calls}</td>"
                f"<td>{c.n_allocs}</td></tr>")
        rows.append("</table>")
        return "".join(rows)

    def filters(self) -> str:
        u = self.uid
        parts = [f'<input type="checkbox" class="tv-f tv-f-dmp" id="{u}-fd">'
                 f'<label for="{u}-fd">hide debug_merge_points</label>']
        for key, text, checked in (("all", "all operations", True), ("g", "only guards", False),
                                   ("c", "only calls", False), ("a", "only allocations", False)):
            parts.append(f'<input type="radio" name="{u}-only" class="tv-f tv-f-{key}" '
                         f'id="{u}-f{key}" data-only="{key}"{" checked" if checked else ""}>'
                         f'<label for="{u}-f{key}">{text}</label>')
        # the inputs must be siblings of .tv-body for the CSS-only filters
        return ('<div class="tv-filters">Show:</div>' + "".join(parts)
                + '<div class="tv-sub">Click a line to see its operations. Guards with a bridge '
                'are yellow, residual calls blue, allocations red; the bar on the left is how '
                'many operations run for the line in each pass.</div>')

    def section(self, info) -> str:
        t = info.trace
        c = info.counts
        sid = self.ids[id(t)]
        out = [f'<section class="tv-trace" id="{sid}"><h3>#{info.rank} {_e(info.label)} · '
               f"{_e(info.where)} · {info.runs:,} runs</h3>"]
        sub = [f"{c.ops} operations, {c.n_guards} guards, {c.n_calls} residual calls, "
               f"{c.n_allocs} allocations"]
        if isinstance(t, Bridge):
            origin = t.origin
            if t.parent is not None:
                sub.append(f"leaves {'guard ' + origin.name if origin else 'a guard'} "
                           f"0x{t.guard:x} of {self.link(t.parent, t.parent.label)}")
            else:
                sub.append(f"leaves guard 0x{t.guard:x} (its trace is not in the log)")
        elif t.kind == "entry bridge":
            sub.append("an entry bridge: compiled for entering this code from the interpreter")
        if info.bridges:
            sub.append(f"{len(info.bridges)} bridge(s) leave its guards")
        if info.has_preamble:
            sub.append("dashed: the preamble (first iteration, once per entry); counts on the "
                       "lines are of the loop body")
        out.append('<p class="tv-sub">' + "; ".join(
            s if "<a " in s else _e(s) for s in sub) + "</p>")
        if info.assembler is not None:
            out.append(self.machine_code(info.assembler))
        if t.text is None:
            out.append('<p class="tv-sub">the log was parsed without operations</p></section>')
            return "".join(out)
        heat_max = max((ln.counts.ops for f in info.frames for ln in f.lines
                        if ln is not None), default=0)
        for block in info.blocks:
            if block.merge_point is None:
                n = sum(1 for op in block.ops if op_kind(op.name) != "dmp")
                out.append(f'<details class="tv-ln cold"><summary><span class="no"></span>'
                           f"<i>{n} operation{'s' * (n != 1)} before the first merge point "
                           "(reading the frame's state)</i></summary>")
                out.append(self.block(info, block, note="") + "</details>")
        for frame in info.frames:
            if frame.filename is None:
                fn = frame.function or "?"
                head = ((fn if len(fn) <= 80 else fn[:79] + "…")
                        + " — not Python code (another JIT driver, e.g. the regex engine)")
            elif self.v._sources.lines(frame.filename) is None:
                head = f"{frame.function} — {frame.filename} (source not available)"
            else:
                head = f"{frame.function} — {frame.filename}"
            out.append(f'<div class="tv-fh">{_e(head)}</div>')
            for ln in frame.lines:
                out.append('<div class="gap">⋮</div>' if ln is None
                           else self.line(info, ln, heat_max))
        out.append("</section>")
        return "".join(out)

    def machine_code(self, asm) -> str:
        """One fold, closed: the instructions under the operation (or stretch) they belong to,
        offsets as the operations' ``+offset`` numbers."""
        head = f'<details class="tv-asm"><summary>Machine code: {_e(asm.summary())}</summary>'
        if not asm.instructions:
            return head + "</details>"
        base = asm.base if asm.base is not None else asm.address
        rows = []
        for g in asm.groups:
            if len(rows) >= MAX_ASM_ROWS:
                left = sum(len(h.instructions) for h in asm.groups[asm.groups.index(g):])
                rows.append(f"<u>… {left:,} more instructions left out to keep the page small: "
                            f"print(view.machine_code({self.rank_of(asm)})) lists them all</u>")
                break
            pre = ' class="pre"' if g.preamble else ""
            if g.op is not None:
                rows.append(f"<b{pre}>{_e(g.op.text.strip())}</b>"
                            + (f"   <i>{_e(g.title)}</i>" if g.title else ""))
                if not g.instructions:
                    rows.append("<u>        (no code of its own)</u>")
            elif g.title.startswith("# "):
                rows.append(f"<i{pre}>{_e(g.title)}</i>")
            else:
                rows.append(f"<u>{_e(g.title)}</u>")
            for ins in g.instructions:
                to = asm.targets.get(ins.address)
                rows.append(f"    +{ins.address - base:<5} {_e(ins.text)}"
                            + (f"   → {_e(to)}" if to else "")
                            + (f"   <u>; {_e(COUNTER)}</u>" if ins.address in asm.counters
                               else ""))
        return head + '<div class="tv-asmb">' + "\n".join(rows) + "</div></details>"

    def rank_of(self, asm) -> int:
        return next((info.rank for info in self.v.shown if info.assembler is asm), 1)

    def badges(self, c, pre, n_bridges: int) -> str:
        b = []
        if c.ops:
            b.append(f"<span>{c.ops} ops</span>")
        if c.n_guards:
            b.append(f'<span class="bg" title="{_e(_tally(c.guards))}">{c.n_guards} '
                     f'guard{"s" * (c.n_guards != 1)}</span>')
        if c.n_calls:
            b.append(f'<span class="bc" title="{_e(_tally(c.calls))}">{c.n_calls} '
                     f'call{"s" * (c.n_calls != 1)}</span>')
        if c.n_allocs:
            b.append(f'<span class="ba" title="{_e(_tally(c.allocs))}">{c.n_allocs} '
                     f'alloc{"s" * (c.n_allocs != 1)}</span>')
        if n_bridges:
            b.append(f'<span class="bb">{n_bridges} bridge{"s" * (n_bridges != 1)}</span>')
        if pre.ops:
            b.append(f"<span>+{pre.ops} in preamble</span>")
        return '<span class="bd">' + "".join(b) + "</span>"

    def line(self, info, ln, heat_max: int) -> str:
        num = ln.line if ln.line is not None else ""
        src = ln.text if ln.text is not None else (
            "" if ln.line is not None else "(all of it)")
        head = f'<span class="no">{num}</span><code class="src">{_e(src)}</code>'
        if not ln.traced:
            return f'<div class="tv-ln">{head}</div>'
        total = Counts()
        total.merge(ln.counts)
        total.merge(ln.preamble_counts)
        n_bridges = sum(1 for blk in ln.blocks for op in blk.all_ops()
                        if op.is_guard and op.guard_id in info.bridges)
        cls = ["tv-ln"]
        if ln.counts.ops:
            ratio = ln.counts.ops / heat_max if heat_max else 0
            cls.append("h3" if ratio > 0.5 else "h2" if ratio > 0.15 else "h1")
        else:
            cls.append("cold")
        cls += [f"has-{k}" for k, n in (("g", total.n_guards), ("c", total.n_calls),
                                          ("a", total.n_allocs)) if n]
        out = [f'<details class="{" ".join(cls)}"><summary>{head}'
               f"{self.badges(ln.counts, ln.preamble_counts, n_bridges)}</summary>"]
        for block in ln.blocks:
            out.append(self.block(info, block, note="preamble" if block.preamble else ""))
        out.append("</details>")
        return "".join(out)

    def block(self, info, block, note: str) -> str:
        out = [f'<div class="tv-blk{" pre" if block.preamble else ""}">']
        if note:
            out.append(f'<div class="tv-bn">{_e(note)}</div>')
        children = iter(block.children)
        # children are inlined after some of the ops; show them where they happen: after the
        # merge point whose index precedes the child's first op.
        pending = next(children, None)
        for op in block.ops:
            while pending is not None and pending.ops and pending.ops[0].index < op.index:
                out.append(self.inlined(info, pending))
                pending = next(children, None)
            out.append(self.op(info, op))
        while pending is not None:
            out.append(self.inlined(info, pending))
            pending = next(children, None)
        out.append("</div>")
        return "".join(out)

    def inlined(self, info, block) -> str:
        mp = block.merge_point
        c = block.counts()
        cls = ["tv-inl"] + [f"has-{k}" for k, n in (("g", c.n_guards), ("c", c.n_calls),
                                                     ("a", c.n_allocs)) if n]
        src = self.v._sources.text(mp.filename, mp.line) if mp is not None else None
        where = mp.where if mp is not None else "?"
        text = f"inlined, depth {block.depth}: {where}"
        out = [f'<details class="{" ".join(cls)}"><summary>{_e(text)} '
               f'<code class="src">{_e((src or "").strip())}</code>'
               f"{self.badges(c, Counts(), 0)}</summary>", self.block(info, block, note=""),
               "</details>"]
        return "".join(out)

    def op(self, info, op) -> str:
        kind = op_kind(op.name)
        if kind == "dmp":
            mp = op.merge_point
            text = (f"#{mp.offset} {mp.opname}" if mp is not None and mp.opname
                    else op.text.strip())
            return f'<div class="o d">{_e(text)}</div>'
        cls = {"guard": "o g", "call": "o c", "alloc": "o a", "label": "o lb",
               "jump": "o lb"}.get(kind, "o")
        text = _e(op.text.strip())
        if kind == "guard" and op.guard_id in info.bridges:
            bridge = info.bridges[op.guard_id]
            cls += " gb"
            text += " → " + self.link(bridge, f"bridge, ran {bridge.runs:,} times") \
                if id(bridge) in self.ids else \
                f" → bridge, ran {bridge.runs:,} times (not shown)"
        elif kind == "label" and info.has_preamble and op.index == _last_label(info):
            text += "   ← the loop body starts here"
        return f'<div class="{cls}">{text}</div>'


def _last_label(info) -> Optional[int]:
    cached = getattr(info, "_last_label", None)
    if cached is None:
        cached = max((op.index for op in info.trace.ops if op.name == "label"), default=-1)
        info._last_label = cached
    return cached
