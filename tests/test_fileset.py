"""Fileset normalization: every coffea form, JSON files, and errors that name the problem."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from colframe.errors import FilesetError
from colframe.fileset import FileSpec, canonical_location, normalize_fileset


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


def test_canonical_location_of_every_spelling(tmp_path):
    real = tmp_path / "data" / "f.root"
    real.parent.mkdir()
    real.write_bytes(b"")
    (tmp_path / "link.root").symlink_to(real)
    spellings = [
        str(real),
        f"{tmp_path}//data/f.root",
        f"{tmp_path}/data/../data/f.root",
        str(tmp_path / "link.root"),
        f"file://{real}",
    ]
    assert {canonical_location(path) for path in spellings} == {str(real)}
    directories: dict[str, str] = {}  # one pass over many files: each directory resolved once
    assert {canonical_location(path, directories) for path in spellings} == {str(real)}
    # a server decides what its URLs name: they are kept as given
    assert canonical_location("root://eos.cern.ch//store/f.root") == "root://eos.cern.ch//store/f.root"


def test_canonical_location_with_resolved_directories_is_realpath(tmp_path, monkeypatch):
    (tmp_path / "store" / "sub").mkdir(parents=True)
    real = tmp_path / "store" / "sub" / "f.root"
    real.write_bytes(b"")
    (tmp_path / "store" / "g.root").symlink_to(real)  # a link to a file in another directory
    (tmp_path / "data").symlink_to(tmp_path / "store")  # a linked directory
    (tmp_path / "store" / "up").symlink_to("sub/..")  # a link whose target goes back up
    monkeypatch.chdir(tmp_path / "store")
    spellings = [
        str(tmp_path / "data" / "sub" / "f.root"),
        str(tmp_path / "data" / "g.root"),
        f"{tmp_path}/data/up/sub/f.root",
        f"{tmp_path}/data/sub/../sub/f.root",
        "sub/f.root",
        "g.root",
        f"{tmp_path}/data/sub/",
        f"{tmp_path}/data/sub/..",
        "f.root",
        f"{tmp_path}/missing/x.root",
        f"{tmp_path}/data/sub/missing.root",
    ]
    directories: dict[str, str] = {}
    for path in spellings:
        assert canonical_location(path, directories) == os.path.realpath(path), path


def test_numpy_integers_in_steps_become_ints():
    steps = [[np.int64(0), np.int64(10)], [np.int32(10), np.uint16(20)]]
    (dataset,) = normalize_fileset(
        {"d": {"files": {"f.root": {"object_path": "Events", "steps": steps,
                                    "num_entries": np.int64(20)}}}}
    )
    given = dataset.preprocessed[dataset.files[0]]
    assert given.steps == ((0, 10), (10, 20))
    assert all(type(bound) is int for step in given.steps for bound in step)
    assert type(given.num_entries) is int
