"""One progress bar style for long stage work (silent when there is no console, e.g. under --json)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, e.g. `3.2 rows/s` (blank until rich has measured a speed)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s", style="progress.data.speed")


def progress_bar(console: Console | None, *, unit: str | None = None) -> Progress:
    """Description, bar, done/total and elapsed time; with `unit`, also the rate and the time left (ETA).

    Disappears when finished.
    """
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ]
    if unit:
        columns += [RateColumn(unit), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, disable=console is None, transient=True)


def step_callback(progress: Progress) -> Callable[[str, int, int], None]:
    """A `callback(step, done, total)` for stage functions that report steps: one bar per step, with counts.

    Stage functions take such a callback and never draw; the CLI passes this one (a silent Progress under --json).
    """
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    return report
