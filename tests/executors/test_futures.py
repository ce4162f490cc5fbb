"""FuturesExecutor: real worker processes, shipped-once functions, survival of killed workers."""

from __future__ import annotations

import os

import pytest
from _compare import assert_same
from _processors import AlwaysCrashes, CoffeaStyle, CountsUnpickling, KillsOnce

import colframe
from colframe.errors import ChunkError
from colframe.executors import FuturesExecutor, Ok


def _pid(_):
    return os.getpid()


def test_tasks_run_in_worker_processes():
    with FuturesExecutor(workers=2) as executor:
        results = list(executor.submit_all(_pid, range(20)))
    pids = {r.value for _, r in results if isinstance(r, Ok)}
    assert len(results) == 20
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_function_is_shipped_once_per_worker(tmp_path):
    log = tmp_path / "unpickled.log"
    function = CountsUnpickling(str(log))
    with FuturesExecutor(workers=2) as executor:
        assert len(list(executor.submit_all(function, range(40)))) == 40
    lines = log.read_text().split()
    assert 1 <= len(lines) <= 2  # once per worker process, not once per task (40)
    assert len(set(lines)) == len(lines)


def test_spool_is_removed_after_run(generated):
    executor = FuturesExecutor(workers=2)
    runner = colframe.Runner(executor, chunksize=2_000, status=False)
    runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
    assert executor._spool is None


def test_killed_worker_chunks_are_resubmitted(generated, tmp_path):
    fileset = {"d": [str(p) for p in generated]}
    clean = colframe.Runner("iterative", chunksize=1_500, status=False)(
        fileset, "Events", processor_instance=CoffeaStyle()
    )
    executor = FuturesExecutor(workers=2)
    proc = KillsOnce(str(tmp_path / "killed.flag"), victim=3_000)
    runner = colframe.Runner(executor, chunksize=1_500, status=False, savemetrics=True)
    out, report = runner(fileset, "Events", processor_instance=proc)
    assert (tmp_path / "killed.flag").exists()  # a worker really was SIGKILLed
    assert executor.worker_deaths >= 1
    assert_same(out, clean)
    assert report.complete
    assert report.chunks_retried >= 1
    assert report.chunks_ok == report.chunks_total == 12


def test_always_crashing_processor_ends_with_clear_error(generated):
    runner = colframe.Runner(FuturesExecutor(workers=2, retries=1), chunksize=3_000, status=False)
    with pytest.raises(ChunkError, match="worker process died") as info:
        runner({"d": [str(generated[0])]}, "Events", processor_instance=AlwaysCrashes())
    assert "entries [" in str(info.value)
    assert info.value.failure.attempts == 2
