"""ShippedFunctions: each function shipped once, however often and however long it is used."""

from __future__ import annotations

import threading

import pytest

from colframe.errors import UnpicklableError
from colframe.executors._ship import ShippedFunctions, pickle_arg


class Work:
    def __init__(self, tag: int) -> None:
        self.tag = tag

    def __call__(self, arg):
        return arg


def test_each_function_is_shipped_once():
    shipped_calls = []
    shipped = ShippedFunctions(lambda function, index: shipped_calls.append(index) or f"h{index}")
    first, second = Work(1), Work(1)  # equal-looking, distinct objects: two functions
    assert [shipped(first) for _ in range(3)] == ["h0"] * 3
    assert shipped(second) == "h1"
    assert shipped_calls == [0, 1]
    assert list(shipped) == ["h0", "h1"]
    shipped.clear()
    assert len(shipped) == 0
    assert shipped(first) == "h0"  # a new run ships again


def test_a_dropped_function_cannot_lend_its_id_to_another():
    shipped = ShippedFunctions(lambda function, index: (function.tag, index))
    handles = set()
    for tag in range(200):
        # without the reference the registry holds, each Work would be freed (by its
        # reference count: no gc.collect() needed) on return, CPython would reuse its
        # id for the next Work and the old handle would come back
        handles.add(shipped(Work(tag)))
    assert handles == {(tag, tag) for tag in range(200)}


def test_pickle_arg_names_what_cannot_be_pickled():
    with pytest.raises(UnpicklableError, match=r"\['lock'\] is a _thread\.lock"):
        pickle_arg({"lock": threading.Lock()})
