"""The outcome of one task: ``Ok(value)`` or ``Err(failure)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..report import ChunkFailure

__all__ = ["Err", "Ok", "Result"]


@dataclass(frozen=True)
class Ok:
    """A task that succeeded; ``value`` is its output (or a ref to it)."""

    value: Any


@dataclass(frozen=True)
class Err:
    """A task that failed; ``failure`` says where and why."""

    failure: ChunkFailure


Result = Ok | Err
