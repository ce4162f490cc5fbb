"""The failed fileset and merge: re-run exactly what failed, merge, get the clean result."""

from __future__ import annotations

import functools
import json
import shutil

import pytest
from _compare import assert_same
from _flaky import FailsUnlessFlag
from _processors import CoffeaStyle
from _processors import run as run_default

from colframe import serialize
from colframe.cli import main
from colframe.errors import MergeError
from colframe.fileset import FileSpec, normalize_fileset
from colframe.plan import WorkItem
from colframe.report import ChunkCounts, ChunkFailure, FileCounts, RunReport, WorkTotals
from colframe.rerun import merge_runs

run = functools.partial(run_default, chunksize=3_000, retries=0)


@pytest.fixture
def inputs(generated, tmp_path):
    """Copies of the generated files (one can be moved away) and the clean result."""
    paths = []
    for source in generated:
        shutil.copy(source, tmp_path / source.name)
        paths.append(str(tmp_path / source.name))
    fileset = {"a": paths[:2], "b": {"files": [paths[2]], "metadata": {"xsec": 2.5}}}
    clean_out, clean = run(fileset, CoffeaStyle())
    return fileset, paths, clean_out, clean


def test_failed_fileset_lists_failed_chunks_and_unreadable_files(inputs, tmp_path):
    fileset, paths, _, _ = inputs
    shutil.move(paths[1], tmp_path / "away.root")
    _, report = run(fileset, FailsUnlessFlag(str(tmp_path / "flag")), skipbadfiles=True)
    assert report.files_skipped == 1
    assert report.chunks_skipped == 2  # entries [3000, 6000) of the two readable files
    failed = report.failed_fileset()
    uuid0, uuid2 = (f.item.fileuuid for f in report.skipped if f.kind == "process")
    assert failed == {
        "a": {
            "files": {
                paths[0]: {"object_path": "Events", "steps": [[3000, 6000]], "uuid": uuid0},
                paths[1]: {"object_path": "Events"},
            }
        },
        "b": {
            "files": {paths[2]: {"object_path": "Events", "steps": [[3000, 6000]], "uuid": uuid2}},
            "metadata": {"xsec": 2.5},
        },
    }
    assert json.loads(json.dumps(failed)) == failed


def test_rerun_of_failed_fileset_merged_equals_a_clean_run(inputs, tmp_path):
    fileset, paths, clean_out, clean = inputs
    flag = tmp_path / "flag"
    shutil.move(paths[1], tmp_path / "away.root")
    first = run(fileset, FailsUnlessFlag(str(flag)), skipbadfiles=True)
    shutil.move(tmp_path / "away.root", paths[1])  # the storage is back
    flag.touch()
    failed = json.loads(json.dumps(first[1].failed_fileset()))
    rerun = run(failed, FailsUnlessFlag(str(flag)))
    assert rerun[1].chunks_total == 4  # the 2 failed chunks + the 2 chunks of the whole file

    for runs in ([first, rerun], [rerun, first]):  # the order does not matter
        out, report = merge_runs([(serialize.loads(serialize.dumps(o)), r) for o, r in runs])
        assert_same(out, clean_out)
        assert report.complete
        assert not report.skipped
        assert report.files_skipped == 0
        assert (report.chunks_total, report.chunks_ok) == (clean.chunks_total, 6)
        assert report.events_total == report.events_processed == clean.events_total == 18_000
        assert report.files_total == 3
        assert report.coverage == clean.coverage


def test_merge_refuses_to_count_entries_twice(inputs):
    _, _, clean_out, clean = inputs
    with pytest.raises(
        MergeError, match=r"both outputs contain dataset=a file=.* entries \[0, 6000\)"
    ):
        merge_runs([(clean_out, clean), (clean_out, clean)])


def test_cli_round_trip(inputs, tmp_path, monkeypatch, capsys):
    fileset, paths, clean_out, _ = inputs
    flag = tmp_path / "flag"
    monkeypatch.setenv("COLFRAME_TEST_FLAG", str(flag))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fileset.json").write_text(json.dumps(fileset))
    shutil.move(paths[1], tmp_path / "away.root")
    common = ["--executor", "iterative", "--chunksize", "3000", "--retries", "0", "--no-status"]
    first = ["run", "_flaky:FailsUnlessFlag", "--fileset", "fileset.json", "--skipbadfiles"]
    assert main([*first, *common, "-o", "first.pkl"]) == 0
    assert main(["report", "first.pkl", "--failed-fileset", "failed.json"]) == 0
    shown = capsys.readouterr().out
    assert "SKIPPED process dataset=a" in shown
    assert "3 file(s) with failed entries written to failed.json" in shown
    assert "colframe merge first.pkl rerun.pkl -o merged.pkl" in shown

    shutil.move(tmp_path / "away.root", paths[1])
    flag.touch()
    rerun = ["run", "_flaky:FailsUnlessFlag", "--fileset", "failed.json"]
    assert main([*rerun, *common, "-o", "rerun.pkl"]) == 0
    assert main(["merge", "first.pkl", "rerun.pkl", "-o", "merged.pkl"]) == 0
    assert "chunks: 6 planned, 6 ok, 0 retried, 0 failed, 0 skipped" in capsys.readouterr().out
    merged = serialize.load(tmp_path / "merged.pkl")
    assert_same(merged["output"], clean_out)

    assert main(["report", "merged.pkl", "--failed-fileset", "none.json"]) == 0
    assert "nothing failed" in capsys.readouterr().out
    assert json.loads((tmp_path / "none.json").read_text()) == {}
    assert main(["merge", "first.pkl", "merged.pkl", "-o", "twice.pkl"]) == 1
    assert "would count them twice" in capsys.readouterr().err


