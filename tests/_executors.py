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

__all__ = [
    "FACTORIES",
    "ExecutorFactory",
    "ExitsProcessing",
    "factory_ids",
    "factory_params",
]


@dataclass(frozen=True)
class ExecutorFactory:
    """How to build one executor for a test, and its capabilities.

    Attributes:
        name: the test id.
        make: ``make(request)`` returns a fresh, unstarted executor.
        can_kill_worker: a chunk can kill its worker process and the run goes on
            (False for the in-process executor: the test process would die).
        pickles_tasks: task arguments travel to other processes (so they must pickle).
        slow: its tests carry the ``slow`` marker (engines that start workers per test).
    """

    name: str
    make: Callable[[pytest.FixtureRequest], Executor]
    can_kill_worker: bool = True
    pickles_tasks: bool = True
    slow: bool = False

    def __call__(self, request: pytest.FixtureRequest) -> Executor:
        return self.make(request)


def _dask(request: pytest.FixtureRequest) -> Executor:
    # one cluster for the session (conftest's dask_client): 2 single-threaded workers
    return get_executor("dask", client=request.getfixturevalue("dask_client"))


def _engine(name: str, **options) -> Callable[[pytest.FixtureRequest], Executor]:
    # real local workers (vine_worker / work_queue_worker); logs under the test's tmp_path
    def make(request: pytest.FixtureRequest) -> Executor:
        run_info = request.getfixturevalue("tmp_path") / f"{name}-run-info"
        return get_executor(name, workers=2, run_info_dir=run_info, **options)

    return make


FACTORIES = [
    ExecutorFactory(
        "iterative",
        lambda request: get_executor("iterative"),
        can_kill_worker=False,
        pickles_tasks=False,
    ),
    ExecutorFactory("futures", lambda request: get_executor("futures", workers=2)),
    ExecutorFactory("dask", _dask),
    ExecutorFactory("taskvine", _engine("taskvine"), slow=True),
    ExecutorFactory("taskvine-tasks", _engine("taskvine", mode="tasks"), slow=True),
    ExecutorFactory("workqueue", _engine("workqueue"), slow=True),
]


def factory_ids(factory: ExecutorFactory) -> str:
    return factory.name


def factory_params(factories: list[ExecutorFactory]) -> list:
    """``factories`` as pytest params: named, and marked ``slow`` where they are."""
    return [
        pytest.param(f, id=f.name, marks=[pytest.mark.slow] if f.slow else []) for f in factories
    ]


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
