"""Planning: cut files into chunks of entries (pure functions, no I/O).

The plan is the list of :class:`WorkItem` the executors run. Its identity
``(fileuuid, treename, entrystart, entrystop)`` is stable across runs, which is
what checkpoints and failure reports key on.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .errors import FilesetError
from .fileset import Dataset, FileSpec, Preprocessed, canonical_location, is_count

__all__ = [
    "FileMeta",
    "Plan",
    "WorkItem",
    "check_chunking",
    "check_chunksize",
    "check_maxchunks",
    "chunk_ranges",
    "coalesce",
    "datasets_of",
    "files_to_preprocess",
    "make_work_items",
    "plan_chunks",
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
    check_chunking(chunking)
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
    directories: dict[str, str] = {}
    for dataset in datasets:
        files = dataset.files if maxchunks is None else dataset.files[:maxchunks]
        for spec in files:
            needed.setdefault((canonical_location(spec.path, directories), spec.treename), spec)
    return list(needed.values())


class _File:
    """The chunks of one file of one dataset: even ranges of ``total`` chunks, or ``steps``;
    the first ``count`` of them are planned (``maxchunks`` may cut a file short)."""

    __slots__ = ("count", "dataset", "numentries", "path", "steps", "total", "treename", "usermeta", "uuid")
    numentries: int | None  # None only for chunks planned without it (Plan.of)

    def __init__(
        self,
        dataset: str,
        spec: FileSpec,
        meta: FileMeta,
        usermeta: Mapping[str, Any] | None,
        steps: Sequence[tuple[int, int]] | None,
        chunksize: int,
    ) -> None:
        self.dataset, self.path, self.treename = dataset, spec.path, spec.treename
        self.uuid, self.numentries, self.usermeta = meta.uuid, meta.numentries, usermeta
        self.steps = steps
        if steps is not None:
            self.total = len(steps)
        else:  # as chunk_ranges: coffea's chunk count, an empty file is one (0, 0)
            self.total = max(round(meta.numentries / chunksize), 1) if meta.numentries else 1
        self.count = self.total

    @classmethod
    def of_items(cls, items: Sequence[WorkItem]) -> _File:
        """The record of consecutive planned chunks of one file, their ranges as steps."""
        first = items[0]
        file = cls.__new__(cls)
        file.dataset, file.path, file.treename = first.dataset, first.filename, first.treename
        file.uuid, file.numentries, file.usermeta = first.fileuuid, first.numentries, first.usermeta
        file.steps = [(item.entrystart, item.entrystop) for item in items]
        file.total = file.count = len(items)
        return file

    def span(self, index: int) -> tuple[int, int]:
        if self.steps is not None:
            start, stop = self.steps[index]
            return int(start), int(stop)
        entries = self.numentries or 0  # even ranges: always planned with numentries
        return index * entries // self.total, (index + 1) * entries // self.total

    def events(self) -> int:
        if self.steps is None:
            return self.span(self.count - 1)[1] - self.span(0)[0] if self.count else 0
        return sum(stop - start for start, stop in self.steps[: self.count])

    def item(self, index: int) -> WorkItem:
        start, stop = self.span(index)
        usermeta = dict(self.usermeta) if self.usermeta else None  # each chunk its own copy
        return WorkItem(
            self.dataset, self.path, self.treename, start, stop, self.uuid, usermeta, self.numentries
        )


class Plan(Sequence[WorkItem]):
    """The chunks of a run in plan order, stored per file: its memory grows with the files,
    not the chunks (ten million chunks of 100,000 files are 100,000 small records).

    A read-only sequence of :class:`WorkItem`, each made when it is asked for;
    ``events`` is the number of entries of all chunks. :meth:`coverage` and
    :meth:`uuids` summarize the plan per file without making a WorkItem per chunk.
    """

    def __init__(self) -> None:
        self._files: list[_File] = []
        self._first: list[int] = []  # plan index of each file's first chunk
        self._len = 0
        self.events = 0

    @classmethod
    def of(cls, items: Iterable[WorkItem]) -> Plan:
        """The plan of chunks already planned (``Runner.preprocess``'s), in their order:
        each run of consecutive chunks of one file is one record with those steps."""
        plan = cls()
        run: list[WorkItem] = []
        for item in items:
            if run and not _same_file(run[0], item):
                plan._add(_File.of_items(run))
                run = []
            run.append(item)
        if run:
            plan._add(_File.of_items(run))
        return plan

    def _add(self, file: _File) -> None:
        self._files.append(file)
        self._first.append(self._len)
        self._len += file.count
        self.events += file.events()

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> WorkItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[WorkItem]: ...

    def __getitem__(self, index: int | slice) -> WorkItem | list[WorkItem]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        position = index + self._len if index < 0 else index
        if not 0 <= position < self._len:
            msg = f"chunk {index} is not in the plan of {self._len} chunks"
            raise IndexError(msg)
        file = bisect.bisect_right(self._first, position) - 1
        return self._files[file].item(position - self._first[file])

    def __iter__(self) -> Iterator[WorkItem]:
        for file in self._files:
            for index in range(file.count):
                yield file.item(index)

    def uuids(self) -> dict[str, str]:
        """The ROOT UUID of every planned file, by path."""
        return {file.path: file.uuid for file in self._files}

    def coverage(self, done: bytes | bytearray | None = None) -> dict[tuple[str, str, str], list]:
        """The entry ranges of the chunks marked in ``done`` (``done[i]`` true for chunk
        ``i``; all chunks when None) by (dataset, file, tree), adjacent ranges joined: what
        :func:`colframe.report.coverage` gives for those chunks, in time that grows with
        the files and the chunks missing, not every chunk."""
        ranges: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
        for file, first in zip(self._files, self._first, strict=True):
            key = (file.dataset, file.path, file.treename)
            marks = None if done is None else done[first : first + file.count]
            if marks is not None and not marks.count(0):
                marks = None  # every chunk of the file is done
            if file.steps is None and marks is None:  # even ranges touch: one span
                spans = [(file.span(0)[0], file.span(file.count - 1)[1])]
            else:
                spans = [file.span(i) for i in range(file.count) if marks is None or marks[i]]
            ranges.setdefault(key, []).extend(spans)
        return {key: coalesce(spans) for key, spans in ranges.items() if spans}


def _same_file(a: WorkItem, b: WorkItem) -> bool:
    return (a.dataset, a.filename, a.treename, a.fileuuid, a.numentries, a.usermeta) == (
        b.dataset,
        b.filename,
        b.treename,
        b.fileuuid,
        b.numentries,
        b.usermeta,
    )


def coalesce(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, overlapping and adjacent ranges joined."""
    joined: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], stop))
        else:
            joined.append((start, stop))
    return joined


