"""FuturesExecutor: worker processes, shipped-once functions, whom a dead worker blames, the spool.

The contract every executor meets is in test_contract.py; this file holds what
is the futures executor's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _processors import CoffeaStyle, fill
from coffea import processor

import colframe
from colframe.errors import ChunkError, SpoolError, WorkerDiedError
from colframe.executors import Err, FuturesExecutor, Ok

TESTS = Path(__file__).resolve().parents[1]


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` (a file appearing, a process ending) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


class MeetsAnotherWorker:
    """Each call waits until ``workers`` distinct processes have called it, then returns its pid.

    A barrier through files: it proves every worker takes part, instead of
    hoping the scheduling spreads the tasks.
    """

    def __init__(self, directory: str, workers: int) -> None:
        self.directory = directory
        self.workers = workers

    def __setstate__(self, state):
        self.__dict__.update(state)
        Path(self.directory, f"unpickled-{os.getpid()}-{time.monotonic_ns()}").touch()

    def __call__(self, _):
        Path(self.directory, f"pid-{os.getpid()}").touch()
        _wait_for(lambda: len(list(Path(self.directory).glob("pid-*"))) >= self.workers, "peers")
        return os.getpid()


def test_tasks_run_in_every_worker_process_and_the_function_is_read_once_per_worker(tmp_path):
    with FuturesExecutor(workers=2) as executor:
        results = list(executor.submit_all(MeetsAnotherWorker(str(tmp_path), 2), range(40)))
    pids = {result.value for _, result in results}
    assert len(results) == 40
    assert os.getpid() not in pids
    assert len(pids) == 2
    # unpickled once per worker process, not once per task (40)
    assert len(list(tmp_path.glob("unpickled-*"))) == 2


class DiesOn:
    """Task ``victim`` ends its worker with ``os._exit(3)``, each time once task 0 runs beside it.

    Task 0 blocks on its first attempt, so it is surely running when the
    victim's worker dies (the pool then ends its worker too); the other tasks
    return at once, queued in the pool or running when a worker dies.
    """

    def __init__(self, directory: str, victim: int) -> None:
        self.directory = directory
        self.victim = victim

    def __call__(self, arg: int) -> int:
        beside = Path(self.directory, "ran-0")
        if arg == self.victim:
            _wait_for(beside.exists, "a task beside the victim")
            os._exit(3)
        if arg == 0 and not beside.exists():
            beside.touch()
            time.sleep(60)  # the pool ends this worker (SIGTERM) when the victim's dies
        return arg


@pytest.mark.timeout(120)
def test_a_dead_worker_blames_the_task_it_was_running(tmp_path):
    with FuturesExecutor(workers=2, retries=1) as executor:
        results = dict(executor.submit_all(DiesOn(str(tmp_path), victim=1), range(5)))
        deaths = executor.worker_deaths
    victim = results.pop(1)
    assert isinstance(victim, Err)
    assert victim.failure.item == 1
    assert victim.failure.matches((WorkerDiedError,))
    assert victim.failure.attempts == 2
    assert deaths == 2
    # the tasks that were running or queued beside it were resubmitted, not blamed
    assert results == {0: Ok(0), 2: Ok(2), 3: Ok(3), 4: Ok(4)}


def test_innocent_tasks_keep_their_attempt_count(tmp_path):
    with FuturesExecutor(workers=2, retries=0) as executor:
        tasks = [executor.submit(DiesOn(str(tmp_path), victim=1), arg) for arg in range(4)]
        finished = []
        while len(finished) < len(tasks):
            finished += executor.wait([t for t in tasks if t not in {f for f, _ in finished}])
    attempts = {task.arg: task.attempts for task, _ in finished}
    assert attempts == {0: 1, 1: 1, 2: 1, 3: 1}
    assert [task.arg for task, result in finished if isinstance(result, Err)] == [1]


def test_spool_is_removed_after_run(generated, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    executor = FuturesExecutor(workers=2, spool_dir=spool)
    runner = colframe.Runner(executor, chunksize=2_000, status=False)
    runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
    assert list(spool.iterdir()) == []


# the spool directory: a local resource, never a bad input ----------------------------
class LargeOutput(processor.ProcessorABC):
    """``fill`` plus 256 kB of incompressible numbers: more than the small spool holds."""

    def process(self, events):
        out = fill(events)
        out["noise"] = np.random.default_rng(events.metadata["entrystart"]).random(32_768)
        return out

    def postprocess(self, accumulator):
        return accumulator


@pytest.fixture
def small_spool(tmp_path):
    """A 128 kB tmpfs: writing a partial output there fails with ENOSPC, as on a full disk."""
    spool = tmp_path / "spool"
    spool.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(spool)], check=True)
    yield spool
    subprocess.run(["umount", "-l", str(spool)], check=True)


@pytest.mark.parametrize("skipbadfiles", [False, True])
def test_full_spool_is_a_spool_error_never_a_bad_file(small_spool, generated, skipbadfiles):
    executor = FuturesExecutor(workers=2, spool_dir=small_spool)
    runner = colframe.Runner(executor, chunksize=3_000, skipbadfiles=skipbadfiles, status=False)
    with pytest.raises(ChunkError) as info:
        runner({"d": [str(generated[0])]}, "Events", processor_instance=LargeOutput())
    failure = info.value.failure
    assert failure.exc_type == "colframe.errors.SpoolError"
    assert not failure.matches((OSError,))  # so skipbadfiles can never skip it
    assert failure.attempts == 1
    assert f"spool directory {small_spool}/colframe-" in failure.message
    assert "No space left on device" in failure.message
    assert "spool_dir=" in failure.message
    assert "skipbadfiles" not in str(info.value)  # no hint to skip "unreadable files"


def test_unwritable_spool_dir_fails_before_any_chunk(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    match = rf"spool directory {not_a_dir} \(Not a directory\)"
    with pytest.raises(SpoolError, match=match), FuturesExecutor(workers=1, spool_dir=not_a_dir):
        pass


# the driver's end -------------------------------------------------------------------
_DRIVER = """
import signal, sys, time
sys.path.insert(0, {tests!r})
from _flaky import SlowFill
import colframe
from colframe.executors import FuturesExecutor

