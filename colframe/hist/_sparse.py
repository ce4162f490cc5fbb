"""SparseHist: growable categorical axes x dense axes, one block per observed key.

Keys are tuples of category VALUES (in the order the categorical axes appear), so
partials that saw categories in different orders merge correctly.  Each block is a
flow-inclusive array over the dense axes, held dense or as COO (see ``_blocks``).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterator
from typing import Any, Self

import boost_histogram as bh
import hist
import numpy as np

from . import _blocks, _convert, _merge, _select
from ._axes import CatAxis, is_category
from ._blocks import BlockSpec
from ._fill import fill_sparse, split_fill_args
from ._wire import reduce_sparse

__all__ = ["SparseHist"]

# Instance attributes that describe the axes and hold the blocks: every operation builds
# them anew.  All other attributes (name, label, metadata, _variance_known and whatever a
# subclass sets) are carried over by copy(), selections, + and *, and pickling.
_STRUCTURE = frozenset(
    {"_axes", "_storage_type", "_cat_pos", "_dense_pos", "_cats", "_dense_axes", "_spec", "_blocks"}
)


class SparseHist:
    """A histogram storing only the observed category combinations.

    ``values()``/``to_hist()`` order categories by first appearance: the axis'
    initial categories, then values in the order fill/merge/from_hist met them
    (like a growing ``hist.Hist``).  Selection by value: ``h[{"process": "ttH"}]``.
    """

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by content

    def __init__(
        self,
        *axes: Any,
        storage: Any = None,
        name: str = "",
        label: str = "",
        metadata: Any = None,
    ) -> None:
        storage = hist.storage.Double() if storage is None else storage
        self._init_schema(tuple(axes), type(storage))
        self._blocks: dict[tuple[Any, ...], Any] = {}
        self.name, self.label, self.metadata = name, label, metadata
        self._variance_known = True

    def _init_schema(self, axes: tuple[Any, ...], storage_type: type) -> None:
        names = [getattr(ax, "name", "") for ax in axes]
        if not axes or not all(names) or len(set(names)) != len(names):
            msg = f"SparseHist needs at least one axis with unique non-empty names; got {names}"
            raise ValueError(msg)
        for ax in axes:
            if not is_category(ax) and ax.traits.growth:
                msg = f"dense axis {ax.name!r} has growth=True; give it a fixed range instead"
                raise ValueError(msg)
        self._axes = axes
        self._storage_type = storage_type
        self._cat_pos = tuple(i for i, ax in enumerate(axes) if is_category(ax))
        self._dense_pos = tuple(i for i, ax in enumerate(axes) if not is_category(ax))
        self._cats = [CatAxis(axes[i]) for i in self._cat_pos]
        self._dense_axes = tuple(axes[i] for i in self._dense_pos)
        self._spec = BlockSpec.for_axes(self._dense_axes, storage_type)

    @classmethod
    def _from_parts(
        cls,
        like: SparseHist,
        axes: tuple[Any, ...],
        cats: list[CatAxis],
        blocks: dict[Any, Any],
        storage_type: type | None = None,
    ) -> SparseHist:
        """A new SparseHist with ``like``'s attributes, given axes, categories and blocks."""
        new = cls.__new__(cls)
        new._init_schema(axes, storage_type or like._storage_type)
        new._cats = cats
        new._blocks = blocks
        new.__dict__.update(like._attributes())
        return new

    def _attributes(self) -> dict[str, Any]:
        """The instance attributes that are not axes or blocks (shallow copy)."""
        return {k: v for k, v in self.__dict__.items() if k not in _STRUCTURE}

    # -- inspection -------------------------------------------------------------------
    @property
    def axes(self) -> hist.axis.NamedAxesTuple:
        """All axes in order; categorical ones hold every known category."""
        axes = list(self._axes)
        for pos, cat in zip(self._cat_pos, self._cats, strict=True):
            axes[pos] = cat.build()
        return hist.axis.NamedAxesTuple(axes)

    @property
    def storage_type(self) -> type:
        return self._storage_type

    @property
    def ndim(self) -> int:
        return len(self._axes)

    @property
    def nbytes(self) -> int:
        """Bytes held by the blocks' arrays (what grows with the content)."""
        return sum(_blocks.nbytes(b) for b in self._blocks.values())

    def keys(self) -> list[tuple[Any, ...]]:
        """Keys (tuples of category values) that have a block."""
        return list(self._blocks)

    def dense_block(self, key: tuple[Any, ...]) -> np.ndarray:
        """A copy of one key's flow-inclusive block (trailing (value, variance) for Weight)."""
        return _blocks.densify(self._blocks[tuple(key)], self._spec).copy()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._blocks)

    def __repr__(self) -> str:
        axes = ",\n  ".join(repr(ax) for ax in self.axes)
        return (
            f"SparseHist(\n  {axes},\n  storage={self._storage_type()!r})"
            f" # keys: {len(self._blocks)}, bytes: {self.nbytes}"
        )

    # -- filling ------------------------------------------------------------------------
    def fill(self, *args: Any, weight: Any = None, sample: Any = None, **kwargs: Any) -> SparseHist:
        """Fill by axis name (or position); category values may be scalars or arrays."""
        values = split_fill_args(self._axes, args, kwargs)
        if weight is not None and not self._spec.weighted:
            # As in boost: weighted fills of a non-Weight storage lose the variances.
            self._variance_known = False
        fill_sparse(self, values, weight, sample)
        return self

    def _add_dense(self, key: tuple[Any, ...], dense: np.ndarray) -> None:
        """Add a (borrowed) dense block into ``key``."""
        spec = self._spec
        block = self._blocks.get(key)
        if block is None:
            new = _blocks.make_block(dense, spec)
            self._blocks[key] = dense.copy() if new is dense else new
        elif isinstance(block, np.ndarray):
            np.add(block, dense, out=block)
        else:
            # Keep a COO block COO-sized: add only the non-zero entries.
            self._blocks[key] = _blocks.add(block, _blocks.to_coo(dense, spec), spec)

    # -- arithmetic (implemented in _merge) ---------------------------------------------
    def _coerce(self, other: Any) -> SparseHist | None:
        if isinstance(other, SparseHist):
            return other
        if isinstance(other, bh.Histogram):
            return type(self).from_hist(other)
        if type(other).__name__ == "ChunkedHist":
            return type(self).from_chunked(other)
        return None

    def __iadd__(self, other: Any) -> Self:
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        # A converted operand is ours to consume; a caller's SparseHist is copied from.
        return _merge.merge(self, coerced, consume=coerced is not other)

    def iadd_consume(self, other: SparseHist) -> SparseHist:
        """``self += other`` taking over ``other``'s blocks instead of copying; empties ``other``."""
        return _merge.merge(self, other, consume=other is not self)

    def __add__(self, other: Any) -> SparseHist:
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        return _merge.merge(self.copy(), coerced, consume=coerced is not other)

    def __radd__(self, other: Any) -> SparseHist:
        # Lets the builtin sum() start from 0.
        if isinstance(other, numbers.Number) and other == 0:
            return self.copy()
        return NotImplemented

    def __mul__(self, factor: Any) -> SparseHist:
        if not isinstance(factor, numbers.Real):
            return NotImplemented
        return _merge.scaled(self, factor)

    __rmul__ = __mul__

    def __imul__(self, factor: Any) -> Self:
        if not isinstance(factor, numbers.Real):
            return NotImplemented
        self.__dict__.update(_merge.scaled(self, factor).__dict__)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseHist):
            return NotImplemented
        return _merge.equal(self, other)

    sum = _merge.total
    empty = _merge.is_empty

    # -- copying and pickling -----------------------------------------------------------
    def copy(self) -> SparseHist:
        blocks = {k: _blocks.copy_block(b) for k, b in self._blocks.items()}
        return self._from_parts(self, self._axes, [c.copy() for c in self._cats], blocks)

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> SparseHist:
        new = self.copy()
        new.__dict__.update(copy.deepcopy(self._attributes(), memo))
        return new

    __reduce__ = reduce_sparse  # the sparse wire encoding (_wire), for every pickler

    # -- selection and conversion (implemented in _select / _convert) -----------------
    __getitem__ = _select.getitem
    project = _select.project
    values = _convert.values
    variances = _convert.variances
    counts = _convert.counts
    to_hist = _convert.to_hist
    to_chunked = _convert.to_chunked
    to_uhi = _convert.to_uhi
    from_hist: classmethod[Any, Any, Any] = classmethod(_convert.from_hist)
    from_chunked: classmethod[Any, Any, Any] = classmethod(_convert.from_chunked)
