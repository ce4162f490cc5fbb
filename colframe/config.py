"""Named executor configurations: ``colframe.toml`` or ``[tool.colframe]`` in pyproject.toml.

Each section names a backend a run can pick with ``colframe run --executor NAME``
or :func:`executor_from_config`::

    [dask_slurm]               # backend taken from the name, or set backend = "slurm"
    cores = 4                  # per batch job
    memory = "8GB"
    walltime = "01:00:00"
    queue = "short"
    adapt_max = 50             # adaptive scaling up to 50 jobs (or jobs = N for a fixed size)
    chunksize = 200_000        # Runner options may sit beside the cluster's

Backends: ``local`` (a distributed LocalCluster of ``workers`` processes),
``slurm``, ``condor``, ``pbs`` (dask-jobqueue's SLURMCluster, HTCondorCluster,
PBSCluster; every other key is passed to the cluster class).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import extras
from .errors import ExecutorError

if TYPE_CHECKING:
    from .executors import Executor

__all__ = ["BACKENDS", "RUNNER_KEYS", "executor_from_config", "jobqueue_cluster", "load_config"]

BACKENDS = {
    "local": None,
    "slurm": "SLURMCluster",
    "condor": "HTCondorCluster",
    "pbs": "PBSCluster",
}
RUNNER_KEYS = frozenset(
    {"chunksize", "maxchunks", "retries", "fan_in", "skipbadfiles", "zlib_library"}
)
_SCALING_KEYS = frozenset({"adapt_max", "adapt_min", "jobs"})


def load_config(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Sections of ``path``, else of ``./colframe.toml``, else ``[tool.colframe]`` of pyproject.toml."""
    if path is not None:
        return _read(Path(path), table=None if Path(path).name != "pyproject.toml" else "tool")
    if Path("colframe.toml").exists():
        return _read(Path("colframe.toml"), table=None)
    if Path("pyproject.toml").exists():
        return _read(Path("pyproject.toml"), table="tool")
    return {}


def _read(path: Path, table: str | None) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        msg = f"configuration file {str(path)!r} does not exist"
        raise ExecutorError(msg) from None
    except tomllib.TOMLDecodeError as err:
        msg = f"configuration file {str(path)!r} is not valid TOML: {err}"
        raise ExecutorError(msg) from None
    if table is not None:
        data = data.get("tool", {}).get("colframe", {})
    return {name: dict(section) for name, section in data.items() if isinstance(section, Mapping)}


def executor_from_config(
    name: str, config: Mapping[str, Mapping[str, Any]]
) -> tuple[Executor, dict[str, Any]]:
    """``(executor, runner_options)`` for section ``name`` of ``config``."""
    if name not in config:
        msg = f"no section [{name}] in the colframe configuration; sections: {sorted(config)}"
        raise ExecutorError(msg)
    section = dict(config[name])
    backend = section.pop("backend", name.removeprefix("dask_"))
    if backend not in BACKENDS:
        msg = (
            f"[{name}]: unknown backend {backend!r}; use one of {sorted(BACKENDS)} "
            f"(set backend = ... or name the section dask_<backend>)"
        )
        raise ExecutorError(msg)
    runner_options = {key: section.pop(key) for key in RUNNER_KEYS & set(section)}
    from .executors.dask import DaskExecutor

    retries = runner_options.get("retries", 2)
    if backend == "local":
        workers = section.pop("workers", None)
        return DaskExecutor(
            workers=workers, retries=retries, cluster_options=section
        ), runner_options
    scaling = {key: section.pop(key) for key in _SCALING_KEYS & set(section)}

    def start():
        cluster = jobqueue_cluster(backend, section, name)
        if "jobs" in scaling:
            cluster.scale(jobs=scaling["jobs"])
        else:
            cluster.adapt(
                minimum_jobs=scaling.get("adapt_min", 0), maximum_jobs=scaling.get("adapt_max", 10)
            )
        return cluster

    return DaskExecutor(cluster=start, retries=retries), runner_options


def jobqueue_cluster(backend: str, options: Mapping[str, Any], section: str = ""):
    """Build (not scale) the dask-jobqueue cluster of ``backend`` with ``options``."""
    name = BACKENDS.get(backend)
    if name is None:  # "local" (a LocalCluster) or a backend no batch system has
        msg = f"[{section or backend}]: {backend!r} is not a batch backend; use one of slurm, condor, pbs"
        raise ExecutorError(msg)
    cls = getattr(extras.dask_jobqueue(), name)
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        msg = (
            f"[{section or backend}]: {cls.__name__} rejected the options {sorted(options)}: {err}"
        )
        raise ExecutorError(msg) from err
