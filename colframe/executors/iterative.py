"""IterativeExecutor: runs every task in this process, one after the other.

The reference executor and the default in tests: same interface as the
others, no processes, tracebacks point straight at the user's code.
"""

from __future__ import annotations

from collections.abc import Collection

from ..results import Result
from ._base import Executor, Task
from ._store import MemoryStore
from ._task import execute

__all__ = ["IterativeExecutor"]


class IterativeExecutor(Executor):
    """Run tasks synchronously in the calling process.

    Args:
        retries: extra attempts for a failed task (transient errors only).
    """

    name = "iterative"

    def __init__(self, retries: int = 2, preflight: bool = False) -> None:
        super().__init__(retries=retries, preflight=preflight)
        self._store = MemoryStore()

    def start(self) -> None:
        pass

    def stop(self, abort: bool = False) -> None:
        pass

    @property
    def slots(self) -> int:
        return 1

    def _launch(self, task: Task) -> None:
        store = self._store if task.keep else None
        task.handle = execute(task.function, task.arg, task.kind, store)

    def _collect(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        return [(task, task.handle) for task in tasks]

    def __repr__(self) -> str:
        return f"IterativeExecutor(retries={self.retries})"
