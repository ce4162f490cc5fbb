"""A small per-worker cache of open ROOT files.

Consecutive chunks of one file usually land on the same worker. Reopening the
file for each chunk re-reads the TTree metadata (every TBranch and its basket
index); keeping the last few files open makes that a once-per-file cost.

Each thread has files of its own: the threads of a dask worker share one work
function, and a thread must never close a file another thread is reading, nor
count another thread's reads in its chunk's ``bytesread``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .plan import WorkItem
from .preprocess import check_planned, open_tree

__all__ = ["OpenFiles"]

_Cache = OrderedDict[tuple[str, str], tuple[Any, Any]]


class OpenFiles:
    """Per thread, the ``size`` most recently used ``(file, tree)`` pairs, closed when evicted."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._by_thread: dict[threading.Thread, _Cache] = {}

    def _mine(self) -> _Cache:
        """The calling thread's files; the files of threads that have ended are closed."""
        me = threading.current_thread()
        with self._lock:
            ended = [t for t in self._by_thread if t is not me and not t.is_alive()]
            stale = [self._by_thread.pop(t) for t in ended]
            mine = self._by_thread.setdefault(me, OrderedDict())
        for cache in stale:
            _close_all(cache)
        return mine

    def get(
        self, path: str, treename: str, options: dict[str, Any], planned: WorkItem | None = None
    ) -> tuple[Any, Any]:
        """``(file, tree)`` for ``path``, opened with ``options`` unless this thread has it open.

        With ``planned``, raises FileChangedError unless the file is the one that
        chunk was planned on (UUID and entry count; see :func:`check_planned`).
        """
        files = self._mine()
        key = (path, treename)
        if key in files:
            files.move_to_end(key)
            opened = files[key]
        else:
            # no array cache: chunks of a file never read the same entries twice
            opened = open_tree(path, treename, **{"array_cache": None, **options})
            files[key] = opened
            while len(files) > self.size:
                _, (file, _) = files.popitem(last=False)
                file.close()
        if planned is not None:
            check_planned(planned, *opened)
        return opened

    def discard(self, path: str, treename: str) -> None:
        """Close and forget this thread's ``path`` (after an error: a retry opens it afresh)."""
        entry = self._mine().pop((path, treename), None)
        if entry is not None:
            entry[0].close()

    def close(self) -> None:
        """Close every open file, of every thread."""
        with self._lock:
            caches = list(self._by_thread.values())
            self._by_thread.clear()
        for cache in caches:
            _close_all(cache)


def _close_all(cache: _Cache) -> None:
    while cache:
        _, (file, _) = cache.popitem()
        file.close()
