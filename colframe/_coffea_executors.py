"""coffea's executor classes, with coffea 2026.9's arguments, over colframe's executors.

Each class takes exactly coffea's keyword arguments (an unknown one is a
TypeError naming the closest known one) and builds the colframe executor that
does the work (:meth:`CoffeaExecutor.native`). Arguments colframe has no use
for are accepted and logged once; arguments that would change what the run
computes and that colframe cannot honour are refused with the alternative.
See docs/migrating-from-coffea.md for the table.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from typing import Any, ClassVar

from .errors import ExecutorError
from .executors import FuturesExecutor as _Futures
from .executors import IterativeExecutor as _Iterative
from .executors._base import Executor

__all__ = [
    "CoffeaExecutor",
    "DaskExecutor",
    "FuturesExecutor",
    "IterativeExecutor",
    "ParslExecutor",
    "TaskVineExecutor",
    "WorkQueueExecutor",
]

log = logging.getLogger("colframe.processor")

# ExecutorBase's fields, shared by every coffea executor
_BASE = {"status": True, "unit": "items", "desc": "Processing", "compression": 1,
         "function_name": None}  # fmt: skip


class CoffeaExecutor:
    """An executor configured with coffea's arguments; :meth:`native` is colframe's.

    ``defaults`` lists coffea's arguments and defaults; ``inert`` those colframe
    accepts without effect (with why); ``refused`` those it cannot honour (with
    what to do), refused only when given a value other than their default.
    """

    defaults: ClassVar[dict[str, Any]] = {}
    inert: ClassVar[dict[str, str]] = {}
    refused: ClassVar[dict[str, str]] = {}

    def __init__(self, **kwargs: Any) -> None:
        known = {**_BASE, **self.defaults}
        for name in kwargs:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                msg = (
                    f"{type(self).__name__}() got an unexpected keyword argument {name!r}{hint} "
                    f"(coffea's arguments: {', '.join(sorted(known))})"
                )
                raise TypeError(msg)
        self.options = {**known, **kwargs}
        for name, value in self.options.items():
            setattr(self, name, value)
        for name, why in self.refused.items():
            if name in kwargs and kwargs[name] != known[name]:
                msg = f"{type(self).__name__}({name}=...) is not supported by colframe: {why}"
                raise ExecutorError(msg)
        for name, why in self.inert.items():
            if name in kwargs and kwargs[name] != known[name]:
                log.info("%s(%s=...) has no effect in colframe: %s", type(self).__name__, name, why)
        if kwargs.get("tailtimeout") is not None:
            warnings.warn(
                "tailtimeout is deprecated and has no effect (as in coffea)",
                DeprecationWarning,
                stacklevel=3,
            )
        self._native: Executor | None = None

    def copy(self, **changes: Any) -> CoffeaExecutor:
        """A copy with ``changes`` (coffea's ``ExecutorBase.copy``); warns nothing twice."""
        given = {k: v for k, v in self.options.items() if k != "tailtimeout"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return type(self)(**{**given, **changes})

    @property
    def fan_in(self) -> int | None:
        """The merge tree's fan-in this executor asks for (coffea's ``treereduction``)."""
        value = self.options.get("treereduction")
        return int(value) if value is not None and value >= 2 else None

    def native(self) -> Executor:
        """colframe's executor for these arguments (built once, reused by every run)."""
        if self._native is None:
            self._native = self._build()
        return self._native

    def _build(self) -> Executor:
        raise NotImplementedError

    def __call__(self, items, function, accumulator):
        """coffea's executor call: ``function`` on every item, accumulated into ``accumulator``.

        Returns ``(accumulator, 0)``, as coffea does when nothing failed; a failure
        is raised (a ChunkError-like exception naming the item and cause).
        """
        from .accumulate import accumulate
        from .errors import chunk_error
        from .results import Err

        outputs: list[Any] = []
        with self.native() as executor:
            for _, result in executor.submit_all(function, list(items), kind="process"):
                if isinstance(result, Err):
                    fail = result.failure
                    msg = f"{fail.kind} failed: {fail.where()}: {fail.exc_type}: {fail.message}"
                    raise chunk_error(msg, fail)
                outputs.append(result.value)
        return accumulate(outputs, accumulator), 0

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if k not in _BASE)
        return f"{type(self).__name__}({given})"


class IterativeExecutor(CoffeaExecutor):
    """coffea's IterativeExecutor: runs in this process (colframe's IterativeExecutor)."""

    defaults: ClassVar[dict[str, Any]] = {"workers": 1, "retries": 3}
    inert: ClassVar[dict[str, str]] = {
        "workers": "the iterative executor runs one chunk at a time (as in coffea)",
        "compression": "outputs stay in memory; nothing is compressed",
    }

    def _build(self) -> Executor:
        return _Iterative(retries=self.options["retries"])


class FuturesExecutor(CoffeaExecutor):
    """coffea's FuturesExecutor: local worker processes (colframe's FuturesExecutor).

    Merging always happens in the worker processes, along colframe's merge tree;
    ``merging`` and ``mergepool`` therefore need no pool of their own.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "pool": None,
        "mergepool": None,
        "recoverable": False,
        "merging": False,
        "workers": 1,
        "tailtimeout": None,
        "retries": 3,
    }
    inert: ClassVar[dict[str, str]] = {
        "pool": "colframe runs its own worker processes (workers=N sets how many)",
        "mergepool": "merges run in the worker processes, along the merge tree",
        "merging": "merges always run in the worker processes, along the merge tree",
        "compression": "partial outputs are always lz4-compressed on their way to merges",
        "recoverable": "a failed run raises ChunkError carrying the report (.report); "
        "re-run what failed with report.failed_fileset()",
    }

    def _build(self) -> Executor:
        return _Futures(workers=self.options["workers"], retries=self.options["retries"])


class DaskExecutor(CoffeaExecutor):
    """coffea's DaskExecutor: a ``distributed`` client (colframe's DaskExecutor)."""

    defaults: ClassVar[dict[str, Any]] = {
        "client": None,
        "treereduction": 20,
        "priority": 0,
        "retries": 3,
        "heavy_input": None,
        "use_dataframes": False,
        "worker_affinity": False,
    }
    inert: ClassVar[dict[str, str]] = {
        "priority": "colframe submits chunks in plan order",
        "heavy_input": "the processor is shipped to each worker once, as a worker plugin",
        "worker_affinity": "dask places tasks; merges run where their inputs are",
        "compression": "dask moves partial outputs itself",
    }
    refused: ClassVar[dict[str, str]] = {
        "use_dataframes": "colframe returns merged outputs, not a dask DataFrame",
    }

    def _build(self) -> Executor:
        from .executors.dask import DaskExecutor as _Dask

        return _Dask(client=self.options["client"], retries=self.options["retries"])


class ParslExecutor(CoffeaExecutor):
    """coffea's ParslExecutor: not available in colframe (refused with the alternatives)."""

    def __init__(self, **kwargs: Any) -> None:
        msg = (
            "colframe has no Parsl executor: use DaskExecutor (with dask-jobqueue for "
            "batch systems) or TaskVineExecutor with workers from your batch system"
        )
        raise ExecutorError(msg)


