"""Label mappings in the catalog: proposals, curator review (approve, reject, set), impact, versions.

Mappings belong to an ingested version. Opening a dataset for review creates the automatic
proposals for labels that have none, carrying over decisions made on the previous version.
Every curator action writes exactly one event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.datasets import entry_from_catalog, resolve
from lensforge.catalog.db import connect, query_frame, reading, transaction
from lensforge.catalog.events import list_events, record_event
from lensforge.catalog.spec import DatasetEntry
from lensforge.curate.labels import native_table, propose, task_group
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_version_row, current_versions_frame, load_rows, version_dates
from lensforge.workspace import Workspace

STATUSES = ("proposed", "approved", "rejected")


def current_of(con: duckdb.DuckDBPyConnection, ref: str) -> tuple[str, dict[str, Any], DatasetEntry]:
    """The dataset id, its current ingested version and its registry entry; an error if never ingested."""
    did = resolve(con, ref)
    version = current_version_row(con, did)
    if version is None:
        raise LensforgeError(f"{did} has not been ingested yet", hint=f"run `lensforge ingest {ref}`")
    return did, version, entry_from_catalog(con, did)


def _group_key(task: str) -> str:
    group = task_group(task)
    return group.key if group else f"task:{task.lower()}"


def source_labels(ws: Workspace, version: dict[str, Any], entry: DatasetEntry) -> pl.DataFrame:
    """Kept rows per source label and split (one atom per row for multi-label fields)."""
    rows = load_rows(ws, version, columns=["split", "label_raw"]).drop_nulls("label_raw")
    if entry.task_type == "multilabel":
        sep = entry.ingest.labels.multilabel_separator if entry.ingest else ","
        rows = rows.with_columns(pl.col("label_raw").str.split(sep or ",")).explode("label_raw")
        rows = rows.with_columns(pl.col("label_raw").str.strip_chars()).filter(pl.col("label_raw") != "")
    return rows.group_by("label_raw", "split").len().rename({"label_raw": "raw_label"})


def _additions(con: duckdb.DuckDBPyConnection, group_key: str) -> tuple[str, ...]:
    rows = con.execute("SELECT label FROM canonical_additions WHERE task_group = ?", [group_key]).fetchall()
    return tuple(r[0] for r in rows)


def _task_labels(con: duckdb.DuckDBPyConnection, entry: DatasetEntry) -> set[str]:
    """The task's canonical set plus the names curators added to it."""
    group = task_group(entry.task)
    return set(group.labels if group else ()) | set(_additions(con, _group_key(entry.task)))


