"""The dask-awkward path on TaskVine: ``compute(scheduler=m.get)`` with DaskVine and real workers."""

from __future__ import annotations

import dask
import pytest
from _compare import assert_same
from _processors import MuonHists
from conftest import shared_file

import colframe
from colframe.dask_awkward import apply_to_fileset
from colframe.executors.taskvine import local_workers

pytestmark = pytest.mark.slow


@pytest.fixture
def daskvine(tmp_path, monkeypatch):
    from ndcctools.taskvine import DaskVine

    # DaskVine(port=0) writes TCP_LOW_PORT/TCP_HIGH_PORT into os.environ: undone after the test
    monkeypatch.delenv("TCP_LOW_PORT", raising=False)
    monkeypatch.delenv("TCP_HIGH_PORT", raising=False)
    manager = DaskVine(port=0, run_info_path=str(tmp_path / "vine-run-info"))
    with local_workers(manager, 2):
        yield manager


@pytest.mark.parametrize("task_mode", ["tasks", "function-calls"])
def test_daskvine_equals_runner(daskvine, task_mode):
    fileset = {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}
    out = apply_to_fileset(MuonHists(dask=True), fileset, chunksize=300)
    (computed,) = dask.compute(
        out,
        scheduler=daskvine.get,
        task_mode=task_mode,
        worker_transfers=True,
        resources={"cores": 1},
        lib_resources={"cores": 1, "slots": 1},
        progress_disable=True,
    )
    expected = colframe.Runner(chunksize=300, status=False)(
        fileset, "Events", processor_instance=MuonHists()
    )
    assert_same({name: value[name] for name, value in computed.items()}, expected)
    assert computed["SingleMu"]["SingleMu"]["events"] == 1_000
