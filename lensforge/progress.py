"""One progress bar style for long stage work (silent when there is no console, e.g. under --json)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


def progress_bar(console: Console | None) -> Progress:
    """Description, bar, done/total and elapsed time; disappears when finished."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=True,
    )


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
