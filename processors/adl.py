"""The ADL functionality benchmarks (Q1-Q8) as coffea processors.

Each ``QnProcessor`` is a plain :class:`coffea.processor.ProcessorABC`, so it runs unchanged under
``coffea.processor.Runner`` and under colframe's Runner. ``process`` returns a plain dict of
``hist.Hist`` objects (``Double`` storage, weight-less fills) plus ``"nevents": {dataset: n}``.

Semantics follow the canonical query text (iris-hep/adl-benchmarks-index), the coffea reference
implementation's choices (CoffeaTeam/coffea-benchmarks: binning, Q6 Cartesian pre-conversion, Q7
filling every event, Q8 lepton order) and coffea's own vector behaviour (scikit-hep ``vector``
formulas, float32 arithmetic). The kinematics are not
computed through the behaviour machinery but with numpy on the flat column contents, using the
same float32 operations in the same order, so the histograms are bit-identical to the
behaviour-based formulation without building its record arrays (four-vectors, combinations):

* four-vectors are ``x = pt cos(phi)``, ``y = pt sin(phi)``, ``z = pt sinh(eta)`` and
  ``t = sqrt(max(copysign(m^2, m) + |p|^2, 0))`` with ``|p|^2`` from ``exp(-eta)`` as vector does
  (a negative mass, present for electrons in the open data, *reduces* the energy);
* sums are Cartesian and the mass is ``copysign(sqrt(|t^2 - |p|^2|), t^2 - |p|^2)``, i.e.
  negative (never NaN) for space-like sums;
* combinations are enumerated per object multiplicity in ``ak.combinations`` order, so that
  ``argmin``/``argmax`` ties resolve to the same candidate as in the reference.

The open-data file is non-standard NanoAOD: read it with :class:`ADLNanoAODSchema` to get the
same events as ``NanoAODSchema`` without its schema-building RuntimeWarnings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from ._trijet import best_trijets

__all__ = [
    "QUERIES",
    "ADLNanoAODSchema",
    "Q1Processor",
    "Q2Processor",
    "Q3Processor",
    "Q4Processor",
    "Q5Processor",
    "Q6Processor",
    "Q7Processor",
    "Q8Processor",
    "columns",
]


class ADLNanoAODSchema(NanoAODSchema):
    """``NanoAODSchema`` for the ADL open-data files, without the schema-building warnings.

    The open data lacks the optional cross-reference indices (``Jet_muonIdx1`` ...), and it stores
    ``Photon_mass``/``Photon_charge``, which NanoAODSchema overwrites with zeros and warns about.
    Both are harmless for these files. Silencing them via class attributes of a subclass (rather
    than setting ``NanoAODSchema.warn_missing_crossrefs`` or a warnings filter at import) keeps
    global state untouched; the resulting events are identical to ``NanoAODSchema``'s.
    """

    warn_missing_crossrefs = False

    def _build_collections(self, field_names, input_contents):
        # Drop the stored branches that the parent replaces by constants anyway: the outcome is the
        # same, only the "already exists" warning disappears.
        fields = list(field_names)
        replaced = {
            name
            for name, (_, args) in self.full_like_items.items()
            if name in fields and "n" + args[0][1:] in fields
        }
        if replaced:
            kept = [
                (f, c) for f, c in zip(fields, input_contents, strict=True) if f not in replaced
            ]
            field_names = [f for f, _ in kept]
            input_contents = [c for _, c in kept]
        return super()._build_collections(field_names, input_contents)


# Branches each query reads (coffea's metrics["columns"] / dak.necessary_columns for the reference).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "q1": ("MET_pt",),
    "q2": ("nJet", "Jet_pt"),
    "q3": ("nJet", "Jet_pt", "Jet_eta"),
    "q4": ("nJet", "Jet_pt", "MET_pt"),
    "q5": (
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_mass",
        "Muon_charge",
        "MET_pt",
    ),
    "q6": ("nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btag"),
    "q7": (
        "nJet",
        "Jet_pt",
        "Jet_eta",
        "Jet_phi",
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "nElectron",
        "Electron_pt",
        "Electron_eta",
        "Electron_phi",
    ),
    "q8": (
        "nElectron",
        "Electron_pt",
        "Electron_eta",
        "Electron_phi",
        "Electron_mass",
        "Electron_charge",
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_mass",
        "Muon_charge",
        "MET_pt",
        "MET_phi",
    ),
}

# Upper bound on combinations held in memory at once (per float32 temporary: 16 MB).
_MAX_COMBINATIONS = 1 << 22


def columns(query: str) -> list[str]:
    """Return the input branches read by ``query`` (``"q1"`` ... ``"q8"``)."""
    try:
        return list(_COLUMNS[query.lower()])
    except KeyError:
        msg = f"unknown ADL query {query!r}; expected one of {sorted(_COLUMNS)}"
        raise KeyError(msg) from None


# ---------------------------------------------------------------------------------------------
# flat-array helpers


def _flat(array: Any) -> np.ndarray:
    """Materialise a flat (one value per event) column as a numpy array."""
    return ak.to_numpy(array)


def _fields(collection: Any, *names: str) -> tuple[np.ndarray, ...]:
    """``(offsets, content of names[0], content of names[1], ...)`` of one collection."""
    offsets, first = _jagged(collection[names[0]])
    return (offsets, first, *(_jagged(collection[name])[1] for name in names[1:]))


def _jagged(array: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(offsets, content)`` numpy arrays of a jagged numeric column, offsets from 0."""
    layout = ak.to_layout(array)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(
        layout.content, ak.contents.NumpyArray
    ):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        content = np.asarray(layout.content.data)
        start, stop = int(offsets[0]), int(offsets[-1])
        if start:
            offsets = offsets - start
        return offsets, content[start:stop]
    # Anything else (a user-sliced or indexed collection): let awkward normalise it.
    counts = ak.to_numpy(ak.num(array, axis=1))
    return _offsets(counts), ak.to_numpy(ak.flatten(array, axis=1))


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _count_true(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-event number of true entries of a flat boolean mask (empty events give 0)."""
    running = np.empty(len(mask) + 1, dtype=np.int64)
    running[0] = 0
    # Cast first, then an in-place same-type cumsum: much faster than cumsum(bool, out=int64).
    running[1:] = mask
    np.cumsum(running[1:], out=running[1:])
    return running[offsets[1:]] - running[offsets[:-1]]


def _p4(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian (x, y, z, t) exactly as coffea's PtEtaPhiM behaviour (scikit-hep vector) does.

    The energy uses vector's ``|p|^2 = pt^2 / sin^2(theta)`` via ``exp(-eta)`` and keeps the sign
    of the mass term, so that float32 results agree bit for bit with ``events.Jet.t`` etc.
    """
    x = pt * np.cos(phi)
    y = pt * np.sin(phi)
    z = pt * np.sinh(eta)
    expmeta = np.exp(-eta)
    invsintheta = 0.5 * (1 + expmeta**2) / expmeta
    t = np.sqrt(np.maximum(np.copysign(mass**2, mass) + pt**2 * invsintheta**2, 0))
    return x, y, z, t


def _mass(x: np.ndarray, y: np.ndarray, z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Signed invariant mass as vector's ``tau`` for Cartesian vectors (negative if space-like)."""
    m2 = t**2 - (x**2 + y**2 + z**2)
    return np.copysign(np.sqrt(np.abs(m2)), m2)


def _rectify(dphi: np.ndarray) -> np.ndarray:
    """Wrap an angle difference into [-pi, pi) as vector's ``deltaphi`` does."""
    return (dphi + np.pi) % (2 * np.pi) - np.pi


@cache
def _combination_table(n: int, k: int) -> np.ndarray:
    """Index table of all k-subsets of range(n), in ``ak.combinations`` (lexicographic) order."""
    table = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(n), k)), dtype=np.int64
    ).reshape(-1, k)
    table.flags.writeable = False
    return table


