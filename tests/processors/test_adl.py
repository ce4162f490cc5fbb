"""Validate the ADL benchmark processors (Q1-Q8) on the real first 1000 events of Run2012B_SingleMu.

Three independent references per query:

* an implementation written here with plain uproot + awkward/numpy (float64 kinematics, hand-made
  four-vectors and dR) that shares no code with ``processors/adl.py``;
* the straightforward coffea behaviour-based formulation of the reference (``ak.combinations`` on
  ``events.Jet``, ``+`` and ``.mass``), which the fast processors claim to reproduce bit for bit;
* the same processor run chunked (300 events) by ``coffea.processor.Runner``.

All comparisons are exact, flow bins included.
"""

from __future__ import annotations

import warnings

import awkward as ak
import hist
import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
from conftest import shared_file

from processors.adl import QUERIES, ADLNanoAODSchema, columns

DATA = shared_file("Run2012B_SingleMu_1000.root")
DATASET = "SingleMu"

pytestmark = [
    # NanoAODSchema overwrites the Photon_mass/Photon_charge branches stored in this open data
    # with zeros and says so; it is irrelevant for the ADL queries ("Missing cross-reference"
    # warnings are already ignored project-wide).
    pytest.mark.filterwarnings("ignore:Branch Photon_\\w+ already exists:RuntimeWarning"),
]

# (output key, axis name, bins, low, high) for every histogram of every query.
BINNING = {
    "q1": [("met", "met", 100, 0, 200)],
    "q2": [("ptj", "ptj", 100, 0, 200)],
    "q3": [("ptj", "ptj", 100, 0, 200)],
    "q4": [("met", "met", 100, 0, 200)],
    "q5": [("met", "met", 100, 0, 200)],
    "q6": [("trijetpt", "pt3j", 100, 0, 200), ("maxbtag", "btag", 100, 0, 1)],
    "q7": [("sumjetpt", "sumjetpt", 100, 0, 200)],
    "q8": [("mt", "mt", 100, 0, 200)],
}


def _events(schema=NanoAODSchema, access_log=None):
    return NanoEventsFactory.from_root(
        {str(DATA): "Events"},
        schemaclass=schema,
        mode="virtual",
        metadata={"dataset": DATASET},
        access_log=access_log,
    ).events()


def _fill(query: str, values: dict[str, np.ndarray]) -> dict[str, hist.Hist]:
    out = {}
    for key, axis, bins, low, high in BINNING[query]:
        h = hist.Hist.new.Reg(bins, low, high, name=axis).Double()
        h.fill(**{axis: np.asarray(values[key], dtype=np.float64)})
        out[key] = h
    return out


def _assert_same(query: str, got: dict, expected: dict[str, hist.Hist]) -> None:
    for key, axis, bins, low, high in BINNING[query]:
        h = got[key]
        assert isinstance(h, hist.Hist)
        assert h.storage_type is hist.storage.Double
        assert len(h.axes) == 1
        assert h.axes[0].name == axis
        assert (h.axes[0].size, h.axes[0].edges[0], h.axes[0].edges[-1]) == (bins, low, high)
        np.testing.assert_array_equal(h.values(flow=True), expected[key].values(flow=True))


# ---------------------------------------------------------------------------------------------
# independent implementation: uproot + awkward/numpy, float64, no coffea


def _read(*branches: str) -> ak.Array:
    with uproot.open(DATA) as f:
        return f["Events"].arrays(list(branches))


def _four_momentum(pt, eta, phi, mass):
    """(px, py, pz, E) in float64; E^2 = p^2 + m|m| so that a negative stored mass lowers E."""
    pt, eta, phi, mass = (ak.values_astype(v, np.float64) for v in (pt, eta, phi, mass))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(np.maximum(px * px + py * py + pz * pz + mass * np.abs(mass), 0.0))
    return px, py, pz, energy


def _invariant_mass(px, py, pz, energy):
    """Signed mass: negative for space-like four-momenta."""
    m2 = energy * energy - px * px - py * py - pz * pz
    return np.sign(m2) * np.sqrt(np.abs(m2))


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.abs(ak.values_astype(phi1, np.float64) - phi2)
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    deta = ak.values_astype(eta1, np.float64) - eta2
    return np.sqrt(deta * deta + dphi * dphi)


