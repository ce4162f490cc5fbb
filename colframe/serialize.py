"""Results on the wire and on disk: lz4-framed (cloud)pickles with sparse histograms.

Objects are pickled straight into an lz4 frame (no intermediate copy of the
pickle, see coffea#699). Functions and classes defined in ``__main__`` or a
notebook travel by value (cloudpickle). Histograms (``hist.Hist``,
boost-histogram, :class:`colframe.hist.SparseHist`) travel sparsely: each
block dense or as COO, whichever is smaller (:func:`colframe.hist.reduce_for_wire`), so
processors get the saving without changing anything. An object that cannot
be pickled raises UnpicklableError naming the attribute that holds the culprit.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import cloudpickle
import lz4.frame

from .errors import UnpicklableError
from .hist import reduce_for_wire
from .results import typename

__all__ = [
    "atomic_write",
    "check_picklable",
    "dump",
    "dumps",
    "explain_unpicklable",
    "load",
    "loads",
]

_LEVEL = 1  # lz4 level 1: fast; histograms compress well even at the lowest level
_SLICE = 1 << 20
_LZ4_MAGIC = b"\x04\x22\x4d\x18"  # every lz4 frame starts with it; a pickle never does


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler with the sparse histogram reductions in front."""

    def reducer_override(self, obj: Any) -> Any:
        reduced = reduce_for_wire(obj)
        if reduced is not NotImplemented:
            return reduced
        return super().reducer_override(obj)


class _Sliced:
    """Passes writes on to ``stream`` in slices of at most 1 MiB.

    Pickle protocol 5 hands every array of 64 KiB or more to ``write`` in one
    call, and lz4 compresses each call whole into a new buffer: without slicing,
    dumping a large array briefly holds a second, compressed copy of it.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        view = memoryview(data)
        # cast() needs C order; numpy sends F-order arrays transposed, so others are rare
        if view.nbytes <= _SLICE or not view.c_contiguous:
            return self._stream.write(data)
        view = view.cast("B")
        for start in range(0, len(view), _SLICE):
            self._stream.write(view[start : start + _SLICE])
        return len(view)


def _pickle(obj: Any, stream) -> None:
    """Pickle ``obj`` into ``stream``; failures raise :func:`explain_unpicklable`'s error."""
    try:
        _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        # the raw error ("cannot pickle '_thread.lock' object") names neither the
        # object nor where it hides; find the attribute that holds it
        raise explain_unpicklable(obj, err) from err


def _write(obj: Any, stream) -> None:
    """Pickle ``obj`` into an lz4 frame written to ``stream``."""
    with lz4.frame.LZ4FrameFile(stream, "wb", compression_level=_LEVEL) as frame:
        _pickle(obj, _Sliced(frame))


class _Discard:
    """A stream that counts what it is given and keeps nothing."""

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes


def check_picklable(obj: Any) -> None:
    """Pickle ``obj`` into nothing (CPU only); raise :func:`explain_unpicklable`'s error if it fails.

    For outputs that stay in memory where they were made (dask workers) and would
    otherwise meet the pickler only on their way to another process, too late to
    be reported as the chunk's failure.
    """
    _pickle(obj, _Discard())


def _picklable(obj: Any) -> bool:
    try:
        _Pickler(_Discard(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except Exception:  # noqa: BLE001  (a __reduce__ may raise anything: it cannot be pickled)
        return False
    return True


def _children(obj: Any):
    if isinstance(obj, dict):
        yield from ((f"[{key!r}]", value) for key, value in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"[{index}]", value) for index, value in enumerate(obj))
    elif isinstance(getattr(obj, "__dict__", None), dict):
        yield from ((f".{name}", value) for name, value in vars(obj).items())


def explain_unpicklable(obj: Any, err: BaseException) -> UnpicklableError:
    """The error to raise when pickling ``obj`` failed with ``err``.

    Its message names the deepest part of ``obj`` that cannot be pickled, by
    attribute path (``ProcessChunk.processor.lock``), and its type.
    """
    name = type(obj).__qualname__
    path, owner, step, culprit = "", obj, "", obj
    for _ in range(32):  # deeper than any reasonable object graph
        bad = next(((s, child) for s, child in _children(culprit) if not _picklable(child)), None)
        if bad is None:
            break
        owner, culprit = culprit, bad[1]
        step = bad[0]
        path += step
    where = f"cannot pickle {name}"
    if culprit is not obj:
        where += (
            f": {name}{path} is a {typename(culprit)} "
            f"(held by {type(owner).__qualname__} as {step})"
        )
    msg = (
        f"{where}: {type(err).__name__}: {err}. Whatever is sent to worker processes or saved "
        f"must be picklable: create open files, locks and clients inside process(), or leave "
        f"them out in __getstate__"
    )
    return UnpicklableError(msg)


def dumps(obj: Any, compress: bool = True) -> bytes:
    """Serialize ``obj`` into lz4-framed pickle bytes (plain pickle bytes if not ``compress``)."""
    buffer = io.BytesIO()
    if compress:
        _write(obj, buffer)
    else:
        _pickle(obj, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps` (either form)."""
    if not data.startswith(_LZ4_MAGIC):
        return pickle.loads(data)
    with lz4.frame.LZ4FrameFile(io.BytesIO(data), "rb") as frame:
        return pickle.load(frame)


@contextmanager
def atomic_write(path: str | os.PathLike, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary stream whose content appears at ``path`` only when complete.

    It is written under a temporary name in the same directory, fsynced, then
    renamed over ``path``: a crash at any moment leaves the old file or the new
    one, never a half-written one (leftover ``.NAME.*.tmp`` files are harmless).
    ``durable=False`` skips the fsync, for files that need not survive a
    machine crash (spool files of a running job).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump(obj: Any, path: str | os.PathLike, durable: bool = True) -> int:
    """Write ``obj`` to ``path`` atomically (see :func:`atomic_write`); returns bytes written."""
    with atomic_write(path, durable) as stream:
        _write(obj, stream)
    return Path(path).stat().st_size


def load(path: str | os.PathLike) -> Any:
    """Read an object written by :func:`dump`."""
    with lz4.frame.open(os.fspath(path), "rb") as frame:
        return pickle.load(frame)
