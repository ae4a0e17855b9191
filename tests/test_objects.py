"""helpers.objects: strategies and maps reported from a snippet run in PyPy; bytes per object."""

import sys

import pytest

from helpers.objects import (MapInfo, ObjectReport, inspect_objects, memory_per_object,
                             parse_map)
from helpers.runner import ChildError

CLS = "<W_TypeObject object at 0x55a180e82390>"
TWO = ("<PlainAttribute y DICT 1 immutable <UnboxedPlainAttribute x DICT 0 0 immutable "
       f"<DictTerminator w_cls={CLS}>>>")


# ----------------------------------------------------------------------------- parse_map


def test_a_chain_is_read_innermost_first():
    m = parse_map(TWO, types={"x": "int", "y": "str"}, cls="Point")
    assert isinstance(m, MapInfo)
    assert m.names == ("x", "y") and m.depth == 2
    x, y = m.attributes
    assert (x.kind, x.storage, x.index, x.written_once, x.type) == ("attribute", "unboxed", 0,
                                                                    True, "int")
    # a boxed attribute can hold anything: the map fixes no type for it
    assert (y.kind, y.storage, y.index, y.type) == ("attribute", "boxed", 1, None)
    assert m.terminator == "DictTerminator" and m.class_address == CLS and not m.devolved
    assert m.describe() == "x (unboxed int) → y"
    assert m.cls == "Point" and m.text == TWO


def test_rewritten_attribute_loses_the_immutable_flag():
    m = parse_map(f"<UnboxedPlainAttribute x DICT 0 0 <DictTerminator w_cls={CLS}>>")
    assert m.attributes[0].written_once is False


def test_slots_are_named_from_the_slot_numbers():
    text = ("<UnboxedPlainAttribute slot 4 0 2 immutable <UnboxedPlainAttribute slot 3 0 1 "
            "immutable <UnboxedPlainAttribute slot 5 0 0 immutable "
            f"<NoDictTerminator w_cls={CLS}>>>>")
    m = parse_map(text, slot_names=["a", "b", "c"])
    assert m.names == ("c", "a", "b")
    assert [a.slot for a in m.attributes] == [5, 3, 4]
    assert all(a.kind == "slot" for a in m.attributes)
    assert m.terminator == "NoDictTerminator"
    # unknown names stay numbered, never invented
    assert parse_map(text).names == ("slot #2", "slot #0", "slot #1")


def test_special_links_and_devolved_maps():
    read = parse_map(f"<PlainAttribute dict SPECIAL 2 immutable {TWO}>")
    assert [a.kind for a in read.attributes] == ["attribute", "attribute", "special"]
    assert read.names == ("x", "y") and read.depth == 3
    assert read.describe().endswith("[__dict__ handed out]")
    devolved = parse_map(f"<PlainAttribute dict SPECIAL 0 <DevolvedDictTerminator w_cls={CLS}>>")
    assert devolved.devolved and devolved.names == ()
    assert "ordinary dict" in devolved.describe()
    empty = parse_map(f"<DictTerminator w_cls={CLS}>")
    assert empty.depth == 0 and empty.describe() == "(no attributes)"


def test_names_with_spaces_survive():
    m = parse_map(f"<PlainAttribute my attr DICT 0 immutable <DictTerminator w_cls={CLS}>>")
    assert m.names == ("my attr",)


@pytest.mark.parametrize("text", ["IntegerListStrategy", "", TWO[:-1], TWO + ">",
                                  "<PlainAttribute x DICT 0 <Nonsense>>"])
def test_other_text_is_refused(text):
    with pytest.raises(ValueError, match="not a map description"):
        parse_map(text)


def test_parse_map_wants_text():
    with pytest.raises(TypeError, match="text of a map"):
        parse_map(None)


# ----------------------------------------------------------------------------- the report


def _data(objects, maps=None, defined=("a", "b")):
    return {"objects": objects, "maps": maps or {}, "defined": list(defined)}


