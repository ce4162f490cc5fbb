"""Preprocess files, then process every chunk and merge the outputs as a tree, on any executor.

:func:`file_metadata` reads each file's entry count and UUID from the on-disk
cache, or through the executor (the Runner's preprocessing phase).
:func:`run_chunks` processes the chunks and merges their outputs along a
:class:`MergeTree` fixed by the plan and ``fan_in``: each group of ``fan_in``
consecutive nodes is merged, in plan order, as soon as all its members are
ready, while other chunks are still being processed. So the output is the same,
bit for bit, whatever the executor, the number of workers and the order in
which chunks finish. The driver holds refs, never partial outputs, until it
fetches the final one. Every planned chunk ends counted as ok, skipped or failed
in the report's :class:`~colframe.report.ChunkCounts`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._work import merge_partials
from .executors._base import Executor, Task
from .fileset import FileSpec
from .plan import Plan, WorkItem
from .preprocess import MappingCache, MetadataCache, fetch_metadata
from .progress import Progress
from .report import ChunkCounts
from .results import ChunkFailure, Err, Ok, Result, TracebackBudget

__all__ = ["MergeTree", "Outcome", "file_metadata", "merge_groups_total", "run_chunks"]


def file_metadata(
    executor: Executor,
    specs: list[FileSpec],
    cache: MetadataCache | MappingCache | None,
    progress: Progress,
    fetch: Callable[[FileSpec], Any] = fetch_metadata,
    *,
    clusters: bool = False,
) -> Iterator[tuple[FileSpec, Result, bool]]:
    """Yield ``(spec, result, from_cache)`` for every file of ``specs``.

    ``result`` is ``Ok(FileMeta)`` or ``Err(failure)`` (the file cannot be read).
    Files in ``cache`` come first; the others are read through ``executor``
    (``fetch_metadata`` tasks, kind "preprocess"), yielded in completion order
    and added to the cache (a cached record without cluster starts counts as
    missing when ``clusters``). Drives a "Preprocessing" bar of ``progress``.
    """
    bar = progress.add("Preprocessing", len(specs), "files")
    found = cache.get_many(specs, clusters) if cache else {}
    if found:
        progress.advance(bar, len(found))
    for spec, cached in found.items():
        yield spec, Ok(cached), True
    missing = [spec for spec in specs if spec not in found]
    # fetch: fetch_metadata, or a partial of it with the run's uproot options
    for spec, result in executor.submit_all(fetch, missing, kind="preprocess"):
        progress.advance(bar)
        if cache and isinstance(result, Ok):
            cache.put(result.value)
        yield spec, result, False


@dataclass
class Outcome:
    """What :func:`run_chunks` did: the merged output and the report's chunk part.

    ``final`` is the merged :class:`~colframe._work.Partial`, brought to the driver
    (None when nothing was merged, a failure stopped the run or Ctrl-C did).
    ``done`` marks the chunks that were processed (``done[i]`` is 1 for the plan's
    chunk ``i``): one byte per chunk, not a list of them.
    """

    chunks: ChunkCounts
    done: bytearray
    final: Any = None
    failed: list[ChunkFailure] = field(default_factory=list)
    skipped: list[ChunkFailure] = field(default_factory=list)
    #: wall seconds by phase, as the report shows them
    wall_seconds: dict[str, float] = field(default_factory=dict)
    #: Ctrl-C stopped the run: ``final`` is None, ``done`` marks what was processed
    interrupted: bool = False


def _level_sizes(leaves: int, fan_in: int) -> list[int]:
    sizes = [leaves]
    while sizes[-1] > 1:
        sizes.append(-(-sizes[-1] // fan_in))
    return sizes


def merge_groups_total(leaves: int, fan_in: int) -> int:
    """Number of merge tasks of the :class:`MergeTree` over ``leaves`` outputs (none skipped)."""
    sizes = _level_sizes(leaves, fan_in)
    # every group is a merge, except a last group of one node, which moves up as it is
    return sum(up - ((size - 1) % fan_in == 0) for size, up in itertools.pairwise(sizes))


class MergeTree:
    """The fixed merge tree over ``leaves`` outputs in plan order (pure logic, no I/O).

    Level 0 holds the leaves; node ``i`` of level ``l + 1`` merges nodes
    ``i * fan_in`` to ``i * fan_in + fan_in - 1`` of level ``l``, in that order.
    :meth:`put` records a node's ref (None for a skipped chunk, or a group left
    empty) and returns the merges that became ready. A group whose other members
    were skipped passes its one ref up unmerged; an empty group drops out. The
    root's ref is :attr:`final` once :attr:`done`.
    """

    def __init__(self, leaves: int, fan_in: int) -> None:
        self.fan_in = fan_in
        self.sizes = _level_sizes(leaves, fan_in)
        #: merges still expected: lowered when skipped chunks leave a group with fewer than 2
        self.merges_expected = merge_groups_total(leaves, fan_in)
        self.done = leaves == 0
        self.final: Any = None
        # (level, index) of a group not yet complete -> [members resolved, member refs]
        self._groups: dict[tuple[int, int], list] = {}

    def put(self, level: int, index: int, ref: Any) -> list[tuple[tuple[int, int], list]]:
        """Node ``(level, index)`` is ready with ``ref``: the ``(node, refs)`` merges to run now."""
        while level < len(self.sizes) - 1:
            parent = index // self.fan_in
            first = parent * self.fan_in
            members = min(self.fan_in, self.sizes[level] - first)
            group = self._groups.setdefault((level + 1, parent), [0, [None] * members])
            group[0] += 1
            group[1][index - first] = ref
            if group[0] < members:
                return []
            del self._groups[(level + 1, parent)]
            present = [member for member in group[1] if member is not None]
            level, index = level + 1, parent
            if len(present) >= 2:
                return [((level, index), present)]
            if members >= 2:
                self.merges_expected -= 1
            ref = present[0] if present else None
        self.done, self.final = True, ref
        return []


def run_chunks(
    executor: Executor,
    work: Callable[[WorkItem], Any],
    items: Sequence[WorkItem],
    *,
    fan_in: int,
    skip: tuple[type[BaseException], ...],
    progress: Progress,
    tracebacks: TracebackBudget | None = None,
) -> Outcome:
    """Run ``work`` on ``items`` through ``executor``, merging outputs along a :class:`MergeTree`.

    Merge tasks (kind "merge") get the list of their input refs in plan order.
    Every ref's lifetime goes through the executor: merged inputs are released
    (``executor.release``), the final output is fetched (``executor.fetch``) and
    then released. The number of tasks in flight follows ``executor.slots``, read
    anew at every step (workers may join or leave); the events bar shows
    ``executor.status()`` (e.g. the workers connected), refreshed about once a second.
    Fills ``Outcome.chunks``, the report's :class:`~colframe.report.ChunkCounts`.
    Stops at the first failure that ``skip`` does not cover (``Outcome.failed``; the
    chunks not processed count as failed), and at Ctrl-C (``Outcome.interrupted``;
    the caller stops the executor, which cancels the tasks in flight).

    The driver's cost per chunk does not grow with the run: items are taken from
    ``items`` (a :class:`~colframe.plan.Plan` makes them one at a time) as they are
    submitted, what is in flight is one dict handed to ``wait`` as it is, and the
    bars move at most every :data:`PROGRESS_SECONDS`.
    """
    events = items.events if isinstance(items, Plan) else sum(len(i) for i in items)
    counts = ChunkCounts(total=len(items), events=events)
    outcome = Outcome(counts, bytearray(len(items)))
    # every skipped chunk is kept, only a few tracebacks per cause (the run's report's budget)
    tracebacks = TracebackBudget() if tracebacks is None else tracebacks
    tree = MergeTree(len(items), fan_in)
    bars = _Bars(progress, events, tree.merges_expected)
    # task -> plan index (a chunk) or (node, refs) (a merge); insertion-ordered
    inflight: dict[Task, Any] = {}
    queue = enumerate(items)
    left = len(items)
    chunks_inflight = 0
    start = time.perf_counter()
    processed_at = None
    noted_at = -1.0  # the executor's status (e.g. workers connected) beside the events bar

    def record(merges: list) -> None:
        for node, refs in merges:
            inflight[executor.submit(merge_partials, refs, kind="merge", keep=True)] = (node, refs)

    def stop(failure: ChunkFailure) -> Outcome:
        outcome.failed.append(failure)
        counts.failed = counts.total - counts.ok - counts.skipped
        return outcome

    try:
        while not tree.done:
            if time.perf_counter() - noted_at >= 1.0:
                noted_at = time.perf_counter()
                progress.note(bars.events_bar, executor.status())
            limit = 2 * executor.slots  # read every time: elastic pools grow and shrink
            while left and len(inflight) < limit:
                index, item = next(queue)
                inflight[executor.submit(work, item, kind="process", keep=True)] = index
                left -= 1
                chunks_inflight += 1
            for task, result in executor.wait(inflight.keys()):
                what = inflight.pop(task)
                if task.kind == "merge":
                    (level, index), refs = what
                    if isinstance(result, Err):
                        return stop(result.failure)
                    for ref in refs:
                        executor.release(ref)
                    counts.merges += 1
                    bars.merged()
                    record(tree.put(level, index, result.value))
                    continue
                chunks_inflight -= 1
                counts.retried += task.attempts > 1
                bars.processed(len(task.arg))
                if isinstance(result, Err):
                    if not result.failure.matches(skip):
                        return stop(result.failure)
                    outcome.skipped.append(tracebacks(result.failure))
                    counts.skipped += 1
                    record(tree.put(0, what, None))
                else:
                    counts.ok += 1
                    outcome.done[what] = 1
                    record(tree.put(0, what, result.value))
            bars.merges_expected(tree.merges_expected)
            if processed_at is None and not left and not chunks_inflight:
                processed_at = time.perf_counter()
        if tree.final is not None:
            outcome.final = executor.fetch(tree.final)
            executor.release(tree.final)
    except KeyboardInterrupt:
        outcome.final = None
        outcome.interrupted = True
    finally:
        bars.flush()
        end = time.perf_counter()
        processed_at = processed_at or end
        outcome.wall_seconds["process"] = processed_at - start
        outcome.wall_seconds["merge (after processing)"] = end - processed_at
    return outcome


#: the bars move at most this often (a big run finishes thousands of chunks a second)
PROGRESS_SECONDS = 0.1


class _Bars:
    """The Processing and Merging bars of one run, advanced in batches."""

    def __init__(self, progress: Progress, events: int, merges: int) -> None:
        self.progress = progress
        self.events_bar = progress.add("Processing", events, "events")
        self.merge_bar = progress.add("Merging", merges, "merges")
        self.expected = merges
        self.events = self.merges = 0
        self.shown = time.monotonic()

    def processed(self, events: int) -> None:
        self.events += events
        if time.monotonic() - self.shown >= PROGRESS_SECONDS:
            self.flush()

    def merged(self) -> None:
        self.merges += 1
        if time.monotonic() - self.shown >= PROGRESS_SECONDS:
            self.flush()

    def merges_expected(self, expected: int) -> None:
        if expected != self.expected:  # skipped chunks left groups with fewer than 2
            self.flush()
            self.expected = expected
            self.progress.update_total(self.merge_bar, expected)

    def flush(self) -> None:
        if self.events:
            self.progress.advance(self.events_bar, self.events)
        if self.merges:
            self.progress.advance(self.merge_bar, self.merges)
        self.events = self.merges = 0
        self.shown = time.monotonic()
