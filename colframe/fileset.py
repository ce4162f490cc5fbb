"""Fileset specifications: the coffea forms, normalized into typed records.

Accepted forms (``dataset`` is any string):

- ``{dataset: [path, ...]}`` with the tree name given separately;
- ``{dataset: {"treename": "Events", "files": [path, ...], "metadata": {...}}}``;
- ``{dataset: {"files": {path: treename, ...}, "metadata": {...}}}``;
- a path to a JSON file holding one of these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FilesetError

__all__ = ["RESERVED_METADATA", "Dataset", "FileSpec", "normalize_fileset"]

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
_DATASET_KEYS = frozenset({"files", "treename", "metadata"})


@dataclass(frozen=True)
class FileSpec:
    """One input file of a dataset and the tree to read from it."""

    path: str
    treename: str


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files (in the user's order) and user metadata."""

    name: str
    files: tuple[FileSpec, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


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
    return [_dataset(name, spec, treename) for name, spec in fileset.items()]


def _load_json(path: Path) -> Any:
    try:
        with path.open() as stream:
            return json.load(stream)
    except FileNotFoundError:
        msg = f"fileset file {str(path)!r} does not exist"
        raise FilesetError(msg) from None
    except json.JSONDecodeError as err:
        msg = f"fileset file {str(path)!r} is not valid JSON: {err}"
        raise FilesetError(msg) from None


def _dataset(name: Any, spec: Any, treename: str | None) -> Dataset:
    if not isinstance(name, str) or not name:
        msg = f"dataset names must be non-empty strings, got {name!r}"
        raise FilesetError(msg)
    metadata: Mapping[str, Any] = {}
    if isinstance(spec, Mapping):
        unknown = set(spec) - _DATASET_KEYS
        if unknown:
            msg = (
                f"dataset {name!r}: unknown key(s) {sorted(map(str, unknown))}; "
                f"allowed keys are {sorted(_DATASET_KEYS)}"
            )
            raise FilesetError(msg)
        if "files" not in spec:
            msg = f"dataset {name!r}: missing key 'files'"
            raise FilesetError(msg)
        treename = spec.get("treename", treename)
        metadata = _metadata(name, spec.get("metadata"))
        files = spec["files"]
    else:
        files = spec
    return Dataset(name, _files(name, files, treename), metadata)


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


def _files(name: str, files: Any, treename: str | None) -> tuple[FileSpec, ...]:
    if isinstance(files, Mapping):
        specs = []
        for path, tree in files.items():
            tree = tree if tree is not None else treename
            specs.append(FileSpec(_path(name, path), _tree(name, path, tree)))
        result = tuple(specs)
    elif isinstance(files, Sequence) and not isinstance(files, str | bytes):
        result = tuple(FileSpec(_path(name, p), _tree(name, p, treename)) for p in files)
    else:
        msg = (
            f"dataset {name!r}: 'files' must be a list of paths or a dict {{path: treename}}, "
            f"not {type(files).__name__}"
        )
        raise FilesetError(msg)
    if not result:
        msg = f"dataset {name!r} has no files"
        raise FilesetError(msg)
    seen: set[tuple[str, str]] = set()
    for spec in result:
        key = (spec.path, spec.treename)
        if key in seen:
            msg = (
                f"dataset {name!r}: file {spec.path!r} (tree {spec.treename!r}) is listed "
                f"twice; its events would be counted twice"
            )
            raise FilesetError(msg)
        seen.add(key)
    return result


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
