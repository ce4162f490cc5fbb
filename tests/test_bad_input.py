"""Bad input: every case ends in a clear error naming the file/chunk/cause, or a reported skip."""

from __future__ import annotations

import pytest
from _processors import CoffeaStyle, NotAddable, Raises, ReturnsNone, TypeChanges
from conftest import shared_file

import colframe
from colframe.errors import ChunkError, ExecutorError, FilesetError
from colframe.executors import get_executor


def run(fileset, proc=None, **options):
    options.setdefault("status", False)
    runner = colframe.Runner(savemetrics=True, **options)
    return runner(fileset, "Events", processor_instance=proc or CoffeaStyle())


@pytest.fixture
def good(generated):
    return str(generated[0])


def bad_files(tmp_path):
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(shared_file("nano_dy.root").read_bytes()[:50_000])
    text = tmp_path / "notes.root"
    text.write_text("this is not a ROOT file\n")
    return {
        "missing": (str(tmp_path / "does_not_exist.root"), "FileNotFoundError"),
        "truncated": (str(truncated), "OSError"),
        "not_root": (str(text), "OSError"),
        "no_tree": (str(shared_file("bad_delphes.root")), "TreeNotFoundError"),
    }


@pytest.mark.parametrize("case", ["missing", "truncated", "not_root", "no_tree"])
def test_bad_file_stops_run_naming_file_and_cause(case, tmp_path, good):
    path, exc_name = bad_files(tmp_path)[case]
    with pytest.raises(ChunkError) as info:
        run({"ok": [good], "bad": [path]})
    message = str(info.value)
    assert path in message
    assert exc_name in message
    assert "skipbadfiles=True" in message
    assert info.value.failure.kind == "preprocess"


@pytest.mark.parametrize("executor_name", ["iterative", "futures"])
def test_skipbadfiles_skips_and_reports_every_bad_file(executor_name, tmp_path, good):
    cases = bad_files(tmp_path)
    fileset = {"ok": [good], "bad": [path for path, _ in cases.values()]}
    executor = get_executor(executor_name)
    out, report = run(fileset, executor=executor, skipbadfiles=True, chunksize=3_000)
    assert out["events"] == {"ok": 6_000}
    assert report.files_skipped == 4
    for path, exc_name in cases.values():
        assert any(path in f.where() and f.exc_type.endswith(exc_name) for f in report.skipped)
    assert not report.complete
    assert "SKIPPED" in report.summary()


def test_wrong_tree_name_suggests_closest(good):
    with pytest.raises(ChunkError, match=r"no tree 'Event'.*did you mean 'Events'\?"):
        colframe.Runner(status=False)({"d": [good]}, "Event", processor_instance=CoffeaStyle())


def test_empty_file_is_processed_as_zero_events():
    out, report = run({"empty": [str(shared_file("nano_dy_empty.root"))]})
    assert out["events"] == {"empty": 0}
    assert report.chunks_total == 1
    assert report.events_processed == 0


def test_processor_that_raises_names_chunk_and_cause(good):
    with pytest.raises(ChunkError) as info:
        run({"d": [good]}, Raises(), chunksize=3_000, retries=1)
    message = str(info.value)
    assert "ValueError: boom in user code" in message
    assert f"file={good}" in message
    assert "entries [" in message
    failure = info.value.failure
    assert failure.attempts == 2  # one retry, in one layer
    assert "while processing chunk dataset=d" in failure.traceback
    assert info.value.report.chunks_failed >= 1


def test_processor_returning_none_is_not_retried(good):
    with pytest.raises(ChunkError, match="returned None") as info:
        run({"d": [good]}, ReturnsNone(), retries=3)
    assert info.value.failure.attempts == 1


@pytest.mark.parametrize("proc", [NotAddable(), TypeChanges()], ids=["not_addable", "type_changes"])
def test_outputs_that_cannot_be_merged(proc, good):
    with pytest.raises(ChunkError, match="cannot add") as info:
        run({"d": [good]}, proc, chunksize=2_000)
    assert info.value.failure.kind == "merge"


@pytest.mark.parametrize(
    ("fileset", "match"),
    [
        ({}, "empty"),
        ([], "must be a dict"),
        ({"d": {"treename": "Events"}}, "dataset 'd': missing key 'files'"),
        ({"d": {"files": [], "treename": "Events"}}, "dataset 'd' has no files"),
        ({"d": {"files": ["a.root"], "metadata": {"dataset": "x"}}}, "reserved"),
        ({"d": {"files": ["a.root"], "bogus": 1}}, "unknown key"),
        ({"d": ["a.root", "a.root"]}, "listed twice"),
        ({"d": [3]}, "non-empty strings"),
        ({"d": "a.root"}, "must be a list"),
    ],
)
def test_malformed_filesets(fileset, match):
    with pytest.raises(FilesetError, match=match):
        run(fileset)


@pytest.mark.parametrize("chunksize", [0, -5])
def test_bad_chunksize(chunksize, good):
    with pytest.raises(FilesetError, match="chunksize must be a positive"):
        run({"d": [good]}, chunksize=chunksize)


def test_unknown_executor_lists_known_names():
    with pytest.raises(ExecutorError, match="known executors: .*futures.*iterative"):
        colframe.Runner(executor="spark")
