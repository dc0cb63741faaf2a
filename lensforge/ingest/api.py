"""The ingest stage's public functions: ingest many datasets with progress, and read back a report."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from lensforge.catalog.datasets import entry_from_catalog, resolve
from lensforge.catalog.db import connect
from lensforge.catalog.spec import DatasetEntry
from lensforge.errors import LensforgeError
from lensforge.ingest.overlap import latest_report, run_near_dup_report, run_overlap_report
from lensforge.ingest.run import IngestOutcome, IngestParams, ingest_dataset
from lensforge.ingest.versions import current_version, load_quarantine, validation_results
from lensforge.progress import progress_bar
from lensforge.workspace import Workspace


def entry_for(ws: Workspace, dataset_id: str) -> DatasetEntry:
    with connect(ws, read_only=True) as con:
        return entry_from_catalog(con, dataset_id)


def ingest_targets(ws: Workspace, names: list[str], all_: bool) -> list[tuple[str, DatasetEntry]]:
    """The datasets a user named (or every registered one), with their entries, in one catalog read."""
    if all_ and names:
        raise LensforgeError("give dataset names or --all, not both")
    if not all_ and not names:
        raise LensforgeError("name the datasets to ingest, or pass --all")
    with connect(ws, read_only=True) as con:
        if all_:
            ids = [r[0] for r in con.execute("SELECT dataset_id FROM datasets ORDER BY dataset_id").fetchall()]
        else:
            ids = list(dict.fromkeys(resolve(con, n) for n in names))
        return [(did, entry_from_catalog(con, did)) for did in ids]


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
            *(str(o["kept"][s]) for s in ("train", "dev", "test")),
            ", ".join(f"{k} {v}" for k, v in o["dropped"].items()) or "-",
            "yes" if o["valid"] else "[red]NO: " + "; ".join(o["failed_expectations"]) + "[/red]",
        )
    return table


def ingest_many(
    ws: Workspace,
    targets: list[tuple[str, DatasetEntry]],
    *,
    sources: Path | None,
    params: IngestParams,
    actor: str,
    strict: bool = True,
    include_hub: bool = False,
    console: Console | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Ingest each target; with strict=False a dataset whose source or spec is missing is skipped with a reason."""
    outcomes: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    todo = []
    for did, entry in targets:
        if entry.ingest is None and entry.source.hub is None:
            if strict:
                raise LensforgeError(f"{did} has no ingestion spec in the registry", hint="add an `ingest` block")
            skipped.append({"dataset_id": did, "reason": "no ingestion spec"})
            continue
        if entry.ingest is None and not strict and not include_hub:
            # Hub-only entries (the released LlamaLens configs) are fetched only when asked for by name or --hub.
            skipped.append({"dataset_id": did, "reason": "no ingestion spec"})
            continue
        todo.append((did, entry))
    progress = progress_bar(console)
    if todo:
        # Great Expectations takes seconds to import: start now, while the first files are read.
        from lensforge.ingest.validate import _import_gx

        threading.Thread(target=_import_gx, daemon=True).start()
    with progress:
        overall = progress.add_task("ingest", total=len(todo))

        def one(did: str, entry: DatasetEntry) -> IngestOutcome:
            def on_step(msg: str) -> None:
                progress.update(overall, description=f"{did}: {msg}")

            return ingest_dataset(
                ws,
                entry,
                sources=sources,
                params=params,
                actor=actor,
                on_step=on_step,
                allow_hub=strict or include_hub,
            )

        # Datasets overlap: while one is in Polars (which releases the GIL) another can be validated.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [(did, pool.submit(one, did, entry)) for did, entry in todo]
            for did, future in futures:
                try:
                    outcome = future.result()
                except LensforgeError as exc:
                    if strict:
                        for _, other in futures:
                            other.cancel()
                        raise
                    skipped.append({"dataset_id": did, "reason": str(exc)})
                else:
                    outcomes.append(outcome.as_dict())
                    if console is not None:
                        if outcome.status == "unchanged":
                            progress.console.print(f"{did}: unchanged (version {outcome.version_id} already ingested)")
                        else:
                            progress.console.print(f"{did}: new version {outcome.version_id}")
                        for problem in outcome.problems:
                            progress.console.print(f"[red]{did} is invalid:[/red] {problem}", highlight=False)
                        for left in outcome.leftovers:
                            progress.console.print(f"{did}: {left['kind']} {left['path']}: {left['action']}")
                progress.advance(overall)
        overlap = None
        near = None
        if outcomes:
            progress.update(overall, description="cross-dataset overlap")
            overlap = run_overlap_report(ws, actor=actor)
            if params.near_dup:
                progress.update(overall, description="cross-dataset near duplicates")
                near = run_near_dup_report(ws, actor=actor)
    if console is not None:
        if outcomes:
            console.print(_accounting_table(outcomes))
        no_spec = [s for s in skipped if s["reason"] == "no ingestion spec"]
        if no_spec:
            console.print(f"{len(no_spec)} registered datasets have no ingestion spec and were skipped")
        for s in skipped:
            if s["reason"] != "no ingestion spec":
                console.print(f"[yellow]skipped[/yellow] {s['dataset_id']}: {s['reason']}")
        if overlap and overlap["summary"]:
            console.print(
                f"cross-dataset overlap report {overlap['report_id']}: "
                f"{len(overlap['summary'])} dataset/split pairs share texts"
            )
        if near:
            console.print(f"near-duplicate report {near['report_id']}: {near['pairs']} cross-dataset pairs")
    return {"ingested": outcomes, "skipped": skipped, "overlap": overlap, "near_duplicates": near}


def ingest_report(ws: Workspace, name: str, *, examples: int = 5) -> dict[str, Any]:
    """Accounting, validation, leakage, overlap and near-duplicate findings of a dataset's current version."""
    with connect(ws, read_only=True) as con:
        did = resolve(con, name)
    version = current_version(ws, did)
    if version is None:
        raise LensforgeError(f"{did} has not been ingested yet", hint=f"run `lensforge ingest {name}`")
    root = ws.root / version["path"]
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    quarantine = load_quarantine(ws, version)
    leaks = (
        quarantine.filter(pl.col("reason").str.starts_with("leak_"))
        .group_by("reason", maintain_order=True)
        .head(examples)
        .select("reason", "split", "source_file", "source_line", pl.col("text").str.slice(0, 80))
        .to_dicts()
    )
    overlap_rows: list[dict[str, Any]] = []
    latest = latest_report(ws, "cross_dataset_overlap")
    if latest:
        overlap_rows = [r for r in latest["summary"]["pairs"] if did in (r["a_dataset"], r["b_dataset"])]
    near_rows: list[dict[str, Any]] = []
    if (root / "near_duplicates.parquet").is_file():
        near = pl.read_parquet(root / "near_duplicates.parquet")
        near_rows = (
            near.head(examples)
            .select(
                "kind",
                "a_split",
                "b_split",
                pl.col("similarity").round(3),
                pl.col("a_text").str.slice(0, 60),
                pl.col("b_text").str.slice(0, 60),
            )
            .to_dicts()
        )
    return {
        "version": version,
        "accounting": report["accounting"],
        "split": report["split"],
        "label_counts": report["label_counts"],
        "validation": [
            {**r, "observed_value": json.loads(r["observed_value"]) if r["observed_value"] else None}
            for r in validation_results(ws, version["version_id"]).rename({"column_name": "column"}).to_dicts()
        ],
        "leakage": leaks,
        "overlaps": overlap_rows,
        "near_duplicates": near_rows,
    }
