"""run_chunks and the fixed merge tree, driven by an in-process executor that finishes
tasks out of order: the output depends on the plan and fan_in only."""

from __future__ import annotations

import random

import numpy as np
import pytest

from colframe._work import Partial
from colframe.executors._base import Executor, Task
from colframe.executors._store import MemoryStore
from colframe.executors._task import execute
from colframe.plan import WorkItem
from colframe.report import ChunkCounts
from colframe.schedule import MergeTree, merge_groups_total, run_chunks


class Shuffled(Executor):
    """Runs each task when submitted but reports it finished in a chosen order.

    ``order``: "reversed" (newest first), "fifo", or a seed for a random order;
    ``batch``: how many finished tasks one ``wait`` returns at most.
    ``slots`` follows ``pool``, a list the test may grow while the run goes on.
    """

    name = "shuffled"

    def __init__(self, order="reversed", batch: int = 1, pool: list | None = None) -> None:
        super().__init__(retries=0)
        self.order, self.batch = order, batch
        self.random = random.Random(order if isinstance(order, int) else 0)
        self.pool = pool if pool is not None else [2]
        self.store = MemoryStore()
        self.merges: list[list] = []  # the argument of every merge task, as submitted
        self.in_flight: list[int] = []  # tasks (chunks and merges) in flight at each wait
        self.released: list = []
        self.fetched: list = []

    def start(self) -> None:
        pass

    def stop(self, abort: bool = False) -> None:
        pass

    @property
    def slots(self) -> int:
        return self.pool[0]

    def _launch(self, task: Task) -> None:
        if task.kind == "merge":
            self.merges.append(list(task.arg))
        task.handle = execute(task.function, task.arg, task.kind, self.store if task.keep else None)

    def _collect(self, tasks, timeout):
        tasks = list(tasks)
        self.in_flight.append(len(tasks))
        if self.order == "reversed":
            tasks = tasks[::-1]
        elif self.order != "fifo":
            tasks = self.random.sample(tasks, len(tasks))
        return [(task, task.handle) for task in tasks[: self.batch]]

    def fetch(self, ref):
        self.fetched.append(ref)
        return super().fetch(ref)

    def release(self, ref) -> None:
        self.released.append(ref)
        super().release(ref)


class Progress:
    def __init__(self) -> None:
        self.totals, self.done, self.notes = {}, {}, {}

    def add(self, description, total, unit):
        self.totals[description], self.done[description] = total, 0
        return description

    def advance(self, bar, amount=1):
        self.done[bar] += amount

    def update_total(self, bar, total):
        self.totals[bar] = total

    def note(self, bar, text):
        self.notes.setdefault(bar, []).append(text)


class BadChunk(OSError):
    pass


class Work:
    """A chunk's output: its entry range in a list (concatenation), a float sum, a count."""

    def __init__(self, bad=()) -> None:
        self.bad = set(bad)

    def __call__(self, item: WorkItem) -> Partial:
        if item.entrystart in self.bad:
            msg = f"cannot read entries from {item.entrystart}"
            raise BadChunk(msg)
        x = np.float64(item.entrystart + 1) / 7.0
        return Partial(
            {"order": [item.entrystart], "sum": 0.1 * x, "n": {"chunks": 1}}, events=len(item)
        )


def _items(n: int, step: int = 10) -> list[WorkItem]:
    return [WorkItem("d", "f.root", "Events", i * step, (i + 1) * step, "u") for i in range(n)]


def _run(executor, n=23, fan_in=3, bad=(), skip=(BadChunk,)):
    progress = Progress()
    with executor:
        outcome = run_chunks(
            executor, Work(bad), _items(n), fan_in=fan_in, skip=skip, progress=progress
        )
    return outcome, outcome.final, progress


def _left_fold_tree(values, fan_in):
    """The reference: the fixed tree computed directly."""
    level = list(values)
    while len(level) > 1:
        level = [_fold(level[i : i + fan_in]) for i in range(0, len(level), fan_in)]
    return level[0]


def _fold(group):
    total = group[0]
    for value in group[1:]:
        total = total + value
    return total


