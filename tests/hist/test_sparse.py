"""SparseHist against its dense hist.Hist equivalent."""

from __future__ import annotations

import copy
import functools
import operator
import pickle
import warnings

import boost_histogram as bh
import hist
import numpy as np
import pytest
from hist.chunked import ChunkedHist
from hist_helpers import PROCESSES, STORAGES, events, fill_both, make_axes, new_pair, split
from hypothesis import given, settings
from hypothesis import strategies as st

from colframe.hist import OVERFLOW, SparseHist

FAST = settings(max_examples=25, deadline=None)


def assert_same_dense(sparse: SparseHist, dense: hist.Hist) -> None:
    """Same categories, values and variances (flow included) as a dense hist."""
    assert [list(a) for a in sparse.axes if isinstance(a, bh.axis.StrCategory)] == [
        list(a) for a in dense.axes if isinstance(a, bh.axis.StrCategory)
    ]
    for flow in (False, True):
        np.testing.assert_array_equal(sparse.values(flow=flow), dense.values(flow=flow))
        sv, dv = sparse.variances(flow=flow), dense.variances(flow=flow)
        assert (sv is None) == (dv is None)
        if sv is not None:
            np.testing.assert_array_equal(sv, dv)


@pytest.mark.parametrize("storage", sorted(STORAGES))
@FAST
@given(ev=events(), cuts=st.lists(st.integers(0, 100), max_size=3))
def test_fill_and_to_hist_match_dense(storage: str, ev: dict, cuts: list[int]) -> None:
    sparse, dense = new_pair(storage)
    for part in split(ev, cuts):
        fill_both(sparse, dense, part)
    assert sparse.to_hist() == dense
    assert_same_dense(sparse, dense)
    assert sparse.sum() == dense.sum()
    assert sparse.sum(flow=True) == dense.sum(flow=True)
    assert SparseHist.from_hist(dense) == sparse


def test_scalar_categories_and_dropped_values() -> None:
    sparse, dense = new_pair("weight")
    rng = np.random.default_rng(0)
    pt = rng.uniform(0, 300, 50)
    for proc, ch in [("ttH", 0), ("ttW", 2), ("ttH", 0), ("WZ", 7)]:
        fill_both(
            sparse, dense, {"process": proc, "channel": ch, "pt": pt, "coeff": 1, "weight": 2.0}
        )
    assert sparse.to_hist() == dense
    assert ("WZ", OVERFLOW) in sparse
    # A fixed category axis without flow drops unknown values, as hist does.
    axes = [
        hist.axis.StrCategory(["a"], name="c", flow=False),
        hist.axis.Regular(3, 0, 1, name="x"),
    ]
    s, d = SparseHist(*axes), hist.Hist(*axes)
    for h in (s, d):
        h.fill(c=["a", "b", "a"], x=[0.1, 0.2, 0.9])
    assert s.to_hist() == d
    assert s.keys() == [("a",)]


def test_empty_fill_does_not_grow() -> None:
    sparse, dense = new_pair("double")
    fill_both(sparse, dense, {"process": "ttH", "channel": 0, "pt": [], "coeff": np.array([], int)})
    assert sparse.keys() == []
    assert list(sparse.axes["process"]) == list(dense.axes["process"]) == []


