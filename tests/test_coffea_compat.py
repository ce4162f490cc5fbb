"""colframe.processor is coffea.processor: the same call, the same answer as coffea's Runner.

Also the coffea behaviours colframe's native Runner now has: parquet input,
Runner.preprocess with planned chunks as the fileset, mapping metadata caches,
maxchunks that looks past skipped files, coffea's accumulate rules.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import pytest
from _exact import assert_identical
from cachetools import LRUCache
from coffea import processor as coffea_processor
from coffea.nanoevents import NanoAODSchema
from coffea.processor.test_items import NanoEventsProcessor
from coffea_suite.fetch import extracted
from conftest import shared_file

import colframe
from colframe import processor
from colframe.errors import ChunkError, ExecutorError


@pytest.fixture(scope="module")
def samples():
    """coffea's tests/samples (from the pinned sdist, cached outside the repository)."""
    return extracted() / "tests" / "samples"


def coffea_answer(fileset, fmt="root", chunksize=100_000):
    runner = coffea_processor.Runner(
        executor=coffea_processor.IterativeExecutor(),
        schema=NanoAODSchema,
        chunksize=chunksize,
        format=fmt,
    )
    return runner(fileset, processor_instance=NanoEventsProcessor(mode="virtual"), treename="Events")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["root", "parquet"])
def test_changing_only_the_import_gives_coffeas_output(fmt, samples):
    suffix = ".root" if fmt == "root" else ".parquet"
    fileset = {
        "ZJets": [str(samples / f"nano_dy{suffix}")],
        "Data": [str(samples / f"nano_dimuon{suffix}")],
    }
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False),
        schema=NanoAODSchema,
        chunksize=15,
        format=fmt,
    )
    ours = runner(fileset, processor_instance=NanoEventsProcessor(mode="virtual"), treename="Events")
    theirs = coffea_answer(fileset, fmt, chunksize=15)
    assert ours["cutflow"]["ZJets_pt"] == 18
    assert ours["cutflow"]["Data_mass"] == 66
    assert_identical(ours, theirs, rtol=1e-12)


def test_native_runner_reads_parquet_with_report_and_checkpoint(samples, tmp_path):
    fileset = {"ZJets": [str(samples / "nano_dy.parquet")]}
    runner = colframe.Runner(
        format="parquet", chunksize=10, savemetrics=True, status=False, checkpoint=tmp_path / "ck"
    )
    out, report = runner(fileset, "Events", processor_instance=NanoEventsProcessor(mode="virtual"))
    assert out["cutflow"]["ZJets_pt"] == 18
    assert report.chunks_total == report.chunks_ok == 4
    assert report.events_processed == 40
    again, report2 = runner(fileset, "Events", processor_instance=NanoEventsProcessor(mode="virtual"))
    assert report2.chunks_from_checkpoint == 4
    assert_identical(again, out)


def test_malformed_parquet_is_arrow_invalid_and_skippable(samples):
    import pyarrow

    fileset = {"bad": [str(samples / "nano_dy_malformed.parquet")], "ok": [str(samples / "nano_dy.parquet")]}
    runner = colframe.Runner(format="parquet", status=False, savemetrics=True)
    with pytest.raises(pyarrow.ArrowInvalid) as info:
        runner(fileset, "Events", processor_instance=NanoEventsProcessor(mode="virtual"))
    assert isinstance(info.value, ChunkError)
    assert "nano_dy_malformed.parquet" in str(info.value)
    skipping = colframe.Runner(
        format="parquet", status=False, savemetrics=True, skipbadfiles=(pyarrow.ArrowInvalid,)
    )
    out, report = skipping(fileset, "Events", processor_instance=NanoEventsProcessor(mode="virtual"))
    assert out["cutflow"] == {"ok_pt": 18, "ok_mass": 6}
    assert report.files_skipped == 1


