"""Snapshot rows: a snapshot as the model sees it, row by row: instruction, input and answer.

Reads the snapshot's Parquet files in place through DuckDB, a page at a time, per split and dataset
(`lensforge.release.rows.snapshot_rows`). The Snapshots and Mixtures pages link here with `?snapshot=…`.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from lensforge.app.common import ingested_or_explain, prefill, run_page, table, text_block
from lensforge.catalog.constants import SPLITS
from lensforge.release.rows import snapshot_rows
from lensforge.release.store import get_snapshot, list_snapshots, snapshot_dir
from lensforge.workspace import Workspace

PAGE_ROWS = 25


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    history = list_snapshots(ws)
    if history.is_empty():
        st.info("No snapshot built yet: build one on the Mixtures page (or `lensforge snapshot build MIXTURE`).")
        return
    ids = history["snapshot_id"].to_list()
    prefill("sr_snapshot", "snapshot", lambda v: v if v in ids else ids[0])
    labels = {r["snapshot_id"]: f"{r['snapshot_id']} · {r['mixture']} · {r['created_at']}" for r in history.to_dicts()}
    c1, c2 = st.columns([3, 2])
    sid = c1.selectbox("Snapshot", ids, format_func=labels.get, key="sr_snapshot")
    info = get_snapshot(ws, sid)
    split = c2.radio("Split", list(SPLITS), horizontal=True, key="sr_split")
    folder = snapshot_dir(ws, info)
    names = snapshot_rows(ws, folder, split, limit=1).datasets
    c3, c4, c5 = st.columns([3, 2, 2])
    datasets = c3.multiselect("Datasets", names, key="sr_datasets")
    text = c4.text_input("Text in the input or the answer", key="sr_text")
    sample = c5.text_input("Sample id", key="sr_id", help="The row's `id`: the ingested sample id.")
    flt = (sid, split, tuple(datasets), text, sample)
    if st.session_state.get("sr_last") != flt:
        st.session_state["sr_last"], st.session_state["sr_page"] = flt, 1
    total = snapshot_rows(ws, folder, split, datasets=tuple(datasets), text=text, sample_id=sample, limit=1)
    pages = max(1, -(-total.total // PAGE_ROWS))
    page = st.number_input(f"Page (of {pages:,})", 1, pages, key="sr_page")
    result = snapshot_rows(
        ws,
        folder,
        split,
        datasets=tuple(datasets),
        text=text,
        sample_id=sample,
        limit=PAGE_ROWS,
        offset=(int(page) - 1) * PAGE_ROWS,
    )
    st.markdown(f"**{result.total:,}** {split} row(s) of {info['manifest']['rows'][split]:,} in snapshot {sid}")
    if result.total == 0:
        st.caption("No row matches.")
        return
    rows = result.rows
    table(
        rows.select(
            "id",
            "dataset",
            pl.col("instruction").str.slice(0, 120),
            pl.col("input").str.slice(0, 200),
            pl.col("output").alias("answer"),
        ),
        height=min(38 + 35 * rows.height, 600),
    )
    names_of = {r["id"]: f"{r['id']} · {r['dataset']} · {r['output']}" for r in rows.to_dicts()}
    rid = st.selectbox("The row as the model sees it", list(names_of), format_func=names_of.get, key="sr_row")
    row = rows.filter(pl.col("id") == rid).row(0, named=True)
    st.caption(f"instruction `{row['instruction_id']}` · {row['language']} · {row['task']}")
    st.markdown("**Instruction**")
    text_block(row["instruction"])
    st.markdown("**Input**")
    text_block(row["input"], tuple(text.lower().split()))
    st.markdown("**Answer** (the assistant turn the model learns)")
    text_block(row["answer"])


run_page("Snapshot rows", render, caption="A snapshot's rows as the model sees them: instruction, input, answer.")
