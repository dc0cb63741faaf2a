"""The instruct stage's public functions for the CLI, the app and the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lensforge.catalog.datasets import entry_from_catalog, resolve
from lensforge.catalog.db import connect, reading
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_dataset_ids
from lensforge.instruct.generate import DEFAULT_N, dataset_labels, generate_for, make_providers
from lensforge.instruct.store import active_instructions, disable_stale
from lensforge.workspace import Workspace

# Progress of `generate_many`: (datasets done, datasets in all, the dataset starting now or None at the end).
DatasetProgress = Callable[[int, int, str | None], None]


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
    replace_stale: bool = False,
    on_progress: DatasetProgress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Instructions for many datasets; one dataset's failure stops with its name. Returns what was done, per
    dataset and language (`outcomes`), for the caller to show.

    `replace_stale` first disables the instructions written for a label space the approved mapping no longer
    gives (what a snapshot build refuses), so the sets are topped up with instructions naming today's labels.
    `on_progress(done, total, dataset)` is called before each dataset and once at the end (dataset None);
    `on_note` receives the batch submissions of `batch=True` (one line each).
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

        prefetch_with_batches(ws, targets, providers=providers, n=n, languages=languages, on_note=on_note)
    # Every dataset's entry and active instructions in one catalog connection and one query (opening one costs
    # ~30 ms; a run over datasets whose instructions are complete is nothing but these reads). Not held open
    # across generation, which waits on providers while other processes may want to write.
    with reading(ws):
        have = active_instructions(ws, targets)
        with connect(ws, read_only=True) as con:
            entries = {did: entry_from_catalog(con, did) for did in targets}
    outcomes = []
    for k, did in enumerate(targets):
        if on_progress is not None:
            on_progress(k, len(targets), did)
        mine = {key: rows for key, rows in have.items() if key[0] == did}
        outcomes += [
            o.as_dict()
            for o in generate_for(
                ws,
                did,
                providers=providers,
                n=n,
                languages=languages,
                concurrency=concurrency,
                actor=actor,
                known=(entries[did], mine),
            )
        ]
    if on_progress is not None:
        on_progress(len(targets), len(targets), None)
    return {
        "providers": [{"name": p.name, "model": p.model} for p in providers],
        "outcomes": outcomes,
        "requests_sent": sum(o["requests_sent"] for o in outcomes),
        "cache_hits": sum(o["cache_hits"] for o in outcomes),
        "disabled_stale": stale,
    }
