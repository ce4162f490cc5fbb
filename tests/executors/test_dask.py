"""DaskExecutor: real clusters of worker processes; spread tasks, merges on workers, worker deaths."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import cloudpickle
import numpy as np
import pytest
from _processors import AlwaysCrashes, CoffeaStyle, CountsUnpickling

import colframe
from colframe.errors import ChunkError, ClusterConnectionError, ExecutorError
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


class RecordsPid:
    """Runs ``function`` and returns the pid of the worker that ran it."""

    def __init__(self, function):
        self.function = function

    def __call__(self, arg):
        self.function(arg)
        time.sleep(0.02)  # long enough that one worker cannot take every task
        return os.getpid()


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
    dask_client.wait_for_workers(2)
    log = tmp_path / "unpickled.log"
    with DaskExecutor(client=dask_client) as executor:
        results = list(executor.submit_all(RecordsPid(CountsUnpickling(str(log))), range(40)))
    assert len(results) == 40
    pids = {result.value for _, result in results}
    lines = log.read_text().split()
    # once per worker process that ran tasks, not once per task (40)
    assert sorted(lines) == sorted(map(str, pids))


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
def test_always_crashing_processor_on_a_cluster_of_its_own(generated):
    # the LocalCluster DaskExecutor starts reruns nothing itself (allowed-failures=0):
    # each death is one of colframe's attempts
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


def test_scheduler_address_and_dashboard_link(dask_client, capsys, caplog):
    address = dask_client.scheduler.address
    with DaskExecutor(client=address) as executor:
        results = list(executor.submit_all(_pid, range(4)))
        link = executor.dashboard_link
    assert len(results) == 4
    assert "dashboard" not in capsys.readouterr().err  # the library logs, never prints
    said = [r.getMessage() for r in caplog.records if r.name == "colframe.executors.dask"]
    assert said == [f"dask dashboard at {link}"]
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
    with pytest.raises(ModuleNotFoundError, match=r'not installed: pip install .*"distributed=='):
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


@pytest.fixture
def http_port():
    """A port that answers HTTP (as a dashboard does), not dask's protocol."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize("answers", ["http", "nothing"])
def test_scheduler_address_that_is_no_scheduler_ends_in_time(answers, request):
    port = request.getfixturevalue("http_port") if answers == "http" else _free_port()
    address = f"tcp://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(ClusterConnectionError, match=rf"no dask scheduler answered at {address} "
                       r"within 2 s .*connect_timeout="), DaskExecutor(client=address,
                                                                       connect_timeout=2):
        pass
    assert time.monotonic() - start < 15


def test_bad_connect_timeout():
    with pytest.raises(ExecutorError, match="connect_timeout must be a positive number"):
        DaskExecutor(client="tcp://127.0.0.1:8786", connect_timeout=0)


def test_starting_a_local_cluster_leaves_the_drivers_environment_alone():
    # distributed's Nanny writes its pre-spawn variables (MALLOC_TRIM_THRESHOLD_=65536,
    # OMP_NUM_THREADS=1, ...) into the driver's os.environ: every process started after it
    # (TaskVine and Work Queue workers, a futures pool) inherited them, and with
    # MALLOC_TRIM_THRESHOLD_ their ADL chunks ran far slower
    before = dict(os.environ)
    with DaskExecutor(workers=1, dashboard_address=":0"):
        assert dict(os.environ) == before
    assert dict(os.environ) == before
