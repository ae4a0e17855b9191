"""Runs inside PyPy, for :func:`helpers.objects.inspect_objects`: how PyPy stores the objects a
snippet leaves behind (list, dict and set strategies; instance maps).

    pypy3 inspect_child.py REQUEST.json ANSWER.json

The request names the snippet's file and the names to report; the answer has one entry per
object and the maps' contents. Stdlib only, Python 3.9-compatible: it runs in the learner's PyPy.
"""

import json
import os
import re
import sys
import types

_SKIP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
         types.MethodType)
_DICT_ATTR = re.compile(r"<(?:Unboxed)?PlainAttribute ([^<]*?) DICT -?\d+ ")


def slot_names(cls):
    """Slot names in PyPy's numbering: base classes first, each class's slots sorted."""
    names = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        names += sorted(s for s in slots if s not in ("__dict__", "__weakref__"))
    return names


def value_type(obj, name):
    try:
        return type(object.__getattribute__(obj, name)).__name__
    except Exception:
        return None


def main(request, answer):
    import __pypy__
    strategy = __pypy__.strategy
    with open(request) as f:
        req = json.load(f)
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path[0] = os.getcwd()  # the learner's modules import, as for a script run here
    with open(req["snippet"], encoding="utf-8") as f:
        source = f.read()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(source, "snippet.py", "exec"), ns)

    names = req["names"]
    if names is None:
        names = [k for k, v in list(ns.items())
                 if not k.startswith("_") and not isinstance(v, _SKIP)]
    defined = sorted(k for k in ns if not k.startswith("_"))
    # 1. every description first: reading an attribute or __dict__ later may change a map
    entries, reps = [], {}
    for name in names:
        entry = {"name": name}
        entries.append(entry)
        try:
            value = eval(name, ns)
        except NameError:
            entry["error"] = "undefined"
            continue
        except Exception as exc:
            entry["error"] = "%s: %s" % (type(exc).__name__, exc)
            continue
        entry["value"] = value
        entry["type"] = type(value).__name__
        try:
            text = strategy(value)
        except TypeError:
            text = None
        if text is not None and text.startswith("<"):
            entry["map"] = text
            reps.setdefault(text, value)
        else:
            entry["strategy"] = text
        if isinstance(value, (list, tuple)):
            found = {}
            for item in value:
                if isinstance(item, (list, dict, set, frozenset)):
                    continue
                try:
                    t = strategy(item)
                except TypeError:
                    continue
                if not t.startswith("<"):
                    continue
                found[t] = found.get(t, 0) + 1
                reps.setdefault(t, item)
            entry["item_maps"] = found
        try:
            entry["len"] = len(value)
        except Exception:
            entry["len"] = None
    # 2. then what the maps hold: value types, slot names, a devolved instance's dict
    maps = {}
    for text, obj in reps.items():
        slots = slot_names(type(obj))
        names_ = _DICT_ATTR.findall(text) + slots
        info = {"class": type(obj).__qualname__, "slots": slots,
                "types": dict((n, value_type(obj, n)) for n in names_)}
        if "DevolvedDictTerminator" in text:
            d = object.__getattribute__(obj, "__dict__")
            info["dict_strategy"] = strategy(d)
            info["dict_len"] = len(d)
            info["dict_keys"] = [str(k) for k in list(d)[:12]]
            info["types"] = dict((str(k), type(v).__name__) for k, v in list(d.items())[:12])
        maps[text] = info
    for entry in entries:
        entry.pop("value", None)
    write_json(answer, {"objects": entries, "maps": maps, "defined": defined})


def write_json(path, data):
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
