"""Open files: reused by the chunks of a file, closed when evicted or failed, one set per thread."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import awkward as ak
import pytest
import uproot
from _processors import CoffeaStyle
from coffea.nanoevents import NanoAODSchema

import colframe
from colframe._openfiles import OpenFiles
from colframe._work import ProcessChunk
from colframe.errors import FileChangedError
from colframe.fileset import FileSpec, normalize_fileset
from colframe.plan import WorkItem, make_work_items
from colframe.preprocess import fetch_metadata


def test_chunks_of_a_file_open_it_once(generated, monkeypatch):
    opened = []
    real_open = uproot.open

    def counting_open(path, **options):
        opened.append(path)
        return real_open(path, **options)

    monkeypatch.setattr(uproot, "open", counting_open)
    runner = colframe.Runner(chunksize=1_000, status=False, savemetrics=True)
    out, report = runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
    assert report.chunks_ok == 6
    assert opened == [str(generated[0])] * 2  # preprocessing once, then all six chunks
    assert out["events"] == {"d": 6_000}


def test_eviction_and_discard_close_files(generated):
    files = OpenFiles(size=1)
    first, _ = files.get(str(generated[0]), "Events", {})
    assert files.get(str(generated[0]), "Events", {})[0] is first
    second, _ = files.get(str(generated[1]), "Events", {})
    assert first.closed
    files.discard(str(generated[1]), "Events")
    assert second.closed
    third, _ = files.get(str(generated[2]), "Events", {})
    files.close()
    assert third.closed


def _in_thread(function, *args):
    result = []
    thread = threading.Thread(target=lambda: result.append(function(*args)))
    thread.start()
    thread.join()
    return result[0]


def test_each_thread_has_its_own_files(generated):
    files = OpenFiles(size=1)
    path = str(generated[0])
    mine, _ = files.get(path, "Events", {})
    # another thread opens the same file, evicts it, discards its own: mine stays open
    theirs = _in_thread(lambda: files.get(path, "Events", {})[0])
    assert theirs is not mine
    _in_thread(lambda: (files.get(path, "Events", {}), files.get(str(generated[1]), "Events", {})))
    _in_thread(lambda: (files.get(path, "Events", {}), files.discard(path, "Events")))
    assert not mine.closed
    assert files.get(path, "Events", {})[0] is mine
    # the files of threads that ended are closed at the next get; close() closes all
    assert theirs.closed
    files.close()
    assert mine.closed


class ReadsInTwoSteps:
    """Reads muons, waits for the other threads (so their reads overlap), then reads jets."""

    def __init__(self, barrier: threading.Barrier | None) -> None:
        self.barrier = barrier

    def __call__(self, events):
        muons = ak.sum(events.Muon.pt)
        if self.barrier is not None:
            self.barrier.wait(timeout=60)
        return {"n": len(events), "sum": float(muons + ak.sum(events.Jet.pt))}


def test_concurrent_threads_count_their_own_reads(generated):
    # a dask worker with several threads shares one ProcessChunk: chunks of one file run
    # at once must neither close each other's file nor count each other's reads
    fileset = {"d": [str(generated[0])]}
    datasets = normalize_fileset(fileset, "Events")
    spec = datasets[0].files[0]
    items = make_work_items(datasets, {spec: fetch_metadata(spec)}, 1_000)
    assert len(items) == 6
    serial = ProcessChunk(ReadsInTwoSteps(None), NanoAODSchema)
    expected = {item: serial(item) for item in items}
    serial.close()
    threads = 3
    chunk = ProcessChunk(ReadsInTwoSteps(threading.Barrier(threads)), NanoAODSchema)
    with ThreadPoolExecutor(threads) as pool:
        got = dict(zip(items, pool.map(chunk, items), strict=True))
    chunk.close()
    for item in items:
        assert got[item].out == expected[item].out
        assert got[item].bytesread == expected[item].bytesread > 0


@pytest.mark.parametrize(
    "change",
    [
        {"numentries": 5_000},  # planned when the file was shorter: it grew since
        {"numentries": 7_000, "entrystop": 7_000},  # it shrank since
        {"fileuuid": "00000000-0000-0000-0000-000000000000"},  # another file at its path
    ],
    ids=["grew", "shrank", "replaced"],
)
def test_a_chunk_refuses_a_file_that_is_not_the_planned_one(change, generated):
    # the plan as it was made before the file changed: the chunk checks it at open time
    path = str(generated[0])
    meta = fetch_metadata(FileSpec(path, "Events"))
    planned = WorkItem("d", path, "Events", 0, 2_000, meta.uuid, None, meta.numentries)
    item = dataclasses.replace(planned, **change)
    chunk = ProcessChunk(CoffeaStyle(), NanoAODSchema)
    with pytest.raises(FileChangedError, match="file changed since it was preprocessed") as info:
        chunk(item)
    assert f"{path!r} (tree 'Events') has UUID {meta.uuid} and 6000 entries" in str(info.value)
    assert "clear the metadata cache" in str(info.value)
    assert chunk(planned).events == 2_000  # the same chunk as planned reads (file reopened)
    chunk.close()
