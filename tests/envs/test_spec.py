"""Poncho specs: both forms, conda entries mapped to PyPI or refused, python checked."""

from __future__ import annotations

import sys

import pytest

from colframe.envs import load_spec
from colframe.errors import EnvError

HERE = ".".join(map(str, sys.version_info[:2]))


def test_new_form_maps_conda_entries_and_collects_pip():
    spec = load_spec(
        {
            "conda": {
                "channels": ["conda-forge"],
                "dependencies": [
                    f"python={HERE}",
                    "numpy=1.26",
                    "scipy>=1.11",
                    "matplotlib-base 3.8",
                    "conda-forge::awkward==2.8.1",
                    "pip",
                    "ndcctools",
                    {"pip": ["inflection==0.5.1"]},
                ],
            }
        }
    )
    assert spec.pip == [
        "numpy==1.26.*",
        "scipy>=1.11",
        "matplotlib==3.8.*",
        "awkward==2.8.1",
        "inflection==0.5.1",
    ]
    assert spec.ndcctools
    assert spec.python == f"={HERE}"


def test_old_form():
    spec = load_spec(
        {"conda": {"channels": [], "packages": ["numpy=1.26=py311h_0"]}, "pip": ["six"]}
    )
    assert spec.pip == ["six", "numpy==1.26.*"]
    assert not spec.ndcctools


def test_conda_only_packages_are_refused_by_name():
    with pytest.raises(EnvError, match=r"no PyPI equivalent known to colframe: root, xrootd;"):
        load_spec({"conda": {"dependencies": ["numpy", "root", "xrootd"]}})


def test_python_of_another_version_is_refused():
    with pytest.raises(EnvError, match=r"asks for python=2\.7 but .* Python 3\."):
        load_spec({"conda": {"dependencies": ["python=2.7"]}})


def test_unreadable_spec_file_names_it(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text("{not json")
    with pytest.raises(EnvError, match=r"cannot read the environment spec .*spec\.json"):
        load_spec(path)
