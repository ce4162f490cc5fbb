"""What runs on a worker: call the function, capture failures, store the output.

This module is imported by worker processes; it must stay light and free of
driver state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from uproot import KeyInFileError

from .. import serialize
from ..errors import (
    FileChangedError,
    MergeError,
    ProcessorOutputError,
    SpoolError,
    UnpicklableError,
)
from ..results import ChunkFailure, Err, Ok, Result

__all__ = ["describe_arg", "execute", "execute_loaded", "execute_shipped", "is_retryable"]

# Failures that another attempt cannot fix: retrying them only delays the report.
_PERMANENT = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileChangedError,  # the plan no longer fits the file: preprocess again
    KeyInFileError,  # a branch the processor reads is not in the file, or the tree
    ProcessorOutputError,
    MergeError,
    UnpicklableError,
    MemoryError,
    SpoolError,  # a full or unwritable spool directory: fix the place, then rerun
    SystemExit,  # the processor called sys.exit(): it will again
)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt might succeed (transient I/O, worker trouble)."""
    return not isinstance(exc, _PERMANENT)


def _is_interrupt(exc: BaseException) -> bool:
    # Ctrl-C stops the run; every other BaseException (sys.exit() in a processor,
    # GeneratorExit, a library's own BaseException) is that chunk's failure, never
    # an exit of the worker or, in-process, of the driver with its status
    return isinstance(exc, KeyboardInterrupt)


def execute(function, arg: Any, kind: str, store=None) -> Result:
    """Run ``function(arg)``; store the value when ``store`` is given; never raise.

    A merge (``kind == "merge"``) that raised is never retried, on any executor:
    it adds its inputs into each other in place (in-memory refs even hand their
    values over), so another attempt would see half-merged or missing inputs and
    return a smaller output instead of an error.
    """
    try:
        value = function(arg)
        if store is not None:
            value = store.put(value)
    except BaseException as exc:
        if _is_interrupt(exc):
            raise
        retryable = kind != "merge" and is_retryable(exc)
        return Err(ChunkFailure.from_exception(exc, describe_arg(arg, kind), kind, retryable))
    return Ok(value)


def describe_arg(arg: Any, kind: str) -> Any:
    """What a failure is about: the work item itself, or the size of a merge."""
    if kind == "merge":  # never ship a merge's inputs back inside a report
        return f"merge of {len(arg)} partial outputs"
    return arg


def execute_loaded(load: Callable[[], Callable], arg: Any, kind: str, store=None) -> Result:
    """Like :func:`execute`, with the function returned by ``load()``.

    A function that cannot be loaded (its code does not import on this worker)
    fails for good: no retry helps.
    """
    try:
        function = load()
    except BaseException as exc:
        if _is_interrupt(exc):
            raise
        return Err(ChunkFailure.from_exception(exc, describe_arg(arg, kind), kind, retryable=False))
    return execute(function, arg, kind, store)


@functools.lru_cache(maxsize=8)
def _load_function(path: str):
    # each worker reads a shipped function once, however many chunks it runs
    return serialize.load(path)


def execute_shipped(path: str, arg: Any, kind: str, store=None) -> Result:
    """Like :func:`execute`, with the function read (once per worker) from ``path``."""
    return execute_loaded(functools.partial(_load_function, path), arg, kind, store)
