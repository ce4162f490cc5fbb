"""TaskVineExecutor: chunks and merges on TaskVine workers, partial outputs kept on the workers.

- Serverless by default: the work function is installed once per worker in a
  TaskVine library and every chunk or merge is a ``FunctionCall`` forked from
  it (milliseconds per call). ``mode="tasks"`` runs one ``PythonTask`` per
  chunk instead: a process each, with resource monitoring.
- Chunk outputs are TaskVine temp files on the worker that made them; merge
  tasks take them as inputs, so partials move worker to worker, never through
  the manager. Only the final result is fetched.
- Categories ``preprocessing``, ``processing``, ``accumulating`` with their own
  resources; in task mode a chunk that exhausts its memory is split in two
  halves of its entry range (recursively) and merged back.
- ``workers=N`` starts N local ``vine_worker`` processes; ``workers=0`` waits
  for workers started elsewhere and logs the command line that starts them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import serialize
from ..errors import ExecutorError, NoWorkersError, ResourceExhaustedError, TaskEngineError
from ..results import ChunkFailure, Err, Ok, Result
from ._base import Executor, Task
from ._local_workers import LocalWorkers
from ._task import describe_arg
from ._vine_worker import FUNCTION_FILE, OUTPUT_FILE, Stored, input_name, run, warm_up

__all__ = ["CATEGORIES", "TaskVineExecutor", "VineRef", "local_workers"]

log = logging.getLogger(__name__)

#: task kind -> TaskVine category
CATEGORIES = {"preprocess": "preprocessing", "process": "processing", "merge": "accumulating"}
MODES = ("serverless", "tasks")
ALLOCATION_MODES = ("fixed", "max", "min waste", "max throughput")
_RESOURCE_KEYS = ("cores", "memory", "disk")


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


@dataclass(eq=False)
class _Split:
    """A chunk re-run as two halves after it exhausted its resources; merged back at the end."""

    task: Task
    halves: list[Task]
    refs: list[Any] = field(default_factory=lambda: [None, None])
    merge: Task | None = None
    done: bool = False


class TaskVineExecutor(Executor):
    """Run tasks on TaskVine workers.

    Args:
        workers: local ``vine_worker`` processes to start (default: the number of
            CPUs); 0 starts none and waits for workers started elsewhere.
        cores, memory, disk: what each local worker offers (memory and disk in MB).
        port: the manager's port: 0 (any free port), an int, or a ``(low, high)`` range.
        manager_name: advertise the manager under this name to the catalog server
            (workers then find it with ``-M NAME``); None advertises nothing.
        password: a password file shared with the workers; ssl: True or ``(key, cert)``.
        mode: "serverless" (FunctionCalls into a library, the default) or "tasks".
        retries: extra attempts for a failed task (the one colframe retry layer).
        replicas: how many workers keep a copy of each partial output.
        connect_timeout: seconds to wait for the first worker before failing.
        run_info_dir: where TaskVine writes its logs (default: a new temporary
            directory, named by :attr:`run_info`, kept after the run).
        resources: per category ("preprocessing", "processing", "accumulating"):
            ``{"cores": .., "memory": MB, "disk": MB}``.
        resources_mode: allocation mode of the categories in task mode: "fixed",
            "max", "min waste" or "max throughput".
        split_on_exhaustion: in task mode, re-run a chunk that exhausted its
            resources as two halves (down to ``min_split_entries`` entries).
        environment: a poncho-layout tarball (``bin/run_in_env``) every task runs in.
    """

    name = "taskvine"
    merges_remotely = True

    def __init__(
        self,
        workers: int | None = None,
        *,
        cores: int = 1,
        memory: int | None = None,
        disk: int | None = None,
        port: int | tuple[int, int] = 0,
        manager_name: str | None = None,
        password: str | os.PathLike | None = None,
        ssl: bool | tuple[str, str] | None = None,
        mode: str = "serverless",
        retries: int = 2,
        replicas: int = 1,
        connect_timeout: float = 60.0,
        run_info_dir: str | os.PathLike | None = None,
        resources: Mapping[str, Mapping[str, int]] | None = None,
        resources_mode: str = "fixed",
        split_on_exhaustion: bool = True,
        min_split_entries: int = 1_000,
        environment: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(retries=retries)
        if workers is None:
            workers = os.cpu_count() or 1
        _check_int("workers", workers, 0)
        _check_int("cores", cores, 1)
        _check_int("replicas", replicas, 1)
        _check_int("min_split_entries", min_split_entries, 1)
        if mode not in MODES:
            msg = f"mode must be one of {MODES}, not {mode!r}"
            raise ExecutorError(msg)
        if resources_mode not in ALLOCATION_MODES:
            msg = f"resources_mode must be one of {ALLOCATION_MODES}, not {resources_mode!r}"
            raise ExecutorError(msg)
        if mode == "serverless" and resources_mode != "fixed":
            msg = (
                f"resources_mode={resources_mode!r} needs resource monitoring, which TaskVine "
                f"cannot combine with serverless libraries: use mode='tasks'"
            )
            raise ExecutorError(msg)
        self.resources = _check_resources(resources)
        if environment is not None and not Path(environment).is_file():
            msg = f"environment tarball {os.fspath(environment)!r} does not exist"
            raise ExecutorError(msg)
        self.workers, self.cores, self.memory, self.disk = workers, cores, memory, disk
        self.port, self.manager_name, self.password, self.ssl = port, manager_name, password, ssl
        self.mode, self.replicas, self.connect_timeout = mode, replicas, connect_timeout
        self.run_info_dir = run_info_dir
        self.resources_mode = resources_mode
        self.split_on_exhaustion = split_on_exhaustion
        self.min_split_entries = min_split_entries
        self.environment = environment
        self.run_info: Path | None = None
        self.splits = 0
        self.tasks_per_worker: dict[str, int] = {}
        self.bytes_transferred = 0
        self.peak_memory_mb: dict[str, float] = {}
        self._reset()

    def _reset(self) -> None:
        self._manager: Any = None
        #: the local vine_worker processes this executor started (None when workers=0)
        self.local: LocalWorkers | None = None
        self._library: str | None = None
        self._env_file: Any = None
        self._functions: dict[int, tuple[Any, Any]] = {}
        self._vine_tasks: dict[
            int, tuple[Task, Any, Any]
        ] = {}  # vine id -> (task, vine task, temp)
        self._finished: dict[int, Result] = {}  # vine ids finished but not yet asked for
        self._splits: dict[int, _Split] = {}  # id(internal task) -> the split it belongs to
        self._staging: Path | None = None

    # lifetime -------------------------------------------------------------
    def start(self) -> None:
        vine = ndcctools_taskvine()
        if self.run_info_dir is None:
            self.run_info = Path(tempfile.mkdtemp(prefix="colframe-taskvine-"))
        else:
            self.run_info = Path(self.run_info_dir)
            self.run_info.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix="staging-", dir=self.run_info))
        saved = {k: os.environ.get(k) for k in ("TCP_LOW_PORT", "TCP_HIGH_PORT")}
        try:
            self._manager = vine.Manager(
                port=self.port,
                name=self.manager_name,
                run_info_path=str(self.run_info),
                ssl=self.ssl,
            )
        except Exception as exc:
            msg = f"cannot start a TaskVine manager on port {self.port!r}: {exc}"
            raise ExecutorError(msg) from exc
        finally:
            # Manager() writes the port range into os.environ, where every process this
            # driver starts later would inherit it (see ../shared/vendor/PROVENANCE.md)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        try:
            self._configure(vine)
            if self.workers:
                self.local = self._local_workers(self.workers).start()
            self._wait_for_workers()
        except BaseException:
            self.stop(abort=True)
            raise
        log.info("TaskVine manager on port %d; logs in %s", self._manager.port, self.run_info)

    def _configure(self, vine) -> None:
        m = self._manager
        if self.password is not None:
            m.set_password_file(os.fspath(self.password))
        m.tune("temp-replica-count", self.replicas)
        m.tune("immediate-recovery", 1)  # recreate a lost partial as soon as its worker leaves
        m.tune("wait-for-workers", 0)
        for category in CATEGORIES.values():
            wanted = self.resources.get(category)
            if wanted:
                m.set_category_resources_max(category, dict(wanted))
            if self.mode == "tasks":
                m.set_category_mode(category, self.resources_mode)
        if self.environment is not None:
            self._env_file = m.declare_poncho(os.fspath(self.environment), cache=True)
        if self.mode == "tasks":
            m.enable_monitoring(watchdog=True)
            m.tune("monitor-interval", 1)
            return
        self._library = f"colframe-{os.getpid()}-{id(self):x}"
        library = m.create_library_from_functions(
            self._library,
            run,
            poncho_env="dummy-value",  # no conda environment built: workers bring Python
            add_env=False,
            exec_mode="fork",
            library_context_info=[warm_up, [], {}],
        )
        library.set_cores(self.cores)
        library.set_function_slots(self.cores)
        if self._env_file is not None:
            library.add_environment(self._env_file)
        m.install_library(library)

    def _local_workers(self, count: int) -> LocalWorkers:
        return LocalWorkers(
            "vine_worker",
            "localhost",
            self._manager.port,
            count,
            cores=self.cores,
            memory=self.memory,
            disk=self.disk,
            options=_worker_options(self.password, self.ssl),
        )

    def worker_command(self) -> str:
        """The command that connects one more worker to this manager."""
        host = socket.getfqdn()
        options = " ".join(_worker_options(self.password, self.ssl))
        port = self._manager.port if self._manager is not None else self.port
        return " ".join(p for p in ("vine_worker", options, host, str(port)) if p)

    def _wait_for_workers(self) -> None:
        if not self.workers:
            log.warning(
                "TaskVine manager waiting for workers on port %d; start them with\n  %s\n"
                "or on a cluster: vine_factory -T condor|slurm --min-workers N %s %d",
                self._manager.port,
                self.worker_command(),
                socket.getfqdn(),
                self._manager.port,
            )
        deadline = time.monotonic() + self.connect_timeout
        while self._manager.stats.workers_connected < 1:
            if time.monotonic() > deadline:
                msg = (
                    f"no TaskVine worker connected to the manager at {socket.getfqdn()}:"
                    f"{self._manager.port} within {self.connect_timeout:g} s; start one with\n"
                    f"  {self.worker_command()}\n(or raise connect_timeout)"
                )
                raise NoWorkersError(msg)
            self._manager.wait(1)  # lets the manager accept connections (whole seconds)

    def stop(self, abort: bool = False) -> None:
        if self._manager is not None and abort:
            self._manager.cancel_all()
        if self.local is not None:
            self.local.stop()
        if self._manager is not None:
            self._manager._free()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        self._reset()

    @property
    def slots(self) -> int:
        """Cores of the workers connected now (at least 1)."""
        if self._manager is None:
            return max(1, self.workers * self.cores)
        stats = self._manager.stats
        return max(1, stats.workers_connected * self.cores)

    # tasks ----------------------------------------------------------------
    def _function_file(self, function) -> Any:
        entry = self._functions.get(id(function))
        if entry is None:
            path = self._staging / f"function-{len(self._functions)}.pkl.lz4"
            serialize.dump(function, str(path))
            # cached on each worker for the whole run: shipped once per worker
            entry = self._functions[id(function)] = (
                function,
                self._manager.declare_file(str(path), cache=True),
            )
        return entry[1]

    def _launch(self, task: Task) -> None:
        if self._manager is None:
            msg = "TaskVineExecutor is not started: use it inside `with executor:` or a Runner"
            raise ExecutorError(msg)
        vine = ndcctools_taskvine()
        refs = task.arg if task.kind == "merge" else []
        arg = None if task.kind == "merge" else task.arg
        call = (task.kind, task.keep, arg, len(refs))
        if self.mode == "serverless":
            vt = vine.FunctionCall(self._library, "run", *call)
        else:
            vt = vine.PythonTask(run, *call)
            if self._env_file is not None:
                vt.add_environment(self._env_file)
        self._categorize(vt, CATEGORIES[task.kind])
        vt.add_input(self._function_file(task.function), FUNCTION_FILE)
        for i, ref in enumerate(refs):
            vt.add_input(ref.file, input_name(i))
        temp = None
        if task.keep:
            temp = self._manager.declare_temp()
            vt.add_output(temp, OUTPUT_FILE)
        vine_id = self._manager.submit(vt)
        self._vine_tasks[vine_id] = (task, vt, temp)
        task.handle = vine_id

    def _categorize(self, vt, category: str) -> None:
        vt.set_category(category)
        if self.mode == "tasks":
            # under monitoring a task that asks for nothing gets a 1 MB memory limit
            # (7.17.1): ask for at least a core, which brings its share of the worker
            for key, value in {"cores": 1, **self.resources.get(category, {})}.items():
                getattr(vt, f"set_{key}")(value)

    def _collect(self, tasks: list[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        wanted = {task.handle: task for task in tasks}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            finished = [
                (wanted[i], self._finished.pop(i)) for i in list(wanted) if i in self._finished
            ]
            if finished:
                return finished
            remaining = 1 if deadline is None else max(0, int(deadline - time.monotonic()))
            self._pump(min(1, remaining))  # TaskVine waits in whole seconds
            if (
                deadline is not None
                and time.monotonic() >= deadline
                and not any(i in self._finished for i in wanted)
            ):
                return []

    def _pump(self, timeout: int) -> None:
        """Wait up to ``timeout`` for TaskVine tasks; file every one that returns."""
        vt = self._manager.wait(timeout)
        while vt is not None:
            self._returned(vt)
            vt = self._manager.wait(0)

    def _returned(self, vt) -> None:
        task, _, temp = self._vine_tasks.pop(vt.id)
        self._account(vt, task.kind)
        self._deliver(task, self._result(task, vt, temp))

    def _deliver(self, task: Task, result: Result) -> None:
        """File ``result`` for ``task``: split it, feed the split it is part of, or finish it."""
        if (
            isinstance(result, Err)
            and result.failure.matches((ResourceExhaustedError,))
            and self._can_split(task)
        ):
            self._start_split(task)
            return
        split = self._splits.pop(id(task), None)
        if split is None:
            self._finished[task.handle] = result
        else:
            self._split_progress(split, task, result)

    def _result(self, task: Task, vt, temp) -> Result:
        value = None
        if vt.successful():
            try:
                value = vt.output
            except Exception:  # noqa: BLE001 (an output that cannot be read is a failed task, below)
                value = None
        if isinstance(value, Ok | Err):
            if isinstance(value, Ok) and task.keep and isinstance(value.value, Stored):
                return Ok(VineRef(temp, value.value.nbytes, self))
            if temp is not None:
                self._manager.undeclare_file(temp)
            return value
        if temp is not None:
            self._manager.undeclare_file(temp)
        cause = vt.result
        error_type = ResourceExhaustedError if cause == "resource exhaustion" else TaskEngineError
        stdout = (vt.std_output or "").strip()[-2000:]
        if cause == "resource exhaustion":
            cause += f" ({_exceeded(vt)})"
        where = f" on {vt.hostname}" if vt.hostname else ""
        error = error_type(
            f"TaskVine {task.kind} task {vt.id}{where} ended with '{cause}' "
            f"(exit code {vt.exit_code})" + (f"; its output:\n{stdout}" if stdout else "")
        )
        # the same resources would be exhausted again; a failed merge is never retried
        retryable = task.kind != "merge" and error_type is not ResourceExhaustedError
        failure = ChunkFailure.from_exception(error, describe_arg(task.arg), task.kind, retryable)
        return Err(failure)

    def _account(self, vt, kind: str) -> None:
        host = vt.addrport or vt.hostname or "?"
        self.tasks_per_worker[host] = self.tasks_per_worker.get(host, 0) + 1
        # metrics vary between cctools releases: never fail a run on them
        with contextlib.suppress(Exception):
            self.bytes_transferred += int(vt.get_metric("bytes_transferred") or 0)
        if self.mode == "tasks":
            measured = vt.resources_measured
            memory = getattr(measured, "memory", None) if measured is not None else None
            if memory is not None and memory > 0:
                category = CATEGORIES[kind]
                self.peak_memory_mb[category] = max(self.peak_memory_mb.get(category, 0), memory)

    # splitting on resource exhaustion ------------------------------------------
    def _can_split(self, task: Task) -> bool:
        return (
            self.split_on_exhaustion
            and task.kind == "process"
            and hasattr(task.arg, "entrystart")
            and len(task.arg) >= 2 * self.min_split_entries
        )

    def _start_split(self, task: Task) -> None:
        item = task.arg
        middle = item.entrystart + len(item) // 2
        halves = [
            dataclasses.replace(item, entrystop=middle),
            dataclasses.replace(item, entrystart=middle),
        ]
        self.splits += 1
        log.info("%s exhausted its resources: split into two halves", item.describe())
        split = _Split(task, [Task(task.function, half, task.kind, True) for half in halves])
        for sub in split.halves:
            self._splits[id(sub)] = split
            self._launch(sub)

    def _split_progress(self, split: _Split, sub: Task, result: Result) -> None:
        if split.done:  # the other half already failed: drop what this one made
            if isinstance(result, Ok):
                self.release(result.value)
            return
        if isinstance(result, Err) or sub is split.merge:
            split.done = True
            for ref in split.refs:
                if ref is not None:
                    self.release(ref)
            if isinstance(result, Ok) and not split.task.keep:
                result = Ok(self.fetch(result.value))
            self._deliver(split.task, result)
            return
        split.refs[split.halves.index(sub)] = result.value
        if all(ref is not None for ref in split.refs):
            split.merge = Task(_merge_function(), list(split.refs), "merge", True)
            self._splits[id(split.merge)] = split
            self._launch(split.merge)

    # refs -------------------------------------------------------------------
    def fetch(self, ref: VineRef) -> Any:
        """Bring a partial output from the workers to the driver (a copy task returns it).

        ``Manager.fetch_file`` returns text through SWIG, which breaks binary pickles.
        """
        vine = ndcctools_taskvine()
        path = self._staging / f"fetched-{id(ref):x}.pkl.lz4"
        local = self._manager.declare_file(str(path), cache=False)
        copy = vine.Task(f"cp {input_name(0)} {OUTPUT_FILE}")
        copy.add_input(ref.file, input_name(0))
        copy.add_output(local, OUTPUT_FILE)
        self._categorize(copy, CATEGORIES["merge"])
        copy_id = self._manager.submit(copy)
        while True:
            vt = self._manager.wait(1)
            if vt is None:
                continue
            if vt.id != copy_id:
                self._returned(vt)
                continue
            if not vt.successful():
                msg = (
                    f"TaskVine could not bring a partial output back from the workers: {vt.result}"
                )
                raise TaskEngineError(msg)
            try:
                return serialize.load(str(path))
            finally:
                self._manager.undeclare_file(local)
                path.unlink(missing_ok=True)

    def release(self, ref: VineRef) -> None:
        """Delete a merged partial output from every worker that holds it."""
        if self._manager is not None:
            self._manager.undeclare_file(ref.file)

    def stats(self) -> dict[str, Any]:
        """What the report shows of this engine: splits, tasks per worker, transfers, memory."""
        engine = {}
        if self._manager is not None:
            stats = self._manager.stats
            engine = {"workers_lost": stats.workers_lost, "recovery_tasks": stats.tasks_recovery}
        return {
            "mode": self.mode,
            "run_info": str(self.run_info) if self.run_info else None,
            "splits": self.splits,
            **engine,
            "tasks_per_worker": dict(self.tasks_per_worker),
            "bytes_transferred": self.bytes_transferred,
            "peak_memory_mb": dict(self.peak_memory_mb),
        }

    def __repr__(self) -> str:
        return (
            f"TaskVineExecutor(workers={self.workers}, cores={self.cores}, mode={self.mode!r}, "
            f"retries={self.retries})"
        )


def ndcctools_taskvine():
    """``ndcctools.taskvine``, or ModuleNotFoundError with the install line."""
    try:
        import ndcctools.taskvine as vine
    except ModuleNotFoundError as exc:
        msg = (
            "the TaskVine executor needs ndcctools: `conda install -c conda-forge ndcctools`, "
            "or `make setup` in a colframe checkout (builds cctools into .venv)"
        )
        raise ModuleNotFoundError(msg) from exc
    return vine


def _exceeded(vt) -> str:
    """Which limits a task exceeded, e.g. "memory 612 > 500 MB"."""
    limits, measured = vt.limits_exceeded, vt.resources_measured
    parts = []
    for key, unit in (("cores", ""), ("memory", " MB"), ("disk", " MB"), ("wall_time", " s")):
        limit = getattr(limits, key, -1) if limits is not None else -1
        if limit is not None and limit > 0:
            used = getattr(measured, key, "?") if measured is not None else "?"
            parts.append(f"{key} {used} > {limit}{unit}")
    return ", ".join(parts) or "limit not reported"


def _merge_function():
    from .._work import merge_partials

    return merge_partials


def _worker_options(password, ssl) -> list[str]:
    options = []
    if password is not None:
        options += ["--password", os.fspath(password)]
    if ssl:
        options.append("--ssl")
    return options


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{name} must be an integer >= {low}, got {value!r}"
        raise ExecutorError(msg)


def _check_resources(resources: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict]:
    checked: dict[str, dict] = {}
    for category, wanted in (resources or {}).items():
        if category not in CATEGORIES.values():
            msg = f"unknown resource category {category!r}; use {sorted(CATEGORIES.values())}"
            raise ExecutorError(msg)
        unknown = set(wanted) - set(_RESOURCE_KEYS)
        if unknown:
            msg = f"unknown resources {sorted(unknown)} for {category!r}; use {_RESOURCE_KEYS}"
            raise ExecutorError(msg)
        checked[category] = dict(wanted)
    return checked


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