@pytest.mark.parametrize("fan_in", [2, 3, 5])
@pytest.mark.parametrize("order", ["reversed", "fifo", 1, 2, 3])
def test_output_depends_on_plan_and_fan_in_only(order, fan_in):
    outcome, final, progress = _run(Shuffled(order, batch=2), fan_in=fan_in)
    reference = _run(Shuffled("fifo", batch=1, pool=[1]), fan_in=fan_in)[1]
    assert final.out["order"] == list(range(0, 230, 10))  # plan order, like coffea
    assert final.out["sum"] == reference.out["sum"]  # the same bits
    x = [0.1 * (np.float64(i * 10 + 1) / 7.0) for i in range(23)]
    assert final.out["sum"] == _left_fold_tree(x, fan_in)
    assert final.out["n"] == {"chunks": 23}
    assert final.events == 230
    merges = merge_groups_total(23, fan_in)
    assert outcome.chunks == ChunkCounts(total=23, events=230, ok=23, merges=merges)
    assert outcome.done == bytearray([1] * 23)
    assert merges == progress.totals["Merging"] == progress.done["Merging"]


def test_merge_tasks_get_their_inputs_in_plan_order_and_every_ref_is_released():
    executor = Shuffled(order=5, batch=3)
    _outcome, final, _ = _run(executor, n=10, fan_in=3)
    for refs in executor.merges:
        assert refs
        assert None not in refs
        assert len(refs) <= 3
    # levels of 10, 4, 2, 1 nodes: 3 leaf groups of 3 (chunk 9 passes up alone), then
    # [merge, merge, merge] and [chunk 9] (alone again), then the root's 2
    assert sorted(len(refs) for refs in executor.merges) == [2, 3, 3, 3, 3]
    # through the executor: merged inputs released, the final ref fetched, then released
    merged = [id(ref) for refs in executor.merges for ref in refs]
    assert len(executor.fetched) == 1
    assert sorted([*merged, id(executor.fetched[0])]) == sorted(map(id, executor.released))
    assert executor.released[-1] is executor.fetched[0]
    assert final.out["order"] == list(range(0, 100, 10))


@pytest.mark.parametrize("order", ["reversed", 7])
def test_skipped_chunks_drop_out_of_their_group(order):
    bad = {0, 10, 20, 50, 120, 130, 140}  # a whole group of 3, singletons left behind
    outcome, final, progress = _run(Shuffled(order, batch=2), n=16, fan_in=3, bad=bad)
    kept = [start for start in range(0, 160, 10) if start not in bad]
    assert final.out["order"] == kept
    assert final.out["n"] == {"chunks": len(kept)}
    assert len(outcome.skipped) == outcome.chunks.skipped == len(bad)
    assert outcome.chunks.ok == len(kept)
    assert not outcome.failed
    assert outcome.chunks.failed == 0
    x = [0.1 * (np.float64(s + 1) / 7.0) for s in kept]
    # the tree is the plan's: skipped leaves leave holes, they do not shift the groups
    assert final.out["sum"] == _run(Shuffled("fifo"), n=16, fan_in=3, bad=bad)[1].out["sum"]
    assert np.isclose(final.out["sum"], sum(x))
    assert progress.totals["Merging"] == outcome.chunks.merges == progress.done["Merging"]
    assert outcome.chunks.merges < merge_groups_total(16, 3)


def test_everything_skipped_gives_no_output():
    outcome, final, _ = _run(Shuffled(), n=4, bad={0, 10, 20, 30})
    assert final is None
    assert outcome.final is None
    assert outcome.chunks.merges == 0


def test_a_chunk_failure_not_skipped_stops_the_run():
    outcome, _, _ = _run(Shuffled("fifo"), n=9, bad={40}, skip=())
    assert len(outcome.failed) == 1
    assert outcome.failed[0].exc_type.endswith("BadChunk")
    assert outcome.failed[0].item.entrystart == 40
    assert outcome.final is None
    # every chunk counted once: those not processed when the run stopped as failed
    counts = outcome.chunks
    assert counts.ok + counts.failed + counts.skipped == counts.total == 9
    assert counts.failed >= 1
    assert set(outcome.wall_seconds) == {"process", "merge (after processing)"}


class NotAddable:
    def __init__(self, start):
        self.start = start


