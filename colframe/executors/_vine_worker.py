"""The parts of the TaskVine executor that run on workers (imported only there).

Every task, a serverless ``FunctionCall`` or a ``PythonTask``, runs :func:`run`
in its sandbox, where TaskVine has placed:

- ``function.pkl``: the work function, shipped once per worker (a cached file);
- ``in.0``, ``in.1``, ...: for a merge, the partial outputs it adds, which are
  TaskVine temp files produced on this or another worker.

With ``keep`` the output is written to ``partial.pkl`` in the sandbox, which
TaskVine keeps on the worker as a temp file; only a small :class:`Stored`
marker (or the failure record) travels back to the manager.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import serialize
from ..results import Ok, Result
from ._store import FileRef
from ._task import execute_loaded

__all__ = ["FUNCTION_FILE", "OUTPUT_FILE", "Stored", "input_name", "run", "warm_up"]

FUNCTION_FILE = "function.pkl"
OUTPUT_FILE = "partial.pkl"


def input_name(index: int) -> str:
    """The sandbox name of a merge task's ``index``-th input."""
    return f"in.{index}"


@dataclass(frozen=True)
class Stored:
    """A task output left on the worker as ``partial.pkl``; ``nbytes`` on disk."""

    nbytes: int


@dataclass(frozen=True)
class _SandboxStore:
    """Writes the output to ``partial.pkl`` in the task's sandbox."""

    def put(self, value: Any) -> Stored:
        return Stored(serialize.dump(value, OUTPUT_FILE, durable=False))


def _load_function():
    # the sandbox's function.pkl is a link to the worker's cached copy (hard or symbolic):
    # keyed by that copy's inode, a library that runs calls in its own process (direct
    # mode) loads each function once and keeps its open files between chunks, as futures
    # workers do
    stat = Path(FUNCTION_FILE).stat()
    return _load_cached((stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _load_cached(key: tuple[int, int, int, int]):
    return serialize.load(FUNCTION_FILE)


def run(kind: str, keep: bool, arg: bytes | None, inputs: int) -> Result:
    """Run the shipped function on the pickled ``arg`` (for a merge, on the ``inputs`` files).

    Never raises: failures come back as ``Err`` with their ChunkFailure.
    """
    if kind == "fetch":  # bring a kept output back to the manager, as it is
        return Ok(Path(input_name(0)).read_bytes())
    if kind == "merge":
        value: Any = [FileRef(str(Path(input_name(i)).resolve()), 0) for i in range(inputs)]
    else:
        value = None if arg is None else serialize.loads(arg)
    result = execute_loaded(_load_function, value, kind, _SandboxStore() if keep else None)
    if keep and not isinstance(result, Ok):
        # an empty file where the output was expected: Work Queue would otherwise report the
        # task as "output missing" and the failure record above would never reach the driver
        Path(OUTPUT_FILE).touch()
    return result


def warm_up() -> dict[str, Any]:
    """Library start-up: import what chunks need, once, before calls are forked from it."""
    # In fork mode every call runs in a child of this process: what is imported here is
    # imported once per worker, what a call imports is imported again by every call.
    # coffea.processor (ProcessorABC) and hist are what processors import.
    import awkward  # noqa: F401
    import coffea.nanoevents
    import coffea.processor  # noqa: F401
    import hist  # noqa: F401
    import numpy  # noqa: F401
    import uproot  # noqa: F401

    from .. import _work  # noqa: F401
    return {}
