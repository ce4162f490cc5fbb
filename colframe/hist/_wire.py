"""Sparse wire encoding of histograms for pickling.

``reduce_for_wire(obj)`` is meant for a ``pickle.Pickler.reducer_override``: it answers
``NotImplemented`` (one dict lookup) for everything but ``boost_histogram.Histogram``
(so ``hist.Hist``) and ``SparseHist``, and for those returns ``(rebuild, args)``.

Encoding: every block of a SparseHist, or the whole flow-inclusive storage of a plain
histogram, travels dense or as COO (flat bin index + values [+ variances]), whichever
is smaller.  Flat indices use the smallest unsigned dtype that fits (uint16/32/64);
a bin counts as filled if its value OR its variance is non-zero.  A SparseHist's
dense blocks and its COO blocks of at least 256 entries travel as their own arrays,
which pickling and loading neither copy nor concatenate; smaller COO blocks are
packed into one index and one value array (with per-block counts), which saves
per-array pickle overhead.  Version 2 of the SparseHist layout; version 1 (every
COO block packed) is still read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boost_histogram as bh
import numpy as np

from . import _blocks
from ._axes import OVERFLOW, CatAxis
from ._blocks import SUPPORTED_STORAGES, index_dtype
from ._sparse import SparseHist

__all__ = ["rebuild_hist", "rebuild_sparse", "reduce_for_wire", "reduce_hist", "reduce_sparse"]

_WEIGHT_DTYPE = np.dtype([("value", "<f8"), ("variance", "<f8")])
_VERSION = 2
_READABLE = (1, 2)  # version 1 is version 2 with every COO block packed
_OWN_ARRAYS = 256  # COO blocks with this many entries travel as their own arrays


def _smallest_uint(max_value: int) -> np.dtype[Any]:
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


# -- plain boost/hist histograms -----------------------------------------------------------
def _encode_flat(flat: np.ndarray) -> tuple[Any, ...]:
    """Dense or COO encoding of a flat (n,) or (n, 2) array, whichever is smaller."""
    size = len(flat)
    mask = flat.any(axis=1) if flat.ndim == 2 else flat != 0
    nnz = int(np.count_nonzero(mask))
    idx_dt = index_dtype(size)
    if nnz * (idx_dt.itemsize + flat.itemsize * flat[0:1].size) < flat.nbytes:
        idx = np.flatnonzero(mask).astype(idx_dt)
        return ("coo", size, idx, flat[idx])
    return ("dense", flat)


def _decode_flat(enc: tuple[Any, ...], dtype: np.dtype[Any], cell: tuple[int, ...]) -> np.ndarray:
    if enc[0] == "dense":
        return enc[1]
    _, size, idx, vals = enc
    out = np.zeros((size, *cell), dtype)
    out[idx] = vals
    return out


def reduce_hist(h: bh.Histogram) -> Any:
    """Reduce tuple for a boost/hist histogram, or NotImplemented for other storages."""
    storage_type = h.storage_type
    if not issubclass(storage_type, SUPPORTED_STORAGES):
        return NotImplemented  # Mean, WeightedMean, Unlimited, MultiCell: normal pickling
    view = np.asarray(h.view(flow=True))
    # boost stores column-major; an F-order ravel walks memory without copying.
    flat = view.ravel(order="F")
    if flat.dtype.names:
        flat = flat.view(np.float64).reshape(-1, 2)
    state = dict(h.__dict__)
    return rebuild_hist, (type(h), tuple(h.axes), storage_type, state, _encode_flat(flat))


def rebuild_hist(
    cls: type,
    axes: tuple[Any, ...],
    storage_type: type,
    state: dict[str, Any],
    enc: tuple[Any, ...],
) -> bh.Histogram:
    """Inverse of :func:`reduce_hist`."""
    h = cls(*axes, storage=storage_type())
    h.__dict__.update(state)
    view = np.asarray(h.view(flow=True))
    weighted = bool(view.dtype.names)
    dtype = np.dtype(np.float64) if weighted else view.dtype
    flat = _decode_flat(enc, dtype, (2,) if weighted else ())
    if weighted:
        flat = np.ascontiguousarray(flat).view(_WEIGHT_DTYPE).reshape(-1)
    view[...] = flat.reshape(view.shape, order="F")
    return h


# -- SparseHist -------------------------------------------------------------------------
def reduce_sparse(sh: SparseHist) -> tuple[Any, ...]:
    """Reduce tuple for a SparseHist: category tables, key codes, whole blocks, packed COO."""
    spec = sh._spec
    cats = [list(c.values) for c in sh._cats]
    code_dt = _smallest_uint(max([len(v) for v in cats], default=0))
    codes = np.array(
        [[c.position(v) for c, v in zip(sh._cats, key, strict=True)] for key in sh._blocks],
        dtype=code_dt,
    ).reshape(len(sh._blocks), len(cats))
    kinds = np.zeros(len(sh._blocks), np.uint8)  # 0: in ``whole``, 1: packed
    whole: list[Any] = []  # dense arrays and (idx, vals) tuples, pickled as they are
    counts: list[int] = []
    idx_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    for i, block in enumerate(sh._blocks.values()):
        if isinstance(block, np.ndarray):
            idx = _blocks.nonzero_index(block, spec)
            if spec.coo_nbytes(len(idx)) >= spec.dense_nbytes:
                whole.append(block)
                continue
            block = (idx, block.reshape(spec.size, *spec.cell)[idx])
        if len(block[0]) >= _OWN_ARRAYS:
            whole.append(block)
            continue
        kinds[i] = 1
        counts.append(len(block[0]))
        idx_parts.append(block[0])
        val_parts.append(block[1])
    packed = (
        np.array(counts, dtype=_smallest_uint(max(counts, default=0))),
        np.concatenate(idx_parts) if idx_parts else np.zeros(0, spec.idx_dtype),
        np.concatenate(val_parts) if val_parts else np.zeros((0, *spec.cell), spec.dtype),
    )
    meta = (sh.name, sh.label, sh.metadata, sh._variance_known)
    args = (_VERSION, type(sh), sh._axes, sh._storage_type, meta, cats, codes, kinds, whole, packed)
    return rebuild_sparse, args


def rebuild_sparse(
    version: int,
    cls: type,
    axes: tuple[Any, ...],
    storage_type: type,
    meta: tuple[Any, ...],
    cats: list[list[Any]],
    codes: np.ndarray,
    kinds: np.ndarray,
    whole: list[Any],
    packed: tuple[np.ndarray, ...],
) -> Any:
    """Inverse of :func:`reduce_sparse` (versions 1 and 2)."""
    if version not in _READABLE:
        msg = (
            f"SparseHist wire version {version} is not readable here (this colframe reads "
            f"versions {', '.join(map(str, _READABLE))}); upgrade colframe"
        )
        raise ValueError(msg)
    sh = cls.__new__(cls)
    sh._init_schema(tuple(axes), storage_type)
    sh._cats = [CatAxis(c.template, values) for c, values in zip(sh._cats, cats, strict=True)]
    sh.name, sh.label, sh.metadata, sh._variance_known = meta
    counts, idx, vals = packed
    ends = np.cumsum(counts, dtype=np.int64).tolist()
    whole_iter, packed_i, start = iter(whole), 0, 0
    blocks: dict[tuple[Any, ...], Any] = {}
    for row, kind in zip(codes.tolist(), kinds.tolist(), strict=True):
        key = tuple(
            c.values[p] if p < len(c.values) else OVERFLOW
            for c, p in zip(sh._cats, row, strict=True)
        )
        if kind == 0:
            blocks[key] = _adopt(next(whole_iter))
        else:
            end = ends[packed_i]
            # Own copies, so that a block's memory is freed with the block.
            blocks[key] = (idx[start:end].copy(), vals[start:end].copy())
            packed_i, start = packed_i + 1, end
    sh._blocks = blocks
    return sh


def _adopt(block: Any) -> Any:
    """The unpickled block itself (its arrays are fresh and writable), else a writable copy."""
    if isinstance(block, np.ndarray):
        return block if block.flags.writeable else block.copy()
    return tuple(a if a.flags.writeable else a.copy() for a in block)


# -- dispatch ---------------------------------------------------------------------------
_HANDLERS: dict[type, Callable[[Any], Any] | None] = {}


def _handler_for(cls: type) -> Callable[[Any], Any] | None:
    if issubclass(cls, SparseHist):
        return reduce_sparse
    if issubclass(cls, bh.Histogram):
        return reduce_hist
    return None


def reduce_for_wire(obj: Any) -> Any:
    """``(rebuild, args)`` for histograms, ``NotImplemented`` for anything else."""
    cls = type(obj)
    try:
        handler = _HANDLERS[cls]
    except KeyError:
        handler = _HANDLERS[cls] = _handler_for(cls)
    return NotImplemented if handler is None else handler(obj)
