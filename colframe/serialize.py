"""Results on the wire and on disk: lz4-framed (cloud)pickles with sparse histograms.

Objects are pickled straight into an lz4 frame (no intermediate copy of the
pickle, see coffea#699). Functions and classes defined in ``__main__`` or a
notebook travel by value (cloudpickle). Histograms (``hist.Hist``,
boost-histogram, :class:`colframe.hist.SparseHist`) travel sparsely: each
block dense or as COO, whichever is smaller (:mod:`colframe.hist._wire`), so
processors get the saving without changing anything.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import cloudpickle
import lz4.frame

from .hist._wire import reduce_for_wire

__all__ = ["dump", "dumps", "load", "loads"]

_LEVEL = 1  # lz4 level 1: fast; histograms compress well even at the lowest level


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler with the sparse histogram reductions in front."""

    def reducer_override(self, obj: Any) -> Any:
        reduced = reduce_for_wire(obj)
        if reduced is not NotImplemented:
            return reduced
        return super().reducer_override(obj)


def _write(obj: Any, stream) -> None:
    with lz4.frame.LZ4FrameFile(stream, "wb", compression_level=_LEVEL) as frame:
        _Pickler(frame, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` into lz4-framed pickle bytes."""
    buffer = io.BytesIO()
    _write(obj, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`."""
    with lz4.frame.LZ4FrameFile(io.BytesIO(data), "rb") as frame:
        return pickle.load(frame)


def dump(obj: Any, path: str | os.PathLike) -> int:
    """Write ``obj`` to ``path`` atomically (temporary name, fsync, rename); returns bytes written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            _write(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def load(path: str | os.PathLike) -> Any:
    """Read an object written by :func:`dump`."""
    with lz4.frame.open(os.fspath(path), "rb") as frame:
        return pickle.load(frame)
