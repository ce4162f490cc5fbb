"""What DaskExecutor runs inside dask workers: shipped functions and kept outputs.

This module is imported by dask worker processes; it must stay light and free
of driver state.
"""

from __future__ import annotations

import threading
from typing import Any

from dask.sizeof import sizeof
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from .. import serialize
from ..results import ChunkFailure, Err, Ok, Result
from ._store import MemoryStore
from ._task import describe_arg, execute_loaded

__all__ = ["Kept", "ShippedFunction", "run_task"]


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
        self.payload = state["payload"]
        self._function = None
        self._lock = threading.Lock()

    def function(self):
        with self._lock:  # several worker threads may start at once; unpickle once
            if self._function is None:
                self._function = serialize.loads(self.payload)
            return self._function

    def teardown(self, worker) -> None:
        """Plugin removed (end of the run) or worker closing: close the function's open files."""
        with self._lock:
            function, self._function = self._function, None
        close = getattr(function, "close", None)
        if callable(close):
            close()


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
        # half-way is never re-run (see colframe.executors._task.execute)
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


_STORE = MemoryStore(Kept)


def run_task(name: str, arg: Any, kind: str, keep: bool, pickled: bool = False) -> Kept | Result:
    """Task body: call the shipped function ``name`` on ``arg``; never raise.

    ``pickled``: ``arg`` comes as the bytes of :func:`colframe.executors._ship.pickle_arg`.

    Returns the :class:`Kept` output itself when ``keep`` (so it stays on this
    worker as the task's value), otherwise the :class:`Result`; failures are
    always an ``Err`` value, so dask never logs them as crashed tasks nor retries
    them behind colframe's back.
    """
    if pickled:
        try:
            arg = serialize.loads(arg)
        except Exception as exc:  # noqa: BLE001  (e.g. a class this worker cannot import)
            item = "a task argument that cannot be unpickled on the worker"
            return Err(ChunkFailure.from_exception(exc, item, kind, retryable=False))
    plugin = get_worker().plugins.get(name)
    if not isinstance(plugin, ShippedFunction):
        msg = f"function {name!r} is not installed on this worker; was the executor stopped?"
        failure = ChunkFailure.from_exception(LookupError(msg), describe_arg(arg, kind), kind, True)
        return Err(failure)
    result = execute_loaded(plugin.function, arg, kind, _STORE if keep else None)
    if keep and kind == "process" and isinstance(result, Ok):
        # A kept output meets the pickler only when dask moves it (to a merge on another
        # worker, or to the driver), where a failure is no chunk's failure and stalls the
        # run; check it here, once per chunk, so it is reported like on other executors.
        # Merge outputs are made of checked chunk outputs.
        try:
            serialize.check_picklable(result.value.value)
        except serialize.UnpicklableError as exc:
            return Err(ChunkFailure.from_exception(exc, describe_arg(arg, kind), kind, False))
    return result.value if keep and isinstance(result, Ok) else result
