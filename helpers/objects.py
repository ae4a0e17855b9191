"""What PyPy made of your objects: list, dict and set strategies, instance maps, bytes per object.

:func:`inspect_objects` runs a snippet once on PyPy, then asks ``__pypy__.strategy()`` about the
objects it left behind. For a list, dict or set that is the name of its storage strategy
(``IntegerListStrategy``, ``UnicodeDictStrategy``, ``IntegerSetStrategy``, …). For an instance
it is a description of the instance's *map* (PyPy's hidden class), a chain of attributes from
the last one added back to a terminator, for example::

    <PlainAttribute y DICT 1 immutable <UnboxedPlainAttribute x DICT 0 0 immutable
        <DictTerminator w_cls=<W_TypeObject object at 0x55a1…>>>>

read as: ``x`` was added first and is stored *unboxed* (a machine integer or float in a side
array, index 0 of storage slot 0), then ``y``, stored as a pointer in storage slot 1; neither
was ever written a second time ("immutable"). ``DICT`` marks an ordinary attribute, a number of
3 or more a ``__slots__`` slot, ``SPECIAL`` something PyPy keeps alongside the attributes (the
``dict`` object once ``__dict__`` was read, a ``weakref``). The terminator names the class and
says how attributes live: ``DictTerminator`` (in the map), ``NoDictTerminator`` (a class with
only ``__slots__``), ``DevolvedDictTerminator`` (the instance gave up its map: its attributes are
in an ordinary dict). :func:`parse_map` turns that text into a :class:`MapInfo`; it never launches
a process, so it is tested without PyPy. Two instances share a map when their descriptions, taken
at the same moment in the same process, are the same (the description names the class by its
address, and PyPy reuses one map object per class and sequence of attributes).

:func:`memory_per_object` measures what N objects built by an expression cost, per object, in
each interpreter: on PyPy the growth of the garbage collector's memory in use (arenas plus
raw-malloced objects) after a full collection, on CPython the growth of the memory traced by
``tracemalloc`` after a collection. Values an object holds (its ints, its strings) count too.

Both run the user's code in a child (3.9-compatible driver, results as JSON in a private temp
dir, never parsed from the snippet's stdout) through :func:`helpers.runner.run`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Optional

from .nursery import describe_runs
from .interpreters import get_interpreter, require_pypy
from .runner import ask, private_tmpdir

__all__ = ["inspect_objects", "ObjectReport", "ObjectInfo", "MapInfo", "MapAttribute",
           "parse_map", "memory_per_object", "MemoryReport"]

# ----------------------------------------------------------------------------- parsing maps

_ATTR = re.compile(
    r"<(?P<cls>UnboxedPlainAttribute|PlainAttribute) (?P<name>.*?) "
    r"(?P<kind>DICT|SPECIAL|INVALID|\d+) (?P<index>-?\d+)(?: (?P<listindex>-?\d+))?"
    r"(?P<immutable> immutable)? (?=<)")
_TERMINATOR = re.compile(r"<(?P<cls>\w*Terminator) w_cls=(?P<w_cls><[^<>]*>)>")
_SLOTS_FROM = 3  # PyPy numbers __slots__ slots from 3 (0-2 are DICT, SPECIAL, INVALID)

KINDS = {"DICT": "attribute", "SPECIAL": "special", "INVALID": "invalid"}
TERMINATORS = {
    "DictTerminator": "attributes in the map",
    "NoDictTerminator": "__slots__ only, no __dict__",
    "DevolvedDictTerminator": "devolved: attributes in an ordinary dict",
}


@dataclass(frozen=True)
class MapAttribute:
    """One link of a map: an attribute as PyPy stores it.

    ``kind`` "attribute" (an ordinary one), "slot" (a ``__slots__`` slot; ``slot`` is PyPy's
    number for it), or "special" (``dict``: the instance's ``__dict__`` object was handed out;
    ``weakref``: a weak reference exists). ``storage`` "unboxed" (a raw int or float in a side
    array) or "boxed" (a pointer to an object). ``index`` the storage slot. ``written_once``:
    PyPy's "immutable" flag, no instance with this map ever rewrote the attribute. ``type`` for
    an unboxed attribute, the type the map fixes ("int" or "float", read from an instance's
    value; None if unknown); a boxed attribute may hold any type, so it is None.
    """

    name: str
    kind: str
    storage: str
    index: int
    written_once: bool
    slot: Optional[int] = None
    type: Optional[str] = None

    def describe(self) -> str:
        if self.kind == "special":
            return {"dict": "[__dict__ handed out]", "weakref": "[weakref]"}.get(
                self.name, f"[{self.name}]")
        what = []
        if self.storage == "unboxed":
            what.append(f"unboxed {self.type}" if self.type else "unboxed")
        if self.kind == "slot":
            what.append("slot")
        return f"{self.name} ({', '.join(what)})" if what else self.name


@dataclass(frozen=True)
class MapInfo:
    """A map (hidden class) as parsed from ``__pypy__.strategy(instance)``.

    ``attributes`` in the order they were added (first added first; the text lists them the
    other way round); ``terminator`` the terminator's class name (see :data:`TERMINATORS`);
    ``class_address`` PyPy's address of the class object (two maps of different classes never
    match); ``text`` the description itself; ``cls`` the class name when known.
    """

    text: str
    attributes: tuple
    terminator: str
    class_address: str
    cls: Optional[str] = None

    @property
    def depth(self) -> int:
        """How many links the chain has (special ones included)."""
        return len(self.attributes)

    @property
    def names(self) -> tuple:
        """The attribute and slot names in the order they were added (special links left out)."""
        return tuple(a.name for a in self.attributes if a.kind != "special")

    @property
    def devolved(self) -> bool:
        return self.terminator == "DevolvedDictTerminator"

    def describe(self) -> str:
        if self.devolved:
            return "(attributes in an ordinary dict, not in the map)"
        if not self.attributes:
            return "(no attributes)"
        return " → ".join(a.describe() for a in self.attributes)


def parse_map(text: str, slot_names=(), types=None, cls: Optional[str] = None) -> MapInfo:
    """Parse a map description from ``__pypy__.strategy(instance)`` (PyPy 7.3) into a MapInfo.

    ``slot_names`` names PyPy's slots in order (slot 3 is ``slot_names[0]``, …); ``types`` maps
    attribute names to the type names of their values; ``cls`` is the class name. A text of
    another shape raises ``ValueError``.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_map takes the text of a map, not {type(text).__name__}")
    types = types or {}
    links, pos = [], 0
    while True:
        m = _ATTR.match(text, pos)
        if not m:
            break
        kind_text = m["kind"]
        slot = None
        if kind_text.isdigit():
            slot = int(kind_text)
            kind = "slot"
        else:
            kind = KINDS[kind_text]
        name = m["name"]
        if kind == "slot" and name == "slot":
            k = slot - _SLOTS_FROM
            name = slot_names[k] if 0 <= k < len(slot_names) else f"slot #{k}"
        links.append(MapAttribute(
            name=name, kind=kind,
            storage="unboxed" if m["cls"] == "UnboxedPlainAttribute" else "boxed",
            index=int(m["index"]), written_once=bool(m["immutable"]), slot=slot,
            type=types.get(name) if m["cls"] == "UnboxedPlainAttribute" else None))
        pos = m.end()
    t = _TERMINATOR.match(text, pos)
    if not t or text[t.end():] != ">" * len(links):
        raise ValueError(
            "not a map description of the shape PyPy 7.3 prints (attribute links, then a "
            f"terminator): {text[:200]!r}")
    return MapInfo(text=text, attributes=tuple(reversed(links)), terminator=t["cls"],
                   class_address=t["w_cls"], cls=cls)


