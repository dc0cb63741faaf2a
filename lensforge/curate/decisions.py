"""Row-level curation decisions: relabel, exclude or dismiss single rows, applied when a snapshot is built.

Label mappings decide for every row of a source label at once; a curator who finds one mislabeled
tweet needs to fix or drop that row alone. A decision is keyed by the dataset and the row's stable
`sample_id` (a hash of its source identity, the same in every version), so it carries over when the
dataset is re-ingested. One current decision per row lives in `row_decisions`; every action writes
exactly one event (a bulk action is one event listing its ids), which is the history.

- `relabel`: the row's canonical answer becomes the given label. It wins over the label mapping (a row
  whose source label is rejected comes back with the new label), and it restores a row quarantined
  for a label problem (`label_conflict`, `unlabelled`): the curator settled the label.
- `exclude`: the row stays out of every snapshot.
- `dismiss`: the row was looked at and stays as it is (e.g. a suggested label issue that is not one);
  it changes no snapshot row, so it is not part of the decision set.

The decision set of a dataset (its relabel and exclude decisions) is content-addressed like a mapping
version; `curate_dataset` applies it and the snapshot manifest names its id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import polars as pl

from lensforge.catalog.datasets import resolve
from lensforge.catalog.db import connect, query_frame, read_frame, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.spec import DatasetEntry
from lensforge.curate.mappings import allowed_labels, current_of
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import load_rows
from lensforge.workspace import Workspace

if TYPE_CHECKING:
    from lensforge.curate.samples import SampleFilter

Action = Literal["relabel", "exclude", "dismiss"]
ACTIONS: tuple[str, ...] = ("relabel", "exclude", "dismiss")
# Actions that change what a snapshot holds (dismiss only records that a row was looked at).
EFFECTIVE: tuple[str, ...] = ("relabel", "exclude")
# Quarantine reasons a relabel settles: the row comes back with the curator's label. Other reasons (duplicates,
# leakage, too short, ragged) are not label problems, and restoring such a row would undo what ingest protects.
RESTORABLE: tuple[str, ...] = ("label_conflict", "unlabelled")
LABEL_SEPARATOR = ","
DECISION_COLUMNS = {"sample_id": pl.String, "action": pl.String, "label": pl.String}


@dataclass(frozen=True)
class RowTargets:
    """Where the named rows are in the dataset's current version."""

    dataset_id: str
    version_id: str
    entry: DatasetEntry
    kept: list[str]
    quarantined: dict[str, str]  # sample_id -> quarantine reason
    unknown: list[str]


def _locate(ws: Workspace, ref: str, sample_ids: Sequence[str]) -> RowTargets:
    """Find each id among the current version's kept rows, then its quarantine; ids found nowhere are unknown."""
    wanted = list(dict.fromkeys(s.strip() for s in sample_ids if s and s.strip()))
    with connect(ws, read_only=True) as con:
        did, version, entry = current_of(con, ref)
    ids = pl.Series("sample_id", wanted, dtype=pl.String)
    kept_ids = load_rows(ws, version, columns=["sample_id"]).filter(pl.col("sample_id").is_in(ids.implode()))[
        "sample_id"
    ]
    kept = set(kept_ids.to_list())
    quarantined: dict[str, str] = {}
    qpath = ws.root / version["path"] / "quarantine.parquet"
    rest = [s for s in wanted if s not in kept]
    if rest and qpath.is_file():
        q = pl.read_parquet(qpath, columns=["sample_id", "reason"]).filter(
            pl.col("sample_id").is_in(pl.Series(rest, dtype=pl.String).implode())
        )
        quarantined = dict(zip(q["sample_id"].to_list(), q["reason"].to_list(), strict=True))
    return RowTargets(
        did,
        version["version_id"],
        entry,
        [s for s in wanted if s in kept],
        quarantined,
        [s for s in wanted if s not in kept and s not in quarantined],
    )