def _independent(query: str) -> dict[str, np.ndarray]:
    if query == "q1":
        return {"met": _read("MET_pt").MET_pt}
    if query == "q2":
        return {"ptj": ak.flatten(_read("Jet_pt").Jet_pt)}
    if query == "q3":
        a = _read("Jet_pt", "Jet_eta")
        return {"ptj": ak.flatten(a.Jet_pt[np.abs(a.Jet_eta) < 1])}
    if query == "q4":
        a = _read("Jet_pt", "MET_pt")
        return {"met": a.MET_pt[ak.count_nonzero(a.Jet_pt > 40, axis=1) >= 2]}
    if query == "q5":
        a = _read("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "MET_pt")
        px, py, pz, e = _four_momentum(a.Muon_pt, a.Muon_eta, a.Muon_phi, a.Muon_mass)
        mu = ak.zip({"px": px, "py": py, "pz": pz, "e": e, "q": a.Muon_charge})
        m1, m2 = ak.unzip(ak.combinations(mu, 2))
        mass = _invariant_mass(m1.px + m2.px, m1.py + m2.py, m1.pz + m2.pz, m1.e + m2.e)
        good = (m1.q + m2.q == 0) & (mass > 60) & (mass < 120)
        return {"met": a.MET_pt[ak.any(good, axis=1)]}
    if query == "q6":
        a = _read("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btag")
        px, py, pz, e = _four_momentum(a.Jet_pt, a.Jet_eta, a.Jet_phi, a.Jet_mass)
        jets = ak.zip({"px": px, "py": py, "pz": pz, "e": e, "b": a.Jet_btag})
        j1, j2, j3 = ak.unzip(ak.combinations(jets, 3))
        sx, sy = j1.px + j2.px + j3.px, j1.py + j2.py + j3.py
        mass = _invariant_mass(sx, sy, j1.pz + j2.pz + j3.pz, j1.e + j2.e + j3.e)
        best = ak.argmin(np.abs(mass - 172.5), axis=1, keepdims=True)
        trijet_pt = ak.flatten(np.hypot(sx, sy)[best], axis=None)
        btag = ak.flatten(np.maximum(np.maximum(j1.b, j2.b), j3.b)[best], axis=None)
        return {"trijetpt": trijet_pt, "maxbtag": btag}
    if query == "q7":
        a = _read(
            *(f"{c}_{v}" for c in ("Jet", "Muon", "Electron") for v in ("pt", "eta", "phi"))
        )
        near = []
        for lep in ("Muon", "Electron"):
            hard = a[f"{lep}_pt"] > 10
            pairs = ak.cartesian(
                [
                    ak.zip({"eta": a.Jet_eta, "phi": a.Jet_phi}),
                    ak.zip({"eta": a[f"{lep}_eta"][hard], "phi": a[f"{lep}_phi"][hard]}),
                ],
                nested=True,
            )
            jet, lepton = ak.unzip(pairs)
            near.append(ak.any(_delta_r(jet.eta, jet.phi, lepton.eta, lepton.phi) < 0.4, axis=2))
        clean = (a.Jet_pt > 30) & ~near[0] & ~near[1]
        return {"sumjetpt": ak.sum(ak.values_astype(a.Jet_pt, np.float64)[clean], axis=1)}
    if query == "q8":
        branches = [f"{c}_{v}" for c in ("Electron", "Muon") for v in ("pt", "eta", "phi", "mass")]
        a = _read(*branches, "Electron_charge", "Muon_charge", "MET_pt", "MET_phi")
        per_flavour = []
        for flavour, c in ((11, "Electron"), (13, "Muon")):
            px, py, pz, e = _four_momentum(*(a[f"{c}_{v}"] for v in ("pt", "eta", "phi", "mass")))
            per_flavour.append(
                ak.zip(
                    {
                        "px": px,
                        "py": py,
                        "pz": pz,
                        "e": e,
                        "pt": a[f"{c}_pt"],
                        "phi": a[f"{c}_phi"],
                        "q": a[f"{c}_charge"],
                        "flavour": ak.full_like(a[f"{c}_charge"], flavour),
                    }
                )
            )
        leptons = ak.concatenate(per_flavour, axis=1)  # electrons first, like the reference
        three = ak.num(leptons) >= 3
        leptons, met_pt, met_phi = leptons[three], a.MET_pt[three], a.MET_phi[three]
        i1, i2 = ak.unzip(ak.argcombinations(leptons, 2))
        l1, l2 = leptons[i1], leptons[i2]
        sfos = (l1.flavour == l2.flavour) & (l1.q + l2.q == 0)
        mass = _invariant_mass(l1.px + l2.px, l1.py + l2.py, l1.pz + l2.pz, l1.e + l2.e)
        distance = np.abs(mass[sfos] - 91.2)
        best = ak.argmin(distance, axis=1, keepdims=True)
        b1, b2 = ak.firsts(i1[sfos][best]), ak.firsts(i2[sfos][best])
        has_pair = ~ak.is_none(b1)
        leptons, b1, b2 = leptons[has_pair], b1[has_pair], b2[has_pair]
        met_pt, met_phi = met_pt[has_pair], met_phi[has_pair]
        index = ak.local_index(leptons)
        rest = leptons[(index != b1) & (index != b2)]
        l3 = ak.firsts(rest[ak.argmax(rest.pt, axis=1, keepdims=True)])
        dphi = ak.values_astype(met_phi, np.float64) - l3.phi
        mt = np.sqrt(2 * l3.pt * ak.values_astype(met_pt, np.float64) * (1 - np.cos(dphi)))
        return {"mt": mt}
    raise AssertionError(query)


# ---------------------------------------------------------------------------------------------
# straightforward coffea behaviour-based formulation of the reference table


def _behaviour_reference(query: str, events) -> dict[str, np.ndarray]:
    if query == "q1":
        return {"met": events.MET.pt}
    if query == "q2":
        return {"ptj": ak.flatten(events.Jet.pt)}
    if query == "q3":
        return {"ptj": ak.flatten(events.Jet[abs(events.Jet.eta) < 1].pt)}
    if query == "q4":
        return {"met": events[ak.sum(events.Jet.pt > 40, axis=1) >= 2].MET.pt}
    if query == "q5":
        pair = ak.combinations(events.Muon, 2, fields=["mu1", "mu2"])
        mass = (pair.mu1 + pair.mu2).mass
        good = ak.any(
            (mass > 60) & (mass < 120) & (pair.mu1.charge == -pair.mu2.charge), axis=1
        )
        return {"met": events[good].MET.pt}
    if query == "q6":
        jets = ak.zip(
            {k: getattr(events.Jet, k) for k in ("x", "y", "z", "t", "btag")},
            with_name="LorentzVector",
            behavior=events.behavior,
        )
        trijet = ak.combinations(jets, 3, fields=["j1", "j2", "j3"])
        trijet["p4"] = trijet.j1 + trijet.j2 + trijet.j3
        best = trijet[ak.argmin(abs(trijet.p4.mass - 172.5), axis=1, keepdims=True)]
        best = ak.flatten(best[~ak.is_none(best, axis=1)])
        btag = np.maximum(best.j1.btag, np.maximum(best.j2.btag, best.j3.btag))
        return {"trijetpt": best.p4.pt, "maxbtag": btag}
    if query == "q7":
        jets, muons, electrons = events.Jet, events.Muon, events.Electron
        clean = (
            ak.all(jets.metric_table(muons[muons.pt > 10]) >= 0.4, axis=2)
            & ak.all(jets.metric_table(electrons[electrons.pt > 10]) >= 0.4, axis=2)
            & (jets.pt > 30)
        )
        return {"sumjetpt": ak.sum(jets[clean].pt, axis=1)}
    if query == "q8":
        fields = ("pt", "eta", "phi", "mass", "charge")
        per_flavour = []
        for collection, pdg in ((events.Electron, -11), (events.Muon, -13)):
            record = {k: collection[k] for k in fields}
            record["pdgId"] = pdg * collection.charge
            per_flavour.append(
                ak.zip(record, with_name="PtEtaPhiMCandidate", behavior=events.behavior)
            )
        leptons = ak.concatenate(per_flavour, axis=1)
        three = ak.num(leptons) >= 3
        leptons, met = leptons[three], events.MET[three]
        pair = ak.argcombinations(leptons, 2, fields=["l1", "l2"])
        pair = pair[leptons[pair.l1].pdgId == -leptons[pair.l2].pdgId]
        mass = (leptons[pair.l1] + leptons[pair.l2]).mass
        pair = ak.firsts(pair[ak.argmin(abs(mass - 91.2), axis=1, keepdims=True)])
        has_pair = ~ak.is_none(pair)
        leptons, met, pair = leptons[has_pair], met[has_pair], pair[has_pair]
        index = ak.local_index(leptons)
        rest = leptons[(index != pair.l1) & (index != pair.l2)]
        l3 = ak.firsts(rest[ak.argmax(rest.pt, axis=1, keepdims=True)])
        return {"mt": np.sqrt(2 * l3.pt * met.pt * (1 - np.cos(met.delta_phi(l3))))}
    raise AssertionError(query)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def processed() -> dict[str, dict]:
    """Each processor's output on the whole file as one NanoAODSchema chunk."""
    events = _events()
    return {query: cls().process(events) for query, cls in QUERIES.items()}


@pytest.fixture(scope="module")
def behaviour_reference() -> dict[str, dict[str, hist.Hist]]:
    events = _events()
    return {query: _fill(query, _behaviour_reference(query, events)) for query in QUERIES}


QUERY_NAMES = sorted(QUERIES)


# ---------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_matches_independent_implementation(query: str, processed: dict) -> None:
    out = processed[query]
    _assert_same(query, out, _fill(query, _independent(query)))
    assert out["nevents"] == {DATASET: 1000}


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_matches_coffea_behaviour_reference(
    query: str, processed: dict, behaviour_reference: dict
) -> None:
    _assert_same(query, processed[query], behaviour_reference[query])


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_runner_chunked_matches(query: str, processed: dict) -> None:
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=300
    )
    out = runner({DATASET: [str(DATA)]}, processor_instance=QUERIES[query](), treename="Events")
    assert out["nevents"] == {DATASET: 1000}
    _assert_same(query, out, {key: processed[query][key] for key, *_ in BINNING[query]})


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_columns_are_exactly_the_branches_read(query: str) -> None:
    log: list = []
    QUERIES[query]().process(_events(ADLNanoAODSchema, access_log=log))
    assert sorted({entry.branch for entry in log}) == sorted(columns(query))
    assert QUERIES[query]().columns == columns(query)


