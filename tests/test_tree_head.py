"""A TTree's entry count from the head of its record (colframe/_tree_head.py)."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from conftest import shared_file

from colframe._tree_head import tree_entries
from colframe.fileset import FileSpec
from colframe.preprocess import fetch_metadata


@pytest.mark.parametrize(
    "name",
    [
        "nano_dimuon.root",
        "nano_dy.root",
        "nano_dy_empty.root",
        "nano_tt_v12.root",
        "nanoAOD_2015_CMS_Open_Data_ttbar.root",
    ],
)
def test_entries_of_real_nanoaod_are_uproots(name):
    with uproot.open(shared_file(name)) as file:
        trees = [key for key, kind in file.classnames().items() if kind == "TTree"]
        assert "Events;1" in trees
        for tree in trees:
            assert tree_entries(file, tree) == file[tree].num_entries


def test_entries_of_generated_files_and_of_a_tree_in_a_directory(generated, tmp_path):
    with uproot.open(generated[0]) as file:
        assert tree_entries(file, "Events") == file["Events"].num_entries == 6_000
    path = tmp_path / "nested.root"
    with uproot.recreate(path) as out:
        out.mkdir("dir")
        out.mktree("dir/t", {"x": np.int64}).extend({"x": np.arange(7)})
    with uproot.open(path) as file:
        assert tree_entries(file, "dir/t") == 7


def test_anything_else_is_left_to_the_usual_read(tmp_path):
    path = tmp_path / "other.root"
    with uproot.recreate(path) as out:
        out["h"] = np.histogram(np.arange(5), bins=2)
        out["ntuple"] = {"x": np.arange(3)}  # an RNTuple
    with uproot.open(path) as file:
        assert tree_entries(file, "h") is None  # not a TTree
        assert tree_entries(file, "ntuple") is None
        assert tree_entries(file, "Events") is None  # no such key
    assert fetch_metadata(FileSpec(str(path), "ntuple")).numentries == 3  # read the usual way


def test_fetch_metadata_builds_no_branch(generated, monkeypatch):
    def forbidden(*args, **kwargs):
        msg = "preprocessing must not build the tree's branches"
        raise AssertionError(msg)

    monkeypatch.setattr(uproot.models.TBranch.Model_TBranch_v13, "read_members", forbidden)
    meta = fetch_metadata(FileSpec(str(generated[1]), "Events"))
    assert meta.numentries == 6_000
    assert meta.clusters is None
