"""The progress display: one live line per phase that collapses when the phase ends;
one plain line per phase where stderr is not a terminal; nothing at all with status=False."""

from __future__ import annotations

import io
import logging

from _processors import CoffeaStyle
from rich.console import Console

import colframe
from colframe.executors import DaskExecutor
from colframe.progress import RichProgress


def unconfigure_logging(monkeypatch):
    """As in an application that never configured logging.

    Called in the test body: pytest adds its own handlers to the root logger when
    the test's call phase starts, after fixtures ran.
    """
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)


def run(generated, status, executor="futures"):
    runner = colframe.Runner(executor, chunksize=2_000, status=status)
    return runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())


def test_status_false_draws_and_prints_nothing(generated, capsys, monkeypatch):
    unconfigure_logging(monkeypatch)
    run(generated, status=False)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_one_line_per_phase_in_a_log(generated, capsys):
    run(generated, status=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Preprocessing", "Processing", "Merging"]
    assert lines[0].startswith("Preprocessing: 1/1 files in ")
    assert lines[1].startswith("Processing: 6,000/6,000 events in ")  # counted in events
    assert lines[2].startswith("Merging: 1/1 merges in ")  # 3 chunks, fan-in 20


def test_live_lines_collapse_when_their_phase_ends():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    with RichProgress(console) as progress:
        files = progress.add("Preprocessing", 2, "files")
        events = progress.add("Processing", 100, "events")
        assert progress.live == ["Preprocessing", "Processing"]
        progress.advance(files, 2)
        assert progress.live == ["Processing"]
        progress.advance(events, 60)
        progress.update_total(events, 60)  # the rest was skipped
        assert progress.live == []
        progress.add("Merging", 0, "merges")
        assert progress.live == []  # nothing to merge: never drawn
    drawn = stream.getvalue()
    assert "Preprocessing" in drawn
    assert "Processing" in drawn
    assert "files in" not in drawn  # no summary lines on a terminal: the region is erased


def test_dask_dashboard_line_goes_through_the_display(
    generated, dask_client, capsys, monkeypatch
):
    unconfigure_logging(monkeypatch)
    run(generated, status=False, executor=DaskExecutor(client=dask_client))
    assert "dashboard" not in capsys.readouterr().err  # status=False: silent
    run(generated, status=True, executor=DaskExecutor(client=dask_client))
    err = capsys.readouterr().err
    assert f"colframe: dask dashboard at {dask_client.dashboard_link}" in err.splitlines()
    assert logging.getLogger("colframe").handlers == []  # the display's handler is gone


def test_configured_logging_is_left_alone(generated, dask_client, capsys, caplog):
    """An application's logging gets colframe's records; the display does not repeat them."""
    with caplog.at_level(logging.INFO, logger="colframe"):
        run(generated, status=True, executor=DaskExecutor(client=dask_client))
    assert "dashboard" not in capsys.readouterr().err
    assert any("dask dashboard at" in record.getMessage() for record in caplog.records)
