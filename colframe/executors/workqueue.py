"""WorkQueueExecutor: chunks and merges as Work Queue PythonTasks.

Work Queue is TaskVine's predecessor (cctools), still what TopEFT runs in
production. It has no libraries and no worker-side temp files: each chunk's
output comes back to the manager as a file in the staging directory, and a
merge task takes those files as inputs. Everything else (local workers,
categories and resources, splitting on exhaustion under the resource monitor,
the report's engine fields) is the core shared with TaskVine,
:mod:`colframe.executors._manager_worker`.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from .. import extras
from ._base import Task
from ._manager_worker import CATEGORIES, Finished, ManagerWorkerExecutor, exceeded, workers_lost
from ._store import FileRef
from ._vine_worker import FUNCTION_FILE, OUTPUT_FILE, input_name, run

__all__ = ["WorkQueueExecutor"]

_LAUNCHER = "poncho_package_run"  # colframe's, which unpacks atomically (colframe.envs)

_MODES = {
    "fixed": "WORK_QUEUE_ALLOCATION_MODE_FIXED",
    "max": "WORK_QUEUE_ALLOCATION_MODE_MAX",
    "min waste": "WORK_QUEUE_ALLOCATION_MODE_MIN_WASTE",
    "max throughput": "WORK_QUEUE_ALLOCATION_MODE_MAX_THROUGHPUT",
}


class WorkQueueExecutor(ManagerWorkerExecutor):
    """Run tasks on Work Queue workers (see docs/workqueue.md).

    Args:
        workers: local ``work_queue_worker`` processes to start (default: the number
            of CPUs); 0 starts none and waits for workers started elsewhere
            (``work_queue_factory``, ``condor_submit_workers``, ...).
        cores, memory, disk: what each local worker offers (memory and disk in MB).
        port: 0 (any free port), an int, or a ``(low, high)`` range.
        manager_name: advertise the manager to the catalog under this name (workers
            then use ``-M NAME``); None advertises nothing.
        password: a password file shared with the workers (with ``workers=0`` and no
            password, one is made in the run-info directory and named in the log);
            ssl: True or ``(key, cert)``.
        resource_monitor: run tasks under cctools' resource monitor, which enforces
            the categories' limits and reports exhaustion (needed for splitting).
        environment: a tarball from ``colframe env pack`` (poncho layout): every task
            runs through its ``bin/run_in_env``. The tarball is a cached input (sent
            once per worker) and is unpacked once per worker, into the worker's
            workspace, by ``poncho_package_run`` (sent beside it), as Work Queue's own
            ``PythonTask.specify_environment`` does.
        retries, connect_timeout, run_info_dir, resources, resources_mode,
        split_on_exhaustion, min_split_entries, preflight: as for TaskVineExecutor.
    """

    name = "workqueue"
    engine = "Work Queue"
    worker_binary = "work_queue_worker"
    factory_hint = "work_queue_factory -T condor|slurm --min-workers N {host} {port}"
    password_by_default = True

    def __init__(
        self, workers: int | None = None, *, resource_monitor: bool = True, **options: Any
    ) -> None:
        super().__init__(workers, **options)
        self.resource_monitor = bool(resource_monitor)

    def _reset(self) -> None:
        super()._reset()
        self._env: tuple[str, str, str] | None = None  # tarball, its name on workers, launcher

    @property
    def monitored(self) -> bool:
        return self.resource_monitor

    # engine hooks ---------------------------------------------------------------
    def _create_manager(self) -> Any:
        wq = extras.ndcctools_work_queue()
        logs = self._started(self.run_info)
        return wq.WorkQueue(
            port=self.port,
            name=self.manager_name,
            ssl=self.ssl,
            stats_log=str(logs / "stats.log"),
            transactions_log=str(logs / "transactions.log"),
        )

    def _set_password(self, path: str) -> None:
        self.manager.specify_password_file(path)

    def _configure(self) -> None:
        wq = extras.ndcctools_work_queue()
        q = self.manager
        for category in CATEGORIES.values():
            if self.resources.get(category):
                q.specify_category_max_resources(category, dict(self.resources[category]))
            q.specify_category_mode(category, getattr(wq, _MODES[self.resources_mode]))
        if self.monitored:
            q.enable_monitoring(watchdog=True)
            # a task gets what it asks for, not a share of the worker: the limit it is held to
            q.tune("proportional-resources", 0)
        if self.environment is not None:
            self._env = self._environment_inputs(Path(self.environment))

    def _environment_inputs(self, tarball: Path) -> tuple[str, str, str]:
        """The tarball, its name in sandboxes (by content), and the unpacking script."""
        from ..envs import tarball_digest
        from ..envs._scripts import PONCHO_PACKAGE_RUN

        launcher = self._started(self._staging) / _LAUNCHER
        launcher.write_text(PONCHO_PACKAGE_RUN)
        launcher.chmod(0o755)
        name = f"colframe-env-{tarball_digest(tarball)[:16]}"
        return str(tarball.resolve()), name, str(launcher)

    def _connected(self) -> int:
        return self.manager.stats.workers_connected

    def _declare_function(self, path: Path) -> Any:
        return str(path)

    def _build(self, task: Task, call: tuple, refs: list) -> tuple[Any, Any]:
        wq = extras.ndcctools_work_queue()
        et = wq.PythonTask(run, *call)
        if self._env is not None:
            tarball, name, launcher = self._env
            # WORK_QUEUE_SANDBOX is the worker's workspace, shared by its tasks and removed
            # with the worker: the environment is unpacked there once per worker
            et.specify_command(
                f'./{_LAUNCHER} -e {name}.tar.gz -u "$WORK_QUEUE_SANDBOX/{name}" -- {et.command}'
            )
            et.specify_input_file(tarball, f"{name}.tar.gz", cache=True)
            et.specify_input_file(launcher, _LAUNCHER, cache=True)
        category = CATEGORIES[task.kind]
        et.specify_category(category)
        for key, value in self.category_resources(category).items():
            getattr(et, f"specify_{key}")(value)
        # cached: every worker receives the function once
        et.specify_input_file(self.function_file(task.function), FUNCTION_FILE, cache=True)
        for i, ref in enumerate(refs):
            et.specify_input_file(ref.path, input_name(i), cache=False)
        output = None
        if task.keep:
            output = str(self._started(self._staging) / f"partial-{uuid.uuid4().hex}.pkl.lz4")
            et.specify_output_file(output, OUTPUT_FILE, cache=False)
        return et, output

    def _submit(self, et) -> int:
        return self.manager.submit(et)

    def _wait(self, timeout: int) -> Any:
        return self.manager.wait(timeout)

    def _task_id(self, et) -> int:
        return et.id

    def _finished_info(self, et) -> Finished:
        wq = extras.ndcctools_work_queue()
        value = None
        if et.result == wq.WORK_QUEUE_RESULT_SUCCESS and et.return_status == 0:
            with contextlib.suppress(Exception):  # no readable output: a failed task
                value = et.output
        exhausted = et.result == wq.WORK_QUEUE_RESULT_RESOURCE_EXHAUSTION
        cause = "resource exhaustion" if exhausted else et.result_str.lower().replace("_", " ")
        measured = et.resources_measured if self.monitored else None
        return Finished(
            value=value,
            cause=cause,
            exit_code=et.return_status,
            host=et.host or et.hostname or "",
            stdout=et.std_output or "",
            exceeded=exceeded(et) if exhausted else "",
            bytes_transferred=int(et._task.total_bytes_transferred or 0),
            memory_mb=getattr(measured, "memory", None) if measured is not None else None,
            # the Python wrapper lacks these two in 7.17.1: read from the task struct
            resubmitted=et._task.try_count > 1,
        )

    def _ref(self, output, nbytes: int) -> FileRef:
        return FileRef(output, nbytes)

    def _drop(self, output) -> None:
        Path(output).unlink(missing_ok=True)

    def _cancel_all(self) -> None:
        for engine_id in list(self._running):
            self.manager.cancel_by_taskid(engine_id)

    def _free(self) -> None:
        self.manager._free()  # ends the manager now, not whenever the object is collected

    def _engine_stats(self) -> dict[str, Any]:
        stats = self.manager.stats
        return {"workers_lost": workers_lost(stats, stats.workers_fast_aborted)}

    # refs: output files in the staging directory ---------------------------------
    def fetch(self, ref: FileRef) -> Any:
        return ref.load()

    def release(self, ref: FileRef) -> None:
        ref.discard()

    def __repr__(self) -> str:
        return (
            f"WorkQueueExecutor(workers={self.workers}, cores={self.cores}, "
            f"resource_monitor={self.resource_monitor}, retries={self.retries})"
        )
