"""Worker processes of a manager–worker engine (TaskVine, Work Queue) on this machine.

Each worker runs in its own process group: a worker forks a transfer server
that keeps its connection open, so stopping (or, in tests, killing) a worker
means signalling the whole group, never just its main pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import ExecutorError

__all__ = ["LocalWorkers", "find_binary", "worker_environment"]

log = logging.getLogger(__name__)

# Manager(port=N) writes these; a worker that inherits them cannot bind its transfer port
_PORT_VARIABLES = ("TCP_LOW_PORT", "TCP_HIGH_PORT")


def find_binary(name: str) -> str:
    """The path of ``name`` (e.g. ``vine_worker``): beside this Python first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        msg = (
            f"{name} not found beside {sys.executable} or on PATH; `make setup` builds cctools "
            f"into the project's .venv, or `conda install -c conda-forge ndcctools`"
        )
        raise ExecutorError(msg)
    return found


def worker_environment() -> dict[str, str]:
    """The environment for local workers: this Python first on PATH, the driver's sys.path.

    The driver's ``sys.path`` goes into PYTHONPATH so a processor defined in a
    module beside the user's script imports on local workers as it does in the driver.
    """
    env = {k: v for k, v in os.environ.items() if k not in _PORT_VARIABLES}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    paths = [Path(p or os.curdir).resolve() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in dict.fromkeys(paths) if p.is_dir())
    return env


class LocalWorkers:
    """``count`` worker processes connected to ``host:port``, started and stopped together.

    Args:
        binary: the worker program (``vine_worker``, ``work_queue_worker``).
        host, port: the manager's address.
        count: how many workers.
        cores, memory, disk: what each worker offers (memory and disk in MB).
        options: extra command-line options (password, ssl, ...).
    """

    def __init__(
        self,
        binary: str,
        host: str,
        port: int,
        count: int,
        *,
        cores: int = 1,
        memory: int | None = None,
        disk: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self.binary = find_binary(binary)
        self.host, self.port, self.count = host, port, count
        self.cores, self.memory, self.disk = cores, memory, disk
        self.options = list(options)
        self.processes: list[subprocess.Popen] = []
        self._workspace: Path | None = None

    def command(self, workspace: str | None = None) -> list[str]:
        """The command line of one worker."""
        # --parent-death: local workers end with the driver, even when it is SIGKILLed
        cmd = [self.binary, "--parent-death", "--cores", str(self.cores)]
        if self.memory is not None:
            cmd += ["--memory", str(self.memory)]
        if self.disk is not None:
            cmd += ["--disk", str(self.disk)]
        if workspace is not None:
            cmd += ["-s", workspace]  # --workspace (TaskVine) / --workdir (Work Queue)
        return [*cmd, *self.options, self.host, str(self.port)]

    def start(self) -> LocalWorkers:
        self._workspace = Path(tempfile.mkdtemp(prefix="colframe-workers-"))
        env = worker_environment()
        for i in range(self.count):
            workspace = self._workspace / f"worker-{i}"
            workspace.mkdir()
            with (self._workspace / f"worker-{i}.log").open("wb") as log_file:
                process = subprocess.Popen(
                    self.command(str(workspace)),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: see the module docstring
                )
            self.processes.append(process)
        log.info("started %d local %s processes", self.count, Path(self.binary).name)
        return self

    def alive(self) -> int:
        """How many of the workers are still running."""
        return sum(p.poll() is None for p in self.processes)

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group of worker ``index``."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[index].pid, sig)

    def stop(self) -> None:
        for i in range(len(self.processes)):
            self.kill(i, signal.SIGTERM)
        for i, process in enumerate(self.processes):
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill(i, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self._workspace is not None:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None

    def __enter__(self) -> LocalWorkers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
