"""The instruct stage's public functions for the CLI, the app and the pipeline."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from lensforge.catalog.datasets import entry_from_catalog, resolve
from lensforge.catalog.db import connect
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_dataset_ids
from lensforge.instruct.generate import DEFAULT_N, dataset_labels, generate_for, make_providers
from lensforge.instruct.store import disable_stale
from lensforge.progress import progress_bar
from lensforge.workspace import Workspace


def generation_targets(ws: Workspace, names: list[str], all_: bool) -> list[str]:
    """Named datasets, or with `all_` every dataset that has a current ingested version."""
    if all_ and names:
        raise LensforgeError("give dataset names or --all, not both")
    with connect(ws, read_only=True) as con:
        if all_:
            ids = current_dataset_ids(con)
            if not ids:
                raise LensforgeError("no dataset has been ingested yet", hint="run `lensforge ingest` first")
            return ids
        if not names:
            raise LensforgeError("name the datasets, or pass --all")
        return [resolve(con, n) for n in names]


def generate_many(
    ws: Workspace,
    names: list[str],
    *,
    all_: bool = False,
    n: int = DEFAULT_N,
    provider_names: list[str] | None = None,
    models: dict[str, str] | None = None,
    languages: str = "both",
    batch: bool = False,
    concurrency: int = 4,
    actor: str = "auto",
    console: Console | None = None,
    replace_stale: bool = False,
) -> dict[str, Any]:
    """Instructions for many datasets with a progress bar; one dataset's failure stops with its name.

    `replace_stale` first disables the instructions written for a label space the approved mapping no longer
    gives (what a snapshot build refuses), so the sets are topped up with instructions naming today's labels.
    """
    targets = generation_targets(ws, names, all_)
    providers = make_providers(provider_names, models)
    stale: list[str] = []
    if replace_stale:
        for did in targets:
            with connect(ws, read_only=True) as con:
                entry = entry_from_catalog(con, did)
            stale += disable_stale(
                ws, did, dataset_labels(ws, did, entry), actor=actor, reason="label space changed (--replace-stale)"
            )
    if batch:
        from lensforge.instruct.prefetch import prefetch_with_batches

        prefetch_with_batches(ws, targets, providers=providers, n=n, languages=languages, console=console)
    outcomes = []
    progress = progress_bar(console)
    with progress:
        task = progress.add_task("instructions", total=len(targets))
        for did in targets:
            progress.update(task, description=f"instructions: {did}")
            outcomes += [
                o.as_dict()
                for o in generate_for(
                    ws, did, providers=providers, n=n, languages=languages, concurrency=concurrency, actor=actor
                )
            ]
            progress.advance(task)
    if console is not None:
        table = Table(title=f"instructions ({', '.join(p.name + ':' + p.model for p in providers)})")
        for col in ("dataset", "lang", "status", "accepted", "rejected", "sent", "cached"):
            table.add_column(col)
        for o in outcomes:
            table.add_row(
                o["dataset_id"],
                o["language"],
                o["status"],
                str(o["accepted"]),
                str(o["rejected"]),
                str(o["requests_sent"]),
                str(o["cache_hits"]),
            )
        console.print(table)
    return {
        "providers": [{"name": p.name, "model": p.model} for p in providers],
        "outcomes": outcomes,
        "requests_sent": sum(o["requests_sent"] for o in outcomes),
        "cache_hits": sum(o["cache_hits"] for o in outcomes),
        "disabled_stale": stale,
    }