def review_status(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per current version: its validity and task type, and how many source labels have a mapping row and how
    many of those are proposed, approved or rejected (`mapped` 0: never opened for review), with the proposed
    labels in `pending_labels`. What the review queue and the app's Labels page read."""
    versions = current_versions_frame(con).select(
        "dataset_id", "version_id", "valid", "failed_expectations", "task_type"
    )
    counts = query_frame(
        con,
        "SELECT version_id, count(raw_label) AS mapped, "
        "count(raw_label) FILTER (WHERE status = 'proposed') AS proposed, "
        "count(raw_label) FILTER (WHERE status = 'approved') AS approved, "
        "count(raw_label) FILTER (WHERE status = 'rejected') AS rejected, "
        "list(raw_label ORDER BY raw_label) FILTER (WHERE status = 'proposed') AS pending_labels "
        "FROM label_mappings WHERE list_contains(?, version_id) GROUP BY version_id",
        [versions["version_id"].to_list()],
    )
    numbers = ["mapped", *STATUSES]
    return versions.join(counts, on="version_id", how="left", maintain_order="left").with_columns(
        pl.col(numbers).fill_null(0)
    )


def allowed_labels(ws: Workspace, ref: str) -> list[str]:
    """Canonical names a row of this dataset may be given (row relabels): the task's set, curator additions,
    and the names its current mapping already uses (a task without a canonical set has only those).

    Only reads: a preview or a relabel must not write proposals as a side effect."""
    with connect(ws, read_only=True) as con:
        _did, version, entry = current_of(con, ref)
        used = {
            r[0]
            for r in con.execute(
                "SELECT canonical FROM label_mappings WHERE version_id = ? AND status <> 'rejected' "
                "AND canonical IS NOT NULL",
                [version["version_id"]],
            ).fetchall()
        }
        return sorted(_task_labels(con, entry) | used)


def sync_proposals(ws: Workspace, ref: str, *, actor: str = "auto", labels: list[str] | None = None) -> str:
    """Make sure every source label of the current version has a mapping row; returns the version id.

    `labels`: the version's source labels when the caller has read them (checked against the rows, gaps filled).
    Without them a version that already has mapping rows is taken as synced, without reading its Parquet files
    again (a snapshot build of 24 datasets spent ~0.5 s here): a version's rows never change and its labels go in
    together, in one transaction. `map_labels` refuses a source label that has no row all the same.
    """
    with connect(ws, read_only=True) as con:
        did, version, entry = current_of(con, ref)
        have = {
            r[0]
            for r in con.execute(
                "SELECT raw_label FROM label_mappings WHERE version_id = ?", [version["version_id"]]
            ).fetchall()
        }
        if entry.task_type == "generation" or (have and labels is None):
            return version["version_id"]
        earlier = query_frame(
            con,
            "SELECT raw_label, canonical, status, author, reason, version_id FROM label_mappings "
            "WHERE dataset_id = ? AND version_id <> ? AND status <> 'proposed'",
            [did, version["version_id"]],
        )
        # Decisions on later versions win: walk the versions in the order they were ingested.
        dated = earlier.join(version_dates(con, did), on="version_id", how="inner").sort("created_at")
        previous = {r[0]: r[1:] for r in dated.drop("created_at").iter_rows()}
        additions = _additions(con, _group_key(entry.task))
    if labels is None:
        labels = source_labels(ws, version, entry)["raw_label"].unique().sort().to_list()
    missing = [raw for raw in sorted(set(labels)) if raw not in have]
    if not missing:
        return version["version_id"]
    decoding = dict(entry.ingest.labels.mapping) if entry.ingest else {}
    table = native_table(ws.root / "native_labels.yaml")
    rows = []
    for raw in missing:
        prop = propose(raw, task=entry.task, decoding=decoding, native=table, extra_labels=additions)
        if raw in previous:
            canonical, status, author, reason, old_vid = previous[raw]
            rows.append((raw, canonical, status, author, f"carried over from {old_vid}: {reason}", prop.canonical))
        else:
            rows.append((raw, prop.canonical, "proposed", "auto", prop.reason, prop.canonical))
    with transaction(ws) as con:
        for raw, canonical, status, author, reason, proposed in rows:
            con.execute(
                "INSERT INTO label_mappings (version_id, dataset_id, raw_label, canonical, status, author, reason, "
                "proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [version["version_id"], did, raw, canonical, status, author, reason, proposed],
            )
        record_event(
            con,
            actor=actor,
            kind="labels.propose",
            subject=did,
            payload={"version_id": version["version_id"], "labels": [r[0] for r in rows]},
        )
        _record_mapping_version(con, version["version_id"], did)
    return version["version_id"]


def _mapping_rows(con: duckdb.DuckDBPyConnection, version_id: str) -> pl.DataFrame:
    return query_frame(
        con,
        "SELECT raw_label, canonical, status, author, reason, proposed, updated_at FROM label_mappings "
        "WHERE version_id = ? ORDER BY raw_label",
        [version_id],
    )


def mapping_version_id(version_id: str, mapping: dict[str, str | None]) -> str:
    """Id of one dataset version's approved mapping.

    The dataset version is part of the hash: two datasets whose mappings happen to be equal (CheckThat 2025 ar and
    en both map SUBJ/OBJ the same way) get two ids, so each mapping version names the dataset it belongs to.
    Migration 0010 recorded the existing mappings under these ids.
    """
    blob = json.dumps(mapping, sort_keys=True, ensure_ascii=False)
    return "m" + hashlib.sha256(f"{version_id}\n{blob}".encode()).hexdigest()[:15]


def _record_mapping_version(con: duckdb.DuckDBPyConnection, version_id: str, dataset_id: str) -> str:
    """Hash of the approved rows (rejections included, as unmapped); recorded once per distinct set."""
    approved = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT raw_label, CASE WHEN status = 'approved' THEN canonical END FROM label_mappings "
            "WHERE version_id = ? AND status <> 'proposed' ORDER BY raw_label",
            [version_id],
        ).fetchall()
    }
    mid = mapping_version_id(version_id, approved)
    con.execute(
        "INSERT INTO mapping_versions (mapping_version_id, version_id, dataset_id, mapping) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [mid, version_id, dataset_id, json.dumps(approved, ensure_ascii=False, sort_keys=True)],
    )
    return mid


