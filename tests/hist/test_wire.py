"""The sparse wire encoding: exact round trips and smaller-than-dense payloads."""

from __future__ import annotations

import pickle
import timeit

import boost_histogram as bh
import hist
import numpy as np
import pytest
from hist_helpers import STORAGES, events, make_axes, split, wire_dumps, wire_loads
from hypothesis import given, settings
from hypothesis import strategies as st

from colframe import serialize
from colframe.hist import SparseHist, reduce_for_wire
from colframe.hist._wire import rebuild_hist, rebuild_sparse

FAST = settings(max_examples=25, deadline=None)


def assert_hist_identical(a: bh.Histogram, b: bh.Histogram) -> None:
    assert type(a) is type(b)
    assert a.storage_type is b.storage_type
    assert a.axes == b.axes
    for x, y in zip(a.axes, b.axes, strict=True):
        assert type(x) is type(y)
        assert x.traits == y.traits
        assert x.__dict__ == y.__dict__
        if isinstance(x, bh.axis.Regular):
            assert repr(x.transform) == repr(y.transform)
    assert a.__dict__ == b.__dict__
    va, vb = np.asarray(a.view(flow=True)), np.asarray(b.view(flow=True))
    assert va.dtype == vb.dtype
    np.testing.assert_array_equal(va, vb)


def assert_sparse_identical(a: SparseHist, b: SparseHist) -> None:
    assert type(a) is type(b)
    assert a.storage_type is b.storage_type
    assert a == b
    assert a.keys() == b.keys()  # includes keys whose block is all zero
    assert [
        list(x) for x in a.axes if isinstance(x, bh.axis.StrCategory | bh.axis.IntCategory)
    ] == [list(x) for x in b.axes if isinstance(x, bh.axis.StrCategory | bh.axis.IntCategory)]
    for key in a:
        np.testing.assert_array_equal(a.dense_block(key), b.dense_block(key))
    assert (a.name, a.label, a.metadata, a._variance_known) == (
        b.name,
        b.label,
        b.metadata,
        b._variance_known,
    )
    assert a._axes == b._axes


@pytest.mark.parametrize("storage", sorted(STORAGES))
@FAST
@given(ev=events(), cuts=st.lists(st.integers(0, 100), max_size=2))
def test_roundtrip_random(storage: str, ev: dict, cuts: list[int]) -> None:
    st_cls = STORAGES[storage]
    sparse = SparseHist(*make_axes(), storage=st_cls(), name="n", label="l", metadata={"m": 1})
    dense = hist.Hist(*make_axes(), storage=st_cls(), name="n", label="l")
    for part in split(ev, cuts):
        sparse.fill(**part)
        dense.fill(**part)
    for obj in (sparse, dense):
        for dumps in (wire_dumps, pickle.dumps):
            back = wire_loads(dumps(obj))
            if isinstance(obj, SparseHist):
                assert_sparse_identical(obj, back)
            else:
                assert_hist_identical(obj, back)


def test_empty_histograms_and_empty_blocks() -> None:
    for storage in STORAGES.values():
        dense = hist.Hist(*make_axes(), storage=storage())
        assert_hist_identical(dense, wire_loads(wire_dumps(dense)))
        sparse = SparseHist(*make_axes(), storage=storage())
        assert_sparse_identical(sparse, wire_loads(wire_dumps(sparse)))
        # zero-weight fills make categories and all-zero blocks
        sparse.fill(process=["a", "b"], channel=[0, 1], pt=[1.0, 2.0], coeff=[0, 1], weight=[0, 0])
        back = wire_loads(wire_dumps(sparse))
        assert_sparse_identical(sparse, back)
        assert back.keys() == [("a", 0), ("b", 1)]
    no_axes = hist.Hist(storage=hist.storage.Weight())
    assert_hist_identical(no_axes, wire_loads(wire_dumps(no_axes)))


def test_zero_value_nonzero_variance_travels() -> None:
    axes = [
        hist.axis.StrCategory([], name="c", growth=True),
        hist.axis.Regular(500, 0, 1, name="x"),
    ]
    sparse = SparseHist(*axes, storage=hist.storage.Weight())
    dense = hist.Hist(*axes, storage=hist.storage.Weight())
    for h in (sparse, dense):
        h.fill(c=["a", "a"], x=[0.5, 0.5], weight=[1.0, -1.0])  # value 0, variance 2
    for obj in (sparse, dense):
        back = wire_loads(wire_dumps(obj))
        assert back.variances().sum() == 2.0
        assert back.values().sum() == 0.0
    _, args = reduce_for_wire(dense)
    assert args[-1][0] == "coo"


