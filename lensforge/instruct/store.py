"""The instructions table: list, show, edit, disable; each curator change is one audit event."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.datasets import resolve
from lensforge.catalog.db import connect, query_frame, read_frame, transaction
from lensforge.catalog.events import record_event, subject_history
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

COLUMNS = (
    "instruction_id, dataset_id, language, position, text, provider, model, prompt_id, created_at, status, edited_by, "
    "label_space, replaces"
)


def instruction_id(dataset_id: str, language: str, text: str) -> str:
    return "i" + hashlib.sha256(f"{dataset_id}\x1f{language}\x1f{text}".encode()).hexdigest()[:15]


def record_rejects(con: duckdb.DuckDBPyConnection, dataset_id: str, language: str, rejected: list[dict]) -> None:
    """Keep every rejected candidate with its reason (inside the caller's transaction), so a curator can see why
    a provider's output was refused."""
    for r in rejected:
        con.execute(
            "INSERT INTO instruction_rejects (dataset_id, language, text, provider, model, prompt_id, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [dataset_id, language, r["text"], r["provider"], r["model"], r["prompt_id"], r["reason"]],
        )


def add_instructions(
    con: duckdb.DuckDBPyConnection,
    dataset_id: str,
    language: str,
    accepted: list[dict],
    *,
    start: int,
    label_space: list[str],
) -> None:
    """Store accepted instructions as active, numbered from `start`, each with the label space it was written for
    (inside the caller's transaction); a text already stored is left as it is."""
    space = json.dumps(sorted(label_space), ensure_ascii=False)
    for pos, r in enumerate(accepted, start=start):
        con.execute(
            "INSERT INTO instructions (instruction_id, dataset_id, language, position, text, provider, model, "
            "prompt_id, status, label_space) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?) ON CONFLICT DO NOTHING",
            [
                instruction_id(dataset_id, language, r["text"]),
                dataset_id,
                language,
                pos,
                r["text"],
                r["provider"],
                r["model"],
                r["prompt_id"],
                space,
            ],
        )


def instruction_status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many instructions are active and disabled (for the app's overview)."""
    rows = con.execute("SELECT status, count(*) FROM instructions GROUP BY status").fetchall()
    return {str(k): int(n) for k, n in rows}


def instruction_counts(ws: Workspace) -> pl.DataFrame:
    """Active and disabled instructions per dataset and language."""
    return read_frame(
        ws,
        "SELECT dataset_id, language, count(*) FILTER (WHERE status = 'active') AS active, "
        "count(*) FILTER (WHERE status = 'disabled') AS disabled FROM instructions "
        "GROUP BY ALL ORDER BY dataset_id, language",
    )


def list_instructions(
    ws: Workspace, ref: str | None = None, *, language: str | None = None, status: str | None = None
) -> pl.DataFrame:
    where, params = [], []
    with connect(ws, read_only=True) as con:
        if ref:
            where.append("dataset_id = ?")
            params.append(resolve(con, ref))
        if language:
            where.append("language = ?")
            params.append(language)
        if status:
            if status not in ("active", "disabled"):
                raise LensforgeError(f"unknown status {status!r} (use active or disabled)")
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {COLUMNS} FROM instructions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY dataset_id, language, position"
        return query_frame(con, sql, params)


def active_instructions(ws: Workspace, dataset_ids: list[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Active instructions of many datasets in one query: (dataset_id, language) -> rows in position order."""
    if not dataset_ids:
        return {}
    marks = ", ".join("?" for _ in dataset_ids)
    with connect(ws, read_only=True) as con:
        rows = query_frame(
            con,
            "SELECT dataset_id, language, instruction_id, text, position, label_space FROM instructions "
            f"WHERE dataset_id IN ({marks}) AND status = 'active' ORDER BY dataset_id, language, position, "
            "instruction_id",
            list(dataset_ids),
        ).to_dicts()
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row.pop("dataset_id"), row.pop("language"))
        row["label_space"] = None if row["label_space"] is None else sorted(json.loads(row["label_space"]))
        out.setdefault(key, []).append(row)
    return out


def show_instruction(ws: Workspace, iid: str) -> dict[str, Any]:
    with connect(ws, read_only=True) as con:
        df = query_frame(con, f"SELECT {COLUMNS} FROM instructions WHERE instruction_id = ?", [iid])
        if df.height == 0:
            raise LensforgeError(f"no instruction {iid!r}", hint="see `lensforge instruct list`")
        info = df.to_dicts()[0]
        # An edited copy shows the history of the instruction it replaces too (the edit event is on the old id).
        history = subject_history(con, [iid, info["replaces"] or iid]).to_dicts()
        replaced_by = fetch_one(con, "SELECT instruction_id FROM instructions WHERE replaces = ?", [iid])
    info["replaced_by"] = replaced_by[0] if replaced_by else None
    info["created_at"] = str(info["created_at"])
    info["label_space"] = None if info["label_space"] is None else json.loads(info["label_space"])
    info["history"] = [{**h, "ts": str(h["ts"])} for h in history]
    return info


def edit_instruction(ws: Workspace, iid: str, text: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Replace an instruction by an edited copy: a new id for the new text, the old one disabled and linked.

    An instruction id pins its text (a snapshot manifest lists the ids it used), so an edit never rewrites a row:
    the new instruction takes the old one's place (same dataset, language, position, label space) and records
    which one it `replaces`; the old one is disabled. One `instruct.edit` event holds both ids and the reason.
    """
    text = " ".join(text.split())
    if not text:
        raise LensforgeError("the new instruction text is empty")
    if not (reason and reason.strip()):
        raise LensforgeError("editing an instruction needs a --reason")
    with transaction(ws) as con:
        row = fetch_one(
            con,
            "SELECT dataset_id, language, position, text, status, prompt_id, label_space FROM instructions "
            "WHERE instruction_id = ?",
            [iid],
        )
        if row is None:
            raise LensforgeError(f"no instruction {iid!r}")
        did, language, position, old_text, status, prompt_id, label_space = row
        new_id = instruction_id(did, language, text)
        if fetch_one(con, "SELECT 1 FROM instructions WHERE instruction_id = ?", [new_id]) is not None:
            raise LensforgeError(
                f"{did} already has an instruction with this text ({new_id})",
                hint=f"enable it with `lensforge instruct enable {new_id}` instead",
            )
        con.execute(
            "INSERT INTO instructions (instruction_id, dataset_id, language, position, text, provider, model, "
            "prompt_id, status, edited_by, edited_at, label_space, replaces) "
            "VALUES (?, ?, ?, ?, ?, 'user', 'edit', ?, ?, ?, current_timestamp, ?, ?)",
            [new_id, did, language, position, text, prompt_id, status, actor, label_space, iid],
        )
        _set(con, iid, "disabled", actor)
        record_event(
            con,
            actor=actor,
            kind="instruct.edit",
            subject=iid,
            payload={"from": old_text, "to": text, "reason": reason, "new_instruction_id": new_id},
        )
    return {"instruction_id": new_id, "replaces": iid, "from": old_text, "to": text}


def disable_stale(ws: Workspace, dataset_id: str, label_space: list[str], *, actor: str, reason: str) -> list[str]:
    """Disable the active instructions of a dataset written for another label space (one event each).

    What `instruct generate --replace-stale` runs first, so generation then tops the set up for the labels the
    approved mapping gives now. Instructions with no recorded label space are left alone.
    """
    wanted = sorted(label_space)
    with transaction(ws) as con:
        rows = con.execute(
            "SELECT instruction_id, label_space FROM instructions WHERE dataset_id = ? AND status = 'active' "
            "AND label_space IS NOT NULL ORDER BY language, position",
            [dataset_id],
        ).fetchall()
        stale = [i for i, space in rows if sorted(json.loads(space)) != wanted]
        for iid in stale:
            _set(con, iid, "disabled", actor)
            record_event(
                con,
                actor=actor,
                kind="instruct.disable",
                subject=iid,
                payload={"from": "active", "to": "disabled", "reason": reason, "label_space": wanted},
            )
    return stale


def set_status(ws: Workspace, iid: str, status: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Disable (or re-enable) an instruction; snapshots use active ones only."""
    if status not in ("active", "disabled"):
        raise LensforgeError(f"unknown status {status!r}")
    if not (reason and reason.strip()):
        raise LensforgeError("changing an instruction's status needs a --reason")
    with transaction(ws) as con:
        row = fetch_one(con, "SELECT status FROM instructions WHERE instruction_id = ?", [iid])
        if row is None:
            raise LensforgeError(f"no instruction {iid!r}")
        _set(con, iid, status, actor)
        kind = "instruct.disable" if status == "disabled" else "instruct.enable"
        record_event(con, actor=actor, kind=kind, subject=iid, payload={"from": row[0], "to": status, "reason": reason})
    return {"instruction_id": iid, "from": row[0], "to": status}


def _set(con: Any, iid: str, status: str, actor: str) -> None:
    con.execute(
        "UPDATE instructions SET status = ?, edited_by = ?, edited_at = current_timestamp WHERE instruction_id = ?",
        [status, actor, iid],
    )


def rejects(ws: Workspace, ref: str | None = None) -> pl.DataFrame:
    with connect(ws, read_only=True) as con:
        if ref:
            did = resolve(con, ref)
            return query_frame(con, "SELECT * FROM instruction_rejects WHERE dataset_id = ? ORDER BY created_at", [did])
        return query_frame(con, "SELECT * FROM instruction_rejects ORDER BY created_at")
