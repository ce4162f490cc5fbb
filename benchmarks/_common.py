"""Shared helpers of the benchmark scripts: machine description, timing, tables."""

from __future__ import annotations

import os
import platform
import resource
import time
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

__all__ = ["RESULTS", "Timer", "machine", "markdown_table", "timed", "versions"]

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