def _normalise_label(ws: Workspace, ref: str, entry: DatasetEntry, label: str | None) -> str:
    """The relabel target as stored: a canonical name of the dataset (atoms sorted for multi-label)."""
    if entry.task_type == "generation":
        raise LensforgeError(
            f"{entry.dataset_id} is a generation task: its rows have no label to change",
            hint="exclude the row instead",
        )
    if not (label and label.strip()):
        raise LensforgeError("relabel needs the new label (--label)")
    atoms = [a.strip() for a in label.split(LABEL_SEPARATOR)] if entry.task_type == "multilabel" else [label.strip()]
    atoms = sorted(dict.fromkeys(a for a in atoms if a))
    if len(atoms) > 1 and entry.task_type != "multilabel":
        raise LensforgeError(f"{entry.dataset_id} takes one label per row, not {label!r}")
    allowed = allowed_labels(ws, ref)
    bad = [a for a in atoms if a not in allowed]
    if bad:
        raise LensforgeError(
            f"{', '.join(repr(b) for b in bad)} is not a canonical label of {entry.dataset_id}",
            hint="use one of: "
            + ", ".join(allowed)
            + "; a new name needs `lensforge labels set ... --new-label` first",
        )
    return LABEL_SEPARATOR.join(atoms)


def _check(targets: RowTargets, action: str) -> None:
    if targets.unknown:
        shown = ", ".join(targets.unknown[:5]) + (" …" if len(targets.unknown) > 5 else "")
        raise LensforgeError(
            f"{targets.dataset_id} version {targets.version_id} has no row {shown} "
            f"({len(targets.unknown)} unknown sample id(s))",
            hint="sample ids are listed by `lensforge samples NAME --json`",
        )
    if not targets.quarantined:
        return
    if action != "relabel":
        first, reason = next(iter(targets.quarantined.items()))
        raise LensforgeError(
            f"{targets.dataset_id}: row {first} is quarantined ({reason}) and already left out of every snapshot",
            hint="only a relabel applies to a quarantined row (it restores it with the new label)",
        )
    blocked = {s: r for s, r in targets.quarantined.items() if r not in RESTORABLE}
    if blocked:
        first, reason = next(iter(blocked.items()))
        raise LensforgeError(
            f"{targets.dataset_id}: row {first} was quarantined as {reason}, not for its label; "
            "relabelling cannot restore it",
            hint=f"only rows quarantined for {' or '.join(RESTORABLE)} can be restored with a label",
        )


def _current_rows(con: duckdb.DuckDBPyConnection, dataset_id: str, sample_ids: list[str]) -> pl.DataFrame:
    if not sample_ids:
        return pl.DataFrame(schema={"sample_id": pl.String, "action": pl.String, "label": pl.String})
    return query_frame(
        con,
        "SELECT sample_id, action, label FROM row_decisions WHERE dataset_id = ? AND list_contains(?, sample_id)",
        [dataset_id, sample_ids],
    )


def preview_row_decisions(
    ws: Workspace, ref: str, sample_ids: Sequence[str], *, action: Action, label: str | None = None
) -> dict[str, Any]:
    """What a decision would touch, without writing anything: the bulk action's "N rows" before the click.

    Counts the rows found (kept or quarantined), those already holding the same decision (unchanged) and
    those whose earlier decision it replaces; errors as `record_row_decisions` would raise them.
    """
    return _prepare(ws, ref, sample_ids, action, label)[1]


def _prepare(
    ws: Workspace, ref: str, sample_ids: Sequence[str], action: str, label: str | None
) -> tuple[RowTargets, dict[str, Any]]:
    if action not in ACTIONS:
        raise LensforgeError(f"unknown row action {action!r} (use {', '.join(ACTIONS)})")
    targets = _locate(ws, ref, sample_ids)
    _check(targets, action)
    stored = _normalise_label(ws, ref, targets.entry, label) if action == "relabel" else None
    ids = targets.kept + list(targets.quarantined)
    with connect(ws, read_only=True) as con:
        before = _current_rows(con, targets.dataset_id, ids)
    same = before.filter((pl.col("action") == action) & pl.col("label").eq_missing(stored))
    replaced = before.join(same, on="sample_id", how="anti")["action"].value_counts()
    return targets, {
        "dataset_id": targets.dataset_id,
        "version_id": targets.version_id,
        "action": action,
        "label": stored,
        "rows": len(ids),
        "kept": len(targets.kept),
        "restored_from_quarantine": len(targets.quarantined),
        "unchanged": same.height,
        "replaces": dict(zip(replaced["action"].to_list(), replaced["count"].to_list(), strict=True)),
    }