def test_report_assigns_shared_map_ids_and_counts_items():
    other = TWO.replace("immutable <Unboxed", "<Unboxed")
    data = _data([
        {"name": "p", "type": "Point", "map": TWO, "len": None},
        {"name": "q", "type": "Point", "map": TWO, "len": None},
        {"name": "r", "type": "Point", "map": other, "len": None},
        {"name": "pts", "type": "list", "strategy": "ObjectListStrategy", "len": 5,
         "item_maps": {TWO: 3, other: 2}},
        {"name": "n", "type": "int", "strategy": None, "len": None},
    ], maps={TWO: {"class": "Point", "types": {"x": "int"}, "slots": []}})
    r = ObjectReport.build(data)
    assert r["p"].map_id == r["q"].map_id == "M1" and r["r"].map_id == "M2"
    assert r.same_map("p", "q") and not r.same_map("p", "r")
    assert r["pts"].item_maps == {"M1": 3, "M2": 2}
    assert r["p"].len == 2  # an instance's len is its number of attributes
    assert list(r.df.columns) == ["type", "len", "strategy", "map", "attributes"]
    assert r.df.loc["pts", "map"] == "items: 2 maps (M1 ×3, M2 ×2)"
    assert r.df.loc["n", "strategy"] == "—"
    assert "M1 (Point, depth 2): x (unboxed int) → y" in str(r)
    with pytest.raises(ValueError, match="'pts' is a list, not an instance"):
        r.same_map("p", "pts")
    with pytest.raises(KeyError, match="no object 'zz'"):
        r["zz"]


def test_report_html_is_escaped():
    text = f"<PlainAttribute <b>bold</b> DICT 0 immutable <DictTerminator w_cls={CLS}>>"
    r = ObjectReport.build(_data([{"name": "p", "type": "P", "map": text, "len": None}]))
    page = r._repr_html_()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_report_errors_name_what_the_snippet_defined():
    with pytest.raises(ValueError, match=r"'zz' is not defined by the snippet\. It defined: a, b"):
        ObjectReport.build(_data([{"name": "zz", "error": "undefined"}]))
    with pytest.raises(ValueError, match=r"'a\[9\]' could not be evaluated.*IndexError"):
        ObjectReport.build(_data([{"name": "a[9]", "error": "IndexError: list index out of "
                                                            "range"}]))


# ----------------------------------------------------------------------------- argument checks


def test_cpython_is_refused_with_a_reason():
    with pytest.raises(ValueError, match=r"needs PyPy: .*__pypy__\.strategy.*CPython"):
        inspect_objects("x = [1]", interpreter="cpython")
    with pytest.raises(ValueError, match="needs PyPy"):
        inspect_objects("x = [1]", interpreter=sys.executable)


@pytest.mark.parametrize("names, error, match", [
    ([], ValueError, "names is empty"),
    ([1], TypeError, "non-empty string"),
    (["a b c"], ValueError, "not a name or an expression"),
    (42, TypeError, "names must be"),
])
def test_bad_names_are_refused_before_running(names, error, match):
    with pytest.raises(error, match=match):
        inspect_objects("a = 1", names, interpreter="cpython")


def test_code_must_be_text():
    with pytest.raises(TypeError, match="code must be a string"):
        inspect_objects(b"a = 1")


@pytest.mark.parametrize("objects, match", [
    ({}, "non-empty dict"),
    ({"x": "(i,"}, "is not an expression"),
    ({"x": ""}, "label .* expression"),
])
def test_memory_arguments_are_checked(objects, match):
    with pytest.raises((ValueError, TypeError), match=match):
        memory_per_object(objects)


def test_memory_n_is_checked():
    with pytest.raises(ValueError, match="n must be"):
        memory_per_object({"t": "(i, i)"}, n=10)


# ----------------------------------------------------------------------------- on PyPy

SNIPPET = """
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

class Flipped:
    def __init__(self, x, y, flip):
        if flip:
            self.y = y
            self.x = x
        else:
            self.x = x
            self.y = y

class Slotted:
    __slots__ = ("b", "a")

class More(Slotted):
    __slots__ = ("c",)

class Bag:
    pass

ints = [1, 2, 3]
floats = [1.5, 2.5]
strs = ["a", "b"]
mixed = [1, "a"]
generic = [1, 2, 3]
generic.append(None)
popped = list(generic)
popped.pop()
ints_again = [1, 2, 3]
ints_again.pop()
by_str = {"a": 1}
by_int = {1: 2}
int_set = {1, 2}
p = Point(1, 2)
q = Point(3, 4)
labelled = Point(5, 6)
labelled.label = "x"
f0 = Flipped(1, 2, False)
f1 = Flipped(1, 2, True)
m = More()
m.c = 1
m.a = 2
m.b = 3
bag = Bag()
for i in range(100):
    setattr(bag, "a%d" % i, i)
looked = Point(7, 8)
looked.__dict__
points = [Point(i, i) for i in range(6)] + [labelled]
print('{"objects": "not me"}')
"""


@pytest.fixture(scope="module")
def report():
    return inspect_objects(SNIPPET)


