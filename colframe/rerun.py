"""Re-running what failed: the failed fileset, and merging a rerun into the first output.

A run with ``skipbadfiles`` ends with an output and a report listing what was
skipped. :func:`failed_fileset` turns the report into a fileset of exactly the
skipped entry ranges (whole files for files that could not be opened), which a
Runner accepts; :func:`merge_runs` adds the rerun's output to the first one and
merges the reports, so chunks recovered by the rerun no longer count as failed.
Each report records which entry ranges its output covers, so merging refuses
outputs that would count the same entries twice. A file is the same file under
any spelling of its location: its ROOT UUID (``report.uuids``) and its canonical
location identify it, so a rerun that names it ``a//b.root``, through a symlink
or a ``file://`` URL cannot double count either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .accumulate import add, own
from .errors import ColframeError, MergeError
from .fileset import Dataset, FileSpec, canonical_location
from .plan import WorkItem
from .report import (
    ChunkCounts,
    Coverage,
    FileCounts,
    RunReport,
    WorkTotals,
    coalesce,
    coverage,
    failed_fileset,
)
from .results import ChunkFailure

# failed_fileset and coverage live with the report they describe; re-exported here
__all__ = ["Coverage", "coverage", "failed_fileset", "merge_runs"]

def merge_runs(runs: Sequence[tuple[Any, RunReport]]) -> tuple[Any, RunReport]:
    """Merge ``[(output, report), ...]``: outputs with :func:`colframe.accumulate`
    semantics, reports so that chunks recovered by another run no longer count
    as failed or skipped.

    Raises MergeError naming the dataset, file and entries when two runs
    covered the same entries (they would be counted twice).
    """
    if not runs:
        msg = "nothing to merge: give at least one (output, report)"
        raise ColframeError(msg)
    output, report = runs[0]
    output = own(output)  # merging never changes an output the caller still holds
    for other_output, other in runs[1:]:
        _check_disjoint(report, other)
        output = add(output, other_output)
        report = _merge_reports(report, other)
    return output, report


#: a report's coverage by (dataset, file identity, tree): spans with the path they were read at
_Index = dict[tuple[str, str, str], list[tuple[int, int, str]]]


def _file_ids(path: str, uuid: str | None) -> tuple[str, ...]:
    """The names a file is known by: its ROOT UUID (when it was planned) and canonical location."""
    location = canonical_location(path)
    return (uuid, location) if uuid else (location,)


def _index(report: RunReport) -> _Index:
    index: _Index = defaultdict(list)
    for (dataset, path, tree), spans in report.coverage.items():
        for ident in _file_ids(path, report.uuids.get(path)):
            index[dataset, ident, tree].extend((start, stop, path) for start, stop in spans)
    return index


def _check_disjoint(a: RunReport, b: RunReport) -> None:
    index = _index(a)
    for (dataset, path, tree), spans in sorted(b.coverage.items()):
        for ident in _file_ids(path, b.uuids.get(path)):
            for start, stop, other_path in index.get((dataset, ident, tree), ()):
                for other_start, other_stop in spans:
                    same_empty = (start, stop) == (other_start, other_stop)
                    if max(start, other_start) < min(stop, other_stop) or same_empty:
                        alias = "" if other_path == path else f" (also as file={other_path})"
                        msg = (
                            f"both outputs contain dataset={dataset} file={path}{alias} "
                            f"tree={tree} entries [{max(start, other_start)}, "
                            f"{min(stop, other_stop)}): merging would count them twice; merge a "
                            f"rerun of the failed fileset only with the run it completes"
                        )
                        raise MergeError(msg)


def _identity(failure: ChunkFailure) -> Any:
    item = failure.item
    if isinstance(item, WorkItem):
        file = item.fileuuid or canonical_location(item.filename)
        return (item.dataset, file, item.treename, item.entrystart, item.entrystop)
    if isinstance(item, FileSpec):
        return (failure.kind, canonical_location(item.path), item.treename)
    return (failure.kind, str(item))


def _recovered(failure: ChunkFailure, covered: _Index, datasets: list[Dataset]) -> bool:
    """Whether the other run's output ``covered`` (see :func:`_index`) what ``failure`` lost.

    A chunk: its entry range, in its file under any location. A file that could not
    be opened (``datasets``: those of the run that failed, so the datasets listing
    the file): every one of them.
    """
    item = failure.item
    if isinstance(item, WorkItem):
        spans = [
            span
            for ident in _file_ids(item.filename, item.fileuuid)
            for span in covered.get((item.dataset, ident, item.treename), ())
        ]
        return any(s <= item.entrystart and item.entrystop <= e for s, e, _ in spans)
    if isinstance(item, FileSpec):
        location = canonical_location(item.path)
        names = [d.name for d in datasets if item in d.files]
        if not names:  # a report without its datasets: any dataset's coverage of the file
            return any((ident, tree) == (location, item.treename) for _, ident, tree in covered)
        return all((name, location, item.treename) in covered for name in names)
    return False


def _remaining(a: RunReport, b: RunReport, field: str) -> list:
    """``field`` failures of both runs that neither output recovered, each chunk once (the latest)."""
    a_index, b_index = _index(a), _index(b)
    kept = {_identity(f): f for f in getattr(a, field) if not _recovered(f, b_index, a.datasets)}
    kept.update(
        {_identity(f): f for f in getattr(b, field) if not _recovered(f, a_index, b.datasets)}
    )
    return list(kept.values())


def _merge_datasets(a: list[Dataset], b: list[Dataset]) -> list[Dataset]:
    merged = {dataset.name: dataset for dataset in a}
    for dataset in b:
        old = merged.get(dataset.name)
        if old is None:
            merged[dataset.name] = dataset
            continue
        known = {(canonical_location(f.path), f.treename) for f in old.files}
        new = [f for f in dataset.files if (canonical_location(f.path), f.treename) not in known]
        files = old.files + tuple(new)
        merged[dataset.name] = replace(
            old, files=files, preprocessed={**old.preprocessed, **dataset.preprocessed}
        )
    return list(merged.values())


def _join(a: Any, b: Any) -> Any:
    return a if a == b or not b else b if not a else f"{a} + {b}"


def _sum_by_key(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    total = dict(a)
    for key, value in b.items():
        total[key] = total.get(key, 0.0) + value
    return total


def _merge_reports(a: RunReport, b: RunReport) -> RunReport:
    failures = _remaining(a, b, "failures")
    skipped = _remaining(a, b, "skipped")
    # what is planned = what was processed + what still failed (each chunk once)
    open_chunks = [f.item for f in failures + skipped if isinstance(f.item, WorkItem)]
    chunks_failed = sum(isinstance(f.item, WorkItem) for f in failures)
    chunks_skipped = sum(isinstance(f.item, WorkItem) for f in skipped)
    datasets = _merge_datasets(a.datasets, b.datasets)
    files = {
        (canonical_location(spec.path), spec.treename)
        for dataset in datasets
        for spec in dataset.files
    }
    work = WorkTotals()
    work.add_totals(a.work)
    work.add_totals(b.work)
    ok = a.chunks.ok + b.chunks.ok
    chunks = ChunkCounts(
        total=ok + chunks_failed + chunks_skipped,
        events=work.events + sum(map(len, open_chunks)),
        ok=ok,
        retried=a.chunks.retried + b.chunks.retried,
        failed=chunks_failed,
        skipped=chunks_skipped,
        merges=a.chunks.merges + b.chunks.merges,
    )
    return replace(
        a,
        executor=_join(a.executor, b.executor),
        checkpoint=_join(a.checkpoint, b.checkpoint),
        zlib_library=_join(a.zlib_library, b.zlib_library),
        files=FileCounts(
            total=len(files),
            from_cache=min(a.files.from_cache + b.files.from_cache, len(files)),
            skipped=sum(isinstance(f.item, FileSpec) for f in skipped),
        ),
        chunks=chunks,
        work=work,
        checkpoints_stale=a.checkpoints_stale + b.checkpoints_stale,
        failures=failures,
        skipped=skipped,
        wall_seconds=_sum_by_key(a.wall_seconds, b.wall_seconds),
        cpu_seconds=_sum_by_key(a.cpu_seconds, b.cpu_seconds),
        datasets=datasets,
        coverage={
            key: coalesce([*a.coverage.get(key, ()), *b.coverage.get(key, ())])
            for key in a.coverage.keys() | b.coverage.keys()
        },
        uuids={**a.uuids, **b.uuids},
    )
