"""The completion queue of the futures and dask executors (colframe/executors/_completions.py)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from colframe.executors._base import Task
from colframe.executors._completions import Completions


def _task(future: Future) -> Task:
    return Task(print, None, "process", False, handle=future)


def _completions() -> Completions:
    return Completions(lambda task: task.handle)


def test_take_returns_what_finished_in_completion_order_and_waits_for_one():
    completions = _completions()
    futures = [Future() for _ in range(4)]
    tasks = [_task(f) for f in futures]
    for task, future in zip(tasks, futures, strict=True):
        completions.watch(task, future)
    assert completions.take(tasks, timeout=0.01) == []  # nothing finished: the timeout ends it
    futures[2].set_result(2)
    futures[0].set_result(0)
    assert completions.take(tasks, timeout=None) == [(tasks[2], futures[2]), (tasks[0], futures[0])]
    threading.Timer(0.05, futures[3].set_result, (3,)).start()
    assert completions.take(tasks, timeout=None) == [(tasks[3], futures[3])]  # blocks until then


def test_a_future_done_before_it_is_watched_is_taken():
    completions = _completions()
    future: Future = Future()
    future.set_result(1)
    task = _task(future)
    completions.watch(task, future)
    assert completions.take([task], timeout=0) == [(task, future)]


def test_tasks_another_wait_asked_for_are_held_for_it():
    completions = _completions()
    futures = [Future(), Future()]
    tasks = [_task(f) for f in futures]
    for task, future in zip(tasks, futures, strict=True):
        completions.watch(task, future)
    futures[0].set_result(0)
    futures[1].set_result(1)
    assert completions.take(tasks[1:], timeout=None) == [(tasks[1], futures[1])]
    assert completions.take(tasks[:1], timeout=0) == [(tasks[0], futures[0])]
    assert completions.take(tasks, timeout=0) == []  # each one is taken once


def test_the_future_of_an_earlier_attempt_is_dropped():
    completions = _completions()
    first, second = Future(), Future()
    task = _task(first)
    completions.watch(task, first)
    task.handle = second  # retried: the task now waits on its new future
    completions.watch(task, second)
    first.set_result("old")
    assert completions.take([task], timeout=0.01) == []
    second.set_result("new")
    assert completions.take([task], timeout=None) == [(task, second)]
