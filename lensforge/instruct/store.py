"""The instructions table: list, show, edit, disable; each curator change is one audit event."""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from lensforge.catalog.datasets import resolve
from lensforge.catalog.db import connect, query_frame, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

COLUMNS = (
    "instruction_id, dataset_id, language, position, text, provider, model, prompt_id, created_at, status, edited_by"
)


def instruction_id(dataset_id: str, language: str, text: str) -> str:
    return "i" + hashlib.sha256(f"{dataset_id}\x1f{language}\x1f{text}".encode()).hexdigest()[:15]


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


def active_texts(ws: Workspace, dataset_id: str, language: str) -> list[dict[str, Any]]:
    """Active instructions of one dataset and language, in position order (the first is the test prompt)."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT instruction_id, text, position FROM instructions WHERE dataset_id = ? AND language = ? "
            "AND status = 'active' ORDER BY position",
            [dataset_id, language],
        ).to_dicts()


def show_instruction(ws: Workspace, iid: str) -> dict[str, Any]:
    with connect(ws, read_only=True) as con:
        df = query_frame(con, f"SELECT {COLUMNS} FROM instructions WHERE instruction_id = ?", [iid])
        if df.height == 0:
            raise LensforgeError(f"no instruction {iid!r}", hint="see `lensforge instruct list`")
        info = df.to_dicts()[0]
        history = query_frame(
            con,
            "SELECT ts, actor, kind, payload FROM events WHERE subject = ? ORDER BY event_id",
            [iid],
        ).to_dicts()
    info["created_at"] = str(info["created_at"])
    info["history"] = [{**h, "ts": str(h["ts"])} for h in history]
    return info


def edit_instruction(ws: Workspace, iid: str, text: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Replace an instruction's text; the old text stays in the audit log."""
    text = " ".join(text.split())
    if not text:
        raise LensforgeError("the new instruction text is empty")
    if not (reason and reason.strip()):
        raise LensforgeError("editing an instruction needs a --reason")
    with transaction(ws) as con:
        row = fetch_one(con, "SELECT text, status FROM instructions WHERE instruction_id = ?", [iid])
        if row is None:
            raise LensforgeError(f"no instruction {iid!r}")
        con.execute(
            "UPDATE instructions SET text = ?, edited_by = ?, edited_at = current_timestamp WHERE instruction_id = ?",
            [text, actor, iid],
        )
        record_event(
            con, actor=actor, kind="instruct.edit", subject=iid, payload={"from": row[0], "to": text, "reason": reason}
        )
    return {"instruction_id": iid, "from": row[0], "to": text}


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
        con.execute(
            "UPDATE instructions SET status = ?, edited_by = ?, edited_at = current_timestamp WHERE instruction_id = ?",
            [status, actor, iid],
        )
        kind = "instruct.disable" if status == "disabled" else "instruct.enable"
        record_event(con, actor=actor, kind=kind, subject=iid, payload={"from": row[0], "to": status, "reason": reason})
    return {"instruction_id": iid, "from": row[0], "to": status}


def rejects(ws: Workspace, ref: str | None = None) -> pl.DataFrame:
    with connect(ws, read_only=True) as con:
        if ref:
            did = resolve(con, ref)
            return query_frame(con, "SELECT * FROM instruction_rejects WHERE dataset_id = ? ORDER BY created_at", [did])
        return query_frame(con, "SELECT * FROM instruction_rejects ORDER BY created_at")
