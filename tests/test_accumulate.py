"""coffea accumulation semantics and the streaming merge."""

from __future__ import annotations

import hist
import numpy as np
import pytest
from coffea import processor

from colframe.accumulate import accumulate, add, merge_streaming
from colframe.errors import MergeError


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


@pytest.mark.parametrize("prefetch", [True, False])
def test_streaming_merge_adds_into_largest_once_each(prefetch):
    refs = [Ref(np.full(3, float(i)), nbytes=i) for i in range(1, 8)]
    largest = refs[-1].value
    result = merge_streaming(refs, prefetch=prefetch)
    assert result is largest  # added into in place, never copied
    np.testing.assert_array_equal(result, np.full(3, 28.0))
    assert all(ref.loads == 1 for ref in refs)
    assert merge_streaming([]) is None
