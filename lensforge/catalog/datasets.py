"""Candidate datasets in the catalog: import, query, select/exclude, diff, export, summary."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.db import connect, query_frame, read_frame, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.registry import (
    LoadedEntry,
    Ref,
    SotaRow,
    check_entries,
    is_sota_csv,
    load_file,
    load_sota_csv,
    resolve_in,
)
from lensforge.catalog.spec import DatasetEntry
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

# Columns shown by `catalog list` and exported, in this order.
LIST_COLUMNS = [
    "dataset_id",
    "name",
    "version",
    "language",
    "task",
    "task_type",
    "capability",
    "status",
    "collection",
]
EXPORT_COLUMNS = [
    "dataset_id",
    "name",
    "version",
    "language",
    "task",
    "task_type",
    "capability",
    "task_definition",
    "published_labels",
    "license",
    "citation",
    "source_url",
    "source_spec",
    "has_official_split",
    "published_train",
    "published_dev",
    "published_test",
    "sota_metric",
    "sota_value",
    "sota_citation",
    "sota_split",
    "sota_confidence",
    "sota_note",
    "sota_source",
    "status",
    "exclusion_reason",
    "superseded_by",
    "in_final_52",
    "collection",
    "registry_file",
    "notes",
]


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


def _keys(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str | None]]:
    return [(r[0], r[1], r[2]) for r in con.execute("SELECT name, language, version FROM datasets").fetchall()]


def _row_values(entry: DatasetEntry, superseded_id: str | None, origin: str) -> dict[str, Any]:
    dump = entry.model_dump(mode="json")
    return {
        "dataset_id": entry.dataset_id,
        "name": entry.name,
        "version": entry.version,
        "language": entry.language,
        "task": entry.task,
        "task_type": entry.task_type,
        "capability": entry.capability,
        "task_definition": entry.task_definition,
        "published_labels": json.dumps(entry.labels, ensure_ascii=False),
        "license": entry.license,
        "citation": entry.citation,
        "source_url": entry.source_url,
        "source_spec": json.dumps(dump["source"], ensure_ascii=False),
        "ingest_spec": json.dumps(dump["ingest"], ensure_ascii=False) if entry.ingest else None,
        "has_official_split": entry.has_official_split,
        "published_train": entry.published_sizes.train,
        "published_dev": entry.published_sizes.dev,
        "published_test": entry.published_sizes.test,
        "sota_metric": entry.sota.metric,
        "sota_value": entry.sota.value,
        "sota_citation": entry.sota.citation,
        "sota_split": entry.sota.split,
        "sota_confidence": entry.sota.confidence,
        "sota_note": entry.sota.note,
        "sota_source": origin if entry.sota.value is not None else None,
        "status": entry.status,
        "exclusion_reason": entry.exclusion_reason,
        "superseded_by": superseded_id,
        "in_final_52": entry.in_final_52,
        "collection": entry.collection,
        "registry_file": origin,
        "notes": entry.notes,
        "spec_hash": entry.spec_hash(),
    }


def import_entries(
    ws: Workspace, entries: list[LoadedEntry], *, actor: str, source: str, reset_status: bool = False
) -> ImportResult:
    """Add new candidates and update changed ones, in one transaction with one event.

    A curator's select/exclude decision survives a re-import unless `reset_status` is set.
    """
    result = ImportResult()
    with transaction(ws) as con:
        existing = _keys(con)
        check_entries(entries, existing)
        all_keys = list(dict.fromkeys([(i.entry.name, i.entry.language, i.entry.version) for i in entries] + existing))
        current = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute("SELECT dataset_id, spec_hash, status, exclusion_reason FROM datasets").fetchall()
        }
        imported_sota = {
            r[0]
            for r in con.execute(
                "SELECT dataset_id FROM datasets WHERE starts_with(sota_source, ?)", [_SOTA_CSV]
            ).fetchall()
        }
        for item in entries:
            entry = item.entry
            sup = (
                resolve_in(Ref.parse(entry.superseded_by), all_keys, default_language=entry.language)
                if entry.superseded_by
                else None
            )
            values = _row_values(entry, sup, item.origin)
            did = entry.dataset_id
            if did in current:
                old_hash, old_status, old_reason = current[did]
                if old_hash == values["spec_hash"] and not reset_status:
                    result.unchanged.append(did)
                    continue
                if not reset_status:
                    values["status"], values["exclusion_reason"] = old_status, old_reason
                # A user's SOTA CSV outlives a registry edit that brings no SOTA value of its own.
                keep_sota = did in imported_sota and entry.sota.value is None
                cols = [c for c in values if c != "dataset_id" and not (keep_sota and c.startswith("sota_"))]
                con.execute(
                    "UPDATE datasets SET "
                    + ", ".join(f"{c} = ?" for c in cols)
                    + ", updated_at = current_timestamp WHERE dataset_id = ?",
                    [values[c] for c in cols] + [did],
                )
                result.updated.append(did)
            else:
                cols = list(values)
                con.execute(
                    f"INSERT INTO datasets ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [values[c] for c in cols],
                )
                result.added.append(did)
            con.execute("DELETE FROM label_spaces WHERE dataset_id = ?", [did])
            for pos, label in enumerate(entry.label_space):
                native = entry.label_native.get(label)
                con.execute(
                    "INSERT INTO label_spaces (dataset_id, position, label, native) VALUES (?, ?, ?, ?)",
                    [did, pos, label, json.dumps(native, ensure_ascii=False) if native else None],
                )
        if result.added or result.updated:
            record_event(
                con,
                actor=actor,
                kind="catalog.import",
                subject=source,
                payload={
                    "added": len(result.added),
                    "updated": len(result.updated),
                    "datasets": result.added + result.updated,
                },
            )
    return result


_SOTA_CSV = "sota-csv:"


def import_sota(ws: Workspace, rows: list[SotaRow], *, actor: str, source: str) -> dict[str, Any]:
    """Set the SOTA reference of catalogued datasets from a user's SOTA CSV: all rows or none, one event.

    Every named dataset must already be in the catalog (the error names the file, line and field). The
    value replaces the dataset's earlier reference, and a later registry re-import keeps it unless the
    registry entry brings a value of its own.
    """
    updated = []
    with transaction(ws) as con:
        resolved = []
        for row in rows:
            try:
                resolved.append((resolve(con, row.dataset), row))
            except LensforgeError as exc:
                raise LensforgeError(f"{row.origin}: field dataset: {exc.message}", hint=exc.hint) from None
        for did, row in resolved:
            sota = row.sota
            con.execute(
                "UPDATE datasets SET sota_metric = ?, sota_value = ?, sota_citation = ?, sota_split = ?, "
                "sota_confidence = ?, sota_note = ?, sota_source = ?, updated_at = current_timestamp "
                "WHERE dataset_id = ?",
                [
                    sota.metric,
                    sota.value,
                    sota.citation,
                    sota.split,
                    sota.confidence,
                    sota.note,
                    f"{_SOTA_CSV}{row.origin}",
                    did,
                ],
            )
            updated.append({"dataset_id": did, "metric": sota.metric, "value": sota.value, "citation": sota.citation})
        record_event(con, actor=actor, kind="catalog.sota", subject=source, payload={"datasets": updated})
    return {"kind": "sota", "updated": [u["dataset_id"] for u in updated], "sota": updated}


def import_file(ws: Workspace, path: Path, *, actor: str, reset_status: bool = False) -> dict[str, Any]:
    """`catalog import`: registry entries (YAML, or CSV in the reference format) or a SOTA CSV, told by its header."""
    if is_sota_csv(path):
        return import_sota(ws, load_sota_csv(path), actor=actor, source=str(path))
    res = import_entries(ws, load_file(path), actor=actor, source=str(path), reset_status=reset_status)
    return {"kind": "entries", **res.as_dict()}


def resolve(con: duckdb.DuckDBPyConnection, ref_text: str) -> str:
    """The dataset_id a user's [lang/]name[@version] names; a clear error when none or several."""
    ref = Ref.parse(ref_text)
    if fetch_one(con, "SELECT 1 FROM datasets WHERE dataset_id = ?", [ref_text]):
        return ref_text
    found = resolve_in(ref, _keys(con))
    if found is None:
        near = con.execute(
            "SELECT dataset_id FROM datasets WHERE lower(name) LIKE ? ORDER BY dataset_id LIMIT 5",
            [f"%{ref.name.lower()[:6]}%"],
        ).fetchall()
        hint = f"similar: {', '.join(r[0] for r in near)}" if near else "see `lensforge catalog list`"
        raise LensforgeError(f"no dataset named {ref_text!r} in the catalog", hint=hint)
    return found


