"""Preprocess files, then process every chunk and merge the outputs as a tree, on any executor.

:func:`file_metadata` reads each file's entry count and UUID from the on-disk
cache, or through the executor (shared by the Runner and ``colframe.dask``).
:func:`run_chunks` merges partial outputs as soon as ``fan_in`` of them are
ready (smallest first), while other chunks are still being processed; the
driver only ever holds refs. Every planned chunk ends counted as ok, skipped
or failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._work import merge_partials
from .executors._base import Executor, Task
from .results import Err, Ok, Result
from .fileset import FileSpec
from .plan import WorkItem
from .preprocess import MetadataCache, fetch_metadata
from .results import ChunkFailure

__all__ = ["Outcome", "file_metadata", "merge_groups_total", "run_chunks"]


def file_metadata(
    executor: Executor, specs: list[FileSpec], cache: MetadataCache | None, progress
) -> Iterator[tuple[FileSpec, Result, bool]]:
    """Yield ``(spec, result, from_cache)`` for every file of ``specs``.

    ``result`` is ``Ok(FileMeta)`` or ``Err(failure)`` (the file cannot be read).
    Files in ``cache`` come first; the others are read through ``executor``
    (``fetch_metadata`` tasks, kind "preprocess"), yielded in completion order
    and added to the cache. Drives a "Preprocessing" bar of ``progress``.
    """
    bar = progress.add("Preprocessing", len(specs), "files")
    missing = []
    for spec in specs:
        cached = cache.get(spec) if cache else None
        if cached is None:
            missing.append(spec)
            continue
        progress.advance(bar)
        yield spec, Ok(cached), True
    for spec, result in executor.submit_all(fetch_metadata, missing, kind="preprocess"):
        progress.advance(bar)
        if cache and isinstance(result, Ok):
            cache.put(result.value)
        yield spec, result, False


@dataclass
class Outcome:
    """What :func:`run_chunks` did: the final ref (or None) and the chunk accounting.

    ``done`` lists the chunks that were processed (and, when the run finished,
    merged into ``final``).
    """

    final: Any = None
    done: list[WorkItem] = field(default_factory=list)
    retried: int = 0
    merges: int = 0
    failed: list[ChunkFailure] = field(default_factory=list)
    skipped: list[ChunkFailure] = field(default_factory=list)
    process_seconds: float = 0.0
    merge_tail_seconds: float = 0.0

    @property
    def ok(self) -> int:
        """Chunks processed successfully."""
        return len(self.done)


def merge_groups_total(leaves: int, fan_in: int) -> int:
    """Number of merge tasks a tree of fan-in ``fan_in`` needs over ``leaves`` outputs."""
    if leaves <= 1:
        return 0
    return -(-(leaves - 1) // (fan_in - 1))


def run_chunks(
    executor: Executor,
    work,
    items: list[WorkItem],
    *,
    fan_in: int,
    skip: tuple[type[BaseException], ...],
    progress,
) -> Outcome:
    """Run ``work`` on ``items`` through ``executor``, merging outputs with fan-in ``fan_in``.

    Stops at the first failure that ``skip`` does not cover (``Outcome.failed``).
    """
    outcome = Outcome()
    events_bar = progress.add("Processing", sum(len(i) for i in items), "events")
    merge_bar = progress.add("Merging", merge_groups_total(len(items), fan_in), "merges")
    queue = list(reversed(items))
    processing: set[Task] = set()
    merging: dict[Task, list] = {}
    ready: list = []  # refs of partial outputs not yet merged
    limit = 2 * executor.slots
    start = time.perf_counter()
    processed_at = None

    def submit_merges() -> None:
        finishing = not queue and not processing
        while len(ready) >= fan_in or (finishing and len(ready) >= 2 and not merging):
            ready.sort(key=lambda ref: ref.nbytes)
            group, ready[:] = ready[:fan_in], ready[fan_in:]
            merging[executor.submit(merge_partials, group, kind="merge", keep=True)] = group

    while queue or processing or merging or len(ready) > 1:
        while queue and len(processing) + len(merging) < limit:
            processing.add(executor.submit(work, queue.pop(), kind="process", keep=True))
        submit_merges()
        for task, result in executor.wait(list(processing) + list(merging)):
            if task in merging:
                group = merging.pop(task)
                if isinstance(result, Err):
                    outcome.failed.append(result.failure)
                    return outcome
                for ref in group:
                    executor.release(ref)
                ready.append(result.value)
                outcome.merges += 1
                progress.advance(merge_bar)
                continue
            processing.discard(task)
            outcome.retried += task.attempts > 1
            progress.advance(events_bar, len(task.arg))
            if isinstance(result, Err):
                if not result.failure.matches(skip):
                    outcome.failed.append(result.failure)
                    return outcome
                outcome.skipped.append(result.failure)
                progress.update_total(
                    merge_bar, merge_groups_total(len(items) - len(outcome.skipped), fan_in)
                )
            else:
                outcome.done.append(task.arg)
                ready.append(result.value)
        if processed_at is None and not queue and not processing:
            processed_at = time.perf_counter()
    end = time.perf_counter()
    processed_at = processed_at or end
    outcome.process_seconds = processed_at - start
    outcome.merge_tail_seconds = end - processed_at
    outcome.final = ready[0] if ready else None
    return outcome
