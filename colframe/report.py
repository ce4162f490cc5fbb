"""The run report: what was processed, what was retried, what failed and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import rerun
from .results import ChunkFailure

if TYPE_CHECKING:
    from .fileset import Dataset

__all__ = ["ChunkFailure", "RunReport"]


@dataclass
class RunReport:
    """What a run did. Returned by ``Runner(savemetrics=True)`` as ``(output, report)``.

    Every chunk of the plan is counted exactly once in ``chunks_ok``,
    ``chunks_failed`` or ``chunks_skipped``; ``chunks_retried`` counts chunks
    that needed more than one attempt (including resubmission after a worker died).

    With a checkpoint, ``chunks_from_checkpoint`` of the ok chunks were loaded
    instead of computed (:attr:`chunks_computed` were computed);
    ``checkpoints_stale`` chunks had checkpoints only from another version of the
    processor (ignored), ``checkpoints_rejected`` had a corrupt one (recomputed).
    ``datasets`` is the normalized input; ``coverage`` the entry ranges the
    output holds, by (dataset, file, tree), which :func:`colframe.rerun.merge_runs`
    uses to refuse counting entries twice.
    """

    executor: str = ""
    checkpoint: str | None = None
    files_total: int = 0
    files_from_cache: int = 0
    files_skipped: int = 0
    chunks_total: int = 0
    chunks_ok: int = 0
    chunks_retried: int = 0
    chunks_failed: int = 0
    chunks_skipped: int = 0
    chunks_from_checkpoint: int = 0
    checkpoints_stale: int = 0
    checkpoints_rejected: int = 0
    merges: int = 0
    events_total: int = 0
    events_processed: int = 0
    bytes_read: int = 0
    columns: list[str] = field(default_factory=list)
    zlib_library: str = "zlib"
    #: what the executor tells of its engine (TaskVine: splits, tasks per worker, logs)
    executor_stats: dict[str, Any] = field(default_factory=dict)
    failures: list[ChunkFailure] = field(default_factory=list)
    skipped: list[ChunkFailure] = field(default_factory=list)
    wall_seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    datasets: list[Dataset] = field(default_factory=list)
    coverage: rerun.Coverage = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every planned chunk was processed and merged."""
        return self.chunks_ok == self.chunks_total and not self.failures and not self.skipped

    @property
    def chunks_computed(self) -> int:
        """Ok chunks that were computed in this run (not loaded from a checkpoint)."""
        return self.chunks_ok - self.chunks_from_checkpoint

    def failed_fileset(self) -> dict[str, Any]:
        """A fileset of exactly the failed and skipped entry ranges, for a rerun.

        Chunks are listed as ``steps`` of their file, files that could not be
        opened as whole files; ``Runner`` accepts the result as it is (see
        :mod:`colframe.rerun`). Empty when nothing failed.
        """
        return rerun.failed_fileset(self)

    def summary(self) -> str:
        """A short multi-line text for terminals and logs."""
        wall = sum(self.wall_seconds.values())
        rate = self.events_processed / wall if wall > 0 else 0.0
        lines = [
            f"executor: {self.executor}",
            f"files: {self.files_total} ({self.files_from_cache} metadata from cache, "
            f"{self.files_skipped} skipped)",
            f"chunks: {self.chunks_total} planned, {self.chunks_ok} ok, "
            f"{self.chunks_retried} retried, {self.chunks_failed} failed, "
            f"{self.chunks_skipped} skipped; {self.merges} merges",
            *self._checkpoint_lines(),
            f"events: {self.events_processed:,} processed of {self.events_total:,}",
            f"read: {self.bytes_read / 1e6:,.1f} MB in {len(self.columns)} columns "
            f"(ZLIB inflated by {self.zlib_library})",
            "wall: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in self.wall_seconds.items())
            + f" ({rate:,.0f} events/s)",
            "cpu: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.cpu_seconds.items()),
        ]
        if self.executor_stats:
            stats = ", ".join(f"{k} {v}" for k, v in self.executor_stats.items())
            lines.append(f"engine: {stats}")
        lines.extend(f"FAILED  {failure.describe()}" for failure in self.failures)
        lines.extend(f"SKIPPED {failure.describe()}" for failure in self.skipped)
        return "\n".join(lines)

    def _checkpoint_lines(self) -> list[str]:
        if self.checkpoint is None:
            return []
        line = (
            f"checkpoint {self.checkpoint}: {self.chunks_from_checkpoint} chunks loaded, "
            f"{self.chunks_computed} computed"
        )
        if self.checkpoints_stale:
            line += (
                f"; {self.checkpoints_stale} checkpoints ignored because the processor "
                f"changed since they were written"
            )
        if self.checkpoints_rejected:
            line += f"; {self.checkpoints_rejected} corrupt checkpoints recomputed"
        return [line]
