"""Fileset normalization: every coffea form, JSON files, and errors that name the problem."""

from __future__ import annotations

import json

import pytest

from colframe.errors import FilesetError
from colframe.fileset import FileSpec, normalize_fileset


def test_all_forms_normalize_to_the_same_records(tmp_path):
    forms = [
        ({"d": ["a.root", "b.root"]}, "Events"),
        ({"d": {"treename": "Events", "files": ["a.root", "b.root"]}}, None),
        ({"d": {"files": {"a.root": "Events", "b.root": "Events"}}}, None),
    ]
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(forms[1][0]))
    forms.append((str(path), None))
    expected = (FileSpec("a.root", "Events"), FileSpec("b.root", "Events"))
    for fileset, tree in forms:
        (dataset,) = normalize_fileset(fileset, tree)
        assert dataset.name == "d"
        assert dataset.files == expected


def test_per_file_tree_names_and_metadata():
    (dataset,) = normalize_fileset(
        {"d": {"files": {"a.root": "Events", "b.root": "Other"}, "metadata": {"year": 2018}}}
    )
    assert [f.treename for f in dataset.files] == ["Events", "Other"]
    assert dataset.metadata == {"year": 2018}


def test_missing_treename_is_explained():
    with pytest.raises(FilesetError, match=r"dataset 'd': no tree name for file 'a.root'"):
        normalize_fileset({"d": ["a.root"]})


def test_bad_json_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(FilesetError, match="not valid JSON"):
        normalize_fileset(str(path), "Events")
    with pytest.raises(FilesetError, match="does not exist"):
        normalize_fileset(str(tmp_path / "nope.json"), "Events")


def test_same_file_in_two_datasets_is_allowed():
    datasets = normalize_fileset({"a": ["f.root"], "b": ["f.root"]}, "Events")
    assert [d.name for d in datasets] == ["a", "b"]
