"""The Runner: fileset → plan → execute → merge → postprocess → output (+ report)."""

from __future__ import annotations

import copy
import functools
import logging
import os
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from ._work import DEFAULT_SCHEMA, ProcessChunk, process_function, schema_class
from .checkpoint import Checkpointed, CheckpointStore, processor_fingerprint
from .decompression import resolve_zlib_library
from .errors import ExecutorError, ProcessorError, RunInterrupted, chunk_error
from .executors._base import Executor, get_executor
from .fileset import Dataset, FileSpec, is_count, normalize_fileset
from .plan import (
    CHUNKINGS,
    FileMeta,
    Plan,
    WorkItem,
    check_chunksize,
    check_maxchunks,
    chunk_ranges,
    datasets_of,
    files_to_preprocess,
    plan_chunks,
)
from .preprocess import FORMATS, MappingCache, MetadataCache, check_protocols, fetch_metadata
from .progress import make_progress
from .report import ChunkCounts, RunReport
from .results import ChunkFailure, Err
from .schedule import file_metadata, run_chunks

__all__ = ["Runner", "check_processor"]

log = logging.getLogger(__name__)


class Runner:
    """Run a processor over a fileset through an executor.

    Args:
        executor: an :class:`~colframe.executors.Executor`, or a registered name
            ("iterative", "futures", ...). Default: IterativeExecutor. The Runner
            never changes an executor it is given (``retries`` applies to a copy).
        executor_options: keyword arguments for the executor named by ``executor``
            (``Runner(executor="futures", executor_options={"workers": 4})``).
        schema: NanoEvents schema class (default ``NanoAODSchema``).
        chunksize: target entries per chunk (chunks of a file are near-equal).
        maxchunks: at most this many chunks per dataset (for quick tests).
        skipbadfiles: False, True (= ``(OSError,)``) or a tuple of exception types;
            chunks failing with one of them (anywhere in the cause chain) are
            skipped and reported instead of stopping the run.
        retries: overrides the executor's number of extra attempts per task.
        fan_in: how many partial outputs one merge task adds together.
        savemetrics: return ``(output, report)`` instead of ``output``.
        status: draw progress bars.
        metadata_cache: directory of the on-disk preprocessing cache; None for the
            default (``~/.cache/colframe``), False to disable caching; or a mutable
            mapping (e.g. ``cachetools.LRUCache``) to keep the metadata in.
        uproot_options: extra keyword arguments for ``uproot.open``.
        format: ``"root"`` (TTree or RNTuple) or ``"parquet"`` (NanoAOD as parquet,
            read with pyarrow; same chunking, caching, checkpoints and report).
        align_clusters: start chunks on the files' cluster boundaries (ROOT only).
        chunking: ``"even"`` (chunks of a file differ by at most one entry) or
            ``"coffea"`` (coffea's boundaries, a shorter last chunk).
        zlib_library: what inflates ZLIB baskets while a chunk is processed: ``"auto"``
            (ISA-L when the isal package imports, else the standard library), ``"isal"``
            or ``"zlib"``. Lossless either way; see :mod:`colframe.decompression`.
        checkpoint: a directory (local path or fsspec URL, reachable from every
            worker) where each finished chunk's output is saved; a rerun with the
            same directory loads those chunks instead of computing them again.

    ``chunksize``, ``maxchunks``, ``fan_in``, ``retries`` and ``skipbadfiles`` are
    checked here, before any file is opened (FilesetError / ExecutorError).
    """

    def __init__(
        self,
        executor: Executor | str | None = None,
        *,
        executor_options: dict[str, Any] | None = None,
        schema: Any = DEFAULT_SCHEMA,
        chunksize: int = 100_000,
        maxchunks: int | None = None,
        skipbadfiles: bool | tuple[type[BaseException], ...] = False,
        retries: int | None = None,
        fan_in: int = 20,
        savemetrics: bool = False,
        status: bool = True,
        metadata_cache: Any = None,
        uproot_options: dict[str, Any] | None = None,
        checkpoint: str | os.PathLike | None = None,
        zlib_library: str = "auto",
        format: str = "root",
        align_clusters: bool = False,
        chunking: str = "even",
    ) -> None:
        if format not in FORMATS:
            msg = f"format must be one of {FORMATS}, not {format!r}"
            raise ExecutorError(msg)
        if format == "parquet" and align_clusters:
            msg = "align_clusters is only supported for ROOT input, not format='parquet'"
            raise ExecutorError(msg)
        if format == "parquet" and uproot_options:
            msg = "uproot_options have no effect with format='parquet': leave them out"
            raise ExecutorError(msg)
        if chunking not in CHUNKINGS:
            msg = f"chunking must be one of {CHUNKINGS}, not {chunking!r}"
            raise ExecutorError(msg)
        self.format, self.align_clusters, self.chunking = format, bool(align_clusters), chunking
        self.chunksize = check_chunksize(chunksize)
        self.maxchunks = check_maxchunks(maxchunks)
        if not is_count(fan_in, 2):
            msg = f"fan_in must be an integer >= 2, got {fan_in!r}"
            raise ExecutorError(msg)
        self.fan_in = int(fan_in)
        if retries is not None and not is_count(retries):
            msg = f"retries must be an integer >= 0 or None, got {retries!r}"
            raise ExecutorError(msg)
        self.retries = None if retries is None else int(retries)
        self.skip = _skip_types(skipbadfiles)
        self.executor = _executor(executor, executor_options)
        if self.retries is not None and not isinstance(executor, Executor):
            self.executor.retries = self.retries  # the Runner built it: its own to set
        self.schema = schema_class(schema)
        self.savemetrics = savemetrics
        self.status = status
        self.cache: MetadataCache | MappingCache | None
        if metadata_cache is False:
            self.cache = None
        elif isinstance(metadata_cache, MutableMapping):
            self.cache = MappingCache(metadata_cache)
        else:
            self.cache = MetadataCache(metadata_cache)
        self.uproot_options = dict(uproot_options or {})
        self.zlib_library = resolve_zlib_library(zlib_library)
        self.checkpoint = None if checkpoint is None else CheckpointStore(checkpoint)

    def __call__(
        self,
        fileset: Any,
        treename: str | None = None,
        processor_instance: Any = None,
        *,
        uproot_options: dict[str, Any] | None = None,
        iteritems_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``processor_instance`` on ``fileset``.

        Both the coffea 0.7 form ``runner(fileset, "Events", processor_instance=p)``
        and ``runner(fileset, processor_instance=p, treename="Events")`` work.
        ``fileset`` may also be the chunks :meth:`preprocess` returned: they are
        processed as they are, without preprocessing again. ``uproot_options``
        (for this call, over the Runner's) go to ``uproot.open``,
        ``iteritems_options`` to NanoEvents (e.g. ``filter_name``).
        Returns the merged output (after ``postprocess``), or ``(output, report)``
        with ``savemetrics=True``. Raises ChunkError (also an instance of the
        failed chunk's exception type) when a chunk fails and ``skipbadfiles``
        does not cover it.
        """
        if kwargs:
            msg = f"unexpected keyword argument(s) {sorted(kwargs)}"
            raise TypeError(msg)
        check_processor(processor_instance, "processor_instance")
        uproot_options = {**self.uproot_options, **(uproot_options or {})}
        if self.format == "parquet" and (uproot_options or iteritems_options):
            msg = "uproot_options and iteritems_options have no effect with format='parquet'"
            raise ExecutorError(msg)
        planned = _planned_chunks(fileset)
        datasets = normalize_fileset(fileset, treename) if planned is None else datasets_of(planned)
        executor = self._run_executor()
        report = RunReport(
            executor=repr(executor),
            checkpoint=self.checkpoint.url if self.checkpoint else None,
            datasets=datasets,
            zlib_library=self.zlib_library,
        )
        with make_progress(self.status) as progress, executor:
            try:
                if planned is None:
                    items = self._chunks(executor, datasets, report, progress, uproot_options)
                else:
                    items = self._given_chunks(Plan.of(planned), report)
            except KeyboardInterrupt as interrupt:  # leaving `with executor` cancels its tasks
                msg = "interrupted while preprocessing: no chunk was processed"
                raise RunInterrupted(msg, report) from interrupt
            chunk = ProcessChunk(
                processor_instance,
                self.schema,
                uproot_options,
                self.zlib_library,
                self.format,
                dict(iteritems_options or {}),
            )
            out = self._process(executor, items, chunk, report, progress)
        tic = time.perf_counter()
        postprocess = getattr(processor_instance, "postprocess", None)
        if out is not None and callable(postprocess):
            replaced = postprocess(out)
            out = replaced if replaced is not None else out
        report.wall_seconds["postprocess"] = time.perf_counter() - tic
        return (out, report) if self.savemetrics else out

    def plan(
        self,
        fileset: Any,
        treename: str | None = None,
        *,
        uproot_options: dict[str, Any] | None = None,
    ) -> tuple[list[WorkItem], RunReport]:
        """The chunks a call on ``fileset`` would process, preprocessed as a call does; no processing.

        Returns ``(work_items, report)``, the report holding the datasets, file counts
        and skipped files. :func:`colframe.dask_awkward.apply_to_fileset` builds its
        partitions from these chunks. Raises ChunkError for an unreadable file that
        ``skipbadfiles`` does not cover.
        """
        datasets = normalize_fileset(fileset, treename)
        executor = self._run_executor()
        report = RunReport(executor=repr(executor), datasets=datasets)
        with make_progress(self.status) as progress, executor:
            options = {**self.uproot_options, **(uproot_options or {})}
            return list(self._chunks(executor, datasets, report, progress, options)), report

    def preprocess(
        self,
        fileset: Any,
        treename: str | None = None,
        *,
        uproot_options: dict[str, Any] | None = None,
    ) -> list[WorkItem]:
        """The chunks (WorkItems) a call on ``fileset`` would process; no processing.

        For users who split preprocessing from processing (coffea's
        ``Runner.preprocess``): pass the list back as the fileset of a call.
        Raises ChunkError for an unreadable file that ``skipbadfiles`` does not cover.
        """
        return self.plan(fileset, treename, uproot_options=uproot_options)[0]

    def _run_executor(self) -> Executor:
        """The executor of this run: the caller's, or a copy when ``retries`` overrides its own.

        Copied at each call (not at construction), so a copy made inside the
        caller's ``with executor:`` shares the pool the caller started.
        """
        if self.retries is None or self.retries == self.executor.retries:
            return self.executor
        executor = copy.copy(self.executor)
        executor.retries = self.retries
        return executor

    # phases -----------------------------------------------------------------
    def _chunks(
        self, executor: Executor, datasets: list[Dataset], report, progress, uproot_options
    ) -> Plan:
        """Preprocess the files and cut ``datasets`` into chunks (shared by __call__ and plan).

        With ``maxchunks`` only the files needed are opened: the first
        ``maxchunks`` of each dataset, then, for a dataset whose files were
        skipped as bad, the next ones until it has its chunks or no files left.
        """
        specs = files_to_preprocess(datasets, self.maxchunks)
        if "handler" not in uproot_options:  # uproot reads URLs through fsspec
            check_protocols(specs)
        metas: dict[FileSpec, FileMeta] = {}
        tried: set[FileSpec] = set()
        while specs:
            metas.update(self._preprocess(executor, specs, report, progress, uproot_options))
            tried.update(specs)
            specs = self._more_files(datasets, metas, tried)
        items = plan_chunks(datasets, metas, self.chunksize, self.maxchunks, self.chunking)
        return self._given_chunks(items, report)

    def _more_files(
        self, datasets: list[Dataset], metas: dict[FileSpec, FileMeta], tried: set[FileSpec]
    ) -> list[FileSpec]:
        """Files still to open so that each dataset reaches ``maxchunks`` (bad ones skipped)."""
        if self.maxchunks is None:
            return []
        more: dict[FileSpec, None] = {}
        for dataset in datasets:
            chunks = sum(
                len(chunk_ranges(m.numentries, self.chunksize, self.chunking, m.clusters))
                for m in (metas.get(spec) for spec in dataset.files)
                if m is not None
            )
            untried = [spec for spec in dataset.files if spec not in tried and spec not in more]
            more.update(dict.fromkeys(untried[: max(self.maxchunks - chunks, 0)]))
        return list(more)

    def _given_chunks(self, items: Plan, report: RunReport) -> Plan:
        report.chunks = ChunkCounts(total=len(items), events=items.events)
        report.uuids = items.uuids()
        return items

    def _preprocess(
        self, executor: Executor, specs: list[FileSpec], report: RunReport, progress, uproot_options
    ) -> dict:
        tic, cpu = time.perf_counter(), time.process_time()
        report.files.total += len(specs)
        metas: dict[FileSpec, FileMeta] = {}
        fetch = functools.partial(
            fetch_metadata,
            uproot_options=uproot_options or None,
            align_clusters=self.align_clusters,
            format=self.format,
        )
        for spec, result, from_cache in file_metadata(
            executor, specs, self.cache, progress, fetch, clusters=self.align_clusters
        ):
            if isinstance(result, Err):
                self._bad_file(result.failure, report)
                continue
            metas[spec] = result.value
            report.files.from_cache += from_cache
        seconds = report.wall_seconds
        seconds["preprocess"] = seconds.get("preprocess", 0.0) + time.perf_counter() - tic
        cpu_seconds = report.cpu_seconds
        cpu_seconds["preprocess (driver)"] = (
            cpu_seconds.get("preprocess (driver)", 0.0) + time.process_time() - cpu
        )
        return metas

    def _bad_file(self, failure: ChunkFailure, report: RunReport) -> None:
        if failure.matches(self.skip):
            report.files.skipped += 1
            report.skip(failure)
            return
        report.failures.append(failure)
        if not self.skip and failure.matches((OSError,)):
            hint = "pass skipbadfiles=True to skip unreadable files and list them in the report"
        elif not self.skip:
            name = failure.exc_types[0].__name__ if failure.exc_types else failure.exc_type
            hint = f"pass skipbadfiles=({name},) to skip such files and list them in the report"
        else:
            names = ", ".join(t.__name__ for t in self.skip)
            hint = f"skipbadfiles skips {names}; this {failure.exc_type} is not one of them"
        msg = f"cannot read {failure.where()}: {failure.exc_type}: {failure.message}\n({hint})"
        raise chunk_error(msg, failure, report)

    def _process(
        self, executor: Executor, items: Plan, chunk: ProcessChunk, report: RunReport, progress
    ) -> Any:
        cpu = time.process_time()
        store = self.checkpoint
        work = chunk if store is None else self._checkpointed(store, chunk, items, report)
        try:
            outcome = run_chunks(
                executor,
                work,
                items,
                fan_in=self.fan_in,
                skip=self.skip,
                progress=progress,
                tracebacks=report.tracebacks,
            )
        finally:
            chunk.close()  # files it opened in this process (in-process executors)
        report.chunks = outcome.chunks
        report.skipped.extend(outcome.skipped)  # tracebacks budgeted by report.tracebacks
        report.failures.extend(outcome.failed)
        report.wall_seconds.update(outcome.wall_seconds)
        report.executor_stats = executor.stats()
        if outcome.interrupted:
            self._interrupted(items, outcome.done, report)
        if outcome.failed:
            failure = outcome.failed[0]
            hint = _hint(failure)
            msg = (
                f"{failure.kind} failed after {failure.attempts} attempt(s): {failure.where()}\n"
                f"cause: {failure.exc_type}: {failure.message}{hint}"
            )
            raise chunk_error(msg, failure, report)
        report.cpu_seconds["driver"] = time.process_time() - cpu
        partial = outcome.final
        if partial is None:
            return None
        report.coverage = items.coverage(outcome.done)
        report.work = partial.totals()
        report.cpu_seconds["chunks (workers)"] = partial.cputime
        return partial.out

    def _interrupted(self, items: Plan, done: bytearray, report: RunReport) -> None:
        """Ctrl-C while chunks ran: raise RunInterrupted with what finished."""
        report.coverage = items.coverage(done)
        saved = (
            f"; they are saved in the checkpoint {self.checkpoint.url}: run again with it to "
            "continue from there"
            if self.checkpoint
            else "; pass checkpoint=DIR to keep finished chunks across runs"
        )
        msg = (
            f"interrupted: {report.chunks_ok} of {report.chunks_total} chunks were processed"
            f"{saved}"
        )
        raise RunInterrupted(msg, report)

    def _checkpointed(
        self, store: CheckpointStore, work: ProcessChunk, items, report: RunReport
    ) -> Checkpointed:
        store.prepare()
        fingerprint = processor_fingerprint(work.processor, self.schema)
        found, report.checkpoints_stale = store.scan(items, fingerprint)
        log.info(
            "checkpoint %s: %d of %d chunks saved by an earlier run", store.url, found, len(items)
        )
        if report.checkpoints_stale:
            log.warning(
                "checkpoint %s: %d checkpoints ignored because the processor changed since they "
                "were written (its code, parameters or schema); those chunks are computed again",
                store.url,
                report.checkpoints_stale,
            )
        return Checkpointed(work, store, fingerprint)


def _planned_chunks(fileset: Any) -> list[WorkItem] | None:
    """The chunks when ``fileset`` is already planned (WorkItems, a generator of them), else None."""
    if isinstance(fileset, Mapping | str | os.PathLike) or not hasattr(fileset, "__iter__"):
        return None
    items = list(fileset)
    return items if items and all(isinstance(item, WorkItem) for item in items) else None


def _executor(executor: Any, options: dict[str, Any] | None) -> Executor:
    """The executor given, or the one named (with ``options``); ExecutorError otherwise."""
    if options is not None and not isinstance(options, dict):
        msg = f"executor_options must be a dict of keyword arguments, not {options!r}"
        raise ExecutorError(msg)
    if isinstance(executor, Executor):
        if options:
            msg = (
                f"executor_options apply to an executor given by name "
                f"(executor='futures', executor_options={{...}}), not to {executor!r}"
            )
            raise ExecutorError(msg)
        return executor
    if executor is None:
        executor = "iterative"
    if not isinstance(executor, str):
        msg = f"executor must be a colframe Executor or a name, not {executor!r}"
        raise ExecutorError(msg)
    try:
        return get_executor(executor, **(options or {}))
    except TypeError as err:  # an option the executor's constructor does not take
        msg = f"executor {executor!r} does not take the options {sorted(options or {})}: {err}"
        raise ExecutorError(msg) from None


def check_processor(processor: Any, name: str = "processor") -> None:
    """Raise ProcessorError unless ``processor`` has ``process(events)`` or is callable.

    A processor *class* (not an instance) is refused too: its ``process`` would be
    called without ``self``.
    """
    if processor is None:
        msg = f"{name} is None; pass a processor instance, e.g. {name}=MyProcessor()"
        raise ProcessorError(msg)
    if isinstance(processor, type) and callable(getattr(processor, "process", None)):
        msg = (
            f"{name} is the class {processor.__qualname__}, not an instance of it; "
            f"pass {processor.__qualname__}()"
        )
        raise ProcessorError(msg)
    try:
        process_function(processor, name)
    except TypeError as err:
        raise ProcessorError(str(err)) from None


def _skip_types(skipbadfiles: Any) -> tuple[type[BaseException], ...]:
    if skipbadfiles is True:
        return (OSError,)
    if skipbadfiles is False or skipbadfiles is None:
        return ()
    if isinstance(skipbadfiles, type) and issubclass(skipbadfiles, BaseException):
        return (skipbadfiles,)
    if isinstance(skipbadfiles, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in skipbadfiles
    ):
        return skipbadfiles
    msg = f"skipbadfiles must be a bool or a tuple of exception types, not {skipbadfiles!r}"
    raise ExecutorError(msg)


def _hint(failure: ChunkFailure) -> str:
    if failure.kind == "merge":
        return "\nhint: every chunk's output must have the same structure so outputs can be added"
    if failure.exc_type == "AttributeError" and "no field named" in failure.message:
        return (
            "\nhint: the processor reads a branch this file's tree does not have; list the "
            "branches with uproot.open(path)[treename].keys(), or test `name in collection.fields`"
        )
    if failure.matches((OSError,)):
        return "\nhint: skipbadfiles=True skips unreadable files and lists them in the report"
    return "\nhint: run this chunk alone with IterativeExecutor to debug it; full traceback in .failure.traceback"
