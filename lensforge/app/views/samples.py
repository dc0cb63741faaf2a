"""Samples: browse the kept rows of the current versions by dataset, language, split, label and text.

Pages come straight from the Parquet files through DuckDB (`lensforge.app.queries.query_samples`),
so the browser stays fast on millions of rows; nothing is loaded whole.
"""

from __future__ import annotations

import streamlit as st

from lensforge.app.common import ingested_or_explain, run_page, table
from lensforge.curate import samples as queries
from lensforge.workspace import Workspace

PAGE_SIZES = (25, 50, 100)


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    sources = queries.sample_sources(ws, versions)
    if not queries.index_ready(sources):
        queries.warm_text_index(sources)

    c1, c2, c3 = st.columns([3, 1, 1])
    datasets = c1.multiselect("Datasets", versions["dataset_id"].to_list(), key="smp_datasets")
    languages = c2.multiselect("Languages", sorted(set(versions["language"].to_list())), key="smp_languages")
    splits = c3.multiselect("Splits", list(queries.SPLITS), key="smp_splits")
    c4, c5, c6 = st.columns([2, 3, 1])
    labels = c4.multiselect("Labels", queries.label_options(sources, tuple(datasets)), key="smp_labels")
    text = c5.text_input(
        "Text search",
        key="smp_text",
        help="Case-insensitive; every word of the query must occur inside a word of the text.",
    )
    size = c6.selectbox("Rows per page", PAGE_SIZES, index=1, key="smp_size")

    flt = queries.SampleFilter(tuple(datasets), tuple(languages), tuple(splits), tuple(labels), text.strip())
    # A new filter starts at page 1.
    if st.session_state.get("smp_last_filter") != (flt, size):
        st.session_state["smp_last_filter"] = (flt, size)
        st.session_state["smp_page"] = 1
    page = int(st.session_state.get("smp_page", 1))
    if flt.text and not queries.index_ready(queries.select_files(sources, flt)):
        st.caption("Building the word index for text search (once per file and app process)…")
    result = queries.query_samples(sources, flt, limit=int(size), offset=(page - 1) * int(size))
    pages = max(1, -(-result.total // int(size)))
    if page > pages:  # the data changed under us: go to the last page
        st.session_state["smp_page"] = pages
        result = queries.query_samples(sources, flt, limit=int(size), offset=(pages - 1) * int(size))

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
    table(result.rows, height=min(38 + 35 * result.rows.height, 900))


run_page("Samples", render, caption="Kept rows of the current versions, queried in place with DuckDB.")
