"""Bad input: every case ends in a clear error naming the file/chunk/cause, or a reported skip."""

from __future__ import annotations

import functools
import http.server
import logging
import multiprocessing
import os
import re
import shutil
import threading
import typing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import uproot
from _compare import assert_same
from _exact import coffea_run
from _flaky import HoldsLock, ReadsMissingBranch, ReturnsLock
from _processors import CoffeaStyle, NotAddable, Raises, ReturnsNone, TypeChanges, run
from conftest import shared_file

import colframe
from colframe.errors import (
    ChunkError,
    ColframeError,
    ExecutorError,
    FilesetError,
    MergeError,
    MissingProtocolError,
    ProcessorError,
    UnpicklableError,
)
from colframe.executors import IterativeExecutor, get_executor
from colframe.rerun import merge_runs


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
    # skipbadfiles=True covers OSErrors; a missing tree is skipped only when named
    hint = "skipbadfiles=(TreeNotFoundError,)" if case == "no_tree" else "skipbadfiles=True"
    assert hint in message
    assert info.value.failure.kind == "preprocess"


@pytest.mark.parametrize(
    ("case", "coffea_type"),
    [
        ("missing", FileNotFoundError),
        ("truncated", OSError),
        ("no_tree", "UprootMissTreeError"),
    ],
)
def test_chunk_error_is_also_the_type_coffea_raises(case, coffea_type, tmp_path, good):
    """`except FileNotFoundError` (or coffea's UprootMissTreeError) catches colframe's error."""
    from coffea.processor.executor import UprootMissTreeError

    expected = UprootMissTreeError if coffea_type == "UprootMissTreeError" else coffea_type
    path, _ = bad_files(tmp_path)[case]
    with pytest.raises(expected) as info:
        run({"ok": [good], "bad": [path]})
    assert isinstance(info.value, ChunkError)
    assert isinstance(info.value, ColframeError)
    assert path in str(info.value)  # colframe's message, not the bare cause's


def test_skipbadfiles_true_does_not_skip_a_missing_tree_as_in_coffea(good):
    """coffea: skipbadfiles=True is (OSError,); a missing tree is not an OSError."""
    from coffea.processor.executor import UprootMissTreeError

    no_tree = str(shared_file("bad_delphes.root"))
    with pytest.raises(UprootMissTreeError):
        run({"ok": [good], "bad": [no_tree]}, skipbadfiles=True)
    out, report = run({"ok": [good], "bad": [no_tree]}, skipbadfiles=(UprootMissTreeError,))
    assert out["events"] == {"ok": 6_000}
    assert report.files_skipped == 1


@pytest.mark.parametrize("executor_name", ["iterative", "futures"])
def test_skipbadfiles_skips_and_reports_every_bad_file(executor_name, tmp_path, good):
    cases = bad_files(tmp_path)
    fileset = {"ok": [good], "bad": [path for path, _ in cases.values()]}
    executor = get_executor(executor_name)
    skip = (OSError, colframe.errors.TreeNotFoundError)
    out, report = run(fileset, executor=executor, skipbadfiles=skip, chunksize=3_000)
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


@pytest.mark.parametrize("chunksize", [0, -5, True, "100"])
def test_bad_chunksize(chunksize):
    with pytest.raises(FilesetError, match="chunksize must be a positive"):
        colframe.Runner(chunksize=chunksize)  # refused before any file is opened


def test_unknown_executor_lists_known_names():
    with pytest.raises(ExecutorError, match=r"known executors: .*futures.*iterative"):
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


# --- the same file under another spelling (issue 12.5) --------------------------


def _spellings(good: str, tmp_path) -> dict[str, str]:
    """Other names of the file ``good``: a doubled slash, a symlink, a file:// URL."""
    link = tmp_path / "link.root"
    link.symlink_to(good)
    head, tail = os.path.split(good)
    return {"double_slash": f"{head}//{tail}", "symlink": str(link), "file_url": f"file://{good}"}