# ----------------------------------------------------------------------------- the child

# The program that runs inside PyPy: helpers/inspect_child.py.


_WHY_STRATEGIES = (
    "it asks PyPy's own `__pypy__.strategy()` how a list, dict or set is stored and what map an "
    "instance has. {label} has no strategies and no maps (its lists always hold pointers to "
    "objects, its instances a dict), so there is nothing to report. Pass interpreter=\"pypy\".")


def _check_names(names):
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise TypeError(f"names must be a name, a list of names or None, not {names!r:.80}") \
            from None
    if not names:
        raise ValueError("names is empty: give the names (or expressions such as `points[0]`) "
                         "to report on, or None for every public global of the snippet")
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise TypeError(f"each name must be a non-empty string, not {n!r:.80}")
        try:
            compile(n, "<name>", "eval")
        except SyntaxError:
            raise ValueError(f"{n!r} is not a name or an expression") from None
    return names


def inspect_objects(code: str, names=None, *, interpreter="pypy",
                    timeout: float = 30) -> "ObjectReport":
    """Run ``code`` once on PyPy, then report how PyPy stores the objects it left behind.

    ``names``: the globals to report (a name, a list of names, or expressions such as
    ``"points[0]"``); None reports every public global except modules, functions and classes.
    For a list, dict or set the report gives its strategy; for an instance its map (attribute
    order, storage, and an id such as ``M1`` shared by instances with the same map); for a list
    or tuple of instances, how many items have each map. A snippet that raises gives
    :class:`helpers.runner.ChildError` with its traceback; a name the snippet did not define, a
    ``ValueError`` listing the ones it did. PyPy only: CPython is refused with the reason.
    """
    __tracebackhide__ = True
    if not isinstance(code, str):
        raise TypeError(f"code must be a string of Python source, not {type(code).__name__}")
    names = _check_names(names)
    interp = require_pypy(interpreter, "inspect_objects()", _WHY_STRATEGIES)
    with private_tmpdir() as tmp:
        snippet = tmp / "snippet.py"
        snippet.write_text(code, encoding="utf-8")
        data, proc = ask("inspect_child", {"snippet": str(snippet), "names": names},
                         interpreter=interp, timeout=timeout, what="report",
                         hint="did the snippet call sys.exit() or os._exit()?")
    return ObjectReport.build(data, stdout=proc.stdout)


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class ObjectInfo:
    """One reported object. ``strategy`` for a list/dict/set (None otherwise); ``map`` and
    ``map_id`` for an instance; ``item_maps`` map id -> how many items of a list or tuple have
    it (instances only); ``dict_strategy`` the strategy of a devolved instance's dict."""

    name: str
    type: str
    len: Optional[int]
    strategy: Optional[str] = None
    map: Optional[MapInfo] = None
    map_id: Optional[str] = None
    item_maps: dict = field(default_factory=dict)
    dict_strategy: Optional[str] = None


