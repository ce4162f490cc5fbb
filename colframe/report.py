"""The run report: what was processed, what was retried, what failed and why.

:class:`RunReport` is made of parts, each filled by the layer that knows it:
:class:`FileCounts` by preprocessing, :class:`ChunkCounts` by the scheduler
(:func:`colframe.schedule.run_chunks`), :class:`WorkTotals` by the chunks
themselves (every :class:`~colframe._work.Partial` carries them, and merging
outputs adds them up). The report's flat attributes (``chunks_ok``,
``events_processed``, ...) read and write those parts.

Also what the report implies: the entry ranges its output covers (:func:`coverage`)
and the fileset of what failed (:func:`failed_fileset`), used by :mod:`colframe.rerun`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .fileset import Dataset, FileSpec
from .plan import WorkItem, coalesce
from .results import ChunkFailure, TracebackBudget

__all__ = [
    "ChunkCounts",
    "ChunkFailure",
    "Coverage",
    "FileCounts",
    "RunReport",
    "WorkTotals",
    "coalesce",
    "coverage",
    "failed_fileset",
]

#: entry ranges merged into an output, by (dataset, file, tree); sorted, coalesced
Coverage = dict[tuple[str, str, str], list[tuple[int, int]]]


def coverage(items: Iterable[WorkItem]) -> Coverage:
    """The entry ranges of ``items`` by (dataset, file, tree), adjacent ranges joined."""
    ranges: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for item in items:
        ranges[item.dataset, item.filename, item.treename].append((item.entrystart, item.entrystop))
    return {key: coalesce(spans) for key, spans in ranges.items()}


def failed_fileset(report: RunReport) -> dict[str, Any]:
    """A fileset of what ``report`` lists as failed or skipped (see :mod:`colframe.rerun`).

    Chunks become ``steps`` of their file; files that could not be opened are
    listed whole (or with the steps the run was given for them). The result is
    JSON-serializable when the datasets' metadata is. Empty when nothing failed.
    """
    fileset: dict[str, dict[str, Any]] = {}

    def want(dataset: str, metadata: Any, path: str, tree: str, steps: list | None) -> dict:
        entry = fileset.setdefault(dataset, {"files": {}})
        if metadata:
            entry["metadata"] = dict(metadata)
        file = entry["files"].setdefault(path, {"object_path": tree, "steps": []})
        if steps is None:
            file.pop("steps", None)  # the whole file covers any of its chunks
        elif "steps" in file:
            file["steps"].extend(steps)
        return file

    holders: dict[FileSpec, list[Dataset]] | None = None  # built once, when a file failed
    for failure in [*report.failures, *report.skipped]:
        item = failure.item
        if isinstance(item, WorkItem):
            steps = [[item.entrystart, item.entrystop]]
            file = want(item.dataset, item.usermeta, item.filename, item.treename, steps)
            file["uuid"] = item.fileuuid
        elif isinstance(item, FileSpec):
            if holders is None:  # not a scan of every dataset's files per failed file
                holders = {}
                for holder in report.datasets:
                    for spec in dict.fromkeys(holder.files):
                        holders.setdefault(spec, []).append(holder)
            for dataset in holders.get(item, ()):
                given = dataset.preprocessed.get(item)
                known = given.steps if given is not None else None
                whole = [list(step) for step in known] if known is not None else None
                want(dataset.name, dataset.metadata, item.path, item.treename, whole)
        # a failed merge stops the run: there is no output to complete
    for entry in fileset.values():
        for file in entry["files"].values():
            if "steps" in file:
                file["steps"] = sorted(map(list, {tuple(step) for step in file["steps"]}))
    return fileset


@dataclass
class FileCounts:
    """Preprocessing's part of the report: the files opened for their entries and UUID."""

    #: files planned (metadata read or found in the cache)
    total: int = 0
    #: files whose metadata came from the cache
    from_cache: int = 0
    #: files that could not be read and were skipped (their failures are in ``report.skipped``)
    skipped: int = 0


@dataclass
class ChunkCounts:
    """The scheduler's part of the report: what became of every planned chunk.

    Filled by :func:`colframe.schedule.run_chunks`. Every chunk of the plan ends
    counted once in ``ok``, ``failed`` or ``skipped``; ``retried`` counts the chunks
    that needed more than one attempt.
    """

    #: planned chunks and their entries
    total: int = 0
    events: int = 0
    ok: int = 0
    retried: int = 0
    #: chunks not processed because a failure stopped the run
    failed: int = 0
    skipped: int = 0
    #: merge tasks run
    merges: int = 0


