"""coffea.processor's names and signatures over colframe: ``from colframe import processor``.

An analysis written against ``coffea.processor`` (coffea 2026.9) runs on
colframe by changing only that import. :class:`Runner` takes coffea's
arguments and call forms and runs colframe's native :class:`colframe.Runner`;
the executors (:mod:`colframe._coffea_executors`) take coffea's arguments and
build colframe's executors. The accumulator classes, ``Result``/``Ok``/``Err``
and the checkpointer classes are coffea's own, so ``isinstance`` checks in
user code keep working. ``accumulate`` is colframe's (coffea's rules).
See docs/migrating-from-coffea.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from coffea.processor.accumulator import (
    Accumulatable,
    AccumulatorABC,
    column_accumulator,
    defaultdict_accumulator,
    dict_accumulator,
    list_accumulator,
    set_accumulator,
    value_accumulator,
)
from coffea.processor.checkpointer import CheckpointerABC, SimpleCheckpointer
from coffea.processor.executor import Err, Ok, Result

from . import runner as _runner
from ._coffea_executors import (
    CoffeaExecutor,
    DaskExecutor,
    FuturesExecutor,
    IterativeExecutor,
    ParslExecutor,
    TaskVineExecutor,
    WorkQueueExecutor,
)
from ._work import DEFAULT_SCHEMA
from .accumulate import accumulate
from .errors import ChunkError, ExecutorError
from .executors._base import Executor
from .plan import WorkItem
from .processor_abc import ProcessorABC

__all__ = [
    "Accumulatable",
    "AccumulatorABC",
    "CheckpointerABC",
    "DaskExecutor",
    "Err",
    "FuturesExecutor",
    "IterativeExecutor",
    "Ok",
    "ParslExecutor",
    "ProcessorABC",
    "Result",
    "Runner",
    "SimpleCheckpointer",
    "TaskVineExecutor",
    "WorkItem",
    "WorkQueueExecutor",
    "accumulate",
    "column_accumulator",
    "defaultdict_accumulator",
    "dict_accumulator",
    "list_accumulator",
    "set_accumulator",
    "value_accumulator",
]

log = logging.getLogger(__name__)


class Runner:
    """coffea's ``processor.Runner`` (2026.9 arguments), running colframe's Runner.

    Differences a user can see: chunks are coffea's (``chunking="coffea"``);
    ``savemetrics=True`` returns coffea's metrics dict plus ``"report"``, the
    colframe :class:`~colframe.RunReport`; a failed chunk raises a ChunkError that
    is also an instance of the exception that ended the chunk; the default
    metadata cache is colframe's on-disk one (``metadata_cache=`` a mapping keeps
    coffea's in-memory behaviour); ``checkpointer=SimpleCheckpointer(dir)`` becomes
    colframe's ``checkpoint=dir``.
    """

    def __init__(
        self,
        executor: CoffeaExecutor | Executor,
        pre_executor: CoffeaExecutor | Executor | None = None,
        chunksize: int = 100_000,
        maxchunks: int | None = None,
        metadata_cache: MutableMapping | None = None,
        skipbadfiles: bool | tuple[type[BaseException], ...] = False,
        xrootdtimeout: int | None = 60,
        align_clusters: bool = False,
        savemetrics: bool = False,
        use_result_type: bool = False,
        schema: Any = DEFAULT_SCHEMA,
        processor_compression: int | None = 1,
        format: str = "root",
        checkpointer: CheckpointerABC | None = None,
        cachestrategy: Any = None,
    ) -> None:
        if use_result_type and skipbadfiles is False:
            msg = (
                "use_result_type=True requires skipbadfiles to be set (True or a tuple of "
                "exception types): the failures that become Err instead of being raised"
            )
            raise ValueError(msg)
        if cachestrategy is not None:
            msg = "cachestrategy is not supported by colframe: leave it None"
            raise ExecutorError(msg)
        if schema is None:
            msg = "schema must be a NanoEvents schema class (None was coffea 0.7's LazyDataFrame)"
            raise ValueError(msg)
        if pre_executor is not None:
            log.info("pre_executor: colframe preprocesses through the run's executor")
        if processor_compression is not None and processor_compression not in range(17):
            msg = f"processor_compression must be None or an lz4 level 0-16, not {processor_compression!r}"
            raise ValueError(msg)
        self.executor = executor
        self.use_result_type = use_result_type
        self.savemetrics = savemetrics
        self.format = format
        self.xrootdtimeout = xrootdtimeout
        self.skipbadfiles = skipbadfiles
        native = executor.native() if isinstance(executor, CoffeaExecutor) else executor
        fan_in = executor.fan_in if isinstance(executor, CoffeaExecutor) else None
        status = executor.options["status"] if isinstance(executor, CoffeaExecutor) else True
        self._runner = _runner.Runner(
            native,
            schema=schema,
            chunksize=chunksize,
            maxchunks=maxchunks,
            # with use_result_type coffea hands skipbadfiles' failures back as Err
            skipbadfiles=False if use_result_type else skipbadfiles,
            fan_in=fan_in or 20,
            savemetrics=True,
            status=bool(status),
            metadata_cache=metadata_cache,
            checkpoint=_checkpoint_dir(checkpointer),
            format=format,
            align_clusters=align_clusters,
            chunking="coffea",
        )
        self._skip = _runner._skip_types(skipbadfiles)

    def preprocess(
        self,
        fileset: Any,
        *,
        treename: str | None = None,
        uproot_options: dict | None = None,
        trace: Any = None,
        processor_instance: Any = None,
    ) -> Iterator[WorkItem]:
        """The chunks (WorkItems) of ``fileset``, preprocessed; pass them back to run them."""
        _no_trace(trace)
        options = self._uproot_options(uproot_options)
        return iter(self._runner.preprocess(fileset, treename, uproot_options=options))

    def __call__(
        self,
        fileset: Any,
        processor_instance: Any,
        *,
        treename: str | None = None,
        uproot_options: dict | None = None,
        iteritems_options: dict | None = None,
        trace: Any = None,
    ) -> Any:
        """Run ``processor_instance`` on ``fileset`` (coffea 2026.9's call form).

        Returns the output, ``(output, metrics)`` with ``savemetrics``, and
        ``Ok(...)``/``Err(exception)`` with ``use_result_type``.
        """
        return self.run(
            fileset,
            processor_instance,
            treename=treename,
            uproot_options=uproot_options,
            iteritems_options=iteritems_options,
            trace=trace,
        )

    def run(
        self,
        fileset: Any,
        processor_instance: Any,
        *,
        treename: str | None = None,
        uproot_options: dict | None = None,
        iteritems_options: dict | None = None,
        trace: Any = None,
    ) -> Any:
        """Same as calling the Runner (coffea's ``run`` returns the same value here)."""
        _no_trace(trace)
        try:
            out, report = self._runner(
                fileset,
                treename,
                processor_instance=processor_instance,
                uproot_options=self._uproot_options(uproot_options),
                iteritems_options=iteritems_options,
            )
        except ChunkError as err:
            if self.use_result_type and err.failure is not None and err.failure.matches(self._skip):
                return Err(err)
            raise
        if self.savemetrics:
            out = (out, _metrics(report))
        return Ok(out) if self.use_result_type else out

    def _uproot_options(self, given: dict | None) -> dict:
        options = dict(given or {})
        if self.format == "root" and self.xrootdtimeout is not None:
            options.setdefault("timeout", self.xrootdtimeout)
        return options


def _checkpoint_dir(checkpointer: Any) -> str | None:
    if checkpointer is None:
        return None
    directory = getattr(checkpointer, "checkpoint_dir", None)
    if isinstance(checkpointer, SimpleCheckpointer) and directory:
        return str(directory)
    msg = (
        f"colframe checkpoints chunks itself: pass SimpleCheckpointer(dir) or use "
        f"colframe.Runner(checkpoint=dir), not {type(checkpointer).__name__}"
    )
    raise ExecutorError(msg)


def _no_trace(trace: Any) -> None:
    if trace is not None:
        msg = (
            "trace= is not supported by colframe: NanoEvents read only the columns the "
            "processor touches (virtual arrays)"
        )
        raise ExecutorError(msg)


def _metrics(report: Any) -> dict[str, Any]:
    """coffea's metrics dict from colframe's report, with the report itself."""
    return {
        "bytesread": report.bytes_read,
        "columns": list(report.columns),
        "entries": report.events_processed,
        "processtime": report.cpu_seconds.get("chunks (workers)", 0.0),
        "chunks": report.chunks_ok,
        "report": report,
    }


def __dir__() -> list[str]:
    return __all__
