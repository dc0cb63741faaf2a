"""The `snapshots` and `publications` catalog tables: which snapshots exist, where they live, where they went.

The only module with SQL for these tables (tests/test_table_owners.py checks it). Building (`snapshot.py`) and
publishing (`publish.py`) decide what to write; this module records and reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.db import connect, query_frame, read_frame
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace


def is_catalogued(ws: Workspace, snapshot_id: str) -> bool:
    """Whether the catalog lists this snapshot (its folder may still be missing or damaged)."""
    with connect(ws, read_only=True) as con:
        return fetch_one(con, "SELECT snapshot_id FROM snapshots WHERE snapshot_id = ?", [snapshot_id]) is not None


def record_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    snapshot_id: str,
    actor: str,
    mixture: str,
    path: str,
    manifest: dict[str, Any],
    rows: dict[str, int],
) -> None:
    """Catalog a built snapshot (inside the caller's transaction); the same id built again keeps its first row,
    since the id hashes the files."""
    con.execute(
        "INSERT INTO snapshots (snapshot_id, created_by, mixture, path, manifest, rows_train, rows_dev, rows_test) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            snapshot_id,
            actor,
            mixture,
            path,
            json.dumps(manifest, ensure_ascii=False),
            rows["train"],
            rows["dev"],
            rows["test"],
        ],
    )


def record_publication(con: duckdb.DuckDBPyConnection, record: dict[str, Any], *, actor: str) -> None:
    """One copy of a snapshot that left the workspace (a Hub push or a local export), inside the caller's
    transaction. `record` holds snapshot_id, target, kind, commit_sha, tag, url and private."""
    con.execute(
        "INSERT INTO publications (snapshot_id, target, kind, commit_sha, tag, url, private, actor) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            record["snapshot_id"],
            record["target"],
            record["kind"],
            record.get("commit_sha"),
            record.get("tag"),
            record.get("url"),
            record.get("private"),
            actor,
        ],
    ).fetchall()


def list_snapshots(ws: Workspace) -> pl.DataFrame:
    """Every snapshot, newest first, with its row counts and where it was published."""
    return read_frame(
        ws,
        "SELECT s.snapshot_id, s.created_at, s.created_by, s.mixture, s.rows_train, s.rows_dev, s.rows_test, "
        "(SELECT string_agg(p.target, ', ') FROM publications p WHERE p.snapshot_id = s.snapshot_id) AS published "
        "FROM snapshots s ORDER BY s.created_at DESC",
    )


def get_snapshot(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    """One snapshot's row with its manifest parsed and its publications, oldest first."""
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
        if df.height == 0:
            raise LensforgeError(f"no snapshot {snapshot_id!r}", hint="see `lensforge snapshot list`")
        pubs = query_frame(con, "SELECT * FROM publications WHERE snapshot_id = ? ORDER BY ts", [snapshot_id])
    row = df.to_dicts()[0]
    row["manifest"] = json.loads(row["manifest"])
    row["created_at"] = str(row["created_at"])
    row["publications"] = [{**p, "ts": str(p["ts"])} for p in pubs.to_dicts()]
    return row


def snapshot_dir(ws: Workspace, snapshot: str | Mapping[str, Any]) -> Path:
    """The folder of a catalogued snapshot, given its id or its row from `get_snapshot` (`snapshots.path` is
    relative to the workspace root). The one place that turns a snapshot into a folder."""
    row = get_snapshot(ws, snapshot) if isinstance(snapshot, str) else snapshot
    path = Path(row["path"])
    return path if path.is_absolute() else ws.root / path


def release_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many snapshots were built and how many copies were published (for the app's overview)."""
    row = fetch_one(con, "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM publications)")
    assert row is not None
    return {"snapshots": int(row[0]), "publications": int(row[1])}
