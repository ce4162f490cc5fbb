"""The executor interface, the single retry layer, and the registry of executors.

An executor runs picklable functions on work items and knows nothing about
physics. The Runner only uses what is defined here:

- ``with executor:`` starts and stops pools, clients, managers, workers;
- ``submit(function, arg, kind=..., keep=...)`` returns a :class:`Task`;
  with ``keep=True`` the output stays where it was made (spool file, worker
  memory) and the task's result is a ref to it;
- ``wait(tasks)`` returns finished ``(task, Result)`` pairs, retrying failed
  tasks itself (the ONE retry layer) until ``retries`` is used up;
- ``fetch(ref)`` brings a kept output to the driver, ``release(ref)`` frees it
  where it is kept: every ref's lifetime goes through the executor;
- ``submit_all(function, items)`` streams results in completion order;
- capability attributes (``slots``), never type checks.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Self

from ..errors import ExecutorError
from ..results import Err, Result

__all__ = ["Executor", "Task", "executor_names", "get_executor", "register", "worker_count"]

_END = object()


@dataclass(eq=False)
class Task:
    """One submitted call; ``attempts`` grows when the executor retries it."""

    function: Callable[[Any], Any]
    arg: Any
    kind: str
    keep: bool
    attempts: int = 1
    handle: Any = field(default=None, repr=False)


class Executor(ABC):
    """Base class of colframe executors. Subclasses implement the four hooks."""

    name: ClassVar[str] = ""

    def __init__(self, retries: int = 2, preflight: bool = False) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            msg = f"retries must be an integer >= 0, got {retries!r}"
            raise ExecutorError(msg)
        self.retries = retries
        #: probe the workers before the first task of each function (colframe.envs)
        self.preflight = bool(preflight)
        self._depth = 0
        self._preflighted: dict[int, Callable[[Any], Any]] = {}

    # lifetime -------------------------------------------------------------
    def __enter__(self) -> Self:
        if self._depth == 0:
            self.start()
        self._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._preflighted.clear()
            self.stop(abort=exc_info[0] is not None)

    @abstractmethod
    def start(self) -> None:
        """Start pools, clients or workers."""

    @abstractmethod
    def stop(self, abort: bool = False) -> None:
        """Stop everything; with ``abort`` do not wait for tasks in flight."""

    @property
    @abstractmethod
    def slots(self) -> int:
        """How many tasks can run at once."""

    # task hooks -------------------------------------------------------------
    @abstractmethod
    def _launch(self, task: Task) -> None:
        """Start ``task`` (set ``task.handle``)."""

    @abstractmethod
    def _collect(
        self, tasks: Collection[Task], timeout: float | None
    ) -> list[tuple[Task, Result]]:
        """Wait until at least one of ``tasks`` finished (or ``timeout``); return them.

        ``tasks`` is the caller's own collection (the scheduler's dict of tasks in
        flight, as a keys view): read it, never copy it per call where it can be
        avoided, since the scheduler calls this once or more per chunk.
        """

    def fetch(self, ref: Any) -> Any:
        """The value behind a ref returned by a ``keep=True`` task."""
        return ref.load()

    def status(self) -> str:
        """A few words the progress line shows beside the bar (e.g. "2 workers"); "" for none.

        Read about once a second while chunks run, so it may ask the engine.
        """
        return ""

    def stats(self) -> dict[str, Any]:
        """What the run report shows of this engine (tasks per worker, splits, logs, ...)."""
        return {}

    def release(self, ref: Any) -> None:
        """Free the output behind a ref once it has been merged (spool file, worker temp file)."""
        ref.discard()

    # what the Runner uses ---------------------------------------------------
    def submit(
        self, function: Callable[[Any], Any], arg: Any, *, kind: str = "process", keep: bool = False
    ) -> Task:
        """Start ``function(arg)``; with ``keep`` the result is a ref to the stored output.

        With ``preflight``, the first submit of each function first probes the workers
        and raises PreflightError (a table of worker, problem, fix) if they cannot run it.
        """
        if self.preflight and kind != "merge" and id(function) not in self._preflighted:
            self._preflighted[id(function)] = function
            self._check_workers(function)
        task = Task(function, arg, kind, keep)
        self._launch(task)
        return task

    def _check_workers(self, function: Callable[[Any], Any]) -> None:
        """One probe task per slot, run like any task; PreflightError if a worker differs."""
        from ..envs import _preflight

        probe, modules = _preflight.probe_function(function)
        pending = []
        for _ in range(max(1, self.slots)):
            task = Task(probe, None, "preprocess", False)
            self._launch(task)
            pending.append(task)
        results = []
        while pending:
            for task, result in self.wait(pending):
                pending.remove(task)
                results.append(result)
        _preflight.check(results, modules, repr(self))

    def wait(
        self, tasks: Collection[Task], timeout: float | None = None
    ) -> list[tuple[Task, Result]]:
        """Finished tasks among ``tasks``; failed ones are retried here, up to ``retries``.

        ``tasks`` is read as it is, not copied: a retried task stays in it.
        """
        finished = []
        for task, result in self._collect(tasks, timeout):
            if isinstance(result, Err):
                failure = result.failure
                if failure.retryable and task.attempts <= self.retries:
                    task.attempts += 1
                    self._launch(task)
                    continue
                result = Err(dataclasses.replace(failure, attempts=task.attempts))
            finished.append((task, result))
        return finished

    def submit_all(
        self, function: Callable[[Any], Any], items: Iterable[Any], *, kind: str = "process"
    ) -> Iterator[tuple[Any, Result]]:
        """Run ``function`` on every item; yield ``(item, Result)`` in completion order.

        Keeps ``2 * slots`` tasks in flight, ``slots`` read anew at every step:
        workers of an elastic pool join (and leave) while the items run.
        """
        queue = iter(items)
        pending: dict[Task, None] = {}
        more = True
        while more or pending:
            limit = 2 * self.slots
            while more and len(pending) < limit:
                item = next(queue, _END)
                if item is _END:
                    more = False
                    break
                pending[self.submit(function, item, kind=kind)] = None
            if not pending and not more:  # all done: waiting on nothing would never return
                break
            for task, result in self.wait(pending.keys()):
                del pending[task]
                yield task.arg, result


def worker_count(workers: int | None) -> int:
    """``workers``, or the number of CPUs when None; anything but a positive int is an error."""
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers must be a positive integer, got {workers!r}"
        raise ExecutorError(msg)
    return workers


# registry -----------------------------------------------------------------
_BUILTIN: dict[str, str] = {
    "iterative": "colframe.executors.iterative:IterativeExecutor",
    "futures": "colframe.executors.futures:FuturesExecutor",
    "dask": "colframe.executors.dask:DaskExecutor",
    "taskvine": "colframe.executors.taskvine:TaskVineExecutor",
    "workqueue": "colframe.executors.workqueue:WorkQueueExecutor",
}


def register(name: str, target: str) -> None:
    """Register an executor class by ``"module:Class"`` under ``name``."""
    _BUILTIN[name] = target


def executor_names() -> list[str]:
    """Known executor names: built-ins plus ``colframe.executors`` entry points."""
    names = set(_BUILTIN) | {ep.name for ep in entry_points(group="colframe.executors")}
    return sorted(names)


def get_executor(name: str, **options: Any) -> Executor:
    """Build an executor from its registered name, e.g. ``get_executor("futures", workers=4)``."""
    target = _BUILTIN.get(name)
    if target is None:
        matches = [ep for ep in entry_points(group="colframe.executors") if ep.name == name]
        if not matches:
            msg = f"unknown executor {name!r}; known executors: {', '.join(executor_names())}"
            raise ExecutorError(msg)
        cls = matches[0].load()
    else:
        module, _, attr = target.partition(":")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
    return cls(**options)
