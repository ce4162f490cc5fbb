"""Progress display for preprocessing, processing and merging.

On a terminal each phase is one live line (rich) that disappears when the phase
ends, so nothing of a finished run is left on screen. Elsewhere (a log file, CI)
each phase prints one plain line when it ends. While the display is active it also
shows colframe's log records (INFO and above, e.g. the dask dashboard address)
unless the application configured logging itself. ``status=False`` gives
:class:`NoProgress`, which draws and prints nothing.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Protocol

from rich.progress import TaskID

__all__ = ["NoProgress", "Progress", "RichProgress", "make_progress"]


class Progress(Protocol):
    """What the Runner's phases call: one bar per phase, counted in ``unit``."""

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def add(self, description: str, total: float | None, unit: str) -> int: ...

    def advance(self, bar: int, amount: float = 1) -> None: ...

    def update_total(self, bar: int, total: float) -> None: ...

    def note(self, bar: int, text: str) -> None: ...


class NoProgress:
    """Same interface as :class:`RichProgress`; does nothing."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def add(self, description: str, total: float | None, unit: str) -> int:
        return 0

    def advance(self, bar: int, amount: float = 1) -> None:
        pass

    def update_total(self, bar: int, total: float) -> None:
        pass

    def note(self, bar: int, text: str) -> None:
        pass


class RichProgress:
    """One live line per phase on stderr, removed when the phase is complete.

    ``console``: a ``rich.console.Console`` to draw on (default: stderr).
    """

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console if console is not None else Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),  # e.g. the workers connected now
            console=self.console,
            transient=True,  # what is still live at the end is erased, not left behind
        )
        self._logs = _ConsoleHandler(self.console)
        self._logger = logging.getLogger("colframe")
        self._level: int | None = None

    def __enter__(self) -> RichProgress:
        if self.console.is_terminal:  # no live region in a log, only the phases' lines
            self._progress.start()
        # Unconfigured logging would drop INFO and print warnings raw through the live
        # lines; an application's own logging configuration is left alone.
        if not logging.getLogger().handlers and self._level is None:
            self._level = self._logger.level
            if self._level == logging.NOTSET:
                self._logger.setLevel(logging.INFO)
            self._logger.addHandler(self._logs)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._level is not None:
            self._logger.removeHandler(self._logs)
            self._logger.setLevel(self._level)
            self._level = None
        if self._progress.live.is_started:
            self._progress.stop()

    @property
    def live(self) -> list[str]:
        """The phases drawn now (those not yet complete)."""
        return [task.description for task in self._progress.tasks]

    def add(self, description: str, total: float | None, unit: str) -> int:
        bar = self._progress.add_task(description, total=total, unit=unit, note="")
        self._collapse_if_done(bar)
        return bar

    def advance(self, bar: int, amount: float = 1) -> None:
        self._progress.advance(TaskID(bar), amount)
        self._collapse_if_done(bar)

    def update_total(self, bar: int, total: float) -> None:
        self._progress.update(TaskID(bar), total=total)
        self._collapse_if_done(bar)

    def note(self, bar: int, text: str) -> None:
        """Show ``text`` after the bar (e.g. "3 workers"); ignored once the bar is gone."""
        if any(task.id == bar for task in self._progress.tasks):
            self._progress.update(TaskID(bar), note=text)

    def _collapse_if_done(self, bar: int) -> None:
        task = next((t for t in self._progress.tasks if t.id == bar), None)
        if task is None or task.total is None or task.completed < task.total:
            return
        self._progress.remove_task(TaskID(bar))
        if not self.console.is_terminal and task.total:  # a log: one line per phase, no bar
            elapsed = task.finished_time or task.elapsed or 0.0
            done = f"{int(task.completed):,}/{int(task.total):,} {task.fields['unit']}"
            self.console.print(f"{task.description}: {done} in {elapsed:.1f} s", highlight=False)


class _ConsoleHandler(logging.Handler):
    """Prints colframe's log records above the live lines."""

    def __init__(self, console: Any) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(f"colframe: {record.getMessage()}", highlight=False)
        except Exception:  # noqa: BLE001  (logging's contract: never raise from emit)
            self.handleError(record)


def make_progress(status: bool) -> Progress:
    """The live display when ``status`` is true, nothing otherwise."""
    return RichProgress() if status else NoProgress()
