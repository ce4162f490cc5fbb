"""Merging partial outputs: coffea's accumulation semantics, streamed.

- mappings merge key by key, recursively (a key present in one side is adopted);
- sets are unioned;
- anything else is added with ``+=`` (histograms, numbers, arrays, accumulators).

:func:`merge_streaming` adds inputs one at a time into the largest, smallest
first, so a merge task holds its result plus the one input being added, never
all of its inputs at once.  Its peak still grows with the size of the inputs it
adds: near the top of a deep merge tree every input is itself a large merge.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, MutableMapping, MutableSet, Sequence
from typing import Any, Protocol

import numpy as np

from .errors import MergeError

__all__ = ["Loadable", "accumulate", "add", "merge_streaming", "nbytes"]


def add(a: Any, b: Any, *, consume: bool = False) -> Any:
    """Return ``a`` merged with ``b``, reusing ``a`` in place where it can.

    ``None`` is the identity. With ``consume=True`` the caller hands ``b`` over:
    objects with an ``iadd_consume`` method (``SparseHist``, merge partials)
    adopt its arrays instead of copying them, and ``b`` must not be used
    afterwards. Raises MergeError naming both types when the two cannot be
    added (e.g. a processor returned different types per chunk).
    """
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, MutableMapping) and isinstance(b, Mapping)):
            _mismatch(a, b)
        for key, value in b.items():
            if key not in a:
                a[key] = value
                continue
            try:
                a[key] = add(a[key], value, consume=consume)
            except MergeError as err:
                err.path = f"[{key!r}]{err.path}"
                raise
        return a
    a_set, b_set = isinstance(a, _SETS), isinstance(b, _SETS)
    if a_set or b_set:
        if not (a_set and b_set):
            _mismatch(a, b)
        return a | b if isinstance(a, frozenset) else _ior(a, b)
    try:
        if consume and type(a) is type(b) and hasattr(a, "iadd_consume"):
            return a.iadd_consume(b)
        a += b
    except MergeError:
        raise  # from inside a container's own += (a Partial adding its outputs)
    except TypeError as err:
        _mismatch(a, b, err)
    return a


_SETS = (set, frozenset, MutableSet)


def _ior(a, b):
    a |= b
    return a


def _mismatch(a: Any, b: Any, err: Exception | None = None) -> None:
    detail = f" ({err})" if err else ""
    msg = (
        f"cannot add {type(b).__module__}.{type(b).__qualname__} to "
        f"{type(a).__module__}.{type(a).__qualname__}{detail}: partial outputs must have the "
        f"same structure in every chunk (dicts, sets, numbers, arrays, histograms)"
    )
    raise MergeError(msg) from err


def accumulate(items: Iterable[Any], accum: Any = None) -> Any:
    """Merge every item of ``items`` into ``accum`` (coffea's ``processor.accumulate``)."""
    for item in items:
        accum = add(accum, item)
    return accum


def nbytes(obj: Any) -> int:
    """Approximate memory held by an output (arrays and histogram storage dominate)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, Mapping):
        return sum(nbytes(v) for v in obj.values()) + sys.getsizeof(obj)
    if isinstance(obj, Sequence | set | frozenset) and not isinstance(obj, str | bytes):
        return sum(nbytes(v) for v in obj) + sys.getsizeof(obj)
    size = getattr(obj, "nbytes", None)
    if isinstance(size, int):
        return size
    view = getattr(obj, "view", None)
    if callable(view) and hasattr(obj, "axes"):  # hist / boost-histogram
        return int(view(flow=True).nbytes)
    return sys.getsizeof(obj)


class Loadable(Protocol):
    """A partial result not yet in memory: its size, and how to load it."""

    nbytes: int

    def load(self) -> Any: ...


def merge_streaming(inputs: Sequence[Loadable]) -> Any:
    """Merge ``inputs`` by adding each into the largest, smallest first.

    The largest is loaded first and becomes the result; the others are loaded
    one at a time and dropped once added. The merge owns what it loaded, so it
    adds with ``consume=True``.
    """
    if not inputs:
        return None
    ordered = sorted(inputs, key=lambda ref: ref.nbytes)
    result = ordered[-1].load()
    for ref in ordered[:-1]:
        result = add(result, ref.load(), consume=True)
    return result
