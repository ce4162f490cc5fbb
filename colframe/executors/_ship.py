"""What executors send to their workers: each work function once, each task argument checked.

An engine that keeps a function on its workers for the whole run (a spool file
read once per worker process, a dask worker plugin, a TaskVine file cached on
each worker) ships it once: :class:`ShippedFunctions` maps a function to what
its engine made of it. Task arguments are pickled in the driver, where a
failure is one clear error before the task leaves, not a traceback from a
pool's feeder thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .. import serialize
from ..errors import UnpicklableError

__all__ = ["ShippedFunctions", "pickle_arg"]

H = TypeVar("H")


class ShippedFunctions(Generic[H]):
    """Each work function shipped once per run: ``shipped(function)`` returns its handle.

    ``ship(function, index)`` does the engine's shipping (``index`` counts the
    functions shipped so far, for file names) and returns the handle tasks refer
    to. Entries hold a reference to their function, so its ``id`` cannot be
    reused by another function while the entry exists.
    """

    def __init__(self, ship: Callable[[Callable[[Any], Any], int], H]) -> None:
        self._ship = ship
        self._entries: dict[int, tuple[Callable[[Any], Any], H]] = {}

    def __call__(self, function: Callable[[Any], Any]) -> H:
        entry = self._entries.get(id(function))
        if entry is None or entry[0] is not function:
            entry = (function, self._ship(function, len(self._entries)))
            self._entries[id(function)] = entry
        return entry[1]

    def __iter__(self) -> Iterator[H]:
        """The handles shipped so far (to unregister or delete them at the end of a run)."""
        return iter([handle for _, handle in self._entries.values()])

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every function (the run is over; its handles are gone with it)."""
        self._entries.clear()


def pickle_arg(arg: Any) -> bytes:
    """``arg`` as pickle bytes for a worker; raises UnpicklableError naming the part that fails.

    For a chunk the usual culprit is the fileset's metadata (``usermeta``), which
    travels with every chunk of its dataset.
    """
    try:
        return serialize.dumps(arg, compress=False)
    except UnpicklableError as exc:
        msg = (
            f"a task argument cannot be sent to the workers: {exc} (a chunk carries its "
            f"dataset's fileset metadata: keep it to picklable values)"
        )
    raise UnpicklableError(msg)
