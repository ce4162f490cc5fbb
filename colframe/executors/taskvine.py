"""TaskVineExecutor: chunks and merges on TaskVine workers, partial outputs kept on the workers.

- Serverless by default: the work function is installed once per worker in a
  TaskVine library and every chunk or merge is a ``FunctionCall`` into it
  (milliseconds per call): run in the library process itself (``exec_mode="direct"``,
  one library per core, the default) or in a child forked from it (``"fork"``). ``mode="tasks"`` runs one ``PythonTask`` per
  chunk instead: a process each, with resource monitoring.
- Chunk outputs are TaskVine temp files on the worker that made them; merge
  tasks take them as inputs, so partials move worker to worker, never through
  the manager. Only the final result is fetched.

What TaskVine shares with Work Queue (local workers, categories, splitting,
results) is in :mod:`colframe.executors._manager_worker`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import extras, serialize
from ..errors import ExecutorError, TaskEngineError
from ..results import Ok
from ._base import Task
from ._local_workers import LocalWorkers
from ._manager_worker import (
    CATEGORIES,
    Finished,
    ManagerWorkerExecutor,
    check_int,
    exceeded,
    workers_lost,
)
from ._vine_worker import FUNCTION_FILE, OUTPUT_FILE, input_name, run, warm_up

__all__ = ["EXEC_MODES", "MODES", "TaskVineExecutor", "VineRef", "cctools_fixes", "default_exec_mode", "local_workers"]

log = logging.getLogger(__name__)

MODES = ("serverless", "tasks")
EXEC_MODES = ("direct", "fork")


@dataclass(eq=False)
class VineRef:
    """A partial output kept on the workers as a TaskVine temp file."""

    file: Any = field(repr=False)
    nbytes: int
    executor: TaskVineExecutor = field(repr=False)

    def load(self) -> Any:
        return self.executor.fetch(self)

    def discard(self) -> None:
        self.executor.release(self)


class TaskVineExecutor(ManagerWorkerExecutor):
    """Run tasks on TaskVine workers (see docs/taskvine.md).

    Args:
        workers: local ``vine_worker`` processes to start (default: the number of
            CPUs); 0 starts none and waits for workers started elsewhere.
        cores, memory, disk: what each local worker offers (memory and disk in MB).
        port: the manager's port: 0 (any free port), an int, or a ``(low, high)`` range.
        manager_name: advertise the manager under this name to the catalog server
            (workers then find it with ``-M NAME``); None advertises nothing.
        password: a password file shared with the workers; ssl: True or ``(key, cert)``.
        mode: "serverless" (FunctionCalls into a library, the default) or "tasks".
        exec_mode: serverless: "direct" (calls run in one library process per core,
            which keeps the processor, its JIT kernels and open files between chunks;
            after a call crashes its library, the run goes on in "fork") or "fork" (a
            child forked per call: crashes isolated, but what a call loads is loaded
            again by the next). None (default): "direct" when the driver's cctools
            carries the fixes direct mode needs (:data:`DIRECT_NEEDS_FIXES`, in the
            build of ``make setup``), else "fork".
        retries: extra attempts for a failed task (the one colframe retry layer).
        replicas: how many workers keep a copy of each partial output.
        connect_timeout: seconds to wait for the first worker before failing.
        run_info_dir: where TaskVine writes its logs (default: a new temporary
            directory, named by the report, kept after the run).
        resources: per category ("preprocessing", "processing", "accumulating"):
            ``{"cores": .., "memory": MB, "disk": MB}``.
        resources_mode: allocation mode of the categories in task mode: "fixed",
            "max", "min waste" or "max throughput".
        split_on_exhaustion: in task mode, re-run a chunk that exhausted its
            resources as two halves (down to ``min_split_entries`` entries).
        environment: a poncho-layout tarball (``bin/run_in_env``) every task runs in.
        preflight: before the first task of each function, probe the connected workers
            (one task per core) for the modules it needs and the driver's versions; stop
            with a table if any differ.
    """

    name = "taskvine"
    engine = "TaskVine"
    worker_binary = "vine_worker"
    factory_hint = "vine_factory -T condor|slurm --min-workers N {host} {port}"

    def __init__(
        self,
        workers: int | None = None,
        *,
        mode: str = "serverless",
        replicas: int = 1,
        exec_mode: str | None = None,
        **options,
    ) -> None:
        super().__init__(workers, **options)
        check_int("replicas", replicas, 1)
        if mode not in MODES:
            msg = f"mode must be one of {MODES}, not {mode!r}"
            raise ExecutorError(msg)
        if mode == "serverless" and self.resources_mode != "fixed":
            msg = (
                f"resources_mode={self.resources_mode!r} needs resource monitoring, which "
                f"TaskVine cannot combine with serverless libraries: use mode='tasks'"
            )
            raise ExecutorError(msg)
        if exec_mode is not None and exec_mode not in EXEC_MODES:
            msg = f"exec_mode must be one of {EXEC_MODES} or None, not {exec_mode!r}"
            raise ExecutorError(msg)
        self.mode, self.replicas = mode, replicas
        # direct (default): one library process per core runs calls one after another, as
        # a futures worker does: the processor, its JIT kernels and open files stay loaded.
        # A call that crashes its library (segfault, os._exit, the OOM killer) comes back
        # "forsaken" (max_forsaken 0: never re-run by TaskVine unseen), colframe counts it
        # and retries it, and from then on calls run in fork mode. fork: a child forked
        # from the warm library per call, so a crash ends only that call
        self.exec_mode = exec_mode

    def _reset(self) -> None:
        super()._reset()
        self._library: str | None = None
        self._library_mode: str | None = None  # how calls run now (set by _install_library)
        self._env_file: Any = None

    @property
    def monitored(self) -> bool:
        # 7.17.1: library tasks fail under monitoring, so serverless runs unmonitored
        return self.mode == "tasks"

    # engine hooks ---------------------------------------------------------------
    def _create_manager(self) -> Any:
        vine = extras.ndcctools_taskvine()
        return vine.Manager(
            port=self.port, name=self.manager_name, run_info_path=str(self.run_info), ssl=self.ssl
        )

    def _set_password(self, path: str) -> None:
        self.manager.set_password_file(path)

    def _configure(self) -> None:
        m = self.manager
        m.tune("temp-replica-count", self.replicas)
        m.tune("immediate-recovery", 1)  # recreate a lost partial as soon as its worker leaves
        m.tune("wait-for-workers", 0)
        m.tune("max-library-retries", 2)  # a library that cannot start ends the run, not loops
        for category in CATEGORIES.values():
            if self.resources.get(category):
                m.set_category_resources_max(category, dict(self.resources[category]))
            if self.monitored:
                m.set_category_mode(category, self.resources_mode)
        if self.environment is not None:
            self._env_file = m.declare_poncho(os.fspath(self.environment), cache=True)
        if self.monitored:
            m.enable_monitoring(watchdog=True)
            m.tune("monitor-interval", 1)
            return
        self._install_library(self.exec_mode or default_exec_mode())

    def _install_library(self, exec_mode: str) -> None:
        """Install the library all later calls go to, running them in ``exec_mode``."""
        self._library_mode = exec_mode
        self._library = f"colframe-{os.getpid()}-{id(self):x}-{exec_mode}"
        library = self.manager.create_library_from_functions(
            self._library,
            run,
            poncho_env="dummy-value",  # no conda environment built: workers bring Python
            add_env=False,
            exec_mode=exec_mode,
            library_context_info=[warm_up, [], {}],
        )
        # direct: a library runs its calls one after another, so one library (a process)
        # per core, as many as fit on each worker; fork: one per worker, a slot per core
        cores = 1 if exec_mode == "direct" else self.cores
        library.set_cores(cores)
        library.set_function_slots(cores)
        if self._env_file is not None:
            library.add_environment(self._env_file)
        self.manager.install_library(library)

    def _connected(self) -> int:
        return self.manager.stats.workers_connected

    def _declare_function(self, path: Path) -> Any:
        return self.manager.declare_file(str(path), cache=True)

    def _build(self, task: Task, call: tuple, refs: list) -> tuple[Any, Any]:
        vine = extras.ndcctools_taskvine()
        if self.monitored:
            et = vine.PythonTask(run, *call)
            if self._env_file is not None:
                et.add_environment(self._env_file)
        else:
            et = vine.FunctionCall(self._library, "run", *call)
            if self._library_mode == "direct":
                # a crash of the library comes back to colframe as "forsaken" at once
                et.set_max_forsaken(0)
        self._categorize(et, CATEGORIES[task.kind])
        et.add_input(self.function_file(task.function), FUNCTION_FILE)
        for i, ref in enumerate(refs):
            et.add_input(ref.file, input_name(i))
        output = None
        if task.keep:
            output = self.manager.declare_temp()
            et.add_output(output, OUTPUT_FILE)
        return et, output

    def _categorize(self, et, category: str) -> None:
        et.set_category(category)
        if self.monitored:
            for key, value in self.category_resources(category).items():
                getattr(et, f"set_{key}")(value)

    def _submit(self, et) -> int:
        try:
            return self.manager.submit(et)
        except ValueError as exc:  # TaskVine removed the library after it failed to start
            msg = (
                f"the colframe library could not start on the TaskVine workers ({exc}): their "
                f"Python cannot import colframe, cloudpickle or ndcctools (inside the "
                f"environment, if one is given); its log is under {self.run_info}/*/library-logs"
            )
            raise ExecutorError(msg) from exc

    def _wait(self, timeout: int) -> Any:
        return self.manager.wait(timeout)

    def _task_id(self, et) -> int:
        return et.id

    def _finished_info(self, et) -> Finished:
        if et.result == "forsaken" and self._library_mode == "direct" and not self.monitored:
            self._crashed_direct()
        value = None
        if et.successful():
            with contextlib.suppress(Exception):  # no readable output: a failed task
                value = et.output
        measured = et.resources_measured if self.monitored else None
        bytes_moved, resubmitted = 0, False
        # metrics vary between cctools releases: never fail a run on them
        with contextlib.suppress(Exception):
            bytes_moved = int(et.get_metric("bytes_transferred") or 0)
            # execution time of every attempt beyond the last: it ran more than once
            every, last = (et.get_metric(f"time_workers_execute_{k}") for k in ("all", "last"))
            resubmitted = every > last
        return Finished(
            value=value,
            cause=et.result,
            exit_code=et.exit_code,
            host=et.addrport or et.hostname or "",
            stdout=et.std_output or "",
            exceeded=exceeded(et) if et.result == "resource exhaustion" else "",
            bytes_transferred=bytes_moved,
            memory_mb=getattr(measured, "memory", None) if measured is not None else None,
            resubmitted=resubmitted,
        )

    def _crashed_direct(self) -> None:
        # the call ended with its library: colframe retries it (the failure is counted),
        # in a fork-mode library from now on, where a crash ends only the call
        log.warning(
            "a TaskVine call ended with its library process (a crash of the processor, or a "
            "worker shutting down): the rest of the run forks a process per call (exec_mode="
            "'fork'), slower but isolating crashes; library logs under %s/*/library-logs",
            self.run_info,
        )
        self._install_library("fork")

    def _ref(self, output, nbytes: int) -> VineRef:
        return VineRef(output, nbytes, self)

    def _drop(self, output) -> None:
        self.manager.undeclare_file(output)

    def _cancel_all(self) -> None:
        self.manager.cancel_all()

    def _free(self) -> None:
        self.manager._free()  # ends the manager now, not whenever the object is collected

    def _engine_stats(self) -> dict[str, Any]:
        stats = self.manager.stats
        return {
            "mode": self.mode,
            **({} if self.monitored else {"exec_mode": self._library_mode}),
            "workers_lost": workers_lost(stats, stats.workers_slow),
            "recovery_tasks": stats.tasks_recovery,
        }

    # refs -------------------------------------------------------------------
    def fetch(self, ref: VineRef) -> Any:
        """Bring a partial output from the workers to the driver.

        Serverless, a ``fetch`` call into the library returns its bytes (a plain task
        would make TaskVine evict the library from that worker to run it); in task mode
        a ``cp`` task returns the file. ``Manager.fetch_file`` is not used: it returns
        text through SWIG, which breaks binary pickles.
        """
        vine = extras.ndcctools_taskvine()
        staging = self._started(self._staging)
        if self.monitored:
            path = staging / f"fetched-{id(ref):x}.pkl.lz4"
            local = self.manager.declare_file(str(path), cache=False)
            et = vine.Task(f"cp {input_name(0)} {OUTPUT_FILE}")
            et.add_output(local, OUTPUT_FILE)
        else:
            et = vine.FunctionCall(self._library, "run", "fetch", False, None, 1)
        et.add_input(ref.file, input_name(0))
        self._categorize(et, CATEGORIES["merge"])
        fetch_id = self.manager.submit(et)
        while (returned := self.manager.wait(1)) is None or returned.id != fetch_id:
            if returned is not None:
                self._returned(returned)  # another task finished meanwhile: filed as usual
        value = None
        if et.successful():
            with contextlib.suppress(Exception):
                value = et.output if not self.monitored else Ok(path.read_bytes())
        if self.monitored:
            self.manager.undeclare_file(local)
            path.unlink(missing_ok=True)
        if not isinstance(value, Ok):
            msg = f"TaskVine could not bring a partial output back from the workers: {et.result}"
            raise TaskEngineError(msg)
        return serialize.loads(value.value)

    def release(self, ref: VineRef) -> None:
        """Delete a merged partial output from every worker that holds it."""
        if self.manager is not None:
            self.manager.undeclare_file(ref.file)

    def __repr__(self) -> str:
        return (
            f"TaskVineExecutor(workers={self.workers}, cores={self.cores}, mode={self.mode!r}, "
            f"exec_mode={self.exec_mode!r}, retries={self.retries})"
        )


#: the cctools fixes direct mode needs (tools/cctools_patches.py): the manager survives a
#: worker's first call crashing its library (else SIGFPE ends the driver), and a worker can
#: kill a library it is told to evict (else, when a crash switches the run to fork mode, the
#: worker evicting its idle direct library can block for ever and the run hangs)
DIRECT_NEEDS_FIXES = frozenset({"vine-forsaken-first-task-div0", "vine-worker-setpgid-race"})


def cctools_fixes() -> frozenset[str]:
    """The fixes of ``tools/cctools_patches.py`` the driver's cctools was built with.

    ``make setup`` records them in ``ndcctools/taskvine/colframe-patches.txt`` when it
    builds cctools; a cctools from elsewhere (conda-forge) has none.
    """
    marker = Path(str(extras.ndcctools_taskvine().__file__)).parent / "colframe-patches.txt"
    try:
        return frozenset(marker.read_text().split())
    except OSError:
        return frozenset()


def default_exec_mode() -> str:
    """ "direct" when the driver's cctools carries :data:`DIRECT_NEEDS_FIXES`, else "fork"."""
    return "direct" if cctools_fixes() >= DIRECT_NEEDS_FIXES else "fork"


@contextmanager
def local_workers(
    manager: Any, count: int, *, cores: int = 1, memory: int | None = None, disk: int | None = None
) -> Iterator[LocalWorkers]:
    """Start ``count`` local ``vine_worker`` processes for any TaskVine manager (e.g. DaskVine).

    ::

        m = DaskVine(port=0)
        with local_workers(m, 2):
            result = hist.compute(scheduler=m.get)
    """
    workers = LocalWorkers(
        "vine_worker", "localhost", manager.port, count, cores=cores, memory=memory, disk=disk
    )
    with workers:
        yield workers
