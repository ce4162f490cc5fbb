"""Checkpoints: saved where chunks run, loaded on a rerun, ignored when the processor changed."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from _compare import assert_same
from _flaky import BreaksCheckpoint, HoldsLock, Tagged
from _processors import CoffeaStyle
from _processors import run as run_default

import colframe
from colframe.checkpoint import MAGIC, CheckpointStore, processor_fingerprint
from colframe.errors import CheckpointError, ChunkError, UnpicklableError
from colframe.plan import WorkItem

run = functools.partial(run_default, chunksize=2_000)


def checkpoints(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.ckpt"))


def test_rerun_loads_every_chunk_and_gives_the_same_output(generated, tmp_path):
    fileset = {"d": [str(p) for p in generated]}
    first_out, first = run(fileset, checkpoint=tmp_path / "ckpt")
    assert (first.chunks_from_checkpoint, first.chunks_computed) == (0, 9)
    assert len(checkpoints(tmp_path / "ckpt")) == 9
    second_out, second = run(fileset, checkpoint=tmp_path / "ckpt")
    assert (second.chunks_from_checkpoint, second.chunks_computed) == (9, 0)
    assert second.bytes_read == 0
    assert second.events_processed == 18_000
    assert "9 chunks loaded, 0 computed" in second.summary()
    assert_same(first_out, second_out)


def test_workers_save_and_load_on_every_executor(executor, generated, tmp_path):
    one_file = {"d": [str(generated[0])]}
    all_files = {"d": [str(p) for p in generated]}
    run(one_file, executor=executor, checkpoint=tmp_path / "ckpt")
    out, report = run(all_files, executor=executor, checkpoint=tmp_path / "ckpt")
    assert (report.chunks_from_checkpoint, report.chunks_computed) == (3, 6)
    assert_same(out, run(all_files)[0])


def test_changed_processor_ignores_stale_checkpoints(generated, tmp_path, caplog):
    fileset = {"d": [str(generated[0])]}
    run(fileset, Tagged("v1"), checkpoint=tmp_path)
    with caplog.at_level(logging.WARNING, logger="colframe"):
        _, report = run(fileset, Tagged("v2"), checkpoint=tmp_path)
    assert (report.chunks_from_checkpoint, report.checkpoints_stale) == (0, 3)
    assert "3 checkpoints ignored because the processor changed" in report.summary()
    assert "3 checkpoints ignored because the processor changed" in caplog.text
    _, again = run(fileset, Tagged("v1"), checkpoint=tmp_path)  # the old ones still serve v1
    assert (again.chunks_from_checkpoint, again.checkpoints_stale) == (3, 0)


def test_changed_dataset_metadata_is_a_different_chunk(generated, tmp_path):
    path = str(generated[0])
    run({"d": {"files": [path], "metadata": {"xsec": 1.0}}}, checkpoint=tmp_path)
    _, report = run({"d": {"files": [path], "metadata": {"xsec": 2.0}}}, checkpoint=tmp_path)
    assert report.chunks_from_checkpoint == 0
    _, report = run({"other": [path]}, checkpoint=tmp_path)
    assert report.chunks_from_checkpoint == 0


def test_corrupt_checkpoint_is_recomputed(generated, tmp_path):
    fileset = {"d": [str(generated[0])]}
    first_out, _ = run(fileset, checkpoint=tmp_path)
    victim = checkpoints(tmp_path)[0]
    data = bytearray(victim.read_bytes())
    assert data.startswith(MAGIC)
    data[-10] ^= 0xFF  # one flipped bit in the payload
    victim.write_bytes(bytes(data))
    checkpoints(tmp_path)[1].write_bytes(b"")  # and one truncated to nothing
    out, report = run(fileset, checkpoint=tmp_path)
    assert (report.chunks_from_checkpoint, report.checkpoints_rejected) == (1, 2)
    assert "2 corrupt checkpoints recomputed" in report.summary()
    assert_same(first_out, out)
    _, healed = run(fileset, checkpoint=tmp_path)  # recomputed chunks were saved again
    assert (healed.chunks_from_checkpoint, healed.checkpoints_rejected) == (3, 0)


def test_fsspec_url(generated):
    fileset = {"d": [str(generated[0])]}
    url = f"memory://colframe-test-{id(fileset)}"
    first_out, _ = run(fileset, checkpoint=url)
    out, report = run(fileset, checkpoint=url)
    assert report.chunks_from_checkpoint == 3
    assert report.checkpoint == url
    assert_same(first_out, out)


def test_fingerprint_is_stable_across_processes_and_hash_seeds(tmp_path):
    script = (
        "import sys; sys.path.insert(0, 'tests');"
        "from _flaky import Tagged; from coffea.nanoevents import NanoAODSchema;"
        "from colframe.checkpoint import processor_fingerprint as f;"
        "print(f(Tagged('v1'), NanoAODSchema))"
    )
    root = Path(__file__).resolve().parents[1]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    prints = {child.communicate(timeout=120)[0].strip() for child in children}
    from coffea.nanoevents import NanoAODSchema

    assert prints == {processor_fingerprint(Tagged("v1"), NanoAODSchema)}
    assert processor_fingerprint(Tagged("v2"), NanoAODSchema) not in prints


def test_chunk_key_is_the_chunk_identity():
    item = WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-1", {"xsec": 1.0})
    same = WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-1", {"xsec": 1.0})
    key = CheckpointStore.key
    assert key(item) == key(same)
    reordered = WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-1", {"year": 1, "xsec": 1.0})
    in_order = WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-1", {"xsec": 1.0, "year": 1})
    assert key(reordered) == key(in_order)  # a fileset's metadata keys in another order
    others = [
        WorkItem("e", "/data/f.root", "Events", 0, 100, "uuid-1", {"xsec": 1.0}),
        WorkItem("d", "/data/f.root", "Events", 0, 101, "uuid-1", {"xsec": 1.0}),
        WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-2", {"xsec": 1.0}),
        WorkItem("d", "/data/f.root", "Events", 0, 100, "uuid-1", {"xsec": 2.0}),
    ]
    assert len({key(item), *map(key, others)}) == 5


def test_checkpoint_that_is_a_file_fails_before_any_chunk(generated, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CheckpointError, match="cannot create the checkpoint directory"):
        run({"d": [str(generated[0])]}, checkpoint=blocker)
    with pytest.raises(CheckpointError, match="directory path or an fsspec URL"):
        colframe.Runner(checkpoint=3)


def test_save_failure_stops_the_run_even_with_skipbadfiles(generated, tmp_path):
    directory = tmp_path / "ckpt"
    with pytest.raises(ChunkError) as info:
        run(
            {"d": [str(generated[0])]},
            BreaksCheckpoint(str(directory)),
            checkpoint=directory,
            skipbadfiles=True,
            retries=1,
        )
    assert info.value.failure.attempts == 2  # retried like any transient failure, then reported
    assert "cannot write the checkpoint of chunk dataset=d" in str(info.value)
    assert "writable from every worker" in str(info.value)
    assert not info.value.failure.matches((OSError,))


def test_unpicklable_processor_with_checkpoint_names_the_attribute(generated, tmp_path):
    with pytest.raises(UnpicklableError, match=r"HoldsLock\.lock is a _thread\.lock") as info:
        run({"d": [str(generated[0])]}, HoldsLock(), checkpoint=tmp_path)
    assert "checkpoints fingerprint the processor" in info.value.__notes__[0]


def test_checkpointed_work_closes_the_files_of_the_work_it_wraps(generated, tmp_path):
    from colframe._work import ProcessChunk, schema_class
    from colframe.checkpoint import Checkpointed

    work = ProcessChunk(CoffeaStyle(), schema_class(colframe._work.DEFAULT_SCHEMA))
    wrapped = Checkpointed(work, CheckpointStore(tmp_path), "f" * 16)
    item = WorkItem("d", str(generated[0]), "Events", 0, 100, None, None)
    wrapped(item)
    ((file, _),) = work._files._mine().values()  # the chunk's file stays open between chunks ...
    assert not file.file.closed
    wrapped.close()
    assert file.file.closed  # ... until the executor closes the work function


_MAIN_SCRIPT = '''
import sys

sys.path.insert(0, {tests!r})
import awkward as ak
from coffea import processor
from _processors import fill

import colframe


class Helper:
    """A __main__ class held by the processor: pickled by value too."""

    def __init__(self, scale):
        self.scale = scale


class Analysis(processor.ProcessorABC):
    def __init__(self, cut):
        self.cut = cut
        self.helper = Helper(2)

    def process(self, events):
        out = fill(events)
        out["passing"] = {{events.metadata["dataset"]: int(ak.sum(events.Muon.pt > self.cut))}}
        return out  # CODE

    def postprocess(self, accumulator):
        return accumulator


runner = colframe.Runner(
    chunksize=2_000, status=False, savemetrics=True, checkpoint=sys.argv[1], metadata_cache=False
)
_, report = runner({{"d": [sys.argv[2]]}}, "Events", processor_instance=Analysis(cut={cut}))
print(report.chunks_from_checkpoint, report.chunks_computed, report.checkpoints_stale)
'''


def _run_main_script(
    tmp_path, data, cut=20, code="return out", seed="1", stdin=False
) -> list[int]:
    """Run a processor defined in a script's ``__main__`` in a fresh Python; its counts.

    ``stdin``: the script is read from standard input, so that (as in a notebook)
    no source file of ``__main__`` exists.
    """
    script = tmp_path / "analysis.py"
    text = _MAIN_SCRIPT.format(tests=str(Path(__file__).parent), cut=cut)
    script.write_text(text.replace("return out  # CODE", code))
    done = subprocess.run(
        [sys.executable, "-" if stdin else str(script), str(tmp_path / "ckpt"), str(data)],
        input=script.read_text() if stdin else None,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    return [int(n) for n in done.stdout.split()]


@pytest.mark.slow  # five fresh interpreters, about 20 s
def test_processor_defined_in_main_resumes_across_processes(generated, tmp_path):
    # 3 chunks of 2,000 entries; each run is a new interpreter (cloudpickle gives a
    # __main__ class a random id per process: it must not reach the fingerprint)
    assert _run_main_script(tmp_path, generated[0]) == [0, 3, 0]
    assert _run_main_script(tmp_path, generated[0], seed="2") == [3, 0, 0]
    # a changed parameter, then changed code: a different processor, recomputed
    assert _run_main_script(tmp_path, generated[0], cut=30) == [0, 3, 3]
    changed = "out['extra'] = 1\n        return out"
    assert _run_main_script(tmp_path, generated[0], code=changed) == [0, 3, 3]
    # and the unchanged one still finds its own checkpoints
    assert _run_main_script(tmp_path, generated[0], seed="3") == [3, 0, 0]


@pytest.mark.slow  # three fresh interpreters, about 13 s
def test_processor_defined_in_main_without_a_source_file_resumes(generated, tmp_path):
    # read from stdin: no source to hash, the class's code is pickled by value instead
    assert _run_main_script(tmp_path, generated[0], stdin=True) == [0, 3, 0]
    assert _run_main_script(tmp_path, generated[0], stdin=True, seed="2") == [3, 0, 0]
    changed = "out['extra'] = 1\n        return out"
    assert _run_main_script(tmp_path, generated[0], code=changed, stdin=True) == [0, 3, 3]
