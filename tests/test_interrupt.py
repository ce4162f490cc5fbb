"""Ctrl-C during a run: the tasks in flight are cancelled, the driver exits promptly with
a report of what finished, and a run with the same checkpoint continues from there.

The driver runs in its own session and gets SIGINT on its whole process group, as a
terminal sends it (futures' worker processes get it too; TaskVine's local workers are
in their own process groups, as on a cluster).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _compare import assert_same
from _processors import Slow, run

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import colframe
from _processors import Slow

runner = colframe.Runner(
    {executor!r}, executor_options={options!r}, chunksize=1_500, checkpoint=sys.argv[1],
    status=False,
)
try:
    runner({fileset!r}, "Events", processor_instance=Slow(0.4))
except colframe.errors.RunInterrupted as stop:
    print("ok", stop.report.chunks_ok, stop.report.chunks_total, flush=True)
    print(stop, flush=True)
    sys.exit(130)
print("finished before the interrupt", flush=True)
"""

CASES = {
    "futures": ("futures", {"workers": 2}),
    "taskvine": ("taskvine", {"workers": 2}),
}


def _saved(checkpoint: Path) -> int:
    return sum(1 for p in checkpoint.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_ctrl_c_stops_with_a_report_and_resume_continues(case, generated, tmp_path):
    executor, options = CASES[case]
    fileset = {"synth": [str(p) for p in generated]}  # 18,000 events: 12 chunks
    script = tmp_path / "driver.py"
    tests = str(Path(__file__).parent)
    script.write_text(
        DRIVER.format(tests=tests, executor=executor, options=options, fileset=fileset)
    )
    checkpoint = tmp_path / "checkpoint"
    driver = subprocess.Popen(
        [sys.executable, str(script), str(checkpoint)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _saved(checkpoint) < 2 and driver.poll() is None:  # some chunks are done
            assert time.monotonic() < deadline, "no chunk was checkpointed"
            time.sleep(0.1)
        os.killpg(driver.pid, signal.SIGINT)
        out, err = driver.communicate(timeout=60)  # prompt: tasks in flight are cancelled
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 130, (out, err)
    first, message = out.splitlines()[:2]
    _, ok, total = first.split()
    assert 2 <= int(ok) < int(total) == 12
    assert f"{ok} of 12 chunks were processed" in message
    assert str(checkpoint) in message

    expected, _ = run(fileset, Slow(0), chunksize=1_500)
    resumed, report = run(fileset, Slow(0.4), chunksize=1_500, checkpoint=str(checkpoint))
    assert_same(resumed, expected)
    assert report.complete
    assert report.chunks_from_checkpoint >= int(ok)


def test_cli_prints_the_report_and_exits_130(monkeypatch, capsys):
    from colframe import cli
    from colframe.errors import RunInterrupted
    from colframe.report import ChunkCounts, RunReport

    def interrupted(args):
        report = RunReport(chunks=ChunkCounts(total=12, ok=5))
        msg = "interrupted: 5 of 12 chunks were processed"
        raise RunInterrupted(msg, report)

    monkeypatch.setattr(cli, "_parser", lambda: _Fixed(interrupted))
    assert cli.main([]) == 130
    err = capsys.readouterr().err
    assert "12 planned, 5 ok" in err
    assert "colframe: interrupted: 5 of 12 chunks were processed" in err


class _Fixed:
    """A parser whose only command is ``handler``."""

    def __init__(self, handler) -> None:
        self.handler = handler

    def parse_args(self, argv):
        import argparse

        return argparse.Namespace(handler=self.handler)
