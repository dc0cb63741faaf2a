"""Samples: browse the kept rows of the current versions, read one in full, relabel or exclude rows.

Pages come straight from the Parquet files through DuckDB (`lensforge.curate.samples.query_samples`),
so the browser stays fast on millions of rows; nothing is loaded whole. A label filter takes any of a
label's three names (source, decoded, canonical), and each row shows its chain. Other pages link here
with `?dataset=…&label=…` to open the rows behind a decision.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, prefill, run_page, shown_errors, table, text_block
from lensforge.catalog.constants import SPLITS
from lensforge.curate import samples
from lensforge.curate.decisions import (
    ACTIONS,
    clear_row_decisions,
    preview_row_decisions,
    record_row_decisions,
)
from lensforge.curate.mappings import allowed_labels, chain_expr
from lensforge.workspace import Workspace

PAGE_SIZES = (25, 50, 100)
WITHDRAW = "withdraw the decision"
PICKED, EVERY = "rows picked below", "every row matching the filter"


def shown_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """What the table shows of a page: the label chain, the decision and the text (long texts cut)."""
    out = rows.select(
        "sample_id",
        "dataset",
        "language",
        "split",
        chain_expr(pl.col("label_raw"), pl.col("label"), pl.col("canonical")).alias("source → decoded → canonical"),
        pl.when(pl.col("decided_label").is_not_null())
        .then(pl.format("{} → {}", "decision", "decided_label"))
        .otherwise(pl.col("decision"))
        .alias("decision"),
        pl.col("text").str.slice(0, 280).alias("text"),
        "text_pair",
        "target",
    )
    return out.drop([c for c in ("text_pair", "target") if out[c].null_count() == out.height])


def _row_label(rows: pl.DataFrame) -> dict[str, str]:
    return {r["sample_id"]: f"{r['sample_id']} · {(r['text'] or '')[:70]}" for r in rows.iter_rows(named=True)}


def _row_view(rows: pl.DataFrame, words: tuple[str, ...]) -> None:
    """One row in full: long texts are cut in the table, and search words are marked here."""
    labels = _row_label(rows)
    sid = st.selectbox("Read a row in full", list(labels), format_func=labels.get, key="smp_open")
    if sid is None:
        return
    row = rows.filter(pl.col("sample_id") == sid).row(0, named=True)
    decided = f" · decision: **{row['decision']}**" if row["decision"] else ""
    target = f" → {row['decided_label']}" if row["decided_label"] else ""
    st.markdown(
        f"`{row['sample_id']}` · {row['dataset']} · {row['split']} · label "
        f"**{row['label_raw'] or '–'} → {row['label'] or '–'} → {row['canonical'] or '–'}**{decided}{target}"
    )
    if row["decision"]:
        st.caption(f"{row['decided_by']}: {row['decision_reason']}")
    text_block(row["text"], words)
    for extra in ("text_pair", "target"):
        if row[extra]:
            st.caption(extra.replace("_", " "))
            text_block(row[extra], words)


def _targets(ws: Workspace, rows: pl.DataFrame, flt: samples.SampleFilter, total: int) -> tuple[str, list[str]] | None:
    """The dataset and sample ids an action applies to: rows picked on this page, or every matching row."""
    scope = st.radio("Act on", [PICKED, EVERY], horizontal=True, key="smp_scope")
    if scope == EVERY:
        if len(flt.datasets) != 1:
            st.info("Choose exactly one dataset in the filter to act on every matching row.")
            return None
        ids = samples.matching_sample_ids(samples.sample_sources(ws), flt)
        st.caption(f"{len(ids):,} matching row(s) of {flt.datasets[0]} (of {total:,} shown by the filter)")
        return flt.datasets[0], ids
    labels = _row_label(rows)
    # A fresh widget after each action (the browser keeps a widget's value even when the session forgets it).
    rounds = int(st.session_state.get("smp_round", 0))
    key = "smp_pick" + (f"_{rounds}" if rounds else "")
    picked = st.multiselect("Rows (of this page)", list(labels), format_func=labels.get, key=key)
    if not picked:
        st.caption("Pick rows above to relabel, exclude or dismiss them.")
        return None
    datasets = set(rows.filter(pl.col("sample_id").is_in(picked))["dataset"].to_list())
    if len(datasets) > 1:
        st.error("The picked rows belong to several datasets: act on one dataset at a time.")
        return None
    return datasets.pop(), picked


def _curate(ws: Workspace, rows: pl.DataFrame, flt: samples.SampleFilter, total: int, multilabel: set[str]) -> None:
    st.subheader("Curate rows")
    st.caption(
        "A decision is kept per row (by its stable sample id, so it carries over to the next version), applied "
        "when a snapshot is built, and written to the audit log."
    )
    found = _targets(ws, rows, flt, total)
    if found is None:
        return
    did, ids = found
    action = st.radio("Action", [*ACTIONS, WITHDRAW], horizontal=True, key="smp_action")
    label: str | None = None
    if action == "relabel":
        options = allowed_labels(ws, did)
        if did in multilabel:
            label = ",".join(st.multiselect("New canonical labels", options, key=f"smp_labels_{did}"))
        else:
            label = st.selectbox("New canonical label", options, key=f"smp_label_{did}")
    reason = st.text_input("Reason (required; kept in the audit log)", key="smp_reason")
    with shown_errors():
        if action != WITHDRAW:
            info: dict[str, Any] = preview_row_decisions(ws, did, ids, action=action, label=label)
            extra = f", replacing {info['replaces']}" if info["replaces"] else ""
            st.caption(f"This touches **{info['rows']:,}** row(s) of {did} ({info['unchanged']} already so{extra}).")
        if st.button("Apply", type="primary", key="smp_do_decide"):
            if action == WITHDRAW:
                res = clear_row_decisions(ws, did, ids, reason=reason, actor=actor())
                st.session_state["smp_round"] = int(st.session_state.get("smp_round", 0)) + 1
                flash(f"{did}: decision withdrawn on {res['rows']} row(s)")
                return
            res = record_row_decisions(
                ws, did, ids, action=action, label=label, reason=reason, actor=actor(), source="samples"
            )
            target = f" → {res['label']}" if res["label"] else ""
            st.session_state["smp_round"] = int(st.session_state.get("smp_round", 0)) + 1  # no row picked next
            flash(f"{did}: {action}{target} on {res['rows']} row(s) (decision set {res['decision_set_id']})")


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    sources = samples.sample_sources(ws, versions)
    if not samples.index_ready(sources):
        samples.warm_text_index(sources)
    ids = versions["dataset_id"].to_list()
    prefill("smp_datasets", "dataset", lambda v: [v] if v in ids else [])
    prefill("smp_labels", "label", lambda v: [v])

    c1, c2, c3 = st.columns([3, 1, 1])
    datasets = c1.multiselect("Datasets", ids, key="smp_datasets")
    languages = c2.multiselect("Languages", sorted(set(versions["language"].to_list())), key="smp_languages")
    splits = c3.multiselect("Splits", list(SPLITS), key="smp_splits")
    c4, c5, c6 = st.columns([2, 3, 1])
    options = samples.label_options(sources, tuple(datasets))
    for chosen in st.session_state.get("smp_labels", []):  # a label passed in the URL stays selectable
        if chosen not in options:
            options.append(chosen)
    labels = c4.multiselect(
        "Labels",
        options,
        key="smp_labels",
        help="Any of a label's names: as in the source file, decoded by the registry, or canonical.",
    )
    text = c5.text_input(
        "Text search",
        key="smp_text",
        help="Case-insensitive; every word of the query must occur inside a word of the text.",
    )
    size = c6.selectbox("Rows per page", PAGE_SIZES, index=1, key="smp_size")

    flt = samples.SampleFilter(tuple(datasets), tuple(languages), tuple(splits), tuple(labels), text.strip())
    # A new filter starts at page 1.
    if st.session_state.get("smp_last_filter") != (flt, size):
        st.session_state["smp_last_filter"] = (flt, size)
        st.session_state["smp_page"] = 1
    page = int(st.session_state.get("smp_page", 1))
    if flt.text and not samples.index_ready(samples.select_files(sources, flt)):
        st.caption("Building the word index for text search (once per file and app process)…")
    result = samples.query_samples(sources, flt, limit=int(size), offset=(page - 1) * int(size))
    pages = max(1, -(-result.total // int(size)))
    if page > pages:  # the data changed under us: go to the last page
        st.session_state["smp_page"] = pages
        result = samples.query_samples(sources, flt, limit=int(size), offset=(pages - 1) * int(size))

    left, right = st.columns([1, 3])
    with left:
        st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="smp_page")
    with right:
        st.markdown(
            f"**{result.total:,}** matching samples in {result.files} file(s) · "
            f"query {1000 * result.seconds:.0f} ms" + (" · word index" if result.index_used else "")
        )
    if result.total == 0:
        st.caption("No sample matches these filters.")
        return
    rows = samples.with_decisions(ws, result.rows)
    table(shown_rows(rows), height=min(38 + 35 * rows.height, 900))
    words = tuple(pl.Series([flt.text], dtype=pl.String).str.to_lowercase()[0].split())
    _row_view(rows, words)
    multilabel = set(versions.filter(pl.col("task_type") == "multilabel")["dataset_id"].to_list())
    _curate(ws, rows, flt, result.total, multilabel)


run_page("Samples", render, caption="Kept rows of the current versions, queried in place with DuckDB.")
