"""Runs inside CPython or PyPy, for :func:`helpers.objects.memory_per_object`: bytes per object.

    python memory_child.py REQUEST.json ANSWER.json

The request holds the setup, N and the (label, expression) pairs; the answer the bytes per object
of each label and how they were measured. Stdlib only, Python 3.9-compatible.
"""

import gc
import json
import os
import sys

PYPY = hasattr(sys, "pypy_version_info")
if PYPY:
    METHOD = ("growth of PyPy's GC memory in use (arenas + raw-malloced objects, "
              "gc._get_stats()) after a full gc.collect()")
else:
    import tracemalloc
    METHOD = "growth of the memory traced by tracemalloc after gc.collect()"


def in_use():
    gc.collect()
    gc.collect()
    if PYPY:
        s = gc._get_stats()
        return s.total_arena_memory + s.total_rawmalloced_memory
    return tracemalloc.get_traced_memory()[0]


def per_object(fill, n):
    holder = [None] * n
    before = in_use()
    fill(holder, n)
    after = in_use()
    del holder
    return (after - before) / n


def main(request, answer):
    with open(request) as f:
        req = json.load(f)
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path[0] = os.getcwd()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(req["setup"], "<setup>", "exec"), ns)
    n = req["n"]
    result = {}
    for label, expr in req["objects"]:
        src = ("def _fill(_holder, _n):\n    for i in range(_n):\n"
               "        _holder[i] = (%s)\n" % expr)
        exec(compile(src, "<%s>" % label, "exec"), ns)
        fill = ns.pop("_fill")
        fill([None] * max(1, n // 10), max(1, n // 10))  # warm-up: JIT, caches, maps
        if not PYPY:
            tracemalloc.start()
        sizes = [per_object(fill, n) for _ in range(2)]
        if not PYPY:
            tracemalloc.stop()
        result[label] = min(sizes)
    write_json(answer, {"bytes": result, "method": METHOD})


def write_json(path, data):
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
