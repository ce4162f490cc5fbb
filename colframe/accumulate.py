"""Merging partial outputs: coffea's accumulation semantics, streamed.

- mappings merge key by key, recursively (a key present in one side is adopted);
- sets are unioned;
- anything else is added with ``+=`` (histograms, numbers, arrays, accumulators).

:func:`merge_streaming` adds inputs one at a time into the largest, smallest
first, with one decoded input prefetched, so a merge of k inputs holds at most
the result plus two inputs in memory, whatever the number of chunks in the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, MutableMapping, MutableSet, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from .errors import MergeError

__all__ = ["Loadable", "accumulate", "add", "merge_streaming", "nbytes"]


def add(a: Any, b: Any) -> Any:
    """Return ``a`` merged with ``b``, reusing ``a`` in place where it can.

    ``None`` is the identity. Raises MergeError naming both types when the two
    cannot be added (e.g. a processor returned different types per chunk).
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
                a[key] = add(a[key], value)
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


def merge_streaming(inputs: Sequence[Loadable], prefetch: bool = True) -> Any:
    """Merge ``inputs`` by adding each into the largest, smallest first.

    At most one input beyond the one being added is decoded ahead of time.
    """
    if not inputs:
        return None
    ordered = sorted(inputs, key=lambda ref: ref.nbytes)
    result = ordered[-1].load()
    rest = ordered[:-1]
    if not prefetch or len(rest) < 2:
        for ref in rest:
            result = add(result, ref.load())
        return result
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(rest[0].load)
        for position in range(len(rest)):
            current = upcoming.result()
            if position + 1 < len(rest):
                upcoming = pool.submit(rest[position + 1].load)
            result = add(result, current)
            del current
    return result