@dataclass(kw_only=True)
class WorkTotals:
    """The chunks' own part of the report: what processing them read and cost.

    Each chunk's output carries its totals (:class:`~colframe._work.Partial` is a
    WorkTotals with an output), a merge adds its inputs' together, and the final
    output's totals are the report's. ``from_checkpoint`` counts chunks loaded from
    a checkpoint instead of computed, ``checkpoints_rejected`` checkpoints that
    failed their checksum (those chunks were computed again).
    """

    chunks: int = 0
    events: int = 0
    bytesread: int = 0
    columns: set[str] = field(default_factory=set)
    processtime: float = 0.0
    cputime: float = 0.0
    from_checkpoint: int = 0
    checkpoints_rejected: int = 0

    def add_totals(self, other: WorkTotals) -> None:
        """Add the totals of ``other`` to these."""
        self.chunks += other.chunks
        self.events += other.events
        self.bytesread += other.bytesread
        self.columns |= other.columns
        self.processtime += other.processtime
        self.cputime += other.cputime
        self.from_checkpoint += other.from_checkpoint
        self.checkpoints_rejected += other.checkpoints_rejected

    def totals(self) -> WorkTotals:
        """These totals alone, as a new WorkTotals (a partial's, without its output)."""
        totals = WorkTotals()
        totals.add_totals(self)
        return totals


class _InPart:
    """A report attribute kept in one of its parts: ``report.chunks_ok`` is ``report.chunks.ok``."""

    def __init__(self, part: str, name: str) -> None:
        self.part, self.name = part, name

    def __get__(self, report: Any, owner: Any = None) -> Any:
        if report is None:
            return self
        return getattr(getattr(report, self.part), self.name)

    def __set__(self, report: Any, value: Any) -> None:
        setattr(getattr(report, self.part), self.name, value)


