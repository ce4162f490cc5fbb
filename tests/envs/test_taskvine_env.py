"""TaskVine runs tasks inside a packed environment (``environment=``), on real local workers."""

from __future__ import annotations

import pytest
from _processors import UsesInflection, run
from conftest import shared_file

from colframe.errors import ChunkError, ExecutorError
from colframe.executors.taskvine import TaskVineExecutor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


def test_a_library_that_cannot_start_ends_the_run(fileset, test_env, tmp_path):
    # the bare environment has no colframe or cloudpickle: the library never starts
    executor = TaskVineExecutor(workers=1, environment=test_env, run_info_dir=tmp_path)
    with pytest.raises(ExecutorError, match="library could not start"):
        run(fileset, UsesInflection(), executor=executor, chunksize=500)


def test_without_the_environment_the_missing_module_is_named(fileset, tmp_path):
    executor = TaskVineExecutor(workers=1, retries=0, run_info_dir=tmp_path)
    with pytest.raises(ChunkError, match="No module named 'inflection'"):
        run(fileset, UsesInflection(), executor=executor, chunksize=500)
