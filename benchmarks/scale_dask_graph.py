"""The dask-awkward path at scale: graph construction time and size, colframe beside coffea.

    python -m benchmarks.scale_dask_graph --files 1000,10000

Takes the first N files of the generated set of ``--source-files`` NanoAOD-like files
(the ADL generator, ``--events`` events each, under ``--dir``; the same files as
``benchmarks.scale_files``). Each tool preprocesses them its own way first, timed
but not part of the graph:

- colframe: ``Runner.plan`` fills its metadata cache (IterativeExecutor, cold cache);
- coffea: ``coffea.dataset_tools.preprocess`` (``save_form=True``, so building the
  graph opens no file), computed on ``--coffea-scheduler``; its result is kept as
  JSON under ``--dir`` and reused by later runs (``--fresh`` to preprocess again).

Then, alternating ``--repeat`` times, the same processor (the number of events and
the number of muons, two dask-awkward reductions) is applied:

- colframe: ``colframe.dask_awkward.apply_to_fileset`` with the warm metadata cache
  (its planning, a cache lookup per file, included; it opens the first file for the
  form);
- coffea: ``coffea.dataset_tools.apply_to_fileset`` on its preprocessed fileset.

Graph size: the high-level graph of the outputs, unoptimized (``dask.base.collections_to_dsk``),
its layers and its keys once materialized.
Nothing is computed. Prints a table and writes ``benchmarks/results/scale_dask_graph.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, markdown_table, versions
from benchmarks.adl.generate import ensure_dataset

__all__ = ["main"]


def muons(events: Any) -> dict[str, Any]:
    """The processor: events and muons counted (two reductions over every partition)."""
    import dask_awkward as dak

    return {"events": dak.num(events, axis=0), "muons": dak.sum(dak.num(events.Muon.pt, axis=1))}


def graph_size(out: dict[str, Any]) -> tuple[int, int, float]:
    """Layers and keys of the outputs' unoptimized graph, and seconds to materialize it."""
    from dask.base import collections_to_dsk

    collections = [c for output in out.values() for c in output.values()]
    graph = collections_to_dsk(collections, optimize_graph=False)
    layers = len(graph.layers) if hasattr(graph, "layers") else 1  # a plain dict: one layer
    tic = time.perf_counter()
    keys = len(dict(graph))
    return layers, keys, time.perf_counter() - tic


def _coffea_preprocessed(
    fileset: dict, path: Path, scheduler: str, fresh: bool
) -> tuple[dict, float]:
    if path.exists() and not fresh:
        return json.loads(path.read_text()), float("nan")
    from coffea.dataset_tools import preprocess

    tic = time.perf_counter()
    runnable, _ = preprocess(fileset, step_size=100_000, save_form=True, scheduler=scheduler)
    seconds = time.perf_counter() - tic
    path.write_text(json.dumps(runnable))
    return runnable, seconds


def _colframe(fileset: dict, cache: str) -> tuple[float, dict]:
    from colframe.dask_awkward import apply_to_fileset

    tic = time.perf_counter()
    out = apply_to_fileset(muons, fileset, chunksize=100_000, metadata_cache=cache)
    return time.perf_counter() - tic, out


def _coffea(runnable: dict) -> tuple[float, dict]:
    from coffea.dataset_tools import apply_to_fileset
    from coffea.nanoevents import NanoAODSchema

    tic = time.perf_counter()
    out = apply_to_fileset(muons, runnable, schemaclass=NanoAODSchema)
    return time.perf_counter() - tic, out


def measure(n: int, paths: list[str], args: argparse.Namespace, cache: str) -> list[list[Any]]:
    """The rows of ``n`` files: preprocessing, then graph construction alternated."""
    import colframe

    files = paths[:n]
    fileset = {"synthetic": {"files": dict.fromkeys(files, "Events")}}
    tic = time.perf_counter()
    colframe.Runner(chunksize=100_000, status=False, metadata_cache=cache).plan(fileset)
    colframe_pre = time.perf_counter() - tic
    saved = Path(args.dir) / f"coffea-preprocessed-{n}.json"
    runnable, coffea_pre = _coffea_preprocessed(fileset, saved, args.coffea_scheduler, args.fresh)
    rows: list[list[Any]] = [
        [
            n,
            "colframe",
            "preprocess (Runner.plan, cold cache, iterative)",
            f"{colframe_pre:.2f}",
            "",
            "",
            "",
        ],
        [
            n,
            "coffea",
            f"preprocess (dataset_tools, {args.coffea_scheduler})",
            "(saved)" if coffea_pre != coffea_pre else f"{coffea_pre:.2f}",
            "",
            "",
            "",
        ],
    ]
    times: dict[str, list[float]] = {"colframe": [], "coffea": []}
    outs: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, build in (
            ("colframe", lambda: _colframe(fileset, cache)),
            ("coffea", lambda: _coffea(runnable)),
        ):
            seconds, outs[name] = build()
            times[name].append(seconds)
    for name, out in outs.items():
        layers, keys, materialize = graph_size(out)
        best = min(times[name])
        rows.append(
            [
                n,
                name,
                "apply_to_fileset (graph built)",
                f"{best:.2f} (of {', '.join(f'{t:.2f}' for t in times[name])})",
                layers,
                keys,
                f"{materialize:.2f}",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--source-files", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--dir", default="/tmp/colframe-scale-files")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--coffea-scheduler", default="processes")
    parser.add_argument("--fresh", action="store_true", help="preprocess with coffea again")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    counts = [int(x) for x in args.files.split(",")]
    paths = [
        str(p)
        for p in ensure_dataset(
            Path(args.dir) / f"n{args.source_files}",
            args.source_files * args.events,
            args.source_files,
            workers=2,
        )
    ]
    rows: list[list[Any]] = []
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="colframe-cache-") as cache:
            rows.extend(measure(n, paths, args, cache))
    text = "\n".join(
        [
            f"Files of {args.events} events (the first N of {args.source_files:,} generated), "
            f"chunksize/step_size 100,000 (one partition per file); wall seconds.",
            "",
            markdown_table(
                ["files", "tool", "step", "seconds", "graph layers", "graph keys", "materialize s"],
                rows,
            ),
            "",
            f"Machine: {machine()}; {versions('coffea', 'dask', 'dask-awkward', 'uproot')}.",
            f"Command: `python -m benchmarks.scale_dask_graph --files {args.files} "
            f"--repeat {args.repeat} --coffea-scheduler {args.coffea_scheduler}`",
        ]
    )
    print(text)
    if not args.no_write:
        (RESULTS / "scale_dask_graph.md").write_text(f"# dask-awkward graphs at scale\n\n{text}\n")


if __name__ == "__main__":
    main()