def _attributes_text(info: ObjectInfo, extra: dict) -> str:
    if info.map is None:
        return ""
    if info.map.devolved:
        keys = extra.get("dict_keys", [])
        more = ", …" if extra.get("dict_len", 0) > len(keys) else ""
        return f"in a {info.dict_strategy or 'dict'}: {', '.join(keys)}{more}"
    return info.map.describe()


def _items_text(item_maps: dict) -> str:
    if not item_maps:
        return ""
    n = len(item_maps)
    shown = ", ".join(f"{k} ×{v:,}" for k, v in list(item_maps.items())[:3])
    more = ", …" if n > 3 else ""
    return f"items: {n} map{'s' * (n != 1)} ({shown}{more})"


@dataclass
class ObjectReport:
    """What :func:`inspect_objects` found. ``df`` one row per object (type, len, strategy,
    map, attributes); ``objects`` name -> :class:`ObjectInfo`; ``maps`` id -> :class:`MapInfo`;
    ``stdout`` what the snippet printed. ``report["p"]`` is an ObjectInfo;
    ``report.same_map("p", "q")`` says whether instances share one map."""

    objects: dict
    maps: dict
    df: object
    stdout: str = ""

    @classmethod
    def build(cls, data: dict, stdout: str = "") -> "ObjectReport":
        import pandas as pd

        bad = [e for e in data["objects"] if "error" in e]
        if bad:
            e = bad[0]
            defined = ", ".join(data.get("defined", [])) or "nothing"
            if e["error"] == "undefined":
                raise ValueError(f"{e['name']!r} is not defined by the snippet. It defined: "
                                 f"{defined}.")
            raise ValueError(f"{e['name']!r} could not be evaluated after the snippet ran: "
                             f"{e['error']}")
        ids, maps, extras = {}, {}, {}

        def map_id(text):
            if text not in ids:
                ids[text] = f"M{len(ids) + 1}"
                extra = data["maps"].get(text, {})
                maps[ids[text]] = parse_map(text, extra.get("slots", ()), extra.get("types"),
                                            extra.get("class"))
                extras[ids[text]] = extra
            return ids[text]

        objects, rows = {}, []
        for e in data["objects"]:
            mid = map_id(e["map"]) if e.get("map") else None
            items = {map_id(t): n for t, n in (e.get("item_maps") or {}).items()}
            m = maps.get(mid)
            extra = extras.get(mid, {})
            length = e.get("len")
            if m is not None and length is None:
                length = extra.get("dict_len", len(m.names)) if m.devolved else len(m.names)
            info = ObjectInfo(name=e["name"], type=e["type"], len=length,
                              strategy=e.get("strategy"), map=m, map_id=mid, item_maps=items,
                              dict_strategy=extra.get("dict_strategy"))
            objects[info.name] = info
            map_text = "" if mid is None else mid + (" (devolved)" if m.devolved else "")
            rows.append({"name": info.name, "type": info.type,
                         "len": "" if length is None else length,
                         "strategy": info.strategy or ("" if m else "—"),
                         "map": map_text or _items_text(items),
                         "attributes": _attributes_text(info, extra)})
        df = pd.DataFrame(rows, columns=["name", "type", "len", "strategy", "map",
                                         "attributes"]).set_index("name")
        return cls(objects=objects, maps=maps, df=df, stdout=stdout)

    def __getitem__(self, name: str) -> ObjectInfo:
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"no object {name!r} in this report; it has "
                           f"{', '.join(self.objects)}") from None

    def same_map(self, *names) -> bool:
        """True if the named instances all have one map (all must be instances)."""
        ids = []
        for n in names:
            info = self[n]
            if info.map_id is None:
                raise ValueError(f"{n!r} is a {info.type}, not an instance with a map")
            ids.append(info.map_id)
        return len(set(ids)) == 1

    def legend(self) -> list:
        """One line per map: id, class, attributes in the order they were added."""
        lines = []
        for mid, m in self.maps.items():
            how = f" [{TERMINATORS[m.terminator]}]" if m.terminator == "NoDictTerminator" else ""
            lines.append(f"{mid} ({m.cls or '?'}, depth {m.depth}): {m.describe()}{how}")
        return lines

    def __str__(self) -> str:
        text = self.df.to_string()
        if self.maps:
            text += "\nMaps (attributes in the order they were added):\n"
            text += "\n".join("  " + line for line in self.legend())
        return text

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = [self.df.to_html(escape=True)]
        if self.maps:
            items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in self.legend())
            parts.append(f"<p><b>Maps</b> (attributes in the order they were added)</p>"
                         f"<ul>{items}</ul>")
        return "<div>" + "\n".join(parts) + "</div>"


