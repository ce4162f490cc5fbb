"""Exact (bit-for-bit) comparison of outputs, and coffea's Runner as the oracle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import hist
import numpy as np
from coffea import processor
from coffea.nanoevents import NanoAODSchema


def coffea_run(fileset, proc, chunksize: int):
    """coffea's Runner with its IterativeExecutor: the reference answer."""
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=chunksize
    )
    return runner(fileset, processor_instance=proc, treename="Events")


def assert_identical(
    a, b, path: str = "output", *, rtol: float = 0.0, loose_counter_order: bool = False
) -> None:
    """``a`` equals ``b``: same types, key order, list order, exact integers and sets.

    Floats are compared bit for bit when ``rtol`` is 0 (two colframe runs), within
    ``rtol`` otherwise (coffea folds left, colframe merges as a tree). With
    ``loose_counter_order`` the keys of a ``Counter`` may come in another order: a key
    dropped at zero and counted again later moves to the end, at a point that
    depends on the shape of the merge.
    """
    options = {"rtol": rtol, "loose_counter_order": loose_counter_order}
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, processor.column_accumulator):
        assert_identical(a.value, b.value, f"{path}.value", **options)
    elif isinstance(a, Mapping):
        if loose_counter_order and isinstance(a, Counter):
            assert set(a) == set(b), f"{path}: keys {list(a)} vs {list(b)}"
        else:
            assert list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{path}[{key!r}]", **options)
    elif isinstance(a, hist.Hist):
        assert a.axes == b.axes, f"{path}: axes differ"
        _arrays(a.view(flow=True), b.view(flow=True), path, rtol)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{path}: {a.dtype} vs {b.dtype}"
        assert a.shape == b.shape, f"{path}: {a.shape} vs {b.shape}"
        _arrays(a, b, path, rtol)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{path}[{index}]", **options)
    elif isinstance(a, float) and rtol:
        assert np.isclose(a, b, rtol=rtol, atol=0), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _arrays(a, b, path: str, rtol: float) -> None:
    if a.dtype.names:  # weight storage: compare field by field
        for name in a.dtype.names:
            _arrays(np.asarray(a[name]), np.asarray(b[name]), f"{path}.{name}", rtol)
    elif rtol and a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0, err_msg=path)
    else:
        np.testing.assert_array_equal(a, b, err_msg=path, strict=True)
