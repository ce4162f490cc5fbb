"""Worker processes started from a packed environment's interpreter (FuturesExecutor(environment=)).

A multiprocessing context like "spawn", except that each worker is the
environment's ``bin/python`` and its ``sys.path`` is the environment's own: not
the driver's path (which spawn normally sends), and without re-importing the
driver's ``__main__``. A worker therefore imports only what the environment
holds, which is what makes a Futures run the local proof that an environment
is complete.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from multiprocessing import popen_spawn_posix, reduction, spawn, util
from multiprocessing.context import SpawnContext, SpawnProcess, set_spawning_popen
from pathlib import Path
from typing import Any

from ..errors import EnvError

__all__ = ["EnvContext", "environment_python"]

_SYS_PATH = "import json, sys; print(json.dumps([p for p in sys.path if p]))"


def environment_python(tarball: str | os.PathLike) -> tuple[str, list[str]]:
    """The unpacked environment's interpreter (unpacked once per machine) and its sys.path."""
    from ..envs import unpack

    python = unpack(Path(tarball)) / "bin" / "python"
    done = subprocess.run(
        [str(python), "-I", "-c", _SYS_PATH], capture_output=True, text=True, env=_clean_env()
    )
    if done.returncode != 0:
        msg = f"the interpreter {python} of environment {tarball} does not run: {done.stderr.strip()}"
        raise EnvError(msg)
    return str(python), json.loads(done.stdout)


class EnvContext(SpawnContext):
    """A spawn context whose processes run ``python`` with ``path`` as their sys.path."""

    def __init__(self, python: str, path: list[str]) -> None:
        super().__init__()
        self.python, self.path = python, list(path)

    # multiprocessing's name; a method here, where SpawnContext has a class (same call)
    def Process(self, *args: Any, **kwargs: Any) -> SpawnProcess:  # type: ignore[override]
        process = _EnvProcess(*args, **kwargs)
        process.env_python, process.env_path = self.python, self.path
        return process


class _EnvProcess(SpawnProcess):
    env_python: str
    env_path: list[str]

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # multiprocessing's name
        return _EnvPopen(process_obj)


class _EnvPopen(popen_spawn_posix.Popen):
    """``popen_spawn_posix.Popen`` with another interpreter and sys.path (same protocol)."""

    def _launch(self, process_obj: Any) -> None:
        from multiprocessing import resource_tracker

        fds: list[Any] = self._fds  # type: ignore[attr-defined]  # (untyped in typeshed)
        tracker_fd = resource_tracker.getfd()
        fds.append(tracker_fd)
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data["sys_path"] = process_obj.env_path
        for key in ("init_main_from_name", "init_main_from_path"):
            prep_data.pop(key, None)  # the driver's __main__ is not the environment's to import
        fp = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, fp)
            # sent as multiprocessing's own class: the child needs nothing of colframe to start
            process_obj.__class__ = SpawnProcess
            try:
                reduction.dump(process_obj, fp)
            finally:
                process_obj.__class__ = _EnvProcess
        finally:
            set_spawning_popen(None)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            cmd = spawn.get_command_line(tracker_fd=tracker_fd, pipe_handle=child_r)
            cmd[0] = process_obj.env_python
            fds.extend([child_r, child_w])
            self.pid = util.spawnv_passfds(os.fsencode(process_obj.env_python), cmd, fds)
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            fds_to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
            self.finalizer = util.Finalize(self, util.close_fds, fds_to_close)  # type: ignore[attr-defined]
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
