"""The ingest stage's public functions: ingest many datasets (progress through a callback), read back a report.

They return data and never print: the CLI and the app show it.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.datasets import dataset_ids, entry_from_catalog, resolve
from lensforge.catalog.db import connect, transaction
from lensforge.catalog.spec import DatasetEntry
from lensforge.errors import LensforgeError
from lensforge.ingest.overlap import run_near_dup_report, run_overlap_report
from lensforge.ingest.run import (
    CatalogWrite,
    IngestOutcome,
    IngestParams,
    commit_writes,
    ingest_dataset,
    ingest_together,
)
from lensforge.ingest.sources import resolve_source
from lensforge.ingest.steps import StepStats
from lensforge.ingest.versions import (
    current_version,
    latest_report,
    load_quarantine,
    registered_versions,
    step_stats,
    validation_results,
)
from lensforge.workspace import Workspace

# Datasets under this many raw bytes (~25K short texts) are ingested together, step by step: their cost is
# mostly per call (Great Expectations, DuckDB, Parquet), not per row.
SMALL_DATASET_BYTES = 4 << 20


def _raw_bytes(entry: DatasetEntry, sources: Path | None) -> int:
    """Size of a dataset's raw files (a Hub-only or unresolvable source counts as large)."""
    if entry.ingest is None:
        return SMALL_DATASET_BYTES
    try:
        root = resolve_source(entry, sources, allow_hub=False).root
    except LensforgeError:
        return SMALL_DATASET_BYTES
    if root is None:
        return SMALL_DATASET_BYTES
    paths = [root / f.path for f in entry.ingest.files]
    return sum(p.stat().st_size for p in paths if p.is_file())


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
            ids = dataset_ids(con)
        else:
            ids = list(dict.fromkeys(resolve(con, n) for n in names))
        return [(did, entry_from_catalog(con, did)) for did in ids]


@dataclass(frozen=True)
class IngestEvent:
    """Progress of `ingest_many`: a dataset started or finished a step, or finished altogether.

    `stats` is None when the step starts. `step` is "unchanged" (with position == steps) for a dataset
    whose version already exists, and "overlap" / "near_duplicates" for the cross-dataset reports.
    """

    dataset_id: str
    step: str
    position: int
    steps: int
    stats: StepStats | None = None


OnProgress = Callable[[IngestEvent], None]

# Datasets in flight at once. One more than the 2-core reference machine's cores: while one dataset is in a
# GIL-bound phase (Great Expectations, catalog rows) the other two keep Polars busy. Measured against 2 at
# 2.7M rows: 0.4-0.6 s less wall time for CSV, JSONL and the LlamaLens shape, ~0.3 GiB more peak RSS.
INGEST_WORKERS = 3


