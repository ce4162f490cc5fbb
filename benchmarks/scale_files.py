"""Many small real files: planning cold and warm, and a trivial processor, colframe beside coffea.

    python -m benchmarks.scale_files --files 1000 --events 200
    python -m benchmarks.scale_files --files 20000 --events 200   # the issue's size (slow to generate)

Generates ``--files`` NanoAOD-like files of ``--events`` events each (the ADL generator,
under ``--dir``, default /tmp/colframe-scale-files: never inside the repository), then
measures, each in this process:

- colframe plan, cold: ``Runner.plan`` with an empty metadata cache (every file opened
  by futures(workers)); warm: the same with the cache filled (no file opened);
- colframe run, cold and warm: a processor returning ``{"n": len(events)}`` with
  futures(workers), plan included;
- coffea: ``processor.Runner`` with FuturesExecutor(workers) on the same fileset, the
  preprocessing (``Runner.preprocess``) and the whole run.

Prints a table and writes ``benchmarks/results/scale_files.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks._common import RESULTS, machine, markdown_table, versions
from benchmarks.adl.generate import ensure_dataset

__all__ = ["main"]


def count(events) -> dict:
    """The trivial processor: touches no column."""
    return {"n": len(events)}


class _CoffeaCount:
    """The same processor for coffea (a ProcessorABC)."""

    def __new__(cls):
        from coffea import processor

        class Count(processor.ProcessorABC):
            def process(self, events):
                return {"n": len(events)}

            def postprocess(self, accumulator):
                return accumulator

        return Count()


def _seconds(function) -> tuple[float, object]:
    tic = time.perf_counter()
    value = function()
    return time.perf_counter() - tic, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/colframe-scale-files")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import colframe
    from colframe.executors import FuturesExecutor

    paths = ensure_dataset(
        Path(args.dir) / f"n{args.files}",
        args.files * args.events,
        args.files,
        workers=args.workers,
    )
    fileset = {"synthetic": {"files": {str(p): "Events" for p in paths}}}
    total = args.files * args.events
    rows: list[list[object]] = []
    with (
        tempfile.TemporaryDirectory(prefix="colframe-cache-") as cache,
        FuturesExecutor(workers=args.workers) as executor,
    ):

        def runner(**options):
            return colframe.Runner(
                executor, chunksize=100_000, status=False, metadata_cache=cache, **options
            )

        cold, (items, _) = _seconds(lambda: runner().plan(fileset))
        warm, _ = _seconds(lambda: runner().plan(fileset))
        rows.append(["colframe plan (preprocess + chunks), cold cache", f"{cold:.2f}", ""])
        rows.append(["colframe plan, warm cache", f"{warm:.2f}", f"{len(items)} chunks"])
        Path(cache, "metadata", "records.sqlite").unlink()
        for name in ("cold", "warm"):
            seconds, out = _seconds(
                lambda: runner(savemetrics=True)(fileset, processor_instance=count)
            )
            output, report = out  # type: ignore[misc]
            assert output["n"] == total
            assert report.complete
            rows.append(
                [f"colframe Futures({args.workers}) run, {name} cache", f"{seconds:.2f}", ""]
            )

    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    def coffea_runner():
        return processor.Runner(
            processor.FuturesExecutor(workers=args.workers, status=False),
            schema=NanoAODSchema,
            chunksize=100_000,
            savemetrics=True,
        )

    seconds, _ = _seconds(lambda: coffea_runner().preprocess(fileset, treename="Events"))
    rows.append([f"coffea Futures({args.workers}) preprocess", f"{seconds:.2f}", ""])
    seconds, out = _seconds(
        lambda: coffea_runner()(fileset, treename="Events", processor_instance=_CoffeaCount())
    )
    assert out[0]["n"] == total  # type: ignore[index]
    rows.append([f"coffea Futures({args.workers}) run", f"{seconds:.2f}", ""])

    text = "\n".join(
        [
            f"{args.files:,} files of {args.events} events ({total:,} events), "
            f"futures({args.workers}); wall seconds",
            "",
            markdown_table(["step", "seconds", "note"], rows),
            "",
            f"Machine: {machine()}; {versions('coffea', 'uproot', 'awkward')}.",
            f"Command: `python -m benchmarks.scale_files --files {args.files} "
            f"--events {args.events} --workers {args.workers}`",
        ]
    )
    print(text)
    if not args.no_write:
        (RESULTS / "scale_files.md").write_text(f"# Many small files\n\n{text}\n")


if __name__ == "__main__":
    main()
