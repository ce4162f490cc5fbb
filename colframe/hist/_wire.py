"""Sparse wire encoding of histograms for pickling.

``reduce_for_wire(obj)`` is meant for a ``pickle.Pickler.reducer_override``: it answers
``NotImplemented`` (one dict lookup) for everything but ``SparseHist`` and the stock
boost-histogram / hist classes (``bh.Histogram``, ``hist.Hist``, ``hist.BaseHist``,
``hist.NamedHist``), and for those returns ``(rebuild, args)``.  Subclasses that change
how they are constructed or pickled (their own ``__init__``, ``__reduce__``,
``__getstate__``, ...) are left to normal pickling, since rebuilding calls the
constructor with the stock signature.

Encoding: every block of a SparseHist, or the whole flow-inclusive storage of a plain
histogram, travels dense or as COO (flat bin index + values [+ variances]), whichever
is smaller in raw bytes (``_blocks.wire_block``).  Flat indices use the smallest of
uint16/32/64 that fits; a bin counts as filled if its value OR its variance is non-zero.
A SparseHist's dense blocks and its COO blocks of at least 256 entries travel as their
own arrays, which pickling and loading neither copy nor concatenate; smaller COO blocks
are packed into one index and one value array (with per-block counts), which saves
per-array pickle overhead.  The SparseHist layout is versioned (version 3); other
versions are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boost_histogram as bh
import hist
import numpy as np

from . import _blocks
from ._axes import OVERFLOW, CatAxis
from ._blocks import SUPPORTED_STORAGES, WEIGHT_DTYPE, BlockSpec, uint_dtype

__all__ = ["rebuild_hist", "rebuild_sparse", "reduce_for_wire", "reduce_hist", "reduce_sparse"]

_VERSION = 3  # 3: attributes as a dict (2 carried a 4-tuple)
_OWN_ARRAYS = 256  # COO blocks with this many entries travel as their own arrays


# -- plain boost/hist histograms -----------------------------------------------------------
def reduce_hist(h: bh.Histogram) -> Any:
    """Reduce tuple for a boost/hist histogram, or NotImplemented for other storages."""
    storage_type = h.storage_type
    if not issubclass(storage_type, SUPPORTED_STORAGES):
        return NotImplemented  # Mean, WeightedMean, Unlimited, MultiCell: normal pickling
    axes = tuple(h.axes)
    spec = BlockSpec.for_axes(axes, storage_type)
    view = np.asarray(h.view(flow=True))
    # boost stores column-major; an F-order ravel walks memory without copying.
    flat: np.ndarray = view.ravel(order="F")
    if spec.weighted:
        flat = flat.view(np.float64).reshape(-1, 2)
    block = _blocks.wire_block(flat, spec)
    enc = ("dense", block) if isinstance(block, np.ndarray) else ("coo", spec.size, *block)
    state = dict(h.__dict__)
    return rebuild_hist, (type(h), axes, storage_type, state, enc)


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
    spec = BlockSpec.for_axes(tuple(axes), storage_type)
    block = enc[1] if enc[0] == "dense" else enc[2:]
    flat = _blocks.densify(block, spec).reshape(spec.size, *spec.cell)
    if spec.weighted:
        flat = np.ascontiguousarray(flat).view(WEIGHT_DTYPE).reshape(-1)
    view[...] = flat.reshape(view.shape, order="F")
    return h


# -- SparseHist -------------------------------------------------------------------------
def reduce_sparse(sh: Any) -> tuple[Any, ...]:
    """Reduce tuple for a SparseHist: category tables, key codes, whole blocks, packed COO.

    It is ``SparseHist.__reduce__`` itself, so this module need not import ``_sparse``.
    """
    spec = sh._spec
    cats = [list(c.values) for c in sh._cats]
    code_dt = uint_dtype(max([len(v) for v in cats], default=0))
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
            block = _blocks.wire_block(block, spec)
        if isinstance(block, np.ndarray) or len(block[0]) >= _OWN_ARRAYS:
            whole.append(block)
            continue
        kinds[i] = 1
        counts.append(len(block[0]))
        idx_parts.append(block[0])
        val_parts.append(block[1])
    packed = (
        np.array(counts, dtype=uint_dtype(max(counts, default=0))),
        np.concatenate(idx_parts) if idx_parts else np.zeros(0, spec.idx_dtype),
        np.concatenate(val_parts) if val_parts else np.zeros((0, *spec.cell), spec.dtype),
    )
    meta = sh._attributes()  # name, label, metadata, ... and a subclass' own attributes
    args = (_VERSION, type(sh), sh._axes, sh._storage_type, meta, cats, codes, kinds, whole, packed)
    return rebuild_sparse, args


def rebuild_sparse(
    version: int,
    cls: Any,
    axes: tuple[Any, ...],
    storage_type: type,
    meta: dict[str, Any],
    cats: list[list[Any]],
    codes: np.ndarray,
    kinds: np.ndarray,
    whole: list[Any],
    packed: tuple[np.ndarray, ...],
) -> Any:
    """Inverse of :func:`reduce_sparse`."""
    if version != _VERSION:
        msg = (
            f"SparseHist wire version {version} is not readable here (this colframe reads "
            f"version {_VERSION}); write it with the same colframe version"
        )
        raise ValueError(msg)
    sh = cls.__new__(cls)
    sh._init_schema(tuple(axes), storage_type)
    sh._cats = [CatAxis(c.template, values) for c, values in zip(sh._cats, cats, strict=True)]
    sh.__dict__.update(meta)
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


# What decides how a histogram is constructed and pickled.  A class whose every one of
# these is a stock class' own is rebuilt by rebuild_hist as ``cls(*axes, storage=...)``.
_PICKLING = ("__new__", "__init__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")
_STOCK_HISTS = (bh.Histogram, hist.BaseHist, hist.Hist, hist.NamedHist)
_STOCK = {name: [getattr(c, name) for c in _STOCK_HISTS] for name in _PICKLING}


def _pickles_stock(cls: type) -> bool:
    # ``in`` compares with ``is`` first, then ``==``: both hold for the same function.
    return all(getattr(cls, name) in _STOCK[name] for name in _PICKLING)


def _handler_for(cls: type) -> Callable[[Any], Any] | None:
    if getattr(cls, "__reduce__", None) is reduce_sparse:
        # A SparseHist (its __reduce__ is reduce_sparse); a subclass' own __reduce__ or
        # __reduce_ex__ takes over.
        return reduce_sparse if cls.__reduce_ex__ is object.__reduce_ex__ else None
    if issubclass(cls, bh.Histogram) and _pickles_stock(cls):
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
