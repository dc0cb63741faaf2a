"""Data quality: where every record went, what was quarantined and why, row decisions, validation, leakage,
overlaps."""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, prefill, run_page, shown_errors, table
from lensforge.catalog.constants import SPLITS
from lensforge.curate.decisions import (
    RESTORABLE,
    decision_set_id,
    decisions_on,
    list_row_decisions,
    record_row_decisions,
)
from lensforge.curate.mappings import LabelVocabulary, allowed_labels, chain_expr, label_vocabulary
from lensforge.curate.samples import canonical_expr
from lensforge.ingest.api import ingest_report
from lensforge.ingest.overlap import report_pairs
from lensforge.ingest.versions import current_version, latest_report, load_quarantine
from lensforge.workspace import Workspace

PAGE_ROWS = 50


def _accounting(versions: pl.DataFrame) -> None:
    rows = []
    for v in versions.iter_rows(named=True):
        rows.append(
            {
                "dataset": v["dataset_id"],
                "version": v["version_id"],
                "valid": v["valid"],
                "read": v["records_read"],
                "train": v["kept_train"],
                "dev": v["kept_dev"],
                "test": v["kept_test"],
                "quarantined": v["quarantined"],
                "dropped (by reason)": ", ".join(
                    f"{k} {n}" for k, n in json.loads(v["dropped_by_reason"] or "{}").items()
                ),
                "balanced": v["records_read"] == v["kept_train"] + v["kept_dev"] + v["kept_test"] + v["quarantined"],
            }
        )
    table(rows)


def _dropped_chart(dropped: dict[str, int]) -> alt.Chart:
    data = pl.DataFrame({"reason": list(dropped), "rows": list(dropped.values())}).to_pandas()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("rows:Q"), y=alt.Y("reason:N", sort="-x", title=None), tooltip=["reason", "rows"])
        .properties(title="dropped per reason", height=alt.Step(20))
    )


def _waterfall_chart(steps: list[dict[str, Any]]) -> alt.Chart:
    """Rows through each ingest step, in step order: what went on, and what the step dropped on top."""
    order = [s["step"] for s in steps]
    rows = []
    for s in steps:
        rows.append({"step": s["step"], "part": "kept", "rows": s["rows_out"], "why": ""})
        for reason, n in s["dropped"].items():
            rows.append({"step": s["step"], "part": "dropped", "rows": n, "why": reason})
    data = pl.DataFrame(rows).to_pandas()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("step:N", sort=order, title=None),
            y=alt.Y("sum(rows):Q", title="rows"),
            color=alt.Color("part:N", scale=alt.Scale(domain=["kept", "dropped"], range=["#4c78a8", "#e45756"])),
            tooltip=["step", "part", "why", "rows"],
        )
        .properties(title="rows through each ingest step", height=260)
    )


def _side_by_side(pairs: pl.DataFrame, key: str, a_cols: list[str], b_cols: list[str]) -> None:
    """A table of pairs, and the two texts of one chosen pair next to each other."""
    if pairs.is_empty():
        st.caption("No pairs.")
        return
    table(pairs.head(500), height=300)
    if pairs.height > 500:
        st.caption(f"first 500 of {pairs.height} pairs shown")
    pick = st.number_input("Pair to compare (row number)", 0, pairs.height - 1, 0, key=key)
    row = pairs.row(int(pick), named=True)
    left, right = st.columns(2)
    for col, names, side in ((left, a_cols, "a"), (right, b_cols, "b")):
        with col:
            st.markdown(" · ".join(f"**{n.removeprefix(side + '_')}** {row[n]}" for n in names if n in row))
            st.text_area(
                f"text {side.upper()}", row.get(f"{side}_text") or "", height=140, disabled=True, key=f"{key}_{side}"
            )


