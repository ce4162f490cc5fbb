"""Fetch coffea's source distribution from PyPI (cached) and extract the test files we run.

The version is the installed coffea's, which pyproject.toml pins; the sdist is
downloaded once with ``pip download`` into ``$COLFRAME_COFFEA_SDIST_DIR`` (default
``~/.cache/colframe-coffea-suite``), never into the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

#: coffea's test files run against colframe.processor, as published
TEST_FILES = (
    "tests/conftest.py",
    "tests/test_local_executors.py",
    "tests/test_accumulators.py",
    "tests/test_processor.py",
    "tests/test_taskvine_virtual.py",
    "tests/test_taskvine_dask.py",
)
SAMPLES = "tests/samples/"


def cache_dir() -> Path:
    if "COLFRAME_COFFEA_SDIST_DIR" in os.environ:
        return Path(os.environ["COLFRAME_COFFEA_SDIST_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "colframe-coffea-suite"


def sdist(coffea_version: str) -> Path:
    """The coffea sdist of ``coffea_version``, downloaded from PyPI on first use."""
    where = cache_dir()
    path = where / f"coffea-{coffea_version}.tar.gz"
    if not path.exists():
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", f"coffea=={coffea_version}", "--dest", str(where)],
            check=True,
        )  # fmt: skip
    return path


def extracted(coffea_version: str | None = None) -> Path:
    """The directory holding coffea's ``tests/`` (the listed files and samples), extracted once."""
    coffea_version = coffea_version or version("coffea")
    root = cache_dir() / f"coffea-{coffea_version}"
    done = root / ".extracted"
    if done.exists():
        return root
    prefix = f"coffea-{coffea_version}/"
    with tarfile.open(sdist(coffea_version)) as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.name.removeprefix(prefix) in TEST_FILES
            or (m.name.removeprefix(prefix).startswith(SAMPLES) and m.isfile())
        ]
        for member in members:
            member.name = member.name.removeprefix(prefix)
        tar.extractall(root, members=members, filter="data")
    done.touch()
    return root


if __name__ == "__main__":
    print(extracted())
