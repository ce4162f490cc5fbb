"""Dense blocks of a SparseHist: one per category key, held dense or as COO.

A block is either a C-contiguous ndarray of ``spec.full_shape`` (the flow-inclusive
dense-axes shape, plus a trailing ``(value, variance)`` dimension for Weight storage)
or a ``(flat_index, values)`` tuple (COO).  COO is kept only while it is at most
half the dense size, so adding stays cheap and mostly-zero blocks (e.g. an EFT
coefficient axis where only column 0 is filled) stay small in memory.  On the wire a
block travels dense or as COO, whichever is smaller (``wire_block``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import boost_histogram as bh
import numpy as np

__all__ = [
    "SUPPORTED_STORAGES",
    "WEIGHT_DTYPE",
    "BlockSpec",
    "add",
    "copy_block",
    "densify",
    "index_dtype",
    "make_block",
    "nbytes",
    "nonzero_index",
    "read_view",
    "scale",
    "to_coo",
    "uint_dtype",
    "wire_block",
    "write_view",
]

SUPPORTED_STORAGES = (
    bh.storage.Double,
    bh.storage.Int64,
    bh.storage.AtomicInt64,
    bh.storage.Weight,
)


# boost's Weight storage view: a C-contiguous (..., 2) float64 block reinterprets as it.
WEIGHT_DTYPE = np.dtype([("value", "<f8"), ("variance", "<f8")])


def uint_dtype(max_value: int, smallest: type = np.uint8) -> np.dtype[Any]:
    """Smallest unsigned dtype, ``smallest`` or wider, that holds ``max_value``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if np.dtype(dt).itemsize >= np.dtype(smallest).itemsize and max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def index_dtype(size: int) -> np.dtype[Any]:
    """Dtype of flat indices below ``size``: the smallest of uint16/32/64 that fits."""
    return uint_dtype(size - 1, np.uint16)


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """Shape and dtype of every block of one SparseHist."""

    shape: tuple[int, ...]  # flow-inclusive, dense-axis order
    dtype: np.dtype[Any]
    weighted: bool
    inner: tuple[slice, ...]  # the non-flow bins of each dense axis

    @classmethod
    def for_axes(cls, dense_axes: tuple[Any, ...], storage_type: type) -> BlockSpec:
        if not issubclass(storage_type, SUPPORTED_STORAGES):
            msg = (
                f"SparseHist does not support {storage_type.__name__} storage; "
                "use Double, Int64, AtomicInt64 or Weight"
            )
            raise TypeError(msg)
        weighted = issubclass(storage_type, bh.storage.Weight)
        integer = issubclass(storage_type, (bh.storage.Int64, bh.storage.AtomicInt64))
        shape = tuple(int(ax.extent) for ax in dense_axes)
        inner = tuple(
            slice(int(ax.traits.underflow), int(ax.traits.underflow) + ax.size) for ax in dense_axes
        )
        dtype = np.dtype(np.int64 if integer else np.float64)
        return cls(shape, dtype, weighted, inner)

    @property
    def cell(self) -> tuple[int, ...]:
        return (2,) if self.weighted else ()

    @property
    def full_shape(self) -> tuple[int, ...]:
        return self.shape + self.cell

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dense_nbytes(self) -> int:
        return math.prod(self.full_shape) * self.dtype.itemsize

    @property
    def idx_dtype(self) -> np.dtype[Any]:
        return index_dtype(self.size)

    def coo_nbytes(self, nnz: int) -> int:
        return nnz * (self.idx_dtype.itemsize + self.dtype.itemsize * (2 if self.weighted else 1))

    def zeros(self) -> np.ndarray:
        return np.zeros(self.full_shape, self.dtype)


def _flat(dense: np.ndarray, spec: BlockSpec) -> np.ndarray:
    return dense.reshape((spec.size, *spec.cell))


def _filled(dense: np.ndarray, spec: BlockSpec) -> np.ndarray:
    """Per flat bin: True where any field is non-zero (variance counts too)."""
    flat = _flat(dense, spec)
    return np.asarray(flat.any(axis=1)) if spec.weighted else flat


