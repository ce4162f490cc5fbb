"""FuturesExecutor: a pool of local worker processes.

- The function (the processor with its work wrapper) is written once to a spool
  file and read once per worker process, not shipped with every chunk.
- Outputs stay in spool files; merge tasks run in the workers and only the
  final result is read by the driver. A spool directory that is full or
  unwritable is a :class:`~colframe.errors.SpoolError`, never a bad input file.
- A worker that dies (segfault, OOM kill, ``os._exit``) breaks the pool: the
  pool is rebuilt, the task that was running on the dead worker fails (and is
  retried), and the other tasks the pool held are resubmitted without counting
  an attempt. Each worker notes which task it is running in a file of the spool
  (``running/<pid>``), so the driver knows whom to blame.
- Workers exit when the driver dies (even by SIGKILL), instead of lingering
  as orphans blocked on a queue nobody writes to; SIGTERM to the driver removes
  the spool before the driver dies.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .. import serialize
from ..errors import ExecutorError, WorkerDiedError
from ..results import ChunkFailure, Err, Result
from ._base import Executor, Task, worker_count
from ._completions import Completions
from ._ship import ShippedFunctions, pickle_arg
from ._store import FileStore, spool_error
from ._task import describe_arg, execute_shipped

__all__ = ["FuturesExecutor"]


def _noop() -> int:
    return os.getpid()


def _worker_init() -> None:
    """Worker initializer: default SIGTERM, and exit as soon as the driver is gone.

    A forked worker inherits the driver's SIGTERM handler (colframe's or the
    user's); a worker must simply die when the pool terminates it. The parent
    is the driver (fork, spawn) or the forkserver, which exits with the driver.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="colframe-driver-watch", daemon=True).start()


_NOTE = 24  # bytes of a running note: a token, space-padded (rewritten in place, never truncated)


@functools.lru_cache(maxsize=4)
def _note(running: str, pid: int) -> int:
    # one file per worker, kept open: a pwrite per task costs microseconds, where
    # opening (and truncating) a file costs about half a millisecond on ext4
    return os.open(Path(running, str(pid)), os.O_RDWR | os.O_CREAT, 0o600)


def _run(path: str, payload: bytes, kind: str, store, running: str, token: str) -> Result:
    """Worker side of a task: note ``token`` as running on this process, run, clear the note."""
    note = _note(running, os.getpid())
    os.pwrite(note, token.encode().ljust(_NOTE), 0)
    try:
        arg = serialize.loads(payload)
    except Exception as exc:  # noqa: BLE001  (e.g. a class the worker cannot import)
        item = "a task argument that cannot be unpickled on the worker"
        return Err(ChunkFailure.from_exception(exc, item, kind, retryable=False))
    try:
        return execute_shipped(path, arg, kind, store)
    finally:
        os.pwrite(note, b" " * _NOTE, 0)  # idle: a death from now on is no task's fault


def _future_of(task: Task) -> Any:
    return task.handle[0]


