"""colframe vs coffea executors on a CPU-heavy (Q6 trijets) and a light (Q1 MET) processor.

    python -m benchmarks.executors --events 4000000 --files 8 --workers 2

Runs, in one process and one session, colframe Iterative, colframe Futures(workers),
coffea Iterative and coffea Futures(workers) on the same generated files, checks
that all outputs are identical, prints a table and writes
``benchmarks/results/executors.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coffea import processor as coffea_processor

import colframe
from benchmarks._common import RESULTS, machine, markdown_table, timed, versions
from benchmarks.adl.generate import ensure_dataset
from colframe.executors import FuturesExecutor, IterativeExecutor
from processors.adl import QUERIES, ADLNanoAODSchema

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _runners(workers: int, chunksize: int):
    schema = ADLNanoAODSchema
    yield "colframe Iterative", colframe.Runner(
        IterativeExecutor(), schema=schema, chunksize=chunksize, status=False, metadata_cache=False
    )
    yield f"colframe Futures({workers})", colframe.Runner(
        FuturesExecutor(workers=workers), schema=schema, chunksize=chunksize, status=False,
        metadata_cache=False,
    )
    yield "coffea Iterative", coffea_processor.Runner(
        coffea_processor.IterativeExecutor(status=False), schema=schema, chunksize=chunksize
    )
    yield f"coffea Futures({workers})", coffea_processor.Runner(
        coffea_processor.FuturesExecutor(workers=workers, status=False),
        schema=schema,
        chunksize=chunksize,
    )


def _same(a, b) -> bool:
    return all(a[k] == b[k] for k in a if k != "nevents") and a["nevents"] == b["nevents"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunksize", type=int, default=100_000)
    parser.add_argument("--queries", default="q6,q1", help="heavy first, then light")
    parser.add_argument("--data", default=str(ROOT / "data" / "adl"))
    parser.add_argument("--output", default=str(RESULTS / "executors.md"))
    args = parser.parse_args(argv)

    data = Path(args.data) / f"{args.events}-{args.files}"
    files = ensure_dataset(data, args.events, n_files=args.files, seed=1)
    fileset = {"SingleMu": [str(f) for f in files]}
    rows = []
    for query in args.queries.split(","):
        results = {}
        for name, runner in _runners(args.workers, args.chunksize):
            with timed() as t:
                out = runner(fileset, processor_instance=QUERIES[query](), treename="Events")
            results[name] = (t.wall, out)
            print(f"{query} {name:24s} {t.wall:8.2f} s", file=sys.stderr)
        reference = results["coffea Iterative"][1]
        coffea_best = min(w for n, (w, _) in results.items() if n.startswith("coffea"))
        for name, (wall, out) in results.items():
            rows.append(
                [
                    query,
                    name,
                    f"{wall:.2f}",
                    f"{args.events / wall / 1e6:.2f}",
                    f"{coffea_best / wall:.2f}x",
                    "yes" if _same(out, reference) else "NO",
                ]
            )
    table = markdown_table(
        ["query", "runner", "wall s", "Mevents/s", "speed-up vs coffea best", "same output"], rows
    )
    command = "python -m benchmarks.executors " + " ".join(argv or sys.argv[1:])
    text = (
        "# Executors: colframe vs coffea\n\n"
        f"- command: `{command.strip()}`\n"
        f"- events: {args.events:,} synthetic ADL events in {args.files} files "
        f"(benchmarks/adl/generate.py, seed 1), chunksize {args.chunksize:,}, page cache warm\n"
        f"- machine: {machine()}\n"
        f"- versions: {versions('colframe', 'coffea', 'awkward', 'uproot', 'numpy')}\n\n"
        f"{table}\n"
    )
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
