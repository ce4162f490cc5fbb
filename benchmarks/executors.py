"""colframe vs coffea executors on a CPU-heavy (Q6 trijets) and a light (Q1 MET) processor.

    python -m benchmarks.executors --events 4000000 --files 8 --workers 2

Runs, in one process and one session, colframe Iterative, Futures(workers),
Futures(workers) inflating with the standard library's zlib, and Dask(workers),
coffea Iterative and Futures(workers) on the same generated files (the
contenders of ``benchmarks.adl.run``), and for Q1 also colframe's dask-awkward
path (``apply_to_fileset`` with a ``hist.dask`` histogram, computed on a
``workers``-worker distributed cluster). Checks that all outputs are identical,
prints a table and writes ``benchmarks/results/executors.md``. colframe's
executors (and the dask-awkward cluster) are started once and serve every query,
as coffea's futures pool does.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from benchmarks._common import (
    RESULTS,
    STDLIB_PREFIX,
    contenders,
    machine,
    markdown_table,
    same_output,
    timed,
    versions,
)
from benchmarks.adl.generate import ensure_dataset
from colframe.decompression import resolve_zlib_library
from processors.adl import QUERIES, ADLNanoAODSchema

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


class DaskQ1:
    """Q1 for the dask-awkward path: the MET histogram as a ``hist.dask`` collection."""

    def process(self, events):
        import awkward as ak
        import hist.dask

        h = hist.dask.Hist.new.Reg(100, 0, 200, name="met").Double()
        return {"met": h.fill(met=events.MET.pt), "nevents": ak.num(events, axis=0)}


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
    with contextlib.ExitStack() as stack:
        runners = contenders(args.workers, args.chunksize, stack, ADLNanoAODSchema)
        client = stack.enter_context(_dask_awkward_client(args.workers))
        for query in args.queries.split(","):
            rows += _query_rows(query, runners, client, fileset, args)
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
        f"- versions: {versions('colframe', 'coffea', 'awkward', 'uproot', 'numpy', 'dask')}\n"
        "- executors and clusters started once, before timing (coffea's futures pool is reused "
        "across runs too)\n"
        f"- ZLIB baskets: colframe's Runner inflates with {resolve_zlib_library('auto')} "
        '(its default, `zlib_library="auto"`); coffea and the dask-awkward path with '
        f"uproot's default, the standard library's zlib, as does the `{STDLIB_PREFIX.strip()}` "
        "row\n\n"
        f"{table}\n"
    )
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    return 0


@contextlib.contextmanager
def _dask_awkward_client(workers: int):
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _query_rows(query, runners, client, fileset, args) -> list[list]:
    results = {}
    for name, _, make in runners:
        runner = make()
        with timed() as t:
            out, _ = runner(fileset, processor_instance=QUERIES[query](), treename="Events")
        results[name] = (t.wall, out)
        print(f"{query} {name:24s} {t.wall:8.2f} s", file=sys.stderr)
    if query == "q1":
        import dask

        from colframe.dask_awkward import apply_to_fileset

        with timed() as t:
            lazy = apply_to_fileset(
                DaskQ1(),
                fileset,
                schema=ADLNanoAODSchema,
                chunksize=args.chunksize,
            )
            (computed,) = dask.compute(lazy, scheduler=client.get)
        out = computed["SingleMu"]
        out["nevents"] = {"SingleMu": int(out["nevents"])}
        results[f"colframe dask-awkward ({args.workers} workers)"] = (t.wall, out)
    rows = []
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
                "yes" if same_output(out, reference) else "NO",
            ]
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