@pytest.mark.slow
def test_preprocess_then_run_the_chunks_equals_one_call(samples):
    fileset = {"ZJets": {"files": {str(samples / "nano_dy.root"): "Events"}}}
    cache = LRUCache(10)
    runner = colframe.Runner(chunksize=7, chunking="coffea", metadata_cache=cache, status=False)
    chunks = runner.preprocess(fileset)
    assert [(c.entrystart, c.entrystop) for c in chunks] == [
        (0, 7), (7, 14), (14, 21), (21, 28), (28, 35), (35, 40)
    ]  # fmt: skip
    assert len(cache) == 1  # the mapping holds the file's metadata
    split = runner(chunks, processor_instance=NanoEventsProcessor(mode="virtual"))
    whole = runner(fileset, processor_instance=NanoEventsProcessor(mode="virtual"))
    assert_identical(split, whole)


def test_maxchunks_opens_only_the_files_it_needs_and_looks_past_bad_ones(samples, tmp_path):
    good, missing = str(samples / "nano_dy.root"), str(tmp_path / "missing.root")
    runner = colframe.Runner(maxchunks=1, status=False, metadata_cache=False)
    chunks = runner.preprocess({"d": [good, missing]}, "Events")  # the missing file is not opened
    assert [c.filename for c in chunks] == [good]
    skipping = colframe.Runner(maxchunks=1, status=False, metadata_cache=False, skipbadfiles=True)
    chunks = skipping.preprocess({"d": [missing, good]}, "Events")
    assert [c.filename for c in chunks] == [good]


def test_align_clusters_starts_chunks_on_cluster_boundaries():
    import uproot

    path = str(shared_file("nano_tt_v12.root"))
    offsets = uproot.open(path)["Events"].common_entry_offsets()
    runner = colframe.Runner(chunksize=1, align_clusters=True, status=False)
    chunks = runner.preprocess({"d": [path]}, "Events")
    assert [c.entrystart for c in chunks] == offsets[:-1]


def test_accumulate_follows_coffeas_mapping_rules():
    class MyDict(dict):
        pass

    d = colframe.accumulate((defaultdict(float), {"x": 4.0, "y": 5.0}, {"z": 4.0, "x": 5.0}))
    assert type(d) is dict
    assert list(d) == ["x", "y", "z"]
    assert d["x"] == 9.0
    assert type(colframe.accumulate(({"x": 2}, MyDict({"x": 3})))) is dict
    assert type(colframe.accumulate((MyDict({"x": 3}), {"x": 2}))) is dict
    with pytest.raises(ValueError, match="incompatible types"):
        colframe.accumulate((defaultdict(lambda: 2), MyDict({"x": 3})))


def test_executor_arguments_are_coffeas_and_a_typo_names_the_closest():
    with pytest.raises(TypeError, match="did you mean 'workers'"):
        processor.FuturesExecutor(wokers=2)
    with pytest.raises(TypeError, match="did you mean 'treereduction'"):
        processor.DaskExecutor(tree_reduction=10)
    with pytest.raises(ExecutorError, match="environment tarball"):
        processor.TaskVineExecutor(extra_input_files=["a.txt"])
    assert processor.DaskExecutor(treereduction=7).fan_in == 7


def test_coffea_07_work_queue_executor_args_are_translated(tmp_path):
    """TopEFT's coffea 0.7 executor_args, as docs/workqueue.md's table translates them."""
    executor_args = {"port": 9123, "master_name": "topeft", "resources_mode": "max-seen",
                     "resource_monitor": "watchdog", "retries": 5, "treereduction": 20,
                     "cores": 4, "memory": 8000, "disk": 16000}  # fmt: skip
    compat = processor.WorkQueueExecutor(**executor_args)
    native = compat.native()
    assert (native.port, native.manager_name, native.retries) == (9123, "topeft", 5)
    assert native.resources == {"processing": {"cores": 4, "memory": 8000, "disk": 16000}}
    assert native.resources_mode == "max"
    assert native.resource_monitor
    assert native.workers == 0
    assert compat.fan_in == 20
    # environment_file is the tarball tasks run in (Work Queue's environment=)
    tarball = tmp_path / "env.tar.gz"
    tarball.write_bytes(b"")
    with_env = processor.WorkQueueExecutor(environment_file=str(tarball)).native()
    assert str(with_env.environment) == str(tarball)


