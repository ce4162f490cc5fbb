"""Chunks of one file reuse the open file; evicted and failed files are closed."""

from __future__ import annotations

import uproot
from _processors import CoffeaStyle

import colframe
from colframe._openfiles import OpenFiles


def test_chunks_of_a_file_open_it_once(generated, monkeypatch):
    opened = []
    real_open = uproot.open

    def counting_open(path, **options):
        opened.append(path)
        return real_open(path, **options)

    monkeypatch.setattr(uproot, "open", counting_open)
    runner = colframe.Runner(chunksize=1_000, status=False, savemetrics=True)
    out, report = runner({"d": [str(generated[0])]}, "Events", processor_instance=CoffeaStyle())
    assert report.chunks_ok == 6
    assert opened == [str(generated[0])] * 2  # preprocessing once, then all six chunks
    assert out["events"] == {"d": 6_000}


def test_eviction_and_discard_close_files(generated):
    files = OpenFiles(size=1)
    first, _ = files.get(str(generated[0]), "Events", {})
    assert files.get(str(generated[0]), "Events", {})[0] is first
    second, _ = files.get(str(generated[1]), "Events", {})
    assert first.closed
    files.discard(str(generated[1]), "Events")
    assert second.closed
    third, _ = files.get(str(generated[2]), "Events", {})
    files.close()
    assert third.closed
