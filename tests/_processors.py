"""Processors used by the tests (importable by worker processes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import awkward as ak
import hist
from coffea import processor

import colframe


def _hists():
    cat = hist.axis.StrCategory([], name="dataset", growth=True)
    return {
        "muon_pt": hist.Hist(cat, hist.axis.Regular(40, 0, 200, name="pt"), storage="weight"),
        "njet": hist.Hist(cat, hist.axis.Integer(0, 15, name="n"), storage="int64"),
    }


def run(fileset, proc=None, **options):
    """``Runner(savemetrics=True, status=False, **options)`` on ``fileset`` -> (output, report)."""
    options.setdefault("status", False)
    runner = colframe.Runner(savemetrics=True, **options)
    return runner(fileset, "Events", processor_instance=proc or CoffeaStyle())


def fill(events) -> dict:
    """Several histograms, counters and a set: what analysis outputs look like."""
    dataset = events.metadata["dataset"]
    out = _hists()
    muons = events.Muon
    # dyadic weights: sums are exact whatever the chunking and merge order
    weights = ak.flatten(ak.ones_like(muons.pt) * (1 + 0.25 * muons.charge))
    out["muon_pt"].fill(dataset=dataset, pt=ak.flatten(muons.pt), weight=weights)
    out["njet"].fill(dataset=dataset, n=ak.num(events.Jet))
    out["events"] = {dataset: len(events)}
    out["hard_muons"] = {dataset: int(ak.sum(muons.pt > 20))}
    out["files"] = {Path(events.metadata["filename"]).name}
    return out


class CoffeaStyle(processor.ProcessorABC):
    """A coffea ProcessorABC subclass, run unchanged by colframe."""

    def process(self, events):
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class ColframeStyle(colframe.ProcessorABC):
    """colframe's own ProcessorABC; postprocess adds a key."""

    def process(self, events):
        return fill(events)

    def postprocess(self, accumulator):
        accumulator["total_events"] = sum(accumulator["events"].values())
        return accumulator


class Raises(processor.ProcessorABC):
    def process(self, events):
        msg = "boom in user code"
        raise ValueError(msg)

    def postprocess(self, accumulator):
        return accumulator


class ReturnsNone(processor.ProcessorABC):
    def process(self, events):
        return None

    def postprocess(self, accumulator):
        return accumulator


class NotAddable(processor.ProcessorABC):
    """Returns an object without + (merging two chunks must fail clearly)."""

    def process(self, events):
        return {"thing": object()}

    def postprocess(self, accumulator):
        return accumulator


class TypeChanges(processor.ProcessorABC):
    """Returns a dict on even chunks and a histogram on odd ones."""

    def process(self, events):
        if events.metadata["entrystart"] == 0:
            return {"n": len(events)}
        return hist.Hist(hist.axis.Regular(2, 0, 1))

    def postprocess(self, accumulator):
        return accumulator


