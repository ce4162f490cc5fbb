"""lz4-framed pickles: round trips, atomic files, functions defined on the fly."""

from __future__ import annotations

import threading

import hist
import lz4.frame
import numpy as np
import pytest

from colframe import serialize
from colframe.errors import UnpicklableError


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


def test_uncompressed_form_is_plain_pickle_with_the_sparse_wire_format():
    h = hist.Hist(hist.axis.Regular(1000, 0, 1))
    h.fill([0.5])
    raw = serialize.dumps({"h": h}, compress=False)
    assert raw.startswith(b"\x80\x05")  # protocol-5 pickle, no lz4 frame
    assert len(raw) < 1000  # one filled bin of 1002 travels sparsely, not as 8 kB of zeros
    assert serialize.loads(raw)["h"] == h
    packed = serialize.dumps({"h": h})
    assert packed.startswith(b"\x04\x22\x4d\x18")
    assert serialize.loads(packed)["h"] == h


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


@pytest.mark.parametrize("compress", [True, False])
def test_unpicklable_names_the_attribute_in_either_form(compress):
    class Holder:
        def __init__(self):
            self.lock = threading.Lock()

    with pytest.raises(UnpicklableError, match=r"Holder\.lock is a _thread\.lock"):
        serialize.dumps(Holder(), compress=compress)


def test_large_arrays_reach_lz4_in_slices(monkeypatch):
    # lz4 compresses each write whole into a new buffer: an 8 MB write would hold a copy
    sizes = []
    write = lz4.frame.LZ4FrameFile.write

    def recording_write(self, data):
        sizes.append(memoryview(data).nbytes)
        return write(self, data)

    monkeypatch.setattr(lz4.frame.LZ4FrameFile, "write", recording_write)
    arr = np.arange(1_000_000, dtype=np.float64)
    back = serialize.loads(serialize.dumps({"a": arr, "t": arr[::2]}))
    np.testing.assert_array_equal(back["a"], arr)
    np.testing.assert_array_equal(back["t"], arr[::2])
    assert sum(sizes) > arr.nbytes
    assert max(sizes) <= 1 << 20
