"""Unpack an environment tarball once per machine (cache keyed by its hash) and run commands in it."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import EnvError
from ._manifest import MANIFEST, check_machine, read_manifest
from ._pack import default_cache

__all__ = ["python_path", "run", "tarball_digest", "tarball_manifest", "unpack"]

_CORRUPT = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def unpack(tarball: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The unpacked directory of ``tarball``, unpacking it first if no process here has.

    Safe when several processes start at once: one unpacks under a lock into a temporary
    directory that is renamed into place only once complete. Raises EnvError when the tarball
    is corrupt or was built for another Python, platform or interpreter path.
    """
    tarball = Path(tarball).resolve()
    if not tarball.is_file():
        msg = f"environment {tarball} does not exist"
        raise EnvError(msg)
    root = (Path(cache_dir) if cache_dir is not None else default_cache()) / "envs"
    root.mkdir(parents=True, exist_ok=True)
    digest = _digest(tarball, root)
    target = root / digest[:32]
    if not (target / MANIFEST).exists():
        check_machine(tarball_manifest(tarball), tarball.name)  # fail before unpacking
        with _locked(root / f"{target.name}.lock"):
            if not (target / MANIFEST).exists():
                _extract(tarball, target)
    check_machine(read_manifest(target), tarball.name)
    return target


def python_path(tarball: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The interpreter of the unpacked environment (``…/bin/python``), for executors' workers."""
    return unpack(tarball, cache_dir=cache_dir) / "bin" / "python"


def run(
    tarball: str | Path, cmd: Sequence[str], *, cache_dir: str | Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    """Run ``cmd`` inside the environment (through its ``bin/run_in_env``); kwargs go to subprocess.run."""
    env = unpack(tarball, cache_dir=cache_dir)
    return subprocess.run([str(env / "bin" / "run_in_env"), *cmd], **kwargs)


def tarball_digest(tarball: str | Path, *, cache_dir: str | Path | None = None) -> str:
    """sha256 of the tarball's bytes (remembered in the cache by path, size and mtime)."""
    root = (Path(cache_dir) if cache_dir is not None else default_cache()) / "envs"
    root.mkdir(parents=True, exist_ok=True)
    return _digest(Path(tarball).resolve(), root)


def tarball_manifest(tarball: Path) -> dict[str, Any]:
    """The manifest a colframe tarball carries as its first member, read without unpacking."""
    try:
        with tarfile.open(tarball, "r|gz") as tar:
            first = tar.next()
            data = tar.extractfile(first) if first is not None and first.name == MANIFEST else None
            if data is not None:
                return json.loads(data.read())
    except _CORRUPT as err:
        msg = f"environment {tarball} is not a readable tarball ({err}): pack it again"
        raise EnvError(msg) from err
    msg = f"{tarball} is not a colframe environment (no {MANIFEST} first): pack it with colframe env pack"
    raise EnvError(msg)


def _extract(tarball: Path, target: Path) -> None:
    """Unpack into a temporary sibling, check it, then rename it to ``target`` (caller holds the lock)."""
    for stale in target.parent.glob(f".tmp-{target.name}-*"):  # left by a killed process
        shutil.rmtree(stale, ignore_errors=True)
    partial = target.parent / f".tmp-{target.name}-{os.getpid()}"
    try:
        from isal import igzip  # inflates several times faster than zlib

        with igzip.open(tarball, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            # "tar", not "data": the venv's bin/python is an absolute link to the base interpreter
            tar.extractall(partial, filter="tar")
            # tar stops at its end marker; reading gzip to its end checks the CRC of all bytes
            while raw.read(1 << 20):
                pass
        done = subprocess.run([str(partial / "bin" / "run_in_env")], capture_output=True, text=True)
    except _CORRUPT as err:
        shutil.rmtree(partial, ignore_errors=True)
        msg = f"environment {tarball} is corrupt ({type(err).__name__}: {err}); nothing was unpacked: pack it again"
        raise EnvError(msg) from err
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        msg = f"environment {tarball}: bin/run_in_env fails after unpacking: {done.stderr.strip()}"
        raise EnvError(msg)
    partial.rename(target)


def _digest(tarball: Path, root: Path) -> str:
    """sha256 of the tarball's bytes, remembered by path, size, mtime and inode (hashed once)."""
    stat = tarball.stat()
    memo_key = f"{tarball}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}".encode()
    memo = root / ".digests" / hashlib.sha256(memo_key).hexdigest()
    with contextlib.suppress(OSError):
        return memo.read_text().strip()
    digest = hashlib.sha256()
    with tarball.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    memo.parent.mkdir(exist_ok=True)
    partial = memo.with_name(f".{memo.name}.{os.getpid()}")
    partial.write_text(digest.hexdigest())
    partial.replace(memo)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
