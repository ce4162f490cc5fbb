"""TaskVine runs tasks inside a packed environment (``environment=``), on real local workers
started with a bare PATH and no PYTHONPATH: they see no Python package but the environment's."""

from __future__ import annotations

import _processors
import pytest
from _compare import assert_same
from _processors import MuonHists, UsesInflection, run
from coffea import processor
from conftest import shared_file

import colframe
import processors.adl
from colframe.errors import ChunkError, ExecutorError, PreflightError
from colframe.executors import _local_workers
from colframe.executors.taskvine import TaskVineExecutor
from processors.adl import ADLNanoAODSchema, Q4Processor

from .conftest import by_value, sandbox_prefixes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


@pytest.fixture
def bare_workers(monkeypatch, tmp_path):
    """Local workers get what a batch node may have: /usr/bin and /bin, nothing of .venv."""
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    monkeypatch.setattr(_local_workers, "worker_environment", lambda: dict(bare))


def test_tasks_run_inside_the_environment(fileset, analysis_env, bare_workers, tmp_path):
    # task mode: test.json's environment has colframe but not cctools' library code
    executor = TaskVineExecutor(
        workers=2, mode="tasks", environment=analysis_env, run_info_dir=tmp_path, preflight=True
    )
    with executor, by_value(_processors):
        out, report = run(fileset, UsesInflection(), executor=executor, chunksize=300)
        prefixes = sandbox_prefixes(executor, 4)
    assert out["word"] == {"muons": 1000}
    assert out["events"] == {"SingleMu": 1000}
    assert report.chunks_ok == report.chunks_total > 1
    assert 1 <= len(prefixes) <= 2  # unpacked once per worker (a cached mini-task)


def test_a_library_that_cannot_start_ends_the_run(fileset, test_env, tmp_path):
    # the bare environment has no colframe or cloudpickle: the library never starts
    executor = TaskVineExecutor(workers=1, environment=test_env, run_info_dir=tmp_path)
    with pytest.raises(ExecutorError, match="library could not start"):
        run(fileset, UsesInflection(), executor=executor, chunksize=500)


def test_without_the_environment_the_missing_module_is_named(fileset, tmp_path):
    executor = TaskVineExecutor(workers=1, retries=0, run_info_dir=tmp_path)
    with pytest.raises(ChunkError, match="No module named 'inflection'"):
        run(fileset, UsesInflection(), executor=executor, chunksize=500)


def test_preflight_stops_before_the_first_chunk_with_a_table(fileset, tmp_path):
    executor = TaskVineExecutor(workers=2, preflight=True, run_info_dir=tmp_path)
    with pytest.raises(PreflightError, match="nothing was processed") as caught:
        run(fileset, UsesInflection(), executor=executor, chunksize=500)
    assert str(caught.value).splitlines()[1].split() == ["worker", "problem", "fix"]
    assert any("cannot import inflection" in row.problem for row in caught.value.problems)


def test_colframe_environment_runs_an_adl_query(fileset, colframe_env, bare_workers, tmp_path):
    # envs/colframe.json: serverless (its library needs ndcctools from the environment);
    # the ADL processors are the analysis' own module, sent by value (Q4: Q5's helpers are
    # functools.cache wrappers, which pickle by reference and would need the module there)
    executor = TaskVineExecutor(workers=2, environment=colframe_env, run_info_dir=tmp_path)
    with by_value(processors.adl):
        out, _ = colframe_run(fileset, executor)
    expected = processor.Runner(
        executor=processor.IterativeExecutor(), schema=ADLNanoAODSchema, chunksize=300
    )(fileset, processor_instance=Q4Processor(), treename="Events")
    assert_same(out, expected)


def colframe_run(fileset, executor):
    return run(fileset, Q4Processor(), executor=executor, schema=ADLNanoAODSchema, chunksize=300)


def test_daskvine_runs_the_graph_inside_the_environment(
    fileset, colframe_env, bare_workers, tmp_path, monkeypatch
):
    # the dask-awkward path: DaskVine's function-call library runs in envs/colframe.json on
    # workers that have nothing of .venv (task_mode="tasks" attaches the environment to each
    # task the same way, add_environment, as the executor's task mode tested above)
    import dask
    from ndcctools.taskvine import DaskVine

    from colframe.dask_awkward import apply_to_fileset
    from colframe.executors.taskvine import local_workers

    monkeypatch.delenv("TCP_LOW_PORT", raising=False)  # DaskVine(port=0) sets them
    monkeypatch.delenv("TCP_HIGH_PORT", raising=False)
    expected = colframe.Runner(chunksize=300, status=False)(
        fileset, "Events", processor_instance=MuonHists()
    )
    manager = DaskVine(port=0, run_info_path=str(tmp_path / "vine-run-info"))
    with local_workers(manager, 2):
        out = apply_to_fileset(MuonHists(dask=True), fileset, chunksize=300)
        (computed,) = dask.compute(
            out,
            scheduler=manager.get,
            task_mode="function-calls",
            environment=str(colframe_env),
            worker_transfers=True,
            resources={"cores": 1},
            lib_resources={"cores": 1, "slots": 1},
            progress_disable=True,
        )
    assert_same({name: value[name] for name, value in computed.items()}, expected)
