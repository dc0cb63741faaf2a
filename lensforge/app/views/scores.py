"""Scores with context: majority / classical baseline / base / fine-tuned / SOTA per dataset, per class, per sample."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app.common import ingested_or_explain, pick_index, run_page, table
from lensforge.evaluate.api import (
    CHAIN_COLUMN,
    class_breakdown,
    get_eval,
    is_classical,
    list_evals,
    newest_classical,
    predictions_side_by_side,
    score_table,
)
from lensforge.evaluate.metrics import percent
from lensforge.workspace import Workspace

PAGE_ROWS = 50
NONE = "(none)"
NO_EVALS = (
    "No evaluation yet: run `lensforge pipeline` (it fine-tunes the tiny demo model and evaluates the base and "
    "the fine-tuned model), or evaluate a model on a snapshot with the evaluate stage."
)
UNPARSEABLE_NOTE = "Unparseable answers count as wrong; their share is in percent of the dataset's test rows."


def _is_tuned(row: dict[str, Any]) -> bool:
    return bool(row.get("run_id") or row.get("adapter"))


def _label(row: dict[str, Any]) -> str:
    if is_classical(row):
        role = "classical baseline"
    else:
        role = f"fine-tuned ({row['run_id'] or 'adapter'})" if _is_tuned(row) else "base"
    return f"{row['eval_id']} · {role} · {row['model'].split('/')[-1]} · {row['snapshot_id']}"


def scores_chart(scored: dict[str, Any]) -> alt.LayerChart:
    """Grouped bars per dataset from the floor up (majority, classical, models), ticks for a comparable SOTA."""
    series = ["majority baseline", *scored["columns"]]
    bars = [
        {"dataset_id": r["dataset_id"], "metric": r["metric"], "series": s, "value": v}
        for r in scored["datasets"]
        for s in series
        if (v := r["majority_baseline"] if s == "majority baseline" else r["values"][s]) is not None
    ]
    sota = [
        {"dataset_id": r["dataset_id"], "metric": r["metric"], "value": r["sota"]}
        for r in scored["datasets"]
        if r["sota"] is not None and r["sota_comparable"]
    ]
    order = [r["dataset_id"] for r in scored["datasets"]]
    base = (
        alt.Chart(alt.Data(values=bars))
        .mark_bar()
        .encode(
            x=alt.X("dataset_id:N", title=None, sort=order, axis=alt.Axis(labelAngle=-30)),
            xOffset=alt.XOffset("series:N", sort=series),
            y=alt.Y("value:Q", title="primary metric", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("series:N", sort=series, title=None),
            tooltip=["dataset_id:N", "series:N", "metric:N", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    ticks = (
        alt.Chart(alt.Data(values=sota))
        .mark_tick(color="black", thickness=2, size=28)
        .encode(x=alt.X("dataset_id:N", sort=order), y="value:Q", tooltip=["dataset_id:N", "metric:N", "value:Q"])
    )
    return alt.layer(base, ticks).properties(height=320, title="primary metric per dataset (ticks: comparable SOTA)")


def score_frame(scored: dict[str, Any]) -> pl.DataFrame:
    """One row per dataset: every column's score, SOTA (or not comparable) and each model's unparseable share."""
    rows = []
    models = scored["model_columns"]
    for r in scored["datasets"]:
        row: dict[str, Any] = {
            "dataset_id": r["dataset_id"],
            "language": r["language"],
            "metric": r["metric"],
            "n": r["n"],
            "majority baseline": r["majority_baseline"],
        }
        row |= {col: r["values"][col] for col in scored["columns"]}
        row["delta"] = r["delta"]
        row["SOTA"] = r["sota"]
        row["SOTA metric"] = r["sota_metric"]
        row["vs SOTA"] = (
            "not comparable" if r["sota"] is not None and not r["sota_comparable"] else _signed(r["vs_sota"])
        )
        row |= {f"unparseable ({col})": percent(r["unparseable_rate"][col]) for col in models}
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def _signed(value: float | None) -> str | None:
    return None if value is None else f"{value:+.3f}"


def _references(scored: dict[str, Any]) -> None:
    cited = [r for r in scored["datasets"] if r["sota_citation"]]
    if not cited:
        st.caption("No dataset here has a published SOTA in the catalog (add one with a SOTA CSV: `catalog import`).")
        return
    lines = []
    for r in cited:
        caveats = "; ".join(
            x
            for x in (
                f"split: {r['sota_split']}" if r["sota_split"] else "",
                f"confidence: {r['sota_confidence']}" if r["sota_confidence"] else "",
                r["sota_note"] or "",
            )
            if x
        )
        lines.append(
            f"- **{r['dataset_id']}** ({r['sota_metric']} {r['sota']:.3f}"
            + ("" if r["sota_comparable"] else ", not comparable")
            + f"): {r['sota_citation']}"
            + (f" — {caveats}" if caveats else "")
        )
    st.markdown("\n".join(lines))


def _languages(scored: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for e in scored["by_language"]:
        row: dict[str, Any] = {"language": e["language"], "datasets": e["datasets"]}
        row |= {f"mean ({col})": e["mean"][col] for col in scored["columns"]}
        row |= {f"unparseable ({col})": percent(e["unparseable_rate"][col]) for col in scored["columns"]}
        rows.append(row)
    return rows


def _per_class(ws: Workspace, scored: dict[str, Any], evals: dict[str, dict[str, Any]]) -> None:
    labelled = [r["dataset_id"] for r in scored["datasets"] if r["majority_baseline"] is not None]
    if not labelled:
        st.caption("No labelled dataset in these evaluations.")
        return
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("Dataset", labelled, key="sc_class_dataset")
    column = c2.selectbox("Evaluation", list(evals), index=len(evals) - 1, key="sc_class_eval")
    parts = class_breakdown(ws, evals[column]["eval_id"], dataset)
    per_class = parts["per_class"].with_columns(pl.col("precision", "recall", "f1").round(3))
    table(per_class.select("label", CHAIN_COLUMN, pl.exclude("label", CHAIN_COLUMN)))
    if parts["confusion"] is None:
        st.caption("Multi-label answers have no confusion matrix: each label is its own yes/no (see the table).")
        return
    st.caption("Confusion matrix: rows are the gold label, columns the answer given (unparseable answers last).")
    cm = parts["confusion"]
    table(cm)
    long = cm.unpivot(index="gold", variable_name="answer", value_name="rows")
    st.altair_chart(
        alt.Chart(alt.Data(values=long.to_dicts()))
        .mark_rect()
        .encode(
            x=alt.X("answer:N", sort=cm.columns[1:]),
            y=alt.Y("gold:N", sort=cm["gold"].to_list()),
            color=alt.Color("rows:Q", scale=alt.Scale(scheme="blues")),
            tooltip=["gold:N", "answer:N", "rows:Q"],
        )
        .properties(height=60 + 40 * cm.height),
        width="stretch",
    )


def _samples(ws: Workspace, a: dict[str, Any], b: dict[str, Any]) -> None:
    joined = predictions_side_by_side(ws, a, b)
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
    models = [i for i in rows if not is_classical(rows[i])] or list(rows)
    classics = [i for i in rows if is_classical(rows[i])]
    base_default = next((i for i in models if not _is_tuned(rows[i])), models[0])
    tuned_default = next((i for i in models if _is_tuned(rows[i])), models[0])
    c1, c2, c3 = st.columns(3)
    a_id = c1.selectbox(
        "Base", models, index=pick_index(models, base_default), format_func=lambda i: _label(rows[i]), key="sc_a"
    )
    b_id = c2.selectbox(
        "Fine-tuned", models, index=pick_index(models, tuned_default), format_func=lambda i: _label(rows[i]), key="sc_b"
    )
    choices = [NONE, *classics]
    c_id = c3.selectbox(
        "Classical baseline",
        choices,
        index=pick_index(choices, newest_classical(ws, rows[b_id]["snapshot_id"])),
        format_func=lambda i: i if i == NONE else _label(rows[i]),
        key="sc_c",
        help="TF-IDF + logistic regression trained on the snapshot's train split (`lensforge baseline SNAPSHOT`).",
    )
    classical = None if c_id == NONE else c_id
    scored = score_table(ws, [a_id, b_id], classical=classical)
    if not scored["datasets"]:
        st.caption("No dataset scored in these evaluations.")
        return
    st.altair_chart(scores_chart(scored), width="stretch")
    table(score_frame(scored))
    st.caption(
        "Each dataset on one metric for every column: the SOTA's when we compute it (a class's F1 included), else "
        "macro-F1 / micro-F1 / ROUGE-2. The majority baseline always answers the most frequent test label. "
        + UNPARSEABLE_NOTE
    )
    st.subheader("SOTA references")
    _references(scored)
    st.subheader("Per language")
    table(_languages(scored))
    st.subheader("Per class")
    by_column = dict(zip(scored["columns"], [get_eval(ws, e) for e in scored["evals"]], strict=True))
    _per_class(ws, scored, by_column)
    st.subheader("Per sample: base and fine-tuned predictions side by side")
    _samples(ws, get_eval(ws, a_id), get_eval(ws, b_id))
    with st.expander(f"All evaluations ({evals.height})"):
        table(evals)


run_page(
    "Scores",
    render,
    caption="Per-dataset scores of a fine-tuned model against its base, the majority and classical baselines, and "
    "the published SOTA.",
)
