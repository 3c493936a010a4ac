"""Progress bars for the ``semvis`` command: :class:`~semvis.progress.ProgressUpdate` s drawn with rich.

One bar per task name. Columns have fixed widths except the status, which takes what is left
and is cut short first, so the description, count and remaining time stay visible at 80 columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column

from semvis.progress import ProgressCallback, ProgressUpdate

#: Widest task description shown; longer ones end in "…".
DESCRIPTION_WIDTH = 20
BAR_WIDTH = 12


def columns() -> tuple[ProgressColumn, ...]:
    """Description, bar, count, elapsed, remaining, status (the only column that shrinks)."""
    return (
        TextColumn(
            "{task.description}",
            style="bold",
            markup=False,
            table_column=Column(max_width=DESCRIPTION_WIDTH, no_wrap=True, overflow="ellipsis"),
        ),
        BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn(
            "{task.fields[status]}",
            markup=False,
            table_column=Column(ratio=1, min_width=0, no_wrap=True, overflow="ellipsis"),
        ),
    )


@contextmanager
def progress_bars(console: Console | None = None) -> Iterator[ProgressCallback]:
    """A :data:`~semvis.progress.ProgressCallback` drawing one bar per task while the block runs.

    Nothing is drawn when ``console`` (default: standard output's) is not a terminal.
    """
    console = console or Console()
    with Progress(*columns(), console=console, expand=True, disable=not console.is_terminal) as bars:
        tasks: dict[str, TaskID] = {}

        def draw(update: ProgressUpdate) -> None:
            if update.task not in tasks:
                tasks[update.task] = bars.add_task(update.task, total=update.total, status=update.status)
            bars.update(tasks[update.task], completed=update.done, total=update.total, status=update.status)

        yield draw


class DownloadBar:
    """A weight download's bar (``semvis.weights.download_progress``): shown from the first chunk to the last."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.bars: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bars is None:
            columns = (TextColumn("downloading weights"), BarColumn(bar_width=BAR_WIDTH), DownloadColumn())
            self.bars = Progress(*columns, TransferSpeedColumn(), console=self.console, transient=True)
            self.bars.start()
            self.task = self.bars.add_task("download", total=total)
        assert self.task is not None
        self.bars.update(self.task, completed=done, total=total)
        if total is not None and done >= total:
            self.bars.stop()
            self.bars = None
