"""Shared fixtures: generated NanoAOD-like data, the real sample files, executors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NANOAOD = SHARED / "nanoaod"
ADL_REAL = SHARED / "adl" / "Run2012B_SingleMu_1000.root"

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/_*.py helpers for workers


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    # each test gets its own metadata cache: no test sees another's cached files
    monkeypatch.setenv("COLFRAME_CACHE_DIR", str(tmp_path / "colframe-cache"))


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> list[Path]:
    """Three synthetic ADL-schema files of 6,000 events each (generated once per session)."""
    from benchmarks.adl.generate import ensure_dataset

    return ensure_dataset(tmp_path_factory.mktemp("generated"), 18_000, n_files=3, seed=7)


def shared_file(name: str) -> Path:
    """A real sample file from ../shared/data; the tests that use it need it present."""
    path = NANOAOD / name if not name.endswith("_1000.root") else ADL_REAL
    if not path.exists():
        pytest.fail(f"missing shared test data {path}: check out ../shared beside the project")
    return path


# TaskVine starts local vine_workers per test (about 5-30 s): slow, so `make test-fast` skips it
def _factories():
    from _executors import FACTORIES, factory_params

    return factory_params(FACTORIES)


# Tests marked driver_semantics check what the driver decides (merge order, ownership of
# outputs, the inflater): the engine only carries bytes. They run on iterative, futures,
# dask and serverless TaskVine; TaskVine task mode and Work Queue (about 1 s per task here)
# run the contract suite, the all-executors suite and their own tests instead.
PROCESS_PER_TASK = {"taskvine-tasks", "workqueue"}


def pytest_collection_modifyitems(config, items):
    dropped = [
        item
        for item in items
        if item.get_closest_marker("driver_semantics")
        and getattr(getattr(item, "callspec", None), "params", {}).get("executor") is not None
        and item.callspec.params["executor"].name in PROCESS_PER_TASK
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in set(dropped)]


@pytest.fixture(params=_factories())
def executor(request):
    """Every executor of tests/_executors.py's FACTORIES, fresh per test (futures: 2 worker
    processes; dask: the session cluster; TaskVine serverless and in task mode, Work Queue:
    2 local workers each)."""
    return request.param(request)


@pytest.fixture(scope="session")
def dask_client():
    """One distributed.Client for the session: a LocalCluster of 2 single-threaded processes.

    The scheduler keeps dask's default ``allowed-failures``, like a cluster a user
    brings; DaskExecutor tests that need a cluster of their own start one. It is
    not made dask's default scheduler, so tests computing with ``scheduler="sync"``
    stay unaffected.
    """
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