def _by_multiplicity(
    counts: np.ndarray, min_count: int, k: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(n, events)`` for each multiplicity ``n >= min_count``, in blocks of bounded size.

    Grouping events by multiplicity turns each group's k-combinations into a regular
    ``(events, C(n, k))`` matrix, so per-event argmin/any become plain numpy reductions; a block
    holds at most about ``_MAX_COMBINATIONS`` combinations.
    """
    selected = np.flatnonzero(counts >= min_count)
    if selected.size == 0:
        return
    multiplicity = counts[selected]
    order = np.argsort(multiplicity, kind="stable")
    selected, multiplicity = selected[order], multiplicity[order]
    bounds = np.flatnonzero(np.diff(multiplicity)) + 1
    for events in np.split(selected, bounds):
        n = int(counts[events[0]])
        step = max(1, _MAX_COMBINATIONS // math.comb(n, k))
        for start in range(0, len(events), step):
            yield n, events[start : start + step]


def _slots(offsets: np.ndarray, events: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the objects of ``events`` (all with n objects) as an ``(events, n)`` matrix.

    Gathering per multiplicity group also means kinematics are only computed for objects in
    events that can form a combination at all.
    """
    return offsets[events][:, None] + np.arange(n)


def _pair_masses(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, second, mass)`` of every pair of objects of ``(events, n)`` four-vector matrices.

    ``first``/``second`` index the pair's objects (``ak.combinations`` order); ``mass`` is the
    ``(events, C(n, 2))`` matrix of pair masses.
    """
    first, second = _combination_table(x.shape[1], 2).T
    mass = _mass(
        x[:, first] + x[:, second],
        y[:, first] + y[:, second],
        z[:, first] + z[:, second],
        t[:, first] + t[:, second],
    )
    return first, second, mass


def _met_output(events: Any, selected: Any) -> dict[str, Any]:
    """The output of the MET queries (q1, q4, q5): MET of the ``selected`` events."""
    h = _hist("met", _MET_LABEL)
    h.fill(met=_flat(events.MET["pt"])[selected])
    return {"met": h, "nevents": {_dataset(events): len(events)}}


def _dataset(events: Any) -> str:
    return events.metadata.get("dataset", "unknown")


def _hist(name: str, label: str, bins: int = 100, start: float = 0, stop: float = 200) -> hist.Hist:
    return hist.Hist.new.Reg(bins, start, stop, name=name, label=label).Double()


_MET_LABEL = "$E_{T}^{miss}$ [GeV]"
_JETPT_LABEL = "Jet $p_{T}$ [GeV]"


class _ADLProcessor(processor.ProcessorABC):
    """Common plumbing: the query name, its columns and a pass-through postprocess."""

    query: ClassVar[str]

    @property
    def columns(self) -> list[str]:
        """Input branches read by this query."""
        return columns(self.query)

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Return the accumulator unchanged."""
        return accumulator


class Q1Processor(_ADLProcessor):
    """Q1: MET of all events."""

    query = "q1"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``met`` with ``MET_pt`` of every event."""
        return _met_output(events, slice(None))


class Q2Processor(_ADLProcessor):
    """Q2: pT of all jets."""

    query = "q2"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``ptj`` with every jet's pT."""
        _, pt = _jagged(events.Jet["pt"])
        h = _hist("ptj", _JETPT_LABEL)
        h.fill(ptj=pt)
        return {"ptj": h, "nevents": {_dataset(events): len(events)}}


class Q3Processor(_ADLProcessor):
    """Q3: pT of jets with |eta| < 1."""

    query = "q3"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``ptj`` with the pT of central jets."""
        _, pt = _jagged(events.Jet["pt"])
        _, eta = _jagged(events.Jet["eta"])
        h = _hist("ptj", _JETPT_LABEL)
        h.fill(ptj=pt[np.abs(eta) < 1])
        return {"ptj": h, "nevents": {_dataset(events): len(events)}}


class Q4Processor(_ADLProcessor):
    """Q4: MET of events with at least two jets of pT > 40 GeV."""

    query = "q4"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``met`` for events with >= 2 jets above 40 GeV."""
        offsets, pt = _jagged(events.Jet["pt"])
        selected = _count_true(pt > 40, offsets) >= 2
        return _met_output(events, selected)


class Q5Processor(_ADLProcessor):
    """Q5: MET of events with an opposite-charge muon pair of mass 60 < m < 120 GeV."""

    query = "q5"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``met`` for events with at least one such dimuon."""
        muons = events.Muon
        offsets, pt, eta, phi, mass, charge = _fields(muons, "pt", "eta", "phi", "mass", "charge")

        counts = np.diff(offsets)
        selected = np.zeros(len(counts), dtype=bool)
        for n, evts in _by_multiplicity(counts, 2, 2):
            slots = _slots(offsets, evts, n)
            q = charge[slots]
            first, second, m = _pair_masses(*_p4(pt[slots], eta[slots], phi[slots], mass[slots]))
            good = (m > 60) & (m < 120) & (q[:, first] == -q[:, second])
            selected[evts] = good.any(axis=1)

        return _met_output(events, selected)


class Q6Processor(_ADLProcessor):
    """Q6: pT and max b-tag of the trijet with mass closest to 172.5 GeV (events with >= 3 jets)."""

    query = "q6"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``trijetpt`` (axis ``pt3j``) and ``maxbtag`` (axis ``btag``) once per event."""
        jets = events.Jet
        offsets, pt, eta, phi, mass, btag = _fields(jets, "pt", "eta", "phi", "mass", "btag")

        # Cartesian pre-conversion once per jet, as the reference does before forming trijets;
        # the trijet search itself is one compiled pass (processors/_trijet.py).
        x, y, z, t = _p4(pt, eta, phi, mass)
        best_pt, best_btag = best_trijets(offsets, x, y, z, t, btag, np.float32(172.5))

        h_pt = _hist("pt3j", "Trijet $p_{T}$ [GeV]")
        h_btag = _hist("btag", "Max jet b-tag score", 100, 0, 1)
        h_pt.fill(pt3j=best_pt)
        h_btag.fill(btag=best_btag)
        return {
            "trijetpt": h_pt,
            "maxbtag": h_btag,
            "nevents": {_dataset(events): len(events)},
        }


def _lepton_veto(
    jet_event: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    lep_offsets: np.ndarray,
    lep_eta: np.ndarray,
    lep_phi: np.ndarray,
) -> np.ndarray:
    """True for jets with some lepton of the same event at dR < 0.4 (or an undefined dR)."""
    nlep = np.diff(lep_offsets)[jet_event]
    total = int(nlep.sum())
    if total == 0:
        return np.zeros(len(jet_event), dtype=bool)
    # Outer product jets x leptons per event, flattened: pair -> (jet, lepton) indices.
    jet_of_pair = np.repeat(np.arange(len(jet_event)), nlep)
    first_pair = _offsets(nlep)[:-1]
    lep_of_pair = np.arange(total) - np.repeat(first_pair - lep_offsets[jet_event], nlep)
    dphi = _rectify(jet_phi[jet_of_pair] - lep_phi[lep_of_pair])
    deta = jet_eta[jet_of_pair] - lep_eta[lep_of_pair]
    dr = np.sqrt(dphi**2 + deta**2)
    veto = np.zeros(len(jet_event), dtype=bool)
    # The reference keeps a jet only if all(dR >= 0.4), so NaN vetoes as well.
    veto[jet_of_pair[~(dr >= 0.4)]] = True
    return veto


class Q7Processor(_ADLProcessor):
    """Q7: scalar pT sum of jets with pT > 30 GeV not within dR 0.4 of a lepton with pT > 10 GeV.

    Every event is filled, with 0 when no jet survives (coffea's semantics).
    """

    query = "q7"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``sumjetpt`` once per event."""
        jets = events.Jet
        offsets, pt, eta, phi = _fields(jets, "pt", "eta", "phi")
        nevents = len(offsets) - 1

        # Only jets passing the pT cut can contribute: skip dR for the rest.
        candidate = np.flatnonzero(pt > 30)
        jet_event = np.searchsorted(offsets, candidate, side="right") - 1
        jet_eta, jet_phi = eta[candidate], phi[candidate]
        keep = np.ones(len(candidate), dtype=bool)
        for leptons in (events.Muon, events.Electron):
            lep_offsets, lep_pt, lep_eta, lep_phi = _fields(leptons, "pt", "eta", "phi")
            hard = lep_pt > 10
            keep &= ~_lepton_veto(
                jet_event,
                jet_eta,
                jet_phi,
                _offsets(_count_true(hard, lep_offsets)),
                lep_eta[hard],
                lep_phi[hard],
            )

        clean = candidate[keep]
        clean_counts = np.bincount(jet_event[keep], minlength=nevents)
        # awkward's float32 sum is sequential per event; reuse it so sums match bit for bit.
        sums = ak.sum(
            ak.Array(
                ak.contents.ListOffsetArray(
                    ak.index.Index64(_offsets(clean_counts)), ak.contents.NumpyArray(pt[clean])
                )
            ),
            axis=1,
        )
        h = _hist("sumjetpt", "Jet $\\sum p_{T}$ [GeV]")
        h.fill(sumjetpt=ak.to_numpy(sums))
        return {"sumjetpt": h, "nevents": {_dataset(events): len(events)}}


class Q8Processor(_ADLProcessor):
    """Q8: lepton-MET transverse mass in >= 3-lepton events with an SFOS pair.

    The SFOS pair is the one with mass closest to 91.2 GeV; the lepton is the highest-pT light
    lepton not in the pair. Leptons are ordered electrons first, then muons, as in the reference,
    which fixes the tie-breaking of both choices.
    """

    query = "q8"

    def process(self, events: Any) -> dict[str, Any]:
        """Fill ``mt`` once per selected event."""
        ele_offsets, ele = self._leptons(events.Electron, -11)
        mu_offsets, mu = self._leptons(events.Muon, -13)
        nele = np.diff(ele_offsets)
        counts = nele + np.diff(mu_offsets)
        # One pool [all electrons..., all muons...]; each event's lepton list (electrons first,
        # as the reference concatenates) is gathered from it per multiplicity group.
        pool = {key: np.concatenate([ele[key], mu[key]]) for key in ele}
        mu_start = mu_offsets[:-1] + len(ele["pt"])

        selected: list[np.ndarray] = []
        l3_pt: list[np.ndarray] = []
        l3_phi: list[np.ndarray] = []
        for n, evts in _by_multiplicity(counts, 3, 2):  # >= 3 leptons, pairs of them
            position = np.arange(n)
            ne = nele[evts][:, None]
            slots = np.where(
                position < ne,
                ele_offsets[evts][:, None] + position,
                mu_start[evts][:, None] + (position - ne),
            )
            lpt, lphi = pool["pt"][slots], pool["phi"][slots]
            pdg = pool["pdgId"][slots]
            first, second, m = _pair_masses(
                *_p4(lpt, pool["eta"][slots], lphi, pool["mass"][slots])
            )
            sfos = pdg[:, first] == -pdg[:, second]
            # Non-SFOS pairs are excluded by an infinite distance; the first minimum wins as
            # with ak.argmin on the filtered pair list.
            distance = np.where(sfos, np.abs(m - 91.2), np.inf)
            has_pair = sfos.any(axis=1)
            best = np.argmin(distance[has_pair], axis=1)
            lpt, lphi = lpt[has_pair], lphi[has_pair]
            rows = np.arange(len(best))
            others = lpt.copy()
            others[rows, first[best]] = -np.inf
            others[rows, second[best]] = -np.inf
            third = np.argmax(others, axis=1)
            selected.append(evts[has_pair])
            l3_pt.append(lpt[rows, third])
            l3_phi.append(lphi[rows, third])

        h = _hist("mt", "$\\ell$-MET transverse mass [GeV]")
        if selected:
            evts = np.concatenate(selected)
            pt3, phi3 = np.concatenate(l3_pt), np.concatenate(l3_phi)
            met_pt = _flat(events.MET["pt"])[evts]
            met_phi = _flat(events.MET["phi"])[evts]
            # Same operation order as sqrt(2 * l3.pt * MET.pt * (1 - cos(MET.delta_phi(l3)))).
            mt = np.sqrt(2 * pt3 * met_pt * (1 - np.cos(_rectify(met_phi - phi3))))
            h.fill(mt=mt)
        return {"mt": h, "nevents": {_dataset(events): len(events)}}

    @staticmethod
    def _leptons(collection: Any, pdg_sign: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        offsets, pt, eta, phi, mass, charge = _fields(
            collection, "pt", "eta", "phi", "mass", "charge"
        )
        # pdgId as the reference defines it (-11*charge, -13*charge); SFOS is pdgId1 == -pdgId2.
        fields = {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "pdgId": pdg_sign * charge}
        return offsets, fields


QUERIES: dict[str, type[_ADLProcessor]] = {
    "q1": Q1Processor,
    "q2": Q2Processor,
    "q3": Q3Processor,
    "q4": Q4Processor,
    "q5": Q5Processor,
    "q6": Q6Processor,
    "q7": Q7Processor,
    "q8": Q8Processor,
}