@pytest.mark.parametrize("spelling", ["double_slash", "symlink", "file_url"])
def test_one_file_under_two_spellings_in_a_dataset_is_refused(spelling, tmp_path, good):
    other = _spellings(good, tmp_path)[spelling]
    with pytest.raises(FilesetError, match=r"is listed twice \(also as .*counted twice") as info:
        run({"d": [good, other]}, metadata_cache=False)
    assert other in str(info.value)


def test_one_file_at_two_locations_in_a_dataset_is_refused_by_its_uuid(tmp_path, good):
    # a copy is the same ROOT file (same UUID) at another location: no spelling tells
    copy = tmp_path / "replica.root"
    shutil.copy(good, copy)
    with pytest.raises(FilesetError, match=r"are the same file \(ROOT UUID .*list it once"):
        run({"d": [good, str(copy)]}, metadata_cache=False)


def test_other_spellings_across_datasets_read_once_and_equal_coffea(tmp_path, good):
    spellings = _spellings(good, tmp_path)
    fileset = {"a": [good], **{name: [path] for name, path in spellings.items()}}
    out, report = run(fileset, chunksize=3_000, metadata_cache=False)
    assert report.files_total == 1  # preprocessed once
    # coffea reads the file once per dataset too (and preprocesses it four times)
    assert_same(out, coffea_run(fileset, CoffeaStyle(), 3_000))


@pytest.mark.parametrize("spelling", ["double_slash", "symlink", "file_url"])
def test_merging_runs_over_two_spellings_of_a_file_is_refused(spelling, tmp_path, good):
    other = _spellings(good, tmp_path)[spelling]
    first = run({"d": [good]}, chunksize=3_000)
    second = run({"d": [other]}, chunksize=3_000)
    with pytest.raises(MergeError, match=r"count them twice") as info:
        merge_runs([first, second])
    assert f"(also as file={good})" in str(info.value)


class _FailsAt3000(CoffeaStyle):
    def process(self, events):
        if events.metadata["entrystart"] == 3_000:
            msg = "the second chunk fails"
            raise ValueError(msg)
        return super().process(events)


def test_a_rerun_under_another_spelling_recovers_what_failed(tmp_path, good):
    other = _spellings(good, tmp_path)["double_slash"]
    out, report = run(
        {"d": [good]}, _FailsAt3000(), chunksize=3_000, skipbadfiles=(ValueError,), retries=0
    )
    assert report.chunks_skipped == 1
    failed = report.failed_fileset()
    (entry,) = failed["d"]["files"].values()
    rerun = run({"d": {"files": {other: entry}}}, chunksize=3_000)
    merged, merged_report = merge_runs([(out, report), rerun])
    assert merged_report.complete
    assert_same(merged, coffea_run({"d": [good]}, CoffeaStyle(), 3_000))


# --- a file that changed after preprocessing (issue 12.6) -----------------------


