"""Which library decompresses ZLIB baskets while colframe reads a chunk.

NanoAOD and most CMS/ATLAS ROOT files are ZLIB-compressed, and on I/O-bound
queries inflating baskets is most of a chunk's CPU time. ISA-L (the ``isal``
package, a dependency of colframe) inflates the same streams 1.4–1.55× faster
than the standard library's zlib (``python -m benchmarks.decompression``);
decompression is lossless, so the arrays, and every histogram filled from
them, are identical.

uproot chooses its inflater through one process-wide setting. colframe sets it
only while it processes a chunk (:func:`zlib_library`) and restores it after,
so code outside a run (or coffea's Runner in the same process) keeps uproot's
default. ``Runner(zlib_library="zlib")`` turns the choice off.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from . import extras

__all__ = ["ZLIB_LIBRARIES", "resolve_zlib_library", "zlib_library"]

#: accepted values of ``Runner(zlib_library=...)``
ZLIB_LIBRARIES = ("auto", "isal", "zlib")


def resolve_zlib_library(name: str) -> str:
    """``"auto"`` -> ``"isal"`` when the isal package imports, else ``"zlib"``; validate others."""
    if name not in ZLIB_LIBRARIES:
        msg = f"zlib_library must be one of {', '.join(map(repr, ZLIB_LIBRARIES))}, got {name!r}"
        raise ValueError(msg)
    if name == "zlib":
        return name
    try:
        extras.isal_zlib()
    except ModuleNotFoundError as exc:
        if name == "auto":
            return "zlib"
        raise ValueError(str(exc)) from exc  # a Runner option that cannot be honoured
    return "isal"


def _inflater():
    """The object whose ``library`` attribute uproot reads when it inflates a ZLIB basket."""
    import uproot.compression

    # uproot 5 decompresses through this module-level instance; setting the public
    # ZLIB.library class attribute does not reach it (it only steers compression).
    return getattr(uproot.compression, "_decompress_ZLIB", uproot.compression.ZLIB)


_lock = threading.Lock()
_active = 0  # scopes open in this process (threads of one dask worker may overlap)
_saved: str | None = None


@contextlib.contextmanager
def zlib_library(name: str) -> Iterator[None]:
    """Inflate ZLIB baskets with ``name`` ("isal" or "zlib") inside the block, then restore.

    Overlapping blocks (chunks run by threads of one process) share the setting:
    the first to enter saves uproot's own, the last to leave restores it. If they
    ask for different libraries, the latest request wins for all of them, which
    changes speed only: inflating is lossless.
    """
    global _active, _saved
    inflater = _inflater()
    with _lock:
        if _active == 0:
            _saved = inflater.__dict__.get("library")  # None: the class default was in effect
        _active += 1
        inflater.library = name
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _restore(inflater, _saved)


def _restore(inflater, saved: str | None) -> None:
    if saved is not None:
        inflater.library = saved
    else:
        with contextlib.suppress(AttributeError):
            del inflater.library