class KillsOnce(processor.ProcessorABC):
    """SIGKILLs its own worker process the first time it sees chunk ``victim``.

    ``flag`` is a file path: it is created before the kill so the retried chunk
    runs normally (a real crash, then a real recovery).
    """

    def __init__(self, flag: str, victim: int) -> None:
        self.flag = flag
        self.victim = victim

    def process(self, events):
        if events.metadata["entrystart"] == self.victim and not Path(self.flag).exists():
            with open(self.flag, "w") as stream:
                stream.write("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class KillsOnFirstAdd:
    """An output part whose first ``+`` (in a merge) SIGKILLs the process merging it.

    ``flag`` is created before the kill, so the retried merge adds normally.
    """

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __add__(self, other):
        if not Path(self.flag).exists():
            with open(self.flag, "w") as stream:
                stream.write("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return self


class KillsInFirstMerge(processor.ProcessorABC):
    """CoffeaStyle's output plus a ``KillsOnFirstAdd`` under ``"guard"``."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def process(self, events):
        return {**fill(events), "guard": KillsOnFirstAdd(self.flag)}

    def postprocess(self, accumulator):
        return accumulator


class AlwaysCrashes(processor.ProcessorABC):
    def process(self, events):
        os.kill(os.getpid(), signal.SIGKILL)

    def postprocess(self, accumulator):
        return accumulator


class MuonHists(processor.ProcessorABC):
    """Weighted muon pT and jet multiplicity, keyed by dataset.

    ``dask=False`` fills ``hist.Hist`` on eager/virtual events (the Runner);
    ``dask=True`` fills ``hist.dask.Hist`` on dask-awkward events
    (``colframe.dask_awkward.apply_to_fileset``): the same numbers either way.
    """

    def __init__(self, dask: bool = False) -> None:
        self.dask = dask

    def process(self, events):
        if self.dask:
            import hist.dask as hist_dask

            Hist = hist_dask.Hist
        else:
            Hist = hist.Hist
        muons = events.Muon
        weights = ak.flatten(ak.ones_like(muons.pt) * (1 + 0.25 * muons.charge))
        muon_pt = Hist(hist.axis.Regular(40, 0, 200, name="pt"), storage=hist.storage.Weight())
        muon_pt.fill(pt=ak.flatten(muons.pt), weight=weights)
        njet = Hist(hist.axis.Integer(0, 15, name="n"), storage=hist.storage.Int64())
        njet.fill(n=ak.num(events.Jet))
        count = ak.num(events, axis=0) if self.dask else len(events)  # an int once computed
        out = {"muon_pt": muon_pt, "njet": njet, "events": count}
        return {events.metadata["dataset"]: out}

    def postprocess(self, accumulator):
        return accumulator


class CountsUnpickling:
    """Appends a line to a file each time it is unpickled (i.e. shipped to a worker)."""

    def __init__(self, log):
        self.log = log

    def __setstate__(self, state):
        self.__dict__.update(state)
        with open(self.log, "a") as stream:
            stream.write(f"{os.getpid()}\n")

    def __call__(self, x):
        return x


class RecordsInflater(processor.ProcessorABC):
    """``fill(events)`` plus a count of chunks per ZLIB library uproot inflates with meanwhile."""

    def process(self, events):
        import uproot.compression

        out = fill(events)  # reads (and so inflates) the columns first
        out["inflater"] = {uproot.compression._decompress_ZLIB.library: 1}
        return out

    def postprocess(self, accumulator):
        return accumulator


class Slow(processor.ProcessorABC):
    """``fill`` after sleeping ``seconds``: chunks stay in flight long enough to lose a worker."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def process(self, events):
        import time

        time.sleep(self.seconds)
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class MemoryHog(processor.ProcessorABC):
    """``fill``, holding ``mb_per_event`` MB per event for ``seconds`` (resource monitor samples)."""

    def __init__(self, mb_per_event: float, seconds: float = 2.5) -> None:
        self.mb_per_event = mb_per_event
        self.seconds = seconds

    def process(self, events):
        import time

        import numpy as np

        hog = np.ones(int(len(events) * self.mb_per_event * 2**20 / 8))
        time.sleep(self.seconds)
        assert hog[-1] == 1.0
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class UsesInflection(processor.ProcessorABC):
    """``fill`` plus a key made by ``inflection``, a package only test environments have."""

    def process(self, events):
        import inflection  # not in the test interpreter: only inside envs/test.json's environment

        out = fill(events)
        out["word"] = {inflection.pluralize("muon"): len(events)}
        return out

    def postprocess(self, accumulator):
        return accumulator



def _worker_child() -> tuple[int, int] | None:
    """(pid, process group) of the process that the worker this chunk runs under forked."""
    pid, child = os.getpid(), None
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid, pgrp = (int(field) for field in stat.rpartition(")")[2].split()[1:3])
        if name in ("vine_worker", "work_queue_work"):  # /proc's names: 15 characters at most
            return child
        pid, child = ppid, (pid, pgrp)
    return None


class ProcessGroups(processor.ProcessorABC):
    """Counts the chunks whose task the worker can kill.

    A worker kills a task (or a library it evicts) by signalling the process group of
    the process it forked: that process must lead its own group, else the signal reaches
    nothing and the worker blocks in waitpid."""

    def process(self, events):
        child = _worker_child()
        return {
            "chunks": 1,
            "under_a_worker": int(child is not None),
            "task_leads_its_group": int(child is not None and child[0] == child[1]),
        }

    def postprocess(self, accumulator):
        return accumulator
