"""Label issues: rows whose label is likely wrong (cleanlab over the classical model), reviewed one by one.

Every answer is a row decision (relabel to the suggestion, exclude, or dismiss, each with a reason), the
same as on the Samples page, so it is applied at the next snapshot and written to the audit log.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import (
    actor,
    flash,
    ingested_or_explain,
    pick_index,
    run_page,
    shown_errors,
    table,
    text_block,
)
from lensforge.catalog.constants import LABELLED_TASK_TYPES
from lensforge.curate.decisions import record_row_decisions
from lensforge.curate.label_issues import SOURCE, find_label_issues, label_issue_review
from lensforge.curate.mappings import allowed_labels
from lensforge.workspace import Workspace

UNDECIDED, ALL = "waiting for a decision", "all suggestions"
ACTIONS = {
    "relabel": "relabel to the suggestion",
    "relabel_other": "relabel to another label",
    "exclude": "exclude the row",
    "dismiss": "dismiss (the label is right)",
}


def _scan_form(ws: Workspace, did: str, scan: dict[str, Any] | None) -> None:
    c1, c2 = st.columns([1, 3])
    folds = c1.number_input("Folds", min_value=2, max_value=10, value=5, key="li_folds")
    label = "Scan again" if scan else "Find likely label errors"
    c2.caption(
        "Trains TF-IDF + logistic regression with cross-validation on the train and dev rows (seconds to a "
        "minute) and ranks the rows whose label the held-out model disagrees with most."
    )
    if st.button(label, type="primary" if scan is None else "secondary", key="li_scan"):
        with shown_errors():
            res = find_label_issues(ws, did, actor=actor(), folds=int(folds))
            flash(f"{did}: {res['issues']} likely label errors among {res['rows_scanned']} rows ({res['scan_id']})")


def _review(ws: Workspace, did: str, task_type: str, suggestions: pl.DataFrame) -> None:
    ranks = suggestions["rank"].to_list()
    by_rank = {r["rank"]: r for r in suggestions.iter_rows(named=True)}

    def describe(rank: int) -> str:
        r = by_rank[rank]
        return f"#{rank} · {r['given']} → {r['suggested']} ({r['confidence']:.0%}) · {r['text'][:70]}"

    rank = st.selectbox("Row", ranks, format_func=describe, key=f"li_row_{did}")
    row = by_rank[rank]
    c1, c2, c3 = st.columns(3)
    c1.metric("Given label", row["given"])
    c2.metric("Suggested label", row["suggested"])
    c3.metric("Model's confidence", f"{row['confidence']:.0%}")
    text_block(row["text"])
    if row.get("text_pair"):
        text_block(row["text_pair"])
    st.caption(f"sample {row['sample_id']} · {row['split']} split · label quality {row['quality']:.3f}")
    if row.get("decision"):
        target = f" → {row['decided_label']}" if row.get("decided_label") else ""
        st.info(f"Decided: {row['decision']}{target} by {row['decided_by']} ({row['decision_reason']}).")
    choice = st.radio("Decision", list(ACTIONS), format_func=ACTIONS.get, horizontal=True, key=f"li_action_{did}")
    label = row["suggested"] if choice == "relabel" else None
    if choice == "relabel_other":
        options = allowed_labels(ws, did)
        if task_type == "multilabel":
            label = ",".join(st.multiselect("New canonical labels", options, key=f"li_labels_{did}"))
        else:
            label = st.selectbox("New canonical label", options, index=pick_index(options, row["given"]))
    # One reason box per row: a reason given for one row never carries over to the next.
    reason = st.text_input("Reason (required; kept in the audit log)", key=f"li_reason_{did}_{row['sample_id']}")
    if st.button("Record the decision", type="primary", key=f"li_decide_{did}"):
        action = "relabel" if choice.startswith("relabel") else choice
        with shown_errors():
            res = record_row_decisions(
                ws, did, [row["sample_id"]], action=action, label=label, reason=reason, actor=actor(), source=SOURCE
            )
            target = f" → {res['label']}" if res["label"] else ""
            flash(f"{did}: {action}{target} on row #{rank} (event {res['event_id']})")


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    labelled = versions.filter(pl.col("task_type").is_in(list(LABELLED_TASK_TYPES)))
    if labelled.is_empty():
        st.info("No labelled dataset is ingested: label issues are found in classification datasets.")
        return
    ids = labelled["dataset_id"].to_list()
    did = st.selectbox("Dataset", ids, key="li_dataset")
    task_type = labelled.filter(pl.col("dataset_id") == did)["task_type"][0]
    found = label_issue_review(ws, did)
    scan, suggestions = found["scan"], found["suggestions"]
    if scan is None:
        st.info(f"{did} has not been scanned yet (or its current version is new): scan it below.")
    else:
        open_rows = suggestions.filter(pl.col("decision").is_null()).height
        st.markdown(
            f"**{scan['issues']:,}** likely label errors among **{scan['rows_scanned']:,}** train/dev rows "
            f"({open_rows:,} waiting for a decision) · scan `{scan['scan_id']}` of version `{scan['version_id']}` "
            f"by {scan['actor']}, {scan['params']['folds']}-fold, {scan['created_at'][:16]}"
        )
    _scan_form(ws, did, scan)
    if scan is None or suggestions.is_empty():
        return
    show = st.radio("Show", [UNDECIDED, ALL], horizontal=True, key="li_show")
    listed = suggestions.filter(pl.col("decision").is_null()) if show == UNDECIDED else suggestions
    table(
        listed.select(
            "rank",
            "given",
            "suggested",
            pl.col("confidence").round(3),
            pl.col("text").str.slice(0, 200),
            "split",
            "decision",
            "decided_label",
            "decision_reason",
            "sample_id",
        )
    )
    if listed.is_empty():
        st.success("Every suggestion has a decision.")
        return
    st.subheader("Review a row")
    _review(ws, did, task_type, listed)


run_page(
    "Label issues",
    render,
    caption="Rows whose given label is likely wrong, ranked by cleanlab over out-of-fold predictions of a "
    "classical model; confirm (relabel), exclude or dismiss each with a reason.",
)
