"""What the wheel installs: the colframe package only (with py.typed), never processors/ or benchmarks/."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_only_colframe_is_packaged():
    found = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(ROOT, include=found["include"], exclude=found.get("exclude", ()))
    assert "colframe" in packages
    assert "colframe.executors" in packages
    assert all(p == "colframe" or p.startswith("colframe.") for p in packages), packages
    # the repository folders still exist, outside the package
    assert (ROOT / "processors" / "adl.py").is_file()
    assert (ROOT / "benchmarks" / "demo.py").is_file()


def test_typed_and_spdx_licensed():
    assert (ROOT / "colframe" / "py.typed").is_file()
    assert PYPROJECT["tool"]["setuptools"]["package-data"]["colframe"] == ["py.typed"]
    project = PYPROJECT["project"]
    assert project["license"] == "BSD-3-Clause"  # an SPDX string: no setuptools deprecation banner
    for pattern in project["license-files"]:
        assert list(ROOT.glob(pattern)), pattern
