"""Progress bars: drawn with status=True, nothing at all with status=False."""

from __future__ import annotations

import pytest
from _processors import CoffeaStyle

import colframe


@pytest.mark.parametrize("status", [True, False])
def test_status_controls_every_bar(status, generated, capsys):
    runner = colframe.Runner("futures", chunksize=2_000, status=status)
    runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
    captured = capsys.readouterr()
    if status:
        for phase in ("Preprocessing", "Processing", "Merging"):
            assert phase in captured.err
        assert "6000/6000" in captured.err.replace(",", "")  # counted in events
    else:
        assert captured.out == ""
        assert captured.err == ""