def impact(ws: Workspace, ref: str) -> dict[str, Any]:
    """What the current mapping does: rows per source label, class counts before and after, merges, unmapped."""
    with connect(ws, read_only=True) as con:
        did, version, entry = current_of(con, ref)
    counts = source_labels(ws, version, entry) if entry.task_type != "generation" else pl.DataFrame()
    # The labels just counted: any that lacks a mapping row gets its proposal here (the repair `map_labels` asks for).
    labels = counts["raw_label"].unique().to_list() if counts.height else []
    version_id = sync_proposals(ws, ref, labels=labels)
    with connect(ws, read_only=True) as con:
        rows = _mapping_rows(con, version_id)
    if counts.is_empty():
        return {
            "dataset_id": did,
            "version_id": version_id,
            "per_label": [],
            "before": {},
            "after": {},
            "merged": {},
            "unmapped": [],
        }
    per_label = (
        counts.pivot(on="split", index="raw_label", values="len", aggregate_function="sum")
        .fill_null(0)
        .join(rows.select("raw_label", "canonical", "status"), on="raw_label", how="left")
    )
    for split in SPLITS:
        if split not in per_label.columns:
            per_label = per_label.with_columns(pl.lit(0, dtype=pl.UInt32).alias(split))
    per_label = per_label.with_columns((pl.col("train") + pl.col("dev") + pl.col("test")).alias("rows")).sort(
        "raw_label"
    )
    effective = per_label.with_columns(
        pl.when(pl.col("status") == "rejected").then(None).otherwise(pl.col("canonical")).alias("target")
    )
    before = {r["raw_label"]: int(r["rows"]) for r in per_label.iter_rows(named=True)}
    after_df = effective.drop_nulls("target").group_by("target").agg(pl.col("rows").sum(), pl.col("raw_label").sort())
    after = {r["target"]: int(r["rows"]) for r in after_df.sort("target").iter_rows(named=True)}
    merged = {r["target"]: r["raw_label"] for r in after_df.iter_rows(named=True) if len(r["raw_label"]) > 1}
    unmapped = effective.filter(pl.col("target").is_null()).select("raw_label", "rows", "status").to_dicts()
    return {
        "dataset_id": did,
        "version_id": version_id,
        "per_label": per_label.select("raw_label", "canonical", "status", "train", "dev", "test", "rows").to_dicts(),
        "before": before,
        "after": after,
        "merged": merged,
        "unmapped": unmapped,
    }


def review(ws: Workspace, ref: str) -> dict[str, Any]:
    """Proposals with their review state and impact preview, for `labels review` and the app.

    Its reads share one catalog connection (`reading`): opened per read, the catalog took ~70% of the time.
    """
    with reading(ws):
        info = impact(ws, ref)
        with connect(ws, read_only=True) as con:
            _did, _version, entry = current_of(con, ref)
            rows = _mapping_rows(con, info["version_id"]).with_columns(pl.col("updated_at").cast(pl.String))
            mid = _effective_id(con, info["version_id"])
    group = task_group(entry.task)
    decoding = dict(entry.ingest.labels.mapping) if entry.ingest else {}
    mappings = []
    for m in rows.to_dicts():
        link = LabelLink(m["raw_label"], decoding.get(m["raw_label"], m["raw_label"]), m["canonical"], m["status"])
        mappings.append({**m, "decoded": link.decoded, "chain": link.chain})
    return {
        **info,
        "task": entry.task,
        "task_group": group.key if group else None,
        "task_labels": list(group.labels) if group else [],
        "mappings": mappings,
        "mapping_version_id": mid,
        "pending": int(rows.filter(pl.col("status") == "proposed").height),
    }


