"""TaskVine and Work Queue on real worker processes: worker loss, splitting, errors.

The all-executors suites (tests/test_runner_all_executors.py and friends) run these
executors too; these are the manager–worker engines' own cases.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _compare import assert_same
from _processors import (
    CoffeaStyle,
    KillsInFirstMerge,
    KillsOnce,
    MemoryHog,
    ProcessGroups,
    Raises,
    Slow,
    run,
)
from conftest import shared_file

from colframe.errors import ChunkError, NoWorkersError
from colframe.executors.taskvine import TaskVineExecutor
from colframe.executors.workqueue import WorkQueueExecutor

ENGINES = {
    "taskvine": lambda **o: TaskVineExecutor(**o),
    "taskvine-tasks": lambda **o: TaskVineExecutor(mode="tasks", **o),
    "workqueue": lambda **o: WorkQueueExecutor(**o),
}
MONITORED = ["taskvine-tasks", "workqueue"]  # engines that enforce limits and split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adl_fileset():
    return {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}


@pytest.mark.parametrize("engine", ENGINES)
def test_worker_killed_mid_run_loses_nothing(engine, generated, tmp_path):
    fileset = {"synth": [str(p) for p in generated]}
    expected, _ = run(fileset, Slow(0), chunksize=1_500)
    executor = ENGINES[engine](workers=2, run_info_dir=tmp_path)
    killed = threading.Event()
    stop = threading.Event()

    def kill_one_worker_when_busy() -> None:
        # once both workers have run tasks, SIGKILL the whole process group of one
        while not stop.wait(0.05):
            if executor.local is not None and len(executor.tasks_per_worker) >= 2:
                executor.local.kill(0)
                killed.set()
                return

    killer = threading.Thread(target=kill_one_worker_when_busy, daemon=True)
    killer.start()
    try:
        out, report = run(fileset, Slow(0.3), executor=executor, chunksize=1_500, fan_in=3)
    finally:
        stop.set()
        killer.join()
    assert killed.is_set()
    assert_same(out, expected)
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 12
    assert report.executor_stats["workers_lost"] == 1


@pytest.mark.parametrize("engine", MONITORED)
def test_memory_exhaustion_splits_the_chunk(engine, adl_fileset, tmp_path):
    # the split chunk's two halves are [0, 500) and [500, 1000): the run with those chunks
    expected, _ = run(adl_fileset, CoffeaStyle(), chunksize=500)
    # a 1000-event chunk holds 500 MB on top of Python's ~150 MB: over its 550 MB limit;
    # its halves fit
    executor = ENGINES[engine](
        workers=1,
        run_info_dir=tmp_path,
        memory=2_000,
        resources={"processing": {"memory": 550}},
        min_split_entries=100,
    )
    # TaskVine samples memory every second here; Work Queue's monitor every 5 s
    hold = 2.5 if engine.startswith("taskvine") else 7
    checkpoint = str(tmp_path / "checkpoint")
    hog = MemoryHog(0.5, hold)
    out, report = run(adl_fileset, hog, executor=executor, chunksize=1_000, checkpoint=checkpoint)
    assert_same(out, expected)
    assert report.complete
    assert report.executor_stats["splits"] >= 1
    assert report.executor_stats["peak_memory_mb"]["processing"] > 400  # measured, not guessed
    if engine != "taskvine-tasks":
        return
    # the halves were checkpointed under their own entry ranges: a resumed run loads them
    # (the whole chunk is tried once more, exhausts its memory, and its halves load)
    resumed, report = run(
        adl_fileset,
        hog,
        executor=ENGINES[engine](
            workers=1,
            run_info_dir=tmp_path / "resumed",
            memory=2_000,
            resources={"processing": {"memory": 550}},
            min_split_entries=100,
        ),
        chunksize=1_000,
        checkpoint=checkpoint,
    )
    assert_same(resumed, expected)
    assert report.chunks_from_checkpoint >= 2  # both halves (or their own halves)


@pytest.mark.parametrize("engine", ENGINES)
def test_processor_error_names_file_entries_and_cause(engine, adl_fileset, tmp_path):
    executor = ENGINES[engine](workers=1, retries=0, run_info_dir=tmp_path)
    with pytest.raises(ChunkError) as info:
        run(adl_fileset, Raises(), executor=executor, chunksize=500)
    message = str(info.value)
    assert "Run2012B_SingleMu_1000.root" in message
    assert "entries [" in message
    assert "boom in user code" in message


@pytest.mark.parametrize(
    ("engine", "binary"), [("taskvine", "vine_worker"), ("workqueue", "work_queue_worker")]
)
def test_no_worker_connects_fails_with_the_worker_command(engine, binary, tmp_path):
    executor = ENGINES[engine](workers=0, connect_timeout=2, run_info_dir=tmp_path)
    with pytest.raises(NoWorkersError) as info, executor:
        pass
    assert f"{binary} " in str(info.value)
    assert "connect_timeout" in str(info.value)
    if engine == "workqueue":  # workers from elsewhere: a password file is made by default
        assert "--password" in str(info.value)
        assert (tmp_path / "worker.password").stat().st_mode & 0o077 == 0


def _status_becomes(executor, status: str, deadline_s: float = 60) -> bool:
    """Let the manager work (it accepts and loses workers while it waits, as in a run)
    until its status reads ``status``, or the deadline passes."""
    import time

    deadline = time.monotonic() + deadline_s
    while executor.status() != status:
        if time.monotonic() > deadline:
            return False
        executor._wait(1)  # the engine takes whole seconds
    return True


@pytest.mark.parametrize("engine", ["taskvine", "workqueue"])
def test_status_follows_the_workers_connected(engine, tmp_path):
    executor = ENGINES[engine](workers=2, run_info_dir=tmp_path)
    assert executor.status() == ""  # not started
    with executor:
        assert _status_becomes(executor, "2 workers"), executor.status()
        assert executor.slots == 2 * executor.cores
        executor.local.kill(0)  # one worker's whole process group
        assert _status_becomes(executor, "1 worker"), executor.status()
        assert executor.slots == executor.cores


# an LD_PRELOAD shim for the workers: after fork, the parent waits, so the child execs
# before the parent's setpgid(child, 0) runs (which then fails): the race cctools 7.17.1
# lost now and then, lost every time
_CHILD_EXECS_FIRST = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>
pid_t fork(void) {
    static pid_t (*real_fork)(void);
    if (!real_fork) real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
    pid_t pid = real_fork();
    if (pid > 0) usleep(200000);
    return pid;
}
"""