def test_flow_bins_metadata_and_transform_survive() -> None:
    axes = [
        hist.axis.Regular(10, 1, 100, name="x", label="X", transform=hist.axis.transform.log),
        hist.axis.Variable([0, 1, 3, 7], name="y", underflow=False, metadata={"u": "GeV"}),
        hist.axis.StrCategory(["b", "a"], name="c", growth=True),
        hist.axis.IntCategory([3, 1], name="i"),
        hist.axis.Boolean(name="flag"),
    ]
    h = hist.Hist(*axes, storage=hist.storage.Weight(), name="h", label="H", metadata={"k": "v"})
    h.fill(
        x=[0.5, 5, 500],
        y=[-1, 2, 9],
        c=["a", "z", "b"],
        i=[3, 9, 1],
        flag=[True, False, True],
        weight=[1, 2, 3],
    )
    back = wire_loads(wire_dumps(h))
    assert_hist_identical(h, back)
    assert list(back.axes["c"]) == ["b", "a", "z"]
    plain = bh.Histogram(
        bh.axis.Regular(4, 0, 1), bh.axis.Integer(0, 3), storage=bh.storage.Int64()
    )
    plain.fill([0.1, 2.0, -1], [0, 2, 5])
    assert_hist_identical(plain, wire_loads(wire_dumps(plain)))


def test_unsupported_storages_and_other_objects_fall_back() -> None:
    mean = hist.Hist(hist.axis.Regular(3, 0, 1, name="x"), storage=hist.storage.Mean())
    mean.fill([0.1, 0.5], sample=[2.0, 3.0])
    assert reduce_for_wire(mean) is NotImplemented
    assert wire_loads(wire_dumps(mean)) == mean
    for obj in (1, "s", [1], {"a": 1}, np.zeros(3), None, hist.axis.Regular(3, 0, 1)):
        assert reduce_for_wire(obj) is NotImplemented
    # histograms nested in an accumulator-like dict travel sparsely too
    sparse = SparseHist(*make_axes())
    sparse.fill(process="p", channel=1, pt=3.0, coeff=2)
    out = {"h": sparse, "cutflow": {"all": 10}, "dense": sparse.to_hist()}
    back = wire_loads(wire_dumps(out))
    assert back["h"] == sparse
    assert back["dense"] == out["dense"]
    assert back["cutflow"] == {"all": 10}
    assert rebuild_hist.__module__ == rebuild_sparse.__module__ == "colframe.hist._wire"


def test_non_histograms_are_rejected_fast() -> None:
    # A type check only: on the order of a dict lookup, far below any encoding work.
    obj = object()
    per_call = min(timeit.repeat(lambda: reduce_for_wire(obj), number=2000, repeat=3)) / 2000
    assert per_call < 20e-6


def test_coo_is_much_smaller_for_mostly_empty() -> None:
    axes = [
        hist.axis.StrCategory([f"p{i}" for i in range(12)], name="process", growth=True),
        hist.axis.StrCategory([f"s{i}" for i in range(16)], name="syst", growth=True),
        hist.axis.Regular(8, 0, 400, name="pt"),
        hist.axis.Integer(0, 378, name="coeff", underflow=False, overflow=False),
    ]
    dense = hist.Hist(*axes)
    rng = np.random.default_rng(0)
    dense.fill(
        process="p3",
        syst=rng.choice([f"s{i}" for i in range(16)], 500),
        pt=rng.uniform(0, 400, 500),
        coeff=0,
    )
    dense_bytes = len(pickle.dumps(dense, protocol=pickle.HIGHEST_PROTOCOL))
    wire_bytes = len(wire_dumps(dense))
    assert wire_bytes * 20 < dense_bytes
    _, args = reduce_for_wire(dense)
    kind, size, idx, _vals = args[-1]
    assert kind == "coo"
    assert idx.dtype == np.uint32
    assert size == dense.view(flow=True).size
    sparse = SparseHist.from_hist(dense)
    sparse_bytes = len(wire_dumps(sparse))
    assert sparse_bytes * 20 < dense_bytes
    # the SparseHist keeps its (all-COO) blocks compact on the wire as well
    _, sargs = reduce_for_wire(sparse)
    assert sargs[7].tolist() == [1] * len(sparse.keys())
    assert sargs[8] == []


def test_full_blocks_travel_dense() -> None:
    axes = [hist.axis.StrCategory([], name="c", growth=True), hist.axis.Regular(4, 0, 1, name="x")]
    sparse = SparseHist(*axes)
    sparse.fill(c="a", x=[-1, 0.1, 0.3, 0.6, 0.9, 2])
    _, args = reduce_for_wire(sparse)
    kinds, dense = args[7], args[8]
    assert kinds.tolist() == [0]
    assert len(dense) == 1
    assert_sparse_identical(sparse, wire_loads(wire_dumps(sparse)))


def test_sparse_without_categorical_or_dense_axes() -> None:
    only_dense = SparseHist(hist.axis.Regular(5, 0, 1, name="x"), storage=hist.storage.Weight())
    only_dense.fill(x=[0.1, 0.2, 3.0], weight=[1, 2, 3])
    assert only_dense.keys() == [()]
    assert_sparse_identical(only_dense, wire_loads(wire_dumps(only_dense)))
    only_cats = SparseHist(
        hist.axis.StrCategory([], name="s", growth=True),
        hist.axis.IntCategory([7], name="i"),
        storage=hist.storage.Int64(),
    )
    only_cats.fill(s=["a", "b", "a"], i=[7, 7, 8])
    back = wire_loads(wire_dumps(only_cats))
    assert_sparse_identical(only_cats, back)
    assert back.to_hist() == only_cats.to_hist()


