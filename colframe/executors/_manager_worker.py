"""What TaskVine and Work Queue executors share: one core over a manager and its workers.

The core owns the manager's lifetime (and the port variables cctools leaves in
``os.environ``), local workers in their own process groups, the wait for the
first worker with the command line that starts one, the in-flight window that
follows the workers connected now, task categories with resources and
allocation modes, results and failures, splitting a chunk that exhausted its
resources, and the report's engine fields. An engine module implements the
hooks at the bottom of :class:`ManagerWorkerExecutor`: how to create and
configure its manager, build and submit a task, and read what came back.

Every task runs :func:`colframe.executors._vine_worker.run` in its sandbox:
the work function arrives as a cached input file, merge inputs as ``in.N``
files, and a kept output is left as ``partial.pkl`` for the engine to keep.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from abc import abstractmethod
from collections.abc import Collection, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from .. import serialize
from ..errors import ExecutorError, NoWorkersError, ResourceExhaustedError, TaskEngineError
from ..results import ChunkFailure, Err, Ok, Result
from ._base import Executor, Task
from ._local_workers import LocalWorkers
from ._ship import ShippedFunctions, pickle_arg
from ._task import describe_arg
from ._vine_worker import Stored

__all__ = [
    "ALLOCATION_MODES",
    "CATEGORIES",
    "Finished",
    "ManagerWorkerExecutor",
    "check_int",
    "exceeded",
]

log = logging.getLogger(__name__)

#: task kind -> category
CATEGORIES = {"preprocess": "preprocessing", "process": "processing", "merge": "accumulating"}
ALLOCATION_MODES = ("fixed", "max", "min waste", "max throughput")
_RESOURCE_KEYS = ("cores", "memory", "disk")
_PORT_VARIABLES = ("TCP_LOW_PORT", "TCP_HIGH_PORT")


class Finished(NamedTuple):
    """What an engine reports of a returned task."""

    value: Any  # the Ok/Err that ``run`` returned, or None when the task produced nothing
    cause: str  # the engine's result ("success", "resource exhaustion", "signal", ...)
    exit_code: int | None
    host: str
    stdout: str
    exceeded: str  # which limits were exceeded, e.g. "memory 612 > 500 MB"
    bytes_transferred: int
    memory_mb: float | None  # measured peak, when monitored
    resubmitted: bool = False  # the engine ran it again itself (its worker was lost)


@dataclass(eq=False)
class _Split:
    """A chunk re-run as two halves after it exhausted its resources; merged back at the end."""

    task: Task
    halves: list[Task]
    refs: list[Any] = field(default_factory=lambda: [None, None])
    merge: Task | None = None
    done: bool = False


class ManagerWorkerExecutor(Executor):
    """Base of the TaskVine and Work Queue executors (options documented by each)."""

    #: the engine's name in messages, its worker program and its cluster hint
    engine: ClassVar[str] = ""
    worker_binary: ClassVar[str] = ""
    factory_hint: ClassVar[str] = ""
    #: make a password file when workers come from elsewhere and none was given
    password_by_default: ClassVar[bool] = False

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
        retries: int = 2,
        connect_timeout: float = 60.0,
        run_info_dir: str | os.PathLike | None = None,
        resources: Mapping[str, Mapping[str, int]] | None = None,
        resources_mode: str = "fixed",
        split_on_exhaustion: bool = True,
        min_split_entries: int = 1_000,
        environment: str | os.PathLike | None = None,
        preflight: bool = False,
    ) -> None:
        super().__init__(retries=retries, preflight=preflight)
        if workers is None:
            workers = os.cpu_count() or 1
        check_int("workers", workers, 0)
        check_int("cores", cores, 1)
        check_int("min_split_entries", min_split_entries, 1)
        if resources_mode not in ALLOCATION_MODES:
            msg = f"resources_mode must be one of {ALLOCATION_MODES}, not {resources_mode!r}"
            raise ExecutorError(msg)
        if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, int | float):
            msg = f"connect_timeout must be a number of seconds, got {connect_timeout!r}"
            raise ExecutorError(msg)
        if environment is not None and not Path(environment).is_file():
            msg = f"environment tarball {os.fspath(environment)!r} does not exist"
            raise ExecutorError(msg)
        self.resources = _check_resources(resources)
        self.workers, self.cores, self.memory, self.disk = workers, cores, memory, disk
        self.port, self.manager_name, self.password, self.ssl = port, manager_name, password, ssl
        self.connect_timeout = connect_timeout
        self.run_info_dir = run_info_dir
        self.resources_mode = resources_mode
        self.split_on_exhaustion = split_on_exhaustion
        self.min_split_entries = min_split_entries
        self.environment = environment
        self.run_info: Path | None = None
        self._reset()

    def _reset(self) -> None:
        self.manager: Any = None
        #: the local worker processes this executor started (None when workers=0)
        self.local: LocalWorkers | None = None
        self.splits = 0
        self.tasks_per_worker: dict[str, int] = {}
        self.bytes_transferred = 0
        self.peak_memory_mb: dict[str, float] = {}
        self._functions: ShippedFunctions[Any] = ShippedFunctions(self._ship)
        self._running: dict[int, tuple[Task, Any, Any]] = {}  # engine id -> (task, et, output)
        # engine ids finished, not yet asked for -> (task, result)
        self._finished: dict[int, tuple[Task, Result]] = {}
        self._splits: dict[int, _Split] = {}  # id(internal task) -> its split
        self._staging: Path | None = None
        self._password: str | os.PathLike | None = None  # the one in use (maybe made here)

    @property
    def monitored(self) -> bool:
        """Whether tasks run under resource monitoring (limits enforced, exhaustion reported)."""
        return True

    # lifetime -------------------------------------------------------------
    def start(self) -> None:
        if self.run_info_dir is None:
            self.run_info = Path(tempfile.mkdtemp(prefix=f"colframe-{self.name}-"))
        else:
            self.run_info = Path(self.run_info_dir)
            self.run_info.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix="staging-", dir=self.run_info))
        saved = {k: os.environ.get(k) for k in _PORT_VARIABLES}
        try:
            self.manager = self._create_manager()
        except ModuleNotFoundError:
            raise
        except Exception as exc:
            msg = f"cannot start a {self.engine} manager on port {self.port!r}: {exc}"
            raise ExecutorError(msg) from exc
        finally:
            # the manager writes the port range into os.environ, where every process this
            # driver starts later would inherit it (see docs/taskvine.md, local workers)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        try:
            self._password = self.password
            if self._password is None and not self.workers and self.password_by_default:
                self._password = self._new_password_file()
            if self._password is not None:
                self._set_password(os.fspath(self._password))
            self._configure()
            if self.workers:
                self.local = self._local_workers().start()
            self._wait_for_workers()
        except BaseException:
            self.stop(abort=True)
            raise
        log.info("%s manager on port %d; logs in %s", self.engine, self.manager.port, self.run_info)

    def _started(self, path: Path | None) -> Path:
        """``path`` (the run directory or the staging directory), which start() creates."""
        if path is None:
            msg = f"{self.name} executor is not started: use it as `with executor:`"
            raise ExecutorError(msg)
        return path

    def _new_password_file(self) -> Path:
        path = self._started(self.run_info) / "worker.password"
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
        log.warning(
            "%s: workers must present the password in %s (copy it to them; "
            "pass password= to choose the file)",
            self.engine,
            path,
        )
        return path

    def _local_workers(self) -> LocalWorkers:
        options = [*self._password_option(), *(["--ssl"] if self.ssl else [])]
        return LocalWorkers(
            self.worker_binary,
            "localhost",
            self.manager.port,
            self.workers,
            cores=self.cores,
            memory=self.memory,
            disk=self.disk,
            options=options,
        )

    def _password_option(self) -> list[str]:
        password = self._password if self.manager is not None else self.password
        return [] if password is None else ["--password", os.fspath(password)]

    def worker_command(self) -> str:
        """The command that connects one more worker to this manager."""
        port = self.manager.port if self.manager is not None else self.port
        ssl = ["--ssl"] if self.ssl else []
        return " ".join(
            [self.worker_binary, *self._password_option(), *ssl, socket.getfqdn(), str(port)]
        )

    def _wait_for_workers(self) -> None:
        if not self.workers:
            log.warning(
                "%s manager waiting for workers on port %d; start them with\n  %s\n"
                "or on a cluster: %s",
                self.engine,
                self.manager.port,
                self.worker_command(),
                self.factory_hint.format(host=socket.getfqdn(), port=self.manager.port),
            )
        deadline = time.monotonic() + self.connect_timeout
        while self._connected() < 1:
            if time.monotonic() > deadline:
                msg = (
                    f"no {self.engine} worker connected to the manager at {socket.getfqdn()}:"
                    f"{self.manager.port} within {self.connect_timeout:g} s; start one with\n"
                    f"  {self.worker_command()}\n(or raise connect_timeout)"
                )
                raise NoWorkersError(msg)
            self._wait(1)  # lets the manager accept connections

    def stop(self, abort: bool = False) -> None:
        if self.manager is not None and abort:
            self._cancel_all()
        if self.local is not None:
            self.local.stop()
        if self.manager is not None:
            self._free()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        stats = (self.splits, self.tasks_per_worker, self.bytes_transferred, self.peak_memory_mb)
        self._reset()
        self.splits, self.tasks_per_worker, self.bytes_transferred, self.peak_memory_mb = stats

    @property
    def slots(self) -> int:
        """Cores of the workers connected now (at least 1): the in-flight window follows them."""
        if self.manager is None:
            return max(1, self.workers * self.cores)
        return max(1, self._connected() * self.cores)

    def status(self) -> str:
        """Workers connected now (they join and leave), e.g. "3 workers" ("waiting for workers")."""
        if self.manager is None:
            return ""
        connected = self._connected()
        return f"{connected} worker{'s' * (connected != 1)}" if connected else "waiting for workers"

    # tasks ----------------------------------------------------------------
    def function_file(self, function) -> Any:
        """The engine's cached file holding ``function``: written and declared once per run."""
        return self._functions(function)

    def _ship(self, function, index: int) -> Any:
        path = self._started(self._staging) / f"function-{index}.pkl.lz4"
        serialize.dump(function, str(path))
        return self._declare_function(path)

    def _launch(self, task: Task) -> None:
        if self.manager is None:
            msg = (
                f"{type(self).__name__} is not started: use it inside `with executor:` or a Runner"
            )
            raise ExecutorError(msg)
        refs = task.arg if task.kind == "merge" else []
        # pickled here: an argument that cannot travel is one clear error, raised now
        arg = None if task.kind == "merge" else pickle_arg(task.arg)
        et, output = self._build(task, (task.kind, task.keep, arg, len(refs)), refs)
        engine_id = self._submit(et)
        self._running[engine_id] = (task, et, output)
        task.handle = engine_id

    def category_resources(self, category: str) -> dict[str, int]:
        """What a task of ``category`` asks for: the category's resources, at least a core.

        Under monitoring a task that asks for nothing gets a 1 MB memory limit
        (cctools 7.17.1); a core brings its share of the worker's memory and disk.
        """
        return {"cores": 1, **self.resources.get(category, {})}

    def _collect(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        # the few finished tasks are looked up among those asked for, not the reverse: the
        # scheduler may have thousands in flight and asks once or more per chunk
        wanted = tasks if isinstance(tasks, AbstractSet) else set(tasks)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = [
                self._finished.pop(i) for i, (task, _) in list(self._finished.items()) if task in wanted
            ]
            if done or (deadline is not None and time.monotonic() >= deadline):
                return done
            remaining = 1 if deadline is None else max(0, int(deadline - time.monotonic()))
            self._pump(min(1, remaining))  # the engines wait in whole seconds

    def _pump(self, timeout: int) -> None:
        """Wait up to ``timeout`` s for returned tasks; file every one that returned."""
        et = self._wait(timeout)
        while et is not None:
            self._returned(et)
            et = self._wait(0)

    def _returned(self, et) -> None:
        task, _, output = self._running.pop(self._task_id(et))
        finished = self._finished_info(et)
        if finished.resubmitted and isinstance(finished.value, Ok):
            # it succeeded after the engine re-ran it (its worker was lost): counted like
            # colframe's own retries; a failure keeps colframe's attempt count
            task.attempts += 1
        host = finished.host or "?"
        self.tasks_per_worker[host] = self.tasks_per_worker.get(host, 0) + 1
        self.bytes_transferred += finished.bytes_transferred
        if finished.memory_mb is not None and finished.memory_mb > 0:
            category = CATEGORIES[task.kind]
            peak = max(self.peak_memory_mb.get(category, 0), finished.memory_mb)
            self.peak_memory_mb[category] = peak
        self._deliver(task, self._result(task, finished, output))

    def _result(self, task: Task, finished: Finished, output) -> Result:
        value = finished.value
        if isinstance(value, Ok) and task.keep and isinstance(value.value, Stored):
            return Ok(self._ref(output, value.value.nbytes))
        if output is not None:
            self._drop(output)
        if isinstance(value, Ok | Err):
            return value
        cause = finished.cause
        exhausted = cause == "resource exhaustion"
        if exhausted:
            cause += f" ({finished.exceeded or 'limit not reported'})"
        stdout = finished.stdout.strip()[-2000:]
        where = f" on {finished.host}" if finished.host else ""
        error = (ResourceExhaustedError if exhausted else TaskEngineError)(
            f"{self.engine} {task.kind} task {task.handle}{where} ended with '{cause}' "
            f"(exit code {finished.exit_code})" + (f"; its output:\n{stdout}" if stdout else "")
        )
        # the same resources would be exhausted again. Any other task, a merge too, ended
        # without colframe's result: its process or library died (a merge that raised,
        # outputs that cannot be added, came back above as Err and is not retried)
        retryable = not exhausted
        return Err(ChunkFailure.from_exception(error, describe_arg(task.arg, task.kind), task.kind, retryable))

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
            self._finished[task.handle] = (task, result)
        else:
            self._split_progress(split, task, result)

    # splitting on resource exhaustion ------------------------------------------
    def _can_split(self, task: Task) -> bool:
        return (
            self.split_on_exhaustion
            and self.monitored
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
            from .._work import merge_partials  # the merge every executor runs

            split.merge = Task(merge_partials, list(split.refs), "merge", True)
            self._splits[id(split.merge)] = split
            self._launch(split.merge)

    def stats(self) -> dict[str, Any]:
        """The report's engine fields: splits, tasks per worker, transfers, memory, logs."""
        return {
            "run_info": str(self.run_info) if self.run_info else None,
            "splits": self.splits,
            "tasks_per_worker": dict(self.tasks_per_worker),
            "bytes_transferred": self.bytes_transferred,
            "peak_memory_mb": dict(self.peak_memory_mb),
            **(self._engine_stats() if self.manager is not None else {}),
        }

    # engine hooks ---------------------------------------------------------------
    @abstractmethod
    def _create_manager(self) -> Any:
        """A new manager on ``self.port`` (raise ModuleNotFoundError with the install line)."""

    @abstractmethod
    def _set_password(self, path: str) -> None: ...

    @abstractmethod
    def _configure(self) -> None:
        """Categories, monitoring, tuning, libraries: everything before workers connect."""

    @abstractmethod
    def _connected(self) -> int:
        """Workers connected now."""

    @abstractmethod
    def _declare_function(self, path: Path) -> Any:
        """Declare the file at ``path`` as an input every worker caches for the whole run."""

    @abstractmethod
    def _build(self, task: Task, call: tuple, refs: list) -> tuple[Any, Any]:
        """An engine task running ``run(*call)`` with ``refs`` as merge inputs; and its output
        (a handle to the kept ``partial.pkl``, or None)."""

    @abstractmethod
    def _submit(self, et) -> int: ...

    @abstractmethod
    def _wait(self, timeout: int) -> Any:
        """A returned engine task, or None after ``timeout`` seconds."""

    @abstractmethod
    def _task_id(self, et) -> int: ...

    @abstractmethod
    def _finished_info(self, et) -> Finished: ...

    @abstractmethod
    def _ref(self, output, nbytes: int) -> Any:
        """A ref to a kept output."""

    @abstractmethod
    def _drop(self, output) -> None:
        """Forget the output of a task that failed."""

    @abstractmethod
    def _cancel_all(self) -> None: ...

    @abstractmethod
    def _free(self) -> None:
        """End the manager."""

    def _engine_stats(self) -> dict[str, Any]:
        return {}


def exceeded(et) -> str:
    """Which limits an engine task exceeded, e.g. "memory 612 > 500 MB"."""
    limits, measured = et.limits_exceeded, et.resources_measured
    parts = []
    for key, unit in (("cores", ""), ("memory", " MB"), ("disk", " MB"), ("wall_time", " s")):
        limit = getattr(limits, key, -1) if limits is not None else -1
        if limit is not None and limit > 0:
            used = getattr(measured, key, "?") if measured is not None else "?"
            parts.append(f"{key} {used} > {limit}{unit}")
    return ", ".join(parts)


def workers_lost(stats, fast_aborted: int) -> int:
    """Workers that went away without the manager asking: killed, crashed, cut off.

    The engines' own ``workers_lost`` counts only a loss seen while reading a worker's
    message; one seen while sending a task or fetching an output is removed as a failure
    but not counted. So: every removal but the ones the manager chose.
    """
    chosen = stats.workers_released + stats.workers_idled_out + fast_aborted
    return max(stats.workers_lost, stats.workers_removed - chosen)


def check_int(name: str, value: Any, low: int) -> None:
    """Raise ExecutorError unless ``value`` is an int >= ``low``."""
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
