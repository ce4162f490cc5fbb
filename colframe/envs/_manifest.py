"""The manifest an environment carries (``colframe-env.json``) and its check against a machine."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import EnvError

__all__ = ["MANIFEST", "build_manifest", "check_machine", "read_manifest"]

MANIFEST = "colframe-env.json"
FORMAT = 1
# prints what check_machine compares, run with the manifest's interpreter
_ASK = (
    "import json, os, sys, sysconfig; print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3],"
    " 'platform': sysconfig.get_platform(), 'glibc': os.confstr('CS_GNU_LIBC_VERSION') or ''}))"
)


def machine() -> dict[str, str]:
    """This interpreter's Python version, platform and C library (what an environment needs)."""
    return {
        "version": platform.python_version(),
        "platform": sysconfig.get_platform(),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "",
    }


def build_manifest(
    env: Path, interpreter: Path, spec: dict[str, Any], key: str, bare: bool
) -> dict:
    """The manifest of a freshly built environment ``env`` whose base interpreter is this one's."""
    site = next(env.glob("lib/python*/site-packages"))
    packages = {
        dist.metadata["Name"]: dist.version
        for dist in metadata.distributions(path=[str(site)])
        if dist.metadata["Name"]
    }
    here = machine()
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "python": {
            "version": here["version"],
            "implementation": platform.python_implementation(),
            "interpreter": str(interpreter),
        },
        "platform": {"tag": here["platform"], "glibc": here["glibc"]},
        "spec_hash": key,
        "bare": bare,
        "spec": spec,
        "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
    }


def read_manifest(env: Path) -> dict[str, Any]:
    """Read ``env/colframe-env.json``; EnvError if missing or unreadable."""
    try:
        return json.loads((env / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        msg = f"{env} is not a colframe environment ({MANIFEST} unreadable: {err})"
        raise EnvError(msg) from err


def check_machine(manifest: dict[str, Any], name: str) -> None:
    """Raise EnvError saying what differs when this machine cannot run environment ``name``."""
    want = manifest["python"]
    interpreter = Path(want["interpreter"])
    fix = "pack the environment on a machine like the workers (same Python at the same path)"
    if not interpreter.exists():
        msg = (
            f"{name} needs the Python {want['version']} interpreter {interpreter}, which does not "
            f"exist on {socket.gethostname()}: install it there, or {fix}"
        )
        raise EnvError(msg)
    base = getattr(sys, "_base_executable", sys.executable)  # what this process's venv links to
    here = machine() if _same_file(interpreter, base) else _ask(interpreter, name)
    problems = []
    if here["version"].split(".")[:2] != want["version"].split(".")[:2]:
        problems.append(f"Python {want['version']} wanted, {interpreter} is {here['version']}")
    if here["platform"] != manifest["platform"]["tag"]:
        problems.append(
            f"platform {manifest['platform']['tag']} wanted, this is {here['platform']}"
        )
    if _glibc(here["glibc"]) < _glibc(manifest["platform"]["glibc"]):
        problems.append(
            f"{manifest['platform']['glibc']} or newer wanted, this has {here['glibc']}"
        )
    if problems:
        msg = f"{name} cannot run on {socket.gethostname()}: {'; '.join(problems)}; {fix}"
        raise EnvError(msg)


def _ask(interpreter: Path, name: str) -> dict[str, str]:
    try:
        out = subprocess.run(
            [str(interpreter), "-I", "-c", _ASK], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out)
    except (OSError, ValueError, subprocess.CalledProcessError) as err:
        msg = f"{name}: its interpreter {interpreter} does not run on {socket.gethostname()}: {err}"
        raise EnvError(msg) from err


def _same_file(a: Path, b: str) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _glibc(text: str) -> tuple[int, ...]:
    """``glibc 2.36`` → (2, 36); empty (not glibc) → ()."""
    version = text.rpartition(" ")[2]
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()
