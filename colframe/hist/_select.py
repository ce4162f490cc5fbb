"""Selection, integration and projection of a SparseHist, without the category product.

Categorical axes are selected by VALUE (``"ttH"``, ``5`` or ``hist.loc(5)``): a scalar
selects and drops the axis, ``sum`` integrates it (overflow included), a list keeps a
subset in the given order.  Positional indices are not accepted on categorical axes
because positions depend on the order partials were filled and merged.  Selections on
dense axes are applied to every block through ``hist.Hist``, so they follow hist exactly.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

import boost_histogram as bh
import hist
import numpy as np

from . import _blocks
from ._axes import OVERFLOW, CatAxis, normalize_value
from ._blocks import BlockSpec
from ._convert import empty_hist

__all__ = ["getitem", "project"]

_KEEP, _SUM, _PICK, _SUBSET = range(4)


def _by_position(sh: Any, index: Any) -> dict[int, Any]:
    names = [ax.name for ax in sh._axes]
    if not isinstance(index, Mapping):
        index = dict(enumerate(index if isinstance(index, tuple) else (index,)))
    out: dict[int, Any] = {}
    for k, sel in index.items():
        if isinstance(k, str):
            if k not in names:
                msg = f"no axis named {k!r}; axes are {names}"
                raise KeyError(msg)
            k = names.index(k)
        if not isinstance(k, int) or not 0 <= k < len(names):
            msg = f"bad axis {k!r} in selection; use an axis name from {names}"
            raise KeyError(msg)
        if sel is not Ellipsis and sel != slice(None):
            out[k] = sel
    return out


def _value(cat: CatAxis, sel: Any) -> Any:
    if isinstance(sel, bh.loc):
        if sel.offset:
            msg = f"loc offsets are not supported on categorical axis {cat.name!r}; pass the value"
            raise KeyError(msg)
        sel = sel.value
    value = normalize_value(cat.template, sel)
    if value not in cat.index:
        msg = f"category {value!r} is not on axis {cat.name!r}; known: {cat.values[:20]}"
        raise KeyError(msg)
    return value


def _dense_apply(spec: BlockSpec, dense_axes: tuple[Any, ...], storage: type, sel: dict[str, Any]):
    """New dense axes, spec and a block->block function for a dense-axis selection."""
    empty = hist.Hist(*dense_axes, storage=storage())[sel]  # type: ignore[index]
    new_axes = tuple(empty.axes) if isinstance(empty, bh.Histogram) else ()
    new_spec = BlockSpec.for_axes(new_axes, storage)

    def apply(block: Any) -> Any:
        h = hist.Hist(*dense_axes, storage=storage())
        _blocks.write_view(np.asarray(h.view(flow=True)), _blocks.densify(block, spec))
        r: Any = h[sel]  # type: ignore[index]  # a dict by axis name is a valid UHI index
        if isinstance(r, bh.Histogram):
            out = _blocks.read_view(r.view(flow=True))
        elif spec.weighted:
            out = np.array([r.value, r.variance])
        else:
            out = np.array(r)
        return _blocks.make_block(np.array(out, new_spec.dtype, order="C"), new_spec)

    return new_axes, new_spec, apply


def getitem(self: Any, index: Any) -> Any:
    """``h[{"process": "ttH", "systematic": sum, "channel": ["2l", "3l"]}]``."""
    sel = _by_position(self, index)
    modes: list[tuple[int, Any]] = []
    new_cats: list[CatAxis] = []
    for pos, cat in zip(self._cat_pos, self._cats, strict=True):
        s = sel.get(pos, slice(None))
        if s is builtins.sum:
            modes.append((_SUM, None))
        elif pos not in sel:
            modes.append((_KEEP, None))
            new_cats.append(cat.copy())
        elif isinstance(s, list | tuple | np.ndarray):
            values = [_value(cat, v) for v in s]
            modes.append((_SUBSET, frozenset(values)))
            new_cats.append(CatAxis(cat.template, values))
        else:
            modes.append((_PICK, _value(cat, s)))
    spec = self._spec
    blocks: dict[tuple[Any, ...], Any] = {}
    for key, block in self._blocks.items():
        new_key = []
        for (mode, arg), part in zip(modes, key, strict=True):
            # A subset keeps the axis' overflow bin, as hist's list selection does.
            if (mode == _PICK and part != arg) or (
                mode == _SUBSET and part not in arg and part is not OVERFLOW
            ):
                break
            if mode in (_KEEP, _SUBSET):
                new_key.append(part)
        else:
            nk = tuple(new_key)
            old = blocks.get(nk)
            blocks[nk] = _blocks.copy_block(block) if old is None else _blocks.add(old, block, spec)
    dense_sel = {self._axes[p].name: s for p, s in sel.items() if p in self._dense_pos}
    dense_axes = self._dense_axes
    if dense_sel:
        dense_axes, spec, apply = _dense_apply(spec, dense_axes, self._storage_type, dense_sel)
        blocks = {k: apply(b) for k, b in blocks.items()}
    dropped = {p for p, (m, _) in zip(self._cat_pos, modes, strict=True) if m in (_SUM, _PICK)}
    new_dense = {ax.name: ax for ax in dense_axes}
    axes = tuple(
        new_dense[ax.name] if p in self._dense_pos else ax
        for p, ax in enumerate(self._axes)
        if p not in dropped and (p in self._cat_pos or ax.name in new_dense)
    )
    if new_cats:
        return self._from_parts(self, axes, new_cats, blocks)
    return _collapse(self, dense_axes, spec, blocks.get(()))


def _collapse(sh: Any, dense_axes: tuple[Any, ...], spec: BlockSpec, block: Any) -> Any:
    """The single remaining block as a ``hist.Hist`` (or a scalar if no axis is left)."""
    dense = spec.zeros() if block is None else _blocks.densify(block, spec)
    if not dense_axes:
        if spec.weighted:
            return bh.accumulators.WeightedSum(float(dense[0]), float(dense[1]))
        return dense.item()
    out = empty_hist(sh, dense_axes)
    _blocks.write_view(np.asarray(out.view(flow=True)), dense)
    out._variance_known = sh._variance_known
    return out


def project(self: Any, *axes: str | int) -> Any:
    """Sum over all other axes and order the result as ``axes`` (like ``hist.Hist.project``)."""
    names = [ax.name for ax in self._axes]
    wanted = [names[a] if isinstance(a, int) else a for a in axes]
    if not wanted or len(set(wanted)) != len(wanted) or not set(wanted) <= set(names):
        msg = f"project needs distinct axis names from {names}; got {list(axes)}"
        raise ValueError(msg)
    reduced = getitem(self, {n: builtins.sum for n in names if n not in wanted})
    if not isinstance(reduced, type(self)):
        return reduced.project(*wanted)
    return _reorder(reduced, wanted)


def _reorder(sh: Any, wanted: list[str]) -> Any:
    names = [ax.name for ax in sh._axes]
    if names == wanted:
        return sh
    axes = tuple(sh._axes[names.index(n)] for n in wanted)
    cat_names = [sh._axes[p].name for p in sh._cat_pos]
    new_cat_names = [n for n in wanted if n in cat_names]
    cat_perm = [cat_names.index(n) for n in new_cat_names]
    dense_names = [sh._axes[p].name for p in sh._dense_pos]
    dense_perm = [dense_names.index(n) for n in wanted if n in dense_names]
    spec = sh._spec
    perm = dense_perm + list(range(len(dense_perm), len(spec.full_shape)))
    blocks = {}
    for key, block in sh._blocks.items():
        dense = np.asarray(_blocks.densify(block, spec).transpose(perm), order="C")
        blocks[tuple(key[i] for i in cat_perm)] = dense
    new = sh._from_parts(sh, axes, [sh._cats[i] for i in cat_perm], {})
    new._blocks = {k: _blocks.make_block(v, new._spec) for k, v in blocks.items()}
    return new
