"""Shared builders for the colframe.hist tests (imported by test_sparse/test_wire)."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import hist
import numpy as np
from hypothesis import strategies as st

from colframe import serialize
from colframe.hist import SparseHist

PROCESSES = ["ttH", "ttW", "ttZ", "tZq", "WZ"]
STORAGES = {
    "double": hist.storage.Double,
    "weight": hist.storage.Weight,
    "int64": hist.storage.Int64,
}


def wire_dumps(obj: Any) -> bytes:
    """colframe's pickling (sparse histogram reductions) without lz4: the wire format alone."""
    return serialize.dumps(obj, compress=False)


def wire_loads(data: bytes) -> Any:
    return pickle.loads(data)


def make_axes() -> list[Any]:
    """process (growing str), channel (fixed int with overflow), pt (Regular), coeff (Integer)."""
    return [
        hist.axis.StrCategory([], name="process", growth=True),
        hist.axis.IntCategory([0, 1, 2], name="channel", label="Channel"),
        hist.axis.Regular(6, 0, 300, name="pt", label="$p_T$"),
        hist.axis.Integer(0, 4, name="coeff", underflow=False, overflow=False),
    ]


def new_pair(storage: str) -> tuple[SparseHist, hist.Hist]:
    st_cls = STORAGES[storage]
    return SparseHist(*make_axes(), storage=st_cls()), hist.Hist(*make_axes(), storage=st_cls())


@st.composite
def events(draw: Any, max_size: int = 60) -> dict[str, np.ndarray]:
    """Random events; pt reaches both flow bins, channel 3 lands in the overflow bin."""
    n = draw(st.integers(0, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return {
        "process": rng.choice(PROCESSES[: draw(st.integers(1, len(PROCESSES)))], n),
        "channel": rng.integers(0, 4, n),
        "pt": rng.uniform(-20, 330, n),
        "coeff": rng.integers(0, 4, n),
        # integer weights make sums exact whatever the order of addition
        "weight": rng.integers(-2, 4, n),
    }


def fill_both(sparse: SparseHist, dense: hist.Hist, ev: dict[str, np.ndarray]) -> None:
    sparse.fill(**ev)
    dense.fill(**ev)


def split(ev: dict[str, np.ndarray], cuts: list[int]) -> list[dict[str, np.ndarray]]:
    n = len(ev["pt"])
    edges = [0, *sorted(c % (n + 1) for c in cuts), n]
    return [{k: v[a:b] for k, v in ev.items()} for a, b in itertools.pairwise(edges)]
