"""Unpacking on a worker: once per tarball, safe under concurrent starts, refusing what cannot run."""

from __future__ import annotations

import io
import json
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from colframe.envs import MANIFEST, run, unpack
from colframe.errors import EnvError

from .conftest import colframe_cli

# says it is ready, then waits for the start signal, so both processes unpack the same
# tarball at the same moment
UNPACK_WHEN_TOLD = """
import sys, time
from pathlib import Path
from colframe.envs import unpack
go = Path(sys.argv[3])
Path(sys.argv[4]).touch()
while not go.exists():
    time.sleep(0.001)
print(unpack(sys.argv[1], cache_dir=sys.argv[2]))
"""


def _members(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return {m.name for m in tar.getmembers()}


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")} - {"."}


def _with_manifest(tarball: Path, out: Path, **python) -> Path:
    """A copy of ``tarball`` whose manifest's python entries are replaced by ``python``."""
    with tarfile.open(tarball) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name == MANIFEST:
                manifest = json.loads(data.read())
                manifest["python"].update(python)
                raw = json.dumps(manifest).encode()
                member.size, data = len(raw), io.BytesIO(raw)
            dst.addfile(member, data)
    return out


def test_two_processes_unpacking_at_once_leave_one_intact_copy(test_env, tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UNPACK_WHEN_TOLD, str(test_env), str(cache), str(go), str(r)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready):  # both interpreters started and polling
        assert time.monotonic() < deadline, "the unpacking processes did not start"
        assert all(proc.poll() is None for proc in procs), [p.stderr.read() for p in procs]
        time.sleep(0.01)
    go.touch()
    outs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outs]
    first, second = (Path(out.strip()) for out, _ in outs)
    assert first == second
    assert sorted(
        p.name for p in (cache / "envs").iterdir() if p.is_dir() and p.name != ".digests"
    ) == [first.name]
    assert _files(first) >= _members(test_env)
    done = run(test_env, ["python", "-c", "import inflection"], cache_dir=cache)
    assert done.returncode == 0


def test_another_python_version_is_refused_before_unpacking(test_env, tmp_path):
    other = _with_manifest(test_env, tmp_path / "py310.tar.gz", version="3.10.14")
    cache = tmp_path / "cache"
    here = platform.python_version()
    with pytest.raises(
        EnvError, match=rf"py310\.tar\.gz cannot run .*Python 3\.10\.14 wanted, .* is {here}"
    ):
        unpack(other, cache_dir=cache)
    assert [p.name for p in (cache / "envs").iterdir() if not p.name.startswith(".")] == []
    done = colframe_cli("env", "run", "--cache-dir", str(cache), str(other), "--", "true")
    assert done.returncode == 1
    assert "Python 3.10.14 wanted" in done.stderr
    assert done.stderr.count("\n") == 1  # one clear line


def test_missing_interpreter_is_refused(test_env, tmp_path):
    other = _with_manifest(
        test_env, tmp_path / "elsewhere.tar.gz", interpreter="/opt/nowhere/bin/python3.11"
    )
    with pytest.raises(
        EnvError, match=r"needs the Python .* /opt/nowhere/bin/python3\.11, which does not exist"
    ):
        unpack(other, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_corrupt_tarball_is_refused_and_nothing_is_left(test_env, tmp_path, damage):
    data = bytearray(test_env.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(EnvError, match=r"bad\.tar\.gz (is corrupt|is not a readable tarball)"):
        unpack(bad, cache_dir=cache)
    left = [p.name for p in (cache / "envs").iterdir() if p.is_dir() and p.name != ".digests"]
    assert left == []  # no half-unpacked directory, no temporary one
    assert unpack(test_env, cache_dir=cache).is_dir()  # the good one still unpacks


def test_second_start_reuses_the_unpacked_copy(test_env, tmp_path):
    cache = tmp_path / "cache"
    first = unpack(test_env, cache_dir=cache)
    marker = first / "marker"
    marker.touch()
    assert unpack(test_env, cache_dir=cache) == first
    assert marker.exists()  # not unpacked again
