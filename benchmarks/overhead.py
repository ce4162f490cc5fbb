"""Per-chunk overhead of each executor: a no-op processor over many small chunks.

    python -m benchmarks.overhead --events 40000 --chunksize 100 --workers 2

For iterative, futures(workers), dask(workers), TaskVine(workers) serverless and in task
mode, and Work Queue(workers) it measures, after one warm-up
run (worker start-up and imports are reported separately, not in the figures):

- a whole Runner run whose processor only returns ``{"n": len(events)}``: wall
  ms per chunk, and CPU ms per chunk of all processes (driver, scheduler,
  workers) spent *outside* the chunks themselves (opening the file and building
  NanoEvents is the chunk's own cost, the same on every executor); CPU figures do
  not depend on how busy the machine is, wall figures do;
- ``submit_all`` on a function that returns its argument: wall and CPU ms per
  task (the executor's own scheduling cost, no I/O).

The process-per-task engines (TaskVine task mode, Work Queue) start a Python and import
colframe for every task, about a second each: they run ``--slow-chunks`` chunks (and as
many submit_all tasks) instead of all of them, which does not change a per-chunk figure.

For TaskVine it also splits each call's wall time from the manager's transaction log
(``vine-logs/transactions``): dispatch to the worker's start, the worker's run of the call
(library or task, from TaskVine's own ``time_worker_start``/``end``), and the worker's end
to the call's return in the manager. ``--only taskvine`` runs the rows whose name holds it.

Prints a table and writes ``benchmarks/results/executors_overhead.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import colframe
from benchmarks._common import RESULTS, machine, markdown_table, timed, versions
from benchmarks.adl.generate import ensure_dataset
from colframe.executors import DaskExecutor, FuturesExecutor, IterativeExecutor
from colframe.executors.taskvine import TaskVineExecutor
from colframe.executors.workqueue import WorkQueueExecutor

__all__ = ["count", "main"]


def count(events) -> dict:
    """The no-op processor: touches no column."""
    return {"n": len(events)}


def _identity(x):
    return x


def _executors(workers: int, slow_chunks: int):
    """(name, executor, most chunks to run or None for all)."""
    yield "iterative", IterativeExecutor(), None
    yield f"futures({workers})", FuturesExecutor(workers=workers), None
    yield f"dask({workers})", DaskExecutor(workers=workers, dashboard_address=":0"), None
    direct = TaskVineExecutor(workers=workers, exec_mode="direct")  # the default
    yield f"taskvine({workers}) serverless direct", direct, None
    fork = TaskVineExecutor(workers=workers, exec_mode="fork")
    yield f"taskvine({workers}) serverless fork", fork, None
    tasks = TaskVineExecutor(workers=workers, mode="tasks")
    yield f"taskvine({workers}) tasks", tasks, slow_chunks
    yield f"workqueue({workers})", WorkQueueExecutor(workers=workers), slow_chunks


def call_breakdown(run_info: Path, category: str = "processing") -> dict[str, float] | None:
    """Median ms per call, by phase, of the ``category`` calls (chunks, ``submit_all``) in the
    TaskVine transaction logs under ``run_info``: dispatched -> worker start -> worker end ->
    returned to the manager."""
    phases: dict[str, list[float]] = {"to worker": [], "on worker": [], "back to manager": []}
    for log in run_info.glob("*/vine-logs/transactions"):
        running: dict[str, float] = {}
        wanted: set[str] = set()
        for line in log.read_text().splitlines():
            fields = line.split(" ", 5)
            if line.startswith("#") or len(fields) < 6 or fields[2] != "TASK":
                continue
            when, task, state = int(fields[0]) / 1e6, fields[3], fields[4]
            if state == "READY" and fields[5].split(" ", 1)[0] == category:
                wanted.add(task)
            elif state == "RUNNING" and task in wanted:
                running[task] = when
            elif state == "RETRIEVED" and task in running:
                measured = json.loads(fields[5][fields[5].rindex("{") :])
                if "time_worker_start" not in measured:  # a lost call
                    continue
                start, end = measured["time_worker_start"][0], measured["time_worker_end"][0]
                phases["to worker"].append(start - running[task])
                phases["on worker"].append(end - start)
                phases["back to manager"].append(when - end)
    if not phases["on worker"]:
        return None
    return {name: 1e3 * statistics.median(values) for name, values in phases.items()}


def _measure(executor, fileset, events: int, chunksize: int, tasks: int, limit) -> list[object]:
    if limit is not None:
        events, tasks = min(events, limit * chunksize), min(tasks, limit)
    options = {"chunksize": chunksize, "status": False, "maxchunks": limit}
    runner = colframe.Runner(executor, metadata_cache=False, **options)
    with timed() as startup:
        executor.__enter__()
    try:
        runner(fileset, "Events", processor_instance=count)  # warm-up: imports, page cache
        with timed() as run:
            out, report = colframe.Runner(executor, savemetrics=True, **options)(
                fileset, "Events", processor_instance=count
            )
        if out["n"] != events or not report.complete:
            msg = f"{executor!r} processed {out['n']} of {events} events"
            raise RuntimeError(msg)
        list(executor.submit_all(_identity, range(tasks)))  # warm-up
        with timed() as plain:
            results = list(executor.submit_all(_identity, range(tasks)))
        if len(results) != tasks:
            msg = f"{executor!r} returned {len(results)} of {tasks} results"
            raise RuntimeError(msg)
    finally:
        executor.__exit__(None, None, None)
    chunks = report.chunks_total
    inside = report.cpu_seconds["chunks (workers)"]
    phases = call_breakdown(executor.run_info) if isinstance(executor, TaskVineExecutor) else None
    split = " / ".join(f"{v:.1f}" for v in phases.values()) if phases else ""
    return [
        chunks,
        f"{1e3 * run.wall / chunks:.1f}",
        f"{1e3 * inside / chunks:.1f}",
        f"{1e3 * (run.cpu - inside) / chunks:.1f}",
        f"{1e3 * plain.wall / tasks:.2f}",
        f"{1e3 * plain.cpu / tasks:.2f}",
        f"{startup.wall:.2f}",
        split,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--chunksize", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=1_000, help="tasks of the submit_all test")
    parser.add_argument(
        "--slow-chunks", type=int, default=40, help="chunks for the process-per-task engines"
    )
    parser.add_argument("--only", default="", help="run only the executors whose name holds this")
    parser.add_argument("--output", default=str(RESULTS / "executors_overhead.md"))
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="colframe-overhead-") as tmp:
        (path,) = ensure_dataset(Path(tmp), args.events, n_files=1, seed=3)
        fileset = {"synth": [str(path)]}
        rows = []
        for name, executor, limit in _executors(args.workers, args.slow_chunks):
            if args.only not in name:
                continue
            measured = _measure(executor, fileset, args.events, args.chunksize, args.tasks, limit)
            row = [name, *measured]
            print(" ".join(f"{cell!s:>10}" for cell in row), file=sys.stderr)
            rows.append(row)
    header = [
        "executor",
        "chunks",
        "wall ms / chunk",
        "CPU ms / chunk inside chunks",
        "CPU ms / chunk outside chunks (overhead)",
        "submit_all wall ms / task",
        "submit_all CPU ms / task",
        "start-up s",
        "TaskVine median ms per call: to worker / on worker / back",
    ]
    table = markdown_table(header, rows)
    command = (
        f"python -m benchmarks.overhead --events {args.events} --chunksize {args.chunksize} "
        f"--workers {args.workers} --tasks {args.tasks} --slow-chunks {args.slow_chunks}"
        + (f" --only {args.only}" if args.only else "")
    )
    text = "\n".join(
        [
            "# Executors: per-chunk overhead",
            "",
            f"- command: `{command}`",
            (
                f"- data: one synthetic ADL file of {args.events:,} events "
                f"(benchmarks/adl/generate.py, seed 3), chunks of {args.chunksize} entries"
            ),
            "- processor: `{'n': len(events)}` (reads no column); one warm-up run before timing",
            (
                f"- machine: {machine()}; load average before the run {load:.1f} (wall figures "
                f"suffer from other load, CPU figures much less)"
            ),
            "- versions: " + versions("colframe", "coffea", "dask", "distributed", "uproot"),
            "",
            table,
            "",
            "CPU outside chunks is the CPU of every process (driver, dask scheduler, nannies,",
            "workers) minus the CPU measured inside the chunks: the executor's and the Runner's",
            "cost per chunk; the goal for dask is at most 10 ms. CPU inside chunks is measured",
            "per process, so in a dask worker it also counts the worker's own threads (event",
            "loop, heartbeats) while a chunk runs.",
            "",
            "The TaskVine split is read from the manager's transaction log, over the row's",
            "`processing` calls (chunks of both runs, submit_all's tasks): the median time from dispatch to the",
            "worker's start, the worker's own run of the call, and from its end to the call's",
            "return in the manager. The worker's run includes unpickling the chunk and calling",
            "the library; the chunk's own work (opening the file, NanoEvents) is inside it.",
            "",
        ]
    )
    print(table)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
