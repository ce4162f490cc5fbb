"""colframe.extras: each optional dependency's module, or ModuleNotFoundError with its install line."""

from __future__ import annotations

import sys

import pytest

from colframe import extras

# function -> (module it returns, the install line its error must carry)
EXPECTED = {
    "distributed": ("distributed", 'pip install "dask[array]==2025.3.0" "distributed==2025.3.0"'),
    "dask_awkward": ("dask_awkward", 'pip install "dask-awkward==2026.2.1"'),
    "dask_jobqueue": ("dask_jobqueue", 'pip install "colframe[jobqueue]"'),
    "isal_zlib": ("isal.isal_zlib", 'pip install "isal>=1.6"'),
    "ndcctools_taskvine": ("ndcctools.taskvine", "conda install -c conda-forge ndcctools"),
    "ndcctools_work_queue": ("ndcctools.work_queue", "conda install -c conda-forge ndcctools"),
    "fsspec_xrootd": ("fsspec_xrootd", "conda install -c conda-forge fsspec-xrootd"),
    "uv": ("uv", 'pip install "colframe[envs]"'),
    "venv_pack": ("venv_pack", "pip install venv-pack"),
}


def test_one_function_per_optional_dependency():
    assert sorted(EXPECTED) == sorted(extras.__all__)


def uninstall(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``module``'s top-level package unimportable, as if it were not installed."""
    top = module.split(".")[0]
    for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
        monkeypatch.delitem(sys.modules, key)
    monkeypatch.setitem(sys.modules, top, None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_missing_dependency_names_the_install_line(name, monkeypatch):
    module, install = EXPECTED[name]
    uninstall(monkeypatch, module)
    with pytest.raises(ModuleNotFoundError, match="which is not installed") as info:
        getattr(extras, name)()
    assert install in str(info.value)
    assert info.value.name in (module, module.split(".")[0])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_dependency_is_returned_when_installed_and_named_when_not(name):
    module, install = EXPECTED[name]
    try:
        __import__(module)
    except ModuleNotFoundError:  # e.g. fsspec-xrootd: not one of make setup's packages
        with pytest.raises(ModuleNotFoundError, match="which is not installed") as info:
            getattr(extras, name)()
        assert install in str(info.value)
        return
    assert getattr(extras, name)() is sys.modules[module]


def test_ndcctools_error_also_says_make_setup(monkeypatch):
    uninstall(monkeypatch, "ndcctools.taskvine")
    with pytest.raises(ModuleNotFoundError, match=r"or `make setup` in a colframe checkout"):
        extras.ndcctools_taskvine()
