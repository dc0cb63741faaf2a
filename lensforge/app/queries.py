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

from lensforge.catalog.db import connect, query_frame
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

# ----------------------------------------------------------------------------- catalog summaries


def has_catalog(ws: Workspace) -> bool:
    """Whether the workspace has a catalog yet (the app never creates one by merely looking)."""
    return ws.catalog_path.is_file()


def stage_counts(ws: Workspace) -> dict[str, Any]:
    """What each stage has produced so far, in one read-only connection."""

    def by_status(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
        return {str(k): int(n) for k, n in con.execute(sql).fetchall()}

    with connect(ws, read_only=True) as con:
        one = con.execute(
            "SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM ingested_versions), "
            "(SELECT count(*) FROM ingested_versions WHERE is_current), "
            "(SELECT coalesce(sum(kept_train + kept_dev + kept_test), 0) FROM ingested_versions WHERE is_current), "
            "(SELECT count(*) FROM snapshots), (SELECT count(*) FROM publications), "
            "(SELECT count(*) FROM llm_calls), (SELECT coalesce(sum(cost_usd), 0) FROM llm_calls)"
        ).fetchall()[0]
        mappings = by_status(
            con,
            "SELECT m.status, count(*) FROM label_mappings m JOIN ingested_versions v USING (version_id) "
            "WHERE v.is_current GROUP BY m.status",
        )
        unopened = con.execute(
            "SELECT count(*) FROM ingested_versions v WHERE v.is_current AND NOT EXISTS "
            "(SELECT 1 FROM label_mappings m WHERE m.version_id = v.version_id) "
            "AND v.dataset_id IN (SELECT dataset_id FROM datasets WHERE task_type <> 'generation')"
        ).fetchall()[0][0]
        instructions = by_status(con, "SELECT status, count(*) FROM instructions GROUP BY status")
        runs = by_status(con, "SELECT status, count(*) FROM runs GROUP BY status")
        evals = by_status(con, "SELECT status, count(*) FROM evals GROUP BY status")
    return {
        "datasets": int(one[0]),
        "versions": int(one[1]),
        "current_versions": int(one[2]),
        "kept_rows": int(one[3]),
        "snapshots": int(one[4]),
        "publications": int(one[5]),
        "llm_calls": int(one[6]),
        "cost_usd": float(one[7]),
        "mappings": mappings,
        "datasets_without_review": int(unopened),
        "instructions": instructions,
        "runs": runs,
        "evals": evals,
    }


def mapping_status(ws: Workspace) -> pl.DataFrame:
    """Per current version: how many source labels are proposed, approved, rejected (none yet: never opened)."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT v.dataset_id, v.version_id, d.task_type, "
            "count(m.raw_label) FILTER (WHERE m.status = 'proposed') AS proposed, "
            "count(m.raw_label) FILTER (WHERE m.status = 'approved') AS approved, "
            "count(m.raw_label) FILTER (WHERE m.status = 'rejected') AS rejected "
            "FROM ingested_versions v JOIN datasets d USING (dataset_id) "
            "LEFT JOIN label_mappings m ON m.version_id = v.version_id "
            "WHERE v.is_current GROUP BY ALL ORDER BY v.dataset_id",
        )


def instruction_counts(ws: Workspace) -> pl.DataFrame:
    """Active and disabled instructions per dataset and language."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT dataset_id, language, count(*) FILTER (WHERE status = 'active') AS active, "
            "count(*) FILTER (WHERE status = 'disabled') AS disabled FROM instructions "
            "GROUP BY ALL ORDER BY dataset_id, language",
        )


def runs_table(ws: Workspace) -> pl.DataFrame:
    """The `runs` rows read directly (for when the finetune stage cannot be imported)."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT run_id, created_at, finished_at, status, actor, snapshot_id, base_model, preset, steps, "
            "final_loss, wall_seconds, error FROM runs ORDER BY created_at DESC, run_id",
        )


def run_metrics(ws: Workspace, run_id: str) -> pl.DataFrame:
    """Per-step loss and learning rate of one run, straight from `run_metrics`."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT step, loss, learning_rate, epoch FROM run_metrics WHERE run_id = ? ORDER BY step",
            [run_id],
        )


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

SNAPSHOT_SPLITS = ("train", "dev", "test")


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
    if split not in SNAPSHOT_SPLITS or not path.is_file():
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
