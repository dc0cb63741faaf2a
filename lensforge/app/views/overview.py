"""Overview: the catalog at a glance, what each stage has produced, and the latest events."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app import queries
from lensforge.app.common import NO_DATASETS, NO_INGEST, counts_frame, run_page, table
from lensforge.catalog.datasets import catalog_summary
from lensforge.catalog.events import list_events
from lensforge.workspace import Workspace


def _bars(counts: dict[str, int], key: str, title: str) -> alt.Chart:
    return (
        alt.Chart(counts_frame(counts, key).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("datasets:Q", title="datasets"),
            y=alt.Y(f"{key}:N", sort="-x", title=None),
            tooltip=[f"{key}:N", "datasets:Q"],
        )
        .properties(title=title, height=alt.Step(18))
    )


def _fmt_status(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


def _stages(ws: Workspace) -> list[dict[str, str]]:
    s = queries.stage_counts(ws)
    m = s["mappings"]
    return [
        {
            "stage": "ingest",
            "produced": f"{s['current_versions']} datasets ingested ({s['versions']} versions), "
            f"{s['kept_rows']:,} rows kept"
            if s["current_versions"]
            else "nothing yet",
            "next": "" if s["current_versions"] else "`lensforge ingest --all --sources DIR`",
        },
        {
            "stage": "curate (label mappings)",
            "produced": f"{m.get('approved', 0)} approved, {m.get('proposed', 0)} pending, "
            f"{m.get('rejected', 0)} rejected; {s['datasets_without_review']} dataset(s) not opened for review",
            "next": "Review queue page (`lensforge labels pending`)"
            if m.get("proposed") or s["datasets_without_review"]
            else "",
        },
        {
            "stage": "instructions",
            "produced": f"{_fmt_status(s['instructions'])}; {s['llm_calls']} LLM requests, ${s['cost_usd']:.4f}",
            "next": "" if s["instructions"] else "Instructions page or `lensforge instruct generate --all`",
        },
        {
            "stage": "snapshots",
            "produced": f"{s['snapshots']} snapshot(s), {s['publications']} publication(s)",
            "next": "" if s["snapshots"] else "Mixtures page or `lensforge snapshot build MIXTURE`",
        },
        {
            "stage": "fine-tuning runs",
            "produced": _fmt_status(s["runs"]),
            "next": "" if s["runs"] else "Training page",
        },
        {
            "stage": "evaluations",
            "produced": _fmt_status(s["evals"]),
            "next": "" if s["evals"] else "`lensforge evaluate --snapshot SNAPSHOT --model BASE [--adapter RUN]`",
        },
    ]


def render(ws: Workspace) -> None:
    summary = catalog_summary(ws)
    if summary["total"] == 0:
        st.info(NO_DATASETS)
        return
    counts = queries.stage_counts(ws)
    cols = st.columns(4)
    cols[0].metric("Candidate datasets", summary["total"])
    cols[1].metric("Selected", summary["by_status"].get("selected", 0))
    cols[2].metric("Ingested", counts["current_versions"])
    cols[3].metric("Rows kept", f"{counts['kept_rows']:,}")
    if counts["current_versions"] == 0:
        st.info(NO_INGEST)

    st.subheader("Candidates")
    left, right = st.columns(2)
    with left:
        st.altair_chart(_bars(summary["by_language"], "language", "by language"), width="stretch")
        st.altair_chart(_bars(summary["by_status"], "status", "by status"), width="stretch")
    with right:
        st.altair_chart(_bars(summary["by_capability"], "capability", "by capability"), width="stretch")
        with st.expander(f"by task ({len(summary['by_task'])} tasks)"):
            table(counts_frame(summary["by_task"], "task"))

    st.subheader("What each stage has produced")
    table(_stages(ws))

    st.subheader("Recent events")
    events = list_events(ws, limit=25)
    if events.is_empty():
        st.caption("No events yet.")
    else:
        table(events.with_columns(pl.col("payload").str.slice(0, 160)))


run_page("Overview", render, caption="The catalog, what each stage has produced so far, and the latest events.")
