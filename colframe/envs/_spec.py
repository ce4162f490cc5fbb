"""Read a poncho spec and turn its conda entries into PyPI requirements (no conda needed)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvError

__all__ = ["CONDA_TO_PYPI", "Spec", "load_spec", "spec_hash"]

# conda-forge names of Python packages whose PyPI distribution installs the same thing;
# the value is the PyPI name. Anything else (ROOT, xrootd, compilers...) is refused.
_SAME = """
    awkward awkward-cpp boost-histogram cloudpickle coffea conda-pack correctionlib dask
    dask-awkward dask-histogram dask-jobqueue distributed fsspec fsspec-xrootd hist
    hypothesis ipython jupyterlab llvmlite lz4 matplotlib mplhep numba numexpr numpy
    packaging pandas particle psutil pyarrow pytest pyyaml requests rich scikit-learn
    scipy setuptools six tabulate threadpoolctl toolz tqdm uhi uproot uv vector wheel
    xxhash zstandard cramjam
"""
CONDA_TO_PYPI: dict[str, str] = {name: name for name in _SAME.split()} | {
    "matplotlib-base": "matplotlib",
    "pytorch": "torch",
    "py-xgboost": "xgboost",
    "python-isal": "isal",
    "python-lz4": "lz4",
    "python-xxhash": "xxhash",
    "python-dateutil": "python-dateutil",
    "isal": "isal",
}
# conda entries that need nothing: uv installs the environment, pip is not needed on workers
_IGNORED = {"pip"}
_MATCH = re.compile(r"^\s*([A-Za-z0-9_.:\-]+?)\s*([<>=!~ ].*)?$")


@dataclass
class Spec:
    """A poncho spec reduced to what colframe installs."""

    pip: list[str] = field(default_factory=list)
    python: str | None = None  # the conda spec's python version constraint, e.g. "3.11"
    ndcctools: bool = False  # copied from the driver's cctools build
    raw: dict[str, Any] = field(default_factory=dict)


def load_spec(spec: str | Path | dict[str, Any]) -> Spec:
    """Read a poncho spec (a path to JSON or a dict), both of poncho's forms.

    Raises EnvError naming the conda packages that have no PyPI equivalent.
    """
    where = "spec"
    if isinstance(spec, dict):
        raw = spec
    else:
        where = str(spec)
        try:
            raw = json.loads(Path(spec).read_text())
        except (OSError, ValueError) as err:
            msg = f"cannot read the environment spec {where}: {err}"
            raise EnvError(msg) from err
    conda = raw.get("conda", {})
    if not isinstance(conda, dict) or not isinstance(raw.get("pip", []), list):
        msg = f"{where}: 'conda' must be an object and 'pip' a list (poncho's spec format)"
        raise EnvError(msg)
    entries = list(conda.get("dependencies", [])) + list(conda.get("packages", []))
    result = Spec(pip=[str(p) for p in raw.get("pip", [])], raw=raw)
    refused = []
    for entry in entries:
        if isinstance(entry, dict):
            result.pip.extend(str(p) for p in entry.get("pip", []))
            continue
        name, constraint = _parse_match(str(entry))
        if name == "python":
            result.python = constraint or None
        elif name == "ndcctools":
            result.ndcctools = True
        elif name in _IGNORED:
            continue
        elif name in CONDA_TO_PYPI:
            result.pip.append(CONDA_TO_PYPI[name] + _pep440(constraint))
        else:
            refused.append(name)
    if refused:
        msg = (
            f"{where}: conda packages with no PyPI equivalent known to colframe: "
            f"{', '.join(refused)}; install them on the workers' machines, or list their "
            f"PyPI names under 'pip'"
        )
        raise EnvError(msg)
    _check_python(result.python, where)
    return result


def spec_hash(spec: Spec, *extra: str) -> str:
    """Content hash of a spec (sorted keys) and extra strings, hex sha256."""
    digest = hashlib.sha256(json.dumps(spec.raw, sort_keys=True).encode())
    for item in extra:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()


def _parse_match(entry: str) -> tuple[str, str]:
    """Split a conda match spec (``numpy``, ``numpy=1.24``, ``numpy>=1.2``, ``numpy 1.24``)."""
    match = _MATCH.match(entry)
    if not match:
        msg = f"cannot read the conda entry {entry!r} of the environment spec"
        raise EnvError(msg)
    name, rest = match.group(1).lower(), (match.group(2) or "").strip()
    if "::" in name:  # channel::name
        name = name.split("::")[-1]
    return name, rest


def _pep440(constraint: str) -> str:
    """conda's ``=1.24``/``1.24`` (prefix match) → ``==1.24.*``; operators pass through."""
    constraint = constraint.strip()
    if not constraint:
        return ""
    if constraint.startswith("=="):
        return "==" + constraint[2:].split("=")[0]
    if constraint.startswith("="):  # "=1.24" or "=1.24=build": drop the build string
        constraint = constraint[1:].split("=")[0]
    if constraint[0] in "<>!=~":
        return constraint
    return f"=={constraint.rstrip('.*')}.*"


def _check_python(constraint: str | None, where: str) -> None:
    if not constraint:
        return
    version = constraint.lstrip("=").split("=")[0].rstrip(".*")
    here = ".".join(map(str, sys.version_info[:3]))
    if constraint[0] in "<>!~," or not version:
        return  # ranges are checked by the installer's resolver of requires-python
    if here != version and not here.startswith(version + "."):
        msg = (
            f"{where} asks for python={version} but colframe packs with this interpreter, "
            f"Python {here}: run `colframe env pack` from a Python {version} environment"
        )
        raise EnvError(msg)
