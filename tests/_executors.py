"""Every executor the contract suite runs, and the processors that break their workers.

``FACTORIES`` is the one list: an executor joins the contract suite
(``tests/executors/test_contract.py``) with one line here. A factory builds a
fresh executor per test from the test's ``request`` (for session fixtures such
as ``dask_client``) and says what the engine can do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from _processors import fill
from coffea import processor

from colframe.executors import Executor, get_executor

__all__ = ["FACTORIES", "ExecutorFactory", "ExitsProcessing", "factory_ids"]


@dataclass(frozen=True)
class ExecutorFactory:
    """How to build one executor for a test, and its capabilities.

    Attributes:
        name: the test id.
        make: ``make(request)`` returns a fresh, unstarted executor.
        can_kill_worker: a chunk can kill its worker process and the run goes on
            (False for the in-process executor: the test process would die).
        pickles_tasks: task arguments travel to other processes (so they must pickle).
    """

    name: str
    make: Callable[[pytest.FixtureRequest], Executor]
    can_kill_worker: bool = True
    pickles_tasks: bool = True

    def __call__(self, request: pytest.FixtureRequest) -> Executor:
        return self.make(request)


def _dask(request: pytest.FixtureRequest) -> Executor:
    # one cluster for the session (conftest's dask_client): 2 single-threaded workers
    return get_executor("dask", client=request.getfixturevalue("dask_client"))


FACTORIES = [
    ExecutorFactory(
        "iterative",
        lambda request: get_executor("iterative"),
        can_kill_worker=False,
        pickles_tasks=False,
    ),
    ExecutorFactory("futures", lambda request: get_executor("futures", workers=2)),
    ExecutorFactory("dask", _dask),
]


def factory_ids(factory: ExecutorFactory) -> str:
    return factory.name


class ExitsProcessing(processor.ProcessorABC):
    """Calls ``sys.exit(code)`` on the chunk starting at ``victim``; ``fill`` elsewhere."""

    def __init__(self, code: int | str | None = 0, victim: int = 3_000) -> None:
        self.code = code
        self.victim = victim

    def process(self, events):
        if events.metadata["entrystart"] == self.victim:
            sys.exit(self.code)
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class ExitsZero(ExitsProcessing):
    """``sys.exit(0)`` in the chunk starting at 3000 (for the command line, which needs no args)."""

    def __init__(self) -> None:
        super().__init__(0)


def worker_pid(_) -> int:
    return os.getpid()