def test_adl_schema_is_silent_and_equivalent(processed: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = _events(ADLNanoAODSchema)
        outputs = {query: cls().process(events) for query, cls in QUERIES.items()}
    for query, out in outputs.items():
        _assert_same(query, out, processed[query])
    # The subclass changes nothing about the events (Photon mass/charge still zeroed).
    assert ak.all(ak.flatten(events.Photon.mass) == 0)
    # ... and leaves NanoAODSchema's global configuration alone.
    assert NanoAODSchema.warn_missing_crossrefs is True


@pytest.mark.parametrize("collection", ["Jet", "Electron", "Muon"])
def test_flat_kinematics_bitwise_equal_to_coffea_behaviour(collection: str) -> None:
    """The processors' numpy four-vectors and pair masses equal coffea's float32 results exactly.

    Histogram equality alone would not notice last-bit differences; these would eventually flip an
    argmin or a bin on the full dataset.
    """
    from processors import adl

    events = _events()
    objects = getattr(events, collection)
    flat = {k: ak.to_numpy(ak.flatten(objects[k])) for k in ("pt", "eta", "phi", "mass")}
    x, y, z, t = adl._p4(flat["pt"], flat["eta"], flat["phi"], flat["mass"])
    for name, mine in zip("xyzt", (x, y, z, t), strict=True):
        expected = ak.to_numpy(ak.flatten(getattr(objects, name)))
        assert mine.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(mine, expected)

    a, b = ak.unzip(ak.combinations(objects, 2))
    expected = ak.to_numpy(ak.flatten((a + b).mass))
    comps = [ak.to_numpy(ak.flatten(getattr(a, k) + getattr(b, k))) for k in "xyzt"]
    np.testing.assert_array_equal(adl._mass(*comps), expected)
    # the compiled Q6 kernel's distance, element by element, is the same float32 arithmetic
    from processors._trijet import _mass_distance

    target = np.float32(91.2)
    compiled = np.array([_mass_distance(*c, target) for c in zip(*comps, strict=True)], np.float32)
    np.testing.assert_array_equal(compiled, np.abs(expected - target))

    dphi = events.MET.delta_phi(objects)
    met_phi = np.repeat(ak.to_numpy(events.MET.phi), ak.to_numpy(ak.num(objects)))
    np.testing.assert_array_equal(
        adl._rectify(met_phi - flat["phi"]), ak.to_numpy(ak.flatten(dphi))
    )


@pytest.mark.parametrize("query", ["q5", "q8"])  # q6 has no blocks: one compiled pass
def test_combination_blocking_does_not_change_results(
    query: str, processed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processors import adl

    # Force many tiny blocks per multiplicity group (the bound protects memory on huge chunks).
    monkeypatch.setattr(adl, "_MAX_COMBINATIONS", 5)
    _assert_same(query, QUERIES[query]().process(_events()), processed[query])


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_sliced_masked_and_empty_events(query: str) -> None:
    """Non-contiguous layouts (slices, masks) take the generic path and still agree."""
    events = _events()
    for subset in (events[123:789], events[np.arange(len(events)) % 3 != 0]):
        expected = _fill(query, _behaviour_reference(query, subset))
        _assert_same(query, QUERIES[query]().process(subset), expected)
    empty = QUERIES[query]().process(events[:0])
    assert empty["nevents"] == {DATASET: 0}
    assert all(empty[key].sum(flow=True) == 0 for key, *_ in BINNING[query])


def test_runner_with_adl_schema_is_silent(processed: dict) -> None:
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=ADLNanoAODSchema, chunksize=300
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = runner({DATASET: [str(DATA)]}, processor_instance=QUERIES["q8"](), treename="Events")
    _assert_same("q8", out, processed["q8"])


def test_unknown_query() -> None:
    assert columns("Q1") == ["MET_pt"]
    with pytest.raises(KeyError, match="unknown ADL query"):
        columns("q9")


def test_postprocess_is_identity(processed: dict) -> None:
    out = processed["q1"]
    assert QUERIES["q1"]().postprocess(out) is out


def test_q6_nan_inputs_pick_the_trijet_ak_argmin_picks(tmp_path) -> None:
    """NaN distances: the first trijet is kept unless a later one is strictly closer (ak.argmin).

    NaN is injected into one jet's eta per event (at positions 0..3, so the first NaN trijet is
    sometimes the first trijet and sometimes a later one) and into some pt and b-tag values; a NaN
    eta leaves the trijet pt finite, so a different choice shows in the pt histogram.
    """
    from processors._trijet import best_trijets

    with uproot.open(DATA) as f:
        branches = [f"Jet_{k}" for k in ("pt", "eta", "phi", "mass", "btag")]
        arrays = f["Events"].arrays(["run", "luminosityBlock", "event", *branches], how="zip")
    jets = arrays["Jet"]
    counts = ak.to_numpy(ak.num(jets))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    columns = {k: ak.to_numpy(ak.flatten(jets[k])).copy() for k in jets.fields}
    for event in np.flatnonzero(counts >= 3):
        position = event % 5  # 4: no NaN in this event
        if position < min(4, counts[event]):
            columns["eta"][offsets[event] + position] = np.nan
        if event % 7 == 0:
            columns["pt"][offsets[event + 1] - 1] = np.nan
        if event % 3 == 0:
            columns["btag"][offsets[event] + 1] = np.nan
    path = tmp_path / "nan_jets.root"
    data = {
        **{k: arrays[k] for k in ("run", "luminosityBlock", "event")},
        "Jet": ak.zip({k: ak.unflatten(v, counts) for k, v in columns.items()}),
    }
    with uproot.recreate(path) as out:  # a TTree (plain assignment would write an RNTuple)
        out.mktree("Events", {k: v.type.content for k, v in data.items()}).extend(data)
    events = NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=NanoAODSchema,
        mode="virtual",
        metadata={"dataset": DATASET},
    ).events()

    reference = _behaviour_reference("q6", events)
    _assert_same("q6", QUERIES["q6"]().process(events), _fill("q6", reference))
    # per event, not only histogrammed: the same trijet is chosen everywhere
    from processors import adl

    jet_offsets, pt, eta, phi, mass, btag = adl._fields(
        events.Jet, "pt", "eta", "phi", "mass", "btag"
    )
    got_pt, got_btag = best_trijets(
        jet_offsets, *adl._p4(pt, eta, phi, mass), btag, np.float32(172.5)
    )
    np.testing.assert_array_equal(got_pt, ak.to_numpy(reference["trijetpt"]))
    np.testing.assert_array_equal(got_btag, ak.to_numpy(reference["maxbtag"]))
    # the injected NaNs reach both the chosen and the skipped trijets
    assert np.isnan(got_pt).any()
    assert np.isnan(got_btag).any()
    assert np.isfinite(got_pt).sum() > 100
