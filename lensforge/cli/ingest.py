"""`lensforge ingest`: read, clean, split and validate datasets; `ingest report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from lensforge.cli.common import (
    JsonOpt,
    _actor,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
)
from lensforge.errors import LensforgeError


@app.command(context_settings={"allow_extra_args": False})
def ingest(
    names: Annotated[list[str] | None, typer.Argument(help="Datasets to ingest, or `report NAME`.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset whose source can be found.")] = False,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources", help="Folder of local mirrors, one sub-folder per dataset slug (env LENSFORGE_SOURCES)."
        ),
    ] = None,
    near_dup: Annotated[bool, typer.Option("--near-dup", help="Report MinHash-LSH near duplicates.")] = False,
    drop_near_dup: Annotated[
        bool, typer.Option("--drop-near-dup", help="Drop train rows that nearly duplicate a dev/test row.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for carved-out splits.")] = 42,
    hub: Annotated[
        bool, typer.Option("--hub", help="With --all, also fetch Hub-only datasets (needs network).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read, clean, dedup, split and validate datasets; `ingest report NAME` shows a version's report."""
    from lensforge.ingest.api import ingest_many, ingest_report, ingest_targets
    from lensforge.workspace import resolve_sources

    names = names or []
    ws = _ws()
    if names and names[0] == "report":
        if len(names) != 2:
            raise LensforgeError("usage: lensforge ingest report NAME")
        rep = ingest_report(ws, names[1])
        if as_json:
            _print_json(rep)
        else:
            _print_ingest_report(rep)
        return
    from lensforge.ingest.run import IngestParams

    params = IngestParams(seed=seed, near_dup=near_dup, drop_near_dup=drop_near_dup)
    targets = ingest_targets(ws, names, all_)
    result = ingest_many(
        ws,
        targets,
        sources=resolve_sources(sources),
        params=params,
        actor=_actor(),
        strict=not all_,
        console=None if as_json else console,
    )
    if as_json:
        _print_json(result)


def _print_ingest_report(rep: dict[str, Any]) -> None:
    v = rep["version"]
    console.print(f"[bold]{v['dataset_id']}[/bold] version {v['version_id']} ({'valid' if v['valid'] else 'INVALID'})")
    acc = rep["accounting"]
    console.print(
        f"read {acc['records_read']} | kept "
        + ", ".join(f"{k} {n}" for k, n in acc["kept"].items())
        + " | dropped "
        + (", ".join(f"{k} {n}" for k, n in acc["dropped"].items()) or "none")
    )
    console.print(f"split: {rep['split']['method']} (seed {rep['split']['seed']})")
    table = Table(title="validation (Great Expectations)")
    for col in ("expectation", "column", "success", "observed", "unexpected"):
        table.add_column(col, overflow="fold", max_width=60)
    for r in rep["validation"]:
        table.add_row(
            r["expectation"],
            str(r["column"] or ""),
            "yes" if r["success"] else "[red]NO[/red]",
            json.dumps(r["observed_value"], ensure_ascii=False)[:60],
            str(r["unexpected_count"]),
        )
    console.print(table)
    if rep["leakage"]:
        _print_frame(pl.DataFrame(rep["leakage"]), title="leakage removed (examples)")
    if rep["overlaps"]:
        _print_frame(pl.DataFrame(rep["overlaps"]), title="cross-dataset overlap")
    if rep.get("near_duplicates"):
        _print_frame(pl.DataFrame(rep["near_duplicates"]), title="near duplicates (examples)")
