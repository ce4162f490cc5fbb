"""coffea accumulation semantics and the streaming merge."""

from __future__ import annotations

import copy
import threading
from collections import Counter

import hist
import numpy as np
import pytest
from coffea import processor

from colframe._work import Partial, merge_partials
from colframe.accumulate import accumulate, add, merge_streaming, own
from colframe.errors import MergeError, ProcessorOutputError
from colframe.executors._store import MemoryStore
from colframe.hist import SparseHist


def _h(values):
    h = hist.Hist(hist.axis.Regular(4, 0, 4))
    h.fill(values)
    return h


def test_semantics_match_coffea_accumulate():
    parts = [
        {"h": _h([0.5, 1.5]), "n": {"a": 1}, "s": {"x"}, "arr": np.array([1, 2])},
        {"h": _h([2.5]), "n": {"a": 2, "b": 5}, "s": {"y"}, "arr": np.array([3, 4])},
        {"n": {"c": 1}, "s": set(), "extra": 3.5},
    ]
    ours = accumulate([_copy(p) for p in parts])
    theirs = processor.accumulate([_copy(p) for p in parts])
    assert ours["n"] == theirs["n"] == {"a": 3, "b": 5, "c": 1}
    assert ours["s"] == theirs["s"] == {"x", "y"}
    assert ours["h"] == theirs["h"]
    np.testing.assert_array_equal(ours["arr"], theirs["arr"])
    assert ours["extra"] == 3.5


def _copy(d):
    return copy.deepcopy(d)


@pytest.mark.parametrize(("a", "b"), [({"x": 1}, 5), ({"x"}, [1]), (object(), object())])
def test_mismatched_types_raise_merge_error(a, b):
    with pytest.raises(MergeError, match="cannot add"):
        add(a, b)


def test_none_is_identity():
    assert add(None, {"a": 1}) == {"a": 1}
    assert add({"a": 1}, None) == {"a": 1}


class Ref:
    """A partial output that counts how often it is loaded."""

    def __init__(self, value, nbytes):
        self.value, self.nbytes, self.loads = value, nbytes, 0

    def load(self):
        self.loads += 1
        return self.value


def test_streaming_merge_folds_in_the_order_given_loading_each_once():
    refs = [Ref([i], nbytes=10 - i) for i in range(7)]  # sizes must not reorder anything
    first = refs[0].value
    result = merge_streaming(refs)
    assert result is first  # added into in place, never copied
    assert result == list(range(7))  # plan order, whatever the sizes
    assert all(ref.loads == 1 for ref in refs)
    assert merge_streaming([]) is None


def test_streaming_merge_float_sums_are_a_left_fold():
    values = [0.1, 1e16, -1e16, 0.3, 0.7]
    result = merge_streaming([Ref(np.array([v]), nbytes=1) for v in values])
    expected = (((0.1 + 1e16) + -1e16) + 0.3) + 0.7
    assert result[0] == expected


class Part:
    """A loaded input that records how it was added."""

    def __init__(self, log, name):
        self.log, self.name, self.total = log, name, 0

    def __iadd__(self, other):
        self.log.append(("add", other.name))
        self.total += other.name
        return self

    def iadd_consume(self, other):
        self.log.append(("consume", other.name))
        self.total += other.name
        return self


class TracedRef:
    """Records, per load, its thread and how many loaded inputs are held (the result too)."""

    def __init__(self, log, name, nbytes):
        self.log, self.name, self.nbytes = log, name, nbytes

    def load(self):
        held = sum(e[0] == "loaded" for e in self.log) - sum(e[0] == "consume" for e in self.log)
        self.log.append(("load", self.name, threading.current_thread().name, held))
        self.log.append(("loaded", self.name))
        return Part(self.log, self.name)


def test_streaming_merge_holds_the_result_and_one_input():
    log = []
    sizes = {3: 30, 1: 10, 2: 20, 4: 500, 5: 600, 6: 1000}
    result = merge_streaming([TracedRef(log, name, size) for name, size in sizes.items()])
    assert result.name == 3
    assert result.total == 1 + 2 + 4 + 5 + 6
    loads = [e[1:] for e in log if e[0] == "load"]
    main = threading.main_thread().name
    # in the order given; each later input while only the result is held
    assert loads == [(3, main, 0)] + [(n, main, 1) for n in (1, 2, 4, 5, 6)]
    # the merge owns what it loaded: every input is consumed, none copied in
    assert [e for e in log if e[0] in ("add", "consume")] == [
        ("consume", n) for n in (1, 2, 4, 5, 6)
    ]


