"""The per-chunk work function and the partial result it returns.

``ProcessChunk`` is what executors ship to workers (once per worker): it opens
one chunk (of a ROOT or a parquet file) as virtual NanoEvents, calls the
processor, and returns a :class:`Partial` carrying the output and what the
chunk read and cost (the report's :class:`~colframe.report.WorkTotals`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from ._openfiles import OpenFiles
from .accumulate import add, merge_streaming, nbytes, own
from .decompression import zlib_library
from .errors import ProcessorOutputError
from .plan import WorkItem
from .report import WorkTotals

__all__ = [
    "DEFAULT_SCHEMA",
    "Partial",
    "ProcessChunk",
    "merge_partials",
    "process_function",
    "schema_class",
]

#: the default of ``schema=`` arguments: NanoAODSchema, imported only when used
DEFAULT_SCHEMA: Any = object()


def schema_class(schema: Any) -> type:
    """``schema``, or coffea's ``NanoAODSchema`` for :data:`DEFAULT_SCHEMA`."""
    if schema is DEFAULT_SCHEMA:
        from coffea.nanoevents import NanoAODSchema

        return NanoAODSchema
    return schema


def process_function(processor: Any, name: str = "processor"):
    """``processor.process``, or ``processor`` itself when it is a plain callable.

    Raises TypeError (calling the argument ``name``) for anything else.
    """
    process = getattr(processor, "process", processor)
    if not callable(process):
        msg = (
            f"{name} must have a process(events) method or be callable, "
            f"not {type(processor).__name__}"
        )
        raise TypeError(msg)
    return process


@dataclass
class Partial(WorkTotals):
    """A processor output plus the totals of the chunks merged into it.

    The totals (:class:`~colframe.report.WorkTotals`: events, bytes and columns
    read, times, checkpoint counts) are added up with the outputs; the final
    partial's are the report's. ``owned`` says that nothing outside the merge
    tree can see ``out`` and that no mutable object appears twice in it (see
    :func:`colframe.accumulate.own`); it survives pickling, which keeps both true.
    """

    out: Any
    chunks: int = field(default=1, kw_only=True)
    owned: bool = field(default=False, compare=False, repr=False, kw_only=True)

    def own_for_merge(self, private: bool) -> Partial:
        """This partial, ready to be added into in place (see :func:`colframe.accumulate.own`)."""
        if self.owned:
            return self
        if private:
            self.out = own(self.out, private=True)
            self.owned = True
            return self
        return replace(self, out=own(self.out), columns=set(self.columns), owned=True)

    def __iadd__(self, other: Partial) -> Partial:
        return self._merge(other, consume=False)

    def iadd_consume(self, other: Partial) -> Partial:
        """``self += other``, adopting the arrays of ``other.out``; ``other`` is used up."""
        return self._merge(other, consume=True)

    def _merge(self, other: Partial, consume: bool) -> Partial:
        self.out = add(self.out, other.out, consume=consume)
        self.add_totals(other)
        return self

    @property
    def nbytes(self) -> int:
        return nbytes(self.out)


def merge_partials(refs: list) -> Partial:
    """Merge task body: the referenced partials added in the order given (runs on workers).

    The order is the plan's (see :mod:`colframe.schedule`), so the result does not
    depend on the executor or on the order in which chunks finished.
    """
    return merge_streaming(refs)


@dataclass
class ProcessChunk:
    """Run ``processor`` on one :class:`WorkItem` (picklable; built once per run)."""

    processor: Any
    schema: type
    uproot_options: dict[str, Any] = field(default_factory=dict)
    zlib_library: str = "zlib"  # resolved name: "isal" or "zlib" (see colframe.decompression)
    format: str = "root"  # or "parquet"
    iteritems_options: dict[str, Any] = field(default_factory=dict)
    # per thread (a dask worker's threads share this instance), see colframe._openfiles
    _files: OpenFiles = field(default_factory=OpenFiles, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_files"]  # open files stay with the process that opened them
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._files = OpenFiles()

    def close(self) -> None:
        """Close the files this instance keeps open between chunks."""
        self._files.close()

    def __call__(self, item: WorkItem) -> Partial:
        try:
            with zlib_library(self.zlib_library):
                return self._run(item)
        except Exception as exc:
            self._files.discard(item.filename, item.treename)
            exc.add_note(f"while processing chunk {item.describe()}")
            raise

    def _run(self, item: WorkItem) -> Partial:
        from coffea.nanoevents import NanoEventsFactory

        tic, cpu = time.perf_counter(), time.process_time()
        access_log: list = []
        file, bytes_before = None, 0
        common = {
            "schemaclass": self.schema,
            "metadata": _metadata(item),
            "access_log": access_log,
            "mode": "virtual",
            "entry_start": item.entrystart,
            "entry_stop": item.entrystop,
        }
        if self.format == "parquet":
            events = NanoEventsFactory.from_parquet(file=item.filename, **common).events()
        else:
            # this thread's own file: the difference below counts this chunk's reads only
            file, _ = self._files.get(item.filename, item.treename, self.uproot_options, item)
            bytes_before = file.file.source.num_requested_bytes
            events = NanoEventsFactory.from_root(
                file=file,
                treepath=item.treename,
                iteritems_options=self.iteritems_options,
                **common,
            ).events()
        out = process_function(self.processor)(events)
        if out is None:
            msg = (
                f"{_name(self.processor)} returned None; process(events) must return its "
                f"output (a dict of histograms, counters, ...)"
            )
            raise ProcessorOutputError(msg)
        return Partial(
            out,
            events=len(item),
            bytesread=0 if file is None else file.file.source.num_requested_bytes - bytes_before,
            columns={entry.branch for entry in access_log},
            processtime=time.perf_counter() - tic,
            cputime=time.process_time() - cpu,
        )


def _metadata(item: WorkItem) -> dict[str, Any]:
    metadata = {
        "dataset": item.dataset,
        "filename": item.filename,
        "treename": item.treename,
        "entrystart": item.entrystart,
        "entrystop": item.entrystop,
        "fileuuid": item.fileuuid,
    }
    if item.usermeta:
        metadata.update(item.usermeta)
    return metadata


def _name(processor: Any) -> str:
    cls = processor if isinstance(processor, type) else type(processor)
    name = getattr(processor, "__qualname__", None) or cls.__qualname__
    return f"processor {name}"
