"""Processors that misbehave on purpose, for the reliability tests (importable by workers)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from _processors import fill
from coffea import processor


class SlowFill(processor.ProcessorABC):
    """``fill`` plus a pause per chunk, so a run lasts long enough to be killed midway."""

    delay = 0.05

    def process(self, events):
        time.sleep(self.delay)
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class FailsUnlessFlag(processor.ProcessorABC):
    """Raises an OSError (a storage outage) on chunks starting at ``victim``, until
    the file ``flag`` exists; then behaves like ``fill``.

    Without arguments, ``flag`` comes from ``$COLFRAME_TEST_FLAG`` (for the CLI).
    """

    def __init__(self, flag: str | None = None, victim: int = 3_000) -> None:
        self.flag = flag if flag is not None else os.environ["COLFRAME_TEST_FLAG"]
        self.victim = victim

    def process(self, events):
        if events.metadata["entrystart"] == self.victim and not Path(self.flag).exists():
            msg = f"simulated storage outage reading {events.metadata['filename']}"
            raise OSError(msg)
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class Tagged(processor.ProcessorABC):
    """``fill`` with a parameter and a set attribute: both are part of the fingerprint."""

    def __init__(self, tag: str = "v1") -> None:
        self.tag = tag
        self.labels = {"muon", "jet", "electron", "photon", "tau", "met"}

    def process(self, events):
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class HoldsLock(processor.ProcessorABC):
    """Cannot be pickled: holds a lock (as processors holding a client or a file do)."""

    def __init__(self) -> None:
        self.threshold = 20.0
        self.lock = threading.Lock()

    def process(self, events):
        with self.lock:
            return fill(events)

    def postprocess(self, accumulator):
        return accumulator


class ReturnsLock(processor.ProcessorABC):
    """Its output cannot be pickled, so it cannot leave a worker process."""

    def process(self, events):
        return {"n": len(events), "lock": threading.Lock()}

    def postprocess(self, accumulator):
        return accumulator


class ReadsMissingBranch(processor.ProcessorABC):
    """Reads Muon_mvaTTH, a real NanoAOD branch the synthetic ADL files do not have."""

    def process(self, events):
        return {"n": len(events.Muon.mvaTTH)}

    def postprocess(self, accumulator):
        return accumulator


class BreaksCheckpoint(processor.ProcessorABC):
    """Replaces the checkpoint directory by a file while running, so saving fails."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def process(self, events):
        directory = Path(self.directory)
        if directory.is_dir():
            for child in directory.iterdir():
                child.unlink()
            directory.rmdir()
            directory.write_text("not a directory any more")
        return fill(events)

    def postprocess(self, accumulator):
        return accumulator