def decide_rows(
    ws: Workspace,
    ref: str,
    sample_ids: Sequence[str] = (),
    *,
    action: Action,
    label: str | None = None,
    reason: str = "",
    actor: str,
    preview: bool = False,
    match: SampleFilter | None = None,
) -> dict[str, Any]:
    """One row action on named rows, or (with `match`) on every row of the dataset's current version the filter
    matches; with `preview`, only what it would touch (`preview_row_decisions`), else recorded
    (`record_row_decisions`). The filter's own datasets are ignored: the rows are the named dataset's.
    """
    if match is not None and sample_ids:
        raise LensforgeError("give sample ids or --match-* filters, not both")
    if match is not None:
        from lensforge.curate.samples import matching_sample_ids, sample_sources

        with connect(ws, read_only=True) as con:
            did = resolve(con, ref)
        sample_ids = matching_sample_ids(sample_sources(ws), replace(match, datasets=(did,)))
        if not sample_ids:
            raise LensforgeError(f"no row of {did} matches the filter")
    if preview:
        return preview_row_decisions(ws, ref, sample_ids, action=action, label=label)
    return record_row_decisions(ws, ref, sample_ids, action=action, label=label, reason=reason, actor=actor)


def record_row_decisions(
    ws: Workspace,
    ref: str,
    sample_ids: Sequence[str],
    *,
    action: Action,
    label: str | None = None,
    reason: str,
    actor: str,
    source: str = "cli",
) -> dict[str, Any]:
    """Relabel, exclude or dismiss rows of a dataset's current version: one transaction, one event.

    `sample_ids` may hold one row or thousands (a bulk action on a filtered set); a later decision on a row
    replaces its earlier one. Returns the preview's counts plus the event id and the new decision set id.
    """
    if not (reason and reason.strip()):
        raise LensforgeError(f"a row {action} needs a reason (--reason); it is kept in the audit log")
    if not [s for s in sample_ids if s and s.strip()]:
        raise LensforgeError("name at least one row (sample id)")
    targets, info = _prepare(ws, ref, sample_ids, action, label)
    did = targets.dataset_id
    ids = targets.kept + list(targets.quarantined)
    frame = pl.DataFrame(
        {
            "sample_id": ids,
            "origin": ["kept"] * len(targets.kept) + [f"quarantine:{r}" for r in targets.quarantined.values()],
        },
        schema={"sample_id": pl.String, "origin": pl.String},
    )
    with transaction(ws) as con:
        event_id = record_event(
            con,
            actor=actor,
            kind=f"rows.{action}",
            subject=did,
            payload={
                "version_id": targets.version_id,
                "sample_ids": ids,
                "count": len(ids),
                "label": info["label"],
                "reason": reason.strip(),
                "source": source,
                "replaces": info["replaces"],
            },
        )
        con.register("new_decisions", frame)
        try:
            con.execute(
                "INSERT INTO row_decisions (dataset_id, sample_id, action, label, reason, actor, version_id, origin, "
                "source, event_id) SELECT ?, sample_id, ?, ?, ?, ?, ?, origin, ?, ? FROM new_decisions "
                "ON CONFLICT (dataset_id, sample_id) DO UPDATE SET action = excluded.action, label = excluded.label, "
                "reason = excluded.reason, actor = excluded.actor, version_id = excluded.version_id, "
                "origin = excluded.origin, source = excluded.source, event_id = excluded.event_id, "
                "ts = now()",
                [did, action, info["label"], reason.strip(), actor, targets.version_id, source, event_id],
            )
        finally:
            con.unregister("new_decisions")
        set_id = _record_decision_set(con, did)
    return {**info, "event_id": event_id, "decision_set_id": set_id, "sample_ids": ids}


