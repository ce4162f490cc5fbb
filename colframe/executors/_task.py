"""What runs on a worker: call the function, capture failures, store the output.

This module is imported by worker processes; it must stay light and free of
driver state.
"""

from __future__ import annotations

import functools
from typing import Any

from uproot import KeyInFileError

from .. import serialize
from ..errors import MergeError, ProcessorOutputError, TreeNotFoundError, UnpicklableError
from ..report import ChunkFailure
from ._result import Err, Ok, Result

__all__ = ["execute", "execute_shipped", "is_retryable"]

# Failures that another attempt cannot fix: retrying them only delays the report.
_PERMANENT = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    TreeNotFoundError,
    KeyInFileError,  # a branch the processor reads is not in the file
    ProcessorOutputError,
    MergeError,
    UnpicklableError,
    MemoryError,
)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt might succeed (transient I/O, worker trouble)."""
    return not isinstance(exc, _PERMANENT)


def execute(function, arg: Any, kind: str, store=None) -> Result:
    """Run ``function(arg)``; store the value when ``store`` is given; never raise."""
    try:
        value = function(arg)
        if store is not None:
            value = store.put(value)
    except Exception as exc:
        return Err(ChunkFailure.from_exception(exc, _item_of(arg), kind, is_retryable(exc)))
    return Ok(value)


def _item_of(arg: Any) -> Any:
    if isinstance(arg, list):  # a merge: describe it by its size, not its refs
        return f"merge of {len(arg)} partial outputs"
    return arg


@functools.lru_cache(maxsize=8)
def _load_function(path: str):
    # each worker reads a shipped function once, however many chunks it runs
    return serialize.load(path)


def execute_shipped(path: str, arg: Any, kind: str, store=None) -> Result:
    """Like :func:`execute`, with the function read (once per worker) from ``path``."""
    try:
        function = _load_function(path)
    except Exception as exc:
        failure = ChunkFailure.from_exception(exc, _item_of(arg), kind, retryable=False)
        return Err(failure)
    return execute(function, arg, kind, store)