def _with_new_uuid(source: str, target) -> None:
    """``target``: ``source`` with another ROOT UUID in its header, same size and mtime."""
    import uproot

    with uproot.open(source) as file:
        old = file.file.fUUID
    data = bytearray(Path(source).read_bytes())
    at = data.index(old)  # the file header's copy comes first
    data[at : at + len(old)] = bytes(b ^ 0xFF for b in old)
    stat = Path(target).stat()
    Path(target).write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_file_replaced_behind_the_cache_is_refused_when_opened(tmp_path, good):
    # same size and mtime: the local cache key cannot see it; the chunk's check does
    path = tmp_path / "data.root"
    shutil.copy(good, path)
    cache = tmp_path / "cache"
    run({"d": [str(path)]}, metadata_cache=cache)
    _with_new_uuid(good, path)
    with pytest.raises(ChunkError, match="file changed since it was preprocessed") as info:
        run({"d": [str(path)]}, metadata_cache=cache, skipbadfiles=True)
    message = str(info.value)
    assert f"{str(path)!r} (tree 'Events')" in message
    assert "clear the metadata cache" in message
    assert info.value.failure.exc_type.endswith("FileChangedError")
    assert info.value.failure.attempts == 1  # another attempt cannot fix it
    assert info.value.report.files_from_cache == 1


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """``http.server`` with byte ranges, which fsspec (and so uproot) reads remote files with."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        self.remaining = None
        if not match or not Path(path).is_file():
            return super().send_head()
        size = Path(path).stat().st_size
        start, stop = int(match[1]), min(int(match[2] or size - 1), size - 1)
        stream = open(path, "rb")  # noqa: SIM115  (http.server closes it)
        stream.seek(start)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
        self.send_header("Content-Length", str(stop - start + 1))
        self.send_header("Last-Modified", self.date_time_string(int(Path(path).stat().st_mtime)))
        self.end_headers()
        self.remaining = stop - start + 1
        return stream

    def copyfile(self, source, outputfile):
        if self.remaining is None:
            super().copyfile(source, outputfile)
        else:
            outputfile.write(source.read(self.remaining))


@pytest.fixture
def http_dir(tmp_path):
    """``(directory, base URL)``: a local HTTP server (with byte ranges) over a directory."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_RangeHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_remote_file_that_changed_is_preprocessed_again(http_dir, tmp_path, good):
    served, base = http_dir
    url = f"{base}/data.root"
    cache = tmp_path / "cache"
    shutil.copy(shared_file("nano_dy.root"), served / "data.root")
    _, report = run({"d": [url]}, metadata_cache=cache)
    assert report.events_processed == 40
    assert run({"d": [url]}, metadata_cache=cache)[1].files_from_cache == 1
    shutil.copy(good, served / "data.root")  # the URL now serves another file
    out, report = run({"d": [url]}, metadata_cache=cache, chunksize=3_000)
    assert report.files_from_cache == 0  # the server's size and Last-Modified changed
    assert report.events_processed == 6_000
    assert_same(out, coffea_run({"d": [url]}, CoffeaStyle(), 3_000))


def test_one_file_local_and_remote_in_a_dataset_is_refused(http_dir, good):
    served, base = http_dir
    shutil.copy(good, served / "data.root")
    with pytest.raises(FilesetError, match=r"are the same file \(ROOT UUID"):
        run({"d": [good, f"{base}/data.root"]}, metadata_cache=False)


# --- unwritable metadata cache (issue 12.14) -----------------------------------


def test_an_unwritable_metadata_cache_warns_once_and_runs_without(tmp_path, generated, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache directory would have to be inside this file\n")
    fileset = {"d": [str(p) for p in generated]}
    with caplog.at_level(logging.WARNING, logger="colframe.preprocess"):
        out, report = run(fileset, metadata_cache=blocker / "cache", chunksize=3_000)
    warnings = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1  # three files, one warning
    assert "running without it" in warnings[0].getMessage()
    assert report.complete
    assert_same(out, run(fileset, metadata_cache=False, chunksize=3_000)[0])


# --- options and processors checked before any file is opened ---------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"chunksize": 0}, "chunksize must be a positive"),
        ({"chunksize": 2.5}, "chunksize must be a positive"),
        ({"maxchunks": 0}, "maxchunks must be a positive"),
        ({"fan_in": 1}, "fan_in must be an integer >= 2"),
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"executor": "futures", "executor_options": {"wrokers": 2}}, "does not take the options"),
        ({"executor": IterativeExecutor(), "executor_options": {"x": 1}}, "given by name"),
    ],
)
def test_bad_runner_options_are_refused_when_the_runner_is_built(options, match):
    with pytest.raises(ColframeError, match=match):
        colframe.Runner(**options)


def test_numpy_integers_are_accepted_as_counts(good):
    out, report = run({"d": [good]}, chunksize=np.int64(2_000), maxchunks=np.int32(5))
    assert report.chunks_total == 3
    assert_same(out, coffea_run({"d": [good]}, CoffeaStyle(), 2_000))


@pytest.mark.parametrize(
    ("proc", "match"),
    [
        (None, "processor_instance is None"),
        (CoffeaStyle, r"is the class CoffeaStyle, not an instance of it; pass CoffeaStyle\(\)"),
        (42, "must have a process\\(events\\) method or be callable, not int"),
    ],
)
def test_what_is_not_a_processor_is_refused_before_preprocessing(proc, match):
    runner = colframe.Runner(status=False)
    with pytest.raises(ProcessorError, match=match):
        runner({"d": ["/no/such/file.root"]}, "Events", processor_instance=proc)


