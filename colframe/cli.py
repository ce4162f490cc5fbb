"""The ``colframe`` command: run a processor over a fileset, inspect saved outputs."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from . import serialize
from .errors import ColframeError
from .executors import executor_names, get_executor
from .runner import Runner

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ColframeError as err:
        print(f"colframe: error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colframe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a processor over a fileset")
    run.add_argument("processor", help="MODULE:NAME of a processor class, instance or callable")
    run.add_argument("--fileset", required=True, help="JSON fileset file")
    run.add_argument("--treename", default="Events")
    run.add_argument("--executor", default="futures", help=f"one of {executor_names()}")
    run.add_argument("--workers", type=int, default=None, help="worker processes (futures)")
    run.add_argument("--chunksize", type=int, default=100_000)
    run.add_argument("--maxchunks", type=int, default=None)
    run.add_argument("--fan-in", type=int, default=20)
    run.add_argument("--retries", type=int, default=None)
    run.add_argument("--skipbadfiles", action="store_true", help="skip unreadable files")
    run.add_argument("--no-status", action="store_true", help="no progress bars")
    run.add_argument("--output", "-o", required=True, help="where to write the merged output")
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="summarize an output written by `colframe run`")
    report.add_argument("output")
    report.set_defaults(handler=_report)

    bench = commands.add_parser(
        "bench", help="benchmarks: `colframe bench adl --help` (ADL q1–q8 vs coffea)"
    )
    bench.add_argument("suite", choices=["adl"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="options of the suite")
    bench.set_defaults(handler=_bench)
    return parser


def load_processor(target: str) -> Any:
    """Import ``MODULE:NAME``; a class is instantiated without arguments."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        msg = f"processor must be given as MODULE:NAME (e.g. processors.adl:Q1Processor), not {target!r}"
        raise ColframeError(msg)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        msg = f"cannot import module {module_name!r}: {err}"
        raise ColframeError(msg) from err
    try:
        obj = getattr(module, attr)
    except AttributeError:
        msg = f"module {module_name!r} has no {attr!r}"
        raise ColframeError(msg) from None
    return obj() if isinstance(obj, type) else obj


def _run(args: argparse.Namespace) -> int:
    processor = load_processor(args.processor)
    options = {} if args.workers is None else {"workers": args.workers}
    runner = Runner(
        get_executor(args.executor, **options),
        chunksize=args.chunksize,
        maxchunks=args.maxchunks,
        fan_in=args.fan_in,
        retries=args.retries,
        skipbadfiles=args.skipbadfiles,
        savemetrics=True,
        status=not args.no_status,
    )
    out, report = runner(args.fileset, args.treename, processor_instance=processor)
    serialize.dump({"output": out, "report": report}, args.output)
    print(report.summary())
    print(f"output written to {args.output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        saved = serialize.load(args.output)
    except (OSError, RuntimeError, EOFError) as err:
        msg = f"cannot read {args.output!r} as a colframe output: {err}"
        raise ColframeError(msg) from err
    print(saved["report"].summary())
    return 0


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.adl.run import main as adl

    return adl(args.options)


if __name__ == "__main__":
    sys.exit(main())
