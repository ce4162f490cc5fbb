"""What DaskExecutor runs inside dask workers: shipped functions and kept outputs.

This module is imported by dask worker processes; it must stay light and free
of driver state.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from dask.sizeof import sizeof
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from .. import serialize
from ..accumulate import nbytes
from ..report import ChunkFailure
from ._result import Err, Result
from ._task import execute

__all__ = ["Kept", "ShippedFunction", "describe_arg", "run_task"]


class ShippedFunction(WorkerPlugin):
    """A work function delivered to every worker once, as a worker plugin.

    The scheduler keeps registered plugins and installs them on workers that
    join later (adaptive scaling, a nanny restarting a killed worker), and tasks
    look the function up by name, so no task depends on a data key and the
    scheduler stays free to place every task on any worker.
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload  # lz4 cloudpickle: unpickled on first use, once per worker
        self._function = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["payload"])

    def function(self):
        with self._lock:  # several worker threads may start at once; unpickle once
            if self._function is None:
                self._function = serialize.loads(self.payload)
            return self._function


class Kept:
    """A partial output kept in a worker's memory; merge tasks receive these as refs.

    ``nbytes`` is measured where the output was made and is what dask's memory
    accounting sees (``sizeof``). On the wire (worker to worker, to the driver,
    spilled to disk) it travels in colframe's format: lz4 pickle, sparse histograms.
    """

    __slots__ = ("nbytes", "value")

    def __init__(self, value: Any, size: int) -> None:
        self.value = value
        self.nbytes = size

    def load(self) -> Any:
        # the stored object itself, not a copy: merges add into it in place (and take
        # over the arrays of smaller inputs), which is why a merge that failed
        # half-way is never re-run (see run_task)
        return self.value

    def discard(self) -> None:
        """Nothing to do: the driver releases the dask future that holds this."""

    def __reduce__(self):
        return _restore, (serialize.dumps(self.value), self.nbytes)


def _restore(payload: bytes, size: int) -> Kept:
    return Kept(serialize.loads(payload), size)


@sizeof.register(Kept)
def _sizeof_kept(kept: Kept) -> int:
    return kept.nbytes


class _KeepStore:
    def put(self, value: Any) -> Kept:
        return Kept(value, nbytes(value))


_STORE = _KeepStore()


def run_task(name: str, arg: Any, kind: str, keep: bool) -> Kept | Result:
    """Task body: call the shipped function ``name`` on ``arg``; never raise.

    Returns the :class:`Kept` output itself when ``keep`` (so it stays on this
    worker as the task's value), otherwise the :class:`Result`; failures are
    always an ``Err`` value, so dask never logs them as crashed tasks nor retries
    them behind colframe's back.
    """
    plugin = get_worker().plugins.get(name)
    if plugin is None:
        msg = f"function {name!r} is not installed on this worker; was the executor stopped?"
        failure = ChunkFailure.from_exception(LookupError(msg), describe_arg(arg), kind, True)
        return Err(failure)
    try:
        function = plugin.function()
    except Exception as exc:  # the processor's code cannot be imported here: no retry helps
        return Err(ChunkFailure.from_exception(exc, describe_arg(arg), kind, retryable=False))
    result = execute(function, arg, kind, _STORE if keep else None)
    if isinstance(result, Err):
        if _has_kept(arg):
            # a merge adds its inputs into each other in place: running it again on
            # half-merged inputs would double count, so its failure is final
            return Err(dataclasses.replace(result.failure, retryable=False))
        return result
    return result.value if keep else result


def _has_kept(arg: Any) -> bool:
    return isinstance(arg, list) and any(isinstance(item, Kept) for item in arg)


def describe_arg(arg: Any) -> Any:
    """What a failure is about: the work item itself, or the size of a merge."""
    if isinstance(arg, list):  # a merge: never ship its inputs back inside a report
        return f"merge of {len(arg)} partial outputs"
    return arg
