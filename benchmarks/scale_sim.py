"""Driver cost at scale, on a SIMULATED cluster (benchmarks/simulated_cluster.py).

    python -m benchmarks.scale_sim                          # 1e3..1e6 chunks, 10..5000 workers
    python -m benchmarks.scale_sim --chunks 1e3,1e4 --workers 10,100
    python -m benchmarks.scale_sim --chunks 1e7 --workers 5000 --append
    python -m benchmarks.scale_sim --profile --chunks 1e5 --workers 1000

Every point runs ``colframe.Runner`` (the real planning, preprocessing phase,
scheduler, merge tree and report) in a fresh Python against a SimulatedCluster
whose virtual workers take simulated time; no file is read. A point reports:

- driver CPU per chunk: this process's CPU time minus the simulator's own
  (timed inside the simulator), divided by the chunks;
- driver peak memory: peak RSS (Linux ``VmHWM``, reset after the imports) minus
  the RSS after the imports, simulator state included (a few bytes per task in flight);
- time to first task: real seconds from the call until the first chunk is submitted;
- merge-tree depth and the partial outputs (refs) alive at peak;
- makespan / ideal (ideal: total task time, every attempt, over the cores) and
  makespan / max(ideal, critical path), in simulated time.

Files hold ``--chunks-per-file`` chunks (100 by default: 1e7 chunks are 100,000 files).
Prints a table and, without ``--no-write``, writes the section to
``benchmarks/results/scale_sim.json`` (the figures ``scale.md`` quotes).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, markdown_table

__all__ = ["main", "run_point"]

JSON = RESULTS / "scale_sim.json"
CHUNKSIZE = 1000


def _rss(field: str) -> int:
    with Path("/proc/self/status").open() as stream:
        for line in stream:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    msg = f"no {field} in /proc/self/status: this benchmark measures memory on Linux only"
    raise RuntimeError(msg)


def _noop(events):
    return {"n": len(events)}


def run_point(
    chunks: int,
    workers: int,
    *,
    cores: int = 4,
    chunks_per_file: int = 100,
    fan_in: int = 20,
    distribution: str = "lognormal",
    failure_rate: float = 0.0,
    worker_loss_rate: float = 0.0,
    ramp_seconds: float = 0.0,
    profile: str | None = None,
) -> dict[str, Any]:
    """One simulated run in this process; the figures as a dict."""
    import colframe
    from benchmarks.simulated_cluster import SimulatedCluster

    files = max(1, chunks // chunks_per_file)
    per_file = chunks // files
    fileset = {"sim": {"files": {f"/simulated/sim/f{i:07d}.root": "Events" for i in range(files)}}}
    cluster = SimulatedCluster(
        workers,
        cores,
        distribution=distribution,
        entries_per_file=per_file * CHUNKSIZE,
        failure_rate=failure_rate,
        worker_loss_rate=worker_loss_rate,
        ramp_seconds=ramp_seconds,
    )
    runner = colframe.Runner(
        cluster,
        chunksize=CHUNKSIZE,
        fan_in=fan_in,
        metadata_cache=False,
        status=True,  # the bars' cost counts (stderr is not a terminal: no live display)
        savemetrics=True,
    )
    first_submit: list[float] = []
    launch = cluster._launch

    def spy(task):  # the real time of the first chunk's submission
        if not first_submit and task.kind == "process":
            first_submit.append(time.perf_counter())
        launch(task)

    cluster._launch = spy  # type: ignore[method-assign]
    gc.collect()
    base = _rss("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    profiler = cProfile.Profile() if profile else None
    tic, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    out, report = runner(fileset, processor_instance=_noop)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - tic
    peak = _rss("VmHWM") - base
    stats = cluster.stats_
    planned = files * per_file
    if report.chunks_ok != planned or out["events"] != planned * CHUNKSIZE:
        msg = f"simulated run lost chunks: {report.chunks_ok} ok of {planned}, {out}"
        raise RuntimeError(msg)
    driver = cpu - stats.sim_cpu_seconds
    ideal = cluster.ideal_makespan()
    bound = max(ideal, cluster.critical_path(fan_in))
    return {
        "chunks": planned,
        "files": files,
        "workers": workers,
        "cores": cores,
        "distribution": distribution,
        "failure_rate": failure_rate,
        "worker_loss_rate": worker_loss_rate,
        "driver_cpu_s": round(driver, 3),
        "driver_us_per_chunk": round(driver / planned * 1e6, 2),
        "sim_cpu_s": round(stats.sim_cpu_seconds, 3),
        "wall_s": round(wall, 2),
        "peak_mb": round(peak / 2**20, 1),
        "first_task_s": round(first_submit[0] - tic, 3),
        "first_task_sim_s": round(stats.first_process_at or 0.0, 2),
        "merge_depth": stats.merge_depth,
        "refs_alive_peak": stats.refs_alive_peak,
        "makespan_s": round(stats.makespan, 1),
        "ideal_s": round(ideal, 1),
        "makespan_over_ideal": round(stats.makespan / ideal, 4) if ideal else None,
        "makespan_over_bound": round(stats.makespan / bound, 4) if bound else None,
        "retried": report.chunks_retried,
        "workers_lost": stats.workers_lost,
    }


COLUMNS = [
    ("chunks", "chunks"),
    ("workers", "workers x cores"),
    ("distribution", "durations"),
    ("driver_us_per_chunk", "driver CPU µs/chunk"),
    ("peak_mb", "driver peak MB"),
    ("first_task_s", "first task s"),
    ("merge_depth", "merge depth"),
    ("refs_alive_peak", "refs alive peak"),
    ("makespan_over_ideal", "makespan/ideal"),
    ("makespan_over_bound", "makespan/bound"),
    ("retried", "retried"),
    ("sim_cpu_s", "simulator CPU s"),
]


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``rows``."""
    body = []
    for row in rows:
        cells = []
        for key, _ in COLUMNS:
            value = row[key]
            if key == "chunks":
                value = f"{value:,}"
            elif key == "workers":
                value = f"{value} x {row['cores']}"
            elif key == "distribution":
                extra = []
                if row["failure_rate"]:
                    extra.append(f"fail {row['failure_rate']:g}")
                if row["worker_loss_rate"]:
                    extra.append(f"loss {row['worker_loss_rate']:g}/s")
                value = value + (f" ({', '.join(extra)})" if extra else "")
            cells.append(value)
        body.append(cells)
    return markdown_table([title for _, title in COLUMNS], body)


