"""`lensforge instruct ...`: the instruction factory."""

from __future__ import annotations

from typing import Annotated, Any

import polars as pl
import typer

from lensforge.cli.common import (
    JsonOpt,
    ReasonOpt,
    _actor,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
)
from lensforge.errors import LensforgeError
from lensforge.progress import progress_bar

instruct_app = typer.Typer(
    help="Instruction factory: generate, review, edit, disable; the cost ledger.", no_args_is_help=True
)
app.add_typer(instruct_app, name="instruct")


@instruct_app.command("generate")
def instruct_generate(
    names: Annotated[
        list[str] | None, typer.Argument(help="Datasets (default with --all: every ingested one).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset with an ingested version.")] = False,
    n: Annotated[int, typer.Option("--n", help="Instructions per dataset and language.")] = 20,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider", help="openai, anthropic, offline (repeatable; default: those with a key, else offline)."
        ),
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="PROVIDER=MODEL, e.g. openai=gpt-4o-mini.")] = None,
    languages: Annotated[str, typer.Option("--languages", help="en, native or both.")] = "both",
    batch: Annotated[bool, typer.Option("--batch", help="Send through the providers' batch APIs (resumable).")] = False,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 4,
    replace_stale: Annotated[
        bool,
        typer.Option("--replace-stale", help="Disable instructions written for an outdated label space, then top up."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate N validated instructions per dataset (English and native language)."""
    from lensforge.instruct.api import generate_many

    models = {}
    for item in model or []:
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise LensforgeError(f"--model expects PROVIDER=MODEL, got {item!r}")
        models[name] = value
    progress = progress_bar(None if as_json else console)
    with progress:
        bar = progress.add_task("instructions", total=None)

        def advance(done: int, total: int, did: str | None) -> None:
            progress.update(bar, completed=done, total=total, description=f"instructions: {did or 'done'}")

        result = generate_many(
            _ws(),
            names or [],
            all_=all_,
            n=n,
            provider_names=provider,
            models=models,
            languages=languages,
            batch=batch,
            concurrency=concurrency,
            actor=_actor(),
            replace_stale=replace_stale,
            on_progress=advance,
            on_note=None if as_json else console.print,
        )
    if as_json:
        _print_json(result)
        return
    _print_generated(result)
    if result["disabled_stale"]:
        console.print(f"disabled {len(result['disabled_stale'])} instruction(s) written for an outdated label space")


def _print_generated(result: dict[str, Any]) -> None:
    """One line per dataset and language: accepted, rejected, requests sent and answers from the cache."""
    providers = ", ".join(f"{p['name']}:{p['model']}" for p in result["providers"])
    rows = [
        {
            "dataset": o["dataset_id"],
            "lang": o["language"],
            "status": o["status"],
            "accepted": o["accepted"],
            "rejected": o["rejected"],
            "sent": o["requests_sent"],
            "cached": o["cache_hits"],
        }
        for o in result["outcomes"]
    ]
    _print_frame(pl.DataFrame(rows), title=f"instructions ({providers})")


@instruct_app.command("list")
def instruct_list(
    ref: Annotated[str | None, typer.Argument(help="Dataset NAME[@VERSION].")] = None,
    language: Annotated[str | None, typer.Option(help="Instruction language.")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Instructions, by dataset and language."""
    from lensforge.instruct.store import list_instructions

    df = list_instructions(_ws(), ref, language=language, status=status)
    if as_json:
        _print_json(df.with_columns(pl.col("created_at").cast(pl.String)).to_dicts())
    else:
        _print_frame(
            df.select("instruction_id", "dataset_id", "language", "position", "status", "provider", "text"),
            title=f"{df.height} instructions",
            max_width=90,
        )


@instruct_app.command("show")
def instruct_show(iid: Annotated[str, typer.Argument(help="Instruction id.")], as_json: JsonOpt = False) -> None:
    """One instruction with its edit history."""
    from lensforge.instruct.store import show_instruction

    info = show_instruction(_ws(), iid)
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        if key != "history":
            console.print(f"[bold]{key}[/bold]: {value}")
    for h in info["history"]:
        console.print(f"  {h['ts']} {h['actor']} {h['kind']} {h['payload']}")


@instruct_app.command("edit")
def instruct_edit(
    iid: Annotated[str, typer.Argument(help="Instruction id.")],
    text: Annotated[str, typer.Option("--text", help="The new text.")],
    reason: ReasonOpt = None,
) -> None:
    """Edit an instruction: the new text gets a new id, the old instruction is disabled and linked to it."""
    from lensforge.instruct.store import edit_instruction

    res = edit_instruction(_ws(), iid, text, actor=_actor(), reason=reason or "")
    console.print(f"{iid} edited: new instruction {res['instruction_id']} replaces it (the old one is disabled)")


@instruct_app.command("disable")
def instruct_disable(iid: Annotated[str, typer.Argument(help="Instruction id.")], reason: ReasonOpt = None) -> None:
    """Disable an instruction: snapshots stop using it."""
    from lensforge.instruct.store import set_status

    set_status(_ws(), iid, "disabled", actor=_actor(), reason=reason or "")
    console.print(f"{iid} disabled")


@instruct_app.command("enable")
def instruct_enable(iid: Annotated[str, typer.Argument(help="Instruction id.")], reason: ReasonOpt = None) -> None:
    """Re-enable a disabled instruction."""
    from lensforge.instruct.store import set_status

    set_status(_ws(), iid, "active", actor=_actor(), reason=reason or "")
    console.print(f"{iid} enabled")


@instruct_app.command("rejects")
def instruct_rejects(
    ref: Annotated[str | None, typer.Argument(help="Dataset.")] = None, as_json: JsonOpt = False
) -> None:
    """Candidate instructions that failed validation, with the reason."""
    from lensforge.instruct.store import rejects

    df = rejects(_ws(), ref)
    if as_json:
        _print_json(df.with_columns(pl.col("created_at").cast(pl.String)).to_dicts())
    else:
        _print_frame(
            df.select("dataset_id", "language", "provider", "reason", "text"),
            title=f"{df.height} rejected",
            max_width=80,
        )


@instruct_app.command("cost")
def instruct_cost(as_json: JsonOpt = False) -> None:
    """The cost ledger: tokens and USD per provider, model and dataset."""
    from lensforge.instruct.ledger import cost_summary

    df = cost_summary(_ws())
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title="cost ledger")
