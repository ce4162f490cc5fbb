"""The Runner: fileset → plan → execute → merge → postprocess → output (+ report)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ._work import DEFAULT_SCHEMA, ProcessChunk, process_function, schema_class
from .checkpoint import Checkpointed, CheckpointStore, processor_fingerprint
from .decompression import resolve_zlib_library
from .errors import ChunkError, ExecutorError
from .executors._base import Executor, get_executor
from .results import Err
from .executors.iterative import IterativeExecutor
from .fileset import Dataset, FileSpec, is_count, normalize_fileset
from .plan import FileMeta, WorkItem, files_to_preprocess, make_work_items
from .preprocess import MetadataCache
from .progress import make_progress
from .report import RunReport
from .results import ChunkFailure
from .rerun import coverage
from .schedule import file_metadata, run_chunks

__all__ = ["Runner"]

log = logging.getLogger(__name__)


class Runner:
    """Run a processor over a fileset through an executor.

    Args:
        executor: an :class:`~colframe.executors.Executor`, or a registered name
            ("iterative", "futures", ...). Default: IterativeExecutor.
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
            default (``~/.cache/colframe``), False to disable caching.
        uproot_options: extra keyword arguments for ``uproot.open``.
        zlib_library: what inflates ZLIB baskets while a chunk is processed: ``"auto"``
            (ISA-L when the isal package imports, else the standard library), ``"isal"``
            or ``"zlib"``. Lossless either way; see :mod:`colframe.decompression`.
        checkpoint: a directory (local path or fsspec URL, reachable from every
            worker) where each finished chunk's output is saved; a rerun with the
            same directory loads those chunks instead of computing them again.
    """

    def __init__(
        self,
        executor: Executor | str | None = None,
        *,
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
    ) -> None:
        if isinstance(executor, str):
            executor = get_executor(executor)
        self.executor = executor if executor is not None else IterativeExecutor()
        if not isinstance(self.executor, Executor):
            msg = f"executor must be a colframe Executor or a name, not {executor!r}"
            raise ExecutorError(msg)
        if retries is not None:
            self.executor.retries = retries
        self.schema = schema_class(schema)
        self.chunksize = chunksize
        self.maxchunks = maxchunks
        self.skip = _skip_types(skipbadfiles)
        if not is_count(fan_in, 2):
            msg = f"fan_in must be an integer >= 2, got {fan_in!r}"
            raise ExecutorError(msg)
        self.fan_in = fan_in
        self.savemetrics = savemetrics
        self.status = status
        self.cache = None if metadata_cache is False else MetadataCache(metadata_cache)
        self.uproot_options = dict(uproot_options or {})
        self.zlib_library = resolve_zlib_library(zlib_library)
        self.checkpoint = None if checkpoint is None else CheckpointStore(checkpoint)

    def __call__(
        self,
        fileset: Any,
        treename: str | None = None,
        processor_instance: Any = None,
        **kwargs: Any,
    ):
        """Run ``processor_instance`` on ``fileset``.

        Both the coffea 0.7 form ``runner(fileset, "Events", processor_instance=p)``
        and ``runner(fileset, processor_instance=p, treename="Events")`` work.
        Returns the merged output (after ``postprocess``), or ``(output, report)``
        with ``savemetrics=True``. Raises ChunkError when a chunk fails and
        ``skipbadfiles`` does not cover it.
        """
        if processor_instance is None:
            msg = "processor_instance is required: runner(fileset, 'Events', processor_instance=P())"
            raise TypeError(msg)
        if kwargs:
            msg = f"unexpected keyword argument(s) {sorted(kwargs)}"
            raise TypeError(msg)
        process_function(processor_instance, "processor_instance")  # TypeError if neither
        datasets = normalize_fileset(fileset, treename)
        report = RunReport(
            executor=repr(self.executor),
            checkpoint=self.checkpoint.url if self.checkpoint else None,
            datasets=datasets,
            zlib_library=self.zlib_library,
        )
        with make_progress(self.status) as progress, self.executor:
            metas = self._preprocess(datasets, report, progress)
            items = make_work_items(datasets, metas, self.chunksize, self.maxchunks)
            report.chunks_total = len(items)
            report.events_total = sum(len(item) for item in items)
            out = self._process(items, processor_instance, report, progress)
        tic = time.perf_counter()
        postprocess = getattr(processor_instance, "postprocess", None)
        if out is not None and callable(postprocess):
            replaced = postprocess(out)
            out = replaced if replaced is not None else out
        report.wall_seconds["postprocess"] = time.perf_counter() - tic
        return (out, report) if self.savemetrics else out

    def plan(self, fileset: Any, treename: str | None = None) -> tuple[list[WorkItem], RunReport]:
        """The chunks a call on ``fileset`` would process, preprocessed as a call does; no processing.

        Returns ``(work_items, report)``, the report holding the datasets, file counts
        and skipped files. :func:`colframe.dask_awkward.apply_to_fileset` builds its
        partitions from these chunks. Raises ChunkError for an unreadable file that
        ``skipbadfiles`` does not cover.
        """
        datasets = normalize_fileset(fileset, treename)
        report = RunReport(executor=repr(self.executor), datasets=datasets)
        with make_progress(self.status) as progress, self.executor:
            metas = self._preprocess(datasets, report, progress)
        return make_work_items(datasets, metas, self.chunksize, self.maxchunks), report

    # phases -----------------------------------------------------------------
    def _preprocess(self, datasets: list[Dataset], report: RunReport, progress) -> dict:
        tic, cpu = time.perf_counter(), time.process_time()
        specs = files_to_preprocess(datasets, self.maxchunks)
        report.files_total = len(specs)
        metas: dict[FileSpec, FileMeta] = {}
        for spec, result, from_cache in file_metadata(self.executor, specs, self.cache, progress):
            if isinstance(result, Err):
                self._bad_file(result.failure, report)
                continue
            metas[spec] = result.value
            report.files_from_cache += from_cache
        report.wall_seconds["preprocess"] = time.perf_counter() - tic
        report.cpu_seconds["preprocess (driver)"] = time.process_time() - cpu
        return metas

    def _bad_file(self, failure: ChunkFailure, report: RunReport) -> None:
        if failure.matches(self.skip):
            report.files_skipped += 1
            report.skipped.append(failure)
            return
        report.failures.append(failure)
        msg = (
            f"cannot read {failure.where()}: {failure.exc_type}: {failure.message}\n"
            f"(pass skipbadfiles=True to skip unreadable files and list them in the report)"
        )
        raise ChunkError(msg, failure, report)

    def _process(self, items, processor, report: RunReport, progress) -> Any:
        cpu = time.process_time()
        chunk = ProcessChunk(processor, self.schema, self.uproot_options, self.zlib_library)
        work = chunk if self.checkpoint is None else self._checkpointed(chunk, items, report)
        try:
            outcome = run_chunks(
                self.executor, work, items, fan_in=self.fan_in, skip=self.skip, progress=progress
            )
        finally:
            chunk.close()  # files it opened in this process (in-process executors)
        report.chunks_ok = outcome.ok
        report.chunks_retried = outcome.retried
        report.chunks_skipped = len(outcome.skipped)
        report.skipped.extend(outcome.skipped)
        report.merges = outcome.merges
        report.executor_stats = self.executor.stats()
        report.wall_seconds["process"] = outcome.process_seconds
        report.wall_seconds["merge (after processing)"] = outcome.merge_tail_seconds
        if outcome.failed:
            failure = outcome.failed[0]
            report.failures.extend(outcome.failed)
            report.chunks_failed = report.chunks_total - report.chunks_ok - report.chunks_skipped
            hint = _hint(failure)
            msg = (
                f"{failure.kind} failed after {failure.attempts} attempt(s): {failure.where()}\n"
                f"cause: {failure.exc_type}: {failure.message}{hint}"
            )
            raise ChunkError(msg, failure, report)
        partial = self.executor.fetch(outcome.final) if outcome.final is not None else None
        report.cpu_seconds["driver"] = time.process_time() - cpu
        if partial is None:
            return None
        report.coverage = coverage(outcome.done)
        report.chunks_from_checkpoint = partial.from_checkpoint
        report.checkpoints_rejected = partial.checkpoints_rejected
        report.events_processed = partial.events
        report.bytes_read = partial.bytesread
        report.columns = sorted(partial.columns)
        report.cpu_seconds["chunks (workers)"] = partial.cputime
        return partial.out

    def _checkpointed(self, work: ProcessChunk, items, report: RunReport) -> Checkpointed:
        store = self.checkpoint
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
