"""Resume after the driver dies: `colframe run` killed with SIGKILL, then run again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _compare import assert_same
from _processors import CoffeaStyle

import colframe
from colframe import serialize

TESTS = Path(__file__).resolve().parent
CHUNKSIZE = 500  # 36 chunks over the 3 generated files


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _command(fileset: Path, checkpoint: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "colframe.cli", "run", "_flaky:SlowFill",
        "--fileset", str(fileset), "--executor", "futures", "--workers", "2",
        "--chunksize", str(CHUNKSIZE), "--checkpoint", str(checkpoint),
        "--output", str(output), "--no-status",
    ]  # fmt: skip


def _kill_midway(command: list[str], checkpoint: Path, threshold: int) -> int:
    """Start ``command``, SIGKILL its driver once ``threshold`` checkpoints exist.

    Returns how many checkpoints existed just before the kill; checks that the
    worker processes exit with their driver.
    """
    driver = subprocess.Popen(
        command,
        cwd=TESTS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    seen = 0
    while seen < threshold:
        if driver.poll() is not None:
            stderr = driver.stderr.read().decode()
            pytest.fail(
                f"the run ended (code {driver.returncode}) before the kill: {stderr[-2000:]}"
            )
        if time.monotonic() > deadline:
            os.killpg(driver.pid, signal.SIGKILL)
            pytest.fail(f"no {threshold} checkpoints after 60 s")
        seen = len(list(checkpoint.glob("*.ckpt")))
        time.sleep(0.005)
    workers = _children(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = [pid for pid in workers if _alive(pid)]
    if orphans:
        os.killpg(driver.pid, signal.SIGKILL)
        pytest.fail(f"worker processes {orphans} outlived their killed driver")
    return seen


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoints(generated, tmp_path):
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"d": [str(p) for p in generated]}))
    expected = colframe.Runner(chunksize=CHUNKSIZE, status=False)(
        str(fileset), "Events", processor_instance=CoffeaStyle()
    )
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for attempt in range(3):
        threshold = rng.randint(1, 24)
        checkpoint, output = tmp_path / f"ckpt-{attempt}", tmp_path / f"out-{attempt}.pkl"
        command = _command(fileset, checkpoint, output)
        context = f"seed {seed}, attempt {attempt}, killed after {threshold} checkpoints"
        saved_before_kill = _kill_midway(command, checkpoint, threshold)
        assert not output.exists(), context

        done = subprocess.run(
            command, cwd=TESTS, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{context}: {done.stderr[-2000:]}"
        saved = serialize.load(output)
        report = saved["report"]
        assert report.chunks_total == 36, context
        assert report.complete, context
        assert report.chunks_from_checkpoint >= saved_before_kill > 0, context
        assert report.chunks_from_checkpoint + report.chunks_computed == 36, context
        assert f"{report.chunks_from_checkpoint} chunks loaded" in done.stdout, context
        assert_same(saved["output"], expected)
