"""DaskExecutor: run chunks on a dask.distributed cluster (local, remote or jobqueue).

- The work function reaches every worker once, as a worker plugin: no task
  depends on a "heavy input" future, so the scheduler spreads tasks over all
  workers (coffea#1490 pinned them to one) and nothing is scattered (coffea#465).
- Outputs stay in worker memory as dask futures; merge tasks take those futures
  as arguments, so partial outputs are merged on the workers and only the final
  result comes to the driver.
- Retries: colframe's (the base class), never dask's: tasks are submitted with
  ``retries=0`` and report failures as values. Worker deaths are the exception
  dask handles itself: see :meth:`DaskExecutor._died`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import os
import uuid
import weakref
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import extras, serialize
from ..errors import ClusterConnectionError, EnvError, ExecutorError, WorkerDiedError
from ..results import ChunkFailure, Err, Ok, Result
from ._base import Executor, Task, worker_count
from ._completions import Completions
from ._ship import ShippedFunctions, pickle_arg
from ._task import describe_arg, is_retryable

__all__ = ["DaskExecutor", "DaskRef"]

log = logging.getLogger(__name__)

# merges free memory, so they go before chunks still waiting in the queue
_PRIORITY = {"merge": 1}


@dataclass(eq=False)
class DaskRef:
    """A ``keep=True`` output held by a dask worker: its future and its size there."""

    future: Any
    nbytes: int

    def load(self) -> Any:
        return self.future.result().load()

    def discard(self) -> None:
        self.future.release()


class DaskExecutor(Executor):
    """Run tasks on a ``distributed`` cluster.

    Args:
        client: None to start a LocalCluster of ``workers`` single-threaded
            processes (closed in ``stop``); a scheduler address
            (``"tcp://host:8786"``) to connect to; or a ``distributed.Client``
            (left open, it is yours).
        workers: size of the LocalCluster started when ``client`` is None
            (default: the number of CPUs).
        retries: extra attempts for a failed task (colframe's single retry layer).
        dashboard_address: where the started LocalCluster serves its dashboard.
        cluster_options: more keyword arguments for ``distributed.LocalCluster``
            (e.g. ``{"memory_limit": "4GiB"}``).
        cluster: instead of a LocalCluster, a zero-argument callable returning a
            started dask cluster (e.g. a dask-jobqueue ``SLURMCluster``, see
            :mod:`colframe.config`); the executor connects to it and closes it in ``stop``.
        connect_timeout: seconds to wait for the scheduler at ``client`` (an address) to
            answer; an address that is unreachable, or answers another protocol (an HTTP
            port), raises ClusterConnectionError naming it after this long.
        environment: the tarball (``colframe env pack``) the workers were started in
            (dask starts its own workers: run them inside it, e.g. ``colframe env run
            env.tar.gz -- dask worker ADDRESS``). At start every connected worker is
            probed; a Python or package version that differs from the tarball's
            manifest stops the run with a table naming the packages.
        preflight: before the first task of each function, probe the workers for the
            modules it needs and the driver's versions; stop with a table if any differ.

    Raises ModuleNotFoundError with the install line when distributed is missing.
    """

    name = "dask"

    def __init__(
        self,
        client: Any = None,
        workers: int | None = None,
        retries: int = 2,
        *,
        dashboard_address: str = ":8787",
        cluster_options: dict[str, Any] | None = None,
        cluster: Any = None,
        connect_timeout: float = 30.0,
        environment: str | os.PathLike | None = None,
        preflight: bool = False,
    ) -> None:
        super().__init__(retries=retries, preflight=preflight)
        if environment is not None and not Path(environment).is_file():
            msg = f"environment tarball {os.fspath(environment)!r} does not exist"
            raise ExecutorError(msg)
        self.environment = environment
        distributed = extras.distributed()
        if not (client is None or isinstance(client, str | distributed.Client)):
            msg = (
                f"client must be None (start a local cluster), a scheduler address such as "
                f"'tcp://host:8786', or a distributed.Client, not {client!r}"
            )
            raise ExecutorError(msg)
        if cluster is not None and (client is not None or workers is not None or cluster_options):
            msg = "cluster= replaces client, workers and cluster_options: give only one of them"
            raise ExecutorError(msg)
        if client is not None and (workers is not None or cluster_options):
            msg = (
                f"workers={workers!r} / cluster_options apply only to the LocalCluster that "
                f"DaskExecutor starts when client is None; size the cluster of {client!r} instead"
            )
            raise ExecutorError(msg)
        if isinstance(connect_timeout, bool) or not (
            isinstance(connect_timeout, int | float) and connect_timeout > 0
        ):
            msg = f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}"
            raise ExecutorError(msg)
        workers = worker_count(workers)
        self.connect_timeout = connect_timeout
        self.client = client
        self.workers = workers
        self.dashboard_address = dashboard_address
        self.cluster_options = dict(cluster_options or {})
        self.cluster = cluster
        self._client: Any = None
        self._cluster: Any = None
        self._owns_client = False
        self._shipped: ShippedFunctions[str] = ShippedFunctions(self._register_function)
        self._futures: weakref.WeakSet = weakref.WeakSet()
        self._completions = Completions(operator.attrgetter("handle"))

    # lifetime -------------------------------------------------------------
    def start(self) -> None:
        distributed = extras.distributed()
        self._completions = Completions(operator.attrgetter("handle"))
        if self.cluster is not None:
            self._cluster = self.cluster()
        elif self.client is None:
            options = {
                "n_workers": self.workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": self.dashboard_address,
                # a worker death fails its task at once, so colframe's retry layer
                # resubmits it and counts it (see _died)
                "scheduler_kwargs": {"allowed_failures": 0},
                **self.cluster_options,
            }
            with _environ_kept():
                self._cluster = distributed.LocalCluster(**options)
        if self._cluster is None and not isinstance(self.client, str):
            self._client = self.client
        else:
            try:
                if self._cluster is None:
                    _probe(str(self.client), self.connect_timeout)
                # the executor's own connection must not become dask's global scheduler
                target = self.client if self._cluster is None else self._cluster
                self._client = distributed.Client(
                    target, set_as_default=False, timeout=self.connect_timeout
                )
            except BaseException:
                if self._cluster is not None:  # a cluster started here: never leave it running
                    self._cluster.close()
                    self._cluster = None
                raise
            self._owns_client = True
        # shown by the progress display (status=True) or the application's logging
        log.info("dask dashboard at %s", self._client.dashboard_link)
        if self.environment is not None:
            try:
                self._check_environment(Path(self.environment))
            except BaseException:
                self.stop(abort=True)
                raise

    def _check_environment(self, tarball: Path) -> None:
        """Probe every connected worker; PreflightError if one differs from the manifest."""
        from ..envs import tarball_manifest
        from ..envs._preflight import check_manifest
        from ..envs._probe import probe

        try:
            reports = self._client.run(probe)
        except Exception as exc:  # the probe cannot even run there
            msg = (
                f"the dask workers cannot run colframe's probe ({type(exc).__name__}: {exc}): "
                f"start them inside the environment: colframe env run {tarball} -- dask worker ..."
            )
            raise EnvError(msg) from exc
        check_manifest(tarball_manifest(tarball), reports.values(), tarball.name)

    def stop(self, abort: bool = False) -> None:
        client, self._client = self._client, None
        cluster, self._cluster = self._cluster, None
        owns_client, self._owns_client = self._owns_client, False
        try:
            if client is not None and cluster is None:
                # a cluster colframe did not start (your client, a scheduler address)
                # outlives the run: leave nothing of the run behind on it
                try:
                    self._clean(client)
                except OSError:
                    if not abort:
                        raise
                    # the run is failing already (often because the scheduler went away):
                    # its own error is the one to show, not this cleanup's
        finally:
            self._shipped.clear()
            self._futures = weakref.WeakSet()
            if owns_client and client is not None:
                client.close()
            if cluster is not None:
                with _environ_kept():  # a nanny that restarted a worker wrote it again
                    cluster.close()

    def _clean(self, client) -> None:
        leftovers = [future for future in self._futures if future.status != "cancelled"]
        if leftovers:
            client.cancel(leftovers)
        for name in self._shipped:
            client.unregister_worker_plugin(name)

    @property
    def slots(self) -> int:
        workers = self._require_client().scheduler_info()["workers"].values()
        # an adaptive cluster may have no workers yet: still keep one task queued
        return max(1, sum(worker["nthreads"] for worker in workers))

    def status(self) -> str:
        """Workers of the cluster now (an adaptive cluster grows and shrinks)."""
        if self._client is None:
            return ""
        workers = len(self._client.scheduler_info()["workers"])
        return f"{workers} worker{'s' * (workers != 1)}" if workers else "waiting for workers"

    @property
    def dashboard_link(self) -> str:
        """The scheduler's dashboard URL (the executor must be started)."""
        return self._require_client().dashboard_link

    # tasks ----------------------------------------------------------------
    def _require_client(self):
        if self._client is None:
            msg = "DaskExecutor is not started: use it inside `with executor:` or a Runner"
            raise ExecutorError(msg)
        return self._client

    def _register_function(self, function, index: int) -> str:
        from ._dask_worker import ShippedFunction

        name = f"colframe-function-{uuid.uuid4().hex[:12]}"
        self._client.register_plugin(ShippedFunction(serialize.dumps(function)), name=name)
        return name

    def _launch(self, task: Task) -> None:
        from ._dask_worker import run_task

        client = self._require_client()
        arg, pickled = task.arg, False
        if task.kind == "merge":
            # its refs go as futures, which dask resolves on the worker to the
            # Kept outputs themselves (moved between workers only when needed)
            arg = [item.future if isinstance(item, DaskRef) else item for item in arg]
        else:
            # pickled here, where an argument that cannot be is one clear error
            arg, pickled = pickle_arg(arg), True
        future = client.submit(
            run_task,
            self._shipped(task.function),
            arg,
            task.kind,
            task.keep,
            pickled,
            key=f"colframe-{task.kind}-{uuid.uuid4().hex}",
            priority=_PRIORITY.get(task.kind, 0),
            retries=0,
        )
        self._futures.add(future)
        task.handle = future
        self._completions.watch(task, future)

    def _collect(self, tasks: Collection[Task], timeout: float | None) -> list[tuple[Task, Result]]:
        from ._dask_worker import Kept

        client = self._require_client()
        by_future = {future: task for task, future in self._completions.take(tasks, timeout)}
        done = list(by_future)
        computed = [f for f in done if f.status not in ("error", "cancelled")]
        stats = self._stats([f for f in computed if by_future[f].keep])
        finished: list[tuple[Task, Result]] = []
        values = []
        for future in done:
            task = by_future[future]
            if future not in computed:
                finished.append((task, Err(self._infrastructure_failure(task, future))))
                continue
            if task.keep:
                kept, size, retried = stats.get(future.key, (False, 0, 0))
                task.attempts += retried  # the scheduler reran it after a worker died
                if kept:
                    finished.append((task, Ok(DaskRef(future, size))))
                    continue
            values.append(future)
        # plain values and failures (all small) come to the driver in one round trip
        gathered = client.gather(values) if values else []
        for future, value in zip(values, gathered, strict=True):
            if isinstance(value, Kept):  # the scheduler did not know its type yet
                finished.append((by_future[future], Ok(DaskRef(future, value.nbytes))))
                continue
            future.release()
            finished.append((by_future[future], value))
        return finished

    def _stats(self, futures: list) -> dict[str, tuple[bool, int, int]]:
        """For each finished keep=True task: (output kept, its nbytes, scheduler reruns)."""
        if not futures:
            return {}
        from dask.utils import typename

        from ._dask_worker import Kept

        # one scheduler call for the whole batch: the scheduler knows each result's
        # type and size without moving it, and how often a worker died running it
        info = self._client.run_on_scheduler(_task_info(), [f.key for f in futures])
        kept = typename(Kept)
        return {key: (t == kept, max(n, 0), s) for key, (t, n, s) in info.items()}

    def _infrastructure_failure(self, task: Task, future) -> ChunkFailure:
        item = describe_arg(task.arg, task.kind)
        if future.status == "cancelled":
            msg = f"dask cancelled task {future.key!r} (scheduler restarted or client reconnected)"
            return ChunkFailure.from_exception(RuntimeError(msg), item, task.kind, True)
        exc = future.exception()
        future.release()
        distributed = extras.distributed()
        if isinstance(exc, distributed.KilledWorker):
            return self._died(task, item, exc)
        return ChunkFailure.from_exception(exc, item, task.kind, is_retryable(exc))

    @staticmethod
    def _died(task: Task, item: Any, killed) -> ChunkFailure:
        """A worker died running the task (``KilledWorker``): one retry layer, not two.

        The scheduler itself reruns a task whose worker died, ``allowed-failures``
        times, before it reports KilledWorker. On the LocalCluster started here
        that is 0, so colframe retries (and counts) every death; a cluster of
        yours keeps its setting, its reruns are counted from the scheduler, and
        its KilledWorker is final.
        """
        reruns = killed.allowed_failures
        task.attempts += reruns
        reran = f", after {reruns} rerun(s) on the scheduler that also died" if reruns else ""
        worker = getattr(killed.last_worker, "address", killed.last_worker)
        error = WorkerDiedError(
            f"the dask worker running this task died (worker {worker}"
            f"{reran}); likely it went over its memory limit (the nanny kills a worker above "
            f"distributed.worker.memory.terminate) or the process crashed (segfault, os.kill); "
            f"see the worker logs, or run this chunk alone with IterativeExecutor to see the "
            f"real error"
        )
        error.__cause__ = killed
        return ChunkFailure.from_exception(error, item, task.kind, retryable=reruns == 0)

    def __repr__(self) -> str:
        if self.client is None:
            return f"DaskExecutor(workers={self.workers}, retries={self.retries})"
        address = self.client
        if not isinstance(address, str):
            address = getattr(getattr(address, "scheduler", None), "address", None)
        return f"DaskExecutor(client={address!r}, retries={self.retries})"


def _task_info():
    """The scheduler-side query: (result type, nbytes, reruns after deaths) per key.

    A local function, so it travels by value: the scheduler need not have colframe.
    """

    def task_info(keys, dask_scheduler=None):
        tasks = dask_scheduler.tasks
        return {
            k: (tasks[k].type, tasks[k].nbytes, tasks[k].suspicious) for k in keys if k in tasks
        }

    return task_info


def _probe(address: str, timeout: float) -> None:
    """Ask the scheduler at ``address`` who it is, within ``timeout`` seconds.

    ``distributed.Client`` waits forever for the handshake of a port that
    answers another protocol (an HTTP server): ask first, in a thread of its own
    (the caller may be inside an event loop, e.g. Jupyter's), and give up in time.
    """
    from distributed.core import rpc

    async def identity() -> dict:
        async with rpc(address, timeout=timeout) as scheduler:
            return await scheduler.identity()

    async def ask() -> dict:
        return await asyncio.wait_for(identity(), timeout)

    with ThreadPoolExecutor(1, thread_name_prefix="colframe-dask-probe") as pool:
        try:
            answer = pool.submit(asyncio.run, ask()).result()
        except Exception as exc:  # noqa: BLE001  (unreachable, refused, timed out, not dask)
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if isinstance(answer, dict) and answer.get("type") == "Scheduler":
                return
            reason = f"it answered as {answer.get('type') if isinstance(answer, dict) else answer!r}"
    msg = (
        f"no dask scheduler answered at {address} within {timeout:g} s ({reason}); check the "
        f"address and port (a scheduler listens on tcp://host:8786 by default, its dashboard "
        f"is HTTP), or allow more time with DaskExecutor(connect_timeout=...)"
    )
    raise ClusterConnectionError(msg)


@contextlib.contextmanager
def _environ_kept() -> Iterator[None]:
    """Undo what starting dask workers writes into this process's ``os.environ``.

    distributed's Nanny sets its ``distributed.nanny.pre-spawn-environ`` variables
    (``MALLOC_TRIM_THRESHOLD_=65536``, ``OMP_NUM_THREADS=1``, ...) in its own process before
    spawning a worker, and leaves them there: every process started afterwards (TaskVine and
    Work Queue workers, a futures pool) inherited them, and with ``MALLOC_TRIM_THRESHOLD_`` glibc
    returns memory to the system after nearly every free: the ADL chunks of TaskVine workers
    started after a dask cluster ran far slower (benchmarks/results/adl_taskvine.md).
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
