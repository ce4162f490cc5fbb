"""The Runner merges SparseHist outputs exactly, on every executor and merge-tree shape."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from _compare import assert_same
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

import colframe
from colframe import serialize
from colframe.accumulate import accumulate
from colframe.hist import SparseHist
from processors.topeft import CHANNELS, TopEFTProcessor

# the process-per-task engines (TaskVine task mode, Work Queue) are left out: see conftest.py
pytestmark = pytest.mark.driver_semantics

# Few systematics keep the suite fast; all 378 coefficients are kept, they are the point.
PROCESSOR = TopEFTProcessor(n_systematics=3)
CHUNKSIZE = 1_500  # 4 chunks per generated file, 12 in all


def _fileset(generated) -> dict[str, list[str]]:
    return {"ttX": [str(p) for p in generated[:2]], "tX": [str(generated[2])]}


@pytest.fixture(scope="module")
def whole_files(generated):
    """The independent answer: ``process`` on each whole file in one go, then added."""
    outputs = []
    for dataset, files in _fileset(generated).items():
        for path in files:
            events = NanoEventsFactory.from_root(
                {path: "Events"},
                schemaclass=NanoAODSchema,
                metadata={"dataset": dataset},
                mode="virtual",
            ).events()
            outputs.append(PROCESSOR.process(events))
    return accumulate(outputs)


def _check(out, expected) -> None:
    assert isinstance(out["l0pt"], SparseHist)
    assert out["l0pt"] == expected["l0pt"]
    assert out["nevents"] == expected["nevents"] == {"ttX": 12_000, "tX": 6_000}
    # and densified, insensitive to category order (chunks meet categories in any order)
    assert_same(out["l0pt"].to_hist(), expected["l0pt"].to_hist())


@pytest.mark.parametrize("fan_in", [20, 3])
def test_runner_equals_whole_file_processing(executor, generated, whole_files, fan_in):
    runner = colframe.Runner(
        executor, chunksize=CHUNKSIZE, fan_in=fan_in, savemetrics=True, status=False
    )
    out, report = runner(_fileset(generated), "Events", processor_instance=PROCESSOR)
    assert report.chunks_ok == report.chunks_total == 12
    # fan-in 3 over 12 partials: a tree of 6 merge tasks, not one flat merge
    assert report.merges == (1 if fan_in == 20 else 6)
    _check(out, whole_files)


def test_final_output_survives_serialization(generated, whole_files, tmp_path):
    runner = colframe.Runner(chunksize=CHUNKSIZE, fan_in=2, status=False)
    out = runner(_fileset(generated), "Events", processor_instance=PROCESSOR)
    _check(serialize.loads(serialize.dumps(out)), whole_files)
    path = tmp_path / "out.pkl.lz4"
    serialize.dump(out, path)
    _check(serialize.load(path), whole_files)
    _check(pickle.loads(pickle.dumps(out)), whole_files)
    # The sparse wire is far smaller than the dense histogram it stands for. Raw bytes on
    # both sides: lz4 squeezes the zeros of any dense form, which would hide a regression.
    # Here the sparse wire is about 1/12 of the dense pickle; the SparseHist pickled with
    # every block dense would be about 7/8 of it.
    sparse_raw = len(serialize.dumps(out["l0pt"], compress=False))
    assert sparse_raw < len(pickle.dumps(out["l0pt"].to_hist())) / 5


def test_eft_processes_fill_every_coefficient_others_only_the_first(whole_files):
    h = whole_files["l0pt"]
    assert len(h.axes["coeff"]) == 378
    assert set(h.axes["systematic"]) == {"nominal", "lepSFUp", "lepSFDown"}
    assert set(h.axes["channel"]) <= set(CHANNELS)
    per_coeff = h.project("process", "coeff")
    for process in PROCESSOR.processes:
        filled = np.count_nonzero(per_coeff[{"process": process}].values())
        assert filled == (378 if process in PROCESSOR.processes[: PROCESSOR.n_eft] else 1)
    # only the observed category combinations hold a block
    assert len(h.keys()) < len(PROCESSOR.processes) * len(CHANNELS) * 3 * 2
