"""colframe: coffea-style columnar analysis at cluster scale.

    from colframe import Runner, ProcessorABC
    out = Runner(executor="futures")(fileset, "Events", processor_instance=MyProcessor())
"""

from __future__ import annotations

from .accumulate import accumulate
from .processor_abc import ProcessorABC
from .report import RunReport
from .results import ChunkFailure
from .runner import Runner

__all__ = ["ChunkFailure", "ProcessorABC", "RunReport", "Runner", "accumulate"]
__version__ = "0.1.0"


def __dir__() -> list[str]:
    return __all__