def test_add_consumes_only_when_asked():
    log = []
    a, b = Part(log, 1), Part(log, 2)
    assert add(a, b) is a
    assert add({"h": a}, {"h": b}, consume=True)["h"] is a
    assert log == [("add", 2), ("consume", 2)]


def test_merge_partials_adopts_sparse_blocks():
    def partial(process, events):
        h = SparseHist(
            hist.axis.StrCategory([], name="p", growth=True), hist.axis.Regular(4, 0, 4, name="x")
        )
        h.fill(p=process, x=np.linspace(-1, 5, events))
        return Partial({"h": h, "n": events}, events=events)

    parts = [partial("a", 50), partial("b", 20), partial("c", 10)]
    refs = [MemoryStore().put(p) for p in parts]  # private copies: the processor keeps its own
    block_b = refs[1].value.out["h"]._blocks[("b",)]
    assert block_b is not parts[1].out["h"]._blocks[("b",)]
    merged = merge_partials(refs)
    assert merged.out["h"]._blocks[("b",)] is block_b  # adopted from the stored copy, not copied
    assert merged.out["n"] == merged.events == 80
    assert merged.chunks == 3
    assert set(merged.out["h"].keys()) == {("a",), ("b",), ("c",)}


def test_counter_drops_zero_and_negative_counts_like_coffea():
    parts = [
        {"c": Counter({"a": 1, "zero": 0, "neg": -2}), "n": {"c": Counter({"x": 0})}},
        {"c": Counter({"a": 2, "b": 3, "zero": 0}), "n": {"c": Counter({"x": 0, "y": 1})}},
        {"c": Counter({"neg": 1}), "n": {}},
    ]
    ours = accumulate(copy.deepcopy(parts))
    theirs = processor.accumulate(copy.deepcopy(parts))
    # -2 was dropped by the first addition: the later +1 is all that is left of "neg"
    assert ours == theirs == {"c": Counter(a=3, b=3, neg=1), "n": {"c": Counter(y=1)}}
    assert type(ours["c"]) is Counter


def test_accumulate_never_changes_its_items():
    shared = {"n": 1, "arr": np.ones(2), "s": {"x"}, "l": [1]}
    items = [{"a": shared, "b": shared}, {"a": {"n": 2, "arr": np.ones(2), "s": {"y"}, "l": [2]}}]
    before = copy.deepcopy(items)
    out = accumulate(items)
    assert out["a"]["n"] == 3
    assert out["b"]["n"] == 1
    assert out["a"]["l"] == [1, 2]
    assert out["a"]["s"] == {"x", "y"}
    out["b"]["arr"] += 100  # the result shares nothing with the items
    assert repr(items) == repr(before)
    assert out["a"] is not out["b"]


def test_add_copies_what_it_adopts_unless_consuming():
    theirs = {"new": {"k": np.zeros(1)}}
    mine = add({}, theirs)
    mine["new"]["k"] += 1
    assert theirs["new"]["k"][0] == 0
    adopted = add({}, theirs, consume=True)
    assert adopted["new"] is theirs["new"]


def test_own_copies_only_aliases_of_a_private_value():
    cut = {"n": 1}
    h = _h([0.5])
    value = {"a": cut, "b": cut, "c": {"d": cut}, "h1": h, "h2": h, "t": (1, 2), "u": (1, 2)}
    owned = own(value, private=True)
    assert owned is value
    assert owned["a"] is cut
    assert owned["h1"] is h
    assert owned["b"] is not cut
    assert owned["c"]["d"] is not cut
    assert owned["h2"] is not h
    assert owned["b"] == cut
    assert owned["h2"] == h
    copied = own({"a": cut, "h": h})
    assert copied["a"] is not cut
    assert copied["h"] is not h
    assert copied == {"a": cut, "h": h}


def test_own_names_the_key_of_a_value_that_cannot_be_copied():
    with pytest.raises(
        ProcessorOutputError, match=r"cannot copy output\['x'\]\['lock'\], a _thread.lock"
    ):
        own({"x": {"lock": threading.Lock()}})


def test_numpy_arrays_widen_like_coffea():
    ints, floats = np.array([1, 2]), np.array([0.5, 0.5])
    out = add(ints, floats)
    np.testing.assert_array_equal(out, [1.5, 2.5])
    assert out.dtype == np.float64
    assert ints.tolist() == [1, 2]
