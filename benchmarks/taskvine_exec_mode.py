"""TaskVine serverless exec modes (fork, direct) beside Futures on one ADL query.

    python -m benchmarks.taskvine_exec_mode --query q6 --events 2000000 --files 4 --use-files 1

Why colframe TaskVine lagged Futures on q6 in the ADL harness: in ``exec_mode="fork"``
(the default) every call runs in a child forked from the library, so what a call loads
(the work function's file, the processor's modules, its caches) is loaded again by the
next call; ``exec_mode="direct"`` runs calls in the library process itself and keeps them.
The executors start once and serve every round; rounds alternate the contenders; every
output is checked equal to Futures'. Prints a table and writes
``benchmarks/results/taskvine_exec_mode.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from benchmarks._common import RESULTS, machine, markdown_table, same_output, timed, versions
from benchmarks.adl.generate import ensure_dataset

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="q6")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--use-files", type=int, default=1, help="files of the dataset to run on")
    parser.add_argument("--chunksize", type=int, default=250_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS / "taskvine_exec_mode.md"))
    args = parser.parse_args(argv)

    import colframe
    from colframe.executors import get_executor
    from processors.adl import QUERIES, ADLNanoAODSchema

    data = ROOT / "data" / "adl" / f"{args.events}-{args.files}"
    files = [str(f) for f in ensure_dataset(data, args.events, args.files, seed=1)]
    fileset = {"SingleMu": files[: args.use_files]}
    options = {
        f"Futures({args.workers})": ("futures", {}),
        f"TaskVine({args.workers}) fork": ("taskvine", {"exec_mode": "fork"}),
        f"TaskVine({args.workers}) direct": ("taskvine", {"exec_mode": "direct"}),
    }
    best: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        executors = {
            name: stack.enter_context(get_executor(kind, workers=args.workers, **extra))
            for name, (kind, extra) in options.items()
        }
        for _ in range(args.repeats):
            outputs = {}
            for name, executor in executors.items():
                runner = colframe.Runner(
                    executor, schema=ADLNanoAODSchema, chunksize=args.chunksize, status=False
                )
                with timed() as t:
                    outputs[name] = runner(
                        fileset, "Events", processor_instance=QUERIES[args.query]()
                    )
                best[name] = min(best.get(name, t.wall), t.wall)
                print(f"{name:24s} {t.wall:7.2f} s", file=sys.stderr)
            reference = next(iter(outputs.values()))
            for name, out in outputs.items():
                if not same_output(out, reference):
                    msg = f"{name}'s output differs from {next(iter(outputs))}'s"
                    raise AssertionError(msg)
    futures = best[f"Futures({args.workers})"]
    rows = [[name, f"{wall:.2f}", f"{wall / futures:.2f}"] for name, wall in best.items()]
    command = "python -m benchmarks.taskvine_exec_mode " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = (
        f"# TaskVine exec modes on ADL {args.query}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- data: {args.use_files} of {args.files} generated files of "
        f"{args.events // args.files:,} events, chunks of {args.chunksize:,}\n"
        f"- best of {args.repeats} alternating rounds; executors started once, before timing; "
        "outputs checked equal\n"
        f"- machine: {machine()}\n- versions: {versions('colframe', 'awkward', 'uproot')}, cctools {_cctools()}\n\n"
        + markdown_table(["executor", "wall s", "× Futures"], rows)
        + "\n"
    )
    print(text)
    Path(args.output).write_text(text)
    return 0


def _cctools() -> str:
    from ndcctools.taskvine import cvine

    return str(getattr(cvine, "CCTOOLS_VERSION", "built by make setup"))


if __name__ == "__main__":
    sys.exit(main())