# ----------------------------------------------------------------------------- memory

# The program that runs inside the child: helpers/memory_child.py.


@dataclass
class MemoryReport:
    """What :func:`memory_per_object` measured. ``df`` bytes per object, one row per label and
    one column per interpreter; ``methods`` interpreter column -> how it was measured; ``n``
    objects per measurement."""

    df: object
    methods: dict
    n: int
    nursery: list = field(default_factory=list)  # the PyPy children's nursery, and why

    def bytes(self, label: str, interpreter: str = "PyPy") -> float:
        """Bytes per object for one label on one interpreter column ("PyPy", "CPython")."""
        if label not in self.df.index:
            raise KeyError(f"no label {label!r}; the labels are {', '.join(self.df.index)}")
        if interpreter not in self.df.columns:
            raise KeyError(f"no interpreter {interpreter!r}; the columns are "
                           f"{', '.join(self.df.columns)}")
        return float(self.df.loc[label, interpreter])

    def _table(self):
        return self.df.map(lambda b: f"{b:,.0f}") if hasattr(self.df, "map") \
            else self.df.applymap(lambda b: f"{b:,.0f}")

    def __str__(self) -> str:
        lines = [f"Bytes per object (N = {self.n:,} objects each), measured on this machine:",
                 self._table().to_string()]
        lines += [f"  {k}: {v}" for k, v in self.methods.items()]
        lines += [f"Note: {n}" for n in self.nursery]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        methods = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                          for k, v in list(self.methods.items()) + [("Note", n) for n in
                                                                     self.nursery])
        return (f"<div><p><b>Bytes per object</b> (N = {self.n:,} objects each), measured on "
                f"this machine</p>{self._table().to_html(escape=True)}"
                f"<ul style='font-size:smaller'>{methods}</ul></div>")


