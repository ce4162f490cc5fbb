"""ProcessorABC: the processor contract, compatible with coffea's."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["ProcessorABC"]


class ProcessorABC(ABC):
    """Base class of processors: ``process(events)`` per chunk, ``postprocess`` at the end.

    Subclasses of ``coffea.processor.ProcessorABC`` and plain callables
    ``f(events) -> output`` run unchanged in colframe's Runner.
    """

    @abstractmethod
    def process(self, events: Any) -> Any:
        """Return this chunk's output: dicts, sets, numbers, arrays, histograms."""

    def postprocess(self, accumulator: Any) -> Any:
        """Called once on the merged output; return a replacement or None to keep it."""
        return accumulator
