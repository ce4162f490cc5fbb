"""Merging partial outputs: coffea's accumulation semantics, streamed, in plan order.

``add(a, b)`` follows ``coffea.processor.accumulate``, checked in coffea's order:

- anything with ``+`` / ``+=`` (numbers, arrays, histograms, lists, tuples,
  ``collections.Counter``, coffea accumulators) is added with ``+=``; so a
  ``Counter`` drops zero and negative counts like ``Counter.__add__``;
- sets are unioned;
- other mappings merge key by key, recursively (a key present in one side is adopted),
  keys in coffea's order (the left side's, then the right side's new ones); the
  result has the type of the more general side (a ``defaultdict`` meeting a plain
  ``dict`` gives a plain ``dict``), and two mappings neither of which is an
  instance of the other's type (a ``defaultdict`` and another ``dict`` subclass)
  are refused with a MergeError, which is also a ValueError as in coffea.

Ownership: a merge adds in place only into objects nobody else can see.
:func:`own` makes such an object (a private copy, or, for a value that was
just deserialized, the value with its aliases copied), and :func:`add` never
mutates nor adopts its right-hand side unless told it is handed over
(``consume=True``). :func:`merge_streaming` folds its inputs in the order given
(plan order), holding the result plus the one input being added.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Mapping, MutableMapping, MutableSet, Sequence
from typing import Any, Protocol

import numpy as np

from .errors import MergeError, ProcessorOutputError

__all__ = ["Loadable", "accumulate", "add", "merge_streaming", "nbytes", "own"]

_SETS = (set, frozenset, MutableSet)
# never changed by a merge: `+=` on them makes a new object
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, frozenset, range, np.generic)


def add(a: Any, b: Any, *, consume: bool = False) -> Any:
    """Return ``a`` merged with ``b``, adding into ``a`` in place where it can.

    ``a`` must be owned by the caller (see :func:`own`). ``b`` is left unchanged
    and the result shares nothing with it that a later merge could change (keys
    only in ``b`` are copied in), unless ``consume=True``: then the caller hands
    ``b`` over (it must be owned too), its parts are adopted as they are, objects
    with an ``iadd_consume`` method (``SparseHist``, partials) take over its
    arrays, and ``b`` must not be used afterwards. ``None`` is the identity.
    Raises MergeError naming both types when the two cannot be added.
    """
    if a is None:
        return b if consume else own(b)
    if b is None:
        return a
    if _addable(a) and _addable(b):
        return _iadd(a, b, consume)
    a_set, b_set = isinstance(a, _SETS), isinstance(b, _SETS)
    if a_set or b_set:
        if not (a_set and b_set):
            _mismatch(a, b)
        return a | b if isinstance(a, frozenset) else _ior(a, b)
    if not (isinstance(a, MutableMapping) and isinstance(b, Mapping)):
        _mismatch(a, b)
    if not isinstance(b, type(a)):
        a = _as_type_of(b, a)
    for key, value in b.items():
        if key not in a:
            a[key] = value if consume else own(value)
            continue
        try:
            a[key] = add(a[key], value, consume=consume)
        except MergeError as err:
            err.path = f"[{key!r}]{err.path}"
            raise
    return a


def _as_type_of(b: Mapping, a: MutableMapping) -> MutableMapping:
    """``a``'s items in a mapping of ``b``'s type (coffea: the result has the more general type).

    Raises MergeError when ``a`` is not an instance of ``b``'s type either.
    """
    if not isinstance(a, type(b)):
        msg = (
            f"cannot add two mappings of incompatible types ({type(a).__module__}."
            f"{type(a).__qualname__} and {type(b).__module__}.{type(b).__qualname__}): "
            f"partial outputs must use the same mapping type in every chunk"
        )
        raise MergeError(msg)
    out = copy.copy(b)  # b's type, whatever its constructor takes
    out.clear()  # type: ignore[attr-defined]
    out.update(a)  # type: ignore[attr-defined]
    return out  # type: ignore[return-value]


def _addable(x: Any) -> bool:
    # coffea's Addable protocol (`__add__`), plus objects that only define `+=`
    return hasattr(x, "__add__") or hasattr(x, "__iadd__")


def _iadd(a: Any, b: Any, consume: bool) -> Any:
    try:
        if consume and type(a) is type(b) and hasattr(a, "iadd_consume"):
            return a.iadd_consume(b)
        if isinstance(a, np.ndarray) and _widens(a, b):
            return a + b  # coffea's `a + b`: a wider dtype or shape than `a` holds
        a += b
    except MergeError:
        raise  # from inside a container's own += (a Partial adding its outputs)
    except TypeError as err:
        _mismatch(a, b, err)
    return a


def _widens(a: np.ndarray, b: Any) -> bool:
    other = np.asarray(b) if not isinstance(b, np.ndarray) else b
    if other.dtype == object or a.dtype == object:
        return False
    return (
        np.result_type(a, other) != a.dtype or np.broadcast_shapes(a.shape, other.shape) != a.shape
    )


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


def own(obj: Any, *, private: bool = False) -> Any:
    """``obj`` in a form a merge may add into in place.

    With ``private=False`` (an object others may still see: a processor's own
    attribute, a caller's dict) the answer is a copy sharing no mutable object
    with ``obj``. With ``private=True`` (``obj`` was just deserialized, nobody
    else holds it) only objects reachable twice inside it (the same dict under
    two keys) are copied, so that adding into one cannot count into the other.
    Mappings merged key by key are walked; every other value is a unit.
    Objects with an ``own_for_merge(private)`` method (partials) do it themselves.
    Raises ProcessorOutputError naming the key of a value that cannot be copied.
    """
    try:
        return _own(obj, private, set())
    except _CopyError as err:
        msg = (
            f"cannot copy output{err.path}, a {err.type_name} ({err.cause}); outputs must be "
            f"copyable (copy.deepcopy) so that merging never changes an object the processor "
            f"still holds"
        )
        raise ProcessorOutputError(msg) from err.__cause__


class _CopyError(Exception):
    def __init__(self, obj: Any, cause: Exception) -> None:
        super().__init__()
        self.path = ""
        self.type_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        self.cause = cause


def _own(obj: Any, private: bool, seen: set[int]) -> Any:
    if isinstance(obj, _IMMUTABLE):
        return obj
    hook = getattr(type(obj), "own_for_merge", None)
    if hook is not None:
        return hook(obj, private)
    if private and not isinstance(obj, tuple):  # `+=` on a tuple makes a new one
        if id(obj) in seen:
            return _own(obj, False, seen)  # an alias: this occurrence gets its own copy
        seen.add(id(obj))
    if isinstance(obj, MutableMapping) and not _addable(obj):
        target = obj if private else copy.copy(obj)
        for key, value in list(obj.items()):
            try:
                new = _own(value, private, seen)
            except _CopyError as err:
                err.path = f"[{key!r}]{err.path}"
                raise
            if new is not value or not private:
                target[key] = new
        return target
    if private:
        return obj
    try:
        return copy.deepcopy(obj)
    except Exception as err:
        raise _CopyError(obj, err) from err


def accumulate(items: Iterable[Any], accum: Any = None) -> Any:
    """Merge every item of ``items`` into ``accum`` (coffea's ``processor.accumulate``).

    The items are never changed; ``accum``, when given, is added into in place.
    """
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
    """A partial result not yet in memory: its size, and how to load it.

    ``load()`` hands over an object nobody else changes or reads afterwards
    (a deserialized copy, or an in-memory output that was made private when stored).
    """

    nbytes: int

    def load(self) -> Any: ...


def merge_streaming(inputs: Sequence[Loadable]) -> Any:
    """Merge ``inputs`` in the order given: ``((in0 + in1) + in2) + ...``.

    Inputs are loaded one at a time and dropped once added, so the merge holds its
    result plus one input. A fixed order makes floating-point sums and
    concatenations (lists, tuples, column accumulators) the same whatever the
    executor; loaded values are private (:class:`Loadable`), so they are made
    free of aliases and added with ``consume=True``.
    """
    result = None
    for ref in inputs:
        result = add(result, own(ref.load(), private=True), consume=True)
    return result
