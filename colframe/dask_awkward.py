"""The dask-awkward path: a processor over a fileset as dask collections, computed anywhere.

    from colframe.dask_awkward import apply_to_fileset
    out = apply_to_fileset(MyProcessor(), fileset, chunksize=100_000)
    (computed,) = dask.compute(out, scheduler=client.get)   # or "sync", DaskVine's m.get, ...

Planning is the Runner's own (:meth:`colframe.Runner.plan`: on-disk metadata
cache, near-equal chunks, the same errors), so each partition of the graph is
the entry range the Runner would process; the processor then runs once on
NanoEvents in dask mode, per dataset.
"""

from __future__ import annotations

import logging
from typing import Any

from . import extras
from ._work import DEFAULT_SCHEMA, process_function, schema_class
from .runner import Runner

__all__ = ["apply_to_fileset"]

log = logging.getLogger(__name__)


def apply_to_fileset(
    processor: Any,
    fileset: Any,
    *,
    treename: str = "Events",
    schema: Any = DEFAULT_SCHEMA,
    chunksize: int = 100_000,
    skipbadfiles: bool | tuple[type[BaseException], ...] = False,
    metadata_cache: Any = None,
    uproot_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build ``{dataset: processor output}`` with every output a lazy dask collection.

    Args:
        processor: a ProcessorABC (its ``process(events)`` is called) or a callable.
        fileset: any fileset form the Runner accepts (files with ``steps`` are
            cut exactly at those steps, as by the Runner).
        treename: tree to read where the fileset does not name one.
        schema: NanoEvents schema class (default ``NanoAODSchema``).
        chunksize: target entries per partition (same chunks as the Runner's).
        skipbadfiles: as the Runner's: files that cannot be read are left out
            (logged as warnings) instead of raising.
        metadata_cache: directory of the preprocessing cache; None for the
            default, False to disable it.
        uproot_options: extra keyword arguments for uproot.

    Nothing is computed except each file's entry count (cached); compute with
    ``dask.compute(out, scheduler=...)``. ``postprocess`` is not called (there is
    no merged output yet); call it on the computed result if you need it.
    Raises ChunkError when a file cannot be read, TypeError for something that is
    not a processor, and ModuleNotFoundError with the install line when
    dask-awkward is missing.
    """
    extras.dask_awkward()  # NanoEvents' dask mode needs it: fail before any file is read
    from coffea.nanoevents import NanoEventsFactory

    process = process_function(processor)  # TypeError for what is not a processor
    planner = Runner(
        schema=schema,
        chunksize=chunksize,
        skipbadfiles=skipbadfiles,
        status=False,
        metadata_cache=metadata_cache,
        uproot_options=uproot_options,
    )
    items, report = planner.plan(fileset, treename)
    for failure in report.skipped:
        log.warning("skipped (skipbadfiles): %s", failure.describe())
    # the Runner's chunks, grouped per file into steps: one partition per chunk
    steps: dict[str, dict[str, dict[str, Any]]] = {d.name: {} for d in report.datasets}
    for item in items:
        files = steps[item.dataset]
        entry = files.setdefault(item.filename, {"object_path": item.treename, "steps": []})
        entry["steps"].append([item.entrystart, item.entrystop])
    out = {}
    for dataset in report.datasets:
        if not steps[dataset.name]:
            continue  # every file of it skipped: nothing to read
        events = NanoEventsFactory.from_root(
            steps[dataset.name],
            mode="dask",
            schemaclass=schema_class(schema),
            metadata={**dataset.metadata, "dataset": dataset.name},
            uproot_options=dict(uproot_options or {}),
        ).events()
        out[dataset.name] = process(events)
    return out
