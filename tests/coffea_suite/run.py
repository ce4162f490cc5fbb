"""Run coffea's own test files against colframe.processor: ``python tests/coffea_suite/run.py``.

Fetches the pinned coffea sdist (see fetch.py), then runs pytest on the listed
test files from the extracted directory (they open ``tests/samples/...``
relative to it), with plugin.py patching coffea.processor and the tests of
coffea internals in deselected.txt left out. Extra arguments go to pytest;
``--full`` runs the whole parameter matrix (see QUICK).
Exits with pytest's status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fetch import TEST_FILES, extracted  # noqa: E402


def deselected() -> list[str]:
    lines = (HERE / "deselected.txt").read_text().splitlines()
    return [line.split(" # ")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


# `make test` runs every test but a part of test_nanoevents_analysis' 288-case matrix, in
# which every value of every parameter still appears: compression and maxchunks=1000 change
# nothing on 40-event files, and (processor type, mode, executor) come in two pairings.
# A case that runs to the end costs 1-3 s on TTree files (uproot reading the 1,499-branch
# TTree metadata of each file) and 4-8 s on RNTuple (uproot building the RNTuple form,
# quadratic in the number of fields); coffea's own Runner spends the same (measured, see
# docs/migrating-from-coffea.md). --full runs the whole matrix (about 18 minutes on 2 cores).
QUICK = (
    "not test_nanoevents_analysis or (None-None and "
    "(ProcessorABC-eager-IterativeExecutor or Callable-virtual-FuturesExecutor))"
)


def main(args: list[str]) -> int:
    args = [a for a in args if a != "--full"] if "--full" in args else ["-k", QUICK, *args]
    root = extracted()
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)  # the outer run's options (junitxml) are not ours
    repo = str(HERE.parents[1])
    # workers (vine_worker) and libraries run the Python and tools of this environment
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), repo, env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="coffea-suite-") as tmp:
        env["COLFRAME_CACHE_DIR"] = tmp  # a fresh metadata cache: no state between runs
        command = [
            sys.executable, "-m", "pytest",
            "-c", str(HERE / "pytest.ini"), "--rootdir", str(root),
            "-p", "plugin", "-p", "no:cacheprovider",
            *(f"--deselect={node}" for node in deselected()),
            *(name for name in TEST_FILES if name != "tests/conftest.py"),
            *args,
        ]  # fmt: skip
        return subprocess.run(command, cwd=root, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
