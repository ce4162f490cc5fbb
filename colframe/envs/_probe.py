"""Probe a worker (imports, Python and package versions) and compare it with the driver.

Standard library only and importable on its own, so a probe runs in an environment without
colframe: ``python _probe.py MODULE...`` prints the report as JSON.
"""

from __future__ import annotations

import importlib
import os
import platform
import socket
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, NamedTuple

__all__ = ["Problem", "compare", "format_problems", "probe", "probe_task"]

# packaging tools whose versions do not matter to a task
_IGNORED = {"pip", "setuptools", "wheel", "uv"}


class Problem(NamedTuple):
    """One row of the preflight table."""

    worker: str
    problem: str
    fix: str


def probe(modules: Iterable[str] = ()) -> dict[str, Any]:
    """Import ``modules`` here and report Python, installed versions and import errors.

    Picklable (a plain module-level function); run it once per worker.
    """
    imports: dict[str, str | None] = {}
    for name in modules:
        try:
            importlib.import_module(name)
            imports[name] = None
        except Exception as err:  # noqa: BLE001 (any import-time failure is what the report is for)
            imports[name] = f"{type(err).__name__}: {err}"
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(_normalize(name), dist.version)
    return {
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "python": platform.python_version(),
        "executable": sys.executable,
        "environment": os.environ.get("PONCHO_PREFIX") or sys.prefix,
        "imports": imports,
        "versions": dict(sorted(versions.items())),
    }


def probe_task(modules: list[str], _arg: object = None) -> dict[str, Any]:
    """:func:`probe` as an executor's task (which passes one argument)."""
    return probe(modules)


def compare(
    driver: Mapping[str, Any], report: Mapping[str, Any], *, against: str = "driver"
) -> list[Problem]:
    """Problems of a worker's probe ``report`` against the driver's (a probe report too,
    or a plain ``{package: version}`` mapping). Empty when the worker can run the tasks.
    ``against`` names the reference in the messages (an environment's name).
    """
    worker = report.get("worker", "worker")
    drv_versions = driver.get("versions", driver)
    problems = []
    if "python" in driver and report["python"].split(".")[:2] != driver["python"].split(".")[:2]:
        problems.append(
            Problem(
                worker,
                f"Python {report['python']} ({report['executable']}), {against} has {driver['python']}",
                f"run the workers with Python {driver['python']} (an environment packed by "
                f"`colframe env pack`, environment=...)",
            )
        )
    for module, error in report["imports"].items():
        if error is not None:
            dist = _dist_of(module, drv_versions)
            want = f"{dist}=={drv_versions[dist]}" if dist in drv_versions else module
            problems.append(
                Problem(
                    worker,
                    f"cannot import {module}: {error}",
                    f"add {want} to the environment's spec, or pack it with `colframe env pack "
                    f"--from-current`",
                )
            )
    for name, version in sorted(report["versions"].items()):
        wanted = drv_versions.get(name)
        if wanted is not None and wanted != version and name not in _IGNORED:
            problems.append(
                Problem(
                    worker,
                    f"{name} {version}, {against} has {wanted}",
                    f"pin {name}=={wanted} in the environment's spec (or `colframe env pack "
                    f"--from-current`)",
                )
            )
    return problems


def format_problems(problems: Iterable[Problem]) -> str:
    """The problems as a plain-text table (worker | problem | fix)."""
    rows = [Problem("worker", "problem", "fix"), *problems]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{r.worker:<{widths[0]}}  {r.problem:<{widths[1]}}  {r.fix}" for r in rows]
    lines.insert(1, "-" * min(120, sum(widths) + 4 + max(len(r.fix) for r in rows)))
    return "\n".join(lines)


def _dist_of(module: str, known: Mapping[str, str]) -> str:
    """The distribution providing top-level ``module`` on the driver (the module's name if unknown)."""
    top = module.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        return _normalize(dist)
    return _normalize(top) if _normalize(top) in known else top


def _normalize(name: str) -> str:
    return "-".join(p for p in name.lower().replace("_", "-").replace(".", "-").split("-") if p)


if __name__ == "__main__":
    import json

    print(json.dumps(probe(sys.argv[1:])))
