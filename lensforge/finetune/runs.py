"""Run records: the `runs` and `run_metrics` catalog rows, listing, details and cancellation.

A run's files live in `runs/<run_id>/` (log.txt, metrics.parquet, status.json, checkpoints/, adapter/). The
current phase (starting, data, model, training, saving, then finished/failed/cancelled) is in status.json, which
the app reads without parsing the log. The catalog row is
written when the run starts (status running) and always closed (finished, failed with the error, or
cancelled). Background runs are stopped through a flag file that the training callback checks every step, so
cancelling needs no signal and works across processes. A row left `running` by a process that died (killed,
out of memory) is closed as failed the next time runs are listed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.db import connect, query_frame, read_frame, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace, write_text_atomic

CANCEL_FLAG = "cancel"
STATUS_FILE = "status.json"
PHASES = ("starting", "data", "model", "training", "saving", "finished", "failed", "cancelled")
RUNS_HINT = "see `lensforge runs list`"
FINAL_TIMEOUT = 120.0  # seconds to wait on a busy catalog for a run's closing write
LIST_COLUMNS = (
    "run_id, created_at, finished_at, status, actor, snapshot_id, hub_repo, hub_revision, base_model, preset, "
    "chat_format, train_rows, steps, final_loss, tokens_per_second, wall_seconds, adapter_path, error"
)


def run_dir(ws: Workspace, run_id: str) -> Path:
    return ws.runs_dir / run_id


def cancel_flag(ws: Workspace, run_id: str) -> Path:
    return run_dir(ws, run_id) / CANCEL_FLAG


def write_phase(ws: Workspace, run_id: str, phase: str, **extra: Any) -> None:
    """Record the run's current phase (and e.g. step/max_steps, data stats) in runs/<id>/status.json, atomically."""
    if phase not in PHASES:
        raise ValueError(f"unknown run phase {phase!r}")
    path = run_dir(ws, run_id) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"run_id": run_id, "phase": phase, "updated_at": time.time(), **extra}
    write_text_atomic(path, json.dumps(body, sort_keys=True, default=str))


