"""Scores: fine-tuned vs base vs SOTA per dataset, per-language summaries, and predictions side by side."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app import queries
from lensforge.app.common import ingested_or_explain, pick_index, run_page, table
from lensforge.evaluate.api import compare, get_eval, list_evals
from lensforge.workspace import Workspace

PAGE_ROWS = 50
NO_EVALS = (
    "No evaluation yet: run `lensforge pipeline` (it fine-tunes the tiny demo model and evaluates the base and "
    "the fine-tuned model), or evaluate a model on a snapshot with the evaluate stage."
)


def _is_tuned(row: dict[str, Any]) -> bool:
    return bool(row.get("run_id") or row.get("adapter"))


def _label(row: dict[str, Any]) -> str:
    role = f"fine-tuned ({row['run_id'] or 'adapter'})" if _is_tuned(row) else "base"
    return f"{row['eval_id']} · {role} · {row['model'].split('/')[-1]} · {row['snapshot_id']}"


def scores_chart(frame: pl.DataFrame) -> alt.Chart:
    """Grouped bars per dataset: base, fine-tuned and the SOTA reference."""
    long = pl.concat(
        [
            frame.select("dataset_id", "metric", pl.lit(name).alias("series"), pl.col(col).alias("value"))
            for col, name in (("a", "base"), ("b", "fine-tuned"), ("sota_value", "SOTA"))
        ]
    ).drop_nulls("value")
    order = frame["dataset_id"].to_list()
    return (
        alt.Chart(long.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("dataset_id:N", title=None, sort=order, axis=alt.Axis(labelAngle=-30)),
            xOffset=alt.XOffset("series:N", sort=["base", "fine-tuned", "SOTA"]),
            y=alt.Y("value:Q", title="primary metric", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("series:N", sort=["base", "fine-tuned", "SOTA"], title=None),
            tooltip=["dataset_id:N", "series:N", "metric:N", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=320, title="primary metric per dataset")
    )


def _languages(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    la = (a.get("summary") or {}).get("by_language") or {}
    lb = (b.get("summary") or {}).get("by_language") or {}
    rows = []
    for lang in sorted(set(la) | set(lb)):
        x, y = la.get(lang, {}), lb.get(lang, {})
        rows.append(
            {
                "language": lang,
                "datasets": x.get("datasets") or y.get("datasets"),
                "rows": x.get("rows") or y.get("rows"),
                "mean primary (base)": x.get("mean_primary"),
                "mean primary (fine-tuned)": y.get("mean_primary"),
                "unparseable (base)": x.get("unparseable_rate"),
                "unparseable (fine-tuned)": y.get("unparseable_rate"),
            }
        )
    return rows


def _samples(ws: Workspace, a: dict[str, Any], b: dict[str, Any]) -> None:
    joined = queries.predictions_side_by_side(ws, a, b)
    if joined.is_empty():
        st.caption("No predictions to compare (the two evaluations share no sample).")
        return
    c1, c2 = st.columns([2, 3])
    dataset = c1.selectbox("Dataset", ["(all)", *joined["dataset"].unique().sort().to_list()], key="sc_dataset")
    show = c2.radio(
        "Show",
        ["all", "the two disagree", "fine-tuned right, base wrong", "fine-tuned wrong"],
        horizontal=True,
        key="sc_show",
    )
    if dataset != "(all)":
        joined = joined.filter(pl.col("dataset") == dataset)
    if show == "the two disagree":
        joined = joined.filter(pl.col("prediction_a").ne_missing(pl.col("prediction_b")))
    elif show == "fine-tuned right, base wrong":
        joined = joined.filter(
            pl.col("prediction_b").eq_missing(pl.col("gold")) & pl.col("prediction_a").ne_missing(pl.col("gold"))
        )
    elif show == "fine-tuned wrong":
        joined = joined.filter(pl.col("prediction_b").ne_missing(pl.col("gold")))
    pages = max(1, -(-joined.height // PAGE_ROWS))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="sc_page") if pages > 1 else 1
    st.caption(f"{joined.height} samples")
    table(
        joined.slice((int(page) - 1) * PAGE_ROWS, PAGE_ROWS).select(
            "dataset",
            "id",
            "input",
            "gold",
            pl.col("prediction_a").alias("base"),
            pl.col("prediction_b").alias("fine-tuned"),
            pl.col("raw_output_a").alias("base raw"),
            pl.col("raw_output_b").alias("fine-tuned raw"),
        )
    )


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    evals = list_evals(ws)
    finished = evals.filter(pl.col("status") == "finished")
    if finished.is_empty():
        st.info(NO_EVALS)
        if evals.height:
            table(evals)
        return
    rows = {r["eval_id"]: r for r in finished.iter_rows(named=True)}
    ids = list(rows)
    base_default = next((i for i in ids if not _is_tuned(rows[i])), ids[0])
    tuned_default = next((i for i in ids if _is_tuned(rows[i])), ids[0])
    c1, c2 = st.columns(2)
    a_id = c1.selectbox(
        "Base", ids, index=pick_index(ids, base_default), format_func=lambda i: _label(rows[i]), key="sc_a"
    )
    b_id = c2.selectbox(
        "Fine-tuned", ids, index=pick_index(ids, tuned_default), format_func=lambda i: _label(rows[i]), key="sc_b"
    )
    cmp = compare(ws, a_id, b_id)
    a, b = get_eval(ws, a_id), get_eval(ws, b_id)
    if cmp.is_empty():
        st.caption("No dataset scored in these evaluations.")
        return
    st.altair_chart(scores_chart(cmp), width="stretch")
    table(
        cmp.with_columns(
            (pl.col("unparseable_a") / pl.col("n")).round(4).alias("unparseable rate (base)"),
            (pl.col("unparseable_b") / pl.col("n")).round(4).alias("unparseable rate (fine-tuned)"),
        ).rename({"a": "base", "b": "fine-tuned"})
    )
    st.subheader("Per language")
    table(_languages(a, b))
    st.subheader("Per sample: base and fine-tuned predictions side by side")
    _samples(ws, a, b)
    with st.expander(f"All evaluations ({evals.height})"):
        table(evals)


run_page("Scores", render, caption="Per-dataset scores of a fine-tuned model against its base and the SOTA reference.")
