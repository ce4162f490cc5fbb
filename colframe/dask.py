"""The dask-awkward path: a processor over a fileset as dask collections, computed anywhere.

    from colframe.dask import apply_to_fileset
    out = apply_to_fileset(MyProcessor(), fileset, chunksize=100_000)
    (computed,) = dask.compute(out, scheduler=client.get)   # or "sync", DaskVine's m.get, ...

Planning is colframe's (on-disk metadata cache, near-equal chunks), so each
partition of the graph is the same entry range the Runner would process; the
processor then runs once on NanoEvents in dask mode, per dataset.
"""

from __future__ import annotations

from typing import Any

from ._work import DEFAULT_SCHEMA, process_function, schema_class
from .errors import ChunkError
from .results import Err
from .executors.iterative import IterativeExecutor
from .fileset import normalize_fileset
from .plan import files_to_preprocess, make_work_items
from .preprocess import MetadataCache
from .progress import make_progress
from .schedule import file_metadata

__all__ = ["apply_to_fileset"]

_INSTALL = 'pip install "dask-awkward==2026.2.1" "dask-histogram==2026.2.0"'


def apply_to_fileset(
    processor: Any,
    fileset: Any,
    *,
    treename: str = "Events",
    schema: Any = DEFAULT_SCHEMA,
    chunksize: int = 100_000,
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
        metadata_cache: directory of the preprocessing cache; None for the
            default, False to disable it.
        uproot_options: extra keyword arguments for uproot.

    Nothing is computed except each file's entry count (cached); compute with
    ``dask.compute(out, scheduler=...)``. ``postprocess`` is not called (there is
    no merged output yet); call it on the computed result if you need it.
    Raises ChunkError when a file cannot be read, and ModuleNotFoundError with
    the install line when dask-awkward is missing.
    """
    try:
        import dask_awkward  # noqa: F401  (NanoEvents' dask mode needs it)
        from coffea.nanoevents import NanoEventsFactory
    except ModuleNotFoundError as err:
        msg = f"colframe.dask needs dask-awkward and dask-histogram: {_INSTALL}"
        raise ModuleNotFoundError(msg, name=err.name) from err
    process = process_function(processor)
    schema = schema_class(schema)
    datasets = normalize_fileset(fileset, treename)
    cache = None if metadata_cache is False else MetadataCache(metadata_cache)
    metas = {}
    # the Runner's preprocessing, in this process (with its retries of transient errors)
    with make_progress(False) as progress, IterativeExecutor() as executor:
        specs = files_to_preprocess(datasets, None)
        for spec, result, _ in file_metadata(executor, specs, cache, progress):
            if isinstance(result, Err):
                failure = result.failure
                msg = f"cannot read {failure.where()}: {failure.exc_type}: {failure.message}"
                raise ChunkError(msg, failure)
            metas[spec] = result.value
    # the Runner's chunks, grouped per file into steps: one partition per chunk
    steps: dict[str, dict[str, dict[str, Any]]] = {dataset.name: {} for dataset in datasets}
    for item in make_work_items(datasets, metas, chunksize):
        files = steps[item.dataset]
        entry = files.setdefault(item.filename, {"object_path": item.treename, "steps": []})
        entry["steps"].append([item.entrystart, item.entrystop])
    out = {}
    for dataset in datasets:
        metadata = {**dataset.metadata, "dataset": dataset.name}
        events = NanoEventsFactory.from_root(
            steps[dataset.name],
            mode="dask",
            schemaclass=schema,
            metadata=metadata,
            uproot_options=dict(uproot_options or {}),
        ).events()
        out[dataset.name] = process(events)
    return out
