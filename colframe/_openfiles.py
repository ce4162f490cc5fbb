"""A small per-worker cache of open ROOT files.

Consecutive chunks of one file usually land on the same worker. Reopening the
file for each chunk re-reads the TTree metadata (every TBranch and its basket
index), which for a chunk of 100k events of an 86-branch tree costs about as
much as decompressing the columns a light query reads. Keeping the last few
files open makes that a once-per-file cost.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .preprocess import open_tree

__all__ = ["OpenFiles"]


class OpenFiles:
    """The ``size`` most recently used ``(file, tree)`` pairs, closed when evicted."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._open: OrderedDict[tuple[str, str], tuple[Any, Any]] = OrderedDict()

    def get(self, path: str, treename: str, options: dict[str, Any]) -> tuple[Any, Any]:
        """``(file, tree)`` for ``path``, opened with ``options`` unless already open."""
        key = (path, treename)
        if key in self._open:
            self._open.move_to_end(key)
            return self._open[key]
        # no array cache: chunks of a file never read the same entries twice
        opened = open_tree(path, treename, **{"array_cache": None, **options})
        self._open[key] = opened
        while len(self._open) > self.size:
            _, (file, _) = self._open.popitem(last=False)
            file.close()
        return opened

    def discard(self, path: str, treename: str) -> None:
        """Close and forget ``path`` (after an error, so a retry starts from a fresh open)."""
        entry = self._open.pop((path, treename), None)
        if entry is not None:
            entry[0].close()

    def close(self) -> None:
        """Close every open file."""
        while self._open:
            _, (file, _) = self._open.popitem()
            file.close()