def _quarantine(ws: Workspace, version: dict[str, Any], vocab: LabelVocabulary | None, multilabel: bool) -> None:
    rows = load_quarantine(ws, version)
    if rows.is_empty():
        st.caption("Nothing quarantined.")
        return
    reasons = rows["reason"].value_counts(sort=True)
    c1, c2 = st.columns([2, 3])
    chosen = c1.multiselect("Reason", reasons["reason"].to_list(), key="dq_reason")
    needle = c2.text_input("Text contains", key="dq_text")
    if chosen:
        rows = rows.filter(pl.col("reason").is_in(chosen))
    if needle:
        rows = rows.filter(pl.col("text").str.contains(needle, literal=True))
    pages = max(1, -(-rows.height // PAGE_ROWS))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="dq_page") if pages > 1 else 1
    st.caption(f"{rows.height} quarantined rows")
    part = rows.slice((int(page) - 1) * PAGE_ROWS, PAGE_ROWS)
    decided = decisions_on(ws, part["sample_id"].to_list()).select("sample_id", "decision", "decided_label")
    decoded = pl.col("label").list.join(", ") if part.schema["label"] == pl.List(pl.String) else pl.col("label")
    part = part.with_columns(
        chain_expr(pl.col("label_raw"), decoded, canonical_expr(vocab)).alias("source → decoded → canonical")
    ).join(decided, on="sample_id", how="left", maintain_order="left")
    table(
        part.select(
            "reason",
            "detail",
            "split",
            "source_file",
            "source_line",
            "text",
            "source → decoded → canonical",
            "decision",
            "decided_label",
            "sample_id",
        )
    )
    _restore(ws, version, part, multilabel)


def _restore(ws: Workspace, version: dict[str, Any], part: pl.DataFrame, multilabel: bool) -> None:
    """Settle the label of rows quarantined for a label problem: a relabel brings them back into snapshots."""
    fixable = part.filter(pl.col("reason").is_in(list(RESTORABLE)))
    if fixable.is_empty():
        return
    did = version["dataset_id"]
    st.markdown(f"**Restore with a label** (rows quarantined as {' or '.join(RESTORABLE)}, on this page)")
    names = {r["sample_id"]: f"{r['sample_id']} · {r['reason']} · {(r['text'] or '')[:60]}" for r in fixable.to_dicts()}
    picked = st.multiselect("Rows", list(names), format_func=names.get, key="dq_restore_rows")
    options = allowed_labels(ws, did)
    if multilabel:
        label = ",".join(st.multiselect("Labels", options, key=f"dq_restore_labels_{did}"))
    else:
        label = st.selectbox("Label", options, key=f"dq_restore_label_{did}")
    reason = st.text_input("Reason (required; kept in the audit log)", key="dq_restore_reason")
    if st.button("Restore with this label", key="dq_do_restore", disabled=not picked):
        with shown_errors():
            res = record_row_decisions(
                ws, did, picked, action="relabel", label=label, reason=reason, actor=actor(), source="quarantine"
            )
            flash(f"{did}: {res['rows']} quarantined row(s) restored as {res['label']}")


def _decisions(ws: Workspace, did: str) -> None:
    found = list_row_decisions(ws, did)
    if found.is_empty():
        st.caption(
            "No row-level decision: relabel or exclude rows on the Samples page (or restore quarantined ones "
            "in the Quarantine tab), or with `lensforge rows`."
        )
        return
    counts = found.group_by("action").len().sort("action")
    st.markdown(
        ", ".join(f"**{n}** {a}" for a, n in counts.iter_rows())
        + f" · decision set `{decision_set_id(ws, did) or '–'}` (what the next snapshot applies)"
    )
    table(found.select("sample_id", "action", "label", "reason", "actor", "ts", "origin", "source", "version_id"))


def _dataset(ws: Workspace, versions: pl.DataFrame) -> None:
    ids = versions["dataset_id"].to_list()
    prefill("dq_dataset", "dataset", lambda v: v if v in ids else ids[0])  # a link from the review queue
    did = st.selectbox("Dataset", ids, key="dq_dataset")
    if not did:
        return
    rep = ingest_report(ws, did)
    version = current_version(ws, did)
    assert version is not None
    acc = rep["accounting"]
    cols = st.columns(5)
    cols[0].metric("Records read", acc["records_read"])
    for i, split in enumerate(SPLITS):
        cols[i + 1].metric(f"Kept {split}", acc["kept"].get(split, 0))
    cols[4].metric("Valid", "yes" if rep["version"]["valid"] else "NO")
    st.caption(f"version {rep['version']['version_id']} · split {rep['split']['method']} (seed {rep['split']['seed']})")
    if acc["dropped"]:
        st.altair_chart(_dropped_chart(acc["dropped"]), width="stretch")
    else:
        st.caption("No record dropped.")
    if rep["steps"]:
        st.altair_chart(_waterfall_chart(rep["steps"]), width="stretch")
        table(
            [
                {
                    "step": s["step"],
                    "rows in": s["rows_in"],
                    "rows out": s["rows_out"],
                    "dropped": ", ".join(f"{k} {n}" for k, n in s["dropped"].items()),
                    "seconds": s["seconds"],
                }
                for s in rep["steps"]
            ]
        )
    for problem in rep["problems"]:
        st.error(problem)

    quarantine, decisions, validation, leakage, near = st.tabs(
        ["Quarantine", "Row decisions", "Validation", "Leakage", "Near duplicates"]
    )
    with quarantine:
        multilabel = versions.filter(pl.col("dataset_id") == did)["task_type"][0] == "multilabel"
        _quarantine(ws, version, label_vocabulary(ws, [did]).get(did), multilabel)
    with decisions:
        _decisions(ws, did)
    with validation:
        results = [
            {
                "expectation": r["expectation"],
                "column": r["column"],
                "success": r["success"],
                "observed": json.dumps(r["observed_value"], ensure_ascii=False)[:200],
                "unexpected": r["unexpected_count"],
            }
            for r in rep["validation"]
        ]
        failed = sum(1 for r in results if not r["success"])
        (st.error if failed else st.success)(f"{len(results) - failed} of {len(results)} expectations met")
        table(results)
    with leakage:
        leaks = load_quarantine(ws, version).filter(pl.col("reason").str.starts_with("leak_"))
        if leaks.is_empty():
            st.caption("No cross-split leakage found.")
        else:
            st.caption(f"{leaks.height} rows removed because the same normalised text is in a held-out split")
            table(leaks.select("reason", "split", "source_file", "source_line", "text", "detail"))
    with near:
        path = ws.root / version["path"] / "near_duplicates.parquet"
        if not path.is_file():
            st.caption(f"No near-duplicate report for this version: run `lensforge ingest {did} --near-dup`.")
        else:
            _side_by_side(pl.read_parquet(path), "dq_near_pick", ["a_split", "a_id"], ["b_split", "b_id", "similarity"])


def _cross(ws: Workspace) -> None:
    overlap = latest_report(ws, "cross_dataset_overlap")
    st.markdown("**Exact overlap across datasets** (same normalised text)")
    if overlap is None or not overlap["summary"]["pairs"]:
        st.caption("No text is shared between two ingested datasets.")
    else:
        table(overlap["summary"]["pairs"])
        pairs = report_pairs(ws, overlap)
        only = st.checkbox("Only where the two releases label the text differently", key="dq_disagree")
        if only and "labels_disagree" in pairs.columns:
            pairs = pairs.filter(pl.col("labels_disagree"))
        _side_by_side(
            pairs.drop("text_key", strict=False),
            "dq_overlap_pick",
            ["a_dataset", "a_split", "a_labels"],
            ["b_dataset", "b_split", "b_labels"],
        )
    near = latest_report(ws, "near_duplicates")
    st.markdown("**Near duplicates across datasets** (MinHash-LSH, Jaccard ≥ 0.6)")
    if near is None:
        st.caption("No cross-dataset near-duplicate report: run `lensforge ingest --all --near-dup`.")
    else:
        _side_by_side(
            report_pairs(ws, near), "dq_xnear_pick", ["a_dataset", "a_split"], ["b_dataset", "b_split", "similarity"]
        )


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    st.subheader("Row accounting")
    st.caption("Every record read is kept in a split or quarantined with a reason (read = kept + quarantined).")
    _accounting(versions)
    st.subheader("One dataset")
    _dataset(ws, versions)
    st.subheader("Across datasets")
    _cross(ws)


run_page("Data quality", render, caption="Row accounting, quarantine, validation, leakage and overlap reports.")
