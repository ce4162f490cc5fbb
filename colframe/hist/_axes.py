"""Categorical-axis bookkeeping for SparseHist: known values, lookup and rebuilding."""

from __future__ import annotations

import copy
import enum
from typing import Any

import boost_histogram as bh
import numpy as np

__all__ = ["CATEGORY_TYPES", "OVERFLOW", "CatAxis", "is_category", "normalize_value"]

CATEGORY_TYPES = (bh.axis.StrCategory, bh.axis.IntCategory)


class _Flow(enum.Enum):
    # An enum member pickles by reference, so identity survives pickling.
    OVERFLOW = "overflow"

    def __repr__(self) -> str:
        return "OVERFLOW"


#: Key part for entries that fell into the overflow bin of a non-growing category axis.
OVERFLOW = _Flow.OVERFLOW


def is_category(axis: Any) -> bool:
    """True for StrCategory/IntCategory axes (the ones SparseHist keys on)."""
    return isinstance(axis, CATEGORY_TYPES)


def normalize_value(axis: Any, value: Any) -> str | int:
    """Turn a numpy scalar into the plain str/int used in keys, checking the type."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(axis, bh.axis.StrCategory):
        if not isinstance(value, str):
            msg = f"axis {axis.name!r} is a StrCategory; got {value!r}, pass a str instead"
            raise TypeError(msg)
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"axis {axis.name!r} is an IntCategory; got {value!r}, pass an int instead"
        raise TypeError(msg)
    return value


class CatAxis:
    """One categorical axis: its template, known values in insertion order, value->position."""

    __slots__ = ("growth", "index", "overflow", "template", "values")

    def __init__(self, template: Any, values: list[Any] | None = None) -> None:
        self.template = template
        traits = template.traits
        self.growth = bool(traits.growth)
        self.overflow = bool(traits.overflow)
        if values is None:
            values = [normalize_value(template, v) for v in template]
        self.values = list(values)
        self.index = {v: i for i, v in enumerate(self.values)}

    @property
    def name(self) -> str:
        return self.template.name

    def copy(self) -> CatAxis:
        return CatAxis(self.template, self.values)

    def add(self, value: Any) -> None:
        if value is not OVERFLOW and value not in self.index:
            self.index[value] = len(self.values)
            self.values.append(value)

    def resolve(self, value: Any) -> Any:
        """Key part for a filled value: grow, route to OVERFLOW, or None (dropped)."""
        value = normalize_value(self.template, value)
        if value in self.index:
            return value
        if self.growth:
            self.add(value)
            return value
        return OVERFLOW if self.overflow else None

    def position(self, value: Any) -> int:
        """Bin position in a flow-inclusive dense view (overflow sits after the categories)."""
        return len(self.values) if value is OVERFLOW else self.index[value]

    def same_kind(self, other: CatAxis) -> bool:
        a, b = self.template, other.template
        return (
            type(a) is type(b)
            and a.name == b.name
            and a.traits == b.traits
            and getattr(a, "label", None) == getattr(b, "label", None)
        )

    def build(self, values: list[Any] | None = None, **traits: bool) -> Any:
        """A real axis of the template's class holding ``values`` (default: all known)."""
        values = self.values if values is None else values
        kw = {"growth": self.growth, "overflow": self.overflow, **traits}
        axis = type(self.template)(list(values), **kw)
        # name/label/metadata live in the axis __dict__; copy them over verbatim.
        axis.__dict__.update(copy.deepcopy(self.template.__dict__))
        return axis