if {handler!r}:
    def handler(signum, frame):
        open({handler!r}, "w").write("called")
        sys.exit(7)
    signal.signal(signal.SIGTERM, handler)

class Slow(SlowFill):
    delay = 60
executor = FuturesExecutor(workers=2, spool_dir={spool!r})
colframe.Runner(executor, chunksize=1_000, status=False)(
    {{"d": [{path!r}]}}, "Events", processor_instance=Slow()
)
"""


@pytest.mark.parametrize("own_handler", [False, True])
def test_sigterm_to_the_driver_leaves_no_spool(generated, tmp_path, own_handler):
    spool = tmp_path / "spool"
    spool.mkdir()
    marker = str(tmp_path / "handler.called") if own_handler else ""
    script = _DRIVER.format(tests=str(TESTS), handler=marker, spool=str(spool),
                            path=str(generated[0]))
    driver = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        # the run is under way once a worker has its running note in the spool
        _wait_for(lambda: any(spool.glob("colframe-*/running/*")), "chunks to start")
        driver.send_signal(signal.SIGTERM)
        _, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    if own_handler:  # your handler runs (and decides how the driver ends)
        assert Path(marker).read_text() == "called"
        assert driver.returncode == 7, err
    else:
        assert driver.returncode == -signal.SIGTERM, err
    assert list(spool.iterdir()) == []


def test_your_sigterm_handler_is_restored_after_a_run(generated):
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        runner = colframe.Runner(FuturesExecutor(workers=1), chunksize=3_000, status=False)
        runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sys_exit_on_the_command_line_is_a_failure(generated, tmp_path):
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"d": [str(generated[0])]}))
    output = tmp_path / "out.pkl"
    done = subprocess.run(
        [sys.executable, "-m", "colframe.cli", "run", "_executors:ExitsZero",
         "--fileset", str(fileset), "--executor", "futures", "--workers", "2",
         "--chunksize", "3000", "--output", str(output), "--no-status"],
        cwd=TESTS, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "SystemExit" in done.stderr
    assert f"file={generated[0]}" in done.stderr
    assert "entries [3000, 6000)" in done.stderr
    assert not output.exists()
