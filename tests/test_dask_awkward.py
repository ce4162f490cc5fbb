"""colframe.dask_awkward.apply_to_fileset: dask-awkward collections equal to the Runner's output."""

from __future__ import annotations

import itertools
import sys

import dask
import dask_awkward as dak
import pytest
from _compare import assert_same
from _processors import MuonHists
from conftest import shared_file

import colframe
from colframe.dask_awkward import apply_to_fileset
from colframe.errors import ChunkError
from colframe.fileset import normalize_fileset
from colframe.plan import make_work_items
from colframe.preprocess import fetch_metadata


def _runner_output(fileset, chunksize):
    runner = colframe.Runner(chunksize=chunksize, status=False)
    return runner(fileset, "Events", processor_instance=MuonHists())


def _unnest(computed):
    # MuonHists keys its output by dataset; apply_to_fileset adds the same key again
    return {name: out[name] for name, out in computed.items()}


@pytest.fixture(params=["sync", "distributed"])
def scheduler(request):
    if request.param == "sync":
        return "sync"
    return request.getfixturevalue("dask_client").get


def test_generated_data_equals_runner(generated, scheduler):
    fileset = {"synthA": [str(p) for p in generated[:2]], "synthB": [str(generated[2])]}
    out = apply_to_fileset(MuonHists(dask=True), fileset, chunksize=2_500)
    (computed,) = dask.compute(out, scheduler=scheduler)
    assert_same(_unnest(computed), _runner_output(fileset, 2_500))
    assert computed["synthA"]["synthA"]["events"] == 12_000


def test_real_file_equals_runner(scheduler):
    fileset = {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}
    out = apply_to_fileset(MuonHists(dask=True), fileset, chunksize=300)
    (computed,) = dask.compute(out, scheduler=scheduler)
    assert_same(_unnest(computed), _runner_output(fileset, 300))
    assert computed["SingleMu"]["SingleMu"]["events"] == 1_000


def test_only_the_columns_the_processor_reads(generated):
    out = apply_to_fileset(MuonHists(dask=True), {"d": [str(generated[0])]}, chunksize=2_000)
    columns = dak.necessary_columns(out)
    assert columns  # one uproot input layer
    for needed in columns.values():
        assert set(needed) == {"nMuon", "Muon_pt", "Muon_charge", "nJet"}


@pytest.mark.parametrize("form", ["paths", "steps"])
def test_partitions_are_the_runners_chunks(generated, form):
    paths = [str(p) for p in generated[:2]]
    if form == "paths":
        files = paths
    else:  # preprocessed: the given steps, whatever the chunksize
        files = {paths[0]: {"object_path": "Events", "steps": [[0, 100], [100, 6_000]]}}
        files[paths[1]] = "Events"
    fileset = {"d": {"files": files, "metadata": {"xsec": 2.0}}}
    events = apply_to_fileset(lambda events: events, fileset, chunksize=2_500)["d"]
    datasets = normalize_fileset(fileset, "Events")
    metas = {spec: fetch_metadata(spec) for spec in datasets[0].files}
    items = make_work_items(datasets, metas, 2_500)
    assert events.npartitions == len(items) == 4
    assert events.divisions == tuple(itertools.accumulate(map(len, items), initial=0))
    if form == "steps":
        assert events.divisions[:3] == (0, 100, 6_000)  # not chunksize's (0, 3_000, 6_000)
    assert events.metadata["dataset"] == "d"
    assert events.metadata["xsec"] == 2.0


def test_second_call_reads_metadata_from_cache(generated, tmp_path, monkeypatch):
    fileset = {"d": [str(generated[0])]}
    apply_to_fileset(lambda events: events, fileset, metadata_cache=tmp_path)

    def no_io(spec):
        msg = f"{spec.path} opened again: the metadata cache was not used"
        raise AssertionError(msg)

    monkeypatch.setattr("colframe.schedule.fetch_metadata", no_io)
    apply_to_fileset(lambda events: events, fileset, metadata_cache=tmp_path)


def test_unreadable_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "missing.root"
    with pytest.raises(ChunkError, match=r"cannot read file=.*missing\.root"):
        apply_to_fileset(lambda events: events, {"d": [str(missing)]})


def test_not_a_processor_is_a_clear_error(generated):
    with pytest.raises(TypeError, match="process\\(events\\) method or be callable, not int"):
        apply_to_fileset(42, {"d": [str(generated[0])]})


def test_missing_dask_awkward_gives_install_line(generated, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_awkward", None)
    with pytest.raises(ModuleNotFoundError, match='pip install "dask-awkward=='):
        apply_to_fileset(MuonHists(dask=True), {"d": [str(generated[0])]})


def test_skipbadfiles_leaves_unreadable_files_out(generated, tmp_path, caplog):
    missing = str(tmp_path / "missing.root")
    fileset = {"d": [str(generated[0]), missing], "gone": [missing]}
    out = apply_to_fileset(MuonHists(dask=True), fileset, chunksize=2_000, skipbadfiles=True)
    assert sorted(out) == ["d"]  # no file of "gone" could be read
    (computed,) = dask.compute(out, scheduler="sync")
    assert_same(_unnest(computed), _runner_output({"d": [str(generated[0])]}, 2_000))
    skipped = [r.getMessage() for r in caplog.records if "skipped (skipbadfiles)" in r.getMessage()]
    assert len(skipped) == 1  # one file, preprocessed once for both datasets
    assert "missing.root" in skipped[0]
