"""The `evals` and `scores` catalog tables: an evaluation's row from start to finish, its scores, and reads.

The only module with SQL for these tables (tests/test_table_owners.py checks it). An evaluation's row is written
`running` before any model is loaded and always closed: `finished` together with its scores, or `failed` with the
error, so a crash never leaves half a result.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.db import connect, query_frame, read_frame
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace


def insert_eval(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """The evaluation's row, status `running` (inside the caller's transaction); `params` is dumped to JSON."""
    values = {**row, "status": "running", "params": json.dumps(row.get("params") or {})}
    cols = list(values)
    con.execute(
        f"INSERT INTO evals ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", [values[c] for c in cols]
    )


def finish_eval(
    con: duckdb.DuckDBPyConnection, eval_id: str, datasets: list[dict[str, Any]], *, wall: float, params: dict
) -> None:
    """One score row per dataset and metric, then the row marked finished (inside the caller's transaction)."""
    for item in datasets:
        for metric, value in item["metrics"].items():
            con.execute(
                "INSERT INTO scores (eval_id, dataset_id, language, task, metric, value, n, unparseable, "
                "sota_metric, sota_value, sota_citation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    eval_id,
                    item["dataset_id"],
                    item["language"],
                    item["task"],
                    metric,
                    value,
                    item["n"],
                    item["unparseable"],
                    item["sota_metric"],
                    item["sota_value"],
                    item["sota_citation"],
                ],
            )
    con.execute(
        "UPDATE evals SET status = 'finished', finished_at = current_timestamp, wall_seconds = ?, params = ? "
        "WHERE eval_id = ?",
        [wall, json.dumps(params, default=str), eval_id],
    )


def fail_eval(con: duckdb.DuckDBPyConnection, eval_id: str, *, wall: float, error: str) -> None:
    """Close a running evaluation as failed with its error (a finished one is left alone)."""
    con.execute(
        "UPDATE evals SET status = 'failed', finished_at = current_timestamp, wall_seconds = ?, error = ? "
        "WHERE eval_id = ? AND status = 'running'",
        [wall, error, eval_id],
    )


def list_evals(ws: Workspace) -> pl.DataFrame:
    """Evaluations, newest first, with how many datasets each scored."""
    return read_frame(
        ws,
        "SELECT eval_id, created_at, finished_at, status, actor, model, adapter, run_id, snapshot_id, backend, "
        "wall_seconds, error, (SELECT count(DISTINCT dataset_id) FROM scores s WHERE s.eval_id = e.eval_id) "
        "AS datasets FROM evals e ORDER BY created_at DESC, eval_id DESC",
    )


def get_eval(ws: Workspace, eval_id: str) -> dict[str, Any]:
    """One evaluation: its row, parameters, scores per dataset and metric, and the saved summary."""
    with connect(ws, read_only=True) as con:
        if fetch_one(con, "SELECT 1 FROM evals WHERE eval_id = ?", [eval_id]) is None:
            raise LensforgeError(f"no evaluation {eval_id!r}", hint="see `lensforge evals list`")
        row = query_frame(con, "SELECT * FROM evals WHERE eval_id = ?", [eval_id]).to_dicts()[0]
        scores = query_frame(
            con, "SELECT * FROM scores WHERE eval_id = ? ORDER BY dataset_id, metric", [eval_id]
        ).to_dicts()
    row["params"] = json.loads(row["params"]) if row.get("params") else {}
    for key in ("created_at", "finished_at"):
        row[key] = None if row.get(key) is None else str(row[key])
    row["scores"] = scores
    summary_path = ws.root / row["path"] / "summary.json"
    row["summary"] = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else None
    return row


def eval_status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many evaluations are running, finished, failed (for the app's overview)."""
    return {str(k): int(n) for k, n in con.execute("SELECT status, count(*) FROM evals GROUP BY status").fetchall()}
