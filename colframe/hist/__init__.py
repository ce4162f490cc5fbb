"""Sparse histograms: SparseHist and its sparse pickle (wire) encoding."""

from __future__ import annotations

from ._axes import OVERFLOW
from ._sparse import SparseHist
from ._wire import reduce_for_wire

__all__ = ["OVERFLOW", "SparseHist", "reduce_for_wire"]


def __dir__() -> list[str]:
    return __all__
