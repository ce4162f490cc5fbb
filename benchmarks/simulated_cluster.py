"""A SIMULATED cluster: colframe's real Runner, scheduler and merge tree against virtual workers.

Nothing here runs a processor or reads a file. :class:`SimulatedCluster` is an
:class:`~colframe.executors.Executor` whose workers exist only as numbers in a
discrete-event simulation: tasks start when a virtual core is free, end after a
duration drawn from a distribution, and return refs whose sizes are drawn too.
Simulated time advances only inside ``wait``, so a ten-million-chunk run on
5,000 workers costs the driver's real CPU plus a few microseconds of bookkeeping
per task here. The driver side (``colframe.Runner``: planning, preprocessing
phase, ``run_chunks``, the merge tree, the report) is the real code.

What is simulated, per task kind:

- ``preprocess`` (a :class:`~colframe.fileset.FileSpec`): the worker "reads" the
  file's metadata: :class:`~colframe.plan.FileMeta` with ``entries_per_file``
  entries and a UUID derived from the path, after ``preprocess_seconds``;
- ``process`` (a :class:`~colframe.plan.WorkItem`): ``task_seconds`` times a
  factor drawn from the duration distribution; the output is a :class:`SimRef`
  of ``output_bytes``;
- ``merge`` (a list of refs): ``merge_seconds_per_input`` per input; the output
  is as large as the largest input (histograms of one binning add in place).

Failures: each attempt fails with probability ``failure_rate`` (retryable, so
the executor's one retry layer reruns it); each worker is lost after an
exponentially distributed lifetime of mean ``1 / worker_loss_rate`` seconds,
failing the tasks it was running (retryable) and replaced after ``rejoin_seconds``.
Workers join uniformly over ``ramp_seconds`` (all at t=0 when 0).

The ideal makespan is the total task time (every attempt, merges included)
divided by the cores; :attr:`SimulatedCluster.stats` holds it with the
makespan, peak refs alive, merge-tree depth and the simulator's own CPU time
(so the benchmark can subtract it from the process's CPU).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
import uuid
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colframe._work import Partial
from colframe.executors._base import Executor, Task
from colframe.plan import FileMeta
from colframe.results import ChunkFailure, Err, Ok, Result

__all__ = ["SimRef", "SimulatedCluster", "SimulationStats"]

_FINISH, _JOIN, _LEAVE = 0, 1, 2
_BATCH = 1 << 16  # random draws made at a time


@dataclass
class SimulationStats:
    """What the simulated cluster saw (simulated seconds unless named otherwise)."""

    tasks: dict[str, int] = field(
        default_factory=lambda: {"preprocess": 0, "process": 0, "merge": 0}
    )
    failed_attempts: int = 0
    lost_attempts: int = 0
    workers_lost: int = 0
    busy_seconds: float = 0.0  # every attempt, failed ones included
    first_process_at: float | None = None  # when the first chunk started
    makespan: float = 0.0
    refs_alive: int = 0
    refs_alive_peak: int = 0
    bytes_alive: int = 0
    bytes_alive_peak: int = 0
    merge_depth: int = 0
    longest_task: float = 0.0
    sim_cpu_seconds: float = 0.0  # CPU seconds spent in this module (not the driver's)


class SimRef:
    """A simulated output kept on a virtual worker: its size and the chunks merged into it."""

    __slots__ = ("_stats", "chunks", "events", "level", "nbytes")

    def __init__(self, stats: SimulationStats, nbytes: int, chunks: int, events: int, level: int):
        self._stats, self.nbytes, self.chunks, self.events, self.level = (
            stats,
            nbytes,
            chunks,
            events,
            level,
        )
        stats.refs_alive += 1
        stats.bytes_alive += nbytes
        stats.refs_alive_peak = max(stats.refs_alive_peak, stats.refs_alive)
        stats.bytes_alive_peak = max(stats.bytes_alive_peak, stats.bytes_alive)

    def load(self) -> Partial:
        return Partial({"events": self.events}, chunks=self.chunks, events=self.events)

    def discard(self) -> None:
        self._stats.refs_alive -= 1
        self._stats.bytes_alive -= self.nbytes


class _Worker:
    __slots__ = ("alive", "cores", "free", "running", "wid")

    def __init__(self, wid: int, cores: int) -> None:
        self.wid, self.cores, self.free, self.alive = wid, cores, cores, True
        self.running: dict[Task, int] = {}  # task -> token of its attempt


class SimulatedCluster(Executor):
    """A discrete-event simulation of ``workers`` machines of ``cores`` cores (see module doc).

    ``distribution``: "uniform" (every chunk takes ``task_seconds``) or
    "lognormal" (mean ``task_seconds``, log-sigma ``sigma``: 0.5 puts the slowest
    of 10,000 chunks near 4x the mean, as in TopEFT).
    """

    name = "simulated"

    def __init__(
        self,
        workers: int = 10,
        cores: int = 4,
        *,
        task_seconds: float = 10.0,
        distribution: str = "lognormal",
        sigma: float = 0.5,
        output_bytes: int = 1_000_000,
        merge_seconds_per_input: float = 0.05,
        preprocess_seconds: float = 0.05,
        entries_per_file: int = 100_000,
        failure_rate: float = 0.0,
        worker_loss_rate: float = 0.0,
        rejoin_seconds: float = 30.0,
        ramp_seconds: float = 0.0,
        retries: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__(retries=retries)
        if distribution not in ("uniform", "lognormal"):
            msg = f"distribution must be 'uniform' or 'lognormal', not {distribution!r}"
            raise ValueError(msg)
        self.workers, self.cores = workers, cores
        self.task_seconds, self.distribution, self.sigma = task_seconds, distribution, sigma
        self.output_bytes = output_bytes
        self.merge_seconds_per_input = merge_seconds_per_input
        self.preprocess_seconds = preprocess_seconds
        self.entries_per_file = entries_per_file
        self.failure_rate, self.worker_loss_rate = failure_rate, worker_loss_rate
        self.rejoin_seconds, self.ramp_seconds = rejoin_seconds, ramp_seconds
        self._rng = np.random.default_rng(seed)
        self.stats_ = SimulationStats()
        self.now = 0.0
        self._events: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._workers: dict[int, _Worker] = {}
        self._free: deque[_Worker] = deque()  # one entry per free core (dead ones skipped)
        self._queue: deque[Task] = deque()
        self._slots = 0
        self._finished: list[tuple[Task, Result]] = []
        self._draws: dict[str, list[float]] = {}

    # lifetime --------------------------------------------------------------
    def start(self) -> None:
        tic = time.thread_time()
        for wid in range(self.workers):
            at = 0.0 if not self.ramp_seconds else self._draw("uniform") * self.ramp_seconds
            self._push(at, _JOIN, wid)
        self.stats_.sim_cpu_seconds += time.thread_time() - tic

    def stop(self, abort: bool = False) -> None:
        self.stats_.makespan = self.now

    @property
    def slots(self) -> int:
        return self._slots

    def stats(self) -> dict[str, Any]:
        return {"simulated makespan s": round(self.now, 1)}

    def __repr__(self) -> str:
        return f"SimulatedCluster(workers={self.workers}, cores={self.cores})"

    # random draws, made in batches (one numpy call per 65,536 draws) -----------
    def _draw(self, what: str) -> float:
        pool = self._draws.get(what)
        if not pool:
            if what == "uniform":
                values = self._rng.random(_BATCH)
            elif what == "duration":
                if self.distribution == "uniform":
                    values = np.ones(_BATCH)
                else:  # mean 1: exp(mu + sigma^2 / 2) = 1
                    values = self._rng.lognormal(-(self.sigma**2) / 2, self.sigma, _BATCH)
            else:  # "lifetime"
                values = self._rng.exponential(1.0 / self.worker_loss_rate, _BATCH)
            pool = self._draws[what] = values.tolist()
        return pool.pop()

    def _push(self, at: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, kind, payload))

    # task hooks ----------------------------------------------------------------
    def _launch(self, task: Task) -> None:
        tic = time.thread_time()
        self._queue.append(task)
        self._dispatch()
        self.stats_.sim_cpu_seconds += time.thread_time() - tic

    def _dispatch(self) -> None:
        while self._queue and self._free:
            worker = self._free.popleft()
            if not worker.alive:
                continue
            task = self._queue.popleft()
            worker.free -= 1
            self._seq += 1
            token = self._seq
            worker.running[task] = token
            duration = self._duration(task)
            if task.kind == "process" and self.stats_.first_process_at is None:
                self.stats_.first_process_at = self.now
            self.stats_.longest_task = max(self.stats_.longest_task, duration)
            task.handle = (worker, token, self.now)
            heapq.heappush(self._events, (self.now + duration, token, _FINISH, task))

    def _duration(self, task: Task) -> float:
        if task.kind == "process":
            return self.task_seconds * self._draw("duration")
        if task.kind == "merge":
            return self.merge_seconds_per_input * len(task.arg)
        return self.preprocess_seconds

    def _collect(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        tic = time.thread_time()
        try:
            while not self._finished:
                if not self._events:
                    msg = "simulated cluster: tasks are waiting but no worker will ever run them"
                    raise RuntimeError(msg)
                kind = self._step()
                if kind != _FINISH and not tasks:
                    break  # the caller waits on nothing: a worker joined, it may submit now
                if timeout is not None and not self._finished:
                    break
            finished, self._finished = self._finished, []
            return finished
        finally:
            self.stats_.sim_cpu_seconds += time.thread_time() - tic

    def _step(self) -> int:
        at, token, kind, payload = heapq.heappop(self._events)
        self.now = at
        if kind == _JOIN:
            worker = self._workers[payload] = _Worker(payload, self.cores)
            self._slots += worker.cores
            self._free.extend([worker] * worker.cores)
            if self.worker_loss_rate:
                self._push(at + self._draw("lifetime"), _LEAVE, worker)
            self._dispatch()
        elif kind == _LEAVE:
            self._lose(payload)
        else:
            self._finish(payload, token)
        return kind

    def _lose(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        worker.alive = False
        self._slots -= worker.cores
        self.stats_.workers_lost += 1
        for task, _ in worker.running.items():
            started = task.handle[2]
            self.stats_.busy_seconds += self.now - started
            self.stats_.lost_attempts += 1
            failure = _failure(task, "WorkerLost", "simulated worker lost")
            self._finished.append((task, Err(failure)))
        worker.running.clear()
        # a replacement (a new worker id) joins later; the stale finish events are ignored
        self._seq += 1
        self._push(self.now + self.rejoin_seconds, _JOIN, len(self._workers) + self._seq)

    def _finish(self, task: Task, token: int) -> None:
        worker, started_token, started = task.handle
        if started_token != token or worker.running.get(task) != token:
            return  # the worker was lost; this attempt already failed
        del worker.running[task]
        worker.free += 1
        self._free.append(worker)
        self.stats_.busy_seconds += self.now - started
        self.stats_.tasks[task.kind] += 1
        if self.failure_rate and self._draw("uniform") < self.failure_rate:
            self.stats_.failed_attempts += 1
            self._finished.append((task, Err(_failure(task, "SimulatedFailure", "simulated"))))
        else:
            self._finished.append((task, Ok(self._output(task))))
        self._dispatch()

    def _output(self, task: Task) -> Any:
        stats = self.stats_
        if task.kind == "process":
            return SimRef(stats, self.output_bytes, 1, len(task.arg), 0)
        if task.kind == "merge":
            refs = task.arg
            level = 1 + max(ref.level for ref in refs)
            stats.merge_depth = max(stats.merge_depth, level)
            return SimRef(
                stats,
                max(ref.nbytes for ref in refs),
                sum(ref.chunks for ref in refs),
                sum(ref.events for ref in refs),
                level,
            )
        spec = task.arg
        digest = hashlib.md5(spec.path.encode(), usedforsecurity=False).digest()
        return FileMeta(
            spec.path, spec.treename, self.entries_per_file, str(uuid.UUID(bytes=digest))
        )

    def ideal_makespan(self) -> float:
        """Total task time (every attempt) over the cores (all connected from the start)."""
        return self.stats_.busy_seconds / max(1, self.workers * self.cores)

    def critical_path(self, merge_inputs: int) -> float:
        """The longest task plus one merge per tree level: no schedule ends sooner."""
        return self.stats_.longest_task + self.stats_.merge_depth * (
            self.merge_seconds_per_input * merge_inputs
        )


def _failure(task: Task, exc_type: str, message: str) -> ChunkFailure:
    return ChunkFailure(task.arg, task.kind, exc_type, message, "", (RuntimeError,), True)


def ceil_log(n: int, base: int) -> int:
    """Levels of a merge tree of fan-in ``base`` over ``n`` leaves."""
    return 0 if n <= 1 else math.ceil(math.log(n, base) - 1e-9)
