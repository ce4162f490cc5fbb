"""The executor contract: what every executor in ``tests/_executors.py:FACTORIES`` must do.

Results are compared with coffea's Runner (IterativeExecutor) and with colframe's
iterative executor on the same processor and files. Engine-specific behaviour
lives beside this file (test_futures.py, test_dask.py).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Self

import cloudpickle
import pytest
from _compare import assert_same
from _executors import FACTORIES, ExitsProcessing, factory_params
from _processors import AlwaysCrashes, CoffeaStyle, KillsOnce
from coffea import processor
from coffea.nanoevents import NanoAODSchema

import colframe
from colframe._work import merge_partials
from colframe.errors import ChunkError, UnpicklableError, WorkerDiedError
from colframe.executors import Err, Ok

# dask workers are spawned processes that cannot import this test module: the
# helpers below travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

KILLERS = [f for f in FACTORIES if f.can_kill_worker]
PICKLERS = [f for f in FACTORIES if f.pickles_tasks]


@pytest.fixture(params=factory_params(FACTORIES))
def factory(request):
    return request.param


@pytest.fixture
def executor(factory, request):
    """A fresh executor from ``factory`` (this module's own: every entry of FACTORIES)."""
    return factory(request)


def _coffea(fileset, proc, chunksize):
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=chunksize
    )
    return runner(fileset, processor_instance=proc, treename="Events")


def _run(executor, fileset, proc, **options):
    options = {"chunksize": 1_500, "savemetrics": True, "status": False, **options}
    return colframe.Runner(executor, **options)(fileset, "Events", processor_instance=proc)


# results ----------------------------------------------------------------------
def test_output_equals_iterative_and_coffea(executor, generated):
    fileset = {"a": [str(p) for p in generated[:2]], "b": [str(generated[2])]}
    out, report = _run(executor, fileset, CoffeaStyle(), chunksize=2_500, fan_in=3)
    reference, _ = _run("iterative", fileset, CoffeaStyle(), chunksize=2_500, fan_in=3)
    assert_same(out, reference)
    assert_same(out, _coffea(fileset, CoffeaStyle(), 2_500))
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 6


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("factory", factory_params(KILLERS))
def test_killed_worker_is_resubmitted_with_identical_output(executor, generated, tmp_path):
    fileset = {"d": [str(p) for p in generated]}
    flag = tmp_path / "killed.flag"
    out, report = _run(executor, fileset, KillsOnce(str(flag), victim=3_000))
    assert flag.exists()  # a worker really was SIGKILLed
    assert_same(out, _coffea(fileset, CoffeaStyle(), 1_500))
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 12
    assert report.chunks_retried >= 1


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("factory", factory_params(KILLERS))
def test_always_crashing_processor_is_reported_with_file_and_entries(executor, generated):
    path = str(generated[0])
    with pytest.raises(ChunkError) as info:
        _run(executor, {"d": [path]}, AlwaysCrashes(), chunksize=6_000)
    failure = info.value.failure
    assert failure.matches((WorkerDiedError,))
    assert failure.attempts >= 2  # retried: a death may be transient
    assert f"file={path}" in str(info.value)
    assert "entries [0, 6000)" in str(info.value)


# silent endings ------------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 3, "bye"])
def test_sys_exit_in_a_processor_is_that_chunks_failure(executor, generated, code):
    path = str(generated[0])
    with pytest.raises(ChunkError) as info:
        _run(executor, {"d": [path]}, ExitsProcessing(code, victim=3_000), chunksize=3_000)
    failure = info.value.failure
    assert failure.exc_type == "SystemExit"
    assert failure.item.entrystart == 3_000
    assert failure.attempts == 1  # sys.exit() is deliberate: another attempt exits again
    assert f"file={path}" in str(info.value)
    assert "entries [3000, 6000)" in str(info.value)


# task arguments ---------------------------------------------------------------
@pytest.mark.parametrize("factory", factory_params(PICKLERS))
def test_unpicklable_metadata_is_one_clear_error(executor, generated, capfd):
    fileset = {"d": {"files": [str(generated[0])], "metadata": {"lock": threading.Lock()}}}
    with pytest.raises(UnpicklableError, match=r"usermeta\['lock'\] is a _thread\.lock") as info:
        _run(executor, fileset, CoffeaStyle(), chunksize=3_000)
    assert "fileset metadata" in str(info.value)
    err = capfd.readouterr().err
    assert "InvalidStateError" not in err
    assert "Traceback" not in err


def test_metadata_stays_in_process_on_executors_that_do_not_pickle(generated):
    unpicklers = [f for f in FACTORIES if not f.pickles_tasks]
    fileset = {"d": {"files": [str(generated[0])], "metadata": {"lock": threading.Lock()}}}
    for factory in unpicklers:
        out, report = _run(factory(None), fileset, CoffeaStyle(), chunksize=3_000)
        assert report.complete
        assert out["events"] == {"d": 6_000}


# merges -------------------------------------------------------------------------
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


def _one(executor, function, arg, **options):
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
            _, result = _one(executor, Output(flag), value, keep=True)
            assert isinstance(result, Ok)
            refs.append(result.value)
        task, result = _one(executor, merge_partials, refs, kind="merge", keep=True)
    assert Path(flag).exists()  # the merge really failed once
    assert isinstance(result, Err), "a failed merge was retried"
    assert task.attempts == result.failure.attempts == 1
    assert result.failure.kind == "merge"
    assert not result.failure.retryable
    assert result.failure.exc_type == "ValueError"
    assert result.failure.item == "merge of 3 partial outputs"


def test_run_with_a_failed_merge_ends_with_a_clear_error(executor, generated, tmp_path):
    flag = str(tmp_path / "failed.flag")
    with pytest.raises(ChunkError, match=r"merge failed after 1 attempt\(s\)") as info:
        _run(executor, {"d": [str(generated[0])]}, CountsWithFailingMerge(flag), fan_in=3,
             chunksize=1_000)
    assert "ValueError: transient trouble while adding" in str(info.value)
    assert info.value.failure.kind == "merge"
    assert Path(flag).exists()
