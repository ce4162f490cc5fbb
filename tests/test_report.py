"""The run report is made of parts, each filled by the layer that knows it."""

from __future__ import annotations

import pickle

from _processors import CoffeaStyle

import colframe
from colframe._work import Partial
from colframe.report import ChunkCounts, FileCounts, RunReport, WorkTotals
from colframe.schedule import merge_groups_total


def test_flat_attributes_read_and_write_the_parts():
    report = RunReport(
        files=FileCounts(total=3, from_cache=1, skipped=1),
        chunks=ChunkCounts(total=9, events=90, ok=6, retried=2, failed=1, skipped=2, merges=4),
        work=WorkTotals(events=60, bytesread=7, columns={"b", "a"}, from_checkpoint=2),
    )
    assert (report.files_total, report.files_from_cache, report.files_skipped) == (3, 1, 1)
    flat = (report.chunks_total, report.chunks_ok, report.chunks_retried, report.chunks_failed)
    assert flat == (9, 6, 2, 1)
    assert (report.chunks_skipped, report.merges, report.events_total) == (2, 4, 90)
    assert (report.events_processed, report.bytes_read, report.columns) == (60, 7, ["a", "b"])
    assert (report.chunks_from_checkpoint, report.chunks_computed) == (2, 4)
    report.chunks_ok += 1
    report.columns = ["c"]
    assert report.chunks.ok == 7
    assert report.work.columns == {"c"}
    assert "9 planned, 7 ok, 2 retried, 1 failed, 2 skipped; 4 merges" in report.summary()


def test_a_partial_carries_the_reports_work_totals():
    a = Partial({"n": 1}, events=10, bytesread=100, columns={"x"}, cputime=1.0)
    b = Partial({"n": 2}, events=5, columns={"y"}, from_checkpoint=1)
    a += b
    assert a.out == {"n": 3}
    assert a.totals() == WorkTotals(
        chunks=2, events=15, bytesread=100, columns={"x", "y"}, cputime=1.0, from_checkpoint=1
    )
    assert type(a.totals()) is WorkTotals  # no output in the report


def test_the_runner_wires_each_layers_part_into_the_report(generated):
    fileset = {"synth": [str(p) for p in generated[:2]]}
    runner = colframe.Runner(chunksize=2_500, fan_in=3, savemetrics=True, status=False)
    _, report = runner(fileset, "Events", processor_instance=CoffeaStyle())
    assert report.files == FileCounts(total=2)
    merges = merge_groups_total(4, 3)  # 2 chunks per file, fan-in 3
    assert report.chunks == ChunkCounts(total=4, events=12_000, ok=4, merges=merges)
    assert report.work.chunks == 4  # the merged output's totals
    assert report.work.events == report.events_processed == 12_000
    assert set(report.wall_seconds) >= {"preprocess", "process", "merge (after processing)"}
    assert report.cpu_seconds["chunks (workers)"] == report.work.cputime


class _SavedBeforeParts:
    """Pickles as a RunReport saved before the report had parts (its counts flat)."""

    def __init__(self, state: dict) -> None:
        self.state = state

    def __reduce__(self):
        return object.__new__, (RunReport,), self.state


def test_a_report_saved_before_the_parts_loads_into_them():
    flat = {
        "executor": "IterativeExecutor(retries=2)",
        "files_total": 2,
        "files_from_cache": 1,
        "chunks_total": 4,
        "chunks_ok": 3,
        "chunks_skipped": 1,
        "merges": 2,
        "events_total": 40,
        "events_processed": 30,
        "bytes_read": 123,
        "columns": ["b", "a"],
        "checkpoints_stale": 1,
        "wall_seconds": {"process": 1.0},
    }  # and no uuids: saved before they were recorded
    report = pickle.loads(pickle.dumps(_SavedBeforeParts(flat)))
    assert type(report) is RunReport
    assert report.files == FileCounts(total=2, from_cache=1)
    assert report.chunks == ChunkCounts(total=4, events=40, ok=3, skipped=1, merges=2)
    assert report.work == WorkTotals(events=30, bytesread=123, columns={"a", "b"})
    assert (report.checkpoints_stale, report.uuids, report.wall_seconds) == (1, {}, {"process": 1.0})
    assert pickle.loads(pickle.dumps(report)) == report
