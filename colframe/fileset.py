"""Fileset specifications: the coffea forms, normalized into typed records.

Accepted forms (``dataset`` is any string):

- ``{dataset: [path, ...]}`` with the tree name given separately;
- ``{dataset: {"treename": "Events", "files": [path, ...], "metadata": {...}}}``;
- ``{dataset: {"files": {path: treename, ...}, "metadata": {...}}}``;
- coffea's preprocessed form, ``{dataset: {"files": {path: {"object_path": "Events",
  "steps": [[start, stop], ...], "uuid": ..., "num_entries": ...}}, "metadata": {...}}}``:
  a file with ``steps`` is processed exactly over those entry ranges (this is
  what :meth:`colframe.RunReport.failed_fileset` writes);
- a path to a JSON file holding one of these.
"""

from __future__ import annotations

import difflib
import itertools
import json
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FilesetError

__all__ = [
    "RESERVED_METADATA",
    "Dataset",
    "FileSpec",
    "Preprocessed",
    "canonical_location",
    "is_count",
    "normalize_fileset",
]

RESERVED_METADATA = frozenset(
    {
        "dataset",
        "filename",
        "treename",
        "metadata",
        "entrystart",
        "entrystop",
        "fileuuid",
        "numentries",
        "uuid",
        "clusters",
        "preload",
    }
)
# "form" is what coffea's preprocess adds; colframe builds the form from the file itself
_DATASET_KEYS = frozenset({"files", "treename", "metadata", "form"})
_FILE_KEYS = frozenset({"object_path", "steps", "uuid", "num_entries"})


@dataclass(frozen=True)
class FileSpec:
    """One input file of a dataset and the tree to read from it."""

    path: str
    treename: str


