"""lz4-framed pickles: round trips, atomic files, functions defined on the fly."""

from __future__ import annotations

import hist
import numpy as np
import pytest

from colframe import serialize


def test_round_trip_bytes_and_files(tmp_path):
    h = hist.Hist(hist.axis.Regular(10, 0, 1), storage="weight")
    h.fill(np.linspace(0, 1, 100), weight=2.0)
    obj = {"h": h, "s": {1, 2}, "a": np.arange(5)}
    back = serialize.loads(serialize.dumps(obj))
    assert back["h"] == h
    assert back["s"] == {1, 2}
    path = tmp_path / "out.pkl.lz4"
    size = serialize.dump(obj, path)
    assert size == path.stat().st_size
    assert serialize.load(path)["h"] == h
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


def test_lambdas_travel_by_value():
    square = serialize.loads(serialize.dumps(lambda x: x * x))
    assert square(7) == 49


def test_failed_dump_leaves_nothing(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            msg = "nope"
            raise TypeError(msg)

    with pytest.raises(TypeError):
        serialize.dump(Unpicklable(), tmp_path / "x.pkl")
    assert list(tmp_path.iterdir()) == []