def test_failed_merge_stops_with_the_merge_failure():
    def work(item):
        return Partial({"x": NotAddable(item.entrystart)})

    executor = Shuffled(order=3, batch=2)
    with executor:
        outcome = run_chunks(executor, work, _items(7), fan_in=3, skip=(), progress=Progress())
    assert len(outcome.failed) == 1
    failure = outcome.failed[0]
    assert failure.kind == "merge"
    assert failure.exc_type.endswith("MergeError")
    assert not failure.retryable
    assert outcome.final is None


def test_in_flight_tasks_follow_slots_as_workers_join():
    pool = [1]
    executor = Shuffled("fifo", batch=1, pool=pool)
    joined = iter(range(10**6))

    class Growing(Work):
        def __call__(self, item):
            if next(joined) == 6:
                pool[0] = 5  # workers joined mid-run
            return super().__call__(item)

    with executor:
        run_chunks(executor, Growing(), _items(40), fan_in=4, skip=(), progress=Progress())
    assert executor.in_flight[0] <= 2
    assert max(executor.in_flight) == 10  # 2 * slots, read at every step


def test_submit_all_follows_slots_as_workers_join():
    pool = [1]
    executor = Shuffled("fifo", batch=1, pool=pool)
    seen = []
    with executor:
        for index, (_item, result) in enumerate(executor.submit_all(abs, [-i for i in range(30)])):
            seen.append(result.value)
            if index == 3:
                pool[0] = 4
    assert sorted(seen) == list(range(30))
    assert executor.in_flight[:4] == [2, 2, 2, 2]
    assert max(executor.in_flight) == 8  # 2 * slots, read at every step


def test_merge_tree_counts_and_shapes():
    assert [merge_groups_total(n, 3) for n in range(8)] == [0, 0, 1, 1, 2, 3, 3, 3]
    assert merge_groups_total(12, 3) == 6
    assert merge_groups_total(5, 3) == 3  # [3, 2] then [2]: one more than a greedy tree
    tree = MergeTree(7, 3)
    assert tree.put(0, 6, "g") == []  # a last group of one waits for nothing
    assert tree.put(0, 1, "b") == []
    assert tree.put(0, 0, "a") == []
    assert tree.put(0, 2, "c") == [((1, 0), ["a", "b", "c"])]
    assert tree.put(0, 3, None) == []
    assert tree.put(0, 4, None) == []
    assert tree.put(0, 5, "f") == []  # passes up alone: level 1 is now complete but for node 0
    assert tree.merges_expected == 2
    assert tree.put(1, 0, "abc") == [((2, 0), ["abc", "f", "g"])]
    assert not tree.done
    assert tree.put(2, 0, "all") == []
    assert tree.done
    assert tree.final == "all"


@pytest.mark.parametrize("seed", range(20))
def test_merge_tree_is_the_same_whatever_the_completion_order(seed):
    rng = random.Random(seed)
    n, fan_in = rng.randint(0, 60), rng.randint(2, 6)
    skipped = {i for i in range(n) if rng.random() < 0.2}

    def build(order_seed):
        order = random.Random(order_seed)
        tree, pending, merges = MergeTree(n, fan_in), [], 0
        leaves = list(range(n))
        order.shuffle(leaves)
        for leaf in leaves:
            pending += tree.put(0, leaf, None if leaf in skipped else (leaf,))
            while pending and order.random() < 0.5:
                node, refs = pending.pop(order.randrange(len(pending)))
                merges += 1
                pending += tree.put(*node, tuple(x for ref in refs for x in ref))
        while pending:
            node, refs = pending.pop()
            merges += 1
            pending += tree.put(*node, tuple(x for ref in refs for x in ref))
        assert tree.done
        assert merges == tree.merges_expected
        return tree.final, merges

    first = build(1)
    assert build(2) == first
    expected = tuple(i for i in range(n) if i not in skipped) or None
    assert first[0] == expected


def test_events_bar_shows_the_executors_status():
    class Counted(Shuffled):
        def status(self) -> str:
            return f"{self.pool[0]} workers"

    outcome, _, progress = _run(Counted("fifo", pool=[3]), n=5)
    assert outcome.chunks.ok == 5
    notes = progress.notes["Processing"]  # shown at the start, refreshed about once a second
    assert notes
    assert set(notes) == {"3 workers"}
