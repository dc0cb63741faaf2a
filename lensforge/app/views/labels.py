"""Label review: proposed mappings per dataset with their impact, approve / reject / set with a reason."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app import queries
from lensforge.app.common import (
    actor,
    flash,
    ingested_or_explain,
    link,
    pick_index,
    prefill,
    run_page,
    shown_errors,
    table,
    text_block,
)
from lensforge.curate.mappings import allowed_labels, approve, audit_log, reject, review, set_label
from lensforge.curate.samples import label_examples
from lensforge.workspace import Workspace

OTHER = "(another name…)"
EXAMPLES = 3


def impact_chart(rev: dict[str, Any]) -> alt.Chart:
    """Rows per class before (source labels) and after (canonical labels) the mapping."""
    data = pl.DataFrame(
        [{"when": "before", "label": f"before · {k}", "rows": v} for k, v in rev["before"].items()]
        + [{"when": "after", "label": f"after · {k}", "rows": v} for k, v in rev["after"].items()],
        schema={"when": pl.String, "label": pl.String, "rows": pl.Int64},
    ).to_pandas()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("rows:Q", title="rows"),
            y=alt.Y("label:N", title=None, sort=None),
            color=alt.Color("when:N", sort=["before", "after"], title=None),
            tooltip=["label:N", "rows:Q"],
        )
        .properties(height=alt.Step(22))
    )


def _pick_dataset(status: pl.DataFrame) -> str | None:
    classified = status.filter(pl.col("task_type") != "generation")
    if classified.is_empty():
        st.info("The ingested datasets are all generation tasks: there are no labels to review.")
        return None
    ids = classified["dataset_id"].to_list()
    prefill("lbl_dataset", "dataset", lambda v: v if v in ids else ids[0])  # a link from the review queue
    pending = classified.filter((pl.col("proposed") > 0) | (pl.col("approved") + pl.col("rejected") == 0))
    default = pending["dataset_id"][0] if pending.height else ids[0]

    def label(did: str) -> str:
        row = classified.filter(pl.col("dataset_id") == did).row(0, named=True)
        if row["proposed"] + row["approved"] + row["rejected"] == 0:
            return f"{did} (not opened yet)"
        return f"{did} ({row['proposed']} pending)" if row["proposed"] else f"{did} (reviewed)"

    return st.selectbox("Dataset", ids, index=pick_index(ids, default), format_func=label, key="lbl_dataset")


def _actions(ws: Workspace, did: str, rev: dict[str, Any]) -> None:
    mappings = rev["mappings"]
    raws = [m["raw_label"] for m in mappings]
    chains = {m["raw_label"]: m["chain"] for m in mappings}
    pending = [m["raw_label"] for m in mappings if m["status"] == "proposed"]
    approve_tab, reject_tab, set_tab = st.tabs(["Approve", "Reject", "Set"])
    with approve_tab:
        chosen = st.multiselect("Source labels", raws, default=pending, key="lbl_approve_raws")
        reason = st.text_input(
            "Reason (kept in the audit log; required to approve every automatic proposal at once)",
            key="lbl_approve_reason",
        )
        c1, c2 = st.columns(2)
        if c1.button("Approve selected", type="primary", key="lbl_approve", disabled=not chosen):
            with shown_errors():
                res = approve(ws, did, chosen, actor=actor(), reason=reason or None)
                flash(f"{did}: approved {', '.join(c['raw'] for c in res['changes'])}")
        if c2.button("Approve every automatic proposal", key="lbl_approve_all"):
            if not reason.strip():
                st.error("Give a reason above to approve every automatic proposal at once.")
            else:
                with shown_errors():
                    res = approve(ws, did, [], actor=actor(), all_auto=True, reason=reason)
                    flash(f"{did}: approved {len(res['changes'])} automatic proposal(s)")
    with reject_tab:
        raw = st.selectbox("Source label", raws, format_func=chains.get, key="lbl_reject_raw")
        reason = st.text_input("Reason (required)", key="lbl_reject_reason")
        st.caption("Rows with a rejected label stay out of snapshots (and are counted).")
        if st.button("Reject", key="lbl_reject"):
            with shown_errors():
                reject(ws, did, raw, actor=actor(), reason=reason)
                flash(f"{did}: {raw} rejected")
    with set_tab:
        raw = st.selectbox("Source label", raws, format_func=chains.get, key="lbl_set_raw")
        current = next((m["canonical"] for m in mappings if m["raw_label"] == raw), None)
        names = allowed_labels(ws, did)
        options = [*names, *([current] if current and current not in names else []), OTHER]
        # One widget per source label: each opens on its own current mapping, not the last one picked.
        canonical = st.selectbox(
            "Canonical label", options, index=pick_index(options, current), key=f"lbl_set_canon_{did}_{raw}"
        )
        if canonical == OTHER:
            canonical = st.text_input("New canonical name", key="lbl_set_new")
        new_label = st.checkbox(
            "Allow a name outside the task's canonical set (adds it to the set)", key="lbl_set_newlabel"
        )
        reason = st.text_input("Reason (required)", key="lbl_set_reason")
        if st.button("Set mapping", key="lbl_set"):
            with shown_errors():
                set_label(ws, did, raw, canonical or "", actor=actor(), reason=reason, new_label=new_label)
                flash(f"{did}: {raw} → {canonical} (approved)")


def _examples(ws: Workspace, did: str, rev: dict[str, Any]) -> None:
    """A few rows behind each source label (random but seeded), and a link to all of them on Samples."""
    st.subheader("Example rows")
    c1, c2 = st.columns([1, 1])
    per_label = c1.number_input("Examples per source label", 1, 20, EXAMPLES, key="lbl_examples")
    seed = c2.number_input("Draw (seed)", 0, 10_000, 0, key="lbl_examples_seed", help="Another draw of examples.")
    examples = label_examples(ws, did, per_label=int(per_label), seed=int(seed))
    counts = {r["raw_label"]: r["rows"] for r in rev["per_label"]}
    for m in rev["mappings"]:
        rows = examples.get(m["raw_label"], [])
        with st.expander(f"{m['chain']} · {counts.get(m['raw_label'], 0):,} rows", expanded=m["status"] == "proposed"):
            for r in rows:
                st.caption(f"`{r['sample_id']}` · {r['split']}")
                text_block(r["text"][:600] + ("…" if len(r["text"]) > 600 else ""))
            link("samples", f"More rows of {m['raw_label']} on Samples", {"dataset": did, "label": m["raw_label"]})


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    status = queries.mapping_status(ws)
    did = _pick_dataset(status)
    if not did:
        return
    rev = review(ws, did)
    st.markdown(
        f"**{rev['dataset_id']}** · version {rev['version_id']} · task {rev['task']} · canonical set "
        f"{rev['task_group'] or 'none'}: {', '.join(rev['task_labels']) or '–'}"
    )
    st.caption(f"mapping version {rev['mapping_version_id']} · {rev['pending']} pending")
    if rev["pending"]:
        st.warning(f"{rev['pending']} mapping(s) still pending: snapshots refuse this dataset until reviewed.")

    counts = {r["raw_label"]: r for r in rev["per_label"]}
    rows = [
        {
            "source → decoded → canonical": m["chain"],
            "status": m["status"],
            "author": m["author"],
            "train": counts.get(m["raw_label"], {}).get("train", 0),
            "dev": counts.get(m["raw_label"], {}).get("dev", 0),
            "test": counts.get(m["raw_label"], {}).get("test", 0),
            "reason": m["reason"],
        }
        for m in rev["mappings"]
    ]
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Mappings**")
        table(rows)
        for target, raws in rev["merged"].items():
            st.caption(f"merged into {target}: {', '.join(raws)}")
        for u in rev["unmapped"]:
            st.caption(f"left out: {u['raw_label']} ({u['rows']} rows, {u['status']})")
    with right:
        st.markdown("**Impact preview**: rows per class before and after")
        if rev["before"]:
            st.altair_chart(impact_chart(rev), width="stretch")
        else:
            st.caption("No labelled rows.")

    _examples(ws, did, rev)
    st.subheader("Review")
    _actions(ws, did, rev)

    st.subheader("Audit log (label mappings and row decisions)")
    log = audit_log(ws, did)
    if log.is_empty():
        st.caption("No label event yet.")
    else:
        table(log.with_columns(pl.col("payload").str.slice(0, 200)))


run_page("Label review", render, caption="Map each source label to a canonical one; every decision is recorded.")