def make_work_items(
    datasets: Iterable[Dataset],
    metas: Mapping[FileSpec, FileMeta],
    chunksize: int,
    maxchunks: int | None = None,
    chunking: str = "even",
) -> list[WorkItem]:
    """The chunks of :func:`plan_chunks` as a list (one WorkItem per chunk, all held)."""
    return list(plan_chunks(datasets, metas, chunksize, maxchunks, chunking))


def plan_chunks(
    datasets: Iterable[Dataset],
    metas: Mapping[FileSpec, FileMeta],
    chunksize: int,
    maxchunks: int | None = None,
    chunking: str = "even",
) -> Plan:
    """Cut every dataset's files into chunks; ``maxchunks`` caps chunks per dataset.

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
    check_chunking(chunking)
    located: dict[tuple[str, str], FileMeta] | None = None  # only when a spelling differs
    directories: dict[str, str] = {}
    plan = Plan()
    for dataset in datasets:
        count = 0
        seen: dict[tuple[str, str], str] = {}
        usermeta = dict(dataset.metadata) or None
        for spec in dataset.files:
            meta = metas.get(spec)
            if meta is None:
                if located is None:
                    located = {
                        (canonical_location(s.path, directories), s.treename): m
                        for s, m in metas.items()
                    }
                meta = located.get((canonical_location(spec.path, directories), spec.treename))
                if meta is None:
                    continue
            _check_same_file(dataset.name, spec, meta, seen)
            given = dataset.preprocessed.get(spec)
            steps = None if given is None else _given_ranges(dataset.name, meta, given)
            if steps is None:
                steps = _planned_ranges(meta, chunksize, chunking)
            file = _File(dataset.name, spec, meta, usermeta, steps, chunksize)
            if maxchunks is not None:
                file.count = max(0, min(file.total, maxchunks - count))
            if file.count:
                plan._add(file)
                count += file.count
    return plan


def _planned_ranges(
    meta: FileMeta, chunksize: int, chunking: str
) -> Sequence[tuple[int, int]] | None:
    """A file's chunks when no steps are given: None when they are even ranges
    (computed per chunk), else ``chunking="coffea"``'s or the cluster-aligned ones."""
    if chunking == "even" and not meta.clusters:
        if meta.numentries < 0:
            msg = f"numentries must be >= 0, got {meta.numentries}"
            raise ValueError(msg)
        return None
    return chunk_ranges(meta.numentries, chunksize, chunking, meta.clusters)


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
    dataset: str, meta: FileMeta, given: Preprocessed
) -> Sequence[tuple[int, int]] | None:
    """The steps given for a file, checked against it; None when none are given."""
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
        return None
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


def check_chunking(chunking: Any) -> str:
    """``chunking`` itself; FilesetError unless it is one of :data:`CHUNKINGS`."""
    if chunking not in CHUNKINGS:
        msg = f"chunking must be one of {CHUNKINGS}, not {chunking!r}"
        raise FilesetError(msg)
    return str(chunking)


def check_maxchunks(maxchunks: Any) -> int | None:
    """``maxchunks`` as an int or None; FilesetError unless it is None or an integer >= 1."""
    if maxchunks is None:
        return None
    if not is_count(maxchunks, 1):
        msg = f"maxchunks must be a positive integer or None, got {maxchunks!r}"
        raise FilesetError(msg)
    return int(maxchunks)