@pytest.mark.pypy
def test_list_strategies(report):
    assert report["ints"].strategy == "IntegerListStrategy"
    assert report["floats"].strategy == "FloatListStrategy"
    assert report["strs"].strategy == "AsciiListStrategy"
    assert report["mixed"].strategy == "ObjectListStrategy"
    assert report["ints"].len == 3 and report["ints"].map is None


@pytest.mark.pypy
def test_one_none_makes_the_list_generic_for_good(report):
    assert report["generic"].strategy == "ObjectListStrategy"
    assert report["popped"].strategy == "ObjectListStrategy"  # no way back
    assert report["ints_again"].strategy == "IntegerListStrategy"


@pytest.mark.pypy
def test_dict_and_set_strategies(report):
    assert report["by_str"].strategy == "UnicodeDictStrategy"
    assert report["by_int"].strategy == "IntDictStrategy"
    assert report["int_set"].strategy == "IntegerSetStrategy"


@pytest.mark.pypy
def test_instances_share_a_map_or_not(report):
    assert report.same_map("p", "q")
    assert report["p"].map.names == ("x", "y")
    assert [a.storage for a in report["p"].map.attributes] == ["unboxed", "unboxed"]
    assert [a.type for a in report["p"].map.attributes] == ["int", "int"]
    assert not report.same_map("p", "labelled")
    assert report["labelled"].map.names == ("x", "y", "label")
    # on this PyPy, the same attributes added in another order end up in one map
    assert report.same_map("f0", "f1") and report["f1"].map.names == ("x", "y")


@pytest.mark.pypy
def test_reading_dict_adds_a_link(report):
    looked = report["looked"].map
    assert not report.same_map("p", "looked")
    assert looked.names == ("x", "y") and looked.attributes[-1].kind == "special"
    assert [a.type for a in looked.attributes[:2]] == ["int", "int"]


@pytest.mark.pypy
def test_slots(report):
    m = report["m"].map
    assert m.terminator == "NoDictTerminator"
    assert m.names == ("c", "a", "b")  # the order they were set, names resolved
    assert all(a.kind == "slot" for a in m.attributes)


@pytest.mark.pypy
def test_many_attributes_devolve_to_a_dict(report):
    bag = report["bag"]
    assert bag.map.devolved and bag.len == 100
    assert bag.dict_strategy == "UnicodeDictStrategy"
    assert "devolved" in report.df.loc["bag", "map"]


@pytest.mark.pypy
def test_items_of_a_list_are_grouped_by_map(report):
    items = report["points"].item_maps
    assert sum(items.values()) == 7 and len(items) == 2
    assert items[report["p"].map_id] == 6 and items[report["labelled"].map_id] == 1


@pytest.mark.pypy
def test_default_names_skip_modules_functions_and_classes(report):
    assert "Point" not in report.objects and "Slotted" not in report.objects
    assert {"ints", "p", "bag", "points"} <= set(report.objects)


@pytest.mark.pypy
def test_stdout_is_kept_and_never_parsed(report):
    assert report.stdout.strip() == '{"objects": "not me"}'
    assert "ints" in report.objects


@pytest.mark.pypy
def test_expressions_and_unknown_names():
    r = inspect_objects("xs = [[1], ['a']]", ["xs[0]", "xs[1]"])
    assert r["xs[0]"].strategy == "IntegerListStrategy"
    assert r["xs[1]"].strategy == "AsciiListStrategy"
    with pytest.raises(ValueError, match=r"'ys' is not defined by the snippet\. It defined: xs"):
        inspect_objects("xs = [1]", "ys")


@pytest.mark.pypy
def test_a_snippet_that_raises_gives_its_traceback():
    with pytest.raises(ChildError, match=r"ZeroDivisionError") as info:
        inspect_objects("x = [1]\ny = 1 / 0\n")
    assert 'snippet.py", line 2' in str(info.value)


@pytest.mark.pypy
def test_memory_per_object_measures_what_is_kept_alive():
    # each object keeps a fresh 1,000-byte bytes alive: both interpreters must see about that
    r = memory_per_object({"kilobyte": "b'x' * 999 + bytes([i % 256])", "small": "(i, i)"})
    assert list(r.df.index) == ["kilobyte", "small"]
    assert list(r.df.columns) == ["CPython", "PyPy"]
    for interp in r.df.columns:
        assert 1000 <= r.bytes("kilobyte", interp) < 1400, r
        assert r.bytes("small", interp) < r.bytes("kilobyte", interp)
        assert "gc" in r.methods[interp] or "tracemalloc" in r.methods[interp]
    assert "Bytes per object" in str(r) and "<table" in r._repr_html_()
    with pytest.raises(KeyError, match="no label"):
        r.bytes("nope")
