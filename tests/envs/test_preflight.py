"""preflight=True and Dask's environment check: what the tasks need, found on the driver, probed on workers."""

from __future__ import annotations

import pytest
from _processors import CoffeaStyle, UsesInflection, run
from coffea.nanoevents import NanoAODSchema
from conftest import shared_file

from colframe._work import ProcessChunk
from colframe.envs._needs import needed_modules
from colframe.errors import PreflightError
from colframe.executors.dask import DaskExecutor
from colframe.executors.iterative import IterativeExecutor


@pytest.fixture(scope="module")
def fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


def test_needed_modules_include_imports_inside_process():
    modules = needed_modules(ProcessChunk(UsesInflection(), NanoAODSchema))
    assert {"_processors", "inflection", "colframe._work"} <= set(modules)
    assert "inflection" not in needed_modules(ProcessChunk(CoffeaStyle(), NanoAODSchema))
    assert not any(m.split(".")[0] in ("os", "signal", "pickle") for m in modules)  # stdlib out


def test_preflight_in_process_names_the_missing_module(fileset):
    with pytest.raises(PreflightError, match="cannot import inflection") as caught:
        run(fileset, UsesInflection(), executor=IterativeExecutor(preflight=True), chunksize=500)
    assert len(caught.value.problems) == 1


def test_preflight_passes_when_the_workers_can_run_the_tasks(fileset):
    out, report = run(fileset, CoffeaStyle(), executor=IterativeExecutor(preflight=True))
    assert out["events"] == {"SingleMu": 1000}
    assert report.chunks_ok == report.chunks_total


@pytest.mark.slow
def test_dask_workers_outside_the_environment_are_refused(dask_client, analysis_env):
    # the session cluster's workers run .venv, which lacks the environment's inflection
    executor = DaskExecutor(client=dask_client, environment=analysis_env)
    with pytest.raises(PreflightError, match=r"inflection missing \(test\.tar\.gz has 0\.5\.1\)"):
        run({"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}, executor=executor)
