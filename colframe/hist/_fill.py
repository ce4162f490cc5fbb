"""Vectorized SparseHist fill: split entries by category key in one pass, bin with boost.

All entries are grouped by their combined category key (``np.unique`` with
``return_inverse``), then binned by ONE boost fill into a scratch histogram whose
first axis is the key number; each key's slice is added to its block.  The scratch
is capped in size, so a fill touching very many keys is done in several key groups.
"""

from __future__ import annotations

import math
from typing import Any

import boost_histogram as bh
import numpy as np

from . import _blocks
from ._blocks import BlockSpec

__all__ = ["fill_sparse", "split_fill_args"]

# Upper bound on the scratch histogram (keys x block) bytes used by a single boost fill.
_SCRATCH_BYTES = 64 * 2**20


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bytes) or np.ndim(value) == 0


def split_fill_args(
    axes: tuple[Any, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[Any]:
    """Values for every axis, in axis order, from positional and keyword arguments."""
    if len(args) > len(axes):
        msg = f"fill got {len(args)} positional values but the histogram has {len(axes)} axes"
        raise TypeError(msg)
    names = [ax.name for ax in axes]
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name not in names:
            msg = f"fill got unknown axis {name!r}; known axes are {names}"
            raise TypeError(msg)
        if name in values:
            msg = f"fill got axis {name!r} both positionally and by keyword; pass it once"
            raise TypeError(msg)
        values[name] = value
    missing = [n for n in names if n not in values]
    if missing:
        msg = f"fill is missing values for axes {missing}; pass every axis by name"
        raise TypeError(msg)
    return [values[n] for n in names]


def _unique(arr: np.ndarray) -> np.ndarray:
    """Sorted unique values: numpy >= 2.3 may find them by hashing, so only they get sorted."""
    try:
        return np.sort(np.unique(arr, sorted=False))
    except TypeError:
        return np.unique(arr)


def _entry_count(values: list[Any]) -> int:
    lengths = {len(v) for v in values if v is not None and not _is_scalar(v)}
    if len(lengths) > 1:
        msg = f"fill arrays have different lengths {sorted(lengths)}; pass equal-length arrays"
        raise ValueError(msg)
    return lengths.pop() if lengths else 1


def _resolve_keys(cats: list[Any], cat_values: list[Any]) -> tuple[list[tuple[Any, ...]], Any]:
    """Distinct resolved keys and, per entry, the key number (-1 = dropped)."""
    resolved: list[list[Any]] = []
    inverses: list[np.ndarray] = []
    dims: list[int] = []
    for cat, value in zip(cats, cat_values, strict=True):
        if _is_scalar(value):
            resolved.append([cat.resolve(value)])
            continue
        arr = np.asarray(value).reshape(-1)
        uniq = _unique(arr)
        inv = np.searchsorted(uniq, arr)
        as_list = uniq.tolist()
        parts: list[Any] = [cat.resolve(v) if v in cat.index else None for v in as_list]
        new = [j for j, v in enumerate(as_list) if v not in cat.index]
        if new:
            # Grow in order of first appearance, as boost's growing axes do.
            first = np.full(len(uniq), len(arr), np.int64)
            np.minimum.at(first, inv, np.arange(len(arr)))
            for j in sorted(new, key=lambda j: first[j]):
                parts[j] = cat.resolve(as_list[j])
        resolved.append(parts)
        inverses.append(inv)
        dims.append(len(uniq))
    if not inverses:
        key = tuple(r[0] for r in resolved)
        return ([], None) if None in key else ([key], 0)
    total = math.prod(dims)
    if total <= max(2**20, 4 * len(inverses[0])):
        # Few possible keys: mark the present ones with a bincount, O(n) instead of a sort.
        combined = np.ravel_multi_index(inverses, dims)
        present = np.bincount(combined, minlength=total) > 0
        ukeys = np.flatnonzero(present)
        kinv = (np.cumsum(present) - 1)[combined]
        digits = np.unravel_index(ukeys, dims)
    elif total < 2**62:
        combined = np.ravel_multi_index(inverses, dims)
        ukeys, kinv = np.unique(combined, return_inverse=True)
        digits = np.unravel_index(ukeys, dims)
    else:
        rows, kinv = np.unique(np.stack(inverses, axis=1), axis=0, return_inverse=True)
        digits = tuple(rows.T)
    nk = len(digits[0])
    columns = iter([d.tolist() for d in digits])
    arrays = {i for i, v in enumerate(cat_values) if not _is_scalar(v)}
    per_axis = [
        [r[d] for d in next(columns)] if i in arrays else [r[0]] * nk
        for i, r in enumerate(resolved)
    ]
    keys: list[tuple[Any, ...]] = []
    keymap = np.full(nk, -1, dtype=np.int64)
    for j, key in enumerate(zip(*per_axis, strict=True)):
        if None not in key:
            keymap[j] = len(keys)
            keys.append(key)
    return keys, keymap[kinv.reshape(-1)]


def fill_sparse(sh: Any, values: list[Any], weight: Any, sample: Any) -> None:
    """Fill ``sh`` (a SparseHist) with per-axis ``values`` given in axis order."""
    spec: BlockSpec = sh._spec
    cat_values = [values[p] for p in sh._cat_pos]
    dense_values = [values[p] for p in sh._dense_pos]
    n = _entry_count([*values, weight, sample])
    if n == 0:
        return
    keys, kinv = _resolve_keys(sh._cats, cat_values)
    if not keys:
        return
    if isinstance(kinv, int):
        kinv = np.zeros(n, dtype=np.int64)
    extra = [weight, sample]
    group = max(1, _SCRATCH_BYTES // max(spec.dense_nbytes, 1))
    if len(keys) <= group:
        _fill_group(sh, keys, kinv, dense_values, extra)
        return
    order = np.argsort(kinv, kind="stable")
    sorted_k = kinv[order]

    def take(v: Any, sel: np.ndarray) -> Any:
        return v if v is None or _is_scalar(v) else np.asarray(v)[sel]

    for g0 in range(0, len(keys), group):
        lo, hi = np.searchsorted(sorted_k, [g0, g0 + group])
        sel = order[lo:hi]
        _fill_group(
            sh,
            keys[g0 : g0 + group],
            sorted_k[lo:hi] - g0,
            [take(v, sel) for v in dense_values],
            [take(v, sel) for v in extra],
        )


def _fill_group(
    sh: Any, keys: list[tuple[Any, ...]], kinv: np.ndarray, dense: list[Any], extra: list[Any]
) -> None:
    key_axis = bh.axis.Integer(0, len(keys), underflow=False, overflow=False)
    scratch = bh.Histogram(key_axis, *sh._dense_axes, storage=sh._storage_type())
    # Key -1 (dropped: unknown value on a non-growing axis without flow) falls outside the axis.
    scratch.fill(kinv, *dense, weight=extra[0], sample=extra[1])
    arr = _blocks.read_view(scratch.view(flow=True))
    for i, key in enumerate(keys):
        sh._add_dense(key, arr[i, ...])
