"""Time to the first task over N files from a warm metadata cache (no file is opened).

    python -m benchmarks.scale_warm_plan --files 100000

Makes N empty placeholder files under ``--dir`` (the cache keys on path, size and
mtime, so a warm plan never reads them) and stores a record for each in a fresh
metadata cache. Then, in turn (``--repeat`` times each, alternating):

- first task: a real ``Runner`` call from the fileset to its first chunk's submission
  (normalizing the fileset, one cache lookup per file, the plan), on an executor
  that stops the run there;
- ``Runner.plan``: the same, plus the list of every chunk (10 per file), which a
  run never makes.

Prints one line per measurement; ``--profile`` prints the top of a cProfile of one
first-task run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


class _FirstTask(Exception):
    """Raised by the executor at the first chunk's submission: the run stops there."""


def _first_task_executor():
    from colframe.executors import IterativeExecutor

    class FirstTask(IterativeExecutor):
        def _launch(self, task):
            if task.kind == "process":
                raise _FirstTask
            super()._launch(task)

    return FirstTask()


def _first_task(runner_options: dict, fileset: dict) -> float:
    import colframe

    runner = colframe.Runner(_first_task_executor(), **runner_options)
    tic = time.perf_counter()
    try:
        runner(fileset, processor_instance=lambda events: {})
    except _FirstTask:
        return time.perf_counter() - tic
    msg = "the run ended without submitting a chunk"
    raise RuntimeError(msg)


def _plan(runner_options: dict, fileset: dict, files: int) -> float:
    import colframe

    runner = colframe.Runner(**runner_options)
    tic = time.perf_counter()
    _, report = runner.plan(fileset)
    seconds = time.perf_counter() - tic
    assert report.files_from_cache == files, report.files_from_cache
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", default="/tmp/colframe-warm-plan")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    from colframe.plan import FileMeta
    from colframe.preprocess import MetadataCache

    root = Path(args.dir) / f"n{args.files}"
    root.mkdir(parents=True, exist_ok=True)
    paths = [str(root / f"f{i:07d}.root") for i in range(args.files)]
    for path in paths:
        Path(path).touch()
    fileset = {"d": {"files": dict.fromkeys(paths, "Events")}}
    with tempfile.TemporaryDirectory(prefix="colframe-cache-") as cache_dir:
        cache = MetadataCache(cache_dir)
        tic = time.perf_counter()
        for i, path in enumerate(paths):
            cache.put(FileMeta(path, "Events", 10_000, f"00000000-0000-0000-0000-{i:012d}"))
        print(f"filling the cache: {time.perf_counter() - tic:.2f} s")
        options = {"chunksize": 1_000, "metadata_cache": cache_dir, "status": False}
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(_first_task, options, fileset)
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)
            return
        for _ in range(args.repeat):
            first = _first_task(options, fileset)
            print(
                f"{args.files:,} files, {args.files * 10:,} chunks: first task after "
                f"{first:.2f} s ({first / args.files * 1e6:.0f} µs/file)"
            )
            plan = _plan(options, fileset, args.files)
            print(
                f"{args.files:,} files, {args.files * 10:,} chunks: Runner.plan (chunks listed) "
                f"{plan:.2f} s ({plan / args.files * 1e6:.0f} µs/file)"
            )


if __name__ == "__main__":
    main()