def list_datasets(
    ws: Workspace,
    *,
    language: str | None = None,
    task: str | None = None,
    status: str | None = None,
    collection: str | None = None,
) -> pl.DataFrame:
    """Candidates filtered by language, task (substring, case-insensitive), status, collection."""
    where, params = [], []
    if language:
        where.append("language = ?")
        params.append(language)
    if task:
        where.append("lower(task) LIKE ?")
        params.append(f"%{task.lower()}%")
    if status:
        if status not in ("candidate", "selected", "excluded"):
            raise LensforgeError(f"unknown status {status!r} (use candidate, selected or excluded)")
        where.append("status = ?")
        params.append(status)
    if collection:
        where.append("collection = ?")
        params.append(collection)
    sql = f"SELECT {', '.join(LIST_COLUMNS)} FROM datasets"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY language, lower(name), version NULLS FIRST"
    return read_frame(ws, sql, params)


def dataset_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every catalogued dataset id, sorted (what `--all` means)."""
    return [r[0] for r in con.execute("SELECT dataset_id FROM datasets ORDER BY dataset_id").fetchall()]


def count_datasets(con: duckdb.DuckDBPyConnection) -> int:
    """How many candidates the catalog holds."""
    row = fetch_one(con, "SELECT count(*) FROM datasets")
    return int(row[0]) if row else 0


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def dataset_frame(
    con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], dataset_ids: list[str] | None = None
) -> pl.DataFrame:
    """Some columns of the `datasets` rows (all, or the named ids), by dataset id.

    Later stages join these facts (language, task type, SOTA reference) onto their own records instead of
    querying the table themselves, so this module stays the one place that knows its layout.
    """
    bad = [c for c in columns if not _IDENTIFIER.match(c)]
    if bad:
        raise ValueError(f"not column names: {bad}")
    cols = ", ".join(dict.fromkeys(("dataset_id", *columns)))
    if dataset_ids is None:
        return query_frame(con, f"SELECT {cols} FROM datasets ORDER BY dataset_id")
    return query_frame(
        con, f"SELECT {cols} FROM datasets WHERE list_contains(?, dataset_id) ORDER BY dataset_id", [list(dataset_ids)]
    )


def native_labels(con: duckdb.DuckDBPyConnection, dataset_ids: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """The registry's native (Arabic, Hindi) names of each dataset's labels: dataset -> label -> {lang: name}."""
    rows = con.execute(
        "SELECT dataset_id, label, native FROM label_spaces WHERE list_contains(?, dataset_id) AND native IS NOT NULL",
        [list(dataset_ids)],
    ).fetchall()
    out: dict[str, dict[str, dict[str, str]]] = {}
    for did, label, native in rows:
        out.setdefault(did, {})[label] = json.loads(native)
    return out


def _row_dict(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, Any]:
    cur = con.execute("SELECT * FROM datasets WHERE dataset_id = ?", [dataset_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None
    out = dict(zip(names, row, strict=True))
    for key in ("published_labels", "source_spec", "ingest_spec"):
        if out.get(key) is not None:
            out[key] = json.loads(out[key])
    for key in ("created_at", "updated_at"):
        out[key] = str(out[key])
    return out


def _labels(con: duckdb.DuckDBPyConnection, dataset_id: str) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT position, label, native FROM label_spaces WHERE dataset_id = ? ORDER BY position", [dataset_id]
    ).fetchall()
    return [{"label": r[1], "native": json.loads(r[2]) if r[2] else {}} for r in rows]


def show_dataset(ws: Workspace, ref_text: str) -> dict[str, Any]:
    """Every recorded field of one dataset, with its label space."""
    with connect(ws, read_only=True) as con:
        did = resolve(con, ref_text)
        out = _row_dict(con, did)
        out["label_space"] = _labels(con, did)
        return out


def dataset_labels(ws: Workspace, ref_text: str) -> pl.DataFrame:
    """The label space with native names, one row per label."""
    with connect(ws, read_only=True) as con:
        did = resolve(con, ref_text)
        labels = _labels(con, did)
    return pl.DataFrame(
        {
            "dataset_id": [did] * len(labels),
            "label": [lab["label"] for lab in labels],
            "ar": [lab["native"].get("ar") for lab in labels],
            "hi": [lab["native"].get("hi") for lab in labels],
        },
        schema={"dataset_id": pl.String, "label": pl.String, "ar": pl.String, "hi": pl.String},
    )


def _norm_label(label: str) -> str:
    return "".join(ch for ch in label.casefold() if ch.isalnum())


_DIFF_SKIP = {"dataset_id", "created_at", "updated_at", "spec_hash", "registry_file", "label_space", "ingest_spec"}


def diff_datasets(ws: Workspace, a_ref: str, b_ref: str) -> dict[str, Any]:
    """Metadata fields that differ, and how the two label spaces relate."""
    a, b = show_dataset(ws, a_ref), show_dataset(ws, b_ref)
    fields = []
    for key in a:
        if key in _DIFF_SKIP:
            continue
        if a.get(key) != b.get(key):
            fields.append({"field": key, "a": a.get(key), "b": b.get(key)})
    la = [lab["label"] for lab in a["label_space"]]
    lb = [lab["label"] for lab in b["label_space"]]
    only_a = [x for x in la if x not in lb]
    only_b = [x for x in lb if x not in la]
    variants = [{"a": x, "b": y} for x in only_a for y in only_b if _norm_label(x) == _norm_label(y)]
    pa, pb = a.get("published_labels") or [], b.get("published_labels") or []
    return {
        "a": a["dataset_id"],
        "b": b["dataset_id"],
        "fields": fields,
        "labels": {
            "common": [x for x in la if x in lb],
            "only_in_a": only_a,
            "only_in_b": only_b,
            "spelling_variants": variants,
        },
        "published_labels": {
            "only_in_a": [x for x in pa if x not in pb],
            "only_in_b": [x for x in pb if x not in pa],
        },
    }


def set_status(ws: Workspace, ref_text: str, status: str, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """Select or exclude a candidate; an exclusion needs a reason. One event."""
    if status not in ("selected", "excluded", "candidate"):
        raise LensforgeError(f"unknown status {status!r}")
    if status == "excluded" and not (reason and reason.strip()):
        raise LensforgeError("excluding a dataset needs a reason (--reason)")
    with transaction(ws) as con:
        did = resolve(con, ref_text)
        old = fetch_one(con, "SELECT status, exclusion_reason FROM datasets WHERE dataset_id = ?", [did])
        assert old is not None
        new_reason = reason if status == "excluded" else None
        con.execute(
            "UPDATE datasets SET status = ?, exclusion_reason = ?, updated_at = current_timestamp WHERE dataset_id = ?",
            [status, new_reason, did],
        )
        record_event(
            con,
            actor=actor,
            kind={"selected": "catalog.select", "excluded": "catalog.exclude", "candidate": "catalog.reset"}[status],
            subject=did,
            payload={"from": old[0], "to": status, "reason": reason},
        )
    return {"dataset_id": did, "from": old[0], "to": status, "reason": new_reason}


def export_catalog(ws: Workspace, fmt: str) -> str:
    """The candidate table as CSV or JSON text."""
    with connect(ws, read_only=True) as con:
        cur = con.execute(
            f"SELECT {', '.join(EXPORT_COLUMNS)} FROM datasets ORDER BY language, lower(name), version NULLS FIRST"
        )
        rows = cur.fetchall()
        labels = {}
        for did, label in con.execute(
            "SELECT dataset_id, label FROM label_spaces ORDER BY dataset_id, position"
        ).fetchall():
            labels.setdefault(did, []).append(label)
    records = []
    for row in rows:
        rec = dict(zip(EXPORT_COLUMNS, row, strict=True))
        for key in ("published_labels", "source_spec"):
            rec[key] = json.loads(rec[key]) if rec[key] else None
        rec["label_space"] = labels.get(rec["dataset_id"], [])
        records.append(rec)
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*EXPORT_COLUMNS, "label_space"])
        writer.writeheader()
        for rec in records:
            flat = dict(rec)
            flat["published_labels"] = "|".join(rec["published_labels"] or [])
            flat["label_space"] = "|".join(rec["label_space"])
            flat["source_spec"] = json.dumps(rec["source_spec"], ensure_ascii=False) if rec["source_spec"] else ""
            writer.writerow(flat)
        return buf.getvalue()
    raise LensforgeError(f"unknown export format {fmt!r} (use csv or json)")


def catalog_summary(ws: Workspace) -> dict[str, Any]:
    """Counts by status, language, task, task type, capability and collection."""
    with connect(ws, read_only=True) as con:

        def counts(col: str) -> dict[str, int]:
            rows = con.execute(
                f"SELECT coalesce({col}, '(none)') AS k, count(*) FROM datasets GROUP BY k ORDER BY count(*) DESC, k"
            ).fetchall()
            return {str(k): int(n) for k, n in rows}

        total = fetch_one(con, "SELECT count(*) FROM datasets")
        ingestable = con.execute(
            "SELECT dataset_id, json_extract_string(source_spec, '$.local.slug') FROM datasets "
            "WHERE ingest_spec IS NOT NULL ORDER BY dataset_id"
        ).fetchall()
        labels = fetch_one(con, "SELECT count(*), count(DISTINCT lower(label)) FROM label_spaces")
        return {
            "total": int(total[0]) if total else 0,
            "by_status": counts("status"),
            "by_language": counts("language"),
            "by_task": counts("task"),
            "by_task_type": counts("task_type"),
            "by_capability": counts("capability"),
            "by_collection": counts("collection"),
            "labels": {"total": int(labels[0]), "distinct": int(labels[1])} if labels else {},
            "with_ingest_spec": [{"dataset_id": d, "local_slug": s} for d, s in ingestable],
        }


def entry_from_catalog(con: duckdb.DuckDBPyConnection, dataset_id: str) -> DatasetEntry:
    """Rebuild the registry entry of a catalogued dataset (imported entries live only in the catalog)."""
    row = _row_dict(con, dataset_id)
    natives = {lab["label"]: lab["native"] for lab in _labels(con, dataset_id) if lab["native"]}
    source = {k: v for k, v in (row["source_spec"] or {}).items() if v is not None}
    data = {
        "name": row["name"],
        "language": row["language"],
        "version": row["version"],
        "task": row["task"],
        "task_type": row["task_type"],
        "capability": row["capability"],
        "task_definition": row["task_definition"],
        "labels": row["published_labels"] or [],
        "label_native": natives,
        "license": row["license"],
        "citation": row["citation"],
        "source_url": row["source_url"],
        "source": source,
        "ingest": row["ingest_spec"],
        "has_official_split": row["has_official_split"],
        "published_sizes": {
            "train": row["published_train"],
            "dev": row["published_dev"],
            "test": row["published_test"],
        },
        "sota": {key: row[f"sota_{key}"] for key in ("metric", "value", "citation", "split", "confidence", "note")},
        "status": row["status"],
        "exclusion_reason": row["exclusion_reason"],
        "superseded_by": row["superseded_by"],
        "in_final_52": row["in_final_52"],
        "collection": row["collection"],
        "notes": row["notes"],
    }
    return DatasetEntry.model_validate(data)
