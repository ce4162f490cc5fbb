"""Preprocessing: read each file's entry count and UUID, cached on disk (or in a mapping).

ROOT files (TTree or RNTuple) are read with uproot; parquet files
(``format="parquet"``) with pyarrow: their entry count is the number of rows and
their UUID is derived from the path, as coffea does. The cache is one SQLite
database per cache directory, of small JSON records keyed by the file's location,
size and modification time (local files), or its URL and what the server says
of its version (size, ETag, modification time, when fsspec's ``info`` gives
them), so a second run over unchanged files opens none of them for metadata (one
file per record made 100,000 files 100,000 opens and reads); or a mapping the
user gives (:class:`MappingCache`).
A chunk checks, when it opens its file, that the file is still the one planned
(:func:`check_planned`), which catches what the cache could not see.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from . import errors
from ._tree_head import tree_entries
from .errors import FileChangedError, MissingProtocolError
from .fileset import FileSpec, canonical_location
from .plan import FileMeta, WorkItem

__all__ = [
    "FORMATS",
    "MappingCache",
    "MetadataCache",
    "check_planned",
    "check_protocols",
    "default_cache_dir",
    "fetch_metadata",
    "file_uuid",
    "open_tree",
]

log = logging.getLogger(__name__)
#: the input formats the Runner reads
FORMATS = ("root", "parquet")
# what fsspec's info() may say of a remote file's version, by filesystem
_VALIDATORS = (
    "size",
    "ETag",
    "etag",
    "mtime",
    "LastModified",
    "Last-Modified",
    "last_modified",
    "modified",
    "Content-MD5",
    "Digest",
    "checksum",
)


def default_cache_dir() -> Path:
    """``$COLFRAME_CACHE_DIR``, else ``$XDG_CACHE_HOME/colframe``, else ``~/.cache/colframe``."""
    if "COLFRAME_CACHE_DIR" in os.environ:
        return Path(os.environ["COLFRAME_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "colframe"


def open_tree(path: str, treename: str, **uproot_options):
    """Open ``path`` with uproot and return ``(file, tree)``.

    Raises OSError subclasses for unreadable files (so ``skipbadfiles`` catches
    them) and KeyError naming the closest tree names for a wrong tree name.
    """
    file = _open(path, **uproot_options)
    return file, _tree(file, path, treename)


def _open(path: str, **uproot_options) -> Any:
    import uproot

    try:
        return uproot.open(path, **uproot_options)
    except (OSError, ValueError) as err:
        if isinstance(err, OSError):
            raise
        # uproot raises ValueError for files that are not ROOT files or are truncated
        msg = f"cannot read {path!r} as a ROOT file: {err}"
        raise OSError(msg) from err


def _tree(file: Any, path: str, treename: str) -> Any:
    import uproot

    try:
        tree = file[treename]
    except uproot.KeyInFileError as err:
        names = sorted({key.split(";")[0] for key in file.keys(recursive=True)})
        close = difflib.get_close_matches(treename, names, n=3, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        msg = f"file {path!r} has no tree {treename!r} (it holds {names}){hint}"
        file.close()
        raise errors.TreeNotFoundError(msg) from err
    if not hasattr(tree, "num_entries"):
        msg = f"{treename!r} in {path!r} is a {type(tree).__name__}, not a TTree"
        file.close()
        raise errors.TreeNotFoundError(msg)
    return tree


def file_uuid(file: Any) -> str:
    """The ROOT UUID of a file opened by uproot, as a string."""
    return str(uuid.UUID(bytes=file.file.fUUID))


def fetch_metadata(
    spec: FileSpec,
    uproot_options: dict[str, Any] | None = None,
    align_clusters: bool = False,
    format: str = "root",
) -> FileMeta:
    """Open one file (with ``uproot_options``) and return its entry count and UUID.

    With ``align_clusters`` also the entries where its clusters start (TTree:
    the branches' common basket boundaries; RNTuple: its cluster starts). A
    parquet file (``format="parquet"``) is read with pyarrow: its rows, and a
    UUID made from its path. Runs on workers; ship it with the options bound
    (``functools.partial``).

    A TTree's entry count is read from the head of its record, without building
    its branches (:func:`colframe._tree_head.tree_entries`: 2 ms instead of 200
    for a NanoAOD file); the whole tree is read only for its clusters, for an
    RNTuple, or when the head is not the one expected.
    """
    if format == "parquet":
        return parquet_metadata(spec)
    file = _open(spec.path, **(uproot_options or {}))
    try:
        entries = None if align_clusters else tree_entries(file, spec.treename)
        clusters = None
        if entries is None:
            tree = _tree(file, spec.path, spec.treename)
            entries = int(tree.num_entries)
            clusters = _clusters(tree) if align_clusters else None
        return FileMeta(spec.path, spec.treename, entries, file_uuid(file), clusters)
    finally:
        file.close()


def _clusters(tree: Any) -> tuple[int, ...]:
    summaries = getattr(tree, "cluster_summaries", None)
    if summaries is not None:  # RNTuple
        starts = {int(c.num_first_entry) for c in summaries} | {int(tree.num_entries)}
        return tuple(sorted(starts))
    return tuple(int(x) for x in tree.common_entry_offsets())


def parquet_metadata(spec: FileSpec) -> FileMeta:
    """The rows of a parquet file and a UUID made from its path (coffea's: an MD5 of it).

    pyarrow's own errors pass through: FileNotFoundError for a missing file,
    ``pyarrow.ArrowInvalid`` (a ValueError) for one that is not parquet.
    """
    import pyarrow.parquet as pq

    with pq.ParquetFile(spec.path) as file:
        rows = int(file.metadata.num_rows)
    ident = uuid.UUID(bytes=hashlib.md5(spec.path.encode()).digest())
    return FileMeta(spec.path, spec.treename, rows, str(ident))


def check_planned(item: WorkItem, file: Any, tree: Any) -> None:
    """Raise FileChangedError unless the opened ``file`` is the one ``item`` was planned on.

    Compares the ROOT UUID and the entry count recorded at preprocessing with
    the file as it is now: a file replaced, grown or shrunk since is refused
    instead of being read as planned.
    """
    now_uuid, now_entries = file_uuid(file), int(tree.num_entries)
    same_uuid = not item.fileuuid or item.fileuuid == now_uuid
    same_entries = item.numentries is None or item.numentries == now_entries
    if same_uuid and same_entries and item.entrystop <= now_entries:
        return
    planned = f"UUID {item.fileuuid}" + (
        f" and {item.numentries} entries" if item.numentries is not None else ""
    )
    msg = (
        f"file changed since it was preprocessed: {item.filename!r} (tree {item.treename!r}) "
        f"has UUID {now_uuid} and {now_entries} entries, the plan has {planned}; clear the "
        f"metadata cache (rm -r {default_cache_dir() / 'metadata'}, or metadata_cache=False) "
        f"or regenerate the preprocessed fileset, and run again"
    )
    raise FileChangedError(msg)


def check_protocols(specs: Iterable[FileSpec]) -> None:
    """Raise MissingProtocolError when a URL's protocol has no installed reader.

    Checked before any file is opened, so ``root://...`` without fsspec-xrootd is
    one error with the install line, not one failure per file.
    """
    import fsspec

    checked: set[str] = set()
    for spec in specs:
        protocol, sep, _ = spec.path.partition("://")
        if not sep or protocol in checked or protocol == "file":
            continue
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as err:
            msg = f"cannot read {spec.path!r}: the {protocol}:// protocol needs a package: {err}"
            raise MissingProtocolError(msg) from None
        except ValueError:
            known = ", ".join(sorted(fsspec.available_protocols())[:12])
            msg = f"cannot read {spec.path!r}: unknown protocol {protocol!r} (fsspec knows {known}, ...)"
            raise MissingProtocolError(msg) from None
        checked.add(protocol)


class MappingCache:
    """A cache of :class:`FileMeta` in a mapping the user gives (``metadata_cache=LRUCache(n)``).

    Keyed by ``(path, treename)``; the entries are not checked against the
    file's version (as in coffea), but every chunk checks, when it opens its
    file, that the file is the one planned.
    """

    def __init__(self, mapping: MutableMapping) -> None:
        self.mapping = mapping

    def get(self, spec: FileSpec, clusters: bool = False) -> FileMeta | None:
        """The cached metadata of ``spec`` (with clusters when asked), or None."""
        meta = self.mapping.get((spec.path, spec.treename))
        if not isinstance(meta, FileMeta) or (clusters and meta.clusters is None):
            return None
        return meta

    def get_many(self, specs: Iterable[FileSpec], clusters: bool = False) -> dict[FileSpec, FileMeta]:
        """The cached metadata of those of ``specs`` that have some (see :meth:`get`)."""
        found = ((spec, self.get(spec, clusters)) for spec in specs)
        return {spec: meta for spec, meta in found if meta is not None}

    def put(self, meta: FileMeta) -> None:
        """Store ``meta`` (the mapping may evict others: the run keeps what it read)."""
        self.mapping[meta.path, meta.treename] = meta


class MetadataCache:
    """On-disk cache of :class:`FileMeta`, one JSON record per file version, all in one
    SQLite database (``<directory>/metadata/records.sqlite``; safe to share between runs
    and processes: each put is a transaction).

    A location that cannot be written (read-only home, full disk) is reported
    once, as a warning on the ``colframe.preprocess`` logger, and the run goes on
    without storing records.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.directory = self.directory / "metadata"
        self.writable = True
        # the key seen before the file was read: a file changing while it is read
        # is then stored under its old version, never under its new one
        self._keys: dict[tuple[str, str], str | None] = {}
        self._db: sqlite3.Connection | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_db": None}  # a connection stays with its process

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            path = self.directory / "records.sqlite"
            if not create and not path.exists():
                return None
            if create:
                self.directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            # WAL: readers never wait for a writer; NORMAL: a commit does not fsync (a
            # crash may lose the last records, never leave one half-written)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, record TEXT)")
            self._db = db
        return self._db

    def _read_many(self, keys: list[str]) -> dict[str, str]:
        """The records stored under ``keys`` (those absent are left out), a batch per query."""
        db = self._connect(create=False)
        if db is None:
            return {}
        found: dict[str, str] = {}
        for first in range(0, len(keys), _BATCH):
            batch = keys[first : first + _BATCH]
            marks = ",".join("?" * len(batch))
            found.update(db.execute(f"{_SELECT} ({marks})", batch).fetchall())
        return found

    def _write(self, key: str, record: str) -> None:
        db = self._connect(create=True)
        assert db is not None
        db.execute(_INSERT, (key, record))

    def get(self, spec: FileSpec, clusters: bool = False) -> FileMeta | None:
        """The cached metadata of ``spec``, or None if absent or the file changed.

        With ``clusters``, a record without cluster starts counts as absent.
        """
        return self.get_many([spec], clusters).get(spec)

    def get_many(self, specs: Iterable[FileSpec], clusters: bool = False) -> dict[FileSpec, FileMeta]:
        """The cached metadata of those of ``specs`` that have a record (see :meth:`get`).

        Every file's key (its version) is taken first, then the records are read
        a batch of keys per query: a warm cache of 100,000 files is a few
        hundred queries, not 100,000.
        """
        directories: dict[str, str] = {}  # each directory resolved once
        keyed = {spec: self._key(spec, directories) for spec in specs}
        try:
            records = self._read_many(sorted({key for key in keyed.values() if key is not None}))
        except (OSError, sqlite3.Error):  # an unreadable cache is an empty one
            records = {}
        found: dict[FileSpec, FileMeta] = {}
        for spec, key in keyed.items():
            meta = _meta(spec, records.get(key), clusters) if key is not None else None
            if meta is None:  # read, then put: kept so the record goes under this version
                self._keys[spec.path, spec.treename] = key
            else:
                found[spec] = meta
        return found

    def put(self, meta: FileMeta) -> None:
        """Store ``meta`` atomically (a crash never leaves a half-written record)."""
        if not self.writable:
            return
        key = self._keys.pop((meta.path, meta.treename), None)
        key = key or self._key(FileSpec(meta.path, meta.treename))
        if key is None:
            return
        fields: dict[str, Any] = {"path": meta.path, "numentries": meta.numentries, "uuid": meta.uuid}
        if meta.clusters is not None:
            fields["clusters"] = list(meta.clusters)
        record = json.dumps(fields)
        try:
            self._write(key, record)
        except (OSError, sqlite3.Error) as err:
            self.writable = False
            log.warning(
                "the metadata cache %s cannot be written (%s: %s); running without it: set "
                "COLFRAME_CACHE_DIR or metadata_cache= to a writable directory, or "
                "metadata_cache=False",
                self.directory,
                type(err).__name__,
                err,
            )

    @staticmethod
    def _key(spec: FileSpec, directories: dict[str, str] | None = None) -> str | None:
        path = spec.path
        if "://" in path and not path.startswith("file://"):
            ident = f"{path}\0{_remote_version(path)}"
        else:
            local = path.removeprefix("file://")
            try:
                st = os.stat(local)  # noqa: PTH116  (no Path object per file of a big plan)
            except (OSError, ValueError):
                return None
            location = canonical_location(local, directories)
            ident = f"{location}\0{st.st_size}\0{st.st_mtime_ns}"
        return hashlib.sha256(f"{ident}\0{spec.treename}".encode()).hexdigest()[:32]


def _meta(spec: FileSpec, record: str | None, clusters: bool) -> FileMeta | None:
    """The FileMeta of ``spec`` in a cache ``record``; None when there is none or it is unreadable."""
    if record is None:
        return None
    try:
        fields = json.loads(record)
        starts = fields.get("clusters")
        if clusters and starts is None:
            return None
        return FileMeta(
            spec.path,
            spec.treename,
            int(fields["numentries"]),
            fields["uuid"],
            None if starts is None else tuple(int(x) for x in starts),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


_SELECT = "SELECT key, record FROM records WHERE key IN"
_INSERT = "INSERT OR REPLACE INTO records VALUES (?, ?)"
#: keys per query (SQLite before 3.32 allows at most 999 parameters)
_BATCH = 900


def _remote_version(url: str) -> str:
    """What the server says of the file's version (size, ETag, mtime), or "" when it cannot.

    One metadata request (an HTTP HEAD, an xrootd stat), far cheaper than opening
    the file; without it the chunks' own check (:func:`check_planned`) still
    refuses a file that changed.
    """
    try:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(url)
        info = fs.info(root)
    except Exception:  # noqa: BLE001  (no such protocol, server down, no HEAD: the open tells)
        return ""
    return "\0".join(f"{key}={info[key]}" for key in _VALIDATORS if info.get(key) is not None)
