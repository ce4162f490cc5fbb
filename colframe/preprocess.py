"""Preprocessing: read each file's entry count and UUID, cached on disk.

The cache is a directory of small JSON records keyed by the file's path, size
and modification time (local files) or its URL (remote files), so a second run
over unchanged files opens none of them for metadata.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import uuid
from pathlib import Path

from .errors import TreeNotFoundError
from .fileset import FileSpec
from .plan import FileMeta
from .serialize import atomic_write

__all__ = ["MetadataCache", "default_cache_dir", "fetch_metadata", "open_tree"]


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
    import uproot

    try:
        file = uproot.open(path, **uproot_options)
    except (OSError, ValueError) as err:
        if isinstance(err, OSError):
            raise
        # uproot raises ValueError for files that are not ROOT files or are truncated
        msg = f"cannot read {path!r} as a ROOT file: {err}"
        raise OSError(msg) from err
    try:
        tree = file[treename]
    except uproot.KeyInFileError as err:
        names = sorted({key.split(";")[0] for key in file.keys(recursive=True)})
        close = difflib.get_close_matches(treename, names, n=3, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        msg = f"file {path!r} has no tree {treename!r} (it holds {names}){hint}"
        file.close()
        raise TreeNotFoundError(msg) from err
    if not hasattr(tree, "num_entries"):
        msg = f"{treename!r} in {path!r} is a {type(tree).__name__}, not a TTree"
        file.close()
        raise TreeNotFoundError(msg)
    return file, tree


def fetch_metadata(spec: FileSpec) -> FileMeta:
    """Open one file and return its entry count and UUID (runs on workers)."""
    file, tree = open_tree(spec.path, spec.treename)
    try:
        fuuid = str(uuid.UUID(bytes=file.file.fUUID))
        return FileMeta(spec.path, spec.treename, int(tree.num_entries), fuuid)
    finally:
        file.close()


class MetadataCache:
    """On-disk cache of :class:`FileMeta`, one JSON record per file version."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.directory = self.directory / "metadata"

    def get(self, spec: FileSpec) -> FileMeta | None:
        """The cached metadata of ``spec``, or None if absent or the file changed."""
        key = self._key(spec)
        if key is None:
            return None
        try:
            record = json.loads((self.directory / f"{key}.json").read_text())
            return FileMeta(spec.path, spec.treename, int(record["numentries"]), record["uuid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, meta: FileMeta) -> None:
        """Store ``meta`` atomically (a crash never leaves a half-written record)."""
        key = self._key(FileSpec(meta.path, meta.treename))
        if key is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"path": meta.path, "numentries": meta.numentries, "uuid": meta.uuid})
        with atomic_write(self.directory / f"{key}.json", durable=False) as stream:
            stream.write(record.encode())

    @staticmethod
    def _key(spec: FileSpec) -> str | None:
        path = spec.path
        if "://" in path and not path.startswith("file://"):
            ident = path  # remote: no cheap stat, the URL is the identity
        else:
            local = path.removeprefix("file://")
            try:
                st = Path(local).stat()
            except OSError:
                return None
            ident = f"{Path(local).resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
        return hashlib.sha256(f"{ident}\0{spec.treename}".encode()).hexdigest()[:32]
