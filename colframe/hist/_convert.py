"""Conversions of SparseHist: dense arrays, hist.Hist, ChunkedHist and UHI sparse (COO)."""

from __future__ import annotations

from typing import Any

import boost_histogram as bh
import hist
import numpy as np

from . import _blocks
from ._axes import OVERFLOW

__all__ = [
    "counts",
    "empty_hist",
    "from_chunked",
    "from_hist",
    "to_chunked",
    "to_hist",
    "to_uhi",
    "values",
    "variances",
]


def _positions(sh: Any, key: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(cat.position(v) for cat, v in zip(sh._cats, key, strict=True))


def _dense_array(sh: Any, field: int | None, flow: bool) -> np.ndarray:
    """Array over all axes (axis order) of one storage field, categories in known order."""
    spec = sh._spec
    cat_shape = tuple(len(c.values) + c.overflow for c in sh._cats)
    dtype = spec.dtype
    out = np.zeros(cat_shape + spec.shape, dtype)
    for key, block in sh._blocks.items():
        dense = _blocks.densify(block, spec)
        out[_positions(sh, key)] = dense if field is None else dense[..., field]
    if not flow:
        cats = tuple(slice(0, len(c.values)) for c in sh._cats)
        out = out[cats + spec.inner]
    order = list(sh._cat_pos) + list(sh._dense_pos)
    return np.transpose(out, np.argsort(order))


def values(self: Any, flow: bool = False) -> np.ndarray:
    """Dense values over all axes, categories in first-seen order (see ``axes``)."""
    return _dense_array(self, 0 if self._spec.weighted else None, flow)


def variances(self: Any, flow: bool = False) -> np.ndarray | None:
    """Dense variances; ``None`` for non-Weight storage after weighted fills or scaling."""
    if self._spec.weighted:
        return _dense_array(self, 1, flow)
    return _dense_array(self, None, flow) if self._variance_known else None


def counts(self: Any, flow: bool = False) -> np.ndarray:
    """Effective counts, as ``hist.Hist.counts`` (values for unweighted storages)."""
    vals = values(self, flow)
    if not self._spec.weighted:
        return vals
    var = _dense_array(self, 1, flow)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var != 0, vals**2 / var, 0.0)


def empty_hist(sh: Any, axes: Any) -> hist.Hist:
    """An empty ``hist.Hist`` over ``axes`` with ``sh``'s storage, name, label and metadata."""
    return hist.Hist(
        *axes,
        storage=sh._storage_type(),
        name=sh.name or None,
        label=sh.label or None,
        metadata=sh.metadata,
    )


def to_hist(self: Any) -> hist.Hist:
    """The equivalent dense ``hist.Hist`` (allocates the full category product)."""
    axes = list(self.axes)
    out = empty_hist(self, axes)
    view = np.asarray(out.view(flow=True))
    spec = self._spec
    for key, block in self._blocks.items():
        index: list[Any] = [slice(None)] * len(axes)
        for pos, p in zip(self._cat_pos, _positions(self, key), strict=True):
            index[pos] = p
        # Ellipsis: a view even when every axis is categorical (all indices are integers)
        _blocks.write_view(view[(*index, ...)], _blocks.densify(block, spec))
    out._variance_known = self._variance_known
    return out


def from_hist(cls: type, h: bh.Histogram) -> Any:
    """A SparseHist holding the non-zero category combinations of ``h`` (categories kept)."""
    name = getattr(h, "name", None) or ""
    label = getattr(h, "label", None) or ""
    sh = cls(
        *h.axes,
        storage=h.storage_type(),
        name=name,
        label=label,
        metadata=h.__dict__.get("metadata"),
    )
    sh._variance_known = h.__dict__.get("_variance_known", True)
    view: Any = np.asarray(h.view(flow=True))  # a record array for Weight storage
    dense_pos = sh._dense_pos
    mask = (view["value"] != 0) | (view["variance"] != 0) if sh._spec.weighted else view != 0
    # Which category combinations hold anything: reduce over the dense axes only.
    filled = mask.any(axis=dense_pos) if dense_pos else mask
    for combo in zip(*np.nonzero(filled), strict=True):
        index: list[Any] = [slice(None)] * view.ndim
        key = []
        for pos, cat, i in zip(sh._cat_pos, sh._cats, combo, strict=True):
            index[pos] = i
            key.append(OVERFLOW if i == len(cat.values) else cat.values[i])
        sh._add_dense(tuple(key), _blocks.read_view(view[tuple(index)]))
    return sh


def to_chunked(self: Any, *, copy: bool = True) -> Any:
    """A ``hist.chunked.ChunkedHist`` with the same keys; shares dense blocks if ``copy=False``."""
    from hist.chunked import ChunkedHist  # optional in older hist

    spec = self._spec
    chunks = {}
    for key, block in self._blocks.items():
        if OVERFLOW in key:
            msg = f"key {key} holds category-overflow content, which ChunkedHist cannot store"
            raise ValueError(msg)
        dense = _blocks.densify(block, spec)
        if copy and dense is block:
            dense = dense.copy()
        # A C-contiguous (..., 2) float array reinterprets as the boost Weight view, no copy.
        chunks[key] = dense.view(_blocks.WEIGHT_DTYPE)[..., 0] if spec.weighted else dense
    return ChunkedHist(
        *self.axes,
        storage=self._storage_type(),
        name=self.name or "",
        label=self.label or "",
        chunks=chunks,
    )


def from_chunked(cls: type, ch: Any) -> Any:
    """A SparseHist copy of a ``hist.chunked.ChunkedHist``."""
    sh = cls(*ch.axes, storage=ch.storage_type(), name=ch.name, label=ch.label)
    for spec, cat in zip(ch.chunk_axes, sh._cats, strict=True):
        for value in spec.known_keys:
            cat.add(value)
    full_shape = sh._spec.full_shape
    for key, arr in ch.items():
        dense = np.asarray(arr, order="C")
        if sh._spec.weighted:
            dense = dense.view(np.float64).reshape(full_shape)
        sh._add_dense(tuple(key), dense)
    return sh


def to_uhi(self: Any) -> dict[str, Any]:
    """UHI serialization IR with sparse (COO) storage: ``index`` is (naxes, nfilled), flow-inclusive."""
    skeleton = hist.Hist(
        storage=self._storage_type(),
        name=self.name or None,
        label=self.label or None,
        metadata=self.metadata,
    )
    ir = bh.serialization.to_uhi(skeleton, keep_storage=False)
    ir["axes"] = [
        bh.serialization.to_uhi(bh.Histogram(ax), keep_storage=False)["axes"][0] for ax in self.axes
    ]
    spec = self._spec
    idx_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    for key, block in self._blocks.items():
        flat, vals = block if isinstance(block, tuple) else _blocks.to_coo(block, spec)
        rows = np.empty((self.ndim, len(flat)), np.int64)
        rows[list(self._cat_pos)] = np.array(_positions(self, key), np.int64)[:, None]
        if self._dense_pos:
            rows[list(self._dense_pos)] = np.unravel_index(flat, spec.shape)
        idx_parts.append(rows)
        val_parts.append(vals)
    index = np.concatenate(idx_parts, axis=1) if idx_parts else np.zeros((self.ndim, 0), np.int64)
    vals = np.concatenate(val_parts) if val_parts else np.zeros((0, *spec.cell), spec.dtype)
    storage = ir["storage"]
    storage["index"] = index
    if spec.weighted:
        storage["values"], storage["variances"] = vals[:, 0], vals[:, 1]
    else:
        storage["values"] = vals
    return ir
