"""The colframe command, run as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import lz4.frame
import pytest
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


def _main(capsys, *args) -> tuple[int, str]:
    """``colframe ARGS`` in this process: (exit code, what it printed on stderr)."""
    from colframe.cli import main

    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().err


@pytest.fixture
def fileset(generated, tmp_path):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({"d": [str(generated[0])]}))
    return path


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ("missing_dir/out.pkl", r"missing_dir does not exist \(mkdir -p it"),
        (".", r"is a directory; give a file path such as"),
        ("/proc/colframe-out.pkl", r"cannot be written: \w+Error"),
    ],
)
def test_run_checks_the_output_path_before_processing(output, match, fileset, tmp_path, capsys):
    # the checkpoint directory stays empty: no chunk ran before the error
    code, err = _main(
        capsys, "run", "_processors:CoffeaStyle", "--fileset", fileset, "--executor",
        "iterative", "--checkpoint", tmp_path / "ckpt", "-o", output, "--no-status",
    )
    assert code == 1
    assert re.search(match, err), err
    assert err.count("\n") == 1  # one line
    assert not (tmp_path / "ckpt").exists()


PROCESSORS = '''
from coffea import processor


class NeedsArguments(processor.ProcessorABC):
    def __init__(self, year):
        self.year = year

    def process(self, events):
        return {}


class NotAProcessor:
    pass


NOTHING = None
'''


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("NeedsArguments", r"cannot create the processor my_procs:NeedsArguments\(\) without "
         r"arguments \(TypeError: .*year.*\); give its parameters defaults"),
        ("NotAProcessor", r"my_procs:NotAProcessor must have a process\(events\) method or be "
         r"callable, not NotAProcessor"),
        ("NOTHING", r"my_procs:NOTHING is None, not a processor"),
    ],
)
def test_run_refuses_what_is_not_a_processor_in_one_line(name, match, fileset, tmp_path, capsys,
                                                        monkeypatch):
    (tmp_path / "my_procs.py").write_text(PROCESSORS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, err = _main(capsys, "run", f"my_procs:{name}", "--fileset", fileset, "-o", "out.pkl")
    assert code == 1
    assert re.search(match, err), err
    assert err.count("\n") == 1


def test_report_on_lz4_data_that_is_not_an_output(tmp_path, capsys):
    junk = tmp_path / "junk.lz4"
    junk.write_bytes(lz4.frame.compress(b"lz4 frames holding no pickle at all"))
    code, err = _main(capsys, "report", junk)
    assert code == 1
    assert f"{str(junk)!r} is not an output written by `colframe run`" in err
    assert err.count("\n") == 1