@dataclass(frozen=True)
class Preprocessed:
    """What a preprocessed fileset says about one file.

    ``steps`` (sorted, non-overlapping ``(start, stop)`` ranges) replaces the
    chunking by ``chunksize``; ``uuid`` and ``num_entries``, when given, must
    match the file or the plan refuses it (the file changed since).
    """

    steps: tuple[tuple[int, int], ...] | None = None
    uuid: str | None = None
    num_entries: int | None = None


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files (in the user's order), user metadata, and
    per-file entry ranges for files given in the preprocessed form."""

    name: str
    files: tuple[FileSpec, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    preprocessed: Mapping[FileSpec, Preprocessed] = field(default_factory=dict)


def normalize_fileset(fileset: Any, treename: str | None = None) -> list[Dataset]:
    """Normalize any accepted fileset form into a list of :class:`Dataset`.

    Raises FilesetError naming the dataset and the key that is wrong.
    """
    if isinstance(fileset, str | os.PathLike):
        fileset = _load_json(Path(fileset))
    if not isinstance(fileset, Mapping):
        msg = (
            f"a fileset must be a dict {{dataset: files}} or a path to a JSON file, "
            f"not {type(fileset).__name__}"
        )
        raise FilesetError(msg)
    if not fileset:
        msg = "the fileset is empty: give at least one dataset"
        raise FilesetError(msg)
    if treename is not None and not isinstance(treename, str):
        msg = f"treename must be a string such as 'Events', not {treename!r}"
        raise FilesetError(msg)
    datasets = []
    for name, spec in fileset.items():
        try:
            datasets.append(_dataset(name, spec, treename))
        except FilesetError as err:
            if name in _DATASET_KEYS:
                err.add_note(
                    f"{name!r} is a dataset key: it belongs inside a dataset, "
                    f"{{'my_dataset': {{{name!r}: ...}}}}"
                )
            raise
    return datasets


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"fileset file {str(path)!r} does not exist"
        raise FilesetError(msg) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path, or not text
        msg = f"cannot read fileset file {str(path)!r}: {type(err).__name__}: {err}"
        raise FilesetError(msg) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"fileset file {str(path)!r} is not valid JSON: {err}"
        raise FilesetError(msg) from None


def _dataset(name: Any, spec: Any, treename: str | None) -> Dataset:
    if not isinstance(name, str) or not name:
        msg = f"dataset names must be non-empty strings, got {name!r}"
        raise FilesetError(msg)
    metadata: Mapping[str, Any] = {}
    if isinstance(spec, Mapping):
        _check_keys(f"dataset {name!r}", spec, _DATASET_KEYS)
        if "files" not in spec:
            msg = f"dataset {name!r}: missing key 'files'"
            raise FilesetError(msg)
        treename = spec.get("treename", treename)
        metadata = _metadata(name, spec.get("metadata"))
        files = spec["files"]
    else:
        files = spec
    specs, preprocessed = _files(name, files, treename)
    return Dataset(name, specs, metadata, preprocessed)


def _check_keys(where: str, spec: Mapping, allowed: frozenset[str]) -> None:
    unknown = sorted(map(str, set(spec) - allowed))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    msg = f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(allowed)}{hint}"
    raise FilesetError(msg)


def _metadata(name: str, metadata: Any) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        msg = f"dataset {name!r}: 'metadata' must be a dict, not {type(metadata).__name__}"
        raise FilesetError(msg)
    reserved = sorted(set(metadata) & RESERVED_METADATA)
    if reserved:
        msg = (
            f"dataset {name!r}: metadata key(s) {reserved} are reserved by colframe "
            f"(they are filled per chunk); rename them"
        )
        raise FilesetError(msg)
    return dict(metadata)


def _files(
    name: str, files: Any, treename: str | None
) -> tuple[tuple[FileSpec, ...], dict[FileSpec, Preprocessed]]:
    preprocessed: dict[FileSpec, Preprocessed] = {}
    if isinstance(files, Mapping):
        specs = []
        for path, entry in files.items():
            if isinstance(entry, Mapping):
                tree = entry.get("object_path", treename)
                spec = FileSpec(_path(name, path), _tree(name, path, tree))
                preprocessed[spec] = _preprocessed(f"dataset {name!r}: file {spec.path!r}", entry)
            else:
                tree = entry if entry is not None else treename
                spec = FileSpec(_path(name, path), _tree(name, path, tree))
            specs.append(spec)
        result = tuple(specs)
    elif isinstance(files, Sequence) and not isinstance(files, str | bytes):
        result = tuple(FileSpec(_path(name, p), _tree(name, p, treename)) for p in files)
    else:
        msg = (
            f"dataset {name!r}: 'files' must be a list of paths, a dict {{path: treename}} or "
            f"{{path: {{'object_path': ..., 'steps': ...}}}}, not {type(files).__name__}"
        )
        raise FilesetError(msg)
    if not result:
        msg = f"dataset {name!r} has no files"
        raise FilesetError(msg)
    seen: dict[tuple[str, str], str] = {}
    directories: dict[str, str] = {}
    for spec in result:
        key = (canonical_location(spec.path, directories), spec.treename)
        if key in seen:
            also = "" if seen[key] == spec.path else f" (also as {seen[key]!r})"
            msg = (
                f"dataset {name!r}: file {spec.path!r} (tree {spec.treename!r}) is listed "
                f"twice{also}; its events would be counted twice"
            )
            raise FilesetError(msg)
        seen[key] = spec.path
    return result, preprocessed


def canonical_location(path: str, directories: dict[str, str] | None = None) -> str:
    """One spelling per file: local paths (and ``file://`` URLs) absolute, with symlinks,
    ``//`` and ``..`` resolved; other URLs as given (their server decides what they name).

    ``directories``, a dict kept by the caller over one pass on many files, holds
    the directories already resolved: each file then costs one ``lstat`` (is it a
    symlink?) instead of one per component of its path. Keep it for one pass
    only: a symlink changed later would not be seen.

    Files reached through different URLs are told apart by their ROOT UUID once
    preprocessed (see :func:`colframe.plan.make_work_items`).
    """
    if "://" in path and not path.startswith("file://"):
        return path
    local = path.removeprefix("file://")
    try:
        if directories is None:
            return os.path.realpath(local)
        head, tail = os.path.split(local)
        if tail in ("", ".", ".."):
            return os.path.realpath(local)
        real = directories.get(head)
        if real is None:
            real = directories[head] = os.path.realpath(head)
        # the resolved directory, then the name in it: what realpath does, in that order
        # (os.path, not pathlib: this runs once per file, 100,000 times in a big plan)
        joined = os.path.join(real, tail)  # noqa: PTH118
        return os.path.realpath(joined) if os.path.islink(joined) else joined  # noqa: PTH114
    except (OSError, ValueError):  # a NUL in the path: the open reports it
        return local


def _preprocessed(where: str, entry: Mapping) -> Preprocessed:
    _check_keys(where, entry, _FILE_KEYS)
    uuid = entry.get("uuid")
    if uuid is not None and not isinstance(uuid, str):
        msg = f"{where}: 'uuid' must be a string, got {uuid!r}"
        raise FilesetError(msg)
    num_entries = entry.get("num_entries")
    if num_entries is not None and not is_count(num_entries):
        msg = f"{where}: 'num_entries' must be an integer >= 0, got {num_entries!r}"
        raise FilesetError(msg)
    steps = entry.get("steps")
    num_entries = None if num_entries is None else int(num_entries)
    return Preprocessed(None if steps is None else _steps(where, steps), uuid, num_entries)


def _steps(where: str, steps: Any) -> tuple[tuple[int, int], ...]:
    usage = "'steps' must be a non-empty list of [start, stop] entry ranges"
    if not isinstance(steps, Sequence) or isinstance(steps, str | bytes) or not steps:
        msg = f"{where}: {usage}, got {steps!r}; omit 'steps' to process the whole file"
        raise FilesetError(msg)
    ranges = []
    for step in steps:
        if (
            not isinstance(step, Sequence)
            or isinstance(step, str | bytes)
            or len(step) != 2
            or not all(is_count(bound) for bound in step)
            or step[0] > step[1]
        ):
            msg = f"{where}: {usage} with 0 <= start <= stop, got the step {step!r}"
            raise FilesetError(msg)
        ranges.append((int(step[0]), int(step[1])))
    ranges.sort()
    for (start, stop), (next_start, next_stop) in itertools.pairwise(ranges):
        if next_start < stop:
            msg = (
                f"{where}: steps [{start}, {stop}) and [{next_start}, {next_stop}) overlap; "
                f"their common entries would be counted twice"
            )
            raise FilesetError(msg)
    return tuple(ranges)


def is_count(value: Any, minimum: int = 0) -> bool:
    """Whether ``value`` is an integer (``int``, ``numpy.int64``, ...; not a bool) >= ``minimum``."""
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return integral and type(value).__name__ != "bool_" and value >= minimum


def _path(name: str, path: Any) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        msg = f"dataset {name!r}: file paths must be non-empty strings, got {path!r}"
        raise FilesetError(msg)
    return path


def _tree(name: str, path: str, treename: Any) -> str:
    if treename is None:
        msg = (
            f"dataset {name!r}: no tree name for file {path!r}; pass treename='Events' "
            f"or give {{'treename': ...}} in the dataset"
        )
        raise FilesetError(msg)
    if not isinstance(treename, str) or not treename:
        msg = f"dataset {name!r}: tree name for file {path!r} must be a string, got {treename!r}"
        raise FilesetError(msg)
    return treename
