"""FuturesExecutor: a pool of local worker processes.

- The function (the processor with its work wrapper) is written once to a spool
  file and read once per worker process, not shipped with every chunk.
- Outputs stay in spool files; merge tasks run in the workers and only the
  final result is read by the driver.
- A worker that dies (segfault, OOM kill) breaks the pool: the pool is rebuilt
  and the tasks it held are resubmitted, counted as retries.
- Workers exit when the driver dies (even by SIGKILL), instead of lingering
  as orphans blocked on a queue nobody writes to.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .. import serialize
from ..errors import ExecutorError, WorkerDiedError
from ..results import ChunkFailure
from ._base import Executor, Task, worker_count
from ..results import Err, Result
from ._store import FileStore
from ._task import execute_shipped

__all__ = ["FuturesExecutor"]


def _noop() -> int:
    return os.getpid()


def _exit_with_parent() -> None:
    """Worker initializer: exit as soon as the process that started this worker is gone.

    That is the driver (fork, spawn) or the forkserver, which exits with the driver.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="colframe-driver-watch", daemon=True).start()


class FuturesExecutor(Executor):
    """Run tasks in ``workers`` local processes.

    Args:
        workers: number of worker processes (default: the number of CPUs).
        retries: extra attempts for a failed task, including after a worker died.
        spool_dir: where partial outputs are written (default: the system temp dir).
        mp_context: multiprocessing start method; "fork" (default on Linux) starts
            workers instantly and needs no ``if __name__ == "__main__"`` guard.
    """

    name = "futures"
    merges_remotely = True

    def __init__(
        self,
        workers: int | None = None,
        retries: int = 2,
        spool_dir: str | os.PathLike | None = None,
        mp_context: str | None = None,
    ) -> None:
        super().__init__(retries=retries)
        workers = worker_count(workers)
        self.workers = workers
        self.spool_dir = spool_dir
        default = "fork" if sys.platform.startswith("linux") else "spawn"
        self.mp_context = mp_context or default
        self._pool: ProcessPoolExecutor | None = None
        self._spool: Path | None = None
        self._shipped: dict[int, tuple[object, str]] = {}
        self.worker_deaths = 0

    # lifetime -------------------------------------------------------------
    def start(self) -> None:
        self._spool = Path(tempfile.mkdtemp(prefix="colframe-", dir=self.spool_dir))
        self._new_pool()

    def _new_pool(self) -> None:
        context = multiprocessing.get_context(self.mp_context)
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_exit_with_parent
        )
        # start every worker now, before progress bars and timers begin
        for future in [self._pool.submit(_noop) for _ in range(self.workers)]:
            future.result()

    def stop(self, abort: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            if abort:
                # a stopped run must not leave workers computing chunks nobody will read
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
        self._shipped.clear()

    @property
    def slots(self) -> int:
        return self.workers

    # tasks ----------------------------------------------------------------
    def _function_path(self, function) -> str:
        entry = self._shipped.get(id(function))
        if entry is None:
            path = str(self._spool / f"function-{len(self._shipped)}.pkl.lz4")
            serialize.dump(function, path)
            entry = self._shipped[id(function)] = (function, path)
        return entry[1]

    def _launch(self, task: Task) -> None:
        if self._pool is None:
            msg = "FuturesExecutor is not started: use it inside `with executor:` or a Runner"
            raise ExecutorError(msg)
        store = FileStore(str(self._spool)) if task.keep else None
        path = self._function_path(task.function)
        future = self._pool.submit(execute_shipped, path, task.arg, task.kind, store)
        task.handle = (future, self._pool)

    def _collect(self, tasks: list[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        by_future = {task.handle[0]: task for task in tasks}
        done, _ = wait(by_future, timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            task = by_future[future]
            try:
                finished.append((task, future.result()))
            except BrokenProcessPool as exc:
                self._replace_broken_pool(task.handle[1])
                error = WorkerDiedError(
                    f"a worker process died while running this task ({exc}); likely a crash "
                    f"(segfault) or the kernel's out-of-memory killer"
                )
                failure = ChunkFailure.from_exception(error, task.arg, task.kind, retryable=True)
                finished.append((task, Err(failure)))
        return finished

    def _replace_broken_pool(self, broken: ProcessPoolExecutor) -> None:
        if broken is not self._pool:
            return  # already replaced while handling another task of the same pool
        self.worker_deaths += 1
        broken.shutdown(wait=False, cancel_futures=True)
        self._new_pool()

    def __repr__(self) -> str:
        return f"FuturesExecutor(workers={self.workers}, retries={self.retries})"
