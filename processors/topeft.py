"""A TopEFT-like processor: one EFT histogram with sparse categories, on ADL-schema events.

How it maps to TopEFT (``topeft/analysis/topeft_run2/analysis_processor.py``):

- TopEFT fills, per observable, a ``HistEFT(process, channel, systematic, appl, <observable>)``
  whose extra dense ``quadratic_term`` axis holds the per-event quadratic-fit coefficients of the
  event weight in the Wilson coefficients (26 WCs give (26+1)(26+2)/2 = 378 terms). Here the
  histogram is a :class:`colframe.hist.SparseHist` with the same axes: ``process``, ``channel``,
  ``systematic``, ``appl`` (growing ``StrCategory``), ``l0pt`` (leading-lepton pT, 8 bins) and
  ``coeff`` (``Integer(0, 378)``, no flow). Only the filled category combinations get a block.
- TopEFT runs one sample (= one process) per dataset; the synthetic files hold a single sample, so
  the process is drawn per event from ``events.event % n_processes``. The first ``n_eft``
  processes are "private EFT samples" and fill all coefficients; the others fill coefficient 0
  only, as HistEFT does for central samples (``eft_coeff=None``).
- Channels combine the lepton category (``1l_p``, ``1l_m``, ``2los``, ``2lss``, ``3l``) with the
  jet count (``0j`` ... ``3j`` = three or more): 20 channels. The application region ``appl`` is
  ``isSR`` when every selected lepton passes its tight ID, else ``isAR`` (the fake-factor
  application region).
- Systematics are a loop over weight variations (``nominal``, then ``<source>Up/Down``), each
  filling the whole histogram again, as TopEFT's systematics loop does.

Weights and coefficients are generated from a hash of the ``event`` number, so they do not depend
on how a file is chunked. They are dyadic rationals with few significant bits: every sum is
exact, so results are bit-identical whatever the chunking and merge order.

Plotting: select down to the dense axes and get a ``hist.Hist``::

    h = out["l0pt"]
    sm = h[{"process": "ttH", "channel": "2lss_2j", "systematic": "nominal", "appl": "isSR",
            "coeff": 0}]                     # hist.Hist over l0pt: the SM prediction
    sm.plot()
    per_channel = h[{"process": "ttH", "systematic": "nominal", "appl": sum, "coeff": 0}]
    per_channel.to_hist()                    # dense hist.Hist (channel, l0pt)
    h.project("process", "l0pt")             # sums the other axes (coefficients too)

The prediction at a Wilson-coefficient point ``c`` is ``block.values() @ s(c)`` over ``coeff``,
with ``s(c) = (1, c_1, ..., c_n, c_1 c_1, c_1 c_2, ...)``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import hist
import numpy as np
from coffea import processor

from colframe.hist import SparseHist

__all__ = ["APPL", "CHANNELS", "PROCESSES", "SOURCES", "TopEFTProcessor", "systematic_names"]

PROCESSES = (
    "ttH",
    "ttll",
    "tllq",
    "ttlnu",
    "tHq",
    "tttt",
    "ttbar",
    "WZ",
    "ZZ",
    "WWZ",
    "DY",
    "nonprompt",
)
_LEPTON_CATS = ("1l_p", "1l_m", "2los", "2lss", "3l")
_JET_BINS = ("0j", "1j", "2j", "3j")
CHANNELS = tuple(f"{lep}_{jets}" for lep in _LEPTON_CATS for jets in _JET_BINS)
APPL = ("isSR", "isAR")
SOURCES = (
    "lepSF",
    "btagSF",
    "PU",
    "JES",
    "JER",
    "ISR",
    "FSR",
    "renorm",
    "fact",
    "PDF",
    "trigger",
    "prefire",
)

# splitmix64 constants: a cheap, well-mixed counter-based hash, vectorized in numpy.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_COEFF_STREAM = 1 << 12  # hash streams: 0 weight, 1.. systematic sources, 4096+j coefficient j


def _mix(x: np.ndarray) -> np.ndarray:
    # uint64 array arithmetic wraps silently, which is what the hash needs.
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _top_bits(h: np.ndarray, bits: int) -> np.ndarray:
    return (h >> np.uint64(64 - bits)).astype(np.int64)


def systematic_names(n: int) -> list[str]:
    """``nominal`` followed by ``<source>Up``/``<source>Down`` pairs: ``n`` names in all."""
    names = ["nominal"] + [f"{s}{d}" for s in SOURCES for d in ("Up", "Down")]
    if not 1 <= n <= len(names):
        msg = f"n_systematics must be between 1 and {len(names)}, got {n}"
        raise ValueError(msg)
    return names[:n]


class TopEFTProcessor(processor.ProcessorABC):
    """Fills ``{"l0pt": SparseHist, "nevents": {dataset: n}}`` (see the module docstring).

    Args:
        n_systematics: number of weight variations, ``nominal`` included (1 to 25).
        n_processes: processes drawn from ``event % n_processes`` (at most 12).
        n_eft: how many of them carry EFT coefficients (the first ones).
        n_coeffs: quadratic-fit coefficients per event (378 for 26 Wilson coefficients).
    """

    def __init__(
        self, n_systematics: int = 8, n_processes: int = 12, n_eft: int = 3, n_coeffs: int = 378
    ) -> None:
        if not 1 <= n_processes <= len(PROCESSES) or not 0 <= n_eft <= n_processes:
            msg = (
                f"need 1 <= n_processes <= {len(PROCESSES)} and 0 <= n_eft <= n_processes; "
                f"got n_processes={n_processes}, n_eft={n_eft}"
            )
            raise ValueError(msg)
        if n_coeffs < 1:
            msg = f"n_coeffs must be at least 1, got {n_coeffs}"
            raise ValueError(msg)
        self.systematics = systematic_names(n_systematics)
        self.processes = PROCESSES[:n_processes]
        self.n_eft = n_eft
        self.n_coeffs = n_coeffs

    def make_hist(self) -> SparseHist:
        """The empty output histogram."""
        return SparseHist(
            hist.axis.StrCategory([], growth=True, name="process", label="Process"),
            hist.axis.StrCategory([], growth=True, name="channel", label="Channel"),
            hist.axis.StrCategory([], growth=True, name="systematic", label="Systematic"),
            hist.axis.StrCategory([], growth=True, name="appl", label="Application region"),
            hist.axis.Regular(8, 0, 200, name="l0pt", label="Leading lepton $p_{T}$ [GeV]"),
            hist.axis.Integer(
                0,
                self.n_coeffs,
                name="coeff",
                label="Quadratic term",
                underflow=False,
                overflow=False,
            ),
        )

    def process(self, events: Any) -> dict[str, Any]:
        """Select leptons and jets, assign categories, fill every systematic."""
        h = self.make_hist()
        sel = _select(events)
        keep = sel["channel"] >= 0
        event = ak.to_numpy(events.event).astype(np.uint64)[keep]
        channel = sel["channel"][keep]
        appl = sel["appl"][keep]
        l0pt = sel["l0pt"][keep]
        proc = (event % np.uint64(len(self.processes))).astype(np.int64)
        base = _mix(event)
        # Nominal weight in [0.75, 1.75): k/32 with 5 random bits.
        weight = (24 + _top_bits(_mix(base), 5)) / 32
        factors = [self._factor(base, s) for s in range(len(self.systematics))]
        self.fill(h, proc, channel, appl, l0pt, weight, base, factors)
        return {"l0pt": h, "nevents": {events.metadata.get("dataset", "unknown"): len(events)}}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Return the accumulator unchanged."""
        return accumulator

    def _factor(self, base: np.ndarray, syst: int) -> np.ndarray | float:
        """Weight multiplier of systematic ``syst``: 1 +- (1..8)/64 per event, 1 for nominal."""
        if syst == 0:
            return 1.0
        source, down = divmod(syst - 1, 2)
        shift = (1 + _top_bits(_mix(base + np.uint64(1 + source)), 3)) / 64
        return 1 - shift if down else 1 + shift

    def fill(self, h, proc, channel, appl, l0pt, weight, base, factors) -> None:
        """Fill ``h`` with events given as arrays of indices into the processes, CHANNELS
        and APPL, leading-lepton pT, nominal weight, per-event seeds (``base``, for the
        EFT coefficients) and one weight factor (array or scalar) per systematic.
        Processes below ``n_eft`` get EFT coefficients, the others coefficient 0 only."""
        eft = proc < self.n_eft
        self._fill_sm(h, ~eft, proc, channel, appl, l0pt, weight, factors)
        self._fill_eft(h, eft, proc, channel, appl, l0pt, weight, base, factors)

    def _fill_sm(self, h, mask, proc, channel, appl, l0pt, weight, factors) -> None:
        if not mask.any():
            return
        names = np.asarray(self.processes)[proc[mask]]
        chans = np.asarray(CHANNELS)[channel[mask]]
        appls = np.asarray(APPL)[appl[mask]]
        pt, w = l0pt[mask], weight[mask]
        for syst, factor in zip(self.systematics, factors, strict=True):
            f = factor[mask] if isinstance(factor, np.ndarray) else factor
            h.fill(
                process=names,
                channel=chans,
                systematic=syst,
                appl=appls,
                l0pt=pt,
                coeff=0,
                weight=w * f,
            )

    def _fill_eft(self, h, mask, proc, channel, appl, l0pt, weight, base, factors) -> None:
        # One fill per (process, channel, appl) group and systematic with scalar categories:
        # the per-coefficient arrays are n_events x n_coeffs long, and repeating category
        # strings that often would cost more than the fills themselves.
        index = np.flatnonzero(mask)
        if len(index) == 0:
            return
        code = (proc[index] * len(CHANNELS) + channel[index]) * len(APPL) + appl[index]
        order = np.argsort(code, kind="stable")
        index, code = index[order], code[order]
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        ends = np.r_[starts[1:], len(code)]
        terms = np.arange(self.n_coeffs)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = index[start:end]
            p, rest = divmod(int(code[start]), len(CHANNELS) * len(APPL))
            c, a = divmod(rest, len(APPL))
            coeffs = self._coefficients(base[rows], weight[rows], terms)
            pt = np.repeat(l0pt[rows], self.n_coeffs)
            tiled = np.tile(terms, len(rows))
            for syst, factor in zip(self.systematics, factors, strict=True):
                f = factor[rows, None] if isinstance(factor, np.ndarray) else factor
                h.fill(
                    process=self.processes[p],
                    channel=CHANNELS[c],
                    systematic=syst,
                    appl=APPL[a],
                    l0pt=pt,
                    coeff=tiled,
                    weight=(coeffs * f).ravel(),
                )

    def _coefficients(self, base: np.ndarray, weight: np.ndarray, terms: np.ndarray) -> np.ndarray:
        """(events, n_coeffs): term 0 is the SM weight, the others weight * [-2, 2) in 1/64 steps."""
        stream = (np.uint64(_COEFF_STREAM) + terms.astype(np.uint64))[None, :]
        scale = (_top_bits(_mix(base[:, None] + stream), 8) - 128) / 64
        scale[:, 0] = 1.0
        return weight[:, None] * scale


