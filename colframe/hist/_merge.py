"""Combining SparseHists: compatibility, key-by-key addition, scaling, equality, totals."""

from __future__ import annotations

from typing import Any

import boost_histogram as bh
import hist
import numpy as np

from . import _blocks
from ._axes import OVERFLOW

__all__ = ["check_compatible", "equal", "is_empty", "merge", "scaled", "total"]


def _storage_kind(storage_type: type) -> type:
    return next(s for s in _blocks.SUPPORTED_STORAGES if issubclass(storage_type, s))


def check_compatible(a: Any, b: Any) -> None:
    """Raise ValueError unless ``b`` can be added into ``a``."""
    names_a, names_b = [ax.name for ax in a._axes], [ax.name for ax in b._axes]
    problem = ""
    if _storage_kind(a._storage_type) is not _storage_kind(b._storage_type):
        problem = f"storages differ ({a._storage_type()} vs {b._storage_type()})"
    elif names_a != names_b:
        problem = f"axis names differ ({names_a} vs {names_b})"
    elif a._cat_pos != b._cat_pos or a._dense_axes != b._dense_axes:
        problem = "dense axes differ (types, binning or metadata)"
    elif not all(x.same_kind(y) for x, y in zip(a._cats, b._cats, strict=True)):
        problem = "categorical axes differ (type, label or growth/flow traits)"
    else:
        for x, y in zip(a._cats, b._cats, strict=True):
            unknown = [v for v in y.values if v not in x.index]
            if unknown and not x.growth:
                problem = f"non-growing axis {x.name!r} lacks categories {unknown[:5]}"
                break
    if problem:
        msg = f"cannot add these SparseHists: {problem}; make both with the same axes"
        raise ValueError(msg)


def merge(a: Any, b: Any, *, consume: bool) -> Any:
    """Add ``b`` into ``a`` key by key; with ``consume`` adopt ``b``'s blocks and empty it."""
    check_compatible(a, b)
    spec = a._spec
    for mine, theirs in zip(a._cats, b._cats, strict=True):
        for v in theirs.values:
            mine.add(v)
    for key, block in b._blocks.items():
        current = a._blocks.get(key)
        if current is None:
            a._blocks[key] = block if consume else _blocks.copy_block(block)
        else:
            a._blocks[key] = _blocks.add(current, block, spec, own_other=consume)
    a._variance_known = a._variance_known and b._variance_known
    if consume:
        b._blocks = {}  # its arrays now belong to ``a``
    return a


def scaled(sh: Any, factor: Any) -> Any:
    """A new SparseHist times ``factor`` (Int64 becomes Double for a non-integer factor)."""
    spec, storage = sh._spec, sh._storage_type
    if spec.dtype.kind == "i" and not float(factor).is_integer():
        storage = hist.storage.Double  # as boost does
    dtype = np.dtype(np.float64 if storage is hist.storage.Double else spec.dtype)
    blocks = {k: _blocks.scale(b, factor, spec, dtype) for k, b in sh._blocks.items()}
    new = sh._from_parts(sh, sh._axes, [c.copy() for c in sh._cats], blocks, storage)
    # hist forgets the variances of a scaled Double/Int64 histogram; Weight keeps them.
    new._variance_known = spec.weighted
    return new


def equal(a: Any, b: Any) -> bool:
    """Same axes (categories compared as sets of filled keys) and the same non-zero content."""
    try:
        check_compatible(a, b)
        check_compatible(b, a)
    except ValueError:
        return False
    spec = a._spec
    zero = spec.zeros()
    for key in a._blocks.keys() | b._blocks.keys():
        x, y = a._blocks.get(key), b._blocks.get(key)
        x = zero if x is None else _blocks.densify(x, spec)
        y = zero if y is None else _blocks.densify(y, spec)
        if not np.array_equal(x, y):
            return False
    return True


def _dense_parts(sh: Any, flow: bool):
    spec = sh._spec
    for key, block in sh._blocks.items():
        if flow or OVERFLOW not in key:
            dense = _blocks.densify(block, spec)
            yield dense if flow else dense[spec.inner]


def total(self: Any, flow: bool = False) -> Any:
    """Total content (``WeightedSum`` for Weight storage), like ``hist.Hist.sum``."""
    spec = self._spec
    acc = np.zeros(spec.cell, spec.dtype)
    for dense in _dense_parts(self, flow):
        acc += dense.reshape(-1, *spec.cell).sum(axis=0)
    if spec.weighted:
        return bh.accumulators.WeightedSum(float(acc[0]), float(acc[1]))
    return acc.item()


def is_empty(self: Any, flow: bool = False) -> bool:
    """True if every bin is zero."""
    return not any(np.any(dense) for dense in _dense_parts(self, flow))
