"""Bad input: every case ends in a clear error naming the file/chunk/cause, or a reported skip."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor

import pytest
from _flaky import HoldsLock, ReadsMissingBranch, ReturnsLock
from _processors import CoffeaStyle, NotAddable, Raises, ReturnsNone, TypeChanges, run
from conftest import shared_file

import colframe
from colframe.errors import ChunkError, ExecutorError, FilesetError, UnpicklableError
from colframe.executors import get_executor


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


def test_merge_error_names_the_key(good):
    with pytest.raises(ChunkError) as info:
        run({"d": [good]}, NotAddable(), chunksize=2_000)
    message = str(info.value)
    assert "at output['thing']: cannot add builtins.object to builtins.object" in message
    assert message.count("same structure in every chunk") == 1


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


# --- files the OS refuses -----------------------------------------------------


def _denied_runs(path: str, drop_root: bool) -> tuple[str, str, str]:
    """(error without skip, skip reason, exc type); ``drop_root``: first become nobody."""
    if drop_root:  # in a forked child: root reads any file whatever its mode
        os.setgid(65534)
        os.setuid(65534)
    try:
        run({"d": [path]}, metadata_cache=False)
    except ChunkError as err:
        stopped = str(err)
    else:
        stopped = "the run did not stop"
    _, report = run({"d": [path]}, metadata_cache=False, skipbadfiles=True)
    (skip,) = report.skipped
    return stopped, skip.describe(), skip.exc_type


def test_permission_denied(tmp_path, good):
    # root reads any file whatever its mode, so the run happens in a child process
    # that drops root's rights; tmp_path (mode 0700, owned by root) is closed to it
    denied = tmp_path / "denied.root"
    shutil.copy(good, denied)
    denied.chmod(0)
    if os.geteuid() != 0:
        stopped, skipped, exc_type = _denied_runs(str(denied), drop_root=False)
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            stopped, skipped, exc_type = pool.submit(_denied_runs, str(denied), True).result()
    assert exc_type == "PermissionError"
    assert f"cannot read file={denied}" in stopped
    assert "PermissionError" in stopped
    assert "skipbadfiles=True" in stopped
    assert f"preprocess file={denied} tree=Events: PermissionError" in skipped


def test_directory_instead_of_file(tmp_path, good):
    with pytest.raises(ChunkError, match=r"IsADirectoryError") as info:
        run({"d": [good, str(tmp_path)]})
    assert str(tmp_path) in str(info.value)
    assert info.value.failure.attempts == 1  # another attempt cannot fix it


# --- the processor and the file disagree -------------------------------------


def test_branch_the_file_lacks_names_chunk_branch_and_fix(good):
    with pytest.raises(ChunkError) as info:
        run({"d": [good]}, ReadsMissingBranch(), retries=0)
    message = str(info.value)
    assert f"file={good} tree=Events entries [0, 6000)" in message
    assert "AttributeError: no field named 'mvaTTH'" in message
    assert "the processor reads a branch this file's tree does not have" in message


# --- fileset mistakes ---------------------------------------------------------


def test_same_file_in_two_datasets_is_read_once_and_processed_for_each(good):
    out, report = run({"a": [good], "b": [good]}, chunksize=3_000)
    assert out["events"] == {"a": 6_000, "b": 6_000}
    assert report.files_total == 1  # preprocessed once
    assert report.chunks_total == 4


@pytest.mark.parametrize(
    ("fileset", "match"),
    [
        (
            {"d": {"files": ["a.root"], "metdata": {}}},
            r"unknown key\(s\) \['metdata'\].*did you mean 'metadata'",
        ),
        ({"d": {"file": ["a.root"]}}, r"did you mean 'files'"),
        (
            {"d": {"files": {"a.root": {"object_path": "Events", "step": [[0, 1]]}}}},
            "did you mean 'steps'",
        ),
    ],
)
def test_misspelled_keys_suggest_the_closest(fileset, match):
    with pytest.raises(FilesetError, match=match):
        run(fileset)


def test_dataset_keys_at_the_top_level_are_explained(good):
    with pytest.raises(FilesetError) as info:
        run({"d": [good], "metadata": {"xsec": 1.0}})
    assert "dataset 'metadata'" in str(info.value)
    assert "'metadata' is a dataset key: it belongs inside a dataset" in info.value.__notes__[0]


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"steps": [[0, 100], [50, 200]]}, r"steps \[0, 100\) and \[50, 200\) overlap"),
        ({"steps": []}, "non-empty list"),
        ({"steps": [[5, 2]]}, "0 <= start <= stop"),
        ({"steps": [[0, 7000]]}, r"step \[0, 7000\) goes beyond the file's 6000 entries"),
        ({"uuid": "00000000-0000-0000-0000-000000000000"}, "changed since the fileset was written"),
        ({"num_entries": 5}, "has 6000 entries, the fileset says 5"),
    ],
)
def test_preprocessed_entries_that_do_not_fit_the_file(entry, match, good):
    with pytest.raises(FilesetError, match=match):
        run({"d": {"files": {good: {"object_path": "Events", **entry}}}})


# --- processors that cannot travel -------------------------------------------


def test_unpicklable_processor_names_the_attribute(good):
    with pytest.raises(UnpicklableError) as info:
        run({"d": [good]}, HoldsLock(), executor=get_executor("futures", workers=1))
    message = str(info.value)
    assert "ProcessChunk.processor.lock is a _thread.lock (held by HoldsLock as .lock)" in message
    assert "create open files, locks and clients inside process()" in message
    out, _ = run({"d": [good]}, HoldsLock())  # in-process: nothing is pickled
    assert out["events"] == {"d": 6_000}


@pytest.mark.parametrize("name", ["futures", "dask"])
@pytest.mark.timeout(120)
def test_unpicklable_output_names_the_key(generated, name, request):
    # several chunks, so that merges would move outputs between processes
    options = {"workers": 1} if name == "futures" else {"client": request.getfixturevalue("dask_client")}
    fileset = {"d": [str(path) for path in generated]}
    with pytest.raises(ChunkError) as info:
        run(fileset, ReturnsLock(), executor=get_executor(name, **options), chunksize=2_000)
    assert "Partial.out['lock'] is a _thread.lock" in str(info.value)
    assert info.value.failure.attempts == 1