@FAST
@given(
    ev=events(max_size=80),
    cuts=st.lists(st.integers(0, 100), min_size=1, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_merge_commutative_associative_equals_single_fill(ev: dict, cuts: list[int], order) -> None:
    whole, dense = new_pair("weight")
    fill_both(whole, dense, ev)
    partials = []
    for part in split(ev, cuts):
        p = SparseHist(*make_axes(), storage=hist.storage.Weight())
        p.fill(**part)
        partials.append(p)
    left = functools.reduce(operator.add, partials)
    shuffled = partials[:]
    order.shuffle(shuffled)
    right = functools.reduce(lambda a, b: b + a, shuffled)  # other grouping and operand order
    assert left == right == whole
    assert sum(partials) == whole
    streamed = SparseHist(*make_axes(), storage=hist.storage.Weight())
    for p in copy.deepcopy(partials):
        streamed.iadd_consume(p)
        assert p.keys() == []
    assert streamed == whole
    assert SparseHist.from_hist(dense) == left
    # + copies: operands are left untouched.
    assert functools.reduce(operator.add, partials) == left


def test_partials_with_categories_in_different_orders() -> None:
    a = SparseHist(*make_axes())
    b = SparseHist(*make_axes())
    a.fill(process=["ttH", "ttW"], channel=[0, 1], pt=[10, 20], coeff=[0, 0])
    b.fill(process=["ttW", "tZq", "ttH"], channel=[1, 0, 0], pt=[20, 30, 10], coeff=[0, 1, 0])
    ab, ba = a + b, b + a
    assert list(ab.axes["process"]) == ["ttH", "ttW", "tZq"]
    assert list(ba.axes["process"]) == ["ttW", "tZq", "ttH"]
    assert ab == ba
    h = ab.to_hist()
    assert h[{"process": "ttH", "channel": hist.loc(0)}].values()[0, 0] == 2
    assert h[{"process": "ttW", "channel": hist.loc(1)}].values()[0, 0] == 2
    assert ba[{"process": "tZq", "channel": 0}].values()[0, 1] == 1


def dense_select(dense: hist.Hist, sel: dict) -> hist.Hist:
    fixed = {}
    for name, s in sel.items():
        if name == "channel" and isinstance(s, int):
            s = hist.loc(s)
        elif name == "channel" and isinstance(s, list):
            s = [hist.loc(v) for v in s]
        fixed[name] = s
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "List indexing selection is experimental")
        return dense[fixed]


@FAST
@given(
    ev=events(),
    proc=st.sampled_from([None, sum, "ttH", ["ttW", "ttH"]]),
    chan=st.sampled_from([None, sum, 1, [2, 0]]),
    pt=st.sampled_from([None, sum, slice(1, 4), slice(None, None, hist.rebin(2))]),
)
def test_selection_matches_dense(ev: dict, proc, chan, pt) -> None:
    sparse, dense = new_pair("weight")
    # make sure the selected categories exist, then add the random events
    fill_both(sparse, dense, {"process": ["ttH", "ttW"], "channel": 0, "pt": 5.0, "coeff": 0})
    fill_both(sparse, dense, ev)
    sel = {k: v for k, v in {"process": proc, "channel": chan, "pt": pt}.items() if v is not None}
    got, want = sparse[sel], dense_select(dense, sel)
    if isinstance(got, SparseHist):
        assert_same_dense(got, want)
        assert got.to_hist().axes == want.axes
    else:
        assert got == want


def test_project_and_full_integration() -> None:
    sparse, dense = new_pair("double")
    rng = np.random.default_rng(3)
    n = 200
    data = {
        "process": rng.choice(PROCESSES, n),
        "channel": rng.integers(0, 4, n),
        "pt": rng.uniform(-10, 320, n),
        "coeff": rng.integers(0, 4, n),
    }
    fill_both(sparse, dense, data)
    for names in [
        ("pt",),
        ("coeff", "pt"),
        ("process",),
        ("pt", "process"),
        ("coeff", "channel", "process"),
    ]:
        got, want = sparse.project(*names), dense.project(*names)
        if isinstance(got, SparseHist):
            assert_same_dense(got, want)
            assert [a.name for a in got.axes] == list(names)
        else:
            assert got == want
    total = sparse[{"process": sum, "channel": sum, "pt": sum, "coeff": sum}]
    assert total == dense[{"process": sum, "channel": sum, "pt": sum, "coeff": sum}] == n


def test_selection_errors() -> None:
    sparse, _ = new_pair("double")
    sparse.fill(process="ttH", channel=0, pt=1.0, coeff=0)
    with pytest.raises(KeyError, match="not on axis"):
        sparse[{"process": "nope"}]
    with pytest.raises(KeyError, match="no axis named"):
        sparse[{"bogus": sum}]


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_scale_sum_and_variances(storage: str) -> None:
    sparse, dense = new_pair(storage)
    ev = {"process": ["ttH", "ttW"], "channel": [0, 1], "pt": [10.0, 300.0], "coeff": [0, 3]}
    fill_both(sparse, dense, ev)
    for factor in (3, 0.5):
        assert_same_dense(sparse * factor, dense * factor)
        assert_same_dense(factor * sparse, dense * factor)
    inplace = sparse.copy()
    inplace *= 2
    assert_same_dense(inplace, dense * 2)
    assert not sparse.empty()
    assert SparseHist(*make_axes()).empty()


def test_weighted_fill_of_double_loses_variances() -> None:
    sparse, dense = new_pair("double")
    ev = {"process": "ttH", "channel": 0, "pt": [10.0], "coeff": [0], "weight": [2.0]}
    fill_both(sparse, dense, ev)
    assert sparse.variances() is None
    assert dense.variances() is None


def test_pickle_copy_deepcopy_and_interleaved_axes() -> None:
    axes = [
        hist.axis.Regular(4, 0, 1, name="x"),
        hist.axis.StrCategory([], name="s", growth=True),
        hist.axis.Variable([0, 1, 5, 10], name="y"),
        hist.axis.IntCategory([], name="i", growth=True),
    ]
    sparse = SparseHist(*axes, storage=hist.storage.Weight(), name="h", metadata={"k": [1]})
    dense = hist.Hist(*axes, storage=hist.storage.Weight())
    ev = {
        "x": [0.1, 0.7, 2.0],
        "s": ["a", "b", "a"],
        "y": [0.5, 7, 3],
        "i": [5, 5, -1],
        "weight": [1, 2, 3],
    }
    fill_both(sparse, dense, ev)
    assert_same_dense(sparse, dense)
    for clone in (pickle.loads(pickle.dumps(sparse)), copy.deepcopy(sparse), copy.copy(sparse)):
        assert clone == sparse
        assert clone.keys() == sparse.keys()
        assert clone.metadata == {"k": [1]}
        assert clone.name == "h"
    deep = copy.deepcopy(sparse)
    deep.metadata["k"].append(2)
    deep.fill(x=0.1, s="a", y=0.5, i=5)
    assert sparse.metadata == {"k": [1]}
    assert deep != sparse
    assert sparse.project("i", "x").values().shape == (2, 4)
    np.testing.assert_array_equal(
        sparse.project("i", "x").values(), dense.project("i", "x").values()
    )


class WilsonSparse(SparseHist):
    """A subclass with its own constructor and attribute, as analyses write them."""

    def __init__(self, wc_names: list[str], *axes, **kwargs) -> None:
        super().__init__(*axes, **kwargs)
        self.wc_names = list(wc_names)


def test_subclass_attributes_survive_copies_arithmetic_and_selection() -> None:
    sh = WilsonSparse(["ctW", "ctZ"], *make_axes(), storage=hist.storage.Weight(), name="h")
    sh.fill(process=["ttH", "ttW"], channel=[0, 1], pt=[10.0, 20.0], coeff=[0, 1], weight=[1, 2])
    results = {
        "copy": sh.copy(),
        "copy.copy": copy.copy(sh),
        "deepcopy": copy.deepcopy(sh),
        "pickle": pickle.loads(pickle.dumps(sh)),
        "+": sh + sh,
        "*": sh * 2.0,
        "rmul": 3 * sh,
        "sum()": sum([sh, sh]),
        "select": sh[{"process": ["ttH"]}],
        "project": sh.project("coeff", "process"),
    }
    scaled = sh.copy()
    scaled *= 2
    results["*="] = scaled
    for what, out in results.items():
        assert type(out) is WilsonSparse, what
        assert out.wc_names == ["ctW", "ctZ"], what
        assert out.name == "h", what
    np.testing.assert_array_equal(results["+"].values(), results["*"].values())
    deep = results["deepcopy"]
    deep.wc_names.append("cpt")
    assert sh.wc_names == ["ctW", "ctZ"]


def test_chunked_interop() -> None:
    sparse, _dense = new_pair("weight")
    axes = [a for a in make_axes() if a.name != "channel"]
    sparse = SparseHist(*axes, storage=hist.storage.Weight())
    chunked = ChunkedHist(*axes, storage=hist.storage.Weight())
    rng = np.random.default_rng(5)
    for proc in ["ttW", "ttH", "ttW"]:
        ev = {
            "process": proc,
            "pt": rng.uniform(0, 300, 30),
            "coeff": rng.integers(0, 4, 30),
            "weight": 2.0,
        }
        sparse.fill(**ev)
        chunked.fill(**ev)
    assert SparseHist.from_chunked(chunked) == sparse
    # ChunkedHist.to_hist relabels categorical axes (label=name), so compare contents.
    for other in (sparse.to_chunked().to_hist(), chunked.to_hist()):
        assert list(other.axes["process"]) == list(sparse.axes["process"])
        np.testing.assert_array_equal(other.view(flow=True), sparse.to_hist().view(flow=True))
    merged = sparse + chunked
    np.testing.assert_array_equal(merged.values(), 2 * sparse.values())
    np.testing.assert_array_equal(merged.variances(), 2 * sparse.variances())
    dense_keys = [k for k, b in sparse._blocks.items() if isinstance(b, np.ndarray)]
    assert dense_keys
    shared = dict(sparse.to_chunked(copy=False).items())
    copied = dict(sparse.to_chunked().items())
    for key in dense_keys:
        block = sparse._blocks[key]
        assert np.shares_memory(shared[key], block)
        assert not np.shares_memory(copied[key], block)


def test_eft_like_blocks_stay_sparse_in_memory() -> None:
    axes = [
        hist.axis.StrCategory([], name="process", growth=True),
        hist.axis.Regular(8, 0, 400, name="pt"),
        hist.axis.Integer(0, 378, name="coeff", underflow=False, overflow=False),
    ]
    sparse = SparseHist(*axes)
    chunked = ChunkedHist(*axes)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for proc in ["sm1", "sm2", "sm3"]:
            ev = {"process": proc, "pt": rng.uniform(0, 400, 100), "coeff": 0}
            sparse.fill(**ev)
            chunked.fill(**ev)
    assert all(isinstance(b, tuple) for b in sparse._blocks.values())
    assert sparse.nbytes * 50 < chunked.histogram_bytes()
    np.testing.assert_array_equal(sparse.values(flow=True), chunked.to_hist().values(flow=True))


def test_only_categorical_axes() -> None:
    axes = [
        hist.axis.StrCategory([], name="a", growth=True),
        hist.axis.IntCategory([], name="b", growth=True),
    ]
    sparse, dense = (
        SparseHist(*axes, storage=hist.storage.Int64()),
        hist.Hist(*axes, storage=hist.storage.Int64()),
    )
    fill_both(sparse, dense, {"a": ["x", "y", "x"], "b": [1, 2, 1]})
    assert sparse.to_hist() == dense
    assert sparse[{"a": "x", "b": 1}] == 2
    assert sparse[{"a": sum}].values().tolist() == [2, 1]


def test_uhi_sparse_export() -> None:
    import uhi.io as uhi_io

    sparse, dense = new_pair("weight")
    fill_both(
        sparse,
        dense,
        {
            "process": ["ttH", "WZ"],
            "channel": [0, 9],
            "pt": [1.0, -5],
            "coeff": [1, 2],
            "weight": [1, -1],
        },
    )
    ir = sparse.to_uhi()
    assert ir["storage"]["index"].shape == (4, 2)
    assert hist.Hist(uhi_io.from_sparse(ir)) == dense
    from uhi import schema

    schema.validate_histogram(schema._to_json_compatible(ir))


def test_construction_and_add_errors() -> None:
    with pytest.raises(ValueError, match="growth=True"):
        SparseHist(hist.axis.Regular(3, 0, 1, name="x", growth=True))
    with pytest.raises(TypeError, match="Mean"):
        SparseHist(hist.axis.Regular(3, 0, 1, name="x"), storage=hist.storage.Mean())
    with pytest.raises(ValueError, match="unique non-empty names"):
        SparseHist(hist.axis.Regular(3, 0, 1))
    a = SparseHist(*make_axes())
    with pytest.raises(TypeError, match="unknown axis"):
        a.fill(process="x", channel=0, pt=1, coeff=0, eta=3)
    with pytest.raises(ValueError, match="storages differ"):
        a + SparseHist(*make_axes(), storage=hist.storage.Weight())
    b = SparseHist(*make_axes())
    b.fill(process="x", channel=5, pt=1, coeff=0)
    other_axes = make_axes()
    other_axes[1] = hist.axis.IntCategory([0, 1, 2, 7], name="channel", label="Channel")
    c = SparseHist(*other_axes)
    c.fill(process="x", channel=7, pt=1, coeff=0)
    with pytest.raises(ValueError, match="lacks categories"):
        b + c


def test_fill_in_key_groups_when_scratch_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    from colframe.hist import _fill

    rng = np.random.default_rng(11)
    n = 500
    ev = {
        "process": rng.choice(PROCESSES, n),
        "channel": rng.integers(0, 5, n),  # 3 and 4 go to the overflow key
        "pt": rng.uniform(-10, 320, n),
        "coeff": rng.integers(0, 4, n),
        "weight": rng.integers(1, 5, n),
    }
    expected, dense = new_pair("weight")
    fill_both(expected, dense, ev)
    monkeypatch.setattr(_fill, "_SCRATCH_BYTES", 2 * expected._spec.dense_nbytes)
    grouped, _ = new_pair("weight")
    grouped.fill(**ev)
    assert grouped == expected
    assert grouped.to_hist() == dense


def test_coffea_accumulate() -> None:
    from coffea.processor import accumulate

    parts = []
    for proc in ["ttH", "ttW", "ttH"]:
        h = SparseHist(*make_axes())
        h.fill(process=proc, channel=[0, 1], pt=[5.0, 50.0], coeff=[0, 1])
        parts.append({"h": h})
    out = accumulate(parts)
    assert out["h"][{"process": "ttH", "channel": sum}].values().sum() == 4
    assert parts[0]["h"].sum() == 2  # accumulate copies its first item
