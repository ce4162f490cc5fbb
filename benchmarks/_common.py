"""Shared helpers of the benchmark scripts: machine description, timing, tables, contenders."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "RESULTS",
    "STDLIB_PREFIX",
    "Contender",
    "Timer",
    "contenders",
    "machine",
    "markdown_table",
    "same_output",
    "timed",
    "versions",
]

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """One line: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def versions(*packages: str) -> str:
    """``name version`` pairs of the packages that matter for a benchmark."""
    return ", ".join(f"{p} {version(p)}" for p in packages)


class Timer:
    """Wall and CPU (this process + finished children) seconds of a block."""

    wall: float = 0.0
    cpu: float = 0.0


def _cpu() -> float:
    """CPU seconds of this process, its reaped children, and its live descendants.

    Live descendants matter for pools that outlive a run (coffea's loky workers,
    dask workers): their CPU is not in RUSAGE_CHILDREN until they exit.
    """
    import psutil

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue  # exited meanwhile: counted in RUSAGE_CHILDREN once reaped
        total += times.user + times.system
    return total


@contextmanager
def timed():
    """``with timed() as t:`` then ``t.wall`` and ``t.cpu`` (this process and its descendants)."""
    timer = Timer()
    wall, cpu = time.perf_counter(), _cpu()
    yield timer
    timer.wall = time.perf_counter() - wall
    timer.cpu = _cpu() - cpu


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def same_output(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same keys, equal plain values (``nevents``), histograms equal bin by bin.

    Histograms compare their bin edges and their values with flow bins; labels and metadata are
    not compared (coffea's and colframe's outputs come from the same processor anyway).
    """
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        if hasattr(left, "axes") != hasattr(right, "axes"):
            return False
        if not hasattr(left, "axes"):
            if left != right:
                return False
            continue
        if len(left.axes) != len(right.axes) or not all(
            np.array_equal(p.edges, q.edges) for p, q in zip(left.axes, right.axes, strict=True)
        ):
            return False
        if not np.array_equal(left.values(flow=True), right.values(flow=True)):
            return False
    return True


STDLIB_PREFIX = "colframe (stdlib zlib) "


class Contender(NamedTuple):
    """One runner of a comparison: its name, the cores it uses, and a factory of fresh runners.

    ``make()`` returns a callable ``runner(fileset, processor_instance=..., treename=...)``
    returning ``(output, metrics)``.
    """

    name: str
    cores: int
    make: Callable[[], Any]


def contenders(
    workers: int,
    chunksize: int,
    stack: contextlib.ExitStack,
    schema: Any,
    taskvine: bool = True,
) -> list[Contender]:
    """colframe Iterative/Futures/(stdlib zlib) Futures/Dask and coffea Iterative/Futures.

    colframe's executors are started here, once (``stack`` closes them), and serve every run,
    as coffea's futures pool (loky's reusable executor) does: a run's wall time then excludes
    starting a pool or a dask cluster. colframe runs with its default inflater (ISA-L when
    installed); the ``colframe (stdlib zlib)`` row inflates with the standard library's zlib,
    as coffea does, to separate that gain from the framework's. Both frameworks keep their
    default metadata caches (colframe's on-disk cache, coffea's process-wide one). The Dask row
    is left out when dask.distributed is not installed.
    """
    from coffea import processor as cp

    import colframe
    from colframe.executors import get_executor

    def ours(name: str, zlib_library: str = "auto", **options: Any) -> Callable[[], Any]:
        executor = stack.enter_context(get_executor(name, **options))
        return lambda: colframe.Runner(
            executor,
            schema=schema,
            chunksize=chunksize,
            status=False,
            savemetrics=True,
            zlib_library=zlib_library,
        )

    rows = [
        Contender("colframe Iterative", 1, ours("iterative")),
        Contender(f"colframe Futures({workers})", workers, ours("futures", workers=workers)),
        Contender(
            f"{STDLIB_PREFIX}Futures({workers})", workers, ours("futures", "zlib", workers=workers)
        ),
    ]
    if importlib.util.find_spec("distributed") is not None:
        dask = ours("dask", workers=workers, dashboard_address=":0")
        rows.append(Contender(f"colframe Dask({workers})", workers, dask))
    if taskvine:
        colframe_taskvine = ours("taskvine", workers=workers)
        rows += taskvine_contenders(workers, chunksize, stack, schema, colframe_taskvine)
        # Work Queue: a PythonTask per chunk and merge (no libraries), outputs via the manager
        rows.append(
            Contender(f"colframe WorkQueue({workers})", workers, ours("workqueue", workers=workers))
        )
    rows += [
        Contender(
            "coffea Iterative",
            1,
            lambda: cp.Runner(
                cp.IterativeExecutor(status=False),
                schema=schema,
                chunksize=chunksize,
                savemetrics=True,
            ),
        ),
        Contender(
            f"coffea Futures({workers})",
            workers,
            lambda: cp.Runner(
                cp.FuturesExecutor(workers=workers, status=False),
                schema=schema,
                chunksize=chunksize,
                savemetrics=True,
            ),
        ),
    ]
    return rows


def taskvine_contenders(
    workers: int, chunksize: int, stack: contextlib.ExitStack, schema: Any, ours: Callable[[], Any]
) -> list[Contender]:
    """colframe TaskVine and coffea's TaskVineExecutor, each with ``workers`` local vine_workers.

    colframe's manager and workers start once, like its other executors. coffea's executor
    starts a manager on a fixed port for every run; the same local workers serve each of
    them (a vine_worker reconnects to the next manager on that port), so neither side pays
    worker start-up inside a timed run.
    """
    import socket

    from coffea import processor as cp

    from colframe.executors._local_workers import LocalWorkers

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    stack.enter_context(LocalWorkers("vine_worker", "localhost", port, workers))
    staging = stack.enter_context(tempfile.TemporaryDirectory(prefix="coffea-vine-"))

    def coffea_taskvine() -> Any:
        # the previous run's manager holds the port until it is collected: seen as
        # "Could not create manager on port N" in the q5 round of a 2M-event run
        gc.collect()
        executor = cp.TaskVineExecutor(
            port=port, filepath=staging, cores=1, status=False, treereduction=20
        )
        return cp.Runner(executor, schema=schema, chunksize=chunksize, savemetrics=True)

    return [
        Contender(f"colframe TaskVine({workers})", workers, ours),
        Contender(f"coffea TaskVine({workers})", workers, coffea_taskvine),
    ]
