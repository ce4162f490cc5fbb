"""Environments packed once per session (uv keeps its own download cache across sessions)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

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
