"""``preflight=True``: probe the workers before the first task and stop with one table.

Every executor runs the probe as ordinary tasks (one per slot: per worker process,
or per connected worker's core), in the environment the tasks will run in, so a
worker that cannot import the processor's modules, or has other versions than
the driver, stops the run before any chunk instead of failing every chunk.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from ..errors import PreflightError
from ..results import Err, Result
from ._needs import needed_modules
from ._probe import Problem, _normalize, compare, format_problems, probe, probe_task

__all__ = ["check", "check_manifest", "probe_function"]

log = logging.getLogger(__name__)


def probe_function(function: Any) -> tuple[Any, list[str]]:
    """The probe task for the workers that will run ``function``, and the modules it imports."""
    modules = needed_modules(function)
    return functools.partial(probe_task, modules), modules


def check(results: Iterable[Result], modules: list[str], where: str) -> None:
    """Compare the probes' ``results`` with the driver; raise PreflightError with the table."""
    driver = probe()
    problems: list[Problem] = []
    workers = set()
    for result in results:
        if isinstance(result, Err):
            failure = result.failure
            problems.append(
                Problem(
                    "?",
                    f"the probe task failed: {failure.exc_type}: {failure.message.splitlines()[0]}",
                    "the workers' Python must import colframe and cloudpickle: give environment= "
                    "(colframe env pack) or start the workers inside one",
                )
            )
            continue
        report = result.value
        workers.add(report["worker"])
        problems.extend(compare(driver, report))
    if problems:
        rows = _grouped(problems)
        msg = (
            f"preflight: the workers of {where} cannot run this run's tasks; nothing was "
            f"processed:\n{format_problems(rows)}"
        )
        raise PreflightError(msg, rows)
    log.info(
        "preflight: %d worker process(es) of %s import %s at the driver's versions",
        len(workers),
        where,
        ", ".join(modules) or "colframe",
    )


def check_manifest(manifest: dict[str, Any], reports: Iterable[dict[str, Any]], name: str) -> None:
    """Compare workers' probe ``reports`` with an environment's manifest; PreflightError if any differ."""
    packed = {
        "python": manifest["python"]["version"],
        "versions": {_normalize(n): v for n, v in manifest["packages"].items()},
    }
    problems: list[Problem] = []
    fix = f"start the worker inside the environment: colframe env run {name} -- dask worker ..."
    for report in reports:
        problems.extend(compare(packed, report, against=name))
        missing = sorted(set(packed["versions"]) - set(report["versions"]))
        problems.extend(
            Problem(report["worker"], f"{n} missing ({name} has {packed['versions'][n]})", fix)
            for n in missing
        )
    if problems:
        rows = _grouped(problems)
        msg = f"the workers do not run environment {name}:\n{format_problems(rows)}"
        raise PreflightError(msg, rows)


def _grouped(problems: list[Problem]) -> list[Problem]:
    """One row per (problem, fix), naming the first worker and how many more have it."""
    rows: dict[tuple[str, str], list[str]] = {}
    for p in problems:
        rows.setdefault((p.problem, p.fix), []).append(p.worker)
    return [
        Problem(ws[0] + (f" (+{len(ws) - 1} more)" if len(ws) > 1 else ""), problem, fix)
        for (problem, fix), ws in rows.items()
    ]
