"""Executors: interchangeable ways to run chunks (in-process, local processes, clusters)."""

from __future__ import annotations

from ..results import Err, Ok, Result
from ._base import Executor, Task, executor_names, get_executor, register
from .futures import FuturesExecutor
from .iterative import IterativeExecutor

__all__ = [
    "DaskExecutor",
    "Err",
    "Executor",
    "FuturesExecutor",
    "IterativeExecutor",
    "Ok",
    "Result",
    "Task",
    "TaskVineExecutor",
    "WorkQueueExecutor",
    "executor_names",
    "get_executor",
    "register",
]


def __dir__() -> list[str]:
    return __all__


def __getattr__(name: str):
    # DaskExecutor is imported on first use: `import colframe` must not import distributed
    if name == "DaskExecutor":
        from .dask import DaskExecutor

        return DaskExecutor
    if name == "TaskVineExecutor":  # imports ndcctools only when it is used
        from .taskvine import TaskVineExecutor

        return TaskVineExecutor
    if name == "WorkQueueExecutor":
        from .workqueue import WorkQueueExecutor

        return WorkQueueExecutor
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
