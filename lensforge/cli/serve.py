"""`lensforge app` and `lensforge pipeline`: the curator app and the demo pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lensforge.cli.common import (
    JsonOpt,
    _actor,
    _print_json,
    _ws,
    app,
    console,
    err_console,
    state,
)


@app.command("app")
def app_command(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind (localhost by default).")] = "127.0.0.1",
) -> None:
    """Open the Streamlit curator app over this workspace."""
    from lensforge.app.launch import launch

    raise typer.Exit(launch(_ws(), host=host, port=port, user=state.user))


# ----------------------------------------------------------------------------- pipeline


@app.command()
def pipeline(
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="Instruction provider(s): openai, anthropic, offline (default: those with an API key, else offline).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every stage end to end on the embedded demo corpus."""
    from lensforge.pipeline import run_pipeline

    result = run_pipeline(
        state.workspace,
        actor=_actor(),
        providers=provider,
        log=err_console.print if as_json else console.print,
    )
    if as_json:
        _print_json(result)
        return
    report = Path(result["stages"]["report"]["markdown"])
    if report.is_file():
        console.rule("report")
        console.print(report.read_text(encoding="utf-8"), markup=False, highlight=False)
