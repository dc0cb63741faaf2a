"""Ingested versions in the catalog: ids, lookups, loading their rows, and the validity gate."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.datasets import dataset_frame
from lensforge.catalog.db import connect, query_frame, read_frame
from lensforge.catalog.events import record_event, record_events
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

# Bumped when a change to the ingest code changes its output for the same input.
INGEST_CODE_VERSION = "3"
# A version folder the catalog does not list is left alone this long: another process may be between
# renaming it into place and committing its catalog row.
ORPHAN_GRACE_SECONDS = 600


def make_version_id(dataset_id: str, raw_hashes: list[str], spec: dict[str, Any], params: dict[str, Any]) -> str:
    """Dataset identity + raw file contents + ingestion spec + cleaning parameters + ingest code version.

    The identity (language/name@release) is part of the hash so two registry entries over the same
    files never share a version, and so never delete or inherit each other's records or approvals.
    """
    blob = json.dumps(
        {"dataset": dataset_id, "raw": raw_hashes, "spec": spec, "params": params, "code": INGEST_CODE_VERSION},
        sort_keys=True,
        ensure_ascii=False,
    )
    return "v" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:15]


def dataset_dir_name(dataset_id: str) -> str:
    """A filesystem-safe folder name for a dataset id like `hi/Sentiment Analysis@1`."""
    lang, _, rest = dataset_id.partition("/")
    name, _, version = rest.partition("@")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "dataset"
    return f"{lang}_{slug}" + (f"@{version}" if version else "")


def version_dir(ws: Workspace, dataset_id: str, version_id: str) -> Path:
    return ws.datasets_dir / dataset_dir_name(dataset_id) / version_id


def temp_prefix(version_id: str) -> str:
    """Name prefix of a version's temporary folder; it carries the writer's pid, so a later run can tell a
    folder left by a killed run from one being written right now."""
    return f".{version_id}.pid{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(ws: Workspace, dataset_id: str, listed: set[str]) -> list[dict[str, str]]:
    """Remove what a killed ingest of this dataset left: temporary folders of dead writers, and version
    folders the catalog does not list (renamed into place, but the catalog commit never came).

    Returns one entry per leftover found, with what was done, so the caller can report it. A folder
    that may still be in use (a live writer, or a very recent unlisted version) is reported, not removed.
    """
    root = ws.datasets_dir / dataset_dir_name(dataset_id)
    if not root.is_dir():
        return []
    found: list[dict[str, str]] = []
    now = time.time()
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        rel = str(path.relative_to(ws.root))
        age = now - path.stat().st_mtime
        if path.name.startswith("."):
            m = re.search(r"\.pid(\d+)\.", path.name)
            in_use = _alive(int(m.group(1))) if m else age < ORPHAN_GRACE_SECONDS
            kind = "temporary folder"
        elif path.name not in listed:
            in_use = age < ORPHAN_GRACE_SECONDS
            kind = "version folder not in the catalog"
        else:
            continue
        if in_use:
            found.append({"path": rel, "kind": kind, "action": "kept (may be in use)"})
        else:
            shutil.rmtree(path, ignore_errors=True)
            found.append({"path": rel, "kind": kind, "action": "removed"})
    return found


def get_version(ws: Workspace, version_id: str) -> dict[str, Any]:
    """One ingested version's record."""
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM ingested_versions WHERE version_id = ?", [version_id])
    if df.height == 0:
        raise LensforgeError(f"no ingested version {version_id!r}")
    return _decode(df.to_dicts()[0])


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("raw_files", "params", "dropped_by_reason", "label_counts"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    row["created_at"] = str(row["created_at"])
    return row


def registered_versions(ws: Workspace) -> dict[str, str]:
    """Every catalogued version id with its dataset id (one query, for a run over many datasets)."""
    with connect(ws, read_only=True) as con:
        return dict(con.execute("SELECT version_id, dataset_id FROM ingested_versions").fetchall())


def current_version(ws: Workspace, dataset_id: str) -> dict[str, Any] | None:
    """The latest ingested version of a dataset, or None if it was never ingested."""
    with connect(ws, read_only=True) as con:
        row = current_version_row(con, dataset_id)
    return _decode(row) if row else None


def current_version_row(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, Any] | None:
    """The current version's catalog row as stored (JSON columns as text), inside the caller's connection."""
    df = query_frame(con, "SELECT * FROM ingested_versions WHERE dataset_id = ? AND is_current", [dataset_id])
    return df.to_dicts()[0] if df.height else None


def current_version_id(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
    """The id of a dataset's current version, or None if it was never ingested."""
    row = fetch_one(con, "SELECT version_id FROM ingested_versions WHERE dataset_id = ? AND is_current", [dataset_id])
    return row[0] if row else None


def current_dataset_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The datasets that have a current version, sorted."""
    rows = con.execute("SELECT dataset_id FROM ingested_versions WHERE is_current ORDER BY dataset_id").fetchall()
    return [r[0] for r in rows]


def has_version(con: duckdb.DuckDBPyConnection, dataset_id: str, version_id: str) -> bool:
    """Whether this version of this dataset is catalogued (a mixture may pin an older one)."""
    found = fetch_one(
        con, "SELECT 1 FROM ingested_versions WHERE dataset_id = ? AND version_id = ?", [dataset_id, version_id]
    )
    return found is not None


def current_versions_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every dataset's current version (all catalog columns, JSON as text) with its language, task and task type.

    The one read of "what is ingested now" that curation, the instruction queue and the app build on.
    """
    versions = query_frame(con, "SELECT * FROM ingested_versions WHERE is_current ORDER BY dataset_id")
    facts = dataset_frame(con, ("language", "task", "task_type"))
    return versions.join(facts, on="dataset_id", how="inner", maintain_order="left")


def version_dates(con: duckdb.DuckDBPyConnection, dataset_id: str) -> pl.DataFrame:
    """When each version of a dataset was ingested (version_id, created_at), oldest first."""
    return query_frame(
        con,
        "SELECT version_id, created_at FROM ingested_versions WHERE dataset_id = ? ORDER BY created_at",
        [dataset_id],
    )


def version_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Versions catalogued, datasets with a current version, and the kept rows of the current versions."""
    row = fetch_one(
        con,
        "SELECT count(*), count(*) FILTER (WHERE is_current), "
        "coalesce(sum(kept_train + kept_dev + kept_test) FILTER (WHERE is_current), 0) FROM ingested_versions",
    )
    assert row is not None
    return {"versions": int(row[0]), "current_versions": int(row[1]), "kept_rows": int(row[2])}


def make_current(con: duckdb.DuckDBPyConnection, *, version_id: str, dataset_id: str) -> None:
    """Make an already catalogued version its dataset's current one (inside the caller's transaction)."""
    con.execute(
        "UPDATE ingested_versions SET is_current = (version_id = ?) WHERE dataset_id = ?", [version_id, dataset_id]
    )


@dataclass
class VersionRows:
    """A new version's catalog rows: its `ingested_versions` row, validation results, step stats and event.
    Built by the run and written with the others of the same run by `record_versions`."""

    version: dict[str, Any]
    validation: pl.DataFrame
    stats: pl.DataFrame
    event: dict[str, Any]


def record_versions(con: duckdb.DuckDBPyConnection, rows: list[VersionRows]) -> None:
    """Catalog new versions, each as its dataset's current one, with their validation results, step stats and
    events (inside the caller's transaction); a version written again replaces its earlier rows. One statement
    per table for all of them: per version it was ten statements, ~10 ms, paid after the last dataset finished."""
    if not rows:
        return
    ids = [r.version["version_id"] for r in rows]
    for table in ("validation_results", "ingest_step_stats", "ingested_versions"):
        con.execute(f"DELETE FROM {table} WHERE version_id IN (SELECT unnest(?))", [ids])
    con.execute(
        "UPDATE ingested_versions SET is_current = FALSE WHERE dataset_id IN (SELECT unnest(?))",
        [[r.version["dataset_id"] for r in rows]],
    )
    versions = pl.DataFrame([r.version for r in rows], infer_schema_length=None)
    insert_frame(con, "ingested_versions", versions.with_columns(is_current=pl.lit(True)))
    for table, frames in (
        ("validation_results", [r.validation for r in rows if r.validation.height]),
        ("ingest_step_stats", [r.stats for r in rows if r.stats.height]),
    ):
        if frames:
            insert_frame(con, table, pl.concat(frames, how="vertical_relaxed"))
    record_events(con, [r.event for r in rows])


def list_versions(ws: Workspace, dataset_id: str | None = None) -> pl.DataFrame:
    """The versions of one dataset (or all), newest first per dataset, with their counts and validity."""
    sql = (
        "SELECT version_id, dataset_id, created_at, is_current, valid, records_read, kept_train, kept_dev, "
        "kept_test, quarantined, split_method FROM ingested_versions"
    )
    params: list[Any] = []
    if dataset_id:
        sql += " WHERE dataset_id = ?"
        params.append(dataset_id)
    sql += " ORDER BY dataset_id, created_at DESC"
    return read_frame(ws, sql, params)


def load_rows(
    ws: Workspace,
    version: dict[str, Any],
    splits: tuple[str, ...] = SPLITS,
    *,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Kept rows of a version, the requested splits concatenated; with `columns`, Parquet reads only those
    (which matters at millions of rows)."""
    root = ws.root / version["path"]
    files = [root / f"{s}.parquet" for s in splits if (root / f"{s}.parquet").exists()]
    if not files:
        raise LensforgeError(f"version {version['version_id']} has no data files at {root}")
    return pl.concat([pl.read_parquet(f, columns=columns) for f in files], how="vertical_relaxed")


def load_quarantine(ws: Workspace, version: dict[str, Any]) -> pl.DataFrame:
    return pl.read_parquet(ws.root / version["path"] / "quarantine.parquet")


def validation_results(ws: Workspace, version_id: str) -> pl.DataFrame:
    return read_frame(
        ws,
        "SELECT position, expectation, column_name, success, observed_value, unexpected_count, examples "
        "FROM validation_results WHERE version_id = ? ORDER BY position",
        [version_id],
    )


def record_report(
    con: duckdb.DuckDBPyConnection,
    *,
    report_id: str,
    kind: str,
    version_ids: list[str],
    params: dict[str, Any],
    summary: dict[str, Any],
    path: str,
) -> None:
    """Catalog a cross-dataset report (overlap, near duplicates); the same report id replaces its row."""
    con.execute("DELETE FROM quality_reports WHERE report_id = ?", [report_id])
    con.execute(
        "INSERT INTO quality_reports (report_id, kind, version_ids, params, summary, path) VALUES (?, ?, ?, ?, ?, ?)",
        [report_id, kind, json.dumps(version_ids), json.dumps(params), json.dumps(summary, default=str), path],
    )


def latest_report(ws: Workspace, kind: str) -> dict[str, Any] | None:
    """The newest cross-dataset report of a kind (JSON fields parsed), or None when none was run."""
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM quality_reports WHERE kind = ? ORDER BY created_at DESC LIMIT 1", [kind])
    if df.height == 0:
        return None
    row = df.to_dicts()[0]
    for key in ("version_ids", "params", "summary"):
        row[key] = json.loads(row[key])
    return row


def insert_frame(con: Any, table: str, frame: pl.DataFrame) -> None:
    """Append a frame's rows to a catalog table in one statement (columns by name, in the table's order)."""
    con.register("_lensforge_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _lensforge_rows")
    finally:
        con.unregister("_lensforge_rows")


def step_stats_rows(version_id: str, stats: list[Any]) -> pl.DataFrame:
    """What each ingest step did to a version, as `ingest_step_stats` rows (written by `record_versions`)."""
    dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)
    return pl.DataFrame(
        {
            "version_id": [version_id] * len(stats),
            "position": list(range(len(stats))),
            "step": [s.step for s in stats],
            "rows_in": [s.rows_in for s in stats],
            "rows_out": [s.rows_out for s in stats],
            "dropped": [dumps(s.dropped) for s in stats],
            "seconds": [float(s.seconds) for s in stats],
            "peak_rss_mib": [float(s.peak_rss_mib) for s in stats],
            "detail": [dumps(s.detail) for s in stats],
        },
        schema={
            "version_id": pl.String,
            "position": pl.Int32,
            "step": pl.String,
            "rows_in": pl.Int64,
            "rows_out": pl.Int64,
            "dropped": pl.String,
            "seconds": pl.Float64,
            "peak_rss_mib": pl.Float64,
            "detail": pl.String,
        },
    )


def step_stats(ws: Workspace, version_id: str) -> pl.DataFrame:
    """What each ingest step did to a version, in step order (empty for versions from before step stats)."""
    return read_frame(
        ws,
        "SELECT position, step, rows_in, rows_out, dropped, seconds, peak_rss_mib, detail "
        "FROM ingest_step_stats WHERE version_id = ? ORDER BY position",
        [version_id],
    )


def require_valid(
    con: Any, version_id: str, *, used_by: str, actor: str, allow_invalid_reason: str | None = None
) -> None:
    """The gate later stages pass through: an invalid version is refused unless a reason is recorded."""
    row = fetch_one(
        con, "SELECT valid, failed_expectations, dataset_id FROM ingested_versions WHERE version_id = ?", [version_id]
    )
    if row is None:
        raise LensforgeError(f"no ingested version {version_id!r}")
    valid, failed, dataset_id = row
    if valid:
        return
    if not (allow_invalid_reason and allow_invalid_reason.strip()):
        raise LensforgeError(
            f"{dataset_id} version {version_id} failed {failed} validation expectation(s)",
            hint="see `lensforge ingest report`; to use it anyway give a reason (--allow-invalid REASON)",
        )
    con.execute(
        "INSERT INTO invalid_overrides (version_id, used_by, actor, reason) VALUES (?, ?, ?, ?)",
        [version_id, used_by, actor, allow_invalid_reason],
    )
    record_event(
        con,
        actor=actor,
        kind="ingest.allow_invalid",
        subject=version_id,
        payload={"dataset_id": dataset_id, "used_by": used_by, "reason": allow_invalid_reason},
    )
