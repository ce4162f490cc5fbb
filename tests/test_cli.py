"""The colframe command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from _compare import assert_same
from _processors import CoffeaStyle

import colframe
from colframe import serialize


def colframe_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "colframe.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_run_then_report(generated, tmp_path):
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"d": [str(p) for p in generated[:2]]}))
    output = tmp_path / "out.pkl"
    tests_dir = __import__("pathlib").Path(__file__).parent
    done = colframe_cli(
        "run", "_processors:CoffeaStyle", "--fileset", fileset, "--executor", "futures",
        "--workers", "2", "--chunksize", "3000", "--output", output, "--no-status",
        "--zlib-library", "zlib", cwd=tests_dir,
    )
    assert done.returncode == 0, done.stderr
    assert "chunks: 4 planned, 4 ok" in done.stdout
    assert "(ZLIB inflated by zlib)" in done.stdout  # the flag reached the Runner
    saved = serialize.load(output)
    expected = colframe.Runner(chunksize=3_000, status=False)(
        str(fileset), "Events", processor_instance=CoffeaStyle()
    )
    assert_same(saved["output"], expected)
    shown = colframe_cli("report", output, cwd=tmp_path)
    assert shown.returncode == 0
    assert "events: 12,000 processed of 12,000" in shown.stdout


def test_errors_are_one_line_with_exit_code(tmp_path):
    done = colframe_cli(
        "run", "nomodule:X", "--fileset", tmp_path / "f.json", "--output", tmp_path / "o",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "cannot import module 'nomodule'" in done.stderr
