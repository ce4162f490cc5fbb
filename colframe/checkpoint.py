"""Checkpoints: each finished chunk's output saved where it ran, loaded on a rerun.

A checkpoint directory (a local path or an fsspec URL reachable from every
worker) holds one file per chunk, named ``<chunk key>-<fingerprint>.ckpt``:

- the chunk key hashes what the processor sees of the chunk: dataset, file
  path, tree, file UUID, entry range and dataset metadata;
- the fingerprint hashes the processor: its class, the source of the modules
  of its class hierarchy, the processor pickled with its parameters, and the
  schema. A changed processor finds no checkpoint of its own and recomputes.

A file is ``MAGIC + sha256(payload) + payload``, the payload being the chunk's
:class:`~colframe._work.Partial` in :mod:`colframe.serialize` format (sparse
histograms). Locally it is written under a temporary name, fsynced and renamed,
so a killed run leaves whole checkpoints or none; on fsspec filesystems it is
written in one put. One whose checksum does not match is computed again.

:class:`Checkpointed` wraps the work function, so loading and saving run on
the worker, where the output is: the driver only holds refs. The driver lists
the directory once (:meth:`CheckpointStore.scan`) to report what it found.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import pickle
import posixpath
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cloudpickle

from . import serialize
from ._work import Partial
from .errors import CheckpointError
from .plan import WorkItem

__all__ = ["MAGIC", "CheckpointStore", "Checkpointed", "processor_fingerprint"]

MAGIC = b"colframe-checkpoint-1\n"
_SUFFIX = ".ckpt"
_DIGEST = 32  # bytes of sha256
_SKIP_MODULES = frozenset({"builtins", "abc"})


class _CanonicalPickler(cloudpickle.Pickler):
    """Pickles sets and dicts in sorted order: equal objects give equal bytes in every process.

    Set iteration order depends on the per-process string hash seed, dict order
    on insertion (``{"year": 2018, "xsec": 1.0}`` equals its reordering); a key
    or fingerprint that changed from one run to the next would never resume.
    The C pickler writes sets and dicts before any reducer hook sees them;
    ``persistent_id`` is the one hook it consults for every object.

    Classes that cloudpickle pickles by value (defined in ``__main__``: a script
    or a notebook) carry a random id per process; they are written as their
    name and code instead (:func:`_class_code`). The bytes are hashed, never loaded.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes_seen: set[type] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type) and not _pickled_by_reference(obj):
            if obj in self._classes_seen:  # its own methods refer to it: name it only
                return _by_value_class, (obj.__module__, obj.__qualname__)
            self._classes_seen.add(obj)
            return _by_value_class, (obj.__module__, obj.__qualname__, *_class_code(obj))
        return super().reducer_override(obj)

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) in (set, frozenset):
            return (type(obj).__name__, _sorted(obj))
        if type(obj) is dict:
            return ("dict", _sorted(obj.items()))
        return None


def _sorted(items: Iterable[Any]) -> tuple:
    try:
        return tuple(sorted(items))
    except TypeError:
        return tuple(sorted(items, key=repr))


def _pickled_by_reference(cls: type) -> bool:
    try:
        from cloudpickle.cloudpickle import _should_pickle_by_reference
    except ImportError:  # a cloudpickle without it: classes of __main__ go by value
        return cls.__module__ != "__main__"
    return _should_pickle_by_reference(cls)


def _by_value_class(*identity: Any) -> None:
    """Stands for a class in fingerprint bytes (which are hashed, never loaded)."""


def _class_code(cls: type) -> tuple:
    """What defines ``cls`` besides its name: its source, or (in a notebook, where there
    is none) its bases and own attributes, methods pickled by value with their code."""
    try:
        return (inspect.getsource(cls),)
    except (OSError, TypeError):
        # _abc_impl: ABCMeta's per-process cache of subclasses, not code
        skip = {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "_abc_impl"}
        own = {name: value for name, value in vars(cls).items() if name not in skip}
        return (cls.__bases__, own)


def _canonical_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _CanonicalPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _module_source(name: str | None) -> str:
    module = sys.modules.get(name or "")
    if module is None:
        return ""
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):
        # a notebook or an interactive __main__: cloudpickle pickles such
        # classes and functions by value, so the pickled bytes carry their code
        return ""


def processor_fingerprint(processor: Any, schema: Any) -> str:
    """A hex digest that changes when the processor's code, parameters or schema change.

    Covers the processor's class, the source of every module in its class
    hierarchy (and of a plain function's module), the processor pickled with
    its parameters, and the schema class. Code in other modules the processor
    calls is not covered: bump an attribute (``version = 2``) to force a
    recomputation. Raises UnpicklableError naming the attribute that cannot be
    pickled.
    """
    digest = hashlib.sha256()
    owner = type(processor)
    modules = [getattr(processor, "__module__", None), *(cls.__module__ for cls in owner.__mro__)]
    for name in dict.fromkeys(modules):
        if name not in _SKIP_MODULES:
            digest.update(f"{name}\0{_module_source(name)}\0".encode())
    digest.update(f"{owner.__module__}.{owner.__qualname__}\0".encode())
    try:
        digest.update(_canonical_bytes(processor))
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        error = serialize.explain_unpicklable(processor, err)
        error.add_note("checkpoints fingerprint the processor by pickling it")
        raise error from err
    schema_name = f"{getattr(schema, '__module__', '')}.{getattr(schema, '__qualname__', schema)}"
    digest.update(f"\0{schema_name}".encode())
    return digest.hexdigest()[:16]


