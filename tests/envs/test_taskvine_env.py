"""TaskVine runs tasks inside a packed environment (``environment=``), on real local workers
started with a bare PATH and no PYTHONPATH: they see no Python package but the environment's."""

from __future__ import annotations

import _processors
import pytest
from _compare import assert_same
from _processors import UsesInflection, run
from coffea import processor
from conftest import shared_file

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
