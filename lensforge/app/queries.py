"""Read-only queries the app needs beyond the stages' public functions.

Small catalog reads that sum up what each stage produced, one short read-only connection each, so a
CLI command writing at the same time is not blocked for long. The sample browser lives in the curate
stage (`lensforge.curate.samples`), which `lensforge samples` shares.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.datasets import count_datasets
from lensforge.catalog.db import connect
from lensforge.curate.mappings import STATUSES, review_status
from lensforge.errors import LensforgeError
from lensforge.evaluate.store import eval_status_counts
from lensforge.finetune.runs import run_status_counts
from lensforge.ingest.versions import version_counts
from lensforge.instruct.ledger import call_totals
from lensforge.instruct.store import instruction_status_counts
from lensforge.release.store import release_counts
from lensforge.workspace import Workspace

# ----------------------------------------------------------------------------- catalog summaries


def has_catalog(ws: Workspace) -> bool:
    """Whether the workspace has a catalog yet (the app never creates one by merely looking)."""
    return ws.catalog_path.is_file()


def stage_counts(ws: Workspace) -> dict[str, Any]:
    """What each stage has produced so far, each count from the table's owner, in one read-only connection."""
    with connect(ws, read_only=True) as con:
        versions = version_counts(con)
        release = release_counts(con)
        calls = call_totals(con)
        review = review_status(con)
        out = {
            "datasets": count_datasets(con),
            **versions,
            **release,
            **calls,
            "instructions": instruction_status_counts(con),
            "runs": run_status_counts(con),
            "evals": eval_status_counts(con),
        }
    mapped = {s: int(review[s].sum()) for s in STATUSES}
    out["mappings"] = {s: n for s, n in mapped.items() if n}
    out["datasets_without_review"] = review.filter(
        (pl.col("mapped") == 0) & (pl.col("task_type") != "generation")
    ).height
    return out


def mapping_status(ws: Workspace) -> pl.DataFrame:
    """Per current version: how many source labels are proposed, approved, rejected (none yet: never opened)."""
    with connect(ws, read_only=True) as con:
        return review_status(con).select("dataset_id", "version_id", "task_type", *STATUSES)


def log_tail(path: str | Path, max_bytes: int = 8000) -> str:
    """The end of a run's log file (it may be large and still growing)."""
    p = Path(path)
    if not p.is_file():
        return ""
    with p.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        data = fh.read()
    return data.decode("utf-8", errors="replace")


def run_phase(run: dict[str, Any], log: str) -> str:
    """What a running run is doing before its first loss: the phase the run records, if it does, else the last
    line of its log (loading the model, tokenising…), else "starting"."""
    phase = run.get("phase")
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if phase:
        return f"{phase}" + (f" · {lines[-1][:160]}" if lines else "")
    return lines[-1][:200] if lines else "starting"


def predictions_side_by_side(ws: Workspace, eval_a: dict[str, Any], eval_b: dict[str, Any]) -> pl.DataFrame:
    """The predictions of two evaluations joined on sample id (a = base, b = fine-tuned, usually)."""
    pa = ws.root / eval_a["path"] / "predictions.parquet"
    pb = ws.root / eval_b["path"] / "predictions.parquet"
    if not (pa.is_file() and pb.is_file()):
        return pl.DataFrame()
    cols = ["id", "dataset", "language", "input", "gold", "prediction", "raw_output", "parseable"]
    a = pl.read_parquet(pa, columns=cols)
    b = pl.read_parquet(pb, columns=["id", "dataset", "prediction", "raw_output", "parseable"])
    return a.rename({c: f"{c}_a" for c in ("prediction", "raw_output", "parseable")}).join(
        b.rename({c: f"{c}_b" for c in ("prediction", "raw_output", "parseable")}), on=["id", "dataset"], how="inner"
    )


# ----------------------------------------------------------------------------- a snapshot as the model sees it


@dataclass
class SnapshotPage:
    """One page of a snapshot split's rows and how many match."""

    total: int
    rows: pl.DataFrame
    datasets: list[str]  # every dataset of the split (for the filter)


def snapshot_rows(
    ws: Workspace,
    folder: Path,
    split: str,
    *,
    datasets: tuple[str, ...] = (),
    text: str = "",
    sample_id: str = "",
    limit: int = 20,
    offset: int = 0,
) -> SnapshotPage:
    """Rows of `folder/data/<split>.parquet` with the instruction, input and answer the model is given.

    Read in place through DuckDB with WHERE + LIMIT/OFFSET, in the file's order (the snapshot's data
    order); text matches the input or the answer, case-insensitively.
    """
    path = folder / "data" / f"{split}.parquet"
    if split not in SPLITS or not path.is_file():
        raise LensforgeError(f"the snapshot has no {split!r} split at {path}")
    where, params = [], []
    if datasets:
        where.append("list_contains(?, dataset)")
        params.append(list(datasets))
    if text.strip():
        where.append("(input ILIKE ? OR output ILIKE ?)")
        params += [f"%{text.strip()}%"] * 2
    if sample_id.strip():
        where.append("id = ?")
        params.append(sample_id.strip())
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    con = duckdb.connect(":memory:")
    try:
        source = f"read_parquet('{_sql_path(path)}')"
        total = int(con.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchall()[0][0])
        rows = con.sql(
            f"SELECT id, dataset, language, task, instruction_id, instruction, input, output, "
            f"messages[length(messages)].content AS answer FROM {source}{clause} LIMIT ? OFFSET ?",
            params=[*params, int(limit), int(offset)],
        ).pl()
        names = [r[0] for r in con.execute(f"SELECT DISTINCT dataset FROM {source} ORDER BY 1").fetchall()]
    finally:
        con.close()
    return SnapshotPage(total, rows, names)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