def _effective_id(con: duckdb.DuckDBPyConnection, version_id: str) -> str:
    approved = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT raw_label, CASE WHEN status = 'approved' THEN canonical END FROM label_mappings "
            "WHERE version_id = ? AND status <> 'proposed' ORDER BY raw_label",
            [version_id],
        ).fetchall()
    }
    return mapping_version_id(version_id, approved)


def _existing(con: duckdb.DuckDBPyConnection, version_id: str, did: str, raws: list[str]) -> dict[str, tuple[Any, ...]]:
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT raw_label, canonical, status, author, reason FROM label_mappings WHERE version_id = ?", [version_id]
        ).fetchall()
    }
    unknown = [raw for raw in raws if raw not in rows]
    if unknown:
        raise LensforgeError(
            f"{did} has no source label {', '.join(repr(u) for u in unknown)}",
            hint="its labels: " + ", ".join(sorted(rows)) if rows else "it has no labels",
        )
    return rows


def _change(
    ws: Workspace,
    ref: str,
    *,
    actor: str,
    kind: str,
    updates: list[tuple[str, str | None, str, str]],
    check: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply (raw, canonical, status, reason) updates in one transaction with one event."""
    version_id = sync_proposals(ws, ref)
    with transaction(ws) as con:
        did, _version, _entry = current_of(con, ref)
        old = _existing(con, version_id, did, check)
        changes = []
        for raw, canonical, status, reason in updates:
            before = old[raw]
            con.execute(
                "UPDATE label_mappings SET canonical = ?, status = ?, author = ?, reason = ?, "
                "updated_at = current_timestamp WHERE version_id = ? AND raw_label = ?",
                [canonical, status, actor, reason, version_id, raw],
            )
            changes.append(
                {
                    "raw": raw,
                    "from": {"canonical": before[0], "status": before[1]},
                    "to": {"canonical": canonical, "status": status},
                }
            )
        mid = _record_mapping_version(con, version_id, did)
        record_event(
            con,
            actor=actor,
            kind=kind,
            subject=did,
            payload={"version_id": version_id, "changes": changes, "mapping_version_id": mid, **(extra or {})},
        )
    return {"dataset_id": did, "version_id": version_id, "changes": changes, "mapping_version_id": mid}


def approve(
    ws: Workspace, ref: str, raws: list[str], *, actor: str, all_auto: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """Approve named source labels, or every automatic proposal (`all_auto`, which needs a reason)."""
    version_id = sync_proposals(ws, ref)
    if all_auto and raws:
        raise LensforgeError("give source labels or --all-auto, not both")
    if all_auto and not (reason and reason.strip()):
        raise LensforgeError("approving every automatic proposal needs a reason (it is kept in the audit log)")
    if not all_auto and not raws:
        raise LensforgeError("name the source labels to approve, or pass --all-auto --reason R")
    with connect(ws, read_only=True) as con:
        did, _version, _entry = current_of(con, ref)
        rows = _existing(con, version_id, did, raws)
    if all_auto:
        raws = [raw for raw, (_c, status, author, _r) in rows.items() if status == "proposed" and author == "auto"]
        if not raws:
            raise LensforgeError(f"{did} has no automatic proposals left to approve")
    updates = []
    for raw in raws:
        canonical = rows[raw][0]
        if canonical is None:
            raise LensforgeError(f"{did}: {raw!r} has no canonical name to approve", hint="use `labels set`")
        updates.append((raw, canonical, "approved", reason or rows[raw][3]))
    return _change(
        ws,
        ref,
        actor=actor,
        kind="labels.approve",
        updates=updates,
        check=raws,
        extra={"all_auto": all_auto, "reason": reason},
    )


def reject(ws: Workspace, ref: str, raw: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Reject a mapping: rows with this source label are left out of snapshots (and counted)."""
    if not (reason and reason.strip()):
        raise LensforgeError("rejecting a mapping needs a reason (it is kept in the audit log)")
    version_id = sync_proposals(ws, ref)
    with connect(ws, read_only=True) as con:
        did, _v, _e = current_of(con, ref)
        rows = _existing(con, version_id, did, [raw])
    return _change(
        ws,
        ref,
        actor=actor,
        kind="labels.reject",
        updates=[(raw, rows[raw][0], "rejected", reason)],
        check=[raw],
        extra={"reason": reason},
    )


def set_label(
    ws: Workspace, ref: str, raw: str, canonical: str, *, actor: str, reason: str, new_label: bool = False
) -> dict[str, Any]:
    """Map a source label to a canonical name of the curator's choice (an approval)."""
    if not (reason and reason.strip()):
        raise LensforgeError("setting a mapping needs a reason (it is kept in the audit log)")
    canonical = canonical.strip()
    if not canonical:
        raise LensforgeError("the canonical label cannot be empty")
    version_id = sync_proposals(ws, ref)
    with connect(ws, read_only=True) as con:
        did, _v, entry = current_of(con, ref)
        _existing(con, version_id, did, [raw])
        key = _group_key(entry.task)
        allowed = _task_labels(con, entry)
    if canonical not in allowed:
        if not new_label:
            shown = ", ".join(sorted(allowed)) or "(none yet)"
            raise LensforgeError(
                f"{canonical!r} is not in the canonical label set of {key} ({shown})",
                hint="pass --new-label to add it to the set",
            )
        with transaction(ws) as con:
            con.execute(
                "INSERT INTO canonical_additions (task_group, label, actor, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [key, canonical, actor, reason],
            )
    return _change(
        ws,
        ref,
        actor=actor,
        kind="labels.set",
        updates=[(raw, canonical, "approved", reason)],
        check=[raw],
        extra={"new_label": canonical not in allowed, "reason": reason},
    )


@dataclass(frozen=True)
class EffectiveMapping:
    dataset_id: str
    version_id: str
    mapping_version_id: str
    mapping: dict[str, str | None]  # raw -> canonical (None: rejected, rows left out)
    proposed_used: list[str]


def effective_mapping(
    ws: Workspace, ref: str, *, allow_proposed: bool = False, actor: str = "auto", used_by: str = ""
) -> EffectiveMapping:
    """The gate for snapshots: every source label approved or rejected, unless proposals are allowed.

    Using proposals writes an event naming them, so the choice is on record.
    """
    version_id = sync_proposals(ws, ref)
    with connect(ws, read_only=True) as con:
        did, _v, _e = current_of(con, ref)
        rows = _mapping_rows(con, version_id)
    pending = rows.filter(pl.col("status") == "proposed")["raw_label"].to_list()
    if pending and not allow_proposed:
        raise LensforgeError(
            f"{did}: {len(pending)} label mapping(s) not reviewed ({', '.join(pending[:6])})",
            hint=f"run `lensforge labels review {ref}`, or build with --allow-proposed",
        )
    mapping = {
        r["raw_label"]: (None if r["status"] == "rejected" else r["canonical"]) for r in rows.iter_rows(named=True)
    }
    if pending:
        with transaction(ws) as con:
            record_event(
                con,
                actor=actor,
                kind="labels.allow_proposed",
                subject=did,
                payload={"version_id": version_id, "labels": pending, "used_by": used_by},
            )
    return EffectiveMapping(did, version_id, mapping_version_id(version_id, mapping), mapping, pending)


def map_labels(frame: pl.DataFrame, entry: DatasetEntry, mapping: dict[str, str | None]) -> pl.DataFrame:
    """A `canonical` column on ingested rows: null (an empty list for multi-label) where every label is rejected.

    A source label with no mapping row at all is refused rather than read as rejected: its rows would otherwise
    leave the snapshot unnoticed.
    """
    if entry.task_type == "generation":
        return frame.with_columns(pl.col("target").alias("canonical"))
    keys = list(mapping)
    values = [mapping[k] for k in keys]
    sep = (entry.ingest.labels.multilabel_separator if entry.ingest else None) or ","
    raw = frame["label_raw"].drop_nulls()
    if entry.task_type == "multilabel":
        raw = raw.str.split(sep).explode().str.strip_chars()
        raw = raw.filter(raw != "")
    unmapped = raw.filter(~raw.is_in(pl.Series(keys, dtype=pl.String).implode())).unique().sort().to_list()
    if unmapped:
        raise LensforgeError(
            f"{entry.dataset_id}: {len(unmapped)} source label(s) have no mapping row "
            f"({', '.join(unmapped[:6])}); the catalog's label mappings are incomplete",
            hint=f"run `lensforge labels review {entry.dataset_id}` to propose them, then review them",
        )
    if entry.task_type == "multilabel":
        return frame.with_columns(
            pl.col("label_raw")
            .str.split(sep)
            .list.eval(
                pl.element().str.strip_chars().replace_strict(keys, values, default=None, return_dtype=pl.String)
            )
            .list.drop_nulls()
            .list.unique(maintain_order=True)
            .alias("canonical")
        )
    return frame.with_columns(
        pl.col("label_raw").replace_strict(keys, values, default=None, return_dtype=pl.String).alias("canonical")
    )


def drop_unlabelled(frame: pl.DataFrame, task_type: str) -> tuple[pl.DataFrame, int]:
    """Rows left without a canonical label are dropped (their count returned): the mapping rejected them."""
    if task_type == "generation":
        return frame, 0
    if task_type == "multilabel":
        keep = frame["canonical"].list.len().fill_null(0) > 0
    else:
        keep = frame["canonical"].is_not_null()
    return frame.filter(keep), int((~keep).sum())


def apply_mapping(frame: pl.DataFrame, entry: DatasetEntry, mapping: dict[str, str | None]) -> tuple[pl.DataFrame, int]:
    """Canonical labels on ingested rows; rows whose labels are all rejected are dropped (count returned)."""
    return drop_unlabelled(map_labels(frame, entry, mapping), entry.task_type)


def audit_log(ws: Workspace, ref: str, limit: int = 100) -> pl.DataFrame:
    """Every curation event of a dataset (label mappings and row decisions), newest first."""
    with connect(ws, read_only=True) as con:
        did = resolve(con, ref)
    return list_events(ws, subject=did, kind_prefixes=("labels.", "rows."), limit=limit).drop("subject")


# ----------------------------------------------------------------------------- one vocabulary: the label chain

CHAIN_ARROW = " → "
NOT_REVIEWED = "(not reviewed)"
REJECTED = "(rejected)"


@dataclass(frozen=True)
class LabelLink:
    """One source label in the three names a curator meets.

    `raw` is the value in the source file (None when the dataset was never opened for review, so only the
    decoded names are known), `decoded` the registry's decoding that ingest stores as `label`, `canonical`
    the name snapshots and scores use (None when rejected or not reviewed).
    """

    raw: str | None
    decoded: str
    canonical: str | None
    status: str | None  # proposed | approved | rejected; None: not opened for review

    @property
    def names(self) -> set[str]:
        return {n for n in (self.raw, self.decoded, self.canonical) if n}

    @property
    def chain(self) -> str:
        return chain_text(self.raw, self.decoded, self.shown_canonical)

    @property
    def shown_canonical(self) -> str:
        if self.status == "rejected":
            return REJECTED
        if self.canonical is None:
            return NOT_REVIEWED
        return self.canonical + (" (proposed)" if self.status == "proposed" else "")


def chain_text(raw: str | None, decoded: str | None, canonical: str | None) -> str:
    """`source → decoded → canonical`, the one way every page and command writes a label."""
    return CHAIN_ARROW.join(x if x else "–" for x in (raw, decoded, canonical))


def chain_expr(raw: pl.Expr, decoded: pl.Expr, canonical: pl.Expr) -> pl.Expr:
    """`chain_text` as a Polars expression, for a column of rows."""
    return pl.concat_str([e.cast(pl.String).fill_null("–") for e in (raw, decoded, canonical)], separator=CHAIN_ARROW)


@dataclass(frozen=True)
class LabelVocabulary:
    """A dataset's label chain: every source label with its decoded and canonical names."""

    dataset_id: str
    task_type: str
    separator: str | None  # of multi-label source fields
    links: tuple[LabelLink, ...]

    def canonical_of(self) -> dict[str, str | None]:
        """Source label -> canonical name (None when rejected or not reviewed)."""
        return {k.raw: (None if k.status == "rejected" else k.canonical) for k in self.links if k.raw is not None}

    def decoded_matching(self, names: set[str]) -> set[str]:
        """The decoded labels whose chain holds any of `names` (a filter given in any of the three names)."""
        return {k.decoded for k in self.links if k.names & names}

    @property
    def names(self) -> set[str]:
        return {n for k in self.links for n in k.names}


def label_vocabulary(ws: Workspace, dataset_ids: list[str] | None = None) -> dict[str, LabelVocabulary]:
    """The label chain of every current version (or the named datasets), in one catalog read.

    Reads only what review recorded: a dataset never opened for review shows its decoded labels with
    no source or canonical name (opening it would write proposals; looking must not).
    """
    with connect(ws, read_only=True) as con:
        versions = current_versions_frame(con).select("dataset_id", "version_id", "label_counts", "task_type")
        if dataset_ids is not None:
            versions = versions.filter(pl.col("dataset_id").is_in(list(dataset_ids)))
        rows = query_frame(
            con,
            "SELECT version_id, raw_label, canonical, status FROM label_mappings WHERE list_contains(?, version_id) "
            "ORDER BY raw_label",
            [versions["version_id"].to_list()],
        )
        entries = {did: entry_from_catalog(con, did) for did in versions["dataset_id"].to_list()}
    out = {}
    for v in versions.iter_rows(named=True):
        entry = entries[v["dataset_id"]]
        decoding = dict(entry.ingest.labels.mapping) if entry.ingest else {}
        separator = (entry.ingest.labels.multilabel_separator if entry.ingest else None) or ","
        links = [
            LabelLink(r["raw_label"], decoding.get(r["raw_label"], r["raw_label"]), r["canonical"], r["status"])
            for r in rows.filter(pl.col("version_id") == v["version_id"]).iter_rows(named=True)
        ]
        known = {k.decoded for k in links}
        counts = json.loads(v["label_counts"]) if isinstance(v["label_counts"], str) else v["label_counts"] or {}
        seen: set[str] = set()
        for per_split in counts.values():
            for key in per_split or {}:
                parts = str(key).split(",") if v["task_type"] == "multilabel" else [str(key)]
                seen.update(p.strip() for p in parts if p.strip())
        links += [LabelLink(None, d, None, None) for d in sorted(seen - known)]
        out[v["dataset_id"]] = LabelVocabulary(
            v["dataset_id"],
            v["task_type"],
            separator if v["task_type"] == "multilabel" else None,
            tuple(links),
        )
    return out


def mapping_chain(ws: Workspace, dataset_id: str, version_id: str, mapping_version_id: str) -> list[LabelLink]:
    """The label chain a snapshot used: its recorded mapping version, else the version's mapping as it stands
    (a mapping that included unreviewed proposals was never recorded as a version)."""
    with connect(ws, read_only=True) as con:
        found = con.execute(
            "SELECT mapping FROM mapping_versions WHERE mapping_version_id = ?", [mapping_version_id]
        ).fetchall()
        rows = _mapping_rows(con, version_id)
        entry = entry_from_catalog(con, dataset_id)
    decoding = dict(entry.ingest.labels.mapping) if entry.ingest else {}
    if found:
        mapping = json.loads(found[0][0])
        return [
            LabelLink(raw, decoding.get(raw, raw), canonical, "approved" if canonical else "rejected")
            for raw, canonical in sorted(mapping.items())
        ]
    return [
        LabelLink(r["raw_label"], decoding.get(r["raw_label"], r["raw_label"]), r["canonical"], r["status"])
        for r in rows.iter_rows(named=True)
    ]