def _coo(dense: np.ndarray, spec: BlockSpec, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(mask).astype(spec.idx_dtype)
    return idx, _flat(dense, spec)[idx]


def nonzero_index(dense: np.ndarray, spec: BlockSpec) -> np.ndarray:
    """Flat indices of bins with any non-zero field (variance counts too)."""
    return np.flatnonzero(_filled(dense, spec)).astype(spec.idx_dtype)


def to_coo(dense: np.ndarray, spec: BlockSpec) -> tuple[np.ndarray, np.ndarray]:
    return _coo(dense, spec, _filled(dense, spec))


def _dense_or_coo(dense: np.ndarray, spec: BlockSpec, max_coo_nbytes: int) -> Any:
    mask = _filled(dense, spec)
    if spec.coo_nbytes(int(np.count_nonzero(mask))) <= max_coo_nbytes:
        return _coo(dense, spec, mask)
    return dense


def make_block(dense: np.ndarray, spec: BlockSpec) -> Any:
    """Store an owned dense array in memory: COO if that takes at most half the dense size."""
    return _dense_or_coo(dense, spec, spec.dense_nbytes // 2)


def wire_block(dense: np.ndarray, spec: BlockSpec) -> Any:
    """``dense`` itself or its COO form, whichever is smaller (how a block is pickled)."""
    return _dense_or_coo(dense, spec, spec.dense_nbytes - 1)


def read_view(view: Any) -> np.ndarray:
    """A C-contiguous block array from a (selection of a) hist storage view.

    Weight storage gives a trailing ``(value, variance)`` dimension.  The result may be
    ``view`` itself when that is already C-contiguous, so it is borrowed.
    """
    view = np.asarray(view)
    if view.dtype.names:
        return np.stack([view["value"], view["variance"]], axis=-1)
    return np.ascontiguousarray(view)


def write_view(view: np.ndarray, dense: np.ndarray) -> None:
    """Write a block array into a (selection of a) hist storage view, in place."""
    if view.dtype.names:
        view["value"], view["variance"] = dense[..., 0], dense[..., 1]
    else:
        view[...] = dense


def densify(block: Any, spec: BlockSpec) -> np.ndarray:
    """Dense array for a block: the block itself if dense (no copy), else a new array."""
    if isinstance(block, np.ndarray):
        return block
    out = spec.zeros()
    _flat(out, spec)[block[0]] = block[1]
    return out


def copy_block(block: Any) -> Any:
    if isinstance(block, np.ndarray):
        return block.copy()
    return block[0].copy(), block[1].copy()


def nbytes(block: Any) -> int:
    if isinstance(block, np.ndarray):
        return block.nbytes
    return block[0].nbytes + block[1].nbytes


def add(block: Any, other: Any, spec: BlockSpec, *, own_other: bool = False) -> Any:
    """``block + other``; reuses ``block`` (and ``other`` if owned) instead of allocating."""
    if isinstance(block, np.ndarray):
        if isinstance(other, np.ndarray):
            np.add(block, other, out=block)
        else:
            # COO indices are unique, so a fancy-index += adds each entry exactly once.
            _flat(block, spec)[other[0]] += other[1]
        return block
    if isinstance(other, np.ndarray):
        out = other if own_other else other.copy()
        _flat(out, spec)[block[0]] += block[1]
        return out
    idx = np.union1d(block[0], other[0])
    vals = np.zeros((len(idx), *spec.cell), spec.dtype)
    vals[np.searchsorted(idx, block[0])] += block[1]
    vals[np.searchsorted(idx, other[0])] += other[1]
    if 2 * spec.coo_nbytes(len(idx)) > spec.dense_nbytes:
        return densify((idx, vals), spec)
    return idx, vals


def scale(block: Any, factor: Any, spec: BlockSpec, out_dtype: np.dtype[Any]) -> Any:
    """A new block multiplied by ``factor`` (variances by ``factor**2`` for Weight)."""
    mult: Any = factor
    if spec.weighted:
        mult = np.array([factor, factor * factor], dtype=out_dtype)
    # np.asarray: multiplying a 0-d array yields a numpy scalar, not an array.
    if isinstance(block, np.ndarray):
        return np.asarray(block * mult, dtype=out_dtype)
    return block[0].copy(), np.asarray(block[1] * mult, dtype=out_dtype)
