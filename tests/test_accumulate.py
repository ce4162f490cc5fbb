"""coffea accumulation semantics and the streaming merge."""

from __future__ import annotations

import threading

import hist
import numpy as np
import pytest
from coffea import processor

from colframe._work import Partial, merge_partials
from colframe.accumulate import accumulate, add, merge_streaming
from colframe.errors import MergeError
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
    import copy

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


def test_streaming_merge_adds_into_largest_once_each():
    refs = [Ref(np.full(3, float(i)), nbytes=i) for i in range(1, 8)]
    largest = refs[-1].value
    result = merge_streaming(refs)
    assert result is largest  # added into in place, never copied
    np.testing.assert_array_equal(result, np.full(3, 28.0))
    assert all(ref.loads == 1 for ref in refs)
    assert merge_streaming([]) is None


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
    assert result.name == 6
    assert result.total == 1 + 2 + 3 + 4 + 5
    loads = [e[1:] for e in log if e[0] == "load"]
    main = threading.main_thread().name
    # the largest first, then smallest first, each while only the result is held
    assert loads == [(6, main, 0)] + [(n, main, 1) for n in range(1, 6)]
    # the merge owns what it loaded: every input is consumed, none copied in
    assert [e for e in log if e[0] in ("add", "consume")] == [("consume", n) for n in range(1, 6)]


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
    block_b = parts[1].out["h"]._blocks[("b",)]
    merged = merge_partials([MemoryStore().put(p) for p in parts])
    assert merged.out["h"]._blocks[("b",)] is block_b  # adopted, not copied
    assert merged.out["n"] == merged.events == 80
    assert merged.chunks == 3
    assert set(merged.out["h"].keys()) == {("a",), ("b",), ("c",)}