def clear_row_decisions(
    ws: Workspace, ref: str, sample_ids: Sequence[str], *, reason: str, actor: str
) -> dict[str, Any]:
    """Withdraw the decisions on these rows (they go back to what the mapping makes of them); one event."""
    if not (reason and reason.strip()):
        raise LensforgeError("withdrawing a row decision needs a reason (--reason)")
    wanted = list(dict.fromkeys(s.strip() for s in sample_ids if s and s.strip()))
    with transaction(ws) as con:
        did, version, _entry = current_of(con, ref)
        before = _current_rows(con, did, wanted)
        missing = sorted(set(wanted) - set(before["sample_id"].to_list()))
        if missing:
            raise LensforgeError(f"{did}: no decision on row {', '.join(missing[:5])}")
        con.execute("DELETE FROM row_decisions WHERE dataset_id = ? AND list_contains(?, sample_id)", [did, wanted])
        counts = before["action"].value_counts()
        event_id = record_event(
            con,
            actor=actor,
            kind="rows.clear",
            subject=did,
            payload={
                "version_id": version["version_id"],
                "sample_ids": wanted,
                "count": len(wanted),
                "cleared": dict(zip(counts["action"].to_list(), counts["count"].to_list(), strict=True)),
                "reason": reason.strip(),
            },
        )
        set_id = _record_decision_set(con, did)
    return {"dataset_id": did, "rows": len(wanted), "event_id": event_id, "decision_set_id": set_id}


def list_row_decisions(ws: Workspace, ref: str | None = None, *, actions: Sequence[str] = ()) -> pl.DataFrame:
    """The current decisions, newest first: of one dataset, or of every dataset when `ref` is None."""
    where, params = [], []
    with connect(ws, read_only=True) as con:
        if ref is not None:
            from lensforge.catalog.datasets import resolve

            where.append("dataset_id = ?")
            params.append(resolve(con, ref))
        if actions:
            where.append("list_contains(?, action)")
            params.append(list(actions))
        sql = (
            "SELECT dataset_id, sample_id, action, label, reason, actor, ts, version_id, origin, source, event_id "
            "FROM row_decisions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY ts DESC, sample_id"
        )
        return query_frame(con, sql, params)


def decisions_for(ws: Workspace, dataset_id: str) -> pl.DataFrame:
    """The dataset's relabel and exclude decisions (sample_id, action, label), the input of `apply_row_decisions`."""
    with connect(ws, read_only=True) as con:
        return _effective(con, dataset_id)


def _effective(con: duckdb.DuckDBPyConnection, dataset_id: str) -> pl.DataFrame:
    frame = query_frame(
        con,
        "SELECT sample_id, action, label FROM row_decisions WHERE dataset_id = ? AND list_contains(?, action) "
        "ORDER BY sample_id",
        [dataset_id, list(EFFECTIVE)],
    )
    return frame.cast(DECISION_COLUMNS) if frame.height else pl.DataFrame(schema=DECISION_COLUMNS)


def set_id_of(decisions: pl.DataFrame) -> str | None:
    """Content hash of a decision set ({sample_id: [action, label]}); None when there is no decision."""
    if decisions.is_empty():
        return None
    return "d" + hashlib.sha256(_set_json(decisions).encode("utf-8")).hexdigest()[:15]


def _set_json(decisions: pl.DataFrame) -> str:
    body = {r["sample_id"]: [r["action"], r["label"]] for r in decisions.sort("sample_id").iter_rows(named=True)}
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def decision_set_id(ws: Workspace, dataset_id: str) -> str | None:
    """The id of the dataset's current decision set (what a snapshot built now would apply), or None."""
    return set_id_of(decisions_for(ws, dataset_id))


