"""Tests of the synthetic ADL dataset generator (benchmarks/adl/generate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import shared_file

from benchmarks.adl import generate as gen

REAL = shared_file("Run2012B_SingleMu_1000.root")
LETTER = {"int32": "I", "uint32": "i", "uint64": "l", "bool": "O", "float32": "F"}
# coffea's NanoAODSchema rewrites Photon mass/charge of this open-data layout, real file included
COFFEA_PHOTON_WARNING = "ignore:Branch Photon_.* already exists:RuntimeWarning"


def _branch_signature(tree) -> list[tuple[str, str, str]]:
    return [(b.name, b.title, str(b.interpretation)) for b in tree.branches]


def _expected_signature() -> list[tuple[str, str, str]]:
    out = []
    for name, dtype, counter in gen.BRANCHES:
        big = np.dtype(dtype).newbyteorder(">") if dtype != "bool" else np.dtype(bool)
        inner = f"AsDtype('{big.str if dtype != 'bool' else 'bool'}')"
        if counter is None:
            out.append((name, f"{name}/{LETTER[dtype]}", inner))
        else:
            out.append((name, f"{name}[{counter}]/{LETTER[dtype]}", f"AsJagged({inner})"))
    return out


def _read(paths: list[Path], branches: list[str] | None = None) -> dict[str, np.ndarray]:
    """Flat contents of the given branches over all files."""
    parts: dict[str, list[np.ndarray]] = {}
    for path in paths:
        with uproot.open(path) as handle:
            arrays = handle[gen.TREE_NAME].arrays(branches, library="ak")
            for field in arrays.fields:
                column = arrays[field]
                flat = ak.flatten(column) if column.ndim > 1 else column
                parts.setdefault(field, []).append(ak.to_numpy(flat))
    return {k: np.concatenate(v) for k, v in parts.items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> list[Path]:
    """4,000 events in two files."""
    return gen.ensure_dataset(tmp_path_factory.mktemp("adl-small"), 4_000, n_files=2, seed=3)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> list[Path]:
    """200,000 events in two files, enough for percent-level multiplicity checks."""
    return gen.ensure_dataset(tmp_path_factory.mktemp("adl-large"), 200_000, n_files=2, seed=11)


@pytest.fixture(scope="module")
def large_measured(large) -> dict:
    return gen.measure(large)


# --- schema -------------------------------------------------------------------------------------


def test_hardcoded_schema_shape():
    names = [name for name, _, _ in gen.BRANCHES]
    assert len(gen.BRANCHES) == 86
    assert len(set(names)) == 86
    for i, (name, dtype, counter) in enumerate(gen.BRANCHES):
        assert dtype in LETTER
        if counter is not None:
            # every jagged branch follows its uint32 counter
            assert counter in names[:i]
            assert {n: d for n, d, _ in gen.BRANCHES}[counter] == "uint32"
            assert name.startswith(counter[1:] + "_")


def test_hardcoded_schema_matches_real_file():
    with uproot.open(shared_file("Run2012B_SingleMu_1000.root")) as handle:
        real = _branch_signature(handle["Events"])
    assert real == _expected_signature()


def test_written_file_schema(small):
    with uproot.open(small[0]) as handle:
        tree = handle["Events"]
        assert _branch_signature(tree) == _expected_signature()
        assert tree.num_entries == 2_000
        assert handle.file.compression == uproot.ZLIB(1)
    with uproot.open(REAL) as real, uproot.open(small[0]) as ours:
        assert _branch_signature(ours["Events"]) == _branch_signature(real["Events"])
        assert [b.typename for b in ours["Events"].branches] == [
            b.typename for b in real["Events"].branches
        ]


def test_generate_arrays_dtypes():
    arrays = gen.generate_arrays(500, seed=1)
    assert list(arrays) == [name for name, _, _ in gen.BRANCHES]
    for name, dtype, counter in gen.BRANCHES:
        assert arrays[name].dtype == np.dtype(dtype), name
        if counter is not None:
            assert arrays[name].size == int(arrays[counter].sum()), name
        else:
            assert arrays[name].size == 500, name


# --- determinism --------------------------------------------------------------------------------


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name, left in a.items():
        right = b[name]
        assert left.dtype == right.dtype, name
        assert np.array_equal(left, right, equal_nan=left.dtype.kind == "f"), name


def test_same_seed_same_arrays():
    _assert_same(gen.generate_arrays(3_000, seed=5), gen.generate_arrays(3_000, seed=5))


def test_same_seed_same_files(tmp_path, small):
    again = gen.generate(tmp_path / "again", 4_000, n_files=2, seed=3)
    assert [p.name for p in again] == [p.name for p in small]
    _assert_same(_read(small), _read(again))


def test_files_are_independent_streams(small):
    # file 1 of the dataset is exactly what generate_arrays produces for it alone
    alone = gen.generate_arrays(2_000, seed=3, file_index=1, first_event=2_000)
    _assert_same(_read([small[1]]), alone)


def test_different_seeds_differ():
    a = gen.generate_arrays(2_000, seed=1)
    b = gen.generate_arrays(2_000, seed=2)
    for name in ("nJet", "Jet_pt", "Muon_pt", "MET_pt", "MET_phi"):
        assert not np.array_equal(a[name], b[name]), name


def test_event_numbers_unique_across_files(small):
    arrays = _read(small, ["run", "luminosityBlock", "event"])
    keys = np.stack([arrays["run"], arrays["event"].astype(np.int64)], axis=1)
    assert len(np.unique(keys, axis=0)) == 4_000
    assert arrays["event"].dtype == np.uint64


# --- distributions ------------------------------------------------------------------------------


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_jet_multiplicity(large_measured):
    jets = large_measured["Jet"]
    target = gen.TARGET["Jet"]
    assert large_measured["n_events"] == 200_000
    assert jets["pct"][0] == pytest.approx(target["pct"][0], abs=0.5)
    assert jets["pct"][11] == pytest.approx(target["pct"][11], abs=0.3)
    for k in range(1, 11):
        assert jets["pct"][k] == pytest.approx(target["pct"][k], abs=0.4), k
    assert jets["mean"] == pytest.approx(target["mean"], abs=0.05)
    assert 30 <= jets["max"] <= 57
    events = large_measured["events"]
    assert events["trijets_per_event"] == pytest.approx(41.8, rel=0.08)
    assert events["trijet_share_gt10"] == pytest.approx(0.836, abs=0.03)


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_lepton_multiplicity(large_measured):
    for name in ("Muon", "Electron"):
        measured, target = large_measured[name], gen.TARGET[name]
        for k in range(4):
            assert measured["pct"][k] == pytest.approx(target["pct"][k], abs=0.5), (name, k)
        assert measured["mean"] == pytest.approx(target["mean"], abs=0.02), name
    assert large_measured["Electron"]["max"] <= 9
    assert large_measured["events"]["frac_ge2_muons"] == pytest.approx(0.285, abs=0.01)
    assert 1.5 < large_measured["Tau"]["mean"] < 4.5
    assert 0.2 < large_measured["Photon"]["mean"] < 1.0


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_btag_sentinels_and_spike(large):
    btag = _read(large, ["Jet_btag"])["Jet_btag"]
    negative = btag < 0
    assert set(np.unique(btag[negative]).tolist()) == {-10.0, -1.0}
    assert 0.30 < negative.mean() < 0.40
    assert 0.15 < (btag == -10).mean() < 0.30
    assert 0.08 < (btag == -1).mean() < 0.18
    valid = btag[~negative]
    assert valid.min() >= 0.0
    # the spike sits in the top 0.01 bin, as in the real file (no value reaches 1.0, which
    # would fall in the overflow of the Reg(100, 0, 1) histogram)
    assert valid.max() < 1.0
    assert ((valid >= 0.99) & (valid < 1.0)).mean() > 0.04


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_object_sentinels_and_ranges(large):
    a = _read(large)
    assert a["Jet_pt"].min() >= 15.0
    assert a["Muon_pt"].min() >= 3.0
    assert a["Electron_pt"].min() >= 5.0
    assert np.abs(a["Jet_eta"]).max() <= 4.7
    assert np.abs(a["Muon_eta"]).max() <= 2.4
    assert np.abs(a["Electron_eta"]).max() <= 2.5
    assert np.all(a["Muon_mass"] == np.float32(0.10565837))
    assert (a["Electron_mass"] < 0).any()
    assert np.abs(a["Electron_mass"]).max() < 1.0
    for name in ("Muon_charge", "Electron_charge"):
        assert a[name].dtype == np.int32
        assert set(np.unique(a[name]).tolist()) == {-1, 1}
    for name in ("Muon_pfRelIso03_all", "Muon_dxy", "Muon_dz"):
        assert 0.03 < (a[name] == -999.0).mean() < 0.30, name
    assert a["Jet_puId"].mean() == pytest.approx(0.998, abs=0.002)
    assert a["HLT_IsoMu24"].mean() == pytest.approx(0.63, abs=0.03)
    assert a["HLT_IsoMu24_eta2p1"].mean() == pytest.approx(0.58, abs=0.03)
    assert not (a["HLT_IsoMu24_eta2p1"] & ~a["HLT_IsoMu24"]).any()
    assert np.array_equal(np.isnan(a["Tau_relIso_all"]), a["Tau_decayMode"] == -1)
    assert np.all(np.abs(a["MET_phi"]) <= np.pi)
    with uproot.open(large[0]) as handle:
        jet_pt = handle["Events"]["Jet_pt"].array()
    assert ak.all(jet_pt[:, 1:] <= jet_pt[:, :-1])  # pt-ordered like NanoAOD


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_z_peak_gives_q5_and_q8_selections(large):
    with uproot.open(large[0]) as handle:
        ev = handle["Events"].arrays(
            ["Muon_pt", "Muon_eta", "Muon_phi", "Muon_charge", "nElectron"]
        )
    mu = ak.zip({"pt": ev.Muon_pt, "eta": ev.Muon_eta, "phi": ev.Muon_phi, "q": ev.Muon_charge})
    pairs = ak.combinations(mu, 2, fields=["a", "b"])
    a, b = pairs.a, pairs.b
    mass = np.sqrt(2 * a.pt * b.pt * (np.cosh(a.eta - b.eta) - np.cos(a.phi - b.phi)))
    opposite = a.q != b.q
    q5 = ak.any(opposite & (mass > 60) & (mass < 120), axis=1)
    assert 0.03 < ak.mean(q5) < 0.09
    os_mass = ak.to_numpy(ak.flatten(mass[opposite]))
    counts, edges = np.histogram(os_mass, bins=np.arange(60, 122, 2))
    assert 88 <= edges[np.argmax(counts)] <= 92
    three_leptons = (ak.num(mu) + ev.nElectron) >= 3
    q8_like = three_leptons & ak.any(opposite, axis=1)
    assert 0.04 < ak.mean(q8_like) < 0.2


def _delta_phi(a, b):
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


@pytest.fixture(scope="module")
def large_objects(large) -> ak.Array:
    """Jet and muon pt/phi of the first large file (100,000 events)."""
    with uproot.open(large[0]) as handle:
        return handle["Events"].arrays(["Jet_pt", "Jet_phi", "Muon_pt", "Muon_phi"])


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_extra_jets_are_soft(large_objects):
    # jets beyond the first 1 + Poisson(1) of an event come from the spectrum's soft end
    pt = large_objects.Jet_pt
    assert ak.mean(pt[ak.local_index(pt) >= 3] < 25) > 0.97
    # ... which puts the full file's ~23% of all jets into the 16-18 GeV bin
    flat = ak.to_numpy(ak.flatten(pt))
    assert 0.19 < np.mean((flat >= 16) & (flat < 18)) < 0.26


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_jet_recoil_in_phi(large_objects):
    a = large_objects
    uniform = (np.pi - 2.5) / np.pi  # P(|dphi| > 2.5) without recoil: 0.20
    both = (ak.num(a.Jet_pt) > 0) & (ak.num(a.Muon_pt) > 0)
    lead = _delta_phi(a.Jet_phi[both][:, 0], a.Muon_phi[both][:, 0])
    assert ak.mean(lead > 2.5) > 2 * uniform  # leading jet against the leading muon
    two = ak.num(a.Jet_pt) >= 2
    second = _delta_phi(a.Jet_phi[two][:, 1], a.Jet_phi[two][:, 0])
    assert ak.mean(second > 2.5) > 2 * uniform  # second jet against the first


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_leading_and_extra_muon_spectra(large_objects):
    pt = large_objects.Muon_pt
    lead = ak.to_numpy(pt[ak.num(pt) > 0][:, 0])
    extra = ak.to_numpy(ak.flatten(pt[:, 1:]))
    assert 28 < np.median(lead) < 38  # the W-like trigger muon
    assert 4 < np.median(extra) < 10  # soft extra muons (Z legs included)


def test_shared_hardness_factor_raises_q4(monkeypatch):
    def q4_fraction() -> float:
        arrays = gen.generate_arrays(20_000, seed=5)
        pt = ak.unflatten(arrays["Jet_pt"], arrays["nJet"].astype(np.int64))
        return float(ak.mean(ak.count_nonzero(pt > 40, axis=1) >= 2))

    shared = q4_fraction()
    monkeypatch.setattr(gen, "_RHO_JET_EVENT", 0.0)
    assert shared > 1.2 * q4_fraction()


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
def test_subset_comparison(large_measured):
    # the figures docs/benchmarks.md quotes against the 1000-event subset
    assert large_measured["subset"]["q4_fraction"] == pytest.approx(0.054, abs=0.008)
    assert large_measured["subset"]["btag_sentinel_fraction"] == pytest.approx(0.37, abs=0.02)
    assert gen.measure([REAL])["subset"] == pytest.approx(gen.SUBSET, abs=5e-4)


@pytest.mark.slow  # the 200,000-event dataset takes about 10 s to generate
@pytest.mark.filterwarnings(COFFEA_PHOTON_WARNING)
def test_query_features(large):
    """Q4's selection, the Q6 trijet-pt peak near 20 GeV and Q7's zero bin, by the processors."""
    from coffea.nanoevents import NanoEventsFactory

    from processors.adl import QUERIES, ADLNanoAODSchema

    events = NanoEventsFactory.from_root(
        {str(large[0]): "Events"}, schemaclass=ADLNanoAODSchema, mode="virtual"
    ).events()
    n = len(events)
    assert QUERIES["q4"]().process(events)["met"].sum(flow=True) / n == pytest.approx(
        0.054, abs=0.01
    )
    trijet_pt = QUERIES["q6"]().process(events)["trijetpt"]
    assert 16 <= trijet_pt.axes[0].centers[np.argmax(trijet_pt.values())] <= 24
    sumjetpt = QUERIES["q7"]().process(events)["sumjetpt"]
    assert sumjetpt.values()[0] / n == pytest.approx(0.646, abs=0.03)  # full file: 64.6%


# --- ensure_dataset -----------------------------------------------------------------------------


def _stamps(paths: list[Path]) -> list[tuple[int, int]]:
    return [(p.stat().st_ino, p.stat().st_mtime_ns) for p in paths]


def test_ensure_dataset_reuses(tmp_path):
    first = gen.ensure_dataset(tmp_path, 1_000, n_files=2, seed=9)
    stamps = _stamps(first)
    manifest = json.loads((tmp_path / gen.MANIFEST_NAME).read_text())
    assert manifest["n_events"] == 1_000
    assert manifest["seed"] == 9
    assert manifest["generator_version"] == gen.GENERATOR_VERSION
    assert [f["name"] for f in manifest["files"]] == ["adl_synth_000.root", "adl_synth_001.root"]
    assert [f["size"] for f in manifest["files"]] == [p.stat().st_size for p in first]
    second = gen.ensure_dataset(tmp_path, 1_000, n_files=2, seed=9)
    assert second == first
    assert _stamps(second) == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adl_synth_000.root",
        "adl_synth_001.root",
        gen.MANIFEST_NAME,
    ]


@pytest.mark.parametrize("tamper", ["seed", "version", "size", "missing-manifest"])
def test_ensure_dataset_regenerates(tmp_path, tamper):
    first = gen.ensure_dataset(tmp_path, 1_000, n_files=2, seed=9)
    stamps = _stamps(first)
    manifest_path = tmp_path / gen.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    if tamper == "seed":
        manifest["seed"] = 10
    elif tamper == "version":
        manifest["generator_version"] = "0"
    elif tamper == "size":
        # a truncated file (e.g. copied while being written) no longer matches its size
        with first[1].open("r+b") as handle:
            handle.truncate(first[1].stat().st_size // 2)
    if tamper == "missing-manifest":
        manifest_path.unlink()  # what an interrupted generation leaves behind
    else:
        manifest_path.write_text(json.dumps(manifest))
    again = gen.ensure_dataset(tmp_path, 1_000, n_files=2, seed=9)
    assert again == first
    new = _stamps(again)
    assert all(a != b for a, b in zip(new, stamps, strict=True))
    assert json.loads(manifest_path.read_text())["seed"] == 9
    with uproot.open(again[1]) as handle:
        assert handle["Events"].num_entries == 500


def test_ensure_dataset_other_layout_replaces_files(tmp_path):
    gen.ensure_dataset(tmp_path, 900, n_files=3, seed=1)
    paths = gen.ensure_dataset(tmp_path, 600, n_files=2, seed=1)
    assert sorted(p.name for p in tmp_path.glob("adl_synth_*.root")) == [p.name for p in paths]
    with uproot.open(paths[0]) as handle:
        assert handle["Events"].num_entries == 300


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_files"):
        gen.generate(tmp_path, 10, n_files=0)
    with pytest.raises(ValueError, match="n_events"):
        gen.ensure_dataset(tmp_path, 2, n_files=3)


# --- readers ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings(COFFEA_PHOTON_WARNING)
def test_coffea_nanoevents_reads(small):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    events = NanoEventsFactory.from_root(
        {str(small[0]): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()
    with uproot.open(small[0]) as handle:
        raw = handle["Events"].arrays(["Jet_pt", "Muon_charge", "MET_pt"])
    assert ak.all(events.Jet.pt == raw.Jet_pt)
    assert ak.all(events.Muon.charge == raw.Muon_charge)
    assert ak.all(events.MET.pt == raw.MET_pt)
    dimuons = events.Muon[ak.num(events.Muon) >= 2]
    assert ak.all((dimuons[:, 0] + dimuons[:, 1]).mass >= 0)


def test_measure_and_cli(tmp_path, capsys, small):
    measured = gen.measure(small)
    assert measured["n_events"] == 4_000
    assert measured["bytes_per_event"] > 0
    assert sum(measured["Jet"]["pct"]) == pytest.approx(100.0)
    table = gen.format_table(measured)
    assert "Jet measured" in table
    assert "Jet target" in table
    assert "trijet share" in table
    assert "events Q4 selects" in table
    assert "1000-event subset" in table
    argv = ["--events", "1000", "--files", "1", "--seed", "2", "--out", str(tmp_path)]
    assert gen.main(argv) == 0
    out = capsys.readouterr().out
    assert "Muon target" in out
    assert (tmp_path / gen.MANIFEST_NAME).exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert (tmp_path / "adl_synth_000.root").stat().st_size > 0


@pytest.mark.slow  # about 6 s
def test_parallel_workers_write_the_same_files(tmp_path, small):
    paths = gen.generate(tmp_path, 4_000, n_files=2, seed=3, workers=2)
    _assert_same(_read(small), _read(paths))


def test_tiny_files_without_z_candidates_generate(tmp_path):
    # many files of a few events: some files get no Z decay at all (it crashed on an empty
    # concatenation when the scale benchmark asked for 1,000 files of 200 events)
    from benchmarks.adl.generate import _z_decays, ensure_dataset

    legs = _z_decays(np.random.default_rng(0), 0)
    assert len(legs) == 6
    assert all(leg.size == 0 for leg in legs)
    files = ensure_dataset(tmp_path, 40 * 20, n_files=40, seed=3)
    assert len(files) == 40