# coffea's resources_mode names -> colframe's allocation modes
_RESOURCES_MODES = {
    "fixed": "fixed",
    "max": "max",
    "max-seen": "max",
    "auto": "max",
    "max-throughput": "max throughput",
    "max throughput": "max throughput",
    "min waste": "min waste",
}


class TaskVineExecutor(CoffeaExecutor):
    """coffea's TaskVineExecutor: a TaskVine manager on ``port`` (colframe's TaskVineExecutor).

    Workers come from elsewhere, as in coffea (``vine_factory``, a local
    ``ndcctools.taskvine.Factory``, a batch system): no local workers are
    started. Chunks run serverless (function calls into a library); a
    ``resources_mode`` other than "fixed" or a ``resource_monitor`` needs
    monitoring, which serverless libraries cannot run under, so the executor then
    runs in task mode, and says so once.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "port": 9123,
        "manager_name": None,
        "status_display_interval": 5,
        "ssl": False,
        "filepath": "/tmp",
        "extra_input_files": None,
        "x509_proxy": None,
        "environment_file": None,
        "verbose": False,
        "print_stdout": False,
        "password_file": None,
        "treereduction": 20,
        "cores": 1,
        "memory": None,
        "disk": None,
        "gpus": None,
        "replicas": 1,
        "disable_worker_transfers": False,
        "resource_monitor": "off",
        "resources_mode": "fixed",
        "fast_terminate_workers": None,
        "retries": 3,
        "split_on_exhaustion": True,
        "checkpoint_proportion": 0.1,
        "concurrent_reads": 2,
        "custom_init": None,
    }
    inert: ClassVar[dict[str, str]] = {
        "status_display_interval": "colframe's progress display updates continuously",
        "verbose": "TaskVine's logs are in the run-info directory named by the report",
        "print_stdout": "a failed task's output is in its failure record",
        "disable_worker_transfers": "partial outputs always move worker to worker",
        "checkpoint_proportion": "only the final merge comes back to the manager",
        "concurrent_reads": "a merge reads its inputs one at a time (bounded memory)",
        "fast_terminate_workers": "not available in cctools 7.17.1",
        "compression": "partial outputs are always lz4-compressed",
    }
    refused: ClassVar[dict[str, str]] = {
        "extra_input_files": "put the files in the environment tarball (environment_file=)",
        "x509_proxy": "set X509_USER_PROXY in the workers' environment",
        "gpus": "colframe's task categories declare cores, memory and disk only",
        "custom_init": "start workers with the environment they need",
    }

    def _build(self) -> Executor:
        from .executors.taskvine import TaskVineExecutor as _Vine

        o = self.options
        mode = _resources_mode(o["resources_mode"])
        tasks = mode != "fixed" or o["resource_monitor"] not in ("off", None, False)
        if tasks:
            log.warning(
                "TaskVineExecutor: resources_mode=%r / resource_monitor=%r need resource "
                "monitoring, which TaskVine serverless libraries cannot run under: running "
                "one task per chunk (task mode) instead",
                o["resources_mode"],
                o["resource_monitor"],
            )
        resources = {
            category: {
                key: value
                for key, value in (("cores", o["cores"]), ("memory", o["memory"]), ("disk", o["disk"]))
                if value is not None
            }
            for category in ("preprocessing", "processing", "accumulating")
        }
        return _Vine(
            0,  # workers come from elsewhere, as in coffea
            mode="tasks" if tasks else "serverless",
            port=o["port"],
            manager_name=o["manager_name"],
            password=o["password_file"],
            ssl=o["ssl"] or None,
            retries=o["retries"],
            replicas=o["replicas"],
            resources=resources,
            resources_mode=mode,
            split_on_exhaustion=o["split_on_exhaustion"],
            environment=o["environment_file"],
            run_info_dir=None if o["filepath"] in (None, "/tmp") else o["filepath"],
        )


class WorkQueueExecutor(CoffeaExecutor):
    """coffea 0.7's WorkQueueExecutor (its ``executor_args``), on colframe's WorkQueueExecutor.

    coffea 2026 has no Work Queue executor; this keeps a coffea 0.7 (TopEFT)
    configuration working through ``colframe.processor``, translated as the table in
    docs/workqueue.md says. Workers come from elsewhere (``work_queue_factory``).
    """

    defaults: ClassVar[dict[str, Any]] = {
        "retries": 2,
        "manager_name": None,
        "master_name": None,
        "port": None,
        "filepath": ".",
        "events_total": None,
        "x509_proxy": None,
        "verbose": False,
        "print_stdout": False,
        "status_display_interval": 10,
        "password_file": None,
        "ssl": False,
        "debug_log": None,
        "stats_log": None,
        "transactions_log": None,
        "tasks_accum_log": None,
        "environment_file": None,
        "extra_input_files": [],
        "wrapper": None,
        "resource_monitor": "off",
        "resources_mode": "max-seen",
        "split_on_exhaustion": True,
        "fast_terminate_workers": None,
        "cores": None,
        "memory": None,
        "disk": None,
        "gpus": None,
        "treereduction": 20,
        "chunksize": 100_000,
        "dynamic_chunksize": None,
        "custom_init": None,
        "bar_format": None,
        "chunks_accum_in_mem": None,
        "chunks_per_accum": None,
    }
    inert: ClassVar[dict[str, str]] = {
        "filepath": "logs go to the run-info directory named by the report",
        "events_total": "the Runner counts the events it planned",
        "verbose": "logs are in the run-info directory",
        "print_stdout": "a failed task's output is in its failure record",
        "status_display_interval": "colframe's progress display updates continuously",
        "debug_log": "logs are in the run-info directory",
        "stats_log": "logs are in the run-info directory",
        "transactions_log": "logs are in the run-info directory",
        "tasks_accum_log": "logs are in the run-info directory",
        "wrapper": "start workers inside the environment instead",
        "extra_input_files": "local workers get the driver's sys.path; remote workers need the "
        "files installed or in their environment",
        "chunksize": "give chunksize= to the Runner",
        "bar_format": "colframe draws its own progress",
        "chunks_accum_in_mem": "the merge tree's fan-in is treereduction",
        "chunks_per_accum": "the merge tree's fan-in is treereduction",
        "compression": "partial outputs are always lz4-compressed",
    }
    refused: ClassVar[dict[str, str]] = {
        "x509_proxy": "set X509_USER_PROXY in the workers' environment",
        "gpus": "colframe's task categories declare cores, memory and disk only",
        "fast_terminate_workers": "not supported",
        "custom_init": "start workers with the environment they need",
        "dynamic_chunksize": "not offered (it was inert in coffea 0.7.31)",
    }

    def _build(self) -> Executor:
        from .executors.workqueue import WorkQueueExecutor as _WorkQueue

        o = self.options
        mode = _resources_mode(o["resources_mode"])
        name = o["manager_name"] or o["master_name"]
        port = o["port"] if o["port"] is not None else (0 if name else 9123)
        wanted = (("cores", o["cores"]), ("memory", o["memory"]), ("disk", o["disk"]))
        processing = {key: value for key, value in wanted if value is not None}
        return _WorkQueue(
            0,  # workers come from elsewhere, as in coffea
            resource_monitor=o["resource_monitor"] not in ("off", None, False),
            port=port,
            manager_name=name,
            password=o["password_file"],
            ssl=o["ssl"] or None,
            retries=o["retries"],
            resources={"processing": processing} if processing else None,
            resources_mode=mode,
            split_on_exhaustion=o["split_on_exhaustion"],
            environment=o["environment_file"],
        )


def _resources_mode(name: str) -> str:
    """colframe's allocation mode for coffea's ``resources_mode``; ExecutorError otherwise."""
    mode = _RESOURCES_MODES.get(name)
    if mode is None:
        msg = f"resources_mode must be one of {sorted(_RESOURCES_MODES)}, not {name!r}"
        raise ExecutorError(msg)
    return mode
