"""Review queue: every current dataset version with work left before a snapshot takes it, and what clears it.

The same list as `lensforge labels pending`: label mappings not reviewed or pending, missing or stale
instructions, failed validation. Each item links to the page where it is done.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from lensforge.app.common import ingested_or_explain, link, run_page, table
from lensforge.instruct.queue import review_queue
from lensforge.workspace import Workspace

# Where each kind of item is cleared in the app.
PAGES = {
    "labels": ("labels", "Label review"),
    "instructions": ("instructions", "Instructions"),
    "validation": ("quality", "Data quality"),
}


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    queue = review_queue(ws)
    if not queue:
        st.success("Nothing pending: every current version is reviewed, valid and has instructions.")
        return
    frame = pl.DataFrame(queue)
    counts = frame["kind"].value_counts(sort=True)
    st.markdown(
        f"**{len(queue)}** item(s) over **{frame['dataset_id'].n_unique()}** dataset(s): "
        + ", ".join(f"{n} {k}" for k, n in counts.iter_rows())
    )
    table(frame.select("dataset_id", "kind", "detail", "action", "version_id"))
    st.subheader("Open an item")
    labels = {i: f"{q['dataset_id']} · {q['kind']}: {q['detail']}" for i, q in enumerate(queue)}
    pick = st.selectbox("Item", list(labels), format_func=labels.get, key="q_item")
    item = queue[int(pick or 0)]
    st.caption(f"What clears it: {item['action']}")
    page, title = PAGES[item["kind"]]
    link(page, f"Open {item['dataset_id']} on {title}", {"dataset": item["dataset_id"]})


run_page("Review queue", render, caption="What is left before each dataset can go into a snapshot, and where to do it.")
