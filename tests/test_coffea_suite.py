"""coffea's own test files pass against colframe.processor (tests/coffea_suite/run.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent / "coffea_suite"


def test_deselected_tests_each_have_a_reason():
    lines = [
        line
        for line in (SUITE / "deselected.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        node, sep, reason = line.partition(" # ")
        assert sep, line
        assert node.startswith("tests/"), line
        assert "::" in node, line
        assert len(reason) > 20, line


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_coffea_test_files_pass_against_colframe_processor():
    """The pinned coffea sdist's tests, coffea.processor patched to colframe.processor."""
    done = subprocess.run(
        [sys.executable, str(SUITE / "run.py"), "-q", "-p", "no:warnings"],
        capture_output=True,
        text=True,
        check=False,
    )
    tail = "\n".join(done.stdout.splitlines()[-40:])
    assert done.returncode == 0, f"coffea's tests failed against colframe.processor:\n{tail}"
    summary = done.stdout.splitlines()[-1]
    assert re.search(r"\d+ passed", summary), tail
    assert "failed" not in summary, tail
    assert "error" not in summary, tail
