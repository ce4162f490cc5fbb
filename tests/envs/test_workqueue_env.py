"""Work Queue runs tasks inside a packed environment (``environment=``), on real local workers."""

from __future__ import annotations

import _processors
import pytest
from _processors import UsesInflection, run
from conftest import shared_file

from colframe.errors import PreflightError
from colframe.executors.workqueue import WorkQueueExecutor

from .conftest import by_value, sandbox_prefixes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


def test_tasks_run_inside_the_environment_unpacked_once_per_worker(
    fileset, analysis_env, tmp_path
):
    executor = WorkQueueExecutor(workers=2, environment=analysis_env, run_info_dir=tmp_path)
    with executor, by_value(_processors):  # one pair of workers for the run and the check
        out, report = run(fileset, UsesInflection(), executor=executor, chunksize=300)
        # four more tasks on the two workers: at most two unpacked copies, in their workspaces
        prefixes = sandbox_prefixes(executor, 4)
    assert out["word"] == {"muons": 1000}
    assert out["events"] == {"SingleMu": 1000}
    assert report.chunks_ok == report.chunks_total > 1
    assert 1 <= len(prefixes) <= 2
    assert all("/colframe-env-" in prefix for prefix in prefixes)


def test_preflight_names_the_missing_module_before_the_first_chunk(fileset, tmp_path):
    executor = WorkQueueExecutor(workers=1, preflight=True, run_info_dir=tmp_path)
    with pytest.raises(PreflightError, match="cannot import inflection"):
        run(fileset, UsesInflection(), executor=executor, chunksize=500)