def test_a_protocol_without_its_package_is_one_error_even_with_skipbadfiles(good):
    with pytest.raises(MissingProtocolError, match=r"root:// protocol needs a package.*xrootd") as info:
        run({"d": [good, "root://eos.example.org//store/f.root"]}, skipbadfiles=True)
    assert "pass skipbadfiles=True" not in str(info.value)


def test_skipbadfiles_that_does_not_cover_the_error_says_so(tmp_path, good):
    with pytest.raises(ChunkError) as info:
        run({"d": [good, str(tmp_path / "missing.root")]}, skipbadfiles=(KeyError,))
    message = str(info.value)
    assert "pass skipbadfiles=True" not in message
    assert "skipbadfiles skips KeyError; this FileNotFoundError is not one of them" in message


class _CountingSource(uproot.source.file.MemmapSource):
    """uproot's local file source, counting the files opened through it."""

    opened: typing.ClassVar[list[str]] = []

    def __init__(self, file_path, **options):
        self.opened.append(file_path)
        super().__init__(file_path, **options)


def test_uproot_options_reach_preprocessing(generated):
    _CountingSource.opened.clear()
    fileset = {"d": [str(p) for p in generated[:2]]}
    out, _ = run(fileset, metadata_cache=False, uproot_options={"handler": _CountingSource})
    # each file once to preprocess it, once to process its one chunk
    assert sorted(_CountingSource.opened) == sorted(2 * fileset["d"])
    assert_same(out, run(fileset, metadata_cache=False)[0])


# --- the Runner's executor options and the caller's executor (issue 11.3) ---------


def test_executor_by_name_with_options_equals_coffea(generated):
    fileset = {"d": [str(p) for p in generated[:2]]}
    runner = colframe.Runner(
        "futures", executor_options={"workers": 2}, chunksize=3_000, status=False
    )
    assert runner.executor.workers == 2
    out = runner(fileset, "Events", processor_instance=CoffeaStyle())
    assert_same(out, coffea_run(fileset, CoffeaStyle(), 3_000))


def test_retries_apply_without_changing_the_callers_executor(good):
    executor = IterativeExecutor(retries=2)
    with pytest.raises(ChunkError) as info:
        run({"d": [good]}, Raises(), executor=executor, retries=0)
    assert info.value.failure.attempts == 1  # the Runner's retries=0 applied
    assert executor.retries == 2  # the caller's executor is as it was
    with pytest.raises(ChunkError) as info:
        run({"d": [good]}, Raises(), executor=executor)
    assert info.value.failure.attempts == 3


def test_many_skipped_chunks_keep_every_item_and_a_few_tracebacks_per_cause(good, tmp_path):
    # 20,000 bad chunks must not hold 20,000 tracebacks (a few kB each): every item stays
    # (the rerun fileset is built from them), the first few tracebacks of each cause too
    missing = [str(tmp_path / f"missing{i}.root") for i in range(7)]
    fileset = {"ok": [good], "gone": missing}
    out, report = run(fileset, Raises(), chunksize=500, retries=0, skipbadfiles=(OSError, ValueError))
    assert out is None or not out
    assert report.chunks_skipped == report.chunks_total == 12
    assert report.files_skipped == 7
    for failures in (report.skipped[:7], report.skipped[7:]):  # files, then chunks
        assert [bool(f.traceback) for f in failures] == [i < 5 for i in range(len(failures))]
    assert {f.exc_type for f in report.skipped[7:]} == {"ValueError"}
    rerun = report.failed_fileset()
    assert sorted(rerun["gone"]["files"]) == sorted(missing)
    assert sum(stop - start for start, stop in next(iter(rerun["ok"]["files"].values()))["steps"]) == 6_000
    summary = report.summary().splitlines()
    assert sum(line.startswith("SKIPPED") and "more:" not in line for line in summary) == 10
    assert "SKIPPED 7 more: ValueError" in summary
    assert "SKIPPED 2 more: FileNotFoundError" in summary
