"""The Runner gives exactly coffea's output, on every executor, on real and generated files."""

from __future__ import annotations

import pytest
from _compare import assert_same
from _processors import CoffeaStyle, ColframeStyle, fill
from coffea import processor
from coffea.nanoevents import NanoAODSchema
from conftest import shared_file

import colframe


def coffea_oracle(fileset, proc, chunksize):
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=chunksize
    )
    return runner(fileset, processor_instance=proc, treename="Events")


def test_generated_data_equals_coffea(executor, generated):
    fileset = {"synthA": [str(p) for p in generated[:2]], "synthB": [str(generated[2])]}
    runner = colframe.Runner(executor, chunksize=2_500, fan_in=3, savemetrics=True, status=False)
    out, report = runner(fileset, "Events", processor_instance=CoffeaStyle())
    assert_same(out, coffea_oracle(fileset, CoffeaStyle(), 2_500))
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 3 * 2
    assert report.events_processed == 18_000
    assert report.merges >= 2  # a real tree: fan-in 3 over 6 partials
    assert {"Muon_pt", "Muon_charge", "nJet"} <= set(report.columns)
    assert "Jet_pt" not in report.columns  # virtual arrays: only what the processor touched
    assert report.bytes_read > 0


@pytest.mark.slow  # 5-20 s per executor
def test_real_nanoaod_equals_coffea(executor):
    fileset = {
        "DY": [str(shared_file("nano_dy.root")), str(shared_file("nano_dy_empty.root"))],
        "Data": {"files": {str(shared_file("nano_dimuon.root")): "Events"}},
        "ttbar": {
            "treename": "Events",
            "files": [str(shared_file("nanoAOD_2015_CMS_Open_Data_ttbar.root"))],
            "metadata": {"xsec": 831.8},
        },
        "SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))],
    }
    # chunks of 250: SingleMu in 4, every other file in one, merged in a tree of fan-in 2
    runner = colframe.Runner(executor, chunksize=250, fan_in=2, savemetrics=True, status=False)
    out, report = runner(fileset, processor_instance=CoffeaStyle(), treename="Events")
    assert_same(out, coffea_oracle(fileset, CoffeaStyle(), 250))
    assert out["events"] == {"DY": 40, "Data": 40, "ttbar": 200, "SingleMu": 1000}
    assert report.chunks_ok == report.chunks_total == 8  # the empty file is a chunk of 0 entries
    assert report.merges >= 3


@pytest.mark.parametrize("form", ["positional", "keyword", "callable", "colframe_abc"])
def test_call_forms_and_processor_kinds(form, generated):
    fileset = {"synth": [str(generated[0])]}
    runner = colframe.Runner(chunksize=3_000, status=False)
    if form == "positional":
        out = runner(fileset, "Events", processor_instance=CoffeaStyle())
    elif form == "keyword":
        out = runner(fileset, processor_instance=CoffeaStyle(), treename="Events")
    elif form == "callable":
        out = runner(fileset, "Events", processor_instance=fill)
    else:
        out = runner(fileset, "Events", processor_instance=ColframeStyle())
        assert out.pop("total_events") == 6_000  # postprocess ran on the merged output
    assert_same(out, coffea_oracle(fileset, CoffeaStyle(), 3_000))


def test_events_metadata_carries_chunk_identity_and_user_metadata(generated):
    seen = []

    def probe(events):
        seen.append(dict(events.metadata))
        return {"n": len(events)}

    fileset = {"synth": {"files": [str(generated[0])], "metadata": {"xsec": 1.5}}}
    colframe.Runner(chunksize=3_000, status=False)(fileset, "Events", processor_instance=probe)
    assert sorted((m["entrystart"], m["entrystop"]) for m in seen) == [(0, 3000), (3000, 6000)]
    meta = seen[0]
    assert meta["dataset"] == "synth"
    assert meta["filename"] == str(generated[0])
    assert meta["treename"] == "Events"
    assert meta["xsec"] == 1.5
    assert len(meta["fileuuid"]) == 36  # str(uuid.UUID), as coffea gives it


def test_maxchunks_limits_chunks_per_dataset(executor, generated):
    fileset = {"a": [str(p) for p in generated], "b": [str(generated[0])]}
    runner = colframe.Runner(executor, chunksize=1_000, maxchunks=4, savemetrics=True, status=False)
    out, report = runner(fileset, "Events", processor_instance=CoffeaStyle())
    assert out["events"] == {"a": 4_000, "b": 4_000}
    assert report.chunks_total == 8