def _how(pid: int, process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"pid {pid} killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"pid {pid} killed by signal {-code}"
    return f"pid {pid} exited with status {code}"


class FuturesExecutor(Executor):
    """Run tasks in ``workers`` local processes.

    Args:
        workers: number of worker processes (default: the number of CPUs).
        retries: extra attempts for a failed task, including after a worker died.
        spool_dir: where partial outputs are written (default: the system temp dir).
        mp_context: multiprocessing start method; "fork" (default on Linux) starts
            workers instantly and needs no ``if __name__ == "__main__"`` guard.
        environment: a tarball from ``colframe env pack``: it is unpacked once on this
            machine (cached) and the workers are spawned from its interpreter with only
            its packages on ``sys.path``, the local proof that it holds what the tasks need.
        preflight: before the first task of each function, probe the workers for the
            modules it needs and the driver's versions; stop with a table if any differ.
    """

    name = "futures"

    def __init__(
        self,
        workers: int | None = None,
        retries: int = 2,
        spool_dir: str | os.PathLike | None = None,
        mp_context: str | None = None,
        environment: str | os.PathLike | None = None,
        preflight: bool = False,
    ) -> None:
        super().__init__(retries=retries, preflight=preflight)
        workers = worker_count(workers)
        self.workers = workers
        self.spool_dir = spool_dir
        if environment is not None:
            if not Path(environment).is_file():
                msg = f"environment tarball {os.fspath(environment)!r} does not exist"
                raise ExecutorError(msg)
            if mp_context not in (None, "spawn"):
                msg = f"environment= spawns workers from the environment's interpreter: mp_context={mp_context!r} cannot"
                raise ExecutorError(msg)
            mp_context = "spawn"
        self.environment = environment
        default = "fork" if sys.platform.startswith("linux") else "spawn"
        self.mp_context = mp_context or default
        self._env_context: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self._completions = Completions(_future_of)
        self._spool: Path | None = None
        self._shipped: ShippedFunctions[str] = ShippedFunctions(self._write_function)
        self._tokens = itertools.count()
        # per pool generation: its worker processes, then the tokens blamed for its death
        self._generation = 0
        self._processes: dict[int, dict[int, Any]] = {}
        self._blamed: dict[int, dict[str, str]] = {}
        self._sigterm: Any = None
        self._driver = os.getpid()
        self.worker_deaths = 0

    # lifetime -------------------------------------------------------------
    def start(self) -> None:
        try:
            self._spool = Path(tempfile.mkdtemp(prefix="colframe-", dir=self.spool_dir))
            (self._spool / "running").mkdir()
        except OSError as exc:
            error = spool_error(str(self.spool_dir or tempfile.gettempdir()), exc)
            self._remove_spool()
        if self._spool is None:
            raise error  # outside the except: a local resource failure, not an OSError
        self._driver = os.getpid()
        self._completions = Completions(_future_of)
        self._catch_sigterm()
        try:
            self._new_pool()
        except BaseException:
            self.stop(abort=True)  # `with` calls no __exit__ when __enter__ fails
            raise

    def _context(self) -> Any:
        if self.environment is None:
            return multiprocessing.get_context(self.mp_context)
        if self._env_context is None:  # unpacked (once per machine) when the pool first starts
            from ._env_spawn import EnvContext, environment_python

            self._env_context = EnvContext(*environment_python(self.environment))
        return self._env_context

    def _new_pool(self) -> None:
        context = self._context()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        # start every worker now, before progress bars and timers begin
        try:
            for future in [self._pool.submit(_noop) for _ in range(self.workers)]:
                future.result()
        except BrokenProcessPool as exc:
            if self.environment is None:
                raise
            msg = (
                f"the worker processes exited as they started from environment "
                f"{os.fspath(self.environment)}: its Python cannot import colframe (pack it "
                f"without --bare, or with --from-current); their traceback is printed above"
            )
            raise ExecutorError(msg) from exc
        self._generation += 1
        self._processes[self._generation] = dict(self._pool._processes)

    def stop(self, abort: bool = False) -> None:
        pool, self._pool = self._pool, None
        try:
            if pool is not None:
                if abort:
                    # a stopped run must not leave workers computing chunks nobody will read
                    for process in list(getattr(pool, "_processes", {}).values()):
                        process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._remove_spool()
            self._release_sigterm()
            self._shipped.clear()
            self._processes.clear()
            self._blamed.clear()

    def _remove_spool(self) -> None:
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None

    # SIGTERM: SIGINT unwinds through `with executor:` (KeyboardInterrupt); SIGTERM's
    # default action ends the driver at once and would leave the spool behind
    def _catch_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; the default then stays
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            return  # SIGTERM is ignored, or set outside Python: nothing to do or to undo
        self._sigterm = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _release_sigterm(self) -> None:
        previous, self._sigterm = self._sigterm, None
        if previous is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        previous = self._sigterm
        if os.getpid() != self._driver or previous is None:
            return  # a worker forked before its initializer ran: the pool stops it
        if callable(previous):
            # your handler decides: if it raises (sys.exit), `with executor:` cleans up
            previous(signum, frame)
            return
        for processes in self._processes.values():
            for process in processes.values():
                process.terminate()  # no worker writes into the spool once it is gone
        self._remove_spool()
        self._release_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)  # the default action, now that nothing is left

    @property
    def slots(self) -> int:
        return self.workers

    def status(self) -> str:
        return f"{self.workers} worker{'s' * (self.workers != 1)}"

    # tasks ----------------------------------------------------------------
    def _spooled(self) -> Path:
        if self._spool is None:
            msg = "FuturesExecutor is not started: use it inside `with executor:` or a Runner"
            raise ExecutorError(msg)
        return self._spool

    def _write_function(self, function, index: int) -> str:
        path = str(self._spooled() / f"function-{index}.pkl.lz4")
        try:
            serialize.dump(function, path)
        except OSError as exc:
            error = spool_error(str(self._spooled()), exc)
        else:
            return path
        raise error

    def _launch(self, task: Task) -> None:
        if self._pool is None:
            msg = "FuturesExecutor is not started: use it inside `with executor:` or a Runner"
            raise ExecutorError(msg)
        if task.handle is None:
            task.handle = (None, 0, "", pickle_arg(task.arg))  # pickled once, for every attempt
        payload = task.handle[3]
        store = FileStore(str(self._spooled())) if task.keep else None
        token = str(next(self._tokens))
        running = str(self._spooled() / "running")
        path = self._shipped(task.function)
        future = self._pool.submit(_run, path, payload, task.kind, store, running, token)
        task.handle = (future, self._generation, token, payload)
        self._completions.watch(task, future)

    def _collect(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            finished = self._collect_once(tasks, left)
            if finished or (deadline is not None and time.monotonic() >= deadline):
                return finished

    def _collect_once(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        finished = []
        for task, future in self._completions.take(tasks, timeout):
            _, generation, token, _ = task.handle
            try:
                finished.append((task, future.result()))
            except BrokenProcessPool:
                death = self._autopsy(generation).get(token)
                if death is not None:
                    finished.append((task, Err(self._died(task, death))))
                else:
                    self._launch(task)  # an innocent bystander of another task's crash
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - the pool failed to run or return it
                failure = ChunkFailure.from_exception(exc, describe_arg(task.arg, task.kind), task.kind, True)
                finished.append((task, Err(failure)))
        return finished

    def _autopsy(self, generation: int) -> dict[str, str]:
        """The tasks that were running on the dead worker(s) of pool ``generation``.

        Returns ``{token: how the worker died}``.
        """
        blamed = self._blamed.get(generation)
        if blamed is not None:
            return blamed
        broken = self._pool
        if generation == self._generation and broken is not None:
            # the pool terminates its other workers (SIGTERM): wait, so every exit code is known
            broken.shutdown(wait=True, cancel_futures=True)
            self.worker_deaths += 1
            processes = self._processes.pop(generation, {})
            running = {pid: self._running(pid) for pid in processes}
            dead = [
                pid
                for pid, process in processes.items()
                if process.exitcode is not None and process.exitcode != -signal.SIGTERM
            ]
            blamed = {running[pid]: _how(pid, processes[pid]) for pid in dead if running[pid]}
            if not blamed:
                # no death but the pool's own SIGTERMs (the culprit was SIGTERMed too, or
                # a result could not be read): every task that was running takes an attempt
                blamed = {t: _how(pid, processes[pid]) for pid, t in running.items() if t}
            self._new_pool()
        self._blamed[generation] = blamed or {}
        return self._blamed[generation]

    def _running(self, pid: int) -> str:
        note = self._spooled() / "running" / str(pid)
        try:
            token = note.read_text().strip()
        except FileNotFoundError:
            return ""
        note.unlink()
        return token

    @staticmethod
    def _died(task: Task, death: str) -> ChunkFailure:
        error = WorkerDiedError(
            f"the worker process running this task died ({death}); likely a crash (segfault, "
            f"os._exit) or the kernel's out-of-memory killer (SIGKILL); run this chunk alone "
            f"with IterativeExecutor to see the real error"
        )
        return ChunkFailure.from_exception(error, describe_arg(task.arg, task.kind), task.kind, True)

    def __repr__(self) -> str:
        env = "" if self.environment is None else f", environment={os.fspath(self.environment)!r}"
        return f"FuturesExecutor(workers={self.workers}, retries={self.retries}{env})"
