"""Environments packed once per session (uv keeps its own download cache across sessions)."""

from __future__ import annotations

import contextlib
import importlib.util
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_SPEC = ROOT / "envs" / "test.json"
COLFRAME_SPEC = ROOT / "envs" / "colframe.json"


def colframe_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the ``colframe`` command of this interpreter in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "colframe.cli", *args], capture_output=True, text=True, **kwargs
    )


@pytest.fixture(scope="session")
def pack_cache(tmp_path_factory) -> Path:
    """One colframe cache (built wheels, tarballs) for the session's packs."""
    return tmp_path_factory.mktemp("pack-cache")


@pytest.fixture(scope="session")
def test_env(pack_cache, tmp_path_factory) -> Path:
    """envs/test.json packed bare: inflection, which the test interpreter does not have."""
    from colframe.envs import pack

    assert importlib.util.find_spec("inflection") is None, "inflection must not be in .venv"
    return pack(
        TEST_SPEC,
        tmp_path_factory.mktemp("test-env") / "test.tar.gz",
        bare=True,
        cache_dir=pack_cache,
    )


@pytest.fixture(scope="session")
def analysis_env(pack_cache, tmp_path_factory) -> Path:
    """envs/test.json packed with colframe (this checkout, as a wheel) and its dependencies:
    what a worker needs to run the UsesInflection processor, and nothing of .venv."""
    from colframe.envs import pack

    return pack(TEST_SPEC, tmp_path_factory.mktemp("analysis-env") / "test.tar.gz", cache_dir=pack_cache)


@pytest.fixture(scope="session")
def colframe_env(pack_cache, tmp_path_factory) -> Path:
    """envs/colframe.json packed: colframe, its dependencies and cctools (ndcctools, workers)."""
    from colframe.envs import pack

    return pack(
        COLFRAME_SPEC, tmp_path_factory.mktemp("colframe-env") / "colframe.tar.gz", cache_dir=pack_cache
    )


@pytest.fixture(scope="session")
def unpack_cache(tmp_path_factory) -> Path:
    """Where Futures workers' environments are unpacked, shared by the session's tests."""
    return tmp_path_factory.mktemp("unpack-cache")


@contextlib.contextmanager
def by_value(*modules: ModuleType) -> Iterator[None]:
    """Send ``modules``' classes and functions by value, as a user's own analysis module
    travels to workers whose environment does not hold it (tests/ is not in any wheel)."""
    import cloudpickle

    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def sandbox_prefixes(executor, tasks: int) -> set[str]:
    """The ``sys.prefix`` (via site-packages) of the interpreter running each of ``tasks`` tasks."""
    with executor:
        submitted = [executor.submit(site.getsitepackages, None) for _ in range(tasks)]
        done = []
        while len(done) < tasks:
            done += executor.wait([t for t in submitted if t not in {d for d, _ in done}])
    return {str(Path(result.value[0]).parents[2]) for _, result in done}