def _counts(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", default="1e3,1e4,1e5,1e6")
    parser.add_argument("--workers", default="10,100,1000,5000")
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--chunks-per-file", type=int, default=100)
    parser.add_argument("--fan-in", type=int, default=20)
    parser.add_argument("--distribution", default="lognormal", choices=["uniform", "lognormal"])
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--worker-loss-rate", type=float, default=0.0)
    parser.add_argument("--profile", action="store_true", help="cProfile one point, print the top")
    parser.add_argument("--append", action="store_true", help="add the rows to the JSON file")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a JSON point, run in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_point(**json.loads(args.one))))
        return
    rows = []
    for chunks in _counts(args.chunks):
        for workers in _counts(args.workers):
            point = {
                "chunks": chunks,
                "workers": workers,
                "cores": args.cores,
                "chunks_per_file": args.chunks_per_file,
                "fan_in": args.fan_in,
                "distribution": args.distribution,
                "failure_rate": args.failure_rate,
                "worker_loss_rate": args.worker_loss_rate,
            }
            if args.profile:
                point["profile"] = "/tmp/colframe-scale.prof"
            command = [sys.executable, "-m", "benchmarks.scale_sim", "--one", json.dumps(point)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.stderr.write(done.stderr)
                raise SystemExit(done.returncode)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
            if args.profile:
                pstats.Stats(point["profile"]).sort_stats("tottime").print_stats(25)
    print(machine())
    print(table(rows))
    if args.no_write or args.profile:
        return
    previous = json.loads(JSON.read_text()) if args.append and JSON.exists() else []
    JSON.write_text(json.dumps(previous + rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