def read_phase(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The run's status.json (phase, updated_at, step, ...), or None when the run has not written one."""
    try:
        return json.loads((run_dir(ws, run_id) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def insert_run(ws: Workspace, record: dict[str, Any], *, actor: str) -> None:
    """The run row (status running) and its one `finetune.start` event, in one transaction."""
    row = {
        **record,
        "status": "running",
        "actor": actor,
        "overrides": json.dumps(record.get("overrides") or {}, sort_keys=True, default=str),
        "config": json.dumps(record.get("config") or {}, sort_keys=True, default=str),
    }
    cols = list(row)
    with transaction(ws) as con:
        con.execute(
            f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", [row[c] for c in cols]
        )
        record_event(
            con,
            actor=actor,
            kind="finetune.start",
            subject=row["run_id"],
            payload={
                "snapshot": row.get("snapshot_id"),
                "hub_repo": row.get("hub_repo"),
                "hub_revision": row.get("hub_revision"),
                "base_model": row["base_model"],
                "preset": row["preset"],
                "overrides": json.loads(row["overrides"]),
            },
        )


def update_run(ws: Workspace, run_id: str, timeout: float = 5.0, **fields: Any) -> None:
    """Set some columns of a run row (JSON columns are dumped)."""
    if not fields:
        return
    values = [
        json.dumps(v, sort_keys=True, default=str) if k in ("config", "overrides") else v for k, v in fields.items()
    ]
    with transaction(ws, timeout=timeout) as con:
        con.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE run_id = ?", [*values, run_id])


def close_run(ws: Workspace, run_id: str, status: str, **fields: Any) -> None:
    """Mark a run finished, failed or cancelled (with finished_at); waits longer on a busy catalog."""
    with transaction(ws, timeout=FINAL_TIMEOUT) as con:
        sets = {"status": status, **fields}
        con.execute(
            f"UPDATE runs SET finished_at = current_timestamp, {', '.join(f'{k} = ?' for k in sets)} WHERE run_id = ?",
            [*sets.values(), run_id],
        )


def upsert_metrics(ws: Workspace, run_id: str, rows: list[dict[str, Any]], *, timeout: float = 5.0) -> None:
    """Training-step rows of run_metrics; a resumed run rewrites the steps it repeats."""
    rows = [r for r in rows if r.get("loss") is not None]
    if not rows:
        return
    with transaction(ws, timeout=timeout) as con:
        con.executemany(
            "INSERT INTO run_metrics (run_id, step, loss, learning_rate, epoch) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, step) DO UPDATE SET loss = excluded.loss, learning_rate = excluded.learning_rate, "
            "epoch = excluded.epoch",
            [[run_id, int(r["step"]), r["loss"], r.get("learning_rate"), r.get("epoch")] for r in rows],
        )


def drop_metrics_after(ws: Workspace, run_id: str, step: int) -> None:
    """Forget metrics past a checkpoint: a resumed run trains those steps again."""
    with transaction(ws) as con:
        con.execute("DELETE FROM run_metrics WHERE run_id = ? AND step > ?", [run_id, step])


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True  # not known yet (a background run that is starting): assume alive
    import psutil

    try:
        proc = psutil.Process(int(pid))
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def close_dead_runs(ws: Workspace) -> None:
    """Runs marked running whose process is gone (killed, crashed) are closed as failed."""
    with connect(ws, read_only=True) as con:
        running = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running'").fetchall()
    dead = [(rid, pid) for rid, pid in running if not _pid_alive(pid)]
    for rid, pid in dead:
        with transaction(ws) as con:
            con.execute(
                "UPDATE runs SET status = 'failed', finished_at = current_timestamp, error = ? "
                "WHERE run_id = ? AND status = 'running'",
                [f"the training process (pid {pid}) ended without recording an outcome; see runs/{rid}/log.txt", rid],
            )


def list_runs(ws: Workspace) -> pl.DataFrame:
    """Every run, newest first (rows of dead processes closed as failed first)."""
    close_dead_runs(ws)
    return read_frame(ws, f"SELECT {LIST_COLUMNS} FROM runs ORDER BY created_at DESC, run_id")


def get_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The run's record (config and overrides parsed) with its per-step metrics."""
    close_dead_runs(ws)
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.height == 0:
            raise LensforgeError(f"no run {run_id!r}", hint=RUNS_HINT)
        metrics = _metrics(con, run_id)
    row = df.to_dicts()[0]
    for key in ("config", "overrides"):
        row[key] = json.loads(row[key]) if row[key] else {}
    for key in ("created_at", "finished_at"):
        row[key] = None if row[key] is None else str(row[key])
    row["metrics"] = metrics.to_dicts()
    status = read_phase(ws, run_id)
    row["phase"] = status.get("phase") if status else None
    row["log_path"] = str(run_dir(ws, run_id) / "log.txt")
    return row


def _metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    return query_frame(
        con, "SELECT step, loss, learning_rate, epoch FROM run_metrics WHERE run_id = ? ORDER BY step", [run_id]
    )


def run_metrics(ws: Workspace, run_id: str) -> pl.DataFrame:
    """Per-step loss and learning rate of one run (steps without a loss included), in step order."""
    with connect(ws, read_only=True) as con:
        return _metrics(con, run_id)


def loss_curve(ws: Workspace, run_id: str) -> pl.DataFrame:
    """The logged training loss per step (the steps that have one)."""
    return run_metrics(ws, run_id).filter(pl.col("loss").is_not_null()).select("step", "loss")


def recorded_runs(ws: Workspace) -> pl.DataFrame:
    """The run rows as recorded, newest first, without closing dead ones (a pure read, for the app's fallback
    when the training stack cannot be imported)."""
    return read_frame(
        ws,
        "SELECT run_id, created_at, finished_at, status, actor, snapshot_id, base_model, preset, steps, "
        "final_loss, wall_seconds, error FROM runs ORDER BY created_at DESC, run_id",
    )


def run_record(ws: Workspace, run_id: str) -> dict[str, Any]:
    """A run's catalog row as stored (JSON columns as text); an error naming the run when there is none."""
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM runs WHERE run_id = ?", [run_id])
    if df.height == 0:
        raise LensforgeError(f"no run {run_id!r}", hint=RUNS_HINT)
    return df.to_dicts()[0]


def run_status(ws: Workspace, run_id: str) -> str | None:
    """The run's recorded status, or None when there is no such run."""
    with connect(ws, read_only=True) as con:
        row = fetch_one(con, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    return row[0] if row else None


def run_config(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The training configuration a run recorded ({} when there is no such run)."""
    with connect(ws, read_only=True) as con:
        row = fetch_one(con, "SELECT config FROM runs WHERE run_id = ?", [run_id])
    return json.loads(row[0]) if row else {}


def unfinished_runs(ws: Workspace, snapshot_id: str, base: str, preset: str) -> list[tuple[str, dict[str, Any]]]:
    """Failed or cancelled runs of this snapshot, base and preset, newest first, with their overrides."""
    with connect(ws, read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, overrides FROM runs WHERE snapshot_id = ? AND base_model = ? AND preset = ? "
            "AND status IN ('failed', 'cancelled') ORDER BY created_at DESC",
            [snapshot_id, base, preset],
        ).fetchall()
    return [(run_id, json.loads(overrides)) for run_id, overrides in rows]


def run_status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many runs are running, finished, failed, cancelled (for the app's overview)."""
    return {str(k): int(n) for k, n in con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()}


def cancel_run(ws: Workspace, run_id: str, actor: str) -> dict[str, Any]:
    """Ask a running run to stop: a flag file its training callback sees at the next step; marks it cancelled.

    The training process saves a checkpoint when it stops, so `resume` can continue the run.
    """
    with connect(ws, read_only=True) as con:
        row = fetch_one(con, "SELECT status, pid FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise LensforgeError(f"no run {run_id!r}", hint=RUNS_HINT)
    status, pid = row
    if status != "running":
        raise LensforgeError(f"run {run_id} is {status}, not running; nothing to cancel")
    flag = cancel_flag(ws, run_id)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(json.dumps({"actor": actor, "pid": os.getpid()}), encoding="utf-8")
    with transaction(ws) as con:
        con.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = current_timestamp "
            "WHERE run_id = ? AND status = 'running'",
            [run_id],
        )
        record_event(con, actor=actor, kind="finetune.cancel", subject=run_id, payload={"pid": pid})
    return {"run_id": run_id, "status": "cancelled", "flag": str(flag)}
