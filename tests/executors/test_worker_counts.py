"""Counting lost workers from the engines' manager statistics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from colframe.executors._manager_worker import workers_lost


def stats(removed=0, released=0, idled_out=0, lost=0):
    return SimpleNamespace(
        workers_removed=removed,
        workers_released=released,
        workers_idled_out=idled_out,
        workers_lost=lost,
    )


@pytest.mark.parametrize(
    ("counters", "fast_aborted", "expected"),
    [
        # a worker SIGKILLed while its output waited for retrieval: TaskVine 7.17.1 removed
        # it ("DISCONNECTION FAILURE" in the transaction log) but left workers_lost at 0
        (stats(removed=1), 0, 1),
        (stats(removed=1, lost=1), 0, 1),  # seen while reading its message: counted once
        (stats(removed=3, released=1, idled_out=1), 0, 1),  # asked to go: not lost
        (stats(removed=2), 2, 0),  # fast-aborted as slow: the manager chose it
    ],
)
def test_a_worker_removed_without_being_asked_is_lost(counters, fast_aborted, expected):
    assert workers_lost(counters, fast_aborted) == expected
