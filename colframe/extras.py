"""Optional dependencies, one function each: the module, or ModuleNotFoundError with the install line.

    vine = extras.ndcctools_taskvine()   # ndcctools.taskvine, or a one-line fix

Modules that need an optional package call its function where they need it, never
at import time, so ``import colframe`` works without any of them. Bottom layer:
imports nothing of colframe.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "dask_awkward",
    "dask_jobqueue",
    "distributed",
    "fsspec_xrootd",
    "isal_zlib",
    "ndcctools_taskvine",
    "ndcctools_work_queue",
    "uv",
    "venv_pack",
]

_NDCCTOOLS = "conda install -c conda-forge ndcctools"
_NDCCTOOLS_NOTE = "or `make setup` in a colframe checkout, which builds cctools into .venv"


def _load(module: str, needed_by: str, install: str, note: str = "") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        msg = f"{needed_by} needs {module}, which is not installed: {install}"
        msg += f" ({note})" if note else ""
        raise ModuleNotFoundError(msg, name=err.name) from err


def distributed() -> ModuleType:
    """``distributed`` (dask's cluster scheduler), for DaskExecutor and the cluster configs."""
    install = 'pip install "dask[array]==2025.3.0" "distributed==2025.3.0"'
    return _load("distributed", "the dask executor", install)


def dask_awkward() -> ModuleType:
    """``dask_awkward`` (NanoEvents' dask mode), for :mod:`colframe.dask_awkward`."""
    install = 'pip install "dask-awkward==2026.2.1" "dask-histogram==2026.2.0"'
    return _load("dask_awkward", "the dask-awkward path (apply_to_fileset)", install)


def dask_jobqueue() -> ModuleType:
    """``dask_jobqueue``, for the SLURM / HTCondor / PBS cluster configurations."""
    return _load("dask_jobqueue", "the batch cluster backends", 'pip install "colframe[jobqueue]"')


def isal_zlib() -> ModuleType:
    """``isal.isal_zlib`` (ISA-L's inflater), for ``zlib_library="isal"``."""
    return _load("isal.isal_zlib", 'zlib_library="isal"', 'pip install "isal>=1.6"')


def ndcctools_taskvine() -> ModuleType:
    """``ndcctools.taskvine`` (cctools' TaskVine bindings), for TaskVineExecutor."""
    return _load("ndcctools.taskvine", "the TaskVine executor", _NDCCTOOLS, _NDCCTOOLS_NOTE)


def ndcctools_work_queue() -> ModuleType:
    """``ndcctools.work_queue`` (cctools' Work Queue bindings), for the Work Queue executor."""
    return _load("ndcctools.work_queue", "the Work Queue executor", _NDCCTOOLS, _NDCCTOOLS_NOTE)


def fsspec_xrootd() -> ModuleType:
    """``fsspec_xrootd``, for ``root://`` URLs (it needs XRootD's own Python bindings too)."""
    install = "conda install -c conda-forge fsspec-xrootd"
    note = "or pip install fsspec-xrootd xrootd, where XRootD builds from source"
    return _load("fsspec_xrootd", "reading root:// URLs", install, note)


def uv() -> ModuleType:
    """``uv`` (its ``find_uv_bin()`` gives the installer), for ``colframe env pack``."""
    return _load("uv", "colframe env pack", 'pip install "colframe[envs]"')


def venv_pack() -> ModuleType:
    """``venv_pack``, for packing a virtual environment into a relocatable tarball."""
    return _load("venv_pack", "packing an environment", "pip install venv-pack")
