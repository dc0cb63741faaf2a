"""What every sub-command shares: the Typer app, consoles, the workspace and actor, and printers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from lensforge.workspace import Workspace, current_user, resolve_workspace

console = Console()
if not console.is_terminal:
    console.width = 160  # piped output: wide tables rather than 80-column folds
err_console = Console(stderr=True)

app = typer.Typer(
    help="lensforge: curate labelled news and social-media datasets into a versioned instruction-tuning set.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit log).")]


class State:
    workspace: Workspace
    user: str | None = None


state = State()


def _print_version(value: bool) -> None:
    if value:
        from lensforge import __version__

        console.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Workspace directory (env LENSFORGE_HOME, default ./lensforge-workspace)."
        ),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Who is acting (env LENSFORGE_USER).")] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the lensforge version and exit."),
    ] = False,
) -> None:
    state.workspace = resolve_workspace(workspace)
    state.user = user


def _ws() -> Workspace:
    """The workspace, created and initialised on first use."""
    from lensforge.catalog.setup import ensure_initialised

    ensure_initialised(state.workspace, actor=_actor())
    return state.workspace


def _actor() -> str:
    return current_user(state.user)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _print_frame(df: pl.DataFrame, title: str | None = None, max_width: int = 60) -> None:
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(col, overflow="fold", max_width=max_width)
    for row in df.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def _split_rows(rows: dict[str, int]) -> str:
    """Rows per split as a person reads them: 'train 1,234 · dev 56 · test 78 (1,368 rows)'."""
    parts = [f"{split} {n:,}" for split, n in rows.items() if split != "total"]
    total = rows.get("total", sum(n for split, n in rows.items() if split != "total"))
    return f"{' · '.join(parts)} ({total:,} rows)"


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column(title.split(" ")[-1])
    table.add_column("datasets", justify="right")
    for key, n in counts.items():
        table.add_row(key, str(n))
    console.print(table)
