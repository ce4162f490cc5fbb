"""Software environments for workers: poncho-compatible tarballs built from pip, without conda.

``pack`` builds one from a poncho spec (or the running environment), ``run``/``unpack``/
``python_path`` use one on a worker (unpacked once, checked against the machine), ``probe`` and
``compare`` find workers that cannot import what the tasks need. See docs/environments.md.
"""

from __future__ import annotations

from ._manifest import MANIFEST, read_manifest
from ._pack import default_cache, pack
from ._probe import Problem, compare, format_problems, probe
from ._spec import CONDA_TO_PYPI, load_spec
from ._unpack import python_path, run, tarball_digest, tarball_manifest, unpack

__all__ = [
    "CONDA_TO_PYPI",
    "MANIFEST",
    "Problem",
    "compare",
    "default_cache",
    "format_problems",
    "load_spec",
    "pack",
    "probe",
    "python_path",
    "read_manifest",
    "run",
    "tarball_digest",
    "tarball_manifest",
    "unpack",
]


def __dir__() -> list[str]:
    return __all__
