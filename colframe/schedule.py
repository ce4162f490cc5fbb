"""Process every chunk and merge the outputs as a tree, streaming, on any executor.

Partial outputs are merged as soon as ``fan_in`` of them are ready (smallest
first), while other chunks are still being processed; the driver only ever
holds refs. Every planned chunk ends counted as ok, skipped or failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._work import merge_partials
from .executors._base import Executor, Task
from .executors._result import Err
from .plan import WorkItem
from .report import ChunkFailure

__all__ = ["Outcome", "merge_groups_total", "run_chunks"]


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
                    ref.discard()
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