def _select(events: Any) -> dict[str, np.ndarray]:
    """Per event: channel index (-1 = no lepton), appl index and leading-lepton pT."""
    muons = events.Muon[(events.Muon.pt > 10) & (abs(events.Muon.eta) < 2.4)]
    electrons = events.Electron[(events.Electron.pt > 10) & (abs(events.Electron.eta) < 2.5)]
    jets = events.Jet[(events.Jet.pt > 30) & (abs(events.Jet.eta) < 2.4)]
    nlep = ak.to_numpy(ak.num(muons) + ak.num(electrons))
    charge = ak.to_numpy(ak.sum(muons.charge, axis=1) + ak.sum(electrons.charge, axis=1))
    tight = ak.to_numpy(ak.all(muons.tightId, axis=1) & ak.all(electrons.cutBasedId, axis=1))
    l0pt = np.maximum(
        ak.to_numpy(ak.fill_none(ak.max(muons.pt, axis=1), 0.0)),
        ak.to_numpy(ak.fill_none(ak.max(electrons.pt, axis=1), 0.0)),
    )
    lep = np.select(
        [nlep == 1, nlep == 2, nlep >= 3],
        [np.where(charge > 0, 0, 1), np.where(charge == 0, 2, 3), 4],
        default=-1,
    )
    njet = np.minimum(ak.to_numpy(ak.num(jets)), len(_JET_BINS) - 1)
    channel = np.where(lep >= 0, lep * len(_JET_BINS) + njet, -1)
    return {"channel": channel, "appl": np.where(tight, 0, 1), "l0pt": l0pt.astype(np.float64)}
