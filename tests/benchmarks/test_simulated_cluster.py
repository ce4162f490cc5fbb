"""The simulated cluster of benchmarks/ drives the real Runner, scheduler and merge tree."""

from __future__ import annotations

import pytest

import colframe
from benchmarks.simulated_cluster import SimulatedCluster
from colframe.fileset import FileSpec, normalize_fileset
from colframe.plan import FileMeta, Plan, make_work_items, plan_chunks
from colframe.report import coverage


def _noop(events):
    return {"n": len(events)}


def _run(cluster: SimulatedCluster, files: int, fan_in: int = 5):
    fileset = {"sim": {"files": {f"/simulated/f{i}.root": "Events" for i in range(files)}}}
    runner = colframe.Runner(
        cluster, chunksize=100, fan_in=fan_in, metadata_cache=False, status=False, savemetrics=True
    )
    return runner(fileset, processor_instance=_noop)


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 3, "cores": 2},
        {"workers": 7, "cores": 2, "failure_rate": 0.05, "worker_loss_rate": 0.002, "retries": 6},
        {"workers": 40, "cores": 4, "ramp_seconds": 50.0, "distribution": "uniform"},
    ],
)
def test_every_simulated_chunk_ends_merged(options):
    cluster = SimulatedCluster(entries_per_file=1_000, **options)  # 10 chunks per file
    out, report = _run(cluster, files=150)
    assert report.complete
    assert report.chunks_ok == report.chunks_total == 1_500
    assert out["events"] == 150_000
    stats = cluster.stats_
    assert stats.tasks["process"] >= 1_500
    assert stats.refs_alive == 0  # every ref released, the final one once fetched
    assert stats.merge_depth == 5  # ceil(log5(1500))
    if options.get("failure_rate"):
        assert stats.failed_attempts > 0
        assert report.chunks_retried > 0


def test_the_report_holds_one_span_per_file_not_one_entry_per_chunk():
    cluster = SimulatedCluster(workers=5, cores=2, entries_per_file=2_000)  # 20 chunks per file
    _, report = _run(cluster, files=30)
    assert report.chunks_ok == 600
    assert len(report.coverage) == 30
    assert all(spans == [(0, 2_000)] for spans in report.coverage.values())
    assert not report.failures
    assert not report.skipped


def test_wait_reads_the_tasks_in_flight_without_copying_them():
    seen = []

    class Spy(SimulatedCluster):
        def _collect(self, tasks, timeout):
            seen.append(type(tasks))
            return super()._collect(tasks, timeout)

    _run(Spy(workers=4, cores=2, entries_per_file=500), files=20)
    assert seen
    assert list not in seen  # the scheduler's own dict (a keys view), not a copy per call


def test_a_plan_is_stored_per_file_and_reads_like_the_list_of_its_chunks():
    datasets = normalize_fileset(
        {"a": {"files": ["f1", "f2", "f3"], "metadata": {"x": 1}}, "b": ["f4"]}, "Events"
    )
    metas = {
        spec: FileMeta(spec.path, "Events", n, f"uuid-{spec.path}")
        for dataset, n in zip(datasets, (1_003, 7), strict=True)
        for spec in dataset.files
    }
    metas[datasets[0].files[1]] = FileMeta("f2", "Events", 0, "uuid-f2")  # an empty file
    plan = plan_chunks(datasets, metas, chunksize=100, maxchunks=15)
    items = make_work_items(datasets, metas, chunksize=100, maxchunks=15)
    assert isinstance(plan, Plan)
    assert list(plan) == items
    assert [plan[i] for i in range(-len(plan), len(plan))] == items + items
    assert plan[3:6] == items[3:6]
    assert plan.events == sum(len(item) for item in items)
    assert len(plan._files) == 4  # one record per file, however many chunks
    assert plan.coverage() == coverage(items)
    done = bytearray(len(plan))
    done[2] = done[5] = done[-1] = 1
    assert plan.coverage(done) == coverage([items[2], items[5], items[-1]])
    assert plan.uuids() == {item.filename: item.fileuuid for item in items}


@pytest.mark.parametrize("items", [0, 1, 5])
def test_submit_all_never_waits_on_nothing(items):
    class Strict(SimulatedCluster):
        def _collect(self, tasks, timeout):
            assert tasks, "waited on no task: a real executor would block for ever"
            return super()._collect(tasks, timeout)

    with Strict(workers=1, cores=1) as cluster:
        cluster._step()  # the worker joins before anything is submitted
        specs = [FileSpec(f"/simulated/{n}.root", "Events") for n in range(items)]
        results = list(cluster.submit_all(len, specs, kind="preprocess"))
    assert len(results) == items
