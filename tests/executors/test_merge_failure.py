"""A merge that fails is reported, never retried: no executor returns a smaller output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Self

import cloudpickle
import pytest

import colframe
from colframe._work import merge_partials
from colframe.errors import ChunkError
from colframe.executors import Err, Ok

# dask workers are spawned processes that cannot import this test module: the
# helpers below travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class FailsFirstAdd:
    """A counter whose first ``+=`` (in any process) raises a transient-looking error.

    ``flag`` is a file created by that first ``+=``: every later one adds normally, so
    a retried merge would succeed, on whatever its inputs have become.
    """

    def __init__(self, value: int, flag: str) -> None:
        self.value = value
        self.flag = flag

    @property
    def nbytes(self) -> int:
        return self.value

    def __iadd__(self, other: FailsFirstAdd) -> Self:
        if not Path(self.flag).exists():
            Path(self.flag).touch()
            msg = "transient trouble while adding"
            raise ValueError(msg)
        self.value += other.value
        return self


class Output:
    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, value: int) -> FailsFirstAdd:
        return FailsFirstAdd(value, self.flag)


class CountsWithFailingMerge:
    """A processor whose output's first merge fails."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, events) -> dict:
        return {"events": FailsFirstAdd(len(events), self.flag)}


def _run(executor, function, arg, **options):
    task = executor.submit(function, arg, **options)
    while not (finished := executor.wait([task])):
        pass  # the iterative executor reruns a retried task at the next wait
    ((_, result),) = finished
    return task, result


def test_failed_merge_is_not_retried(executor, tmp_path):
    flag = str(tmp_path / "failed.flag")
    with executor:
        refs = []
        for value in (1, 10, 100):
            _, result = _run(executor, Output(flag), value, keep=True)
            assert isinstance(result, Ok)
            refs.append(result.value)
        task, result = _run(executor, merge_partials, refs, kind="merge", keep=True)
    assert Path(flag).exists()  # the merge really failed once
    assert isinstance(result, Err), "a failed merge was retried"
    assert task.attempts == result.failure.attempts == 1
    assert result.failure.kind == "merge"
    assert not result.failure.retryable
    assert result.failure.exc_type == "ValueError"
    assert result.failure.item == "merge of 3 partial outputs"


def test_run_with_a_failed_merge_ends_with_a_clear_error(executor, generated, tmp_path):
    flag = str(tmp_path / "failed.flag")
    runner = colframe.Runner(executor, chunksize=1_000, fan_in=3, status=False)
    with pytest.raises(ChunkError, match=r"merge failed after 1 attempt\(s\)") as info:
        runner(
            {"d": [str(generated[0])]}, "Events", processor_instance=CountsWithFailingMerge(flag)
        )
    assert "ValueError: transient trouble while adding" in str(info.value)
    assert info.value.failure.kind == "merge"
    assert Path(flag).exists()