def _record_decision_set(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
    """Store the set as it now stands, once per distinct content; returns its id."""
    decisions = _effective(con, dataset_id)
    set_id = set_id_of(decisions)
    if set_id is not None:
        con.execute(
            "INSERT INTO decision_sets (decision_set_id, dataset_id, decisions) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [set_id, dataset_id, _set_json(decisions)],
        )
    return set_id


def get_decision_set(ws: Workspace, decision_set_id: str) -> dict[str, Any]:
    """A recorded decision set by id (as named in a snapshot manifest)."""
    with connect(ws, read_only=True) as con:
        rows = con.execute(
            "SELECT dataset_id, created_at, decisions FROM decision_sets WHERE decision_set_id = ?", [decision_set_id]
        ).fetchall()
    if not rows:
        raise LensforgeError(f"no decision set {decision_set_id!r}")
    did, created, body = rows[0]
    return {
        "decision_set_id": decision_set_id,
        "dataset_id": did,
        "created_at": str(created),
        "decisions": json.loads(body),
    }


@dataclass(frozen=True)
class AppliedDecisions:
    """What a decision set did to a dataset's rows."""

    decision_set_id: str | None
    relabeled: int
    excluded: int
    restored: int  # relabeled rows taken back from the quarantine
    not_found: int  # decisions on rows this version does not hold

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_set_id": self.decision_set_id,
            "relabeled": self.relabeled,
            "excluded": self.excluded,
            "restored": self.restored,
            "not_found": self.not_found,
        }


def restorable_rows(
    ws: Workspace, version: dict[str, Any], decisions: pl.DataFrame, columns: list[str]
) -> pl.DataFrame:
    """Quarantined rows of this version that a relabel brings back (same columns as the kept rows)."""
    relabel = decisions.filter(pl.col("action") == "relabel")["sample_id"]
    qpath = ws.root / version["path"] / "quarantine.parquet"
    if relabel.is_empty() or not qpath.is_file():
        return pl.DataFrame()
    return (
        pl.scan_parquet(qpath)
        .filter(pl.col("sample_id").is_in(relabel.implode()) & pl.col("reason").is_in(list(RESTORABLE)))
        .select(columns)
        .collect()
    )


def apply_row_decisions(frame: pl.DataFrame, decisions: pl.DataFrame, *, task_type: str) -> pl.DataFrame:
    """Drop excluded rows and give relabeled rows their new canonical label.

    `frame` holds rows with `sample_id` and `canonical` (a list for multi-label), before rows without a
    label are dropped, so a relabel also wins over a rejected mapping. Decisions on ids the frame does
    not hold are ignored (see `count_applied`).
    """
    if decisions.is_empty():
        return frame
    excluded = decisions.filter(pl.col("action") == "exclude")["sample_id"]
    relabel = decisions.filter(pl.col("action") == "relabel").select("sample_id", pl.col("label").alias("_new_label"))
    out = frame.filter(~pl.col("sample_id").is_in(excluded.implode()))
    if relabel.is_empty():
        return out
    new = pl.col("_new_label")
    if task_type == "multilabel":
        new = new.str.split(LABEL_SEPARATOR)
    out = out.join(relabel, on="sample_id", how="left", maintain_order="left")
    return out.with_columns(
        pl.when(pl.col("_new_label").is_not_null()).then(new).otherwise(pl.col("canonical")).alias("canonical")
    ).drop("_new_label")


def count_applied(
    frame: pl.DataFrame, decisions: pl.DataFrame, *, restored: int = 0, set_id: str | None = None
) -> AppliedDecisions:
    """How many of the decisions hit rows of `frame` (the rows before `apply_row_decisions`)."""
    if decisions.is_empty():
        return AppliedDecisions(set_id, 0, 0, 0, 0)
    hit = decisions.join(frame.select("sample_id"), on="sample_id", how="semi")
    counts = dict(hit.group_by("action").len().iter_rows())
    return AppliedDecisions(
        set_id,
        int(counts.get("relabel", 0)),
        int(counts.get("exclude", 0)),
        restored,
        decisions.height - hit.height,
    )


def decisions_on(ws: Workspace, sample_ids: Sequence[str]) -> pl.DataFrame:
    """The current decisions on these rows, any dataset (the sample browser marks a page's rows with them)."""
    return read_frame(
        ws,
        "SELECT dataset_id AS dataset, sample_id, action AS decision, label AS decided_label, "
        "reason AS decision_reason, actor AS decided_by FROM row_decisions WHERE list_contains(?, sample_id)",
        [list(sample_ids)],
    )
