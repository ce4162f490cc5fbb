"""The ZLIB inflater colframe picks while processing chunks (colframe.decompression)."""

from __future__ import annotations

import sys

import pytest
import uproot
import uproot.compression
from _compare import assert_same
from _processors import RecordsInflater
from conftest import shared_file

import colframe
from colframe.decompression import resolve_zlib_library, zlib_library

# the process-per-task engines (TaskVine task mode, Work Queue) are left out: see conftest.py
pytestmark = pytest.mark.driver_semantics

uproot_default = uproot.compression._DecompressZLIB.library


def _in_effect() -> str:
    return uproot.compression._decompress_ZLIB.library


def _fail_a_chunk() -> None:
    msg = "chunk failed"
    raise RuntimeError(msg)


def test_zlib_library_is_scoped_and_restored_on_error():
    assert _in_effect() == uproot_default == "zlib"
    with zlib_library("isal"):
        assert _in_effect() == "isal"
    assert _in_effect() == "zlib"
    assert "library" not in vars(uproot.compression._decompress_ZLIB)  # class default again
    with pytest.raises(RuntimeError, match="chunk failed"), zlib_library("isal"):
        _fail_a_chunk()
    assert _in_effect() == "zlib"


def test_zlib_library_restores_a_users_own_choice():
    uproot.compression._decompress_ZLIB.library = "isal"
    try:
        with zlib_library("zlib"):
            assert _in_effect() == "zlib"
        assert _in_effect() == "isal"
    finally:
        del uproot.compression._decompress_ZLIB.library


def test_resolve_names_and_errors(monkeypatch):
    assert resolve_zlib_library("auto") == "isal"  # isal is a dependency
    assert resolve_zlib_library("zlib") == "zlib"
    with pytest.raises(
        ValueError, match="zlib_library must be one of 'auto', 'isal', 'zlib', got 'gzip'"
    ):
        colframe.Runner(zlib_library="gzip")
    monkeypatch.setitem(sys.modules, "isal", None)  # as if isal were not installed
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    assert resolve_zlib_library("auto") == "zlib"
    with pytest.raises(ValueError, match=r'needs isal.isal_zlib, which is not installed: pip install "isal'):
        resolve_zlib_library("isal")


@pytest.mark.slow  # 4-15 s per case
@pytest.mark.parametrize("library", ["isal", "zlib"])
def test_every_executor_inflates_with_the_chosen_library(executor, library):
    """Chunks run under the chosen inflater on workers; outputs equal uproot's default path."""
    fileset = {
        "dy": [str(shared_file("nano_dy.root"))],
        "ttbar": [str(shared_file("nanoAOD_2015_CMS_Open_Data_ttbar.root"))],
    }
    run = colframe.Runner(executor, chunksize=50, status=False, zlib_library=library)
    out = run(fileset, "Events", processor_instance=RecordsInflater())
    plain = colframe.Runner("iterative", chunksize=50, status=False, zlib_library="zlib")
    reference = plain(fileset, "Events", processor_instance=RecordsInflater())
    chunks = reference["inflater"].pop("zlib")
    assert out.pop("inflater") == {library: chunks}
    assert_same(out, {k: v for k, v in reference.items() if k != "inflater"})
    assert _in_effect() == "zlib"  # nothing leaks into the driver process


def test_isal_really_inflates_the_baskets(monkeypatch):
    """A spy on uproot's isal hook: ISA-L inflates every ZLIB basket read under 'isal'."""
    real = uproot.extras.isal()
    calls = []

    class Spy:
        class isal_zlib:  # mirrors the module's name
            @staticmethod
            def decompress(data, bufsize):
                calls.append(len(data))
                return real.isal_zlib.decompress(data, bufsize=bufsize)

    monkeypatch.setattr(uproot.extras, "isal", lambda: Spy)
    fileset = {"dy": [str(shared_file("nano_dy.root"))]}
    colframe.Runner(status=False, zlib_library="isal")(
        fileset, "Events", processor_instance=RecordsInflater()
    )
    assert calls, "no basket went through isal"
    count = len(calls)
    colframe.Runner(status=False, zlib_library="zlib")(
        fileset, "Events", processor_instance=RecordsInflater()
    )
    assert len(calls) == count  # the stdlib path does not touch isal


def test_overlapping_scopes_in_threads_restore_once_all_have_left():
    """Two chunks in threads of one worker: the first to leave must not switch the other off."""
    import threading

    second_entered, first_left = threading.Event(), threading.Event()
    seen = {}

    def second_chunk():
        with zlib_library("isal"):
            second_entered.set()
            first_left.wait(10)
            seen["second, after the first left"] = _in_effect()

    with zlib_library("isal"):  # the first chunk enters first ...
        second = threading.Thread(target=second_chunk)
        second.start()
        second_entered.wait(10)
    first_left.set()  # ... and leaves while the second is still inside
    second.join()
    assert seen == {"second, after the first left": "isal"}
    assert _in_effect() == "zlib"
    assert "library" not in vars(uproot.compression._decompress_ZLIB)
