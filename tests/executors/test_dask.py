"""DaskExecutor: real clusters of worker processes; spread tasks, merges on workers, worker deaths."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cloudpickle
import numpy as np
import pytest
from _compare import assert_same
from _processors import AlwaysCrashes, CoffeaStyle, CountsUnpickling, KillsOnce

import colframe
from colframe.errors import ChunkError, ExecutorError
from colframe.executors import DaskExecutor, Ok, executor_names

# dask workers are spawned processes that cannot import this test module: the
# helpers below travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _pid(_):
    time.sleep(0.02)  # long enough that one worker cannot take every task
    return os.getpid()


class RecordsWorker:
    """A processor whose output says which worker processes ran its chunks."""

    def __call__(self, events):
        time.sleep(0.05)
        return {"pids": {os.getpid()}, "n": len(events)}


class CountsAttempts:
    """Appends a line per attempt, then fails (a transient-looking error)."""

    def __init__(self, log):
        self.log = log

    def __call__(self, events):
        with open(self.log, "a") as stream:
            stream.write("attempt\n")
        msg = "flaky storage"
        raise ConnectionError(msg)


class ClosesFiles:
    """A work function with a close() (as ProcessChunk has), which records its calls."""

    def __init__(self, log):
        self.log = log

    def __call__(self, _):
        return os.getpid()

    def close(self):
        with open(self.log, "a") as stream:
            stream.write(f"{os.getpid()}\n")


class FakeCluster:
    closed = False

    def close(self):
        self.closed = True


def _array(n):
    return np.full(n, 1.0)


def _merge_where(refs):
    return os.getpid(), [ref.nbytes for ref in refs], sum(ref.load().sum() for ref in refs)


def _colframe_keys(dask_scheduler=None):
    return [str(key) for key in dask_scheduler.tasks if str(key).startswith("colframe-")]


def _plugins(dask_scheduler=None):
    return [name for name in dask_scheduler.worker_plugins if name.startswith("colframe-")]


def test_tasks_spread_over_all_workers(dask_client):
    dask_client.wait_for_workers(2)
    with DaskExecutor(client=dask_client) as executor:
        results = list(executor.submit_all(_pid, range(40)))
    assert len(results) == 40
    assert all(isinstance(result, Ok) for _, result in results)
    pids = {result.value for _, result in results}
    assert os.getpid() not in pids
    assert len(pids) == 2  # no task pinned to the worker that received the function first


def test_runner_chunks_spread_over_all_workers(dask_client, generated):
    dask_client.wait_for_workers(2)
    runner = colframe.Runner(DaskExecutor(client=dask_client), chunksize=1_000, status=False)
    out = runner({"d": [str(generated[0])]}, "Events", processor_instance=RecordsWorker())
    assert out["n"] == 6_000
    assert len(out["pids"]) == 2


def test_function_is_shipped_once_per_worker(dask_client, tmp_path):
    log = tmp_path / "unpickled.log"
    with DaskExecutor(client=dask_client) as executor:
        assert len(list(executor.submit_all(CountsUnpickling(str(log)), range(40)))) == 40
    lines = log.read_text().split()
    assert 1 <= len(lines) <= 2  # once per worker process, not once per task (40)
    assert len(set(lines)) == len(lines)


def test_outputs_stay_on_workers_and_merge_there(dask_client):
    with DaskExecutor(client=dask_client) as executor:
        pending = [executor.submit(_array, n, keep=True) for n in (10, 20, 30)]
        refs = []
        while pending:
            for task, result in executor.wait(pending):
                pending.remove(task)
                refs.append(result.value)
        # each output is held by a worker; the driver knows only its size, measured there
        holders = dask_client.who_has([ref.future for ref in refs])
        assert all(holders[ref.future.key] for ref in refs)
        assert sorted(ref.nbytes for ref in refs) == [80, 160, 240]
        merge = executor.submit(_merge_where, refs, kind="merge", keep=True)
        ((_, result),) = executor.wait([merge])
        pid, sizes, total = executor.fetch(result.value)
    assert pid != os.getpid()  # the merge ran in a worker, on the outputs themselves
    assert sorted(sizes) == [80, 160, 240]
    assert total == 60.0


def test_shared_cluster_is_left_clean(dask_client, generated):
    executor = DaskExecutor(client=dask_client)
    colframe.Runner(executor, chunksize=2_000, status=False)(
        {"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle()
    )
    deadline = time.monotonic() + 10
    while dask_client.run_on_scheduler(_colframe_keys) and time.monotonic() < deadline:
        time.sleep(0.05)  # releases reach the scheduler asynchronously
    assert dask_client.run_on_scheduler(_colframe_keys) == []
    assert dask_client.run_on_scheduler(_plugins) == []
    assert dask_client.status != "closed"  # a client you pass in stays yours


def test_processor_errors_are_retried_by_one_layer_only(dask_client, generated, tmp_path):
    log = tmp_path / "attempts.log"
    runner = colframe.Runner(
        DaskExecutor(client=dask_client, retries=2), chunksize=6_000, status=False
    )
    with pytest.raises(ChunkError, match="ConnectionError: flaky storage") as info:
        runner({"d": [str(generated[0])]}, "Events", processor_instance=CountsAttempts(str(log)))
    assert info.value.failure.attempts == 3
    assert len(log.read_text().split()) == 3  # 1 + retries, never multiplied by dask's retries


@pytest.mark.timeout(90)
def test_killed_worker_chunks_are_resubmitted(generated, tmp_path):
    fileset = {"d": [str(p) for p in generated]}
    clean = colframe.Runner("iterative", chunksize=1_500, status=False)(
        fileset, "Events", processor_instance=CoffeaStyle()
    )
    proc = KillsOnce(str(tmp_path / "killed.flag"), victim=3_000)
    executor = DaskExecutor(workers=2, dashboard_address=":0")
    runner = colframe.Runner(executor, chunksize=1_500, savemetrics=True, status=False)
    out, report = runner(fileset, "Events", processor_instance=proc)
    assert (tmp_path / "killed.flag").exists()  # a worker really was SIGKILLed
    assert_same(out, clean)
    assert report.complete
    assert report.chunks_retried >= 1
    assert report.chunks_ok == report.chunks_total == 12


@pytest.mark.timeout(90)
def test_worker_deaths_on_a_shared_cluster_are_counted(dask_client, generated, tmp_path):
    # this scheduler reruns tasks of dead workers itself (allowed-failures=3): the
    # report still shows the rerun chunk
    fileset = {"d": [str(generated[0])]}
    proc = KillsOnce(str(tmp_path / "killed.flag"), victim=2_000)
    runner = colframe.Runner(
        DaskExecutor(client=dask_client), chunksize=1_000, savemetrics=True, status=False
    )
    out, report = runner(fileset, "Events", processor_instance=proc)
    dask_client.wait_for_workers(2)
    assert (tmp_path / "killed.flag").exists()
    assert out["events"] == {"d": 6_000}
    assert report.complete
    assert report.chunks_retried >= 1


@pytest.mark.timeout(90)
def test_always_crashing_processor_ends_with_clear_error(generated):
    executor = DaskExecutor(workers=2, retries=1, dashboard_address=":0")
    runner = colframe.Runner(executor, chunksize=3_000, status=False)
    with pytest.raises(ChunkError, match="dask worker running this task died") as info:
        runner({"d": [str(generated[0])]}, "Events", processor_instance=AlwaysCrashes())
    message = str(info.value)
    assert f"file={generated[0]}" in message
    assert "entries [" in message
    assert "memory limit" in message
    assert "IterativeExecutor" in message
    assert info.value.failure.attempts == 2
    assert info.value.failure.matches((colframe.errors.WorkerDiedError,))


@pytest.mark.timeout(90)
def test_workers_that_join_later_get_the_function():
    # an adaptive cluster may start empty: the function must reach workers that arrive later
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        with DaskExecutor(client=client) as executor:
            assert executor.slots == 1
            task = executor.submit(_pid, None)
            cluster.scale(1)
            ((_, result),) = executor.wait([task])
        assert isinstance(result, Ok)
        assert result.value != os.getpid()
    finally:
        client.close()
        cluster.close()


@pytest.mark.timeout(90)
def test_jobqueue_cluster():
    # dask-jobqueue's local "batch system" starts workers as separate jobs (subprocesses),
    # as SLURMCluster or HTCondorCluster would on a batch farm
    import dask_jobqueue.local as jobqueue
    import distributed

    cluster = jobqueue.LocalCluster(
        cores=1,
        processes=1,
        memory="2GiB",
        scheduler_options={"dashboard_address": ":0", "host": "127.0.0.1"},
    )
    try:
        cluster.scale(jobs=2)
        client = distributed.Client(cluster, set_as_default=False)
        client.wait_for_workers(2)
        with DaskExecutor(client=client) as executor:
            results = list(executor.submit_all(_pid, range(20)))
        client.close()
    finally:
        jobs = [job.process for job in cluster.workers.values()]
        cluster.close()
        for job in jobs:  # the local backend SIGKILLs its jobs but never reaps them
            job.proc.wait()
            job.stdout.close()
            job.stderr.close()
    assert len({result.value for _, result in results}) == 2


def test_scheduler_address_and_dashboard_link(dask_client, capsys):
    address = dask_client.scheduler.address
    with DaskExecutor(client=address) as executor:
        results = list(executor.submit_all(_pid, range(4)))
        link = executor.dashboard_link
    assert len(results) == 4
    err = capsys.readouterr().err
    assert err.count("dashboard") == 1
    assert link in err
    assert dask_client.status == "running"  # only the executor's own connection closed
    # the cluster outlives the run: colframe's plugins must not stay on its scheduler
    assert dask_client.run_on_scheduler(_plugins) == []


def test_plugin_teardown_closes_the_function(dask_client, tmp_path):
    log = tmp_path / "closed.log"
    with DaskExecutor(client=dask_client) as executor:
        results = list(executor.submit_all(ClosesFiles(str(log)), range(20)))
        assert not log.exists()
    pids = {result.value for _, result in results}
    assert set(log.read_text().split()) == {str(pid) for pid in pids}


@pytest.mark.parametrize("started", ["cluster", "LocalCluster"])
def test_started_cluster_is_closed_when_client_fails(started, monkeypatch):
    import distributed

    cluster = FakeCluster()
    if started == "cluster":
        executor = DaskExecutor(cluster=lambda: cluster)
    else:
        executor = DaskExecutor(workers=1)
        monkeypatch.setattr(distributed, "LocalCluster", lambda **options: cluster)

    def refuse(*args, **kwargs):
        msg = "cannot connect to the scheduler"
        raise OSError(msg)

    monkeypatch.setattr(distributed, "Client", refuse)
    with pytest.raises(OSError, match="cannot connect"), executor:
        pass
    assert cluster.closed


def test_registered_by_name_and_imported_lazily():
    assert "dask" in executor_names()
    code = "import sys, colframe, colframe.executors; print('distributed' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr


def test_missing_distributed_gives_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "dask\[distributed\]==2025\.3\.0"'):
        DaskExecutor()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"client": 42}, "client must be None .* not 42"),
        ({"client": "tcp://127.0.0.1:1", "workers": 2}, "apply only to the LocalCluster"),
        ({"workers": 0}, "workers must be a positive integer, got 0"),
        ({"retries": -1}, "retries must be an integer >= 0"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ExecutorError, match=match):
        DaskExecutor(**options)


def test_not_started_is_a_clear_error():
    with pytest.raises(ExecutorError, match="not started"):
        DaskExecutor().submit(_pid, 1)
