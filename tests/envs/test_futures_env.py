"""Futures workers spawned from a packed environment (``environment=``), and ``preflight=True``."""

from __future__ import annotations

import _processors
import pytest
from _processors import UsesInflection, run
from conftest import shared_file

from colframe.errors import ChunkError, ExecutorError, PreflightError
from colframe.executors.futures import FuturesExecutor

from .conftest import by_value, sandbox_prefixes

pytestmark = pytest.mark.slow  # packs an environment with colframe's dependencies (once)


@pytest.fixture(scope="module")
def fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


@pytest.fixture(autouse=True)
def _unpacked_once(unpack_cache, monkeypatch):
    monkeypatch.setenv("COLFRAME_CACHE_DIR", str(unpack_cache))


def test_the_processor_runs_inside_the_environment(fileset, analysis_env, unpack_cache):
    executor = FuturesExecutor(workers=2, environment=analysis_env, preflight=True)
    with executor, by_value(_processors):
        out, report = run(fileset, UsesInflection(), executor=executor, chunksize=300)
        # every worker process runs the environment's interpreter, unpacked once in the cache
        [prefix] = sandbox_prefixes(executor, 4)
    assert out["word"] == {"muons": 1000}
    assert out["events"] == {"SingleMu": 1000}
    assert report.chunks_ok == report.chunks_total > 1
    assert prefix.startswith(str(unpack_cache / "envs"))


def test_without_the_environment_the_missing_module_is_named(fileset):
    with pytest.raises(ChunkError, match="No module named 'inflection'"):
        run(fileset, UsesInflection(), executor=FuturesExecutor(workers=2, retries=0), chunksize=500)


def test_preflight_stops_before_the_first_chunk_with_a_table(fileset):
    executor = FuturesExecutor(workers=2, preflight=True)
    with pytest.raises(PreflightError, match="nothing was processed") as caught:
        run(fileset, UsesInflection(), executor=executor, chunksize=500)
    table = str(caught.value).splitlines()
    assert table[1].split() == ["worker", "problem", "fix"]
    [row] = caught.value.problems
    assert "cannot import inflection: ModuleNotFoundError" in row.problem
    assert "add inflection to the environment's spec" in row.fix
    assert "(+1 more)" in row.worker  # both worker processes, one row


def test_a_bare_environment_cannot_start_workers(test_env):
    # no colframe inside: the workers die as they start, with one clear error
    with (
        pytest.raises(ExecutorError, match="cannot import colframe"),
        FuturesExecutor(workers=1, environment=test_env),
    ):
        pass