def test_a_whole_file_covers_its_failed_chunks():
    item = WorkItem("d", "/data/f.root", "Events", 0, 10, "uuid-f", None)
    spec = FileSpec("/data/f.root", "Events")
    report = RunReport(
        datasets=normalize_fileset({"d": ["/data/f.root"]}, "Events"),
        skipped=[
            ChunkFailure(item, "process", "OSError", "outage", ""),
            ChunkFailure(spec, "preprocess", "OSError", "gone", ""),
        ],
    )
    assert report.failed_fileset() == {
        "d": {"files": {"/data/f.root": {"object_path": "Events", "uuid": "uuid-f"}}}
    }


def test_a_chunk_failed_in_both_runs_is_listed_once():
    item = WorkItem("d", "/data/f.root", "Events", 0, 10, "uuid-f", None)
    first = RunReport(
        chunks=ChunkCounts(total=2, events=20, ok=1, skipped=1),
        work=WorkTotals(events=10),
        files=FileCounts(total=1),
        coverage={("d", "/data/f.root", "Events"): [(10, 20)]},
        datasets=normalize_fileset({"d": ["/data/f.root"]}, "Events"),
    )
    first.skipped.append(ChunkFailure(item, "process", "OSError", "outage", ""))
    rerun = RunReport(
        chunks=ChunkCounts(total=1, events=10, skipped=1),
        # the rerun found the file's metadata cached by the first run
        files=FileCounts(total=1, from_cache=1),
        datasets=normalize_fileset({"d": ["/data/f.root"]}, "Events"),
    )
    rerun.skipped.append(ChunkFailure(item, "process", "OSError", "outage again", ""))
    _, merged = merge_runs([({"n": 1}, first), (None, rerun)])
    assert [f.message for f in merged.skipped] == ["outage again"]
    assert (merged.chunks_total, merged.chunks_ok, merged.chunks_skipped) == (2, 1, 1)
    assert (merged.events_total, merged.events_processed) == (20, 10)  # the file's 20 entries
    assert (merged.files_total, merged.files_from_cache) == (1, 1)


def test_an_unreadable_file_of_two_datasets_is_recovered_only_when_both_are_covered():
    spec = FileSpec("/data/f.root", "Events")
    datasets = normalize_fileset({"a": ["/data/f.root"], "b": ["/data/f.root"]}, "Events")
    first = RunReport(datasets=datasets, files=FileCounts(total=1, skipped=1))
    first.skipped.append(ChunkFailure(spec, "preprocess", "OSError", "outage", ""))
    only_a = RunReport(
        datasets=datasets[:1],
        chunks=ChunkCounts(total=1, ok=1),
        coverage={("a", "/data/f.root", "Events"): [(0, 10)]},
    )
    _, merged = merge_runs([(None, first), ({"n": 1}, only_a)])
    assert [f.message for f in merged.skipped] == ["outage"]  # dataset b still lacks the file
    both = RunReport(
        datasets=datasets,
        chunks=ChunkCounts(total=2, ok=2),
        coverage={(d, "/data/f.root", "Events"): [(0, 10)] for d in ("a", "b")},
    )
    _, merged = merge_runs([(None, first), ({"n": 2}, both)])
    assert merged.skipped == []


def test_cli_merge_refuses_a_rerun_that_names_the_file_otherwise(inputs, tmp_path, monkeypatch,
                                                                capsys):
    # one run through a symlink, one through file://: `colframe merge` sees one file
    _, paths, _, _ = inputs
    link = tmp_path / "link.root"
    link.symlink_to(paths[0])
    monkeypatch.chdir(tmp_path)
    common = ["--executor", "iterative", "--chunksize", "3000", "--no-status"]
    for name, path in [("first", str(link)), ("second", f"file://{paths[0]}")]:
        (tmp_path / f"{name}.json").write_text(json.dumps({"a": [path]}))
        run_args = ["run", "_processors:CoffeaStyle", "--fileset", f"{name}.json"]
        assert main([*run_args, *common, "-o", f"{name}.pkl"]) == 0
    capsys.readouterr()
    assert main(["merge", "first.pkl", "second.pkl", "-o", "merged.pkl"]) == 1
    err = capsys.readouterr().err
    assert f"file=file://{paths[0]} (also as file={link})" in err
    assert "would count them twice" in err
    assert not (tmp_path / "merged.pkl").exists()
