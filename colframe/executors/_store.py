"""Where task outputs live until they are merged: in memory, or in spool files.

A ref is small and picklable; the driver holds refs, never the outputs they
point to, so its memory does not grow with the number of chunks.

Merges add into what they load (see :func:`colframe.accumulate.own`), so a
ref's ``load()`` hands over an object nobody else sees: a spool file gives a
fresh copy; an output kept in memory is made private when it is stored, because
the processor may still hold (and change) the objects it returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import serialize
from ..accumulate import nbytes, own
from ..errors import ProcessorOutputError, SpoolError

__all__ = ["FileRef", "FileStore", "MemoryRef", "MemoryStore", "spool_error"]


@dataclass
class MemoryRef:
    """An output kept in this process's memory (the iterative executor)."""

    value: Any
    nbytes: int

    def load(self) -> Any:
        # hand over the private value: merges add into it in place (which is why a
        # failed merge is never retried, see colframe.executors._task.execute)
        value, self.value = self.value, None
        return value

    def discard(self) -> None:
        self.value = None


@dataclass(frozen=True)
class MemoryStore:
    """Keeps outputs in memory, in refs of type ``ref`` (built as ``ref(value, nbytes)``).

    A value is stored as a private copy (one deep copy per chunk output, like the
    pickling of a spool file) unless it is a merge result already owned by the
    tree: merging never changes an object the processor returned and may still see.
    """

    ref: Callable[[Any, int], Any] = MemoryRef

    def put(self, value: Any) -> Any:
        try:
            value = own(value)
        except ProcessorOutputError:
            # what cannot be copied usually cannot be pickled either: name it as a
            # spool file or a dask transfer would (UnpicklableError, attribute path)
            serialize.check_picklable(value)
            raise
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
        path = str(Path(self.directory) / f"{uuid.uuid4().hex}.pkl.lz4")
        try:
            # spool files live as long as the run: atomic, but no fsync per chunk
            size = serialize.dump(value, path, durable=False)
        except OSError as exc:
            error = spool_error(self.directory, exc)
        else:
            return FileRef(path, size)
        raise error  # outside the except: no OSError in its cause chain (skipbadfiles)


def spool_error(directory: str, exc: OSError) -> SpoolError:
    """The error for a spool write that failed: a local resource problem, never a bad input."""
    reason = exc.strerror or str(exc)
    msg = (
        f"cannot write partial outputs to the spool directory {directory} ({reason}); free space "
        f"there or choose another place with spool_dir=... (FuturesExecutor)"
    )
    return SpoolError(msg)
