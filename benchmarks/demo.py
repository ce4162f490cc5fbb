"""The main job: ADL q1–q8 on a million generated events with the local default executor.

    python -m benchmarks.demo [--events 1000000] [--files 4] [--workers N] [--out demo-output]

Generates the synthetic dataset once (reused on later runs), runs every query through
``FuturesExecutor`` on this machine (one live progress line per phase, one line per query),
writes one PNG per histogram plus ``table.md`` into the output folder, and prints the table
(query, events, seconds, events/s) last.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import colframe
from benchmarks._common import markdown_table, timed
from benchmarks.adl.generate import ensure_dataset
from colframe.executors import FuturesExecutor
from processors.adl import QUERIES, ADLNanoAODSchema

__all__ = ["main", "plot"]

ROOT = Path(__file__).resolve().parents[1]


def plot(name: str, histogram, path: Path) -> None:
    """Draw one 1D histogram in CMS (mplhep) style to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(8, 6))
    mplhep.histplot(histogram, ax=ax, histtype="fill", alpha=0.7, label="synthetic Run2012B")
    ax.set_xlabel(histogram.axes[0].label or histogram.axes[0].name)
    ax.set_ylabel("events / bin")
    ax.set_title(name, fontsize=16)
    ax.legend()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunksize", type=int, default=125_000)
    parser.add_argument("--data", default=str(ROOT / "data" / "adl"))
    parser.add_argument("--out", default=str(ROOT / "demo-output"))
    args = parser.parse_args(argv)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"dataset: {args.events:,} synthetic ADL events in {args.files} files", file=sys.stderr)
    with timed() as t:
        files = ensure_dataset(
            Path(args.data) / f"{args.events}-{args.files}", args.events, args.files, seed=1
        )
    print(f"  ready in {t.wall:.1f} s: {files[0].parent}", file=sys.stderr)
    fileset = {"SingleMu": [str(f) for f in files]}
    executor = FuturesExecutor(workers=args.workers)
    runner = colframe.Runner(
        executor, schema=ADLNanoAODSchema, chunksize=args.chunksize, savemetrics=True
    )
    rows = []
    with executor:  # one pool for all eight queries
        for query, processor in QUERIES.items():
            with timed() as t:
                out, report = runner(fileset, "Events", processor_instance=processor())
            rate = f"{report.events_processed / t.wall:,.0f}"
            rows.append([query, f"{report.events_processed:,}", f"{t.wall:.2f}", rate])
            print(f"{query}: {report.events_processed:,} events in {t.wall:.2f} s", file=sys.stderr)
            for key, value in out.items():
                if hasattr(value, "axes"):
                    plot(f"{query}: {key}", value, out_dir / f"{query}_{key}.png")
    table = markdown_table(["query", "events", "seconds", "events/s"], rows)
    header = f"FuturesExecutor(workers={args.workers}), chunksize {args.chunksize:,}\n\n"
    (out_dir / "table.md").write_text(header + table + "\n")
    print(f"plots and table written to {out_dir}/\n", file=sys.stderr, flush=True)
    print(header + table)  # last, so no progress output scrolls it away
    return 0


if __name__ == "__main__":
    sys.exit(main())
