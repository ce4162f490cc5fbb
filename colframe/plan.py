"""Planning: cut files into chunks of entries (pure functions, no I/O).

The plan is the list of :class:`WorkItem` the executors run. Its identity
``(fileuuid, treename, entrystart, entrystop)`` is stable across runs, which is
what checkpoints and failure reports key on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import FilesetError
from .fileset import Dataset, FileSpec, Preprocessed, is_count

__all__ = ["FileMeta", "WorkItem", "chunk_ranges", "files_to_preprocess", "make_work_items"]


@dataclass(frozen=True)
class FileMeta:
    """What preprocessing learns about one file: its entry count and ROOT UUID."""

    path: str
    treename: str
    numentries: int
    uuid: str


@dataclass(frozen=True)
class WorkItem:
    """One chunk of one file: the unit of work executors run.

    Equality and hashing ignore ``usermeta`` (as coffea's WorkItem does).
    """

    dataset: str
    filename: str
    treename: str
    entrystart: int
    entrystop: int
    fileuuid: str
    usermeta: Mapping[str, Any] | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return self.entrystop - self.entrystart

    def describe(self) -> str:
        """Human-readable identity used in error messages and reports."""
        return (
            f"dataset={self.dataset} file={self.filename} tree={self.treename} "
            f"entries [{self.entrystart}, {self.entrystop})"
        )


def chunk_ranges(numentries: int, chunksize: int) -> list[tuple[int, int]]:
    """Cut ``numentries`` into near-equal ranges of about ``chunksize`` entries.

    The number of chunks is coffea's, ``n = max(round(N / chunksize), 1)``, but
    the entries are spread evenly (sizes differ by at most one, where coffea
    leaves a short last chunk). An empty file gives one empty range ``(0, 0)``
    so the processor still sees the dataset (as in coffea).
    """
    _check_chunksize(chunksize)
    if numentries < 0:
        msg = f"numentries must be >= 0, got {numentries}"
        raise ValueError(msg)
    if numentries == 0:
        return [(0, 0)]
    nchunks = max(round(numentries / chunksize), 1)
    bounds = [i * numentries // nchunks for i in range(nchunks + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def files_to_preprocess(datasets: Iterable[Dataset], maxchunks: int | None) -> list[FileSpec]:
    """Files whose metadata the plan needs, in order and without repeats.

    With ``maxchunks`` only the first ``maxchunks`` files of each dataset are
    needed: every file yields at least one chunk.
    """
    _check_maxchunks(maxchunks)
    needed: dict[FileSpec, None] = {}
    for dataset in datasets:
        files = dataset.files if maxchunks is None else dataset.files[:maxchunks]
        needed.update(dict.fromkeys(files))
    return list(needed)


def make_work_items(
    datasets: Iterable[Dataset],
    metas: Mapping[FileSpec, FileMeta],
    chunksize: int,
    maxchunks: int | None = None,
) -> list[WorkItem]:
    """Cut every dataset's files into WorkItems; ``maxchunks`` caps chunks per dataset.

    A file with explicit steps (preprocessed form) is cut exactly at those steps,
    whatever ``chunksize``. Files missing from ``metas`` (skipped as bad during
    preprocessing) are left out. Raises FilesetError when the steps, UUID or
    entry count given for a file do not fit the file.
    """
    _check_chunksize(chunksize)
    _check_maxchunks(maxchunks)
    items: list[WorkItem] = []
    for dataset in datasets:
        count = 0
        for spec in dataset.files:
            meta = metas.get(spec)
            if meta is None:
                continue
            given = dataset.preprocessed.get(spec)
            if given is None:
                ranges = chunk_ranges(meta.numentries, chunksize)
            else:
                ranges = _given_ranges(dataset.name, meta, given, chunksize)
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
                    )
                )
                count += 1
    return items


def _given_ranges(
    dataset: str, meta: FileMeta, given: Preprocessed, chunksize: int
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
        return chunk_ranges(meta.numentries, chunksize)
    if given.steps[-1][1] > meta.numentries:
        start, stop = given.steps[-1]
        msg = f"{where}: step [{start}, {stop}) goes beyond the file's {meta.numentries} entries"
        raise FilesetError(msg)
    return given.steps


def _check_chunksize(chunksize: Any) -> None:
    if not is_count(chunksize, 1):
        msg = f"chunksize must be a positive number of entries, got {chunksize!r}"
        raise FilesetError(msg)


def _check_maxchunks(maxchunks: Any) -> None:
    if maxchunks is None:
        return
    if not is_count(maxchunks, 1):
        msg = f"maxchunks must be a positive integer or None, got {maxchunks!r}"
        raise FilesetError(msg)