@pytest.fixture
def child_execs_first(tmp_path, monkeypatch):
    source = tmp_path / "child_execs_first.c"
    source.write_text(_CHILD_EXECS_FIRST)
    shim = tmp_path / "child_execs_first.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, source, "-ldl"], check=True)
    monkeypatch.setenv("LD_PRELOAD", str(shim))  # local workers inherit the environment


@pytest.mark.parametrize("engine", ENGINES)
def test_every_task_leads_its_own_process_group(engine, generated, tmp_path, child_execs_first):
    # the worker kills a task, or a library it evicts, through the process group of the
    # process it forked; cctools 7.17.1 set that group from the parent only, racing the
    # child's exec: a task the child won could not be killed, the worker blocked in waitpid
    # for ever (a run switching from direct to fork mode hung). `make setup` builds the fix
    fileset = {"synth": [str(p) for p in generated]}
    executor = ENGINES[engine](workers=2, run_info_dir=tmp_path / "run")
    out, _ = run(fileset, ProcessGroups(), executor=executor, chunksize=3_000)
    assert out["chunks"] == out["under_a_worker"] == out["task_leads_its_group"] == 6


# TaskVine serverless: how calls run ----------------------------------------------
def test_make_setup_builds_cctools_with_the_fix_direct_mode_needs():
    # the manager of an unfixed cctools 7.17.1 dies of SIGFPE when a worker's first
    # returned call is "forsaken" (its library crashed): direct mode is the default only
    # where the fix is in (tools/cctools_patches.py, applied by `make setup`)
    from colframe.executors.taskvine import DIRECT_NEEDS_FIXES, cctools_fixes, default_exec_mode

    assert cctools_fixes() >= DIRECT_NEEDS_FIXES
    assert "wq-worker-setpgid-race" in cctools_fixes()
    assert default_exec_mode() == "direct"


@pytest.mark.parametrize("crashes", ["chunk", "merge"])
@pytest.mark.parametrize("exec_mode", [None, "fork"])
def test_a_call_that_crashes_is_retried(exec_mode, crashes, generated, tmp_path):
    # direct (the default here): the crash ends the library process; the call comes back
    # to colframe, which retries it and forks per call from then on. fork: only the child
    # dies. A merge is retried too: its process died, it did not raise (a merge that raises,
    # outputs that cannot be added, fails the run at once)
    fileset = {"synth": [str(p) for p in generated]}
    expected, _ = run(fileset, CoffeaStyle(), chunksize=1_500)
    flag = tmp_path / "killed.flag"
    crashing = KillsOnce(str(flag), 3_000) if crashes == "chunk" else KillsInFirstMerge(str(flag))
    executor = TaskVineExecutor(workers=2, exec_mode=exec_mode, run_info_dir=tmp_path / "vine")
    out, report = run(fileset, crashing, executor=executor, chunksize=1_500)
    assert flag.exists()
    out.pop("guard", None)  # KillsInFirstMerge's killer
    assert_same(out, expected)
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 12
    assert report.chunks_retried >= (crashes == "chunk")  # merges retried are not chunks
    assert report.executor_stats["exec_mode"] == "fork"  # direct switched after the crash


_FIRST_CALL_CRASHES = """
import sys
sys.path.insert(0, {tests!r})
import _processors
import colframe
from colframe.errors import ChunkError
from colframe.executors.taskvine import TaskVineExecutor
fileset = {{"d": [{path!r}]}}
cache = {{}}
colframe.Runner(chunksize=6_000, metadata_cache=cache, status=False)(
    fileset, "Events", processor_instance=_processors.CoffeaStyle()
)
# metadata cached: the worker's first call is a chunk, which crashes its library
executor = TaskVineExecutor(workers=1, exec_mode="direct", retries=1, run_info_dir={run_info!r})
try:
    colframe.Runner(executor, chunksize=6_000, metadata_cache=cache, status=False)(
        fileset, "Events", processor_instance=_processors.AlwaysCrashes()
    )
except ChunkError as exc:
    print("reported:", exc.failure.exc_type, exc.failure.attempts)
"""


def test_a_workers_first_call_crashing_its_library_does_not_end_the_driver(generated, tmp_path):
    script = _FIRST_CALL_CRASHES.format(
        tests=str(Path(__file__).parents[1]), path=str(generated[0]), run_info=str(tmp_path)
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]  # unfixed cctools: -8 (SIGFPE)
    assert "reported: colframe.errors.TaskEngineError 2" in done.stdout
