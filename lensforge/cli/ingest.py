"""`lensforge ingest`: read, clean, split and validate datasets (`ingest NAME...`, `ingest --all`), and
`ingest report NAME`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import click
import polars as pl
import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from typer.core import TyperGroup

from lensforge.catalog.constants import SPLITS
from lensforge.cli.common import JsonOpt, _actor, _print_frame, _print_json, _ws, app, console
from lensforge.progress import progress_bar


class _IngestGroup(TyperGroup):
    """`ingest NAME...` and `ingest --all` run the `run` sub-command; `ingest report NAME` shows a report."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


ingest_app = typer.Typer(
    cls=_IngestGroup,
    help="Read, clean, dedup, split and validate datasets (`ingest NAME...` or `ingest --all`); "
    "`ingest report NAME` shows a version's report.",
)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("run", context_settings={"allow_extra_args": False})
def ingest_run(
    names: Annotated[list[str] | None, typer.Argument(help="Datasets to ingest.")] = None,
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
    """Ingest the named datasets (or --all): the default when `ingest` is followed by names or options."""
    from lensforge.ingest.api import ingest_many, ingest_targets
    from lensforge.ingest.run import IngestParams
    from lensforge.workspace import resolve_sources

    ws = _ws()
    params = IngestParams(seed=seed, near_dup=near_dup, drop_near_dup=drop_near_dup)
    targets = ingest_targets(ws, names or [], all_)
    progress = progress_bar(None if as_json else console)
    with progress:
        result = ingest_many(
            ws,
            targets,
            sources=resolve_sources(sources),
            params=params,
            actor=_actor(),
            strict=not all_,
            include_hub=hub,
            on_progress=None if as_json else _StepBars(progress, len(targets)),
        )
    if as_json:
        _print_json(result)
    else:
        _print_outcome(result)


@ingest_app.command("report")
def ingest_report_cmd(
    name: Annotated[str, typer.Argument(help="Dataset (name, name@version or language/name@version).")],
    as_json: JsonOpt = False,
) -> None:
    """Accounting per file and per step, validation, leakage, overlap of a dataset's current version."""
    from lensforge.ingest.api import ingest_report

    rep = ingest_report(_ws(), name)
    if as_json:
        _print_json(rep)
    else:
        _print_ingest_report(rep)


class _StepBars:
    """One bar per ingest step: datasets through it so far, and the rows it handed on."""

    def __init__(self, progress: Progress, datasets: int) -> None:
        self.progress = progress
        self.total = datasets
        self.overall = progress.add_task("datasets", total=datasets)
        self.bars: dict[str, TaskID] = {}
        self.rows: dict[str, int] = {}
        self.unchanged = 0

    def __call__(self, event: Any) -> None:
        if event.step in ("overlap", "near_duplicates"):
            self.progress.update(self.overall, description=f"cross-dataset {event.step.replace('_', ' ')}")
            return
        if event.step == "unchanged":
            self.unchanged += 1
            for bar in self.bars.values():
                self.progress.advance(bar)
            self.progress.advance(self.overall)
            return
        if event.stats is None:
            self.progress.update(self.overall, description=f"datasets ({event.dataset_id}: {event.step})")
            return
        if event.step not in self.bars:
            self.rows[event.step] = 0
            self.bars[event.step] = self.progress.add_task(event.step, total=self.total, completed=self.unchanged)
        self.rows[event.step] += event.stats.rows_out
        self.progress.update(
            self.bars[event.step], advance=1, description=f"{event.step:<13} {self.rows[event.step]:>11,} rows"
        )
        if event.position == event.steps - 1:
            self.progress.advance(self.overall)


def _accounting_table(outcomes: list[dict[str, Any]]) -> Table:
    table = Table(title="row accounting")
    for col in ("dataset", "version", "status", "read", "train", "dev", "test", "dropped (by reason)", "valid"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        table.add_row(
            o["dataset_id"],
            o["version_id"],
            o["status"],
            str(o["records_read"]),
            *(str(o["kept"][s]) for s in SPLITS),
            ", ".join(f"{k} {v}" for k, v in o["dropped"].items()) or "-",
            "yes" if o["valid"] else "[red]NO: " + "; ".join(o["failed_expectations"]) + "[/red]",
        )
    return table


def _print_outcome(result: dict[str, Any]) -> None:
    outcomes = result["ingested"]
    for o in outcomes:
        for problem in o["problems"]:
            console.print(f"[red]{o['dataset_id']} is invalid:[/red] {problem}", highlight=False)
        for left in o["leftovers"]:
            console.print(f"{o['dataset_id']}: {left['kind']} {left['path']}: {left['action']}", highlight=False)
    if outcomes:
        console.print(_accounting_table(outcomes))
    skipped = result["skipped"]
    no_spec = [s for s in skipped if s["reason"] == "no ingestion spec"]
    if no_spec:
        console.print(f"{len(no_spec)} registered datasets have no ingestion spec and were skipped")
    for s in skipped:
        if s["reason"] != "no ingestion spec":
            console.print(f"[yellow]skipped[/yellow] {s['dataset_id']}: {s['reason']}", highlight=False)
    overlap = result["overlap"]
    if overlap and overlap["summary"]:
        console.print(
            f"cross-dataset overlap report {overlap['report_id']}: "
            f"{len(overlap['summary'])} dataset/split pairs share texts"
        )
    near = result["near_duplicates"]
    if near:
        console.print(f"near-duplicate report {near['report_id']}: {near['pairs']} cross-dataset pairs")


def _steps_table(steps: list[dict[str, Any]]) -> Table:
    table = Table(title="steps (rows through each step)")
    for col in ("step", "rows in", "rows out", "dropped (by reason)", "seconds", "peak RSS MiB"):
        table.add_column(col, overflow="fold", justify="left" if col in ("step", "dropped (by reason)") else "right")
    for s in steps:
        table.add_row(
            s["step"],
            f"{s['rows_in']:,}",
            f"{s['rows_out']:,}",
            ", ".join(f"{k} {v:,}" for k, v in s["dropped"].items()) or "-",
            f"{s['seconds']:.3f}",
            "" if s["peak_rss_mib"] is None else f"{s['peak_rss_mib']:.0f}",
        )
    return table


def _print_ingest_report(rep: dict[str, Any]) -> None:
    v = rep["version"]
    console.print(f"[bold]{v['dataset_id']}[/bold] version {v['version_id']} ({'valid' if v['valid'] else 'INVALID'})")
    for problem in rep["problems"]:
        console.print(f"[red]invalid:[/red] {problem}", highlight=False)
    acc = rep["accounting"]
    console.print(
        f"read {acc['records_read']} | kept "
        + ", ".join(f"{k} {n}" for k, n in acc["kept"].items())
        + " | dropped "
        + (", ".join(f"{k} {n}" for k, n in acc["dropped"].items()) or "none")
    )
    console.print(f"split: {rep['split']['method']} (seed {rep['split']['seed']})")
    files = pl.DataFrame(rep["files"], infer_schema_length=None)
    _print_frame(files, title="files (physical lines, records read, records declared)")
    if rep["steps"]:
        console.print(_steps_table(rep["steps"]))
    table = Table(title="validation (Great Expectations, then ingest checks)")
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
