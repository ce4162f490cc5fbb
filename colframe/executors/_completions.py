"""Completion queue: the tasks whose future finished, in the order they finished.

``concurrent.futures.wait`` and ``distributed.wait`` look at every future they
are given at every call: with thousands of tasks in flight, each finished task
cost the driver a scan of all of them. Here each future reports itself once,
when it finishes (``add_done_callback``), so a wait costs what finished, not
what is in flight.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Collection
from typing import Any

from ._base import Task

__all__ = ["Completions"]


class Completions:
    """Finished ``(task, future)`` pairs of the futures :meth:`watch` was given.

    ``handle`` says which future a task now waits on (a retried task has a new
    one); a pair whose future is no longer its task's is dropped.
    """

    def __init__(self, handle: Callable[[Task], Any]) -> None:
        self._handle = handle
        self._queue: queue.SimpleQueue[tuple[Task, Any]] = queue.SimpleQueue()
        # finished tasks the caller did not wait for yet (another wait's tasks)
        self._held: dict[Task, Any] = {}

    def watch(self, task: Task, future: Any) -> None:
        """Queue ``(task, future)`` when ``future`` finishes (at once if it has)."""
        future.add_done_callback(lambda done: self._queue.put((task, done)))

    def take(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Any]]:
        """The finished ``(task, future)`` pairs among ``tasks``: waits for one (or for
        ``timeout`` seconds), then takes every one already there without waiting."""
        finished = [(task, future) for task, future in self._held.items() if task in tasks]
        for task, _ in finished:
            del self._held[task]
        while True:
            try:
                task, future = self._queue.get(not finished, timeout)
            except queue.Empty:
                return finished
            if future is not self._handle(task):
                continue  # the future of an earlier attempt
            if task in tasks:
                finished.append((task, future))
            else:
                self._held[task] = future
