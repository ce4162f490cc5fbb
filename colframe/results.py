"""Outcomes of tasks: ``Ok(value)`` or ``Err(failure)``, and the failure record.

The bottom layer: executors, the scheduler and the report all use these
records; this module imports nothing of colframe's.
"""

from __future__ import annotations

import traceback as tb
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ChunkFailure", "Err", "Ok", "Result", "TracebackBudget", "typename"]


def typename(obj: Any) -> str:
    """The qualified name of ``obj``'s class: ``module.QualName``, bare for builtins."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}".removeprefix("builtins.")


@dataclass(frozen=True)
class ChunkFailure:
    """A task that failed for good: what it was, and the exception that ended it.

    ``item`` is the :class:`~colframe.plan.WorkItem` (processing), the
    :class:`~colframe.fileset.FileSpec` (preprocessing) or a description of the
    merge. ``exc_types`` holds the classes of the exception and of its causes, so
    ``skipbadfiles`` can match a wrapped OSError.
    """

    item: Any
    kind: str
    exc_type: str
    message: str
    traceback: str
    exc_types: tuple[type, ...] = ()
    retryable: bool = True
    attempts: int = 1

    @classmethod
    def from_exception(cls, exc: BaseException, item: Any, kind: str, retryable: bool):
        """Capture ``exc`` (with its cause chain and traceback) as picklable data."""
        chain: list[type] = []
        seen: BaseException | None = exc
        while seen is not None and len(chain) < 16:
            chain.append(type(seen))
            seen = seen.__cause__ or seen.__context__
        return cls(
            item=item,
            kind=kind,
            exc_type=typename(exc),
            message=str(exc),
            traceback="".join(tb.format_exception(exc)),
            exc_types=tuple(chain),
            retryable=retryable,
        )

    def matches(self, types: tuple[type[BaseException], ...]) -> bool:
        """Whether the exception or any exception in its cause chain is one of ``types``."""
        return any(issubclass(t, types) for t in self.exc_types)

    def where(self) -> str:
        """The file, tree and entry range (or merge) this failure is about."""
        describe = getattr(self.item, "describe", None)
        if callable(describe):
            return describe()
        path = getattr(self.item, "path", None)
        if path is not None:
            return f"file={path} tree={getattr(self.item, 'treename', '?')}"
        return str(self.item)

    def describe(self) -> str:
        """One line: where, and the cause."""
        return f"{self.kind} {self.where()}: {self.exc_type}: {self.message}"


class TracebackBudget:
    """Keeps the traceback of the first ``per_cause`` failures of each exception type.

    Later failures of that type keep their item, type and message (a rerun needs the
    item) without the traceback: 20,000 skipped chunks do not hold 20,000 tracebacks.
    """

    def __init__(self, per_cause: int = 5) -> None:
        self.per_cause = per_cause
        self.seen: Counter[str] = Counter()

    def __call__(self, failure: ChunkFailure) -> ChunkFailure:
        self.seen[failure.exc_type] += 1
        if self.seen[failure.exc_type] <= self.per_cause or not failure.traceback:
            return failure
        return replace(failure, traceback="")


@dataclass(frozen=True)
class Ok:
    """A task that succeeded; ``value`` is its output (or a ref to it)."""

    value: Any


@dataclass(frozen=True)
class Err:
    """A task that failed; ``failure`` says where and why."""

    failure: ChunkFailure


Result = Ok | Err
