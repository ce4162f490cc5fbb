"""Executors: interchangeable ways to run chunks (in-process, local processes, clusters)."""

from __future__ import annotations

from ._base import Executor, Task, executor_names, get_executor, register
from ._result import Err, Ok, Result
from .futures import FuturesExecutor
from .iterative import IterativeExecutor

__all__ = [
    "Err",
    "Executor",
    "FuturesExecutor",
    "IterativeExecutor",
    "Ok",
    "Result",
    "Task",
    "executor_names",
    "get_executor",
    "register",
]


def __dir__() -> list[str]:
    return __all__
