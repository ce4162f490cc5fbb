"""Progress bars (rich) for preprocessing, processing and merging.

``status=False`` gives :class:`NoProgress`, which draws nothing at all.
"""

from __future__ import annotations

__all__ = ["NoProgress", "RichProgress", "make_progress"]


class NoProgress:
    """Same interface as :class:`RichProgress`; does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def add(self, description: str, total: float | None, unit: str) -> int:
        return 0

    def advance(self, bar: int, amount: float = 1) -> None:
        pass

    def update_total(self, bar: int, total: float) -> None:
        pass


class RichProgress:
    """Rich bars on stderr, one per phase, counting files, events or merges."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def add(self, description: str, total: float | None, unit: str) -> int:
        return self._progress.add_task(description, total=total, unit=unit)

    def advance(self, bar: int, amount: float = 1) -> None:
        self._progress.advance(bar, amount)

    def update_total(self, bar: int, total: float) -> None:
        self._progress.update(bar, total=total)


def make_progress(status: bool) -> NoProgress | RichProgress:
    """Rich bars when ``status`` is true, nothing otherwise."""
    return RichProgress() if status else NoProgress()
