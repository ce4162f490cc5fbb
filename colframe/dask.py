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

from .fileset import normalize_fileset
from .plan import chunk_ranges
from .preprocess import MetadataCache, fetch_metadata

__all__ = ["apply_to_fileset"]

_INSTALL = 'pip install "dask-awkward==2026.2.1" "dask-histogram==2026.2.0"'
_DEFAULT_SCHEMA = object()


def apply_to_fileset(
    processor: Any,
    fileset: Any,
    *,
    treename: str = "Events",
    schema: Any = _DEFAULT_SCHEMA,
    chunksize: int = 100_000,
    metadata_cache: Any = None,
    uproot_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build ``{dataset: processor output}`` with every output a lazy dask collection.

    Args:
        processor: a ProcessorABC (its ``process(events)`` is called) or a callable.
        fileset: any fileset form the Runner accepts.
        treename: tree to read where the fileset does not name one.
        schema: NanoEvents schema class (default ``NanoAODSchema``).
        chunksize: target entries per partition (same chunks as the Runner's).
        metadata_cache: directory of the preprocessing cache; None for the
            default, False to disable it.
        uproot_options: extra keyword arguments for uproot.

    Nothing is computed except each file's entry count (cached); compute with
    ``dask.compute(out, scheduler=...)``. ``postprocess`` is not called (there is
    no merged output yet); call it on the computed result if you need it.
    Raises ModuleNotFoundError with the install line when dask-awkward is missing.
    """
    try:
        import dask_awkward  # noqa: F401  (NanoEvents' dask mode needs it)
        from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
    except ModuleNotFoundError as err:
        msg = f"colframe.dask needs dask-awkward and dask-histogram: {_INSTALL}"
        raise ModuleNotFoundError(msg, name=err.name) from err
    process = getattr(processor, "process", processor)
    if not callable(process):
        msg = (
            f"processor must have a process(events) method or be callable, "
            f"not {type(processor).__name__}"
        )
        raise TypeError(msg)
    schema = NanoAODSchema if schema is _DEFAULT_SCHEMA else schema
    cache = None if metadata_cache is False else MetadataCache(metadata_cache)
    out = {}
    for dataset in normalize_fileset(fileset, treename):
        files = {}
        for spec in dataset.files:
            meta = cache.get(spec) if cache else None
            if meta is None:
                meta = fetch_metadata(spec)
                if cache:
                    cache.put(meta)
            steps = [list(step) for step in chunk_ranges(meta.numentries, chunksize)]
            files[spec.path] = {"object_path": spec.treename, "steps": steps}
        metadata = {**dataset.metadata, "dataset": dataset.name}
        events = NanoEventsFactory.from_root(
            files,
            mode="dask",
            schemaclass=schema,
            metadata=metadata,
            uproot_options=dict(uproot_options or {}),
        ).events()
        out[dataset.name] = process(events)
    return out