def test_use_result_type_returns_err_for_a_skipbadfiles_type(tmp_path):
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False), use_result_type=True, skipbadfiles=True
    )
    result = runner({"d": [str(tmp_path / "missing.root")]}, NanoEventsProcessor(), treename="Events")
    assert isinstance(result, coffea_processor.Err)
    assert isinstance(result.exception, FileNotFoundError)


@contextlib.contextmanager
def _vine_factory(port: int):
    """A local ``ndcctools.taskvine.Factory`` for the manager on ``port``.

    Its worker can outlive it: once the manager is gone, a ``vine_worker`` retrying it
    ignored the factory's SIGTERM (seen for 30 min after a CI run). What is left is killed.
    """
    import psutil
    from ndcctools.taskvine import Factory

    factory = Factory(manager_host_port=f"localhost:{port}", batch_type="local")
    factory.min_workers = factory.max_workers = 1
    factory.cores, factory.disk = 2, 4096
    workers: list[psutil.Process] = []
    with factory:
        try:
            yield factory
        finally:
            workers = [
                p for p in psutil.Process().children(recursive=True) if "vine_worker" in p.name()
            ]
    for worker in workers:
        with contextlib.suppress(psutil.Error):
            worker.kill()


@pytest.mark.parametrize(
    "executor",
    [
        "IterativeExecutor",
        "FuturesExecutor",
        pytest.param("DaskExecutor", marks=pytest.mark.slow),
        pytest.param("TaskVineExecutor", marks=pytest.mark.slow),
    ],
)
def test_adl_processors_run_by_changing_only_the_import(executor, monkeypatch, tmp_path):
    """The ADL processors (written against coffea.processor), through colframe.processor."""
    import os
    import socket
    import sys
    from pathlib import Path

    from processors.adl import ADLNanoAODSchema, Q5Processor, Q8Processor

    # a Factory's worker ends with the manager of the first run: TaskVine gets one run
    queries = (Q8Processor(),) if executor == "TaskVineExecutor" else (Q5Processor(), Q8Processor())

    fileset = {"SingleMu": [str(shared_file("Run2012B_SingleMu_1000.root"))]}
    kwargs: dict = {}
    factory = contextlib.nullcontext()
    if executor == "FuturesExecutor":
        kwargs = {"workers": 2}
    elif executor == "TaskVineExecutor":
        with socket.socket() as s:  # a free fixed port, as coffea's users give one
            s.bind(("localhost", 0))
            kwargs = {"port": s.getsockname()[1], "cores": 1, "disk": 1024}
        # the Factory and its workers (and their libraries) run this environment's tools
        bin_dir = str(Path(sys.executable).parent)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        # workers someone else starts import colframe as installed: make it this checkout's
        checkout = str(Path(__file__).resolve().parents[1])
        monkeypatch.setenv("PYTHONPATH", f"{checkout}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        monkeypatch.chdir(tmp_path)  # the factory writes vine-factory-*/ here
        factory = _vine_factory(kwargs["port"])
    runner = processor.Runner(
        executor=getattr(processor, executor)(status=False, **kwargs),
        schema=ADLNanoAODSchema,
        chunksize=300,
    )
    with factory:
        ours = [runner(fileset, processor_instance=p, treename="Events") for p in queries]
    for proc, out in zip(queries, ours, strict=True):
        theirs = coffea_processor.Runner(
            executor=coffea_processor.IterativeExecutor(status=False),
            schema=ADLNanoAODSchema,
            chunksize=300,
        )(fileset, processor_instance=proc, treename="Events")
        assert_identical(out, theirs, rtol=1e-9)