def test_large_coo_blocks_travel_whole_and_are_adopted() -> None:
    axes = [
        hist.axis.StrCategory([], name="c", growth=True),
        hist.axis.Regular(8, 0, 8, name="x"),
        hist.axis.Integer(0, 378, name="coeff", underflow=False, overflow=False),
    ]
    sparse = SparseHist(*axes, storage=hist.storage.Weight())
    # "eft": one x bin x every coefficient (378 entries, COO); "sm": coefficient 0 only
    sparse.fill(c="eft", x=2.5, coeff=np.arange(378), weight=np.linspace(1, 2, 378))
    sparse.fill(c="sm", x=[1.5, 4.5], coeff=0)
    _, args = reduce_for_wire(sparse)
    kinds, whole, (counts, _, _) = args[7], args[8], args[9]
    assert kinds.tolist() == [0, 1]
    assert counts.tolist() == [2]
    (idx, vals) = whole[0]
    assert len(idx) == 378
    assert idx is sparse._blocks[("eft",)][0]  # pickled as it is, no packed copy
    rebuilt = rebuild_sparse(*args)
    assert rebuilt._blocks[("eft",)][0] is idx  # adopted on load, not copied
    assert rebuilt._blocks[("eft",)][1] is vals
    back = wire_loads(wire_dumps(sparse))
    assert_sparse_identical(sparse, back)
    assert all(arr.flags.writeable for arr in back._blocks[("eft",)])


def test_other_wire_versions_are_refused() -> None:
    sparse = SparseHist(*make_axes())
    sparse.fill(process="p", channel=1, pt=3.0, coeff=2)
    _, args = reduce_for_wire(sparse)
    assert args[0] == 3
    assert_sparse_identical(sparse, rebuild_sparse(*args))
    for version in (1, 2, 4):
        with pytest.raises(ValueError, match=f"wire version {version} is not readable"):
            rebuild_sparse(version, *args[1:])


class WilsonHist(hist.Hist):
    """A hist.Hist subclass with its own constructor signature, as analyses write them."""

    def __init__(self, wc_names: list[str], *axes, **kwargs) -> None:
        super().__init__(*axes, **kwargs)
        self.wc_names = list(wc_names)


class PlainSubclass(hist.Hist):
    """Only adds a method: it is constructed and pickled as hist.Hist is."""

    def total(self) -> float:
        return float(self.sum())


def test_hist_subclass_with_own_constructor_round_trips() -> None:
    h = WilsonHist(
        ["ctW", "ctZ"],
        hist.axis.StrCategory([], name="c", growth=True),
        hist.axis.Regular(4, 0, 1, name="x"),
        storage=hist.storage.Weight(),
        name="h",
        metadata={"k": 1},
    )
    h.fill(c=["a", "b", "a"], x=[0.1, 0.6, 2.0], weight=[1.0, 2.0, 3.0])
    assert reduce_for_wire(h) is NotImplemented  # its own pickling, not the sparse rebuild
    for back in (serialize.loads(serialize.dumps(h)), wire_loads(wire_dumps(h))):
        assert_hist_identical(h, back)
        assert back.wc_names == ["ctW", "ctZ"]
    # stock classes and subclasses that keep the stock construction still travel sparsely
    plain = PlainSubclass(hist.axis.Regular(1000, 0, 1, name="x"))
    plain.fill([0.5])
    named = hist.NamedHist(hist.axis.Regular(1000, 0, 1, name="x"))
    named.fill(x=[0.5])
    for obj in (plain, named, hist.Hist(hist.axis.Regular(1000, 0, 1, name="x"))):
        _, args = reduce_for_wire(obj)
        assert args[-1][0] == "coo"
        assert_hist_identical(obj, serialize.loads(serialize.dumps(obj)))
    assert serialize.loads(serialize.dumps(plain)).total() == 1.0


class WilsonSparse(SparseHist):
    """A SparseHist subclass with its own constructor and attribute."""

    def __init__(self, wc_names: list[str], *axes, **kwargs) -> None:
        super().__init__(*axes, **kwargs)
        self.wc_names = list(wc_names)


def test_sparse_subclass_attributes_survive_pickling() -> None:
    sh = WilsonSparse(["ctW"], *make_axes(), storage=hist.storage.Weight(), name="n")
    sh.fill(process=["a", "b"], channel=[0, 1], pt=[1.0, 2.0], coeff=[0, 1], weight=[1, 2])
    for back in (
        serialize.loads(serialize.dumps(sh)),
        wire_loads(wire_dumps(sh)),
        pickle.loads(pickle.dumps(sh)),
    ):
        assert_sparse_identical(sh, back)
        assert back.wc_names == ["ctW"]
