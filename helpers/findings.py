"""What to look at next: the report's findings, each a sentence built from a figure the report
measured, with the lesson that explains it (plain rules, no new measurement)."""

from __future__ import annotations

from typing import Optional

__all__ = ["findings", "nursery_finding", "LESSONS", "NURSERY_NOISE"]

from .formatting import format_seconds, format_size

#: Lesson files the findings link to (relative to the notebooks/ folder).
LESSONS = {
    "02": "02-running-on-pypy.ipynb", "03": "03-measuring.ipynb",
    "04": "04-where-the-time-goes.ipynb", "05": "05-reading-traces.ipynb",
    "06": "06-profiling.ipynb", "07": "07-garbage-collector.ipynb",
    "08": "08-object-model.ipynb", "09": "09-pitfalls.ipynb",
}


def findings(rep) -> list:
    """What to look at next: ``(sentence, lesson number)`` pairs, each from a measured figure.

    Plain rules over the report's results (no new measurement): failures, start-up against run
    time, warm-up, the time split, a dominant function, large output."""

    out = []
    nursery = nursery_finding(rep.nursery_runs, rep.smoke["pypy"].nursery)
    if nursery is not None:
        out.append(nursery)
    fc, fp = rep.failures.get("cpython"), rep.failures.get("pypy")
    if fp is not None and fc is None:
        version = rep.smoke["pypy"].interpreter.version
        out.append((f"It runs on CPython but fails on PyPy ({fp.why.splitlines()[0]}): syntax "
                    f"or a module newer than the Python {version} this PyPy implements, a C "
                    "extension PyPy cannot load, code that relies on CPython's details "
                    "(reference counting, sys.getsizeof), or a script that changed its own "
                    "files when it ran on CPython first.", "02"))
    elif fp is not None:
        out.append((f"It fails on both interpreters ({fp.why.splitlines()[0]}): fix that first "
                    "(does it need arguments or a data file? run it in the right folder).", None))
    if rep.same_output is False and fc is None and fp is None:
        out.append((f"The two runs printed different output ({rep.output_note}): timing or "
                    "randomness in the output is harmless, anything else is worth a look "
                    "before trusting a speedup.", "02"))
    r = rep.race
    if r is not None and r.speedup is not None:
        keys = list(r.results)
        pypy_key = keys[1]
        per_run = r.warmups[pypy_key].median
        start = r.summary.loc[pypy_key, "startup_s"]
        if start == start and start > per_run:  # not NaN
            out.append((f"PyPy starts in {format_seconds(start)}, more than one run of the "
                        f"script takes once warm ({format_seconds(per_run)}): for a run this "
                        "short, start-up dominates. Give it more work per run.", "03"))
        if r.speedup < 1 and r.ci[1] < 1:  # slower beyond the noise, not just by the median
            out.append((f"PyPy was slower here ({1 / r.speedup:.2f}× as long per run): see "
                        "where the time goes and the profile below for why.", "03"))
        w = r.warmups[pypy_key]
        if w.steady_start is None:
            out.append(("PyPy reached no steady state within the race's budget: raise "
                        "budget= (--budget) or make a run shorter.", "03"))
    w = rep.where
    if w is not None and w.wall > 0:
        jit = (w.seconds["tracing"] + w.seconds["backend"]) / w.wall
        gc = (w.seconds["GC minor"] + w.seconds["GC major"]) / w.wall
        if jit > 0.25:
            out.append((f"{jit:.0%} of the PyPy run went to tracing and compiling: the run is "
                        "short for the code it warms up, or something keeps the JIT "
                        "retracing (the traces show bridges and aborts).", "05"))
        if gc > 0.25:
            out.append((f"{gc:.0%} of the PyPy run went to the garbage collector: the program "
                        "allocates a lot, or keeps large structures alive.", "07"))
    p = rep.profile
    if p is not None and p.samples:
        row = p.table(1)
        if len(row) and row.iloc[0]["self %"] > 30 and row.iloc[0]["function"] != "<module>":
            out.append((f"{row.iloc[0]['function']} ({row.iloc[0]['where']}) has "
                        f"{row.iloc[0]['self %']:.0f}% of the profile's samples to itself: "
                        "start there.", "06"))
    t = rep.traces
    sites = _abort_sites(rep)
    if t is not None and t.aborts and sites:
        first = sites[0]
        out.append((f"The JIT gave up tracing ({', '.join(f'{why} ×{n}' for why, n in t.aborts.items())}), "
                    f"most often in {first.start.function or '?'} at {first.lines_text} "
                    f"({first.reason} ×{first.count}): \"Why not faster\" below says why, "
                    "function by function.", first.meaning[2]))
    elif t is not None and t.aborts:
        out.append((f"The JIT gave up tracing ({', '.join(f'{why} ×{n}' for why, n in t.aborts.items())}): "
                    "code it cannot compile in one piece, such as a huge function, deep "
                    "recursion or a class made inside a function.", "09"))
    if t is not None and len(t.log.bridges) >= 20 and len(t.log.bridges) > 3 * len(t.log.loops):
        out.append((f"The JIT compiled {len(t.log.bridges)} bridges for {len(t.log.loops)} "
                    "loops: its guards keep failing, often because objects of many types or "
                    "attribute layouts (maps) pass through the same code.", "08"))
    if t is not None and not t.ranked and fp is None:
        out.append(("The JIT compiled nothing: the script did not run long enough to warm "
                    "up, or its time is in built-in functions (sorting, big integers, "
                    "regular expressions) that run at about CPython's speed anyway.", "05"))
    return out


def _abort_sites(rep) -> list:
    """The aborted-tracing sites of the report's "why" section ([] when it has none)."""
    for s in getattr(rep, "sections", ()):
        if s.key == "why" and s.result is not None:
            return list(getattr(s.result, "sites", ()))
    return []


#: One run each: a time ratio within this band of 1 is not called a difference.
NURSERY_NOISE = 1.25


def nursery_finding(runs, used=None) -> Optional[tuple]:
    """The finding that sets the two nursery runs side by side, from their measured figures;
    ``used`` is the nursery the report's other PyPy steps ran with."""
    if not runs:
        return None
    d, s = runs["default"], runs["sane"]
    size_d, size_s = format_size(d.nursery.size), format_size(s.nursery.size)
    cache = format_size(d.nursery.cache)
    head = (f"PyPy's default nursery on this machine is {size_d}, far above its {cache} "
            "per-core cache (PyPy sizes it from /proc/cpuinfo's \"cache size\").")
    if not (d.ok and s.ok):
        return (head + " The script did not run cleanly with both sizes, so the difference was "
                "not measured.", "07")

    def mem(r):
        return r.peak_rss_text

    ratio = d.wall / s.wall if s.wall > 0 else float("nan")
    if ratio >= NURSERY_NOISE:
        effect = f"{ratio:.2f}× as long with the default"
    elif ratio <= 1 / NURSERY_NOISE:
        effect = f"{1 / ratio:.2f}× as long with {size_s}"
    else:
        effect = (f"in time within {NURSERY_NOISE - 1:.0%} of each other, which one run each "
                  "cannot tell from noise")
    if d.max_rss and s.max_rss:
        effect += f"; {d.max_rss / s.max_rss:.1f}× the memory with the default"
    other = (f"{format_size(used.size)}, {used.origin}" if used is not None and used.size
             else size_s)
    return (f"{head} One run each: {format_seconds(d.wall)} and {mem(d)} peak memory with "
            f"{size_d}, {format_seconds(s.wall)} and {mem(s)} with {size_s} ({effect}). Every "
            f"other PyPy step of this report ran with {other}.", "07")