@dataclass
class RunReport:
    """What a run did. Returned by ``Runner(savemetrics=True)`` as ``(output, report)``.

    Made of :attr:`files` (preprocessing), :attr:`chunks` (the scheduler) and
    :attr:`work` (the chunks' totals), read through flat attributes:
    ``files_total``, ``files_from_cache``, ``files_skipped``; ``chunks_total``,
    ``chunks_ok``, ``chunks_retried``, ``chunks_failed``, ``chunks_skipped``,
    ``merges``, ``events_total``; ``events_processed``, ``bytes_read``,
    ``columns``, ``chunks_from_checkpoint``, ``checkpoints_rejected``.

    Every chunk of the plan is counted exactly once in ``chunks_ok``,
    ``chunks_failed`` or ``chunks_skipped``; ``chunks_retried`` counts chunks
    that needed more than one attempt (including resubmission after a worker died).

    With a checkpoint, ``chunks_from_checkpoint`` of the ok chunks were loaded
    instead of computed (:attr:`chunks_computed` were computed);
    ``checkpoints_stale`` chunks had checkpoints only from another version of the
    processor (ignored), ``checkpoints_rejected`` had a corrupt one (recomputed).
    ``datasets`` is the normalized input; ``coverage`` the entry ranges the
    output holds, by (dataset, file, tree), which :func:`colframe.rerun.merge_runs`
    uses, with ``uuids``, to refuse counting entries twice (whatever the spelling
    of each file's location).
    """

    executor: str = ""
    checkpoint: str | None = None
    files: FileCounts = field(default_factory=FileCounts)
    chunks: ChunkCounts = field(default_factory=ChunkCounts)
    work: WorkTotals = field(default_factory=WorkTotals)
    checkpoints_stale: int = 0
    zlib_library: str = "zlib"
    #: what the executor tells of its engine (TaskVine: splits, tasks per worker, logs)
    executor_stats: dict[str, Any] = field(default_factory=dict)
    failures: list[ChunkFailure] = field(default_factory=list)
    skipped: list[ChunkFailure] = field(default_factory=list)
    wall_seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    datasets: list[Dataset] = field(default_factory=list)
    coverage: Coverage = field(default_factory=dict)
    #: the ROOT UUID of every planned file, by path: merging knows a file under any URL
    uuids: dict[str, str] = field(default_factory=dict)
    #: the run's one budget of skipped failures' tracebacks (files and chunks alike)
    tracebacks: TracebackBudget = field(default_factory=TracebackBudget, repr=False, compare=False)

    files_total = _InPart("files", "total")
    files_from_cache = _InPart("files", "from_cache")
    files_skipped = _InPart("files", "skipped")
    chunks_total = _InPart("chunks", "total")
    chunks_ok = _InPart("chunks", "ok")
    chunks_retried = _InPart("chunks", "retried")
    chunks_failed = _InPart("chunks", "failed")
    chunks_skipped = _InPart("chunks", "skipped")
    merges = _InPart("chunks", "merges")
    events_total = _InPart("chunks", "events")
    events_processed = _InPart("work", "events")
    bytes_read = _InPart("work", "bytesread")
    chunks_from_checkpoint = _InPart("work", "from_checkpoint")
    checkpoints_rejected = _InPart("work", "checkpoints_rejected")

    @property
    def columns(self) -> list[str]:
        """The branches the chunks read, sorted."""
        return sorted(self.work.columns)

    @columns.setter
    def columns(self, columns: Iterable[str]) -> None:
        self.work.columns = set(columns)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a report saved before it had parts holds their fields flat (chunks_ok, ...) and
        # one saved earlier still lacks later fields (uuids): defaults first, then the state
        self.__dict__.update(RunReport().__dict__)
        for name, value in state.items():
            setattr(self, name, value)

    @property
    def complete(self) -> bool:
        """True when every planned chunk was processed and merged."""
        return self.chunks_ok == self.chunks_total and not self.failures and not self.skipped

    @property
    def chunks_computed(self) -> int:
        """Ok chunks that were computed in this run (not loaded from a checkpoint)."""
        return self.chunks_ok - self.chunks_from_checkpoint

    def failed_fileset(self) -> dict[str, Any]:
        """A fileset of exactly the failed and skipped entry ranges, for a rerun.

        Chunks are listed as ``steps`` of their file, files that could not be
        opened as whole files; ``Runner`` accepts the result as it is (see
        :mod:`colframe.rerun`). Empty when nothing failed.
        """
        return failed_fileset(self)

    def skip(self, failure: ChunkFailure) -> None:
        """Record a skipped file or chunk (its traceback only among the first few of its cause)."""
        self.skipped.append(self.tracebacks(failure))

    def summary(self) -> str:
        """A short multi-line text for terminals and logs."""
        wall = sum(self.wall_seconds.values())
        rate = self.events_processed / wall if wall > 0 else 0.0
        lines = [
            f"executor: {self.executor}",
            f"files: {self.files_total} ({self.files_from_cache} metadata from cache, "
            f"{self.files_skipped} skipped)",
            f"chunks: {self.chunks_total} planned, {self.chunks_ok} ok, "
            f"{self.chunks_retried} retried, {self.chunks_failed} failed, "
            f"{self.chunks_skipped} skipped; {self.merges} merges",
            *self._checkpoint_lines(),
            f"events: {self.events_processed:,} processed of {self.events_total:,}",
            f"read: {self.bytes_read / 1e6:,.1f} MB in {len(self.columns)} columns "
            f"(ZLIB inflated by {self.zlib_library})",
            "wall: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in self.wall_seconds.items())
            + f" ({rate:,.0f} events/s)",
            "cpu: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.cpu_seconds.items()),
        ]
        if self.executor_stats:
            stats = ", ".join(f"{k} {v}" for k, v in self.executor_stats.items())
            lines.append(f"engine: {stats}")
        lines.extend(f"FAILED  {failure.describe()}" for failure in self.failures)
        lines.extend(_skipped_lines(self.skipped))
        return "\n".join(lines)

    def _checkpoint_lines(self) -> list[str]:
        if self.checkpoint is None:
            return []
        line = (
            f"checkpoint {self.checkpoint}: {self.chunks_from_checkpoint} chunks loaded, "
            f"{self.chunks_computed} computed"
        )
        if self.checkpoints_stale:
            line += (
                f"; {self.checkpoints_stale} checkpoints ignored because the processor "
                f"changed since they were written"
            )
        if self.checkpoints_rejected:
            line += f"; {self.checkpoints_rejected} corrupt checkpoints recomputed"
        return [line]


def _skipped_lines(skipped: list[ChunkFailure], per_cause: int = 5) -> list[str]:
    """A line per skipped file or chunk, the first ``per_cause`` of each cause; then a count."""
    shown: Counter[str] = Counter()
    lines = []
    for failure in skipped:
        shown[failure.exc_type] += 1
        if shown[failure.exc_type] <= per_cause:
            lines.append(f"SKIPPED {failure.describe()}")
    lines.extend(
        f"SKIPPED {count - per_cause} more: {cause}"
        for cause, count in shown.items()
        if count > per_cause
    )
    return lines
