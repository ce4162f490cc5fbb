"""Smoke tests of the benchmark entry points on a tiny dataset: they run and write their results."""

from __future__ import annotations

import pytest

# NanoAODSchema (coffea's runs) warns about the Photon branches of this open-data layout
pytestmark = pytest.mark.filterwarnings("ignore:Branch Photon_.* already exists:RuntimeWarning")


@pytest.mark.slow  # every contender of the harness, about 70 s
def test_colframe_bench_adl(tmp_path):
    """``colframe bench adl`` (benchmarks/adl/run.py): every contender runs, outputs agree."""
    from colframe.cli import main

    output = tmp_path / "results" / "adl.md"
    argv = ["bench", "adl", "--events", "2000", "--files", "2", "--workers", "1"]
    argv += ["--chunksize", "500", "--queries", "q1", "--repeats", "2"]
    argv += ["--data", str(tmp_path / "data"), "--output", str(output)]
    assert main(argv) == 0

    text = output.read_text()
    assert "## Summary" in text
    assert "| q1 | " in text.split("## Summary")[1].split("## All runs")[0]
    assert "every output (histograms and nevents) was checked equal to coffea Iterative's" in text
    for name in (
        "read floor (uproot)",
        "colframe Iterative",
        "colframe Futures(1)",
        "colframe (stdlib zlib) Futures(1)",
        "colframe Dask(1)",
        "coffea Iterative",
        "coffea Futures(1)",
        "colframe TaskVine(1)",
        "coffea TaskVine(1)",
        "colframe WorkQueue(1)",
    ):
        assert f"| q1 | {name} |" in text
    taskvine = text.split("## TaskVine")[1].split("## All runs")[0]
    assert "| q1 | " in taskvine  # colframe TaskVine beside coffea's, Futures and Work Queue
    assert output.with_suffix(".png").stat().st_size > 0


def test_demo(tmp_path):
    """``python -m benchmarks.demo``: all eight queries, a table and one plot per histogram."""
    from benchmarks.demo import main

    out = tmp_path / "demo"
    argv = ["--events", "2000", "--files", "1", "--workers", "1", "--chunksize", "1000"]
    argv += ["--data", str(tmp_path / "data"), "--out", str(out)]
    assert main(argv) == 0
    table = (out / "table.md").read_text()
    for query in ("q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"):
        assert f"| {query} | 2,000 |" in table
    assert len(list(out.glob("*.png"))) == 9  # q6 fills two histograms