def ingest_many(
    ws: Workspace,
    targets: list[tuple[str, DatasetEntry]],
    *,
    sources: Path | None,
    params: IngestParams,
    actor: str,
    strict: bool = True,
    include_hub: bool = False,
    on_progress: OnProgress | None = None,
    workers: int = INGEST_WORKERS,
) -> dict[str, Any]:
    """Ingest each target; with strict=False a dataset whose source or spec is missing is skipped with a reason.

    Returns data only (outcomes, skipped datasets with reasons, the cross-dataset reports); progress goes
    to `on_progress`, called from worker threads.
    """
    emit = on_progress or (lambda _event: None)
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
    registered = registered_versions(ws) if todo else {}
    # Every dataset's catalog writes go in one transaction at the end: a catalog round trip costs tens of
    # milliseconds, which dominated small datasets. A run killed before it leaves version folders that the
    # next run removes, never a catalog row without its folder.
    writes: list[CatalogWrite] = []
    writes_lock = threading.Lock()

    def defer(write: CatalogWrite) -> None:
        with writes_lock:
            writes.append(write)

    def progress(did: str) -> Callable[[str, int, int, StepStats | None], None]:
        def on_step(step: str, position: int, total: int, stats: StepStats | None) -> None:
            emit(IngestEvent(did, step, position, total, stats))

        return on_step

    def done(did: str, result: IngestOutcome | LensforgeError) -> tuple[str, IngestOutcome | LensforgeError]:
        if isinstance(result, IngestOutcome) and result.status == "unchanged":
            emit(IngestEvent(did, "unchanged", len(result.steps), len(result.steps)))
        return did, result

    def one(did: str, entry: DatasetEntry) -> list[tuple[str, IngestOutcome | LensforgeError]]:
        try:
            outcome = ingest_dataset(
                ws,
                entry,
                sources=sources,
                params=params,
                actor=actor,
                on_step=progress(did),
                allow_hub=strict or include_hub,
                registered=registered,
                defer=defer,
            )
        except LensforgeError as exc:
            return [(did, exc)]
        return [done(did, outcome)]

    def together(group: list[tuple[str, DatasetEntry]]) -> list[tuple[str, IngestOutcome | LensforgeError]]:
        results = ingest_together(
            ws,
            [entry for _, entry in group],
            sources=sources,
            params=params,
            actor=actor,
            defer=defer,
            on_step=progress,
            allow_hub=strict or include_hub,
            registered=registered,
        )
        return [done(did, r) for (did, _), r in zip(group, results, strict=True)]

    # Small datasets go through their steps together (a step's fixed cost paid once per group, one group per
    # worker, groups of about equal bytes); larger ones one by one. Datasets overlap: while one is in Polars
    # (which releases the GIL) another can be validated. Largest work first: a big dataset started last
    # would finish alone while the other worker idles (LlamaLens has sets from 500 to 400K rows).
    sizes = {did: _raw_bytes(entry, sources) for did, entry in todo}
    by_size = sorted(todo, key=lambda t: -sizes[t[0]])
    small = [(did, entry) for did, entry in by_size if sizes[did] < SMALL_DATASET_BYTES]
    lanes = max(1, min(workers, len(small)))
    groups: list[list[tuple[str, DatasetEntry]]] = [[] for _ in range(lanes)]
    loads = [0] * lanes
    for did, entry in small:
        k = loads.index(min(loads))
        groups[k].append((did, entry))
        loads[k] += sizes[did]
    work: list[tuple[int, Callable[[], list[tuple[str, IngestOutcome | LensforgeError]]]]] = [
        (sizes[did], functools.partial(one, did, entry)) for did, entry in by_size if sizes[did] >= SMALL_DATASET_BYTES
    ]
    work += [(load, functools.partial(together, group)) for load, group in zip(loads, groups, strict=True) if group]
    work.sort(key=lambda item: -item[0])
    results: dict[str, IngestOutcome | LensforgeError] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(run) for _, run in work]
            for future in futures:
                results.update(future.result())
    finally:
        if writes:  # what finished is registered, even when another dataset failed
            with transaction(ws) as con:
                commit_writes(con, writes)
    for did, _ in todo:
        result = results[did]
        if isinstance(result, LensforgeError):
            if strict:
                raise result
            skipped.append({"dataset_id": did, "reason": str(result)})
        else:
            outcomes.append(result.as_dict())
    overlap = None
    near = None
    if outcomes:
        emit(IngestEvent("", "overlap", 0, 1))
        overlap = run_overlap_report(ws, actor=actor)
        if params.near_dup:
            emit(IngestEvent("", "near_duplicates", 0, 1))
            near = run_near_dup_report(ws, actor=actor)
    return {"ingested": outcomes, "skipped": skipped, "overlap": overlap, "near_duplicates": near}


def ingest_report(ws: Workspace, name: str, *, examples: int = 5) -> dict[str, Any]:
    """Accounting (per file: physical lines, records, declared counts), per-step stats, validation, leakage,
    overlap and near-duplicate findings of a dataset's current version."""
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
    steps = [
        {**r, "dropped": json.loads(r["dropped"]), "detail": json.loads(r["detail"]) if r["detail"] else {}}
        for r in step_stats(ws, version["version_id"]).drop("position").to_dicts()
    ]
    files = [
        {
            "path": f["path"],
            "split": f["split"],
            "physical_lines": f.get("lines"),
            "records": f["records"],
            "parsed": f.get("parsed"),
            "declared": f.get("expected_records"),
            "quarantined": sum((f.get("quarantined") or {}).values()),
        }
        for f in report["raw_files"]
    ]
    return {
        "version": version,
        "accounting": report["accounting"],
        "files": files,
        "steps": steps,
        "problems": report.get("problems", []),
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
