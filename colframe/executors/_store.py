"""Where task outputs live until they are merged: in memory, or in spool files.

A ref is small and picklable; the driver holds refs, never the outputs they
point to, so its memory does not grow with the number of chunks.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import serialize
from ..accumulate import nbytes

__all__ = ["FileRef", "FileStore", "MemoryRef", "MemoryStore"]


@dataclass
class MemoryRef:
    """An output kept in this process's memory (the iterative executor)."""

    value: Any
    nbytes: int

    def load(self) -> Any:
        # hand over ownership: merges add in place (which is why a failed merge is
        # never retried, see colframe.executors._task.execute)
        value, self.value = self.value, None
        return value

    def discard(self) -> None:
        self.value = None


@dataclass(frozen=True)
class MemoryStore:
    """Keeps outputs as they are, in refs of type ``ref`` (built as ``ref(value, nbytes)``)."""

    ref: Callable[[Any, int], Any] = MemoryRef

    def put(self, value: Any) -> Any:
        return self.ref(value, nbytes(value))


@dataclass(frozen=True)
class FileRef:
    """An output serialized to a spool file shared by driver and workers."""

    path: str
    nbytes: int

    def load(self) -> Any:
        return serialize.load(self.path)

    def discard(self) -> None:
        Path(self.path).unlink(missing_ok=True)


@dataclass(frozen=True)
class FileStore:
    """Writes outputs to ``directory`` (lz4 pickles, sparse histograms)."""

    directory: str

    def put(self, value: Any) -> FileRef:
        path = os.path.join(self.directory, f"{uuid.uuid4().hex}.pkl.lz4")
        # spool files live as long as the run: atomic, but no fsync per chunk
        size = serialize.dump(value, path, durable=False)
        return FileRef(path, size)