def memory_per_object(objects: dict, setup: str = "", *, n: int = 20_000,
                      interpreters=("cpython", "pypy"), timeout: float = 60) -> MemoryReport:
    """Bytes per object built by each expression, measured in each interpreter.

    ``objects`` maps a label to an expression of ``i`` (0 … n-1) that builds one object, e.g.
    ``{"instance": "Point(i, 2 * i)", "tuple": "(i, 2 * i)"}``; ``setup`` defines what they use.
    Each interpreter runs one child: setup, then per label a warm-up and two fills of a list of
    ``n`` objects; the smaller growth of memory in use, divided by ``n``, is the result (what is
    measured is in ``.methods``: PyPy's GC statistics, CPython's tracemalloc). Everything the
    object keeps alive counts (its int and str values too); the list holding them does not.
    """
    __tracebackhide__ = True
    import pandas as pd

    if not isinstance(objects, dict) or not objects:
        raise ValueError("objects must be a non-empty dict: label -> expression of `i`, e.g. "
                         "{'tuple': '(i, 2 * i)'}")
    for label, expr in objects.items():
        if not isinstance(label, str) or not isinstance(expr, str) or not expr.strip():
            raise TypeError(f"each entry must be label (str) -> expression (str), not "
                            f"{label!r:.40} -> {expr!r:.80}")
        try:
            compile(expr, "<expression>", "eval")
        except SyntaxError as exc:
            raise ValueError(f"{label!r}: {expr!r} is not an expression ({exc.msg})") from None
    if not isinstance(n, int) or n < 100:
        raise ValueError(f"n must be an int of at least 100 (objects per measurement), not {n!r}")
    if not interpreters or isinstance(interpreters, str):
        raise ValueError("interpreters must be a non-empty sequence such as ('cpython', 'pypy')")
    columns, methods, runs = {}, {}, []
    request = {"setup": setup, "n": n, "objects": list(objects.items())}
    for spec in interpreters:
        interp = get_interpreter(spec)
        name = interp.short if interp.short not in columns else interp.label
        data, proc = ask("memory_child", request, interpreter=interp, timeout=timeout,
                         what="measurement", hint="did the setup call sys.exit()?")
        runs.append(proc)
        columns[name] = data["bytes"]
        methods[name] = data["method"]
    df = pd.DataFrame(columns).reindex(list(objects))
    df.index.name = "object"
    return MemoryReport(df=df, methods=methods, n=n, nursery=describe_runs(runs))
