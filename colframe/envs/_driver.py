"""What the driver's environment holds: installed versions, editable (local) packages, their sources."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = [
    "current_spec",
    "installed_versions",
    "local_source",
    "ndcctools_dir",
    "normalize",
    "source_hash",
]

# packaging tools of the driver that an environment never needs from it
_TOOLS = {"pip", "uv"}
_SKIP_DIRS = {
    ".git",
    "__pycache__",
    "build",
    "dist",
    ".venv",
    ".tox",
    ".pytest_cache",
    "node_modules",
}


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return "-".join(
        part for part in name.lower().replace("_", "-").replace(".", "-").split("-") if part
    )


def installed_versions() -> dict[str, str]:
    """{normalized name: version} of every distribution the running interpreter sees."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist.version)
    return found


def local_source(name: str) -> Path | None:
    """The source directory of ``name`` when it is installed editable (or from a local directory)."""
    # a source checkout on sys.path (its *.egg-info) may shadow the installed dist-info
    raws = [dist.read_text("direct_url.json") for dist in metadata.distributions(name=name)]
    raw = next((raw for raw in raws if raw), None)
    if not raw:
        return None
    info: dict[str, Any] = json.loads(raw)
    url = urlparse(info.get("url", ""))
    if url.scheme != "file" or "dir_info" not in info:
        return None
    path = Path(unquote(url.path))
    if not path.is_dir():
        return None
    # another checkout of the same project imported first (a work tree on sys.path): pack
    # the code this process runs, not the directory the editable install points to
    imported = _imported_root(name)
    return imported if imported is not None else path


def _imported_root(name: str) -> Path | None:
    """The project directory (with pyproject.toml) the module ``name`` is imported from."""
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or spec.origin is None:
        return None
    for parent in Path(spec.origin).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return None if "site-packages" in parent.parts else parent
    return None


def source_hash(directory: Path) -> str:
    """sha256 over the relative paths and contents of a source tree's files.

    Files come from ``git ls-files`` (tracked and untracked, not ignored) in a git
    work tree, else from a walk that skips build and cache directories.
    """
    files = _git_files(directory)
    if files is None:
        files = _walk_files(directory)
    digest = hashlib.sha256()
    for rel in files:
        path = directory / rel
        if path.is_file():  # a file git lists may have been deleted since
            digest.update(str(rel).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def ndcctools_dir() -> Path | None:
    """The driver's installed ``ndcctools`` package directory (cctools' Python bindings)."""
    spec = importlib.util.find_spec("ndcctools")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def current_spec() -> dict[str, Any]:
    """A poncho spec of the running environment: every distribution pinned exactly.

    Editable packages are listed by name; ``pack`` builds them as wheels from their sources.
    """
    pins = []
    for name, version in sorted(installed_versions().items()):
        if name in _TOOLS:
            continue
        pins.append(name if local_source(name) else f"{name}=={version}")
    python = ".".join(map(str, sys.version_info[:3]))
    dependencies: list[Any] = [f"python={python}"]
    if ndcctools_dir() is not None:
        dependencies.append("ndcctools")
    dependencies.append({"pip": pins})
    return {"conda": {"channels": [], "dependencies": dependencies}}


def _walk_files(directory: Path) -> list[str]:
    files: list[str] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")]
        files.extend(str(Path(root, name).relative_to(directory)) for name in names)
    return sorted(files)


def _git_files(directory: Path) -> list[str] | None:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=directory,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted(set(out.decode().split("\0")) - {""})