class CheckpointStore:
    """A directory of chunk checkpoints: a local path or an fsspec URL.

    Picklable (only the URL travels); each process opens the filesystem itself.
    """

    def __init__(self, url: str | os.PathLike) -> None:
        if not isinstance(url, str | os.PathLike) or not os.fspath(url):
            msg = f"checkpoint must be a directory path or an fsspec URL, not {url!r}"
            raise CheckpointError(msg)
        url = os.fspath(url)
        # workers may start elsewhere (a dask worker's cwd): send them an absolute path
        self.url = url if "://" in url else str(Path(url).absolute())
        self._fs = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["url"])

    def __repr__(self) -> str:
        return f"CheckpointStore({self.url!r})"

    def _open(self):
        if self._fs is None:
            from fsspec.core import url_to_fs

            self._fs, self._root = url_to_fs(self.url)
        return self._fs

    @property
    def _local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self._open(), LocalFileSystem)

    def prepare(self) -> None:
        """Create the directory (driver side) so a wrong path fails before any chunk runs."""
        fs = self._open()
        try:
            fs.makedirs(self._root, exist_ok=True)
        except OSError as err:
            problem = f"{type(err).__name__}: {err}"
        else:
            return
        msg = f"cannot create the checkpoint directory {self.url!r}: {problem}"
        raise CheckpointError(msg)

    # naming -----------------------------------------------------------------
    @staticmethod
    def key(item: WorkItem) -> str:
        """The chunk's identity: what the processor sees of it, hashed."""
        identity = (
            item.dataset,
            item.filename,
            item.treename,
            item.fileuuid,
            item.entrystart,
            item.entrystop,
            dict(item.usermeta or {}),
        )
        return hashlib.sha256(_canonical_bytes(identity)).hexdigest()[:32]

    def path(self, item: WorkItem, fingerprint: str) -> str:
        """Where the checkpoint of ``item`` under ``fingerprint`` lives."""
        self._open()
        return posixpath.join(self._root, f"{self.key(item)}-{fingerprint}{_SUFFIX}")

    def scan(self, items: Iterable[WorkItem], fingerprint: str) -> tuple[int, int]:
        """``(found, stale)``: chunks with a checkpoint of this fingerprint, and chunks
        whose only checkpoints were written by another processor (they are ignored).

        Lists the directory once; checksums are checked later, where chunks load.
        """
        fs = self._open()
        try:
            names = {posixpath.basename(p) for p in fs.ls(self._root, detail=False)}
        except FileNotFoundError:
            names = set()
        names = {n for n in names if n.endswith(_SUFFIX) and not n.startswith(".")}
        if not names:  # a first run: no chunk key to compute
            return 0, 0
        keys = {name.partition("-")[0] for name in names}
        found = stale = 0
        for item in items:
            key = self.key(item)
            if f"{key}-{fingerprint}{_SUFFIX}" in names:
                found += 1
            elif key in keys:
                stale += 1
        return found, stale

    # reading and writing ----------------------------------------------------
    def load(self, item: WorkItem, fingerprint: str) -> tuple[Partial | None, bool]:
        """``(partial, rejected)``: the saved output, or None when there is none or it
        is not valid (``rejected``: present but corrupt or unreadable)."""
        path = self.path(item, fingerprint)
        try:
            data = self._open().cat_file(path)
        except FileNotFoundError:
            return None, False
        except OSError:
            return None, True
        header = len(MAGIC) + _DIGEST
        checksum = data[len(MAGIC) : header]
        if data[: len(MAGIC)] != MAGIC or hashlib.sha256(data[header:]).digest() != checksum:
            return None, True
        try:
            partial = serialize.loads(data[header:])
        except Exception:  # noqa: BLE001  (passed its checksum, no longer unpickles: recompute)
            return None, True
        if not isinstance(partial, Partial):
            return None, True
        # the chunk read nothing and cost nothing in this run
        return replace(partial, bytesread=0, processtime=0.0, cputime=0.0, from_checkpoint=1), False

    def save(self, item: WorkItem, fingerprint: str, partial: Partial) -> None:
        """Write ``partial`` as the checkpoint of ``item``, atomically.

        Raises CheckpointError (not an OSError, so ``skipbadfiles`` never skips a
        chunk that was computed but could not be saved).
        """
        path = self.path(item, fingerprint)
        payload = serialize.dumps(partial)
        digest = hashlib.sha256(payload).digest()
        try:
            if self._local:
                with serialize.atomic_write(path) as stream:
                    stream.write(MAGIC)
                    stream.write(digest)
                    stream.write(payload)
            else:
                # one put: object stores make it visible whole or not at all; where a
                # filesystem can leave it partial (sftp, ...), the checksum rejects it
                self._open().pipe_file(path, MAGIC + digest + payload)
        except OSError as err:
            problem = f"{type(err).__name__}: {err}"
        else:
            return
        msg = (
            f"cannot write the checkpoint of chunk {item.describe()} to {path!r}: {problem}; "
            f"the checkpoint directory must be writable from every worker"
        )
        raise CheckpointError(msg)


@dataclass
class Checkpointed:
    """The work function with checkpoints (runs on workers).

    Loads the chunk's checkpoint when a valid one exists; otherwise runs
    ``work`` and saves its output before returning it.
    """

    work: Callable[[WorkItem], Partial]
    store: CheckpointStore
    fingerprint: str

    def close(self) -> None:
        """Close what the wrapped work function keeps open (its files)."""
        close = getattr(self.work, "close", None)
        if callable(close):
            close()

    def __call__(self, item: WorkItem) -> Partial:
        partial, rejected = self.store.load(item, self.fingerprint)
        if partial is not None:
            return partial
        partial = self.work(item)
        self.store.save(item, self.fingerprint, partial)
        partial.checkpoints_rejected = int(rejected)
        return partial
