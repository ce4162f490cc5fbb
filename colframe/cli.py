"""The ``colframe`` command: run a processor over a fileset, inspect and merge saved outputs."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import serialize
from .config import RUNNER_KEYS, executor_from_config, load_config
from .decompression import ZLIB_LIBRARIES
from .envs import _cli as envs_cli
from .errors import (
    ColframeError,
    OutputPathError,
    ProcessorError,
    RunInterrupted,
    SavedOutputError,
)
from .executors import executor_names, get_executor
from .rerun import merge_runs
from .runner import Runner, check_processor

__all__ = ["check_output_path", "load_processor", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ColframeError as err:
        notes = "".join(f"\n  ({note})" for note in getattr(err, "__notes__", ()))
        print(f"colframe: error: {err}{notes}", file=sys.stderr)
        return 1
    except RunInterrupted as stop:  # Ctrl-C: what finished, then the shell's SIGINT code
        if stop.report is not None:
            print(stop.report.summary(), file=sys.stderr)
        print(f"colframe: {stop}", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colframe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(commands)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="run a processor over a fileset")
    run.add_argument("processor", help="MODULE:NAME of a processor class, instance or callable")
    run.add_argument("--fileset", required=True, help="JSON fileset file")
    run.add_argument("--treename", default="Events")
    run.add_argument(
        "--executor",
        default="futures",
        help=f"one of {executor_names()}, or a section of the configuration (e.g. dask_slurm)",
    )
    run.add_argument(
        "--config", default=None, help="configuration file (default: colframe.toml or pyproject.toml)"
    )
    run.add_argument("--workers", type=int, default=None, help="worker processes (futures)")
    run.add_argument("--chunksize", type=int, default=None, help="entries per chunk (100,000)")
    run.add_argument("--maxchunks", type=int, default=None)
    run.add_argument("--fan-in", type=int, default=None, help="partial outputs per merge (20)")
    run.add_argument("--retries", type=int, default=None)
    run.add_argument("--skipbadfiles", action="store_true", help="skip unreadable files")
    run.add_argument(
        "--zlib-library",
        choices=ZLIB_LIBRARIES,
        default=None,
        help="what inflates ZLIB baskets (auto: ISA-L when installed, else the standard library)",
    )
    run.add_argument("--no-status", action="store_true", help="no progress bars")
    run.add_argument("--output", "-o", required=True, help="where to write the merged output")
    run.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="directory (or fsspec URL) where finished chunks are saved; rerunning the same "
        "command with it loads them instead of computing them again",
    )
    run.set_defaults(handler=_run)


def _add_report(commands) -> None:
    report = commands.add_parser("report", help="summarize an output written by `colframe run`")
    report.add_argument("output")
    report.add_argument(
        "--failed-fileset",
        default=None,
        metavar="JSON",
        help="write a fileset of exactly the failed and skipped entry ranges, to re-run",
    )
    report.set_defaults(handler=_report)


def _add_merge(commands) -> None:
    merge = commands.add_parser(
        "merge", help="merge outputs (e.g. a run and the rerun of its failed fileset)"
    )
    merge.add_argument("inputs", nargs="+", help="outputs written by `colframe run` or `merge`")
    merge.add_argument("--output", "-o", required=True, help="where to write the merged output")
    merge.set_defaults(handler=_merge)


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench", help="benchmarks: `colframe bench adl --help` (ADL q1–q8 vs coffea)"
    )
    bench.add_argument("suite", choices=["adl"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="options of the suite")
    bench.set_defaults(handler=_bench)


def load_processor(target: str) -> Any:
    """Import ``MODULE:NAME``; a class is instantiated without arguments.

    Raises ColframeError (ProcessorError when the object is not a processor, is
    None, or its class cannot be created without arguments).
    """
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
    if obj is None:
        msg = f"{target} is None, not a processor: name a processor class or instance"
        raise ProcessorError(msg)
    if isinstance(obj, type):
        obj = _instantiate(obj, target)
    check_processor(obj, target)
    return obj


def _instantiate(cls: type, target: str) -> Any:
    try:
        return cls()
    except TypeError as err:
        problem = f"{type(err).__name__}: {err}"
    except Exception as err:  # the user's constructor may raise anything: one line says it
        msg = f"creating the processor {target}() raised {type(err).__name__}: {err}"
        raise ProcessorError(msg) from err
    msg = (
        f"cannot create the processor {target}() without arguments ({problem}); give its "
        f"parameters defaults, or name a module-level instance (MODULE:my_processor)"
    )
    raise ProcessorError(msg)


def check_output_path(path: str, flag: str = "--output") -> None:
    """Raise OutputPathError unless a file can be written at ``path`` (checked before any work)."""
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        problem = f"is a directory; give a file path such as {target / 'out.pkl'}"
    elif not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        problem = f"cannot be written: {parent} {what} (mkdir -p it, or write elsewhere)"
    else:
        try:  # the one sure test: create a file beside it (permissions, read-only mounts, quota)
            with tempfile.NamedTemporaryFile(dir=parent, prefix=".colframe-probe-"):
                pass
            if target.exists() and not os.access(target, os.W_OK):
                reason = f"{target} is read-only"
                raise PermissionError(reason)
        except OSError as err:
            problem = f"cannot be written: {type(err).__name__}: {err}"
        else:
            return
    msg = f"{flag} {path!r} {problem}"
    raise OutputPathError(msg)


def _run(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    processor = load_processor(args.processor)
    config = load_config(args.config)
    if args.executor in config:
        if args.workers is not None:
            msg = (
                f"--workers does not apply to the configured cluster [{args.executor}]: "
                f"set its size in the configuration (workers, jobs or adapt_max)"
            )
            raise ColframeError(msg)
        executor, options = executor_from_config(args.executor, config)
    else:
        workers = {} if args.workers is None else {"workers": args.workers}
        executor, options = get_executor(args.executor, **workers), {}
    # the Runner options a configuration section may set; given flags win over it
    given = {key: getattr(args, key) for key in RUNNER_KEYS}
    given["skipbadfiles"] = args.skipbadfiles or None  # a store_true flag: False means not given
    options.update({key: value for key, value in given.items() if value is not None})
    runner = Runner(
        executor,
        savemetrics=True,
        status=not args.no_status,
        checkpoint=args.checkpoint,
        **options,
    )
    out, report = runner(args.fileset, args.treename, processor_instance=processor)
    serialize.dump({"output": out, "report": report}, args.output)
    print(report.summary())
    print(f"output written to {args.output}")
    return 0


def _load_saved(path: str) -> dict[str, Any]:
    try:
        saved = serialize.load(path)
    except OSError as err:
        msg = f"cannot read {path!r} as a colframe output: {type(err).__name__}: {err}"
        raise SavedOutputError(msg) from err
    except Exception as err:  # unpickling foreign bytes can raise anything
        msg = (
            f"{path!r} is not an output written by `colframe run` or `colframe merge` "
            f"(it does not load: {type(err).__name__}: {err})"
        )
        raise SavedOutputError(msg) from err
    if not (isinstance(saved, dict) and {"output", "report"} <= saved.keys()):
        msg = f"{path!r} is not an output written by `colframe run` (no output and report in it)"
        raise SavedOutputError(msg)
    return saved


def _report(args: argparse.Namespace) -> int:
    if args.failed_fileset is not None:
        check_output_path(args.failed_fileset, "--failed-fileset")
    report = _load_saved(args.output)["report"]
    print(report.summary())
    if args.failed_fileset is not None:
        _write_failed_fileset(report, args.output, args.failed_fileset)
    return 0


def _write_failed_fileset(report, output: str, path: str) -> None:
    fileset = report.failed_fileset()
    try:
        text = json.dumps(fileset, indent=1)
    except TypeError as err:
        msg = f"the failed fileset cannot be written as JSON: {err} (dataset metadata must be JSON)"
        raise ColframeError(msg) from err
    with serialize.atomic_write(path) as stream:
        stream.write(text.encode())
    if not fileset:
        print(f"nothing failed: {path} holds an empty fileset")
        return
    files = sum(len(dataset["files"]) for dataset in fileset.values())
    print(
        f"{files} file(s) with failed entries written to {path}; re-run them with "
        f"`colframe run PROCESSOR --fileset {path} -o rerun.pkl`, then "
        f"`colframe merge {output} rerun.pkl -o merged.pkl`"
    )


def _merge(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    runs = []
    for path in args.inputs:
        saved = _load_saved(path)
        runs.append((saved["output"], saved["report"]))
    try:
        output, report = merge_runs(runs)
    except ColframeError as err:
        err.add_note(f"while merging {', '.join(args.inputs)}")
        raise
    serialize.dump({"output": output, "report": report}, args.output)
    print(report.summary())
    print(f"merged output written to {args.output}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    # The benchmarks are repository folders, not part of the installed package: run the
    # suite's module in a child Python with the checkout on its path.
    root = _checkout()
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", f"benchmarks.{args.suite}.run", *args.options]
    return subprocess.run(command, env={**os.environ, "PYTHONPATH": path}, check=False).returncode


def _checkout() -> Path:
    """The colframe source checkout holding ``benchmarks/``: the installed package's, or CWD."""
    candidates = [Path(__file__).resolve().parents[1], Path.cwd()]
    for root in candidates:
        if (root / "benchmarks" / "adl" / "run.py").is_file():
            return root
    msg = (
        f"colframe bench needs a colframe source checkout (its benchmarks/ folder), found none "
        f"at {' or '.join(map(str, candidates))}: run it from a clone of the repository"
    )
    raise ColframeError(msg)


#: each adds one subcommand to the parser's subparsers; a new command is one more entry
_SUBCOMMANDS = [_add_run, _add_report, _add_merge, _add_bench, envs_cli.add_parser]


if __name__ == "__main__":
    sys.exit(main())
