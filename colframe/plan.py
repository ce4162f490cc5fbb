"""Planning: cut files into chunks of entries (pure functions, no I/O).

The plan is the list of :class:`WorkItem` the executors run. Its identity
``(fileuuid, treename, entrystart, entrystop)`` is stable across runs, which is
what checkpoints and failure reports key on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import FilesetError
from .fileset import Dataset, FileSpec, Preprocessed, canonical_location, is_count

__all__ = [
    "FileMeta",
    "WorkItem",
    "check_chunksize",
    "check_maxchunks",
    "chunk_ranges",
    "datasets_of",
    "files_to_preprocess",
    "make_work_items",
]

#: how files are cut: "even" (sizes differ by at most one) or "coffea" (coffea's boundaries)
CHUNKINGS = ("even", "coffea")


@dataclass(frozen=True)
class FileMeta:
    """What preprocessing learns about one file: its entry count and ROOT UUID.

    ``clusters`` (when asked for, ``align_clusters``) are the entries where the
    file's clusters start, ending with the entry count.
    """

    path: str
    treename: str
    numentries: int
    uuid: str
    clusters: tuple[int, ...] | None = None


@dataclass(frozen=True)
class WorkItem:
    """One chunk of one file: the unit of work executors run.

    Equality and hashing ignore ``usermeta`` (as coffea's WorkItem does) and
    ``numentries``, the file's entry count when it was planned (checked when the
    chunk opens the file, with the UUID: see :func:`colframe.preprocess.check_planned`).
    """

    dataset: str
    filename: str
    treename: str
    entrystart: int
    entrystop: int
    fileuuid: str
    usermeta: Mapping[str, Any] | None = field(default=None, compare=False)
    numentries: int | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return self.entrystop - self.entrystart

    def describe(self) -> str:
        """Human-readable identity used in error messages and reports."""
        return (
            f"dataset={self.dataset} file={self.filename} tree={self.treename} "
            f"entries [{self.entrystart}, {self.entrystop})"
        )


def chunk_ranges(
    numentries: int,
    chunksize: int,
    chunking: str = "even",
    clusters: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """Cut ``numentries`` into ranges of about ``chunksize`` entries.

    The number of chunks is coffea's, ``n = max(round(N / chunksize), 1)``. With
    ``chunking="even"`` the entries are spread evenly (sizes differ by at most
    one); with ``"coffea"`` the chunks are coffea's (``ceil(N / n)`` entries each,
    a shorter last one), so a plan equals coffea's. With ``clusters`` (cluster
    starts ending with ``numentries``) chunks start on cluster boundaries, a new
    one once ``chunksize`` entries are reached, as coffea's ``align_clusters``.
    An empty file gives one empty range ``(0, 0)`` so the processor still sees
    the dataset (as in coffea).
    """
    chunksize = check_chunksize(chunksize)
    if chunking not in CHUNKINGS:
        msg = f"chunking must be one of {CHUNKINGS}, not {chunking!r}"
        raise FilesetError(msg)
    if numentries < 0:
        msg = f"numentries must be >= 0, got {numentries}"
        raise ValueError(msg)
    if numentries == 0:
        return [(0, 0)]
    if clusters:
        bounds = [0]
        for start in clusters:
            if start >= bounds[-1] + chunksize:
                bounds.append(start)
        if bounds[-1] != numentries:
            bounds.append(numentries)
        return list(itertools.pairwise(bounds))
    nchunks = max(round(numentries / chunksize), 1)
    if chunking == "coffea":
        size = -(-numentries // nchunks)
        bounds = [min(i * size, numentries) for i in range(nchunks + 1)]
        return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    bounds = [i * numentries // nchunks for i in range(nchunks + 1)]
    return list(itertools.pairwise(bounds))


def files_to_preprocess(datasets: Iterable[Dataset], maxchunks: int | None) -> list[FileSpec]:
    """Files whose metadata the plan needs, in order and without repeats.

    With ``maxchunks`` only the first ``maxchunks`` files of each dataset are
    needed: every file yields at least one chunk. A file listed by several
    datasets, under any spelling of its location (``a//b.root``, a symlink,
    ``file://``), is read once.
    """
    check_maxchunks(maxchunks)
    needed: dict[tuple[str, str], FileSpec] = {}
    for dataset in datasets:
        files = dataset.files if maxchunks is None else dataset.files[:maxchunks]
        for spec in files:
            needed.setdefault((canonical_location(spec.path), spec.treename), spec)
    return list(needed.values())


def make_work_items(
    datasets: Iterable[Dataset],
    metas: Mapping[FileSpec, FileMeta],
    chunksize: int,
    maxchunks: int | None = None,
    chunking: str = "even",
) -> list[WorkItem]:
    """Cut every dataset's files into WorkItems; ``maxchunks`` caps chunks per dataset.

    ``chunking`` and the files' ``clusters`` (when preprocessed with them) say
    where chunks start (see :func:`chunk_ranges`).

    A file with explicit steps (preprocessed form) is cut exactly at those steps,
    whatever ``chunksize``. Files missing from ``metas`` (skipped as bad during
    preprocessing) are left out; a file read under another spelling of its
    location is found under that one. Raises FilesetError when the steps, UUID or
    entry count given for a file do not fit the file, or when one dataset lists
    one file (one ROOT UUID) under two locations.
    """
    chunksize = check_chunksize(chunksize)
    check_maxchunks(maxchunks)
    located = {(canonical_location(s.path), s.treename): meta for s, meta in metas.items()}
    items: list[WorkItem] = []
    for dataset in datasets:
        count = 0
        seen: dict[tuple[str, str], str] = {}
        for spec in dataset.files:
            meta = metas.get(spec) or located.get((canonical_location(spec.path), spec.treename))
            if meta is None:
                continue
            _check_same_file(dataset.name, spec, meta, seen)
            given = dataset.preprocessed.get(spec)
            ranges: Sequence[tuple[int, int]]
            if given is None:
                ranges = chunk_ranges(meta.numentries, chunksize, chunking, meta.clusters)
            else:
                ranges = _given_ranges(dataset.name, meta, given, chunksize, chunking)
            for start, stop in ranges:
                if maxchunks is not None and count >= maxchunks:
                    break
                items.append(
                    WorkItem(
                        dataset.name,
                        spec.path,
                        spec.treename,
                        start,
                        stop,
                        meta.uuid,
                        dict(dataset.metadata) or None,
                        meta.numentries,
                    )
                )
                count += 1
    return items


def _check_same_file(
    dataset: str, spec: FileSpec, meta: FileMeta, seen: dict[tuple[str, str], str]
) -> None:
    """Refuse a dataset listing one file twice under locations that differ (same UUID)."""
    other = seen.setdefault((meta.uuid, spec.treename), spec.path)
    if other != spec.path:
        msg = (
            f"dataset {dataset!r}: {other!r} and {spec.path!r} are the same file (ROOT UUID "
            f"{meta.uuid}, tree {spec.treename!r}); its events would be counted twice: list it once"
        )
        raise FilesetError(msg)


def _given_ranges(
    dataset: str, meta: FileMeta, given: Preprocessed, chunksize: int, chunking: str
) -> Sequence[tuple[int, int]]:
    where = f"dataset {dataset!r}: file {meta.path!r}"
    regenerate = "the file changed since the fileset was written; regenerate the fileset"
    if given.uuid is not None and given.uuid != meta.uuid:
        msg = f"{where} has UUID {meta.uuid}, the fileset says {given.uuid}: {regenerate}"
        raise FilesetError(msg)
    if given.num_entries is not None and given.num_entries != meta.numentries:
        msg = (
            f"{where} has {meta.numentries} entries, the fileset says {given.num_entries}: "
            f"{regenerate}"
        )
        raise FilesetError(msg)
    if given.steps is None:
        return chunk_ranges(meta.numentries, chunksize, chunking, meta.clusters)
    if given.steps[-1][1] > meta.numentries:
        start, stop = given.steps[-1]
        msg = f"{where}: step [{start}, {stop}) goes beyond the file's {meta.numentries} entries"
        raise FilesetError(msg)
    return given.steps


def datasets_of(items: Iterable[WorkItem]) -> list[Dataset]:
    """The datasets of already planned chunks (``Runner.preprocess``'s output), in order.

    Each file's chunks become its steps, so the report of a run over these
    chunks (coverage, ``failed_fileset()``) reads as for any fileset.
    """
    files: dict[str, dict[FileSpec, list[tuple[int, int]]]] = {}
    metadata: dict[str, Mapping[str, Any]] = {}
    uuids: dict[tuple[str, FileSpec], WorkItem] = {}
    for item in items:
        spec = FileSpec(item.filename, item.treename)
        files.setdefault(item.dataset, {}).setdefault(spec, []).append(
            (item.entrystart, item.entrystop)
        )
        metadata.setdefault(item.dataset, dict(item.usermeta or {}))
        uuids.setdefault((item.dataset, spec), item)
    return [
        Dataset(
            name,
            tuple(specs),
            metadata[name],
            {
                spec: Preprocessed(
                    tuple(sorted(steps)),
                    uuids[name, spec].fileuuid,
                    uuids[name, spec].numentries,
                )
                for spec, steps in specs.items()
            },
        )
        for name, specs in files.items()
    ]


def check_chunksize(chunksize: Any) -> int:
    """``chunksize`` as an int; FilesetError unless it is an integer >= 1 (numpy's too)."""
    if not is_count(chunksize, 1):
        msg = f"chunksize must be a positive number of entries, got {chunksize!r}"
        raise FilesetError(msg)
    return int(chunksize)


def check_maxchunks(maxchunks: Any) -> int | None:
    """``maxchunks`` as an int or None; FilesetError unless it is None or an integer >= 1."""
    if maxchunks is None:
        return None
    if not is_count(maxchunks, 1):
        msg = f"maxchunks must be a positive integer or None, got {maxchunks!r}"
        raise FilesetError(msg)
    return int(maxchunks)
